/* Evidence throughput against oprad, beside PostgreSQL baselines measured
 * in the same run on the same database:
 *
 *  1. small text affirmations per second (Evidence/Submit, each with its
 *     own idempotency key) at 1, 16 and 64 concurrent clients, against
 *     pgbench running a one-row INSERT script with the same client counts;
 *  2. one artifact upload of --upload-mib MiB (default 256) through the
 *     CLI's own upload code (client/upload.c: hash the file, UploadBegin,
 *     the chunks on --upload-streams connections at once, UploadCommit),
 *     against COPY of the same bytes into a bytea table in 1 MiB rows (the
 *     same storage setting as upload_chunks); the oprad process's RSS is
 *     sampled from /proc while the upload runs;
 *  3. the same upload again (dedup: hash the file, UploadBegin answers
 *     "stored"), as a share of the first upload's time.
 *
 * The fixtures (a small model, a unit and service, an appraisal with one
 * instance and the bench user as appraiser) are written with SQL under
 * names unique to this run; the bench user is made with User/Add.
 *
 * usage: bench_evidence --server URL --token ADMIN_TOKEN --db CONNINFO
 *                       [--seconds S] [--clients 1,16,64] [--upload-mib N]
 *                       [--upload-streams N (default 4)]
 *                       [--oprad-pid PID] [--pgbench PATH] [--dir TMPDIR] */
#include "proc.h"
#include "summary.h"
#include "db.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpc.h"
#include "sha256.h"
#include "upload.h"

#include "opra/v1/evidence.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 128
#define CHUNK	    (1u << 20)
#define AFFIRMATION "Interviewed the service owner: the asset inventory is reviewed quarterly."

static const char *server_url, *admin_token, *conninfo, *pgbench_path;
static char user_token[128], appraisal_name[64];
static long oprad_pid;

static double now_s(void)
{
	return (double)opra_now_us() / 1e6;
}

static const char *met(int ok)
{
	return ok ? "met" : "NOT met";
}

/* ---- fixtures ---- */

static int setup(db *d, const char *tag)
{
	char user[64], model[64], unit[64], service[64];
	snprintf(user, sizeof(user), "bench-ev-%s", tag);
	snprintf(model, sizeof(model), "bench-ev-%s", tag);
	snprintf(unit, sizeof(unit), "bench-ev-unit-%s", tag);
	snprintf(service, sizeof(service), "bench-ev-svc-%s", tag);
	snprintf(appraisal_name, sizeof(appraisal_name), "bench-ev-%s", tag);

	rpc_options o = {.n_urls = 1, .token = admin_token, .timeout_ms = 30000};
	o.urls[0] = server_url;
	rpc_client *c = NULL;
	Opra__V1__UserAddRequest req = OPRA__V1__USER_ADD_REQUEST__INIT;
	Opra__V1__UserAddResponse *resp = NULL;
	char key[40];
	req.name = user;
	req.role = "user";
	rpc_new_key(key);
	if (rpc_client_open(&c, &o) != OPRA_OK ||
	    rpc_call(c, "opra.v1.User/Add", &req.base, &opra__v1__user_add_response__descriptor,
		     (ProtobufCMessage **)&resp, key) != OPRA_OK) {
		fprintf(stderr, "bench_evidence: User/Add: %s\n", opra_err_msg());
		rpc_client_close(c);
		return 1;
	}
	snprintf(user_token, sizeof(user_token), "%s", resp->token);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	rpc_client_close(c);

	const char *p[5] = {model, unit, service, appraisal_name, user};
	int rc = db_cmd(
		d,
		"WITH m AS (INSERT INTO models (key, name, version) VALUES ($1, 'Bench Model', "
		"'1') "
		"RETURNING id), pa AS (INSERT INTO process_areas (model_id, ord, code, name, "
		"category) SELECT id, 1, 'ADM', 'Asset Definition', 'engineering' FROM m RETURNING "
		"id, model_id), g AS (INSERT INTO goals (pa_id, ord, code, title, generic) SELECT "
		"id, 1, 'SG1', 'Goal', false FROM pa RETURNING id, pa_id), pr AS (INSERT INTO "
		"practices (goal_id, model_id, ord, code, full_id, full_id_lower, title) SELECT "
		"g.id, pa.model_id, 1, 'SP1', 'ADM:SG1.SP1', 'adm:sg1.sp1', 'Practice' FROM g, pa "
		"RETURNING id), u AS (INSERT INTO units (name) VALUES ($2) RETURNING id), s AS "
		"(INSERT INTO services (name, unit_id) SELECT $3, id FROM u RETURNING id), who AS "
		"(SELECT id FROM users WHERE name = $5), a AS (INSERT INTO appraisals (name, "
		"created_by) SELECT $4, id FROM who RETURNING id, created_by), am AS (INSERT INTO "
		"appraisal_models SELECT a.id, m.id FROM a, m), ap AS (INSERT INTO appraisal_pas "
		"(appraisal_id, pa_id) SELECT a.id, pa.id FROM a, pa), ai AS (INSERT INTO "
		"appraisal_instances (appraisal_id, kind, service_id, name, added_by) SELECT a.id, "
		"'service', s.id, 'claims', a.created_by FROM a, s) INSERT INTO appraisal_members "
		"(appraisal_id, user_id, role, added_by) SELECT a.id, a.created_by, 'appraiser', "
		"a.created_by FROM a",
		5, p);
	if (rc != OPRA_OK)
		fprintf(stderr, "bench_evidence: setup: %s\n", opra_err_msg());
	return rc != OPRA_OK;
}

