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
#include <stdatomic.h>
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

/* A token revoked behind this process's back (by another oprad on the same
 * database; here: SQL) stops working within the auth cache's bound, even
 * right after every worker verified it. */
static void revocation_elsewhere_takes_effect_within_the_cache_bound(void **state)
{
	char tok[TOKEN_TEXT_LEN + 1], key[33];
	rpc_client *admin = client(admin_token.text);
	rpc_new_key(key);
	assert_int_equal(user_add(admin, "grace", "user", key, tok), OPRA_OK);
	rpc_client *grace = client(tok);
	/* Enough calls that every worker has it cached. */
	for (int i = 0; i < 16; i++)
		assert_int_equal(whoami(grace, NULL), OPRA_OK);
	long long t0 = opra_now_us();
	assert_int_equal(db_cmd(admin_db,
				"UPDATE users SET revoked_at = now() WHERE name = 'grace'", 0,
				NULL),
			 OPRA_OK);
	int rc = OPRA_OK;
	while (rc == OPRA_OK && opra_now_us() - t0 < 3 * AUTH_CACHE_US) {
		rc = whoami(grace, NULL);
		if (rc == OPRA_OK)
			usleep(20 * 1000);
	}
	long long took = opra_now_us() - t0;
	print_message("revoked token refused after %lld ms\n", took / 1000);
	assert_int_equal(rc, OPRA_UNAUTHENTICATED);
	assert_non_null(strstr(opra_err_msg(), "revoked"));
	assert_true(took <= AUTH_CACHE_US + 250 * 1000);
	/* And once the bound has passed it stays refused, on every worker
	 * (each keeps its own cache: within the bound, a worker that has not
	 * looked again may still accept it once more). */
	long long left = t0 + AUTH_CACHE_US + 50 * 1000 - opra_now_us();
	if (left > 0)
		usleep((useconds_t)left);
	for (int i = 0; i < 4; i++)
		assert_int_equal(whoami(grace, NULL), OPRA_UNAUTHENTICATED);
	rpc_client_close(grace);
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

/* A client idle while its server goes away moves on to the next URL at its
 * next call, instead of waiting a whole timeout on the dead address. */
static void idle_client_fails_over_at_once(void **state)
{
	char url2[300];
	snprintf(url2, sizeof(url2), "%s.second", url);
	rpcserver_options so = {.n_urls = 1,
				.conninfo = ts.conninfo,
				.workers = 1,
				.queue_depth = 16,
				.recv_max = ts.info.max_message_size};
	so.urls[0] = url2;
	rpcserver *srv2 = NULL;
	assert_int_equal(rpcserver_start(&srv2, &so, ts.disp), OPRA_OK);

	rpc_options o = {.n_urls = 2, .timeout_ms = 10000};
	o.urls[0] = url2;
	o.urls[1] = url;
	rpc_client *c = NULL;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	assert_int_equal(ping(c), OPRA_OK);
	assert_string_equal(rpc_client_url(c), url2);

	rpcserver_stop(srv2, 1000); /* the connection closes while c is idle */
	usleep(200 * 1000);
	long long t0 = opra_now_us();
	assert_int_equal(ping(c), OPRA_OK);
	long long ms = (opra_now_us() - t0) / 1000;
	printf("idle failover: next call answered by %s after %lld ms\n", rpc_client_url(c), ms);
	assert_string_equal(rpc_client_url(c), url);
	assert_true(ms < 2000); /* not the 10 s timeout */
	rpc_client_close(c);
	unlink(url2 + strlen("ipc://"));
}

/* ---- group commit ----
 *
 * A service of the test's own, "opra.test.Batch/Put", marked METHOD_BATCH:
 * it inserts one row named by the request into a table of the test's own.
 * Names starting "bad" violate a CHECK (a real SQL error inside the
 * batch); names starting "abort" fail with ABORTED the first time they run
 * (after inserting, so the rollback is visible), as a deadlock would. */

static const ProtobufCMethodDescriptor batch_methods[] = {
	{"Put", &opra__v1__user_revoke_request__descriptor,
	 &opra__v1__user_revoke_response__descriptor},
};
static const unsigned batch_method_index[] = {0};
static const ProtobufCServiceDescriptor batch_desc = {
	PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
	"opra.test.Batch",
	"Batch",
	"opra_test_Batch",
	"opra.test",
	1,
	batch_methods,
	batch_method_index,
};
static atomic_int aborts_left;

static int batch_put(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UserRevokeRequest *q = (const Opra__V1__UserRevokeRequest *)in;
	PGresult *r = NULL;
	const char *p[1] = {q->name};
	int rc = db_exec(&r, c->db, 1, "INSERT INTO batch_items (name) VALUES ($1) RETURNING id", 1,
			 p);
	if (rc != OPRA_OK)
		return rc;
	char id[32];
	snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (strncmp(q->name, "abort", 5) == 0 && atomic_fetch_sub(&aborts_left, 1) > 0)
		return opra_err_set(OPRA_ABORTED, "deadlock detected (simulated)");
	Opra__V1__UserRevokeResponse resp = OPRA__V1__USER_REVOKE_RESPONSE__INIT;
	resp.name = q->name;
	resp.revoked_at = id;
	return call_reply(c, &resp.base);
}

static const method_impl batch_rows[] = {
	{"Put", batch_put, NULL, ROLES_ANY, METHOD_MUTATES | METHOD_BATCH, NULL},
};
static const service_impl batch_service = {&batch_desc, batch_rows, 1};

static void use_batch_service(int workers)
{
	static int made;
	const service_impl *extra[1] = {&batch_service};
	testserver_stop(&ts);
	if (!made) {
		dispatch_free(ts.disp);
		ts.disp = NULL;
		assert_int_equal(dispatch_create_with(&ts.disp, &ts.info, extra, 1), OPRA_OK);
		assert_int_equal(db_cmd(admin_db,
					"CREATE TABLE batch_items (id bigserial PRIMARY KEY, name "
					"text NOT NULL CHECK (name NOT LIKE 'bad%'))",
					0, NULL),
				 OPRA_OK);
		made = 1;
	}
	assert_int_equal(start_server(workers, 256), OPRA_OK);
}

typedef struct {
	const char *name;
	const char *key;
	int rc;
	char id[32];
	char msg[256];
	int repeat; /* puts with keys "<key>-<i>" */
} put_arg;

static int put(rpc_client *c, const char *name, const char *key, char *id_out)
{
	Opra__V1__UserRevokeRequest q = OPRA__V1__USER_REVOKE_REQUEST__INIT;
	q.name = (char *)name;
	ProtobufCMessage *resp = NULL;
	int rc = rpc_call(c, "opra.test.Batch/Put", &q.base,
			  &opra__v1__user_revoke_response__descriptor, &resp, key);
	if (rc == OPRA_OK) {
		if (id_out)
			snprintf(id_out, 32, "%s",
				 ((Opra__V1__UserRevokeResponse *)resp)->revoked_at);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return rc;
}

static void *put_thread(void *arg)
{
	put_arg *a = arg;
	rpc_client *c = client(admin_token.text);
	if (a->repeat == 0) {
		a->rc = put(c, a->name, a->key, a->id);
		snprintf(a->msg, sizeof(a->msg), "%s", opra_err_msg());
	} else {
		char key[96], name[96];
		a->rc = OPRA_OK;
		for (int i = 0; i < a->repeat && a->rc == OPRA_OK; i++) {
			snprintf(key, sizeof(key), "%s-%d", a->key, i);
			snprintf(name, sizeof(name), "%s-%d", a->name, i);
			a->rc = put(c, name, key, NULL);
		}
	}
	rpc_client_close(c);
	return NULL;
}

#define LOAD_CLIENTS 32
#define LOAD_PUTS    20

static void group_commit_groups_concurrent_writes(void **state)
{
	use_batch_service(1);
	dispatch_batch_counters before, after;
	dispatch_batch_stats(ts.disp, &before);
	pthread_t t[LOAD_CLIENTS];
	put_arg a[LOAD_CLIENTS];
	char names[LOAD_CLIENTS][32];
	for (int i = 0; i < LOAD_CLIENTS; i++) {
		snprintf(names[i], sizeof(names[i]), "load%d", i);
		a[i] = (put_arg){.name = names[i], .key = names[i], .repeat = LOAD_PUTS};
		pthread_create(&t[i], NULL, put_thread, &a[i]);
	}
	for (int i = 0; i < LOAD_CLIENTS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].rc, OPRA_OK);
	}
	dispatch_batch_stats(ts.disp, &after);
	assert_int_equal(count_rows("SELECT count(*) FROM batch_items WHERE name LIKE 'load%'"),
			 LOAD_CLIENTS * LOAD_PUTS);
	unsigned long long txns = after.transactions - before.transactions;
	unsigned long long batched = after.requests - before.requests;
	print_message("group commit: %llu of %d requests in %llu transactions\n", batched,
		      LOAD_CLIENTS * LOAD_PUTS, txns);
	/* With one worker and 32 clients, most writes share a transaction;
	 * nothing failed, so no batch needed savepoints. */
	assert_true(txns > 0);
	assert_int_equal(after.savepoint_runs - before.savepoint_runs, 0);
	assert_true(batched >= (unsigned long long)(LOAD_CLIENTS * LOAD_PUTS) / 2);
	assert_true(batched >= 3 * txns);
	/* One idempotency record per request all the same. */
	assert_int_equal(count_rows("SELECT count(*) FROM idempotency WHERE key LIKE 'load%'"),
			 LOAD_CLIENTS * LOAD_PUTS);
}

