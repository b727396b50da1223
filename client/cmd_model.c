/* opra model list | show | import | export | map: the process models
 * (CERT-RMM, CMMI-SVC, Security Management, OSCAL catalogs) a server holds.
 *
 * Models carry provenance on every element: an element that nobody has
 * seen in a source is "unconfirmed", and every human view here keeps that
 * mark visible (the JSON views carry "confirmed"). */
#include "cli.h"

#include "envelope.h"
#include "model.h"
#include "model_pb.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"

#include "opra/v1/model.pb-c.h"
#include "opra/v1/system.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the envelope around a request body can add at most: method, token,
 * idempotency key, client id and site at their limits, plus the numbers and
 * field tags. Used to compare a request with the server's size limit before
 * sending it. */
#define MODEL_ENVELOPE_SLACK                                                                       \
	(ENVELOPE_METHOD_MAX + ENVELOPE_TOKEN_MAX + ENVELOPE_KEY_MAX + 2 * ENVELOPE_LABEL_MAX + 128)

/* The mark human output puts after an unconfirmed element. */
#define UNCONFIRMED_MARK " (unconfirmed)"

/* ---- shared helpers ----------------------------------------------------- */

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

/* A missing provenance says nothing against the element: not marked. */
static bool pb_confirmed(const Opra__V1__Provenance *p)
{
	return p == NULL || p->confirmed;
}

/* Sets key to value in obj unless value is empty (text from the server).
 * Returns non-zero when memory runs out. */
static int set_nonempty(json_t *obj, const char *key, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return 0;
	return json_object_set_new(obj, key, out_jstr(value, false));
}

/* "confirmed", "sources" and "note" of an element; sources and note are
 * null when empty. */
static int set_provenance(json_t *obj, const Opra__V1__Provenance *p)
{
	int bad = 0;

	bad |= json_object_set_new(obj, "confirmed", json_boolean(pb_confirmed(p)));
	bad |= json_object_set_new(obj, "sources", out_jstr(p ? p->sources : NULL, true));
	bad |= json_object_set_new(obj, "note", out_jstr(p ? p->note : NULL, true));
	return bad;
}

static json_t *string_array(char **items, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, out_jstr(items[i], false))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* "1 practice", "2 practices". */
static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Counts the elements marked in a human view, for the legend. */
typedef struct {
	size_t shown;
	size_t unconfirmed;
} mark_count;

static void put_mark(FILE *f, mark_count *mc, const Opra__V1__Provenance *p)
{
	mc->shown++;
	if (!pb_confirmed(p)) {
		mc->unconfirmed++;
		fputs(UNCONFIRMED_MARK, f);
	}
}

/* ---- list --------------------------------------------------------------- */

