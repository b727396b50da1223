#include "csv.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include <string.h>

#define BLOCK 65536

struct csv_reader {
	FILE *f;
	char *origin;
	char block[BLOCK];
	size_t pos, len;
	int eof;
	long line; /* current physical line */
	unsigned long long offset;
	int started; /* BOM checked */
	/* the record being built: field texts back to back, NUL separated */
	char *rec;
	size_t rec_len, rec_cap;
	size_t starts[CSV_MAX_FIELDS];
	char *fields[CSV_MAX_FIELDS];
	size_t nfields;
};

int csv_open(csv_reader **out, FILE *f, const char *origin)
{
	csv_reader *r = opra_calloc(1, sizeof(*r));
	*out = NULL;
	if (r == NULL || (r->origin = opra_strdup(origin ? origin : "input")) == NULL) {
		opra_free(r);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	r->f = f;
	r->line = 1;
	*out = r;
	return OPRA_OK;
}

void csv_close(csv_reader *r)
{
	if (r == NULL)
		return;
	opra_free(r->rec);
	opra_free(r->origin);
	opra_free(r);
}

unsigned long long csv_offset(const csv_reader *r)
{
	return r->offset;
}

/* -1 at the end of input. */
static int next_char(csv_reader *r)
{
	if (r->pos == r->len) {
		if (r->eof)
			return -1;
		r->len = fread(r->block, 1, sizeof(r->block), r->f);
		r->pos = 0;
		if (r->len == 0) {
			r->eof = 1;
			return -1;
		}
	}
	r->offset++;
	return (unsigned char)r->block[r->pos++];
}

static int peek_char(csv_reader *r)
{
	int c = next_char(r);
	if (c >= 0) {
		r->pos--;
		r->offset--;
	}
	return c;
}

static int put(csv_reader *r, char c)
{
	if (r->rec_len + 1 >= r->rec_cap) {
		if (r->rec_cap >= CSV_MAX_RECORD)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s:%ld: record longer than %d bytes", r->origin,
					    r->line, CSV_MAX_RECORD);
		size_t cap = r->rec_cap ? r->rec_cap * 2 : 4096;
		char *p = opra_realloc(r->rec, cap);
		if (p == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		r->rec = p;
		r->rec_cap = cap;
	}
	r->rec[r->rec_len++] = c;
	return OPRA_OK;
}

static int end_field(csv_reader *r, long start_line)
{
	size_t start = r->starts[r->nfields];
	size_t flen = r->rec_len - start;
	if (flen > CSV_MAX_FIELD)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s:%ld: field %zu is longer than %d bytes", r->origin,
				    start_line, r->nfields + 1, CSV_MAX_FIELD);
	/* rec is NULL until the first byte arrives: NULL + 0 is undefined */
	if (flen > 0 && !opra_utf8_valid(r->rec + start, flen))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%ld: field %zu is not valid UTF-8",
				    r->origin, start_line, r->nfields + 1);
	int rc = put(r, '\0');
	if (rc != OPRA_OK)
		return rc;
	r->nfields++;
	if (r->nfields == CSV_MAX_FIELDS)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%ld: more than %d fields", r->origin,
				    start_line, CSV_MAX_FIELDS - 1);
	r->starts[r->nfields] = r->rec_len;
	return OPRA_OK;
}

int csv_next(csv_reader *r, char ***fields, size_t *n, long *line)
{
	int c, rc;
	*fields = NULL;
	*n = 0;
	if (!r->started) {
		r->started = 1;
		if (peek_char(r) == 0xef) {
			next_char(r);
			if (next_char(r) != 0xbb || next_char(r) != 0xbf)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "%s:1: not UTF-8 text (bad byte order mark)",
						    r->origin);
		}
	}
	for (;;) {
		/* Skip blank lines between records. */
		c = peek_char(r);
		if (c == '\r' || c == '\n') {
			next_char(r);
			if (c == '\n')
				r->line++;
			continue;
		}
		if (c < 0)
			return OPRA_NOT_FOUND;
		break;
	}
	long start_line = r->line;
	r->rec_len = 0;
	r->nfields = 0;
	r->starts[0] = 0;
	int quoted = 0, in_quotes = 0, field_begun = 0;
	for (;;) {
		c = next_char(r);
		if (in_quotes) {
			if (c < 0)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "%s:%ld: unterminated quoted field %zu (a \" "
						    "is missing)",
						    r->origin, start_line, r->nfields + 1);
			if (c == '"') {
				if (peek_char(r) == '"') {
					next_char(r);
					if ((rc = put(r, '"')) != OPRA_OK)
						return rc;
					continue;
				}
				in_quotes = 0;
				continue;
			}
			if (c == '\n')
				r->line++;
			if ((rc = put(r, (char)c)) != OPRA_OK)
				return rc;
			continue;
		}
		if (c < 0 || c == '\n' || c == '\r' || c == ',') {
			if ((rc = end_field(r, start_line)) != OPRA_OK)
				return rc;
			if (c == ',') {
				quoted = 0;
				field_begun = 0;
				continue;
			}
			if (c == '\r' && peek_char(r) == '\n')
				next_char(r);
			if (c == '\n' || c == '\r')
				r->line++;
			break;
		}
		if (c == '"') {
			if (field_begun || quoted)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "%s:%ld: field %zu: a quote inside an unquoted "
						    "field (quote the whole field and double the "
						    "quote: \"a \"\"b\"\"\")",
						    r->origin, r->line, r->nfields + 1);
			quoted = 1;
			in_quotes = 1;
			field_begun = 1;
			continue;
		}
		if (quoted)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s:%ld: field %zu: text after the closing quote",
					    r->origin, r->line, r->nfields + 1);
		if (c == 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s:%ld: field %zu holds a NUL byte (not a text file?)",
					    r->origin, r->line, r->nfields + 1);
		field_begun = 1;
		if ((rc = put(r, (char)c)) != OPRA_OK)
			return rc;
	}
	for (size_t i = 0; i < r->nfields; i++)
		r->fields[i] = r->rec + r->starts[i];
	*fields = r->fields;
	*n = r->nfields;
	*line = start_line;
	return OPRA_OK;
}