static void failing_request_in_a_batch_fails_alone(void **state)
{
	use_batch_service(1);
	atomic_store(&aborts_left, 1);
	dispatch_batch_counters before, after;
	dispatch_batch_stats(ts.disp, &before);
	/* The single worker gets stuck behind our lock on its first put; the
	 * others queue up behind it and then run as one batch. */
	assert_int_equal(db_begin(admin_db), OPRA_OK);
	assert_int_equal(
		db_cmd(admin_db, "LOCK TABLE batch_items IN ACCESS EXCLUSIVE MODE", 0, NULL),
		OPRA_OK);
	put_arg a[] = {
		{.name = "first", .key = "k-first"},   {.name = "good1", .key = "k-good1"},
		{.name = "bad1", .key = "k-bad1"},     {.name = "good2", .key = "k-good2"},
		{.name = "abort1", .key = "k-abort1"}, {.name = "twice", .key = "k-twice"},
		{.name = "twice", .key = "k-twice"},   {.name = "good3", .key = "k-good3"},
	};
	enum { N = sizeof(a) / sizeof(a[0]) };
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		pthread_create(&t[i], NULL, put_thread, &a[i]);
		usleep(i == 0 ? 300 * 1000 : 50 * 1000);
	}
	usleep(200 * 1000);
	db_rollback(admin_db);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	dispatch_batch_stats(ts.disp, &after);
	for (int i = 0; i < N; i++) {
		if (strcmp(a[i].name, "bad1") == 0) {
			assert_int_equal(a[i].rc, OPRA_INVALID_ARGUMENT);
		} else if (a[i].rc != OPRA_OK) {
			fail_msg("put %s failed: %s", a[i].name, a[i].msg);
		}
	}
	/* The batch: 7 requests in one transaction; the ABORTED one ran
	 * again alone and succeeded. */
	assert_int_equal(after.transactions - before.transactions, 1);
	assert_int_equal(after.requests - before.requests, N - 1);
	assert_int_equal(after.reruns - before.reruns, 1);
	/* It first ran without savepoints, failed, and ran again with them. */
	assert_int_equal(after.savepoint_runs - before.savepoint_runs, 1);
	assert_int_equal(count_rows("SELECT count(*) FROM batch_items WHERE name IN ('first', "
				    "'good1', 'good2', 'good3', 'abort1')"),
			 5);
	assert_int_equal(count_rows("SELECT count(*) FROM batch_items WHERE name = 'bad1'"), 0);
	assert_int_equal(count_rows("SELECT count(*) FROM idempotency WHERE key = 'k-bad1'"), 0);
	/* The same key twice in one batch executed once; both got its reply. */
	assert_int_equal(count_rows("SELECT count(*) FROM batch_items WHERE name = 'twice'"), 1);
	assert_string_equal(a[5].id, a[6].id);
}

