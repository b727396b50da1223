/* The improvement plan through the real server stack (opra.v1.Plan):
 * adding, listing and updating actions on a sealed appraisal without
 * touching its seal or hash chain (the changes go to the non-chained event
 * log), goals and practices validated against the appraisal's scope, bad
 * input of every kind changing nothing, optimistic concurrency with
 * --expect-version, exactly-once retries, and who may do what.
 *
 * The fixture (a tiny model, appraisals, members) is written with SQL on
 * the test's own connection, as in test_rating.c; everything asserted goes
 * through the Plan service or reads what it stored. */
#include "auth.h"
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/plan.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static testserver ts;

#define M(name) "opra.v1.Plan/" name

enum { U_ADMIN, U_PO, U_OUTSIDER, U_LEAD, U_APPRAISER, U_VIEWER, U_BOT, U_N };
static const char *const user_names[U_N] = {"root",	 "po",	   "outsider", "lead",
					    "appraiser", "viewer", "bot"};
static opra_token tokens[U_N];
static rpc_client *cl[U_N];

static void sql(const char *text)
{
	assert_int_equal(db_exec_script(ts.db, text), OPRA_OK);
}

static long count(const char *text)
{
	return testserver_count(&ts, text);
}

/* Model ta-1: PAs AA, BB (in scope) and ZZ (not), each SG1 (SP1, SP2),
 * GG1 (GP1), GG2 (GP1, GP2). Appraisals y2025 (sealed) and y2026, with
 * instances claims and billing and members lead, appraiser, viewer, bot. */
static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "plan", 4u << 20);
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);
	tokens[U_ADMIN] = ts.admin;
	static const char *const roles[U_N] = {"admin", "program-office", "user",      "user",
					       "user",	"user",		  "automation"};
	for (int i = 1; i < U_N; i++)
		assert_int_equal(
			auth_user_create(ts.db, user_names[i], roles[i], 0, &tokens[i], NULL),
			OPRA_OK);
	for (int i = 0; i < U_N; i++)
		cl[i] = testserver_client(&ts, tokens[i].text);
	sql("INSERT INTO models (key, name, version) VALUES ('ta-1', 'Test A', '1');"
	    "INSERT INTO process_areas (model_id, ord, code, name, category) SELECT m.id, v.o, "
	    "v.c, 'Area ' || v.c, 'engineering' FROM models m, (VALUES (1, 'AA'), (2, 'BB'), "
	    "(3, 'ZZ')) v(o, c);"
	    "INSERT INTO goals (pa_id, ord, code, title, generic) SELECT pa.id, g.o, g.c, g.c, "
	    "g.gen FROM process_areas pa, (VALUES (1, 'SG1', false), (2, 'GG1', true), (3, "
	    "'GG2', true)) g(o, c, gen);"
	    "INSERT INTO practices (goal_id, model_id, ord, code, full_id, full_id_lower, title) "
	    "SELECT g.id, pa.model_id, n, x.pfx || n, pa.code || ':' || g.code || '.' || x.pfx "
	    "|| n, lower(pa.code || ':' || g.code || '.' || x.pfx || n), 'Practice' FROM goals "
	    "g JOIN process_areas pa ON pa.id = g.pa_id CROSS JOIN LATERAL (SELECT CASE WHEN "
	    "g.generic THEN 'GP' ELSE 'SP' END pfx) x CROSS JOIN LATERAL generate_series(1, "
	    "CASE g.code WHEN 'GG1' THEN 1 ELSE 2 END) n;"
	    "INSERT INTO units (name) VALUES ('Columbus');"
	    "INSERT INTO services (name, unit_id) SELECT s, id FROM units, "
	    "unnest(ARRAY['claims', 'billing']) s;"
	    "INSERT INTO appraisals (name, created_by, target_level) SELECT a, (SELECT id FROM "
	    "users WHERE name = 'lead'), 2 FROM unnest(ARRAY['y2025', 'y2026']) a;"
	    "INSERT INTO appraisal_models SELECT a.id, m.id FROM appraisals a, models m;"
	    "INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT a.id, pa.id FROM appraisals "
	    "a, process_areas pa WHERE pa.code <> 'ZZ';"
	    "INSERT INTO appraisal_instances (appraisal_id, kind, service_id, name, added_by) "
	    "SELECT a.id, 'service', s.id, s.name, a.created_by FROM appraisals a, services s;"
	    "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
	    "SELECT a.id, u.id, r, a.created_by FROM appraisals a, (VALUES ('lead', 'lead'), "
	    "('appraiser', 'appraiser'), ('viewer', 'viewer'), ('bot', 'automation')) v(n, r) "
	    "JOIN users u ON u.name = v.n;"
	    "SELECT append_event(id, created_by, 'lead', '', '', '', 'test', 'fixture', NULL, "
	    "NULL) FROM appraisals;"
	    "UPDATE appraisals SET sealed_at = now(), sealed_by = created_by, sealed_head = head "
	    "WHERE name = 'y2025';");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < U_N; i++)
		rpc_client_close(cl[i]);
	testserver_teardown(&ts);
	return 0;
}

