#include "rpcserver.h"

#include "db.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "tlsconf.h"
#include "workq.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One context: a small state machine (nng style). RECV: waiting for a
 * request. WORK: handed to the queue; a worker owns the message. SEND: a
 * reply is on its way. Only one request is outstanding per context, so the
 * context itself is the queue item. */
enum { CTX_RECV, CTX_WORK, CTX_SEND };

typedef struct rpc_ctx {
	struct rpcserver *srv;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	nng_msg *msg;
	long long received_us;
	char peer[64];
} rpc_ctx;

struct rpcserver {
	nng_socket sock;
	int sock_open;
	nng_listener listeners[RPCSERVER_MAX_URLS];
	size_t n_listeners;
	rpc_ctx *ctxs;
	size_t n_ctxs;
	workq *queue;
	pthread_t *threads;
	db **dbs;
	int n_workers;
	int n_started;
	dispatcher *disp;
	atomic_int draining;
	atomic_size_t in_flight;
};

static void ctx_recv(rpc_ctx *c)
{
	c->state = CTX_RECV;
	nng_ctx_recv(c->ctx, c->aio);
}

/* Sends msg (already holding the reply bytes) on the context. On a failed
 * send the aio hands the message back and the callback frees it. */
static void ctx_send(rpc_ctx *c, nng_msg *msg)
{
	c->state = CTX_SEND;
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
}

