/* Evidence through the real server stack: text and file evidence, the
 * chunked upload (out of order, resumed after a dropped connection,
 * deduplicated, a hash mismatch, chunks out of range or twice, commit with
 * chunks missing), scope and sealing errors, the role x method matrix,
 * 32 concurrent clients submitting to one appraisal with retries, and
 * set-based group commit (several workers' submissions in one statement and
 * one transaction; a refused one among them fails alone).
 *
 * The appraisal fixtures are written with SQL on the test's own connection
 * (a tiny model, a unit and services, two appraisals, members), so this test
 * depends only on the Evidence service. */
#include "auth.h"
#include "dispatch.h"
#include "opra_err.h"
#include "sha256.h"
#include "testlib.h"
#include "testserver.h"
#include "upload.h"

#include "opra/v1/evidence.pb-c.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static testserver ts;

#define M(name) "opra.v1.Evidence/" name
#define MIB	(1u << 20)

/* Callers: global role, then member role in appraisal "ovig" (if any). */
enum { U_ADMIN, U_PO, U_OUTSIDER, U_LEAD, U_APPRAISER, U_VIEWER, U_BOT, U_N };
static const char *const user_names[U_N] = {"root",	 "po",	   "outsider", "lead",
					    "appraiser", "viewer", "bot"};
static opra_token tokens[U_N];

static void sql(const char *text)
{
	assert_int_equal(db_exec_script(ts.db, text), OPRA_OK);
}

static long count(const char *text)
{
	return testserver_count(&ts, text);
}

static int setup(void **state)
{
	testserver_setup(&ts, "evidence", 4u << 20);
	assert_int_equal(testserver_start(&ts, 4, 128), OPRA_OK);
	tokens[U_ADMIN] = ts.admin;
	static const char *const roles[U_N] = {"admin", "program-office", "user",      "user",
					       "user",	"user",		  "automation"};
	for (int i = 1; i < U_N; i++)
		assert_int_equal(
			auth_user_create(ts.db, user_names[i], roles[i], 0, &tokens[i], NULL),
			OPRA_OK);
	sql("INSERT INTO models (key, name, version) VALUES ('tm-1', 'Test Model', '1');"
	    "INSERT INTO process_areas (model_id, ord, code, name, category) SELECT id, 1, "
	    "'ADM', 'Asset Definition', 'engineering' FROM models;"
	    "INSERT INTO process_areas (model_id, ord, code, name, category) SELECT id, 2, "
	    "'SC', 'Service Continuity', 'engineering' FROM models;"
	    "INSERT INTO goals (pa_id, ord, code, title, generic) SELECT id, 1, 'SG1', 'Goal', "
	    "false FROM process_areas;"
	    "INSERT INTO practices (goal_id, model_id, ord, code, full_id, full_id_lower, title) "
	    "SELECT g.id, pa.model_id, n, 'SP' || n, pa.code || ':SG1.SP' || n, "
	    "lower(pa.code || ':SG1.SP' || n), 'Practice' FROM goals g JOIN process_areas pa "
	    "ON pa.id = g.pa_id CROSS JOIN generate_series(1, 2) n;"
	    "INSERT INTO units (name) VALUES ('Columbus');"
	    "INSERT INTO services (name, unit_id) SELECT s, id FROM units, "
	    "unnest(ARRAY['claims', 'billing']) s;"
	    "INSERT INTO appraisals (name, created_by) SELECT a, (SELECT id FROM users WHERE "
	    "name = 'lead') FROM unnest(ARRAY['ovig', 'sealed-one']) a;"
	    "INSERT INTO appraisal_models SELECT a.id, m.id FROM appraisals a, models m;"
	    "INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT a.id, pa.id FROM appraisals "
	    "a, process_areas pa WHERE pa.code = 'ADM';"
	    "INSERT INTO appraisal_instances (appraisal_id, kind, service_id, name, added_by) "
	    "SELECT a.id, 'service', s.id, s.name, a.created_by FROM appraisals a, services s "
	    "WHERE s.name = 'claims';"
	    "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
	    "SELECT a.id, u.id, r, a.created_by FROM appraisals a, (VALUES ('lead', 'lead'), "
	    "('appraiser', 'appraiser'), ('viewer', 'viewer'), ('bot', 'automation')) v(n, r) "
	    "JOIN users u ON u.name = v.n;");
	return 0;
}

static int teardown(void **state)
{
	testserver_teardown(&ts);
	return 0;
}

static rpc_client *client(int who)
{
	return testserver_client(&ts, tokens[who].text);
}

/* One call; key: NULL for reads, "" for a fresh key. */
static int ev_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *rd, void *out, const char *key)
{
	return testserver_call(c, method, req, rd, out, key);
}

static int submit_text(rpc_client *c, const char *appraisal, const char *practice,
		       const char *instance, const char *kind, const char *text, const char *key,
		       Opra__V1__EvidenceReply **out)
{
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.practice = (char *)practice;
	req.instance = (char *)instance;
	req.kind = (char *)kind;
	req.title = "a title";
	req.text = (char *)text;
	return ev_call(c, M("Submit"), &req.base, &opra__v1__evidence_reply__descriptor, out,
		       key ? key : "");
}

static int submit_file(rpc_client *c, const char *sha_hex, uint64_t size,
		       Opra__V1__EvidenceReply **out)
{
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	req.appraisal = "ovig";
	req.practice = "ADM:SG1.SP2";
	req.instance = "claims";
	req.kind = "artifact";
	req.sha256 = (char *)sha_hex;
	req.size = size;
	req.file_name = "policy.pdf";
	return ev_call(c, M("Submit"), &req.base, &opra__v1__evidence_reply__descriptor, out, "");
}

static int begin(rpc_client *c, const char *appraisal, const char *sha_hex, uint64_t size,
		 Opra__V1__UploadBeginReply **out)
{
	Opra__V1__UploadBeginRequest req = OPRA__V1__UPLOAD_BEGIN_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.sha256 = (char *)sha_hex;
	req.size = size;
	return ev_call(c, M("UploadBegin"), &req.base, &opra__v1__upload_begin_reply__descriptor,
		       out, "");
}

static int chunk(rpc_client *c, uint64_t upload, uint32_t seq, const uint8_t *data, size_t len,
		 uint32_t *received)
{
	Opra__V1__UploadChunkRequest req = OPRA__V1__UPLOAD_CHUNK_REQUEST__INIT;
	req.upload_id = upload;
	req.seq = seq;
	req.data.data = (uint8_t *)data;
	req.data.len = len;
	Opra__V1__UploadChunkReply *rep = NULL;
	int rc = ev_call(c, M("UploadChunk"), &req.base, &opra__v1__upload_chunk_reply__descriptor,
			 &rep, NULL);
	if (rc == OPRA_OK && received)
		*received = rep->received;
	testserver_reply_free(rep);
	return rc;
}

