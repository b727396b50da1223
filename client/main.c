/* opra: the command-line client. Everything but the process boundary
 * (argv, stdout, stderr, the real environment) lives in cli.c so tests
 * can drive whole command lines. */
#include "cli.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	return cli_main(argc, argv, stdout, stderr, OPT_ENV_PROCESS);
}
