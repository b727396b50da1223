#!/usr/bin/env bash
# Issue 9, faults: PostgreSQL restarted under load. The test starts its own
# cluster (as user postgres when run as root; unix socket in its temp dir),
# runs oprad with --db on it and bench_load with 200 clients and
# --retry-unavailable, and restarts the cluster with `pg_ctl restart -m fast`
# mid-run. oprad must reconnect by itself (it is not restarted): clients see
# UNAVAILABLE while the database is away and succeed on retry with the same
# keys; nothing acknowledged is lost, nothing is stored twice, the watchers
# see every event, the hash chains verify, and oprad answers afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_load.sh"
need_bench_load
trap 'own_cluster_stop; e2e_cleanup' EXIT

START=$(date +%s)
own_cluster "$E2E_TMP/pg"
psql "$OWN_DB" -qXc "CREATE DATABASE opra" >/dev/null
DB="host=$OWN_PGDIR port=5432 user=opra dbname=opra"
launch_oprad "$E2E_TMP/s" --state-dir "$E2E_TMP/s" --db "$DB"
load_fixture 2
PG_PID=$(head -n 1 "$OWN_PGDATA/postmaster.pid")
load_start "$E2E_TMP/load" --server "$OPRA_URL" --token "$LOAD_TOKEN" "${LOAD_APPRAISALS[@]}" \
	--clients 200 --seconds 8 --retry-unavailable 40 --oprad-pid "$OPRAD_PID" --pg-pid "$PG_PID"
wait_log "$E2E_TMP/s/oprad.log" 'Evidence/Submit.*status=OK' 200 || fail "no submissions were acknowledged within 30 s"
T0=$(date +%s.%N)
pg_as_owner "$PG_BINDIR/pg_ctl" -D "$OWN_PGDATA" -m fast -w -t 60 restart -l "$OWN_PGDIR/log" >/dev/null
echo "PostgreSQL restarted in $(python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),2))" "$T0")s, $(($(date +%s) - START))s into the test"
load_wait "$E2E_TMP/load"
J="$E2E_TMP/load.json"
kill -0 "$OPRAD_PID" 2>/dev/null && pass "oprad kept running through the restart" || fail "oprad exited: $(tail -5 "$E2E_TMP/s/oprad.log")"
[ "$LOAD_RC" -eq 0 ] && pass "bench_load exits 0 across the restart" || fail "bench_load exited $LOAD_RC"
load_json "$J" 'd["failures"] == 0' "no request failed (after retries with the same keys)"
load_json "$J" 'd["unavailable_retries"] > 0' "clients saw UNAVAILABLE while PostgreSQL was away"
load_json "$J" 'd["exactly_once"]["checked"] and d["exactly_once"]["acknowledged"] > 200' "submissions acknowledged before and after the restart"
load_json "$J" 'd["exactly_once"]["missing"] == 0 and d["exactly_once"]["duplicates"] == 0' "every acknowledged submission stored exactly once"
load_json "$J" 'd["watch"]["gaps"] == 0 and d["watch"]["short"] == 0' "watchers saw every event in order"
STATUSES=$(grep -oE 'status=[A-Z_]+' "$E2E_TMP/s/oprad.log" | sort | uniq -c | tr '\n' ' ')
echo "oprad's answers: $STATUSES"
if grep -qE 'status=(INTERNAL|UNKNOWN|DATA_LOSS)' "$E2E_TMP/s/oprad.log"; then
	fail "oprad answered INTERNAL/UNKNOWN during the restart (should be UNAVAILABLE): $(grep -m3 -E 'status=(INTERNAL|UNKNOWN|DATA_LOSS)' "$E2E_TMP/s/oprad.log")"
else
	pass "oprad answered UNAVAILABLE, never INTERNAL, while PostgreSQL was away"
fi
load_check_stored "$DB" "the restart"
expect_rc 0 "opra ping answers after the restart" opra ping
ELAPSED=$(($(date +%s) - START))
echo "PostgreSQL restart under load took ${ELAPSED}s"
[ "$ELAPSED" -lt 100 ] && pass "under 100 s" || fail "took ${ELAPSED}s"
finish
