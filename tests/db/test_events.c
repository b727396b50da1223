/* Events/Audit (the hash chain, verified in C on the server) and
 * Events/Watch (the cursor long poll) against the real server stack.
 *
 * Events are appended with the production SQL function append_event() on
 * connections of the test's own: it is what every service calls (through
 * appraisal_event), and it NOTIFYs watchers at commit. */
#include "auth.h"
#include "db.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpc.h"
#include "rpcserver.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/events.pb-c.h"
#include "opra/v1/system.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static testserver ts;
static opra_token viewer_tok, outsider_tok, robot_tok, office_tok;
static long long viewer_id, robot_id, outsider_id;

static long count(const char *sql)
{
	return testserver_count(&ts, sql);
}

static void exec_sql(db *d, const char *sql, int n, const char *const *p)
{
	assert_int_equal(db_cmd(d, sql, n, p), OPRA_OK);
}

/* A new appraisal with a viewer and an automation member. */
static long long appraisal_new(const char *name)
{
	PGresult *r = NULL;
	const char *p[1] = {name};
	assert_int_equal(db_exec(&r, ts.db, 1,
				 "INSERT INTO appraisals (name, created_by) VALUES ($1, 1) "
				 "RETURNING id",
				 1, p),
			 OPRA_OK);
	long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	char aid[32], vid[32], rid[32];
	snprintf(aid, sizeof(aid), "%lld", id);
	snprintf(vid, sizeof(vid), "%lld", viewer_id);
	snprintf(rid, sizeof(rid), "%lld", robot_id);
	const char *m1[2] = {aid, vid}, *m2[2] = {aid, rid};
	exec_sql(ts.db,
		 "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
		 "VALUES ($1::bigint, $2::bigint, 'viewer', 1)",
		 2, m1);
	exec_sql(ts.db,
		 "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
		 "VALUES ($1::bigint, $2::bigint, 'automation', 1)",
		 2, m2);
	return id;
}

/* Appends one event (its own transaction); returns its global id. */
static long long append(db *d, long long aid, const char *object)
{
	PGresult *r = NULL;
	char a[32];
	snprintf(a, sizeof(a), "%lld", aid);
	const char *p[2] = {a, object};
	assert_int_equal(
		db_exec(&r, d, 1,
			"SELECT o_id FROM append_event($1::bigint, 1, 'root', 'opra/test', "
			"'columbus', 'ipc', 'opra.v1.Test/Append', $2, "
			"'{\"n\": 1, \"s\": \"ä \\\"q\\\"\"}'::jsonb, "
			"jsonb_build_object('object', $2::text, 'list', jsonb_build_array(1, "
			"2.50, null)))",
			2, p),
		OPRA_OK);
	long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return id;
}

static long long appraisal_with_events(const char *name, int n)
{
	long long id = appraisal_new(name);
	char obj[64];
	for (int i = 1; i <= n; i++) {
		/* Awkward text too: quotes, a newline, non-ASCII. */
		snprintf(obj, sizeof(obj), i % 5 ? "evidence %d" : "note \"%d\"\nzweite Zeile ü",
			 i);
		append(ts.db, id, obj);
	}
	return id;
}

static int audit_call(rpc_client *c, const char *appraisal, int verify, long long after,
		      unsigned limit, Opra__V1__AuditReply **out)
{
	Opra__V1__AuditRequest q = OPRA__V1__AUDIT_REQUEST__INIT;
	q.appraisal = (char *)appraisal;
	q.verify = verify;
	q.after_seq = after;
	q.limit = limit;
	return rpc_call(c, "opra.v1.Events/Audit", &q.base, &opra__v1__audit_reply__descriptor,
			(ProtobufCMessage **)out, NULL);
}

