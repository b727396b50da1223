/* Token generation, parsing and hashing. */
#include "opra_err.h"
#include "testlib.h"
#include "token.h"

#include <string.h>

static void generated_tokens_parse_to_the_same_hash(void **state)
{
	opra_token t, p;
	assert_int_equal(token_generate(&t), OPRA_OK);
	assert_int_equal(strlen(t.text), TOKEN_TEXT_LEN);
	assert_memory_equal(t.text, "opra_", 5);
	assert_int_equal(token_parse(&p, t.text), OPRA_OK);
	assert_string_equal(p.selector, t.selector);
	assert_true(token_hash_equal(p.hash, t.hash));
	assert_string_equal(p.text, ""); /* the parser never keeps the token */
}

static void tokens_are_unique_and_carry_256_bits(void **state)
{
	/* 32 secret bytes -> 43 base64url characters. */
	assert_int_equal(TOKEN_SECRET_BYTES * 8, 256);
	opra_token a, b;
	for (int i = 0; i < 100; i++) {
		token_generate(&a);
		token_generate(&b);
		assert_string_not_equal(a.text, b.text);
		assert_string_not_equal(a.selector, b.selector);
		assert_false(token_hash_equal(a.hash, b.hash));
	}
}

static void one_changed_character_fails(void **state)
{
	opra_token t, p;
	token_generate(&t);
	char copy[TOKEN_TEXT_LEN + 1];
	memcpy(copy, t.text, sizeof(copy));
	copy[TOKEN_TEXT_LEN - 1] = copy[TOKEN_TEXT_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(token_parse(&p, copy), OPRA_OK);
	assert_string_equal(p.selector, t.selector);
	assert_false(token_hash_equal(p.hash, t.hash));
}

static void malformed_tokens_are_unauthenticated(void **state)
{
	opra_token p;
	static const char *bad[] = {"", "opra_", "hello",
				    "opra_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(token_parse(&p, bad[i]), OPRA_UNAUTHENTICATED);
		assert_true(strlen(opra_err_msg()) > 0);
	}
	assert_int_equal(token_parse(&p, NULL), OPRA_UNAUTHENTICATED);
	/* The message for a malformed token never repeats it. */
	token_parse(&p, "opra_secretsecret");
	assert_null(strstr(opra_err_msg(), "secretsecret"));
}

static void sha256_known_answer(void **state)
{
	uint8_t h[32];
	char hex[65];
	opra_sha256(h, "abc", 3);
	opra_hex(hex, h, 32);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generated_tokens_parse_to_the_same_hash),
		cmocka_unit_test(tokens_are_unique_and_carry_256_bits),
		cmocka_unit_test(one_changed_character_fails),
		cmocka_unit_test(malformed_tokens_are_unauthenticated),
		cmocka_unit_test(sha256_known_answer),
	};
	return TESTLIB_RUN(tests);
}
