/* opra.v1.Evidence: objective evidence for (practice, instance) of an
 * appraisal, and the chunked, resumable, deduplicated upload of the files
 * behind it (sql/005_appraisals.sql, proto/opra/v1/evidence.proto).
 *
 *
 * Evidence items (Submit, List, Get, Accept, Reject) check the caller's
 * member role through appraisal_open; every change appends an event to the
 * appraisal's hash chain in the same transaction. */
#include "appraisal.h"
#include "evidence_internal.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "sha256.h"

#include "opra/v1/evidence.pb-c.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The columns of one evidence item as the reply carries it (ITEM_NCOLS),
 * with the joins they need (ITEM_FROM, evidence aliased e). */
#define ITEM_COLS                                                                                  \
	"e.id, a.name, p.full_id, i.name, e.kind, e.title, e.status, encode(e.sha256, 'hex'), "    \
	"e.size, su.name, " TS(                                                                    \
		"e.submitted_at") ", e.site, e.client_id, e.file_name, "                           \
				  "e.body_text IS NOT NULL, coalesce(du.name, ''), "               \
				  "coalesce(" TS("e.decided_at") ", ''), e.reason, "               \
								 "e.appraisal_id"
#define ITEM_NCOLS 19
#define ITEM_FROM                                                                                  \
	" FROM evidence e JOIN appraisals a ON a.id = e.appraisal_id "                             \
	"JOIN practices p ON p.id = e.practice_id "                                                \
	"JOIN appraisal_instances i ON i.id = e.instance_id "                                      \
	"JOIN users su ON su.id = e.submitted_by LEFT JOIN users du ON du.id = e.decided_by "

int evidence_oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

int evidence_check_sha256(const char *hex, uint8_t out[SHA256_BYTES])
{
	if (strlen(hex) != SHA256_HEX_LEN || sha256_parse_hex(out, hex) != OPRA_OK)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "'%.70s' is not a SHA-256: give 64 hexadecimal digits", hex);
	return OPRA_OK;
}

/* An evidence id: 1..19 decimal digits. */
static int check_evidence_id(const char *s)
{
	long v = 0;
	if (strlen(s) > EVIDENCE_ID_DIGITS || !opra_parse_long(s, 1, 0x7fffffffffffffffL, &v))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "'%.40s' is not an evidence id (a number, as 'opra evidence "
				    "list' shows)",
				    s);
	return OPRA_OK;
}

/* ---- evidence items ---- */

static void item_from_row(Opra__V1__EvidenceItem *it, PGresult *r, int row)
{
	opra__v1__evidence_item__init(it);
	it->id = PQgetvalue(r, row, 0);
	it->appraisal = PQgetvalue(r, row, 1);
	it->practice = PQgetvalue(r, row, 2);
	it->instance = PQgetvalue(r, row, 3);
	it->kind = PQgetvalue(r, row, 4);
	it->title = PQgetvalue(r, row, 5);
	it->status = PQgetvalue(r, row, 6);
	it->sha256 = PQgetvalue(r, row, 7);
	it->size = (uint64_t)db_to_ll(PQgetvalue(r, row, 8));
	it->submitted_by = PQgetvalue(r, row, 9);
	it->submitted_at = PQgetvalue(r, row, 10);
	it->site = PQgetvalue(r, row, 11);
	it->client_id = PQgetvalue(r, row, 12);
	it->file_name = PQgetvalue(r, row, 13);
	it->is_text = PQgetvalue(r, row, 14)[0] == 't';
	it->decided_by = PQgetvalue(r, row, 15);
	it->decided_at = PQgetvalue(r, row, 16);
	it->reason = PQgetvalue(r, row, 17);
}

/* Reads one evidence item (ITEM_COLS) by id; NOT_FOUND when there is none.
 * lock: FOR UPDATE of the evidence row. */
