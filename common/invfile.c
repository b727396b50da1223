#include "invfile.h"

#include "csv.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The columns a record may have, and for which kinds. */
enum {
	COL_KIND,
	COL_NAME,
	COL_PARENT,
	COL_SITE,
	COL_UNIT,
	COL_MISSION,
	COL_CRITICALITY,
	COL_TYPE,
	COL_OWNER,
	COL_DESCRIPTION,
	COL_TAGS,
	COL_SERVICE,
	COL_ASSET,
	NCOLS
};

#define K_UNIT	  (1u << INV_UNIT)
#define K_SERVICE (1u << INV_SERVICE)
#define K_ASSET	  (1u << INV_ASSET)
#define K_LINK	  (1u << INV_LINK)

static const struct {
	const char *name;
	unsigned kinds;	   /* kinds the column applies to */
	unsigned required; /* kinds that must have it */
	int is_name;	   /* a name (<= 128, no control chars) vs free text */
} columns[NCOLS] = {
	[COL_KIND] = {"kind", K_UNIT | K_SERVICE | K_ASSET | K_LINK, 0, 0},
	[COL_NAME] = {"name", K_UNIT | K_SERVICE | K_ASSET, K_UNIT | K_SERVICE | K_ASSET, 1},
	[COL_PARENT] = {"parent", K_UNIT, 0, 1},
	[COL_SITE] = {"site", K_UNIT, 0, 0},
	[COL_UNIT] = {"unit", K_SERVICE | K_ASSET, K_SERVICE, 1},
	[COL_MISSION] = {"mission", K_SERVICE, 0, 0},
	[COL_CRITICALITY] = {"criticality", K_SERVICE, 0, 0},
	[COL_TYPE] = {"type", K_ASSET, K_ASSET, 0},
	[COL_OWNER] = {"owner", K_ASSET, 0, 0},
	[COL_DESCRIPTION] = {"description", K_ASSET, 0, 0},
	[COL_TAGS] = {"tags", K_ASSET, 0, 0},
	[COL_SERVICE] = {"service", K_LINK, K_LINK, 1},
	[COL_ASSET] = {"asset", K_LINK, K_LINK, 1},
};

static const char *const kind_names[] = {"unit", "service", "asset", "link"};
static const char *const kind_plural[] = {"units", "services", "assets", "links"};

struct inv_reader {
	char *path;
	FILE *f;
	unsigned long long size;
	int is_json;
	long index;
	/* CSV */
	csv_reader *csv;
	int col_of[NCOLS]; /* header position of each column, -1 if absent */
	size_t ncols_header;
	int fixed_kind; /* -1: from the kind column */
	/* JSON */
	json_t *doc;
	int json_kind;
	size_t json_pos;
	/* current record's tags, split */
	char tagbuf[INVFILE_TEXT_MAX + 1];
};

const char *inv_kind_name(inv_kind k)
{
	return (unsigned)k < 4 ? kind_names[k] : "?";
}

static int kind_from(const char *s)
{
	for (int k = 0; k < 4; k++)
		if (strcmp(s, kind_names[k]) == 0 || strcmp(s, kind_plural[k]) == 0)
			return k;
	return -1;
}

void inv_close(inv_reader *r)
{
	if (r == NULL)
		return;
	csv_close(r->csv);
	if (r->f)
		fclose(r->f);
	json_decref(r->doc);
	opra_free(r->path);
	opra_free(r);
}

unsigned long long inv_progress(const inv_reader *r, unsigned long long *total)
{
	if (total)
		*total = r->size;
	if (r->is_json)
		return r->size;
	return r->csv ? csv_offset(r->csv) : 0;
}

/* "where": "FILE:LINE" for CSV, "FILE: assets[3]" for JSON. */
static void where(const inv_reader *r, const inv_record *rec, char *out, size_t size)
{
	if (r->is_json)
		snprintf(out, size, "%s: %s[%zu]", r->path, kind_plural[rec->kind],
			 r->json_pos - 1);
	else
		snprintf(out, size, "%s:%ld", r->path, rec->line);
}

