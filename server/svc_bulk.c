/* opra.v1.InventoryBulk: bulk import and export of the inventory
 * (sql/004_bulk.sql, sql/006_bulk_speed.sql, docs/inventory.md).
 *
 * An import is Begin, Stage (batches of at most BULK_BATCH_MAX records,
 * checked like the per-object Inventory methods and stored whole, as COPY
 * text per kind, in one import_batches row), then Commit or Abort. Commit
 * COPYs the batches into temporary tables and applies them in the
 * dispatcher's transaction, set-based, kind by kind: units (upsert by name,
 * then parents, with the cycle check), services, assets, links. Services,
 * assets and links take a fast path first (UPDATE what differs, plain
 * INSERT of the new ones, events built from the staged records) and fall
 * back to INSERT ... ON CONFLICT when someone else created one of the names
 * meanwhile. Any error rolls the whole transaction back, so a failing
 * import changes nothing. A record is the full desired state of its
 * object: a row whose stored values already match is left alone (no new
 * version, no event). dry_run does the same work inside a savepoint and
 * rolls back to it, keeping the import staged for a real Commit or an
 * Abort. */
#include "method.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"
#include "opra_text.h"
#include "token.h"

#include "opra/v1/inventory.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BULK_NAME_MAX	128  /* unit, service and asset names (the schema's CHECK) */
#define BULK_LABEL_MAX	128  /* site, owner */
#define BULK_TEXT_MAX	4096 /* mission, description */
#define BULK_TAG_MAX	64
#define BULK_TAGS_MAX	64
#define BULK_BATCH_MAX	5000 /* records per Stage call */
#define BULK_PAGE_MAX	5000 /* records per Export page */
#define BULK_PAGE_DEF	1000
#define BULK_ID_MAX	64
#define BULK_SOURCE_MAX 1024

/* The same lock svc_inventory takes before moving units (see there). */
#define UNIT_TREE_LOCK_SQL "SELECT pg_advisory_xact_lock(7428139001)"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const asset_types[] = {"people", "information", "technology", "facilities"};
static const char *const criticalities[] = {"high", "medium", "low"};

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* ---- validation (before authentication) ---- */

/* Prefixes the last error with the record's line and field. */
static int field_error(long long line, const char *field, int rc)
{
	char msg[OPRA_ERR_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", opra_err_msg());
	return opra_err_set(rc, "line %lld: field '%s': %s", line, field, msg);
}

static int need_name(long long line, const char *field, const char *s, size_t max)
{
	int rc = opra_name_check("the value", s, max);
	return rc == OPRA_OK ? OPRA_OK : field_error(line, field, rc);
}

static int opt_name(long long line, const char *field, const char *s, size_t max)
{
	return s[0] ? need_name(line, field, s, max) : OPRA_OK;
}

static int opt_text(long long line, const char *field, const char *s)
{
	int rc = opra_text_check("the value", s, BULK_TEXT_MAX);
	return rc == OPRA_OK ? OPRA_OK : field_error(line, field, rc);
}

/* One record, with the rules of the per-object Inventory methods. Fields
 * that do not apply to the record's kind are ignored (a typed CSV file
 * leaves them empty). */
static int record_check(const Opra__V1__BulkRecord *r)
{
	long long line = (long long)r->line;
	const char *kind = r->kind;
	int rc;

	if (strcmp(kind, "unit") == 0) {
		if ((rc = need_name(line, "name", r->name, BULK_NAME_MAX)) != OPRA_OK ||
		    (rc = opt_name(line, "parent", r->parent, BULK_NAME_MAX)) != OPRA_OK ||
		    (rc = opt_name(line, "site", r->site, BULK_LABEL_MAX)) != OPRA_OK)
			return rc;
		if (strcmp(r->name, r->parent) == 0)
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"line %lld: field 'parent': unit '%s' cannot be its own "
				"parent",
				line, r->name);
		return OPRA_OK;
	}
	if (strcmp(kind, "service") == 0) {
		if ((rc = need_name(line, "name", r->name, BULK_NAME_MAX)) != OPRA_OK ||
		    (rc = need_name(line, "unit", r->unit, BULK_NAME_MAX)) != OPRA_OK ||
		    (rc = opt_text(line, "mission", r->mission)) != OPRA_OK)
			return rc;
		if (r->criticality[0] &&
		    !in_list(r->criticality, criticalities, N_OF(criticalities)))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "line %lld: field 'criticality': unknown criticality "
					    "'%.64s': use high, medium or low",
					    line, r->criticality);
		return OPRA_OK;
	}
	if (strcmp(kind, "asset") == 0) {
		if ((rc = need_name(line, "name", r->name, BULK_NAME_MAX)) != OPRA_OK)
			return rc;
		if (!in_list(r->type, asset_types, N_OF(asset_types)))
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"line %lld: field 'type': unknown asset type '%.64s': use "
				"people, information, technology or facilities",
				line, r->type);
		if ((rc = opt_name(line, "unit", r->unit, BULK_NAME_MAX)) != OPRA_OK ||
		    (rc = opt_name(line, "owner", r->owner, BULK_LABEL_MAX)) != OPRA_OK ||
		    (rc = opt_text(line, "description", r->description)) != OPRA_OK)
			return rc;
		if (r->n_tags > BULK_TAGS_MAX)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "line %lld: field 'tags': an asset has at most %d tags "
					    "(got %zu)",
					    line, BULK_TAGS_MAX, r->n_tags);
		for (size_t i = 0; i < r->n_tags; i++)
			if ((rc = need_name(line, "tags", r->tags[i], BULK_TAG_MAX)) != OPRA_OK)
				return rc;
		return OPRA_OK;
	}
	if (strcmp(kind, "link") == 0) {
		if ((rc = need_name(line, "service", r->service, BULK_NAME_MAX)) != OPRA_OK ||
		    (rc = need_name(line, "asset", r->asset, BULK_NAME_MAX)) != OPRA_OK)
			return rc;
		return OPRA_OK;
	}
	return opra_err_set(
		OPRA_INVALID_ARGUMENT,
		"line %lld: field 'kind': unknown kind '%.32s': use unit, service, asset "
		"or link",
		line, kind);
}

static int check_import_id(const char *id)
{
	if (!opra_ascii_token_valid(id, BULK_ID_MAX))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "import_id must be the id BulkBegin returned");
	return OPRA_OK;
}

static int begin_validate(const ProtobufCMessage *in)
{
	const Opra__V1__BulkBeginRequest *r = (const Opra__V1__BulkBeginRequest *)in;
	return opra_text_check("the source", r->source, BULK_SOURCE_MAX);
}

static int stage_validate(const ProtobufCMessage *in)
{
	const Opra__V1__BulkStageRequest *r = (const Opra__V1__BulkStageRequest *)in;
	int rc;
	if ((rc = check_import_id(r->import_id)) != OPRA_OK)
		return rc;
	if (r->seq == 0 || r->seq > 0x7fffffffu)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "seq must be 1, 2, ... (got %u)",
				    r->seq);
	if (r->n_records > BULK_BATCH_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "a batch holds at most %d records (got %zu): send more batches",
				    BULK_BATCH_MAX, r->n_records);
	for (size_t i = 0; i < r->n_records; i++)
		if ((rc = record_check(r->records[i])) != OPRA_OK)
			return rc;
	return OPRA_OK;
}

static int commit_validate(const ProtobufCMessage *in)
{
	return check_import_id(((const Opra__V1__BulkCommitRequest *)in)->import_id);
}

static int abort_validate(const ProtobufCMessage *in)
{
	return check_import_id(((const Opra__V1__BulkAbortRequest *)in)->import_id);
}

static int export_validate(const ProtobufCMessage *in)
{
	const Opra__V1__BulkExportRequest *r = (const Opra__V1__BulkExportRequest *)in;
	static const char *const kinds[] = {"unit", "service", "asset", "link"};
	if (!in_list(r->kind, kinds, N_OF(kinds)))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown kind '%.32s': use unit, service, asset or link",
				    r->kind);
	if (r->limit > BULK_PAGE_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "limit is 1..%d (got %u)", BULK_PAGE_MAX,
				    r->limit);
	return opra_text_check("after", r->after, 2 * BULK_NAME_MAX + 1);
}

