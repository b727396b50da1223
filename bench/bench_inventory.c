/* `opra inventory show` for a service with N assets (default 1000): the
 * Inventory/Show RPC end to end, beside a plain SELECT of the same rows
 * through libpq, in the same run against the same database.
 *
 * usage: bench_inventory --server URL --token T --db CONNINFO [--assets N] [--runs N] */
#include "summary.h"
#include "db.h"
#include "opra_err.h"
#include "opra_log.h"
#include "rpc.h"

#include "opra/v1/inventory.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int setup(db *d, long n, char *service_id, size_t size)
{
	PGresult *r = NULL;
	opra_buf rows = OPRA_BUF_INIT;
	int rc;
	if ((rc = db_exec(
		     &r, d, 1,
		     "WITH u AS (INSERT INTO units (name) VALUES ('bench-unit') RETURNING id) "
		     "INSERT INTO services (name, unit_id, criticality) SELECT 'bench-svc', id, "
		     "'high' FROM u RETURNING id",
		     0, NULL)) != OPRA_OK)
		return rc;
	snprintf(service_id, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	static const char *const types[] = {"people", "information", "technology", "facilities"};
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "bench-asset-%06ld", i);
		db_copy_field(&rows, name, 0);
		db_copy_field(&rows, types[i % 4], 0);
		db_copy_field(&rows, "bench owner", 0);
		db_copy_field(&rows, "[\"bench\"]", 1);
	}
	if ((rc = db_copy_begin(d, "COPY assets (name, type, owner, tags) FROM STDIN")) ||
	    (rc = db_copy_put(d, &rows)) || (rc = db_copy_end(d)))
		goto done;
	const char *p[1] = {service_id};
	rc = db_cmd(d,
		    "INSERT INTO service_assets (service_id, asset_id) SELECT $1::bigint, id "
		    "FROM assets WHERE name LIKE 'bench-asset-%'",
		    1, p);
done:
	opra_buf_free(&rows);
	return rc;
}

static void cleanup(db *d)
{
	db_cmd(d,
	       "DELETE FROM service_assets WHERE service_id IN (SELECT id FROM services "
	       "WHERE name = 'bench-svc')",
	       0, NULL);
	db_cmd(d, "DELETE FROM assets WHERE name LIKE 'bench-asset-%'", 0, NULL);
	db_cmd(d, "DELETE FROM services WHERE name = 'bench-svc'", 0, NULL);
	db_cmd(d, "DELETE FROM units WHERE name = 'bench-unit'", 0, NULL);
}

int main(int argc, char **argv)
{
	const char *server = NULL, *token = NULL, *conninfo = NULL;
	long n = 1000, runs = 50;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			server = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--db") == 0)
			conninfo = argv[i + 1];
		else if (strcmp(argv[i], "--assets") == 0)
			n = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0)
			runs = strtol(argv[i + 1], NULL, 10);
	}
	if (!server || !token || !conninfo || n < 1 || n > 100000 || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: bench_inventory --server URL --token T --db CONNINFO "
				"[--assets 1..100000] [--runs 1..1000]\n");
		return 2;
	}
	opra_log_set_level(OPRA_LOG_ERROR);
	db *d = NULL;
	char sid[32];
	if (db_open(&d, conninfo) != OPRA_OK) {
		fprintf(stderr, "bench_inventory: %s\n", opra_err_msg());
		return 1;
	}
	cleanup(d);
	if (setup(d, n, sid, sizeof(sid)) != OPRA_OK) {
		fprintf(stderr, "bench_inventory: setup: %s\n", opra_err_msg());
		cleanup(d);
		return 1;
	}
	rpc_options o = {.n_urls = 1, .token = token, .timeout_ms = 30000};
	o.urls[0] = server;
	rpc_client *c = NULL;
	rpc_client_open(&c, &o);
	double *sel = calloc((size_t)runs, sizeof(double)),
	       *rpc = calloc((size_t)runs, sizeof(double));
	int failed = 0;
	for (long i = 0; i < runs && !failed; i++) {
		PGresult *r = NULL;
		const char *p[1] = {sid};
		long long t0 = opra_now_us();
		if (db_exec(&r, d, 1,
			    "SELECT a.name, a.type, a.owner, a.description, a.tags::text, "
			    "a.version "
			    "FROM service_assets l JOIN assets a ON a.id = l.asset_id "
			    "WHERE l.service_id = $1::bigint AND a.removed_at IS NULL "
			    "ORDER BY a.type, a.name",
			    1, p) != OPRA_OK ||
		    PQntuples(r) != n)
			failed = 1;
		sel[i] = (double)(opra_now_us() - t0) / 1000.0;
		PQclear(r);

		Opra__V1__InventoryShowRequest req = OPRA__V1__INVENTORY_SHOW_REQUEST__INIT;
		Opra__V1__InventoryShowReply *resp = NULL;
		req.name = "bench-svc";
		t0 = opra_now_us();
		if (rpc_call(c, "opra.v1.Inventory/Show", &req.base,
			     &opra__v1__inventory_show_reply__descriptor,
			     (ProtobufCMessage **)&resp, NULL) != OPRA_OK ||
		    resp->n_services != 1 || (long)resp->services[0]->n_assets != n) {
			fprintf(stderr, "bench_inventory: show: %s\n", opra_err_msg());
			failed = 1;
		}
		rpc[i] = (double)(opra_now_us() - t0) / 1000.0;
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	cleanup(d);
	if (!failed) {
		qsort(sel, (size_t)runs, sizeof(double), cmp_d);
		qsort(rpc, (size_t)runs, sizeof(double), cmp_d);
		printf("inventory show for a service with %ld assets (median of %ld runs)\n\n", n,
		       runs);
		printf("  %-40s %8.2f ms\n", "plain SELECT of the same rows (libpq)",
		       sel[runs / 2]);
		printf("  %-40s %8.2f ms  (p90 %.2f ms)\n", "Inventory/Show over RPC, end to end",
		       rpc[runs / 2], rpc[runs * 9 / 10]);
		printf("  ratio: %.2fx the SELECT (goal: under 50 ms)\n",
		       rpc[runs / 2] / sel[runs / 2]);
		char fig[64], ours[32], base[32];
		snprintf(fig, sizeof(fig), "inventory show, %ld assets, time", n);
		snprintf(ours, sizeof(ours), "%.2f ms", rpc[runs / 2]);
		snprintf(base, sizeof(base), "%.2f ms SELECT", sel[runs / 2]);
		bench_summary(fig, ours, base, rpc[runs / 2] / sel[runs / 2], "< 50 ms",
			      rpc[runs / 2] < 50.0);
	}
	free(sel);
	free(rpc);
	rpc_client_close(c);
	db_close(d);
	return failed;
}
