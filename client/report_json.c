/* The json report: the complete rating document (every field Rating/Show
 * gives, in the shape of `opra rating show --json --explain`) with the
 * report's facts beside it: the appraisal's scope, seal and chain, the
 * weaknesses, judgements and the evidence index (docs/reports.md).
 *
 * Messages become JSON through their protobuf-c descriptors, under their
 * proto field names, so fields the server adds later (say, a gap or the
 * blocking practices of a process area) appear without a change here.
 * Empty strings are null. These shapes follow `opra rating show --json`:
 * capability_level is null unless the process area is rated, level_reached
 * null when out of scope, gap and next_level null when they do not apply,
 * a blocking goal's id is "goal", and a practice's cells are the maps
 * "instances", "suggested" and "versions" keyed by instance name. */
#include "report.h"

#include "output.h"

#include "opra_err.h"

#include <string.h>

static json_t *msg_json(const ProtobufCMessage *m, const report_doc *d);

/* One value of field fd at p (a single element for repeated fields). */
static json_t *value_json(const ProtobufCFieldDescriptor *fd, const void *p, const report_doc *d)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer((json_int_t) * (const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t) * (const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return json_integer(*(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return out_jstr(*(char *const *)p, true);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
		return sub ? msg_json(sub, d) : json_null();
	}
	case PROTOBUF_C_TYPE_BYTES:
	default:
		return json_null(); /* no report message carries bytes */
	}
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* A practice's cells as the three maps of `opra rating show --json`. */
static int cells_json(json_t *o, const Opra__V1__PracticeRating *p, const report_doc *d)
{
	json_t *inst = json_object(), *sugg = json_object(), *vers = json_object();
	if (inst == NULL || sugg == NULL || vers == NULL)
		goto fail;
	size_t n = report_n_cells(d, p);
	for (size_t i = 0; i < n; i++) {
		const char *name, *value, *suggested;
		int32_t version;
		report_cell(d, p, i, &name, &value, &suggested, &version);
		if (json_object_set_new(inst, name, out_jstr(value, false)) ||
		    json_object_set_new(vers, name, json_integer(version)) ||
		    (suggested[0] && json_object_set_new(sugg, name, out_jstr(suggested, false))))
			goto fail;
	}
	if (json_object_set_new(o, "instances", inst)) {
		inst = NULL;
		goto fail;
	}
	inst = NULL;
	if (json_object_set_new(o, "suggested", sugg)) {
		sugg = NULL;
		goto fail;
	}
	sugg = NULL;
	return json_object_set_new(o, "versions", vers);
fail:
	json_decref(inst);
	json_decref(sugg);
	json_decref(vers);
	return -1;
}

static bool skip_field(const ProtobufCMessage *m, const char *name)
{
	if (m->descriptor == &opra__v1__practice_rating__descriptor)
		return strcmp(name, "instances") == 0 || strncmp(name, "cell_", 5) == 0;
	if (m->descriptor == &opra__v1__rating_show_reply__descriptor)
		return strcmp(name, "instances") == 0;
	return false;
}

static json_t *msg_json(const ProtobufCMessage *m, const report_doc *d)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &desc->fields[i];
		const char *base = (const char *)m;
		json_t *v;
		if (skip_field(m, fd->name))
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + fd->quantifier_offset);
			const char *arr = *(const char *const *)(base + fd->offset);
			v = json_array();
			for (size_t k = 0; v && k < n; k++)
				if (json_array_append_new(
					    v, value_json(fd, arr + k * type_size(fd->type), d))) {
					json_decref(v);
					v = NULL;
				}
		} else {
			v = value_json(fd, base + fd->offset, d);
		}
		if (v == NULL || json_object_set_new(o, fd->name, v) != 0)
			goto fail;
	}
	/* the shapes of `opra rating show --json` */
	if (desc == &opra__v1__pa_rating__descriptor) {
		const Opra__V1__PaRating *pa = (const Opra__V1__PaRating *)m;
		bool rated = strcmp(pa->status, "rated") == 0;
		bool out = strcmp(pa->status, "out-of-scope") == 0;
		if ((!rated && json_object_set_new(o, "capability_level", json_null())) ||
		    ((out || pa->level_reached < 0) &&
		     json_object_set_new(o, "level_reached", json_null())) ||
		    (pa->gap < 0 && json_object_set_new(o, "gap", json_null())) ||
		    (pa->next_level <= 0 && json_object_set_new(o, "next_level", json_null())))
			goto fail;
		/* a blocking goal names its goal under "goal" */
		json_t *blocking = json_object_get(o, "blocking");
		for (size_t i = 0; i < json_array_size(blocking); i++) {
			json_t *b = json_array_get(blocking, i), *id = json_object_get(b, "id");
			if (id && (json_object_set(b, "goal", id) || json_object_del(b, "id")))
				goto fail;
		}
	} else if (desc == &opra__v1__practice_rating__descriptor) {
		if (cells_json(o, (const Opra__V1__PracticeRating *)m, d) != 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *array_of(ProtobufCMessage *const *items, size_t n, const report_doc *d)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, msg_json(items[i], d)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *report_json(const report_doc *d)
{
	const Opra__V1__ReportFactsReply *fa = d->facts;
	json_t *doc = msg_json(&d->rating->base, d);

	if (doc == NULL)
		return NULL;
	/* each set_new takes its value, also on failure: nothing leaks */
	if (json_object_set_new(doc, "report",
				json_pack("{s:i, s:s, s:o, s:o}", "format_version", 1, "generator",
					  d->generator ? d->generator : "opra", "generated_at",
					  out_jstr(fa->generated_at, true), "appraisal",
					  out_jstr(d->rating->appraisal, false))) ||
	    json_object_set_new(doc, "appraisal_info", msg_json(&d->appraisal->base, d)) ||
	    json_object_set_new(doc, "seal",
				json_pack("{s:b, s:o, s:o, s:o, s:b}", "sealed", fa->sealed,
					  "sealed_at", out_jstr(fa->sealed_at, true), "sealed_by",
					  out_jstr(fa->sealed_by, true), "sealed_head",
					  out_jstr(fa->sealed_head, true), "seal_intact",
					  fa->seal_intact)) ||
	    json_object_set_new(doc, "chain",
				json_pack("{s:o, s:I, s:o, s:o}", "head", out_jstr(fa->head, true),
					  "events", (json_int_t)fa->events, "first_event_at",
					  out_jstr(fa->first_event_at, true), "last_event_at",
					  out_jstr(fa->last_event_at, true))) ||
	    json_object_set_new(
		    doc, "weaknesses",
		    array_of((ProtobufCMessage *const *)fa->weaknesses, fa->n_weaknesses, d)) ||
	    json_object_set_new(
		    doc, "judgements",
		    array_of((ProtobufCMessage *const *)fa->judgements, fa->n_judgements, d)) ||
	    json_object_set_new(
		    doc, "evidence",
		    array_of((ProtobufCMessage *const *)d->evidence, d->n_evidence, d))) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int dump(FILE *f, json_t *doc, const char *what)
{
	if (doc == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory building the %s report",
				    what);
	int bad = json_dumpf(doc, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0;
	json_decref(doc);
	fputc('\n', f);
	if (bad || ferror(f))
		return opra_err_set(OPRA_INTERNAL, "cannot write the %s report", what);
	return OPRA_OK;
}

int report_write_json(FILE *f, const report_doc *d)
{
	return dump(f, report_json(d), "json");
}

int report_write_oscal(FILE *f, const report_doc *d)
{
	return dump(f, report_oscal(d), "oscal");
}
