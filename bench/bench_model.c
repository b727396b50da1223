/* Model import time (opra.v1.Model/Import of a parsed catalog, end to end:
 * encode, send, decode, validate, COPY into four tables, commit) beside a
 * plain PostgreSQL COPY of the same number of rows into the same tables,
 * measured in the same run against the same database.
 *
 * usage: bench_model --server URL --token ADMIN_TOKEN --db CONNINFO
 *                    --file PATH [--format oscal-catalog|opra] [--runs N] */
#include "summary.h"
#include "db.h"
#include "model.h"
#include "model_pb.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpc.h"

#include "opra/v1/model.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double ms_since(long long t0)
{
	return (double)(opra_now_us() - t0) / 1000.0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The baseline: the same number of rows per table, COPYed straight in. */
static int copy_baseline(db *d, const model *m, int run, size_t *rows_out, double *ms)
{
	opra_buf pa = OPRA_BUF_INIT, go = OPRA_BUF_INIT, pr = OPRA_BUF_INIT, rf = OPRA_BUF_INIT;
	PGresult *r = NULL;
	char key[64];
	int rc;
	size_t rows = 1;

	snprintf(key, sizeof(key), "bench-copy-%d", run);
	const char *p[1] = {key};
	if ((rc = db_exec(&r, d, 1,
			  "INSERT INTO models (key, name, version) VALUES ($1, 'bench', '1') "
			  "RETURNING id",
			  1, p)) != OPRA_OK)
		return rc;
	long long mid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	/* Ids are made up here (far above the sequences) so the rows can be
	 * written without reading anything back, as COPY users do. */
	long long base = 1000000000LL * (run + 1), pid = base, gid = base, xid = base;
	for (size_t i = 0; i < m->n_pas; i++) {
		const model_pa *a = &m->pas[i];
		db_copy_field_long(&pa, ++pid, 0);
		db_copy_field_long(&pa, mid, 0);
		db_copy_field_long(&pa, (long long)i, 0);
		db_copy_field(&pa, a->id, 0);
		db_copy_field(&pa, a->name, 0);
		db_copy_field(&pa, a->category, 1);
		rows++;
		for (size_t k = 0; k < a->n_goals; k++) {
			const model_goal *g = &a->goals[k];
			db_copy_field_long(&go, ++gid, 0);
			db_copy_field_long(&go, pid, 0);
			db_copy_field_long(&go, (long long)k, 0);
			db_copy_field(&go, g->id, 0);
			db_copy_field(&go, g->title, 0);
			db_copy_field(&go, g->generic ? "t" : "f", 1);
			rows++;
			for (size_t j = 0; j < g->n_practices; j++) {
				const model_practice *x = &g->practices[j];
				char full[128];
				snprintf(full, sizeof(full), "%s:%s.%s", a->id, g->id, x->id);
				db_copy_field_long(&pr, ++xid, 0);
				db_copy_field_long(&pr, gid, 0);
				db_copy_field_long(&pr, mid, 0);
				db_copy_field_long(&pr, (long long)j, 0);
				db_copy_field(&pr, x->id, 0);
				db_copy_field(&pr, full, 0);
				db_copy_field(&pr, full, 0);
				db_copy_field(&pr, x->title, 0);
				db_copy_field(&pr, x->statement ? x->statement : "", 1);
				rows++;
				for (size_t q = 0; q < x->n_refs; q++) {
					db_copy_field_long(&rf, xid, 0);
					db_copy_field_long(&rf, (long long)q, 0);
					db_copy_field(&rf, x->refs[q].code ? x->refs[q].code : "c",
						      0);
					db_copy_field(&rf, x->refs[q].ref ? x->refs[q].ref : "r",
						      1);
					rows++;
				}
			}
		}
	}
	long long t0 = opra_now_us();
	if ((rc = db_begin(d)) ||
	    (rc = db_copy_begin(d, "COPY process_areas (id, model_id, ord, code, name, category) "
				   "FROM STDIN")) ||
	    (rc = db_copy_put(d, &pa)) || (rc = db_copy_end(d)) ||
	    (rc = db_copy_begin(d,
				"COPY goals (id, pa_id, ord, code, title, generic) FROM STDIN")) ||
	    (rc = db_copy_put(d, &go)) || (rc = db_copy_end(d)) ||
	    (rc = db_copy_begin(d, "COPY practices (id, goal_id, model_id, ord, code, full_id, "
				   "full_id_lower, title, statement) FROM STDIN")) ||
	    (rc = db_copy_put(d, &pr)) || (rc = db_copy_end(d)))
		goto done;
	if (rf.len && ((rc = db_copy_begin(d, "COPY model_refs (practice_id, ord, code, ref) "
					      "FROM STDIN")) ||
		       (rc = db_copy_put(d, &rf)) || (rc = db_copy_end(d))))
		goto done;
	rc = db_commit(d);
	*ms = ms_since(t0);
	*rows_out = rows;
done:
	if (rc != OPRA_OK)
		db_rollback(d);
	db_cmd(d, "DELETE FROM models WHERE key = $1", 1, p);
	opra_buf_free(&pa);
	opra_buf_free(&go);
	opra_buf_free(&pr);
	opra_buf_free(&rf);
	return rc;
}

static int import_once(rpc_client *c, model *m, int run, double *ms)
{
	char id[64], key[40];
	char *saved = m->id;
	Opra__V1__ModelDoc *doc = NULL;
	snprintf(id, sizeof(id), "bench-import-%d", run);
	m->id = id;
	int rc = model_to_pb(&doc, m);
	m->id = saved;
	if (rc != OPRA_OK)
		return rc;
	Opra__V1__ModelImportRequest req = OPRA__V1__MODEL_IMPORT_REQUEST__INIT;
	req.model = doc;
	req.replace = 1;
	rpc_new_key(key);
	long long t0 = opra_now_us();
	rc = rpc_call(c, "opra.v1.Model/Import", &req.base, NULL, NULL, key);
	*ms = ms_since(t0);
	model_pb_free(doc);
	return rc;
}

int main(int argc, char **argv)
{
	const char *server = NULL, *token = NULL, *conninfo = NULL, *file = NULL,
		   *format = "oscal-catalog";
	long runs = 5;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			server = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			conninfo = argv[i + 1];
		else if (strcmp(argv[i], "--file") == 0)
			file = argv[i + 1];
		else if (strcmp(argv[i], "--format") == 0)
			format = argv[i + 1];
		else if (strcmp(argv[i], "--runs") == 0)
			runs = strtol(argv[i + 1], NULL, 10);
	}
	if (!server || !token || !conninfo || !file || runs < 1 || runs > 50) {
		fprintf(stderr,
			"usage: bench_model --server URL --token T --db CONNINFO --file PATH "
			"[--format F] [--runs 1..50]\n");
		return 2;
	}
	opra_log_set_level(OPRA_LOG_ERROR);
	model *m = NULL;
	long long t0 = opra_now_us();
	if (model_load_file(&m, file, format) != OPRA_OK) {
		fprintf(stderr, "bench_model: %s\n", opra_err_msg());
		return 1;
	}
	double parse_ms = ms_since(t0);
	db *d = NULL;
	if (db_open(&d, conninfo) != OPRA_OK) {
		fprintf(stderr, "bench_model: %s\n", opra_err_msg());
		return 1;
	}
	rpc_options o = {.n_urls = 1, .token = token, .timeout_ms = 120000};
	o.urls[0] = server;
	rpc_client *c = NULL;
	rpc_client_open(&c, &o);
	double copy_ms[50], imp_ms[50];
	size_t rows = 0;
	for (long i = 0; i < runs; i++) {
		if (copy_baseline(d, m, (int)i, &rows, &copy_ms[i]) != OPRA_OK ||
		    import_once(c, m, (int)i, &imp_ms[i]) != OPRA_OK) {
			fprintf(stderr, "bench_model: %s\n", opra_err_msg());
			return 1;
		}
	}
	for (long i = 0; i < runs; i++) {
		char key[64];
		snprintf(key, sizeof(key), "bench-import-%ld", i);
		const char *p[1] = {key};
		db_cmd(d, "DELETE FROM models WHERE key = $1", 1, p);
	}
	qsort(copy_ms, (size_t)runs, sizeof(double), cmp_d);
	qsort(imp_ms, (size_t)runs, sizeof(double), cmp_d);
	double cm = copy_ms[runs / 2], im = imp_ms[runs / 2];
	printf("Model import vs PostgreSQL COPY of the same rows (%s; median of %ld runs)\n\n",
	       file, runs);
	printf("  model: %zu process areas, %zu practices, %zu rows in 4 tables; client-side "
	       "parse+validate %.1f ms\n",
	       m->n_pas, model_count_practices(m), rows, parse_ms);
	printf("  %-36s %10.1f ms  (%8.0f rows/s)\n", "PostgreSQL COPY (baseline)", cm,
	       (double)rows / (cm / 1000.0));
	printf("  %-36s %10.1f ms  (%8.0f rows/s)\n", "opra model import (RPC, end to end)", im,
	       (double)rows / (im / 1000.0));
	printf("  ratio: %.2fx the COPY time (goal: <= 3x)\n", im / cm);
	{
		char ours[32], base[32];
		snprintf(ours, sizeof(ours), "%.0f ms", im);
		snprintf(base, sizeof(base), "%.0f ms COPY", cm);
		bench_summary("model import (OSCAL catalog), time", ours, base, im / cm, "<= 3x",
			      im / cm <= 3.0);
	}
	rpc_client_close(c);
	db_close(d);
	model_free(m);
	return 0;
}
