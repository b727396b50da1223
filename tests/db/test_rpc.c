/* The RPC framework against the real server stack: rpcserver (nng rep0,
 * context pool, work queue, workers) + dispatch + PostgreSQL, spoken to by
 * the real client library over ipc:// (ipc, unlike inproc, enforces the
 * receive size limit). */
#include "auth.h"
#include "db.h"
#include "dispatch.h"
#include "envelope.h"
#include "migrate.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_version.h"
#include "rpc.h"
#include "rpcserver.h"
#include "testlib.h"
#include "testserver.h"
#include "token.h"

#include "opra/v1/system.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECV_MAX (256 * 1024)

static testserver ts;
#define url	    (ts.url)
#define admin_db    (ts.db)
#define admin_token (ts.admin)

static int start_server(int workers, size_t queue)
{
	return testserver_start(&ts, workers, queue);
}

static int setup(void **state)
{
	testserver_setup(&ts, "rpc", RECV_MAX);
	return 0;
}

static int teardown(void **state)
{
	testserver_teardown(&ts);
	return 0;
}

static rpc_client *client(const char *token)
{
	return testserver_client(&ts, token);
}

static int ping(rpc_client *c)
{
	Opra__V1__PingRequest req = OPRA__V1__PING_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = rpc_call(c, "opra.v1.System/Ping", &req.base, &opra__v1__ping_response__descriptor,
			  &resp, NULL);
	if (rc == OPRA_OK) {
		Opra__V1__PingResponse *p = (Opra__V1__PingResponse *)resp;
		assert_string_equal(p->server_version, OPRA_VERSION);
		assert_int_equal(p->protocol_version, OPRA_PROTOCOL_VERSION);
		assert_int_equal(p->max_message_size, RECV_MAX);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return rc;
}

static int user_add(rpc_client *c, const char *name, const char *role, const char *key,
		    char *token_out)
{
	Opra__V1__UserAddRequest req = OPRA__V1__USER_ADD_REQUEST__INIT;
	req.name = (char *)name;
	req.role = (char *)role;
	ProtobufCMessage *resp = NULL;
	int rc = rpc_call(c, "opra.v1.User/Add", &req.base,
			  &opra__v1__user_add_response__descriptor, &resp, key);
	if (rc == OPRA_OK) {
		Opra__V1__UserAddResponse *r = (Opra__V1__UserAddResponse *)resp;
		assert_string_equal(r->name, name);
		if (token_out)
			snprintf(token_out, TOKEN_TEXT_LEN + 1, "%s", r->token);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return rc;
}

static int whoami(rpc_client *c, char *name_out)
{
	Opra__V1__WhoamiRequest req = OPRA__V1__WHOAMI_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = rpc_call(c, "opra.v1.System/Whoami", &req.base,
			  &opra__v1__whoami_response__descriptor, &resp, NULL);
	if (rc == OPRA_OK) {
		if (name_out)
			snprintf(name_out, 65, "%s", ((Opra__V1__WhoamiResponse *)resp)->name);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return rc;
}

static long count_rows(const char *sql)
{
	return testserver_count(&ts, sql);
}

static void ping_needs_no_token(void **state)
{
	rpc_client *c = client(NULL);
	assert_int_equal(ping(c), OPRA_OK);
	assert_true(rpc_last_rtt_us(c) > 0);
	rpc_client_close(c);
}

static void tokens_authenticate(void **state)
{
	char name[65];
	rpc_client *c = client(admin_token.text);
	assert_int_equal(whoami(c, name), OPRA_OK);
	assert_string_equal(name, "root");
	rpc_client_close(c);

	c = client(NULL);
	assert_int_equal(whoami(c, NULL), OPRA_UNAUTHENTICATED);
	assert_non_null(strstr(opra_err_msg(), "needs a token"));
	rpc_client_close(c);

	c = client("garbage");
	assert_int_equal(whoami(c, NULL), OPRA_UNAUTHENTICATED);
	assert_non_null(strstr(opra_err_msg(), "malformed"));
	rpc_client_close(c);

	/* Right selector, wrong secret. */
	char forged[TOKEN_TEXT_LEN + 1];
	memcpy(forged, admin_token.text, sizeof(forged));
	forged[TOKEN_TEXT_LEN - 2] = forged[TOKEN_TEXT_LEN - 2] == 'x' ? 'y' : 'x';
	c = client(forged);
	assert_int_equal(whoami(c, NULL), OPRA_UNAUTHENTICATED);
	assert_non_null(strstr(opra_err_msg(), "not recognised"));
	rpc_client_close(c);
}

static void roles_are_enforced(void **state)
{
	char tok[TOKEN_TEXT_LEN + 1], key[33];
	rpc_client *admin = client(admin_token.text);
	rpc_new_key(key);
	assert_int_equal(user_add(admin, "bob", "user", key, tok), OPRA_OK);
	rpc_client *bob = client(tok);
	rpc_new_key(key);
	assert_int_equal(user_add(bob, "mallory", "admin", key, NULL), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "role 'user'"));
	assert_int_equal(count_rows("SELECT count(*) FROM users WHERE name = 'mallory'"), 0);
	rpc_client_close(bob);
	rpc_client_close(admin);
}

static void revoked_tokens_stop_working(void **state)
{
	char tok[TOKEN_TEXT_LEN + 1], key[33];
	rpc_client *admin = client(admin_token.text);
	rpc_new_key(key);
	assert_int_equal(user_add(admin, "carol", "automation", key, tok), OPRA_OK);
	rpc_client *carol = client(tok);
	assert_int_equal(whoami(carol, NULL), OPRA_OK);

	Opra__V1__UserRevokeRequest rr = OPRA__V1__USER_REVOKE_REQUEST__INIT;
	rr.name = "carol";
	ProtobufCMessage *resp = NULL;
	rpc_new_key(key);
	assert_int_equal(rpc_call(admin, "opra.v1.User/Revoke", &rr.base,
				  &opra__v1__user_revoke_response__descriptor, &resp, key),
			 OPRA_OK);
	protobuf_c_message_free_unpacked(resp, NULL);
	assert_int_equal(whoami(carol, NULL), OPRA_UNAUTHENTICATED);
	assert_non_null(strstr(opra_err_msg(), "revoked"));

	/* Revoking again: a clear conflict; an unknown user: not found. */
	rpc_new_key(key);
	assert_int_equal(rpc_call(admin, "opra.v1.User/Revoke", &rr.base,
				  &opra__v1__user_revoke_response__descriptor, &resp, key),
			 OPRA_FAILED_PRECONDITION);
	rr.name = "nobody-here";
	rpc_new_key(key);
	assert_int_equal(rpc_call(admin, "opra.v1.User/Revoke", &rr.base,
				  &opra__v1__user_revoke_response__descriptor, &resp, key),
			 OPRA_NOT_FOUND);
	/* The last admin cannot be revoked (nobody could administer). */
	rr.name = "root";
	rpc_new_key(key);
	assert_int_equal(rpc_call(admin, "opra.v1.User/Revoke", &rr.base,
				  &opra__v1__user_revoke_response__descriptor, &resp, key),
			 OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "last active admin"));
	rpc_client_close(carol);
	rpc_client_close(admin);
}

static void idempotency_keys_make_retries_exactly_once(void **state)
{
	rpc_client *admin = client(admin_token.text);
	long before = count_rows("SELECT count(*) FROM users");
	long events_before = count_rows("SELECT count(*) FROM events");
	Opra__V1__UserRevokeRequest rr = OPRA__V1__USER_REVOKE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;

	/* Mutating without a key is refused before anything happens. */
	assert_int_equal(user_add(admin, "dave", "user", NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "idempotency key"));

	assert_int_equal(user_add(admin, "dave", "user", "add-dave-1", NULL), OPRA_OK);
	/* A retry of user add: done once; the token is not replayed. */
	assert_int_equal(user_add(admin, "dave", "user", "add-dave-1", NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "already completed"));
	assert_int_equal(count_rows("SELECT count(*) FROM users"), before + 1);

	/* A retried revoke returns the stored reply, not "already revoked". */
	rr.name = "dave";
	assert_int_equal(rpc_call(admin, "opra.v1.User/Revoke", &rr.base,
				  &opra__v1__user_revoke_response__descriptor, &resp, "rev-dave"),
			 OPRA_OK);
	char first[64];
	snprintf(first, sizeof(first), "%s", ((Opra__V1__UserRevokeResponse *)resp)->revoked_at);
	protobuf_c_message_free_unpacked(resp, NULL);
	assert_int_equal(rpc_call(admin, "opra.v1.User/Revoke", &rr.base,
				  &opra__v1__user_revoke_response__descriptor, &resp, "rev-dave"),
			 OPRA_OK);
	assert_string_equal(((Opra__V1__UserRevokeResponse *)resp)->revoked_at, first);
	protobuf_c_message_free_unpacked(resp, NULL);
	/* Two changes, two events: the replay wrote none. */
	assert_int_equal(count_rows("SELECT count(*) FROM events"), events_before + 2);

	/* The same key for a different request is refused. */
	assert_int_equal(user_add(admin, "erin", "user", "rev-dave", NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "different request"));
	assert_int_equal(count_rows("SELECT count(*) FROM users WHERE name = 'erin'"), 0);

	/* A failed mutation keeps nothing, so the key can be used again. */
	assert_int_equal(user_add(admin, "dave", "user", "add-dave-2", NULL), OPRA_ALREADY_EXISTS);
	assert_int_equal(count_rows("SELECT count(*) FROM idempotency WHERE key = 'add-dave-2'"),
			 0);
	rpc_client_close(admin);
}

typedef struct {
	const char *key;
	int rc;
} race_arg;

static void *race_add(void *arg)
{
	race_arg *a = arg;
	rpc_client *c = client(admin_token.text);
	a->rc = user_add(c, "frank", "user", a->key, NULL);
	rpc_client_close(c);
	return NULL;
}

static void concurrent_retries_execute_once(void **state)
{
	pthread_t t[4];
	race_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i].key = "add-frank";
		pthread_create(&t[i], NULL, race_add, &a[i]);
	}
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (a[i].rc == OPRA_OK)
			ok++;
		else
			assert_int_equal(a[i].rc,
					 OPRA_FAILED_PRECONDITION); /* replay of a secret */
	}
	assert_int_equal(ok, 1);
	assert_int_equal(count_rows("SELECT count(*) FROM users WHERE name = 'frank'"), 1);
}

