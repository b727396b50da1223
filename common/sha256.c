/* The deprecated low-level SHA256_* interface is the one whose state is a
 * plain struct we can save and restore; EVP's is opaque. It runs the same
 * accelerated code. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "sha256.h"

#include "opra_err.h"

#include <openssl/sha.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(SHA256_CTX) <= SHA256_STATE_MAX, "SHA256_CTX does not fit sha256_ctx");

void sha256_init(sha256_ctx *c)
{
	memset(c, 0, sizeof(*c));
	SHA256_Init((SHA256_CTX *)(void *)c->opaque);
}

void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
	SHA256_Update((SHA256_CTX *)(void *)c->opaque, data, len);
}

void sha256_final(sha256_ctx *c, uint8_t out[SHA256_BYTES])
{
	SHA256_Final(out, (SHA256_CTX *)(void *)c->opaque);
}

size_t sha256_state_save(const sha256_ctx *c, uint8_t *buf)
{
	memcpy(buf, c->opaque, sizeof(SHA256_CTX));
	return sizeof(SHA256_CTX);
}

int sha256_state_load(sha256_ctx *c, const uint8_t *buf, size_t len)
{
	if (len != sizeof(SHA256_CTX))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "saved SHA-256 state has %zu bytes, expected %zu", len,
				    sizeof(SHA256_CTX));
	memset(c, 0, sizeof(*c));
	memcpy(c->opaque, buf, len);
	const SHA256_CTX *s = (const SHA256_CTX *)(const void *)c->opaque;
	if (s->num >= SHA256_CBLOCK || s->md_len != SHA256_DIGEST_LENGTH)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "saved SHA-256 state is corrupt");
	return OPRA_OK;
}

void sha256_hex(char out_hex[SHA256_HEX_LEN + 1], const uint8_t digest[SHA256_BYTES])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < SHA256_BYTES; i++) {
		out_hex[2 * i] = digits[digest[i] >> 4];
		out_hex[2 * i + 1] = digits[digest[i] & 15];
	}
	out_hex[SHA256_HEX_LEN] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int sha256_parse_hex(uint8_t out[SHA256_BYTES], const char *hex)
{
	if (hex == NULL || strlen(hex) != SHA256_HEX_LEN)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "a SHA-256 is 64 hexadecimal digits");
	for (size_t i = 0; i < SHA256_BYTES; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "a SHA-256 is 64 hexadecimal digits (found '%c')",
					    hi < 0 ? hex[2 * i] : hex[2 * i + 1]);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return OPRA_OK;
}

int sha256_file(const char *path, uint8_t out[SHA256_BYTES], uint64_t *size)
{
	static _Thread_local unsigned char buf[1 << 16];
	sha256_ctx c;
	uint64_t total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return opra_err_set(errno == ENOENT ? OPRA_NOT_FOUND : OPRA_INVALID_ARGUMENT,
				    "cannot read %s: %s", path, strerror(errno));
	sha256_init(&c);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return opra_err_set(OPRA_INVALID_ARGUMENT, "cannot read %s: %s", path,
					    strerror(e));
		}
		if (n == 0)
			break;
		sha256_update(&c, buf, (size_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	sha256_final(&c, out);
	*size = total;
	return OPRA_OK;
}

/* "SIZE MTIME_NS CTIME_NS HEX\n": what a cache entry holds. */
static int cache_line(char *out, size_t size, const struct stat *st, const char *hex)
{
	return snprintf(out, size, "%" PRIu64 " %lld%09ld %lld%09ld %s\n", (uint64_t)st->st_size,
			(long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
			(long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec, hex);
}

int sha256_file_cached(const char *path, const char *cache_dir, uint8_t out[SHA256_BYTES],
		       uint64_t *size)
{
	struct stat st;
	char entry[4096], line[256], want[256], hex[SHA256_HEX_LEN + 1];
	const char zeros[SHA256_HEX_LEN + 1] =
		"0000000000000000000000000000000000000000000000000000000000000000";

	if (cache_dir == NULL || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return sha256_file(path, out, size);
	int n = snprintf(entry, sizeof(entry), "%s/%jx-%jx", cache_dir, (uintmax_t)st.st_dev,
			 (uintmax_t)st.st_ino);
	if (n < 0 || (size_t)n >= sizeof(entry) - 16)
		return sha256_file(path, out, size);
	/* A hit: the entry's line equals what the file's stat says now, apart
	 * from the digest. */
	FILE *f = fopen(entry, "re");
	if (f) {
		int got = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		cache_line(want, sizeof(want), &st, zeros);
		size_t prefix = strlen(want) - SHA256_HEX_LEN - 1;
		if (got && strlen(line) == strlen(want) && strncmp(line, want, prefix) == 0) {
			line[prefix + SHA256_HEX_LEN] = '\0'; /* the newline */
			if (sha256_parse_hex(out, line + prefix) == OPRA_OK) {
				*size = (uint64_t)st.st_size;
				return OPRA_OK;
			}
		}
		opra_err_clear();
	}
	int rc = sha256_file(path, out, size);
	if (rc != OPRA_OK)
		return rc;
	/* Remember it only if the file did not change while it was read. */
	struct stat after;
	if (stat(path, &after) != 0 || after.st_size != st.st_size ||
	    after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
	    after.st_ctim.tv_sec != st.st_ctim.tv_sec ||
	    after.st_ctim.tv_nsec != st.st_ctim.tv_nsec || (uint64_t)st.st_size != *size)
		return OPRA_OK;
	sha256_hex(hex, out);
	cache_line(line, sizeof(line), &st, hex);
	(void)mkdir(cache_dir, 0700);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", entry, (long)getpid());
	f = fopen(tmp, "we");
	if (f == NULL)
		return OPRA_OK;
	int ok = fputs(line, f) >= 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, entry) != 0)
		unlink(tmp);
	return OPRA_OK;
}
