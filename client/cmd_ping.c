/* opra ping: is a server there, which version is it, how far away. */
#include "cli.h"

#include "opra_err.h"
#include "opra_version.h"

#include "opra/v1/system.pb-c.h"

int cmd_ping(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__PingRequest req = OPRA__V1__PING_REQUEST__INIT;
	Opra__V1__PingResponse *resp = NULL;
	double latency_ms;
	const char *url;
	int code = 0;

	(void)args;
	if ((code = cli_call(ctx, "opra.v1.System/Ping", &req.base,
			     &opra__v1__ping_response__descriptor, (ProtobufCMessage **)&resp,
			     NULL)) != 0)
		goto done;
	/* Microseconds in, milliseconds out: three decimals are exact. */
	latency_ms = (double)rpc_last_rtt_us(ctx->rpc) / 1000.0;
	url = rpc_client_url(ctx->rpc);
	if (url == NULL)
		url = "";
	if (resp->protocol_version != OPRA_PROTOCOL_VERSION)
		out_warn(ctx->out,
			 "the server speaks protocol %u but this client speaks %d; "
			 "upgrade the older one",
			 resp->protocol_version, OPRA_PROTOCOL_VERSION);

	if (ctx->out->json) {
		json_t *doc = json_object();
		if (doc == NULL ||
		    json_object_set_new(doc, "server_version",
					out_jstr(resp->server_version, false)) ||
		    json_object_set_new(doc, "protocol_version",
					json_integer(resp->protocol_version)) ||
		    json_object_set_new(doc, "latency_ms", json_real(latency_ms)) ||
		    json_object_set_new(doc, "server", out_jstr(url, false)) ||
		    json_object_set_new(doc, "client_version", json_string(OPRA_VERSION))) {
			json_decref(doc);
			code = out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
			goto done;
		}
		code = cli_emit_json(ctx, doc);
		goto done;
	}
	/* The line is the whole result, so --quiet (a health check that
	 * only wants the exit status) prints nothing. */
	if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fputs("server ", f);
		out_put_safe(f, url);
		fputs(": oprad ", f);
		out_put_safe(f, resp->server_version);
		fprintf(f, ", protocol %u, %.1f ms\n", resp->protocol_version, latency_ms);
	}
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}
