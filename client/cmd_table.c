/* The subcommand table (Redis style): every `opra` command is one row.
 * Keep rows grouped by noun and in the order `opra help` should list
 * them. Long help: plain text, lines under 80 columns. */
#include "cli.h"

#include <stddef.h>

const cli_noun cli_nouns[] = {
	{"ping", "Check that a server answers; show versions and latency"},
	{"user", "Users and their tokens (admin only)"},
	{"model", "Process models: list, show, import, export, crosswalk"},
	{NULL, NULL},
};

static const char *const user_roles[] = {"admin", "program-office", "user", "automation", NULL};

static const cli_optspec user_add_opts[] = {
	{"--role", 0, "ROLE", "admin, program-office, user or automation (required)", true,
	 user_roles},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const char *const model_import_formats[] = {"opra", "oscal-catalog", NULL};
static const char *const model_export_formats[] = {"opra", "yaml", "json", NULL};

static const cli_optspec model_show_opts[] = {
	{"--pa", 0, "PA", "only this process area, e.g. SC", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec model_import_opts[] = {
	{"--format", 0, "FORMAT", "opra (YAML or JSON) or oscal-catalog; default: guessed", false,
	 model_import_formats},
	{"--replace", 0, NULL, "replace a model of the same id", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec model_export_opts[] = {
	{"--format", 0, "FORMAT", "opra (= yaml, the default), yaml or json", false,
	 model_export_formats},
	{"--output", 'o', "PATH", "write to PATH (atomically) instead of stdout", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec model_map_opts[] = {
	{"--model", 0, "MODEL", "only the practice of this model", false, NULL},
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

	{"model", "list", cmd_model_list, "opra model list", "List the models on the server",
	 "Lists every model the server holds: id, version, number of process areas\n"
	 "and practices, how many elements are unconfirmed (their title or place\n"
	 "has not been confirmed in a source yet) and the name.\n"
	 "\n"
	 "  $ opra model list\n"
	 "  ID            VERSION  PAS  PRACTICES  UNCONFIRMED  NAME\n"
	 "  cert-rmm-1.2  1.2      26   584        593          CERT Resilience ...\n"
	 "\n"
	 "With --json: an array of {\"id\", \"name\", \"version\", \"process_areas\",\n"
	 "\"short_name\", \"practices\", \"unconfirmed\", \"imported_at\",\n"
	 "\"imported_by\"}. With --quiet the table has no header line. Any token.",
	 NULL, 0, 0, CLI_NEEDS_TOKEN},

	{"model", "show", cmd_model_show, "opra model show MODEL [--pa PA]",
	 "Show a model's process areas, goals and practices",
	 "Prints the model as a tree: each process area with its name and category,\n"
	 "its specific goals (SG) and generic goals (GG), and under each goal its\n"
	 "practices by full id (ADM:SG1.SP1, SC:GG2.GP6) and title. Elements not\n"
	 "yet confirmed in a source are marked (unconfirmed); a legend at the end\n"
	 "says how many of the elements shown carry the mark. --pa shows one\n"
	 "process area (case-insensitive).\n"
	 "\n"
	 "  $ opra model show cert-rmm-1.2 --pa SC\n"
	 "\n"
	 "With --json: {\"id\", \"name\", \"short_name\", \"version\", \"publisher\",\n"
	 "\"confirmed\", \"sources\", \"note\", \"process_areas\": [{\"id\", \"name\",\n"
	 "\"category\", \"purpose\", \"confirmed\", \"goals\": [{\"id\", \"name\",\n"
	 "\"confirmed\", \"practices\": [...]}], \"generic_goals\": [same]}]}, where a\n"
	 "practice is {\"id\" (full id), \"name\" (title), \"local_id\", \"statement\",\n"
	 "\"subpractices\", \"typical_work_products\", \"references\" ([{\"model\",\n"
	 "\"practice\"} or {\"code\", \"ref\"}, with \"note\" when there is one]),\n"
	 "\"confirmed\", \"sources\", \"note\"}. \"goals\" holds the specific goals,\n"
	 "\"generic_goals\" the generic ones.\n"
	 "\n"
	 "Exit 3 when there is no such model or process area. Any token.",
	 model_show_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"model", "import", cmd_model_import,
	 "opra model import FILE [--format opra|oscal-catalog] [--replace]",
	 "Import a model file (admin only)",
	 "Reads FILE, checks it completely on this machine (errors name the file,\n"
	 "the line and the element, e.g. 'x.yaml:41: process area ADM, goal SG1:\n"
	 "...') and sends it to the server, which checks it again and stores it in\n"
	 "one transaction: all or nothing. --format opra reads the opra model\n"
	 "format (YAML or JSON, docs/models.md); --format oscal-catalog reads an\n"
	 "OSCAL catalog (JSON), whose groups become process areas and whose\n"
	 "controls become practices. Without --format the content decides.\n"
	 "\n"
	 "A model whose id the server already holds is refused (exit 5) unless\n"
	 "--replace is given; a model that an appraisal uses cannot be replaced.\n"
	 "A request larger than the server's --max-message-size is refused before\n"
	 "it is sent (exit 6; the message gives both sizes). On a terminal, progress\n"
	 "goes to stderr. Each invocation sends a fresh idempotency key.\n"
	 "\n"
	 "With --json: {\"id\", \"name\", \"version\", \"process_areas\", \"practices\",\n"
	 "\"replaced\", \"unconfirmed\", \"source_format\", \"imported_at\",\n"
	 "\"imported_by\", \"bytes\"}. --quiet prints nothing.\n"
	 "\n"
	 "Exit 3 when FILE does not exist, 4 without an admin token, 5 when the\n"
	 "model exists (without --replace) or is in use, 6 when the file is not a\n"
	 "valid model or too large for the server.",
	 model_import_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"model", "export", cmd_model_export,
	 "opra model export MODEL [--format opra|yaml|json] [-o PATH]",
	 "Write a model out in the opra model format",
	 "Fetches the model and writes it in the opra model format: YAML (--format\n"
	 "opra or yaml, the default) or JSON (--format json), provenance included.\n"
	 "The output imports again unchanged ('opra model import FILE --replace').\n"
	 "Without -o the model goes to stdout; -o PATH writes a temporary file next\n"
	 "to PATH and renames it, so PATH is never left half written. The directory\n"
	 "must exist.\n"
	 "\n"
	 "With --json and no -o, stdout holds the model as a JSON document (as with\n"
	 "--format json). With --json and -o: {\"id\", \"path\", \"format\", \"bytes\",\n"
	 "\"process_areas\", \"practices\"}.\n"
	 "\n"
	 "Exit 3 when there is no such model or PATH's directory does not exist,\n"
	 "2 when PATH is a directory. Any token.",
	 model_export_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"model", "map", cmd_model_map, "opra model map PRACTICE|PA [--model MODEL]",
	 "Crosswalk: what a practice or process area maps to and from",
	 "Shows, for every model that has PRACTICE (a full id such as IRP:SG2.SP1,\n"
	 "case-insensitive) or process area PA (such as IRP), the practices and\n"
	 "process areas of other models and the codes of practice it references\n"
	 "(->) and those that reference it (<-). A practice also shows the mappings\n"
	 "of its process area as a whole, marked [through the process area]\n"
	 "(CMMI-SVC maps to CERT-RMM at that level). Mappings no source confirms\n"
	 "are marked (unconfirmed). --model restricts the lookup to one model\n"
	 "(MA exists in more than one).\n"
	 "\n"
	 "  $ opra model map IRP --model cmmi-svc-1.3\n"
	 "  cmmi-svc-1.3 IRP — Incident Resolution and Prevention\n"
	 "    → cert-rmm-1.2 process area IMC  Incident Management and Control\n"
	 "      [through the process area]  (unconfirmed)  (seed presentation)\n"
	 "\n"
	 "A referenced practice the server does not hold is shown with \"(not on\n"
	 "this server)\".\n"
	 "\n"
	 "With --json: {\"practice\", \"results\": [{\"model\", \"practice\", \"title\",\n"
	 "\"maps_to\": [...], \"mapped_from\": [...]}]}, each entry {\"model\",\n"
	 "\"practice\" or \"process_area\", \"title\", \"code\", \"ref\", \"note\",\n"
	 "\"via\" (\"practice\" or \"process area\"), \"confirmed\", \"resolved\"}\n"
	 "without the empty fields. Exit 3 when no model has it. Any token.",
	 model_map_opts, 1, 1, CLI_NEEDS_TOKEN},

	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0},
};
