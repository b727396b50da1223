/* OSCAL catalog import (common/model_oscal.c, docs/models-oscal.md): the
 * real NIST SP 800-53 rev5 catalogs from ../shared/external/oscal, a small
 * hand-written catalog covering every mapping rule, and hostile input. */
#include "model.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "testlib.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIST_DIR      "/../shared/external/oscal/content/"
#define NIST_MODERATE NIST_DIR "NIST_SP-800-53_rev5_MODERATE-baseline-resolved-profile_catalog.json"
#define NIST_FULL     NIST_DIR "oscal-content-2021-06-a849dbc/NIST_SP-800-53_rev5_catalog.json"

/* Reads OPRA_SOURCE_DIR + rel; NULL (and *len 0) when the file is absent. */
static char *read_source_file(const char *rel, size_t *len)
{
	const char *root = getenv("OPRA_SOURCE_DIR");
	char path[4096];
	char *data = NULL;
	FILE *f;
	long size;

	*len = 0;
	snprintf(path, sizeof(path), "%s%s", root ? root : ".", rel);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc((size_t)size + 1);
		if (data != NULL && fread(data, 1, (size_t)size, f) == (size_t)size) {
			data[size] = '\0';
			*len = (size_t)size;
		} else {
			free(data);
			data = NULL;
		}
	}
	fclose(f);
	return data;
}

/* ---- independent counts, straight from the JSON ---- */

typedef struct {
	size_t groups, controls, enhancements, withdrawn_controls, withdrawn_enhancements;
} catalog_counts;

static int is_withdrawn(const json_t *ctl)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(ctl, "props"), i, p)
	{
		if (strcmp(json_string_value(json_object_get(p, "name")), "status") == 0 &&
		    strcmp(json_string_value(json_object_get(p, "value")), "withdrawn") == 0)
			return 1;
	}
	return 0;
}

static size_t count_all(const json_t *ctl)
{
	size_t i, n = 0;
	json_t *sub;

	json_array_foreach(json_object_get(ctl, "controls"), i, sub) n += 1 + count_all(sub);
	return n;
}

static void count_enhancements(const json_t *ctl, catalog_counts *cc)
{
	size_t i;
	json_t *sub;

	json_array_foreach(json_object_get(ctl, "controls"), i, sub)
	{
		if (is_withdrawn(sub)) {
			cc->withdrawn_enhancements += 1 + count_all(sub);
		} else {
			cc->enhancements++;
			count_enhancements(sub, cc);
		}
	}
}

static catalog_counts count_catalog(const char *text, size_t len)
{
	catalog_counts cc = {0, 0, 0, 0, 0};
	json_t *root = json_loadb(text, len, 0, NULL);
	const json_t *groups = json_object_get(json_object_get(root, "catalog"), "groups");
	size_t i, k;
	json_t *g, *ctl;

	assert_non_null(root);
	cc.groups = json_array_size(groups);
	json_array_foreach(groups, i, g)
	{
		json_array_foreach(json_object_get(g, "controls"), k, ctl)
		{
			if (is_withdrawn(ctl)) {
				cc.withdrawn_controls++;
				cc.withdrawn_enhancements += count_all(ctl);
			} else {
				cc.controls++;
				count_enhancements(ctl, &cc);
			}
		}
	}
	json_decref(root);
	return cc;
}

/* ---- lookups in the imported model ---- */

static const model_pa *find_pa(const model *m, const char *id)
{
	for (size_t i = 0; i < m->n_pas; i++)
		if (strcmp(m->pas[i].id, id) == 0)
			return &m->pas[i];
	return NULL;
}

static const model_practice *find_practice(const model *m, const char *pa_id, const char *id)
{
	const model_pa *pa = find_pa(m, pa_id);
	if (pa == NULL)
		return NULL;
	for (size_t g = 0; g < pa->n_goals; g++)
		for (size_t i = 0; i < pa->goals[g].n_practices; i++)
			if (strcmp(pa->goals[g].practices[i].id, id) == 0)
				return &pa->goals[g].practices[i];
	return NULL;
}

