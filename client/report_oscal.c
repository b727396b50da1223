/* The oscal report: OSCAL 1.1.3 assessment results (JSON) for one
 * appraisal (docs/reports.md):
 *   metadata       title, times, the chain head, event count and seal as
 *                  props, a party per person named in the report
 *   import-ap      a back-matter resource describing the appraisal's scope
 *   results[0]     reviewed-controls: the process areas in scope (controls)
 *                  and their goals (objectives); local-definitions: one
 *                  component per instance; observations: one per evidence
 *                  item (subject: its instance; its SHA-256 in the
 *                  back-matter resource it points to); findings: one per
 *                  goal rating, with the goal's evidence as related
 *                  observations; the capability levels as props
 * UUIDs are name-based (report_uuid) on the appraisal's name and creation
 * time and the object, so exporting again gives the same UUIDs. OSCAL
 * tokens cannot hold ':' and the like: ids such as "ADM:SG1.SP1" become
 * "adm_sg1.sp1" (report_oscal_token), with the original in a prop. */
#include "report.h"

#include "output.h"

#include "opra_alloc.h"

#include <stdlib.h>
#include <string.h>

#define NS "urn:opra:oscal"

typedef struct {
	const report_doc *d;
	char seed[512]; /* appraisal name and creation time: the UUIDs' name space */
	json_t *parties;
	json_t *party_names; /* name -> true, to add each once */
	int failed;
} ctx;

static void uuid_of(ctx *c, char out[37], const char *kind, const char *key)
{
	report_uuid(out, c->seed, kind, key);
}

/* A JSON string for OSCAL's StringDatatype (^\S(.*\S)?$): control
 * characters as spaces, no leading or trailing white space. NULL when
 * nothing is left (the caller leaves the field out or uses a fallback). */
static json_t *ostr(ctx *c, const char *s)
{
	if (s == NULL)
		return NULL;
	while (*s == ' ' || (*s > 0 && *s < 0x20) || *s == 0x7f)
		s++;
	size_t n = strlen(s);
	while (n > 0 && ((unsigned char)s[n - 1] <= 0x20 || s[n - 1] == 0x7f))
		n--;
	if (n == 0)
		return NULL;
	char *t = opra_strndup(s, n);
	if (t == NULL) {
		c->failed = 1; /* out of memory: not the same as empty */
		return NULL;
	}
	for (char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	json_t *j = out_jstr(t, false);
	opra_free(t);
	if (j == NULL)
		c->failed = 1;
	return j;
}

/* ostr with a fallback for empty text. */
static json_t *ostr_or(ctx *c, const char *s, const char *fallback)
{
	json_t *j = ostr(c, s);
	return j || c->failed ? j : ostr(c, fallback);
}

static void set(ctx *c, json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		c->failed = 1;
}

/* Appends a prop {name, ns, value[, class]} to the array props; empty
 * values are left out. */
static void prop(ctx *c, json_t *props, const char *name, const char *value, const char *cls)
{
	json_t *v = ostr(c, value);
	if (v == NULL)
		return;
	json_t *p = json_pack("{s:s, s:s, s:o}", "name", name, "ns", NS, "value", v);
	if (p && cls) {
		char tok[128];
		report_oscal_token(tok, sizeof(tok), cls);
		set(c, p, "class", json_string(tok));
	}
	if (p == NULL || json_array_append_new(props, p) != 0)
		c->failed = 1;
}

static void prop_ll(ctx *c, json_t *props, const char *name, long long v, const char *cls)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", v);
	prop(c, props, name, buf, cls);
}

/* Sets key to arr when it has elements (OSCAL arrays have minItems 1);
 * drops it otherwise. */
static void set_nonempty(ctx *c, json_t *o, const char *key, json_t *arr)
{
	if (arr == NULL) {
		c->failed = 1;
		return;
	}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return;
	}
	set(c, o, key, arr);
}

/* The party for a person's name (added to metadata once); its UUID in
 * out. */
static void party(ctx *c, const char *name, char out[37])
{
	uuid_of(c, out, "party", name);
	if (name[0] == '\0' || json_object_get(c->party_names, name))
		return;
	json_t *v = ostr(c, name);
	if (v == NULL)
		return;
	json_t *p = json_pack("{s:s, s:s, s:o}", "uuid", out, "type", "person", "name", v);
	if (p == NULL || json_array_append_new(c->parties, p) != 0 ||
	    json_object_set_new(c->party_names, name, json_true()) != 0)
		c->failed = 1;
}

