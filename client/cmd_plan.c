/* opra plan add | list | update | show (issue 8, docs/plan.md): an
 * appraisal's improvement plan (opra.v1.Plan), and what it bought:
 * `plan show` puts the plan's spending beside the capability levels that
 * Rating/Show computes for the appraisals, per process area.
 *
 * Amounts are typed as decimals with at most two places ("12500",
 * "12500.5", "12500.50") and travel as integer hundredths, so no amount is
 * ever rounded. Every change is one operation with a fresh idempotency
 * key. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include "opra/v1/plan.pb-c.h"
#include "opra/v1/rating.pb-c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const M_ADD = "opra.v1.Plan/Add";
static const char *const M_LIST = "opra.v1.Plan/List";
static const char *const M_UPDATE = "opra.v1.Plan/Update";
static const char *const M_RATING = "opra.v1.Rating/Show";

#define PLAN_CLI_TARGETS_MAX 50
#define PLAN_COST_MAX	     100000000000000000LL /* hundredths, as the server */

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

/* ---- amounts ------------------------------------------------------------ */

/* "12500", "12500.5", "12500.50" -> hundredths; false for anything else
 * (signs, exponents, three decimals, junk, too large). */
static bool parse_amount(const char *s, long long *out)
{
	long long units = 0, frac = 0;
	int digits = 0, fdigits = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (units > PLAN_COST_MAX / 1000)
			return false;
		units = units * 10 + (*p - '0');
	}
	if (digits == 0)
		return false;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++)
			frac = frac * 10 + (*p - '0');
		if (fdigits == 0 || fdigits > 2)
			return false;
		if (fdigits == 1)
			frac *= 10;
	}
	if (*p != '\0' || units * 100 + frac > PLAN_COST_MAX)
		return false;
	*out = units * 100 + frac;
	return true;
}

/* Hundredths as "12500.50" (at least 32 bytes). */
static const char *amount_text(char *buf, size_t size, long long v)
{
	snprintf(buf, size, "%s%lld.%02lld", v < 0 ? "-" : "", llabs(v) / 100, llabs(v) % 100);
	return buf;
}

static json_t *amount_json(long long v)
{
	char buf[48];
	return json_string(amount_text(buf, sizeof(buf), v));
}

static int amount_opt(cli_ctx *ctx, const cli_args *args, const char *name, int64_t *out,
		      bool *given)
{
	const char *v = cli_opt(args, name);
	long long x = 0;
	*given = v != NULL;
	if (v == NULL)
		return 0;
	if (!parse_amount(v, &x))
		return cli_usage(ctx,
				 "%s '%s' is not an amount: write a number of 0 or more with at "
				 "most two decimals, e.g. 12500 or 12500.50 (no sign, no currency)",
				 name, v);
	*out = x;
	return 0;
}

/* ---- targets: --goal and --practice, repeatable, comma separated --------- */

typedef struct {
	char *store[2];
	char *items[2][PLAN_CLI_TARGETS_MAX];
	size_t n[2];
} target_lists;

static void targets_free(target_lists *t)
{
	opra_free(t->store[0]);
	opra_free(t->store[1]);
}

static int collect(cli_ctx *ctx, const cli_args *args, const char *name, int k, target_lists *t)
{
	const char *vals[PLAN_CLI_TARGETS_MAX + 1];
	size_t nv = cli_opt_all(args, name, vals, PLAN_CLI_TARGETS_MAX + 1), len = 0;
	if (nv > PLAN_CLI_TARGETS_MAX)
		return cli_usage(ctx, "at most %d goals and practices per action",
				 PLAN_CLI_TARGETS_MAX);
	for (size_t i = 0; i < nv; i++)
		len += strlen(vals[i]) + 1;
	if ((t->store[k] = opra_malloc(len + 1)) == NULL)
		return oom(ctx);
	char *w = t->store[k];
	for (size_t i = 0; i < nv; i++) {
		size_t l = strlen(vals[i]);
		memcpy(w, vals[i], l + 1);
		for (char *tok = w, *next; tok != NULL; tok = next) {
			next = strchr(tok, ',');
			if (next)
				*next++ = '\0';
			if (tok[0] == '\0')
				return cli_usage(ctx, "%s needs an id (e.g. %s), not an empty one",
						 name, k == 0 ? "SC:SG2" : "SC:SG1.SP2");
			if (t->n[0] + t->n[1] >= PLAN_CLI_TARGETS_MAX)
				return cli_usage(ctx, "at most %d goals and practices per action",
						 PLAN_CLI_TARGETS_MAX);
			t->items[k][t->n[k]++] = tok;
		}
		w += l + 1;
	}
	return 0;
}

