/* opra evidence submit | list | get | accept | reject (issue 6), list
 * --candidates and link (issue 7: evidence reused through the crosswalk,
 * served by the Rating service), and the
 * delivery of one submission that `opra sync` shares (cli_evidence_deliver).
 *
 * A file travels as UploadBegin(sha256, size) -> "already stored" (nothing
 * sent) or the chunks still missing -> UploadChunk... -> UploadCommit ->
 * Submit. Every step of one logical operation derives its idempotency key
 * from the operation's key (KEY/commit, KEY for Submit; each UploadBegin,
 * which only reports and is naturally idempotent, KEY/begin/RANDOM), so a
 * retry, a re-run with --idempotency-key or a spooled delivery is applied
 * once. The upload itself (client/upload.c, shared with the benchmark)
 * sends several chunks at once on separate connections; a dropped
 * connection is retried with backoff and the upload then asks UploadBegin
 * again which chunks are still missing (resume). The file is read chunk by
 * chunk; the server hashes what it stores and commits only bytes that match
 * the declared SHA-256, so a file that changes while it is sent is never
 * committed. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"
#include "sha256.h"
#include "spool.h"
#include "token.h"
#include "upload.h"

#include "opra/v1/evidence.pb-c.h"
#include "opra/v1/rating.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Extra tries of one step after a transient failure (backoff 100 ms, 200
 * ms, ... 1.6 s: about 3 s in all before giving up or spooling). */
#define EV_RETRIES 5
/* The longest --idempotency-key (derived keys add "/begin/xxxxxxxx"). */
#define EV_KEY_MAX 100
/* The text limit of the protocol (evidence.proto). */
#define EV_TEXT_MAX (64u * 1024u)

static const char *const M_SUBMIT = "opra.v1.Evidence/Submit";

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

bool cli_status_transient(int status)
{
	return status == OPRA_UNAVAILABLE || status == OPRA_DEADLINE_EXCEEDED ||
	       status == OPRA_RESOURCE_EXHAUSTED || status == OPRA_ABORTED;
}

/* rpc_call, tried again with the same key while the failure is transient.
 * Returns the status (message in opra_err_msg()). */
