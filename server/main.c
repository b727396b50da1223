/* oprad: the opra server. See `oprad --help` and docs/admin.md. */
#include "auth.h"
#include "db.h"
#include "dispatch.h"
#include "housekeep.h"
#include "kvfile.h"
#include "migrate.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "opra_version.h"
#include "pgembed.h"
#include "rpcserver.h"
#include "tlsconf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_LISTEN	  "tcp://127.0.0.1:7430"
#define DEFAULT_STATE_DIR "./opra-state"
#define DEFAULT_WORKERS	  4
#define DEFAULT_QUEUE	  256
#define DEFAULT_RECV_MAX  (4u * 1024 * 1024)
#define DRAIN_MS	  10000

static const char usage_text[] =
	"usage: oprad [options]                 run the server\n"
	"       oprad migrate [options]         apply database migrations and exit\n"
	"       oprad init-admin NAME [options] create an admin user, print its token once\n"
	"\n"
	"Options (each may also be set in the --config file as `name = value`;\n"
	"flags win over the file):\n"
	"  --listen URL           where to accept clients; repeatable. tcp://HOST:PORT,\n"
	"                         tls+tcp://HOST:PORT (needs --tls-cert/--tls-key) or\n"
	"                         ipc:///PATH. Default " DEFAULT_LISTEN ".\n"
	"  --db CONNINFO          use this PostgreSQL (libpq conninfo or postgresql:// URI).\n"
	"                         Without it oprad runs its own embedded cluster in\n"
	"                         STATE_DIR/pg (unix socket only), stopped on exit.\n"
	"  --state-dir DIR        embedded cluster, lock and admin.token live here\n"
	"                         (default " DEFAULT_STATE_DIR
	"; must be mode 0700, or 0711 as root)\n"
	"  --pg-user USER         as root: the user the embedded cluster runs as\n"
	"                         (default postgres, else nobody)\n"
	"  --workers N            worker threads, each with one database connection\n"
	"                         (default 4, 1..256)\n"
	"  --queue-depth N        requests that may wait for a worker; beyond that clients\n"
	"                         get RESOURCE_EXHAUSTED and retry (default 256)\n"
	"  --max-message-size B   largest request accepted, in bytes; larger ones are\n"
	"                         dropped by the transport (default 4194304 = 4 MiB)\n"
	"  --batch-max N          group commit: most small writes (e.g. evidence submits)\n"
	"                         one worker runs in one transaction (default 32, 1..1024;\n"
	"                         1 turns grouping off)\n"
	"  --max-parked N         long polls (opra watch) that may wait at once without a\n"
	"                         worker; beyond that they get RESOURCE_EXHAUSTED\n"
	"                         (default 1024, 1..100000)\n"
	"  --tls-cert FILE        PEM certificate (chain) for tls+tcp:// listeners\n"
	"  --tls-key FILE         PEM private key for it\n"
	"  --tls-client-ca FILE   require client certificates signed by this CA\n"
	"  --insecure             allow plain tcp:// on addresses other than loopback\n"
	"                         (127.0.0.0/8, ::1, localhost); without it such a\n"
	"                         --listen fails at start. Tokens then cross the network\n"
	"                         in clear text: only behind a TLS proxy or on a\n"
	"                         protected network. Config file: insecure = true\n"
	"  --idempotency-days N   keep idempotency records N days: a retry with the same\n"
	"                         key within that time is answered, not applied again\n"
	"                         (default 30; 0 keeps them forever)\n"
	"  --abandoned-days N     remove uploads never committed and bulk imports never\n"
	"                         committed or aborted after N days (default 7; 0: never)\n"
	"  --housekeep-interval S seconds between housekeeping passes (default 3600)\n"
	"  --config FILE          read options from FILE (key = value lines)\n"
	"  --log-level LEVEL      error, warn, info (default: one line per request) or debug\n"
	"  --help                 this text\n"
	"  --version              print the version\n"
	"\n"
	"On first start with an empty database oprad creates the user 'admin' and writes\n"
	"its token to STATE_DIR/admin.token (mode 0600). SIGTERM or SIGINT: stop accepting,\n"
	"finish requests in flight (up to 10 s), stop the embedded cluster, exit 0.\n"
	"Logs go to stderr, one line per request; tokens are never logged.\n";

