/* The Report service through the real server stack: Facts (head, events,
 * seal, weaknesses, judgements, evidence count), Evidence pages (ids in
 * order, no gaps or repeats, `more`), the head check that refuses a page
 * once the appraisal moved on, bad input, and who may read (members but
 * not automation; admin and program-office; not outsiders).
 *
 * The fixture (a tiny model, an appraisal with two instances, five
 * evidence items, a judgement) is written with SQL on the test's own
 * connection; everything asserted goes through the Report service. */
#include "auth.h"
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/rating.pb-c.h"
#include "opra/v1/report.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static testserver ts;

enum { U_ADMIN, U_PO, U_OUTSIDER, U_LEAD, U_VIEWER, U_BOT, U_N };
static const char *const user_names[U_N] = {"root", "po", "outsider", "lead", "viewer", "bot"};
static opra_token tokens[U_N];
static rpc_client *cl[U_N];

static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "report", 4u << 20);
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);
	tokens[U_ADMIN] = ts.admin;
	static const char *const roles[U_N] = {"admin", "program-office", "user",
					       "user",	"user",		  "automation"};
	for (int i = 1; i < U_N; i++)
		assert_int_equal(
			auth_user_create(ts.db, user_names[i], roles[i], 0, &tokens[i], NULL),
			OPRA_OK);
	for (int i = 0; i < U_N; i++)
		cl[i] = testserver_client(&ts, tokens[i].text);
	assert_int_equal(
		db_exec_script(
			ts.db,
			"INSERT INTO models (key, name, version) VALUES ('tr-1', 'Test R', '1');"
			"INSERT INTO process_areas (model_id, ord, code, name, category) SELECT "
			"id, "
			"1, 'AA', 'Area AA', 'engineering' FROM models;"
			"INSERT INTO goals (pa_id, ord, code, title, generic) SELECT id, 1, 'SG1', "
			"'SG1', false FROM process_areas;"
			"INSERT INTO practices (goal_id, model_id, ord, code, full_id, "
			"full_id_lower, "
			"title) SELECT g.id, pa.model_id, n, 'SP' || n, 'AA:SG1.SP' || n, "
			"'aa:sg1.sp' || n, 'P' FROM goals g JOIN process_areas pa ON pa.id = "
			"g.pa_id, generate_series(1, 2) n;"
			"INSERT INTO units (name) VALUES ('hq');"
			"INSERT INTO services (name, unit_id) SELECT s, id FROM units, "
			"unnest(ARRAY['claims', 'billing']) s;"
			"INSERT INTO appraisals (name, created_by) SELECT 'rep', id FROM users "
			"WHERE "
			"name = 'lead';"
			"INSERT INTO appraisal_models SELECT a.id, m.id FROM appraisals a, models "
			"m;"
			"INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT a.id, pa.id FROM "
			"appraisals a, process_areas pa;"
			"INSERT INTO appraisal_instances (appraisal_id, kind, service_id, name, "
			"added_by) SELECT a.id, 'service', s.id, s.name, a.created_by FROM "
			"appraisals a, services s;"
			"INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
			"SELECT a.id, u.id, r, a.created_by FROM appraisals a, (VALUES ('lead', "
			"'lead'), ('viewer', 'viewer'), ('bot', 'automation')) v(n, r) JOIN users "
			"u "
			"ON u.name = v.n;"
			/* five evidence items: 4 accepted, 1 proposed */
			"INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, "
			"title, "
			"status, sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, "
			"k, "
			"'e ' || p.code || i.name || k, 'accepted', sha256(convert_to(p.full_id || "
			"i.name || k, 'UTF8')), 1, 'x', a.created_by FROM appraisals a JOIN "
			"appraisal_instances i ON i.appraisal_id = a.id, practices p, "
			"unnest(ARRAY['artifact', 'affirmation']) k WHERE p.code = 'SP1';"
			"INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, "
			"title, "
			"status, sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, "
			"'artifact', 'proposed one', 'proposed', sha256('p'::bytea), 1, 'x', "
			"a.created_by FROM appraisals a JOIN appraisal_instances i ON "
			"i.appraisal_id = a.id, practices p WHERE p.code = 'SP2' AND i.name = "
			"'claims';"
			"INSERT INTO judgements (appraisal_id, practice_id, value, rationale, "
			"judged_by) SELECT a.id, p.id, 'li', 'a reason', a.created_by FROM "
			"appraisals a, practices p WHERE p.code = 'SP2';"),
		OPRA_OK);
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

