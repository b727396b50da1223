#include "pgembed.h"

#include "db.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The cluster listens only on a unix socket in a private directory, so the
 * port number is just part of the socket's name; every state dir can use
 * the default one. */
#define PG_PORT	       "5432"
#define PG_SOCKET_NAME ".s.PGSQL.5432"
/* sizeof(sockaddr_un.sun_path) is 108 on Linux, including the NUL. */
#define PG_SOCKET_PATH_MAX 107
#define PG_SUPERUSER	   "opra"
#define PG_DATABASE	   "opra"
#define PG_LIB_ROOT	   "/usr/lib/postgresql"

#define START_TIMEOUT_US    (60LL * 1000 * 1000)
#define SHUTDOWN_TIMEOUT_US (60LL * 1000 * 1000)
#define STOP_TIMEOUT_S	    "60"
#define POLL_INTERVAL_NS    100000000L

#define LOG_TAIL_LINES 10
/* The last error holds at most OPRA_ERR_MSG_MAX bytes; keep the tail small
 * enough that its last (most telling) lines are not cut off. */
#define LOG_TAIL_BYTES 700
/* postgres.log is appended to on every start; past this size the old log is
 * kept as postgres.log.old and a new one started. */
#define LOG_ROTATE_BYTES (16L * 1024 * 1024)

struct pgembed {
	char *state_dir; /* realpath */
	char *data_dir;	 /* STATE_DIR/pg */
	char *run_dir;	 /* STATE_DIR/run */
	char *socket_path;
	char *log_path;
	char *lock_path;
	char *bin_dir;
	char *initdb;
	char *pg_ctl;
	char *postgres;
	char *conninfo;	      /* dbname=opra */
	char *admin_conninfo; /* dbname=postgres */
	int lock_fd;
	int log_fd;
	/* As root every child drops to this user. Resolved in the parent,
	 * because between fork and exec only async-signal-safe calls are
	 * allowed (oprad has threads by then). */
	int as_root;
	char user[64];
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	int created_state_dir; /* removed again if the first start fails early */
	pid_t pm_pid;	       /* the running postmaster */
	pid_t pm_child;	       /* same pid when we forked it (we must reap it), else 0 */
	int running;	       /* pgembed_stop must shut the cluster down */
};

static const char bins_missing[] =
	"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found%s%s: install them with "
	"'apt-get install postgresql', set OPRA_PG_BINDIR, or use --db CONNINFO for an existing "
	"server";

static char *str_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_fmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = opra_malloc((size_t)n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

static void sleep_poll(void)
{
	struct timespec ts = {0, POLL_INTERVAL_NS};
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------
 * Messages built from postgres.log
 */

/* Writes the last lines of the log (at most LOG_TAIL_LINES, at most
 * LOG_TAIL_BYTES), each on its own indented line, into out. */
static void log_tail(char *out, size_t size, const char *path)
{
	char buf[8192];
	ssize_t n = 0;
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(out, size, " (cannot read it: %s)", strerror(errno));
		return;
	}
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > (off_t)(sizeof(buf) - 1) ? end - (off_t)(sizeof(buf) - 1) : 0;
	if (end > 0)
		n = pread(fd, buf, (size_t)(end - start), start);
	close(fd);
	if (n <= 0) {
		snprintf(out, size, " (it is empty)");
		return;
	}
	buf[n] = '\0';

	/* Walk back over whole lines until either limit is reached. */
	size_t budget = size - 1 < LOG_TAIL_BYTES ? size - 1 : LOG_TAIL_BYTES;
	size_t used = 0;
	int lines = 0;
	char *first = buf + n;
	char *p = buf + n;
	while (p > buf && lines < LOG_TAIL_LINES) {
		char *line_end = p;
		while (line_end > buf && line_end[-1] == '\n')
			line_end--;
		if (line_end == buf)
			break;
		char *line_start = line_end;
		while (line_start > buf && line_start[-1] != '\n')
			line_start--;
		/* The first line in the buffer may be cut; skip it unless the
		 * buffer holds the whole file. */
		if (line_start == buf && start > 0)
			break;
		size_t len = (size_t)(line_end - line_start) + 3;
		if (used + len > budget) {
			/* A last line longer than the budget: its start is the
			 * useful part ("FATAL: ..."). */
			if (lines == 0 && budget > 3)
				snprintf(out, size, "\n  %.*s", (int)(budget - 3), line_start);
			if (lines == 0)
				return;
			break;
		}
		used += len;
		lines++;
		first = line_start;
		p = line_start;
	}
	size_t o = 0;
	for (char *l = first; l < buf + n && o + 1 < size;) {
		char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len > 0) {
			int w = snprintf(out + o, size - o, "\n  %.*s", (int)len, l);
			if (w < 0 || (size_t)w >= size - o)
				break;
			o += (size_t)w;
		}
		if (nl == NULL)
			break;
		l = nl + 1;
	}
}

static void describe_status(char *out, size_t size, int status)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, size, "status %d", status);
}

/* ------------------------------------------------------------------------
 * Child processes: fork + execv with an argv array, never a shell.
 */

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void child_fail(const char *what, const char *arg)
{
	static const char prefix[] = "oprad: cannot ";
	ssize_t ignored = write(2, prefix, sizeof(prefix) - 1);
	ignored = write(2, what, strlen(what));
	ignored = write(2, " ", 1);
	ignored = write(2, arg, strlen(arg));
	ignored = write(2, "\n", 1);
	(void)ignored;
	_exit(127);
}

