/* opra.v1.Plan (proto/opra/v1/plan.proto, docs/plan.md): the improvement
 * plan of an appraisal: actions tied to goals and practices of its scope,
 * with owner, due date, status, estimated and actual cost, and a version
 * for optimistic concurrency.
 *
 * Plans are made after an appraisal is finalised, so a plan change never
 * opens the appraisal for writing (no APPR_WRITE) and never appends to its
 * hash chain: it is recorded with call_event in the non-chained event log
 * (object "plan:APPRAISAL#N", the action before and after), in the same
 * transaction as the change. The appraisal row is locked (APPR_LOCK) so
 * numbering and the plan's single currency are decided one writer at a
 * time. */
#include "appraisal.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"
#include "opra_text.h"

#include "opra/v1/plan.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_TITLE_MAX	 200
#define PLAN_OWNER_MAX	 128
#define PLAN_TARGETS_MAX 50
#define PLAN_NUMBER_MAX	 1000000
/* 10^17 hundredths: far beyond any budget, well inside int64 sums. */
#define PLAN_COST_MAX 100000000000000000LL

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- validation (before authentication) ---- */

static int check_status(const char *s)
{
	static const char *const ok[] = {"planned", "in-progress", "done", "dropped"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(s, ok[i]) == 0)
			return OPRA_OK;
	return opra_err_set(OPRA_INVALID_ARGUMENT,
			    "unknown status '%.40s': use planned, in-progress, done or dropped", s);
}

/* YYYY-MM-DD, a real calendar date (years 1900-9999). */
static int check_date(const char *s)
{
	int y = 0, m = 0, d = 0;
	int shape = strlen(s) == 10 && s[4] == '-' && s[7] == '-';
	for (int i = 0; shape && i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			shape = 0;
	if (shape) {
		y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		m = (s[5] - '0') * 10 + (s[6] - '0');
		d = (s[8] - '0') * 10 + (s[9] - '0');
	}
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (!shape || y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap))
		return opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"due date '%.40s' is not a date: write YYYY-MM-DD, e.g. 2027-03-31", s);
	return OPRA_OK;
}

static int check_currency(const char *s)
{
	if (strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' ||
	    s[2] > 'Z')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "currency '%.40s' is not an ISO 4217 code: write three capital "
				    "letters, e.g. EUR or USD",
				    s);
	return OPRA_OK;
}

