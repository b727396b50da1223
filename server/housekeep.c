#include "housekeep.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

struct housekeeper {
	char *conninfo;
	housekeep_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* Deletes, slice by slice, what `sql` selects ($1 = days, $2 = slice;
 * it returns the number of rows removed). Adds the count to *total. */
static int sweep(db *d, const char *sql, long days, long long *total)
{
	char days_text[24], slice_text[24];
	const char *p[2] = {days_text, slice_text};
	snprintf(days_text, sizeof(days_text), "%ld", days);
	snprintf(slice_text, sizeof(slice_text), "%d", HOUSEKEEP_SLICE);
	for (;;) {
		PGresult *r = NULL;
		int rc = db_exec(&r, d, 0, sql, 2, p);
		if (rc != OPRA_OK)
			return rc;
		long long n = db_to_ll(PQcmdTuples(r));
		PQclear(r);
		*total += n;
		if (n < HOUSEKEEP_SLICE)
			return OPRA_OK;
	}
}

int housekeep_run_once(db *d, const housekeep_config *cfg, housekeep_counts *out)
{
	int rc = OPRA_OK;
	*out = (housekeep_counts){0};
	if (cfg->idempotency_days > 0)
		rc = sweep(d,
			   "DELETE FROM idempotency WHERE (user_id, key) IN (SELECT user_id, key "
			   "FROM idempotency WHERE created_at < now() - make_interval(days => "
			   "$1::integer) LIMIT $2::integer)",
			   cfg->idempotency_days, &out->idempotency);
	if (rc == OPRA_OK && cfg->abandoned_days > 0)
		/* Chunks go with their upload (ON DELETE CASCADE). An upload a
		 * blob refers to is committed, so never selected. */
		rc = sweep(d,
			   "DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE "
			   "committed_at IS NULL AND created_at < now() - make_interval(days => "
			   "$1::integer) LIMIT $2::integer)",
			   cfg->abandoned_days, &out->uploads);
	if (rc == OPRA_OK && cfg->abandoned_days > 0)
		/* Committed and aborted imports are deleted at once; what is
		 * left was abandoned. Staged batches go with it (CASCADE). */
		rc = sweep(d,
			   "DELETE FROM imports WHERE id IN (SELECT id FROM imports WHERE "
			   "created_at < now() - make_interval(days => $1::integer) LIMIT "
			   "$2::integer)",
			   cfg->abandoned_days, &out->imports);
	return rc;
}

static void *run(void *arg)
{
	housekeeper *h = arg;
	db *d = NULL;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += h->cfg.interval_s;
		while (!h->stop && pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT)
			;
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->mu);
		housekeep_counts n;
		int rc = d ? db_ensure(d) : db_open(&d, h->conninfo);
		if (rc == OPRA_OK)
			rc = housekeep_run_once(d, &h->cfg, &n);
		if (rc != OPRA_OK)
			log_warn("housekeeping: %s (trying again in %ld s)", opra_err_msg(),
				 h->cfg.interval_s);
		else if (n.idempotency || n.uploads || n.imports)
			log_info("housekeeping: removed %lld idempotency records, %lld abandoned "
				 "uploads, %lld abandoned imports",
				 n.idempotency, n.uploads, n.imports);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	db_close(d);
	return NULL;
}

int housekeep_start(housekeeper **out, const char *conninfo, const housekeep_config *cfg)
{
	housekeeper *h = opra_calloc(1, sizeof(*h));
	*out = NULL;
	if (h == NULL || (h->conninfo = opra_strdup(conninfo)) == NULL) {
		opra_free(h);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	h->cfg = *cfg;
	if (h->cfg.interval_s < 1)
		h->cfg.interval_s = 1;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (pthread_create(&h->thread, NULL, run, h) != 0) {
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		opra_free(h->conninfo);
		opra_free(h);
		return opra_err_set(OPRA_INTERNAL, "cannot start the housekeeping thread");
	}
	*out = h;
	return OPRA_OK;
}

void housekeep_stop(housekeeper *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	opra_free(h->conninfo);
	opra_free(h);
}
