/* The Rating service (proto/opra/v1/rating.proto, docs/rating.md "Server"):
 * characterisations with optimistic concurrency, weaknesses, a lead's
 * judgements, evidence reused for mapped practices (Candidates, Link), and
 * Show, which loads one appraisal's facts with a few set-based queries into
 * the rating engine's arrays (common/rating.h) and rates it on every read,
 * with each process area's gap to target and the goals and practices that
 * block its next level (from the engine's own reasons), optionally for the
 * instances of one unit only, or for every unit next to the organisation
 * (docs/rating.md "Gaps and blocking goals", "Rating by unit").
 *
 * Every change locks the appraisal row first (appraisal_open APPR_LOCK, the
 * lock append_event takes anyway), so the version check of Characterize and
 * the write that follows cannot interleave with another writer of the same
 * appraisal, including the first write of a cell that has no row to lock. */
#include "appraisal.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "rating.h"

#include "opra/v1/rating.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATING_NOTE_MAX	     4096
#define RATING_TEXT_MAX	     4096 /* weakness text and judgement rationale */
#define EVIDENCE_ID_DIGITS   19
#define RATING_PA_FILTER_MAX (PRACTICE_ID_MAX)
#define RATING_UNIT_NAME_MAX 128 /* units.name */

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* rating_cells holds per (practice, instance) a copy of the
 * characterisation's value and version and the accepted artifacts and
 * affirmations counted there (the evidence submitted there plus the evidence
 * linked there), kept exact by triggers in the same transaction as every
 * change to characterisations, evidence or evidence_links
 * (sql/010_rating_cells.sql). Show reads the cells from it alone, as one
 * packed bigint per cell (column cell, sql/013_rating_cells_packed.sql). */

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

/* A JSON text of obj (consumed); NULL when out of memory. */
static char *json_text(json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(obj);
	return s;
}

/* ---- validation helpers (before authentication) ---- */

