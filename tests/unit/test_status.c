/* Status names and the CLI exit-code table of docs/cli.md. */
#include "opra_err.h"
#include "testlib.h"

#include <string.h>

static void exit_codes_match_the_contract(void **state)
{
	static const struct {
		int status;
		int exit_code;
	} table[] = {
		{OPRA_OK, 0},
		{OPRA_INTERNAL, 1},
		{OPRA_UNKNOWN, 1},
		{OPRA_DATA_LOSS, 1},
		{OPRA_NOT_FOUND, 3},
		{OPRA_UNAUTHENTICATED, 4},
		{OPRA_PERMISSION_DENIED, 4},
		{OPRA_ALREADY_EXISTS, 5},
		{OPRA_ABORTED, 5},
		{OPRA_FAILED_PRECONDITION, 5},
		{OPRA_INVALID_ARGUMENT, 6},
		{OPRA_OUT_OF_RANGE, 6},
		{OPRA_UNAVAILABLE, 7},
		{OPRA_RESOURCE_EXHAUSTED, 7},
		{OPRA_DEADLINE_EXCEEDED, 7},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		assert_int_equal(opra_status_exit_code(table[i].status), table[i].exit_code);
	assert_int_equal(opra_status_exit_code(-1), 1);
	assert_int_equal(opra_status_exit_code(17), 1);
}

static void names_round_trip(void **state)
{
	for (int s = 0; s <= OPRA_STATUS_MAX; s++)
		assert_int_equal(opra_status_from_name(opra_status_name(s)), s);
	assert_string_equal(opra_status_name(OPRA_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(opra_status_name(OPRA_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(opra_status_name(1000), "UNKNOWN");
	assert_int_equal(opra_status_from_name("not_found"), -1);
	assert_int_equal(opra_status_from_name(NULL), -1);
}

static void last_error_is_per_thread_and_bounded(void **state)
{
	assert_int_equal(opra_err_set(OPRA_NOT_FOUND, "no unit named '%s'", "x"), OPRA_NOT_FOUND);
	assert_int_equal(opra_err_code(), OPRA_NOT_FOUND);
	assert_string_equal(opra_err_msg(), "no unit named 'x'");
	opra_err_set_details("{\"a\":1}");
	assert_string_equal(opra_err_details(), "{\"a\":1}");
	/* Setting a new error clears old details. */
	opra_err_set(OPRA_INTERNAL, "boom");
	assert_string_equal(opra_err_details(), "");
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	opra_err_set(OPRA_INTERNAL, "%s", big);
	assert_int_equal(strlen(opra_err_msg()), OPRA_ERR_MSG_MAX - 1);
	opra_err_clear();
	assert_int_equal(opra_err_code(), OPRA_OK);
	assert_string_equal(opra_err_msg(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exit_codes_match_the_contract),
		cmocka_unit_test(names_round_trip),
		cmocka_unit_test(last_error_is_per_thread_and_bounded),
	};
	return TESTLIB_RUN(tests);
}