static int item_load(call *c, const char *id, int lock, PGresult **out)
{
	const char *p[1] = {id};
	int rc = db_exec(out, c->db, 1,
			 lock ? "SELECT " ITEM_COLS ITEM_FROM
				"WHERE e.id = $1::bigint FOR UPDATE OF e"
			      : "SELECT " ITEM_COLS ITEM_FROM "WHERE e.id = $1::bigint",
			 1, p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(*out) != 1) {
		PQclear(*out);
		*out = NULL;
		return opra_err_set(OPRA_NOT_FOUND,
				    "no evidence with id %s (see opra evidence list APPRAISAL)",
				    id);
	}
	return OPRA_OK;
}

/* The appraisal an evidence item belongs to, opened with need/flags. */
static int item_appraisal(call *c, const char *id, unsigned need, unsigned flags, appraisal_ref *a)
{
	PGresult *r = NULL;
	const char *p[1] = {id};
	int rc = db_exec(&r, c->db, 1, "SELECT appraisal_id FROM evidence WHERE id = $1::bigint", 1,
			 p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return opra_err_set(OPRA_NOT_FOUND,
				    "no evidence with id %s (see opra evidence list APPRAISAL)",
				    id);
	}
	char aid[32];
	snprintf(aid, sizeof(aid), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return appraisal_open(c, aid, need, flags, a);
}

static int reply_item(call *c, PGresult *r, const char *result)
{
	Opra__V1__EvidenceItem it;
	item_from_row(&it, r, 0);
	Opra__V1__EvidenceReply resp = OPRA__V1__EVIDENCE_REPLY__INIT;
	resp.evidence = &it;
	resp.result = (char *)result;
	return call_reply(c, &resp.base);
}

/* ---- Submit ---- */

static int submit_validate(const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceSubmitRequest *r = (const Opra__V1__EvidenceSubmitRequest *)in;
	uint8_t h[SHA256_BYTES];
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->practice[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the practice (--practice, e.g. ADM:SG1.SP1)");
	if ((rc = opra_name_check("the practice", r->practice, PRACTICE_ID_MAX)) != OPRA_OK)
		return rc;
	if (r->instance[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the instance (--instance: a service or unit in the "
				    "appraisal's scope)");
	if ((rc = opra_name_check("the instance", r->instance, INSTANCE_NAME_MAX)) != OPRA_OK)
		return rc;
	if (strcmp(r->kind, "artifact") != 0 && strcmp(r->kind, "affirmation") != 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown evidence kind '%.40s': use artifact or affirmation",
				    r->kind);
	if ((rc = opra_text_check("the title", r->title, EVIDENCE_TITLE_MAX)) != OPRA_OK)
		return rc;
	if (r->file_name[0] &&
	    ((rc = opra_name_check("the file name", r->file_name, EVIDENCE_FILE_MAX)) != OPRA_OK))
		return rc;
	if (strchr(r->file_name, '/') != NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the file name is a base name and may not contain '/'");
	int has_text = r->text[0] != '\0', has_file = r->sha256[0] != '\0';
	if (has_text == has_file)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    has_text ? "give either text or a file (SHA-256 of an uploaded "
					       "blob), not both"
					     : "give the evidence as text (--text) or as a file "
					       "(--file)");
	if (has_text) {
		size_t len = strlen(r->text);
		if (len > EVIDENCE_TEXT_MAX)
			return opra_err_set(
				OPRA_OUT_OF_RANGE,
				"the evidence text is %zu bytes; text evidence may be at "
				"most %u bytes (64 KiB): put it in a file and submit it "
				"with --file",
				len, EVIDENCE_TEXT_MAX);
		if ((rc = opra_text_check("the evidence text", r->text, EVIDENCE_TEXT_MAX)) !=
		    OPRA_OK)
			return rc;
		if (r->size != 0 && r->size != len)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "size %" PRIu64 " does not match the text (%zu bytes); "
					    "leave size 0 for text",
					    r->size, len);
		return OPRA_OK;
	}
	if ((rc = evidence_check_sha256(r->sha256, h)) != OPRA_OK)
		return rc;
	if (r->size > EVIDENCE_UPLOAD_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE,
				    "size %" PRIu64 " is over the evidence file limit (%llu bytes)",
				    r->size, (unsigned long long)EVIDENCE_UPLOAD_MAX);
	return OPRA_OK;
}

/* Fills the reply of a new item. */
static int submit_reply(call *c, const Opra__V1__EvidenceSubmitRequest *req, const char *id,
			const char *appraisal, const char *practice, const char *status,
			const char *hex, uint64_t size, const char *submitted_at)
{
	Opra__V1__EvidenceItem it = OPRA__V1__EVIDENCE_ITEM__INIT;
	it.id = (char *)id;
	it.appraisal = (char *)appraisal;
	it.practice = (char *)practice;
	it.instance = req->instance;
	it.kind = req->kind;
	it.title = req->title;
	it.status = (char *)status;
	it.sha256 = (char *)hex;
	it.size = size;
	it.submitted_by = (char *)c->who->name;
	it.submitted_at = (char *)submitted_at;
	it.site = c->req->site;
	it.client_id = c->req->client_id;
	it.file_name = req->file_name;
	it.is_text = req->text[0] != '\0';
	Opra__V1__EvidenceReply resp = OPRA__V1__EVIDENCE_REPLY__INIT;
	resp.evidence = &it;
	resp.result = "submitted";
	return call_reply(c, &resp.base);
}

/* The slow path of Submit: the shared helpers resolve what the fast path
 * did not take (an appraisal id, a qualified practice) or say precisely why
 * the request is refused; SQL evidence_add then stores the item and its
 * event. */
static int submit_slow(call *c, const Opra__V1__EvidenceSubmitRequest *req, const char *hex,
		       uint64_t size)
{
	appraisal_ref a;
	PGresult *r = NULL;
	char practice[PRACTICE_ID_MAX + 1], aid[32], pid[32], iid[32], size_text[32], uid[32];
	long long practice_id = 0, instance_id = 0;
	int is_text = req->text[0] != '\0', rc;

	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_SUBMIT, APPR_WRITE, &a)) != OPRA_OK ||
	    (rc = appraisal_practice(c, &a, req->practice, &practice_id, practice)) != OPRA_OK ||
	    (rc = appraisal_instance(c, &a, req->instance, &instance_id)) != OPRA_OK)
		return rc;
	if (!is_text) {
		const char *pb[1] = {hex};
		if ((rc = db_exec(&r, c->db, 1,
				  "SELECT size FROM blobs WHERE sha256 = decode($1, 'hex')", 1,
				  pb)) != OPRA_OK)
			return rc;
		int found = PQntuples(r) == 1;
		long long blob_size = found ? db_to_ll(PQgetvalue(r, 0, 0)) : 0;
		PQclear(r);
		r = NULL;
		if (!found)
			return opra_err_set(OPRA_FAILED_PRECONDITION,
					    "no file with SHA-256 %s is stored: upload it first "
					    "(opra evidence submit --file does both)",
					    hex);
		if ((uint64_t)blob_size != size)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "the stored file with SHA-256 %s has %lld bytes, not "
					    "%" PRIu64,
					    hex, blob_size, size);
	}
	const char *status = a.my_role == MEMBER_AUTOMATION ? "proposed" : "accepted";
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(pid, sizeof(pid), "%lld", practice_id);
	snprintf(iid, sizeof(iid), "%lld", instance_id);
	snprintf(size_text, sizeof(size_text), "%" PRIu64, size);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p[18] = {aid,
			     pid,
			     practice,
			     iid,
			     req->instance,
			     req->kind,
			     req->title,
			     status,
			     hex,
			     size_text,
			     is_text ? req->text : NULL,
			     req->file_name,
			     uid,
			     c->who->name,
			     c->req->site,
			     c->req->client_id,
			     c->peer ? c->peer : "",
			     c->req->method};
	rc = db_exec(&r, c->db, 1,
		     "SELECT o_id, o_submitted_at FROM evidence_add($1::bigint, $2::bigint, $3, "
		     "$4::bigint, $5, $6, $7, $8, decode($9, 'hex'), $10::bigint, $11::text, $12, "
		     "$13::bigint, $14, $15, $16, $17, $18)",
		     18, p);
	if (rc != OPRA_OK)
		return rc;
	rc = submit_reply(c, req, PQgetvalue(r, 0, 0), a.name, practice, status, hex, size,
			  PQgetvalue(r, 0, 1));
	PQclear(r);
	return rc;
}