static int call_retry(rpc_client *rpc, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, void *resp_out, const char *key)
{
	int rc = OPRA_OK;

	for (int attempt = 0; attempt <= EV_RETRIES; attempt++) {
		if (attempt > 0)
			sleep_ms(100L << (attempt - 1));
		rc = rpc_call(rpc, method, req, resp_desc, (ProtobufCMessage **)resp_out, key);
		if (!cli_status_transient(rc))
			break;
	}
	return rc;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/* "3.2 MiB" */
static void human_size(char *out, size_t size, uint64_t n)
{
	if (n < 1024)
		snprintf(out, size, "%llu bytes", (unsigned long long)n);
	else if (n < 1024 * 1024)
		snprintf(out, size, "%.1f KiB", (double)n / 1024.0);
	else if (n < 1024ull * 1024 * 1024)
		snprintf(out, size, "%.1f MiB", (double)n / (1024.0 * 1024.0));
	else
		snprintf(out, size, "%.2f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
}

/* ---- upload (client/upload.c) ------------------------------------------ */

typedef struct {
	cli_ctx *ctx;
	const char *name;
	bool shown;
} progress_state;

/* The progress line on a terminal (upload_progress_fn). */
static void progress_line(void *arg, uint64_t done, uint64_t total)
{
	progress_state *ps = arg;
	FILE *err = ps->ctx->out->err;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	char a[32], b[32];

	human_size(a, sizeof(a), done);
	human_size(b, sizeof(b), total);
	fputs("\ruploading ", err);
	out_put_safe(err, ps->name);
	fprintf(err, ": %s of %s (%u%%)   ", a, b, pct > 100 ? 100 : pct);
	fflush(err);
	ps->shown = true;
}

int cli_evidence_deliver(cli_ctx *ctx, rpc_client *rpc, Opra__V1__EvidenceSubmitRequest *req,
			 const char *key, const cli_evidence_file *file,
			 Opra__V1__EvidenceReply **reply, bool *deduplicated)
{
	int rc = OPRA_OK;

	*reply = NULL;
	*deduplicated = false;
	if (file) {
		const opt_config *cfg = ctx->cfg;
		rpc_options more;
		upload_params up;
		upload_source src;
		upload_result res;
		progress_state ps = {ctx, file->name, false};
		const char *url = rpc_client_url(rpc);

		/* The other chunk streams connect to the server rpc talks to
		 * (when it is connected), then to the configured ones. */
		memset(&more, 0, sizeof(more));
		if (cfg)
			opt_rpc_options(&more, cfg); /* token, TLS, --insecure */
		more.n_urls = 0;
		if (url)
			more.urls[more.n_urls++] = url;
		for (size_t k = 0; cfg && k < cfg->n_servers && more.n_urls < RPC_MAX_URLS; k++)
			more.urls[more.n_urls++] = cfg->servers[k];
		memset(&up, 0, sizeof(up));
		up.rpc = rpc;
		up.more = more.n_urls > 0 ? &more : NULL;
		up.streams = UPLOAD_STREAMS_DEFAULT;
		up.appraisal = req->appraisal;
		up.key = key;
		if (!ctx->out->json && !ctx->out->quiet && isatty(fileno(ctx->out->err))) {
			up.progress = progress_line;
			up.progress_arg = &ps;
		}
		src.fd = file->fd;
		src.offset = file->offset;
		src.name = file->name;
		src.sha256 = file->sha256;
		src.size = file->size;
		src.check_size = file->check_size;
		rc = upload_run(&up, &src, &res);
		if (ps.shown)
			fputc('\n', ctx->out->err);
		if (rc != OPRA_OK)
			return rc;
		*deduplicated = res.deduplicated;
	}
	/* The request may be an unpacked message (from the spool) that owns
	 * its strings: lend the file's hash only for the call. */
	char *own_sha256 = req->sha256;
	uint64_t own_size = req->size;
	if (file) {
		req->sha256 = (char *)file->sha256;
		req->size = file->size;
	}
	rc = call_retry(rpc, M_SUBMIT, &req->base, &opra__v1__evidence_reply__descriptor, reply,
			key);
	req->sha256 = own_sha256;
	req->size = own_size;
	return rc;
}

/* ---- output ------------------------------------------------------------- */

/* An evidence item as JSON (CLI.md's fields and the rest), or NULL. */
static json_t *item_json(const Opra__V1__EvidenceItem *e)
{
	json_t *o = json_object();

	if (o == NULL || json_object_set_new(o, "id", out_jstr(e->id, false)) ||
	    json_object_set_new(o, "appraisal", out_jstr(e->appraisal, false)) ||
	    json_object_set_new(o, "practice", out_jstr(e->practice, false)) ||
	    json_object_set_new(o, "instance", out_jstr(e->instance, false)) ||
	    json_object_set_new(o, "kind", out_jstr(e->kind, false)) ||
	    json_object_set_new(o, "title", out_jstr(e->title, true)) ||
	    json_object_set_new(o, "status", out_jstr(e->status, false)) ||
	    json_object_set_new(o, "sha256", out_jstr(e->sha256, true)) ||
	    json_object_set_new(o, "size", json_integer((json_int_t)e->size)) ||
	    json_object_set_new(o, "submitted_by", out_jstr(e->submitted_by, true)) ||
	    json_object_set_new(o, "submitted_at", out_jstr(e->submitted_at, true)) ||
	    json_object_set_new(o, "site", out_jstr(e->site, true)) ||
	    json_object_set_new(o, "client_id", out_jstr(e->client_id, true)) ||
	    json_object_set_new(o, "file_name", out_jstr(e->file_name, true)) ||
	    json_object_set_new(o, "is_text", json_boolean(e->is_text)) ||
	    json_object_set_new(o, "decided_by", out_jstr(e->decided_by, true)) ||
	    json_object_set_new(o, "decided_at", out_jstr(e->decided_at, true)) ||
	    json_object_set_new(o, "reason", out_jstr(e->reason, true))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* "evidence ID (artifact, ADM:SG1.SP1 / claims): accepted" */
static void item_line(FILE *f, const char *verb, const Opra__V1__EvidenceItem *e)
{
	fputs(verb, f);
	fputs(" evidence ", f);
	out_put_safe(f, e->id);
	fputs(" (", f);
	out_put_safe(f, e->kind);
	fputs(", ", f);
	out_put_safe(f, e->practice);
	fputs(" / ", f);
	out_put_safe(f, e->instance);
	fputs("): ", f);
	out_put_safe(f, e->status);
}

/* ---- submit ------------------------------------------------------------- */

static int print_spooled(cli_ctx *ctx, spool *sp, const char *id, const char *key, bool automatic,
			 int why_status, const char *why)
{
	if (automatic) {
		fputs("opra: no server answered (", ctx->out->err);
		out_put_safe(ctx->out->err, why);
		fputs("); the submission was spooled instead: run 'opra sync' to deliver it\n",
		      ctx->out->err);
	}
	if (ctx->out->json) {
		json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:b}", "spooled", 1, "id", id,
				      "idempotency_key", key, "spool_dir", spool_dir(sp),
				      "automatic", automatic);
		if (o && automatic)
			json_object_set_new(o, "reason",
					    json_pack("{s:s, s:o}", "code",
						      opra_status_name(why_status), "message",
						      out_jstr(why, false)));
		return cli_emit_json(ctx, o);
	}
	if (ctx->out->quiet) {
		fprintf(ctx->out->out, "%s\n", id);
		return 0;
	}
	fprintf(ctx->out->out, "spooled as %s (idempotency key ", id);
	out_put_safe(ctx->out->out, key);
	fputs(") in ", ctx->out->out);
	out_put_safe(ctx->out->out, spool_dir(sp));
	fputs("\nrun 'opra sync' to deliver it\n", ctx->out->out);
	return 0;
}

/* Writes the submission to the spool and reports it. Returns the exit code. */
static int spool_submit(cli_ctx *ctx, const Opra__V1__EvidenceSubmitRequest *req, const char *key,
			const char *path, const char *hex, uint64_t size, bool copy, bool automatic,
			int why_status, const char *why_msg)
{
	spool *sp = NULL;
	spool_entry e;
	uint8_t *body = NULL;
	char id[SPOOL_ID_MAX + 1], summary[512], why[OPRA_ERR_MSG_MAX];
	size_t len = protobuf_c_message_get_packed_size(&req->base);
	int rc, code = 0;

	snprintf(why, sizeof(why), "%s", why_msg ? why_msg : "");
	if (len > SPOOL_BODY_MAX)
		return out_error(ctx->out, OPRA_OUT_OF_RANGE,
				 "the submission is too large for the spool", NULL);
	if ((body = opra_malloc(len + 1)) == NULL)
		return oom(ctx);
	protobuf_c_message_pack(&req->base, body);
	snprintf(summary, sizeof(summary), "%s %s / %s in %s%s%s", req->kind, req->practice,
		 req->instance, req->appraisal, path ? ": " : "", path ? base_name(path) : "");
	memset(&e, 0, sizeof(e));
	e.method = M_SUBMIT;
	e.key = key;
	e.body = body;
	e.body_len = len;
	e.summary = summary;
	e.site = ctx->cfg->site;
	e.file_path = path;
	e.file_sha256 = hex;
	e.file_size = size;
	e.file_copy = copy;
	if ((rc = spool_open(&sp, NULL)) != OPRA_OK || (rc = spool_add(sp, &e, id)) != OPRA_OK) {
		if (automatic)
			fprintf(ctx->out->err,
				"opra: no server answered (%s), and spooling failed:\n", why);
		code = out_fail(ctx->out, rc);
		goto done;
	}
	code = print_spooled(ctx, sp, id, key, automatic, why_status, why);
done:
	spool_close(sp);
	opra_free(body);
	return code;
}

static int print_submitted(cli_ctx *ctx, const Opra__V1__EvidenceReply *r, bool dedup,
			   const char *key)
{
	const Opra__V1__EvidenceItem *e = r->evidence;

	if (e == NULL)
		return out_error(ctx->out, OPRA_INTERNAL, "the server's reply holds no evidence",
				 NULL);
	if (ctx->out->json) {
		json_t *o = item_json(e);
		if (o == NULL || json_object_set_new(o, "deduplicated", json_boolean(dedup)) ||
		    json_object_set_new(o, "result", out_jstr(r->result, true)) ||
		    json_object_set_new(o, "idempotency_key", out_jstr(key, false))) {
			json_decref(o);
			return oom(ctx);
		}
		return cli_emit_json(ctx, o);
	}
	if (ctx->out->quiet) {
		out_put_safe(ctx->out->out, e->id);
		fputc('\n', ctx->out->out);
		return 0;
	}
	char size[32];
	human_size(size, sizeof(size), e->size);
	item_line(ctx->out->out, "submitted", e);
	fprintf(ctx->out->out, ", %s, sha256 %.12s", size, e->sha256);
	if (dedup)
		fputs(" (already stored: no bytes sent)", ctx->out->out);
	fputc('\n', ctx->out->out);
	return 0;
}

int cmd_evidence_submit(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	Opra__V1__EvidenceReply *reply = NULL;
	const char *file = cli_opt(args, "--file"), *text = cli_opt(args, "--text");
	const char *title = cli_opt(args, "--title"),
		   *given_key = cli_opt(args, "--idempotency-key");
	bool to_spool = cli_opt(args, "--spool") != NULL;
	bool no_spool = cli_opt(args, "--no-spool") != NULL;
	bool reference = cli_opt(args, "--spool-reference") != NULL;
	char key[EV_KEY_MAX + 1], abs_path[PATH_MAX], hex[SHA256_HEX_LEN + 1];
	uint8_t digest[SHA256_BYTES];
	uint64_t size = 0;
	cli_evidence_file src;
	bool dedup = false;
	int fd = -1, rc, code = 0;

	if ((file == NULL) == (text == NULL))
		return cli_usage(ctx, "give exactly one of --file PATH or --text TEXT");
	if (to_spool && no_spool)
		return cli_usage(ctx, "--spool and --no-spool contradict each other");
	if (reference && file == NULL)
		return cli_usage(ctx, "--spool-reference is for --file");
	if (args->argv[0][0] == '\0' || cli_opt(args, "--practice")[0] == '\0' ||
	    cli_opt(args, "--instance")[0] == '\0')
		return cli_usage(ctx, "APPRAISAL, --practice and --instance must not be empty");
	if (file && file[0] == '\0')
		return cli_usage(ctx, "--file needs a path");
	if (text && strlen(text) > EV_TEXT_MAX)
		return cli_usage(ctx,
				 "--text holds %zu bytes; text evidence is limited to 64 KiB: put "
				 "longer evidence in a file and use --file",
				 strlen(text));
	if (given_key) {
		if (!opra_ascii_token_valid(given_key, EV_KEY_MAX))
			return cli_usage(ctx,
					 "--idempotency-key must be 1..%d visible ASCII "
					 "characters (no spaces)",
					 EV_KEY_MAX);
		snprintf(key, sizeof(key), "%s", given_key);
	} else {
		rpc_new_key(key);
	}
	req.appraisal = args->argv[0];
	req.practice = (char *)cli_opt(args, "--practice");
	req.instance = (char *)cli_opt(args, "--instance");
	req.kind = (char *)cli_opt(args, "--kind");
	req.title = (char *)(title ? title : "");
	memset(&src, 0, sizeof(src));
	if (text) {
		req.text = (char *)text;
	} else {
		/* The absolute path: a spooled record must find the file from
		 * wherever `opra sync` runs. */
		if (realpath(file, abs_path) == NULL) {
			rc = opra_err_set(errno == ENOENT ? OPRA_NOT_FOUND : OPRA_INVALID_ARGUMENT,
					  "cannot read %s: %s", file, strerror(errno));
			return out_fail(ctx->out, rc);
		}
		struct stat st;
		if (stat(abs_path, &st) != 0 || !S_ISREG(st.st_mode))
			return cli_usage(ctx, "--file %s is not a regular file", file);
		/* Hashes of files hashed before are remembered by (device,
		 * inode, size, mtime, ctime): a second submit of a big file that
		 * the server already has costs no reading at all. */
		char cache[PATH_MAX];
		int have_cache = client_state_dir(cache, sizeof(cache), "hashes") == OPRA_OK;
		if (have_cache && client_make_dirs(cache, 0700) != OPRA_OK)
			have_cache = 0;
		opra_err_clear();
		if ((rc = sha256_file_cached(abs_path, have_cache ? cache : NULL, digest, &size)) !=
		    OPRA_OK)
			return out_fail(ctx->out, rc);
		sha256_hex(hex, digest);
		req.file_name = (char *)base_name(abs_path);
		req.sha256 = hex;
		req.size = size;
	}
	if (to_spool)
		return spool_submit(ctx, &req, key, text ? NULL : abs_path, hex, size, !reference,
				    false, OPRA_OK, NULL);
	if (file) {
		if ((fd = open(abs_path, O_RDONLY | O_CLOEXEC)) < 0) {
			rc = opra_err_set(OPRA_INVALID_ARGUMENT, "cannot read %s: %s", file,
					  strerror(errno));
			return out_fail(ctx->out, rc);
		}
		src.fd = fd;
		src.offset = 0;
		src.name = file;
		src.sha256 = hex;
		src.size = size;
		src.check_size = true;
	}
	rc = cli_evidence_deliver(ctx, ctx->rpc, &req, key, file ? &src : NULL, &reply, &dedup);
	if (rc == OPRA_OK) {
		code = print_submitted(ctx, reply, dedup, key);
	} else if ((rc == OPRA_UNAVAILABLE || rc == OPRA_DEADLINE_EXCEEDED) && !no_spool) {
		/* Nothing answered: keep the operation (same key) for `opra
		 * sync`. If the server did apply it before the answer was
		 * lost, the delivery is answered from its record. */
		char why[OPRA_ERR_MSG_MAX];
		snprintf(why, sizeof(why), "%s", opra_err_msg());
		code = spool_submit(ctx, &req, key, text ? NULL : abs_path, hex, size, !reference,
				    true, rc, why);
	} else {
		code = cli_fail(ctx, rc);
	}
	if (fd >= 0)
		close(fd);
	if (reply)
		protobuf_c_message_free_unpacked(&reply->base, NULL);
	return code;
}

/* ---- candidates and link (crosswalk reuse) ------------------------------ */

static json_t *candidate_json(const Opra__V1__Candidate *c)
{
	json_t *o = json_object();

	if (o == NULL || json_object_set_new(o, "evidence_id", out_jstr(c->evidence_id, false)) ||
	    json_object_set_new(o, "from_practice", out_jstr(c->from_practice, false)) ||
	    json_object_set_new(o, "practice", out_jstr(c->practice, false)) ||
	    json_object_set_new(o, "instance", out_jstr(c->instance, false)) ||
	    json_object_set_new(o, "kind", out_jstr(c->kind, false)) ||
	    json_object_set_new(o, "title", out_jstr(c->title, true)) ||
	    json_object_set_new(o, "sha256", out_jstr(c->sha256, true)) ||
	    json_object_set_new(o, "size", json_integer((json_int_t)c->size)) ||
	    json_object_set_new(o, "status", out_jstr(c->status, false)) ||
	    json_object_set_new(o, "confirmed", json_boolean(c->confirmed))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* opra evidence list APPRAISAL --candidates: evidence submitted for other
 * practices that maps (crosswalk) to practices in scope and is not linked
 * there yet. --status and --kind narrow the list here, on the client. */
static int list_candidates(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"EVIDENCE", "FROM",   "FOR",     "INSTANCE",
					      "KIND",	  "STATUS", "MAPPING", "TITLE"};
	Opra__V1__CandidatesRequest req = OPRA__V1__CANDIDATES_REQUEST__INIT;
	Opra__V1__CandidatesReply *resp = NULL;
	const char *practice = cli_opt(args, "--practice"), *instance = cli_opt(args, "--instance");
	const char *status = cli_opt(args, "--status"), *kind = cli_opt(args, "--kind");
	out_table table;
	json_t *arr = NULL;
	size_t shown = 0;
	int code = 0;

	out_table_init(&table, 8, headers);
	req.appraisal = args->argv[0];
	req.practice = (char *)(practice ? practice : "");
	req.instance = (char *)(instance ? instance : "");
	if ((code = cli_call(ctx, "opra.v1.Rating/Candidates", &req.base,
			     &opra__v1__candidates_reply__descriptor, &resp, NULL)) != 0)
		goto done;
	if (ctx->out->json && (arr = json_array()) == NULL)
		goto nomem;
	for (size_t i = 0; i < resp->n_candidates; i++) {
		const Opra__V1__Candidate *c = resp->candidates[i];
		if ((status && strcmp(c->status, status) != 0) ||
		    (kind && strcmp(c->kind, kind) != 0))
			continue;
		shown++;
		if (arr) {
			if (json_array_append_new(arr, candidate_json(c)) != 0)
				goto nomem;
			continue;
		}
		const char *row[8] = {c->evidence_id,
				      c->from_practice,
				      c->practice,
				      c->instance,
				      c->kind,
				      c->status,
				      c->confirmed ? "confirmed" : "unconfirmed",
				      c->title[0] ? c->title : NULL};
		if (out_table_add(&table, row) != OPRA_OK)
			goto nomem;
	}
	if (arr) {
		code = cli_emit_json(ctx, arr);
		arr = NULL;
	} else if (shown == 0) {
		out_note(ctx->out, "no candidate evidence: nothing submitted for a practice that "
				   "maps to one in scope and is not linked there yet\n");
	} else {
		out_table_print(ctx->out, &table);
		out_note(ctx->out, "link one with 'opra evidence link EVIDENCE --practice FOR "
				   "--instance INSTANCE'\n");
	}
	goto done;
nomem:
	code = oom(ctx);
done:
	json_decref(arr);
	out_table_free(&table);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_evidence_link(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__EvidenceLinkRequest req = OPRA__V1__EVIDENCE_LINK_REQUEST__INIT;
	Opra__V1__EvidenceLinkReply *resp = NULL;
	const char *instance = cli_opt(args, "--instance");
	char key[33];
	int code;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "ID must not be empty");
	if (cli_opt(args, "--practice")[0] == '\0')
		return cli_usage(ctx, "--practice needs a practice, e.g. ADM:SG1.SP1");
	if (instance != NULL && instance[0] == '\0')
		return cli_usage(ctx, "--instance must not be empty (leave it out to keep the "
				      "evidence's own instance)");
	req.id = args->argv[0];
	req.practice = (char *)cli_opt(args, "--practice");
	req.instance = (char *)(instance ? instance : "");
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Rating/Link", &req.base,
			     &opra__v1__evidence_link_reply__descriptor, &resp, key)) != 0)
		return code;
	if (ctx->out->json) {
		json_t *o = json_object();
		if (o == NULL || json_object_set_new(o, "id", out_jstr(resp->id, false)) ||
		    json_object_set_new(o, "practice", out_jstr(resp->practice, false)) ||
		    json_object_set_new(o, "instance", out_jstr(resp->instance, false)) ||
		    json_object_set_new(o, "result", out_jstr(resp->result, true))) {
			json_decref(o);
			code = oom(ctx);
		} else {
			code = cli_emit_json(ctx, o);
		}
	} else if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fputs(strcmp(resp->result, "unchanged") == 0 ? "already linked: evidence "
							     : "linked evidence ",
		      f);
		out_put_safe(f, resp->id);
		fputs(" to ", f);
		out_put_safe(f, resp->practice);
		fputs(" / ", f);
		out_put_safe(f, resp->instance);
		fputc('\n', f);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- list --------------------------------------------------------------- */

int cmd_evidence_list(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"ID",   "PRACTICE", "INSTANCE",	  "KIND", "STATUS",
					      "SIZE", "BY",	  "SUBMITTED_AT", "SITE", "TITLE"};
	Opra__V1__EvidenceListRequest req = OPRA__V1__EVIDENCE_LIST_REQUEST__INIT;
	Opra__V1__EvidenceListReply *resp = NULL;
	const char *practice = cli_opt(args, "--practice"), *instance = cli_opt(args, "--instance");
	const char *status = cli_opt(args, "--status"), *kind = cli_opt(args, "--kind");
	out_table table;
	char(*sizes)[32] = NULL;
	json_t *arr = NULL;
	int code = 0;

	out_table_init(&table, 10, headers);
	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "APPRAISAL must not be empty");
	if (cli_opt(args, "--candidates") != NULL)
		return list_candidates(ctx, args);
	req.appraisal = args->argv[0];
	req.practice = (char *)(practice ? practice : "");
	req.instance = (char *)(instance ? instance : "");
	req.status = (char *)(status ? status : "");
	req.kind = (char *)(kind ? kind : "");
	if ((code = cli_call(ctx, "opra.v1.Evidence/List", &req.base,
			     &opra__v1__evidence_list_reply__descriptor, &resp, NULL)) != 0)
		goto done;
	if (ctx->out->json) {
		if ((arr = json_array()) == NULL)
			goto nomem;
		for (size_t i = 0; i < resp->n_items; i++)
			if (json_array_append_new(arr, item_json(resp->items[i])) != 0)
				goto nomem;
		code = cli_emit_json(ctx, arr);
		arr = NULL;
		goto done;
	}
	if (resp->n_items && (sizes = opra_calloc(resp->n_items, sizeof(*sizes))) == NULL)
		goto nomem;
	for (size_t i = 0; i < resp->n_items; i++) {
		const Opra__V1__EvidenceItem *e = resp->items[i];
		if (e->is_text)
			snprintf(sizes[i], sizeof(sizes[i]), "text %llu",
				 (unsigned long long)e->size);
		else
			human_size(sizes[i], sizeof(sizes[i]), e->size);
		const char *row[10] = {e->id,
				       e->practice,
				       e->instance,
				       e->kind,
				       e->status,
				       sizes[i],
				       e->submitted_by,
				       e->submitted_at,
				       e->site[0] ? e->site : NULL,
				       e->title[0] ? e->title
						   : (e->file_name[0] ? e->file_name : NULL)};
		if (out_table_add(&table, row) != OPRA_OK)
			goto nomem;
	}
	if (resp->n_items == 0)
		out_note(ctx->out, "no evidence%s\n",
			 practice || instance || status || kind ? " matches" : " yet");
	else
		out_table_print(ctx->out, &table);
	goto done;
