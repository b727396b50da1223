/* Load driver (issue 9): N concurrent clients (threads, each with its own
 * rpc_client from common/rpc.h, the library the CLI uses) for a bounded
 * time against one or a few appraisals, mixing
 *
 *   submit     Evidence/Submit of a text affirmation, one idempotency key per
 *              submission, title "load-TAG-cC-N" (client C, its Nth)
 *   char       Rating/Characterize without expect_version
 *   char_ev    Rating/Characterize with expect_version (the version this
 *              client last saw). A stale version is answered ABORTED with
 *              the current version; the client tries again with it (a new
 *              key), up to 3 tries. Stale answers are counted ("stale", and
 *              "gave_up" when all 3 were stale), not failed: with every
 *              client editing the same few labels they are the correct
 *              answer to contention.
 *   show       Rating/Show (the whole appraisal)
 *   list       Evidence/List (one practice and instance, seeded before the run)
 *   appraisal  Appraisal/Show
 *   watch      Events/Watch long polls (a tenth of the clients), each
 *              resuming from its cursor
 *
 * A request answered RESOURCE_EXHAUSTED is retried with the same
 * idempotency key after a backoff (10 ms doubling to 200 ms); any other
 * error is a failure. With --retry-unavailable S (the fault tests), requests
 * answered UNAVAILABLE or DEADLINE_EXCEEDED (server killed, PostgreSQL
 * restarting, connection dropped) are retried the same way for up to S
 * seconds per request, on the next listed server first; those retries are
 * counted, not failed.
 *
 * Afterwards it checks, over the same protocol:
 *   - exactly once: every acknowledged submission is stored exactly once
 *     (Evidence/List, counted by title), no title is stored twice, and a
 *     submission that finally failed is stored at most once;
 *   - watchers: each watcher follows its appraisal from seq 0 up to the
 *     chain length (Events/Audit total) after the load stops, and must have
 *     seen every seq exactly once, in order.
 * It reports per operation count, failures, retries and p50/p99/max latency
 * (of the whole logical request, retries included), oprad's RSS (sampled
 * every 100 ms from /proc/PID/status of each --oprad-pid) and the CPU time
 * (utime+stime) of oprad and its descendants (the embedded PostgreSQL) plus
 * --pg-pid and its descendants (an external cluster) over the run.
 *
 * usage: bench_load --server URL [--server URL]... --token TOKEN
 *                   --appraisal NAME [--appraisal NAME]...
 *                   [--clients N (200)] [--seconds S (10)] [--instance claims]
 *                   [--retry-unavailable S] [--oprad-pid PID]... [--pg-pid PID]
 *                   [--timeout-ms MS (30000)] [--tag TAG] [--json]
 * Exit: 0 when nothing failed and both checks hold, 1 otherwise, 2 usage.
 *
 * --json prints one object (field names are stable):
 *   clients, watchers, seconds, servers,
 *   operations: [{name (submit|char|char_ev|show|list|appraisal|watch),
 *                 method, count, per_second, failures, exhausted_retries,
 *                 unavailable_retries, stale, gave_up, p50_ms, p99_ms,
 *                 max_ms}],
 *   watch: {events, gaps, short (watchers that did not reach the chain's
 *           end), lag_p50_ms, lag_p99_ms (event time to receipt)},
 *   exactly_once: {checked, acknowledged, stored, missing, duplicates,
 *                  failed, failed_stored},
 *   server: {rss_start_kib, rss_max_kib, rss_end_kib, cpu_s} (-1: unknown),
 *   exhausted_retries, unavailable_retries, failures, ok */
#include "proc.h"
#include "summary.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpc.h"
#include "token.h"

#include "opra/v1/appraisal.pb-c.h"
#include "opra/v1/events.pb-c.h"
#include "opra/v1/evidence.pb-c.h"
#include "opra/v1/rating.pb-c.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS    2000
#define MAX_APPRAISALS 16
#define MAX_PIDS       8
#define N_PRACTICES    5
#define READ_PRACTICE  "ADM:SG3.SP2"
#define SEED_ITEMS     3
#define AFFIRMATION                                                                                \
	"Interviewed the asset owner: the inventory is reviewed every quarter and changes "        \
	"are approved by the change board."

static const char *const practices[N_PRACTICES] = {"ADM:SG1.SP1", "ADM:SG1.SP2", "ADM:SG1.SP3",
						   "ADM:SG2.SP1", "ADM:SG2.SP2"};
static const char *const values[] = {"FI", "LI", "PI", "NI", "NY"};

enum { OP_SUBMIT, OP_CHAR, OP_CHAR_EV, OP_SHOW, OP_LIST, OP_APPRAISAL, OP_WATCH, N_OPS };
static const char *const op_names[N_OPS] = {"submit", "char",	   "char_ev", "show",
					    "list",   "appraisal", "watch"};
static const char *const op_methods[N_OPS] = {"Evidence/Submit",
					      "Rating/Characterize",
					      "Rating/Characterize (expect_version)",
					      "Rating/Show",
					      "Evidence/List",
					      "Appraisal/Show",
					      "Events/Watch (long poll)"};

/* ---- configuration ---- */

