/* Hostile input against the live server stack (rpcserver + dispatch +
 * PostgreSQL, real client library over ipc://):
 *
 *  - 10 000 mutated messages with the admin's valid token, so they get
 *    past authentication: bodies generated from every method's message
 *    type with hostile strings (SQL metacharacters, path traversal, NUL,
 *    overlong UTF-8, RTL override), field-type confusion and huge length
 *    prefixes; bodies sent to the wrong method; bit flips, truncations
 *    and insertions in bodies and in whole envelopes; hostile envelope
 *    fields. Every message must be answered with a well-formed response
 *    and never INTERNAL/UNKNOWN/DATA_LOSS; no mutating method may succeed;
 *    afterwards the row count of every table is unchanged and the server
 *    still answers correctly.
 *  - Oversize messages: a frame that announces 4 GiB is dropped by the
 *    transport before anything that size is allocated (the process's
 *    virtual size does not grow), and a real message above the limit
 *    gets the client a clear error, not a hang. */
#include "envelope.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_version.h"
#include "rpc.h"
#include "rpcserver.h"
#include "testlib.h"
#include "testserver.h"

#include "../fuzz/pbgen.h"
#include "opra/v1/inventory.pb-c.h"
#include "opra/v1/system.pb-c.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RECV_MAX   (256 * 1024)
#define N_MESSAGES 10000
/* method_row.flags: a mutating method that accepts any well-formed body. */
#define FLOOD_ACCEPTS_ANY 0x10000u

typedef struct {
	char name[ENVELOPE_METHOD_MAX + 1];
	const ProtobufCMessageDescriptor *input;
	unsigned flags;
} method_row;

static method_row methods[256];
static size_t n_methods;

static testserver ts;
static rpcserver *srv; /* our own, with the failed-auth limiter out of the way */
static char url[256], sock_path[200];

static void collect_methods(void)
{
	n_methods = 0;
	for (size_t s = 0; s < opra_n_services; s++) {
		const service_impl *svc = opra_services[s];
		for (unsigned m = 0; m < svc->desc->n_methods; m++) {
			const ProtobufCMethodDescriptor *md = &svc->desc->methods[m];
			unsigned flags = 0;
			for (size_t k = 0; k < svc->n_methods; k++)
				if (strcmp(svc->methods[k].name, md->name) == 0)
					flags = svc->methods[k].flags;
			/* A long poll would wait for events (by design): not here. */
			if (flags & METHOD_PARKS)
				continue;
			assert_true(n_methods < sizeof(methods) / sizeof(methods[0]));
			method_row *r = &methods[n_methods++];
			snprintf(r->name, sizeof(r->name), "%s/%s", svc->desc->name, md->name);
			r->input = md->input;
			r->flags = flags;
		}
	}
	assert_true(n_methods > 40);
}

static rpc_client *client(const char *token)
{
	rpc_options o = {.n_urls = 1, .token = token, .timeout_ms = 10000, .site = "hostile"};
	o.urls[0] = url;
	rpc_client *c = NULL;
	assert_int_equal(rpc_client_open(&c, &o), OPRA_OK);
	return c;
}

static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "hostile", RECV_MAX);
	snprintf(sock_path, sizeof(sock_path), "%s/flood.sock", ts.sockdir);
	snprintf(url, sizeof(url), "ipc://%s", sock_path);
	/* The mutations damage tokens now and then; the limiter (tested in
	 * test_auth_ratelimit) would then refuse the rest of the flood. */
	rpcserver_options o = {.n_urls = 1,
			       .conninfo = ts.conninfo,
			       .workers = 2,
			       .queue_depth = 64,
			       .recv_max = RECV_MAX,
			       .auth_fail_burst = 1000000,
			       .auth_fail_per_min = 1000000};
	o.urls[0] = url;
	assert_int_equal(rpcserver_start(&srv, &o, ts.disp), OPRA_OK);
	collect_methods();

	/* Something for reads to find. */
	rpc_client *c = client(ts.admin.text);
	Opra__V1__Unit u = OPRA__V1__UNIT__INIT;
	u.name = (char *)"hq";
	u.site = (char *)"columbus";
	Opra__V1__UnitAddRequest ua = OPRA__V1__UNIT_ADD_REQUEST__INIT;
	ua.unit = &u;
	assert_int_equal(testserver_call(c, "opra.v1.Inventory/UnitAdd", &ua.base,
					 &opra__v1__unit_reply__descriptor, NULL, ""),
			 OPRA_OK);
	Opra__V1__Service sv = OPRA__V1__SERVICE__INIT;
	sv.name = (char *)"claims";
	sv.unit = (char *)"hq";
	sv.criticality = (char *)"high";
	Opra__V1__ServiceAddRequest sa = OPRA__V1__SERVICE_ADD_REQUEST__INIT;
	sa.service = &sv;
	assert_int_equal(testserver_call(c, "opra.v1.Inventory/ServiceAdd", &sa.base,
					 &opra__v1__service_reply__descriptor, NULL, ""),
			 OPRA_OK);
	rpc_client_close(c);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rpcserver_stop(srv, 1000);
	unlink(sock_path);
	testserver_teardown(&ts);
	return 0;
}