static int collect_targets(cli_ctx *ctx, const cli_args *args, target_lists *t)
{
	int code;
	memset(t, 0, sizeof(*t));
	if ((code = collect(ctx, args, "--goal", 0, t)) != 0 ||
	    (code = collect(ctx, args, "--practice", 1, t)) != 0)
		return code;
	return 0;
}

/* ---- output --------------------------------------------------------------- */

static json_t *action_json(const Opra__V1__PlanAction *x)
{
	json_t *o = json_object(), *targets = json_array();
	int bad = o == NULL || targets == NULL;

	for (size_t i = 0; !bad && i < x->n_targets; i++) {
		const Opra__V1__PlanTarget *t = x->targets[i];
		json_t *j = json_object();
		bad |= j == NULL || json_array_append_new(targets, j);
		bad |= json_object_set_new(j, "kind", out_jstr(t->kind, false));
		bad |= json_object_set_new(j, "id", out_jstr(t->id, false));
		bad |= json_object_set_new(j, "model", out_jstr(t->model, false));
		bad |= json_object_set_new(j, "process_area", out_jstr(t->process_area, false));
	}
	bad |= json_object_set_new(o, "appraisal", out_jstr(x->appraisal, false));
	bad |= json_object_set_new(o, "number", json_integer(x->number));
	bad |= json_object_set_new(o, "title", out_jstr(x->title, false));
	bad |= json_object_set_new(o, "owner", out_jstr(x->owner, true));
	bad |= json_object_set_new(o, "due", out_jstr(x->due, true));
	bad |= json_object_set_new(o, "status", out_jstr(x->status, false));
	bad |= json_object_set_new(o, "currency", out_jstr(x->currency, false));
	bad |= json_object_set_new(o, "estimated_cost", amount_json(x->estimated_cost));
	bad |= json_object_set_new(o, "estimated_cost_minor", json_integer(x->estimated_cost));
	bad |= json_object_set_new(o, "actual_cost", amount_json(x->actual_cost));
	bad |= json_object_set_new(o, "actual_cost_minor", json_integer(x->actual_cost));
	bad |= json_object_set(o, "targets", targets);
	bad |= json_object_set_new(o, "version", json_integer(x->version));
	bad |= json_object_set_new(o, "created_by", out_jstr(x->created_by, false));
	bad |= json_object_set_new(o, "created_at", out_jstr(x->created_at, false));
	bad |= json_object_set_new(o, "updated_by", out_jstr(x->updated_by, false));
	bad |= json_object_set_new(o, "updated_at", out_jstr(x->updated_at, false));
	json_decref(targets);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* "SC:SG2, SC:SG1.SP2" into buf. */
static const char *targets_text(char *buf, size_t size, const Opra__V1__PlanAction *x)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < x->n_targets && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
					x->targets[i]->id);
	return buf;
}

/* #3 planned  due 2027-03-31  owner alice  estimated 12500.00 USD ...
 * then the title and targets on a second line. */