/* ---- helpers ---- */

static void id_text(char out[32], long long id)
{
	snprintf(out, 32, "%lld", id);
}

static const char *const kind_names[4] = {"unit", "service", "asset", "link"};
enum { K_UNIT, K_SERVICE, K_ASSET, K_LINK };

/* The kind's index; kinds were checked by stage_validate. */
static int kind_index(const char *kind)
{
	int k = 0;
	while (k < 3 && strcmp(kind_names[k], kind) != 0)
		k++;
	return k;
}

/* What imports holds about an import. */
typedef struct {
	char source[BULK_SOURCE_MAX + 1];
	unsigned long long batches; /* Stage calls with distinct seq */
	unsigned long long records; /* records in them */
} import_info;

/* The import, locked, if it exists and belongs to the caller; NOT_FOUND
 * otherwise (someone else's import is as good as missing). info may be
 * NULL. */
static int import_lock(call *c, const char *import_id, import_info *info)
{
	PGresult *r = NULL;
	char uid[32];
	id_text(uid, c->who->id);
	const char *p[2] = {import_id, uid};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT source, batches, records FROM imports WHERE id = $1 AND "
			 "user_id = $2::bigint FOR UPDATE",
			 2, p);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) != 1) {
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "no import '%s' of yours: start one with BulkBegin (imports end "
				  "with Commit or Abort)",
				  import_id);
		goto done;
	}
	if (info) {
		snprintf(info->source, sizeof(info->source), "%s", PQgetvalue(r, 0, 0));
		info->batches = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
		info->records = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
	}
done:
	PQclear(r);
	return rc;
}

/* Appends s as a JSON string. */
static int json_string_append(opra_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	int rc = opra_buf_append(b, "\"", 1);
	for (const char *p = s; rc == OPRA_OK; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch != '\0' && ch != '"' && ch != '\\' && ch >= 0x20)
			continue;
		if (p > run)
			rc = opra_buf_append(b, run, (size_t)(p - run));
		if (ch == '\0' || rc != OPRA_OK)
			break;
		if (ch == '"' || ch == '\\') {
			char pair[2] = {'\\', (char)ch};
			rc = opra_buf_append(b, pair, 2);
		} else {
			char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			rc = opra_buf_append(b, u, 6);
		}
		run = p + 1;
	}
	if (rc == OPRA_OK)
		rc = opra_buf_append(b, "\"", 1);
	return rc;
}

/* The tags of a record as a JSON array text in out (reset first),
 * duplicates dropped. */
static int tags_json(opra_buf *out, char *const *tags, size_t n)
{
	int rc = OPRA_OK;
	opra_buf_reset(out);
	rc = opra_buf_append(out, "[", 1);
	for (size_t i = 0, written = 0; rc == OPRA_OK && i < n; i++) {
		size_t k = 0;
		while (k < i && strcmp(tags[k], tags[i]) != 0)
			k++;
		if (k < i)
			continue;
		if (written++ > 0)
			rc = opra_buf_append(out, ",", 1);
		if (rc == OPRA_OK)
			rc = json_string_append(out, tags[i]);
	}
	if (rc == OPRA_OK)
		rc = opra_buf_append(out, "]", 1);
	return rc;
}

/* ---- Begin, Stage, Abort ---- */

static int bulk_begin(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__BulkBeginRequest *req = (const Opra__V1__BulkBeginRequest *)in;
	char id[33], uid[32];
	opra_random_hex(id, 16);
	id_text(uid, c->who->id);
	const char *p[3] = {id, uid, req->source};
	int rc = db_cmd(c->db,
			"INSERT INTO imports (id, user_id, source) VALUES ($1, $2::bigint, $3)", 3,
			p);
	if (rc != OPRA_OK)
		return rc;
	Opra__V1__BulkBeginReply reply = OPRA__V1__BULK_BEGIN_REPLY__INIT;
	reply.import_id = id;
	return call_reply(c, &reply.base);
}

/* Appends a COPY text field holding v (db_copy_field_long without
 * snprintf: three of these per record). */
static int copy_number(opra_buf *b, unsigned long long v)
{
	char digits[24];
	size_t i = sizeof(digits);
	digits[--i] = '\t';
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return opra_buf_append(b, digits + i, sizeof(digits) - i);
}

/* The event's after image of a service or asset this record creates, as
 * the JSON text Commit stores when it does (the same object the per-object
 * methods write; version 1, the schema's default). Built here, per batch,
 * rather than with jsonb_build_object in the Commit's one transaction.
 * tags: the asset's tags as JSON (tags_json). */
static int created_image(opra_buf *out, const Opra__V1__BulkRecord *r, const char *tags)
{
	const char *crit = r->criticality[0] ? r->criticality : "medium";
	int rc;
	opra_buf_reset(out);
	rc = opra_buf_puts(out, "{\"name\":");
	if (rc == OPRA_OK)
		rc = json_string_append(out, r->name);
	if (tags == NULL) { /* a service */
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"unit\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, r->unit);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"mission\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, r->mission);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"criticality\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, crit);
	} else {
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"type\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, r->type);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"unit\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, r->unit);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"owner\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, r->owner);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"description\":");
		if (rc == OPRA_OK)
			rc = json_string_append(out, r->description);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, ",\"tags\":");
		if (rc == OPRA_OK)
			rc = opra_buf_puts(out, tags);
	}
	if (rc == OPRA_OK)
		rc = opra_buf_puts(out, ",\"version\":1,\"removed\":false}");
	return rc;
}

/* One record as a row of its kind's COPY text (the columns of the bulk_*
 * tables Commit loads it into, sql/006_bulk_speed.sql). Only the kind's own
 * fields are kept: the others were not checked and do not apply. */
static int stage_record(opra_buf rows[4], opra_buf scratch[2], unsigned seq, size_t ord,
			const Opra__V1__BulkRecord *r)
{
	int k = kind_index(r->kind);
	opra_buf *b = &rows[k];
	int rc;

	if ((rc = copy_number(b, seq)) != OPRA_OK || (rc = copy_number(b, ord)) != OPRA_OK ||
	    (rc = copy_number(b, r->line < 0 ? 0 : (unsigned long long)r->line)) != OPRA_OK)
		return oom();
	switch (k) {
	case K_UNIT:
		rc = db_copy_field(b, r->name, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->parent, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->site, 1);
		break;
	case K_SERVICE:
		rc = db_copy_field(b, r->name, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->unit, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->mission, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->criticality, 0);
		if (rc == OPRA_OK)
			rc = created_image(&scratch[1], r, NULL);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, (const char *)scratch[1].data, 1);
		break;
	case K_ASSET:
		rc = tags_json(&scratch[0], r->tags, r->n_tags);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->name, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->type, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->unit, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->owner, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->description, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, (const char *)scratch[0].data, 0);
		if (rc == OPRA_OK)
			rc = created_image(&scratch[1], r, (const char *)scratch[0].data);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, (const char *)scratch[1].data, 1);
		break;
	default:
		rc = db_copy_field(b, r->service, 0);
		if (rc == OPRA_OK)
			rc = db_copy_field(b, r->asset, 1);
		break;
	}
	return rc == OPRA_OK ? OPRA_OK : oom();
}

static const char *buf_text(const opra_buf *b)
{
	return b->len ? (const char *)b->data : "";
}

/* A batch is stored whole, as one row of import_batches holding its records
 * as COPY text per kind: one small write per call instead of one row (and
 * index entries) per record. imports counts the batches and records, so
 * Commit notices staged rows a database crash took away (import_batches is
 * UNLOGGED). */
