/* Housekeeping (server/housekeep.c) on a real database: old idempotency
 * records go, recent ones stay; uploads never committed and imports never
 * finished go after abandoned_days with their chunks, committed uploads (a
 * blob refers to them) and recent ones stay; a retry with a purged key is
 * applied as a new operation; the background thread runs passes by itself
 * and stops promptly. */
#include "auth.h"
#include "housekeep.h"
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/inventory.pb-c.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static testserver ts;

static void sql(const char *text)
{
	int rc = db_exec_script(ts.db, text);
	if (rc != OPRA_OK)
		print_error("%s\n", opra_err_msg());
	assert_int_equal(rc, OPRA_OK);
}

static long count(const char *text)
{
	return testserver_count(&ts, text);
}

static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "housekeep", 1u << 20);
	assert_int_equal(testserver_start(&ts, 2, 16), OPRA_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testserver_teardown(&ts);
	return 0;
}

/* Old and recent rows of every kind housekeeping looks at. */
static void fixture(void)
{
	sql("DELETE FROM idempotency; DELETE FROM imports; DELETE FROM blobs; DELETE FROM uploads;"
	    "INSERT INTO idempotency (user_id, key, method, request_sha256, status, created_at) "
	    "SELECT (SELECT id FROM users WHERE name = 'root'), 'old-' || n, 'm', '\\x00', 0, "
	    "now() - interval '40 days' FROM generate_series(1, 12000) n;"
	    "INSERT INTO idempotency (user_id, key, method, request_sha256, status, created_at) "
	    "SELECT (SELECT id FROM users WHERE name = 'root'), 'new-' || n, 'm', '\\x00', 0, "
	    "now() - interval '29 days' FROM generate_series(1, 10) n;"
	    /* uploads: old open (2 chunks), old committed with its blob, recent open */
	    "INSERT INTO uploads (sha256, size, chunk_size, user_id, created_at) VALUES "
	    "(sha256('a'), 8, 4, (SELECT id FROM users WHERE name = 'root'), now() - interval "
	    "'8 days'), (sha256('c'), 4, 4, (SELECT id FROM users WHERE name = 'root'), now() - "
	    "interval '1 day');"
	    "INSERT INTO uploads (sha256, size, chunk_size, user_id, created_at, committed_at) "
	    "VALUES (sha256('b'), 4, 4, (SELECT id FROM users WHERE name = 'root'), now() - "
	    "interval '30 days', now() - interval '30 days');"
	    "INSERT INTO upload_chunks (upload_id, seq, data) SELECT id, s, '\\x01020304' FROM "
	    "uploads, generate_series(0, 1) s WHERE sha256 = sha256('a');"
	    "INSERT INTO upload_chunks (upload_id, seq, data) SELECT id, 0, '\\x01020304' FROM "
	    "uploads WHERE sha256 IN (sha256('b'), sha256('c'));"
	    "INSERT INTO blobs (sha256, size, upload_id) SELECT sha256, size, id FROM uploads "
	    "WHERE sha256 = sha256('b');"
	    "INSERT INTO imports (id, user_id, created_at) VALUES "
	    "('old-import', (SELECT id FROM users WHERE name = 'root'), now() - interval '9 "
	    "days'), ('new-import', (SELECT id FROM users WHERE name = 'root'), now());");
}

