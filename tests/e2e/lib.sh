# Shared helpers for the end-to-end tests: real oprad and opra processes.
# Source it from a test_*.sh script. Needs OPRA_BUILD_DIR (set by CTest).
# With OPRA_TEST_DB (set by scripts/test.sh) servers use a fresh database on
# that throwaway cluster; start_oprad_embedded runs the embedded cluster.
set -euo pipefail

: "${OPRA_BUILD_DIR:?run through ctest (OPRA_BUILD_DIR is not set)}"
OPRAD="$OPRA_BUILD_DIR/oprad"
OPRA_BIN="$OPRA_BUILD_DIR/opra"
E2E_NAME=$(basename "$0" .sh)
E2E_TMP=$(mktemp -d "/tmp/opra-e2e-$E2E_NAME.XXXXXX")
chmod 711 "$E2E_TMP" # as root the embedded cluster's user must traverse it
E2E_DBS=()
E2E_PIDS=()
FAILS=0
PASSES=0

# The client must never read the developer's own configuration.
export XDG_CONFIG_HOME="$E2E_TMP/config" XDG_STATE_HOME="$E2E_TMP/state"
unset OPRA_SERVER OPRA_TOKEN OPRA_SITE OPRA_CA_FILE

e2e_cleanup() {
	local pid
	for pid in "${E2E_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${E2E_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${OPRA_TEST_DB:-}" ]; then
		local db
		for db in "${E2E_DBS[@]}"; do
			psql "$OPRA_TEST_DB" -qXc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
				>/dev/null 2>&1 || true
		done
	fi
	[ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}
pass() {
	echo "ok: $*"
	PASSES=$((PASSES + 1))
}

# run CMD...: runs it, keeping stdout in $OUT, stderr in $ERR, exit in $RC.
run() {
	set +e
	"$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err"
	RC=$?
	set -e
	OUT=$(cat "$E2E_TMP/out")
	ERR=$(cat "$E2E_TMP/err")
}

# expect_rc CODE DESCRIPTION CMD...
expect_rc() {
	local want=$1 what=$2
	shift 2
	run "$@"
	if [ "$RC" -eq "$want" ]; then
		pass "$what (exit $RC)"
	else
		fail "$what: expected exit $want, got $RC; stdout: $OUT; stderr: $ERR"
	fi
}

# expect_in HAYSTACK NEEDLE DESCRIPTION
expect_in() {
	if printf '%s' "$1" | grep -F -- "$2" >/dev/null; then
		pass "$3"
	else
		fail "$3: '$2' not found in: $1"
	fi
}

# expect_json JSON PYTHON-EXPR DESCRIPTION: EXPR sees the document as `d`.
expect_json() {
	if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ('"$2"') else 1)' "$1" 2>/dev/null; then
		pass "$3"
	else
		fail "$3: $2 is not true for: $1"
	fi
}

# fresh_db: creates an empty database; its conninfo is left in $FRESH_DB
# (not printed: a subshell would lose the record needed to drop it).
fresh_db() {
	local name="opra_e2e_${E2E_NAME}_$$_${#E2E_DBS[@]}"
	psql "$OPRA_TEST_DB" -qXc "CREATE DATABASE \"$name\"" >/dev/null
	E2E_DBS+=("$name")
	FRESH_DB="$OPRA_TEST_DB dbname=$name"
}

# start_oprad STATE_DIR [oprad flags...]: starts oprad on a fresh database
# (or the embedded cluster without OPRA_TEST_DB), listening on an ipc socket
# in STATE_DIR unless --listen is given; waits until it answers.
# Sets OPRAD_PID, OPRA_URL, ADMIN_TOKEN.
start_oprad() {
	local state=$1
	shift
	local args=(--state-dir "$state")
	if [ -n "${OPRA_TEST_DB:-}" ]; then
		fresh_db
		args+=(--db "$FRESH_DB")
	fi
	launch_oprad "$state" "${args[@]}" "$@"
}

launch_oprad() {
	local state=$1
	shift
	local listen_given=0 a
	for a in "$@"; do [ "$a" = --listen ] && listen_given=1; done
	mkdir -p "$state"
	chmod 711 "$state"
	OPRA_URL="ipc://$state/oprad.sock"
	local extra=()
	[ $listen_given -eq 1 ] || extra=(--listen "$OPRA_URL")
	"$OPRAD" "$@" "${extra[@]}" >"$state/oprad.log" 2>&1 &
	OPRAD_PID=$!
	E2E_PIDS+=("$OPRAD_PID")
	local i
	for i in $(seq 1 600); do
		if grep -qE " ready$" "$state/oprad.log" 2>/dev/null; then
			break
		fi
		if ! kill -0 "$OPRAD_PID" 2>/dev/null; then
			echo "oprad exited during start:" >&2
			cat "$state/oprad.log" >&2
			return 1
		fi
		sleep 0.1
	done
	grep -qE " ready$" "$state/oprad.log" || { cat "$state/oprad.log" >&2; return 1; }
	ADMIN_TOKEN=$(cat "$state/admin.token" 2>/dev/null || true)
}

stop_oprad() {
	local pid=${1:-$OPRAD_PID}
	kill -TERM "$pid" 2>/dev/null || true
	set +e
	wait "$pid"
	STOP_RC=$?
	set -e
}

opra() {
	"$OPRA_BIN" --server "$OPRA_URL" "$@"
}

# The smallest appraisal evidence can go into, as the admin: CERT-RMM with
# process area ADM, unit hq, service claims as the instance, appraisal ap1,
# and user alice as an appraiser (her token in ALICE). Needs a running
# oprad (start_oprad) and ADMIN_TOKEN.
small_appraisal() {
	local models="${OPRA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/sql/models"
	OPRA_TOKEN="$ADMIN_TOKEN" opra model import "$models/cert-rmm-1.2.yaml" >/dev/null
	OPRA_TOKEN="$ADMIN_TOKEN" opra unit add hq >/dev/null
	OPRA_TOKEN="$ADMIN_TOKEN" opra service add claims --unit hq >/dev/null
	OPRA_TOKEN="$ADMIN_TOKEN" opra appraisal create ap1 --model cert-rmm-1.2 --pa ADM >/dev/null
	OPRA_TOKEN="$ADMIN_TOKEN" opra appraisal scope add ap1 --service claims >/dev/null
	ALICE=$(OPRA_TOKEN="$ADMIN_TOKEN" opra user add alice --role user --quiet)
	OPRA_TOKEN="$ADMIN_TOKEN" opra appraisal member add ap1 alice --role appraiser >/dev/null
}

# Prints the closing line CTest-style runners expect and exits 1 on failure.
finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
