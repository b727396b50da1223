/* opra.v1.Model: list, show, import, export and crosswalk queries. Models
 * are stored as rows (sql/002_models.sql); import is one transaction that
 * bulk-loads every row with COPY. */
#include "method.h"
#include "model.h"
#include "model_pb.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"

#include "opra/v1/model.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_UTC "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

static int is_true(const char *s)
{
	return s[0] == 't';
}

/* ---- List ---- */

static int model_list(call *c, const ProtobufCMessage *in)
{
	PGresult *r = NULL;
	Opra__V1__ModelSummary *rows = NULL, **ptrs = NULL;
	int rc = db_exec(
		&r, c->db, 1,
		"SELECT m.key, m.name, m.version, m.short_name, "
		"(SELECT count(*) FROM process_areas pa WHERE pa.model_id = m.id), "
		"(SELECT count(*) FROM practices p WHERE p.model_id = m.id), "
		"(SELECT count(*) FROM practices p WHERE p.model_id = m.id AND NOT p.confirmed) + "
		"(SELECT count(*) FROM goals g JOIN process_areas pa ON pa.id = g.pa_id "
		" WHERE pa.model_id = m.id AND NOT g.confirmed) + "
		"(SELECT count(*) FROM process_areas pa WHERE pa.model_id = m.id AND NOT "
		"pa.confirmed), "
		"to_char(m.imported_at AT TIME ZONE 'UTC', " TS_UTC "), coalesce(u.name, '') "
		"FROM models m LEFT JOIN users u ON u.id = m.imported_by ORDER BY m.key",
		0, NULL);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r);
	rows = opra_calloc((size_t)n + 1, sizeof(*rows));
	ptrs = opra_calloc((size_t)n + 1, sizeof(*ptrs));
	if (rows == NULL || ptrs == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		opra__v1__model_summary__init(&rows[i]);
		rows[i].id = PQgetvalue(r, i, 0);
		rows[i].name = PQgetvalue(r, i, 1);
		rows[i].version = PQgetvalue(r, i, 2);
		rows[i].short_name = PQgetvalue(r, i, 3);
		rows[i].process_areas = (uint32_t)db_to_ll(PQgetvalue(r, i, 4));
		rows[i].practices = (uint32_t)db_to_ll(PQgetvalue(r, i, 5));
		rows[i].unconfirmed = (uint32_t)db_to_ll(PQgetvalue(r, i, 6));
		rows[i].imported_at = PQgetvalue(r, i, 7);
		rows[i].imported_by = PQgetvalue(r, i, 8);
		ptrs[i] = &rows[i];
	}
	Opra__V1__ModelListResponse resp = OPRA__V1__MODEL_LIST_RESPONSE__INIT;
	resp.n_models = (size_t)n;
	resp.models = ptrs;
	rc = call_reply(c, &resp.base);
done:
	opra_free(rows);
	opra_free(ptrs);
	PQclear(r);
	return rc;
}

/* ---- loading a stored model into memory (Show, Export) ---- */

static char *dup_col(PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	const char *v = PQgetvalue(r, row, col);
	return v[0] ? opra_strdup(v) : NULL;
}

static int prov_cols(model_provenance *p, PGresult *r, int row, int col)
{
	p->confirmed = is_true(PQgetvalue(r, row, col));
	p->sources = dup_col(r, row, col + 1);
	p->note = dup_col(r, row, col + 2);
	return OPRA_OK;
}

static int json_strings(char ***out, size_t *n, const char *text)
{
	json_error_t e;
	json_t *a = json_loads(text, 0, &e);
	*out = NULL;
	*n = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return opra_err_set(OPRA_INTERNAL, "stored list is not a JSON array");
	}
	size_t len = json_array_size(a);
	if (len && (*out = opra_calloc(len, sizeof(char *))) == NULL) {
		json_decref(a);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < len; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (((*out)[i] = opra_strdup(s ? s : "")) == NULL) {
			json_decref(a);
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		}
		(*n)++;
	}
	json_decref(a);
	return OPRA_OK;
}

typedef struct {
	long long id;
	model_practice *p;
} practice_slot;

static int slot_cmp(const void *a, const void *b)
{
	long long x = ((const practice_slot *)a)->id, y = ((const practice_slot *)b)->id;
	return x < y ? -1 : x > y;
}

/* The columns every reference query selects after its owner id. */
#define REF_COLS                                                                                   \
	"r.target_model, r.target_practice, r.target_pa, r.code, r.ref, r.note, "                  \
	"r.confirmed"

