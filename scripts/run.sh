#!/usr/bin/env bash
# Builds opra and starts the server (oprad) on its embedded PostgreSQL.
#
#   scripts/run.sh                   build, then run oprad in the foreground
#                                    (Ctrl-C stops it, and its PostgreSQL)
#   scripts/run.sh --background      run it in the background (pid file and
#                                    log in the state dir) and return once it
#                                    answers `opra ping`
#   scripts/run.sh --stop            stop a server started with --background
#   scripts/run.sh --state-dir DIR   state directory (also OPRA_STATE_DIR);
#                                    default ./opra-state in the repository,
#                                    as root /var/lib/opra/state
#   scripts/run.sh --listen URL      listen URL, repeatable (also OPRA_LISTEN,
#                                    comma separated); default
#                                    tcp://127.0.0.1:7430
#   scripts/run.sh ... -- ARGS       more oprad arguments, e.g.
#                                    -- --workers 8 --log-level debug
#   scripts/run.sh --help
#
# Environment: OPRA_SKIP_DEPS=1 skips scripts/install-deps.sh;
# OPRA_START_TIMEOUT seconds to wait for the first ping (default 120).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
OPRAD=$BUILD/oprad
OPRA=$BUILD/opra
DEFAULT_LISTEN=tcp://127.0.0.1:7430

usage() {
	sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}
die() {
	echo "run.sh: $*" >&2
	exit 1
}

background=0
stop=0
state_dir=${OPRA_STATE_DIR:-}
listen=()
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--background) background=1 ;;
	--stop) stop=1 ;;
	--state-dir)
		[ $# -ge 2 ] || die "--state-dir needs a directory"
		state_dir=$2
		shift
		;;
	--state-dir=*) state_dir=${1#--state-dir=} ;;
	--listen)
		[ $# -ge 2 ] || die "--listen needs a URL"
		listen+=("$2")
		shift
		;;
	--listen=*) listen+=("${1#--listen=}") ;;
	--)
		shift
		extra=("$@")
		break
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "run.sh: unknown option '$1' (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

is_root=0
[ "$(id -u)" -ne 0 ] || is_root=1

# As root the embedded PostgreSQL runs as `postgres`, which must be able to
# reach the state directory; a checkout under /root (mode 0700) is not
# reachable, so root gets a system location.
if [ "$is_root" = 1 ]; then default_state_dir=/var/lib/opra/state; else default_state_dir=$ROOT/opra-state; fi
state_dir=$(realpath -m -- "${state_dir:-$default_state_dir}")
stop_cmd="$0 --stop"
[ "$state_dir" = "$default_state_dir" ] || stop_cmd="$stop_cmd --state-dir $state_dir"
pid_file=$state_dir/oprad.pid
log_file=$state_dir/oprad.log
token_file=$state_dir/admin.token

if [ "${#listen[@]}" -eq 0 ]; then
	IFS=, read -r -a listen <<<"${OPRA_LISTEN:-$DEFAULT_LISTEN}"
fi
[ "${#listen[@]}" -gt 0 ] || die "no listen URL"

# The pid recorded in pid_file if that process is still an oprad.
running_pid() {
	local pid
	[ -f "$pid_file" ] || return 1
	pid=$(head -n 1 "$pid_file" 2>/dev/null || true)
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	# Not some other process that got the pid after oprad died.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q oprad || return 1
	echo "$pid"
}

