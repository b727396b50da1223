/* The subcommand table (Redis style): every `opra` command is one row.
 * Keep rows grouped by noun and in the order `opra help` should list
 * them. Long help: plain text, lines under 80 columns. */
#include "cli.h"

#include <stddef.h>

const cli_noun cli_nouns[] = {
	{"ping", "Check that a server answers; show versions and latency"},
	{"user", "Users and their tokens (admin only)"},
	{NULL, NULL},
};

static const char *const user_roles[] = {"admin", "program-office", "user", "automation", NULL};

static const cli_optspec user_add_opts[] = {
	{"--role", 0, "ROLE", "admin, program-office, user or automation (required)", true,
	 user_roles},
	{NULL, 0, NULL, NULL, false, NULL},
};

const cli_command cli_commands[] = {
	{"ping", NULL, cmd_ping, "opra ping",
	 "Check that a server answers; show versions and latency",
	 "Calls opra.v1.System/Ping on the first configured server that accepts a\n"
	 "connection and prints the server's version, its protocol version and the\n"
	 "round-trip time. Needs no token, so it is the first thing to try when\n"
	 "something does not work.\n"
	 "\n"
	 "  $ opra ping\n"
	 "  server tcp://127.0.0.1:7430: oprad 0.1.0, protocol 1, 0.4 ms\n"
	 "\n"
	 "With --json: {\"server_version\", \"protocol_version\", \"latency_ms\",\n"
	 "\"server\", \"client_version\"}. With --quiet nothing is printed: the exit\n"
	 "status alone says whether the server answered.\n"
	 "\n"
	 "If the server cannot be reached (exit 7):\n"
	 "  - is oprad running? (oprad listens on tcp://127.0.0.1:7430 by default)\n"
	 "  - which server did opra try? --server, OPRA_SERVER and the config file\n"
	 "    ($XDG_CONFIG_HOME/opra/config) choose it, in that order;\n"
	 "  - a tls+tcp:// server needs --ca-file (or OPRA_CA_FILE);\n"
	 "  - a slow link may need a longer --timeout SECONDS.",
	 NULL, 0, 0, 0},

	{"user", "add", cmd_user_add,
	 "opra user add NAME --role admin|program-office|user|automation",
	 "Create a user and print their token (shown once)",
	 "Creates a user with a global role and prints the user's bearer token.\n"
	 "The token is shown only this once: the server keeps only a hash of it.\n"
	 "Hand it to the user over a safe channel; they put it in OPRA_TOKEN or in\n"
	 "their config file (token = ..., file mode 0600).\n"
	 "\n"
	 "Roles: admin (administers users and the server), program-office (the\n"
	 "central office that aggregates ratings across units and sites), user\n"
	 "(appraisal team members), automation (scanners, CMDBs, CI jobs that\n"
	 "submit evidence and inventory). What each role may do in an appraisal\n"
	 "also depends on the member role given there.\n"
	 "\n"
	 "With --json: {\"name\", \"role\", \"token\"}. With --quiet only the token\n"
	 "is printed, e.g. TOKEN=$(opra user add ci --role automation --quiet).\n"
	 "Exit 5 when the name is taken. Needs an admin token.",
	 user_add_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"user", "list", cmd_user_list, "opra user list", "List users, their roles and state",
	 "Lists every user with role, state (active or revoked) and the times the\n"
	 "user was created and revoked (UTC).\n"
	 "\n"
	 "With --json: an array of {\"name\", \"role\", \"revoked\", \"created_at\",\n"
	 "\"revoked_at\"} (revoked_at is null while the user is active). With\n"
	 "--quiet the table has no header line. Needs an admin token.",
	 NULL, 0, 0, CLI_NEEDS_TOKEN},

	{"user", "revoke", cmd_user_revoke, "opra user revoke NAME",
	 "Revoke a user's token at once",
	 "Revokes the user's token at once. The user and everything they did stay\n"
	 "on record; revocation cannot be undone. The server refuses to revoke the\n"
	 "last active admin.\n"
	 "\n"
	 "With --json: {\"name\", \"revoked_at\"}. Exit 3 when there is no such\n"
	 "user, 5 when the user is already revoked. Needs an admin token.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0},
};
