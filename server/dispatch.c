#include "dispatch.h"

#include "auth.h"
#include "envelope.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_version.h"
#include "pbcheck.h"
#include "sha256.h"
#include "token.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "opra/v1/system.pb-c.h"
#include "opra/v1/user.pb-c.h"

extern const service_impl svc_system;
extern const service_impl svc_user;
extern const service_impl svc_model;
extern const service_impl svc_inventory;
extern const service_impl svc_bulk;
extern const service_impl svc_appraisal;
extern const service_impl svc_evidence;
extern const service_impl svc_events;
extern const service_impl svc_rating;
extern const service_impl svc_plan;
extern const service_impl svc_report;

extern const method_batch_impl svc_evidence_submit_batch;

/* Set-based batch handlers (method.h method_batch_fn), by method name. */
static const method_batch_impl *const batch_handlers[] = {
	&svc_evidence_submit_batch,
};

/* Every service the server offers (method.h). */
const service_impl *const opra_services[] = {
	&svc_system,   &svc_user,   &svc_model,	 &svc_inventory, &svc_bulk,   &svc_appraisal,
	&svc_evidence, &svc_events, &svc_rating, &svc_plan,	 &svc_report,
};
const size_t opra_n_services = sizeof(opra_services) / sizeof(opra_services[0]);

struct cgroup;

typedef struct {
	char full_name[ENVELOPE_METHOD_MAX + 1];
	const ProtobufCMethodDescriptor *desc;
	const method_impl *impl;
	method_batch_fn batch_fn; /* NULL: none */
	/* Combining (run_combined), under dispatcher.mu: */
	struct cgroup *pending; /* batches waiting for a combiner */
	int combining;		/* a worker is running a combined batch */
	atomic_ullong calls;
	atomic_ullong errors;
	atomic_ullong total_us;
} method_entry;

struct dispatcher {
	method_entry *methods;
	size_t n;
	const server_info *info;
	atomic_ullong batch_txns;     /* group-commit transactions (2+ requests) */
	atomic_ullong batch_requests; /* requests executed in them */
	atomic_ullong batch_reruns;   /* requests re-run alone after ABORTED in a batch */
	atomic_ullong batch_fallbacks;
	atomic_ullong batch_savepoint_runs; /* batches run again with savepoints */
	atomic_ullong batch_sets;	    /* batches run by a batch handler */
	pthread_mutex_t mu;		    /* combining */
	pthread_cond_t cv;
	int sync_ready;
};

static method_entry *find_method(dispatcher *d, const char *name);

int dispatch_create(dispatcher **out, const server_info *info)
{
	return dispatch_create_with(out, info, NULL, 0);
}

int dispatch_create_with(dispatcher **out, const server_info *info,
			 const service_impl *const *extra, size_t n_extra)
{
	dispatcher *d = NULL;
	size_t total = 0;
	int rc = OPRA_OK;

	*out = NULL;
	size_t n_builtin = opra_n_services;
	for (size_t s = 0; s < n_builtin + n_extra; s++)
		total += (s < n_builtin ? opra_services[s] : extra[s - n_builtin])->desc->n_methods;
	d = opra_calloc(1, sizeof(*d));
	if (d == NULL || (d->methods = opra_calloc(total, sizeof(method_entry))) == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	d->info = info;
	if (pthread_mutex_init(&d->mu, NULL) != 0) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "cannot create a mutex");
		goto done;
	}
	if (pthread_cond_init(&d->cv, NULL) != 0) {
		pthread_mutex_destroy(&d->mu);
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "cannot create a condition variable");
		goto done;
	}
	d->sync_ready = 1;
	for (size_t s = 0; s < n_builtin + n_extra; s++) {
		const service_impl *svc = s < n_builtin ? opra_services[s] : extra[s - n_builtin];
		for (unsigned m = 0; m < svc->desc->n_methods; m++) {
			const ProtobufCMethodDescriptor *md = &svc->desc->methods[m];
			const method_impl *impl = NULL;
			for (size_t k = 0; k < svc->n_methods; k++)
				if (strcmp(svc->methods[k].name, md->name) == 0)
					impl = &svc->methods[k];
			if (impl == NULL || impl->fn == NULL) {
				rc = opra_err_set(OPRA_INTERNAL, "method %s/%s has no handler",
						  svc->desc->name, md->name);
				goto done;
			}
			method_entry *e = &d->methods[d->n++];
			snprintf(e->full_name, sizeof(e->full_name), "%s/%s", svc->desc->name,
				 md->name);
			e->desc = md;
			e->impl = impl;
		}
		for (size_t k = 0; k < svc->n_methods; k++) {
			if (protobuf_c_service_descriptor_get_method_by_name(
				    svc->desc, svc->methods[k].name) == NULL) {
				rc = opra_err_set(
					OPRA_INTERNAL,
					"handler row %s/%s matches no method in the proto",
					svc->desc->name, svc->methods[k].name);
				goto done;
			}
		}
	}
	for (size_t k = 0; k < sizeof(batch_handlers) / sizeof(batch_handlers[0]); k++) {
		method_entry *e = find_method(d, batch_handlers[k]->full_name);
		if (e == NULL || !(e->impl->flags & METHOD_BATCH) ||
		    (e->impl->flags & (METHOD_NO_KEY | METHOD_SECRET_REPLY))) {
			rc = opra_err_set(OPRA_INTERNAL,
					  "batch handler %s names no keyed METHOD_BATCH method",
					  batch_handlers[k]->full_name);
			goto done;
		}
		e->batch_fn = batch_handlers[k]->fn;
	}
	*out = d;
	d = NULL;
done:
	dispatch_free(d);
	return rc;
}

void dispatch_free(dispatcher *d)
{
	if (d == NULL)
		return;
	if (d->sync_ready) {
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
	}
	opra_free(d->methods);
	opra_free(d);
}

