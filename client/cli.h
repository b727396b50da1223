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

/* One occurrence of a command's own option on the command line. */
typedef struct {
	int opt;	   /* index into the option table */
	const char *value; /* "" for a switch */
} cli_given;

/* What a handler receives besides the context: positional arguments and
 * its own options. Strings point into argv. */
typedef struct {
	int argc;
	char **argv;			  /* positional arguments (argc of them) */
	const cli_optspec *specs;	  /* the command's option table */
	const char *values[CLI_MAX_OPTS]; /* last value given; "" for a switch */
	const cli_given *given;		  /* every option given, in order (n_given) */
	int n_given;
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

/* Every value given for one of the command's own options, in command-line
 * order, for options that may be repeated (--tag a --tag b). Writes up to
 * max values to out (may be NULL when max is 0) and returns how many were
 * given, which may exceed max. */
size_t cli_opt_all(const cli_args *args, const char *name, const char **out, size_t max);

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

/* ---- the inventory: units, services, assets (client/cmd_inventory.c) ----
 *
 * The three nouns have the same commands (add, list, show, update, remove)
 * over messages of the same shape (proto/opra/v1/inventory.proto), so one
 * implementation serves them all: it reads and writes the object messages
 * through their protobuf-c descriptors, guided by one cli_inv_kind per noun.
 * Field names are the messages' own ("parent", "site"); they are also the
 * JSON keys and the names an update lists in its `fields`. */

/* How one of a command's own flags sets a field of the object. */
typedef enum {
	CLI_INV_TEXT,  /* --site TEXT: any text; "" clears the field */
	CLI_INV_NAME,  /* --parent UNIT: a name; "" is a usage error */
	CLI_INV_CLEAR, /* --no-parent: the field becomes empty */
	CLI_INV_LIST,  /* --tag TAG, repeatable: the whole list */
} cli_inv_flag_kind;

typedef struct {
	const char *flag;  /* "--parent" */
	const char *field; /* the object message's field, "parent" */
	cli_inv_flag_kind kind;
} cli_inv_flag;

/* One inventory noun. Flags that a command does not declare are skipped,
 * so add and update share the table (--no-parent exists on update only). */
typedef struct {
	const char *noun;			      /* "unit" */
	const char *method;			      /* "opra.v1.Inventory/Unit" (+ "Add") */
	const ProtobufCMessageDescriptor *reply;      /* UnitReply: one object */
	const ProtobufCMessageDescriptor *list_reply; /* UnitListReply: a list */
	const cli_inv_flag *flags;		      /* terminated by flag NULL */
	const char *const *columns;		      /* fields `list` shows, NULL ended */
	const char *const *headers;		      /* and their headers */
} cli_inv_kind;

/* The bodies of `opra NOUN add|update|list|show|remove`. add and update
 * take the noun's request message (UnitAddRequest, UnitUpdateRequest) with
 * an empty object message (Unit) already linked into it; they fill both.
 * Return the exit code. */
int cli_inv_add(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k, ProtobufCMessage *req,
		ProtobufCMessage *obj);
int cli_inv_update(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k, ProtobufCMessage *req,
		   ProtobufCMessage *obj);
int cli_inv_list(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k);
int cli_inv_show(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k);
int cli_inv_remove(cli_ctx *ctx, const cli_args *args, const cli_inv_kind *k);

/* An inventory object (Unit, Service, Asset) as JSON: every field under its
 * own name, empty text as null; with detail also the show-only fields
 * (a unit's children). NULL when memory runs out. */
json_t *cli_inv_object_json(const ProtobufCMessage *obj, bool detail);

/* ---- evidence delivery (client/cmd_evidence.c), shared with `opra sync` ---- */

/* The bytes of a file to upload: size bytes of fd from offset (a user's
 * file at 0, or the copy inside a spool record). */
typedef struct {
	int fd;
	uint64_t offset;
	const char *name;   /* for messages and the progress line */
	const char *sha256; /* 64 lower-case hex digits */
	uint64_t size;
	bool check_size; /* the file must end at offset + size (a user's file) */
} cli_evidence_file;

struct Opra__V1__EvidenceSubmitRequest;
struct Opra__V1__EvidenceReply;

/* Delivers one submission through rpc: uploads file first when it is not
 * NULL (deduplicated, resumable, retried with backoff) and sets req's
 * sha256/size, then Submit. Every step derives its idempotency key from
 * key (KEY/begin, KEY/commit, KEY), so a re-delivery is applied once.
 * Returns a status (message in opra_err_msg()); on OK *reply is the
 * server's reply (free with protobuf_c_message_free_unpacked) and
 * *deduplicated says the server already had the bytes. */
int cli_evidence_deliver(cli_ctx *ctx, rpc_client *rpc, struct Opra__V1__EvidenceSubmitRequest *req,
			 const char *key, const cli_evidence_file *file,
			 struct Opra__V1__EvidenceReply **reply, bool *deduplicated);
/* UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED: trying the
 * same request again later may work. */
bool cli_status_transient(int status);

/* An Events event (opra.v1.Event, proto/opra/v1/events.proto) as the JSON
 * object opra watch --json and opra audit --json print: id, seq, appraisal,
 * at, actor, client_id, site, peer, method, object, before, after (JSON
 * values; null when empty), hash. NULL when memory runs out. And as one
 * human line (with its newline). client/cmd_watch.c. */
struct Opra__V1__Event;
json_t *cli_event_json(const struct Opra__V1__Event *e);
void cli_event_line(FILE *f, const struct Opra__V1__Event *e);
int cmd_audit(cli_ctx *ctx, const cli_args *args);
int cmd_watch(cli_ctx *ctx, const cli_args *args);

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
int cmd_unit_add(cli_ctx *ctx, const cli_args *args);
int cmd_unit_list(cli_ctx *ctx, const cli_args *args);
int cmd_unit_show(cli_ctx *ctx, const cli_args *args);
int cmd_unit_update(cli_ctx *ctx, const cli_args *args);
int cmd_unit_remove(cli_ctx *ctx, const cli_args *args);
int cmd_service_add(cli_ctx *ctx, const cli_args *args);
int cmd_service_list(cli_ctx *ctx, const cli_args *args);
int cmd_service_show(cli_ctx *ctx, const cli_args *args);
int cmd_service_update(cli_ctx *ctx, const cli_args *args);
int cmd_service_remove(cli_ctx *ctx, const cli_args *args);
int cmd_service_link(cli_ctx *ctx, const cli_args *args);
int cmd_service_unlink(cli_ctx *ctx, const cli_args *args);
int cmd_asset_add(cli_ctx *ctx, const cli_args *args);
int cmd_asset_list(cli_ctx *ctx, const cli_args *args);
int cmd_asset_show(cli_ctx *ctx, const cli_args *args);
int cmd_asset_update(cli_ctx *ctx, const cli_args *args);
int cmd_asset_remove(cli_ctx *ctx, const cli_args *args);
int cmd_inventory_show(cli_ctx *ctx, const cli_args *args);
int cmd_inventory_import(cli_ctx *ctx, const cli_args *args);
int cmd_inventory_export(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_create(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_list(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_show(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_scope(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_member(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_target(cli_ctx *ctx, const cli_args *args);
int cmd_appraisal_finalize(cli_ctx *ctx, const cli_args *args);
int cmd_evidence_submit(cli_ctx *ctx, const cli_args *args);
int cmd_evidence_list(cli_ctx *ctx, const cli_args *args);
int cmd_evidence_get(cli_ctx *ctx, const cli_args *args);
int cmd_evidence_accept(cli_ctx *ctx, const cli_args *args);
int cmd_evidence_reject(cli_ctx *ctx, const cli_args *args);
int cmd_evidence_link(cli_ctx *ctx, const cli_args *args);
int cmd_characterize(cli_ctx *ctx, const cli_args *args);
int cmd_judge(cli_ctx *ctx, const cli_args *args);
int cmd_weakness_add(cli_ctx *ctx, const cli_args *args);
int cmd_rating_show(cli_ctx *ctx, const cli_args *args);
/* Shared by rating show and compare (client/cmd_rating.c): the lines of
 * the goals blocking a process area's next level, and its level as a table
 * cell ("CL2", "-" not rated, "n/a" out of scope; buf holds 16 bytes). */
struct Opra__V1__PaRating;
void put_blocking(FILE *f, const struct Opra__V1__PaRating *pa);
const char *rating_level_cell(const struct Opra__V1__PaRating *pa, char buf[16]);
/* The per-unit table of a Show reply made with by_unit; returns 0 or the
 * exit code of a failure (reported). */
struct Opra__V1__RatingShowReply;
int rating_units_text(cli_ctx *ctx, const struct Opra__V1__RatingShowReply *r);
int cmd_sync(cli_ctx *ctx, const cli_args *args);
int cmd_compare(cli_ctx *ctx, const cli_args *args);
int cmd_plan_add(cli_ctx *ctx, const cli_args *args);
int cmd_plan_list(cli_ctx *ctx, const cli_args *args);
int cmd_plan_update(cli_ctx *ctx, const cli_args *args);
int cmd_plan_show(cli_ctx *ctx, const cli_args *args);
int cmd_report(cli_ctx *ctx, const cli_args *args);

#endif