static void concurrent_retries_with_batching_execute_once(void **state)
{
	use_batch_service(1);
	enum { N = 24 };
	pthread_t t[N];
	put_arg a[N];
	for (int i = 0; i < N; i++) {
		/* Three logical operations, each retried by 8 clients at once. */
		static const char *const names[3] = {"retry-a", "retry-b", "retry-c"};
		a[i] = (put_arg){.name = names[i % 3], .key = names[i % 3]};
		pthread_create(&t[i], NULL, put_thread, &a[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].rc, OPRA_OK);
		assert_string_equal(a[i].id, a[i % 3].id);
	}
	assert_int_equal(count_rows("SELECT count(*) FROM batch_items WHERE name LIKE 'retry-%'"),
			 3);
	assert_int_equal(start_server(2, 64), OPRA_OK);
}

/* Array parameters (db_array_add, used by set-based batches) carry any
 * text unchanged: quotes, backslashes, braces, commas, the word NULL,
 * spaces, non-ASCII; a NULL value is SQL NULL; an empty array is empty. */
static void array_parameters_round_trip(void **state)
{
	static const char *const v[] = {"plain",	 "with \"quotes\"",
					"back\\slash\\", "{braces},commas",
					"NULL",		 "",
					"  spaces  ",	 "caf\xc3\xa9 \xe2\x9c\x93",
					"'single'"};
	enum { N = sizeof(v) / sizeof(v[0]) };
	opra_buf a = OPRA_BUF_INIT, nums = OPRA_BUF_INIT, empty = OPRA_BUF_INIT;
	PGresult *r = NULL;

	for (int i = 0; i < N; i++)
		assert_int_equal(db_array_add(&a, v[i]), OPRA_OK);
	assert_int_equal(db_array_add(&a, NULL), OPRA_OK);
	assert_int_equal(db_array_end(&a), OPRA_OK);
	assert_int_equal(db_array_add_long(&nums, -5), OPRA_OK);
	assert_int_equal(db_array_add_long(&nums, 9007199254740993LL), OPRA_OK);
	assert_int_equal(db_array_end(&nums), OPRA_OK);
	assert_int_equal(db_array_end(&empty), OPRA_OK);
	const char *p[3] = {(const char *)a.data, (const char *)nums.data,
			    (const char *)empty.data};
	assert_int_equal(db_exec(&r, admin_db, 1,
				 "SELECT t.x, t.x IS NULL, (SELECT sum(n)::text FROM "
				 "unnest($2::bigint[]) n), cardinality($3::text[]) FROM "
				 "unnest($1::text[]) WITH ORDINALITY AS t(x, o) ORDER BY t.o",
				 3, p),
			 OPRA_OK);
	assert_int_equal(PQntuples(r), N + 1);
	for (int i = 0; i < N; i++) {
		assert_string_equal(PQgetvalue(r, i, 0), v[i]);
		assert_string_equal(PQgetvalue(r, i, 1), "f");
	}
	assert_string_equal(PQgetvalue(r, N, 1), "t");
	assert_string_equal(PQgetvalue(r, 0, 2), "9007199254740988");
	assert_string_equal(PQgetvalue(r, 0, 3), "0");
	PQclear(r);
	opra_buf_free(&a);
	opra_buf_free(&nums);
	opra_buf_free(&empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ping_needs_no_token),
		cmocka_unit_test(tokens_authenticate),
		cmocka_unit_test(roles_are_enforced),
		cmocka_unit_test(revoked_tokens_stop_working),
		cmocka_unit_test(revocation_elsewhere_takes_effect_within_the_cache_bound),
		cmocka_unit_test(idempotency_keys_make_retries_exactly_once),
		cmocka_unit_test(concurrent_retries_execute_once),
		cmocka_unit_test(bad_requests_get_clear_errors),
		cmocka_unit_test(oversize_messages_are_dropped_and_server_lives),
		cmocka_unit_test(full_queue_answers_resource_exhausted),
		cmocka_unit_test(server_reconnects_after_database_connections_die),
		cmocka_unit_test(stop_drains_requests_in_flight),
		cmocka_unit_test(server_down_is_unavailable),
		cmocka_unit_test(idle_client_fails_over_at_once),
		cmocka_unit_test(group_commit_groups_concurrent_writes),
		cmocka_unit_test(failing_request_in_a_batch_fails_alone),
		cmocka_unit_test(concurrent_retries_with_batching_execute_once),
		cmocka_unit_test(array_parameters_round_trip),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
