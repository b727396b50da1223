/* The YAML form of the opra model format: libyaml events -> mnode tree
 * (with line numbers), and mnode tree -> libyaml emitter. The mapping to
 * the model structs is in model_tree.c, shared with JSON. */
#include "model.h"

#include "model_internal.h"
#include "opra_alloc.h"
#include "opra_err.h"

#include <limits.h>
#include <string.h>
#include <yaml.h>

/* A mapping in the format has at most a dozen keys; the bound keeps the
 * duplicate-key scan linear in practice and quadratic cost away from
 * hostile input. */
#define YAML_MAP_KEYS_MAX 64

typedef struct {
	const char *origin;
	const char *text;
	mnode *root;
	mnode *stack[MODEL_TREE_DEPTH_MAX + 1];
	int depth;
	char *key; /* pending key of the mapping on top of the stack */
	int key_line;
	size_t nodes;
	int documents;
} yreader;

static int line_of(const yaml_mark_t *mark)
{
	return mark->line < INT_MAX ? (int)mark->line + 1 : INT_MAX;
}

static int syntax_error(const yreader *r, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "%s: out of memory parsing YAML",
				    r->origin);
	const char *problem = p->problem ? p->problem : "unknown error";
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		size_t line = 1;
		for (size_t i = 0; i < p->problem_offset && r->text[i]; i++)
			line += r->text[i] == '\n';
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s:%zu: not valid YAML text: %s (byte %zu)", r->origin, line,
				    problem, p->problem_offset);
	}
	if (p->context)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s:%d: YAML syntax error: %s (column %zu; %s at line %d)",
				    r->origin, line_of(&p->problem_mark), problem,
				    p->problem_mark.column + 1, p->context,
				    line_of(&p->context_mark));
	return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d: YAML syntax error: %s (column %zu)",
			    r->origin, line_of(&p->problem_mark), problem,
			    p->problem_mark.column + 1);
}

static int yerr(const yreader *r, int line, const char *what)
{
	return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d: %s", r->origin, line, what);
}

/* Anchors and aliases make a small file expand into a huge tree ("billion
 * laughs"); a model never needs them. Tags other than !!str mean nothing
 * here and are refused rather than silently ignored. */
static int check_node_props(const yreader *r, const yaml_char_t *anchor, const yaml_char_t *tag,
			    int line, int *force_string)
{
	*force_string = 0;
	if (anchor)
		return yerr(r, line, "YAML anchors (&name) are not allowed in model files");
	if (tag == NULL)
		return OPRA_OK;
	if (strcmp((const char *)tag, "tag:yaml.org,2002:str") == 0 ||
	    strcmp((const char *)tag, "!") == 0) {
		*force_string = 1;
		return OPRA_OK;
	}
	return opra_err_set(OPRA_INVALID_ARGUMENT,
			    "%s:%d: YAML tag '%.64s' is not supported in model files", r->origin,
			    line, (const char *)tag);
}

/* Creates the node for a value: the root, a list item, or the value of the
 * pending key. */
static int new_node(yreader *r, int line, mnode **out)
{
	mnode *top = r->depth ? r->stack[r->depth - 1] : NULL;
	mnode *n;

	*out = NULL;
	if (++r->nodes > MODEL_TREE_NODES_MAX)
		return yerr(r, line, "too many elements for a model file");
	if (top == NULL) {
		if (r->documents > 1 || r->root->kind != MNODE_NULL || r->root->line != 0)
			return yerr(r, line, "a model file holds one YAML document");
		n = r->root;
	} else {
		n = mnode_push(top);
		if (n == NULL)
			return OPRA_RESOURCE_EXHAUSTED;
		if (top->kind == MNODE_MAP) {
			n->key = r->key;
			n->key_line = r->key_line;
			r->key = NULL;
		}
	}
	n->line = line;
	*out = n;
	return OPRA_OK;
}

