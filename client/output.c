#include "output.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void out_init(out_ctx *o, FILE *out, FILE *err, bool json, bool quiet)
{
	o->out = out;
	o->err = err;
	o->json = json;
	o->quiet = quiet;
	o->json_done = false;
}

int out_json(out_ctx *o, json_t *doc)
{
	int rc = OPRA_OK;

	if (doc == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	if (o->json_done) {
		/* A second document would break every script that parses
		 * stdout; refuse loudly rather than print it. */
		rc = opra_err_set(OPRA_INTERNAL,
				  "bug: a second JSON document was about to be printed");
		goto done;
	}
	o->json_done = true;
	/* Flags 0: one line, ", " and ": " separators, as in docs/cli.md.
	 * Ten significant digits print 0.412 rather than
	 * 0.41199999999999998. */
	if (json_dumpf(doc, o->out, JSON_REAL_PRECISION(10)) != 0 || fputc('\n', o->out) == EOF)
		rc = opra_err_set(OPRA_INTERNAL, "cannot write the JSON output");
done:
	json_decref(doc);
	return rc;
}

static void vprint(FILE *f, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vprint(FILE *f, const char *fmt, va_list ap)
{
	vfprintf(f, fmt, ap);
}

void out_printf(out_ctx *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json)
		return;
	va_start(ap, fmt);
	vprint(o->out, fmt, ap);
	va_end(ap);
}

void out_note(out_ctx *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json || o->quiet)
		return;
	va_start(ap, fmt);
	vprint(o->out, fmt, ap);
	va_end(ap);
}

void out_warn(out_ctx *o, const char *fmt, ...)
{
	va_list ap;

	fputs("opra: warning: ", o->err);
	va_start(ap, fmt);
	vprint(o->err, fmt, ap);
	va_end(ap);
	fputc('\n', o->err);
}

