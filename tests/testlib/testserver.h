/* The real server stack for db tests: a fresh database, migrations, an
 * admin user, the dispatcher and rpcserver listening on an ipc:// socket
 * in a temporary directory (ipc, unlike inproc, enforces the receive size
 * limit). Clients are the real rpc client library. */
#ifndef OPRA_TESTSERVER_H
#define OPRA_TESTSERVER_H

#include "db.h"
#include "dispatch.h"
#include "rpc.h"
#include "rpcserver.h"
#include "token.h"

typedef struct {
	char name[32];
	char conninfo[1024];
	char url[256];
	char sockdir[64];
	db *db; /* a connection of the test's own, for checks */
	dispatcher *disp;
	rpcserver *srv;
	server_info info;
	opra_token admin; /* token of the admin user "root" */
} testserver;

/* Sets everything up (skips with 77 without OPRA_TEST_DB). */
void testserver_setup(testserver *ts, const char *name, size_t recv_max);
/* (Re)starts the rpcserver with this many workers and queue slots. */
int testserver_start(testserver *ts, int workers, size_t queue);
void testserver_stop(testserver *ts);
void testserver_teardown(testserver *ts);
/* A client of the server with this token (NULL: none). */
rpc_client *testserver_client(testserver *ts, const char *token);
/* One call through the real rpc client. key: NULL for a read, "" for a
 * fresh idempotency key, or the key to use. *out (if out is not NULL) gets
 * the reply, freed by the caller with testserver_reply_free. */
int testserver_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *rd, void *out, const char *key);
void testserver_reply_free(void *m);
/* count(*)-style query returning one number. */
long testserver_count(testserver *ts, const char *sql);

#endif
