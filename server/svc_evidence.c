/* STUB: being implemented (issue 6). Every method answers UNIMPLEMENTED. */
#include "method.h"
#include "opra_err.h"

#include "opra/v1/evidence.pb-c.h"

static int not_yet(call *c, const ProtobufCMessage *in)
{
	(void)c;
	(void)in;
	return opra_err_set(OPRA_UNIMPLEMENTED, "not implemented yet");
}

static const method_impl methods[] = {
	{"UploadBegin", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"UploadChunk", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"UploadCommit", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Submit", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"List", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Get", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Accept", not_yet, NULL, ROLES_ANY, 0, NULL},
	{"Reject", not_yet, NULL, ROLES_ANY, 0, NULL},
};

const service_impl svc_evidence = {&opra__v1__evidence__descriptor, methods,
				   sizeof(methods) / sizeof(methods[0])};