/* Rows [from, to) of r, columns 1.. = REF_COLS, into a new array. */
static int refs_from_rows(model_ref **out, size_t *n, PGresult *r, int from, int to)
{
	*n = 0;
	if ((*out = opra_calloc((size_t)(to - from), sizeof(model_ref))) == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	for (int k = from; k < to; k++) {
		model_ref *ref = &(*out)[(*n)++];
		ref->model = dup_col(r, k, 1);
		ref->practice = dup_col(r, k, 2);
		ref->process_area = dup_col(r, k, 3);
		ref->code = dup_col(r, k, 4);
		ref->ref = dup_col(r, k, 5);
		ref->note = dup_col(r, k, 6);
		ref->confirmed = is_true(PQgetvalue(r, k, 7));
	}
	return OPRA_OK;
}

/* Reads model `key` (optionally one process area) from the database. */
static int load_model(model **out, db *d, const char *key, const char *pa_filter)
{
	PGresult *r = NULL;
	model *m = NULL;
	practice_slot *slots = NULL;
	long long *pa_ids = NULL, *goal_ids = NULL;
	int rc;
	const char *pa = pa_filter ? pa_filter : "";

	*out = NULL;
	const char *p1[1] = {key};
	rc = db_exec(&r, d, 1,
		     "SELECT id, key, name, short_name, version, publisher, description, "
		     "confirmed, sources, note FROM models WHERE key = lower($1)",
		     1, p1);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) == 0) {
		rc = opra_err_set(OPRA_NOT_FOUND, "no model '%s' (see 'opra model list')", key);
		goto done;
	}
	if ((m = opra_calloc(1, sizeof(*m))) == NULL)
		goto oom;
	char model_id[32];
	snprintf(model_id, sizeof(model_id), "%s", PQgetvalue(r, 0, 0));
	m->id = dup_col(r, 0, 1);
	m->name = dup_col(r, 0, 2);
	m->short_name = dup_col(r, 0, 3);
	m->version = dup_col(r, 0, 4);
	m->publisher = dup_col(r, 0, 5);
	m->description = dup_col(r, 0, 6);
	m->origin = opra_strdup("database");
	prov_cols(&m->prov, r, 0, 7);
	PQclear(r);
	r = NULL;

	const char *p2[2] = {model_id, pa};
	rc = db_exec(&r, d, 1,
		     "SELECT id, code, name, category, purpose, confirmed, sources, note "
		     "FROM process_areas WHERE model_id = $1::bigint AND ($2 = '' OR lower(code) "
		     "= lower($2)) ORDER BY ord",
		     2, p2);
	if (rc != OPRA_OK)
		goto done;
	size_t npa = (size_t)PQntuples(r);
	if (npa == 0 && pa[0]) {
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "model '%s' has no process area '%s' (see 'opra model show %s')",
				  key, pa, key);
		goto done;
	}
	if (npa && ((m->pas = opra_calloc(npa, sizeof(model_pa))) == NULL ||
		    (pa_ids = opra_calloc(npa, sizeof(long long))) == NULL))
		goto oom;
	for (size_t i = 0; i < npa; i++) {
		model_pa *a = &m->pas[i];
		int row = (int)i;
		pa_ids[i] = db_to_ll(PQgetvalue(r, row, 0));
		a->id = dup_col(r, row, 1);
		a->name = dup_col(r, row, 2);
		a->category = dup_col(r, row, 3);
		a->purpose = dup_col(r, row, 4);
		prov_cols(&a->prov, r, row, 5);
		m->n_pas++;
	}
	PQclear(r);
	r = NULL;

	rc = db_exec(&r, d, 1,
		     "SELECT g.id, g.pa_id, g.code, g.title, g.generic, g.confirmed, g.sources, "
		     "g.note FROM goals g JOIN process_areas pa ON pa.id = g.pa_id "
		     "WHERE pa.model_id = $1::bigint AND ($2 = '' OR lower(pa.code) = lower($2)) "
		     "ORDER BY pa.ord, g.ord",
		     2, p2);
	if (rc != OPRA_OK)
		goto done;
	size_t ng = (size_t)PQntuples(r);
	if (ng && (goal_ids = opra_calloc(ng, sizeof(long long))) == NULL)
		goto oom;
	/* Goals come ordered by PA: count per PA, then fill. */
	size_t gi = 0;
	for (size_t i = 0; i < npa; i++) {
		size_t start = gi;
		while (gi < ng && db_to_ll(PQgetvalue(r, (int)gi, 1)) == pa_ids[i])
			gi++;
		size_t cnt = gi - start;
		if (cnt && (m->pas[i].goals = opra_calloc(cnt, sizeof(model_goal))) == NULL)
			goto oom;
		for (size_t k = 0; k < cnt; k++) {
			int row = (int)(start + k);
			model_goal *g = &m->pas[i].goals[k];
			goal_ids[start + k] = db_to_ll(PQgetvalue(r, row, 0));
			g->id = dup_col(r, row, 2);
			g->title = dup_col(r, row, 3);
			g->generic = is_true(PQgetvalue(r, row, 4));
			prov_cols(&g->prov, r, row, 5);
			m->pas[i].n_goals++;
		}
	}
	PQclear(r);
	r = NULL;

	rc = db_exec(&r, d, 1,
		     "SELECT p.id, p.goal_id, p.code, p.title, p.statement, p.subpractices::text, "
		     "p.work_products::text, p.confirmed, p.sources, p.note FROM practices p "
		     "JOIN goals g ON g.id = p.goal_id JOIN process_areas pa ON pa.id = g.pa_id "
		     "WHERE pa.model_id = $1::bigint AND ($2 = '' OR lower(pa.code) = lower($2)) "
		     "ORDER BY pa.ord, g.ord, p.ord",
		     2, p2);
	if (rc != OPRA_OK)
		goto done;
	size_t np = (size_t)PQntuples(r);
	if (np && (slots = opra_calloc(np, sizeof(*slots))) == NULL)
		goto oom;
	size_t pi = 0, goal_index = 0;
	for (size_t i = 0; i < npa; i++) {
		for (size_t k = 0; k < m->pas[i].n_goals; k++, goal_index++) {
			model_goal *g = &m->pas[i].goals[k];
			size_t start = pi;
			while (pi < np &&
			       db_to_ll(PQgetvalue(r, (int)pi, 1)) == goal_ids[goal_index])
				pi++;
			size_t cnt = pi - start;
			if (cnt &&
			    (g->practices = opra_calloc(cnt, sizeof(model_practice))) == NULL)
				goto oom;
			for (size_t j = 0; j < cnt; j++) {
				int row = (int)(start + j);
				model_practice *p = &g->practices[j];
				g->n_practices++;
				slots[start + j].id = db_to_ll(PQgetvalue(r, row, 0));
				slots[start + j].p = p;
				p->id = dup_col(r, row, 2);
				p->title = dup_col(r, row, 3);
				p->statement = dup_col(r, row, 4);
				if ((rc = json_strings(&p->subpractices, &p->n_subpractices,
						       PQgetvalue(r, row, 5))) != OPRA_OK ||
				    (rc = json_strings(&p->work_products, &p->n_work_products,
						       PQgetvalue(r, row, 6))) != OPRA_OK)
					goto done;
				prov_cols(&p->prov, r, row, 7);
			}
		}
	}
	PQclear(r);
	r = NULL;

	rc = db_exec(&r, d, 1,
		     "SELECT r.practice_id, " REF_COLS " FROM model_refs r "
		     "JOIN practices p ON p.id = r.practice_id JOIN goals g ON g.id = p.goal_id "
		     "JOIN process_areas pa ON pa.id = g.pa_id WHERE pa.model_id = $1::bigint AND "
		     "($2 = '' OR lower(pa.code) = lower($2)) ORDER BY r.practice_id, r.ord",
		     2, p2);
	if (rc != OPRA_OK)
		goto done;
	qsort(slots, np, sizeof(*slots), slot_cmp);
	int nr = PQntuples(r);
	for (int row = 0; row < nr;) {
		practice_slot key_slot = {db_to_ll(PQgetvalue(r, row, 0)), NULL};
		practice_slot *s = bsearch(&key_slot, slots, np, sizeof(*slots), slot_cmp);
		int end = row;
		while (end < nr && db_to_ll(PQgetvalue(r, end, 0)) == key_slot.id)
			end++;
		if (s && (rc = refs_from_rows(&s->p->refs, &s->p->n_refs, r, row, end)) != OPRA_OK)
			goto done;
		row = end;
	}
	PQclear(r);
	r = NULL;

	rc = db_exec(&r, d, 1,
		     "SELECT r.pa_id, " REF_COLS " FROM model_refs r "
		     "JOIN process_areas pa ON pa.id = r.pa_id WHERE pa.model_id = $1::bigint AND "
		     "($2 = '' OR lower(pa.code) = lower($2)) ORDER BY pa.ord, r.ord",
		     2, p2);
	if (rc != OPRA_OK)
		goto done;
	nr = PQntuples(r);
	for (int row = 0; row < nr;) {
		long long id = db_to_ll(PQgetvalue(r, row, 0));
		int end = row;
		while (end < nr && db_to_ll(PQgetvalue(r, end, 0)) == id)
			end++;
		for (size_t i = 0; i < npa; i++)
			if (pa_ids[i] == id &&
			    (rc = refs_from_rows(&m->pas[i].refs, &m->pas[i].n_refs, r, row,
						 end)) != OPRA_OK)
				goto done;
		row = end;
	}
	*out = m;
	m = NULL;
	rc = OPRA_OK;
	goto done;
