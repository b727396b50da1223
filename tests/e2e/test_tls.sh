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

# --- client certificates: --tls-client-ca makes them mandatory -------------
openssl req -newkey rsa:2048 -nodes -subj "/CN=site columbus" \
	-keyout "$pki/client.key" -out "$pki/client.csr" 2>/dev/null
openssl x509 -req -in "$pki/client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
	-CAcreateserial -days 2 -out "$pki/client.crt" 2>/dev/null
# A client certificate signed by the unrelated CA.
openssl req -newkey rsa:2048 -nodes -subj "/CN=intruder" \
	-keyout "$pki/rogue.key" -out "$pki/rogue.csr" 2>/dev/null
openssl x509 -req -in "$pki/rogue.csr" -CA "$pki/other.crt" -CAkey "$pki/other.key" \
	-CAcreateserial -days 2 -out "$pki/rogue.crt" 2>/dev/null
cat "$pki/client.crt" "$pki/client.key" >"$pki/client.pem"

mport=$((port + 2))
start_oprad "$E2E_TMP/m" --listen "tls+tcp://127.0.0.1:$mport" \
	--tls-cert "$pki/server.crt" --tls-key "$pki/server.key" --tls-client-ca "$pki/ca.crt"
OPRA_URL="tls+tcp://localhost:$mport"
export OPRA_CA_FILE="$pki/ca.crt"
expect_rc 0 "mutual TLS: client certificate accepted" \
	opra --tls-cert "$pki/client.crt" --tls-key "$pki/client.key" --token "$ADMIN_TOKEN" user list --json
expect_json "$OUT" 'd[0]["name"] == "admin"' "user list over mutual TLS"
expect_rc 0 "certificate and key in one file (--tls-key defaults to --tls-cert)" \
	opra --tls-cert "$pki/client.pem" ping --json
expect_rc 0 "client certificate from the environment" \
	env OPRA_TLS_CERT="$pki/client.crt" OPRA_TLS_KEY="$pki/client.key" "$OPRA_BIN" --server "$OPRA_URL" ping
mkdir -p "$E2E_TMP/config/opra"
printf 'tls-cert = %s\ntls-key = %s\n' "$pki/client.crt" "$pki/client.key" >"$E2E_TMP/config/opra/config"
chmod 600 "$E2E_TMP/config/opra/config"
expect_rc 0 "client certificate from the config file (tls-cert, tls-key)" opra ping --json
[ -z "$ERR" ] && pass "config keys tls-cert/tls-key are known (no warning)" || fail "config warning: $ERR"
rm -f "$E2E_TMP/config/opra/config"
# Commands that open more connections than their first (chunk streams of
# an upload, sync delivering a record spooled at another site) present the
# same certificate on each of them.
export OPRA_TLS_CERT="$pki/client.crt" OPRA_TLS_KEY="$pki/client.key"
small_appraisal
head -c $((5 * 1024 * 1024 + 17)) /dev/urandom >"$E2E_TMP/big.bin"
expect_rc 0 "a multi-chunk upload over mutual TLS" opra --token "$ALICE" evidence submit ap1 \
	--practice ADM:SG1.SP1 --instance claims --kind artifact --file "$E2E_TMP/big.bin" --title big --json
expect_json "$OUT" 'd["status"] == "accepted" and d["size"] == 5242897' "the uploaded artifact is stored"
expect_rc 0 "spool a submit made at site north" opra --token "$ALICE" --site north evidence submit ap1 \
	--practice ADM:SG1.SP1 --instance claims --kind affirmation --text "from the north" --title n1 --spool
expect_rc 0 "sync it from site south over mutual TLS" opra --token "$ALICE" --site south sync --json
expect_json "$OUT" 'd["delivered"] == 1 and d["failed"] == 0' "the spooled record is delivered"
expect_rc 0 "list the evidence" opra --token "$ALICE" evidence list ap1 --json
expect_json "$OUT" '[e["site"] for e in d if e["title"] == "n1"] == ["north"]' "it keeps the site it was made at"
unset OPRA_TLS_CERT OPRA_TLS_KEY
run opra --timeout 3 --token "$ADMIN_TOKEN" user list
[ "$RC" -eq 7 ] && pass "a client without a certificate is refused (exit $RC)" || fail "no client certificate: exit $RC, $OUT $ERR"
run opra --timeout 3 --tls-cert "$pki/rogue.crt" --tls-key "$pki/rogue.key" ping
[ "$RC" -eq 7 ] && pass "a client certificate from another CA is refused (exit $RC)" || fail "rogue client certificate: exit $RC, $OUT $ERR"
expect_rc 2 "--tls-key without --tls-cert is a usage error" opra --tls-key "$pki/client.key" ping
expect_in "$ERR" "--tls-cert" "message names --tls-cert"
expect_rc 6 "an unreadable client certificate is named" opra --tls-cert /nonexistent.crt --tls-key "$pki/client.key" ping
expect_in "$ERR" "/nonexistent.crt" "message names the missing file"
unset OPRA_CA_FILE
stop_oprad

