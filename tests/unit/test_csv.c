/* The streaming CSV reader: quotes, embedded newlines, line numbers,
 * limits, bad bytes. */
#include "csv.h"
#include "opra_err.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	csv_reader *r;
	FILE *f;
} reader;

static reader open_text(const char *text, size_t len)
{
	reader rd;
	rd.f = fmemopen((void *)text, len, "r");
	assert_non_null(rd.f);
	assert_int_equal(csv_open(&rd.r, rd.f, "in.csv"), OPRA_OK);
	return rd;
}

static void close_reader(reader *rd)
{
	csv_close(rd->r);
	fclose(rd->f);
}

static void quotes_newlines_and_line_numbers(void **state)
{
	const char text[] = "\xef\xbb\xbfkind,name,note\r\n"
			    "asset,\"db, primary\",\"says \"\"hi\"\"\"\r\n"
			    "\n"
			    "asset,multi,\"line one\nline two\"\n"
			    "unit,Münster,\n"
			    "service,last,x";
	reader rd = open_text(text, strlen(text));
	char **f;
	size_t n;
	long line;
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_OK);
	assert_int_equal(n, 3);
	assert_string_equal(f[0], "kind"); /* BOM skipped */
	assert_int_equal(line, 1);
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_OK);
	assert_string_equal(f[1], "db, primary");
	assert_string_equal(f[2], "says \"hi\"");
	assert_int_equal(line, 2);
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_OK);
	assert_int_equal(line, 4); /* the blank line 3 is skipped */
	assert_string_equal(f[2], "line one\nline two");
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_OK);
	assert_int_equal(line, 6); /* the embedded newline counted */
	assert_string_equal(f[1], "Münster");
	assert_string_equal(f[2], "");
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_OK);
	assert_string_equal(f[2], "x"); /* no final newline */
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_NOT_FOUND);
	close_reader(&rd);
}

static void malformed_input_names_the_line(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
		{"a,b\nc,\"open\n", "in.csv:2: unterminated quoted field 2"},
		{"a,b\nc,d\"e\n", "in.csv:2: field 2: a quote inside an unquoted field"},
		{"a,\"b\"x\n", "in.csv:1: field 2: text after the closing quote"},
		{"ok\nbad,\xff\xfe\n", "in.csv:2: field 2 is not valid UTF-8"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reader rd = open_text(cases[i].text, strlen(cases[i].text));
		char **f;
		size_t n;
		long line;
		int rc;
		while ((rc = csv_next(rd.r, &f, &n, &line)) == OPRA_OK)
			;
		assert_int_equal(rc, OPRA_INVALID_ARGUMENT);
		if (strstr(opra_err_msg(), cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' does not contain '%s'", i, opra_err_msg(),
				 cases[i].expect);
		close_reader(&rd);
	}
	/* A NUL byte (binary file). */
	const char bin[] = "a,b\0c\n";
	reader rd = open_text(bin, sizeof(bin) - 1);
	char **f;
	size_t n;
	long line;
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "NUL"));
	close_reader(&rd);
}

static void limits_hold_with_bounded_memory(void **state)
{
	/* A field over the limit is refused, whatever follows. */
	size_t big = CSV_MAX_FIELD + 10;
	char *text = malloc(big + 8);
	memset(text, 'x', big);
	memcpy(text + big, ",y\n", 4);
	reader rd = open_text(text, big + 3);
	char **f;
	size_t n;
	long line;
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "longer than 65536 bytes"));
	close_reader(&rd);
	/* Too many fields. */
	memset(text, ',', 300);
	text[300] = '\n';
	rd = open_text(text, 301);
	assert_int_equal(csv_next(rd.r, &f, &n, &line), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "more than 255 fields"));
	close_reader(&rd);
	free(text);
}

static void many_records_stream(void **state)
{
	/* 200k records through the 64 KiB block: offsets grow, memory does not. */
	FILE *f = tmpfile();
	for (int i = 0; i < 200000; i++)
		fprintf(f, "asset,a%d,\"quoted, %d\"\n", i, i);
	rewind(f);
	csv_reader *r = NULL;
	assert_int_equal(csv_open(&r, f, "big.csv"), OPRA_OK);
	char **fields;
	size_t n;
	long line, count = 0;
	while (csv_next(r, &fields, &n, &line) == OPRA_OK) {
		assert_int_equal(n, 3);
		count++;
	}
	assert_int_equal(count, 200000);
	assert_int_equal(line, 200000);
	assert_true(csv_offset(r) > 4000000);
	csv_close(r);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quotes_newlines_and_line_numbers),
		cmocka_unit_test(malformed_input_names_the_line),
		cmocka_unit_test(limits_hold_with_bounded_memory),
		cmocka_unit_test(many_records_stream),
	};
	return TESTLIB_RUN(tests);
}