static int commit(rpc_client *c, uint64_t upload)
{
	Opra__V1__UploadCommitRequest req = OPRA__V1__UPLOAD_COMMIT_REQUEST__INIT;
	req.upload_id = upload;
	return ev_call(c, M("UploadCommit"), &req.base, &opra__v1__upload_commit_reply__descriptor,
		       NULL, NULL);
}

static int decide(rpc_client *c, const char *method, const char *id, const char *reason,
		  Opra__V1__EvidenceReply **out)
{
	Opra__V1__EvidenceDecideRequest req = OPRA__V1__EVIDENCE_DECIDE_REQUEST__INIT;
	req.id = (char *)id;
	req.reason = (char *)(reason ? reason : "");
	return ev_call(c, method, &req.base, &opra__v1__evidence_reply__descriptor, out, "");
}

static int list(rpc_client *c, const char *appraisal, const char *status,
		Opra__V1__EvidenceListReply **out)
{
	Opra__V1__EvidenceListRequest req = OPRA__V1__EVIDENCE_LIST_REQUEST__INIT;
	req.appraisal = (char *)appraisal;
	req.status = (char *)(status ? status : "");
	return ev_call(c, M("List"), &req.base, &opra__v1__evidence_list_reply__descriptor, out,
		       NULL);
}

static int get(rpc_client *c, const char *id, uint64_t offset, uint32_t length,
	       Opra__V1__EvidenceGetReply **out)
{
	Opra__V1__EvidenceGetRequest req = OPRA__V1__EVIDENCE_GET_REQUEST__INIT;
	req.id = (char *)id;
	req.offset = offset;
	req.length = length;
	return ev_call(c, M("Get"), &req.base, &opra__v1__evidence_get_reply__descriptor, out,
		       NULL);
}

/* Streams an item back with Get in pieces of `piece` bytes and returns the
 * SHA-256 (hex) of what came back and its length. */
static void get_all(rpc_client *c, const char *id, uint32_t piece, char hex[65], uint64_t *len)
{
	sha256_ctx h;
	uint8_t d[32];
	uint64_t off = 0;
	sha256_init(&h);
	for (int guard = 0; guard < 100000; guard++) {
		Opra__V1__EvidenceGetReply *g = NULL;
		assert_int_equal(get(c, id, off, piece, &g), OPRA_OK);
		assert_int_equal(g->offset, off);
		sha256_update(&h, g->data.data, g->data.len);
		off += g->data.len;
		int eof = g->eof;
		testserver_reply_free(g);
		if (eof)
			break;
	}
	sha256_final(&h, d);
	sha256_hex(hex, d);
	*len = off;
}

static void hex_of(char hex[65], const void *data, size_t len)
{
	sha256_ctx h;
	uint8_t d[32];
	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final(&h, d);
	sha256_hex(hex, d);
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
	return b;
}

static long appraisal_count(const char *what, const char *appraisal)
{
	char q[256];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM %s WHERE appraisal_id = (SELECT id FROM appraisals WHERE "
		 "name = '%s')",
		 what, appraisal);
	return count(q);
}

/* The appraisal's event chain: seq 1..n without gaps, each hash chained on
 * the previous one. Returns n. */
static long assert_chain(const char *appraisal)
{
	char q[1024];
	snprintf(q, sizeof(q),
		 "SELECT CASE WHEN count(*) = coalesce(max(seq), 0) AND count(*) = "
		 "count(DISTINCT seq) AND bool_and(ok) IS NOT FALSE THEN count(*) ELSE -1 END "
		 "FROM (SELECT seq, hash = sha256(coalesce(lag(hash) OVER (ORDER BY seq), "
		 "decode(repeat('00', 32), 'hex')) || event_canonical(e)) AS ok FROM events e "
		 "WHERE appraisal_id = (SELECT id FROM appraisals WHERE name = '%s')) s",
		 appraisal);
	long n = count(q);
	assert_true(n >= 0);
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM appraisals WHERE name = '%s' AND events = %ld AND head = "
		 "coalesce((SELECT hash FROM events WHERE appraisal_id = appraisals.id ORDER BY "
		 "seq DESC LIMIT 1), decode(repeat('00', 32), 'hex'))",
		 appraisal, n);
	assert_int_equal(count(q), 1);
	return n;
}

/* ---- tests ---- */

