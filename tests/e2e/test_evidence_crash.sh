#!/usr/bin/env bash
# Issue 6, "Bad input and faults": kill -9 of oprad in the middle of 16
# concurrent file uploads. After a restart on the same database, every
# submit that did not report success is run again with its idempotency
# key. Then: every acknowledged item is present and intact, no partial blob
# is visible (blobs = distinct files, each blob's chunks hash to its
# SHA-256), and there is exactly one item per key (acknowledged + retried =
# stored, no duplicates).
. "$(dirname "$0")/lib.sh"

if [ -z "${OPRA_TEST_DB:-}" ]; then
	echo "skipped: needs OPRA_TEST_DB (oprad is killed and restarted on one database)"
	exit 77
fi
N=16
DISTINCT=12 # clients 13..16 upload the same bytes as clients 1..4

start_oprad "$E2E_TMP/s"
DB="$FRESH_DB"
export OPRA_TOKEN="$ADMIN_TOKEN"
small_appraisal
export OPRA_TOKEN="$ALICE"

for i in $(seq 1 $DISTINCT); do
	# Sizes from 1.5 to 7 MiB: the small uploads finish (and are
	# acknowledged) while the big ones are still sending chunks.
	head -c $(((2 + i) * 512 * 1024 + i * 1000)) /dev/urandom >"$E2E_TMP/f$i.bin"
done
file_of() { local i=$1; [ "$i" -gt $DISTINCT ] && i=$((i - DISTINCT)); echo "$E2E_TMP/f$i.bin"; }

submit() { # submit I: the upload of client I with its fixed key
	"$OPRA_BIN" --server "$OPRA_URL" evidence submit ap1 --practice ADM:SG1.SP1 --instance claims \
		--kind artifact --file "$(file_of "$1")" --title "c$1" --idempotency-key "crash-$1" \
		--no-spool --json >"$E2E_TMP/out$1.json" 2>"$E2E_TMP/err$1.txt"
}

START=$(date +%s)
PIDS=()
for i in $(seq 1 $N); do
	submit "$i" &
	PIDS+=($!)
done
# Kill once a submit is acknowledged, while the others are under way.
# (Submissions that queue up together commit as one batch, so waiting for
# several could let all of them through at once.)
for _ in $(seq 1 1000); do
	[ "$(grep -c 'Evidence/Submit.*status=OK' "$E2E_TMP/s/oprad.log" || true)" -ge 1 ] && break
	sleep 0.01
done
kill -9 "$OPRAD_PID"
wait "$OPRAD_PID" 2>/dev/null || true
ACKED=()
for i in $(seq 1 $N); do
	set +e
	wait "${PIDS[$((i - 1))]}"
	rc=$?
	set -e
	if [ $rc -eq 0 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d.get("id") else 1)' "$E2E_TMP/out$i.json" 2>/dev/null; then
		ACKED+=("$i")
		cp "$E2E_TMP/out$i.json" "$E2E_TMP/ack$i.json"
	elif [ $rc -ne 7 ] && [ $rc -ne 1 ]; then
		fail "client $i failed with exit $rc (not a dropped connection): $(cat "$E2E_TMP/err$i.txt")"
	fi
done
echo "acknowledged before the crash: ${#ACKED[@]} of $N (clients ${ACKED[*]:-none})"
if [ ${#ACKED[@]} -gt 0 ] && [ ${#ACKED[@]} -lt $N ]; then
	pass "the kill landed in the middle of the uploads (${#ACKED[@]} of $N acknowledged)"
else
	fail "the kill did not land in the middle: ${#ACKED[@]} of $N acknowledged"
fi

launch_oprad "$E2E_TMP/s" --state-dir "$E2E_TMP/s" --db "$DB"
is_acked() { local a; for a in "${ACKED[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }
RETRIED=0
PIDS=()
for i in $(seq 1 $N); do
	is_acked "$i" && continue
	submit "$i" &
	PIDS+=($!)
	RETRIED=$((RETRIED + 1))
done
RETRY_FAILS=0
for p in "${PIDS[@]}"; do
	wait "$p" || RETRY_FAILS=$((RETRY_FAILS + 1))
done
[ $RETRY_FAILS -eq 0 ] && pass "all $RETRIED retries with the same keys succeeded" || fail "$RETRY_FAILS retries failed"
# An acknowledged key run again answers with the same item.
for i in "${ACKED[@]:0:2}"; do
	submit "$i" || true
	python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["id"] == json.load(open(sys.argv[2]))["id"] else 1)' "$E2E_TMP/out$i.json" "$E2E_TMP/ack$i.json" &&
		pass "client $i's key again gives the same item" || fail "client $i's key made a new item"
done

# --- what is stored -------------------------------------------------------------
opra evidence list ap1 --json >"$E2E_TMP/list.json"
STORED=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$E2E_TMP/list.json")
[ "$STORED" -eq $N ] && pass "one item per key: $STORED stored for $N keys (no duplicates)" || fail "$STORED items stored for $N keys"
ACK_STORED=0
for i in "${ACKED[@]}"; do
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); l=json.load(open(sys.argv[2])); sys.exit(0 if any(e["id"] == a["id"] and e["sha256"] == a["sha256"] for e in l) else 1)' "$E2E_TMP/ack$i.json" "$E2E_TMP/list.json" && ACK_STORED=$((ACK_STORED + 1))
done
echo "acknowledged ${#ACKED[@]}, of them stored $ACK_STORED"
[ "$ACK_STORED" -eq ${#ACKED[@]} ] && pass "every acknowledged item is stored (${#ACKED[@]} = $ACK_STORED)" || fail "acknowledged ${#ACKED[@]}, stored $ACK_STORED"
INTACT=0
for i in $(seq 1 $N); do
	ID=$(python3 -c 'import json,sys; print([e["id"] for e in json.load(open(sys.argv[1])) if e["title"] == sys.argv[2]][0])' "$E2E_TMP/list.json" "c$i" 2>/dev/null || true)
	if [ -n "$ID" ] && opra evidence get "$ID" -o "$E2E_TMP/got.bin" >/dev/null 2>&1 && cmp -s "$(file_of "$i")" "$E2E_TMP/got.bin"; then
		INTACT=$((INTACT + 1))
	else
		fail "client $i's item ($ID) is missing or differs"
	fi
done
[ $INTACT -eq $N ] && pass "all $N items read back intact (get verifies the SHA-256; cmp the bytes)"
BLOBS=$(psql "$DB" -AtXc "SELECT count(*) FROM blobs")
[ "$BLOBS" -eq $DISTINCT ] && pass "$BLOBS blobs for $DISTINCT distinct files" || fail "$BLOBS blobs for $DISTINCT distinct files"
BAD=$(psql "$DB" -AtXc "SELECT count(*) FROM blobs b WHERE b.sha256 IS DISTINCT FROM (SELECT sha256(string_agg(c.data, ''::bytea ORDER BY c.seq)) FROM upload_chunks c WHERE c.upload_id = b.upload_id) OR b.size <> (SELECT coalesce(sum(length(c.data)), 0) FROM upload_chunks c WHERE c.upload_id = b.upload_id)")
[ "$BAD" -eq 0 ] && pass "no partial blob: every blob's chunks hash to its SHA-256" || fail "$BAD blobs whose chunks do not match"
ELAPSED=$(($(date +%s) - START))
echo "crash and retry took ${ELAPSED}s"
[ $ELAPSED -lt 60 ] && pass "under a minute" || fail "took ${ELAPSED}s"

finish
