#!/usr/bin/env bash
# The offline spool and `opra sync` with real oprad and opra processes:
# --spool keeps submits (with a copy of the file) until sync delivers them
# in order, exactly once; sync again is a no-op; refused records move to
# failed/ with their reason without blocking the rest; a submit while the
# server is down spools by itself; killing the server in the middle of a
# sync and syncing again delivers everything once, with no duplicates.
. "$(dirname "$0")/lib.sh"

if [ -z "${OPRA_TEST_DB:-}" ]; then
	echo "skipped: needs OPRA_TEST_DB (the server is killed and restarted on one database)"
	exit 77
fi
SPOOL="$XDG_STATE_HOME/opra/spool"

expect_out_json() {
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$E2E_TMP/out" 2>/dev/null; then
		pass "$2"
	else
		fail "$2: $1 is not true for: $(head -c 800 "$E2E_TMP/out")"
	fi
}
pending() { find "$SPOOL" -maxdepth 1 -name '*.rec' 2>/dev/null | wc -l; }
# The titles of the appraisal's evidence, oldest first, comma separated.
titles() {
	opra evidence list ap1 --json >"$E2E_TMP/list.json"
	python3 -c 'import json,sys; print(",".join(e["title"] or "" for e in json.load(open(sys.argv[1]))))' "$E2E_TMP/list.json"
}
restart_oprad() {
	launch_oprad "$E2E_TMP/s" --state-dir "$E2E_TMP/s" --db "$FRESH_DB"
}

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"
small_appraisal
export OPRA_TOKEN="$ALICE"
A=(ap1 --practice ADM:SG1.SP1 --instance claims)

# --- --spool keeps submits; sync delivers them in order ----------------------------
head -c 3000000 /dev/urandom >"$E2E_TMP/f1.bin"
cp "$E2E_TMP/f1.bin" "$E2E_TMP/f1.orig"
head -c 200000 /dev/urandom >"$E2E_TMP/ref.bin"
expect_rc 0 "spool a text" opra evidence submit "${A[@]}" --kind affirmation --text one --title s1 --spool --json
expect_out_json "d['spooled'] is True and d['automatic'] is False and d['id'].startswith('000000000001-') and len(d['idempotency_key']) > 0" "--spool answers with the spool id and key"
expect_rc 0 "spool a file (copy)" opra evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/f1.bin" --title s2 --spool
expect_in "$OUT" "run 'opra sync'" "the human line says how to deliver"
expect_rc 0 "spool a second text" opra evidence submit "${A[@]}" --kind affirmation --text two --title s3 --spool --quiet
expect_rc 0 "spool a file by reference" opra evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/ref.bin" --title s4 --spool --spool-reference
[ "$(pending)" -eq 4 ] && pass "four records in the spool" || fail "spool holds: $(ls "$SPOOL")"
[ "$(stat -c %a "$SPOOL")" = 700 ] && pass "the spool is private (0700)" || fail "spool mode $(stat -c %a "$SPOOL")"
[ "$(titles)" = "" ] && pass "nothing reached the server yet" || fail "the server has: $(titles)"
# Changing the file after spooling does not change what is delivered.
printf 'changed' | dd of="$E2E_TMP/f1.bin" conv=notrunc status=none

expect_rc 0 "sync" opra sync --json
expect_out_json "d['delivered'] == 4 and d['failed'] == 0 and d['remaining'] == 0 and [i['result'] for i in d['items']] == ['delivered'] * 4 and d['items'][0]['spool_id'].startswith('000000000001-')" "sync delivers all four"
[ "$(titles)" = "s1,s2,s3,s4" ] && pass "delivered in submission order" || fail "order on the server: $(titles)"
[ "$(pending)" -eq 0 ] && pass "delivered records are removed" || fail "left: $(ls "$SPOOL")"
S2=$(python3 -c 'import json,sys; print([e["id"] for e in json.load(open(sys.argv[1])) if e["title"] == "s2"][0])' "$E2E_TMP/list.json")
expect_rc 0 "get the spooled file" opra evidence get "$S2" -o "$E2E_TMP/s2.bin"
cmp -s "$E2E_TMP/f1.orig" "$E2E_TMP/s2.bin" && pass "the copy taken at spool time was delivered" || fail "delivered bytes differ from the spooled file"
expect_rc 0 "sync again" opra sync
expect_in "$OUT" "nothing to deliver" "a second sync is a no-op"
[ "$(titles)" = "s1,s2,s3,s4" ] && pass "no duplicates after the second sync" || fail "server: $(titles)"

