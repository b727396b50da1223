#include "migrate.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "token.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Key of the session-level advisory lock that serialises migrations across
 * processes ("opra" in ASCII). Every oprad uses the same key, so two
 * processes starting at once on one database apply each file exactly once. */
#define MIGRATE_LOCK_SQL   "SELECT pg_advisory_lock(1869640289)"
#define MIGRATE_TRY_SQL	   "SELECT pg_try_advisory_lock(1869640289)"
#define MIGRATE_UNLOCK_SQL "SELECT pg_advisory_unlock(1869640289)"

#define SHA256_HEX_LEN 64

/* A version recorded in schema_migrations and the checksum it was applied
 * with. */
typedef struct {
	int version;
	char checksum[SHA256_HEX_LEN + 1];
} applied_row;

int migrate_latest(void)
{
	int latest = 0;
	for (int i = 0; i < opra_migrations_count; i++)
		if (opra_migrations[i].version > latest)
			latest = opra_migrations[i].version;
	return latest;
}

static void migration_checksum(char hex[SHA256_HEX_LEN + 1], const migration *m)
{
	uint8_t sum[32];
	opra_sha256(sum, m->sql, strlen(m->sql));
	opra_hex(hex, sum, sizeof(sum));
}

/* The generated table is sorted by file name; a duplicated number (two
 * people adding 004_*.sql on different branches) would only show up as a
 * primary-key violation half-way through a start, so catch it first. */
static int check_table(void)
{
	for (int i = 1; i < opra_migrations_count; i++) {
		const migration *a = &opra_migrations[i - 1];
		const migration *b = &opra_migrations[i];
		if (b->version <= a->version)
			return opra_err_set(OPRA_INTERNAL,
					    "migrations %s and %s have the same or decreasing "
					    "numbers: renumber one of them in sql/ and rebuild",
					    a->name, b->name);
	}
	return OPRA_OK;
}

static int parse_int_field(int *out, const PGresult *r, int row, int col)
{
	long v = 0;
	if (!opra_parse_long(PQgetvalue(r, row, col), 0, 2147483647L, &v))
		return opra_err_set(OPRA_INTERNAL, "unexpected value '%s' in schema_migrations",
				    PQgetvalue(r, row, col));
	*out = (int)v;
	return OPRA_OK;
}

int migrate_current(db *d, int *version)
{
	PGresult *r = NULL;
	int rc = OPRA_OK;

	*version = 0;
	/* to_regclass instead of querying the table and catching the error:
	 * a failed statement would also abort a transaction the caller holds. */
	rc = db_exec(&r, d, 1, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		goto done;
	PQclear(r);
	r = NULL;
	rc = db_exec(&r, d, 1, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL);
	if (rc != OPRA_OK)
		goto done;
	rc = parse_int_field(version, r, 0, 0);
done:
	PQclear(r);
	return rc;
}

/* Reads every recorded version. *rows is owned by the caller (opra_free). */
static int load_applied(applied_row **rows, int *count, int *max_version, db *d)
{
	PGresult *r = NULL;
	applied_row *list = NULL;
	int rc = OPRA_OK;

	*rows = NULL;
	*count = 0;
	*max_version = 0;
	rc = db_exec(&r, d, 1, "SELECT version, checksum FROM schema_migrations ORDER BY version",
		     0, NULL);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r);
	list = opra_calloc(n > 0 ? (size_t)n : 1, sizeof(*list));
	if (list == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED,
				  "out of memory reading schema_migrations");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		if ((rc = parse_int_field(&list[i].version, r, i, 0)) != OPRA_OK)
			goto done;
		snprintf(list[i].checksum, sizeof(list[i].checksum), "%s", PQgetvalue(r, i, 1));
		if (list[i].version > *max_version)
			*max_version = list[i].version;
	}
	*rows = list;
	*count = n;
	list = NULL;
done:
	PQclear(r);
	opra_free(list);
	return rc;
}

static const applied_row *find_applied(const applied_row *rows, int count, int version)
{
	for (int i = 0; i < count; i++)
		if (rows[i].version == version)
			return &rows[i];
	return NULL;
}

/* A file that was edited after it was applied is not re-run (the database
 * already has its effect), but someone should know that the schema may not
 * be what the file now says. */
static void warn_changed(const applied_row *rows, int count)
{
	char sum[SHA256_HEX_LEN + 1];
	for (int i = 0; i < opra_migrations_count; i++) {
		const migration *m = &opra_migrations[i];
		const applied_row *a = find_applied(rows, count, m->version);
		if (a == NULL)
			continue;
		migration_checksum(sum, m);
		if (strcmp(sum, a->checksum) != 0)
			log_warn("migration %s was changed after it was applied to this database "
				 "(recorded sha256 %.12s..., this oprad has %.12s...); it is not "
				 "run again: check the schema by hand",
				 m->name, a->checksum, sum);
	}
}

