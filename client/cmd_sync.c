/* opra sync: delivers the offline spool (client/spool.h) in order, exactly
 * once.
 *
 * Each record is sent with its own idempotency key, so a record whose
 * delivery reached the server before (and whose answer was lost) is
 * answered from the server's record. A record is removed only after the
 * server acknowledged it. A record the server refuses for good is moved to
 * failed/ with the reason and the later records still go; a transient
 * failure (no server, overloaded, timed out) stops the run so that the
 * order is kept. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "sha256.h"
#include "spool.h"

#include "opra/v1/evidence.pb-c.h"

#include <string.h>
#include <unistd.h>

static const char *const M_SUBMIT = "opra.v1.Evidence/Submit";

/* What became of one record. */
typedef enum { SYNC_DELIVERED, SYNC_FAILED, SYNC_STOP } sync_outcome;

typedef struct {
	cli_ctx *ctx;
	spool *sp;
	rpc_client *site_rpc; /* a client for records spooled under another --site */
	char *site_rpc_site;
	json_t *items;
	size_t delivered, failed;
	int first_fail_code; /* exit code of the first failed record */
} syncer;

static bool same_site(const char *a, const char *b)
{
	if (a == NULL || a[0] == '\0')
		return b == NULL || b[0] == '\0';
	return b != NULL && strcmp(a, b) == 0;
}

/* The rpc client to deliver a record spooled with `site`: the command's own
 * when the site is the same, else one opened with that site (so the server
 * records where the evidence came from, not where it was synced from). */
static int rpc_for_site(syncer *s, const char *site, rpc_client **out)
{
	const opt_config *cfg = s->ctx->cfg;
	rpc_options ro;
	int rc;

	if (same_site(site, cfg->site)) {
		*out = s->ctx->rpc;
		return OPRA_OK;
	}
	if (s->site_rpc && same_site(site, s->site_rpc_site)) {
		*out = s->site_rpc;
		return OPRA_OK;
	}
	rpc_client_close(s->site_rpc);
	opra_free(s->site_rpc_site);
	s->site_rpc = NULL;
	s->site_rpc_site = NULL;
	opt_rpc_options(&ro, cfg); /* TLS and --insecure as the command's own */
	ro.site = site;
	if ((rc = rpc_client_open(&s->site_rpc, &ro)) != OPRA_OK)
		return rc;
	if (site && (s->site_rpc_site = opra_strdup(site)) == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	*out = s->site_rpc;
	return OPRA_OK;
}

/* A status that says something about this record (not about the server or
 * the caller): the record fails and the next one is tried. */
static bool record_refused(int status)
{
	switch (status) {
	case OPRA_NOT_FOUND:
	case OPRA_PERMISSION_DENIED:
	case OPRA_INVALID_ARGUMENT:
	case OPRA_OUT_OF_RANGE:
	case OPRA_FAILED_PRECONDITION:
	case OPRA_ALREADY_EXISTS:
	case OPRA_DATA_LOSS:
		return true;
	default:
		return false;
	}
}

static void add_item(syncer *s, const char *id, const spool_record *r, const char *result,
		     const char *evidence_id, int status, const char *message)
{
	json_t *o;

	if (s->items == NULL)
		return;
	o = json_pack("{s:s, s:o, s:o, s:s, s:o}", "spool_id", id, "idempotency_key",
		      out_jstr(r ? r->key : NULL, true), "summary",
		      out_jstr(r ? r->summary : NULL, true), "result", result, "evidence_id",
		      out_jstr(evidence_id, true));
	if (o && status != OPRA_OK)
		json_object_set_new(o, "error",
				    json_pack("{s:s, s:o}", "code", opra_status_name(status),
					      "message", out_jstr(message, false)));
	json_array_append_new(s->items, o);
}

/* Moves a record aside and reports it. */
static void fail_record(syncer *s, const char *id, const spool_record *r, int status,
			const char *message)
{
	char why[OPRA_ERR_MSG_MAX + 64];
	int rc;

	snprintf(why, sizeof(why), "%s: %s", opra_status_name(status), message);
	add_item(s, id, r, "failed", NULL, status, message);
	if ((rc = spool_fail(s->sp, id, why)) != OPRA_OK)
		out_warn(s->ctx->out, "%s (the record stays in the spool)", opra_err_msg());
	s->failed++;
	if (s->first_fail_code == 0)
		s->first_fail_code = opra_status_exit_code(status);
	fprintf(s->ctx->out->err, "opra: %s failed and was moved to %s: ", id,
		spool_failed_dir(s->sp));
	out_put_safe(s->ctx->out->err, why);
	fputc('\n', s->ctx->out->err);
}

/* Checks a --spool-reference file against its recorded hash. */
static int check_reference(const spool_record *r)
{
	uint8_t digest[SHA256_BYTES];
	char hex[SHA256_HEX_LEN + 1];
	uint64_t size = 0;
	int rc = sha256_file(r->file_path, digest, &size);

	if (rc != OPRA_OK)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "the spooled file can no longer be read (%s); it was spooled "
				    "by reference, so there is no copy",
				    opra_err_msg());
	sha256_hex(hex, digest);
	if (size != r->file_size || strcmp(hex, r->file_sha256) != 0)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "%s changed after it was spooled (SHA-256 now %s, spooled "
				    "%s); it was spooled by reference, so there is no copy: submit "
				    "it again if the new content is right",
				    r->file_path, hex, r->file_sha256);
	return OPRA_OK;
}

