#!/usr/bin/env bash
# Issue 9, faults: kill -9 of oprad under mixed load. bench_load runs 200
# clients (submissions, characterisations, reads, watches) with
# --retry-unavailable: a request whose connection drops, or that cannot
# connect while oprad is down, is retried with the same idempotency key.
# oprad is killed once submissions are being acknowledged and restarted on
# the same database a second later. Then: no request failed, the clients did
# see the outage, every acknowledged submission is stored exactly once (no
# duplicates from the retries), every watcher saw its whole chain in order,
# and the hash chains verify.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_load.sh"
need_bench_load
if [ -z "${OPRA_TEST_DB:-}" ]; then
	echo "skipped: needs OPRA_TEST_DB (oprad is killed and restarted on one database)"
	exit 77
fi

start_oprad "$E2E_TMP/s"
DB="$FRESH_DB"
load_fixture 2
START=$(date +%s)
load_start "$E2E_TMP/load" --server "$OPRA_URL" --token "$LOAD_TOKEN" "${LOAD_APPRAISALS[@]}" \
	--clients 200 --seconds 8 --retry-unavailable 30
# Kill once the load is well under way (at least 200 submissions answered).
wait_log "$E2E_TMP/s/oprad.log" 'Evidence/Submit.*status=OK' 200 || fail "no submissions were acknowledged within 30 s"
kill -9 "$OPRAD_PID"
wait "$OPRAD_PID" 2>/dev/null || true
echo "killed oprad at $(($(date +%s) - START))s"
mv "$E2E_TMP/s/oprad.log" "$E2E_TMP/s/oprad-1.log"
sleep 1
launch_oprad "$E2E_TMP/s" --state-dir "$E2E_TMP/s" --db "$DB"
echo "restarted oprad at $(($(date +%s) - START))s"
load_wait "$E2E_TMP/load"
J="$E2E_TMP/load.json"
[ "$LOAD_RC" -eq 0 ] && pass "bench_load exits 0 across the crash" || fail "bench_load exited $LOAD_RC"
load_json "$J" 'd["failures"] == 0' "no request failed (after retries with the same keys)"
load_json "$J" 'd["unavailable_retries"] > 0' "the clients saw the outage and retried"
load_json "$J" 'd["exactly_once"]["checked"] and d["exactly_once"]["acknowledged"] > 200' "submissions acknowledged before and after the crash"
load_json "$J" 'd["exactly_once"]["missing"] == 0' "every acknowledged submission is stored"
load_json "$J" 'd["exactly_once"]["duplicates"] == 0' "no duplicates after the retries"
load_json "$J" 'd["watch"]["gaps"] == 0 and d["watch"]["short"] == 0' "watchers resumed from their cursors without gaps"
# The database agrees: one row per title.
load_check_stored "$DB" "the crash"
ELAPSED=$(($(date +%s) - START))
echo "kill -9 under load took ${ELAPSED}s"
[ "$ELAPSED" -lt 90 ] && pass "under 90 s" || fail "took ${ELAPSED}s"
finish