static int check_cost(const char *what, int64_t v)
{
	if (v < 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the %s cannot be negative: give an amount of 0 or more", what);
	if (v > PLAN_COST_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the %s is too large (at most 10^15 currency units)", what);
	return OPRA_OK;
}

static int check_title(const char *s)
{
	if (s[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "give the action a title");
	return opra_name_check("the title", s, PLAN_TITLE_MAX);
}

static int check_owner(const char *s)
{
	return s[0] ? opra_name_check("the owner", s, PLAN_OWNER_MAX) : OPRA_OK;
}

static int check_targets(size_t n_goals, char **goals, size_t n_practices, char **practices)
{
	int rc;
	if (n_goals + n_practices == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "tie the action to at least one goal (e.g. SC:SG2) or practice "
				    "(e.g. SC:SG1.SP2) of the appraisal");
	if (n_goals + n_practices > PLAN_TARGETS_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "an action names at most %d goals and practices (got %zu)",
				    PLAN_TARGETS_MAX, n_goals + n_practices);
	for (size_t i = 0; i < n_goals; i++)
		if ((rc = opra_name_check("a goal id", goals[i], PRACTICE_ID_MAX)) != OPRA_OK)
			return rc;
	for (size_t i = 0; i < n_practices; i++)
		if ((rc = opra_name_check("a practice id", practices[i], PRACTICE_ID_MAX)) !=
		    OPRA_OK)
			return rc;
	return OPRA_OK;
}

static int add_validate(const ProtobufCMessage *in)
{
	const Opra__V1__PlanAddRequest *r = (const Opra__V1__PlanAddRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK || (rc = check_title(r->title)) ||
	    (rc = check_owner(r->owner)) != OPRA_OK)
		return rc;
	if (r->due[0] && (rc = check_date(r->due)) != OPRA_OK)
		return rc;
	if (r->status[0] && (rc = check_status(r->status)) != OPRA_OK)
		return rc;
	if (r->currency[0] && (rc = check_currency(r->currency)) != OPRA_OK)
		return rc;
	if ((rc = check_cost("estimated cost", r->estimated_cost)) != OPRA_OK ||
	    (rc = check_cost("actual cost", r->actual_cost)) != OPRA_OK)
		return rc;
	return check_targets(r->n_goals, r->goals, r->n_practices, r->practices);
}

static int update_validate(const ProtobufCMessage *in)
{
	const Opra__V1__PlanUpdateRequest *r = (const Opra__V1__PlanUpdateRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->number < 1 || r->number > PLAN_NUMBER_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "action number %d is out of range: actions are numbered from 1 "
				    "(see opra plan list)",
				    (int)r->number);
	if (r->set_title && (rc = check_title(r->title)) != OPRA_OK)
		return rc;
	if (r->set_owner && (rc = check_owner(r->owner)) != OPRA_OK)
		return rc;
	if (r->set_due && r->due[0] && (rc = check_date(r->due)) != OPRA_OK)
		return rc;
	if (r->set_status && (rc = check_status(r->status)) != OPRA_OK)
		return rc;
	if (r->set_estimated_cost && (rc = check_cost("estimated cost", r->estimated_cost)) != 0)
		return rc;
	if (r->set_actual_cost && (rc = check_cost("actual cost", r->actual_cost)) != OPRA_OK)
		return rc;
	if (r->set_targets &&
	    (rc = check_targets(r->n_goals, r->goals, r->n_practices, r->practices)) != OPRA_OK)
		return rc;
	if (r->check_version && r->expect_version < 1)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "expected version %d is out of range: actions start at version "
				    "1",
				    (int)r->expect_version);
	return OPRA_OK;
}

static int list_validate(const ProtobufCMessage *in)
{
	const Opra__V1__PlanListRequest *r = (const Opra__V1__PlanListRequest *)in;
	int rc = appraisal_check_name(r->appraisal);
	if (rc == OPRA_OK && r->status[0])
		rc = check_status(r->status);
	return rc;
}

/* ---- targets ---- */

typedef struct {
	long long pa_id;
	long long goal_id;     /* 0 for a practice */
	long long practice_id; /* 0 for a goal */
	char label[PRACTICE_ID_MAX + 1];
} plan_target;

/* A goal of the appraisal's scope: "SC:SG2" or "MODEL/SC:SG2"
 * (case-insensitive). Errors like appraisal_practice's. */
static int resolve_goal(call *c, const appraisal_ref *a, const char *spec, plan_target *t)
{
	PGresult *r = NULL;
	char aid[32], model[72] = "", pa[PRACTICE_ID_MAX + 1];
	const char *code = spec, *slash = strchr(spec, '/');
	int rc;

	if (slash) {
		size_t n = (size_t)(slash - spec);
		if (n == 0 || n >= sizeof(model))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "'%s' is not a goal id: write PA:GOAL (e.g. SC:SG2) or "
					    "MODEL/PA:GOAL",
					    spec);
		memcpy(model, spec, n);
		model[n] = '\0';
		code = slash + 1;
	}
	const char *colon = strchr(code, ':');
	if (colon == NULL || colon == code || colon[1] == '\0' || strchr(colon + 1, ':') ||
	    strchr(colon + 1, '.'))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "'%s' is not a goal id: write PA:GOAL, e.g. SC:SG2 or SC:GG2 "
				    "(a practice, like SC:SG1.SP2, goes with --practice)",
				    spec);
	snprintf(pa, sizeof(pa), "%.*s", (int)(colon - code), code);
	snprintf(aid, sizeof(aid), "%lld", a->id);
	const char *p[4] = {aid, pa, colon + 1, model};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT g.id, pa.id, pa.code || ':' || g.code, m.key, "
			  "ap.pa_id IS NOT NULL FROM goals g "
			  "JOIN process_areas pa ON pa.id = g.pa_id "
			  "JOIN models m ON m.id = pa.model_id "
			  "JOIN appraisal_models am ON am.model_id = m.id "
			  "AND am.appraisal_id = $1::bigint "
			  "LEFT JOIN appraisal_pas ap ON ap.appraisal_id = $1::bigint "
			  "AND ap.pa_id = pa.id "
			  "WHERE lower(pa.code) = lower($2) AND lower(g.code) = lower($3) "
			  "AND ($4 = '' OR m.key = lower($4)) ORDER BY m.key",
			  4, p)) != OPRA_OK)
		return rc;
	int n = PQntuples(r), in_scope = 0, pick = -1;
	for (int i = 0; i < n; i++)
		if (PQgetvalue(r, i, 4)[0] == 't') {
			in_scope++;
			pick = i;
		}
	if (n == 0)
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "goal '%s' is not in the models of appraisal '%s' (opra model "
				  "show MODEL --pa PA lists a process area's goals)",
				  spec, a->name);
	else if (in_scope == 0)
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "goal %s (of %s) is not in the scope of appraisal '%s' (opra "
				  "appraisal show '%s' lists its process areas)",
				  PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), a->name, a->name);
	else if (in_scope > 1)
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "goal '%s' exists in more than one model of appraisal '%s': "
				  "write MODEL/%s",
				  spec, a->name, code);
	if (rc == OPRA_OK) {
		t->goal_id = db_to_ll(PQgetvalue(r, pick, 0));
		t->pa_id = db_to_ll(PQgetvalue(r, pick, 1));
		t->practice_id = 0;
		snprintf(t->label, sizeof(t->label), "%s", PQgetvalue(r, pick, 2));
	}
	PQclear(r);
	return rc;
}

