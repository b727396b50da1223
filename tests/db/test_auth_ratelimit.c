/* Token guessing is slowed: failed authentications are counted per peer
 * address (auth.h auth_limit). Real server stack (rpcserver + dispatch +
 * PostgreSQL) listening on tcp://127.0.0.1; clients are plain nng req0
 * sockets dialling from chosen loopback source addresses (127.0.0.1 and
 * 127.0.0.2), so the server sees two different peers. */
#include "auth.h"
#include "envelope.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpcserver.h"
#include "testlib.h"
#include "testserver.h"
#include "token.h"

#include "opra/v1/system.pb-c.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BURST	5
#define PER_MIN 60 /* one more try per second */

static testserver ts;
static rpcserver *tcp_srv;
static char tcp_url[64];

static int setup(void **state)
{
	(void)state;
	testserver_setup(&ts, "authrl", 256 * 1024);
	rpcserver_options o = {.n_urls = 1,
			       .conninfo = ts.conninfo,
			       .workers = 2,
			       .queue_depth = 64,
			       .recv_max = 256 * 1024,
			       .auth_fail_burst = BURST,
			       .auth_fail_per_min = PER_MIN};
	int rc = OPRA_UNAVAILABLE;
	for (int attempt = 0; attempt < 20 && rc != OPRA_OK; attempt++) {
		int port = 20000 + (int)((getpid() * 7 + attempt * 131) % 40000);
		snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%d", port);
		o.urls[0] = tcp_url;
		rc = rpcserver_start(&tcp_srv, &o, ts.disp);
	}
	assert_int_equal(rc, OPRA_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rpcserver_stop(tcp_srv, 1000);
	testserver_teardown(&ts);
	return 0;
}

/* A client socket whose connections come from source address `src`. */
static nng_socket client_from(const char *src)
{
	nng_socket s;
	nng_dialer d;
	nng_sockaddr sa;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	assert_int_equal(nng_dialer_create(&d, s, tcp_url), 0);
	memset(&sa, 0, sizeof(sa));
	sa.s_in.sa_family = NNG_AF_INET;
	assert_int_equal(inet_pton(AF_INET, src, &sa.s_in.sa_addr), 1);
	assert_int_equal(nng_dialer_set_addr(d, NNG_OPT_LOCADDR, &sa), 0);
	assert_int_equal(nng_dialer_start(d, 0), 0);
	return s;
}

/* One call: returns the status; the server's message goes to msg. */
static int rpc(nng_socket s, const char *method, const char *token, char *msg, size_t msg_size,
	       long long *us)
{
	Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
	opra_buf b = OPRA_BUF_INIT;
	r.method = (char *)method;
	r.token = (char *)(token ? token : "");
	r.request_id = 7;
	r.idempotency_key = (char *)"";
	r.client_id = (char *)"test";
	r.site = (char *)"";
	r.protocol_version = 1;
	assert_int_equal(envelope_request_pack(&b, &r), OPRA_OK);
	long long t0 = opra_now_us();
	assert_int_equal(nng_send(s, b.data, b.len, 0), 0);
	opra_buf_free(&b);
	void *reply = NULL;
	size_t n = 0;
	assert_int_equal(nng_recv(s, &reply, &n, NNG_FLAG_ALLOC), 0);
	if (us)
		*us = opra_now_us() - t0;
	Opra__V1__Response *resp = NULL;
	assert_int_equal(envelope_response_decode(&resp, reply, n), OPRA_OK);
	nng_free(reply, n);
	int status = (int)resp->status;
	if (msg)
		snprintf(msg, msg_size, "%s%s%s", resp->message, resp->details[0] ? " | " : "",
			 resp->details);
	envelope_response_free(resp);
	return status;
}

static const char *const whoami = "opra.v1.System/Whoami";

static void sleep_ms(long ms)
{
	usleep((useconds_t)(ms * 1000));
}

static void test_guessing_is_slowed_per_address(void **state)
{
	(void)state;
	opra_token guess;
	char msg[4096];
	long long us;
	nng_socket a = client_from("127.0.0.1");
	nng_socket b = client_from("127.0.0.2");

	/* The server log goes to a file for this test: it must name the
	 * address and never the token. */
	char logpath[] = "/tmp/opra-authrl-log-XXXXXX";
	int logfd = mkstemp(logpath);
	assert_true(logfd >= 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(logfd, STDERR_FILENO);

	/* A well-formed token the server does not know: every try reaches
	 * the database and fails. The burst is allowed. */
	assert_int_equal(token_generate(&guess), OPRA_OK);
	for (int i = 0; i < BURST; i++)
		assert_int_equal(rpc(a, whoami, guess.text, msg, sizeof(msg), NULL),
				 OPRA_UNAUTHENTICATED);
	/* Malformed tokens count as well (they are guesses too). */
	long long worst = 0;
	for (int i = 0; i < 50; i++) {
		int st = rpc(a, whoami, i % 2 ? guess.text : "opra_garbage", msg, sizeof(msg), &us);
		assert_int_equal(st, OPRA_RESOURCE_EXHAUSTED);
		if (us > worst)
			worst = us;
	}
	assert_non_null(strstr(msg, "too many failed authentications from 127.0.0.1"));
	assert_non_null(strstr(msg, "retry in"));
	/* The same hint for programs, in details. */
	assert_non_null(strstr(msg, "| {\"retry_after_ms\": "));
	/* Refused in the I/O callback, without the database: fast. */
	assert_true(worst < 200 * 1000);

	/* Even the right token waits for the window from that address ... */
	assert_int_equal(rpc(a, whoami, ts.admin.text, msg, sizeof(msg), NULL),
			 OPRA_RESOURCE_EXHAUSTED);
	/* ... also when the request names a public method first and Whoami
	 * last (protobuf keeps the last; so does the limiter's peek) ... */
	{
		Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
		opra_buf packed = OPRA_BUF_INIT;
		r.method = (char *)whoami;
		r.token = ts.admin.text;
		r.request_id = 8;
		r.idempotency_key = r.client_id = r.site = (char *)"";
		r.protocol_version = 1;
		assert_int_equal(envelope_request_pack(&packed, &r), OPRA_OK);
		static const char ping_name[] = "opra.v1.System/Ping";
		uint8_t wire[1024];
		wire[0] = 0x0a; /* field 1, length-delimited */
		wire[1] = (uint8_t)strlen(ping_name);
		memcpy(wire + 2, ping_name, strlen(ping_name));
		assert_true(packed.len + 2 + strlen(ping_name) <= sizeof(wire));
		memcpy(wire + 2 + strlen(ping_name), packed.data, packed.len);
		size_t wlen = packed.len + 2 + strlen(ping_name);
		opra_buf_free(&packed);
		Opra__V1__Request *back = NULL;
		assert_int_equal(envelope_request_decode(&back, wire, wlen), OPRA_OK);
		assert_string_equal(back->method, whoami); /* what the server runs */
		envelope_request_free(back);
		assert_int_equal(nng_send(a, wire, wlen, 0), 0);
		void *reply = NULL;
		size_t n = 0;
		assert_int_equal(nng_recv(a, &reply, &n, NNG_FLAG_ALLOC), 0);
		Opra__V1__Response *resp = NULL;
		assert_int_equal(envelope_response_decode(&resp, reply, n), OPRA_OK);
		nng_free(reply, n);
		assert_int_equal(resp->status, OPRA_RESOURCE_EXHAUSTED);
		envelope_response_free(resp);
	}
	/* ... but Ping (no token) is not refused, ... */
	assert_int_equal(rpc(a, "opra.v1.System/Ping", NULL, msg, sizeof(msg), NULL), OPRA_OK);
	/* ... and another address is not affected at all. */
	assert_int_equal(rpc(b, whoami, ts.admin.text, msg, sizeof(msg), NULL), OPRA_OK);
	assert_int_equal(rpc(b, whoami, guess.text, msg, sizeof(msg), NULL), OPRA_UNAUTHENTICATED);

	/* After the window (one try refills in 1 s here), the right token
	 * works again from the first address. */
	sleep_ms(1200);
	assert_int_equal(rpc(a, whoami, ts.admin.text, msg, sizeof(msg), NULL), OPRA_OK);
	/* A failure then uses up the refilled budget at once. */
	assert_int_equal(rpc(a, whoami, guess.text, msg, sizeof(msg), NULL), OPRA_UNAUTHENTICATED);
	assert_int_equal(rpc(a, whoami, guess.text, msg, sizeof(msg), NULL),
			 OPRA_RESOURCE_EXHAUSTED);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char log[65536];
	ssize_t n = pread(logfd, log, sizeof(log) - 1, 0);
	close(logfd);
	unlink(logpath);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, "warn  too many failed authentications from 127.0.0.1"));
	assert_null(strstr(log, "from 127.0.0.2"));
	assert_null(strstr(log, guess.text));
	assert_null(strstr(log, guess.text + 5 + TOKEN_SELECTOR_LEN)); /* the secret part */
	assert_null(strstr(log, ts.admin.text));
	nng_close(a);
	nng_close(b);
}

