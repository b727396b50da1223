/* Chunked, resumable, deduplicated upload of one evidence file (see
 * upload.h). Shared by the CLI (client/cmd_evidence.c, and through it `opra
 * sync`) and bench/bench_evidence.c, so the benchmark measures what users
 * run.
 *
 * One pass = UploadBegin, then the missing chunks on up to `streams`
 * connections at once (each a thread with its own rpc_client and one chunk
 * buffer; they take the next missing chunk in file order from a shared
 * cursor, so chunks arrive nearly in order and the server can hash them as
 * they come), then UploadCommit. The client does not hash the chunks again
 * while sending: the server hashes every byte it stores and refuses a
 * commit whose bytes do not match the declared SHA-256. When that happens,
 * the client hashes the source once more to tell "the file changed while it
 * was sent" from other causes. */
#include "upload.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "sha256.h"
#include "token.h"

#include "opra/v1/evidence.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Extra passes after transient failures in a row (backoff 100 ms, 200 ms,
 * ... 1.6 s: about 3 s in all before giving up). Progress resets it. */
#define UPLOAD_RETRIES 5
/* The largest chunk size a server may ask for (one buffer per stream). */
#define UPLOAD_CHUNK_MAX (64u * 1024u * 1024u)
/* Derived keys: KEY/commit, KEY/begin/RANDOM. */
#define UPLOAD_KEY_MAX 160

static const char *const M_BEGIN = "opra.v1.Evidence/UploadBegin";
static const char *const M_CHUNK = "opra.v1.Evidence/UploadChunk";
static const char *const M_COMMIT = "opra.v1.Evidence/UploadCommit";

