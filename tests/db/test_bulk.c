/* Bulk import and export (opra.v1.InventoryBulk) through the real server
 * stack: counts, re-import changes nothing, versions on real changes,
 * dry runs, bad input that changes nothing (missing references,
 * duplicates, cycles), resent batches, an import resumed across a server
 * restart, staged batches lost by the database, a name created by someone
 * else meanwhile, roles, paging, hostile names. */
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/inventory.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static testserver ts;

#define M(name) "opra.v1.InventoryBulk/" name

static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "bulk", 16u << 20);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testserver_teardown(&ts);
	return 0;
}

/* A record as the test writes it; tags are ';'-separated. */
typedef struct {
	const char *kind;
	long line;
	const char *name, *parent, *site, *unit, *mission, *crit, *type, *owner, *desc, *tags,
		*service, *asset;
} rec;

static char *S(const char *s)
{
	return (char *)(s ? s : "");
}

/* The records as protobuf messages; free with records_free. */
static Opra__V1__BulkRecord **records_make(const rec *rs, size_t n)
{
	Opra__V1__BulkRecord **v = calloc(n + 1, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		Opra__V1__BulkRecord *x = calloc(1, sizeof(*x));
		assert_non_null(x);
		opra__v1__bulk_record__init(x);
		const rec *r = &rs[i];
		x->kind = S(r->kind);
		x->line = r->line;
		x->name = S(r->name);
		x->parent = S(r->parent);
		x->site = S(r->site);
		x->unit = S(r->unit);
		x->mission = S(r->mission);
		x->criticality = S(r->crit);
		x->type = S(r->type);
		x->owner = S(r->owner);
		x->description = S(r->desc);
		x->service = S(r->service);
		x->asset = S(r->asset);
		if (r->tags && r->tags[0]) {
			char *copy = strdup(r->tags);
			x->tags = calloc(64, sizeof(char *));
			assert_non_null(x->tags);
			for (char *t = strtok(copy, ";"); t && x->n_tags < 64;
			     t = strtok(NULL, ";"))
				x->tags[x->n_tags++] = t;
			if (x->n_tags == 0)
				free(copy);
		}
		v[i] = x;
	}
	return v;
}

static void records_free(Opra__V1__BulkRecord **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i]->n_tags)
			free(v[i]->tags[0]);
		free(v[i]->tags);
		free(v[i]);
	}
	free(v);
}

