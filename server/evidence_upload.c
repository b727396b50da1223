/* opra.v1.Evidence, the file part: chunked, resumable, deduplicated uploads
 * (the method table is in server/svc_evidence.c).
 *
 * UploadBegin(sha256, size) answers "stored" when a blob with that
 * SHA-256 exists (dedup), or opens (or finds) the one open upload of that
 * content and lists the chunks still missing (resume). UploadChunk stores
 * one chunk (binary parameter, never hex) and advances the incremental
 * SHA-256 of the in-order prefix (uploads.hashed_upto / hash_state), reading
 * back chunks that arrived early one at a time. UploadCommit finishes the
 * hash over whatever is not hashed yet, again one chunk at a time, and
 * creates the blob only when it matches. No call ever holds more than one
 * chunk of a file in memory.
 *
 * Several chunks of one upload are stored at once (the client sends up to
 * four, in file order, on separate connections): a chunk is inserted
 * without locking the upload row, and only the hash step takes the row lock
 * (FOR NO KEY UPDATE, which does not block the inserts' foreign-key KEY
 * SHARE). Each chunk transaction holds an advisory lock on (upload, seq);
 * a chunk whose predecessor is being stored right now waits for that
 * transaction, so it is hashed from memory in order instead of being read
 * back. Waits only go to lower chunk numbers, so they cannot deadlock.
 *
 * The upload methods are idempotent by nature (METHOD_NO_KEY): a second
 * Begin answers the same upload and what is still missing, a chunk sent
 * twice is ALREADY_EXISTS and changes nothing, a second Commit of a
 * committed upload answers the same result. A replayed stored reply would be
 * wrong here (a stale list of missing chunks, or an upload deleted after a
 * failed verification), so no idempotency record is kept for them.
 *
 * Chunk transactions commit with synchronous_commit off: a chunk lost in a
 * crash is simply reported missing by the next Begin, and Commit (which is
 * synchronous) flushes the WAL of every chunk before it in order, so a blob
 * never refers to chunks that are not durable.
 */
#include "appraisal.h"
#include "evidence_internal.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "sha256.h"

#include "opra/v1/evidence.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The chunk size this server hands out for new uploads: 1 MiB, or less when
 * the receive limit would not fit a 1 MiB chunk with its envelope. */
uint32_t evidence_chunk_size(const call *c)
{
	size_t max = c->server ? c->server->max_message_size : 0;
	if (max == 0 || max >= (size_t)EVIDENCE_CHUNK_SIZE + EVIDENCE_CHUNK_ROOM)
		return EVIDENCE_CHUNK_SIZE;
	if (max < EVIDENCE_CHUNK_ROOM + EVIDENCE_CHUNK_MIN)
		return EVIDENCE_CHUNK_MIN;
	return (uint32_t)((max - EVIDENCE_CHUNK_ROOM) & ~(size_t)(EVIDENCE_CHUNK_MIN - 1));
}

static uint32_t chunk_count(uint64_t size, uint32_t cs)
{
	return (uint32_t)((size + cs - 1) / cs);
}

/* Expected length of chunk seq: chunk_size, except the last. */
static uint32_t chunk_len(uint64_t size, uint32_t cs, uint32_t seq)
{
	uint64_t start = (uint64_t)seq * cs;
	uint64_t left = size - start;
	return left < cs ? (uint32_t)left : cs;
}

/* ---- validation helpers (before authentication) ---- */

/* ---- UploadBegin ---- */

int evidence_upload_begin_validate(const ProtobufCMessage *in)
{
	const Opra__V1__UploadBeginRequest *r = (const Opra__V1__UploadBeginRequest *)in;
	uint8_t h[SHA256_BYTES];
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if ((rc = evidence_check_sha256(r->sha256, h)) != OPRA_OK)
		return rc;
	if (r->size > EVIDENCE_UPLOAD_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE,
				    "the file is %" PRIu64 " bytes; evidence files may be at most "
				    "%llu bytes (4 GiB): split it or store it elsewhere and submit "
				    "a reference",
				    r->size, (unsigned long long)EVIDENCE_UPLOAD_MAX);
	return OPRA_OK;
}

/* Fills the missing ranges of an open upload from its stored chunk numbers
 * (read from the primary key index; no chunk data is touched). */
