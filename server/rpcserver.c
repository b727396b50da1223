#include "rpcserver.h"

#include "auth.h"
#include "db.h"
#include "envelope.h"
#include "notify.h"
#include "pbcheck.h"
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
 * reply is on its way. PARKED: a long poll waiting in the waiters list with
 * its request message and no operation pending. IDLE: a spare, not
 * receiving. Only one request is outstanding per context, so the context
 * itself is the queue item. */
enum { CTX_RECV, CTX_WORK, CTX_SEND, CTX_PARKED, CTX_IDLE };

typedef struct rpc_ctx {
	struct rpcserver *srv;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	nng_msg *msg;
	unsigned flags;	       /* METHOD_* of the request's method (peeked) */
	long long first_us;    /* when the request arrived */
	long long received_us; /* when it was (re)queued for a worker */
	long long park_key;    /* PARKED: appraisal id to wake on, 0 = any */
	long long wake_at_us;  /* PARKED: re-queue at this time (0: now) */
	struct rpc_ctx *prev;  /* PARKED: the waiters list */
	struct rpc_ctx *next;
	char peer[64];
	char addr[AUTH_ADDR_MAX + 1]; /* peer without the port: the rate limiter's key */
} rpc_ctx;

/* Notifications remembered so that a watcher that found nothing just
 * before an event committed is not parked past it (see park_ctx). */
#define NOTE_RING 64

struct rpcserver {
	nng_socket sock;
	int sock_open;
	nng_listener listeners[RPCSERVER_MAX_URLS];
	size_t n_listeners;
	workq *queue;
	pthread_t *threads;
	db **dbs;
	int n_workers;
	int n_started;
	size_t batch_max;
	dispatcher *disp;
	atomic_int draining;
	atomic_size_t in_flight;

	/* Every context ever made (freed at stop); spares not receiving. */
	pthread_mutex_t ctx_mu;
	rpc_ctx **ctxs;
	size_t n_ctxs, cap_ctxs;
	rpc_ctx **idle;
	size_t n_idle;
	size_t surplus; /* contexts receiving beyond the base pool */

