/* The transport side of oprad: an nng rep0 socket listening on one or more
 * URLs, a pool of contexts driven by aio callbacks (which never block), a
 * bounded work queue, and worker threads that each own a database
 * connection and run dispatch_handle. */
#ifndef OPRA_RPCSERVER_H
#define OPRA_RPCSERVER_H

#include "dispatch.h"

#include <stddef.h>

typedef struct rpcserver rpcserver;

#define RPCSERVER_MAX_URLS 16

typedef struct {
	const char *urls[RPCSERVER_MAX_URLS];
	size_t n_urls;
	const char *conninfo;	   /* each worker opens its own connection */
	int workers;		   /* >= 1 */
	size_t queue_depth;	   /* requests waiting for a worker; beyond: RESOURCE_EXHAUSTED */
	size_t recv_max;	   /* NNG_OPT_RECVMAXSZ, set before listening */
	const char *tls_cert;	   /* PEM certificate chain for tls+tcp:// listeners */
	const char *tls_key;	   /* PEM private key */
	const char *tls_client_ca; /* when set, clients must present a certificate signed by it */
} rpcserver_options;

/* Opens worker connections, starts workers, then listens. Every failure
 * (address in use, bad URL, TLS files unreadable, database unreachable) is
 * reported with what to do. Caller stops with rpcserver_stop. */
int rpcserver_start(rpcserver **out, const rpcserver_options *opts, dispatcher *d);
/* Graceful stop: new requests get UNAVAILABLE ("shutting down"), requests
 * already received finish and get their reply (up to drain_ms), then
 * everything is closed and freed. NULL-safe. */
void rpcserver_stop(rpcserver *s, int drain_ms);

/* Requests received and not yet answered. */
size_t rpcserver_in_flight(rpcserver *s);

#endif
