#include "token.h"

#include "opra_err.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_setup(void)
{
	sodium_ok = sodium_init() >= 0;
}

static int sodium_ready(void)
{
	pthread_once(&sodium_once, sodium_setup);
	return sodium_ok;
}

void opra_random(void *buf, size_t len)
{
	/* randombytes_buf cannot fail once libsodium is initialised; if
	 * initialisation failed we must not hand out predictable bytes. */
	if (!sodium_ready())
		abort();
	randombytes_buf(buf, len);
}

void opra_random_hex(char *out, size_t bytes)
{
	uint8_t raw[64];
	if (bytes > sizeof(raw))
		bytes = sizeof(raw);
	opra_random(raw, bytes);
	opra_hex(out, raw, bytes);
}

void opra_sha256(uint8_t out[32], const void *data, size_t len)
{
	sodium_ready();
	crypto_hash_sha256(out, data, len);
}

void opra_hex(char *hex, const uint8_t *bin, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[bin[i] >> 4];
		hex[2 * i + 1] = digits[bin[i] & 15];
	}
	hex[2 * len] = '\0';
}

int token_generate(opra_token *out)
{
	uint8_t sel[TOKEN_SELECTOR_BYTES];
	uint8_t secret[TOKEN_SECRET_BYTES];
	char sel64[TOKEN_SELECTOR_LEN + 2];
	char secret64[TOKEN_SECRET_LEN + 2];

	memset(out, 0, sizeof(*out));
	if (!sodium_ready())
		return opra_err_set(OPRA_INTERNAL, "libsodium could not be initialised");
	randombytes_buf(sel, sizeof(sel));
	randombytes_buf(secret, sizeof(secret));
	sodium_bin2base64(sel64, sizeof(sel64), sel, sizeof(sel),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(secret64, sizeof(secret64), secret, sizeof(secret),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	memcpy(out->selector, sel64, TOKEN_SELECTOR_LEN);
	memcpy(out->text, TOKEN_PREFIX, 5);
	memcpy(out->text + 5, sel64, TOKEN_SELECTOR_LEN);
	memcpy(out->text + 5 + TOKEN_SELECTOR_LEN, secret64, TOKEN_SECRET_LEN);
	/* Hash the secret's text form: that is what the parser sees. */
	crypto_hash_sha256(out->hash, (const uint8_t *)secret64, TOKEN_SECRET_LEN);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(secret64, sizeof(secret64));
	return OPRA_OK;
}

static int is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int token_parse(opra_token *out, const char *text)
{
	memset(out, 0, sizeof(*out));
	if (text == NULL || *text == '\0')
		return opra_err_set(
			OPRA_UNAUTHENTICATED,
			"no token given: pass --token, set OPRA_TOKEN, or put token = ... "
			"in the config file");
	size_t len = strnlen(text, TOKEN_TEXT_LEN + 1);
	if (len != TOKEN_TEXT_LEN || strncmp(text, TOKEN_PREFIX, 5) != 0)
		return opra_err_set(OPRA_UNAUTHENTICATED,
				    "the token is malformed (opra tokens are 'opra_' followed by "
				    "%d characters)",
				    TOKEN_SELECTOR_LEN + TOKEN_SECRET_LEN);
	for (size_t i = 5; i < len; i++)
		if (!is_b64url(text[i]))
			return opra_err_set(OPRA_UNAUTHENTICATED,
					    "the token is malformed (unexpected character)");
	if (!sodium_ready())
		return opra_err_set(OPRA_INTERNAL, "libsodium could not be initialised");
	memcpy(out->selector, text + 5, TOKEN_SELECTOR_LEN);
	crypto_hash_sha256(out->hash, (const uint8_t *)text + 5 + TOKEN_SELECTOR_LEN,
			   TOKEN_SECRET_LEN);
	return OPRA_OK;
}

bool token_hash_equal(const uint8_t a[TOKEN_HASH_BYTES], const uint8_t b[TOKEN_HASH_BYTES])
{
	return sodium_memcmp(a, b, TOKEN_HASH_BYTES) == 0;
}
