/* The subcommand table (Redis style): every `opra` command is one row.
 * Keep rows grouped by noun and in the order `opra help` should list
 * them. Long help: plain text, lines under 80 columns. */
#include "cli.h"

#include <stddef.h>

const cli_noun cli_nouns[] = {
	{"ping", "Check that a server answers; show versions and latency"},
	{"user", "Users and their tokens (admin only)"},
	{"model", "Process models: list, show, import, export, crosswalk"},
	{"unit", "Organisational units: the tree of sites and business units"},
	{"service", "Services: owning unit, mission, criticality, supporting assets"},
	{"asset", "Assets: people, information, technology, facilities"},
	{"inventory", "The dependency tree; bulk import and export of the whole inventory"},
	{"appraisal", "Appraisals: scope (models, process areas, instances), members, finalise"},
	{"evidence", "Objective evidence: submit (text or file), list, get, accept, reject"},
	{"weakness", "Weaknesses found on a practice at an instance"},
	{"characterize", "Label a practice at an instance: FI, LI, PI, NI or NY"},
	{"judge", "A lead's label for a practice the method leaves to judgement"},
	{"rating", "Goal ratings and capability levels, computed on every read"},
	{"audit", "An appraisal's event log: list it, verify its hash chain"},
	{"watch", "Follow events live as they are committed (resumable cursor)"},
	{"sync", "Deliver the offline spool to the server, in order, exactly once"},
	{"compare", "Capability profiles of several appraisals side by side, with targets"},
	{"plan", "The improvement plan: actions on blocking goals, owners, cost, status"},
	{"report", "Publish an appraisal: html, json, csv or OSCAL assessment results"},
	{NULL, NULL},
};

static const char *const user_roles[] = {"admin", "program-office", "user", "automation", NULL};

