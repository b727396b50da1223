#!/usr/bin/env bash
# tls+tcp:// with a CA and server certificate generated here: the client
# verifies the server against the CA; without the CA it refuses to guess.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "skipped: openssl is not installed"; exit 77; }

pki="$E2E_TMP/pki"
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=opra test CA" \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
	-keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
	-CAcreateserial -days 2 -extfile "$pki/ext" -out "$pki/server.crt" 2>/dev/null
# An unrelated CA, to show verification really happens.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
	-keyout "$pki/other.key" -out "$pki/other.crt" 2>/dev/null

port=$((20000 + $$ % 20000))
start_oprad "$E2E_TMP/s" --listen "tls+tcp://127.0.0.1:$port" \
	--tls-cert "$pki/server.crt" --tls-key "$pki/server.key"
OPRA_URL="tls+tcp://localhost:$port"

expect_rc 0 "ping over TLS with the right CA" opra --ca-file "$pki/ca.crt" ping --json
expect_json "$OUT" 'd["server_version"] == "0.1.0"' "TLS ping answer"
expect_rc 0 "authenticated call over TLS" opra --ca-file "$pki/ca.crt" --token "$ADMIN_TOKEN" user list --json
expect_json "$OUT" 'd[0]["name"] == "admin"' "user list over TLS"
expect_rc 6 "TLS without a CA file is refused with advice" opra ping
expect_in "$ERR" "--ca-file" "message names --ca-file"
run opra --ca-file "$pki/other.crt" --timeout 3 ping
[ "$RC" -ne 0 ] && pass "a server certificate from another CA is not trusted (exit $RC)" || fail "untrusted certificate accepted"
expect_rc 2 "--tls-cert without --tls-key is a usage error" "$OPRAD" --tls-cert "$pki/server.crt"

# Missing certificate files: a clear start-up error.
run "$OPRAD" --db "host=/nonexistent" --listen "tls+tcp://127.0.0.1:$((port + 1))" --tls-cert /nonexistent.crt --tls-key /nonexistent.key
[ "$RC" -ne 0 ] && pass "oprad refuses to start with bad TLS files" || fail "oprad started with missing TLS files"

stop_oprad
[ "$STOP_RC" -eq 0 ] && pass "clean stop" || fail "stop exit $STOP_RC"
finish