/* ---- 1. affirmations per second ---- */

typedef struct {
	double seconds;
	long done;
	long retries;
	int failed;
	char error[256];
} submit_arg;

static void *submit_worker(void *p)
{
	submit_arg *a = p;
	rpc_options o = {.n_urls = 1, .token = user_token, .timeout_ms = 60000, .site = "bench"};
	o.urls[0] = server_url;
	rpc_client *c = NULL;
	if (rpc_client_open(&c, &o) != OPRA_OK) {
		a->failed = 1;
		return NULL;
	}
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	req.appraisal = appraisal_name;
	req.practice = "ADM:SG1.SP1";
	req.instance = "claims";
	req.kind = "affirmation";
	req.text = AFFIRMATION;
	double end = now_s() + a->seconds;
	while (now_s() < end) {
		char key[40];
		rpc_new_key(key);
		int rc;
		do {
			rc = rpc_call(c, "opra.v1.Evidence/Submit", &req.base, NULL, NULL, key);
			if (rc == OPRA_RESOURCE_EXHAUSTED || rc == OPRA_UNAVAILABLE ||
			    rc == OPRA_ABORTED)
				a->retries++;
		} while ((rc == OPRA_RESOURCE_EXHAUSTED || rc == OPRA_UNAVAILABLE ||
			  rc == OPRA_ABORTED) &&
			 now_s() < end + 10);
		if (rc != OPRA_OK) {
			a->failed = 1;
			snprintf(a->error, sizeof(a->error), "%s: %s", opra_status_name(rc),
				 opra_err_msg());
			break;
		}
		a->done++;
	}
	rpc_client_close(c);
	return NULL;
}

static double submit_rate(int clients, double seconds, long *retries)
{
	pthread_t th[MAX_CLIENTS];
	submit_arg args[MAX_CLIENTS];
	double t0 = now_s();
	for (int i = 0; i < clients; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].seconds = seconds;
		pthread_create(&th[i], NULL, submit_worker, &args[i]);
	}
	long total = 0;
	*retries = 0;
	int failed = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += args[i].done;
		*retries += args[i].retries;
		if (args[i].failed && !failed) {
			fprintf(stderr, "bench_evidence: submit failed: %s\n", args[i].error);
			failed = 1;
		}
	}
	double el = now_s() - t0;
	return failed ? -1 : (double)total / el;
}

