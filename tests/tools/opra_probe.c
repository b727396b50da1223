/* opra-probe: sends hostile or unusual messages to a running oprad, for the
 * e2e tests. Prints the server's status name for each answer (or NO-REPLY).
 *
 *   opra-probe URL unknown-method          a well-formed request for a method
 *                                          that does not exist
 *   opra-probe URL garbage N               N random messages (1..512 bytes)
 *   opra-probe URL truncated               every prefix of a valid request
 *   opra-probe URL oversize BYTES          one message of BYTES zero bytes
 *   opra-probe URL wrong-body              a Ping body sent to User/Add
 *
 * Exit 0 when every answer that came back is a well-formed Response. */
#include "envelope.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "rpc.h"

#include "opra/v1/system.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rpc_client *connect_to(const char *url, int timeout_ms)
{
	rpc_options o = {.n_urls = 1, .timeout_ms = timeout_ms};
	o.urls[0] = url;
	rpc_client *c = NULL;
	if (rpc_client_open(&c, &o) != OPRA_OK) {
		fprintf(stderr, "opra-probe: %s\n", opra_err_msg());
		exit(2);
	}
	return c;
}

/* Sends raw bytes; prints the status name; returns 1 for a malformed reply. */
static int send_raw(const char *url, const uint8_t *data, size_t len, int timeout_ms)
{
	rpc_client *c = connect_to(url, timeout_ms);
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	int bad = 0;
	if (rpc_call_raw(c, data, len, &reply, &reply_len) != OPRA_OK) {
		printf("NO-REPLY %s\n", opra_err_msg());
	} else {
		Opra__V1__Response *r = NULL;
		if (envelope_response_decode(&r, reply, reply_len) != OPRA_OK) {
			printf("MALFORMED-REPLY\n");
			bad = 1;
		} else {
			printf("%s %s\n", opra_status_name((int)r->status), r->message);
			envelope_response_free(r);
		}
	}
	opra_free(reply);
	rpc_client_close(c);
	return bad;
}

static size_t pack_request(uint8_t *buf, const char *method, const ProtobufCMessage *body,
			   uint8_t *bodybuf)
{
	Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
	r.method = (char *)method;
	r.request_id = 1;
	r.idempotency_key = (char *)"probe-key";
	r.protocol_version = 1;
	r.token = (char *)"opra_probeprobeprobeprobeprobeprobeprobeprobeprobeprobeprob";
	if (body) {
		r.body.len = protobuf_c_message_pack(body, bodybuf);
		r.body.data = bodybuf;
	}
	return opra__v1__request__pack(&r, buf);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: opra-probe URL unknown-method|garbage N|truncated|"
				"oversize BYTES|wrong-body\n");
		return 2;
	}
	const char *url = argv[1], *mode = argv[2];
	uint8_t buf[1024], body[256];
	int bad = 0;
	if (strcmp(mode, "unknown-method") == 0) {
		size_t n = pack_request(buf, "opra.v1.Nothing/Here", NULL, body);
		bad = send_raw(url, buf, n, 5000);
	} else if (strcmp(mode, "wrong-body") == 0) {
		/* Bytes that are not a UserAddRequest: a varint field with the
		 * wire type of a string. */
		Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
		uint8_t junk[] = {0x0a, 0x7f, 0x01};
		r.method = (char *)"opra.v1.User/Add";
		r.idempotency_key = (char *)"k";
		r.body.data = junk;
		r.body.len = sizeof(junk);
		size_t n = opra__v1__request__pack(&r, buf);
		bad = send_raw(url, buf, n, 5000);
	} else if (strcmp(mode, "garbage") == 0 && argc > 3) {
		long count = strtol(argv[3], NULL, 10);
		srand(1234);
		for (long i = 0; i < count; i++) {
			size_t n = 1 + (size_t)(rand() % 512);
			uint8_t g[512];
			for (size_t k = 0; k < n; k++)
				g[k] = (uint8_t)rand();
			bad |= send_raw(url, g, n, 5000);
		}
	} else if (strcmp(mode, "truncated") == 0) {
		Opra__V1__PingRequest ping = OPRA__V1__PING_REQUEST__INIT;
		size_t n = pack_request(buf, "opra.v1.System/Ping", &ping.base, body);
		for (size_t cut = 1; cut < n; cut++)
			bad |= send_raw(url, buf, cut, 5000);
	} else if (strcmp(mode, "oversize") == 0 && argc > 3) {
		size_t n = (size_t)strtoull(argv[3], NULL, 10);
		uint8_t *big = calloc(1, n ? n : 1);
		if (big == NULL)
			return 2;
		bad = send_raw(url, big, n, 2000);
		free(big);
	} else {
		fprintf(stderr, "opra-probe: unknown mode '%s'\n", mode);
		return 2;
	}
	return bad;
}