static void print_action(cli_ctx *ctx, const Opra__V1__PlanAction *x, const char *result)
{
	FILE *f = ctx->out->out;
	char a[48], b[48], t[1024];
	fprintf(f, "#%d ", (int)x->number);
	out_put_safe(f, x->title);
	fputs("\n  status ", f);
	out_put_safe(f, x->status);
	if (x->due[0]) {
		fputs(", due ", f);
		out_put_safe(f, x->due);
	}
	if (x->owner[0]) {
		fputs(", owner ", f);
		out_put_safe(f, x->owner);
	}
	fputs("\n  cost estimated ", f);
	fputs(amount_text(a, sizeof(a), x->estimated_cost), f);
	fputs(", actual ", f);
	fputs(amount_text(b, sizeof(b), x->actual_cost), f);
	fputc(' ', f);
	out_put_safe(f, x->currency);
	fputs("\n  for ", f);
	out_put_safe(f, targets_text(t, sizeof(t), x));
	fprintf(f, "\n  version %d", (int)x->version);
	if (result && result[0]) {
		fputs(" (", f);
		out_put_safe(f, result);
		fputc(')', f);
	}
	fputc('\n', f);
}

static int emit_action(cli_ctx *ctx, const Opra__V1__PlanActionReply *r)
{
	if (ctx->out->json) {
		json_t *o = action_json(r->action);
		if (o && json_object_set_new(o, "result", out_jstr(r->result, false)) != 0) {
			json_decref(o);
			o = NULL;
		}
		return cli_emit_json(ctx, o);
	}
	if (ctx->out->quiet)
		fprintf(ctx->out->out, "%d\n", (int)r->action->number);
	else
		print_action(ctx, r->action, r->result);
	return 0;
}

static int check_common(cli_ctx *ctx, const cli_args *args)
{
	static const char *const nonempty[] = {"--title", "--currency", "--status", NULL};
	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "APPRAISAL must not be empty");
	for (const char *const *o = nonempty; *o; o++) {
		const char *v = cli_opt(args, *o);
		if (v != NULL && v[0] == '\0')
			return cli_usage(ctx, "%s must not be empty", *o);
	}
	return 0;
}

/* ---- add ----------------------------------------------------------------- */

int cmd_plan_add(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__PlanAddRequest req = OPRA__V1__PLAN_ADD_REQUEST__INIT;
	Opra__V1__PlanActionReply *resp = NULL;
	target_lists t;
	bool given;
	char key[33];
	int code;

	memset(&t, 0, sizeof(t));
	if ((code = check_common(ctx, args)) != 0 || (code = collect_targets(ctx, args, &t)) != 0)
		goto done;
	if (t.n[0] + t.n[1] == 0) {
		code = cli_usage(ctx, "tie the action to at least one --goal (e.g. SC:SG2) or "
				      "--practice (e.g. SC:SG1.SP2)");
		goto done;
	}
	if ((code = amount_opt(ctx, args, "--estimated-cost", &req.estimated_cost, &given)) != 0 ||
	    (code = amount_opt(ctx, args, "--actual-cost", &req.actual_cost, &given)) != 0)
		goto done;
	const char *v;
	req.appraisal = args->argv[0];
	req.title = (char *)cli_opt(args, "--title");
	req.owner = (char *)((v = cli_opt(args, "--owner")) ? v : "");
	req.due = (char *)((v = cli_opt(args, "--due")) ? v : "");
	req.status = (char *)((v = cli_opt(args, "--status")) ? v : "");
	req.currency = (char *)((v = cli_opt(args, "--currency")) ? v : "");
	req.n_goals = t.n[0];
	req.goals = t.items[0];
	req.n_practices = t.n[1];
	req.practices = t.items[1];
	rpc_new_key(key);
	if ((code = cli_call(ctx, M_ADD, &req.base, &opra__v1__plan_action_reply__descriptor, &resp,
			     key)) != 0)
		goto done;
	code = emit_action(ctx, resp);
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	targets_free(&t);
	return code;
}

/* ---- update -------------------------------------------------------------- */

