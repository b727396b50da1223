/* The dispatcher: argv -> global flags, command row, the command's own
 * options and arguments -> settings -> handler. Also help and --version,
 * which are generated from the tables so they cannot drift from them. */
#include "cli.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_version.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* Column where summaries start in help lists. */
#define HELP_COL 24

const char *cli_opt(const cli_args *args, const char *name)
{
	if (args == NULL || args->specs == NULL)
		return NULL;
	for (size_t i = 0; i < CLI_MAX_OPTS && args->specs[i].name != NULL; i++)
		if (strcmp(args->specs[i].name, name) == 0)
			return args->values[i];
	return NULL;
}

size_t cli_opt_all(const cli_args *args, const char *name, const char **out, size_t max)
{
	size_t n = 0;

	if (args == NULL || args->specs == NULL)
		return 0;
	for (int i = 0; i < args->n_given; i++) {
		if (strcmp(args->specs[args->given[i].opt].name, name) != 0)
			continue;
		if (n < max)
			out[n] = args->given[i].value;
		n++;
	}
	return n;
}

/* ---- table lookups ------------------------------------------------------ */

static bool noun_exists(const char *noun)
{
	for (const cli_command *c = cli_commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0)
			return true;
	return false;
}

/* The row for noun + verb; verb NULL finds a verbless command. */
static const cli_command *find_command(const char *noun, const char *verb)
{
	for (const cli_command *c = cli_commands; c->noun; c++) {
		if (strcmp(c->noun, noun) != 0)
			continue;
		if (verb == NULL ? c->verb == NULL : (c->verb && strcmp(c->verb, verb) == 0))
			return c;
	}
	return NULL;
}

static const char *noun_summary(const char *noun)
{
	for (const cli_noun *n = cli_nouns; n->noun; n++)
		if (strcmp(n->noun, noun) == 0)
			return n->summary;
	return "";
}

/* ---- suggestions -------------------------------------------------------- */

#define SUGGEST_MAX_LEN 64

/* Levenshtein distance; SIZE_MAX for words too long to bother with. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SUGGEST_MAX_LEN + 1];

	if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

typedef struct {
	const char *word;
	const char *best;
	size_t best_score;
} suggester;

static void suggest_init(suggester *s, const char *word)
{
	s->word = word;
	s->best = NULL;
	s->best_score = SIZE_MAX;
}

/* A candidate wins when it is a unique-looking prefix expansion or close
 * in edit distance (at most 2, and less than the word's length so that
 * "x" does not suggest "ls"). */
static void suggest_offer(suggester *s, const char *candidate)
{
	size_t wlen = strlen(s->word);
	size_t score = edit_distance(s->word, candidate);

	if (wlen >= 2 && strncmp(candidate, s->word, wlen) == 0)
		score = 1;
	if (score > 2 || score >= wlen)
		return;
	if (score < s->best_score) {
		s->best = candidate;
		s->best_score = score;
	}
}

/* ---- help --------------------------------------------------------------- */

static void print_padded(FILE *f, const char *left, const char *right)
{
	int n = fprintf(f, "  %s", left);
	if (n < 0)
		return;
	if (n >= HELP_COL - 1)
		fprintf(f, "\n%*s", HELP_COL, "");
	else
		fprintf(f, "%*s", HELP_COL - n, "");
	fprintf(f, "%s\n", right);
}

static void command_name(char *buf, size_t size, const cli_command *c)
{
	snprintf(buf, size, "%s%s%s", c->noun, c->verb ? " " : "", c->verb ? c->verb : "");
}

static void print_global_flags(FILE *f)
{
	char left[64];

	fputs("Global flags (before the command or after it):\n", f);
	for (const opt_global_spec *s = opt_global_specs; s->name; s++) {
		snprintf(left, sizeof(left), "%s%s%s", s->name, s->arg ? " " : "",
			 s->arg ? s->arg : "");
		print_padded(f, left, s->summary);
	}
}