static void text_evidence_and_decisions(void **state)
{
	rpc_client *appr = client(U_APPRAISER), *bot = client(U_BOT), *viewer = client(U_VIEWER);
	Opra__V1__EvidenceReply *r = NULL;
	char hex[65], id_appr[32], id_bot[32];
	long events0 = assert_chain("ovig");

	/* An appraiser's evidence is accepted at once; practice matching is
	 * case-insensitive and the reply names it canonically. */
	const char *text = "We interviewed the asset owners; inventory reviewed quarterly.";
	assert_int_equal(
		submit_text(appr, "ovig", "adm:sg1.sp1", "claims", "affirmation", text, NULL, &r),
		OPRA_OK);
	hex_of(hex, text, strlen(text));
	assert_string_equal(r->result, "submitted");
	assert_string_equal(r->evidence->status, "accepted");
	assert_string_equal(r->evidence->practice, "ADM:SG1.SP1");
	assert_string_equal(r->evidence->instance, "claims");
	assert_string_equal(r->evidence->kind, "affirmation");
	assert_string_equal(r->evidence->sha256, hex);
	assert_int_equal(r->evidence->size, strlen(text));
	assert_string_equal(r->evidence->submitted_by, "appraiser");
	assert_string_equal(r->evidence->site, "test-site");
	assert_true(r->evidence->is_text);
	regex_t ts_re;
	assert_int_equal(regcomp(&ts_re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	assert_int_equal(regexec(&ts_re, r->evidence->submitted_at, 0, NULL, 0), 0);
	snprintf(id_appr, sizeof(id_appr), "%s", r->evidence->id);
	testserver_reply_free(r);

	/* Automation's evidence starts proposed. */
	assert_int_equal(submit_text(bot, "ovig", "ADM:SG1.SP1", "claims", "artifact",
				     "scanner: 412 assets found, 0 unowned", NULL, &r),
			 OPRA_OK);
	assert_string_equal(r->evidence->status, "proposed");
	assert_string_equal(r->evidence->submitted_by, "bot");
	snprintf(id_bot, sizeof(id_bot), "%s", r->evidence->id);
	testserver_reply_free(r);
	/* Each submission appended one event naming the item. */
	assert_int_equal(assert_chain("ovig"), events0 + 2);
	char q[256];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM events WHERE object = 'evidence %s' AND after->>'status' = "
		 "'proposed' AND actor = 'bot' AND site = 'test-site'",
		 id_bot);
	assert_int_equal(count(q), 1);

	/* The list shows both with the fields the CLI prints. */
	Opra__V1__EvidenceListReply *l = NULL;
	assert_int_equal(list(viewer, "ovig", "proposed", &l), OPRA_OK);
	assert_int_equal(l->n_items, 1);
	assert_string_equal(l->items[0]->id, id_bot);
	assert_string_equal(l->items[0]->status, "proposed");
	assert_string_equal(l->items[0]->kind, "artifact");
	assert_int_equal(regexec(&ts_re, l->items[0]->submitted_at, 0, NULL, 0), 0);
	testserver_reply_free(l);
	regfree(&ts_re);

	/* Decisions: viewers and automation may not; rejecting needs a reason;
	 * accepting twice is "unchanged" and writes no second event. */
	assert_int_equal(decide(viewer, M("Accept"), id_bot, NULL, NULL), OPRA_PERMISSION_DENIED);
	assert_int_equal(decide(bot, M("Accept"), id_bot, NULL, NULL), OPRA_PERMISSION_DENIED);
	assert_int_equal(decide(appr, M("Reject"), id_bot, NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "--reason"));
	assert_int_equal(decide(appr, M("Accept"), id_bot, "checked against the CMDB", &r),
			 OPRA_OK);
	assert_string_equal(r->result, "accepted");
	assert_string_equal(r->evidence->status, "accepted");
	assert_string_equal(r->evidence->decided_by, "appraiser");
	assert_string_equal(r->evidence->reason, "checked against the CMDB");
	assert_true(r->evidence->decided_at[0] != '\0');
	testserver_reply_free(r);
	long n = assert_chain("ovig");
	assert_int_equal(decide(appr, M("Accept"), id_bot, NULL, &r), OPRA_OK);
	assert_string_equal(r->result, "unchanged");
	testserver_reply_free(r);
	assert_int_equal(assert_chain("ovig"), n);
	assert_int_equal(decide(appr, M("Accept"), "999999", NULL, NULL), OPRA_NOT_FOUND);
	assert_int_equal(decide(appr, M("Accept"), "12; DROP TABLE x", NULL, NULL),
			 OPRA_INVALID_ARGUMENT);

	/* Get returns the text's bytes. */
	uint64_t len = 0;
	char got[65];
	get_all(viewer, id_appr, 7, got, &len);
	assert_int_equal(len, strlen(text));
	assert_string_equal(got, hex);

	/* A retry with the same idempotency key returns the same item and
	 * stores nothing twice. */
	long before = appraisal_count("evidence", "ovig");
	Opra__V1__EvidenceReply *r2 = NULL;
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP2", "claims", "affirmation",
				     "retry me", "key-retry-1", &r),
			 OPRA_OK);
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP2", "claims", "affirmation",
				     "retry me", "key-retry-1", &r2),
			 OPRA_OK);
	assert_string_equal(r->evidence->id, r2->evidence->id);
	testserver_reply_free(r);
	testserver_reply_free(r2);
	assert_int_equal(appraisal_count("evidence", "ovig"), before + 1);
	/* ... and the same key for a different request is refused. */
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP2", "claims", "affirmation",
				     "something else", "key-retry-1", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(appraisal_count("evidence", "ovig"), before + 1);

	rpc_client_close(appr);
	rpc_client_close(bot);
	rpc_client_close(viewer);
}

/* Bad submissions change nothing and say what to do. */
static void submit_errors(void **state)
{
	rpc_client *appr = client(U_APPRAISER);
	long items = count("SELECT count(*) FROM evidence"), events = count("SELECT count(*) FROM "
									    "events");

	assert_int_equal(
		submit_text(appr, "ovig", "SC:SG1.SP1", "claims", "affirmation", "x", NULL, NULL),
		OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "not in the scope"));
	assert_int_equal(
		submit_text(appr, "ovig", "XX:SG9.SP9", "claims", "affirmation", "x", NULL, NULL),
		OPRA_NOT_FOUND);
	assert_int_equal(
		submit_text(appr, "ovig", "ADM:SG1.SP1", "billing", "affirmation", "x", NULL, NULL),
		OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "claims")); /* names the instances */
	assert_int_equal(submit_text(appr, "no-such", "ADM:SG1.SP1", "claims", "affirmation", "x",
				     NULL, NULL),
			 OPRA_NOT_FOUND);
	assert_int_equal(
		submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "opinion", "x", NULL, NULL),
		OPRA_INVALID_ARGUMENT);
	assert_int_equal(
		submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "affirmation", "", NULL, NULL),
		OPRA_INVALID_ARGUMENT);
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "affirmation", "bell\a",
				     NULL, NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "affirmation",
				     "\xc3\x28 invalid utf-8", NULL, NULL),
			 OPRA_INVALID_ARGUMENT);
	/* Text over 64 KiB: OUT_OF_RANGE, pointing at --file. */
	char *big = malloc(65537);
	memset(big, 'a', 65536);
	big[65536] = '\0';
	assert_int_equal(
		submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "affirmation", big, NULL, NULL),
		OPRA_OK); /* exactly the limit is fine */
	items++;
	events++;
	big[65536] = 'a';
	char *bigger = malloc(65538);
	memcpy(bigger, big, 65537);
	bigger[65537] = '\0';
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "affirmation", bigger,
				     NULL, NULL),
			 OPRA_OUT_OF_RANGE);
	assert_non_null(strstr(opra_err_msg(), "--file"));
	free(big);
	free(bigger);
	/* A file that was never uploaded; both text and file; a bad hash. */
	char hex[65];
	hex_of(hex, "never uploaded", 14);
	assert_int_equal(submit_file(appr, hex, 14, NULL), OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "upload it first"));
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	req.appraisal = "ovig";
	req.practice = "ADM:SG1.SP1";
	req.instance = "claims";
	req.kind = "artifact";
	req.text = "both";
	req.sha256 = hex;
	req.size = 14;
	assert_int_equal(ev_call(appr, M("Submit"), &req.base, NULL, NULL, ""),
			 OPRA_INVALID_ARGUMENT);
	req.text = "";
	req.sha256 = "not-a-hash";
	assert_int_equal(ev_call(appr, M("Submit"), &req.base, NULL, NULL, ""),
			 OPRA_INVALID_ARGUMENT);
	/* No idempotency key: refused before anything runs. */
	assert_int_equal(rpc_call(appr, M("Submit"), &req.base, NULL, NULL, NULL),
			 OPRA_INVALID_ARGUMENT);

	assert_int_equal(count("SELECT count(*) FROM evidence"), items);
	assert_int_equal(count("SELECT count(*) FROM events"), events);
	rpc_client_close(appr);
}