static int missing_ranges(call *c, const char *upload_id, uint32_t chunks,
			  Opra__V1__ChunkRange **ranges_out, size_t *n_out)
{
	PGresult *r = NULL;
	Opra__V1__ChunkRange *ranges = NULL;
	size_t n = 0;
	const char *p[1] = {upload_id};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT seq FROM upload_chunks WHERE upload_id = $1::bigint ORDER BY seq",
			 1, p);
	if (rc != OPRA_OK)
		return rc;
	int have = PQntuples(r);
	/* At most have + 1 gaps. */
	size_t cap = (size_t)have + 1;
	if (cap > EVIDENCE_RANGES_MAX)
		cap = EVIDENCE_RANGES_MAX;
	ranges = opra_calloc(cap, sizeof(*ranges));
	if (ranges == NULL) {
		rc = evidence_oom();
		goto done;
	}
	uint32_t next = 0; /* first chunk not yet accounted for */
	for (int i = 0; i <= have && n < cap; i++) {
		uint32_t seq = i < have ? (uint32_t)db_to_ll(PQgetvalue(r, i, 0)) : chunks;
		if (seq > chunks)
			seq = chunks;
		if (seq > next) {
			opra__v1__chunk_range__init(&ranges[n]);
			ranges[n].first = next;
			ranges[n].count = seq - next;
			n++;
		}
		if (seq + 1 > next)
			next = seq + 1;
	}
	*ranges_out = ranges;
	*n_out = n;
	ranges = NULL;
done:
	opra_free(ranges);
	PQclear(r);
	return rc;
}

int evidence_upload_begin(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UploadBeginRequest *req = (const Opra__V1__UploadBeginRequest *)in;
	appraisal_ref a;
	PGresult *r = NULL;
	Opra__V1__ChunkRange *ranges = NULL, **ptrs = NULL;
	size_t n_ranges = 0;
	char hex[SHA256_HEX_LEN + 1], size_text[32], uid[32], cs_text[16], upload_id[32] = "";
	uint8_t h[SHA256_BYTES];
	uint32_t cs = 0;
	int stored = 0, rc;

	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_SUBMIT, APPR_WRITE, &a)) != OPRA_OK)
		return rc;
	sha256_parse_hex(h, req->sha256);
	sha256_hex(hex, h);
	snprintf(size_text, sizeof(size_text), "%" PRIu64, req->size);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	snprintf(cs_text, sizeof(cs_text), "%u", evidence_chunk_size(c));
	const char *p[4] = {hex, size_text, uid, cs_text};

	/* A concurrent Commit of the same content may turn the open upload into
	 * a blob between our statements: look again (bounded). */
	for (int attempt = 0; attempt < 3 && !stored && upload_id[0] == '\0'; attempt++) {
		rc = db_exec(&r, c->db, 1,
			     "SELECT size FROM blobs WHERE sha256 = decode($1, 'hex')", 1, p);
		if (rc != OPRA_OK)
			goto done;
		if (PQntuples(r) == 1) {
			if (strcmp(PQgetvalue(r, 0, 0), size_text) != 0) {
				rc = opra_err_set(OPRA_INVALID_ARGUMENT,
						  "a file with SHA-256 %s is stored with %s bytes, "
						  "not %s: the size or the hash you declared is "
						  "wrong",
						  hex, PQgetvalue(r, 0, 0), size_text);
				goto done;
			}
			stored = 1;
			break;
		}
		PQclear(r);
		r = NULL;
		/* Concurrent begins of the same content share one upload: the
		 * insert waits for a concurrent one and then does nothing; the
		 * next statement (a new snapshot) sees whichever row won. */
		if ((rc = db_cmd(c->db,
				 "INSERT INTO uploads (sha256, size, chunk_size, user_id) VALUES "
				 "(decode($1, 'hex'), $2::bigint, $4::integer, $3::bigint) "
				 "ON CONFLICT (sha256, size) WHERE committed_at IS NULL DO NOTHING",
				 4, p)) != OPRA_OK)
			goto done;
		rc = db_exec(&r, c->db, 1,
			     "SELECT id, chunk_size FROM uploads WHERE sha256 = decode($1, 'hex') "
			     "AND size = $2::bigint AND committed_at IS NULL",
			     2, p);
		if (rc != OPRA_OK)
			goto done;
		if (PQntuples(r) == 1) {
			snprintf(upload_id, sizeof(upload_id), "%s", PQgetvalue(r, 0, 0));
			cs = (uint32_t)db_to_ll(PQgetvalue(r, 0, 1));
		}
		PQclear(r);
		r = NULL;
	}
	Opra__V1__UploadBeginReply resp = OPRA__V1__UPLOAD_BEGIN_REPLY__INIT;
	if (stored) {
		resp.stored = 1;
		resp.chunk_size = evidence_chunk_size(c);
		resp.chunks = chunk_count(req->size, resp.chunk_size);
		rc = call_reply(c, &resp.base);
		goto done;
	}
	if (upload_id[0] == '\0' || cs == 0) {
		rc = opra_err_set(OPRA_ABORTED,
				  "concurrent uploads of the same file kept changing; begin again");
		goto done;
	}
	uint32_t chunks = chunk_count(req->size, cs);
	if ((rc = missing_ranges(c, upload_id, chunks, &ranges, &n_ranges)) != OPRA_OK)
		goto done;
	if (n_ranges > 0 && (ptrs = opra_calloc(n_ranges, sizeof(*ptrs))) == NULL) {
		rc = evidence_oom();
		goto done;
	}
	for (size_t i = 0; i < n_ranges; i++)
		ptrs[i] = &ranges[i];
	resp.upload_id = (uint64_t)db_to_ll(upload_id);
	resp.chunk_size = cs;
	resp.chunks = chunks;
	resp.missing = ptrs;
	resp.n_missing = n_ranges;
	rc = call_reply(c, &resp.base);
