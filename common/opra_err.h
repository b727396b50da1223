/* Status codes and the thread-local "last error" (libgit2 style).
 *
 * Status codes are the gRPC canonical codes; they travel unchanged in
 * Response.status and map to the CLI's exit codes (docs/cli.md). Functions
 * that can fail return one of them and leave a human-readable message in the
 * calling thread's last error: opra_err_set() records it and returns the
 * code so callers can write `return opra_err_set(OPRA_NOT_FOUND, ...)`. */
#ifndef OPRA_ERR_H
#define OPRA_ERR_H

#include <stddef.h>

typedef enum {
	OPRA_OK = 0,
	OPRA_CANCELLED = 1,
	OPRA_UNKNOWN = 2,
	OPRA_INVALID_ARGUMENT = 3,
	OPRA_DEADLINE_EXCEEDED = 4,
	OPRA_NOT_FOUND = 5,
	OPRA_ALREADY_EXISTS = 6,
	OPRA_PERMISSION_DENIED = 7,
	OPRA_RESOURCE_EXHAUSTED = 8,
	OPRA_FAILED_PRECONDITION = 9,
	OPRA_ABORTED = 10,
	OPRA_OUT_OF_RANGE = 11,
	OPRA_UNIMPLEMENTED = 12,
	OPRA_INTERNAL = 13,
	OPRA_UNAVAILABLE = 14,
	OPRA_DATA_LOSS = 15,
	OPRA_UNAUTHENTICATED = 16,
} opra_status;

#define OPRA_STATUS_MAX 16

/* CLI exit codes that do not come from a status. */
#define OPRA_EXIT_OK	0
#define OPRA_EXIT_USAGE 2

/* The longest message and details text kept; longer ones are truncated. */
#define OPRA_ERR_MSG_MAX     1024
#define OPRA_ERR_DETAILS_MAX 2048

/* "NOT_FOUND" etc.; "UNKNOWN" for codes outside 0..16. Never NULL. */
const char *opra_status_name(int code);
/* Inverse of opra_status_name (exact, upper case); -1 when not a name. */
int opra_status_from_name(const char *name);
/* The exit code the CLI uses for a status (table in docs/cli.md). */
int opra_status_exit_code(int code);

/* Records code and message for this thread and returns code. A code of
 * OPRA_OK clears the error. Clears any details. */
int opra_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Attaches a JSON object text (e.g. {"current_version":3}) to the current
 * error; NULL clears it. */
void opra_err_set_details(const char *json);
int opra_err_code(void);
/* Never NULL; "" when no error is recorded. */
const char *opra_err_msg(void);
const char *opra_err_details(void);
void opra_err_clear(void);

#endif