static int check_practice(const char *s)
{
	if (s[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the practice (--practice, e.g. ADM:SG1.SP1)");
	return opra_name_check("the practice", s, PRACTICE_ID_MAX);
}

static int check_instance(const char *s)
{
	if (s[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the instance (--instance: a service or unit in the "
				    "appraisal's scope)");
	return opra_name_check("the instance", s, INSTANCE_NAME_MAX);
}

static int check_evidence_id(const char *s)
{
	long v = 0;
	if (s[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the evidence by its id (as 'opra evidence list' shows)");
	if (strlen(s) > EVIDENCE_ID_DIGITS || !opra_parse_long(s, 1, 0x7fffffffffffffffL, &v))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "'%.40s' is not an evidence id (a number, as 'opra evidence "
				    "list' shows)",
				    s);
	return OPRA_OK;
}

/* A label a team may record: FI..NY (ny_ok) or FI..NI, either case. Returns
 * the rating_value or sets INVALID_ARGUMENT. */
static int parse_label(const char *s, int ny_ok, int *out)
{
	int v = rating_value_parse(s);
	if (v == RATING_NY && !ny_ok)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "a judgement cannot be NY: the lead decides between the labels "
				    "the instances allow, one of FI, LI, PI or NI");
	if (v < RATING_FI || v > RATING_NY)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "unknown value '%.20s': use one of %s",
				    s, ny_ok ? "FI, LI, PI, NI or NY" : "FI, LI, PI or NI");
	*out = v;
	return OPRA_OK;
}

static const char *judgement_status_name(int s)
{
	switch (s) {
	case RATING_JUDGEMENT_NONE:
		return "none";
	case RATING_JUDGEMENT_USED:
		return "used";
	case RATING_JUDGEMENT_NOT_ALLOWED:
		return "not-allowed";
	case RATING_JUDGEMENT_NO_RATIONALE:
		return "no-rationale";
	case RATING_JUDGEMENT_NOT_NEEDED:
		return "not-needed";
	default:
		return "unknown";
	}
}

/* ---- the facts of one appraisal, loaded for the engine ---- */

typedef struct {
	long long id;
	uint32_t idx;
} id_index;

static int id_index_cmp(const void *a, const void *b)
{
	long long x = ((const id_index *)a)->id, y = ((const id_index *)b)->id;
	return x < y ? -1 : x > y;
}

static uint32_t id_index_find(const id_index *map, uint32_t n, long long id)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (map[mid].id < id)
			lo = mid + 1;
		else if (map[mid].id > id)
			hi = mid;
		else
			return map[mid].idx;
	}
	return RATING_NO_INDEX;
}

/* ids to indexes in O(1) when the ids are dense enough (serial ids of one
 * model's practices, one appraisal's instances), else by binary search */
typedef struct {
	uint32_t *at; /* at[id - lo], or NULL */
	long long lo;
	size_t span;
	const id_index *map; /* sorted */
	uint32_t n;
} id_lookup;

static int id_lookup_init(id_lookup *l, const id_index *map, uint32_t n)
{
	memset(l, 0, sizeof(*l));
	l->map = map;
	l->n = n;
	if (n == 0)
		return OPRA_OK;
	unsigned long long span = (unsigned long long)(map[n - 1].id - map[0].id) + 1;
	if (span > 4ULL * n + 4096)
		return OPRA_OK;
	l->at = opra_malloc((size_t)span * sizeof(*l->at));
	if (l->at == NULL)
		return oom();
	memset(l->at, 0xff, (size_t)span * sizeof(*l->at)); /* RATING_NO_INDEX */
	l->lo = map[0].id;
	l->span = (size_t)span;
	for (uint32_t i = 0; i < n; i++)
		l->at[map[i].id - l->lo] = map[i].idx;
	return OPRA_OK;
}

static uint32_t id_lookup_find(const id_lookup *l, long long id)
{
	if (l->at == NULL)
		return id_index_find(l->map, l->n, id);
	if (id < l->lo || (unsigned long long)(id - l->lo) >= l->span)
		return RATING_NO_INDEX;
	return l->at[id - l->lo];
}

/* The queries of facts_load, in one pipeline; Q_CELLS with binary
 * results. */
enum { Q_PAS, Q_PRACTICES, Q_INSTANCES, Q_WEAKNESSES, Q_META, Q_JUDGEMENTS, Q_CELLS, Q_N };

typedef struct {
	PGresult *r[Q_N];
	rating_pa *pas;
	long long *pa_ids;
	rating_goal *goals;
	rating_practice *practices;
	long long *practice_ids;
	int *practice_row; /* row of the practice in r[Q_PRACTICES] */
	id_index *practice_map, *instance_map, *pa_map;
	id_lookup practice_at, instance_at;
	const char **instances;
	rating_cell *cells;
	int32_t *versions; /* per cell; 0 = not characterised */
	rating_weakness *weaknesses;
	long long characterisations;
	rating_input in;
	rating_output out;
} facts;

static void facts_free(facts *f)
{
	for (int i = 0; i < Q_N; i++)
		PQclear(f->r[i]);
	opra_free(f->pas);
	opra_free(f->pa_ids);
	opra_free(f->goals);
	opra_free(f->practices);
	opra_free(f->practice_ids);
	opra_free(f->practice_row);
	opra_free(f->practice_map);
	opra_free(f->instance_map);
	opra_free(f->pa_map);
	opra_free(f->practice_at.at);
	opra_free(f->instance_at.at);
	opra_free(f->instances);
	opra_free(f->cells);
	opra_free(f->versions);
	opra_free(f->weaknesses);
	opra_free(f->out.suggested);
	opra_free(f->out.practices);
	opra_free(f->out.goals);
	opra_free(f->out.pas);
	memset(f, 0, sizeof(*f));
}

static const char *const facts_sql[Q_N] = {
	/* Q_PAS: in scope (or the one asked for), in model order */
	"SELECT pa.id, pa.code, pa.name, m.key, ap.pa_id IS NOT NULL, "
	"coalesce(ap.target_level, a.target_level) "
	"FROM appraisals a JOIN appraisal_models am ON am.appraisal_id = a.id "
	"JOIN models m ON m.id = am.model_id JOIN process_areas pa ON pa.model_id = m.id "
	"LEFT JOIN appraisal_pas ap ON ap.appraisal_id = a.id AND ap.pa_id = pa.id "
	"WHERE a.id = $1::bigint AND CASE WHEN $2 = '' THEN ap.pa_id IS NOT NULL "
	"ELSE pa.id = nullif($2, '')::bigint END ORDER BY m.key, pa.ord, pa.id",
	/* Q_PRACTICES: goals and practices of those PAs that are in scope,
	 * grouped by PA in id order (integers sort fast; the PAs' own order is
	 * Q_PAS's) (judgements come in Q_JUDGEMENTS: a join here probed the judgements
	 * index once per practice, about a tenth of Show's time) */
	"SELECT g.pa_id, g.id, g.code, g.generic, p.id, p.full_id "
	"FROM appraisal_pas ap JOIN process_areas pa ON pa.id = ap.pa_id "
	"JOIN goals g ON g.pa_id = pa.id LEFT JOIN practices p ON p.goal_id = g.id "
	"WHERE ap.appraisal_id = $1::bigint AND ($2 = '' OR pa.id = nullif($2, '')::bigint) "
	"ORDER BY pa.id, g.ord, g.id, p.ord, p.id",
	/* Q_INSTANCES */
	"SELECT id, name FROM appraisal_instances WHERE appraisal_id = $1::bigint ORDER BY name",
	/* Q_WEAKNESSES: the text only of significant ones, the only ones the
	 * explanations quote (rating_explain.c) */
	"SELECT id, practice_id, instance_id, significant, CASE WHEN significant THEN text "
	"ELSE '' END FROM weaknesses WHERE appraisal_id = $1::bigint ORDER BY id",
	/* Q_META */
	"SELECT encode(head, 'hex'), events FROM appraisals WHERE id = $1::bigint",
	/* Q_JUDGEMENTS */
	"SELECT practice_id, value, rationale <> '' FROM judgements WHERE appraisal_id = "
	"$1::bigint",
	/* Q_CELLS: every cell as 24 bytes (practice id, instance id and the
	 * cell's facts packed by PostgreSQL, sql/013: three big-endian int8) in
	 * ONE binary value: a row per cell cost PostgreSQL and libpq more per
	 * row than the aggregate costs (docs/rating.md, "Issue 8"). NULL when
	 * the appraisal has no cells. */
	"SELECT string_agg(int8send(practice_id) || int8send(instance_id) || int8send(cell), "
	"''::bytea) FROM rating_cells WHERE appraisal_id = $1::bigint",
};

static uint32_t be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static long long be64(const char *p)
{
	return (long long)((uint64_t)be32(p) << 32 | be32(p + 4));
}

#define CELL_BYTES 24 /* one cell in Q_CELLS */

/* Turns the query results into the engine's input. */
static int facts_build(facts *f, const appraisal_ref *a)
{
	PGresult *r;
	int n;

	/* process areas */
	r = f->r[Q_PAS];
	n = PQntuples(r);
	uint32_t n_pas = (uint32_t)n;
	f->pas = opra_calloc(n_pas ? n_pas : 1, sizeof(*f->pas));
	f->pa_ids = opra_calloc(n_pas ? n_pas : 1, sizeof(*f->pa_ids));
	if (!f->pas || !f->pa_ids)
		return oom();
	for (int i = 0; i < n; i++) {
		f->pa_ids[i] = db_to_ll(PQgetvalue(r, i, 0));
		f->pas[i].id = PQgetvalue(r, i, 1);
		f->pas[i].in_scope = PQgetvalue(r, i, 4)[0] == 't';
		int t = (int)db_to_ll(PQgetvalue(r, i, 5));
		f->pas[i].target_level = (uint8_t)(t < 0 ? 0 : t > 3 ? 3 : t);
	}

	/* goals and practices, grouped by PA (in id order: each PA's goals are
	 * one range, wherever it is) */
	f->pa_map = opra_calloc(n_pas ? n_pas : 1, sizeof(*f->pa_map));
	if (!f->pa_map)
		return oom();
	for (uint32_t i = 0; i < n_pas; i++)
		f->pa_map[i] = (id_index){f->pa_ids[i], i};
	qsort(f->pa_map, n_pas, sizeof(*f->pa_map), id_index_cmp);
	r = f->r[Q_PRACTICES];
	n = PQntuples(r);
	f->goals = opra_calloc(n ? (size_t)n : 1, sizeof(*f->goals));
	f->practices = opra_calloc(n ? (size_t)n : 1, sizeof(*f->practices));
	f->practice_ids = opra_calloc(n ? (size_t)n : 1, sizeof(*f->practice_ids));
	f->practice_row = opra_calloc(n ? (size_t)n : 1, sizeof(*f->practice_row));
	f->practice_map = opra_calloc(n ? (size_t)n : 1, sizeof(*f->practice_map));
	if (!f->goals || !f->practices || !f->practice_ids || !f->practice_row || !f->practice_map)
		return oom();
	uint32_t n_goals = 0, n_practices = 0, pa = 0;
	long long last_goal = -1, last_pa = -1;
	int skip_goal = 0;
	for (int i = 0; i < n; i++) {
		long long pa_id = db_to_ll(PQgetvalue(r, i, 0));
		long long goal_id = db_to_ll(PQgetvalue(r, i, 1));
		if (pa_id != last_pa) {
			pa = id_index_find(f->pa_map, n_pas, pa_id);
			if (pa == RATING_NO_INDEX) /* cannot happen: same scope */
				return opra_err_set(
					OPRA_INTERNAL,
					"process area %lld of appraisal '%s' changed while "
					"it was read; retry",
					pa_id, a->name);
			f->pas[pa].first_goal = n_goals;
			last_pa = pa_id;
		}
		if (goal_id != last_goal) {
			last_goal = goal_id;
			const char *code = PQgetvalue(r, i, 2);
			int generic = PQgetvalue(r, i, 3)[0] == 't';
			skip_goal = 0;
			uint8_t level = 0;
			if (generic) {
				/* GG1..GG3 are the levels the method defines; a generic
				 * goal beyond them has no level to count for. */
				if ((code[0] == 'G' || code[0] == 'g') &&
				    (code[1] == 'G' || code[1] == 'g') && code[2] >= '1' &&
				    code[2] <= '3' && code[3] == '\0')
					level = (uint8_t)(code[2] - '0');
				else
					skip_goal = 1;
			}
			if (!skip_goal) {
				rating_goal *g = &f->goals[n_goals++];
				g->id = code;
				g->generic_level = level;
				g->first_practice = n_practices;
				f->pas[pa].n_goals++;
			}
		}
		if (skip_goal || PQgetisnull(r, i, 4))
			continue;
		rating_practice *p = &f->practices[n_practices];
		p->id = PQgetvalue(r, i, 5);
		f->practice_ids[n_practices] = db_to_ll(PQgetvalue(r, i, 4));
		f->practice_row[n_practices] = i;
		f->practice_map[n_practices].id = f->practice_ids[n_practices];
		f->practice_map[n_practices].idx = n_practices;
		f->goals[n_goals - 1].n_practices++;
		n_practices++;
	}
	qsort(f->practice_map, n_practices, sizeof(*f->practice_map), id_index_cmp);

	/* instances */
	r = f->r[Q_INSTANCES];
	n = PQntuples(r);
	uint32_t n_inst = (uint32_t)n;
	f->instances = opra_calloc(n_inst ? n_inst : 1, sizeof(*f->instances));
	f->instance_map = opra_calloc(n_inst ? n_inst : 1, sizeof(*f->instance_map));
	if (!f->instances || !f->instance_map)
		return oom();
	for (int i = 0; i < n; i++) {
		f->instances[i] = PQgetvalue(r, i, 1);
		f->instance_map[i].id = db_to_ll(PQgetvalue(r, i, 0));
		f->instance_map[i].idx = (uint32_t)i;
	}
	qsort(f->instance_map, n_inst, sizeof(*f->instance_map), id_index_cmp);
	if (id_lookup_init(&f->practice_at, f->practice_map, n_practices) != OPRA_OK ||
	    id_lookup_init(&f->instance_at, f->instance_map, n_inst) != OPRA_OK)
		return oom();

	/* judgements (of practices outside the --pa filter: skipped) */
	r = f->r[Q_JUDGEMENTS];
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		uint32_t k = id_lookup_find(&f->practice_at, db_to_ll(PQgetvalue(r, i, 0)));
		if (k == RATING_NO_INDEX)
			continue;
		int j = rating_value_parse(PQgetvalue(r, i, 1));
		f->practices[k].judgement =
			(uint8_t)(j >= RATING_FI && j <= RATING_NI ? j : RATING_NONE);
		f->practices[k].judgement_rationale = PQgetvalue(r, i, 2)[0] == 't';
	}

	/* cells */
	size_t n_cells = (size_t)n_practices * n_inst;
	f->cells = opra_calloc(n_cells ? n_cells : 1, sizeof(*f->cells));
	f->versions = opra_calloc(n_cells ? n_cells : 1, sizeof(*f->versions));
	if (!f->cells || !f->versions)
		return oom();
	r = f->r[Q_CELLS];
	if (PQntuples(r) != 1 || PQnfields(r) != 1)
		return opra_err_set(
			OPRA_INTERNAL,
			"the cells of appraisal '%s' came back as %d rows of %d columns "
			"instead of one value; check that the database schema is current",
			a->name, PQntuples(r), PQnfields(r));
	size_t bytes = PQgetisnull(r, 0, 0) ? 0 : (size_t)PQgetlength(r, 0, 0);
	if (bytes % CELL_BYTES != 0)
		return opra_err_set(OPRA_INTERNAL,
				    "the cells of appraisal '%s' came back in an unexpected form "
				    "(%zu bytes); check that the database schema is current",
				    a->name, bytes);
	const char *cp = bytes ? PQgetvalue(r, 0, 0) : "";
	long long chars = 0;
	for (size_t off = 0; off < bytes; off += CELL_BYTES) {
		uint64_t packed = (uint64_t)be64(cp + off + 16);
		int v = (int)((packed >> 28) & 0xf); /* rating_value: 0 none, FI..NY */
		uint32_t p = id_lookup_find(&f->practice_at, be64(cp + off));
		uint32_t k = id_lookup_find(&f->instance_at, be64(cp + off + 8));
		if (v >= RATING_FI && v <= RATING_NY)
			chars++;
		if (p == RATING_NO_INDEX || k == RATING_NO_INDEX)
			continue; /* a practice outside the scope (or the --pa filter) */
		size_t cell = (size_t)p * n_inst + k;
		rating_cell *c = &f->cells[cell];
		if (v >= RATING_FI && v <= RATING_NY) {
			c->label = (uint8_t)v;
			/* NY is the team's statement that the instance has not
			 * reached the practice yet: the suggestion follows it
			 * (docs/rating.md, S1). */
			if (v == RATING_NY)
				c->flags |= RATING_CELL_NOT_YET;
			f->versions[cell] = (int32_t)(packed >> 32);
		}
		c->artifacts = (uint16_t)((packed >> 14) & 0x3fff);
		c->affirmations = (uint16_t)(packed & 0x3fff);
	}
	f->characterisations = chars;

	/* weaknesses */
	r = f->r[Q_WEAKNESSES];
	n = PQntuples(r);
	f->weaknesses = opra_calloc(n ? (size_t)n : 1, sizeof(*f->weaknesses));
	if (!f->weaknesses)
		return oom();
	uint32_t n_weak = 0;
	for (int i = 0; i < n; i++) {
		uint32_t p = id_lookup_find(&f->practice_at, db_to_ll(PQgetvalue(r, i, 1)));
		uint32_t k = id_lookup_find(&f->instance_at, db_to_ll(PQgetvalue(r, i, 2)));
		if (p == RATING_NO_INDEX || k == RATING_NO_INDEX)
			continue;
		rating_weakness *w = &f->weaknesses[n_weak++];
		w->id = db_to_ll(PQgetvalue(r, i, 0));
		w->practice = p;
		w->instance = k;
		w->significant = PQgetvalue(r, i, 3)[0] == 't';
		w->text = PQgetvalue(r, i, 4);
	}

	f->in.pas = f->pas;
	f->in.n_pas = n_pas;
	f->in.goals = f->goals;
	f->in.n_goals = n_goals;
	f->in.practices = f->practices;
	f->in.n_practices = n_practices;
	f->in.instances = f->instances;
	f->in.n_instances = n_inst;
	f->in.cells = f->cells;
	f->in.weaknesses = f->weaknesses;
	f->in.n_weaknesses = n_weak;
	int cov = a->affirmation_coverage;
	f->in.affirmation_threshold = (uint8_t)(cov < 0 ? 0 : cov > 100 ? 100 : cov);

	f->out.suggested = opra_calloc(n_cells ? n_cells : 1, 1);
	f->out.practices = opra_calloc(n_practices ? n_practices : 1, sizeof(*f->out.practices));
	f->out.goals = opra_calloc(n_goals ? n_goals : 1, sizeof(*f->out.goals));
	f->out.pas = opra_calloc(n_pas ? n_pas : 1, sizeof(*f->out.pas));
	if (!f->out.suggested || !f->out.practices || !f->out.goals || !f->out.pas)
		return oom();
	if (rating_compute(&f->in, &f->out) != OPRA_OK) {
		log_warn("rating appraisal %lld: %s", a->id, opra_err_msg());
		return opra_err_set(OPRA_INTERNAL,
				    "the stored facts of appraisal '%s' could not be rated (%s); "
				    "details are in the server log",
				    a->name, opra_err_msg());
	}
	return OPRA_OK;
}

