/* The opra command line: the subcommand table, the dispatcher and what
 * command handlers share.
 *
 * Every command is one row of cli_commands[] (client/cmd_table.c):
 * noun, verb, handler, usage line, summary, long help, its own options and
 * how many positional arguments it takes. The handlers live one file per
 * noun (client/cmd_<noun>.c). Adding a command = a handler + a row; help,
 * `opra help`, argument counting, --help and unknown-command suggestions
 * follow from the row.
 *
 * The dispatcher is cli_main(), kept out of main.c so tests can run whole
 * command lines against memory streams. */
#ifndef OPRA_CLIENT_CLI_H
#define OPRA_CLIENT_CLI_H

#include "opt.h"
#include "output.h"
#include "rpc.h"

#include <stdbool.h>
#include <stdio.h>

/* A command's own option ("--role ROLE", "-o PATH"). */
typedef struct {
	const char *name;	    /* "--role" */
	char short_name;	    /* 'o' for -o, or 0 */
	const char *arg;	    /* "ROLE"; NULL for a switch */
	const char *summary;	    /* one line for help */
	bool required;		    /* a usage error when missing */
	const char *const *choices; /* allowed values, NULL terminated; NULL: any */
} cli_optspec;

/* The most options one command may declare. */
#define CLI_MAX_OPTS 16

/* What a handler receives besides the context: positional arguments and
 * its own options. Strings point into argv. */
typedef struct {
	int argc;
	char **argv;			  /* positional arguments (argc of them) */
	const cli_optspec *specs;	  /* the command's option table */
	const char *values[CLI_MAX_OPTS]; /* last value given; "" for a switch */
} cli_args;

typedef struct cli_command cli_command;

/* Everything a handler needs. The rpc client is open but not yet
 * connected (connecting happens on the first call). */
typedef struct {
	out_ctx *out;
	const opt_config *cfg;
	const cli_command *cmd;
	rpc_client *rpc;
} cli_ctx;

/* A handler returns the process exit code (0 on success); on failure it
 * reports through cli_fail / out_usage, which return the right code. */
typedef int (*cli_handler)(cli_ctx *ctx, const cli_args *args);

/* Row flags. */
#define CLI_NEEDS_TOKEN 0x1u /* refuse early, with a hint, when no token is set */

struct cli_command {
	const char *noun;
	const char *verb; /* NULL: the noun alone is the command (opra ping) */
	cli_handler run;
	const char *usage;	 /* "opra user revoke NAME" */
	const char *summary;	 /* one line for command lists */
	const char *help;	 /* paragraphs for `opra help NOUN VERB` */
	const cli_optspec *opts; /* terminated by a row with name NULL; may be NULL */
	int min_args;		 /* positional arguments */
	int max_args;		 /* -1: no limit */
	unsigned int flags;
};

typedef struct {
	const char *noun;
	const char *summary;
} cli_noun;

/* The tables, each terminated by a row with noun NULL. */
extern const cli_command cli_commands[];
extern const cli_noun cli_nouns[];

/* Runs one command line (argv[0] is the program name) with results on
 * `out`, diagnostics on `err`, environment from env. Returns the exit
 * code. */
int cli_main(int argc, char **argv, FILE *out, FILE *err, opt_env env);

/* The value of one of the command's own options (by long name, "--role"),
 * or NULL when not given. A switch that was given reads as "". */
const char *cli_opt(const cli_args *args, const char *name);

/* Reports the failed call `status` (last error message and details) with
 * a hint when one helps (no token configured, server unreachable) and
 * returns the exit code. */
int cli_fail(cli_ctx *ctx, int status);

/* Calls `method` through ctx->rpc (see rpc_call; resp_out is a pointer to
 * the response message pointer, may be NULL). On failure reports it like
 * cli_fail and returns the exit code; returns 0 on success. */
int cli_call(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, void *resp_out, const char *key);

/* Prints doc as the command's one JSON document (takes ownership; NULL
 * means memory ran out) and returns the exit code. */
int cli_emit_json(cli_ctx *ctx, json_t *doc);

/* The usage-error hint for the running command: "usage: <usage line>". */
int cli_usage(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Handlers (one file per noun). */
int cmd_ping(cli_ctx *ctx, const cli_args *args);
int cmd_user_add(cli_ctx *ctx, const cli_args *args);
int cmd_user_list(cli_ctx *ctx, const cli_args *args);
int cmd_user_revoke(cli_ctx *ctx, const cli_args *args);
int cmd_model_list(cli_ctx *ctx, const cli_args *args);
int cmd_model_show(cli_ctx *ctx, const cli_args *args);
int cmd_model_import(cli_ctx *ctx, const cli_args *args);
int cmd_model_export(cli_ctx *ctx, const cli_args *args);
int cmd_model_map(cli_ctx *ctx, const cli_args *args);

#endif
