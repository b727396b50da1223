#!/usr/bin/env bash
# Installs the Debian 12 packages opra needs to build, test and run.
#
#   scripts/install-deps.sh            install what is missing
#   scripts/install-deps.sh --check    only report; exit 1 if something is missing
#   scripts/install-deps.sh --no-optional
#                                      skip clang/libFuzzer (optional)
#
# Does nothing (and never runs apt-get update) when everything is installed.
# As root it runs apt-get itself; otherwise it uses sudo if that works
# without a password, or prints the exact command to run and exits 1.
set -euo pipefail

# Build: compiler, CMake, code generator and the libraries' -dev packages.
# Test: cmocka, the PostgreSQL server binaries (throwaway clusters, and the
# embedded cluster oprad runs without --db), python3 (used by tests).
REQUIRED=(
	build-essential cmake pkg-config
	protobuf-c-compiler libprotobuf-c-dev
	libnng-dev libpq-dev libcmocka-dev libsodium-dev libssl-dev libjansson-dev libyaml-dev
	postgresql
	python3
	# Memory checking in CI (tests/memcheck: oprad under valgrind).
	valgrind
	# opra report's e2e test: the html report rendered in headless Chromium
	# (PNG checked with PIL), the OSCAL report validated against the NIST
	# schema (jsonschema; regex for the schema's \p{L} patterns).
	chromium python3-jsonschema python3-regex python3-pil
)
# libFuzzer builds (-DOPRA_FUZZ=ON). The default build does not need them.
OPTIONAL=(clang libclang-rt-14-dev)

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0"
}

check_only=0
with_optional=1
while [ $# -gt 0 ]; do
	case "$1" in
	--check) check_only=1 ;;
	--no-optional) with_optional=0 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "install-deps: unknown option '$1' (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps: dpkg-query not found: this script supports Debian 12 (bookworm) only." >&2
	echo "install-deps: install the equivalents of: ${REQUIRED[*]}" >&2
	exit 1
fi

wanted=("${REQUIRED[@]}")
if [ "$with_optional" = 1 ]; then
	wanted+=("${OPTIONAL[@]}")
fi

missing=()
for pkg in "${wanted[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$pkg")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if [ "$check_only" = 1 ]; then
	echo "install-deps: missing: ${missing[*]}"
	exit 1
fi

install_line="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
		sudo_cmd=(sudo -n)
	else
		echo "install-deps: missing packages: ${missing[*]}" >&2
		echo "install-deps: not root and sudo needs a password (or is not installed); run as root:" >&2
		echo "  $install_line" >&2
		exit 1
	fi
fi

echo "install-deps: installing: ${missing[*]}"
log=$(mktemp "${TMPDIR:-/tmp}/opra-install-deps.XXXXXX")
trap 'rm -f "$log"' EXIT

if ! "${sudo_cmd[@]}" apt-get update -qq >"$log" 2>&1; then
	cat "$log" >&2
	echo "install-deps: apt-get update failed" >&2
	exit 1
fi

apt_install() {
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1
}

if ! apt_install "${missing[@]}"; then
	# The optional packages are the likeliest to be unavailable (they are
	# pinned to clang 14, Debian 12's default): retry with the required ones.
	required_missing=()
	optional_missing=()
	for pkg in "${missing[@]}"; do
		case " ${OPTIONAL[*]} " in
		*" $pkg "*) optional_missing+=("$pkg") ;;
		*) required_missing+=("$pkg") ;;
		esac
	done
	if [ "${#optional_missing[@]}" -gt 0 ] &&
		{ [ "${#required_missing[@]}" -eq 0 ] || apt_install "${required_missing[@]}"; }; then
		echo "install-deps: warning: could not install the optional ${optional_missing[*]}; libFuzzer builds (-DOPRA_FUZZ=ON) will not work" >&2
	else
		tail -n 40 "$log" >&2
		echo "install-deps: apt-get install failed; the command was:" >&2
		echo "  $install_line" >&2
		exit 1
	fi
fi
echo "install-deps: done"
