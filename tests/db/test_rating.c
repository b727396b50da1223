/* Rating through the real server stack: a small appraisal rated to known
 * capability levels (CL2; CL1 stopped by a GG2 practice; not rated for
 * coverage; needing judgement, then resolved by a lead's judgement), a
 * two-writer conflict on one characterisation, bad input changing nothing,
 * the role x method matrix, evidence reused through the crosswalk
 * (Candidates, Link), a significant weakness making its goal unsatisfied,
 * and the per-cell table Show reads (rating_cells, sql/010: each
 * characterisation's value and version and the accepted evidence counts)
 * staying exact through characterisations created, changed, unchanged,
 * refused for a stale version, deleted and moved, evidence submitted,
 * accepted, rejected and linked, and rolled-back transactions.
 *
 * The fixtures (two tiny models with a crosswalk between them, services,
 * appraisals, members, accepted evidence) are written with SQL on the
 * test's own connection, as in test_evidence.c; everything the test asserts
 * goes through the Rating service. */
#include "auth.h"
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/evidence.pb-c.h"
#include "opra/v1/rating.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static testserver ts;

#define M(name) "opra.v1.Rating/" name

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

/* Model ta-1: PAs AA BB CC DD EE (in scope) and ZZ (not), each SG1 (SP1,
 * SP2), GG1 (GP1), GG2 (GP1, GP2). Model tb-1: PA XX with SG1 (SP1, SP2).
 * Crosswalk: XX:SG1.SP1 names AA:SG1.SP1; AA:SG1.SP2 names XX:SG1.SP2.
 * Appraisal "rate" (target level 2, instances claims and billing) has one
 * accepted artifact and one accepted affirmation on every (practice,
 * instance) of AA..DD, except no artifact for CC:SG1.SP1 on billing. */
static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "rating", 4u << 20);
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
	sql("INSERT INTO models (key, name, version) VALUES ('ta-1', 'Test A', '1'), "
	    "('tb-1', 'Test B', '1');"
	    "INSERT INTO process_areas (model_id, ord, code, name, category) SELECT m.id, v.o, "
	    "v.c, 'Area ' || v.c, 'engineering' FROM models m, (VALUES (1, 'AA'), (2, 'BB'), "
	    "(3, 'CC'), (4, 'DD'), (5, 'EE'), (6, 'ZZ')) v(o, c) WHERE m.key = 'ta-1';"
	    "INSERT INTO process_areas (model_id, ord, code, name, category) SELECT id, 1, "
	    "'XX', 'Area XX', 'engineering' FROM models WHERE key = 'tb-1';"
	    "INSERT INTO goals (pa_id, ord, code, title, generic) SELECT pa.id, g.o, g.c, g.c, "
	    "g.gen FROM process_areas pa JOIN models m ON m.id = pa.model_id, (VALUES (1, "
	    "'SG1', false), (2, 'GG1', true), (3, 'GG2', true)) g(o, c, gen) WHERE m.key = "
	    "'ta-1' OR g.c = 'SG1';"
	    "INSERT INTO practices (goal_id, model_id, ord, code, full_id, full_id_lower, title) "
	    "SELECT g.id, pa.model_id, n, x.pfx || n, pa.code || ':' || g.code || '.' || x.pfx "
	    "|| n, lower(pa.code || ':' || g.code || '.' || x.pfx || n), 'Practice' FROM goals "
	    "g JOIN process_areas pa ON pa.id = g.pa_id CROSS JOIN LATERAL (SELECT CASE WHEN "
	    "g.generic THEN 'GP' ELSE 'SP' END pfx) x CROSS JOIN LATERAL generate_series(1, "
	    "CASE g.code WHEN 'GG1' THEN 1 ELSE 2 END) n;"
	    "INSERT INTO model_refs (practice_id, ord, target_model, target_practice, "
	    "target_lower, confirmed) SELECT id, 1, 'ta-1', 'AA:SG1.SP1', 'aa:sg1.sp1', true "
	    "FROM practices WHERE full_id = 'XX:SG1.SP1';"
	    "INSERT INTO model_refs (practice_id, ord, target_model, target_practice, "
	    "target_lower, confirmed) SELECT id, 1, 'tb-1', 'XX:SG1.SP2', 'xx:sg1.sp2', false "
	    "FROM practices WHERE full_id = 'AA:SG1.SP2';"
	    "INSERT INTO units (name) VALUES ('Columbus');"
	    "INSERT INTO services (name, unit_id) SELECT s, id FROM units, "
	    "unnest(ARRAY['claims', 'billing']) s;"
	    "INSERT INTO appraisals (name, created_by, target_level) SELECT a, (SELECT id FROM "
	    "users WHERE name = 'lead'), 2 FROM unnest(ARRAY['rate', 'sealed-one']) a;"
	    "INSERT INTO appraisal_models SELECT a.id, m.id FROM appraisals a, models m;"
	    "INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT a.id, pa.id FROM appraisals "
	    "a, process_areas pa WHERE pa.code <> 'ZZ';"
	    "INSERT INTO appraisal_instances (appraisal_id, kind, service_id, name, added_by) "
	    "SELECT a.id, 'service', s.id, s.name, a.created_by FROM appraisals a, services s;"
	    "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
	    "SELECT a.id, u.id, r, a.created_by FROM appraisals a, (VALUES ('lead', 'lead'), "
	    "('appraiser', 'appraiser'), ('viewer', 'viewer'), ('bot', 'automation')) v(n, r) "
	    "JOIN users u ON u.name = v.n;"
	    "INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, title, status, "
	    "sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, k, 'fixture', "
	    "'accepted', sha256(convert_to(p.full_id || i.name || k, 'UTF8')), 1, 'x', "
	    "a.created_by FROM appraisals a JOIN appraisal_instances i ON i.appraisal_id = a.id "
	    "CROSS JOIN practices p JOIN goals g ON g.id = p.goal_id JOIN process_areas pa ON "
	    "pa.id = g.pa_id CROSS JOIN unnest(ARRAY['artifact', 'affirmation']) k WHERE a.name "
	    "= 'rate' AND pa.code IN ('AA', 'BB', 'CC', 'DD') AND NOT (p.full_id = "
	    "'CC:SG1.SP1' AND i.name = 'billing' AND k = 'artifact');"
	    "INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, title, status, "
	    "sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, 'artifact', "
	    "'xx proposed', 'proposed', sha256('xx'::bytea), 1, 'x', a.created_by FROM "
	    "appraisals a JOIN appraisal_instances i ON i.appraisal_id = a.id, practices p "
	    "WHERE a.name = 'rate' AND i.name = 'claims' AND p.full_id = 'XX:SG1.SP2';");
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

static int characterize(int who, const char *appraisal, const char *practice, const char *instance,
			const char *value, int check, int expect, Opra__V1__CharacterizeReply **out)
{
	Opra__V1__CharacterizeRequest req = OPRA__V1__CHARACTERIZE_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.practice = (char *)practice;
	req.instance = (char *)instance;
	req.value = (char *)value;
	req.check_version = check;
	req.expect_version = expect;
	return testserver_call(cl[who], M("Characterize"), &req.base,
			       &opra__v1__characterize_reply__descriptor, out, "");
}

static void ch_ok(const char *practice, const char *instance, const char *value)
{
	if (characterize(U_APPRAISER, "rate", practice, instance, value, 0, 0, NULL) != OPRA_OK)
		fail_msg("characterize %s@%s %s: %s", practice, instance, value, opra_err_msg());
}

static int weakness(int who, const char *appraisal, const char *practice, const char *instance,
		    const char *text, int significant)
{
	Opra__V1__WeaknessAddRequest req = OPRA__V1__WEAKNESS_ADD_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.practice = (char *)practice;
	req.instance = (char *)instance;
	req.text = (char *)text;
	req.significant = significant;
	return testserver_call(cl[who], M("WeaknessAdd"), &req.base,
			       &opra__v1__weakness_reply__descriptor, NULL, "");
}

static int judge(int who, const char *appraisal, const char *practice, const char *value,
		 const char *rationale, Opra__V1__JudgeReply **out)
{
	Opra__V1__JudgeRequest req = OPRA__V1__JUDGE_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.practice = (char *)practice;
	req.value = (char *)value;
	req.rationale = (char *)rationale;
	return testserver_call(cl[who], M("Judge"), &req.base, &opra__v1__judge_reply__descriptor,
			       out, "");
}

