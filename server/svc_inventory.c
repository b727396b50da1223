/* opra.v1.Inventory: the enterprise inventory (sql/003_inventory.sql).
 *
 * Units form a tree; services belong to a unit; assets (optionally of a unit)
 * support services through links. Removal is soft: a removed row keeps its
 * links and its history, drops out of every read (lists show it only when
 * asked for removed rows), and frees its name for reuse. Links of removed
 * services or assets stay in service_assets but count nowhere. Every real
 * change bumps the row's version, sets updated_at and writes an event with
 * before/after JSON in the same transaction.
 *
 * Writes: admin and program-office anywhere; a user only inside the subtree
 * of the unit it is scoped to (users.unit_id, caller.unit_id). That check
 * depends on the object, so it is made here rather than by the dispatcher.
 * Lookups a write depends on lock the rows they read (FOR SHARE to hang
 * something under a unit or to link a service, FOR UPDATE to change or remove
 * a row), so a concurrent removal cannot leave an active object under a
 * removed unit. */
#include "appraisal.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"
#include "opra_text.h"

#include "opra/v1/inventory.pb-c.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_UTC	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', " TS_UTC ")"

#define INV_NAME_MAX	       128  /* unit, service and asset names (the schema's CHECK) */
#define INV_LABEL_MAX	       128  /* site, owner */
#define INV_TEXT_MAX	       4096 /* mission, description */
#define INV_TAG_MAX	       64
#define INV_TAGS_MAX	       64
#define INV_LINK_MAX	       1000 /* assets per Link/Unlink call */
#define INV_BLOCKERS_SHOWN_SQL "10" /* blockers a refused unit removal lists */

/* Key of the transaction-scoped advisory lock that serialises moves of units
 * in the tree: two concurrent moves (A under B, B under A) each pass the
 * cycle check alone; holding this lock until commit makes the second one see
 * the first. */
#define UNIT_TREE_LOCK_SQL "SELECT pg_advisory_xact_lock(7428139001)"

/* Canonical asset type order (CERT-RMM's): Show sorts a service's assets by
 * it, then by name. */
static const char *const asset_types[] = {"people", "information", "technology", "facilities"};
static const char *const criticalities[] = {"high", "medium", "low"};
#define ASSET_TYPE_ORDER                                                                           \
	"array_position(ARRAY['people','information','technology','facilities'], a.type)"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef enum { KIND_UNIT, KIND_SERVICE, KIND_ASSET } inv_kind;

/* One object of any kind, as read from a row. */
typedef union {
	Opra__V1__Unit unit;
	Opra__V1__Service service;
	Opra__V1__Asset asset;
} inv_obj;

/* The columns every unit read selects (UNIT_NCOLS of them), starting with the
 * id; unit_from_row maps them. */
#define UNIT_COLS                                                                                  \
	"u.id, u.name, coalesce(p.name, ''), u.site, u.version, " TS("u.created_at") ", " TS(      \
		"u.updated_at") ", u.removed_at IS NOT NULL, coalesce(" TS("u.removed_at") ", '')"
#define UNIT_FROM " FROM units u LEFT JOIN units p ON p.id = u.parent_id "

/* Services: the asset count counts active assets only. */
#define SERVICE_COLS                                                                               \
	"s.id, s.name, un.name, s.mission, s.criticality, s.version, " TS("s.created_at") ", " TS( \
		"s.updated_at") ", s.removed_at IS NOT NULL, "                                     \
				"coalesce(" TS("s.removed_at") ", ''), "                           \
							       "(SELECT "                          \
							       "count(*) "                         \
							       "FROM "                             \
							       "service_"                          \
							       "assets "                           \
							       "sc JOIN "                          \
							       "assets "                           \
							       "ac ON "                            \
							       "ac.id = "                          \
							       "sc.asset_"                         \
							       "id WHERE "                         \
							       "sc."                               \
							       "service_"                          \
							       "id = "                             \
							       "s.id AND "                         \
							       "ac."                               \
							       "removed_"                          \
							       "at IS "                            \
							       "NULL)"
#define SERVICE_FROM " FROM services s JOIN units un ON un.id = s.unit_id "

/* Assets: the service count counts active services only. */
#define ASSET_COLS                                                                                 \
	"a.id, a.name, a.type, coalesce(ua.name, ''), a.owner, a.description, a.tags::text, "      \
	"a.version, " TS("a.created_at") ", " TS(                                                  \
		"a.updated_at") ", a.removed_at IS NOT NULL, "                                     \
				"coalesce(" TS(                                                    \
					"a.removed_at") ", ''), "                                  \
							"(SELECT count(*) FROM service_assets ac " \
							"JOIN services sc ON "                     \
							"sc.id = ac.service_id WHERE ac.asset_id " \
							"= a.id AND "                              \
							"sc.removed_at IS NULL)"
#define ASSET_JOIN_UNIT " LEFT JOIN units ua ON ua.id = a.unit_id "
#define ASSET_FROM	" FROM assets a" ASSET_JOIN_UNIT

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

static void id_text(char out[32], long long id)
{
	snprintf(out, 32, "%lld", id);
}

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

static int has_field(char *const *fields, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i], name) == 0)
			return 1;
	return 0;
}

/* ---- validation (before authentication) ---- */

static int check_name(const char *what, const char *s)
{
	return opra_name_check(what, s, INV_NAME_MAX);
}

static int check_opt_name(const char *what, const char *s, size_t max)
{
	return s[0] ? opra_name_check(what, s, max) : OPRA_OK;
}

static int check_asset_type(const char *t)
{
	if (in_list(t, asset_types, N_OF(asset_types)))
		return OPRA_OK;
	return opra_err_set(OPRA_INVALID_ARGUMENT,
			    "unknown asset type '%.64s': use people, information, technology or "
			    "facilities",
			    t);
}

static int check_criticality(const char *s)
{
	if (in_list(s, criticalities, N_OF(criticalities)))
		return OPRA_OK;
	return opra_err_set(OPRA_INVALID_ARGUMENT,
			    "unknown criticality '%.64s': use high, medium or low", s);
}

static int check_tags(char *const *tags, size_t n)
{
	if (n > INV_TAGS_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "an asset has at most %d tags (got %zu)",
				    INV_TAGS_MAX, n);
	for (size_t i = 0; i < n; i++) {
		int rc = opra_name_check("a tag", tags[i], INV_TAG_MAX);
		if (rc != OPRA_OK)
			return rc;
	}
	return OPRA_OK;
}

/* fields: each must be one of allowed (its name in the object message). */
static int check_fields(const char *kind, char *const *fields, size_t n, const char *const *allowed,
			size_t n_allowed, const char *allowed_text)
{
	for (size_t i = 0; i < n; i++) {
		if (in_list(fields[i], allowed, n_allowed))
			continue;
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown %s field '%.64s' in the update: use %s (rename with "
				    "new_name)",
				    kind, fields[i], allowed_text);
	}
	return OPRA_OK;
}

static int check_update_common(const char *kind, const char *name, size_t n_fields,
			       const char *new_name, int expect_version)
{
	int rc;
	if ((rc = check_name(kind, name)) != OPRA_OK)
		return rc;
	if ((rc = check_opt_name("the new name", new_name, INV_NAME_MAX)) != OPRA_OK)
		return rc;
	if (expect_version < 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "expect_version must be a version (> 0), or 0 for any");
	if (n_fields == 0 && new_name[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "nothing to update for %s '%s': list the fields to change or "
				    "give a new name",
				    kind, name);
	return OPRA_OK;
}

/* ---- reading rows into messages ---- */

static int unit_from_row(inv_obj *o, PGresult *r, int row, int c0)
{
	Opra__V1__Unit *u = &o->unit;
	opra__v1__unit__init(u);
	u->name = PQgetvalue(r, row, c0 + 1);
	u->parent = PQgetvalue(r, row, c0 + 2);
	u->site = PQgetvalue(r, row, c0 + 3);
	u->version = (int32_t)db_to_ll(PQgetvalue(r, row, c0 + 4));
	u->created_at = PQgetvalue(r, row, c0 + 5);
	u->updated_at = PQgetvalue(r, row, c0 + 6);
	u->removed = PQgetvalue(r, row, c0 + 7)[0] == 't';
	u->removed_at = PQgetvalue(r, row, c0 + 8);
	return OPRA_OK;
}

static int service_from_row(inv_obj *o, PGresult *r, int row, int c0)
{
	Opra__V1__Service *s = &o->service;
	opra__v1__service__init(s);
	s->name = PQgetvalue(r, row, c0 + 1);
	s->unit = PQgetvalue(r, row, c0 + 2);
	s->mission = PQgetvalue(r, row, c0 + 3);
	s->criticality = PQgetvalue(r, row, c0 + 4);
	s->version = (int32_t)db_to_ll(PQgetvalue(r, row, c0 + 5));
	s->created_at = PQgetvalue(r, row, c0 + 6);
	s->updated_at = PQgetvalue(r, row, c0 + 7);
	s->removed = PQgetvalue(r, row, c0 + 8)[0] == 't';
	s->removed_at = PQgetvalue(r, row, c0 + 9);
	s->assets = (uint32_t)db_to_ll(PQgetvalue(r, row, c0 + 10));
	return OPRA_OK;
}

/* Frees what asset_from_row allocated (the tags); NULL-safe. */
static void asset_clear(Opra__V1__Asset *a)
{
	if (a == NULL)
		return;
	opra_free(a->tags);
	a->tags = NULL;
	a->n_tags = 0;
}

/* The stored jsonb tag array -> a->tags: one block holding the pointers and
 * then the strings. */
static int tags_from_json(Opra__V1__Asset *a, const char *text)
{
	json_error_t e;
	json_t *arr = json_loads(text, 0, &e);
	size_t n = json_array_size(arr), bytes = 0;
	int rc = OPRA_OK;

	if (!json_is_array(arr)) {
		rc = opra_err_set(OPRA_INTERNAL, "the stored tags of asset '%s' are not a list",
				  a->name);
		goto done;
	}
	if (n == 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		bytes += (s ? strlen(s) : 0) + 1;
	}
	char **block = opra_malloc(n * sizeof(char *) + bytes);
	if (block == NULL) {
		rc = oom();
		goto done;
	}
	char *dst = (char *)(block + n);
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		size_t len = s ? strlen(s) : 0;
		memcpy(dst, s ? s : "", len + 1);
		block[i] = dst;
		dst += len + 1;
	}
	a->tags = block;
	a->n_tags = n;
done:
	json_decref(arr);
	return rc;
}

