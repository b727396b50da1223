/* The offline spool (see spool.h for the layout and the record format). */
#include "spool.h"

#include "output.h"

#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"
#include "sha256.h"
#include "token.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_MAGIC	 "OPRA-SPOOL 1\n"
#define SPOOL_SUFFIX	 ".rec"
#define SPOOL_SEQ_DIGITS 12
#define SPOOL_KEY_CHARS	 (SPOOL_ID_MAX - SPOOL_SEQ_DIGITS - 1)
/* The longest header line (the body is hex, so twice SPOOL_BODY_MAX). */
#define SPOOL_HEADER_MAX (2u * SPOOL_BODY_MAX + 64u * 1024u)
#define SPOOL_COPY_BUF	 (1u << 16)

struct spool {
	char dir[PATH_MAX];
	char failed[PATH_MAX];
	int sync_fd; /* the held sync lock, or -1 */
};

static int join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= size)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the path '%.200s/%.100s' is too long",
				    a, b);
	return OPRA_OK;
}

int client_state_dir(char *out, size_t size, const char *leaf)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(out, size, "%s/opra/%s", xdg, leaf);
	else if (home && home[0])
		n = snprintf(out, size, "%s/.local/state/opra/%s", home, leaf);
	else
		return opra_err_set(OPRA_NOT_FOUND,
				    "no place for the client's state (%s): set XDG_STATE_HOME or "
				    "HOME",
				    leaf);
	if (n < 0 || (size_t)n >= size)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the %s directory path is too long",
				    leaf);
	return OPRA_OK;
}

int spool_default_dir(char *out, size_t size)
{
	return client_state_dir(out, size, "spool");
}

/* mkdir -p with mode for every directory it creates. */
int client_make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "bad spool directory '%.200s'", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return out_file_error(errno, "create the directory", buf);
		buf[i] = c;
	}
	return OPRA_OK;
}

int spool_open(spool **out, const char *dir)
{
	spool *s = NULL;
	struct stat st;
	int rc;

	*out = NULL;
	if ((s = opra_calloc(1, sizeof(*s))) == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	s->sync_fd = -1;
	if (dir) {
		if (strlen(dir) >= sizeof(s->dir)) {
			rc = opra_err_set(OPRA_INVALID_ARGUMENT, "the spool path is too long");
			goto fail;
		}
		snprintf(s->dir, sizeof(s->dir), "%s", dir);
	} else if ((rc = spool_default_dir(s->dir, sizeof(s->dir))) != OPRA_OK) {
		goto fail;
	}
	if ((rc = join(s->failed, sizeof(s->failed), s->dir, "failed")) != OPRA_OK)
		goto fail;
	if ((rc = client_make_dirs(s->dir, 0700)) != OPRA_OK)
		goto fail;
	if (stat(s->dir, &st) != 0) {
		rc = out_file_error(errno, "use the spool directory", s->dir);
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "the spool '%s' is not a directory: move it away", s->dir);
		goto fail;
	}
	/* The spool holds copies of evidence: keep it private. */
	if ((st.st_mode & 0077) != 0 && chmod(s->dir, 0700) != 0) {
		rc = out_file_error(errno, "make private (chmod 700)", s->dir);
		goto fail;
	}
	*out = s;
	return OPRA_OK;
fail:
	opra_free(s);
	return rc;
}

void spool_close(spool *s)
{
	if (s == NULL)
		return;
	if (s->sync_fd >= 0)
		close(s->sync_fd); /* releases the flock */
	opra_free(s);
}

const char *spool_dir(const spool *s)
{
	return s->dir;
}

const char *spool_failed_dir(const spool *s)
{
	return s->failed;
}

/* Opens dir/name and takes an flock on it (op: LOCK_EX, maybe LOCK_NB).
 * Returns the fd or -1 with the error set. */