size_t dispatch_method_count(const dispatcher *d)
{
	return d->n;
}

void dispatch_method_stats(const dispatcher *d, size_t i, method_stats *out)
{
	method_entry *e = &d->methods[i];
	out->full_name = e->full_name;
	out->calls = atomic_load(&e->calls);
	out->errors = atomic_load(&e->errors);
	out->total_us = atomic_load(&e->total_us);
}

static method_entry *find_method(dispatcher *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->methods[i].full_name, name) == 0)
			return &d->methods[i];
	return NULL;
}

int dispatch_error_response(opra_buf *out, uint64_t request_id, int status, const char *message)
{
	return envelope_response_pack(out, request_id, status, message, NULL, NULL, 0);
}

int call_reply(call *c, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	opra_buf_reset(c->reply);
	uint8_t *dst = opra_buf_reserve(c->reply, n);
	if (dst == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(msg, dst);
	c->reply->len = n;
	return OPRA_OK;
}

int call_park(call *c, long long key, long long ms)
{
	if (!c->may_park)
		return opra_err_set(OPRA_FAILED_PRECONDITION, "this request cannot wait here");
	c->parked = 1;
	c->park_key = key;
	c->park_ms = ms < 1 ? 1 : ms;
	return OPRA_OK;
}

int call_event(call *c, const char *object, const char *before_json, const char *after_json)
{
	char actor_id[32];
	snprintf(actor_id, sizeof(actor_id), "%lld", c->who ? c->who->id : 0LL);
	const char *params[9] = {c->who ? actor_id : NULL,
				 c->who ? c->who->name : "anonymous",
				 c->req->client_id,
				 c->req->site,
				 c->peer ? c->peer : "",
				 c->req->method,
				 object,
				 before_json,
				 after_json};
	return db_cmd(c->db,
		      "INSERT INTO events (actor_id, actor, client_id, site, peer, method, object, "
		      "before, after) VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8::jsonb, "
		      "$9::jsonb)",
		      9, params);
}

/* The request fingerprint stored with an idempotency key: a key reused for a
 * different request is refused rather than answered with the wrong reply. */
static void request_fingerprint(char hex[65], const Opra__V1__Request *req)
{
	/* SHA-256 of method, NUL, body: streamed (no copy of the body), with
	 * OpenSSL's hardware SHA (common/sha256.h). */
	uint8_t h[SHA256_BYTES];
	sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, req->method, strlen(req->method) + 1);
	sha256_update(&ctx, req->body.data, req->body.len);
	sha256_final(&ctx, h);
	opra_hex(hex, h, sizeof(h));
}

/* One request on its way through the pipeline. Errors are kept here (not
 * only in the thread's last error) because a batch finishes its requests
 * after running them all. */
typedef struct {
	dispatch_item *it;
	Opra__V1__Request *req;
	ProtobufCMessage *body;
	method_entry *m;
	caller who;
	int have_caller;
	opra_buf reply;
	long long t0;
	int rc;
	int rerun;	/* ABORTED inside a batch: run again alone afterwards */
	size_t batch_n; /* requests in the transaction it ran in; 0: ran alone */
	char msg[OPRA_ERR_MSG_MAX];
	char details[OPRA_ERR_DETAILS_MAX];
} rstate;

/* Records rc with the thread's current message as the request's outcome. */
static int rs_fail(rstate *rs, int rc)
{
	rs->rc = rc;
	if (rc == OPRA_OK)
		return rc;
	if (opra_err_code() != rc || opra_err_msg()[0] == '\0')
		opra_err_set(rc, "%s", opra_status_name(rc));
	snprintf(rs->msg, sizeof(rs->msg), "%s", opra_err_msg());
	snprintf(rs->details, sizeof(rs->details), "%s", opra_err_details());
	return rc;
}

/* Keeps the last error across a rollback (which may set its own). */
static void rollback_keep_error(db *dbh)
{
	int code = opra_err_code();
	char msg[OPRA_ERR_MSG_MAX], details[OPRA_ERR_DETAILS_MAX];
	snprintf(msg, sizeof(msg), "%s", opra_err_msg());
	snprintf(details, sizeof(details), "%s", opra_err_details());
	db_rollback(dbh);
	opra_err_set(code, "%s", msg);
	opra_err_set_details(details[0] ? details : NULL);
}

static call call_for(dispatcher *d, rstate *rs, db *dbh)
{
	call c = {.db = dbh,
		  .who = rs->have_caller ? &rs->who : NULL,
		  .req = rs->req,
		  .peer = rs->it->peer,
		  .server = d->info,
		  .reply = &rs->reply,
		  .arg = rs->m->impl->arg,
		  .waited_ms = rs->it->waited_ms,
		  .may_park = (rs->m->impl->flags & METHOD_PARKS) && rs->it->may_park};
	return c;
}

enum { IDEM_NEW, IDEM_REPLAY };

#define IDEM_CLAIM_SQL                                                                             \
	"INSERT INTO idempotency (user_id, key, method, request_sha256) "                          \
	"VALUES ($1::bigint, $2, $3, decode($4, 'hex')) ON CONFLICT DO NOTHING "                   \
	"RETURNING 1"
#define IDEM_STORE_SQL                                                                             \
	"UPDATE idempotency SET status = 0, response = $3 WHERE user_id = $1::bigint AND key = $2"

/* The parameters of one request's idempotency statements (they point into
 * this struct, the request and its reply: keep it alive until the
 * statements ran). */
typedef struct {
	char uid[32];
	char fp[65];
	const char *claim[4];
	const char *store[3];
	int store_len[3];
	int store_fmt[3];
} idem_params;