/* ---- practice -> finding (goal) ---- */

typedef struct {
	const char *practice;
	size_t goal; /* index into the findings' related-observation arrays */
} practice_goal;

static int pg_cmp(const void *a, const void *b)
{
	return strcmp(((const practice_goal *)a)->practice, ((const practice_goal *)b)->practice);
}

static json_t *metadata(ctx *c)
{
	const report_doc *d = c->d;
	const Opra__V1__ReportFactsReply *fa = d->facts;
	json_t *m = json_object(), *props = json_array();
	char title[300], version[64];

	snprintf(title, sizeof(title), "Capability appraisal %s: assessment results",
		 d->rating->appraisal);
	snprintf(version, sizeof(version), "events-%lld", (long long)fa->events);
	set(c, m, "title", ostr(c, title));
	set(c, m, "last-modified", json_string(fa->generated_at));
	set(c, m, "version", json_string(version));
	set(c, m, "oscal-version", json_string("1.1.3"));
	if (props == NULL)
		c->failed = 1;
	else {
		prop(c, props, "appraisal", d->rating->appraisal, NULL);
		prop(c, props, "chain-head", fa->head, NULL);
		prop_ll(c, props, "events", fa->events, NULL);
		prop(c, props, "sealed", fa->sealed ? "true" : "false", NULL);
		prop(c, props, "sealed-at", fa->sealed_at, NULL);
		prop(c, props, "sealed-by", fa->sealed_by, NULL);
		prop(c, props, "sealed-head", fa->sealed_head, NULL);
		if (fa->sealed)
			prop(c, props, "seal-intact", fa->seal_intact ? "true" : "false", NULL);
		prop(c, props, "generator", d->generator, NULL);
	}
	set_nonempty(c, m, "props", props);
	return m;
}

/* The back-matter resource that stands for the assessment plan: the
 * appraisal's models, process areas and instances. */
static json_t *plan_resource(ctx *c, char uuid[37])
{
	const Opra__V1__AppraisalInfo *a = c->d->appraisal;
	json_t *r = json_object(), *props = json_array();
	char desc[512];

	uuid_of(c, uuid, "assessment-plan", "");
	snprintf(desc, sizeof(desc),
		 "The scope of appraisal %s as recorded by opra: %zu model(s), %zu process "
		 "area(s), %zu instance(s); affirmation coverage %d%%.",
		 a->name, a->n_models, a->n_process_areas, a->n_instances, a->affirmation_coverage);
	set(c, r, "uuid", json_string(uuid));
	set(c, r, "title", json_string("Appraisal scope (assessment plan)"));
	set(c, r, "description", out_jstr(desc, false));
	if (props == NULL)
		c->failed = 1;
	for (size_t i = 0; props && i < a->n_models; i++)
		prop(c, props, "model", a->models[i], NULL);
	for (size_t i = 0; props && i < a->n_process_areas; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", a->process_areas[i]->target_level);
		prop(c, props, "target-level", v, a->process_areas[i]->id);
	}
	set_nonempty(c, r, "props", props);
	return r;
}

static json_t *components(ctx *c)
{
	const Opra__V1__AppraisalInfo *a = c->d->appraisal;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < a->n_instances; i++) {
		const Opra__V1__AppraisalInstance *in = a->instances[i];
		char uuid[37], desc[400];
		uuid_of(c, uuid, "instance", in->name);
		bool service = strcmp(in->kind, "service") == 0;
		snprintf(desc, sizeof(desc), "The %s %s, an instance of appraisal %s.",
			 service ? "service" : "organisational unit", in->name, a->name);
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:{s:s}}", "uuid", uuid, "type",
				      service ? "service" : "organizational-unit", "title",
				      ostr_or(c, in->name, "(unnamed)"), "description",
				      out_jstr(desc, false), "status", "state", "operational");
		if (o == NULL || json_array_append_new(arr, o) != 0)
			c->failed = 1;
	}
	return arr;
}