static void one_pass(void **state)
{
	(void)state;
	fixture();
	housekeep_config cfg = {.idempotency_days = 30, .abandoned_days = 7, .interval_s = 3600};
	housekeep_counts n;
	assert_int_equal(housekeep_run_once(ts.db, &cfg, &n), OPRA_OK);
	/* more than two slices of old keys: all gone, the recent ones kept */
	assert_int_equal(n.idempotency, 12000);
	assert_int_equal(count("SELECT count(*) FROM idempotency WHERE key LIKE 'old-%'"), 0);
	assert_int_equal(count("SELECT count(*) FROM idempotency WHERE key LIKE 'new-%'"), 10);
	/* the abandoned upload and its chunks; the committed and the recent stay */
	assert_int_equal(n.uploads, 1);
	assert_int_equal(count("SELECT count(*) FROM uploads WHERE sha256 = sha256('a')"), 0);
	assert_int_equal(count("SELECT count(*) FROM upload_chunks WHERE upload_id NOT IN "
			       "(SELECT id FROM uploads)"),
			 0);
	assert_int_equal(count("SELECT count(*) FROM upload_chunks"), 2);
	assert_int_equal(count("SELECT count(*) FROM blobs WHERE sha256 = sha256('b')"), 1);
	assert_int_equal(n.imports, 1);
	assert_int_equal(count("SELECT count(*) FROM imports"), 1);
	assert_int_equal(count("SELECT count(*) FROM imports WHERE id = 'new-import'"), 1);

	/* A second pass finds nothing; 0 days keeps everything. */
	assert_int_equal(housekeep_run_once(ts.db, &cfg, &n), OPRA_OK);
	assert_int_equal(n.idempotency + n.uploads + n.imports, 0);
	fixture();
	housekeep_config keep = {.idempotency_days = 0, .abandoned_days = 0, .interval_s = 1};
	assert_int_equal(housekeep_run_once(ts.db, &keep, &n), OPRA_OK);
	assert_int_equal(n.idempotency + n.uploads + n.imports, 0);
	assert_int_equal(count("SELECT count(*) FROM idempotency"), 12010);
}

static int unit_add(const char *name, const char *key)
{
	Opra__V1__Unit u = OPRA__V1__UNIT__INIT;
	Opra__V1__UnitAddRequest req = OPRA__V1__UNIT_ADD_REQUEST__INIT;
	Opra__V1__UnitReply *rep = NULL;
	u.name = (char *)name;
	req.unit = &u;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	int rc = testserver_call(c, "opra.v1.Inventory/UnitAdd", &req.base,
				 &opra__v1__unit_reply__descriptor, &rep, key);
	testserver_reply_free(rep);
	rpc_client_close(c);
	return rc;
}

/* Within the retention a retry is answered from the record; once the record
 * is purged the same key is a new operation (here: refused, the unit exists). */
static void purged_key_is_new(void **state)
{
	(void)state;
	sql("DELETE FROM idempotency");
	assert_int_equal(unit_add("Housekept", "hk-key-1"), OPRA_OK);
	assert_int_equal(unit_add("Housekept", "hk-key-1"), OPRA_OK); /* replayed */
	sql("UPDATE idempotency SET created_at = now() - interval '31 days' WHERE key = "
	    "'hk-key-1'");
	housekeep_config cfg = {.idempotency_days = 30, .abandoned_days = 7, .interval_s = 3600};
	housekeep_counts n;
	assert_int_equal(housekeep_run_once(ts.db, &cfg, &n), OPRA_OK);
	assert_int_equal(n.idempotency, 1);
	assert_int_equal(unit_add("Housekept", "hk-key-1"), OPRA_ALREADY_EXISTS);
	assert_int_equal(count("SELECT count(*) FROM units WHERE name = 'Housekept'"), 1);
}

/* The thread runs passes on its own and stops without waiting out its
 * interval. */
static void background_thread(void **state)
{
	(void)state;
	fixture();
	housekeeper *h = NULL;
	housekeep_config cfg = {.idempotency_days = 30, .abandoned_days = 7, .interval_s = 1};
	assert_int_equal(housekeep_start(&h, ts.conninfo, &cfg), OPRA_OK);
	long left = -1;
	for (int i = 0; i < 100 && left != 0; i++) {
		usleep(100000);
		left = count("SELECT count(*) FROM idempotency WHERE key LIKE 'old-%'") +
		       count("SELECT count(*) FROM uploads WHERE sha256 = sha256('a')");
	}
	assert_int_equal(left, 0);
	housekeep_stop(h);

	cfg.interval_s = 3600;
	assert_int_equal(housekeep_start(&h, ts.conninfo, &cfg), OPRA_OK);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	housekeep_stop(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5); /* not the hour */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_pass),
		cmocka_unit_test(purged_key_is_new),
		cmocka_unit_test(background_thread),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