static const char *urls[RPC_MAX_URLS];
static size_t n_urls;
static const char *token, *instance = "claims", *tag;
static const char *appraisals[MAX_APPRAISALS];
static size_t n_appraisals;
static int n_clients = 200, timeout_ms = 30000, json_out;
static double seconds = 10, retry_unavailable;
static long oprad_pids[MAX_PIDS], pg_pid;
static size_t n_oprad_pids;
static char tag_buf[40];

static atomic_int stop_load;		       /* load clients stop */
static atomic_int stop_watch;		       /* watchers stop (after catching up) */
static long long watch_target[MAX_APPRAISALS]; /* chain length to reach */
static atomic_int watch_targets_set;

/* Wall-clock microseconds (event times are wall clock). */
static long long wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static double now_s(void)
{
	return (double)opra_now_us() / 1e6;
}

/* ---- per-client state ---- */

typedef struct {
	unsigned *us; /* latencies in microseconds */
	size_t n, cap;
	long failures, exhausted_retries, unavailable_retries, stale, gave_up;
} op_stats;

typedef struct {
	int id;
	int watcher;
	size_t appraisal; /* watchers: the appraisal they follow */
	unsigned seed;
	op_stats ops[N_OPS];
	/* submissions: outcome per number (1 acknowledged, 2 failed) */
	unsigned char *sub_state;
	size_t n_sub, sub_cap;
	int char_version[MAX_APPRAISALS][N_PRACTICES];
	/* watcher */
	long long last_seq, events, gaps, live_events;
	long long *lag_us; /* delivery lag of live events */
	size_t n_lag, lag_cap;
	char first_error[320];
} client_state;

static client_state *clients;

static void note_error(client_state *cs, const char *what, int rc)
{
	if (cs->first_error[0] == '\0')
		snprintf(cs->first_error, sizeof(cs->first_error), "%s: %s: %s", what,
			 opra_status_name(rc), opra_err_msg());
}

static void record(op_stats *s, long long us)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		unsigned *p = realloc(s->us, cap * sizeof(*p));
		if (p == NULL)
			return;
		s->us = p;
		s->cap = cap;
	}
	s->us[s->n++] = us < 0 ? 0 : (us > 4000000000LL ? 4000000000U : (unsigned)us);
}

static unsigned next_rand(client_state *cs)
{
	cs->seed = cs->seed * 1103515245u + 12345u;
	return (cs->seed >> 16) & 0x7fff;
}

/* One logical request with retries: the same key every time. Returns the
 * final status. */
static int call(client_state *cs, rpc_client *c, int op, const char *method,
		const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
		ProtobufCMessage **resp, const char *key)
{
	double start = now_s();
	int backoff_ms = 10, rc;
	for (;;) {
		rc = rpc_call(c, method, req, desc, resp, key);
		if (rc == OPRA_RESOURCE_EXHAUSTED) {
			cs->ops[op].exhausted_retries++;
		} else if ((rc == OPRA_UNAVAILABLE || rc == OPRA_DEADLINE_EXCEEDED) &&
			   retry_unavailable > 0 && now_s() - start < retry_unavailable) {
			cs->ops[op].unavailable_retries++;
		} else {
			return rc;
		}
		usleep((useconds_t)backoff_ms * 1000);
		if (backoff_ms < 200)
			backoff_ms *= 2;
	}
}

static int open_client(rpc_client **c, int id)
{
	rpc_options o = {.token = token, .timeout_ms = timeout_ms, .site = "load"};
	/* Each client starts on a different listed server, so that several
	 * oprad processes share the load; on failure rpc moves to the next. */
	for (size_t i = 0; i < n_urls; i++)
		o.urls[i] = urls[((size_t)id + i) % n_urls];
	o.n_urls = n_urls;
	return rpc_client_open(c, &o);
}

/* ---- the load clients ---- */

static void do_submit(client_state *cs, rpc_client *c, size_t a)
{
	Opra__V1__EvidenceSubmitRequest req = OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
	char key[40], title[96];
	if (cs->n_sub == cs->sub_cap) {
		size_t cap = cs->sub_cap ? cs->sub_cap * 2 : 256;
		unsigned char *p = realloc(cs->sub_state, cap);
		if (p == NULL)
			return;
		cs->sub_state = p;
		cs->sub_cap = cap;
	}
	size_t n = cs->n_sub++;
	snprintf(title, sizeof(title), "load-%s-c%d-%zu", tag, cs->id, n);
	rpc_new_key(key);
	req.appraisal = (char *)appraisals[a];
	req.practice = (char *)practices[n % N_PRACTICES];
	req.instance = (char *)instance;
	req.kind = "affirmation";
	req.title = title;
	req.text = AFFIRMATION;
	long long t0 = opra_now_us();
	int rc = call(cs, c, OP_SUBMIT, "opra.v1.Evidence/Submit", &req.base, NULL, NULL, key);
	record(&cs->ops[OP_SUBMIT], opra_now_us() - t0);
	cs->sub_state[n] = rc == OPRA_OK ? 1 : 2;
	if (rc != OPRA_OK) {
		cs->ops[OP_SUBMIT].failures++;
		note_error(cs, "Evidence/Submit", rc);
	}
}

