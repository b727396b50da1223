/* What the client prints: the JSON error object, exit codes, --quiet and
 * --json discipline, and whole command lines that need no server (usage
 * errors, help, an unreachable server). */
#include "testlib.h"

#include "cli.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "output.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	FILE *out, *err;
	char *obuf, *ebuf;
	size_t olen, elen;
} streams;

static void streams_open(streams *s)
{
	memset(s, 0, sizeof(*s));
	s->out = open_memstream(&s->obuf, &s->olen);
	s->err = open_memstream(&s->ebuf, &s->elen);
	assert_non_null(s->out);
	assert_non_null(s->err);
}

/* Closes the streams so obuf/ebuf hold everything written. */
static void streams_close(streams *s)
{
	fclose(s->out);
	fclose(s->err);
}

static void streams_free(streams *s)
{
	free(s->obuf);
	free(s->ebuf);
}

/* Parses stdout as exactly one JSON document (jansson rejects trailing
 * data unless told otherwise). */
static json_t *one_document(const char *text)
{
	json_error_t e;
	json_t *doc = json_loads(text, 0, &e);
	if (doc == NULL)
		fail_msg("stdout is not exactly one JSON document (%s): %s", e.text, text);
	return doc;
}

static void test_error_doc_shape(void **state)
{
	json_t *doc, *err, *details;

	(void)state;
	doc = out_error_doc("NOT_FOUND", "no user named 'bob'", "{\"current_version\": 3}");
	assert_non_null(doc);
	assert_int_equal(json_object_size(doc), 1);
	err = json_object_get(doc, "error");
	assert_true(json_is_object(err));
	assert_string_equal(json_string_value(json_object_get(err, "code")), "NOT_FOUND");
	assert_string_equal(json_string_value(json_object_get(err, "message")),
			    "no user named 'bob'");
	details = json_object_get(err, "details");
	assert_true(json_is_object(details));
	assert_int_equal(json_integer_value(json_object_get(details, "current_version")), 3);
	json_decref(doc);

	/* No details: no "details" key at all. */
	doc = out_error_doc("UNAVAILABLE", "down", "");
	err = json_object_get(doc, "error");
	assert_null(json_object_get(err, "details"));
	assert_int_equal(json_object_size(err), 2);
	json_decref(doc);
	doc = out_error_doc("UNAVAILABLE", "down", NULL);
	assert_null(json_object_get(json_object_get(doc, "error"), "details"));
	json_decref(doc);

	/* Details that are not JSON are kept, not lost. */
	doc = out_error_doc("INTERNAL", "oops", "not json");
	details = json_object_get(json_object_get(doc, "error"), "details");
	assert_string_equal(json_string_value(json_object_get(details, "text")), "not json");
	json_decref(doc);
}

static void test_exit_code_mapping(void **state)
{
	static const struct {
		int status;
		int exit_code;
	} cases[] = {
		{OPRA_INTERNAL, 1},
		{OPRA_UNKNOWN, 1},
		{OPRA_DATA_LOSS, 1},
		{OPRA_NOT_FOUND, 3},
		{OPRA_UNAUTHENTICATED, 4},
		{OPRA_PERMISSION_DENIED, 4},
		{OPRA_ALREADY_EXISTS, 5},
		{OPRA_ABORTED, 5},
		{OPRA_FAILED_PRECONDITION, 5},
		{OPRA_INVALID_ARGUMENT, 6},
		{OPRA_OUT_OF_RANGE, 6},
		{OPRA_UNAVAILABLE, 7},
		{OPRA_RESOURCE_EXHAUSTED, 7},
		{OPRA_DEADLINE_EXCEEDED, 7},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		streams s;
		out_ctx o;
		json_t *doc;
		streams_open(&s);
		out_init(&o, s.out, s.err, true, false);
		opra_err_set(cases[i].status, "failure %zu", i);
		opra_err_set_details("{\"k\": \"v\"}");
		int code = out_fail(&o, cases[i].status);
		streams_close(&s);
		if (code != cases[i].exit_code)
			fail_msg("%s exits %d, want %d", opra_status_name(cases[i].status), code,
				 cases[i].exit_code);
		doc = one_document(s.obuf);
		json_t *err = json_object_get(doc, "error");
		assert_string_equal(json_string_value(json_object_get(err, "code")),
				    opra_status_name(cases[i].status));
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(err, "details"), "k")),
			"v");
		assert_non_null(strstr(s.ebuf, "opra: failure"));
		json_decref(doc);
		streams_free(&s);
	}
}

