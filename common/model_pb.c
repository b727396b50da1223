#include "model_pb.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include <stdio.h>
#include <string.h>

/* ---- model -> protobuf (views, no string copies) ---- */

static char *s_or_empty(const char *s)
{
	return (char *)(s ? s : "");
}

static Opra__V1__Provenance *prov_to_pb(const model_provenance *p)
{
	Opra__V1__Provenance *pb = opra_calloc(1, sizeof(*pb));
	if (pb == NULL)
		return NULL;
	opra__v1__provenance__init(pb);
	pb->confirmed = p->confirmed != 0;
	pb->sources = s_or_empty(p->sources);
	pb->note = s_or_empty(p->note);
	return pb;
}

static void prov_pb_free(Opra__V1__Provenance *pb)
{
	opra_free(pb);
}

static void practice_pb_free(Opra__V1__Practice *p)
{
	if (p == NULL)
		return;
	opra_free(p->full_id);
	opra_free(p->subpractices);
	opra_free(p->work_products);
	for (size_t i = 0; p->refs && i < p->n_refs; i++)
		opra_free(p->refs[i]);
	opra_free(p->refs);
	prov_pb_free(p->provenance);
	opra_free(p);
}

static void goal_pb_free(Opra__V1__Goal *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; g->practices && i < g->n_practices; i++)
		practice_pb_free(g->practices[i]);
	opra_free(g->practices);
	prov_pb_free(g->provenance);
	opra_free(g);
}

static void pa_pb_free(Opra__V1__ProcessArea *pa)
{
	if (pa == NULL)
		return;
	for (size_t i = 0; pa->goals && i < pa->n_goals; i++)
		goal_pb_free(pa->goals[i]);
	opra_free(pa->goals);
	for (size_t i = 0; pa->refs && i < pa->n_refs; i++)
		opra_free(pa->refs[i]);
	opra_free(pa->refs);
	prov_pb_free(pa->provenance);
	opra_free(pa);
}

void model_pb_free(Opra__V1__ModelDoc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; doc->process_areas && i < doc->n_process_areas; i++)
		pa_pb_free(doc->process_areas[i]);
	opra_free(doc->process_areas);
	prov_pb_free(doc->provenance);
	opra_free(doc);
}

static Opra__V1__PracticeRef *ref_to_pb(const model_ref *src)
{
	Opra__V1__PracticeRef *r = opra_calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	opra__v1__practice_ref__init(r);
	r->model = s_or_empty(src->model);
	r->practice = s_or_empty(src->practice);
	r->process_area = s_or_empty(src->process_area);
	r->code = s_or_empty(src->code);
	r->ref = s_or_empty(src->ref);
	r->note = s_or_empty(src->note);
	r->unconfirmed = !src->confirmed;
	return r;
}

static Opra__V1__Practice *practice_to_pb(const model_pa *pa, const model_goal *g,
					  const model_practice *p)
{
	Opra__V1__Practice *pb = opra_calloc(1, sizeof(*pb));
	if (pb == NULL)
		return NULL;
	opra__v1__practice__init(pb);
	pb->id = s_or_empty(p->id);
	size_t n = strlen(pa->id) + strlen(g->id) + strlen(p->id) + 3;
	pb->full_id = opra_malloc(n);
	pb->title = s_or_empty(p->title);
	pb->statement = s_or_empty(p->statement);
	pb->provenance = prov_to_pb(&p->prov);
	pb->subpractices = opra_calloc(p->n_subpractices + 1, sizeof(char *));
	pb->work_products = opra_calloc(p->n_work_products + 1, sizeof(char *));
	pb->refs = opra_calloc(p->n_refs + 1, sizeof(*pb->refs));
	if (pb->full_id == NULL || pb->provenance == NULL || pb->subpractices == NULL ||
	    pb->work_products == NULL || pb->refs == NULL) {
		practice_pb_free(pb);
		return NULL;
	}
	snprintf(pb->full_id, n, "%s:%s.%s", pa->id, g->id, p->id);
	for (size_t i = 0; i < p->n_subpractices; i++)
		pb->subpractices[i] = p->subpractices[i];
	pb->n_subpractices = p->n_subpractices;
	for (size_t i = 0; i < p->n_work_products; i++)
		pb->work_products[i] = p->work_products[i];
	pb->n_work_products = p->n_work_products;
	for (size_t i = 0; i < p->n_refs; i++) {
		Opra__V1__PracticeRef *r = ref_to_pb(&p->refs[i]);
		if (r == NULL) {
			practice_pb_free(pb);
			return NULL;
		}
		pb->refs[pb->n_refs++] = r;
	}
	return pb;
}

