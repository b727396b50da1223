/* RPC round trips per second against oprad, beside an nng echo baseline
 * measured in the same run on the same machine.
 *
 * The baseline is the transport's ceiling: a separate process (forked here
 * before any thread starts) with an nng rep0 context pool that echoes each
 * request from its aio callback. The clients are identical for both: N
 * threads, each with its own req0 socket, sending one request at a time for
 * a fixed time. Against oprad they send real opra.v1.System/Ping envelopes
 * (no database) and, with --token, System/Whoami (token lookup in
 * PostgreSQL on every call).
 *
 * usage: bench_rpc --server URL [--token T] [--seconds S] [--clients 1,16,64]
 *                  [--echo-url URL] */
#include "summary.h"
#include "envelope.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "rpc.h"

#include "opra/v1/system.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define ECHO_CTXS   128

/* ---- echo baseline server (child process) ---- */

typedef struct {
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
} echo_ctx;

static void echo_cb(void *arg)
{
	echo_ctx *e = arg;
	int rv = nng_aio_result(e->aio);
	if (e->sending) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(e->aio));
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED)
			nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	e->sending = 1; /* reply with the request itself */
	nng_ctx_send(e->ctx, e->aio);
}

static void run_echo_server(const char *url)
{
	nng_socket s;
	static echo_ctx ctxs[ECHO_CTXS];
	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0) {
		fprintf(stderr, "bench: echo server cannot listen on %s\n", url);
		_exit(1);
	}
	for (int i = 0; i < ECHO_CTXS; i++) {
		nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i]);
		nng_ctx_open(&ctxs[i].ctx, s);
		nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
	}
	for (;;)
		pause();
}

/* ---- clients ---- */

typedef enum { MODE_ECHO, MODE_PING, MODE_WHOAMI } bench_mode;

typedef struct {
	const char *url;
	const char *token;
	bench_mode mode;
	double seconds;
	atomic_int *go;
	long calls;
	long errors;
	double *lat_us; /* samples */
	long n_lat;
	long cap_lat;
} client_arg;

static void record(client_arg *a, double us)
{
	if (a->n_lat < a->cap_lat)
		a->lat_us[a->n_lat++] = us;
}

static void *echo_client(void *arg)
{
	client_arg *a = arg;
	nng_socket s;
	/* The same bytes a ping sends, so both sides move equal payloads. */
	uint8_t payload[96];
	memset(payload, 0x5a, sizeof(payload));
	if (nng_req0_open(&s) != 0 || nng_dial(s, a->url, NULL, 0) != 0) {
		a->errors++;
		return NULL;
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	while (!atomic_load(a->go))
		;
	long long end = opra_now_us() + (long long)(a->seconds * 1e6);
	while (opra_now_us() < end) {
		nng_msg *m = NULL;
		long long t0 = opra_now_us();
		nng_msg_alloc(&m, 0);
		nng_msg_append(m, payload, sizeof(payload));
		if (nng_sendmsg(s, m, 0) != 0) {
			nng_msg_free(m);
			a->errors++;
			continue;
		}
		if (nng_recvmsg(s, &m, 0) != 0) {
			a->errors++;
			continue;
		}
		nng_msg_free(m);
		record(a, (double)(opra_now_us() - t0));
		a->calls++;
	}
	nng_close(s);
	return NULL;
}

static void *rpc_client_thread(void *arg)
{
	client_arg *a = arg;
	rpc_options o = {.n_urls = 1, .token = a->token, .timeout_ms = 10000};
	o.urls[0] = a->url;
	rpc_client *c = NULL;
	if (rpc_client_open(&c, &o) != OPRA_OK) {
		a->errors++;
		return NULL;
	}
	Opra__V1__PingRequest ping = OPRA__V1__PING_REQUEST__INIT;
	Opra__V1__WhoamiRequest who = OPRA__V1__WHOAMI_REQUEST__INIT;
	/* Connect before the clock starts. */
	ProtobufCMessage *resp = NULL;
	if (rpc_call(c, "opra.v1.System/Ping", &ping.base, NULL, NULL, NULL) != OPRA_OK)
		a->errors++;
	while (!atomic_load(a->go))
		;
	long long end = opra_now_us() + (long long)(a->seconds * 1e6);
	while (opra_now_us() < end) {
		long long t0 = opra_now_us();
		int rc = a->mode == MODE_PING
				 ? rpc_call(c, "opra.v1.System/Ping", &ping.base,
					    &opra__v1__ping_response__descriptor, &resp, NULL)
				 : rpc_call(c, "opra.v1.System/Whoami", &who.base,
					    &opra__v1__whoami_response__descriptor, &resp, NULL);
		if (resp) {
			protobuf_c_message_free_unpacked(resp, NULL);
			resp = NULL;
		}
		if (rc != OPRA_OK) {
			if (a->errors++ == 0)
				fprintf(stderr, "bench: %s\n", opra_err_msg());
			continue;
		}
		record(a, (double)(opra_now_us() - t0));
		a->calls++;
	}
	rpc_client_close(c);
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

typedef struct {
	double rps;
	double p50_us;
	double p99_us;
	long errors;
} result;

static result run(bench_mode mode, const char *url, const char *token, int clients, double seconds)
{
	pthread_t t[MAX_CLIENTS];
	client_arg a[MAX_CLIENTS];
	atomic_int go = 0;
	result r = {0};
	memset(a, 0, sizeof(a));
	for (int i = 0; i < clients; i++) {
		a[i] = (client_arg){.url = url,
				    .token = token,
				    .mode = mode,
				    .seconds = seconds,
				    .go = &go,
				    .cap_lat = 200000};
		a[i].lat_us = malloc(sizeof(double) * (size_t)a[i].cap_lat);
		pthread_create(&t[i], NULL, mode == MODE_ECHO ? echo_client : rpc_client_thread,
			       &a[i]);
	}
	usleep(200 * 1000); /* let every client connect */
	long long t0 = opra_now_us();
	atomic_store(&go, 1);
	long calls = 0, n_lat = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(t[i], NULL);
		calls += a[i].calls;
		r.errors += a[i].errors;
		n_lat += a[i].n_lat;
	}
	double elapsed = (double)(opra_now_us() - t0) / 1e6;
	r.rps = (double)calls / elapsed;
	double *all = malloc(sizeof(double) * (size_t)(n_lat ? n_lat : 1));
	long k = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + k, a[i].lat_us, sizeof(double) * (size_t)a[i].n_lat);
		k += a[i].n_lat;
		free(a[i].lat_us);
	}
	qsort(all, (size_t)n_lat, sizeof(double), cmp_double);
	if (n_lat) {
		r.p50_us = all[n_lat / 2];
		r.p99_us = all[(long)((double)n_lat * 0.99)];
	}
	free(all);
	return r;
}

