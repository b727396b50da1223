/* Envelope encode/decode and the checks every request passes first. */
#include "envelope.h"
#include "opra_err.h"
#include "testlib.h"

#include <string.h>

static size_t pack(uint8_t *buf, size_t cap, Opra__V1__Request *r)
{
	size_t n = opra__v1__request__get_packed_size(r);
	assert_true(n <= cap);
	return opra__v1__request__pack(r, buf);
}

static void request_round_trip(void **state)
{
	uint8_t buf[512], body[3] = {1, 2, 3};
	Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
	r.method = "opra.v1.System/Ping";
	r.token = "opra_abc";
	r.request_id = 0x1122334455667788ULL;
	r.idempotency_key = "key-1";
	r.deadline_ms = 5000;
	r.body.data = body;
	r.body.len = sizeof(body);
	r.client_id = "opra/0.1.0";
	r.site = "Münster";
	r.protocol_version = 1;
	size_t n = pack(buf, sizeof(buf), &r);

	Opra__V1__Request *d = NULL;
	assert_int_equal(envelope_request_decode(&d, buf, n), OPRA_OK);
	assert_string_equal(d->method, "opra.v1.System/Ping");
	assert_string_equal(d->idempotency_key, "key-1");
	assert_string_equal(d->site, "Münster");
	assert_true(d->request_id == 0x1122334455667788ULL);
	assert_int_equal(d->deadline_ms, 5000);
	assert_int_equal(d->body.len, 3);
	assert_memory_equal(d->body.data, body, 3);
	envelope_request_free(d);
}

static void garbage_is_refused(void **state)
{
	Opra__V1__Request *d = (void *)1;
	const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
	assert_int_equal(envelope_request_decode(&d, junk, sizeof(junk)), OPRA_INVALID_ARGUMENT);
	assert_null(d);
	assert_non_null(strstr(opra_err_msg(), "could not be decoded"));
	assert_int_equal(envelope_request_decode(&d, junk, 0), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "empty"));
}

static void truncated_is_refused(void **state)
{
	uint8_t buf[256];
	Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
	r.method = "opra.v1.System/Ping";
	r.token = "opra_xyz";
	size_t n = pack(buf, sizeof(buf), &r);
	Opra__V1__Request *d = NULL;
	/* Every strict prefix that cuts a field in half must fail, never crash. */
	int refused = 0;
	for (size_t cut = 1; cut < n; cut++) {
		if (envelope_request_decode(&d, buf, cut) != OPRA_OK)
			refused++;
		envelope_request_free(d);
		d = NULL;
	}
	assert_true(refused > 0);
}

static void method_name_rules(void **state)
{
	static const char *bad[] = {"",
				    "Ping",
				    "/Ping",
				    "opra.v1.System/",
				    "a/b/c",
				    "opra.v1.System/Pi ng",
				    "opra.v1.Sys\ntem/Ping"};
	uint8_t buf[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
		r.method = (char *)bad[i];
		size_t n = pack(buf, sizeof(buf), &r);
		Opra__V1__Request *d = NULL;
		assert_int_equal(envelope_request_decode(&d, buf, n), OPRA_INVALID_ARGUMENT);
		assert_null(d);
	}
	char svc[64], m[64];
	assert_int_equal(envelope_method_split("opra.v1.User/Add", svc, sizeof(svc), m, sizeof(m)),
			 OPRA_OK);
	assert_string_equal(svc, "opra.v1.User");
	assert_string_equal(m, "Add");
}

static void hostile_fields_are_refused(void **state)
{
	uint8_t buf[1024];
	char longkey[200];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	struct {
		const char *key, *site, *token;
	} cases[] = {
		{longkey, "", ""},	    /* key too long */
		{"key with space", "", ""}, /* key not a token */
		{"", "site\x01", ""},	    /* control char in site */
		{"", "\xc3\x28", ""},	    /* invalid UTF-8 */
		{"", "", "SECRETX\x7f"},    /* DEL in token */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
		r.method = "opra.v1.System/Ping";
		r.idempotency_key = (char *)cases[i].key;
		r.site = (char *)cases[i].site;
		r.token = (char *)cases[i].token;
		size_t n = pack(buf, sizeof(buf), &r);
		Opra__V1__Request *d = NULL;
		assert_int_equal(envelope_request_decode(&d, buf, n), OPRA_INVALID_ARGUMENT);
		/* The message must never echo a token. */
		assert_null(strstr(opra_err_msg(), "SECRETX"));
	}
}

/* A NUL inside an envelope string would make the server act on a prefix
 * ("north\0x" -> "north"): refused, naming the field. */
static void nul_inside_a_string_is_refused(void **state)
{
	uint8_t buf[256];
	Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
	r.method = "opra.v1.System/Ping";
	r.site = "northXsouth";
	size_t n = pack(buf, sizeof(buf), &r);
	uint8_t *x = memchr(buf, 'X', n);
	assert_non_null(x);
	*x = '\0';
	Opra__V1__Request *d = NULL;
	assert_int_equal(envelope_request_decode(&d, buf, n), OPRA_INVALID_ARGUMENT);
	assert_null(d);
	assert_non_null(strstr(opra_err_msg(), "site"));
	*x = 'Y'; /* the same bytes without the NUL decode */
	assert_int_equal(envelope_request_decode(&d, buf, n), OPRA_OK);
	assert_string_equal(d->site, "northYsouth");
	envelope_request_free(d);
}

static void response_round_trip(void **state)
{
	opra_buf b = OPRA_BUF_INIT;
	assert_int_equal(envelope_response_pack(&b, 7, OPRA_NOT_FOUND, "no such thing",
						"{\"current_version\":3}", NULL, 0),
			 OPRA_OK);
	Opra__V1__Response *r = NULL;
	assert_int_equal(envelope_response_decode(&r, b.data, b.len), OPRA_OK);
	assert_int_equal(r->status, OPRA_NOT_FOUND);
	assert_int_equal(r->request_id, 7);
	assert_string_equal(r->message, "no such thing");
	assert_string_equal(r->details, "{\"current_version\":3}");
	envelope_response_free(r);
	opra_buf_free(&b);

	/* A status outside the canonical range is refused by the client. */
	assert_int_equal(envelope_response_pack(&b, 1, 99, "x", NULL, NULL, 0), OPRA_OK);
	assert_int_equal(envelope_response_decode(&r, b.data, b.len), OPRA_INTERNAL);
	assert_non_null(strstr(opra_err_msg(), "unknown status 99"));
	opra_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_round_trip),
		cmocka_unit_test(garbage_is_refused),
		cmocka_unit_test(truncated_is_refused),
		cmocka_unit_test(method_name_rules),
		cmocka_unit_test(hostile_fields_are_refused),
		cmocka_unit_test(nul_inside_a_string_is_refused),
		cmocka_unit_test(response_round_trip),
	};
	return TESTLIB_RUN(tests);
}