done:
	PQclear(r);
	opra_free(ranges);
	opra_free(ptrs);
	return rc;
}

/* ---- UploadChunk / UploadCommit ---- */

typedef struct {
	char id[32];
	uint8_t sha256[SHA256_BYTES];
	uint64_t size;
	uint32_t chunk_size;
	uint32_t chunks;
	int committed;
	int allowed; /* the caller's upload, or a submitting member somewhere */
	uint64_t hashed_upto;
	sha256_ctx hash;
} upload_row;

/* Reads the upload row with its hash state; with lock, also locks it (FOR
 * NO KEY UPDATE: the hash state advances one transaction at a time, while
 * chunk inserts, whose foreign key only takes KEY SHARE, go on). */
static int upload_read(call *c, uint64_t upload_id, upload_row *u, int lock)
{
	PGresult *r = NULL;
	char uid[32];
	int rc;

	memset(u, 0, sizeof(*u));
	snprintf(u->id, sizeof(u->id), "%" PRIu64, upload_id);
	if (upload_id == 0 || upload_id > 0x7fffffffffffffffull)
		return opra_err_set(OPRA_NOT_FOUND,
				    "no upload %s: begin the upload with UploadBegin first", u->id);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p[2] = {u->id, uid};
	const int fmts[2] = {0, 0};
	/* Two texts, so that each is one prepared statement. */
	rc = db_exec_binres(
		&r, c->db,
		lock ? "SELECT sha256, size, chunk_size, committed_at IS NOT NULL, "
		       "user_id = $2::bigint OR EXISTS (SELECT 1 FROM appraisal_members m "
		       "JOIN appraisals a ON a.id = m.appraisal_id WHERE m.user_id = $2::bigint "
		       "AND m.role IN ('lead', 'appraiser', 'automation') AND a.sealed_at IS "
		       "NULL), "
		       "hashed_upto, hash_state FROM uploads WHERE id = $1::bigint FOR NO KEY "
		       "UPDATE"
		     : "SELECT sha256, size, chunk_size, committed_at IS NOT NULL, "
		       "user_id = $2::bigint OR EXISTS (SELECT 1 FROM appraisal_members m "
		       "JOIN appraisals a ON a.id = m.appraisal_id WHERE m.user_id = $2::bigint "
		       "AND m.role IN ('lead', 'appraiser', 'automation') AND a.sealed_at IS "
		       "NULL), "
		       "hashed_upto, hash_state FROM uploads WHERE id = $1::bigint",
		2, p, NULL, fmts);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return opra_err_set(OPRA_NOT_FOUND,
				    "no upload %s: it was never begun, or it failed verification "
				    "and was discarded; begin the upload again",
				    u->id);
	}
	/* Binary results: bytea raw, int8/int4 big-endian, bool one byte. */
	if (PQgetlength(r, 0, 0) != SHA256_BYTES || PQgetlength(r, 0, 1) != 8 ||
	    PQgetlength(r, 0, 2) != 4 || PQgetlength(r, 0, 5) != 8) {
		PQclear(r);
		return opra_err_set(OPRA_INTERNAL, "upload %s has an unexpected row shape", u->id);
	}
	const unsigned char *b;
	memcpy(u->sha256, PQgetvalue(r, 0, 0), SHA256_BYTES);
	b = (const unsigned char *)PQgetvalue(r, 0, 1);
	for (int i = 0; i < 8; i++)
		u->size = (u->size << 8) | b[i];
	b = (const unsigned char *)PQgetvalue(r, 0, 2);
	for (int i = 0; i < 4; i++)
		u->chunk_size = (u->chunk_size << 8) | b[i];
	u->committed = PQgetvalue(r, 0, 3)[0] != 0;
	u->allowed = PQgetvalue(r, 0, 4)[0] != 0;
	b = (const unsigned char *)PQgetvalue(r, 0, 5);
	for (int i = 0; i < 8; i++)
		u->hashed_upto = (u->hashed_upto << 8) | b[i];
	u->chunks = u->chunk_size ? chunk_count(u->size, u->chunk_size) : 0;
	rc = OPRA_OK;
	if (u->chunk_size == 0 || u->hashed_upto > u->size) {
		rc = opra_err_set(OPRA_INTERNAL, "upload %s has an inconsistent state", u->id);
	} else if (u->hashed_upto == 0 || PQgetisnull(r, 0, 6)) {
		u->hashed_upto = 0;
		sha256_init(&u->hash);
	} else if (sha256_state_load(&u->hash, (const uint8_t *)PQgetvalue(r, 0, 6),
				     (size_t)PQgetlength(r, 0, 6)) != OPRA_OK) {
		/* A state saved by another build: hash from the start at Commit. */
		u->hashed_upto = 0;
		sha256_init(&u->hash);
	}
	PQclear(r);
	if (rc == OPRA_OK && !u->allowed)
		rc = opra_err_set(OPRA_PERMISSION_DENIED,
				  "upload %s was begun by another user, and user '%s' may submit "
				  "evidence to no open appraisal",
				  u->id, c->who->name);
	return rc;
}

