/* opra appraisal create | list | show | scope add | member add | target |
 * finalize: appraisals, their scope and members (opra.v1.Appraisal).
 *
 * `scope add` and `member add` are two-word verbs: the table has the verbs
 * "scope" and "member", and "add" is their first positional argument, so
 * `opra help appraisal scope` and `opra appraisal scope add --help` show
 * the command. Every mutating command sends one fresh idempotency key. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include "opra/v1/appraisal.pb-c.h"

#include <stdlib.h>
#include <string.h>

/* Client-side bounds; the server checks again. */
#define APPR_CLI_LIST_MAX 500

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

/* ---- JSON ---- */

/* part of whole as a percentage with one decimal (JSON number), null
 * when whole is 0. */
static json_t *percent_json(int64_t part, int64_t whole)
{
	if (whole <= 0)
		return json_null();
	return json_real((double)((part * 1000 + whole / 2) / whole) / 10.0);
}

/* The dashboard (Show only): {"practices", "practice_instances",
 * "with_artifact", "with_artifact_percent", "with_affirmation",
 * "with_affirmation_percent", "labels": {"fi", "li", "pi", "ni", "ny",
 * "uncharacterised"}, "open_judgements", "proposed_evidence"}. */
static json_t *dashboard_json(const Opra__V1__AppraisalDashboard *d)
{
	json_t *labels =
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "fi", (json_int_t)d->fi, "li",
			  (json_int_t)d->li, "pi", (json_int_t)d->pi, "ni", (json_int_t)d->ni, "ny",
			  (json_int_t)d->ny, "uncharacterised", (json_int_t)d->uncharacterised);
	if (labels == NULL)
		return NULL;
	return json_pack("{s:I, s:I, s:I, s:o, s:I, s:o, s:o, s:I, s:I}", "practices",
			 (json_int_t)d->practices, "practice_instances",
			 (json_int_t)d->practice_instances, "with_artifact",
			 (json_int_t)d->with_artifact, "with_artifact_percent",
			 percent_json(d->with_artifact, d->practice_instances), "with_affirmation",
			 (json_int_t)d->with_affirmation, "with_affirmation_percent",
			 percent_json(d->with_affirmation, d->practice_instances), "labels", labels,
			 "open_judgements", (json_int_t)d->open_judgements, "proposed_evidence",
			 (json_int_t)d->proposed_evidence);
}

/* An AppraisalInfo as JSON; full adds the process areas, instances and
 * members (Show and the changes), the list leaves them out. NULL when
 * memory runs out. */
