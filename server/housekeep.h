/* Housekeeping: what the server keeps only for a while, removed by a
 * background thread with its own database connection (docs/admin.md,
 * "Housekeeping"):
 *   - idempotency records older than idempotency_days: a retry with the
 *     same key after that is treated as a new operation;
 *   - uploads never committed, and bulk imports never committed or
 *     aborted, begun more than abandoned_days ago (with their chunks and
 *     staged batches): a client resuming later starts that file again.
 * A pass deletes in slices of HOUSEKEEP_SLICE rows, each its own
 * transaction, so it never holds many locks or a long transaction. */
#ifndef OPRA_HOUSEKEEP_H
#define OPRA_HOUSEKEEP_H

#include "db.h"

#define HOUSEKEEP_SLICE 5000

typedef struct {
	long idempotency_days; /* 0: keep forever */
	long abandoned_days;   /* 0: keep forever */
	long interval_s;       /* between passes (the first runs after one interval) */
} housekeep_config;

typedef struct {
	long long idempotency;
	long long uploads;
	long long imports;
} housekeep_counts;

/* One pass on d (tests call it directly). Returns OPRA_OK, or the database
 * error that stopped it (what was deleted before stays deleted). */
int housekeep_run_once(db *d, const housekeep_config *cfg, housekeep_counts *out);

typedef struct housekeeper housekeeper;

/* Starts the background thread; it connects to conninfo when a pass is
 * due and logs each pass that removed something at info level. */
int housekeep_start(housekeeper **out, const char *conninfo, const housekeep_config *cfg);
/* Stops it (waits for a pass in progress to finish its slice). NULL is a
 * no-op. */
void housekeep_stop(housekeeper *h);

#endif