static int has_subpractice(const model_practice *p, const char *text)
{
	for (size_t i = 0; i < p->n_subpractices; i++)
		if (strcmp(p->subpractices[i], text) == 0)
			return 1;
	return 0;
}

static size_t count_subpractices(const model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_pas; i++)
		for (size_t g = 0; g < m->pas[i].n_goals; g++)
			for (size_t k = 0; k < m->pas[i].goals[g].n_practices; k++)
				n += m->pas[i].goals[g].practices[k].n_subpractices;
	return n;
}

static void assert_shape(const model *m, const catalog_counts *cc)
{
	assert_int_equal(m->n_pas, cc->groups);
	assert_int_equal(model_count_practices(m), cc->controls);
	assert_int_equal(count_subpractices(m), cc->enhancements);
	for (size_t i = 0; i < m->n_pas; i++) {
		/* one specific goal per group, titled like the group */
		assert_int_equal(m->pas[i].n_goals, 1);
		assert_string_equal(m->pas[i].goals[0].id, "SG1");
		assert_string_equal(m->pas[i].goals[0].title, m->pas[i].name);
		assert_false(m->pas[i].goals[0].generic);
	}
	assert_true(strlen(m->id) <= MODEL_KEY_MAX);
	assert_true(m->prov.confirmed);
	assert_non_null(strstr(m->prov.sources, "OSCAL catalog "));
	assert_int_equal(model_validate(m), OPRA_OK);
}

static char *load_or_skip(const char *rel, size_t *len)
{
	char *text = read_source_file(rel, len);
	if (text == NULL) {
		print_message("skipping: %s not found beside the repository\n", rel);
		skip();
	}
	return text;
}

static void nist_moderate_baseline(void **state)
{
	size_t len;
	char *text = load_or_skip(NIST_MODERATE, &len);
	catalog_counts cc = count_catalog(text, len);
	model *m = NULL;

	/* verified with python: 18 groups, 177 controls, 110 enhancements, none withdrawn */
	assert_int_equal(cc.groups, 18);
	assert_int_equal(cc.controls, 177);
	assert_int_equal(cc.enhancements, 110);
	assert_int_equal(cc.withdrawn_controls + cc.withdrawn_enhancements, 0);

	assert_int_equal(model_parse_oscal_catalog(&m, "moderate.json", text, len), OPRA_OK);
	assert_shape(m, &cc);
	assert_string_equal(m->version, "5.1.1+u4");
	assert_string_equal(m->id,
			    "nist-special-publication-800-53-revision-5-1-1-moderate-5.1.1-u4");
	const model_pa *ac = find_pa(m, "AC");
	assert_non_null(ac);
	assert_string_equal(ac->name, "Access Control");
	assert_string_equal(ac->category, "family");
	const model_practice *p = find_practice(m, "AC", "ac-2");
	assert_non_null(p);
	assert_string_equal(p->title, "Account Management");
	/* parameters are shown as SP 800-53 prints them */
	assert_non_null(strstr(p->statement, "c. Require [Assignment: prerequisites and criteria] "
					     "for group and role membership;"));
	/* the label without a class ("AC-2(1)", not "AC-02(01)") names enhancements */
	assert_true(has_subpractice(p, "AC-2(1) Automated System Account Management"));
	model_free(m);
	free(text);
}

