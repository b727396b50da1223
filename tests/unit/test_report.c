/* The report writers (client/report*.c) on hand-made messages, no server:
 * HTML escaping of hostile text, RFC 4180 quoting and the spreadsheet
 * formula guard, the capability profile's geometry, stable UUIDs and OSCAL
 * tokens, and whole documents in every format. */
#include "testlib.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs fn(f, arg) into a memory stream and returns the text (free it). */
static char *capture_str(void (*fn)(FILE *, const char *), const char *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fn(f, arg);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_html_escape(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain text", "plain text"},
		{"<script>alert(\"x\")</script>",
		 "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"},
		{"a & b 'q'", "a &amp; b &#39;q&#39;"},
		{"&amp;", "&amp;amp;"},
		{"tab\tnew\nline", "tab\tnew\nline"},
		{"bell\a esc\x1b del\x7f", "bell&#xFFFD; esc&#xFFFD; del&#xFFFD;"},
		{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		{"bad \xff\xfe utf8 \xc3", "bad &#xFFFD;&#xFFFD; utf8 &#xFFFD;"},
		{"overlong \xc0\xaf", "overlong &#xFFFD;&#xFFFD;"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = capture_str(report_html_escape, cases[i].in);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
	char *s = capture_str(report_html_escape, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_csv_field(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"claims", "claims"},
		{"", ""},
		{"a,b", "\"a,b\""},
		{"say \"hi\"", "\"say \"\"hi\"\"\""},
		{"two\nlines", "\"two\nlines\""},
		{"cr\rlf", "\"cr\rlf\""},
		/* formula injection: = + - @ (and tab, CR) get a leading ' */
		{"=1+1", "'=1+1"},
		{"+2+3", "'+2+3"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\tx", "'\tx"},
		{"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"a=b", "a=b"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = capture_str(report_csv_field, cases[i].in);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void test_svg_geometry(void **state)
{
	(void)state;
	report_svg_bar b;
	int base = REPORT_SVG_TOP + REPORT_SVG_PLOT_H;

	/* a full bar reaches the top of the plot; its target marker at 2 */
	report_svg_bar_geom(0, 3, 2, &b);
	assert_int_equal(b.baseline_y, base);
	assert_int_equal(b.h, 3 * REPORT_SVG_LEVEL_H);
	assert_int_equal(b.y, REPORT_SVG_TOP);
	assert_int_equal(b.target_y, base - 2 * REPORT_SVG_LEVEL_H);
	assert_int_equal(b.x, REPORT_SVG_LEFT + (REPORT_SVG_SLOT - REPORT_SVG_BAR_W) / 2);
	assert_int_equal(b.w, REPORT_SVG_BAR_W);
	assert_true(b.marker_x0 < b.x && b.marker_x1 > b.x + b.w);
	/* level 0 has no height (drawn as a stub); the marker on the axis */
	report_svg_bar_geom(1, 0, 0, &b);
	assert_int_equal(b.h, 0);
	assert_int_equal(b.y, base);
	assert_int_equal(b.target_y, base);
	/* bars are one slot apart, centred in their slot */
	report_svg_bar c;
	report_svg_bar_geom(2, 1, 1, &c);
	assert_int_equal(c.label_x - b.label_x, REPORT_SVG_SLOT);
	assert_int_equal(c.x + c.w / 2, c.label_x);
	assert_int_equal(c.h, REPORT_SVG_LEVEL_H);
	assert_int_equal(c.target_y, c.y); /* level 1 meets target 1 */
	/* out of range levels are clamped, never drawn outside the plot */
	report_svg_bar_geom(3, 7, -4, &b);
	assert_int_equal(b.y, REPORT_SVG_TOP);
	assert_int_equal(b.target_y, base);
	report_svg_bar_geom(3, -1, 9, &b);
	assert_int_equal(b.h, 0);
	assert_int_equal(b.target_y, REPORT_SVG_TOP);
	/* the chart is wide enough for every slot */
	int w, h;
	report_svg_size(26, &w, &h);
	report_svg_bar_geom(25, 3, 3, &b);
	assert_true(b.marker_x1 < w);
	assert_true(base + REPORT_SVG_LABELS < h);
}

static bool uuid_shape(const char *u)
{
	if (strlen(u) != 36 || u[14] != '5' || !strchr("89ab", u[19]))
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash != (u[i] == '-') || (!dash && !strchr("0123456789abcdef", u[i])))
			return false;
	}
	return true;
}

static void test_uuid(void **state)
{
	(void)state;
	char a[37], b[37], c[37], d[37], e[37];
	report_uuid(a, "ovig-2026", "evidence", "12");
	report_uuid(b, "ovig-2026", "evidence", "12");
	report_uuid(c, "ovig-2026", "evidence", "13");
	report_uuid(d, "ovig-2025", "evidence", "12");
	report_uuid(e, "ovig-2026", "weakness", "12");
	assert_true(uuid_shape(a));
	assert_true(uuid_shape(c));
	assert_string_equal(a, b); /* stable */
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(a, e);
	/* the separators keep ("ab", "c") apart from ("a", "bc") */
	report_uuid(a, "ab", "c", "d");
	report_uuid(b, "a", "bc", "d");
	assert_string_not_equal(a, b);
	/* a known value (SHA-256 computed independently with python's
	 * hashlib), so a change of the derivation, which would change every
	 * re-exported UUID, shows up here */
	report_uuid(a, "ovig-2026", "evidence", "12");
	assert_string_equal(a, "e3f40068-0594-56da-8198-61ff6c904fe4");
}

static void test_oscal_token(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"ADM:SG1.SP1", "adm_sg1.sp1"},
		{"ADM_SG1", "adm_sg1"},
		{"SM:ESG1.ESP1.2", "sm_esg1.esp1.2"},
		{"1st", "_1st"},
		{"a b/c", "a_b_c"},
		{"caf\xc3\xa9", "caf__"},
		{"", "_"},
	};
	char out[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		report_oscal_token(out, sizeof(out), cases[i].in);
		assert_string_equal(out, cases[i].out);
	}
	report_oscal_token(out, 4, "ABCDEFG");
	assert_string_equal(out, "abc");
}

/* ---- a whole document ---- */

typedef struct {
	Opra__V1__AppraisalInfo info;
	Opra__V1__AppraisalInstance inst[2], *inst_p[2];
	Opra__V1__AppraisalPa apa, *apa_p[1];
	char *models[1];
	Opra__V1__RatingShowReply rating;
	Opra__V1__PaRating pa[2], *pa_p[2];
	Opra__V1__GoalRating goal[2], *goal_p[2];
	Opra__V1__PracticeRating prac[2], *prac_p[2];
	char *inst_names[2];
	int32_t versions[2];
	Opra__V1__ReportFactsReply facts;
	Opra__V1__ReportWeakness weak, *weak_p[1];
	Opra__V1__ReportEvidenceItem ev[2], *ev_p[2];
	report_doc doc;
} fixture;

static const char *const HOSTILE = "<script>alert(1)</script>&\"'";

static void fixture_init(fixture *x)
{
	memset(x, 0, sizeof(*x));
	opra__v1__appraisal_info__init(&x->info);
	x->info.name = (char *)HOSTILE;
	x->info.head = "ab";
	x->models[0] = "cert-rmm-1.2";
	x->info.models = x->models;
	x->info.n_models = 1;
	opra__v1__appraisal_pa__init(&x->apa);
	x->apa.id = "ADM";
	x->apa.target_level = 2;
	x->apa_p[0] = &x->apa;
	x->info.process_areas = x->apa_p;
	x->info.n_process_areas = 1;
	for (int i = 0; i < 2; i++) {
		opra__v1__appraisal_instance__init(&x->inst[i]);
		x->inst[i].kind = "service";
		x->inst_p[i] = &x->inst[i];
	}
	x->inst[0].name = "claims";
	x->inst[1].name = "=evil()";
	x->info.instances = x->inst_p;
	x->info.n_instances = 2;

	opra__v1__rating_show_reply__init(&x->rating);
	x->rating.appraisal = (char *)HOSTILE;
	x->rating.head = "ab";
	x->inst_names[0] = "claims";
	x->inst_names[1] = "=evil()";
	x->rating.instances = x->inst_names;
	x->rating.n_instances = 2;
	for (int i = 0; i < 2; i++) {
		opra__v1__pa_rating__init(&x->pa[i]);
		opra__v1__goal_rating__init(&x->goal[i]);
		opra__v1__practice_rating__init(&x->prac[i]);
		x->pa_p[i] = &x->pa[i];
		x->goal_p[i] = &x->goal[i];
		x->prac_p[i] = &x->prac[i];
		x->pa[i].model = "cert-rmm-1.2";
		x->pa[i].goals = &x->goal_p[i];
		x->pa[i].n_goals = 1;
		x->goal[i].id = "SG1";
		x->goal[i].practices = &x->prac_p[i];
		x->goal[i].n_practices = 1;
	}
	x->pa[0].id = "ADM";
	x->pa[0].name = "Asset Definition and Management";
	x->pa[0].status = "rated";
	x->pa[0].capability_level = 2;
	x->pa[0].target_level = 2;
	x->pa[0].level_reached = 2;
	x->goal[0].rating = "satisfied";
	x->prac[0].id = "ADM:SG1.SP1";
	x->prac[0].org_value = "li";
	x->prac[0].cell_values = "FL";
	x->prac[0].cell_suggested = "-L";
	x->versions[0] = 3;
	x->versions[1] = 1;
	x->prac[0].cell_versions = x->versions;
	x->prac[0].n_cell_versions = 2;
	x->pa[1].id = "SC";
	x->pa[1].name = "Service Continuity";
	x->pa[1].status = "not-rated";
	x->pa[1].capability_level = -1;
	x->pa[1].level_reached = 0;
	x->pa[1].target_level = 1;
	x->goal[1].rating = "not-rated";
	x->prac[1].id = "SC:SG1.SP1";
	x->prac[1].org_value = "none";
	x->prac[1].cell_values = "--";
	x->prac[1].cell_suggested = "--";
	x->rating.process_areas = x->pa_p;
	x->rating.n_process_areas = 2;

	opra__v1__report_facts_reply__init(&x->facts);
	x->facts.appraisal = (char *)HOSTILE;
	x->facts.head = "ab";
	x->facts.events = 7;
	x->facts.generated_at = "2026-11-23T10:00:00Z";
	x->facts.created_at = "2026-01-02T03:04:05Z";
	opra__v1__report_weakness__init(&x->weak);
	x->weak.id = 1;
	x->weak.practice = "ADM:SG1.SP1";
	x->weak.instance = "=evil()";
	x->weak.text = "<b>bold</b> =1+1";
	x->weak.significant = false;
	x->weak_p[0] = &x->weak;
	x->facts.weaknesses = x->weak_p;
	x->facts.n_weaknesses = 1;
	for (int i = 0; i < 2; i++) {
		opra__v1__report_evidence_item__init(&x->ev[i]);
		x->ev[i].id = 10 + i;
		x->ev[i].practice = "ADM:SG1.SP1";
		x->ev[i].instance = "claims";
		x->ev[i].status = "accepted";
		x->ev[i].submitted_by = "alice";
		x->ev[i].submitted_at = "2026-02-03T04:05:06Z";
		x->ev[i].size = 5;
		x->ev_p[i] = &x->ev[i];
	}
	x->ev[0].kind = "artifact";
	x->ev[0].title = "<img src=x onerror=alert(1)>";
	x->ev[0].sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
	x->ev[1].kind = "affirmation";
	x->ev[1].title = "  \n ";
	x->ev[1].sha256 = "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7";

	x->doc.appraisal = &x->info;
	x->doc.rating = &x->rating;
	x->doc.facts = &x->facts;
	x->doc.evidence = x->ev_p;
	x->doc.n_evidence = 2;
	x->doc.generator = "opra test";
}

static char *render(int (*fn)(FILE *, const report_doc *), const report_doc *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(fn(f, d), OPRA_OK);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_html_document(void **state)
{
	(void)state;
	fixture *x = malloc(sizeof(*x));
	assert_non_null(x);
	fixture_init(x);
	char *h = render(report_write_html, &x->doc);
	assert_null(strstr(h, "<script"));
	assert_null(strstr(h, "<img"));
	assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"));
	assert_non_null(strstr(h, "&lt;b&gt;bold&lt;/b&gt; =1+1"));
	/* the chart: ADM rated at 2 against 2, SC not rated (not level 0) */
	assert_non_null(strstr(h, "data-pa=\"ADM\" data-status=\"rated\" data-level=\"2\" "
				  "data-target=\"2\""));
	assert_non_null(strstr(h, "data-pa=\"SC\" data-status=\"not-rated\" data-level=\"-1\""));
	assert_non_null(strstr(h, "class=\"bar not-rated\""));
	assert_null(strstr(h, "class=\"bar zero\""));
	/* the evidence index with its hashes; the cells counted per label */
	assert_non_null(strstr(h, x->ev[0].sha256));
	assert_non_null(strstr(h, x->ev[1].sha256));
	assert_non_null(strstr(h, "1&#215;FI, 1&#215;LI"));
	free(h);
	/* level 0 is a stub, not a missing bar */
	x->pa[0].capability_level = 0;
	h = render(report_write_html, &x->doc);
	assert_non_null(strstr(h, "class=\"bar zero\""));
	free(h);
	free(x);
}

static void test_csv_document(void **state)
{
	(void)state;
	fixture *x = malloc(sizeof(*x));
	assert_non_null(x);
	fixture_init(x);
	char *c = render(report_write_csv, &x->doc);
	/* header + 2 practices x 2 instances */
	size_t lines = 0;
	for (char *p = c; (p = strstr(p, "\r\n")) != NULL; p += 2)
		lines++;
	assert_int_equal(lines, 5);
	assert_non_null(strstr(c, "appraisal,model,process_area,"));
	/* hostile appraisal quoted; instance formula guarded; counts per cell */
	assert_non_null(strstr(c, "\"<script>alert(1)</script>&\"\"'\",cert-rmm-1.2,ADM,"
				  "Asset Definition and Management,rated,2,2,SG1,satisfied,false,"
				  "ADM:SG1.SP1,li,,,claims,fi,,3,1,1,0,0,0\r\n"));
	assert_non_null(strstr(c, ",ADM:SG1.SP1,li,,,'=evil(),li,li,1,0,0,0,1,0\r\n"));
	/* not rated: no capability level (not 0) */
	assert_non_null(strstr(c, ",SC,Service Continuity,not-rated,,1,SG1,not-rated,false,"));
	free(c);
	free(x);
}

static void test_json_and_oscal_documents(void **state)
{
	(void)state;
	fixture *x = malloc(sizeof(*x));
	assert_non_null(x);
	fixture_init(x);
	json_t *j = report_json(&x->doc);
	assert_non_null(j);
	json_t *pa = json_array_get(json_object_get(j, "process_areas"), 1);
	assert_true(json_is_null(json_object_get(pa, "capability_level")));
	json_t *p0 = json_array_get(
		json_object_get(
			json_array_get(
				json_object_get(
					json_array_get(json_object_get(j, "process_areas"), 0),
					"goals"),
				0),
			"practices"),
		0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(p0, "instances"), "=evil()")),
		"li");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(p0, "versions"), "claims")), 3);
	assert_null(json_object_get(json_object_get(p0, "suggested"), "claims"));
	assert_int_equal(json_array_size(json_object_get(j, "evidence")), 2);
	json_decref(j);

	/* OSCAL: stable, unique UUIDs; hashes; findings per goal */
	json_t *a = report_oscal(&x->doc), *b = report_oscal(&x->doc);
	assert_non_null(a);
	assert_non_null(b);
	char *sa = json_dumps(a, JSON_SORT_KEYS), *sb = json_dumps(b, JSON_SORT_KEYS);
	assert_string_equal(sa, sb);
	json_t *res = json_array_get(
		json_object_get(json_object_get(a, "assessment-results"), "results"), 0);
	json_t *obs = json_object_get(res, "observations");
	assert_int_equal(json_array_size(obs), 2);
	json_t *o1 = json_array_get(obs, 1);
	/* a blank title falls back to a description of the item */
	assert_string_equal(json_string_value(json_object_get(o1, "title")),
			    "accepted affirmation for ADM:SG1.SP1 at claims");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o1, "methods"), 0)),
			    "INTERVIEW");
	json_t *f = json_object_get(res, "findings");
	assert_int_equal(json_array_size(f), 2);
	json_t *t0 = json_object_get(json_array_get(f, 0), "target");
	assert_string_equal(json_string_value(json_object_get(t0, "target-id")), "adm_sg1");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t0, "status"), "state")),
		"satisfied");
	json_t *t1 = json_object_get(json_array_get(f, 1), "target");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t1, "status"), "state")),
		"not-satisfied");
	assert_non_null(strstr(sa, x->ev[0].sha256));
	assert_non_null(strstr(sa, "\"algorithm\": \"SHA-256\""));
	/* the goal finding links its evidence */
	assert_int_equal(
		json_array_size(json_object_get(json_array_get(f, 0), "related-observations")), 2);
	free(sa);
	free(sb);
	json_decref(a);
	json_decref(b);
	free(x);
}