static int facts(int who, const char *appraisal, Opra__V1__ReportFactsReply **out)
{
	Opra__V1__ReportFactsRequest req = OPRA__V1__REPORT_FACTS_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	return testserver_call(cl[who], "opra.v1.Report/Facts", &req.base,
			       &opra__v1__report_facts_reply__descriptor, out, NULL);
}

static int page(int who, const char *appraisal, long long after, int limit, const char *head,
		Opra__V1__ReportEvidenceReply **out)
{
	Opra__V1__ReportEvidenceRequest req = OPRA__V1__REPORT_EVIDENCE_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.after_id = after;
	req.limit = limit;
	req.head = (char *)(head ? head : "");
	return testserver_call(cl[who], "opra.v1.Report/Evidence", &req.base,
			       &opra__v1__report_evidence_reply__descriptor, out, NULL);
}

static void facts_and_pages(void **state)
{
	(void)state;
	Opra__V1__ReportFactsReply *f = NULL;
	assert_int_equal(facts(U_VIEWER, "rep", &f), OPRA_OK);
	assert_string_equal(f->appraisal, "rep");
	assert_int_equal(strlen(f->head), 64);
	assert_int_equal(f->evidence_count, 5);
	assert_false(f->sealed);
	assert_false(f->seal_intact);
	assert_string_equal(f->sealed_at, "");
	assert_int_equal(f->n_judgements, 1);
	assert_string_equal(f->judgements[0]->practice, "AA:SG1.SP2");
	assert_string_equal(f->judgements[0]->rationale, "a reason");
	assert_string_equal(f->judgements[0]->judged_by, "lead");
	assert_int_equal(strlen(f->generated_at), 20); /* 2026-11-23T10:00:00Z */
	assert_int_equal(f->generated_at[19], 'Z');

	/* pages of 2: 2 + 2 + 1, in id order, each id once */
	long long after = 0, last = 0;
	int pages = 0, items = 0;
	for (;;) {
		Opra__V1__ReportEvidenceReply *p = NULL;
		assert_int_equal(page(U_VIEWER, "rep", after, 2, f->head, &p), OPRA_OK);
		pages++;
		assert_string_equal(p->head, f->head);
		for (size_t i = 0; i < p->n_items; i++) {
			assert_true(p->items[i]->id > last);
			last = p->items[i]->id;
			assert_int_equal(strlen(p->items[i]->sha256), 64);
			assert_string_equal(p->items[i]->submitted_by, "lead");
			items++;
		}
		bool more = p->more;
		if (p->n_items)
			after = p->items[p->n_items - 1]->id;
		testserver_reply_free(p);
		if (!more)
			break;
		assert_true(pages < 10);
	}
	assert_int_equal(pages, 3);
	assert_int_equal(items, 5);

	/* the head moves (a weakness is an event): a page at the old head is
	 * refused, Facts shows the new head and the weakness */
	Opra__V1__WeaknessAddRequest w = OPRA__V1__WEAKNESS_ADD_REQUEST__INIT;
	w.appraisal = "rep";
	w.practice = "AA:SG1.SP1";
	w.instance = "claims";
	w.text = "<script>x</script>";
	w.significant = true;
	assert_int_equal(testserver_call(cl[U_LEAD], "opra.v1.Rating/WeaknessAdd", &w.base,
					 &opra__v1__weakness_reply__descriptor, NULL, ""),
			 OPRA_OK);
	Opra__V1__ReportEvidenceReply *p = NULL;
	assert_int_equal(page(U_VIEWER, "rep", 0, 2, f->head, &p), OPRA_ABORTED);
	assert_non_null(strstr(opra_err_msg(), "changed while the report was being read"));
	assert_int_equal(page(U_VIEWER, "rep", 0, 0, NULL, &p), OPRA_OK); /* no check */
	assert_int_equal(p->n_items, 5);
	assert_false(p->more);
	testserver_reply_free(p);
	Opra__V1__ReportFactsReply *g = NULL;
	assert_int_equal(facts(U_PO, "rep", &g), OPRA_OK);
	assert_string_not_equal(g->head, f->head);
	assert_int_equal(g->events, f->events + 1);
	assert_int_equal(g->n_weaknesses, 1);
	assert_string_equal(g->weaknesses[0]->text, "<script>x</script>");
	assert_true(g->weaknesses[0]->significant);
	assert_string_equal(g->weaknesses[0]->instance, "claims");
	assert_string_equal(g->weaknesses[0]->created_by, "lead");
	assert_string_not_equal(g->first_event_at, "");
	testserver_reply_free(g);
	testserver_reply_free(f);
}