static int bulk_stage(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__BulkStageRequest *req = (const Opra__V1__BulkStageRequest *)in;
	opra_buf rows[4] = {OPRA_BUF_INIT, OPRA_BUF_INIT, OPRA_BUF_INIT, OPRA_BUF_INIT};
	opra_buf scratch[2] = {OPRA_BUF_INIT, OPRA_BUF_INIT};
	PGresult *r = NULL;
	char seq[16], n[16], new_batch[4], delta[32];
	long long old_records = 0;
	int rc;

	/* About the size of the batch: one growth instead of many. */
	if (opra_buf_reserve(&rows[kind_index(req->n_records ? req->records[0]->kind : "unit")],
			     req->n_records * 96) == NULL) {
		rc = oom();
		goto done;
	}
	for (size_t i = 0; i < req->n_records; i++)
		if ((rc = stage_record(rows, scratch, req->seq, i, req->records[i])) != OPRA_OK)
			goto done;
	/* The rows are built before the lock: two batches of one import sent
	 * at once wait for each other only while they are written. */
	if ((rc = import_lock(c, req->import_id, NULL)) != OPRA_OK)
		goto done;
	snprintf(seq, sizeof(seq), "%u", req->seq);
	snprintf(n, sizeof(n), "%zu", req->n_records);
	/* A batch sent again under a new key replaces its first copy. */
	const char *pd[2] = {req->import_id, seq};
	if ((rc = db_exec(&r, c->db, 1,
			  "DELETE FROM import_batches WHERE import_id = $1 AND seq = $2::integer "
			  "RETURNING records",
			  2, pd)) != OPRA_OK)
		goto done;
	if (PQntuples(r) > 0)
		old_records = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(new_batch, sizeof(new_batch), "%d", PQntuples(r) > 0 ? 0 : 1);
	snprintf(delta, sizeof(delta), "%lld", (long long)req->n_records - old_records);
	PQclear(r);
	r = NULL;
	const char *pi[7] = {req->import_id,
			     seq,
			     n,
			     buf_text(&rows[K_UNIT]),
			     buf_text(&rows[K_SERVICE]),
			     buf_text(&rows[K_ASSET]),
			     buf_text(&rows[K_LINK])};
	if ((rc = db_cmd(c->db,
			 "INSERT INTO import_batches (import_id, seq, records, units, services, "
			 "assets, links) VALUES ($1, $2::integer, $3::integer, $4, $5, $6, $7)",
			 7, pi)) != OPRA_OK)
		goto done;
	const char *pu[3] = {req->import_id, new_batch, delta};
	if ((rc = db_exec(&r, c->db, 1,
			  "UPDATE imports SET batches = batches + $2::integer, records = records + "
			  "$3::bigint WHERE id = $1 RETURNING records",
			  3, pu)) != OPRA_OK)
		goto done;
	Opra__V1__BulkStageReply reply = OPRA__V1__BULK_STAGE_REPLY__INIT;
	reply.staged = (uint32_t)req->n_records;
	reply.total_staged = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	rc = call_reply(c, &reply.base);
done:
	PQclear(r);
	for (int k = 0; k < 4; k++)
		opra_buf_free(&rows[k]);
	opra_buf_free(&scratch[0]);
	opra_buf_free(&scratch[1]);
	return rc;
}

static int import_delete(call *c, const char *import_id)
{
	const char *p[1] = {import_id};
	return db_cmd(c->db, "DELETE FROM imports WHERE id = $1", 1, p);
}

static int bulk_abort(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__BulkAbortRequest *req = (const Opra__V1__BulkAbortRequest *)in;
	int rc;
	if ((rc = import_lock(c, req->import_id, NULL)) != OPRA_OK ||
	    (rc = import_delete(c, req->import_id)) != OPRA_OK)
		return rc;
	Opra__V1__BulkAbortReply reply = OPRA__V1__BULK_ABORT_REPLY__INIT;
	return call_reply(c, &reply.base);
}

/* ---- Commit ---- */

/* Commit first loads the staged batches into temporary tables, one per kind
 * (COPY, no indexes, dropped at the end of the transaction), then applies
 * them kind by kind. Statements that write events take $1..$6 = the
 * event's actor id, actor, client id, site, peer, method. */
#define EV_INSERT                                                                                  \
	"INSERT INTO events (actor_id, actor, client_id, site, peer, method, object, before, "     \
	"after) SELECT $1::bigint, $2, $3, $4, $5, $6, "

static const char *const stage_tables[4] = {
	"CREATE TEMP TABLE bulk_unit (seq integer NOT NULL, ord integer NOT NULL, line bigint NOT "
	"NULL, name text NOT NULL, parent text NOT NULL, site text NOT NULL, "
	"created boolean NOT NULL DEFAULT false, old_parent bigint) ON COMMIT DROP",
	"CREATE TEMP TABLE bulk_service (seq integer NOT NULL, ord integer NOT NULL, line bigint "
	"NOT NULL, name text NOT NULL, unit text NOT NULL, mission text NOT NULL, criticality "
	"text NOT NULL, created_after text NOT NULL) ON COMMIT DROP",
	"CREATE TEMP TABLE bulk_asset (seq integer NOT NULL, ord integer NOT NULL, line bigint NOT "
	"NULL, name text NOT NULL, type text NOT NULL, unit text NOT NULL, owner text NOT NULL, "
	"description text NOT NULL, tags jsonb NOT NULL, created_after text NOT NULL) ON COMMIT "
	"DROP",
	("CREATE TEMP TABLE bulk_link (seq integer NOT NULL, ord integer NOT NULL, line bigint NOT "
	 "NULL, service text NOT NULL, asset text NOT NULL) ON COMMIT DROP"),
};

static const char *const stage_copy[4] = {
	"COPY bulk_unit (seq, ord, line, name, parent, site) FROM STDIN",
	"COPY bulk_service (seq, ord, line, name, unit, mission, criticality, created_after) FROM "
	"STDIN",
	"COPY bulk_asset (seq, ord, line, name, type, unit, owner, description, tags, "
	"created_after) FROM STDIN",
	"COPY bulk_link (seq, ord, line, service, asset) FROM STDIN",
};

typedef struct {
	call *c;
	const char *ev[6];
	char uid[32];
	unsigned long long staged[4], created[4], updated[4];
} commit_ctx;

static void commit_ctx_init(commit_ctx *x, call *c)
{
	memset(x, 0, sizeof(*x));
	x->c = c;
	id_text(x->uid, c->who->id);
	x->ev[0] = x->uid;
	x->ev[1] = c->who->name;
	x->ev[2] = c->req->client_id;
	x->ev[3] = c->req->site;
	x->ev[4] = c->peer ? c->peer : "";
	x->ev[5] = c->req->method;
}

/* COPYs text (whole rows) into the kind's table. */
static int copy_rows(commit_ctx *x, int kind, const char *text, size_t len)
{
	opra_buf rows = {(uint8_t *)text, len, len, 0};
	int rc;
	if ((rc = db_copy_begin(x->c->db, stage_copy[kind])) != OPRA_OK)
		return rc;
	if ((rc = db_copy_put(x->c->db, &rows)) != OPRA_OK) {
		db_copy_end(x->c->db);
		return rc;
	}
	return db_copy_end(x->c->db);
}

static unsigned long long count_lines(const char *s, size_t len)
{
	unsigned long long n = 0;
	for (const char *p = s, *end = s + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
	     p++)
		n++;
	return n;
}

/* Loads every staged batch, in seq order, into the bulk_* tables and counts
 * the records per kind. The batches must be all that Stage stored. */
static int load_staged(commit_ctx *x, const char *import_id, const import_info *info)
{
	PGresult *r = NULL;
	char after[16] = "0";
	int rc = OPRA_OK;

	for (int k = 0; k < 4; k++)
		if ((rc = db_cmd(x->c->db, stage_tables[k], 0, NULL)) != OPRA_OK)
			return rc;
	const char *pc[1] = {import_id};
	if ((rc = db_exec(&r, x->c->db, 1,
			  "SELECT count(*), coalesce(sum(records), 0) FROM import_batches WHERE "
			  "import_id = $1",
			  1, pc)) != OPRA_OK)
		return rc;
	unsigned long long batches = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	unsigned long long records = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	r = NULL;
	if (batches != info->batches || records != info->records)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "import '%s' lost staged records (%llu of %llu batches are "
				    "left; the database restarted since they were sent): Abort it "
				    "and run the import again",
				    import_id, batches, info->batches);
	/* One batch at a time, so memory stays at one batch however large the
	 * import. */
	for (;;) {
		const char *p[2] = {import_id, after};
		if ((rc = db_exec(&r, x->c->db, 1,
				  "SELECT seq, units, services, assets, links FROM import_batches "
				  "WHERE import_id = $1 AND seq > $2::integer ORDER BY seq LIMIT 1",
				  2, p)) != OPRA_OK)
			return rc;
		if (PQntuples(r) == 0)
			break;
		snprintf(after, sizeof(after), "%s", PQgetvalue(r, 0, 0));
		for (int k = 0; k < 4 && rc == OPRA_OK; k++) {
			size_t len = (size_t)PQgetlength(r, 0, k + 1);
			if (len == 0)
				continue;
			x->staged[k] += count_lines(PQgetvalue(r, 0, k + 1), len);
			rc = copy_rows(x, k, PQgetvalue(r, 0, k + 1), len);
		}
		PQclear(r);
		r = NULL;
		if (rc != OPRA_OK)
			return rc;
	}
	PQclear(r);
	return OPRA_OK;
}