static int split_tags(inv_reader *r, inv_record *rec, const char *text, const char *at)
{
	snprintf(r->tagbuf, sizeof(r->tagbuf), "%s", text);
	char *save = NULL;
	for (char *t = strtok_r(r->tagbuf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			t[--n] = '\0';
		if (n == 0)
			continue;
		if (rec->n_tags == INVFILE_MAX_TAGS)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s: field 'tags': more than %d tags", at,
					    INVFILE_MAX_TAGS);
		if (opra_name_check("tag", t, 64) != OPRA_OK)
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: field 'tags': %s", at,
					    opra_err_msg());
		rec->tags[rec->n_tags++] = t;
	}
	return OPRA_OK;
}

/* Checks one field value and stores it in rec. */
static int set_field(inv_reader *r, inv_record *rec, int col, const char *v, const char *at)
{
	if (v == NULL || *v == '\0')
		return OPRA_OK;
	if (!(columns[col].kinds & (1u << rec->kind)))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s: field '%s' does not apply to a %s (leave it empty)", at,
				    columns[col].name, kind_names[rec->kind]);
	int rc = columns[col].is_name ? opra_name_check(columns[col].name, v, INVFILE_NAME_MAX)
				      : opra_text_check(columns[col].name, v, INVFILE_TEXT_MAX);
	if (rc != OPRA_OK)
		return opra_err_set(rc, "%s: field '%s': %s", at, columns[col].name,
				    opra_err_msg());
	switch (col) {
	case COL_NAME:
		rec->name = v;
		break;
	case COL_PARENT:
		rec->parent = v;
		break;
	case COL_SITE:
		rec->site = v;
		break;
	case COL_UNIT:
		rec->unit = v;
		break;
	case COL_MISSION:
		rec->mission = v;
		break;
	case COL_CRITICALITY:
		if (strcmp(v, "high") && strcmp(v, "medium") && strcmp(v, "low"))
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"%s: field 'criticality': '%s' is not high, medium or low", at, v);
		rec->criticality = v;
		break;
	case COL_TYPE:
		if (strcmp(v, "people") && strcmp(v, "information") && strcmp(v, "technology") &&
		    strcmp(v, "facilities"))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s: field 'type': unknown asset type '%s' (people, "
					    "information, technology or facilities)",
					    at, v);
		rec->type = v;
		break;
	case COL_OWNER:
		rec->owner = v;
		break;
	case COL_DESCRIPTION:
		rec->description = v;
		break;
	case COL_TAGS:
		return split_tags(r, rec, v, at);
	case COL_SERVICE:
		rec->service = v;
		break;
	case COL_ASSET:
		rec->asset = v;
		break;
	default:
		break;
	}
	return OPRA_OK;
}

static int check_required(const inv_record *rec, const char *at)
{
	const char *have[NCOLS] = {[COL_NAME] = rec->name,
				   [COL_UNIT] = rec->unit,
				   [COL_TYPE] = rec->type,
				   [COL_SERVICE] = rec->service,
				   [COL_ASSET] = rec->asset};
	for (int col = 0; col < NCOLS; col++)
		if ((columns[col].required & (1u << rec->kind)) && have[col] == NULL)
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: a %s needs a '%s'", at,
					    kind_names[rec->kind], columns[col].name);
	return OPRA_OK;
}

/* ---- CSV ---- */