wait_gone() { # pid seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# --- --stop ------------------------------------------------------------------
if [ "$stop" = 1 ]; then
	if ! pid=$(running_pid); then
		rm -f "$pid_file"
		echo "run.sh: no oprad running from $state_dir"
		exit 0
	fi
	echo "run.sh: stopping oprad (pid $pid)..."
	kill -TERM "$pid"
	if ! wait_gone "$pid" 60; then
		die "oprad (pid $pid) is still running after 60 s; see $log_file"
	fi
	rm -f "$pid_file"
	echo "run.sh: stopped"
	exit 0
fi

if pid=$(running_pid); then
	die "oprad is already running from $state_dir (pid $pid); stop it with: $stop_cmd"
fi

# --- dependencies and build --------------------------------------------------
if [ "${OPRA_SKIP_DEPS:-0}" != 1 ]; then
	"$ROOT/scripts/install-deps.sh"
fi

echo "run.sh: building oprad and opra in $BUILD"
if [ -f "$BUILD/CMakeCache.txt" ]; then
	home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")
	if [ -n "$home" ] && [ "$home" != "$ROOT" ]; then
		echo "run.sh: $BUILD was configured for $home; starting it afresh"
		rm -rf "$BUILD"
	fi
fi
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" >"$BUILD/configure.log" 2>&1; then
	cat "$BUILD/configure.log" >&2
	die "cmake configure failed"
fi
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target oprad opra
if [ ! -x "$OPRAD" ] || [ ! -x "$OPRA" ]; then
	die "the build did not produce $OPRAD and $OPRA"
fi

# --- state directory ---------------------------------------------------------
# Parents are created searchable (0755): as root the cluster's user must pass
# through them. oprad itself checks that and says what to do if not.
parent=$(dirname "$state_dir")
if [ ! -d "$parent" ]; then
	(umask 022 && mkdir -p "$parent")
fi
if [ "$background" = 1 ] && [ ! -d "$state_dir" ]; then
	# oprad would create it the same way (0700); the log needs it first.
	mkdir -m 0700 "$state_dir"
fi

# A URL the client can use to reach the first listen URL: wildcard
# addresses become loopback.
client_url=${listen[0]}
case "$client_url" in
*://0.0.0.0:*) client_url=${client_url/:\/\/0.0.0.0:/://127.0.0.1:} ;;
*://\*:*) client_url=${client_url/:\/\/\*:/://127.0.0.1:} ;;
*://\[::\]:*) client_url=${client_url/:\/\/\[::\]:/://[::1]:} ;;
*://:*) client_url=${client_url/:\/\/:/://127.0.0.1:} ;;
esac
# TLS clients verify the host name against the certificate, and nng (with
# mbed TLS) does not match IP addresses: use the name.
case "$client_url" in
tls+tcp://127.0.0.1:*) client_url=tls+tcp://localhost:${client_url##*:} ;;
esac

args=()
for url in "${listen[@]}"; do args+=(--listen "$url"); done
args+=(--state-dir "$state_dir")
args+=("${extra[@]}")

# --- start -------------------------------------------------------------------
# oprad runs in its own session: a Ctrl-C reaches only this script, which
# sends oprad exactly one SIGTERM (drain, stop PostgreSQL, exit).
if [ "$background" = 1 ]; then
	(umask 077 && touch "$log_file")
	printf '\n==> %s oprad %s\n' "$(date -u +%FT%TZ)" "${args[*]}" >>"$log_file"
	setsid "$OPRAD" "${args[@]}" </dev/null >>"$log_file" 2>&1 &
	pid=$!
	(umask 077 && echo "$pid" >"$pid_file")
else
	setsid "$OPRAD" "${args[@]}" </dev/null &
	pid=$!
fi
echo "run.sh: oprad started (pid $pid): $OPRAD ${args[*]}"

# Alive and not a zombie (an exited child stays visible to kill -0 until
# it is reaped).
alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

stopping=0
on_signal() {
	if [ "$stopping" = 1 ]; then
		echo "run.sh: still waiting for oprad (pid $pid) to stop; 'kill -KILL $pid' forces it" >&2
		return
	fi
	stopping=1
	echo "run.sh: stopping oprad (pid $pid)..." >&2
	kill -TERM "$pid" 2>/dev/null || true
}
trap on_signal INT TERM HUP

# Waits for oprad to exit (a trapped signal interrupts `wait`) and exits
# with its status; with "early" (oprad quit on its own before it was
# ready) a status of 0 is a failure too.
finish() {
	local rc early=${1:-}
	while :; do
		if wait "$pid"; then rc=0; else rc=$?; fi
		kill -0 "$pid" 2>/dev/null || break
	done
	[ "$background" = 0 ] || rm -f "$pid_file"
	# Killed by the SIGTERM we sent (before it set up its handlers): stopped.
	[ "$rc" -ne 143 ] || [ "$stopping" = 0 ] || rc=0
	if [ "$rc" -eq 0 ] && [ -z "$early" ]; then
		echo "run.sh: oprad stopped"
	else
		echo "run.sh: oprad exited with status $rc" >&2
		[ "$rc" -ne 0 ] || rc=1
		[ "$background" = 0 ] || tail -n 20 "$log_file" >&2
	fi
	exit "$rc"
}

ready=0
timeout=${OPRA_START_TIMEOUT:-120}
start=$SECONDS
while [ "$stopping" = 0 ] && ((SECONDS - start < timeout)); do
	if ! alive "$pid"; then
		echo "run.sh: oprad exited before it answered a ping" >&2
		finish early
	fi
	case "$client_url" in
	tls+tcp://*)
		# Verifying the server certificate needs the CA (OPRA_CA_FILE);
		# without it, being alive for 3 s has to do.
		if [ -z "${OPRA_CA_FILE:-}" ]; then
			if ((SECONDS - start >= 3)); then ready=1; fi
		elif OPRA_SERVER=$client_url timeout 5 "$OPRA" ping >/dev/null 2>&1 && alive "$pid"; then
			ready=1
		fi
		;;
	*)
		if OPRA_SERVER=$client_url timeout 5 "$OPRA" ping >/dev/null 2>&1 && alive "$pid"; then
			ready=1
		fi
		;;
	esac
	[ "$ready" = 0 ] || break
	sleep 0.3 || : # a Ctrl-C kills sleep too; on_signal handles it