static json_t *reviewed_controls(ctx *c)
{
	const Opra__V1__RatingShowReply *r = c->d->rating;
	json_t *controls = json_array(), *objectives = json_array();
	if (controls == NULL || objectives == NULL)
		c->failed = 1;
	for (size_t i = 0; controls && objectives && i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		char tok[128], goal[256];
		report_oscal_token(tok, sizeof(tok), pa->id);
		if (json_array_append_new(controls, json_pack("{s:s}", "control-id", tok)))
			c->failed = 1;
		for (size_t k = 0; k < pa->n_goals; k++) {
			snprintf(goal, sizeof(goal), "%s_%s", pa->id, pa->goals[k]->id);
			report_oscal_token(tok, sizeof(tok), goal);
			if (json_array_append_new(objectives,
						  json_pack("{s:s}", "objective-id", tok)))
				c->failed = 1;
		}
	}
	json_t *rc = json_pack("{s:s}", "description",
			       "The process areas in the appraisal's scope (controls) and their "
			       "goals (objectives).");
	if (rc == NULL) {
		c->failed = 1;
		json_decref(controls);
		json_decref(objectives);
		return NULL;
	}
	json_t *sel = json_object();
	if (sel)
		set_nonempty(c, sel, "include-controls", controls);
	else
		json_decref(controls);
	/* a selection must select something: an empty scope selects none */
	if (sel && json_object_size(sel) == 0)
		set(c, sel, "description", json_string("No process area is in scope."));
	json_t *sels = json_array();
	if (sel == NULL || sels == NULL || json_array_append_new(sels, sel) != 0)
		c->failed = 1;
	set(c, rc, "control-selections", sels);
	if (json_array_size(objectives)) {
		json_t *os = json_pack("[{s:o}]", "include-objectives", objectives);
		set(c, rc, "control-objective-selections", os);
	} else {
		json_decref(objectives);
	}
	return rc;
}

static const char *method_of(const char *kind)
{
	return strcmp(kind, "affirmation") == 0 ? "INTERVIEW" : "EXAMINE";
}