static void help_general_text(FILE *f)
{
	char name[64];

	fputs("usage: opra [global flags] NOUN VERB [args] [flags]\n"
	      "       opra help [NOUN [VERB]]\n"
	      "       opra --version\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (const cli_command *c = cli_commands; c->noun; c++) {
		command_name(name, sizeof(name), c);
		print_padded(f, name, c->summary);
	}
	fputc('\n', f);
	print_global_flags(f);
	fputs("\n"
	      "Settings come from flags, else the environment (OPRA_SERVER, comma\n"
	      "separated; OPRA_TOKEN; OPRA_SITE; OPRA_CA_FILE; OPRA_TLS_CERT; OPRA_TLS_KEY;\n"
	      "OPRA_INSECURE=1), else the config file ($XDG_CONFIG_HOME/opra/config,\n"
	      "default ~/.config/opra/config; keys server, token, timeout, site, ca-file,\n"
	      "tls-cert, tls-key, insecure), else the default server " OPT_DEFAULT_SERVER ".\n"
	      "\n"
	      "Security: the client verifies tls+tcp:// servers against --ca-file and\n"
	      "presents --tls-cert/--tls-key when the server requires client certificates.\n"
	      "It refuses to send a token over plain tcp:// to a host other than loopback\n"
	      "(127.0.0.0/8, ::1, localhost) unless --insecure is given (exit 2).\n"
	      "\n"
	      "Exit codes: 0 success, 1 internal error, 2 usage error, 3 not found,\n"
	      "4 not authenticated or not allowed, 5 conflict, 6 invalid input,\n"
	      "7 server unavailable, overloaded or timed out (retry may work).\n"
	      "\n"
	      "Run 'opra help NOUN [VERB]' or 'opra NOUN VERB --help' for details.\n",
	      f);
}

static void help_noun_text(FILE *f, const char *noun)
{
	fprintf(f, "opra %s: %s\n\nusage:\n", noun, noun_summary(noun));
	for (const cli_command *c = cli_commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0)
			fprintf(f, "  %s\n", c->usage);
	fputs("\nCommands:\n", f);
	for (const cli_command *c = cli_commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0 && c->verb)
			print_padded(f, c->verb, c->summary);
	fprintf(f, "\nRun 'opra help %s VERB' for details.\n", noun);
}

static void help_command_text(FILE *f, const cli_command *c)
{
	char left[64];

	fprintf(f, "usage: %s\n\n%s.\n\n%s\n", c->usage, c->summary, c->help);
	if (c->opts && c->opts[0].name) {
		fputs("\nOptions:\n", f);
		for (const cli_optspec *s = c->opts; s->name; s++) {
			char shortname[8] = "";
			if (s->short_name)
				snprintf(shortname, sizeof(shortname), "-%c, ", s->short_name);
			snprintf(left, sizeof(left), "%s%s%s%s", shortname, s->name,
				 s->arg ? " " : "", s->arg ? s->arg : "");
			print_padded(f, left, s->summary);
		}
	}
	fputs("\nGlobal flags (--server, --token, --json, --quiet, --timeout, --config,\n"
	      "--site, --ca-file, --tls-cert, --tls-key, --insecure) work here too; see\n"
	      "'opra help'.\n",
	      f);
}

static json_t *command_json(const cli_command *c, bool full)
{
	char name[64];
	json_t *j, *opts;

	command_name(name, sizeof(name), c);
	j = json_pack("{s:s, s:s, s:s}", "command", name, "usage", c->usage, "summary", c->summary);
	if (j == NULL || !full)
		return j;
	opts = json_array();
	for (const cli_optspec *s = c->opts; s && s->name; s++)
		json_array_append_new(opts, json_pack("{s:s, s:s?, s:s}", "flag", s->name, "arg",
						      s->arg, "summary", s->summary));
	json_object_set_new(j, "help", json_string(c->help));
	json_object_set_new(j, "options", opts);
	return j;
}