int cmd_model_list(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"ID",	   "VERSION",	  "PAS",
					      "PRACTICES", "UNCONFIRMED", "NAME"};
	Opra__V1__ModelListRequest req = OPRA__V1__MODEL_LIST_REQUEST__INIT;
	Opra__V1__ModelListResponse *resp = NULL;
	out_table table;
	char(*nums)[3][16] = NULL;
	json_t *arr = NULL;
	int code = 0;

	(void)args;
	out_table_init(&table, 6, headers);
	if ((code = cli_call(ctx, "opra.v1.Model/List", &req.base,
			     &opra__v1__model_list_response__descriptor, (ProtobufCMessage **)&resp,
			     NULL)) != 0)
		goto done;
	if (ctx->out->json) {
		if ((arr = json_array()) == NULL)
			goto oom;
		for (size_t i = 0; i < resp->n_models; i++) {
			const Opra__V1__ModelSummary *m = resp->models[i];
			json_t *o = json_object();
			int bad = json_array_append_new(arr, o);
			bad |= json_object_set_new(o, "id", out_jstr(m->id, false));
			bad |= json_object_set_new(o, "name", out_jstr(m->name, false));
			bad |= json_object_set_new(o, "version", out_jstr(m->version, false));
			bad |= json_object_set_new(o, "process_areas",
						   json_integer(m->process_areas));
			bad |= json_object_set_new(o, "short_name", out_jstr(m->short_name, true));
			bad |= json_object_set_new(o, "practices", json_integer(m->practices));
			bad |= json_object_set_new(o, "unconfirmed", json_integer(m->unconfirmed));
			bad |= json_object_set_new(o, "imported_at",
						   out_jstr(m->imported_at, true));
			bad |= json_object_set_new(o, "imported_by",
						   out_jstr(m->imported_by, true));
			if (o == NULL || bad)
				goto oom;
		}
		code = cli_emit_json(ctx, arr);
		arr = NULL;
		goto done;
	}
	if (resp->n_models == 0) {
		out_note(ctx->out, "no models (import one with 'opra model import FILE')\n");
		goto done;
	}
	if ((nums = opra_calloc(resp->n_models, sizeof(*nums))) == NULL)
		goto oom;
	for (size_t i = 0; i < resp->n_models; i++) {
		const Opra__V1__ModelSummary *m = resp->models[i];
		snprintf(nums[i][0], sizeof(nums[i][0]), "%u", m->process_areas);
		snprintf(nums[i][1], sizeof(nums[i][1]), "%u", m->practices);
		snprintf(nums[i][2], sizeof(nums[i][2]), "%u", m->unconfirmed);
		const char *row[6] = {m->id,	  m->version, nums[i][0],
				      nums[i][1], nums[i][2], m->name};
		if (out_table_add(&table, row) != OPRA_OK)
			goto oom;
	}
	out_table_print(ctx->out, &table);
	goto done;
oom:
	code = oom(ctx);
done:
	json_decref(arr);
	out_table_free(&table);
	opra_free(nums);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- show --------------------------------------------------------------- */