static int resolve_practice(call *c, const appraisal_ref *a, const char *spec, plan_target *t)
{
	PGresult *r = NULL;
	char pid[32];
	long long id = 0;
	int rc = appraisal_practice(c, a, spec, &id, t->label);
	if (rc != OPRA_OK)
		return rc;
	snprintf(pid, sizeof(pid), "%lld", id);
	const char *p[1] = {pid};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT g.pa_id FROM practices p JOIN goals g ON g.id = p.goal_id "
			  "WHERE p.id = $1::bigint",
			  1, p)) != OPRA_OK)
		return rc;
	if (PQntuples(r) == 1) {
		t->pa_id = db_to_ll(PQgetvalue(r, 0, 0));
		t->goal_id = 0;
		t->practice_id = id;
	} else {
		rc = opra_err_set(OPRA_ABORTED, "practice %s changed while it was read; retry",
				  spec);
	}
	PQclear(r);
	return rc;
}

/* Resolves every goal and practice (in that order), dropping repeats,
 * into *out (caller frees with opra_free). */
static int resolve_targets(call *c, const appraisal_ref *a, size_t n_goals, char **goals,
			   size_t n_practices, char **practices, plan_target **out, size_t *n_out)
{
	size_t n = n_goals + n_practices, k = 0;
	plan_target *t = opra_calloc(n + 1, sizeof(*t));
	int rc = OPRA_OK;

	*out = NULL;
	*n_out = 0;
	if (t == NULL)
		return oom();
	for (size_t i = 0; rc == OPRA_OK && i < n; i++) {
		plan_target x;
		memset(&x, 0, sizeof(x));
		rc = i < n_goals ? resolve_goal(c, a, goals[i], &x)
				 : resolve_practice(c, a, practices[i - n_goals], &x);
		if (rc != OPRA_OK)
			break;
		size_t j = 0;
		while (j < k && !(t[j].goal_id == x.goal_id && t[j].practice_id == x.practice_id))
			j++;
		if (j == k)
			t[k++] = x;
	}
	if (rc != OPRA_OK) {
		opra_free(t);
		return rc;
	}
	*out = t;
	*n_out = k;
	return OPRA_OK;
}

static int store_targets(call *c, const char *action_id, const plan_target *t, size_t n)
{
	int rc = db_cmd(c->db, "DELETE FROM plan_action_targets WHERE action_id = $1::bigint", 1,
			&action_id);
	for (size_t i = 0; rc == OPRA_OK && i < n; i++) {
		char ord[32], pa[32], goal[32], prac[32];
		snprintf(ord, sizeof(ord), "%zu", i + 1);
		snprintf(pa, sizeof(pa), "%lld", t[i].pa_id);
		snprintf(goal, sizeof(goal), "%lld", t[i].goal_id);
		snprintf(prac, sizeof(prac), "%lld", t[i].practice_id);
		const char *p[6] = {action_id,
				    ord,
				    pa,
				    t[i].goal_id ? goal : NULL,
				    t[i].practice_id ? prac : NULL,
				    t[i].label};
		rc = db_cmd(c->db,
			    "INSERT INTO plan_action_targets (action_id, ord, pa_id, goal_id, "
			    "practice_id, label) VALUES ($1::bigint, $2::integer, $3::bigint, "
			    "$4::bigint, $5::bigint, $6)",
			    6, p);
	}
	return rc;
}