/* Submit: one statement (SQL evidence_submit, sql/007_submit_fast.sql)
 * resolves and stores a plain request; anything it does not take goes the
 * slow path. Either way the appraisal row is locked before the evidence
 * row's foreign key share-locks it, so concurrent submissions queue instead
 * of deadlocking. */
static int submit(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceSubmitRequest *req = (const Opra__V1__EvidenceSubmitRequest *)in;
	PGresult *r = NULL;
	char hex[SHA256_HEX_LEN + 1] = "", size_text[32], uid[32];
	uint8_t h[SHA256_BYTES];
	int is_text = req->text[0] != '\0', rc;
	uint64_t size;

	if (is_text) {
		size = strlen(req->text);
		sha256_ctx ctx;
		sha256_init(&ctx);
		sha256_update(&ctx, req->text, (size_t)size);
		sha256_final(&ctx, h);
	} else {
		size = req->size;
		sha256_parse_hex(h, req->sha256);
	}
	sha256_hex(hex, h);
	snprintf(size_text, sizeof(size_text), "%" PRIu64, size);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p[15] = {req->appraisal,
			     uid,
			     req->practice,
			     req->instance,
			     req->kind,
			     req->title,
			     hex,
			     size_text,
			     is_text ? req->text : NULL,
			     req->file_name,
			     c->who->name,
			     c->req->site,
			     c->req->client_id,
			     c->peer ? c->peer : "",
			     c->req->method};
	rc = db_exec(&r, c->db, 1,
		     "SELECT o_id, o_appraisal, o_practice, o_status, o_submitted_at FROM "
		     "evidence_submit($1, $2::bigint, $3, $4, $5, $6, decode($7, 'hex'), "
		     "$8::bigint, $9::text, $10, $11, $12, $13, $14, $15)",
		     15, p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		rc = submit_reply(c, req, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
				  PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), hex, size,
				  PQgetvalue(r, 0, 4));
		PQclear(r);
		return rc;
	}
	PQclear(r);
	return submit_slow(c, req, hex, size);
}