/* Feeds stored chunks from u->hashed_upto on into the hash, one at a time,
 * stopping at the first chunk not stored (or at `through`, exclusive). */
static int hash_stored_chunks(call *c, upload_row *u, uint32_t through)
{
	uint32_t seq = (uint32_t)(u->hashed_upto / u->chunk_size);
	while (seq < through && u->hashed_upto < u->size) {
		PGresult *r = NULL;
		char seq_text[16];
		snprintf(seq_text, sizeof(seq_text), "%u", seq);
		const char *p[2] = {u->id, seq_text};
		int rc = db_exec_binres(&r, c->db,
					"SELECT data FROM upload_chunks WHERE upload_id = "
					"$1::bigint AND seq = $2::integer",
					2, p, NULL, NULL);
		if (rc != OPRA_OK)
			return rc;
		if (PQntuples(r) != 1) {
			PQclear(r);
			return OPRA_OK;
		}
		size_t len = (size_t)PQgetlength(r, 0, 0);
		if (len != chunk_len(u->size, u->chunk_size, seq)) {
			PQclear(r);
			return opra_err_set(OPRA_DATA_LOSS,
					    "chunk %u of upload %s has %zu bytes stored; expected "
					    "%u",
					    seq, u->id, len,
					    chunk_len(u->size, u->chunk_size, seq));
		}
		sha256_update(&u->hash, PQgetvalue(r, 0, 0), len);
		u->hashed_upto += len;
		PQclear(r);
		seq++;
	}
	return OPRA_OK;
}

static int save_hash_state(call *c, const upload_row *u)
{
	uint8_t state[SHA256_STATE_MAX];
	char upto[32];
	size_t n = sha256_state_save(&u->hash, state);
	snprintf(upto, sizeof(upto), "%" PRIu64, u->hashed_upto);
	const char *p[3] = {u->id, upto, (const char *)state};
	const int lens[3] = {0, 0, (int)n};
	const int fmts[3] = {0, 0, 1};
	PGresult *r = NULL;
	int rc = db_exec_bin(&r, c->db, 0,
			     "UPDATE uploads SET hashed_upto = $2::bigint, hash_state = $3 "
			     "WHERE id = $1::bigint",
			     3, p, lens, fmts);
	PQclear(r);
	return rc;
}