static int show(int who, const char *appraisal, const char *pa, int explain,
		Opra__V1__RatingShowReply **out)
{
	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.process_area = (char *)(pa ? pa : "");
	req.explain = explain;
	return testserver_call(cl[who], M("Show"), &req.base,
			       &opra__v1__rating_show_reply__descriptor, out, NULL);
}

static int candidates(int who, const char *practice, Opra__V1__CandidatesReply **out)
{
	Opra__V1__CandidatesRequest req = OPRA__V1__CANDIDATES_REQUEST__INIT;
	req.appraisal = "rate";
	req.practice = (char *)(practice ? practice : "");
	return testserver_call(cl[who], M("Candidates"), &req.base,
			       &opra__v1__candidates_reply__descriptor, out, NULL);
}

static int link_ev(int who, const char *id, const char *practice, const char *instance,
		   Opra__V1__EvidenceLinkReply **out)
{
	Opra__V1__EvidenceLinkRequest req = OPRA__V1__EVIDENCE_LINK_REQUEST__INIT;
	req.id = (char *)id;
	req.practice = (char *)practice;
	req.instance = (char *)(instance ? instance : "");
	return testserver_call(cl[who], M("Link"), &req.base,
			       &opra__v1__evidence_link_reply__descriptor, out, "");
}

/* ---- reading a Show reply ---- */

static const Opra__V1__PaRating *pa_of(const Opra__V1__RatingShowReply *r, const char *id)
{
	for (size_t i = 0; i < r->n_process_areas; i++)
		if (strcmp(r->process_areas[i]->id, id) == 0)
			return r->process_areas[i];
	fail_msg("process area %s is not in the reply", id);
	return NULL;
}

static const Opra__V1__GoalRating *goal_of(const Opra__V1__PaRating *pa, const char *id)
{
	for (size_t i = 0; i < pa->n_goals; i++)
		if (strcmp(pa->goals[i]->id, id) == 0)
			return pa->goals[i];
	fail_msg("goal %s of %s is not in the reply", id, pa->id);
	return NULL;
}

static const Opra__V1__PracticeRating *practice_of(const Opra__V1__PaRating *pa, const char *id)
{
	for (size_t g = 0; g < pa->n_goals; g++)
		for (size_t i = 0; i < pa->goals[g]->n_practices; i++)
			if (strcmp(pa->goals[g]->practices[i]->id, id) == 0)
				return pa->goals[g]->practices[i];
	fail_msg("practice %s is not in the reply", id);
	return NULL;
}

static const Opra__V1__InstanceValue *cell_of(const Opra__V1__PracticeRating *p,
					      const char *instance)
{
	for (size_t i = 0; i < p->n_instances; i++)
		if (strcmp(p->instances[i]->instance, instance) == 0)
			return p->instances[i];
	fail_msg("instance %s of %s is not in the reply", instance, p->id);
	return NULL;
}

static const char *const practices_of_pa[] = {"SG1.SP1", "SG1.SP2", "GG1.GP1", "GG2.GP1",
					      "GG2.GP2"};

/* Characterises every practice of pa on both instances as value. */
static void ch_pa(const char *pa, const char *value)
{
	static const char *const inst[] = {"claims", "billing"};
	for (size_t p = 0; p < 5; p++)
		for (size_t i = 0; i < 2; i++) {
			char id[32];
			snprintf(id, sizeof(id), "%s:%s", pa, practices_of_pa[p]);
			ch_ok(id, inst[i], value);
		}
}

/* ---- tests ---- */

static void rated_to_known_levels(void **state)
{
	(void)state;
	ch_pa("AA", "FI");
	ch_pa("BB", "fi");
	ch_ok("BB:GG2.GP2", "claims", "PI"); /* GG2 unsatisfied: stopped at CL1 */
	ch_ok("BB:GG2.GP2", "billing", "PI");
	ch_pa("CC", "FI"); /* CC:SG1.SP1 on billing has no accepted artifact */
	ch_pa("DD", "FI");
	ch_ok("DD:SG1.SP1", "billing", "PI"); /* FI + PI: the lead decides (A3) */

	Opra__V1__RatingShowReply *r = NULL;
	assert_int_equal(show(U_VIEWER, "rate", NULL, 0, &r), OPRA_OK);
	assert_string_equal(r->appraisal, "rate");
	assert_false(r->sealed);
	assert_int_equal(r->characterisations, 40);
	assert_int_equal(r->n_process_areas, 6); /* AA..EE and XX; ZZ is out of scope */
	const Opra__V1__PaRating *aa = pa_of(r, "AA"), *bb = pa_of(r, "BB"), *cc = pa_of(r, "CC"),
				 *dd = pa_of(r, "DD");
	assert_string_equal(aa->status, "rated");
	assert_int_equal(aa->capability_level, 2);
	assert_int_equal(aa->target_level, 2);
	assert_string_equal(aa->model, "ta-1");
	assert_string_equal(goal_of(aa, "GG2")->rating, "satisfied");
	const Opra__V1__PracticeRating *p = practice_of(aa, "AA:SG1.SP1");
	assert_string_equal(p->org_value, "fi");
	assert_string_equal(cell_of(p, "claims")->value, "fi");
	assert_string_equal(cell_of(p, "claims")->suggested, "fi");
	assert_int_equal(cell_of(p, "claims")->version, 1);

	assert_string_equal(bb->status, "rated");
	assert_int_equal(bb->capability_level, 1);
	assert_string_equal(goal_of(bb, "GG2")->rating, "unsatisfied");
	assert_string_equal(practice_of(bb, "BB:GG2.GP2")->org_value, "pi");

	assert_string_equal(cc->status, "not-rated");
	assert_int_equal(cc->capability_level, -1);
	assert_string_equal(goal_of(cc, "SG1")->rating, "not-rated");

	assert_string_equal(dd->status, "not-rated");
	assert_int_equal(dd->capability_level, -1);
	p = practice_of(dd, "DD:SG1.SP1");
	assert_string_equal(p->org_value, "needs-judgement");
	assert_string_equal(p->row, "A3");
	assert_string_equal(goal_of(dd, "SG1")->rating, "not-rated");
	assert_string_equal(aa->explanation, ""); /* no explain: no text */
	testserver_reply_free(r);

	/* The lead judges DD:SG1.SP1; the engine uses it at once. */
	long events = count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL");
	Opra__V1__JudgeReply *j = NULL;
	assert_int_equal(judge(U_LEAD, "rate", "dd:sg1.sp1", "li",
			       "billing's gap is a single late drill; the practice is "
			       "largely in place",
			       &j),
			 OPRA_OK);
	assert_string_equal(j->practice, "DD:SG1.SP1");
	assert_string_equal(j->value, "li");
	assert_string_equal(j->status, "used");
	assert_int_equal(j->version, 1);
	testserver_reply_free(j);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL"),
			 events + 1);
	assert_int_equal(show(U_LEAD, "rate", "DD", 1, &r), OPRA_OK);
	assert_int_equal(r->n_process_areas, 1);
	dd = pa_of(r, "DD");
	assert_string_equal(dd->status, "rated");
	assert_int_equal(dd->capability_level, 2);
	p = practice_of(dd, "DD:SG1.SP1");
	assert_string_equal(p->org_value, "li");
	assert_string_equal(p->judgement, "li");
	assert_string_equal(p->judgement_status, "used");
	/* --explain: sentences for the PA, its goals and practices */
	assert_true(strlen(dd->explanation) > 0);
	assert_true(strlen(goal_of(dd, "SG1")->explanation) > 0);
	assert_true(strlen(p->explanation) > 0);
	testserver_reply_free(r);

	/* --pa names a PA of the appraisal's models outside the scope: shown
	 * as out-of-scope; "MODEL/PA" works; an unknown PA is NOT_FOUND. */
	assert_int_equal(show(U_LEAD, "rate", "ta-1/ZZ", 0, &r), OPRA_OK);
	assert_int_equal(r->n_process_areas, 1);
	assert_string_equal(r->process_areas[0]->status, "out-of-scope");
	assert_int_equal(r->process_areas[0]->capability_level, -1);
	testserver_reply_free(r);
	assert_int_equal(show(U_LEAD, "rate", "QQ", 0, NULL), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "QQ"));
	assert_int_equal(show(U_LEAD, "nosuch", NULL, 0, NULL), OPRA_NOT_FOUND);
}

