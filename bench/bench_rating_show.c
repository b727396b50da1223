/* `opra rating show` on a full CERT-RMM appraisal: the Rating/Show RPC end
 * to end (load the facts, rate, build and send the reply, decode it),
 * beside a plain SELECT of the appraisal's characterisation rows through
 * libpq, in the same run against the same database. Goal: <= 2x.
 *
 * Fixture (setup, not measured; written with SQL under names unique to this
 * run): the shipped cert-rmm-1.2 model (imported with Model/Import when the
 * server does not have it yet), 50 services as instances, every PA in scope
 * at target level 3, every (practice, instance) characterised (mostly FI,
 * some LI), one accepted artifact and one accepted affirmation per cell,
 * and a weakness on every 40th cell; then VACUUM ANALYZE of the tables
 * both sides read, as autovacuum would do after such bulk writes.
 *
 * With --opra PATH it also times `opra report APPRAISAL --format html -o
 * FILE` on the same appraisal, end to end (a new opra process: connect,
 * Report/Facts, Rating/Show --explain, Appraisal/Show, the evidence pages,
 * rendering, the atomic write), in the same run. Goal: under 1 s.
 *
 * usage: bench_rating_show --server URL --token ADMIN_TOKEN --db CONNINFO
 *                          [--model sql/models/cert-rmm-1.2.yaml]
 *                          [--instances 50] [--runs 15] [--opra PATH] */
#include "summary.h"
#include "db.h"
#include "model.h"
#include "model_pb.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpc.h"

#include "opra/v1/model.pb-c.h"
#include "opra/v1/rating.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MODEL_KEY "cert-rmm-1.2"

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double now_ms(void)
{
	return (double)opra_now_us() / 1e3;
}

static int import_model(rpc_client *c, db *d, const char *path)
{
	PGresult *r = NULL;
	if (db_exec(&r, d, 1, "SELECT count(*) FROM models WHERE key = '" MODEL_KEY "'", 0, NULL) !=
	    OPRA_OK)
		return 1;
	int have = PQgetvalue(r, 0, 0)[0] != '0';
	PQclear(r);
	if (have)
		return 0;
	model *m = NULL;
	Opra__V1__ModelDoc *doc = NULL;
	if (model_load_file(&m, path, "opra") != OPRA_OK || model_to_pb(&doc, m) != OPRA_OK) {
		fprintf(stderr, "bench_rating_show: %s: %s\n", path, opra_err_msg());
		model_free(m);
		return 1;
	}
	Opra__V1__ModelImportRequest req = OPRA__V1__MODEL_IMPORT_REQUEST__INIT;
	req.model = doc;
	char key[40];
	rpc_new_key(key);
	int rc = rpc_call(c, "opra.v1.Model/Import", &req.base,
			  &opra__v1__model_import_response__descriptor, NULL, key);
	if (rc != OPRA_OK)
		fprintf(stderr, "bench_rating_show: Model/Import: %s\n", opra_err_msg());
	model_pb_free(doc);
	model_free(m);
	return rc != OPRA_OK;
}