/* The limiter on its own, with a fake clock. */
static void test_limiter_budget_and_bound(void **state)
{
	(void)state;
	auth_limit *l = NULL;
	long long t = 1000000;
	assert_int_equal(auth_limit_create(&l, 3, 6), OPRA_OK); /* 3 at once, 1 per 10 s */
	assert_int_equal(auth_limit_wait_ms(l, "10.0.0.1", t), 0);
	assert_int_equal(auth_limit_fail(l, "10.0.0.1", t), 0);
	assert_int_equal(auth_limit_fail(l, "10.0.0.1", t), 0);
	assert_int_equal(auth_limit_wait_ms(l, "10.0.0.1", t), 0);
	assert_int_equal(auth_limit_fail(l, "10.0.0.1", t), 1); /* budget used up: log once */
	assert_int_equal(auth_limit_fail(l, "10.0.0.1", t), 0);
	long long w = auth_limit_wait_ms(l, "10.0.0.1", t);
	assert_true(w > 9000 && w <= 10001);
	assert_true(auth_limit_wait_ms(l, "10.0.0.1", t + 5000000) > 4000);
	assert_int_equal(auth_limit_wait_ms(l, "10.0.0.1", t + 10000001), 0);
	/* Back to zero budget, then thousands of other addresses fail once
	 * each: the table stays bounded and the guessing address is the last
	 * one forgotten. */
	assert_int_equal(auth_limit_fail(l, "10.0.0.1", t + 10000001), 1);
	char addr[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(addr, sizeof(addr), "192.168.%d.%d", i / 256, i % 256);
		auth_limit_fail(l, addr, t + 10000002);
	}
	assert_true(auth_limit_wait_ms(l, "10.0.0.1", t + 10000003) > 9000);
	/* A fully refilled address is forgiven (its slot freed). */
	assert_int_equal(auth_limit_wait_ms(l, "192.168.0.1", t + 100000000), 0);
	auth_limit_free(l);
	auth_limit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limiter_budget_and_bound),
		cmocka_unit_test(test_guessing_is_slowed_per_address),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
