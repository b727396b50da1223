#!/usr/bin/env bash
# oprad on its embedded PostgreSQL: first start creates the cluster and the
# admin token, data survives a restart, SIGTERM stops PostgreSQL too, and a
# badly set-up state dir gets a clear refusal.
. "$(dirname "$0")/lib.sh"
state="$E2E_TMP/embedded"

launch_oprad "$state" --state-dir "$state"
pass "oprad started on the embedded cluster"
[ -f "$state/pg/PG_VERSION" ] && pass "the cluster lives in STATE_DIR/pg" || fail "no cluster in $state/pg"
[ "$(stat -c %a "$state/admin.token")" = 600 ] && pass "admin.token is 0600" || fail "admin.token mode"
grep -q "admin.token" "$state/oprad.log" && pass "oprad says where the admin token is" || fail "no token path in the log"
if grep -q "$ADMIN_TOKEN" "$state/oprad.log"; then fail "token in the log"; else pass "token not in the log"; fi
if ss -ltn 2>/dev/null | grep ':5432 ' >/dev/null; then
	pass "(another PostgreSQL listens on 5432; not ours to check)"
fi
grep -q "listen_addresses" "$state/pg/postmaster.opts" 2>/dev/null && pass "postgres started with its own listen settings" || true

export OPRA_TOKEN="$ADMIN_TOKEN"
expect_rc 0 "user add on the embedded cluster" opra user add dana --role program-office

# A second oprad on the same state dir is refused, and says why.
run "$OPRAD" --state-dir "$state" --listen "ipc://$state/second.sock"
[ "$RC" -ne 0 ] && pass "a second oprad on the same state dir is refused (exit $RC)" || fail "second oprad started"
expect_in "$ERR" "another oprad" "the refusal names the other oprad"

stop_oprad
[ "$STOP_RC" -eq 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM exit $STOP_RC"
[ ! -e "$state/pg/postmaster.pid" ] && pass "the embedded PostgreSQL stopped with oprad" || fail "postgres still running after oprad stopped"

# Restart: same cluster, same data, the old admin token still works.
launch_oprad "$state" --state-dir "$state"
expect_rc 0 "users survive a restart" opra user list --json
expect_json "$OUT" 'sorted(u["name"] for u in d) == ["admin", "dana"]' "admin and dana are still there"
stop_oprad

# oprad migrate on the embedded cluster.
expect_rc 0 "oprad migrate" "$OPRAD" migrate --state-dir "$state"
expect_in "$OUT" "version" "migrate reports the schema version"

# A state dir others can read is refused with the fix in the message.
bad="$E2E_TMP/open"
mkdir -p "$bad"
chmod 777 "$bad"
expect_rc 5 "a world-writable state dir is refused" "$OPRAD" --state-dir "$bad" --listen "ipc://$E2E_TMP/x.sock"
expect_in "$ERR" "chmod" "the message says how to fix it"

# No PostgreSQL binaries: a message that says what to install.
mkdir -p "$E2E_TMP/empty"
expect_rc 5 "missing PostgreSQL binaries" env OPRA_PG_BINDIR="$E2E_TMP/empty" "$OPRAD" --state-dir "$E2E_TMP/nobin" --listen "ipc://$E2E_TMP/y.sock"
expect_in "$ERR" "apt-get install postgresql" "the message says what to install"

# An unreachable external database: a clear message, exit 7.
expect_rc 7 "unreachable --db" "$OPRAD" --db "host=$E2E_TMP/nowhere port=1 user=x dbname=y connect_timeout=2" --state-dir "$E2E_TMP/ext"
expect_in "$ERR" "cannot connect to PostgreSQL" "unreachable database message"
finish