typedef struct {
	const char *listen[RPCSERVER_MAX_URLS];
	size_t n_listen;
	const char *db;
	const char *state_dir;
	const char *pg_user;
	long workers;
	long queue_depth;
	long recv_max;
	long batch_max;
	long max_parked;
	long idempotency_days; /* -1: not given */
	long abandoned_days;   /* -1: not given */
	long housekeep_interval;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_client_ca;
	int insecure;
	const char *log_level;
	const char *config;
	const char *admin_name; /* init-admin */
} options;

enum {
	OPT_LISTEN = 256,
	OPT_DB,
	OPT_STATE_DIR,
	OPT_PG_USER,
	OPT_WORKERS,
	OPT_QUEUE,
	OPT_RECV_MAX,
	OPT_BATCH_MAX,
	OPT_MAX_PARKED,
	OPT_IDEM_DAYS,
	OPT_ABANDONED_DAYS,
	OPT_HOUSEKEEP_INTERVAL,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CLIENT_CA,
	OPT_INSECURE,
	OPT_CONFIG,
	OPT_LOG_LEVEL,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"db", required_argument, NULL, OPT_DB},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"pg-user", required_argument, NULL, OPT_PG_USER},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"queue-depth", required_argument, NULL, OPT_QUEUE},
	{"max-message-size", required_argument, NULL, OPT_RECV_MAX},
	{"batch-max", required_argument, NULL, OPT_BATCH_MAX},
	{"max-parked", required_argument, NULL, OPT_MAX_PARKED},
	{"idempotency-days", required_argument, NULL, OPT_IDEM_DAYS},
	{"abandoned-days", required_argument, NULL, OPT_ABANDONED_DAYS},
	{"housekeep-interval", required_argument, NULL, OPT_HOUSEKEEP_INTERVAL},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
	{"insecure", no_argument, NULL, OPT_INSECURE},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "oprad: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee 'oprad --help'\n");
	return OPRA_EXIT_USAGE;
}

static int parse_number(const char *name, const char *text, long min, long max, long *out)
{
	if (!opra_parse_long(text, min, max, out)) {
		fprintf(stderr, "oprad: --%s must be a whole number from %ld to %ld, not '%s'\n",
			name, min, max, text);
		return OPRA_EXIT_USAGE;
	}
	return 0;
}

/* Applies one option (from a flag or the config file). Returns 0 or an exit
 * code. `from_file` options never override flags already given. */
