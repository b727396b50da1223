/* The embedded PostgreSQL cluster: `oprad` without --db creates (initdb) and
 * runs a private cluster under STATE_DIR/pg, reachable only through a unix
 * socket in STATE_DIR/run (no TCP), and stops it on exit. As root, the
 * cluster runs as an unprivileged user (PostgreSQL refuses to run as root). */
#ifndef OPRA_PGEMBED_H
#define OPRA_PGEMBED_H

typedef struct pgembed pgembed;

typedef struct {
	const char *state_dir; /* created 0700 if missing */
	const char *bin_dir;   /* PostgreSQL bin dir; NULL: $OPRA_PG_BINDIR, then the newest
				  /usr/lib/postgresql/N/bin, then PATH */
	const char *run_as;    /* when root: user that runs postgres; NULL: "postgres", else
				  "nobody" */
} pgembed_options;

/* Takes STATE_DIR/oprad.lock (one oprad per state dir), creates the cluster
 * on first use, starts it (or adopts one left running by a crashed oprad),
 * and creates the database "opra". Every failure says what to do:
 * PostgreSQL binaries missing (apt-get install postgresql, or use --db), the
 * state dir owned by someone else or with group/other access, the socket
 * path too long, another oprad holding the lock, postgres failing to start
 * (with the tail of STATE_DIR/postgres.log). On success *out is owned by the
 * caller: stop with pgembed_stop. */
int pgembed_start(pgembed **out, const pgembed_options *opts);
/* The libpq connection string for the running cluster. */
const char *pgembed_conninfo(const pgembed *pg);
/* Stops the cluster (fast shutdown), releases the lock and frees pg.
 * NULL-safe. */
void pgembed_stop(pgembed *pg);

#endif