static void idem_params_init(idem_params *ip, const call *c, const method_entry *m)
{
	snprintf(ip->uid, sizeof(ip->uid), "%lld", c->who->id);
	/* Methods without a key keep no record: nothing to fingerprint (an
	 * upload chunk's megabyte need not be hashed twice). */
	if (m->impl->flags & METHOD_NO_KEY)
		ip->fp[0] = '\0';
	else
		request_fingerprint(ip->fp, c->req);
	ip->claim[0] = ip->uid;
	ip->claim[1] = c->req->idempotency_key;
	ip->claim[2] = m->full_name;
	ip->claim[3] = ip->fp;
	int secret = (m->impl->flags & METHOD_SECRET_REPLY) != 0;
	ip->store[0] = ip->uid;
	ip->store[1] = c->req->idempotency_key;
	ip->store[2] = secret ? "" : (const char *)c->reply->data;
	ip->store_len[0] = ip->store_len[1] = 0;
	ip->store_len[2] = secret ? 0 : (int)c->reply->len;
	ip->store_fmt[0] = ip->store_fmt[1] = 0;
	ip->store_fmt[2] = 1;
}

static db_stmt stmt_plain(const char *sql)
{
	db_stmt s = {.sql = sql};
	return s;
}

static db_stmt stmt_claim(const idem_params *ip)
{
	db_stmt s = {.sql = IDEM_CLAIM_SQL, .nparams = 4, .params = ip->claim, .want_rows = 1};
	return s;
}

/* Call after the handler ran: the reply's address and length are read
 * now. */
static db_stmt stmt_store(idem_params *ip, const call *c, const method_entry *m)
{
	if (!(m->impl->flags & METHOD_SECRET_REPLY)) {
		ip->store[2] = (const char *)c->reply->data;
		ip->store_len[2] = (int)c->reply->len;
	}
	db_stmt s = {.sql = IDEM_STORE_SQL,
		     .nparams = 3,
		     .params = ip->store,
		     .lengths = ip->store_len,
		     .formats = ip->store_fmt};
	return s;
}

/* After a claim that inserted nothing: the key is taken. A replay of the
 * same request gets its stored reply (IDEM_REPLAY); a different request
 * under the same key gets INVALID_ARGUMENT. Neither changes anything. */
static int idem_lookup(call *c, const method_entry *m, const idem_params *ip, int *state,
		       opra_buf *stored)
{
	PGresult *r = NULL;
	int rc = db_exec(&r, c->db, 1,
			 "SELECT method, encode(request_sha256, 'hex'), status, encode(response, "
			 "'hex') FROM idempotency WHERE user_id = $1::bigint AND key = $2",
			 2, ip->claim);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) != 1) {
		rc = opra_err_set(OPRA_ABORTED, "a concurrent request with the same idempotency "
						"key changed state; retry");
		goto done;
	}
	if (strcmp(PQgetvalue(r, 0, 0), m->full_name) != 0 ||
	    strcmp(PQgetvalue(r, 0, 1), ip->fp) != 0) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "idempotency key '%s' was already used for a different request "
				  "(%s); use a new key for a new operation",
				  c->req->idempotency_key, PQgetvalue(r, 0, 0));
		goto done;
	}
	*state = IDEM_REPLAY;
	if (m->impl->flags & METHOD_SECRET_REPLY) {
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "this operation already completed (idempotency key '%s'); its "
				  "reply held a secret that is shown only once and not kept",
				  c->req->idempotency_key);
		goto done;
	}
	const char *hex = PQgetvalue(r, 0, 3);
	size_t hex_len = (size_t)PQgetlength(r, 0, 3);
	opra_buf_reset(stored);
	uint8_t *dst = opra_buf_reserve(stored, hex_len / 2 + 1);
	if (dst == NULL) {
		rc = OPRA_RESOURCE_EXHAUSTED;
		goto done;
	}
	for (size_t i = 0; i + 1 < hex_len; i += 2) {
		unsigned v = 0;
		sscanf(hex + i, "%2x", &v);
		dst[i / 2] = (uint8_t)v;
	}
	stored->len = hex_len / 2;
done:
	PQclear(r);
	return rc;
}

/* Runs `pre` (statements that need no result: BEGIN, SAVEPOINT, the
 * previous request's idempotency record) and, for keyed methods, the claim
 * of this request's key, in one round trip. A concurrent request with the
 * same key blocks on the primary key until the first commits or rolls back,
 * so exactly one of them executes. *state: IDEM_NEW, or IDEM_REPLAY with
 * the stored reply in `stored`. */
static int idem_claim(call *c, const method_entry *m, idem_params *ip, const db_stmt *pre,
		      size_t npre, int *state, opra_buf *stored)
{
	db_stmt st[4];
	size_t n = 0;
	int keyed = !(m->impl->flags & METHOD_NO_KEY), rc;

	*state = IDEM_NEW;
	for (size_t i = 0; i < npre && n < 3; i++)
		st[n++] = pre[i];
	if (keyed)
		st[n++] = stmt_claim(ip);
	if ((rc = db_pipeline(c->db, st, n)) != OPRA_OK)
		return rc;
	if (!keyed)
		return OPRA_OK;
	int inserted = PQntuples(st[n - 1].res) == 1;
	PQclear(st[n - 1].res);
	if (inserted)
		return OPRA_OK;
	return idem_lookup(c, m, ip, state, stored);
}

/* The idempotency claim, the handler and the idempotency record, inside a
 * transaction or savepoint: `pre` (BEGIN and/or SAVEPOINT) goes in one round
 * trip with the claim, `end` (COMMIT or RELEASE) in one with the record.
 * *replayed tells a stored reply from a fresh one; a replay runs neither
 * the handler nor `end`. */