# --- refused records move aside, the rest goes on --------------------------------------
expect_rc 0 "spool for an unknown appraisal" opra evidence submit nope --practice ADM:SG1.SP1 --instance claims --kind affirmation --text x --title bad --spool
expect_rc 0 "spool a good one after it" opra evidence submit "${A[@]}" --kind affirmation --text five --title s5 --spool
expect_rc 0 "spool a reference, then change the file" opra evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/ref.bin" --title s6 --spool --spool-reference
printf 'x' >>"$E2E_TMP/ref.bin"
expect_rc 3 "sync with a refused record exits with its code" opra sync
expect_in "$OUT" "delivered 1, failed 2" "the summary counts delivered and failed"
expect_in "$OUT" "remaining 0" "nothing remains"
[ "$(titles)" = "s1,s2,s3,s4,s5" ] && pass "the good record after the refused one was delivered" || fail "server: $(titles)"
[ "$(find "$SPOOL/failed" -name '*.rec' | wc -l)" -eq 2 ] && pass "refused records kept in failed/" || fail "failed/: $(ls "$SPOOL/failed")"
grep -q "NOT_FOUND" "$SPOOL"/failed/*.error && pass "the reason is saved next to the record" || fail "no reason: $(cat "$SPOOL"/failed/*.error)"
grep -q "changed after it was spooled" "$SPOOL"/failed/*.error && pass "a changed reference fails with a reason" || fail "reasons: $(cat "$SPOOL"/failed/*.error)"

# --- the server is down: submit spools by itself; sync stops and keeps --------------
stop_oprad
expect_rc 0 "submit while the server is down" opra evidence submit "${A[@]}" --kind affirmation --text seven --title s7 --json
expect_out_json "d['spooled'] is True and d['automatic'] is True and d['reason']['code'] == 'UNAVAILABLE'" "the submit spooled itself"
expect_in "$ERR" "spooled instead" "stderr says it was spooled"
expect_rc 7 "--no-spool while the server is down" opra evidence submit "${A[@]}" --kind affirmation --text never --no-spool
expect_rc 7 "sync while the server is down" opra sync --json
expect_out_json "d['delivered'] == 0 and d['remaining'] == 1 and d['error']['code'] == 'UNAVAILABLE'" "sync stops and keeps the record"
[ "$(pending)" -eq 1 ] && pass "the record stays" || fail "spool: $(ls "$SPOOL")"
restart_oprad
expect_rc 0 "sync after the restart" opra sync
[ "$(titles)" = "s1,s2,s3,s4,s5,s7" ] && pass "delivered after the restart (and --no-spool stored nothing)" || fail "server: $(titles)"

# --- kill -9 the server in the middle of a sync ------------------------------------
N=8
for i in $(seq 1 $N); do
	head -c 4000000 /dev/urandom >"$E2E_TMP/k$i.bin"
	opra evidence submit "${A[@]}" --kind artifact --file "$E2E_TMP/k$i.bin" --title "k$i" --spool --quiet >/dev/null
done
[ "$(pending)" -eq $N ] && pass "$N file records spooled" || fail "spool: $(ls "$SPOOL")"
"$OPRA_BIN" --server "$OPRA_URL" sync --json >"$E2E_TMP/sync1.json" 2>"$E2E_TMP/sync1.err" &
SYNC_PID=$!
# Kill as soon as the first record has been delivered.
for _ in $(seq 1 400); do
	[ "$(pending)" -lt $N ] && break
	sleep 0.01
done
kill -9 "$OPRAD_PID"
wait "$OPRAD_PID" 2>/dev/null || true
set +e
wait "$SYNC_PID"
SYNC_RC=$?
set -e
LEFT=$(pending)
if [ "$SYNC_RC" -eq 7 ] && [ "$LEFT" -gt 0 ]; then
	pass "the killed sync stopped with exit 7 and kept $LEFT records"
else
	fail "the kill did not land in the middle of the sync (exit $SYNC_RC, $LEFT left): $(cat "$E2E_TMP/sync1.err")"
fi
restart_oprad
expect_rc 0 "sync again after the crash" opra sync --json
expect_out_json "d['failed'] == 0 and d['remaining'] == 0" "the second sync finishes"
WANT="s1,s2,s3,s4,s5,s7,$(seq -s, -f 'k%g' 1 $N)"
[ "$(titles)" = "$WANT" ] && pass "every record delivered exactly once, in order" || fail "server: $(titles), wanted $WANT"
for i in 1 $N; do
	ID=$(python3 -c 'import json,sys; print([e["id"] for e in json.load(open(sys.argv[1])) if e["title"] == sys.argv[2]][0])' "$E2E_TMP/list.json" "k$i")
	opra evidence get "$ID" -o "$E2E_TMP/kgot.bin" >/dev/null
	cmp -s "$E2E_TMP/k$i.bin" "$E2E_TMP/kgot.bin" && pass "k$i is intact" || fail "k$i differs"
done

finish
