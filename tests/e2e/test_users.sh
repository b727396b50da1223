#!/usr/bin/env bash
# Users and tokens through the real CLI: roles, wrong tokens, revocation.
. "$(dirname "$0")/lib.sh"

start_oprad "$E2E_TMP/s"
[ -n "$ADMIN_TOKEN" ] && pass "first start wrote admin.token" || fail "no admin.token"
mode=$(stat -c %a "$E2E_TMP/s/admin.token")
[ "$mode" = 600 ] && pass "admin.token is mode 0600" || fail "admin.token mode $mode"

export OPRA_TOKEN="$ADMIN_TOKEN"
expect_rc 0 "admin adds a user" opra user add alice --role user --json
expect_json "$OUT" 'd["name"] == "alice" and d["role"] == "user" and d["token"].startswith("opra_") and len(d["token"]) == 60' "user add JSON shape"
ALICE=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$OUT")
expect_rc 0 "admin adds an automation user (human output)" opra user add robot --role automation
expect_in "$OUT" "opra_" "human user add prints the token"
expect_in "$OUT$ERR" "once" "human user add says the token is shown once"

expect_rc 5 "duplicate user is a conflict" opra user add alice --role user
expect_in "$ERR" "already exists" "duplicate message"
expect_rc 2 "unknown role is a usage error" opra user add bob --role wizard
expect_rc 6 "bad user name is invalid input" opra user add "bad name;rm -rf" --role user
expect_in "$ERR" "user names may hold only" "bad name message"

expect_rc 0 "user list" opra user list --json
expect_json "$OUT" '[u["name"] for u in d] == ["admin", "alice", "robot"] and all(u["revoked"] is False for u in d)' "user list JSON"
expect_rc 0 "user list (human)" opra user list
expect_in "$OUT" "alice" "human list shows alice"

# Wrong, garbage and missing tokens: exit 4, clear messages, tokens never echoed.
expect_rc 4 "non-admin cannot list users" opra --token "$ALICE" user list
expect_in "$ERR" "not allowed" "permission message"
expect_rc 4 "garbage token" opra --token garbage user list
expect_in "$ERR" "malformed" "garbage token message"
expect_rc 2 "an empty --token is a usage error" opra --token "" user list
expect_rc 4 "no token at all" env -u OPRA_TOKEN "$OPRA_BIN" --server "$OPRA_URL" user list
expect_in "$ERR" "needs a token" "missing token message"
forged="${ALICE%?????}XXXXX"
expect_rc 4 "forged token" opra --token "$forged" user list --json
expect_json "$OUT" 'd["error"]["code"] == "UNAUTHENTICATED"' "forged token JSON error"
if grep -q "$ALICE" "$E2E_TMP/s/oprad.log" || grep -q "$ADMIN_TOKEN" "$E2E_TMP/s/oprad.log"; then
	fail "a token appears in the server log"
else
	pass "no token in the server log"
fi

# Revocation takes effect at once.
expect_rc 0 "revoke alice" opra user revoke alice --json
expect_json "$OUT" 'd["name"] == "alice" and d["revoked_at"].endswith("Z")' "revoke JSON"
expect_rc 4 "revoked token cannot call" opra --token "$ALICE" user list
expect_in "$ERR" "revoked" "revoked message"
expect_rc 3 "revoking an unknown user" opra user revoke nobody
expect_rc 5 "revoking twice" opra user revoke alice
expect_rc 5 "the last admin cannot be revoked" opra user revoke admin

# The server is still healthy after all that.
expect_rc 0 "server still answers" opra user list --json
expect_json "$OUT" 'any(u["name"] == "alice" and u["revoked"] for u in d)' "alice listed as revoked"

# oprad init-admin adds another admin through the database directly.
if [ -n "${OPRA_TEST_DB:-}" ]; then
	run "$OPRAD" init-admin ops --db "$OPRA_TEST_DB dbname=${E2E_DBS[0]}"
	[ "$RC" -eq 0 ] && pass "oprad init-admin" || fail "init-admin exit $RC: $ERR"
	OPS=$(printf '%s' "$OUT" | tail -1)
	expect_rc 0 "the init-admin token works" opra --token "$OPS" user list
	run "$OPRAD" init-admin ops --db "$OPRA_TEST_DB dbname=${E2E_DBS[0]}"
	[ "$RC" -eq 5 ] && pass "init-admin of an existing name is a conflict" || fail "init-admin twice exit $RC"
fi
finish