nomem:
	code = oom(ctx);
done:
	json_decref(arr);
	opra_free(sizes);
	out_table_free(&table);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- get ---------------------------------------------------------------- */

/* The temporary file next to path (mkstemp), for an atomic write. */
static int temp_next_to(char *tmp, size_t size, const char *path, int *fd)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash)
		n = snprintf(tmp, size, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
	else
		n = snprintf(tmp, size, ".%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= size)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the path '%.200s' is too long", path);
	if ((*fd = mkstemp(tmp)) < 0)
		return opra_err_set(errno == EACCES ? OPRA_PERMISSION_DENIED : OPRA_INTERNAL,
				    "cannot create a temporary file next to '%s': %s", path,
				    strerror(errno));
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(*fd, 0666 & ~mask) != 0) { /* the mode a plain create gives */
		int e = errno;
		close(*fd);
		unlink(tmp);
		*fd = -1;
		return opra_err_set(OPRA_INTERNAL, "cannot set the mode of '%s': %s", tmp,
				    strerror(e));
	}
	return OPRA_OK;
}

static int write_fd(int fd, const uint8_t *p, size_t len, const char *what)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return opra_err_set(errno == ENOSPC ? OPRA_RESOURCE_EXHAUSTED
							    : OPRA_INTERNAL,
					    "cannot write %s: %s", what, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return OPRA_OK;
}

