#include "db.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Statements this connection has prepared: the handlers' SQL texts are
 * fixed, so each is parsed and planned once per connection instead of on
 * every call (planning was a large share of a small request). Keyed by the
 * text itself (hash + comparison), so a text built at run time is safe too. */
#define DB_DEFER_MAX 2
#define STMT_SLOTS   512 /* power of two; beyond 3/4 full, new texts run unprepared */

typedef struct {
	uint64_t hash;
	char *sql; /* NULL: free slot */
} stmt_slot;

struct db {
	PGconn *conn;
	char *conninfo;
	char sqlstate[6];
	stmt_slot stmts[STMT_SLOTS];
	size_t n_stmts;
	/* db_defer: parameterless statements sent in front of the next one */
	const char *deferred[DB_DEFER_MAX];
	int n_deferred;
};

static void stmts_clear(db *d)
{
	for (size_t i = 0; i < STMT_SLOTS; i++) {
		opra_free(d->stmts[i].sql);
		d->stmts[i].sql = NULL;
	}
	d->n_stmts = 0;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Only plain DML and queries are prepared; transaction control, SET,
 * SAVEPOINT and the like run as they are. */
static int preparable(const char *sql)
{
	while (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '(')
		sql++;
	static const char *const kw[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"};
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		size_t n = strlen(kw[i]);
		if (strncasecmp(sql, kw[i], n) == 0 && (sql[n] == ' ' || sql[n] == '\n'))
			return 1;
	}
	return 0;
}

/* The name of sql's prepared statement on this connection, preparing it on
 * first use; 0 when it runs unprepared (not preparable, cache full, or
 * PostgreSQL refused to prepare it: the plain call then reports why). */
static int stmt_name(db *d, const char *sql, int nparams, char name[24])
{
	if (!preparable(sql))
		return 0;
	uint64_t h = fnv1a(sql);
	size_t i = (size_t)h & (STMT_SLOTS - 1);
	for (; d->stmts[i].sql; i = (i + 1) & (STMT_SLOTS - 1)) {
		if (d->stmts[i].hash == h && strcmp(d->stmts[i].sql, sql) == 0) {
			snprintf(name, 24, "opra_%zu", i);
			return 1;
		}
	}
	if (d->n_stmts >= STMT_SLOTS / 4 * 3)
		return 0;
	snprintf(name, 24, "opra_%zu", i);
	PGresult *r = PQprepare(d->conn, name, sql, nparams, NULL);
	int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok)
		return 0;
	if ((d->stmts[i].sql = opra_strdup(sql)) == NULL) {
		/* Forget it; the server-side statement stays unused. */
		return 0;
	}
	d->stmts[i].hash = h;
	d->n_stmts++;
	return 1;
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	log_debug("postgres: %s", message);
}

/* A conninfo without secrets, for messages: host/port/dbname only. */
static void describe(PGconn *c, char *out, size_t size)
{
	const char *host = c ? PQhost(c) : NULL;
	const char *port = c ? PQport(c) : NULL;
	const char *name = c ? PQdb(c) : NULL;
	snprintf(out, size, "host=%s port=%s dbname=%s", host && *host ? host : "?",
		 port && *port ? port : "?", name && *name ? name : "?");
}

static int connect_now(db *d)
{
	char where[512];
	if (d->conn)
		PQfinish(d->conn);
	stmts_clear(d); /* prepared statements belong to the old session */
	d->conn = PQconnectdb(d->conninfo);
	if (d->conn == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED,
				    "out of memory connecting to PostgreSQL");
	if (PQstatus(d->conn) != CONNECTION_OK) {
		char msg[512];
		describe(d->conn, where, sizeof(where));
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(d->conn));
		msg[strcspn(msg, "\n")] = '\0';
		PQfinish(d->conn);
		d->conn = NULL;
		return opra_err_set(OPRA_UNAVAILABLE, "cannot connect to PostgreSQL (%s): %s",
				    where, msg);
	}
	PQsetNoticeProcessor(d->conn, quiet_notices, NULL);
	return OPRA_OK;
}

