/* Bulk inventory: `opra inventory import` streams a checked file
 * (common/invfile.h) to opra.v1.InventoryBulk in batches and commits it in
 * one transaction; `opra inventory export` pages through Export and writes
 * a typed CSV or the JSON file shape the importer reads (docs/inventory.md).
 *
 * A dropped connection during an import is retried batch by batch with the
 * batch's own idempotency key ("<import id>-<seq>"), so the server stages
 * every batch once however often it is sent. While one batch is on its way
 * to the server, a second thread reads and checks the next one. */
#include "cli.h"

#include "invfile.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"

#include "opra/v1/inventory.pb-c.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Records per Stage call (the server takes at most 5000), and at most
 * about this many bytes of them: long descriptions must not push a call
 * past the server's message limit (4 MiB by default). */
#define BULK_BATCH	 5000
#define BULK_BATCH_BYTES (1024 * 1024)
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
static int call_retry(rpc_client *rpc, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, void *resp_out, const char *key)
{
	int rc = OPRA_OK;

	for (int attempt = 0; attempt <= BULK_RETRIES; attempt++) {
		if (attempt > 0)
			sleep_ms(100L << (attempt - 1)); /* 100 ms .. 1.6 s */
		rc = rpc_call(rpc, method, req, resp_desc, (ProtobufCMessage **)resp_out, key);
		if (rc != OPRA_UNAVAILABLE && rc != OPRA_DEADLINE_EXCEEDED)
			break;
	}
	return rc;
}

/* ---- import ------------------------------------------------------------- */

/* One batch of records with copies of their strings (and tag lists), kept
 * in chunks that live until the batch is reset. */
#define BATCH_CHUNK (64 * 1024)

typedef struct batch_chunk {
	struct batch_chunk *next;
	size_t used, size;
	_Alignas(max_align_t) char data[];
} batch_chunk;

typedef struct {
	Opra__V1__BulkRecord recs[BULK_BATCH];
	Opra__V1__BulkRecord *ptrs[BULK_BATCH];
	batch_chunk *chunks; /* the current one first */
	size_t n;
	size_t bytes; /* about the size of the records on the wire */
} bulk_batch;

static char empty_text[] = "";

/* size bytes kept by the batch, aligned for pointers. NULL when memory
 * runs out. */
