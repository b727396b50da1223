#include "rpc.h"

#include "envelope.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_version.h"
#include "tlsconf.h"
#include "token.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct rpc_client {
	char *urls[RPC_MAX_URLS];
	size_t n_urls;
	char *token;
	char *client_id;
	char *site;
	char *ca_file;
	char *cert_file;
	char *key_file;
	int tls_insecure;
	int timeout_ms;
	nng_socket sock;
	int open;
	int connected_url; /* index into urls, -1 when not connected */
	long long last_rtt_us;
	/* Set by nng when the socket's connection goes away (the server
	 * stopped or died while we were idle): the next call reconnects,
	 * trying the URLs in order, instead of waiting on a dead address.
	 * Cleared when a new socket connects. */
	atomic_int lost;
	atomic_int sock_id; /* nng_socket_id of sock while open, else 0 */
};

/* nng pipe callback: no blocking, no waiting, just a flag. Pipes of a
 * socket closed earlier (its callbacks may run late) are ignored. */
static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_client *c = arg;
	int id = nng_socket_id(nng_pipe_socket(p));
	if (id <= 0 || id != atomic_load(&c->sock_id))
		return;
	atomic_store(&c->lost, ev == NNG_PIPE_EV_REM_POST);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return OPRA_OK;
	*dst = opra_strdup(src);
	return *dst ? OPRA_OK : opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

int rpc_client_open(rpc_client **out, const rpc_options *o)
{
	rpc_client *c = NULL;
	int rc = OPRA_OK;

	*out = NULL;
	if (o->n_urls == 0 || o->n_urls > RPC_MAX_URLS) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  o->n_urls ? "too many server URLs (at most 16)"
					    : "no server URL: pass --server, set OPRA_SERVER, or "
					      "put server = ... in the config file");
		goto done;
	}
	c = opra_calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	c->connected_url = -1;
	for (size_t i = 0; i < o->n_urls; i++) {
		if ((rc = dup_opt(&c->urls[i], o->urls[i])) != OPRA_OK)
			goto done;
		c->n_urls++;
	}
	if ((rc = dup_opt(&c->token, o->token)) != OPRA_OK ||
	    (rc = dup_opt(&c->client_id, o->client_id)) != OPRA_OK ||
	    (rc = dup_opt(&c->site, o->site)) != OPRA_OK ||
	    (rc = dup_opt(&c->ca_file, o->ca_file)) != OPRA_OK ||
	    (rc = dup_opt(&c->cert_file, o->cert_file)) != OPRA_OK ||
	    (rc = dup_opt(&c->key_file, o->key_file)) != OPRA_OK)
		goto done;
	c->tls_insecure = o->tls_insecure;
	/* A bearer token sent in clear text can be replayed by whoever reads
	 * it: refuse before anything is sent (docs/security.md). */
	for (size_t i = 0; o->token && o->token[0] && !o->insecure && i < o->n_urls; i++) {
		if (tlsconf_url_plain_remote(o->urls[i])) {
			rc = opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"refusing to send the token in clear text to %s: use "
				"tls+tcp://HOST:PORT (with --ca-file), or pass --insecure "
				"(config: insecure = true) if the network is protected "
				"otherwise",
				o->urls[i]);
			goto done;
		}
	}
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : RPC_DEFAULT_TIMEOUT_MS;
	*out = c;
	c = NULL;
done:
	rpc_client_close(c);
	return rc;
}

static void disconnect(rpc_client *c)
{
	if (c->open) {
		atomic_store(&c->sock_id, 0);
		nng_close(c->sock);
		c->open = 0;
	}
	c->connected_url = -1;
}

void rpc_client_close(rpc_client *c)
{
	if (c == NULL)
		return;
	disconnect(c);
	for (size_t i = 0; i < c->n_urls; i++)
		opra_free(c->urls[i]);
	opra_free(c->token);
	opra_free(c->client_id);
	opra_free(c->site);
	opra_free(c->ca_file);
	opra_free(c->cert_file);
	opra_free(c->key_file);
	opra_free(c);
}

const char *rpc_client_url(const rpc_client *c)
{
	return c->connected_url >= 0 ? c->urls[c->connected_url] : NULL;
}

long long rpc_last_rtt_us(const rpc_client *c)
{
	return c->last_rtt_us;
}

void rpc_new_key(char *out)
{
	opra_random_hex(out, 16);
}

static int nng_status(int nrv)
{
	switch (nrv) {
	case NNG_ETIMEDOUT:
		return OPRA_DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return OPRA_RESOURCE_EXHAUSTED;
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
	case NNG_EINVAL:
		return OPRA_INVALID_ARGUMENT;
	default:
		return OPRA_UNAVAILABLE;
	}
}