static void test_cells_non_compact(void **state)
{
	(void)state;
	fixture *x = malloc(sizeof(*x));
	assert_non_null(x);
	fixture_init(x);
	Opra__V1__InstanceValue iv[2], *ivp[2];
	for (int i = 0; i < 2; i++) {
		opra__v1__instance_value__init(&iv[i]);
		ivp[i] = &iv[i];
	}
	iv[0].instance = "claims";
	iv[0].value = "pi";
	iv[0].suggested = "";
	iv[0].version = 4;
	iv[1].instance = "billing";
	iv[1].value = "none";
	iv[1].suggested = "fi";
	x->prac[0].instances = ivp;
	x->prac[0].n_instances = 2;
	const char *name, *value, *sugg;
	int32_t version;
	assert_int_equal(report_n_cells(&x->doc, &x->prac[0]), 2);
	report_cell(&x->doc, &x->prac[0], 1, &name, &value, &sugg, &version);
	assert_string_equal(name, "billing");
	assert_string_equal(value, "none");
	assert_string_equal(sugg, "fi");
	report_cell(&x->doc, &x->prac[0], 0, &name, &value, &sugg, &version);
	assert_int_equal(version, 4);
	/* compact: a short cell string is not read past its end */
	x->prac[1].cell_values = "F";
	assert_int_equal(report_n_cells(&x->doc, &x->prac[1]), 1);
	free(x);
}

