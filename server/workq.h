/* A bounded multi-producer multi-consumer queue of pointers. Producers
 * never block (aio callbacks push into it); consumers (worker threads)
 * block until an item arrives or the queue is closed. */
#ifndef OPRA_WORKQ_H
#define OPRA_WORKQ_H

#include <stddef.h>

typedef struct workq workq;

/* capacity >= 1. Caller frees with workq_free. */
int workq_create(workq **out, size_t capacity);
/* Never blocks. OPRA_OK, OPRA_RESOURCE_EXHAUSTED when full, or
 * OPRA_UNAVAILABLE once closed. Does not set the last error (hot path). */
int workq_push(workq *q, void *item);
/* Blocks until an item is available; returns NULL once the queue is closed
 * and empty. */
void *workq_pop(workq *q);
/* Never blocks: removes up to max queued items for which match(item, arg)
 * is true, oldest first, into out and returns how many. The items left
 * keep their order (they are only ever moved forward), so a request that
 * does not match is not overtaken by anything but the matching items taken
 * with it. match runs under the queue's lock: it must be quick and must not
 * touch the queue. */
size_t workq_take_matching(workq *q, int (*match)(void *item, void *arg), void *arg, void **out,
			   size_t max);
/* Wakes every waiting consumer; items already queued are still handed out. */
void workq_close(workq *q);
size_t workq_depth(workq *q);
size_t workq_capacity(const workq *q);
/* NULL-safe; the queue must be closed and no thread may be waiting in it. */
void workq_free(workq *q);

#endif