/* ---- calls ---- */

typedef struct {
	const char *appraisal, *title, *owner, *due, *status, *currency;
	long long estimated, actual;
	const char *goals[4];
	const char *practices[4];
} add_spec;

static size_t n_of(const char *const *v)
{
	size_t n = 0;
	while (n < 4 && v[n])
		n++;
	return n;
}

static int add_with_key(int who, const add_spec *s, const char *key,
			Opra__V1__PlanActionReply **out)
{
	Opra__V1__PlanAddRequest req = OPRA__V1__PLAN_ADD_REQUEST__INIT;
	req.appraisal = (char *)(s->appraisal ? s->appraisal : "y2025");
	req.title = (char *)(s->title ? s->title : "an action");
	req.owner = (char *)(s->owner ? s->owner : "");
	req.due = (char *)(s->due ? s->due : "");
	req.status = (char *)(s->status ? s->status : "");
	req.currency = (char *)(s->currency ? s->currency : "");
	req.estimated_cost = s->estimated;
	req.actual_cost = s->actual;
	req.n_goals = n_of(s->goals);
	req.goals = (char **)s->goals;
	req.n_practices = n_of(s->practices);
	req.practices = (char **)s->practices;
	return testserver_call(cl[who], M("Add"), &req.base,
			       &opra__v1__plan_action_reply__descriptor, out, key);
}

static int add(int who, const add_spec *s, Opra__V1__PlanActionReply **out)
{
	return add_with_key(who, s, "", out);
}

static int list(int who, const char *appraisal, const char *status, Opra__V1__PlanListReply **out)
{
	Opra__V1__PlanListRequest req = OPRA__V1__PLAN_LIST_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.status = (char *)(status ? status : "");
	return testserver_call(cl[who], M("List"), &req.base,
			       &opra__v1__plan_list_reply__descriptor, out, NULL);
}

static int update(int who, Opra__V1__PlanUpdateRequest *req, Opra__V1__PlanActionReply **out)
{
	return testserver_call(cl[who], M("Update"), &req->base,
			       &opra__v1__plan_action_reply__descriptor, out, "");
}

static void assert_msg_has(const char *needle)
{
	if (strstr(opra_err_msg(), needle) == NULL)
		fail_msg("message '%s' does not mention '%s'", opra_err_msg(), needle);
}

static long actions(void)
{
	return count("SELECT count(*) FROM plan_actions");
}

