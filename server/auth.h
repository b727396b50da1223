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

/* User names: 1..64 of A-Z a-z 0-9 . _ - @, starting with a letter or digit. */
int auth_user_name_check(const char *name);

#endif