static int on_key(yreader *r, const yaml_event_t *ev, int line)
{
	const char *k = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	mnode *top = r->stack[r->depth - 1];

	if (strlen(k) != len)
		return yerr(r, line, "a key contains a NUL character");
	if (top->n_kids >= YAML_MAP_KEYS_MAX)
		return yerr(r, line, "too many keys in one mapping");
	for (size_t i = 0; i < top->n_kids; i++)
		if (strcmp(top->kids[i].key, k) == 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s:%d: duplicate key '%.64s' (first at line %d)",
					    r->origin, line, k, top->kids[i].key_line);
	r->key = opra_strndup(k, len);
	if (r->key == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	r->key_line = line;
	return OPRA_OK;
}

static int on_scalar(yreader *r, const yaml_event_t *ev)
{
	int line = line_of(&ev->start_mark);
	int force_string, flag = 0;
	mnode *top = r->depth ? r->stack[r->depth - 1] : NULL;
	mnode *n;
	int rc = check_node_props(r, ev->data.scalar.anchor, ev->data.scalar.tag, line,
				  &force_string);
	if (rc)
		return rc;
	if (top && top->kind == MNODE_MAP && r->key == NULL)
		return on_key(r, ev, line);
	if ((rc = new_node(r, line, &n)))
		return rc;
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	if (force_string || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		n->kind = MNODE_STRING;
	else
		n->kind = mnode_resolve_plain(s, len, &flag);
	n->flag = flag;
	if (n->kind == MNODE_STRING || n->kind == MNODE_NUMBER) {
		/* Copied with its length: an escaped NUL stays visible to the
		 * mapper, which refuses it. */
		n->text = opra_malloc(len + 1);
		if (n->text == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		memcpy(n->text, s, len);
		n->text[len] = '\0';
		n->text_len = len;
	}
	return OPRA_OK;
}

static int on_start(yreader *r, const yaml_event_t *ev, mnode_kind kind)
{
	int line = line_of(&ev->start_mark);
	int force_string;
	mnode *top = r->depth ? r->stack[r->depth - 1] : NULL;
	mnode *n;
	const yaml_char_t *anchor =
		kind == MNODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	const yaml_char_t *tag =
		kind == MNODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	int rc = check_node_props(r, anchor, tag, line, &force_string);
	if (rc)
		return rc;
	if (force_string)
		return yerr(r, line, "!!str on a list or mapping");
	if (top && top->kind == MNODE_MAP && r->key == NULL)
		return yerr(r, line, "mapping keys must be text, not lists or mappings");
	if (r->depth >= MODEL_TREE_DEPTH_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s:%d: nested deeper than %d levels; a model file needs far "
				    "fewer",
				    r->origin, line, MODEL_TREE_DEPTH_MAX);
	if ((rc = new_node(r, line, &n)))
		return rc;
	n->kind = kind;
	r->stack[r->depth++] = n;
	return OPRA_OK;
}

static int on_event(yreader *r, const yaml_event_t *ev, int *done)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = 1;
		return OPRA_OK;
	case YAML_DOCUMENT_START_EVENT:
		if (++r->documents > 1)
			return yerr(r, line_of(&ev->start_mark),
				    "a model file holds one YAML document (found a second)");
		return OPRA_OK;
	case YAML_ALIAS_EVENT:
		return yerr(r, line_of(&ev->start_mark),
			    "YAML aliases (*name) are not allowed in model files");
	case YAML_SCALAR_EVENT:
		return on_scalar(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(r, ev, MNODE_LIST);
	case YAML_MAPPING_START_EVENT:
		return on_start(r, ev, MNODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		r->depth--;
		return OPRA_OK;
	default:
		return OPRA_OK;
	}
}

int model_yaml_read(mnode *root, const char *origin, const char *text, size_t len)
{
	yaml_parser_t parser;
	yreader r = {.origin = origin, .text = text ? text : "", .root = root};
	int rc = OPRA_OK, done = 0;

	mnode_clear(root);
	if (!yaml_parser_initialize(&parser))
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)r.text, len);
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(&r, &parser);
			break;
		}
		rc = on_event(&r, &ev, &done);
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&parser);
	opra_free(r.key);
	if (rc)
		mnode_clear(root);
	return rc;
}