static void bad_requests_get_clear_errors(void **state)
{
	rpc_client *c = client(admin_token.text);
	Opra__V1__PingRequest req = OPRA__V1__PING_REQUEST__INIT;
	assert_int_equal(rpc_call(c, "opra.v1.Nope/Nothing", &req.base, NULL, NULL, NULL),
			 OPRA_UNIMPLEMENTED);
	assert_non_null(strstr(opra_err_msg(), "unknown method 'opra.v1.Nope/Nothing'"));

	/* Bodies that decode but do not validate. */
	assert_int_equal(user_add(c, "x y z", "user", "k-bad-name", NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "user names may hold only"));
	assert_int_equal(user_add(c, "zed", "superuser", "k-bad-role", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "unknown role 'superuser'"));
	assert_int_equal(user_add(c, "Robert'); DROP TABLE users;--", "user", "k-sql", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_true(count_rows("SELECT count(*) FROM users") > 0);

	/* Raw garbage and truncated envelopes: answered, never fatal. */
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	assert_int_equal(rpc_call_raw(c, junk, sizeof(junk), &reply, &reply_len), OPRA_OK);
	Opra__V1__Response *resp = NULL;
	assert_int_equal(envelope_response_decode(&resp, reply, reply_len), OPRA_OK);
	assert_int_equal(resp->status, OPRA_INVALID_ARGUMENT);
	envelope_response_free(resp);
	opra_free(reply);

	srand(7);
	for (int i = 0; i < 300; i++) {
		uint8_t buf[256];
		size_t n = 1 + (size_t)(rand() % (int)sizeof(buf));
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)rand();
		assert_int_equal(rpc_call_raw(c, buf, n, &reply, &reply_len), OPRA_OK);
		assert_int_equal(envelope_response_decode(&resp, reply, reply_len), OPRA_OK);
		assert_int_not_equal(resp->status, OPRA_OK);
		assert_int_not_equal(resp->status, OPRA_INTERNAL);
		envelope_response_free(resp);
		opra_free(reply);
	}
	rpc_client_close(c);
	/* And the server still answers correctly. */
	c = client(admin_token.text);
	assert_int_equal(whoami(c, NULL), OPRA_OK);
	rpc_client_close(c);
}

static void oversize_messages_are_dropped_and_server_lives(void **state)
{
	rpc_options o = {.n_urls = 1, .timeout_ms = 1500};
	o.urls[0] = url;
	rpc_client *c = NULL;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	size_t n = RECV_MAX + 1024;
	uint8_t *big = opra_calloc(1, n);
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	int rc = rpc_call_raw(c, big, n, &reply, &reply_len);
	assert_int_not_equal(rc, OPRA_OK); /* no reply: the transport dropped it */
	opra_free(big);
	rpc_client_close(c);
	c = client(NULL);
	assert_int_equal(ping(c), OPRA_OK);
	rpc_client_close(c);
}

static void full_queue_answers_resource_exhausted(void **state)
{
	/* A server with one worker and a one-slot queue; the worker is stuck
	 * behind a table lock we hold, so further requests must be refused at
	 * once rather than pile up. */
	assert_int_equal(start_server(1, 1), OPRA_OK);
	assert_int_equal(db_begin(admin_db), OPRA_OK);
	assert_int_equal(db_cmd(admin_db, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE", 0, NULL),
			 OPRA_OK);
	pthread_t t[2];
	race_arg a[2] = {{"q1", -1}, {"q2", -1}};
	pthread_create(&t[0], NULL, race_add, &a[0]); /* occupies the worker */
	usleep(300 * 1000);
	pthread_create(&t[1], NULL, race_add, &a[1]); /* waits in the queue */
	usleep(300 * 1000);
	rpc_client *c = client(admin_token.text);
	assert_int_equal(whoami(c, NULL), OPRA_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(opra_err_msg(), "overloaded"));
	db_rollback(admin_db);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	/* Once the lock is gone the queued work completes. */
	assert_int_equal(whoami(c, NULL), OPRA_OK);
	rpc_client_close(c);
	assert_int_equal(start_server(2, 64), OPRA_OK);
}

static void server_reconnects_after_database_connections_die(void **state)
{
	rpc_client *c = client(admin_token.text);
	assert_int_equal(whoami(c, NULL), OPRA_OK);
	/* Kill every other backend on our database, as a PostgreSQL restart would. */
	PGresult *r = NULL;
	assert_int_equal(db_exec(&r, admin_db, 1,
				 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				 "WHERE datname = current_database() AND pid <> pg_backend_pid()",
				 0, NULL),
			 OPRA_OK);
	assert_true(PQntuples(r) >= 2); /* both workers' connections */
	PQclear(r);
	for (int i = 0; i < 6; i++)
		assert_int_equal(whoami(c, NULL), OPRA_OK);
	rpc_client_close(c);
}

typedef struct {
	int rc;
} stop_arg;

static void *stop_server_thread(void *arg)
{
	(void)arg;
	testserver_stop(&ts);
	return NULL;
}

static void *whoami_thread(void *arg)
{
	stop_arg *a = arg;
	rpc_client *c = client(admin_token.text);
	a->rc = whoami(c, NULL);
	rpc_client_close(c);
	return NULL;
}

static void stop_drains_requests_in_flight(void **state)
{
	/* A request is running (stuck behind our lock) when the server is told
	 * to stop: it must still complete and get its answer. */
	pthread_t req, stopper;
	stop_arg a = {-1};
	assert_int_equal(db_begin(admin_db), OPRA_OK);
	assert_int_equal(db_cmd(admin_db, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE", 0, NULL),
			 OPRA_OK);
	pthread_create(&req, NULL, whoami_thread, &a);
	usleep(300 * 1000);
	pthread_create(&stopper, NULL, stop_server_thread, NULL);
	usleep(300 * 1000);
	/* While draining, new requests are turned away with UNAVAILABLE. */
	rpc_options o = {.n_urls = 1, .timeout_ms = 3000};
	o.urls[0] = url;
	rpc_client *late = NULL;
	assert_int_equal(rpc_client_open(&late, &o), OPRA_OK);
	int late_rc = ping(late);
	rpc_client_close(late);
	db_rollback(admin_db);
	pthread_join(req, NULL);
	pthread_join(stopper, NULL);
	assert_int_equal(a.rc, OPRA_OK);
	assert_int_equal(late_rc, OPRA_UNAVAILABLE);
	assert_int_equal(start_server(2, 64), OPRA_OK);
}

static void server_down_is_unavailable(void **state)
{
	rpc_options o = {.n_urls = 2, .timeout_ms = 2000};
	o.urls[0] = "ipc:///tmp/opra-no-such-dir/none.sock";
	o.urls[1] = "tcp://127.0.0.1:1";
	rpc_client *c = NULL;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	assert_int_equal(ping(c), OPRA_UNAVAILABLE);
	assert_non_null(strstr(opra_err_msg(), "cannot reach"));
	assert_non_null(strstr(opra_err_msg(), "tcp://127.0.0.1:1"));
	rpc_client_close(c);
	/* The second URL is used when the first is down. */
	o.urls[1] = url;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	assert_int_equal(ping(c), OPRA_OK);
	assert_string_equal(rpc_client_url(c), url);
	rpc_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ping_needs_no_token),
		cmocka_unit_test(tokens_authenticate),
		cmocka_unit_test(roles_are_enforced),
		cmocka_unit_test(revoked_tokens_stop_working),
		cmocka_unit_test(idempotency_keys_make_retries_exactly_once),
		cmocka_unit_test(concurrent_retries_execute_once),
		cmocka_unit_test(bad_requests_get_clear_errors),
		cmocka_unit_test(oversize_messages_are_dropped_and_server_lives),
		cmocka_unit_test(full_queue_answers_resource_exhausted),
		cmocka_unit_test(server_reconnects_after_database_connections_die),
		cmocka_unit_test(stop_drains_requests_in_flight),
		cmocka_unit_test(server_down_is_unavailable),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
