/* The bounded work queue: backpressure, order, close, many threads. */
#include "opra_err.h"
#include "testlib.h"
#include "workq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static void full_queue_pushes_back(void **state)
{
	workq *q = NULL;
	assert_int_equal(workq_create(&q, 3), OPRA_OK);
	int items[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(workq_push(q, &items[i]), OPRA_OK);
	assert_int_equal(workq_push(q, &items[3]), OPRA_RESOURCE_EXHAUSTED);
	assert_int_equal(workq_depth(q), 3);
	/* FIFO order */
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(workq_pop(q), &items[i]);
	assert_int_equal(workq_push(q, &items[3]), OPRA_OK);
	assert_ptr_equal(workq_pop(q), &items[3]);
	workq_close(q);
	assert_int_equal(workq_push(q, &items[0]), OPRA_UNAVAILABLE);
	assert_null(workq_pop(q));
	workq_free(q);
	assert_int_equal(workq_create(&q, 0), OPRA_INVALID_ARGUMENT);
}

static void close_drains_queued_items_first(void **state)
{
	workq *q = NULL;
	int a, b;
	workq_create(&q, 4);
	workq_push(q, &a);
	workq_push(q, &b);
	workq_close(q);
	assert_ptr_equal(workq_pop(q), &a);
	assert_ptr_equal(workq_pop(q), &b);
	assert_null(workq_pop(q));
	workq_free(q);
}

#define PRODUCERS    4
#define PER_PRODUCER 20000

static workq *shared;
static atomic_long consumed_sum;
static atomic_long consumed_count;
static atomic_long rejected;

static void *producer(void *arg)
{
	intptr_t base = (intptr_t)arg;
	for (intptr_t i = 1; i <= PER_PRODUCER; i++) {
		while (workq_push(shared, (void *)(base + i)) == OPRA_RESOURCE_EXHAUSTED)
			atomic_fetch_add(&rejected, 1);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	void *p;
	while ((p = workq_pop(shared)) != NULL) {
		atomic_fetch_add(&consumed_sum, (long)(intptr_t)p);
		atomic_fetch_add(&consumed_count, 1);
	}
	return NULL;
}

static void many_threads_lose_nothing(void **state)
{
	pthread_t prod[PRODUCERS], cons[3];
	workq_create(&shared, 16);
	for (int i = 0; i < 3; i++)
		pthread_create(&cons[i], NULL, consumer, NULL);
	long expect = 0;
	for (int p = 0; p < PRODUCERS; p++) {
		intptr_t base = (intptr_t)p * 1000000;
		pthread_create(&prod[p], NULL, producer, (void *)base);
		expect += (long)base * PER_PRODUCER + (long)PER_PRODUCER * (PER_PRODUCER + 1) / 2;
	}
	for (int p = 0; p < PRODUCERS; p++)
		pthread_join(prod[p], NULL);
	workq_close(shared);
	for (int i = 0; i < 3; i++)
		pthread_join(cons[i], NULL);
	assert_int_equal(atomic_load(&consumed_count), PRODUCERS * PER_PRODUCER);
	assert_int_equal(atomic_load(&consumed_sum), expect);
	workq_free(shared);
}

static int is_even(void *item, void *arg)
{
	(void)arg;
	return (*(int *)item % 2) == 0;
}

static void take_matching_keeps_the_order_of_the_rest(void **state)
{
	workq *q = NULL;
	int v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	void *out[8];
	assert_int_equal(workq_create(&q, 5), OPRA_OK);
	/* Wrap the ring: head in the middle. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(workq_push(q, &v[7]), OPRA_OK);
	for (int i = 0; i < 3; i++)
		workq_pop(q);
	for (int i = 1; i <= 5; i++)
		assert_int_equal(workq_push(q, &v[i]), OPRA_OK); /* 1 2 3 4 5 */
	/* At most max, oldest first. */
	assert_int_equal(workq_take_matching(q, is_even, NULL, out, 1), 1);
	assert_ptr_equal(out[0], &v[2]);
	assert_int_equal(workq_depth(q), 4);
	assert_int_equal(workq_take_matching(q, is_even, NULL, out, 8), 1);
	assert_ptr_equal(out[0], &v[4]);
	assert_int_equal(workq_take_matching(q, is_even, NULL, out, 8), 0);
	/* The others are still there, in order, and the freed slots usable. */
	assert_int_equal(workq_push(q, &v[6]), OPRA_OK);
	assert_int_equal(workq_push(q, &v[0]), OPRA_OK);
	assert_int_equal(workq_depth(q), 5);
	assert_ptr_equal(workq_pop(q), &v[1]);
	assert_ptr_equal(workq_pop(q), &v[3]);
	assert_ptr_equal(workq_pop(q), &v[5]);
	assert_ptr_equal(workq_pop(q), &v[6]);
	assert_ptr_equal(workq_pop(q), &v[0]);
	assert_int_equal(workq_take_matching(q, is_even, NULL, out, 8), 0);
	workq_close(q);
	workq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_queue_pushes_back),
		cmocka_unit_test(close_drains_queued_items_first),
		cmocka_unit_test(many_threads_lose_nothing),
		cmocka_unit_test(take_matching_keeps_the_order_of_the_rest),
	};
	return TESTLIB_RUN(tests);
}