/* `opra help` as one JSON document, for tools that build completions. */
static json_t *help_general_json(void)
{
	json_t *cmds = json_array(), *flags = json_array();

	for (const cli_command *c = cli_commands; c->noun; c++)
		json_array_append_new(cmds, command_json(c, false));
	for (const opt_global_spec *s = opt_global_specs; s->name; s++)
		json_array_append_new(flags,
				      json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "flag", s->name,
						"arg", s->arg, "env", s->env, "config_key", s->key,
						"summary", s->summary));
	return json_pack("{s:s, s:o, s:o}", "usage", "opra [global flags] NOUN VERB [args] [flags]",
			 "commands", cmds, "global_flags", flags);
}

static json_t *help_noun_json(const char *noun)
{
	json_t *cmds = json_array();

	for (const cli_command *c = cli_commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0)
			json_array_append_new(cmds, command_json(c, false));
	return json_pack("{s:s, s:s, s:o}", "noun", noun, "summary", noun_summary(noun), "commands",
			 cmds);
}

/* Prints help for a noun (c NULL) or a command to stdout and returns 0. */
static int show_help(out_ctx *o, const char *noun, const cli_command *c)
{
	/* A verbless noun (ping) is its own command. */
	if (c == NULL && noun != NULL)
		c = find_command(noun, NULL);
	if (o->json) {
		json_t *doc = c	     ? command_json(c, true)
			      : noun ? help_noun_json(noun)
				     : help_general_json();
		return out_json(o, doc) == OPRA_OK ? 0 : out_fail(o, opra_err_code());
	}
	if (c)
		help_command_text(o->out, c);
	else if (noun)
		help_noun_text(o->out, noun);
	else
		help_general_text(o->out);
	return 0;
}

static int show_version(out_ctx *o)
{
	if (o->json) {
		int rc = out_json(o, json_pack("{s:s, s:i}", "version", OPRA_VERSION,
					       "protocol_version", OPRA_PROTOCOL_VERSION));
		return rc == OPRA_OK ? 0 : out_fail(o, rc);
	}
	fprintf(o->out, "opra %s (protocol %d)\n", OPRA_VERSION, OPRA_PROTOCOL_VERSION);
	return 0;
}

/* ---- errors shared by handlers ------------------------------------------ */

static const char *source_name(opt_source s)
{
	switch (s) {
	case OPT_FROM_FLAG:
		return "the command line";
	case OPT_FROM_ENV:
		return "the environment";
	case OPT_FROM_FILE:
		return "the config file";
	case OPT_FROM_DEFAULT:
		return "the default";
	default:
		return "nowhere";
	}
}

int cli_fail(cli_ctx *ctx, int status)
{
	int code = out_fail(ctx->out, status);

	if (status == OPRA_UNAUTHENTICATED) {
		if (ctx->cfg->token == NULL)
			fputs("opra: no token is configured: pass --token, set OPRA_TOKEN, or put "
			      "token = ... in the config file\n",
			      ctx->out->err);
		else
			fprintf(ctx->out->err, "opra: (the token came from %s)\n",
				source_name(ctx->cfg->token_from));
	} else if (status == OPRA_UNAVAILABLE && ctx->cfg->servers_from == OPT_FROM_DEFAULT) {
		fputs("opra: (no server is configured, so the default " OPT_DEFAULT_SERVER
		      " was tried; choose one with --server URL, OPRA_SERVER or server = ... "
		      "in the config file)\n",
		      ctx->out->err);
	}
	return code;
}

int cli_usage(cli_ctx *ctx, const char *fmt, ...)
{
	char msg[OPRA_ERR_MSG_MAX], hint[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(hint, sizeof(hint), "usage: %s", ctx->cmd->usage);
	return out_usage(ctx->out, hint, "%s", msg);
}

/* ---- parsing ------------------------------------------------------------ */

/* --json must shape even the errors found while parsing, before the
 * flag itself has been reached. */
static bool prescan_json(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--json") == 0)
			return true;
	}
	return false;
}

