/* Streaming SHA-256 (common/sha256.c): known answers, saved and restored
 * state (the server's incremental upload hashing), hex parsing, and the
 * client's file-hash cache that must never return the digest of an older
 * version of a file. */
#include "opra_err.h"
#include "sha256.h"
#include "testlib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void digest_hex(const void *data, size_t len, char hex[65])
{
	sha256_ctx c;
	uint8_t d[SHA256_BYTES];
	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, d);
	sha256_hex(hex, d);
}

static void known_answers(void **state)
{
	char hex[65];
	digest_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void saved_state_continues_the_same_hash(void **state)
{
	static uint8_t data[300000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);
	char whole[65], pieced[65];
	digest_hex(data, sizeof(data), whole);

	/* Hash in odd-sized pieces, saving and restoring the state between
	 * each, as the server does between chunks. */
	uint8_t saved[SHA256_STATE_MAX];
	sha256_ctx c;
	sha256_init(&c);
	size_t at = 0, step = 1;
	while (at < sizeof(data)) {
		size_t n = step < sizeof(data) - at ? step : sizeof(data) - at;
		sha256_update(&c, data + at, n);
		at += n;
		step = step * 3 + 1;
		size_t len = sha256_state_save(&c, saved);
		sha256_ctx fresh;
		assert_int_equal(sha256_state_load(&fresh, saved, len), OPRA_OK);
		c = fresh;
	}
	uint8_t d[SHA256_BYTES];
	sha256_final(&c, d);
	sha256_hex(pieced, d);
	assert_string_equal(whole, pieced);

	/* Garbage is refused, not used. */
	sha256_ctx bad;
	uint8_t junk[SHA256_STATE_MAX];
	memset(junk, 0xff, sizeof(junk));
	assert_int_equal(sha256_state_load(&bad, junk, 7), OPRA_INVALID_ARGUMENT);
	assert_int_equal(sha256_state_load(&bad, junk, sha256_state_save(&c, saved)),
			 OPRA_INVALID_ARGUMENT);
}

static void hex_parsing(void **state)
{
	uint8_t d[SHA256_BYTES];
	char back[65];
	const char *h = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
	assert_int_equal(sha256_parse_hex(d, h), OPRA_OK);
	sha256_hex(back, d);
	assert_string_equal(back,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(sha256_parse_hex(d, "abc"), OPRA_INVALID_ARGUMENT);
	assert_int_equal(
		sha256_parse_hex(
			d, "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
		OPRA_INVALID_ARGUMENT);
	assert_int_equal(sha256_parse_hex(d, NULL), OPRA_INVALID_ARGUMENT);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void file_hash_cache_never_serves_a_stale_digest(void **state)
{
	char dir[] = "/tmp/opra-test-sha256-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char file[256], cache[256], hex[65];
	snprintf(file, sizeof(file), "%s/evidence.txt", dir);
	snprintf(cache, sizeof(cache), "%s/hashes", dir);
	uint8_t d[SHA256_BYTES];
	uint64_t size = 0;

	write_file(file, "abc");
	assert_int_equal(sha256_file_cached(file, cache, d, &size), OPRA_OK);
	sha256_hex(hex, d);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(size, 3);

	/* A second call is answered from the cache (same digest). */
	struct stat st;
	assert_int_equal(stat(cache, &st), 0);
	assert_int_equal(sha256_file_cached(file, cache, d, &size), OPRA_OK);
	sha256_hex(hex, d);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	/* Same size, new content, modification time set back to the old one:
	 * the status-change time still differs, so it is hashed again. */
	struct stat before;
	assert_int_equal(stat(file, &before), 0);
	struct timespec pause = {0, 20 * 1000 * 1000};
	nanosleep(&pause, NULL);
	write_file(file, "abd");
	struct timespec times[2] = {before.st_atim, before.st_mtim};
	assert_int_equal(utimensat(AT_FDCWD, file, times, 0), 0);
	assert_int_equal(sha256_file_cached(file, cache, d, &size), OPRA_OK);
	sha256_hex(hex, d);
	assert_string_equal(hex,
			    "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9");

	/* A corrupt cache entry is ignored, not an error. */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "for f in %s/*; do echo garbage > \"$f\"; done", cache);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sha256_file_cached(file, cache, d, &size), OPRA_OK);
	sha256_hex(hex, d);
	assert_string_equal(hex,
			    "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9");

	/* No cache directory: plain hashing; a missing file is an error. */
	assert_int_equal(sha256_file_cached(file, NULL, d, &size), OPRA_OK);
	snprintf(cmd, sizeof(cmd), "%s/missing", dir);
	assert_int_equal(sha256_file_cached(cmd, cache, d, &size), OPRA_NOT_FOUND);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_answers),
		cmocka_unit_test(saved_state_continues_the_same_hash),
		cmocka_unit_test(hex_parsing),
		cmocka_unit_test(file_hash_cache_never_serves_a_stale_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
