# shellcheck shell=bash disable=SC2034 # variables are for the sourcing test
# Helpers for the load and fault tests (issue 9). Source after lib.sh.
#
# load_fixture [N]: as the admin (ADMIN_TOKEN, a running oprad at OPRA_URL)
#   imports cert-rmm-1.2 and creates unit hq, service claims, N appraisals
#   (default 1) named load1..loadN with process area ADM and instance
#   claims, and user loader as an appraiser of each. Sets LOAD_TOKEN and
#   LOAD_APPRAISALS (the --appraisal arguments for bench_load).
# need_bench_load: skips the test (exit 77) when the build has no
#   bench/bench_load (configured with -DOPRA_BENCH=OFF).
# load_json FILE PYTHON-EXPR DESCRIPTION: expect_json on bench_load's --json
#   output in FILE.

BENCH_LOAD="$OPRA_BUILD_DIR/bench/bench_load"

need_bench_load() {
	if [ ! -x "$BENCH_LOAD" ]; then
		echo "skipped: $BENCH_LOAD is not built (configure with -DOPRA_BENCH=ON)"
		exit 77
	fi
}

load_fixture() {
	local n=${1:-1} i
	local models="${OPRA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/sql/models"
	OPRA_TOKEN="$ADMIN_TOKEN" opra model import "$models/cert-rmm-1.2.yaml" >/dev/null
	OPRA_TOKEN="$ADMIN_TOKEN" opra unit add hq >/dev/null
	OPRA_TOKEN="$ADMIN_TOKEN" opra service add claims --unit hq >/dev/null
	LOAD_TOKEN=$(OPRA_TOKEN="$ADMIN_TOKEN" opra user add loader --role user --quiet)
	LOAD_APPRAISALS=()
	for i in $(seq 1 "$n"); do
		OPRA_TOKEN="$ADMIN_TOKEN" opra appraisal create "load$i" --model cert-rmm-1.2 --pa ADM >/dev/null
		OPRA_TOKEN="$ADMIN_TOKEN" opra appraisal scope add "load$i" --service claims >/dev/null
		OPRA_TOKEN="$ADMIN_TOKEN" opra appraisal member add "load$i" loader --role appraiser >/dev/null
		LOAD_APPRAISALS+=(--appraisal "load$i")
	done
}

load_json() {
	expect_json "$(cat "$1")" "$2" "$3"
}

# load_check_stored DB WHEN: after a fault, the database holds no load
# title twice and the hash chains of load1 and load2 verify ("after WHEN").
load_check_stored() {
	local db=$1 when=$2 dups a
	dups=$(psql "$db" -AtXc "SELECT count(*) FROM (SELECT title FROM evidence WHERE title LIKE 'load-%' GROUP BY title HAVING count(*) > 1) t")
	[ "$dups" -eq 0 ] && pass "no title stored twice in the database" || fail "$dups titles stored twice"
	for a in load1 load2; do
		run env OPRA_TOKEN="$LOAD_TOKEN" "$OPRA_BIN" --server "$OPRA_URL" audit "$a" --verify --json
		expect_json "$OUT" 'd["valid"] is True' "$a: the hash chain verifies after $when"
	done
}

# load_start OUT_PREFIX ARGS...: starts bench_load in the background with
# --json, stdout in OUT_PREFIX.json, stderr in OUT_PREFIX.err; LOAD_PID.
load_start() {
	local out=$1
	shift
	"$BENCH_LOAD" --json "$@" >"$out.json" 2>"$out.err" &
	LOAD_PID=$!
}

# load_wait OUT_PREFIX: waits for bench_load; LOAD_RC; prints its output.
load_wait() {
	set +e
	wait "$LOAD_PID"
	LOAD_RC=$?
	set -e
	cat "$1.json"
	cat "$1.err" >&2
}

# wait_log FILE PATTERN COUNT [TENTHS]: waits until PATTERN (grep -E) occurs
# COUNT times in FILE (default: up to 30 s). Returns 1 on timeout.
wait_log() {
	local i
	for i in $(seq 1 "${4:-300}"); do
		[ "$(grep -cE "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# own_cluster DIR: initdb and start a private PostgreSQL (unix socket in DIR,
# no TCP; as user postgres when run as root). Sets OWN_DB (conninfo of
# database postgres) and OWN_PGDATA; pg_as_owner runs a command as the
# cluster's owner. The cluster is stopped by own_cluster_stop (call it from
# an EXIT trap).
pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$OWN_PGDIR" && runuser -u postgres -- "$@")
	else
		(cd "$OWN_PGDIR" && "$@")
	fi
}
own_cluster() {
	OWN_PGDIR=$1
	local bindir
	bindir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	[ -n "$bindir" ] || bindir=$(dirname "$(command -v initdb)")
	PG_BINDIR=${OPRA_PG_BINDIR:-$bindir}
	mkdir -p "$OWN_PGDIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$OWN_PGDIR"
	OWN_PGDATA="$OWN_PGDIR/data"
	pg_as_owner "$PG_BINDIR/initdb" -D "$OWN_PGDATA" -A trust -U opra -E UTF8 --locale=C \
		--no-sync >"$OWN_PGDIR/initdb.log" 2>&1 || { cat "$OWN_PGDIR/initdb.log" >&2; return 1; }
	cat >>"$OWN_PGDATA/postgresql.conf" <<-EOC
		listen_addresses = ''
		unix_socket_directories = '$OWN_PGDIR'
		port = 5432
		fsync = off
		full_page_writes = off
		max_connections = 100
	EOC
	pg_as_owner "$PG_BINDIR/pg_ctl" -D "$OWN_PGDATA" -l "$OWN_PGDIR/log" -w -t 60 start >/dev/null
	OWN_DB="host=$OWN_PGDIR port=5432 user=opra dbname=postgres"
}
own_cluster_stop() {
	[ -n "${OWN_PGDATA:-}" ] && [ -f "$OWN_PGDATA/postmaster.pid" ] &&
		pg_as_owner "$PG_BINDIR/pg_ctl" -D "$OWN_PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1
	return 0
}