static int csv_header(inv_reader *r, const char *kind)
{
	char **f;
	size_t n;
	long line;
	int rc = csv_next(r->csv, &f, &n, &line);
	if (rc == OPRA_NOT_FOUND)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s is empty (it needs a header row)",
				    r->path);
	if (rc != OPRA_OK)
		return rc;
	for (int c = 0; c < NCOLS; c++)
		r->col_of[c] = -1;
	for (size_t i = 0; i < n; i++) {
		int col = -1;
		for (int c = 0; c < NCOLS; c++)
			if (strcmp(f[i], columns[c].name) == 0)
				col = c;
		if (col < 0)
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"%s:%ld: unknown column '%.64s' (columns: kind, name, "
				"parent, site, unit, mission, criticality, type, owner, "
				"description, tags, service, asset)",
				r->path, line, f[i]);
		if (r->col_of[col] >= 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s:%ld: column '%s' appears twice", r->path, line,
					    f[i]);
		r->col_of[col] = (int)i;
	}
	r->ncols_header = n;
	r->fixed_kind = -1;
	if (r->col_of[COL_KIND] >= 0)
		return OPRA_OK;
	if (kind == NULL) {
		/* units.csv, services.csv, assets-2026.csv, links.csv ... */
		const char *base = strrchr(r->path, '/');
		base = base ? base + 1 : r->path;
		for (int k = 0; k < 4; k++)
			if (strncmp(base, kind_plural[k], strlen(kind_plural[k])) == 0)
				r->fixed_kind = k;
		if (r->fixed_kind < 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s has no 'kind' column: add one, name the file "
					    "units.csv, services.csv, assets.csv or links.csv, or "
					    "pass --kind",
					    r->path);
	} else if ((r->fixed_kind = kind_from(kind)) < 0) {
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown kind '%s' (unit, service, asset or link)", kind);
	}
	return OPRA_OK;
}

static int csv_record(inv_reader *r, inv_record *rec)
{
	char **f;
	size_t n;
	char at[600];
	int rc = csv_next(r->csv, &f, &n, &rec->line);
	if (rc != OPRA_OK)
		return rc;
	snprintf(at, sizeof(at), "%s:%ld", r->path, rec->line);
	if (n != r->ncols_header)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s: %zu fields, but the header has %zu columns", at, n,
				    r->ncols_header);
	if (r->fixed_kind >= 0) {
		rec->kind = (inv_kind)r->fixed_kind;
	} else {
		int k = kind_from(f[r->col_of[COL_KIND]]);
		if (k < 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s: field 'kind': '%.32s' is not unit, service, asset "
					    "or link",
					    at, f[r->col_of[COL_KIND]]);
		rec->kind = (inv_kind)k;
	}
	for (int col = 1; col < NCOLS; col++)
		if (r->col_of[col] >= 0 &&
		    (rc = set_field(r, rec, col, f[r->col_of[col]], at)) != OPRA_OK)
			return rc;
	return check_required(rec, at);
}

/* ---- JSON ---- */

static int json_record(inv_reader *r, inv_record *rec)
{
	char at[600];
	for (;;) {
		if (r->json_kind >= 4)
			return OPRA_NOT_FOUND;
		json_t *arr = json_object_get(r->doc, kind_plural[r->json_kind]);
		if (arr != NULL && !json_is_array(arr))
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: '%s' must be a list",
					    r->path, kind_plural[r->json_kind]);
		if (arr == NULL || r->json_pos >= json_array_size(arr)) {
			r->json_kind++;
			r->json_pos = 0;
			continue;
		}
		json_t *o = json_array_get(arr, r->json_pos++);
		rec->kind = (inv_kind)r->json_kind;
		where(r, rec, at, sizeof(at));
		if (!json_is_object(o))
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: must be an object", at);
		const char *key;
		json_t *v;
		json_object_foreach(o, key, v)
		{
			int col = -1;
			for (int c = 1; c < NCOLS; c++)
				if (strcmp(key, columns[c].name) == 0)
					col = c;
			if (col < 0)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "%s: unknown field '%.64s'", at, key);
			if (col == COL_TAGS && json_is_array(v)) {
				size_t i;
				json_t *t;
				json_array_foreach(v, i, t)
				{
					const char *s = json_string_value(t);
					if (s == NULL)
						return opra_err_set(OPRA_INVALID_ARGUMENT,
								    "%s: field 'tags': tag %zu is "
								    "not a string",
								    at, i + 1);
					if (rec->n_tags == INVFILE_MAX_TAGS)
						return opra_err_set(OPRA_INVALID_ARGUMENT,
								    "%s: field 'tags': more than "
								    "%d tags",
								    at, INVFILE_MAX_TAGS);
					if (opra_name_check("tag", s, 64) != OPRA_OK)
						return opra_err_set(OPRA_INVALID_ARGUMENT,
								    "%s: field 'tags': %s", at,
								    opra_err_msg());
					rec->tags[rec->n_tags++] = s;
				}
				continue;
			}
			if (!json_is_string(v) && !json_is_null(v))
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "%s: field '%s' must be a string", at, key);
			int rc = set_field(r, rec, col, json_string_value(v), at);
			if (rc != OPRA_OK)
				return rc;
		}
		return check_required(rec, at);
	}
}

