/* Internal to the model module (common/model*.c); not a public API.
 *
 * Both file readers (YAML and JSON) build the same generic tree (mnode) with
 * line numbers where the syntax has them, and ONE function, model_from_tree,
 * maps it onto the model structs and reports unknown, missing and mistyped
 * keys. The writers go the other way: model_to_tree builds the tree once and
 * each writer only serialises it. */
#ifndef OPRA_MODEL_INTERNAL_H
#define OPRA_MODEL_INTERNAL_H

#include "model.h"

#include <stddef.h>

/* Nesting deeper than this is refused by both readers (a model needs 7). */
#define MODEL_TREE_DEPTH_MAX 32
/* Elements in one file; bounds memory for hostile input well above what a
 * 16 MiB model needs. */
#define MODEL_TREE_NODES_MAX (4u * 1024 * 1024)

typedef enum {
	MNODE_NULL = 0,
	MNODE_STRING,
	MNODE_NUMBER, /* text holds the number as written */
	MNODE_BOOL,   /* flag holds the value */
	MNODE_MAP,    /* kids carry their key */
	MNODE_LIST,
} mnode_kind;

typedef struct mnode {
	mnode_kind kind;
	int flag;
	int line;     /* 0 when unknown (JSON) */
	int key_line; /* line of the key when the node is a mapping member */
	char *key;    /* mapping members only */
	char *text;   /* STRING and NUMBER */
	size_t text_len;
	struct mnode *kids;
	size_t n_kids;
	size_t cap_kids;
} mnode;

/* Frees what n holds (not n itself) and zeroes it. NULL-safe. */
void mnode_clear(mnode *n);
/* Appends a zeroed child to a MAP or LIST; NULL when memory runs out (the
 * error is set). The pointer is valid until the next append to parent. */
mnode *mnode_push(mnode *parent);
/* How YAML reads a plain (unquoted, untagged) scalar: MNODE_NULL,
 * MNODE_BOOL (true/false; value in *flag), MNODE_NUMBER or MNODE_STRING. */
mnode_kind mnode_resolve_plain(const char *s, size_t len, int *flag);
/* Whether a string must be quoted in YAML to read back as text, here and in
 * other YAML tools (yes/no/on/off are YAML 1.1 booleans). */
int mnode_plain_needs_quotes(const char *s, size_t len);
/* "a mapping", "a list", ... for messages. */
const char *mnode_kind_name(mnode_kind k);

/* The readers: text -> tree. Errors name origin and the line (YAML) or
 * line:column (JSON syntax). model_json_read sets *is_oscal (when not NULL)
 * instead of building a tree if the top level is an object with a
 * "catalog" key. */
int model_yaml_read(mnode *root, const char *origin, const char *text, size_t len);
int model_json_read(mnode *root, int *is_oscal, const char *origin, const char *text, size_t len);

/* Tree -> model (not yet validated), generic goal templates instantiated.
 * Sets m->origin. */
int model_from_tree(model **out, const char *origin, const mnode *root);
/* Model -> tree in the opra format (version 1). */
int model_to_tree(mnode *root, const model *m);

/* Deep copies and frees of parts, shared by the tree mapper. */
int model_goal_copy(model_goal *dst, const model_goal *src);
void model_goal_clear(model_goal *g);
int model_goal_equal(const model_goal *a, const model_goal *b);

#endif