static int bulk_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *rd, void *out, const char *key)
{
	char fresh[40];
	ProtobufCMessage *resp = NULL;
	if (key == NULL) {
		rpc_new_key(fresh);
		key = fresh;
	}
	int rc = rpc_call(c, method, req, rd, &resp, key);
	if (out)
		*(ProtobufCMessage **)out = resp;
	else if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int begin(rpc_client *c, const char *source, char id[65])
{
	Opra__V1__BulkBeginRequest req = OPRA__V1__BULK_BEGIN_REQUEST__INIT;
	req.source = (char *)source;
	Opra__V1__BulkBeginReply *rep = NULL;
	int rc = bulk_call(c, M("Begin"), &req.base, &opra__v1__bulk_begin_reply__descriptor, &rep,
			   NULL);
	if (rc == OPRA_OK) {
		assert_int_equal(strlen(rep->import_id), 32);
		snprintf(id, 65, "%s", rep->import_id);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return rc;
}

static int stage(rpc_client *c, const char *id, unsigned seq, Opra__V1__BulkRecord **v, size_t n,
		 const char *key, unsigned long long *total)
{
	Opra__V1__BulkStageRequest req = OPRA__V1__BULK_STAGE_REQUEST__INIT;
	req.import_id = (char *)id;
	req.seq = seq;
	req.records = v;
	req.n_records = n;
	Opra__V1__BulkStageReply *rep = NULL;
	int rc = bulk_call(c, M("Stage"), &req.base, &opra__v1__bulk_stage_reply__descriptor, &rep,
			   key);
	if (rc == OPRA_OK) {
		assert_int_equal(rep->staged, n);
		if (total)
			*total = rep->total_staged;
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return rc;
}

/* counts[kind][created, updated, unchanged], kinds unit, service, asset,
 * link. */
typedef unsigned long long counts[4][3];

/* Commit under key (NULL: a fresh one). */
static int commit_key(rpc_client *c, const char *id, int dry_run, counts out, const char *key)
{
	Opra__V1__BulkCommitRequest req = OPRA__V1__BULK_COMMIT_REQUEST__INIT;
	req.import_id = (char *)id;
	req.dry_run = dry_run;
	Opra__V1__BulkCommitReply *rep = NULL;
	int rc = bulk_call(c, M("Commit"), &req.base, &opra__v1__bulk_commit_reply__descriptor,
			   &rep, key);
	if (rc == OPRA_OK) {
		static const char *const kinds[4] = {"unit", "service", "asset", "link"};
		assert_int_equal(rep->n_counts, 4);
		assert_int_equal(rep->dry_run, dry_run);
		for (int k = 0; k < 4; k++) {
			assert_string_equal(rep->counts[k]->kind, kinds[k]);
			out[k][0] = rep->counts[k]->created;
			out[k][1] = rep->counts[k]->updated;
			out[k][2] = rep->counts[k]->unchanged;
		}
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return rc;
}

static int commit(rpc_client *c, const char *id, int dry_run, counts out)
{
	return commit_key(c, id, dry_run, out, NULL);
}

static int abort_import(rpc_client *c, const char *id)
{
	Opra__V1__BulkAbortRequest req = OPRA__V1__BULK_ABORT_REQUEST__INIT;
	req.import_id = (char *)id;
	return bulk_call(c, M("Abort"), &req.base, &opra__v1__bulk_abort_reply__descriptor, NULL,
			 NULL);
}

/* Begin, Stage (batches of `batch`), Commit. On a failure the message is in
 * msg and the import is aborted. */
static int import(rpc_client *c, const rec *rs, size_t n, size_t batch, int dry_run, counts out,
		  char *msg, size_t msg_size)
{
	char id[65];
	Opra__V1__BulkRecord **v = records_make(rs, n);
	int rc = begin(c, "test.csv", id);
	assert_int_equal(rc, OPRA_OK);
	unsigned seq = 1;
	for (size_t off = 0; rc == OPRA_OK && off < n; off += batch, seq++)
		rc = stage(c, id, seq, v + off, n - off < batch ? n - off : batch, NULL, NULL);
	if (rc == OPRA_OK)
		rc = commit(c, id, dry_run, out);
	if (msg)
		snprintf(msg, msg_size, "%s", rc == OPRA_OK ? "" : opra_err_msg());
	if (rc != OPRA_OK || dry_run)
		assert_int_equal(abort_import(c, id), OPRA_OK);
	records_free(v, n);
	return rc;
}

static void assert_counts(counts got, const unsigned long long want[4][3])
{
	for (int k = 0; k < 4; k++)
		for (int j = 0; j < 3; j++)
			if (got[k][j] != want[k][j])
				fail_msg("kind %d count %d: got %llu, want %llu", k, j, got[k][j],
					 want[k][j]);
}

static char *query_text(const char *sql, const char *param)
{
	PGresult *r = NULL;
	const char *p[1] = {param};
	assert_int_equal(db_exec(&r, ts.db, 1, sql, param ? 1 : 0, param ? p : NULL), OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	char *s = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

static void assert_query(const char *sql, const char *param, const char *want)
{
	char *got = query_text(sql, param);
	if (strcmp(got, want) != 0)
		fail_msg("%s [%s]: got '%s', want '%s'", sql, param ? param : "", got, want);
	free(got);
}

/* Everything an import may change, as one text. */
static char *inventory_state(void)
{
	return query_text(
		"SELECT (SELECT count(*) || '/' || coalesce(sum(version), 0) || '/' || "
		"coalesce(string_agg(name || ':' || site || ':' || coalesce(parent_id::text, '') "
		"|| "
		"':' || version, ',' ORDER BY id), '') FROM units) || ' ' || "
		"(SELECT count(*) || '/' || coalesce(sum(version), 0) FROM services) || ' ' || "
		"(SELECT count(*) || '/' || coalesce(sum(version), 0) || '/' || "
		"coalesce(string_agg(md5(tags::text || owner), ',' ORDER BY id), '') FROM assets) "
		"|| ' ' || (SELECT count(*) FROM service_assets) || ' ' || "
		"(SELECT count(*) FROM events)",
		NULL);
}

static void assert_unchanged(const char *before)
{
	char *now = inventory_state();
	if (strcmp(now, before) != 0)
		fail_msg("the inventory changed:\n before %s\n after  %s", before, now);
	free(now);
}

static void assert_contains(const char *msg, const char *want)
{
	if (strstr(msg, want) == NULL)
		fail_msg("message '%s' does not contain '%s'", msg, want);
}

/* ---- tests ---- */

static const rec first_import[] = {
	{.kind = "unit", .line = 2, .name = "B-Ops", .parent = "B-Corp", .site = "Columbus"},
	{.kind = "unit", .line = 3, .name = "B-Corp"},
	{.kind = "unit", .line = 4, .name = "B-Sales", .parent = "B-Corp"},
	{.kind = "service",
	 .line = 5,
	 .name = "B-claims",
	 .unit = "B-Ops",
	 .mission = "Pay claims",
	 .crit = "high"},
	{.kind = "service", .line = 6, .name = "B-crm", .unit = "B-Sales"},
	{.kind = "asset",
	 .line = 7,
	 .name = "B-db-1",
	 .type = "technology",
	 .unit = "B-Ops",
	 .owner = "DBA team",
	 .tags = "prod;tier-1"},
	{.kind = "asset", .line = 8, .name = "B-policy", .type = "information"},
	{.kind = "asset", .line = 9, .name = "B-clerks", .type = "people", .unit = "B-Sales"},
	{.kind = "link", .line = 10, .service = "B-claims", .asset = "B-db-1"},
	{.kind = "link", .line = 11, .service = "B-claims", .asset = "B-policy"},
	{.kind = "link", .line = 12, .service = "B-crm", .asset = "B-clerks"},
};
#define FIRST_N (sizeof(first_import) / sizeof(first_import[0]))

static void import_counts_and_reimport(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	counts got;
	char msg[512];

	assert_int_equal(import(c, first_import, FIRST_N, 4, 0, got, msg, sizeof(msg)), OPRA_OK);
	const unsigned long long want1[4][3] = {{3, 0, 0}, {2, 0, 0}, {3, 0, 0}, {3, 0, 0}};
	assert_counts(got, want1);
	assert_query(
		"SELECT p.name FROM units u JOIN units p ON p.id = u.parent_id WHERE u.name = $1",
		"B-Ops", "B-Corp");
	assert_query("SELECT tags::text FROM assets WHERE name = $1", "B-db-1",
		     "[\"prod\", \"tier-1\"]");
	assert_query("SELECT criticality FROM services WHERE name = $1", "B-crm", "medium");
	/* One event per created object, one per service it linked assets to
	 * (as `opra service link` writes), and the summary. */
	assert_query("SELECT count(*) FROM events WHERE object LIKE ANY (ARRAY['unit:B-%', "
		     "'service:B-%', 'asset:B-%', 'link:B-%']) AND method = $1",
		     M("Commit"), "10");
	assert_query("SELECT after::text FROM events WHERE object = $1 ORDER BY id DESC LIMIT 1",
		     "link:B-claims",
		     "{\"assets\": [\"B-db-1\", \"B-policy\"], \"service\": \"B-claims\"}");
	assert_query("SELECT coalesce(before::text, 'null') || ' ' || (after->>'version') || ' ' "
		     "|| (after->>'owner') || ' ' || actor FROM events WHERE object = $1",
		     "asset:B-db-1", "null 1 DBA team root");
	assert_query("SELECT after->'asset'->>'created' FROM events WHERE object = $1 ORDER BY id "
		     "DESC LIMIT 1",
		     "import:test.csv", "3");
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM import_batches"), 0);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM imports"), 0);

	/* The same file again changes nothing. */
	char *before =
		query_text("SELECT count(*) FROM events WHERE object NOT LIKE 'import:%'", NULL);
	assert_int_equal(import(c, first_import, FIRST_N, 5, 0, got, NULL, 0), OPRA_OK);
	const unsigned long long want2[4][3] = {{0, 0, 3}, {0, 0, 2}, {0, 0, 3}, {0, 0, 3}};
	assert_counts(got, want2);
	assert_query("SELECT count(*) FROM events WHERE object NOT LIKE 'import:%'", NULL, before);
	free(before);
	assert_query("SELECT max(version) FROM (SELECT version FROM units WHERE name LIKE 'B-%' "
		     "UNION ALL SELECT version FROM services WHERE name LIKE 'B-%' UNION ALL "
		     "SELECT version FROM assets WHERE name LIKE $1) v",
		     "B-%", "1");

	/* A changed field: one update, version 2; a moved unit too. */
	rec changed[FIRST_N];
	memcpy(changed, first_import, sizeof(changed));
	changed[5].owner = "Storage team";
	changed[2].parent = "B-Ops";
	changed[3].mission = "Pay claims fast";
	assert_int_equal(import(c, changed, FIRST_N, 100, 0, got, NULL, 0), OPRA_OK);
	const unsigned long long want3[4][3] = {{0, 1, 2}, {0, 1, 1}, {0, 1, 2}, {0, 0, 3}};
	assert_counts(got, want3);
	assert_query("SELECT owner || ' v' || version FROM assets WHERE name = $1", "B-db-1",
		     "Storage team v2");
	assert_query("SELECT p.name || ' v' || u.version FROM units u JOIN units p ON p.id = "
		     "u.parent_id WHERE u.name = $1",
		     "B-Sales", "B-Ops v2");
	assert_query("SELECT before->>'owner' || ' -> ' || (after->>'owner') FROM events WHERE "
		     "object = $1 ORDER BY id DESC LIMIT 1",
		     "asset:B-db-1", "DBA team -> Storage team");
	assert_query(
		"SELECT (before->>'mission') || ' v' || (before->>'version') || ' -> ' || "
		"(after->>'mission') || ' v' || (after->>'version') || ' ' || (after->>'unit') "
		"FROM events WHERE object = $1 ORDER BY id DESC LIMIT 1",
		"service:B-claims", "Pay claims v1 -> Pay claims fast v2 B-Ops");
	rpc_client_close(c);
}

static void dry_run_changes_nothing(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	counts got;
	const rec rs[] = {
		{.kind = "unit", .line = 2, .name = "D-Unit"},
		{.kind = "asset", .line = 3, .name = "D-a", .type = "facilities", .unit = "D-Unit"},
		{.kind = "service", .line = 4, .name = "D-s", .unit = "D-Unit"},
		{.kind = "link", .line = 5, .service = "D-s", .asset = "D-a"},
	};
	char *before = inventory_state();
	assert_int_equal(import(c, rs, 4, 2, 1, got, NULL, 0), OPRA_OK);
	const unsigned long long want[4][3] = {{1, 0, 0}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}};
	assert_counts(got, want);
	assert_unchanged(before);
	free(before);

	/* The import stays staged after a dry run: a real Commit follows. */
	char id[65];
	Opra__V1__BulkRecord **v = records_make(rs, 4);
	assert_int_equal(begin(c, "dry.csv", id), OPRA_OK);
	assert_int_equal(stage(c, id, 1, v, 4, NULL, NULL), OPRA_OK);
	assert_int_equal(commit(c, id, 1, got), OPRA_OK);
	assert_counts(got, want);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM assets WHERE name = 'D-a'"),
			 0);
	assert_int_equal(commit(c, id, 0, got), OPRA_OK);
	assert_counts(got, want);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM assets WHERE name = 'D-a'"),
			 1);
	/* Committed imports are gone. */
	assert_int_equal(commit(c, id, 0, got), OPRA_NOT_FOUND);
	records_free(v, 4);
	rpc_client_close(c);
}

typedef struct {
	const char *what;
	rec rs[6];
	size_t n;
	int code;
	const char *want[2];
} bad_case;

static void bad_input_changes_nothing(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	counts got;
	char msg[1024];

	/* An existing tree to close a cycle with: X-Top > X-Mid. */
	const rec base[] = {
		{.kind = "unit", .line = 1, .name = "X-Top"},
		{.kind = "unit", .line = 2, .name = "X-Mid", .parent = "X-Top"},
		{.kind = "service", .line = 3, .name = "X-svc", .unit = "X-Mid"},
		{.kind = "asset", .line = 4, .name = "X-base", .type = "people"},
		{.kind = "link", .line = 5, .service = "X-svc", .asset = "X-base"},
	};
	assert_int_equal(import(c, base, 5, 10, 0, got, NULL, 0), OPRA_OK);

	const bad_case cases[] = {
		{"missing unit of a service",
		 {{.kind = "unit", .line = 2, .name = "X-New"},
		  {.kind = "service", .line = 7, .name = "X-s2", .unit = "X-Nowhere"}},
		 2,
		 OPRA_INVALID_ARGUMENT,
		 {"line 7", "X-Nowhere"}},
		{"link to a missing asset",
		 {{.kind = "asset", .line = 2, .name = "X-a", .type = "people"},
		  {.kind = "link", .line = 9, .service = "X-svc", .asset = "X-ghost"}},
		 2,
		 OPRA_INVALID_ARGUMENT,
		 {"line 9", "X-ghost"}},
		{"duplicate name",
		 {{.kind = "asset", .line = 3, .name = "X-dup", .type = "people"},
		  {.kind = "unit", .line = 4, .name = "X-dup"},
		  {.kind = "asset", .line = 5, .name = "X-dup", .type = "technology"}},
		 3,
		 OPRA_INVALID_ARGUMENT,
		 {"line 5", "line 3"}},
		{"an existing service twice, unchanged",
		 {{.kind = "service", .line = 3, .name = "X-svc", .unit = "X-Mid"},
		  {.kind = "service", .line = 8, .name = "X-svc", .unit = "X-Mid"}},
		 2,
		 OPRA_INVALID_ARGUMENT,
		 {"line 8: duplicate record (line 3", "service 'X-svc'"}},
		{"a new link twice",
		 {{.kind = "asset", .line = 2, .name = "X-l", .type = "people"},
		  {.kind = "link", .line = 4, .service = "X-svc", .asset = "X-l"},
		  {.kind = "link", .line = 6, .service = "X-svc", .asset = "X-l"}},
		 3,
		 OPRA_INVALID_ARGUMENT,
		 {"line 6: duplicate record (line 4", "X-svc -> X-l"}},
		{"an existing link twice",
		 {{.kind = "link", .line = 3, .service = "X-svc", .asset = "X-base"},
		  {.kind = "link", .line = 5, .service = "X-svc", .asset = "X-base"}},
		 2,
		 OPRA_INVALID_ARGUMENT,
		 {"line 5: duplicate record (line 3", "X-svc -> X-base"}},
		{"cycle inside the import",
		 {{.kind = "unit", .line = 2, .name = "X-P", .parent = "X-Q"},
		  {.kind = "unit", .line = 3, .name = "X-Q", .parent = "X-P"}},
		 2,
		 OPRA_INVALID_ARGUMENT,
		 {"line 2", "X-P"}},
		{"cycle with the existing tree",
		 {{.kind = "asset", .line = 2, .name = "X-b", .type = "people"},
		  {.kind = "unit", .line = 6, .name = "X-Top", .parent = "X-Mid"}},
		 2,
		 OPRA_INVALID_ARGUMENT,
		 {"line 6", "X-Top"}},
		{"missing parent",
		 {{.kind = "unit", .line = 4, .name = "X-Kid", .parent = "X-Nobody"}},
		 1,
		 OPRA_INVALID_ARGUMENT,
		 {"line 4", "X-Nobody"}},
		{"unknown asset type (refused at Stage)",
		 {{.kind = "asset", .line = 8, .name = "X-ship", .type = "spaceship"}},
		 1,
		 OPRA_INVALID_ARGUMENT,
		 {"line 8: field 'type'", "spaceship"}},
		{"unknown kind",
		 {{.kind = "widget", .line = 3, .name = "X-w"}},
		 1,
		 OPRA_INVALID_ARGUMENT,
		 {"line 3: field 'kind'", "widget"}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const bad_case *bc = &cases[i];
		char *before = inventory_state();
		int rc = import(c, bc->rs, bc->n, 10, 0, got, msg, sizeof(msg));
		if (rc != bc->code)
			fail_msg("%s: got %s (%s)", bc->what, opra_status_name(rc), msg);
		print_message("%s: %s\n", bc->what, msg);
		for (int k = 0; k < 2; k++)
			assert_contains(msg, bc->want[k]);
		assert_unchanged(before);
		free(before);
	}
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM imports"), 0);

	/* A batch over the limit is refused. */
	char id[65];
	rec *many = calloc(5001, sizeof(rec));
	for (size_t i = 0; i < 5001; i++)
		many[i] = (rec){.kind = "unit", .line = (long)i + 2, .name = "X-many"};
	Opra__V1__BulkRecord **v = records_make(many, 5001);
	assert_int_equal(begin(c, "many.csv", id), OPRA_OK);
	assert_int_equal(stage(c, id, 1, v, 5001, NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_contains(opra_err_msg(), "5000");
	assert_int_equal(abort_import(c, id), OPRA_OK);
	records_free(v, 5001);
	free(many);
	rpc_client_close(c);
}

static void resent_stage_is_stored_once(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	char id[65], key[100];
	unsigned long long total = 0;
	counts got;
	const rec rs[] = {
		{.kind = "unit", .line = 2, .name = "R-u1"},
		{.kind = "unit", .line = 3, .name = "R-u2"},
	};
	Opra__V1__BulkRecord **v = records_make(rs, 2);
	assert_int_equal(begin(c, "resend.csv", id), OPRA_OK);
	snprintf(key, sizeof(key), "%s:1", id);
	assert_int_equal(stage(c, id, 1, v, 2, key, &total), OPRA_OK);
	assert_int_equal(total, 2);
	assert_int_equal(stage(c, id, 1, v, 2, key, &total), OPRA_OK);
	assert_int_equal(total, 2);
	/* The same batch under another key replaces its first copy. */
	assert_int_equal(stage(c, id, 1, v, 2, NULL, &total), OPRA_OK);
	assert_int_equal(total, 2);
	snprintf(key, sizeof(key), "%s:2", id);
	assert_int_equal(stage(c, id, 2, v + 1, 1, key, &total), OPRA_OK);
	assert_int_equal(total, 3);
	/* R-u2 twice (batches 1 and 2): refused as a duplicate. */
	assert_int_equal(commit(c, id, 0, got), OPRA_INVALID_ARGUMENT);
	assert_contains(opra_err_msg(), "line 3");
	assert_int_equal(abort_import(c, id), OPRA_OK);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM import_batches"), 0);
	records_free(v, 2);
	rpc_client_close(c);
}

/* ---- resuming ---- */

enum { RS_SERVICES = 40, RS_ASSETS = 2400, RS_BATCH = 1000 };

/* A unit, RS_SERVICES services, RS_ASSETS assets and one link per asset
 * (asset k supports service k % RS_SERVICES, in a scrambled order). Names
 * live in the static buffers. */
static rec *resume_records(size_t *n)
{
	static char svc[RS_SERVICES][32], asset[RS_ASSETS][32];
	rec *rs = calloc(1 + RS_SERVICES + 2 * RS_ASSETS, sizeof(rec));
	size_t i = 0;
	assert_non_null(rs);
	rs[i] = (rec){.kind = "unit", .line = (long)i + 2, .name = "Z-unit"};
	i++;
	for (int k = 0; k < RS_SERVICES; k++, i++) {
		snprintf(svc[k], sizeof(svc[k]), "Z-svc-%02d", k);
		rs[i] = (rec){
			.kind = "service", .line = (long)i + 2, .name = svc[k], .unit = "Z-unit"};
	}
	for (int k = 0; k < RS_ASSETS; k++, i++) {
		snprintf(asset[k], sizeof(asset[k]), "Z-asset-%04d", k);
		rs[i] = (rec){.kind = "asset",
			      .line = (long)i + 2,
			      .name = asset[k],
			      .type = "technology",
			      .unit = "Z-unit",
			      .tags = "a;b"};
	}
	for (int j = 0; j < RS_ASSETS; j++, i++) {
		int k = (j * 7) % RS_ASSETS; /* 7 and RS_ASSETS are coprime */
		rs[i] = (rec){.kind = "link",
			      .line = (long)i + 2,
			      .service = svc[k % RS_SERVICES],
			      .asset = asset[k]};
	}
	*n = i;
	return rs;
}

/* Stages batch seq (1-based, RS_BATCH records each) under the key the CLI
 * uses for it. */
static int stage_batch(rpc_client *c, const char *id, Opra__V1__BulkRecord **v, size_t n,
		       unsigned seq, unsigned long long *total)
{
	char key[160];
	size_t off = (size_t)(seq - 1) * RS_BATCH;
	snprintf(key, sizeof(key), "%s-%u", id, seq);
	return stage(c, id, seq, v + off, n - off < RS_BATCH ? n - off : RS_BATCH, key, total);
}

static rpc_client *quick_client(void)
{
	rpc_options o = {.n_urls = 1, .token = ts.admin.text, .timeout_ms = 500};
	o.urls[0] = ts.url;
	rpc_client *c = NULL;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	return c;
}

static void assert_resumed_inventory(void)
{
	char want[32];
	snprintf(want, sizeof(want), "%d", RS_ASSETS);
	assert_query("SELECT count(*) FROM assets WHERE name LIKE $1", "Z-asset-%", want);
	assert_query("SELECT count(*) FROM service_assets sa JOIN assets a ON a.id = sa.asset_id "
		     "WHERE a.name LIKE $1",
		     "Z-asset-%", want);
	/* One event per object, none twice. */
	assert_query("SELECT count(*) || ' ' || count(DISTINCT object) FROM events WHERE object "
		     "LIKE $1",
		     "asset:Z-asset-%", "2400 2400");
	assert_query("SELECT count(*) || ' ' || count(DISTINCT object) || ' ' || "
		     "sum(jsonb_array_length(after->'assets')) FROM events WHERE object LIKE $1",
		     "link:Z-svc-%", "40 40 2400");
	assert_query("SELECT count(*) FROM events WHERE object LIKE $1", "service:Z-svc-%", "40");
	assert_query("SELECT max(version)::text FROM assets WHERE name LIKE $1", "Z-asset-%", "1");
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM import_batches"), 0);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM imports"), 0);
}

/* The server goes away in the middle of an import and comes back; the
 * client resends, under the same idempotency keys, every call it has no
 * answer for (as `opra inventory import` does): nothing is staged or
 * applied twice. */
static void resumed_import_after_server_restart(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	size_t n;
	rec *rs = resume_records(&n);
	Opra__V1__BulkRecord **v = records_make(rs, n);
	unsigned batches = (unsigned)((n + RS_BATCH - 1) / RS_BATCH);
	unsigned long long total = 0;
	char id[65], key[160];
	counts got, again;

	assert_int_equal(begin(c, "resume.csv", id), OPRA_OK);
	assert_int_equal(stage_batch(c, id, v, n, 1, &total), OPRA_OK);
	assert_int_equal(stage_batch(c, id, v, n, 2, &total), OPRA_OK);
	assert_int_equal(total, 2 * RS_BATCH);

	/* The server stops: batch 3 does not get through. */
	testserver_stop(&ts);
	rpc_client *q = quick_client();
	int rc = stage_batch(q, id, v, n, 3, NULL);
	if (rc != OPRA_UNAVAILABLE && rc != OPRA_DEADLINE_EXCEEDED)
		fail_msg("staging with the server down: got %s (%s)", opra_status_name(rc),
			 opra_err_msg());
	rpc_client_close(q);
	rpc_client_close(c);
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);

	/* Back: batch 2 again (its answer might have been lost as well) is
	 * answered from its record, then the rest. */
	c = testserver_client(&ts, ts.admin.text);
	assert_int_equal(stage_batch(c, id, v, n, 2, &total), OPRA_OK);
	assert_int_equal(total, 2 * RS_BATCH);
	for (unsigned seq = 3; seq <= batches; seq++)
		assert_int_equal(stage_batch(c, id, v, n, seq, &total), OPRA_OK);
	assert_int_equal(total, n);
	snprintf(key, sizeof(key), "%s-commit", id);
	assert_int_equal(commit_key(c, id, 0, got, key), OPRA_OK);
	const unsigned long long want[4][3] = {
		{1, 0, 0}, {RS_SERVICES, 0, 0}, {RS_ASSETS, 0, 0}, {RS_ASSETS, 0, 0}};
	assert_counts(got, want);
	assert_resumed_inventory();

	/* The Commit's answer lost with another restart: sent again, it gets
	 * the same answer and applies nothing twice. */
	rpc_client_close(c);
	testserver_stop(&ts);
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);
	c = testserver_client(&ts, ts.admin.text);
	assert_int_equal(commit_key(c, id, 0, again, key), OPRA_OK);
	assert_counts(again, want);
	assert_resumed_inventory();

	/* And the whole file once more changes nothing. */
	assert_int_equal(import(c, rs, n, 5000, 0, got, NULL, 0), OPRA_OK);
	const unsigned long long same[4][3] = {
		{0, 0, 1}, {0, 0, RS_SERVICES}, {0, 0, RS_ASSETS}, {0, 0, RS_ASSETS}};
	assert_counts(got, same);
	assert_resumed_inventory();
	records_free(v, n);
	free(rs);
	rpc_client_close(c);
}