static void bad_input(void **state)
{
	(void)state;
	Opra__V1__ReportEvidenceReply *p = NULL;
	Opra__V1__ReportFactsReply *f = NULL;
	assert_int_equal(page(U_VIEWER, "rep", -1, 0, NULL, &p), OPRA_INVALID_ARGUMENT);
	assert_int_equal(page(U_VIEWER, "rep", 0, 20001, NULL, &p), OPRA_OUT_OF_RANGE);
	assert_int_equal(page(U_VIEWER, "rep", 0, -5, NULL, &p), OPRA_OUT_OF_RANGE);
	assert_int_equal(page(U_VIEWER, "rep", 0, 0, "not-a-head", &p), OPRA_INVALID_ARGUMENT);
	assert_int_equal(page(U_VIEWER, "rep", 0, 0,
			      "ABCDEF0000000000000000000000000000000000000000000000000000000000",
			      &p),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(page(U_VIEWER, "", 0, 0, NULL, &p), OPRA_INVALID_ARGUMENT);
	assert_int_equal(facts(U_VIEWER, "", &f), OPRA_INVALID_ARGUMENT);
	assert_int_equal(facts(U_VIEWER, "bad\nname", &f), OPRA_INVALID_ARGUMENT);
	assert_int_equal(facts(U_VIEWER, "nope", &f), OPRA_NOT_FOUND);
	assert_int_equal(page(U_VIEWER, "nope", 0, 0, NULL, &p), OPRA_NOT_FOUND);
	/* past the end: an empty last page */
	assert_int_equal(page(U_VIEWER, "rep", 1LL << 60, 0, NULL, &p), OPRA_OK);
	assert_int_equal(p->n_items, 0);
	assert_false(p->more);
	testserver_reply_free(p);
}

static void who_may_read(void **state)
{
	(void)state;
	static const struct {
		int who, status;
	} cases[] = {
		{U_ADMIN, OPRA_OK},
		{U_PO, OPRA_OK},
		{U_LEAD, OPRA_OK},
		{U_VIEWER, OPRA_OK},
		{U_BOT, OPRA_PERMISSION_DENIED},      /* automation members submit, not read */
		{U_OUTSIDER, OPRA_PERMISSION_DENIED}, /* not a member */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Opra__V1__ReportFactsReply *f = NULL;
		Opra__V1__ReportEvidenceReply *p = NULL;
		int rc = facts(cases[i].who, "rep", &f);
		if (rc != cases[i].status)
			fail_msg("Facts as %s: %s, expected %s", user_names[cases[i].who],
				 opra_status_name(rc), opra_status_name(cases[i].status));
		testserver_reply_free(f);
		rc = page(cases[i].who, "rep", 0, 0, NULL, &p);
		if (rc != cases[i].status)
			fail_msg("Evidence as %s: %s, expected %s", user_names[cases[i].who],
				 opra_status_name(rc), opra_status_name(cases[i].status));
		testserver_reply_free(p);
	}
}

static void sealed_appraisal(void **state)
{
	(void)state;
	/* finalise through SQL as Appraisal/Finalize does (sealed_head = head) */
	assert_int_equal(db_exec_script(ts.db,
					"UPDATE appraisals SET sealed_at = now(), sealed_by = "
					"created_by, sealed_head = head WHERE name = 'rep'"),
			 OPRA_OK);
	Opra__V1__ReportFactsReply *f = NULL;
	assert_int_equal(facts(U_VIEWER, "rep", &f), OPRA_OK);
	assert_true(f->sealed);
	assert_true(f->seal_intact);
	assert_string_equal(f->sealed_head, f->head);
	assert_string_equal(f->sealed_by, "lead");
	assert_int_equal(strlen(f->sealed_at), 20);
	testserver_reply_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(facts_and_pages),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(who_may_read),
		cmocka_unit_test(sealed_appraisal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