static void candidates_and_link(void **state)
{
	(void)state;
	Opra__V1__RatingShowReply *r = NULL;
	assert_int_equal(show(U_LEAD, "rate", "XX", 0, &r), OPRA_OK);
	const Opra__V1__PracticeRating *p = practice_of(pa_of(r, "XX"), "XX:SG1.SP1");
	assert_string_equal(cell_of(p, "claims")->suggested, "");
	testserver_reply_free(r);

	/* Both directions of the crosswalk: AA:SG1.SP1's evidence is offered for
	 * XX:SG1.SP1 (XX names AA), XX:SG1.SP2's proposed item for AA:SG1.SP2
	 * and AA:SG1.SP2's evidence for XX:SG1.SP2 (AA names XX). */
	Opra__V1__CandidatesReply *cr = NULL;
	assert_int_equal(candidates(U_VIEWER, NULL, &cr), OPRA_OK);
	int to_xx1 = 0, to_aa2 = 0, to_xx2 = 0;
	for (size_t i = 0; i < cr->n_candidates; i++) {
		const Opra__V1__Candidate *c = cr->candidates[i];
		if (strcmp(c->practice, "XX:SG1.SP1") == 0) {
			assert_string_equal(c->from_practice, "AA:SG1.SP1");
			assert_string_equal(c->status, "accepted");
			assert_true(c->confirmed);
			to_xx1++;
		} else if (strcmp(c->practice, "AA:SG1.SP2") == 0) {
			assert_string_equal(c->from_practice, "XX:SG1.SP2");
			assert_string_equal(c->status, "proposed");
			assert_false(c->confirmed);
			to_aa2++;
		} else if (strcmp(c->practice, "XX:SG1.SP2") == 0) {
			assert_string_equal(c->from_practice, "AA:SG1.SP2");
			to_xx2++;
		} else {
			fail_msg("unexpected candidate for %s from %s", c->practice,
				 c->from_practice);
		}
	}
	assert_int_equal(to_xx1, 4); /* artifact + affirmation x 2 instances */
	assert_int_equal(to_aa2, 1);
	assert_int_equal(to_xx2, 4);
	testserver_reply_free(cr);

	/* Link AA:SG1.SP1's evidence to XX:SG1.SP1 (their own instances). */
	PGresult *ids = NULL;
	assert_int_equal(db_exec(&ids, ts.db, 1,
				 "SELECT e.id FROM evidence e JOIN practices p ON p.id = "
				 "e.practice_id WHERE p.full_id = 'AA:SG1.SP1' ORDER BY e.id",
				 0, NULL),
			 OPRA_OK);
	assert_int_equal(PQntuples(ids), 4);
	long events = count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL");
	for (int i = 0; i < 4; i++) {
		Opra__V1__EvidenceLinkReply *lr = NULL;
		if (link_ev(U_APPRAISER, PQgetvalue(ids, i, 0), "xx:sg1.sp1", NULL, &lr) != OPRA_OK)
			fail_msg("link: %s", opra_err_msg());
		assert_string_equal(lr->result, "linked");
		assert_string_equal(lr->practice, "XX:SG1.SP1");
		testserver_reply_free(lr);
	}
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL"),
			 events + 4);
	/* Again: unchanged, no event; to its own place: unchanged. */
	Opra__V1__EvidenceLinkReply *lr = NULL;
	assert_int_equal(link_ev(U_LEAD, PQgetvalue(ids, 0, 0), "XX:SG1.SP1", NULL, &lr), OPRA_OK);
	assert_string_equal(lr->result, "unchanged");
	testserver_reply_free(lr);
	assert_int_equal(link_ev(U_LEAD, PQgetvalue(ids, 0, 0), "AA:SG1.SP1", NULL, &lr), OPRA_OK);
	assert_string_equal(lr->result, "unchanged");
	testserver_reply_free(lr);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL"),
			 events + 4);
	/* Errors: unknown evidence, a practice outside the scope, an unknown
	 * instance, a malformed id; nothing changes. */
	assert_int_equal(link_ev(U_LEAD, "999999", "XX:SG1.SP1", NULL, NULL), OPRA_NOT_FOUND);
	assert_int_equal(link_ev(U_LEAD, PQgetvalue(ids, 0, 0), "ZZ:SG1.SP1", NULL, NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "not in the scope"));
	assert_int_equal(link_ev(U_LEAD, PQgetvalue(ids, 0, 0), "XX:SG1.SP1", "nowhere", NULL),
			 OPRA_NOT_FOUND);
	assert_int_equal(link_ev(U_LEAD, "12abc", "XX:SG1.SP1", NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(count("SELECT count(*) FROM evidence_links"), 4);
	PQclear(ids);

	/* Linked evidence is no longer a candidate there, and counts there. */
	assert_int_equal(candidates(U_LEAD, "XX:SG1.SP1", &cr), OPRA_OK);
	assert_int_equal(cr->n_candidates, 0);
	testserver_reply_free(cr);
	ch_ok("XX:SG1.SP1", "claims", "FI");
	ch_ok("XX:SG1.SP1", "billing", "FI");
	assert_int_equal(show(U_LEAD, "rate", "XX", 0, &r), OPRA_OK);
	p = practice_of(pa_of(r, "XX"), "XX:SG1.SP1");
	assert_string_equal(cell_of(p, "claims")->suggested, "fi");
	assert_string_equal(cell_of(p, "billing")->suggested, "fi");
	assert_string_equal(p->org_value, "fi");
	testserver_reply_free(r);
}

static void two_writers_conflict(void **state)
{
	(void)state;
	Opra__V1__CharacterizeReply *cr = NULL;
	/* First write with --expect-version 0 (not characterised yet). */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:SG1.SP1", "claims", "fi", 1, 0, &cr),
			 OPRA_OK);
	assert_string_equal(cr->result, "created");
	assert_int_equal(cr->version, 1);
	assert_string_equal(cr->previous_value, "");
	testserver_reply_free(cr);
	/* Both read version 1; the appraiser writes first. */
	assert_int_equal(characterize(U_APPRAISER, "rate", "EE:SG1.SP1", "claims", "LI", 1, 1, &cr),
			 OPRA_OK);
	assert_string_equal(cr->result, "changed");
	assert_string_equal(cr->previous_value, "fi");
	assert_int_equal(cr->version, 2);
	testserver_reply_free(cr);
	long events = count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL");
	/* The lead's write with the stale version is refused with the current
	 * state, and changes nothing. */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:SG1.SP1", "claims", "PI", 1, 1, NULL),
			 OPRA_ABORTED);
	assert_non_null(strstr(opra_err_msg(), "changed to li by appraiser"));
	assert_non_null(strstr(opra_err_msg(), "--expect-version 2"));
	assert_non_null(strstr(opra_err_details(), "\"current_version\":2"));
	assert_non_null(strstr(opra_err_details(), "\"current_value\":\"li\""));
	assert_non_null(strstr(opra_err_details(), "\"updated_by\":\"appraiser\""));
	assert_int_equal(count("SELECT count(*) FROM characterisations c JOIN practices p ON p.id "
			       "= c.practice_id WHERE p.full_id = 'EE:SG1.SP1' AND c.value = "
			       "'li' AND c.version = 2"),
			 1);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL"),
			 events);
	/* Expecting "not characterised yet" on a cell that is: refused too. */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:SG1.SP1", "claims", "PI", 1, 0, NULL),
			 OPRA_ABORTED);
	/* Expecting a version of a cell never written. */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:SG1.SP2", "claims", "PI", 1, 3, NULL),
			 OPRA_ABORTED);
	assert_non_null(strstr(opra_err_details(), "\"current_version\":0"));
	/* The same value again: unchanged, no new version, no event. */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:SG1.SP1", "claims", "li", 1, 2, &cr),
			 OPRA_OK);
	assert_string_equal(cr->result, "unchanged");
	assert_int_equal(cr->version, 2);
	testserver_reply_free(cr);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL"),
			 events);
	/* Without --expect-version the write applies, and is logged. */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:SG1.SP1", "claims", "PI", 0, 0, &cr),
			 OPRA_OK);
	assert_int_equal(cr->version, 3);
	assert_string_equal(cr->value, "pi");
	testserver_reply_free(cr);
	assert_int_equal(count("SELECT count(*) FROM events WHERE appraisal_id IS NOT NULL AND "
			       "object = 'characterisation EE:SG1.SP1@claims' AND before->>'value' "
			       "= 'li' AND after->>'value' = 'pi'"),
			 1);
}

