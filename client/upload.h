/* Chunked, resumable, deduplicated upload of one evidence file
 * (opra.v1.Evidence UploadBegin / UploadChunk / UploadCommit): the one
 * implementation that `opra evidence submit --file`, `opra sync` and
 * bench/bench_evidence share.
 *
 * UploadBegin(sha256, size) -> "stored" (nothing is sent: dedup) or the
 * chunks still missing -> the missing chunks, several in flight on separate
 * connections (each reads its chunk with pread: one chunk buffer per
 * connection, never the whole file) -> UploadCommit, where the server
 * verifies the SHA-256 before the blob exists. A transient failure (a
 * dropped connection, a busy server) is retried with backoff; each retry
 * asks UploadBegin again what is missing, so an upload resumes where it
 * stopped, also across runs of the program.
 *
 * Not thread-safe in itself: one upload_run at a time per rpc_client. */
#ifndef OPRA_CLIENT_UPLOAD_H
#define OPRA_CLIENT_UPLOAD_H

#include "rpc.h"

#include <stdbool.h>
#include <stdint.h>

/* Chunks in flight at once (connections) by default, and at most. The
 * server's default of 4 workers serves 4 chunks at once. */
#define UPLOAD_STREAMS_DEFAULT 4
#define UPLOAD_STREAMS_MAX     16

/* The bytes to upload: size bytes of fd from offset (a user's file at 0, or
 * the copy inside a spool record). The hash was computed beforehand (the
 * server checks it at commit). */
typedef struct {
	int fd;
	uint64_t offset;
	const char *name;   /* for messages */
	const char *sha256; /* 64 lower-case hex digits */
	uint64_t size;
	bool check_size; /* the file must end at offset + size (a user's file) */
} upload_source;

/* Called after each chunk the server acknowledged, from any of the upload's
 * threads but never two at once: done of total bytes are stored. */
typedef void (*upload_progress_fn)(void *arg, uint64_t done, uint64_t total);

typedef struct {
	rpc_client *rpc;	 /* Begin, Commit and the first chunk stream */
	const rpc_options *more; /* how to open the other streams' connections (a
				   copy of rpc's options); NULL: rpc alone */
	int streams;		 /* chunks in flight, 1..UPLOAD_STREAMS_MAX (0: default) */
	const char *appraisal;
	const char *key;	     /* the operation's idempotency key (Commit uses KEY/commit) */
	upload_progress_fn progress; /* may be NULL */
	void *progress_arg;
} upload_params;

/* What one upload_run did. */
typedef struct {
	bool deduplicated;   /* the server had the bytes: nothing was sent */
	uint64_t bytes_sent; /* chunk bytes sent (a resumed upload sends less) */
	int passes;	     /* UploadBegin calls */
	int streams_used;    /* connections that sent chunks in the last pass */
	bool file_changed;   /* the source changed while it was sent */
} upload_result;

/* Uploads src (or learns that the server has it). Returns OPRA_OK or a
 * status with the message set (opra_err_msg()); a transient status
 * (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED) means the
 * retries ran out and a later run resumes. *result may be NULL. */
int upload_run(const upload_params *p, const upload_source *src, upload_result *result);

#endif