static int apply_option(options *o, int id, const char *val, int from_file)
{
	switch (id) {
	case OPT_LISTEN:
		if (from_file && o->n_listen > 0)
			return 0;
		if (o->n_listen == RPCSERVER_MAX_URLS)
			return usage_error("at most 16 --listen URLs");
		o->listen[o->n_listen++] = val;
		return 0;
	case OPT_DB:
		if (!(from_file && o->db))
			o->db = val;
		return 0;
	case OPT_STATE_DIR:
		if (!(from_file && o->state_dir))
			o->state_dir = val;
		return 0;
	case OPT_PG_USER:
		if (!(from_file && o->pg_user))
			o->pg_user = val;
		return 0;
	case OPT_WORKERS:
		return from_file && o->workers ? 0
					       : parse_number("workers", val, 1, 256, &o->workers);
	case OPT_QUEUE:
		return from_file && o->queue_depth
			       ? 0
			       : parse_number("queue-depth", val, 1, 100000, &o->queue_depth);
	case OPT_RECV_MAX:
		return from_file && o->recv_max ? 0
						: parse_number("max-message-size", val, 65536,
							       1024L * 1024 * 1024, &o->recv_max);
	case OPT_BATCH_MAX:
		return from_file && o->batch_max
			       ? 0
			       : parse_number("batch-max", val, 1, 1024, &o->batch_max);
	case OPT_MAX_PARKED:
		return from_file && o->max_parked
			       ? 0
			       : parse_number("max-parked", val, 1, 100000, &o->max_parked);
	case OPT_IDEM_DAYS:
		return from_file && o->idempotency_days >= 0
			       ? 0
			       : parse_number("idempotency-days", val, 0, 36500,
					      &o->idempotency_days);
	case OPT_ABANDONED_DAYS:
		return from_file && o->abandoned_days >= 0
			       ? 0
			       : parse_number("abandoned-days", val, 0, 36500, &o->abandoned_days);
	case OPT_HOUSEKEEP_INTERVAL:
		return from_file && o->housekeep_interval
			       ? 0
			       : parse_number("housekeep-interval", val, 1, 31L * 86400,
					      &o->housekeep_interval);
	case OPT_TLS_CERT:
		if (!(from_file && o->tls_cert))
			o->tls_cert = val;
		return 0;
	case OPT_TLS_KEY:
		if (!(from_file && o->tls_key))
			o->tls_key = val;
		return 0;
	case OPT_TLS_CLIENT_CA:
		if (!(from_file && o->tls_client_ca))
			o->tls_client_ca = val;
		return 0;
	case OPT_INSECURE:
		/* A flag: --insecure. The file: insecure = true|false. */
		if (!from_file) {
			o->insecure = 1;
			return 0;
		}
		switch (kvfile_bool(val)) {
		case 1:
			o->insecure = 1;
			return 0;
		case 0:
			return 0;
		default:
			return usage_error("insecure must be true or false, not '%s'", val);
		}
	case OPT_LOG_LEVEL:
		if (opra_log_level_parse(val) < 0)
			return usage_error(
				"--log-level must be error, warn, info or debug, not '%s'", val);
		if (!(from_file && o->log_level))
			o->log_level = val;
		return 0;
	default:
		return usage_error("unexpected option");
	}
}

