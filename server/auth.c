#include "auth.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned role_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "admin") == 0)
		return ROLE_ADMIN;
	if (strcmp(name, "program-office") == 0)
		return ROLE_PROGRAM_OFFICE;
	if (strcmp(name, "user") == 0)
		return ROLE_USER;
	if (strcmp(name, "automation") == 0)
		return ROLE_AUTOMATION;
	return 0;
}

const char *role_name(unsigned role)
{
	switch (role) {
	case ROLE_ADMIN:
		return "admin";
	case ROLE_PROGRAM_OFFICE:
		return "program-office";
	case ROLE_USER:
		return "user";
	case ROLE_AUTOMATION:
		return "automation";
	default:
		return "?";
	}
}

int auth_user_name_check(const char *name)
{
	size_t len = name ? strnlen(name, CALLER_NAME_MAX + 1) : 0;
	if (len == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "a user name must not be empty");
	if (len > CALLER_NAME_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "a user name is at most %d characters",
				    CALLER_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-' && ch != '@')))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "user names may hold only letters, digits, '.', '_', "
					    "'-' and '@', and start with a letter or digit");
	}
	return OPRA_OK;
}

/* The per-thread cache of verified tokens (auth.h). Small and direct-mapped
 * by selector: a worker serves few distinct tokens at a time, and a miss
 * only costs the lookup it would have made anyway. */
#define AUTH_CACHE_SLOTS 64

typedef struct {
	char selector[TOKEN_SELECTOR_LEN + 1]; /* "" = empty slot */
	uint8_t hash[TOKEN_HASH_BYTES];	       /* stored hash of the secret */
	caller who;
	long long until_us;
	unsigned long long epoch;
} auth_cache_entry;

static _Thread_local auth_cache_entry auth_cache[AUTH_CACHE_SLOTS];
static atomic_ullong auth_epoch = 1;

void auth_cache_invalidate(void)
{
	atomic_fetch_add(&auth_epoch, 1);
}

static auth_cache_entry *cache_slot(const char *selector)
{
	uint32_t h = 2166136261u;
	for (const char *p = selector; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &auth_cache[h % AUTH_CACHE_SLOTS];
}

/* A live entry for this token, or NULL. The secret is compared in
 * constant time against the stored hash, as on a miss. */
static const caller *cache_find(const opra_token *t)
{
	auth_cache_entry *e = cache_slot(t->selector);
	if (e->selector[0] == '\0' || strcmp(e->selector, t->selector) != 0)
		return NULL;
	if (e->epoch != atomic_load(&auth_epoch) || opra_now_us() >= e->until_us) {
		sodium_memzero(e, sizeof(*e));
		return NULL;
	}
	if (!token_hash_equal(e->hash, t->hash))
		return NULL;
	return &e->who;
}

static void cache_put(const opra_token *t, const uint8_t stored[TOKEN_HASH_BYTES],
		      const caller *who, unsigned long long epoch)
{
	auth_cache_entry *e = cache_slot(t->selector);
	snprintf(e->selector, sizeof(e->selector), "%s", t->selector);
	memcpy(e->hash, stored, TOKEN_HASH_BYTES);
	e->who = *who;
	e->epoch = epoch;
	e->until_us = opra_now_us() + AUTH_CACHE_US;
}

int auth_token(caller *out, db *d, const char *token)
{
	opra_token t;
	PGresult *r = NULL;
	uint8_t stored[TOKEN_HASH_BYTES];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = token_parse(&t, token)) != OPRA_OK)
		return rc;
	const caller *hit = cache_find(&t);
	if (hit) {
		*out = *hit;
		sodium_memzero(&t, sizeof(t));
		return OPRA_OK;
	}
	/* Read before the lookup: an invalidation during it makes the entry
	 * stale at once. */
	unsigned long long epoch = atomic_load(&auth_epoch);
	if ((rc = db_ensure(d)) != OPRA_OK)
		goto done;
	const char *params[1] = {t.selector};
	rc = db_exec(&r, d, 1,
		     "SELECT id, name, role, encode(token_hash, 'hex'), revoked_at IS NOT NULL, "
		     "coalesce(unit_id, 0) FROM users WHERE token_selector = $1",
		     1, params);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) != 1) {
		rc = opra_err_set(OPRA_UNAUTHENTICATED,
				  "the token is not recognised (was it copied whole? ask an admin "
				  "for a new one with 'opra user add')");
		goto done;
	}
	size_t bin_len = 0;
	if (sodium_hex2bin(stored, sizeof(stored), PQgetvalue(r, 0, 3),
			   (size_t)PQgetlength(r, 0, 3), NULL, &bin_len, NULL) != 0 ||
	    bin_len != sizeof(stored) || !token_hash_equal(stored, t.hash)) {
		rc = opra_err_set(OPRA_UNAUTHENTICATED,
				  "the token is not recognised (was it copied whole? ask an admin "
				  "for a new one with 'opra user add')");
		goto done;
	}
	if (strcmp(PQgetvalue(r, 0, 4), "t") == 0) {
		rc = opra_err_set(OPRA_UNAUTHENTICATED,
				  "the token of user '%s' has been revoked; ask an admin for a new "
				  "one",
				  PQgetvalue(r, 0, 1));
		goto done;
	}
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(r, 0, 1));
	out->role = role_from_name(PQgetvalue(r, 0, 2));
	out->unit_id = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
	cache_put(&t, stored, out, epoch);
	rc = OPRA_OK;
