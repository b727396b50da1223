/* Inventory files for bulk import (docs/inventory.md): CSV, streamed record
 * by record with bounded memory, or JSON (read whole, at most
 * INVFILE_JSON_MAX bytes). Every record is checked here, so a bad file is
 * refused with "FILE:LINE: field 'x': ..." before anything is sent.
 *
 * CSV: a header row names the columns (any order, names as below). A
 * `kind` column (unit, service, asset, link) lets one file hold every kind;
 * without it the file holds one kind, given by the caller or taken from the
 * file name (units.csv, services.csv, assets.csv, links.csv).
 *   unit:    name, parent, site
 *   service: name, unit, mission, criticality
 *   asset:   name, type, unit, owner, description, tags (";"-separated)
 *   link:    service, asset
 * JSON: {"units": [...], "services": [...], "assets": [...], "links": [...]}
 * with objects of the same fields ("tags" a list). */
#ifndef OPRA_INVFILE_H
#define OPRA_INVFILE_H

#include <stddef.h>

#define INVFILE_JSON_MAX (64u * 1024 * 1024)
#define INVFILE_NAME_MAX 128
#define INVFILE_TEXT_MAX 4096
#define INVFILE_MAX_TAGS 64

typedef enum { INV_UNIT, INV_SERVICE, INV_ASSET, INV_LINK } inv_kind;

typedef struct {
	inv_kind kind;
	long line;  /* CSV: the record's first line; JSON: 0 */
	long index; /* 1-based position among the records read */
	/* NULL when the column is absent or empty (optional fields). */
	const char *name;
	const char *parent;
	const char *site;
	const char *unit;
	const char *mission;
	const char *criticality;
	const char *type;
	const char *owner;
	const char *description;
	const char *tags[INVFILE_MAX_TAGS];
	size_t n_tags;
	const char *service;
	const char *asset;
} inv_record;

typedef struct inv_reader inv_reader;

/* Opens path. format: "csv", "json" or NULL (by the file's first non-blank
 * byte). kind: for a CSV file without a `kind` column, "unit", "service",
 * "asset" or "link"; NULL to take it from the file name. Caller frees with
 * inv_close. */
int inv_open(inv_reader **out, const char *path, const char *format, const char *kind);
/* The next record; its strings live until the next call. OPRA_NOT_FOUND at
 * the end; INVALID_ARGUMENT naming file, line (or JSON path), field and
 * what is wrong. */
int inv_next(inv_reader *r, inv_record *rec);
/* Bytes read so far and the file's size (for progress). */
unsigned long long inv_progress(const inv_reader *r, unsigned long long *total);
void inv_close(inv_reader *r);

const char *inv_kind_name(inv_kind k);

#endif