/* The appraisal: returns its id in aid, or 1 on failure. */
static int setup(db *d, const char *tag, long instances, char *aid, size_t size)
{
	PGresult *r = NULL;
	char n[16];
	snprintf(n, sizeof(n), "%ld", instances);
	const char *p[2] = {tag, n};
	int rc = db_exec(
		&r, d, 1,
		"WITH who AS (SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1), "
		"u AS (INSERT INTO units (name) SELECT 'bench-rating-' || $1 RETURNING id), "
		"s AS (INSERT INTO services (name, unit_id) SELECT 'bench-rating-' || $1 || '-' || "
		"lpad(k::text, 3, '0'), u.id FROM u, generate_series(1, $2::int) k RETURNING id, "
		"name), a AS (INSERT INTO appraisals (name, created_by, target_level) SELECT "
		"'bench-rating-' || $1, id, 3 FROM who RETURNING id, created_by), "
		"am AS (INSERT INTO appraisal_models SELECT a.id, m.id FROM a, models m WHERE "
		"m.key "
		"= '" MODEL_KEY "'), ap AS (INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT "
		"a.id, pa.id FROM a, process_areas pa JOIN models m ON m.id = pa.model_id WHERE "
		"m.key = '" MODEL_KEY "'), ai AS (INSERT INTO appraisal_instances (appraisal_id, "
		"kind, service_id, name, added_by) SELECT a.id, 'service', s.id, s.name, "
		"a.created_by FROM a, s) SELECT id FROM a",
		2, p);
	if (rc != OPRA_OK)
		return 1;
	snprintf(aid, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	const char *q[1] = {aid};
	static const char *const fill[] = {
		"INSERT INTO characterisations (appraisal_id, practice_id, instance_id, value, "
		"updated_by) SELECT a.id, p.id, i.id, CASE WHEN (p.id + i.id) % 7 = 0 THEN 'li' "
		"ELSE 'fi' END, a.created_by FROM appraisals "
		"a JOIN appraisal_instances i ON i.appraisal_id = a.id JOIN appraisal_models am ON "
		"am.appraisal_id = a.id JOIN practices p ON p.model_id = am.model_id WHERE a.id = "
		"$1::bigint",
		"INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, title, "
		"status, "
		"sha256, size, body_text, submitted_by) SELECT c.appraisal_id, c.practice_id, "
		"c.instance_id, k, 'bench', 'accepted', sha256(convert_to(c.practice_id || '-' || "
		"c.instance_id || k, 'UTF8')), 5, 'bench', c.updated_by FROM characterisations c, "
		"unnest(ARRAY['artifact', 'affirmation']) k WHERE c.appraisal_id = $1::bigint",
		"INSERT INTO weaknesses (appraisal_id, practice_id, instance_id, text, "
		"significant, "
		"created_by) SELECT c.appraisal_id, c.practice_id, c.instance_id, 'bench "
		"weakness', "
		"false, c.updated_by FROM characterisations c WHERE c.appraisal_id = $1::bigint "
		"AND (c.practice_id + c.instance_id) % 40 = 0",
		/* VACUUM, as autovacuum would soon after the fixture's bulk
		 * writes: the fixture updates each rating_cells row twice (two
		 * evidence items per cell), and the first read after that would
		 * otherwise pay for pruning the dead versions */
		"VACUUM ANALYZE characterisations",
		"VACUUM ANALYZE evidence",
		"VACUUM ANALYZE weaknesses",
		"VACUUM ANALYZE rating_cells",
	};
	for (size_t i = 0; i < sizeof(fill) / sizeof(fill[0]); i++)
		if (db_cmd(d, fill[i], strstr(fill[i], "$1") ? 1 : 0, q) != OPRA_OK)
			return 1;
	return 0;
}

/* Runs `opra --server URL report NAME --format html -o out` with the token
 * in OPRA_TOKEN and its output to /dev/null; returns its exit status (-1
 * when it could not run). */
static int run_report(const char *opra, const char *url, const char *token, const char *name,
		      const char *out)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *devnull = freopen("/dev/null", "w", stdout);
		(void)devnull;
		setenv("OPRA_TOKEN", token, 1);
		execl(opra, opra, "--server", url, "--timeout", "120", "report", name, "--format",
		      "html", "-o", out, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	const char *server_url = NULL, *token = NULL, *conninfo = NULL;
	const char *model_path = "sql/models/cert-rmm-1.2.yaml", *opra = NULL;
	long instances = 50, runs = 15;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			server_url = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			conninfo = argv[i + 1];
		else if (strcmp(argv[i], "--model") == 0)
			model_path = argv[i + 1];
		else if (strcmp(argv[i], "--instances") == 0)
			instances = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0)
			runs = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--opra") == 0)
			opra = argv[i + 1];
	}
	if (!server_url || !token || !conninfo || instances < 1 || instances > 1000 || runs < 1 ||
	    runs > 10000) {
		fprintf(stderr, "usage: bench_rating_show --server URL --token ADMIN_TOKEN --db "
				"CONNINFO [--model PATH] [--instances 50] [--runs 15] "
				"[--opra PATH]\n");
		return 2;
	}
	opra_log_set_level(OPRA_LOG_ERROR);
	db *d = NULL;
	rpc_client *c = NULL;
	rpc_options o = {.n_urls = 1, .token = token, .timeout_ms = 120000};
	o.urls[0] = server_url;
	if (db_open(&d, conninfo) != OPRA_OK || rpc_client_open(&c, &o) != OPRA_OK) {
		fprintf(stderr, "bench_rating_show: %s\n", opra_err_msg());
		db_close(d);
		return 1;
	}
	int failed = 1;
	char tag[32], aid[32], name[64];
	snprintf(tag, sizeof(tag), "%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
	snprintf(name, sizeof(name), "bench-rating-%s", tag);
	double t0 = now_ms();
	if (import_model(c, d, model_path) != 0)
		goto out;
	if (setup(d, tag, instances, aid, sizeof(aid)) != 0) {
		fprintf(stderr, "bench_rating_show: setup: %s\n", opra_err_msg());
		goto out;
	}
	double setup_ms = now_ms() - t0;

	double *base = calloc((size_t)runs, sizeof(double));
	double *ours = calloc((size_t)runs, sizeof(double));
	double *expl = calloc((size_t)runs, sizeof(double));
	if (!base || !ours || !expl)
		goto out_free;
	long rows = 0, chars = 0, pas = 0, cells = 0;
	int level_hist[5] = {0};
	const char *q[1] = {aid};
	Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	req.appraisal = name;
	req.compact = 1; /* as opra rating show asks */
	/* one warm-up of each, then interleaved runs */
	for (long k = -1; k < runs; k++) {
		PGresult *r = NULL;
		double s = now_ms();
		if (db_exec(&r, d, 1,
			    "SELECT practice_id, instance_id, value, version FROM "
			    "characterisations "
			    "WHERE appraisal_id = $1::bigint",
			    1, q) != OPRA_OK) {
			fprintf(stderr, "bench_rating_show: baseline: %s\n", opra_err_msg());
			goto out_free;
		}
		rows = PQntuples(r);
		PQclear(r);
		double e = now_ms();
		Opra__V1__RatingShowReply *rep = NULL;
		req.explain = 0;
		if (rpc_call(c, "opra.v1.Rating/Show", &req.base,
			     &opra__v1__rating_show_reply__descriptor, (ProtobufCMessage **)&rep,
			     NULL) != OPRA_OK) {
			fprintf(stderr, "bench_rating_show: Rating/Show: %s\n", opra_err_msg());
			goto out_free;
		}
		double f = now_ms();
		chars = rep->characterisations;
		pas = (long)rep->n_process_areas;
		cells = 0;
		memset(level_hist, 0, sizeof(level_hist));
		for (size_t i = 0; i < rep->n_process_areas; i++) {
			int l = rep->process_areas[i]->capability_level;
			level_hist[l >= 0 && l <= 3 ? l + 1 : 0]++;
			for (size_t g = 0; g < rep->process_areas[i]->n_goals; g++)
				for (size_t p = 0; p < rep->process_areas[i]->goals[g]->n_practices;
				     p++) {
					const Opra__V1__PracticeRating *pr =
						rep->process_areas[i]->goals[g]->practices[p];
					cells += (long)(pr->n_instances + strlen(pr->cell_values));
				}
		}
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		req.explain = 1;
		if (rpc_call(c, "opra.v1.Rating/Show", &req.base,
			     &opra__v1__rating_show_reply__descriptor, (ProtobufCMessage **)&rep,
			     NULL) != OPRA_OK) {
			fprintf(stderr, "bench_rating_show: Rating/Show --explain: %s\n",
				opra_err_msg());
			goto out_free;
		}
		double g = now_ms();
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		if (k >= 0) {
			base[k] = e - s;
			ours[k] = f - e;
			expl[k] = g - f;
		}
	}
	/* reply sizes, compact (as timed) and with a message per cell (not timed) */
	size_t size_compact = 0, size_full = 0;
	for (int compact = 0; compact < 2; compact++) {
		Opra__V1__RatingShowReply *rep = NULL;
		req.explain = 0;
		req.compact = compact;
		if (rpc_call(c, "opra.v1.Rating/Show", &req.base,
			     &opra__v1__rating_show_reply__descriptor, (ProtobufCMessage **)&rep,
			     NULL) != OPRA_OK) {
			fprintf(stderr, "bench_rating_show: Rating/Show: %s\n", opra_err_msg());
			goto out_free;
		}
		*(compact ? &size_compact : &size_full) =
			protobuf_c_message_get_packed_size(&rep->base);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	/* opra report --format html, end to end, in the same run */
	int report_runs = runs < 3 ? (int)runs : runs / 3 < 3 ? 3 : (int)(runs / 3);
	double *rep_ms = calloc((size_t)report_runs, sizeof(double));
	double mr = 0;
	long long rep_bytes = 0;
	char rep_path[128];
	snprintf(rep_path, sizeof(rep_path), "/tmp/bench-report-%ld.html", (long)getpid());
	if (opra != NULL) {
		if (rep_ms == NULL)
			goto out_free;
		/* one warm-up, then the runs */
		for (int k = -1; k < report_runs; k++) {
			double s = now_ms();
			int st = run_report(opra, server_url, token, name, rep_path);
			double e = now_ms();
			if (st != 0) {
				fprintf(stderr, "bench_rating_show: opra report exited with %d\n",
					st);
				free(rep_ms);
				goto out_free;
			}
			if (k >= 0)
				rep_ms[k] = e - s;
		}
		struct stat sb;
		rep_bytes = stat(rep_path, &sb) == 0 ? (long long)sb.st_size : -1;
		unlink(rep_path);
		mr = median(rep_ms, report_runs);
	}
	free(rep_ms);
	double mb = median(base, (int)runs), mo = median(ours, (int)runs),
	       me = median(expl, (int)runs);
	printf("rating show: full %s appraisal, %ld PAs, %ld instances, %ld characterisations "
	       "(%ld cells in the reply); fixture setup %.1f s (not measured)\n\n",
	       MODEL_KEY, pas, instances, chars, cells, setup_ms / 1000);
	printf("  %-48s %10s\n", "median of the runs", "ms");
	printf("  %-48s %10.2f\n", "plain SELECT of the characterisation rows (libpq)", mb);
	printf("  %-48s %10.2f   %.2fx the SELECT  goal <= 2x: %s\n", "Rating/Show over RPC", mo,
	       mo / mb, mo <= 2 * mb ? "met" : "NOT met");
	printf("  %-48s %10.2f   %.2fx the SELECT\n", "Rating/Show --explain over RPC", me,
	       me / mb);
	if (opra != NULL)
		printf("  %-48s %10.2f   %.2fx Rating/Show  goal < 1000 ms: %s\n",
		       "opra report --format html (end to end)", mr, mr / mo,
		       mr < 1000 ? "met" : "NOT met");
	{
		char fig[96], mtxt[32], b[32];
		snprintf(fig, sizeof(fig), "rating show, %ld characterisations, time", chars);
		snprintf(mtxt, sizeof(mtxt), "%.1f ms", mo);
		snprintf(b, sizeof(b), "%.1f ms SELECT", mb);
		bench_summary(fig, mtxt, b, mo / mb, "<= 2x", mo <= 2 * mb);
		snprintf(mtxt, sizeof(mtxt), "%.1f ms", me);
		bench_summary("rating show --explain, time", mtxt, b, me / mb, NULL, -1);
		if (opra != NULL) {
			snprintf(mtxt, sizeof(mtxt), "%.0f ms", mr);
			snprintf(b, sizeof(b), "%.1f ms Rating/Show", mo);
			bench_summary("html report of that appraisal, time", mtxt, b, mr / mo,
				      "< 1000 ms", mr < 1000);
		}
	}
	printf("\n  (%ld runs; SELECT returned %ld rows; capability levels: out/not-rated %d, "
	       "CL0 %d, CL1 %d, CL2 %d, CL3 %d)\n",
	       runs, rows, level_hist[0], level_hist[1], level_hist[2], level_hist[3],
	       level_hist[4]);
	printf("  (reply: %zu bytes with compact cells; %zu with a message per cell)\n",
	       size_compact, size_full);
	if (opra != NULL)
		printf("  (html report: %lld bytes, median of %d runs of a new opra process: "
		       "connect, Report/Facts, Rating/Show --explain, Appraisal/Show, evidence "
		       "pages, render, atomic write)\n",
		       rep_bytes, report_runs);
	failed = rows != chars;
out_free:
	free(base);
	free(ours);
	free(expl);
out:
	rpc_client_close(c);
	db_close(d);
	return failed;
}