json_t *report_oscal(const report_doc *d)
{
	const Opra__V1__ReportFactsReply *fa = d->facts;
	const Opra__V1__RatingShowReply *r = d->rating;
	ctx c = {.d = d};
	json_t *root = NULL, *ar = NULL, *result = NULL, *obs = NULL, *findings = NULL,
	       *resources = NULL, *props = NULL;
	practice_goal *pg = NULL;
	json_t **related = NULL;
	size_t n_goals = 0, n_prac = 0;
	char uuid[37], plan[37];

	snprintf(c.seed, sizeof(c.seed), "%s%c%s", r->appraisal, 0, fa->created_at);
	c.parties = json_array();
	c.party_names = json_object();
	obs = json_array();
	findings = json_array();
	resources = json_array();
	props = json_array();
	for (size_t i = 0; i < r->n_process_areas; i++) {
		n_goals += r->process_areas[i]->n_goals;
		for (size_t k = 0; k < r->process_areas[i]->n_goals; k++)
			n_prac += r->process_areas[i]->goals[k]->n_practices;
	}
	pg = opra_calloc(n_prac + 1, sizeof(*pg));
	related = opra_calloc(n_goals + 1, sizeof(*related));
	if (!c.parties || !c.party_names || !obs || !findings || !resources || !props || !pg ||
	    !related)
		goto fail;
	size_t gi = 0, pi = 0;
	for (size_t i = 0; i < r->n_process_areas; i++)
		for (size_t k = 0; k < r->process_areas[i]->n_goals; k++, gi++) {
			const Opra__V1__GoalRating *g = r->process_areas[i]->goals[k];
			if ((related[gi] = json_array()) == NULL)
				goto fail;
			for (size_t m = 0; m < g->n_practices; m++) {
				pg[pi].practice = g->practices[m]->id;
				pg[pi++].goal = gi;
			}
		}
	qsort(pg, n_prac, sizeof(*pg), pg_cmp);

	/* the scope */
	json_t *plan_res = plan_resource(&c, plan);
	if (plan_res == NULL || json_array_append_new(resources, plan_res) != 0)
		goto fail;

	/* observations: one per evidence item, its bytes' hash in a resource */
	for (size_t i = 0; i < d->n_evidence; i++) {
		const Opra__V1__ReportEvidenceItem *e = d->evidence[i];
		char key[32], res[37], inst[37], who[37], title[400], desc[600];
		snprintf(key, sizeof(key), "%lld", (long long)e->id);
		uuid_of(&c, uuid, "evidence", key);
		uuid_of(&c, res, "evidence-resource", key);
		uuid_of(&c, inst, "instance", e->instance);
		party(&c, e->submitted_by, who);
		snprintf(title, sizeof(title), "%s %s for %s at %s", e->status, e->kind,
			 e->practice, e->instance);
		snprintf(desc, sizeof(desc),
			 "Evidence #%lld (%s, %s, %llu bytes) for practice %s at %s",
			 (long long)e->id, e->kind, e->status, (unsigned long long)e->size,
			 e->practice, e->instance);
		json_t *o = json_object(), *op = json_array(), *rp = json_array();
		if (o == NULL || op == NULL || rp == NULL) {
			json_decref(o);
			json_decref(op);
			json_decref(rp);
			goto fail;
		}
		set(&c, o, "uuid", json_string(uuid));
		set(&c, o, "title", ostr_or(&c, e->title, title));
		set(&c, o, "description", out_jstr(desc, false));
		/* the id, kind, hash and size are in the description, methods and
		 * the resource; props carry what a tool filters on */
		prop(&c, op, "practice", e->practice, NULL);
		prop(&c, op, "instance", e->instance, NULL);
		prop(&c, op, "status", e->status, NULL);
		prop(&c, op, "site", e->site, NULL);
		set_nonempty(&c, o, "props", op);
		set(&c, o, "methods", json_pack("[s]", method_of(e->kind)));
		set(&c, o, "types", json_pack("[s]", "control-objective"));
		if (e->submitted_by[0])
			set(&c, o, "origins",
			    json_pack("[{s:[{s:s, s:s}]}]", "actors", "type", "party", "actor-uuid",
				      who));
		set(&c, o, "subjects",
		    json_pack("[{s:s, s:s, s:o}]", "subject-uuid", inst, "type", "component",
			      "title", ostr_or(&c, e->instance, "(unnamed)")));
		char href[40], edesc[160];
		snprintf(href, sizeof(href), "#%s", res);
		snprintf(edesc, sizeof(edesc), "SHA-256 %s, %llu bytes", e->sha256,
			 (unsigned long long)e->size);
		set(&c, o, "relevant-evidence",
		    json_pack("[{s:s, s:s}]", "href", href, "description", edesc));
		set(&c, o, "collected", json_string(e->submitted_at));
		if (json_array_append_new(obs, o) != 0) {
			json_decref(rp);
			goto fail;
		}
		/* the resource: where the bytes are and their hash */
		char rlink[300];
		snprintf(rlink, sizeof(rlink), "urn:opra:evidence:%lld", (long long)e->id);
		json_t *ro = json_pack("{s:s, s:o, s:[{s:s, s:[{s:s, s:s}]}]}", "uuid", res,
				       "title", ostr_or(&c, e->title, title), "rlinks", "href",
				       rlink, "hashes", "algorithm", "SHA-256", "value", e->sha256);
		prop(&c, rp, "evidence-id", key, NULL);
		prop(&c, rp, "file-name", e->file_name, NULL);
		if (ro)
			set_nonempty(&c, ro, "props", rp);
		else
			json_decref(rp);
		if (ro == NULL || json_array_append_new(resources, ro) != 0)
			goto fail;
		/* the goal finding it supports */
		practice_goal key_pg = {.practice = e->practice};
		const practice_goal *hit =
			n_prac ? bsearch(&key_pg, pg, n_prac, sizeof(*pg), pg_cmp) : NULL;
		if (hit && json_array_append_new(related[hit->goal],
						 json_pack("{s:s}", "observation-uuid", uuid)))
			goto fail;
	}

	/* findings: one per goal rating; capability levels as props */
	gi = 0;
	for (size_t i = 0; i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		bool rated = strcmp(pa->status, "rated") == 0;
		char level[16];
		snprintf(level, sizeof(level), "%d", pa->capability_level);
		prop(&c, props, "capability-level", rated ? level : pa->status, pa->id);
		snprintf(level, sizeof(level), "%d", pa->target_level);
		prop(&c, props, "target-level", level, pa->id);
		for (size_t k = 0; k < pa->n_goals; k++, gi++) {
			const Opra__V1__GoalRating *g = pa->goals[k];
			char key[300], tok[300], title[400];
			bool sat = strcmp(g->rating, "satisfied") == 0;
			bool unsat = strcmp(g->rating, "unsatisfied") == 0;
			snprintf(key, sizeof(key), "%s/%s/%s", pa->model, pa->id, g->id);
			uuid_of(&c, uuid, "goal", key);
			snprintf(key, sizeof(key), "%s_%s", pa->id, g->id);
			report_oscal_token(tok, sizeof(tok), key);
			snprintf(title, sizeof(title), "%s %s: %s%s", pa->id, g->id, g->rating,
				 g->above_target ? " (above the target level)" : "");
			json_t *tp = json_array(), *fp = json_array();
			if (tp == NULL || fp == NULL) {
				json_decref(tp);
				json_decref(fp);
				goto fail;
			}
			prop(&c, tp, "rating", g->rating, NULL);
			prop(&c, tp, "above-target", g->above_target ? "true" : "false", NULL);
			prop(&c, fp, "process-area", pa->id, NULL);
			prop(&c, fp, "goal", g->id, NULL);
			prop(&c, fp, "model", pa->model, NULL);
			json_t *target =
				json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", "objective-id",
					  "target-id", tok, "status", "state",
					  sat ? "satisfied" : "not-satisfied", "reason",
					  sat	  ? "pass"
					  : unsat ? "fail"
						  : "other");
			if (target)
				set_nonempty(&c, target, "props", tp);
			else
				json_decref(tp);
			json_t *fo = json_object();
			if (fo == NULL || target == NULL) {
				json_decref(fo);
				json_decref(target);
				json_decref(fp);
				goto fail;
			}
			set(&c, fo, "uuid", json_string(uuid));
			set(&c, fo, "title", out_jstr(title, false));
			set(&c, fo, "description",
			    out_jstr(g->explanation[0] ? g->explanation : title, false));
			set_nonempty(&c, fo, "props", fp);
			set(&c, fo, "target", target);
			set_nonempty(&c, fo, "related-observations", related[gi]);
			related[gi] = NULL;
			if (json_array_append_new(findings, fo) != 0)
				goto fail;
		}
	}

	/* the result */
	const Opra__V1__AppraisalInfo *a = d->appraisal;
	char desc[600];
	snprintf(desc, sizeof(desc),
		 "Capability appraisal %s (CERT-RMM capability appraisal method, SCAMPI-based) "
		 "of %zu process area(s) over %zu instance(s), recorded by opra; %zu evidence "
		 "item(s), %zu weakness(es), %zu judgement(s). Chain head %s after %lld "
		 "event(s); %s.",
		 r->appraisal, r->n_process_areas, a->n_instances, d->n_evidence, fa->n_weaknesses,
		 fa->n_judgements, fa->head, (long long)fa->events,
		 fa->sealed ? "finalised (sealed)" : "open (not finalised)");
	result = json_object();
	if (result == NULL)
		goto fail;
	uuid_of(&c, uuid, "result", "");
	char rtitle[300];
	snprintf(rtitle, sizeof(rtitle), "Capability appraisal %s", r->appraisal);
	set(&c, result, "uuid", json_string(uuid));
	set(&c, result, "title", out_jstr(rtitle, false));
	set(&c, result, "description", out_jstr(desc, false));
	set(&c, result, "start", json_string(fa->created_at));
	set(&c, result, "end", json_string(fa->sealed ? fa->sealed_at : fa->generated_at));
	set_nonempty(&c, result, "props", props);
	props = NULL;
	json_t *comps = components(&c);
	if (comps && json_array_size(comps))
		set(&c, result, "local-definitions", json_pack("{s:o}", "components", comps));
	else
		json_decref(comps);
	set(&c, result, "reviewed-controls", reviewed_controls(&c));
	set_nonempty(&c, result, "observations", obs);
	obs = NULL;
	set_nonempty(&c, result, "findings", findings);
	findings = NULL;

	ar = json_object();
	if (ar == NULL)
		goto fail;
	uuid_of(&c, uuid, "assessment-results", "");
	set(&c, ar, "uuid", json_string(uuid));
	json_t *meta = metadata(&c);
	if (meta)
		set_nonempty(&c, meta, "parties", c.parties);
	else
		json_decref(c.parties);
	c.parties = NULL;
	set(&c, ar, "metadata", meta);
	char href[40];
	snprintf(href, sizeof(href), "#%s", plan);
	set(&c, ar, "import-ap", json_pack("{s:s}", "href", href));
	set(&c, ar, "results", json_pack("[o]", result));
	result = NULL;
	set(&c, ar, "back-matter", json_pack("{s:o}", "resources", resources));
	resources = NULL;
	root = json_pack("{s:o}", "assessment-results", ar);
	ar = NULL;
	if (root == NULL || c.failed)
		goto fail;
	goto done;
fail:
	json_decref(root);
	root = NULL;
done:
	json_decref(ar);
	json_decref(result);
	json_decref(obs);
	json_decref(findings);
	json_decref(resources);
	json_decref(props);
	json_decref(c.parties);
	json_decref(c.party_names);
	for (size_t i = 0; related && i < n_goals; i++)
		json_decref(related[i]);
	opra_free(related);
	opra_free(pg);
	return root;
}