int db_open(db **out, const char *conninfo)
{
	db *d = NULL;
	int rc = OPRA_OK;

	*out = NULL;
	d = opra_calloc(1, sizeof(*d));
	if (d == NULL || (d->conninfo = opra_strdup(conninfo ? conninfo : "")) == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	if ((rc = connect_now(d)) != OPRA_OK)
		goto done;
	*out = d;
	d = NULL;
done:
	db_close(d);
	return rc;
}

void db_close(db *d)
{
	if (d == NULL)
		return;
	if (d->conn)
		PQfinish(d->conn);
	stmts_clear(d);
	opra_free(d->conninfo);
	opra_free(d);
}

PGconn *db_conn(db *d)
{
	return d->conn;
}

int db_lost(const db *d)
{
	return d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK;
}

int db_ensure(db *d)
{
	if (d->conn && PQstatus(d->conn) == CONNECTION_OK)
		return OPRA_OK;
	d->n_deferred = 0; /* they belonged to the lost session */
	log_warn("database connection lost; reconnecting");
	int rc = connect_now(d);
	if (rc == OPRA_OK)
		log_info("database connection re-established");
	return rc;
}

long long db_to_ll(const char *s)
{
	return strtoll(s, NULL, 10);
}

const char *db_last_sqlstate(const db *d)
{
	return d->sqlstate;
}

static int map_sqlstate(const char *st)
{
	if (strcmp(st, "23505") == 0)
		return OPRA_ALREADY_EXISTS;
	/* foreign key violation; object not in prerequisite state (a sealed
	 * appraisal, raised by append_event) */
	if (strcmp(st, "23503") == 0 || strcmp(st, "55000") == 0)
		return OPRA_FAILED_PRECONDITION;
	if (strcmp(st, "23514") == 0 || strcmp(st, "23502") == 0 || strncmp(st, "22", 2) == 0)
		return OPRA_INVALID_ARGUMENT;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return OPRA_ABORTED;
	if (strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
	    strcmp(st, "57P03") == 0)
		return OPRA_UNAVAILABLE;
	if (strcmp(st, "57014") == 0)
		return OPRA_DEADLINE_EXCEEDED;
	return OPRA_INTERNAL;
}

static int fail(db *d, PGresult *r, const char *sql)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(d->conn));
	msg[strcspn(msg, "\n")] = '\0';
	int lost = d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK;
	snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", st ? st : (lost ? "08006" : "XX000"));
	PQclear(r);
	int code = map_sqlstate(d->sqlstate);
	if (code == OPRA_INTERNAL || code == OPRA_UNAVAILABLE)
		log_warn("database error %s: %s (statement: %.80s)", d->sqlstate, msg, sql);
	else
		log_debug("database said %s: %s", d->sqlstate, msg);
	switch (code) {
	case OPRA_UNAVAILABLE:
		return opra_err_set(code, "the database is unavailable; retry shortly");
	case OPRA_ABORTED:
		return opra_err_set(code, "a concurrent change conflicted; retry");
	case OPRA_DEADLINE_EXCEEDED:
		return opra_err_set(code, "the database statement took too long");
	case OPRA_INTERNAL:
		return opra_err_set(code, "database error %s (details in the server log)",
				    d->sqlstate);
	default:
		/* Constraint messages name constraints and values the caller sent. */
		return opra_err_set(code, "%s", msg);
	}
}

static int exec_fmt(PGresult **out, db *d, int want_rows, const char *sql, int nparams,
		    const char *const *params, const int *lengths, const int *formats,
		    int result_format)
{
	*out = NULL;
	d->sqlstate[0] = '\0';
	if (d->n_deferred > 0) {
		db_stmt s = {.sql = sql,
			     .nparams = nparams,
			     .params = params,
			     .lengths = lengths,
			     .formats = formats,
			     .want_rows = want_rows,
			     .keep_result = 1,
			     .binary_result = result_format};
		int rc = db_pipeline(d, &s, 1);
		*out = s.res;
		return rc;
	}
	if (d->conn == NULL)
		return opra_err_set(OPRA_UNAVAILABLE, "the database is unavailable; retry shortly");
	char name[24];
	PGresult *r = stmt_name(d, sql, nparams, name)
			      ? PQexecPrepared(d->conn, name, nparams, params, lengths, formats,
					       result_format)
			      : PQexecParams(d->conn, sql, nparams, NULL, params, lengths, formats,
					     result_format);
	ExecStatusType want = want_rows ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
	if (r == NULL || PQresultStatus(r) != want)
		return fail(d, r, sql);
	*out = r;
	return OPRA_OK;
}