static json_t *info_json(const Opra__V1__AppraisalInfo *a, bool full)
{
	json_t *o = json_object(), *models = json_array();
	int bad = o == NULL || models == NULL;

	for (size_t i = 0; !bad && i < a->n_models; i++)
		bad |= json_array_append_new(models, out_jstr(a->models[i], false));
	bad |= json_object_set_new(o, "id", out_jstr(a->id, false));
	bad |= json_object_set_new(o, "name", out_jstr(a->name, false));
	bad |= json_object_set_new(o, "description", out_jstr(a->description, true));
	bad |= json_object_set(o, "models", models);
	bad |= json_object_set_new(o, "target_level", json_integer(a->target_level));
	bad |= json_object_set_new(o, "affirmation_coverage",
				   json_integer(a->affirmation_coverage));
	bad |= json_object_set_new(o, "my_role", out_jstr(a->my_role, true));
	bad |= json_object_set_new(o, "created_by", out_jstr(a->created_by, false));
	bad |= json_object_set_new(o, "created_at", out_jstr(a->created_at, true));
	bad |= json_object_set_new(o, "sealed", json_boolean(a->sealed));
	bad |= json_object_set_new(o, "sealed_at", out_jstr(a->sealed_at, true));
	bad |= json_object_set_new(o, "sealed_by", out_jstr(a->sealed_by, true));
	bad |= json_object_set_new(o, "head", out_jstr(a->head, false));
	bad |= json_object_set_new(o, "events", json_integer(a->events));
	bad |= json_object_set_new(o, "evidence", json_integer(a->evidence));
	json_decref(models);
	if (a->dashboard && !bad) {
		json_t *d = dashboard_json(a->dashboard);
		bad |= d == NULL || json_object_set_new(o, "dashboard", d);
	}
	if (full && !bad) {
		json_t *pas = json_array(), *inst = json_array(), *mem = json_array();
		bad |= json_object_set_new(o, "process_areas", pas);
		bad |= json_object_set_new(o, "instances", inst);
		bad |= json_object_set_new(o, "members", mem);
		for (size_t i = 0; !bad && i < a->n_process_areas; i++) {
			const Opra__V1__AppraisalPa *p = a->process_areas[i];
			json_t *j = json_object();
			bad |= j == NULL || json_array_append_new(pas, j);
			bad |= json_object_set_new(j, "id", out_jstr(p->id, false));
			bad |= json_object_set_new(j, "model", out_jstr(p->model, false));
			bad |= json_object_set_new(j, "name", out_jstr(p->name, false));
			bad |= json_object_set_new(j, "target_level",
						   json_integer(p->target_level));
		}
		for (size_t i = 0; !bad && i < a->n_instances; i++) {
			json_t *j = json_object();
			bad |= j == NULL || json_array_append_new(inst, j);
			bad |= json_object_set_new(j, "name",
						   out_jstr(a->instances[i]->name, false));
			bad |= json_object_set_new(j, "kind",
						   out_jstr(a->instances[i]->kind, false));
		}
		for (size_t i = 0; !bad && i < a->n_members; i++) {
			json_t *j = json_object();
			bad |= j == NULL || json_array_append_new(mem, j);
			bad |= json_object_set_new(j, "user", out_jstr(a->members[i]->user, false));
			bad |= json_object_set_new(j, "role", out_jstr(a->members[i]->role, false));
		}
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- human output ---- */

static void put_line(FILE *f, const char *label, const char *value)
{
	fprintf(f, "  %-14s", label);
	out_put_safe(f, value);
	fputc('\n', f);
}

static void put_percent(FILE *f, int64_t part, int64_t whole)
{
	if (whole > 0)
		fprintf(f, " (%.1f%%)", (double)((part * 1000 + whole / 2) / whole) / 10.0);
}

/* The dashboard block:
 *   coverage      120 of 240 practice instances with an accepted artifact (50.0%),
 *                 96 with an accepted affirmation (40.0%)
 *   labels        FI 80, LI 20, PI 10, NI 5, NY 0, uncharacterised 125
 *   judgements    2 open (practices waiting for a lead's judgement)
 *   waiting       3 evidence items proposed, waiting for acceptance */
static void print_dashboard(FILE *f, const Opra__V1__AppraisalDashboard *d)
{
	fprintf(f, "  %-14s%lld of %lld practice instances with an accepted artifact", "coverage",
		(long long)d->with_artifact, (long long)d->practice_instances);
	put_percent(f, d->with_artifact, d->practice_instances);
	fprintf(f, ",\n  %-14s%lld with an accepted affirmation", "",
		(long long)d->with_affirmation);
	put_percent(f, d->with_affirmation, d->practice_instances);
	fprintf(f, " (%lld practice%s evaluated)\n", (long long)d->practices,
		d->practices == 1 ? "" : "s");
	fprintf(f, "  %-14sFI %lld, LI %lld, PI %lld, NI %lld, NY %lld, uncharacterised %lld\n",
		"labels", (long long)d->fi, (long long)d->li, (long long)d->pi, (long long)d->ni,
		(long long)d->ny, (long long)d->uncharacterised);
	fprintf(f, "  %-14s%lld open (practices waiting for a lead's judgement)\n", "judgements",
		(long long)d->open_judgements);
	fprintf(f, "  %-14s%lld evidence item%s proposed, waiting for acceptance\n", "waiting",
		(long long)d->proposed_evidence, d->proposed_evidence == 1 ? "" : "s");
}

static void print_info(cli_ctx *ctx, const Opra__V1__AppraisalInfo *a)
{
	FILE *f = ctx->out->out;
	char buf[256];
	out_table t;
	int rc = OPRA_OK;

	fputs("appraisal ", f);
	out_put_safe(f, a->name);
	fprintf(f, " (id %s)\n", a->id);
	if (a->description[0])
		put_line(f, "description", a->description);
	fprintf(f, "  %-14s", "models");
	for (size_t i = 0; i < a->n_models; i++) {
		fputs(i ? ", " : "", f);
		out_put_safe(f, a->models[i]);
	}
	fputc('\n', f);
	snprintf(buf, sizeof(buf), "level %d; affirmation coverage %d%%", (int)a->target_level,
		 (int)a->affirmation_coverage);
	put_line(f, "target", buf);
	fprintf(f, "  %-14s", "created");
	out_put_safe(f, a->created_at);
	fputs(" by ", f);
	out_put_safe(f, a->created_by);
	fputc('\n', f);
	if (a->sealed) {
		fprintf(f, "  %-14sfinalised at ", "state");
		out_put_safe(f, a->sealed_at);
		fputs(" by ", f);
		out_put_safe(f, a->sealed_by);
		fputs(" (sealed: no further changes)\n", f);
	} else {
		put_line(f, "state", "open");
	}
	snprintf(buf, sizeof(buf), "%lld event%s, head %s", (long long)a->events,
		 a->events == 1 ? "" : "s", a->head);
	put_line(f, "chain", buf);
	snprintf(buf, sizeof(buf), "%lld item%s", (long long)a->evidence,
		 a->evidence == 1 ? "" : "s");
	put_line(f, "evidence", buf);
	if (a->my_role[0])
		put_line(f, "your role", a->my_role);
	if (a->dashboard)
		print_dashboard(f, a->dashboard);

	static const char *const pa_headers[] = {"MODEL", "PA", "TARGET", "NAME"};
	char(*levels)[8] = opra_calloc(a->n_process_areas + 1, sizeof(*levels));
	if (levels == NULL) {
		oom(ctx);
		return;
	}
	fprintf(f, "\nprocess areas (%zu):\n", a->n_process_areas);
	out_table_init(&t, 4, pa_headers);
	for (size_t i = 0; rc == OPRA_OK && i < a->n_process_areas; i++) {
		const Opra__V1__AppraisalPa *p = a->process_areas[i];
		snprintf(levels[i], sizeof(levels[i]), "%d", (int)p->target_level);
		const char *row[4] = {p->model, p->id, levels[i], p->name};
		rc = out_table_add(&t, row);
	}
	out_table_print(ctx->out, &t);
	out_table_free(&t);
	opra_free(levels);

	static const char *const inst_headers[] = {"INSTANCE", "KIND"};
	fprintf(f, "\ninstances (%zu):\n", a->n_instances);
	if (a->n_instances == 0) {
		fputs("  none yet: add some with opra appraisal scope add ", f);
		out_put_safe(f, a->name);
		fputs(" --service S\n", f);
	}
	out_table_init(&t, 2, inst_headers);
	for (size_t i = 0; rc == OPRA_OK && i < a->n_instances; i++) {
		const char *row[2] = {a->instances[i]->name, a->instances[i]->kind};
		rc = out_table_add(&t, row);
	}
	if (a->n_instances)
		out_table_print(ctx->out, &t);
	out_table_free(&t);

	static const char *const mem_headers[] = {"MEMBER", "ROLE"};
	fprintf(f, "\nmembers (%zu):\n", a->n_members);
	out_table_init(&t, 2, mem_headers);
	for (size_t i = 0; rc == OPRA_OK && i < a->n_members; i++) {
		const char *row[2] = {a->members[i]->user, a->members[i]->role};
		rc = out_table_add(&t, row);
	}
	out_table_print(ctx->out, &t);
	out_table_free(&t);
	if (rc != OPRA_OK)
		oom(ctx);
}

/* Prints the reply of a change: JSON (the appraisal with "result"), or
 * one line "appraisal NAME: RESULT" (--quiet: nothing). */
static int print_change(cli_ctx *ctx, const Opra__V1__AppraisalReply *r)
{
	if (ctx->out->json) {
		json_t *doc = info_json(r->appraisal, true);
		if (doc && json_object_set_new(doc, "result", out_jstr(r->result, false)) != 0) {
			json_decref(doc);
			doc = NULL;
		}
		return cli_emit_json(ctx, doc);
	}
	if (ctx->out->quiet)
		return 0;
	FILE *f = ctx->out->out;
	fputs("appraisal ", f);
	out_put_safe(f, r->appraisal->name);
	fputs(": ", f);
	out_put_safe(f, r->result);
	fputc('\n', f);
	return 0;
}

/* ---- argument helpers ---- */

/* Every value of option `name` (repeatable, each comma separated) split
 * into *items, pointing into *storage; the caller frees both with
 * opra_free. Returns 0 or the usage exit code. */
static int split_list(cli_ctx *ctx, const cli_args *args, const char *name, char ***items,
		      size_t *n, char **storage)
{
	const char *vals[APPR_CLI_LIST_MAX];
	size_t nv = cli_opt_all(args, name, vals, APPR_CLI_LIST_MAX), total = 0;

	*items = NULL;
	*storage = NULL;
	*n = 0;
	if (nv > APPR_CLI_LIST_MAX)
		return cli_usage(ctx, "%s: at most %d values", name, APPR_CLI_LIST_MAX);
	for (size_t i = 0; i < nv; i++)
		total += strlen(vals[i]) + 1;
	*storage = opra_malloc(total + 1);
	*items = opra_calloc(total + 1, sizeof(char *));
	if (*storage == NULL || *items == NULL)
		return oom(ctx);
	char *dst = *storage;
	for (size_t i = 0; i < nv; i++) {
		size_t len = strlen(vals[i]);
		memcpy(dst, vals[i], len + 1);
		for (char *p = dst; p != NULL;) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = '\0';
			while (*p == ' ')
				p++;
			size_t l = strlen(p);
			while (l > 0 && p[l - 1] == ' ')
				p[--l] = '\0';
			if (l == 0)
				return cli_usage(ctx, "%s has an empty value in '%s'", name,
						 vals[i]);
			if (*n >= APPR_CLI_LIST_MAX)
				return cli_usage(ctx, "%s: at most %d values", name,
						 APPR_CLI_LIST_MAX);
			(*items)[(*n)++] = p;
			p = comma ? comma + 1 : NULL;
		}
		dst += len + 1;
	}
	return 0;
}

/* An integer option in [min, max]; *out keeps its value when the option is
 * not given. Returns 0 or the usage exit code. */
static int int_opt(cli_ctx *ctx, const cli_args *args, const char *name, long min, long max,
		   int *out)
{
	const char *v = cli_opt(args, name);
	long n;
	if (v == NULL)
		return 0;
	if (!opra_parse_long(v, min, max, &n))
		return cli_usage(ctx, "%s must be a whole number from %ld to %ld, not '%s'", name,
				 min, max, v);
	*out = (int)n;
	return 0;
}

/* The first positional of a two-word verb must be "add". */
static int want_add(cli_ctx *ctx, const cli_args *args, const char *verb, int need,
		    const char *missing)
{
	if (args->argc == 0)
		return cli_usage(ctx, "'opra appraisal %s' needs a command: add", verb);
	if (strcmp(args->argv[0], "add") != 0)
		return cli_usage(ctx,
				 "unknown command 'appraisal %s %s'; use 'opra appraisal %s add'",
				 verb, args->argv[0], verb);
	if (args->argc < need)
		return cli_usage(ctx, "'opra appraisal %s add' needs %s", verb, missing);
	if (args->argc > need)
		return cli_usage(ctx, "unexpected argument '%s'", args->argv[need]);
	return 0;
}

/* ---- commands ---- */

int cmd_appraisal_create(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__AppraisalCreateRequest req = OPRA__V1__APPRAISAL_CREATE_REQUEST__INIT;
	Opra__V1__AppraisalReply *resp = NULL;
	char **models = NULL, **pas = NULL, *mstore = NULL, *pstore = NULL;
	size_t n_models = 0, n_pas = 0;
	const char *desc = cli_opt(args, "--description");
	int level = -1, cover = -1, code;
	char key[33];

	if (args->argv[0][0] == '\0') {
		code = cli_usage(ctx, "the appraisal name must not be empty");
		goto done;
	}
	if ((code = split_list(ctx, args, "--model", &models, &n_models, &mstore)) != 0 ||
	    (code = split_list(ctx, args, "--pa", &pas, &n_pas, &pstore)) != 0)
		goto done;
	bool all = cli_opt(args, "--all") != NULL;
	if (all && n_pas > 0) {
		code = cli_usage(ctx, "give either --pa PA[,PA...] or --all, not both");
		goto done;
	}
	if (!all && n_pas == 0) {
		code = cli_usage(ctx, "name the process areas in scope with --pa PA[,PA...], or "
				      "use --all for every process area of the models");
		goto done;
	}
	if ((code = int_opt(ctx, args, "--target-level", 0, 3, &level)) != 0 ||
	    (code = int_opt(ctx, args, "--affirmation-coverage", 0, 100, &cover)) != 0)
		goto done;
	req.name = args->argv[0];
	req.description = (char *)(desc ? desc : "");
	req.models = models;
	req.n_models = n_models;
	req.process_areas = pas;
	req.n_process_areas = n_pas;
	req.all = all;
	req.target_level = level;
	req.affirmation_coverage = cover;
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Appraisal/Create", &req.base,
			     &opra__v1__appraisal_reply__descriptor, &resp, key)) != 0)
		goto done;
	if (ctx->out->json || ctx->out->quiet) {
		code = print_change(ctx, resp);
		goto done;
	}
	FILE *f = ctx->out->out;
	const Opra__V1__AppraisalInfo *a = resp->appraisal;
	fputs("created appraisal ", f);
	out_put_safe(f, a->name);
	fprintf(f,
		" (id %s): %zu process area%s, target level %d, affirmation coverage %d%%; "
		"you are its lead\n",
		a->id, a->n_process_areas, a->n_process_areas == 1 ? "" : "s", (int)a->target_level,
		(int)a->affirmation_coverage);
	out_note(ctx->out,
		 "next: opra appraisal scope add %s --service S, "
		 "opra appraisal member add %s USER --role appraiser\n",
		 a->name, a->name);