int cmd_plan_update(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__PlanUpdateRequest req = OPRA__V1__PLAN_UPDATE_REQUEST__INIT;
	Opra__V1__PlanActionReply *resp = NULL;
	target_lists t;
	long number = 0, version = 0;
	bool est = false, act = false;
	const char *v, *expect = cli_opt(args, "--expect-version");
	char key[33];
	int code;

	memset(&t, 0, sizeof(t));
	if ((code = check_common(ctx, args)) != 0 || (code = collect_targets(ctx, args, &t)) != 0)
		goto done;
	const char *n = args->argv[1][0] == '#' ? args->argv[1] + 1 : args->argv[1];
	if (!opra_parse_long(n, 1, 1000000, &number)) {
		code = cli_usage(ctx, "'%s' is not an action number (opra plan list shows them)",
				 args->argv[1]);
		goto done;
	}
	if (expect != NULL && !opra_parse_long(expect, 1, INT32_MAX, &version)) {
		code = cli_usage(ctx, "--expect-version must be a whole number from 1 up, not '%s'",
				 expect);
		goto done;
	}
	if ((code = amount_opt(ctx, args, "--estimated-cost", &req.estimated_cost, &est)) != 0 ||
	    (code = amount_opt(ctx, args, "--actual-cost", &req.actual_cost, &act)) != 0)
		goto done;
	req.appraisal = args->argv[0];
	req.number = (int32_t)number;
	if ((v = cli_opt(args, "--title")) != NULL) {
		req.set_title = true;
		req.title = (char *)v;
	}
	if ((v = cli_opt(args, "--owner")) != NULL) {
		req.set_owner = true;
		req.owner = (char *)v;
	}
	if ((v = cli_opt(args, "--due")) != NULL) {
		req.set_due = true;
		req.due = (char *)v;
	}
	if ((v = cli_opt(args, "--status")) != NULL) {
		req.set_status = true;
		req.status = (char *)v;
	}
	req.set_estimated_cost = est;
	req.set_actual_cost = act;
	if (t.n[0] + t.n[1] > 0) {
		req.set_targets = true;
		req.n_goals = t.n[0];
		req.goals = t.items[0];
		req.n_practices = t.n[1];
		req.practices = t.items[1];
	}
	req.check_version = expect != NULL;
	req.expect_version = (int32_t)version;
	if (!req.set_title && !req.set_owner && !req.set_due && !req.set_status && !est && !act &&
	    !req.set_targets) {
		code = cli_usage(ctx, "say what to change: --title, --owner, --due, --status, "
				      "--estimated-cost, --actual-cost, --goal or --practice");
		goto done;
	}
	rpc_new_key(key);
	if ((code = cli_call(ctx, M_UPDATE, &req.base, &opra__v1__plan_action_reply__descriptor,
			     &resp, key)) != 0)
		goto done;
	code = emit_action(ctx, resp);
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	targets_free(&t);
	return code;
}

/* ---- list ---------------------------------------------------------------- */

static int list_call(cli_ctx *ctx, const char *appraisal, const char *status,
		     Opra__V1__PlanListReply **out)
{
	Opra__V1__PlanListRequest req = OPRA__V1__PLAN_LIST_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.status = (char *)(status ? status : "");
	return cli_call(ctx, M_LIST, &req.base, &opra__v1__plan_list_reply__descriptor, out, NULL);
}