static void bad_input_changes_nothing(void **state)
{
	(void)state;
	sql("UPDATE appraisals SET sealed_at = now(), sealed_head = head, sealed_by = created_by "
	    "WHERE name = 'sealed-one'");
	const char *totals = "SELECT (SELECT count(*) FROM characterisations) + (SELECT count(*) "
			     "FROM judgements) * 1000 + (SELECT count(*) FROM weaknesses) * "
			     "100000 + (SELECT count(*) FROM events) * 10000000";
	long before = count(totals);
	static const struct {
		const char *practice, *instance, *value;
		int want;
		const char *says;
	} ch[] = {
		{"EE:SG1.SP2", "claims", "XI", OPRA_INVALID_ARGUMENT, "FI, LI, PI, NI or NY"},
		{"EE:SG1.SP2", "claims", "none", OPRA_INVALID_ARGUMENT, "unknown value"},
		{"EE:SG1.SP2", "claims", "", OPRA_INVALID_ARGUMENT, "--value"},
		{"ZZ:SG1.SP1", "claims", "FI", OPRA_INVALID_ARGUMENT, "not in the scope"},
		{"QQ:SG1.SP1", "claims", "FI", OPRA_NOT_FOUND, "not in the models"},
		{"EE:SG1.SP2", "nowhere", "FI", OPRA_NOT_FOUND, "its instances: billing, claims"},
		{"", "claims", "FI", OPRA_INVALID_ARGUMENT, "practice"},
		{"EE:SG1.SP2\n", "claims", "FI", OPRA_INVALID_ARGUMENT, "practice"},
	};
	for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
		int rc = characterize(U_LEAD, "rate", ch[i].practice, ch[i].instance, ch[i].value,
				      0, 0, NULL);
		if (rc != ch[i].want || strstr(opra_err_msg(), ch[i].says) == NULL)
			fail_msg("characterize case %zu: got %s (%s)", i, opra_status_name(rc),
				 opra_err_msg());
	}
	/* Sealed: refused with FAILED_PRECONDITION (exit 5), for every change. */
	assert_int_equal(
		characterize(U_LEAD, "sealed-one", "AA:SG1.SP1", "claims", "FI", 0, 0, NULL),
		OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "cannot change"));
	assert_int_equal(weakness(U_LEAD, "sealed-one", "AA:SG1.SP1", "claims", "gap", 0),
			 OPRA_FAILED_PRECONDITION);
	assert_int_equal(judge(U_LEAD, "sealed-one", "AA:SG1.SP1", "FI", "why", NULL),
			 OPRA_FAILED_PRECONDITION);
	/* Judgements: non-lead, staff, no rationale, NY, unknown. */
	assert_int_equal(judge(U_APPRAISER, "rate", "EE:SG1.SP1", "LI", "why", NULL),
			 OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "lead"));
	assert_int_equal(judge(U_ADMIN, "rate", "EE:SG1.SP1", "LI", "why", NULL),
			 OPRA_PERMISSION_DENIED);
	assert_int_equal(judge(U_LEAD, "rate", "EE:SG1.SP1", "LI", "", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "rationale"));
	assert_int_equal(judge(U_LEAD, "rate", "EE:SG1.SP1", "NY", "why", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "cannot be NY"));
	assert_int_equal(judge(U_LEAD, "rate", "EE:SG1.SP1", "AB", "why", NULL),
			 OPRA_INVALID_ARGUMENT);
	/* Weaknesses: no text, too long, control characters. */
	assert_int_equal(weakness(U_LEAD, "rate", "EE:SG1.SP1", "claims", "", 0),
			 OPRA_INVALID_ARGUMENT);
	char *huge = malloc(5000);
	memset(huge, 'w', 4999);
	huge[4999] = '\0';
	assert_int_equal(weakness(U_LEAD, "rate", "EE:SG1.SP1", "claims", huge, 1),
			 OPRA_OUT_OF_RANGE);
	free(huge);
	assert_int_equal(weakness(U_LEAD, "rate", "EE:SG1.SP1", "claims", "bell\a", 1),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(count(totals), before);
}

