/* STUB: being implemented (issue 6). Every method answers UNIMPLEMENTED. */
#include "method.h"
#include "opra_err.h"

#include "opra/v1/appraisal.pb-c.h"

static int not_yet(call *c, const ProtobufCMessage *in)
{
	(void)c;
	(void)in;
	return opra_err_set(OPRA_UNIMPLEMENTED, "not implemented yet");
}

static const method_impl methods[] = {
	{"Create", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"List", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Show", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"ScopeAdd", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"MemberAdd", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Target", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Finalize", not_yet, NULL, ROLES_ANY, 0, NULL},
};

const service_impl svc_appraisal = {&opra__v1__appraisal__descriptor, methods,
				    sizeof(methods) / sizeof(methods[0])};
