#!/usr/bin/env bash
# Issue 9, faults: two oprad processes on one database serve the same
# appraisals at once; clients list both endpoints. bench_load's 200 clients
# start half on each server (common/rpc.h: urls[] tried in order from the
# client's first), and a loop of `opra` CLI submissions lists both with
# --server twice. oprad #1 is killed (-9) mid-run and not restarted: its
# clients fail over to #2 and retry with the same idempotency keys. Then:
# both servers did serve, no request failed, every acknowledged submission
# (driver and CLI) is stored exactly once, the watchers saw every event in
# order, and each appraisal's hash chain (written by two processes at once)
# verifies with `opra audit --verify`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_load.sh"
need_bench_load
if [ -z "${OPRA_TEST_DB:-}" ]; then
	echo "skipped: needs OPRA_TEST_DB (two oprad processes share one database)"
	exit 77
fi

START=$(date +%s)
start_oprad "$E2E_TMP/s1"
DB="$FRESH_DB"
URL1=$OPRA_URL
PID1=$OPRAD_PID
TOKEN1=$ADMIN_TOKEN
launch_oprad "$E2E_TMP/s2" --state-dir "$E2E_TMP/s2" --db "$DB"
URL2=$OPRA_URL
PID2=$OPRAD_PID
ADMIN_TOKEN=$TOKEN1
OPRA_URL=$URL1
load_fixture 2
both() { "$OPRA_BIN" --server "$URL1" --server "$URL2" "$@"; }

load_start "$E2E_TMP/load" --server "$URL1" --server "$URL2" --token "$LOAD_TOKEN" \
	"${LOAD_APPRAISALS[@]}" --clients 200 --seconds 8 --retry-unavailable 30 --timeout-ms 5000 \
	--oprad-pid "$PID1" --oprad-pid "$PID2"
# CLI submissions through both endpoints, throughout; a submission that
# fails with exit 7 (server gone mid-request) is run again with its key.
(
	export OPRA_TOKEN="$LOAD_TOKEN"
	for i in $(seq 1 40); do
		for try in 1 2 3 4 5; do
			if both evidence submit load1 --practice ADM:SG3.SP1 --instance claims \
				--kind affirmation --text "cli $i" --title "cli-$i" --idempotency-key "cli-key-$i" \
				--no-spool --quiet >/dev/null 2>>"$E2E_TMP/cli.err"; then
				echo "$i" >>"$E2E_TMP/cli.acked"
				break
			fi
			rc=$?
			echo "cli-$i try $try: exit $rc" >>"$E2E_TMP/cli.err"
			[ $rc -eq 7 ] || break
			sleep 0.2
		done
		sleep 0.1
	done
) &
CLI_PID=$!
wait_log "$E2E_TMP/s1/oprad.log" 'Evidence/Submit.*status=OK' 100 || fail "server 1 acknowledged no submissions within 30 s"
wait_log "$E2E_TMP/s2/oprad.log" 'Evidence/Submit.*status=OK' 100 || fail "server 2 acknowledged no submissions within 30 s"
OK1=$(grep -c 'status=OK' "$E2E_TMP/s1/oprad.log" || true)
OK2=$(grep -c 'status=OK' "$E2E_TMP/s2/oprad.log" || true)
kill -9 "$PID1"
wait "$PID1" 2>/dev/null || true
echo "killed oprad #1 at $(($(date +%s) - START))s (it had answered $OK1 requests OK, #2 $OK2)"
[ "$OK1" -gt 0 ] && [ "$OK2" -gt 0 ] && pass "both servers served the same appraisals concurrently" || fail "server 1: $OK1, server 2: $OK2 requests"
load_wait "$E2E_TMP/load"
wait "$CLI_PID" || true
J="$E2E_TMP/load.json"
[ "$LOAD_RC" -eq 0 ] && pass "bench_load exits 0 across the failover" || fail "bench_load exited $LOAD_RC"
load_json "$J" 'd["failures"] == 0' "no request failed (after failover and retries with the same keys)"
load_json "$J" 'd["servers"] == 2 and d["unavailable_retries"] > 0' "clients saw server 1 go away and retried"
load_json "$J" 'd["exactly_once"]["checked"] and d["exactly_once"]["missing"] == 0 and d["exactly_once"]["duplicates"] == 0' "every acknowledged driver submission stored exactly once"
load_json "$J" 'd["watch"]["gaps"] == 0 and d["watch"]["short"] == 0' "watchers saw every event in order"
AFTER2=$(grep -c 'Evidence/Submit.*status=OK' "$E2E_TMP/s2/oprad.log" || true)
[ "$AFTER2" -gt "$OK2" ] && pass "server 2 took over the work" || fail "server 2 answered nothing after the kill"
CLI_ACKED=$(wc -l <"$E2E_TMP/cli.acked" 2>/dev/null || echo 0)
[ "$CLI_ACKED" -eq 40 ] && pass "all 40 CLI submissions (two --server URLs) acknowledged" || fail "$CLI_ACKED of 40 CLI submissions acknowledged: $(tail -3 "$E2E_TMP/cli.err" 2>/dev/null)"
export OPRA_TOKEN="$LOAD_TOKEN"
expect_rc 0 "the CLI with both servers listed reaches server 2" both ping
both evidence list load1 --practice ADM:SG3.SP1 --json >"$E2E_TMP/cli-list.json"
python3 - "$E2E_TMP/cli-list.json" <<'PY' && pass "each CLI submission stored exactly once" || fail "CLI submissions: $(head -c 300 "$E2E_TMP/cli-list.json")"
import json, sys
t = [e["title"] for e in json.load(open(sys.argv[1])) if e["title"].startswith("cli-")]
sys.exit(0 if sorted(t) == sorted("cli-%d" % i for i in range(1, 41)) else 1)
PY
DUPS=$(psql "$DB" -AtXc "SELECT count(*) FROM (SELECT title FROM evidence WHERE title LIKE 'load-%' OR title LIKE 'cli-%' GROUP BY title HAVING count(*) > 1) t")
[ "$DUPS" -eq 0 ] && pass "no title stored twice in the database" || fail "$DUPS titles stored twice"
for a in load1 load2; do
	run both audit "$a" --verify --json
	expect_json "$OUT" 'd["valid"] is True and d["events"] > 100' "$a: the hash chain written by two servers verifies"
done
ELAPSED=$(($(date +%s) - START))
echo "two servers with a failover took ${ELAPSED}s"
[ "$ELAPSED" -lt 90 ] && pass "under 90 s" || fail "took ${ELAPSED}s"
finish