/* The current version from a stale-version answer's details, or -1. */
static int details_version(void)
{
	const char *d = opra_err_details();
	const char *p = d ? strstr(d, "\"current_version\"") : NULL;
	if (p == NULL || (p = strchr(p, ':')) == NULL)
		return -1;
	return (int)strtol(p + 1, NULL, 10);
}

static void do_characterize(client_state *cs, rpc_client *c, size_t a, int with_version)
{
	Opra__V1__CharacterizeRequest req = OPRA__V1__CHARACTERIZE_REQUEST__INIT;
	Opra__V1__CharacterizeReply *rep = NULL;
	int op = with_version ? OP_CHAR_EV : OP_CHAR;
	size_t p = next_rand(cs) % N_PRACTICES;
	req.appraisal = (char *)appraisals[a];
	req.practice = (char *)practices[p];
	req.instance = (char *)instance;
	req.value = (char *)values[next_rand(cs) % 5];
	req.note = "load";
	long long t0 = opra_now_us();
	int rc;
	/* With expect_version: a stale version is answered ABORTED with the
	 * current version in the details; like a person would, try again
	 * (a new change, so a new key) with that version, up to 3 times. */
	for (int attempt = 0;; attempt++) {
		char key[40];
		rpc_new_key(key);
		if (with_version) {
			req.check_version = 1;
			req.expect_version = cs->char_version[a][p];
		}
		rc = call(cs, c, op, "opra.v1.Rating/Characterize", &req.base,
			  &opra__v1__characterize_reply__descriptor, (ProtobufCMessage **)&rep,
			  key);
		if (rc == OPRA_ABORTED && with_version && details_version() >= 0) {
			cs->ops[op].stale++;
			cs->char_version[a][p] = details_version();
			if (attempt < 2)
				continue;
		}
		break;
	}
	record(&cs->ops[op], opra_now_us() - t0);
	if (rc == OPRA_OK) {
		cs->char_version[a][p] = rep->version;
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	} else if (rc == OPRA_ABORTED && with_version && details_version() >= 0) {
		cs->ops[op].gave_up++; /* still stale after 3 tries: contention */
	} else {
		cs->ops[op].failures++;
		note_error(cs, "Rating/Characterize", rc);
	}
}

static void do_read(client_state *cs, rpc_client *c, size_t a, int op)
{
	ProtobufCMessage *rep = NULL;
	int rc;
	long long t0 = opra_now_us();
	if (op == OP_SHOW) {
		Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
		req.appraisal = (char *)appraisals[a];
		rc = call(cs, c, op, "opra.v1.Rating/Show", &req.base,
			  &opra__v1__rating_show_reply__descriptor, &rep, NULL);
	} else if (op == OP_LIST) {
		Opra__V1__EvidenceListRequest req = OPRA__V1__EVIDENCE_LIST_REQUEST__INIT;
		req.appraisal = (char *)appraisals[a];
		req.practice = READ_PRACTICE;
		req.instance = (char *)instance;
		rc = call(cs, c, op, "opra.v1.Evidence/List", &req.base,
			  &opra__v1__evidence_list_reply__descriptor, &rep, NULL);
		if (rc == OPRA_OK && ((Opra__V1__EvidenceListReply *)rep)->n_items < SEED_ITEMS) {
			rc = opra_err_set(
				OPRA_INTERNAL, "Evidence/List returned %zu items, want %d",
				((Opra__V1__EvidenceListReply *)rep)->n_items, SEED_ITEMS);
		}
	} else {
		Opra__V1__AppraisalRef req = OPRA__V1__APPRAISAL_REF__INIT;
		req.appraisal = (char *)appraisals[a];
		rc = call(cs, c, op, "opra.v1.Appraisal/Show", &req.base,
			  &opra__v1__appraisal_reply__descriptor, &rep, NULL);
	}
	record(&cs->ops[op], opra_now_us() - t0);
	if (rep)
		protobuf_c_message_free_unpacked(rep, NULL);
	if (rc != OPRA_OK) {
		cs->ops[op].failures++;
		note_error(cs, op_methods[op], rc);
	}
}