static int watch_call(rpc_client *c, const char *appraisal, long long after, unsigned wait_ms,
		      unsigned limit, Opra__V1__WatchReply **out)
{
	Opra__V1__WatchRequest q = OPRA__V1__WATCH_REQUEST__INIT;
	q.appraisal = (char *)appraisal;
	q.after = after;
	q.wait_ms = wait_ms;
	q.limit = limit;
	return rpc_call(c, "opra.v1.Events/Watch", &q.base, &opra__v1__watch_reply__descriptor,
			(ProtobufCMessage **)out, NULL);
}

static int ping(rpc_client *c)
{
	Opra__V1__PingRequest q = OPRA__V1__PING_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = rpc_call(c, "opra.v1.System/Ping", &q.base, &opra__v1__ping_response__descriptor,
			  &resp, NULL);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "events", 256 * 1024);
	assert_int_equal(auth_user_create(ts.db, "vera", "user", 0, &viewer_tok, &viewer_id),
			 OPRA_OK);
	assert_int_equal(auth_user_create(ts.db, "otto", "user", 0, &outsider_tok, &outsider_id),
			 OPRA_OK);
	assert_int_equal(auth_user_create(ts.db, "robo", "automation", 0, &robot_tok, &robot_id),
			 OPRA_OK);
	assert_int_equal(auth_user_create(ts.db, "pat", "program-office", 0, &office_tok, NULL),
			 OPRA_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testserver_teardown(&ts);
	return 0;
}

/* ---- Audit ---- */

static void audit_lists_and_verifies_a_chain(void **state)
{
	(void)state;
	appraisal_with_events("chain-ok", 25);
	rpc_client *c = testserver_client(&ts, viewer_tok.text);
	Opra__V1__AuditReply *r = NULL;

	assert_int_equal(audit_call(c, "chain-ok", 1, 0, 0, &r), OPRA_OK);
	assert_true(r->verified);
	assert_true(r->valid);
	assert_int_equal(r->total, 25);
	assert_int_equal(r->n_events, 0); /* verify alone lists nothing */
	assert_int_equal(strlen(r->head), 64);
	assert_int_equal(count("SELECT count(*) FROM appraisals WHERE name = 'chain-ok' AND "
			       "encode(head, 'hex') = (SELECT encode(hash, 'hex') FROM events e "
			       "JOIN appraisals a ON a.id = e.appraisal_id WHERE a.name = "
			       "'chain-ok' AND seq = 25)"),
			 1);
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* Pages. */
	assert_int_equal(audit_call(c, "chain-ok", 0, 10, 10, &r), OPRA_OK);
	assert_int_equal(r->n_events, 10);
	assert_int_equal(r->events[0]->seq, 11);
	assert_int_equal(r->events[9]->seq, 20);
	assert_string_equal(r->events[0]->object, "evidence 11");
	assert_string_equal(r->events[4]->object, "note \"15\"\nzweite Zeile ü");
	assert_string_equal(r->events[0]->actor, "root");
	assert_string_equal(r->events[0]->site, "columbus");
	assert_string_equal(r->events[0]->appraisal, "chain-ok");
	assert_non_null(strstr(r->events[0]->after, "\"evidence 11\""));
	assert_int_equal(strlen(r->events[0]->hash), 64);
	assert_int_equal(strlen(r->events[0]->at), strlen("2026-01-01T00:00:00.000000Z"));
	protobuf_c_message_free_unpacked(&r->base, NULL);

	/* An empty chain verifies too. */
	appraisal_new("chain-empty");
	assert_int_equal(audit_call(c, "chain-empty", 1, 0, 0, &r), OPRA_OK);
	assert_true(r->valid);
	assert_int_equal(r->total, 0);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	rpc_client_close(c);
}

