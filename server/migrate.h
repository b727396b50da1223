/* Schema migrations: numbered files in sql/ compiled into the binary
 * (gen/sql_migrations.c), applied in order, each in its own transaction,
 * recorded in the table schema_migrations. */
#ifndef OPRA_MIGRATE_H
#define OPRA_MIGRATE_H

#include "db.h"

typedef struct {
	int version;	  /* from the file name: 001_init.sql -> 1 */
	const char *name; /* file name */
	const char *sql;  /* file text */
} migration;

extern const migration opra_migrations[];
extern const int opra_migrations_count;

/* The highest version this binary knows. */
int migrate_latest(void);
/* The highest version applied to the database (0 for an empty database). */
int migrate_current(db *d, int *version);
/* Applies every missing migration. Serialised across processes by an
 * advisory lock, so several oprad processes may start at once. Refuses a
 * database whose version is newer than this binary (FAILED_PRECONDITION,
 * "database schema is at version N but this oprad knows only up to M").
 * *applied (may be NULL) gets the number of migrations applied now. */
int migrate_apply(db *d, int *applied);

#endif
