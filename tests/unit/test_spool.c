/* The offline spool (client/spool.c): records written atomically, listed in
 * submission order, read back whole; damaged records give a clear error and
 * stay; two processes writing at once do not clash. */
#include "opra_err.h"
#include "sha256.h"
#include "spool.h"
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	char dir[512];
	spool *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char tmpl[] = "/tmp/opra-spool-test.XXXXXX";

	assert_non_null(f);
	assert_non_null(mkdtemp(tmpl));
	snprintf(f->dir, sizeof(f->dir), "%s/state/opra/spool", tmpl);
	assert_int_equal(spool_open(&f->s, f->dir), OPRA_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[PATH_MAX + 32];

	spool_close(f->s);
	/* f->dir is <tmp>/state/opra/spool: remove <tmp>. */
	char *cut = strstr(f->dir, "/state/opra/spool");
	*cut = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int add_text(spool *s, const char *key, const char *body, char *id)
{
	spool_entry e = {0};

	e.method = "opra.v1.Evidence/Submit";
	e.key = key;
	e.body = (const uint8_t *)body;
	e.body_len = strlen(body);
	e.summary = "a test record";
	return spool_add(s, &e, id);
}

static void record_file(char *out, size_t size, const fixture *f, const char *id)
{
	snprintf(out, size, "%s/%s.rec", f->dir, id);
}

static void directory_is_private(void **state)
{
	fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void writes_lists_in_order_and_reads_back(void **state)
{
	fixture *f = *state;
	char id[5][SPOOL_ID_MAX + 1];
	/* Keys in reverse alphabetical order: the list follows submission. */
	const char *keys[5] = {"zz-key", "yy/key with spaces", "m", "b", "a"};
	char **ids = NULL;
	size_t n = 0;

	for (int i = 0; i < 5; i++) {
		char body[32];
		snprintf(body, sizeof(body), "body %d\n\x01\x02", i);
		assert_int_equal(add_text(f->s, keys[i], body, id[i]), OPRA_OK);
	}
	assert_string_equal(id[0], "000000000001-zz-key");
	assert_string_equal(id[1], "000000000002-yy_key_with_spaces");
	assert_int_equal(spool_list(f->s, &ids, &n), OPRA_OK);
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++) {
		spool_record *r = NULL;
		char body[32];
		assert_string_equal(ids[i], id[i]);
		assert_int_equal(spool_read(f->s, ids[i], &r), OPRA_OK);
		snprintf(body, sizeof(body), "body %d\n\x01\x02", i);
		assert_int_equal(r->body_len, strlen(body));
		assert_memory_equal(r->body, body, r->body_len);
		assert_string_equal(r->key, keys[i]); /* the real key, not the file name */
		assert_string_equal(r->method, "opra.v1.Evidence/Submit");
		assert_string_equal(r->summary, "a test record");
		assert_false(r->has_file);
		assert_int_equal(strlen(r->created_at), 20);
		spool_record_free(r);
	}
	spool_ids_free(ids, n);

	/* Removing one keeps the others; a new record gets a higher number. */
	assert_int_equal(spool_remove(f->s, id[0]), OPRA_OK);
	assert_int_equal(add_text(f->s, "later", "x", id[0]), OPRA_OK);
	assert_string_equal(id[0], "000000000006-later");
	assert_int_equal(spool_list(f->s, &ids, &n), OPRA_OK);
	assert_int_equal(n, 5);
	assert_string_equal(ids[4], "000000000006-later");
	spool_ids_free(ids, n);
}

static void file_copy_is_kept_and_checked(void **state)
{
	fixture *f = *state;
	char src[PATH_MAX], id[SPOOL_ID_MAX + 1], hex[SHA256_HEX_LEN + 1];
	uint8_t digest[SHA256_BYTES];
	uint64_t size = 0;
	spool_record *r = NULL;
	spool_entry e = {0};
	FILE *fp;

	snprintf(src, sizeof(src), "%s/../source.bin", f->dir);
	assert_non_null(fp = fopen(src, "wb"));
	for (int i = 0; i < 200000; i++)
		fputc((i * 7) & 0xff, fp);
	fclose(fp);
	assert_int_equal(sha256_file(src, digest, &size), OPRA_OK);
	sha256_hex(hex, digest);
	e.method = "opra.v1.Evidence/Submit";
	e.key = "k1";
	e.body = (const uint8_t *)"b";
	e.body_len = 1;
	e.file_path = src;
	e.file_sha256 = hex;
	e.file_size = size;
	e.file_copy = true;
	assert_int_equal(spool_add(f->s, &e, id), OPRA_OK);

	/* Changing the original afterwards does not change the record. */
	assert_non_null(fp = fopen(src, "r+b"));
	fputs("changed", fp);
	fclose(fp);
	assert_int_equal(spool_read(f->s, id, &r), OPRA_OK);
	assert_true(r->has_file && r->file_copy);
	assert_int_equal(r->file_size, 200000);
	assert_string_equal(r->file_sha256, hex);
	int fd = -1;
	assert_int_equal(spool_open_data(f->s, r, &fd), OPRA_OK);
	{
		sha256_ctx c;
		unsigned char buf[4096];
		ssize_t got;
		uint64_t total = 0;
		uint8_t d2[SHA256_BYTES];
		char h2[SHA256_HEX_LEN + 1];
		sha256_init(&c);
		while ((got = read(fd, buf, sizeof(buf))) > 0) {
			sha256_update(&c, buf, (size_t)got);
			total += (uint64_t)got;
		}
		sha256_final(&c, d2);
		sha256_hex(h2, d2);
		assert_int_equal(total, 200000);
		assert_string_equal(h2, hex);
	}
	close(fd);
	spool_record_free(r);

	/* A file whose bytes no longer match the hash is not spooled. */
	e.key = "k2";
	assert_int_equal(spool_add(f->s, &e, id), OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "changed"));
	char **ids = NULL;
	size_t n = 0;
	assert_int_equal(spool_list(f->s, &ids, &n), OPRA_OK);
	assert_int_equal(n, 1);
	spool_ids_free(ids, n);
	/* ... and no temporary file is left behind. */
	DIR *d = opendir(f->dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		assert_null(strstr(de->d_name, ".tmp-"));
	closedir(d);
}

static void damaged_records_are_reported_and_kept(void **state)
{
	fixture *f = *state;
	char id[3][SPOOL_ID_MAX + 1], path[PATH_MAX];
	spool_record *r = NULL;
	struct stat st;

	assert_int_equal(add_text(f->s, "a", "hello", id[0]), OPRA_OK);
	assert_int_equal(add_text(f->s, "b", "hello", id[1]), OPRA_OK);
	assert_int_equal(add_text(f->s, "c", "hello", id[2]), OPRA_OK);

	/* Truncated: cut the header in half. */
	record_file(path, sizeof(path), f, id[0]);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	assert_int_equal(spool_read(f->s, id[0], &r), OPRA_DATA_LOSS);
	assert_null(r);
	assert_non_null(strstr(opra_err_msg(), path));
	assert_non_null(strstr(opra_err_msg(), "damaged"));
	assert_int_equal(stat(path, &st), 0); /* kept */

	/* A changed byte in the request: the checksum catches it. */
	record_file(path, sizeof(path), f, id[1]);
	{
		FILE *fp = fopen(path, "r+b");
		char buf[4096];
		size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
		buf[len] = '\0';
		char *body = strstr(buf, "\"body\":\"");
		assert_non_null(body);
		body += strlen("\"body\":\"");
		*body = *body == '6' ? '7' : '6';
		fseek(fp, 0, SEEK_SET);
		fwrite(buf, 1, len, fp);
		fclose(fp);
	}
	assert_int_equal(spool_read(f->s, id[1], &r), OPRA_DATA_LOSS);
	assert_non_null(strstr(opra_err_msg(), "checksum"));

	/* Not a spool record at all. */
	record_file(path, sizeof(path), f, id[2]);
	{
		FILE *fp = fopen(path, "wb");
		fputs("garbage\n", fp);
		fclose(fp);
	}
	assert_int_equal(spool_read(f->s, id[2], &r), OPRA_DATA_LOSS);
	assert_non_null(strstr(opra_err_msg(), "OPRA-SPOOL"));

	/* Every damaged record is still listed (nothing dropped). */
	char **ids = NULL;
	size_t n = 0;
	assert_int_equal(spool_list(f->s, &ids, &n), OPRA_OK);
	assert_int_equal(n, 3);
	spool_ids_free(ids, n);

	/* Hostile ids are refused, not used as paths. */
	assert_int_equal(spool_read(f->s, "../../etc/passwd", &r), OPRA_INVALID_ARGUMENT);
}

static void failed_records_move_aside_with_their_reason(void **state)
{
	fixture *f = *state;
	char id[2][SPOOL_ID_MAX + 1], path[PATH_MAX];
	char **ids = NULL;
	size_t n = 0;
	struct stat st;

	assert_int_equal(add_text(f->s, "a", "x", id[0]), OPRA_OK);
	assert_int_equal(add_text(f->s, "b", "y", id[1]), OPRA_OK);
	assert_int_equal(spool_fail(f->s, id[0], "NOT_FOUND: no appraisal named 'x'"), OPRA_OK);
	assert_int_equal(spool_failed_count(f->s), 1);
	assert_int_equal(spool_list(f->s, &ids, &n), OPRA_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id[1]);
	spool_ids_free(ids, n);
	snprintf(path, sizeof(path), "%s/failed/%s.rec", f->dir, id[0]);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/failed/%s.error", f->dir, id[0]);
	{
		char buf[256] = "";
		FILE *fp = fopen(path, "r");
		assert_non_null(fp);
		assert_non_null(fgets(buf, sizeof(buf), fp));
		fclose(fp);
		assert_string_equal(buf, "NOT_FOUND: no appraisal named 'x'\n");
	}
	/* With the spool empty, numbers still stay above the failed record's. */
	assert_int_equal(spool_remove(f->s, id[1]), OPRA_OK);
	assert_int_equal(add_text(f->s, "c", "z", id[0]), OPRA_OK);
	assert_string_equal(id[0], "000000000002-c");
}

static void one_sync_at_a_time(void **state)
{
	fixture *f = *state;
	spool *other = NULL;

	assert_int_equal(spool_lock_sync(f->s), OPRA_OK);
	assert_int_equal(spool_open(&other, f->dir), OPRA_OK);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) /* flock is per open file: another process must be refused */
		_exit(spool_lock_sync(other) == OPRA_ABORTED ? 0 : 1);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	spool_close(other);
}