static int run_mutation(call *c, const method_entry *m, const ProtobufCMessage *body, int *replayed,
			const db_stmt *pre, size_t npre, const char *end)
{
	int state = IDEM_NEW, rc;
	int keyed = !(m->impl->flags & METHOD_NO_KEY);
	opra_buf stored = OPRA_BUF_INIT;
	idem_params ip;
	db_stmt post[2];
	size_t npost = 0;

	*replayed = 0;
	idem_params_init(&ip, c, m);
	if ((rc = idem_claim(c, m, &ip, pre, npre, &state, &stored)) != OPRA_OK)
		goto done;
	if (state == IDEM_REPLAY) {
		*replayed = 1;
		opra_buf_reset(c->reply);
		rc = opra_buf_append(c->reply, stored.data, stored.len);
		log_debug("replayed stored response for idempotency key %s",
			  c->req->idempotency_key);
		goto done;
	}
	if ((rc = m->impl->fn(c, body)) != OPRA_OK)
		goto done;
	if (keyed)
		post[npost++] = stmt_store(&ip, c, m);
	post[npost++] = stmt_plain(end);
	rc = db_pipeline(c->db, post, npost);
done:
	opra_buf_free(&stored);
	return rc;
}

/* Runs the handler; for mutating methods inside one transaction with the
 * idempotency record (BEGIN + claim in one round trip, record + COMMIT in
 * another). */
static int execute(call *c, const method_entry *m, const ProtobufCMessage *body)
{
	int rc, replayed = 0;
	if (!(m->impl->flags & METHOD_MUTATES))
		return m->impl->fn(c, body);

	db_stmt begin = stmt_plain("BEGIN");
	rc = run_mutation(c, m, body, &replayed, &begin, 1, "COMMIT");
	/* A replay changed nothing: roll back, keeping the reply. */
	if (rc != OPRA_OK || replayed)
		rollback_keep_error(c->db);
	/* Users changed (revoked, re-scoped, added): no worker of this
	 * process may keep using a cached verification of their tokens. */
	if (rc == OPRA_OK && !replayed && strncmp(m->full_name, "opra.v1.User/", 13) == 0)
		auth_cache_invalidate();
	return rc;
}

static void log_request(const char *method, const caller *who, int status, long long us,
			uint64_t request_id, const char *peer, const char *how)
{
	if (!opra_log_enabled(OPRA_LOG_INFO))
		return;
	opra_log(status == OPRA_INTERNAL ? OPRA_LOG_WARN : OPRA_LOG_INFO,
		 "rpc %s caller=%s status=%s ms=%.3f id=%016llx peer=%s%s", method,
		 who ? who->name : "-", opra_status_name(status), (double)us / 1000.0,
		 (unsigned long long)request_id, peer ? peer : "-", how);
}

/* Steps 1-3, without the database: envelope, method, deadline, body,
 * validation, idempotency key present. */
static int check_request(dispatcher *d, rstate *rs)
{
	dispatch_item *it = rs->it;
	int rc;

	/* 1. envelope */
	if ((rc = envelope_request_decode(&rs->req, it->data, it->len)) != OPRA_OK)
		return rs_fail(rs, rc);
	if (rs->req->protocol_version > OPRA_PROTOCOL_VERSION)
		return rs_fail(
			rs, opra_err_set(OPRA_FAILED_PRECONDITION,
					 "the client speaks protocol %u but this server (oprad %s) "
					 "speaks %d: upgrade oprad",
					 rs->req->protocol_version, OPRA_VERSION,
					 OPRA_PROTOCOL_VERSION));
	/* 2. method */
	if ((rs->m = find_method(d, rs->req->method)) == NULL)
		return rs_fail(rs, opra_err_set(OPRA_UNIMPLEMENTED,
						"unknown method '%s': this server (oprad %s) does "
						"not implement it",
						rs->req->method, OPRA_VERSION));
	/* A long poll's deadline covers its whole wait, which the client
	 * allows for; only time spent queued for a worker counts here. */
	if (rs->req->deadline_ms > 0 && it->queued_us / 1000 > (long long)rs->req->deadline_ms)
		return rs_fail(rs, opra_err_set(OPRA_DEADLINE_EXCEEDED,
						"the server was too busy to start the request "
						"within its %u ms deadline",
						rs->req->deadline_ms));
	/* 3. body: refuse a NUL inside a string before decoding would cut it */
	if ((rc = pbcheck_strings(rs->m->desc->input, rs->req->body.data, rs->req->body.len)) !=
	    OPRA_OK)
		return rs_fail(rs, rc);
	rs->body = protobuf_c_message_unpack(rs->m->desc->input, NULL, rs->req->body.len,
					     rs->req->body.data);
	if (rs->body == NULL)
		return rs_fail(rs, opra_err_set(OPRA_INVALID_ARGUMENT,
						"the body of %s is not a valid %s message (%zu "
						"bytes)",
						rs->m->full_name, rs->m->desc->input->name,
						rs->req->body.len));
	if (rs->m->impl->validate && (rc = rs->m->impl->validate(rs->body)) != OPRA_OK)
		return rs_fail(rs, rc);
	if ((rs->m->impl->flags & METHOD_MUTATES) && !(rs->m->impl->flags & METHOD_NO_KEY) &&
	    rs->req->idempotency_key[0] == '\0')
		return rs_fail(rs, opra_err_set(OPRA_INVALID_ARGUMENT,
						"%s changes data and needs an idempotency key in "
						"the request envelope (one per logical operation)",
						rs->m->full_name));
	return OPRA_OK;
}

/* Steps 4-5: authentication and authorisation. */
static int authenticate(rstate *rs, db *dbh)
{
	const method_entry *m = rs->m;
	const Opra__V1__Request *req = rs->req;
	int rc;

	rs->have_caller = 0;
	if (m->impl->flags & METHOD_PUBLIC)
		return OPRA_OK;
	if (req->token[0] == '\0')
		return opra_err_set(OPRA_UNAUTHENTICATED,
				    "%s needs a token: pass --token, set OPRA_TOKEN, or put "
				    "token = ... in the config file",
				    m->full_name);
	if ((rc = auth_token(&rs->who, dbh, req->token)) != OPRA_OK)
		return rc;
	rs->have_caller = 1;
	if (!(rs->who.role & m->impl->roles))
		return opra_err_set(OPRA_PERMISSION_DENIED,
				    "%s is not allowed for role '%s' (user '%s')", m->full_name,
				    role_name(rs->who.role), rs->who.name);
	return OPRA_OK;
}