/* ---- reading actions ---- */

/* Actions of one appraisal (all, one number, or one status) with their
 * targets, as PlanAction messages pointing into the results. */
typedef struct {
	PGresult *actions, *targets;
	Opra__V1__PlanAction *rows;
	Opra__V1__PlanAction **ptrs;
	Opra__V1__PlanTarget *trows;
	Opra__V1__PlanTarget **tptrs;
	size_t n;
} plan_view;

static void view_free(plan_view *v)
{
	PQclear(v->actions);
	PQclear(v->targets);
	opra_free(v->rows);
	opra_free(v->ptrs);
	opra_free(v->trows);
	opra_free(v->tptrs);
	memset(v, 0, sizeof(*v));
}

/* The actions of appraisal $1: all ($2 = '0') or number $2, of every
 * status ($3 = '') or status $3. */
#define PLAN_ACTIONS_SQL                                                                           \
	"SELECT pl.id, pl.number, pl.title, pl.owner, "                                            \
	"coalesce(to_char(pl.due, 'YYYY-MM-DD'), ''), pl.status, pl.currency, "                    \
	"pl.estimated_cost, pl.actual_cost, pl.version, cu.name, "                                 \
	"to_char(pl.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), uu.name, "   \
	"to_char(pl.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "             \
	"FROM plan_actions pl "                                                                    \
	"JOIN users cu ON cu.id = pl.created_by JOIN users uu ON uu.id = pl.updated_by "           \
	"WHERE pl.appraisal_id = $1::bigint AND ($2 = '0' OR pl.number = $2::integer) "            \
	"AND ($3 = '' OR pl.status = $3) ORDER BY pl.number"

/* number 0: every action; status "": every status. */
static int view_load(plan_view *v, call *c, const appraisal_ref *a, int number, const char *status)
{
	char aid[32], num[16];
	int rc;

	memset(v, 0, sizeof(*v));
	snprintf(aid, sizeof(aid), "%lld", a->id);
	snprintf(num, sizeof(num), "%d", number);
	const char *p[3] = {aid, num, status};
	if ((rc = db_exec(&v->actions, c->db, 1, PLAN_ACTIONS_SQL, 3, p)) != OPRA_OK)
		return rc;
	if ((rc = db_exec(&v->targets, c->db, 1,
			  "SELECT pl.number, CASE WHEN t.goal_id IS NULL THEN 'practice' ELSE "
			  "'goal' END, t.label, m.key, pa.code FROM plan_action_targets t "
			  "JOIN plan_actions pl ON pl.id = t.action_id "
			  "JOIN process_areas pa ON pa.id = t.pa_id "
			  "JOIN models m ON m.id = pa.model_id "
			  "WHERE pl.appraisal_id = $1::bigint AND ($2 = '0' OR pl.number = "
			  "$2::integer) AND ($3 = '' OR pl.status = $3) ORDER BY pl.number, t.ord",
			  3, p)) != OPRA_OK)
		return rc;
	size_t n = (size_t)PQntuples(v->actions), nt = (size_t)PQntuples(v->targets);
	v->rows = opra_calloc(n + 1, sizeof(*v->rows));
	v->ptrs = opra_calloc(n + 1, sizeof(*v->ptrs));
	v->trows = opra_calloc(nt + 1, sizeof(*v->trows));
	v->tptrs = opra_calloc(nt + 1, sizeof(*v->tptrs));
	if (!v->rows || !v->ptrs || !v->trows || !v->tptrs)
		return oom();
	for (size_t i = 0; i < nt; i++) {
		Opra__V1__PlanTarget *t = &v->trows[i];
		opra__v1__plan_target__init(t);
		t->kind = PQgetvalue(v->targets, (int)i, 1);
		t->id = PQgetvalue(v->targets, (int)i, 2);
		t->model = PQgetvalue(v->targets, (int)i, 3);
		t->process_area = PQgetvalue(v->targets, (int)i, 4);
		v->tptrs[i] = t;
	}
	/* Both results are ordered by number: walk them together. */
	size_t ti = 0;
	for (size_t i = 0; i < n; i++) {
		PGresult *r = v->actions;
		int row = (int)i;
		Opra__V1__PlanAction *x = &v->rows[i];
		opra__v1__plan_action__init(x);
		x->appraisal = (char *)a->name;
		x->number = (int32_t)db_to_ll(PQgetvalue(r, row, 1));
		x->title = PQgetvalue(r, row, 2);
		x->owner = PQgetvalue(r, row, 3);
		x->due = PQgetvalue(r, row, 4);
		x->status = PQgetvalue(r, row, 5);
		x->currency = PQgetvalue(r, row, 6);
		x->estimated_cost = db_to_ll(PQgetvalue(r, row, 7));
		x->actual_cost = db_to_ll(PQgetvalue(r, row, 8));
		x->version = (int32_t)db_to_ll(PQgetvalue(r, row, 9));
		x->created_by = PQgetvalue(r, row, 10);
		x->created_at = PQgetvalue(r, row, 11);
		x->updated_by = PQgetvalue(r, row, 12);
		x->updated_at = PQgetvalue(r, row, 13);
		while (ti < nt && db_to_ll(PQgetvalue(v->targets, (int)ti, 0)) < x->number)
			ti++;
		size_t first = ti;
		while (ti < nt && db_to_ll(PQgetvalue(v->targets, (int)ti, 0)) == x->number)
			ti++;
		x->n_targets = ti - first;
		x->targets = &v->tptrs[first];
		v->ptrs[i] = x;
	}
	v->n = n;
	return OPRA_OK;
}