done:
	opra_free(models);
	opra_free(pas);
	opra_free(mstore);
	opra_free(pstore);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_appraisal_list(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"NAME",	"ID",	    "MY ROLE", "STATE",
					      "EVENTS", "EVIDENCE", "MODELS"};
	Opra__V1__AppraisalListRequest req = OPRA__V1__APPRAISAL_LIST_REQUEST__INIT;
	Opra__V1__AppraisalListReply *resp = NULL;
	out_table t;
	char(*nums)[2][24] = NULL;
	char **models = NULL;
	json_t *arr = NULL;
	int code;

	(void)args;
	out_table_init(&t, 7, headers);
	if ((code = cli_call(ctx, "opra.v1.Appraisal/List", &req.base,
			     &opra__v1__appraisal_list_reply__descriptor, &resp, NULL)) != 0)
		goto done;
	if (ctx->out->json) {
		if ((arr = json_array()) == NULL)
			goto oom;
		for (size_t i = 0; i < resp->n_appraisals; i++) {
			json_t *o = info_json(resp->appraisals[i], false);
			if (o == NULL || json_array_append_new(arr, o))
				goto oom;
		}
		code = cli_emit_json(ctx, arr);
		arr = NULL;
		goto done;
	}
	nums = opra_calloc(resp->n_appraisals + 1, sizeof(*nums));
	models = opra_calloc(resp->n_appraisals + 1, sizeof(*models));
	if (nums == NULL || models == NULL)
		goto oom;
	for (size_t i = 0; i < resp->n_appraisals; i++) {
		const Opra__V1__AppraisalInfo *a = resp->appraisals[i];
		size_t len = 1;
		for (size_t k = 0; k < a->n_models; k++)
			len += strlen(a->models[k]) + 1;
		if ((models[i] = opra_calloc(1, len)) == NULL)
			goto oom;
		for (size_t k = 0, at = 0; k < a->n_models; k++) {
			size_t l = strlen(a->models[k]);
			if (k)
				models[i][at++] = ',';
			memcpy(models[i] + at, a->models[k], l);
			at += l;
		}
		snprintf(nums[i][0], sizeof(nums[i][0]), "%lld", (long long)a->events);
		snprintf(nums[i][1], sizeof(nums[i][1]), "%lld", (long long)a->evidence);
		const char *row[7] = {a->name,
				      a->id,
				      a->my_role[0] ? a->my_role : NULL,
				      a->sealed ? "finalised" : "open",
				      nums[i][0],
				      nums[i][1],
				      models[i]};
		if (out_table_add(&t, row) != OPRA_OK)
			goto oom;
	}
	if (resp->n_appraisals == 0)
		out_note(ctx->out, "no appraisals you can see (create one with opra appraisal "
				   "create NAME --model MODEL --all)\n");
	else
		out_table_print(ctx->out, &t);
	goto done;
