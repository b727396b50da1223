/* Streaming SHA-256 for evidence files and blobs (OpenSSL libcrypto: it uses
 * the CPU's SHA instructions, about 4x libsodium's portable code here).
 *
 * The state is a plain value: it may be copied, and saved as bytes
 * (sha256_state_save) and restored later by the same build of the program
 * (the server keeps the state of an upload's in-order prefix in PostgreSQL,
 * so committing an upload need not read every chunk back). */
#ifndef OPRA_SHA256_H
#define OPRA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES	 32
#define SHA256_HEX_LEN	 64
#define SHA256_STATE_MAX 128 /* bytes sha256_state_save may write */

typedef struct {
	/* Storage for OpenSSL's SHA256_CTX (112 bytes on every platform we
	 * build for; checked at compile time in sha256.c). */
	_Alignas(8) unsigned char opaque[SHA256_STATE_MAX];
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_BYTES]);

/* Writes the state to buf (at least SHA256_STATE_MAX bytes) and returns its
 * length. */
size_t sha256_state_save(const sha256_ctx *c, uint8_t *buf);
/* Restores a state saved by sha256_state_save; OPRA_OK or
 * OPRA_INVALID_ARGUMENT when the bytes cannot be a saved state. */
int sha256_state_load(sha256_ctx *c, const uint8_t *buf, size_t len);

/* Whole-buffer and whole-file helpers. out_hex needs 65 bytes. */
void sha256_hex(char out_hex[SHA256_HEX_LEN + 1], const uint8_t digest[SHA256_BYTES]);
/* Parses 64 hex digits (either case); OPRA_OK or OPRA_INVALID_ARGUMENT. */
int sha256_parse_hex(uint8_t out[SHA256_BYTES], const char *hex);
/* Hashes a file by streaming it (fixed-size buffer). On success stores the
 * digest and size; on failure sets the last error naming the path. */
int sha256_file(const char *path, uint8_t out[SHA256_BYTES], uint64_t *size);

/* sha256_file with a cache of earlier results in cache_dir (created 0700 if
 * missing; NULL: no cache), one small file per (device, inode) holding the
 * size, modification and status-change times (nanoseconds) and the digest.
 * A hit needs all of them equal; the status-change time cannot be set back
 * by a user, so a file changed since it was hashed is always hashed again.
 * Problems with the cache itself are never errors: the file is hashed. */
int sha256_file_cached(const char *path, const char *cache_dir, uint8_t out[SHA256_BYTES],
		       uint64_t *size);

#endif
