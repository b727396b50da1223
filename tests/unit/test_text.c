/* Validation of outside text, buffers and the allocation failure hook. */
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"
#include "opra_text.h"
#include "testlib.h"

#include <string.h>

static void utf8_validation(void **state)
{
	static const char *good[] = {"", "abc", "Münster", "日本", "\xf0\x9f\x98\x80"};
	static const char *bad[] = {"\xc3\x28",		"\xe2\x28\xa1",
				    "\xf0\x28\x8c\x28", "\xc0\xaf", /* overlong '/' */
				    "\xed\xa0\x80",		    /* surrogate */
				    "\xf4\x90\x80\x80",		    /* > U+10FFFF */
				    "\xe6\x97"};		    /* truncated */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(opra_utf8_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(opra_utf8_valid(bad[i], strlen(bad[i])));
}

static void names_and_text(void **state)
{
	assert_int_equal(opra_name_check("unit name", "Columbus site", 64), OPRA_OK);
	assert_int_equal(opra_name_check("unit name", "Robert'); DROP TABLE users;--", 64),
			 OPRA_OK); /* legal text: SQL is parameterised */
	assert_int_equal(opra_name_check("unit name", "", 64), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "unit name must not be empty"));
	assert_int_equal(opra_name_check("unit name", " x", 64), OPRA_INVALID_ARGUMENT);
	assert_int_equal(opra_name_check("unit name", "a\nb", 64), OPRA_INVALID_ARGUMENT);
	assert_int_equal(opra_name_check("unit name", "abcdef", 5), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "longer than 5"));
	assert_int_equal(opra_text_check("note", "line 1\nline 2\ttab", 100), OPRA_OK);
	assert_int_equal(opra_text_check("note", "bell\a", 100), OPRA_INVALID_ARGUMENT);
}

static void numbers(void **state)
{
	long v = 0;
	assert_true(opra_parse_long("42", 0, 100, &v));
	assert_int_equal(v, 42);
	assert_false(opra_parse_long("42x", 0, 100, &v));
	assert_false(opra_parse_long("", 0, 100, &v));
	assert_false(opra_parse_long("101", 0, 100, &v));
	assert_false(opra_parse_long("99999999999999999999999", 0, 100, &v));
	assert_false(opra_parse_long("-1", 0, 100, &v));
}

static void buffer_limit_and_alloc_failure(void **state)
{
	opra_buf b = OPRA_BUF_INIT;
	b.max = 8;
	assert_int_equal(opra_buf_puts(&b, "12345678"), OPRA_OK);
	assert_int_equal(opra_buf_puts(&b, "9"), OPRA_RESOURCE_EXHAUSTED);
	assert_int_equal(b.len, 8);
	assert_string_equal((char *)b.data, "12345678");
	opra_buf_free(&b);

	long before = opra_alloc_failures();
	opra_alloc_fail_after(1, 0);
	assert_null(opra_strdup("x"));
	assert_int_equal(opra_alloc_failures(), before + 1);
	char *ok = opra_strdup("y"); /* one-shot: the next succeeds */
	assert_non_null(ok);
	opra_free(ok);
	opra_alloc_fail_after(1, 1);
	assert_int_equal(opra_buf_printf(&b, "%d", 5), OPRA_RESOURCE_EXHAUSTED);
	opra_alloc_fail_after(0, 0);
	assert_int_equal(opra_buf_printf(&b, "%d-%s", 5, "x"), OPRA_OK);
	assert_string_equal((char *)b.data, "5-x");
	opra_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_validation),
		cmocka_unit_test(names_and_text),
		cmocka_unit_test(numbers),
		cmocka_unit_test(buffer_limit_and_alloc_failure),
	};
	return TESTLIB_RUN(tests);
}