int main(int argc, char **argv)
{
	const char *server = NULL, *token = NULL, *echo_url = "tcp://127.0.0.1:7499";
	char clients_list[128] = "1,16,64";
	double seconds = 3;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			token = argv[++i];
		else if (strcmp(argv[i], "--echo-url") == 0 && i + 1 < argc)
			echo_url = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
			snprintf(clients_list, sizeof(clients_list), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: bench_rpc --server URL [--token T] [--seconds S] "
					"[--clients 1,16,64] [--echo-url URL]\n");
			return 2;
		}
	}
	if (server == NULL || seconds <= 0) {
		fprintf(stderr, "bench_rpc: --server URL is required (a running oprad)\n");
		return 2;
	}
	opra_log_set_level(OPRA_LOG_ERROR);
	pid_t echo_pid = fork();
	if (echo_pid == 0)
		run_echo_server(echo_url);
	usleep(300 * 1000);

	printf("RPC round trips per second: oprad vs an nng echo server (same machine, same "
	       "run, %.1f s per cell)\n\n",
	       seconds);
	printf("%8s %12s %12s %7s %10s %10s %12s %7s %10s\n", "clients", "echo rps", "ping rps",
	       "ratio", "ping p50", "ping p99", "whoami rps", "ratio", "who p99");
	int failed = 0;
	char *save = NULL;
	for (char *tok = strtok_r(clients_list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		long n = 0;
		if (!opra_parse_long(tok, 1, MAX_CLIENTS, &n))
			continue;
		result echo = run(MODE_ECHO, echo_url, NULL, (int)n, seconds);
		result ping = run(MODE_PING, server, NULL, (int)n, seconds);
		result who = {0};
		if (token)
			who = run(MODE_WHOAMI, server, token, (int)n, seconds);
		printf("%8ld %12.0f %12.0f %6.2fx %8.0fus %8.0fus", n, echo.rps, ping.rps,
		       echo.rps > 0 ? ping.rps / echo.rps : 0, ping.p50_us, ping.p99_us);
		if (token)
			printf(" %12.0f %6.2fx %8.0fus", who.rps,
			       echo.rps > 0 ? who.rps / echo.rps : 0, who.p99_us);
		printf("\n");
		{
			char fig[64], ours[32], base[32];
			double r = echo.rps > 0 ? ping.rps / echo.rps : 0;
			snprintf(fig, sizeof(fig), "RPC ping, %ld client%s", n, n == 1 ? "" : "s");
			snprintf(ours, sizeof(ours), "%.0f/s", ping.rps);
			snprintf(base, sizeof(base), "%.0f/s nng echo", echo.rps);
			bench_summary(fig, ours, base, r, n == 16 ? ">= 0.70x" : NULL,
				      n == 16 ? r >= 0.70 : -1);
			if (token && n == 16) {
				snprintf(ours, sizeof(ours), "%.0f/s", who.rps);
				bench_summary("RPC whoami (token checked), 16 clients", ours, base,
					      echo.rps > 0 ? who.rps / echo.rps : 0, NULL, -1);
			}
		}
		if (echo.errors || ping.errors || who.errors) {
			printf("         errors: echo %ld, ping %ld, whoami %ld\n", echo.errors,
			       ping.errors, who.errors);
			failed = 1;
		}
		fflush(stdout);
	}
	printf("\nratio = oprad rate / echo rate at the same client count (goal for ping at 16 "
	       "clients: >= 0.70x)\n");
	kill(echo_pid, SIGTERM);
	waitpid(echo_pid, NULL, 0);
	return failed;
}
