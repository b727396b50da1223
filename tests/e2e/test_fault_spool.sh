#!/usr/bin/env bash
# Issue 9, faults: the disk-backed spool survives client crashes.
#  1. kill -9 of `opra sync` in the middle of delivering 124 spooled
#     operations (texts and file copies): the next `opra sync` delivers the
#     rest; every spooled operation is on the server exactly once (the one
#     in flight when the client died is resent with its idempotency key and
#     not stored twice), in spool order, none lost, none failed.
#  2. kill -9 of a submitting `opra` while it writes a large record into the
#     spool: the half-written record is never delivered (nor does it block
#     sync), and the same submit run again is delivered once.
# (Killing the server during a sync is in test_spool.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_load.sh"

SPOOL="$XDG_STATE_HOME/opra/spool"
pending() { find "$SPOOL" -maxdepth 1 -name '*.rec' 2>/dev/null | wc -l; }
START=$(date +%s)
start_oprad "$E2E_TMP/s"
load_fixture 1
export OPRA_TOKEN="$LOAD_TOKEN"
A=(load1 --practice ADM:SG1.SP1 --instance claims)

# --- 1. kill -9 of opra sync mid-delivery ------------------------------------------
TEXTS=120
FILES=4
WANT=()
spool_text() { opra evidence submit "${A[@]}" --kind affirmation --text "spooled text $1" --title "t$1" --spool --quiet >/dev/null; WANT+=("t$1"); }
for i in $(seq 1 60); do spool_text "$i"; done
for i in $(seq 1 $FILES); do
	head -c 3000000 /dev/urandom >"$E2E_TMP/f$i.bin"
	opra evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/f$i.bin" --title "f$i" --spool --quiet >/dev/null
	WANT+=("f$i")
done
for i in $(seq 61 $TEXTS); do spool_text "$i"; done
TOTAL=$((TEXTS + FILES))
[ "$(pending)" -eq $TOTAL ] && pass "$TOTAL operations spooled" || fail "spool holds $(pending), wanted $TOTAL"
echo "spooled $TOTAL operations in $(($(date +%s) - START))s"

"$OPRA_BIN" --server "$OPRA_URL" sync --json >"$E2E_TMP/sync1.json" 2>"$E2E_TMP/sync1.err" &
SYNC_PID=$!
for _ in $(seq 1 2000); do
	[ "$(pending)" -le $((TOTAL - 30)) ] && break
	sleep 0.005
done
kill -9 "$SYNC_PID" 2>/dev/null || true
wait "$SYNC_PID" 2>/dev/null || true
LEFT=$(pending)
if [ "$LEFT" -gt 0 ] && [ "$LEFT" -lt $TOTAL ]; then
	pass "opra sync was killed mid-delivery ($((TOTAL - LEFT)) delivered, $LEFT left)"
else
	fail "the kill did not land mid-delivery ($LEFT of $TOTAL left)"
fi
expect_rc 0 "opra sync again" opra sync --json
expect_json "$OUT" "d['failed'] == 0 and d['remaining'] == 0" "the second sync delivers the rest, none failed"
[ "$(pending)" -eq 0 ] && pass "the spool is empty" || fail "left: $(ls "$SPOOL")"
[ -z "$(ls -A "$SPOOL/failed" 2>/dev/null)" ] && pass "nothing moved to failed/" || fail "failed/: $(ls "$SPOOL/failed")"
opra evidence list load1 --json >"$E2E_TMP/list.json"
python3 - "$E2E_TMP/list.json" "${WANT[*]}" >"$E2E_TMP/check.txt" <<'PY' && pass "every spooled operation stored exactly once, in spool order" || fail "$(cat "$E2E_TMP/check.txt")"
import json, sys
got = [e["title"] for e in json.load(open(sys.argv[1]))]
want = sys.argv[2].split()
dups = sorted({t for t in got if got.count(t) > 1})
missing = [t for t in want if t not in got]
if dups or missing or got != want:
    print("duplicates %s, missing %s, order %s" % (dups, missing, got[:10]))
    sys.exit(1)
PY
for i in 1 $FILES; do
	ID=$(python3 -c 'import json,sys; print([e["id"] for e in json.load(open(sys.argv[1])) if e["title"] == sys.argv[2]][0])' "$E2E_TMP/list.json" "f$i")
	opra evidence get "$ID" -o "$E2E_TMP/got.bin" >/dev/null
	cmp -s "$E2E_TMP/f$i.bin" "$E2E_TMP/got.bin" && pass "f$i is intact" || fail "f$i differs"
done

# --- 2. kill -9 of a submitting opra while it writes the spool record ------------------
head -c $((96 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$E2E_TMP/big.bin"
"$OPRA_BIN" --server "$OPRA_URL" evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin" \
	--title big --idempotency-key big-1 --spool --quiet >/dev/null 2>&1 &
SUB_PID=$!
LANDED=0
for _ in $(seq 1 4000); do
	if compgen -G "$SPOOL/.tmp-*" >/dev/null; then
		kill -9 "$SUB_PID" 2>/dev/null && LANDED=1
		break
	fi
	kill -0 "$SUB_PID" 2>/dev/null || break
	sleep 0.002
done
wait "$SUB_PID" 2>/dev/null || true
if [ $LANDED -eq 1 ] && [ "$(pending)" -eq 0 ]; then
	pass "opra was killed while writing the record (only a temporary file left)"
else
	fail "the kill did not land while the record was written (landed=$LANDED, $(pending) records)"
fi
expect_rc 0 "sync with a half-written record in the spool" opra sync --json
expect_json "$OUT" "d['delivered'] == 0 and d['failed'] == 0" "the half-written record is not delivered"
compgen -G "$SPOOL/.tmp-*" >/dev/null && fail "the dead writer's temporary file is still there: $(ls -a "$SPOOL")" ||
	pass "sync removed the dead writer's temporary file"
expect_rc 0 "the same submit again" opra evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin" \
	--title big --idempotency-key big-1 --spool --quiet
expect_rc 0 "sync it" opra sync --json
expect_json "$OUT" "d['delivered'] == 1 and d['failed'] == 0 and d['remaining'] == 0" "it is delivered"
N=$(opra evidence list load1 --json | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["title"] == "big"))')
[ "$N" -eq 1 ] && pass "the large file is stored once" || fail "stored $N times"
ELAPSED=$(($(date +%s) - START))
echo "spool crash tests took ${ELAPSED}s"
[ "$ELAPSED" -lt 100 ] && pass "under 100 s" || fail "took ${ELAPSED}s"
finish