/* A check query without parameters: returns rows that describe the first
 * problem (line and names); fmt turns row 0 into the message. No rows:
 * OPRA_OK. */
static int first_problem(commit_ctx *x, int code, const char *sql, const char *fmt)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, sql, 0, NULL);
	if (rc == OPRA_OK && PQntuples(r) > 0) {
		const char *v[4] = {"", "", "", ""};
		for (int i = 0; i < PQnfields(r) && i < 4; i++)
			v[i] = PQgetvalue(r, 0, i);
			/* fmt is one of this file's constant formats with four %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		rc = opra_err_set(code, fmt, v[0], v[1], v[2], v[3]);
#pragma GCC diagnostic pop
	}
	PQclear(r);
	return rc;
}

/* Runs a statement with the event parameters; the first row's values go
 * to out[0..n-1]. */
static int apply(commit_ctx *x, const char *sql, unsigned long long *out, int n)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, sql, 6, x->ev);
	for (int i = 0; rc == OPRA_OK && i < n; i++)
		out[i] = strtoull(PQgetvalue(r, 0, i), NULL, 10);
	PQclear(r);
	return rc;
}

/* Runs a query whose rows are not needed (row locks). */
static int query(commit_ctx *x, const char *sql)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, sql, 0, NULL);
	PQclear(r);
	return rc;
}

/* ---- duplicates ---- */

/* Two records for one object: the GROUP BY finds out cheaply whether there
 * is such a pair, the window names the first one in file order. */
static const char *const dup_exists_sql[4] = {
	"SELECT 1 FROM bulk_unit GROUP BY name HAVING count(*) > 1 LIMIT 1",
	"SELECT 1 FROM bulk_service GROUP BY name HAVING count(*) > 1 LIMIT 1",
	"SELECT 1 FROM bulk_asset GROUP BY name HAVING count(*) > 1 LIMIT 1",
	"SELECT 1 FROM bulk_link GROUP BY service, asset HAVING count(*) > 1 LIMIT 1",
};

#define DUP_FIRST(key, part, table)                                                                \
	"SELECT line::text, first::text, key FROM (SELECT r.seq, r.ord, r.line, " key " AS key, "  \
	"first_value(r.line) OVER w AS first, row_number() OVER w AS n FROM " table " r WINDOW "   \
	"w AS (PARTITION BY " part " ORDER BY r.seq, r.ord)) d WHERE n > 1 ORDER BY seq, ord "     \
	"LIMIT 1"

static const char *const dup_first_sql[4] = {
	DUP_FIRST("r.name", "r.name", "bulk_unit"),
	DUP_FIRST("r.name", "r.name", "bulk_service"),
	DUP_FIRST("r.name", "r.name", "bulk_asset"),
	DUP_FIRST("r.service || ' -> ' || r.asset", "r.service, r.asset", "bulk_link"),
};

#define DUP_MSG(kind)                                                                              \
	"line %s: duplicate record (line %s has the same " kind " '%s'): an import names each "    \
	"object once%s"

static const char *const dup_msg[4] = {DUP_MSG("unit"), DUP_MSG("service"), DUP_MSG("asset"),
				       DUP_MSG("link")};

static int check_duplicates(commit_ctx *x, int kind)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, dup_exists_sql[kind], 0, NULL);
	int found = rc == OPRA_OK && PQntuples(r) > 0;
	PQclear(r);
	if (rc != OPRA_OK || !found)
		return rc;
	return first_problem(x, OPRA_INVALID_ARGUMENT, dup_first_sql[kind], dup_msg[kind]);
}

/* Runs the fast statement of a kind (plain INSERTs of the new objects, no
 * ON CONFLICT) in a savepoint. A unique violation means two records for
 * one new object, or someone else created one of the names meanwhile: the
 * statement is rolled back, *conflict set, and the caller looks for
 * duplicates and then takes the upsert path. */
static int fast_apply(commit_ctx *x, const char *sql, unsigned long long *out, int n, int *conflict)
{
	int rc;
	*conflict = 0;
	if ((rc = db_cmd(x->c->db, "SAVEPOINT bulk_fast", 0, NULL)) != OPRA_OK)
		return rc;
	rc = apply(x, sql, out, n);
	if (rc != OPRA_OK && strcmp(db_last_sqlstate(x->c->db), "23505") == 0) {
		*conflict = 1;
		opra_err_clear();
		if ((rc = db_cmd(x->c->db, "ROLLBACK TO SAVEPOINT bulk_fast", 0, NULL)) != OPRA_OK)
			return rc;
	}
	if (rc != OPRA_OK)
		return rc;
	return db_cmd(x->c->db, "RELEASE SAVEPOINT bulk_fast", 0, NULL);
}

/* ---- units ---- */