/* The action as JSON text for the event log (caller frees with free()). */
static char *action_json(const Opra__V1__PlanAction *x)
{
	json_t *targets = json_array();
	for (size_t i = 0; targets && i < x->n_targets; i++)
		if (json_array_append_new(targets, json_string(x->targets[i]->id)) != 0) {
			json_decref(targets);
			return NULL;
		}
	if (targets == NULL)
		return NULL;
	json_t *o = json_pack(
		"{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:o}", "appraisal",
		x->appraisal, "number", (int)x->number, "title", x->title, "owner", x->owner, "due",
		x->due, "status", x->status, "currency", x->currency, "estimated_cost",
		(json_int_t)x->estimated_cost, "actual_cost", (json_int_t)x->actual_cost, "version",
		(int)x->version, "targets", targets);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

/* Loads action `number`, replies with it and `result`, and (when before
 * is not NULL or the action is new) records the event. */
static int reply_action(call *c, const appraisal_ref *a, int number, const char *result,
			const char *before, int record)
{
	plan_view v;
	char *after = NULL;
	int rc = view_load(&v, c, a, number, "");
	if (rc == OPRA_OK && v.n != 1)
		rc = opra_err_set(OPRA_INTERNAL, "action %d of appraisal '%s' vanished", number,
				  a->name);
	if (rc == OPRA_OK && record) {
		char object[APPRAISAL_NAME_MAX + 32];
		snprintf(object, sizeof(object), "plan:%s#%d", a->name, number);
		if ((after = action_json(v.ptrs[0])) == NULL)
			rc = oom();
		else
			rc = call_event(c, object, before, after);
	}
	if (rc == OPRA_OK) {
		Opra__V1__PlanActionReply reply = OPRA__V1__PLAN_ACTION_REPLY__INIT;
		reply.action = v.ptrs[0];
		reply.result = (char *)result;
		rc = call_reply(c, &reply.base);
	}
	free(after);
	view_free(&v);
	return rc;
}

/* The currency of the appraisal's plan into out ("" when it has none). */
static int plan_currency(call *c, const appraisal_ref *a, char out[4])
{
	PGresult *r = NULL;
	char aid[32];
	snprintf(aid, sizeof(aid), "%lld", a->id);
	const char *p[1] = {aid};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT currency FROM plan_actions WHERE appraisal_id = $1::bigint "
			 "ORDER BY number LIMIT 1",
			 1, p);
	if (rc != OPRA_OK)
		return rc;
	snprintf(out, 4, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return OPRA_OK;
}

/* ---- Add ---- */

#define PLAN_WRITERS	 MEMBER_LEAD
#define PLAN_WRITE_FLAGS (APPR_STAFF_WRITES | APPR_LOCK) /* no APPR_WRITE: sealed is fine */

static int plan_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__PlanAddRequest *r = (const Opra__V1__PlanAddRequest *)in;
	appraisal_ref a;
	plan_target *t = NULL;
	size_t nt = 0;
	PGresult *res = NULL;
	char cur[4], aid[32], uid[32], est[32], act[32];
	int rc;

	if ((rc = appraisal_open(c, r->appraisal, PLAN_WRITERS, PLAN_WRITE_FLAGS, &a)) != OPRA_OK)
		return rc;
	if ((rc = plan_currency(c, &a, cur)) != OPRA_OK)
		return rc;
	const char *currency = r->currency[0] ? r->currency : cur[0] ? cur : "USD";
	if (cur[0] && strcmp(cur, currency) != 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the plan of appraisal '%s' counts in %s, not %s: give amounts "
				    "in %s (one currency per plan keeps its totals meaningful)",
				    a.name, cur, currency, cur);
	if ((rc = resolve_targets(c, &a, r->n_goals, r->goals, r->n_practices, r->practices, &t,
				  &nt)) != OPRA_OK)
		return rc;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	snprintf(est, sizeof(est), "%lld", (long long)r->estimated_cost);
	snprintf(act, sizeof(act), "%lld", (long long)r->actual_cost);
	const char *p[10] = {aid,
			     r->title,
			     r->owner,
			     r->due[0] ? r->due : NULL,
			     r->status[0] ? r->status : "planned",
			     currency,
			     est,
			     act,
			     uid,
			     NULL};
	if ((rc = db_exec(&res, c->db, 1,
			  "INSERT INTO plan_actions (appraisal_id, number, title, owner, due, "
			  "status, currency, estimated_cost, actual_cost, created_by, updated_by) "
			  "SELECT $1::bigint, coalesce(max(number), 0) + 1, $2, $3, $4::date, $5, "
			  "$6, $7::bigint, $8::bigint, $9::bigint, $9::bigint FROM plan_actions "
			  "WHERE appraisal_id = $1::bigint RETURNING id, number",
			  9, p)) != OPRA_OK)
		goto done;
	char action_id[32];
	snprintf(action_id, sizeof(action_id), "%s", PQgetvalue(res, 0, 0));
	int number = (int)db_to_ll(PQgetvalue(res, 0, 1));
	if ((rc = store_targets(c, action_id, t, nt)) != OPRA_OK)
		goto done;
	rc = reply_action(c, &a, number, "added", NULL, 1);
done:
	PQclear(res);
	opra_free(t);
	return rc;
}

