/* The Rating service (proto/opra/v1/rating.proto, docs/rating.md "Server"):
 * characterisations with optimistic concurrency, weaknesses, a lead's
 * judgements, evidence reused for mapped practices (Candidates, Link), and
 * Show, which loads one appraisal's facts with a few set-based queries into
 * the rating engine's arrays (common/rating.h) and rates it on every read.
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

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* rating_cells holds per (practice, instance) a copy of the
 * characterisation's value and version and the accepted artifacts and
 * affirmations counted there (the evidence submitted there plus the evidence
 * linked there), kept exact by triggers in the same transaction as every
 * change to characterisations, evidence or evidence_links
 * (sql/010_rating_cells.sql). Show reads the cells from it alone. */

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

static int check_appraisal(const char *s)
{
	if (s[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name the appraisal (its name or id)");
	return opra_name_check("the appraisal name", s, APPRAISAL_NAME_MAX);
}

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

/* Q_PAS..Q_META run in one pipeline; Q_CELLS follows in the same
 * transaction with binary results (Q_PIPELINED queries before it). */
enum { Q_PAS, Q_PRACTICES, Q_INSTANCES, Q_WEAKNESSES, Q_META, Q_CELLS, Q_N };
#define Q_PIPELINED Q_CELLS

typedef struct {
	PGresult *r[Q_N];
	rating_pa *pas;
	long long *pa_ids;
	rating_goal *goals;
	rating_practice *practices;
	long long *practice_ids;
	int *practice_row; /* row of the practice in r[Q_PRACTICES] */
	id_index *practice_map, *instance_map;
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
	/* Q_PRACTICES: goals and practices of those PAs that are in scope, with
	 * any judgement */
	"SELECT g.pa_id, g.id, g.code, g.generic, p.id, p.full_id, coalesce(j.value, ''), "
	"coalesce(j.rationale <> '', false) "
	"FROM appraisal_pas ap JOIN process_areas pa ON pa.id = ap.pa_id "
	"JOIN models m ON m.id = pa.model_id JOIN goals g ON g.pa_id = pa.id "
	"LEFT JOIN practices p ON p.goal_id = g.id "
	"LEFT JOIN judgements j ON j.appraisal_id = ap.appraisal_id AND j.practice_id = p.id "
	"WHERE ap.appraisal_id = $1::bigint AND ($2 = '' OR pa.id = nullif($2, '')::bigint) "
	"ORDER BY m.key, pa.ord, pa.id, g.ord, g.id, p.ord, p.id",
	/* Q_INSTANCES */
	"SELECT id, name FROM appraisal_instances WHERE appraisal_id = $1::bigint ORDER BY name",
	/* Q_WEAKNESSES */
	"SELECT id, practice_id, instance_id, significant, text FROM weaknesses "
	"WHERE appraisal_id = $1::bigint ORDER BY id",
	/* Q_META */
	"SELECT encode(head, 'hex'), events FROM appraisals WHERE id = $1::bigint",
	/* Q_CELLS: one row per cell, binary (cells_binary_ok checks the
	 * columns' lengths) */
	"SELECT practice_id, instance_id, value, version, artifacts, affirmations "
	"FROM rating_cells WHERE appraisal_id = $1::bigint",
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

static uint16_t clamp_count(int32_t n)
{
	return (uint16_t)(n < 0 ? 0 : n > UINT16_MAX ? UINT16_MAX : n);
}

/* The binary row i of Q_CELLS has the lengths of bigint, bigint, text or
 * NULL, integer, integer, integer. */
static int cells_binary_ok(const PGresult *r, int i)
{
	return PQgetlength(r, i, 0) == 8 && PQgetlength(r, i, 1) == 8 &&
	       PQgetlength(r, i, 3) == 4 && PQgetlength(r, i, 4) == 4 && PQgetlength(r, i, 5) == 4;
}

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

	/* goals and practices, grouped by PA in the same order */
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
			while (pa < n_pas && f->pa_ids[pa] != pa_id)
				pa++;
			if (pa == n_pas) /* cannot happen: same scope, same order */
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
		int j = rating_value_parse(PQgetvalue(r, i, 6));
		p->judgement = (uint8_t)(j >= RATING_FI && j <= RATING_NI ? j : RATING_NONE);
		p->judgement_rationale = PQgetvalue(r, i, 7)[0] == 't';
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

	/* cells */
	size_t n_cells = (size_t)n_practices * n_inst;
	f->cells = opra_calloc(n_cells ? n_cells : 1, sizeof(*f->cells));
	f->versions = opra_calloc(n_cells ? n_cells : 1, sizeof(*f->versions));
	if (!f->cells || !f->versions)
		return oom();
	r = f->r[Q_CELLS];
	n = PQntuples(r);
	if (PQnfields(r) != 6)
		return opra_err_set(OPRA_INTERNAL,
				    "the cells of appraisal '%s' came back with %d columns "
				    "instead of 6; check that the database schema is current",
				    a->name, PQnfields(r));
	long long chars = 0;
	for (int i = 0; i < n; i++) {
		if (!cells_binary_ok(r, i))
			return opra_err_set(OPRA_INTERNAL,
					    "a cell of appraisal '%s' came back in an unexpected "
					    "form; check that the database schema is current",
					    a->name);
		const char *v_text = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
		if (v_text)
			chars++;
		uint32_t p = id_lookup_find(&f->practice_at, be64(PQgetvalue(r, i, 0)));
		uint32_t k = id_lookup_find(&f->instance_at, be64(PQgetvalue(r, i, 1)));
		if (p == RATING_NO_INDEX || k == RATING_NO_INDEX)
			continue; /* a practice outside the scope (or the --pa filter) */
		size_t cell = (size_t)p * n_inst + k;
		rating_cell *c = &f->cells[cell];
		if (v_text) {
			/* binary text is the bytes, NUL-terminated by libpq */
			int v = rating_value_parse(v_text);
			c->label = (uint8_t)(v >= RATING_FI && v <= RATING_NY ? v : RATING_NONE);
			/* NY is the team's statement that the instance has not
			 * reached the practice yet: the suggestion follows it
			 * (docs/rating.md, S1). */
			if (v == RATING_NY)
				c->flags |= RATING_CELL_NOT_YET;
			f->versions[cell] = (int32_t)be32(PQgetvalue(r, i, 3));
		}
		c->artifacts = clamp_count((int32_t)be32(PQgetvalue(r, i, 4)));
		c->affirmations = clamp_count((int32_t)be32(PQgetvalue(r, i, 5)));
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

/* Runs Q_CELLS with binary results: no text to parse for tens of thousands
 * of rows. */
static int cells_query(PGresult **out, call *c, const char *aid)
{
	const char *p[1] = {aid};
	return db_exec_binres(out, c->db, facts_sql[Q_CELLS], 1, p, NULL, NULL);
}

/* Loads and rates appraisal a (only process area pa_id when > 0, in or out
 * of scope). Outside a transaction the queries run in one read-only
 * REPEATABLE READ transaction (one snapshot): BEGIN and the small queries
 * in one round trip (libpq pipeline), then the cells with binary results,
 * then COMMIT. Inside one (a change that reports its effect) they see that
 * transaction. */
static int facts_load(call *c, const appraisal_ref *a, long long pa_id, facts *f)
{
	char aid[32], pid[32] = "";
	snprintf(aid, sizeof(aid), "%lld", a->id);
	if (pa_id > 0)
		snprintf(pid, sizeof(pid), "%lld", pa_id);
	const char *p2[2] = {aid, pid};
	db_stmt st[Q_PIPELINED + 1];
	size_t n = 0;
	int own = !db_in_transaction(c->db);
	memset(f, 0, sizeof(*f));
	memset(st, 0, sizeof(st));
	if (own)
		st[n++] = (db_stmt){.sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"};
	size_t first = n;
	for (int q = 0; q < Q_PIPELINED; q++) {
		st[n].sql = facts_sql[q];
		st[n].nparams = (q == Q_PAS || q == Q_PRACTICES) ? 2 : 1;
		st[n].params = p2;
		st[n].want_rows = 1;
		n++;
	}
	int rc = db_pipeline(c->db, st, n);
	if (rc == OPRA_OK) {
		for (int q = 0; q < Q_PIPELINED; q++)
			f->r[q] = st[first + (size_t)q].res;
		rc = cells_query(&f->r[Q_CELLS], c, aid);
	}
	if (rc == OPRA_OK && own)
		rc = db_commit(c->db);
	if (rc != OPRA_OK) {
		if (own)
			db_rollback(c->db);
		facts_free(f);
		return rc;
	}
	if ((rc = facts_build(f, a)) != OPRA_OK)
		facts_free(f);
	return rc;
}

/* ---- Characterize ---- */

static int characterize_validate(const ProtobufCMessage *in)
{
	const Opra__V1__CharacterizeRequest *r = (const Opra__V1__CharacterizeRequest *)in;
	int rc, v;
	if ((rc = check_appraisal(r->appraisal)) != OPRA_OK ||
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
	if ((rc = check_appraisal(r->appraisal)) != OPRA_OK ||
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
	if ((rc = check_appraisal(r->appraisal)) != OPRA_OK ||
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
	if ((rc = check_appraisal(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->process_area[0])
		return opra_name_check("the process area", r->process_area, RATING_PA_FILTER_MAX);
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

/* Storage of one Show reply: every message in a few arrays. */
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
}

typedef size_t (*explain_fn)(char *, size_t, const rating_input *, const rating_output *, uint32_t);

/* An explanation as a string kept in s (NULL when out of memory). */
static char *explain(show_store *s, explain_fn fn, const facts *f, uint32_t idx)
{
	char small[1];
	size_t need = fn(small, sizeof(small), &f->in, &f->out, idx);
	char *t = opra_malloc(need + 1);
	if (t == NULL)
		return NULL;
	fn(t, need + 1, &f->in, &f->out, idx);
	s->texts[s->n_texts++] = t;
	return t;
}

static int show(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__RatingShowRequest *req = (const Opra__V1__RatingShowRequest *)in;
	appraisal_ref a;
	long long pa_id = 0;
	facts f;
	show_store s;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		return rc;
	if (req->process_area[0] && (rc = show_pa(c, &a, req->process_area, &pa_id)) != OPRA_OK)
		return rc;
	if ((rc = facts_load(c, &a, pa_id, &f)) != OPRA_OK)
		return rc;
	const rating_input *ri = &f.in;
	const rating_output *ro = &f.out;
	size_t n_cells = (size_t)ri->n_practices * ri->n_instances;
	s.pa = opra_calloc(ri->n_pas + 1, sizeof(*s.pa));
	s.pa_p = opra_calloc(ri->n_pas + 1, sizeof(*s.pa_p));
	s.goal = opra_calloc(ri->n_goals + 1, sizeof(*s.goal));
	s.goal_p = opra_calloc(ri->n_goals + 1, sizeof(*s.goal_p));
	s.prac = opra_calloc(ri->n_practices + 1, sizeof(*s.prac));
	s.prac_p = opra_calloc(ri->n_practices + 1, sizeof(*s.prac_p));
	if (req->compact) {
		s.codes = opra_malloc(2 * (n_cells + ri->n_practices) + 1);
		s.iv = opra_calloc(1, sizeof(*s.iv));
		s.iv_p = opra_calloc(1, sizeof(*s.iv_p));
	} else {
		s.iv = opra_calloc(n_cells + 1, sizeof(*s.iv));
		s.iv_p = opra_calloc(n_cells + 1, sizeof(*s.iv_p));
	}
	if (req->explain)
		s.texts = opra_calloc((size_t)ri->n_pas + ri->n_goals + ri->n_practices + 1,
				      sizeof(*s.texts));
	if (!s.pa || !s.pa_p || !s.goal || !s.goal_p || !s.prac || !s.prac_p || !s.iv || !s.iv_p ||
	    (req->explain && !s.texts) || (req->compact && !s.codes)) {
		rc = oom();
		goto done;
	}
	PGresult *pr = f.r[Q_PAS];
	for (uint32_t k = 0; k < ri->n_pas; k++) {
		const rating_pa *pa = &ri->pas[k];
		const rating_pa_result *res = &ro->pas[k];
		Opra__V1__PaRating *o = &s.pa[k];
		opra__v1__pa_rating__init(o);
		s.pa_p[k] = o;
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
		if (req->explain && !(o->explanation = explain(&s, rating_explain_pa, &f, k))) {
			rc = oom();
			goto done;
		}
		o->goals = s.goal_p + pa->first_goal;
		o->n_goals = pa->n_goals;
		for (uint32_t gi = pa->first_goal; gi < pa->first_goal + pa->n_goals; gi++) {
			const rating_goal *g = &ri->goals[gi];
			Opra__V1__GoalRating *go = &s.goal[gi];
			opra__v1__goal_rating__init(go);
			s.goal_p[gi] = go;
			go->id = (char *)g->id;
			go->rating = (char *)rating_goal_value_name(ro->goals[gi].rating);
			go->above_target = ro->goals[gi].above_target;
			if (req->explain &&
			    !(go->explanation = explain(&s, rating_explain_goal, &f, gi))) {
				rc = oom();
				goto done;
			}
			go->practices = s.prac_p + g->first_practice;
			go->n_practices = g->n_practices;
			for (uint32_t pi = g->first_practice;
			     pi < g->first_practice + g->n_practices; pi++) {
				const rating_practice_result *p = &ro->practices[pi];
				Opra__V1__PracticeRating *po = &s.prac[pi];
				opra__v1__practice_rating__init(po);
				s.prac_p[pi] = po;
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
				if (req->explain &&
				    !(po->explanation =
					      explain(&s, rating_explain_practice, &f, pi))) {
					rc = oom();
					goto done;
				}
				size_t base = (size_t)pi * ri->n_instances;
				if (req->compact) {
					/* one character per cell, and the versions
					 * straight from the facts */
					char *cv = s.codes + 2 * (base + pi);
					char *cs = cv + ri->n_instances + 1;
					for (uint32_t ii = 0; ii < ri->n_instances; ii++) {
						cv[ii] = cell_code(ri->cells[base + ii].label);
						cs[ii] = cell_code(ro->suggested[base + ii]);
					}
					cv[ri->n_instances] = cs[ri->n_instances] = '\0';
					po->cell_values = cv;
					po->cell_suggested = cs;
					po->cell_versions = f.versions + base;
					po->n_cell_versions = ri->n_instances;
					continue;
				}
				po->instances = s.iv_p + base;
				po->n_instances = ri->n_instances;
				for (uint32_t ii = 0; ii < ri->n_instances; ii++) {
					size_t cell = base + ii;
					Opra__V1__InstanceValue *iv = &s.iv[cell];
					opra__v1__instance_value__init(iv);
					s.iv_p[cell] = iv;
					iv->instance = (char *)ri->instances[ii];
					iv->value =
						(char *)rating_value_name(ri->cells[cell].label);
					iv->suggested = ro->suggested[cell] == RATING_NONE
								? ""
								: (char *)rating_value_name(
									  ro->suggested[cell]);
					iv->version = f.versions[cell];
				}
			}
		}
	}
	Opra__V1__RatingShowReply rep = OPRA__V1__RATING_SHOW_REPLY__INIT;
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
	if (req->compact) {
		rep.instances = (char **)ri->instances;
		rep.n_instances = ri->n_instances;
	}
	rc = call_reply(c, &rep.base);
done:
	show_store_free(&s);
	facts_free(&f);
	return rc;
}

/* ---- Candidates ---- */

static int candidates_validate(const ProtobufCMessage *in)
{
	const Opra__V1__CandidatesRequest *r = (const Opra__V1__CandidatesRequest *)in;
	int rc;
	if ((rc = check_appraisal(r->appraisal)) != OPRA_OK)
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