done

if [ "$stopping" = 1 ]; then
	finish
fi
if [ "$ready" = 0 ]; then
	if [ "$background" = 1 ]; then
		echo "run.sh: oprad did not answer a ping within $timeout s; stopping it" >&2
		on_signal
		finish
	fi
	echo "run.sh: warning: oprad has not answered a ping within $timeout s; still running it" >&2
fi

# --- Hook: load the shipped models ---------------------------------------------
# The shipped models (sql/models/) are loaded by scripts/load-models.sh, here,
# after the server answers, with OPRA_SERVER, OPRA_STATE_DIR and (when the
# file is readable) OPRA_TOKEN = the admin token. It runs on every start, so
# it must be idempotent: a model that is already loaded is not an error.
if [ -x "$ROOT/scripts/load-models.sh" ]; then
	echo "run.sh: loading the shipped models (scripts/load-models.sh)"
	admin_token=""
	[ ! -r "$token_file" ] || admin_token=$(cat "$token_file")
	if ! OPRA_SERVER=$client_url OPRA_TOKEN=$admin_token OPRA_STATE_DIR=$state_dir \
		"$ROOT/scripts/load-models.sh"; then
		echo "run.sh: warning: scripts/load-models.sh failed; the server runs without the shipped models" >&2
	fi
fi
# --- end of hook -------------------------------------------------------------

# --- how to connect ----------------------------------------------------------
if [ "$PWD" = "$ROOT" ]; then opra_cmd=build/opra; else opra_cmd=$OPRA; fi
echo
echo "opra is running (oprad pid $pid)"
echo "  server:      $client_url"
echo "  state dir:   $state_dir"
echo "  admin token: $token_file (written on first start, mode 0600)"
[ "$background" = 0 ] || echo "  log:         $log_file"
echo
echo "Connect:"
[ "$client_url" = "$DEFAULT_LISTEN" ] || echo "  export OPRA_SERVER=$client_url"
case "$client_url" in
tls+tcp://*) echo "  export OPRA_CA_FILE=${OPRA_CA_FILE:-/path/to/the/ca.pem}   # the CA that signed the server certificate" ;;
esac
echo "  export OPRA_TOKEN=\$(cat $token_file)"
echo "  $opra_cmd ping"
echo "  $opra_cmd user add alice --role user"
echo

if [ "$background" = 1 ]; then
	trap - INT TERM HUP
	echo "Stop it with:"
	echo "  $stop_cmd"
	echo "  (or: kill \$(cat $pid_file))"
	exit 0
fi

echo "Press Ctrl-C to stop oprad (and its PostgreSQL)."
finish
