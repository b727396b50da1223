/* The transport side of oprad: an nng rep0 socket listening on one or more
 * URLs, a pool of contexts driven by aio callbacks (which never block), a
 * bounded work queue, and worker threads that each own a database
 * connection and run dispatch_run.
 *
 * Group commit: a worker that pops a METHOD_BATCH request also takes (without
 * blocking) up to batch_max - 1 more queued METHOD_BATCH requests and hands
 * them to dispatch_run together, which runs them in one transaction.
 *
 * Long polls: when dispatch parks a request (METHOD_PARKS, e.g. Events/Watch
 * finding nothing new), its context is parked in a waiters list with its
 * message and no reply; a spare context takes its place receiving, so
 * watchers never starve the pool. A timer thread re-queues a parked request
 * when its time is up or when the LISTEN thread (notify.c) reports events
 * of its appraisal; the worker then runs it again. */
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
	size_t batch_max;	   /* group commit: most METHOD_BATCH requests per transaction
				      (0: RPCSERVER_BATCH_MAX; 1: no grouping) */
	size_t max_parked;	   /* long polls waiting at once (0: RPCSERVER_MAX_PARKED);
				      beyond: RESOURCE_EXHAUSTED */
	int insecure;		   /* allow plain tcp:// (and ws://) on non-loopback addresses;
				      without it such a listener fails to start */
	/* Failed authentications per peer address (auth.h auth_limit): a burst
	 * of auth_fail_burst, refilled at auth_fail_per_min; an address that has
	 * used them up gets RESOURCE_EXHAUSTED for token-bearing requests,
	 * answered by the I/O callback without a worker or the database.
	 * 0: AUTH_FAIL_BURST / AUTH_FAIL_PER_MIN. */
	unsigned auth_fail_burst;
	unsigned auth_fail_per_min;
} rpcserver_options;

#define RPCSERVER_BATCH_MAX  32
#define RPCSERVER_MAX_PARKED 1024

/* Opens worker connections, starts workers, then listens. Every failure
 * (address in use, bad URL, TLS files unreadable, database unreachable) is
 * reported with what to do. Caller stops with rpcserver_stop. */
int rpcserver_start(rpcserver **out, const rpcserver_options *opts, dispatcher *d);
/* Graceful stop: new requests get UNAVAILABLE ("shutting down"), requests
 * already received finish and get their reply (up to drain_ms), then
 * everything is closed and freed. NULL-safe. */
void rpcserver_stop(rpcserver *s, int drain_ms);

/* Requests received and not yet answered (parked long polls included). */
size_t rpcserver_in_flight(rpcserver *s);
/* Long polls (Events/Watch) parked now: waiting without a worker thread or
 * a database connection. */
size_t rpcserver_parked(rpcserver *s);

#endif