static void nist_full_catalog(void **state)
{
	size_t len;
	char *text = load_or_skip(NIST_FULL, &len);
	catalog_counts cc = count_catalog(text, len);
	model *m = NULL;
	char expect[128];

	/* verified with python: 20 groups, 1189 controls and enhancements: 322
	 * controls (24 withdrawn) and 867 enhancements (158 withdrawn) */
	assert_int_equal(cc.groups, 20);
	assert_int_equal(cc.controls, 298);
	assert_int_equal(cc.enhancements, 709);
	assert_int_equal(cc.withdrawn_controls, 24);
	assert_int_equal(cc.withdrawn_enhancements, 158);
	assert_int_equal(cc.controls + cc.enhancements + cc.withdrawn_controls +
				 cc.withdrawn_enhancements,
			 1189);

	assert_int_equal(model_parse_oscal_catalog(&m, "rev5.json", text, len), OPRA_OK);
	assert_shape(m, &cc);
	assert_string_equal(m->version, "5.0.1");
	assert_string_equal(m->name, "NIST Special Publication 800-53 Revision 5: Security and "
				     "Privacy Controls for Federal Information Systems and "
				     "Organizations");
	/* the title is shortened so the version survives the 64-byte limit */
	assert_non_null(strstr(m->id, "-5.0.1"));
	assert_int_equal(strncmp(m->id, "nist-special-publication-800-53-revision-5", 42), 0);
	assert_string_equal(m->publisher, "Joint Task Force, Interagency Working Group");
	assert_non_null(strstr(m->prov.sources, "613fca2d-704a-42e7-8e2b-b206fb92b456"));
	assert_non_null(strstr(m->prov.sources, "oscal-version 1.0.0"));

	const model_practice *p = find_practice(m, "AC", "ac-2");
	assert_non_null(p);
	assert_string_equal(p->title, "Account Management");
	const char *start = "a. Define and document the types of accounts allowed and "
			    "specifically prohibited for use within the system;\n"
			    "b. Assign account managers;\n"
			    "c. Require [Assignment: organization-defined prerequisites and "
			    "criteria] for group and role membership;\n"
			    "d. Specify:\n"
			    "  1. Authorized users of the system;";
	assert_int_equal(strncmp(p->statement, start, strlen(start)), 0);
	/* 13 enhancements, AC-2(10) withdrawn */
	assert_int_equal(p->n_subpractices, 12);
	assert_true(has_subpractice(p, "AC-2(1) Automated System Account Management"));
	assert_true(has_subpractice(p, "AC-2(13) Disable Accounts for High-risk Individuals"));

	/* withdrawn: control ac-13 and enhancement ac-2(10) are skipped and counted */
	assert_null(find_practice(m, "AC", "ac-13"));
	assert_false(has_subpractice(p, "AC-2(10) Shared and Group Account Credential Change"));
	snprintf(expect, sizeof(expect),
		 "%zu withdrawn controls skipped (%zu controls, %zu enhancements)",
		 cc.withdrawn_controls + cc.withdrawn_enhancements, cc.withdrawn_controls,
		 cc.withdrawn_enhancements);
	assert_non_null(strstr(m->prov.note, expect));

	/* the same through the generic entry point (which validates too) */
	model *again = NULL;
	assert_int_equal(model_parse(&again, "rev5.json", text, len, "oscal-catalog"), OPRA_OK);
	assert_true(model_equal(m, again));
	model_free(again);
	model_free(m);
	free(text);
}