int cmd_plan_list(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"#",	   "STATUS", "DUE", "OWNER",
					      "ESTIMATED", "ACTUAL", "FOR", "TITLE"};
	Opra__V1__PlanListReply *resp = NULL;
	out_table t;
	char(*cells)[3][1024] = NULL;
	long long est = 0, act = 0;
	int code;

	out_table_init(&t, 8, headers);
	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "APPRAISAL must not be empty");
	if ((code = list_call(ctx, args->argv[0], cli_opt(args, "--status"), &resp)) != 0)
		return code;
	for (size_t i = 0; i < resp->n_actions; i++) {
		est += resp->actions[i]->estimated_cost;
		act += resp->actions[i]->actual_cost;
	}
	if (ctx->out->json) {
		json_t *o = json_object(), *arr = json_array();
		int bad = o == NULL || arr == NULL;
		for (size_t i = 0; !bad && i < resp->n_actions; i++) {
			json_t *j = action_json(resp->actions[i]);
			bad |= j == NULL || json_array_append_new(arr, j);
		}
		bad |= json_object_set_new(o, "appraisal", out_jstr(resp->appraisal, false));
		bad |= json_object_set_new(o, "sealed", json_boolean(resp->sealed));
		bad |= json_object_set_new(o, "currency", out_jstr(resp->currency, true));
		bad |= json_object_set(o, "actions", arr);
		bad |= json_object_set_new(o, "estimated_cost", amount_json(est));
		bad |= json_object_set_new(o, "actual_cost", amount_json(act));
		json_decref(arr);
		if (bad) {
			json_decref(o);
			o = NULL;
		}
		code = cli_emit_json(ctx, o);
		goto done;
	}
	if (resp->n_actions == 0) {
		out_note(ctx->out,
			 "the plan of appraisal %s has no actions%s; add one with opra plan add\n",
			 resp->appraisal, cli_opt(args, "--status") ? " with that status" : "");
		goto done;
	}
	if ((cells = opra_calloc(resp->n_actions, sizeof(*cells))) == NULL) {
		code = oom(ctx);
		goto done;
	}
	for (size_t i = 0; i < resp->n_actions; i++) {
		const Opra__V1__PlanAction *x = resp->actions[i];
		char num[16], e[48], a[48];
		snprintf(num, sizeof(num), "%d", (int)x->number);
		amount_text(e, sizeof(e), x->estimated_cost);
		amount_text(a, sizeof(a), x->actual_cost);
		snprintf(cells[i][0], sizeof(cells[i][0]), "%s\t%s\t%s", num, e, a);
		/* split the three short texts in place */
		char *p1 = strchr(cells[i][0], '\t'), *p2 = p1 ? strchr(p1 + 1, '\t') : NULL;
		if (p1 == NULL || p2 == NULL)
			continue;
		*p1++ = '\0';
		*p2++ = '\0';
		targets_text(cells[i][1], sizeof(cells[i][1]), x);
		const char *row[8] = {cells[i][0],
				      x->status,
				      x->due[0] ? x->due : NULL,
				      x->owner[0] ? x->owner : NULL,
				      p1,
				      p2,
				      cells[i][1],
				      x->title};
		if (out_table_add(&t, row) != OPRA_OK) {
			code = oom(ctx);
			goto done;
		}
	}
	out_table_print(ctx->out, &t);
	if (!ctx->out->quiet) {
		char e[48], a[48];
		fprintf(ctx->out->out, "%zu action%s; estimated %s, actual %s ", resp->n_actions,
			resp->n_actions == 1 ? "" : "s", amount_text(e, sizeof(e), est),
			amount_text(a, sizeof(a), act));
		out_put_safe(ctx->out->out, resp->currency);
		fputc('\n', ctx->out->out);
	}
done:
	out_table_free(&t);
	opra_free(cells);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- show: what the money bought ---------------------------------------- */

static int rating_call(cli_ctx *ctx, const char *appraisal, Opra__V1__RatingShowReply **out)
{
	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.compact = true;
	return cli_call(ctx, M_RATING, &req.base, &opra__v1__rating_show_reply__descriptor, out,
			NULL);
}

/* One process area of the view: from the later appraisal, the earlier, or
 * both. */
typedef struct {
	const Opra__V1__PaRating *after, *before;
	const char *id, *model;
	long long estimated, actual;
	size_t n_actions;
	int has_change, change;
} pa_row;

static const Opra__V1__PaRating *find_pa(const Opra__V1__RatingShowReply *r, const char *model,
					 const char *id)
{
	for (size_t i = 0; r && i < r->n_process_areas; i++)
		if (strcmp(r->process_areas[i]->id, id) == 0 &&
		    strcmp(r->process_areas[i]->model, model) == 0)
			return r->process_areas[i];
	return NULL;
}

