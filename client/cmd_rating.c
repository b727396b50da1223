/* opra characterize | judge | weakness add | rating show (issue 7): the
 * team's labels per (practice, instance), a lead's judgements, weaknesses,
 * and the ratings the server recomputes from them on every read
 * (proto/opra/v1/rating.proto, docs/rating.md).
 *
 * Labels are checked here (case-insensitive) so a typo is a usage error
 * (exit 2) before anything is sent; everything else (scope, roles, sealed
 * appraisals, stale versions) is the server's to decide. Every change is
 * one operation with a fresh idempotency key. */
#include "cli.h"
#include "report.h"

#include "opra_err.h"
#include "opra_text.h"

#include "opra/v1/rating.pb-c.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const M_CHARACTERIZE = "opra.v1.Rating/Characterize";
static const char *const M_JUDGE = "opra.v1.Rating/Judge";
static const char *const M_WEAKNESS = "opra.v1.Rating/WeaknessAdd";
static const char *const M_SHOW = "opra.v1.Rating/Show";

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

/* The label in value when it is one of allowed (case-insensitive), written
 * in upper case to out (3 bytes); false otherwise. */
static bool label_ok(const char *value, const char *const *allowed, char out[3])
{
	for (const char *const *a = allowed; *a; a++)
		if (strcasecmp(value, *a) == 0) {
			memcpy(out, *a, 3);
			return true;
		}
	return false;
}

/* "fi" -> "FI" for people; other words ("none", "needs-judgement") as
 * they are. */
static void put_label(FILE *f, const char *v)
{
	if (strlen(v) == 2) {
		for (const char *p = v; *p; p++)
			fputc(toupper((unsigned char)*p), f);
		return;
	}
	out_put_safe(f, v);
}

/* Text from the server, one sentence per line, each line after indent;
 * other control characters as '?'. */
static void put_indented(FILE *f, const char *indent, const char *text)
{
	bool line_start = true;

	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n') {
			if (!line_start)
				fputc('\n', f);
			line_start = true;
			continue;
		}
		if (line_start) {
			fputs(indent, f);
			line_start = false;
		}
		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
	if (!line_start)
		fputc('\n', f);
}

static int require_nonempty(cli_ctx *ctx, const cli_args *args, const char *const *opts)
{
	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "APPRAISAL must not be empty");
	for (const char *const *o = opts; *o; o++) {
		const char *v = cli_opt(args, *o);
		if (v != NULL && v[0] == '\0')
			return cli_usage(ctx, "%s must not be empty", *o);
	}
	return 0;
}

/* ---- characterize ------------------------------------------------------- */

