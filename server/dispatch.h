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
void dispatch_free(dispatcher *d);

/* Handles one request: decode envelope -> find method -> decode and
 * validate body -> authenticate -> authorise -> execute (in a transaction
 * with the idempotency record for mutating methods). Always appends one
 * encoded Response to out and returns its status. `queued_us` is how long
 * the request waited before a worker took it (for deadlines). Logs one line
 * per request at info level. Thread-safe for distinct db handles. */
int dispatch_handle(dispatcher *d, db *dbh, const uint8_t *data, size_t len, const char *peer,
		    long long queued_us, opra_buf *out);

/* Encodes an error response without a database (queue full, shutting
 * down). */
int dispatch_error_response(opra_buf *out, uint64_t request_id, int status, const char *message);

size_t dispatch_method_count(const dispatcher *d);
/* Snapshot of method i's counters. */
void dispatch_method_stats(const dispatcher *d, size_t i, method_stats *out);

#endif