static void test_stats(void **state)
{
	(void)state;
	fixture *x = malloc(sizeof(*x));
	assert_non_null(x);
	fixture_init(x);
	report_stats *s = NULL;
	assert_int_equal(report_stats_build(&s, &x->doc), OPRA_OK);
	report_cell_stats c = report_stats_get(s, "ADM:SG1.SP1", "claims");
	assert_int_equal(c.artifacts, 1);
	assert_int_equal(c.affirmations, 1);
	c = report_stats_get(s, "ADM:SG1.SP1", "=evil()");
	assert_int_equal(c.weaknesses, 1);
	assert_int_equal(c.artifacts, 0);
	/* keys do not run together: ("ADM:SG1.SP1c", "laims") is another cell */
	c = report_stats_get(s, "ADM:SG1.SP1c", "laims");
	assert_int_equal(c.artifacts, 0);
	report_stats_free(s);
	free(x);
}

/* A failed allocation anywhere makes the writer fail cleanly (no partial
 * document, no crash; ASan checks the leaks), never succeed silently. */
static void test_allocation_failures(void **state)
{
	(void)state;
	fixture *x = malloc(sizeof(*x));
	assert_non_null(x);
	fixture_init(x);
	bool csv_ok = false, oscal_ok = false;
	for (long n = 1; n < 200 && !(csv_ok && oscal_ok); n++) {
		long before = opra_alloc_failures();
		opra_alloc_fail_after(n, 0);
		json_t *o = report_oscal(&x->doc);
		opra_alloc_fail_after(0, 0);
		if (opra_alloc_failures() != before)
			assert_null(o);
		else
			oscal_ok = o != NULL;
		json_decref(o);

		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		assert_non_null(f);
		before = opra_alloc_failures();
		opra_alloc_fail_after(n, 0);
		int rc = report_write_csv(f, &x->doc);
		opra_alloc_fail_after(0, 0);
		fclose(f);
		free(buf);
		if (opra_alloc_failures() != before)
			assert_int_equal(rc, OPRA_RESOURCE_EXHAUSTED);
		else
			csv_ok = rc == OPRA_OK;
	}
	assert_true(csv_ok && oscal_ok);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_csv_field),
		cmocka_unit_test(test_svg_geometry),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_oscal_token),
		cmocka_unit_test(test_html_document),
		cmocka_unit_test(test_csv_document),
		cmocka_unit_test(test_json_and_oscal_documents),
		cmocka_unit_test(test_cells_non_compact),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_allocation_failures),
	};
	return TESTLIB_RUN(tests);
}
