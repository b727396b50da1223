/* The client's settings: flags > environment > config file > default,
 * and the config file's own rules. Pure functions with a fake
 * environment; files only in a private temporary directory. */
#include "testlib.h"

#include "kvfile.h"
#include "opra_err.h"
#include "opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fake environment: NULL-terminated name, value, name, value, ... */
static const char *fake_get(void *ctx, const char *name)
{
	const char *const *kv = ctx;
	for (; kv && kv[0]; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static opt_env fake_env(const char *const *pairs)
{
	opt_env e = {fake_get, (void *)pairs};
	return e;
}

static kvfile *file_from(const char *text)
{
	kvfile *kv = NULL;
	assert_int_equal(kvfile_parse(&kv, "test.conf", text, strlen(text)), OPRA_OK);
	return kv;
}

/* Parses argv (without program name) as a run of global flags. */
static int parse_flags(opt_flags *f, int argc, char **argv)
{
	int i = 0;
	while (i < argc) {
		bool matched = false;
		int rc = opt_parse_global(f, argc, argv, &i, &matched);
		if (rc != OPRA_OK)
			return rc;
		assert_true(matched);
	}
	return OPRA_OK;
}

static void test_token_flag_beats_env_beats_file(void **state)
{
	static const char *const env[] = {"OPRA_TOKEN",	  "from-env",	 "OPRA_SITE", "env-site",
					  "OPRA_CA_FILE", "/env/ca.pem", NULL};
	kvfile *kv = file_from("token = from-file\nsite = file-site\nca-file = /file/ca.pem\n");
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	f.token = "from-flag";
	f.site = "flag-site";
	f.ca_file = "/flag/ca.pem";
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), kv, "test.conf"), OPRA_OK);
	assert_string_equal(cfg.token, "from-flag");
	assert_int_equal(cfg.token_from, OPT_FROM_FLAG);
	assert_string_equal(cfg.site, "flag-site");
	assert_string_equal(cfg.ca_file, "/flag/ca.pem");
	opt_config_free(&cfg);

	f.token = f.site = f.ca_file = NULL;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), kv, "test.conf"), OPRA_OK);
	assert_string_equal(cfg.token, "from-env");
	assert_int_equal(cfg.token_from, OPT_FROM_ENV);
	assert_string_equal(cfg.site, "env-site");
	assert_string_equal(cfg.ca_file, "/env/ca.pem");
	opt_config_free(&cfg);

	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"), OPRA_OK);
	assert_string_equal(cfg.token, "from-file");
	assert_int_equal(cfg.token_from, OPT_FROM_FILE);
	assert_string_equal(cfg.site, "file-site");
	assert_string_equal(cfg.ca_file, "/file/ca.pem");
	opt_config_free(&cfg);

	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), NULL, NULL), OPRA_OK);
	assert_null(cfg.token);
	assert_int_equal(cfg.token_from, OPT_FROM_NONE);
	assert_null(cfg.site);
	assert_null(cfg.ca_file);
	opt_config_free(&cfg);
	kvfile_free(kv);
}

static void test_empty_env_counts_as_unset(void **state)
{
	static const char *const env[] = {"OPRA_TOKEN", "", "OPRA_SERVER", "", NULL};
	kvfile *kv = file_from("token = from-file\nserver = tcp://file:1\n");
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), kv, "test.conf"), OPRA_OK);
	assert_string_equal(cfg.token, "from-file");
	assert_int_equal(cfg.n_servers, 1);
	assert_string_equal(cfg.servers[0], "tcp://file:1");
	opt_config_free(&cfg);
	kvfile_free(kv);
}

static void test_servers_flag_beats_env_beats_file(void **state)
{
	static const char *const env[] = {"OPRA_SERVER", "tcp://env:1", NULL};
	kvfile *kv = file_from("server = tcp://file:1\n");
	char *argv[] = {"--server", "tcp://flag:1"};
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(parse_flags(&f, 2, argv), OPRA_OK);
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.n_servers, 1);
	assert_string_equal(cfg.servers[0], "tcp://flag:1");
	assert_int_equal(cfg.servers_from, OPT_FROM_FLAG);
	opt_config_free(&cfg);

	f.n_servers = 0;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.n_servers, 1);
	assert_string_equal(cfg.servers[0], "tcp://env:1");
	assert_int_equal(cfg.servers_from, OPT_FROM_ENV);
	opt_config_free(&cfg);

	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.n_servers, 1);
	assert_string_equal(cfg.servers[0], "tcp://file:1");
	assert_int_equal(cfg.servers_from, OPT_FROM_FILE);
	opt_config_free(&cfg);
	kvfile_free(kv);
}

