#include "dispatch.h"

#include "auth.h"
#include "envelope.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_version.h"
#include "token.h"

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

/* Every service the server offers. Adding a service: write svc_x.c with a
 * service_impl and list it here. */
static const service_impl *const services[] = {
	&svc_system, &svc_user,	     &svc_model,    &svc_inventory,
	&svc_bulk,   &svc_appraisal, &svc_evidence, &svc_events,
};

typedef struct {
	char full_name[ENVELOPE_METHOD_MAX + 1];
	const ProtobufCMethodDescriptor *desc;
	const method_impl *impl;
	atomic_ullong calls;
	atomic_ullong errors;
	atomic_ullong total_us;
} method_entry;

struct dispatcher {
	method_entry *methods;
	size_t n;
	const server_info *info;
};

int dispatch_create(dispatcher **out, const server_info *info)
{
	dispatcher *d = NULL;
	size_t total = 0;
	int rc = OPRA_OK;

	*out = NULL;
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		total += services[s]->desc->n_methods;
	d = opra_calloc(1, sizeof(*d));
	if (d == NULL || (d->methods = opra_calloc(total, sizeof(method_entry))) == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	d->info = info;
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
		const service_impl *svc = services[s];
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
	opra_buf b = OPRA_BUF_INIT;
	uint8_t h[32];
	if (opra_buf_puts(&b, req->method) != OPRA_OK || opra_buf_append(&b, "", 1) != OPRA_OK ||
	    opra_buf_append(&b, req->body.data, req->body.len) != OPRA_OK) {
		memset(h, 0, sizeof(h));
	} else {
		opra_sha256(h, b.data, b.len);
	}
	opra_hex(hex, h, sizeof(h));
	opra_buf_free(&b);
}

enum { IDEM_NEW, IDEM_REPLAY };

/* Claims the key inside the open transaction. A concurrent request with the
 * same key blocks on the primary key until the first commits or rolls back,
 * so exactly one of them executes. */
static int idem_claim(call *c, const method_entry *m, int *state, opra_buf *stored)
{
	PGresult *r = NULL;
	char uid[32], fp[65];
	int rc;

	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	request_fingerprint(fp, c->req);
	const char *p[4] = {uid, c->req->idempotency_key, m->full_name, fp};
	rc = db_exec(&r, c->db, 1,
		     "INSERT INTO idempotency (user_id, key, method, request_sha256) "
		     "VALUES ($1::bigint, $2, $3, decode($4, 'hex')) ON CONFLICT DO NOTHING "
		     "RETURNING 1",
		     4, p);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) == 1) {
		*state = IDEM_NEW;
		goto done;
	}
	PQclear(r);
	r = NULL;
	rc = db_exec(&r, c->db, 1,
		     "SELECT method, encode(request_sha256, 'hex'), status, encode(response, "
		     "'hex') FROM idempotency WHERE user_id = $1::bigint AND key = $2",
		     2, p);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) != 1) {
		rc = opra_err_set(OPRA_ABORTED, "a concurrent request with the same idempotency "
						"key changed state; retry");
		goto done;
	}
	if (strcmp(PQgetvalue(r, 0, 0), m->full_name) != 0 ||
	    strcmp(PQgetvalue(r, 0, 1), fp) != 0) {
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
	uint8_t *dst = opra_buf_reserve(stored, hex_len / 2);
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

static int idem_store(call *c, const method_entry *m)
{
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	int secret = (m->impl->flags & METHOD_SECRET_REPLY) != 0;
	const char *p[3] = {uid, c->req->idempotency_key,
			    secret ? "" : (const char *)c->reply->data};
	int lens[3] = {0, 0, secret ? 0 : (int)c->reply->len};
	int fmts[3] = {0, 0, 1};
	PGresult *r = NULL;
	int rc = db_exec_bin(&r, c->db, 0,
			     "UPDATE idempotency SET status = 0, response = $3 "
			     "WHERE user_id = $1::bigint AND key = $2",
			     3, p, lens, fmts);
	PQclear(r);
	return rc;
}

/* Runs the handler; for mutating methods inside one transaction with the
 * idempotency record. */
static int execute(call *c, const method_entry *m, const ProtobufCMessage *body)
{
	int rc;
	if (!(m->impl->flags & METHOD_MUTATES))
		return m->impl->fn(c, body);

	int state = IDEM_NEW;
	opra_buf stored = OPRA_BUF_INIT;
	if ((rc = db_begin(c->db)) != OPRA_OK)
		goto done;
	if (!(m->impl->flags & METHOD_NO_KEY) &&
	    (rc = idem_claim(c, m, &state, &stored)) != OPRA_OK)
		goto done;
	if (state == IDEM_REPLAY) {
		opra_buf_reset(c->reply);
		rc = opra_buf_append(c->reply, stored.data, stored.len);
		log_debug("replayed stored response for idempotency key %s",
			  c->req->idempotency_key);
		goto done;
	}
	if ((rc = m->impl->fn(c, body)) != OPRA_OK)
		goto done;
	if (!(m->impl->flags & METHOD_NO_KEY) && (rc = idem_store(c, m)) != OPRA_OK)
		goto done;
	rc = db_commit(c->db);
done:
	if (rc != OPRA_OK || state == IDEM_REPLAY) {
		/* Keep the handler's message: rollback must not overwrite it. */
		int code = opra_err_code();
		char msg[OPRA_ERR_MSG_MAX], details[OPRA_ERR_DETAILS_MAX];
		snprintf(msg, sizeof(msg), "%s", opra_err_msg());
		snprintf(details, sizeof(details), "%s", opra_err_details());
		db_rollback(c->db);
		opra_err_set(code, "%s", msg);
		opra_err_set_details(details[0] ? details : NULL);
	}
	opra_buf_free(&stored);
	return rc;
}

static void log_request(const char *method, const caller *who, int status, long long us,
			uint64_t request_id, const char *peer)
{
	if (!opra_log_enabled(OPRA_LOG_INFO))
		return;
	opra_log(status == OPRA_INTERNAL ? OPRA_LOG_WARN : OPRA_LOG_INFO,
		 "rpc %s caller=%s status=%s ms=%.3f id=%016llx peer=%s", method,
		 who ? who->name : "-", opra_status_name(status), (double)us / 1000.0,
		 (unsigned long long)request_id, peer ? peer : "-");
}

static int authorize_and_execute(dispatcher *d, method_entry *m, db *dbh,
				 const Opra__V1__Request *req, const ProtobufCMessage *body,
				 const char *peer, caller *who, int *have_caller, opra_buf *reply)
{
	int rc;
	*have_caller = 0;
	/* 4. authentication */
	if (!(m->impl->flags & METHOD_PUBLIC)) {
		if (req->token[0] == '\0')
			return opra_err_set(
				OPRA_UNAUTHENTICATED,
				"%s needs a token: pass --token, set OPRA_TOKEN, or put "
				"token = ... in the config file",
				m->full_name);
		if ((rc = auth_token(who, dbh, req->token)) != OPRA_OK)
			return rc;
		*have_caller = 1;
		/* 5. authorisation */
		if (!(who->role & m->impl->roles))
			return opra_err_set(OPRA_PERMISSION_DENIED,
					    "%s is not allowed for role '%s' (user '%s')",
					    m->full_name, role_name(who->role), who->name);
	}
	/* 6. execution */
	call c = {.db = dbh,
		  .who = *have_caller ? who : NULL,
		  .req = req,
		  .peer = peer,
		  .server = d->info,
		  .reply = reply,
		  .arg = m->impl->arg};
	return execute(&c, m, body);
}

int dispatch_handle(dispatcher *d, db *dbh, const uint8_t *data, size_t len, const char *peer,
		    long long queued_us, opra_buf *out)
{
	Opra__V1__Request *req = NULL;
	ProtobufCMessage *body = NULL;
	method_entry *m = NULL;
	caller who;
	int have_caller = 0;
	opra_buf reply = OPRA_BUF_INIT;
	long long t0 = opra_now_us();
	int rc;

	opra_err_clear();
	/* 1. envelope */
	if ((rc = envelope_request_decode(&req, data, len)) != OPRA_OK)
		goto done;
	if (req->protocol_version > OPRA_PROTOCOL_VERSION) {
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "the client speaks protocol %u but this server (oprad %s) speaks "
				  "%d: upgrade oprad",
				  req->protocol_version, OPRA_VERSION, OPRA_PROTOCOL_VERSION);
		goto done;
	}
	/* 2. method */
	if ((m = find_method(d, req->method)) == NULL) {
		rc = opra_err_set(OPRA_UNIMPLEMENTED,
				  "unknown method '%s': this server (oprad %s) does not implement "
				  "it",
				  req->method, OPRA_VERSION);
		goto done;
	}
	if (req->deadline_ms > 0 && queued_us / 1000 > (long long)req->deadline_ms) {
		rc = opra_err_set(OPRA_DEADLINE_EXCEEDED,
				  "the server was too busy to start the request within its %u ms "
				  "deadline",
				  req->deadline_ms);
		goto done;
	}
	/* 3. body */
	body = protobuf_c_message_unpack(m->desc->input, NULL, req->body.len, req->body.data);
	if (body == NULL) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "the body of %s is not a valid %s message (%zu bytes)",
				  m->full_name, m->desc->input->name, req->body.len);
		goto done;
	}
	if (m->impl->validate && (rc = m->impl->validate(body)) != OPRA_OK)
		goto done;
	if ((m->impl->flags & METHOD_MUTATES) && !(m->impl->flags & METHOD_NO_KEY) &&
	    req->idempotency_key[0] == '\0') {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "%s changes data and needs an idempotency key in the request "
				  "envelope (one per logical operation)",
				  m->full_name);
		goto done;
	}
	/* 4.-6. authentication, authorisation, execution. When PostgreSQL
	 * restarted under us the first attempt fails with UNAVAILABLE on the dead
	 * connection; nothing was committed, so reconnecting and running it once
	 * more is safe (a mutation that did commit is found by its idempotency
	 * key). */
	for (int attempt = 0;; attempt++) {
		opra_buf_reset(&reply);
		rc = authorize_and_execute(d, m, dbh, req, body, peer, &who, &have_caller, &reply);
		if (rc == OPRA_UNAVAILABLE && attempt == 0 && dbh && db_lost(dbh) &&
		    db_ensure(dbh) == OPRA_OK)
			continue;
		break;
	}
done:;
	long long us = opra_now_us() - t0;
	uint64_t rid = req ? req->request_id : 0;
	if (rc == OPRA_OK)
		rc = envelope_response_pack(out, rid, OPRA_OK, NULL, NULL, reply.data, reply.len);
	if (rc != OPRA_OK) {
		if (opra_err_code() != rc || opra_err_msg()[0] == '\0')
			opra_err_set(rc, "%s", opra_status_name(rc));
		opra_buf_reset(out);
		envelope_response_pack(out, rid, rc, opra_err_msg(), opra_err_details(), NULL, 0);
	}
	if (m) {
		atomic_fetch_add(&m->calls, 1);
		atomic_fetch_add(&m->total_us, (unsigned long long)us);
		if (rc != OPRA_OK)
			atomic_fetch_add(&m->errors, 1);
	}
	log_request(m ? m->full_name : (req ? req->method : "(undecodable)"),
		    have_caller ? &who : NULL, rc, us, rid, peer);
	if (body)
		protobuf_c_message_free_unpacked(body, NULL);
	envelope_request_free(req);
	opra_buf_free(&reply);
	return rc;
}