/* import_batches is UNLOGGED: a database crash empties it. A Commit after
 * that must not apply what is left as if it were the whole import. */
static void lost_batches_are_noticed(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	const rec rs[] = {
		{.kind = "unit", .line = 2, .name = "L-u1"},
		{.kind = "unit", .line = 3, .name = "L-u2"},
	};
	Opra__V1__BulkRecord **v = records_make(rs, 2);
	char id[65];
	counts got;
	char *before = inventory_state();
	assert_int_equal(begin(c, "lost.csv", id), OPRA_OK);
	assert_int_equal(stage(c, id, 1, v, 1, NULL, NULL), OPRA_OK);
	assert_int_equal(stage(c, id, 2, v + 1, 1, NULL, NULL), OPRA_OK);
	const char *p[1] = {id};
	assert_int_equal(
		db_cmd(ts.db, "DELETE FROM import_batches WHERE import_id = $1 AND seq = 1", 1, p),
		OPRA_OK);
	assert_int_equal(commit(c, id, 0, got), OPRA_FAILED_PRECONDITION);
	assert_contains(opra_err_msg(), "lost staged records");
	assert_contains(opra_err_msg(), "run the import again");
	assert_unchanged(before);
	assert_int_equal(abort_import(c, id), OPRA_OK);
	free(before);
	records_free(v, 2);
	rpc_client_close(c);
}