static bool transient(int status)
{
	return status == OPRA_UNAVAILABLE || status == OPRA_DEADLINE_EXCEEDED ||
	       status == OPRA_RESOURCE_EXHAUSTED || status == OPRA_ABORTED;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- one pass: the missing chunks, several at once ---- */

typedef struct {
	const upload_params *p;
	const upload_source *src;
	const Opra__V1__UploadBeginReply *b;
	pthread_mutex_t mu;
	/* cursor over b->missing (under mu) */
	size_t range;
	uint64_t next;
	bool stop;
	/* the first failure (under mu) */
	int rc;
	char msg[OPRA_ERR_MSG_MAX];
	bool file_changed;
	/* progress (under mu) */
	uint64_t done;
	uint64_t sent;
} pass;

typedef struct {
	pass *ps;
	rpc_client *rpc;
	uint8_t *buf;
	pthread_t thread;
	bool running;
} stream;

/* The next missing chunk in file order; false when none is left or the
 * pass stopped. */
static bool take_chunk(pass *ps, uint32_t *seq)
{
	bool ok = false;

	pthread_mutex_lock(&ps->mu);
	while (!ps->stop && ps->range < ps->b->n_missing &&
	       ps->next >= ps->b->missing[ps->range]->count) {
		ps->range++;
		ps->next = 0;
	}
	if (!ps->stop && ps->range < ps->b->n_missing) {
		*seq = (uint32_t)(ps->b->missing[ps->range]->first + ps->next++);
		ok = true;
	}
	pthread_mutex_unlock(&ps->mu);
	return ok;
}

/* Records the failure (the first one wins) and stops the pass. The message
 * is this thread's last error. */
static void pass_fail(pass *ps, int rc, bool file_changed)
{
	pthread_mutex_lock(&ps->mu);
	if (!ps->stop) {
		ps->rc = rc;
		snprintf(ps->msg, sizeof(ps->msg), "%s", opra_err_msg());
		ps->file_changed = file_changed;
		ps->stop = true;
	}
	pthread_mutex_unlock(&ps->mu);
}

/* Reads exactly len bytes at offset of the source. *changed: the source is
 * shorter than it was. */
static int read_at(const upload_source *f, uint8_t *buf, size_t len, uint64_t offset, bool *changed)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(f->fd, buf + got, len - got, (off_t)(f->offset + offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return opra_err_set(OPRA_INVALID_ARGUMENT, "cannot read %s: %s", f->name,
					    strerror(errno));
		if (n == 0) {
			*changed = true;
			return opra_err_set(OPRA_FAILED_PRECONDITION,
					    "%s became shorter while it was being sent; nothing "
					    "was stored: run the command again",
					    f->name);
		}
		got += (size_t)n;
	}
	return OPRA_OK;
}

static void *stream_run(void *arg)
{
	stream *s = arg;
	pass *ps = s->ps;
	const Opra__V1__UploadBeginReply *b = ps->b;
	uint64_t size = ps->src->size;
	uint32_t seq;

	while (take_chunk(ps, &seq)) {
		uint64_t off = (uint64_t)seq * b->chunk_size;
		size_t len = (size_t)(size - off < b->chunk_size ? size - off : b->chunk_size);
		bool changed = false;
		int rc = read_at(ps->src, s->buf, len, off, &changed);
		if (rc != OPRA_OK) {
			pass_fail(ps, rc, changed);
			break;
		}
		Opra__V1__UploadChunkRequest req = OPRA__V1__UPLOAD_CHUNK_REQUEST__INIT;
		Opra__V1__UploadChunkReply *resp = NULL;
		req.upload_id = b->upload_id;
		req.seq = seq;
		req.data.data = s->buf;
		req.data.len = len;
		/* A chunk is idempotent by nature: no key, and a chunk the
		 * server already has is answered ALREADY_EXISTS. */
		rc = rpc_call(s->rpc, M_CHUNK, &req.base, &opra__v1__upload_chunk_reply__descriptor,
			      (ProtobufCMessage **)&resp, NULL);
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (rc == OPRA_ALREADY_EXISTS)
			rc = OPRA_OK;
		if (rc != OPRA_OK) {
			pass_fail(ps, rc, false);
			break;
		}
		pthread_mutex_lock(&ps->mu);
		ps->done += len;
		ps->sent += len;
		if (ps->p->progress)
			ps->p->progress(ps->p->progress_arg, ps->done, size);
		pthread_mutex_unlock(&ps->mu);
	}
	return NULL;
}

/* The connections of one upload: conns[0] is the caller's. */
typedef struct {
	rpc_client *conns[UPLOAD_STREAMS_MAX];
	uint8_t *bufs[UPLOAD_STREAMS_MAX];
	size_t buf_size;
	int n; /* usable connections */
} streams;

static void streams_free(streams *ss)
{
	for (int i = 1; i < UPLOAD_STREAMS_MAX; i++)
		rpc_client_close(ss->conns[i]);
	for (int i = 0; i < UPLOAD_STREAMS_MAX; i++)
		opra_free(ss->bufs[i]);
}

/* Makes `want` streams with chunk buffers of chunk_size ready (fewer when
 * connections or memory cannot be had; at least one, or an error). */
static int streams_ready(streams *ss, const upload_params *p, int want, uint32_t chunk_size)
{
	if (ss->buf_size < chunk_size) {
		for (int i = 0; i < UPLOAD_STREAMS_MAX; i++) {
			opra_free(ss->bufs[i]);
			ss->bufs[i] = NULL;
		}
		ss->buf_size = chunk_size;
	}
	ss->conns[0] = p->rpc;
	for (int i = 1; i < want && p->more != NULL; i++)
		if (ss->conns[i] == NULL && rpc_client_open(&ss->conns[i], p->more) != OPRA_OK)
			ss->conns[i] = NULL;
	ss->n = 0;
	for (int i = 0; i < want && ss->conns[i] != NULL; i++) {
		if (ss->bufs[i] == NULL && (ss->bufs[i] = opra_malloc(ss->buf_size)) == NULL)
			break;
		ss->n++;
	}
	opra_err_clear();
	if (ss->n == 0)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED,
				    "out of memory for a %u-byte chunk buffer", chunk_size);
	return OPRA_OK;
}

/* Sends the chunks b lists as missing. Returns OPRA_OK when all are stored;
 * otherwise the first failure (transient: the connection failed). */
