#include "testserver.h"

#include "auth.h"
#include "migrate.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_version.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void testserver_setup(testserver *ts, const char *name, size_t recv_max)
{
	memset(ts, 0, sizeof(*ts));
	opra_log_set_level(OPRA_LOG_WARN);
	snprintf(ts->name, sizeof(ts->name), "%s", name);
	testlib_fresh_db(ts->conninfo, sizeof(ts->conninfo), name);
	assert_int_equal(db_open(&ts->db, ts->conninfo), OPRA_OK);
	assert_int_equal(migrate_apply(ts->db, NULL), OPRA_OK);
	assert_int_equal(auth_user_create(ts->db, "root", "admin", 0, &ts->admin, NULL), OPRA_OK);
	snprintf(ts->sockdir, sizeof(ts->sockdir), "/tmp/opra-%s-XXXXXX", name);
	assert_non_null(mkdtemp(ts->sockdir));
	snprintf(ts->url, sizeof(ts->url), "ipc://%s/oprad.sock", ts->sockdir);
	ts->info.version = OPRA_VERSION;
	ts->info.max_message_size = recv_max;
	assert_int_equal(dispatch_create(&ts->disp, &ts->info), OPRA_OK);
	assert_int_equal(testserver_start(ts, 2, 64), OPRA_OK);
}

int testserver_start(testserver *ts, int workers, size_t queue)
{
	/* Tests try wrong and revoked tokens on purpose, all from one local
	 * uid: a budget no test exhausts by accident (test_auth_ratelimit runs
	 * a server of its own with a small one). */
	rpcserver_options o = {.n_urls = 1,
			       .conninfo = ts->conninfo,
			       .workers = workers,
			       .queue_depth = queue,
			       .recv_max = ts->info.max_message_size,
			       .auth_fail_burst = 100000};
	o.urls[0] = ts->url;
	testserver_stop(ts);
	return rpcserver_start(&ts->srv, &o, ts->disp);
}

void testserver_stop(testserver *ts)
{
	rpcserver_stop(ts->srv, 1000);
	ts->srv = NULL;
}

void testserver_teardown(testserver *ts)
{
	char path[128];
	testserver_stop(ts);
	dispatch_free(ts->disp);
	db_close(ts->db);
	testlib_drop_db(ts->name);
	snprintf(path, sizeof(path), "%s/oprad.sock", ts->sockdir);
	unlink(path);
	rmdir(ts->sockdir);
}

rpc_client *testserver_client(testserver *ts, const char *token)
{
	rpc_options o = {.n_urls = 1, .token = token, .timeout_ms = 30000, .site = "test-site"};
	o.urls[0] = ts->url;
	rpc_client *c = NULL;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	return c;
}

int testserver_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *rd, void *out, const char *key)
{
	char fresh[40];
	ProtobufCMessage *resp = NULL;
	if (key && key[0] == '\0') {
		rpc_new_key(fresh);
		key = fresh;
	}
	int rc = rpc_call(c, method, req, rd, &resp, key);
	if (out)
		*(ProtobufCMessage **)out = resp;
	else if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

void testserver_reply_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

long testserver_count(testserver *ts, const char *sql)
{
	PGresult *r = NULL;
	assert_int_equal(db_exec(&r, ts->db, 1, sql, 0, NULL), OPRA_OK);
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}
