/* The generic tree both readers build, and the one mapping between that
 * tree and the model structs (docs/models.md is the format). */
#include "model.h"

#include "model_internal.h"
#include "opra_alloc.h"
#include "opra_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- the tree ----------------------------------------------------------------- */

void mnode_clear(mnode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; n->kids && i < n->n_kids; i++)
		mnode_clear(&n->kids[i]);
	opra_free(n->kids);
	opra_free(n->key);
	opra_free(n->text);
	memset(n, 0, sizeof(*n));
}

mnode *mnode_push(mnode *parent)
{
	if (parent->n_kids == parent->cap_kids) {
		size_t cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
		mnode *k = opra_realloc(parent->kids, cap * sizeof(mnode));
		if (k == NULL) {
			opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			return NULL;
		}
		parent->kids = k;
		parent->cap_kids = cap;
	}
	mnode *n = &parent->kids[parent->n_kids++];
	memset(n, 0, sizeof(*n));
	return n;
}

const char *mnode_kind_name(mnode_kind k)
{
	switch (k) {
	case MNODE_NULL:
		return "null";
	case MNODE_STRING:
		return "text";
	case MNODE_NUMBER:
		return "a number";
	case MNODE_BOOL:
		return "a boolean";
	case MNODE_MAP:
		return "a mapping";
	case MNODE_LIST:
		return "a list";
	}
	return "?";
}

static int matches_any(const char *s, size_t len, const char *const *words)
{
	for (size_t i = 0; words[i]; i++)
		if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0)
			return 1;
	return 0;
}

static int is_digit_c(char c)
{
	return c >= '0' && c <= '9';
}