#define PER_WRITER 60

static void concurrent_writers_do_not_clash(void **state)
{
	fixture *f = *state;
	pid_t pids[2];
	char **ids = NULL;
	size_t n = 0;

	for (int w = 0; w < 2; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			spool *s = NULL;
			if (spool_open(&s, f->dir) != OPRA_OK)
				_exit(1);
			for (int i = 0; i < PER_WRITER; i++) {
				char key[32], body[32], id[SPOOL_ID_MAX + 1];
				snprintf(key, sizeof(key), "w%d-%03d", w, i);
				snprintf(body, sizeof(body), "writer %d item %d", w, i);
				if (add_text(s, key, body, id) != OPRA_OK)
					_exit(2);
			}
			spool_close(s);
			_exit(0);
		}
	}
	for (int w = 0; w < 2; w++) {
		int status = 0;
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(spool_list(f->s, &ids, &n), OPRA_OK);
	assert_int_equal(n, 2 * PER_WRITER);
	/* Distinct, contiguous sequence numbers; each writer's records in
	 * the order it wrote them; every record whole. */
	int next[2] = {0, 0};
	for (size_t i = 0; i < n; i++) {
		spool_record *r = NULL;
		char want[32];
		snprintf(want, sizeof(want), "%012zu", i + 1);
		assert_memory_equal(ids[i], want, 12);
		assert_int_equal(spool_read(f->s, ids[i], &r), OPRA_OK);
		int w = r->key[1] - '0', item = atoi(r->key + 3);
		assert_true(w == 0 || w == 1);
		assert_int_equal(item, next[w]);
		next[w]++;
		spool_record_free(r);
	}
	assert_int_equal(next[0], PER_WRITER);
	assert_int_equal(next[1], PER_WRITER);
	spool_ids_free(ids, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(directory_is_private, setup, teardown),
		cmocka_unit_test_setup_teardown(writes_lists_in_order_and_reads_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(file_copy_is_kept_and_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_records_are_reported_and_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(failed_records_move_aside_with_their_reason, setup,
						teardown),
		cmocka_unit_test_setup_teardown(one_sync_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_writers_do_not_clash, setup, teardown),
	};
	return TESTLIB_RUN(tests);
}