/* The SHA-256 (hex) and size of what a Submit names: its text, or the
 * uploaded file it gives by hash and size. */
static uint64_t submit_digest(const Opra__V1__EvidenceSubmitRequest *req,
			      char hex[SHA256_HEX_LEN + 1])
{
	uint8_t h[SHA256_BYTES];
	uint64_t size;
	if (req->text[0] != '\0') {
		size = strlen(req->text);
		sha256_ctx ctx;
		sha256_init(&ctx);
		sha256_update(&ctx, req->text, (size_t)size);
		sha256_final(&ctx, h);
	} else {
		size = req->size;
		sha256_parse_hex(h, req->sha256);
	}
	sha256_hex(hex, h);
	return size;
}

/* Submit for a whole group-commit batch (method.h method_batch_fn): one
 * statement (SQL evidence_submit_batch, sql/009_submit_batch.sql) resolves
 * and stores every plain request, with one chain-head update and one NOTIFY
 * per appraisal; the requests it does not take are left to submit() (the
 * dispatcher runs them in the same transaction). */
static int submit_batch(call *const *cs, const ProtobufCMessage *const *ins, size_t n,
			unsigned char *done)
{
	enum {
		A_APPRAISAL,
		A_USER,
		A_ACTOR,
		A_PRACTICE,
		A_INSTANCE,
		A_KIND,
		A_TITLE,
		A_SHA,
		A_SIZE,
		A_TEXT,
		A_FILE,
		A_SITE,
		A_CLIENT,
		A_PEER,
		A_N
	};
	opra_buf a[A_N];
	PGresult *r = NULL;
	int rc = OPRA_OK;

	for (int k = 0; k < A_N; k++)
		a[k] = (opra_buf)OPRA_BUF_INIT;
	for (size_t i = 0; i < n && rc == OPRA_OK; i++) {
		const call *c = cs[i];
		const Opra__V1__EvidenceSubmitRequest *req =
			(const Opra__V1__EvidenceSubmitRequest *)ins[i];
		char hex[SHA256_HEX_LEN + 1];
		int is_text = req->text[0] != '\0';
		uint64_t size = submit_digest(req, hex);
		if (db_array_add(&a[A_APPRAISAL], req->appraisal) != OPRA_OK ||
		    db_array_add_long(&a[A_USER], c->who->id) != OPRA_OK ||
		    db_array_add(&a[A_ACTOR], c->who->name) != OPRA_OK ||
		    db_array_add(&a[A_PRACTICE], req->practice) != OPRA_OK ||
		    db_array_add(&a[A_INSTANCE], req->instance) != OPRA_OK ||
		    db_array_add(&a[A_KIND], req->kind) != OPRA_OK ||
		    db_array_add(&a[A_TITLE], req->title) != OPRA_OK ||
		    db_array_add(&a[A_SHA], hex) != OPRA_OK ||
		    db_array_add_long(&a[A_SIZE], (long long)size) != OPRA_OK ||
		    db_array_add(&a[A_TEXT], is_text ? req->text : NULL) != OPRA_OK ||
		    db_array_add(&a[A_FILE], req->file_name) != OPRA_OK ||
		    db_array_add(&a[A_SITE], c->req->site) != OPRA_OK ||
		    db_array_add(&a[A_CLIENT], c->req->client_id) != OPRA_OK ||
		    db_array_add(&a[A_PEER], c->peer ? c->peer : "") != OPRA_OK)
			rc = evidence_oom();
	}
	for (int k = 0; k < A_N && rc == OPRA_OK; k++)
		if (db_array_end(&a[k]) != OPRA_OK)
			rc = evidence_oom();
	if (rc != OPRA_OK)
		goto done;
	const char *p[A_N + 1];
	for (int k = 0; k < A_N; k++)
		p[k] = (const char *)a[k].data;
	p[A_N] = cs[0]->req->method;
	rc = db_exec(&r, cs[0]->db, 1,
		     "SELECT o_ord, o_id, o_appraisal, o_practice, o_status, o_submitted_at FROM "
		     "evidence_submit_batch($1::text[], $2::bigint[], $3::text[], $4::text[], "
		     "$5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], "
		     "$11::text[], $12::text[], $13::text[], $14::text[], $15)",
		     A_N + 1, p);
	if (rc != OPRA_OK)
		goto done;
	for (int row = 0; row < PQntuples(r) && rc == OPRA_OK; row++) {
		long long ord = db_to_ll(PQgetvalue(r, row, 0));
		if (ord < 1 || (size_t)ord > n || PQgetisnull(r, row, 1))
			continue;
		size_t i = (size_t)ord - 1;
		const Opra__V1__EvidenceSubmitRequest *req =
			(const Opra__V1__EvidenceSubmitRequest *)ins[i];
		char hex[SHA256_HEX_LEN + 1];
		uint64_t size = submit_digest(req, hex);
		rc = submit_reply(cs[i], req, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
				  PQgetvalue(r, row, 3), PQgetvalue(r, row, 4), hex, size,
				  PQgetvalue(r, row, 5));
		done[i] = rc == OPRA_OK;
	}
done:
	PQclear(r);
	for (int k = 0; k < A_N; k++)
		opra_buf_free(&a[k]);
	return rc;
}