/* The advisory lock of chunk seq of an upload (two-int4 key space, used
 * nowhere else): held by the transaction storing that chunk, so the next
 * chunk can wait for it and hash in order without reading it back. Keys of
 * different uploads may collide (upload ids modulo 2^31): that costs at most
 * a short wait, never correctness. */
static void chunk_lock_key(char out[16], const upload_row *u)
{
	snprintf(out, 16, "%lld", (long long)((unsigned long long)db_to_ll(u->id) & 0x7fffffffull));
}

int evidence_upload_chunk(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UploadChunkRequest *req = (const Opra__V1__UploadChunkRequest *)in;
	upload_row u;
	char seq_text[16], prev_text[16], lock_key[16];
	int rc;

	/* No row lock yet: chunks of one upload are stored concurrently (one
	 * per worker); only the hash state advances one at a time. */
	if ((rc = upload_read(c, req->upload_id, &u, 0)) != OPRA_OK)
		return rc;
	if (u.committed)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "upload %s is already committed: the file is stored; submit "
				    "it by its SHA-256",
				    u.id);
	if (req->seq >= u.chunks)
		return opra_err_set(OPRA_OUT_OF_RANGE,
				    "chunk %u is out of range: upload %s has %u chunks (0 to %u)",
				    req->seq, u.id, u.chunks, u.chunks ? u.chunks - 1 : 0);
	uint32_t want = chunk_len(u.size, u.chunk_size, req->seq);
	if (req->data.len != want)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "chunk %u of upload %s must be %u bytes (chunk size %u, file "
				    "size %" PRIu64 "), not %zu",
				    req->seq, u.id, want, u.chunk_size, u.size, req->data.len);
	snprintf(seq_text, sizeof(seq_text), "%u", req->seq);
	chunk_lock_key(lock_key, &u);
	/* One round trip: losing an unacknowledged chunk in a crash costs only
	 * a resend (synchronous_commit off); this chunk's advisory lock; the
	 * chunk (a binary parameter) and how many chunks are stored. */
	const char *lp[2] = {lock_key, seq_text};
	const char *ip[3] = {u.id, seq_text, (const char *)req->data.data};
	const int ilens[3] = {0, 0, (int)req->data.len};
	const int ifmts[3] = {0, 0, 1};
	db_stmt st[3] = {
		{.sql = "SET LOCAL synchronous_commit TO off"},
		{.sql = "SELECT pg_advisory_xact_lock($1::integer, $2::integer)",
		 .nparams = 2,
		 .params = lp,
		 .want_rows = 1},
		{.sql = "WITH ins AS (INSERT INTO upload_chunks (upload_id, seq, data) "
			"VALUES ($1::bigint, $2::integer, $3::bytea) ON CONFLICT DO NOTHING "
			"RETURNING 1) SELECT (SELECT count(*) FROM ins), "
			"(SELECT count(*) FROM upload_chunks WHERE upload_id = $1::bigint)",
		 .nparams = 3,
		 .params = ip,
		 .lengths = ilens,
		 .formats = ifmts,
		 .want_rows = 1},
	};
	if ((rc = db_pipeline(c->db, st, 3)) != OPRA_OK)
		return rc;
	PQclear(st[1].res);
	int inserted = db_to_ll(PQgetvalue(st[2].res, 0, 0)) == 1;
	uint32_t received = (uint32_t)(db_to_ll(PQgetvalue(st[2].res, 0, 1)) + inserted);
	PQclear(st[2].res);
	if (!inserted)
		return opra_err_set(OPRA_ALREADY_EXISTS,
				    "chunk %u of upload %s is already stored; nothing changed "
				    "(send the missing chunks UploadBegin lists)",
				    req->seq, u.id);
	uint64_t start = (uint64_t)req->seq * u.chunk_size;
	if (start > u.hashed_upto && start - u.chunk_size >= u.hashed_upto) {
		/* The previous chunk was not hashed yet: when a transaction is
		 * storing it now, wait for it (it waits for its own
		 * predecessor, so the waits only ever go down to lower chunk
		 * numbers and cannot deadlock), so that this chunk is hashed
		 * from memory rather than read back later. */
		snprintf(prev_text, sizeof(prev_text), "%u", req->seq - 1);
		const char *pp[2] = {lock_key, prev_text};
		PGresult *r = NULL;
		if ((rc = db_exec(&r, c->db, 1,
				  "SELECT pg_advisory_xact_lock($1::integer, $2::integer)", 2,
				  pp)) != OPRA_OK)
			return rc;
		PQclear(r);
	}
	if (start >= u.hashed_upto) {
		/* Continue the in-order hash when this chunk is next (under the
		 * row lock, with the state as committed by now). */
		if ((rc = upload_read(c, req->upload_id, &u, 1)) != OPRA_OK)
			return rc;
		if (start == u.hashed_upto) {
			sha256_update(&u.hash, req->data.data, req->data.len);
			u.hashed_upto += req->data.len;
			/* Chunks that arrived early continue the prefix now. */
			if ((rc = hash_stored_chunks(c, &u, u.chunks)) != OPRA_OK)
				return rc;
			if ((rc = save_hash_state(c, &u)) != OPRA_OK)
				return rc;
		}
	}
	Opra__V1__UploadChunkReply resp = OPRA__V1__UPLOAD_CHUNK_REPLY__INIT;
	resp.received = received;
	resp.chunks = u.chunks;
	return call_reply(c, &resp.base);
}

