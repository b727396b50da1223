/* OSCAL catalog (JSON) import: a catalog becomes a model whose process
 * areas are the catalog's top-level groups (one specific goal SG1 each),
 * whose practices are the controls and whose subpractices are the control
 * enhancements. The mapping is documented in docs/models-oscal.md.
 *
 * The input is hostile: every value's type is checked, every id is checked
 * against the model format's patterns here (so the message can name the
 * JSON path, e.g. "catalog.groups[3].controls[7]: control without id"),
 * nesting is bounded, and lengths and counts stay within the limits
 * model_validate enforces. */
#include "model.h"

#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define OSCAL_PATH_MAX	 512
#define OSCAL_DEPTH_MAX	 32 /* nested groups, controls, parts */
#define OSCAL_PARAM_HOPS 2  /* parameter choices that insert parameters */
#define OSCAL_ELLIPSIS	 "\xe2\x80\xa6"

typedef struct {
	const char *origin;
	char path[OSCAL_PATH_MAX];
	size_t path_len;
	model *m;
	size_t cap_pas;
	size_t n_controls;	/* imported as practices */
	size_t n_enhancements;	/* imported as subpractices */
	size_t n_withdrawn;	/* top-level controls skipped */
	size_t n_withdrawn_enh; /* enhancements skipped (withdrawn or under one) */
	size_t n_truncated;	/* statements cut at MODEL_TEXT_MAX */
} oscal_ctx;

/* ---- JSON paths and errors ---- */