int cmd_evidence_get(cli_ctx *ctx, const cli_args *args)
{
	const char *id = args->argv[0], *path = cli_opt(args, "--output");
	Opra__V1__EvidenceItem *item = NULL;
	char tmp[PATH_MAX + 32] = "", hex[SHA256_HEX_LEN + 1];
	uint8_t digest[SHA256_BYTES];
	uint64_t offset = 0;
	sha256_ctx h;
	int fd = -1, rc = OPRA_OK, code = 0;
	bool eof = false;

	if (id[0] == '\0')
		return cli_usage(ctx, "ID must not be empty");
	if (path == NULL && ctx->out->json)
		return cli_usage(ctx, "--json needs -o PATH (without it the evidence's bytes go "
				      "to stdout)");
	if (path) {
		if ((rc = out_check_output_path(path)) != OPRA_OK)
			return rc == OPRA_INVALID_ARGUMENT ? cli_usage(ctx, "%s", opra_err_msg())
							   : out_fail(ctx->out, rc);
		if ((rc = temp_next_to(tmp, sizeof(tmp), path, &fd)) != OPRA_OK)
			return out_fail(ctx->out, rc);
	}
	sha256_init(&h);
	while (!eof) {
		Opra__V1__EvidenceGetRequest req = OPRA__V1__EVIDENCE_GET_REQUEST__INIT;
		Opra__V1__EvidenceGetReply *r = NULL;
		req.id = (char *)id;
		req.offset = offset;
		req.length = 0; /* the server's chunk size */
		rc = call_retry(ctx->rpc, "opra.v1.Evidence/Get", &req.base,
				&opra__v1__evidence_get_reply__descriptor, &r, NULL);
		if (rc != OPRA_OK) {
			code = cli_fail(ctx, rc);
			goto done;
		}
		if (item == NULL) {
			if (r->evidence == NULL) {
				protobuf_c_message_free_unpacked(&r->base, NULL);
				code = out_error(ctx->out, OPRA_INTERNAL,
						 "the server's reply names no evidence", NULL);
				goto done;
			}
			item = r->evidence;
			r->evidence = NULL; /* keep it past the reply */
		}
		if (r->offset != offset || offset + r->data.len > item->size ||
		    (r->data.len == 0 && !r->eof)) {
			protobuf_c_message_free_unpacked(&r->base, NULL);
			code = out_error(ctx->out, OPRA_INTERNAL,
					 "the server sent a range that does not follow on; nothing "
					 "was written",
					 NULL);
			goto done;
		}
		sha256_update(&h, r->data.data, r->data.len);
		if (path)
			rc = write_fd(fd, r->data.data, r->data.len, tmp);
		else if (r->data.len &&
			 fwrite(r->data.data, 1, r->data.len, ctx->out->out) != r->data.len)
			rc = opra_err_set(OPRA_INTERNAL, "cannot write to stdout: %s",
					  strerror(errno));
		offset += r->data.len;
		eof = r->eof;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (rc != OPRA_OK) {
			code = out_fail(ctx->out, rc);
			goto done;
		}
	}
	sha256_final(&h, digest);
	sha256_hex(hex, digest);
	if (offset != item->size || strcasecmp(hex, item->sha256) != 0) {
		code = out_error(ctx->out, OPRA_DATA_LOSS,
				 path ? "the bytes received do not match the evidence's SHA-256; "
					"nothing was written"
				      : "the bytes received do not match the evidence's SHA-256: "
					"discard what was written to stdout",
				 NULL);
		goto done;
	}
	if (path) {
		if (fsync(fd) != 0 || close(fd) != 0) {
			fd = -1;
			code = out_error(ctx->out, OPRA_INTERNAL, "cannot write the file to disk",
					 NULL);
			goto done;
		}
		fd = -1;
		if (rename(tmp, path) != 0) {
			rc = opra_err_set(OPRA_INTERNAL,
					  "cannot rename the temporary file to %s: %s", path,
					  strerror(errno));
			code = out_fail(ctx->out, rc);
			goto done;
		}
		tmp[0] = '\0';
		if (ctx->out->json) {
			json_t *o = json_pack("{s:o, s:s, s:s, s:I, s:o}", "id",
					      out_jstr(item->id, false), "path", path, "sha256",
					      hex, "size", (json_int_t)offset, "file_name",
					      out_jstr(item->file_name, true));
			code = cli_emit_json(ctx, o);
		} else {
			char size[32];
			human_size(size, sizeof(size), offset);
			out_note(ctx->out, "wrote %s (%s, sha256 verified)\n", path, size);
		}
	}
done:
	if (path) {
		if (fd >= 0)
			close(fd);
		if (tmp[0])
			unlink(tmp);
	}
	if (item)
		protobuf_c_message_free_unpacked(&item->base, NULL);
	return code;
}