/* "table=rows,..." for every table of the schema. */
static char *table_counts(void)
{
	PGresult *r = NULL;
	assert_int_equal(
		db_exec(&r, ts.db, 1,
			"SELECT string_agg(format('%s=%s', table_name, (xpath('/row/c/text()', "
			"query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, "
			"table_name), false, true, '')))[1]::text), ',' ORDER BY table_name) "
			"FROM information_schema.tables WHERE table_schema = 'public' AND "
			"table_type = 'BASE TABLE'",
			0, NULL),
		OPRA_OK);
	char *s = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	assert_non_null(s);
	assert_non_null(strstr(s, "users="));
	assert_non_null(strstr(s, "units="));
	return s;
}

/* Byte-level mutations (as the fuzz driver does). */
static size_t mutate(uint8_t *b, size_t len, size_t cap, pbgen_rng *r)
{
	int rounds = 1 + (int)(pbgen_rand(r) % 3);
	for (int k = 0; k < rounds; k++) {
		switch (pbgen_rand(r) % 5) {
		case 0: /* bit flip */
			if (len)
				b[pbgen_rand(r) % len] ^= (uint8_t)(1u << (pbgen_rand(r) % 8));
			break;
		case 1: /* truncation */
			if (len)
				len = (size_t)(pbgen_rand(r) % len);
			break;
		case 2: /* insertion */
			if (len + 8 <= cap) {
				size_t at = (size_t)(pbgen_rand(r) % (len + 1));
				memmove(b + at + 8, b + at, len - at);
				for (size_t i = 0; i < 8; i++)
					b[at + i] = (uint8_t)pbgen_rand(r);
				len += 8;
			}
			break;
		case 3: /* a huge varint where a length may be */
			if (len > 6) {
				size_t at = (size_t)(pbgen_rand(r) % (len - 5));
				memcpy(b + at, "\xff\xff\xff\xff\x0f", 5);
			}
			break;
		default: /* interesting byte */
			if (len)
				b[pbgen_rand(r) % len] =
					(uint8_t) "\x00\x01\x7f\x80\xff\x0a\x12\x22"[pbgen_rand(r) %
										     8];
			break;
		}
	}
	return len;
}

static size_t pack_envelope(uint8_t *out, size_t cap, const char *method, const char *token,
			    const char *key, const char *label, const uint8_t *body,
			    size_t body_len)
{
	Opra__V1__Request e = OPRA__V1__REQUEST__INIT;
	e.method = (char *)method;
	e.token = (char *)token;
	e.request_id = 99;
	e.idempotency_key = (char *)key;
	e.deadline_ms = 10000;
	e.body.data = (uint8_t *)body;
	e.body.len = body_len;
	e.client_id = (char *)label;
	e.site = (char *)label;
	e.protocol_version = OPRA_PROTOCOL_VERSION;
	size_t n = opra__v1__request__get_packed_size(&e);
	assert_true(n <= cap);
	return opra__v1__request__pack(&e, out);
}