/* Fills o from ASSET_COLS starting at column c0; the caller releases it
 * with asset_clear. */
static int asset_from_row(inv_obj *o, PGresult *r, int row, int c0)
{
	Opra__V1__Asset *a = &o->asset;
	opra__v1__asset__init(a);
	a->name = PQgetvalue(r, row, c0 + 1);
	a->type = PQgetvalue(r, row, c0 + 2);
	a->unit = PQgetvalue(r, row, c0 + 3);
	a->owner = PQgetvalue(r, row, c0 + 4);
	a->description = PQgetvalue(r, row, c0 + 5);
	a->version = (int32_t)db_to_ll(PQgetvalue(r, row, c0 + 7));
	a->created_at = PQgetvalue(r, row, c0 + 8);
	a->updated_at = PQgetvalue(r, row, c0 + 9);
	a->removed = PQgetvalue(r, row, c0 + 10)[0] == 't';
	a->removed_at = PQgetvalue(r, row, c0 + 11);
	a->services = (uint32_t)db_to_ll(PQgetvalue(r, row, c0 + 12));
	return tags_from_json(a, PQgetvalue(r, row, c0 + 6));
}

/* ---- event JSON (jansson, so every string is escaped) ---- */

/* Dumps o (consumed) with removed_at added for removed rows. Caller frees
 * the text with free(); NULL when out of memory. */
