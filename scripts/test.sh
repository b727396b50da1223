#!/usr/bin/env bash
# Builds opra and runs every test: the normal build (build/) and the
# AddressSanitizer + UBSan build (build-asan/), each for the CTest labels
# unit, db, e2e and fuzz, against a throwaway PostgreSQL cluster; memcheck
# (e2e scripts with oprad under valgrind) for the normal build only; a Release
# build (build-release/) is compiled too, for the warnings only -O3 finds.
#
#   scripts/test.sh               everything (what CI runs)
#   scripts/test.sh --quick       normal build only
#   scripts/test.sh --label L     only label L (unit, db, e2e, fuzz or memcheck)
#   scripts/test.sh --help
#
# Environment: OPRA_SKIP_DEPS=1 skips scripts/install-deps.sh;
# OPRA_PG_BINDIR picks the PostgreSQL bin directory (default: the newest
# /usr/lib/postgresql/N/bin, then PATH); OPRA_BUILD_JOBS (default: nproc).
# Works as root (the cluster then runs as the `postgres` user) and as a
# normal user, from any directory. Exits non-zero if any build or test fails.
# shellcheck disable=SC2317 # on_exit and what it calls run from traps
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL_LABELS=(unit db e2e fuzz memcheck)

usage() {
	sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

quick=0
labels=("${ALL_LABELS[@]}")
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--label)
		[ $# -ge 2 ] || { echo "test.sh: --label needs a value (unit, db, e2e, fuzz or memcheck)" >&2; exit 2; }
		case " ${ALL_LABELS[*]} " in
		*" $2 "*) labels=("$2") ;;
		*) echo "test.sh: unknown label '$2' (unit, db, e2e, fuzz or memcheck)" >&2; exit 2 ;;
		esac
		shift
		;;
	--label=*)
		set -- --label "${1#--label=}" "${@:2}"
		continue
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "test.sh: unknown option '$1' (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

builds=(build)
[ "$quick" = 1 ] || builds+=(build-asan)
jobs=${OPRA_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}

# --- timing and summary --------------------------------------------------
script_start=$EPOCHREALTIME
phase_name=""
phase_start=""
phase_lines=()
result_lines=()
sum_passed=0
sum_failed=0
any_failed=0

elapsed() { # start [end] -> seconds with one decimal
	local end=${2:-$EPOCHREALTIME}
	awk -v a="$1" -v b="$end" 'BEGIN { printf "%.1f", b - a }'
}
phase() {
	phase_done
	phase_name=$1
	phase_start=$EPOCHREALTIME
	printf '\n==> %s\n' "$phase_name"
}
phase_done() {
	if [ -n "$phase_name" ]; then
		local t
		t=$(elapsed "$phase_start")
		phase_lines+=("$(printf '  %-44s %7ss' "$phase_name" "$t")")
		printf -- '--- %s: %ss\n' "$phase_name" "$t"
		phase_name=""
	fi
}

summary() {
	local status=$1
	phase_done
	printf '\n==> Summary\n'
	if [ "${#result_lines[@]}" -gt 0 ]; then
		printf '%s\n' "${result_lines[@]}"
		echo
	fi
	if [ "${#phase_lines[@]}" -gt 0 ]; then
		echo "Time per phase:"
		printf '%s\n' "${phase_lines[@]}"
	fi
	printf '  %-44s %7ss\n' "total" "$(elapsed "$script_start")"
	# The plain closing line CI reads: every ctest test of every build and label.
	echo "tests: $sum_passed passed, $sum_failed failed"
	if [ "$status" -eq 0 ]; then
		echo "test.sh: all tests passed"
	elif [ "$any_failed" = 1 ]; then
		echo "test.sh: FAILED (see the output of the failing tests above)"
	else
		echo "test.sh: FAILED (exit $status) during: ${failed_phase:-setup}"
	fi
}

# --- throwaway PostgreSQL cluster ------------------------------------------
pg_tmp=""
pg_bindir=""
pg_user=""
failed_phase=""

