/* Helpers shared by the cmocka tests. */
#ifndef OPRA_TESTLIB_H
#define OPRA_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define TESTLIB_SKIP 77

/* Creates a new, empty database on the throwaway cluster that
 * scripts/test.sh started (OPRA_TEST_DB is the conninfo of its maintenance
 * database) and writes a conninfo for it into out. When OPRA_TEST_DB is not
 * set, prints why and exits 77 so CTest reports the test as skipped. */
void testlib_fresh_db(char *out, size_t size, const char *name);
/* Drops a database created by testlib_fresh_db (best effort). */
void testlib_drop_db(const char *name);

/* Runs cmocka with output on stdout; returns the number of failures. */
#define TESTLIB_RUN(tests)                                                                         \
	(cmocka_set_message_output(CM_OUTPUT_STDOUT), cmocka_run_group_tests(tests, NULL, NULL))

#endif
