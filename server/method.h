/* What a service handler sees: the call (caller, database, envelope) and
 * the declarative row that describes each method. Handlers never touch nng;
 * only rpcserver.c knows the transport. */
#ifndef OPRA_METHOD_H
#define OPRA_METHOD_H

#include "db.h"
#include "opra_buf.h"
#include "opra/v1/envelope.pb-c.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Global roles, as bits so a method row can allow several. */
enum {
	ROLE_ADMIN = 1u << 0,
	ROLE_PROGRAM_OFFICE = 1u << 1,
	ROLE_USER = 1u << 2,
	ROLE_AUTOMATION = 1u << 3,
};
#define ROLES_ANY (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_USER | ROLE_AUTOMATION)

/* "admin" -> ROLE_ADMIN; 0 when not a role name. */
unsigned role_from_name(const char *name);
/* ROLE_ADMIN -> "admin"; "?" for anything else. */
const char *role_name(unsigned role);

/* Method flags. */
#define METHOD_PUBLIC 0x1u /* no token needed (System/Ping only) */
#define METHOD_MUTATES                                                                             \
	0x2u /* needs an idempotency key; runs in one transaction                                  \
		together with its idempotency record */
#define METHOD_SECRET_REPLY                                                                        \
	0x4u /* the reply carries a secret (a token): it is not                                    \
		stored for replays */

#define METHOD_NO_KEY                                                                              \
	0x8u /* with METHOD_MUTATES: idempotent by nature (a retry changes                         \
		nothing, e.g. an upload chunk), so no idempotency key is needed and                \
		no record is kept; still one transaction */

#define METHOD_BATCH                                                                               \
	0x10u /* with METHOD_MUTATES: a small write a worker may group with other queued           \
		 METHOD_BATCH requests into one transaction (group commit), each in its own        \
		 savepoint with its idempotency record; no reply before the commit */

#define METHOD_PARKS                                                                               \
	0x20u /* a long poll: the handler may call call_park instead of answering; the             \
		 request then waits without a worker or a database connection until it is          \
		 woken (call_park's key notified, or its time is up) and runs again */

#define CALLER_NAME_MAX 64

typedef struct {
	long long id;
	char name[CALLER_NAME_MAX + 1];
	unsigned role;	   /* one ROLE_* bit */
	long long unit_id; /* users.unit_id: the unit whose subtree a ROLE_USER caller may
			      write in the inventory; 0 = not scoped */
} caller;

/* Facts about this server that handlers may report. */
typedef struct {
	const char *version;
	size_t max_message_size;
} server_info;

typedef struct {
	db *db;
	const caller *who; /* NULL for METHOD_PUBLIC methods */
	const Opra__V1__Request *req;
	const char *peer; /* remote address, for events and logs */
	const server_info *server;
	opra_buf *reply; /* the packed response message; use call_reply */
	const void *arg; /* the method row's arg */
	/* Long polls (METHOD_PARKS): */
	long long waited_ms; /* how long this request has already waited parked */
	int may_park;	     /* 0: call_park is refused; the handler must answer now */
	int parked;	     /* set by call_park */
	long long park_key;  /* set by call_park: wake on events of this appraisal id (0: any) */
	long long park_ms;   /* set by call_park: wake after this long at the latest */
} call;

/* Validates a decoded request body before authentication (check order:
 * envelope, method, body, authentication, authorisation, execution).
 * Returns OPRA_OK or INVALID_ARGUMENT/OUT_OF_RANGE with a message. */
typedef int (*method_validate_fn)(const ProtobufCMessage *in);
/* Executes the method. Mutating methods run inside a transaction that the
 * dispatcher commits only when the handler returns OPRA_OK. */
typedef int (*method_fn)(call *c, const ProtobufCMessage *in);

typedef struct {
	const char *name; /* method name as in the .proto service, e.g. "Ping" */
	method_fn fn;
	method_validate_fn validate; /* may be NULL */
	unsigned roles;		     /* ROLE_* bits allowed; ignored when PUBLIC */
	unsigned flags;		     /* METHOD_* */
	const void *arg;	     /* handed to fn as call.arg: lets one handler serve
					several rows (e.g. which kind of object) */
} method_impl;

typedef struct {
	const ProtobufCServiceDescriptor *desc;
	const method_impl *methods;
	size_t n_methods;
} service_impl;

/* Every service the server offers (dispatch.c), for the dispatcher and for
 * tests that must cover every method (the hostile flood, the body fuzzer).
 * Adding a service: write svc_x.c with a service_impl and list it there. */
extern const service_impl *const opra_services[];
extern const size_t opra_n_services;

/* Set-based group commit (server/dispatch.c): a METHOD_BATCH method may also
 * have a batch handler, listed in dispatch.c batch_handlers[] by its full
 * method name. When every request of a group-commit batch is for that method
 * (and all their idempotency keys are new), the dispatcher claims all keys in
 * one statement, calls the batch handler once inside the transaction, then
 * stores all idempotency records in one statement with the COMMIT. The
 * handler gets the n calls and bodies; for each request i it either answers
 * (call_reply on cs[i], done[i] = 1) or leaves done[i] 0, and the dispatcher
 * then runs the method's fn for that request in the same transaction.
 * Returning an error rolls the whole batch back; the dispatcher then runs the
 * requests with a savepoint each, so every refused request gets its own
 * error. */
typedef int (*method_batch_fn)(call *const *cs, const ProtobufCMessage *const *ins, size_t n,
			       unsigned char *done);

typedef struct {
	const char *full_name; /* e.g. "opra.v1.Evidence/Submit" */
	method_batch_fn fn;
} method_batch_impl;

/* Packs msg as the call's reply. */
int call_reply(call *c, const ProtobufCMessage *msg);

/* Asks for the request to wait (METHOD_PARKS only, when c->may_park): the
 * handler then returns OPRA_OK without a reply. The request runs again, with
 * c->waited_ms grown, once events of appraisal `key` (0: any appraisal) are
 * committed or after `ms` milliseconds, whichever comes first. Returns
 * OPRA_OK, or FAILED_PRECONDITION when the request may not park. */
int call_park(call *c, long long key, long long ms);

/* Records an event (who, when, from where, what, before/after as JSON text
 * or NULL) in the same transaction as the change. */
int call_event(call *c, const char *object, const char *before_json, const char *after_json);

#endif
