/* Schema migrations against a real PostgreSQL (OPRA_TEST_DB). */
#include "testlib.h"

#include "db.h"
#include "migrate.h"
#include "opra_err.h"
#include "token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fresh database per test; dropped again in teardown. */
typedef struct {
	char name[64];
	char conninfo[1024];
	db *d;
} fixture;

static int counter;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->name, sizeof(f->name), "migrate%d", ++counter);
	testlib_fresh_db(f->conninfo, sizeof(f->conninfo), f->name);
	if (db_open(&f->d, f->conninfo) != OPRA_OK) {
		fprintf(stderr, "db_open: %s\n", opra_err_msg());
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	db_close(f->d);
	testlib_drop_db(f->name);
	free(f);
	return 0;
}

/* The single value of a one-row, one-column query, as a long. */
static long query_long(db *d, const char *sql)
{
	PGresult *r = NULL;
	assert_int_equal(db_exec(&r, d, 1, sql, 0, NULL), OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static int table_exists(db *d, const char *table)
{
	PGresult *r = NULL;
	const char *params[1] = {table};
	assert_int_equal(db_exec(&r, d, 1, "SELECT to_regclass($1) IS NOT NULL", 1, params),
			 OPRA_OK);
	int yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return yes;
}

/* A migration that cannot finish would leave the advisory lock held, and the
 * next oprad would hang at start. */
static long advisory_locks_held(db *d)
{
	return query_long(d, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
			     "pg_backend_pid()");
}

static void test_binary_knows_its_migrations(void **state)
{
	(void)state;
	assert_true(opra_migrations_count >= 1);
	assert_int_equal(opra_migrations[0].version, 1);
	assert_string_equal(opra_migrations[0].name, "001_init.sql");
	assert_int_equal(migrate_latest(), opra_migrations[opra_migrations_count - 1].version);
}

static void test_fresh_database_gets_every_migration(void **state)
{
	fixture *f = *state;
	int version = -1;
	int applied = -1;

	assert_int_equal(migrate_current(f->d, &version), OPRA_OK);
	assert_int_equal(version, 0);
	assert_false(table_exists(f->d, "users"));

	assert_int_equal(migrate_apply(f->d, &applied), OPRA_OK);
	assert_int_equal(applied, opra_migrations_count);
	assert_true(table_exists(f->d, "users"));
	assert_true(table_exists(f->d, "events"));
	assert_int_equal(migrate_current(f->d, &version), OPRA_OK);
	assert_int_equal(version, migrate_latest());
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM schema_migrations"),
			 opra_migrations_count);

	/* The recorded checksum is the SHA-256 of the file this binary carries. */
	uint8_t sum[32];
	char hex[65];
	opra_sha256(sum, opra_migrations[0].sql, strlen(opra_migrations[0].sql));
	opra_hex(hex, sum, sizeof(sum));
	PGresult *r = NULL;
	assert_int_equal(db_exec(&r, f->d, 1,
				 "SELECT name, checksum FROM schema_migrations WHERE version = 1",
				 0, NULL),
			 OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "001_init.sql");
	assert_string_equal(PQgetvalue(r, 0, 1), hex);
	PQclear(r);

	assert_int_equal(advisory_locks_held(f->d), 0);
	assert_false(db_in_transaction(f->d));
}

/* sql/017: users and appraisals are never deleted, truncated or
 * renumbered (rows refer to them without a foreign key), and evidence names
 * an instance of its own appraisal (composite key). */
static void test_identity_rows_are_kept(void **state)
{
	fixture *f = *state;
	int applied = 0;
	assert_int_equal(migrate_apply(f->d, &applied), OPRA_OK);
	assert_int_equal(
		db_exec_script(
			f->d,
			"INSERT INTO users (name, role, token_selector, token_hash) VALUES ('u1', "
			"'user', 'sel', sha256('t'));"
			"INSERT INTO appraisals (name, created_by) SELECT a, id FROM "
			"users, unnest(ARRAY['a1', 'a2']) a;"
			"INSERT INTO units (name) VALUES ('unit');"
			"INSERT INTO appraisal_instances (appraisal_id, kind, unit_id, "
			"name, added_by) SELECT a.id, 'unit', u.id, 'i-' || a.name, "
			"a.created_by FROM appraisals a, units u;"),
		OPRA_OK);
	static const char *const refused[] = {
		"DELETE FROM users",
		"TRUNCATE users CASCADE",
		"UPDATE users SET id = id + 100",
		"DELETE FROM appraisals WHERE name = 'a1'",
		"TRUNCATE appraisals CASCADE",
		"UPDATE appraisals SET id = id + 100",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(db_cmd(f->d, refused[i], 0, NULL), OPRA_FAILED_PRECONDITION);
		assert_string_equal(db_last_sqlstate(f->d), "55000");
	}
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM users"), 1);
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM appraisals"), 2);
	/* other columns still change */
	assert_int_equal(db_cmd(f->d, "UPDATE users SET role = 'admin'", 0, NULL), OPRA_OK);
	/* evidence of a1 on a2's instance is refused by the composite key */
	static const char *const ev =
		"INSERT INTO models (key, name, version) VALUES ('m', 'M', '1');"
		"INSERT INTO process_areas (model_id, ord, code, name, category) SELECT id, 1, "
		"'PA', 'PA', 'x' FROM models;"
		"INSERT INTO goals (pa_id, ord, code, title, generic) SELECT id, 1, 'SG1', 'G', "
		"false FROM process_areas;"
		"INSERT INTO practices (goal_id, model_id, ord, code, full_id, full_id_lower, "
		"title) SELECT g.id, pa.model_id, 1, 'SP1', 'PA:SG1.SP1', 'pa:sg1.sp1', 'P' FROM "
		"goals g JOIN process_areas pa ON pa.id = g.pa_id;";
	assert_int_equal(db_exec_script(f->d, ev), OPRA_OK);
	static const char *const insert =
		"INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, title, "
		"status, "
		"sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, 'affirmation', "
		"'t', 'accepted', sha256('x'), 1, 'x', a.created_by FROM appraisals a, practices "
		"p, "
		"appraisal_instances i WHERE a.name = 'a1' AND i.name = $1";
	const char *own[1] = {"i-a1"}, *other[1] = {"i-a2"};
	assert_int_equal(db_cmd(f->d, insert, 1, own), OPRA_OK);
	assert_int_equal(db_cmd(f->d, insert, 1, other), OPRA_FAILED_PRECONDITION);
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM evidence"), 1);
}

static void test_second_apply_changes_nothing(void **state)
{
	fixture *f = *state;
	int applied = -1;

	assert_int_equal(migrate_apply(f->d, &applied), OPRA_OK);
	assert_int_equal(applied, opra_migrations_count);
	assert_int_equal(migrate_apply(f->d, &applied), OPRA_OK);
	assert_int_equal(applied, 0);
	assert_int_equal(migrate_apply(f->d, NULL), OPRA_OK);
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM schema_migrations"),
			 opra_migrations_count);
}