as_pg_user() { # runs a command as the cluster's owner, in a directory it can read
	if [ -n "$pg_user" ]; then
		(cd "$pg_tmp" && runuser -u "$pg_user" -- "$@")
	else
		(cd "$pg_tmp" && "$@")
	fi
}

stop_cluster() {
	[ -n "$pg_tmp" ] && [ -d "$pg_tmp" ] || return 0
	if [ -f "$pg_tmp/data/postmaster.pid" ]; then
		as_pg_user "$pg_bindir/pg_ctl" -D "$pg_tmp/data" -m immediate -w -t 30 stop \
			>/dev/null 2>&1 || true
		# Still there (pg_ctl failed)? Stop the postmaster directly.
		local pid
		pid=$(head -n 1 "$pg_tmp/data/postmaster.pid" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -QUIT "$pid" 2>/dev/null || true
			sleep 1
		fi
	fi
	rm -rf "$pg_tmp"
	pg_tmp=""
}

on_exit() {
	local status=$?
	trap - EXIT INT TERM HUP
	[ -n "$phase_name" ] && [ "$status" -ne 0 ] && failed_phase=$phase_name
	stop_cluster
	summary "$status"
	exit "$status"
}
trap on_exit EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT
trap 'echo "test.sh: terminated" >&2; exit 143' TERM
trap 'exit 129' HUP

find_pg_bindir() {
	if [ -n "${OPRA_PG_BINDIR:-}" ]; then
		echo "$OPRA_PG_BINDIR"
		return
	fi
	local d
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
		return
	fi
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return
	fi
	echo "test.sh: PostgreSQL server binaries (initdb, pg_ctl) not found; run scripts/install-deps.sh or set OPRA_PG_BINDIR" >&2
	return 1
}

start_cluster() {
	pg_bindir=$(find_pg_bindir)
	# The socket path must fit in sun_path (107 bytes): keep the directory short.
	local base=${TMPDIR:-/tmp}
	[ "${#base}" -le 60 ] || base=/tmp
	pg_tmp=$(mktemp -d "$base/opra-test.XXXXXX")
	if [ "$(id -u)" -eq 0 ]; then
		# PostgreSQL refuses to run as root.
		if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
		chown "$pg_user:" "$pg_tmp"
	fi
	# The port only names the socket file (no TCP); derive it from our pid.
	local port=$((20000 + $$ % 40000))

	if ! as_pg_user "$pg_bindir/initdb" -D "$pg_tmp/data" -A trust -U opra -E UTF8 \
		--locale=C --no-sync >"$pg_tmp/initdb.log" 2>&1; then
		cat "$pg_tmp/initdb.log" >&2
		echo "test.sh: initdb failed" >&2
		return 1
	fi
	# Unix socket only, and no durability: the cluster is thrown away.
	cat >>"$pg_tmp/data/postgresql.conf" <<-EOF

		# scripts/test.sh: throwaway test cluster
		listen_addresses = ''
		unix_socket_directories = '$pg_tmp'
		port = $port
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 200
	EOF
	if ! as_pg_user "$pg_bindir/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/postgres.log" \
		-w -t 60 start >/dev/null 2>&1; then
		tail -n 30 "$pg_tmp/postgres.log" >&2 || true
		echo "test.sh: PostgreSQL did not start" >&2
		return 1
	fi
	export OPRA_TEST_DB="host=$pg_tmp port=$port user=opra dbname=postgres"
	echo "PostgreSQL $("$pg_bindir/postgres" --version | awk '{print $3}') running${pg_user:+ as $pg_user}"
	echo "OPRA_TEST_DB=\"$OPRA_TEST_DB\""
}

# --- build -------------------------------------------------------------------
configure_and_build() { # dir extra-cmake-args...
	local dir=$ROOT/$1
	shift
	# A build directory configured for another checkout (a copied tree) cannot
	# be reused: CMake refuses. It is generated, so start it afresh.
	if [ -f "$dir/CMakeCache.txt" ]; then
		local home
		home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$dir/CMakeCache.txt")
		if [ -n "$home" ] && [ "$home" != "$ROOT" ]; then
			echo "test.sh: $dir was configured for $home; starting it afresh"
			rm -rf "$dir"
		fi
	fi
	cmake -S "$ROOT" -B "$dir" -DOPRA_TESTS=ON "$@" >"$dir.configure.log" 2>&1 || {
		cat "$dir.configure.log" >&2
		rm -f "$dir.configure.log"
		echo "test.sh: cmake configure failed for $dir" >&2
		return 1
	}
	rm -f "$dir.configure.log"
	cmake --build "$dir" -j "$jobs"
}

# --- tests -------------------------------------------------------------------
run_label() { # build-dir label
	local build=$1 label=$2 log rc=0 par=2 result
	# e2e tests start real servers; run them one at a time.
	[ "$label" = e2e ] && par=1
	[ "$label" = memcheck ] && par=1
	log=$(mktemp "${TMPDIR:-/tmp}/opra-ctest.XXXXXX")
	(
		cd "$ROOT/$build"
		if [ "$build" = build-asan ]; then
			export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
			export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		fi
		exec ctest --output-on-failure --no-tests=ignore --timeout 300 -L "^${label}\$" -j "$par"
	) 2>&1 | tee "$log" || rc=$?
	local total skipped
	total=$(sed -nE 's/.*tests passed, [0-9]+ tests? failed out of ([0-9]+).*/\1/p' "$log" | tail -n 1)
	skipped=$(grep -c '\*\*\*Skipped' "$log" || true)
	local nfailed
	nfailed=$(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of [0-9]+.*/\1/p' "$log" | tail -n 1)
	if [ -n "$total" ]; then
		sum_failed=$((sum_failed + ${nfailed:-0}))
		sum_passed=$((sum_passed + total - ${nfailed:-0} - skipped))
	fi
	if [ "$rc" -ne 0 ]; then
		result="FAILED: $(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1 of \2 tests failed/p' "$log" | tail -n 1)"
		[ "$result" != "FAILED: " ] || result="FAILED: ctest exit $rc"
		any_failed=1
	elif [ -z "$total" ] || grep -q 'No tests were found' "$log"; then
		result="no tests"
	else
		result="ok: $total test$([ "$total" = 1 ] || echo s)"
		[ "$skipped" -eq 0 ] || result="$result ($skipped skipped)"
	fi
	result_lines+=("$(printf '  %-11s %-5s %s' "$build" "$label" "$result")")
	if [ "$rc" -ne 0 ]; then
		local line
		while IFS= read -r line; do
			result_lines+=("                    $line")
		done < <(sed -n '/The following tests FAILED:/,/^[^[:space:]]/{/^[[:space:]]/s/^[[:space:]]*//p}' "$log")
	fi
	rm -f "$log"
}

# --- main --------------------------------------------------------------------
echo "opra tests: ${builds[*]} / labels: ${labels[*]} (as $(id -un), source $ROOT)"

if [ "${OPRA_SKIP_DEPS:-0}" != 1 ]; then
	phase "dependencies"
	"$ROOT/scripts/install-deps.sh"
fi

phase "build: build (normal)"
configure_and_build build

if [ "$quick" = 0 ]; then
	phase "build: build-asan (ASan + UBSan)"
	configure_and_build build-asan -DOPRA_SANITIZE=ON
	# Compiled, not tested: -O3 finds warnings (-Werror) that the other
	# builds do not, and bench/run.sh builds this way.
	phase "build: build-release (Release, compile only)"
	configure_and_build build-release -DCMAKE_BUILD_TYPE=Release
fi

need_db=0
for l in "${labels[@]}"; do
	case "$l" in db | e2e | memcheck) need_db=1 ;; esac
done
if [ "$need_db" = 1 ]; then
	phase "throwaway PostgreSQL cluster"
	start_cluster
fi

for b in "${builds[@]}"; do
	for l in "${labels[@]}"; do
		# valgrind runs the normal build's oprad only (not under ASan).
		[ "$l" = memcheck ] && [ "$b" = build-asan ] && continue
		phase "test: $b / $l"
		run_label "$b" "$l"
	done
done
phase_done

[ "$any_failed" = 0 ] || exit 1
exit 0