#define PIPELINE_MAX 16

static int pipeline_run(db *d, db_stmt *stmts, size_t n);

int db_defer(db *d, const char *sql)
{
	if (d->n_deferred == DB_DEFER_MAX)
		return opra_err_set(OPRA_INTERNAL, "too many deferred statements");
	d->deferred[d->n_deferred++] = sql;
	return OPRA_OK;
}

/* Sends the deferred statements now (nothing else to carry them). */
static int flush_deferred(db *d)
{
	return d->n_deferred > 0 ? db_pipeline(d, NULL, 0) : OPRA_OK;
}

int db_pipeline(db *d, db_stmt *stmts, size_t n)
{
	if (d->n_deferred == 0)
		return pipeline_run(d, stmts, n);
	db_stmt all[PIPELINE_MAX];
	size_t nd = (size_t)d->n_deferred;
	if (nd + n > PIPELINE_MAX)
		return opra_err_set(OPRA_INTERNAL, "too many statements in one pipeline");
	d->n_deferred = 0;
	for (size_t i = 0; i < nd; i++)
		all[i] = (db_stmt){.sql = d->deferred[i]};
	for (size_t i = 0; i < n; i++)
		all[nd + i] = stmts[i];
	int rc = pipeline_run(d, all, nd + n);
	for (size_t i = 0; i < n; i++) {
		stmts[i].res = all[nd + i].res;
		stmts[i].failed = all[nd + i].failed;
	}
	return rc;
}

static int pipeline_run(db *d, db_stmt *stmts, size_t n)
{
	char names[PIPELINE_MAX][24];
	int named[PIPELINE_MAX];
	int rc = OPRA_OK;
	size_t i;

	d->sqlstate[0] = '\0';
	for (i = 0; i < n; i++) {
		stmts[i].res = NULL;
		stmts[i].failed = 0;
	}
	if (n == 0)
		return OPRA_OK;
	if (n > PIPELINE_MAX)
		return opra_err_set(OPRA_INTERNAL, "too many statements in one pipeline");
	if (d->conn == NULL)
		return opra_err_set(OPRA_UNAVAILABLE, "the database is unavailable; retry shortly");
	/* Preparing is a round trip of its own and not allowed in pipeline
	 * mode: do it first (once per connection and text). */
	for (i = 0; i < n; i++)
		named[i] = stmt_name(d, stmts[i].sql, stmts[i].nparams, names[i]);
	if (PQenterPipelineMode(d->conn) != 1)
		return fail(d, NULL, "enter pipeline mode");
	size_t sent = 0;
	for (; sent < n; sent++) {
		const db_stmt *s = &stmts[sent];
		int ok = named[sent]
				 ? PQsendQueryPrepared(d->conn, names[sent], s->nparams, s->params,
						       s->lengths, s->formats, s->binary_result)
				 : PQsendQueryParams(d->conn, s->sql, s->nparams, NULL, s->params,
						     s->lengths, s->formats, s->binary_result);
		if (!ok)
			break;
	}
	if (sent < n || PQpipelineSync(d->conn) != 1) {
		/* Nothing can be trusted on this connection any more. */
		stmts[sent < n ? sent : n - 1].failed = 1;
		rc = fail(d, NULL, sent < n ? stmts[sent].sql : "pipeline sync");
		PQfinish(d->conn);
		d->conn = NULL;
		stmts_clear(d);
		return rc == OPRA_INTERNAL ? opra_err_set(OPRA_UNAVAILABLE,
							  "the database is unavailable; retry "
							  "shortly")
					   : rc;
	}
	/* Each statement yields one result then NULL; the sync yields
	 * PGRES_PIPELINE_SYNC. After the first error the rest come back
	 * PGRES_PIPELINE_ABORTED. */
	int synced = 0, broken = 0;
	for (i = 0; i < n && !broken; i++) {
		PGresult *r = PQgetResult(d->conn);
		if (r == NULL || PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			stmts[i].failed = rc == OPRA_OK;
			synced = r != NULL;
			PQclear(r);
			broken = 1;
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		ExecStatusType want = stmts[i].want_rows ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
		if (rc != OPRA_OK || st == PGRES_PIPELINE_ABORTED)
			PQclear(r);
		else if (st != want) {
			stmts[i].failed = 1;
			rc = fail(d, r, stmts[i].sql); /* clears r */
		} else if (stmts[i].want_rows || stmts[i].keep_result)
			stmts[i].res = r;
		else
			PQclear(r);
		/* The NULL that ends this statement's results. */
		while ((r = PQgetResult(d->conn)) != NULL) {
			if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
				synced = 1;
				broken = 1;
			}
			PQclear(r);
			if (broken)
				break;
		}
	}
	/* Read up to and including the sync (bounded: a broken connection
	 * yields no more results). */
	for (int guard = 0; !synced && guard < 4 && d->conn && PQstatus(d->conn) == CONNECTION_OK;
	     guard++) {
		PGresult *r = PQgetResult(d->conn);
		if (r == NULL)
			continue;
		synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
		PQclear(r);
	}
	if (broken && rc == OPRA_OK)
		rc = fail(d, NULL, "pipeline");
	if (!synced || PQexitPipelineMode(d->conn) != 1) {
		/* Out of step with the server: start a new session rather than
		 * guess. db_lost() now reports it; db_ensure reconnects. */
		if (rc == OPRA_OK)
			rc = fail(d, NULL, "pipeline");
		log_warn("database pipeline out of step; dropping the connection");
		PQfinish(d->conn);
		d->conn = NULL;
		stmts_clear(d);
		if (rc == OPRA_INTERNAL)
			rc = opra_err_set(OPRA_UNAVAILABLE,
					  "the database is unavailable; retry shortly");
	}
	if (rc != OPRA_OK)
		for (i = 0; i < n; i++) {
			PQclear(stmts[i].res);
			stmts[i].res = NULL;
		}
	return rc;
}