static void test_newer_database_is_refused(void **state)
{
	fixture *f = *state;
	int applied = -1;
	int version = 0;
	char latest[32];

	assert_int_equal(migrate_apply(f->d, NULL), OPRA_OK);
	assert_int_equal(db_cmd(f->d,
				"INSERT INTO schema_migrations (version, name, checksum) "
				"VALUES (9999, '9999_future.sql', 'x')",
				0, NULL),
			 OPRA_OK);

	assert_int_equal(migrate_apply(f->d, &applied), OPRA_FAILED_PRECONDITION);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(opra_err_msg(), "9999"));
	snprintf(latest, sizeof(latest), "only up to %d", migrate_latest());
	assert_non_null(strstr(opra_err_msg(), latest));
	assert_non_null(strstr(opra_err_msg(), "upgrade oprad"));
	assert_non_null(strstr(opra_err_details(), "\"current_version\":9999"));
	/* The refusal must not leave the lock behind. */
	assert_int_equal(advisory_locks_held(f->d), 0);

	assert_int_equal(migrate_current(f->d, &version), OPRA_OK);
	assert_int_equal(version, 9999);
}

/* An edited, already-applied file is reported, not re-run, and does not stop
 * the server from starting. */
static void test_changed_checksum_is_not_fatal(void **state)
{
	fixture *f = *state;
	int applied = -1;

	assert_int_equal(migrate_apply(f->d, NULL), OPRA_OK);
	assert_int_equal(
		db_cmd(f->d, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
		       0, NULL),
		OPRA_OK);
	assert_int_equal(migrate_apply(f->d, &applied), OPRA_OK);
	assert_int_equal(applied, 0);
}