static char *chain_of(const char *name)
{
	PGresult *r = NULL;
	const char *p[1] = {name};
	assert_int_equal(db_exec(&r, ts.db, 1,
				 "SELECT encode(head, 'hex') || '/' || events || '/' || "
				 "encode(sealed_head, 'hex') FROM appraisals WHERE name = $1",
				 1, p),
			 OPRA_OK);
	char *s = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

/* ---- tests ---- */

static void add_and_list_on_sealed_appraisal(void **state)
{
	(void)state;
	Opra__V1__PlanActionReply *rep = NULL;
	Opra__V1__PlanListReply *l = NULL;
	char *chain = chain_of("y2025");

	add_spec a = {.title = "Write the incident runbook",
		      .owner = "ops team",
		      .due = "2026-06-30",
		      .currency = "EUR",
		      .estimated = 1250050,
		      .goals = {"aa:sg1"},
		      .practices = {"AA:GG2.GP1"}};
	assert_int_equal(add(U_LEAD, &a, &rep), OPRA_OK);
	assert_string_equal(rep->result, "added");
	assert_int_equal(rep->action->number, 1);
	assert_int_equal(rep->action->version, 1);
	assert_string_equal(rep->action->status, "planned");
	assert_string_equal(rep->action->currency, "EUR");
	assert_string_equal(rep->action->due, "2026-06-30");
	assert_int_equal(rep->action->estimated_cost, 1250050);
	assert_int_equal(rep->action->actual_cost, 0);
	assert_int_equal(rep->action->n_targets, 2);
	assert_string_equal(rep->action->targets[0]->id, "AA:SG1");
	assert_string_equal(rep->action->targets[0]->kind, "goal");
	assert_string_equal(rep->action->targets[0]->process_area, "AA");
	assert_string_equal(rep->action->targets[0]->model, "ta-1");
	assert_string_equal(rep->action->targets[1]->id, "AA:GG2.GP1");
	assert_string_equal(rep->action->targets[1]->kind, "practice");
	assert_string_equal(rep->action->created_by, "lead");
	testserver_reply_free(rep);

	/* The second inherits the plan's currency; program-office may plan. */
	add_spec b = {.title = "Train the BB owners",
		      .status = "in-progress",
		      .estimated = 300000,
		      .actual = 100000,
		      .goals = {"BB:GG2", "BB:GG2"}};
	assert_int_equal(add(U_PO, &b, &rep), OPRA_OK);
	assert_int_equal(rep->action->number, 2);
	assert_string_equal(rep->action->currency, "EUR");
	assert_int_equal(rep->action->n_targets, 1); /* the repeat is dropped */
	assert_string_equal(rep->action->status, "in-progress");
	assert_string_equal(rep->action->created_by, "po");
	testserver_reply_free(rep);

	assert_int_equal(list(U_VIEWER, "y2025", NULL, &l), OPRA_OK);
	assert_string_equal(l->appraisal, "y2025");
	assert_true(l->sealed);
	assert_string_equal(l->currency, "EUR");
	assert_int_equal(l->n_actions, 2);
	assert_string_equal(l->actions[0]->title, "Write the incident runbook");
	assert_string_equal(l->actions[1]->title, "Train the BB owners");
	testserver_reply_free(l);
	assert_int_equal(list(U_VIEWER, "y2025", "in-progress", &l), OPRA_OK);
	assert_int_equal(l->n_actions, 1);
	assert_int_equal(l->actions[0]->number, 2);
	testserver_reply_free(l);
	/* Another appraisal's plan is its own. */
	assert_int_equal(list(U_LEAD, "y2026", NULL, &l), OPRA_OK);
	assert_int_equal(l->n_actions, 0);
	assert_string_equal(l->currency, "");
	testserver_reply_free(l);

	/* The seal and the chain are exactly as they were; the changes are in
	 * the non-chained log. */
	char *now = chain_of("y2025");
	assert_string_equal(chain, now);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NULL AND "
			       "object IN ('plan:y2025#1', 'plan:y2025#2') AND before IS NULL AND "
			       "after->>'appraisal' = 'y2025'"),
			 2);
	free(chain);
	free(now);
}