/* Create the missing units, then set sites and parents. */
static int apply_units(commit_ctx *x)
{
	int rc;
	if (x->staged[K_UNIT] == 0)
		return OPRA_OK;
	if ((rc = check_duplicates(x, K_UNIT)) != OPRA_OK)
		return rc;
	/* New units first, without parents, so parents may be defined anywhere
	 * in the import. */
	if ((rc = db_cmd(x->c->db,
			 "WITH ins AS (INSERT INTO units (name, site) SELECT r.name, r.site FROM "
			 "bulk_unit r ORDER BY r.name ON CONFLICT (name) WHERE removed_at IS NULL "
			 "DO NOTHING RETURNING name) "
			 "UPDATE bulk_unit r SET created = true FROM ins WHERE r.name = ins.name",
			 0, NULL)) != OPRA_OK)
		return rc;
	if ((rc = first_problem(
		     x, OPRA_INVALID_ARGUMENT,
		     "SELECT r.line::text, r.name, r.parent FROM bulk_unit r WHERE "
		     "r.parent <> '' AND NOT EXISTS (SELECT 1 FROM units p WHERE p.name "
		     "= r.parent AND p.removed_at IS NULL) ORDER BY r.seq, r.ord LIMIT 1",
		     "line %s: field 'parent': unit '%s' names parent '%s', which is "
		     "neither in the import nor an existing unit%s")) != OPRA_OK)
		return rc;
	/* The tree as it would be: staged units take their new parent, the
	 * others keep theirs. A staged unit that reaches itself going up closes
	 * a cycle. */
	if ((rc = first_problem(
		     x, OPRA_INVALID_ARGUMENT,
		     "WITH RECURSIVE st AS (SELECT r.name, nullif(r.parent, '') AS parent, r.line, "
		     "r.seq, r.ord FROM bulk_unit r), "
		     "pp AS (SELECT name, parent FROM st UNION ALL SELECT u.name, p.name FROM "
		     "units "
		     "u JOIN units p ON p.id = u.parent_id WHERE u.removed_at IS NULL AND NOT "
		     "EXISTS (SELECT 1 FROM st WHERE st.name = u.name)), "
		     "walk(start, cur) AS (SELECT name, parent FROM st WHERE parent IS NOT NULL "
		     "UNION SELECT w.start, pp.parent FROM walk w JOIN pp ON pp.name = w.cur WHERE "
		     "w.cur <> w.start AND pp.parent IS NOT NULL) "
		     "SELECT st.line::text, st.name, st.parent FROM walk JOIN st ON st.name = "
		     "walk.start WHERE walk.cur = walk.start ORDER BY st.seq, st.ord LIMIT 1",
		     "line %s: field 'parent': unit '%s' cannot be placed under '%s': that unit is "
		     "inside its subtree (a unit cannot be its own ancestor)%s")) != OPRA_OK)
		return rc;
	/* Remember the parents, then detach the units that move, so that no
	 * intermediate state of the parent update below holds a cycle (the
	 * trigger checks each row as it goes). */
	if ((rc = db_cmd(x->c->db,
			 "UPDATE bulk_unit r SET old_parent = u.parent_id FROM units u WHERE "
			 "u.name = r.name AND u.removed_at IS NULL",
			 0, NULL)) != OPRA_OK)
		return rc;
	if ((rc = db_cmd(x->c->db,
			 "UPDATE units u SET parent_id = NULL FROM bulk_unit r LEFT JOIN units p "
			 "ON p.name = r.parent AND p.removed_at IS NULL WHERE u.name = r.name AND "
			 "u.removed_at IS NULL AND u.parent_id IS NOT NULL AND u.parent_id IS "
			 "DISTINCT FROM p.id",
			 0, NULL)) != OPRA_OK)
		return rc;
	unsigned long long v[2] = {0, 0};
	rc = apply(
		x,
		"WITH s AS (SELECT r.name, r.site, r.created, r.old_parent, p.id AS parent_id "
		"  FROM bulk_unit r LEFT JOIN units p ON p.name = r.parent AND p.removed_at IS "
		"NULL), "
		"upd AS (UPDATE units u SET site = s.site, parent_id = s.parent_id, "
		"  version = u.version + CASE WHEN s.created THEN 0 ELSE 1 END, "
		"  updated_at = CASE WHEN s.created THEN u.updated_at ELSE now() END "
		"  FROM s, units o WHERE u.name = s.name AND u.removed_at IS NULL AND o.id = u.id "
		"  AND (s.created OR u.site IS DISTINCT FROM s.site OR s.old_parent IS DISTINCT "
		"FROM s.parent_id) "
		"  RETURNING u.name, u.site, u.version, s.created, s.parent_id, s.old_parent, "
		"o.site AS old_site, o.version AS old_version), "
		"ev AS (" EV_INSERT "'unit:' || upd.name, "
		"  CASE WHEN upd.created THEN NULL ELSE jsonb_build_object('name', upd.name, "
		"'parent', coalesce(op.name, ''), 'site', upd.old_site, 'version', "
		"upd.old_version, 'removed', false) END, "
		"  jsonb_build_object('name', upd.name, 'parent', coalesce(np.name, ''), 'site', "
		"upd.site, 'version', upd.version, 'removed', false) "
		"  FROM upd LEFT JOIN units op ON op.id = upd.old_parent LEFT JOIN units np ON "
		"np.id = upd.parent_id) "
		"SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM "
		"upd",
		v, 2);
	x->created[K_UNIT] = v[0];
	x->updated[K_UNIT] = v[1];
	return rc;
}

/* ---- services ---- */

/* The fast path: existing services are updated where they differ, new ones
 * INSERTed; one event per created or changed service (a created one has no
 * before image). Returns created, updated, records naming a missing unit,
 * and records naming an existing service a second time. */
#define SERVICES_FAST                                                                              \
	"WITH s AS MATERIALIZED (SELECT r.name, r.unit, un.id AS unit_id, r.mission, "             \
	"coalesce(nullif(r.criticality, ''), 'medium') AS criticality, r.created_after, v.id, "    \
	"ou.name AS old_unit, v.mission AS old_mission, v.criticality AS old_criticality, "        \
	"v.version AS old_version FROM bulk_service r "                                            \
	"LEFT JOIN units un ON un.name = r.unit AND un.removed_at IS NULL "                        \
	"LEFT JOIN services v ON v.name = r.name AND v.removed_at IS NULL "                        \
	"LEFT JOIN units ou ON ou.id = v.unit_id), "                                               \
	"upd AS (UPDATE services v SET unit_id = s.unit_id, mission = s.mission, criticality = "   \
	"s.criticality, version = v.version + 1, updated_at = now() FROM s WHERE v.id = s.id "     \
	"AND s.unit_id IS NOT NULL AND (v.unit_id, v.mission, v.criticality) IS DISTINCT FROM "    \
	"(s.unit_id, s.mission, s.criticality) RETURNING s.name, s.unit, s.mission, "              \
	"s.criticality, v.version, s.old_unit, s.old_mission, s.old_criticality, "                 \
	"s.old_version), "                                                                         \
	"ins AS (INSERT INTO services (name, unit_id, mission, criticality) SELECT name, "         \
	"unit_id, mission, criticality FROM s WHERE id IS NULL AND unit_id IS NOT NULL), "         \
	"ev AS (" EV_INSERT "'service:' || e.name, e.before, e.after FROM ("                       \
	"SELECT name, jsonb_build_object('name', name, 'unit', old_unit, 'mission', "              \
	"old_mission, 'criticality', old_criticality, 'version', old_version, 'removed', false) "  \
	"AS before, jsonb_build_object('name', name, 'unit', unit, 'mission', mission, "           \
	"'criticality', criticality, 'version', version, 'removed', false) AS after FROM upd "     \
	"UNION ALL SELECT name, NULL, created_after::jsonb FROM s WHERE id IS NULL AND unit_id "   \
	"IS NOT NULL) e) "                                                                         \
	"SELECT count(*) FILTER (WHERE id IS NULL AND unit_id IS NOT NULL), (SELECT count(*) "     \
	"FROM upd), count(*) FILTER (WHERE unit_id IS NULL), (SELECT count(*) FROM (SELECT id "    \
	"FROM s WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1) d) FROM s"

/* The upsert path, after a unique violation in the fast one: ON CONFLICT
 * waits for and then updates a service someone else just created. */
#define SERVICES_UPSERT                                                                            \
	"WITH s AS MATERIALIZED (SELECT r.name, un.id AS unit_id, r.mission, "                     \
	"coalesce(nullif(r.criticality, ''), 'medium') AS criticality FROM bulk_service r JOIN "   \
	"units un ON un.name = r.unit AND un.removed_at IS NULL), "                                \
	"old AS MATERIALIZED (SELECT v.id, v.name, ou.name AS unit, v.mission, v.criticality, "    \
	"v.version FROM services v JOIN units ou ON ou.id = v.unit_id WHERE v.removed_at IS NULL " \
	"AND v.name IN (SELECT name FROM s)), "                                                    \
	"up AS (INSERT INTO services (name, unit_id, mission, criticality) SELECT name, unit_id, " \
	"mission, criticality FROM s ORDER BY name ON CONFLICT (name) WHERE removed_at IS NULL "   \
	"DO UPDATE SET unit_id = EXCLUDED.unit_id, mission = EXCLUDED.mission, criticality = "     \
	"EXCLUDED.criticality, version = services.version + 1, updated_at = now() WHERE "          \
	"(services.unit_id, services.mission, services.criticality) IS DISTINCT FROM "             \
	"(EXCLUDED.unit_id, EXCLUDED.mission, EXCLUDED.criticality) RETURNING id, name, unit_id, " \
	"mission, criticality, version, (xmax = 0) AS created), "                                  \
	"ev AS (" EV_INSERT "'service:' || up.name, CASE WHEN up.created THEN NULL ELSE "          \
	"jsonb_build_object('name', old.name, 'unit', old.unit, 'mission', old.mission, "          \
	"'criticality', old.criticality, 'version', old.version, 'removed', false) END, "          \
	"jsonb_build_object('name', up.name, 'unit', nu.name, 'mission', up.mission, "             \
	"'criticality', up.criticality, 'version', up.version, 'removed', false) FROM up JOIN "    \
	"units nu ON nu.id = up.unit_id LEFT JOIN old ON old.id = up.id) "                         \
	"SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up"