/* ---- List ---- */

static int list_validate(const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceListRequest *r = (const Opra__V1__EvidenceListRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->practice[0] &&
	    (rc = opra_name_check("the practice", r->practice, PRACTICE_ID_MAX)) != OPRA_OK)
		return rc;
	if (r->instance[0] &&
	    (rc = opra_name_check("the instance", r->instance, INSTANCE_NAME_MAX)) != OPRA_OK)
		return rc;
	if (r->status[0] && strcmp(r->status, "proposed") != 0 &&
	    strcmp(r->status, "accepted") != 0 && strcmp(r->status, "rejected") != 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown status '%.40s': use proposed, accepted or rejected",
				    r->status);
	if (r->kind[0] && strcmp(r->kind, "artifact") != 0 && strcmp(r->kind, "affirmation") != 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown evidence kind '%.40s': use artifact or affirmation",
				    r->kind);
	return OPRA_OK;
}

static int list(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceListRequest *req = (const Opra__V1__EvidenceListRequest *)in;
	appraisal_ref a;
	PGresult *r = NULL;
	Opra__V1__EvidenceItem *items = NULL, **ptrs = NULL;
	char aid[32], pid[32] = "", iid[32] = "", canonical[PRACTICE_ID_MAX + 1];
	long long id = 0;
	int rc;

	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	if (req->practice[0]) {
		if ((rc = appraisal_practice(c, &a, req->practice, &id, canonical)) != OPRA_OK)
			return rc;
		snprintf(pid, sizeof(pid), "%lld", id);
	}
	if (req->instance[0]) {
		if ((rc = appraisal_instance(c, &a, req->instance, &id)) != OPRA_OK)
			return rc;
		snprintf(iid, sizeof(iid), "%lld", id);
	}
	snprintf(aid, sizeof(aid), "%lld", a.id);
	const char *p[5] = {aid, pid[0] ? pid : NULL, iid[0] ? iid : NULL, req->status, req->kind};
	rc = db_exec(&r, c->db, 1,
		     "SELECT " ITEM_COLS ITEM_FROM "WHERE e.appraisal_id = $1::bigint "
		     "AND ($2::bigint IS NULL OR e.practice_id = $2::bigint) "
		     "AND ($3::bigint IS NULL OR e.instance_id = $3::bigint) "
		     "AND ($4 = '' OR e.status = $4) AND ($5 = '' OR e.kind = $5) ORDER BY e.id",
		     5, p);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r);
	items = opra_calloc((size_t)n + 1, sizeof(*items));
	ptrs = opra_calloc((size_t)n + 1, sizeof(*ptrs));
	if (items == NULL || ptrs == NULL) {
		rc = evidence_oom();
		goto done;
	}
	for (int i = 0; i < n; i++) {
		item_from_row(&items[i], r, i);
		ptrs[i] = &items[i];
	}
	Opra__V1__EvidenceListReply resp = OPRA__V1__EVIDENCE_LIST_REPLY__INIT;
	resp.items = ptrs;
	resp.n_items = (size_t)n;
	rc = call_reply(c, &resp.base);