static void test_human_error_and_usage(void **state)
{
	streams s;
	out_ctx o;

	(void)state;
	streams_open(&s);
	out_init(&o, s.out, s.err, false, false);
	assert_int_equal(out_error(&o, OPRA_NOT_FOUND, "no user named 'x'", "{\"a\":1}"), 3);
	assert_int_equal(out_usage(&o, "usage: opra ping", "unexpected argument '%s'", "y"),
			 OPRA_EXIT_USAGE);
	streams_close(&s);
	assert_string_equal(s.obuf, ""); /* errors never go to stdout in human mode */
	assert_string_equal(s.ebuf, "opra: no user named 'x'\n"
				    "opra: unexpected argument 'y'\n"
				    "usage: opra ping\n");
	streams_free(&s);

	streams_open(&s);
	out_init(&o, s.out, s.err, true, false);
	assert_int_equal(out_usage(&o, NULL, "bad"), OPRA_EXIT_USAGE);
	streams_close(&s);
	json_t *doc = one_document(s.obuf);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
		OUT_USAGE_CODE);
	json_decref(doc);
	streams_free(&s);
}

static void test_one_json_document_only(void **state)
{
	streams s;
	out_ctx o;

	(void)state;
	streams_open(&s);
	out_init(&o, s.out, s.err, true, false);
	out_printf(&o, "human text\n");
	out_note(&o, "a note\n");
	assert_int_equal(out_json(&o, json_pack("{s:i}", "a", 1)), OPRA_OK);
	assert_int_equal(out_json(&o, json_pack("{s:i}", "b", 2)), OPRA_INTERNAL);
	/* An error after the result: stderr only, stdout stays one document. */
	assert_int_equal(out_error(&o, OPRA_INTERNAL, "late", NULL), 1);
	streams_close(&s);
	assert_string_equal(s.obuf, "{\"a\": 1}\n");
	assert_string_equal(s.ebuf, "opra: late\n");
	streams_free(&s);
}

static void test_quiet(void **state)
{
	streams s;
	out_ctx o;

	(void)state;
	streams_open(&s);
	out_init(&o, s.out, s.err, false, true);
	out_note(&o, "non-essential\n");
	out_printf(&o, "essential\n");
	out_warn(&o, "careful %d", 1);
	streams_close(&s);
	assert_string_equal(s.obuf, "essential\n");
	assert_string_equal(s.ebuf, "opra: warning: careful 1\n");
	streams_free(&s);
}

static void test_table_alignment_and_safety(void **state)
{
	static const char *const headers[] = {"NAME", "ROLE"};
	const char *r1[] = {"b\xc3\xa9la", "admin"}; /* "béla": 4 characters, 5 bytes */
	const char *r2[] = {"evil\x1b[2J", NULL};
	streams s;
	out_ctx o;
	out_table t;

	(void)state;
	streams_open(&s);
	out_init(&o, s.out, s.err, false, false);
	out_table_init(&t, 2, headers);
	assert_int_equal(out_table_add(&t, r1), OPRA_OK);
	assert_int_equal(out_table_add(&t, r2), OPRA_OK);
	out_table_print(&o, &t);
	out_table_free(&t);
	streams_close(&s);
	assert_string_equal(s.obuf, "NAME      ROLE\n"
				    "b\xc3\xa9la      admin\n"
				    "evil?[2J  -\n");
	streams_free(&s);
}