/* Loads and rates appraisal a (only process area pa_id when > 0, in or out
 * of scope). Everything goes in ONE round trip (libpq pipeline): outside a
 * transaction BEGIN (a read-only REPEATABLE READ one: one snapshot), the
 * small queries, the cells with binary results (no text to parse for tens
 * of thousands of rows) and COMMIT; inside one (a change that reports its
 * effect) the queries alone, which see that transaction. The small queries
 * run with generic plans: their text parameters would otherwise have them
 * planned again on every call. */
static int facts_load(call *c, const appraisal_ref *a, long long pa_id, facts *f)
{
	char aid[32], pid[32] = "";
	snprintf(aid, sizeof(aid), "%lld", a->id);
	if (pa_id > 0)
		snprintf(pid, sizeof(pid), "%lld", pa_id);
	const char *p2[2] = {aid, pid};
	db_stmt st[Q_N + 3];
	size_t n = 0;
	int own = !db_in_transaction(c->db);
	memset(f, 0, sizeof(*f));
	memset(st, 0, sizeof(st));
	if (own) {
		st[n++] = (db_stmt){.sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"};
		st[n++] = (db_stmt){.sql = "SET LOCAL plan_cache_mode = force_generic_plan"};
	}
	size_t first = n;
	for (int q = 0; q < Q_N; q++) {
		st[n].sql = facts_sql[q];
		st[n].nparams = (q == Q_PAS || q == Q_PRACTICES) ? 2 : 1;
		st[n].params = p2;
		st[n].want_rows = 1;
		st[n].binary_result = q == Q_CELLS;
		n++;
	}
	if (own)
		st[n++] = (db_stmt){.sql = "COMMIT"};
	int rc = db_pipeline(c->db, st, n);
	if (rc != OPRA_OK) {
		if (own)
			db_rollback(c->db);
		return rc;
	}
	for (int q = 0; q < Q_N; q++)
		f->r[q] = st[first + (size_t)q].res;
	if ((rc = facts_build(f, a)) != OPRA_OK)
		facts_free(f);
	return rc;
}

/* ---- Characterize ---- */

static int characterize_validate(const ProtobufCMessage *in)
{
	const Opra__V1__CharacterizeRequest *r = (const Opra__V1__CharacterizeRequest *)in;
	int rc, v;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK ||
	    (rc = check_practice(r->practice)) != OPRA_OK ||
	    (rc = check_instance(r->instance)) != OPRA_OK)
		return rc;
	if (r->value[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "give the value (--value FI, LI, PI, NI or NY)");
	if ((rc = parse_label(r->value, 1, &v)) != OPRA_OK)
		return rc;
	if (strlen(r->note) > RATING_NOTE_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE, "the note is %zu bytes; at most %d are kept",
				    strlen(r->note), RATING_NOTE_MAX);
	if ((rc = opra_text_check("the note", r->note, RATING_NOTE_MAX)) != OPRA_OK)
		return rc;
	if (r->check_version && r->expect_version < 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "--expect-version is %d; versions start at 1 (0 means \"not "
				    "characterised yet\")",
				    r->expect_version);
	return OPRA_OK;
}

/* The server's suggestion for one cell from its accepted evidence (links
 * included) and weaknesses; label is the value the cell holds now. */
static int cell_suggestion(call *c, const appraisal_ref *a, const char *pid, const char *iid,
			   int label, const char **out)
{
	PGresult *r = NULL;
	char aid[32];
	snprintf(aid, sizeof(aid), "%lld", a->id);
	const char *p[3] = {aid, pid, iid};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT coalesce(max(artifacts), 0), coalesce(max(affirmations), 0), "
			 "(SELECT count(*) FROM weaknesses w WHERE w.appraisal_id = $1::bigint "
			 "AND w.practice_id = $2::bigint AND w.instance_id = $3::bigint) "
			 "FROM rating_cells WHERE appraisal_id = $1::bigint "
			 "AND practice_id = $2::bigint AND instance_id = $3::bigint",
			 3, p);
	if (rc != OPRA_OK)
		return rc;
	rating_evidence e = {0};
	e.artifacts = (uint32_t)db_to_ll(PQgetvalue(r, 0, 0));
	e.affirmations = (uint32_t)db_to_ll(PQgetvalue(r, 0, 1));
	e.weaknesses = (uint32_t)db_to_ll(PQgetvalue(r, 0, 2));
	e.flags = label == RATING_NY ? RATING_CELL_NOT_YET : 0;
	PQclear(r);
	rating_value s = rating_suggest(&e, NULL);
	*out = s == RATING_NONE ? "" : rating_value_name(s);
	return OPRA_OK;
}

static int characterize(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__CharacterizeRequest *req = (const Opra__V1__CharacterizeRequest *)in;
	appraisal_ref a;
	long long practice_id = 0, instance_id = 0;
	char canonical[PRACTICE_ID_MAX + 1], pid[32], iid[32], aid[32], uid[32], ver[16];
	PGresult *r = NULL;
	char *before = NULL, *after = NULL;
	int rc, v = 0;

	if ((rc = parse_label(req->value, 1, &v)) != OPRA_OK)
		return rc;
	const char *value = rating_value_name(v);
	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_DECIDE, APPR_WRITE | APPR_LOCK, &a)) !=
		    OPRA_OK ||
	    (rc = appraisal_practice(c, &a, req->practice, &practice_id, canonical)) != OPRA_OK ||
	    (rc = appraisal_instance(c, &a, req->instance, &instance_id)) != OPRA_OK)
		return rc;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(pid, sizeof(pid), "%lld", practice_id);
	snprintf(iid, sizeof(iid), "%lld", instance_id);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p3[3] = {aid, pid, iid};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT c.value, c.version, c.note, u.name, " TS(
				  "c.updated_at") " "
						  "FROM characterisations c JOIN users u ON u.id = "
						  "c.updated_by "
						  "WHERE c.appraisal_id = $1::bigint AND "
						  "c.practice_id = $2::bigint "
						  "AND c.instance_id = $3::bigint FOR UPDATE OF c",
			  3, p3)) != OPRA_OK)
		return rc;
	int exists = PQntuples(r) == 1;
	int version = exists ? (int)db_to_ll(PQgetvalue(r, 0, 1)) : 0;
	char old_value[8] = "", old_note[RATING_NOTE_MAX + 1] = "";
	if (exists) {
		snprintf(old_value, sizeof(old_value), "%s", PQgetvalue(r, 0, 0));
		snprintf(old_note, sizeof(old_note), "%s", PQgetvalue(r, 0, 2));
	}
	if (req->check_version && req->expect_version != version) {
		char details[256];
		if (exists) {
			rc = opra_err_set(
				OPRA_ABORTED,
				"practice %s on instance %s was changed to %s by %s at %s "
				"(version %d); you expected version %d: review and retry "
				"with --expect-version %d",
				canonical, req->instance, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 3),
				PQgetvalue(r, 0, 4), version, req->expect_version, version);
			json_t *d =
				json_pack("{s:i, s:s, s:s, s:s}", "current_version", version,
					  "current_value", PQgetvalue(r, 0, 0), "updated_by",
					  PQgetvalue(r, 0, 3), "updated_at", PQgetvalue(r, 0, 4));
			char *dt = json_text(d);
			snprintf(details, sizeof(details), "%s", dt ? dt : "");
			free(dt);
		} else {
			rc = opra_err_set(OPRA_ABORTED,
					  "practice %s on instance %s is not characterised yet "
					  "(version 0); you expected version %d: review and retry "
					  "with --expect-version 0",
					  canonical, req->instance, req->expect_version);
			snprintf(details, sizeof(details),
				 "{\"current_value\":\"none\",\"current_version\":0}");
		}
		if (details[0])
			opra_err_set_details(details);
		goto done;
	}
	PQclear(r);
	r = NULL;

	const char *result = "unchanged";
	int new_version = version;
	if (!exists || strcmp(old_value, value) != 0 ||
	    (req->note[0] && strcmp(old_note, req->note) != 0)) {
		const char *note = req->note[0] || !exists ? req->note : old_note;
		new_version = version + 1;
		result = exists ? "changed" : "created";
		json_t *bo = exists ? json_pack("{s:s, s:s, s:s, s:i, s:s}", "practice", canonical,
						"instance", req->instance, "value", old_value,
						"version", version, "note", old_note)
				    : NULL;
		json_t *ao = json_pack("{s:s, s:s, s:s, s:i, s:s}", "practice", canonical,
				       "instance", req->instance, "value", value, "version",
				       new_version, "note", note);
		before = bo ? json_text(bo) : NULL;
		after = json_text(ao);
		if ((exists && before == NULL) || after == NULL) {
			rc = oom();
			goto done;
		}
		char object[PRACTICE_ID_MAX + INSTANCE_NAME_MAX + 32];
		snprintf(object, sizeof(object), "characterisation %s@%s", canonical,
			 req->instance);
		if ((rc = appraisal_event(c, &a, object, before, after, 0, NULL)) != OPRA_OK)
			goto done;
		snprintf(ver, sizeof(ver), "%d", new_version);
		const char *p[8] = {aid, pid, iid, value, note, ver, uid, c->req->site};
		if ((rc = db_cmd(c->db,
				 "INSERT INTO characterisations (appraisal_id, practice_id, "
				 "instance_id, value, note, version, updated_by, site) VALUES "
				 "($1::bigint, $2::bigint, $3::bigint, $4, $5, $6::integer, "
				 "$7::bigint, $8) ON CONFLICT (appraisal_id, practice_id, "
				 "instance_id) DO UPDATE SET value = EXCLUDED.value, note = "
				 "EXCLUDED.note, version = EXCLUDED.version, updated_by = "
				 "EXCLUDED.updated_by, updated_at = now(), site = EXCLUDED.site",
				 8, p)) != OPRA_OK)
			goto done;
	}
	const char *suggested = "";
	if ((rc = cell_suggestion(c, &a, pid, iid, v, &suggested)) != OPRA_OK)
		goto done;
	Opra__V1__CharacterizeReply rep = OPRA__V1__CHARACTERIZE_REPLY__INIT;
	rep.practice = canonical;
	rep.instance = req->instance;
	rep.value = (char *)value;
	rep.version = new_version;
	rep.previous_value = old_value;
	rep.result = (char *)result;
	rep.suggested = (char *)suggested;
	rc = call_reply(c, &rep.base);