/* --help anywhere before "--" asks for help rather than a run, so that
 * "opra user add --bogus --help" still helps. */
static bool prescan_help(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

static int unknown_flag(out_ctx *o, const char *arg, const cli_command *c)
{
	char hint[256], name[64], flag[64];
	suggester s;

	/* Compare the flag without any "=value" part. */
	snprintf(flag, sizeof(flag), "%.*s", (int)strcspn(arg, "="), arg);
	suggest_init(&s, flag);
	for (const opt_global_spec *g = opt_global_specs; g->name; g++)
		suggest_offer(&s, g->name);
	for (const cli_optspec *l = c ? c->opts : NULL; l && l->name; l++)
		suggest_offer(&s, l->name);
	if (c)
		command_name(name, sizeof(name), c);
	if (s.best)
		snprintf(hint, sizeof(hint), "opra: did you mean '%s'? see 'opra help%s%s'", s.best,
			 c ? " " : "", c ? name : "");
	else
		snprintf(hint, sizeof(hint), "opra: see 'opra help%s%s'", c ? " " : "",
			 c ? name : "");
	return out_usage(o, hint, "unknown flag '%s'", arg);
}

/* Parses global flags at argv[*i] until the first word that is not a
 * flag. Returns 0 or a usage exit code. */
static int parse_leading_globals(out_ctx *o, opt_flags *f, int argc, char **argv, int *i)
{
	while (*i < argc && argv[*i][0] == '-' && argv[*i][1] != '\0') {
		bool matched;
		if (strcmp(argv[*i], "--") == 0) {
			(*i)++;
			break;
		}
		if (opt_parse_global(f, argc, argv, i, &matched) != OPRA_OK)
			return out_usage(o, "opra: see 'opra help'", "%s", opra_err_msg());
		if (!matched)
			return unknown_flag(o, argv[*i], NULL);
	}
	return 0;
}

static int unknown_command(out_ctx *o, const char *noun, const char *verb)
{
	char hint[256] = "";
	suggester s;

	if (verb == NULL) {
		suggest_init(&s, noun);
		for (const cli_command *c = cli_commands; c->noun; c++)
			suggest_offer(&s, c->noun);
		if (s.best)
			snprintf(hint, sizeof(hint), "opra: did you mean 'opra %s'?", s.best);
		return out_usage(o, s.best ? hint : NULL, "unknown command '%s'; see 'opra help'",
				 noun);
	}
	suggest_init(&s, verb);
	for (const cli_command *c = cli_commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0 && c->verb)
			suggest_offer(&s, c->verb);
	if (s.best)
		snprintf(hint, sizeof(hint), "opra: did you mean 'opra %s %s'?", noun, s.best);
	return out_usage(o, s.best ? hint : NULL, "unknown command '%s %s'; see 'opra help %s'",
			 noun, verb, noun);
}

/* `opra help [NOUN [VERB [WORD]]]`; flags among the words are global flags.
 * A third word is accepted where the command's usage line has it
 * ("opra help appraisal scope add"). */
static int run_help(out_ctx *o, opt_flags *f, int argc, char **argv, int i)
{
	const char *words[3] = {NULL, NULL, NULL};
	size_t n = 0;
	int code;

	while (i < argc) {
		bool matched;
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			if (opt_parse_global(f, argc, argv, &i, &matched) != OPRA_OK)
				return out_usage(o, NULL, "%s", opra_err_msg());
			if (!matched)
				return unknown_flag(o, argv[i], NULL);
			continue;
		}
		if (n == 3)
			return out_usage(o, "usage: opra help [NOUN [VERB]]",
					 "too many words after 'help'");
		words[n++] = argv[i++];
	}
	o->json = f->json;
	if (n == 0 || strcmp(words[0], "help") == 0)
		return show_help(o, NULL, NULL);
	if (!noun_exists(words[0]))
		return unknown_command(o, words[0], NULL);
	if (n == 1 || find_command(words[0], NULL) != NULL)
		return show_help(o, words[0], NULL);
	const cli_command *c = find_command(words[0], words[1]);
	if (c == NULL)
		return unknown_command(o, words[0], words[1]);
	if (n == 3) {
		char prefix[256];
		int len = snprintf(prefix, sizeof(prefix), "opra %s %s %s", words[0], words[1],
				   words[2]);
		if (len < 0 || (size_t)len >= sizeof(prefix) ||
		    strncmp(c->usage, prefix, (size_t)len) != 0 ||
		    (c->usage[len] != '\0' && c->usage[len] != ' '))
			return out_usage(o, "usage: opra help [NOUN [VERB]]",
					 "too many words after 'help'");
	}
	code = show_help(o, words[0], c);
	return code;
}

