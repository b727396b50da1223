#include "notify.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"

#include <libpq-fe.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct notify_listener {
	char *conninfo;
	notify_fn fn;
	void *arg;
	pthread_t thread;
	int started;
	int stop_pipe[2]; /* written once by notify_stop */
	atomic_int connected;
};

/* Waits until fd is ready for `events` or the stop pipe is written, at most
 * ms. 1: ready, 0: timeout, -1: stop. */
static int wait_fd(notify_listener *n, int fd, short events, int ms)
{
	struct pollfd p[2] = {{.fd = n->stop_pipe[0], .events = POLLIN},
			      {.fd = fd, .events = events}};
	int rv = poll(p, fd >= 0 ? 2 : 1, ms);
	if (rv < 0)
		return errno == EINTR ? 0 : -1;
	if (p[0].revents)
		return -1;
	return rv > 0 ? 1 : 0;
}

/* Connects without blocking the stop. NULL when stopped or failed. */
static PGconn *connect_listener(notify_listener *n, int *stopped)
{
	PGconn *conn = PQconnectStart(n->conninfo);
	*stopped = 0;
	if (conn == NULL)
		return NULL;
	if (PQstatus(conn) == CONNECTION_BAD)
		goto fail;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			goto fail;
		int r = wait_fd(n, PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
				10000);
		if (r < 0) {
			*stopped = 1;
			goto fail;
		}
		if (r == 0)
			goto fail; /* 10 s without progress */
		st = PQconnectPoll(conn);
	}
	PGresult *res = PQexec(conn, "LISTEN opra_events");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok)
		goto fail;
	return conn;
fail:
	if (!*stopped)
		log_warn("the live feed cannot LISTEN on PostgreSQL (%s); watchers fall back to "
			 "polling every second until it can",
			 PQerrorMessage(conn));
	PQfinish(conn);
	return NULL;
}

static void *listener_main(void *arg)
{
	notify_listener *n = arg;
	PGconn *conn = NULL;

	for (;;) {
		if (conn == NULL) {
			int stopped = 0;
			conn = connect_listener(n, &stopped);
			if (stopped)
				break;
			if (conn == NULL) {
				if (wait_fd(n, -1, 0, 1000) < 0)
					break;
				continue;
			}
			atomic_store(&n->connected, 1);
			n->fn(n->arg, -1);
		}
		int r = wait_fd(n, PQsocket(conn), POLLIN, 5000);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		if (!PQconsumeInput(conn)) {
			log_warn("the live feed lost its PostgreSQL connection (%s); reconnecting",
				 PQerrorMessage(conn));
			atomic_store(&n->connected, 0);
			PQfinish(conn);
			conn = NULL;
			continue;
		}
		PGnotify *note;
		while ((note = PQnotifies(conn)) != NULL) {
			char *end = NULL;
			long long id = strtoll(note->extra ? note->extra : "", &end, 10);
			if (end && end != note->extra && *end == '\0' && id > 0)
				n->fn(n->arg, id);
			PQfreemem(note);
		}
	}
	atomic_store(&n->connected, 0);
	PQfinish(conn);
	return NULL;
}

int notify_start(notify_listener **out, const char *conninfo, notify_fn fn, void *arg)
{
	notify_listener *n = NULL;
	*out = NULL;
	n = opra_calloc(1, sizeof(*n));
	if (n == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	n->stop_pipe[0] = n->stop_pipe[1] = -1;
	n->fn = fn;
	n->arg = arg;
	if ((n->conninfo = opra_strdup(conninfo ? conninfo : "")) == NULL) {
		notify_stop(n);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	if (pipe(n->stop_pipe) != 0) {
		notify_stop(n);
		return opra_err_set(OPRA_INTERNAL, "cannot create a pipe for the live feed");
	}
	fcntl(n->stop_pipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(n->stop_pipe[1], F_SETFD, FD_CLOEXEC);
	if (pthread_create(&n->thread, NULL, listener_main, n) != 0) {
		notify_stop(n);
		return opra_err_set(OPRA_INTERNAL, "cannot start the live feed's thread");
	}
	n->started = 1;
	*out = n;
	return OPRA_OK;
}

void notify_stop(notify_listener *n)
{
	if (n == NULL)
		return;
	if (n->started) {
		ssize_t w;
		do
			w = write(n->stop_pipe[1], "x", 1);
		while (w < 0 && errno == EINTR);
		pthread_join(n->thread, NULL);
	}
	if (n->stop_pipe[0] >= 0)
		close(n->stop_pipe[0]);
	if (n->stop_pipe[1] >= 0)
		close(n->stop_pipe[1]);
	opra_free(n->conninfo);
	opra_free(n);
}

int notify_connected(notify_listener *n)
{
	return n != NULL && atomic_load(&n->connected);
}