done:
	PQclear(r);
	free(before);
	free(after);
	return rc;
}

/* ---- WeaknessAdd ---- */

static int weakness_validate(const ProtobufCMessage *in)
{
	const Opra__V1__WeaknessAddRequest *r = (const Opra__V1__WeaknessAddRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK ||
	    (rc = check_practice(r->practice)) != OPRA_OK ||
	    (rc = check_instance(r->instance)) != OPRA_OK)
		return rc;
	if (r->text[0] == '\0')
		return opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"describe the weakness (--text TEXT): what is missing or wrong");
	if (strlen(r->text) > RATING_TEXT_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE,
				    "the weakness text is %zu bytes; it may be at most %d: "
				    "summarise it and attach the detail as evidence",
				    strlen(r->text), RATING_TEXT_MAX);
	return opra_text_check("the weakness text", r->text, RATING_TEXT_MAX);
}

static int weakness_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__WeaknessAddRequest *req = (const Opra__V1__WeaknessAddRequest *)in;
	appraisal_ref a;
	long long practice_id = 0, instance_id = 0;
	char canonical[PRACTICE_ID_MAX + 1], pid[32], iid[32], aid[32], uid[32];
	PGresult *r = NULL;
	char *after = NULL;
	int rc;

	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_DECIDE, APPR_WRITE | APPR_LOCK, &a)) !=
		    OPRA_OK ||
	    (rc = appraisal_practice(c, &a, req->practice, &practice_id, canonical)) != OPRA_OK ||
	    (rc = appraisal_instance(c, &a, req->instance, &instance_id)) != OPRA_OK)
		return rc;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(pid, sizeof(pid), "%lld", practice_id);
	snprintf(iid, sizeof(iid), "%lld", instance_id);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p[7] = {aid, pid,	      iid, req->text, req->significant ? "true" : "false",
			    uid, c->req->site};
	if ((rc = db_exec(&r, c->db, 1,
			  "INSERT INTO weaknesses (appraisal_id, practice_id, instance_id, text, "
			  "significant, created_by, site) VALUES ($1::bigint, $2::bigint, "
			  "$3::bigint, $4, $5::boolean, $6::bigint, $7) RETURNING id",
			  7, p)) != OPRA_OK)
		return rc;
	long long id = db_to_ll(PQgetvalue(r, 0, 0));
	PQclear(r);
	after = json_text(json_pack("{s:s, s:s, s:s, s:b}", "practice", canonical, "instance",
				    req->instance, "text", req->text, "significant",
				    req->significant ? 1 : 0));
	if (after == NULL)
		return oom();
	char object[48];
	snprintf(object, sizeof(object), "weakness %lld", id);
	rc = appraisal_event(c, &a, object, NULL, after, 0, NULL);
	free(after);
	if (rc != OPRA_OK)
		return rc;
	Opra__V1__WeaknessReply rep = OPRA__V1__WEAKNESS_REPLY__INIT;
	rep.id = id;
	rep.practice = canonical;
	rep.instance = req->instance;
	rep.text = req->text;
	rep.significant = req->significant;
	return call_reply(c, &rep.base);
}

/* ---- Judge ---- */

static int judge_validate(const ProtobufCMessage *in)
{
	const Opra__V1__JudgeRequest *r = (const Opra__V1__JudgeRequest *)in;
	int rc, v = RATING_NONE;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK ||
	    (rc = check_practice(r->practice)) != OPRA_OK)
		return rc;
	if (r->value[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "give the judgement (--value FI, LI, PI or NI)");
	if ((rc = parse_label(r->value, 0, &v)) != OPRA_OK)
		return rc;
	if (r->rationale[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "a judgement needs a rationale (--rationale TEXT): say why the "
				    "practice is %s across the instances",
				    rating_value_words(v));
	if (strlen(r->rationale) > RATING_TEXT_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE, "the rationale is %zu bytes; at most %d",
				    strlen(r->rationale), RATING_TEXT_MAX);
	return opra_text_check("the rationale", r->rationale, RATING_TEXT_MAX);
}

static int judge(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__JudgeRequest *req = (const Opra__V1__JudgeRequest *)in;
	appraisal_ref a;
	long long practice_id = 0;
	char canonical[PRACTICE_ID_MAX + 1], pid[32], aid[32], uid[32], ver[16];
	PGresult *r = NULL;
	char *before = NULL, *after = NULL;
	facts f;
	int rc, v = 0, have_facts = 0;

	if ((rc = parse_label(req->value, 0, &v)) != OPRA_OK)
		return rc;
	const char *value = rating_value_name(v);
	if ((rc = appraisal_open(c, req->appraisal, MEMBER_LEAD, APPR_WRITE | APPR_LOCK, &a)) !=
		    OPRA_OK ||
	    (rc = appraisal_practice(c, &a, req->practice, &practice_id, canonical)) != OPRA_OK)
		return rc;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(pid, sizeof(pid), "%lld", practice_id);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *p2[2] = {aid, pid};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT j.value, j.rationale, j.version, "
			  "(SELECT g.pa_id FROM practices p JOIN goals g ON g.id = p.goal_id "
			  "WHERE p.id = $2::bigint) FROM (SELECT 1) one LEFT JOIN judgements j "
			  "ON j.appraisal_id = $1::bigint AND j.practice_id = $2::bigint",
			  2, p2)) != OPRA_OK)
		return rc;
	int exists = !PQgetisnull(r, 0, 2);
	int version = exists ? (int)db_to_ll(PQgetvalue(r, 0, 2)) : 0;
	long long pa_id = db_to_ll(PQgetvalue(r, 0, 3));
	int same = exists && strcmp(PQgetvalue(r, 0, 0), value) == 0 &&
		   strcmp(PQgetvalue(r, 0, 1), req->rationale) == 0;
	if (!same) {
		version++;
		if (exists)
			before = json_text(json_pack("{s:s, s:s, s:i}", "value",
						     PQgetvalue(r, 0, 0), "rationale",
						     PQgetvalue(r, 0, 1), "version", version - 1));
		after = json_text(json_pack("{s:s, s:s, s:i}", "value", value, "rationale",
					    req->rationale, "version", version));
		if ((exists && before == NULL) || after == NULL) {
			rc = oom();
			goto done;
		}
		char object[PRACTICE_ID_MAX + 16];
		snprintf(object, sizeof(object), "judgement %s", canonical);
		if ((rc = appraisal_event(c, &a, object, before, after, 0, NULL)) != OPRA_OK)
			goto done;
		snprintf(ver, sizeof(ver), "%d", version);
		const char *p[6] = {aid, pid, value, req->rationale, ver, uid};
		if ((rc = db_cmd(c->db,
				 "INSERT INTO judgements (appraisal_id, practice_id, value, "
				 "rationale, version, judged_by) VALUES ($1::bigint, $2::bigint, "
				 "$3, $4, $5::integer, $6::bigint) ON CONFLICT (appraisal_id, "
				 "practice_id) DO UPDATE SET value = EXCLUDED.value, rationale = "
				 "EXCLUDED.rationale, version = EXCLUDED.version, judged_by = "
				 "EXCLUDED.judged_by, judged_at = now()",
				 6, p)) != OPRA_OK)
			goto done;
	}
	/* What the engine makes of it now: rate the practice's process area. */
	if ((rc = facts_load(c, &a, pa_id, &f)) != OPRA_OK)
		goto done;
	have_facts = 1;
	uint32_t k = id_index_find(f.practice_map, f.in.n_practices, practice_id);
	const char *status =
		k == RATING_NO_INDEX ? "none" : judgement_status_name(f.out.practices[k].judgement);
	Opra__V1__JudgeReply rep = OPRA__V1__JUDGE_REPLY__INIT;
	rep.practice = canonical;
	rep.value = (char *)value;
	rep.rationale = req->rationale;
	rep.version = version;
	rep.status = (char *)status;
	rc = call_reply(c, &rep.base);
done:
	if (have_facts)
		facts_free(&f);
	PQclear(r);
	free(before);
	free(after);
	return rc;
}

/* ---- Show ---- */

static int show_validate(const ProtobufCMessage *in)
{
	const Opra__V1__RatingShowRequest *r = (const Opra__V1__RatingShowRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->process_area[0] && (rc = opra_name_check("the process area", r->process_area,
							RATING_PA_FILTER_MAX)) != OPRA_OK)
		return rc;
	if (r->unit[0])
		return opra_name_check("the unit", r->unit, RATING_UNIT_NAME_MAX);
	return OPRA_OK;
}

/* The process area named by "SC" or "MODEL/SC" among the appraisal's models
 * (in scope or not). */
static int show_pa(call *c, const appraisal_ref *a, const char *name, long long *pa_id)
{
	PGresult *r = NULL;
	char aid[32], model[72] = "";
	const char *code = name;
	const char *slash = strchr(name, '/');
	if (slash) {
		size_t n = (size_t)(slash - name);
		if (n == 0 || n >= sizeof(model))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "'%s' is not a process area (PA or MODEL/PA, e.g. SC "
					    "or cert-rmm-1.2/SC)",
					    name);
		memcpy(model, name, n);
		model[n] = '\0';
		code = slash + 1;
	}
	snprintf(aid, sizeof(aid), "%lld", a->id);
	const char *p[3] = {aid, code, model};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT pa.id, m.key, pa.code FROM appraisal_models am "
			 "JOIN models m ON m.id = am.model_id JOIN process_areas pa ON "
			 "pa.model_id = m.id WHERE am.appraisal_id = $1::bigint AND "
			 "lower(pa.code) = lower($2) AND ($3 = '' OR m.key = lower($3)) "
			 "ORDER BY m.key",
			 3, p);
	if (rc != OPRA_OK)
		return rc;
	int n = PQntuples(r);
	if (n == 0) {
		PQclear(r);
		return opra_err_set(OPRA_NOT_FOUND,
				    "process area '%s' is not in the models of appraisal '%s' "
				    "(opra appraisal show '%s' lists its models and process areas)",
				    name, a->name, a->name);
	}
	if (n > 1) {
		char choices[256] = "";
		for (int i = 0; i < n; i++) {
			size_t len = strlen(choices);
			snprintf(choices + len, sizeof(choices) - len, "%s%s/%s", i ? ", " : "",
				 PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		}
		PQclear(r);
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "process area '%s' exists in more than one model of appraisal "
				    "'%s': write one of %s",
				    name, a->name, choices);
	}
	*pa_id = db_to_ll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return OPRA_OK;
}

/* Storage of one Show reply: the messages of the organisational view in a
 * few arrays, and everything else (blocking goals, unit views) in blocks
 * kept in `blocks` until the reply is sent. */
