/* opra.v1.InventoryBulk: bulk import and export of the inventory
 * (sql/004_bulk.sql, docs/inventory.md).
 *
 * An import is Begin, Stage (batches of at most BULK_BATCH_MAX records,
 * checked like the per-object Inventory methods and COPYed into
 * import_rows), then Commit or Abort. Commit applies everything in the
 * dispatcher's transaction, set-based, kind by kind: duplicates, units
 * (upsert by name, then parents, with the cycle check), services, assets,
 * links. Any error rolls the whole transaction back, so a failing import
 * changes nothing. A record is the full desired state of its object: a row
 * whose stored values already match is left alone (no new version, no
 * event). dry_run does the same work inside a savepoint and rolls back to
 * it, keeping the import staged for a real Commit or an Abort. */
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

/* The import, locked, if it exists and belongs to the caller; NOT_FOUND
 * otherwise (someone else's import is as good as missing). */
static int import_lock(call *c, const char *import_id, char *source, size_t source_size)
{
	PGresult *r = NULL;
	char uid[32];
	id_text(uid, c->who->id);
	const char *p[2] = {import_id, uid};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT source FROM imports WHERE id = $1 AND user_id = $2::bigint "
			 "FOR UPDATE",
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
	if (source)
		snprintf(source, source_size, "%s", PQgetvalue(r, 0, 0));
done:
	PQclear(r);
	return rc;
}

/* The tags of a record as a JSON array text, duplicates dropped. Caller
 * frees with free(). */
