/* opra watch [APPRAISAL] [--after ID] [--once]: the live feed.
 *
 * A loop of Events/Watch long polls. The cursor lives in the client: after
 * an error (server restarted, network gone) it reconnects with backoff and
 * goes on from the last event it printed, so nothing is missed or printed
 * twice. Each event is one line (human) or one JSON object per line (--json,
 * JSON Lines, flushed per line). */
#include "cli.h"

#include "opra_err.h"

#include "opra/v1/events.pb-c.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* SIGINT/SIGTERM end the watch with exit 0. Output is flushed after every
 * line, so nothing is pending; the blocking receive is not interrupted by a
 * signal in nng, hence _exit. */
static void watch_signal(int sig)
{
	(void)sig;
	_exit(0);
}

/* A JSON text field as a JSON value; "" (SQL NULL) is null; text that
 * does not parse stays a string. */
static json_t *json_value(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return json_null();
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(text);
}

/* The JSON object of one event (shared with opra audit). NULL when memory
 * runs out. */
json_t *cli_event_json(const Opra__V1__Event *e)
{
	json_t *o = json_object();
	if (o == NULL || json_object_set_new(o, "id", json_integer(e->id)) ||
	    json_object_set_new(o, "seq", json_integer(e->seq)) ||
	    json_object_set_new(o, "appraisal", out_jstr(e->appraisal, false)) ||
	    json_object_set_new(o, "at", out_jstr(e->at, false)) ||
	    json_object_set_new(o, "actor", out_jstr(e->actor, false)) ||
	    json_object_set_new(o, "client_id", out_jstr(e->client_id, true)) ||
	    json_object_set_new(o, "site", out_jstr(e->site, true)) ||
	    json_object_set_new(o, "peer", out_jstr(e->peer, true)) ||
	    json_object_set_new(o, "method", out_jstr(e->method, false)) ||
	    json_object_set_new(o, "object", out_jstr(e->object, false)) ||
	    json_object_set_new(o, "before", json_value(e->before)) ||
	    json_object_set_new(o, "after", json_value(e->after)) ||
	    json_object_set_new(o, "hash", out_jstr(e->hash, false))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One human line: AT  APPRAISAL#SEQ  ACTOR@SITE  METHOD  OBJECT  (id N) */
void cli_event_line(FILE *f, const Opra__V1__Event *e)
{
	out_put_safe(f, e->at);
	fputs("  ", f);
	out_put_safe(f, e->appraisal);
	fprintf(f, "#%lld  ", (long long)e->seq);
	out_put_safe(f, e->actor);
	if (e->site[0]) {
		fputc('@', f);
		out_put_safe(f, e->site);
	}
	fputs("  ", f);
	out_put_safe(f, e->method);
	fputs("  ", f);
	out_put_safe(f, e->object);
	fprintf(f, "  (id %lld)\n", (long long)e->id);
}

static int retryable(int rc)
{
	return rc == OPRA_UNAVAILABLE || rc == OPRA_DEADLINE_EXCEEDED ||
	       rc == OPRA_RESOURCE_EXHAUSTED;
}

int cmd_watch(cli_ctx *ctx, const cli_args *args)
{
	const char *appraisal = args->argc > 0 ? args->argv[0] : "";
	const char *after_text = cli_opt(args, "--after");
	int once = cli_opt(args, "--once") != NULL;
	long long after_id = -1; /* -1: from now */
	long long cursor = -1;	 /* the server's cursor once known */
	int backoff_ms = 250, warned = 0;
	FILE *f = ctx->out->out;

	if (after_text) {
		char *end = NULL;
		long long v = strtoll(after_text, &end, 10);
		if (after_text[0] == '\0' || *end != '\0' || v < 0)
			return cli_usage(ctx, "--after needs an event id (0 for every event)");
		after_id = v;
	}
	/* The long poll waits up to wait_ms on the server; the call's timeout
	 * must leave room for the answer. */
	int timeout_ms = ctx->cfg->timeout_ms > 0 ? ctx->cfg->timeout_ms : RPC_DEFAULT_TIMEOUT_MS;
	unsigned wait_ms =
		timeout_ms > 10000 ? (unsigned)(timeout_ms - 5000) : (unsigned)(timeout_ms / 2);
	if (wait_ms > 25000)
		wait_ms = 25000;
	signal(SIGINT, watch_signal);
	signal(SIGTERM, watch_signal);

	for (;;) {
		Opra__V1__WatchRequest q = OPRA__V1__WATCH_REQUEST__INIT;
		Opra__V1__WatchReply *r = NULL;
		int polling = 1;
		q.appraisal = (char *)appraisal;
		q.wait_ms = wait_ms;
		if (cursor >= 0) {
			q.after = cursor;
		} else if (after_id < 0) {
			q.after = -1; /* the server answers the current cursor at once */
			polling = 0;
		} else if (appraisal[0] && after_id > 0) {
			q.after_id = after_id;
		} else {
			q.after = after_id;
		}
		int rc =
			rpc_call(ctx->rpc, "opra.v1.Events/Watch", &q.base,
				 &opra__v1__watch_reply__descriptor, (ProtobufCMessage **)&r, NULL);
		if (rc != OPRA_OK) {
			if (!retryable(rc))
				return cli_fail(ctx, rc);
			if (!warned || backoff_ms >= 8000)
				out_warn(ctx->out, "%s; reconnecting in %.1f s", opra_err_msg(),
					 backoff_ms / 1000.0);
			warned = 1;
			struct timespec ts = {backoff_ms / 1000,
					      (long)(backoff_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			if (backoff_ms < 10000)
				backoff_ms *= 2;
			continue;
		}
		if (warned)
			out_note(ctx->out, "reconnected\n");
		warned = 0;
		backoff_ms = 250;
		for (size_t i = 0; i < r->n_events; i++) {
			const Opra__V1__Event *e = r->events[i];
			if (ctx->out->json) {
				json_t *o = cli_event_json(e);
				if (o == NULL || json_dumpf(o, f, JSON_COMPACT) != 0) {
					json_decref(o);
					protobuf_c_message_free_unpacked(&r->base, NULL);
					return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED,
							 "out of memory", NULL);
				}
				json_decref(o);
				fputc('\n', f);
			} else {
				cli_event_line(f, e);
			}
			fflush(f);
		}
		cursor = r->cursor;
		size_t n = r->n_events;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (ferror(f))
			return 1; /* stdout closed (e.g. a pipe's reader left) */
		if (once && (polling || n > 0))
			return 0;
	}
}