static void small_catalog_mapping(void **state)
{
	size_t len;
	char *text = read_source_file("/tests/data/oscal/small.json", &len);
	model *m = NULL;

	assert_non_null(text);
	assert_int_equal(model_parse_oscal_catalog(&m, "small.json", text, len), OPRA_OK);
	assert_string_equal(m->id, "small-test-catalog-nested-groups-loose-controls-2.1-draft");
	assert_string_equal(m->name, "Small Test Catalog: Nested Groups & Loose Controls");
	assert_string_equal(m->version, "2.1+draft");
	assert_string_equal(m->publisher, "Test Authors");
	assert_string_equal(m->origin, "small.json");

	/* groups in order, then the loose controls in GENERAL; an empty group stays */
	assert_int_equal(m->n_pas, 3);
	assert_string_equal(m->pas[0].id, "XX");
	assert_string_equal(m->pas[0].category, "control-family"); /* class slugged */
	assert_string_equal(m->pas[1].id, "YY");
	assert_int_equal(m->pas[1].goals[0].n_practices, 0);
	assert_string_equal(m->pas[2].id, "GENERAL");
	assert_non_null(find_practice(m, "GENERAL", "zz-1"));

	/* the subgroup's control flattens into its top-level group; the
	 * withdrawn control is skipped */
	const model_goal *g = &m->pas[0].goals[0];
	assert_int_equal(g->n_practices, 2);
	assert_string_equal(g->practices[0].id, "xx-1");
	assert_string_equal(g->practices[1].id, "xx-3");
	assert_null(g->practices[1].statement);

	const model_practice *p = &g->practices[0];
	assert_string_equal(p->statement,
			    "a. Review the plan [Assignment: organization-defined frequency];\n"
			    "  1. Report [Selection (one or more): daily; weekly]; and\n"
			    "  2. Keep {{ insert: param, unknown_prm }} as written.\n"
			    "b. Act.");
	assert_int_equal(p->n_subpractices, 3);
	assert_string_equal(p->subpractices[0], "XX-1(1) First Enhancement");
	assert_string_equal(p->subpractices[1], "xx-1.3 Enhancement Without Label");
	assert_string_equal(p->subpractices[2], "xx-1.3.1 Nested Enhancement");
	assert_non_null(
		strstr(m->prov.note, "3 withdrawn controls skipped (1 controls, 2 enhancements)"));
	assert_int_equal(model_validate(m), OPRA_OK);
	model_free(m);
	free(text);
}