/* Steps 4-6 for one request on its own. When PostgreSQL restarted under us
 * the first attempt fails with UNAVAILABLE on the dead connection; nothing
 * was committed, so reconnecting and running it once more is safe (a
 * mutation that did commit is found by its idempotency key). */
static int run_single(dispatcher *d, rstate *rs, db *dbh)
{
	int rc;
	for (int attempt = 0;; attempt++) {
		opra_buf_reset(&rs->reply);
		rc = authenticate(rs, dbh);
		if (rc == OPRA_OK) {
			call c = call_for(d, rs, dbh);
			rc = execute(&c, rs->m, rs->body);
			if (rc == OPRA_OK && c.parked) {
				rs->it->parked = 1;
				rs->it->park_key = c.park_key;
				rs->it->park_ms = c.park_ms;
			}
		}
		if (rc == OPRA_UNAVAILABLE && attempt == 0 && dbh && db_lost(dbh) &&
		    db_ensure(dbh) == OPRA_OK)
			continue;
		break;
	}
	return rs_fail(rs, rc);
}

/* Group commit, first try: the requests in b (authenticated METHOD_BATCH
 * mutations) run in ONE transaction without savepoints. Each request's
 * idempotency record goes in one round trip with the next request's claim,
 * the last one's with the COMMIT. Savepoints are subtransactions: rows that
 * every request locks and updates (the appraisal's chain head) then carry
 * a MultiXact per request, which readers of the row pay for; one
 * transaction id for the whole batch avoids that and saves two statements
 * per request.
 *
 * Returns OPRA_OK when the transaction reached its commit (a failed COMMIT
 * is recorded in every request, as in run_batch). Any failure before the
 * commit (a request refused, a database error) rolls everything back and
 * returns that error: nothing was committed and the caller runs the batch
 * again with savepoints (run_batch), which isolates the failing request. */
static int run_batch_fast(dispatcher *d, rstate **b, size_t n, db *dbh)
{
	idem_params *ips = opra_calloc(n, sizeof(*ips));
	db_stmt pre[2];
	size_t npre = 0;
	int rc;

	if (ips == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	pre[npre++] = stmt_plain("BEGIN");
	for (size_t i = 0; i < n; i++) {
		rstate *rs = b[i];
		int state = IDEM_NEW;
		opra_buf_reset(&rs->reply);
		rs->rc = OPRA_OK;
		call c = call_for(d, rs, dbh);
		opra_err_clear();
		idem_params_init(&ips[i], &c, rs->m);
		/* A replay's stored reply lands in the request's reply. */
		rc = idem_claim(&c, rs->m, &ips[i], pre, npre, &state, &rs->reply);
		npre = 0;
		if (rc != OPRA_OK)
			goto retry;
		if (state == IDEM_REPLAY)
			continue;
		if ((rc = rs->m->impl->fn(&c, rs->body)) != OPRA_OK)
			goto retry;
		if (!(rs->m->impl->flags & METHOD_NO_KEY))
			pre[npre++] = stmt_store(&ips[i], &c, rs->m);
	}
	pre[npre++] = stmt_plain("COMMIT");
	if ((rc = db_pipeline(dbh, pre, npre)) != OPRA_OK) {
		if (!pre[npre - 1].failed)
			goto retry; /* a record failed: the COMMIT never ran */
		/* The outcome of a failed COMMIT is not known for sure (the
		 * connection may have dropped after the server committed): every
		 * request gets the error and is retried by its idempotency key. */
		for (size_t i = 0; i < n; i++)
			rs_fail(b[i], rc);
		rollback_keep_error(dbh);
	}
	if (n > 1) {
		atomic_fetch_add(&d->batch_txns, 1);
		atomic_fetch_add(&d->batch_requests, n);
	}
	opra_free(ips);
	return OPRA_OK;
retry:
	rollback_keep_error(dbh);
	for (size_t i = 0; i < n; i++) {
		b[i]->rc = OPRA_OK;
		opra_buf_reset(&b[i]->reply);
	}
	opra_free(ips);
	return rc;
}

/* Group commit, set-based: every request in b is for the same method,
 * which has a batch handler (method.h method_batch_fn). Two round trips:
 * BEGIN goes with the batch handler's statement (db_defer), which executes
 * them together (the requests it leaves run through the method's fn, in the
 * same transaction); then one INSERT stores every idempotency record, reply
 * included, and the COMMIT follows in the same pipeline.
 *
 * The keys are checked by that INSERT, at the end: it has no ON CONFLICT,
 * so a key that is not new (a replay, a reused key, two requests of the
 * batch with the same key, or a retry whose first attempt is still running
 * elsewhere: the INSERT waits for that one's outcome) fails it with a
 * unique violation, PostgreSQL skips the COMMIT, and the whole transaction
 * is rolled back: *declined is set, OPRA_OK returned, and the caller takes
 * the one-request-at-a-time paths, which answer replays. The work done for
 * a declined batch is thrown away, which costs only on retries. Otherwise as
 * run_batch_fast: OPRA_OK when the transaction reached its commit, or the
 * error that rolled everything back. */
static int run_batch_set(dispatcher *d, rstate **b, size_t n, db *dbh, int *declined)
{
	method_entry *m = b[0]->m;
	opra_buf uids = OPRA_BUF_INIT, keys = OPRA_BUF_INIT, fps = OPRA_BUF_INIT,
		 replies = OPRA_BUF_INIT;
	call *cs = opra_calloc(n, sizeof(*cs));
	call **cp = opra_calloc(n, sizeof(*cp));
	const ProtobufCMessage **ins = opra_calloc(n, sizeof(*ins));
	unsigned char *done = opra_calloc(n, 1);
	char *hex = NULL;
	size_t hex_cap = 0;
	int rc = OPRA_OK;

	*declined = 0;
	if (cs == NULL || cp == NULL || ins == NULL || done == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char fp[65];
		opra_buf_reset(&b[i]->reply);
		b[i]->rc = OPRA_OK;
		cs[i] = call_for(d, b[i], dbh);
		cp[i] = &cs[i];
		ins[i] = b[i]->body;
		request_fingerprint(fp, b[i]->req);
		if (db_array_add_long(&uids, b[i]->who.id) != OPRA_OK ||
		    db_array_add(&keys, b[i]->req->idempotency_key) != OPRA_OK ||
		    db_array_add(&fps, fp) != OPRA_OK) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			goto out;
		}
	}
	if (db_array_end(&uids) != OPRA_OK || db_array_end(&keys) != OPRA_OK ||
	    db_array_end(&fps) != OPRA_OK) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	opra_err_clear();
	if ((rc = db_defer(dbh, "BEGIN")) != OPRA_OK)
		goto fail;
	if ((rc = m->batch_fn(cp, ins, n, done)) != OPRA_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (!done[i] && (rc = m->impl->fn(&cs[i], ins[i])) != OPRA_OK)
			goto fail;
		size_t len = b[i]->reply.len;
		if (2 * len + 1 > hex_cap) {
			opra_free(hex);
			hex_cap = 2 * len + 1;
			if ((hex = opra_malloc(hex_cap)) == NULL) {
				rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
				goto fail;
			}
		}
		opra_hex(hex, b[i]->reply.data, len);
		if (db_array_add(&replies, hex) != OPRA_OK) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			goto fail;
		}
	}
	if (db_array_end(&replies) != OPRA_OK) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto fail;
	}
	const char *store_p[5] = {(const char *)uids.data, (const char *)keys.data, m->full_name,
				  (const char *)fps.data, (const char *)replies.data};
	db_stmt post[2] = {
		{.sql = "INSERT INTO idempotency (user_id, key, method, request_sha256, status, "
			"response) SELECT t.u, t.k, $3, decode(t.f, 'hex'), 0, decode(t.r, "
			"'hex') FROM unnest($1::bigint[], $2::text[], $4::text[], $5::text[]) "
			"AS t(u, k, f, r)",
		 .nparams = 5,
		 .params = store_p},
		stmt_plain("COMMIT")};
	if ((rc = db_pipeline(dbh, post, 2)) != OPRA_OK) {
		if (post[0].failed && strcmp(db_last_sqlstate(dbh), "23505") == 0) {
			/* A key that is not new: nothing is kept. */
			db_rollback(dbh);
			opra_err_clear();
			for (size_t i = 0; i < n; i++)
				opra_buf_reset(&b[i]->reply);
			*declined = 1;
			rc = OPRA_OK;
			goto out;
		}
		if (!post[1].failed)
			goto fail; /* the records failed: the COMMIT never ran */
		/* The outcome of a failed COMMIT is not known for sure: every
		 * request gets the error and is retried by its idempotency key. */
		for (size_t i = 0; i < n; i++)
			rs_fail(b[i], rc);
		rollback_keep_error(dbh);
	}
	rc = OPRA_OK;
	if (n > 1) {
		atomic_fetch_add(&d->batch_sets, 1);
		atomic_fetch_add(&d->batch_txns, 1);
		atomic_fetch_add(&d->batch_requests, n);
	}
	goto out;