/* Commits ts.db's open transaction once another backend waits for it. */
static void *commit_when_waited_for(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		PGresult *r = NULL;
		if (db_exec(&r, ts.db, 1,
			    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = "
			    "'transactionid'",
			    0, NULL) != OPRA_OK)
			break;
		int waiting = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
		PQclear(r);
		if (waiting)
			break;
		usleep(50000);
	}
	db_cmd(ts.db, "COMMIT", 0, NULL);
	return NULL;
}

/* Someone else creates an asset the import creates too, while the import
 * runs: the import's INSERT waits for them, finds their asset, and the
 * import updates it instead (the upsert path) rather than failing. */
static void name_created_meanwhile(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	const rec rs[] = {
		{.kind = "asset",
		 .line = 2,
		 .name = "C-race",
		 .type = "technology",
		 .owner = "ops"},
		{.kind = "asset", .line = 3, .name = "C-other", .type = "people"},
	};
	counts got;
	pthread_t t;
	assert_int_equal(db_cmd(ts.db, "BEGIN", 0, NULL), OPRA_OK);
	assert_int_equal(
		db_cmd(ts.db,
		       "INSERT INTO assets (name, type, owner) VALUES ('C-race', 'people', "
		       "'hr')",
		       0, NULL),
		OPRA_OK);
	assert_int_equal(pthread_create(&t, NULL, commit_when_waited_for, NULL), 0);
	int rc = import(c, rs, 2, 10, 0, got, NULL, 0);
	pthread_join(t, NULL);
	assert_int_equal(rc, OPRA_OK);
	const unsigned long long want[4][3] = {{0, 0, 0}, {0, 0, 0}, {1, 1, 0}, {0, 0, 0}};
	assert_counts(got, want);
	assert_query("SELECT type || ' ' || owner || ' v' || version FROM assets WHERE name = $1",
		     "C-race", "technology ops v2");
	assert_query("SELECT (before->>'owner') || ' -> ' || (after->>'owner') FROM events WHERE "
		     "object = $1",
		     "asset:C-race", "hr -> ops");
	rpc_client_close(c);
}