static void test_flood_of_mutated_messages(void **state)
{
	(void)state;
	static uint8_t body[200000], wire[240000];
	static char longstr[9000];
	pbgen_rng r = {0x686f7374696c65ULL};
	unsigned long status_count[17] = {0};
	int bad = 0, mutating_ok = 0, no_reply = 0;
	rpc_client *c = client(NULL);
	/* A mutating method that accepts an empty body (all defaults; e.g.
	 * InventoryBulk/Begin, whose only field is free text) can accept
	 * anything well-formed, so it is left out here (its decoder and
	 * validation are fuzzed by fuzz_bodies); the row this check makes
	 * exists before the snapshot. */
	for (size_t k = 0; k < n_methods; k++) {
		if (!(methods[k].flags & METHOD_MUTATES))
			continue;
		char key[40];
		rpc_new_key(key);
		size_t wlen = pack_envelope(wire, sizeof(wire), methods[k].name, ts.admin.text, key,
					    "flood", NULL, 0);
		uint8_t *reply = NULL;
		size_t reply_len = 0;
		Opra__V1__Response *resp = NULL;
		assert_int_equal(rpc_call_raw(c, wire, wlen, &reply, &reply_len), OPRA_OK);
		assert_int_equal(envelope_response_decode(&resp, reply, reply_len), OPRA_OK);
		if (resp->status == OPRA_OK) {
			printf("%s accepts an empty body: left out of the flood\n",
			       methods[k].name);
			methods[k].flags &= ~METHOD_MUTATES;
			methods[k].flags |= FLOOD_ACCEPTS_ANY;
		}
		envelope_response_free(resp);
		opra_free(reply);
	}
	char *before = table_counts();

	memset(longstr, 'k', sizeof(longstr) - 1);
	long long t0 = opra_now_us();
	for (int i = 0; i < N_MESSAGES; i++) {
		const method_row *m = &methods[pbgen_rand(&r) % n_methods];
		if (m->flags & FLOOD_ACCEPTS_ANY)
			m = &methods[0]; /* System/Ping: its rows would change the database */
		const method_row *other = &methods[pbgen_rand(&r) % n_methods];
		char key[40];
		rpc_new_key(key);
		const char *method = m->name, *token = ts.admin.text, *label = "flood";
		size_t blen = 0, wlen;
		int kind = i % 6;
		/* Bodies of mutating methods hold only strings no field may
		 * accept (pbgen.h PBGEN_INVALID), so every one of them must be
		 * refused and the database must not change. Reads get every
		 * hostile string (SQL metacharacters, traversal, RTL, ...);
		 * storing such names verbatim is tested through the CLI in
		 * tests/e2e/test_names.sh. */
		unsigned inv = (m->flags & METHOD_MUTATES) ? PBGEN_INVALID : 0;
		switch (kind) {
		case 0: /* every field, hostile strings */
			blen = pbgen_body(body, sizeof(body), &r, m->input,
					  PBGEN_ALL_FIELDS | PBGEN_LONG | inv);
			break;
		case 1: /* field-type confusion and huge length prefixes */
			blen = pbgen_body(body, sizeof(body), &r, m->input,
					  PBGEN_CONFUSE | PBGEN_HUGE_LEN | PBGEN_ALL_FIELDS | inv);
			break;
		case 2: /* a body of another method */
			blen = pbgen_body(body, sizeof(body), &r, other->input,
					  PBGEN_ALL_FIELDS | inv);
			break;
		case 3: /* a generated body, then damaged */
			blen = pbgen_body(body, sizeof(body), &r, m->input, PBGEN_ALL_FIELDS | inv);
			blen = mutate(body, blen, sizeof(body), &r);
			break;
		case 5: { /* hostile envelope fields */
			const pbgen_str *s = &pbgen_strings[pbgen_rand(&r) % PBGEN_N_STRINGS];
			static char text[64];
			snprintf(text, sizeof(text), "%.*s", (int)s->n, s->s);
			switch (pbgen_rand(&r) % 4) {
			case 0:
				method = text;
				break;
			case 1:
				snprintf(key, sizeof(key), "%.39s", text);
				break;
			case 2:
				label = pbgen_rand(&r) % 2 ? longstr : text;
				break;
			default:
				snprintf(key, sizeof(key), "%s",
					 pbgen_rand(&r) % 2 ? "" : "k\x01y");
				break;
			}
			blen = pbgen_body(body, sizeof(body), &r, m->input, PBGEN_ALL_FIELDS | inv);
			break;
		}
		default: /* case 4: a valid request, then the envelope damaged */
			blen = pbgen_body(body, sizeof(body), &r, m->input, PBGEN_ALL_FIELDS | inv);
			break;
		}
		wlen = pack_envelope(wire, sizeof(wire), method, token, key, label, body, blen);
		if (kind == 4)
			wlen = mutate(wire, wlen, sizeof(wire), &r);
		uint8_t *reply = NULL;
		size_t reply_len = 0;
		int rc = rpc_call_raw(c, wire, wlen, &reply, &reply_len);
		if (rc != OPRA_OK) {
			if (no_reply++ < 5)
				printf("no reply to message %d (%s, kind %d): %s\n", i, m->name,
				       kind, opra_err_msg());
			continue;
		}
		Opra__V1__Response *resp = NULL;
		if (envelope_response_decode(&resp, reply, reply_len) != OPRA_OK) {
			if (bad++ < 5)
				printf("message %d (%s, kind %d): malformed reply\n", i, m->name,
				       kind);
			opra_free(reply);
			continue;
		}
		unsigned st = resp->status;
		status_count[st <= 16 ? st : 2]++;
		if (st == OPRA_INTERNAL || st == OPRA_UNKNOWN || st == OPRA_DATA_LOSS) {
			if (bad++ < 10)
				printf("message %d (%s, kind %d): %s: %s\n", i, m->name, kind,
				       opra_status_name((int)st), resp->message);
		}
		if (st == OPRA_OK && kind != 4 && (m->flags & METHOD_MUTATES) &&
		    strcmp(method, m->name) == 0) {
			if (mutating_ok++ < 10) {
				printf("message %d: %s accepted a hostile request:", i, m->name);
				for (size_t k = 0; k < blen && k < 200; k++)
					printf(" %02x", body[k]);
				printf("\n");
			}
		}
		envelope_response_free(resp);
		opra_free(reply);
	}
	long long us = opra_now_us() - t0;
	printf("%d hostile messages in %.1f s:", N_MESSAGES, us / 1e6);
	for (int s = 0; s <= 16; s++)
		if (status_count[s])
			printf(" %s=%lu", opra_status_name(s), status_count[s]);
	printf("\n");
	assert_int_equal(no_reply, 0);
	assert_int_equal(bad, 0);
	assert_int_equal(mutating_ok, 0);
	/* The flood reached the handlers, not only the envelope checks. */
	assert_true(status_count[OPRA_NOT_FOUND] + status_count[OPRA_OK] > 100);
	assert_true(status_count[OPRA_INVALID_ARGUMENT] > 1000);

	/* Nothing changed ... */
	char *after = table_counts();
	assert_string_equal(before, after);
	free(before);
	free(after);
	rpc_client_close(c);

	/* ... and the server still answers correctly. */
	c = client(ts.admin.text);
	Opra__V1__PingRequest ping = OPRA__V1__PING_REQUEST__INIT;
	Opra__V1__PingResponse *pr = NULL;
	assert_int_equal(testserver_call(c, "opra.v1.System/Ping", &ping.base,
					 &opra__v1__ping_response__descriptor, &pr, NULL),
			 OPRA_OK);
	assert_string_equal(pr->server_version, OPRA_VERSION);
	testserver_reply_free(pr);
	Opra__V1__WhoamiRequest who = OPRA__V1__WHOAMI_REQUEST__INIT;
	Opra__V1__WhoamiResponse *wr = NULL;
	assert_int_equal(testserver_call(c, "opra.v1.System/Whoami", &who.base,
					 &opra__v1__whoami_response__descriptor, &wr, NULL),
			 OPRA_OK);
	assert_string_equal(wr->name, "root");
	testserver_reply_free(wr);
	Opra__V1__ShowRequest show = OPRA__V1__SHOW_REQUEST__INIT;
	show.name = (char *)"claims";
	Opra__V1__ServiceReply *sr = NULL;
	assert_int_equal(testserver_call(c, "opra.v1.Inventory/ServiceShow", &show.base,
					 &opra__v1__service_reply__descriptor, &sr, NULL),
			 OPRA_OK);
	assert_string_equal(sr->service->unit, "hq");
	assert_string_equal(sr->service->criticality, "high");
	testserver_reply_free(sr);
	rpc_client_close(c);
	/* Nothing left in flight. A request counts until its send completes,
	 * which may be just after the client has read the reply: allow 5 s. */
	for (int i = 0; i < 500 && rpcserver_in_flight(srv) != 0; i++)
		usleep(10 * 1000);
	assert_int_equal(rpcserver_in_flight(srv), 0);
}

