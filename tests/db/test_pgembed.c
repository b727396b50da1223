/* The embedded PostgreSQL cluster. Needs no OPRA_TEST_DB: every test makes
 * its own state dir under /tmp and its own cluster there. Skips (77) when
 * the PostgreSQL server binaries are not installed. */
#include "testlib.h"

#include "db.h"
#include "opra_err.h"
#include "pgembed.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	char base[256];	      /* mkdtemp; removed in teardown */
	char state[PATH_MAX]; /* base/state */
	pgembed_options opts;
	pgembed *pg;
	pgembed *pg2;
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static long read_first_long(const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	long v = 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

static long postmaster_pid(const fixture *f)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/pg/postmaster.pid", f->state);
	return read_first_long(path);
}

/* Alive and not a zombie (the container's init may not reap orphans). */
static int process_alive(long pid)
{
	char path[64];
	char buf[512];
	if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
		return 0;
	waitpid((pid_t)pid, NULL, WNOHANG);
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

static int wait_process_gone(long pid)
{
	for (int i = 0; i < 100; i++) {
		if (!process_alive(pid))
			return 1;
		struct timespec ts = {0, 100000000L};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->base, sizeof(f->base), "/tmp/opra-pgembed.XXXXXX");
	if (mkdtemp(f->base) == NULL) {
		free(f);
		return -1;
	}
	/* As root the cluster runs as 'postgres', which must get through. */
	if (geteuid() == 0)
		chmod(f->base, 0711);
	snprintf(f->state, sizeof(f->state), "%s/state", f->base);
	f->opts.state_dir = f->state;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	pgembed_stop(f->pg2);
	pgembed_stop(f->pg);
	/* A test that failed half-way may have left a postmaster behind. */
	long pid = postmaster_pid(f);
	if (pid > 0 && process_alive(pid)) {
		kill((pid_t)pid, SIGQUIT);
		wait_process_gone(pid);
	}
	nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void assert_select_one(const char *conninfo)
{
	db *d = NULL;
	PGresult *r = NULL;
	if (db_open(&d, conninfo) != OPRA_OK)
		fail_msg("db_open(%s): %s", conninfo, opra_err_msg());
	assert_int_equal(db_exec(&r, d, 1, "SELECT 1", 0, NULL), OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "1");
	PQclear(r);
	db_close(d);
}

static void assert_start(pgembed **pg, const pgembed_options *opts)
{
	int rc = pgembed_start(pg, opts);
	if (rc != OPRA_OK)
		fail_msg("pgembed_start: %s: %s", opra_status_name(rc), opra_err_msg());
	assert_non_null(*pg);
}

static int path_exists(const char *dir, const char *name)
{
	char path[PATH_MAX * 2];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static void test_start_query_stop(void **state)
{
	fixture *f = *state;
	char real[PATH_MAX];
	char expect[PATH_MAX * 2];
	char lock[PATH_MAX * 2];
	struct stat st;

	pgembed_stop(NULL); /* NULL-safe */
	assert_start(&f->pg, &f->opts);

	assert_non_null(realpath(f->state, real));
	snprintf(expect, sizeof(expect), "host=%s/run port=5432 user=opra dbname=opra", real);
	assert_string_equal(pgembed_conninfo(f->pg), expect);
	assert_select_one(pgembed_conninfo(f->pg));

	/* Layout and modes: nobody else may get in. */
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 0777, geteuid() == 0 ? 0711 : 0700);
	assert_true(path_exists(f->state, "pg/PG_VERSION"));
	assert_true(path_exists(f->state, "postgres.log"));
	assert_true(path_exists(f->state, "run/.s.PGSQL.5432"));
	snprintf(expect, sizeof(expect), "%s/run", f->state);
	assert_int_equal(stat(expect, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* The lock names this process, for the "another oprad" message. */
	snprintf(lock, sizeof(lock), "%s/oprad.lock", f->state);
	assert_int_equal(read_first_long(lock), (long)getpid());
	long pid = postmaster_pid(f);
	assert_true(process_alive(pid));

	pgembed_stop(f->pg);
	f->pg = NULL;
	assert_false(path_exists(f->state, "run/.s.PGSQL.5432"));
	assert_false(path_exists(f->state, "oprad.lock"));
	assert_true(wait_process_gone(pid));
	db *d = NULL;
	snprintf(expect, sizeof(expect),
		 "host=%s/run port=5432 user=opra dbname=opra "
		 "connect_timeout=2",
		 real);
	assert_int_equal(db_open(&d, expect), OPRA_UNAVAILABLE);
}

static void test_restart_keeps_data(void **state)
{
	fixture *f = *state;
	db *d = NULL;
	PGresult *r = NULL;

	assert_start(&f->pg, &f->opts);
	assert_int_equal(db_open(&d, pgembed_conninfo(f->pg)), OPRA_OK);
	assert_int_equal(db_cmd(d, "CREATE TABLE kept (v text)", 0, NULL), OPRA_OK);
	assert_int_equal(db_cmd(d, "INSERT INTO kept VALUES ('still here')", 0, NULL), OPRA_OK);
	db_close(d);
	d = NULL;
	pgembed_stop(f->pg);
	f->pg = NULL;

	assert_start(&f->pg, &f->opts);
	assert_int_equal(db_open(&d, pgembed_conninfo(f->pg)), OPRA_OK);
	assert_int_equal(db_exec(&r, d, 1, "SELECT v FROM kept", 0, NULL), OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "still here");
	PQclear(r);
	db_close(d);
}

static void test_second_oprad_on_same_dir_is_refused(void **state)
{
	fixture *f = *state;
	char pid[32];

	assert_start(&f->pg, &f->opts);
	/* A second start opens the lock file again: a separate open file
	 * description, so flock conflicts as it would between processes. */
	int rc = pgembed_start(&f->pg2, &f->opts);
	assert_true(rc == OPRA_FAILED_PRECONDITION || rc == OPRA_UNAVAILABLE);
	assert_null(f->pg2);
	assert_non_null(strstr(opra_err_msg(), "another oprad"));
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	assert_non_null(strstr(opra_err_msg(), pid));
	/* The refused one must not have disturbed the running one. */
	assert_select_one(pgembed_conninfo(f->pg));
	assert_true(path_exists(f->state, "oprad.lock"));
}

/* oprad crashed and left its cluster running: the next start takes it over
 * instead of failing on PostgreSQL's lock file. */
static void test_adopts_cluster_left_running(void **state)
{
	fixture *f = *state;
	int status = 0;

	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pgembed *pg = NULL;
		int rc = pgembed_start(&pg, &f->opts);
		_exit(rc == OPRA_OK ? 0 : 1); /* "crashes": never stops it */
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	long before = postmaster_pid(f);
	assert_true(process_alive(before));

	assert_start(&f->pg, &f->opts);
	assert_select_one(pgembed_conninfo(f->pg));
	assert_int_equal(postmaster_pid(f), before);

	pgembed_stop(f->pg);
	f->pg = NULL;
	assert_true(wait_process_gone(before));
	assert_false(path_exists(f->state, "run/.s.PGSQL.5432"));
}

static void test_open_state_dir_is_refused(void **state)
{
	fixture *f = *state;
	assert_int_equal(mkdir(f->state, 0777), 0);
	assert_int_equal(chmod(f->state, 0777), 0);
	int rc = pgembed_start(&f->pg, &f->opts);
	assert_int_not_equal(rc, OPRA_OK);
	assert_null(f->pg);
	assert_non_null(strstr(opra_err_msg(), "chmod"));
	assert_non_null(strstr(opra_err_msg(), f->state + strlen("/tmp/")));
	/* Refused before anything was written into it. */
	assert_false(path_exists(f->state, "pg"));
	assert_false(path_exists(f->state, "oprad.lock"));
}

static void test_missing_binaries_are_explained(void **state)
{
	fixture *f = *state;
	char empty[PATH_MAX + 16];
	snprintf(empty, sizeof(empty), "%s/bin", f->base);
	assert_int_equal(mkdir(empty, 0755), 0);
	f->opts.bin_dir = empty;
	int rc = pgembed_start(&f->pg, &f->opts);
	assert_int_equal(rc, OPRA_FAILED_PRECONDITION);
	assert_null(f->pg);
	assert_non_null(strstr(opra_err_msg(), "apt-get install postgresql"));
	assert_non_null(strstr(opra_err_msg(), "--db"));
	assert_false(path_exists(f->base, "state"));
}

static void test_long_state_dir_is_refused(void **state)
{
	fixture *f = *state;
	char name[128];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(f->state, sizeof(f->state), "%s/%s", f->base, name);
	int rc = pgembed_start(&f->pg, &f->opts);
	assert_int_equal(rc, OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "shorter --state-dir"));
	/* Nothing left behind. */
	assert_false(path_exists(f->base, name));
}

/* As root, /root-like parents (0700) are unreachable for 'postgres'. */
static void test_root_needs_a_reachable_state_dir(void **state)
{
	fixture *f = *state;
	char private_dir[512];
	if (geteuid() != 0)
		skip();
	snprintf(private_dir, sizeof(private_dir), "%s/private", f->base);
	assert_int_equal(mkdir(private_dir, 0700), 0);
	assert_int_equal(chmod(private_dir, 0700), 0);
	snprintf(f->state, sizeof(f->state), "%s/state", private_dir);
	int rc = pgembed_start(&f->pg, &f->opts);
	assert_int_equal(rc, OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "cannot reach"));
	assert_non_null(strstr(opra_err_msg(), "private is not searchable"));
	assert_non_null(strstr(opra_err_msg(), "/var/lib/opra"));
}

static int have_postgres_binaries(void)
{
	const char *env = getenv("OPRA_PG_BINDIR");
	char path[PATH_MAX];
	glob_t g;
	if (env && *env) {
		snprintf(path, sizeof(path), "%s/initdb", env);
		return access(path, X_OK) == 0;
	}
	int found = glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0;
	if (found)
		globfree(&g);
	if (!found) {
		/* Same search as pgembed: PATH. */
		const char *p = getenv("PATH");
		char copy[4096];
		char *save = NULL;
		snprintf(copy, sizeof(copy), "%s", p ? p : "");
		for (char *dir = strtok_r(copy, ":", &save); dir && !found;
		     dir = strtok_r(NULL, ":", &save)) {
			snprintf(path, sizeof(path), "%s/initdb", dir);
			found = access(path, X_OK) == 0;
		}
	}
	return found;
}

int main(void)
{
	if (!have_postgres_binaries()) {
		printf("skipped: PostgreSQL server binaries (initdb) not installed\n");
		return TESTLIB_SKIP;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_binaries_are_explained, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_state_dir_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_state_dir_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_needs_a_reachable_state_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_start_query_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_oprad_on_same_dir_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopts_cluster_left_running, setup, teardown),
	};
	return TESTLIB_RUN(tests);
}