static int user_add(rpc_client *c, const char *name, const char *role, char *token_out)
{
	Opra__V1__UserAddRequest req = OPRA__V1__USER_ADD_REQUEST__INIT;
	req.name = (char *)name;
	req.role = (char *)role;
	req.unit = "";
	Opra__V1__UserAddResponse *r = NULL;
	int rc = bulk_call(c, "opra.v1.User/Add", &req.base,
			   &opra__v1__user_add_response__descriptor, &r, NULL);
	if (rc == OPRA_OK) {
		snprintf(token_out, TOKEN_TEXT_LEN + 1, "%s", r->token);
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return rc;
}

static int export_page(rpc_client *c, const char *kind, const char *after, unsigned limit,
		       int removed, Opra__V1__BulkExportReply **out)
{
	Opra__V1__BulkExportRequest req = OPRA__V1__BULK_EXPORT_REQUEST__INIT;
	req.kind = (char *)kind;
	req.after = (char *)after;
	req.limit = limit;
	req.include_removed = removed;
	ProtobufCMessage *resp = NULL;
	int rc = rpc_call(c, M("Export"), &req.base, &opra__v1__bulk_export_reply__descriptor,
			  &resp, NULL);
	*out = (Opra__V1__BulkExportReply *)resp;
	return rc;
}

static void roles(void **state)
{
	(void)state;
	rpc_client *admin = testserver_client(&ts, ts.admin.text);
	char t_user[TOKEN_TEXT_LEN + 1], t_auto[TOKEN_TEXT_LEN + 1], t_po[TOKEN_TEXT_LEN + 1];
	char id[65];
	counts got;
	assert_int_equal(user_add(admin, "bulk-user", "user", t_user), OPRA_OK);
	assert_int_equal(user_add(admin, "bulk-auto", "automation", t_auto), OPRA_OK);
	assert_int_equal(user_add(admin, "bulk-po", "program-office", t_po), OPRA_OK);
	rpc_client *user = testserver_client(&ts, t_user);
	rpc_client *aut = testserver_client(&ts, t_auto);
	rpc_client *po = testserver_client(&ts, t_po);

	assert_int_equal(begin(user, "u.csv", id), OPRA_PERMISSION_DENIED);
	const rec rs[] = {{.kind = "unit", .line = 2, .name = "Auto-unit"}};
	assert_int_equal(import(aut, rs, 1, 10, 0, got, NULL, 0), OPRA_OK);
	assert_int_equal(import(po, rs, 1, 10, 0, got, NULL, 0), OPRA_OK);
	assert_int_equal(got[0][2], 1);
	/* An import belongs to whoever began it. */
	assert_int_equal(begin(aut, "mine.csv", id), OPRA_OK);
	assert_int_equal(commit(po, id, 0, got), OPRA_NOT_FOUND);
	assert_int_equal(abort_import(aut, id), OPRA_OK);
	/* Anyone may export. */
	Opra__V1__BulkExportReply *rep = NULL;
	assert_int_equal(export_page(user, "unit", "", 10, 0, &rep), OPRA_OK);
	assert_true(rep->n_records > 0);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	rpc_client_close(user);
	rpc_client_close(aut);
	rpc_client_close(po);
	rpc_client_close(admin);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Exports every page of kind; returns the names (caller frees) and counts
 * removed ones. */
static char **export_all(rpc_client *c, const char *kind, int removed, size_t *n, size_t *n_removed)
{
	char after[300] = "";
	char **names = NULL;
	*n = 0;
	*n_removed = 0;
	for (int pages = 0; pages < 100; pages++) {
		Opra__V1__BulkExportReply *rep = NULL;
		assert_int_equal(export_page(c, kind, after, 1000, removed, &rep), OPRA_OK);
		names = realloc(names, (*n + rep->n_records + 1) * sizeof(char *));
		for (size_t i = 0; i < rep->n_records; i++) {
			names[(*n)++] = strdup(rep->records[i]->name);
			*n_removed += rep->records[i]->removed;
		}
		assert_true(rep->n_records <= 1000 + 10);
		snprintf(after, sizeof(after), "%s", rep->next_after);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		if (after[0] == '\0')
			return names;
	}
	fail_msg("export did not end");
	return NULL;
}

static void export_pages(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	counts got;
	enum { N = 2500 };
	rec *rs = calloc(N, sizeof(rec));
	char(*names)[32] = calloc(N, 32);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], 32, "E-asset-%05d", i);
		rs[i] = (rec){
			.kind = "asset", .line = i + 2, .name = names[i], .type = "technology"};
	}
	assert_int_equal(import(c, rs, N, 1000, 0, got, NULL, 0), OPRA_OK);
	assert_int_equal(got[2][0], N);
	/* Remove ten, and bring one name back as a new object. */
	assert_int_equal(
		db_cmd(ts.db,
		       "UPDATE assets SET removed_at = now() WHERE name LIKE 'E-asset-0000_'", 0,
		       NULL),
		OPRA_OK);
	assert_int_equal(import(c, rs + 5, 1, 10, 0, got, NULL, 0), OPRA_OK);
	assert_int_equal(got[2][0], 1);

	long active = testserver_count(&ts, "SELECT count(*) FROM assets WHERE removed_at IS NULL");
	long all = testserver_count(&ts, "SELECT count(*) FROM assets");
	size_t n, n_removed;
	char **seen = export_all(c, "asset", 0, &n, &n_removed);
	assert_int_equal(n, active);
	assert_int_equal(n_removed, 0);
	qsort(seen, n, sizeof(char *), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(seen[i - 1], seen[i]) == 0)
			fail_msg("'%s' exported twice", seen[i]);
	for (size_t i = 0; i < n; i++)
		free(seen[i]);
	free(seen);

	seen = export_all(c, "asset", 1, &n, &n_removed);
	assert_int_equal(n, all);
	assert_int_equal(n_removed, 10);
	for (size_t i = 0; i < n; i++)
		free(seen[i]);
	free(seen);

	/* Links page by service, asset. */
	Opra__V1__BulkExportReply *rep = NULL;
	assert_int_equal(export_page(c, "link", "", 2, 0, &rep), OPRA_OK);
	assert_int_equal(rep->n_records, 2);
	char after[300];
	snprintf(after, sizeof(after), "%s", rep->next_after);
	assert_non_null(strchr(after, '\t'));
	char *first = strdup(rep->records[1]->asset);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	assert_int_equal(export_page(c, "link", after, 2, 0, &rep), OPRA_OK);
	assert_true(rep->n_records > 0);
	assert_true(strcmp(rep->records[0]->asset, first) != 0 ||
		    strcmp(rep->records[0]->service, after) != 0);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	free(first);
	free(rs);
	free(names);
	rpc_client_close(c);
}