void out_put_safe(FILE *f, const char *s)
{
	if (s == NULL)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

json_t *out_jstr(const char *s, bool empty_is_null)
{
	json_t *j;
	char *copy;

	if (s == NULL || s[0] == '\0')
		return empty_is_null ? json_null() : json_string("");
	if ((j = json_string(s)) != NULL)
		return j;
	/* json_string refuses invalid UTF-8; keep the field and show where
	 * the bad bytes were. */
	if ((copy = opra_strdup(s)) == NULL)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	opra_free(copy);
	return j;
}

json_t *out_error_doc(const char *code, const char *message, const char *details_json)
{
	json_t *err = json_object();
	json_t *doc = json_object();
	json_t *details = NULL;

	if (err == NULL || doc == NULL)
		goto fail;
	if (json_object_set_new(err, "code", out_jstr(code, false)) != 0 ||
	    json_object_set_new(err, "message", out_jstr(message ? message : "", false)) != 0)
		goto fail;
	if (details_json != NULL && details_json[0] != '\0') {
		details = json_loads(details_json, JSON_DECODE_ANY, NULL);
		if (details == NULL)
			details = json_pack("{s:o}", "text", out_jstr(details_json, false));
		if (json_object_set_new(err, "details", details) != 0)
			goto fail;
	}
	if (json_object_set_new(doc, "error", err) != 0) {
		err = NULL; /* set_new consumed it even on failure */
		goto fail;
	}
	return doc;
fail:
	json_decref(err);
	json_decref(doc);
	return NULL;
}

static void report(out_ctx *o, const char *code, const char *message, const char *details_json,
		   const char *hint)
{
	fputs("opra: ", o->err);
	out_put_safe(o->err, message); /* may come from the server */
	fputc('\n', o->err);
	if (hint != NULL) {
		fputs(hint, o->err);
		fputc('\n', o->err);
	}
	/* After a result document nothing more may go to stdout; the
	 * stderr line and the exit code still tell the story. */
	if (o->json && !o->json_done)
		out_json(o, out_error_doc(code, message, details_json));
}

int out_error(out_ctx *o, int status, const char *message, const char *details_json)
{
	const char *code = opra_status_name(status);

	if (message == NULL || message[0] == '\0')
		message = code;
	report(o, code, message, details_json, NULL);
	return opra_status_exit_code(status);
}

int out_fail(out_ctx *o, int status)
{
	/* Copies: out_error may itself record an error (e.g. out of
	 * memory) and overwrite the thread's last error. */
	char msg[OPRA_ERR_MSG_MAX], details[OPRA_ERR_DETAILS_MAX];

	snprintf(msg, sizeof(msg), "%s", opra_err_msg());
	snprintf(details, sizeof(details), "%s", opra_err_details());
	return out_error(o, status, msg, details);
}

int out_usage(out_ctx *o, const char *hint, const char *fmt, ...)
{
	char msg[OPRA_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(o, OUT_USAGE_CODE, msg, NULL, hint);
	return OPRA_EXIT_USAGE;
}

int out_finish(out_ctx *o, int exit_code)
{
	if (fflush(o->out) != 0 || ferror(o->out)) {
		fputs("opra: cannot write the output (closed pipe or full disk?)\n", o->err);
		return exit_code != 0 ? exit_code : 1;
	}
	return exit_code;
}

void out_table_init(out_table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->headers = headers;
}

int out_table_add(out_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		const char **cells = opra_realloc(t->cells, cap * t->ncols * sizeof(*cells));
		if (cells == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		t->cells = cells;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = row[c];
	t->nrows++;
	return OPRA_OK;
}

/* Characters, not bytes, so names with accents still line up (wide CJK
 * glyphs will not, which is acceptable for a plain text table). */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)(s ? s : "-"); *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

static void print_row(out_ctx *o, const out_table *t, const char *const *row, const size_t *widths)
{
	for (size_t c = 0; c < t->ncols; c++) {
		const char *s = row[c] ? row[c] : "-";
		out_put_safe(o->out, s);
		if (c + 1 < t->ncols)
			for (size_t pad = text_width(s); pad < widths[c] + 2; pad++)
				fputc(' ', o->out);
	}
	fputc('\n', o->out);
}

void out_table_print(out_ctx *o, const out_table *t)
{
	size_t *widths;

	if (o->json || t->ncols == 0)
		return;
	widths = opra_calloc(t->ncols, sizeof(*widths));
	if (widths == NULL) {
		fputs("opra: out of memory\n", o->err);
		return;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		if (!o->quiet && t->headers)
			widths[c] = text_width(t->headers[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = text_width(t->cells[r * t->ncols + c]);
			if (w > widths[c])
				widths[c] = w;
		}
	}
	if (!o->quiet && t->headers)
		print_row(o, t, t->headers, widths);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(o, t, &t->cells[r * t->ncols], widths);
	opra_free(widths);
}

void out_table_free(out_table *t)
{
	if (t == NULL)
		return;
	opra_free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- files -------------------------------------------------------------- */

int out_file_error(int err, const char *what, const char *path)
{
	int status = OPRA_INTERNAL;

	if (err == EACCES || err == EPERM || err == EROFS)
		status = OPRA_PERMISSION_DENIED;
	else if (err == ENOENT || err == ENOTDIR)
		status = OPRA_NOT_FOUND;
	else if (err == ENOSPC || err == EDQUOT)
		status = OPRA_RESOURCE_EXHAUSTED;
	return opra_err_set(status, "cannot %s '%s': %s", what, path, strerror(err));
}

/* The directory part of path ("." when there is none) into dir. */
static int split_dir(char *dir, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash == NULL)
		n = snprintf(dir, size, ".");
	else if (slash == path)
		n = snprintf(dir, size, "/");
	else
		n = snprintf(dir, size, "%.*s", (int)(slash - path), path);
	if (n < 0 || (size_t)n >= size)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the path '%.200s' is too long", path);
	return OPRA_OK;
}

/* Checks that path can be a file: its directory exists and path is not a
 * directory. Done before asking the server, and again by the write. */
int out_check_output_path(const char *path)
{
	char dir[4096];
	struct stat st;
	size_t len = strlen(path);
	int rc;

	if (len == 0 || path[len - 1] == '/')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "-o needs a file name, not a directory ('%.200s')", path);
	if ((rc = split_dir(dir, sizeof(dir), path)) != OPRA_OK)
		return rc;
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return opra_err_set(OPRA_NOT_FOUND,
					    "cannot write '%s': the directory '%s' does not exist "
					    "(create it first)",
					    path, dir);
		return out_file_error(errno, "use the directory of", path);
	}
	if (!S_ISDIR(st.st_mode))
		return opra_err_set(OPRA_NOT_FOUND, "cannot write '%s': '%s' is not a directory",
				    path, dir);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "cannot write '%s': it is a directory; -o needs a file name",
				    path);
	return OPRA_OK;
}

/* Writes data to path atomically: a temporary file in the same directory,
 * flushed to disk, then renamed over path. Readers see the old file or the
 * whole new one, never a part; on failure the temporary file is removed. */
int out_write_atomic(const char *path, const void *data, size_t len)
{
	char dir[4096], tmp[4200];
	const char *base = strrchr(path, '/');
	const unsigned char *p = data;
	int fd = -1, rc;
	mode_t mask;

	if ((rc = out_check_output_path(path)) != OPRA_OK)
		return rc;
	if ((rc = split_dir(dir, sizeof(dir), path)) != OPRA_OK)
		return rc;
	base = base ? base + 1 : path;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base) >= sizeof(tmp))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the path '%.200s' is too long", path);
	if ((fd = mkstemp(tmp)) < 0)
		return out_file_error(errno, "create a temporary file next to", path);
	/* mkstemp makes 0600; give the file the mode a plain create would. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0) {
		rc = out_file_error(errno, "set the mode of", tmp);
		goto fail;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = out_file_error(errno, "write", tmp);
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = out_file_error(errno, "write", tmp);
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = out_file_error(errno, "write", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = out_file_error(errno, "rename the temporary file to", path);
		goto fail;
	}
	return OPRA_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int out_emit_text(out_ctx *o, const char *path, const void *data, size_t len)
{
	if (path == NULL) {
		if (o->json)
			o->json_done = true;
		if (len && fwrite(data, 1, len, o->out) != len)
			return out_error(o, OPRA_INTERNAL, "cannot write to stdout", NULL);
		return 0;
	}
	int rc = out_write_atomic(path, data, len);
	return rc == OPRA_OK ? 0 : out_fail(o, rc);
}
