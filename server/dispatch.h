/* The method table and the request pipeline. Transport-free: takes the
 * bytes of one request and produces the bytes of one response.
 *
 * The table is built from protobuf-c's generated service descriptors (the
 * single source of method names and message types) joined with each
 * service's method_impl rows (handler, roles, flags). */
#ifndef OPRA_DISPATCH_H
#define OPRA_DISPATCH_H

#include "db.h"
#include "method.h"
#include "opra_buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dispatcher dispatcher;

typedef struct {
	const char *full_name; /* "opra.v1.System/Ping" */
	unsigned long long calls;
	unsigned long long errors;
	unsigned long long total_us;
} method_stats;

/* Builds the table. Fails (INTERNAL) if a descriptor method has no handler
 * row or a row names no descriptor method: a server never starts with a
 * hole in its table. Caller frees with dispatch_free. */
int dispatch_create(dispatcher **out, const server_info *info);
/* The same with more services after the built-in ones (tests use it to
 * exercise the pipeline with methods of their own). */
int dispatch_create_with(dispatcher **out, const server_info *info,
			 const service_impl *const *extra, size_t n_extra);
void dispatch_free(dispatcher *d);

/* Handles one request: decode envelope -> find method -> decode and
 * validate body -> authenticate -> authorise -> execute (in a transaction
 * with the idempotency record for mutating methods). Always appends one
 * encoded Response to out and returns its status. `queued_us` is how long
 * the request waited before a worker took it (for deadlines). Logs one line
 * per request at info level. Thread-safe for distinct db handles. */
int dispatch_handle(dispatcher *d, db *dbh, const uint8_t *data, size_t len, const char *peer,
		    long long queued_us, opra_buf *out);

/* One request for dispatch_run. */
typedef struct {
	/* in */
	const uint8_t *data; /* the encoded Request envelope */
	size_t len;
	const char *peer;
	long long queued_us; /* time spent in the work queue this time round */
	long long waited_ms; /* time already spent parked (long polls), 0 at first */
	int may_park;	     /* the transport can park this request (METHOD_PARKS) */
	opra_buf *out;	     /* receives the encoded Response (appended) */
	/* out */
	int status;
	int parked;	    /* no response: park the request; run it again when woken */
	long long park_key; /* wake on events of this appraisal id; 0: of any */
	long long park_ms;  /* wake after this long at the latest */
} dispatch_item;

/* Handles n requests popped together. Each gets the full pipeline (check
 * order as in dispatch_handle) and one response in its out, or is parked.
 * Mutating METHOD_BATCH requests among them are executed in ONE transaction
 * (group commit), each with its idempotency record: first all together
 * without savepoints; if anything fails before the commit, everything is
 * rolled back and the batch runs again with a savepoint per request, where
 * a failing request is rolled back alone and gets its own error; one that
 * failed with ABORTED (deadlock, serialisation) runs again alone after the
 * batch; if the commit fails every request of the batch gets that error.
 * No response is produced before its transaction committed. */
void dispatch_run(dispatcher *d, db *dbh, dispatch_item *items, size_t n);

/* The METHOD_* flags of the method an encoded Request names, read without
 * decoding the whole envelope (cheap enough for an aio callback); 0 when
 * the bytes name no known method. */
unsigned dispatch_peek_flags(const dispatcher *d, const uint8_t *data, size_t len);

/* Group-commit counters since the dispatcher was created. */
typedef struct {
	unsigned long long transactions;   /* batch transactions (2 or more requests each) */
	unsigned long long requests;	   /* requests executed in them */
	unsigned long long reruns;	   /* re-run alone after ABORTED inside a batch */
	unsigned long long fallbacks;	   /* batches that broke before their commit */
	unsigned long long set_batches;	   /* batches run set-based by a batch handler */
	unsigned long long savepoint_runs; /* batches run again with a savepoint per request
					      after a failure in the first, savepoint-free try */
} dispatch_batch_counters;
void dispatch_batch_stats(const dispatcher *d, dispatch_batch_counters *out);

/* Encodes an error response without a database (queue full, shutting
 * down). */
int dispatch_error_response(opra_buf *out, uint64_t request_id, int status, const char *message);

size_t dispatch_method_count(const dispatcher *d);
/* Snapshot of method i's counters. */
void dispatch_method_stats(const dispatcher *d, size_t i, method_stats *out);

#endif