fail:
	rollback_keep_error(dbh);
	for (size_t i = 0; i < n; i++) {
		b[i]->rc = OPRA_OK;
		opra_buf_reset(&b[i]->reply);
	}
out:
	opra_free(hex);
	opra_buf_free(&uids);
	opra_buf_free(&keys);
	opra_buf_free(&fps);
	opra_buf_free(&replies);
	opra_free(cs);
	opra_free(cp);
	opra_free(ins);
	opra_free(done);
	return rc;
}

/* Group commit with a savepoint per request: each runs inside its own
 * savepoint with its idempotency claim and record (SAVEPOINT + claim in one
 * round trip, record + RELEASE in another). A request that fails is rolled
 * back to its savepoint and keeps its own error; the others go on. Returns
 * OPRA_OK when the transaction reached its commit (whose failure, if any, is
 * recorded in every request that had succeeded), or an error when the batch
 * itself broke before the commit (connection lost): nothing was committed
 * and the caller runs the requests one by one. */
static int run_batch(dispatcher *d, rstate **b, size_t n, db *dbh)
{
	int rc;
	db_stmt pre[2];
	for (size_t i = 0; i < n; i++) {
		rstate *rs = b[i];
		int replayed = 0;
		size_t npre = 0;
		opra_buf_reset(&rs->reply);
		if (i == 0)
			pre[npre++] = stmt_plain("BEGIN");
		pre[npre++] = stmt_plain("SAVEPOINT opra_batch");
		call c = call_for(d, rs, dbh);
		opra_err_clear();
		rc = run_mutation(&c, rs->m, rs->body, &replayed, pre, npre,
				  "RELEASE SAVEPOINT opra_batch");
		if (rc == OPRA_OK) {
			rs->rc = OPRA_OK;
			if (replayed &&
			    db_cmd(dbh, "RELEASE SAVEPOINT opra_batch", 0, NULL) != OPRA_OK)
				goto broken;
			continue;
		}
		rs_fail(rs, rc);
		/* Deadlocks and serialisation failures are about timing, not
		 * about the request: run it again alone once the batch is
		 * done, rather than failing it to the client. */
		rs->rerun = rc == OPRA_ABORTED;
		db_stmt undo[2] = {stmt_plain("ROLLBACK TO SAVEPOINT opra_batch"),
				   stmt_plain("RELEASE SAVEPOINT opra_batch")};
		if (db_lost(dbh) || !db_in_transaction(dbh) || db_pipeline(dbh, undo, 2) != OPRA_OK)
			goto broken;
	}
	if ((rc = db_commit(dbh)) != OPRA_OK) {
		/* The outcome of a failed COMMIT is not known for sure (the
		 * connection may have dropped after the server committed): every
		 * request gets the error and is retried by its idempotency key. */
		for (size_t i = 0; i < n; i++)
			if (b[i]->rc == OPRA_OK)
				rs_fail(b[i], rc);
		rollback_keep_error(dbh);
	}
	if (n > 1) {
		atomic_fetch_add(&d->batch_txns, 1);
		atomic_fetch_add(&d->batch_requests, n);
	}
	return OPRA_OK;
broken:
	rc = opra_err_code() ? opra_err_code() : OPRA_UNAVAILABLE;
	rollback_keep_error(dbh);
	return rc;
}

