/* opra.v1.System: Ping (public) and Whoami. */
#include "method.h"
#include "opra_err.h"
#include "opra_version.h"

#include "opra/v1/system.pb-c.h"

#include <time.h>

static int system_ping(call *c, const ProtobufCMessage *in)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	Opra__V1__PingResponse resp = OPRA__V1__PING_RESPONSE__INIT;
	resp.server_version = (char *)c->server->version;
	resp.protocol_version = OPRA_PROTOCOL_VERSION;
	resp.server_time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	resp.max_message_size = c->server->max_message_size;
	return call_reply(c, &resp.base);
}

static int system_whoami(call *c, const ProtobufCMessage *in)
{
	Opra__V1__WhoamiResponse resp = OPRA__V1__WHOAMI_RESPONSE__INIT;
	resp.name = (char *)c->who->name;
	resp.role = (char *)role_name(c->who->role);
	return call_reply(c, &resp.base);
}

static const method_impl system_methods[] = {
	{"Ping", system_ping, NULL, 0, METHOD_PUBLIC, NULL},
	{"Whoami", system_whoami, NULL, ROLES_ANY, 0, NULL},
};

const service_impl svc_system = {&opra__v1__system__descriptor, system_methods,
				 sizeof(system_methods) / sizeof(system_methods[0])};
