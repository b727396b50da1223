#include "opra_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown; /* 0: hook off */
static atomic_int fail_sticky;
static atomic_long failures;

static int should_fail(void)
{
	long n = atomic_load(&fail_countdown);
	if (n <= 0)
		return 0;
	if (n == 1) {
		if (!atomic_load(&fail_sticky))
			atomic_store(&fail_countdown, 0);
		atomic_fetch_add(&failures, 1);
		return 1;
	}
	atomic_fetch_sub(&fail_countdown, 1);
	return 0;
}

void opra_alloc_fail_after(long n, int sticky)
{
	atomic_store(&fail_sticky, sticky);
	atomic_store(&fail_countdown, n > 0 ? n : 0);
}

long opra_alloc_failures(void)
{
	return atomic_load(&failures);
}

void *opra_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *opra_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *opra_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *opra_strndup(const char *s, size_t n)
{
	if (s == NULL)
		return NULL;
	size_t len = strnlen(s, n);
	char *d = opra_malloc(len + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *opra_strdup(const char *s)
{
	if (s == NULL)
		return NULL;
	return opra_strndup(s, strlen(s));
}

void opra_free(void *p)
{
	free(p);
}
