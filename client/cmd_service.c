/* opra service add | list | show | update | remove | link | unlink: the
 * services an appraisal rates, each owned by a unit, and the assets that
 * support them. add to remove are shared with units and assets
 * (client/cmd_inventory.c); link and unlink are the services' own. */
#include "cli.h"

#include "opra_err.h"

#include "opra/v1/inventory.pb-c.h"

/* Assets per link or unlink call (inventory.proto: LinkRequest.assets). */
#define SERVICE_MAX_LINK 1000

static const cli_inv_flag service_flags[] = {
	{"--unit", "unit", CLI_INV_NAME},
	{"--mission", "mission", CLI_INV_TEXT},
	{"--criticality", "criticality", CLI_INV_NAME},
	{NULL, NULL, CLI_INV_TEXT},
};

static const char *const service_columns[] = {"name",	 "unit",    "criticality", "assets",
					      "version", "mission", NULL};
static const char *const service_headers[] = {"NAME",	"UNIT",	   "CRITICALITY",
					      "ASSETS", "VERSION", "MISSION"};

static const cli_inv_kind service_kind = {
	"service",
	"opra.v1.Inventory/Service",
	&opra__v1__service_reply__descriptor,
	&opra__v1__service_list_reply__descriptor,
	service_flags,
	service_columns,
	service_headers,
};

int cmd_service_add(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ServiceAddRequest req = OPRA__V1__SERVICE_ADD_REQUEST__INIT;
	Opra__V1__Service service = OPRA__V1__SERVICE__INIT;

	req.service = &service;
	return cli_inv_add(ctx, args, &service_kind, &req.base, &service.base);
}

int cmd_service_update(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__ServiceUpdateRequest req = OPRA__V1__SERVICE_UPDATE_REQUEST__INIT;
	Opra__V1__Service service = OPRA__V1__SERVICE__INIT;

	req.service = &service;
	return cli_inv_update(ctx, args, &service_kind, &req.base, &service.base);
}

int cmd_service_list(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_list(ctx, args, &service_kind);
}

int cmd_service_show(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_show(ctx, args, &service_kind);
}

int cmd_service_remove(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_remove(ctx, args, &service_kind);
}

/* link and unlink: SERVICE ASSET..., all in one call so that the server
 * applies all of them or none (a missing asset links nothing). */
static int link_assets(cli_ctx *ctx, const cli_args *args, bool link)
{
	Opra__V1__LinkRequest req = OPRA__V1__LINK_REQUEST__INIT;
	Opra__V1__LinkReply *resp = NULL;
	char key[33];
	int code = 0;

	if (args->argv[0][0] == '\0')
		return cli_usage(ctx, "the service name must not be empty");
	if (args->argc - 1 > SERVICE_MAX_LINK)
		return cli_usage(ctx,
				 "at most %d assets per call (%d given); link more in several "
				 "calls or with 'opra inventory import'",
				 SERVICE_MAX_LINK, args->argc - 1);
	for (int i = 1; i < args->argc; i++)
		if (args->argv[i][0] == '\0')
			return cli_usage(ctx, "asset names must not be empty");
	req.service = args->argv[0];
	req.n_assets = (size_t)(args->argc - 1);
	req.assets = args->argv + 1;
	rpc_new_key(key);
	if ((code = cli_call(ctx,
			     link ? "opra.v1.Inventory/ServiceLink"
				  : "opra.v1.Inventory/ServiceUnlink",
			     &req.base, &opra__v1__link_reply__descriptor,
			     (ProtobufCMessage **)&resp, key)) != 0)
		goto done;
	if (ctx->out->json) {
		json_t *doc = json_object();
		if (doc == NULL ||
		    json_object_set_new(doc, "service", out_jstr(resp->service, false)) ||
		    json_object_set_new(doc, "changed", json_integer(resp->changed)) ||
		    json_object_set_new(doc, "unchanged", json_integer(resp->unchanged))) {
			json_decref(doc);
			code = out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
		} else {
			code = cli_emit_json(ctx, doc);
		}
		goto done;
	}
	if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fprintf(f, "%s %u %s %s service ", link ? "linked" : "unlinked", resp->changed,
			resp->changed == 1 ? "asset" : "assets", link ? "to" : "from");
		out_put_safe(f, resp->service);
		if (resp->unchanged)
			fprintf(f, " (%u %s)", resp->unchanged,
				link ? "already linked" : "were not linked");
		fputc('\n', f);
	}
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_service_link(cli_ctx *ctx, const cli_args *args)
{
	return link_assets(ctx, args, true);
}

int cmd_service_unlink(cli_ctx *ctx, const cli_args *args)
{
	return link_assets(ctx, args, false);
}