typedef struct {
	Opra__V1__PaRating *pa;
	Opra__V1__PaRating **pa_p;
	Opra__V1__GoalRating *goal;
	Opra__V1__GoalRating **goal_p;
	Opra__V1__PracticeRating *prac;
	Opra__V1__PracticeRating **prac_p;
	Opra__V1__InstanceValue *iv;
	Opra__V1__InstanceValue **iv_p;
	char *codes;  /* compact cells: values and suggestions, per practice */
	char **texts; /* explanations */
	size_t n_texts;
	void **blocks;
	size_t n_blocks, cap_blocks;
} show_store;

/* A label as one character of the compact form (rating.proto cell_values):
 * F L P N Y, '-' for none. */
static char cell_code(int v)
{
	static const char codes[] = "-FLPNY";
	return v > RATING_NONE && v <= RATING_NY ? codes[v] : '-';
}

static void show_store_free(show_store *s)
{
	opra_free(s->pa);
	opra_free(s->pa_p);
	opra_free(s->goal);
	opra_free(s->goal_p);
	opra_free(s->prac);
	opra_free(s->prac_p);
	opra_free(s->iv);
	opra_free(s->iv_p);
	opra_free(s->codes);
	for (size_t i = 0; i < s->n_texts; i++)
		opra_free(s->texts[i]);
	opra_free(s->texts);
	for (size_t i = 0; i < s->n_blocks; i++)
		opra_free(s->blocks[i]);
	opra_free(s->blocks);
}

/* n zeroed bytes that live as long as s (NULL when out of memory). */
static void *store_alloc(show_store *s, size_t n)
{
	if (s->n_blocks == s->cap_blocks) {
		size_t cap = s->cap_blocks ? 2 * s->cap_blocks : 64;
		void **b = opra_realloc(s->blocks, cap * sizeof(*b));
		if (b == NULL)
			return NULL;
		s->blocks = b;
		s->cap_blocks = cap;
	}
	void *p = opra_calloc(1, n ? n : 1);
	if (p != NULL)
		s->blocks[s->n_blocks++] = p;
	return p;
}

typedef size_t (*explain_fn)(char *, size_t, const rating_input *, const rating_output *, uint32_t);

/* An explanation as a string kept in s (NULL when out of memory). */
static char *explain_in(show_store *s, explain_fn fn, const rating_input *ri,
			const rating_output *ro, uint32_t idx)
{
	char small[1];
	size_t need = fn(small, sizeof(small), ri, ro, idx);
	char *t = store_alloc(s, need + 1);
	if (t == NULL)
		return NULL;
	fn(t, need + 1, ri, ro, idx);
	return t;
}

/* ---- gaps and blocking goals ---- */

/* JSON names of the engine's reasons (rating_reason_code) that keep a goal
 * from being satisfied; NULL for the others (satisfied, judged, ...). */
static const char *blocking_reason_name(int code)
{
	switch (code) {
	case RATING_REASON_UNCHARACTERISED:
		return "uncharacterised";
	case RATING_REASON_NOT_YET:
		return "not-yet";
	case RATING_REASON_NEEDS_JUDGEMENT:
		return "needs-judgement";
	case RATING_REASON_JUDGEMENT_INVALID:
		return "judgement-invalid";
	case RATING_REASON_NO_ARTIFACT:
		return "no-artifact";
	case RATING_REASON_LOW_AFFIRMATION:
		return "low-affirmation";
	case RATING_REASON_PARTIAL:
		return "partial";
	case RATING_REASON_WEAKNESS:
		return "significant-weakness";
	case RATING_REASON_NO_PRACTICES:
		return "no-practices";
	case RATING_REASON_NO_SPECIFIC_GOAL:
		return "no-specific-goal";
	case RATING_REASON_SG:
		return "specific-goal";
	default:
		return NULL;
	}
}

#define REASON_BITS 32

/* The names of the reason codes set in bits, in code order, kept in s. */
static int reason_list(show_store *s, uint32_t bits, char ***out, size_t *n)
{
	size_t k = 0;
	char **v = store_alloc(s, REASON_BITS * sizeof(*v));
	if (v == NULL)
		return oom();
	for (int code = 0; code < REASON_BITS; code++)
		if (bits & (1u << code))
			v[k++] = (char *)blocking_reason_name(code);
	*out = v;
	*n = k;
	return OPRA_OK;
}

/* Whether instance i of practice p is behind reason code (the labels or
 * evidence the engine's reason is about). */
static int reason_instance(const rating_input *ri, uint32_t p, uint32_t i, int code)
{
	const rating_cell *cell = &ri->cells[(size_t)p * ri->n_instances + i];
	switch (code) {
	case RATING_REASON_UNCHARACTERISED:
		return cell->label == RATING_NONE;
	case RATING_REASON_NO_ARTIFACT:
		return cell->label != RATING_NY && cell->artifacts == 0;
	case RATING_REASON_LOW_AFFIRMATION:
		return cell->label != RATING_NY && cell->affirmations == 0;
	case RATING_REASON_PARTIAL:
	case RATING_REASON_NEEDS_JUDGEMENT:
	case RATING_REASON_JUDGEMENT_INVALID:
		return cell->label == RATING_PI || cell->label == RATING_NI;
	default:
		return 0;
	}
}

/* One blocking goal g: its reasons from the engine (rating_goal_reason_next)
 * grouped by practice, with the instances behind each. */
static int blocking_goal(show_store *s, const rating_input *ri, const rating_output *ro, uint32_t g,
			 int with_text, Opra__V1__BlockingGoal *bg)
{
	const rating_goal *go = &ri->goals[g];
	uint32_t goal_bits = 0;
	uint32_t *bits = store_alloc(s, (go->n_practices + 1) * sizeof(*bits));
	uint8_t *weak_at = store_alloc(s, (size_t)ri->n_instances + 1);
	if (bits == NULL || weak_at == NULL)
		return oom();
	rating_reason_iter it = {0, 0};
	rating_reason r;
	while (rating_goal_reason_next(ri, ro, g, &it, &r)) {
		if (blocking_reason_name(r.code) == NULL || r.code >= REASON_BITS)
			continue;
		goal_bits |= 1u << r.code;
		if (r.practice != RATING_NO_INDEX && r.practice >= go->first_practice &&
		    r.practice - go->first_practice < go->n_practices)
			bits[r.practice - go->first_practice] |= 1u << r.code;
	}
	opra__v1__blocking_goal__init(bg);
	bg->id = (char *)go->id;
	bg->rating = (char *)rating_goal_value_name(ro->goals[g].rating);
	if (reason_list(s, goal_bits, &bg->reasons, &bg->n_reasons) != OPRA_OK)
		return OPRA_RESOURCE_EXHAUSTED;
	if (with_text && !(bg->explanation = explain_in(s, rating_explain_goal, ri, ro, g)))
		return oom();
	size_t n = 0;
	for (uint32_t k = 0; k < go->n_practices; k++)
		n += bits[k] != 0;
	Opra__V1__BlockingPractice *bp = store_alloc(s, (n + 1) * sizeof(*bp));
	Opra__V1__BlockingPractice **bpp = store_alloc(s, (n + 1) * sizeof(*bpp));
	if (bp == NULL || bpp == NULL)
		return oom();
	bg->practices = bpp;
	for (uint32_t k = 0; k < go->n_practices; k++) {
		if (bits[k] == 0)
			continue;
		uint32_t p = go->first_practice + k;
		Opra__V1__BlockingPractice *o = &bp[bg->n_practices];
		bpp[bg->n_practices++] = o;
		opra__v1__blocking_practice__init(o);
		o->id = (char *)ri->practices[p].id;
		o->org_value = (char *)rating_value_name(ro->practices[p].org);
		if (reason_list(s, bits[k], &o->reasons, &o->n_reasons) != OPRA_OK)
			return OPRA_RESOURCE_EXHAUSTED;
		memset(weak_at, 0, ri->n_instances);
		if (bits[k] & (1u << RATING_REASON_WEAKNESS))
			for (uint32_t w = 0; w < ri->n_weaknesses; w++)
				if (ri->weaknesses[w].practice == p &&
				    ri->weaknesses[w].significant)
					weak_at[ri->weaknesses[w].instance] = 1;
		o->instances = store_alloc(s, ((size_t)ri->n_instances + 1) * sizeof(char *));
		if (o->instances == NULL)
			return oom();
		for (uint32_t i = 0; i < ri->n_instances; i++) {
			int hit = weak_at[i];
			for (int code = 0; !hit && code < REASON_BITS; code++)
				hit = (bits[k] & (1u << code)) && reason_instance(ri, p, i, code);
			if (hit)
				o->instances[o->n_instances++] = (char *)ri->instances[i];
		}
	}
	return OPRA_OK;
}

/* gap, next_level and blocking of process area k (docs/rating.md "Gaps"). */
static int pa_gap(show_store *s, const rating_input *ri, const rating_output *ro, uint32_t k,
		  int with_text, Opra__V1__PaRating *o)
{
	const rating_pa *pa = &ri->pas[k];
	const rating_pa_result *res = &ro->pas[k];
	o->gap = -1;
	o->next_level = 0;
	if (res->status == RATING_PA_OUT_OF_SCOPE)
		return OPRA_OK;
	if (res->status == RATING_PA_RATED)
		o->gap = pa->target_level > res->level ? pa->target_level - res->level : 0;
	uint32_t level = res->stopped;
	if (level < 1 || level > 3)
		return OPRA_OK;
	o->next_level = (int32_t)level;
	/* the goals level needs: every specific goal and GG1 (by its own
	 * practices) for 1, GGn for n > 1 */
	uint32_t *want = store_alloc(s, ((size_t)pa->n_goals + 1) * sizeof(*want));
	size_t n = 0;
	if (want == NULL)
		return oom();
	uint32_t gg = res->gg_goal[level];
	if (level == 1) {
		for (uint32_t g = pa->first_goal; g < pa->first_goal + pa->n_goals; g++) {
			const rating_goal_result *gr = &ro->goals[g];
			if (ri->goals[g].generic_level == 0 && gr->rating != RATING_GOAL_SATISFIED)
				want[n++] = g;
			else if (g == gg && gr->rating != RATING_GOAL_SATISFIED &&
				 ((gr->own_rating != RATING_GOAL_NOT_EVALUATED &&
				   gr->own_rating != RATING_GOAL_SATISFIED) ||
				  (gr->why & RATING_WHY_NO_SPECIFIC_GOAL)))
				want[n++] = g;
		}
	} else if (gg != RATING_NO_INDEX && ro->goals[gg].rating != RATING_GOAL_SATISFIED) {
		want[n++] = gg;
	}
	int missing = level >= 2 && gg == RATING_NO_INDEX;
	size_t total = n + (size_t)missing;
	Opra__V1__BlockingGoal *bg = store_alloc(s, (total + 1) * sizeof(*bg));
	Opra__V1__BlockingGoal **bgp = store_alloc(s, (total + 1) * sizeof(*bgp));
	if (bg == NULL || bgp == NULL)
		return oom();
	o->blocking = bgp;
	for (size_t i = 0; i < n; i++) {
		int rc = blocking_goal(s, ri, ro, want[i], with_text, &bg[i]);
		if (rc != OPRA_OK)
			return rc;
		bgp[o->n_blocking++] = &bg[i];
	}
	if (missing) {
		Opra__V1__BlockingGoal *m = &bg[n];
		opra__v1__blocking_goal__init(m);
		char *id = store_alloc(s, 8), *text = store_alloc(s, 160);
		char **reasons = store_alloc(s, sizeof(char *));
		if (id == NULL || text == NULL || reasons == NULL)
			return oom();
		snprintf(id, 8, "GG%u", (unsigned)level);
		snprintf(text, 160,
			 "The model lists no GG%u for %s, so level %u cannot be decided.\n",
			 (unsigned)level, pa->id ? pa->id : "the process area", (unsigned)level);
		reasons[0] = "missing-goal";
		m->id = id;
		m->rating = (char *)rating_goal_value_name(RATING_GOAL_NOT_RATED);
		m->reasons = reasons;
		m->n_reasons = 1;
		if (with_text)
			m->explanation = text;
		bgp[o->n_blocking++] = m;
	}
	return OPRA_OK;
}