static void test_env_server_list_splits(void **state)
{
	static const char *const env[] = {
		"OPRA_SERVER", " tcp://a:1 ,tcp://b:2,, tls+tcp://c:3 ,ipc:///tmp/d.sock", NULL};
	static const char *const bad[] = {"OPRA_SERVER", "tcp://a:1,localhost:7430", NULL};
	static const char *const blank[] = {"OPRA_SERVER", " , ", NULL};
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), NULL, NULL), OPRA_OK);
	assert_int_equal(cfg.n_servers, 4);
	assert_string_equal(cfg.servers[0], "tcp://a:1");
	assert_string_equal(cfg.servers[1], "tcp://b:2");
	assert_string_equal(cfg.servers[2], "tls+tcp://c:3");
	assert_string_equal(cfg.servers[3], "ipc:///tmp/d.sock");
	opt_config_free(&cfg);

	/* A URL without a scheme is caught before any connection attempt. */
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(bad), NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "localhost:7430"));
	assert_int_equal(cfg.n_servers, 0);
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(blank), NULL, NULL), OPRA_INVALID_ARGUMENT);
}

static void test_repeated_server_flags_keep_order(void **state)
{
	char *argv[] = {"--server", "tcp://one:1", "--server=tcp://two:2",
			"--json",   "--server",	   "tcp://three:3"};
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(parse_flags(&f, 6, argv), OPRA_OK);
	assert_true(f.json);
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), NULL, NULL), OPRA_OK);
	assert_int_equal(cfg.n_servers, 3);
	assert_string_equal(cfg.servers[0], "tcp://one:1");
	assert_string_equal(cfg.servers[1], "tcp://two:2");
	assert_string_equal(cfg.servers[2], "tcp://three:3");
	assert_true(cfg.json);
	opt_config_free(&cfg);
}

static void test_too_many_servers(void **state)
{
	char *argv[2 * (RPC_MAX_URLS + 1)];
	opt_flags f = OPT_FLAGS_INIT;

	(void)state;
	for (int i = 0; i < RPC_MAX_URLS + 1; i++) {
		argv[2 * i] = "--server";
		argv[2 * i + 1] = "tcp://x:1";
	}
	assert_int_equal(parse_flags(&f, 2 * (RPC_MAX_URLS + 1), argv), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "too many"));
}

static void test_file_server_keys_repeat(void **state)
{
	kvfile *kv = file_from("# three servers, tried in order\n"
			       "server = tcp://first:1\n"
			       "token = t\n"
			       "server = \"tcp://second:2\"\n"
			       "server = ipc:///run/opra.sock\n");
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.n_servers, 3);
	assert_string_equal(cfg.servers[0], "tcp://first:1");
	assert_string_equal(cfg.servers[1], "tcp://second:2");
	assert_string_equal(cfg.servers[2], "ipc:///run/opra.sock");
	opt_config_free(&cfg);
	kvfile_free(kv);
}