static void test_jstr(void **state)
{
	json_t *j;

	(void)state;
	j = out_jstr("ok", false);
	assert_string_equal(json_string_value(j), "ok");
	json_decref(j);
	j = out_jstr("", true);
	assert_true(json_is_null(j));
	j = out_jstr("bad\xff", false);
	assert_string_equal(json_string_value(j), "bad?");
	json_decref(j);
}

/* ---- whole command lines -------------------------------------------------- */

typedef struct {
	int code;
	streams s;
} run_result;

static const char *test_env_get(void *ctx, const char *name)
{
	const char *const *kv = ctx;
	for (; kv && kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

/* Runs opra with the given arguments (NULL terminated). The default
 * environment only points the config directory at a path that does not
 * exist, so no real config file or variable leaks into the test. */
static void run(run_result *r, const char *const *env, ...)
{
	static const char *const no_config[] = {"XDG_CONFIG_HOME", "/nonexistent-opra-test", NULL};
	opt_env e = {test_env_get, (void *)(env ? env : no_config)};
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "opra";
	va_start(ap, env);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 31;)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	streams_open(&r->s);
	r->code = cli_main(argc, argv, r->s.out, r->s.err, e);
	streams_close(&r->s);
}

static void test_cli_unreachable_server(void **state)
{
	run_result r;
	json_t *doc, *err;

	(void)state;
	/* ipc to a path that cannot exist: refused at once, no network. */
	run(&r, NULL, "--json", "ping", "--server", "ipc:///nonexistent-opra-test/x.sock", NULL);
	assert_int_equal(r.code, 7);
	doc = one_document(r.s.obuf);
	err = json_object_get(doc, "error");
	assert_string_equal(json_string_value(json_object_get(err, "code")), "UNAVAILABLE");
	assert_non_null(strstr(json_string_value(json_object_get(err, "message")),
			       "cannot reach the opra server"));
	assert_non_null(strstr(r.s.ebuf, "opra: cannot reach the opra server"));
	json_decref(doc);
	streams_free(&r.s);

	/* Human mode: nothing on stdout, global flags after the verb. */
	run(&r, NULL, "ping", "--timeout", "0.5", "--server=ipc:///nonexistent-opra-test/x.sock",
	    NULL);
	assert_int_equal(r.code, 7);
	assert_string_equal(r.s.obuf, "");
	streams_free(&r.s);
}

static void test_cli_usage_errors(void **state)
{
	run_result r;
	json_t *doc;

	(void)state;
	run(&r, NULL, "frobnicate", NULL);
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.s.ebuf, "unknown command 'frobnicate'; see 'opra help'"));
	assert_string_equal(r.s.obuf, "");
	streams_free(&r.s);

	run(&r, NULL, "pnig", NULL);
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.s.ebuf, "did you mean 'opra ping'"));
	streams_free(&r.s);

	run(&r, NULL, "user", "lst", NULL);
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.s.ebuf, "did you mean 'opra user list'"));
	streams_free(&r.s);

	run(&r, NULL, "user", "add", "bob", "--role", "boss", "--json", NULL);
	assert_int_equal(r.code, 2);
	doc = one_document(r.s.obuf);
	const char *msg =
		json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
	assert_non_null(strstr(msg, "admin, program-office, user, automation"));
	json_decref(doc);
	streams_free(&r.s);

	run(&r, NULL, "user", "add", "bob", NULL);
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.s.ebuf, "--role is required"));
	streams_free(&r.s);

	run(&r, NULL, "user", "revoke", NULL);
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.s.ebuf, "needs NAME"));
	streams_free(&r.s);

	run(&r, NULL, "ping", "--timeout", "0", NULL);
	assert_int_equal(r.code, 2);
	streams_free(&r.s);

	run(&r, NULL, "ping", "--bogus", NULL);
	assert_int_equal(r.code, 2);
	assert_non_null(strstr(r.s.ebuf, "unknown flag '--bogus'"));
	streams_free(&r.s);

	run(&r, NULL, "ping", "--config", "/nonexistent-opra-test/config", NULL);
	assert_int_equal(r.code, 2);
	streams_free(&r.s);

	run(&r, NULL, NULL);
	assert_int_equal(r.code, 2);
	streams_free(&r.s);
}

