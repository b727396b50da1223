#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap
# Runs e2e scripts with every oprad they start under valgrind memcheck, then
# reads valgrind's reports: any memory error, and any block definitely or
# indirectly lost, fails the run (after tests/memcheck/opra.supp, which
# holds only reports from inside libraries, each with its reason).
#
#   tests/memcheck/run.sh [E2E_SCRIPT_NAME...]
#
# Default: the e2e scripts below, which between them reach every service
# (users, inventory, appraisals, evidence upload and download, rating,
# watch long polls, hostile input, TLS with client certificates, hostile
# names). About 90 s on two cores.
#
# Needs OPRA_BUILD_DIR and OPRA_SOURCE_DIR (set by CTest) and valgrind; exits
# 77 (skipped) without valgrind. Use the normal build, not the sanitizer one
# (ASan and valgrind do not mix). Keep the valgrind logs with
# MEMCHECK_KEEP=DIR.
set -euo pipefail

: "${OPRA_BUILD_DIR:?run through ctest (OPRA_BUILD_DIR is not set)}"
src=${OPRA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
command -v valgrind >/dev/null || { echo "skipped: valgrind is not installed"; exit 77; }
if nm -an "$OPRA_BUILD_DIR/oprad" 2>/dev/null | grep -q __asan_init; then
	echo "skipped: $OPRA_BUILD_DIR is a sanitizer build (valgrind and ASan do not mix)"
	exit 77
fi

scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(test_ping test_users test_inventory test_appraisal test_evidence
	test_rating test_watch test_hostile test_tls test_names)

work=$(mktemp -d /tmp/opra-memcheck.XXXXXX)
chmod 711 "$work"
cleanup() { [ -n "${MEMCHECK_KEEP:-}" ] && cp -r "$work/logs" "$MEMCHECK_KEEP" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/build" "$work/logs"

# A build directory whose oprad is valgrind around the real one; the rest
# (opra, test tools) are the real files.
for f in "$OPRA_BUILD_DIR"/*; do
	[ "$(basename "$f")" = oprad ] || ln -s "$f" "$work/build/$(basename "$f")"
done
cat >"$work/build/oprad" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --error-limit=no \\
	--leak-check=full --show-leak-kinds=definite,indirect \\
	--errors-for-leak-kinds=definite,indirect --num-callers=30 \\
	--suppressions="$src/tests/memcheck/opra.supp" --gen-suppressions=all \\
	--log-file="$work/logs/oprad.%p.log" "$OPRA_BUILD_DIR/oprad" "\$@"
WRAP
chmod 755 "$work/build/oprad"

start=$(date +%s)
rc=0
for s in "${scripts[@]}"; do
	echo "==> $s under valgrind"
	if ! OPRA_BUILD_DIR="$work/build" bash "$src/tests/e2e/$s.sh"; then
		echo "memcheck: $s failed under valgrind" >&2
		rc=1
	fi
done

n=0 bad=0
for log in "$work"/logs/oprad.*.log; do
	[ -e "$log" ] || continue
	n=$((n + 1))
	# Leaks definitely or indirectly lost count as errors here
	# (--errors-for-leak-kinds), so a clean process says "0 errors".
	if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
		bad=$((bad + 1))
		echo "memcheck: problems in $(basename "$log"):" >&2
		cat "$log" >&2
	fi
done
echo "memcheck: ${#scripts[@]} e2e scripts, $n oprad processes under valgrind, $bad with problems, $(($(date +%s) - start)) s"
[ "$n" -gt 0 ] || { echo "memcheck: no oprad ran under valgrind" >&2; exit 1; }
[ "$bad" -eq 0 ] || rc=1
exit "$rc"