/* ---- Update ---- */

static int plan_update(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__PlanUpdateRequest *r = (const Opra__V1__PlanUpdateRequest *)in;
	appraisal_ref a;
	plan_view v;
	plan_target *t = NULL;
	size_t nt = 0;
	char *before = NULL, *after_check = NULL;
	char aid[32], num[16], uid[32], est[32], act[32];
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = appraisal_open(c, r->appraisal, PLAN_WRITERS, PLAN_WRITE_FLAGS, &a)) != OPRA_OK)
		return rc;
	if ((rc = view_load(&v, c, &a, r->number, "")) != OPRA_OK)
		goto done;
	if (v.n == 0) {
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "appraisal '%s' has no action %d in its plan (see opra plan "
				  "list '%s')",
				  a.name, (int)r->number, a.name);
		goto done;
	}
	const Opra__V1__PlanAction *old = v.ptrs[0];
	if (r->check_version && r->expect_version != old->version) {
		char details[64];
		rc = opra_err_set(OPRA_ABORTED,
				  "action %d of appraisal '%s' is at version %d (changed by %s at "
				  "%s); you expected version %d: review it (opra plan list '%s') "
				  "and retry with --expect-version %d",
				  (int)r->number, a.name, (int)old->version, old->updated_by,
				  old->updated_at, (int)r->expect_version, a.name,
				  (int)old->version);
		snprintf(details, sizeof(details), "{\"current_version\":%d}", (int)old->version);
		opra_err_set_details(details);
		goto done;
	}
	if (r->set_targets && (rc = resolve_targets(c, &a, r->n_goals, r->goals, r->n_practices,
						    r->practices, &t, &nt)) != OPRA_OK)
		goto done;
	if ((before = action_json(old)) == NULL) {
		rc = oom();
		goto done;
	}
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(num, sizeof(num), "%d", (int)r->number);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	snprintf(est, sizeof(est), "%lld", (long long)r->estimated_cost);
	snprintf(act, sizeof(act), "%lld", (long long)r->actual_cost);
	const char *p[9] = {aid,
			    num,
			    r->set_title ? r->title : old->title,
			    r->set_owner ? r->owner : old->owner,
			    r->set_due ? (r->due[0] ? r->due : NULL)
				       : (old->due[0] ? old->due : NULL),
			    r->set_status ? r->status : old->status,
			    r->set_estimated_cost ? est : NULL,
			    r->set_actual_cost ? act : NULL,
			    uid};
	char action_id[32];
	snprintf(action_id, sizeof(action_id), "%s", PQgetvalue(v.actions, 0, 0));
	if (r->set_targets && (rc = store_targets(c, action_id, t, nt)) != OPRA_OK)
		goto done;
	if ((rc = db_cmd(c->db,
			 "UPDATE plan_actions SET title = $3, owner = $4, due = $5::date, "
			 "status = $6, estimated_cost = coalesce($7::bigint, estimated_cost), "
			 "actual_cost = coalesce($8::bigint, actual_cost) "
			 "WHERE appraisal_id = $1::bigint AND number = $2::integer",
			 8, p)) != OPRA_OK)
		goto done;
	/* Compare what is stored now with before: an update that changes
	 * nothing keeps the version and records no event. */
	plan_view now;
	if ((rc = view_load(&now, c, &a, r->number, "")) != OPRA_OK) {
		view_free(&now);
		goto done;
	}
	after_check = now.n == 1 ? action_json(now.ptrs[0]) : NULL;
	view_free(&now);
	if (after_check == NULL) {
		rc = oom();
		goto done;
	}
	if (strcmp(before, after_check) == 0) {
		rc = reply_action(c, &a, r->number, "unchanged", NULL, 0);
		goto done;
	}
	const char *pv[3] = {aid, num, uid};
	if ((rc = db_cmd(c->db,
			 "UPDATE plan_actions SET version = version + 1, updated_by = $3::bigint, "
			 "updated_at = now() WHERE appraisal_id = $1::bigint AND number = "
			 "$2::integer",
			 3, pv)) != OPRA_OK)
		goto done;
	rc = reply_action(c, &a, r->number, "changed", before, 1);