static void hostile_names_round_trip(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	counts got;
	const char *unit = "H-Robert'); DROP TABLE units;--";
	const char *asset = "H-Zürich \"東京\" \\N back\\slash $1 %s";
	const rec rs[] = {
		{.kind = "unit", .line = 2, .name = unit, .site = "São Paulo; rm -rf /"},
		{.kind = "asset",
		 .line = 3,
		 .name = asset,
		 .type = "facilities",
		 .unit = unit,
		 .desc = "line one\nline two\ttabbed",
		 .tags = "ünï;a,b;'q'"},
		{.kind = "service", .line = 4, .name = "H-svc `x` $(y)", .unit = unit},
		{.kind = "link", .line = 5, .service = "H-svc `x` $(y)", .asset = asset},
	};
	assert_int_equal(import(c, rs, 4, 10, 0, got, NULL, 0), OPRA_OK);
	const unsigned long long want[4][3] = {{1, 0, 0}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}};
	assert_counts(got, want);
	assert_int_equal(import(c, rs, 4, 1, 0, got, NULL, 0), OPRA_OK);
	const unsigned long long again[4][3] = {{0, 0, 1}, {0, 0, 1}, {0, 0, 1}, {0, 0, 1}};
	assert_counts(got, again);

	Opra__V1__BulkExportReply *rep = NULL;
	assert_int_equal(export_page(c, "asset", "H-", 1, 0, &rep), OPRA_OK);
	assert_int_equal(rep->n_records, 1);
	Opra__V1__BulkRecord *a = rep->records[0];
	assert_string_equal(a->name, asset);
	assert_string_equal(a->unit, unit);
	assert_string_equal(a->description, "line one\nline two\ttabbed");
	assert_int_equal(a->n_tags, 3);
	assert_string_equal(a->tags[0], "ünï");
	assert_string_equal(a->tags[2], "'q'");
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	assert_int_equal(export_page(c, "unit", "H-", 1, 0, &rep), OPRA_OK);
	assert_string_equal(rep->records[0]->name, unit);
	assert_string_equal(rep->records[0]->site, "São Paulo; rm -rf /");
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM units WHERE name LIKE 'H-%'"),
			 1);
	/* The events of created objects hold what was stored (their after
	 * images are built from the staged records, quotes, backslashes and
	 * line breaks included). */
	assert_query("SELECT (e.after = jsonb_build_object('name', a.name, 'type', a.type, 'unit', "
		     "u.name, 'owner', a.owner, 'description', a.description, 'tags', a.tags, "
		     "'version', a.version, 'removed', false) AND e.before IS NULL)::text FROM "
		     "events e JOIN assets a ON e.object = 'asset:' || a.name JOIN units u ON u.id "
		     "= a.unit_id WHERE a.name = $1",
		     asset, "true");
	assert_query(
		"SELECT (e.after = jsonb_build_object('name', v.name, 'unit', u.name, "
		"'mission', v.mission, 'criticality', v.criticality, 'version', 1, 'removed', "
		"false))::text FROM events e JOIN services v ON e.object = 'service:' || v.name "
		"JOIN units u ON u.id = v.unit_id WHERE v.name = $1",
		"H-svc `x` $(y)", "true");
	rpc_client_close(c);
}