static int lock_file(const char *dir, const char *name, int op)
{
	char path[PATH_MAX];
	int fd;

	if (join(path, sizeof(path), dir, name) != OPRA_OK)
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		out_file_error(errno, "open the lock file", path);
		return -1;
	}
	while (flock(fd, op) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			opra_err_set(OPRA_ABORTED,
				     "another 'opra sync' is delivering this spool (%s); wait for "
				     "it to finish",
				     dir);
		else
			out_file_error(errno, "lock", path);
		close(fd);
		return -1;
	}
	return fd;
}

int spool_lock_sync(spool *s)
{
	if (s->sync_fd >= 0)
		return OPRA_OK;
	s->sync_fd = lock_file(s->dir, ".sync.lock", LOCK_EX | LOCK_NB);
	return s->sync_fd >= 0 ? OPRA_OK : opra_err_code();
}

/* Removes the temporary files of writers that died before renaming them
 * into records. Only called while holding the spool's .lock, which every
 * writer holds from creating its .tmp- file to renaming or removing it:
 * any .tmp- file seen then belongs to nobody. Best effort. */
static void reap_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".tmp-", 5) == 0 &&
		    join(path, sizeof(path), dir, e->d_name) == OPRA_OK)
			unlink(path);
	closedir(d);
}

/* The sequence number of a record name ("000000000042-..."), or 0. */
static unsigned long long name_seq(const char *name)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < SPOOL_SEQ_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (unsigned long long)(name[i] - '0');
	}
	return name[i] == '-' ? v : 0;
}

static bool has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return n > m && strcmp(name + n - m, suffix) == 0;
}

/* The highest sequence number in dir (0 when none or no dir). */
static unsigned long long max_seq(const char *dir)
{
	unsigned long long best = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		unsigned long long v = name_seq(e->d_name);
		if (v > best)
			best = v;
	}
	closedir(d);
	return best;
}

static int write_all(int fd, const void *data, size_t len, const char *path)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return out_file_error(errno, "write", path);
		p += n;
		len -= (size_t)n;
	}
	return OPRA_OK;
}

static void now_rfc3339(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The header line (without the magic), or NULL when memory runs out. */
static char *header_text(const spool_entry *e)
{
	char created[32], *hex = NULL, *text = NULL;
	uint8_t digest[SHA256_BYTES];
	char digest_hex[SHA256_HEX_LEN + 1];
	json_t *h = NULL, *file = NULL;

	if ((hex = opra_malloc(e->body_len * 2 + 1)) == NULL)
		return NULL;
	opra_hex(hex, e->body, e->body_len);
	hex[e->body_len * 2] = '\0';
	opra_sha256(digest, e->body, e->body_len);
	sha256_hex(digest_hex, digest);
	now_rfc3339(created);
	h = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "method", e->method,
		      "idempotency_key", e->key, "created_at", created, "body", hex, "body_sha256",
		      digest_hex, "summary", e->summary, "site", e->site);
	if (h && e->file_path) {
		file = json_pack("{s:s, s:s, s:I, s:b}", "path", e->file_path, "sha256",
				 e->file_sha256, "size", (json_int_t)e->file_size, "copy",
				 e->file_copy);
		if (file == NULL || json_object_set_new(h, "file", file) != 0) {
			json_decref(h);
			h = NULL;
		}
	}
	if (h)
		text = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	opra_free(hex);
	return text;
}

/* Copies path into fd, checking its bytes against sha256/size on the way. */
static int copy_file(int fd, const char *tmp, const char *path, const char *sha256_hex_want,
		     uint64_t size)
{
	unsigned char *buf = NULL;
	uint8_t digest[SHA256_BYTES];
	char hex[SHA256_HEX_LEN + 1];
	uint64_t total = 0;
	sha256_ctx c;
	int in = -1, rc = OPRA_OK;

	if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return out_file_error(errno, "read", path);
	if ((buf = opra_malloc(SPOOL_COPY_BUF)) == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	sha256_init(&c);
	for (;;) {
		ssize_t n = read(in, buf, SPOOL_COPY_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = out_file_error(errno, "read", path);
			goto done;
		}
		if (n == 0)
			break;
		sha256_update(&c, buf, (size_t)n);
		total += (uint64_t)n;
		if (total > size)
			break;
		if ((rc = write_all(fd, buf, (size_t)n, tmp)) != OPRA_OK)
			goto done;
	}
	sha256_final(&c, digest);
	sha256_hex(hex, digest);
	if (total != size || strcmp(hex, sha256_hex_want) != 0)
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "'%s' changed while it was being copied into the spool; nothing "
				  "was spooled: run the command again",
				  path);
done:
	opra_free(buf);
	close(in);
	return rc;
}

