/* The LISTEN side of the live feed: one thread with ONE PostgreSQL
 * connection that LISTENs on channel opra_events (append_event NOTIFYs it
 * with the appraisal id when the event's transaction commits, so it works
 * across several oprad processes on one database) and reports each
 * notification through a callback. Parked watchers themselves hold no
 * connection: they wait in rpcserver's list until this wakes them.
 *
 * The connection is made and remade without blocking the thread's stop
 * (PQconnectStart/PQconnectPoll); after every (re)connect the callback is
 * told -1 ("anything may have changed"), since notifications sent while it
 * was down are lost. */
#ifndef OPRA_NOTIFY_H
#define OPRA_NOTIFY_H

typedef struct notify_listener notify_listener;

/* Called on the listener's thread: appraisal id, or -1 after a (re)connect.
 * Must not block for long. */
typedef void (*notify_fn)(void *arg, long long appraisal_id);

/* Starts the thread; it connects in the background (the server starts even
 * while PostgreSQL is briefly away). Caller stops with notify_stop. */
int notify_start(notify_listener **out, const char *conninfo, notify_fn fn, void *arg);
/* Stops the thread promptly, closes the connection and frees. NULL-safe. */
void notify_stop(notify_listener *n);
/* Whether the LISTEN connection is up now (watchers poll more often when
 * it is not). */
int notify_connected(notify_listener *n);

#endif
