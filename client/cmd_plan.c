/* STUB (issue 8): opra plan; to be written. */
#include "cli.h"
#include "opra_err.h"

int cmd_plan_add(cli_ctx *ctx, const cli_args *args)
{
	(void)args;
	return cli_fail(ctx, opra_err_set(OPRA_UNIMPLEMENTED, "opra plan is not implemented yet"));
}

int cmd_plan_list(cli_ctx *ctx, const cli_args *args)
{
	(void)args;
	return cli_fail(ctx, opra_err_set(OPRA_UNIMPLEMENTED, "opra plan is not implemented yet"));
}

int cmd_plan_update(cli_ctx *ctx, const cli_args *args)
{
	(void)args;
	return cli_fail(ctx, opra_err_set(OPRA_UNIMPLEMENTED, "opra plan is not implemented yet"));
}

int cmd_plan_show(cli_ctx *ctx, const cli_args *args)
{
	(void)args;
	return cli_fail(ctx, opra_err_set(OPRA_UNIMPLEMENTED, "opra plan is not implemented yet"));
}