/* Services: upsert by name; the unit must exist. */
static int apply_services(commit_ctx *x)
{
	unsigned long long v[4] = {0, 0, 0, 0};
	int conflict = 0, rc;
	if (x->staged[K_SERVICE] == 0)
		return OPRA_OK;
	if ((rc = fast_apply(x, SERVICES_FAST, v, 4, &conflict)) != OPRA_OK)
		return rc;
	if (conflict || v[2] > 0 || v[3] > 0) {
		if ((rc = first_problem(
			     x, OPRA_INVALID_ARGUMENT,
			     "SELECT r.line::text, r.name, r.unit FROM bulk_service r "
			     "WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.name = "
			     "r.unit AND u.removed_at IS NULL) ORDER BY r.seq, r.ord LIMIT 1",
			     "line %s: field 'unit': service '%s' names unit '%s', which is "
			     "neither in the import nor an existing unit%s")) != OPRA_OK ||
		    (rc = check_duplicates(x, K_SERVICE)) != OPRA_OK)
			return rc;
	}
	if (conflict && (rc = apply(x, SERVICES_UPSERT, v, 2)) != OPRA_OK)
		return rc;
	x->created[K_SERVICE] = v[0];
	x->updated[K_SERVICE] = v[1];
	return OPRA_OK;
}

/* ---- assets ---- */

/* As SERVICES_FAST; the unit is optional ('' for none). */
#define ASSETS_FAST                                                                                \
	"WITH s AS MATERIALIZED (SELECT r.name, r.type, r.unit, un.id AS unit_id, r.owner, "       \
	"r.description, r.tags, r.created_after, r.unit = '' OR un.id IS NOT NULL AS ok, a.id, "   \
	"a.type AS old_type, coalesce(ou.name, '') AS old_unit, a.owner AS old_owner, "            \
	"a.description AS old_description, a.tags AS old_tags, a.version AS old_version "          \
	"FROM bulk_asset r "                                                                       \
	"LEFT JOIN units un ON un.name = r.unit AND un.removed_at IS NULL "                        \
	"LEFT JOIN assets a ON a.name = r.name AND a.removed_at IS NULL "                          \
	"LEFT JOIN units ou ON ou.id = a.unit_id), "                                               \
	"upd AS (UPDATE assets a SET type = s.type, unit_id = s.unit_id, owner = s.owner, "        \
	"description = s.description, tags = s.tags, version = a.version + 1, updated_at = now() " \
	"FROM s WHERE a.id = s.id AND s.ok AND (a.type, a.unit_id, a.owner, a.description, "       \
	"a.tags) IS DISTINCT FROM (s.type, s.unit_id, s.owner, s.description, s.tags) RETURNING "  \
	"s.name, s.type, s.unit, s.owner, s.description, s.tags, a.version, s.old_type, "          \
	"s.old_unit, s.old_owner, s.old_description, s.old_tags, s.old_version), "                 \
	"ins AS (INSERT INTO assets (name, type, unit_id, owner, description, tags) SELECT name, " \
	"type, unit_id, owner, description, tags FROM s WHERE id IS NULL AND ok), "                \
	"ev AS (" EV_INSERT "'asset:' || e.name, e.before, e.after FROM ("                         \
	"SELECT name, jsonb_build_object('name', name, 'type', old_type, 'unit', old_unit, "       \
	"'owner', old_owner, 'description', old_description, 'tags', old_tags, 'version', "        \
	"old_version, 'removed', false) AS before, jsonb_build_object('name', name, 'type', "      \
	"type, 'unit', unit, 'owner', owner, 'description', description, 'tags', tags, "           \
	"'version', version, 'removed', false) AS after FROM upd "                                 \
	"UNION ALL SELECT name, NULL, created_after::jsonb FROM s WHERE id IS NULL AND ok) e) "    \
	"SELECT count(*) FILTER (WHERE id IS NULL AND ok), (SELECT count(*) FROM upd), "           \
	"count(*) FILTER (WHERE NOT ok), (SELECT count(*) FROM (SELECT id FROM s WHERE id IS "     \
	"NOT NULL GROUP BY id HAVING count(*) > 1) d) FROM s"

#define ASSETS_UPSERT                                                                              \
	"WITH s AS MATERIALIZED (SELECT r.name, r.type, un.id AS unit_id, r.owner, "               \
	"r.description, r.tags FROM bulk_asset r LEFT JOIN units un ON un.name = r.unit AND "      \
	"un.removed_at IS NULL), "                                                                 \
	"old AS MATERIALIZED (SELECT a.id, a.name, a.type, coalesce(ou.name, '') AS unit, "        \
	"a.owner, a.description, a.tags, a.version FROM assets a LEFT JOIN units ou ON ou.id = "   \
	"a.unit_id WHERE a.removed_at IS NULL AND a.name IN (SELECT name FROM s)), "               \
	"up AS (INSERT INTO assets (name, type, unit_id, owner, description, tags) SELECT name, "  \
	"type, unit_id, owner, description, tags FROM s ORDER BY name ON CONFLICT (name) WHERE "   \
	"removed_at IS NULL DO UPDATE SET type = EXCLUDED.type, unit_id = EXCLUDED.unit_id, "      \
	"owner = EXCLUDED.owner, description = EXCLUDED.description, tags = EXCLUDED.tags, "       \
	"version = assets.version + 1, updated_at = now() WHERE (assets.type, assets.unit_id, "    \
	"assets.owner, assets.description, assets.tags) IS DISTINCT FROM (EXCLUDED.type, "         \
	"EXCLUDED.unit_id, EXCLUDED.owner, EXCLUDED.description, EXCLUDED.tags) RETURNING id, "    \
	"name, type, unit_id, owner, description, tags, version, (xmax = 0) AS created), "         \
	"ev AS (" EV_INSERT "'asset:' || up.name, CASE WHEN up.created THEN NULL ELSE "            \
	"jsonb_build_object('name', old.name, 'type', old.type, 'unit', old.unit, 'owner', "       \
	"old.owner, 'description', old.description, 'tags', old.tags, 'version', old.version, "    \
	"'removed', false) END, jsonb_build_object('name', up.name, 'type', up.type, 'unit', "     \
	"coalesce(nu.name, ''), 'owner', up.owner, 'description', up.description, 'tags', "        \
	"up.tags, 'version', up.version, 'removed', false) FROM up LEFT JOIN units nu ON nu.id = " \
	"up.unit_id LEFT JOIN old ON old.id = up.id) "                                             \
	"SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up"

/* Assets: upsert by name; a unit, when given, must exist. */
static int apply_assets(commit_ctx *x)
{
	unsigned long long v[4] = {0, 0, 0, 0};
	int conflict = 0, rc;
	if (x->staged[K_ASSET] == 0)
		return OPRA_OK;
	if ((rc = fast_apply(x, ASSETS_FAST, v, 4, &conflict)) != OPRA_OK)
		return rc;
	if (conflict || v[2] > 0 || v[3] > 0) {
		if ((rc = first_problem(
			     x, OPRA_INVALID_ARGUMENT,
			     "SELECT r.line::text, r.name, r.unit FROM bulk_asset r WHERE "
			     "r.unit <> '' AND NOT EXISTS (SELECT 1 FROM units u WHERE "
			     "u.name = r.unit AND u.removed_at IS NULL) ORDER BY r.seq, "
			     "r.ord LIMIT 1",
			     "line %s: field 'unit': asset '%s' names unit '%s', which is "
			     "neither in the import nor an existing unit%s")) != OPRA_OK ||
		    (rc = check_duplicates(x, K_ASSET)) != OPRA_OK)
			return rc;
	}
	if (conflict && (rc = apply(x, ASSETS_UPSERT, v, 2)) != OPRA_OK)
		return rc;
	x->created[K_ASSET] = v[0];
	x->updated[K_ASSET] = v[1];
	return OPRA_OK;
}

/* ---- links ---- */

/* Both ends by name; existing links stay as they are. The links an import
 * creates for one service make one event, as `opra service link SERVICE
 * ASSET...` does. Returns created and records naming a missing end. New
 * links go in in (service, asset) order (n is materialised sorted; the
 * sort usually comes with the anti-join), so concurrent imports take their
 * index locks in the same order. */
#define LINKS_RESOLVED                                                                             \
	"WITH l AS MATERIALIZED (SELECT r.service, r.asset, v.id AS sid, a.id AS aid FROM "        \
	"bulk_link r LEFT JOIN services v ON v.name = r.service AND v.removed_at IS NULL LEFT "    \
	"JOIN assets a ON a.name = r.asset AND a.removed_at IS NULL), "