/* ---- rating a subset of the instances (a unit's view) ---- */

/* The engine's input and output for some of an appraisal's instances: the
 * same process areas, goals, practices and judgements, the cells and
 * weaknesses of those instances only. */
typedef struct {
	rating_input in;
	rating_output out;
	rating_cell *cells;
	int32_t *versions;
	rating_weakness *weaknesses;
	const char **instances;
} rating_view;

static void rating_view_free(rating_view *v)
{
	opra_free(v->cells);
	opra_free(v->versions);
	opra_free(v->weaknesses);
	opra_free(v->instances);
	opra_free(v->out.suggested);
	opra_free(v->out.practices);
	opra_free(v->out.goals);
	opra_free(v->out.pas);
	memset(v, 0, sizeof(*v));
}

/* Rates the instances pick[0..n) (indexes into f's instances, ascending)
 * into v (free with rating_view_free, also on failure). */
static int rating_view_compute(rating_view *v, const facts *f, const uint32_t *pick, uint32_t n,
			       const appraisal_ref *a)
{
	const rating_input *ri = &f->in;
	memset(v, 0, sizeof(*v));
	v->in = *ri;
	size_t n_cells = (size_t)ri->n_practices * n;
	v->cells = opra_calloc(n_cells + 1, sizeof(*v->cells));
	v->versions = opra_calloc(n_cells + 1, sizeof(*v->versions));
	v->weaknesses = opra_calloc((size_t)ri->n_weaknesses + 1, sizeof(*v->weaknesses));
	v->instances = opra_calloc((size_t)n + 1, sizeof(*v->instances));
	uint32_t *where = opra_malloc(((size_t)ri->n_instances + 1) * sizeof(*where));
	v->out.suggested = opra_calloc(n_cells + 1, 1);
	v->out.practices = opra_calloc((size_t)ri->n_practices + 1, sizeof(*v->out.practices));
	v->out.goals = opra_calloc((size_t)ri->n_goals + 1, sizeof(*v->out.goals));
	v->out.pas = opra_calloc((size_t)ri->n_pas + 1, sizeof(*v->out.pas));
	if (!v->cells || !v->versions || !v->weaknesses || !v->instances || !where ||
	    !v->out.suggested || !v->out.practices || !v->out.goals || !v->out.pas) {
		opra_free(where);
		return oom();
	}
	for (uint32_t i = 0; i < ri->n_instances; i++)
		where[i] = RATING_NO_INDEX;
	for (uint32_t k = 0; k < n; k++) {
		where[pick[k]] = k;
		v->instances[k] = ri->instances[pick[k]];
	}
	for (uint32_t p = 0; p < ri->n_practices; p++)
		for (uint32_t k = 0; k < n; k++) {
			size_t from = (size_t)p * ri->n_instances + pick[k], to = (size_t)p * n + k;
			v->cells[to] = ri->cells[from];
			v->versions[to] = f->versions[from];
		}
	uint32_t nw = 0;
	for (uint32_t w = 0; w < ri->n_weaknesses; w++) {
		if (where[ri->weaknesses[w].instance] == RATING_NO_INDEX)
			continue;
		v->weaknesses[nw] = ri->weaknesses[w];
		v->weaknesses[nw++].instance = where[ri->weaknesses[w].instance];
	}
	opra_free(where);
	v->in.instances = v->instances;
	v->in.n_instances = n;
	v->in.cells = v->cells;
	v->in.weaknesses = v->weaknesses;
	v->in.n_weaknesses = nw;
	if (rating_compute(&v->in, &v->out) != OPRA_OK) {
		log_warn("rating appraisal %lld by unit: %s", a->id, opra_err_msg());
		return opra_err_set(OPRA_INTERNAL,
				    "the stored facts of appraisal '%s' could not be rated by unit "
				    "(%s); details are in the server log",
				    a->name, opra_err_msg());
	}
	return OPRA_OK;
}

/* The units that hold the appraisal's instances: per (unit, instance) one
 * row, units in tree order (root first, depth-first by name). A service
 * instance belongs to its owning unit and every ancestor; a unit instance
 * to that unit and its ancestors. unit_id > 0 keeps that unit's rows only. */
static int units_query(PGresult **out, call *c, const appraisal_ref *a, long long unit_id)
{
	char aid[32], uid[32] = "";
	snprintf(aid, sizeof(aid), "%lld", a->id);
	if (unit_id > 0)
		snprintf(uid, sizeof(uid), "%lld", unit_id);
	const char *p[2] = {aid, uid};
	return db_exec(
		out, c->db, 1,
		"WITH RECURSIVE home AS (SELECT i.id AS instance_id, coalesce(i.unit_id, "
		"s.unit_id) AS unit_id FROM appraisal_instances i LEFT JOIN services s ON s.id = "
		"i.service_id WHERE i.appraisal_id = $1::bigint), "
		"up AS (SELECT h.instance_id, u.id AS unit_id, u.parent_id, 0 AS depth FROM home h "
		"JOIN units u ON u.id = h.unit_id UNION ALL SELECT up.instance_id, u.id, "
		"u.parent_id, "
		"up.depth + 1 FROM up JOIN units u ON u.id = up.parent_id WHERE up.depth < 64), "
		"held AS (SELECT DISTINCT unit_id, instance_id FROM up WHERE $2 = '' OR unit_id = "
		"nullif($2, '')::bigint), "
		"tree AS (SELECT id, ARRAY[name] AS path, 0 AS depth FROM units WHERE parent_id IS "
		"NULL UNION ALL SELECT u.id, t.path || u.name, t.depth + 1 FROM units u JOIN tree "
		"t "
		"ON u.parent_id = t.id WHERE t.depth < 64) "
		"SELECT u.id, u.name, coalesce(pu.name, ''), u.site, held.instance_id "
		"FROM held JOIN units u ON u.id = held.unit_id LEFT JOIN units pu ON pu.id = "
		"u.parent_id LEFT JOIN tree t ON t.id = u.id "
		"ORDER BY coalesce(t.path, ARRAY[u.name]), u.id, held.instance_id",
		2, p);
}

/* The unit named (or numbered) name, not removed. */
static int show_unit(call *c, const char *name, long long *unit_id, const char **canonical,
		     PGresult **keep)
{
	const char *p[1] = {name};
	int rc = db_exec(keep, c->db, 1,
			 "SELECT id, name FROM units WHERE removed_at IS NULL AND (name = $1 OR "
			 "id::text = $1) ORDER BY name = $1 DESC, id LIMIT 1",
			 1, p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(*keep) != 1)
		return opra_err_set(OPRA_NOT_FOUND,
				    "no unit named '%s' (opra unit list shows them)", name);
	*unit_id = db_to_ll(PQgetvalue(*keep, 0, 0));
	*canonical = PQgetvalue(*keep, 0, 1);
	return OPRA_OK;
}

/* ---- building the reply ---- */

typedef struct {
	int explain, compact, summary;
} show_form;

/* The process areas of one rating (the organisational one, or a view) into
 * s, as the messages of s->pa_p. pr is Q_PAS (names and models). */