done:
	free(before);
	free(after_check);
	opra_free(t);
	view_free(&v);
	return rc;
}

/* ---- List ---- */

static int plan_list(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__PlanListRequest *r = (const Opra__V1__PlanListRequest *)in;
	appraisal_ref a;
	plan_view v;
	char cur[4];
	int rc;

	if ((rc = appraisal_open(c, r->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	if ((rc = plan_currency(c, &a, cur)) != OPRA_OK)
		return rc;
	if ((rc = view_load(&v, c, &a, 0, r->status)) == OPRA_OK) {
		Opra__V1__PlanListReply reply = OPRA__V1__PLAN_LIST_REPLY__INIT;
		reply.appraisal = a.name;
		reply.sealed = a.sealed;
		reply.currency = cur;
		reply.n_actions = v.n;
		reply.actions = v.ptrs;
		rc = call_reply(c, &reply.base);
	}
	view_free(&v);
	return rc;
}

/* Automation tokens never plan; other users pass to the member check. */
#define PLAN_ROLES (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_USER)

static const method_impl methods[] = {
	{"Add", plan_add, add_validate, PLAN_ROLES, METHOD_MUTATES, NULL},
	{"List", plan_list, list_validate, ROLES_ANY, 0, NULL},
	{"Update", plan_update, update_validate, PLAN_ROLES, METHOD_MUTATES, NULL},
};

const service_impl svc_plan = {&opra__v1__plan__descriptor, methods,
			       sizeof(methods) / sizeof(methods[0])};