static void sealed_appraisal(void **state)
{
	rpc_client *lead = client(U_LEAD), *viewer = client(U_VIEWER);
	Opra__V1__EvidenceReply *r = NULL;
	assert_int_equal(submit_text(lead, "sealed-one", "ADM:SG1.SP1", "claims", "affirmation",
				     "before the seal", NULL, &r),
			 OPRA_OK);
	char id[32];
	snprintf(id, sizeof(id), "%s", r->evidence->id);
	testserver_reply_free(r);
	sql("UPDATE appraisals SET sealed_at = now(), sealed_head = head, sealed_by = created_by "
	    "WHERE name = 'sealed-one'");
	long items = appraisal_count("evidence", "sealed-one");
	assert_int_equal(submit_text(lead, "sealed-one", "ADM:SG1.SP1", "claims", "affirmation",
				     "after the seal", NULL, NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "sealed"));
	char hex[65];
	hex_of(hex, "x", 1);
	assert_int_equal(begin(lead, "sealed-one", hex, 1, NULL), OPRA_FAILED_PRECONDITION);
	assert_int_equal(decide(lead, M("Reject"), id, "too late", NULL), OPRA_FAILED_PRECONDITION);
	assert_int_equal(appraisal_count("evidence", "sealed-one"), items);
	/* Reading still works. */
	Opra__V1__EvidenceListReply *l = NULL;
	assert_int_equal(list(viewer, "sealed-one", NULL, &l), OPRA_OK);
	assert_int_equal(l->n_items, 1);
	assert_string_equal(l->items[0]->status, "accepted");
	testserver_reply_free(l);
	rpc_client_close(lead);
	rpc_client_close(viewer);
}

/* A 3.5 MiB file in 1 MiB chunks: out of order, a dropped connection and a
 * resume, bad chunks, commit with chunks missing, dedup, read back. */