static void role_matrix(void **state)
{
	(void)state;
	enum { OK = OPRA_OK, PD = OPRA_PERMISSION_DENIED };
	static const int may_write[U_N] = {[U_LEAD] = 1, [U_APPRAISER] = 1};
	static const int may_read[U_N] = {
		[U_ADMIN] = 1, [U_PO] = 1, [U_LEAD] = 1, [U_APPRAISER] = 1, [U_VIEWER] = 1};
	char ev[32];
	PGresult *r = NULL;
	assert_int_equal(
		db_exec(&r, ts.db, 1,
			"SELECT e.id FROM evidence e JOIN practices p ON p.id = "
			"e.practice_id WHERE p.full_id = 'AA:SG1.SP2' ORDER BY e.id LIMIT 1",
			0, NULL),
		OPRA_OK);
	snprintf(ev, sizeof(ev), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	for (int u = 0; u < U_N; u++) {
		int want = may_write[u] ? OK : PD, rc;
		if ((rc = characterize(u, "rate", "EE:GG1.GP1", "billing", u % 2 ? "FI" : "LI", 0,
				       0, NULL)) != want)
			fail_msg("Characterize as %s: %s", user_names[u], opra_status_name(rc));
		if ((rc = weakness(u, "rate", "EE:GG1.GP1", "billing", "matrix", 0)) != want)
			fail_msg("WeaknessAdd as %s: %s", user_names[u], opra_status_name(rc));
		if ((rc = link_ev(u, ev, "XX:SG1.SP2", NULL, NULL)) != want)
			fail_msg("Link as %s: %s", user_names[u], opra_status_name(rc));
		want = u == U_LEAD ? OK : PD;
		if ((rc = judge(u, "rate", "EE:GG1.GP1", "FI", "matrix", NULL)) != want)
			fail_msg("Judge as %s: %s", user_names[u], opra_status_name(rc));
		want = may_read[u] ? OK : PD;
		if ((rc = show(u, "rate", "EE", 0, NULL)) != want)
			fail_msg("Show as %s: %s", user_names[u], opra_status_name(rc));
		if ((rc = candidates(u, NULL, NULL)) != want)
			fail_msg("Candidates as %s: %s", user_names[u], opra_status_name(rc));
	}
	/* Judged where no judgement is needed: recorded, and ignored. */
	Opra__V1__JudgeReply *j = NULL;
	assert_int_equal(judge(U_LEAD, "rate", "EE:GG1.GP1", "FI", "matrix", &j), OPRA_OK);
	assert_string_equal(j->status, "not-needed");
	testserver_reply_free(j);
}

static void significant_weakness(void **state)
{
	(void)state;
	Opra__V1__RatingShowReply *r = NULL;
	/* A weakness that is not significant leaves the goal satisfied. */
	assert_int_equal(weakness(U_APPRAISER, "rate", "AA:SG1.SP2", "claims",
				  "the register misses two laptops", 0),
			 OPRA_OK);
	assert_int_equal(show(U_LEAD, "rate", "AA", 0, &r), OPRA_OK);
	assert_string_equal(goal_of(pa_of(r, "AA"), "SG1")->rating, "satisfied");
	assert_int_equal(pa_of(r, "AA")->capability_level, 2);
	const Opra__V1__PracticeRating *p = practice_of(pa_of(r, "AA"), "AA:SG1.SP2");
	assert_int_equal(p->weaknesses, 1);
	assert_string_equal(cell_of(p, "claims")->suggested, "li");
	testserver_reply_free(r);
	/* A significant one makes it unsatisfied, and the PA drops to CL0. */
	assert_int_equal(weakness(U_APPRAISER, "rate", "AA:SG1.SP2", "claims",
				  "no owner for the asset register", 1),
			 OPRA_OK);
	assert_int_equal(show(U_LEAD, "rate", "AA", 1, &r), OPRA_OK);
	const Opra__V1__PaRating *aa = pa_of(r, "AA");
	const Opra__V1__GoalRating *sg1 = goal_of(aa, "SG1");
	assert_string_equal(sg1->rating, "unsatisfied");
	assert_non_null(strstr(sg1->explanation, "no owner for the asset register"));
	assert_string_equal(aa->status, "rated");
	assert_int_equal(aa->capability_level, 0);
	assert_int_equal(practice_of(aa, "AA:SG1.SP2")->significant_weaknesses, 1);
	testserver_reply_free(r);
}

/* ---- rating_cells: the cells Show reads stay exact ---- */

static int ev_submit(int who, const char *practice, const char *instance, const char *kind,
		     const char *text, char id[32])
{
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	Opra__V1__EvidenceReply *r = NULL;
	req.appraisal = "rate";
	req.practice = (char *)practice;
	req.instance = (char *)instance;
	req.kind = (char *)kind;
	req.title = "cells";
	req.text = (char *)text;
	int rc = testserver_call(cl[who], "opra.v1.Evidence/Submit", &req.base,
				 &opra__v1__evidence_reply__descriptor, &r, "");
	if (rc == OPRA_OK) {
		snprintf(id, 32, "%s", r->evidence->id);
		testserver_reply_free(r);
	}
	return rc;
}

static void ev_decide(const char *method, const char *id)
{
	Opra__V1__EvidenceDecideRequest req = OPRA__V1__EVIDENCE_DECIDE_REQUEST__INIT;
	req.id = (char *)id;
	req.reason = "cells test";
	if (testserver_call(cl[U_LEAD], method, &req.base, &opra__v1__evidence_reply__descriptor,
			    NULL, "") != OPRA_OK)
		fail_msg("%s %s: %s", method, id, opra_err_msg());
}

/* Rows where rating_cells differs from characterisations plus a count over
 * evidence and links (every appraisal; a cell with no characterisation and
 * no counted evidence is the same as no row). */
static long cells_wrong(void)
{
	return count("WITH truth AS (SELECT appraisal_id, practice_id, instance_id, max(value) v, "
		     "coalesce(max(version), 0) n, count(*) FILTER (WHERE kind = 'artifact') a, "
		     "count(*) FILTER (WHERE kind = 'affirmation') f FROM (SELECT c.appraisal_id, "
		     "c.practice_id, c.instance_id, c.value, c.version, NULL::text kind FROM "
		     "characterisations c UNION ALL SELECT e.appraisal_id, e.practice_id, "
		     "e.instance_id, NULL, NULL, e.kind FROM evidence e WHERE e.status = "
		     "'accepted' UNION ALL SELECT e.appraisal_id, l.practice_id, l.instance_id, "
		     "NULL, NULL, e.kind FROM evidence_links l JOIN evidence e ON e.id = "
		     "l.evidence_id WHERE e.status = 'accepted') x GROUP BY 1, 2, 3), cells AS "
		     "(SELECT appraisal_id, practice_id, instance_id, value v, version n, "
		     "artifacts::bigint a, affirmations::bigint f FROM rating_cells WHERE value IS "
		     "NOT NULL OR version <> 0 OR artifacts <> 0 OR affirmations <> 0) "
		     "SELECT count(*) FROM ((TABLE truth EXCEPT TABLE cells) UNION ALL "
		     "(TABLE cells EXCEPT TABLE truth)) d");
}

/* A checksum of every row of rating_cells. */
static long cells_sum(void)
{
	return count("SELECT coalesce(sum(hashtext(appraisal_id || '/' || practice_id || '/' || "
		     "instance_id || '/' || coalesce(value, '-') || '/' || version || '/' || "
		     "artifacts || '/' || affirmations)), 0) FROM rating_cells");
}

/* artifacts * 100 + affirmations stored for one cell of "rate" */
static long cell_counts(const char *practice, const char *instance)
{
	char q[512];
	snprintf(q, sizeof(q),
		 "SELECT coalesce((SELECT c.artifacts * 100 + c.affirmations FROM rating_cells "
		 "c JOIN appraisals a ON a.id = c.appraisal_id JOIN practices p ON p.id = "
		 "c.practice_id JOIN appraisal_instances i ON i.id = c.instance_id WHERE a.name "
		 "= 'rate' AND p.full_id = '%s' AND i.name = '%s'), 0)",
		 practice, instance);
	return count(q);
}

#define CELLS_EXACT(practice, instance, want)                                                      \
	do {                                                                                       \
		assert_int_equal(cells_wrong(), 0);                                                \
		assert_int_equal(cell_counts(practice, instance), want);                           \
	} while (0)

/* What Show suggests for one cell of EE (the counts as a user sees them). */
static void suggested_is(const char *practice, const char *instance, const char *want)
{
	Opra__V1__RatingShowReply *r = NULL;
	assert_int_equal(show(U_LEAD, "rate", "EE", 0, &r), OPRA_OK);
	assert_string_equal(cell_of(practice_of(pa_of(r, "EE"), practice), instance)->suggested,
			    want);
	testserver_reply_free(r);
}

/* The characterisation of one cell of "rate" as rating_cells holds it
 * (value NULL: none) and as Show gives it to a user. */
static void char_is(const char *practice, const char *instance, const char *value, int version)
{
	char q[640];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM appraisals a JOIN appraisal_instances i ON i.appraisal_id "
		 "= a.id CROSS JOIN practices p LEFT JOIN rating_cells c ON c.appraisal_id = a.id "
		 "AND c.practice_id = p.id AND c.instance_id = i.id WHERE a.name = 'rate' AND "
		 "p.full_id = '%s' AND i.name = '%s' AND c.value IS NOT DISTINCT FROM %s%s%s AND "
		 "coalesce(c.version, 0) = %d",
		 practice, instance, value ? "'" : "", value ? value : "NULL", value ? "'" : "",
		 version);
	assert_int_equal(count(q), 1);
	Opra__V1__RatingShowReply *r = NULL;
	assert_int_equal(show(U_LEAD, "rate", "EE", 0, &r), OPRA_OK);
	const Opra__V1__InstanceValue *iv =
		cell_of(practice_of(pa_of(r, "EE"), practice), instance);
	assert_string_equal(iv->value, value ? value : "none");
	assert_int_equal(iv->version, version);
	testserver_reply_free(r);
}

#define CHAR_EXACT(practice, instance, value, version)                                             \
	do {                                                                                       \
		assert_int_equal(cells_wrong(), 0);                                                \
		char_is(practice, instance, value, version);                                       \
	} while (0)