static void test_cli_token_required(void **state)
{
	run_result r;

	(void)state;
	run(&r, NULL, "user", "list", "--json", NULL);
	assert_int_equal(r.code, 4);
	json_t *doc = one_document(r.s.obuf);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
		"UNAUTHENTICATED");
	json_decref(doc);
	streams_free(&r.s);
}

static void test_cli_help_and_version(void **state)
{
	static const char *const help_cmds[][4] = {
		{"help", NULL},
		{"--help", NULL},
		{"-h", NULL},
		{"help", "ping", NULL},
		{"ping", "--help", NULL},
		{"user", "--help", NULL},
		{"help", "user", NULL},
		{"help", "user", "add"},
		{"user", "add", "-h", NULL},
		{"user", "list", "--help"},
		{"--help", "user", "revoke"},
	};
	run_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(help_cmds) / sizeof(help_cmds[0]); i++) {
		const char *const *a = help_cmds[i];
		run(&r, NULL, a[0], a[1], a[2], NULL);
		if (r.code != 0 || strstr(r.s.obuf, "usage:") == NULL)
			fail_msg("opra %s %s %s: exit %d, stdout: %s", a[0], a[1] ? a[1] : "",
				 a[1] && a[2] ? a[2] : "", r.code, r.s.obuf);
		streams_free(&r.s);
	}

	run(&r, NULL, "help", NULL);
	assert_non_null(strstr(r.s.obuf, "user revoke"));
	assert_non_null(strstr(r.s.obuf, "--server URL"));
	streams_free(&r.s);

	run(&r, NULL, "help", "user", "add", NULL);
	assert_non_null(strstr(r.s.obuf, "--role ROLE"));
	streams_free(&r.s);

	run(&r, NULL, "--version", NULL);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.s.obuf, "opra 0.1.0 (protocol 1)\n");
	streams_free(&r.s);

	run(&r, NULL, "--json", "help", NULL);
	assert_int_equal(r.code, 0);
	json_t *doc = one_document(r.s.obuf);
	assert_true(json_array_size(json_object_get(doc, "commands")) >= 4);
	json_decref(doc);
	streams_free(&r.s);
}

/* Every allocation on the way to a failed call may fail: the client must
 * still exit with a failure code and leak nothing (the sanitizer build
 * checks the leaks). */
static void test_cli_allocation_failures(void **state)
{
	static const char *const env[] = {"XDG_CONFIG_HOME",
					  "/nonexistent-opra-test",
					  "OPRA_SERVER",
					  "ipc:///nonexistent-opra-test/x.sock",
					  "OPRA_TOKEN",
					  "opra_x",
					  NULL};
	run_result r;

	(void)state;
	for (long n = 1; n < 200; n++) {
		opra_alloc_fail_after(n, 0);
		run(&r, env, "user", "add", "bob", "--role", "user", NULL);
		opra_alloc_fail_after(0, 0);
		if (r.code == 0)
			fail_msg("allocation %ld failed but opra exited 0", n);
		streams_free(&r.s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_doc_shape),
		cmocka_unit_test(test_exit_code_mapping),
		cmocka_unit_test(test_human_error_and_usage),
		cmocka_unit_test(test_one_json_document_only),
		cmocka_unit_test(test_quiet),
		cmocka_unit_test(test_table_alignment_and_safety),
		cmocka_unit_test(test_jstr),
		cmocka_unit_test(test_cli_unreachable_server),
		cmocka_unit_test(test_cli_usage_errors),
		cmocka_unit_test(test_cli_token_required),
		cmocka_unit_test(test_cli_help_and_version),
		cmocka_unit_test(test_cli_allocation_failures),
	};
	return TESTLIB_RUN(tests);
}