/* Two units trade places in one import (each the other's new parent): the
 * final tree is fine, and no intermediate state may trip the cycle check. */
static void units_trade_places(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	counts got;
	const rec before[] = {
		{.kind = "unit", .line = 2, .name = "T-Root"},
		{.kind = "unit", .line = 3, .name = "T-A", .parent = "T-Root"},
		{.kind = "unit", .line = 4, .name = "T-B", .parent = "T-A"},
	};
	const rec after[] = {
		{.kind = "unit", .line = 2, .name = "T-Root"},
		{.kind = "unit", .line = 3, .name = "T-A", .parent = "T-B"},
		{.kind = "unit", .line = 4, .name = "T-B", .parent = "T-Root"},
	};
	assert_int_equal(import(c, before, 3, 10, 0, got, NULL, 0), OPRA_OK);
	assert_int_equal(import(c, after, 3, 10, 0, got, NULL, 0), OPRA_OK);
	const unsigned long long want[4][3] = {{0, 2, 1}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
	assert_counts(got, want);
	assert_query("SELECT p.name || ' v' || u.version FROM units u JOIN units p ON p.id = "
		     "u.parent_id WHERE u.name = $1",
		     "T-A", "T-B v2");
	assert_query("SELECT before->>'parent' || ' -> ' || (after->>'parent') FROM events WHERE "
		     "object = $1 ORDER BY id DESC LIMIT 1",
		     "unit:T-A", "T-Root -> T-B");
	rpc_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(import_counts_and_reimport),
		cmocka_unit_test(dry_run_changes_nothing),
		cmocka_unit_test(units_trade_places),
		cmocka_unit_test(bad_input_changes_nothing),
		cmocka_unit_test(resent_stage_is_stored_once),
		cmocka_unit_test(resumed_import_after_server_restart),
		cmocka_unit_test(lost_batches_are_noticed),
		cmocka_unit_test(name_created_meanwhile),
		cmocka_unit_test(roles),
		cmocka_unit_test(export_pages),
		cmocka_unit_test(hostile_names_round_trip),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
