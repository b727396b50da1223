/* The enterprise inventory: what units, services and assets share (add,
 * list, show, update, remove through their descriptors, see cli.h), and
 * `opra inventory show`, the dependency tree in both directions.
 *
 * Reading and writing a message through its descriptor keeps the three
 * nouns on one code path: a field the tables name but the message lacks
 * is a bug in a table, reported as an internal error (exit 1), never a
 * crash. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include "opra/v1/inventory.pb-c.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The most fields one update may list (every field of the largest object). */
#define CLI_INV_MAX_FIELDS 16

/* The asset types and criticalities in the order trees group them. */
static const char *const asset_types[] = {"people", "information", "technology", "facilities",
					  NULL};
static const char *const criticalities[] = {"high", "medium", "low", NULL};

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

/* ---- messages through their descriptors --------------------------------- */

/* The member at byte offset off of message m. */
#define PB_AT(m, off, type) ((type *)(void *)((char *)(m) + (off)))

/* Field `name` of m when it has the expected type and repetition; NULL
 * (with the error set) otherwise. */
static const ProtobufCFieldDescriptor *pb_field(const ProtobufCMessage *m, const char *name,
						ProtobufCType type, bool repeated)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (f == NULL || f->type != type || (f->label == PROTOBUF_C_LABEL_REPEATED) != repeated) {
		opra_err_set(OPRA_INTERNAL, "bug: %s has no %s field '%s'", m->descriptor->name,
			     repeated ? "repeated" : "single", name);
		return NULL;
	}
	return f;
}

static int pb_set_string(ProtobufCMessage *m, const char *name, const char *value)
{
	const ProtobufCFieldDescriptor *f = pb_field(m, name, PROTOBUF_C_TYPE_STRING, false);

	if (f == NULL)
		return OPRA_INTERNAL;
	*PB_AT(m, f->offset, char *) = (char *)value;
	return OPRA_OK;
}

static int pb_set_strings(ProtobufCMessage *m, const char *name, char **values, size_t n)
{
	const ProtobufCFieldDescriptor *f = pb_field(m, name, PROTOBUF_C_TYPE_STRING, true);

	if (f == NULL)
		return OPRA_INTERNAL;
	*PB_AT(m, f->quantifier_offset, size_t) = n;
	*PB_AT(m, f->offset, char **) = values;
	return OPRA_OK;
}

static int pb_set_int32(ProtobufCMessage *m, const char *name, int32_t value)
{
	const ProtobufCFieldDescriptor *f = pb_field(m, name, PROTOBUF_C_TYPE_INT32, false);

	if (f == NULL)
		return OPRA_INTERNAL;
	*PB_AT(m, f->offset, int32_t) = value;
	return OPRA_OK;
}

/* The text of string field `name` of m ("" when m lacks it). */
static const char *pb_string(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = pb_field(m, name, PROTOBUF_C_TYPE_STRING, false);
	const char *s = f ? *PB_AT(m, f->offset, const char *) : NULL;

	return s ? s : "";
}

/* The reply's first field when it is a message with the repetition asked
 * for; NULL otherwise. */
static const ProtobufCFieldDescriptor *reply_field(const ProtobufCMessage *reply, bool repeated)
{
	const ProtobufCMessageDescriptor *d = reply->descriptor;
	const ProtobufCFieldDescriptor *f = d->n_fields ? &d->fields[0] : NULL;

	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    (f->label == PROTOBUF_C_LABEL_REPEATED) != repeated)
		return NULL;
	return f;
}

/* The object of a UnitReply (ServiceReply, AssetReply); NULL when absent. */
static const ProtobufCMessage *reply_object(const ProtobufCMessage *reply)
{
	const ProtobufCFieldDescriptor *f = reply_field(reply, false);

	return f ? *PB_AT(reply, f->offset, ProtobufCMessage *) : NULL;
}

/* The objects of a UnitListReply (ServiceListReply, AssetListReply); *n
 * of them. */