static void bad_input_changes_nothing(void **state)
{
	(void)state;
	long before = actions();
	long events = count("SELECT count(*) FROM events");
	char long_title[300];
	memset(long_title, 'x', sizeof(long_title) - 1);
	long_title[sizeof(long_title) - 1] = '\0';

	static const struct {
		add_spec s;
		int want;
		const char *says;
	} cases[] = {
		{{.goals = {"AA:SG9"}}, OPRA_NOT_FOUND, "AA:SG9"},
		{{.goals = {"ZZ:SG1"}}, OPRA_INVALID_ARGUMENT, "not in the scope"},
		{{.goals = {"AA:SG1.SP1"}}, OPRA_INVALID_ARGUMENT, "--practice"},
		{{.goals = {"SG1"}}, OPRA_INVALID_ARGUMENT, "PA:GOAL"},
		{{.goals = {"nomodel/AA:SG1"}}, OPRA_NOT_FOUND, "not in the models"},
		{{.practices = {"AA:SG1.SP9"}}, OPRA_NOT_FOUND, "AA:SG1.SP9"},
		{{.practices = {"ZZ:SG1.SP1"}}, OPRA_INVALID_ARGUMENT, "not in the scope"},
		{{.goals = {NULL}}, OPRA_INVALID_ARGUMENT, "at least one goal"},
		{{.due = "2026-02-30", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "YYYY-MM-DD"},
		{{.due = "2026-13-01", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "YYYY-MM-DD"},
		{{.due = "30/06/2026", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "YYYY-MM-DD"},
		{{.due = "2027-02-29", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "not a date"},
		{{.estimated = -1, .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "negative"},
		{{.actual = -500, .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "negative"},
		{{.estimated = 100000000000000001LL, .goals = {"AA:SG1"}},
		 OPRA_INVALID_ARGUMENT,
		 "too large"},
		{{.currency = "USD", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "counts in EUR"},
		{{.currency = "eur", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "ISO 4217"},
		{{.status = "finished", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, "planned"},
		{{.title = "\x1b[2J\x1b[Hgotcha", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, ""},
		{{.title = "bad \xff utf8", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, ""},
		{{.owner = "line\nbreak", .goals = {"AA:SG1"}}, OPRA_INVALID_ARGUMENT, ""},
		{{.appraisal = "no-such", .goals = {"AA:SG1"}}, OPRA_NOT_FOUND, "no-such"},
		{{.appraisal = "y2025'; DROP TABLE plan_actions; --", .goals = {"AA:SG1"}},
		 OPRA_NOT_FOUND,
		 ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = add(U_LEAD, &cases[i].s, NULL);
		if (rc != cases[i].want)
			fail_msg("case %zu: got %d (%s), want %d", i, rc, opra_err_msg(),
				 cases[i].want);
		assert_msg_has(cases[i].says);
	}
	add_spec t = {.title = long_title, .goals = {"AA:SG1"}};
	assert_int_equal(add(U_LEAD, &t, NULL), OPRA_INVALID_ARGUMENT);
	/* A leap day is a date. */
	add_spec leap = {.appraisal = "y2026", .due = "2028-02-29", .goals = {"AA:SG1"}};
	assert_int_equal(add(U_LEAD, &leap, NULL), OPRA_OK);
	assert_int_equal(actions(), before + 1);
	assert_int_equal(count("SELECT count(*) FROM events"), events + 1);
	assert_int_equal(count("SELECT count(*) FROM plan_actions WHERE due = '2028-02-29'"), 1);
}

static void update_and_versions(void **state)
{
	(void)state;
	Opra__V1__PlanActionReply *rep = NULL;
	Opra__V1__PlanUpdateRequest u = OPRA__V1__PLAN_UPDATE_REQUEST__INIT;
	char *chain = chain_of("y2025");

	u.appraisal = "y2025";
	u.number = 1;
	u.set_status = true;
	u.status = "done";
	u.set_actual_cost = true;
	u.actual_cost = 1180000;
	u.check_version = true;
	u.expect_version = 1;
	assert_int_equal(update(U_LEAD, &u, &rep), OPRA_OK);
	assert_string_equal(rep->result, "changed");
	assert_int_equal(rep->action->version, 2);
	assert_string_equal(rep->action->status, "done");
	assert_int_equal(rep->action->actual_cost, 1180000);
	assert_int_equal(rep->action->estimated_cost, 1250050); /* untouched */
	assert_string_equal(rep->action->owner, "ops team");
	testserver_reply_free(rep);

	/* A second writer who read version 1 is refused, with the version. */
	u.status = "dropped";
	assert_int_equal(update(U_PO, &u, NULL), OPRA_ABORTED);
	assert_msg_has("version 2");
	assert_non_null(strstr(opra_err_details(), "\"current_version\":2"));
	assert_int_equal(count("SELECT count(*) FROM plan_actions WHERE number = 1 AND status = "
			       "'done' AND version = 2 AND appraisal_id = (SELECT id FROM "
			       "appraisals WHERE name = 'y2025')"),
			 1);

	/* Nothing to change: unchanged, same version, no event. */
	long events = count("SELECT count(*) FROM events");
	Opra__V1__PlanUpdateRequest same = OPRA__V1__PLAN_UPDATE_REQUEST__INIT;
	same.appraisal = "y2025";
	same.number = 1;
	same.set_status = true;
	same.status = "done";
	assert_int_equal(update(U_ADMIN, &same, &rep), OPRA_OK);
	assert_string_equal(rep->result, "unchanged");
	assert_int_equal(rep->action->version, 2);
	testserver_reply_free(rep);
	assert_int_equal(count("SELECT count(*) FROM events"), events);

	/* Targets are replaced; the due date cleared. */
	Opra__V1__PlanUpdateRequest tg = OPRA__V1__PLAN_UPDATE_REQUEST__INIT;
	char *goals[1] = {"BB:SG1"};
	tg.appraisal = "y2025";
	tg.number = 1;
	tg.set_targets = true;
	tg.n_goals = 1;
	tg.goals = goals;
	tg.set_due = true;
	tg.due = "";
	assert_int_equal(update(U_ADMIN, &tg, &rep), OPRA_OK);
	assert_int_equal(rep->action->version, 3);
	assert_int_equal(rep->action->n_targets, 1);
	assert_string_equal(rep->action->targets[0]->id, "BB:SG1");
	assert_string_equal(rep->action->due, "");
	assert_string_equal(rep->action->updated_by, "root");
	testserver_reply_free(rep);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NULL AND object "
			       "= 'plan:y2025#1' AND before->>'status' = 'planned' AND "
			       "after->>'status' = 'done'"),
			 1);

	/* Bad updates change nothing. */
	Opra__V1__PlanUpdateRequest bad = OPRA__V1__PLAN_UPDATE_REQUEST__INIT;
	bad.appraisal = "y2025";
	bad.number = 99;
	bad.set_status = true;
	bad.status = "done";
	assert_int_equal(update(U_LEAD, &bad, NULL), OPRA_NOT_FOUND);
	assert_msg_has("no action 99");
	bad.number = 1;
	bad.status = "nope";
	assert_int_equal(update(U_LEAD, &bad, NULL), OPRA_INVALID_ARGUMENT);
	bad.status = "done";
	bad.set_estimated_cost = true;
	bad.estimated_cost = -5;
	assert_int_equal(update(U_LEAD, &bad, NULL), OPRA_INVALID_ARGUMENT);
	bad.estimated_cost = 5;
	bad.set_targets = true; /* with no goals or practices */
	assert_int_equal(update(U_LEAD, &bad, NULL), OPRA_INVALID_ARGUMENT);
	bad.set_targets = false;
	bad.set_due = true;
	bad.due = "2026-04-31";
	assert_int_equal(update(U_LEAD, &bad, NULL), OPRA_INVALID_ARGUMENT);
	bad.number = 0;
	bad.set_due = false;
	assert_int_equal(update(U_LEAD, &bad, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(count("SELECT version FROM plan_actions WHERE number = 1 AND "
			       "appraisal_id = (SELECT id FROM appraisals WHERE name = 'y2025')"),
			 3);
	char *now = chain_of("y2025");
	assert_string_equal(chain, now);
	free(chain);
	free(now);
}

static void retries_are_exactly_once(void **state)
{
	(void)state;
	Opra__V1__PlanActionReply *r1 = NULL, *r2 = NULL;
	add_spec a = {.appraisal = "y2026", .title = "once", .goals = {"AA:SG1"}};
	long before = actions();
	assert_int_equal(add_with_key(U_LEAD, &a, "plan-retry-key-1", &r1), OPRA_OK);
	assert_int_equal(add_with_key(U_LEAD, &a, "plan-retry-key-1", &r2), OPRA_OK);
	assert_int_equal(r1->action->number, r2->action->number);
	assert_int_equal(actions(), before + 1);
	testserver_reply_free(r1);
	testserver_reply_free(r2);
}

static void who_may_do_what(void **state)
{
	(void)state;
	add_spec a = {.appraisal = "y2026", .title = "roles", .goals = {"AA:SG1"}};
	Opra__V1__PlanUpdateRequest u = OPRA__V1__PLAN_UPDATE_REQUEST__INIT;
	u.appraisal = "y2026";
	u.number = 1;
	u.set_owner = true;
	u.owner = "someone";
	static const struct {
		int who, add, list;
	} m[] = {
		{U_ADMIN, OPRA_OK, OPRA_OK},
		{U_PO, OPRA_OK, OPRA_OK},
		{U_LEAD, OPRA_OK, OPRA_OK},
		{U_APPRAISER, OPRA_PERMISSION_DENIED, OPRA_OK},
		{U_VIEWER, OPRA_PERMISSION_DENIED, OPRA_OK},
		{U_OUTSIDER, OPRA_PERMISSION_DENIED, OPRA_PERMISSION_DENIED},
		{U_BOT, OPRA_PERMISSION_DENIED, OPRA_PERMISSION_DENIED},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		long before = actions();
		int rc = add(m[i].who, &a, NULL);
		if (rc != m[i].add)
			fail_msg("%s add: %d (%s)", user_names[m[i].who], rc, opra_err_msg());
		assert_int_equal(actions(), before + (rc == OPRA_OK));
		rc = update(m[i].who, &u, NULL);
		if (rc != m[i].add)
			fail_msg("%s update: %d (%s)", user_names[m[i].who], rc, opra_err_msg());
		rc = list(m[i].who, "y2026", NULL, NULL);
		if (rc != m[i].list)
			fail_msg("%s list: %d (%s)", user_names[m[i].who], rc, opra_err_msg());
	}
	/* No token at all. */
	rpc_client *anon = testserver_client(&ts, NULL);
	Opra__V1__PlanListRequest req = OPRA__V1__PLAN_LIST_REQUEST__INIT;
	req.appraisal = "y2026";
	req.status = "";
	assert_int_equal(testserver_call(anon, M("List"), &req.base,
					 &opra__v1__plan_list_reply__descriptor, NULL, NULL),
			 OPRA_UNAUTHENTICATED);
	rpc_client_close(anon);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_and_list_on_sealed_appraisal),
		cmocka_unit_test(bad_input_changes_nothing),
		cmocka_unit_test(update_and_versions),
		cmocka_unit_test(retries_are_exactly_once),
		cmocka_unit_test(who_may_do_what),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
