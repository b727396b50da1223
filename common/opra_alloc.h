/* Allocation wrappers with a failure-injection hook for tests (SQLite
 * style). All opra code allocates through these; memory from them is freed
 * with opra_free (which is free(3), so libraries may free it too). */
#ifndef OPRA_ALLOC_H
#define OPRA_ALLOC_H

#include <stddef.h>

void *opra_malloc(size_t n);
void *opra_calloc(size_t count, size_t size);
void *opra_realloc(void *p, size_t n);
/* NULL in gives NULL out (not an error). */
char *opra_strdup(const char *s);
char *opra_strndup(const char *s, size_t n);
void opra_free(void *p);

/* Test hook: the n-th allocation from now on (1 = the next) fails, and so
 * does every one after it while `sticky` is non-zero. n <= 0 disables. */
void opra_alloc_fail_after(long n, int sticky);
/* How many allocations have been refused by the hook so far. */
long opra_alloc_failures(void);

#endif
