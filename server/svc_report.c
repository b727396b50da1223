/* STUB (issue 8): the Report service; every method answers UNIMPLEMENTED until
 * it is written. */
#include "method.h"
#include "opra_err.h"

#include "opra/v1/report.pb-c.h"

static int stub(call *c, const ProtobufCMessage *in)
{
	(void)c;
	(void)in;
	return opra_err_set(OPRA_UNIMPLEMENTED, "this server does not implement Report yet");
}

static const method_impl methods[] = {
	{"Facts", stub, NULL, ROLES_ANY, 0, NULL},
};

const service_impl svc_report = {&opra__v1__report__descriptor, methods,
				 sizeof(methods) / sizeof(methods[0])};