/* Matches argv[*i] against the command's own options. Returns the index
 * of the option, -1 when it is not one, or -2 after reporting a usage
 * error (into *exit_code). */
static int parse_local(cli_args *args, const cli_command *c, out_ctx *o, int argc, char **argv,
		       int *i, int *exit_code)
{
	const char *arg = argv[*i];
	const char *value = NULL;
	char hint[512];

	snprintf(hint, sizeof(hint), "usage: %s", c->usage);
	for (int k = 0; c->opts && c->opts[k].name && k < CLI_MAX_OPTS; k++) {
		const cli_optspec *s = &c->opts[k];
		size_t n = strlen(s->name);
		bool is_short =
			s->short_name && arg[0] == '-' && arg[1] == s->short_name && arg[2] == '\0';
		if (!is_short) {
			if (strncmp(arg, s->name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
				continue;
			if (arg[n] == '=')
				value = arg + n + 1;
		}
		if (s->arg == NULL) {
			if (value != NULL) {
				*exit_code = out_usage(o, hint, "%s takes no value", s->name);
				return -2;
			}
			value = "";
		} else if (value == NULL) {
			if (*i + 1 >= argc) {
				*exit_code = out_usage(o, hint, "%s needs a value (%s)", s->name,
						       s->arg);
				return -2;
			}
			value = argv[++*i];
		}
		(*i)++;
		args->values[k] = value;
		return k;
	}
	return -1;
}

/* The name of positional argument n (0-based) as the usage line spells
 * it ("opra user revoke NAME" -> NAME), so "needs NAME" can say which.
 * Words that follow a flag are the flag's value, not positionals. */
static bool usage_positional(char *out, size_t size, const cli_command *c, int n)
{
	const char *p = c->usage;
	int skip_words = 1 + 1 + (c->verb ? 1 : 0); /* "opra", noun, verb */
	bool after_flag = false;

	while (*p) {
		size_t len;
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		if (skip_words > 0) {
			skip_words--;
		} else if (p[0] == '-' || p[0] == '[') {
			after_flag = p[0] == '-';
		} else if (after_flag) {
			after_flag = false;
		} else if (n-- == 0) {
			snprintf(out, size, "%.*s", (int)len, p);
			return true;
		}
		p += len;
	}
	return false;
}

/* Required options and fixed choices, straight from the table. Returns 0
 * or a usage exit code. */
static int check_options(cli_ctx *ctx, const cli_args *args)
{
	const cli_command *c = ctx->cmd;

	for (int k = 0; c->opts && c->opts[k].name && k < CLI_MAX_OPTS; k++) {
		const cli_optspec *s = &c->opts[k];
		const char *v = args->values[k];
		char allowed[256] = "";
		size_t len = 0;
		bool ok = false;

		for (const char *const *ch = s->choices; ch && *ch; ch++) {
			ok = ok || (v && strcmp(*ch, v) == 0);
			if (len < sizeof(allowed))
				len += (size_t)snprintf(allowed + len, sizeof(allowed) - len,
							"%s%s", len ? ", " : "", *ch);
		}
		if (v == NULL) {
			if (s->required && s->choices)
				return cli_usage(ctx, "%s is required; use one of: %s", s->name,
						 allowed);
			if (s->required)
				return cli_usage(ctx, "%s %s is required", s->name,
						 s->arg ? s->arg : "");
			continue;
		}
		if (s->choices == NULL)
			continue;
		if (!ok)
			return cli_usage(ctx, "%s '%s' is not allowed; use one of: %s", s->name, v,
					 allowed);
	}
	return 0;
}

/* ---- main --------------------------------------------------------------- */

int cli_main(int argc, char **argv, FILE *out, FILE *err, opt_env env)
{
	opt_flags flags = OPT_FLAGS_INIT;
	opt_config cfg;
	out_ctx o;
	cli_args args;
	cli_ctx ctx;
	const cli_command *cmd = NULL;
	const char *noun;
	kvfile *kv = NULL;
	rpc_client *rpc = NULL;
	char **positional = NULL;
	cli_given *given = NULL;
	char config_path[4096] = "";
	bool explicit_config = false, flags_done = false;
	int i = 1, code = 0, rc;

	memset(&cfg, 0, sizeof(cfg));
	memset(&args, 0, sizeof(args));
	out_init(&o, out, err, prescan_json(argc, argv), false);
	opra_err_clear();

	if ((code = parse_leading_globals(&o, &flags, argc, argv, &i)) != 0)
		goto done;
	if (flags.version) {
		code = show_version(&o);
		goto done;
	}
	if (i >= argc) {
		if (flags.help) {
			code = show_help(&o, NULL, NULL);
		} else if (o.json) {
			code = out_usage(&o, NULL, "no command given; see 'opra help'");
		} else {
			help_general_text(err);
			code = OPRA_EXIT_USAGE;
		}
		goto done;
	}
	noun = argv[i++];
	if (strcmp(noun, "help") == 0) {
		code = run_help(&o, &flags, argc, argv, i);
		goto done;
	}
	if (!noun_exists(noun)) {
		code = unknown_command(&o, noun, NULL);
		goto done;
	}
	cmd = find_command(noun, NULL);
	if (cmd == NULL) {
		/* The noun has verbs: global flags may sit between them. */
		if (prescan_help(argc, argv, i) && (i >= argc || argv[i][0] == '-')) {
			code = show_help(&o, noun, NULL);
			goto done;
		}
		if ((code = parse_leading_globals(&o, &flags, argc, argv, &i)) != 0)
			goto done;
		if (i >= argc) {
			char hint[128];
			snprintf(hint, sizeof(hint), "opra: see 'opra help %s'", noun);
			code = flags.help ? show_help(&o, noun, NULL)
					  : out_usage(&o, hint, "'opra %s' needs a command", noun);
			goto done;
		}
		const char *verb = argv[i++];
		if ((cmd = find_command(noun, verb)) == NULL) {
			code = unknown_command(&o, noun, verb);
			goto done;
		}
	}
	if (flags.help || prescan_help(argc, argv, i)) {
		code = show_help(&o, noun, cmd);
		goto done;
	}

	/* The rest: the command's own options first (so a command may reuse a
	 * name such as --site for its own meaning), then global flags, then
	 * positional arguments. */
	args.specs = cmd->opts;
	positional = opra_calloc((size_t)argc + 1, sizeof(*positional));
	given = opra_calloc((size_t)argc + 1, sizeof(*given));
	if (positional == NULL || given == NULL) {
		code = out_error(&o, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
		goto done;
	}
	args.argv = positional;
	args.given = given;
	while (i < argc) {
		char *a = argv[i];
		bool matched;
		if (flags_done || a[0] != '-' || a[1] == '\0') {
			positional[args.argc++] = a;
			i++;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			flags_done = true;
			i++;
			continue;
		}
		rc = parse_local(&args, cmd, &o, argc, argv, &i, &code);
		if (rc == -2)
			goto done;
		if (rc >= 0) {
			given[args.n_given].opt = rc;
			given[args.n_given].value = args.values[rc];
			args.n_given++;
			continue;
		}
		if (opt_parse_global(&flags, argc, argv, &i, &matched) != OPRA_OK) {
			char hint[512];
			snprintf(hint, sizeof(hint), "usage: %s", cmd->usage);
			code = out_usage(&o, hint, "%s", opra_err_msg());
			goto done;
		}
		if (!matched) {
			code = unknown_flag(&o, a, cmd);
			goto done;
		}
	}
	if (flags.version) {
		code = show_version(&o);
		goto done;
	}

	ctx.out = &o;
	ctx.cfg = &cfg;
	ctx.cmd = cmd;
	ctx.rpc = NULL;
	if (args.argc < cmd->min_args) {
		char name[64], missing[64];
		command_name(name, sizeof(name), cmd);
		if (usage_positional(missing, sizeof(missing), cmd, args.argc))
			code = cli_usage(&ctx, "'opra %s' needs %s", name, missing);
		else
			code = cli_usage(&ctx, "'opra %s' needs more arguments", name);
		goto done;
	}
	if (cmd->max_args >= 0 && args.argc > cmd->max_args) {
		code = cli_usage(&ctx, "unexpected argument '%s'", args.argv[cmd->max_args]);
		goto done;
	}

	if ((code = check_options(&ctx, &args)) != 0)
		goto done;

	/* Settings: flags > environment > config file > default. */
	rc = opt_config_path(config_path, sizeof(config_path), &explicit_config, &flags, env);
	if (rc == OPRA_OK)
		rc = opt_config_load(&kv, config_path, explicit_config, err);
	else if (rc == OPRA_NOT_FOUND)
		rc = OPRA_OK; /* no HOME: run on flags and environment alone */
	if (rc == OPRA_OK)
		rc = opt_resolve(&cfg, &flags, env, kv, config_path);
	if (rc != OPRA_OK) {
		code = out_usage(&o, NULL, "%s", opra_err_msg());
		goto done;
	}
	o.json = cfg.json;
	o.quiet = cfg.quiet;

	if ((cmd->flags & CLI_NEEDS_TOKEN) && cfg.token == NULL) {
		char msg[512], name[64];
		command_name(name, sizeof(name), cmd);
		snprintf(msg, sizeof(msg),
			 "'opra %s' needs a token: pass --token, set OPRA_TOKEN, or put "
			 "token = ... in the config file",
			 name);
		code = out_error(&o, OPRA_UNAUTHENTICATED, msg, NULL);
		goto done;
	}

	rpc_options ro;
	opt_rpc_options(&ro, &cfg);
	if ((rc = rpc_client_open(&rpc, &ro)) != OPRA_OK) {
		/* Refused before sending (e.g. a token over plain tcp:// to
		 * another host): a usage error the user can fix with flags. */
		code = rc == OPRA_INVALID_ARGUMENT ? out_usage(&o, NULL, "%s", opra_err_msg())
						   : out_fail(&o, rc);
		goto done;
	}
	ctx.rpc = rpc;
	code = cmd->run(&ctx, &args);
done:
	rpc_client_close(rpc);
	kvfile_free(kv);
	opt_config_free(&cfg);
	opra_free(positional);
	opra_free(given);
	return out_finish(&o, code);
}

int cli_call(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, void *resp_out, const char *key)
{
	int rc = rpc_call(ctx->rpc, method, req, resp_desc, (ProtobufCMessage **)resp_out, key);
	return rc == OPRA_OK ? 0 : cli_fail(ctx, rc);
}

int cli_emit_json(cli_ctx *ctx, json_t *doc)
{
	int rc = out_json(ctx->out, doc); /* NULL doc: RESOURCE_EXHAUSTED */
	return rc == OPRA_OK ? 0 : out_fail(ctx->out, rc);
}
