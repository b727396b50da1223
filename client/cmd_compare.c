/* STUB (issue 8): opra compare; to be written. */
#include "cli.h"
#include "opra_err.h"

int cmd_compare(cli_ctx *ctx, const cli_args *args)
{
	(void)args;
	return cli_fail(ctx, opra_err_set(OPRA_UNIMPLEMENTED, "opra compare is not implemented yet"));
}