/* Runs the batch b (2+ authenticated METHOD_BATCH mutations, or one for a
 * method with a batch handler) in one transaction when it can: set-based
 * (run_batch_set) when all are for one method with a batch handler, else
 * run_batch_fast; when that fails before its commit, again with a savepoint
 * per request (run_batch), which gives a refused request its own error;
 * when even that breaks, one by one. Every request ends with its outcome
 * (rc, reply), batch_n, and rerun set when it must run again alone. */
static void run_group(dispatcher *d, rstate **b, size_t nb, db *dbh)
{
	int rc = OPRA_OK, declined = 1;
	int set = b[0]->m->batch_fn != NULL;
	for (size_t i = 0; i < nb; i++) {
		b[i]->batch_n = nb;
		b[i]->rerun = 0;
		if (b[i]->m != b[0]->m)
			set = 0;
	}
	if (set) {
		rc = run_batch_set(d, b, nb, dbh, &declined);
		if (rc != OPRA_OK)
			declined = 0; /* a request failed: isolate it */
		if (nb == 1 && (declined || rc != OPRA_OK)) {
			/* A replay, or refused: the one-request path says so. */
			b[0]->batch_n = 0;
			if (dbh && db_lost(dbh))
				db_ensure(dbh);
			run_single(d, b[0], dbh);
			return;
		}
	}
	if (declined)
		rc = run_batch_fast(d, b, nb, dbh);
	if (rc != OPRA_OK) {
		/* Nothing was committed: isolate the failure with savepoints. */
		atomic_fetch_add(&d->batch_savepoint_runs, 1);
		log_debug("a group-commit batch of %zu requests failed before its commit "
			  "(%s); running it again with a savepoint per request",
			  nb, opra_err_msg());
		if (dbh && db_lost(dbh))
			db_ensure(dbh);
		rc = run_batch(d, b, nb, dbh);
	}
	if (rc != OPRA_OK) {
		/* Nothing was committed: run them one by one. */
		atomic_fetch_add(&d->batch_fallbacks, 1);
		log_warn("a group-commit batch of %zu requests broke before its commit "
			 "(%s); running them one by one",
			 nb, opra_err_msg());
		if (dbh && db_lost(dbh))
			db_ensure(dbh);
		for (size_t i = 0; i < nb; i++) {
			b[i]->rerun = 0;
			b[i]->batch_n = 0;
			run_single(d, b[i], dbh);
		}
	}
}

/* Batches of one method waiting to be combined (run_combined). */
typedef struct cgroup {
	rstate **b;
	size_t n;
	int done;
	struct cgroup *next;
} cgroup;

/* Combining for methods with a batch handler: requests of one method that
 * all lock the same rows (an appraisal's chain head) gain nothing from
 * running on several workers at once; they would only queue on the row
 * lock in small transactions. So a worker with such a batch hands it in;
 * if no worker is running one, it becomes the combiner and runs everything
 * handed in so far (its own and other workers' batches) as ONE transaction
 * on its connection, while the others wait; then one of those that arrived
 * meanwhile does the same. Each worker still finishes (answers) its own
 * requests. */