int db_exec_bin(PGresult **out, db *d, int want_rows, const char *sql, int nparams,
		const char *const *params, const int *lengths, const int *formats)
{
	return exec_fmt(out, d, want_rows, sql, nparams, params, lengths, formats, 0);
}

int db_exec_binres(PGresult **out, db *d, const char *sql, int nparams, const char *const *params,
		   const int *lengths, const int *formats)
{
	return exec_fmt(out, d, 1, sql, nparams, params, lengths, formats, 1);
}

int db_exec(PGresult **out, db *d, int want_rows, const char *sql, int nparams,
	    const char *const *params)
{
	return db_exec_bin(out, d, want_rows, sql, nparams, params, NULL, NULL);
}

int db_cmd(db *d, const char *sql, int nparams, const char *const *params)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, d, 0, sql, nparams, params);
	PQclear(r);
	return rc;
}

int db_exec_script(db *d, const char *sql)
{
	int rc = flush_deferred(d);
	if (rc != OPRA_OK)
		return rc;
	d->sqlstate[0] = '\0';
	if (d->conn == NULL)
		return opra_err_set(OPRA_UNAVAILABLE, "the database is unavailable");
	PGresult *r = PQexec(d->conn, sql);
	if (r == NULL ||
	    (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK))
		return fail(d, r, sql);
	PQclear(r);
	return OPRA_OK;
}

int db_begin(db *d)
{
	return db_cmd(d, "BEGIN", 0, NULL);
}

int db_commit(db *d)
{
	if (d->n_deferred == 1 && strcmp(d->deferred[0], "BEGIN") == 0) {
		d->n_deferred = 0; /* nothing ran: nothing to commit */
		return OPRA_OK;
	}
	return db_cmd(d, "COMMIT", 0, NULL);
}