static json_t *ref_json(const Opra__V1__PracticeRef *r)
{
	json_t *o = json_object();
	int bad = 0;

	if (r->code[0]) {
		bad |= json_object_set_new(o, "code", out_jstr(r->code, false));
		bad |= json_object_set_new(o, "ref", out_jstr(r->ref, false));
	} else {
		bad |= json_object_set_new(o, "model", out_jstr(r->model, false));
		bad |= json_object_set_new(o, "practice", out_jstr(r->practice, false));
	}
	bad |= set_nonempty(o, "note", r->note);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *practice_json(const Opra__V1__Practice *p)
{
	json_t *o = json_object(), *refs = json_array();
	int bad = 0;

	for (size_t i = 0; refs && i < p->n_refs; i++)
		bad |= json_array_append_new(refs, ref_json(p->refs[i]));
	bad |= json_object_set_new(o, "id", out_jstr(p->full_id, false));
	bad |= json_object_set_new(o, "name", out_jstr(p->title, false));
	bad |= json_object_set_new(o, "local_id", out_jstr(p->id, false));
	bad |= json_object_set_new(o, "statement", out_jstr(p->statement, true));
	bad |= json_object_set_new(o, "subpractices",
				   string_array(p->subpractices, p->n_subpractices));
	bad |= json_object_set_new(o, "typical_work_products",
				   string_array(p->work_products, p->n_work_products));
	bad |= json_object_set_new(o, "references", refs);
	bad |= set_provenance(o, p->provenance);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *goal_json(const Opra__V1__Goal *g)
{
	json_t *o = json_object(), *practices = json_array();
	int bad = 0;

	for (size_t i = 0; practices && i < g->n_practices; i++)
		bad |= json_array_append_new(practices, practice_json(g->practices[i]));
	bad |= json_object_set_new(o, "id", out_jstr(g->id, false));
	bad |= json_object_set_new(o, "name", out_jstr(g->title, false));
	bad |= json_object_set_new(o, "practices", practices);
	bad |= json_object_set_new(o, "confirmed", json_boolean(pb_confirmed(g->provenance)));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *pa_json(const Opra__V1__ProcessArea *pa)
{
	json_t *o = json_object(), *goals = json_array(), *generic = json_array();
	int bad = 0;

	for (size_t i = 0; goals && generic && i < pa->n_goals; i++)
		bad |= json_array_append_new(pa->goals[i]->generic ? generic : goals,
					     goal_json(pa->goals[i]));
	bad |= json_object_set_new(o, "id", out_jstr(pa->id, false));
	bad |= json_object_set_new(o, "name", out_jstr(pa->name, false));
	bad |= json_object_set_new(o, "category", out_jstr(pa->category, false));
	bad |= json_object_set_new(o, "goals", goals);
	bad |= json_object_set_new(o, "generic_goals", generic);
	bad |= json_object_set_new(o, "purpose", out_jstr(pa->purpose, true));
	bad |= json_object_set_new(o, "confirmed", json_boolean(pb_confirmed(pa->provenance)));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *model_doc_json(const Opra__V1__ModelDoc *m)
{
	json_t *o = json_object(), *pas = json_array();
	int bad = 0;

	for (size_t i = 0; pas && i < m->n_process_areas; i++)
		bad |= json_array_append_new(pas, pa_json(m->process_areas[i]));
	bad |= json_object_set_new(o, "id", out_jstr(m->id, false));
	bad |= json_object_set_new(o, "process_areas", pas);
	bad |= json_object_set_new(o, "name", out_jstr(m->name, false));
	bad |= json_object_set_new(o, "short_name", out_jstr(m->short_name, true));
	bad |= json_object_set_new(o, "version", out_jstr(m->version, false));
	bad |= json_object_set_new(o, "publisher", out_jstr(m->publisher, true));
	bad |= json_object_set_new(o, "description", out_jstr(m->description, true));
	bad |= set_provenance(o, m->provenance);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The tree: "PA — name [category]", goals, then practices by full id. */
static void show_tree(cli_ctx *ctx, const Opra__V1__ModelDoc *m, const char *pa_filter)
{
	FILE *f = ctx->out->out;
	mark_count mc = {0, 0};

	out_put_safe(f, m->id);
	fputs(" — ", f);
	out_put_safe(f, m->name);
	if (m->version[0]) {
		fputs(", version ", f);
		out_put_safe(f, m->version);
	}
	/* Marked, but not counted: the legend counts what 'opra model list'
	 * counts (process areas, goals, practices). */
	if (!pb_confirmed(m->provenance))
		fputs(UNCONFIRMED_MARK, f);
	fputc('\n', f);
	for (size_t i = 0; i < m->n_process_areas; i++) {
		const Opra__V1__ProcessArea *pa = m->process_areas[i];
		fputc('\n', f);
		out_put_safe(f, pa->id);
		fputs(" — ", f);
		out_put_safe(f, pa->name);
		fputs(" [", f);
		out_put_safe(f, pa->category);
		fputc(']', f);
		put_mark(f, &mc, pa->provenance);
		fputc('\n', f);
		for (size_t k = 0; k < pa->n_goals; k++) {
			const Opra__V1__Goal *g = pa->goals[k];
			fputs("  ", f);
			out_put_safe(f, g->id);
			fputs("  ", f);
			out_put_safe(f, g->title);
			put_mark(f, &mc, g->provenance);
			fputc('\n', f);
			for (size_t j = 0; j < g->n_practices; j++) {
				const Opra__V1__Practice *p = g->practices[j];
				fputs("    ", f);
				out_put_safe(f, p->full_id);
				fputs("  ", f);
				out_put_safe(f, p->title);
				put_mark(f, &mc, p->provenance);
				fputc('\n', f);
			}
		}
	}
	if (m->n_process_areas == 0)
		out_note(ctx->out, "\n(no process areas)\n");
	if (mc.unconfirmed == 0 && pb_confirmed(m->provenance))
		out_note(ctx->out,
			 "\nEvery process area, goal and practice shown (%zu) has been confirmed "
			 "in a source.\n",
			 mc.shown);
	else
		out_note(ctx->out,
			 "\n(unconfirmed) = not yet confirmed in a source; %zu of the %zu process "
			 "areas, goals and practices shown are unconfirmed (sources and notes: "
			 "opra model show %s%s%s --json).\n",
			 mc.unconfirmed, mc.shown, m->id, pa_filter ? " --pa " : "",
			 pa_filter ? pa_filter : "");
}

int cmd_model_show(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ModelShowRequest req = OPRA__V1__MODEL_SHOW_REQUEST__INIT;
	Opra__V1__ModelShowResponse *resp = NULL;
	const char *pa = cli_opt(args, "--pa");
	int code = 0;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "the model id must not be empty");
	if (pa && pa[0] == '\0')
		return cli_usage(ctx, "--pa needs a process area id, e.g. --pa SC");
	req.id = args->argv[0];
	req.pa = (char *)(pa ? pa : "");
	if ((code = cli_call(ctx, "opra.v1.Model/Show", &req.base,
			     &opra__v1__model_show_response__descriptor, (ProtobufCMessage **)&resp,
			     NULL)) != 0)
		goto done;
	if (resp->model == NULL) {
		code = out_error(ctx->out, OPRA_INTERNAL, "the server sent no model", NULL);
		goto done;
	}
	if (ctx->out->json) {
		json_t *doc = model_doc_json(resp->model);
		code = doc ? cli_emit_json(ctx, doc) : oom(ctx);
		goto done;
	}
	show_tree(ctx, resp->model, pa);
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- import ------------------------------------------------------------- */

static size_t count_unconfirmed(const model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_pas; i++) {
		const model_pa *pa = &m->pas[i];
		n += !pa->prov.confirmed;
		for (size_t k = 0; k < pa->n_goals; k++) {
			n += !pa->goals[k].prov.confirmed;
			for (size_t j = 0; j < pa->goals[k].n_practices; j++)
				n += !pa->goals[k].practices[j].prov.confirmed;
		}
	}
	return n;
}

/* What the server records as the source format when --format was not
 * given: an OSCAL catalog is a JSON object whose first key is "catalog".
 * Reads only the start of the file (model_load_file has read it whole
 * already, so it exists and is readable). */
static const char *guess_format(const char *path)
{
	char head[256];
	size_t n = 0, i = 0;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return "opra";
	n = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	head[n] = '\0';
	if (n >= 3 && (unsigned char)head[0] == 0xEF && (unsigned char)head[1] == 0xBB &&
	    (unsigned char)head[2] == 0xBF)
		i = 3;
	i += strspn(head + i, " \t\r\n");
	if (head[i] != '{')
		return "opra";
	i++;
	i += strspn(head + i, " \t\r\n");
	return strncmp(head + i, "\"catalog\"", 9) == 0 ? "oscal-catalog" : "opra";
}

/* The largest request the server accepts (System/Ping), 0 when the server
 * does not say. */
static int server_max_message(cli_ctx *ctx, uint64_t *out)
{
	Opra__V1__PingRequest req = OPRA__V1__PING_REQUEST__INIT;
	Opra__V1__PingResponse *resp = NULL;
	int rc = rpc_call(ctx->rpc, "opra.v1.System/Ping", &req.base,
			  &opra__v1__ping_response__descriptor, (ProtobufCMessage **)&resp, NULL);

	*out = 0;
	if (rc != OPRA_OK)
		return rc;
	*out = resp->max_message_size;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return OPRA_OK;
}

int cmd_model_import(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ModelImportRequest req = OPRA__V1__MODEL_IMPORT_REQUEST__INIT;
	Opra__V1__ModelImportResponse *resp = NULL;
	Opra__V1__ModelDoc *doc = NULL;
	model *m = NULL;
	const char *path = args->argv[0];
	const char *format = cli_opt(args, "--format");
	bool replace = cli_opt(args, "--replace") != NULL;
	bool progress = !ctx->out->json && !ctx->out->quiet && isatty(fileno(ctx->out->err));
	uint64_t limit = 0;
	size_t body, total, unconfirmed;
	char key[33];
	int rc, code = 0;

	if (path[0] == '\0')
		return cli_usage(ctx, "the file name must not be empty");
	if (progress) {
		fputs("reading ", ctx->out->err);
		out_put_safe(ctx->out->err, path);
		fputs("… ", ctx->out->err);
		fflush(ctx->out->err);
	}
	/* Validate here first: the messages name file, line and element,
	 * which the server (seeing only the decoded model) cannot. */
	rc = model_load_file(&m, path, format);
	if (rc != OPRA_OK) {
		if (progress)
			fputs("failed\n", ctx->out->err);
		code = out_fail(ctx->out, rc);
		goto done;
	}
	unconfirmed = count_unconfirmed(m);
	if (progress)
		fprintf(ctx->out->err, "%zu %s, %zu %s\n", m->n_pas,
			plural(m->n_pas, "process area", "process areas"), model_count_practices(m),
			plural(model_count_practices(m), "practice", "practices"));
	if ((rc = model_to_pb(&doc, m)) != OPRA_OK) {
		code = out_fail(ctx->out, rc);
		goto done;
	}
	req.model = doc;
	req.replace = replace;
	req.source_format = (char *)(format ? format : guess_format(path));
	body = protobuf_c_message_get_packed_size(&req.base);
	total = body + MODEL_ENVELOPE_SLACK;

	/* A request over the server's limit makes it drop the connection
	 * without an answer; say what is wrong instead. */
	if ((rc = server_max_message(ctx, &limit)) != OPRA_OK) {
		code = cli_fail(ctx, rc);
		goto done;
	}
	if (limit != 0 && total > limit) {
		size_t suggest = ((total >> 20) + 1) << 20; /* next whole MiB */
		opra_err_set(OPRA_OUT_OF_RANGE,
			     "model '%s' is too large for this server: the import request is up "
			     "to %zu bytes (%zu of model data) but the server accepts at most %llu "
			     "bytes; start oprad with a larger --max-message-size (e.g. "
			     "--max-message-size %zu)",
			     m->id, total, body, (unsigned long long)limit, suggest);
		code = out_fail(ctx->out, OPRA_OUT_OF_RANGE);
		goto done;
	}
	if (progress) {
		const char *url = rpc_client_url(ctx->rpc);
		fprintf(ctx->out->err, "sending %zu bytes to ", body);
		out_put_safe(ctx->out->err, url ? url : "the server");
		fputs("…\n", ctx->out->err);
	}
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Model/Import", &req.base,
			     &opra__v1__model_import_response__descriptor,
			     (ProtobufCMessage **)&resp, key)) != 0)
		goto done;
	const Opra__V1__ModelSummary *s = resp->model;
	if (s == NULL) {
		code = out_error(ctx->out, OPRA_INTERNAL, "the server's reply holds no model",
				 NULL);
		goto done;
	}
	if (ctx->out->json) {
		json_t *o = json_object();
		int bad = 0;
		bad |= json_object_set_new(o, "id", out_jstr(s->id, false));
		bad |= json_object_set_new(o, "name", out_jstr(s->name, false));
		bad |= json_object_set_new(o, "version", out_jstr(s->version, false));
		bad |= json_object_set_new(o, "process_areas", json_integer(s->process_areas));
		bad |= json_object_set_new(o, "practices", json_integer(s->practices));
		bad |= json_object_set_new(o, "replaced", json_boolean(resp->replaced));
		bad |= json_object_set_new(o, "unconfirmed", json_integer((json_int_t)unconfirmed));
		bad |= json_object_set_new(o, "source_format", json_string(req.source_format));
		bad |= json_object_set_new(o, "imported_at", out_jstr(s->imported_at, true));
		bad |= json_object_set_new(o, "imported_by", out_jstr(s->imported_by, true));
		bad |= json_object_set_new(o, "bytes", json_integer((json_int_t)body));
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
		fputs(resp->replaced ? "replaced model " : "imported model ", f);
		out_put_safe(f, s->id);
		fputs(" (", f);
		out_put_safe(f, s->name);
		if (s->version[0]) {
			fputs(" ", f);
			out_put_safe(f, s->version);
		}
		fprintf(f, "): %u %s, %u %s\n", s->process_areas,
			plural(s->process_areas, "process area", "process areas"), s->practices,
			plural(s->practices, "practice", "practices"));
		if (unconfirmed)
			out_note(ctx->out,
				 "%zu elements are marked unconfirmed (not yet confirmed in a "
				 "source); 'opra model show %s' marks them\n",
				 unconfirmed, s->id);
	}
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	model_pb_free(doc);
	model_free(m);
	return code;
}

/* ---- export ------------------------------------------------------------- */

int cmd_model_export(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ModelExportRequest req = OPRA__V1__MODEL_EXPORT_REQUEST__INIT;
	Opra__V1__ModelExportResponse *resp = NULL;
	model *m = NULL;
	opra_buf text = OPRA_BUF_INIT;
	const char *format = cli_opt(args, "--format");
	const char *path = cli_opt(args, "--output");
	bool to_stdout = path == NULL || strcmp(path, "-") == 0;
	bool as_json;
	char origin[128];
	int rc, code = 0;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "the model id must not be empty");
	if (format == NULL)
		format = "opra";
	/* With --json stdout must hold one JSON document: the model itself. */
	as_json = strcmp(format, "json") == 0 || (ctx->out->json && to_stdout);
	/* A bad -o is the user's mistake (usage, exit 2); a missing directory
	 * is not found (exit 3). */
	if (!to_stdout && (rc = out_check_output_path(path)) != OPRA_OK)
		return rc == OPRA_INVALID_ARGUMENT ? cli_usage(ctx, "%s", opra_err_msg())
						   : out_fail(ctx->out, rc);
	req.id = args->argv[0];
	if ((code = cli_call(ctx, "opra.v1.Model/Export", &req.base,
			     &opra__v1__model_export_response__descriptor,
			     (ProtobufCMessage **)&resp, NULL)) != 0)
		goto done;
	if (resp->model == NULL) {
		code = out_error(ctx->out, OPRA_INTERNAL, "the server sent no model", NULL);
		goto done;
	}
	snprintf(origin, sizeof(origin), "export of %.64s", args->argv[0]);
	if ((rc = model_from_pb(&m, resp->model, origin)) != OPRA_OK ||
	    (rc = as_json ? model_write_json(m, &text) : model_write_yaml(m, &text)) != OPRA_OK) {
		code = out_fail(ctx->out, rc);
		goto done;
	}
	code = out_emit_text(ctx->out, to_stdout ? NULL : path, text.data, text.len);
	if (code != 0 || to_stdout)
		goto done;
	if (ctx->out->json) {
		json_t *o = json_object();
		int bad = 0;
		bad |= json_object_set_new(o, "id", out_jstr(m->id, false));
		bad |= json_object_set_new(o, "path", out_jstr(path, false));
		bad |= json_object_set_new(o, "format", json_string(as_json ? "json" : "yaml"));
		bad |= json_object_set_new(o, "bytes", json_integer((json_int_t)text.len));
		bad |= json_object_set_new(o, "process_areas", json_integer((json_int_t)m->n_pas));
		bad |= json_object_set_new(o, "practices",
					   json_integer((json_int_t)model_count_practices(m)));
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
		fputs("wrote model ", f);
		out_put_safe(f, m->id);
		fprintf(f, " (%zu %s, %zu %s) to ", m->n_pas,
			plural(m->n_pas, "process area", "process areas"), model_count_practices(m),
			plural(model_count_practices(m), "practice", "practices"));
		out_put_safe(f, path);
		fprintf(f, " (%s, %zu bytes)\n", as_json ? "JSON" : "YAML", text.len);
	}
done:
	opra_buf_free(&text);
	model_free(m);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- map ---------------------------------------------------------------- */

static json_t *map_entry_json(const Opra__V1__MapEntry *e)
{
	json_t *o = json_object();
	int bad = 0;

	bad |= set_nonempty(o, "model", e->model);
	bad |= set_nonempty(o, "practice", e->practice);
	bad |= set_nonempty(o, "process_area", e->process_area);
	bad |= set_nonempty(o, "title", e->title);
	bad |= set_nonempty(o, "code", e->code);
	bad |= set_nonempty(o, "ref", e->ref);
	bad |= set_nonempty(o, "note", e->note);
	bad |= set_nonempty(o, "via", e->via);
	bad |= json_object_set_new(o, "resolved", json_boolean(e->resolved));
	bad |= json_object_set_new(o, "confirmed", json_boolean(!e->unconfirmed));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *map_json(const char *practice, const char *model_filter,
			const Opra__V1__ModelMapResponse *resp)
{
	json_t *doc = json_object(), *results = json_array();
	int bad = 0;

	for (size_t i = 0; results && i < resp->n_results; i++) {
		const Opra__V1__MapResult *r = resp->results[i];
		json_t *o = json_object(), *to = json_array(), *from = json_array();
		bad |= json_array_append_new(results, o);
		for (size_t k = 0; to && from && k < r->n_entries; k++) {
			const Opra__V1__MapEntry *e = r->entries[k];
			bad |= json_array_append_new(strcmp(e->direction, "from") == 0 ? from : to,
						     map_entry_json(e));
		}
		bad |= json_object_set_new(o, "model", out_jstr(r->model, false));
		bad |= json_object_set_new(o, "practice", out_jstr(r->practice, false));
		bad |= json_object_set_new(o, "title", out_jstr(r->title, false));
		bad |= json_object_set_new(o, "maps_to", to);
		bad |= json_object_set_new(o, "mapped_from", from);
	}
	bad |= json_object_set_new(doc, "practice", out_jstr(practice, false));
	if (model_filter)
		bad |= json_object_set_new(doc, "model", out_jstr(model_filter, false));
	bad |= json_object_set_new(doc, "results", results);
	if (bad) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* of_practice: the line belongs to a practice (not a whole process area),
 * so a mapping of its process area is marked as such. */
static void map_line(FILE *f, const Opra__V1__MapEntry *e, int of_practice)
{
	fputs(strcmp(e->direction, "from") == 0 ? "  ← " : "  → ", f);
	if (e->code[0]) {
		out_put_safe(f, e->code);
		fputc(' ', f);
		out_put_safe(f, e->ref);
	} else {
		out_put_safe(f, e->model);
		fputc(' ', f);
		if (e->practice[0]) {
			out_put_safe(f, e->practice);
		} else {
			fputs("process area ", f);
			out_put_safe(f, e->process_area);
		}
		if (e->title[0]) {
			fputs("  ", f);
			out_put_safe(f, e->title);
		}
		if (!e->resolved)
			fputs("  (not on this server)", f);
	}
	if (of_practice && strcmp(e->via, "process area") == 0)
		fputs("  [through the process area]", f);
	if (e->unconfirmed)
		fputs("  (unconfirmed)", f);
	if (e->note[0]) {
		fputs("  (", f);
		out_put_safe(f, e->note);
		fputc(')', f);
	}
	fputc('\n', f);
}

int cmd_model_map(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ModelMapRequest req = OPRA__V1__MODEL_MAP_REQUEST__INIT;
	Opra__V1__ModelMapResponse *resp = NULL;
	const char *model_filter = cli_opt(args, "--model");
	int code = 0;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "the practice must not be empty (e.g. IMC:SG2.SP1)");
	if (model_filter && model_filter[0] == '\0')
		return cli_usage(ctx, "--model needs a model id, e.g. --model cert-rmm-1.2");
	req.practice = args->argv[0];
	req.model = (char *)(model_filter ? model_filter : "");
	if ((code = cli_call(ctx, "opra.v1.Model/Map", &req.base,
			     &opra__v1__model_map_response__descriptor, (ProtobufCMessage **)&resp,
			     NULL)) != 0)
		goto done;
	if (ctx->out->json) {
		json_t *doc = map_json(args->argv[0], model_filter, resp);
		code = doc ? cli_emit_json(ctx, doc) : oom(ctx);
		goto done;
	}
	FILE *f = ctx->out->out;
	for (size_t i = 0; i < resp->n_results; i++) {
		const Opra__V1__MapResult *r = resp->results[i];
		if (i > 0)
			fputc('\n', f);
		out_put_safe(f, r->model);
		fputc(' ', f);
		out_put_safe(f, r->practice);
		fputs(" — ", f);
		out_put_safe(f, r->title);
		fputc('\n', f);
		for (size_t k = 0; k < r->n_entries; k++)
			map_line(f, r->entries[k], strchr(r->practice, ':') != NULL);
		if (r->n_entries == 0)
			out_note(ctx->out, "  (no mapped practices or codes of practice)\n");
	}
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}