/* Runs pgbench with the one-row INSERT script; returns its TPS or -1. */
static double pgbench_tps(const char *script, int clients, double seconds)
{
	int fds[2];
	char c_arg[16], j_arg[16], t_arg[16];
	snprintf(c_arg, sizeof(c_arg), "%d", clients);
	snprintf(j_arg, sizeof(j_arg), "%d", clients < 4 ? clients : 4);
	snprintf(t_arg, sizeof(t_arg), "%d", (int)(seconds + 0.5) < 1 ? 1 : (int)(seconds + 0.5));
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		close(fds[0]);
		execl(pgbench_path, "pgbench", "-n", "-f", script, "-c", c_arg, "-j", j_arg, "-T",
		      t_arg, conninfo, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char out[8192];
	size_t n = 0;
	ssize_t k;
	while (n + 1 < sizeof(out) && (k = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	const char *t = strstr(out, "tps = ");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || t == NULL)
		return -1;
	return strtod(t + 6, NULL);
}

/* ---- 2./3. upload ---- */

typedef struct {
	atomic_int stop;
	long min_kb, max_kb, samples;
} rss_sampler;

static void *rss_worker(void *p)
{
	rss_sampler *s = p;
	while (!atomic_load(&s->stop)) {
		long kb = bench_rss_kib(oprad_pid);
		if (kb > 0) {
			if (s->samples == 0 || kb < s->min_kb)
				s->min_kb = kb;
			if (kb > s->max_kb)
				s->max_kb = kb;
			s->samples++;
		}
		usleep(20000);
	}
	return NULL;
}

static int make_file(const char *path, size_t mib)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	uint8_t *buf = malloc(CHUNK);
	uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	int rc = 0;
	for (size_t m = 0; m < mib && rc == 0; m++) {
		for (size_t i = 0; i < CHUNK; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		if (write(fd, buf, CHUNK) != (ssize_t)CHUNK)
			rc = 1;
	}
	free(buf);
	close(fd);
	return rc;
}

/* Uploads the file the way `opra evidence submit --file` does: hash it
 * (through the client's hash cache), then the CLI's own upload code
 * (client/upload.c: UploadBegin, the missing chunks on `streams`
 * connections, UploadCommit). *stored: the server already had it. */
static int upload(rpc_client *c, const rpc_options *o, int streams, const char *path,
		  const char *hash_cache, int *stored)
{
	uint8_t digest[SHA256_BYTES];
	uint64_t size = 0;
	char hex[SHA256_HEX_LEN + 1], key[40];
	int rc, fd;

	if ((rc = sha256_file_cached(path, hash_cache, digest, &size)) != OPRA_OK)
		return rc;
	sha256_hex(hex, digest);
	if ((fd = open(path, O_RDONLY)) < 0)
		return opra_err_set(OPRA_INTERNAL, "cannot read %s", path);
	rpc_new_key(key);
	upload_params up = {
		.rpc = c, .more = o, .streams = streams, .appraisal = appraisal_name, .key = key};
	upload_source src = {
		.fd = fd, .name = path, .sha256 = hex, .size = size, .check_size = true};
	upload_result res;
	rc = upload_run(&up, &src, &res);
	close(fd);
	*stored = rc == OPRA_OK && res.deduplicated;
	return rc;
}

/* ---- CPU accounting: where an upload's time goes ---- */

static long pg_postmaster_pid;
static long clock_ticks;

/* utime + stime of one process in seconds, or 0. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* after the command name */
	unsigned long long ut = 0, st = 0;
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)clock_ticks;
}

/* CPU seconds so far of the PostgreSQL server's processes (the postmaster's
 * children: backends, WAL writer, checkpointer; a backend that exits takes
 * its time with it, so take both readings while the connections are open). */
static double pg_cpu_s(void)
{
	double sum = 0;
	DIR *dir = pg_postmaster_pid ? opendir("/proc") : NULL;
	for (struct dirent *de; dir && (de = readdir(dir)) != NULL;) {
		char path[64], buf[512];
		long pid = strtol(de->d_name, NULL, 10), ppid = 0;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *p = strrchr(buf, ')');
		if (p && sscanf(p + 2, "%*c %ld", &ppid) == 1 && ppid == pg_postmaster_pid)
			sum += proc_cpu_s(pid);
	}
	if (dir)
		closedir(dir);
	return sum;
}

static double self_cpu_s(void)
{
	return proc_cpu_s((long)getpid());
}

typedef struct {
	double self, oprad, pg;
} cpu_mark;

static cpu_mark cpu_now(void)
{
	cpu_mark m = {self_cpu_s(), oprad_pid ? proc_cpu_s(oprad_pid) : 0, pg_cpu_s()};
	return m;
}

static void cpu_print(const char *what, cpu_mark a, cpu_mark b, double wall)
{
	printf("    CPU during %s: client %.2f s, oprad %.2f s, PostgreSQL %.2f s (wall %.2f s)\n",
	       what, b.self - a.self, b.oprad - a.oprad, b.pg - a.pg, wall);
}

/* COPY (binary) of the file into a bytea table in 1 MiB rows, one
 * transaction. Returns seconds or -1. */