static size_t path_push(oscal_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a segment to the current path; returns the length to restore. */
static size_t path_push(oscal_ctx *c, const char *fmt, ...)
{
	size_t saved = c->path_len;
	size_t room = sizeof(c->path) - c->path_len;
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(c->path + c->path_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	c->path_len = (size_t)n < room ? c->path_len + (size_t)n : sizeof(c->path) - 1;
	return saved;
}

static void path_pop(oscal_ctx *c, size_t saved)
{
	c->path_len = saved;
	c->path[saved] = '\0';
}

static int oscal_fail(const oscal_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records "ORIGIN: PATH: message" as INVALID_ARGUMENT and returns it. */
static int oscal_fail(const oscal_ctx *c, const char *fmt, ...)
{
	char msg[OPRA_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: %s: %s", c->origin, c->path, msg);
}

static int oscal_nomem(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory importing an OSCAL catalog");
}

/* ---- small helpers ---- */

/* Grows *arr so that element n (0-based) fits. Capacity is implicit: the
 * smallest power of two >= max(n, 4), so no separate field is needed. */
static int grow(void **arr, size_t n, size_t size)
{
	size_t cap;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return OPRA_OK;
	cap = n == 0 ? 4 : n * 2;
	if (cap > SIZE_MAX / size)
		return oscal_nomem();
	void *p = opra_realloc(*arr, cap * size);
	if (p == NULL)
		return oscal_nomem();
	*arr = p;
	return OPRA_OK;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_alnum(char ch)
{
	return is_alpha(ch) || (ch >= '0' && ch <= '9');
}

/* Checks s against [A-Za-z][A-Za-z0-9<extra>]* and 1..MODEL_ID_MAX bytes. */
static int id_valid(const char *s, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > MODEL_ID_MAX || !is_alpha(s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

/* A JSON member that must be a string when present. *out is NULL when the
 * member is absent. */
static int get_string(oscal_ctx *c, const json_t *obj, const char *key, const char **out)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return OPRA_OK;
	if (!json_is_string(v)) {
		size_t saved = path_push(c, ".%s", key);
		int rc = oscal_fail(c, "not a string");
		path_pop(c, saved);
		return rc;
	}
	*out = json_string_value(v);
	return OPRA_OK;
}

/* A JSON member that must be an array when present (*out NULL if absent). */
static int get_array(oscal_ctx *c, const json_t *obj, const char *key, const json_t **out)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return OPRA_OK;
	if (!json_is_array(v)) {
		size_t saved = path_push(c, ".%s", key);
		int rc = oscal_fail(c, "not a list");
		path_pop(c, saved);
		return rc;
	}
	*out = v;
	return OPRA_OK;
}

/* A name or title: trimmed copy, 1..max bytes, no control characters.
 * jansson has already refused invalid UTF-8 and NUL bytes. */
static int copy_name(oscal_ctx *c, char **out, const char *key, const char *s, size_t max)
{
	size_t len = strlen(s);
	int rc = OPRA_OK;
	size_t saved = path_push(c, ".%s", key);

	*out = NULL;
	while (len > 0 && is_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	if (len == 0) {
		rc = oscal_fail(c, "empty");
		goto done;
	}
	if (len > max) {
		rc = oscal_fail(c, "longer than %zu bytes", max);
		goto done;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f) {
			rc = oscal_fail(c, "contains control characters");
			goto done;
		}
	}
	*out = opra_strndup(s, len);
	if (*out == NULL)
		rc = oscal_nomem();
done:
	path_pop(c, saved);
	return rc;
}

/* Reads props (a list of {name, value}) for a control: its label (the
 * first "label" without a class, else the first "label") and whether its
 * status is "withdrawn". */
static int read_props(oscal_ctx *c, const json_t *obj, const char **label, int *withdrawn)
{
	const json_t *props = NULL;
	const char *any_label = NULL;
	size_t i;
	json_t *p;
	int rc;

	*label = NULL;
	*withdrawn = 0;
	rc = get_array(c, obj, "props", &props);
	if (rc != OPRA_OK || props == NULL)
		return rc;
	json_array_foreach(props, i, p)
	{
		size_t saved = path_push(c, ".props[%zu]", i);
		const char *name = NULL, *value = NULL, *cls = NULL;

		if (!json_is_object(p)) {
			rc = oscal_fail(c, "not an object");
		} else if ((rc = get_string(c, p, "name", &name)) == OPRA_OK &&
			   (rc = get_string(c, p, "value", &value)) == OPRA_OK &&
			   (rc = get_string(c, p, "class", &cls)) == OPRA_OK) {
			if (name == NULL || value == NULL) {
				rc = oscal_fail(c, "property without name or value");
			} else if (strcmp(name, "label") == 0) {
				if (any_label == NULL)
					any_label = value;
				if (cls == NULL && *label == NULL)
					*label = value;
			} else if (strcmp(name, "status") == 0 && strcmp(value, "withdrawn") == 0) {
				*withdrawn = 1;
			}
		}
		path_pop(c, saved);
		if (rc != OPRA_OK)
			return rc;
	}
	if (*label == NULL)
		*label = any_label;
	return OPRA_OK;
}

/* ---- statement prose ---- */

/* Bounded text: appends stop once the text exceeds MODEL_TEXT_MAX; the
 * caller cuts it back and adds an ellipsis. */
typedef struct {
	opra_buf buf;
	int full;
} bounded_text;

static int text_append(bounded_text *t, const char *s, size_t n)
{
	size_t limit = MODEL_TEXT_MAX + sizeof(OSCAL_ELLIPSIS);

	if (t->full)
		return OPRA_OK;
	if (n > limit - t->buf.len) {
		n = limit - t->buf.len;
		t->full = 1;
	}
	if (opra_buf_append(&t->buf, s, n) != OPRA_OK)
		return oscal_nomem();
	return OPRA_OK;
}

/* Appends prose with control characters other than tab and newline
 * replaced by a space (carriage returns dropped). */
static int text_append_clean(bounded_text *t, const char *s, size_t n)
{
	size_t start = 0;
	int rc = OPRA_OK;

	for (size_t i = 0; i < n && rc == OPRA_OK; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 0x20 && ch != 0x7f) || ch == '\t' || ch == '\n')
			continue;
		rc = text_append(t, s + start, i - start);
		if (rc == OPRA_OK && ch != '\r')
			rc = text_append(t, " ", 1);
		start = i + 1;
	}
	if (rc == OPRA_OK)
		rc = text_append(t, s + start, n - start);
	return rc;
}

static const json_t *find_param(const json_t *params, const char *id, size_t id_len)
{
	size_t i;
	json_t *p;

	if (!json_is_array(params))
		return NULL;
	json_array_foreach(params, i, p)
	{
		const char *pid = json_string_value(json_object_get(p, "id"));
		if (pid != NULL && strlen(pid) == id_len && memcmp(pid, id, id_len) == 0)
			return p;
	}
	return NULL;
}

static int append_prose(bounded_text *t, const json_t *params, const char *s, int hops);

/* Renders a parameter as SP 800-53 prints it: "[Assignment: label]" or
 * "[Selection (one or more): a; b]". Returns 0 when it cannot (the caller
 * then keeps the insert as written). Malformed parameters are not errors:
 * they only change how a statement reads. */
static int append_param(bounded_text *t, const json_t *params, const json_t *param, int hops,
			int *rc)
{
	const char *label = json_string_value(json_object_get(param, "label"));
	const json_t *sel = json_object_get(param, "select");
	const json_t *choices = json_object_get(sel, "choice");
	const char *how = json_string_value(json_object_get(sel, "how-many"));
	size_t i;
	json_t *ch;

	if (label != NULL) {
		if ((*rc = text_append(t, "[Assignment: ", 13)) == OPRA_OK &&
		    (*rc = text_append_clean(t, label, strlen(label))) == OPRA_OK)
			*rc = text_append(t, "]", 1);
		return 1;
	}
	if (!json_is_array(choices) || hops >= OSCAL_PARAM_HOPS)
		return 0;
	*rc = text_append(t, "[Selection", 10);
	if (*rc == OPRA_OK && how != NULL && strcmp(how, "one-or-more") == 0)
		*rc = text_append(t, " (one or more)", 14);
	if (*rc == OPRA_OK)
		*rc = text_append(t, ": ", 2);
	json_array_foreach(choices, i, ch)
	{
		const char *s = json_string_value(ch);
		if (*rc != OPRA_OK || s == NULL)
			continue;
		if (i > 0)
			*rc = text_append(t, "; ", 2);
		if (*rc == OPRA_OK)
			*rc = append_prose(t, params, s, hops + 1);
	}
	if (*rc == OPRA_OK)
		*rc = text_append(t, "]", 1);
	return 1;
}

/* Appends prose, replacing "{{ insert: param, ID }}" by the parameter. */
static int append_prose(bounded_text *t, const json_t *params, const char *s, int hops)
{
	const char *p = s;
	int rc = OPRA_OK;

	while (rc == OPRA_OK && *p != '\0') {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open, "}}") : NULL;
		if (open == NULL || close == NULL)
			return text_append_clean(t, p, strlen(p));
		rc = text_append_clean(t, p, (size_t)(open - p));
		if (rc != OPRA_OK)
			break;
		/* "{{ insert: param, ID }}" with any spacing */
		const char *q = open + 2;
		int rendered = 0;
		while (q < close && *q == ' ')
			q++;
		if ((size_t)(close - q) > 13 && strncmp(q, "insert:", 7) == 0) {
			q += 7;
			while (q < close && *q == ' ')
				q++;
			if (strncmp(q, "param", 5) == 0) {
				q += 5;
				while (q < close && (*q == ' ' || *q == ','))
					q++;
				const char *e = close;
				while (e > q && e[-1] == ' ')
					e--;
				const json_t *param = find_param(params, q, (size_t)(e - q));
				if (param != NULL)
					rendered = append_param(t, params, param, hops, &rc);
			}
		}
		if (rc == OPRA_OK && !rendered)
			rc = text_append_clean(t, open, (size_t)(close + 2 - open));
		p = close + 2;
	}
	return rc;
}

/* Flattens a statement part: one line per part with prose, "label prose",
 * nested items indented by two spaces per level below the first. */
static int flatten_part(oscal_ctx *c, bounded_text *t, const json_t *part, const json_t *params,
			int depth)
{
	const char *prose = NULL, *label = NULL;
	const json_t *parts = NULL;
	int withdrawn;
	size_t i;
	json_t *sub;
	int rc;

	if (depth > OSCAL_DEPTH_MAX)
		return oscal_fail(c, "parts nested deeper than %d levels", OSCAL_DEPTH_MAX);
	if (!json_is_object(part))
		return oscal_fail(c, "not an object");
	if ((rc = get_string(c, part, "prose", &prose)) != OPRA_OK ||
	    (rc = read_props(c, part, &label, &withdrawn)) != OPRA_OK ||
	    (rc = get_array(c, part, "parts", &parts)) != OPRA_OK)
		return rc;
	if (prose != NULL) {
		while (is_space(*prose))
			prose++;
		if (t->buf.len > 0)
			rc = text_append(t, "\n", 1);
		for (int d = 1; rc == OPRA_OK && d < depth; d++)
			rc = text_append(t, "  ", 2);
		if (rc == OPRA_OK && label != NULL && depth > 0) {
			rc = text_append_clean(t, label, strlen(label));
			if (rc == OPRA_OK)
				rc = text_append(t, " ", 1);
		}
		if (rc == OPRA_OK)
			rc = append_prose(t, params, prose, 0);
		if (rc != OPRA_OK)
			return rc;
	}
	json_array_foreach(parts, i, sub)
	{
		size_t saved = path_push(c, ".parts[%zu]", i);
		rc = flatten_part(c, t, sub, params, depth + 1);
		path_pop(c, saved);
		if (rc != OPRA_OK)
			return rc;
	}
	return OPRA_OK;
}

/* The control's statement (its part named "statement"), or NULL. */
static int control_statement(oscal_ctx *c, char **out, const json_t *ctl)
{
	const json_t *parts = NULL;
	bounded_text t = {OPRA_BUF_INIT, 0};
	size_t i;
	json_t *part;
	int rc;

	*out = NULL;
	rc = get_array(c, ctl, "parts", &parts);
	if (rc != OPRA_OK || parts == NULL)
		goto done;
	json_array_foreach(parts, i, part)
	{
		const char *name = NULL;
		size_t saved = path_push(c, ".parts[%zu]", i);

		if (!json_is_object(part))
			rc = oscal_fail(c, "not an object");
		else if ((rc = get_string(c, part, "name", &name)) == OPRA_OK && name != NULL &&
			 strcmp(name, "statement") == 0)
			rc = flatten_part(c, &t, part, json_object_get(ctl, "params"), 0);
		path_pop(c, saved);
		if (rc != OPRA_OK)
			goto done;
	}
	while (t.buf.len > 0 && is_space((char)t.buf.data[t.buf.len - 1]))
		t.buf.len--;
	if (t.buf.len == 0)
		goto done;
	if (t.buf.len > MODEL_TEXT_MAX) {
		/* cut on a character boundary, leaving room for the ellipsis */
		size_t cut = MODEL_TEXT_MAX - (sizeof(OSCAL_ELLIPSIS) - 1);
		while (cut > 0 && (t.buf.data[cut] & 0xc0) == 0x80)
			cut--;
		t.buf.len = cut;
		t.full = 0;
		if (opra_buf_append(&t.buf, OSCAL_ELLIPSIS, sizeof(OSCAL_ELLIPSIS) - 1) !=
		    OPRA_OK) {
			rc = oscal_nomem();
			goto done;
		}
		c->n_truncated++;
	}
	*out = opra_strndup((const char *)t.buf.data, t.buf.len);
	if (*out == NULL)
		rc = oscal_nomem();
done:
	opra_buf_free(&t.buf);
	return rc;
}

/* ---- controls ---- */

/* Reads what every control and enhancement needs: an id (checked against
 * the practice id pattern), a title, its label and status. */
static int control_head(oscal_ctx *c, const json_t *ctl, const char *what, const char **id,
			const char **title, const char **label, int *withdrawn)
{
	int rc;

	if (!json_is_object(ctl))
		return oscal_fail(c, "%s is not an object", what);
	if ((rc = get_string(c, ctl, "id", id)) != OPRA_OK ||
	    (rc = get_string(c, ctl, "title", title)) != OPRA_OK ||
	    (rc = read_props(c, ctl, label, withdrawn)) != OPRA_OK)
		return rc;
	if (*id == NULL)
		return oscal_fail(c, "%s without id", what);
	if (!id_valid(*id, "._()-"))
		return oscal_fail(
			c,
			"%s id '%.64s' is not a valid practice id ([A-Za-z][A-Za-z0-9._()-]*, "
			"at most %d bytes)",
			what, *id, MODEL_ID_MAX);
	if (*title == NULL)
		return oscal_fail(c, "%s %s without title", what, *id);
	return OPRA_OK;
}

/* Counts the enhancements skipped with a withdrawn control. */
static void count_skipped(oscal_ctx *c, const json_t *ctl, int depth)
{
	const json_t *subs = json_object_get(ctl, "controls");
	size_t i;
	json_t *sub;

	if (!json_is_array(subs) || depth > OSCAL_DEPTH_MAX)
		return;
	json_array_foreach(subs, i, sub)
	{
		c->n_withdrawn_enh++;
		count_skipped(c, sub, depth + 1);
	}
}

/* Enhancements (nested controls) become subpractices "LABEL Title". */
static int import_enhancements(oscal_ctx *c, model_practice *pr, const json_t *ctl, int depth)
{
	const json_t *subs = NULL;
	size_t i;
	json_t *sub;
	int rc;

	if ((rc = get_array(c, ctl, "controls", &subs)) != OPRA_OK || subs == NULL)
		return rc;
	if (depth > OSCAL_DEPTH_MAX)
		return oscal_fail(c, "controls nested deeper than %d levels", OSCAL_DEPTH_MAX);
	json_array_foreach(subs, i, sub)
	{
		const char *id, *title, *label;
		char *clean = NULL;
		int withdrawn;
		size_t saved = path_push(c, ".controls[%zu]", i);

		rc = control_head(c, sub, "control enhancement", &id, &title, &label, &withdrawn);
		if (rc == OPRA_OK && withdrawn) {
			c->n_withdrawn_enh++;
			count_skipped(c, sub, depth + 1);
			path_pop(c, saved);
			continue;
		}
		if (rc == OPRA_OK)
			rc = copy_name(c, &clean, "title", title, MODEL_NAME_MAX);
		if (rc == OPRA_OK && pr->n_subpractices >= MODEL_MAX_LIST)
			rc = oscal_fail(c, "more than %d enhancements for control %s",
					MODEL_MAX_LIST, pr->id);
		if (rc == OPRA_OK)
			rc = grow((void **)&pr->subpractices, pr->n_subpractices,
				  sizeof(*pr->subpractices));
		if (rc == OPRA_OK) {
			opra_buf b = OPRA_BUF_INIT;
			const char *shown = label != NULL ? label : id;
			/* label and title are both bounded (ids and titles are checked) */
			if (opra_buf_printf(&b, "%.256s %s", shown, clean) != OPRA_OK) {
				rc = oscal_nomem();
			} else {
				pr->subpractices[pr->n_subpractices++] = (char *)b.data;
				c->n_enhancements++;
			}
		}
		opra_free(clean);
		if (rc == OPRA_OK)
			rc = import_enhancements(c, pr, sub, depth + 1);
		path_pop(c, saved);
		if (rc != OPRA_OK)
			return rc;
	}
	return OPRA_OK;
}

static int import_control(oscal_ctx *c, size_t pa_index, const json_t *ctl)
{
	const char *id, *title, *label;
	int withdrawn;
	model_goal *g = &c->m->pas[pa_index].goals[0];
	model_practice *pr;
	int rc;

	rc = control_head(c, ctl, "control", &id, &title, &label, &withdrawn);
	if (rc != OPRA_OK)
		return rc;
	if (withdrawn) {
		c->n_withdrawn++;
		count_skipped(c, ctl, 1);
		return OPRA_OK;
	}
	for (size_t i = 0; i < g->n_practices; i++)
		if (strcmp(g->practices[i].id, id) == 0)
			return oscal_fail(c, "duplicate control id '%s' in group %s", id,
					  c->m->pas[pa_index].id);
	if (g->n_practices >= MODEL_MAX_PRACTICES)
		return oscal_fail(c, "more than %d controls in group %s", MODEL_MAX_PRACTICES,
				  c->m->pas[pa_index].id);
	rc = grow((void **)&g->practices, g->n_practices, sizeof(*g->practices));
	if (rc != OPRA_OK)
		return rc;
	pr = &g->practices[g->n_practices++];
	memset(pr, 0, sizeof(*pr));
	pr->prov.confirmed = 1;
	c->n_controls++;
	pr->id = opra_strdup(id);
	if (pr->id == NULL)
		return oscal_nomem();
	if ((rc = copy_name(c, &pr->title, "title", title, MODEL_NAME_MAX)) != OPRA_OK ||
	    (rc = control_statement(c, &pr->statement, ctl)) != OPRA_OK)
		return rc;
	return import_enhancements(c, pr, ctl, 1);
}

/* ---- groups ---- */

static int slug_char(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A' + 'a';
	return is_alnum(ch) ? ch : 0;
}

/* Lower-case slug of s into dst (at most cap-1 bytes): letters and digits
 * kept, '.' kept when keep_dots, every other run becomes one '-'; no
 * leading or trailing '-' or '.'. Returns the length. */
static size_t slug(char *dst, size_t cap, const char *s, int keep_dots)
{
	size_t n = 0;
	int dash = 0;

	for (; *s != '\0' && n + 1 < cap; s++) {
		int ch = slug_char(*s);
		if (ch == 0 && keep_dots && *s == '.')
			ch = '.';
		if (ch == 0) {
			dash = n > 0;
			continue;
		}
		if (dash && n + 2 < cap)
			dst[n++] = '-';
		dash = 0;
		if (n + 1 < cap)
			dst[n++] = (char)ch;
	}
	while (n > 0 && (dst[n - 1] == '-' || dst[n - 1] == '.'))
		n--;
	dst[n] = '\0';
	return n;
}

/* Adds a process area with one specific goal SG1; its index in *index. */
static int add_pa(oscal_ctx *c, size_t *index, const char *id, const char *name,
		  const char *category)
{
	model *m = c->m;
	model_pa *pa;
	int rc;

	for (size_t i = 0; i < m->n_pas; i++)
		if (strcmp(m->pas[i].id, id) == 0)
			return oscal_fail(c,
					  "duplicate process area id '%s' (group ids are compared "
					  "upper-cased)",
					  id);
	if (m->n_pas >= MODEL_MAX_PAS)
		return oscal_fail(c, "more than %d groups", MODEL_MAX_PAS);
	rc = grow((void **)&m->pas, m->n_pas, sizeof(*m->pas));
	if (rc != OPRA_OK)
		return rc;
	pa = &m->pas[m->n_pas++];
	memset(pa, 0, sizeof(*pa));
	pa->prov.confirmed = 1;
	pa->id = opra_strdup(id);
	pa->name = opra_strdup(name);
	pa->category = opra_strdup(category);
	pa->goals = opra_calloc(1, sizeof(*pa->goals));
	if (pa->id == NULL || pa->name == NULL || pa->category == NULL || pa->goals == NULL)
		return oscal_nomem();
	pa->n_goals = 1;
	pa->goals[0].prov.confirmed = 1;
	pa->goals[0].id = opra_strdup("SG1");
	pa->goals[0].title = opra_strdup(name);
	if (pa->goals[0].id == NULL || pa->goals[0].title == NULL)
		return oscal_nomem();
	*index = m->n_pas - 1;
	return OPRA_OK;
}

static int import_controls(oscal_ctx *c, size_t pa_index, const json_t *obj)
{
	const json_t *ctls = NULL;
	size_t i;
	json_t *ctl;
	int rc;

	if ((rc = get_array(c, obj, "controls", &ctls)) != OPRA_OK || ctls == NULL)
		return rc;
	json_array_foreach(ctls, i, ctl)
	{
		size_t saved = path_push(c, ".controls[%zu]", i);
		rc = import_control(c, pa_index, ctl);
		path_pop(c, saved);
		if (rc != OPRA_OK)
			return rc;
	}
	return OPRA_OK;
}

/* A group's controls, then its nested groups' controls, go to pa_index. */
static int import_group_body(oscal_ctx *c, size_t pa_index, const json_t *grp, int depth)
{
	const json_t *subs = NULL;
	size_t i;
	json_t *sub;
	int rc;

	if ((rc = import_controls(c, pa_index, grp)) != OPRA_OK ||
	    (rc = get_array(c, grp, "groups", &subs)) != OPRA_OK || subs == NULL)
		return rc;
	if (depth > OSCAL_DEPTH_MAX)
		return oscal_fail(c, "groups nested deeper than %d levels", OSCAL_DEPTH_MAX);
	json_array_foreach(subs, i, sub)
	{
		const char *ignored;
		size_t saved = path_push(c, ".groups[%zu]", i);

		if (!json_is_object(sub))
			rc = oscal_fail(c, "group is not an object");
		else if ((rc = get_string(c, sub, "id", &ignored)) == OPRA_OK &&
			 (rc = get_string(c, sub, "title", &ignored)) == OPRA_OK)
			rc = import_group_body(c, pa_index, sub, depth + 1);
		path_pop(c, saved);
		if (rc != OPRA_OK)
			return rc;
	}
	return OPRA_OK;
}

static int import_group(oscal_ctx *c, const json_t *grp)
{
	const char *id, *title, *cls;
	char pa_id[MODEL_ID_MAX + 1];
	char category[MODEL_KEY_MAX + 1];
	char *name = NULL;
	size_t index, n;
	int rc;

	if (!json_is_object(grp))
		return oscal_fail(c, "group is not an object");
	if ((rc = get_string(c, grp, "id", &id)) != OPRA_OK ||
	    (rc = get_string(c, grp, "title", &title)) != OPRA_OK ||
	    (rc = get_string(c, grp, "class", &cls)) != OPRA_OK)
		return rc;
	if (id == NULL)
		return oscal_fail(c, "group without id (the process area id comes from it)");
	if (!id_valid(id, "_-"))
		return oscal_fail(c,
				  "group id '%.64s' is not a valid process area id "
				  "([A-Za-z][A-Za-z0-9_-]*, at most %d bytes)",
				  id, MODEL_ID_MAX);
	if (title == NULL)
		return oscal_fail(c, "group %s without title", id);
	n = strlen(id);
	for (size_t i = 0; i <= n; i++)
		pa_id[i] = (id[i] >= 'a' && id[i] <= 'z') ? (char)(id[i] - 'a' + 'A') : id[i];
	if (cls == NULL || slug(category, sizeof(category), cls, 0) == 0)
		snprintf(category, sizeof(category), "control-family");
	rc = copy_name(c, &name, "title", title, MODEL_NAME_MAX);
	if (rc == OPRA_OK)
		rc = add_pa(c, &index, pa_id, name, category);
	if (rc == OPRA_OK)
		rc = import_group_body(c, index, grp, 1);
	opra_free(name);
	return rc;
}

/* ---- metadata ---- */

/* The party named by the responsible party with the role "publisher", else
 * "creator". Optional and best effort: anything malformed means no
 * publisher rather than an error. */
static const char *find_publisher(const json_t *meta)
{
	static const char *const roles[] = {"publisher", "creator"};
	const json_t *resp = json_object_get(meta, "responsible-parties");
	const json_t *parties = json_object_get(meta, "parties");

	for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
		size_t i, k;
		json_t *rp, *party;

		if (!json_is_array(resp) || !json_is_array(parties))
			return NULL;
		json_array_foreach(resp, i, rp)
		{
			const char *role = json_string_value(json_object_get(rp, "role-id"));
			const json_t *uuids = json_object_get(rp, "party-uuids");
			const char *uuid = json_string_value(json_array_get(uuids, 0));
			if (role == NULL || uuid == NULL || strcmp(role, roles[r]) != 0)
				continue;
			json_array_foreach(parties, k, party)
			{
				const char *pu = json_string_value(json_object_get(party, "uuid"));
				const char *name =
					json_string_value(json_object_get(party, "name"));
				if (pu != NULL && name != NULL && strcmp(pu, uuid) == 0)
					return name;
			}
		}
	}
	return NULL;
}

/* model id: slug(title) "-" slug(version), at most MODEL_KEY_MAX bytes; the
 * title part is shortened so the version always survives. */
static int make_model_id(oscal_ctx *c, const char *title, const char *version)
{
	char t[MODEL_KEY_MAX + 1], v[MODEL_KEY_MAX + 1];
	size_t tn, vn;

	vn = slug(v, sizeof(v), version, 1);
	if (vn > MODEL_KEY_MAX / 2) {
		vn = MODEL_KEY_MAX / 2;
		while (vn > 0 && (v[vn - 1] == '-' || v[vn - 1] == '.'))
			vn--;
		v[vn] = '\0';
	}
	tn = slug(t, sizeof(t), title, 0);
	if (tn == 0)
		tn = (size_t)snprintf(t, sizeof(t), "oscal-catalog");
	if (vn > 0 && tn > MODEL_KEY_MAX - vn - 1) {
		/* shorten at a word boundary when there is one */
		size_t keep = MODEL_KEY_MAX - vn - 1;
		tn = keep;
		while (tn > 0 && t[tn] != '-')
			tn--;
		if (tn == 0)
			tn = keep;
		while (tn > 0 && t[tn - 1] == '-')
			tn--;
		t[tn] = '\0';
	}
	opra_buf b = OPRA_BUF_INIT;
	if (opra_buf_puts(&b, t) != OPRA_OK ||
	    (vn > 0 && (opra_buf_puts(&b, "-") != OPRA_OK || opra_buf_puts(&b, v) != OPRA_OK))) {
		opra_buf_free(&b);
		return oscal_nomem();
	}
	c->m->id = (char *)b.data;
	return OPRA_OK;
}

static int import_metadata(oscal_ctx *c, const json_t *catalog)
{
	const json_t *meta = json_object_get(catalog, "metadata");
	const char *title, *version, *oscal_version, *uuid, *publisher;
	size_t saved = path_push(c, ".metadata");
	model *m = c->m;
	opra_buf b = OPRA_BUF_INIT;
	int rc;

	if (meta == NULL) {
		rc = oscal_fail(c, "missing");
		goto done;
	}
	if (!json_is_object(meta)) {
		rc = oscal_fail(c, "not an object");
		goto done;
	}
	if ((rc = get_string(c, meta, "title", &title)) != OPRA_OK ||
	    (rc = get_string(c, meta, "version", &version)) != OPRA_OK ||
	    (rc = get_string(c, meta, "oscal-version", &oscal_version)) != OPRA_OK)
		goto done;
	if (title == NULL) {
		rc = oscal_fail(c, "title missing");
		goto done;
	}
	if (version == NULL) {
		rc = oscal_fail(c, "version missing");
		goto done;
	}
	if ((rc = copy_name(c, &m->name, "title", title, MODEL_NAME_MAX)) != OPRA_OK ||
	    (rc = copy_name(c, &m->version, "version", version, MODEL_NAME_MAX)) != OPRA_OK ||
	    (rc = make_model_id(c, m->name, m->version)) != OPRA_OK)
		goto done;
	publisher = find_publisher(meta);
	if (publisher != NULL &&
	    copy_name(c, &m->publisher, "publisher", publisher, MODEL_NAME_MAX) != OPRA_OK) {
		/* optional: a party name we cannot use is left out */
		opra_err_clear();
		m->publisher = NULL;
	}
	path_pop(c, saved);
	if ((rc = get_string(c, catalog, "uuid", &uuid)) != OPRA_OK)
		goto done;
	if (opra_buf_printf(&b, "OSCAL catalog %.64s, oscal-version %.32s",
			    uuid != NULL ? uuid : "(no uuid)",
			    oscal_version != NULL ? oscal_version : "unknown") != OPRA_OK) {
		rc = oscal_nomem();
		goto done;
	}
	m->prov.sources = (char *)opra_buf_detach(&b, NULL);
done:
	path_pop(c, saved);
	opra_buf_free(&b);
	return rc;
}

static int make_note(oscal_ctx *c)
{
	opra_buf b = OPRA_BUF_INIT;
	int rc = OPRA_OK;

	if (opra_buf_printf(&b,
			    "Imported from an OSCAL catalog: %zu process areas (groups), %zu "
			    "practices (controls), %zu subpractices (control enhancements). "
			    "%zu withdrawn controls skipped (%zu controls, %zu enhancements).",
			    c->m->n_pas, c->n_controls, c->n_enhancements,
			    c->n_withdrawn + c->n_withdrawn_enh, c->n_withdrawn,
			    c->n_withdrawn_enh) != OPRA_OK ||
	    (c->n_truncated > 0 &&
	     opra_buf_printf(&b, " %zu statements truncated at %u bytes.", c->n_truncated,
			     (unsigned)MODEL_TEXT_MAX) != OPRA_OK)) {
		rc = oscal_nomem();
		goto done;
	}
	c->m->prov.note = (char *)opra_buf_detach(&b, NULL);
done:
	opra_buf_free(&b);
	return rc;
}

int model_parse_oscal_catalog(model **out, const char *origin, const char *text, size_t len)
{
	oscal_ctx *c = NULL;
	json_t *root = NULL;
	const json_t *catalog, *groups = NULL, *loose = NULL;
	json_error_t jerr;
	size_t i, index;
	json_t *grp;
	int rc = OPRA_OK;

	*out = NULL;
	if (origin == NULL)
		origin = "<oscal>";
	if (text == NULL && len > 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: no text", origin);
	if (len > MODEL_FILE_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s: %zu bytes is more than the limit of %u bytes", origin, len,
				    (unsigned)MODEL_FILE_MAX);
	c = opra_calloc(1, sizeof(*c)); /* the path buffer is too big for some stacks */
	if (c == NULL)
		return oscal_nomem();
	c->origin = origin;
	root = json_loadb(text != NULL ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d: not valid JSON: %s", origin,
				  jerr.line, jerr.text);
		goto done;
	}
	if (!json_is_object(root)) {
		rc = opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"%s: the document is not a JSON object (expected {\"catalog\": {...}})",
			origin);
		goto done;
	}
	path_push(c, "catalog");
	catalog = json_object_get(root, "catalog");
	if (catalog == NULL) {
		rc = oscal_fail(c, "missing (not an OSCAL catalog)");
		goto done;
	}
	if (!json_is_object(catalog)) {
		rc = oscal_fail(c, "not an object");
		goto done;
	}
	c->m = opra_calloc(1, sizeof(*c->m));
	if (c->m == NULL || (c->m->origin = opra_strdup(origin)) == NULL) {
		rc = oscal_nomem();
		goto done;
	}
	c->m->prov.confirmed = 1;
	if ((rc = import_metadata(c, catalog)) != OPRA_OK ||
	    (rc = get_array(c, catalog, "groups", &groups)) != OPRA_OK)
		goto done;
	json_array_foreach(groups, i, grp)
	{
		size_t saved = path_push(c, ".groups[%zu]", i);
		rc = import_group(c, grp);
		path_pop(c, saved);
		if (rc != OPRA_OK)
			goto done;
	}
	/* controls outside any group */
	if ((rc = get_array(c, catalog, "controls", &loose)) != OPRA_OK)
		goto done;
	if (loose != NULL && json_array_size(loose) > 0) {
		rc = add_pa(c, &index, "GENERAL", "General", "control-family");
		if (rc == OPRA_OK)
			rc = import_controls(c, index, catalog);
		if (rc != OPRA_OK)
			goto done;
	}
	if (c->m->n_pas == 0) {
		rc = oscal_fail(c, "no groups and no controls: nothing to import");
		goto done;
	}
	if ((rc = make_note(c)) != OPRA_OK)
		goto done;
	*out = c->m;
	c->m = NULL;
done:
	json_decref(root);
	if (c != NULL)
		model_free(c->m);
	opra_free(c);
	return rc;
}
