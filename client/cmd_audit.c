/* opra audit APPRAISAL [--verify]: an appraisal's event chain.
 *
 * Without --verify: every event in chain order (paged from the server).
 * With --verify: the server recomputes the whole SHA-256 chain and the
 * recorded head; a broken chain is data loss (exit 1), reported with the
 * first bad event and what is wrong. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include "opra/v1/events.pb-c.h"

#include <stdio.h>
#include <string.h>

#define AUDIT_PAGE 1000

static int audit_verify(cli_ctx *ctx, const char *appraisal)
{
	Opra__V1__AuditRequest q = OPRA__V1__AUDIT_REQUEST__INIT;
	Opra__V1__AuditReply *r = NULL;
	int code;

	q.appraisal = (char *)appraisal;
	q.verify = 1;
	if ((code = cli_call(ctx, "opra.v1.Events/Audit", &q.base,
			     &opra__v1__audit_reply__descriptor, (ProtobufCMessage **)&r, NULL)) !=
	    0)
		return code;
	int bad = !r->valid;
	if (ctx->out->json) {
		json_t *doc = json_object();
		if (doc == NULL || json_object_set_new(doc, "events", json_integer(r->total)) ||
		    json_object_set_new(doc, "head", out_jstr(r->head, false)) ||
		    json_object_set_new(doc, "valid", json_boolean(r->valid)) ||
		    json_object_set_new(doc, "appraisal", out_jstr(appraisal, false)) ||
		    json_object_set_new(doc, "sealed", json_boolean(r->sealed)) ||
		    json_object_set_new(doc, "sealed_head", out_jstr(r->sealed_head, true)) ||
		    json_object_set_new(doc, "first_bad_seq",
					bad ? json_integer(r->first_bad_seq) : json_null()) ||
		    json_object_set_new(doc, "problem", out_jstr(r->problem, true))) {
			json_decref(doc);
			doc = NULL;
		}
		code = cli_emit_json(ctx, doc);
	} else if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fprintf(f, "%s: %lld events, head ", r->valid ? "valid" : "BROKEN",
			(long long)r->total);
		out_put_safe(f, r->head);
		if (r->sealed) {
			fputs(", sealed with head ", f);
			out_put_safe(f, r->sealed_head);
		}
		fputc('\n', f);
	}
	if (bad && code == 0) {
		fputs("opra: the event chain is broken at event ", ctx->out->err);
		fprintf(ctx->out->err, "%lld: ", (long long)r->first_bad_seq);
		out_put_safe(ctx->out->err, r->problem);
		fputc('\n', ctx->out->err);
		code = opra_status_exit_code(OPRA_DATA_LOSS);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return code;
}

int cmd_audit(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"SEQ", "AT", "ACTOR", "SITE", "METHOD", "OBJECT"};
	const char *appraisal = args->argv[0];
	json_t *arr = NULL;
	out_table table;
	/* The table points into the replies and the seq texts: both live
	 * until it is printed. */
	Opra__V1__AuditReply **pages = NULL;
	char(*seqs)[24] = NULL;
	size_t n_pages = 0, n_seqs = 0;
	long long after = 0;
	int code = 0;

	if (appraisal[0] == '\0')
		return cli_usage(ctx, "name the appraisal");
	if (cli_opt(args, "--verify"))
		return audit_verify(ctx, appraisal);
	out_table_init(&table, 6, headers);
	if (ctx->out->json && (arr = json_array()) == NULL)
		goto oom;
	for (;;) {
		Opra__V1__AuditRequest q = OPRA__V1__AUDIT_REQUEST__INIT;
		Opra__V1__AuditReply *r = NULL;
		q.appraisal = (char *)appraisal;
		q.after_seq = after;
		q.limit = AUDIT_PAGE;
		if ((code = cli_call(ctx, "opra.v1.Events/Audit", &q.base,
				     &opra__v1__audit_reply__descriptor, (ProtobufCMessage **)&r,
				     NULL)) != 0)
			goto done;
		Opra__V1__AuditReply **np = opra_realloc(pages, (n_pages + 1) * sizeof(*np));
		char(*ns)[24] = opra_realloc(seqs, (n_seqs + r->n_events + 1) * sizeof(*ns));
		if (np)
			pages = np;
		if (ns)
			seqs = ns;
		if (np == NULL || ns == NULL) {
			protobuf_c_message_free_unpacked(&r->base, NULL);
			goto oom;
		}
		pages[n_pages++] = r;
		for (size_t i = 0; i < r->n_events; i++) {
			const Opra__V1__Event *e = r->events[i];
			char *seq = seqs[n_seqs++];
			snprintf(seq, 24, "%lld", (long long)e->seq);
			const char *row[6] = {seq,	 e->at,
					      e->actor,	 e->site[0] ? e->site : NULL,
					      e->method, e->object};
			if (arr ? json_array_append_new(arr, cli_event_json(e)) != 0
				: out_table_add(&table, row) != OPRA_OK)
				goto oom;
			after = e->seq;
		}
		if (r->n_events < AUDIT_PAGE)
			break;
	}
	if (arr) {
		code = cli_emit_json(ctx, arr);
		arr = NULL;
	} else if (after == 0) {
		out_note(ctx->out, "no events\n");
	} else {
		out_table_print(ctx->out, &table);
	}
	goto done;
oom:
	code = out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
done:
	json_decref(arr);
	out_table_free(&table);
	for (size_t i = 0; i < n_pages; i++)
		protobuf_c_message_free_unpacked(&pages[i]->base, NULL);
	opra_free(pages);
	opra_free(seqs);
	return code;
}
