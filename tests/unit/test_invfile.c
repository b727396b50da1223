/* Inventory files for bulk import: CSV (typed or one kind per file) and
 * JSON read into the same records; bad files refused with file, line and
 * field. */
#include "invfile.h"
#include "opra_err.h"
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path_buf[1024];

static const char *data(const char *name)
{
	snprintf(path_buf, sizeof(path_buf), "%s/tests/data/inventory/%s",
		 getenv("OPRA_SOURCE_DIR"), name);
	return path_buf;
}

/* The records of a file as one comparable text. */
static char *dump(const char *file, const char *format, const char *kind)
{
	inv_reader *r = NULL;
	inv_record rec;
	static char out[8192];
	size_t len = 0;
	int rc;
	if (inv_open(&r, data(file), format, kind) != OPRA_OK)
		fail_msg("%s: %s", file, opra_err_msg());
	while ((rc = inv_next(r, &rec)) == OPRA_OK) {
		len += (size_t)snprintf(
			out + len, sizeof(out) - len, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|",
			inv_kind_name(rec.kind), rec.name ? rec.name : "-",
			rec.parent ? rec.parent : "-", rec.site ? rec.site : "-",
			rec.unit ? rec.unit : "-", rec.mission ? rec.mission : "-",
			rec.criticality ? rec.criticality : "-", rec.type ? rec.type : "-",
			rec.owner ? rec.owner : "-", rec.description ? rec.description : "-",
			rec.service ? rec.service : "-", rec.asset ? rec.asset : "-");
		for (size_t i = 0; i < rec.n_tags; i++)
			len += (size_t)snprintf(out + len, sizeof(out) - len, "#%s", rec.tags[i]);
		len += (size_t)snprintf(out + len, sizeof(out) - len, "\n");
	}
	assert_int_equal(rc, OPRA_NOT_FOUND);
	inv_close(r);
	return strdup(out);
}

static void csv_and_json_read_the_same_records(void **state)
{
	char *csv = dump("typed.csv", NULL, NULL);
	char *json = dump("typed.json", NULL, NULL);
	assert_string_equal(csv, json);
	/* Quotes, commas, embedded newlines, UTF-8 and SQL text survive. */
	assert_non_null(strstr(csv, "unit|Münster, DE|HQ|Münster|"));
	assert_non_null(strstr(csv, "|O'Brien|line one\nline two|-|-|#prod#tier-1"));
	assert_non_null(strstr(csv, "asset|Robert'); DROP TABLE assets;--|"));
	assert_non_null(strstr(csv, "link|-|-|-|-|-|-|-|-|-|claims|db-1|"));
	free(csv);
	free(json);
}

static void line_numbers_and_kinds(void **state)
{
	inv_reader *r = NULL;
	inv_record rec;
	assert_int_equal(inv_open(&r, data("typed.csv"), "csv", NULL), OPRA_OK);
	long lines[8];
	int n = 0;
	while (inv_next(r, &rec) == OPRA_OK && n < 8)
		lines[n++] = rec.line;
	assert_int_equal(n, 6);
	assert_int_equal(lines[0], 2);
	assert_int_equal(lines[4], 7); /* after the two-line description */
	unsigned long long total = 0;
	assert_true(inv_progress(r, &total) == total && total > 0);
	inv_close(r);
}

static void one_kind_per_file(void **state)
{
	char *s = dump("assets.csv", NULL, NULL); /* kind from the file name */
	assert_non_null(strstr(s, "asset|laptops|-|-|-|-|-|technology|IT|"));
	assert_non_null(strstr(s, "asset|floor-3|-|-|HQ|-|-|facilities|"));
	free(s);
	s = dump("stuff.csv", "csv", "asset"); /* or from --kind */
	assert_non_null(strstr(s, "asset|x|"));
	free(s);
	inv_reader *r = NULL;
	assert_int_equal(inv_open(&r, data("stuff.csv"), "csv", NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "no 'kind' column"));
	assert_int_equal(inv_open(&r, data("stuff.csv"), "csv", "gizmo"), OPRA_INVALID_ARGUMENT);
}

static void bad_files_name_line_and_field(void **state)
{
	static const struct {
		const char *file;
		const char *expect;
	} cases[] = {
		{"bad-count.csv", "bad-count.csv:3: 2 fields, but the header has 3 columns"},
		{"bad-type.csv", "bad-type.csv:2: field 'type': unknown asset type 'spaceship'"},
		{"bad-criticality.csv", "bad-criticality.csv:2: field 'criticality': 'urgent'"},
		{"bad-missing-unit.csv", "bad-missing-unit.csv:2: a service needs a 'unit'"},
		{"bad-not-applicable.csv",
		 "bad-not-applicable.csv:2: field 'mission' does not apply "
		 "to a unit"},
		{"bad-column.csv", "bad-column.csv:1: unknown column 'colour'"},
		{"bad-quote.csv", "bad-quote.csv:2: unterminated quoted field"},
		{"bad-type.json", "bad-type.json: assets[0]: field 'type' must be a string"},
		{"bad-field.json", "bad-field.json: assets[0]: unknown field 'colour'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		inv_reader *r = NULL;
		inv_record rec;
		int rc = inv_open(&r, data(cases[i].file), NULL, NULL);
		while (rc == OPRA_OK && (rc = inv_next(r, &rec)) == OPRA_OK)
			;
		assert_int_equal(rc, OPRA_INVALID_ARGUMENT);
		if (strstr(opra_err_msg(), cases[i].expect) == NULL)
			fail_msg("%s: '%s' lacks '%s'", cases[i].file, opra_err_msg(),
				 cases[i].expect);
		inv_close(r);
	}
}

static void huge_json_is_refused_before_reading(void **state)
{
	char tmp[] = "/tmp/opra-inv-XXXXXX";
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{", 1), 1);
	assert_int_equal(ftruncate(fd, 100L * 1024 * 1024), 0);
	close(fd);
	inv_reader *r = NULL;
	assert_int_equal(inv_open(&r, tmp, NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "use CSV"));
	unlink(tmp);
	assert_int_equal(inv_open(&r, "/nonexistent/inv.csv", NULL, NULL), OPRA_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csv_and_json_read_the_same_records),
		cmocka_unit_test(line_numbers_and_kinds),
		cmocka_unit_test(one_kind_per_file),
		cmocka_unit_test(bad_files_name_line_and_field),
		cmocka_unit_test(huge_json_is_refused_before_reading),
	};
	return TESTLIB_RUN(tests);
}
