#!/usr/bin/env bash
# Hostile input against a live oprad: unknown methods, random bytes,
# truncated protobufs, wrong bodies, oversize messages. Every answer must be
# a clear error, and the server must keep serving correct answers.
. "$(dirname "$0")/lib.sh"
PROBE="$OPRA_BUILD_DIR/tests/opra-probe"

start_oprad "$E2E_TMP/s" --max-message-size 262144
export OPRA_TOKEN="$ADMIN_TOKEN"

expect_rc 0 "unknown method gets an answer" "$PROBE" "$OPRA_URL" unknown-method
expect_in "$OUT" "UNIMPLEMENTED unknown method 'opra.v1.Nothing/Here'" "unknown method is UNIMPLEMENTED"

expect_rc 0 "a body that is not the method's message" "$PROBE" "$OPRA_URL" wrong-body
expect_in "$OUT" "INVALID_ARGUMENT the body of opra.v1.User/Add is not a valid" "wrong body is INVALID_ARGUMENT"

expect_rc 0 "500 random messages all get well-formed answers" "$PROBE" "$OPRA_URL" garbage 500
if grep -qv '^INVALID_ARGUMENT\|^UNIMPLEMENTED\|^UNAUTHENTICATED' <<<"$OUT"; then
	fail "unexpected answers to garbage: $(grep -v '^INVALID_ARGUMENT\|^UNIMPLEMENTED\|^UNAUTHENTICATED' <<<"$OUT" | sort | uniq -c | head -5)"
else
	pass "garbage answers are all client errors"
fi

expect_rc 0 "every truncation of a request gets an answer" "$PROBE" "$OPRA_URL" truncated
# A prefix that ends on a field boundary is itself a valid (shorter) Ping,
# so OK is a right answer there; no prefix may go unanswered or break the
# server.
if grep -q 'NO-REPLY\|INTERNAL\|MALFORMED' <<<"$OUT"; then
	fail "a truncated request was not answered cleanly: $(grep 'NO-REPLY\|INTERNAL\|MALFORMED' <<<"$OUT" | head -3)"
else
	pass "every truncated request got a clean answer"
fi
grep -q '^INVALID_ARGUMENT' <<<"$OUT" && pass "cut fields are refused as INVALID_ARGUMENT" || fail "no truncation was refused"

expect_rc 0 "an oversize message is dropped, not answered" "$PROBE" "$OPRA_URL" oversize 300000
expect_in "$OUT" "NO-REPLY" "oversize message gets no reply (dropped by the transport)"

# A user with SQL and shell metacharacters in the name is refused, nothing changes.
expect_rc 6 "SQL metacharacters in a user name" opra user add "x'; DROP TABLE users; --" --role user
expect_rc 6 "shell metacharacters in a user name" opra user add '$(reboot)' --role user

# The server is alive and still right.
expect_rc 0 "ping after the abuse" opra ping --json
expect_json "$OUT" 'd["server_version"] == "0.1.0"' "ping still correct"
expect_rc 0 "user list after the abuse" opra user list --json
expect_json "$OUT" '[u["name"] for u in d] == ["admin"]' "no user was created by hostile input"
kill -0 "$OPRAD_PID" && pass "oprad still running" || fail "oprad died"
finish