static void child_exec(const pgembed *pg, const char *const argv[], int new_session)
{
	/* oprad blocks SIGTERM/SIGINT in its threads and may ignore SIGPIPE;
	 * both survive exec, and postgres would then not shut down when told. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	static const int sigs[] = {SIGINT,  SIGTERM, SIGQUIT, SIGHUP,
				   SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &dfl, NULL);

	/* The postmaster gets its own session so a Ctrl-C on oprad's terminal
	 * reaches only oprad, which then stops the cluster in order. */
	if (new_session)
		setsid();
	/* Move both above 2 first: a daemonised oprad may have run with
	 * closed stdio, so either could itself be 0, 1 or 2. */
	int log = fcntl(pg->log_fd, F_DUPFD, 3);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0 && devnull < 3)
		devnull = fcntl(devnull, F_DUPFD, 3);
	if (log < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		child_fail("redirect output to", pg->log_path);
	/* Nothing of oprad's may leak into postgres: above all not the state
	 * dir lock, which a surviving postmaster would otherwise keep held
	 * after oprad is gone. */
	if (close_range(3, ~0U, 0) != 0)
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
	if (chdir(pg->state_dir) != 0)
		child_fail("enter", pg->state_dir);
	if (pg->as_root) {
		if (setgroups((size_t)pg->ngroups, pg->groups) != 0 || setgid(pg->gid) != 0 ||
		    setuid(pg->uid) != 0)
			child_fail("switch to user", pg->user);
		/* Make sure the switch cannot be undone. */
		if (setuid(0) == 0)
			child_fail("drop root privileges for", pg->user);
	}
	execv(argv[0], (char *const *)argv);
	child_fail("run", argv[0]);
}

static int spawn(pid_t *out, const pgembed *pg, const char *const argv[], int new_session)
{
	*out = 0;
	pid_t pid = fork();
	if (pid < 0)
		return opra_err_set(OPRA_INTERNAL, "cannot start %s: fork: %s", argv[0],
				    strerror(errno));
	if (pid == 0)
		child_exec(pg, argv, new_session);
	*out = pid;
	return OPRA_OK;
}

static int wait_child(int *status, pid_t pid)
{
	for (;;) {
		pid_t r = waitpid(pid, status, 0);
		if (r == pid)
			return OPRA_OK;
		if (r < 0 && errno != EINTR)
			return opra_err_set(OPRA_INTERNAL, "cannot wait for process %ld: %s",
					    (long)pid, strerror(errno));
	}
}

/* Runs a PostgreSQL tool to completion, its output going to postgres.log. */
static int run_tool(int *status, const pgembed *pg, const char *const argv[])
{
	pid_t pid = 0;
	int rc = spawn(&pid, pg, argv, 0);
	if (rc != OPRA_OK)
		return rc;
	return wait_child(status, pid);
}

/* ------------------------------------------------------------------------
 * Finding the PostgreSQL binaries
 */

static int has_server_binaries(const char *dir)
{
	static const char *const names[] = {"initdb", "pg_ctl", "postgres"};
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (n < 0 || (size_t)n >= sizeof(path) || access(path, X_OK) != 0)
			return 0;
	}
	return 1;
}

/* The newest /usr/lib/postgresql/N/bin (Debian's layout), or the one
 * matching prefer_major (the version the cluster was made with), so
 * installing a newer major does not make an existing cluster unstartable. */
static char *find_debian_bin_dir(long prefer_major)
{
	char path[PATH_MAX];
	long best = -1;
	if (prefer_major > 0) {
		snprintf(path, sizeof(path), "%s/%ld/bin", PG_LIB_ROOT, prefer_major);
		if (has_server_binaries(path))
			return opra_strdup(path);
	}
	DIR *dir = opendir(PG_LIB_ROOT);
	if (dir == NULL)
		return NULL;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		long v = 0;
		if (!opra_parse_long(e->d_name, 1, 100000, &v) || v <= best)
			continue;
		snprintf(path, sizeof(path), "%s/%ld/bin", PG_LIB_ROOT, v);
		if (has_server_binaries(path))
			best = v;
	}
	closedir(dir);
	if (best < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%ld/bin", PG_LIB_ROOT, best);
	return opra_strdup(path);
}

static char *find_path_bin_dir(void)
{
	const char *env = getenv("PATH");
	char *copy = opra_strdup(env ? env : "");
	char *found = NULL;
	char *save = NULL;
	if (copy == NULL)
		return NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		/* Relative PATH entries would depend on the working directory. */
		if (dir[0] == '/' && has_server_binaries(dir)) {
			found = opra_strdup(dir);
			break;
		}
	}
	opra_free(copy);
	return found;
}

/* The major version an existing cluster was created with (0 if none). */
/* Reads up to size-1 bytes of a small file (PG_VERSION, postmaster.pid,
 * /proc entries) into buf, NUL-terminated. Returns the byte count, or 0
 * when the file cannot be opened or read or is empty. */
static size_t read_small(const char *path, char *buf, size_t size, int flags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (size_t)n;
}

static long cluster_major(const char *state_dir)
{
	char path[PATH_MAX];
	char buf[32];
	long v = 0;
	snprintf(path, sizeof(path), "%s/pg/PG_VERSION", state_dir);
	if (read_small(path, buf, sizeof(buf), 0) == 0)
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	return opra_parse_long(buf, 1, 100000, &v) ? v : 0;
}

