/* Global flags of the opra client and where their values come from.
 *
 * Every command shares the same global flags (--server, --token, --json,
 * --quiet, --timeout, --config, --site, --ca-file, --tls-cert, --tls-key,
 * --insecure). They are parsed in one
 * place (opt_parse_global) and then merged with the environment and the
 * config file by one pure function (opt_resolve) whose precedence is
 *
 *     flags  >  environment  >  config file  >  built-in default
 *
 * decided per setting: a setting given as a flag ignores the environment
 * and the file for that setting only. Lists (servers) are not merged
 * across levels: the first level that names any server supplies all of
 * them, in the order given.
 *
 * Nothing here reads the real environment unless the caller passes
 * OPT_ENV_PROCESS, so the precedence rules can be tested in isolation. */
#ifndef OPRA_CLIENT_OPT_H
#define OPRA_CLIENT_OPT_H

#include "kvfile.h"
#include "rpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The server used when no flag, variable or config file names one. */
#define OPT_DEFAULT_SERVER "tcp://127.0.0.1:7430"
/* Upper bound for --timeout; a day is longer than any call should wait. */
#define OPT_TIMEOUT_MAX_SECONDS 86400.0

/* Where a resolved setting came from (for messages that tell the user
 * what to fix). */
typedef enum {
	OPT_FROM_NONE = 0,
	OPT_FROM_FLAG,
	OPT_FROM_ENV,
	OPT_FROM_FILE,
	OPT_FROM_DEFAULT,
} opt_source;

/* Global flags exactly as given on the command line. Strings point into
 * argv and are not owned. */
typedef struct {
	const char *servers[RPC_MAX_URLS];
	size_t n_servers;
	const char *token;
	const char *timeout; /* unparsed: opt_resolve validates it */
	const char *config;
	const char *site;
	const char *ca_file;
	bool json;
	bool quiet;
	bool help;	      /* -h / --help */
	bool version;	      /* --version */
	const char *tls_cert; /* client certificate (PEM) for tls+tcp:// servers */
	const char *tls_key;  /* its private key (PEM) */
	bool insecure;	      /* --insecure: allow a token over plain tcp:// off loopback */
} opt_flags;

#define OPT_FLAGS_INIT                                                                             \
	{                                                                                          \
		{NULL}, 0, NULL, NULL, NULL, NULL, NULL, false, false, false, false, NULL, NULL,   \
			false                                                                      \
	}

/* Environment lookup: returns the value of `name` or NULL when unset.
 * Tests pass their own function; the CLI passes OPT_ENV_PROCESS. */
typedef const char *(*opt_getenv_fn)(void *ctx, const char *name);
typedef struct {
	opt_getenv_fn get;
	void *ctx;
} opt_env;

/* getenv(3) behind the opt_env interface. */
const char *opt_env_process_get(void *ctx, const char *name);
#define OPT_ENV_PROCESS ((opt_env){opt_env_process_get, NULL})

/* The settings a command runs with. Strings are owned by the struct
 * (free with opt_config_free). */
typedef struct {
	char *servers[RPC_MAX_URLS];
	size_t n_servers;
	char *token;	/* NULL when none is configured */
	char *site;	/* NULL when none */
	char *ca_file;	/* NULL when none */
	char *tls_cert; /* NULL when none */
	char *tls_key;	/* NULL when none (then the key is read from tls_cert's file) */
	bool insecure;	/* --insecure, OPRA_INSECURE=1 or insecure = true in the file */
	int timeout_ms; /* 0: the rpc default (RPC_DEFAULT_TIMEOUT_MS) */
	bool json;
	bool quiet;
	opt_source servers_from;
	opt_source token_from;
	opt_source timeout_from;
} opt_config;

/* Global flag table entry (for parsing and for `opra help`). */
typedef struct {
	const char *name;    /* "--server" */
	const char *arg;     /* "URL", or NULL for a switch */
	const char *env;     /* "OPRA_SERVER", or NULL */
	const char *key;     /* config file key, or NULL */
	const char *summary; /* one line for help */
} opt_global_spec;

/* The global flags, terminated by a row with name == NULL. */
extern const opt_global_spec opt_global_specs[];

/* Tries argv[*i] as a global flag ("--server URL", "--server=URL",
 * "--json", "-h", ...). When it is one, records it in f, advances *i past
 * the flag and its value and sets *matched. Returns OPRA_OK, or
 * OPRA_INVALID_ARGUMENT (a usage error: missing or empty value, too many
 * --server) with the message in opra_err_msg(). */
int opt_parse_global(opt_flags *f, int argc, char **argv, int *i, bool *matched);

/* Parses a timeout in seconds: a positive decimal number, possibly
 * fractional ("30", "2.5", ".5"), at most OPT_TIMEOUT_MAX_SECONDS. Writes
 * whole milliseconds (rounded up, at least 1). `what` names the source in
 * the message ("--timeout", "config.txt:3: timeout"). OPRA_OK or
 * OPRA_INVALID_ARGUMENT. */
int opt_parse_timeout(int *out_ms, const char *what, const char *text);

/* Resolves the settings from the three levels. `file` may be NULL (no
 * config file); `file_origin` names it in messages (may be NULL). env.get
 * may be NULL (empty environment). Environment variables that are set but
 * empty count as unset. On success *out holds the result (free with
 * opt_config_free); on failure it is left empty. Returns OPRA_OK,
 * OPRA_INVALID_ARGUMENT (usage error: bad timeout, too many servers) or
 * OPRA_RESOURCE_EXHAUSTED. Pure: reads nothing but its arguments. */
int opt_resolve(opt_config *out, const opt_flags *f, opt_env env, const kvfile *file,
		const char *file_origin);

void opt_config_free(opt_config *cfg);

/* Fills ro (zeroed first) with everything cfg says about connecting:
 * servers, token, timeout, site, CA file, client certificate and key, and
 * --insecure. Strings point into cfg. Every rpc client a command opens
 * should start from this, so that TLS and the plain-TCP rule apply to all
 * of its connections alike. */
void opt_rpc_options(rpc_options *ro, const opt_config *cfg);

/* The config file to read: --config FILE when given (*explicit = true),
 * else $XDG_CONFIG_HOME/opra/config when XDG_CONFIG_HOME is an absolute
 * path, else $HOME/.config/opra/config. Returns OPRA_OK; OPRA_NOT_FOUND
 * when there is no candidate (no --config, no usable XDG_CONFIG_HOME or
 * HOME); OPRA_INVALID_ARGUMENT when the path does not fit in `size`. */
int opt_config_path(char *out, size_t size, bool *explicit_path, const opt_flags *f, opt_env env);

/* Loads the config file at path. A missing file is an error only when
 * explicit_path is set (the user asked for it with --config); otherwise
 * *out is NULL and the result is OPRA_OK. Warnings (a token in a file
 * that group or others can read, unknown keys) go to `warn` when it is not
 * NULL. On success *out (possibly NULL) is owned by the caller (free with
 * kvfile_free). Errors: NOT_FOUND, INVALID_ARGUMENT (syntax),
 * PERMISSION_DENIED (unreadable), with the message in opra_err_msg(). */
int opt_config_load(kvfile **out, const char *path, bool explicit_path, FILE *warn);

/* Writes warnings about a loaded config file: unknown keys (usually typos)
 * and, when the file holds a token and `mode` gives group or others any
 * access, a suggestion to chmod 600. `mode` is st_mode from stat(2). */
void opt_config_warn(FILE *warn, const kvfile *kv, const char *path, unsigned int mode);

#endif