static char *dump_object(json_t *o, int removed, const char *removed_at)
{
	char *s = NULL;
	if (o && removed && json_object_set_new(o, "removed_at", json_string(removed_at)) != 0) {
		json_decref(o);
		return NULL;
	}
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

static char *unit_json(const inv_obj *o)
{
	const Opra__V1__Unit *u = &o->unit;
	return dump_object(json_pack("{s:s, s:s, s:s, s:i, s:b}", "name", u->name, "parent",
				     u->parent, "site", u->site, "version", (int)u->version,
				     "removed", (int)u->removed),
			   u->removed, u->removed_at);
}

static char *service_json(const inv_obj *o)
{
	const Opra__V1__Service *s = &o->service;
	return dump_object(json_pack("{s:s, s:s, s:s, s:s, s:i, s:b}", "name", s->name, "unit",
				     s->unit, "mission", s->mission, "criticality", s->criticality,
				     "version", (int)s->version, "removed", (int)s->removed),
			   s->removed, s->removed_at);
}

/* A JSON array of strings, first occurrence of each kept. NULL when out of
 * memory. */
static json_t *string_array(char *const *v, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		size_t k = 0;
		while (k < i && strcmp(v[k], v[i]) != 0)
			k++;
		if (k < i)
			continue;
		if (json_array_append_new(arr, json_string(v[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static char *asset_json(const inv_obj *o)
{
	const Opra__V1__Asset *a = &o->asset;
	json_t *tags = string_array(a->tags, a->n_tags);
	if (tags == NULL)
		return NULL;
	return dump_object(json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:b}", "name", a->name,
				     "type", a->type, "unit", a->unit, "owner", a->owner,
				     "description", a->description, "tags", tags, "version",
				     (int)a->version, "removed", (int)a->removed),
			   a->removed, a->removed_at);
}

/* The tags of a request as the jsonb text to store (duplicates dropped).
 * Caller frees with free(). */
static int tags_text(char **out, char *const *tags, size_t n)
{
	json_t *arr = string_array(tags, n);
	*out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return *out ? OPRA_OK : oom();
}

/* Writes the event for a change of kind k; before/after may be NULL (an
 * add has no before). */
static int inv_event(call *c, const char *kind, const char *name, const char *before,
		     const char *after)
{
	char object[INV_NAME_MAX + 16];
	snprintf(object, sizeof(object), "%s:%s", kind, name);
	return call_event(c, object, before, after);
}

/* ---- the kinds ---- */

/* Per kind: its words in messages, the fixed statements generic code runs
 * and how a row becomes its message and its event JSON.
 * lock_*: ($1 name) -> id, version, owning unit id (units: the parent) or 0,
 * that unit's name or ''. remove: ($1 id) -> removed_at. by_id: ($1 id) ->
 * the kind's columns, removed or not; by_name: ($1 name) -> the active row's
 * columns. list: ($1 unit id or NULL, $2 include removed[, $3 asset type]). */
typedef struct {
	const char *word;
	const char *a_word; /* "a unit", "an asset" */
	const char *lock_update;
	const char *lock_share;
	const char *remove;
	const char *by_id;
	const char *by_name;
	const char *list;
	int n_list_params;
	int (*from_row)(inv_obj *o, PGresult *r, int row, int c0);
	char *(*to_json)(const inv_obj *o);
} kind_info;

static const kind_info kinds[] = {
	[KIND_UNIT] =
		{"unit", "a unit",
		 "SELECT x.id, x.version, coalesce(x.parent_id, 0), coalesce(p.name, '') "
		 "FROM units x LEFT JOIN units p ON p.id = x.parent_id "
		 "WHERE x.name = $1 AND x.removed_at IS NULL FOR UPDATE OF x",
		 "SELECT x.id, x.version, coalesce(x.parent_id, 0), coalesce(p.name, '') "
		 "FROM units x LEFT JOIN units p ON p.id = x.parent_id "
		 "WHERE x.name = $1 AND x.removed_at IS NULL FOR SHARE OF x",
		 "UPDATE units SET removed_at = now(), updated_at = now(), version = version + "
		 "1 WHERE id = $1::bigint RETURNING " TS("removed_at"),
		 "SELECT " UNIT_COLS UNIT_FROM "WHERE u.id = $1::bigint",
		 "SELECT " UNIT_COLS UNIT_FROM "WHERE u.name = $1 AND u.removed_at IS NULL",
		 "WITH RECURSIVE sub(id) AS (SELECT $1::bigint "
		 "UNION SELECT x.id FROM units x JOIN sub ON x.parent_id = sub.id) "
		 "SELECT " UNIT_COLS UNIT_FROM
		 "WHERE ($1::bigint IS NULL OR u.id IN (SELECT id FROM sub)) "
		 "AND ($2::boolean OR u.removed_at IS NULL) "
		 "ORDER BY u.name, u.removed_at NULLS FIRST, u.id",
		 2, unit_from_row, unit_json},
	[KIND_SERVICE] = {"service", "a service",
			  "SELECT x.id, x.version, x.unit_id, u.name FROM services x "
			  "JOIN units u ON u.id = x.unit_id "
			  "WHERE x.name = $1 AND x.removed_at IS NULL FOR UPDATE OF x",
			  "SELECT x.id, x.version, x.unit_id, u.name FROM services x "
			  "JOIN units u ON u.id = x.unit_id "
			  "WHERE x.name = $1 AND x.removed_at IS NULL FOR SHARE OF x",
			  "UPDATE services SET removed_at = now(), updated_at = now(), version = "
			  "version + 1 WHERE id = $1::bigint RETURNING " TS("removed_at"),
			  "SELECT " SERVICE_COLS SERVICE_FROM "WHERE s.id = $1::bigint",
			  "SELECT " SERVICE_COLS SERVICE_FROM
			  "WHERE s.name = $1 AND s.removed_at IS NULL",
			  "SELECT " SERVICE_COLS SERVICE_FROM
			  "WHERE ($1::bigint IS NULL OR s.unit_id = $1::bigint) "
			  "AND ($2::boolean OR s.removed_at IS NULL) "
			  "ORDER BY s.name, s.removed_at NULLS FIRST, s.id",
			  2, service_from_row, service_json},
	[KIND_ASSET] =
		{"asset", "an asset",
		 "SELECT x.id, x.version, coalesce(x.unit_id, 0), coalesce(u.name, '') "
		 "FROM assets x LEFT JOIN units u ON u.id = x.unit_id "
		 "WHERE x.name = $1 AND x.removed_at IS NULL FOR UPDATE OF x",
		 "SELECT x.id, x.version, coalesce(x.unit_id, 0), coalesce(u.name, '') "
		 "FROM assets x LEFT JOIN units u ON u.id = x.unit_id "
		 "WHERE x.name = $1 AND x.removed_at IS NULL FOR SHARE OF x",
		 "UPDATE assets SET removed_at = now(), updated_at = now(), version = version "
		 "+ 1 WHERE id = $1::bigint RETURNING " TS("removed_at"),
		 "SELECT " ASSET_COLS ASSET_FROM "WHERE a.id = $1::bigint",
		 "SELECT " ASSET_COLS ASSET_FROM "WHERE a.name = $1 AND a.removed_at IS NULL",
		 "SELECT " ASSET_COLS ASSET_FROM
		 "WHERE ($1::bigint IS NULL OR a.unit_id = $1::bigint) "
		 "AND ($2::boolean OR a.removed_at IS NULL) AND ($3 = '' OR a.type = $3) "
		 "ORDER BY a.name, a.removed_at NULLS FIRST, a.id",
		 3, asset_from_row, asset_json},
};

/* Frees what from_row allocated in o (only assets allocate); o must have
 * been zeroed or filled. */
static void obj_clear(inv_kind k, inv_obj *o)
{
	if (k == KIND_ASSET)
		asset_clear(&o->asset);
}

static const char *obj_name(inv_kind k, const inv_obj *o)
{
	switch (k) {
	case KIND_UNIT:
		return o->unit.name;
	case KIND_SERVICE:
		return o->service.name;
	default:
		return o->asset.name;
	}
}

/* Replies with the object's Unit/Service/AssetReply. */
static int obj_reply(call *c, inv_kind k, inv_obj *o)
{
	Opra__V1__UnitReply unit = OPRA__V1__UNIT_REPLY__INIT;
	Opra__V1__ServiceReply service = OPRA__V1__SERVICE_REPLY__INIT;
	Opra__V1__AssetReply asset = OPRA__V1__ASSET_REPLY__INIT;

	switch (k) {
	case KIND_UNIT:
		unit.unit = &o->unit;
		return call_reply(c, &unit.base);
	case KIND_SERVICE:
		service.service = &o->service;
		return call_reply(c, &service.base);
	default:
		asset.asset = &o->asset;
		return call_reply(c, &asset.base);
	}
}

static int not_found(inv_kind k, const char *name)
{
	return opra_err_set(OPRA_NOT_FOUND, "no %s named '%s' (see 'opra %s list')", kinds[k].word,
			    name, kinds[k].word);
}

/* Reads one row (active or removed) by id. *res holds the strings o points
 * to: PQclear it after use; the caller also calls obj_clear(k, o). */
static int obj_read(PGresult **res, inv_obj *o, call *c, inv_kind k, long long id)
{
	char idt[32];
	id_text(idt, id);
	const char *p[1] = {idt};
	memset(o, 0, sizeof(*o));
	int rc = db_exec(res, c->db, 1, kinds[k].by_id, 1, p);
	if (rc == OPRA_OK && PQntuples(*res) != 1)
		rc = opra_err_set(OPRA_INTERNAL, "%s %lld vanished", kinds[k].word, id);
	if (rc == OPRA_OK)
		rc = kinds[k].from_row(o, *res, 0, 0);
	return rc;
}

/* Reads the active object `name`; NOT_FOUND names it. Ownership as for
 * obj_read. */
static int obj_find(PGresult **res, inv_obj *o, call *c, inv_kind k, const char *name)
{
	const char *p[1] = {name};
	memset(o, 0, sizeof(*o));
	int rc = db_exec(res, c->db, 1, kinds[k].by_name, 1, p);
	if (rc == OPRA_OK && PQntuples(*res) == 0)
		rc = not_found(k, name);
	if (rc == OPRA_OK)
		rc = kinds[k].from_row(o, *res, 0, 0);
	return rc;
}

/* The event JSON of object id of kind k as it is now. Caller frees *out
 * with free(). */
static int obj_json(char **out, call *c, inv_kind k, long long id)
{
	PGresult *r = NULL;
	inv_obj o;
	int rc;

	*out = NULL;
	if ((rc = obj_read(&r, &o, c, k, id)) == OPRA_OK && (*out = kinds[k].to_json(&o)) == NULL)
		rc = oom();
	obj_clear(k, &o);
	PQclear(r);
	return rc;
}

/* Rows of one kind plus the pointer array a repeated field wants (every
 * message starts with its ProtobufCMessage base). Free with obj_set_free. */
typedef struct {
	inv_kind k;
	inv_obj *rows;
	ProtobufCMessage **ptrs;
	size_t n;
} obj_set;

static int obj_set_fill(obj_set *s, inv_kind k, PGresult *r, int c0)
{
	size_t n = (size_t)PQntuples(r);
	s->k = k;
	s->rows = opra_calloc(n + 1, sizeof(*s->rows));
	s->ptrs = opra_calloc(n + 1, sizeof(*s->ptrs));
	if (s->rows == NULL || s->ptrs == NULL)
		return oom();
	for (size_t i = 0; i < n; i++) {
		int rc = kinds[k].from_row(&s->rows[i], r, (int)i, c0);
		if (rc != OPRA_OK)
			return rc;
		s->ptrs[i] = (ProtobufCMessage *)&s->rows[i];
		s->n = i + 1;
	}
	return OPRA_OK;
}

static void obj_set_free(obj_set *s)
{
	for (size_t i = 0; s->rows && i < s->n; i++)
		obj_clear(s->k, &s->rows[i]);
	opra_free(s->rows);
	opra_free(s->ptrs);
}

/* Replies with object id of kind k and writes its event (before may be
 * NULL: an add has none). */
static int obj_finish(call *c, inv_kind k, long long id, const char *before)
{
	PGresult *r = NULL;
	inv_obj o;
	char *after = NULL;
	int rc = obj_read(&r, &o, c, k, id);
	if (rc != OPRA_OK)
		goto done;
	if ((after = kinds[k].to_json(&o)) == NULL) {
		rc = oom();
		goto done;
	}
	if ((rc = inv_event(c, kinds[k].word, obj_name(k, &o), before, after)) != OPRA_OK)
		goto done;
	rc = obj_reply(c, k, &o);
done:
	obj_clear(k, &o);
	free(after);
	PQclear(r);
	return rc;
}

/* ---- locking lookups, tree checks and authorisation ---- */

typedef struct {
	long long id;
	int version;
	long long unit_id; /* units: the parent; services and assets: their unit; 0 = none */
	char unit[INV_NAME_MAX + 1];
} obj_ref;

/* Finds the active object `name` of kind k and locks it: FOR UPDATE to
 * change or remove it, FOR SHARE to depend on it. NOT_FOUND names it. */
static int obj_lock(obj_ref *out, call *c, inv_kind k, const char *name, int for_update)
{
	PGresult *r = NULL;
	const char *p[1] = {name};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_exec(&r, c->db, 1, for_update ? kinds[k].lock_update : kinds[k].lock_share, 1, p);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) == 0) {
		rc = not_found(k, name);
		goto done;
	}
	out->id = db_to_ll(PQgetvalue(r, 0, 0));
	out->version = (int)db_to_ll(PQgetvalue(r, 0, 1));
	out->unit_id = db_to_ll(PQgetvalue(r, 0, 2));
	snprintf(out->unit, sizeof(out->unit), "%s", PQgetvalue(r, 0, 3));
done:
	PQclear(r);
	return rc;
}

/* ABORTED with {"current_version": N} when the caller expected another
 * version (expect 0: any). */
static int version_check(const char *kind, const char *name, int expect, int current)
{
	if (expect <= 0 || expect == current)
		return OPRA_OK;
	int rc = opra_err_set(OPRA_ABORTED,
			      "%s '%s' changed meanwhile: it is at version %d, you expected %d; "
			      "show it again and retry",
			      kind, name, current, expect);
	char details[64];
	snprintf(details, sizeof(details), "{\"current_version\": %d}", current);
	opra_err_set_details(details);
	return rc;
}

/* *yes when unit `unit_id` is `ancestor` or lies below it. Walks parent
 * links upwards; UNION (not UNION ALL) ends the walk even on a cycle. */
static int unit_within(int *yes, call *c, long long unit_id, long long ancestor)
{
	PGresult *r = NULL;
	char a[32], b[32];
	id_text(a, unit_id);
	id_text(b, ancestor);
	const char *p[2] = {a, b};
	*yes = 0;
	int rc = db_exec(
		&r, c->db, 1,
		"WITH RECURSIVE up(id, parent_id) AS ("
		"SELECT id, parent_id FROM units WHERE id = $1::bigint "
		"UNION SELECT u.id, u.parent_id FROM units u JOIN up ON u.id = up.parent_id) "
		"SELECT EXISTS (SELECT 1 FROM up WHERE id = $2::bigint)",
		2, p);
	if (rc == OPRA_OK)
		*yes = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return rc;
}

/* Authorises a write to an object of unit `unit_id` (for units: the unit
 * itself, or the parent a unit goes under; 0: no unit, e.g. a root unit).
 * Admins and program-office write anywhere; a user only inside the subtree of
 * its scope unit. fmt describes, for the refusal, why the object is outside
 * ("unit 'X' (of service 'Y') is outside it"). */
static int scope_check(call *c, long long unit_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int scope_check(call *c, long long unit_id, const char *fmt, ...)
{
	PGresult *r = NULL;
	char what[640], scope[32];
	int yes = 0, rc;
	va_list ap;

	if (c->who->role == ROLE_ADMIN || c->who->role == ROLE_PROGRAM_OFFICE)
		return OPRA_OK;
	if (c->who->role != ROLE_USER)
		return opra_err_set(OPRA_PERMISSION_DENIED,
				    "user '%s' (role '%s') may not change the inventory",
				    c->who->name, role_name(c->who->role));
	if (c->who->unit_id == 0)
		return opra_err_set(
			OPRA_PERMISSION_DENIED,
			"user '%s' is not scoped to a unit and may only read the "
			"inventory: users with role 'user' change only the subtree of "
			"their unit (an admin creates one with 'opra user add NAME --role "
			"user --unit UNIT')",
			c->who->name);
	if (unit_id != 0 && (rc = unit_within(&yes, c, unit_id, c->who->unit_id)) != OPRA_OK)
		return rc;
	if (yes)
		return OPRA_OK;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	id_text(scope, c->who->unit_id);
	const char *p[1] = {scope};
	rc = db_exec(&r, c->db, 1,
		     "SELECT coalesce((SELECT name FROM units WHERE id = $1::bigint), '?')", 1, p);
	if (rc == OPRA_OK)
		rc = opra_err_set(
			OPRA_PERMISSION_DENIED,
			"user '%s' may change the inventory only inside unit '%s' and the "
			"units under it, and %s",
			c->who->name, PQgetvalue(r, 0, 0), what);
	PQclear(r);
	return rc;
}

/* Is the object scoped by an appraisal that is still open (issue #5: its
 * removal is refused, listing those appraisals)? Services and units are
 * instances of appraisals (appraisals_scoping). An asset is in an
 * appraisal's scope through the scoped services it supports (an active
 * link), so removing it would silently change what the appraisal covers:
 * refused as well, naming the services and appraisals. Sealed appraisals
 * keep their history and no longer block anything. */
static int inventory_in_open_appraisal(call *c, inv_kind k, long long id, const char *name)
{
	char names[600];
	PGresult *r = NULL;
	int rc;

	if (k != KIND_ASSET) {
		rc = appraisals_scoping(c, kinds[k].word, id, names, sizeof(names));
		if (rc != OPRA_OK || names[0] == '\0')
			return rc;
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "%s '%s' is an instance of open appraisal%s %s; it cannot be "
				    "removed until %s finalised (opra appraisal finalize)",
				    kinds[k].word, name, strchr(names, ',') ? "s" : "", names,
				    strchr(names, ',') ? "they are" : "it is");
	}
	char idt[32];
	id_text(idt, id);
	const char *p[1] = {idt};
	rc = db_exec(&r, c->db, 1,
		     "SELECT DISTINCT a.name, s.name FROM service_assets l "
		     "JOIN services s ON s.id = l.service_id AND s.removed_at IS NULL "
		     "JOIN appraisal_instances i ON i.service_id = s.id "
		     "JOIN appraisals a ON a.id = i.appraisal_id AND a.sealed_at IS NULL "
		     "WHERE l.asset_id = $1::bigint ORDER BY a.name, s.name "
		     "LIMIT " INV_BLOCKERS_SHOWN_SQL,
		     1, p);
	if (rc != OPRA_OK || PQntuples(r) == 0)
		goto done;
	opra_buf msg = OPRA_BUF_INIT;
	for (int i = 0; rc == OPRA_OK && i < PQntuples(r); i++)
		rc = opra_buf_printf(&msg, "%sappraisal %s (service %s)", i ? ", " : "",
				     PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	if (rc == OPRA_OK)
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "asset '%s' supports services in the scope of open appraisals: "
				  "%s; unlink it from those services (opra service unlink) or "
				  "finalise the appraisals before removing it",
				  name, (const char *)msg.data);
	else
		rc = oom();
	opra_buf_free(&msg);
done:
	PQclear(r);
	return rc;
}

/* ---- writes: what every kind shares ---- */

/* Authorises a change of object x (of kind k, named name) where it is now:
 * a unit by itself, a service or an asset by its unit. */
static int obj_scope(call *c, inv_kind k, const obj_ref *x, const char *name)
{
	if (k == KIND_UNIT)
		return scope_check(c, x->id, "unit '%s' is outside it", name);
	if (x->unit_id == 0)
		return scope_check(c, 0, "%s '%s' belongs to no unit", kinds[k].word, name);
	return scope_check(c, x->unit_id, "unit '%s' (of %s '%s') is outside it", x->unit,
			   kinds[k].word, name);
}

/* Runs the INSERT of an add (sql returns the new row's id) and finishes
 * it: event and reply. ALREADY_EXISTS names the taken name. */
static int obj_insert(call *c, inv_kind k, const char *name, const char *sql, int n,
		      const char *const *p)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, c->db, 1, sql, n, p);
	if (rc == OPRA_ALREADY_EXISTS)
		rc = opra_err_set(OPRA_ALREADY_EXISTS, "%s named '%s' already exists",
				  kinds[k].a_word, name);
	if (rc == OPRA_OK)
		rc = obj_finish(c, k, db_to_ll(PQgetvalue(r, 0, 0)), NULL);
	PQclear(r);
	return rc;
}

