#include "testlib.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static PGconn *admin_conn(void)
{
	const char *base = getenv("OPRA_TEST_DB");
	if (base == NULL || *base == '\0') {
		printf("skipped: OPRA_TEST_DB is not set (scripts/test.sh starts a "
		       "throwaway PostgreSQL and sets it)\n");
		exit(TESTLIB_SKIP);
	}
	PGconn *c = PQconnectdb(base);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to OPRA_TEST_DB: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static void db_name(char *out, size_t size, const char *name)
{
	snprintf(out, size, "opra_test_%s_%ld", name, (long)getpid());
}

void testlib_fresh_db(char *out, size_t size, const char *name)
{
	char db[128];
	char sql[512];
	db_name(db, sizeof(db), name);
	PGconn *c = admin_conn();
	char *ident = PQescapeIdentifier(c, db, strlen(db));
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", ident);
	PQclear(PQexec(c, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "cannot create test database %s: %s", db, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
	PQfreemem(ident);
	PQfinish(c);
	snprintf(out, size, "%s dbname=%s", getenv("OPRA_TEST_DB"), db);
}

void testlib_drop_db(const char *name)
{
	char db[128];
	char sql[512];
	db_name(db, sizeof(db), name);
	PGconn *c = admin_conn();
	char *ident = PQescapeIdentifier(c, db, strlen(db));
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	PQclear(PQexec(c, sql));
	PQfreemem(ident);
	PQfinish(c);
}