oom:
	rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory loading model '%s'", key);
done:
	PQclear(r);
	opra_free(slots);
	opra_free(pa_ids);
	opra_free(goal_ids);
	model_free(m);
	return rc;
}

static int key_check(const char *key)
{
	return opra_name_check("model id", key, MODEL_KEY_MAX);
}

static int show_validate(const ProtobufCMessage *in)
{
	const Opra__V1__ModelShowRequest *r = (const Opra__V1__ModelShowRequest *)in;
	int rc = key_check(r->id);
	if (rc == OPRA_OK && r->pa[0])
		rc = opra_name_check("process area", r->pa, MODEL_ID_MAX);
	return rc;
}

static int reply_model(call *c, const char *key, const char *pa, int export_form)
{
	model *m = NULL;
	Opra__V1__ModelDoc *doc = NULL;
	int rc = load_model(&m, c->db, key, pa);
	if (rc != OPRA_OK)
		return rc;
	if ((rc = model_to_pb(&doc, m)) == OPRA_OK) {
		if (export_form) {
			Opra__V1__ModelExportResponse resp = OPRA__V1__MODEL_EXPORT_RESPONSE__INIT;
			resp.model = doc;
			rc = call_reply(c, &resp.base);
		} else {
			Opra__V1__ModelShowResponse resp = OPRA__V1__MODEL_SHOW_RESPONSE__INIT;
			resp.model = doc;
			rc = call_reply(c, &resp.base);
		}
	}
	model_pb_free(doc);
	model_free(m);
	return rc;
}

static int model_show(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ModelShowRequest *r = (const Opra__V1__ModelShowRequest *)in;
	return reply_model(c, r->id, r->pa[0] ? r->pa : NULL, 0);
}

static int export_validate(const ProtobufCMessage *in)
{
	return key_check(((const Opra__V1__ModelExportRequest *)in)->id);
}