static void rating_cells_follow_characterisations(void **state)
{
	(void)state;
	Opra__V1__CharacterizeReply *cr = NULL;
	assert_int_equal(cells_wrong(), 0);
	CHAR_EXACT("EE:GG2.GP1", "claims", NULL, 0);

	/* new, unchanged, changed */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:GG2.GP1", "claims", "FI", 1, 0, &cr),
			 OPRA_OK);
	assert_string_equal(cr->result, "created");
	testserver_reply_free(cr);
	CHAR_EXACT("EE:GG2.GP1", "claims", "fi", 1);
	assert_int_equal(characterize(U_LEAD, "rate", "EE:GG2.GP1", "claims", "fi", 1, 1, &cr),
			 OPRA_OK);
	assert_string_equal(cr->result, "unchanged");
	testserver_reply_free(cr);
	CHAR_EXACT("EE:GG2.GP1", "claims", "fi", 1);
	assert_int_equal(characterize(U_APPRAISER, "rate", "EE:GG2.GP1", "claims", "LI", 1, 1, &cr),
			 OPRA_OK);
	assert_string_equal(cr->result, "changed");
	testserver_reply_free(cr);
	CHAR_EXACT("EE:GG2.GP1", "claims", "li", 2);
	ch_ok("EE:GG2.GP1", "billing", "NY");
	CHAR_EXACT("EE:GG2.GP1", "billing", "ny", 1);

	/* a stale version is refused and changes nothing */
	long before = cells_sum();
	assert_int_equal(characterize(U_LEAD, "rate", "EE:GG2.GP1", "claims", "PI", 1, 1, NULL),
			 OPRA_ABORTED);
	assert_int_equal(characterize(U_LEAD, "rate", "EE:GG2.GP2", "claims", "PI", 1, 4, NULL),
			 OPRA_ABORTED);
	assert_int_equal(cells_sum(), before);
	CHAR_EXACT("EE:GG2.GP1", "claims", "li", 2);
	CHAR_EXACT("EE:GG2.GP2", "claims", NULL, 0);

	/* a rolled-back transaction (plain SQL: changed, note only, deleted,
	 * inserted, moved to another cell) leaves the cells as they were */
	sql("BEGIN;"
	    "UPDATE characterisations SET value = 'ni', version = version + 1 WHERE version = 2 "
	    "AND practice_id = (SELECT id FROM practices WHERE full_id = 'EE:GG2.GP1');"
	    "UPDATE characterisations SET note = 'only the note';"
	    "DELETE FROM characterisations WHERE value = 'ny';"
	    "INSERT INTO characterisations (appraisal_id, practice_id, instance_id, value, "
	    "updated_by) SELECT appraisal_id, (SELECT id FROM practices WHERE full_id = "
	    "'EE:GG2.GP2'), instance_id, 'pi', updated_by FROM characterisations WHERE "
	    "practice_id = (SELECT id FROM practices WHERE full_id = 'EE:GG2.GP1');"
	    "UPDATE characterisations SET practice_id = (SELECT id FROM practices WHERE full_id "
	    "= 'EE:GG1.GP1') WHERE practice_id = (SELECT id FROM practices WHERE full_id = "
	    "'EE:GG2.GP2');");
	assert_int_equal(cells_wrong(), 0); /* exact inside the transaction too */
	sql("ROLLBACK");
	assert_int_equal(cells_sum(), before);
	CHAR_EXACT("EE:GG2.GP1", "claims", "li", 2);
	CHAR_EXACT("EE:GG2.GP1", "billing", "ny", 1);

	/* committed by hand (the server never deletes or moves one): exact */
	sql("UPDATE characterisations SET instance_id = (SELECT i.id FROM appraisal_instances i "
	    "JOIN appraisals a ON a.id = i.appraisal_id WHERE a.name = 'rate' AND i.name = "
	    "'claims'), practice_id = (SELECT id FROM practices WHERE full_id = 'EE:GG2.GP2') "
	    "WHERE value = 'ny' AND practice_id = (SELECT id FROM practices WHERE full_id = "
	    "'EE:GG2.GP1')");
	CHAR_EXACT("EE:GG2.GP1", "billing", NULL, 0);
	CHAR_EXACT("EE:GG2.GP2", "claims", "ny", 1);
	sql("DELETE FROM characterisations WHERE value = 'ny' AND practice_id = (SELECT id FROM "
	    "practices WHERE full_id = 'EE:GG2.GP2')");
	CHAR_EXACT("EE:GG2.GP2", "claims", NULL, 0);
	/* and the server writes the cell again from scratch */
	assert_int_equal(characterize(U_LEAD, "rate", "EE:GG2.GP2", "claims", "PI", 1, 0, &cr),
			 OPRA_OK);
	assert_int_equal(cr->version, 1);
	testserver_reply_free(cr);
	CHAR_EXACT("EE:GG2.GP2", "claims", "pi", 1);
}

static void rating_cells_follow_evidence(void **state)
{
	(void)state;
	char art[32], aff[32], tmp[32];
	/* the fixture's multi-row INSERT (accepted and proposed) */
	assert_int_equal(cells_wrong(), 0);
	CELLS_EXACT("AA:SG1.SP1", "claims", 101);
	CELLS_EXACT("CC:SG1.SP1", "billing", 1);
	ch_ok("EE:SG1.SP1", "claims", "LI");
	suggested_is("EE:SG1.SP1", "claims", "");

	/* submitted accepted (a person) and proposed (automation) */
	assert_int_equal(ev_submit(U_APPRAISER, "EE:SG1.SP1", "claims", "artifact", "plan", art),
			 OPRA_OK);
	CELLS_EXACT("EE:SG1.SP1", "claims", 100);
	assert_int_equal(ev_submit(U_BOT, "EE:SG1.SP1", "claims", "affirmation", "said so", aff),
			 OPRA_OK);
	CELLS_EXACT("EE:SG1.SP1", "claims", 100);
	suggested_is("EE:SG1.SP1", "claims", ""); /* an artifact alone: the team decides */

	/* accept, reject, accept again */
	ev_decide("opra.v1.Evidence/Accept", aff);
	CELLS_EXACT("EE:SG1.SP1", "claims", 101);
	suggested_is("EE:SG1.SP1", "claims", "fi");
	ev_decide("opra.v1.Evidence/Reject", aff);
	CELLS_EXACT("EE:SG1.SP1", "claims", 100);
	suggested_is("EE:SG1.SP1", "claims", "");
	ev_decide("opra.v1.Evidence/Accept", aff);
	CELLS_EXACT("EE:SG1.SP1", "claims", 101);

	/* linked: counts in the other cell too, and follows the status */
	assert_int_equal(link_ev(U_APPRAISER, aff, "EE:SG1.SP2", "billing", NULL), OPRA_OK);
	assert_int_equal(link_ev(U_APPRAISER, art, "EE:SG1.SP2", "billing", NULL), OPRA_OK);
	CELLS_EXACT("EE:SG1.SP2", "billing", 101);
	ch_ok("EE:SG1.SP2", "billing", "FI");
	suggested_is("EE:SG1.SP2", "billing", "fi");
	ev_decide("opra.v1.Evidence/Reject", art);
	CELLS_EXACT("EE:SG1.SP2", "billing", 1);
	CELLS_EXACT("EE:SG1.SP1", "claims", 1);
	suggested_is("EE:SG1.SP2", "billing", "pi");
	ev_decide("opra.v1.Evidence/Accept", art);
	CELLS_EXACT("EE:SG1.SP2", "billing", 101);
	CELLS_EXACT("EE:SG1.SP1", "claims", 101);
	/* a proposed item linked counts once it is accepted */
	assert_int_equal(ev_submit(U_BOT, "EE:SG1.SP1", "billing", "artifact", "log", tmp),
			 OPRA_OK);
	assert_int_equal(link_ev(U_APPRAISER, tmp, "EE:SG1.SP2", "billing", NULL), OPRA_OK);
	CELLS_EXACT("EE:SG1.SP2", "billing", 101);
	ev_decide("opra.v1.Evidence/Accept", tmp);
	CELLS_EXACT("EE:SG1.SP2", "billing", 201);
	CELLS_EXACT("EE:SG1.SP1", "billing", 100);

	/* a rolled-back transaction leaves the counts as they were */
	long before = cells_sum();
	sql("BEGIN;"
	    "UPDATE evidence SET status = 'rejected' WHERE title = 'cells';"
	    "INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, title, status, "
	    "sha256, size, body_text, submitted_by) SELECT appraisal_id, practice_id, "
	    "instance_id, kind, 'rolled back', 'accepted', sha256, size, body_text, "
	    "submitted_by FROM evidence WHERE title = 'fixture';"
	    "DELETE FROM evidence_links;");
	assert_int_equal(cells_wrong(), 0); /* exact inside the transaction too */
	assert_int_equal(cell_counts("EE:SG1.SP2", "billing"), 0);
	assert_int_equal(cell_counts("AA:SG1.SP1", "claims"), 202);
	sql("ROLLBACK");
	assert_int_equal(cells_sum(), before);
	CELLS_EXACT("EE:SG1.SP2", "billing", 201);
	CELLS_EXACT("AA:SG1.SP1", "claims", 101);
	/* evidence moved by hand (the server never does): exact as well */
	sql("UPDATE evidence SET practice_id = (SELECT id FROM practices WHERE full_id = "
	    "'EE:SG1.SP2') WHERE id = (SELECT max(id) FROM evidence WHERE title = 'cells')");
	CELLS_EXACT("EE:SG1.SP1", "billing", 0);
	CELLS_EXACT("EE:SG1.SP2", "billing", 301);
}