/* "2026-11-23T10:00:00.123456Z" -> microseconds since the epoch, or -1. */
static long long parse_at(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int us = 0;
	char frac[8] = "";
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	const char *dot = strchr(s, '.');
	if (dot) {
		size_t k = 0;
		for (dot++; k < 6 && *dot >= '0' && *dot <= '9'; dot++)
			frac[k++] = *dot;
		while (k < 6)
			frac[k++] = '0';
		us = (int)strtol(frac, NULL, 10);
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000000LL + us;
}

static void *watch_main(client_state *cs, rpc_client *c)
{
	const char *name = appraisals[cs->appraisal];
	long long run_start = wall_us();
	for (;;) {
		if (atomic_load(&watch_targets_set) && cs->last_seq >= watch_target[cs->appraisal])
			break;
		if (atomic_load(&stop_watch))
			break;
		Opra__V1__WatchRequest req = OPRA__V1__WATCH_REQUEST__INIT;
		Opra__V1__WatchReply *rep = NULL;
		req.appraisal = (char *)name;
		req.after = cs->last_seq;
		req.wait_ms = atomic_load(&stop_load) ? 200 : 2000;
		req.limit = 500;
		long long t0 = opra_now_us();
		int rc = call(cs, c, OP_WATCH, "opra.v1.Events/Watch", &req.base,
			      &opra__v1__watch_reply__descriptor, (ProtobufCMessage **)&rep, NULL);
		long long t1 = opra_now_us(), wall_now = wall_us();
		record(&cs->ops[OP_WATCH], t1 - t0);
		if (rc != OPRA_OK) {
			cs->ops[OP_WATCH].failures++;
			note_error(cs, "Events/Watch", rc);
			if (atomic_load(&stop_load))
				break;
			usleep(100000);
			continue;
		}
		for (size_t i = 0; i < rep->n_events; i++) {
			Opra__V1__Event *e = rep->events[i];
			if (e->seq != cs->last_seq + 1) {
				cs->gaps++;
				if (cs->first_error[0] == '\0')
					snprintf(cs->first_error, sizeof(cs->first_error),
						 "watch of %s: after seq %lld came seq %lld", name,
						 cs->last_seq, (long long)e->seq);
			}
			if (e->seq > cs->last_seq)
				cs->last_seq = e->seq;
			cs->events++;
			long long at = parse_at(e->at);
			if (at >= run_start) {
				cs->live_events++;
				if (cs->n_lag == cs->lag_cap) {
					size_t cap = cs->lag_cap ? cs->lag_cap * 2 : 1024;
					long long *p = realloc(cs->lag_us, cap * sizeof(*p));
					if (p) {
						cs->lag_us = p;
						cs->lag_cap = cap;
					}
				}
				if (cs->n_lag < cs->lag_cap)
					cs->lag_us[cs->n_lag++] = wall_now - at;
			}
		}
		if (rep->cursor > cs->last_seq && rep->n_events > 0) {
			cs->gaps++;
			if (cs->first_error[0] == '\0')
				snprintf(cs->first_error, sizeof(cs->first_error),
					 "watch of %s: cursor %lld beyond the last event seq %lld",
					 name, (long long)rep->cursor, cs->last_seq);
		}
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return NULL;
}

static void *client_main(void *p)
{
	client_state *cs = p;
	rpc_client *c = NULL;
	if (open_client(&c, cs->id) != OPRA_OK) {
		cs->ops[OP_APPRAISAL].failures++;
		note_error(cs, "open", opra_err_code());
		return NULL;
	}
	if (cs->watcher) {
		watch_main(cs, c);
		rpc_client_close(c);
		return NULL;
	}
	while (!atomic_load(&stop_load)) {
		size_t a = next_rand(cs) % n_appraisals;
		unsigned r = next_rand(cs) % 100;
		if (r < 45)
			do_submit(cs, c, a);
		else if (r < 55)
			do_characterize(cs, c, a, 0);
		else if (r < 65)
			do_characterize(cs, c, a, 1);
		else if (r < 77)
			do_read(cs, c, a, OP_SHOW);
		else if (r < 89)
			do_read(cs, c, a, OP_LIST);
		else
			do_read(cs, c, a, OP_APPRAISAL);
	}
	rpc_client_close(c);
	return NULL;
}

/* ---- server resources ---- */

typedef struct {
	long pid, ppid;
	long long ticks; /* utime+stime+cutime+cstime */
} proc_row;

static int read_stat(long pid, proc_row *row)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *s = strrchr(buf, ')'); /* the command name may hold spaces */
	if (s == NULL)
		return -1;
	char state;
	long ppid;
	unsigned long long ut, st;
	long long cut, cst;
	if (sscanf(s + 2, "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &state,
		   &ppid, &ut, &st, &cut, &cst) != 6)
		return -1;
	row->pid = pid;
	row->ppid = ppid;
	row->ticks = (long long)(ut + st) + cut + cst;
	return 0;
}

/* CPU seconds of the roots and every descendant alive now (plus the
 * children they have already reaped), or -1 when no root is alive. */
static double tree_cpu_s(void)
{
	long roots[MAX_PIDS + 1];
	size_t n_roots = 0;
	for (size_t i = 0; i < n_oprad_pids; i++)
		roots[n_roots++] = oprad_pids[i];
	if (pg_pid > 0)
		roots[n_roots++] = pg_pid;
	if (n_roots == 0)
		return -1;
	size_t cap = 1024, n = 0;
	proc_row *rows = malloc(cap * sizeof(*rows));
	DIR *d = opendir("/proc");
	if (rows == NULL || d == NULL) {
		free(rows);
		if (d)
			closedir(d);
		return -1;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (n == cap) {
			proc_row *p = realloc(rows, cap * 2 * sizeof(*rows));
			if (p == NULL)
				break;
			rows = p;
			cap *= 2;
		}
		if (read_stat(pid, &rows[n]) == 0)
			n++;
	}
	closedir(d);
	long long ticks = 0;
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		/* Walk up the parents: is this process in one of the trees? */
		long pid = rows[i].pid;
		for (int depth = 0; depth < 16 && pid > 1; depth++) {
			int hit = 0;
			for (size_t r = 0; r < n_roots; r++)
				hit |= roots[r] == pid;
			if (hit) {
				ticks += rows[i].ticks;
				found = 1;
				break;
			}
			long parent = 0;
			for (size_t j = 0; j < n; j++)
				if (rows[j].pid == pid) {
					parent = rows[j].ppid;
					break;
				}
			pid = parent;
		}
	}
	free(rows);
	return found ? (double)ticks / (double)sysconf(_SC_CLK_TCK) : -1;
}