static int model_export(call *c, const ProtobufCMessage *in)
{
	return reply_model(c, ((const Opra__V1__ModelExportRequest *)in)->id, NULL, 1);
}

/* ---- Import ---- */

static int import_validate(const ProtobufCMessage *in)
{
	const Opra__V1__ModelImportRequest *r = (const Opra__V1__ModelImportRequest *)in;
	if (r->model == NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "the import request holds no model");
	if (r->source_format[0] && strcmp(r->source_format, "opra") != 0 &&
	    strcmp(r->source_format, "oscal-catalog") != 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown source format '%.32s' (opra or oscal-catalog)",
				    r->source_format);
	return OPRA_OK;
}

/* Takes n ids from a sequence in one round trip. */
static int reserve_ids(db *d, const char *seq, size_t n, long long **ids)
{
	PGresult *r = NULL;
	char count[32];
	*ids = NULL;
	if (n == 0)
		return OPRA_OK;
	snprintf(count, sizeof(count), "%zu", n);
	const char *p[2] = {seq, count};
	int rc = db_exec(&r, d, 1, "SELECT nextval($1::regclass) FROM generate_series(1, $2::int)",
			 2, p);
	if (rc != OPRA_OK)
		return rc;
	if ((*ids = opra_calloc(n, sizeof(long long))) == NULL) {
		PQclear(r);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		(*ids)[i] = db_to_ll(PQgetvalue(r, (int)i, 0));
	PQclear(r);
	return OPRA_OK;
}

static char *json_list(char **items, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(items[i]));
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

static int lower_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < size; i++)
		dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
	dst[i] = '\0';
	return src[i] == '\0' ? OPRA_OK : OPRA_INVALID_ARGUMENT;
}

#define FLUSH_AT (256 * 1024)

static int flush_rows(db *d, opra_buf *rows)
{
	int rc = db_copy_put(d, rows);
	opra_buf_reset(rows);
	return rc;
}

static int copy_practice_row(opra_buf *rows, long long id, long long goal_id, long long model_id,
			     size_t ord, const model_practice *p, const char *full,
			     const char *lower, const char *subs, const char *wps)
{
	int rc;
	if ((rc = db_copy_field_long(rows, id, 0)) || (rc = db_copy_field_long(rows, goal_id, 0)) ||
	    (rc = db_copy_field_long(rows, model_id, 0)) ||
	    (rc = db_copy_field_long(rows, (long long)ord, 0)) ||
	    (rc = db_copy_field(rows, p->id, 0)) || (rc = db_copy_field(rows, full, 0)) ||
	    (rc = db_copy_field(rows, lower, 0)) || (rc = db_copy_field(rows, p->title, 0)) ||
	    (rc = db_copy_field(rows, p->statement ? p->statement : "", 0)) ||
	    (rc = db_copy_field(rows, subs, 0)) || (rc = db_copy_field(rows, wps, 0)) ||
	    (rc = db_copy_field(rows, p->prov.confirmed ? "t" : "f", 0)) ||
	    (rc = db_copy_field(rows, p->prov.sources ? p->prov.sources : "", 0)) ||
	    (rc = db_copy_field(rows, p->prov.note ? p->prov.note : "", 1)))
		return rc;
	return OPRA_OK;
}

/* One model_refs row; exactly one of practice_id and pa_id is non-zero. */
static int copy_ref_row(opra_buf *rows, long long practice_id, long long pa_id, size_t ord,
			const model_ref *ref)
{
	char lower[3 * MODEL_ID_MAX + 8];
	const char *target = ref->practice ? ref->practice : ref->process_area;
	int rc;
	if (target)
		lower_copy(lower, sizeof(lower), target);
	if ((rc = practice_id ? db_copy_field_long(rows, practice_id, 0)
			      : db_copy_field(rows, NULL, 0)) ||
	    (rc = pa_id ? db_copy_field_long(rows, pa_id, 0) : db_copy_field(rows, NULL, 0)) ||
	    (rc = db_copy_field_long(rows, (long long)ord, 0)) ||
	    (rc = db_copy_field(rows, ref->model, 0)) ||
	    (rc = db_copy_field(rows, ref->practice, 0)) ||
	    (rc = db_copy_field(rows, ref->process_area, 0)) ||
	    (rc = db_copy_field(rows, target ? lower : NULL, 0)) ||
	    (rc = db_copy_field(rows, ref->code, 0)) || (rc = db_copy_field(rows, ref->ref, 0)) ||
	    (rc = db_copy_field(rows, ref->note ? ref->note : "", 0)) ||
	    (rc = db_copy_field(rows, ref->confirmed ? "t" : "f", 1)))
		return rc;
	return OPRA_OK;
}