static int find_binaries(pgembed *pg, const pgembed_options *opts)
{
	const char *env = getenv("OPRA_PG_BINDIR");
	const char *given = opts->bin_dir && *opts->bin_dir ? opts->bin_dir
			    : env && *env		    ? env
							    : NULL;
	if (given) {
		/* An explicit choice is never second-guessed by a search. */
		if (!has_server_binaries(given))
			return opra_err_set(OPRA_FAILED_PRECONDITION, bins_missing, " in ", given);
		pg->bin_dir = opra_strdup(given);
	} else {
		pg->bin_dir = find_debian_bin_dir(cluster_major(opts->state_dir));
		if (pg->bin_dir == NULL)
			pg->bin_dir = find_path_bin_dir();
		if (pg->bin_dir == NULL)
			return opra_err_set(OPRA_FAILED_PRECONDITION, bins_missing, "", "");
	}
	if (pg->bin_dir == NULL)
		return oom();
	pg->initdb = str_fmt("%s/initdb", pg->bin_dir);
	pg->pg_ctl = str_fmt("%s/pg_ctl", pg->bin_dir);
	pg->postgres = str_fmt("%s/postgres", pg->bin_dir);
	if (pg->initdb == NULL || pg->pg_ctl == NULL || pg->postgres == NULL)
		return oom();
	return OPRA_OK;
}

/* ------------------------------------------------------------------------
 * Running as root: the unprivileged user that runs PostgreSQL
 */

static int resolve_user(pgembed *pg, const char *run_as)
{
	char buf[16384];
	struct passwd pw;
	struct passwd *found = NULL;
	const char *name = run_as && *run_as ? run_as : "postgres";

	getpwnam_r(name, &pw, buf, sizeof(buf), &found);
	if (found == NULL && !(run_as && *run_as)) {
		name = "nobody";
		getpwnam_r(name, &pw, buf, sizeof(buf), &found);
	}
	if (found == NULL)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "as root oprad runs PostgreSQL as user '%s', which does not "
				    "exist: create it, or run oprad as an ordinary user",
				    name);
	if (pw.pw_uid == 0)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "PostgreSQL refuses to run as root, and user '%s' has uid 0: "
				    "choose an unprivileged user",
				    name);
	snprintf(pg->user, sizeof(pg->user), "%s", name);
	pg->uid = pw.pw_uid;
	pg->gid = pw.pw_gid;

	int n = 16;
	for (int tries = 0; tries < 8; tries++) {
		opra_free(pg->groups);
		pg->groups = opra_calloc((size_t)n, sizeof(gid_t));
		if (pg->groups == NULL)
			return oom();
		int want = n;
		if (getgrouplist(name, pg->gid, pg->groups, &want) >= 0) {
			pg->ngroups = want;
			return OPRA_OK;
		}
		n = want > n ? want : n * 2;
	}
	return opra_err_set(OPRA_INTERNAL, "cannot read the groups of user '%s'", name);
}

/* Whether the PostgreSQL user may search (traverse) a directory, by the
 * classic owner/group/other rule. */
static int user_can_search(const pgembed *pg, const struct stat *st)
{
	if (st->st_uid == pg->uid)
		return (st->st_mode & S_IXUSR) != 0;
	int in_group = st->st_gid == pg->gid;
	for (int i = 0; i < pg->ngroups && !in_group; i++)
		in_group = pg->groups[i] == st->st_gid;
	if (in_group)
		return (st->st_mode & S_IXGRP) != 0;
	return (st->st_mode & S_IXOTH) != 0;
}

/* Root can use /root/opra-state, but postgres cannot reach it; find out
 * now, rather than from a cryptic initdb failure. */
static int check_reachable(const pgembed *pg)
{
	char path[PATH_MAX];
	const char *s = pg->state_dir;
	size_t len = strlen(s);
	for (size_t i = 1; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		snprintf(path, sizeof(path), "%.*s", (int)i, s);
		struct stat st;
		if (stat(path, &st) != 0)
			return opra_err_set(OPRA_INTERNAL, "cannot inspect %s: %s", path,
					    strerror(errno));
		if (!user_can_search(pg, &st))
			return opra_err_set(
				OPRA_FAILED_PRECONDITION,
				"as root the PostgreSQL cluster runs as user '%s', which "
				"cannot reach %s (%s is not searchable by it): choose a "
				"--state-dir under a searchable path such as /var/lib/opra",
				pg->user, pg->state_dir, path);
	}
	/* "/" itself. */
	struct stat root;
	if (stat("/", &root) == 0 && !user_can_search(pg, &root))
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "as root the PostgreSQL cluster runs as user '%s', which "
				    "cannot reach %s (/ is not searchable by it): choose a "
				    "--state-dir under a searchable path such as /var/lib/opra",
				    pg->user, pg->state_dir);
	return OPRA_OK;
}

/* ------------------------------------------------------------------------
 * The state directory and its lock
 */

