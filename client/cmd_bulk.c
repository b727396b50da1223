/* Bulk inventory: `opra inventory import` streams a checked file
 * (common/invfile.h) to opra.v1.InventoryBulk in batches and commits it in
 * one transaction; `opra inventory export` pages through Export and writes
 * a typed CSV or the JSON file shape the importer reads (docs/inventory.md).
 *
 * A dropped connection during an import is retried batch by batch with the
 * batch's own idempotency key ("<import id>-<seq>"), so the server stages
 * every batch once however often it is sent. */
#include "cli.h"

#include "invfile.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"

#include "opra/v1/inventory.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Records per Stage call (the server takes at most 5000). */
#define BULK_BATCH 2000
/* Extra tries of one call after UNAVAILABLE or DEADLINE_EXCEEDED. */
#define BULK_RETRIES 5
/* Records per Export page. */
#define BULK_PAGE 1000

static const char *const bulk_kinds[] = {"unit", "service", "asset", "link"};
static const char *const bulk_plurals[] = {"units", "services", "assets", "links"};
#define BULK_NKINDS 4

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* rpc_call, tried again with the same key (so the server applies it once)
 * while the server is unreachable or too slow. Returns the status. */
static int call_retry(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, void *resp_out, const char *key)
{
	int rc = OPRA_OK;

	for (int attempt = 0; attempt <= BULK_RETRIES; attempt++) {
		if (attempt > 0)
			sleep_ms(100L << (attempt - 1)); /* 100 ms .. 1.6 s */
		rc = rpc_call(ctx->rpc, method, req, resp_desc, (ProtobufCMessage **)resp_out, key);
		if (rc != OPRA_UNAVAILABLE && rc != OPRA_DEADLINE_EXCEEDED)
			break;
	}
	return rc;
}

/* ---- import ------------------------------------------------------------- */

/* One batch of records with copies of their strings. */
typedef struct {
	Opra__V1__BulkRecord recs[BULK_BATCH];
	Opra__V1__BulkRecord *ptrs[BULK_BATCH];
	char **strs; /* every copied string (opra_free) */
	size_t n_strs, cap_strs;
	char *tags[BULK_BATCH][INVFILE_MAX_TAGS];
	size_t n;
} bulk_batch;

static char empty_text[] = "";

/* A copy of s kept by the batch; "" for NULL. NULL when memory runs out. */
static char *batch_keep(bulk_batch *b, const char *s)
{
	char *copy;

	if (s == NULL || s[0] == '\0')
		return empty_text;
	if (b->n_strs == b->cap_strs) {
		size_t cap = b->cap_strs ? b->cap_strs * 2 : 4096;
		char **strs = opra_realloc(b->strs, cap * sizeof(*strs));
		if (strs == NULL)
			return NULL;
		b->strs = strs;
		b->cap_strs = cap;
	}
	if ((copy = opra_strdup(s)) == NULL)
		return NULL;
	b->strs[b->n_strs++] = copy;
	return copy;
}

static void batch_reset(bulk_batch *b)
{
	for (size_t i = 0; i < b->n_strs; i++)
		opra_free(b->strs[i]);
	b->n_strs = 0;
	b->n = 0;
}

static void batch_free(bulk_batch *b)
{
	if (b == NULL)
		return;
	batch_reset(b);
	opra_free(b->strs);
	opra_free(b);
}