static int copy_model(db *d, const model *m, long long model_id)
{
	opra_buf rows = OPRA_BUF_INIT;
	long long *pa_ids = NULL, *goal_ids = NULL, *pr_ids = NULL;
	size_t ng = 0, np = 0, nrefs = 0;
	int rc;

	for (size_t i = 0; i < m->n_pas; i++) {
		ng += m->pas[i].n_goals;
		nrefs += m->pas[i].n_refs;
		for (size_t k = 0; k < m->pas[i].n_goals; k++) {
			np += m->pas[i].goals[k].n_practices;
			for (size_t j = 0; j < m->pas[i].goals[k].n_practices; j++)
				nrefs += m->pas[i].goals[k].practices[j].n_refs;
		}
	}
	if ((rc = reserve_ids(d, "process_areas_id_seq", m->n_pas, &pa_ids)) != OPRA_OK ||
	    (rc = reserve_ids(d, "goals_id_seq", ng, &goal_ids)) != OPRA_OK ||
	    (rc = reserve_ids(d, "practices_id_seq", np, &pr_ids)) != OPRA_OK)
		goto done;

	if ((rc = db_copy_begin(d, "COPY process_areas (id, model_id, ord, code, name, category, "
				   "purpose, confirmed, sources, note) FROM STDIN")) != OPRA_OK)
		goto done;
	for (size_t i = 0; i < m->n_pas && rc == OPRA_OK; i++) {
		const model_pa *a = &m->pas[i];
		if ((rc = db_copy_field_long(&rows, pa_ids[i], 0)) ||
		    (rc = db_copy_field_long(&rows, model_id, 0)) ||
		    (rc = db_copy_field_long(&rows, (long long)i, 0)) ||
		    (rc = db_copy_field(&rows, a->id, 0)) ||
		    (rc = db_copy_field(&rows, a->name, 0)) ||
		    (rc = db_copy_field(&rows, a->category, 0)) ||
		    (rc = db_copy_field(&rows, a->purpose ? a->purpose : "", 0)) ||
		    (rc = db_copy_field(&rows, a->prov.confirmed ? "t" : "f", 0)) ||
		    (rc = db_copy_field(&rows, a->prov.sources ? a->prov.sources : "", 0)) ||
		    (rc = db_copy_field(&rows, a->prov.note ? a->prov.note : "", 1)))
			break;
	}
	if (rc != OPRA_OK || (rc = flush_rows(d, &rows)) != OPRA_OK || (rc = db_copy_end(d)))
		goto done;

	if ((rc = db_copy_begin(d, "COPY goals (id, pa_id, ord, code, title, generic, confirmed, "
				   "sources, note) FROM STDIN")) != OPRA_OK)
		goto done;
	size_t gi = 0;
	for (size_t i = 0; i < m->n_pas && rc == OPRA_OK; i++) {
		for (size_t k = 0; k < m->pas[i].n_goals; k++, gi++) {
			const model_goal *g = &m->pas[i].goals[k];
			if ((rc = db_copy_field_long(&rows, goal_ids[gi], 0)) ||
			    (rc = db_copy_field_long(&rows, pa_ids[i], 0)) ||
			    (rc = db_copy_field_long(&rows, (long long)k, 0)) ||
			    (rc = db_copy_field(&rows, g->id, 0)) ||
			    (rc = db_copy_field(&rows, g->title, 0)) ||
			    (rc = db_copy_field(&rows, g->generic ? "t" : "f", 0)) ||
			    (rc = db_copy_field(&rows, g->prov.confirmed ? "t" : "f", 0)) ||
			    (rc = db_copy_field(&rows, g->prov.sources ? g->prov.sources : "",
						0)) ||
			    (rc = db_copy_field(&rows, g->prov.note ? g->prov.note : "", 1)))
				break;
		}
	}
	if (rc != OPRA_OK || (rc = flush_rows(d, &rows)) != OPRA_OK || (rc = db_copy_end(d)))
		goto done;

	if ((rc = db_copy_begin(d, "COPY practices (id, goal_id, model_id, ord, code, full_id, "
				   "full_id_lower, title, statement, subpractices, work_products, "
				   "confirmed, sources, note) FROM STDIN")) != OPRA_OK)
		goto done;
	size_t pi = 0;
	gi = 0;
	for (size_t i = 0; i < m->n_pas && rc == OPRA_OK; i++) {
		const model_pa *a = &m->pas[i];
		for (size_t k = 0; k < a->n_goals && rc == OPRA_OK; k++, gi++) {
			const model_goal *g = &a->goals[k];
			for (size_t j = 0; j < g->n_practices; j++, pi++) {
				const model_practice *p = &g->practices[j];
				char full[3 * MODEL_ID_MAX + 8], lower[3 * MODEL_ID_MAX + 8];
				snprintf(full, sizeof(full), "%s:%s.%s", a->id, g->id, p->id);
				lower_copy(lower, sizeof(lower), full);
				char *subs = json_list(p->subpractices, p->n_subpractices);
				char *wps = json_list(p->work_products, p->n_work_products);
				if (subs == NULL || wps == NULL)
					rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
				if (rc == OPRA_OK)
					rc = copy_practice_row(&rows, pr_ids[pi], goal_ids[gi],
							       model_id, j, p, full, lower, subs,
							       wps);
				free(subs);
				free(wps);
				if (rc != OPRA_OK)
					break;
				if (rows.len > FLUSH_AT && (rc = flush_rows(d, &rows)) != OPRA_OK)
					break;
			}
		}
	}
	if (rc != OPRA_OK || (rc = flush_rows(d, &rows)) != OPRA_OK || (rc = db_copy_end(d)))
		goto done;

	if (nrefs > 0) {
		if ((rc = db_copy_begin(d,
					"COPY model_refs (practice_id, pa_id, ord, target_model, "
					"target_practice, target_pa, target_lower, code, ref, "
					"note, confirmed) FROM STDIN")) != OPRA_OK)
			goto done;
		pi = 0;
		for (size_t i = 0; i < m->n_pas && rc == OPRA_OK; i++) {
			const model_pa *a = &m->pas[i];
			for (size_t x = 0; x < a->n_refs && rc == OPRA_OK; x++)
				rc = copy_ref_row(&rows, 0, pa_ids[i], x, &a->refs[x]);
			for (size_t k = 0; k < a->n_goals && rc == OPRA_OK; k++)
				for (size_t j = 0; j < a->goals[k].n_practices && rc == OPRA_OK;
				     j++, pi++) {
					const model_practice *p = &a->goals[k].practices[j];
					for (size_t x = 0; x < p->n_refs && rc == OPRA_OK; x++)
						rc = copy_ref_row(&rows, pr_ids[pi], 0, x,
								  &p->refs[x]);
				}
		}
		if (rc != OPRA_OK || (rc = flush_rows(d, &rows)) != OPRA_OK ||
		    (rc = db_copy_end(d)))
			goto done;
	}
done:
	opra_buf_free(&rows);
	opra_free(pa_ids);
	opra_free(goal_ids);
	opra_free(pr_ids);
	return rc;
}