/* An Unit/Service/AssetUpdateRequest, whatever its kind. values is the
 * kind's message (an empty one when the request has none). */
typedef struct {
	const char *name;
	const char *new_name;
	char *const *fields;
	size_t n_fields;
	int expect_version;
	const void *values;
} update_req;

/* The parameters of a kind's UPDATE: $1 id, $2 name, then its columns in
 * the order of writes[k].update. p points into the buffers here, into the
 * request and into the row read before the change. */
typedef struct {
	char id[32];
	char unit[32]; /* units: the parent */
	char *tags;    /* assets: jsonb text, free() */
	const char *p[7];
	int n;
} update_params;

/* The value of column `field` after the update: the request's when it lists
 * the field, else the current one. */
static const char *field_value(const update_req *r, const char *field, const char *requested,
			       const char *current)
{
	return has_field(r->fields, r->n_fields, field) ? requested : current;
}

/* ---- Units ---- */

static const char *const unit_fields[] = {"parent", "site"};
static const Opra__V1__Unit unit_empty = OPRA__V1__UNIT__INIT;

/* Checks the values an add sets (all) or an update lists in fields. */
static int unit_values_check(const void *values, int all, char *const *fields, size_t n_fields)
{
	const Opra__V1__Unit *u = values;
	int rc;
	if ((all || has_field(fields, n_fields, "parent")) &&
	    (rc = check_opt_name("the parent unit", u->parent, INV_NAME_MAX)) != OPRA_OK)
		return rc;
	if ((all || has_field(fields, n_fields, "site")) &&
	    (rc = check_opt_name("the site", u->site, INV_LABEL_MAX)) != OPRA_OK)
		return rc;
	return OPRA_OK;
}

static int unit_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__Unit *u = ((const Opra__V1__UnitAddRequest *)in)->unit;
	obj_ref parent = {0};
	char pid[32];
	int rc;

	if (u->parent[0]) {
		if ((rc = obj_lock(&parent, c, KIND_UNIT, u->parent, 0)) != OPRA_OK)
			goto done;
		rc = scope_check(c, parent.id,
				 "unit '%s' (the parent of new unit '%s') is outside it", u->parent,
				 u->name);
	} else {
		rc = scope_check(c, 0, "a new root unit ('%s') would be outside it", u->name);
	}
	if (rc != OPRA_OK)
		goto done;
	id_text(pid, parent.id);
	const char *p[3] = {u->name, parent.id ? pid : NULL, u->site};
	rc = obj_insert(c, KIND_UNIT, u->name,
			"INSERT INTO units (name, parent_id, site) VALUES ($1, $2::bigint, $3) "
			"RETURNING id",
			3, p);
done:
	return rc;
}

/* A unit's update: a move (to a new parent, or to the root) must not make
 * a cycle and must stay in the caller's scope. */
static int unit_update_values(update_params *up, call *c, const update_req *r, const obj_ref *x,
			      const inv_obj *before)
{
	const Opra__V1__Unit *v = r->values;
	int move = has_field(r->fields, r->n_fields, "parent");
	obj_ref parent;
	int rc;

	long long new_parent = x->unit_id;
	if (move && v->parent[0] == '\0') {
		new_parent = 0;
		if (x->unit_id != 0 &&
		    (rc = scope_check(c, 0, "making '%s' a root unit would move it outside",
				      r->name)) != OPRA_OK)
			return rc;
	} else if (move) {
		if ((rc = obj_lock(&parent, c, KIND_UNIT, v->parent, 0)) != OPRA_OK)
			return rc;
		new_parent = parent.id;
		int inside = 0;
		if ((rc = unit_within(&inside, c, parent.id, x->id)) != OPRA_OK)
			return rc;
		if (inside) {
			if (parent.id == x->id)
				return opra_err_set(OPRA_FAILED_PRECONDITION,
						    "unit '%s' cannot be placed under itself",
						    r->name);
			return opra_err_set(OPRA_FAILED_PRECONDITION,
					    "unit '%s' cannot be placed under '%s': '%s' is "
					    "inside the subtree of '%s'",
					    r->name, v->parent, v->parent, r->name);
		}
		if ((rc = scope_check(c, parent.id,
				      "unit '%s' (the new parent of '%s') is outside it", v->parent,
				      r->name)) != OPRA_OK)
			return rc;
	}
	id_text(up->unit, new_parent);
	up->p[2] = new_parent ? up->unit : NULL;
	up->p[3] = field_value(r, "site", v->site, before->unit.site);
	up->n = 4;
	return OPRA_OK;
}

/* ---- Services ---- */

static const char *const service_fields[] = {"unit", "mission", "criticality"};
static const Opra__V1__Service service_empty = OPRA__V1__SERVICE__INIT;