static void expect_broken(rpc_client *c, const char *name, long long bad_seq, const char *why)
{
	Opra__V1__AuditReply *r = NULL;
	assert_int_equal(audit_call(c, name, 1, 0, 0, &r), OPRA_OK);
	assert_true(r->verified);
	assert_false(r->valid);
	assert_int_equal(r->first_bad_seq, bad_seq);
	if (strstr(r->problem, why) == NULL)
		fail_msg("problem '%s' does not mention '%s'", r->problem, why);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void audit_detects_tampering(void **state)
{
	(void)state;
	rpc_client *c = testserver_client(&ts, office_tok.text); /* staff reads all */

	/* A changed event. */
	appraisal_with_events("t-edit", 12);
	db_cmd(ts.db,
	       "UPDATE events SET object = 'forged' WHERE seq = 7 AND appraisal_id = "
	       "(SELECT id FROM appraisals WHERE name = 't-edit')",
	       0, NULL);
	expect_broken(c, "t-edit", 7, "does not match its hash");
	/* Its JSON changed instead (same text length, other value). */
	db_cmd(ts.db,
	       "UPDATE events SET object = 'evidence 7' WHERE seq = 7 AND appraisal_id = "
	       "(SELECT id FROM appraisals WHERE name = 't-edit')",
	       0, NULL);
	Opra__V1__AuditReply *r = NULL;
	assert_int_equal(audit_call(c, "t-edit", 1, 0, 0, &r), OPRA_OK);
	assert_true(r->valid); /* restored: valid again */
	protobuf_c_message_free_unpacked(&r->base, NULL);
	db_cmd(ts.db,
	       "UPDATE events SET after = jsonb_set(after, '{list,0}', '2') WHERE seq = 3 AND "
	       "appraisal_id = (SELECT id FROM appraisals WHERE name = 't-edit')",
	       0, NULL);
	expect_broken(c, "t-edit", 3, "does not match its hash");

	/* A deleted event in the middle, and at the end. */
	appraisal_with_events("t-delete", 12);
	db_cmd(ts.db,
	       "DELETE FROM events WHERE seq = 5 AND appraisal_id = "
	       "(SELECT id FROM appraisals WHERE name = 't-delete')",
	       0, NULL);
	expect_broken(c, "t-delete", 5, "missing");
	appraisal_with_events("t-truncate", 12);
	db_cmd(ts.db,
	       "DELETE FROM events WHERE seq = 12 AND appraisal_id = "
	       "(SELECT id FROM appraisals WHERE name = 't-truncate')",
	       0, NULL);
	expect_broken(c, "t-truncate", 12, "removed from its end");

	/* A rewritten head. */
	appraisal_with_events("t-head", 4);
	db_cmd(ts.db,
	       "UPDATE appraisals SET head = decode(repeat('ab', 32), 'hex') WHERE name = "
	       "'t-head'",
	       0, NULL);
	expect_broken(c, "t-head", 4, "recorded head");

	/* A sealed appraisal whose chain grew after sealing. */
	appraisal_with_events("t-sealed", 3);
	db_cmd(ts.db,
	       "UPDATE appraisals SET sealed_at = now(), sealed_by = 1, sealed_head = head "
	       "WHERE name = 't-sealed'",
	       0, NULL);
	assert_int_equal(audit_call(c, "t-sealed", 1, 0, 0, &r), OPRA_OK);
	assert_true(r->valid);
	assert_true(r->sealed);
	assert_string_equal(r->sealed_head, r->head);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	PGresult *late = NULL;
	assert_int_equal(
		db_exec(&late, ts.db, 1,
			"SELECT append_event(id, 1, 'root', '', '', '', 'x', 'late', NULL, "
			"NULL, true) FROM appraisals WHERE name = 't-sealed'",
			0, NULL),
		OPRA_OK);
	PQclear(late);
	expect_broken(c, "t-sealed", 4, "after sealing");
	rpc_client_close(c);
}

static void audit_is_for_members_and_staff(void **state)
{
	(void)state;
	appraisal_with_events("private", 2);
	Opra__V1__AuditReply *r = NULL;
	rpc_client *c = testserver_client(&ts, outsider_tok.text);
	assert_int_equal(audit_call(c, "private", 1, 0, 0, &r), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "not a member"));
	rpc_client_close(c);
	c = testserver_client(&ts, robot_tok.text);
	assert_int_equal(audit_call(c, "private", 0, 0, 0, &r), OPRA_PERMISSION_DENIED);
	rpc_client_close(c);
	c = testserver_client(&ts, viewer_tok.text);
	assert_int_equal(audit_call(c, "no-such-appraisal", 0, 0, 0, &r), OPRA_NOT_FOUND);
	assert_int_equal(audit_call(c, "private", 0, -4, 0, &r), OPRA_INVALID_ARGUMENT);
	assert_int_equal(audit_call(c, "private", 0, 0, 100000, &r), OPRA_OUT_OF_RANGE);
	assert_int_equal(audit_call(c, "", 0, 0, 0, &r), OPRA_INVALID_ARGUMENT);
	rpc_client_close(c);
}

