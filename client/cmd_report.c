/* STUB (issue 8): opra report; to be written. */
#include "cli.h"
#include "opra_err.h"

int cmd_report(cli_ctx *ctx, const cli_args *args)
{
	(void)args;
	return cli_fail(ctx, opra_err_set(OPRA_UNIMPLEMENTED, "opra report is not implemented yet"));
}

