/* The server's PostgreSQL layer (libpq). One db per worker thread; a db is
 * not shared between threads. Only parameterised statements: every value
 * from outside travels as a parameter, never inside SQL text. */
#ifndef OPRA_DB_H
#define OPRA_DB_H

#include "opra_buf.h"

#include <libpq-fe.h>
#include <stddef.h>

typedef struct db db;

/* Connects to conninfo (a libpq connection string or URI). Returns OPRA_OK,
 * or OPRA_UNAVAILABLE with a message that says where it tried and why
 * (never the password). On success *out is owned by the caller (db_close). */
int db_open(db **out, const char *conninfo);
void db_close(db *d);
PGconn *db_conn(db *d);

/* Makes sure the connection is usable, reconnecting after a PostgreSQL
 * restart or a dropped connection. OPRA_OK or OPRA_UNAVAILABLE. */
int db_ensure(db *d);

/* True when the connection is gone (never made, or broken by a failed
 * statement): db_ensure will reconnect. */
int db_lost(const db *d);

/* Runs one parameterised statement (text parameters; NULL entries are SQL
 * NULL). Checks the result status exactly: PGRES_TUPLES_OK for statements
 * that return rows, PGRES_COMMAND_OK otherwise (pass want_rows). On success
 * *out is the result (PQclear it); on failure *out is NULL and the return
 * value maps the SQLSTATE: unique_violation -> ALREADY_EXISTS,
 * foreign_key_violation -> FAILED_PRECONDITION, check/not-null/invalid text ->
 * INVALID_ARGUMENT, serialization/deadlock -> ABORTED, connection class 08
 * and admin shutdown (57P01..57P03) -> UNAVAILABLE, others -> INTERNAL. The
 * full PostgreSQL message goes to the log at warn level; the last error holds
 * a short message safe to show a client. */
int db_exec(PGresult **out, db *d, int want_rows, const char *sql, int nparams,
	    const char *const *params);
/* Same with explicit lengths and formats (1 = binary) per parameter. */
int db_exec_bin(PGresult **out, db *d, int want_rows, const char *sql, int nparams,
		const char *const *params, const int *lengths, const int *formats);
/* A statement that returns rows, with every result column in binary
 * (bytea as raw bytes, integers in network order): no text to decode for
 * large reads. Same preparation and error mapping as db_exec. */
int db_exec_binres(PGresult **out, db *d, const char *sql, int nparams, const char *const *params,
		   const int *lengths, const int *formats);
/* Runs a statement that returns no rows and discards the result. */
int db_cmd(db *d, const char *sql, int nparams, const char *const *params);

/* One statement of db_pipeline. */
typedef struct {
	const char *sql;
	int nparams;
	const char *const *params;
	const int *lengths; /* NULL: all text */
	const int *formats; /* NULL: all text */
	int want_rows;	    /* as db_exec: PGRES_TUPLES_OK, else PGRES_COMMAND_OK */
	int keep_result;    /* keep res even when !want_rows (PQcmdTuples) */
	int binary_result;  /* 1: result columns in binary, as db_exec_binres */
	PGresult *res;	    /* out, want_rows or keep_result: the result (PQclear it) */
	int failed;	    /* out: set on the statement that failed */
} db_stmt;

/* Runs n statements in ONE network round trip (libpq pipeline mode): all
 * are sent, then the results are read. For statements whose results are not
 * needed before the next is sent (BEGIN + an insert, an update + COMMIT).
 * Stops at the first failure: PostgreSQL skips the statements after it, and
 * the return value and last error are those db_exec gives for the failing
 * statement (a statement that fails inside an open transaction leaves it
 * aborted: roll back). On success every want_rows statement's res is set;
 * on failure none is (all are cleared). */
int db_pipeline(db *d, db_stmt *stmts, size_t n);
/* Defers a trusted, parameterless statement ("BEGIN"): it is not sent now
 * but in one pipeline (one round trip) in front of the next statement that
 * goes to the server (db_exec*, db_cmd, db_pipeline, a COPY), and fails
 * that call if it fails. db_rollback drops it; db_commit with only a
 * deferred BEGIN pending sends nothing; db_in_transaction counts it as
 * open. At most two may wait. Returns OPRA_OK or INTERNAL. */
int db_defer(db *d, const char *sql);

/* Trusted, parameterless SQL text (migrations only): may hold several
 * statements. */
int db_exec_script(db *d, const char *sql);

int db_begin(db *d);
int db_commit(db *d);
/* Rolls back if a transaction is open; safe to call at any time. */
void db_rollback(db *d);
int db_in_transaction(db *d);

/* Bulk loading with COPY ... FROM STDIN (text format). Values travel in
 * the COPY data stream, never in SQL text. Usage: db_copy_begin with a
 * fixed "COPY table (cols) FROM STDIN" statement, db_copy_put rows built
 * with db_copy_field, db_copy_end (checks the final result). On any error
 * the COPY is aborted and the transaction must be rolled back. */
int db_copy_begin(db *d, const char *copy_sql);
int db_copy_put(db *d, const opra_buf *rows);
int db_copy_end(db *d);
/* Appends one field in COPY text format (backslash escapes; NULL is \N),
 * followed by a tab, or a newline when last is set. */
int db_copy_field(opra_buf *rows, const char *value, int last);
int db_copy_field_long(opra_buf *rows, long long value, int last);

/* Array parameters (one statement for many rows, e.g. unnest($1::text[])):
 * a PostgreSQL array literal built in an opra_buf, passed as a text
 * parameter. Start with an empty buffer, add elements, then end it (which
 * also NUL-terminates it). db_array_add quotes any text (NULL value: SQL
 * NULL); db_array_add_long adds a number. Return OPRA_OK or
 * RESOURCE_EXHAUSTED. */
int db_array_add(opra_buf *b, const char *value);
int db_array_add_long(opra_buf *b, long long value);
int db_array_end(opra_buf *b);

/* An integer column's text value (PQgetvalue) as a number; 0 for NULL's
 * empty text. For values PostgreSQL produced, not for input. */
long long db_to_ll(const char *s);

/* The SQLSTATE of the last failed statement ("" if none). */
const char *db_last_sqlstate(const db *d);

#endif