static const cli_optspec user_add_opts[] = {
	{"--role", 0, "ROLE", "admin, program-office, user or automation (required)", true,
	 user_roles},
	{"--unit", 0, "UNIT", "scope the user to this unit's subtree", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

/* ---- the inventory ---- */

static const char *const asset_types[] = {"people", "information", "technology", "facilities",
					  NULL};
static const char *const criticalities[] = {"high", "medium", "low", NULL};

static const cli_optspec unit_add_opts[] = {
	{"--parent", 0, "UNIT", "the parent unit (default: a root unit)", false, NULL},
	{"--site", 0, "TEXT", "site label, e.g. dublin", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec unit_update_opts[] = {
	{"--parent", 0, "UNIT", "move it under UNIT", false, NULL},
	{"--no-parent", 0, NULL, "make it a root unit", false, NULL},
	{"--site", 0, "TEXT", "site label (\"\" clears it)", false, NULL},
	{"--name", 0, "NEW_NAME", "rename it", false, NULL},
	{"--expect-version", 0, "N", "refuse (exit 5) unless it is at version N", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec unit_list_opts[] = {
	{"--unit", 0, "UNIT", "only UNIT and the units under it", false, NULL},
	{"--all", 0, NULL, "include removed units", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec service_add_opts[] = {
	{"--unit", 0, "UNIT", "the unit that owns the service (required)", true, NULL},
	{"--mission", 0, "TEXT", "the mission statement", false, NULL},
	{"--criticality", 0, "LEVEL", "high, medium or low (the server's default: medium)", false,
	 criticalities},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec service_update_opts[] = {
	{"--unit", 0, "UNIT", "move it to UNIT", false, NULL},
	{"--mission", 0, "TEXT", "mission statement (\"\" clears it)", false, NULL},
	{"--criticality", 0, "LEVEL", "high, medium or low", false, criticalities},
	{"--name", 0, "NEW_NAME", "rename it", false, NULL},
	{"--expect-version", 0, "N", "refuse (exit 5) unless it is at version N", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec service_list_opts[] = {
	{"--unit", 0, "UNIT", "only services of UNIT", false, NULL},
	{"--all", 0, NULL, "include removed services", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec asset_add_opts[] = {
	{"--type", 0, "TYPE", "people, information, technology or facilities (required)", true,
	 asset_types},
	{"--unit", 0, "UNIT", "the unit it belongs to", false, NULL},
	{"--owner", 0, "TEXT", "who owns it", false, NULL},
	{"--description", 0, "TEXT", "what it is", false, NULL},
	{"--tag", 0, "TAG", "a free-form tag; repeat for more", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec asset_update_opts[] = {
	{"--type", 0, "TYPE", "people, information, technology or facilities", false, asset_types},
	{"--unit", 0, "UNIT", "move it to UNIT", false, NULL},
	{"--no-unit", 0, NULL, "let it belong to no unit", false, NULL},
	{"--owner", 0, "TEXT", "owner (\"\" clears it)", false, NULL},
	{"--description", 0, "TEXT", "description (\"\" clears it)", false, NULL},
	{"--tag", 0, "TAG", "replace the tags; repeat for more", false, NULL},
	{"--no-tags", 0, NULL, "remove every tag", false, NULL},
	{"--name", 0, "NEW_NAME", "rename it", false, NULL},
	{"--expect-version", 0, "N", "refuse (exit 5) unless it is at version N", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec asset_list_opts[] = {
	{"--type", 0, "TYPE", "only assets of this type", false, asset_types},
	{"--unit", 0, "UNIT", "only assets of UNIT", false, NULL},
	{"--all", 0, NULL, "include removed assets", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec inventory_show_opts[] = {
	{"--asset", 0, "ASSET", "the services that depend on ASSET instead", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const char *const bulk_formats[] = {"csv", "json", NULL};
static const char *const bulk_kinds[] = {"unit", "service", "asset", "link", NULL};

static const cli_optspec inventory_import_opts[] = {
	{"--format", 0, "FORMAT", "csv or json (default: guessed from the file)", false,
	 bulk_formats},
	{"--kind", 0, "KIND",
	 "unit, service, asset or link: the kind of a CSV file without a "
	 "kind column (default: from the file name)",
	 false, bulk_kinds},
	{"--dry-run", 0, NULL, "report what would change; change nothing", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec inventory_export_opts[] = {
	{"--format", 0, "FORMAT", "csv (the default) or json", false, bulk_formats},
	{"--output", 'o', "PATH", "write to PATH (atomically) instead of stdout", false, NULL},
	{"--all", 0, NULL, "include removed objects, with a removed column (not importable)", false,
	 NULL},
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

/* ---- appraisals ---- */

static const char *const member_roles[] = {"lead", "appraiser", "viewer", "automation", NULL};

static const cli_optspec appraisal_create_opts[] = {
	{"--model", 0, "MODEL[,MODEL]", "the model(s) appraised, e.g. cert-rmm-1.2 (required)",
	 true, NULL},
	{"--pa", 0, "PA[,PA...]", "process areas in scope: PA, or MODEL/PA when ambiguous", false,
	 NULL},
	{"--all", 0, NULL, "every process area of the models", false, NULL},
	{"--target-level", 0, "N", "target capability level 0-3 (default 1)", false, NULL},
	{"--affirmation-coverage", 0, "PERCENT", "affirmation coverage threshold (default 50)",
	 false, NULL},
	{"--description", 0, "TEXT", "what the appraisal is for", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec appraisal_scope_opts[] = {
	{"--service", 0, "S", "a service of the inventory (repeatable, or S1,S2)", false, NULL},
	{"--unit", 0, "U", "a unit of the inventory (repeatable, or U1,U2)", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec appraisal_member_opts[] = {
	{"--role", 0, "ROLE", "lead, appraiser, viewer or automation (required)", true,
	 member_roles},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec appraisal_target_opts[] = {
	{"--pa", 0, "PA", "the process area (PA or MODEL/PA) (required)", true, NULL},
	{"--level", 0, "N", "target capability level 0-3 (required)", true, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

/* ---- events: audit and watch ---- */

static const cli_optspec audit_opts[] = {
	{"--verify", 0, NULL, "recompute the hash chain on the server and check it", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec watch_opts[] = {
	{"--after", 0, "ID", "resume after this event id (0: from the first event)", false, NULL},
	{"--once", 0, NULL, "exit after the first batch of events, or when a wait ends", false,
	 NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

/* ---- evidence and the offline spool ---- */

static const char *const evidence_kinds[] = {"artifact", "affirmation", NULL};
static const char *const evidence_statuses[] = {"proposed", "accepted", "rejected", NULL};

static const cli_optspec evidence_submit_opts[] = {
	{"--practice", 0, "P", "the practice, e.g. ADM:SG1.SP1 (required)", true, NULL},
	{"--instance", 0, "I", "the instance (service or unit in scope) (required)", true, NULL},
	{"--kind", 0, "KIND", "artifact or affirmation (required)", true, evidence_kinds},
	{"--file", 0, "PATH", "upload this file as the evidence", false, NULL},
	{"--text", 0, "TEXT", "the evidence as text (up to 64 KiB)", false, NULL},
	{"--title", 0, "TEXT", "a title for people", false, NULL},
	{"--idempotency-key", 0, "KEY", "reuse KEY to retry an earlier submit exactly once", false,
	 NULL},
	{"--spool", 0, NULL, "write to the offline spool; 'opra sync' delivers it", false, NULL},
	{"--spool-reference", 0, NULL, "spool only the file's path and hash, not a copy", false,
	 NULL},
	{"--no-spool", 0, NULL, "never spool: exit 7 when no server answers", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec evidence_list_opts[] = {
	{"--practice", 0, "P", "only this practice", false, NULL},
	{"--instance", 0, "I", "only this instance", false, NULL},
	{"--status", 0, "STATUS", "only proposed, accepted or rejected", false, evidence_statuses},
	{"--kind", 0, "KIND", "only artifact or affirmation", false, evidence_kinds},
	{"--candidates", 0, NULL, "evidence of mapped practices that could be linked", false,
	 NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec evidence_link_opts[] = {
	{"--practice", 0, "P", "the mapped practice to reuse it for (required)", true, NULL},
	{"--instance", 0, "I", "the instance (default: the evidence's own)", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

/* ---- characterisation and rating ---- */

static const cli_optspec characterize_opts[] = {
	{"--practice", 0, "P", "the practice, e.g. ADM:SG1.SP1 (required)", true, NULL},
	{"--instance", 0, "I", "the instance (service or unit in scope) (required)", true, NULL},
	{"--value", 0, "LABEL", "FI, LI, PI, NI or NY (required)", true, NULL},
	{"--note", 0, "TEXT", "why, for the record", false, NULL},
	{"--expect-version", 0, "N", "refuse (exit 5) unless it is at version N (0: new)", false,
	 NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec judge_opts[] = {
	{"--practice", 0, "P", "the practice, e.g. ADM:SG1.SP1 (required)", true, NULL},
	{"--value", 0, "LABEL", "FI, LI, PI or NI (required)", true, NULL},
	{"--rationale", 0, "TEXT", "why the team decided this label (required)", true, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec weakness_add_opts[] = {
	{"--practice", 0, "P", "the practice, e.g. ADM:SG1.SP1 (required)", true, NULL},
	{"--instance", 0, "I", "the instance (required)", true, NULL},
	{"--text", 0, "TEXT", "what is missing or wrong (required)", true, NULL},
	{"--significant", 0, NULL, "the weakness makes its goal unsatisfied", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec rating_show_opts[] = {
	{"--pa", 0, "PA", "only this process area (PA or MODEL/PA)", false, NULL},
	{"--explain", 0, NULL, "say in words what decided each goal and level", false, NULL},
	{"--unit", 0, "UNIT", "rate only the instances that belong to UNIT", false, NULL},
	{"--by-unit", 0, NULL, "add each unit's result next to the organisation's", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const char *const report_formats[] = {"html", "json", "csv", "oscal", NULL};

static const cli_optspec report_opts[] = {
	{"--format", 0, "FORMAT", "html, json, csv or oscal (required)", true, report_formats},
	{"--output", 'o', "PATH", "write to PATH (atomically) instead of stdout", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

/* ---- improvement plan (issue 8; client/cmd_plan.c) ---- */

static const char *const plan_statuses[] = {"planned", "in-progress", "done", "dropped", NULL};

static const cli_optspec plan_add_opts[] = {
	{"--title", 0, "TEXT", "what the action does (required)", true, NULL},
	{"--goal", 0, "G", "a goal it works on, e.g. SC:SG2 (repeatable)", false, NULL},
	{"--practice", 0, "P", "a practice it works on, e.g. SC:SG1.SP2 (repeatable)", false,
	 NULL},
	{"--owner", 0, "TEXT", "who is responsible (free text)", false, NULL},
	{"--due", 0, "DATE", "due date, YYYY-MM-DD", false, NULL},
	{"--status", 0, "STATUS", "planned (default), in-progress, done or dropped", false,
	 plan_statuses},
	{"--estimated-cost", 0, "AMOUNT", "estimated cost, e.g. 12500 or 12500.50", false, NULL},
	{"--actual-cost", 0, "AMOUNT", "what it has cost so far", false, NULL},
	{"--currency", 0, "CODE", "ISO 4217 code (default: the plan's, USD for a new plan)", false,
	 NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec plan_update_opts[] = {
	{"--title", 0, "TEXT", "new title", false, NULL},
	{"--goal", 0, "G", "replace the goals and practices (repeatable)", false, NULL},
	{"--practice", 0, "P", "replace the goals and practices (repeatable)", false, NULL},
	{"--owner", 0, "TEXT", "new owner (\"\" clears it)", false, NULL},
	{"--due", 0, "DATE", "new due date, YYYY-MM-DD (\"\" clears it)", false, NULL},
	{"--status", 0, "STATUS", "planned, in-progress, done or dropped", false, plan_statuses},
	{"--estimated-cost", 0, "AMOUNT", "new estimated cost", false, NULL},
	{"--actual-cost", 0, "AMOUNT", "new actual cost", false, NULL},
	{"--expect-version", 0, "N", "refuse (exit 5) unless it is at version N", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec plan_list_opts[] = {
	{"--status", 0, "STATUS", "only actions with this status", false, plan_statuses},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec plan_show_opts[] = {
	{"--since", 0, "EARLIER", "the earlier appraisal whose plan paid for the change", false,
	 NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const char *const compare_by[] = {"pa", "unit", NULL};

static const cli_optspec compare_opts[] = {
	{"--by", 0, "pa|unit", "rows per process area (default) or per unit", false, compare_by},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec evidence_get_opts[] = {
	{"--output", 'o', "PATH", "write to PATH (atomically) instead of stdout", false, NULL},
	{NULL, 0, NULL, NULL, false, NULL},
};

static const cli_optspec evidence_decide_opts[] = {
	{"--reason", 0, "TEXT", "why (recorded in the audit log)", false, NULL},
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
	 "opra user add NAME --role admin|program-office|user|automation [--unit UNIT]",
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
	 "--unit scopes the user to a unit: such a user writes the inventory only\n"
	 "inside that unit's subtree (admins and program-office write all of it;\n"
	 "an unscoped user only reads it).\n"
	 "\n"
	 "With --json: {\"name\", \"role\", \"unit\", \"token\"} (unit is null when\n"
	 "the user is not scoped). With --quiet only the token is printed, e.g.\n"
	 "TOKEN=$(opra user add ci --role automation --quiet).\n"
	 "Exit 3 when the unit does not exist, 5 when the name is taken. Needs an\n"
	 "admin token.",
	 user_add_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"user", "list", cmd_user_list, "opra user list", "List users, their roles and state",
	 "Lists every user with role, the unit the user is scoped to, state (active\n"
	 "or revoked) and the times the user was created and revoked (UTC).\n"
	 "\n"
	 "With --json: an array of {\"name\", \"role\", \"unit\", \"revoked\",\n"
	 "\"created_at\", \"revoked_at\"} (unit is null for an unscoped user,\n"
	 "revoked_at while the user is active). With --quiet the table has no\n"
	 "header line. Needs an admin token.",
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

	{"unit", "add", cmd_unit_add, "opra unit add NAME [--parent UNIT] [--site TEXT]",
	 "Add an organisational unit",
	 "Adds a unit: a site or business unit, at the root of the tree or under\n"
	 "--parent. --site labels where it is (a free text, e.g. dublin). Unit names\n"
	 "are unique among the units that are not removed.\n"
	 "\n"
	 "  $ opra unit add emea --site dublin\n"
	 "  $ opra unit add emea-finance --parent emea\n"
	 "\n"
	 "With --json: the unit, {\"name\", \"parent\", \"site\", \"version\",\n"
	 "\"created_at\", \"updated_at\", \"removed\", \"removed_at\", \"children\"}\n"
	 "(empty text is null). --quiet prints nothing. Sends a fresh idempotency\n"
	 "key.\n"
	 "\n"
	 "Exit 3 when the parent does not exist, 4 when your token may not write\n"
	 "there (admin and program-office write anywhere, a user scoped to a unit\n"
	 "only inside its subtree), 5 when the name is taken, 6 when the server\n"
	 "refuses a value.",
	 unit_add_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"unit", "list", cmd_unit_list, "opra unit list [--unit UNIT] [--all]", "List units",
	 "Lists the units with parent, site and version; --unit lists UNIT and\n"
	 "the units under it. Removed units are left out unless --all is given;\n"
	 "then a STATE column says active or removed.\n"
	 "\n"
	 "With --json: an array of units (see 'opra help unit add'); --all adds\n"
	 "removed ones with \"removed\": true. --quiet drops the header line.\n"
	 "Exit 3 when --unit names no unit. Any token.",
	 unit_list_opts, 0, 0, CLI_NEEDS_TOKEN},

	{"unit", "show", cmd_unit_show, "opra unit show NAME", "Show one unit",
	 "Shows every field of a unit, its version (for --expect-version) and the\n"
	 "names of the units directly under it (children).\n"
	 "\n"
	 "With --json: {\"name\", \"parent\", \"site\", \"version\", \"created_at\",\n"
	 "\"updated_at\", \"removed\", \"removed_at\", \"children\"}. Exit 3 when\n"
	 "there is no such unit. Any token.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"unit", "update", cmd_unit_update,
	 "opra unit update NAME [--parent UNIT | --no-parent] [--site TEXT] [--name NEW_NAME] "
	 "[--expect-version N]",
	 "Change a unit: move, rename, relabel",
	 "Changes only what the flags say: --parent moves the unit under another\n"
	 "unit, --no-parent makes it a root, --site relabels it (--site \"\"\n"
	 "clears the label), --name renames it. The server refuses a move that\n"
	 "would make a unit its own ancestor (a cycle) and leaves the tree as it\n"
	 "was. With --expect-version N the change is refused unless the unit is\n"
	 "still at version N (someone else changed it meanwhile): exit 5, and the\n"
	 "JSON error carries details with \"current_version\".\n"
	 "\n"
	 "With --json: the unit as changed (see 'opra help unit show'). --quiet\n"
	 "prints nothing. Sends a fresh idempotency key.\n"
	 "\n"
	 "Exit 2 when no change is given, 3 when a unit does not exist, 4 when your\n"
	 "token may not write there, 5 on a stale version or a taken name, 5 or 6\n"
	 "when the move would create a cycle.",
	 unit_update_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"unit", "remove", cmd_unit_remove, "opra unit remove NAME",
	 "Remove a unit (kept for history)",
	 "Removes a unit. Removal is soft: the unit stays on record ('opra unit\n"
	 "list --all' shows it) and its name becomes free for a new unit. The\n"
	 "server refuses to remove a unit that still has units, services or\n"
	 "assets, or that an open appraisal scopes, and says why.\n"
	 "\n"
	 "With --json: {\"name\", \"removed_at\"}. --quiet prints nothing. Sends a\n"
	 "fresh idempotency key. Exit 3 when there is no such unit, 4 when your\n"
	 "token may not write there, 5 when the server refuses the removal.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"service", "add", cmd_service_add,
	 "opra service add NAME --unit UNIT [--mission TEXT] [--criticality high|medium|low]",
	 "Add a service owned by a unit",
	 "Adds a service: what the organisation delivers and an appraisal rates.\n"
	 "--unit names the unit that owns it; --mission states what it is for;\n"
	 "--criticality (high, medium or low; the server's default is medium) is\n"
	 "checked by the client (exit 2 otherwise).\n"
	 "\n"
	 "  $ opra service add claims --unit emea --criticality high \\\n"
	 "        --mission \"Pay valid claims within 10 days\"\n"
	 "\n"
	 "With --json: the service, {\"name\", \"unit\", \"mission\", \"criticality\",\n"
	 "\"version\", \"created_at\", \"updated_at\", \"removed\", \"removed_at\",\n"
	 "\"assets\"} (assets: how many assets support it; empty text is null).\n"
	 "--quiet prints nothing. Sends a fresh idempotency key.\n"
	 "\n"
	 "Exit 3 when the unit does not exist, 4 when your token may not write in\n"
	 "that unit, 5 when the name is taken, 6 when the server refuses a value.",
	 service_add_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"service", "list", cmd_service_list, "opra service list [--unit UNIT] [--all]",
	 "List services",
	 "Lists the services with unit, criticality, number of supporting assets,\n"
	 "version and mission; --unit only those of UNIT. Removed services are\n"
	 "left out unless --all is given; then a STATE column says active or\n"
	 "removed.\n"
	 "\n"
	 "With --json: an array of services (see 'opra help service add').\n"
	 "--quiet drops the header line. Exit 3 when --unit names no unit. Any\n"
	 "token.",
	 service_list_opts, 0, 0, CLI_NEEDS_TOKEN},

	{"service", "show", cmd_service_show, "opra service show NAME", "Show one service",
	 "Shows every field of a service and its version (for --expect-version).\n"
	 "'opra inventory show NAME' shows the assets that support it.\n"
	 "\n"
	 "With --json: {\"name\", \"unit\", \"mission\", \"criticality\", \"version\",\n"
	 "\"created_at\", \"updated_at\", \"removed\", \"removed_at\", \"assets\"}.\n"
	 "Exit 3 when there is no such service. Any token.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"service", "update", cmd_service_update,
	 "opra service update NAME [--unit UNIT] [--mission TEXT] [--criticality LEVEL] "
	 "[--name NEW_NAME] [--expect-version N]",
	 "Change a service",
	 "Changes only what the flags say: --unit moves the service to another\n"
	 "unit (your token must be allowed to write in both), --mission replaces\n"
	 "the mission (\"\" clears it), --criticality sets high, medium or low,\n"
	 "--name renames it. With --expect-version N the change is refused unless\n"
	 "the service is still at version N: exit 5, and the JSON error carries\n"
	 "details with \"current_version\".\n"
	 "\n"
	 "With --json: the service as changed. --quiet prints nothing. Sends a\n"
	 "fresh idempotency key.\n"
	 "\n"
	 "Exit 2 when no change is given, 3 when the service or unit does not\n"
	 "exist, 4 when your token may not write there, 5 on a stale version or a\n"
	 "taken name.",
	 service_update_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"service", "remove", cmd_service_remove, "opra service remove NAME",
	 "Remove a service (kept for history)",
	 "Removes a service. Removal is soft: the service stays on record ('opra\n"
	 "service list --all' shows it) and its name becomes free. A service that\n"
	 "an open appraisal scopes cannot be removed; the error lists the\n"
	 "appraisals.\n"
	 "\n"
	 "With --json: {\"name\", \"removed_at\"}. --quiet prints nothing. Sends a\n"
	 "fresh idempotency key. Exit 3 when there is no such service, 4 when your\n"
	 "token may not write there, 5 when the server refuses the removal.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"service", "link", cmd_service_link, "opra service link SERVICE ASSET...",
	 "Record that assets support a service",
	 "Links each ASSET to SERVICE (\"the asset supports the service\"), in one\n"
	 "call: when any asset does not exist nothing is linked (exit 3, the\n"
	 "message names it). Linking an existing link is not an error: it is\n"
	 "counted as unchanged. At most 1000 assets per call.\n"
	 "\n"
	 "  $ opra service link claims db-cluster-1 claims-team\n"
	 "  linked 2 assets to service claims\n"
	 "\n"
	 "With --json: {\"service\", \"changed\", \"unchanged\"} (changed: links\n"
	 "created). --quiet prints nothing. Sends a fresh idempotency key.\n"
	 "Exit 3 when the service or an asset does not exist, 4 when your token may\n"
	 "not write the service's unit.",
	 NULL, 2, -1, CLI_NEEDS_TOKEN},

	{"service", "unlink", cmd_service_unlink, "opra service unlink SERVICE ASSET...",
	 "Remove links between a service and assets",
	 "Removes the links between SERVICE and each ASSET, in one call: when any\n"
	 "asset does not exist nothing changes (exit 3). An asset that was not\n"
	 "linked is counted as unchanged. At most 1000 assets per call.\n"
	 "\n"
	 "With --json: {\"service\", \"changed\", \"unchanged\"} (changed: links\n"
	 "removed). --quiet prints nothing. Sends a fresh idempotency key.\n"
	 "Exit 3 when the service or an asset does not exist, 4 when your token may\n"
	 "not write the service's unit.",
	 NULL, 2, -1, CLI_NEEDS_TOKEN},

	{"asset", "add", cmd_asset_add,
	 "opra asset add NAME --type people|information|technology|facilities [--unit UNIT] "
	 "[--owner TEXT] [--description TEXT] [--tag TAG]...",
	 "Add an asset",
	 "Adds an asset of one of the four types CERT-RMM knows: people,\n"
	 "information, technology or facilities (checked by the client: exit 2\n"
	 "otherwise). --unit places it in a unit (optional); --owner and\n"
	 "--description are free text; --tag adds a free-form tag and may be\n"
	 "repeated. 'opra service link SERVICE NAME' records which services it\n"
	 "supports.\n"
	 "\n"
	 "  $ opra asset add db-cluster-1 --type technology --unit emea \\\n"
	 "        --owner dba-team --tag pci --tag prod\n"
	 "\n"
	 "With --json: the asset, {\"name\", \"type\", \"unit\", \"owner\",\n"
	 "\"description\", \"tags\", \"version\", \"created_at\", \"updated_at\",\n"
	 "\"removed\", \"removed_at\", \"services\"} (services: how many services it\n"
	 "supports; empty text is null). --quiet prints nothing. Sends a fresh\n"
	 "idempotency key.\n"
	 "\n"
	 "Exit 3 when the unit does not exist, 4 when your token may not write\n"
	 "there, 5 when the name is taken, 6 when the server refuses a value.",
	 asset_add_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"asset", "list", cmd_asset_list, "opra asset list [--type TYPE] [--unit UNIT] [--all]",
	 "List assets",
	 "Lists the assets with type, unit, owner, number of services they\n"
	 "support, version and tags; --type and --unit narrow the list. Removed\n"
	 "assets are left out unless --all is given; then a STATE column says\n"
	 "active or removed.\n"
	 "\n"
	 "With --json: an array of assets (see 'opra help asset add'). --quiet\n"
	 "drops the header line. Exit 2 for an unknown --type, 3 when --unit names\n"
	 "no unit. Any token.",
	 asset_list_opts, 0, 0, CLI_NEEDS_TOKEN},

	{"asset", "show", cmd_asset_show, "opra asset show NAME", "Show one asset",
	 "Shows every field of an asset and its version (for --expect-version).\n"
	 "'opra inventory show --asset NAME' shows the services that depend on it.\n"
	 "\n"
	 "With --json: {\"name\", \"type\", \"unit\", \"owner\", \"description\",\n"
	 "\"tags\", \"version\", \"created_at\", \"updated_at\", \"removed\",\n"
	 "\"removed_at\", \"services\"}. Exit 3 when there is no such asset. Any\n"
	 "token.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"asset", "update", cmd_asset_update,
	 "opra asset update NAME [--type TYPE] [--unit UNIT | --no-unit] [--owner TEXT] "
	 "[--description TEXT] [--tag TAG... | --no-tags] [--name NEW_NAME] [--expect-version N]",
	 "Change an asset",
	 "Changes only what the flags say: --type, --unit (--no-unit: no unit),\n"
	 "--owner and --description (\"\" clears them), --tag (the tags given\n"
	 "replace all tags; repeat it for several; --no-tags removes them all),\n"
	 "--name renames it. With --expect-version N the change is refused unless\n"
	 "the asset is still at version N: exit 5, and the JSON error carries\n"
	 "details with \"current_version\".\n"
	 "\n"
	 "With --json: the asset as changed. --quiet prints nothing. Sends a fresh\n"
	 "idempotency key.\n"
	 "\n"
	 "Exit 2 when no change is given, 3 when the asset or unit does not exist,\n"
	 "4 when your token may not write there, 5 on a stale version or a taken\n"
	 "name.",
	 asset_update_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"asset", "remove", cmd_asset_remove, "opra asset remove NAME",
	 "Remove an asset (kept for history)",
	 "Removes an asset. Removal is soft: the asset stays on record ('opra\n"
	 "asset list --all' shows it) and its name becomes free. An asset that an\n"
	 "open appraisal scopes cannot be removed; the error lists the appraisals.\n"
	 "\n"
	 "With --json: {\"name\", \"removed_at\"}. --quiet prints nothing. Sends a\n"
	 "fresh idempotency key. Exit 3 when there is no such asset, 4 when your\n"
	 "token may not write there, 5 when the server refuses the removal.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"inventory", "show", cmd_inventory_show, "opra inventory show [SERVICE] [--asset ASSET]",
	 "The dependency tree: a service's assets, or an asset's services",
	 "Without arguments: every service with the assets that support it. With\n"
	 "SERVICE: that service only. With --asset ASSET, the other direction: the\n"
	 "services that depend on ASSET, i.e. what breaks if it fails. Assets are\n"
	 "grouped by type (people, information, technology, facilities), services\n"
	 "by criticality (high, medium, low).\n"
	 "\n"
	 "  $ opra inventory show claims\n"
	 "  service claims [high] unit emea, 2 assets\n"
	 "    ├─ people      claims-team (alice)\n"
	 "    └─ technology  db-cluster-1 (dba-team)\n"
	 "  $ opra inventory show --asset db-cluster-1\n"
	 "  asset db-cluster-1 [technology] (dba-team): if it fails, 1 service is affected\n"
	 "    └─ high  claims (unit emea)\n"
	 "\n"
	 "With --json: for SERVICE {\"service\": {...}, \"assets\": [...]}; with\n"
	 "--asset {\"asset\": {...}, \"services\": [...]}; without arguments an\n"
	 "array of {\"service\", \"assets\"}. The objects are as in 'opra service\n"
	 "show' and 'opra asset show'.\n"
	 "\n"
	 "Exit 2 when both SERVICE and --asset are given, 3 when the service or\n"
	 "asset does not exist. Any token.",
	 inventory_show_opts, 0, 1, CLI_NEEDS_TOKEN},
	{"inventory", "import", cmd_inventory_import,
	 "opra inventory import FILE [--format csv|json] [--kind KIND] [--dry-run]",
	 "Create and update units, services, assets and links from a CSV or JSON file",
	 "Reads FILE (CSV or JSON, see docs/inventory.md), checks every record and\n"
	 "sends them to the server in batches of up to 5000; the server applies them all\n"
	 "in one transaction at the end, upserting by name. A record is the whole\n"
	 "desired state of its object, so importing the same file again changes\n"
	 "nothing, and a failing import changes nothing at all. A batch whose\n"
	 "connection drops is sent again with the same idempotency key (up to 5\n"
	 "times), so a resumed import does not duplicate anything. On a terminal a\n"
	 "progress line on stderr shows the records sent and how much of the file\n"
	 "was read. --dry-run reports what would change and changes nothing.\n"
	 "\n"
	 "  $ opra inventory import inventory.csv\n"
	 "  imported inventory.csv: units 2 created, 0 updated, 0 unchanged; ...\n"
	 "\n"
	 "With --json: {\"file\", \"dry_run\", \"records\", \"units\": {\"created\",\n"
	 "\"updated\", \"unchanged\"}, \"services\": {...}, \"assets\": {...},\n"
	 "\"links\": {...}}. An export made with --all (a removed column) is refused.\n"
	 "\n"
	 "Exit 6 when the file is bad (the message names file, line and field) or\n"
	 "the server refuses a record, 3 when FILE does not exist, 4 when your\n"
	 "token may not import (admin, program-office and automation may).",
	 inventory_import_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"inventory", "export", cmd_inventory_export,
	 "opra inventory export [--format csv|json] [-o PATH] [--all]",
	 "Write the whole inventory as a CSV or JSON file that import reads",
	 "Writes every unit, service, asset and link, in name order, as one typed\n"
	 "CSV file (columns kind,name,parent,site,unit,mission,criticality,type,\n"
	 "owner,description,tags,service,asset; tags joined with ';') or as JSON\n"
	 "{\"units\": [...], \"services\": [...], \"assets\": [...], \"links\": [...]}.\n"
	 "The file re-imports with everything unchanged. -o PATH writes the file\n"
	 "atomically (never a partial file); otherwise it goes to stdout. --all\n"
	 "adds removed objects and a removed column/field; such a file is for\n"
	 "history and import refuses it.\n"
	 "\n"
	 "  $ opra inventory export -o inventory.csv\n"
	 "  wrote 2 units, 1 services, 2 assets, 1 links to inventory.csv (CSV, 412 bytes)\n"
	 "\n"
	 "With --json and no -o stdout holds the JSON export itself; with -o\n"
	 "{\"path\", \"format\", \"bytes\", \"all\", \"units\", \"services\", \"assets\",\n"
	 "\"links\"} (counts). Exit 3 when the directory of PATH does not exist.\n"
	 "Exit 4 when your token may not export.",
	 inventory_export_opts, 0, 0, CLI_NEEDS_TOKEN},

	{"appraisal", "create", cmd_appraisal_create,
	 "opra appraisal create NAME --model MODEL[,MODEL] (--pa PA[,PA...] | --all) "
	 "[--target-level N] [--affirmation-coverage PERCENT] [--description TEXT]",
	 "Create an appraisal; you become its lead",
	 "Creates an appraisal of one or more models (opra model list) over the\n"
	 "process areas named with --pa (comma separated or repeated) or, with --all,\n"
	 "every process area of the models. A process area code that exists in\n"
	 "more than one of the models (MA is in cert-rmm-1.2 and cmmi-svc-1.3) must\n"
	 "be written MODEL/PA, e.g. cmmi-svc-1.3/MA. --target-level sets the target\n"
	 "capability level (0-3, default 1) of every process area ('opra appraisal\n"
	 "target' changes one); --affirmation-coverage the share of instances whose\n"
	 "affirmations must cover a practice (percent, default 50). You become the\n"
	 "appraisal's lead. Names are unique; ids are accepted wherever names are.\n"
	 "\n"
	 "  $ opra appraisal create ovig-2026 --model cert-rmm-1.2 --pa SC,IMC,ADM\n"
	 "\n"
	 "With --json: the appraisal as 'opra appraisal show --json' prints it, plus\n"
	 "\"result\": \"created\". Exit 2 without --pa or --all (or with both) or\n"
	 "with a level out of range, 3 when a model or process area does not exist\n"
	 "(the message lists what there is), 4 for automation tokens, 5 when the\n"
	 "name is taken, 6 when a process area is ambiguous or the server refuses\n"
	 "the input.",
	 appraisal_create_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"appraisal", "list", cmd_appraisal_list, "opra appraisal list",
	 "List the appraisals you can see",
	 "Lists the appraisals you are a member of (admin and program-office:\n"
	 "every appraisal) with your member role, state (open or finalised), the\n"
	 "number of events in the audit chain, evidence items and the models.\n"
	 "\n"
	 "With --json: an array of {\"id\", \"name\", \"description\", \"models\",\n"
	 "\"target_level\", \"affirmation_coverage\", \"my_role\", \"created_by\",\n"
	 "\"created_at\", \"sealed\", \"sealed_at\", \"sealed_by\", \"head\",\n"
	 "\"events\", \"evidence\"} (my_role is null when you are not a member).",
	 NULL, 0, 0, CLI_NEEDS_TOKEN},

	{"appraisal", "show", cmd_appraisal_show, "opra appraisal show APPRAISAL",
	 "Show an appraisal: scope, targets, instances, members, chain head",
	 "Shows the appraisal's models, its process areas with their effective\n"
	 "target levels, its instances (services and units), its members and their\n"
	 "roles, whether it is finalised, the audit chain's length and head, and\n"
	 "the number of evidence items. Members with role lead, appraiser or viewer\n"
	 "may read it, and admin and program-office users.\n"
	 "\n"
	 "It ends with a dashboard over the practice instances the rating\n"
	 "evaluates (the practices of the specific goals and of GG1 up to\n"
	 "max(target, 1) of each process area, at every instance): coverage by\n"
	 "accepted artifacts and affirmations, counts by label, open judgements\n"
	 "(practices needing a lead's judgement without one) and evidence still\n"
	 "proposed. With --json under \"dashboard\": {\"practices\",\n"
	 "\"practice_instances\", \"with_artifact\", \"with_artifact_percent\",\n"
	 "\"with_affirmation\", \"with_affirmation_percent\", \"labels\": {\"fi\",\n"
	 "\"li\", \"pi\", \"ni\", \"ny\", \"uncharacterised\"}, \"open_judgements\",\n"
	 "\"proposed_evidence\"} (percentages null when there is nothing to count).\n"
	 "\n"
	 "With --json: {\"id\", \"name\", \"description\", \"models\": [...],\n"
	 "\"process_areas\": [{\"id\", \"model\", \"name\", \"target_level\"}],\n"
	 "\"target_level\", \"affirmation_coverage\", \"instances\": [{\"name\",\n"
	 "\"kind\"}], \"members\": [{\"user\", \"role\"}], \"my_role\",\n"
	 "\"created_by\", \"created_at\", \"sealed\", \"sealed_at\", \"sealed_by\",\n"
	 "\"head\", \"events\", \"evidence\"}. Exit 3 when there is no such\n"
	 "appraisal, 4 when you may not read it.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"appraisal", "scope", cmd_appraisal_scope,
	 "opra appraisal scope add APPRAISAL (--service S | --unit U)...",
	 "Add services or units of the inventory as instances",
	 "Adds services and units of the inventory to the appraisal as instances:\n"
	 "the things its practices are characterised on. Each must exist (and not\n"
	 "be removed); one that is already in scope is left unchanged. A service\n"
	 "and a unit with the same name cannot both be instances. All or nothing:\n"
	 "when one name is wrong nothing is added. While an open appraisal scopes a\n"
	 "service or unit, the inventory refuses to remove it.\n"
	 "\n"
	 "  $ opra appraisal scope add ovig-2026 --service claims --unit columbus\n"
	 "\n"
	 "The appraisal's lead, admin and program-office may do this. With --json:\n"
	 "the appraisal as 'show' prints it plus \"result\". Exit 3 when a service\n"
	 "or unit does not exist, 4 when you may not change the appraisal, 5 when\n"
	 "it is finalised or a name clashes.",
	 appraisal_scope_opts, 0, 2, CLI_NEEDS_TOKEN},

	{"appraisal", "member", cmd_appraisal_member,
	 "opra appraisal member add APPRAISAL USER --role lead|appraiser|viewer|automation",
	 "Add a member to an appraisal, or change a member's role",
	 "Makes USER a member of the appraisal with a role: lead (manages the\n"
	 "appraisal and finalises it), appraiser (submits and accepts evidence),\n"
	 "viewer (reads) or automation (submits evidence, which starts as proposed).\n"
	 "Only users with the global role automation can be automation members, and\n"
	 "they can be nothing else. Adding a member again with the same role\n"
	 "changes nothing; with another role it changes the role (the audit chain\n"
	 "records both). The only lead cannot step down.\n"
	 "\n"
	 "The appraisal's lead, admin and program-office may do this. With --json:\n"
	 "the appraisal plus \"result\". Exit 3 when the user does not exist, 4 when\n"
	 "you may not change the appraisal, 5 when it is finalised or the user is\n"
	 "revoked, 6 when the role does not fit the user's global role.",
	 appraisal_member_opts, 0, 3, CLI_NEEDS_TOKEN},

	{"appraisal", "target", cmd_appraisal_target,
	 "opra appraisal target APPRAISAL --pa PA --level N",
	 "Set the target capability level of one process area",
	 "Sets the target capability level (0-3) of one process area in the\n"
	 "appraisal's scope; the others keep the appraisal's target level. Write\n"
	 "MODEL/PA when the code is in scope in more than one model.\n"
	 "\n"
	 "The appraisal's lead, admin and program-office may do this. With --json:\n"
	 "the appraisal plus \"result\". Exit 2 when the level is out of range, 3\n"
	 "when the process area does not exist, 5 when the appraisal is finalised,\n"
	 "6 when the process area is not in scope.",
	 appraisal_target_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"appraisal", "finalize", cmd_appraisal_finalize, "opra appraisal finalize APPRAISAL",
	 "Finalise (seal) an appraisal; lead only",
	 "Appends the final event to the appraisal's audit chain and seals the\n"
	 "appraisal: from then on every change (scope, members, targets, evidence,\n"
	 "characterisations) is refused with exit 5, and the chain head printed\n"
	 "here is the one every report carries. This cannot be undone. Only a lead\n"
	 "of the appraisal may finalise it (not admin or program-office).\n"
	 "\n"
	 "With --json: the appraisal (sealed, sealed_at, sealed_by, head, events)\n"
	 "plus \"result\": \"finalised\". Exit 4 when you are not its lead, 5 when\n"
	 "it is already finalised.",
	 NULL, 1, 1, CLI_NEEDS_TOKEN},

	{"evidence", "submit", cmd_evidence_submit,
	 "opra evidence submit APPRAISAL --practice P --instance I --kind artifact|affirmation "
	 "(--file PATH | --text TEXT) [--title TEXT] [--idempotency-key KEY] [--spool]",
	 "Submit evidence for a practice on an instance",
	 "Submits one piece of objective evidence: an artifact or an affirmation,\n"
	 "as text (--text, up to 64 KiB) or as a file (--file, any size). A file\n"
	 "is hashed (SHA-256) and uploaded in 1 MiB chunks, up to 4 at once on\n"
	 "separate connections; when the server already has the same bytes\n"
	 "nothing is sent again (deduplicated). A dropped connection is retried\n"
	 "with backoff and the upload resumes where it stopped. The server\n"
	 "checks the SHA-256 of what it received: if the file changes while it\n"
	 "is sent nothing is stored (exit 5). A progress line shows on a\n"
	 "terminal. Evidence from an automation member starts as proposed; an\n"
	 "appraiser accepts it ('opra evidence accept').\n"
	 "\n"
	 "Every submit is one operation with one idempotency key (a fresh one, or\n"
	 "--idempotency-key KEY): running it again with the same key never makes\n"
	 "a second item, it reports the first.\n"
	 "\n"
	 "Offline: --spool writes the submit to the local spool\n"
	 "($XDG_STATE_HOME/opra/spool) instead, with its key and a copy of the\n"
	 "file (--spool-reference keeps only the path and hash); 'opra sync'\n"
	 "delivers it later. Without --spool, when no server answers after the\n"
	 "retries, the submit is spooled automatically, a line on stderr says so\n"
	 "and the exit code is 0: the operation is safe and will be delivered by\n"
	 "'opra sync'. --no-spool turns that off (exit 7 instead).\n"
	 "\n"
	 "  $ opra evidence submit ovig-2026 --practice ADM:SG1.SP1 --instance claims \\\n"
	 "        --kind artifact --file asset-register.xlsx\n"
	 "\n"
	 "With --json: {\"id\", \"sha256\", \"size\", \"status\", \"deduplicated\", ...}\n"
	 "and the other fields of 'opra evidence list'; when spooled {\"spooled\":\n"
	 "true, \"id\", \"idempotency_key\", \"spool_dir\", \"automatic\"}. --quiet\n"
	 "prints only the id.\n"
	 "\n"
	 "Exit 2 for bad flags, 3 when the appraisal or file does not exist, 4 when\n"
	 "you are not a member who may submit, 5 when the appraisal is sealed or\n"
	 "the file changed while sent, 6 when the practice or instance is not in\n"
	 "the appraisal's scope or the server refuses a value, 7 with --no-spool\n"
	 "when no server answers.",
	 evidence_submit_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"evidence", "list", cmd_evidence_list,
	 "opra evidence list APPRAISAL [--practice P] [--instance I] [--status S] [--kind K] "
	 "[--candidates]",
	 "List an appraisal's evidence",
	 "Lists the evidence of an appraisal, oldest first, with practice,\n"
	 "instance, kind, status, size, who submitted it, when and from which\n"
	 "site. The flags narrow the list.\n"
	 "\n"
	 "--candidates lists instead the evidence submitted for one practice that\n"
	 "the crosswalk maps to another practice in scope (where it is not linked\n"
	 "yet): EVIDENCE, FROM (where it was submitted), FOR (the mapped practice),\n"
	 "INSTANCE, KIND, STATUS, MAPPING (confirmed or unconfirmed in the model\n"
	 "data). 'opra evidence link' reuses one without uploading it again. With\n"
	 "--json: an array of {\"evidence_id\", \"from_practice\", \"practice\",\n"
	 "\"instance\", \"kind\", \"title\", \"sha256\", \"size\", \"status\",\n"
	 "\"confirmed\"}.\n"
	 "\n"
	 "With --json: an array of {\"id\", \"practice\", \"instance\", \"kind\",\n"
	 "\"status\", \"sha256\", \"size\", \"submitted_by\", \"submitted_at\",\n"
	 "\"site\", \"title\", \"file_name\", \"is_text\", \"decided_by\",\n"
	 "\"decided_at\", \"reason\", ...}. Exit 3 when there is no such appraisal,\n"
	 "4 when you may not see it.",
	 evidence_list_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"evidence", "get", cmd_evidence_get, "opra evidence get ID [-o PATH]",
	 "Download an item's bytes and verify them",
	 "Streams the item's bytes (a file or a text) from the server in ranges\n"
	 "and checks them against its SHA-256. With -o PATH they go to a\n"
	 "temporary file next to PATH that is renamed into place only when the\n"
	 "hash matches (never a partial or wrong file); otherwise to stdout.\n"
	 "\n"
	 "With --json (needs -o): {\"id\", \"path\", \"sha256\", \"size\",\n"
	 "\"file_name\"}. Exit 1 when the bytes do not match the hash (nothing is\n"
	 "written), 3 when there is no such item or the directory of PATH does\n"
	 "not exist, 4 when you may not see it.",
	 evidence_get_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"evidence", "accept", cmd_evidence_accept, "opra evidence accept ID [--reason TEXT]",
	 "Accept proposed evidence (leads and appraisers)",
	 "Marks an item as accepted: only accepted evidence counts in ratings.\n"
	 "Evidence from automation starts as proposed. Accepting an accepted item\n"
	 "changes nothing. The decision is recorded in the audit log with\n"
	 "--reason.\n"
	 "\n"
	 "With --json: the item as in 'opra evidence list' and \"result\". Exit 3\n"
	 "when there is no such item, 4 when you may not decide, 5 when the\n"
	 "appraisal is sealed.",
	 evidence_decide_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"evidence", "reject", cmd_evidence_reject, "opra evidence reject ID [--reason TEXT]",
	 "Reject evidence (leads and appraisers)",
	 "Marks an item as rejected: it stays on record but does not count. Give\n"
	 "--reason so the submitter knows why; it is recorded in the audit log.\n"
	 "\n"
	 "With --json: the item as in 'opra evidence list' and \"result\". Exit 3\n"
	 "when there is no such item, 4 when you may not decide, 5 when the\n"
	 "appraisal is sealed.",
	 evidence_decide_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"evidence", "link", cmd_evidence_link, "opra evidence link ID --practice P [--instance I]",
	 "Reuse evidence for a mapped practice, without uploading it again",
	 "Links an item submitted for one practice to another practice of the\n"
	 "appraisal's scope (and, with --instance, another instance), so it counts\n"
	 "there too; the bytes are not sent again. 'opra evidence list APPRAISAL\n"
	 "--candidates' shows what the crosswalk offers. Linking it again changes\n"
	 "nothing (result \"unchanged\").\n"
	 "\n"
	 "  $ opra evidence link 4f0c... --practice IMC:SG2.SP1\n"
	 "\n"
	 "Leads and appraisers may link. With --json: {\"id\", \"practice\",\n"
	 "\"instance\", \"result\": \"linked|unchanged\"}. Exit 3 when there is no\n"
	 "such item or instance, 4 when you may not change the appraisal, 5 when\n"
	 "it is sealed, 6 when the practice is not in scope.",
	 evidence_link_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"weakness", "add", cmd_weakness_add,
	 "opra weakness add APPRAISAL --practice P --instance I --text TEXT [--significant]",
	 "Record a weakness of a practice at an instance",
	 "Records a weakness the team found in the implementation of a practice at\n"
	 "an instance. Weaknesses lower the suggested label (FI becomes LI) and\n"
	 "appear in the explanations; a --significant one makes its goal\n"
	 "unsatisfied whatever the labels say.\n"
	 "\n"
	 "  $ opra weakness add ovig-2026 --practice SC:SG2.SP2 --instance claims \\\n"
	 "        --text \"no recovery test since 2023\" --significant\n"
	 "\n"
	 "Leads and appraisers may add. With --json: {\"id\", \"practice\",\n"
	 "\"instance\", \"text\", \"significant\"}; --quiet prints the id. Exit 3\n"
	 "when there is no such appraisal or instance, 4 when you may not change\n"
	 "it, 5 when it is sealed, 6 when the practice is not in scope.",
	 weakness_add_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"characterize", NULL, cmd_characterize,
	 "opra characterize APPRAISAL --practice P --instance I --value FI|LI|PI|NI|NY "
	 "[--note TEXT] [--expect-version N]",
	 "Label a practice at an instance (FI, LI, PI, NI, NY)",
	 "Records the team's label for a practice at one instance: FI (fully), LI\n"
	 "(largely), PI (partially), NI (not implemented) or NY (not yet). The\n"
	 "server suggests a label from the accepted evidence and the weaknesses\n"
	 "(shown when it differs); only the label you confirm counts.\n"
	 "\n"
	 "Every label carries a version, 1 for the first and one more with each\n"
	 "change. With --expect-version N the change applies only if the stored\n"
	 "version is still N (0: not characterised yet); otherwise nothing changes\n"
	 "and the exit code is 5, with the current value and version in the\n"
	 "message (and under error.details as \"current_version\" and\n"
	 "\"current_value\" with --json). Two appraisers changing the same label\n"
	 "thus never overwrite each other silently. Without --expect-version the\n"
	 "change applies; like every change it is in the audit log.\n"
	 "\n"
	 "  $ opra characterize ovig-2026 --practice ADM:SG1.SP1 --instance claims \\\n"
	 "        --value LI --expect-version 2\n"
	 "  ADM:SG1.SP1 on claims: LI (version 3; was FI)\n"
	 "\n"
	 "Leads and appraisers may characterise. With --json: {\"practice\",\n"
	 "\"instance\", \"value\" (lower case), \"version\", \"previous_value\",\n"
	 "\"result\": \"created|changed|unchanged\", \"suggested\"}. Exit 2 for a\n"
	 "label that is not one of the five, 3 when the appraisal or instance does\n"
	 "not exist, 4 when you may not change it, 5 for a stale --expect-version\n"
	 "or a sealed appraisal, 6 when the practice is not in scope.",
	 characterize_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"judge", NULL, cmd_judge,
	 "opra judge APPRAISAL --practice P --value FI|LI|PI|NI --rationale TEXT",
	 "Decide a practice's label where the method asks for judgement (lead only)",
	 "When a practice's instance labels disagree in a way the method leaves to\n"
	 "the team (some FI or LI with some PI or NI: LI or PI; PI with NI: PI or\n"
	 "NI), 'opra rating show' reports it as needs-judgement and its goal is\n"
	 "not rated. A lead decides the organisational label, with the reason.\n"
	 "A label outside the allowed pair is recorded but not used; a judgement\n"
	 "on a practice that needs none is ignored (\"not-needed\"); the reply's\n"
	 "status says which.\n"
	 "\n"
	 "  $ opra judge ovig-2026 --practice SC:SG1.SP2 --value LI \\\n"
	 "        --rationale \"billing's gap is a paperwork lag, fixed in March\"\n"
	 "\n"
	 "Only a lead of the appraisal may judge. With --json: {\"practice\",\n"
	 "\"value\", \"rationale\", \"version\", \"status\":\n"
	 "\"used|not-allowed|not-needed|...\"}. Exit 2 for a bad label or an empty\n"
	 "rationale, 4 when you are not a lead, 5 when the appraisal is sealed, 6\n"
	 "when the practice is not in scope.",
	 judge_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"rating", "show", cmd_rating_show,
	 "opra rating show APPRAISAL [--pa PA] [--explain] [--unit UNIT] [--by-unit]",
	 "Capability levels, goal ratings and practice labels",
	 "Computes the ratings from the stored labels, evidence, weaknesses and\n"
	 "judgements (never a stale copy) and prints the capability profile, one\n"
	 "line per process area:\n"
	 "\n"
	 "  SC   CL2  target 3  rated\n"
	 "  ADM  -    target 2  not-rated (CL1 confirmed so far)\n"
	 "\n"
	 "--pa shows one process area with its goal ratings; --explain adds, under\n"
	 "each process area and goal, the sentences saying which practices,\n"
	 "instances, evidence and weaknesses decided it (docs/rating.md).\n"
	 "\n"
	 "With --json: {\"appraisal\", \"sealed\", \"head\", \"events\",\n"
	 "\"characterisations\", \"process_areas\": [{\"id\", \"model\", \"name\",\n"
	 "\"capability_level\", \"status\": \"rated|not-rated|out-of-scope\",\n"
	 "\"target_level\", \"level_reached\", \"goals\": [{\"id\", \"rating\":\n"
	 "\"satisfied|unsatisfied|not-rated\", \"above_target\", \"practices\":\n"
	 "[{\"id\", \"org_value\": \"fi|li|pi|ni|ny|needs-judgement|none\",\n"
	 "\"instances\": {\"claims\": \"fi\", ...}, \"suggested\": {...},\n"
	 "\"versions\": {...}, \"row\", \"judgement\", \"judgement_status\",\n"
	 "\"weaknesses\", \"significant_weaknesses\"}]}]}]}, and \"explanation\"\n"
	 "strings with --explain. capability_level is a number only when the\n"
	 "status is rated; it is null when not-rated (level_reached holds the\n"
	 "level confirmed so far) or out-of-scope, so neither reads as level 0.\n"
	 "\n"
	 "Each process area also has \"gap\" (levels missing to the target, 0 when\n"
	 "met, null unless rated), \"next_level\" (null when the target is reached)\n"
	 "and \"blocking\": [{\"goal\", \"rating\", \"reasons\", \"explanation\",\n"
	 "\"practices\": [{\"id\", \"org_value\", \"reasons\", \"instances\"}]}]: the\n"
	 "goals of next_level that are not satisfied and the practices (and\n"
	 "instances) that made them so. The profile shows 'gap N' and a 'CLn blocked\n"
	 "by' line (every goal with --pa or --explain).\n"
	 "\n"
	 "--unit UNIT rates only the instances that belong to UNIT (a service to its\n"
	 "owning unit and that unit's ancestors, a unit instance to itself and its\n"
	 "ancestors); JSON adds \"unit\" and \"unit_instances\". --by-unit adds a\n"
	 "table of the organisation's and every unit's levels; JSON adds \"units\":\n"
	 "[{\"unit\", \"parent\", \"site\", \"instances\", \"process_areas\"}] (goals\n"
	 "without practices). Exit 3 for an unknown unit, 6 for a unit that holds\n"
	 "none of the appraisal's instances.\n"
	 "\n"
	 "Members (lead, appraiser, viewer), admin and program-office may read it.\n"
	 "Exit 3 when there is no such appraisal or process area, 4 when you may\n"
	 "not see it.",
	 rating_show_opts, 1, 1, CLI_NEEDS_TOKEN},

	/* ---- program office (issue 8) ---- */

	{"compare", NULL, cmd_compare, "opra compare APPRAISAL... [--by pa|unit]",
	 "Capability levels of appraisals side by side, against their targets",
	 "Rates each appraisal as 'opra rating show' does (at most 16) and lines\n"
	 "them up (docs/compare.md).\n"
	 "\n"
	 "--by pa (the default): one row per process area, one column per\n"
	 "appraisal holding level/target (difference to target), e.g. 'CL1/2 (-1)';\n"
	 "'-/1' is not rated, 'n/a' out of scope, '(absent)' not in that appraisal.\n"
	 "Rows match the same model and process area; across models a process\n"
	 "area mapped through the crosswalk is compared and marked 'X~' ('X~?' when\n"
	 "the mapping is unconfirmed); what has no counterpart is listed as not\n"
	 "compared. With two appraisals a CHANGE column gives the level change and\n"
	 "the goals whose rating changed are listed (a goal above the target reads\n"
	 "as above-target).\n"
	 "\n"
	 "--by unit: per appraisal, the organisation's levels and each unit's (the\n"
	 "same rules over the instances that belong to the unit: a service to its\n"
	 "owning unit and that unit's ancestors), and the units below the\n"
	 "organisation.\n"
	 "\n"
	 "An appraisal with nothing rated, or appraisals that share no process\n"
	 "area, are said so (stderr too with --json or --quiet); the exit is 0.\n"
	 "\n"
	 "With --json --by pa: {\"by\": \"pa\", \"appraisals\": [{\"appraisal\",\n"
	 "\"sealed\", \"instances\", \"process_areas\", \"rated\"}], \"process_areas\":\n"
	 "[{\"id\", \"model\", \"name\", \"compared\", \"level_change\", \"appraisals\":\n"
	 "[{\"appraisal\", \"match\": \"same|crosswalk|none\", \"id\", \"model\",\n"
	 "\"status\": \"rated|not-rated|out-of-scope|absent\", \"capability_level\",\n"
	 "\"level_reached\", \"target_level\", \"difference\", \"gap\", \"next_level\",\n"
	 "\"blocking\": [{\"goal\", \"rating\", \"practices\"}], \"confirmed\"}]}],\n"
	 "\"not_compared\": [{\"id\", \"model\", \"missing_in\", \"message\"}],\n"
	 "\"notes\": [...], and with two appraisals \"goal_changes\":\n"
	 "[{\"process_area\", \"model\", \"goal\", \"from\", \"to\"}] and \"same_scope\"}.\n"
	 "With --json --by unit: {\"by\": \"unit\", \"appraisals\": [{\"appraisal\", ...,\n"
	 "\"organisation\": [process areas as above], \"units\": [{\"unit\", \"parent\",\n"
	 "\"site\", \"instances\", \"below_organisation\", \"process_areas\": [... with\n"
	 "\"below_organisation\"]}], \"below_organisation\": [unit names]}], \"notes\"}.\n"
	 "difference is level - target (null unless rated); gap is how many levels\n"
	 "are missing to the target (0 when met; null unless rated).\n"
	 "\n"
	 "Members of every appraisal named, admin and program-office may compare.\n"
	 "Exit 3 when an appraisal does not exist, 4 when you may not see one.",
	 compare_opts, 1, -1, CLI_NEEDS_TOKEN},

	{"plan", "add", cmd_plan_add,
	 "opra plan add APPRAISAL --title TEXT (--goal G | --practice P)... [--owner TEXT] "
	 "[--due YYYY-MM-DD] [--status STATUS] [--estimated-cost AMOUNT] [--actual-cost AMOUNT] "
	 "[--currency CODE]",
	 "Add an improvement action on blocking goals or practices",
	 "Adds an action to the appraisal's improvement plan: what will be done\n"
	 "(--title), for which goals (PA:GOAL, e.g. SC:SG2 or SC:GG2) and\n"
	 "practices (e.g. SC:SG1.SP2) of the appraisal's scope (at least one;\n"
	 "MODEL/... when the id exists in two of its models), who owns it (free\n"
	 "text: a person, team or user name), when it is due, its status\n"
	 "(planned, in-progress, done, dropped) and its estimated and actual\n"
	 "cost. Actions are numbered 1, 2, ... per appraisal.\n"
	 "\n"
	 "Amounts are decimals with at most two places (12500, 12500.50), kept\n"
	 "exactly as hundredths. A plan has one currency (ISO 4217, e.g. EUR):\n"
	 "the first action sets it (--currency, default USD), later actions must\n"
	 "use it.\n"
	 "\n"
	 "Plans are made after an appraisal is finalised: plan changes work on a\n"
	 "sealed appraisal and leave its seal and hash chain untouched; each is\n"
	 "recorded in the non-chained audit log (object plan:APPRAISAL#N, with\n"
	 "the action before and after). See docs/plan.md.\n"
	 "\n"
	 "  $ opra plan add ovig-2025 --title \"Write the incident runbook\" \\\n"
	 "        --goal IMC:SG2 --owner \"ops team\" --due 2026-06-30 \\\n"
	 "        --estimated-cost 12500 --currency EUR\n"
	 "\n"
	 "The appraisal's lead, admin and program-office may add. With --json:\n"
	 "{\"appraisal\", \"number\", \"title\", \"owner\", \"due\", \"status\",\n"
	 "\"currency\", \"estimated_cost\" (\"12500.00\"), \"estimated_cost_minor\"\n"
	 "(1250000), \"actual_cost\", \"actual_cost_minor\", \"targets\": [{\"kind\":\n"
	 "\"goal|practice\", \"id\", \"model\", \"process_area\"}], \"version\",\n"
	 "\"created_by\", \"created_at\", \"updated_by\", \"updated_at\",\n"
	 "\"result\": \"added\"}; --quiet prints the number. Exit 2 for a bad\n"
	 "amount or missing goal, 3 when the appraisal, goal or practice does not\n"
	 "exist, 4 when you may not plan, 6 for a bad date or text, a goal out of\n"
	 "scope or another currency.",
	 plan_add_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"plan", "list", cmd_plan_list, "opra plan list APPRAISAL [--status STATUS]",
	 "List the actions of an appraisal's improvement plan",
	 "Lists the plan's actions (#, STATUS, DUE, OWNER, ESTIMATED, ACTUAL, FOR,\n"
	 "TITLE) and the totals.\n"
	 "\n"
	 "With --json: {\"appraisal\", \"sealed\", \"currency\", \"estimated_cost\",\n"
	 "\"actual_cost\", \"actions\": [...]} where each action is as opra plan\n"
	 "add --json prints it (without \"result\").\n"
	 "\n"
	 "Members (lead, appraiser, viewer), admin and program-office may read\n"
	 "it. Exit 3 when there is no such appraisal, 4 when you may not see it.",
	 plan_list_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"plan", "update", cmd_plan_update,
	 "opra plan update APPRAISAL N [--title TEXT] [--owner TEXT] [--due DATE] "
	 "[--status STATUS] [--estimated-cost AMOUNT] [--actual-cost AMOUNT] "
	 "[(--goal G | --practice P)...] [--expect-version N]",
	 "Change an improvement action (status, cost, owner, ...)",
	 "Changes action N of the appraisal's plan: only the fields given change;\n"
	 "--goal/--practice replace all its goals and practices. Every change\n"
	 "adds one to the action's version; a call that changes nothing keeps\n"
	 "it (result \"unchanged\"). With --expect-version N the change applies\n"
	 "only if the action is still at version N; otherwise nothing changes\n"
	 "and the exit code is 5, with the current version in the message (and\n"
	 "under error.details.current_version with --json).\n"
	 "\n"
	 "  $ opra plan update ovig-2025 1 --status done --actual-cost 11800 \\\n"
	 "        --expect-version 1\n"
	 "\n"
	 "Works on sealed appraisals (see opra plan add). The appraisal's lead,\n"
	 "admin and program-office may update. With --json: the action as opra\n"
	 "plan add prints it, with \"result\": \"changed|unchanged\". Exit 2 for\n"
	 "bad flags, 3 when there is no such appraisal or action, 4 when you may\n"
	 "not plan, 5 for a stale --expect-version, 6 for invalid values.",
	 plan_update_opts, 2, 2, CLI_NEEDS_TOKEN},
	{"plan", "show", cmd_plan_show, "opra plan show APPRAISAL [--since EARLIER]",
	 "What the plan's spending bought: levels before and after, cost per level",
	 "Relates the spending of a plan to capability levels, per process area.\n"
	 "With --since EARLIER it shows the plan of EARLIER (the actions taken\n"
	 "after that appraisal) beside each process area's capability level in\n"
	 "EARLIER (before) and in APPRAISAL (after), the change, the actions\n"
	 "tied to the area with their estimated and actual cost, and the actual\n"
	 "cost per level gained; then the totals (each action counted once) and\n"
	 "the total actual cost per level gained. Without --since it shows\n"
	 "APPRAISAL's own plan beside its current levels and targets. Levels\n"
	 "come from the rating (as opra rating show computes them); a process\n"
	 "area that is not rated has no level and no change. An action tied to\n"
	 "several process areas counts in full under each of them.\n"
	 "\n"
	 "  $ opra plan show ovig-2026 --since ovig-2025\n"
	 "\n"
	 "With --json: {\"appraisal\", \"since\", \"plan_of\", \"currency\",\n"
	 "\"process_areas\": [{\"id\", \"model\", \"level_before\", \"level_after\",\n"
	 "\"status_before\", \"status_after\", \"change\", \"target_level\",\n"
	 "\"actions\": [N...], \"estimated_cost\", \"actual_cost\",\n"
	 "\"cost_per_level\"}], \"actions\": [...as opra plan list],\n"
	 "\"totals\": {\"actions\", \"done\", \"estimated_cost\", \"actual_cost\",\n"
	 "\"levels_gained\", \"levels_lost\", \"cost_per_level\"}}. Amounts are\n"
	 "decimal strings (\"12500.00\"); levels are null when not rated (or\n"
	 "without --since for level_before), cost_per_level null when no level\n"
	 "was gained. Exit 3 when an appraisal does not exist, 4 when you may not\n"
	 "see one of them.",
	 plan_show_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"report", NULL, cmd_report, "opra report APPRAISAL --format html|json|csv|oscal [-o PATH]",
	 "Publish an appraisal: html, csv, json or OSCAL assessment results",
	 "Builds the appraisal's report on this machine from what the server\n"
	 "answers, all read at one event-chain head (when the appraisal changes\n"
	 "meanwhile, it reads again; after 4 tries it exits 5):\n"
	 "\n"
	 "  html   one self-contained file (no scripts, no external assets) that\n"
	 "         prints well: the capability profile as an SVG bar chart (level\n"
	 "         0-3 per process area against its target; not rated and out of\n"
	 "         scope are drawn apart from 0), goals and practices, judgements,\n"
	 "         weaknesses, the evidence index with SHA-256, chain head and seal\n"
	 "  csv    one row per (process area, goal, practice, instance), RFC 4180,\n"
	 "         header row; text a spreadsheet would run as a formula (starting\n"
	 "         with = + - @) gets a leading '\n"
	 "  json   the complete rating document (as 'opra rating show --json\n"
	 "         --explain') plus \"report\", \"appraisal_info\", \"seal\",\n"
	 "         \"chain\", \"weaknesses\", \"judgements\" and \"evidence\"\n"
	 "  oscal  OSCAL 1.1.3 assessment results: evidence as observations (with\n"
	 "         SHA-256), goal ratings as findings, the scope as reviewed\n"
	 "         controls and subjects; UUIDs are stable across exports\n"
	 "\n"
	 "  $ opra report ovig-2026 --format html -o ovig-2026.html\n"
	 "  wrote the html report of ovig-2026 to ovig-2026.html (...)\n"
	 "\n"
	 "Without -o (or with -o -) the report goes to stdout. With -o it is\n"
	 "written to a temporary file beside PATH and renamed at the end: a\n"
	 "failure leaves no partial file and keeps an earlier PATH as it was.\n"
	 "With --json and -o, stdout gets {\"appraisal\", \"format\", \"path\",\n"
	 "\"bytes\", \"process_areas\", \"evidence\", \"weaknesses\", \"judgements\",\n"
	 "\"head\", \"events\", \"sealed\", \"generated_at\"}; with --json and no -o\n"
	 "only json and oscal may go to stdout (they are the one document).\n"
	 "docs/reports.md describes every field and column.\n"
	 "\n"
	 "Members (lead, appraiser, viewer), admin and program-office may publish\n"
	 "it. Exit 2 for a bad format or -o that is a directory, 3 when there is no\n"
	 "such appraisal or the directory of PATH does not exist, 4 when you may\n"
	 "not see the appraisal, 1 when PATH cannot be written.",
	 report_opts, 1, 1, CLI_NEEDS_TOKEN},

	{"sync", NULL, cmd_sync, "opra sync", "Deliver the offline spool",
	 "Delivers the spooled operations ($XDG_STATE_HOME/opra/spool, default\n"
	 "~/.local/state/opra/spool) in the order they were spooled, each with its\n"
	 "own idempotency key, so an operation the server already applied (say,\n"
	 "its answer was lost) is answered from the server's record and never\n"
	 "applied twice. A record is removed only after the server acknowledged\n"
	 "it. Spooled files are uploaded from the copy in the spool; a record that\n"
	 "kept only a reference (--spool-reference) is checked against its hash\n"
	 "first, and a changed file fails.\n"
	 "\n"
	 "A record the server refuses (no such appraisal, not allowed, invalid,\n"
	 "sealed) or that is damaged is moved to the spool's failed/ directory\n"
	 "with the reason in a .error file next to it, and the later records are\n"
	 "still delivered. When no server answers (or it is overloaded) sync\n"
	 "stops at that record and keeps it and every later one, in order: run\n"
	 "it again later. Only one sync runs per spool at a time.\n"
	 "\n"
	 "  $ opra sync\n"
	 "  delivered 3, failed 0 (kept in ~/.local/state/opra/spool/failed), remaining 0\n"
	 "\n"
	 "With --json: {\"delivered\", \"failed\", \"remaining\", \"spool_dir\",\n"
	 "\"failed_dir\", \"items\": [{\"spool_id\", \"idempotency_key\",\n"
	 "\"summary\", \"result\": \"delivered|failed\", \"evidence_id\", \"error\"}]}\n"
	 "and, when it stopped early, \"error\": {\"code\", \"message\"}.\n"
	 "\n"
	 "Exit 0 when everything was delivered; 7 when it stopped because no\n"
	 "server answered; 4 when the token is refused; 5 when another sync is\n"
	 "running; otherwise, when records failed, the exit code of the first\n"
	 "failure (3 not found, 4 not allowed, 5 sealed, 6 invalid).",
	 NULL, 0, 0, CLI_NEEDS_TOKEN},

	{"audit", NULL, cmd_audit, "opra audit APPRAISAL [--verify]",
	 "List an appraisal's event log, or verify its hash chain",
	 "Every change to an appraisal (evidence, decisions, scope, members,\n"
	 "characterisations, finalisation) is an event in its log: who, when,\n"
	 "from which client and site, what, and the object before and after.\n"
	 "The events form a SHA-256 hash chain: each event's hash covers the one\n"
	 "before it, and the appraisal records the last one (its head).\n"
	 "\n"
	 "Without --verify, lists every event in chain order (SEQ, AT, ACTOR,\n"
	 "SITE, METHOD, OBJECT); with --json an array of {\"id\", \"seq\",\n"
	 "\"appraisal\", \"at\", \"actor\", \"client_id\", \"site\", \"peer\",\n"
	 "\"method\", \"object\", \"before\", \"after\", \"hash\"} (before and after\n"
	 "are JSON values).\n"
	 "\n"
	 "With --verify the server recomputes the whole chain from the stored\n"
	 "events and compares every hash, the event count and the head (and the\n"
	 "head recorded at sealing):\n"
	 "\n"
	 "  $ opra audit ovig-2026 --verify\n"
	 "  valid: 1234 events, head 3f5a...\n"
	 "\n"
	 "With --json: {\"events\": N, \"head\": \"<64 hex>\", \"valid\": true,\n"
	 "\"appraisal\", \"sealed\", \"sealed_head\", \"first_bad_seq\", \"problem\"}.\n"
	 "\n"
	 "A broken chain (an event changed or removed, or the head rewritten) is\n"
	 "data loss: the report still goes to stdout (\"valid\": false, with the\n"
	 "first bad event and the problem), a line goes to stderr, and the exit\n"
	 "code is 1. Members of the appraisal (not automation) may audit it;\n"
	 "admin and program-office may audit every appraisal.",
	 audit_opts, 1, 1, CLI_NEEDS_TOKEN},
	{"watch", NULL, cmd_watch, "opra watch [APPRAISAL] [--after ID] [--once]",
	 "Print events as they are committed, until interrupted",
	 "Follows the event log live: each event is printed as soon as its\n"
	 "transaction commits, one line per event (AT  APPRAISAL#SEQ\n"
	 "ACTOR@SITE  METHOD  OBJECT  (id N)), or with --json one JSON object per\n"
	 "event per line (JSON Lines, flushed per line) with the fields of\n"
	 "opra audit --json. Without APPRAISAL: events of every appraisal you may\n"
	 "see (where you are a member other than automation; admin and\n"
	 "program-office see all).\n"
	 "\n"
	 "Without --after it starts with the next event; --after ID resumes after\n"
	 "the event with that id (the last one you saw), --after 0 replays the\n"
	 "whole log first. When the connection drops or the server restarts it\n"
	 "reconnects with backoff (a note on stderr) and resumes from the last\n"
	 "event it printed, so no event is missed or printed twice.\n"
	 "\n"
	 "  $ opra watch ovig-2026 --json | jq -c '{seq, actor, object}'\n"
	 "\n"
	 "Runs until SIGINT or SIGTERM (exit 0). --once exits after the first\n"
	 "batch of events, or with nothing printed when a wait of about 25 s\n"
	 "(less with a short --timeout) ends without events. Exit 3 when the\n"
	 "appraisal does not exist, 4 when you may not see it, 6 for an --after\n"
	 "id that is not one of its events.",
	 watch_opts, 0, 1, CLI_NEEDS_TOKEN},

	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0},
};
