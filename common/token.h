/* Bearer tokens: "opra_" + selector (12 chars) + secret (43 chars), both
 * base64url without padding. The selector (72 random bits) finds the row;
 * the secret (256 random bits) is never stored, only its SHA-256, and is
 * compared in constant time. Tokens are shown once, when created. */
#ifndef OPRA_TOKEN_H
#define OPRA_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_PREFIX	     "opra_"
#define TOKEN_SELECTOR_BYTES 9
#define TOKEN_SECRET_BYTES   32
#define TOKEN_SELECTOR_LEN   12 /* base64url of 9 bytes */
#define TOKEN_SECRET_LEN     43 /* base64url of 32 bytes, unpadded */
#define TOKEN_TEXT_LEN	     (5 + TOKEN_SELECTOR_LEN + TOKEN_SECRET_LEN)
#define TOKEN_HASH_BYTES     32

typedef struct {
	char text[TOKEN_TEXT_LEN + 1];	       /* what the user is given */
	char selector[TOKEN_SELECTOR_LEN + 1]; /* stored, indexed */
	uint8_t hash[TOKEN_HASH_BYTES];	       /* stored: SHA-256 of the secret */
} opra_token;

/* Makes a new random token. OPRA_OK or OPRA_INTERNAL (libsodium failed). */
int token_generate(opra_token *out);
/* Splits a presented token into selector and secret hash. Returns OPRA_OK
 * or OPRA_UNAUTHENTICATED (malformed) with a message that never echoes the
 * token. `out->text` is left empty. */
int token_parse(opra_token *out, const char *text);
/* Constant-time comparison of two secret hashes. */
bool token_hash_equal(const uint8_t a[TOKEN_HASH_BYTES], const uint8_t b[TOKEN_HASH_BYTES]);

/* SHA-256 helpers (libsodium). hex needs 65 bytes. */
void opra_sha256(uint8_t out[32], const void *data, size_t len);
void opra_hex(char *hex, const uint8_t *bin, size_t len);
/* Random bytes from the OS CSPRNG. */
void opra_random(void *buf, size_t len);
/* A random identifier of `bytes` bytes as lower-case hex (out: 2*bytes+1). */
void opra_random_hex(char *out, size_t bytes);

#endif