done:
	opra_free(items);
	opra_free(ptrs);
	PQclear(r);
	return rc;
}

/* ---- Get ---- */

static int get_validate(const ProtobufCMessage *in)
{
	return check_evidence_id(((const Opra__V1__EvidenceGetRequest *)in)->id);
}

/* Appends bytes [offset, offset + len) of the blob stored by upload
 * upload_id (chunk size cs) to out, reading only the chunks that hold them
 * and only the needed part of each (substring on the bytea). */
static int blob_read(call *c, const char *upload_id, uint32_t cs, uint64_t offset, uint32_t len,
		     opra_buf *out)
{
	uint64_t end = offset + len;
	for (uint64_t seq = offset / cs; len > 0 && seq * cs < end; seq++) {
		uint64_t start = seq * cs;
		uint64_t from = offset > start ? offset - start : 0;
		uint64_t to = end - start < cs ? end - start : cs;
		char seq_text[24], from_text[24], count_text[24];
		snprintf(seq_text, sizeof(seq_text), "%" PRIu64, seq);
		snprintf(from_text, sizeof(from_text), "%" PRIu64, from + 1);
		snprintf(count_text, sizeof(count_text), "%" PRIu64, to - from);
		const char *p[4] = {upload_id, seq_text, from_text, count_text};
		PGresult *r = NULL;
		int rc = db_exec_binres(&r, c->db,
					"SELECT substring(data FROM $3::integer FOR $4::integer) "
					"FROM upload_chunks WHERE upload_id = $1::bigint AND "
					"seq = $2::integer",
					4, p, NULL, NULL);
		if (rc != OPRA_OK)
			return rc;
		if (PQntuples(r) != 1 || (uint64_t)PQgetlength(r, 0, 0) != to - from) {
			PQclear(r);
			return opra_err_set(OPRA_DATA_LOSS,
					    "chunk %s of stored upload %s is missing or short; the "
					    "file cannot be read back",
					    seq_text, upload_id);
		}
		rc = opra_buf_append(out, PQgetvalue(r, 0, 0), (size_t)(to - from));
		PQclear(r);
		if (rc != OPRA_OK)
			return evidence_oom();
	}
	return OPRA_OK;
}