int cmd_characterize(cli_ctx *ctx, const cli_args *args)
{
	static const char *const labels[] = {"FI", "LI", "PI", "NI", "NY", NULL};
	static const char *const nonempty[] = {"--practice", "--instance", NULL};
	Opra__V1__CharacterizeRequest req = OPRA__V1__CHARACTERIZE_REQUEST__INIT;
	Opra__V1__CharacterizeReply *resp = NULL;
	const char *value = cli_opt(args, "--value"), *note = cli_opt(args, "--note");
	const char *expect = cli_opt(args, "--expect-version");
	char label[3], key[33];
	long version = 0;
	int code;

	if ((code = require_nonempty(ctx, args, nonempty)) != 0)
		return code;
	if (!label_ok(value, labels, label))
		return cli_usage(ctx,
				 "--value '%s' is not a label; use one of FI, LI, PI, NI or NY "
				 "(fully, largely, partially, not implemented, not yet)",
				 value);
	if (expect != NULL && !opra_parse_long(expect, 0, INT32_MAX, &version))
		return cli_usage(
			ctx,
			"--expect-version must be a whole number from 0 (not characterised "
			"yet) up, not '%s'",
			expect);
	req.appraisal = args->argv[0];
	req.practice = (char *)cli_opt(args, "--practice");
	req.instance = (char *)cli_opt(args, "--instance");
	req.value = label;
	req.note = (char *)(note ? note : "");
	req.check_version = expect != NULL;
	req.expect_version = (int32_t)version;
	rpc_new_key(key);
	if ((code = cli_call(ctx, M_CHARACTERIZE, &req.base,
			     &opra__v1__characterize_reply__descriptor, &resp, key)) != 0)
		return code;
	if (ctx->out->json) {
		json_t *o = json_object();
		if (o == NULL ||
		    json_object_set_new(o, "appraisal", out_jstr(req.appraisal, false)) ||
		    json_object_set_new(o, "practice", out_jstr(resp->practice, false)) ||
		    json_object_set_new(o, "instance", out_jstr(resp->instance, false)) ||
		    json_object_set_new(o, "value", out_jstr(resp->value, false)) ||
		    json_object_set_new(o, "version", json_integer(resp->version)) ||
		    json_object_set_new(o, "previous_value",
					out_jstr(resp->previous_value, true)) ||
		    json_object_set_new(o, "result", out_jstr(resp->result, true)) ||
		    json_object_set_new(o, "suggested", out_jstr(resp->suggested, true))) {
			json_decref(o);
			code = oom(ctx);
		} else {
			code = cli_emit_json(ctx, o);
		}
	} else if (!ctx->out->quiet) {
		/* ADM:SG1.SP1 on claims: LI (version 3; was FI) */
		FILE *f = ctx->out->out;
		out_put_safe(f, resp->practice);
		fputs(" on ", f);
		out_put_safe(f, resp->instance);
		fputs(": ", f);
		put_label(f, resp->value);
		fprintf(f, " (version %d", resp->version);
		if (strcmp(resp->result, "unchanged") == 0) {
			fputs("; unchanged", f);
		} else if (resp->previous_value[0]) {
			fputs("; was ", f);
			put_label(f, resp->previous_value);
		}
		fputc(')', f);
		if (resp->suggested[0] && strcasecmp(resp->suggested, resp->value) != 0) {
			fputs("; the evidence suggests ", f);
			put_label(f, resp->suggested);
		}
		fputc('\n', f);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- judge -------------------------------------------------------------- */

int cmd_judge(cli_ctx *ctx, const cli_args *args)
{
	static const char *const labels[] = {"FI", "LI", "PI", "NI", NULL};
	static const char *const nonempty[] = {"--practice", NULL};
	Opra__V1__JudgeRequest req = OPRA__V1__JUDGE_REQUEST__INIT;
	Opra__V1__JudgeReply *resp = NULL;
	const char *value = cli_opt(args, "--value"), *rationale = cli_opt(args, "--rationale");
	char label[3], key[33];
	int code;

	if ((code = require_nonempty(ctx, args, nonempty)) != 0)
		return code;
	if (!label_ok(value, labels, label))
		return cli_usage(
			ctx, "--value '%s' is not a judgement; use one of FI, LI, PI or NI", value);
	/* The method asks for the reason with every judgement. */
	bool blank = true;
	for (const char *p = rationale; *p; p++)
		blank = blank && isspace((unsigned char)*p);
	if (blank)
		return cli_usage(ctx, "--rationale must say why the team decided this label");
	req.appraisal = args->argv[0];
	req.practice = (char *)cli_opt(args, "--practice");
	req.value = label;
	req.rationale = (char *)rationale;
	rpc_new_key(key);
	if ((code = cli_call(ctx, M_JUDGE, &req.base, &opra__v1__judge_reply__descriptor, &resp,
			     key)) != 0)
		return code;
	if (ctx->out->json) {
		json_t *o = json_object();
		if (o == NULL ||
		    json_object_set_new(o, "appraisal", out_jstr(req.appraisal, false)) ||
		    json_object_set_new(o, "practice", out_jstr(resp->practice, false)) ||
		    json_object_set_new(o, "value", out_jstr(resp->value, false)) ||
		    json_object_set_new(o, "rationale", out_jstr(resp->rationale, false)) ||
		    json_object_set_new(o, "version", json_integer(resp->version)) ||
		    json_object_set_new(o, "status", out_jstr(resp->status, true))) {
			json_decref(o);
			code = oom(ctx);
		} else {
			code = cli_emit_json(ctx, o);
		}
	} else if (!ctx->out->quiet) {
		/* ADM:SG1.SP1: LI by the lead's judgement (version 1; used) */
		FILE *f = ctx->out->out;
		out_put_safe(f, resp->practice);
		fputs(": ", f);
		put_label(f, resp->value);
		fprintf(f, " by the lead's judgement (version %d", resp->version);
		if (resp->status[0]) {
			fputs("; ", f);
			out_put_safe(f, resp->status);
		}
		fputs(")\n", f);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- weakness add ------------------------------------------------------- */

int cmd_weakness_add(cli_ctx *ctx, const cli_args *args)
{
	static const char *const nonempty[] = {"--practice", "--instance", "--text", NULL};
	Opra__V1__WeaknessAddRequest req = OPRA__V1__WEAKNESS_ADD_REQUEST__INIT;
	Opra__V1__WeaknessReply *resp = NULL;
	char key[33];
	int code;

	/* `opra weakness add APPRAISAL`: the verb is the table's; the one
	 * positional is the appraisal. */
	if ((code = require_nonempty(ctx, args, nonempty)) != 0)
		return code;
	req.appraisal = args->argv[0];
	req.practice = (char *)cli_opt(args, "--practice");
	req.instance = (char *)cli_opt(args, "--instance");
	req.text = (char *)cli_opt(args, "--text");
	req.significant = cli_opt(args, "--significant") != NULL;
	rpc_new_key(key);
	if ((code = cli_call(ctx, M_WEAKNESS, &req.base, &opra__v1__weakness_reply__descriptor,
			     &resp, key)) != 0)
		return code;
	if (ctx->out->json) {
		json_t *o = json_object();
		if (o == NULL ||
		    json_object_set_new(o, "appraisal", out_jstr(req.appraisal, false)) ||
		    json_object_set_new(o, "id", json_integer((json_int_t)resp->id)) ||
		    json_object_set_new(o, "practice", out_jstr(resp->practice, false)) ||
		    json_object_set_new(o, "instance", out_jstr(resp->instance, false)) ||
		    json_object_set_new(o, "text", out_jstr(resp->text, false)) ||
		    json_object_set_new(o, "significant", json_boolean(resp->significant))) {
			json_decref(o);
			code = oom(ctx);
		} else {
			code = cli_emit_json(ctx, o);
		}
	} else if (ctx->out->quiet) {
		fprintf(ctx->out->out, "%lld\n", (long long)resp->id);
	} else {
		/* weakness #8 on ADM:SG1.SP1 at claims (significant) */
		FILE *f = ctx->out->out;
		fprintf(f, "%sweakness #%lld on ", resp->significant ? "significant " : "",
			(long long)resp->id);
		out_put_safe(f, resp->practice);
		fputs(" at ", f);
		out_put_safe(f, resp->instance);
		fputs(" recorded\n", f);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- rating show -------------------------------------------------------- */

static bool add_str(json_t *o, const char *name, const char *v, bool empty_is_null)
{
	return json_object_set_new(o, name, out_jstr(v, empty_is_null)) == 0;
}

/* Moves *v into o under name (jansson takes it even on failure). */
static bool take(json_t *o, const char *name, json_t **v)
{
	json_t *value = *v;

	*v = NULL;
	return json_object_set_new(o, name, value) == 0;
}

static json_t *practice_json(const Opra__V1__RatingShowReply *r, const Opra__V1__PracticeRating *p,
			     bool explain)
{
	json_t *o = json_object(), *inst = json_object(), *sugg = json_object(),
	       *vers = json_object();

	if (o == NULL || inst == NULL || sugg == NULL || vers == NULL)
		goto fail;
	/* Compact cells: one character per instance of r->instances (a
	 * server that predates them sends InstanceValue messages instead). */
	size_t nv = strlen(p->cell_values), ns = strlen(p->cell_suggested);
	for (size_t i = 0; p->n_instances == 0 && i < r->n_instances && i < nv; i++) {
		const char *value = rating_cell_word(p->cell_values[i]);
		const char *suggested = i < ns ? rating_cell_word(p->cell_suggested[i]) : NULL;
		int32_t version = i < p->n_cell_versions ? p->cell_versions[i] : 0;
		if (json_object_set_new(inst, r->instances[i],
					out_jstr(value ? value : "none", false)) ||
		    json_object_set_new(vers, r->instances[i], json_integer(version)) ||
		    (suggested &&
		     json_object_set_new(sugg, r->instances[i], out_jstr(suggested, false))))
			goto fail;
	}
	for (size_t i = 0; i < p->n_instances; i++) {
		const Opra__V1__InstanceValue *iv = p->instances[i];
		if (json_object_set_new(inst, iv->instance, out_jstr(iv->value, false)) ||
		    json_object_set_new(vers, iv->instance, json_integer(iv->version)) ||
		    (iv->suggested[0] &&
		     json_object_set_new(sugg, iv->instance, out_jstr(iv->suggested, false))))
			goto fail;
	}
	if (!add_str(o, "id", p->id, false) || !add_str(o, "org_value", p->org_value, false) ||
	    !take(o, "instances", &inst) || !take(o, "suggested", &sugg) ||
	    !take(o, "versions", &vers))
		goto fail;
	if (!add_str(o, "row", p->row, true) || !add_str(o, "judgement", p->judgement, true) ||
	    !add_str(o, "judgement_status", p->judgement_status, true) ||
	    json_object_set_new(o, "weaknesses", json_integer(p->weaknesses)) ||
	    json_object_set_new(o, "significant_weaknesses",
				json_integer(p->significant_weaknesses)) ||
	    (explain && !add_str(o, "explanation", p->explanation, true)))
		goto fail;
	return o;
fail:
	json_decref(o);
	json_decref(inst);
	json_decref(sugg);
	json_decref(vers);
	return NULL;
}

static json_t *goal_json(const Opra__V1__RatingShowReply *r, const Opra__V1__GoalRating *g,
			 bool explain)
{
	json_t *o = json_object(), *ps = json_array();

	if (o == NULL || ps == NULL)
		goto fail;
	for (size_t i = 0; i < g->n_practices; i++)
		if (json_array_append_new(ps, practice_json(r, g->practices[i], explain)) != 0)
			goto fail;
	if (!add_str(o, "id", g->id, false) || !add_str(o, "rating", g->rating, false) ||
	    json_object_set_new(o, "above_target", json_boolean(g->above_target)) ||
	    (explain && !add_str(o, "explanation", g->explanation, true)))
		goto fail;
	if (json_object_set_new(o, "practices", ps) != 0) {
		ps = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(o);
	json_decref(ps);
	return NULL;
}

/* A list of strings from the server as a JSON array (NULL when out of
 * memory). */
static json_t *str_array(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, out_jstr(v[i], false)) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* The goals that block a process area's next level (rating.proto
 * BlockingGoal) as JSON: [{"goal", "rating", "reasons", "explanation",
 * "practices": [{"id", "org_value", "reasons", "instances"}]}]. */
static json_t *blocking_json(const Opra__V1__PaRating *pa)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < pa->n_blocking; i++) {
		const Opra__V1__BlockingGoal *b = pa->blocking[i];
		json_t *o = json_object(), *ps = json_array(),
		       *rs = str_array(b->reasons, b->n_reasons);
		bool ok = o && ps && rs;
		for (size_t k = 0; ok && k < b->n_practices; k++) {
			const Opra__V1__BlockingPractice *bp = b->practices[k];
			json_t *x = json_object(), *xr = str_array(bp->reasons, bp->n_reasons),
			       *xi = str_array(bp->instances, bp->n_instances);
			ok = x && xr && xi && add_str(x, "id", bp->id, false) &&
			     add_str(x, "org_value", bp->org_value, false) &&
			     take(x, "reasons", &xr) && take(x, "instances", &xi) &&
			     json_array_append(ps, x) == 0;
			json_decref(x);
			json_decref(xr);
			json_decref(xi);
		}
		ok = ok && add_str(o, "goal", b->id, false) &&
		     add_str(o, "rating", b->rating, false) && take(o, "reasons", &rs) &&
		     add_str(o, "explanation", b->explanation, true) && take(o, "practices", &ps) &&
		     json_array_append(a, o) == 0;
		json_decref(o);
		json_decref(ps);
		json_decref(rs);
		if (!ok) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* capability_level is a number only when the status is rated: a not-rated
 * or out-of-scope process area must never read as level 0. level_reached
 * is what is confirmed so far (null when out of scope). */
static json_t *pa_json(const Opra__V1__RatingShowReply *r, const Opra__V1__PaRating *pa,
		       bool explain)
{
	json_t *o = json_object(), *gs = json_array();
	bool rated = strcmp(pa->status, "rated") == 0;
	bool out_of_scope = strcmp(pa->status, "out-of-scope") == 0;

	if (o == NULL || gs == NULL)
		goto fail;
	for (size_t i = 0; i < pa->n_goals; i++)
		if (json_array_append_new(gs, goal_json(r, pa->goals[i], explain)) != 0)
			goto fail;
	if (!add_str(o, "id", pa->id, false) || !add_str(o, "model", pa->model, true) ||
	    !add_str(o, "name", pa->name, true) ||
	    json_object_set_new(o, "capability_level",
				rated ? json_integer(pa->capability_level) : json_null()) ||
	    !add_str(o, "status", pa->status, false) ||
	    json_object_set_new(o, "target_level", json_integer(pa->target_level)) ||
	    json_object_set_new(o, "level_reached",
				out_of_scope || pa->level_reached < 0
					? json_null()
					: json_integer(pa->level_reached)) ||
	    (explain && !add_str(o, "explanation", pa->explanation, true)) ||
	    json_object_set_new(o, "gap", pa->gap >= 0 ? json_integer(pa->gap) : json_null()) ||
	    json_object_set_new(o, "next_level",
				pa->next_level > 0 ? json_integer(pa->next_level) : json_null()) ||
	    json_object_set_new(o, "blocking", blocking_json(pa)))
		goto fail;
	if (json_object_set_new(o, "goals", gs) != 0) {
		gs = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(o);
	json_decref(gs);
	return NULL;
}

static json_t *show_json(const Opra__V1__RatingShowReply *r, bool explain, bool by_unit)
{
	json_t *o = json_object(), *pas = json_array();

	if (o == NULL || pas == NULL)
		goto fail;
	for (size_t i = 0; i < r->n_process_areas; i++)
		if (json_array_append_new(pas, pa_json(r, r->process_areas[i], explain)) != 0)
			goto fail;
	if (!add_str(o, "appraisal", r->appraisal, false) ||
	    json_object_set_new(o, "sealed", json_boolean(r->sealed)) ||
	    !add_str(o, "head", r->head, true) ||
	    json_object_set_new(o, "events", json_integer((json_int_t)r->events)) ||
	    json_object_set_new(o, "characterisations",
				json_integer((json_int_t)r->characterisations)))
		goto fail;
	if (json_object_set_new(o, "process_areas", pas) != 0) {
		pas = NULL;
		goto fail;
	}
	pas = NULL;
	if (r->unit[0] && (!add_str(o, "unit", r->unit, false) ||
			   json_object_set_new(o, "unit_instances",
					       str_array(r->unit_instances, r->n_unit_instances))))
		goto fail;
	if (r->n_units > 0 || by_unit) {
		json_t *us = json_array();
		if (json_object_set_new(o, "units", us) != 0)
			goto fail;
		for (size_t i = 0; i < r->n_units; i++) {
			const Opra__V1__UnitRating *u = r->units[i];
			json_t *x = json_object(), *ps = json_array();
			bool ok = x && ps;
			for (size_t k = 0; ok && k < u->n_process_areas; k++)
				ok = json_array_append_new(
					     ps, pa_json(r, u->process_areas[k], false)) == 0;
			ok = ok && add_str(x, "unit", u->unit, false) &&
			     add_str(x, "parent", u->parent, true) &&
			     add_str(x, "site", u->site, true) &&
			     json_object_set_new(x, "instances",
						 str_array(u->instances, u->n_instances)) == 0 &&
			     take(x, "process_areas", &ps) && json_array_append(us, x) == 0;
			json_decref(x);
			json_decref(ps);
			if (!ok)
				goto fail;
		}
	}
	return o;
fail:
	json_decref(o);
	json_decref(pas);
	return NULL;
}

static void put_blocking_lines(FILE *f, const Opra__V1__PaRating *pa, bool all);

/* Up to this many practices per blocking goal in the human profile. */
#define BLOCKING_LIST 4

/* Under a profile line, one line per goal that blocks the next level:
 *     CL2 blocked by GG2 unsatisfied: CTRL:GG2.GP3 pi (partial) at billing, claims */
void put_blocking(FILE *f, const Opra__V1__PaRating *pa)
{
	put_blocking_lines(f, pa, true);
}

/* all: a line per blocking goal; otherwise one line in all (the goal's
 * line when only one goal blocks, else the goals' names). */
static void put_blocking_lines(FILE *f, const Opra__V1__PaRating *pa, bool all)
{
	if (!all && pa->n_blocking > 1) {
		fprintf(f, "    CL%d blocked by %zu goals:", pa->next_level, pa->n_blocking);
		for (size_t i = 0; i < pa->n_blocking; i++) {
			fputc(' ', f);
			out_put_safe(f, pa->blocking[i]->id);
		}
		fputs(" (--pa ", f);
		out_put_safe(f, pa->id);
		fputs(" lists why)\n", f);
		return;
	}
	for (size_t i = 0; i < pa->n_blocking; i++) {
		const Opra__V1__BlockingGoal *b = pa->blocking[i];
		fprintf(f, "    CL%d blocked by ", pa->next_level);
		out_put_safe(f, b->id);
		fputc(' ', f);
		out_put_safe(f, b->rating);
		if (b->n_practices == 0 && b->n_reasons > 0) {
			fputs(" (", f);
			for (size_t k = 0; k < b->n_reasons; k++) {
				fputs(k ? ", " : "", f);
				out_put_safe(f, b->reasons[k]);
			}
			fputc(')', f);
		}
		for (size_t k = 0; k < b->n_practices && k < BLOCKING_LIST; k++) {
			const Opra__V1__BlockingPractice *bp = b->practices[k];
			fputs(k ? "; " : ": ", f);
			out_put_safe(f, bp->id);
			fputc(' ', f);
			put_label(f, bp->org_value);
			fputs(" (", f);
			for (size_t r = 0; r < bp->n_reasons; r++) {
				fputs(r ? ", " : "", f);
				out_put_safe(f, bp->reasons[r]);
			}
			fputc(')', f);
			for (size_t n = 0; n < bp->n_instances && n < BLOCKING_LIST; n++) {
				fputs(n ? ", " : " at ", f);
				out_put_safe(f, bp->instances[n]);
			}
			if (bp->n_instances > BLOCKING_LIST)
				fprintf(f, " and %zu more", bp->n_instances - BLOCKING_LIST);
		}
		if (b->n_practices > BLOCKING_LIST)
			fprintf(f, "; and %zu more", b->n_practices - BLOCKING_LIST);
		fputc('\n', f);
	}
}

/* A process area's level in a table cell: "CL2", "-" (not rated), "n/a"
 * (out of scope). */
const char *rating_level_cell(const Opra__V1__PaRating *pa, char buf[16])
{
	if (strcmp(pa->status, "rated") == 0) {
		snprintf(buf, 16, "CL%d", pa->capability_level);
		return buf;
	}
	return strcmp(pa->status, "out-of-scope") == 0 ? "n/a" : "-";
}

#define CELL_W 64

/* The per-unit view: one row for the organisation, one per unit, one
 * column per process area (its level; "(gap N)" below the target). */
int rating_units_text(cli_ctx *ctx, const Opra__V1__RatingShowReply *r)
{
	size_t npa = r->n_process_areas, ncols = 3 + npa;
	const char **headers = calloc(ncols, sizeof(*headers));
	char *cells = calloc((r->n_units + 1) * (npa + 1), CELL_W);
	out_table t;
	int rc = 0;

	if (headers == NULL || cells == NULL) {
		free(headers);
		free(cells);
		return oom(ctx);
	}
	headers[0] = "UNIT";
	headers[1] = "SITE";
	headers[2] = "INSTANCES";
	for (size_t k = 0; k < npa; k++)
		headers[3 + k] = r->process_areas[k]->id;
	out_table_init(&t, ncols, headers);
	const char **row = calloc(ncols, sizeof(*row));
	for (size_t u = 0; row != NULL && u <= r->n_units; u++) {
		char *c = cells + u * (npa + 1) * CELL_W;
		Opra__V1__PaRating **pas =
			u == 0 ? r->process_areas : r->units[u - 1]->process_areas;
		size_t n = u == 0 ? r->n_process_areas : r->units[u - 1]->n_process_areas;
		row[0] = u == 0 ? "(organisation)" : r->units[u - 1]->unit;
		row[1] = u == 0 ? "" : r->units[u - 1]->site;
		snprintf(c, CELL_W, "%zu", u == 0 ? r->n_instances : r->units[u - 1]->n_instances);
		row[2] = c;
		for (size_t k = 0; k < npa; k++) {
			char *cell = c + (k + 1) * CELL_W, lv[16];
			if (k >= n) {
				row[3 + k] = NULL;
				continue;
			}
			const char *l = rating_level_cell(pas[k], lv);
			if (pas[k]->gap > 0)
				snprintf(cell, CELL_W, "%s (gap %d)", l, pas[k]->gap);
			else
				snprintf(cell, CELL_W, "%s", l);
			row[3 + k] = cell;
		}
		if (out_table_add(&t, row) != OPRA_OK)
			rc = oom(ctx);
	}
	if (row == NULL)
		rc = oom(ctx);
	if (rc == 0) {
		fputs("\nby unit (the same rules over the instances of each unit):\n",
		      ctx->out->out);
		out_table_print(ctx->out, &t);
		if (r->n_units == 0)
			fputs("no unit holds an instance of this appraisal\n", ctx->out->out);
	}
	out_table_free(&t);
	free(row);
	free(headers);
	free(cells);
	return rc;
}

/* The capability profile: one line per process area,
 *   SC   CL2  target 3  rated
 * and, with goals (--pa or --explain), the goal ratings under it; with
 * explain the engine's sentences indented under each. */
static void show_text(FILE *f, const Opra__V1__RatingShowReply *r, bool goals, bool explain)
{
	int width = 2;

	for (size_t i = 0; i < r->n_process_areas; i++) {
		int n = (int)strlen(r->process_areas[i]->id);
		if (n > width && n < 40)
			width = n;
	}
	fputs("appraisal ", f);
	out_put_safe(f, r->appraisal);
	fprintf(f, " (%s; %lld characterisations", r->sealed ? "finalised" : "open",
		(long long)r->characterisations);
	if (r->head[0])
		fprintf(f, "; chain head %.12s", r->head);
	fputs(")\n", f);
	if (r->unit[0]) {
		fputs("unit ", f);
		out_put_safe(f, r->unit);
		fputs(" only:", f);
		for (size_t i = 0; i < r->n_unit_instances; i++) {
			fputc(' ', f);
			out_put_safe(f, r->unit_instances[i]);
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		bool rated = strcmp(pa->status, "rated") == 0;
		bool out_of_scope = strcmp(pa->status, "out-of-scope") == 0;
		int pad = width - (int)strlen(pa->id);

		out_put_safe(f, pa->id);
		fprintf(f, "%*s  ", pad > 0 ? pad : 0, "");
		if (rated)
			fprintf(f, "CL%d", pa->capability_level);
		else
			fputs("-  ", f);
		if (out_of_scope)
			fputs("  out-of-scope", f);
		else
			fprintf(f, "  target %d  ", pa->target_level);
		if (!out_of_scope)
			out_put_safe(f, pa->status);
		if (!rated && !out_of_scope && pa->level_reached >= 0)
			fprintf(f, " (CL%d confirmed so far)", pa->level_reached);
		if (pa->gap > 0)
			fprintf(f, "  gap %d", pa->gap);
		fputc('\n', f);
		put_blocking_lines(f, pa, goals);
		if (explain && pa->explanation[0])
			put_indented(f, "    ", pa->explanation);
		if (!goals)
			continue;
		for (size_t k = 0; k < pa->n_goals; k++) {
			const Opra__V1__GoalRating *g = pa->goals[k];
			fputs("  ", f);
			out_put_safe(f, g->id);
			fputs("  ", f);
			out_put_safe(f, g->rating);
			if (g->above_target)
				fputs(" (above the target: not counted)", f);
			fputc('\n', f);
			/* Goals above the target never count: their sentences
			 * stay in --json, not in the profile. */
			if (explain && g->explanation[0] && !g->above_target)
				put_indented(f, "      ", g->explanation);
		}
	}
	if (r->n_process_areas == 0)
		fputs("no process areas in scope\n", f);
}

int cmd_rating_show(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	Opra__V1__RatingShowReply *resp = NULL;
	const char *pa = cli_opt(args, "--pa");
	const char *unit = cli_opt(args, "--unit");
	bool explain = cli_opt(args, "--explain") != NULL;
	bool by_unit = cli_opt(args, "--by-unit") != NULL;
	int code;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "APPRAISAL must not be empty");
	if (pa != NULL && pa[0] == '\0')
		return cli_usage(ctx, "--pa needs a process area, e.g. SC or cert-rmm-1.2/SC");
	if (unit != NULL && unit[0] == '\0')
		return cli_usage(ctx, "--unit needs a unit name (opra unit list shows them)");
	req.appraisal = args->argv[0];
	req.process_area = (char *)(pa ? pa : "");
	req.unit = (char *)(unit ? unit : "");
	req.by_unit = by_unit;
	req.explain = explain;
	req.compact = true; /* a tenth of the reply for a full appraisal */
	if ((code = cli_call(ctx, M_SHOW, &req.base, &opra__v1__rating_show_reply__descriptor,
			     &resp, NULL)) != 0)
		return code;
	if (ctx->out->json) {
		json_t *doc = show_json(resp, explain, by_unit);
		code = doc ? cli_emit_json(ctx, doc) : oom(ctx);
	} else {
		show_text(ctx->out->out, resp, pa != NULL || explain, explain);
		if (by_unit)
			code = rating_units_text(ctx, resp);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}