static long rss_total(void)
{
	long sum = 0;
	int any = 0;
	for (size_t i = 0; i < n_oprad_pids; i++) {
		long kb = bench_rss_kib(oprad_pids[i]);
		if (kb >= 0) {
			sum += kb;
			any = 1;
		}
	}
	return any ? sum : -1;
}

static long rss_start = -1, rss_max = -1, rss_end = -1;
static atomic_int stop_sampler;

static void *sampler_main(void *p)
{
	(void)p;
	while (!atomic_load(&stop_sampler)) {
		long kb = rss_total();
		if (kb > rss_max)
			rss_max = kb;
		usleep(100000);
	}
	return NULL;
}

/* ---- setup and checks ---- */

static int open_plain(rpc_client **c)
{
	return open_client(c, 0);
}

/* Three items on READ_PRACTICE per appraisal (fixed keys: idempotent). */
static int seed(rpc_client *c)
{
	for (size_t a = 0; a < n_appraisals; a++)
		for (int i = 0; i < SEED_ITEMS; i++) {
			Opra__V1__EvidenceSubmitRequest req =
				OPRA__V1__EVIDENCE_SUBMIT_REQUEST__INIT;
			char key[64], title[64];
			snprintf(key, sizeof(key), "load-seed-%s-%zu-%d", tag, a, i);
			snprintf(title, sizeof(title), "load seed %d", i);
			req.appraisal = (char *)appraisals[a];
			req.practice = READ_PRACTICE;
			req.instance = (char *)instance;
			req.kind = "affirmation";
			req.title = title;
			req.text = AFFIRMATION;
			int rc = rpc_call(c, "opra.v1.Evidence/Submit", &req.base, NULL, NULL, key);
			if (rc != OPRA_OK) {
				fprintf(stderr, "bench_load: seeding %s: %s\n", appraisals[a],
					opra_err_msg());
				return 1;
			}
		}
	return 0;
}

/* Chain length of each appraisal (Events/Audit total), with retries when a
 * server is coming back. */