static void chunked_upload(void **state)
{
	const size_t size = 3 * MIB + MIB / 2;
	uint8_t *data = random_bytes(size, 7);
	char hex[65];
	hex_of(hex, data, size);
	rpc_client *c = client(U_APPRAISER);
	Opra__V1__UploadBeginReply *b = NULL;

	assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
	assert_false(b->stored);
	assert_int_equal(b->chunk_size, MIB);
	assert_int_equal(b->chunks, 4);
	assert_int_equal(b->n_missing, 1);
	assert_int_equal(b->missing[0]->first, 0);
	assert_int_equal(b->missing[0]->count, 4);
	uint64_t up = b->upload_id;
	testserver_reply_free(b);

	uint32_t received = 0;
	assert_int_equal(chunk(c, up, 2, data + 2 * MIB, MIB, &received), OPRA_OK);
	assert_int_equal(received, 1);
	assert_int_equal(chunk(c, up, 0, data, MIB, &received), OPRA_OK);
	assert_int_equal(chunk(c, up, 3, data + 3 * MIB, MIB / 2, &received), OPRA_OK);
	assert_int_equal(received, 3);
	/* Twice, out of range, wrong length: refused, nothing changes. */
	assert_int_equal(chunk(c, up, 0, data, MIB, NULL), OPRA_ALREADY_EXISTS);
	assert_non_null(strstr(opra_err_msg(), "already stored"));
	assert_int_equal(chunk(c, up, 4, data, MIB / 2, NULL), OPRA_OUT_OF_RANGE);
	assert_int_equal(chunk(c, up, 1, data, 1000, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(chunk(c, up + 1000, 1, data, MIB, NULL), OPRA_NOT_FOUND);
	/* Commit with a chunk missing. */
	assert_int_equal(commit(c, up), OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "missing 1 of its 4"));
	char q[256];
	snprintf(q, sizeof(q), "SELECT count(*) FROM upload_chunks WHERE upload_id = %llu",
		 (unsigned long long)up);
	assert_int_equal(count(q), 3);

	/* The connection drops; a new client begins again and is told only
	 * chunk 1 is missing. */
	rpc_client_close(c);
	c = client(U_APPRAISER);
	assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
	assert_false(b->stored);
	assert_int_equal(b->upload_id, up);
	assert_int_equal(b->n_missing, 1);
	assert_int_equal(b->missing[0]->first, 1);
	assert_int_equal(b->missing[0]->count, 1);
	testserver_reply_free(b);
	assert_int_equal(chunk(c, up, 1, data + MIB, MIB, &received), OPRA_OK);
	assert_int_equal(received, 4);
	/* Chunk 1 closed the gap: the server hashed 2 and 3 from storage, so
	 * the whole file is hashed before Commit. */
	snprintf(q, sizeof(q), "SELECT hashed_upto FROM uploads WHERE id = %llu",
		 (unsigned long long)up);
	assert_int_equal(count(q), (long)size);
	assert_int_equal(commit(c, up), OPRA_OK);
	assert_int_equal(commit(c, up), OPRA_OK); /* a retry answers the same */
	snprintf(q, sizeof(q), "SELECT count(*) FROM blobs WHERE sha256 = decode('%s', 'hex')",
		 hex);
	assert_int_equal(count(q), 1);
	assert_int_equal(chunk(c, up, 1, data + MIB, MIB, NULL), OPRA_FAILED_PRECONDITION);

	/* Dedup: the same file again is "stored", by anyone allowed to submit. */
	rpc_client *bot = client(U_BOT);
	assert_int_equal(begin(bot, "ovig", hex, size, &b), OPRA_OK);
	assert_true(b->stored);
	assert_int_equal(b->upload_id, 0);
	assert_int_equal(b->n_missing, 0);
	testserver_reply_free(b);
	assert_int_equal(begin(bot, "ovig", hex, size + 1, NULL), OPRA_INVALID_ARGUMENT);
	rpc_client_close(bot);

	/* Submit it and read it back in pieces that straddle chunk borders. */
	Opra__V1__EvidenceReply *r = NULL;
	assert_int_equal(submit_file(c, hex, size, &r), OPRA_OK);
	assert_string_equal(r->evidence->sha256, hex);
	assert_int_equal(r->evidence->size, size);
	assert_false(r->evidence->is_text);
	assert_string_equal(r->evidence->file_name, "policy.pdf");
	char id[32];
	snprintf(id, sizeof(id), "%s", r->evidence->id);
	testserver_reply_free(r);
	char got[65];
	uint64_t len = 0;
	get_all(c, id, 300007, got, &len);
	assert_int_equal(len, size);
	assert_string_equal(got, hex);
	get_all(c, id, 0, got, &len); /* the server's own piece size */
	assert_string_equal(got, hex);
	Opra__V1__EvidenceGetReply *g = NULL;
	assert_int_equal(get(c, id, MIB - 10, 20, &g), OPRA_OK);
	assert_int_equal(g->data.len, 20);
	assert_memory_equal(g->data.data, data + MIB - 10, 20);
	assert_false(g->eof);
	testserver_reply_free(g);
	assert_int_equal(get(c, id, size, 0, &g), OPRA_OK);
	assert_int_equal(g->data.len, 0);
	assert_true(g->eof);
	testserver_reply_free(g);
	assert_int_equal(get(c, id, size + 1, 0, NULL), OPRA_OUT_OF_RANGE);
	rpc_client_close(c);
	free(data);
}

/* ---- several chunks of one upload at once (client/upload.c) ---- */

/* The hash state of an upload: how far the in-order SHA-256 got. */
static long hashed_upto(uint64_t up)
{
	char q[128];
	snprintf(q, sizeof(q), "SELECT hashed_upto FROM uploads WHERE id = %llu",
		 (unsigned long long)up);
	return count(q);
}

typedef struct {
	uint64_t upload;
	const uint8_t *data;
	size_t size;
	uint32_t chunks;
	int stride, first; /* this thread sends first, first + stride, ... */
	int reverse;	   /* from the end */
	int failures;
} chunk_sender;

static void *send_chunks(void *arg)
{
	chunk_sender *s = arg;
	rpc_client *c = client(U_APPRAISER);
	for (uint32_t k = (uint32_t)s->first; k < s->chunks; k += (uint32_t)s->stride) {
		uint32_t seq = s->reverse ? s->chunks - 1 - k : k;
		size_t off = (size_t)seq * MIB, len = s->size - off < MIB ? s->size - off : MIB;
		if (chunk(c, s->upload, seq, s->data + off, len, NULL) != OPRA_OK)
			s->failures++;
	}
	rpc_client_close(c);
	return NULL;
}

/* Four connections store the chunks of one upload at once: in file order
 * the server hashes them as they come (Commit has nothing left to read);
 * backwards, Commit (or the chunk that fills the gap) reads them back. Both
 * verify and store the right bytes; a wrong chunk among concurrent ones is
 * caught at Commit. */
static void concurrent_chunks(void **state)
{
	const size_t size = 9 * MIB + 12345;
	for (int round = 0; round < 3; round++) {
		uint8_t *data = random_bytes(size, 40 + (unsigned)round);
		char hex[65], q[512];
		hex_of(hex, data, size);
		rpc_client *c = client(U_APPRAISER);
		Opra__V1__UploadBeginReply *b = NULL;
		assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
		assert_int_equal(b->chunks, 10);
		uint64_t up = b->upload_id;
		testserver_reply_free(b);
		if (round == 2) /* one chunk's bytes are wrong */
			data[5 * MIB + 17] ^= 0x5a;
		pthread_t th[4];
		chunk_sender cs[4];
		for (int i = 0; i < 4; i++) {
			cs[i] = (chunk_sender){.upload = up,
					       .data = data,
					       .size = size,
					       .chunks = 10,
					       .stride = 4,
					       .first = i,
					       .reverse = round == 1};
			assert_int_equal(pthread_create(&th[i], NULL, send_chunks, &cs[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(cs[i].failures, 0);
		}
		snprintf(q, sizeof(q), "SELECT count(*) FROM upload_chunks WHERE upload_id = %llu",
			 (unsigned long long)up);
		assert_int_equal(count(q), 10);
		if (round == 0) /* in order: hashed while the chunks came */
			assert_true(hashed_upto(up) >= (long)(6 * MIB));
		snprintf(q, sizeof(q),
			 "SELECT count(*) FROM blobs WHERE sha256 = decode('%s', 'hex') AND "
			 "size = %zu",
			 hex, size);
		if (round == 2) {
			assert_int_equal(commit(c, up), OPRA_INVALID_ARGUMENT);
			assert_non_null(
				strstr(opra_err_msg(), "do not match the declared SHA-256"));
			assert_int_equal(count(q), 0);
		} else {
			assert_int_equal(commit(c, up), OPRA_OK);
			assert_int_equal(count(q), 1);
			/* The stored bytes are the file's. */
			snprintf(q, sizeof(q),
				 "SELECT count(*) FROM upload_chunks WHERE upload_id = %llu HAVING "
				 "sha256(string_agg(data, ''::bytea ORDER BY seq)) = decode('%s', "
				 "'hex')",
				 (unsigned long long)up, hex);
			assert_int_equal(count(q), 10);
		}
		rpc_client_close(c);
		free(data);
	}
}

static void note_progress(void *arg, uint64_t done, uint64_t total)
{
	uint64_t *last = arg;
	assert_true(done > *last && done <= total);
	*last = done;
}

/* The client's upload (client/upload.c, what `opra evidence submit --file`
 * and the benchmark run): several streams, resume after chunks already
 * sent, dedup, and a file whose bytes no longer match its hash. */
static void client_upload(void **state)
{
	const size_t size = 7 * MIB + 999;
	uint8_t *data = random_bytes(size, 77);
	char hex[65], path[] = "/tmp/opra-test-upload-XXXXXX", q[512];
	hex_of(hex, data, size);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	rpc_client *c = client(U_APPRAISER);
	rpc_options more = {.n_urls = 1,
			    .token = tokens[U_APPRAISER].text,
			    .timeout_ms = 30000,
			    .site = "test-site"};
	more.urls[0] = ts.url;

	/* Two chunks are there already (an earlier, interrupted run). */
	Opra__V1__UploadBeginReply *b = NULL;
	assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
	uint64_t up = b->upload_id;
	testserver_reply_free(b);
	assert_int_equal(chunk(c, up, 0, data, MIB, NULL), OPRA_OK);
	assert_int_equal(chunk(c, up, 6, data + 6 * MIB, MIB, NULL), OPRA_OK);
	assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
	assert_int_equal(b->upload_id, up);
	assert_int_equal(b->n_missing, 2); /* 1..5 and 7 */
	testserver_reply_free(b);

	uint64_t progress_last = 0;
	upload_params p = {.rpc = c,
			   .more = &more,
			   .streams = 4,
			   .appraisal = "ovig",
			   .key = "client-upload-1",
			   .progress = note_progress,
			   .progress_arg = &progress_last};
	upload_source src = {
		.fd = fd, .name = "evidence.bin", .sha256 = hex, .size = size, .check_size = true};
	upload_result res;
	assert_int_equal(upload_run(&p, &src, &res), OPRA_OK);
	assert_false(res.deduplicated);
	assert_int_equal(res.bytes_sent, size - 2 * MIB);
	assert_int_equal(res.streams_used, 4);
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM blobs b JOIN upload_chunks c ON c.upload_id = b.upload_id "
		 "WHERE b.sha256 = decode('%s', 'hex') HAVING sha256(string_agg(c.data, "
		 "''::bytea ORDER BY c.seq)) = decode('%s', 'hex')",
		 hex, hex);
	assert_int_equal(count(q), 8);
	assert_int_equal(progress_last, size); /* the progress line ends at 100 % */

	/* Again: the server has it, nothing is sent. */
	assert_int_equal(upload_run(&p, &src, &res), OPRA_OK);
	assert_true(res.deduplicated);
	assert_int_equal(res.bytes_sent, 0);

	/* A file that changed after it was hashed: the server refuses the
	 * bytes at commit, the client says what happened, nothing is stored. */
	char other[65];
	hex_of(other, data, size - 1); /* the hash of a different content */
	src.sha256 = other;
	progress_last = 0;
	assert_int_equal(upload_run(&p, &src, &res), OPRA_FAILED_PRECONDITION);
	assert_true(res.file_changed);
	assert_non_null(strstr(opra_err_msg(), "changed while it was being sent"));
	assert_non_null(strstr(opra_err_msg(), "nothing was stored"));
	snprintf(q, sizeof(q), "SELECT count(*) FROM blobs WHERE sha256 = decode('%s', 'hex')",
		 other);
	assert_int_equal(count(q), 0);

	/* One stream works the same. */
	src.sha256 = hex;
	p.streams = 1;
	p.progress = NULL;
	p.key = "client-upload-2";
	assert_int_equal(upload_run(&p, &src, &res), OPRA_OK);
	assert_true(res.deduplicated);

	rpc_client_close(c);
	close(fd);
	unlink(path);
	free(data);
}

/* Bytes that do not hash to the declared SHA-256: nothing is stored, and
 * the next attempt starts from scratch. Also sizes and an empty file. */
static void upload_mismatch_and_limits(void **state)
{
	const size_t size = MIB + 100;
	uint8_t *good = random_bytes(size, 11), *bad = random_bytes(size, 12);
	char hex[65];
	hex_of(hex, good, size);
	rpc_client *c = client(U_LEAD);
	Opra__V1__UploadBeginReply *b = NULL;

	assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
	uint64_t up = b->upload_id;
	testserver_reply_free(b);
	assert_int_equal(chunk(c, up, 1, bad + MIB, 100, NULL), OPRA_OK);
	assert_int_equal(chunk(c, up, 0, bad, MIB, NULL), OPRA_OK);
	assert_int_equal(commit(c, up), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "do not match the declared SHA-256"));
	assert_non_null(strstr(opra_err_msg(), "nothing was stored"));
	char q[256];
	snprintf(q, sizeof(q), "SELECT count(*) FROM blobs WHERE sha256 = decode('%s', 'hex')",
		 hex);
	assert_int_equal(count(q), 0);
	snprintf(q, sizeof(q),
		 "SELECT (SELECT count(*) FROM uploads WHERE id = %llu) + (SELECT count(*) FROM "
		 "upload_chunks WHERE upload_id = %llu)",
		 (unsigned long long)up, (unsigned long long)up);
	assert_int_equal(count(q), 0);
	assert_int_equal(commit(c, up), OPRA_NOT_FOUND);
	assert_int_equal(chunk(c, up, 0, good, MIB, NULL), OPRA_NOT_FOUND);

	/* Again, with the right bytes: a fresh upload, everything missing. */
	assert_int_equal(begin(c, "ovig", hex, size, &b), OPRA_OK);
	assert_true(b->upload_id != up);
	assert_int_equal(b->n_missing, 1);
	assert_int_equal(b->missing[0]->count, 2);
	up = b->upload_id;
	testserver_reply_free(b);
	assert_int_equal(chunk(c, up, 0, good, MIB, NULL), OPRA_OK);
	assert_int_equal(chunk(c, up, 1, good + MIB, 100, NULL), OPRA_OK);
	assert_int_equal(commit(c, up), OPRA_OK);
	snprintf(q, sizeof(q),
		 "SELECT (SELECT count(*) FROM blobs WHERE upload_id = %llu) + (SELECT count(*) "
		 "FROM upload_chunks WHERE upload_id = %llu)",
		 (unsigned long long)up, (unsigned long long)up);
	assert_int_equal(count(q), 1 + 2);

	/* Over the size limit; a malformed hash; an empty file works. */
	assert_int_equal(begin(c, "ovig", hex, (4ull << 30) + 1, NULL), OPRA_OUT_OF_RANGE);
	assert_int_equal(begin(c, "ovig", "abc", 10, NULL), OPRA_INVALID_ARGUMENT);
	char empty[65];
	hex_of(empty, "", 0);
	assert_int_equal(begin(c, "ovig", empty, 0, &b), OPRA_OK);
	assert_int_equal(b->chunks, 0);
	assert_int_equal(b->n_missing, 0);
	up = b->upload_id;
	testserver_reply_free(b);
	assert_int_equal(commit(c, up), OPRA_OK);
	Opra__V1__EvidenceReply *r = NULL;
	assert_int_equal(submit_file(c, empty, 0, &r), OPRA_OK);
	char got[65], id[32];
	uint64_t len = 1;
	snprintf(id, sizeof(id), "%s", r->evidence->id);
	testserver_reply_free(r);
	get_all(c, id, 0, got, &len);
	assert_int_equal(len, 0);
	assert_string_equal(got, empty);
	rpc_client_close(c);
	free(good);
	free(bad);
}

/* Every caller kind against every Evidence method, with exact statuses. */
static void role_matrix(void **state)
{
	enum { OK = OPRA_OK, PD = OPRA_PERMISSION_DENIED };
	rpc_client *c[U_N];
	for (int u = 0; u < U_N; u++)
		c[u] = client(u);
	/* The order matters for chunk/commit: refused callers first, then the
	 * first allowed one stores the chunk and commits, and the others get the
	 * natural answers (begin: stored; chunk: already committed; commit: the
	 * same result). */
	static const int order[U_N] = {U_ADMIN, U_PO,	     U_OUTSIDER, U_VIEWER,
				       U_LEAD,	U_APPRAISER, U_BOT};
	static const int may_submit[U_N] = {[U_LEAD] = 1, [U_APPRAISER] = 1, [U_BOT] = 1};
	static const int may_read[U_N] = {
		[U_ADMIN] = 1, [U_PO] = 1, [U_LEAD] = 1, [U_APPRAISER] = 1, [U_VIEWER] = 1};
	static const int may_decide[U_N] = {[U_LEAD] = 1, [U_APPRAISER] = 1};

	uint8_t blob[64];
	memset(blob, 'm', sizeof(blob));
	char hex[65];
	hex_of(hex, blob, sizeof(blob));
	Opra__V1__UploadBeginReply *b = NULL;
	assert_int_equal(begin(c[U_LEAD], "ovig", hex, sizeof(blob), &b), OPRA_OK);
	uint64_t up = b->upload_id;
	testserver_reply_free(b);
	Opra__V1__EvidenceReply *r = NULL;
	assert_int_equal(submit_text(c[U_BOT], "ovig", "ADM:SG1.SP1", "claims", "artifact",
				     "matrix item", NULL, &r),
			 OPRA_OK);
	char id[32];
	snprintf(id, sizeof(id), "%s", r->evidence->id);
	testserver_reply_free(r);

	int committed = 0;
	for (int k = 0; k < U_N; k++) {
		int u = order[k];
		int want;
		/* UploadBegin */
		want = may_submit[u] ? OK : PD;
		if (begin(c[u], "ovig", hex, sizeof(blob), NULL) != want)
			fail_msg("UploadBegin as %s: %s", user_names[u], opra_err_msg());
		/* UploadChunk */
		want = !may_submit[u] ? PD : committed ? OPRA_FAILED_PRECONDITION : OK;
		if (chunk(c[u], up, 0, blob, sizeof(blob), NULL) != want)
			fail_msg("UploadChunk as %s: %s", user_names[u], opra_err_msg());
		/* UploadCommit */
		want = may_submit[u] ? OK : PD;
		if (commit(c[u], up) != want)
			fail_msg("UploadCommit as %s: %s", user_names[u], opra_err_msg());
		committed |= may_submit[u];
		/* Submit */
		want = may_submit[u] ? OK : PD;
		if (submit_text(c[u], "ovig", "ADM:SG1.SP2", "claims", "affirmation", "matrix",
				NULL, NULL) != want)
			fail_msg("Submit as %s: %s", user_names[u], opra_err_msg());
		/* List, Get */
		want = may_read[u] ? OK : PD;
		if (list(c[u], "ovig", NULL, NULL) != want)
			fail_msg("List as %s: %s", user_names[u], opra_err_msg());
		if (get(c[u], id, 0, 0, NULL) != want)
			fail_msg("Get as %s: %s", user_names[u], opra_err_msg());
		/* Accept, Reject (the item ends accepted) */
		want = may_decide[u] ? OK : PD;
		if (decide(c[u], M("Reject"), id, "matrix", NULL) != want)
			fail_msg("Reject as %s: %s", user_names[u], opra_err_msg());
		if (decide(c[u], M("Accept"), id, NULL, NULL) != want)
			fail_msg("Accept as %s: %s", user_names[u], opra_err_msg());
	}
	assert_true(committed);
	/* Non-members are told they are not members, and of what. */
	assert_int_equal(list(c[U_OUTSIDER], "ovig", NULL, NULL), PD);
	assert_non_null(strstr(opra_err_msg(), "not a member of appraisal 'ovig'"));
	for (int u = 0; u < U_N; u++)
		rpc_client_close(c[u]);
}

/* ---- many clients at once ---- */

#define CONC_CLIENTS 32
#define CONC_ITEMS   6

typedef struct {
	int index;
	int ok;
	int failures;
	char ids[CONC_ITEMS][32];
	char error[256];
} conc_arg;

static void *conc_worker(void *p)
{
	conc_arg *a = p;
	rpc_client *c = testserver_client(&ts, tokens[a->index % 2 ? U_BOT : U_APPRAISER].text);
	for (int i = 0; i < CONC_ITEMS; i++) {
		char key[40], text[64];
		rpc_new_key(key);
		snprintf(text, sizeof(text), "client %d item %d", a->index, i);
		Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
		req.appraisal = "ovig";
		req.practice = i % 2 ? "ADM:SG1.SP1" : "ADM:SG1.SP2";
		req.instance = "claims";
		req.kind = "affirmation";
		req.text = text;
		/* Every item is sent twice with the same key (a retry after a
		 * lost reply); busy answers are retried with the same key. */
		for (int send = 0; send < 2; send++) {
			int rc;
			Opra__V1__EvidenceReply *r = NULL;
			for (int attempt = 0;; attempt++) {
				rc = rpc_call(c, M("Submit"), &req.base,
					      &opra__v1__evidence_reply__descriptor,
					      (ProtobufCMessage **)&r, key);
				if ((rc == OPRA_RESOURCE_EXHAUSTED || rc == OPRA_UNAVAILABLE ||
				     rc == OPRA_ABORTED || rc == OPRA_DEADLINE_EXCEEDED) &&
				    attempt < 50)
					continue;
				break;
			}
			if (rc != OPRA_OK) {
				a->failures++;
				snprintf(a->error, sizeof(a->error), "%s: %s", opra_status_name(rc),
					 opra_err_msg());
				break;
			}
			if (send == 0)
				snprintf(a->ids[i], sizeof(a->ids[i]), "%s", r->evidence->id);
			else if (strcmp(a->ids[i], r->evidence->id) != 0)
				a->failures++;
			else
				a->ok++;
			protobuf_c_message_free_unpacked(&r->base, NULL);
		}
	}
	rpc_client_close(c);
	return NULL;
}

static void concurrent_submitters(void **state)
{
	pthread_t th[CONC_CLIENTS];
	conc_arg args[CONC_CLIENTS];
	long items0 = appraisal_count("evidence", "ovig");
	long events0 = assert_chain("ovig");

	for (int i = 0; i < CONC_CLIENTS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &args[i]), 0);
	}
	int ok = 0;
	for (int i = 0; i < CONC_CLIENTS; i++) {
		pthread_join(th[i], NULL);
		if (args[i].failures)
			fail_msg("client %d: %d failures (%s)", i, args[i].failures, args[i].error);
		ok += args[i].ok;
	}
	assert_int_equal(ok, CONC_CLIENTS * CONC_ITEMS);
	/* Exactly one item and one event per logical submission. */
	assert_int_equal(appraisal_count("evidence", "ovig"), items0 + CONC_CLIENTS * CONC_ITEMS);
	assert_int_equal(assert_chain("ovig"), events0 + CONC_CLIENTS * CONC_ITEMS);
	assert_int_equal(count("SELECT count(*) FROM (SELECT body_text FROM evidence WHERE "
			       "body_text LIKE 'client % item %' GROUP BY body_text "
			       "HAVING count(*) > 1) d"),
			 0);
	assert_int_equal(count("SELECT count(*) FROM evidence WHERE body_text LIKE 'client % item "
			       "%' AND status = 'proposed'"),
			 CONC_CLIENTS / 2 * CONC_ITEMS);
}