/* Record names keep the key's safe characters only (the key itself is in
 * the record). */
static void safe_key(char *out, size_t size, const char *key)
{
	size_t n = 0;

	for (const char *p = key; *p && n + 1 < size && n < SPOOL_KEY_CHARS; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_';
		out[n++] = ok ? c : '_';
	}
	if (n == 0 && size > 1)
		out[n++] = '_';
	out[n] = '\0';
}

int spool_add(spool *s, const spool_entry *e, char *id_out)
{
	char tmp[PATH_MAX], path[PATH_MAX], name[SPOOL_ID_MAX + 16], key[SPOOL_KEY_CHARS + 1];
	char rnd[17];
	char *header = NULL;
	int lock = -1, fd = -1, rc = OPRA_OK;
	bool tmp_made = false;

	id_out[0] = '\0';
	if (e->method == NULL || e->key == NULL || e->key[0] == '\0' ||
	    e->body_len > SPOOL_BODY_MAX || (e->body == NULL && e->body_len > 0) ||
	    (e->file_path && (e->file_path[0] != '/' || e->file_sha256 == NULL ||
			      strlen(e->file_sha256) != SHA256_HEX_LEN)))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "bad spool record (internal error)");
	if ((header = header_text(e)) == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	/* The writers' lock: the sequence number and the rename happen under
	 * it, so names (and `ls` order) follow the order records appear. */
	if ((lock = lock_file(s->dir, ".lock", LOCK_EX)) < 0) {
		rc = opra_err_code();
		goto done;
	}
	reap_tmp(s->dir);
	opra_random_hex(rnd, 8);
	if ((rc = join(tmp, sizeof(tmp), s->dir, ".tmp-")) != OPRA_OK)
		goto done;
	if (strlen(tmp) + 40 >= sizeof(tmp)) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "the spool path is too long");
		goto done;
	}
	snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), "%ld-%s", (long)getpid(), rnd);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = out_file_error(errno, "create a spool record in", s->dir);
		goto done;
	}
	tmp_made = true;
	if ((rc = write_all(fd, SPOOL_MAGIC, strlen(SPOOL_MAGIC), tmp)) != OPRA_OK ||
	    (rc = write_all(fd, header, strlen(header), tmp)) != OPRA_OK ||
	    (rc = write_all(fd, "\n", 1, tmp)) != OPRA_OK)
		goto done;
	if (e->file_path && e->file_copy &&
	    (rc = copy_file(fd, tmp, e->file_path, e->file_sha256, e->file_size)) != OPRA_OK)
		goto done;
	if (fsync(fd) != 0) {
		rc = out_file_error(errno, "write", tmp);
		goto done;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = out_file_error(errno, "write", tmp);
		goto done;
	}
	fd = -1;
	{
		unsigned long long a = max_seq(s->dir), b = max_seq(s->failed);
		safe_key(key, sizeof(key), e->key);
		snprintf(id_out, SPOOL_ID_MAX + 1, "%0*llu-%s", SPOOL_SEQ_DIGITS,
			 (a > b ? a : b) + 1, key);
	}
	snprintf(name, sizeof(name), "%s" SPOOL_SUFFIX, id_out);
	if ((rc = join(path, sizeof(path), s->dir, name)) != OPRA_OK)
		goto done;
	if (rename(tmp, path) != 0) {
		rc = out_file_error(errno, "rename the spool record to", path);
		goto done;
	}
	tmp_made = false;
	/* Make the rename itself durable. */
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
done:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	if (rc != OPRA_OK)
		id_out[0] = '\0';
	if (lock >= 0)
		close(lock);
	free(header); /* json_dumps uses malloc */
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void spool_ids_free(char **ids, size_t n)
{
	if (ids == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		opra_free(ids[i]);
	opra_free(ids);
}

int spool_list(spool *s, char ***ids_out, size_t *n_out)
{
	char **ids = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *e;
	int rc = OPRA_OK;

	*ids_out = NULL;
	*n_out = 0;
	/* No writer busy: leftovers of crashed ones can go. */
	char lpath[PATH_MAX];
	int lfd;
	if (join(lpath, sizeof(lpath), s->dir, ".lock") == OPRA_OK &&
	    (lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0) {
		if (flock(lfd, LOCK_EX | LOCK_NB) == 0)
			reap_tmp(s->dir);
		close(lfd);
	}
	if ((d = opendir(s->dir)) == NULL)
		return out_file_error(errno, "list the spool", s->dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (name_seq(e->d_name) == 0 || !has_suffix(e->d_name, SPOOL_SUFFIX) ||
		    len - strlen(SPOOL_SUFFIX) > SPOOL_ID_MAX)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nids = opra_realloc(ids, ncap * sizeof(*ids));
			if (nids == NULL) {
				rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
				break;
			}
			ids = nids;
			cap = ncap;
		}
		if ((ids[n] = opra_strndup(e->d_name, len - strlen(SPOOL_SUFFIX))) == NULL) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (rc != OPRA_OK) {
		spool_ids_free(ids, n);
		return rc;
	}
	if (n > 1)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*ids_out = ids;
	*n_out = n;
	return OPRA_OK;
}

size_t spool_failed_count(spool *s)
{
	size_t n = 0;
	DIR *d = opendir(s->failed);
	struct dirent *e;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (name_seq(e->d_name) != 0 && has_suffix(e->d_name, SPOOL_SUFFIX))
			n++;
	closedir(d);
	return n;
}

void spool_record_free(spool_record *r)
{
	if (r == NULL)
		return;
	opra_free(r->method);
	opra_free(r->key);
	opra_free(r->created_at);
	opra_free(r->summary);
	opra_free(r->site);
	opra_free(r->body);
	opra_free(r->file_path);
	opra_free(r);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_sha256_hex(const char *s)
{
	if (s == NULL || strlen(s) != SHA256_HEX_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (hexval(*p) < 0)
			return false;
	return true;
}

/* The path of a record (pending when in_failed is false). */
static int record_path(char *out, size_t size, const spool *s, const char *id, bool in_failed,
		       const char *suffix)
{
	char name[SPOOL_ID_MAX + 16];

	if (strlen(id) > SPOOL_ID_MAX || strchr(id, '/') || id[0] == '.' || id[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "'%.100s' is not a spool record id", id);
	snprintf(name, sizeof(name), "%s%s", id, suffix);
	return join(out, size, in_failed ? s->failed : s->dir, name);
}

static int corrupt(const char *path, const char *why)
{
	return opra_err_set(OPRA_DATA_LOSS,
			    "the spool record %s is damaged (%s); it was kept: inspect or delete "
			    "it",
			    path, why);
}

/* Copies a JSON string member into *out ("" when absent and optional). */
static int take_str(char **out, json_t *h, const char *name, bool required)
{
	json_t *v = json_object_get(h, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return OPRA_INVALID_ARGUMENT;
		return OPRA_OK;
	}
	if (!json_is_string(v))
		return OPRA_INVALID_ARGUMENT;
	*out = opra_strdup(json_string_value(v));
	return *out ? OPRA_OK : OPRA_RESOURCE_EXHAUSTED;
}

int spool_read(spool *s, const char *id, spool_record **out)
{
	char path[PATH_MAX];
	spool_record *r = NULL;
	opra_buf line = OPRA_BUF_INIT;
	json_t *h = NULL;
	json_error_t jerr;
	FILE *f = NULL;
	struct stat st;
	char magic[sizeof(SPOOL_MAGIC)];
	int rc = OPRA_OK, c;

	*out = NULL;
	if ((rc = record_path(path, sizeof(path), s, id, false, SPOOL_SUFFIX)) != OPRA_OK)
		return rc;
	if ((f = fopen(path, "rbe")) == NULL)
		return out_file_error(errno, "read the spool record", path);
	if (fstat(fileno(f), &st) != 0) {
		rc = out_file_error(errno, "read the spool record", path);
		goto done;
	}
	if (fread(magic, 1, strlen(SPOOL_MAGIC), f) != strlen(SPOOL_MAGIC) ||
	    memcmp(magic, SPOOL_MAGIC, strlen(SPOOL_MAGIC)) != 0) {
		rc = corrupt(path, "it does not start with '"
				   "OPRA-SPOOL 1"
				   "'");
		goto done;
	}
	while ((c = fgetc(f)) != EOF && c != '\n') {
		char ch = (char)c;
		if (line.len >= SPOOL_HEADER_MAX) {
			rc = corrupt(path, "its header is too long");
			goto done;
		}
		if (opra_buf_append(&line, &ch, 1) != OPRA_OK) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			goto done;
		}
	}
	if (c != '\n') {
		rc = corrupt(path, "it ends inside its header");
		goto done;
	}
	if ((h = json_loadb((const char *)line.data, line.len, 0, &jerr)) == NULL ||
	    !json_is_object(h)) {
		rc = corrupt(path, "its header is not JSON");
		goto done;
	}
	if ((r = opra_calloc(1, sizeof(*r))) == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	char *body_hex = NULL, *body_sha = NULL;
	int bad = OPRA_OK;
	struct {
		char **dst;
		const char *name;
		bool required;
	} fields[] = {
		{&r->method, "method", true},
		{&r->key, "idempotency_key", true},
		{&r->created_at, "created_at", true},
		{&r->summary, "summary", false},
		{&r->site, "site", false},
		{&body_hex, "body", true},
		{&body_sha, "body_sha256", true},
	};
	for (size_t i = 0; bad == OPRA_OK && i < sizeof(fields) / sizeof(fields[0]); i++)
		bad = take_str(fields[i].dst, h, fields[i].name, fields[i].required);
	if (bad == OPRA_OK && r->summary == NULL && (r->summary = opra_strdup("")) == NULL)
		bad = OPRA_RESOURCE_EXHAUSTED;
	if (bad == OPRA_OK) {
		size_t hl = strlen(body_hex);
		if (hl % 2 != 0 || hl / 2 > SPOOL_BODY_MAX || !is_sha256_hex(body_sha)) {
			bad = OPRA_INVALID_ARGUMENT;
		} else if ((r->body = opra_malloc(hl / 2 + 1)) == NULL) {
			bad = OPRA_RESOURCE_EXHAUSTED;
		} else {
			r->body_len = hl / 2;
			for (size_t i = 0; i < r->body_len && bad == OPRA_OK; i++) {
				int hi = hexval(body_hex[2 * i]), lo = hexval(body_hex[2 * i + 1]);
				if (hi < 0 || lo < 0)
					bad = OPRA_INVALID_ARGUMENT;
				else
					r->body[i] = (uint8_t)(hi << 4 | lo);
			}
		}
		if (bad == OPRA_OK) {
			uint8_t digest[SHA256_BYTES];
			char hex[SHA256_HEX_LEN + 1];
			opra_sha256(digest, r->body, r->body_len);
			sha256_hex(hex, digest);
			if (strcasecmp(hex, body_sha) != 0) {
				opra_free(body_hex);
				opra_free(body_sha);
				rc = corrupt(path, "its request does not match its checksum");
				goto done;
			}
		}
	}
	opra_free(body_hex);
	opra_free(body_sha);
	if (bad == OPRA_RESOURCE_EXHAUSTED) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	if (bad != OPRA_OK) {
		rc = corrupt(path, "its header lacks a field or has a bad one");
		goto done;
	}
	json_t *file = json_object_get(h, "file");
	if (file && !json_is_null(file)) {
		json_t *size = json_object_get(file, "size"), *copy = json_object_get(file, "copy");
		json_t *sha = json_object_get(file, "sha256");
		if (!json_is_object(file) ||
		    take_str(&r->file_path, file, "path", true) != OPRA_OK ||
		    r->file_path[0] != '/' || !json_is_integer(size) ||
		    json_integer_value(size) < 0 || !json_is_boolean(copy) ||
		    !json_is_string(sha) || !is_sha256_hex(json_string_value(sha))) {
			rc = corrupt(path, "its file reference is incomplete");
			goto done;
		}
		r->has_file = true;
		r->file_size = (uint64_t)json_integer_value(size);
		r->file_copy = json_is_true(copy);
		snprintf(r->file_sha256, sizeof(r->file_sha256), "%s", json_string_value(sha));
		for (char *p = r->file_sha256; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
	}
	r->data_offset = (uint64_t)(strlen(SPOOL_MAGIC) + line.len + 1);
	{
		uint64_t want = r->data_offset + (r->has_file && r->file_copy ? r->file_size : 0);
		if ((uint64_t)st.st_size != want) {
			rc = corrupt(path,
				     (uint64_t)st.st_size < want
					     ? "it is shorter than its header says (truncated)"
					     : "it is longer than its header says");
			goto done;
		}
	}
	*out = r;
	r = NULL;
done:
	if (f)
		fclose(f);
	json_decref(h);
	opra_buf_free(&line);
	spool_record_free(r);
	return rc;
}

int spool_open_data(spool *s, const spool_record *r, int *fd_out)
{
	char path[PATH_MAX];
	int fd, rc;

	*fd_out = -1;
	if (!r->has_file)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the record holds no file");
	if (!r->file_copy) {
		if ((fd = open(r->file_path, O_RDONLY | O_CLOEXEC)) < 0)
			return out_file_error(errno, "read the spooled file", r->file_path);
		*fd_out = fd;
		return OPRA_OK;
	}
	if ((rc = record_path(path, sizeof(path), s, r->id, false, SPOOL_SUFFIX)) != OPRA_OK)
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return out_file_error(errno, "read the spool record", path);
	if (lseek(fd, (off_t)r->data_offset, SEEK_SET) < 0) {
		rc = out_file_error(errno, "read the spool record", path);
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return OPRA_OK;
}

int spool_remove(spool *s, const char *id)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = record_path(path, sizeof(path), s, id, false, SPOOL_SUFFIX)) != OPRA_OK)
		return rc;
	if (unlink(path) != 0 && errno != ENOENT)
		return out_file_error(errno, "remove the delivered spool record", path);
	return OPRA_OK;
}

int spool_fail(spool *s, const char *id, const char *why)
{
	char from[PATH_MAX], to[PATH_MAX], err_path[PATH_MAX];
	int fd, rc;

	if ((rc = record_path(from, sizeof(from), s, id, false, SPOOL_SUFFIX)) != OPRA_OK ||
	    (rc = record_path(to, sizeof(to), s, id, true, SPOOL_SUFFIX)) != OPRA_OK ||
	    (rc = record_path(err_path, sizeof(err_path), s, id, true, ".error")) != OPRA_OK)
		return rc;
	if (mkdir(s->failed, 0700) != 0 && errno != EEXIST)
		return out_file_error(errno, "create the directory", s->failed);
	/* The reason first: a record in failed/ always has its reason. */
	if ((fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return out_file_error(errno, "write", err_path);
	rc = write_all(fd, why, strlen(why), err_path);
	if (rc == OPRA_OK)
		rc = write_all(fd, "\n", 1, err_path);
	close(fd);
	if (rc != OPRA_OK)
		return rc;
	if (rename(from, to) != 0)
		return out_file_error(errno, "move the failed record to", s->failed);
	return OPRA_OK;
}
