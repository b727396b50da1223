/* opra report APPRAISAL --format html|json|csv|oscal [-o PATH] (issue 8):
 * reads the appraisal's facts at one chain head (report_fetch: Report/Facts,
 * Rating/Show, Appraisal/Show, Report/Evidence pages) and renders them on
 * the client (client/report_*.c). The whole report is built in memory and
 * then written to stdout or, with -o, atomically to PATH (a temporary file
 * in the same directory, renamed at the end), so a failure never leaves a
 * partial file and never replaces an earlier report with half of one.
 * docs/reports.md. */
#include "cli.h"
#include "report.h"

#include "opra_err.h"
#include "opra_version.h"

#include <stdlib.h>
#include <string.h>

typedef int (*report_writer)(FILE *f, const report_doc *d);

static const struct {
	const char *name;
	report_writer write;
	bool is_json;
} formats[] = {
	{"html", report_write_html, false},
	{"csv", report_write_csv, false},
	{"json", report_write_json, true},
	{"oscal", report_write_oscal, true},
};

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

/* The summary printed after writing to a file. */
static int summary(cli_ctx *ctx, const report_doc *d, const char *format, const char *path,
		   size_t bytes)
{
	const Opra__V1__ReportFactsReply *fa = d->facts;
	if (ctx->out->json) {
		json_t *o = json_pack(
			"{s:o, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:b, s:o}", "appraisal",
			out_jstr(d->rating->appraisal, false), "format", format, "path",
			out_jstr(path, false), "bytes", (json_int_t)bytes, "process_areas",
			(json_int_t)d->rating->n_process_areas, "evidence",
			(json_int_t)d->n_evidence, "weaknesses", (json_int_t)fa->n_weaknesses,
			"judgements", (json_int_t)fa->n_judgements, "head",
			out_jstr(fa->head, true), "events", (json_int_t)fa->events, "sealed",
			fa->sealed, "generated_at", out_jstr(fa->generated_at, true));
		return o ? cli_emit_json(ctx, o) : oom(ctx);
	}
	if (ctx->out->quiet)
		return 0;
	size_t rated = 0;
	for (size_t i = 0; i < d->rating->n_process_areas; i++)
		rated += strcmp(d->rating->process_areas[i]->status, "rated") == 0;
	if (rated == 0)
		out_warn(ctx->out, "no process area of %s is rated yet; the report says why",
			 d->rating->appraisal);
	FILE *f = ctx->out->out;
	fprintf(f, "wrote the %s report of ", format);
	out_put_safe(f, d->rating->appraisal);
	fputs(" to ", f);
	out_put_safe(f, path);
	fprintf(f,
		" (%zu bytes: %zu process areas, %zu evidence items, %zu weaknesses; chain head "
		"%.12s after %lld events; %s)\n",
		bytes, d->rating->n_process_areas, d->n_evidence, fa->n_weaknesses, fa->head,
		(long long)fa->events, fa->sealed ? "finalised" : "not finalised");
	return 0;
}

int cmd_report(cli_ctx *ctx, const cli_args *args)
{
	const char *appraisal = args->argv[0];
	const char *format = cli_opt(args, "--format");
	const char *path = cli_opt(args, "--output");
	bool to_stdout = path == NULL || strcmp(path, "-") == 0;
	report_doc doc;
	char *text = NULL;
	size_t len = 0;
	int rc, code = 0;
	size_t fi = 0;

	if (appraisal[0] == '\0')
		return cli_usage(ctx, "APPRAISAL must not be empty");
	while (fi < sizeof(formats) / sizeof(formats[0]) && strcmp(formats[fi].name, format) != 0)
		fi++;
	if (fi == sizeof(formats) / sizeof(formats[0]))
		return cli_usage(ctx, "--format must be html, json, csv or oscal, not '%s'",
				 format);
	/* With --json stdout holds one JSON document: the json and oscal
	 * reports are one; html and csv must go to a file. */
	if (ctx->out->json && to_stdout && !formats[fi].is_json)
		return cli_usage(ctx,
				 "with --json, write the %s report to a file with -o PATH (stdout "
				 "then gets a JSON summary)",
				 format);
	/* A bad -o is the user's mistake (exit 2); a missing directory is not
	 * found (exit 3). Checked before asking the server anything. */
	if (!to_stdout && (rc = out_check_output_path(path)) != OPRA_OK)
		return rc == OPRA_INVALID_ARGUMENT ? cli_usage(ctx, "%s", opra_err_msg())
						   : out_fail(ctx->out, rc);
	/* the largest pages the server gives: fewest round trips */
	if ((rc = report_fetch(&doc, ctx->rpc, appraisal, 20000)) != OPRA_OK)
		return cli_fail(ctx, rc);
	doc.generator = "opra " OPRA_VERSION;

	FILE *mem = open_memstream(&text, &len);
	if (mem == NULL) {
		code = oom(ctx);
		goto done;
	}
	rc = formats[fi].write(mem, &doc);
	if (fclose(mem) != 0 && rc == OPRA_OK)
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory building the report");
	if (rc != OPRA_OK) {
		code = out_fail(ctx->out, rc);
		goto done;
	}
	code = out_emit_text(ctx->out, to_stdout ? NULL : path, text, len);
	if (code == 0 && !to_stdout)
		code = summary(ctx, &doc, format, path, len);
done:
	free(text);
	report_doc_free(&doc);
	return code;
}