static ProtobufCMessage **reply_list(const ProtobufCMessage *reply, size_t *n)
{
	const ProtobufCFieldDescriptor *f = reply_field(reply, true);

	*n = f ? *PB_AT(reply, f->quantifier_offset, size_t) : 0;
	return f ? *PB_AT(reply, f->offset, ProtobufCMessage **) : NULL;
}

/* Show-only fields, left out of lists (the server fills them in show). */
static bool detail_only(const ProtobufCFieldDescriptor *f)
{
	return strcmp(f->name, "children") == 0;
}

/* Field f of m as display text, newly allocated; NULL for an empty value
 * (tables print "-") and, with *nomem set, when memory runs out. */
static char *field_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, bool *nomem)
{
	char num[32];
	char *s = NULL;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *PB_AT(m, f->quantifier_offset, size_t), len = 0;
		char **items = *PB_AT(m, f->offset, char **);
		if (f->type != PROTOBUF_C_TYPE_STRING || n == 0)
			return NULL;
		for (size_t i = 0; i < n; i++)
			len += strlen(items[i]) + 2;
		if ((s = opra_malloc(len + 1)) == NULL)
			goto nomem;
		len = 0;
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(items[i]);
			if (i > 0) {
				memcpy(s + len, ", ", 2);
				len += 2;
			}
			memcpy(s + len, items[i], l);
			len += l;
		}
		s[len] = '\0';
		return s;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *v = *PB_AT(m, f->offset, const char *);
		if (v == NULL || v[0] == '\0')
			return NULL;
		s = opra_strdup(v);
		break;
	}
	case PROTOBUF_C_TYPE_INT32:
		snprintf(num, sizeof(num), "%d", (int)*PB_AT(m, f->offset, int32_t));
		s = opra_strdup(num);
		break;
	case PROTOBUF_C_TYPE_UINT32:
		snprintf(num, sizeof(num), "%u", (unsigned)*PB_AT(m, f->offset, uint32_t));
		s = opra_strdup(num);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		s = opra_strdup(*PB_AT(m, f->offset, protobuf_c_boolean) ? "yes" : "no");
		break;
	default:
		return NULL;
	}
	if (s != NULL)
		return s;
nomem:
	*nomem = true;
	return NULL;
}

