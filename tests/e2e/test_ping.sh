#!/usr/bin/env bash
# opra ping, --version, help and client-side errors against a real oprad.
. "$(dirname "$0")/lib.sh"

start_oprad "$E2E_TMP/s"

expect_rc 0 "ping without a token" opra ping
expect_in "$OUT" "oprad 0.1.0" "human ping names the server version"
expect_rc 0 "ping --json" opra ping --json
expect_json "$OUT" 'd["server_version"] == "0.1.0" and d["protocol_version"] == 1 and isinstance(d["latency_ms"], (int, float)) and d["latency_ms"] >= 0' "ping JSON has the CLI.md fields"
expect_json "$OUT" 'len(d) >= 3' "ping JSON is one document"

expect_rc 0 "opra --version" "$OPRA_BIN" --version
expect_in "$OUT" "0.1.0" "--version prints the version"
expect_rc 0 "opra help" "$OPRA_BIN" help
expect_in "$OUT" "user add" "help lists user add"
expect_rc 0 "opra user add --help" "$OPRA_BIN" user add --help
expect_in "$OUT" "--role" "user add help documents --role"
expect_rc 0 "opra help ping" "$OPRA_BIN" help ping
expect_rc 0 "oprad --help" "$OPRAD" --help
for flag in --listen --db --state-dir --workers --tls-cert --tls-key --config --log-level; do
	expect_in "$OUT" "$flag" "oprad --help documents $flag"
done

expect_rc 2 "unknown command is a usage error" "$OPRA_BIN" frobnicate
expect_in "$ERR" "unknown command" "unknown command says so"
expect_rc 2 "bad --timeout is a usage error" opra --timeout -3 ping
expect_rc 2 "unknown oprad flag is a usage error" "$OPRAD" --no-such-flag

# Server down: exit 7 and a message that says what to do.
expect_rc 7 "ping with the server down" "$OPRA_BIN" --server "ipc://$E2E_TMP/nothing.sock" ping
expect_in "$ERR" "cannot reach" "server-down message"
expect_rc 7 "server down, --json" "$OPRA_BIN" --server tcp://127.0.0.1:1 --json ping
expect_json "$OUT" 'd["error"]["code"] == "UNAVAILABLE" and "cannot reach" in d["error"]["message"]' "server-down JSON error"

# Several servers: the first that answers is used.
expect_rc 0 "second --server is tried when the first is down" "$OPRA_BIN" --server tcp://127.0.0.1:1 --server "$OPRA_URL" ping
expect_rc 0 "OPRA_SERVER comma list" env OPRA_SERVER="tcp://127.0.0.1:1,$OPRA_URL" "$OPRA_BIN" ping

# One log line per request, with method, caller and status, and no token.
grep -q "rpc opra.v1.System/Ping caller=- status=OK" "$E2E_TMP/s/oprad.log" && pass "request log line" || fail "no request log line"

stop_oprad
[ "$STOP_RC" -eq 0 ] && pass "SIGTERM stops oprad with exit 0" || fail "oprad exit $STOP_RC after SIGTERM"
grep -q "stopped" "$E2E_TMP/s/oprad.log" && pass "oprad logs its stop" || fail "no stop line"
finish