/* What the one-statement fast path does not take (the appraisal by id, a
 * model-qualified practice) goes the slow path and stores the same item,
 * event and chain link; a bot's item starts proposed there too. */
static void slow_path_forms(void **state)
{
	rpc_client *appr = client(U_APPRAISER), *bot = client(U_BOT);
	Opra__V1__EvidenceReply *r = NULL;
	long events0 = assert_chain("ovig");
	long items0 = appraisal_count("evidence", "ovig");
	char id[32];
	snprintf(id, sizeof(id), "%ld", count("SELECT id FROM appraisals WHERE name = 'ovig'"));

	assert_int_equal(submit_text(appr, id, "tm-1/adm:sg1.sp1", "claims", "affirmation",
				     "slow path one", NULL, &r),
			 OPRA_OK);
	assert_string_equal(r->evidence->appraisal, "ovig");
	assert_string_equal(r->evidence->practice, "ADM:SG1.SP1");
	assert_string_equal(r->evidence->status, "accepted");
	assert_true(strlen(r->evidence->submitted_at) == 20);
	char q[256];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM evidence e JOIN events v ON v.object = 'evidence ' || e.id "
		 "WHERE e.id = %s AND e.body_text = 'slow path one' AND v.after->>'practice' = "
		 "'ADM:SG1.SP1' AND v.after->>'id' = '%s'",
		 r->evidence->id, r->evidence->id);
	assert_int_equal(count(q), 1);
	testserver_reply_free(r);
	r = NULL;
	assert_int_equal(submit_text(bot, "ovig", "TM-1/ADM:SG1.SP1", "claims", "affirmation",
				     "slow path two", NULL, &r),
			 OPRA_OK);
	assert_string_equal(r->evidence->status, "proposed");
	testserver_reply_free(r);
	/* The fast path's event and the slow path's chain on one another. */
	assert_int_equal(submit_text(appr, "ovig", "ADM:SG1.SP1", "claims", "affirmation",
				     "fast path after", NULL, NULL),
			 OPRA_OK);
	assert_int_equal(appraisal_count("evidence", "ovig"), items0 + 3);
	assert_int_equal(assert_chain("ovig"), events0 + 3);
	rpc_client_close(appr);
	rpc_client_close(bot);
}