/* Each hand-written bad catalog fails with the JSON path in the message. */
static void bad_catalog_files(void **state)
{
	static const struct {
		const char *file;
		const char *expect;
	} cases[] = {
		{"not-object.json", "not-object.json: the document is not a JSON object"},
		{"groups-not-list.json", "catalog.groups: not a list"},
		{"control-without-id.json", "catalog.groups[1].controls[1]: control without id"},
		{"control-id-space.json",
		 "catalog.groups[0].controls[0]: control id 'ac 1' is not a valid practice id"},
		{"title-wrong-type.json", "catalog.groups[0].controls[0].title: not a string"},
		{"no-groups.json", "catalog: no groups and no controls"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rel[256];
		size_t len;
		model *m = NULL;

		snprintf(rel, sizeof(rel), "/tests/data/oscal/%s", cases[i].file);
		char *text = read_source_file(rel, &len);
		assert_non_null(text);
		assert_int_equal(model_parse_oscal_catalog(&m, cases[i].file, text, len),
				 OPRA_INVALID_ARGUMENT);
		assert_null(m);
		if (strstr(opra_err_msg(), cases[i].expect) == NULL)
			fail_msg("%s: got '%s', want '%s'", cases[i].file, opra_err_msg(),
				 cases[i].expect);
		free(text);
	}
}

#define META	      "\"metadata\": {\"title\": \"T\", \"version\": \"1\"}"
#define CAT(groups)   "{\"catalog\": {" META ", \"groups\": " groups "}}"
#define GRP(controls) "[{\"id\": \"ac\", \"title\": \"A\", \"controls\": " controls "}]"

/* Wrong types and broken values anywhere. */
static void hostile_input(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
		{"", "x.json:1: not valid JSON"},
		{"{\"catalog\": 1, \"catalog\": 2}", "not valid JSON: duplicate object key"},
		{"{\"profile\": {}}", "x.json: catalog: missing"},
		{"{\"catalog\": []}", "catalog: not an object"},
		{"{\"catalog\": {\"groups\": []}}", "catalog.metadata: missing"},
		{"{\"catalog\": {\"metadata\": []}}", "catalog.metadata: not an object"},
		{"{\"catalog\": {\"metadata\": {\"title\": 5}}}",
		 "catalog.metadata.title: not a string"},
		{"{\"catalog\": {\"metadata\": {\"title\": \"T\"}}}",
		 "catalog.metadata: version missing"},
		{"{\"catalog\": {\"metadata\": {\"title\": \"  \", \"version\": \"1\"}}}",
		 "catalog.metadata.title: empty"},
		{"{\"catalog\": {\"metadata\": {\"title\": \"a\\u0001b\", \"version\": \"1\"}}}",
		 "catalog.metadata.title: contains control characters"},
		{"{\"catalog\": {" META ", \"uuid\": 7, \"groups\": []}}",
		 "catalog.uuid: not a string"},
		{CAT("[1]"), "catalog.groups[0]: group is not an object"},
		{CAT("[{\"title\": \"A\"}]"), "catalog.groups[0]: group without id"},
		{CAT("[{\"id\": 3, \"title\": \"A\"}]"), "catalog.groups[0].id: not a string"},
		{CAT("[{\"id\": \"a.c\", \"title\": \"A\"}]"),
		 "catalog.groups[0]: group id 'a.c' is not a valid process area id"},
		{CAT("[{\"id\": \"ac\"}]"), "catalog.groups[0]: group ac without title"},
		{CAT("[{\"id\": \"ac\", \"title\": \"A\"}, {\"id\": \"AC\", \"title\": \"B\"}]"),
		 "catalog.groups[1]: duplicate process area id 'AC'"},
		{CAT("[{\"id\": \"ac\", \"title\": \"A\", \"class\": 1}]"),
		 "catalog.groups[0].class: not a string"},
		{CAT(GRP("{}")), "catalog.groups[0].controls: not a list"},
		{CAT(GRP("[\"ac-1\"]")), "catalog.groups[0].controls[0]: control is not an object"},
		{CAT(GRP("[{\"id\": \"ac-1\"}]")), "controls[0]: control ac-1 without title"},
		{CAT(GRP("[{\"id\": \"1ac\", \"title\": \"A\"}]")),
		 "control id '1ac' is not a valid"},
		{CAT(GRP("[{\"id\": \"ac-1-this-id-is-much-longer-than-32\", \"title\": \"A\"}]")),
		 "is not a valid practice id"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\"}, {\"id\": \"ac-1\", \"title\": "
			 "\"B\"}]")),
		 "catalog.groups[0].controls[1]: duplicate control id 'ac-1' in group AC"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\", \"props\": {}}]")),
		 "controls[0].props: not a list"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\", \"props\": [{\"name\": "
			 "\"label\"}]}]")),
		 "controls[0].props[0]: property without name or value"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\", \"parts\": [3]}]")),
		 "controls[0].parts[0]: not an object"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\", \"parts\": [{\"name\": "
			 "\"statement\", "
			 "\"parts\": [{\"prose\": 5}]}]}]")),
		 "controls[0].parts[0].parts[0].prose: not a string"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\", \"controls\": [{\"title\": "
			 "\"E\"}]}]")),
		 "catalog.groups[0].controls[0].controls[0]: control enhancement without id"},
		{CAT(GRP("[{\"id\": \"ac-1\", \"title\": \"A\", \"controls\": [{\"id\": \"e\", "
			 "\"title\": []}]}]")),
		 "controls[0].controls[0].title: not a string"},
		{CAT("[{\"id\": \"ac\", \"title\": \"A\", \"groups\": [{\"id\": \"s\", \"title\": "
		     "\"S\", "
		     "\"controls\": [{\"id\": \"x y\", \"title\": \"T\"}]}]}]"),
		 "catalog.groups[0].groups[0].controls[0]: control id 'x y'"},
		{"{\"catalog\": {" META ", \"controls\": [{\"title\": \"T\"}]}}",
		 "catalog.controls[0]: control without id"},
		{"{\"catalog\": {" META ", \"controls\": 5}}", "catalog.controls: not a list"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		model *m = NULL;
		int rc = model_parse_oscal_catalog(&m, "x.json", cases[i].text,
						   strlen(cases[i].text));
		if (rc != OPRA_INVALID_ARGUMENT || strstr(opra_err_msg(), cases[i].expect) == NULL)
			fail_msg("case %zu: rc %d, got '%s', want '%s'", i, rc, opra_err_msg(),
				 cases[i].expect);
		assert_null(m);
	}
}

/* Bounded: deep nesting is refused, a long statement is cut with an
 * ellipsis on a character boundary, a long title is refused. */