int evidence_upload_commit(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UploadCommitRequest *req = (const Opra__V1__UploadCommitRequest *)in;
	upload_row u;
	PGresult *r = NULL;
	char hex[SHA256_HEX_LEN + 1], size_text[32];
	int rc;

	if ((rc = upload_read(c, req->upload_id, &u, 1)) != OPRA_OK)
		return rc;
	sha256_hex(hex, u.sha256);
	snprintf(size_text, sizeof(size_text), "%" PRIu64, u.size);
	Opra__V1__UploadCommitReply resp = OPRA__V1__UPLOAD_COMMIT_REPLY__INIT;
	resp.sha256 = hex;
	resp.size = u.size;
	if (u.committed) /* a retry: the blob exists */
		return call_reply(c, &resp.base);

	const char *p[3] = {u.id, hex, size_text};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT count(*) FROM upload_chunks WHERE upload_id = $1::bigint", 1,
			  p)) != OPRA_OK)
		return rc;
	long long have = db_to_ll(PQgetvalue(r, 0, 0));
	PQclear(r);
	r = NULL;
	if (have < (long long)u.chunks)
		return opra_err_set(
			OPRA_FAILED_PRECONDITION,
			"upload %s is missing %lld of its %u chunks; send them (UploadBegin "
			"lists which) and commit again",
			u.id, (long long)u.chunks - have, u.chunks);
	if ((rc = hash_stored_chunks(c, &u, u.chunks)) != OPRA_OK)
		return rc;
	uint8_t got[SHA256_BYTES];
	char got_hex[SHA256_HEX_LEN + 1];
	if (u.hashed_upto != u.size)
		return opra_err_set(OPRA_DATA_LOSS,
				    "upload %s: only %" PRIu64 " of %" PRIu64
				    " bytes could be read "
				    "back; begin the upload again",
				    u.id, u.hashed_upto, u.size);
	sha256_final(&u.hash, got);
	sha256_hex(got_hex, got);
	if (memcmp(got, u.sha256, SHA256_BYTES) != 0) {
		/* The bytes are wrong: discard them so a new upload starts clean,
		 * and make that stick although the call fails (the dispatcher
		 * rolls back failed calls; this method keeps no idempotency
		 * record, so committing here is all there is). */
		if ((rc = db_cmd(c->db, "DELETE FROM uploads WHERE id = $1::bigint", 1, p)) !=
			    OPRA_OK ||
		    (rc = db_commit(c->db)) != OPRA_OK)
			return rc;
		log_info("upload %s discarded: declared SHA-256 %s, received bytes hash to %s",
			 u.id, hex, got_hex);
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the bytes received do not match the declared SHA-256 (got %s, "
				    "declared %s); nothing was stored; upload again",
				    got_hex, hex);
	}
	/* The blob and the committed upload appear together, atomically. */
	rc = db_cmd(c->db,
		    "WITH up AS (UPDATE uploads SET committed_at = now(), hash_state = NULL, "
		    "hashed_upto = size WHERE id = $1::bigint RETURNING id) "
		    "INSERT INTO blobs (sha256, size, upload_id) "
		    "SELECT decode($2, 'hex'), $3::bigint, id FROM up",
		    3, p);
	if (rc == OPRA_ALREADY_EXISTS) /* same content committed through another upload */
		return opra_err_set(OPRA_ABORTED,
				    "the same file was stored concurrently through another upload; "
				    "begin again (it will answer 'stored')");
	if (rc != OPRA_OK)
		return rc;
	return call_reply(c, &resp.base);
}