oom:
	code = oom(ctx);
done:
	for (size_t i = 0; models && resp && i < resp->n_appraisals; i++)
		opra_free(models[i]);
	opra_free(models);
	opra_free(nums);
	json_decref(arr);
	out_table_free(&t);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_appraisal_show(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__AppraisalRef req = OPRA__V1__APPRAISAL_REF__INIT;
	Opra__V1__AppraisalReply *resp = NULL;
	int code;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "the appraisal name must not be empty");
	req.appraisal = args->argv[0];
	if ((code = cli_call(ctx, "opra.v1.Appraisal/Show", &req.base,
			     &opra__v1__appraisal_reply__descriptor, &resp, NULL)) != 0)
		return code;
	if (ctx->out->json)
		code = cli_emit_json(ctx, info_json(resp->appraisal, true));
	else
		print_info(ctx, resp->appraisal);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_appraisal_scope(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ScopeAddRequest req = OPRA__V1__SCOPE_ADD_REQUEST__INIT;
	Opra__V1__AppraisalReply *resp = NULL;
	char **services = NULL, **units = NULL, *sstore = NULL, *ustore = NULL;
	size_t n_services = 0, n_units = 0;
	char key[33];
	int code;

	if ((code = want_add(ctx, args, "scope", 2, "APPRAISAL")) != 0)
		return code;
	if ((code = split_list(ctx, args, "--service", &services, &n_services, &sstore)) != 0 ||
	    (code = split_list(ctx, args, "--unit", &units, &n_units, &ustore)) != 0)
		goto done;
	if (n_services + n_units == 0) {
		code = cli_usage(ctx, "name what to add: --service S and/or --unit U (repeatable)");
		goto done;
	}
	req.appraisal = args->argv[1];
	req.services = services;
	req.n_services = n_services;
	req.units = units;
	req.n_units = n_units;
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Appraisal/ScopeAdd", &req.base,
			     &opra__v1__appraisal_reply__descriptor, &resp, key)) != 0)
		goto done;
	code = print_change(ctx, resp);