int db_in_transaction(db *d)
{
	if (d->n_deferred > 0)
		return 1;
	if (d->conn == NULL)
		return 0;
	PGTransactionStatusType s = PQtransactionStatus(d->conn);
	return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void db_rollback(db *d)
{
	d->n_deferred = 0;
	if (d->conn == NULL || !db_in_transaction(d))
		return;
	PGresult *r = PQexec(d->conn, "ROLLBACK");
	PQclear(r);
}

int db_copy_begin(db *d, const char *copy_sql)
{
	int rc = flush_deferred(d);
	if (rc != OPRA_OK)
		return rc;
	d->sqlstate[0] = '\0';
	if (d->conn == NULL)
		return opra_err_set(OPRA_UNAVAILABLE, "the database is unavailable; retry shortly");
	PGresult *r = PQexec(d->conn, copy_sql);
	if (r == NULL || PQresultStatus(r) != PGRES_COPY_IN)
		return fail(d, r, copy_sql);
	PQclear(r);
	return OPRA_OK;
}

int db_copy_put(db *d, const opra_buf *rows)
{
	if (rows->len == 0)
		return OPRA_OK;
	if (PQputCopyData(d->conn, (const char *)rows->data, (int)rows->len) != 1) {
		PQputCopyEnd(d->conn, "client failed");
		return fail(d, NULL, "COPY data");
	}
	return OPRA_OK;
}

int db_copy_end(db *d)
{
	if (PQputCopyEnd(d->conn, NULL) != 1)
		return fail(d, NULL, "COPY end");
	PGresult *r = PQgetResult(d->conn);
	int rc = OPRA_OK;
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		rc = fail(d, r, "COPY");
		r = NULL;
	}
	PQclear(r);
	/* Drain: a COPY yields exactly one result, then NULL. */
	while ((r = PQgetResult(d->conn)) != NULL)
		PQclear(r);
	return rc;
}

int db_copy_field(opra_buf *rows, const char *value, int last)
{
	int rc = OPRA_OK;
	if (value == NULL) {
		rc = opra_buf_append(rows, "\\N", 2);
	} else {
		const char *run = value;
		for (const char *p = value;; p++) {
			char esc = 0;
			switch (*p) {
			case '\\':
				esc = '\\';
				break;
			case '\t':
				esc = 't';
				break;
			case '\n':
				esc = 'n';
				break;
			case '\r':
				esc = 'r';
				break;
			default:
				break;
			}
			if (*p != '\0' && !esc)
				continue;
			if (p > run &&
			    (rc = opra_buf_append(rows, run, (size_t)(p - run))) != OPRA_OK)
				return rc;
			if (*p == '\0')
				break;
			char pair[2] = {'\\', esc};
			if ((rc = opra_buf_append(rows, pair, 2)) != OPRA_OK)
				return rc;
			run = p + 1;
		}
	}
	if (rc == OPRA_OK)
		rc = opra_buf_append(rows, last ? "\n" : "\t", 1);
	return rc;
}

int db_copy_field_long(opra_buf *rows, long long value, int last)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", value);
	return db_copy_field(rows, num, last);
}

static int array_sep(opra_buf *b)
{
	return opra_buf_append(b, b->len == 0 ? "{" : ",", 1);
}

int db_array_add(opra_buf *b, const char *value)
{
	if (array_sep(b) != OPRA_OK)
		return OPRA_RESOURCE_EXHAUSTED;
	if (value == NULL)
		return opra_buf_puts(b, "NULL") == OPRA_OK ? OPRA_OK : OPRA_RESOURCE_EXHAUSTED;
	/* Inside double quotes only '"' and '\' need a backslash. */
	uint8_t *dst = opra_buf_reserve(b, 2 * strlen(value) + 2);
	if (dst == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	size_t n = 0;
	dst[n++] = '"';
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			dst[n++] = '\\';
		dst[n++] = (uint8_t)*p;
	}
	dst[n++] = '"';
	b->len += n;
	b->data[b->len] = '\0';
	return OPRA_OK;
}

int db_array_add_long(opra_buf *b, long long value)
{
	if (array_sep(b) != OPRA_OK || opra_buf_printf(b, "%lld", value) != OPRA_OK)
		return OPRA_RESOURCE_EXHAUSTED;
	return OPRA_OK;
}

int db_array_end(opra_buf *b)
{
	if (b->len == 0 && opra_buf_append(b, "{", 1) != OPRA_OK)
		return OPRA_RESOURCE_EXHAUSTED;
	return opra_buf_append(b, "}", 1) == OPRA_OK ? OPRA_OK : OPRA_RESOURCE_EXHAUSTED;
}