/* Planner statistics for the model tables. An import can make them badly
 * wrong: the first one fills tables never analysed, and tables analysed
 * while empty (say after a model was removed) are taken for empty. Until
 * autovacuum's next pass the planner then nests full scans in joins over a
 * model's structure (rating show took 180 ms instead of 15). So an import
 * whose practices outnumber what the statistics believe the table holds
 * analyses the model tables in its own transaction (our uncommitted rows
 * count); replacing a model of the same size, the common case, does not. */
static int analyze_if_stale(call *c, size_t practices)
{
	PGresult *r = NULL;
	char n[32];
	snprintf(n, sizeof(n), "%zu", practices);
	const char *p[1] = {n};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT reltuples < $1::real FROM pg_class "
			 "WHERE oid = 'practices'::regclass",
			 1, p);
	if (rc != OPRA_OK)
		return rc;
	int stale = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (!stale)
		return OPRA_OK;
	return db_exec_script(c->db, "ANALYZE process_areas, goals, practices, model_refs");
}

static int model_import(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ModelImportRequest *req = (const Opra__V1__ModelImportRequest *)in;
	model *m = NULL;
	PGresult *r = NULL;
	char origin[96];
	int rc, replaced = 0;

	snprintf(origin, sizeof(origin), "import by %s", c->who->name);
	if ((rc = model_from_pb(&m, req->model, origin)) != OPRA_OK)
		goto done;
	if ((rc = model_validate(m)) != OPRA_OK)
		goto done;
	const char *pk[1] = {m->id};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT id, version, to_char(imported_at AT TIME ZONE 'UTC', " TS_UTC
			  ") FROM models WHERE key = $1 FOR UPDATE",
			  1, pk)) != OPRA_OK)
		goto done;
	if (PQntuples(r) == 1) {
		if (!req->replace) {
			rc = opra_err_set(OPRA_ALREADY_EXISTS,
					  "model '%s' already exists (version %s, imported %s); "
					  "pass --replace to replace it",
					  m->id, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
			goto done;
		}
		/* Appraisals (a later migration) will reference models; once they
		 * do, their foreign keys refuse this delete for a model in use. */
		const char *pid[1] = {PQgetvalue(r, 0, 0)};
		if ((rc = db_cmd(c->db, "DELETE FROM models WHERE id = $1::bigint", 1, pid)) !=
		    OPRA_OK) {
			if (rc == OPRA_FAILED_PRECONDITION)
				opra_err_set(rc,
					     "model '%s' is used by an appraisal and cannot be "
					     "replaced; import it under a new id or version",
					     m->id);
			goto done;
		}
		replaced = 1;
	}
	PQclear(r);
	r = NULL;
	char by[32];
	snprintf(by, sizeof(by), "%lld", c->who->id);
	const char *pm[12] = {m->id,
			      m->name,
			      m->short_name ? m->short_name : "",
			      m->version,
			      m->publisher ? m->publisher : "",
			      m->description ? m->description : "",
			      m->prov.confirmed ? "t" : "f",
			      m->prov.sources ? m->prov.sources : "",
			      m->prov.note ? m->prov.note : "",
			      req->source_format[0] ? req->source_format : "opra",
			      by,
			      NULL};
	if ((rc = db_exec(&r, c->db, 1,
			  "INSERT INTO models (key, name, short_name, version, publisher, "
			  "description, confirmed, sources, note, source_format, imported_by) "
			  "VALUES ($1, $2, $3, $4, $5, $6, $7::boolean, $8, $9, $10, $11::bigint) "
			  "RETURNING id, to_char(imported_at AT TIME ZONE 'UTC', " TS_UTC ")",
			  11, pm)) != OPRA_OK)
		goto done;
	long long model_id = db_to_ll(PQgetvalue(r, 0, 0));
	char imported_at[40];
	snprintf(imported_at, sizeof(imported_at), "%s", PQgetvalue(r, 0, 1));
	if ((rc = copy_model(c->db, m, model_id)) != OPRA_OK)
		goto done;
	if ((rc = analyze_if_stale(c, model_count_practices(m))) != OPRA_OK)
		goto done;
	char object[96], after[256];
	snprintf(object, sizeof(object), "model:%s", m->id);
	json_t *aj = json_pack("{s:s, s:s, s:i, s:i, s:b}", "id", m->id, "version", m->version,
			       "process_areas", (int)m->n_pas, "practices",
			       (int)model_count_practices(m), "replaced", replaced);
	char *as = aj ? json_dumps(aj, JSON_COMPACT) : NULL;
	json_decref(aj);
	snprintf(after, sizeof(after), "%s", as ? as : "{}");
	free(as);
	if ((rc = call_event(c, object, NULL, after)) != OPRA_OK)
		goto done;
	Opra__V1__ModelSummary sum = OPRA__V1__MODEL_SUMMARY__INIT;
	sum.id = m->id;
	sum.name = m->name;
	sum.version = m->version;
	sum.short_name = m->short_name ? m->short_name : "";
	sum.process_areas = (uint32_t)m->n_pas;
	sum.practices = (uint32_t)model_count_practices(m);
	sum.imported_at = imported_at;
	sum.imported_by = (char *)c->who->name;
	Opra__V1__ModelImportResponse resp = OPRA__V1__MODEL_IMPORT_RESPONSE__INIT;
	resp.model = &sum;
	resp.replaced = replaced;
	rc = call_reply(c, &resp.base);
	log_info("model %s %s: %zu process areas, %zu practices", m->id,
		 replaced ? "replaced" : "imported", m->n_pas, model_count_practices(m));
done:
	PQclear(r);
	model_free(m);
	return rc;
}

