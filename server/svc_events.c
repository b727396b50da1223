/* opra.v1.Events: the audit trail of an appraisal (Audit: list and verify
 * its hash chain) and the live feed (Watch: a cursor long poll).
 *
 * Audit --verify recomputes the chain here, in C, from the stored columns,
 * exactly as sql/005_appraisals.sql event_canonical() builds the hashed
 * bytes; it does not trust the database's own sha256().
 *
 * Watch never waits on a worker: when there is nothing after the cursor it
 * calls call_park and returns; rpcserver keeps the request without a worker
 * or a database connection and runs it again when events of the appraisal
 * commit (LISTEN opra_events) or its wait is over. */
#include "appraisal.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "sha256.h"

#include "opra/v1/events.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_LIMIT_DEFAULT 1000
#define LIMIT_MAX	    1000
#define VERIFY_PAGE	    2000
#define WATCH_WAIT_DEFAULT  25000
#define WATCH_WAIT_MAX	    60000
#define WATCH_LIMIT_DEFAULT 500
/* A reply stops growing past this many bytes of event text (the next poll
 * continues from its cursor). */
#define REPLY_SOFT_MAX (4u * 1024 * 1024)
/* How soon a watcher of every appraisal looks again when events exist but
 * an older transaction still running keeps them from being handed out. */
#define WATCH_XMIN_RETRY_MS 200

/* The columns every event query selects, in this order (EV_*). */
#define EVENT_COLS                                                                                 \
	"e.id, e.seq, a.name, "                                                                    \
	"to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                  \
	"e.actor, e.client_id, e.site, e.peer, e.method, e.object, "                               \
	"coalesce(e.before::text, ''), coalesce(e.after::text, ''), encode(e.hash, 'hex'), "       \
	"(extract(epoch FROM e.at) * 1000000)::bigint, coalesce(e.actor_id::text, ''), "           \
	"e.before IS NULL, e.after IS NULL"
enum {
	EV_ID,
	EV_SEQ,
	EV_APPRAISAL,
	EV_AT,
	EV_ACTOR,
	EV_CLIENT,
	EV_SITE,
	EV_PEER,
	EV_METHOD,
	EV_OBJECT,
	EV_BEFORE,
	EV_AFTER,
	EV_HASH,
	EV_EPOCH_US,
	EV_ACTOR_ID,
	EV_BEFORE_NULL,
	EV_AFTER_NULL,
};

static void events_free(Opra__V1__Event **ev, size_t n)
{
	for (size_t i = 0; ev && i < n; i++)
		opra_free(ev[i]);
	opra_free(ev);
}

/* Builds Event messages pointing into r (valid while r lives). Returns
 * how many rows were used (fewer than all when the reply grew past
 * REPLY_SOFT_MAX), or -1 when memory ran out. */
static int events_from_rows(PGresult *r, Opra__V1__Event ***out)
{
	int n = PQntuples(r), used = 0;
	size_t bytes = 0;
	*out = NULL;
	if (n == 0)
		return 0;
	Opra__V1__Event **ev = opra_calloc((size_t)n, sizeof(*ev));
	if (ev == NULL)
		return -1;
	for (int i = 0; i < n; i++) {
		Opra__V1__Event *e = opra_malloc(sizeof(*e));
		if (e == NULL) {
			events_free(ev, (size_t)used);
			return -1;
		}
		opra__v1__event__init(e);
		e->id = strtoll(PQgetvalue(r, i, EV_ID), NULL, 10);
		e->seq = strtoll(PQgetvalue(r, i, EV_SEQ), NULL, 10);
		e->appraisal = PQgetvalue(r, i, EV_APPRAISAL);
		e->at = PQgetvalue(r, i, EV_AT);
		e->actor = PQgetvalue(r, i, EV_ACTOR);
		e->client_id = PQgetvalue(r, i, EV_CLIENT);
		e->site = PQgetvalue(r, i, EV_SITE);
		e->peer = PQgetvalue(r, i, EV_PEER);
		e->method = PQgetvalue(r, i, EV_METHOD);
		e->object = PQgetvalue(r, i, EV_OBJECT);
		e->before = PQgetvalue(r, i, EV_BEFORE);
		e->after = PQgetvalue(r, i, EV_AFTER);
		e->hash = PQgetvalue(r, i, EV_HASH);
		ev[used++] = e;
		for (int col = 0; col <= EV_HASH; col++)
			bytes += (size_t)PQgetlength(r, i, col);
		if (bytes > REPLY_SOFT_MAX)
			break;
	}
	*out = ev;
	return used;
}