static sync_outcome deliver_one(syncer *s, const char *id, int *stop_status)
{
	cli_ctx *ctx = s->ctx;
	spool_record *r = NULL;
	Opra__V1__EvidenceSubmitRequest *req = NULL;
	Opra__V1__EvidenceReply *reply = NULL;
	cli_evidence_file src;
	rpc_client *rpc = NULL;
	sync_outcome outcome = SYNC_DELIVERED;
	bool dedup = false;
	int fd = -1, rc;

	*stop_status = OPRA_OK;
	if ((rc = spool_read(s->sp, id, &r)) != OPRA_OK) {
		if (rc == OPRA_DATA_LOSS) {
			fail_record(s, id, NULL, rc, opra_err_msg());
			return SYNC_FAILED;
		}
		*stop_status = rc;
		return SYNC_STOP;
	}
	if (strcmp(r->method, M_SUBMIT) != 0) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "this version of opra cannot deliver '%.100s' (a newer opra spooled it?)",
			 r->method);
		fail_record(s, id, r, OPRA_UNIMPLEMENTED, msg);
		outcome = SYNC_FAILED;
		goto done;
	}
	req = opra__v1__evidence_submit_request__unpack(NULL, r->body_len, r->body);
	if (req == NULL) {
		fail_record(s, id, r, OPRA_DATA_LOSS, "its request cannot be decoded");
		outcome = SYNC_FAILED;
		goto done;
	}
	memset(&src, 0, sizeof(src));
	if (r->has_file) {
		if (!r->file_copy && (rc = check_reference(r)) != OPRA_OK) {
			fail_record(s, id, r, rc, opra_err_msg());
			outcome = SYNC_FAILED;
			goto done;
		}
		if ((rc = spool_open_data(s->sp, r, &fd)) != OPRA_OK) {
			fail_record(s, id, r, OPRA_FAILED_PRECONDITION, opra_err_msg());
			outcome = SYNC_FAILED;
			goto done;
		}
		src.fd = fd;
		src.offset = r->file_copy ? r->data_offset : 0;
		src.name = r->file_path;
		src.sha256 = r->file_sha256;
		src.size = r->file_size;
		src.check_size = !r->file_copy;
	}
	if ((rc = rpc_for_site(s, r->site, &rpc)) != OPRA_OK) {
		*stop_status = rc;
		outcome = SYNC_STOP;
		goto done;
	}
	rc = cli_evidence_deliver(ctx, rpc, req, r->key, r->has_file ? &src : NULL, &reply, &dedup);
	if (rc == OPRA_OK) {
		const char *eid = reply->evidence ? reply->evidence->id : NULL;
		if ((rc = spool_remove(s->sp, id)) != OPRA_OK) {
			/* Delivered, but it would be sent again: harmless (same
			 * key), yet say so. */
			out_warn(ctx->out, "%s", opra_err_msg());
		}
		add_item(s, id, r, "delivered", eid, OPRA_OK, NULL);
		s->delivered++;
		if (!ctx->out->json && !ctx->out->quiet) {
			fprintf(ctx->out->out, "delivered %s: evidence ", id);
			out_put_safe(ctx->out->out, eid ? eid : "?");
			fputs(" (", ctx->out->out);
			out_put_safe(ctx->out->out, r->summary);
			fputs(")\n", ctx->out->out);
		}
	} else if (record_refused(rc) && rc != OPRA_DATA_LOSS) {
		fail_record(s, id, r, rc, opra_err_msg());
		outcome = SYNC_FAILED;
	} else {
		*stop_status = rc;
		outcome = SYNC_STOP;
	}