/* ---- accept / reject ---------------------------------------------------- */

static int decide(cli_ctx *ctx, const cli_args *args, const char *method, const char *verb)
{
	Opra__V1__EvidenceDecideRequest req = OPRA__V1__EVIDENCE_DECIDE_REQUEST__INIT;
	Opra__V1__EvidenceReply *resp = NULL;
	const char *reason = cli_opt(args, "--reason");
	char key[33];
	int code;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "ID must not be empty");
	req.id = args->argv[0];
	req.reason = (char *)(reason ? reason : "");
	rpc_new_key(key);
	if ((code = cli_call(ctx, method, &req.base, &opra__v1__evidence_reply__descriptor, &resp,
			     key)) != 0)
		return code;
	if (resp->evidence == NULL) {
		code = out_error(ctx->out, OPRA_INTERNAL, "the server's reply holds no evidence",
				 NULL);
	} else if (ctx->out->json) {
		json_t *o = item_json(resp->evidence);
		if (o && json_object_set_new(o, "result", out_jstr(resp->result, true)) != 0) {
			json_decref(o);
			o = NULL;
		}
		code = cli_emit_json(ctx, o);
	} else if (!ctx->out->quiet) {
		item_line(ctx->out->out, verb, resp->evidence);
		if (resp->result[0] && strcmp(resp->result, "unchanged") == 0)
			fputs(" (unchanged)", ctx->out->out);
		fputc('\n', ctx->out->out);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_evidence_accept(cli_ctx *ctx, const cli_args *args)
{
	return decide(ctx, args, "opra.v1.Evidence/Accept", "accepted");
}

int cmd_evidence_reject(cli_ctx *ctx, const cli_args *args)
{
	return decide(ctx, args, "opra.v1.Evidence/Reject", "rejected");
}