static int send_pass(const upload_params *p, const upload_source *src,
		     const Opra__V1__UploadBeginReply *b, streams *ss, int want, upload_result *res,
		     bool *progressed)
{
	pass ps;
	stream st[UPLOAD_STREAMS_MAX];
	uint64_t missing_bytes = 0;
	int rc;

	*progressed = false;
	for (size_t i = 0; i < b->n_missing; i++) {
		uint64_t first = b->missing[i]->first, count = b->missing[i]->count;
		if (first + count > b->chunks)
			return opra_err_set(OPRA_INTERNAL,
					    "the server asked for chunks %llu..%llu of %u; it and "
					    "this client disagree",
					    (unsigned long long)first,
					    (unsigned long long)(first + count), b->chunks);
		uint64_t end = (first + count) * b->chunk_size;
		missing_bytes += (end > src->size ? src->size : end) - first * b->chunk_size;
	}
	/* No more streams than chunks to send. */
	uint64_t n_chunks = 0;
	for (size_t i = 0; i < b->n_missing; i++)
		n_chunks += b->missing[i]->count;
	if ((uint64_t)want > n_chunks)
		want = n_chunks ? (int)n_chunks : 1;
	if ((rc = streams_ready(ss, p, want, b->chunk_size)) != OPRA_OK)
		return rc;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.src = src;
	ps.b = b;
	ps.done = src->size - missing_bytes;
	pthread_mutex_init(&ps.mu, NULL);
	memset(st, 0, sizeof(st));
	for (int i = 0; i < ss->n; i++) {
		st[i].ps = &ps;
		st[i].rpc = ss->conns[i];
		st[i].buf = ss->bufs[i];
	}
	for (int i = 1; i < ss->n; i++)
		st[i].running = pthread_create(&st[i].thread, NULL, stream_run, &st[i]) == 0;
	stream_run(&st[0]);
	res->streams_used = 1;
	for (int i = 1; i < ss->n; i++)
		if (st[i].running) {
			pthread_join(st[i].thread, NULL);
			res->streams_used++;
		}
	pthread_mutex_destroy(&ps.mu);
	res->bytes_sent += ps.sent;
	*progressed = ps.sent > 0;
	if (ps.rc != OPRA_OK) {
		res->file_changed = res->file_changed || ps.file_changed;
		return opra_err_set(ps.rc, "%s", ps.msg);
	}
	if (src->check_size) {
		struct stat sb;
		if (fstat(src->fd, &sb) != 0 || (uint64_t)sb.st_size != src->offset + src->size) {
			res->file_changed = true;
			return opra_err_set(OPRA_FAILED_PRECONDITION,
					    "%s changed size while it was being sent; nothing was "
					    "stored: run the command again",
					    src->name);
		}
	}
	return OPRA_OK;
}

/* After the server refused the bytes: does the source still hash to the
 * declared SHA-256? Sets a message that says what happened when not. */
static int check_source(const upload_source *src, uint8_t *buf, size_t buf_size, upload_result *res)
{
	sha256_ctx h;
	uint8_t digest[SHA256_BYTES];
	char hex[SHA256_HEX_LEN + 1];
	bool changed = false;

	sha256_init(&h);
	for (uint64_t off = 0; off < src->size;) {
		size_t len = (size_t)(src->size - off < buf_size ? src->size - off : buf_size);
		int rc = read_at(src, buf, len, off, &changed);
		if (rc != OPRA_OK) {
			res->file_changed = res->file_changed || changed;
			return rc;
		}
		sha256_update(&h, buf, len);
		off += len;
	}
	sha256_final(&h, digest);
	sha256_hex(hex, digest);
	if (strcmp(hex, src->sha256) == 0)
		return OPRA_OK;
	res->file_changed = true;
	return opra_err_set(OPRA_FAILED_PRECONDITION,
			    "%s changed while it was being sent (its SHA-256 is now %s); nothing "
			    "was stored: run the command again",
			    src->name, hex);
}