static int prepare_state_dir(pgembed *pg, const char *dir)
{
	/* As root the directory must be traversable (not listable) by the
	 * PostgreSQL user. */
	mode_t want = pg->as_root ? 0711 : 0700;
	struct stat st;

	if (mkdir(dir, want) == 0) {
		/* mkdir's mode is filtered by the umask; say exactly what we mean. */
		if (chmod(dir, want) != 0)
			return opra_err_set(OPRA_INTERNAL, "cannot set the mode of %s: %s", dir,
					    strerror(errno));
		pg->created_state_dir = 1;
		log_info("created state directory %s", dir);
	} else if (errno != EEXIST) {
		int e = errno;
		return opra_err_set(e == EACCES ? OPRA_PERMISSION_DENIED : OPRA_FAILED_PRECONDITION,
				    "cannot create the state directory %s: %s%s", dir, strerror(e),
				    e == ENOENT ? " (its parent directory does not exist)" : "");
	}
	char real[PATH_MAX];
	if (realpath(dir, real) == NULL)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "cannot resolve the state directory %s: %s", dir,
				    strerror(errno));
	if ((pg->state_dir = opra_strdup(real)) == NULL)
		return oom();
	if (stat(real, &st) != 0)
		return opra_err_set(OPRA_FAILED_PRECONDITION, "cannot inspect %s: %s", real,
				    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "the state directory %s is not a directory: choose another "
				    "--state-dir",
				    real);
	if (!pg->as_root && st.st_uid != geteuid())
		return opra_err_set(
			OPRA_PERMISSION_DENIED,
			"the state directory %s belongs to uid %ld, not to you (uid %ld): "
			"run oprad as its owner or choose another --state-dir",
			real, (long)st.st_uid, (long)geteuid());
	/* It holds a database that trusts every local connection and the
	 * admin token: nobody else may look inside. */
	if (st.st_mode & 066)
		return opra_err_set(
			OPRA_FAILED_PRECONDITION,
			"the state directory %s is open to other users (mode %04o): run "
			"'chmod %s %s' and start again",
			real, (unsigned)(st.st_mode & 07777), pg->as_root ? "711" : "700", real);
	if (pg->as_root && (st.st_mode & 011) != 011) {
		if (chmod(real, (st.st_mode & 07777) | 011) != 0)
			return opra_err_set(OPRA_INTERNAL, "cannot make %s traversable: %s", real,
					    strerror(errno));
		log_info("made %s traversable (mode 0711) so user '%s' can reach the cluster", real,
			 pg->user);
	}
	return OPRA_OK;
}

static int build_paths(pgembed *pg)
{
	pg->data_dir = str_fmt("%s/pg", pg->state_dir);
	pg->run_dir = str_fmt("%s/run", pg->state_dir);
	pg->socket_path = str_fmt("%s/run/%s", pg->state_dir, PG_SOCKET_NAME);
	pg->log_path = str_fmt("%s/postgres.log", pg->state_dir);
	pg->lock_path = str_fmt("%s/oprad.lock", pg->state_dir);
	if (!pg->data_dir || !pg->run_dir || !pg->socket_path || !pg->log_path || !pg->lock_path)
		return oom();
	/* libpq reads host as a comma-separated list and has no way to
	 * escape a comma. */
	if (strchr(pg->state_dir, ',') != NULL)
		return opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"the state directory path %s contains a comma, which PostgreSQL "
			"clients cannot take in a socket path: choose another --state-dir",
			pg->state_dir);
	if (strlen(pg->socket_path) >= PG_SOCKET_PATH_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "the state directory path %s is too long for PostgreSQL's unix "
				    "socket (%zu of at most %d bytes for %s): use a shorter "
				    "--state-dir path",
				    pg->state_dir, strlen(pg->socket_path), PG_SOCKET_PATH_MAX - 1,
				    pg->socket_path);
	return OPRA_OK;
}

/* A libpq conninfo value, single-quoted when it needs to be. */
static char *conninfo_for(const char *host, const char *dbname)
{
	char quoted[PATH_MAX * 2 + 3];
	size_t o = 0;
	int plain = host[0] != '\0' && strpbrk(host, " \t\n\r\\'") == NULL;
	if (plain) {
		snprintf(quoted, sizeof(quoted), "%s", host);
	} else {
		quoted[o++] = '\'';
		for (const char *c = host; *c && o + 3 < sizeof(quoted); c++) {
			if (*c == '\\' || *c == '\'')
				quoted[o++] = '\\';
			quoted[o++] = *c;
		}
		quoted[o++] = '\'';
		quoted[o] = '\0';
	}
	return str_fmt("host=%s port=%s user=%s dbname=%s", quoted, PG_PORT, PG_SUPERUSER, dbname);
}

static long read_pid_text(int fd)
{
	char buf[32];
	long pid = 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return opra_parse_long(buf, 1, LONG_MAX, &pid) ? pid : 0;
}

/* flock on STATE_DIR/oprad.lock, held until pgembed_stop (or until the
 * process dies, when the kernel drops it: a crash never leaves a stale lock
 * behind). */
static int take_lock(pgembed *pg)
{
	/* pgembed_stop unlinks the file while holding the lock; a process
	 * that opened the old file just before would lock a file nobody else
	 * can see. Checking that the locked file is still the one at the path
	 * closes that race. */
	for (int tries = 0; tries < 10; tries++) {
		int fd = open(pg->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return opra_err_set(OPRA_FAILED_PRECONDITION, "cannot open %s: %s",
					    pg->lock_path, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;
			long other = read_pid_text(fd);
			close(fd);
			if (e != EWOULDBLOCK)
				return opra_err_set(OPRA_INTERNAL, "cannot lock %s: %s",
						    pg->lock_path, strerror(e));
			if (other > 0)
				return opra_err_set(
					OPRA_FAILED_PRECONDITION,
					"another oprad (pid %ld) is using %s; stop it or "
					"choose another --state-dir",
					other, pg->state_dir);
			return opra_err_set(OPRA_FAILED_PRECONDITION,
					    "another oprad is using %s; stop it or choose another "
					    "--state-dir",
					    pg->state_dir);
		}
		struct stat held, now;
		if (fstat(fd, &held) != 0 || stat(pg->lock_path, &now) != 0 ||
		    held.st_ino != now.st_ino || held.st_dev != now.st_dev) {
			close(fd);
			continue;
		}
		char text[32];
		int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
			int e = errno;
			close(fd);
			return opra_err_set(OPRA_INTERNAL, "cannot write %s: %s", pg->lock_path,
					    strerror(e));
		}
		pg->lock_fd = fd;
		return OPRA_OK;
	}
	return opra_err_set(OPRA_UNAVAILABLE, "cannot take the lock %s: it keeps being replaced",
			    pg->lock_path);
}

