/* Conversion between the in-memory model (model.h) and its protobuf form
 * (proto/opra/v1/model.proto), used on both sides of Model/Import and
 * Model/Export. */
#ifndef OPRA_MODEL_PB_H
#define OPRA_MODEL_PB_H

#include "model.h"
#include "opra/v1/model.pb-c.h"

/* Builds a protobuf view of m. The strings are m's (not copied): keep m
 * alive while *out is used, and free *out with model_pb_free (never with
 * protobuf_c_message_free_unpacked). Full practice ids are filled in. */
int model_to_pb(Opra__V1__ModelDoc **out, const model *m);
void model_pb_free(Opra__V1__ModelDoc *doc);

/* Deep-copies a decoded protobuf model into a new model (origin names it in
 * messages, e.g. "import from alice"). Does not validate: call
 * model_validate. Caller frees with model_free. Refuses counts over the
 * model.h limits before allocating. */
int model_from_pb(model **out, const Opra__V1__ModelDoc *doc, const char *origin);

#endif