done:
	sodium_memzero(&t, sizeof(t));
	sodium_memzero(stored, sizeof(stored));
	PQclear(r);
	return rc;
}

int auth_user_create(db *d, const char *name, const char *role, long long created_by,
		     opra_token *token, long long *id)
{
	PGresult *r = NULL;
	char hash_hex[2 * TOKEN_HASH_BYTES + 1];
	char by[32];
	int rc;

	if ((rc = auth_user_name_check(name)) != OPRA_OK)
		return rc;
	if (role_from_name(role) == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown role '%s': use admin, program-office, user or "
				    "automation",
				    role);
	if ((rc = token_generate(token)) != OPRA_OK)
		return rc;
	opra_hex(hash_hex, token->hash, TOKEN_HASH_BYTES);
	snprintf(by, sizeof(by), "%lld", created_by);
	const char *params[5] = {name, role, token->selector, hash_hex, created_by > 0 ? by : NULL};
	rc = db_exec(&r, d, 1,
		     "INSERT INTO users (name, role, token_selector, token_hash, created_by) "
		     "VALUES ($1, $2, $3, decode($4, 'hex'), $5::bigint) RETURNING id",
		     5, params);
	if (rc == OPRA_ALREADY_EXISTS)
		rc = opra_err_set(OPRA_ALREADY_EXISTS, "a user named '%s' already exists", name);
	if (rc == OPRA_OK && id)
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (rc != OPRA_OK)
		sodium_memzero(token, sizeof(*token));
	return rc;
}

/* ---- failed-authentication limiter (auth.h) ---- */

#define AUTH_LIMIT_PROBE 8

typedef struct {
	char addr[AUTH_ADDR_MAX + 1]; /* "" = free */
	double budget;		      /* failures still allowed now */
	long long at_us;	      /* when budget was last brought up to date */
} auth_limit_entry;

struct auth_limit {
	pthread_mutex_t mu;
	double burst;
	double per_us; /* refill per microsecond */
	auth_limit_entry slots[AUTH_LIMIT_SLOTS];
};

int auth_limit_create(auth_limit **out, unsigned burst, unsigned per_min)
{
	*out = NULL;
	auth_limit *l = opra_calloc(1, sizeof(*l));
	if (l == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		opra_free(l);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "cannot create a mutex");
	}
	l->burst = burst ? burst : AUTH_FAIL_BURST;
	l->per_us = (per_min ? per_min : AUTH_FAIL_PER_MIN) / 60e6;
	*out = l;
	return OPRA_OK;
}

void auth_limit_free(auth_limit *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	opra_free(l);
}

static void limit_refill(const auth_limit *l, auth_limit_entry *e, long long now_us)
{
	if (now_us > e->at_us) {
		e->budget += (double)(now_us - e->at_us) * l->per_us;
		if (e->budget > l->burst)
			e->budget = l->burst;
		e->at_us = now_us;
	}
}

/* The entry of addr (mu held). With create, a new entry replaces a free
 * slot or the one with the most budget in the probe window; without,
 * NULL when addr has none. */
static auth_limit_entry *limit_find(auth_limit *l, const char *addr, long long now_us, int create)
{
	uint32_t h = 2166136261u;
	for (const char *p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	auth_limit_entry *victim = NULL;
	for (unsigned k = 0; k < AUTH_LIMIT_PROBE; k++) {
		auth_limit_entry *e = &l->slots[(h + k) % AUTH_LIMIT_SLOTS];
		if (e->addr[0] == '\0') {
			if (victim == NULL || victim->addr[0] != '\0')
				victim = e;
			continue;
		}
		if (strcmp(e->addr, addr) == 0)
			return e;
		limit_refill(l, e, now_us);
		if (victim == NULL || (victim->addr[0] != '\0' && e->budget > victim->budget))
			victim = e;
	}
	if (!create || victim == NULL)
		return NULL;
	snprintf(victim->addr, sizeof(victim->addr), "%s", addr);
	victim->budget = l->burst;
	victim->at_us = now_us;
	return victim;
}

long long auth_limit_wait_ms(auth_limit *l, const char *addr, long long now_us)
{
	long long ms = 0;
	pthread_mutex_lock(&l->mu);
	auth_limit_entry *e = limit_find(l, addr, now_us, 0);
	if (e) {
		limit_refill(l, e, now_us);
		if (e->budget < 1.0) {
			ms = (long long)((1.0 - e->budget) / l->per_us / 1000.0) + 1;
		} else if (e->budget >= l->burst) {
			e->addr[0] = '\0'; /* forgiven in full: free the slot */
		}
	}
	pthread_mutex_unlock(&l->mu);
	return ms;
}

int auth_limit_fail(auth_limit *l, const char *addr, long long now_us)
{
	int exhausted = 0;
	pthread_mutex_lock(&l->mu);
	auth_limit_entry *e = limit_find(l, addr, now_us, 1);
	if (e) {
		limit_refill(l, e, now_us);
		double before = e->budget;
		e->budget -= 1.0;
		if (e->budget < 0.0)
			e->budget = 0.0;
		exhausted = before >= 1.0 && e->budget < 1.0;
	}
	pthread_mutex_unlock(&l->mu);
	return exhausted;
}