static int tls_setup(rpc_client *c, nng_dialer d, const char *url)
{
	nng_tls_config *cfg = NULL;
	int nrv;

	if ((nrv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0)
		return opra_err_set(OPRA_INTERNAL, "TLS is not available: %s", nng_strerror(nrv));
	if (c->ca_file) {
		if ((nrv = nng_tls_config_ca_file(cfg, c->ca_file)) != 0) {
			nng_tls_config_free(cfg);
			return opra_err_set(OPRA_INVALID_ARGUMENT, "cannot load CA file %s: %s",
					    c->ca_file, nng_strerror(nrv));
		}
		nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	} else if (c->tls_insecure) {
		nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
	} else {
		nng_tls_config_free(cfg);
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s uses TLS: give the CA that signed the server's certificate "
				    "with --ca-file (or OPRA_CA_FILE)",
				    url);
	}
	if (c->cert_file) {
		int rc = tlsconf_own_cert(cfg, c->cert_file, c->key_file);
		if (rc != OPRA_OK) {
			nng_tls_config_free(cfg);
			return rc;
		}
	}
	/* The server name to verify is the host part of the URL. */
	const char *host = strstr(url, "://");
	if (host) {
		char name[256];
		host += 3;
		size_t n = strcspn(host, ":/");
		if (n > 0 && n < sizeof(name)) {
			memcpy(name, host, n);
			name[n] = '\0';
			nng_tls_config_server_name(cfg, name);
		}
	}
	nrv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	if (nrv != 0)
		return opra_err_set(OPRA_INTERNAL, "cannot configure TLS: %s", nng_strerror(nrv));
	return OPRA_OK;
}

static int connect_any(rpc_client *c)
{
	char why[1024] = "";
	size_t wlen = 0;

	if (c->open && atomic_load(&c->lost))
		disconnect(c); /* the server went away while we were idle */
	if (c->open)
		return OPRA_OK;
	for (size_t i = 0; i < c->n_urls; i++) {
		nng_dialer d;
		int nrv, rc;
		if ((nrv = nng_req0_open(&c->sock)) != 0)
			return opra_err_set(OPRA_INTERNAL, "cannot open socket: %s",
					    nng_strerror(nrv));
		c->open = 1;
		nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, c->timeout_ms);
		nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, c->timeout_ms);
		nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 256u * 1024 * 1024);
		/* No transport-level resends: a request whose connection drops
		 * fails at once, and the caller retries with the same idempotency
		 * key (possibly on another server). nng 1.5.2's automatic resend
		 * of a request the server keeps refusing (e.g. over its size
		 * limit) can also keep nng_close from returning. */
		nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
		/* No background redialling either: when the connection drops,
		 * `lost` makes the next call reconnect (trying every URL), so
		 * nng's own redial would only race with nng_close (under ASan a
		 * socket closed while its dialer was reconnecting after the server
		 * dropped an oversize request leaked the dialer and its pipe, in
		 * about one run of db_test_rpc in five). */
		nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 3600 * 1000);
		nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 3600 * 1000);
		atomic_store(&c->lost, 0);
		atomic_store(&c->sock_id, nng_socket_id(c->sock));
		nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_event, c);
		nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_event, c);
		/* EAGAIN: the server's listen backlog is full (a burst of clients
		 * connecting at once to an ipc:// socket fails this way instead of
		 * queueing): the server is there, so wait briefly and dial the same
		 * URL again (a dialer starts once: a new one each time), for at
		 * most about a second and never past the timeout. */
		for (int ms = 5, waited = 0;; ms = ms < 50 ? ms * 2 : 100) {
			nrv = nng_dialer_create(&d, c->sock, c->urls[i]);
			if (nrv == 0 && strncmp(c->urls[i], "tls+", 4) == 0) {
				rc = tls_setup(c, d, c->urls[i]);
				if (rc != OPRA_OK) {
					disconnect(c);
					return rc;
				}
			}
			if (nrv == 0)
				nrv = nng_dialer_start(d, 0); /* blocking: fail fast when down */
			if (nrv != NNG_EAGAIN || waited >= 1000 || waited >= c->timeout_ms)
				break;
			nng_dialer_close(d);
			nng_msleep((nng_duration)ms);
			waited += ms;
		}
		if (nrv == 0) {
			c->connected_url = (int)i;
			return OPRA_OK;
		}
		if (wlen < sizeof(why))
			wlen += (size_t)snprintf(why + wlen, sizeof(why) - wlen, "%s%s: %s",
						 wlen ? "; " : "", c->urls[i], nng_strerror(nrv));
		disconnect(c);
		if (nrv == NNG_EADDRINVAL || nrv == NNG_ENOTSUP)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "bad server URL %s (%s): use tcp://HOST:PORT, "
					    "tls+tcp://HOST:PORT or ipc:///PATH",
					    c->urls[i], nng_strerror(nrv));
	}
	return opra_err_set(OPRA_UNAVAILABLE,
			    "cannot reach the opra server (%s); is oprad running? see 'opra help "
			    "ping'",
			    why);
}

