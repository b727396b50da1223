/* Authentication: bearer token -> caller. */
#ifndef OPRA_AUTH_H
#define OPRA_AUTH_H

#include "db.h"
#include "method.h"
#include "token.h"

/* Checks the token's form first (no database needed for a malformed one),
 * then (re)connects if needed and looks the token up by its selector and compares the secret's hash
 * in constant time. OPRA_OK and *out filled, OPRA_UNAUTHENTICATED (missing, malformed, unknown or
 * revoked token: the message says which, never echoing the token), or a database status. */
int auth_token(caller *out, db *d, const char *token);

/* Verified tokens are remembered per thread (per worker) for at most
 * AUTH_CACHE_US: selector, the stored secret hash (the presented secret is
 * still compared in constant time on every request) and the caller it
 * names. A token revoked (or a user changed) through another oprad on the
 * same database stops working within that bound; through this process at
 * once, because dispatch calls auth_cache_invalidate after every committed
 * change of the User service. docs/admin.md, "Security". */
#define AUTH_CACHE_US 1000000LL
/* Forgets every cached verification in every thread of this process. */
void auth_cache_invalidate(void);

/* Creates a user with a fresh token. Returns ALREADY_EXISTS when the name is
 * taken. *token gets the token text (shown once). created_by may be 0. */
int auth_user_create(db *d, const char *name, const char *role, long long created_by,
		     opra_token *token, long long *id);

/* Slowing token guessing: a token bucket of failed authentications per
 * peer address (IP without port; "ipc" and "inproc" for local transports).
 * Each address may fail `burst` times at once; its budget refills at
 * `per_min` failures a minute. An address with no budget left gets
 * RESOURCE_EXHAUSTED with the seconds to wait for requests that need a
 * token (rpcserver.c answers them in the I/O callback: no worker, no
 * database). A correct token from that address works again once the
 * budget has refilled to one. Other addresses are not affected. The table
 * is bounded (AUTH_LIMIT_SLOTS): when it is full, the least suspicious
 * entry is forgotten. Thread-safe. docs/security.md. */
#define AUTH_FAIL_BURST	  20
#define AUTH_FAIL_PER_MIN 10
#define AUTH_LIMIT_SLOTS  4096
#define AUTH_ADDR_MAX	  63

typedef struct auth_limit auth_limit;

/* burst/per_min 0: the defaults above. Caller frees with auth_limit_free. */
int auth_limit_create(auth_limit **out, unsigned burst, unsigned per_min);
void auth_limit_free(auth_limit *l); /* NULL-safe */
/* 0 when `addr` may try to authenticate now, else the milliseconds until
 * it may (at least 1). */
long long auth_limit_wait_ms(auth_limit *l, const char *addr, long long now_us);
/* Records one failed authentication from addr. Returns 1 when this failure
 * used up the address's budget (the caller logs that once), else 0. */
int auth_limit_fail(auth_limit *l, const char *addr, long long now_us);

/* User names: 1..64 of A-Z a-z 0-9 . _ - @, starting with a letter or digit. */
int auth_user_name_check(const char *name);

#endif