static void test_timeout_validation(void **state)
{
	static const struct {
		const char *text;
		int ms; /* -1: rejected */
	} cases[] = {
		{"30", 30000},	     {"2.5", 2500}, {".5", 500}, {"1.", 1000}, {"0.0001", 1},
		{"86400", 86400000}, {"0", -1},	    {"0.0", -1}, {"-1", -1},   {"-0.5", -1},
		{"abc", -1},	     {"", -1},	    {"1e3", -1}, {"inf", -1},  {"nan", -1},
		{".", -1},	     {"1.2.3", -1}, {" 1", -1},	 {"1s", -1},   {"0x10", -1},
		{"86401", -1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ms = 12345;
		int rc = opt_parse_timeout(&ms, "--timeout", cases[i].text);
		if (cases[i].ms < 0) {
			if (rc != OPRA_INVALID_ARGUMENT)
				fail_msg("timeout '%s' was accepted", cases[i].text);
			assert_non_null(strstr(opra_err_msg(), "--timeout"));
		} else {
			if (rc != OPRA_OK || ms != cases[i].ms)
				fail_msg("timeout '%s': rc %d, %d ms", cases[i].text, rc, ms);
		}
	}
}

static void test_timeout_precedence_and_errors(void **state)
{
	kvfile *kv = file_from("\n\ntimeout = 7.5\n");
	kvfile *bad = file_from("server = tcp://x:1\ntimeout = soon\n");
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.timeout_ms, 7500);
	assert_int_equal(cfg.timeout_from, OPT_FROM_FILE);
	opt_config_free(&cfg);

	f.timeout = "2";
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.timeout_ms, 2000);
	assert_int_equal(cfg.timeout_from, OPT_FROM_FLAG);
	opt_config_free(&cfg);

	/* A valid flag hides a broken file value: the flag wins outright. */
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), bad, "test.conf"), OPRA_OK);
	opt_config_free(&cfg);

	f.timeout = "0";
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"),
			 OPRA_INVALID_ARGUMENT);
	f.timeout = "-3";
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"),
			 OPRA_INVALID_ARGUMENT);
	f.timeout = "junk";
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(cfg.n_servers, 0);

	/* Without a flag the file's bad value is reported with file:line. */
	f.timeout = NULL;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), bad, "test.conf"),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "test.conf:2: timeout"));
	kvfile_free(kv);
	kvfile_free(bad);
}

static void test_default_server_when_nothing_is_set(void **state)
{
	static const char *const env[] = {"HOME", "/home/x", NULL};
	kvfile *kv = file_from("# only a comment\nsite = columbus\n");
	opt_flags f = OPT_FLAGS_INIT;
	opt_config cfg;

	(void)state;
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(env), NULL, NULL), OPRA_OK);
	assert_int_equal(cfg.n_servers, 1);
	assert_string_equal(cfg.servers[0], OPT_DEFAULT_SERVER);
	assert_string_equal(cfg.servers[0], "tcp://127.0.0.1:7430");
	assert_int_equal(cfg.servers_from, OPT_FROM_DEFAULT);
	assert_int_equal(cfg.timeout_ms, 0);
	assert_null(cfg.token);
	assert_false(cfg.json);
	assert_false(cfg.quiet);
	opt_config_free(&cfg);

	/* A file without server keys also leaves the default in place. */
	assert_int_equal(opt_resolve(&cfg, &f, fake_env(NULL), kv, "test.conf"), OPRA_OK);
	assert_int_equal(cfg.n_servers, 1);
	assert_string_equal(cfg.servers[0], OPT_DEFAULT_SERVER);
	assert_string_equal(cfg.site, "columbus");
	opt_config_free(&cfg);
	kvfile_free(kv);
}

static void test_flag_parsing_errors(void **state)
{
	opt_flags f = OPT_FLAGS_INIT;
	char *missing[] = {"--token"};
	char *empty[] = {"--server="};
	char *empty2[] = {"--timeout", ""};
	char *valued_switch[] = {"--quiet=yes"};
	char *switches[] = {"-h",      "--version", "--quiet",	      "--site=lab",   "--ca-file",
			    "/ca.pem", "--config",  "/etc/opra.conf", "--timeout=1.5"};
	char *other[] = {"--role"};
	bool matched = true;
	int i = 0;

	(void)state;
	assert_int_equal(parse_flags(&f, 1, missing), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "--token needs a value"));
	assert_int_equal(parse_flags(&f, 1, empty), OPRA_INVALID_ARGUMENT);
	assert_int_equal(parse_flags(&f, 2, empty2), OPRA_INVALID_ARGUMENT);
	assert_int_equal(parse_flags(&f, 1, valued_switch), OPRA_INVALID_ARGUMENT);

	memset(&f, 0, sizeof(f));
	assert_int_equal(parse_flags(&f, 9, switches), OPRA_OK);
	assert_true(f.help);
	assert_true(f.version);
	assert_true(f.quiet);
	assert_string_equal(f.site, "lab");
	assert_string_equal(f.ca_file, "/ca.pem");
	assert_string_equal(f.config, "/etc/opra.conf");
	assert_string_equal(f.timeout, "1.5");

	/* Not a global flag: left for the command, i untouched. */
	assert_int_equal(opt_parse_global(&f, 1, other, &i, &matched), OPRA_OK);
	assert_false(matched);
	assert_int_equal(i, 0);
}

