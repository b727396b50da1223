/* The in-memory model: freeing, copying, comparing, and the entry points
 * that read a model (model_parse, model_load_file). Validation is in
 * model_validate.c, the tree mapping in model_tree.c, the formats in
 * model_yaml.c and model_json.c. */
#include "model.h"

#include "model_internal.h"
#include "opra_alloc.h"
#include "opra_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- freeing -------------------------------------------------------------- */

static void prov_clear(model_provenance *p)
{
	opra_free(p->sources);
	opra_free(p->note);
	p->sources = NULL;
	p->note = NULL;
}

static void strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		opra_free(v[i]);
	opra_free(v);
}

static void ref_clear(model_ref *r)
{
	opra_free(r->model);
	opra_free(r->practice);
	opra_free(r->process_area);
	opra_free(r->code);
	opra_free(r->ref);
	opra_free(r->note);
	memset(r, 0, sizeof(*r));
}

static void refs_free(model_ref *refs, size_t n)
{
	for (size_t i = 0; refs && i < n; i++)
		ref_clear(&refs[i]);
	opra_free(refs);
}

static void practice_clear(model_practice *p)
{
	opra_free(p->id);
	opra_free(p->title);
	opra_free(p->statement);
	strv_free(p->subpractices, p->n_subpractices);
	strv_free(p->work_products, p->n_work_products);
	refs_free(p->refs, p->n_refs);
	prov_clear(&p->prov);
	memset(p, 0, sizeof(*p));
}

void model_goal_clear(model_goal *g)
{
	if (g == NULL)
		return;
	opra_free(g->id);
	opra_free(g->title);
	for (size_t i = 0; g->practices && i < g->n_practices; i++)
		practice_clear(&g->practices[i]);
	opra_free(g->practices);
	prov_clear(&g->prov);
	memset(g, 0, sizeof(*g));
}

static void pa_clear(model_pa *pa)
{
	opra_free(pa->id);
	opra_free(pa->name);
	opra_free(pa->category);
	opra_free(pa->purpose);
	for (size_t i = 0; pa->goals && i < pa->n_goals; i++)
		model_goal_clear(&pa->goals[i]);
	opra_free(pa->goals);
	refs_free(pa->refs, pa->n_refs);
	prov_clear(&pa->prov);
	memset(pa, 0, sizeof(*pa));
}

void model_free(model *m)
{
	if (m == NULL)
		return;
	opra_free(m->id);
	opra_free(m->name);
	opra_free(m->short_name);
	opra_free(m->version);
	opra_free(m->publisher);
	opra_free(m->description);
	opra_free(m->origin);
	prov_clear(&m->prov);
	for (size_t i = 0; m->pas && i < m->n_pas; i++)
		pa_clear(&m->pas[i]);
	opra_free(m->pas);
	opra_free(m);
}

/* ---- deep copies (generic goal templates) ---------------------------------- */

/* Copies s into *dst; 0 on success, -1 when memory runs out. NULL copies
 * as NULL. */
static int dup_into(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL)
		return 0;
	*dst = opra_strdup(s);
	return *dst ? 0 : -1;
}

static int prov_copy(model_provenance *dst, const model_provenance *src)
{
	dst->confirmed = src->confirmed;
	if (dup_into(&dst->sources, src->sources) || dup_into(&dst->note, src->note))
		return -1;
	return 0;
}

static int strv_copy(char ***dst, size_t *n_dst, char *const *src, size_t n)
{
	*dst = NULL;
	*n_dst = 0;
	if (n == 0)
		return 0;
	*dst = opra_calloc(n, sizeof(char *));
	if (*dst == NULL)
		return -1;
	*n_dst = n;
	for (size_t i = 0; i < n; i++)
		if (dup_into(&(*dst)[i], src[i]))
			return -1;
	return 0;
}

/* *dst (zeroed by the caller) gets copies of src[0..n); on failure what was
 * copied stays in *dst for the caller's clear. */
static int refs_copy(model_ref **dst, size_t *n_dst, const model_ref *src, size_t n)
{
	if (n == 0)
		return 0;
	*dst = opra_calloc(n, sizeof(model_ref));
	if (*dst == NULL)
		return -1;
	*n_dst = n;
	for (size_t i = 0; i < n; i++) {
		const model_ref *s = &src[i];
		model_ref *d = &(*dst)[i];
		d->line = s->line;
		d->confirmed = s->confirmed;
		if (dup_into(&d->model, s->model) || dup_into(&d->practice, s->practice) ||
		    dup_into(&d->process_area, s->process_area) || dup_into(&d->code, s->code) ||
		    dup_into(&d->ref, s->ref) || dup_into(&d->note, s->note))
			return -1;
	}
	return 0;
}

