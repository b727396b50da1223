/* opra unit add | list | show | update | remove: the organisational units,
 * a tree of sites and business units. The work is shared with services and
 * assets (client/cmd_inventory.c); this file says what is particular to
 * units. */
#include "cli.h"

#include "opra/v1/inventory.pb-c.h"

static const cli_inv_flag unit_flags[] = {
	{"--parent", "parent", CLI_INV_NAME},
	{"--no-parent", "parent", CLI_INV_CLEAR},
	{"--site", "site", CLI_INV_TEXT},
	{NULL, NULL, CLI_INV_TEXT},
};

static const char *const unit_columns[] = {"name", "parent", "site", "version", NULL};
static const char *const unit_headers[] = {"NAME", "PARENT", "SITE", "VERSION"};

static const cli_inv_kind unit_kind = {
	"unit",
	"opra.v1.Inventory/Unit",
	&opra__v1__unit_reply__descriptor,
	&opra__v1__unit_list_reply__descriptor,
	unit_flags,
	unit_columns,
	unit_headers,
};

int cmd_unit_add(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__UnitAddRequest req = OPRA__V1__UNIT_ADD_REQUEST__INIT;
	Opra__V1__Unit unit = OPRA__V1__UNIT__INIT;

	req.unit = &unit;
	return cli_inv_add(ctx, args, &unit_kind, &req.base, &unit.base);
}

int cmd_unit_update(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__UnitUpdateRequest req = OPRA__V1__UNIT_UPDATE_REQUEST__INIT;
	Opra__V1__Unit unit = OPRA__V1__UNIT__INIT;

	req.unit = &unit;
	return cli_inv_update(ctx, args, &unit_kind, &req.base, &unit.base);
}

int cmd_unit_list(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_list(ctx, args, &unit_kind);
}

int cmd_unit_show(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_show(ctx, args, &unit_kind);
}

int cmd_unit_remove(cli_ctx *ctx, const cli_args *args)
{
	return cli_inv_remove(ctx, args, &unit_kind);
}
