/* model_validate: every rule of docs/models.md ("Validation"), with messages
 * that name the file, the line and the element. */
#include "model.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where an element is, for messages: "process area ADM, goal SG1,
 * practice SP1, reference 2". */
typedef struct {
	const model *m;
	const model_pa *pa;
	const model_goal *goal;
	const model_practice *pr;
	size_t ref_index; /* 1-based; 0: not in a reference */
} vloc;

static int verr(const vloc *l, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int verr(const vloc *l, int line, const char *fmt, ...)
{
	char where[256] = "";
	char what[OPRA_ERR_MSG_MAX];
	char pos[32] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (l->pa) {
		size_t n = strlen(where);
		snprintf(where + n, sizeof(where) - n, "process area %.40s",
			 l->pa->id ? l->pa->id : "?");
	}
	if (l->goal) {
		size_t n = strlen(where);
		snprintf(where + n, sizeof(where) - n, ", goal %.40s",
			 l->goal->id ? l->goal->id : "?");
	}
	if (l->pr) {
		size_t n = strlen(where);
		snprintf(where + n, sizeof(where) - n, ", practice %.40s",
			 l->pr->id ? l->pr->id : "?");
	}
	if (l->ref_index) {
		size_t n = strlen(where);
		snprintf(where + n, sizeof(where) - n, ", reference %zu", l->ref_index);
	}
	if (line > 0)
		snprintf(pos, sizeof(pos), ":%d", line);
	const char *origin = l->m->origin ? l->m->origin : "<model>";
	if (where[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s%s: %s", origin, pos, what);
	return opra_err_set(OPRA_INVALID_ARGUMENT, "%s%s: %s: %s", origin, pos, where, what);
}

/* Re-raises the message that opra_name_check/opra_text_check left, with
 * the location in front. */
static int verr_last(const vloc *l, int line)
{
	char msg[OPRA_ERR_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", opra_err_msg());
	return verr(l, line, "%s", msg);
}

static int check_name(const vloc *l, int line, const char *what, const char *s, int required)
{
	if (s == NULL)
		return required ? verr(l, line, "%s is required", what) : OPRA_OK;
	if (opra_name_check(what, s, MODEL_NAME_MAX) != OPRA_OK)
		return verr_last(l, line);
	return OPRA_OK;
}

static int check_text(const vloc *l, int line, const char *what, const char *s)
{
	if (opra_text_check(what, s, MODEL_TEXT_MAX) != OPRA_OK)
		return verr_last(l, line);
	return OPRA_OK;
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_lower_key(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

/* A local id: a letter, then letters, digits and the characters in extra;
 * 1..MODEL_ID_MAX bytes. len bytes of s are checked. */
static int id_ok(const char *s, size_t len, const char *extra)
{
	if (len == 0 || len > MODEL_ID_MAX || !is_alpha(s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

#define PA_EXTRA       "_-"
#define GOAL_EXTRA     "._-"
#define PRACTICE_EXTRA "._()-"

/* A lower-case key: [a-z0-9] then [a-z0-9] and the characters in extra. */
static int key_ok(const char *s, size_t max, const char *extra)
{
	size_t len = strlen(s);
	if (len == 0 || len > max || !is_lower_key(s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_lower_key(s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

/* "PA:GOAL.PRACTICE": goal ids may contain dots, so any dot after the colon
 * may be the separator. */
static int full_id_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	if (colon == NULL || !id_ok(s, (size_t)(colon - s), PA_EXTRA))
		return 0;
	const char *rest = colon + 1;
	size_t rest_len = strlen(rest);
	for (const char *dot = strchr(rest, '.'); dot; dot = strchr(dot + 1, '.')) {
		size_t glen = (size_t)(dot - rest);
		if (id_ok(rest, glen, GOAL_EXTRA) &&
		    id_ok(dot + 1, rest_len - glen - 1, PRACTICE_EXTRA))
			return 1;
	}
	return 0;
}

static int check_id(const vloc *l, int line, const char *what, const char *id, const char *extra)
{
	if (id == NULL)
		return verr(l, line, "%s id is required", what);
	if (!id_ok(id, strlen(id), extra))
		return verr(l, line,
			    "%s id '%.64s' is not valid (a letter, then letters, digits or '%s'; "
			    "at most %d characters)",
			    what, id, extra, MODEL_ID_MAX);
	return OPRA_OK;
}

static int check_prov(const vloc *l, int line, const model_provenance *p)
{
	int rc = check_text(l, line, "sources", p->sources);
	if (rc == OPRA_OK)
		rc = check_text(l, line, "note", p->note);
	return rc;
}

/* ---- uniqueness: sort indices by id, report the later of a pair ------------ */

typedef struct {
	const char *id;
	size_t index;
} id_slot;

static int slot_cmp(const void *a, const void *b)
{
	const id_slot *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Finds the first element (in order) whose id repeats an earlier one. ids
 * are read through get(base, i). Returns 1 and sets *dup and *first when
 * found, 0 when all are unique, -1 when memory runs out. */
static int find_duplicate(const void *base, size_t n, const char *(*get)(const void *, size_t),
			  size_t *dup, size_t *first)
{
	if (n < 2)
		return 0;
	id_slot *s = opra_calloc(n, sizeof(*s));
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		s[i].id = get(base, i);
		s[i].index = i;
	}
	qsort(s, n, sizeof(*s), slot_cmp);
	int found = 0;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(s[i].id, s[i - 1].id) != 0)
			continue;
		/* s[i-1] is earlier than s[i] and, within a run, the first of
		 * the run is the original. */
		size_t j = i - 1;
		while (j > 0 && strcmp(s[j - 1].id, s[i].id) == 0)
			j--;
		if (!found || s[i].index < *dup) {
			*dup = s[i].index;
			*first = s[j].index;
			found = 1;
		}
	}
	opra_free(s);
	return found;
}

static const char *pa_id_at(const void *base, size_t i)
{
	return ((const model_pa *)base)[i].id;
}

static const char *goal_id_at(const void *base, size_t i)
{
	return ((const model_goal *)base)[i].id;
}

static const char *practice_id_at(const void *base, size_t i)
{
	return ((const model_practice *)base)[i].id;
}

static int first_at(char *buf, size_t size, int line)
{
	if (line > 0)
		snprintf(buf, size, " (first at line %d)", line);
	else
		buf[0] = '\0';
	return 0;
}

/* ---- cross-references to this model ----------------------------------------- */

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What same-model references are resolved against: every practice's full
 * id and every process area id, each sorted. */
typedef struct {
	char **full_ids;
	size_t n_full;
	char **pa_ids; /* point into the model (not freed one by one) */
	size_t n_pa;
} vindex;

/* Builds a sorted array of every practice's full id. */
static int full_ids_build(const model *m, char ***out, size_t *n_out)
{
	size_t n = model_count_practices(m), k = 0;
	char **v = NULL;

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return OPRA_OK;
	v = opra_calloc(n, sizeof(char *));
	if (v == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < m->n_pas; i++) {
		const model_pa *pa = &m->pas[i];
		for (size_t j = 0; j < pa->n_goals; j++) {
			const model_goal *g = &pa->goals[j];
			for (size_t p = 0; p < g->n_practices; p++) {
				size_t len = strlen(pa->id) + strlen(g->id) +
					     strlen(g->practices[p].id) + 3;
				v[k] = opra_malloc(len);
				if (v[k] == NULL) {
					for (size_t f = 0; f < k; f++)
						opra_free(v[f]);
					opra_free(v);
					return opra_err_set(OPRA_RESOURCE_EXHAUSTED,
							    "out of memory");
				}
				snprintf(v[k], len, "%s:%s.%s", pa->id, g->id, g->practices[p].id);
				k++;
			}
		}
	}
	qsort(v, n, sizeof(char *), str_ptr_cmp);
	*out = v;
	*n_out = n;
	return OPRA_OK;
}

/* Builds a sorted array of the process area ids (checked present by
 * check_structure_ids). */
static int pa_ids_build(const model *m, char ***out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	if (m->n_pas == 0)
		return OPRA_OK;
	char **v = opra_calloc(m->n_pas, sizeof(char *));
	if (v == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < m->n_pas; i++)
		v[i] = m->pas[i].id;
	qsort(v, m->n_pas, sizeof(char *), str_ptr_cmp);
	*out = v;
	*n_out = m->n_pas;
	return OPRA_OK;
}

static int in_sorted(const char *key, char *const *v, size_t n)
{
	return v != NULL && bsearch(&key, v, n, sizeof(char *), str_ptr_cmp) != NULL;
}

/* A reference to a model's practice (model + practice) or whole process
 * area (model + process_area). */
static int check_model_ref(const vloc *l, const model_ref *r, const vindex *ix)
{
	int line = r->line;

	if (r->practice != NULL && r->process_area != NULL)
		return verr(l, line,
			    "a reference names either a practice or a process area, not both "
			    "(practice '%.64s', process_area '%.64s')",
			    r->practice, r->process_area);
	if (r->model == NULL && r->practice != NULL)
		return verr(l, line, "reference to practice '%.64s' has no model", r->practice);
	if (r->model == NULL)
		return verr(l, line, "reference to process area '%.64s' has no model",
			    r->process_area);
	if (r->practice == NULL && r->process_area == NULL)
		return verr(l, line, "reference to model '%.64s' has no practice or process_area",
			    r->model);
	if (!key_ok(r->model, MODEL_KEY_MAX, ".-"))
		return verr(l, line, "referenced model id '%.80s' is not valid", r->model);
	int same_model = strcmp(r->model, l->m->id) == 0;
	if (r->practice != NULL) {
		if (!full_id_ok(r->practice))
			return verr(l, line,
				    "referenced practice '%.80s' is not a full practice id "
				    "(PA:GOAL.PRACTICE, e.g. ADM:SG1.SP1)",
				    r->practice);
		if (same_model && !in_sorted(r->practice, ix->full_ids, ix->n_full))
			return verr(l, line,
				    "dangling cross-reference: practice '%.80s' does not exist "
				    "in this model (%.64s)",
				    r->practice, r->model);
		return OPRA_OK;
	}
	if (!id_ok(r->process_area, strlen(r->process_area), PA_EXTRA))
		return verr(l, line,
			    "referenced process area '%.80s' is not a valid process area id (a "
			    "letter, then letters, digits or '%s'; at most %d characters)",
			    r->process_area, PA_EXTRA, MODEL_ID_MAX);
	if (same_model && !in_sorted(r->process_area, ix->pa_ids, ix->n_pa))
		return verr(l, line,
			    "dangling cross-reference: process area '%.80s' does not exist in "
			    "this model (%.64s)",
			    r->process_area, r->model);
	return OPRA_OK;
}

/* Exactly one kind: model + practice, model + process_area, or code + ref. */
static int check_ref(const vloc *l, const model_ref *r, const vindex *ix)
{
	int line = r->line;
	int rc;
	int is_model = r->model != NULL || r->practice != NULL || r->process_area != NULL;
	int is_code = r->code != NULL || r->ref != NULL;

	if (is_model && is_code)
		return verr(l, line,
			    "a reference has either model and practice, model and process_area, "
			    "or code and ref, not both");
	if (!is_model && !is_code)
		return verr(l, line,
			    "a reference needs model and practice, model and process_area, or "
			    "code and ref");
	if (is_model) {
		if ((rc = check_model_ref(l, r, ix)))
			return rc;
	} else {
		if (r->code == NULL)
			return verr(l, line, "reference to '%.64s' has no code", r->ref);
		if (r->ref == NULL)
			return verr(l, line, "reference to code '%.64s' has no ref", r->code);
		if ((rc = check_name(l, line, "code", r->code, 1)) ||
		    (rc = check_name(l, line, "ref", r->ref, 1)))
			return rc;
	}
	return check_text(l, line, "note", r->note);
}

/* The references of a practice or (l->pr NULL) of a process area. */
static int check_refs(vloc *l, const model_ref *refs, size_t n, const vindex *ix)
{
	for (size_t i = 0; i < n; i++) {
		l->ref_index = i + 1;
		int rc = check_ref(l, &refs[i], ix);
		l->ref_index = 0;
		if (rc)
			return rc;
	}
	return OPRA_OK;
}

static int check_practice(vloc *l, const model_practice *p, const vindex *ix)
{
	int line = p->line;
	int rc;

	if ((rc = check_id(l, line, "practice", p->id, PRACTICE_EXTRA)) ||
	    (rc = check_name(l, line, "title", p->title, 1)) ||
	    (rc = check_text(l, line, "statement", p->statement)) ||
	    (rc = check_prov(l, line, &p->prov)))
		return rc;
	if (p->n_subpractices > MODEL_MAX_LIST || p->n_work_products > MODEL_MAX_LIST ||
	    p->n_refs > MODEL_MAX_LIST)
		return verr(l, line,
			    "more than %d subpractices, typical work products or references",
			    MODEL_MAX_LIST);
	for (size_t i = 0; i < p->n_subpractices; i++) {
		if (p->subpractices[i] == NULL)
			return verr(l, line, "subpractice %zu is empty", i + 1);
		if ((rc = check_text(l, line, "subpractice", p->subpractices[i])))
			return rc;
	}
	for (size_t i = 0; i < p->n_work_products; i++) {
		if (p->work_products[i] == NULL)
			return verr(l, line, "typical work product %zu is empty", i + 1);
		if ((rc = check_text(l, line, "typical work product", p->work_products[i])))
			return rc;
	}
	return check_refs(l, p->refs, p->n_refs, ix);
}

static int check_goal(vloc *l, const model_goal *g, const vindex *ix)
{
	int line = g->line;
	int rc;
	size_t dup = 0, first = 0;
	char buf[48];

	if ((rc = check_id(l, line, "goal", g->id, GOAL_EXTRA)) ||
	    (rc = check_name(l, line, "title", g->title, 1)) ||
	    (rc = check_prov(l, line, &g->prov)))
		return rc;
	if (g->n_practices > MODEL_MAX_PRACTICES)
		return verr(l, line, "%zu practices; a goal may have at most %d", g->n_practices,
			    MODEL_MAX_PRACTICES);
	for (size_t i = 0; i < g->n_practices; i++) {
		l->pr = &g->practices[i];
		rc = check_practice(l, &g->practices[i], ix);
		l->pr = NULL;
		if (rc)
			return rc;
	}
	int f = find_duplicate(g->practices, g->n_practices, practice_id_at, &dup, &first);
	if (f < 0)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (f) {
		first_at(buf, sizeof(buf), g->practices[first].line);
		l->pr = &g->practices[dup];
		rc = verr(l, g->practices[dup].line, "duplicate practice id '%s'%s",
			  g->practices[dup].id, buf);
		l->pr = NULL;
		return rc;
	}
	return OPRA_OK;
}

static int check_pa(vloc *l, const model_pa *pa, const vindex *ix)
{
	int line = pa->line;
	int rc;
	size_t dup = 0, first = 0;
	char buf[48];

	if ((rc = check_id(l, line, "process area", pa->id, PA_EXTRA)) ||
	    (rc = check_name(l, line, "name", pa->name, 1)) ||
	    (rc = check_text(l, line, "purpose", pa->purpose)) ||
	    (rc = check_prov(l, line, &pa->prov)))
		return rc;
	if (pa->category == NULL)
		return verr(l, line, "category is required");
	if (!key_ok(pa->category, MODEL_KEY_MAX, "-"))
		return verr(l, line,
			    "category '%.80s' is not valid (lower-case letters, digits and '-', "
			    "e.g. engineering)",
			    pa->category);
	if (pa->n_goals > MODEL_MAX_GOALS)
		return verr(l, line, "%zu goals; a process area may have at most %d", pa->n_goals,
			    MODEL_MAX_GOALS);
	if (pa->n_refs > MODEL_MAX_LIST)
		return verr(l, line, "%zu references; a process area may have at most %d",
			    pa->n_refs, MODEL_MAX_LIST);
	if ((rc = check_refs(l, pa->refs, pa->n_refs, ix)))
		return rc;
	for (size_t i = 1; i < pa->n_goals; i++)
		if (pa->goals[i - 1].generic && !pa->goals[i].generic)
			return verr(
				l, pa->goals[i].line,
				"specific goal %.40s comes after a generic goal (specific goals "
				"come first)",
				pa->goals[i].id ? pa->goals[i].id : "?");
	for (size_t i = 0; i < pa->n_goals; i++) {
		l->goal = &pa->goals[i];
		rc = check_goal(l, &pa->goals[i], ix);
		l->goal = NULL;
		if (rc)
			return rc;
	}
	int f = find_duplicate(pa->goals, pa->n_goals, goal_id_at, &dup, &first);
	if (f < 0)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (f) {
		first_at(buf, sizeof(buf), pa->goals[first].line);
		l->goal = &pa->goals[dup];
		rc = verr(l, pa->goals[dup].line, "duplicate goal id '%s'%s", pa->goals[dup].id,
			  buf);
		l->goal = NULL;
		return rc;
	}
	return OPRA_OK;
}

/* Ids must be present and well formed before full ids are built; the
 * structural checks run first, references last. */
static int check_structure_ids(vloc *l)
{
	const model *m = l->m;
	for (size_t i = 0; i < m->n_pas; i++) {
		const model_pa *pa = &m->pas[i];
		l->pa = pa;
		int rc = check_id(l, pa->line, "process area", pa->id, PA_EXTRA);
		for (size_t j = 0; rc == OPRA_OK && j < pa->n_goals; j++) {
			const model_goal *g = &pa->goals[j];
			l->goal = g;
			rc = check_id(l, g->line, "goal", g->id, GOAL_EXTRA);
			for (size_t p = 0; rc == OPRA_OK && p < g->n_practices; p++) {
				l->pr = &g->practices[p];
				rc = check_id(l, g->practices[p].line, "practice",
					      g->practices[p].id, PRACTICE_EXTRA);
			}
			l->pr = NULL;
		}
		l->goal = NULL;
		l->pa = NULL;
		if (rc)
			return rc;
	}
	return OPRA_OK;
}

int model_validate(const model *m)
{
	vloc l = {.m = m};
	vindex ix = {0};
	size_t dup = 0, first = 0;
	char buf[48];
	int rc;

	if (m == NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "no model");
	if (m->id == NULL)
		return verr(&l, 0, "model id is required");
	if (!key_ok(m->id, MODEL_KEY_MAX, ".-"))
		return verr(&l, 0,
			    "model id '%.80s' is not valid (lower-case letters, digits, '.' and "
			    "'-', starting with a letter or digit; at most %d characters)",
			    m->id, MODEL_KEY_MAX);
	if ((rc = check_name(&l, 0, "model name", m->name, 1)) ||
	    (rc = check_name(&l, 0, "short_name", m->short_name, 0)) ||
	    (rc = check_name(&l, 0, "publisher", m->publisher, 0)) ||
	    (rc = check_text(&l, 0, "description", m->description)) ||
	    (rc = check_prov(&l, 0, &m->prov)))
		return rc;
	if (m->version == NULL)
		return verr(&l, 0, "version is required");
	if (opra_name_check("version", m->version, MODEL_KEY_MAX) != OPRA_OK)
		return verr_last(&l, 0);
	if (m->n_pas == 0)
		return verr(&l, 0, "a model needs at least one process area");
	if (m->n_pas > MODEL_MAX_PAS)
		return verr(&l, 0, "%zu process areas; a model may have at most %d", m->n_pas,
			    MODEL_MAX_PAS);
	if ((rc = check_structure_ids(&l)))
		return rc;
	if ((rc = full_ids_build(m, &ix.full_ids, &ix.n_full)) ||
	    (rc = pa_ids_build(m, &ix.pa_ids, &ix.n_pa)))
		goto done;
	for (size_t i = 0; i < m->n_pas; i++) {
		l.pa = &m->pas[i];
		rc = check_pa(&l, &m->pas[i], &ix);
		l.pa = NULL;
		if (rc)
			goto done;
	}
	int f = find_duplicate(m->pas, m->n_pas, pa_id_at, &dup, &first);
	if (f < 0) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	if (f) {
		first_at(buf, sizeof(buf), m->pas[first].line);
		l.pa = &m->pas[dup];
		rc = verr(&l, m->pas[dup].line, "duplicate process area id '%s'%s", m->pas[dup].id,
			  buf);
		goto done;
	}
	rc = OPRA_OK;
done:
	for (size_t i = 0; i < ix.n_full; i++)
		opra_free(ix.full_ids[i]);
	opra_free(ix.full_ids);
	opra_free(ix.pa_ids);
	return rc;
}
