/* Fuzz target: the request envelope decoder and the whole transport-free
 * request pipeline up to authentication (no database is reached: every
 * request that gets that far carries no valid token, or is System/Ping).
 * Also round-trips response envelopes. */
#include "dispatch.h"
#include "envelope.h"
#include "opra_log.h"
#include "opra_version.h"

#include "opra/v1/system.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t fuzz_seed(size_t index, uint8_t *buf, size_t cap);

static dispatcher *disp;
static server_info info = {OPRA_VERSION, 4u << 20};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (disp == NULL) {
		opra_log_set_level(OPRA_LOG_ERROR);
		if (dispatch_create(&disp, &info) != 0)
			abort();
	}
	Opra__V1__Request *req = NULL;
	if (envelope_request_decode(&req, data, size) == 0) {
		/* A decoded envelope must be safe to print and re-encode. */
		if (strlen(req->method) == 0 || strlen(req->method) > ENVELOPE_METHOD_MAX)
			abort();
		opra_buf b = OPRA_BUF_INIT;
		if (envelope_request_pack(&b, req) != 0)
			abort();
		opra_buf_free(&b);
		envelope_request_free(req);
	}
	/* The dispatcher must answer every input with a decodable response.
	 * There is no database here (NULL): inputs with a well-formed token
	 * would go on to look it up, so those stop at the envelope checks. */
	if (memmem(data, size, "opra_", 5) == NULL) {
		opra_buf out = OPRA_BUF_INIT;
		dispatch_handle(disp, NULL, data, size, "fuzz", 0, &out);
		Opra__V1__Response *resp = NULL;
		if (envelope_response_decode(&resp, out.data, out.len) != 0)
			abort();
		envelope_response_free(resp);
		opra_buf_free(&out);
	}
	Opra__V1__Response *r2 = NULL;
	if (envelope_response_decode(&r2, data, size) == 0)
		envelope_response_free(r2);
	return 0;
}

static size_t pack_request(uint8_t *buf, size_t cap, const char *method, const char *token,
			   const ProtobufCMessage *body)
{
	uint8_t bodybuf[1024];
	Opra__V1__Request r = OPRA__V1__REQUEST__INIT;
	r.method = (char *)method;
	r.token = (char *)token;
	r.request_id = 42;
	r.idempotency_key = (char *)"k1";
	r.deadline_ms = 1000;
	r.client_id = (char *)"fuzz";
	r.site = (char *)"columbus";
	r.protocol_version = 1;
	if (body) {
		r.body.len = protobuf_c_message_pack(body, bodybuf);
		r.body.data = bodybuf;
	}
	size_t n = opra__v1__request__get_packed_size(&r);
	if (n > cap)
		return 0;
	return opra__v1__request__pack(&r, buf);
}

size_t fuzz_seed(size_t index, uint8_t *buf, size_t cap)
{
	Opra__V1__PingRequest ping = OPRA__V1__PING_REQUEST__INIT;
	Opra__V1__UserAddRequest add = OPRA__V1__USER_ADD_REQUEST__INIT;
	add.name = (char *)"alice";
	add.role = (char *)"user";
	switch (index) {
	case 0:
		return pack_request(buf, cap, "opra.v1.System/Ping", "", &ping.base);
	case 1:
		return pack_request(buf, cap, "opra.v1.User/Add", "", &add.base);
	case 2:
		return pack_request(buf, cap, "opra.v1.Nope/Nothing", "x", NULL);
	case 3:
		return pack_request(buf, cap, "opra.v1.System/Whoami", "bad-token", NULL);
	default:
		return 0;
	}
}
