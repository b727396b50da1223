/* pbcheck_strings: a NUL inside a string field is refused, at any depth;
 * bytes fields and malformed input are left alone. */
#include "opra_err.h"
#include "pbcheck.h"
#include "testlib.h"

#include "opra/v1/evidence.pb-c.h"
#include "opra/v1/inventory.pb-c.h"

#include <string.h>

static void test_nul_in_nested_string_refused(void **state)
{
	(void)state;
	/* UnitAddRequest { unit { name: "x\0y" } } */
	static const uint8_t bad[] = {0x0a, 0x05, 0x0a, 0x03, 'x', 0x00, 'y'};
	assert_int_equal(pbcheck_strings(&opra__v1__unit_add_request__descriptor, bad, sizeof(bad)),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "'unit.name'"));
	assert_non_null(strstr(opra_err_msg(), "NUL"));
	/* The same without the NUL is fine. */
	static const uint8_t good[] = {0x0a, 0x05, 0x0a, 0x03, 'x', '-', 'y'};
	assert_int_equal(
		pbcheck_strings(&opra__v1__unit_add_request__descriptor, good, sizeof(good)),
		OPRA_OK);
	/* A NUL in the second of two strings (parent). */
	static const uint8_t parent[] = {0x0a, 0x08, 0x0a, 0x01, 'a', 0x12, 0x03, 'b', 0, 'c'};
	assert_int_equal(
		pbcheck_strings(&opra__v1__unit_add_request__descriptor, parent, sizeof(parent)),
		OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "'unit.parent'"));
}

static void test_bytes_and_malformed_left_alone(void **state)
{
	(void)state;
	/* A bytes field may hold NULs: pack a real chunk request. */
	Opra__V1__UploadChunkRequest ch = OPRA__V1__UPLOAD_CHUNK_REQUEST__INIT;
	uint8_t data[4] = {0, 1, 0, 2}, buf[256];
	ch.data.data = data;
	ch.data.len = sizeof(data);
	size_t n = opra__v1__upload_chunk_request__pack(&ch, buf);
	assert_int_equal(pbcheck_strings(&opra__v1__upload_chunk_request__descriptor, buf, n),
			 OPRA_OK);
	/* Truncated, a huge length, a group: the decoder's business. */
	static const uint8_t cut[] = {0x0a, 0x05, 0x0a, 0x03, 'x'};
	static const uint8_t huge[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
	static const uint8_t group[] = {0x0b, 0x0c};
	assert_int_equal(pbcheck_strings(&opra__v1__unit_add_request__descriptor, cut, sizeof(cut)),
			 OPRA_OK);
	assert_int_equal(
		pbcheck_strings(&opra__v1__unit_add_request__descriptor, huge, sizeof(huge)),
		OPRA_OK);
	assert_int_equal(
		pbcheck_strings(&opra__v1__unit_add_request__descriptor, group, sizeof(group)),
		OPRA_OK);
	assert_int_equal(pbcheck_strings(&opra__v1__unit_add_request__descriptor, NULL, 0),
			 OPRA_OK);
}

/* pb_peek_field: top-level fields without decoding; the last of a
 * repeated singular field wins, as in decoding. */
static void test_peek_field(void **state)
{
	(void)state;
	/* field 1 "ab", field 2 varint 300, field 1 "xyz" */
	static const uint8_t m[] = {0x0a, 0x02, 'a',  'b', 0x10, 0xac,
				    0x02, 0x0a, 0x03, 'x', 'y',	 'z'};
	uint64_t v = 0;
	const uint8_t *bytes = NULL;
	assert_int_equal(pb_peek_field(m, sizeof(m), 1, &v, &bytes), 1);
	assert_int_equal(v, 3);
	assert_memory_equal(bytes, "xyz", 3);
	assert_int_equal(pb_peek_field(m, sizeof(m), 2, &v, &bytes), 1);
	assert_int_equal(v, 300);
	assert_null(bytes);
	assert_int_equal(pb_peek_field(m, sizeof(m), 3, &v, NULL), 0);
	/* Not well-formed: a length past the end, a cut varint, a group. */
	static const uint8_t past[] = {0x0a, 0x09, 'a'};
	static const uint8_t cut[] = {0x10, 0xac};
	static const uint8_t group[] = {0x0b, 0x0c};
	assert_int_equal(pb_peek_field(past, sizeof(past), 1, &v, NULL), 0);
	assert_int_equal(pb_peek_field(cut, sizeof(cut), 2, &v, NULL), 0);
	assert_int_equal(pb_peek_field(group, sizeof(group), 1, &v, NULL), 0);
	assert_int_equal(pb_peek_field(NULL, 0, 1, &v, NULL), 0);
	/* A good field followed by garbage: the message is not protobuf. */
	static const uint8_t tail[] = {0x0a, 0x01, 'a', 0x0a, 0x7f};
	assert_int_equal(pb_peek_field(tail, sizeof(tail), 1, &v, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nul_in_nested_string_refused),
		cmocka_unit_test(test_bytes_and_malformed_left_alone),
		cmocka_unit_test(test_peek_field),
	};
	return TESTLIB_RUN(tests);
}
