/* key = value configuration files (oprad --config, the client config). */
#include "kvfile.h"
#include "opra_err.h"
#include "testlib.h"

#include <string.h>

static void parses_keys_comments_quotes_and_repeats(void **state)
{
	const char *text = "# opra config\n"
			   "server = tcp://a:7430\n"
			   "\n"
			   "  server=ipc:///tmp/x  \n"
			   "token = \"opra_abc\"\n"
			   "site = Münster # not a comment\r\n";
	kvfile *kv = NULL;
	assert_int_equal(kvfile_parse(&kv, "cfg", text, strlen(text)), OPRA_OK);
	const char *v[4];
	assert_int_equal(kvfile_get_all(kv, "server", v, 4), 2);
	assert_string_equal(v[0], "tcp://a:7430");
	assert_string_equal(v[1], "ipc:///tmp/x");
	assert_string_equal(kvfile_get(kv, "server"), "ipc:///tmp/x");
	assert_string_equal(kvfile_get(kv, "token"), "opra_abc");
	assert_string_equal(kvfile_get(kv, "site"), "Münster # not a comment");
	assert_null(kvfile_get(kv, "missing"));
	kvfile_free(kv);
}

static void errors_name_the_line(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
		{"server = x\nno equals here\n", "cfg:2:"},
		{"a = 1\n\n = 3\n", "cfg:3: missing key"},
		{"Bad Key = 1\n", "cfg:1: key 'Bad Key'"},
		{"token = \"open\n", "cfg:1: unterminated quote"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kvfile *kv = NULL;
		assert_int_equal(kvfile_parse(&kv, "cfg", cases[i].text, strlen(cases[i].text)),
				 OPRA_INVALID_ARGUMENT);
		assert_null(kv);
		assert_non_null(strstr(opra_err_msg(), cases[i].expect));
	}
	kvfile *kv = NULL;
	const char bin[] = "a = \xff\xfe\n";
	assert_int_equal(kvfile_parse(&kv, "cfg", bin, sizeof(bin) - 1), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "UTF-8"));
}

static void missing_file_is_not_found(void **state)
{
	kvfile *kv = NULL;
	assert_int_equal(kvfile_load(&kv, "/nonexistent/opra/config"), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "/nonexistent/opra/config"));
}

static void booleans(void **state)
{
	(void)state;
	assert_int_equal(kvfile_bool("true"), 1);
	assert_int_equal(kvfile_bool("yes"), 1);
	assert_int_equal(kvfile_bool("1"), 1);
	assert_int_equal(kvfile_bool("false"), 0);
	assert_int_equal(kvfile_bool("no"), 0);
	assert_int_equal(kvfile_bool("0"), 0);
	assert_int_equal(kvfile_bool("maybe"), -1);
	assert_int_equal(kvfile_bool("TRUE"), -1);
	assert_int_equal(kvfile_bool(""), -1);
	assert_int_equal(kvfile_bool(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_keys_comments_quotes_and_repeats),
		cmocka_unit_test(errors_name_the_line),
		cmocka_unit_test(missing_file_is_not_found),
		cmocka_unit_test(booleans),
	};
	return TESTLIB_RUN(tests);
}
