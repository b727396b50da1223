/* The JSON form of the opra model format: jansson value -> mnode tree, and
 * mnode tree -> jansson -> text. jansson keeps no positions for values, so
 * structure errors name the element path instead of a line (model_tree.c);
 * syntax errors carry jansson's line and column. */
#include "model.h"

#include "model_internal.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int from_json(mnode *n, json_t *v, int depth, size_t *nodes, const char *origin)
{
	int rc;

	if (depth > MODEL_TREE_DEPTH_MAX)
		return opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"%s: nested deeper than %d levels; a model file needs far fewer", origin,
			MODEL_TREE_DEPTH_MAX);
	if (++*nodes > MODEL_TREE_NODES_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: too many elements for a model file",
				    origin);
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;
		n->kind = MNODE_MAP;
		json_object_foreach(v, key, val)
		{
			mnode *k = mnode_push(n);
			if (k == NULL)
				return OPRA_RESOURCE_EXHAUSTED;
			k->key = opra_strdup(key);
			if (k->key == NULL)
				return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			if ((rc = from_json(k, val, depth + 1, nodes, origin)))
				return rc;
		}
		return OPRA_OK;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *val;
		n->kind = MNODE_LIST;
		json_array_foreach(v, i, val)
		{
			mnode *k = mnode_push(n);
			if (k == NULL)
				return OPRA_RESOURCE_EXHAUSTED;
			if ((rc = from_json(k, val, depth + 1, nodes, origin)))
				return rc;
		}
		return OPRA_OK;
	}
	case JSON_STRING:
		n->kind = MNODE_STRING;
		n->text_len = json_string_length(v);
		n->text = opra_strndup(json_string_value(v), n->text_len);
		break;
	case JSON_INTEGER: {
		char buf[32];
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		n->kind = MNODE_NUMBER;
		n->text_len = strlen(buf);
		n->text = opra_strdup(buf);
		break;
	}
	case JSON_REAL: {
		char buf[40];
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		n->kind = MNODE_NUMBER;
		n->text_len = strlen(buf);
		n->text = opra_strdup(buf);
		break;
	}
	case JSON_TRUE:
	case JSON_FALSE:
		n->kind = MNODE_BOOL;
		n->flag = json_is_true(v);
		return OPRA_OK;
	case JSON_NULL:
		n->kind = MNODE_NULL;
		return OPRA_OK;
	}
	if (n->text == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	return OPRA_OK;
}

int model_json_read(mnode *root, int *is_oscal, const char *origin, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *doc;
	size_t nodes = 0;
	int rc;

	mnode_clear(root);
	if (is_oscal)
		*is_oscal = 0;
	doc = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d:%d: JSON syntax error: %s",
				    origin, jerr.line, jerr.column, jerr.text);
	if (is_oscal && json_is_object(doc) && json_object_get(doc, "catalog") != NULL) {
		*is_oscal = 1;
		json_decref(doc);
		return OPRA_OK;
	}
	rc = from_json(root, doc, 0, &nodes, origin);
	json_decref(doc);
	if (rc)
		mnode_clear(root);
	return rc;
}

/* ---- writing ---------------------------------------------------------------------- */

static json_t *to_json(const mnode *n)
{
	json_t *v = NULL;

	switch (n->kind) {
	case MNODE_MAP:
		v = json_object();
		for (size_t i = 0; v && i < n->n_kids; i++) {
			json_t *k = to_json(&n->kids[i]);
			if (k == NULL || json_object_set_new(v, n->kids[i].key, k) != 0) {
				json_decref(v);
				return NULL;
			}
		}
		return v;
	case MNODE_LIST:
		v = json_array();
		for (size_t i = 0; v && i < n->n_kids; i++) {
			json_t *k = to_json(&n->kids[i]);
			if (k == NULL || json_array_append_new(v, k) != 0) {
				json_decref(v);
				return NULL;
			}
		}
		return v;
	case MNODE_STRING:
		return json_stringn(n->text, n->text_len);
	case MNODE_NUMBER: {
		/* Only opra_model is written as a number. */
		long x = 0;
		if (opra_parse_long(n->text, LONG_MIN, LONG_MAX, &x))
			return json_integer(x);
		return json_stringn(n->text, n->text_len);
	}
	case MNODE_BOOL:
		return json_boolean(n->flag);
	case MNODE_NULL:
		return json_null();
	}
	return NULL;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
	return opra_buf_append(data, buffer, size) == OPRA_OK ? 0 : -1;
}

int model_write_json(const model *m, opra_buf *out)
{
	mnode root = {0};
	json_t *doc = NULL;
	size_t start = out->len;
	int rc;

	if ((rc = model_to_tree(&root, m)))
		goto done;
	doc = to_json(&root);
	if (doc == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory writing JSON");
		goto done;
	}
	if (json_dump_callback(doc, dump_cb, out, JSON_INDENT(2)) != 0 ||
	    opra_buf_puts(out, "\n") != OPRA_OK) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory writing JSON");
		goto done;
	}
done:
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	json_decref(doc);
	mnode_clear(&root);
	return rc;
}
