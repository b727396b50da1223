#include "workq.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include <pthread.h>

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void **ring;
	size_t cap;
	size_t head; /* next to pop */
	size_t len;
	int closed;
};

int workq_create(workq **out, size_t capacity)
{
	*out = NULL;
	if (capacity == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "queue capacity must be at least 1");
	workq *q = opra_calloc(1, sizeof(*q));
	if (q == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	q->ring = opra_calloc(capacity, sizeof(void *));
	if (q->ring == NULL) {
		opra_free(q);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	q->cap = capacity;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	*out = q;
	return OPRA_OK;
}

int workq_push(workq *q, void *item)
{
	int rc = OPRA_OK;
	pthread_mutex_lock(&q->mu);
	if (q->closed) {
		rc = OPRA_UNAVAILABLE;
	} else if (q->len == q->cap) {
		rc = OPRA_RESOURCE_EXHAUSTED;
	} else {
		q->ring[(q->head + q->len) % q->cap] = item;
		q->len++;
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void *workq_pop(workq *q)
{
	void *item = NULL;
	pthread_mutex_lock(&q->mu);
	while (q->len == 0 && !q->closed)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->len > 0) {
		item = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	pthread_mutex_unlock(&q->mu);
	return item;
}

size_t workq_take_matching(workq *q, int (*match)(void *item, void *arg), void *arg, void **out,
			   size_t max)
{
	size_t taken = 0, kept = 0;
	pthread_mutex_lock(&q->mu);
	/* One pass: matching items go out (up to max), the others are
	 * compacted towards the head in their original order. */
	for (size_t i = 0; i < q->len; i++) {
		void *item = q->ring[(q->head + i) % q->cap];
		if (taken < max && match(item, arg))
			out[taken++] = item;
		else
			q->ring[(q->head + kept++) % q->cap] = item;
	}
	q->len = kept;
	pthread_mutex_unlock(&q->mu);
	return taken;
}

void workq_close(workq *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

size_t workq_depth(workq *q)
{
	pthread_mutex_lock(&q->mu);
	size_t n = q->len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t workq_capacity(const workq *q)
{
	return q->cap;
}

void workq_free(workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	opra_free(q->ring);
	opra_free(q);
}