/* Adds rec to the batch. OPRA_OK or OPRA_RESOURCE_EXHAUSTED. */
static int batch_add(bulk_batch *b, const inv_record *rec)
{
	Opra__V1__BulkRecord *r = &b->recs[b->n];
	const char *const src[] = {rec->name,	     rec->parent,      rec->site, rec->unit,
				   rec->mission,     rec->criticality, rec->type, rec->owner,
				   rec->description, rec->service,     rec->asset};
	char **dst[] = {&r->name,	 &r->parent,	  &r->site, &r->unit,
			&r->mission,	 &r->criticality, &r->type, &r->owner,
			&r->description, &r->service,	  &r->asset};

	opra__v1__bulk_record__init(r);
	r->kind = (char *)inv_kind_name(rec->kind);
	r->line = rec->line;
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		if ((*dst[i] = batch_keep(b, src[i])) == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < rec->n_tags; i++)
		if ((b->tags[b->n][i] = batch_keep(b, rec->tags[i])) == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
	r->n_tags = rec->n_tags;
	r->tags = b->tags[b->n];
	b->ptrs[b->n] = r;
	b->n++;
	return OPRA_OK;
}

/* The file's base name, recorded by the server as the import's source. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

static void progress_line(cli_ctx *ctx, const char *path, unsigned long long sent,
			  const inv_reader *r)
{
	unsigned long long total = 0, done = inv_progress(r, &total);
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;

	fputs("\rimporting ", ctx->out->err);
	out_put_safe(ctx->out->err, base_name(path));
	fprintf(ctx->out->err, ": %llu records sent (%u%%)", sent, pct > 100 ? 100 : pct);
	fflush(ctx->out->err);
}

/* The counts of one kind in the Commit reply (zeros when absent). */
static const Opra__V1__KindCounts *find_counts(const Opra__V1__BulkCommitReply *reply,
					       const char *kind)
{
	static const Opra__V1__KindCounts zero = OPRA__V1__KIND_COUNTS__INIT;

	for (size_t i = 0; i < reply->n_counts; i++)
		if (reply->counts[i]->kind && strcmp(reply->counts[i]->kind, kind) == 0)
			return reply->counts[i];
	return &zero;
}

static int print_import(cli_ctx *ctx, const char *path, bool dry_run,
			const Opra__V1__BulkCommitReply *reply, unsigned long long records)
{
	if (ctx->out->json) {
		json_t *o = json_object();
		int bad = o == NULL;
		for (int k = 0; !bad && k < BULK_NKINDS; k++) {
			const Opra__V1__KindCounts *c = find_counts(reply, bulk_kinds[k]);
			json_t *kc = json_object();
			bad |= json_object_set_new(o, bulk_plurals[k], kc);
			bad |= json_object_set_new(kc, "created",
						   json_integer((json_int_t)c->created));
			bad |= json_object_set_new(kc, "updated",
						   json_integer((json_int_t)c->updated));
			bad |= json_object_set_new(kc, "unchanged",
						   json_integer((json_int_t)c->unchanged));
		}
		bad |= json_object_set_new(o, "file", out_jstr(path, false));
		bad |= json_object_set_new(o, "dry_run", json_boolean(dry_run));
		bad |= json_object_set_new(o, "records", json_integer((json_int_t)records));
		if (bad) {
			json_decref(o);
			return oom(ctx);
		}
		return cli_emit_json(ctx, o);
	}
	if (ctx->out->quiet)
		return 0;
	FILE *f = ctx->out->out;
	fputs(dry_run ? "would import " : "imported ", f);
	out_put_safe(f, path);
	fputc(':', f);
	for (int k = 0; k < BULK_NKINDS; k++) {
		const Opra__V1__KindCounts *c = find_counts(reply, bulk_kinds[k]);
		fprintf(f, "%s %s %llu created, %llu updated, %llu unchanged", k ? ";" : "",
			bulk_plurals[k], (unsigned long long)c->created,
			(unsigned long long)c->updated, (unsigned long long)c->unchanged);
	}
	fputs(dry_run ? " (dry run: nothing changed)\n" : "\n", f);
	return 0;
}

/* Forgets the import on the server; its own failure is not reported (the
 * server drops abandoned imports too). */
static void abort_import(cli_ctx *ctx, const char *import_id)
{
	Opra__V1__BulkAbortRequest req = OPRA__V1__BULK_ABORT_REQUEST__INIT;
	Opra__V1__BulkAbortReply *resp = NULL;
	char key[160];

	if (import_id == NULL)
		return;
	snprintf(key, sizeof(key), "%.100s-abort", import_id);
	req.import_id = (char *)import_id;
	if (call_retry(ctx, "opra.v1.InventoryBulk/Abort", &req.base,
		       &opra__v1__bulk_abort_reply__descriptor, &resp, key) == OPRA_OK &&
	    resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
}

int cmd_inventory_import(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__BulkBeginRequest begin = OPRA__V1__BULK_BEGIN_REQUEST__INIT;
	Opra__V1__BulkBeginReply *begun = NULL;
	Opra__V1__BulkCommitRequest commit = OPRA__V1__BULK_COMMIT_REQUEST__INIT;
	Opra__V1__BulkCommitReply *committed = NULL;
	const char *path = args->argv[0];
	bool dry_run = cli_opt(args, "--dry-run") != NULL;
	bool progress = !ctx->out->json && !ctx->out->quiet && isatty(fileno(ctx->out->err));
	bool progress_shown = false;
	inv_reader *r = NULL;
	bulk_batch *b = NULL;
	char *import_id = NULL;
	unsigned long long sent = 0;
	uint32_t seq = 0;
	char key[160];
	int rc, code = 0;
	bool at_end = false;

	if (path[0] == '\0')
		return cli_usage(ctx, "FILE must not be empty");
	/* Open (and so check the header) before anything reaches the server. */
	if ((rc = inv_open(&r, path, cli_opt(args, "--format"), cli_opt(args, "--kind"))) !=
	    OPRA_OK)
		return out_fail(ctx->out, rc);
	if ((b = opra_calloc(1, sizeof(*b))) == NULL) {
		code = oom(ctx);
		goto done;
	}
	while (!at_end) {
		inv_record rec;
		batch_reset(b);
		while (b->n < BULK_BATCH) {
			rc = inv_next(r, &rec);
			if (rc == OPRA_NOT_FOUND) {
				at_end = true;
				break;
			}
			if (rc == OPRA_OK)
				rc = batch_add(b, &rec);
			if (rc != OPRA_OK) {
				if (progress_shown)
					fputc('\n', ctx->out->err);
				progress_shown = false;
				code = out_fail(ctx->out, rc); /* file:line: field ... */
				abort_import(ctx, import_id);
				goto done;
			}
		}
		/* Begin once the first batch has been read and checked, so a
		 * file that is bad early never reaches the server. */
		if (import_id == NULL) {
			begin.source = (char *)base_name(path);
			rpc_new_key(key);
			rc = rpc_call(ctx->rpc, "opra.v1.InventoryBulk/Begin", &begin.base,
				      &opra__v1__bulk_begin_reply__descriptor,
				      (ProtobufCMessage **)&begun, key);
			if (rc != OPRA_OK) {
				code = cli_fail(ctx, rc);
				goto done;
			}
			if (begun->import_id == NULL || begun->import_id[0] == '\0' ||
			    (import_id = opra_strdup(begun->import_id)) == NULL) {
				code = out_error(ctx->out, OPRA_INTERNAL,
						 "the server sent no import id", NULL);
				goto done;
			}
		}
		if (b->n == 0)
			break;
		Opra__V1__BulkStageRequest stage = OPRA__V1__BULK_STAGE_REQUEST__INIT;
		Opra__V1__BulkStageReply *staged = NULL;
		stage.import_id = import_id;
		stage.seq = ++seq;
		stage.n_records = b->n;
		stage.records = b->ptrs;
		snprintf(key, sizeof(key), "%.100s-%u", import_id, (unsigned)seq);
		rc = call_retry(ctx, "opra.v1.InventoryBulk/Stage", &stage.base,
				&opra__v1__bulk_stage_reply__descriptor, &staged, key);
		if (staged)
			protobuf_c_message_free_unpacked(&staged->base, NULL);
		if (rc != OPRA_OK) {
			if (progress_shown)
				fputc('\n', ctx->out->err);
			progress_shown = false;
			code = cli_fail(ctx, rc);
			abort_import(ctx, import_id);
			goto done;
		}
		sent += b->n;
		if (progress) {
			progress_line(ctx, path, sent, r);
			progress_shown = true;
		}
	}
	if (progress_shown)
		fputc('\n', ctx->out->err);
	progress_shown = false;
	commit.import_id = import_id;
	commit.dry_run = dry_run;
	snprintf(key, sizeof(key), "%.100s-commit", import_id);
	if ((rc = call_retry(ctx, "opra.v1.InventoryBulk/Commit", &commit.base,
			     &opra__v1__bulk_commit_reply__descriptor, &committed, key)) !=
	    OPRA_OK) {
		code = cli_fail(ctx, rc);
		abort_import(ctx, import_id);
		goto done;
	}
	code = print_import(ctx, path, dry_run, committed, sent);
done:
	if (progress_shown)
		fputc('\n', ctx->out->err);
	if (committed)
		protobuf_c_message_free_unpacked(&committed->base, NULL);
	if (begun)
		protobuf_c_message_free_unpacked(&begun->base, NULL);
	opra_free(import_id);
	batch_free(b);
	inv_close(r);
	return code;
}

/* ---- export ------------------------------------------------------------- */

/* One CSV field, RFC 4180: quoted when it holds a comma, quote, CR or LF
 * (or starts or ends with a space, which readers might trim), quotes
 * doubled. */
static int csv_field(opra_buf *out, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	int rc = OPRA_OK;

	if (len == 0)
		return OPRA_OK;
	if (strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ' && s[len - 1] != ' ')
		return opra_buf_append(out, s, len);
	rc |= opra_buf_append(out, "\"", 1);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			rc |= opra_buf_append(out, "\"", 1);
		rc |= opra_buf_append(out, p, 1);
	}
	rc |= opra_buf_append(out, "\"", 1);
	return rc ? OPRA_RESOURCE_EXHAUSTED : OPRA_OK;
}

static int csv_record(opra_buf *out, const Opra__V1__BulkRecord *r, const char *kind, bool all)
{
	const char *const cols[] = {kind,     r->name,	     r->parent,	     r->site,
				    r->unit,  r->mission,    r->criticality, r->type,
				    r->owner, r->description};
	opra_buf tags = OPRA_BUF_INIT;
	int rc = OPRA_OK;

	for (size_t i = 0; rc == OPRA_OK && i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (i > 0)
			rc = opra_buf_append(out, ",", 1);
		if (rc == OPRA_OK)
			rc = csv_field(out, cols[i]);
	}
	for (size_t i = 0; rc == OPRA_OK && i < r->n_tags; i++) {
		if (i > 0)
			rc = opra_buf_append(&tags, ";", 1);
		if (rc == OPRA_OK)
			rc = opra_buf_puts(&tags, r->tags[i]);
	}
	if (rc == OPRA_OK)
		rc = opra_buf_append(&tags, "", 1); /* the terminating NUL */
	if (rc == OPRA_OK)
		rc = opra_buf_append(out, ",", 1);
	if (rc == OPRA_OK)
		rc = csv_field(out, (const char *)tags.data);
	if (rc == OPRA_OK)
		rc = opra_buf_append(out, ",", 1);
	if (rc == OPRA_OK)
		rc = csv_field(out, r->service);
	if (rc == OPRA_OK)
		rc = opra_buf_append(out, ",", 1);
	if (rc == OPRA_OK)
		rc = csv_field(out, r->asset);
	if (rc == OPRA_OK && all)
		rc = opra_buf_puts(out, r->removed ? ",true" : ",false");
	if (rc == OPRA_OK)
		rc = opra_buf_append(out, "\r\n", 2);
	opra_buf_free(&tags);
	return rc;
}

/* Sets key to s when s is not empty. Returns non-zero when memory ran out. */
static int set_text(json_t *o, const char *key, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	return json_object_set_new(o, key, out_jstr(s, false));
}

/* A record as the JSON import file holds it: only its kind's fields. */
static json_t *json_record(const Opra__V1__BulkRecord *r, int kind, bool all)
{
	json_t *o = json_object();
	int bad = o == NULL;

	switch (kind) {
	case 0:
		bad |= set_text(o, "name", r->name);
		bad |= set_text(o, "parent", r->parent);
		bad |= set_text(o, "site", r->site);
		break;
	case 1:
		bad |= set_text(o, "name", r->name);
		bad |= set_text(o, "unit", r->unit);
		bad |= set_text(o, "mission", r->mission);
		bad |= set_text(o, "criticality", r->criticality);
		break;
	case 2:
		bad |= set_text(o, "name", r->name);
		bad |= set_text(o, "type", r->type);
		bad |= set_text(o, "unit", r->unit);
		bad |= set_text(o, "owner", r->owner);
		bad |= set_text(o, "description", r->description);
		if (!bad && r->n_tags > 0) {
			json_t *tags = json_array();
			bad |= json_object_set_new(o, "tags", tags);
			for (size_t i = 0; !bad && i < r->n_tags; i++)
				bad |= json_array_append_new(tags, out_jstr(r->tags[i], false));
		}
		break;
	default:
		bad |= set_text(o, "service", r->service);
		bad |= set_text(o, "asset", r->asset);
		break;
	}
	if (all && !bad)
		bad |= json_object_set_new(o, "removed", json_boolean(r->removed));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int cmd_inventory_export(cli_ctx *ctx, const cli_args *args)
{
	const char *format = cli_opt(args, "--format");
	const char *path = cli_opt(args, "--output");
	bool all = cli_opt(args, "--all") != NULL;
	bool to_stdout = path == NULL || strcmp(path, "-") == 0;
	bool as_json;
	opra_buf text = OPRA_BUF_INIT;
	json_t *doc = NULL;
	unsigned long long counts[BULK_NKINDS] = {0, 0, 0, 0};
	char *after = NULL;
	int rc = OPRA_OK, code = 0;

	/* With --json stdout must hold one JSON document: the export itself. */
	as_json = (format && strcmp(format, "json") == 0) || (ctx->out->json && to_stdout);
	if (!to_stdout && (rc = out_check_output_path(path)) != OPRA_OK)
		return rc == OPRA_INVALID_ARGUMENT ? cli_usage(ctx, "%s", opra_err_msg())
						   : out_fail(ctx->out, rc);
	if (as_json) {
		if ((doc = json_object()) == NULL)
			return oom(ctx);
	} else {
		rc = opra_buf_puts(&text, "kind,name,parent,site,unit,mission,criticality,type,"
					  "owner,description,tags,service,asset");
		if (rc == OPRA_OK)
			rc = opra_buf_puts(&text, all ? ",removed\r\n" : "\r\n");
		if (rc != OPRA_OK) {
			code = oom(ctx);
			goto done;
		}
	}
	for (int k = 0; k < BULK_NKINDS; k++) {
		json_t *list = NULL;
		if (as_json) {
			list = json_array();
			if (json_object_set_new(doc, bulk_plurals[k], list) != 0) {
				code = oom(ctx);
				goto done;
			}
		}
		opra_free(after);
		after = NULL;
		for (;;) {
			Opra__V1__BulkExportRequest req = OPRA__V1__BULK_EXPORT_REQUEST__INIT;
			Opra__V1__BulkExportReply *page = NULL;
			req.kind = (char *)bulk_kinds[k];
			req.after = after ? after : empty_text;
			req.limit = BULK_PAGE;
			req.include_removed = all;
			if ((rc = call_retry(ctx, "opra.v1.InventoryBulk/Export", &req.base,
					     &opra__v1__bulk_export_reply__descriptor, &page,
					     NULL)) != OPRA_OK) {
				code = cli_fail(ctx, rc);
				goto done;
			}
			for (size_t i = 0; rc == OPRA_OK && i < page->n_records; i++) {
				if (as_json) {
					json_t *o = json_record(page->records[i], k, all);
					rc = o && json_array_append_new(list, o) == 0
						     ? OPRA_OK
						     : OPRA_RESOURCE_EXHAUSTED;
				} else {
					rc = csv_record(&text, page->records[i], bulk_kinds[k],
							all);
				}
			}
			counts[k] += page->n_records;
			bool last = page->next_after == NULL || page->next_after[0] == '\0' ||
				    page->n_records == 0 ||
				    (after && strcmp(after, page->next_after) == 0);
			opra_free(after);
			after = last ? NULL : opra_strdup(page->next_after);
			protobuf_c_message_free_unpacked(&page->base, NULL);
			if (rc != OPRA_OK || (!last && after == NULL)) {
				code = oom(ctx);
				goto done;
			}
			if (last)
				break;
		}
	}
	if (as_json) {
		char *s = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		rc = s ? opra_buf_puts(&text, s) : OPRA_RESOURCE_EXHAUSTED;
		if (rc == OPRA_OK)
			rc = opra_buf_append(&text, "\n", 1);
		free(s);
		if (rc != OPRA_OK) {
			code = oom(ctx);
			goto done;
		}
	}
	code = out_emit_text(ctx->out, to_stdout ? NULL : path, text.data, text.len);
	if (code != 0 || to_stdout)
		goto done;
	if (ctx->out->json) {
		json_t *o = json_object();
		int bad = o == NULL;
		bad |= json_object_set_new(o, "path", out_jstr(path, false));
		bad |= json_object_set_new(o, "format", json_string(as_json ? "json" : "csv"));
		bad |= json_object_set_new(o, "bytes", json_integer((json_int_t)text.len));
		bad |= json_object_set_new(o, "all", json_boolean(all));
		for (int k = 0; k < BULK_NKINDS; k++)
			bad |= json_object_set_new(o, bulk_plurals[k],
						   json_integer((json_int_t)counts[k]));
		if (bad) {
			json_decref(o);
			code = oom(ctx);
		} else {
			code = cli_emit_json(ctx, o);
		}
		goto done;
	}
	if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fprintf(f, "wrote %llu units, %llu services, %llu assets, %llu links to ",
			counts[0], counts[1], counts[2], counts[3]);
		out_put_safe(f, path);
		fprintf(f, " (%s, %zu bytes)\n", as_json ? "JSON" : "CSV", text.len);
	}
done:
	opra_free(after);
	json_decref(doc);
	opra_buf_free(&text);
	return code;
}