static int chain_lengths(rpc_client *c)
{
	for (size_t a = 0; a < n_appraisals; a++) {
		Opra__V1__AuditRequest req = OPRA__V1__AUDIT_REQUEST__INIT;
		Opra__V1__AuditReply *rep = NULL;
		req.appraisal = (char *)appraisals[a];
		req.limit = 1;
		req.after_seq = 1LL << 60;
		int rc;
		double t0 = now_s();
		do {
			rc = rpc_call(c, "opra.v1.Events/Audit", &req.base,
				      &opra__v1__audit_reply__descriptor, (ProtobufCMessage **)&rep,
				      NULL);
		} while (rc != OPRA_OK && rc != OPRA_NOT_FOUND && rc != OPRA_PERMISSION_DENIED &&
			 now_s() - t0 < 30 && usleep(200000) == 0);
		if (rc != OPRA_OK) {
			fprintf(stderr, "bench_load: Events/Audit %s: %s\n", appraisals[a],
				opra_err_msg());
			return 1;
		}
		watch_target[a] = rep->total;
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	return 0;
}

typedef struct {
	long acked, failed_subs, stored, duplicates, missing, stray, failed_stored;
} once_result;

/* Lists every load practice of every appraisal and counts this run's
 * titles per (client, number). */
static int check_once(rpc_client *c, once_result *res)
{
	unsigned **count = calloc((size_t)n_clients, sizeof(*count));
	char prefix[64];
	int rc = 0;
	memset(res, 0, sizeof(*res));
	if (count == NULL)
		return 1;
	for (int i = 0; i < n_clients; i++) {
		count[i] = calloc(clients[i].n_sub + 1, sizeof(unsigned));
		if (count[i] == NULL) {
			rc = 1;
			goto done;
		}
	}
	snprintf(prefix, sizeof(prefix), "load-%s-c", tag);
	for (size_t a = 0; a < n_appraisals && rc == 0; a++)
		for (int p = 0; p < N_PRACTICES && rc == 0; p++) {
			Opra__V1__EvidenceListRequest req = OPRA__V1__EVIDENCE_LIST_REQUEST__INIT;
			Opra__V1__EvidenceListReply *rep = NULL;
			req.appraisal = (char *)appraisals[a];
			req.practice = (char *)practices[p];
			req.instance = (char *)instance;
			int st;
			double t0 = now_s();
			do {
				st = rpc_call(c, "opra.v1.Evidence/List", &req.base,
					      &opra__v1__evidence_list_reply__descriptor,
					      (ProtobufCMessage **)&rep, NULL);
			} while ((st == OPRA_UNAVAILABLE || st == OPRA_RESOURCE_EXHAUSTED ||
				  st == OPRA_DEADLINE_EXCEEDED) &&
				 now_s() - t0 < 30 && usleep(200000) == 0);
			if (st != OPRA_OK) {
				fprintf(stderr, "bench_load: Evidence/List %s %s: %s\n",
					appraisals[a], practices[p], opra_err_msg());
				rc = 1;
				break;
			}
			for (size_t i = 0; i < rep->n_items; i++) {
				const char *t = rep->items[i]->title;
				if (strncmp(t, prefix, strlen(prefix)) != 0)
					continue;
				char *end;
				long cl = strtol(t + strlen(prefix), &end, 10);
				if (*end != '-' || cl < 0 || cl >= n_clients) {
					res->stray++;
					continue;
				}
				unsigned long long num = strtoull(end + 1, &end, 10);
				if (*end != '\0' || num >= clients[cl].n_sub) {
					res->stray++;
					continue;
				}
				count[cl][num]++;
				res->stored++;
			}
			protobuf_c_message_free_unpacked(&rep->base, NULL);
		}
	for (int i = 0; i < n_clients && rc == 0; i++)
		for (size_t k = 0; k < clients[i].n_sub; k++) {
			unsigned n = count[i][k];
			if (n > 1)
				res->duplicates += n - 1;
			if (clients[i].sub_state[k] == 1) {
				res->acked++;
				if (n == 0)
					res->missing++;
			} else {
				res->failed_subs++;
				res->failed_stored += n > 0;
			}
		}
done:
	for (int i = 0; i < n_clients; i++)
		free(count[i]);
	free(count);
	return rc;
}

/* ---- report ---- */

static int cmp_u(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}
static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(const unsigned *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_load --server URL [--server URL]... --token TOKEN\n"
		"                  --appraisal NAME [--appraisal NAME]...\n"
		"                  [--clients N (200)] [--seconds S (10)] [--instance claims]\n"
		"                  [--retry-unavailable S] [--oprad-pid PID]... [--pg-pid PID]\n"
		"                  [--timeout-ms MS] [--tag TAG] [--json]\n"
		"The token's user must be an appraiser of every appraisal, each of which has\n"
		"process area ADM of cert-rmm-1.2 in scope and the instance given.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	long v;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json_out = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage();
			return 0;
		}
		if (val == NULL) {
			fprintf(stderr, "bench_load: %s needs a value\n", a);
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--server") == 0 && n_urls < RPC_MAX_URLS)
			urls[n_urls++] = val;
		else if (strcmp(a, "--token") == 0)
			token = val;
		else if (strcmp(a, "--appraisal") == 0 && n_appraisals < MAX_APPRAISALS)
			appraisals[n_appraisals++] = val;
		else if (strcmp(a, "--instance") == 0)
			instance = val;
		else if (strcmp(a, "--tag") == 0 && strlen(val) < 24)
			tag = val;
		else if (strcmp(a, "--clients") == 0 && parse_long(val, 2, MAX_CLIENTS, &v) == 0)
			n_clients = (int)v;
		else if (strcmp(a, "--timeout-ms") == 0 && parse_long(val, 100, 600000, &v) == 0)
			timeout_ms = (int)v;
		else if (strcmp(a, "--seconds") == 0 && (seconds = strtod(val, NULL)) > 0 &&
			 seconds <= 3600)
			;
		else if (strcmp(a, "--retry-unavailable") == 0 &&
			 (retry_unavailable = strtod(val, NULL)) > 0 && retry_unavailable <= 600)
			;
		else if (strcmp(a, "--oprad-pid") == 0 && n_oprad_pids < MAX_PIDS &&
			 parse_long(val, 1, 1L << 30, &v) == 0)
			oprad_pids[n_oprad_pids++] = v;
		else if (strcmp(a, "--pg-pid") == 0 && parse_long(val, 1, 1L << 30, &v) == 0)
			pg_pid = v;
		else {
			fprintf(stderr, "bench_load: bad or repeated option %s %s\n", a, val);
			usage();
			return 2;
		}
	}
	if (n_urls == 0 || token == NULL || n_appraisals == 0) {
		fprintf(stderr, "bench_load: --server, --token and --appraisal are required\n");
		usage();
		return 2;
	}
	if (tag == NULL) {
		opra_random_hex(tag_buf, 4);
		tag = tag_buf;
	}
	opra_log_set_level(OPRA_LOG_ERROR);

	rpc_client *ctl = NULL;
	if (open_plain(&ctl) != OPRA_OK || seed(ctl) != 0) {
		fprintf(stderr, "bench_load: cannot set up: %s\n", opra_err_msg());
		rpc_client_close(ctl);
		return 1;
	}
	clients = calloc((size_t)n_clients, sizeof(*clients));
	pthread_t *th = calloc((size_t)n_clients, sizeof(*th));
	if (clients == NULL || th == NULL) {
		fprintf(stderr, "bench_load: out of memory\n");
		return 1;
	}
	int n_watchers = n_clients / 10 > 0 ? n_clients / 10 : 1;
	for (int i = 0; i < n_clients; i++) {
		clients[i].id = i;
		clients[i].watcher = i < n_watchers;
		clients[i].appraisal = (size_t)i % n_appraisals;
		clients[i].seed = (unsigned)i * 2654435761u + 1;
	}

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	pthread_t sampler;
	rss_start = rss_total();
	rss_max = rss_start;
	double cpu0 = tree_cpu_s();
	pthread_create(&sampler, NULL, sampler_main, NULL);
	double t0 = now_s();
	for (int i = 0; i < n_clients; i++)
		if (pthread_create(&th[i], &attr, client_main, &clients[i]) != 0) {
			fprintf(stderr, "bench_load: cannot start client thread %d\n", i);
			return 1;
		}
	while (now_s() - t0 < seconds)
		usleep(50000);
	atomic_store(&stop_load, 1);
	for (int i = n_watchers; i < n_clients; i++)
		pthread_join(th[i], NULL);
	double load_s = now_s() - t0;
	double cpu1 = tree_cpu_s();
	atomic_store(&stop_sampler, 1);
	pthread_join(sampler, NULL);
	rss_end = rss_total();

	/* The checks use a fresh connection, starting again from the first
	 * URL that answers (the control client has been idle through the run;
	 * common/rpc.c would also fail over by itself, docs/scaling.md). */
	rpc_client_close(ctl);
	ctl = NULL;
	if (open_plain(&ctl) != OPRA_OK) {
		fprintf(stderr, "bench_load: cannot reconnect: %s\n", opra_err_msg());
		return 1;
	}
	/* The watchers catch up to the chain's end (bounded). */
	int setup_failed = chain_lengths(ctl);
	atomic_store(&watch_targets_set, 1);
	double wt = now_s();
	int watchers_done = 0;
	while (!watchers_done && now_s() - wt < 60) {
		watchers_done = 1;
		for (int i = 0; i < n_watchers; i++)
			if (clients[i].last_seq < watch_target[clients[i].appraisal])
				watchers_done = 0;
		if (!watchers_done)
			usleep(50000);
	}
	atomic_store(&stop_watch, 1);
	for (int i = 0; i < n_watchers; i++)
		pthread_join(th[i], NULL);

	once_result once;
	int once_failed = check_once(ctl, &once);
	rpc_client_close(ctl);

	/* ---- totals ---- */
	long total_fail = 0, total_ops = 0, total_exh = 0, total_unav = 0;
	long long w_events = 0, w_gaps = 0, w_short = 0;
	size_t n_lag = 0;
	for (int i = 0; i < n_clients; i++) {
		if (clients[i].watcher) {
			w_events += clients[i].events;
			w_gaps += clients[i].gaps;
			w_short += clients[i].last_seq < watch_target[clients[i].appraisal];
			n_lag += clients[i].n_lag;
		}
	}
	long long *lags = malloc((n_lag + 1) * sizeof(*lags));
	size_t k = 0;
	for (int i = 0; i < n_clients && lags; i++)
		for (size_t j = 0; j < clients[i].n_lag; j++)
			lags[k++] = clients[i].lag_us[j];
	if (lags)
		qsort(lags, k, sizeof(*lags), cmp_ll);

	if (!json_out) {
		printf("load: %d clients (%d watching) for %.1f s on %zu appraisal(s), %zu "
		       "server(s)%s\n",
		       n_clients, n_watchers, load_s, n_appraisals, n_urls,
		       retry_unavailable > 0 ? ", retrying UNAVAILABLE" : "");
		printf("  %-38s %8s %7s %6s %8s %8s %9s %9s %9s\n", "operation", "count", "req/s",
		       "failed", "exhaust", "unavail", "p50 ms", "p99 ms", "max ms");
	} else {
		printf("{\"clients\": %d, \"watchers\": %d, \"seconds\": %.2f, \"servers\": %zu, "
		       "\"operations\": [",
		       n_clients, n_watchers, load_s, n_urls);
	}
	double sub_p50 = 0, sub_p99 = 0;
	for (int op = 0; op < N_OPS; op++) {
		size_t n = 0;
		long fails = 0, exh = 0, unav = 0, stale = 0, gave_up = 0;
		for (int i = 0; i < n_clients; i++)
			n += clients[i].ops[op].n;
		unsigned *all = malloc((n + 1) * sizeof(*all));
		size_t m = 0;
		for (int i = 0; i < n_clients; i++) {
			op_stats *s = &clients[i].ops[op];
			if (all && s->n > 0)
				memcpy(all + m, s->us, s->n * sizeof(*all));
			m += s->n;
			fails += s->failures;
			exh += s->exhausted_retries;
			unav += s->unavailable_retries;
			stale += s->stale;
			gave_up += s->gave_up;
		}
		if (all)
			qsort(all, n, sizeof(*all), cmp_u);
		double p50 = all ? pct_ms(all, n, 0.5) : 0, p99 = all ? pct_ms(all, n, 0.99) : 0;
		double mx = all && n ? (double)all[n - 1] / 1000.0 : 0;
		if (op == OP_SUBMIT) {
			sub_p50 = p50;
			sub_p99 = p99;
		}
		total_fail += fails;
		total_ops += (long)n;
		total_exh += exh;
		total_unav += unav;
		if (!json_out) {
			char label[64];
			snprintf(label, sizeof(label), "%s", op_methods[op]);
			printf("  %-38s %8zu %7.0f %6ld %8ld %8ld %9.2f %9.2f %9.2f", label, n,
			       (double)n / load_s, fails, exh, unav, p50, p99, mx);
			if (op == OP_CHAR_EV)
				printf("  (%ld stale-version answers; %ld still stale "
				       "after 3 tries)",
				       stale, gave_up);
			printf("\n");
		} else {
			printf("%s{\"name\": \"%s\", \"method\": \"%s\", \"count\": %zu, "
			       "\"per_second\": %.1f, \"failures\": %ld, \"exhausted_retries\": "
			       "%ld, "
			       "\"unavailable_retries\": %ld, \"stale\": %ld, \"gave_up\": %ld, "
			       "\"p50_ms\": %.3f, "
			       "\"p99_ms\": %.3f, \"max_ms\": %.3f}",
			       op ? ", " : "", op_names[op], op_methods[op], n, (double)n / load_s,
			       fails, exh, unav, stale, gave_up, p50, p99, mx);
		}
		free(all);
	}
	double cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	double lag50 = lags && k ? (double)lags[k / 2] / 1000.0 : 0;
	double lag99 =
		lags && k ? (double)lags[(size_t)(0.99 * (double)(k - 1) + 0.5)] / 1000.0 : 0;
	int ok = total_fail == 0 && !once_failed && !setup_failed && once.missing == 0 &&
		 once.duplicates == 0 && once.stray == 0 && w_gaps == 0 && w_short == 0;
	{
		char fig[64], o[96];
		snprintf(fig, sizeof(fig), "load: %d clients, %.0f s", n_clients, load_s);
		snprintf(o, sizeof(o), "%.0f req/s, %ld failed, submit p50 %.0f / p99 %.0f ms",
			 (double)total_ops / load_s, total_fail, sub_p50, sub_p99);
		bench_summary(fig, o, NULL, 0, "0 failed, exactly once", ok);
		if (n_oprad_pids && rss_max >= 0) {
			snprintf(o, sizeof(o), "%.0f MiB peak", (double)rss_max / 1024);
			snprintf(fig, sizeof(fig), "%.0f MiB at start", (double)rss_start / 1024);
			bench_summary("load: oprad RSS", o, fig, 0, NULL, -1);
		}
		if (cpu >= 0) {
			snprintf(o, sizeof(o), "%.2f cores", cpu / load_s);
			bench_summary("load: server CPU (oprad + PostgreSQL)", o, NULL, 0, NULL,
				      -1);
		}
	}
	if (!json_out) {
		printf("  RESOURCE_EXHAUSTED retries: %ld, UNAVAILABLE/DEADLINE retries: %ld, "
		       "failed requests: %ld of %ld\n",
		       total_exh, total_unav, total_fail, total_ops);
		printf("  watch: %lld events, %lld gaps, %lld watchers short of the chain end; "
		       "delivery lag p50 %.1f ms, p99 %.1f ms (%zu live events)\n",
		       w_events, w_gaps, w_short, lag50, lag99, k);
		if (!once_failed)
			printf("  exactly once: %ld submissions acknowledged, %ld stored; %ld "
			       "missing, %ld duplicates; %ld failed (%ld of them stored)\n",
			       once.acked, once.stored, once.missing, once.duplicates,
			       once.failed_subs, once.failed_stored);
		if (n_oprad_pids)
			printf("  oprad RSS: %.1f MiB at start, %.1f MiB peak, %.1f MiB at end\n",
			       (double)rss_start / 1024, (double)rss_max / 1024,
			       (double)rss_end / 1024);
		if (cpu >= 0)
			printf("  server CPU (oprad + PostgreSQL): %.1f s in %.1f s = %.2f cores\n",
			       cpu, load_s, cpu / load_s);
		printf("  result: %s\n", ok ? "ok" : "FAILED");
	} else {
		printf("], \"watch\": {\"events\": %lld, \"gaps\": %lld, \"short\": %lld, "
		       "\"lag_p50_ms\": %.3f, \"lag_p99_ms\": %.3f}, \"exactly_once\": "
		       "{\"checked\": %s, \"acknowledged\": %ld, \"stored\": %ld, \"missing\": "
		       "%ld, \"duplicates\": %ld, \"failed\": %ld, \"failed_stored\": %ld}, "
		       "\"server\": {\"rss_start_kib\": %ld, \"rss_max_kib\": %ld, "
		       "\"rss_end_kib\": %ld, \"cpu_s\": %.2f}, \"exhausted_retries\": %ld, "
		       "\"unavailable_retries\": %ld, \"failures\": %ld, \"ok\": %s}\n",
		       w_events, w_gaps, w_short, lag50, lag99, once_failed ? "false" : "true",
		       once.acked, once.stored, once.missing, once.duplicates, once.failed_subs,
		       once.failed_stored, rss_start, rss_max, rss_end, cpu, total_exh, total_unav,
		       total_fail, ok ? "true" : "false");
	}
	int shown = 0;
	for (int i = 0; i < n_clients && shown < 5; i++)
		if (clients[i].first_error[0]) {
			fprintf(stderr, "bench_load: client %d: %s\n", i, clients[i].first_error);
			shown++;
		}
	for (int i = 0; i < n_clients; i++) {
		for (int op = 0; op < N_OPS; op++)
			free(clients[i].ops[op].us);
		free(clients[i].sub_state);
		free(clients[i].lag_us);
	}
	free(lags);
	free(clients);
	free(th);
	pthread_attr_destroy(&attr);
	return ok ? 0 : 1;
}