done:
	opra_free(services);
	opra_free(units);
	opra_free(sstore);
	opra_free(ustore);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_appraisal_member(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__MemberAddRequest req = OPRA__V1__MEMBER_ADD_REQUEST__INIT;
	Opra__V1__AppraisalReply *resp = NULL;
	char key[33];
	int code;

	if ((code = want_add(ctx, args, "member", 3, "APPRAISAL USER")) != 0)
		return code;
	/* The dispatcher has checked --role against the table's choices. */
	req.appraisal = args->argv[1];
	req.user = args->argv[2];
	req.role = (char *)cli_opt(args, "--role");
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Appraisal/MemberAdd", &req.base,
			     &opra__v1__appraisal_reply__descriptor, &resp, key)) != 0)
		return code;
	code = print_change(ctx, resp);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_appraisal_target(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__TargetRequest req = OPRA__V1__TARGET_REQUEST__INIT;
	Opra__V1__AppraisalReply *resp = NULL;
	int level = -1, code;
	char key[33];

	if ((code = int_opt(ctx, args, "--level", 0, 3, &level)) != 0)
		return code;
	if (cli_opt(args, "--pa")[0] == '\0')
		return cli_usage(ctx, "--pa needs a process area, e.g. SC or cmmi-svc-1.3/MA");
	req.appraisal = args->argv[0];
	req.process_area = (char *)cli_opt(args, "--pa");
	req.level = level;
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Appraisal/Target", &req.base,
			     &opra__v1__appraisal_reply__descriptor, &resp, key)) != 0)
		return code;
	code = print_change(ctx, resp);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_appraisal_finalize(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__AppraisalRef req = OPRA__V1__APPRAISAL_REF__INIT;
	Opra__V1__AppraisalReply *resp = NULL;
	char key[33];
	int code;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "the appraisal name must not be empty");
	req.appraisal = args->argv[0];
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.Appraisal/Finalize", &req.base,
			     &opra__v1__appraisal_reply__descriptor, &resp, key)) != 0)
		return code;
	if (ctx->out->json || ctx->out->quiet) {
		code = print_change(ctx, resp);
	} else {
		const Opra__V1__AppraisalInfo *a = resp->appraisal;
		FILE *f = ctx->out->out;
		fputs("finalised appraisal ", f);
		out_put_safe(f, a->name);
		fputs(" at ", f);
		out_put_safe(f, a->sealed_at);
		fprintf(f, ": sealed after %lld events; chain head %s\n", (long long)a->events,
			a->head);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}