static int all_in(const char *s, size_t len, const char *set)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (strchr(set, s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

/* YAML 1.1 and 1.2 core schema numbers, read conservatively: anything a
 * YAML tool might take for a number is a number, so the writer quotes it. */
static int looks_numeric(const char *s, size_t len)
{
	static const char *const special[] = {".inf",  ".Inf",	".INF",	 "+.inf", "+.Inf",
					      "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
					      ".NaN",  ".NAN",	NULL};
	if (matches_any(s, len, special))
		return 1;
	size_t i = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i + 2 <= len && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b'))
		return len > i + 2 && all_in(s + i + 2, len - i - 2, "0123456789abcdefABCDEF_");
	/* digits with optional _ , : (sexagesimal) . and an exponent */
	int digits = 0, dots = 0;
	for (; i < len; i++) {
		char c = s[i];
		if (is_digit_c(c)) {
			digits = 1;
		} else if (c == '_' || c == ':') {
			if (!digits)
				return 0;
		} else if (c == '.') {
			if (++dots > 1)
				return 0;
		} else if ((c == 'e' || c == 'E') && digits) {
			i++;
			if (i < len && (s[i] == '+' || s[i] == '-'))
				i++;
			if (i >= len)
				return 0;
			for (; i < len; i++)
				if (!is_digit_c(s[i]))
					return 0;
			return 1;
		} else {
			return 0;
		}
	}
	return digits;
}

mnode_kind mnode_resolve_plain(const char *s, size_t len, int *flag)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	*flag = 0;
	if (matches_any(s, len, nulls))
		return MNODE_NULL;
	if (matches_any(s, len, trues)) {
		*flag = 1;
		return MNODE_BOOL;
	}
	if (matches_any(s, len, falses))
		return MNODE_BOOL;
	if (looks_numeric(s, len))
		return MNODE_NUMBER;
	return MNODE_STRING;
}

int mnode_plain_needs_quotes(const char *s, size_t len)
{
	/* YAML 1.1 booleans: opra reads them as text (YAML 1.2), other tools
	 * may not, so they are written quoted. */
	static const char *const yaml11[] = {"yes", "Yes", "YES", "no",	 "No",	"NO", "on",
					     "On",  "ON",  "off", "Off", "OFF", "y",  "Y",
					     "n",   "N",   "=",	  "<<",	 NULL};
	int flag;
	return mnode_resolve_plain(s, len, &flag) != MNODE_STRING || matches_any(s, len, yaml11);
}

/* ---- tree -> model: where we are, for messages ---------------------------------- */

typedef struct {
	const char *label; /* "process area" */
	const char *id;	   /* NULL until known */
	const char *list;  /* "process_areas" */
	size_t index;
} tframe;

typedef struct {
	const char *origin;
	tframe fr[8];
	int depth;
} tctx;

static void tpush(tctx *c, const char *label, const char *list, size_t index, const char *id)
{
	tframe *f = &c->fr[c->depth++];
	f->label = label;
	f->list = list;
	f->index = index;
	f->id = id;
}

static void tpop(tctx *c)
{
	c->depth--;
}

/* YAML (line known): "x.yaml:12: process area ADM, goal SG1: MSG".
 * JSON (no lines): "x.json: process_areas[0].specific_goals[0]: MSG". */
static int terr(const tctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int terr(const tctx *c, int line, const char *fmt, ...)
{
	char what[OPRA_ERR_MSG_MAX];
	char where[320] = "";
	size_t n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	for (int i = 0; i < c->depth && n < sizeof(where); i++) {
		const tframe *f = &c->fr[i];
		if (line > 0 && f->id)
			snprintf(where + n, sizeof(where) - n, "%s%s %.40s", i ? ", " : "",
				 f->label, f->id);
		else if (line > 0)
			snprintf(where + n, sizeof(where) - n, "%s%s %zu", i ? ", " : "", f->label,
				 f->index + 1);
		else
			snprintf(where + n, sizeof(where) - n, "%s%s[%zu]", i ? "." : "", f->list,
				 f->index);
		n = strlen(where);
	}
	if (line > 0 && n)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d: %s: %s", c->origin, line, where,
				    what);
	if (line > 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d: %s", c->origin, line, what);
	if (n)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: %s: %s", c->origin, where, what);
	return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: %s", c->origin, what);
}

static int nomem(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory reading a model");
}

static const mnode *map_get(const mnode *map, const char *key)
{
	for (size_t i = 0; i < map->n_kids; i++)
		if (strcmp(map->kids[i].key, key) == 0)
			return &map->kids[i];
	return NULL;
}

/* NULL-valued keys count as absent ("statement:" with nothing after it). */
static const mnode *map_val(const mnode *map, const char *key)
{
	const mnode *v = map_get(map, key);
	return v && v->kind != MNODE_NULL ? v : NULL;
}

static int check_keys(const tctx *c, const mnode *map, const char *const *allowed)
{
	for (size_t i = 0; i < map->n_kids; i++) {
		size_t k = 0;
		while (allowed[k] && strcmp(allowed[k], map->kids[i].key) != 0)
			k++;
		if (allowed[k] == NULL)
			return terr(c, map->kids[i].key_line, "unknown key '%.64s'",
				    map->kids[i].key);
	}
	return OPRA_OK;
}

static int want_map(const tctx *c, const mnode *n, const char *what)
{
	if (n->kind != MNODE_MAP)
		return terr(c, n->line, "%s: expected a mapping, found %s", what,
			    mnode_kind_name(n->kind));
	return OPRA_OK;
}

/* *out is a LIST node or NULL (absent or null). */
static int get_list(const tctx *c, const mnode *map, const char *key, const mnode **out)
{
	const mnode *v = map_val(map, key);
	*out = NULL;
	if (v == NULL)
		return OPRA_OK;
	if (v->kind != MNODE_LIST)
		return terr(c, v->line, "%s: expected a list, found %s", key,
			    mnode_kind_name(v->kind));
	*out = v;
	return OPRA_OK;
}

static int scalar_text(const tctx *c, const mnode *v, const char *what, char **out)
{
	if (v->kind != MNODE_STRING && v->kind != MNODE_NUMBER)
		return terr(c, v->line, "%s: expected text, found %s", what,
			    mnode_kind_name(v->kind));
	if (strlen(v->text) != v->text_len)
		return terr(c, v->line, "%s: contains a NUL character", what);
	*out = opra_strdup(v->text);
	return *out ? OPRA_OK : nomem();
}

static int get_str(const tctx *c, const mnode *map, const char *key, int required, char **out)
{
	const mnode *v = map_val(map, key);
	*out = NULL;
	if (v == NULL)
		return required ? terr(c, map->line, "missing '%s'", key) : OPRA_OK;
	return scalar_text(c, v, key, out);
}

static int get_strv(const tctx *c, const mnode *map, const char *key, char ***out, size_t *n_out)
{
	const mnode *list = NULL;
	int rc = get_list(c, map, key, &list);
	*out = NULL;
	*n_out = 0;
	if (rc || list == NULL || list->n_kids == 0)
		return rc;
	*out = opra_calloc(list->n_kids, sizeof(char *));
	if (*out == NULL)
		return nomem();
	*n_out = list->n_kids;
	for (size_t i = 0; i < list->n_kids; i++) {
		char what[80];
		snprintf(what, sizeof(what), "%s[%zu]", key, i);
		if ((rc = scalar_text(c, &list->kids[i], what, &(*out)[i])))
			return rc;
	}
	return OPRA_OK;
}

/* confirmed: true or false, default true (on elements and references). */
static int get_confirmed(const tctx *c, const mnode *map, int *out)
{
	const mnode *v = map_val(map, "confirmed");

	*out = 1;
	if (v == NULL)
		return OPRA_OK;
	if (v->kind != MNODE_BOOL)
		return terr(c, v->line, "confirmed: expected true or false, found %s",
			    mnode_kind_name(v->kind));
	*out = v->flag;
	return OPRA_OK;
}

/* confirmed (default true), sources (text or list joined "; "), note. */
static int get_prov(const tctx *c, const mnode *map, model_provenance *p)
{
	const mnode *v = NULL;
	int rc;

	if ((rc = get_confirmed(c, map, &p->confirmed)) ||
	    (rc = get_str(c, map, "note", 0, &p->note)))
		return rc;
	v = map_val(map, "sources");
	if (v == NULL)
		return OPRA_OK;
	if (v->kind != MNODE_LIST)
		return scalar_text(c, v, "sources", &p->sources);
	size_t total = 1;
	for (size_t i = 0; i < v->n_kids; i++) {
		const mnode *k = &v->kids[i];
		if (k->kind != MNODE_STRING && k->kind != MNODE_NUMBER)
			return terr(c, k->line, "sources[%zu]: expected text, found %s", i,
				    mnode_kind_name(k->kind));
		total += k->text_len + 2;
	}
	if (v->n_kids == 0)
		return OPRA_OK;
	p->sources = opra_malloc(total);
	if (p->sources == NULL)
		return nomem();
	size_t at = 0;
	for (size_t i = 0; i < v->n_kids; i++) {
		if (i) {
			memcpy(p->sources + at, "; ", 2);
			at += 2;
		}
		memcpy(p->sources + at, v->kids[i].text, v->kids[i].text_len);
		at += v->kids[i].text_len;
	}
	p->sources[at] = '\0';
	if (strlen(p->sources) != at)
		return terr(c, v->line, "sources: contains a NUL character");
	return OPRA_OK;
}

/* The id is read first so that every later message can name the element. */
static int get_id(tctx *c, const mnode *map, char **out)
{
	int rc = get_str(c, map, "id", 1, out);
	if (rc == OPRA_OK)
		c->fr[c->depth - 1].id = *out;
	return rc;
}

static const char *const ref_keys[] = {"model", "practice",  "process_area", "code",
				       "ref",	"confirmed", "note",	     NULL};
static const char *const practice_keys[] = {
	"id",	      "title",	   "statement", "subpractices", "typical_work_products",
	"references", "confirmed", "sources",	"note",		NULL};
static const char *const goal_keys[] = {"id",	   "title", "practices", "confirmed",
					"sources", "note",  NULL};
static const char *const pa_keys[] = {"id",
				      "name",
				      "category",
				      "purpose",
				      "references",
				      "specific_goals",
				      "generic_goals",
				      "confirmed",
				      "sources",
				      "note",
				      NULL};
static const char *const model_keys[] = {
	"opra_model",  "id",	    "name",    "short_name", "version",	      "publisher",
	"description", "confirmed", "sources", "note",	     "generic_goals", "process_areas",
	NULL};

static int ref_from(tctx *c, const mnode *n, model_ref *r)
{
	int rc;
	if ((rc = want_map(c, n, "reference")) || (rc = check_keys(c, n, ref_keys)))
		return rc;
	r->line = n->line;
	if ((rc = get_str(c, n, "model", 0, &r->model)) ||
	    (rc = get_str(c, n, "practice", 0, &r->practice)) ||
	    (rc = get_str(c, n, "process_area", 0, &r->process_area)) ||
	    (rc = get_str(c, n, "code", 0, &r->code)) || (rc = get_str(c, n, "ref", 0, &r->ref)) ||
	    (rc = get_confirmed(c, n, &r->confirmed)) || (rc = get_str(c, n, "note", 0, &r->note)))
		return rc;
	return OPRA_OK;
}

/* The "references" list of a practice or a process area. */
static int refs_from(tctx *c, const mnode *map, model_ref **out, size_t *n_out)
{
	const mnode *refs = NULL;
	int rc = get_list(c, map, "references", &refs);

	if (rc || refs == NULL || refs->n_kids == 0)
		return rc;
	*out = opra_calloc(refs->n_kids, sizeof(model_ref));
	if (*out == NULL)
		return nomem();
	*n_out = refs->n_kids;
	for (size_t i = 0; i < refs->n_kids; i++) {
		tpush(c, "reference", "references", i, NULL);
		rc = ref_from(c, &refs->kids[i], &(*out)[i]);
		tpop(c);
		if (rc)
			return rc;
	}
	return OPRA_OK;
}

static int practice_from(tctx *c, const mnode *n, model_practice *p)
{
	int rc;

	if ((rc = want_map(c, n, "practice")) || (rc = get_id(c, n, &p->id)) ||
	    (rc = check_keys(c, n, practice_keys)))
		return rc;
	p->line = n->line;
	if ((rc = get_str(c, n, "title", 1, &p->title)) ||
	    (rc = get_str(c, n, "statement", 0, &p->statement)) ||
	    (rc = get_strv(c, n, "subpractices", &p->subpractices, &p->n_subpractices)) ||
	    (rc = get_strv(c, n, "typical_work_products", &p->work_products,
			   &p->n_work_products)) ||
	    (rc = get_prov(c, n, &p->prov)))
		return rc;
	return refs_from(c, n, &p->refs, &p->n_refs);
}

static int goal_from(tctx *c, const mnode *n, model_goal *g, int generic)
{
	const mnode *prs = NULL;
	int rc;

	g->generic = generic;
	if ((rc = want_map(c, n, "goal")) || (rc = get_id(c, n, &g->id)) ||
	    (rc = check_keys(c, n, goal_keys)))
		return rc;
	g->line = n->line;
	if ((rc = get_str(c, n, "title", 1, &g->title)) || (rc = get_prov(c, n, &g->prov)) ||
	    (rc = get_list(c, n, "practices", &prs)))
		return rc;
	if (prs == NULL || prs->n_kids == 0)
		return OPRA_OK;
	g->practices = opra_calloc(prs->n_kids, sizeof(model_practice));
	if (g->practices == NULL)
		return nomem();
	g->n_practices = prs->n_kids;
	for (size_t i = 0; i < prs->n_kids; i++) {
		tpush(c, "practice", "practices", i, NULL);
		rc = practice_from(c, &prs->kids[i], &g->practices[i]);
		tpop(c);
		if (rc)
			return rc;
	}
	return OPRA_OK;
}

/* Reads a list of goals into g[0..n) (already allocated and zeroed). */
static int goals_from(tctx *c, const mnode *list, const char *label, const char *key, model_goal *g,
		      int generic)
{
	for (size_t i = 0; i < list->n_kids; i++) {
		tpush(c, label, key, i, NULL);
		int rc = goal_from(c, &list->kids[i], &g[i], generic);
		tpop(c);
		if (rc)
			return rc;
	}
	return OPRA_OK;
}

static int pa_from(tctx *c, const mnode *n, model_pa *pa, const model_goal *tmpl, size_t n_tmpl)
{
	const mnode *sg = NULL, *gg = NULL;
	int rc;

	if ((rc = want_map(c, n, "process area")) || (rc = get_id(c, n, &pa->id)) ||
	    (rc = check_keys(c, n, pa_keys)))
		return rc;
	pa->line = n->line;
	if ((rc = get_str(c, n, "name", 1, &pa->name)) ||
	    (rc = get_str(c, n, "category", 1, &pa->category)) ||
	    (rc = get_str(c, n, "purpose", 0, &pa->purpose)) || (rc = get_prov(c, n, &pa->prov)) ||
	    (rc = refs_from(c, n, &pa->refs, &pa->n_refs)) ||
	    (rc = get_list(c, n, "specific_goals", &sg)) ||
	    (rc = get_list(c, n, "generic_goals", &gg)))
		return rc;
	/* A PA with the key generic_goals (even an empty list) has its own. */
	int own_generic = map_get(n, "generic_goals") != NULL;
	size_t n_sg = sg ? sg->n_kids : 0;
	size_t n_gg = own_generic ? (gg ? gg->n_kids : 0) : n_tmpl;
	if (n_sg + n_gg == 0)
		return OPRA_OK;
	if (n_sg + n_gg > MODEL_MAX_GOALS)
		return terr(c, n->line, "%zu goals; a process area may have at most %d",
			    n_sg + n_gg, MODEL_MAX_GOALS);
	pa->goals = opra_calloc(n_sg + n_gg, sizeof(model_goal));
	if (pa->goals == NULL)
		return nomem();
	pa->n_goals = n_sg + n_gg;
	if (sg && (rc = goals_from(c, sg, "goal", "specific_goals", pa->goals, 0)))
		return rc;
	if (own_generic)
		return gg ? goals_from(c, gg, "goal", "generic_goals", pa->goals + n_sg, 1)
			  : OPRA_OK;
	for (size_t i = 0; i < n_tmpl; i++)
		if ((rc = model_goal_copy(&pa->goals[n_sg + i], &tmpl[i])))
			return rc;
	return OPRA_OK;
}

static int version_from(tctx *c, const mnode *root)
{
	const mnode *v = map_val(root, "opra_model");
	if (v == NULL && map_get(root, "catalog") != NULL)
		return terr(c, root->line,
			    "missing 'opra_model'; this looks like an OSCAL catalog (read it with "
			    "the format oscal-catalog)");
	if (v == NULL)
		return terr(c, root->line,
			    "missing 'opra_model' (the format version: start the file with "
			    "'opra_model: 1')");
	if ((v->kind != MNODE_NUMBER && v->kind != MNODE_STRING) || strcmp(v->text, "1") != 0)
		return terr(c, v->line,
			    "opra_model: unsupported format version '%.20s' (this opra reads "
			    "version 1)",
			    v->kind == MNODE_NUMBER || v->kind == MNODE_STRING
				    ? v->text
				    : mnode_kind_name(v->kind));
	return OPRA_OK;
}

int model_from_tree(model **out, const char *origin, const mnode *root)
{
	tctx c = {.origin = origin};
	model *m = NULL;
	model_goal *tmpl = NULL;
	size_t n_tmpl = 0;
	const mnode *gg = NULL, *pas = NULL;
	int rc;

	*out = NULL;
	if (root->kind == MNODE_NULL) {
		rc = terr(&c, 0, "no model in the file (it is empty)");
		goto done;
	}
	if (root->kind != MNODE_MAP) {
		rc = terr(&c, root->line, "expected a mapping at the top level, found %s",
			  mnode_kind_name(root->kind));
		goto done;
	}
	m = opra_calloc(1, sizeof(*m));
	if (m == NULL || (m->origin = opra_strdup(origin)) == NULL) {
		rc = nomem();
		goto done;
	}
	if ((rc = version_from(&c, root)) || (rc = check_keys(&c, root, model_keys)) ||
	    (rc = get_str(&c, root, "id", 1, &m->id)) ||
	    (rc = get_str(&c, root, "name", 1, &m->name)) ||
	    (rc = get_str(&c, root, "short_name", 0, &m->short_name)) ||
	    (rc = get_str(&c, root, "version", 1, &m->version)) ||
	    (rc = get_str(&c, root, "publisher", 0, &m->publisher)) ||
	    (rc = get_str(&c, root, "description", 0, &m->description)) ||
	    (rc = get_prov(&c, root, &m->prov)) ||
	    (rc = get_list(&c, root, "generic_goals", &gg)) ||
	    (rc = get_list(&c, root, "process_areas", &pas)))
		goto done;
	if (pas == NULL) {
		rc = terr(&c, root->line, "missing 'process_areas'");
		goto done;
	}
	if (pas->n_kids > MODEL_MAX_PAS) {
		rc = terr(&c, pas->line, "%zu process areas; a model may have at most %d",
			  pas->n_kids, MODEL_MAX_PAS);
		goto done;
	}
	if (gg && gg->n_kids) {
		if (gg->n_kids > MODEL_MAX_GOALS) {
			rc = terr(&c, gg->line, "%zu generic goals; at most %d", gg->n_kids,
				  MODEL_MAX_GOALS);
			goto done;
		}
		tmpl = opra_calloc(gg->n_kids, sizeof(model_goal));
		if (tmpl == NULL) {
			rc = nomem();
			goto done;
		}
		n_tmpl = gg->n_kids;
		if ((rc = goals_from(&c, gg, "generic goal template", "generic_goals", tmpl, 1)))
			goto done;
	}
	if (pas->n_kids) {
		m->pas = opra_calloc(pas->n_kids, sizeof(model_pa));
		if (m->pas == NULL) {
			rc = nomem();
			goto done;
		}
		m->n_pas = pas->n_kids;
	}
	for (size_t i = 0; i < pas->n_kids; i++) {
		tpush(&c, "process area", "process_areas", i, NULL);
		rc = pa_from(&c, &pas->kids[i], &m->pas[i], tmpl, n_tmpl);
		tpop(&c);
		if (rc)
			goto done;
	}
	*out = m;
	m = NULL;
	rc = OPRA_OK;
done:
	for (size_t i = 0; tmpl && i < n_tmpl; i++)
		model_goal_clear(&tmpl[i]);
	opra_free(tmpl);
	model_free(m);
	return rc;
}

/* ---- model -> tree -------------------------------------------------------------- */

static mnode *add_kid(mnode *map, const char *key, mnode_kind kind)
{
	mnode *k = mnode_push(map);
	if (k == NULL)
		return NULL;
	k->kind = kind;
	if (key && (k->key = opra_strdup(key)) == NULL) {
		opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	return k;
}

static int add_text(mnode *parent, const char *key, mnode_kind kind, const char *value)
{
	if (value == NULL)
		return OPRA_OK;
	mnode *k = add_kid(parent, key, kind);
	if (k == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	k->text_len = strlen(value);
	k->text = opra_strdup(value);
	return k->text ? OPRA_OK : opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

static int add_str(mnode *map, const char *key, const char *value)
{
	return add_text(map, key, MNODE_STRING, value);
}

static int add_strv(mnode *map, const char *key, char *const *v, size_t n)
{
	if (n == 0)
		return OPRA_OK;
	mnode *list = add_kid(map, key, MNODE_LIST);
	if (list == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < n; i++) {
		int rc = add_str(list, NULL, v[i] ? v[i] : "");
		if (rc)
			return rc;
	}
	return OPRA_OK;
}

static int add_prov(mnode *map, const model_provenance *p)
{
	int rc;
	if (!p->confirmed) {
		mnode *k = add_kid(map, "confirmed", MNODE_BOOL);
		if (k == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		k->flag = 0;
	}
	if ((rc = add_str(map, "sources", p->sources)) || (rc = add_str(map, "note", p->note)))
		return rc;
	return OPRA_OK;
}

/* Writes refs as the list "references" (nothing when there are none);
 * confirmed is written only when false, like provenance. */
static int refs_to(mnode *map, const model_ref *refs, size_t n)
{
	int rc;
	if (n == 0)
		return OPRA_OK;
	mnode *list = add_kid(map, "references", MNODE_LIST);
	if (list == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < n; i++) {
		const model_ref *r = &refs[i];
		mnode *rn = add_kid(list, NULL, MNODE_MAP);
		if (rn == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		if ((rc = add_str(rn, "model", r->model)) ||
		    (rc = add_str(rn, "practice", r->practice)) ||
		    (rc = add_str(rn, "process_area", r->process_area)) ||
		    (rc = add_str(rn, "code", r->code)) || (rc = add_str(rn, "ref", r->ref)))
			return rc;
		if (!r->confirmed) {
			mnode *k = add_kid(rn, "confirmed", MNODE_BOOL);
			if (k == NULL)
				return OPRA_RESOURCE_EXHAUSTED;
			k->flag = 0;
		}
		if ((rc = add_str(rn, "note", r->note)))
			return rc;
	}
	return OPRA_OK;
}

static int practice_to(mnode *list, const model_practice *p)
{
	mnode *n = add_kid(list, NULL, MNODE_MAP);
	int rc;
	if (n == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	if ((rc = add_str(n, "id", p->id)) || (rc = add_str(n, "title", p->title)) ||
	    (rc = add_str(n, "statement", p->statement)) || (rc = add_prov(n, &p->prov)) ||
	    (rc = add_strv(n, "subpractices", p->subpractices, p->n_subpractices)) ||
	    (rc = add_strv(n, "typical_work_products", p->work_products, p->n_work_products)))
		return rc;
	return refs_to(n, p->refs, p->n_refs);
}

static int goal_to(mnode *list, const model_goal *g)
{
	mnode *n = add_kid(list, NULL, MNODE_MAP);
	int rc;
	if (n == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	if ((rc = add_str(n, "id", g->id)) || (rc = add_str(n, "title", g->title)) ||
	    (rc = add_prov(n, &g->prov)))
		return rc;
	if (g->n_practices == 0)
		return OPRA_OK;
	mnode *prs = add_kid(n, "practices", MNODE_LIST);
	if (prs == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < g->n_practices; i++)
		if ((rc = practice_to(prs, &g->practices[i])))
			return rc;
	return OPRA_OK;
}

/* Writes the goals whose generic flag is `generic` as a list under key
 * (nothing when there are none). */
static int goals_to(mnode *map, const char *key, const model_pa *pa, int generic)
{
	mnode *list = NULL;
	int rc;
	for (size_t i = 0; i < pa->n_goals; i++) {
		if (!pa->goals[i].generic != !generic)
			continue;
		if (list == NULL && (list = add_kid(map, key, MNODE_LIST)) == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		if ((rc = goal_to(list, &pa->goals[i])))
			return rc;
	}
	return OPRA_OK;
}

static size_t first_generic(const model_pa *pa)
{
	size_t i = 0;
	while (i < pa->n_goals && !pa->goals[i].generic)
		i++;
	return i;
}

/* Templates are written when every process area has the same, non-empty,
 * generic goals: each then reads back as a copy of the templates. */
static int generic_goals_shared(const model *m)
{
	if (m->n_pas == 0)
		return 0;
	const model_pa *p0 = &m->pas[0];
	size_t g0 = first_generic(p0);
	size_t n0 = p0->n_goals - g0;
	if (n0 == 0)
		return 0;
	for (size_t i = 1; i < m->n_pas; i++) {
		const model_pa *pa = &m->pas[i];
		size_t g = first_generic(pa);
		if (pa->n_goals - g != n0)
			return 0;
		for (size_t k = 0; k < n0; k++)
			if (!model_goal_equal(&pa->goals[g + k], &p0->goals[g0 + k]))
				return 0;
	}
	/* Every goal after the first generic one must be generic too, else the
	 * split into specific_goals/generic_goals would reorder them. */
	for (size_t i = 0; i < m->n_pas; i++)
		for (size_t k = first_generic(&m->pas[i]); k < m->pas[i].n_goals; k++)
			if (!m->pas[i].goals[k].generic)
				return 0;
	return 1;
}

int model_to_tree(mnode *root, const model *m)
{
	int rc;
	int shared = generic_goals_shared(m);

	mnode_clear(root);
	root->kind = MNODE_MAP;
	if ((rc = add_text(root, "opra_model", MNODE_NUMBER, "1")) ||
	    (rc = add_str(root, "id", m->id)) || (rc = add_str(root, "name", m->name)) ||
	    (rc = add_str(root, "short_name", m->short_name)) ||
	    (rc = add_str(root, "version", m->version)) ||
	    (rc = add_str(root, "publisher", m->publisher)) ||
	    (rc = add_str(root, "description", m->description)) || (rc = add_prov(root, &m->prov)))
		return rc;
	if (shared) {
		mnode *gg = add_kid(root, "generic_goals", MNODE_LIST);
		const model_pa *p0 = &m->pas[0];
		if (gg == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		for (size_t k = first_generic(p0); k < p0->n_goals; k++)
			if ((rc = goal_to(gg, &p0->goals[k])))
				return rc;
	}
	mnode *pas = add_kid(root, "process_areas", MNODE_LIST);
	if (pas == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < m->n_pas; i++) {
		const model_pa *pa = &m->pas[i];
		mnode *n = add_kid(pas, NULL, MNODE_MAP);
		if (n == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		if ((rc = add_str(n, "id", pa->id)) || (rc = add_str(n, "name", pa->name)) ||
		    (rc = add_str(n, "category", pa->category)) ||
		    (rc = add_str(n, "purpose", pa->purpose)) || (rc = add_prov(n, &pa->prov)) ||
		    (rc = refs_to(n, pa->refs, pa->n_refs)) ||
		    (rc = goals_to(n, "specific_goals", pa, 0)))
			return rc;
		if (!shared && (rc = goals_to(n, "generic_goals", pa, 1)))
			return rc;
	}
	return OPRA_OK;
}