/* ---- Audit ---- */

static int audit_validate(const ProtobufCMessage *in)
{
	const Opra__V1__AuditRequest *q = (const Opra__V1__AuditRequest *)in;
	if (q->appraisal[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name the appraisal to audit");
	if (q->after_seq < 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "after_seq must be 0 (from the start) or a chain position");
	if (q->limit > LIMIT_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE,
				    "at most %d events per page (asked for %u); page on with "
				    "after_seq",
				    LIMIT_MAX, q->limit);
	return OPRA_OK;
}

/* The canonical bytes of one event row, as event_canonical() in
 * sql/005_appraisals.sql: the fields as text joined by newlines. */
static int canonical_bytes(opra_buf *b, PGresult *r, int i)
{
	static const int cols[] = {EV_SEQ,  EV_EPOCH_US, EV_ACTOR_ID, EV_ACTOR,	 EV_CLIENT, EV_SITE,
				   EV_PEER, EV_METHOD,	 EV_OBJECT,   EV_BEFORE, EV_AFTER};
	opra_buf_reset(b);
	if (opra_buf_puts(b, "opra-event-v1") != OPRA_OK)
		return OPRA_RESOURCE_EXHAUSTED;
	for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
		int col = cols[k];
		const char *v = PQgetvalue(r, i, col);
		size_t len = (size_t)PQgetlength(r, i, col);
		if ((col == EV_BEFORE && PQgetvalue(r, i, EV_BEFORE_NULL)[0] == 't') ||
		    (col == EV_AFTER && PQgetvalue(r, i, EV_AFTER_NULL)[0] == 't')) {
			v = "null";
			len = 4;
		}
		if (opra_buf_append(b, "\n", 1) != OPRA_OK || opra_buf_append(b, v, len) != OPRA_OK)
			return OPRA_RESOURCE_EXHAUSTED;
	}
	return OPRA_OK;
}

typedef struct {
	long long checked; /* events read */
	int valid;
	long long first_bad_seq;
	char problem[256];
	uint8_t head[SHA256_BYTES]; /* recomputed */
} verify_result;

static void verify_fail(verify_result *v, long long seq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verify_fail(verify_result *v, long long seq, const char *fmt, ...)
{
	va_list ap;
	v->valid = 0;
	v->first_bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
}

/* Recomputes the whole chain of appraisal aid (in pages, seq order) and
 * compares every stored hash, then the recorded count and head. */
static int verify_chain(call *c, const char *aid, long long recorded_events,
			const uint8_t recorded_head[SHA256_BYTES], verify_result *v)
{
	opra_buf canon = OPRA_BUF_INIT;
	PGresult *r = NULL;
	long long expect = 1;
	int rc = OPRA_OK;

	memset(v, 0, sizeof(*v));
	v->valid = 1;
	for (;;) {
		char after[32], page[16];
		snprintf(after, sizeof(after), "%lld", expect - 1);
		snprintf(page, sizeof(page), "%d", VERIFY_PAGE);
		const char *p[3] = {aid, after, page};
		PQclear(r);
		r = NULL;
		rc = db_exec(&r, c->db, 1,
			     "SELECT " EVENT_COLS " FROM events e JOIN appraisals a ON a.id = "
			     "e.appraisal_id WHERE e.appraisal_id = $1::bigint AND e.seq > "
			     "$2::bigint ORDER BY e.seq LIMIT $3::int",
			     3, p);
		if (rc != OPRA_OK)
			goto done;
		int n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			long long seq = strtoll(PQgetvalue(r, i, EV_SEQ), NULL, 10);
			if (seq != expect) {
				verify_fail(v, expect,
					    "event %lld is missing from the chain (the next stored "
					    "event is %lld)",
					    expect, seq);
				goto done;
			}
			if ((rc = canonical_bytes(&canon, r, i)) != OPRA_OK) {
				opra_err_set(rc, "out of memory");
				goto done;
			}
			sha256_ctx h;
			uint8_t stored[SHA256_BYTES];
			sha256_init(&h);
			sha256_update(&h, v->head, sizeof(v->head));
			sha256_update(&h, canon.data, canon.len);
			sha256_final(&h, v->head);
			if (sha256_parse_hex(stored, PQgetvalue(r, i, EV_HASH)) != OPRA_OK ||
			    memcmp(stored, v->head, SHA256_BYTES) != 0) {
				verify_fail(v, seq,
					    "event %lld does not match its hash: it (or an event "
					    "before it) was changed after it was written",
					    seq);
				goto done;
			}
			v->checked++;
			expect++;
		}
		if (n < VERIFY_PAGE)
			break;
	}
	if (v->checked != recorded_events) {
		verify_fail(v, v->checked + 1,
			    "the chain ends at event %lld but the appraisal records %lld events "
			    "(events were removed from its end)",
			    v->checked, recorded_events);
		goto done;
	}
	if (memcmp(v->head, recorded_head, SHA256_BYTES) != 0) {
		verify_fail(v, v->checked,
			    "the appraisal's recorded head does not match the hash of its last "
			    "event (%lld)",
			    v->checked);
		goto done;
	}
done:
	PQclear(r);
	opra_buf_free(&canon);
	return rc;
}

static int audit(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__AuditRequest *q = (const Opra__V1__AuditRequest *)in;
	Opra__V1__AuditReply rep = OPRA__V1__AUDIT_REPLY__INIT;
	Opra__V1__Event **ev = NULL;
	PGresult *head = NULL, *page = NULL;
	appraisal_ref a;
	verify_result v;
	char aid[32];
	int rc, n = 0, in_txn = 0;

	/* One snapshot for the head and every page: a chain growing while it
	 * is read is verified as it stood. */
	if ((rc = db_cmd(c->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)) !=
	    OPRA_OK)
		goto done;
	in_txn = 1;
	if ((rc = appraisal_open(c, q->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		goto done;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	const char *p1[1] = {aid};
	if ((rc = db_exec(&head, c->db, 1,
			  "SELECT events, encode(head, 'hex'), coalesce(encode(sealed_head, "
			  "'hex'), '') FROM appraisals WHERE id = $1::bigint",
			  1, p1)) != OPRA_OK)
		goto done;
	if (PQntuples(head) != 1) {
		rc = opra_err_set(OPRA_NOT_FOUND, "appraisal '%s' disappeared", a.name);
		goto done;
	}
	rep.total = strtoll(PQgetvalue(head, 0, 0), NULL, 10);
	rep.head = PQgetvalue(head, 0, 1);
	rep.sealed = a.sealed;
	rep.sealed_head = PQgetvalue(head, 0, 2);
	if (q->verify) {
		uint8_t recorded[SHA256_BYTES];
		if (sha256_parse_hex(recorded, rep.head) != OPRA_OK)
			memset(recorded, 0, sizeof(recorded));
		if ((rc = verify_chain(c, aid, rep.total, recorded, &v)) != OPRA_OK)
			goto done;
		if (v.valid && a.sealed && strcmp(rep.sealed_head, rep.head) != 0) {
			v.valid = 0;
			v.first_bad_seq = rep.total;
			snprintf(v.problem, sizeof(v.problem),
				 "the head recorded when the appraisal was sealed differs from its "
				 "current head: the chain changed after sealing");
		}
		rep.verified = 1;
		rep.valid = v.valid;
		rep.first_bad_seq = v.valid ? 0 : v.first_bad_seq;
		rep.problem = v.valid ? "" : v.problem;
		if (!v.valid) {
			log_warn(
				"audit: the event chain of appraisal '%s' is broken at event %lld: "
				"%s",
				a.name, v.first_bad_seq, v.problem);
		}
	}
	unsigned limit = q->limit ? q->limit : (q->verify ? 0 : AUDIT_LIMIT_DEFAULT);
	if (limit > 0) {
		char after[32], lim[16];
		snprintf(after, sizeof(after), "%lld", (long long)q->after_seq);
		snprintf(lim, sizeof(lim), "%u", limit);
		const char *p3[3] = {aid, after, lim};
		if ((rc = db_exec(&page, c->db, 1,
				  "SELECT " EVENT_COLS " FROM events e JOIN appraisals a ON a.id = "
				  "e.appraisal_id WHERE e.appraisal_id = $1::bigint AND e.seq > "
				  "$2::bigint ORDER BY e.seq LIMIT $3::int",
				  3, p3)) != OPRA_OK)
			goto done;
		if ((n = events_from_rows(page, &ev)) < 0) {
			n = 0;
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			goto done;
		}
		rep.events = ev;
		rep.n_events = (size_t)n;
	}
	rc = call_reply(c, &rep.base);
done:
	if (in_txn)
		db_rollback(c->db); /* read only: nothing to keep */
	events_free(ev, (size_t)n);
	PQclear(head);
	PQclear(page);
	return rc;
}

/* ---- Watch ---- */

static int watch_validate(const ProtobufCMessage *in)
{
	const Opra__V1__WatchRequest *q = (const Opra__V1__WatchRequest *)in;
	if (q->after < -1)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the cursor (after) must be -1 (from now), 0 (from the start) "
				    "or a cursor a previous reply gave");
	if (q->after_id < 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "after_id must be an event id (> 0) or 0");
	if (q->limit > LIMIT_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE, "at most %d events per reply (asked for %u)",
				    LIMIT_MAX, q->limit);
	if (strlen(q->appraisal) > APPRAISAL_NAME_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the appraisal name is too long");
	return OPRA_OK;
}

/* Answers the events in r (NULL: none). The next cursor is the last event
 * sent (column cursor_col: seq for one appraisal, id for all), or `cursor`
 * unchanged when there are none. */
static int watch_reply(call *c, PGresult *r, int cursor_col, long long cursor)
{
	Opra__V1__WatchReply rep = OPRA__V1__WATCH_REPLY__INIT;
	Opra__V1__Event **ev = NULL;
	int n = r ? events_from_rows(r, &ev) : 0;
	if (n < 0)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (n > 0)
		cursor = strtoll(PQgetvalue(r, n - 1, cursor_col), NULL, 10);
	rep.events = ev;
	rep.n_events = (size_t)n;
	rep.cursor = cursor;
	int rc = call_reply(c, &rep.base);
	events_free(ev, (size_t)n);
	return rc;
}

/* Nothing new: wait (parked) for the rest of the request's wait, or answer
 * an empty list with the same cursor when the wait is over. */
static int watch_nothing(call *c, long long key, long long cursor, long long wait_ms,
			 long long retry_ms)
{
	long long left = wait_ms - c->waited_ms;
	if (left <= 0 || !c->may_park)
		return watch_reply(c, NULL, 0, cursor);
	if (retry_ms > 0 && retry_ms < left)
		left = retry_ms;
	return call_park(c, key, left);
}

/* Watch of one appraisal: the cursor is the chain seq. */
static int watch_one(call *c, const Opra__V1__WatchRequest *q, long long wait_ms, const char *lim)
{
	PGresult *r = NULL;
	appraisal_ref a;
	char aid[32], after[32];
	int rc;

	if ((rc = appraisal_open(c, q->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	long long after_seq = q->after;
	if (q->after_id > 0) {
		char eid[32];
		snprintf(eid, sizeof(eid), "%lld", (long long)q->after_id);
		const char *p[2] = {eid, aid};
		if ((rc = db_exec(&r, c->db, 1,
				  "SELECT seq FROM events WHERE id = $1::bigint AND appraisal_id = "
				  "$2::bigint",
				  2, p)) != OPRA_OK)
			return rc;
		int found = PQntuples(r) == 1;
		if (found)
			after_seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		r = NULL;
		if (!found)
			return opra_err_set(OPRA_OUT_OF_RANGE,
					    "event %lld is not an event of appraisal '%s': resume "
					    "with an id this appraisal's watch printed",
					    (long long)q->after_id, a.name);
	} else if (q->after < 0) {
		/* From now: the cursor is the chain's current length. */
		const char *p[1] = {aid};
		if ((rc = db_exec(&r, c->db, 1,
				  "SELECT events FROM appraisals WHERE id = $1::bigint", 1, p)) !=
		    OPRA_OK)
			return rc;
		long long now = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
		PQclear(r);
		return watch_reply(c, NULL, 0, now);
	}
	snprintf(after, sizeof(after), "%lld", after_seq);
	/* seq is given out under the appraisal's row lock, held to the
	 * commit, so commit order is seq order: no event can appear later
	 * below a seq already seen. */
	const char *p[3] = {aid, after, lim};
	rc = db_exec(&r, c->db, 1,
		     "SELECT " EVENT_COLS " FROM events e JOIN appraisals a ON a.id = "
		     "e.appraisal_id WHERE e.appraisal_id = $1::bigint AND e.seq > $2::bigint "
		     "ORDER BY e.seq LIMIT $3::int",
		     3, p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(r) > 0)
		rc = watch_reply(c, r, EV_SEQ, after_seq);
	else
		rc = watch_nothing(c, a.id, after_seq, wait_ms, 0);
	PQclear(r);
	return rc;
}

static int is_staff(const call *c)
{
	return c->who->role == ROLE_ADMIN || c->who->role == ROLE_PROGRAM_OFFICE;
}

/* Watch of every appraisal the caller may see: the cursor is a global
 * event id, but events are handed out in (xid, id) order and only those
 * whose transaction id is below the snapshot's xmin, i.e. no transaction
 * that could still commit an event before them is running. So nothing can
 * later appear before the cursor. */
static int watch_all(call *c, const Opra__V1__WatchRequest *q, long long wait_ms, const char *lim)
{
	PGresult *r = NULL;
	char after[32], uid[32];
	int rc;

	if (q->after < 0) {
		rc = db_exec(
			&r, c->db, 1,
			"SELECT coalesce((SELECT id FROM events WHERE appraisal_id IS NOT NULL "
			"AND xid < pg_snapshot_xmin(pg_current_snapshot()) "
			"ORDER BY xid DESC, id DESC LIMIT 1), 0)",
			0, NULL);
		if (rc != OPRA_OK)
			return rc;
		long long now = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return watch_reply(c, NULL, 0, now);
	}
	snprintf(after, sizeof(after), "%lld", (long long)q->after);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	if (q->after > 0) {
		const char *p[1] = {after};
		if ((rc = db_exec(&r, c->db, 1, "SELECT 1 FROM events WHERE id = $1::bigint", 1,
				  p)) != OPRA_OK)
			return rc;
		int found = PQntuples(r) == 1;
		PQclear(r);
		r = NULL;
		if (!found)
			return opra_err_set(
				OPRA_OUT_OF_RANGE,
				"there is no event %lld to continue after: pass a cursor "
				"a previous watch gave, 0 for every event, or -1 for new "
				"ones only",
				(long long)q->after);
	}
	const char *p[4] = {after, is_staff(c) ? "t" : "f", uid, lim};
	rc = db_exec(&r, c->db, 1,
		     "SELECT " EVENT_COLS " FROM events e JOIN appraisals a ON a.id = "
		     "e.appraisal_id "
		     "WHERE ($1::bigint = 0 OR (e.xid, e.id) > "
		     "(SELECT xid, id FROM events WHERE id = $1::bigint)) "
		     "AND e.xid < pg_snapshot_xmin(pg_current_snapshot()) "
		     "AND ($2::boolean OR EXISTS (SELECT 1 FROM appraisal_members m "
		     "WHERE m.appraisal_id = e.appraisal_id AND m.user_id = $3::bigint "
		     "AND m.role <> 'automation')) "
		     "ORDER BY e.xid, e.id LIMIT $4::int",
		     4, p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(r) > 0) {
		rc = watch_reply(c, r, EV_ID, q->after);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	r = NULL;
	/* Events committed after the cursor that the query above held back
	 * (an older transaction was still running): look again soon rather
	 * than wait for a notification that may not come. This is a new
	 * statement with a new snapshot, so it must not ask whether they are
	 * held *now*: the older transaction may have ended in between, and the
	 * watcher would then sleep its whole wait past events it can have
	 * (a lost wake-up, seen in CI). Any event after the cursor that the
	 * caller may see means "look again". */
	const char *p2[3] = {after, is_staff(c) ? "t" : "f", uid};
	rc = db_exec(&r, c->db, 1,
		     "SELECT EXISTS (SELECT 1 FROM events e WHERE e.appraisal_id IS NOT NULL AND "
		     "($1::bigint = 0 OR (e.xid, e.id) > "
		     "(SELECT xid, id FROM events WHERE id = $1::bigint)) "
		     "AND ($2::boolean OR EXISTS (SELECT 1 FROM appraisal_members m "
		     "WHERE m.appraisal_id = e.appraisal_id AND m.user_id = $3::bigint "
		     "AND m.role <> 'automation')))",
		     3, p2);
	if (rc != OPRA_OK)
		return rc;
	int held = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return watch_nothing(c, 0, q->after, wait_ms, held ? WATCH_XMIN_RETRY_MS : 0);
}

static int watch(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__WatchRequest *q = (const Opra__V1__WatchRequest *)in;
	long long wait_ms = q->wait_ms ? q->wait_ms : WATCH_WAIT_DEFAULT;
	char lim[16];
	if (wait_ms > WATCH_WAIT_MAX)
		wait_ms = WATCH_WAIT_MAX;
	snprintf(lim, sizeof(lim), "%u", q->limit ? q->limit : WATCH_LIMIT_DEFAULT);
	if (q->appraisal[0])
		return watch_one(c, q, wait_ms, lim);
	return watch_all(c, q, wait_ms, lim);
}

static const method_impl methods[] = {
	{"Audit", audit, audit_validate, ROLES_ANY, 0, NULL},
	{"Watch", watch, watch_validate, ROLES_ANY, METHOD_PARKS, NULL},
};

const service_impl svc_events = {&opra__v1__events__descriptor, methods,
				 sizeof(methods) / sizeof(methods[0])};
