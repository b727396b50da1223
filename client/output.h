/* What the opra client prints, and where.
 *
 * Results go to `out` (stdout), diagnostics to `err` (stderr). In JSON mode
 * `out` receives exactly one JSON document per run: the result, or the
 * error object {"error": {"code", "message", "details"}}; human text is
 * suppressed there. In quiet mode only essential human output is printed
 * (the thing the user asked for, e.g. a new token), never notes.
 *
 * Exit codes follow docs/cli.md: a status maps through
 * opra_status_exit_code(); usage errors (detected by the client) exit
 * OPRA_EXIT_USAGE (2). */
#ifndef OPRA_CLIENT_OUTPUT_H
#define OPRA_CLIENT_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The error code that usage errors carry in JSON mode (they have no
 * status: the client found the mistake before calling anyone). */
#define OUT_USAGE_CODE "USAGE"

typedef struct {
	FILE *out; /* results */
	FILE *err; /* diagnostics */
	bool json;
	bool quiet;
	bool json_done; /* the one JSON document has been written */
} out_ctx;

void out_init(out_ctx *o, FILE *out, FILE *err, bool json, bool quiet);

/* Writes doc as the run's one JSON document (followed by a newline) and
 * releases the caller's reference to it, also on failure. Returns OPRA_OK,
 * OPRA_RESOURCE_EXHAUSTED when doc is NULL (a failed jansson allocation),
 * or OPRA_INTERNAL when a document was already written. */
int out_json(out_ctx *o, json_t *doc);

/* Human result text on `out`; prints nothing in JSON mode. */
void out_printf(out_ctx *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Non-essential human text on `out`; nothing in JSON or quiet mode. */
void out_note(out_ctx *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "opra: warning: ..." on `err`, in every mode (warnings are not output). */
void out_warn(out_ctx *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Text from the server (names, roles, times) for a terminal: control
 * characters are written as '?' so a hostile string cannot drive the
 * terminal. */
void out_put_safe(FILE *f, const char *s);

/* A JSON string for text from the server; invalid UTF-8 is replaced
 * byte-wise by '?' rather than dropping the field. NULL only when memory
 * runs out. An empty or NULL s gives json_null() when empty_is_null. */
json_t *out_jstr(const char *s, bool empty_is_null);

/* The JSON error document {"error": {"code": code, "message": message,
 * "details": ...}}. details_json (may be NULL or "") is parsed; text that
 * is not JSON is kept as {"text": "..."}. Caller owns the result (NULL
 * when memory runs out). */
json_t *out_error_doc(const char *code, const char *message, const char *details_json);

/* Reports a failed status: "opra: message" on `err` and, in JSON mode, the
 * error document on `out`. Returns the exit code for the status. */
int out_error(out_ctx *o, int status, const char *message, const char *details_json);
/* out_error with the calling thread's last error (opra_err_msg(),
 * opra_err_details()). */
int out_fail(out_ctx *o, int status);
/* Reports a usage error: "opra: message" and, when hint is not NULL, a
 * second line (e.g. "usage: opra user add NAME --role ROLE"); in JSON mode
 * the error document with code OUT_USAGE_CODE. Returns OPRA_EXIT_USAGE. */
int out_usage(out_ctx *o, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Flushes `out`. When anything written to it failed (a closed pipe, a
 * full disk), says so on `err` and returns 1 unless exit_code already
 * reports a failure; otherwise returns exit_code. */
int out_finish(out_ctx *o, int exit_code);

/* An aligned text table of borrowed strings (they must outlive the
 * table). Columns are as wide as their widest cell, counted in UTF-8
 * characters. */
typedef struct {
	size_t ncols;
	const char *const *headers;
	const char **cells; /* nrows * ncols */
	size_t nrows;
	size_t cap;
} out_table;

void out_table_init(out_table *t, size_t ncols, const char *const *headers);
/* Adds a row of ncols cells (NULL prints as "-"). OPRA_OK or
 * OPRA_RESOURCE_EXHAUSTED. */
int out_table_add(out_table *t, const char *const *row);
/* Prints the table to `out` (headers omitted in quiet mode; nothing in
 * JSON mode). */
void out_table_print(out_ctx *o, const out_table *t);
void out_table_free(out_table *t);

/* Checks that path can be a file written by out_write_atomic: its
 * directory exists and path is not a directory. OPRA_OK; otherwise
 * INVALID_ARGUMENT (not a file name: a usage mistake), NOT_FOUND (no such
 * directory) or another status, with the message set. */
int out_check_output_path(const char *path);

/* The status for a failed file operation on path (errno err), with the
 * message "cannot WHAT 'PATH': reason" set. */
int out_file_error(int err, const char *what, const char *path);
/* Writes len bytes of data to path atomically: a temporary file in the same
 * directory, flushed, then renamed over path, so readers see the old file
 * or the whole new one, never a part. Returns OPRA_OK or a status with the
 * message set (the temporary file is removed on failure). */
int out_write_atomic(const char *path, const void *data, size_t len);
/* Writes a command's whole result text to stdout (with --json it then is
 * the run's one document) or, when path is set, atomically to path.
 * Returns 0 or the exit code of the failure (already reported). */
int out_emit_text(out_ctx *o, const char *path, const void *data, size_t len);

#endif