static void release_lock(pgembed *pg)
{
	if (pg->lock_fd < 0)
		return;
	/* Unlink before close, while still holding the lock (see take_lock). */
	unlink(pg->lock_path);
	close(pg->lock_fd);
	pg->lock_fd = -1;
}

/* Creates (or checks) a directory inside the state dir that belongs to the
 * PostgreSQL user. */
static int ensure_pg_dir(const pgembed *pg, const char *path)
{
	struct stat st;
	if (mkdir(path, 0700) == 0) {
		if (chmod(path, 0700) != 0 || (pg->as_root && chown(path, pg->uid, pg->gid) != 0))
			return opra_err_set(OPRA_INTERNAL, "cannot prepare %s: %s", path,
					    strerror(errno));
		return OPRA_OK;
	}
	if (errno != EEXIST)
		return opra_err_set(OPRA_INTERNAL, "cannot create %s: %s", path, strerror(errno));
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "%s is not a directory: move it out of the way", path);
	uid_t want = pg->as_root ? pg->uid : geteuid();
	if (st.st_uid != want) {
		if (pg->as_root)
			return opra_err_set(
				OPRA_FAILED_PRECONDITION,
				"%s belongs to uid %ld, but as root the cluster runs as "
				"'%s' (uid %ld): run 'chown -R %s %s', or run oprad as "
				"uid %ld",
				path, (long)st.st_uid, pg->user, (long)pg->uid, pg->user, path,
				(long)st.st_uid);
		return opra_err_set(OPRA_PERMISSION_DENIED,
				    "%s belongs to uid %ld, not to you (uid %ld): run oprad as its "
				    "owner or choose another --state-dir",
				    path, (long)st.st_uid, (long)geteuid());
	}
	return OPRA_OK;
}