static double copy_baseline(db *d, const char *path)
{
	PGconn *conn = db_conn(d);
	double t = -1;
	int fd = -1;
	uint8_t *row = malloc(CHUNK + 64);
	if (db_cmd(d, "DROP TABLE IF EXISTS bench_evidence_copy", 0, NULL) != OPRA_OK ||
	    db_cmd(d, "CREATE TABLE bench_evidence_copy (seq integer PRIMARY KEY, data bytea)", 0,
		   NULL) != OPRA_OK ||
	    db_cmd(d, "ALTER TABLE bench_evidence_copy ALTER COLUMN data SET STORAGE EXTERNAL", 0,
		   NULL) != OPRA_OK)
		goto done;
	db_cmd(d, "CHECKPOINT", 0, NULL);
	double t0 = now_s();
	if ((fd = open(path, O_RDONLY)) < 0 || db_begin(d) != OPRA_OK ||
	    db_copy_begin(d, "COPY bench_evidence_copy (seq, data) FROM STDIN (FORMAT binary)") !=
		    OPRA_OK)
		goto done;
	static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	if (PQputCopyData(conn, header, 19) != 1)
		goto done;
	for (uint32_t seq = 0;; seq++) {
		ssize_t n = read(fd, row + 14, CHUNK);
		if (n <= 0)
			break;
		uint8_t *h = row;
		h[0] = 0, h[1] = 2; /* two fields */
		h[2] = 0, h[3] = 0, h[4] = 0, h[5] = 4;
		h[6] = (uint8_t)(seq >> 24), h[7] = (uint8_t)(seq >> 16),
		h[8] = (uint8_t)(seq >> 8), h[9] = (uint8_t)seq;
		h[10] = (uint8_t)((uint32_t)n >> 24), h[11] = (uint8_t)((uint32_t)n >> 16),
		h[12] = (uint8_t)((uint32_t)n >> 8), h[13] = (uint8_t)n;
		if (PQputCopyData(conn, (const char *)row, (int)(14 + n)) != 1)
			goto done;
	}
	static const char trailer[2] = {'\377', '\377'};
	if (PQputCopyData(conn, trailer, 2) != 1 || db_copy_end(d) != OPRA_OK ||
	    db_commit(d) != OPRA_OK)
		goto done;
	t = now_s() - t0;
done:
	if (t < 0)
		fprintf(stderr, "bench_evidence: COPY baseline failed: %s %s\n", opra_err_msg(),
			PQerrorMessage(conn));
	db_rollback(d);
	if (fd >= 0)
		close(fd);
	free(row);
	db_cmd(d, "DROP TABLE IF EXISTS bench_evidence_copy", 0, NULL);
	return t;
}