int model_to_pb(Opra__V1__ModelDoc **out, const model *m)
{
	Opra__V1__ModelDoc *doc = opra_calloc(1, sizeof(*doc));
	*out = NULL;
	if (doc == NULL)
		goto oom;
	opra__v1__model_doc__init(doc);
	doc->id = s_or_empty(m->id);
	doc->name = s_or_empty(m->name);
	doc->short_name = s_or_empty(m->short_name);
	doc->version = s_or_empty(m->version);
	doc->publisher = s_or_empty(m->publisher);
	doc->description = s_or_empty(m->description);
	if ((doc->provenance = prov_to_pb(&m->prov)) == NULL)
		goto oom;
	doc->process_areas = opra_calloc(m->n_pas + 1, sizeof(*doc->process_areas));
	if (doc->process_areas == NULL)
		goto oom;
	for (size_t i = 0; i < m->n_pas; i++) {
		const model_pa *pa = &m->pas[i];
		Opra__V1__ProcessArea *ppa = opra_calloc(1, sizeof(*ppa));
		if (ppa == NULL)
			goto oom;
		opra__v1__process_area__init(ppa);
		doc->process_areas[doc->n_process_areas++] = ppa;
		ppa->id = s_or_empty(pa->id);
		ppa->name = s_or_empty(pa->name);
		ppa->category = s_or_empty(pa->category);
		ppa->purpose = s_or_empty(pa->purpose);
		if ((ppa->provenance = prov_to_pb(&pa->prov)) == NULL)
			goto oom;
		ppa->refs = opra_calloc(pa->n_refs + 1, sizeof(*ppa->refs));
		if (ppa->refs == NULL)
			goto oom;
		for (size_t k = 0; k < pa->n_refs; k++) {
			if ((ppa->refs[k] = ref_to_pb(&pa->refs[k])) == NULL)
				goto oom;
			ppa->n_refs++;
		}
		ppa->goals = opra_calloc(pa->n_goals + 1, sizeof(*ppa->goals));
		if (ppa->goals == NULL)
			goto oom;
		for (size_t k = 0; k < pa->n_goals; k++) {
			const model_goal *g = &pa->goals[k];
			Opra__V1__Goal *pg = opra_calloc(1, sizeof(*pg));
			if (pg == NULL)
				goto oom;
			opra__v1__goal__init(pg);
			ppa->goals[ppa->n_goals++] = pg;
			pg->id = s_or_empty(g->id);
			pg->title = s_or_empty(g->title);
			pg->generic = g->generic != 0;
			if ((pg->provenance = prov_to_pb(&g->prov)) == NULL)
				goto oom;
			pg->practices = opra_calloc(g->n_practices + 1, sizeof(*pg->practices));
			if (pg->practices == NULL)
				goto oom;
			for (size_t j = 0; j < g->n_practices; j++) {
				Opra__V1__Practice *pp = practice_to_pb(pa, g, &g->practices[j]);
				if (pp == NULL)
					goto oom;
				pg->practices[pg->n_practices++] = pp;
			}
		}
	}
	*out = doc;
	return OPRA_OK;
oom:
	model_pb_free(doc);
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory converting the model");
}

/* ---- protobuf -> model (deep copies) ---- */

/* Empty protobuf strings become NULL for optional fields. */
static int dup_opt(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL || *s == '\0')
		return OPRA_OK;
	*dst = opra_strdup(s);
	return *dst ? OPRA_OK : OPRA_RESOURCE_EXHAUSTED;
}

static int dup_req(char **dst, const char *s)
{
	*dst = opra_strdup(s ? s : "");
	return *dst ? OPRA_OK : OPRA_RESOURCE_EXHAUSTED;
}

static int prov_from_pb(model_provenance *p, const Opra__V1__Provenance *pb)
{
	p->confirmed = pb ? pb->confirmed : 1;
	if (pb == NULL)
		return OPRA_OK;
	if (dup_opt(&p->sources, pb->sources) || dup_opt(&p->note, pb->note))
		return OPRA_RESOURCE_EXHAUSTED;
	return OPRA_OK;
}

static int strings_from_pb(char ***dst, size_t *n, char **src, size_t count)
{
	*dst = NULL;
	*n = 0;
	if (count == 0)
		return OPRA_OK;
	if ((*dst = opra_calloc(count, sizeof(char *))) == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < count; i++) {
		if (((*dst)[i] = opra_strdup(src[i] ? src[i] : "")) == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		(*n)++;
	}
	return OPRA_OK;
}

static int refs_from_pb(model_ref **out, size_t *n, Opra__V1__PracticeRef **src, size_t count)
{
	*out = NULL;
	*n = 0;
	if (count == 0)
		return OPRA_OK;
	if ((*out = opra_calloc(count, sizeof(model_ref))) == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < count; i++) {
		model_ref *r = &(*out)[i];
		(*n)++;
		r->confirmed = !src[i]->unconfirmed;
		if (dup_opt(&r->model, src[i]->model) || dup_opt(&r->practice, src[i]->practice) ||
		    dup_opt(&r->process_area, src[i]->process_area) ||
		    dup_opt(&r->code, src[i]->code) || dup_opt(&r->ref, src[i]->ref) ||
		    dup_opt(&r->note, src[i]->note))
			return OPRA_RESOURCE_EXHAUSTED;
	}
	return OPRA_OK;
}

static int practice_from_pb(model_practice *p, const Opra__V1__Practice *pb)
{
	if (pb->n_subpractices > MODEL_MAX_LIST || pb->n_work_products > MODEL_MAX_LIST ||
	    pb->n_refs > MODEL_MAX_LIST)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "practice '%.32s': more than %d subpractices, work products or "
				    "references",
				    pb->id, MODEL_MAX_LIST);
	if (dup_req(&p->id, pb->id) || dup_req(&p->title, pb->title) ||
	    dup_opt(&p->statement, pb->statement) || prov_from_pb(&p->prov, pb->provenance) ||
	    strings_from_pb(&p->subpractices, &p->n_subpractices, pb->subpractices,
			    pb->n_subpractices) ||
	    strings_from_pb(&p->work_products, &p->n_work_products, pb->work_products,
			    pb->n_work_products))
		return OPRA_RESOURCE_EXHAUSTED;
	return refs_from_pb(&p->refs, &p->n_refs, pb->refs, pb->n_refs);
	return OPRA_OK;
}

