/* opra asset add | list | show | update | remove: the people, information,
 * technology and facilities that support services. The work is shared with
 * units and services (client/cmd_inventory.c); this file says what is
 * particular to assets. */
#include "cli.h"

#include "opra/v1/inventory.pb-c.h"

static const cli_inv_flag asset_flags[] = {
	{"--type", "type", CLI_INV_NAME},
	{"--unit", "unit", CLI_INV_NAME},
	{"--no-unit", "unit", CLI_INV_CLEAR},
	{"--owner", "owner", CLI_INV_TEXT},
	{"--description", "description", CLI_INV_TEXT},
	{"--tag", "tags", CLI_INV_LIST},
	{"--no-tags", "tags", CLI_INV_CLEAR},
	{NULL, NULL, CLI_INV_TEXT},
};

static const char *const asset_columns[] = {"name",	"type",	   "unit", "owner",
					    "services", "version", "tags", NULL};
static const char *const asset_headers[] = {"NAME",	"TYPE",	   "UNIT", "OWNER",
					    "SERVICES", "VERSION", "TAGS"};

static const cli_inv_kind asset_kind = {
	"asset",
	"opra.v1.Inventory/Asset",
	&opra__v1__asset_reply__descriptor,
	&opra__v1__asset_list_reply__descriptor,
	asset_flags,
	asset_columns,
	asset_headers,
};

int cmd_asset_add(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__AssetAddRequest req = OPRA__V1__ASSET_ADD_REQUEST__INIT;
	Opra__V1__Asset asset = OPRA__V1__ASSET__INIT;

	req.asset = &asset;
	return cli_inv_add(ctx, args, &asset_kind, &req.base, &asset.base);
}

int cmd_asset_update(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__AssetUpdateRequest req = OPRA__V1__ASSET_UPDATE_REQUEST__INIT;
	Opra__V1__Asset asset = OPRA__V1__ASSET__INIT;

	req.asset = &asset;
	return cli_inv_update(ctx, args, &asset_kind, &req.base, &asset.base);
}

int cmd_asset_list(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_list(ctx, args, &asset_kind);
}

int cmd_asset_show(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_show(ctx, args, &asset_kind);
}

int cmd_asset_remove(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_remove(ctx, args, &asset_kind);
}