static int exchange(rpc_client *c, const uint8_t *data, size_t len, nng_msg **reply)
{
	nng_msg *msg = NULL;
	int nrv;

	*reply = NULL;
	if ((nrv = nng_msg_alloc(&msg, 0)) != 0 || (nrv = nng_msg_append(msg, data, len)) != 0) {
		nng_msg_free(msg);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	long long t0 = opra_now_us();
	if ((nrv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		nng_msg_free(msg); /* still ours when the send fails */
		disconnect(c);
		return opra_err_set(nng_status(nrv), "cannot send to %s: %s",
				    c->urls[c->connected_url < 0 ? 0 : c->connected_url],
				    nng_strerror(nrv));
	}
	nrv = nng_recvmsg(c->sock, reply, 0);
	c->last_rtt_us = opra_now_us() - t0;
	if (nrv != 0) {
		const char *url = rpc_client_url(c);
		disconnect(c);
		if (nrv == NNG_ETIMEDOUT)
			return opra_err_set(OPRA_DEADLINE_EXCEEDED,
					    "no answer from %s within %.1f s (raise --timeout, or "
					    "check the server)",
					    url ? url : "the server", c->timeout_ms / 1000.0);
		if (nrv == NNG_ECONNRESET || nrv == NNG_ECONNSHUT || nrv == NNG_ECLOSED)
			return opra_err_set(OPRA_UNAVAILABLE,
					    "%s closed the connection before answering (%s); the "
					    "server may have stopped, or refused the %zu-byte "
					    "request as larger than its --max-message-size",
					    url ? url : "the server", nng_strerror(nrv), len);
		return opra_err_set(nng_status(nrv), "no answer from %s: %s",
				    url ? url : "the server", nng_strerror(nrv));
	}
	return OPRA_OK;
}

int rpc_call_raw(rpc_client *c, const uint8_t *data, size_t len, uint8_t **reply, size_t *reply_len)
{
	nng_msg *msg = NULL;
	int rc;

	*reply = NULL;
	*reply_len = 0;
	if ((rc = connect_any(c)) != OPRA_OK)
		return rc;
	if ((rc = exchange(c, data, len, &msg)) != OPRA_OK)
		return rc;
	size_t n = nng_msg_len(msg);
	*reply = opra_malloc(n + 1);
	if (*reply == NULL) {
		nng_msg_free(msg);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	memcpy(*reply, nng_msg_body(msg), n);
	*reply_len = n;
	nng_msg_free(msg);
	return OPRA_OK;
}

int rpc_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
	     const char *idempotency_key)
{
	Opra__V1__Request env = OPRA__V1__REQUEST__INIT;
	Opra__V1__Response *r = NULL;
	opra_buf body = OPRA_BUF_INIT, wire = OPRA_BUF_INIT;
	nng_msg *reply = NULL;
	uint64_t request_id;
	int rc = OPRA_OK;

	if (resp)
		*resp = NULL;
	opra_err_clear();
	if (req) {
		size_t n = protobuf_c_message_get_packed_size(req);
		uint8_t *dst = opra_buf_reserve(&body, n);
		if (dst == NULL) {
			rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory (%zu bytes)", n);
			goto done;
		}
		protobuf_c_message_pack(req, dst);
		body.len = n;
	}
	opra_random(&request_id, sizeof(request_id));
	env.method = (char *)method;
	env.token = c->token ? c->token : (char *)"";
	env.request_id = request_id;
	env.idempotency_key = (char *)(idempotency_key ? idempotency_key : "");
	env.deadline_ms = (uint32_t)c->timeout_ms;
	env.body.data = body.data;
	env.body.len = body.len;
	env.client_id = c->client_id ? c->client_id : (char *)("opra/" OPRA_VERSION);
	env.site = c->site ? c->site : (char *)"";
	env.protocol_version = OPRA_PROTOCOL_VERSION;
	if ((rc = envelope_request_pack(&wire, &env)) != OPRA_OK)
		goto done;
	if ((rc = connect_any(c)) != OPRA_OK)
		goto done;
	if ((rc = exchange(c, wire.data, wire.len, &reply)) != OPRA_OK)
		goto done;
	if ((rc = envelope_response_decode(&r, nng_msg_body(reply), nng_msg_len(reply))) != OPRA_OK)
		goto done;
	if (r->status != OPRA_OK) {
		rc = opra_err_set((int)r->status, "%s",
				  r->message[0] ? r->message : opra_status_name((int)r->status));
		if (r->details[0])
			opra_err_set_details(r->details);
		goto done;
	}
	if (resp_desc && resp) {
		*resp = protobuf_c_message_unpack(resp_desc, NULL, r->body.len, r->body.data);
		if (*resp == NULL) {
			rc = opra_err_set(OPRA_INTERNAL,
					  "the server's reply to %s could not be decoded "
					  "(client and server versions differ?)",
					  method);
			goto done;
		}
	}
done:
	if (reply)
		nng_msg_free(reply);
	envelope_response_free(r);
	opra_buf_free(&body);
	opra_buf_free(&wire);
	return rc;
}