static void test_config_path(void **state)
{
	static const char *const xdg[] = {"XDG_CONFIG_HOME", "/xdg", "HOME", "/home/u", NULL};
	static const char *const relative[] = {"XDG_CONFIG_HOME", "rel", "HOME", "/home/u", NULL};
	static const char *const none[] = {"XDG_CONFIG_HOME", "", NULL};
	opt_flags f = OPT_FLAGS_INIT;
	char path[256];
	bool explicit_path = true;

	(void)state;
	assert_int_equal(opt_config_path(path, sizeof(path), &explicit_path, &f, fake_env(xdg)),
			 OPRA_OK);
	assert_string_equal(path, "/xdg/opra/config");
	assert_false(explicit_path);
	assert_int_equal(
		opt_config_path(path, sizeof(path), &explicit_path, &f, fake_env(relative)),
		OPRA_OK);
	assert_string_equal(path, "/home/u/.config/opra/config");
	assert_int_equal(opt_config_path(path, sizeof(path), &explicit_path, &f, fake_env(none)),
			 OPRA_NOT_FOUND);
	f.config = "/etc/opra/client.conf";
	assert_int_equal(opt_config_path(path, sizeof(path), &explicit_path, &f, fake_env(xdg)),
			 OPRA_OK);
	assert_string_equal(path, "/etc/opra/client.conf");
	assert_true(explicit_path);
}

/* A private directory for config files, removed by the test. */
static void make_tmpdir(char *dir, size_t size)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, size, "%s/opra-cfg-XXXXXX", base && base[0] ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_missing_config_files(void **state)
{
	char dir[256], path[512];
	kvfile *kv = (kvfile *)&kv;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/absent", dir);

	/* The default file may well not exist: that is not an error. */
	assert_int_equal(opt_config_load(&kv, path, false, NULL), OPRA_OK);
	assert_null(kv);
	/* A file the user named with --config must exist. */
	assert_int_equal(opt_config_load(&kv, path, true, NULL), OPRA_NOT_FOUND);
	assert_null(kv);
	assert_non_null(strstr(opra_err_msg(), path));

	/* A syntax error is an error even in the default file. */
	write_file(path, "server tcp://x:1\n", 0600);
	assert_int_equal(opt_config_load(&kv, path, false, NULL), OPRA_INVALID_ARGUMENT);
	unlink(path);
	rmdir(dir);
}

static char *warnings_for(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *w = open_memstream(&buf, &len);
	kvfile *kv = NULL;

	assert_non_null(w);
	assert_int_equal(opt_config_load(&kv, path, true, w), OPRA_OK);
	assert_non_null(kv);
	kvfile_free(kv);
	fclose(w);
	return buf;
}

static void test_config_warnings(void **state)
{
	char dir[256], path[512];
	char *w;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/config", dir);

	write_file(path, "server = tcp://x:1\ntoken = opra_secret\n", 0644);
	w = warnings_for(path);
	assert_non_null(strstr(w, "chmod 600"));
	assert_null(strstr(w, "opra_secret")); /* never echo the token */
	free(w);

	write_file(path, "server = tcp://x:1\ntoken = opra_secret\n", 0600);
	w = warnings_for(path);
	assert_string_equal(w, "");
	free(w);

	/* Without a token a readable file is fine, but typos are pointed out. */
	write_file(path, "server = tcp://x:1\nsever = tcp://y:1\n", 0644);
	w = warnings_for(path);
	assert_null(strstr(w, "chmod"));
	assert_non_null(strstr(w, ":2: unknown key 'sever'"));
	free(w);

	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_flag_beats_env_beats_file),
		cmocka_unit_test(test_empty_env_counts_as_unset),
		cmocka_unit_test(test_servers_flag_beats_env_beats_file),
		cmocka_unit_test(test_env_server_list_splits),
		cmocka_unit_test(test_repeated_server_flags_keep_order),
		cmocka_unit_test(test_too_many_servers),
		cmocka_unit_test(test_file_server_keys_repeat),
		cmocka_unit_test(test_timeout_validation),
		cmocka_unit_test(test_timeout_precedence_and_errors),
		cmocka_unit_test(test_default_server_when_nothing_is_set),
		cmocka_unit_test(test_flag_parsing_errors),
		cmocka_unit_test(test_config_path),
		cmocka_unit_test(test_missing_config_files),
		cmocka_unit_test(test_config_warnings),
	};
	return TESTLIB_RUN(tests);
}