static int service_values_check(const void *values, int all, char *const *fields, size_t n_fields)
{
	const Opra__V1__Service *s = values;
	int rc;
	if (all || has_field(fields, n_fields, "unit")) {
		if (s->unit[0] == '\0')
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "a service needs the unit it belongs to");
		if ((rc = check_name("the unit name", s->unit)) != OPRA_OK)
			return rc;
	}
	if ((all || has_field(fields, n_fields, "mission")) &&
	    (rc = opra_text_check("the mission", s->mission, INV_TEXT_MAX)) != OPRA_OK)
		return rc;
	if (all ? s->criticality[0] != '\0' : has_field(fields, n_fields, "criticality"))
		return check_criticality(s->criticality);
	return OPRA_OK;
}

static int service_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__Service *s = ((const Opra__V1__ServiceAddRequest *)in)->service;
	obj_ref unit;
	char uid[32];
	int rc;

	if ((rc = obj_lock(&unit, c, KIND_UNIT, s->unit, 0)) != OPRA_OK)
		goto done;
	if ((rc = scope_check(c, unit.id, "unit '%s' (of new service '%s') is outside it", s->unit,
			      s->name)) != OPRA_OK)
		goto done;
	id_text(uid, unit.id);
	const char *p[4] = {s->name, uid, s->mission,
			    s->criticality[0] ? s->criticality : "medium"};
	rc = obj_insert(c, KIND_SERVICE, s->name,
			"INSERT INTO services (name, unit_id, mission, criticality) "
			"VALUES ($1, $2::bigint, $3, $4) RETURNING id",
			4, p);
done:
	return rc;
}

static int service_update_values(update_params *up, call *c, const update_req *r, const obj_ref *x,
				 const inv_obj *before)
{
	const Opra__V1__Service *v = r->values;
	obj_ref unit;
	int rc;

	long long new_unit = x->unit_id;
	if (has_field(r->fields, r->n_fields, "unit")) {
		if ((rc = obj_lock(&unit, c, KIND_UNIT, v->unit, 0)) != OPRA_OK)
			return rc;
		new_unit = unit.id;
		if ((rc = scope_check(c, unit.id,
				      "unit '%s' (the new unit of service '%s') is "
				      "outside it",
				      v->unit, r->name)) != OPRA_OK)
			return rc;
	}
	id_text(up->unit, new_unit);
	up->p[2] = up->unit;
	up->p[3] = field_value(r, "mission", v->mission, before->service.mission);
	up->p[4] = field_value(r, "criticality", v->criticality, before->service.criticality);
	up->n = 5;
	return OPRA_OK;
}

/* ---- Assets ---- */

static const char *const asset_fields[] = {"type", "unit", "owner", "description", "tags"};
static const Opra__V1__Asset asset_empty = OPRA__V1__ASSET__INIT;

static int asset_values_check(const void *values, int all, char *const *fields, size_t n_fields)
{
	const Opra__V1__Asset *a = values;
	int rc;
	if (all || has_field(fields, n_fields, "type")) {
		if (a->type[0] == '\0')
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "an asset needs a type: people, information, "
					    "technology or facilities");
		if ((rc = check_asset_type(a->type)) != OPRA_OK)
			return rc;
	}
	if ((all || has_field(fields, n_fields, "unit")) &&
	    (rc = check_opt_name("the unit name", a->unit, INV_NAME_MAX)) != OPRA_OK)
		return rc;
	if ((all || has_field(fields, n_fields, "owner")) &&
	    (rc = check_opt_name("the owner", a->owner, INV_LABEL_MAX)) != OPRA_OK)
		return rc;
	if ((all || has_field(fields, n_fields, "description")) &&
	    (rc = opra_text_check("the description", a->description, INV_TEXT_MAX)) != OPRA_OK)
		return rc;
	if ((all || has_field(fields, n_fields, "tags")) &&
	    (rc = check_tags(a->tags, a->n_tags)) != OPRA_OK)
		return rc;
	return OPRA_OK;
}
/* The unit an asset goes into (none when name is empty) and whether the
 * caller may write there. */
static int asset_unit(obj_ref *unit, call *c, const char *name, const char *asset, const char *how)
{
	int rc;
	memset(unit, 0, sizeof(*unit));
	if (name[0] == '\0')
		return scope_check(c, 0, "%s asset '%s' would belong to no unit", how, asset);
	if ((rc = obj_lock(unit, c, KIND_UNIT, name, 0)) != OPRA_OK)
		return rc;
	return scope_check(c, unit->id, "unit '%s' (of %s asset '%s') is outside it", name, how,
			   asset);
}

static int asset_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__Asset *a = ((const Opra__V1__AssetAddRequest *)in)->asset;
	obj_ref unit;
	char *tags = NULL;
	char uid[32];
	int rc;

	if ((rc = asset_unit(&unit, c, a->unit, a->name, "new")) != OPRA_OK)
		goto done;
	if ((rc = tags_text(&tags, a->tags, a->n_tags)) != OPRA_OK)
		goto done;
	id_text(uid, unit.id);
	const char *p[6] = {a->name, a->type, unit.id ? uid : NULL, a->owner, a->description, tags};
	rc = obj_insert(c, KIND_ASSET, a->name,
			"INSERT INTO assets (name, type, unit_id, owner, description, tags) "
			"VALUES ($1, $2, $3::bigint, $4, $5, $6::jsonb) RETURNING id",
			6, p);
done:
	free(tags);
	return rc;
}

static int asset_update_values(update_params *up, call *c, const update_req *r, const obj_ref *x,
			       const inv_obj *before)
{
	const Opra__V1__Asset *v = r->values;
	const Opra__V1__Asset *cur = &before->asset;
	obj_ref unit;
	int rc;

	long long new_unit = x->unit_id;
	if (has_field(r->fields, r->n_fields, "unit")) {
		if ((rc = asset_unit(&unit, c, v->unit, r->name, "the moved")) != OPRA_OK)
			return rc;
		new_unit = unit.id;
	}
	if (has_field(r->fields, r->n_fields, "tags"))
		rc = tags_text(&up->tags, v->tags, v->n_tags);
	else
		rc = tags_text(&up->tags, cur->tags, cur->n_tags);
	if (rc != OPRA_OK)
		return rc;
	id_text(up->unit, new_unit);
	up->p[2] = field_value(r, "type", v->type, cur->type);
	up->p[3] = new_unit ? up->unit : NULL;
	up->p[4] = field_value(r, "owner", v->owner, cur->owner);
	up->p[5] = field_value(r, "description", v->description, cur->description);
	up->p[6] = up->tags;
	up->n = 7;
	return OPRA_OK;
}

/* ---- Add and Update (all kinds) ---- */

/* Per kind, what adds and updates need besides kinds[]. update: ($1 id,
 * $2 name, then the columns update_values fills) -> a row only when
 * something changed. */
typedef struct {
	const char *add_method;	   /* "UnitAdd" */
	const char *name_what;	   /* "the unit name" */
	const char *const *fields; /* the fields an update may list */
	size_t n_fields;
	const char *fields_text;
	const void *empty; /* the kind's message with nothing set */
	int (*values_check)(const void *values, int all, char *const *fields, size_t n_fields);
	int (*update_values)(update_params *up, call *c, const update_req *r, const obj_ref *x,
			     const inv_obj *before);
	const char *update;
} kind_writes;

static const kind_writes writes[] = {
	[KIND_UNIT] = {"UnitAdd", "the unit name", unit_fields, N_OF(unit_fields), "parent or site",
		       &unit_empty, unit_values_check, unit_update_values,
		       "UPDATE units SET name = $2, parent_id = $3::bigint, site = $4, "
		       "version = version + 1, updated_at = now() WHERE id = $1::bigint AND "
		       "(name, parent_id, site) IS DISTINCT FROM ($2::text, $3::bigint, $4::text) "
		       "RETURNING 1"},
	[KIND_SERVICE] = {"ServiceAdd", "the service name", service_fields, N_OF(service_fields),
			  "unit, mission or criticality", &service_empty, service_values_check,
			  service_update_values,
			  "UPDATE services SET name = $2, unit_id = $3::bigint, mission = $4, "
			  "criticality = $5, version = version + 1, updated_at = now() "
			  "WHERE id = $1::bigint AND (name, unit_id, mission, criticality) IS "
			  "DISTINCT FROM ($2::text, $3::bigint, $4::text, $5::text) RETURNING 1"},
	[KIND_ASSET] = {"AssetAdd", "the asset name", asset_fields, N_OF(asset_fields),
			"type, unit, owner, description or tags", &asset_empty, asset_values_check,
			asset_update_values,
			"UPDATE assets SET name = $2, type = $3, unit_id = $4::bigint, owner = $5, "
			"description = $6, tags = $7::jsonb, version = version + 1, updated_at = "
			"now() WHERE id = $1::bigint AND (name, type, unit_id, owner, description, "
			"tags) IS DISTINCT FROM ($2::text, $3::text, $4::bigint, $5::text, "
			"$6::text, $7::jsonb) RETURNING 1"},
};

/* values: the add request's object (NULL when missing), name its name. */
static int add_check(inv_kind k, const void *values, const char *name)
{
	int rc;
	if (values == NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s needs %s", writes[k].add_method,
				    kinds[k].a_word);
	if ((rc = check_name(writes[k].name_what, name)) != OPRA_OK)
		return rc;
	return writes[k].values_check(values, 1, NULL, 0);
}