static char *tags_json(char *const *tags, size_t n)
{
	json_t *arr = json_array();
	char *s = NULL;
	for (size_t i = 0; arr && i < n; i++) {
		size_t k = 0;
		while (k < i && strcmp(tags[k], tags[i]) != 0)
			k++;
		if (k < i)
			continue;
		if (json_array_append_new(arr, json_string(tags[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (arr)
		s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
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

static int stage_row(opra_buf *b, const char *import_id, const char *seq, size_t ord,
		     const Opra__V1__BulkRecord *r)
{
	const Opra__V1__BulkRecord *x = r;
	char *tags = NULL;
	int rc;
	if (strcmp(x->kind, "asset") == 0 && (tags = tags_json(x->tags, x->n_tags)) == NULL)
		return oom();
	if ((rc = db_copy_field(b, import_id, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, seq, 0)) != OPRA_OK ||
	    (rc = db_copy_field_long(b, (long long)ord, 0)) != OPRA_OK ||
	    (rc = db_copy_field_long(b, (long long)x->line, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->kind, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->name, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->parent, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->site, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->unit, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->mission, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->criticality, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->type, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->owner, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->description, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, tags ? tags : "[]", 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->service, 0)) != OPRA_OK ||
	    (rc = db_copy_field(b, x->asset, 1)) != OPRA_OK)
		rc = oom();
	free(tags);
	return rc;
}

static int bulk_stage(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__BulkStageRequest *req = (const Opra__V1__BulkStageRequest *)in;
	opra_buf rows = OPRA_BUF_INIT;
	PGresult *r = NULL;
	char seq[16];
	int rc;

	snprintf(seq, sizeof(seq), "%u", req->seq);
	if ((rc = import_lock(c, req->import_id, NULL, 0)) != OPRA_OK)
		goto done;
	/* A batch sent again under a new key replaces its first copy. */
	const char *p[2] = {req->import_id, seq};
	if ((rc = db_cmd(c->db,
			 "DELETE FROM import_rows WHERE import_id = $1 AND seq = $2::integer", 2,
			 p)) != OPRA_OK)
		goto done;
	for (size_t i = 0; i < req->n_records; i++)
		if ((rc = stage_row(&rows, req->import_id, seq, i, req->records[i])) != OPRA_OK)
			goto done;
	/* The whole batch is built first: an error while building must not leave
	 * the connection inside a COPY. */
	if (rows.len > 0) {
		if ((rc = db_copy_begin(c->db, "COPY import_rows (import_id, seq, ord, line, kind, "
					       "name, parent, site, unit, mission, criticality, "
					       "type, owner, description, tags, service, asset) "
					       "FROM STDIN")) != OPRA_OK)
			goto done;
		if ((rc = db_copy_put(c->db, &rows)) != OPRA_OK) {
			db_copy_end(c->db);
			goto done;
		}
		if ((rc = db_copy_end(c->db)) != OPRA_OK)
			goto done;
	}
	if ((rc = db_exec(&r, c->db, 1, "SELECT count(*) FROM import_rows WHERE import_id = $1", 1,
			  p)) != OPRA_OK)
		goto done;
	Opra__V1__BulkStageReply reply = OPRA__V1__BULK_STAGE_REPLY__INIT;
	reply.staged = (uint32_t)req->n_records;
	reply.total_staged = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	rc = call_reply(c, &reply.base);
done:
	PQclear(r);
	opra_buf_free(&rows);
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
	if ((rc = import_lock(c, req->import_id, NULL, 0)) != OPRA_OK ||
	    (rc = import_delete(c, req->import_id)) != OPRA_OK)
		return rc;
	Opra__V1__BulkAbortReply reply = OPRA__V1__BULK_ABORT_REPLY__INIT;
	return call_reply(c, &reply.base);
}

/* ---- Commit ---- */

/* Statements of Commit take $1 = import id and, when they write events,
 * $2..$7 = the event's actor id, actor, client id, site, peer, method. */
#define EV_INSERT                                                                                  \
	"INSERT INTO events (actor_id, actor, client_id, site, peer, method, object, before, "     \
	"after) SELECT $2::bigint, $3, $4, $5, $6, $7, "

typedef struct {
	call *c;
	const char *p[7];
	char uid[32];
} commit_ctx;

static void commit_ctx_init(commit_ctx *x, call *c, const char *import_id)
{
	x->c = c;
	id_text(x->uid, c->who->id);
	x->p[0] = import_id;
	x->p[1] = x->uid;
	x->p[2] = c->who->name;
	x->p[3] = c->req->client_id;
	x->p[4] = c->req->site;
	x->p[5] = c->peer ? c->peer : "";
	x->p[6] = c->req->method;
}

/* A check query: returns rows that describe the first problem (line and
 * names); fmt turns row 0 into the message. No rows: OPRA_OK. */
static int first_problem(commit_ctx *x, int code, const char *sql, const char *fmt)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, sql, 1, x->p);
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

/* Runs an apply statement that ends in SELECT created, updated. */
static int apply(commit_ctx *x, const char *sql, int nparams, unsigned long long *created,
		 unsigned long long *updated)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, sql, nparams, x->p);
	if (rc == OPRA_OK) {
		*created += strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		if (PQnfields(r) > 1)
			*updated += strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	}
	PQclear(r);
	return rc;
}

#define STAGED(k) " FROM import_rows r WHERE r.import_id = $1 AND r.kind = '" k "' "
#define FIRST	  " ORDER BY r.seq, r.ord LIMIT 1"

/* (1) Two records for one object. */
static int check_duplicates(commit_ctx *x)
{
	return first_problem(
		x, OPRA_INVALID_ARGUMENT,
		"SELECT line::text, first::text, kind, key FROM ("
		"  SELECT r.seq, r.ord, r.line, r.kind, "
		"    CASE r.kind WHEN 'link' THEN r.service || ' -> ' || r.asset ELSE r.name END "
		"AS "
		"key, first_value(r.line) OVER w AS first, row_number() OVER w AS n "
		"  FROM import_rows r WHERE r.import_id = $1 "
		"  WINDOW w AS (PARTITION BY r.kind, CASE r.kind WHEN 'link' THEN r.service || "
		"E'\\t' || r.asset ELSE r.name END ORDER BY r.seq, r.ord)) d "
		"WHERE n > 1 ORDER BY seq, ord LIMIT 1",
		"line %s: duplicate record (line %s has the same %s '%s'): an import names each "
		"object once");
}

/* (2) Units: create the missing ones, then set sites and parents. */
static int apply_units(commit_ctx *x, unsigned long long *created, unsigned long long *updated)
{
	PGresult *lock = NULL;
	int rc = db_exec(&lock, x->c->db, 1, UNIT_TREE_LOCK_SQL, 0, NULL);
	PQclear(lock);
	if (rc != OPRA_OK)
		return rc;
	/* New units first, without parents, so parents may be defined anywhere
	 * in the import. */
	if ((rc = db_cmd(
		     x->c->db,
		     "WITH ins AS (INSERT INTO units (name, site) SELECT r.name, r.site" STAGED(
			     "unit") "ORDER BY r.name ON CONFLICT (name) WHERE removed_at IS "
				     "NULL DO NOTHING RETURNING name) "
				     "UPDATE import_rows r SET created = true FROM ins WHERE "
				     "r.import_id = $1 AND r.kind = 'unit' AND r.name = ins.name",
		     1, x->p)) != OPRA_OK)
		return rc;
	if ((rc = first_problem(
		     x, OPRA_INVALID_ARGUMENT,
		     "SELECT r.line::text, r.name, r.parent" STAGED(
			     "unit") "AND r.parent <> '' AND NOT EXISTS (SELECT 1 FROM "
				     "units p WHERE p.name = r.parent AND p.removed_at IS "
				     "NULL)" FIRST,
		     "line %s: field 'parent': unit '%s' names parent '%s', which is neither "
		     "in the import nor an existing unit%s")) != OPRA_OK)
		return rc;
	/* The tree as it would be: staged units take their new parent, the
	 * others keep theirs. A staged unit that reaches itself going up closes
	 * a cycle. */
	if ((rc = first_problem(
		     x, OPRA_INVALID_ARGUMENT,
		     "WITH RECURSIVE st AS (SELECT r.name, nullif(r.parent, '') AS parent, r.line, "
		     "r.seq, r.ord" STAGED("unit") "), "
						   "pp AS (SELECT name, parent FROM st UNION ALL "
						   "SELECT u.name, p.name FROM units u JOIN units "
						   "p ON p.id = u.parent_id WHERE u.removed_at IS "
						   "NULL AND NOT EXISTS (SELECT 1 FROM st WHERE "
						   "st.name = u.name)), "
						   "walk(start, cur) AS (SELECT name, parent FROM "
						   "st WHERE parent IS NOT NULL UNION SELECT "
						   "w.start, pp.parent FROM walk w JOIN pp ON "
						   "pp.name = w.cur WHERE w.cur <> w.start AND "
						   "pp.parent IS NOT NULL) "
						   "SELECT st.line::text, st.name, st.parent FROM "
						   "walk JOIN st ON st.name = walk.start WHERE "
						   "walk.cur = walk.start ORDER BY st.seq, st.ord "
						   "LIMIT 1",
		     "line %s: field 'parent': unit '%s' cannot be placed under '%s': that unit is "
		     "inside its subtree (a unit cannot be its own ancestor)%s")) != OPRA_OK)
		return rc;
	/* Remember the parents, then detach the units that move, so that no
	 * intermediate state of the parent update below holds a cycle (the
	 * trigger checks each row as it goes). */
	if ((rc = db_cmd(x->c->db,
			 "UPDATE import_rows r SET old_parent = u.parent_id FROM units u WHERE "
			 "r.import_id = $1 AND r.kind = 'unit' AND u.name = r.name AND "
			 "u.removed_at IS NULL",
			 1, x->p)) != OPRA_OK)
		return rc;
	if ((rc = db_cmd(x->c->db,
			 "UPDATE units u SET parent_id = NULL FROM import_rows r LEFT JOIN units p "
			 "ON p.name = r.parent AND p.removed_at IS NULL WHERE r.import_id = $1 AND "
			 "r.kind = 'unit' AND u.name = r.name AND u.removed_at IS NULL AND "
			 "u.parent_id IS NOT NULL AND u.parent_id IS DISTINCT FROM p.id",
			 1, x->p)) != OPRA_OK)
		return rc;
	return apply(
		x,
		"WITH s AS (SELECT r.name, r.site, r.created, r.old_parent, p.id AS parent_id "
		"  FROM import_rows r LEFT JOIN units p ON p.name = r.parent AND p.removed_at IS "
		"NULL WHERE r.import_id = $1 AND r.kind = 'unit'), "
		"upd AS (UPDATE units u SET site = s.site, parent_id = s.parent_id, "
		"  version = u.version + CASE WHEN s.created THEN 0 ELSE 1 END, "
		"  updated_at = CASE WHEN s.created THEN u.updated_at ELSE now() END "
		"  FROM s, units o WHERE u.name = s.name AND u.removed_at IS NULL AND o.id = u.id "
		"  AND (s.created OR u.site IS DISTINCT FROM s.site OR s.old_parent IS DISTINCT "
		"FROM "
		"s.parent_id) "
		"  RETURNING u.name, u.site, u.version, s.created, s.parent_id, s.old_parent, "
		"o.site AS old_site, o.version AS old_version), "
		"ev AS (" EV_INSERT "'unit:' || upd.name, "
		"  CASE WHEN upd.created THEN NULL ELSE jsonb_build_object('name', upd.name, "
		"'parent', coalesce(op.name, ''), 'site', upd.old_site, 'version', "
		"upd.old_version, "
		"'removed', false) END, "
		"  jsonb_build_object('name', upd.name, 'parent', coalesce(np.name, ''), 'site', "
		"upd.site, 'version', upd.version, 'removed', false) "
		"  FROM upd LEFT JOIN units op ON op.id = upd.old_parent LEFT JOIN units np ON "
		"np.id "
		"= upd.parent_id) "
		"SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM "
		"upd",
		7, created, updated);
}

/* Locks the active rows an import hangs things under (FOR SHARE, as the
 * per-object methods do), so a concurrent removal waits for this commit and
 * then sees what now depends on them. */
static int lock_refs(commit_ctx *x, const char *sql)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, x->c->db, 1, sql, 1, x->p);
	PQclear(r);
	return rc;
}

/* (3) Services: upsert by name; the unit must exist. */
static int apply_services(commit_ctx *x, unsigned long long *created, unsigned long long *updated)
{
	int rc = lock_refs(x, "SELECT 1 FROM units u WHERE u.removed_at IS NULL AND u.name IN "
			      "(SELECT r.unit" STAGED("service") ") FOR SHARE OF u");
	if (rc != OPRA_OK)
		return rc;
	rc = first_problem(
		x, OPRA_INVALID_ARGUMENT,
		"SELECT r.line::text, r.name, r.unit" STAGED(
			"service") "AND NOT EXISTS (SELECT 1 FROM units u WHERE u.name = r.unit "
				   "AND "
				   "u.removed_at IS NULL)" FIRST,
		"line %s: field 'unit': service '%s' names unit '%s', which is neither in the "
		"import nor an existing unit%s");
	if (rc != OPRA_OK)
		return rc;
	return apply(
		x,
		"WITH s AS MATERIALIZED (SELECT r.name, un.id AS unit_id, r.mission, "
		"  coalesce(nullif(r.criticality, ''), 'medium') AS criticality "
		"  FROM import_rows r JOIN units un ON un.name = r.unit AND un.removed_at IS NULL "
		"  WHERE r.import_id = $1 AND r.kind = 'service'), "
		"old AS MATERIALIZED (SELECT v.id, v.name, ou.name AS unit, v.mission, "
		"v.criticality, v.version "
		"  FROM services v JOIN units ou ON ou.id = v.unit_id "
		"  WHERE v.removed_at IS NULL AND v.name IN (SELECT name FROM s)), "
		"up AS (INSERT INTO services (name, unit_id, mission, criticality) "
		"  SELECT name, unit_id, mission, criticality FROM s ORDER BY name "
		"  ON CONFLICT (name) WHERE removed_at IS NULL DO UPDATE SET "
		"  unit_id = EXCLUDED.unit_id, mission = EXCLUDED.mission, criticality = "
		"EXCLUDED.criticality, version = services.version + 1, updated_at = now() "
		"  WHERE (services.unit_id, services.mission, services.criticality) IS DISTINCT "
		"FROM "
		"(EXCLUDED.unit_id, EXCLUDED.mission, EXCLUDED.criticality) "
		"  RETURNING id, name, unit_id, mission, criticality, version, (xmax = 0) AS "
		"created), "
		"ev AS (" EV_INSERT "'service:' || up.name, "
		"  CASE WHEN up.created THEN NULL ELSE jsonb_build_object('name', old.name, "
		"'unit', "
		"old.unit, 'mission', old.mission, 'criticality', old.criticality, 'version', "
		"old.version, 'removed', false) END, "
		"  jsonb_build_object('name', up.name, 'unit', nu.name, 'mission', up.mission, "
		"'criticality', up.criticality, 'version', up.version, 'removed', false) "
		"  FROM up JOIN units nu ON nu.id = up.unit_id LEFT JOIN old ON old.id = up.id) "
		"SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM "
		"up",
		7, created, updated);
}

/* (4) Assets: upsert by name; a unit, when given, must exist. */
static int apply_assets(commit_ctx *x, unsigned long long *created, unsigned long long *updated)
{
	int rc = lock_refs(x, "SELECT 1 FROM units u WHERE u.removed_at IS NULL AND u.name IN "
			      "(SELECT r.unit" STAGED("asset") ") FOR SHARE OF u");
	if (rc != OPRA_OK)
		return rc;
	rc = first_problem(
		x, OPRA_INVALID_ARGUMENT,
		"SELECT r.line::text, r.name, r.unit" STAGED(
			"asset") "AND r.unit <> '' AND NOT EXISTS (SELECT 1 FROM units u WHERE "
				 "u.name = r.unit AND u.removed_at IS NULL)" FIRST,
		"line %s: field 'unit': asset '%s' names unit '%s', which is neither in the "
		"import nor an existing unit%s");
	if (rc != OPRA_OK)
		return rc;
	return apply(
		x,
		"WITH s AS MATERIALIZED (SELECT r.name, r.type, un.id AS unit_id, r.owner, "
		"r.description, "
		"r.tags "
		"  FROM import_rows r LEFT JOIN units un ON un.name = r.unit AND un.removed_at IS "
		"NULL WHERE r.import_id = $1 AND r.kind = 'asset'), "
		"old AS MATERIALIZED (SELECT a.id, a.name, a.type, coalesce(ou.name, '') AS unit, "
		"a.owner, "
		"a.description, a.tags, a.version FROM assets a LEFT JOIN units ou ON ou.id = "
		"a.unit_id WHERE a.removed_at IS NULL AND a.name IN (SELECT name FROM s)), "
		"up AS (INSERT INTO assets (name, type, unit_id, owner, description, tags) "
		"  SELECT name, type, unit_id, owner, description, tags FROM s ORDER BY name "
		"  ON CONFLICT (name) WHERE removed_at IS NULL DO UPDATE SET "
		"  type = EXCLUDED.type, unit_id = EXCLUDED.unit_id, owner = EXCLUDED.owner, "
		"description = EXCLUDED.description, tags = EXCLUDED.tags, "
		"version = assets.version + 1, updated_at = now() "
		"  WHERE (assets.type, assets.unit_id, assets.owner, assets.description, "
		"assets.tags) "
		"IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.unit_id, EXCLUDED.owner, "
		"EXCLUDED.description, EXCLUDED.tags) "
		"  RETURNING id, name, type, unit_id, owner, description, tags, version, "
		"(xmax = 0) AS created), "
		"ev AS (" EV_INSERT "'asset:' || up.name, "
		"  CASE WHEN up.created THEN NULL ELSE jsonb_build_object('name', old.name, "
		"'type', "
		"old.type, 'unit', old.unit, 'owner', old.owner, 'description', old.description, "
		"'tags', old.tags, 'version', old.version, 'removed', false) END, "
		"  jsonb_build_object('name', up.name, 'type', up.type, 'unit', coalesce(nu.name, "
		"''), "
		"'owner', up.owner, 'description', up.description, 'tags', up.tags, 'version', "
		"up.version, 'removed', false) "
		"  FROM up LEFT JOIN units nu ON nu.id = up.unit_id LEFT JOIN old ON old.id = "
		"up.id) "
		"SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM "
		"up",
		7, created, updated);
}

/* (5) Links: both ends must exist; existing links stay as they are. */
static int apply_links(commit_ctx *x, unsigned long long *created)
{
	unsigned long long unused = 0;
	int rc = lock_refs(x, "SELECT 1 FROM services v WHERE v.removed_at IS NULL AND v.name IN "
			      "(SELECT r.service" STAGED("link") ") FOR SHARE OF v");
	if (rc == OPRA_OK)
		rc = lock_refs(x, "SELECT 1 FROM assets a WHERE a.removed_at IS NULL AND a.name IN "
				  "(SELECT r.asset" STAGED("link") ") FOR SHARE OF a");
	if (rc != OPRA_OK)
		return rc;
	rc = first_problem(
		x, OPRA_INVALID_ARGUMENT,
		"SELECT r.line::text, r.service, r.asset" STAGED(
			"link") "AND NOT EXISTS (SELECT 1 FROM services v WHERE v.name = r.service "
				"AND v.removed_at IS NULL)" FIRST,
		"line %s: field 'service': the link %s -> %s names a service that is neither in "
		"the import nor an existing service%s");
	if (rc != OPRA_OK)
		return rc;
	rc = first_problem(
		x, OPRA_INVALID_ARGUMENT,
		"SELECT r.line::text, r.service, r.asset" STAGED(
			"link") "AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.name = r.asset AND "
				"a.removed_at IS NULL)" FIRST,
		"line %s: field 'asset': the link %s -> %s names an asset that is neither in the "
		"import nor an existing asset%s");
	if (rc != OPRA_OK)
		return rc;
	return apply(x,
		     "WITH up AS (INSERT INTO service_assets (service_id, asset_id) "
		     "  SELECT v.id, a.id FROM import_rows r "
		     "  JOIN services v ON v.name = r.service AND v.removed_at IS NULL "
		     "  JOIN assets a ON a.name = r.asset AND a.removed_at IS NULL "
		     "  WHERE r.import_id = $1 AND r.kind = 'link' ORDER BY v.id, a.id "
		     "  ON CONFLICT DO NOTHING RETURNING service_id, asset_id), "
		     "ev AS (" EV_INSERT "'link:' || v.name, NULL, jsonb_build_object('service', "
		     "v.name, 'assets', jsonb_build_array(a.name)) "
		     "  FROM up JOIN services v ON v.id = up.service_id JOIN assets a ON a.id = "
		     "up.asset_id) "
		     "SELECT count(*) FROM up",
		     7, created, &unused);
}

static int staged_counts(commit_ctx *x, unsigned long long staged[4])
{
	PGresult *r = NULL;
	int rc =
		db_exec(&r, x->c->db, 1,
			"SELECT count(*) FILTER (WHERE kind = 'unit'), count(*) FILTER (WHERE kind "
			"= 'service'), count(*) FILTER (WHERE kind = 'asset'), count(*) FILTER "
			"(WHERE kind = 'link') FROM import_rows WHERE import_id = $1",
			1, x->p);
	if (rc == OPRA_OK)
		for (int i = 0; i < 4; i++)
			staged[i] = strtoull(PQgetvalue(r, 0, i), NULL, 10);
	PQclear(r);
	return rc;
}

static const char *const kind_names[4] = {"unit", "service", "asset", "link"};

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
	char source[BULK_SOURCE_MAX + 1];
	unsigned long long staged[4] = {0}, created[4] = {0}, updated[4] = {0};
	Opra__V1__KindCounts counts[4];
	Opra__V1__KindCounts *countp[4];
	int rc;

	commit_ctx_init(&x, c, req->import_id);
	if ((rc = import_lock(c, req->import_id, source, sizeof(source))) != OPRA_OK)
		return rc;
	if (req->dry_run && (rc = db_cmd(c->db, "SAVEPOINT bulk_dry_run", 0, NULL)) != OPRA_OK)
		return rc;
	if ((rc = staged_counts(&x, staged)) != OPRA_OK || (rc = check_duplicates(&x)) != OPRA_OK ||
	    (rc = apply_units(&x, &created[0], &updated[0])) != OPRA_OK ||
	    (rc = apply_services(&x, &created[1], &updated[1])) != OPRA_OK ||
	    (rc = apply_assets(&x, &created[2], &updated[2])) != OPRA_OK ||
	    (rc = apply_links(&x, &created[3])) != OPRA_OK)
		return rc; /* the dispatcher rolls everything back */
	updated[3] = 0;
	for (int i = 0; i < 4; i++) {
		opra__v1__kind_counts__init(&counts[i]);
		counts[i].kind = (char *)kind_names[i];
		counts[i].created = created[i];
		counts[i].updated = updated[i];
		counts[i].unchanged = staged[i] - created[i] - updated[i];
		countp[i] = &counts[i];
	}
	if ((rc = summary_event(c, source, counts)) != OPRA_OK)
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