int inv_open(inv_reader **out, const char *path, const char *format, const char *kind)
{
	inv_reader *r = NULL;
	struct stat st;
	int rc = OPRA_OK;

	*out = NULL;
	r = opra_calloc(1, sizeof(*r));
	if (r == NULL || (r->path = opra_strdup(path)) == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	r->f = fopen(path, "rb");
	if (r->f == NULL) {
		int e = errno;
		rc = opra_err_set(e == ENOENT ? OPRA_NOT_FOUND : OPRA_PERMISSION_DENIED,
				  "cannot open %s: %s", path, strerror(e));
		goto done;
	}
	if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "%s is not a regular file", path);
		goto done;
	}
	r->size = (unsigned long long)st.st_size;
	if (format == NULL) {
		int c;
		while ((c = fgetc(r->f)) == ' ' || c == '\t' || c == '\r' || c == '\n')
			;
		r->is_json = c == '{';
		rewind(r->f);
	} else if (strcmp(format, "json") == 0) {
		r->is_json = 1;
	} else if (strcmp(format, "csv") != 0) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "unknown format '%s' (csv or json)",
				  format);
		goto done;
	}
	if (r->is_json) {
		if (r->size > INVFILE_JSON_MAX) {
			rc = opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"%s is %llu bytes; JSON inventory files are limited to %u "
				"MiB (CSV files have no size limit: use CSV)",
				path, r->size, INVFILE_JSON_MAX / (1024 * 1024));
			goto done;
		}
		json_error_t e;
		r->doc = json_loadf(r->f, JSON_REJECT_DUPLICATES, &e);
		if (r->doc == NULL) {
			rc = opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d:%d: %s", path, e.line,
					  e.column, e.text);
			goto done;
		}
		if (!json_is_object(r->doc)) {
			rc = opra_err_set(OPRA_INVALID_ARGUMENT,
					  "%s: expected an object with units, services, assets "
					  "and links lists",
					  path);
			goto done;
		}
		const char *key;
		json_t *v;
		json_object_foreach(r->doc, key, v)
		{
			if (kind_from(key) < 0 || strcmp(key, kind_names[kind_from(key)]) == 0) {
				rc = opra_err_set(
					OPRA_INVALID_ARGUMENT,
					"%s: unknown key '%.64s' (units, services, assets, "
					"links)",
					path, key);
				goto done;
			}
		}
	} else {
		if ((rc = csv_open(&r->csv, r->f, path)) != OPRA_OK)
			goto done;
		if ((rc = csv_header(r, kind)) != OPRA_OK)
			goto done;
	}
	*out = r;
	r = NULL;
done:
	inv_close(r);
	return rc;
}

int inv_next(inv_reader *r, inv_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	int rc = r->is_json ? json_record(r, rec) : csv_record(r, rec);
	if (rc == OPRA_OK)
		rec->index = ++r->index;
	return rc;
}