static int apply_one(db *d, const migration *m, int current_max)
{
	char sum[SHA256_HEX_LEN + 1];
	char version[16];
	char pgmsg[512];
	int rc = OPRA_OK;

	migration_checksum(sum, m);
	snprintf(version, sizeof(version), "%d", m->version);
	if (m->version < current_max)
		log_warn("applying migration %s out of order: the database is already at version "
			 "%d",
			 m->name, current_max);
	if ((rc = db_begin(d)) != OPRA_OK)
		goto done;
	rc = db_exec_script(d, m->sql);
	if (rc != OPRA_OK) {
		/* db_exec_script keeps only a short message for clients; whoever
		 * runs a migration needs PostgreSQL's own words (still held by the
		 * connection until the next command). */
		const char *why = db_conn(d) ? PQerrorMessage(db_conn(d)) : "";
		if (strncmp(why, "ERROR:  ", 8) == 0)
			why += 8;
		snprintf(pgmsg, sizeof(pgmsg), "%s", why[0] ? why : opra_err_msg());
		pgmsg[strcspn(pgmsg, "\n")] = '\0';
		db_rollback(d);
		rc = opra_err_set(rc, "migration %s failed and was rolled back: %s", m->name,
				  pgmsg);
		goto done;
	}
	const char *params[3] = {version, m->name, sum};
	rc = db_cmd(d,
		    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
		    3, params);
	if (rc != OPRA_OK)
		goto done;
	if ((rc = db_commit(d)) != OPRA_OK)
		goto done;
	log_info("applied migration %s (schema version %d)", m->name, m->version);
done:
	if (rc != OPRA_OK)
		db_rollback(d);
	return rc;
}

/* Takes the migration lock, saying so when another process holds it: a
 * start that seems to hang should explain itself. */
static int take_lock(db *d)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, d, 1, MIGRATE_TRY_SQL, 0, NULL);
	if (rc != OPRA_OK)
		goto done;
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		goto done;
	PQclear(r);
	r = NULL;
	log_info("another process is applying schema migrations to this database; waiting for it");
	rc = db_exec(&r, d, 1, MIGRATE_LOCK_SQL, 0, NULL);
done:
	PQclear(r);
	return rc;
}

/* Releases the lock without losing the error that ended the run: the
 * caller must see why migrating failed, not a follow-up failure. */
static int release_lock(db *d, int rc)
{
	char msg[OPRA_ERR_MSG_MAX];
	char details[OPRA_ERR_DETAILS_MAX];
	PGresult *r = NULL;

	snprintf(msg, sizeof(msg), "%s", opra_err_msg());
	snprintf(details, sizeof(details), "%s", opra_err_details());
	int unlock_rc = db_exec(&r, d, 1, MIGRATE_UNLOCK_SQL, 0, NULL);
	PQclear(r);
	if (rc == OPRA_OK)
		return unlock_rc;
	opra_err_set(rc, "%s", msg);
	if (details[0])
		opra_err_set_details(details);
	return rc;
}

int migrate_apply(db *d, int *applied)
{
	applied_row *rows = NULL;
	int nrows = 0;
	int current = 0;
	int done_now = 0;
	int locked = 0;
	int rc = OPRA_OK;

	if (applied)
		*applied = 0;
	if ((rc = check_table()) != OPRA_OK)
		goto done;
	/* Each migration commits on its own; inside a caller's transaction the
	 * first COMMIT would silently commit the caller's work too. */
	if (db_in_transaction(d)) {
		rc = opra_err_set(OPRA_INTERNAL,
				  "migrate_apply needs a connection outside a transaction");
		goto done;
	}
	if ((rc = take_lock(d)) != OPRA_OK)
		goto done;
	locked = 1;
	rc = db_cmd(d,
		    "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " version integer PRIMARY KEY,"
		    " name text NOT NULL,"
		    " checksum text NOT NULL,"
		    " applied_at timestamptz NOT NULL DEFAULT now())",
		    0, NULL);
	if (rc != OPRA_OK)
		goto done;
	if ((rc = load_applied(&rows, &nrows, &current, d)) != OPRA_OK)
		goto done;
	int latest = migrate_latest();
	if (current > latest) {
		char details[96];
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "database schema is at version %d but this oprad knows only up "
				  "to %d: upgrade oprad (or point it at another database)",
				  current, latest);
		snprintf(details, sizeof(details), "{\"current_version\":%d,\"latest_version\":%d}",
			 current, latest);
		opra_err_set_details(details);
		goto done;
	}
	warn_changed(rows, nrows);
	for (int i = 0; i < opra_migrations_count; i++) {
		const migration *m = &opra_migrations[i];
		if (find_applied(rows, nrows, m->version) != NULL)
			continue;
		if ((rc = apply_one(d, m, current)) != OPRA_OK)
			goto done;
		done_now++;
		if (applied)
			*applied = done_now;
	}
	if (done_now == 0)
		log_debug("database schema is up to date (version %d)", current);
done:
	if (locked)
		rc = release_lock(d, rc);
	opra_free(rows);
	return rc;
}