/* A migration that fails leaves nothing of itself behind and says which file
 * failed and what PostgreSQL said. */
static void test_failed_migration_rolls_back(void **state)
{
	fixture *f = *state;
	int applied = -1;
	int version = -1;

	/* 001_init.sql creates users; an existing one makes it fail. */
	assert_int_equal(db_cmd(f->d, "CREATE TABLE users (x int)", 0, NULL), OPRA_OK);
	int rc = migrate_apply(f->d, &applied);
	assert_int_not_equal(rc, OPRA_OK);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(opra_err_msg(), "001_init.sql"));
	assert_non_null(strstr(opra_err_msg(), "already exists"));

	assert_false(db_in_transaction(f->d));
	assert_false(table_exists(f->d, "events"));
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM schema_migrations"), 0);
	assert_int_equal(migrate_current(f->d, &version), OPRA_OK);
	assert_int_equal(version, 0);
	assert_int_equal(advisory_locks_held(f->d), 0);
}

static void test_refuses_inside_a_transaction(void **state)
{
	fixture *f = *state;
	assert_int_equal(db_begin(f->d), OPRA_OK);
	assert_int_not_equal(migrate_apply(f->d, NULL), OPRA_OK);
	db_rollback(f->d);
	assert_false(table_exists(f->d, "users"));
}

typedef struct {
	const char *conninfo;
	int rc;
	int applied;
	char msg[256];
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	db *d = NULL;
	r->rc = db_open(&d, r->conninfo);
	if (r->rc == OPRA_OK)
		r->rc = migrate_apply(d, &r->applied);
	snprintf(r->msg, sizeof(r->msg), "%s", opra_err_msg());
	db_close(d);
	return NULL;
}

/* Several oprad processes starting at once on one database: each migration
 * is applied exactly once and nobody fails. */
static void test_concurrent_apply_is_serialised(void **state)
{
	fixture *f = *state;
	enum { N = 4 };
	racer racers[N];
	pthread_t threads[N];
	int total = 0;

	memset(racers, 0, sizeof(racers));
	for (int i = 0; i < N; i++) {
		racers[i].conninfo = f->conninfo;
		assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < N; i++) {
		if (racers[i].rc != OPRA_OK)
			fail_msg("racer %d failed: %s", i, racers[i].msg);
		total += racers[i].applied;
	}
	assert_int_equal(total, opra_migrations_count);
	assert_int_equal(query_long(f->d, "SELECT count(*) FROM schema_migrations"),
			 opra_migrations_count);
}

int main(void)
{
	/* Skips the whole file (exit 77) when there is no test database. */
	if (getenv("OPRA_TEST_DB") == NULL || getenv("OPRA_TEST_DB")[0] == '\0') {
		printf("skipped: OPRA_TEST_DB is not set\n");
		return TESTLIB_SKIP;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binary_knows_its_migrations),
		cmocka_unit_test_setup_teardown(test_fresh_database_gets_every_migration, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_apply_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_rows_are_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_database_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_checksum_is_not_fatal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_migration_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_inside_a_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_apply_is_serialised, setup,
						teardown),
	};
	return TESTLIB_RUN(tests);
}
