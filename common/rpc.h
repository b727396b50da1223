/* The client side of the opra protocol: one nng req0 socket, one request at
 * a time. Used by the CLI, the benchmarks, the tests and any automation
 * written in C. Not thread-safe: use one rpc_client per thread. */
#ifndef OPRA_RPC_H
#define OPRA_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_client rpc_client;

#define RPC_MAX_URLS	       16
#define RPC_DEFAULT_TIMEOUT_MS 30000

typedef struct {
	/* Server URLs tried in order until one connects (tcp://, ipc://,
	 * tls+tcp://, inproc://). */
	const char *urls[RPC_MAX_URLS];
	size_t n_urls;
	const char *token;     /* may be NULL for System/Ping */
	int timeout_ms;	       /* per call; 0: RPC_DEFAULT_TIMEOUT_MS */
	const char *client_id; /* recorded by the server in events; may be NULL */
	const char *site;      /* site label; may be NULL */
	const char *ca_file;   /* PEM CA bundle to verify tls+tcp servers */
	const char *cert_file; /* optional client certificate (PEM, with key) */
	const char *key_file;
	int tls_insecure; /* do not verify the server certificate (testing) */
	int insecure;	  /* allow sending the token over plain tcp:// to a host that is not
			     loopback; without it rpc_client_open refuses (INVALID_ARGUMENT)
			     when a token is set and such a URL is listed */
} rpc_options;

/* Creates a client; nothing is connected until the first call. Strings in
 * opts are copied. Caller frees with rpc_client_close. */
int rpc_client_open(rpc_client **out, const rpc_options *opts);
void rpc_client_close(rpc_client *c);

/* Calls `method` ("opra.v1.System/Ping") with request message req. On OK,
 * *resp (if resp_desc is not NULL) is the decoded reply, owned by the caller
 * (free with protobuf_c_message_free_unpacked(*resp, NULL)). On failure
 * returns the status; opra_err_msg() holds the server's (or the transport's)
 * message and opra_err_details() any details JSON. idempotency_key may be
 * NULL: mutating methods need one and the server will refuse without. */
int rpc_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
	     const char *idempotency_key);

/* Sends raw bytes as one message and returns the raw reply (for tests and
 * fuzzing). *reply is malloc'd (opra_free). */
int rpc_call_raw(rpc_client *c, const uint8_t *data, size_t len, uint8_t **reply,
		 size_t *reply_len);

/* The URL of the server the client is connected to, or NULL. */
const char *rpc_client_url(const rpc_client *c);
/* Round-trip time of the last call in microseconds. */
long long rpc_last_rtt_us(const rpc_client *c);
/* A fresh idempotency key (32 hex chars) in out (>= 33 bytes). */
void rpc_new_key(char *out);

#endif