/* ---- Watch ---- */

typedef struct {
	const char *token;
	const char *appraisal;
	long long after;
	unsigned wait_ms;
	int rc;
	size_t n_events;
	long long cursor;
	long long done_us;
	char msg[256];
} watch_arg;

static void *watch_thread(void *arg)
{
	watch_arg *w = arg;
	rpc_client *c = testserver_client(&ts, w->token);
	Opra__V1__WatchReply *r = NULL;
	/* A burst of watchers can find the request queue full for a moment;
	 * like any client, try again. */
	for (int tries = 0; tries < 100; tries++) {
		w->rc = watch_call(c, w->appraisal, w->after, w->wait_ms, 0, &r);
		if (w->rc != OPRA_RESOURCE_EXHAUSTED)
			break;
		usleep(20 * 1000);
	}
	w->done_us = opra_now_us();
	snprintf(w->msg, sizeof(w->msg), "%s", opra_err_msg());
	if (r) {
		w->n_events = r->n_events;
		w->cursor = r->cursor;
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	rpc_client_close(c);
	return NULL;
}

/* Waits until n watchers are parked at once. The count is sampled once per
 * round: an all-appraisals watcher held back by a transaction open elsewhere
 * in the cluster (other tests run in parallel) re-checks every 200 ms and is
 * briefly not parked, so a second reading could be one short. */
static void wait_parked(size_t n)
{
	size_t seen = 0;
	for (int i = 0; i < 1500; i++) {
		if ((seen = rpcserver_parked(ts.srv)) >= n)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(seen, n);
}

static void watch_wakes_promptly_on_commit(void **state)
{
	(void)state;
	long long aid = appraisal_with_events("live", 3);
	watch_arg w = {.token = viewer_tok.text, .appraisal = "live", .after = 3, .wait_ms = 20000};
	pthread_t t;
	pthread_create(&t, NULL, watch_thread, &w);
	wait_parked(1);
	usleep(100 * 1000);
	long long t0 = opra_now_us();
	append(ts.db, aid, "fresh");
	pthread_join(t, NULL);
	assert_int_equal(w.rc, OPRA_OK);
	assert_int_equal(w.n_events, 1);
	assert_int_equal(w.cursor, 4);
	long long ms = (w.done_us - t0) / 1000;
	if (ms >= 10000) /* the watch waits 20 s: far below that means the commit woke it */
		fail_msg("the watcher took %lld ms to see a committed event", ms);

	/* Cursor -1: from now; and the wait runs out with the same cursor. */
	rpc_client *c = testserver_client(&ts, viewer_tok.text);
	Opra__V1__WatchReply *r = NULL;
	assert_int_equal(watch_call(c, "live", -1, 300, 0, &r), OPRA_OK);
	assert_int_equal(r->n_events, 0);
	assert_int_equal(r->cursor, 4);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	t0 = opra_now_us();
	assert_int_equal(watch_call(c, "live", 4, 300, 0, &r), OPRA_OK);
	long long waited = (opra_now_us() - t0) / 1000;
	assert_int_equal(r->n_events, 0);
	assert_int_equal(r->cursor, 4);
	assert_true(waited >= 250 && waited < 3000);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	/* Staff without membership may watch; outsiders may not. */
	rpc_client_close(c);
	c = testserver_client(&ts, outsider_tok.text);
	assert_int_equal(watch_call(c, "live", 0, 100, 0, &r), OPRA_PERMISSION_DENIED);
	/* Bad input: clear errors, nothing parked. */
	assert_int_equal(watch_call(c, "live", -7, 100, 0, &r), OPRA_INVALID_ARGUMENT);
	assert_int_equal(watch_call(c, "live", 0, 100, 5000, &r), OPRA_OUT_OF_RANGE);
	assert_int_equal(watch_call(c, "nope", 0, 100, 0, &r), OPRA_NOT_FOUND);
	assert_int_equal(watch_call(c, "", 99999999, 100, 0, &r), OPRA_OUT_OF_RANGE);
	assert_non_null(strstr(opra_err_msg(), "no event 99999999"));
	rpc_client_close(c);
}

#define APPENDERS    4
#define PER_APPEND   50
#define TOTAL_EVENTS (APPENDERS * PER_APPEND)

typedef struct {
	long long aid[2];
	int index;
} append_arg;

static void *append_thread(void *arg)
{
	append_arg *a = arg;
	db *d = NULL;
	assert_int_equal(db_open(&d, ts.conninfo), OPRA_OK);
	char obj[64];
	for (int i = 0; i < PER_APPEND; i++) {
		snprintf(obj, sizeof(obj), "w%d-%d", a->index, i);
		/* Every other event in a transaction that sleeps before its
		 * commit: commits land out of id order. */
		if (i % 3 == 0) {
			assert_int_equal(db_begin(d), OPRA_OK);
			append(d, a->aid[i % 2], obj);
			usleep((useconds_t)(rand() % 3000));
			assert_int_equal(db_commit(d), OPRA_OK);
		} else {
			append(d, a->aid[i % 2], obj);
		}
		usleep((useconds_t)(rand() % 2000));
	}
	db_close(d);
	return NULL;
}

/* Follows a feed with small pages, reconnecting (a new client) every few
 * polls, until it has `want` events; records ids or seqs in order. */
typedef struct {
	const char *appraisal; /* "" = all */
	long long from;	       /* the first cursor */
	size_t want;
	long long *got;
	size_t n;
	int failed;
} follow_arg;

static void *follow_thread(void *arg)
{
	follow_arg *f = arg;
	long long cursor = f->from;
	rpc_client *c = NULL;
	long long give_up = opra_now_us() + 60LL * 1000 * 1000;
	for (int poll = 0; f->n < f->want && opra_now_us() < give_up; poll++) {
		if (c == NULL)
			c = testserver_client(&ts, viewer_tok.text);
		Opra__V1__WatchReply *r = NULL;
		int rc = watch_call(c, f->appraisal, cursor, 2000, 7, &r);
		if (rc == OPRA_UNAVAILABLE || rc == OPRA_RESOURCE_EXHAUSTED ||
		    rc == OPRA_DEADLINE_EXCEEDED) {
			/* What `opra watch` does on a transient error (a loaded
			 * machine): reconnect and ask again from the same cursor. */
			rpc_client_close(c);
			c = NULL;
			usleep(50 * 1000);
			continue;
		}
		if (rc != OPRA_OK) {
			f->failed = rc;
			break;
		}
		for (size_t i = 0; i < r->n_events && f->n < f->want + 8; i++)
			f->got[f->n++] = f->appraisal[0] ? r->events[i]->seq : r->events[i]->id;
		cursor = r->cursor;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (poll % 4 == 3) {
			rpc_client_close(c); /* reconnect with the cursor */
			c = NULL;
		}
	}
	rpc_client_close(c);
	return NULL;
}

static void reconnecting_watchers_miss_and_repeat_nothing(void **state)
{
	(void)state;
	long long a1 = appraisal_new("busy-1"), a2 = appraisal_new("busy-2");
	long long first_id = count("SELECT coalesce(max(id), 0) FROM events");
	/* Start the all-appraisals watcher after everything so far. */
	rpc_client *c = testserver_client(&ts, viewer_tok.text);
	Opra__V1__WatchReply *r = NULL;
	assert_int_equal(watch_call(c, "", -1, 100, 0, &r), OPRA_OK);
	long long all_from = r->cursor;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	rpc_client_close(c);

	long long got1[TOTAL_EVENTS / 2 + 8], got_all[TOTAL_EVENTS + 8];
	follow_arg f1 = {.appraisal = "busy-1", .want = TOTAL_EVENTS / 2, .got = got1};
	follow_arg fa = {.appraisal = "", .want = TOTAL_EVENTS, .got = got_all};
	pthread_t tf1, tfa, ta[APPENDERS];
	append_arg aa[APPENDERS];
	pthread_create(&tf1, NULL, follow_thread, &f1);
	fa.from = all_from;
	pthread_create(&tfa, NULL, follow_thread, &fa);
	for (int i = 0; i < APPENDERS; i++) {
		aa[i] = (append_arg){.aid = {a1, a2}, .index = i};
		pthread_create(&ta[i], NULL, append_thread, &aa[i]);
	}
	for (int i = 0; i < APPENDERS; i++)
		pthread_join(ta[i], NULL);
	pthread_join(tf1, NULL);
	pthread_join(tfa, NULL);
	assert_int_equal(f1.failed, 0);
	assert_int_equal(fa.failed, 0);

	/* One appraisal: seq 1..100, each once, in order. */
	assert_int_equal(f1.n, TOTAL_EVENTS / 2);
	for (size_t i = 0; i < f1.n; i++)
		assert_int_equal(got1[i], (long long)i + 1);

	/* All appraisals: every event appended, each exactly once, in an
	 * order in which no event appeared behind the cursor. */
	assert_int_equal(fa.n, TOTAL_EVENTS);
	for (size_t i = 0; i < fa.n; i++) {
		assert_true(got_all[i] > first_id);
		for (size_t k = 0; k < i; k++)
			if (got_all[k] == got_all[i])
				fail_msg("event %lld was delivered twice", got_all[i]);
	}
	assert_int_equal(count("SELECT count(*) FROM events e JOIN appraisals a ON "
			       "a.id = e.appraisal_id WHERE a.name LIKE 'busy-%'"),
			 TOTAL_EVENTS);
}

static long server_connections(void)
{
	return count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
		     "AND pid <> pg_backend_pid()");
}

#define WATCHERS 100

static void parked_watchers_hold_no_worker_or_connection(void **state)
{
	(void)state;
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);
	long long aid = appraisal_with_events("crowd", 1);
	/* The listener connects in the background. */
	for (int i = 0; i < 200 && server_connections() < 3; i++)
		usleep(10 * 1000);
	long before = server_connections();
	assert_int_equal(before, 3); /* 2 workers + the LISTEN connection */
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT max(id) FROM events WHERE appraisal_id = %lld", aid);
	long long last_id = count(sql);

	static watch_arg w[WATCHERS];
	pthread_t t[WATCHERS];
	for (int i = 0; i < WATCHERS; i++) {
		w[i] = (watch_arg){.token = viewer_tok.text,
				   .appraisal = i % 2 ? "crowd" : "",
				   .after = i % 2 ? 1 : -1,
				   .wait_ms = 30000};
		/* All-appraisals watchers start after the last event there is
		 * (not "from now": while a transaction elsewhere in the cluster
		 * holds the snapshot's xmin back, "now" may still lie before the
		 * crowd's own event, which would then be delivered too). */
		if (!(i % 2))
			w[i].after = last_id;
		pthread_create(&t[i], NULL, watch_thread, &w[i]);
	}
	wait_parked(WATCHERS);

	/* Both workers are free: Ping and an authenticated call answer at once. */
	rpc_client *c = testserver_client(&ts, viewer_tok.text);
	long long t0 = opra_now_us();
	for (int i = 0; i < 10; i++)
		assert_int_equal(ping(c), OPRA_OK);
	Opra__V1__AuditReply *ar = NULL;
	assert_int_equal(audit_call(c, "crowd", 1, 0, 0, &ar), OPRA_OK);
	protobuf_c_message_free_unpacked(&ar->base, NULL);
	long long ms = (opra_now_us() - t0) / 1000;
	/* Blocked workers would hold these calls until the watchers' 30 s
	 * wait ends; a loaded machine (CI, sanitizers) is slow but not that. */
	if (ms > 10000)
		fail_msg("11 calls took %lld ms with %d watchers parked", ms, WATCHERS);
	rpc_client_close(c);
	/* And no connection was opened for them. */
	assert_int_equal(server_connections(), before);

	/* One event wakes them all. */
	t0 = opra_now_us();
	append(ts.db, aid, "wake up");
	for (int i = 0; i < WATCHERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, OPRA_OK);
		assert_int_equal(w[i].n_events, 1);
	}
	ms = (opra_now_us() - t0) / 1000;
	/* One event each proves the commit woke them (the 30 s wait would
	 * have answered with none); the bound only catches a lost wake-up. */
	if (ms > 20000)
		fail_msg("waking %d watchers took %lld ms", WATCHERS, ms);
	assert_int_equal(rpcserver_parked(ts.srv), 0);
}