static void limits(void **state)
{
	model *m = NULL;
	char *text;
	size_t n = 0, cap = 1 << 20;

	text = malloc(cap);
	assert_non_null(text);
	n += (size_t)snprintf(text + n, cap - n,
			      "{\"catalog\": {" META ", \"groups\": [{\"id\": "
			      "\"ac\", \"title\": \"A\", \"groups\": ");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "[{\"id\": \"g\", \"title\": \"G\", \"groups\": ");
	n += (size_t)snprintf(text + n, cap - n, "[]");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, cap - n, "}]");
	n += (size_t)snprintf(text + n, cap - n, "}]}}");
	assert_int_equal(model_parse_oscal_catalog(&m, "deep.json", text, n),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "groups nested deeper than"));

	/* 20000 bytes of "é" (2 bytes each) in one statement */
	n = (size_t)snprintf(text, cap,
			     "{\"catalog\": {" META ", \"groups\": [{\"id\": \"ac\", "
			     "\"title\": \"A\", \"controls\": [{\"id\": \"ac-1\", "
			     "\"title\": \"A\", \"parts\": [{\"name\": \"statement\", "
			     "\"prose\": \"");
	for (int i = 0; i < 10000; i++) {
		text[n++] = '\xc3';
		text[n++] = '\xa9';
	}
	n += (size_t)snprintf(text + n, cap - n, "\"}]}]}]}}");
	assert_int_equal(model_parse_oscal_catalog(&m, "long.json", text, n), OPRA_OK);
	const char *st = m->pas[0].goals[0].practices[0].statement;
	size_t st_len = strlen(st);
	assert_true(st_len <= MODEL_TEXT_MAX);
	assert_true(st_len > MODEL_TEXT_MAX - 8);
	assert_string_equal(st + st_len - 3, "\xe2\x80\xa6");
	assert_memory_equal(st + st_len - 5, "\xc3\xa9", 2);
	assert_non_null(strstr(m->prov.note, "1 statements truncated"));
	assert_int_equal(model_validate(m), OPRA_OK);
	model_free(m);
	m = NULL;

	n = (size_t)snprintf(text, cap,
			     "{\"catalog\": {" META ", \"groups\": [{\"id\": \"ac\", "
			     "\"title\": \"");
	memset(text + n, 'x', 300);
	n += 300;
	n += (size_t)snprintf(text + n, cap - n, "\"}]}}");
	assert_int_equal(model_parse_oscal_catalog(&m, "title.json", text, n),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "catalog.groups[0].title: longer than 256 bytes"));
	assert_int_equal(model_parse_oscal_catalog(&m, "big.json", text, MODEL_FILE_MAX + 1),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "big.json:"));
	free(text);
}

/* Every allocation failure ends in RESOURCE_EXHAUSTED with nothing leaked
 * (the sanitizer build checks the leaks), never a crash or a half model. */
static void allocation_failures(void **state)
{
	size_t len;
	char *text = read_source_file("/tests/data/oscal/small.json", &len);
	int ok = 0;

	assert_non_null(text);
	for (long n = 1; n < 2000 && !ok; n++) {
		model *m = NULL;
		opra_alloc_fail_after(n, 1);
		int rc = model_parse_oscal_catalog(&m, "small.json", text, len);
		opra_alloc_fail_after(0, 0);
		if (rc == OPRA_OK) {
			ok = 1;
			assert_non_null(m);
		} else {
			assert_int_equal(rc, OPRA_RESOURCE_EXHAUSTED);
			assert_null(m);
		}
		model_free(m);
	}
	assert_true(ok);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nist_moderate_baseline), cmocka_unit_test(nist_full_catalog),
		cmocka_unit_test(small_catalog_mapping),  cmocka_unit_test(bad_catalog_files),
		cmocka_unit_test(hostile_input),	  cmocka_unit_test(limits),
		cmocka_unit_test(allocation_failures),
	};
	return TESTLIB_RUN(tests);
}