static int build_pas(show_store *s, const rating_input *ri, const rating_output *ro,
		     const int32_t *versions, PGresult *pr, show_form form)
{
	size_t n_cells = (size_t)ri->n_practices * ri->n_instances;
	s->pa = opra_calloc(ri->n_pas + 1, sizeof(*s->pa));
	s->pa_p = opra_calloc(ri->n_pas + 1, sizeof(*s->pa_p));
	s->goal = opra_calloc(ri->n_goals + 1, sizeof(*s->goal));
	s->goal_p = opra_calloc(ri->n_goals + 1, sizeof(*s->goal_p));
	if (!form.summary) {
		s->prac = opra_calloc(ri->n_practices + 1, sizeof(*s->prac));
		s->prac_p = opra_calloc(ri->n_practices + 1, sizeof(*s->prac_p));
		if (form.compact) {
			s->codes = opra_malloc(2 * (n_cells + ri->n_practices) + 1);
		} else {
			s->iv = opra_calloc(n_cells + 1, sizeof(*s->iv));
			s->iv_p = opra_calloc(n_cells + 1, sizeof(*s->iv_p));
		}
	}
	if (form.explain)
		s->texts = opra_calloc((size_t)ri->n_pas + ri->n_goals + ri->n_practices + 1,
				       sizeof(*s->texts));
	if (!s->pa || !s->pa_p || !s->goal || !s->goal_p ||
	    (!form.summary && (!s->prac || !s->prac_p)) ||
	    (!form.summary && !form.compact && (!s->iv || !s->iv_p)) ||
	    (!form.summary && form.compact && !s->codes) || (form.explain && !s->texts))
		return oom();
	for (uint32_t k = 0; k < ri->n_pas; k++) {
		const rating_pa *pa = &ri->pas[k];
		const rating_pa_result *res = &ro->pas[k];
		Opra__V1__PaRating *o = &s->pa[k];
		opra__v1__pa_rating__init(o);
		s->pa_p[k] = o;
		o->id = PQgetvalue(pr, (int)k, 1);
		o->name = PQgetvalue(pr, (int)k, 2);
		o->model = PQgetvalue(pr, (int)k, 3);
		o->status = (char *)rating_pa_status_name(res->status);
		/* Only a rated PA has a capability level: not-rated and
		 * out-of-scope are -1, never 0 (level_reached says how far a
		 * not-rated PA got). */
		o->capability_level = res->status == RATING_PA_RATED ? res->level : -1;
		o->level_reached = res->level;
		o->target_level = pa->target_level;
		if (form.explain && !(o->explanation = explain_in(s, rating_explain_pa, ri, ro, k)))
			return oom();
		int rc = pa_gap(s, ri, ro, k, 1, o);
		if (rc != OPRA_OK)
			return rc;
		o->goals = s->goal_p + pa->first_goal;
		o->n_goals = pa->n_goals;
		for (uint32_t gi = pa->first_goal; gi < pa->first_goal + pa->n_goals; gi++) {
			const rating_goal *g = &ri->goals[gi];
			Opra__V1__GoalRating *go = &s->goal[gi];
			opra__v1__goal_rating__init(go);
			s->goal_p[gi] = go;
			go->id = (char *)g->id;
			go->rating = (char *)rating_goal_value_name(ro->goals[gi].rating);
			go->above_target = ro->goals[gi].above_target;
			if (form.explain &&
			    !(go->explanation = explain_in(s, rating_explain_goal, ri, ro, gi)))
				return oom();
			if (form.summary)
				continue;
			go->practices = s->prac_p + g->first_practice;
			go->n_practices = g->n_practices;
			for (uint32_t pi = g->first_practice;
			     pi < g->first_practice + g->n_practices; pi++) {
				const rating_practice_result *p = &ro->practices[pi];
				Opra__V1__PracticeRating *po = &s->prac[pi];
				opra__v1__practice_rating__init(po);
				s->prac_p[pi] = po;
				po->id = (char *)ri->practices[pi].id;
				po->org_value = (char *)rating_value_name(p->org);
				po->row = (char *)rating_row_name(p->row);
				po->judgement = ri->practices[pi].judgement
							? (char *)rating_value_name(
								  ri->practices[pi].judgement)
							: "";
				po->judgement_status = (char *)judgement_status_name(p->judgement);
				po->weaknesses = (int32_t)p->weaknesses;
				po->significant_weaknesses = (int32_t)p->significant;
				if (form.explain &&
				    !(po->explanation =
					      explain_in(s, rating_explain_practice, ri, ro, pi)))
					return oom();
				size_t base = (size_t)pi * ri->n_instances;
				if (form.compact) {
					/* one character per cell, and the versions
					 * straight from the facts */
					char *cv = s->codes + 2 * (base + pi);
					char *cs = cv + ri->n_instances + 1;
					for (uint32_t ii = 0; ii < ri->n_instances; ii++) {
						cv[ii] = cell_code(ri->cells[base + ii].label);
						cs[ii] = cell_code(ro->suggested[base + ii]);
					}
					cv[ri->n_instances] = cs[ri->n_instances] = '\0';
					po->cell_values = cv;
					po->cell_suggested = cs;
					po->cell_versions = (int32_t *)versions + base;
					po->n_cell_versions = ri->n_instances;
					continue;
				}
				po->instances = s->iv_p + base;
				po->n_instances = ri->n_instances;
				for (uint32_t ii = 0; ii < ri->n_instances; ii++) {
					size_t cell = base + ii;
					Opra__V1__InstanceValue *iv = &s->iv[cell];
					opra__v1__instance_value__init(iv);
					s->iv_p[cell] = iv;
					iv->instance = (char *)ri->instances[ii];
					iv->value =
						(char *)rating_value_name(ri->cells[cell].label);
					iv->suggested = ro->suggested[cell] == RATING_NONE
								? ""
								: (char *)rating_value_name(
									  ro->suggested[cell]);
					iv->version = versions[cell];
				}
			}
		}
	}
	return OPRA_OK;
}

/* The per-unit views (RatingShowRequest.by_unit), each with its own store
 * and rating view, freed by units_free. */
typedef struct {
	size_t n;
	show_store *stores;
	rating_view *views;
	Opra__V1__UnitRating *units;
	Opra__V1__UnitRating **units_p;
	uint32_t *pick;
} unit_views;

static void units_free(unit_views *u)
{
	for (size_t i = 0; i < u->n; i++) {
		show_store_free(&u->stores[i]);
		rating_view_free(&u->views[i]);
		opra_free(u->units[i].instances);
	}
	opra_free(u->stores);
	opra_free(u->views);
	opra_free(u->units);
	opra_free(u->units_p);
	opra_free(u->pick);
	memset(u, 0, sizeof(*u));
}

static int units_build(unit_views *u, const facts *f, PGresult *ur, const appraisal_ref *a)
{
	int rows = PQntuples(ur);
	size_t n = 0;
	for (int i = 0; i < rows; i++)
		n += i == 0 || strcmp(PQgetvalue(ur, i, 0), PQgetvalue(ur, i - 1, 0)) != 0;
	u->stores = opra_calloc(n + 1, sizeof(*u->stores));
	u->views = opra_calloc(n + 1, sizeof(*u->views));
	u->units = opra_calloc(n + 1, sizeof(*u->units));
	u->units_p = opra_calloc(n + 1, sizeof(*u->units_p));
	u->pick = opra_calloc((size_t)f->in.n_instances + 1, sizeof(*u->pick));
	if (!u->stores || !u->views || !u->units || !u->units_p || !u->pick)
		return oom();
	show_form form = {0, 0, 1};
	for (int i = 0; i < rows;) {
		int j = i;
		uint32_t np = 0;
		for (; j < rows && strcmp(PQgetvalue(ur, j, 0), PQgetvalue(ur, i, 0)) == 0; j++) {
			uint32_t k =
				id_lookup_find(&f->instance_at, db_to_ll(PQgetvalue(ur, j, 4)));
			if (k != RATING_NO_INDEX && np < f->in.n_instances)
				u->pick[np++] = k;
		}
		/* instance indexes ascending: the views list instances by name */
		for (uint32_t x = 1; x < np; x++)
			for (uint32_t y = x; y > 0 && u->pick[y - 1] > u->pick[y]; y--) {
				uint32_t t = u->pick[y];
				u->pick[y] = u->pick[y - 1];
				u->pick[y - 1] = t;
			}
		size_t k = u->n++;
		Opra__V1__UnitRating *o = &u->units[k];
		opra__v1__unit_rating__init(o);
		u->units_p[k] = o;
		o->unit = PQgetvalue(ur, i, 1);
		o->parent = PQgetvalue(ur, i, 2);
		o->site = PQgetvalue(ur, i, 3);
		int rc = rating_view_compute(&u->views[k], f, u->pick, np, a);
		if (rc != OPRA_OK)
			return rc;
		o->instances = opra_calloc((size_t)np + 1, sizeof(char *));
		if (o->instances == NULL)
			return oom();
		o->n_instances = np;
		for (uint32_t x = 0; x < np; x++)
			o->instances[x] = (char *)u->views[k].instances[x];
		rc = build_pas(&u->stores[k], &u->views[k].in, &u->views[k].out,
			       u->views[k].versions, f->r[Q_PAS], form);
		if (rc != OPRA_OK)
			return rc;
		o->process_areas = u->stores[k].pa_p;
		o->n_process_areas = f->in.n_pas;
		i = j;
	}
	return OPRA_OK;
}

static int show(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__RatingShowRequest *req = (const Opra__V1__RatingShowRequest *)in;
	appraisal_ref a;
	long long pa_id = 0, unit_id = 0;
	const char *unit_name = "";
	PGresult *unit_res = NULL, *held = NULL, *all_units = NULL;
	facts f;
	show_store s;
	rating_view uv;
	unit_views units;
	uint32_t *pick = NULL;
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&uv, 0, sizeof(uv));
	memset(&units, 0, sizeof(units));
	memset(&f, 0, sizeof(f));
	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	if (req->process_area[0] && (rc = show_pa(c, &a, req->process_area, &pa_id)) != OPRA_OK)
		return rc;
	if (req->unit[0] &&
	    (rc = show_unit(c, req->unit, &unit_id, &unit_name, &unit_res)) != OPRA_OK)
		goto done;
	if ((rc = facts_load(c, &a, pa_id, &f)) != OPRA_OK)
		goto done;
	const rating_input *ri = &f.in;
	const rating_output *ro = &f.out;
	const int32_t *versions = f.versions;
	Opra__V1__RatingShowReply rep = OPRA__V1__RATING_SHOW_REPLY__INIT;
	if (unit_id > 0) {
		if ((rc = units_query(&held, c, &a, unit_id)) != OPRA_OK)
			goto done;
		int rows = PQntuples(held);
		if (rows == 0) {
			rc = opra_err_set(OPRA_INVALID_ARGUMENT,
					  "unit '%s' holds none of the instances of appraisal '%s' "
					  "(opra appraisal show '%s' lists them; --by-unit shows "
					  "the units that do)",
					  unit_name, a.name, a.name);
			goto done;
		}
		pick = opra_calloc((size_t)rows + 1, sizeof(*pick));
		if (pick == NULL) {
			rc = oom();
			goto done;
		}
		uint32_t np = 0;
		for (int i = 0; i < rows; i++) {
			uint32_t k =
				id_lookup_find(&f.instance_at, db_to_ll(PQgetvalue(held, i, 4)));
			if (k != RATING_NO_INDEX)
				pick[np++] = k;
		}
		for (uint32_t x = 1; x < np; x++)
			for (uint32_t y = x; y > 0 && pick[y - 1] > pick[y]; y--) {
				uint32_t t = pick[y];
				pick[y] = pick[y - 1];
				pick[y - 1] = t;
			}
		if ((rc = rating_view_compute(&uv, &f, pick, np, &a)) != OPRA_OK)
			goto done;
		ri = &uv.in;
		ro = &uv.out;
		versions = uv.versions;
		rep.unit = (char *)unit_name;
		rep.unit_instances = (char **)uv.instances;
		rep.n_unit_instances = np;
	}
	show_form form = {req->explain, req->compact, req->summary};
	if ((rc = build_pas(&s, ri, ro, versions, f.r[Q_PAS], form)) != OPRA_OK)
		goto done;
	if (req->by_unit) {
		if ((rc = units_query(&all_units, c, &a, 0)) != OPRA_OK ||
		    (rc = units_build(&units, &f, all_units, &a)) != OPRA_OK)
			goto done;
		rep.units = units.units_p;
		rep.n_units = units.n;
	}
	rep.appraisal = a.name;
	rep.sealed = a.sealed;
	rep.process_areas = s.pa_p;
	rep.n_process_areas = ri->n_pas;
	PGresult *mr = f.r[Q_META];
	if (PQntuples(mr) == 1) {
		rep.head = PQgetvalue(mr, 0, 0);
		rep.events = db_to_ll(PQgetvalue(mr, 0, 1));
	}
	rep.characterisations = f.characterisations;
	if (req->compact || req->summary) {
		rep.instances = (char **)ri->instances;
		rep.n_instances = ri->n_instances;
	}
	rc = call_reply(c, &rep.base);