static void too_many_watchers_are_refused(void **state)
{
	(void)state;
	rpcserver_options o = {.n_urls = 1,
			       .conninfo = ts.conninfo,
			       .workers = 2,
			       .queue_depth = 16,
			       .recv_max = ts.info.max_message_size,
			       .max_parked = 3};
	o.urls[0] = ts.url;
	testserver_stop(&ts);
	assert_int_equal(rpcserver_start(&ts.srv, &o, ts.disp), OPRA_OK);
	watch_arg w[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (watch_arg){.token = viewer_tok.text,
				   .appraisal = "crowd",
				   .after = 2,
				   .wait_ms = 1500};
		pthread_create(&t[i], NULL, watch_thread, &w[i]);
	}
	wait_parked(3);
	rpc_client *c = testserver_client(&ts, viewer_tok.text);
	Opra__V1__WatchReply *r = NULL;
	assert_int_equal(watch_call(c, "crowd", 2, 1000, 0, &r), OPRA_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(opra_err_msg(), "watchers waiting"));
	rpc_client_close(c);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, OPRA_OK); /* their wait ran out */
		assert_int_equal(w[i].n_events, 0);
		assert_int_equal(w[i].cursor, 2);
	}
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);
}

static void stop_answers_parked_watchers_at_once(void **state)
{
	(void)state;
	watch_arg w[10];
	pthread_t t[10];
	for (int i = 0; i < 10; i++) {
		w[i] = (watch_arg){.token = viewer_tok.text,
				   .appraisal = "crowd",
				   .after = 2,
				   .wait_ms = 30000};
		pthread_create(&t[i], NULL, watch_thread, &w[i]);
	}
	wait_parked(10);
	long long t0 = opra_now_us();
	testserver_stop(&ts);
	long long ms = (opra_now_us() - t0) / 1000;
	for (int i = 0; i < 10; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, OPRA_UNAVAILABLE);
		assert_non_null(strstr(w[i].msg, "shutting down"));
	}
	if (ms > 10000) /* parked watchers wait 30 s: they were answered, not waited out */
		fail_msg("stopping with parked watchers took %lld ms", ms);
	assert_int_equal(testserver_start(&ts, 2, 64), OPRA_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(audit_lists_and_verifies_a_chain),
		cmocka_unit_test(audit_detects_tampering),
		cmocka_unit_test(audit_is_for_members_and_staff),
		cmocka_unit_test(watch_wakes_promptly_on_commit),
		cmocka_unit_test(reconnecting_watchers_miss_and_repeat_nothing),
		cmocka_unit_test(parked_watchers_hold_no_worker_or_connection),
		cmocka_unit_test(too_many_watchers_are_refused),
		cmocka_unit_test(stop_answers_parked_watchers_at_once),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
