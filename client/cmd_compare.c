/* opra compare APPRAISAL... [--by pa|unit] (issue 8, docs/compare.md):
 * capability levels side by side with each appraisal's targets.
 *
 * Everything comes from opra.v1.Rating/Show in its summary form (process
 * areas, goal ratings, gap and blocking goals; no practice cells), one call
 * per appraisal, so each appraisal is rated by the server exactly as
 * `opra rating show` rates it. --by pa lines the process areas up: the
 * same model and process area, or, across models, a process area mapped
 * through the crosswalk (opra.v1.Model/Map, docs/models.md); what has no
 * counterpart is listed as not compared. With exactly two appraisals it
 * also lists the goals whose rating changed. --by unit shows, per
 * appraisal, each unit's result next to the organisation's and names the
 * units below it. */
#include "cli.h"

#include "opra_err.h"

#include "opra/v1/model.pb-c.h"
#include "opra/v1/rating.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const M_SHOW = "opra.v1.Rating/Show";
static const char *const M_MAP = "opra.v1.Model/Map";

/* The most appraisals one comparison takes: a table wider than this is
 * not readable, and each one is a full rating on the server. */
#define COMPARE_MAX 16

enum { MATCH_NONE = 0, MATCH_SAME, MATCH_CROSSWALK };

static const char *const match_names[] = {"none", "same", "crosswalk"};

typedef struct {
	const char *model, *id, *name; /* from the first appraisal that has it */
	int at[COMPARE_MAX];	       /* index in appraisal k's process_areas, or -1 */
	int how[COMPARE_MAX];	       /* MATCH_* */
	bool confirmed[COMPARE_MAX];   /* crosswalk matches: confirmed by a source */
} cmp_row;

typedef struct {
	int n;
	const char *names[COMPARE_MAX];
	Opra__V1__RatingShowReply *r[COMPARE_MAX];
	bool *used[COMPARE_MAX]; /* process areas already on a row */
	cmp_row *rows;
	size_t n_rows;
	char **notes; /* sentences for the user (owned) */
	size_t n_notes;
} cmp;

static int oom(cli_ctx *ctx)
{
	return out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
}

static void cmp_free(cmp *c)
{
	for (int k = 0; k < c->n; k++) {
		if (c->r[k])
			protobuf_c_message_free_unpacked(&c->r[k]->base, NULL);
		free(c->used[k]);
	}
	free(c->rows);
	for (size_t i = 0; i < c->n_notes; i++)
		free(c->notes[i]);
	free(c->notes);
}