static void peer_of(nng_msg *msg, char *out, size_t size)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	nng_sockaddr sa;
	snprintf(out, size, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	char ip[INET6_ADDRSTRLEN] = "";
	switch (sa.s_family) {
	case NNG_AF_INET:
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
		snprintf(out, size, "%s:%u", ip, ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6:
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
		snprintf(out, size, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
		break;
	case NNG_AF_IPC:
		snprintf(out, size, "ipc");
		break;
	case NNG_AF_INPROC:
		snprintf(out, size, "inproc");
		break;
	default:
		break;
	}
}

/* Answers from the callback without a worker (queue full, shutting down).
 * Cheap and non-blocking: reuses the request message for the reply. */
static void reply_now(rpc_ctx *c, nng_msg *msg, int status, const char *text)
{
	opra_buf out = OPRA_BUF_INIT;
	if (dispatch_error_response(&out, 0, status, text) != OPRA_OK) {
		nng_msg_free(msg);
		atomic_fetch_sub(&c->srv->in_flight, 1);
		ctx_recv(c);
		return;
	}
	nng_msg_clear(msg);
	if (nng_msg_append(msg, out.data, out.len) != 0) {
		opra_buf_free(&out);
		nng_msg_free(msg);
		atomic_fetch_sub(&c->srv->in_flight, 1);
		ctx_recv(c);
		return;
	}
	opra_buf_free(&out);
	ctx_send(c, msg);
}

static void ctx_cb(void *arg)
{
	rpc_ctx *c = arg;
	rpcserver *s = c->srv;
	int rv = nng_aio_result(c->aio);

	switch (c->state) {
	case CTX_RECV:
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return; /* shutting down */
		if (rv != 0) {
			ctx_recv(c);
			return;
		}
		c->msg = nng_aio_get_msg(c->aio);
		c->received_us = opra_now_us();
		peer_of(c->msg, c->peer, sizeof(c->peer));
		atomic_fetch_add(&s->in_flight, 1);
		if (atomic_load(&s->draining)) {
			nng_msg *m = c->msg;
			c->msg = NULL;
			reply_now(
				c, m, OPRA_UNAVAILABLE,
				"the server is shutting down; retry on another server or shortly");
			return;
		}
		c->state = CTX_WORK;
		if (workq_push(s->queue, c) != OPRA_OK) {
			nng_msg *m = c->msg;
			c->msg = NULL;
			reply_now(c, m, OPRA_RESOURCE_EXHAUSTED,
				  "the server is overloaded (request queue full); retry shortly");
		}
		return;
	case CTX_SEND:
		if (rv != 0) {
			/* The message is still ours when a send fails. */
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
		}
		atomic_fetch_sub(&s->in_flight, 1);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		ctx_recv(c);
		return;
	default:
		return;
	}
}

typedef struct {
	rpcserver *srv;
	int index;
} worker_arg;

static void *worker_main(void *arg)
{
	worker_arg *wa = arg;
	rpcserver *s = wa->srv;
	db *dbh = s->dbs[wa->index];
	opra_buf out = OPRA_BUF_INIT;
	opra_free(wa);

	for (;;) {
		rpc_ctx *c = workq_pop(s->queue);
		if (c == NULL)
			break;
		nng_msg *msg = c->msg;
		c->msg = NULL;
		opra_buf_reset(&out);
		long long queued = opra_now_us() - c->received_us;
		dispatch_handle(s->disp, dbh, nng_msg_body(msg), nng_msg_len(msg), c->peer, queued,
				&out);
		nng_msg_clear(msg);
		if (nng_msg_append(msg, out.data, out.len) != 0) {
			nng_msg_clear(msg);
			opra_buf_reset(&out);
			dispatch_error_response(&out, 0, OPRA_RESOURCE_EXHAUSTED,
						"the server ran out of memory building the reply");
			if (nng_msg_append(msg, out.data, out.len) != 0) {
				nng_msg_free(msg);
				atomic_fetch_sub(&s->in_flight, 1);
				ctx_recv(c);
				continue;
			}
		}
		ctx_send(c, msg);
		/* Keep big buffers from lingering in idle workers. */
		if (out.cap > 1024 * 1024)
			opra_buf_free(&out);
	}
	opra_buf_free(&out);
	return NULL;
}

static int is_loopback_tcp(const char *url)
{
	const char *host = strstr(url, "://");
	if (host == NULL)
		return 1;
	host += 3;
	return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
	       strncmp(host, "[::1]:", 6) == 0;
}

static int listen_one(rpcserver *s, const char *url, const rpcserver_options *o)
{
	nng_listener l;
	nng_tls_config *cfg = NULL;
	int nrv;

	if ((nrv = nng_listener_create(&l, s->sock, url)) != 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "cannot listen on '%s': %s (use tcp://HOST:PORT, "
				    "tls+tcp://HOST:PORT or ipc:///PATH)",
				    url, nng_strerror(nrv));
	/* The socket's limit applies to listeners created after it was set;
	 * set it on the listener too, so the order can never matter. */
	nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, o->recv_max);
	if (strncmp(url, "tls+", 4) == 0) {
		if (o->tls_cert == NULL || o->tls_key == NULL) {
			nng_listener_close(l);
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s needs --tls-cert FILE and --tls-key FILE", url);
		}
		if ((nrv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
			nng_listener_close(l);
			return opra_err_set(OPRA_INTERNAL, "TLS is not available: %s",
					    nng_strerror(nrv));
		}
		int rc = tlsconf_own_cert(cfg, o->tls_cert, o->tls_key);
		if (rc != OPRA_OK) {
			nng_tls_config_free(cfg);
			nng_listener_close(l);
			return rc;
		}
		if (o->tls_client_ca) {
			if ((nrv = nng_tls_config_ca_file(cfg, o->tls_client_ca)) != 0) {
				nng_tls_config_free(cfg);
				nng_listener_close(l);
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "cannot load client CA %s: %s",
						    o->tls_client_ca, nng_strerror(nrv));
			}
			nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
		} else {
			nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
		}
		nrv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (nrv != 0) {
			nng_listener_close(l);
			return opra_err_set(OPRA_INTERNAL, "cannot configure TLS on %s: %s", url,
					    nng_strerror(nrv));
		}
	} else if (strncmp(url, "tcp", 3) == 0 && !is_loopback_tcp(url)) {
		log_warn("*** %s is reachable from other machines WITHOUT TLS: tokens and "
			 "evidence travel in clear text. Use tls+tcp:// with --tls-cert/--tls-key. "
			 "***",
			 url);
	}
	if ((nrv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		return opra_err_set(nrv == NNG_EADDRINUSE ? OPRA_UNAVAILABLE
							  : OPRA_INVALID_ARGUMENT,
				    "cannot listen on %s: %s%s", url, nng_strerror(nrv),
				    nrv == NNG_EADDRINUSE
					    ? " (another oprad or program uses it; choose another "
					      "--listen)"
					    : "");
	}
	s->listeners[s->n_listeners++] = l;
	return OPRA_OK;
}

int rpcserver_start(rpcserver **out, const rpcserver_options *o, dispatcher *d)
{
	rpcserver *s = NULL;
	int rc = OPRA_OK, nrv;

	*out = NULL;
	if (o->n_urls == 0 || o->n_urls > RPCSERVER_MAX_URLS || o->workers < 1 ||
	    o->queue_depth < 1) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "bad server options");
		goto done;
	}
	s = opra_calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	s->disp = d;
	s->n_workers = o->workers;
	if ((rc = workq_create(&s->queue, o->queue_depth)) != OPRA_OK)
		goto done;
	s->dbs = opra_calloc((size_t)o->workers, sizeof(db *));
	s->threads = opra_calloc((size_t)o->workers, sizeof(pthread_t));
	if (s->dbs == NULL || s->threads == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	for (int i = 0; i < o->workers; i++)
		if ((rc = db_open(&s->dbs[i], o->conninfo)) != OPRA_OK)
			goto done;
	for (int i = 0; i < o->workers; i++) {
		worker_arg *wa = opra_malloc(sizeof(*wa));
		if (wa == NULL) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			goto done;
		}
		wa->srv = s;
		wa->index = i;
		if (pthread_create(&s->threads[i], NULL, worker_main, wa) != 0) {
			opra_free(wa);
			rc = opra_err_set(OPRA_INTERNAL, "cannot start worker thread");
			goto done;
		}
		s->n_started++;
	}
	if ((nrv = nng_rep0_open(&s->sock)) != 0) {
		rc = opra_err_set(OPRA_INTERNAL, "cannot open socket: %s", nng_strerror(nrv));
		goto done;
	}
	s->sock_open = 1;
	/* Before any listener exists: oversize messages are dropped by the
	 * transport before they are allocated in full. */
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, o->recv_max);
	/* More contexts than workers + queue, so overload is answered with
	 * RESOURCE_EXHAUSTED instead of silently stalling in nng. */
	s->n_ctxs = (size_t)o->workers + o->queue_depth + 16;
	s->ctxs = opra_calloc(s->n_ctxs, sizeof(rpc_ctx));
	if (s->ctxs == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < s->n_ctxs; i++) {
		rpc_ctx *c = &s->ctxs[i];
		c->srv = s;
		if ((nrv = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0 ||
		    (nrv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
			rc = opra_err_set(OPRA_INTERNAL, "cannot create context: %s",
					  nng_strerror(nrv));
			goto done;
		}
	}
	for (size_t i = 0; i < o->n_urls; i++)
		if ((rc = listen_one(s, o->urls[i], o)) != OPRA_OK)
			goto done;
	for (size_t i = 0; i < s->n_ctxs; i++)
		ctx_recv(&s->ctxs[i]);
	*out = s;
	s = NULL;
done:
	if (s) {
		/* Preserve the start error across the teardown's own messages. */
		int code = opra_err_code();
		char msg[OPRA_ERR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", opra_err_msg());
		rpcserver_stop(s, 0);
		opra_err_set(code, "%s", msg);
	}
	return rc;
}

size_t rpcserver_in_flight(rpcserver *s)
{
	return atomic_load(&s->in_flight);
}

void rpcserver_stop(rpcserver *s, int drain_ms)
{
	if (s == NULL)
		return;
	atomic_store(&s->draining, 1);
	long long until = opra_now_us() + (long long)drain_ms * 1000;
	while (atomic_load(&s->in_flight) > 0 && opra_now_us() < until) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&s->in_flight) > 0)
		log_warn("stopping with %zu requests unanswered after %d ms",
			 atomic_load(&s->in_flight), drain_ms);
	/* Stop every aio first (cancels pending receives and waits for running
	 * callbacks; a stopped aio completes later operations at once with
	 * ECANCELED), then let the workers finish, and only then close the
	 * socket. Closing the socket under live aios made nng 1.5.2 panic on a
	 * destroyed mutex in nng_aio_stop. */
	for (size_t i = 0; s->ctxs && i < s->n_ctxs; i++)
		if (s->ctxs[i].aio)
			nng_aio_stop(s->ctxs[i].aio);
	if (s->queue)
		workq_close(s->queue);
	for (int i = 0; i < s->n_started; i++)
		pthread_join(s->threads[i], NULL);
	if (s->sock_open)
		nng_close(s->sock); /* closes listeners, pipes and contexts */
	/* Workers may have left messages of requests they never answered. */
	for (size_t i = 0; s->ctxs && i < s->n_ctxs; i++) {
		if (s->ctxs[i].msg)
			nng_msg_free(s->ctxs[i].msg);
		if (s->ctxs[i].aio)
			nng_aio_free(s->ctxs[i].aio);
	}
	for (int i = 0; s->dbs && i < s->n_workers; i++)
		db_close(s->dbs[i]);
	workq_free(s->queue);
	opra_free(s->dbs);
	opra_free(s->threads);
	opra_free(s->ctxs);
	opra_free(s);
}