	/* Parked long polls. */
	pthread_mutex_t park_mu;
	pthread_cond_t park_cv;
	rpc_ctx *parked; /* doubly linked, unordered */
	size_t n_parked, max_parked;
	unsigned long long note_gen; /* notifications seen */
	long long note_ring[NOTE_RING];
	int timer_stop;
	pthread_t timer;
	int timer_started;
	notify_listener *listener;
	int mu_init;
	auth_limit *limit; /* failed authentications per peer address */
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

/* The remote address of msg's pipe: `out` with the port (for logs and
 * events), `addr` without it (the rate limiter's key). */
static void peer_of(nng_msg *msg, char *out, size_t size, char *addr, size_t addr_size)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	nng_sockaddr sa;
	snprintf(out, size, "?");
	snprintf(addr, addr_size, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	char ip[INET6_ADDRSTRLEN] = "";
	switch (sa.s_family) {
	case NNG_AF_INET:
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
		snprintf(out, size, "%s:%u", ip, ntohs(sa.s_in.sa_port));
		snprintf(addr, addr_size, "%s", ip);
		break;
	case NNG_AF_INET6:
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
		snprintf(out, size, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
		snprintf(addr, addr_size, "%s", ip);
		break;
	case NNG_AF_IPC: {
		/* Local clients are told apart by their user id, so one local
		 * user guessing tokens does not lock out the others. */
		uint64_t uid = 0;
		snprintf(out, size, "ipc");
		if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0)
			snprintf(addr, addr_size, "ipc:uid=%llu", (unsigned long long)uid);
		else
			snprintf(addr, addr_size, "ipc");
		break;
	}
	case NNG_AF_INPROC:
		snprintf(out, size, "inproc");
		snprintf(addr, addr_size, "inproc");
		break;
	default:
		break;
	}
}

/* Counts a failed authentication of a token-bearing request (Request
 * field 2, token) answered UNAUTHENTICATED (Response field 2, status). */
static void count_auth_failure(rpcserver *s, rpc_ctx *c, const uint8_t *req, size_t req_len,
			       const opra_buf *reply)
{
	uint64_t status = 0, token_len = 0;
	if (!pb_peek_field(reply->data, reply->len, 2, &status, NULL) ||
	    status != OPRA_UNAUTHENTICATED)
		return;
	if (!pb_peek_field(req, req_len, 2, &token_len, NULL) || token_len == 0)
		return;
	if (auth_limit_fail(s->limit, c->addr, opra_now_us()))
		log_warn("too many failed authentications from %s: refusing its requests that "
			 "need a token until its budget refills (a possible token guessing "
			 "attempt; tokens are not logged)",
			 c->addr);
}

/* Answers without a worker (queue full, shutting down, too many watchers).
 * Cheap and non-blocking, callable from callbacks: reuses the request
 * message for the reply. */
static void reply_now_details(rpc_ctx *c, nng_msg *msg, int status, const char *text,
			      const char *details)
{
	opra_buf out = OPRA_BUF_INIT;
	if (envelope_response_pack(&out, 0, status, text, details, NULL, 0) != OPRA_OK) {
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

static void reply_now(rpc_ctx *c, nng_msg *msg, int status, const char *text)
{
	reply_now_details(c, msg, status, text, NULL);
}

static const char shutting_down[] =
	"the server is shutting down; retry on another server or shortly";

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
		c->received_us = c->first_us = opra_now_us();
		c->flags = dispatch_peek_flags(s->disp, nng_msg_body(c->msg), nng_msg_len(c->msg));
		peer_of(c->msg, c->peer, sizeof(c->peer), c->addr, sizeof(c->addr));
		atomic_fetch_add(&s->in_flight, 1);
		if (atomic_load(&s->draining)) {
			nng_msg *m = c->msg;
			c->msg = NULL;
			reply_now(c, m, OPRA_UNAVAILABLE, shutting_down);
			return;
		}
		if (!(c->flags & METHOD_PUBLIC)) {
			long long wait_ms = auth_limit_wait_ms(s->limit, c->addr, c->first_us);
			if (wait_ms > 0) {
				char text[256], details[64];
				snprintf(text, sizeof(text),
					 "too many failed authentications from %s; retry in %lld s "
					 "(a correct token works again then)",
					 c->addr, (wait_ms + 999) / 1000);
				snprintf(details, sizeof(details), "{\"retry_after_ms\": %lld}",
					 wait_ms);
				nng_msg *m = c->msg;
				c->msg = NULL;
				reply_now_details(c, m, OPRA_RESOURCE_EXHAUSTED, text, details);
				return;
			}
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
		/* A context that stood in for a parked one is no longer needed
		 * once any context is free again: keep the pool at its size. */
		pthread_mutex_lock(&s->ctx_mu);
		if (s->surplus > 0) {
			s->surplus--;
			c->state = CTX_IDLE;
			s->idle[s->n_idle++] = c;
			pthread_mutex_unlock(&s->ctx_mu);
			return;
		}
		pthread_mutex_unlock(&s->ctx_mu);
		ctx_recv(c);
		return;
	default:
		return;
	}
}

/* Makes a context (not yet receiving) and registers it; ctx_mu held. */
static rpc_ctx *ctx_new_locked(rpcserver *s)
{
	int nrv;
	if (s->n_ctxs == s->cap_ctxs)
		return NULL;
	rpc_ctx *c = opra_calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->srv = s;
	c->state = CTX_IDLE;
	if ((nrv = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0) {
		opra_free(c);
		return NULL;
	}
	if ((nrv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
		nng_aio_free(c->aio);
		opra_free(c);
		return NULL;
	}
	s->ctxs[s->n_ctxs++] = c;
	return c;
}

/* A parked context left the pool: start another one receiving in its
 * place (a spare, or a new one). */
static void replace_parked(rpcserver *s)
{
	rpc_ctx *c = NULL;
	pthread_mutex_lock(&s->ctx_mu);
	if (s->n_idle > 0)
		c = s->idle[--s->n_idle];
	else
		c = ctx_new_locked(s);
	if (c)
		s->surplus++;
	pthread_mutex_unlock(&s->ctx_mu);
	if (c == NULL) {
		log_warn("cannot open another nng context for a parked watcher; the context "
			 "pool shrinks by one until it is answered");
		return;
	}
	ctx_recv(c);
}

/* ---- parked long polls ---- */

static void park_link(rpcserver *s, rpc_ctx *c)
{
	c->prev = NULL;
	c->next = s->parked;
	if (s->parked)
		s->parked->prev = c;
	s->parked = c;
	s->n_parked++;
}

static void park_unlink(rpcserver *s, rpc_ctx *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->parked = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->n_parked--;
}

static int note_matches(long long note, long long key)
{
	return note < 0 || key == 0 || note == key;
}

/* Called by the LISTEN thread: events of appraisal `id` committed (-1:
 * anything may have). Marks the matching watchers due; the timer thread
 * re-queues them. */
static void on_notify(void *arg, long long id)
{
	rpcserver *s = arg;
	int any = 0;
	pthread_mutex_lock(&s->park_mu);
	s->note_gen++;
	s->note_ring[s->note_gen % NOTE_RING] = id;
	for (rpc_ctx *c = s->parked; c; c = c->next)
		if (note_matches(id, c->park_key)) {
			c->wake_at_us = 0;
			any = 1;
		}
	if (any)
		pthread_cond_signal(&s->park_cv);
	pthread_mutex_unlock(&s->park_mu);
}

static unsigned long long note_gen(rpcserver *s)
{
	pthread_mutex_lock(&s->park_mu);
	unsigned long long g = s->note_gen;
	pthread_mutex_unlock(&s->park_mu);
	return g;
}

/* Parks c (its message kept, no reply) until woken. gen0 is the
 * notification count from before the handler looked for events: a
 * notification for its key since then means the events may already be
 * there, so it is due at once instead of waiting (no lost wake-up). */
static void park_ctx(rpcserver *s, rpc_ctx *c, long long key, long long ms, unsigned long long gen0)
{
	long long now = opra_now_us();
	pthread_mutex_lock(&s->park_mu);
	if (atomic_load(&s->draining) || s->timer_stop) {
		pthread_mutex_unlock(&s->park_mu);
		nng_msg *m = c->msg;
		c->msg = NULL;
		reply_now(c, m, OPRA_UNAVAILABLE,
			  "the server is shutting down; reconnect (a watcher resumes from its "
			  "cursor)");
		return;
	}
	if (s->n_parked >= s->max_parked) {
		size_t n = s->n_parked;
		pthread_mutex_unlock(&s->park_mu);
		nng_msg *m = c->msg;
		c->msg = NULL;
		char text[160];
		snprintf(text, sizeof(text),
			 "the server already has %zu watchers waiting (its limit); retry shortly "
			 "or use another server",
			 n);
		reply_now(c, m, OPRA_RESOURCE_EXHAUSTED, text);
		return;
	}
	int due = s->note_gen - gen0 >= NOTE_RING;
	for (unsigned long long g = gen0 + 1; !due && g <= s->note_gen; g++)
		due = note_matches(s->note_ring[g % NOTE_RING], key);
	/* Without the LISTEN connection, look again every second. */
	if (!notify_connected(s->listener) && ms > 1000)
		ms = 1000;
	c->state = CTX_PARKED;
	c->park_key = key;
	c->wake_at_us = due ? 0 : now + ms * 1000;
	park_link(s, c);
	pthread_cond_signal(&s->park_cv);
	pthread_mutex_unlock(&s->park_mu);
	replace_parked(s);
}

/* Re-queues parked requests whose time has come (expired, or woken). A
 * full queue leaves them parked to try again shortly. */
static void *timer_main(void *arg)
{
	rpcserver *s = arg;
	pthread_mutex_lock(&s->park_mu);
	while (!s->timer_stop) {
		long long now = opra_now_us();
		long long next = now + 1000 * 1000;
		rpc_ctx *c = s->parked;
		while (c) {
			rpc_ctx *nx = c->next;
			if (c->wake_at_us <= now) {
				park_unlink(s, c);
				c->state = CTX_WORK;
				c->received_us = now;
				/* Once pushed, c belongs to a worker: not touched again. */
				if (workq_push(s->queue, c) != OPRA_OK) {
					c->state = CTX_PARKED;
					c->wake_at_us = now + 20 * 1000;
					park_link(s, c);
					if (c->wake_at_us < next)
						next = c->wake_at_us;
				}
			} else if (c->wake_at_us < next) {
				next = c->wake_at_us;
			}
			c = nx;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		long long wait_us = next - now;
		if (wait_us < 1000)
			wait_us = 1000;
		ts.tv_sec += (time_t)(wait_us / 1000000);
		ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->park_cv, &s->park_mu, &ts);
	}
	pthread_mutex_unlock(&s->park_mu);
	return NULL;
}

/* At stop: every parked watcher is answered UNAVAILABLE at once. */
static void park_flush(rpcserver *s)
{
	pthread_mutex_lock(&s->park_mu);
	while (s->parked) {
		rpc_ctx *c = s->parked;
		park_unlink(s, c);
		nng_msg *m = c->msg;
		c->msg = NULL;
		reply_now(c, m, OPRA_UNAVAILABLE,
			  "the server is shutting down; reconnect (a watcher resumes from its "
			  "cursor)");
	}
	pthread_mutex_unlock(&s->park_mu);
}

size_t rpcserver_parked(rpcserver *s)
{
	pthread_mutex_lock(&s->park_mu);
	size_t n = s->n_parked;
	pthread_mutex_unlock(&s->park_mu);
	return n;
}

/* ---- workers ---- */

typedef struct {
	rpcserver *srv;
	int index;
} worker_arg;

static int is_batch_item(void *item, void *arg)
{
	(void)arg;
	return (((rpc_ctx *)item)->flags & METHOD_BATCH) != 0;
}

/* Sends the response in out on c, reusing the request message. */
static void send_reply(rpcserver *s, rpc_ctx *c, nng_msg *msg, opra_buf *out)
{
	nng_msg_clear(msg);
	if (nng_msg_append(msg, out->data, out->len) != 0) {
		nng_msg_clear(msg);
		opra_buf_reset(out);
		dispatch_error_response(out, 0, OPRA_RESOURCE_EXHAUSTED,
					"the server ran out of memory building the reply");
		if (nng_msg_append(msg, out->data, out->len) != 0) {
			nng_msg_free(msg);
			atomic_fetch_sub(&s->in_flight, 1);
			ctx_recv(c);
			return;
		}
	}
	ctx_send(c, msg);
}

static void *worker_main(void *arg)
{
	worker_arg *wa = arg;
	rpcserver *s = wa->srv;
	db *dbh = s->dbs[wa->index];
	size_t max = s->batch_max;
	rpc_ctx **cs = opra_calloc(max, sizeof(*cs));
	opra_buf *outs = opra_calloc(max, sizeof(*outs));
	dispatch_item *items = opra_calloc(max, sizeof(*items));
	opra_free(wa);
	if (cs == NULL || outs == NULL || items == NULL) {
		/* Cannot work without them: at least do not take requests. */
		log_error("a worker could not allocate its buffers and stops");
		goto done;
	}

	for (;;) {
		rpc_ctx *first = workq_pop(s->queue);
		if (first == NULL)
			break;
		size_t n = 1;
		cs[0] = first;
		if ((first->flags & METHOD_BATCH) && max > 1)
			n += workq_take_matching(s->queue, is_batch_item, NULL, (void **)(cs + 1),
						 max - 1);
		unsigned long long gen0 = note_gen(s);
		long long now = opra_now_us();
		for (size_t i = 0; i < n; i++) {
			rpc_ctx *c = cs[i];
			opra_buf_reset(&outs[i]);
			items[i] = (dispatch_item){
				.data = nng_msg_body(c->msg),
				.len = nng_msg_len(c->msg),
				.peer = c->peer,
				.queued_us = now - c->received_us,
				.waited_ms = (now - c->first_us) / 1000,
				.may_park = 1,
				.out = &outs[i],
			};
		}
		dispatch_run(s->disp, dbh, items, n);
		for (size_t i = 0; i < n; i++) {
			rpc_ctx *c = cs[i];
			if (items[i].parked) {
				park_ctx(s, c, items[i].park_key, items[i].park_ms, gen0);
				continue;
			}
			nng_msg *msg = c->msg;
			c->msg = NULL;
			if (!(c->flags & METHOD_PUBLIC))
				count_auth_failure(s, c, nng_msg_body(msg), nng_msg_len(msg),
						   &outs[i]);
			send_reply(s, c, msg, &outs[i]);
			/* Keep big buffers from lingering in idle workers. */
			if (outs[i].cap > 1024 * 1024)
				opra_buf_free(&outs[i]);
		}
	}
done:
	for (size_t i = 0; outs && i < max; i++)
		opra_buf_free(&outs[i]);
	opra_free(outs);
	opra_free(cs);
	opra_free(items);
	return NULL;
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
	} else if (tlsconf_url_plain_remote(url)) {
		if (!o->insecure) {
			nng_listener_close(l);
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"refusing to listen on %s without TLS: tokens and "
				"evidence would cross the network in clear text. Use "
				"tls+tcp://HOST:PORT with --tls-cert/--tls-key, listen on "
				"127.0.0.1, or pass --insecure if the network is protected "
				"otherwise (e.g. a TLS proxy in front)",
				url);
		}
		log_warn("*** %s is reachable from other machines WITHOUT TLS (--insecure): "
			 "tokens and evidence travel in clear text. Use tls+tcp:// with "
			 "--tls-cert/--tls-key. ***",
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
	s->batch_max = o->batch_max ? o->batch_max : RPCSERVER_BATCH_MAX;
	s->max_parked = o->max_parked ? o->max_parked : RPCSERVER_MAX_PARKED;
	pthread_mutex_init(&s->ctx_mu, NULL);
	pthread_mutex_init(&s->park_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->park_cv, &ca);
	pthread_condattr_destroy(&ca);
	s->mu_init = 1;
	if ((rc = auth_limit_create(&s->limit, o->auth_fail_burst, o->auth_fail_per_min)) !=
	    OPRA_OK)
		goto done;
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
	if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
		rc = opra_err_set(OPRA_INTERNAL, "cannot start the timer thread");
		goto done;
	}
	s->timer_started = 1;
	if ((rc = notify_start(&s->listener, o->conninfo, on_notify, s)) != OPRA_OK)
		goto done;
	if ((nrv = nng_rep0_open(&s->sock)) != 0) {
		rc = opra_err_set(OPRA_INTERNAL, "cannot open socket: %s", nng_strerror(nrv));
		goto done;
	}
	s->sock_open = 1;
	/* Before any listener exists: oversize messages are dropped by the
	 * transport before they are allocated in full. */
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, o->recv_max);
	/* More contexts than workers + queue, so overload is answered with
	 * RESOURCE_EXHAUSTED instead of silently stalling in nng; room for one
	 * stand-in per parked watcher. */
	size_t base = (size_t)o->workers + o->queue_depth + 16;
	s->cap_ctxs = base + s->max_parked + 16;
	s->ctxs = opra_calloc(s->cap_ctxs, sizeof(rpc_ctx *));
	s->idle = opra_calloc(s->cap_ctxs, sizeof(rpc_ctx *));
	if (s->ctxs == NULL || s->idle == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < base; i++) {
		if (ctx_new_locked(s) == NULL) {
			rc = opra_err_set(OPRA_INTERNAL, "cannot create an nng context");
			goto done;
		}
	}
	for (size_t i = 0; i < o->n_urls; i++)
		if ((rc = listen_one(s, o->urls[i], o)) != OPRA_OK)
			goto done;
	for (size_t i = 0; i < base; i++)
		ctx_recv(s->ctxs[i]);
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
	/* Parked watchers would wait for events that no longer matter. */
	if (s->mu_init)
		park_flush(s);
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
	 * ECANCELED), then the timer, the listener and the workers, and only
	 * then close the socket. Closing the socket under live aios made nng
	 * 1.5.2 panic on a destroyed mutex in nng_aio_stop. */
	if (s->mu_init)
		pthread_mutex_lock(&s->ctx_mu);
	size_t n_ctxs = s->n_ctxs;
	if (s->mu_init)
		pthread_mutex_unlock(&s->ctx_mu);
	for (size_t i = 0; s->ctxs && i < n_ctxs; i++)
		nng_aio_stop(s->ctxs[i]->aio);
	if (s->timer_started) {
		pthread_mutex_lock(&s->park_mu);
		s->timer_stop = 1;
		pthread_cond_signal(&s->park_cv);
		pthread_mutex_unlock(&s->park_mu);
		pthread_join(s->timer, NULL);
	}
	notify_stop(s->listener);
	if (s->queue)
		workq_close(s->queue);
	for (int i = 0; i < s->n_started; i++)
		pthread_join(s->threads[i], NULL);
	/* A stand-in context a worker opened while the stop began. */
	for (size_t i = n_ctxs; s->ctxs && i < s->n_ctxs; i++)
		nng_aio_stop(s->ctxs[i]->aio);
	/* Workers may have parked requests after the flush (they answer
	 * UNAVAILABLE once timer_stop is set, but a stopped aio never sends):
	 * their messages are freed below with the contexts. */
	if (s->sock_open)
		nng_close(s->sock); /* closes listeners, pipes and contexts */
	for (size_t i = 0; s->ctxs && i < s->n_ctxs; i++) {
		rpc_ctx *c = s->ctxs[i];
		if (c->msg)
			nng_msg_free(c->msg);
		nng_aio_free(c->aio);
		opra_free(c);
	}
	for (int i = 0; s->dbs && i < s->n_workers; i++)
		db_close(s->dbs[i]);
	workq_free(s->queue);
	auth_limit_free(s->limit);
	if (s->mu_init) {
		pthread_mutex_destroy(&s->ctx_mu);
		pthread_mutex_destroy(&s->park_mu);
		pthread_cond_destroy(&s->park_cv);
	}
	opra_free(s->dbs);
	opra_free(s->threads);
	opra_free(s->ctxs);
	opra_free(s->idle);
	opra_free(s);
}