int main(int argc, char **argv)
{
	double seconds = 2;
	long upload_mib = 256, streams = UPLOAD_STREAMS_DEFAULT;
	const char *clients_arg = "1,16,64", *dir = "/tmp";
	pgbench_path = "/usr/lib/postgresql/15/bin/pgbench";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			server_url = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			admin_token = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			conninfo = argv[i + 1];
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtod(argv[i + 1], NULL);
		else if (strcmp(argv[i], "--clients") == 0)
			clients_arg = argv[i + 1];
		else if (strcmp(argv[i], "--upload-mib") == 0)
			upload_mib = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--upload-streams") == 0)
			streams = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--oprad-pid") == 0)
			oprad_pid = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--pgbench") == 0)
			pgbench_path = argv[i + 1];
		else if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
	}
	if (!server_url || !admin_token || !conninfo || seconds <= 0 || seconds > 600 ||
	    upload_mib < 0 || upload_mib > 4096 || streams < 1 || streams > UPLOAD_STREAMS_MAX) {
		fprintf(stderr,
			"usage: bench_evidence --server URL --token ADMIN_TOKEN --db "
			"CONNINFO [--seconds S] [--clients 1,16,64] [--upload-mib N] "
			"[--upload-streams N] [--oprad-pid PID] [--pgbench PATH] [--dir TMPDIR]\n");
		return 2;
	}
	opra_log_set_level(OPRA_LOG_ERROR);
	db *d = NULL;
	if (db_open(&d, conninfo) != OPRA_OK) {
		fprintf(stderr, "bench_evidence: %s\n", opra_err_msg());
		return 1;
	}
	clock_ticks = sysconf(_SC_CLK_TCK);
	{
		/* The postmaster: the parent of this connection's backend (on
		 * this machine; elsewhere the PostgreSQL column reads 0). */
		PGresult *r = NULL;
		if (db_exec(&r, d, 1, "SELECT pg_backend_pid()", 0, NULL) == OPRA_OK) {
			char path[64], buf[512];
			snprintf(path, sizeof(path), "/proc/%s/stat", PQgetvalue(r, 0, 0));
			FILE *f = fopen(path, "r");
			if (f) {
				size_t n = fread(buf, 1, sizeof(buf) - 1, f);
				buf[n] = '\0';
				const char *p = strrchr(buf, ')');
				if (p == NULL || sscanf(p + 2, "%*c %ld", &pg_postmaster_pid) != 1)
					pg_postmaster_pid = 0;
				fclose(f);
			}
		}
		PQclear(r);
	}
	char tag[32];
	snprintf(tag, sizeof(tag), "%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
	if (setup(d, tag) != 0) {
		db_close(d);
		return 1;
	}
	int failed = 0;

	/* 1. affirmations per second vs pgbench */
	char script[512];
	snprintf(script, sizeof(script), "%s/bench-evidence-%ld.sql", dir, (long)getpid());
	FILE *f = fopen(script, "w");
	if (f == NULL) {
		fprintf(stderr, "bench_evidence: cannot write %s\n", script);
		db_close(d);
		return 1;
	}
	fprintf(f, "INSERT INTO bench_evidence_scratch (body) VALUES ('%s');\n", AFFIRMATION);
	fclose(f);
	db_cmd(d,
	       "CREATE TABLE IF NOT EXISTS bench_evidence_scratch (id bigserial PRIMARY KEY, body "
	       "text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
	       0, NULL);
	printf("evidence: small affirmations (Evidence/Submit, %.0f s per cell) vs pgbench one-row "
	       "INSERT, same database\n\n",
	       seconds);
	printf("  %7s %14s %14s %8s %8s  %s\n", "clients", "submit/s", "pgbench tps", "ratio",
	       "retries", "goal");
	const char *s = clients_arg;
	while (*s) {
		int n = (int)strtol(s, (char **)&s, 10);
		if (*s == ',')
			s++;
		if (n < 1 || n > MAX_CLIENTS)
			continue;
		double base = pgbench_tps(script, n, seconds);
		long retries = 0;
		double ours = submit_rate(n, seconds, &retries);
		double goal = n >= 64 ? 1.0 : n == 1 ? 0.5 : 0;
		double ratio = base > 0 && ours > 0 ? ours / base : 0;
		char goal_text[64] = "-";
		if (goal > 0)
			snprintf(goal_text, sizeof(goal_text), ">= %.1fx: %s", goal,
				 met(ratio >= goal));
		printf("  %7d %14.0f %14.0f %7.2fx %8ld  %s\n", n, ours, base, ratio, retries,
		       goal_text);
		{
			char fig[64], o[32], b[32], g[16];
			snprintf(fig, sizeof(fig), "small affirmations, %d client%s", n,
				 n == 1 ? "" : "s");
			snprintf(o, sizeof(o), "%.0f/s", ours);
			snprintf(b, sizeof(b), "%.0f/s pgbench", base);
			snprintf(g, sizeof(g), ">= %.1fx", goal);
			bench_summary(fig, o, b, ratio, goal > 0 ? g : NULL,
				      goal > 0 ? ratio >= goal : -1);
		}
		fflush(stdout);
		if (ours < 0 || base < 0)
			failed = 1;
	}
	unlink(script);
	db_cmd(d, "DROP TABLE IF EXISTS bench_evidence_scratch", 0, NULL);

	/* 2. upload vs COPY, with server RSS; 3. dedup */
	if (upload_mib > 0) {
		char path[512], hash_cache[512];
		snprintf(path, sizeof(path), "%s/bench-evidence-%ld.bin", dir, (long)getpid());
		/* The client's hash cache, as `opra evidence submit --file` keeps it
		 * ($XDG_STATE_HOME/opra/hashes): empty for the first upload. */
		snprintf(hash_cache, sizeof(hash_cache), "%s/bench-evidence-hashes-%ld", dir,
			 (long)getpid());
		if (make_file(path, (size_t)upload_mib) != 0) {
			fprintf(stderr, "bench_evidence: cannot write %s\n", path);
			failed = 1;
			goto out;
		}
		printf("\nevidence: one %ld MiB artifact upload (hash + begin + chunks on %ld "
		       "connections + commit: the CLI's upload code) vs COPY of the same bytes\n\n",
		       upload_mib, streams);
		cpu_mark c0 = cpu_now();
		double copy_s = copy_baseline(d, path);
		cpu_mark c1 = cpu_now();
		db_cmd(d, "CHECKPOINT", 0, NULL);
		rpc_options o = {.n_urls = 1, .token = user_token, .timeout_ms = 120000};
		o.urls[0] = server_url;
		rpc_client *c = NULL;
		rpc_client_open(&c, &o);
		rss_sampler rs = {0};
		pthread_t rt;
		long rss_before = oprad_pid ? bench_rss_kib(oprad_pid) : -1;
		if (oprad_pid)
			pthread_create(&rt, NULL, rss_worker, &rs);
		int stored = 0;
		cpu_mark c1b = cpu_now();
		double t0 = now_s();
		int rc = upload(c, &o, (int)streams, path, hash_cache, &stored);
		double up_s = now_s() - t0;
		cpu_mark c2 = cpu_now();
		if (oprad_pid) {
			atomic_store(&rs.stop, 1);
			pthread_join(rt, NULL);
		}
		if (rc != OPRA_OK || stored) {
			fprintf(stderr, "bench_evidence: upload: %s%s\n", opra_err_msg(),
				stored ? "(the server already had the file)" : "");
			failed = 1;
		}
		double mib = (double)upload_mib;
		printf("  %-44s %8.2f s  %7.1f MiB/s\n", "COPY into a bytea table (1 MiB rows)",
		       copy_s, mib / copy_s);
		printf("  %-44s %8.2f s  %7.1f MiB/s\n", "upload through oprad, end to end", up_s,
		       mib / up_s);
		cpu_print("COPY", c0, c1, copy_s);
		cpu_print("the upload", c1b, c2, up_s);
		double ratio = copy_s > 0 ? copy_s / up_s : 0;
		printf("  ratio: %.2fx COPY's throughput (goal >= 0.5x: %s)\n", ratio,
		       met(ratio >= 0.5));
		char fig[64], mtxt[48], b[48];
		snprintf(fig, sizeof(fig), "%ld MiB upload, throughput", upload_mib);
		snprintf(mtxt, sizeof(mtxt), "%.0f MiB/s", mib / up_s);
		snprintf(b, sizeof(b), "%.0f MiB/s COPY", mib / copy_s);
		bench_summary(fig, mtxt, b, ratio, ">= 0.5x", ratio >= 0.5);
		if (oprad_pid)
			printf("  oprad RSS: %.1f MiB before, %.1f-%.1f MiB during the upload (%ld "
			       "samples; goal: constant, under 64 MiB: %s)\n",
			       (double)rss_before / 1024, (double)rs.min_kb / 1024,
			       (double)rs.max_kb / 1024, rs.samples, met(rs.max_kb < 64 * 1024));
		if (oprad_pid) {
			snprintf(mtxt, sizeof(mtxt), "%.0f-%.0f MiB", (double)rs.min_kb / 1024,
				 (double)rs.max_kb / 1024);
			snprintf(b, sizeof(b), "%.0f MiB before", (double)rss_before / 1024);
			bench_summary("oprad RSS during the upload", mtxt, b, 0, "< 64 MiB",
				      rs.max_kb < 64 * 1024);
		}

		t0 = now_s();
		rc = upload(c, &o, (int)streams, path, hash_cache, &stored);
		double dd_s = now_s() - t0;
		if (rc != OPRA_OK || !stored) {
			fprintf(stderr, "bench_evidence: second upload: %s%s\n", opra_err_msg(),
				stored ? "" : "(not deduplicated)");
			failed = 1;
		}
		printf("  %-44s %8.3f s  = %.1f %% of the first (goal < 5 %%: %s)\n",
		       "second upload of the same file (dedup)", dd_s, 100 * dd_s / up_s,
		       met(dd_s < 0.05 * up_s));
		snprintf(mtxt, sizeof(mtxt), "%.3f s", dd_s);
		snprintf(b, sizeof(b), "%.2f s first upload", up_s);
		bench_summary("second upload of the same file (dedup)", mtxt, b, dd_s / up_s,
			      "< 0.05x", dd_s < 0.05 * up_s);
		rpc_client_close(c);
		unlink(path);
		char entry[1024];
		struct stat hs;
		DIR *hd = opendir(hash_cache);
		for (struct dirent *de; hd && (de = readdir(hd)) != NULL;) {
			snprintf(entry, sizeof(entry), "%s/%s", hash_cache, de->d_name);
			if (stat(entry, &hs) == 0 && S_ISREG(hs.st_mode))
				unlink(entry);
		}
		if (hd)
			closedir(hd);
		rmdir(hash_cache);
	}
out:
	db_close(d);
	return failed;
}