static bool rated(const Opra__V1__PaRating *p)
{
	return p != NULL && strcmp(p->status, "rated") == 0;
}

static bool action_for(const Opra__V1__PlanAction *x, const pa_row *row)
{
	for (size_t k = 0; k < x->n_targets; k++)
		if (strcmp(x->targets[k]->process_area, row->id) == 0 &&
		    strcmp(x->targets[k]->model, row->model) == 0)
			return true;
	return false;
}

static json_t *level_json(const Opra__V1__PaRating *p)
{
	return rated(p) ? json_integer(p->capability_level) : json_null();
}

static const char *level_text(char *buf, size_t size, const Opra__V1__PaRating *p)
{
	if (p == NULL)
		return "-";
	if (rated(p))
		snprintf(buf, size, "%d", (int)p->capability_level);
	else
		snprintf(buf, size, "%s", p->status);
	return buf;
}

int cmd_plan_show(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"PA",	"MODEL",    "BEFORE",  "AFTER",
					      "CHANGE", "TARGET",   "ACTIONS", "ESTIMATED",
					      "ACTUAL", "PER LEVEL"};
	const char *later = args->argv[0], *since = cli_opt(args, "--since");
	const char *plan_of = since ? since : later;
	Opra__V1__PlanListReply *plan = NULL;
	Opra__V1__RatingShowReply *after = NULL, *before = NULL;
	pa_row *rows = NULL;
	size_t n_rows = 0;
	char(*cells)[10][64] = NULL;
	out_table t;
	json_t *doc = NULL;
	int code;

	out_table_init(&t, 10, headers);
	if (later[0] == '\0' || (since && since[0] == '\0'))
		return cli_usage(ctx, "appraisal names must not be empty");
	if (since && strcmp(since, later) == 0)
		return cli_usage(ctx, "--since names the earlier appraisal: give a different one "
				      "than APPRAISAL");
	if ((code = list_call(ctx, plan_of, NULL, &plan)) != 0 ||
	    (code = rating_call(ctx, later, &after)) != 0 ||
	    (since && (code = rating_call(ctx, since, &before)) != 0))
		goto done;

	size_t cap = after->n_process_areas + (before ? before->n_process_areas : 0);
	if ((rows = opra_calloc(cap + 1, sizeof(*rows))) == NULL) {
		code = oom(ctx);
		goto done;
	}
	for (size_t i = 0; i < after->n_process_areas; i++) {
		pa_row *r = &rows[n_rows++];
		r->after = after->process_areas[i];
		r->id = r->after->id;
		r->model = r->after->model;
		r->before = find_pa(before, r->model, r->id);
	}
	for (size_t i = 0; before && i < before->n_process_areas; i++) {
		const Opra__V1__PaRating *p = before->process_areas[i];
		if (find_pa(after, p->model, p->id) != NULL)
			continue;
		pa_row *r = &rows[n_rows++];
		r->before = p;
		r->id = p->id;
		r->model = p->model;
	}
	long long total_est = 0, total_act = 0;
	int gained = 0, lost = 0;
	size_t done_actions = 0;
	for (size_t k = 0; k < plan->n_actions; k++) {
		total_est += plan->actions[k]->estimated_cost;
		total_act += plan->actions[k]->actual_cost;
		done_actions += strcmp(plan->actions[k]->status, "done") == 0;
	}
	for (size_t i = 0; i < n_rows; i++) {
		pa_row *r = &rows[i];
		for (size_t k = 0; k < plan->n_actions; k++)
			if (action_for(plan->actions[k], r)) {
				r->n_actions++;
				r->estimated += plan->actions[k]->estimated_cost;
				r->actual += plan->actions[k]->actual_cost;
			}
		if (since && rated(r->before) && rated(r->after)) {
			r->has_change = 1;
			r->change = (int)(r->after->capability_level - r->before->capability_level);
			if (r->change > 0)
				gained += r->change;
			else
				lost -= r->change;
		}
	}

	if (ctx->out->json) {
		json_t *pas = json_array(), *acts = json_array(), *tot = json_object();
		doc = json_object();
		int bad = !doc || !pas || !acts || !tot;
		for (size_t i = 0; !bad && i < n_rows; i++) {
			const pa_row *r = &rows[i];
			json_t *j = json_object(), *nums = json_array();
			bad |= j == NULL || nums == NULL || json_array_append_new(pas, j);
			for (size_t k = 0; !bad && k < plan->n_actions; k++)
				if (action_for(plan->actions[k], r))
					bad |= json_array_append_new(
						nums, json_integer(plan->actions[k]->number));
			bad |= json_object_set_new(j, "id", out_jstr(r->id, false));
			bad |= json_object_set_new(j, "model", out_jstr(r->model, false));
			bad |= json_object_set_new(j, "level_before",
						   since ? level_json(r->before) : json_null());
			bad |= json_object_set_new(j, "level_after", level_json(r->after));
			bad |= json_object_set_new(j, "status_before",
						   r->before ? out_jstr(r->before->status, false)
							     : json_null());
			bad |= json_object_set_new(j, "status_after",
						   r->after ? out_jstr(r->after->status, false)
							    : json_null());
			bad |= json_object_set_new(
				j, "change", r->has_change ? json_integer(r->change) : json_null());
			bad |= json_object_set_new(j, "target_level",
						   r->after ? json_integer(r->after->target_level)
							    : json_null());
			bad |= json_object_set_new(j, "actions", nums ? nums : json_null());
			bad |= json_object_set_new(j, "estimated_cost", amount_json(r->estimated));
			bad |= json_object_set_new(j, "actual_cost", amount_json(r->actual));
			bad |= json_object_set_new(j, "cost_per_level",
						   r->has_change && r->change > 0
							   ? amount_json(r->actual / r->change)
							   : json_null());
		}
		for (size_t k = 0; !bad && k < plan->n_actions; k++) {
			json_t *j = action_json(plan->actions[k]);
			bad |= j == NULL || json_array_append_new(acts, j);
		}
		bad |= json_object_set_new(tot, "actions",
					   json_integer((json_int_t)plan->n_actions));
		bad |= json_object_set_new(tot, "done", json_integer((json_int_t)done_actions));
		bad |= json_object_set_new(tot, "estimated_cost", amount_json(total_est));
		bad |= json_object_set_new(tot, "actual_cost", amount_json(total_act));
		bad |= json_object_set_new(tot, "levels_gained",
					   since ? json_integer(gained) : json_null());
		bad |= json_object_set_new(tot, "levels_lost",
					   since ? json_integer(lost) : json_null());
		bad |= json_object_set_new(tot, "cost_per_level",
					   since && gained > 0 ? amount_json(total_act / gained)
							       : json_null());
		bad |= json_object_set_new(doc, "appraisal", out_jstr(after->appraisal, false));
		bad |= json_object_set_new(
			doc, "since", before ? out_jstr(before->appraisal, false) : json_null());
		bad |= json_object_set_new(doc, "plan_of", out_jstr(plan->appraisal, false));
		bad |= json_object_set_new(doc, "currency", out_jstr(plan->currency, true));
		bad |= json_object_set(doc, "process_areas", pas);
		bad |= json_object_set(doc, "actions", acts);
		bad |= json_object_set(doc, "totals", tot);
		json_decref(pas);
		json_decref(acts);
		json_decref(tot);
		if (bad) {
			json_decref(doc);
			doc = NULL;
		}
		code = cli_emit_json(ctx, doc);
		goto done;
	}

	FILE *f = ctx->out->out;
	if (!ctx->out->quiet) {
		fputs("plan of ", f);
		out_put_safe(f, plan->appraisal);
		fprintf(f, ": %zu action%s", plan->n_actions, plan->n_actions == 1 ? "" : "s");
		if (plan->currency[0]) {
			fputs(" in ", f);
			out_put_safe(f, plan->currency);
		}
		if (before) {
			fputs("; levels of ", f);
			out_put_safe(f, before->appraisal);
			fputs(" (before) and ", f);
			out_put_safe(f, after->appraisal);
			fputs(" (after)\n", f);
		} else {
			fputs("; levels of ", f);
			out_put_safe(f, after->appraisal);
			fputs(" (give --since EARLIER to see the change)\n", f);
		}
	}
	if ((cells = opra_calloc(n_rows + 1, sizeof(*cells))) == NULL) {
		code = oom(ctx);
		goto done;
	}
	for (size_t i = 0; i < n_rows; i++) {
		const pa_row *r = &rows[i];
		char(*c)[64] = cells[i];
		if (since)
			level_text(c[0], sizeof(c[0]), r->before);
		level_text(c[1], sizeof(c[1]), r->after);
		if (r->has_change)
			snprintf(c[2], sizeof(c[2]), "%+d", r->change);
		if (r->after)
			snprintf(c[3], sizeof(c[3]), "%d", (int)r->after->target_level);
		size_t len = 0;
		for (size_t k = 0; k < plan->n_actions && len < sizeof(c[4]); k++)
			if (action_for(plan->actions[k], r))
				len += (size_t)snprintf(c[4] + len, sizeof(c[4]) - len, "%s#%d",
							len ? "," : "",
							(int)plan->actions[k]->number);
		amount_text(c[5], sizeof(c[5]), r->estimated);
		amount_text(c[6], sizeof(c[6]), r->actual);
		if (r->has_change && r->change > 0)
			amount_text(c[7], sizeof(c[7]), r->actual / r->change);
		const char *row[10] = {r->id,
				       r->model,
				       since ? c[0] : NULL,
				       c[1][0] ? c[1] : NULL,
				       r->has_change ? c[2] : NULL,
				       r->after ? c[3] : NULL,
				       c[4][0] ? c[4] : NULL,
				       c[5],
				       c[6],
				       c[7][0] ? c[7] : NULL};
		if (out_table_add(&t, row) != OPRA_OK) {
			code = oom(ctx);
			goto done;
		}
	}
	out_table_print(ctx->out, &t);
	if (!ctx->out->quiet) {
		char e[48], a[48], p[48];
		fprintf(f, "\ntotal: %zu action%s (%zu done), estimated %s, actual %s",
			plan->n_actions, plan->n_actions == 1 ? "" : "s", done_actions,
			amount_text(e, sizeof(e), total_est), amount_text(a, sizeof(a), total_act));
		if (plan->currency[0]) {
			fputc(' ', f);
			out_put_safe(f, plan->currency);
		}
		fputc('\n', f);
		if (since) {
			fprintf(f, "levels gained: %d, lost: %d", gained, lost);
			if (gained > 0) {
				fprintf(f, "; %s", amount_text(p, sizeof(p), total_act / gained));
				if (plan->currency[0]) {
					fputc(' ', f);
					out_put_safe(f, plan->currency);
				}
				fputs(" per level gained", f);
			}
			fputc('\n', f);
		}
		for (size_t k = 0; k < plan->n_actions; k++) {
			const Opra__V1__PlanAction *x = plan->actions[k];
			char tt[1024];
			fprintf(f, "  #%d %-11s ", (int)x->number, x->status);
			out_put_safe(f, x->title);
			fputs("  (", f);
			out_put_safe(f, targets_text(tt, sizeof(tt), x));
			fputs(")\n", f);
		}
	}
done:
	out_table_free(&t);
	opra_free(cells);
	opra_free(rows);
	if (plan)
		protobuf_c_message_free_unpacked(&plan->base, NULL);
	if (after)
		protobuf_c_message_free_unpacked(&after->base, NULL);
	if (before)
		protobuf_c_message_free_unpacked(&before->base, NULL);
	return code;
}