static int load_config(options *o, kvfile **kv)
{
	if (o->config == NULL)
		return 0;
	if (kvfile_load(kv, o->config) != OPRA_OK) {
		fprintf(stderr, "oprad: %s\n", opra_err_msg());
		return OPRA_EXIT_USAGE;
	}
	/* Flags already set win; the file fills in the rest. Listen URLs from
	 * the file are used only when no --listen flag was given. */
	size_t flag_listen = o->n_listen;
	for (size_t i = 0; i < kvfile_count(*kv); i++) {
		const char *key, *val;
		int line;
		kvfile_entry(*kv, i, &key, &val, &line);
		int id = 0;
		for (const struct option *lo = long_opts; lo->name; lo++)
			if (strcmp(lo->name, key) == 0 &&
			    (lo->has_arg == required_argument || lo->val == OPT_INSECURE) &&
			    lo->val != OPT_CONFIG)
				id = lo->val;
		if (id == 0) {
			fprintf(stderr, "oprad: %s:%d: unknown setting '%s' (see oprad --help)\n",
				o->config, line, key);
			return OPRA_EXIT_USAGE;
		}
		if (id == OPT_LISTEN) {
			if (flag_listen > 0)
				continue;
			if (o->n_listen == RPCSERVER_MAX_URLS)
				return usage_error("at most 16 listen URLs");
			o->listen[o->n_listen++] = val;
			continue;
		}
		int rc = apply_option(o, id, val, 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_args(options *o, int argc, char **argv, kvfile **kv)
{
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("oprad %s (protocol %d)\n", OPRA_VERSION, OPRA_PROTOCOL_VERSION);
			exit(0);
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		case '?':
			return usage_error("unknown option '%s'", argv[optind - 1]);
		default: {
			int rc = apply_option(o, c, optarg, 0);
			if (rc)
				return rc;
		}
		}
	}
	int rc = load_config(o, kv);
	if (rc)
		return rc;
	if (o->log_level)
		opra_log_set_level((opra_log_level)opra_log_level_parse(o->log_level));
	if (o->n_listen == 0)
		o->listen[o->n_listen++] = DEFAULT_LISTEN;
	if (o->state_dir == NULL)
		o->state_dir = DEFAULT_STATE_DIR;
	if (o->workers == 0)
		o->workers = DEFAULT_WORKERS;
	if (o->queue_depth == 0)
		o->queue_depth = DEFAULT_QUEUE;
	if (o->recv_max == 0)
		o->recv_max = DEFAULT_RECV_MAX;
	if (o->batch_max == 0)
		o->batch_max = RPCSERVER_BATCH_MAX;
	if (o->max_parked == 0)
		o->max_parked = RPCSERVER_MAX_PARKED;
	if (o->idempotency_days < 0)
		o->idempotency_days = 30;
	if (o->abandoned_days < 0)
		o->abandoned_days = 7;
	if (o->housekeep_interval == 0)
		o->housekeep_interval = 3600;
	if ((o->tls_cert == NULL) != (o->tls_key == NULL))
		return usage_error("--tls-cert and --tls-key go together");
	/* Before anything starts (rpcserver_start checks again). */
	for (size_t i = 0; i < o->n_listen && !o->insecure; i++)
		if (tlsconf_url_plain_remote(o->listen[i]))
			return usage_error(
				"refusing to listen on %s without TLS: tokens and evidence would "
				"cross the network in clear text. Use tls+tcp://HOST:PORT with "
				"--tls-cert/--tls-key, listen on 127.0.0.1, or pass --insecure if "
				"the network is protected otherwise (e.g. a TLS proxy in front)",
				o->listen[i]);
	return 0;
}

/* Writes the bootstrap admin token to STATE_DIR/admin.token, mode 0600,
 * atomically (temp file + rename), so a crash never leaves half a token. */
static int write_token_file(const char *state_dir, const char *token, char *path, size_t size)
{
	char tmp[4096];
	if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
		return opra_err_set(OPRA_FAILED_PRECONDITION, "cannot create state dir %s: %s",
				    state_dir, strerror(errno));
	snprintf(path, size, "%s/admin.token", state_dir);
	snprintf(tmp, sizeof(tmp), "%s/.admin.token.%ld", state_dir, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return opra_err_set(OPRA_FAILED_PRECONDITION, "cannot write %s: %s", tmp,
				    strerror(errno));
	size_t len = strlen(token);
	int ok = fchmod(fd, 0600) == 0 && write(fd, token, len) == (ssize_t)len &&
		 write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return opra_err_set(OPRA_FAILED_PRECONDITION, "cannot write %s: %s", path,
				    strerror(e));
	}
	return OPRA_OK;
}

/* First start on an empty database: create 'admin' and hand its token to
 * the operator through a 0600 file (never the log). */
static int bootstrap_admin(db *d, const char *state_dir)
{
	PGresult *r = NULL;
	opra_token tok;
	char path[4096];
	int rc = db_exec(&r, d, 1, "SELECT count(*) FROM users", 0, NULL);
	if (rc != OPRA_OK)
		return rc;
	int empty = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
	PQclear(r);
	if (!empty)
		return OPRA_OK;
	/* Users are never deleted (sql/017): the user and its token file
	 * appear together or not at all. */
	if ((rc = db_begin(d)) != OPRA_OK)
		return rc;
	rc = auth_user_create(d, "admin", "admin", 0, &tok, NULL);
	if (rc == OPRA_ALREADY_EXISTS) {
		db_rollback(d);
		return OPRA_OK; /* another oprad on the same database was faster */
	}
	if (rc != OPRA_OK) {
		db_rollback(d);
		return rc;
	}
	rc = write_token_file(state_dir, tok.text, path, sizeof(path));
	memset(&tok, 0, sizeof(tok));
	if (rc != OPRA_OK) {
		/* Without the file nobody could ever log in: undo. */
		db_rollback(d);
		return rc;
	}
	if ((rc = db_commit(d)) != OPRA_OK) {
		unlink(path); /* a token for a user that does not exist */
		return rc;
	}
	log_info("created the first admin user 'admin'; its token is in %s (mode 0600). "
		 "Use it with: export OPRA_TOKEN=$(cat %s)",
		 path, path);
	return OPRA_OK;
}

typedef struct {
	pgembed *pg;
	db *db;
	const char *conninfo;
} backend;

static void backend_close(backend *b)
{
	db_close(b->db);
	b->db = NULL;
	pgembed_stop(b->pg);
	b->pg = NULL;
}

/* Connects to --db or starts the embedded cluster, then migrates. */
static int backend_open(backend *b, const options *o)
{
	int rc, applied = 0;
	memset(b, 0, sizeof(*b));
	if (o->db) {
		b->conninfo = o->db;
	} else {
		pgembed_options po = {
			.state_dir = o->state_dir, .bin_dir = NULL, .run_as = o->pg_user};
		if ((rc = pgembed_start(&b->pg, &po)) != OPRA_OK)
			return rc;
		b->conninfo = pgembed_conninfo(b->pg);
	}
	if ((rc = db_open(&b->db, b->conninfo)) != OPRA_OK)
		goto fail;
	if ((rc = migrate_apply(b->db, &applied)) != OPRA_OK)
		goto fail;
	if (applied > 0)
		log_info("applied %d migration(s); database schema at version %d", applied,
			 migrate_latest());
	return OPRA_OK;
fail:;
	int code = opra_err_code();
	char msg[OPRA_ERR_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", opra_err_msg());
	backend_close(b);
	return opra_err_set(code, "%s", msg);
}

static int fail_exit(const char *what)
{
	fprintf(stderr, "oprad: %s%s%s\n", what ? what : "", what ? ": " : "", opra_err_msg());
	return opra_status_exit_code(opra_err_code() ? opra_err_code() : OPRA_INTERNAL);
}

static int cmd_migrate(const options *o)
{
	backend b;
	int version = 0;
	if (backend_open(&b, o) != OPRA_OK)
		return fail_exit("migrate");
	migrate_current(b.db, &version);
	printf("database schema at version %d (this oprad knows up to %d)\n", version,
	       migrate_latest());
	backend_close(&b);
	return 0;
}

static int cmd_init_admin(const options *o)
{
	backend b;
	opra_token tok;
	if (backend_open(&b, o) != OPRA_OK)
		return fail_exit("init-admin");
	int rc = auth_user_create(b.db, o->admin_name, "admin", 0, &tok, NULL);
	backend_close(&b);
	if (rc != OPRA_OK)
		return fail_exit("init-admin");
	printf("%s\n", tok.text);
	fprintf(stderr, "oprad: created admin '%s'. The token above is shown only once.\n",
		o->admin_name);
	memset(&tok, 0, sizeof(tok));
	return 0;
}

static int cmd_serve(const options *o)
{
	backend b;
	dispatcher *disp = NULL;
	rpcserver *srv = NULL;
	housekeeper *hk = NULL;
	sigset_t sigs;
	int sig = 0;

	if (backend_open(&b, o) != OPRA_OK)
		return fail_exit(NULL);
	if (bootstrap_admin(b.db, o->state_dir) != OPRA_OK) {
		int rc = fail_exit("creating the first admin");
		backend_close(&b);
		return rc;
	}
	/* The main connection is no longer needed: workers have their own. */
	db_close(b.db);
	b.db = NULL;

	server_info info = {.version = OPRA_VERSION, .max_message_size = (size_t)o->recv_max};
	if (dispatch_create(&disp, &info) != OPRA_OK) {
		int rc = fail_exit(NULL);
		backend_close(&b);
		return rc;
	}
	rpcserver_options ro = {.n_urls = o->n_listen,
				.conninfo = b.conninfo,
				.workers = (int)o->workers,
				.queue_depth = (size_t)o->queue_depth,
				.recv_max = (size_t)o->recv_max,
				.batch_max = (size_t)o->batch_max,
				.max_parked = (size_t)o->max_parked,
				.tls_cert = o->tls_cert,
				.tls_key = o->tls_key,
				.tls_client_ca = o->tls_client_ca,
				.insecure = o->insecure};
	for (size_t i = 0; i < o->n_listen; i++)
		ro.urls[i] = o->listen[i];
	if (rpcserver_start(&srv, &ro, disp) != OPRA_OK) {
		int rc = fail_exit(NULL);
		dispatch_free(disp);
		backend_close(&b);
		return rc;
	}
	for (size_t i = 0; i < o->n_listen; i++)
		log_info("oprad %s listening on %s (%ld workers, queue %ld, max message %ld bytes, "
			 "group commit up to %ld, up to %ld parked long polls, database: %s)",
			 OPRA_VERSION, o->listen[i], o->workers, o->queue_depth, o->recv_max,
			 o->batch_max, o->max_parked, o->db ? "external" : "embedded");
	housekeep_config hc = {.idempotency_days = o->idempotency_days,
			       .abandoned_days = o->abandoned_days,
			       .interval_s = o->housekeep_interval};
	if (housekeep_start(&hk, b.conninfo, &hc) != OPRA_OK)
		log_warn("housekeeping is off: %s", opra_err_msg());
	/* Readiness line for scripts waiting on the log. */
	log_info("ready");

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigwait(&sigs, &sig);
	log_info("received %s: finishing requests in flight, then stopping",
		 sig == SIGINT ? "SIGINT" : "SIGTERM");
	housekeep_stop(hk);
	rpcserver_stop(srv, DRAIN_MS);
	dispatch_free(disp);
	backend_close(&b);
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	options o;
	kvfile *kv = NULL;
	enum { SERVE, MIGRATE, INIT_ADMIN } mode = SERVE;
	int rc;

	memset(&o, 0, sizeof(o));
	o.idempotency_days = o.abandoned_days = -1;
	/* Signals are taken synchronously by the main thread (sigwait); block
	 * them before any thread starts so no other thread receives them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (argc > 1 && strcmp(argv[1], "migrate") == 0) {
		mode = MIGRATE;
		argv++;
		argc--;
	} else if (argc > 1 && strcmp(argv[1], "init-admin") == 0) {
		mode = INIT_ADMIN;
		if (argc < 3 || argv[2][0] == '-')
			return usage_error("init-admin needs a NAME: oprad init-admin NAME");
		o.admin_name = argv[2];
		argv += 2;
		argc -= 2;
	} else if (argc > 1 && strcmp(argv[1], "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	} else if (argc > 1 && argv[1][0] != '-') {
		return usage_error("unknown command '%s' (commands: migrate, init-admin)", argv[1]);
	}
	if ((rc = parse_args(&o, argc, argv, &kv)) != 0)
		goto done;
	if (optind < argc) {
		rc = usage_error("unexpected argument '%s'", argv[optind]);
		goto done;
	}
	if (mode == INIT_ADMIN && auth_user_name_check(o.admin_name) != OPRA_OK) {
		fprintf(stderr, "oprad: %s\n", opra_err_msg());
		rc = OPRA_EXIT_USAGE;
		goto done;
	}
	switch (mode) {
	case MIGRATE:
		rc = cmd_migrate(&o);
		break;
	case INIT_ADMIN:
		rc = cmd_init_admin(&o);
		break;
	default:
		rc = cmd_serve(&o);
		break;
	}
done:
	kvfile_free(kv);
	return rc;
}
