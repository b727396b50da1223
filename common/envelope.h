/* The opra.v1 Request/Response envelope: encoding, decoding and the checks
 * every message passes before anything else looks at it. Transport-free:
 * works on byte arrays. */
#ifndef OPRA_ENVELOPE_H
#define OPRA_ENVELOPE_H

#include "opra_buf.h"
#include "opra/v1/envelope.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_METHOD_MAX  128
#define ENVELOPE_TOKEN_MAX   256
#define ENVELOPE_KEY_MAX     128
#define ENVELOPE_LABEL_MAX   128 /* client_id, site */
#define ENVELOPE_MESSAGE_MAX 4096

/* Decodes and validates a request envelope. On success *out is owned by the
 * caller (free with envelope_request_free). Errors are INVALID_ARGUMENT with
 * a message that names the bad field and never echoes the token. */
int envelope_request_decode(Opra__V1__Request **out, const uint8_t *data, size_t len);
void envelope_request_free(Opra__V1__Request *req);
/* Serializes req into out (appended). */
int envelope_request_pack(opra_buf *out, const Opra__V1__Request *req);

/* Builds and serializes a response. message/details may be NULL. */
int envelope_response_pack(opra_buf *out, uint64_t request_id, int status, const char *message,
			   const char *details, const uint8_t *body, size_t body_len);
/* Decodes and checks a response (status within 0..16). Caller frees with
 * envelope_response_free. */
int envelope_response_decode(Opra__V1__Response **out, const uint8_t *data, size_t len);
void envelope_response_free(Opra__V1__Response *resp);

/* Checks a full method name "opra.v1.Service/Method" and splits it into
 * service ("opra.v1.Service") and method ("Method") parts. */
int envelope_method_split(const char *full, char *service, size_t service_size, char *method,
			  size_t method_size);

#endif