/* ---- set-based group commit ---- */

typedef struct {
	int who;
	const char *practice;
	char text[48];
	char key[40];
	int rc;
	char id[32];
	char status[16];
	char msg[256];
} batch_arg;

static void *batch_submit(void *p)
{
	batch_arg *a = p;
	rpc_client *c = client(a->who);
	Opra__V1__EvidenceReply *r = NULL;
	a->rc = submit_text(c, "ovig", a->practice, "claims", "affirmation", a->text, a->key, &r);
	snprintf(a->msg, sizeof(a->msg), "%s", opra_err_msg());
	if (a->rc == OPRA_OK) {
		snprintf(a->id, sizeof(a->id), "%s", r->evidence->id);
		snprintf(a->status, sizeof(a->status), "%s", r->evidence->status);
	}
	testserver_reply_free(r);
	rpc_client_close(c);
	return NULL;
}

/* Holds the appraisal row so the workers' submissions pile up behind the
 * first one, then lets them go: they run combined, several per
 * transaction. */
static void submit_held(batch_arg *a, int n)
{
	pthread_t th[16];
	assert_true(n <= 16);
	PGresult *r = NULL;
	if (db_begin(ts.db) != OPRA_OK ||
	    db_exec(&r, ts.db, 1, "SELECT 1 FROM appraisals WHERE name = 'ovig' FOR UPDATE", 0,
		    NULL) != OPRA_OK)
		fail_msg("locking the appraisal: %s", opra_err_msg());
	PQclear(r);
	for (int i = 0; i < n; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, batch_submit, &a[i]), 0);
		usleep(i == 0 ? 200 * 1000 : 40 * 1000);
	}
	usleep(200 * 1000);
	db_rollback(ts.db);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