# --- plain TCP off loopback needs --insecure ---------------------------------
pport=$((port + 3))
run "$OPRAD" --db "host=/nonexistent" --listen "tcp://0.0.0.0:$pport"
[ "$RC" -eq 2 ] && pass "oprad refuses tcp://0.0.0.0 without --insecure (exit 2)" || fail "tcp://0.0.0.0 without --insecure: exit $RC"
expect_in "$ERR" "tls+tcp://" "refusal says to use tls+tcp://"
expect_in "$ERR" "--insecure" "refusal names --insecure"
for url in "tcp://:$pport" "tcp://192.0.2.10:$pport" "tcp://[::]:$pport" "tcp://example.org:$pport" "tcp://127.evil.example:$pport"; do
	run "$OPRAD" --db "host=/nonexistent" --listen "$url"
	[ "$RC" -eq 2 ] && grep -q "refusing to listen" <<<"$ERR" && pass "refused without --insecure: $url" || fail "$url: exit $RC $ERR"
done
printf 'listen = tcp://0.0.0.0:%s\n' "$pport" >"$E2E_TMP/oprad.conf"
run "$OPRAD" --db "host=/nonexistent" --config "$E2E_TMP/oprad.conf"
[ "$RC" -eq 2 ] && pass "a non-loopback listen in the config file is refused too" || fail "config listen: exit $RC"
start_oprad "$E2E_TMP/p" --listen "tcp://0.0.0.0:$pport" --insecure
expect_in "$(cat "$E2E_TMP/p/oprad.log")" "WITHOUT TLS (--insecure)" "with --insecure oprad starts and warns loudly"
OPRA_URL="tcp://127.0.0.1:$pport"
expect_rc 0 "loopback client on the --insecure server" opra --token "$ADMIN_TOKEN" user list --json
stop_oprad
printf 'insecure = true\n' >"$E2E_TMP/oprad.conf"
start_oprad "$E2E_TMP/p2" --config "$E2E_TMP/oprad.conf" --listen "tcp://0.0.0.0:$pport"
expect_in "$(cat "$E2E_TMP/p2/oprad.log")" "WITHOUT TLS (--insecure)" "insecure = true in the config file"
stop_oprad
# Loopback forms and local transports stay allowed without --insecure.
start_oprad "$E2E_TMP/l" --listen "tcp://127.0.0.2:$pport" --listen "tcp://localhost:$((pport + 1))" --listen "ipc://$E2E_TMP/l.sock"
pass "127.0.0.0/8, localhost and ipc:// need no --insecure"
stop_oprad

# The client never sends a token in clear text to another machine.
expect_rc 2 "client refuses a token over plain tcp:// to a non-loopback host" \
	"$OPRA_BIN" --server "tcp://192.0.2.10:$pport" --token "$ADMIN_TOKEN" user list
expect_in "$ERR" "--insecure" "client refusal names --insecure"
expect_rc 2 "also when the remote server is only the second one listed" \
	"$OPRA_BIN" --server "tcp://127.0.0.1:$pport" --server "tcp://192.0.2.10:$pport" --token x user list
run "$OPRA_BIN" --server "tcp://192.0.2.10:$pport" --insecure --timeout 1 --token "$ADMIN_TOKEN" user list
[ "$RC" -eq 7 ] && pass "with --insecure the client tries (and finds nobody: exit 7)" || fail "--insecure client: exit $RC $ERR"
run env OPRA_INSECURE=1 "$OPRA_BIN" --server "tcp://192.0.2.10:$pport" --timeout 1 --token "$ADMIN_TOKEN" user list
[ "$RC" -eq 7 ] && pass "OPRA_INSECURE=1 works like --insecure" || fail "OPRA_INSECURE: exit $RC $ERR"
printf 'insecure = true\n' >"$E2E_TMP/config/opra/config"
run "$OPRA_BIN" --server "tcp://192.0.2.10:$pport" --timeout 1 --token "$ADMIN_TOKEN" user list
[ "$RC" -eq 7 ] && pass "insecure = true in the client config file" || fail "client config insecure: exit $RC $ERR"
printf 'insecure = maybe\n' >"$E2E_TMP/config/opra/config"
expect_rc 2 "a bad insecure value is a usage error" "$OPRA_BIN" --server "tcp://192.0.2.10:$pport" ping
rm -f "$E2E_TMP/config/opra/config"
run "$OPRA_BIN" --server "tcp://192.0.2.10:$pport" --timeout 1 ping
[ "$RC" -eq 7 ] && pass "without a token the client may call a remote plain server (ping)" || fail "tokenless ping: exit $RC $ERR"
finish
