/* STUB: being implemented (issue 6). Every method answers UNIMPLEMENTED. */
#include "method.h"
#include "opra_err.h"

#include "opra/v1/events.pb-c.h"

static int not_yet(call *c, const ProtobufCMessage *in)
{
	(void)c;
	(void)in;
	return opra_err_set(OPRA_UNIMPLEMENTED, "not implemented yet");
}

static const method_impl methods[] = {
	{"Audit", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Watch", not_yet, NULL, ROLES_ANY, 0, NULL},
};

const service_impl svc_events = {&opra__v1__events__descriptor, methods,
				 sizeof(methods) / sizeof(methods[0])};