static void set_based_batches(void **state)
{
	enum { N = 8 };
	batch_arg a[N];
	dispatch_batch_counters before, after;
	long events0 = assert_chain("ovig"), items0 = appraisal_count("evidence", "ovig");

	/* All plain: one statement takes them together. */
	memset(a, 0, sizeof(a));
	for (int i = 0; i < N; i++) {
		a[i].who = i % 2 ? U_BOT : U_APPRAISER;
		a[i].practice = i % 3 ? "ADM:SG1.SP1" : "adm:sg1.sp2";
		snprintf(a[i].text, sizeof(a[i].text), "set batch %d", i);
		rpc_new_key(a[i].key);
	}
	dispatch_batch_stats(ts.disp, &before);
	submit_held(a, N);
	dispatch_batch_stats(ts.disp, &after);
	for (int i = 0; i < N; i++) {
		if (a[i].rc != OPRA_OK)
			fail_msg("submit %d: %s", i, a[i].msg);
		assert_string_equal(a[i].status, i % 2 ? "proposed" : "accepted");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(a[i].id, a[j].id);
	}
	assert_true(after.set_batches > before.set_batches);
	assert_int_equal(after.savepoint_runs, before.savepoint_runs);
	/* Fewer transactions than requests, each item with its one event. */
	assert_true(count("SELECT count(DISTINCT v.xid) FROM events v JOIN evidence e ON "
			  "v.object = 'evidence ' || e.id WHERE e.body_text LIKE 'set batch %'") <
		    N);
	assert_int_equal(count("SELECT count(*) FROM evidence e JOIN events v ON v.object = "
			       "'evidence ' || e.id AND v.after->>'id' = e.id::text AND "
			       "v.after->>'practice' = (SELECT full_id FROM practices WHERE id = "
			       "e.practice_id) WHERE e.body_text LIKE 'set batch %'"),
			 N);
	assert_int_equal(appraisal_count("evidence", "ovig"), items0 + N);
	assert_int_equal(assert_chain("ovig"), events0 + N);

	/* A retry of each (same key) gets the stored reply; nothing changes. */
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%s", a[i].id);
		a[i].id[0] = '\0';
		batch_submit(&a[i]);
		assert_int_equal(a[i].rc, OPRA_OK);
		assert_string_equal(a[i].id, id);
	}
	assert_int_equal(assert_chain("ovig"), events0 + N);

	/* Refused ones among them (out of scope, a viewer, unknown practice)
	 * fail alone with their own errors; the rest commit. */
	memset(a, 0, sizeof(a));
	for (int i = 0; i < N; i++) {
		a[i].who = i == 3 ? U_VIEWER : U_APPRAISER;
		a[i].practice = i == 2 ? "SC:SG1.SP1" : i == 5 ? "XX:SG9.SP9" : "ADM:SG1.SP1";
		snprintf(a[i].text, sizeof(a[i].text), "set refuse %d", i);
		rpc_new_key(a[i].key);
	}
	submit_held(a, N);
	for (int i = 0; i < N; i++) {
		int want = i == 2   ? OPRA_INVALID_ARGUMENT
			   : i == 3 ? OPRA_PERMISSION_DENIED
			   : i == 5 ? OPRA_NOT_FOUND
				    : OPRA_OK;
		if (a[i].rc != want)
			fail_msg("submit %d: got %s (%s), want %s", i, opra_status_name(a[i].rc),
				 a[i].msg, opra_status_name(want));
	}
	assert_int_equal(count("SELECT count(*) FROM evidence WHERE body_text LIKE 'set refuse %'"),
			 N - 3);
	/* A refused request keeps no idempotency record; the others one each. */
	char q[512];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM idempotency WHERE status = 0 AND key IN ('%s', '%s', '%s', "
		 "'%s', '%s', '%s', '%s', '%s')",
		 a[0].key, a[1].key, a[2].key, a[3].key, a[4].key, a[5].key, a[6].key, a[7].key);
	assert_int_equal(count(q), N - 3);
	assert_int_equal(assert_chain("ovig"), events0 + N + N - 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_evidence_and_decisions),
		cmocka_unit_test(submit_errors),
		cmocka_unit_test(sealed_appraisal),
		cmocka_unit_test(chunked_upload),
		cmocka_unit_test(upload_mismatch_and_limits),
		cmocka_unit_test(concurrent_chunks),
		cmocka_unit_test(client_upload),
		cmocka_unit_test(role_matrix),
		cmocka_unit_test(concurrent_submitters),
		cmocka_unit_test(slow_path_forms),
		cmocka_unit_test(set_based_batches),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