static long vm_size_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Connects to the ipc listener as a req0 peer (SP handshake). */
static int raw_connect(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(sock_path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	static const uint8_t hello[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0}; /* req0 */
	assert_int_equal(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
	uint8_t theirs[8];
	assert_int_equal(read(fd, theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
	assert_int_equal(theirs[5], 0x31); /* rep0 */
	return fd;
}

/* Whether the server closed fd within ms milliseconds. */
static int closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	long long until = opra_now_us() + ms * 1000LL;
	while (opra_now_us() < until) {
		if (poll(&p, 1, 50) == 1) {
			uint8_t b[64];
			ssize_t n = read(fd, b, sizeof(b));
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return 1;
		}
	}
	return 0;
}

static void test_oversize_dropped_before_allocation(void **state)
{
	(void)state;
	long vm0 = vm_size_kb();
	/* Frames announcing 4 GiB, with a few bytes behind them. nng reads the
	 * 8-byte length, sees it is above the receive limit and closes the
	 * connection: nothing that size is ever allocated. */
	for (int k = 0; k < 4; k++) {
		int fd = raw_connect();
		uint8_t frame[9 + 16] = {1, 0, 0, 0, 1, 0, 0, 0, 0}; /* type 1, length 2^32 */
		memset(frame + 9, 'x', 16);
		assert_int_equal(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
		assert_true(closed_within(fd, 3000));
		close(fd);
	}
	long vm1 = vm_size_kb();
	printf("VmSize before %ld kB, after four 4 GiB announcements %ld kB\n", vm0, vm1);
	assert_true(vm1 - vm0 < 512 * 1024);

	/* One byte over the limit, through the real client: a clear error in
	 * bounded time, not a hang and not a reply. */
	size_t n = RECV_MAX + 1;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	rpc_client *c = client(ts.admin.text);
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	long long t0 = opra_now_us();
	int rc = rpc_call_raw(c, big, n, &reply, &reply_len);
	long long ms = (opra_now_us() - t0) / 1000;
	assert_int_not_equal(rc, OPRA_OK);
	assert_true(rc == OPRA_UNAVAILABLE || rc == OPRA_DEADLINE_EXCEEDED);
	printf("oversize message: %s after %lld ms: %s\n", opra_status_name(rc), ms,
	       opra_err_msg());
	assert_true(ms < 11000);
	free(big);
	/* At the limit the server still answers (with an error about the body). */
	Opra__V1__PingRequest ping = OPRA__V1__PING_REQUEST__INIT;
	assert_int_equal(testserver_call(c, "opra.v1.System/Ping", &ping.base,
					 &opra__v1__ping_response__descriptor, NULL, NULL),
			 OPRA_OK);
	rpc_client_close(c);
}

/* A string with a NUL inside cannot be stored verbatim as C text: the
 * server must refuse it, not cut it at the NUL ("x\0y" must not become
 * a unit named "x"). */
static void test_nul_inside_a_name_is_refused(void **state)
{
	(void)state;
	static uint8_t body[256], wire[1024];
	/* UnitAddRequest { unit: Unit { name: "x\0y" } } */
	static const uint8_t unit_body[] = {0x0a, 0x05, 0x0a, 0x03, 'x', 0x00, 'y'};
	memcpy(body, unit_body, sizeof(unit_body));
	char key[40];
	rpc_new_key(key);
	size_t wlen = pack_envelope(wire, sizeof(wire), "opra.v1.Inventory/UnitAdd", ts.admin.text,
				    key, "nul", body, sizeof(unit_body));
	rpc_client *c = client(NULL);
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	Opra__V1__Response *resp = NULL;
	assert_int_equal(rpc_call_raw(c, wire, wlen, &reply, &reply_len), OPRA_OK);
	assert_int_equal(envelope_response_decode(&resp, reply, reply_len), OPRA_OK);
	printf("UnitAdd name \"x\\0y\": %s %s\n", opra_status_name((int)resp->status),
	       resp->message);
	assert_int_equal(resp->status, OPRA_INVALID_ARGUMENT);
	envelope_response_free(resp);
	opra_free(reply);
	rpc_client_close(c);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM units WHERE name = 'x'"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oversize_dropped_before_allocation),
		cmocka_unit_test(test_flood_of_mutated_messages),
		cmocka_unit_test(test_nul_inside_a_name_is_refused),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