static int from_pb(model *m, const Opra__V1__ModelDoc *doc)
{
	if (doc->n_process_areas > MODEL_MAX_PAS)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "a model has at most %d process areas",
				    MODEL_MAX_PAS);
	if (dup_req(&m->id, doc->id) || dup_req(&m->name, doc->name) ||
	    dup_opt(&m->short_name, doc->short_name) || dup_req(&m->version, doc->version) ||
	    dup_opt(&m->publisher, doc->publisher) || dup_opt(&m->description, doc->description) ||
	    prov_from_pb(&m->prov, doc->provenance))
		return OPRA_RESOURCE_EXHAUSTED;
	if (doc->n_process_areas &&
	    (m->pas = opra_calloc(doc->n_process_areas, sizeof(model_pa))) == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < doc->n_process_areas; i++) {
		const Opra__V1__ProcessArea *ppa = doc->process_areas[i];
		model_pa *pa = &m->pas[i];
		m->n_pas++;
		if (ppa->n_goals > MODEL_MAX_GOALS)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "process area '%.32s' has more than %d goals", ppa->id,
					    MODEL_MAX_GOALS);
		if (ppa->n_refs > MODEL_MAX_LIST)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "process area '%.32s' has more than %d references",
					    ppa->id, MODEL_MAX_LIST);
		if (dup_req(&pa->id, ppa->id) || dup_req(&pa->name, ppa->name) ||
		    dup_req(&pa->category, ppa->category) || dup_opt(&pa->purpose, ppa->purpose) ||
		    prov_from_pb(&pa->prov, ppa->provenance) ||
		    refs_from_pb(&pa->refs, &pa->n_refs, ppa->refs, ppa->n_refs))
			return OPRA_RESOURCE_EXHAUSTED;
		if (ppa->n_goals &&
		    (pa->goals = opra_calloc(ppa->n_goals, sizeof(model_goal))) == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		for (size_t k = 0; k < ppa->n_goals; k++) {
			const Opra__V1__Goal *pg = ppa->goals[k];
			model_goal *g = &pa->goals[k];
			pa->n_goals++;
			if (pg->n_practices > MODEL_MAX_PRACTICES)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "goal '%.32s' of process area '%.32s' has more "
						    "than %d practices",
						    pg->id, ppa->id, MODEL_MAX_PRACTICES);
			g->generic = pg->generic;
			if (dup_req(&g->id, pg->id) || dup_req(&g->title, pg->title) ||
			    prov_from_pb(&g->prov, pg->provenance))
				return OPRA_RESOURCE_EXHAUSTED;
			if (pg->n_practices &&
			    (g->practices = opra_calloc(pg->n_practices, sizeof(model_practice))) ==
				    NULL)
				return OPRA_RESOURCE_EXHAUSTED;
			for (size_t j = 0; j < pg->n_practices; j++) {
				g->n_practices++;
				int rc = practice_from_pb(&g->practices[j], pg->practices[j]);
				if (rc != OPRA_OK)
					return rc;
			}
		}
	}
	return OPRA_OK;
}

int model_from_pb(model **out, const Opra__V1__ModelDoc *doc, const char *origin)
{
	model *m = opra_calloc(1, sizeof(*m));
	int rc;
	*out = NULL;
	if (m == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	m->prov.confirmed = 1;
	rc = from_pb(m, doc);
	if (rc == OPRA_OK && (m->origin = opra_strdup(origin ? origin : "<wire>")) == NULL)
		rc = OPRA_RESOURCE_EXHAUSTED;
	if (rc != OPRA_OK) {
		if (rc == OPRA_RESOURCE_EXHAUSTED)
			opra_err_set(rc, "out of memory reading the model");
		model_free(m);
		return rc;
	}
	*out = m;
	return OPRA_OK;
}