done:
	units_free(&units);
	rating_view_free(&uv);
	opra_free(pick);
	show_store_free(&s);
	facts_free(&f);
	PQclear(unit_res);
	PQclear(held);
	PQclear(all_units);
	return rc;
}

/* ---- Candidates ---- */

static int candidates_validate(const ProtobufCMessage *in)
{
	const Opra__V1__CandidatesRequest *r = (const Opra__V1__CandidatesRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->practice[0] && (rc = check_practice(r->practice)) != OPRA_OK)
		return rc;
	if (r->instance[0] && (rc = check_instance(r->instance)) != OPRA_OK)
		return rc;
	return OPRA_OK;
}

static int candidates(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__CandidatesRequest *req = (const Opra__V1__CandidatesRequest *)in;
	appraisal_ref a;
	long long practice_id = 0, instance_id = 0;
	char canonical[PRACTICE_ID_MAX + 1], aid[32], pid[32] = "", iid[32] = "";
	PGresult *r = NULL;
	int rc;

	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	if (req->practice[0] &&
	    (rc = appraisal_practice(c, &a, req->practice, &practice_id, canonical)) != OPRA_OK)
		return rc;
	if (req->instance[0] &&
	    (rc = appraisal_instance(c, &a, req->instance, &instance_id)) != OPRA_OK)
		return rc;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	if (practice_id)
		snprintf(pid, sizeof(pid), "%lld", practice_id);
	if (instance_id)
		snprintf(iid, sizeof(iid), "%lld", instance_id);
	/* Practice-level crosswalk references in either direction: P's refs
	 * naming Q (model key + full id), or Q's refs naming P. */
	const char *p[3] = {aid, pid, iid};
	rc = db_exec(
		&r, c->db, 1,
		"WITH ev AS (SELECT e.id, e.practice_id, e.instance_id FROM evidence e "
		"WHERE e.appraisal_id = $1::bigint AND e.status IN ('accepted', 'proposed') "
		"AND ($3 = '' OR e.instance_id = nullif($3, '')::bigint)), "
		"pairs AS (SELECT ev.id AS eid, q.id AS qid, r.confirmed FROM ev "
		"JOIN model_refs r ON r.practice_id = ev.practice_id AND r.target_practice IS NOT "
		"NULL JOIN models qm ON qm.key = r.target_model JOIN practices q ON q.model_id = "
		"qm.id AND q.full_id_lower = r.target_lower "
		"UNION ALL SELECT ev.id, r.practice_id, r.confirmed FROM ev "
		"JOIN practices p ON p.id = ev.practice_id JOIN models pm ON pm.id = p.model_id "
		"JOIN model_refs r ON r.target_model = pm.key AND r.target_lower = "
		"p.full_id_lower AND r.target_practice IS NOT NULL AND r.practice_id IS NOT NULL) "
		"SELECT e.id, p.full_id, q.full_id, i.name, e.kind, e.title, "
		"coalesce(encode(e.sha256, 'hex'), ''), e.size, e.status, bool_or(pairs.confirmed) "
		"FROM pairs JOIN evidence e ON e.id = pairs.eid "
		"JOIN practices p ON p.id = e.practice_id JOIN practices q ON q.id = pairs.qid "
		"JOIN goals g ON g.id = q.goal_id "
		"JOIN appraisal_pas ap ON ap.appraisal_id = $1::bigint AND ap.pa_id = g.pa_id "
		"JOIN appraisal_models am ON am.appraisal_id = $1::bigint AND am.model_id = "
		"q.model_id JOIN appraisal_instances i ON i.id = e.instance_id "
		"WHERE q.id <> e.practice_id AND ($2 = '' OR q.id = nullif($2, '')::bigint) "
		"AND NOT EXISTS (SELECT 1 FROM evidence_links l WHERE l.evidence_id = e.id AND "
		"l.practice_id = q.id AND l.instance_id = e.instance_id) "
		"GROUP BY e.id, p.full_id, q.full_id, i.name, q.id "
		"ORDER BY q.full_id, i.name, e.id LIMIT 10000",
		3, p);
	if (rc != OPRA_OK)
		return rc;
	int n = PQntuples(r);
	Opra__V1__Candidate *cs = opra_calloc((size_t)n + 1, sizeof(*cs));
	Opra__V1__Candidate **cp = opra_calloc((size_t)n + 1, sizeof(*cp));
	if (!cs || !cp) {
		rc = oom();
		goto done;
	}
	for (int i = 0; i < n; i++) {
		Opra__V1__Candidate *o = &cs[i];
		opra__v1__candidate__init(o);
		cp[i] = o;
		o->evidence_id = PQgetvalue(r, i, 0);
		o->from_practice = PQgetvalue(r, i, 1);
		o->practice = PQgetvalue(r, i, 2);
		o->instance = PQgetvalue(r, i, 3);
		o->kind = PQgetvalue(r, i, 4);
		o->title = PQgetvalue(r, i, 5);
		o->sha256 = PQgetvalue(r, i, 6);
		o->size = (uint64_t)db_to_ll(PQgetvalue(r, i, 7));
		o->status = PQgetvalue(r, i, 8);
		o->confirmed = PQgetvalue(r, i, 9)[0] == 't';
	}
	Opra__V1__CandidatesReply rep = OPRA__V1__CANDIDATES_REPLY__INIT;
	rep.candidates = cp;
	rep.n_candidates = (size_t)n;
	rc = call_reply(c, &rep.base);
done:
	opra_free(cs);
	opra_free(cp);
	PQclear(r);
	return rc;
}

/* ---- Link ---- */

static int link_validate(const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceLinkRequest *r = (const Opra__V1__EvidenceLinkRequest *)in;
	int rc;
	if ((rc = check_evidence_id(r->id)) != OPRA_OK ||
	    (rc = check_practice(r->practice)) != OPRA_OK)
		return rc;
	if (r->instance[0] && (rc = check_instance(r->instance)) != OPRA_OK)
		return rc;
	return OPRA_OK;
}

static int evidence_link(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__EvidenceLinkRequest *req = (const Opra__V1__EvidenceLinkRequest *)in;
	appraisal_ref a;
	long long practice_id = 0, instance_id = 0;
	char canonical[PRACTICE_ID_MAX + 1], pid[32], iid[32], uid[32], aid[32];
	char instance[INSTANCE_NAME_MAX + 1];
	PGresult *r = NULL;
	char *after = NULL;
	int rc;

	const char *p1[1] = {req->id};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT e.appraisal_id, e.practice_id, e.instance_id, i.name "
			  "FROM evidence e JOIN appraisal_instances i ON i.id = e.instance_id "
			  "WHERE e.id = $1::bigint",
			  1, p1)) != OPRA_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return opra_err_set(OPRA_NOT_FOUND,
				    "no evidence with id %s (see opra evidence list APPRAISAL)",
				    req->id);
	}
	snprintf(aid, sizeof(aid), "%s", PQgetvalue(r, 0, 0));
	long long own_practice = db_to_ll(PQgetvalue(r, 0, 1));
	long long own_instance = db_to_ll(PQgetvalue(r, 0, 2));
	instance_id = own_instance;
	snprintf(instance, sizeof(instance), "%s", PQgetvalue(r, 0, 3));
	PQclear(r);
	r = NULL;
	if ((rc = appraisal_open(c, aid, MEMBERS_DECIDE, APPR_WRITE | APPR_LOCK, &a)) != OPRA_OK ||
	    (rc = appraisal_practice(c, &a, req->practice, &practice_id, canonical)) != OPRA_OK)
		return rc;
	if (req->instance[0]) {
		if ((rc = appraisal_instance(c, &a, req->instance, &instance_id)) != OPRA_OK)
			return rc;
		snprintf(instance, sizeof(instance), "%s", req->instance);
	}
	snprintf(pid, sizeof(pid), "%lld", practice_id);
	snprintf(iid, sizeof(iid), "%lld", instance_id);
	snprintf(uid, sizeof(uid), "%lld", c->who->id);
	const char *result = "unchanged";
	/* Evidence already counts where it was submitted: a link there would
	 * count it twice, so that is "unchanged". */
	if (practice_id != own_practice || instance_id != own_instance) {
		const char *p[4] = {req->id, pid, iid, uid};
		if ((rc = db_exec(&r, c->db, 1,
				  "INSERT INTO evidence_links (evidence_id, practice_id, "
				  "instance_id, linked_by) VALUES ($1::bigint, $2::bigint, "
				  "$3::bigint, $4::bigint) ON CONFLICT DO NOTHING RETURNING 1",
				  4, p)) != OPRA_OK)
			return rc;
		if (PQntuples(r) == 1)
			result = "linked";
		PQclear(r);
		r = NULL;
	}
	if (strcmp(result, "linked") == 0) {
		after = json_text(json_pack("{s:{s:s, s:s}}", "linked", "practice", canonical,
					    "instance", instance));
		if (after == NULL)
			return oom();
		char object[48];
		snprintf(object, sizeof(object), "evidence %s", req->id);
		rc = appraisal_event(c, &a, object, NULL, after, 0, NULL);
		free(after);
		if (rc != OPRA_OK)
			return rc;
	}
	Opra__V1__EvidenceLinkReply rep = OPRA__V1__EVIDENCE_LINK_REPLY__INIT;
	rep.id = req->id;
	rep.practice = canonical;
	rep.instance = instance;
	rep.result = (char *)result;
	return call_reply(c, &rep.base);
}

/* Writes need a person's account (automation submits evidence; it does not
 * characterise or judge); the member role is checked per appraisal. */
#define ROLES_DECIDE (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_USER)

static const method_impl methods[] = {
	{"Characterize", characterize, characterize_validate, ROLES_DECIDE, METHOD_MUTATES, NULL},
	{"WeaknessAdd", weakness_add, weakness_validate, ROLES_DECIDE, METHOD_MUTATES, NULL},
	{"Judge", judge, judge_validate, ROLES_DECIDE, METHOD_MUTATES, NULL},
	{"Show", show, show_validate, ROLES_ANY, 0, NULL},
	{"Candidates", candidates, candidates_validate, ROLES_ANY, 0, NULL},
	{"Link", evidence_link, link_validate, ROLES_DECIDE, METHOD_MUTATES, NULL},
};

const service_impl svc_rating = {&opra__v1__rating__descriptor, methods,
				 sizeof(methods) / sizeof(methods[0])};