done:
	if (fd >= 0)
		close(fd);
	if (reply)
		protobuf_c_message_free_unpacked(&reply->base, NULL);
	if (req)
		protobuf_c_message_free_unpacked(&req->base, NULL);
	spool_record_free(r);
	return outcome;
}

int cmd_sync(cli_ctx *ctx, const cli_args *args)
{
	syncer s;
	char **ids = NULL;
	size_t n = 0, i = 0;
	int rc, stop_status = OPRA_OK, code = 0;
	char stop_msg[OPRA_ERR_MSG_MAX] = "";

	(void)args;
	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	if ((rc = spool_open(&s.sp, NULL)) != OPRA_OK)
		return out_fail(ctx->out, rc);
	if ((rc = spool_lock_sync(s.sp)) != OPRA_OK) {
		code = out_fail(ctx->out, rc == OPRA_ABORTED ? OPRA_ABORTED : rc);
		goto done;
	}
	if ((rc = spool_list(s.sp, &ids, &n)) != OPRA_OK) {
		code = out_fail(ctx->out, rc);
		goto done;
	}
	if (ctx->out->json && (s.items = json_array()) == NULL) {
		code = out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
		goto done;
	}
	for (i = 0; i < n; i++) {
		sync_outcome o = deliver_one(&s, ids[i], &stop_status);
		if (o == SYNC_STOP) {
			snprintf(stop_msg, sizeof(stop_msg), "%s", opra_err_msg());
			break;
		}
	}
	size_t remaining = n - i;
	if (stop_status != OPRA_OK) {
		fprintf(ctx->out->err,
			"opra: stopped at %s, which stays in the spool with the %zu "
			"after it: ",
			ids[i], remaining - 1);
		out_put_safe(ctx->out->err, stop_msg);
		fputc('\n', ctx->out->err);
		if (cli_status_transient(stop_status))
			fputs("opra: run 'opra sync' again when the server is reachable\n",
			      ctx->out->err);
		code = opra_status_exit_code(stop_status);
		if (stop_status == OPRA_UNAUTHENTICATED)
			cli_fail(ctx, stop_status); /* the token hint, on stderr */
	} else if (s.failed > 0) {
		code = s.first_fail_code;
	}
	if (ctx->out->json) {
		json_t *o =
			json_pack("{s:I, s:I, s:I, s:s, s:s, s:o}", "delivered",
				  (json_int_t)s.delivered, "failed", (json_int_t)s.failed,
				  "remaining", (json_int_t)remaining, "spool_dir", spool_dir(s.sp),
				  "failed_dir", spool_failed_dir(s.sp), "items", s.items);
		s.items = NULL;
		if (o && stop_status != OPRA_OK)
			json_object_set_new(o, "error",
					    json_pack("{s:s, s:o}", "code",
						      opra_status_name(stop_status), "message",
						      out_jstr(stop_msg, false)));
		rc = out_json(ctx->out, o);
		if (rc != OPRA_OK && code == 0)
			code = out_fail(ctx->out, rc);
	} else if (!ctx->out->quiet || code != 0) {
		if (n == 0 && spool_failed_count(s.sp) == 0) {
			out_note(ctx->out, "nothing to deliver: the spool (%s) is empty\n",
				 spool_dir(s.sp));
		} else {
			FILE *f = ctx->out->quiet ? ctx->out->err : ctx->out->out;
			fprintf(f, "delivered %zu, failed %zu (kept in ", s.delivered, s.failed);
			out_put_safe(f, spool_failed_dir(s.sp));
			fprintf(f, "), remaining %zu\n", remaining);
		}
	}
done:
	json_decref(s.items);
	spool_ids_free(ids, n);
	rpc_client_close(s.site_rpc);
	opra_free(s.site_rpc_site);
	spool_close(s.sp);
	return code;
}