static int open_log(pgembed *pg)
{
	struct stat st;
	if (lstat(pg->log_path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > LOG_ROTATE_BYTES) {
		char *old = str_fmt("%s.old", pg->log_path);
		if (old == NULL)
			return oom();
		if (rename(pg->log_path, old) != 0)
			log_warn("cannot rotate %s: %s", pg->log_path, strerror(errno));
		opra_free(old);
	}
	pg->log_fd =
		open(pg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (pg->log_fd < 0)
		return opra_err_set(OPRA_FAILED_PRECONDITION, "cannot open %s: %s", pg->log_path,
				    strerror(errno));
	if (pg->as_root && fchown(pg->log_fd, pg->uid, pg->gid) != 0)
		return opra_err_set(OPRA_INTERNAL, "cannot hand %s to user '%s': %s", pg->log_path,
				    pg->user, strerror(errno));
	return OPRA_OK;
}

static int prepare_layout(pgembed *pg)
{
	int rc = ensure_pg_dir(pg, pg->data_dir);
	if (rc == OPRA_OK)
		rc = ensure_pg_dir(pg, pg->run_dir);
	/* Nobody else may reach the socket: the cluster trusts whoever does. */
	if (rc == OPRA_OK && chmod(pg->run_dir, 0700) != 0)
		rc = opra_err_set(OPRA_INTERNAL, "cannot set the mode of %s: %s", pg->run_dir,
				  strerror(errno));
	if (rc == OPRA_OK)
		rc = open_log(pg);
	return rc;
}

/* ------------------------------------------------------------------------
 * The cluster
 */

static int file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;
	if (d == NULL)
		return 0;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

static int init_cluster(pgembed *pg)
{
	char tail[LOG_TAIL_BYTES + 64];
	char how[64];
	int status = 0;

	if (file_exists(pg->data_dir, "PG_VERSION"))
		return OPRA_OK;
	if (!dir_is_empty(pg->data_dir))
		return opra_err_set(
			OPRA_FAILED_PRECONDITION,
			"%s is not empty but holds no PostgreSQL cluster (an interrupted "
			"first start?): remove it and start again",
			pg->data_dir);
	log_info("creating the PostgreSQL cluster in %s (initdb from %s)", pg->data_dir,
		 pg->bin_dir);
	/* trust is safe here: the only way in is the socket in a 0700
	 * directory, and there is no TCP listener. */
	const char *const argv[] = {pg->initdb,	  "-D",		pg->data_dir, "-U",
				    PG_SUPERUSER, "-A",		"trust",      "-E",
				    "UTF8",	  "--locale=C", NULL};
	int rc = run_tool(&status, pg, argv);
	if (rc != OPRA_OK)
		return rc;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return OPRA_OK;
	describe_status(how, sizeof(how), status);
	log_tail(tail, sizeof(tail), pg->log_path);
	return opra_err_set(OPRA_INTERNAL, "initdb failed (%s); last lines of %s:%s", how,
			    pg->log_path, tail);
}

/* Fields of a postmaster.pid / socket lock file, by line (1-based). */
typedef struct {
	long pid;
	char port[16];
	char socket_dir[PATH_MAX];
	char listen[256];
} pidfile;

static int read_pidfile(pidfile *out, const char *path)
{
	char buf[PATH_MAX + 1024];
	memset(out, 0, sizeof(*out));
	if (read_small(path, buf, sizeof(buf), O_NOFOLLOW) == 0)
		return 0;
	int line = 0;
	/* strsep, not strtok: empty lines (listen_addresses='') count. */
	char *p = buf;
	for (char *l = strsep(&p, "\n"); l != NULL; l = strsep(&p, "\n")) {
		line++;
		if (line == 1 && !opra_parse_long(l, 1, LONG_MAX, &out->pid))
			return 0;
		if (line == 4)
			snprintf(out->port, sizeof(out->port), "%s", l);
		if (line == 5)
			snprintf(out->socket_dir, sizeof(out->socket_dir), "%s", l);
		if (line == 6)
			snprintf(out->listen, sizeof(out->listen), "%s", l);
	}
	return out->pid > 0;
}

/* A zombie (exited but not reaped, as under a container init that does not
 * reap orphans) counts as gone. */
static int pid_alive(long pid)
{
	char path[64];
	char stat[512];
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (read_small(path, stat, sizeof(stat), 0) == 0)
		return 1;
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	const char *p = strrchr(stat, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

/* Whether pid runs the postgres binary (the postmaster's comm is always
 * "postgres"; a recycled pid after a reboot is something else). */
static int pid_is_postgres(long pid)
{
	char path[64];
	char comm[64];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (read_small(path, comm, sizeof(comm), 0) == 0)
		return 1; /* cannot tell: assume it is */
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "postgres") == 0;
}

/* Another postmaster (not the one of STATE_DIR/pg) on our socket would
 * make ours fail with a message about lock files; name it instead. */
static int check_socket_free(const pgembed *pg, long our_pid)
{
	char path[PATH_MAX];
	pidfile pf;
	snprintf(path, sizeof(path), "%s.lock", pg->socket_path);
	if (!read_pidfile(&pf, path) || pf.pid == our_pid || !pid_alive(pf.pid) ||
	    !pid_is_postgres(pf.pid))
		return OPRA_OK;
	return opra_err_set(OPRA_FAILED_PRECONDITION,
			    "another PostgreSQL server (pid %ld) already uses the socket %s (port "
			    "%s): stop it, or choose another --state-dir",
			    pf.pid, pg->socket_path, PG_PORT);
}

/* Waits until the server answers on our socket. The process is checked
 * while waiting, so a failed start is reported at once, not after the
 * timeout. child: our own child (reaped here if it exits), else 0. */
static int wait_ready(int *status, pgembed *pg, long pid, pid_t child, long long timeout_us)
{
	long long deadline = opra_now_us() + timeout_us;
	*status = -1;
	for (;;) {
		if (PQping(pg->admin_conninfo) == PQPING_OK)
			return OPRA_OK;
		if (child > 0) {
			pid_t r = waitpid(child, status, WNOHANG);
			if (r == child)
				return OPRA_UNAVAILABLE;
		} else if (!pid_alive(pid)) {
			return OPRA_UNAVAILABLE;
		}
		if (opra_now_us() >= deadline)
			return OPRA_DEADLINE_EXCEEDED;
		sleep_poll();
	}
}

/* Waits (bounded) for a postmaster to exit after it was told to. */
static int wait_gone(long pid, pid_t child, long long timeout_us)
{
	long long deadline = opra_now_us() + timeout_us;
	for (;;) {
		if (child > 0) {
			int status;
			pid_t r = waitpid(child, &status, WNOHANG);
			if (r == child || (r < 0 && errno == ECHILD))
				return 1;
		} else if (!pid_alive(pid)) {
			return 1;
		}
		if (opra_now_us() >= deadline)
			return 0;
		sleep_poll();
	}
}

/* "unix_socket_directories=\"DIR\"": the setting is a comma-separated list,
 * and double quotes keep a path with commas or spaces in one piece (a " in
 * it is doubled). */
static char *socket_dirs_setting(const char *run_dir)
{
	static const char key[] = "unix_socket_directories=";
	size_t o = sizeof(key) - 1;
	char *s = opra_malloc(sizeof(key) + 2 * strlen(run_dir) + 2);
	if (s == NULL)
		return NULL;
	memcpy(s, key, o);
	s[o++] = '"';
	for (const char *c = run_dir; *c; c++) {
		if (*c == '"')
			s[o++] = '"';
		s[o++] = *c;
	}
	s[o++] = '"';
	s[o] = '\0';
	return s;
}

/* Stops a postmaster we forked that never became ready, so a failed start
 * leaves nothing running behind. */
static void abandon_postmaster(pid_t pid)
{
	kill(pid, SIGINT); /* fast shutdown */
	if (wait_gone(pid, pid, 10LL * 1000 * 1000))
		return;
	kill(pid, SIGQUIT); /* immediate shutdown, also ends its children */
	wait_gone(pid, pid, 5LL * 1000 * 1000);
}

/* postgres is exec'd directly rather than through pg_ctl start, because
 * pg_ctl hands its -o options to /bin/sh: a state dir with a space or a
 * quote in its name would break the command, or worse. */
static int start_postmaster(pgembed *pg)
{
	char tail[LOG_TAIL_BYTES + 64];
	char how[64];
	char *sockdirs = NULL;
	pid_t pid = 0;
	int status = -1;
	int rc = OPRA_OK;

	if ((sockdirs = socket_dirs_setting(pg->run_dir)) == NULL)
		return oom();
	log_info("starting PostgreSQL (%s) on %s", pg->postgres, pg->socket_path);
	const char *const argv[] = {pg->postgres,	 "-D", pg->data_dir, "-c",
				    "listen_addresses=", "-c", sockdirs,     "-c",
				    "port=" PG_PORT,	 NULL};
	if ((rc = spawn(&pid, pg, argv, 1)) != OPRA_OK)
		goto done;
	int w = wait_ready(&status, pg, pid, pid, START_TIMEOUT_US);
	if (w == OPRA_OK) {
		pg->pm_pid = pid;
		pg->pm_child = pid;
		pg->running = 1;
		log_info("PostgreSQL is ready (pid %ld)", (long)pid);
		goto done;
	}
	if (w == OPRA_DEADLINE_EXCEEDED) {
		abandon_postmaster(pid);
		snprintf(how, sizeof(how), "no connection within %lld s, stopped it",
			 START_TIMEOUT_US / 1000000);
	} else {
		describe_status(how, sizeof(how), status);
	}
	log_tail(tail, sizeof(tail), pg->log_path);
	rc = opra_err_set(OPRA_UNAVAILABLE, "PostgreSQL did not start (%s); last lines of %s:%s",
			  how, pg->log_path, tail);
done:
	opra_free(sockdirs);
	return rc;
}

/* A postmaster may still run on STATE_DIR/pg when an oprad died without
 * stopping it. We hold the state dir lock, so it is ours to take over;
 * restarting it instead would only fail on its lock file. */
static int adopt_running(int *adopted, pgembed *pg)
{
	char path[PATH_MAX];
	char tail[LOG_TAIL_BYTES + 64];
	pidfile pf;
	int status = 0;

	*adopted = 0;
	snprintf(path, sizeof(path), "%s/postmaster.pid", pg->data_dir);
	if (!read_pidfile(&pf, path))
		return OPRA_OK;
	if (!pid_alive(pf.pid)) {
		/* postgres removes a stale postmaster.pid by itself. */
		log_info("PostgreSQL on %s was not shut down cleanly (pid %ld is gone); it will "
			 "recover on start",
			 pg->data_dir, pf.pid);
		return OPRA_OK;
	}
	if (!pid_is_postgres(pf.pid)) {
		/* After a reboot the pid may belong to something else, and
		 * postgres would refuse to start until the file is removed. */
		log_warn("removing stale %s: pid %ld is not PostgreSQL", path, pf.pid);
		if (unlink(path) != 0)
			return opra_err_set(OPRA_FAILED_PRECONDITION,
					    "cannot remove the stale %s: %s; remove it by hand",
					    path, strerror(errno));
		return OPRA_OK;
	}
	/* Never adopt a cluster started some other way: it could listen on
	 * TCP with trust authentication. */
	if (pf.listen[0] != '\0' || strcmp(pf.socket_dir, pg->run_dir) != 0 ||
	    strcmp(pf.port, PG_PORT) != 0)
		return opra_err_set(
			OPRA_FAILED_PRECONDITION,
			"PostgreSQL (pid %ld) already runs on %s, but not the way oprad "
			"starts it (socket dir '%s', port %s, listen_addresses '%s'): stop "
			"it with 'pg_ctl -D %s stop' and start oprad again",
			pf.pid, pg->data_dir, pf.socket_dir, pf.port, pf.listen, pg->data_dir);
	log_info("adopting PostgreSQL already running on %s (pid %ld), left by an oprad that did "
		 "not stop it",
		 pg->data_dir, pf.pid);
	int w = wait_ready(&status, pg, pf.pid, 0, START_TIMEOUT_US);
	if (w == OPRA_OK) {
		pg->pm_pid = (pid_t)pf.pid;
		pg->pm_child = 0;
		pg->running = 1;
		*adopted = 1;
		return OPRA_OK;
	}
	if (w == OPRA_UNAVAILABLE) {
		/* It was on its way out; start a fresh one. */
		log_info("PostgreSQL (pid %ld) exited while being adopted; starting it again",
			 pf.pid);
		return OPRA_OK;
	}
	log_tail(tail, sizeof(tail), pg->log_path);
	return opra_err_set(OPRA_UNAVAILABLE,
			    "PostgreSQL (pid %ld) runs on %s but did not accept connections on %s "
			    "within %lld s; stop it with 'pg_ctl -D %s stop' if it hangs. Last "
			    "lines of %s:%s",
			    pf.pid, pg->data_dir, pg->socket_path, START_TIMEOUT_US / 1000000,
			    pg->data_dir, pg->log_path, tail);
}

static int ensure_database(const pgembed *pg)
{
	char msg[OPRA_ERR_MSG_MAX];
	const char *params[1] = {PG_DATABASE};
	PGresult *r = NULL;
	db *d = NULL;
	int rc = OPRA_OK;

	if ((rc = db_open(&d, pg->admin_conninfo)) != OPRA_OK)
		goto done;
	rc = db_exec(&r, d, 1, "SELECT 1 FROM pg_database WHERE datname = $1", 1, params);
	if (rc != OPRA_OK || PQntuples(r) > 0)
		goto done;
	log_info("creating database %s in the embedded cluster", PG_DATABASE);
	/* An identifier cannot be a parameter; this one is a constant. */
	rc = db_cmd(d, "CREATE DATABASE " PG_DATABASE, 0, NULL);
done:
	if (rc != OPRA_OK) {
		snprintf(msg, sizeof(msg), "%s", opra_err_msg());
		rc = opra_err_set(rc, "cannot prepare the database %s in the embedded cluster: %s",
				  PG_DATABASE, msg);
	}
	PQclear(r);
	db_close(d);
	return rc;
}

static void stop_cluster(pgembed *pg)
{
	char how[64];
	int status = 0;

	log_info("stopping PostgreSQL on %s (pid %ld)", pg->data_dir, (long)pg->pm_pid);
	const char *const argv[] = {pg->pg_ctl, "-D", pg->data_dir,   "-m",   "fast",
				    "-w",	"-t", STOP_TIMEOUT_S, "stop", NULL};
	int rc = run_tool(&status, pg, argv);
	int ok = rc == OPRA_OK && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok) {
		if (rc == OPRA_OK)
			describe_status(how, sizeof(how), status);
		else
			snprintf(how, sizeof(how), "not run");
		log_warn("pg_ctl stop failed (%s; see %s); signalling PostgreSQL (pid %ld) "
			 "directly",
			 how, pg->log_path, (long)pg->pm_pid);
		kill(pg->pm_pid, SIGINT); /* fast shutdown */
	}
	/* Our own child must also be reaped, or it lingers as a zombie. */
	if ((!ok || pg->pm_child > 0) &&
	    !wait_gone(pg->pm_pid, pg->pm_child, SHUTDOWN_TIMEOUT_US)) {
		log_error(
			"PostgreSQL (pid %ld) did not stop within %lld s; it may still be running "
			"on %s",
			(long)pg->pm_pid, SHUTDOWN_TIMEOUT_US / 1000000, pg->data_dir);
		return;
	}
	pg->running = 0;
	log_info("PostgreSQL stopped");
}

static void pgembed_free(pgembed *pg)
{
	if (pg == NULL)
		return;
	if (pg->log_fd >= 0)
		close(pg->log_fd);
	opra_free(pg->state_dir);
	opra_free(pg->data_dir);
	opra_free(pg->run_dir);
	opra_free(pg->socket_path);
	opra_free(pg->log_path);
	opra_free(pg->lock_path);
	opra_free(pg->bin_dir);
	opra_free(pg->initdb);
	opra_free(pg->pg_ctl);
	opra_free(pg->postgres);
	opra_free(pg->conninfo);
	opra_free(pg->admin_conninfo);
	opra_free(pg->groups);
	opra_free(pg);
}

void pgembed_stop(pgembed *pg)
{
	if (pg == NULL)
		return;
	if (pg->running)
		stop_cluster(pg);
	release_lock(pg);
	pgembed_free(pg);
}

const char *pgembed_conninfo(const pgembed *pg)
{
	return pg->conninfo;
}

int pgembed_start(pgembed **out, const pgembed_options *opts)
{
	pgembed *pg = NULL;
	int adopted = 0;
	int rc = OPRA_OK;

	*out = NULL;
	if (opts == NULL || opts->state_dir == NULL || opts->state_dir[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "no state directory given: pass --state-dir DIR");
	if ((pg = opra_calloc(1, sizeof(*pg))) == NULL)
		return oom();
	pg->lock_fd = -1;
	pg->log_fd = -1;
	pg->as_root = geteuid() == 0;

	if (pg->as_root && (rc = resolve_user(pg, opts->run_as)) != OPRA_OK)
		goto done;
	/* Before touching the disk: without binaries there is nothing to do. */
	if ((rc = find_binaries(pg, opts)) != OPRA_OK)
		goto done;
	if ((rc = prepare_state_dir(pg, opts->state_dir)) != OPRA_OK)
		goto done;
	if ((rc = build_paths(pg)) != OPRA_OK)
		goto done;
	if ((rc = take_lock(pg)) != OPRA_OK)
		goto done;
	if (pg->as_root && (rc = check_reachable(pg)) != OPRA_OK)
		goto done;
	pg->conninfo = conninfo_for(pg->run_dir, PG_DATABASE);
	pg->admin_conninfo = conninfo_for(pg->run_dir, "postgres");
	if (pg->conninfo == NULL || pg->admin_conninfo == NULL) {
		rc = oom();
		goto done;
	}
	if ((rc = prepare_layout(pg)) != OPRA_OK)
		goto done;
	if ((rc = init_cluster(pg)) != OPRA_OK)
		goto done;
	if ((rc = adopt_running(&adopted, pg)) != OPRA_OK)
		goto done;
	if (!adopted) {
		if ((rc = check_socket_free(pg, 0)) != OPRA_OK)
			goto done;
		if ((rc = start_postmaster(pg)) != OPRA_OK)
			goto done;
	}
	if ((rc = ensure_database(pg)) != OPRA_OK)
		goto done;
	*out = pg;
	pg = NULL;
done:
	if (pg != NULL) {
		/* Shutting down what we started must not replace the error that
		 * explains why. */
		char msg[OPRA_ERR_MSG_MAX];
		char created[PATH_MAX] = "";
		snprintf(msg, sizeof(msg), "%s", opra_err_msg());
		if (pg->created_state_dir && pg->state_dir)
			snprintf(created, sizeof(created), "%s", pg->state_dir);
		pgembed_stop(pg);
		/* A refused first start leaves no empty directory behind (rmdir
		 * fails, as it should, once anything was written into it). */
		if (created[0])
			rmdir(created);
		opra_err_set(rc, "%s", msg);
	}
	return rc;
}