static int update_check(inv_kind k, const update_req *r)
{
	int rc;
	if ((rc = check_update_common(kinds[k].word, r->name, r->n_fields, r->new_name,
				      r->expect_version)) != OPRA_OK)
		return rc;
	if ((rc = check_fields(kinds[k].word, r->fields, r->n_fields, writes[k].fields,
			       writes[k].n_fields, writes[k].fields_text)) != OPRA_OK)
		return rc;
	return writes[k].values_check(r->values, 0, r->fields, r->n_fields);
}

/* Lock, authorise, check the version, let the kind resolve its columns,
 * then update; an update that changes nothing replies with the object as it
 * is (no new version, no event). */
static int obj_update(call *c, inv_kind k, const update_req *r)
{
	update_params up = {0};
	obj_ref x;
	PGresult *cur = NULL, *res = NULL;
	inv_obj before;
	char *before_json = NULL;
	int rc;

	memset(&before, 0, sizeof(before));
	if ((rc = obj_lock(&x, c, k, r->name, 1)) != OPRA_OK)
		goto done;
	if ((rc = obj_scope(c, k, &x, r->name)) != OPRA_OK)
		goto done;
	if ((rc = version_check(kinds[k].word, r->name, r->expect_version, x.version)) != OPRA_OK)
		goto done;
	if ((rc = obj_read(&cur, &before, c, k, x.id)) != OPRA_OK)
		goto done;
	if ((rc = writes[k].update_values(&up, c, r, &x, &before)) != OPRA_OK)
		goto done;
	if ((before_json = kinds[k].to_json(&before)) == NULL) {
		rc = oom();
		goto done;
	}
	id_text(up.id, x.id);
	up.p[0] = up.id;
	up.p[1] = r->new_name[0] ? r->new_name : r->name;
	rc = db_exec(&res, c->db, 1, writes[k].update, up.n, up.p);
	if (rc == OPRA_ALREADY_EXISTS)
		rc = opra_err_set(OPRA_ALREADY_EXISTS,
				  "cannot rename %s '%s': %s named '%s' already exists",
				  kinds[k].word, r->name, kinds[k].a_word, r->new_name);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(res) == 0)
		rc = obj_reply(c, k, &before);
	else
		rc = obj_finish(c, k, x.id, before_json);
done:
	obj_clear(k, &before);
	free(before_json);
	free(up.tags);
	PQclear(cur);
	PQclear(res);
	return rc;
}

static int unit_add_validate(const ProtobufCMessage *in)
{
	const Opra__V1__Unit *u = ((const Opra__V1__UnitAddRequest *)in)->unit;
	return add_check(KIND_UNIT, u, u ? u->name : NULL);
}

static int service_add_validate(const ProtobufCMessage *in)
{
	const Opra__V1__Service *s = ((const Opra__V1__ServiceAddRequest *)in)->service;
	return add_check(KIND_SERVICE, s, s ? s->name : NULL);
}

static int asset_add_validate(const ProtobufCMessage *in)
{
	const Opra__V1__Asset *a = ((const Opra__V1__AssetAddRequest *)in)->asset;
	return add_check(KIND_ASSET, a, a ? a->name : NULL);
}

#define UPDATE_REQ(k, r, values)                                                                   \
	((update_req){(r)->name, (r)->new_name, (r)->fields, (r)->n_fields, (r)->expect_version,   \
		      (values) ? (const void *)(values) : writes[k].empty})

static int unit_update_validate(const ProtobufCMessage *in)
{
	const Opra__V1__UnitUpdateRequest *r = (const Opra__V1__UnitUpdateRequest *)in;
	const update_req u = UPDATE_REQ(KIND_UNIT, r, r->unit);
	return update_check(KIND_UNIT, &u);
}

static int unit_update(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UnitUpdateRequest *r = (const Opra__V1__UnitUpdateRequest *)in;
	const update_req u = UPDATE_REQ(KIND_UNIT, r, r->unit);
	PGresult *res = NULL;
	int rc = OPRA_OK;

	/* Moves serialise before any row lock (see UNIT_TREE_LOCK_SQL). */
	if (has_field(r->fields, r->n_fields, "parent"))
		rc = db_exec(&res, c->db, 1, UNIT_TREE_LOCK_SQL, 0, NULL);
	PQclear(res);
	return rc == OPRA_OK ? obj_update(c, KIND_UNIT, &u) : rc;
}

static int service_update_validate(const ProtobufCMessage *in)
{
	const Opra__V1__ServiceUpdateRequest *r = (const Opra__V1__ServiceUpdateRequest *)in;
	const update_req u = UPDATE_REQ(KIND_SERVICE, r, r->service);
	return update_check(KIND_SERVICE, &u);
}

static int service_update(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ServiceUpdateRequest *r = (const Opra__V1__ServiceUpdateRequest *)in;
	const update_req u = UPDATE_REQ(KIND_SERVICE, r, r->service);
	return obj_update(c, KIND_SERVICE, &u);
}

static int asset_update_validate(const ProtobufCMessage *in)
{
	const Opra__V1__AssetUpdateRequest *r = (const Opra__V1__AssetUpdateRequest *)in;
	const update_req u = UPDATE_REQ(KIND_ASSET, r, r->asset);
	return update_check(KIND_ASSET, &u);
}

static int asset_update(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__AssetUpdateRequest *r = (const Opra__V1__AssetUpdateRequest *)in;
	const update_req u = UPDATE_REQ(KIND_ASSET, r, r->asset);
	return obj_update(c, KIND_ASSET, &u);
}

/* ---- Remove (all kinds) ---- */

static int remove_validate(const ProtobufCMessage *in)
{
	return check_name("the name", ((const Opra__V1__RemoveRequest *)in)->name);
}

/* A unit may go only when nothing active hangs on it: child units,
 * services, assets, or (not revoked) users scoped to it. FAILED_PRECONDITION
 * lists up to INV_BLOCKERS_SHOWN of them. */
static int unit_removable(call *c, long long id, const char *name)
{
	PGresult *r = NULL;
	opra_buf msg = OPRA_BUF_INIT;
	char idt[32];
	int rc;

	id_text(idt, id);
	const char *p[1] = {idt};
	rc = db_exec(&r, c->db, 1,
		     "SELECT kind, name, count(*) OVER () FROM ("
		     "SELECT 1 AS ord, 'unit' AS kind, name FROM units "
		     "WHERE parent_id = $1::bigint AND removed_at IS NULL "
		     "UNION ALL SELECT 2, 'service', name FROM services "
		     "WHERE unit_id = $1::bigint AND removed_at IS NULL "
		     "UNION ALL SELECT 3, 'asset', name FROM assets "
		     "WHERE unit_id = $1::bigint AND removed_at IS NULL "
		     "UNION ALL SELECT 4, 'user', name FROM users "
		     "WHERE unit_id = $1::bigint AND revoked_at IS NULL) b "
		     "ORDER BY ord, name LIMIT " INV_BLOCKERS_SHOWN_SQL,
		     1, p);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r);
	if (n == 0)
		goto done;
	long total = (long)db_to_ll(PQgetvalue(r, 0, 2));
	rc = opra_buf_printf(&msg, "unit '%s' still holds %ld active object%s: ", name, total,
			     total == 1 ? "" : "s");
	for (int i = 0; rc == OPRA_OK && i < n; i++)
		rc = opra_buf_printf(&msg, "%s%s '%s'", i ? ", " : "", PQgetvalue(r, i, 0),
				     PQgetvalue(r, i, 1));
	if (rc == OPRA_OK && total > n)
		rc = opra_buf_printf(&msg, " and %ld more", total - n);
	if (rc == OPRA_OK)
		rc = opra_buf_puts(&msg, "; move or remove them first (revoke users scoped to it)");
	if (rc != OPRA_OK) {
		rc = oom();
		goto done;
	}
	rc = opra_err_set(OPRA_FAILED_PRECONDITION, "%s", (const char *)msg.data);
done:
	opra_buf_free(&msg);
	PQclear(r);
	return rc;
}

static int inv_remove(call *c, inv_kind k, const char *name)
{
	obj_ref x;
	PGresult *res = NULL;
	char *before = NULL, *after = NULL;
	char id[32], removed_at[64] = "";
	int rc;

	if ((rc = obj_lock(&x, c, k, name, 1)) != OPRA_OK)
		goto done;
	if ((rc = obj_scope(c, k, &x, name)) != OPRA_OK)
		goto done;
	if ((rc = inventory_in_open_appraisal(c, k, x.id, name)) != OPRA_OK)
		goto done;
	if (k == KIND_UNIT && (rc = unit_removable(c, x.id, name)) != OPRA_OK)
		goto done;
	/* Before, change, after: the same reader renders both sides. */
	if ((rc = obj_json(&before, c, k, x.id)) != OPRA_OK)
		goto done;
	id_text(id, x.id);
	const char *p[1] = {id};
	if ((rc = db_exec(&res, c->db, 1, kinds[k].remove, 1, p)) != OPRA_OK)
		goto done;
	snprintf(removed_at, sizeof(removed_at), "%s", PQgetvalue(res, 0, 0));
	if ((rc = obj_json(&after, c, k, x.id)) != OPRA_OK)
		goto done;
	if ((rc = inv_event(c, kinds[k].word, name, before, after)) != OPRA_OK)
		goto done;
	Opra__V1__RemoveReply reply = OPRA__V1__REMOVE_REPLY__INIT;
	reply.name = (char *)name;
	reply.removed_at = removed_at;
	rc = call_reply(c, &reply.base);
done:
	free(before);
	free(after);
	PQclear(res);
	return rc;
}