/* The compact cells (RatingShowRequest.compact, as the CLI asks) say what
 * the InstanceValue messages say. */
static void compact_show_matches(void **state)
{
	(void)state;
	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	Opra__V1__RatingShowReply *full = NULL, *cmp = NULL;
	req.appraisal = "rate";
	assert_int_equal(show(U_LEAD, "rate", NULL, 0, &full), OPRA_OK);
	req.compact = 1;
	assert_int_equal(testserver_call(cl[U_LEAD], M("Show"), &req.base,
					 &opra__v1__rating_show_reply__descriptor, &cmp, NULL),
			 OPRA_OK);
	assert_int_equal(cmp->n_instances, 2);
	assert_int_equal(cmp->n_process_areas, full->n_process_areas);
	size_t cells = 0, characterised = 0;
	for (size_t a = 0; a < full->n_process_areas; a++)
		for (size_t g = 0; g < full->process_areas[a]->n_goals; g++)
			for (size_t k = 0; k < full->process_areas[a]->goals[g]->n_practices; k++) {
				const Opra__V1__PracticeRating *f =
					full->process_areas[a]->goals[g]->practices[k];
				const Opra__V1__PracticeRating *c =
					cmp->process_areas[a]->goals[g]->practices[k];
				assert_string_equal(c->id, f->id);
				assert_string_equal(c->org_value, f->org_value);
				assert_int_equal(c->n_instances, 0);
				assert_int_equal(strlen(c->cell_values), f->n_instances);
				assert_int_equal(strlen(c->cell_suggested), f->n_instances);
				assert_int_equal(c->n_cell_versions, f->n_instances);
				for (size_t i = 0; i < f->n_instances; i++) {
					const Opra__V1__InstanceValue *iv = f->instances[i];
					char v[3] = {(char)c->cell_values[i], 0, 0};
					char s[3] = {(char)c->cell_suggested[i], 0, 0};
					static const char *const words[] = {"F", "fi", "L", "li",
									    "P", "pi", "N", "ni",
									    "Y", "ny", "-", "none"};
					const char *vw = NULL, *sw = NULL;
					for (size_t w = 0; w < 12; w += 2) {
						if (strcmp(v, words[w]) == 0)
							vw = words[w + 1];
						if (strcmp(s, words[w]) == 0)
							sw = strcmp(words[w], "-") ? words[w + 1]
										   : "";
					}
					assert_non_null(vw);
					assert_non_null(sw);
					assert_string_equal(cmp->instances[i], iv->instance);
					assert_string_equal(vw, iv->value);
					assert_string_equal(sw, iv->suggested);
					assert_int_equal(c->cell_versions[i], iv->version);
					cells++;
					characterised += iv->version > 0;
				}
			}
	assert_true(cells > 0);
	assert_true(characterised > 0);
	testserver_reply_free(full);
	testserver_reply_free(cmp);
}

/* ---- gaps, blocking goals, unit views (issue 8) ---- */

static int show_req(int who, Opra__V1__RatingShowRequest *req, Opra__V1__RatingShowReply **out)
{
	return testserver_call(cl[who], M("Show"), &req->base,
			       &opra__v1__rating_show_reply__descriptor, out, NULL);
}

static const Opra__V1__BlockingGoal *only_blocking(const Opra__V1__PaRating *pa, const char *goal)
{
	assert_int_equal(pa->n_blocking, 1);
	assert_string_equal(pa->blocking[0]->id, goal);
	return pa->blocking[0];
}

static void assert_strings(char **v, size_t n, const char *const *want, size_t n_want)
{
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
}

/* On "rate" after the tests above: AA is CL0 against target 2 (gap 2),
 * blocked by SG1 through a significant weakness on AA:SG1.SP2 at claims;
 * BB is CL1 (gap 1), blocked by GG2 through BB:GG2.GP2 (PI at both
 * instances); CC is not rated, blocked by SG1 for want of an artifact at
 * billing. The summary form carries the same levels without practices. */
static void gaps_and_blocking(void **state)
{
	(void)state;
	Opra__V1__RatingShowReply *r = NULL;
	assert_int_equal(show(U_VIEWER, "rate", NULL, 0, &r), OPRA_OK);
	const Opra__V1__PaRating *aa = pa_of(r, "AA"), *bb = pa_of(r, "BB"), *cc = pa_of(r, "CC");
	/* AA: CL0 since significant_weakness (target 2) */
	assert_int_equal(aa->capability_level, 0);
	assert_int_equal(aa->gap, 2);
	assert_int_equal(aa->next_level, 1);
	const Opra__V1__BlockingGoal *w = only_blocking(aa, "SG1");
	static const char *const weak[] = {"significant-weakness"};
	assert_strings(w->reasons, w->n_reasons, weak, 1);
	assert_int_equal(w->n_practices, 1);
	assert_string_equal(w->practices[0]->id, "AA:SG1.SP2");
	assert_string_equal(w->practices[0]->org_value, "fi");
	static const char *const claims[] = {"claims"};
	assert_strings(w->practices[0]->instances, w->practices[0]->n_instances, claims, 1);
	assert_non_null(strstr(w->explanation, "no owner for the asset register"));

	assert_int_equal(bb->capability_level, 1);
	assert_int_equal(bb->gap, 1);
	assert_int_equal(bb->next_level, 2);
	const Opra__V1__BlockingGoal *b = only_blocking(bb, "GG2");
	assert_string_equal(b->rating, "unsatisfied");
	static const char *const partial[] = {"partial"};
	assert_strings(b->reasons, b->n_reasons, partial, 1);
	assert_int_equal(b->n_practices, 1);
	assert_string_equal(b->practices[0]->id, "BB:GG2.GP2");
	assert_string_equal(b->practices[0]->org_value, "pi");
	static const char *const both[] = {"billing", "claims"};
	assert_strings(b->practices[0]->instances, b->practices[0]->n_instances, both, 2);
	assert_non_null(strstr(b->explanation, "BB:GG2.GP2"));

	assert_string_equal(cc->status, "not-rated");
	assert_int_equal(cc->gap, -1); /* not rated: no gap, never read as 0 */
	assert_int_equal(cc->next_level, 1);
	b = only_blocking(cc, "SG1");
	assert_string_equal(b->rating, "not-rated");
	static const char *const no_artifact[] = {"no-artifact"};
	assert_strings(b->reasons, b->n_reasons, no_artifact, 1);
	assert_int_equal(b->n_practices, 1);
	assert_string_equal(b->practices[0]->id, "CC:SG1.SP1");
	static const char *const billing[] = {"billing"};
	assert_strings(b->practices[0]->instances, b->practices[0]->n_instances, billing, 1);
	testserver_reply_free(r);

	/* summary: the same levels and gaps, goals without practices */
	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	req.appraisal = "rate";
	req.summary = 1;
	assert_int_equal(show_req(U_PO, &req, &r), OPRA_OK);
	bb = pa_of(r, "BB");
	assert_int_equal(bb->capability_level, 1);
	assert_int_equal(bb->gap, 1);
	assert_int_equal(bb->n_blocking, 1);
	assert_string_equal(goal_of(bb, "GG2")->rating, "unsatisfied");
	for (size_t a = 0; a < r->n_process_areas; a++)
		for (size_t g = 0; g < r->process_areas[a]->n_goals; g++)
			assert_int_equal(r->process_areas[a]->goals[g]->n_practices, 0);
	assert_int_equal(r->n_instances, 2);
	assert_int_equal(r->n_units, 0);
	testserver_reply_free(r);
}

/* Appraisal "sites": PA AA (target 2) over service n1 (unit north),
 * service s1 (unit south) and the unit lab (a child of south) itself;
 * north and south are children of org. Everything FI except AA:SG1.SP2,
 * PI at s1 and lab. Organisation: FI + PI needs judgement (not rated);
 * north CL2; south (s1 + lab) and lab CL0, blocked by AA:SG1.SP2. */