json_t *cli_inv_object_json(const ProtobufCMessage *obj, bool detail)
{
	const ProtobufCMessageDescriptor *d = obj->descriptor;
	json_t *o = json_object();
	int bad = o == NULL;

	for (unsigned i = 0; !bad && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v = NULL;
		if (!detail && detail_only(f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *PB_AT(obj, f->quantifier_offset, size_t);
			char **items = *PB_AT(obj, f->offset, char **);
			if (f->type != PROTOBUF_C_TYPE_STRING)
				continue;
			v = json_array();
			for (size_t k = 0; v && k < n; k++)
				bad |= json_array_append_new(v, out_jstr(items[k], false));
		} else if (f->type == PROTOBUF_C_TYPE_STRING) {
			/* The name is always text; anything else empty is null
			 * (a root unit's parent, an asset without owner). */
			v = out_jstr(*PB_AT(obj, f->offset, const char *),
				     strcmp(f->name, "name") != 0);
		} else if (f->type == PROTOBUF_C_TYPE_INT32) {
			v = json_integer(*PB_AT(obj, f->offset, int32_t));
		} else if (f->type == PROTOBUF_C_TYPE_UINT32) {
			v = json_integer(*PB_AT(obj, f->offset, uint32_t));
		} else if (f->type == PROTOBUF_C_TYPE_BOOL) {
			v = json_boolean(*PB_AT(obj, f->offset, protobuf_c_boolean));
		} else {
			continue;
		}
		bad |= json_object_set_new(o, f->name, v);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Owned strings that table cells borrow until the table is printed. */
typedef struct {
	char **items;
	size_t n, cap;
} str_pool;

/* Keeps s (NULL is fine: an empty cell). OPRA_OK, or out of memory (s is
 * freed). */
static int pool_keep(str_pool *p, char *s)
{
	if (s == NULL)
		return OPRA_OK;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		char **items = opra_realloc(p->items, cap * sizeof(*items));
		if (items == NULL) {
			opra_free(s);
			return OPRA_RESOURCE_EXHAUSTED;
		}
		p->items = items;
		p->cap = cap;
	}
	p->items[p->n++] = s;
	return OPRA_OK;
}

static void pool_free(str_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		opra_free(p->items[i]);
	opra_free(p->items);
	memset(p, 0, sizeof(*p));
}

/* The label `show` prints for a field: "created_at" -> "created at". */
static char *field_label(const char *name)
{
	char *s = opra_strdup(name);

	for (char *p = s; p && *p; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

/* One object as `show` prints it: a line per field, labels aligned. */
static int print_details(cli_ctx *ctx, const ProtobufCMessage *obj)
{
	const ProtobufCMessageDescriptor *d = obj->descriptor;
	out_table t;
	str_pool pool = {NULL, 0, 0};
	bool nomem = false;
	int rc = OPRA_OK;

	out_table_init(&t, 2, NULL);
	for (unsigned i = 0; rc == OPRA_OK && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *label = field_label(f->name), *value = field_text(obj, f, &nomem);
		const char *row[2] = {label, value};
		if (label == NULL || nomem) {
			opra_free(label);
			opra_free(value);
			rc = OPRA_RESOURCE_EXHAUSTED;
			break;
		}
		if (pool_keep(&pool, label) != OPRA_OK || pool_keep(&pool, value) != OPRA_OK ||
		    out_table_add(&t, row) != OPRA_OK)
			rc = OPRA_RESOURCE_EXHAUSTED;
	}
	if (rc == OPRA_OK)
		out_table_print(ctx->out, &t);
	out_table_free(&t);
	pool_free(&pool);
	return rc == OPRA_OK ? 0 : oom(ctx);
}

/* The reply's object: JSON, the details (show: verb NULL) or one line
 * ("added unit emea (version 1)"); nothing with --quiet. */
static int print_object(cli_ctx *ctx, const cli_inv_kind *k, const ProtobufCMessage *reply,
			const char *verb)
{
	const ProtobufCMessage *obj = reply_object(reply);

	if (obj == NULL)
		return out_error(ctx->out, OPRA_INTERNAL, "the server's reply holds no object",
				 NULL);
	if (ctx->out->json) {
		json_t *doc = cli_inv_object_json(obj, true);
		return doc ? cli_emit_json(ctx, doc) : oom(ctx);
	}
	if (verb == NULL)
		return print_details(ctx, obj);
	if (!ctx->out->quiet) {
		const ProtobufCFieldDescriptor *v =
			pb_field(obj, "version", PROTOBUF_C_TYPE_INT32, false);
		FILE *f = ctx->out->out;
		fprintf(f, "%s %s ", verb, k->noun);
		out_put_safe(f, pb_string(obj, "name"));
		if (v != NULL)
			fprintf(f, " (version %d)", (int)*PB_AT(obj, v->offset, int32_t));
		fputc('\n', f);
	}
	return 0;
}

/* ---- add and update ----------------------------------------------------- */

/* What the flags of one add or update change. */
typedef struct {
	char *fields[CLI_INV_MAX_FIELDS];
	const char *by[CLI_INV_MAX_FIELDS]; /* the flag that set each field */
	size_t n_fields;
	char **list; /* values of a repeated flag (opra_free) */
} cli_inv_edit;

/* Does the running command declare option `flag`? */
static bool has_opt(const cli_ctx *ctx, const char *flag)
{
	for (const cli_optspec *s = ctx->cmd->opts; s && s->name; s++)
		if (strcmp(s->name, flag) == 0)
			return true;
	return false;
}

/* The flag of the table that clears `field`, when this command has it. */
static const char *clear_flag(const cli_ctx *ctx, const cli_inv_kind *k, const char *field)
{
	for (const cli_inv_flag *r = k->flags; r->flag; r++)
		if (r->kind == CLI_INV_CLEAR && strcmp(r->field, field) == 0 &&
		    has_opt(ctx, r->flag))
			return r->flag;
	return NULL;
}

/* Sets the object's fields from the flags given and lists them in e.
 * Returns 0 or the exit code (after reporting). */
static int apply_flags(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k,
		       ProtobufCMessage *obj, cli_inv_edit *e)
{
	int rc = OPRA_OK;

	for (const cli_inv_flag *r = k->flags; r->flag; r++) {
		const char *value = cli_opt(args, r->flag);
		if (value == NULL)
			continue;
		for (size_t i = 0; i < e->n_fields; i++)
			if (strcmp(e->fields[i], r->field) == 0)
				return cli_usage(ctx, "%s and %s cannot be combined", e->by[i],
						 r->flag);
		if (e->n_fields == CLI_INV_MAX_FIELDS)
			return out_error(ctx->out, OPRA_INTERNAL, "bug: too many fields", NULL);
		switch (r->kind) {
		case CLI_INV_NAME:
			if (value[0] == '\0') {
				const char *clear = clear_flag(ctx, k, r->field);
				if (clear)
					return cli_usage(ctx, "%s needs a name; to clear it use %s",
							 r->flag, clear);
				return cli_usage(ctx, "%s needs a name", r->flag);
			}
			/* fallthrough */
		case CLI_INV_TEXT:
			rc = pb_set_string(obj, r->field, value);
			break;
		case CLI_INV_CLEAR: {
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field_by_name(obj->descriptor,
										r->field);
			rc = f && f->label == PROTOBUF_C_LABEL_REPEATED
				     ? pb_set_strings(obj, r->field, NULL, 0)
				     : pb_set_string(obj, r->field, "");
			break;
		}
		case CLI_INV_LIST: {
			size_t n = cli_opt_all(args, r->flag, NULL, 0);
			opra_free(e->list);
			if ((e->list = opra_calloc(n, sizeof(*e->list))) == NULL)
				return oom(ctx);
			cli_opt_all(args, r->flag, (const char **)e->list, n);
			for (size_t i = 0; i < n; i++)
				if (e->list[i][0] == '\0')
					return cli_usage(ctx, "%s must not be empty", r->flag);
			rc = pb_set_strings(obj, r->field, e->list, n);
			break;
		}
		}
		if (rc != OPRA_OK)
			return out_fail(ctx->out, rc);
		e->by[e->n_fields] = r->flag;
		e->fields[e->n_fields++] = (char *)r->field;
	}
	return 0;
}

/* "opra.v1.Inventory/Unit" + "Add". */
static void method_name(char *buf, size_t size, const cli_inv_kind *k, const char *verb)
{
	snprintf(buf, size, "%s%s", k->method, verb);
}

/* Calls k's method `verb` with a fresh idempotency key and prints the
 * object the reply holds, with `done` ("added"). */
static int call_and_print(cli_ctx *ctx, const cli_inv_kind *k, const char *verb,
			  const ProtobufCMessage *req, const char *done)
{
	ProtobufCMessage *resp = NULL;
	char method[128], key[33];
	int code;

	method_name(method, sizeof(method), k, verb);
	rpc_new_key(key);
	if ((code = cli_call(ctx, method, req, k->reply, &resp, key)) == 0)
		code = print_object(ctx, k, resp, done);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

static int check_name(cli_ctx *ctx, const cli_inv_kind *k, const char *name)
{
	if (name[0] == '\0')
		return cli_usage(ctx, "the %s name must not be empty", k->noun);
	return 0;
}

int cli_inv_add(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k, ProtobufCMessage *req,
		ProtobufCMessage *obj)
{
	cli_inv_edit e;
	int code;

	memset(&e, 0, sizeof(e));
	if ((code = check_name(ctx, k, args->argv[0])) != 0)
		goto done;
	if (pb_set_string(obj, "name", args->argv[0]) != OPRA_OK) {
		code = out_fail(ctx->out, OPRA_INTERNAL);
		goto done;
	}
	if ((code = apply_flags(ctx, args, k, obj, &e)) != 0)
		goto done;
	code = call_and_print(ctx, k, "Add", req, "added");
done:
	opra_free(e.list);
	return code;
}

/* --expect-version N: a positive 32-bit number; 0 when not given. */
static int parse_version(cli_ctx *ctx, const char *text, int32_t *out)
{
	char *end = NULL;
	long v;

	*out = 0;
	if (text == NULL)
		return 0;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < 1 || v > INT32_MAX)
		return cli_usage(ctx, "--expect-version needs a positive whole number, not '%s'",
				 text);
	*out = (int32_t)v;
	return 0;
}

/* "--parent, --no-parent, --site or --name" for the nothing-to-do message. */
static void list_flags(char *buf, size_t size, const cli_ctx *ctx, const cli_inv_kind *k)
{
	size_t len = 0;

	buf[0] = '\0';
	for (const cli_inv_flag *r = k->flags; r->flag; r++)
		if (has_opt(ctx, r->flag) && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s, ", r->flag);
	if (len < size)
		snprintf(buf + len, size - len, "--name");
}

int cli_inv_update(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k, ProtobufCMessage *req,
		   ProtobufCMessage *obj)
{
	const char *new_name = cli_opt(args, "--name");
	int32_t expect = 0;
	cli_inv_edit e;
	int code, rc = OPRA_OK;

	memset(&e, 0, sizeof(e));
	if ((code = check_name(ctx, k, args->argv[0])) != 0 ||
	    (code = parse_version(ctx, cli_opt(args, "--expect-version"), &expect)) != 0)
		goto done;
	if (new_name && new_name[0] == '\0') {
		code = cli_usage(ctx, "--name needs the new name");
		goto done;
	}
	if ((code = apply_flags(ctx, args, k, obj, &e)) != 0)
		goto done;
	if (e.n_fields == 0 && new_name == NULL) {
		char flags[256];
		list_flags(flags, sizeof(flags), ctx, k);
		code = cli_usage(ctx, "nothing to change: give at least one of %s", flags);
		goto done;
	}
	/* The server takes only the listed fields from the object; the name
	 * there is the current one (the object is found by it). */
	rc = pb_set_string(req, "name", args->argv[0]);
	if (rc == OPRA_OK)
		rc = pb_set_string(obj, "name", args->argv[0]);
	if (rc == OPRA_OK)
		rc = pb_set_strings(req, "fields", e.fields, e.n_fields);
	if (rc == OPRA_OK && new_name)
		rc = pb_set_string(req, "new_name", new_name);
	if (rc == OPRA_OK)
		rc = pb_set_int32(req, "expect_version", expect);
	if (rc != OPRA_OK) {
		code = out_fail(ctx->out, rc);
		goto done;
	}
	code = call_and_print(ctx, k, "Update", req, "updated");
done:
	opra_free(e.list);
	return code;
}

/* ---- list, show, remove ------------------------------------------------- */

/* The human list: k's columns, and STATE when removed objects are shown. */
static int print_list(cli_ctx *ctx, const cli_inv_kind *k, ProtobufCMessage **objs, size_t n,
		      bool all)
{
	const char *headers[CLI_INV_MAX_FIELDS + 1], *row[CLI_INV_MAX_FIELDS + 1];
	const ProtobufCFieldDescriptor *cols[CLI_INV_MAX_FIELDS];
	size_t ncols = 0;
	str_pool pool = {NULL, 0, 0};
	out_table t;
	bool nomem = false;
	int code = 0;

	for (; k->columns[ncols] && ncols < CLI_INV_MAX_FIELDS; ncols++)
		headers[ncols] = k->headers[ncols];
	if (all)
		headers[ncols] = "STATE";
	out_table_init(&t, ncols + (all ? 1 : 0), headers);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < ncols; c++) {
			cols[c] = protobuf_c_message_descriptor_get_field_by_name(
				objs[i]->descriptor, k->columns[c]);
			row[c] = cols[c] ? field_text(objs[i], cols[c], &nomem) : NULL;
			if (nomem || pool_keep(&pool, (char *)row[c]) != OPRA_OK)
				goto nomem;
		}
		if (all) {
			const ProtobufCFieldDescriptor *f =
				pb_field(objs[i], "removed", PROTOBUF_C_TYPE_BOOL, false);
			row[ncols] = f && *PB_AT(objs[i], f->offset, protobuf_c_boolean) ? "removed"
											 : "active";
		}
		if (out_table_add(&t, row) != OPRA_OK)
			goto nomem;
	}
	out_table_print(ctx->out, &t);
	goto done;
nomem:
	code = oom(ctx);
done:
	out_table_free(&t);
	pool_free(&pool);
	return code;
}

int cli_inv_list(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k)
{
	Opra__V1__ListRequest req = OPRA__V1__LIST_REQUEST__INIT;
	ProtobufCMessage *resp = NULL, **objs;
	const char *unit = cli_opt(args, "--unit"), *type = cli_opt(args, "--type");
	bool all = cli_opt(args, "--all") != NULL;
	char method[128];
	size_t n = 0;
	json_t *arr = NULL;
	int code;

	if (unit && unit[0] == '\0')
		return cli_usage(ctx, "--unit needs a unit name");
	req.unit = (char *)(unit ? unit : "");
	req.type = (char *)(type ? type : "");
	req.include_removed = all;
	method_name(method, sizeof(method), k, "List");
	if ((code = cli_call(ctx, method, &req.base, k->list_reply, &resp, NULL)) != 0)
		goto done;
	objs = reply_list(resp, &n);
	if (ctx->out->json) {
		if ((arr = json_array()) == NULL)
			goto nomem;
		for (size_t i = 0; i < n; i++)
			if (json_array_append_new(arr, cli_inv_object_json(objs[i], false)))
				goto nomem;
		code = cli_emit_json(ctx, arr);
		arr = NULL;
		goto done;
	}
	if (n == 0) {
		out_note(ctx->out, "no %ss%s (add one with 'opra %s add NAME ...')\n", k->noun,
			 unit || type ? " match" : "", k->noun);
		goto done;
	}
	code = print_list(ctx, k, objs, n, all);
	goto done;
nomem:
	code = oom(ctx);
done:
	json_decref(arr);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

int cli_inv_show(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k)
{
	Opra__V1__ShowRequest req = OPRA__V1__SHOW_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	char method[128];
	int code;

	if ((code = check_name(ctx, k, args->argv[0])) != 0)
		return code;
	req.name = args->argv[0];
	method_name(method, sizeof(method), k, "Show");
	if ((code = cli_call(ctx, method, &req.base, k->reply, &resp, NULL)) == 0)
		code = print_object(ctx, k, resp, NULL);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

int cli_inv_remove(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k)
{
	Opra__V1__RemoveRequest req = OPRA__V1__REMOVE_REQUEST__INIT;
	Opra__V1__RemoveReply *resp = NULL;
	char method[128], key[33];
	int code;

	if ((code = check_name(ctx, k, args->argv[0])) != 0)
		return code;
	req.name = args->argv[0];
	method_name(method, sizeof(method), k, "Remove");
	rpc_new_key(key);
	if ((code = cli_call(ctx, method, &req.base, &opra__v1__remove_reply__descriptor, &resp,
			     key)) != 0)
		goto done;
	if (ctx->out->json) {
		json_t *doc = json_object();
		if (doc == NULL || json_object_set_new(doc, "name", out_jstr(resp->name, false)) ||
		    json_object_set_new(doc, "removed_at", out_jstr(resp->removed_at, true))) {
			json_decref(doc);
			code = oom(ctx);
		} else {
			code = cli_emit_json(ctx, doc);
		}
		goto done;
	}
	if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fprintf(f, "removed %s ", k->noun);
		out_put_safe(f, resp->name);
		if (resp->removed_at[0]) {
			fputs(" at ", f);
			out_put_safe(f, resp->removed_at);
		}
		fprintf(f, " (kept for history: 'opra %s list --all' shows it)\n", k->noun);
	}
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- opra inventory show ------------------------------------------------ */

/* Position of s in a NULL-terminated order (unknown values last). */
static size_t rank(const char *const *order, const char *s)
{
	size_t i = 0;

	for (; order[i]; i++)
		if (strcmp(order[i], s) == 0)
			break;
	return i;
}

/* The tree's lines, grouped by `order` of the key field: "  ├─ " for every
 * line but the last, "  └─ " for the last. key(i) and line(i) read item i. */
typedef struct {
	size_t n;
	const char *(*key)(const void *items, size_t i);
	void (*line)(FILE *f, const void *items, size_t i, size_t key_width);
	const void *items;
	const char *const *order;
	const char *empty; /* printed when n is 0 */
} tree_branches;

static void print_branches(FILE *f, const tree_branches *b)
{
	size_t printed = 0, width = 0, groups = 0;

	while (b->order[groups])
		groups++;
	for (size_t i = 0; i < b->n; i++) {
		size_t w = strlen(b->key(b->items, i));
		if (w > width)
			width = w;
	}
	if (b->n == 0) {
		fprintf(f, "  %s\n", b->empty);
		return;
	}
	/* Each known group in order, then everything else (rank == groups). */
	for (size_t g = 0; g <= groups; g++)
		for (size_t i = 0; i < b->n; i++) {
			if (rank(b->order, b->key(b->items, i)) != g)
				continue;
			fputs(++printed == b->n ? "  └─ " : "  ├─ ", f);
			b->line(f, b->items, i, width);
		}
}

/* "technology   db-cluster-1 (dba-team)". */
static const char *asset_key(const void *items, size_t i)
{
	return ((Opra__V1__Asset *const *)items)[i]->type;
}

static void asset_line(FILE *f, const void *items, size_t i, size_t width)
{
	const Opra__V1__Asset *a = ((Opra__V1__Asset *const *)items)[i];

	out_put_safe(f, a->type);
	fprintf(f, "%*s", (int)(width - strlen(a->type) + 2), "");
	out_put_safe(f, a->name);
	if (a->owner[0]) {
		fputs(" (", f);
		out_put_safe(f, a->owner);
		fputc(')', f);
	}
	if (a->removed)
		fputs(" [removed]", f);
	fputc('\n', f);
}

/* "high    claims (unit emea)". */
static const char *service_key(const void *items, size_t i)
{
	return ((Opra__V1__Service *const *)items)[i]->criticality;
}

static void service_line(FILE *f, const void *items, size_t i, size_t width)
{
	const Opra__V1__Service *s = ((Opra__V1__Service *const *)items)[i];

	out_put_safe(f, s->criticality);
	fprintf(f, "%*s", (int)(width - strlen(s->criticality) + 2), "");
	out_put_safe(f, s->name);
	if (s->unit[0]) {
		fputs(" (unit ", f);
		out_put_safe(f, s->unit);
		fputc(')', f);
	}
	if (s->removed)
		fputs(" [removed]", f);
	fputc('\n', f);
}

static void print_service_tree(FILE *f, const Opra__V1__ServiceTree *t)
{
	const Opra__V1__Service *s = t->service;
	tree_branches b = {t->n_assets, asset_key,   asset_line,
			   t->assets,	asset_types, "(no assets support this service yet)"};

	fputs("service ", f);
	out_put_safe(f, s ? s->name : "?");
	if (s) {
		fputs(" [", f);
		out_put_safe(f, s->criticality);
		fputs("] unit ", f);
		out_put_safe(f, s->unit);
	}
	fprintf(f, ", %zu %s\n", t->n_assets, t->n_assets == 1 ? "asset" : "assets");
	print_branches(f, &b);
}

static void print_asset_tree(FILE *f, const Opra__V1__AssetTree *t)
{
	const Opra__V1__Asset *a = t->asset;
	tree_branches b = {t->n_services, service_key,	 service_line,
			   t->services,	  criticalities, "(no service depends on this asset)"};

	fputs("asset ", f);
	out_put_safe(f, a ? a->name : "?");
	if (a) {
		fputs(" [", f);
		out_put_safe(f, a->type);
		fputc(']', f);
		if (a->owner[0]) {
			fputs(" (", f);
			out_put_safe(f, a->owner);
			fputc(')', f);
		}
	}
	fprintf(f, ": if it fails, %zu %s affected\n", t->n_services,
		t->n_services == 1 ? "service is" : "services are");
	print_branches(f, &b);
}

/* A JSON array of the objects. NULL when memory runs out. */
static json_t *objects_json(ProtobufCMessage *const *objs, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, cli_inv_object_json(objs[i], false))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* {"service": {...}, "assets": [...]}. */
static json_t *service_tree_json(const Opra__V1__ServiceTree *t)
{
	json_t *o = json_object();

	if (o == NULL ||
	    json_object_set_new(o, "service",
				t->service ? cli_inv_object_json(&t->service->base, false)
					   : json_null()) ||
	    json_object_set_new(o, "assets",
				objects_json((ProtobufCMessage *const *)t->assets, t->n_assets))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *asset_tree_json(const Opra__V1__AssetTree *t)
{
	json_t *o = json_object();

	if (o == NULL ||
	    json_object_set_new(o, "asset",
				t->asset ? cli_inv_object_json(&t->asset->base, false)
					 : json_null()) ||
	    json_object_set_new(
		    o, "services",
		    objects_json((ProtobufCMessage *const *)t->services, t->n_services))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int cmd_inventory_show(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__InventoryShowRequest req = OPRA__V1__INVENTORY_SHOW_REQUEST__INIT;
	Opra__V1__InventoryShowReply *resp = NULL;
	const char *asset = cli_opt(args, "--asset");
	const char *service = args->argc > 0 ? args->argv[0] : NULL;
	json_t *doc = NULL;
	int code = 0;

	if (asset && service)
		return cli_usage(ctx, "give a SERVICE or --asset ASSET, not both");
	if ((asset && asset[0] == '\0') || (service && service[0] == '\0'))
		return cli_usage(ctx, "the %s name must not be empty", asset ? "asset" : "service");
	req.name = (char *)(asset ? asset : service ? service : "");
	req.asset = asset != NULL;
	if ((code = cli_call(ctx, "opra.v1.Inventory/Show", &req.base,
			     &opra__v1__inventory_show_reply__descriptor,
			     (ProtobufCMessage **)&resp, NULL)) != 0)
		goto done;
	if (asset && resp->asset == NULL) {
		code = out_error(ctx->out, OPRA_INTERNAL, "the server's reply holds no asset",
				 NULL);
		goto done;
	}
	if (service && resp->n_services != 1) {
		code = out_error(ctx->out, OPRA_INTERNAL,
				 "the server's reply does not hold the one service asked for",
				 NULL);
		goto done;
	}
	if (ctx->out->json) {
		if (asset) {
			doc = asset_tree_json(resp->asset);
		} else if (service) {
			doc = service_tree_json(resp->services[0]);
		} else {
			doc = json_array();
			for (size_t i = 0; doc && i < resp->n_services; i++)
				if (json_array_append_new(doc,
							  service_tree_json(resp->services[i]))) {
					json_decref(doc);
					doc = NULL;
				}
		}
		code = doc ? cli_emit_json(ctx, doc) : oom(ctx);
		goto done;
	}
	if (asset) {
		print_asset_tree(ctx->out->out, resp->asset);
		goto done;
	}
	for (size_t i = 0; i < resp->n_services; i++) {
		if (i > 0)
			fputc('\n', ctx->out->out);
		print_service_tree(ctx->out->out, resp->services[i]);
	}
	if (resp->n_services == 0)
		out_note(ctx->out,
			 "no services (add one with 'opra service add NAME --unit UNIT')\n");
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}
