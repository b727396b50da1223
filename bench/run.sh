#!/usr/bin/env bash
# Runs the benchmarks on this machine and prints each figure next to the
# baseline measured in the same run. Usage: bench/run.sh [--quick|--full]
#   --quick  (default) about a minute: 2 s per cell, bulk import of 31k rows, load 10 s
#   --full   5 s per cell, bulk import of 100k assets, 10k services, 200k links, load 60 s
# Builds into build-bench (Release), starts oprad on its embedded PostgreSQL
# in a temporary state dir, and stops everything on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=2
mode=quick
case "${1:-}" in
--quick | "") seconds=2 ;;
--full) seconds=5 mode=full ;;
-h | --help)
	sed -n '2,7p' "$0"
	exit 0
	;;
*)
	echo "bench/run.sh: unknown option $1 (use --quick or --full)" >&2
	exit 2
	;;
esac

"$here/scripts/install-deps.sh"
build="$here/build-bench"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DOPRA_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

state=$(mktemp -d /tmp/opra-bench.XXXXXX)
chmod 711 "$state"
# Every benchmark appends its headline figures here (bench/summary.h); the
# table at the end prints them.
export OPRA_BENCH_SUMMARY="$state/summary.tsv"
: >"$OPRA_BENCH_SUMMARY"
started=$EPOCHREALTIME
pid=""
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$state"
}
trap cleanup EXIT

port=$((30000 + $$ % 20000))
url="tcp://127.0.0.1:$port"
echo "starting oprad (embedded PostgreSQL) on $url ..."
"$build/oprad" --state-dir "$state/s" --listen "$url" >"$state/oprad.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	grep -qE " ready$" "$state/oprad.log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$state/oprad.log" >&2; exit 1; }
	sleep 0.1
done
grep -qE " ready$" "$state/oprad.log" || { cat "$state/oprad.log" >&2; exit 1; }

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; oprad logs every request at info level (to a file)"
echo
"$build/bench/bench_rpc" --server "$url" --token "$(cat "$state/s/admin.token")" \
	--seconds "$seconds" --echo-url "tcp://127.0.0.1:$((port + 1))"
echo
catalog="$here/../shared/external/oscal/content/oscal-content-2021-06-a849dbc/NIST_SP-800-53_rev5_catalog.json"
if [ -f "$catalog" ]; then
	"$build/bench/bench_model" --server "$url" --token "$(cat "$state/s/admin.token")" \
		--db "host=$state/s/run port=5432 user=opra dbname=opra" --file "$catalog" \
		--format oscal-catalog --runs "$((seconds * 3 + 1))"
else
	echo "(skipping the model import benchmark: $catalog not found)"
fi
echo
"$build/bench/bench_inventory" --server "$url" --token "$(cat "$state/s/admin.token")" \
	--db "host=$state/s/run port=5432 user=opra dbname=opra" --assets 1000 --runs $((seconds * 15))
echo
# Evidence: affirmations/s vs pgbench, a 256 MiB upload vs COPY with oprad's RSS, dedup.
"$build/bench/bench_evidence" --server "$url" --token "$(cat "$state/s/admin.token")" \
	--db "host=$state/s/run port=5432 user=opra dbname=opra" --seconds "$seconds" \
	--oprad-pid "$pid" --dir "$state" --upload-mib 256
echo
if [ "$seconds" -ge 5 ]; then sizes=(100000 10000 200000); else sizes=(10000 1000 20000); fi
if "$build/opra" help inventory import >/dev/null 2>&1; then
	"$here/bench/bench_bulk.sh" "$build" "$url" "$(cat "$state/s/admin.token")" "$state/s/run" "${sizes[@]}"
else
	echo "(skipping the bulk import benchmark: this build has no 'opra inventory import')"
fi
echo
# Rating engine alone (in memory, no server): its share of `opra rating show`.
"$build/bench/bench_rating" --runs $((seconds * 1000))
echo
# `opra rating show` on a full CERT-RMM appraisal (Rating/Show over RPC) vs a plain SELECT,
# and `opra report --format html` of the same appraisal end to end (goal: under 1 s).
"$build/bench/bench_rating_show" --server "$url" --token "$(cat "$state/s/admin.token")" \
	--db "host=$state/s/run port=5432 user=opra dbname=opra" \
	--model "$here/sql/models/cert-rmm-1.2.yaml" --runs $((seconds * 5 + 1)) \
	--opra "$build/opra"
echo
# Load (issue 9): 200 concurrent clients mixing submissions, characterisations,
# reads and watches on two appraisals; per-operation p50/p99, oprad RSS, CPU of
# oprad + its PostgreSQL; exactly-once and watch-order checks (bench/bench_load.c).
load_opra() { OPRA_TOKEN=$(cat "$state/s/admin.token") "$build/opra" --server "$url" "$@" >/dev/null; }
load_opra model import "$here/sql/models/cert-rmm-1.2.yaml" 2>/dev/null || true
load_opra unit add load-hq && load_opra service add load-claims --unit load-hq
load_token=$(OPRA_TOKEN=$(cat "$state/s/admin.token") "$build/opra" --server "$url" user add load-bench --role user --quiet)
for a in load-bench1 load-bench2; do
	load_opra appraisal create "$a" --model cert-rmm-1.2 --pa ADM
	load_opra appraisal scope add "$a" --service load-claims
	load_opra appraisal member add "$a" load-bench --role appraiser
done
"$build/bench/bench_load" --server "$url" --token "$load_token" --appraisal load-bench1 \
	--appraisal load-bench2 --instance load-claims --clients 200 \
	--seconds "$([ "$seconds" -ge 5 ] && echo 60 || echo 10)" --oprad-pid "$pid"
# CPU seconds of a process and its live descendants, each with the children
# it has reaped (PostgreSQL backends that have exited).
tree_cpu() {
	local p=$1 t c
	t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		t=$((t + $(tree_cpu "$c")))
	done
	echo "$t"
}
rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
own=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
all=$(tree_cpu "$pid")
hz=$(getconf CLK_TCK)
echo
echo "Summary ($mode mode, $(nproc) cores; ratio = measured / baseline, both from this run)"
echo
{
	printf 'figure\tmeasured\tbaseline\tratio\tgoal\tverdict\n'
	cat "$OPRA_BENCH_SUMMARY"
} | awk -F'\t' '
	{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
	END {
		for (r = 1; r <= n; r++) {
			line = ""
			for (i = 1; i <= 6; i++) line = line sprintf("%-*s  ", w[i], cell[r, i])
			sub(/ +$/, "", line); print "  " line
		}
	}'
echo
printf '  oprad peak RSS (VmHWM) over the whole run: %d MiB\n' $((rss / 1024))
awk -v o="$own" -v a="$all" -v hz="$hz" -v t0="$started" -v t1="$EPOCHREALTIME" 'BEGIN {
	printf "  server CPU over the whole run: oprad %.1f s, oprad + its PostgreSQL %.1f s, in %.0f s of wall time\n", o / hz, a / hz, t1 - t0
}'
if grep -q "NOT MET" "$OPRA_BENCH_SUMMARY"; then
	echo "  goals not met: $(grep -c "NOT MET" "$OPRA_BENCH_SUMMARY") (see docs/performance.md for the analysis)"
fi