static void unit_views(void **state)
{
	(void)state;
	sql("INSERT INTO units (name) VALUES ('org');"
	    "INSERT INTO units (name, parent_id, site) SELECT v.n, u.id, v.s FROM units u, "
	    "(VALUES ('north', 'Boston'), ('south', 'Austin')) v(n, s) WHERE u.name = 'org';"
	    "INSERT INTO units (name, parent_id) SELECT 'lab', id FROM units WHERE name = 'south';"
	    "INSERT INTO units (name, parent_id) SELECT 'idle', id FROM units WHERE name = 'org';"
	    "INSERT INTO services (name, unit_id) SELECT 'n1', id FROM units WHERE name = 'north';"
	    "INSERT INTO services (name, unit_id) SELECT 's1', id FROM units WHERE name = 'south';"
	    "INSERT INTO appraisals (name, created_by, target_level) SELECT 'sites', id, 2 FROM "
	    "users WHERE name = 'lead';"
	    "INSERT INTO appraisal_models SELECT a.id, m.id FROM appraisals a, models m WHERE "
	    "a.name = 'sites' AND m.key = 'ta-1';"
	    "INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT a.id, pa.id FROM appraisals "
	    "a, process_areas pa JOIN models m ON m.id = pa.model_id WHERE a.name = 'sites' AND "
	    "m.key = 'ta-1' AND pa.code = 'AA';"
	    "INSERT INTO appraisal_instances (appraisal_id, kind, service_id, name, added_by) "
	    "SELECT a.id, 'service', s.id, s.name, a.created_by FROM appraisals a, services s "
	    "WHERE a.name = 'sites' AND s.name IN ('n1', 's1');"
	    "INSERT INTO appraisal_instances (appraisal_id, kind, unit_id, name, added_by) "
	    "SELECT a.id, 'unit', u.id, u.name, a.created_by FROM appraisals a, units u "
	    "WHERE a.name = 'sites' AND u.name = 'lab';"
	    "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
	    "SELECT a.id, u.id, r, a.created_by FROM appraisals a, (VALUES ('lead', 'lead'), "
	    "('appraiser', 'appraiser'), ('viewer', 'viewer')) v(n, r) JOIN users u ON u.name = "
	    "v.n WHERE a.name = 'sites';"
	    "INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, title, status, "
	    "sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, k, 'sites', "
	    "'accepted', sha256(convert_to('sites' || p.full_id || i.name || k, 'UTF8')), 1, "
	    "'x', a.created_by FROM appraisals a JOIN appraisal_instances i ON i.appraisal_id = "
	    "a.id CROSS JOIN practices p JOIN goals g ON g.id = p.goal_id JOIN process_areas pa "
	    "ON pa.id = g.pa_id JOIN models m ON m.id = pa.model_id CROSS JOIN "
	    "unnest(ARRAY['artifact', 'affirmation']) k WHERE a.name = 'sites' AND m.key = "
	    "'ta-1' AND pa.code = 'AA';");
	static const char *const inst[] = {"lab", "n1", "s1"};
	for (size_t p = 0; p < 5; p++)
		for (size_t i = 0; i < 3; i++) {
			char id[32];
			snprintf(id, sizeof(id), "AA:%s", practices_of_pa[p]);
			const char *v = p == 1 && i != 1 ? "PI" : "FI";
			if (characterize(U_APPRAISER, "sites", id, inst[i], v, 0, 0, NULL) !=
			    OPRA_OK)
				fail_msg("characterize %s@%s: %s", id, inst[i], opra_err_msg());
		}

	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	Opra__V1__RatingShowReply *r = NULL;
	req.appraisal = "sites";
	req.by_unit = 1;
	assert_int_equal(show_req(U_VIEWER, &req, &r), OPRA_OK);
	const Opra__V1__PaRating *aa = pa_of(r, "AA");
	assert_string_equal(aa->status, "not-rated");
	assert_int_equal(aa->gap, -1);
	const Opra__V1__BlockingGoal *b = only_blocking(aa, "SG1");
	static const char *const judgement[] = {"needs-judgement"};
	assert_strings(b->reasons, b->n_reasons, judgement, 1);
	static const char *const pi_at[] = {"lab", "s1"};
	assert_int_equal(b->n_practices, 1);
	assert_string_equal(b->practices[0]->id, "AA:SG1.SP2");
	assert_string_equal(b->practices[0]->org_value, "needs-judgement");
	assert_strings(b->practices[0]->instances, b->practices[0]->n_instances, pi_at, 2);
	/* every unit holding an instance, root first, depth-first by name;
	 * idle holds none and is left out */
	assert_int_equal(r->n_units, 4);
	static const char *const units[] = {"org", "north", "south", "lab"};
	static const char *const parents[] = {"", "org", "org", "south"};
	static const int levels[] = {-1, 2, 0, 0};
	static const int gaps[] = {-1, 0, 2, 2};
	static const size_t n_inst[] = {3, 1, 2, 1};
	for (size_t u = 0; u < 4; u++) {
		const Opra__V1__UnitRating *ur = r->units[u];
		assert_string_equal(ur->unit, units[u]);
		assert_string_equal(ur->parent, parents[u]);
		assert_int_equal(ur->n_instances, n_inst[u]);
		assert_int_equal(ur->n_process_areas, 1);
		assert_int_equal(ur->process_areas[0]->capability_level, levels[u]);
		assert_int_equal(ur->process_areas[0]->gap, gaps[u]);
		assert_int_equal(ur->process_areas[0]->goals[0]->n_practices, 0);
	}
	assert_string_equal(r->units[1]->site, "Boston");
	static const char *const south[] = {"lab", "s1"};
	assert_strings(r->units[2]->instances, r->units[2]->n_instances, south, 2);
	b = only_blocking(r->units[2]->process_areas[0], "SG1");
	assert_string_equal(b->rating, "unsatisfied");
	assert_string_equal(b->practices[0]->id, "AA:SG1.SP2");
	assert_string_equal(b->practices[0]->org_value, "pi");
	assert_strings(b->practices[0]->instances, b->practices[0]->n_instances, south, 2);
	testserver_reply_free(r);

	/* a unit filter: the unit's instances only, with their cells */
	Opra__V1__RatingShowRequest one = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	one.appraisal = "sites";
	one.unit = "north";
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_OK);
	assert_string_equal(r->unit, "north");
	static const char *const n1[] = {"n1"};
	assert_strings(r->unit_instances, r->n_unit_instances, n1, 1);
	aa = pa_of(r, "AA");
	assert_int_equal(aa->capability_level, 2);
	assert_int_equal(aa->gap, 0);
	const Opra__V1__PracticeRating *p = practice_of(aa, "AA:SG1.SP2");
	assert_int_equal(p->n_instances, 1);
	assert_string_equal(cell_of(p, "n1")->value, "fi");
	assert_int_equal(r->characterisations, 15); /* of the whole appraisal */
	testserver_reply_free(r);
	one.unit = "lab";
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_OK);
	assert_int_equal(pa_of(r, "AA")->capability_level, 0);
	testserver_reply_free(r);

	/* bad input: nothing rated, a clear status */
	long events = count("SELECT count(*) FROM events");
	one.unit = "nowhere";
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "nowhere"));
	one.unit = "idle";
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "holds none of the instances"));
	char longname[300];
	memset(longname, 'u', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	one.unit = longname;
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_INVALID_ARGUMENT);
	one.unit = "no\nrth";
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_INVALID_ARGUMENT);
	one.unit = "' OR 1=1 --";
	assert_int_equal(show_req(U_PO, &one, &r), OPRA_NOT_FOUND);
	req.by_unit = 1;
	assert_int_equal(show_req(U_OUTSIDER, &req, &r), OPRA_PERMISSION_DENIED);
	assert_int_equal(count("SELECT count(*) FROM events"), events);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rated_to_known_levels),
		cmocka_unit_test(candidates_and_link),
		cmocka_unit_test(two_writers_conflict),
		cmocka_unit_test(bad_input_changes_nothing),
		cmocka_unit_test(role_matrix),
		cmocka_unit_test(significant_weakness),
		cmocka_unit_test(rating_cells_follow_characterisations),
		cmocka_unit_test(rating_cells_follow_evidence),
		cmocka_unit_test(compact_show_matches),
		cmocka_unit_test(gaps_and_blocking),
		cmocka_unit_test(unit_views),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
