/* STUB: being implemented (issue 7). Every method answers UNIMPLEMENTED. */
#include "method.h"
#include "opra_err.h"

#include "opra/v1/rating.pb-c.h"

static int not_yet(call *c, const ProtobufCMessage *in)
{
	(void)c;
	(void)in;
	return opra_err_set(OPRA_UNIMPLEMENTED, "not implemented yet");
}

static const method_impl methods[] = {
	{"Characterize", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"WeaknessAdd", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Judge", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Show", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Candidates", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Link", not_yet, NULL, ROLES_ANY, 0, NULL},
};

const service_impl svc_rating = {&opra__v1__rating__descriptor, methods,
				 sizeof(methods) / sizeof(methods[0])};