#define LINKS_EVENTS(from)                                                                         \
	"ev AS (" EV_INSERT "'link:' || n.service, NULL, jsonb_build_object('service', "           \
	"n.service, 'assets', jsonb_agg(n.asset ORDER BY n.asset)) FROM " from " GROUP BY n.sid, " \
	"n.service) "                                                                              \
	"SELECT (SELECT count(*) FROM n), count(*) FILTER (WHERE sid IS NULL OR aid IS NULL) "     \
	"FROM l"

#define LINKS_FAST                                                                                 \
	LINKS_RESOLVED                                                                             \
	"n AS MATERIALIZED (SELECT * FROM l WHERE sid IS NOT NULL AND aid IS NOT NULL AND NOT "    \
	"EXISTS (SELECT 1 FROM service_assets x WHERE x.service_id = l.sid AND x.asset_id = "      \
	"l.aid) ORDER BY sid, aid), "                                                              \
	"ins AS (INSERT INTO service_assets (service_id, asset_id) SELECT sid, aid FROM "          \
	"n), " LINKS_EVENTS("n")

#define LINKS_UPSERT                                                                               \
	LINKS_RESOLVED                                                                             \
	"up AS (INSERT INTO service_assets (service_id, asset_id) SELECT sid, aid FROM l WHERE "   \
	"sid IS NOT NULL AND aid IS NOT NULL ORDER BY sid, aid ON CONFLICT DO NOTHING RETURNING "  \
	"service_id, asset_id), "                                                                  \
	"n AS (SELECT l.* FROM up JOIN l ON l.sid = up.service_id AND l.aid = "                    \
	"up.asset_id), " LINKS_EVENTS("n")

static int apply_links(commit_ctx *x)
{
	unsigned long long v[2] = {0, 0};
	int conflict = 0, rc;
	if (x->staged[K_LINK] == 0)
		return OPRA_OK;
	if ((rc = fast_apply(x, LINKS_FAST, v, 2, &conflict)) != OPRA_OK)
		return rc;
	if (conflict || v[1] > 0) {
		if ((rc = first_problem(
			     x, OPRA_INVALID_ARGUMENT,
			     "SELECT r.line::text, r.service, r.asset FROM bulk_link r "
			     "WHERE NOT EXISTS (SELECT 1 FROM services v WHERE v.name = "
			     "r.service AND v.removed_at IS NULL) ORDER BY r.seq, r.ord "
			     "LIMIT 1",
			     "line %s: field 'service': the link %s -> %s names a service "
			     "that is neither in the import nor an existing service%s")) !=
			    OPRA_OK ||
		    (rc = first_problem(
			     x, OPRA_INVALID_ARGUMENT,
			     "SELECT r.line::text, r.service, r.asset FROM bulk_link r "
			     "WHERE NOT EXISTS (SELECT 1 FROM assets a WHERE a.name = "
			     "r.asset AND a.removed_at IS NULL) ORDER BY r.seq, r.ord LIMIT 1",
			     "line %s: field 'asset': the link %s -> %s names an asset that "
			     "is neither in the import nor an existing asset%s")) != OPRA_OK)
			return rc;
	}
	/* Fewer created than staged: some exist already, or a record repeats
	 * one. */
	if ((conflict || v[0] < x->staged[K_LINK]) && (rc = check_duplicates(x, K_LINK)) != OPRA_OK)
		return rc;
	if (conflict && (rc = apply(x, LINKS_UPSERT, v, 2)) != OPRA_OK)
		return rc;
	x->created[K_LINK] = v[0];
	return OPRA_OK;
}

/* Locks the active rows an import hangs things under (FOR SHARE, as the
 * per-object methods do), so a concurrent removal waits for this commit and
 * then sees what now depends on them. Rows this import creates need no
 * lock (nobody else sees them before the commit), so this runs first. */
static int lock_references(commit_ctx *x)
{
	int rc;
	if ((rc = query(x, "SELECT count(*) FROM (SELECT 1 FROM units u WHERE u.removed_at IS "
			   "NULL AND u.name IN (SELECT unit FROM bulk_service UNION SELECT unit "
			   "FROM bulk_asset) FOR SHARE OF u) l")) != OPRA_OK ||
	    (rc = query(x, "SELECT count(*) FROM (SELECT 1 FROM services v WHERE v.removed_at "
			   "IS NULL AND v.name IN (SELECT service FROM bulk_link) FOR SHARE OF v) "
			   "l")) != OPRA_OK)
		return rc;
	return query(x, "SELECT count(*) FROM (SELECT 1 FROM assets a WHERE a.removed_at IS NULL "
			"AND a.name IN (SELECT asset FROM bulk_link) FOR SHARE OF a) l");
}