/* ---- writing ---------------------------------------------------------------------- */

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return opra_buf_append(data, buffer, size) == OPRA_OK;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev, int ok)
{
	if (!ok)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory writing YAML");
	if (!yaml_emitter_emit(e, ev)) {
		if (e->error == YAML_WRITER_ERROR || e->error == YAML_MEMORY_ERROR)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "cannot write YAML: %s",
					    e->problem ? e->problem : "out of memory");
		return opra_err_set(OPRA_INTERNAL, "cannot write YAML: %s",
				    e->problem ? e->problem : "emitter error");
	}
	return OPRA_OK;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	if (len > INT_MAX)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "text too long for YAML");
	return emit(e, &ev,
		    yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)len,
						 1, 1, style));
}

/* Plain where that reads back as the same text, a literal block for
 * multi-line text (libyaml falls back to double quotes where a block
 * cannot hold it exactly), double quotes where plain text would read as
 * something else (true, 1.2, null, "", ...). */
static yaml_scalar_style_t string_style(const char *s, size_t len)
{
	if (mnode_plain_needs_quotes(s, len))
		return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (memchr(s, '\n', len) && !memchr(s, '\r', len) && s[0] != ' ' && s[0] != '\n')
		return YAML_LITERAL_SCALAR_STYLE;
	return YAML_ANY_SCALAR_STYLE;
}

static int emit_node(yaml_emitter_t *e, const mnode *n)
{
	yaml_event_t ev;
	int rc;

	switch (n->kind) {
	case MNODE_MAP:
		if ((rc = emit(e, &ev,
			       yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
								   YAML_BLOCK_MAPPING_STYLE))))
			return rc;
		for (size_t i = 0; i < n->n_kids; i++)
			if ((rc = emit_scalar(e, n->kids[i].key, strlen(n->kids[i].key),
					      YAML_PLAIN_SCALAR_STYLE)) ||
			    (rc = emit_node(e, &n->kids[i])))
				return rc;
		return emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
	case MNODE_LIST:
		if ((rc = emit(e, &ev,
			       yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
								    YAML_BLOCK_SEQUENCE_STYLE))))
			return rc;
		for (size_t i = 0; i < n->n_kids; i++)
			if ((rc = emit_node(e, &n->kids[i])))
				return rc;
		return emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
	case MNODE_STRING:
		return emit_scalar(e, n->text, n->text_len, string_style(n->text, n->text_len));
	case MNODE_NUMBER:
		return emit_scalar(e, n->text, n->text_len, YAML_PLAIN_SCALAR_STYLE);
	case MNODE_BOOL:
		return emit_scalar(e, n->flag ? "true" : "false", n->flag ? 4 : 5,
				   YAML_PLAIN_SCALAR_STYLE);
	case MNODE_NULL:
		return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	}
	return opra_err_set(OPRA_INTERNAL, "bad tree node");
}

int model_write_yaml(const model *m, opra_buf *out)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	mnode root = {0};
	size_t start = out->len;
	int rc;

	if ((rc = model_to_tree(&root, m)))
		goto fail_tree;
	if (!yaml_emitter_initialize(&e)) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto fail_tree;
	}
	yaml_emitter_set_output(&e, write_handler, out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_indent(&e, 2);
	yaml_emitter_set_width(&e, -1); /* no folding of long lines */
	yaml_emitter_set_break(&e, YAML_LN_BREAK);
	if ((rc = opra_buf_puts(out, "# opra model file, format version 1 (docs/models.md)\n")) ||
	    (rc = emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING))) ||
	    (rc = emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1))) ||
	    (rc = emit_node(&e, &root)) ||
	    (rc = emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1))) ||
	    (rc = emit(&e, &ev, yaml_stream_end_event_initialize(&ev))))
		goto fail;
	if (!yaml_emitter_flush(&e)) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "cannot write YAML");
		goto fail;
	}
	yaml_emitter_delete(&e);
	mnode_clear(&root);
	return OPRA_OK;
fail:
	yaml_emitter_delete(&e);
fail_tree:
	mnode_clear(&root);
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	return rc;
}