/* ---- List and Show ---- */

static int list_check(const Opra__V1__ListRequest *r, int types)
{
	int rc = check_opt_name("the unit name", r->unit, INV_NAME_MAX);
	if (rc != OPRA_OK)
		return rc;
	if (r->type[0] && !types)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "a type filter applies to assets only");
	if (r->type[0])
		return check_asset_type(r->type);
	return OPRA_OK;
}

static int unit_list_validate(const ProtobufCMessage *in)
{
	return list_check((const Opra__V1__ListRequest *)in, 0);
}

static int asset_list_validate(const ProtobufCMessage *in)
{
	return list_check((const Opra__V1__ListRequest *)in, 1);
}

/* The id of the active unit a list is filtered by, as text ("" when there is
 * no filter; the list then passes NULL). */
static int list_unit(char out[32], call *c, const char *name)
{
	PGresult *r = NULL;
	const char *p[1] = {name};
	int rc = OPRA_OK;

	out[0] = '\0';
	if (name[0] == '\0')
		return OPRA_OK;
	rc = db_exec(&r, c->db, 1, "SELECT id FROM units WHERE name = $1 AND removed_at IS NULL", 1,
		     p);
	if (rc == OPRA_OK && PQntuples(r) == 0)
		rc = opra_err_set(OPRA_NOT_FOUND, "no unit named '%s' (see 'opra unit list')",
				  name);
	if (rc == OPRA_OK)
		snprintf(out, 32, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

/* Replies with the Unit/Service/AssetListReply of the set. */
static int list_reply(call *c, const obj_set *set)
{
	Opra__V1__UnitListReply units = OPRA__V1__UNIT_LIST_REPLY__INIT;
	Opra__V1__ServiceListReply services = OPRA__V1__SERVICE_LIST_REPLY__INIT;
	Opra__V1__AssetListReply assets = OPRA__V1__ASSET_LIST_REPLY__INIT;

	switch (set->k) {
	case KIND_UNIT:
		units.n_units = set->n;
		units.units = (Opra__V1__Unit **)set->ptrs;
		return call_reply(c, &units.base);
	case KIND_SERVICE:
		services.n_services = set->n;
		services.services = (Opra__V1__Service **)set->ptrs;
		return call_reply(c, &services.base);
	default:
		assets.n_assets = set->n;
		assets.assets = (Opra__V1__Asset **)set->ptrs;
		return call_reply(c, &assets.base);
	}
}

static int obj_list(call *c, inv_kind k, const Opra__V1__ListRequest *req)
{
	PGresult *r = NULL;
	obj_set set = {0};
	char uid[32];
	int rc;

	if ((rc = list_unit(uid, c, req->unit)) != OPRA_OK)
		goto done;
	const char *p[3] = {uid[0] ? uid : NULL, req->include_removed ? "true" : "false",
			    req->type};
	rc = db_exec(&r, c->db, 1, kinds[k].list, kinds[k].n_list_params, p);
	if (rc != OPRA_OK || (rc = obj_set_fill(&set, k, r, 0)) != OPRA_OK)
		goto done;
	rc = list_reply(c, &set);
done:
	obj_set_free(&set);
	PQclear(r);
	return rc;
}

static int show_validate(const ProtobufCMessage *in)
{
	return check_name("the name", ((const Opra__V1__ShowRequest *)in)->name);
}

/* Sets u's children to the names of the active units under unit id (text).
 * They point into *kids; *children is the pointer array: the caller frees
 * both. */
static int unit_children(PGresult **kids, char ***children, Opra__V1__Unit *u, call *c,
			 const char *id)
{
	const char *p[1] = {id};
	int rc = db_exec(kids, c->db, 1,
			 "SELECT name FROM units WHERE parent_id = $1::bigint AND removed_at IS "
			 "NULL ORDER BY name",
			 1, p);
	if (rc != OPRA_OK)
		return rc;
	size_t n = (size_t)PQntuples(*kids);
	if ((*children = opra_calloc(n + 1, sizeof(**children))) == NULL)
		return oom();
	for (size_t i = 0; i < n; i++)
		(*children)[i] = PQgetvalue(*kids, (int)i, 0);
	u->n_children = n;
	u->children = *children;
	return OPRA_OK;
}

/* The active object `name`; a unit comes with its children. */
static int obj_show(call *c, inv_kind k, const char *name)
{
	PGresult *r = NULL, *kids = NULL;
	char **children = NULL;
	inv_obj o;
	int rc;

	if ((rc = obj_find(&r, &o, c, k, name)) != OPRA_OK)
		goto done;
	if (k == KIND_UNIT &&
	    (rc = unit_children(&kids, &children, &o.unit, c, PQgetvalue(r, 0, 0))) != OPRA_OK)
		goto done;
	rc = obj_reply(c, k, &o);
done:
	opra_free(children);
	obj_clear(k, &o);
	PQclear(kids);
	PQclear(r);
	return rc;
}

/* ---- Link / Unlink ---- */

static int link_validate(const ProtobufCMessage *in)
{
	const Opra__V1__LinkRequest *r = (const Opra__V1__LinkRequest *)in;
	int rc = check_name("the service name", r->service);
	if (rc != OPRA_OK)
		return rc;
	if (r->n_assets == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name at least one asset to (un)link");
	if (r->n_assets > INV_LINK_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "at most %d assets per call (got %zu): split the list",
				    INV_LINK_MAX, r->n_assets);
	for (size_t i = 0; i < r->n_assets; i++)
		if ((rc = check_name("an asset name", r->assets[i])) != OPRA_OK)
			return rc;
	return OPRA_OK;
}

/* Link (create) or unlink (delete) service -> assets. Every asset must
 * exist (active) or nothing changes. */
static int inv_link(call *c, const Opra__V1__LinkRequest *r, int create)
{
	obj_ref svc;
	PGresult *res = NULL;
	json_t *names = NULL, *ev = NULL;
	char *names_text = NULL, *ev_text = NULL;
	char sid[32];
	int rc;

	if ((rc = obj_lock(&svc, c, KIND_SERVICE, r->service, 0)) != OPRA_OK)
		goto done;
	if ((rc = obj_scope(c, KIND_SERVICE, &svc, r->service)) != OPRA_OK)
		goto done;
	/* The names travel as one JSON array parameter. */
	if ((names = string_array(r->assets, r->n_assets)) == NULL ||
	    (names_text = json_dumps(names, JSON_COMPACT)) == NULL) {
		rc = oom();
		goto done;
	}
	size_t distinct = json_array_size(names);
	/* Lock the assets (a concurrent removal waits, or is seen), then name
	 * the first missing one if any is. */
	const char *p1[1] = {names_text};
	rc = db_exec(&res, c->db, 1,
		     "SELECT a.id FROM assets a WHERE a.removed_at IS NULL AND "
		     "a.name IN (SELECT jsonb_array_elements_text($1::jsonb)) FOR SHARE",
		     1, p1);
	if (rc != OPRA_OK)
		goto done;
	size_t found = (size_t)PQntuples(res);
	PQclear(res);
	res = NULL;
	if (found < distinct) {
		rc = db_exec(
			&res, c->db, 1,
			"SELECT n.name FROM jsonb_array_elements_text($1::jsonb) WITH "
			"ORDINALITY AS n(name, ord) WHERE NOT EXISTS (SELECT 1 FROM assets a "
			"WHERE a.name = n.name AND a.removed_at IS NULL) ORDER BY n.ord LIMIT 1",
			1, p1);
		if (rc != OPRA_OK)
			goto done;
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "no asset named '%s' (see 'opra asset list'); nothing was %s",
				  PQntuples(res) ? PQgetvalue(res, 0, 0) : "?",
				  create ? "linked" : "unlinked");
		goto done;
	}
	id_text(sid, svc.id);
	const char *p2[2] = {sid, names_text};
	if (create)
		rc = db_exec(
			&res, c->db, 1,
			"WITH ch AS (INSERT INTO service_assets (service_id, asset_id) "
			"SELECT $1::bigint, a.id FROM assets a WHERE a.removed_at IS NULL AND "
			"a.name IN (SELECT jsonb_array_elements_text($2::jsonb)) "
			"ON CONFLICT DO NOTHING RETURNING asset_id) "
			"SELECT a.name FROM ch JOIN assets a ON a.id = ch.asset_id ORDER BY a.name",
			2, p2);
	else
		rc = db_exec(
			&res, c->db, 1,
			"WITH ch AS (DELETE FROM service_assets WHERE service_id = $1::bigint "
			"AND asset_id IN (SELECT a.id FROM assets a WHERE a.removed_at IS NULL "
			"AND a.name IN (SELECT jsonb_array_elements_text($2::jsonb))) "
			"RETURNING asset_id) "
			"SELECT a.name FROM ch JOIN assets a ON a.id = ch.asset_id ORDER BY a.name",
			2, p2);
	if (rc != OPRA_OK)
		goto done;
	size_t changed = (size_t)PQntuples(res);
	if (changed > 0) {
		json_t *list = json_array();
		for (size_t i = 0; list && i < changed; i++)
			if (json_array_append_new(list, json_string(PQgetvalue(res, (int)i, 0))) !=
			    0) {
				json_decref(list);
				list = NULL;
			}
		ev = list ? json_pack("{s:s, s:o}", "service", r->service, "assets", list) : NULL;
		if (ev == NULL || (ev_text = json_dumps(ev, JSON_COMPACT)) == NULL) {
			rc = oom();
			goto done;
		}
		/* A link comes into being (no before) or ends (no after). */
		if ((rc = inv_event(c, "link", r->service, create ? NULL : ev_text,
				    create ? ev_text : NULL)) != OPRA_OK)
			goto done;
	}
	Opra__V1__LinkReply reply = OPRA__V1__LINK_REPLY__INIT;
	reply.service = r->service;
	reply.changed = (uint32_t)changed;
	reply.unchanged = (uint32_t)(distinct - changed);
	rc = call_reply(c, &reply.base);
done:
	json_decref(names);
	json_decref(ev);
	free(names_text);
	free(ev_text);
	PQclear(res);
	return rc;
}

static int service_link(call *c, const ProtobufCMessage *in)
{
	return inv_link(c, (const Opra__V1__LinkRequest *)in, 1);
}

static int service_unlink(call *c, const ProtobufCMessage *in)
{
	return inv_link(c, (const Opra__V1__LinkRequest *)in, 0);
}

/* ---- Show: the dependency tree ---- */

static int tree_validate(const ProtobufCMessage *in)
{
	const Opra__V1__InventoryShowRequest *r = (const Opra__V1__InventoryShowRequest *)in;
	if (r->asset && r->name[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the asset whose dependent services to show");
	return check_opt_name(r->asset ? "the asset name" : "the service name", r->name,
			      INV_NAME_MAX);
}

/* An asset and the active services that depend on it: two queries. */
static int tree_asset(call *c, const char *name)
{
	PGresult *ra = NULL, *rs = NULL;
	inv_obj a;
	obj_set set = {0};
	int rc;

	if ((rc = obj_find(&ra, &a, c, KIND_ASSET, name)) != OPRA_OK)
		goto done;
	const char *id[1] = {PQgetvalue(ra, 0, 0)};
	rc = db_exec(&rs, c->db, 1,
		     "SELECT " SERVICE_COLS " FROM service_assets l "
		     "JOIN services s ON s.id = l.service_id JOIN units un ON un.id = s.unit_id "
		     "WHERE l.asset_id = $1::bigint AND s.removed_at IS NULL ORDER BY s.name",
		     1, id);
	if (rc != OPRA_OK || (rc = obj_set_fill(&set, KIND_SERVICE, rs, 0)) != OPRA_OK)
		goto done;
	Opra__V1__AssetTree tree = OPRA__V1__ASSET_TREE__INIT;
	tree.asset = &a.asset;
	tree.n_services = set.n;
	tree.services = (Opra__V1__Service **)set.ptrs;
	Opra__V1__InventoryShowReply reply = OPRA__V1__INVENTORY_SHOW_REPLY__INIT;
	reply.asset = &tree;
	rc = call_reply(c, &reply.base);
done:
	obj_set_free(&set);
	obj_clear(KIND_ASSET, &a);
	PQclear(rs);
	PQclear(ra);
	return rc;
}

/* One service (name) or every active service (name ""), each with its active
 * assets by type, then name. One query per level: the services, then all
 * their assets ordered by service name so each service's assets are one
 * consecutive run. */
static int tree_services(call *c, const char *name)
{
	PGresult *rs = NULL, *ra = NULL;
	obj_set services = {0}, assets = {0};
	Opra__V1__ServiceTree *trees = NULL, **tptrs = NULL;
	const char *p[1] = {name};
	int rc;

	rc = db_exec(
		&rs, c->db, 1,
		"SELECT " SERVICE_COLS SERVICE_FROM
		"WHERE ($1 = '' OR s.name = $1) AND s.removed_at IS NULL ORDER BY s.name, s.id",
		1, p);
	if (rc != OPRA_OK)
		goto done;
	if (name[0] && PQntuples(rs) == 0) {
		rc = not_found(KIND_SERVICE, name);
		goto done;
	}
	if ((rc = obj_set_fill(&services, KIND_SERVICE, rs, 0)) != OPRA_OK)
		goto done;
	rc = db_exec(&ra, c->db, 1,
		     "SELECT l.service_id, " ASSET_COLS " FROM service_assets l "
		     "JOIN services ls ON ls.id = l.service_id "
		     "JOIN assets a ON a.id = l.asset_id" ASSET_JOIN_UNIT
		     "WHERE ($1 = '' OR ls.name = $1) AND ls.removed_at IS NULL "
		     "AND a.removed_at IS NULL ORDER BY ls.name, ls.id, " ASSET_TYPE_ORDER
		     ", a.name",
		     1, p);
	if (rc != OPRA_OK || (rc = obj_set_fill(&assets, KIND_ASSET, ra, 1)) != OPRA_OK)
		goto done;
	trees = opra_calloc(services.n + 1, sizeof(*trees));
	tptrs = opra_calloc(services.n + 1, sizeof(*tptrs));
	if (trees == NULL || tptrs == NULL) {
		rc = oom();
		goto done;
	}
	size_t k = 0;
	for (size_t i = 0; i < services.n; i++) {
		long long sid = db_to_ll(PQgetvalue(rs, (int)i, 0));
		size_t start = k;
		while (k < assets.n && db_to_ll(PQgetvalue(ra, (int)k, 0)) == sid)
			k++;
		opra__v1__service_tree__init(&trees[i]);
		trees[i].service = &services.rows[i].service;
		trees[i].n_assets = k - start;
		trees[i].assets = (Opra__V1__Asset **)(assets.ptrs + start);
		tptrs[i] = &trees[i];
	}
	Opra__V1__InventoryShowReply reply = OPRA__V1__INVENTORY_SHOW_REPLY__INIT;
	reply.n_services = services.n;
	reply.services = tptrs;
	rc = call_reply(c, &reply.base);
done:
	opra_free(trees);
	opra_free(tptrs);
	obj_set_free(&assets);
	obj_set_free(&services);
	PQclear(ra);
	PQclear(rs);
	return rc;
}

static int inventory_show(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__InventoryShowRequest *r = (const Opra__V1__InventoryShowRequest *)in;
	return r->asset ? tree_asset(c, r->name) : tree_services(c, r->name);
}

/* Writes: admin, program-office and users (scoped users, checked per object
 * in scope_check). Automation gets no write rows until bulk import. */
#define INV_WRITERS (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_USER)

/* Rows that differ only in the kind of object share one handler; the row's
 * arg names the kind. */
static const inv_kind kind_args[] = {KIND_UNIT, KIND_SERVICE, KIND_ASSET};
#define KIND_ARG(k) ((const void *)&kind_args[k])

static inv_kind kind_of(const call *c)
{
	return *(const inv_kind *)c->arg;
}

static int remove_handler(call *c, const ProtobufCMessage *in)
{
	return inv_remove(c, kind_of(c), ((const Opra__V1__RemoveRequest *)in)->name);
}

static int list_handler(call *c, const ProtobufCMessage *in)
{
	return obj_list(c, kind_of(c), (const Opra__V1__ListRequest *)in);
}

static int show_handler(call *c, const ProtobufCMessage *in)
{
	return obj_show(c, kind_of(c), ((const Opra__V1__ShowRequest *)in)->name);
}

static const method_impl inventory_methods[] = {
	{"UnitAdd", unit_add, unit_add_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"UnitUpdate", unit_update, unit_update_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"UnitRemove", remove_handler, remove_validate, INV_WRITERS, METHOD_MUTATES,
	 KIND_ARG(KIND_UNIT)},
	{"UnitList", list_handler, unit_list_validate, ROLES_ANY, 0, KIND_ARG(KIND_UNIT)},
	{"UnitShow", show_handler, show_validate, ROLES_ANY, 0, KIND_ARG(KIND_UNIT)},
	{"ServiceAdd", service_add, service_add_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"ServiceUpdate", service_update, service_update_validate, INV_WRITERS, METHOD_MUTATES,
	 NULL},
	{"ServiceRemove", remove_handler, remove_validate, INV_WRITERS, METHOD_MUTATES,
	 KIND_ARG(KIND_SERVICE)},
	{"ServiceList", list_handler, unit_list_validate, ROLES_ANY, 0, KIND_ARG(KIND_SERVICE)},
	{"ServiceShow", show_handler, show_validate, ROLES_ANY, 0, KIND_ARG(KIND_SERVICE)},
	{"ServiceLink", service_link, link_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"ServiceUnlink", service_unlink, link_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"AssetAdd", asset_add, asset_add_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"AssetUpdate", asset_update, asset_update_validate, INV_WRITERS, METHOD_MUTATES, NULL},
	{"AssetRemove", remove_handler, remove_validate, INV_WRITERS, METHOD_MUTATES,
	 KIND_ARG(KIND_ASSET)},
	{"AssetList", list_handler, asset_list_validate, ROLES_ANY, 0, KIND_ARG(KIND_ASSET)},
	{"AssetShow", show_handler, show_validate, ROLES_ANY, 0, KIND_ARG(KIND_ASSET)},
	{"Show", inventory_show, tree_validate, ROLES_ANY, 0, NULL},
};

const service_impl svc_inventory = {&opra__v1__inventory__descriptor, inventory_methods,
				    N_OF(inventory_methods)};