static int summary_event(call *c, const char *source, const Opra__V1__KindCounts *counts)
{
	json_t *o = json_object();
	char *text = NULL;
	char object[BULK_SOURCE_MAX + 16];
	int rc = OPRA_OK;
	for (int i = 0; o && i < 4; i++) {
		json_t *k = json_pack("{s:I, s:I, s:I}", "created", (json_int_t)counts[i].created,
				      "updated", (json_int_t)counts[i].updated, "unchanged",
				      (json_int_t)counts[i].unchanged);
		if (k == NULL || json_object_set_new(o, kind_names[i], k) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	if (o == NULL || (text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		rc = oom();
		goto done;
	}
	snprintf(object, sizeof(object), "import:%s", source);
	rc = call_event(c, object, NULL, text);
done:
	free(text);
	json_decref(o);
	return rc;
}

static int bulk_commit(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__BulkCommitRequest *req = (const Opra__V1__BulkCommitRequest *)in;
	commit_ctx x;
	import_info info;
	Opra__V1__KindCounts counts[4];
	Opra__V1__KindCounts *countp[4];
	PGresult *lock = NULL;
	int rc;

	commit_ctx_init(&x, c);
	if ((rc = import_lock(c, req->import_id, &info)) != OPRA_OK)
		return rc;
	/* Room for the hashes and sorts of a large import to stay in memory;
	 * LOCAL: back to the default when the transaction ends. */
	if ((rc = db_cmd(c->db, "SET LOCAL work_mem = '64MB'", 0, NULL)) != OPRA_OK ||
	    (rc = load_staged(&x, req->import_id, &info)) != OPRA_OK)
		return rc;
	if (req->dry_run && (rc = db_cmd(c->db, "SAVEPOINT bulk_dry_run", 0, NULL)) != OPRA_OK)
		return rc;
	/* The same lock svc_inventory takes before moving units, first, before
	 * any row lock (the same order as there). */
	rc = db_exec(&lock, c->db, 1, UNIT_TREE_LOCK_SQL, 0, NULL);
	PQclear(lock);
	if (rc != OPRA_OK || (rc = lock_references(&x)) != OPRA_OK ||
	    (rc = apply_units(&x)) != OPRA_OK || (rc = apply_services(&x)) != OPRA_OK ||
	    (rc = apply_assets(&x)) != OPRA_OK || (rc = apply_links(&x)) != OPRA_OK)
		return rc; /* the dispatcher rolls everything back */
	for (int i = 0; i < 4; i++) {
		opra__v1__kind_counts__init(&counts[i]);
		counts[i].kind = (char *)kind_names[i];
		counts[i].created = x.created[i];
		counts[i].updated = x.updated[i];
		counts[i].unchanged = x.staged[i] - x.created[i] - x.updated[i];
		countp[i] = &counts[i];
	}
	if ((rc = summary_event(c, info.source, counts)) != OPRA_OK)
		return rc;
	if (req->dry_run) {
		/* Keep the import staged: the client may Commit it for real or
		 * Abort it. */
		if ((rc = db_cmd(c->db, "ROLLBACK TO SAVEPOINT bulk_dry_run", 0, NULL)) !=
			    OPRA_OK ||
		    (rc = db_cmd(c->db, "RELEASE SAVEPOINT bulk_dry_run", 0, NULL)) != OPRA_OK)
			return rc;
	} else if ((rc = import_delete(c, req->import_id)) != OPRA_OK) {
		return rc;
	}
	Opra__V1__BulkCommitReply reply = OPRA__V1__BULK_COMMIT_REPLY__INIT;
	reply.counts = countp;
	reply.n_counts = 4;
	reply.dry_run = req->dry_run;
	return call_reply(c, &reply.base);
}

/* ---- Export ---- */

/* One page of a kind: $1 after, $2 limit, $3 include removed. A page ends
 * at a whole name: removed and active objects may share one, and `after`
 * must not split them, so the page takes every row up to its last name. */
static const char *const export_sql[4] = {
	"WITH x AS NOT MATERIALIZED (SELECT u.name, coalesce(p.name, '') AS parent, u.site, "
	"u.removed_at IS NOT "
	"NULL AS removed, u.id FROM units u LEFT JOIN units p ON p.id = u.parent_id "
	"WHERE u.name > $1 AND ($3::boolean OR u.removed_at IS NULL)), "
	"page AS (SELECT name FROM x ORDER BY name LIMIT $2::integer) "
	"SELECT name, parent, site, removed FROM x WHERE name <= (SELECT max(name) FROM page) "
	"ORDER BY name, removed, id",

	"WITH x AS NOT MATERIALIZED (SELECT v.name, un.name AS unit, v.mission, v.criticality, "
	"v.removed_at IS NOT "
	"NULL AS removed, v.id FROM services v JOIN units un ON un.id = v.unit_id "
	"WHERE v.name > $1 AND ($3::boolean OR v.removed_at IS NULL)), "
	"page AS (SELECT name FROM x ORDER BY name LIMIT $2::integer) "
	"SELECT name, unit, mission, criticality, removed FROM x WHERE name <= (SELECT max(name) "
	"FROM page) ORDER BY name, removed, id",

	"WITH x AS NOT MATERIALIZED (SELECT a.name, a.type, coalesce(un.name, '') AS unit, "
	"a.owner, a.description, "
	"a.tags::text AS tags, a.removed_at IS NOT NULL AS removed, a.id FROM assets a "
	"LEFT JOIN units un ON un.id = a.unit_id "
	"WHERE a.name > $1 AND ($3::boolean OR a.removed_at IS NULL)), "
	"page AS (SELECT name FROM x ORDER BY name LIMIT $2::integer) "
	"SELECT name, type, unit, owner, description, tags, removed FROM x WHERE name <= (SELECT "
	"max(name) FROM page) ORDER BY name, removed, id",

	"WITH x AS NOT MATERIALIZED (SELECT v.name AS service, a.name AS asset, (v.removed_at IS "
	"NOT NULL OR "
	"a.removed_at IS NOT NULL) AS removed, v.id AS vid, a.id AS aid FROM service_assets sa "
	"JOIN services v ON v.id = sa.service_id JOIN assets a ON a.id = sa.asset_id "
	"WHERE (v.name, a.name) > ($1::text, $4::text) AND ($3::boolean OR (v.removed_at IS NULL "
	"AND "
	"a.removed_at IS NULL))), "
	"page AS (SELECT service, asset FROM x ORDER BY service, asset LIMIT $2::integer), "
	"last AS (SELECT service, asset FROM page ORDER BY service DESC, asset DESC LIMIT 1) "
	"SELECT x.service, x.asset, x.removed FROM x, last WHERE (x.service, x.asset) <= "
	"(last.service, last.asset) ORDER BY x.service, x.asset, x.removed, x.vid, x.aid",
};

static int bulk_export(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__BulkExportRequest *req = (const Opra__V1__BulkExportRequest *)in;
	Opra__V1__BulkRecord *recs = NULL, **recp = NULL;
	json_t **tags = NULL;
	PGresult *r = NULL;
	char limit[16], after[2 * BULK_NAME_MAX + 2], next_after[2 * BULK_NAME_MAX + 2] = "";
	char *after2 = (char *)"";
	int kind = 0, rc, n = 0;

	while (strcmp(kind_names[kind], req->kind) != 0)
		kind++;
	unsigned page = req->limit ? req->limit : BULK_PAGE_DEF;
	snprintf(limit, sizeof(limit), "%u", page);
	snprintf(after, sizeof(after), "%s", req->after);
	if (kind == 3) {
		char *tab = strchr(after, '\t');
		if (tab) {
			*tab = '\0';
			after2 = tab + 1;
		}
	}
	const char *p[4] = {after, limit, req->include_removed ? "true" : "false", after2};
	if ((rc = db_exec(&r, c->db, 1, export_sql[kind], kind == 3 ? 4 : 3, p)) != OPRA_OK)
		goto done;
	n = PQntuples(r);
	recs = opra_calloc((size_t)n + 1, sizeof(*recs));
	recp = opra_calloc((size_t)n + 1, sizeof(*recp));
	tags = opra_calloc((size_t)n + 1, sizeof(*tags));
	if (recs == NULL || recp == NULL || tags == NULL) {
		rc = oom();
		goto done;
	}
	for (int i = 0; i < n; i++) {
		Opra__V1__BulkRecord *x = &recs[i];
		opra__v1__bulk_record__init(x);
		x->kind = (char *)kind_names[kind];
		int last = PQnfields(r) - 1;
		x->removed = strcmp(PQgetvalue(r, i, last), "t") == 0;
		if (kind == 0) {
			x->name = PQgetvalue(r, i, 0);
			x->parent = PQgetvalue(r, i, 1);
			x->site = PQgetvalue(r, i, 2);
		} else if (kind == 1) {
			x->name = PQgetvalue(r, i, 0);
			x->unit = PQgetvalue(r, i, 1);
			x->mission = PQgetvalue(r, i, 2);
			x->criticality = PQgetvalue(r, i, 3);
		} else if (kind == 2) {
			x->name = PQgetvalue(r, i, 0);
			x->type = PQgetvalue(r, i, 1);
			x->unit = PQgetvalue(r, i, 2);
			x->owner = PQgetvalue(r, i, 3);
			x->description = PQgetvalue(r, i, 4);
			tags[i] = json_loads(PQgetvalue(r, i, 5), 0, NULL);
			size_t nt = json_is_array(tags[i]) ? json_array_size(tags[i]) : 0;
			if (nt > 0) {
				x->tags = opra_calloc(nt, sizeof(char *));
				if (x->tags == NULL) {
					rc = oom();
					goto done;
				}
				for (size_t k = 0; k < nt; k++) {
					const char *t =
						json_string_value(json_array_get(tags[i], k));
					x->tags[x->n_tags++] = (char *)(t ? t : "");
				}
			}
		} else {
			x->service = PQgetvalue(r, i, 0);
			x->asset = PQgetvalue(r, i, 1);
		}
		recp[i] = x;
	}
	/* A page with fewer rows than asked for is the last one. */
	if (n > 0 && (unsigned)n >= page) {
		if (kind == 3)
			snprintf(next_after, sizeof(next_after), "%s\t%s", PQgetvalue(r, n - 1, 0),
				 PQgetvalue(r, n - 1, 1));
		else
			snprintf(next_after, sizeof(next_after), "%s", PQgetvalue(r, n - 1, 0));
	}
	Opra__V1__BulkExportReply reply = OPRA__V1__BULK_EXPORT_REPLY__INIT;
	reply.records = recp;
	reply.n_records = (size_t)n;
	reply.next_after = next_after;
	rc = call_reply(c, &reply.base);
done:
	for (int i = 0; recs && i < n; i++)
		opra_free(recs[i].tags);
	for (int i = 0; tags && i < n; i++)
		json_decref(tags[i]);
	opra_free(tags);
	opra_free(recs);
	opra_free(recp);
	PQclear(r);
	return rc;
}

/* Imports: admin, program-office and automation tokens. */
#define BULK_WRITERS (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_AUTOMATION)

static const method_impl bulk_methods[] = {
	{"Begin", bulk_begin, begin_validate, BULK_WRITERS, METHOD_MUTATES, NULL},
	{"Stage", bulk_stage, stage_validate, BULK_WRITERS, METHOD_MUTATES, NULL},
	{"Commit", bulk_commit, commit_validate, BULK_WRITERS, METHOD_MUTATES, NULL},
	{"Abort", bulk_abort, abort_validate, BULK_WRITERS, METHOD_MUTATES, NULL},
	{"Export", bulk_export, export_validate, ROLES_ANY, 0, NULL},
};

const service_impl svc_bulk = {&opra__v1__inventory_bulk__descriptor, bulk_methods,
			       N_OF(bulk_methods)};