static int note(cmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note(cmp *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char **n = realloc(c->notes, (c->n_notes + 1) * sizeof(*n));
	if (n == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	c->notes = n;
	if ((c->notes[c->n_notes] = strdup(buf)) == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	c->n_notes++;
	return OPRA_OK;
}

static bool is_rated(const Opra__V1__PaRating *pa)
{
	return strcmp(pa->status, "rated") == 0;
}

static int rated_count(const Opra__V1__RatingShowReply *r)
{
	int n = 0;
	for (size_t i = 0; i < r->n_process_areas; i++)
		n += is_rated(r->process_areas[i]);
	return n;
}

/* The process area of appraisal k with this model and id, not on a row
 * yet; -1 when none. */
static int find_pa(const cmp *c, int k, const char *model, const char *id)
{
	const Opra__V1__RatingShowReply *r = c->r[k];
	for (size_t i = 0; i < r->n_process_areas; i++)
		if (!c->used[k][i] && strcasecmp(r->process_areas[i]->model, model) == 0 &&
		    strcasecmp(r->process_areas[i]->id, id) == 0)
			return (int)i;
	return -1;
}

/* A counterpart of row's process area in appraisal k through the
 * crosswalk of map (process-area mappings, and practice mappings by the
 * process area of the practice), in either direction. */
static int find_mapped(const cmp *c, int k, const Opra__V1__ModelMapResponse *map, bool *confirmed)
{
	for (size_t i = 0; map && i < map->n_results; i++) {
		const Opra__V1__MapResult *res = map->results[i];
		for (size_t e = 0; e < res->n_entries; e++) {
			const Opra__V1__MapEntry *en = res->entries[e];
			char pa[128];
			if (en->model[0] == '\0')
				continue; /* a code of practice */
			if (en->process_area[0]) {
				snprintf(pa, sizeof(pa), "%s", en->process_area);
			} else if (en->practice[0]) {
				const char *colon = strchr(en->practice, ':');
				size_t len = colon ? (size_t)(colon - en->practice) : 0;
				if (len == 0 || len >= sizeof(pa))
					continue;
				memcpy(pa, en->practice, len);
				pa[len] = '\0';
			} else {
				continue;
			}
			int at = find_pa(c, k, en->model, pa);
			if (at >= 0) {
				*confirmed = !en->unconfirmed;
				return at;
			}
		}
	}
	return -1;
}

/* Lines the process areas of all appraisals up into rows. */
static int build_rows(cli_ctx *ctx, cmp *c)
{
	size_t total = 0;
	for (int k = 0; k < c->n; k++)
		total += c->r[k]->n_process_areas;
	c->rows = calloc(total + 1, sizeof(*c->rows));
	if (c->rows == NULL)
		return oom(ctx);
	for (int k = 0; k < c->n; k++) {
		const Opra__V1__RatingShowReply *r = c->r[k];
		for (size_t i = 0; i < r->n_process_areas; i++) {
			if (c->used[k][i])
				continue;
			const Opra__V1__PaRating *pa = r->process_areas[i];
			cmp_row *row = &c->rows[c->n_rows++];
			row->model = pa->model;
			row->id = pa->id;
			row->name = pa->name;
			for (int j = 0; j < c->n; j++)
				row->at[j] = -1;
			row->at[k] = (int)i;
			row->how[k] = MATCH_SAME;
			c->used[k][i] = true;
			Opra__V1__ModelMapResponse *map = NULL;
			bool map_asked = false;
			for (int j = k + 1; j < c->n; j++) {
				int at = find_pa(c, j, pa->model, pa->id);
				bool confirmed = true;
				int how = MATCH_SAME;
				if (at < 0) {
					if (!map_asked) {
						Opra__V1__ModelMapRequest req =
							OPRA__V1__MODEL_MAP_REQUEST__INIT;
						req.practice = pa->id;
						req.model = pa->model;
						map_asked = true;
						/* a model without a crosswalk is not an
						 * error: nothing maps */
						if (rpc_call(
							    ctx->rpc, M_MAP, &req.base,
							    &opra__v1__model_map_response__descriptor,
							    (ProtobufCMessage **)&map,
							    NULL) != OPRA_OK)
							map = NULL;
					}
					at = find_mapped(c, j, map, &confirmed);
					how = MATCH_CROSSWALK;
				}
				if (at >= 0) {
					row->at[j] = at;
					row->how[j] = how;
					row->confirmed[j] = confirmed;
					c->used[j][at] = true;
				}
			}
			if (map)
				protobuf_c_message_free_unpacked(&map->base, NULL);
		}
	}
	return 0;
}

/* ---- JSON ---- */

static json_t *jstr(const char *s)
{
	return out_jstr(s, false);
}

/* One appraisal's process area in a comparison: level, target, the
 * difference to the target (level - target; null unless rated) and gap. */
static json_t *pa_cell_json(const Opra__V1__PaRating *pa)
{
	bool rated = is_rated(pa);
	json_t *o = json_object();
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "id", jstr(pa->id)) ||
	    json_object_set_new(o, "model", jstr(pa->model)) ||
	    json_object_set_new(o, "status", jstr(pa->status)) ||
	    json_object_set_new(o, "capability_level",
				rated ? json_integer(pa->capability_level) : json_null()) ||
	    json_object_set_new(o, "level_reached",
				strcmp(pa->status, "out-of-scope") == 0
					? json_null()
					: json_integer(pa->level_reached)) ||
	    json_object_set_new(o, "target_level", json_integer(pa->target_level)) ||
	    json_object_set_new(o, "difference",
				rated ? json_integer(pa->capability_level - pa->target_level)
				      : json_null()) ||
	    json_object_set_new(o, "gap", pa->gap >= 0 ? json_integer(pa->gap) : json_null()) ||
	    json_object_set_new(o, "next_level",
				pa->next_level > 0 ? json_integer(pa->next_level) : json_null())) {
		json_decref(o);
		return NULL;
	}
	json_t *bl = json_array();
	if (json_object_set_new(o, "blocking", bl) != 0) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < pa->n_blocking; i++) {
		const Opra__V1__BlockingGoal *b = pa->blocking[i];
		json_t *x = json_object(), *ps = json_array();
		bool ok = x && ps && json_object_set_new(x, "goal", jstr(b->id)) == 0 &&
			  json_object_set_new(x, "rating", jstr(b->rating)) == 0;
		for (size_t k = 0; ok && k < b->n_practices; k++)
			ok = json_array_append_new(ps, jstr(b->practices[k]->id)) == 0;
		ok = ok && json_object_set(x, "practices", ps) == 0 &&
		     json_array_append(bl, x) == 0;
		json_decref(x);
		json_decref(ps);
		if (!ok) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *str_list(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, jstr(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *appraisal_json(const Opra__V1__RatingShowReply *r)
{
	json_t *o = json_object();
	if (o == NULL || json_object_set_new(o, "appraisal", jstr(r->appraisal)) ||
	    json_object_set_new(o, "sealed", json_boolean(r->sealed)) ||
	    json_object_set_new(o, "instances", str_list(r->instances, r->n_instances)) ||
	    json_object_set_new(o, "process_areas", json_integer((json_int_t)r->n_process_areas)) ||
	    json_object_set_new(o, "rated", json_integer(rated_count(r)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The goal changes between appraisals 0 and 1 on rows both have as the
 * same process area. A goal above the target in one of them reads as
 * "above-target" there (it does not count). */
static const char *goal_state(const Opra__V1__GoalRating *g)
{
	return g->above_target ? "above-target" : g->rating;
}

typedef int (*change_fn)(void *arg, const cmp_row *row, const Opra__V1__GoalRating *a,
			 const Opra__V1__GoalRating *b);

static int each_change(const cmp *c, change_fn fn, void *arg)
{
	for (size_t i = 0; c->n == 2 && i < c->n_rows; i++) {
		const cmp_row *row = &c->rows[i];
		if (row->how[0] != MATCH_SAME || row->how[1] != MATCH_SAME)
			continue;
		const Opra__V1__PaRating *pa = c->r[0]->process_areas[row->at[0]];
		const Opra__V1__PaRating *pb = c->r[1]->process_areas[row->at[1]];
		for (size_t g = 0; g < pa->n_goals; g++)
			for (size_t h = 0; h < pb->n_goals; h++) {
				if (strcmp(pa->goals[g]->id, pb->goals[h]->id) != 0)
					continue;
				if (strcmp(goal_state(pa->goals[g]), goal_state(pb->goals[h])) !=
				    0) {
					int rc = fn(arg, row, pa->goals[g], pb->goals[h]);
					if (rc != 0)
						return rc;
				}
				break;
			}
	}
	return 0;
}

static int change_json(void *arg, const cmp_row *row, const Opra__V1__GoalRating *a,
		       const Opra__V1__GoalRating *b)
{
	json_t *o = json_object();
	if (o == NULL)
		return -1;
	if (json_object_set_new(o, "process_area", jstr(row->id)) ||
	    json_object_set_new(o, "model", jstr(row->model)) ||
	    json_object_set_new(o, "goal", jstr(a->id)) ||
	    json_object_set_new(o, "from", jstr(goal_state(a))) ||
	    json_object_set_new(o, "to", jstr(goal_state(b)))) {
		json_decref(o);
		return -1;
	}
	return json_array_append_new((json_t *)arg, o) ? -1 : 0;
}

static bool same_instances(const cmp *c)
{
	const Opra__V1__RatingShowReply *a = c->r[0], *b = c->r[1];
	if (a->n_instances != b->n_instances)
		return false;
	for (size_t i = 0; i < a->n_instances; i++)
		if (strcmp(a->instances[i], b->instances[i]) != 0)
			return false;
	return true;
}

static json_t *by_pa_json(const cmp *c)
{
	json_t *doc = json_object(), *aps = json_array(), *rows = json_array(),
	       *not_cmp = json_array(), *notes = json_array();
	if (!doc || !aps || !rows || !not_cmp || !notes)
		goto fail;
	for (int k = 0; k < c->n; k++)
		if (json_array_append_new(aps, appraisal_json(c->r[k])) != 0)
			goto fail;
	for (size_t i = 0; i < c->n_rows; i++) {
		const cmp_row *row = &c->rows[i];
		json_t *o = json_object(), *cells = json_array();
		int present = 0;
		if (o == NULL || cells == NULL) {
			json_decref(o);
			json_decref(cells);
			goto fail;
		}
		for (int k = 0; k < c->n; k++) {
			json_t *cell;
			if (row->at[k] < 0) {
				cell = json_object();
				if (cell)
					json_object_set_new(cell, "status", jstr("absent"));
			} else {
				present++;
				cell = pa_cell_json(c->r[k]->process_areas[row->at[k]]);
				if (cell && row->how[k] == MATCH_CROSSWALK)
					json_object_set_new(cell, "confirmed",
							    json_boolean(row->confirmed[k]));
			}
			if (cell == NULL ||
			    json_object_set_new(cell, "appraisal", jstr(c->names[k])) ||
			    json_object_set_new(cell, "match", jstr(match_names[row->how[k]])) ||
			    json_array_append_new(cells, cell)) {
				json_decref(o);
				json_decref(cells);
				goto fail;
			}
		}
		json_t *change = json_null();
		if (c->n == 2 && row->at[0] >= 0 && row->at[1] >= 0) {
			const Opra__V1__PaRating *a = c->r[0]->process_areas[row->at[0]];
			const Opra__V1__PaRating *b = c->r[1]->process_areas[row->at[1]];
			if (is_rated(a) && is_rated(b))
				change = json_integer(b->capability_level - a->capability_level);
		}
		bool all = present == c->n;
		if (json_object_set_new(o, "id", jstr(row->id)) ||
		    json_object_set_new(o, "model", jstr(row->model)) ||
		    json_object_set_new(o, "name", jstr(row->name)) ||
		    json_object_set_new(o, "compared", json_boolean(all)) ||
		    json_object_set_new(o, "level_change", change) ||
		    json_object_set_new(o, "appraisals", cells) || json_array_append_new(rows, o))
			goto fail;
		if (!all && c->n > 1) {
			for (int k = 0; k < c->n; k++) {
				if (row->at[k] >= 0)
					continue;
				json_t *x = json_object();
				char msg[512];
				snprintf(msg, sizeof(msg),
					 "%s has no %s (%s) and no process area mapped to it "
					 "through the crosswalk",
					 c->names[k], row->id, row->model);
				if (x == NULL || json_object_set_new(x, "id", jstr(row->id)) ||
				    json_object_set_new(x, "model", jstr(row->model)) ||
				    json_object_set_new(x, "missing_in", jstr(c->names[k])) ||
				    json_object_set_new(x, "message", jstr(msg)) ||
				    json_array_append_new(not_cmp, x))
					goto fail;
			}
		}
	}
	for (size_t i = 0; i < c->n_notes; i++)
		if (json_array_append_new(notes, jstr(c->notes[i])) != 0)
			goto fail;
	if (json_object_set_new(doc, "by", jstr("pa")) || json_object_set(doc, "appraisals", aps) ||
	    json_object_set(doc, "process_areas", rows) ||
	    json_object_set(doc, "not_compared", not_cmp) || json_object_set(doc, "notes", notes))
		goto fail;
	if (c->n == 2) {
		json_t *ch = json_array();
		if (ch == NULL || json_object_set_new(doc, "goal_changes", ch) ||
		    each_change(c, change_json, ch) != 0 ||
		    json_object_set_new(doc, "same_scope", json_boolean(same_instances(c))))
			goto fail;
	}
	json_decref(aps);
	json_decref(rows);
	json_decref(not_cmp);
	json_decref(notes);
	return doc;
fail:
	json_decref(aps);
	json_decref(rows);
	json_decref(not_cmp);
	json_decref(notes);
	json_decref(doc);
	return NULL;
}

/* ---- human ---- */

#define CELL_W 96

/* "CL1/2 (-1)": level/target (difference); "-/1" not rated; "n/a" out of
 * scope; "(absent)"; crosswalk matches prefixed with their id and "~". */
static void cell_text(char *buf, const cmp *c, const cmp_row *row, int k)
{
	char lv[16];
	if (row->at[k] < 0) {
		snprintf(buf, CELL_W, "(absent)");
		return;
	}
	const Opra__V1__PaRating *pa = c->r[k]->process_areas[row->at[k]];
	char via[48] = "";
	if (row->how[k] == MATCH_CROSSWALK)
		snprintf(via, sizeof(via), "%.32s%s ", pa->id, row->confirmed[k] ? "~" : "~?");
	const char *l = rating_level_cell(pa, lv);
	if (strcmp(l, "n/a") == 0)
		snprintf(buf, CELL_W, "%sn/a", via);
	else if (is_rated(pa))
		snprintf(buf, CELL_W, "%s%s/%d (%+d)", via, l, pa->target_level,
			 pa->capability_level - pa->target_level);
	else
		snprintf(buf, CELL_W, "%s-/%d", via, pa->target_level);
}

static int print_change(void *arg, const cmp_row *row, const Opra__V1__GoalRating *a,
			const Opra__V1__GoalRating *b)
{
	FILE *f = arg;
	fputs("  ", f);
	out_put_safe(f, row->id);
	fputc(' ', f);
	out_put_safe(f, a->id);
	fputs("  ", f);
	out_put_safe(f, goal_state(a));
	fputs(" -> ", f);
	out_put_safe(f, goal_state(b));
	fputc('\n', f);
	return 0;
}

static int by_pa_text(cli_ctx *ctx, const cmp *c)
{
	FILE *f = ctx->out->out;
	size_t ncols = 2 + (size_t)c->n + (c->n == 2);
	const char **headers = calloc(ncols, sizeof(*headers));
	const char **row = calloc(ncols, sizeof(*row));
	char *cells = calloc((c->n_rows + 1) * ((size_t)c->n + 1), CELL_W);
	out_table t;
	int rc = 0;

	if (!headers || !row || !cells) {
		free(headers);
		free(row);
		free(cells);
		return oom(ctx);
	}
	headers[0] = "PA";
	headers[1] = "MODEL";
	for (int k = 0; k < c->n; k++)
		headers[2 + k] = c->names[k];
	if (c->n == 2)
		headers[2 + c->n] = "CHANGE";
	out_table_init(&t, ncols, headers);
	for (size_t i = 0; rc == 0 && i < c->n_rows; i++) {
		const cmp_row *r = &c->rows[i];
		char *base = cells + i * ((size_t)c->n + 1) * CELL_W;
		row[0] = r->id;
		row[1] = r->model;
		for (int k = 0; k < c->n; k++) {
			cell_text(base + (size_t)k * CELL_W, c, r, k);
			row[2 + k] = base + (size_t)k * CELL_W;
		}
		if (c->n == 2) {
			char *ch = base + (size_t)c->n * CELL_W;
			snprintf(ch, CELL_W, "-");
			if (r->at[0] >= 0 && r->at[1] >= 0) {
				const Opra__V1__PaRating *a = c->r[0]->process_areas[r->at[0]];
				const Opra__V1__PaRating *b = c->r[1]->process_areas[r->at[1]];
				if (is_rated(a) && is_rated(b))
					snprintf(ch, CELL_W, "%+d",
						 b->capability_level - a->capability_level);
			}
			row[2 + c->n] = ch;
		}
		if (out_table_add(&t, row) != OPRA_OK)
			rc = oom(ctx);
	}
	if (rc == 0) {
		out_table_print(ctx->out, &t);
		if (!ctx->out->quiet)
			fputs("(level/target (difference to target); - not rated; n/a out of "
			      "scope; "
			      "X~ compared through the crosswalk, X~? through an unconfirmed "
			      "mapping)\n",
			      f);
		for (size_t i = 0; i < c->n_rows; i++) {
			const cmp_row *r = &c->rows[i];
			for (int k = 0; c->n > 1 && k < c->n; k++) {
				if (r->at[k] >= 0)
					continue;
				fputs("not compared: ", f);
				out_put_safe(f, c->names[k]);
				fputs(" has no ", f);
				out_put_safe(f, r->id);
				fputs(" (", f);
				out_put_safe(f, r->model);
				fputs(") and no process area mapped to it through the crosswalk\n",
				      f);
			}
		}
		if (c->n == 2) {
			fputs("goal changes ", f);
			out_put_safe(f, c->names[0]);
			fputs(" -> ", f);
			out_put_safe(f, c->names[1]);
			fputs(":\n", f);
			int changes = 0;
			each_change(c, print_change, f);
			for (size_t i = 0; i < c->n_rows; i++) {
				const cmp_row *r = &c->rows[i];
				if (r->how[0] == MATCH_SAME && r->how[1] == MATCH_SAME)
					changes++;
			}
			if (changes == 0)
				fputs("  (no process area is in both, so no goal can be "
				      "compared)\n",
				      f);
			if (!same_instances(c))
				fputs("note: the two appraisals do not have the same instances, so "
				      "changes may come from the scope as well as from practice\n",
				      f);
		}
		for (size_t i = 0; i < c->n_notes; i++) {
			fputs("note: ", f);
			out_put_safe(f, c->notes[i]);
			fputc('\n', f);
		}
	}
	out_table_free(&t);
	free(headers);
	free(row);
	free(cells);
	return rc;
}

/* ---- by unit ---- */

/* Whether unit process area u is below the organisation's o: a lower
 * level, or not rated where the organisation is rated. */
static bool below(const Opra__V1__PaRating *u, const Opra__V1__PaRating *o)
{
	if (!is_rated(o))
		return false;
	return !is_rated(u) || u->capability_level < o->capability_level;
}

static json_t *by_unit_json(const cmp *c)
{
	json_t *doc = json_object(), *aps = json_array(), *notes = json_array();
	if (!doc || !aps || !notes || json_object_set_new(doc, "by", jstr("unit")) ||
	    json_object_set(doc, "appraisals", aps) || json_object_set(doc, "notes", notes))
		goto fail;
	for (size_t i = 0; i < c->n_notes; i++)
		if (json_array_append_new(notes, jstr(c->notes[i])) != 0)
			goto fail;
	for (int k = 0; k < c->n; k++) {
		const Opra__V1__RatingShowReply *r = c->r[k];
		json_t *a = appraisal_json(r), *org = json_array(), *units = json_array(),
		       *weak = json_array();
		bool ok = a && org && units && weak;
		for (size_t i = 0; ok && i < r->n_process_areas; i++)
			ok = json_array_append_new(org, pa_cell_json(r->process_areas[i])) == 0;
		for (size_t u = 0; ok && u < r->n_units; u++) {
			const Opra__V1__UnitRating *ur = r->units[u];
			json_t *x = json_object(), *ps = json_array();
			bool is_weak = false;
			ok = x && ps;
			for (size_t i = 0; ok && i < ur->n_process_areas && i < r->n_process_areas;
			     i++) {
				json_t *cell = pa_cell_json(ur->process_areas[i]);
				bool b = below(ur->process_areas[i], r->process_areas[i]);
				is_weak |= b;
				ok = cell &&
				     json_object_set_new(cell, "below_organisation",
							 json_boolean(b)) == 0 &&
				     json_array_append_new(ps, cell) == 0;
			}
			ok = ok && json_object_set_new(x, "unit", jstr(ur->unit)) == 0 &&
			     json_object_set_new(x, "parent", out_jstr(ur->parent, true)) == 0 &&
			     json_object_set_new(x, "site", out_jstr(ur->site, true)) == 0 &&
			     json_object_set_new(x, "instances",
						 str_list(ur->instances, ur->n_instances)) == 0 &&
			     json_object_set(x, "process_areas", ps) == 0 &&
			     json_object_set_new(x, "below_organisation", json_boolean(is_weak)) ==
				     0 &&
			     json_array_append(units, x) == 0 &&
			     (!is_weak || json_array_append_new(weak, jstr(ur->unit)) == 0);
			json_decref(x);
			json_decref(ps);
		}
		ok = ok && json_object_set(a, "organisation", org) == 0 &&
		     json_object_set(a, "units", units) == 0 &&
		     json_object_set(a, "below_organisation", weak) == 0 &&
		     json_array_append(aps, a) == 0;
		json_decref(a);
		json_decref(org);
		json_decref(units);
		json_decref(weak);
		if (!ok)
			goto fail;
	}
	json_decref(aps);
	json_decref(notes);
	return doc;
fail:
	json_decref(aps);
	json_decref(notes);
	json_decref(doc);
	return NULL;
}

static int by_unit_text(cli_ctx *ctx, const cmp *c)
{
	FILE *f = ctx->out->out;
	for (int k = 0; k < c->n; k++) {
		const Opra__V1__RatingShowReply *r = c->r[k];
		if (k > 0)
			fputc('\n', f);
		fputs("appraisal ", f);
		out_put_safe(f, r->appraisal);
		fputc('\n', f);
		int rc = rating_units_text(ctx, r);
		if (rc != 0)
			return rc;
		for (size_t u = 0; u < r->n_units; u++) {
			const Opra__V1__UnitRating *ur = r->units[u];
			bool first = true;
			for (size_t i = 0; i < ur->n_process_areas && i < r->n_process_areas; i++) {
				const Opra__V1__PaRating *up = ur->process_areas[i],
							 *op = r->process_areas[i];
				if (!below(up, op))
					continue;
				char a[16], b[16];
				fputs(first ? "below the organisation: " : ", ", f);
				if (first) {
					out_put_safe(f, ur->unit);
					fputs(": ", f);
				}
				first = false;
				out_put_safe(f, up->id);
				fprintf(f, " %s < %s", rating_level_cell(up, a),
					rating_level_cell(op, b));
			}
			if (!first)
				fputc('\n', f);
		}
	}
	for (size_t i = 0; i < c->n_notes; i++) {
		fputs("note: ", f);
		out_put_safe(f, c->notes[i]);
		fputc('\n', f);
	}
	return 0;
}

int cmd_compare(cli_ctx *ctx, const cli_args *args)
{
	const char *by = cli_opt(args, "--by");
	bool by_unit = by != NULL && strcmp(by, "unit") == 0;
	cmp c;
	int code = 0;

	memset(&c, 0, sizeof(c));
	if (by != NULL && strcmp(by, "pa") != 0 && !by_unit)
		return cli_usage(ctx, "--by is pa or unit, not '%s'", by);
	if (args->argc > COMPARE_MAX)
		return cli_usage(ctx, "compare at most %d appraisals at once (%d given)",
				 COMPARE_MAX, args->argc);
	for (int k = 0; k < args->argc; k++) {
		if (args->argv[k][0] == '\0')
			return cli_usage(ctx, "APPRAISAL must not be empty");
		for (int j = 0; j < k; j++)
			if (strcmp(args->argv[j], args->argv[k]) == 0)
				return cli_usage(ctx, "appraisal '%s' is named twice",
						 args->argv[k]);
	}
	for (int k = 0; k < args->argc; k++) {
		Opra__V1__RatingShowRequest req = OPRA__V1__RATING_SHOW_REQUEST__INIT;
		req.appraisal = args->argv[k];
		req.summary = true;
		req.by_unit = by_unit;
		if ((code = cli_call(ctx, M_SHOW, &req.base,
				     &opra__v1__rating_show_reply__descriptor, &c.r[k], NULL)) != 0)
			goto done;
		c.n = k + 1;
		c.names[k] = c.r[k]->appraisal;
		c.used[k] = calloc(c.r[k]->n_process_areas + 1, sizeof(bool));
		if (c.used[k] == NULL) {
			code = oom(ctx);
			goto done;
		}
	}
	int none = 0;
	for (int k = 0; k < c.n; k++) {
		if (rated_count(c.r[k]) > 0)
			continue;
		none++;
		if (note(&c,
			 "appraisal %s has nothing rated yet: no process area in scope has a "
			 "capability level (opra rating show %s --explain says why)",
			 c.names[k], c.names[k]) != OPRA_OK) {
			code = oom(ctx);
			goto done;
		}
	}
	if (none == c.n &&
	    note(&c, "nothing is rated in any of the appraisals compared") != OPRA_OK) {
		code = oom(ctx);
		goto done;
	}
	if (!by_unit) {
		if ((code = build_rows(ctx, &c)) != 0)
			goto done;
		bool any = false;
		for (size_t i = 0; i < c.n_rows; i++) {
			int present = 0;
			for (int k = 0; k < c.n; k++)
				present += c.rows[i].at[k] >= 0;
			any |= present > 1;
		}
		if (c.n > 1 && !any &&
		    note(&c,
			 "no process area is in more than one of these appraisals, not "
			 "even through the crosswalk: there is nothing to compare") != OPRA_OK) {
			code = oom(ctx);
			goto done;
		}
	}
	if (ctx->out->json) {
		json_t *doc = by_unit ? by_unit_json(&c) : by_pa_json(&c);
		code = doc ? cli_emit_json(ctx, doc) : oom(ctx);
	} else {
		code = by_unit ? by_unit_text(ctx, &c) : by_pa_text(ctx, &c);
	}
	for (size_t i = 0; i < c.n_notes; i++)
		if (ctx->out->json || ctx->out->quiet)
			out_warn(ctx->out, "%s", c.notes[i]);
done:
	cmp_free(&c);
	return code;
}