static int get(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceGetRequest *req = (const Opra__V1__EvidenceGetRequest *)in;
	appraisal_ref a;
	PGresult *r = NULL, *b = NULL;
	opra_buf data = OPRA_BUF_INIT;
	int rc;

	if ((rc = item_appraisal(c, req->id, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	if ((rc = item_load(c, req->id, 0, &r)) != OPRA_OK)
		return rc;
	uint64_t size = (uint64_t)db_to_ll(PQgetvalue(r, 0, 8));
	int is_text = PQgetvalue(r, 0, 14)[0] == 't';
	if (req->offset > size) {
		rc = opra_err_set(OPRA_OUT_OF_RANGE,
				  "offset %" PRIu64 " is past the end of evidence %s (%" PRIu64
				  " bytes)",
				  req->offset, req->id, size);
		goto done;
	}
	uint32_t want = req->length == 0 || req->length > evidence_chunk_size(c)
				? evidence_chunk_size(c)
				: req->length;
	uint64_t left = size - req->offset;
	uint32_t len = left < want ? (uint32_t)left : want;
	const char *p[1] = {req->id};
	if (is_text) {
		rc = db_exec_binres(&b, c->db,
				    "SELECT body_text FROM evidence WHERE id = $1::bigint", 1, p,
				    NULL, NULL);
		if (rc != OPRA_OK)
			goto done;
		if (PQntuples(b) != 1 || (uint64_t)PQgetlength(b, 0, 0) != size) {
			rc = opra_err_set(OPRA_DATA_LOSS, "the text of evidence %s is damaged",
					  req->id);
			goto done;
		}
		if ((rc = opra_buf_append(&data, PQgetvalue(b, 0, 0) + req->offset, len)) !=
		    OPRA_OK)
			goto done;
	} else if (len > 0) {
		rc = db_exec(&b, c->db, 1,
			     "SELECT u.id, u.chunk_size FROM evidence e JOIN blobs bl "
			     "ON bl.sha256 = e.blob_sha256 JOIN uploads u ON u.id = bl.upload_id "
			     "WHERE e.id = $1::bigint",
			     1, p);
		if (rc != OPRA_OK)
			goto done;
		if (PQntuples(b) != 1) {
			rc = opra_err_set(OPRA_DATA_LOSS, "the file of evidence %s is missing",
					  req->id);
			goto done;
		}
		if ((rc = blob_read(c, PQgetvalue(b, 0, 0), (uint32_t)db_to_ll(PQgetvalue(b, 0, 1)),
				    req->offset, len, &data)) != OPRA_OK)
			goto done;
	}
	Opra__V1__EvidenceItem it;
	item_from_row(&it, r, 0);
	Opra__V1__EvidenceGetReply resp = OPRA__V1__EVIDENCE_GET_REPLY__INIT;
	resp.evidence = &it;
	resp.offset = req->offset;
	resp.data.data = data.data;
	resp.data.len = data.len;
	resp.eof = req->offset + len >= size;
	rc = call_reply(c, &resp.base);
done:
	PQclear(r);
	PQclear(b);
	opra_buf_free(&data);
	return rc;
}

/* ---- Accept / Reject ---- */

typedef enum { DECIDE_ACCEPT, DECIDE_REJECT } decide_kind;
static const decide_kind decide_accept = DECIDE_ACCEPT, decide_reject = DECIDE_REJECT;

static int decide_validate(const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceDecideRequest *r = (const Opra__V1__EvidenceDecideRequest *)in;
	int rc = check_evidence_id(r->id);
	if (rc != OPRA_OK)
		return rc;
	return opra_text_check("the reason", r->reason, EVIDENCE_REASON_MAX);
}

static int decide(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceDecideRequest *req = (const Opra__V1__EvidenceDecideRequest *)in;
	decide_kind kind = *(const decide_kind *)c->arg;
	const char *to = kind == DECIDE_ACCEPT ? "accepted" : "rejected";
	appraisal_ref a;
	PGresult *r = NULL;
	char *before = NULL, *after = NULL;
	int rc;

	if (kind == DECIDE_REJECT && req->reason[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "say why evidence %s is rejected (--reason TEXT); the reason "
				    "is kept with the decision",
				    req->id);
	/* The appraisal row first (as every appraisal change does), then the
	 * evidence row. */
	if ((rc = item_appraisal(c, req->id, MEMBERS_DECIDE, APPR_WRITE | APPR_LOCK, &a)) !=
	    OPRA_OK)
		return rc;
	if ((rc = item_load(c, req->id, 1, &r)) != OPRA_OK)
		return rc;
	const char *from = PQgetvalue(r, 0, 6);
	if (strcmp(from, to) == 0) {
		rc = reply_item(c, r, "unchanged");
		goto done;
	}
	json_t *bo = json_pack("{s:s, s:s}", "status", from, "reason", PQgetvalue(r, 0, 17));
	json_t *ao = json_pack("{s:s, s:s, s:s}", "status", to, "reason", req->reason, "decided_by",
			       c->who->name);
	before = bo ? json_dumps(bo, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	after = ao ? json_dumps(ao, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(bo);
	json_decref(ao);
	if (before == NULL || after == NULL) {
		rc = evidence_oom();
		goto done;
	}
	char object[64];
	snprintf(object, sizeof(object), "evidence %s", req->id);
	if ((rc = appraisal_event(c, &a, object, before, after, 0, NULL)) != OPRA_OK)
		goto done;
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p[4] = {req->id, to, uid, req->reason};
	if ((rc = db_cmd(c->db,
			 "UPDATE evidence SET status = $2, decided_by = $3::bigint, "
			 "decided_at = now(), reason = $4 WHERE id = $1::bigint",
			 4, p)) != OPRA_OK)
		goto done;
	PQclear(r);
	r = NULL;
	if ((rc = item_load(c, req->id, 0, &r)) != OPRA_OK)
		goto done;
	rc = reply_item(c, r, to);
done:
	PQclear(r);
	free(before);
	free(after);
	return rc;
}

#define ROLES_DECIDE (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_USER)

static const method_impl methods[] = {
	{"UploadBegin", evidence_upload_begin, evidence_upload_begin_validate, ROLES_ANY,
	 METHOD_MUTATES | METHOD_NO_KEY, NULL},
	{"UploadChunk", evidence_upload_chunk, NULL, ROLES_ANY, METHOD_MUTATES | METHOD_NO_KEY,
	 NULL},
	{"UploadCommit", evidence_upload_commit, NULL, ROLES_ANY, METHOD_MUTATES | METHOD_NO_KEY,
	 NULL},
	{"Submit", submit, submit_validate, ROLES_ANY, METHOD_MUTATES | METHOD_BATCH, NULL},
	{"List", list, list_validate, ROLES_ANY, 0, NULL},
	{"Get", get, get_validate, ROLES_ANY, 0, NULL},
	{"Accept", decide, decide_validate, ROLES_DECIDE, METHOD_MUTATES | METHOD_BATCH,
	 &decide_accept},
	{"Reject", decide, decide_validate, ROLES_DECIDE, METHOD_MUTATES | METHOD_BATCH,
	 &decide_reject},
};

const service_impl svc_evidence = {&opra__v1__evidence__descriptor, methods,
				   sizeof(methods) / sizeof(methods[0])};

const method_batch_impl svc_evidence_submit_batch = {"opra.v1.Evidence/Submit", submit_batch};