static int practice_copy(model_practice *dst, const model_practice *src)
{
	dst->line = src->line;
	if (dup_into(&dst->id, src->id) || dup_into(&dst->title, src->title) ||
	    dup_into(&dst->statement, src->statement) || prov_copy(&dst->prov, &src->prov) ||
	    strv_copy(&dst->subpractices, &dst->n_subpractices, src->subpractices,
		      src->n_subpractices) ||
	    strv_copy(&dst->work_products, &dst->n_work_products, src->work_products,
		      src->n_work_products))
		return -1;
	return refs_copy(&dst->refs, &dst->n_refs, src->refs, src->n_refs);
}

/* On failure dst is cleared and RESOURCE_EXHAUSTED returned. */
int model_goal_copy(model_goal *dst, const model_goal *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->generic = src->generic;
	dst->line = src->line;
	if (dup_into(&dst->id, src->id) || dup_into(&dst->title, src->title) ||
	    prov_copy(&dst->prov, &src->prov))
		goto nomem;
	if (src->n_practices) {
		dst->practices = opra_calloc(src->n_practices, sizeof(model_practice));
		if (dst->practices == NULL)
			goto nomem;
		dst->n_practices = src->n_practices;
		for (size_t i = 0; i < src->n_practices; i++)
			if (practice_copy(&dst->practices[i], &src->practices[i]))
				goto nomem;
	}
	return OPRA_OK;
nomem:
	model_goal_clear(dst);
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory copying a generic goal");
}

/* ---- comparison ------------------------------------------------------------ */

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return 0;
	return 1;
}

static int prov_eq(const model_provenance *a, const model_provenance *b)
{
	return !a->confirmed == !b->confirmed && str_eq(a->sources, b->sources) &&
	       str_eq(a->note, b->note);
}

static int ref_eq(const model_ref *a, const model_ref *b)
{
	return str_eq(a->model, b->model) && str_eq(a->practice, b->practice) &&
	       str_eq(a->process_area, b->process_area) && str_eq(a->code, b->code) &&
	       str_eq(a->ref, b->ref) && str_eq(a->note, b->note) && !a->confirmed == !b->confirmed;
}

static int refs_eq(const model_ref *a, size_t na, const model_ref *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!ref_eq(&a[i], &b[i]))
			return 0;
	return 1;
}

static int practice_eq(const model_practice *a, const model_practice *b)
{
	if (!str_eq(a->id, b->id) || !str_eq(a->title, b->title) ||
	    !str_eq(a->statement, b->statement) || !prov_eq(&a->prov, &b->prov) ||
	    !strv_eq(a->subpractices, a->n_subpractices, b->subpractices, b->n_subpractices) ||
	    !strv_eq(a->work_products, a->n_work_products, b->work_products, b->n_work_products))
		return 0;
	return refs_eq(a->refs, a->n_refs, b->refs, b->n_refs);
}

int model_goal_equal(const model_goal *a, const model_goal *b)
{
	if (!str_eq(a->id, b->id) || !str_eq(a->title, b->title) || !a->generic != !b->generic ||
	    !prov_eq(&a->prov, &b->prov) || a->n_practices != b->n_practices)
		return 0;
	for (size_t i = 0; i < a->n_practices; i++)
		if (!practice_eq(&a->practices[i], &b->practices[i]))
			return 0;
	return 1;
}

static int pa_eq(const model_pa *a, const model_pa *b)
{
	if (!str_eq(a->id, b->id) || !str_eq(a->name, b->name) ||
	    !str_eq(a->category, b->category) || !str_eq(a->purpose, b->purpose) ||
	    !prov_eq(&a->prov, &b->prov) || a->n_goals != b->n_goals ||
	    !refs_eq(a->refs, a->n_refs, b->refs, b->n_refs))
		return 0;
	for (size_t i = 0; i < a->n_goals; i++)
		if (!model_goal_equal(&a->goals[i], &b->goals[i]))
			return 0;
	return 1;
}