static void *batch_alloc(bulk_batch *b, size_t size)
{
	batch_chunk *c = b->chunks;
	size_t at = c ? (c->used + sizeof(void *) - 1) & ~(sizeof(void *) - 1) : 0;

	if (c == NULL || at > c->size || c->size - at < size) {
		size_t cap = size > BATCH_CHUNK ? size : BATCH_CHUNK;
		if ((c = opra_malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->next = b->chunks;
		c->size = cap;
		b->chunks = c;
		at = 0;
	}
	c->used = at + size;
	return c->data + at;
}

/* A copy of s kept by the batch; "" for NULL. NULL when memory runs out. */
static char *batch_keep(bulk_batch *b, const char *s)
{
	size_t len;
	char *copy;

	if (s == NULL || s[0] == '\0')
		return empty_text;
	len = strlen(s) + 1;
	if ((copy = batch_alloc(b, len)) == NULL)
		return NULL;
	memcpy(copy, s, len);
	b->bytes += len + 2; /* a field's tag and length */
	return copy;
}

static void batch_reset(bulk_batch *b)
{
	batch_chunk *c = b->chunks;

	/* Keep one chunk for the next batch. */
	while (c && c->next) {
		batch_chunk *next = c->next;
		opra_free(c);
		c = next;
	}
	if (c)
		c->used = 0;
	b->chunks = c;
	b->n = 0;
	b->bytes = 0;
}

static void batch_free(bulk_batch *b)
{
	if (b == NULL)
		return;
	batch_reset(b);
	opra_free(b->chunks);
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
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (rec->n_tags > 0) {
		if ((r->tags = batch_alloc(b, rec->n_tags * sizeof(char *))) == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		for (size_t i = 0; i < rec->n_tags; i++)
			if ((r->tags[i] = batch_keep(b, rec->tags[i])) == NULL)
				return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		r->n_tags = rec->n_tags;
	}
	b->ptrs[b->n] = r;
	b->n++;
	b->bytes += 16; /* the record's own framing, kind and line */
	return OPRA_OK;
}

/* Reading batches, on a thread of their own while the previous ones are on
 * their way to the server. The last error is per thread, so a bad record's
 * message travels back in msg. */
typedef struct {
	inv_reader *r;
	bulk_batch *b;
	int rc; /* OPRA_OK, or the reader's error (message in msg) */
	bool at_end;
	char msg[OPRA_ERR_MSG_MAX];
} batch_fill;

static void fill_batch(batch_fill *f)
{
	inv_record rec;

	batch_reset(f->b);
	f->rc = OPRA_OK;
	f->at_end = false;
	while (f->b->n < BULK_BATCH && f->b->bytes < BULK_BATCH_BYTES) {
		int rc = inv_next(f->r, &rec);
		if (rc == OPRA_NOT_FOUND) {
			f->at_end = true;
			break;
		}
		if (rc == OPRA_OK)
			rc = batch_add(f->b, &rec);
		if (rc != OPRA_OK) {
			f->rc = rc;
			snprintf(f->msg, sizeof(f->msg), "%s", opra_err_msg());
			break;
		}
	}
}

/* Fills the batches of one round: the second stays empty when the first
 * reaches the end of the file or a bad record. */
static void *fill_round(void *arg)
{
	batch_fill *f = arg;

	fill_batch(&f[0]);
	if (f[0].rc == OPRA_OK && !f[0].at_end) {
		fill_batch(&f[1]);
	} else {
		batch_reset(f[1].b);
		f[1].rc = OPRA_OK;
		f[1].at_end = true;
	}
	return NULL;
}

/* One Stage call, on the thread that runs it. */
typedef struct {
	rpc_client *rpc;
	const char *import_id;
	uint32_t seq;
	const bulk_batch *b;
	int rc;
	char msg[OPRA_ERR_MSG_MAX];
} stage_job;

static void *run_stage(void *arg)
{
	stage_job *j = arg;
	Opra__V1__BulkStageRequest stage = OPRA__V1__BULK_STAGE_REQUEST__INIT;
	Opra__V1__BulkStageReply *staged = NULL;
	char key[160];

	stage.import_id = (char *)j->import_id;
	stage.seq = j->seq;
	stage.n_records = j->b->n;
	stage.records = (Opra__V1__BulkRecord **)j->b->ptrs;
	snprintf(key, sizeof(key), "%.100s-%u", j->import_id, (unsigned)j->seq);
	j->rc = call_retry(j->rpc, "opra.v1.InventoryBulk/Stage", &stage.base,
			   &opra__v1__bulk_stage_reply__descriptor, &staged, key);
	if (j->rc != OPRA_OK)
		snprintf(j->msg, sizeof(j->msg), "%s", opra_err_msg());
	if (staged)
		protobuf_c_message_free_unpacked(&staged->base, NULL);
	return NULL;
}

/* A second connection to the server, so that two batches travel at once;
 * NULL when it cannot be had (the import then sends one at a time). */
static rpc_client *second_client(cli_ctx *ctx)
{
	const opt_config *cfg = ctx->cfg;
	rpc_options ro;
	rpc_client *rpc = NULL;

	if (cfg == NULL || cfg->n_servers == 0)
		return NULL;
	opt_rpc_options(&ro, cfg);
	return rpc_client_open(&rpc, &ro) == OPRA_OK ? rpc : NULL;
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
	if (call_retry(ctx->rpc, "opra.v1.InventoryBulk/Abort", &req.base,
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
	rpc_client *rpc2 = NULL;
	/* Two rounds of two batches: one round is sent (a batch on each
	 * connection) while the other is read. */
	batch_fill fill[4];
	batch_fill *round = &fill[0], *next = &fill[2];
	char *import_id = NULL;
	unsigned long long sent = 0;
	uint32_t seq = 0;
	char key[160];
	int rc, code = 0;

	memset(fill, 0, sizeof(fill));
	if (path[0] == '\0')
		return cli_usage(ctx, "FILE must not be empty");
	/* Open (and so check the header) before anything reaches the server. */
	if ((rc = inv_open(&r, path, cli_opt(args, "--format"), cli_opt(args, "--kind"))) !=
	    OPRA_OK)
		return out_fail(ctx->out, rc);
	for (int i = 0; i < 4; i++) {
		fill[i].r = r;
		if ((fill[i].b = opra_calloc(1, sizeof(*fill[i].b))) == NULL) {
			code = oom(ctx);
			goto done;
		}
	}
	fill_round(round);
	for (;;) {
		pthread_t reader, sender;
		bool reading = false, sending = false;
		bool more = !round[0].at_end && !round[1].at_end;
		stage_job jobs[2];
		int failed = -1;
		for (int i = 0; i < 2 && failed < 0; i++)
			if (round[i].rc != OPRA_OK)
				failed = i;
		if (failed >= 0) {
			if (progress_shown)
				fputc('\n', ctx->out->err);
			progress_shown = false;
			opra_err_set(round[failed].rc, "%s", round[failed].msg);
			code = out_fail(ctx->out, round[failed].rc); /* file:line: field ... */
			abort_import(ctx, import_id);
			goto done;
		}
		/* Begin once the first batch has been read and checked, so a
		 * file that is bad early never reaches the server. */
		if (import_id == NULL) {
			begin.source = (char *)base_name(path);
			rpc_new_key(key);
			rc = call_retry(ctx->rpc, "opra.v1.InventoryBulk/Begin", &begin.base,
					&opra__v1__bulk_begin_reply__descriptor, &begun, key);
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
		if (round[0].b->n == 0)
			break;
		/* Read the next round while this one travels (or right here when
		 * no thread can be had). */
		if (more && !(reading = pthread_create(&reader, NULL, fill_round, next) == 0))
			fill_round(next);
		for (int i = 0; i < 2; i++) {
			memset(&jobs[i], 0, sizeof(jobs[i]));
			jobs[i].rpc = ctx->rpc;
			jobs[i].import_id = import_id;
			jobs[i].b = round[i].b;
			jobs[i].rc = OPRA_OK;
			if (round[i].b->n > 0)
				jobs[i].seq = ++seq;
		}
		if (round[1].b->n > 0 && rpc2 == NULL)
			rpc2 = second_client(ctx);
		if (round[1].b->n > 0 && rpc2) {
			jobs[1].rpc = rpc2;
			sending = pthread_create(&sender, NULL, run_stage, &jobs[1]) == 0;
		}
		run_stage(&jobs[0]);
		if (sending)
			pthread_join(sender, NULL);
		else if (round[1].b->n > 0 && jobs[0].rc == OPRA_OK)
			run_stage(&jobs[1]);
		if (reading)
			pthread_join(reader, NULL);
		for (int i = 0; i < 2 && failed < 0; i++)
			if (jobs[i].rc != OPRA_OK)
				failed = i;
		if (failed >= 0) {
			if (progress_shown)
				fputc('\n', ctx->out->err);
			progress_shown = false;
			opra_err_set(jobs[failed].rc, "%s", jobs[failed].msg);
			code = cli_fail(ctx, jobs[failed].rc);
			abort_import(ctx, import_id);
			goto done;
		}
		sent += round[0].b->n + round[1].b->n;
		if (progress) {
			progress_line(ctx, path, sent, r);
			progress_shown = true;
		}
		if (!more)
			break;
		batch_fill *t = round;
		round = next;
		next = t;
	}
	if (progress_shown)
		fputc('\n', ctx->out->err);
	progress_shown = false;
	commit.import_id = import_id;
	commit.dry_run = dry_run;
	snprintf(key, sizeof(key), "%.100s-commit", import_id);
	if ((rc = call_retry(ctx->rpc, "opra.v1.InventoryBulk/Commit", &commit.base,
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
	for (int i = 0; i < 4; i++)
		batch_free(fill[i].b);
	rpc_client_close(rpc2);
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
			if ((rc = call_retry(ctx->rpc, "opra.v1.InventoryBulk/Export", &req.base,
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