static void run_combined(dispatcher *d, rstate **b, size_t n, db *dbh)
{
	method_entry *m = b[0]->m;
	cgroup g = {.b = b, .n = n};

	pthread_mutex_lock(&d->mu);
	g.next = m->pending;
	m->pending = &g;
	while (!g.done) {
		if (m->combining) {
			pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		m->combining = 1;
		cgroup *take = m->pending;
		m->pending = NULL;
		pthread_mutex_unlock(&d->mu);

		size_t total = 0;
		for (cgroup *x = take; x; x = x->next)
			total += x->n;
		rstate **all = total > 1 ? opra_calloc(total, sizeof(*all)) : NULL;
		if (total == 1) {
			/* Alone: the one-request path is quicker for one. */
			take->b[0]->batch_n = 0;
			take->b[0]->rerun = 0;
			run_single(d, take->b[0], dbh);
		} else if (all == NULL) {
			for (cgroup *x = take; x; x = x->next)
				run_group(d, x->b, x->n, dbh);
		} else {
			/* Oldest first: the list is newest first. */
			size_t k = total;
			for (cgroup *x = take; x; x = x->next) {
				k -= x->n;
				memcpy(all + k, x->b, x->n * sizeof(*all));
			}
			run_group(d, all, total, dbh);
			opra_free(all);
		}

		pthread_mutex_lock(&d->mu);
		for (cgroup *x = take, *next; x; x = next) {
			next = x->next; /* x may be gone once done is seen */
			x->done = 1;
		}
		m->combining = 0;
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
}

/* Step 7: the response bytes, stats and the log line. */
static void finish(rstate *rs, const char *how)
{
	dispatch_item *it = rs->it;
	long long us = opra_now_us() - rs->t0;
	uint64_t rid = rs->req ? rs->req->request_id : 0;
	int rc = rs->rc;

	it->status = rc;
	if (it->parked) {
		log_debug("rpc %s caller=%s parked (waited %lld ms) id=%016llx peer=%s",
			  rs->m->full_name, rs->have_caller ? rs->who.name : "-", it->waited_ms,
			  (unsigned long long)rid, it->peer ? it->peer : "-");
		goto done;
	}
	if (rc == OPRA_OK) {
		rc = envelope_response_pack(it->out, rid, OPRA_OK, NULL, NULL, rs->reply.data,
					    rs->reply.len);
		if (rc != OPRA_OK)
			rs_fail(rs, rc);
	}
	if (rc != OPRA_OK) {
		opra_buf_reset(it->out);
		envelope_response_pack(it->out, rid, rc, rs->msg,
				       rs->details[0] ? rs->details : NULL, NULL, 0);
	}
	it->status = rc;
	if (rs->m) {
		atomic_fetch_add(&rs->m->calls, 1);
		atomic_fetch_add(&rs->m->total_us, (unsigned long long)us);
		if (rc != OPRA_OK)
			atomic_fetch_add(&rs->m->errors, 1);
	}
	log_request(rs->m ? rs->m->full_name : (rs->req ? rs->req->method : "(undecodable)"),
		    rs->have_caller ? &rs->who : NULL, rc, us, rid, it->peer, how);
done:
	if (rs->body)
		protobuf_c_message_free_unpacked(rs->body, NULL);
	envelope_request_free(rs->req);
	opra_buf_free(&rs->reply);
	rs->body = NULL;
	rs->req = NULL;
}

void dispatch_run(dispatcher *d, db *dbh, dispatch_item *items, size_t n)
{
	rstate *st = NULL;
	rstate **b = NULL;
	size_t nb = 0;

	if (n == 0)
		return;
	st = opra_calloc(n, sizeof(*st));
	b = opra_calloc(n, sizeof(*b));
	if (st == NULL || b == NULL) {
		for (size_t i = 0; i < n; i++) {
			items[i].parked = 0;
			items[i].status = OPRA_RESOURCE_EXHAUSTED;
			opra_buf_reset(items[i].out);
			dispatch_error_response(items[i].out, 0, OPRA_RESOURCE_EXHAUSTED,
						"the server is out of memory; retry shortly");
		}
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		rstate *rs = &st[i];
		rs->it = &items[i];
		rs->it->parked = 0;
		rs->t0 = opra_now_us();
		opra_err_clear();
		if (check_request(d, rs) != OPRA_OK) {
			finish(rs, "");
			continue;
		}
		unsigned f = rs->m->impl->flags;
		/* A lone request of a method with a batch handler still goes to
		 * the combiner: other workers' batches may join it. */
		if (!(f & METHOD_BATCH) || !(f & METHOD_MUTATES) || (n == 1 && !rs->m->batch_fn)) {
			run_single(d, rs, dbh);
			finish(rs, "");
			continue;
		}
		int rc = authenticate(rs, dbh);
		if (rc == OPRA_UNAVAILABLE && dbh && db_lost(dbh) && db_ensure(dbh) == OPRA_OK)
			rc = authenticate(rs, dbh);
		if (rc != OPRA_OK) {
			rs_fail(rs, rc);
			finish(rs, "");
			continue;
		}
		b[nb++] = rs;
	}
	if (nb > 0) {
		int set = b[0]->m->batch_fn != NULL;
		for (size_t i = 1; i < nb; i++)
			if (b[i]->m != b[0]->m)
				set = 0;
		if (set) {
			run_combined(d, b, nb, dbh);
		} else if (nb == 1) {
			run_single(d, b[0], dbh);
		} else {
			run_group(d, b, nb, dbh);
		}
		for (size_t i = 0; i < nb; i++) {
			char how[48] = "";
			if (b[i]->rerun) {
				atomic_fetch_add(&d->batch_reruns, 1);
				run_single(d, b[i], dbh);
				finish(b[i], " batch-rerun");
				continue;
			}
			if (b[i]->batch_n > 1)
				snprintf(how, sizeof(how), " batch=%zu", b[i]->batch_n);
			finish(b[i], how);
		}
	}
done:
	opra_free(st);
	opra_free(b);
}

int dispatch_handle(dispatcher *d, db *dbh, const uint8_t *data, size_t len, const char *peer,
		    long long queued_us, opra_buf *out)
{
	dispatch_item it = {
		.data = data, .len = len, .peer = peer, .queued_us = queued_us, .out = out};
	dispatch_run(d, dbh, &it, 1);
	return it.status;
}

unsigned dispatch_peek_flags(const dispatcher *d, const uint8_t *data, size_t len)
{
	const uint8_t *bytes = NULL;
	uint64_t n = 0;
	/* Request field 1: the method name, read without decoding the rest. */
	if (!pb_peek_field(data, len, 1, &n, &bytes) || bytes == NULL || n == 0 ||
	    n > ENVELOPE_METHOD_MAX)
		return 0;
	const char *name = (const char *)bytes;
	for (size_t i = 0; i < d->n; i++) {
		const method_entry *e = &d->methods[i];
		if (strncmp(e->full_name, name, n) == 0 && e->full_name[n] == '\0')
			return e->impl->flags;
	}
	return 0;
}

void dispatch_batch_stats(const dispatcher *d, dispatch_batch_counters *out)
{
	out->transactions = atomic_load(&d->batch_txns);
	out->requests = atomic_load(&d->batch_requests);
	out->reruns = atomic_load(&d->batch_reruns);
	out->fallbacks = atomic_load(&d->batch_fallbacks);
	out->savepoint_runs = atomic_load(&d->batch_savepoint_runs);
	out->set_batches = atomic_load(&d->batch_sets);
}