/* ---- Map ---- */

static int map_validate(const ProtobufCMessage *in)
{
	const Opra__V1__ModelMapRequest *r = (const Opra__V1__ModelMapRequest *)in;
	int rc = opra_name_check("practice", r->practice, 3 * MODEL_ID_MAX + 2);
	if (rc == OPRA_OK && r->model[0])
		rc = key_check(r->model);
	return rc;
}

/* Fills res->entries: what the practice (or, with practice_id "0", the
 * process area) maps to, directly and through its process area, and what
 * maps to it. The strings point into the results kept in keep[0..1]. */
static int map_entries(db *d, const char *practice_id, const char *pa_id, const char *model_key,
		       const char *practice_lower, const char *pa_lower, Opra__V1__MapResult *res,
		       PGresult **keep)
{
	PGresult *to = NULL, *from = NULL;
	const char *p1[2] = {practice_id, pa_id};
	int rc = db_exec(
		&to, d, 1,
		"SELECT CASE WHEN r.practice_id IS NOT NULL THEN 'practice' ELSE 'process area' "
		"END, "
		"r.target_model, r.target_practice, r.target_pa, r.code, r.ref, r.note, "
		"r.confirmed, "
		"coalesce(p2.full_id, pa2.code, ''), coalesce(p2.title, pa2.name, ''), "
		"(p2.id IS NOT NULL OR pa2.id IS NOT NULL) "
		"FROM model_refs r LEFT JOIN models m2 ON m2.key = r.target_model "
		"LEFT JOIN practices p2 ON p2.model_id = m2.id AND r.target_practice IS NOT NULL "
		"AND p2.full_id_lower = r.target_lower "
		"LEFT JOIN process_areas pa2 ON pa2.model_id = m2.id AND r.target_pa IS NOT NULL "
		"AND lower(pa2.code) = r.target_lower "
		"WHERE r.practice_id = $1::bigint OR r.pa_id = $2::bigint "
		"ORDER BY r.pa_id NULLS FIRST, r.ord",
		2, p1);
	if (rc != OPRA_OK)
		return rc;
	const char *p2[3] = {model_key, practice_lower, pa_lower};
	rc = db_exec(&from, d, 1,
		     "SELECT CASE WHEN r.target_pa IS NOT NULL THEN 'process area' ELSE 'practice' "
		     "END, m.key, coalesce(p.full_id, ''), coalesce(pa.code, ''), "
		     "coalesce(p.title, pa.name), r.note, r.confirmed "
		     "FROM model_refs r LEFT JOIN practices p ON p.id = r.practice_id "
		     "LEFT JOIN process_areas pa ON pa.id = r.pa_id "
		     "JOIN models m ON m.id = coalesce(p.model_id, pa.model_id) "
		     "WHERE r.target_model = $1 AND ((r.target_practice IS NOT NULL AND "
		     "r.target_lower = $2) OR (r.target_pa IS NOT NULL AND r.target_lower = $3)) "
		     "ORDER BY m.key, 3, 4",
		     3, p2);
	if (rc != OPRA_OK) {
		PQclear(to);
		return rc;
	}
	keep[0] = to;
	keep[1] = from;
	size_t n = (size_t)PQntuples(to) + (size_t)PQntuples(from);
	res->entries = opra_calloc(n + 1, sizeof(*res->entries));
	if (res->entries == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; i < PQntuples(to); i++) {
		Opra__V1__MapEntry *e = opra_calloc(1, sizeof(*e));
		if (e == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		opra__v1__map_entry__init(e);
		res->entries[res->n_entries++] = e;
		int is_code = !PQgetisnull(to, i, 4);
		int resolved = is_true(PQgetvalue(to, i, 10));
		e->direction = (char *)"to";
		e->via = PQgetvalue(to, i, 0);
		e->model = PQgetvalue(to, i, 1);
		if (!PQgetisnull(to, i, 2))
			e->practice = resolved ? PQgetvalue(to, i, 8) : PQgetvalue(to, i, 2);
		if (!PQgetisnull(to, i, 3))
			e->process_area = resolved ? PQgetvalue(to, i, 8) : PQgetvalue(to, i, 3);
		e->code = PQgetvalue(to, i, 4);
		e->ref = PQgetvalue(to, i, 5);
		e->note = PQgetvalue(to, i, 6);
		e->unconfirmed = !is_true(PQgetvalue(to, i, 7));
		e->title = PQgetvalue(to, i, 9);
		e->resolved = resolved || is_code;
	}
	for (int i = 0; i < PQntuples(from); i++) {
		Opra__V1__MapEntry *e = opra_calloc(1, sizeof(*e));
		if (e == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		opra__v1__map_entry__init(e);
		res->entries[res->n_entries++] = e;
		e->direction = (char *)"from";
		e->via = PQgetvalue(from, i, 0);
		e->model = PQgetvalue(from, i, 1);
		e->practice = PQgetvalue(from, i, 2);
		e->process_area = PQgetvalue(from, i, 3);
		e->title = PQgetvalue(from, i, 4);
		e->note = PQgetvalue(from, i, 5);
		e->unconfirmed = !is_true(PQgetvalue(from, i, 6));
		e->resolved = 1;
	}
	return OPRA_OK;
}

static int model_map(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ModelMapRequest *req = (const Opra__V1__ModelMapRequest *)in;
	PGresult *r = NULL;
	PGresult **keep = NULL;
	Opra__V1__MapResult *results = NULL, **ptrs = NULL;
	char lower[3 * MODEL_ID_MAX + 8];
	int rc, n = 0;
	/* "ADM:SG1.SP1" names a practice, "ADM" a whole process area. */
	int is_practice = strchr(req->practice, ':') != NULL;

	if (lower_copy(lower, sizeof(lower), req->practice) != OPRA_OK)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "practice id too long");
	const char *p[2] = {lower, req->model};
	rc = db_exec(&r, c->db, 1,
		     is_practice
			     ? "SELECT m.key, p.full_id, p.title, p.id, g.pa_id, lower(pa.code) "
			       "FROM practices p JOIN models m ON m.id = p.model_id "
			       "JOIN goals g ON g.id = p.goal_id JOIN process_areas pa ON "
			       "pa.id = g.pa_id WHERE p.full_id_lower = $1 AND ($2 = '' OR "
			       "m.key = lower($2)) ORDER BY m.key"
			     : "SELECT m.key, pa.code, pa.name, 0, pa.id, lower(pa.code) "
			       "FROM process_areas pa JOIN models m ON m.id = pa.model_id "
			       "WHERE lower(pa.code) = $1 AND ($2 = '' OR m.key = lower($2)) "
			       "ORDER BY m.key",
		     2, p);
	if (rc != OPRA_OK)
		goto done;
	n = PQntuples(r);
	if (n == 0) {
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "no %s '%s'%s%s (practices are written PA:GOAL.PRACTICE, e.g. "
				  "ADM:SG1.SP1, process areas by their id, e.g. ADM; see 'opra "
				  "model show MODEL')",
				  is_practice ? "practice" : "process area", req->practice,
				  req->model[0] ? " in model " : "", req->model);
		goto done;
	}
	results = opra_calloc((size_t)n, sizeof(*results));
	ptrs = opra_calloc((size_t)n, sizeof(*ptrs));
	keep = opra_calloc((size_t)n * 2, sizeof(*keep));
	if (results == NULL || ptrs == NULL || keep == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		opra__v1__map_result__init(&results[i]);
		results[i].model = PQgetvalue(r, i, 0);
		results[i].practice = PQgetvalue(r, i, 1);
		results[i].title = PQgetvalue(r, i, 2);
		ptrs[i] = &results[i];
		if ((rc = map_entries(c->db, PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
				      PQgetvalue(r, i, 0), is_practice ? lower : "",
				      PQgetvalue(r, i, 5), &results[i], &keep[2 * i])) != OPRA_OK)
			goto done;
	}
	Opra__V1__ModelMapResponse resp = OPRA__V1__MODEL_MAP_RESPONSE__INIT;
	resp.n_results = (size_t)n;
	resp.results = ptrs;
	rc = call_reply(c, &resp.base);
done:
	for (int i = 0; results && i < n; i++) {
		for (size_t k = 0; k < results[i].n_entries; k++)
			opra_free(results[i].entries[k]);
		opra_free(results[i].entries);
	}
	for (int i = 0; keep && i < 2 * n; i++)
		PQclear(keep[i]);
	opra_free(keep);
	opra_free(results);
	opra_free(ptrs);
	PQclear(r);
	return rc;
}

static const method_impl model_methods[] = {
	{"List", model_list, NULL, ROLES_ANY, 0, NULL},
	{"Show", model_show, show_validate, ROLES_ANY, 0, NULL},
	{"Import", model_import, import_validate, ROLE_ADMIN, METHOD_MUTATES, NULL},
	{"Export", model_export, export_validate, ROLES_ANY, 0, NULL},
	{"Map", model_map, map_validate, ROLES_ANY, 0, NULL},
};

const service_impl svc_model = {&opra__v1__model__descriptor, model_methods,
				sizeof(model_methods) / sizeof(model_methods[0])};
