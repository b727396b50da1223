#include "envelope.h"
#include "pbcheck.h"

#include "opra_err.h"
#include "opra_text.h"

#include <string.h>

int envelope_method_split(const char *full, char *service, size_t service_size, char *method,
			  size_t method_size)
{
	if (!opra_ascii_token_valid(full, ENVELOPE_METHOD_MAX))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the method name is empty, too long or not printable ASCII");
	const char *slash = strchr(full, '/');
	if (slash == NULL || slash == full || slash[1] == '\0' || strchr(slash + 1, '/'))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "method '%s' is not of the form package.Service/Method", full);
	size_t slen = (size_t)(slash - full);
	size_t mlen = strlen(slash + 1);
	if (slen >= service_size || mlen >= method_size)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "method name '%s' is too long", full);
	memcpy(service, full, slen);
	service[slen] = '\0';
	memcpy(method, slash + 1, mlen + 1);
	return OPRA_OK;
}

static int check_label(const char *what, const char *s)
{
	if (s == NULL || *s == '\0')
		return OPRA_OK;
	return opra_name_check(what, s, ENVELOPE_LABEL_MAX);
}

int envelope_request_decode(Opra__V1__Request **out, const uint8_t *data, size_t len)
{
	Opra__V1__Request *req = NULL;
	int rc = OPRA_OK;
	char svc[ENVELOPE_METHOD_MAX + 1], m[ENVELOPE_METHOD_MAX + 1];

	*out = NULL;
	if (data == NULL || len == 0) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "empty message: not an opra request");
		goto done;
	}
	/* "site\0x" would decode as "site": refuse, do not cut (pbcheck.h). */
	if ((rc = pbcheck_strings(&opra__v1__request__descriptor, data, len)) != OPRA_OK)
		goto done;
	req = opra__v1__request__unpack(NULL, len, data);
	if (req == NULL) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "the request envelope could not be decoded (%zu bytes): not an "
				  "opra.v1.Request protobuf",
				  len);
		goto done;
	}
	rc = envelope_method_split(req->method, svc, sizeof(svc), m, sizeof(m));
	if (rc != OPRA_OK)
		goto done;
	if (req->token[0] != '\0' && !opra_ascii_token_valid(req->token, ENVELOPE_TOKEN_MAX)) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "the token field is too long or not printable ASCII");
		goto done;
	}
	if (req->idempotency_key[0] != '\0' &&
	    !opra_ascii_token_valid(req->idempotency_key, ENVELOPE_KEY_MAX)) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "the idempotency key must be 1..%d printable ASCII characters",
				  ENVELOPE_KEY_MAX);
		goto done;
	}
	if ((rc = check_label("client id", req->client_id)) != OPRA_OK)
		goto done;
	if ((rc = check_label("site", req->site)) != OPRA_OK)
		goto done;
	*out = req;
	req = NULL;
done:
	envelope_request_free(req);
	return rc;
}

void envelope_request_free(Opra__V1__Request *req)
{
	if (req)
		opra__v1__request__free_unpacked(req, NULL);
}

int envelope_request_pack(opra_buf *out, const Opra__V1__Request *req)
{
	size_t n = opra__v1__request__get_packed_size(req);
	uint8_t *dst = opra_buf_reserve(out, n);
	if (dst == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	opra__v1__request__pack(req, dst);
	out->len += n;
	out->data[out->len] = '\0';
	return OPRA_OK;
}

int envelope_response_pack(opra_buf *out, uint64_t request_id, int status, const char *message,
			   const char *details, const uint8_t *body, size_t body_len)
{
	Opra__V1__Response resp = OPRA__V1__RESPONSE__INIT;
	resp.request_id = request_id;
	resp.status = (uint32_t)status;
	resp.message = (char *)(message ? message : "");
	resp.details = (char *)(details ? details : "");
	resp.body.data = (uint8_t *)body;
	resp.body.len = body ? body_len : 0;
	size_t n = opra__v1__response__get_packed_size(&resp);
	uint8_t *dst = opra_buf_reserve(out, n);
	if (dst == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	opra__v1__response__pack(&resp, dst);
	out->len += n;
	out->data[out->len] = '\0';
	return OPRA_OK;
}

int envelope_response_decode(Opra__V1__Response **out, const uint8_t *data, size_t len)
{
	*out = NULL;
	Opra__V1__Response *resp = opra__v1__response__unpack(NULL, len, data);
	if (resp == NULL)
		return opra_err_set(
			OPRA_INTERNAL,
			"the server's reply could not be decoded (%zu bytes): is this an "
			"opra server?",
			len);
	if (resp->status > OPRA_STATUS_MAX) {
		int st = (int)resp->status;
		opra__v1__response__free_unpacked(resp, NULL);
		return opra_err_set(OPRA_INTERNAL, "the server replied with unknown status %d", st);
	}
	*out = resp;
	return OPRA_OK;
}

void envelope_response_free(Opra__V1__Response *resp)
{
	if (resp)
		opra__v1__response__free_unpacked(resp, NULL);
}
