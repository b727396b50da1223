#!/usr/bin/env bash
# Issue 9, load: 200 concurrent clients (bench/bench_load: threads using the
# real client library) for a few seconds against one oprad, mixing evidence
# submissions, characterisations (with and without expect_version), reads
# (Rating/Show, Evidence/List, Appraisal/Show) and Events/Watch long polls on
# two appraisals. Asserts: no failed request (RESOURCE_EXHAUSTED is retried
# with the same key and is not a failure), every acknowledged submission
# stored exactly once, every watcher saw its appraisal's whole chain in order,
# and oprad's RSS stayed bounded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_load.sh"
need_bench_load

CLIENTS=${LOAD_CLIENTS:-200}
SECONDS_RUN=${LOAD_SECONDS:-6}

start_oprad "$E2E_TMP/s"
load_fixture 2
START=$(date +%s)
set +e
"$BENCH_LOAD" --server "$OPRA_URL" --token "$LOAD_TOKEN" "${LOAD_APPRAISALS[@]}" \
	--clients "$CLIENTS" --seconds "$SECONDS_RUN" --oprad-pid "$OPRAD_PID" --json \
	>"$E2E_TMP/load.json" 2>"$E2E_TMP/load.err"
rc=$?
set -e
cat "$E2E_TMP/load.json"
cat "$E2E_TMP/load.err" >&2
[ $rc -eq 0 ] && pass "bench_load exits 0 ($CLIENTS clients, ${SECONDS_RUN}s)" || fail "bench_load exited $rc"
J="$E2E_TMP/load.json"
load_json "$J" 'd["failures"] == 0' "no failed request"
load_json "$J" 'all(o["count"] > 0 for o in d["operations"])' "every kind of operation ran"
load_json "$J" 'd["clients"] == '"$CLIENTS" "$CLIENTS clients"
load_json "$J" 'd["exactly_once"]["checked"] and d["exactly_once"]["acknowledged"] > 0' "submissions were acknowledged and checked"
load_json "$J" 'd["exactly_once"]["missing"] == 0 and d["exactly_once"]["duplicates"] == 0' "every acknowledged submission stored exactly once"
load_json "$J" 'd["exactly_once"]["stored"] == d["exactly_once"]["acknowledged"]' "stored = acknowledged"
load_json "$J" 'd["watch"]["events"] > 0 and d["watch"]["gaps"] == 0 and d["watch"]["short"] == 0' "watchers saw every event in order"
# Bounded memory: under 128 MiB (it starts near 13 MiB). Under ASan freed
# memory sits in the sanitizer's quarantine (256 MiB by default) and every
# byte has shadow memory: there the bound is 1 GiB.
RSS_LIMIT=$((128 * 1024))
grep -q '^OPRA_SANITIZE:BOOL=ON' "$OPRA_BUILD_DIR/CMakeCache.txt" 2>/dev/null && RSS_LIMIT=$((1024 * 1024))
load_json "$J" 'd["server"]["rss_max_kib"] > 0 and d["server"]["rss_max_kib"] < '"$RSS_LIMIT" "oprad's RSS stayed under $((RSS_LIMIT / 1024)) MiB"
# What the server says agrees with what the driver counted.
ACK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["exactly_once"]["acknowledged"])' "$J")
N1=$(OPRA_TOKEN="$LOAD_TOKEN" opra evidence list load1 --json | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["title"].startswith("load-")))')
N2=$(OPRA_TOKEN="$LOAD_TOKEN" opra evidence list load2 --json | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["title"].startswith("load-")))')
[ $((N1 + N2)) -eq "$ACK" ] && pass "opra evidence list shows the $ACK acknowledged submissions" || fail "opra evidence list shows $((N1 + N2)), the driver had $ACK acknowledged"
for a in load1 load2; do
	run env OPRA_TOKEN="$LOAD_TOKEN" "$OPRA_BIN" --server "$OPRA_URL" audit "$a" --verify --json
	expect_json "$OUT" 'd["valid"] is True and d["events"] > 0' "$a: the hash chain verifies after the load"
done
echo "load test took $(($(date +%s) - START))s"
finish