int model_equal(const model *a, const model *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (!str_eq(a->id, b->id) || !str_eq(a->name, b->name) ||
	    !str_eq(a->short_name, b->short_name) || !str_eq(a->version, b->version) ||
	    !str_eq(a->publisher, b->publisher) || !str_eq(a->description, b->description) ||
	    !prov_eq(&a->prov, &b->prov) || a->n_pas != b->n_pas)
		return 0;
	for (size_t i = 0; i < a->n_pas; i++)
		if (!pa_eq(&a->pas[i], &b->pas[i]))
			return 0;
	return 1;
}

size_t model_count_practices(const model *m)
{
	size_t n = 0;
	if (m == NULL)
		return 0;
	for (size_t i = 0; i < m->n_pas; i++)
		for (size_t j = 0; j < m->pas[i].n_goals; j++)
			n += m->pas[i].goals[j].n_practices;
	return n;
}

/* ---- reading ---------------------------------------------------------------- */

/* Whether the text is JSON: its first character other than white space (and
 * a UTF-8 byte order mark) is '{'. */
static int looks_like_json(const char *text, size_t len)
{
	size_t i = 0;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	return i < len && text[i] == '{';
}

int model_parse(model **out, const char *origin, const char *text, size_t len, const char *format)
{
	mnode root = {0};
	model *m = NULL;
	int rc = OPRA_OK;
	int oscal = 0;

	*out = NULL;
	if (origin == NULL)
		origin = "<input>";
	if (text == NULL)
		len = 0;
	if (len > MODEL_FILE_MAX) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "%s is %zu bytes; model files are limited to 16 MiB", origin,
				  len);
		goto done;
	}
	if (format != NULL && strcmp(format, "oscal-catalog") == 0) {
		oscal = 1;
	} else if (format != NULL && strcmp(format, "opra") != 0) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "unknown model format '%.64s' (expected opra or oscal-catalog)",
				  format);
		goto done;
	} else if (looks_like_json(text, len)) {
		rc = model_json_read(&root, format == NULL ? &oscal : NULL, origin, text, len);
		if (rc != OPRA_OK)
			goto done;
	} else {
		rc = model_yaml_read(&root, origin, text, len);
		if (rc != OPRA_OK)
			goto done;
	}

	if (oscal) {
		rc = model_parse_oscal_catalog(&m, origin, text ? text : "", len);
		if (rc != OPRA_OK)
			goto done;
		if (m->origin == NULL && (m->origin = opra_strdup(origin)) == NULL) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			goto done;
		}
	} else {
		rc = model_from_tree(&m, origin, &root);
		if (rc != OPRA_OK)
			goto done;
	}
	rc = model_validate(m);
	if (rc != OPRA_OK)
		goto done;
	*out = m;
	m = NULL;
done:
	mnode_clear(&root);
	model_free(m);
	return rc;
}

int model_load_file(model **out, const char *path, const char *format)
{
	int fd = -1;
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	int rc = OPRA_OK;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		rc = opra_err_set(e == ENOENT ? OPRA_NOT_FOUND : OPRA_PERMISSION_DENIED,
				  "cannot open model file %s: %s", path, strerror(e));
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		rc = opra_err_set(OPRA_PERMISSION_DENIED, "cannot read model file %s: %s", path,
				  strerror(errno));
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "%s is a directory, not a model file",
				  path);
		goto done;
	}
	/* Checked before reading anything: a huge file costs one fstat. */
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > MODEL_FILE_MAX) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "%s is %jd bytes; model files are limited to 16 MiB", path,
				  (intmax_t)st.st_size);
		goto done;
	}
	/* A regular file is read in a buffer of its size plus one byte, which
	 * tells a file that grew since fstat; anything else (a pipe) gets the
	 * limit plus one byte. */
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : (size_t)MODEL_FILE_MAX + 1;
	text = opra_malloc(cap + 1);
	if (text == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory reading %s", path);
		goto done;
	}
	while (len < cap) {
		ssize_t r = read(fd, text + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = opra_err_set(OPRA_PERMISSION_DENIED, "cannot read model file %s: %s",
					  path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len == cap) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  S_ISREG(st.st_mode) ? "%s changed while it was being read"
						      : "%s is more than 16 MiB; model files are "
							"limited to 16 MiB",
				  path);
		goto done;
	}
	text[len] = '\0';
	rc = model_parse(out, path, text, len, format);
done:
	if (fd >= 0)
		close(fd);
	opra_free(text);
	return rc;
}