int upload_run(const upload_params *p, const upload_source *src, upload_result *result)
{
	upload_result res;
	streams ss;
	char begin_key[UPLOAD_KEY_MAX + 32], commit_key[UPLOAD_KEY_MAX + 32];
	int failures = 0, fresh_begins = 0, rc = OPRA_OK;
	int want = p->streams > 0 ? p->streams : UPLOAD_STREAMS_DEFAULT;

	if (want > UPLOAD_STREAMS_MAX)
		want = UPLOAD_STREAMS_MAX;
	memset(&res, 0, sizeof(res));
	memset(&ss, 0, sizeof(ss));
	snprintf(commit_key, sizeof(commit_key), "%.*s/commit", UPLOAD_KEY_MAX, p->key);
	for (;;) {
		Opra__V1__UploadBeginRequest breq = OPRA__V1__UPLOAD_BEGIN_REQUEST__INIT;
		Opra__V1__UploadBeginReply *b = NULL;
		bool progressed = false;

		if (failures > 0)
			sleep_ms(100L << (failures - 1 < 5 ? failures - 1 : 5));
		/* UploadBegin only reports what the server holds (and creates
		 * at most one open upload per content, shared by everyone), so
		 * it is naturally idempotent. Each begin gets its own key under
		 * KEY/begin/: a stored earlier answer would list chunks that
		 * have arrived since. */
		{
			char rnd[17];
			opra_random_hex(rnd, 8);
			snprintf(begin_key, sizeof(begin_key), "%.*s/begin/%s", UPLOAD_KEY_MAX,
				 p->key, rnd);
		}
		breq.appraisal = (char *)p->appraisal;
		breq.sha256 = (char *)src->sha256;
		breq.size = src->size;
		res.passes++;
		rc = rpc_call(p->rpc, M_BEGIN, &breq.base,
			      &opra__v1__upload_begin_reply__descriptor, (ProtobufCMessage **)&b,
			      begin_key);
		if (rc != OPRA_OK) {
			if (transient(rc) && ++failures <= UPLOAD_RETRIES)
				continue;
			break;
		}
		if (b->stored) {
			res.deduplicated = res.bytes_sent == 0;
			protobuf_c_message_free_unpacked(&b->base, NULL);
			rc = OPRA_OK;
			break;
		}
		uint64_t want_chunks =
			b->chunk_size ? (src->size + b->chunk_size - 1) / b->chunk_size : 0;
		if (b->upload_id == 0 || b->chunk_size == 0 || b->chunk_size > UPLOAD_CHUNK_MAX ||
		    b->chunks != want_chunks) {
			rc = opra_err_set(
				OPRA_INTERNAL,
				"the server's upload plan (%u chunks of %u bytes) does not "
				"fit a file of %llu bytes; client and server versions differ?",
				b->chunks, b->chunk_size, (unsigned long long)src->size);
			protobuf_c_message_free_unpacked(&b->base, NULL);
			break;
		}
		rc = send_pass(p, src, b, &ss, want, &res, &progressed);
		if (progressed)
			failures = 0;
		if (rc == OPRA_OK) {
			Opra__V1__UploadCommitRequest creq = OPRA__V1__UPLOAD_COMMIT_REQUEST__INIT;
			creq.upload_id = b->upload_id;
			for (int attempt = 0; attempt <= UPLOAD_RETRIES; attempt++) {
				Opra__V1__UploadCommitReply *cr = NULL;
				if (attempt > 0)
					sleep_ms(100L << (attempt - 1));
				rc = rpc_call(p->rpc, M_COMMIT, &creq.base,
					      &opra__v1__upload_commit_reply__descriptor,
					      (ProtobufCMessage **)&cr, commit_key);
				if (cr)
					protobuf_c_message_free_unpacked(&cr->base, NULL);
				if (!transient(rc))
					break;
			}
			/* The bytes did not hash to the declared SHA-256 (the server
			 * discarded them): say why when the file changed. */
			if (rc == OPRA_INVALID_ARGUMENT && ss.bufs[0] != NULL) {
				char msg[OPRA_ERR_MSG_MAX];
				snprintf(msg, sizeof(msg), "%s", opra_err_msg());
				int why = check_source(src, ss.bufs[0], ss.buf_size, &res);
				if (why == OPRA_OK)
					opra_err_set(rc, "%s", msg);
				else
					rc = why;
			}
		}
		protobuf_c_message_free_unpacked(&b->base, NULL);
		if (rc == OPRA_OK)
			break;
		if (transient(rc)) {
			/* Fewer connections at once after a failure: a flaky link
			 * or a busy server recovers sooner. */
			if (want > 1)
				want /= 2;
			if (++failures <= UPLOAD_RETRIES)
				continue;
			break;
		}
		/* The upload was committed by someone else, removed, or still
		 * lacks chunks: ask again (a few times) what is needed. */
		if ((rc == OPRA_FAILED_PRECONDITION || rc == OPRA_NOT_FOUND) && !res.file_changed &&
		    ++fresh_begins <= 3)
			continue;
		break;
	}
	if (rc != OPRA_OK) { /* closing connections must not lose the message */
		char msg[OPRA_ERR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", opra_err_msg());
		streams_free(&ss);
		opra_err_set(rc, "%s", msg);
	} else {
		streams_free(&ss);
	}
	if (result)
		*result = res;
	return rc;
}
