/* opra.v1.Appraisal: creating appraisals, their scope (models, process
 * areas, target levels, instances), members, and finalisation (sealing).
 *
 * Authorisation is two-level (appraisal.h): the method row's global roles,
 * then the caller's member role checked by appraisal_open. Every change
 * appends an event to the appraisal's hash chain (appraisal_event) in the
 * same transaction; append_event refuses once the appraisal is sealed, and
 * appraisal_open(APPR_WRITE) says so first with the time it was finalised.
 * Writes lock the appraisal row (APPR_LOCK) so concurrent changes and a
 * concurrent Finalize serialise: whatever commits after the seal sees it. */
#include "appraisal.h"
#include "auth.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_buf.h"
#include "opra_err.h"
#include "opra_text.h"
#include "rating.h"

#include "opra/v1/appraisal.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_UTC	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', " TS_UTC ")"

#define APPR_DESC_MAX	   4096 /* description */
#define APPR_MODELS_MAX	   16	/* models per appraisal */
#define APPR_PAS_MAX	   500	/* process areas named in one Create */
#define APPR_SCOPE_MAX	   1000 /* services + units per ScopeAdd */
#define APPR_PA_SPEC_MAX   200	/* "MODEL/PA" */
#define APPR_MODEL_KEY_MAX 64	/* models.key */
#define APPR_INV_NAME_MAX  128	/* inventory names (the schema's CHECK) */
#define APPR_LEVEL_MAX	   3
#define APPR_DEFAULT_LEVEL 1
#define APPR_DEFAULT_COVER 50

/* Member roles in the order Show lists them. */
#define MEMBER_ROLE_ORDER "array_position(ARRAY['lead','appraiser','viewer','automation'], am.role)"

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

static void id_text(char out[32], long long id)
{
	snprintf(out, 32, "%lld", id);
}

/* Dumps a JSON value (consumed) as compact text with sorted keys; the
 * caller frees with free(). NULL when memory runs out. */
static char *dump_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

/* Up to max values of column col of r, comma separated, into b (with
 * ", ..." when there are more rows). */
static int join_column(opra_buf *b, PGresult *r, int col, int max)
{
	int n = PQntuples(r), rc = OPRA_OK;
	for (int i = 0; rc == OPRA_OK && i < n && i < max; i++)
		rc = opra_buf_printf(b, "%s%s", i ? ", " : "", PQgetvalue(r, i, col));
	if (rc == OPRA_OK && n > max)
		rc = opra_buf_puts(b, ", ...");
	if (rc == OPRA_OK && b->data == NULL)
		rc = opra_buf_puts(b, "");
	return rc == OPRA_OK ? OPRA_OK : oom();
}

/* ---- validation (before authentication) ---- */

/* "MODEL/PA" or "PA". */
static int check_pa_spec(const char *s)
{
	int rc = opra_name_check("a process area", s, APPR_PA_SPEC_MAX);
	if (rc != OPRA_OK)
		return rc;
	const char *slash = strchr(s, '/');
	if (slash && (slash == s || slash[1] == '\0' || strchr(slash + 1, '/') ||
		      (size_t)(slash - s) > APPR_MODEL_KEY_MAX))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "'%s' is not a process area: write PA (e.g. SC) or MODEL/PA "
				    "(e.g. cmmi-svc-1.3/MA)",
				    s);
	return OPRA_OK;
}

static int check_level(int level, const char *what)
{
	if (level < 0 || level > APPR_LEVEL_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s %d is out of range: capability levels are 0 to 3", what,
				    level);
	return OPRA_OK;
}

static int create_validate(const ProtobufCMessage *in)
{
	const Opra__V1__AppraisalCreateRequest *r = (const Opra__V1__AppraisalCreateRequest *)in;
	int rc;
	if (r->name[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name the new appraisal");
	if ((rc = opra_name_check("the appraisal name", r->name, APPRAISAL_NAME_MAX)) != OPRA_OK)
		return rc;
	/* Appraisals are also named by their id: a name of digits only would
	 * be ambiguous. */
	if (strspn(r->name, "0123456789") == strlen(r->name))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "appraisal name '%s' is only digits, which reads as an id: "
				    "use a name with letters (e.g. ovig-%s)",
				    r->name, r->name);
	if ((rc = opra_text_check("the description", r->description, APPR_DESC_MAX)) != OPRA_OK)
		return rc;
	if (r->n_models == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name at least one model (see opra model list)");
	if (r->n_models > APPR_MODELS_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "an appraisal uses at most %d models (got %zu)",
				    APPR_MODELS_MAX, r->n_models);
	for (size_t i = 0; i < r->n_models; i++)
		if ((rc = opra_name_check("a model id", r->models[i], APPR_MODEL_KEY_MAX)) !=
		    OPRA_OK)
			return rc;
	if (r->all && r->n_process_areas > 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "give either the process areas or 'all', not both");
	if (!r->all && r->n_process_areas == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the process areas in scope, or ask for all of them");
	if (r->n_process_areas > APPR_PAS_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "at most %d process areas (got %zu)",
				    APPR_PAS_MAX, r->n_process_areas);
	for (size_t i = 0; i < r->n_process_areas; i++)
		if ((rc = check_pa_spec(r->process_areas[i])) != OPRA_OK)
			return rc;
	if (r->target_level != -1 && (rc = check_level(r->target_level, "target level")) != OPRA_OK)
		return rc;
	if (r->affirmation_coverage != -1 &&
	    (r->affirmation_coverage < 0 || r->affirmation_coverage > 100))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "affirmation coverage %d is out of range: give a percentage "
				    "from 0 to 100",
				    r->affirmation_coverage);
	return OPRA_OK;
}

static int ref_validate(const ProtobufCMessage *in)
{
	return appraisal_check_name(((const Opra__V1__AppraisalRef *)in)->appraisal);
}

static int list_validate(const ProtobufCMessage *in)
{
	(void)in;
	return OPRA_OK;
}

static int scope_validate(const ProtobufCMessage *in)
{
	const Opra__V1__ScopeAddRequest *r = (const Opra__V1__ScopeAddRequest *)in;
	int rc = appraisal_check_name(r->appraisal);
	if (rc != OPRA_OK)
		return rc;
	if (r->n_services + r->n_units == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name at least one service or unit to add to the scope");
	if (r->n_services + r->n_units > APPR_SCOPE_MAX)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "at most %d services and units per call (got %zu): split "
				    "the list",
				    APPR_SCOPE_MAX, r->n_services + r->n_units);
	for (size_t i = 0; i < r->n_services; i++)
		if ((rc = opra_name_check("a service name", r->services[i], APPR_INV_NAME_MAX)) !=
		    OPRA_OK)
			return rc;
	for (size_t i = 0; i < r->n_units; i++)
		if ((rc = opra_name_check("a unit name", r->units[i], APPR_INV_NAME_MAX)) !=
		    OPRA_OK)
			return rc;
	return OPRA_OK;
}

static int member_validate(const ProtobufCMessage *in)
{
	const Opra__V1__MemberAddRequest *r = (const Opra__V1__MemberAddRequest *)in;
	int rc = appraisal_check_name(r->appraisal);
	if (rc != OPRA_OK)
		return rc;
	if ((rc = auth_user_name_check(r->user)) != OPRA_OK)
		return rc;
	if (member_role_from_name(r->role) == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown member role '%.64s': use lead, appraiser, viewer or "
				    "automation",
				    r->role);
	return OPRA_OK;
}

static int target_validate(const ProtobufCMessage *in)
{
	const Opra__V1__TargetRequest *r = (const Opra__V1__TargetRequest *)in;
	int rc = appraisal_check_name(r->appraisal);
	if (rc != OPRA_OK)
		return rc;
	if (r->process_area[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name the process area (e.g. SC)");
	if ((rc = check_pa_spec(r->process_area)) != OPRA_OK)
		return rc;
	return check_level(r->level, "target level");
}

/* ---- reading an appraisal into an AppraisalInfo ---- */

/* An AppraisalInfo and everything its strings and arrays point into. */
typedef struct {
	Opra__V1__AppraisalInfo info;
	PGresult *main, *models, *pas, *instances, *members;
	char **model_keys;
	Opra__V1__AppraisalPa *pa_rows;
	Opra__V1__AppraisalPa **pa_ptrs;
	Opra__V1__AppraisalInstance *inst_rows;
	Opra__V1__AppraisalInstance **inst_ptrs;
	Opra__V1__AppraisalMember *mem_rows;
	Opra__V1__AppraisalMember **mem_ptrs;
} appr_view;

static void view_free(appr_view *v)
{
	PQclear(v->main);
	PQclear(v->models);
	PQclear(v->pas);
	PQclear(v->instances);
	PQclear(v->members);
	opra_free(v->model_keys);
	opra_free(v->pa_rows);
	opra_free(v->pa_ptrs);
	opra_free(v->inst_rows);
	opra_free(v->inst_ptrs);
	opra_free(v->mem_rows);
	opra_free(v->mem_ptrs);
	memset(v, 0, sizeof(*v));
}

/* The summary columns List and Show share; $2 is the caller's user id. */
#define SUMMARY_COLS                                                                               \
	"a.id, a.name, a.description, a.target_level, a.affirmation_coverage, cu.name, " TS(       \
		"a.created_at") ", a.sealed_at IS NOT NULL, coalesce(" TS("a.sealed_at") ", ''), " \
											 "coalesc" \
											 "e(su."   \
											 "name, "  \
											 "''), "   \
											 "encode(" \
											 "a.head," \
											 " 'hex')" \
											 ", "      \
											 "a."      \
											 "events," \
											 " "       \
											 "(SELECT" \
											 " count(" \
											 "*) "     \
											 "FROM "   \
											 "evidenc" \
											 "e e "    \
											 "WHERE "  \
											 "e."      \
											 "apprais" \
											 "al_id "  \
											 "= "      \
											 "a.id), " \
											 "coalesc" \
											 "e(my."   \
											 "role, "  \
											 "''), "   \
											 "(SELECT" \
											 " coales" \
											 "ce("     \
											 "string_" \
											 "agg(m."  \
											 "key, "   \
											 "',' "    \
											 "ORDER "  \
											 "BY "     \
											 "m.key)," \
											 " '') "   \
											 "FROM "   \
											 "apprais" \
											 "al_"     \
											 "models " \
											 "am2 "    \
											 "JOIN "   \
											 "models " \
											 "m ON "   \
											 "m.id = " \
											 "am2."    \
											 "model_"  \
											 "id "     \
											 "WHERE "  \
											 "am2."    \
											 "apprais" \
											 "al_id "  \
											 "= a.id)"
#define SUMMARY_FROM                                                                               \
	" FROM appraisals a JOIN users cu ON cu.id = a.created_by "                                \
	"LEFT JOIN users su ON su.id = a.sealed_by "                                               \
	"LEFT JOIN appraisal_members my ON my.appraisal_id = a.id AND my.user_id = $2::bigint "

/* Fills the summary fields of info from row `row` of SUMMARY_COLS. The
 * model keys (column 14, comma separated; keys cannot hold commas) are
 * split in place into *keys (caller frees). */
static int summary_from_row(Opra__V1__AppraisalInfo *info, char ***keys, PGresult *r, int row)
{
	opra__v1__appraisal_info__init(info);
	info->id = PQgetvalue(r, row, 0);
	info->name = PQgetvalue(r, row, 1);
	info->description = PQgetvalue(r, row, 2);
	info->target_level = (int32_t)db_to_ll(PQgetvalue(r, row, 3));
	info->affirmation_coverage = (int32_t)db_to_ll(PQgetvalue(r, row, 4));
	info->created_by = PQgetvalue(r, row, 5);
	info->created_at = PQgetvalue(r, row, 6);
	info->sealed = PQgetvalue(r, row, 7)[0] == 't';
	info->sealed_at = PQgetvalue(r, row, 8);
	info->sealed_by = PQgetvalue(r, row, 9);
	info->head = PQgetvalue(r, row, 10);
	info->events = db_to_ll(PQgetvalue(r, row, 11));
	info->evidence = db_to_ll(PQgetvalue(r, row, 12));
	info->my_role = PQgetvalue(r, row, 13);
	char *list = PQgetvalue(r, row, 14); /* libpq's storage: writable, ours */
	size_t n = list[0] ? 1 : 0;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	*keys = opra_calloc(n + 1, sizeof(char *));
	if (*keys == NULL)
		return oom();
	size_t k = 0;
	for (char *p = list; n > 0 && p != NULL; k++) {
		(*keys)[k] = p;
		p = strchr(p, ',');
		if (p)
			*p++ = '\0';
	}
	info->n_models = k;
	info->models = *keys;
	return OPRA_OK;
}

/* Reads appraisal `id` completely (as the caller sees it: my_role). */
static int view_load(appr_view *v, call *c, long long id)
{
	char aid[32], uid[32];
	int rc;

	memset(v, 0, sizeof(*v));
	id_text(aid, id);
	id_text(uid, c->who->id);
	const char *p2[2] = {aid, uid};
	if ((rc = db_exec(&v->main, c->db, 1,
			  "SELECT " SUMMARY_COLS SUMMARY_FROM "WHERE a.id = $1::bigint", 2, p2)) !=
	    OPRA_OK)
		return rc;
	if (PQntuples(v->main) != 1)
		return opra_err_set(OPRA_INTERNAL, "appraisal %lld vanished", id);
	if ((rc = summary_from_row(&v->info, &v->model_keys, v->main, 0)) != OPRA_OK)
		return rc;
	const char *p1[1] = {aid};
	if ((rc = db_exec(
		     &v->pas, c->db, 1,
		     "SELECT pa.code, m.key, pa.name, coalesce(ap.target_level, a.target_level) "
		     "FROM appraisal_pas ap JOIN appraisals a ON a.id = ap.appraisal_id "
		     "JOIN process_areas pa ON pa.id = ap.pa_id JOIN models m ON m.id = "
		     "pa.model_id WHERE ap.appraisal_id = $1::bigint ORDER BY m.key, pa.ord, "
		     "pa.code",
		     1, p1)) != OPRA_OK)
		return rc;
	size_t n = (size_t)PQntuples(v->pas);
	v->pa_rows = opra_calloc(n + 1, sizeof(*v->pa_rows));
	v->pa_ptrs = opra_calloc(n + 1, sizeof(*v->pa_ptrs));
	if (v->pa_rows == NULL || v->pa_ptrs == NULL)
		return oom();
	for (size_t i = 0; i < n; i++) {
		Opra__V1__AppraisalPa *pa = &v->pa_rows[i];
		opra__v1__appraisal_pa__init(pa);
		pa->id = PQgetvalue(v->pas, (int)i, 0);
		pa->model = PQgetvalue(v->pas, (int)i, 1);
		pa->name = PQgetvalue(v->pas, (int)i, 2);
		pa->target_level = (int32_t)db_to_ll(PQgetvalue(v->pas, (int)i, 3));
		v->pa_ptrs[i] = pa;
	}
	v->info.n_process_areas = n;
	v->info.process_areas = v->pa_ptrs;

	if ((rc = db_exec(&v->instances, c->db, 1,
			  "SELECT name, kind FROM appraisal_instances WHERE appraisal_id = "
			  "$1::bigint ORDER BY name",
			  1, p1)) != OPRA_OK)
		return rc;
	n = (size_t)PQntuples(v->instances);
	v->inst_rows = opra_calloc(n + 1, sizeof(*v->inst_rows));
	v->inst_ptrs = opra_calloc(n + 1, sizeof(*v->inst_ptrs));
	if (v->inst_rows == NULL || v->inst_ptrs == NULL)
		return oom();
	for (size_t i = 0; i < n; i++) {
		Opra__V1__AppraisalInstance *x = &v->inst_rows[i];
		opra__v1__appraisal_instance__init(x);
		x->name = PQgetvalue(v->instances, (int)i, 0);
		x->kind = PQgetvalue(v->instances, (int)i, 1);
		v->inst_ptrs[i] = x;
	}
	v->info.n_instances = n;
	v->info.instances = v->inst_ptrs;

	if ((rc = db_exec(
		     &v->members, c->db, 1,
		     "SELECT u.name, am.role FROM appraisal_members am JOIN users u ON u.id "
		     "= am.user_id WHERE am.appraisal_id = $1::bigint ORDER BY " MEMBER_ROLE_ORDER
		     ", u.name",
		     1, p1)) != OPRA_OK)
		return rc;
	n = (size_t)PQntuples(v->members);
	v->mem_rows = opra_calloc(n + 1, sizeof(*v->mem_rows));
	v->mem_ptrs = opra_calloc(n + 1, sizeof(*v->mem_ptrs));
	if (v->mem_rows == NULL || v->mem_ptrs == NULL)
		return oom();
	for (size_t i = 0; i < n; i++) {
		Opra__V1__AppraisalMember *m = &v->mem_rows[i];
		opra__v1__appraisal_member__init(m);
		m->user = PQgetvalue(v->members, (int)i, 0);
		m->role = PQgetvalue(v->members, (int)i, 1);
		v->mem_ptrs[i] = m;
	}
	v->info.n_members = n;
	v->info.members = v->mem_ptrs;
	return OPRA_OK;
}

/* Replies with the whole appraisal and what the change did. */
static int reply_appraisal(call *c, long long id, const char *result)
{
	appr_view v;
	int rc = view_load(&v, c, id);
	if (rc == OPRA_OK) {
		Opra__V1__AppraisalReply reply = OPRA__V1__APPRAISAL_REPLY__INIT;
		reply.appraisal = &v.info;
		reply.result = (char *)result;
		rc = call_reply(c, &reply.base);
	}
	view_free(&v);
	return rc;
}

/* The after-image of a new appraisal for its creation event. */
static char *appraisal_json(const appr_view *v)
{
	json_t *models = json_array(), *pas = json_array();
	for (size_t i = 0; models && i < v->info.n_models; i++)
		if (json_array_append_new(models, json_string(v->info.models[i])) != 0)
			goto fail;
	for (size_t i = 0; pas && i < v->info.n_process_areas; i++) {
		const Opra__V1__AppraisalPa *pa = v->info.process_areas[i];
		if (json_array_append_new(pas, json_pack("{s:s, s:s, s:i}", "model", pa->model,
							 "id", pa->id, "target_level",
							 (int)pa->target_level)) != 0)
			goto fail;
	}
	if (models == NULL || pas == NULL)
		goto fail;
	return dump_json(json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:s}", "id", v->info.id,
				   "name", v->info.name, "description", v->info.description,
				   "models", models, "process_areas", pas, "target_level",
				   (int)v->info.target_level, "affirmation_coverage",
				   (int)v->info.affirmation_coverage, "lead", v->info.created_by));
fail:
	json_decref(models);
	json_decref(pas);
	return NULL;
}

/* ---- Create ---- */

/* Resolves the model keys to ids (deduplicated) into ids, a PostgreSQL
 * array literal "{1,2}", and the keys as found into keys ("a, b"); the
 * caller frees both with opra_buf_free. NOT_FOUND lists the models there
 * are. */
static int resolve_models(call *c, const Opra__V1__AppraisalCreateRequest *r, opra_buf *ids,
			  opra_buf *keys)
{
	PGresult *res = NULL;
	opra_buf avail = OPRA_BUF_INIT;
	long long seen[APPR_MODELS_MAX];
	size_t n = 0;
	int rc = OPRA_OK;

	for (size_t i = 0; i < r->n_models && i < APPR_MODELS_MAX; i++) {
		const char *p[1] = {r->models[i]};
		if ((rc = db_exec(&res, c->db, 1,
				  "SELECT id, key FROM models WHERE key = lower($1) FOR SHARE", 1,
				  p)) != OPRA_OK)
			goto done;
		if (PQntuples(res) == 0) {
			PQclear(res);
			res = NULL;
			if ((rc = db_exec(&res, c->db, 1,
					  "SELECT key FROM models ORDER BY key LIMIT 21", 0,
					  NULL)) != OPRA_OK ||
			    (rc = join_column(&avail, res, 0, 20)) != OPRA_OK)
				goto done;
			if (PQntuples(res) == 0)
				rc = opra_err_set(OPRA_NOT_FOUND,
						  "no model '%s': the server holds no models yet "
						  "(an admin imports them with opra model import)",
						  r->models[i]);
			else
				rc = opra_err_set(OPRA_NOT_FOUND, "no model '%s' (available: %s)",
						  r->models[i], (const char *)avail.data);
			goto done;
		}
		long long id = db_to_ll(PQgetvalue(res, 0, 0));
		size_t k = 0;
		while (k < n && seen[k] != id)
			k++;
		if (k == n) {
			seen[n] = id;
			if (opra_buf_printf(ids, "%s%lld", n ? "," : "{", id) != OPRA_OK ||
			    opra_buf_printf(keys, "%s%s", n ? ", " : "", PQgetvalue(res, 0, 1)) !=
				    OPRA_OK) {
				rc = oom();
				goto done;
			}
			n++;
		}
		PQclear(res);
		res = NULL;
	}
	if (opra_buf_puts(ids, "}") != OPRA_OK)
		rc = oom();
done:
	opra_buf_free(&avail);
	PQclear(res);
	return rc;
}

/* Finds one process area among the appraisal's models (model_ids, an
 * array literal; models_text names them for messages): "PA" must be unique
 * among them, "MODEL/PA" names the model. restrict_to (an appraisal id or
 * NULL) limits the search to the PAs in its scope. *pa_id on success. */
static int resolve_pa(call *c, const char *spec, const char *model_ids, const char *models_text,
		      const char *restrict_to, long long *pa_id, char *label, size_t label_size)
{
	PGresult *r = NULL;
	char model[APPR_MODEL_KEY_MAX + 1] = "";
	const char *code = spec;
	opra_buf choices = OPRA_BUF_INIT;
	int rc;

	const char *slash = strchr(spec, '/');
	if (slash) {
		snprintf(model, sizeof(model), "%.*s", (int)(slash - spec), spec);
		code = slash + 1;
	}
	const char *p[4] = {model_ids, code, model, restrict_to};
	rc = db_exec(&r, c->db, 1,
		     "SELECT pa.id, m.key, pa.code, ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM "
		     "appraisal_pas ap WHERE ap.appraisal_id = $4::bigint AND ap.pa_id = pa.id)) "
		     "FROM process_areas pa JOIN models m ON m.id = pa.model_id "
		     "WHERE pa.model_id = ANY ($1::bigint[]) AND lower(pa.code) = lower($2) "
		     "AND ($3 = '' OR m.key = lower($3)) ORDER BY m.key",
		     4, p);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r), in_scope = 0, pick = -1;
	for (int i = 0; i < n; i++)
		if (PQgetvalue(r, i, 3)[0] == 't') {
			in_scope++;
			pick = i;
		}
	if (n == 0) {
		if (model[0])
			rc = opra_err_set(OPRA_NOT_FOUND,
					  "no process area '%s' in model '%s' (the appraisal's "
					  "models: %s; see opra model show %s)",
					  code, model, models_text, model);
		else
			rc = opra_err_set(OPRA_NOT_FOUND,
					  "no process area '%s' in model%s %s (see opra model show "
					  "MODEL)",
					  code, strchr(models_text, ',') ? "s" : "", models_text);
		goto done;
	}
	if (in_scope == 0) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "process area %s/%s is not in the scope of this appraisal (opra "
				  "appraisal show lists its process areas)",
				  PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
		goto done;
	}
	if (in_scope > 1) {
		for (int i = 0; i < n; i++)
			if (PQgetvalue(r, i, 3)[0] == 't' &&
			    opra_buf_printf(&choices, "%s%s/%s", choices.len ? " or " : "",
					    PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)) != OPRA_OK) {
				rc = oom();
				goto done;
			}
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "process area '%s' exists in more than one of the models (%s): "
				  "write %s",
				  code, models_text, (const char *)choices.data);
		goto done;
	}
	*pa_id = db_to_ll(PQgetvalue(r, pick, 0));
	snprintf(label, label_size, "%s/%s", PQgetvalue(r, pick, 1), PQgetvalue(r, pick, 2));
done:
	opra_buf_free(&choices);
	PQclear(r);
	return rc;
}

static int appraisal_create(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__AppraisalCreateRequest *r = (const Opra__V1__AppraisalCreateRequest *)in;
	opra_buf ids = OPRA_BUF_INIT, keys = OPRA_BUF_INIT;
	PGresult *res = NULL;
	appr_view v;
	char *after = NULL;
	char aid[32], uid[32], level[16], cover[16];
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = resolve_models(c, r, &ids, &keys)) != OPRA_OK)
		goto done;
	snprintf(level, sizeof(level), "%d",
		 r->target_level < 0 ? APPR_DEFAULT_LEVEL : r->target_level);
	snprintf(cover, sizeof(cover), "%d",
		 r->affirmation_coverage < 0 ? APPR_DEFAULT_COVER : r->affirmation_coverage);
	id_text(uid, c->who->id);
	const char *pi[5] = {r->name, r->description, level, cover, uid};
	rc = db_exec(&res, c->db, 1,
		     "INSERT INTO appraisals (name, description, target_level, "
		     "affirmation_coverage, created_by) VALUES ($1, $2, $3::integer, $4::integer, "
		     "$5::bigint) RETURNING id",
		     5, pi);
	if (rc == OPRA_ALREADY_EXISTS)
		rc = opra_err_set(OPRA_ALREADY_EXISTS,
				  "an appraisal named '%s' already exists (opra appraisal list); "
				  "choose another name",
				  r->name);
	if (rc != OPRA_OK)
		goto done;
	long long id = db_to_ll(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	id_text(aid, id);
	const char *pm[2] = {aid, (const char *)ids.data};
	if ((rc = db_cmd(c->db,
			 "INSERT INTO appraisal_models (appraisal_id, model_id) "
			 "SELECT $1::bigint, unnest($2::bigint[])",
			 2, pm)) != OPRA_OK)
		goto done;
	if (r->all) {
		rc = db_cmd(c->db,
			    "INSERT INTO appraisal_pas (appraisal_id, pa_id) SELECT $1::bigint, "
			    "pa.id FROM process_areas pa WHERE pa.model_id = ANY ($2::bigint[])",
			    2, pm);
		if (rc != OPRA_OK)
			goto done;
	}
	for (size_t i = 0; !r->all && i < r->n_process_areas; i++) {
		long long pa = 0;
		char pat[32], label[APPR_PA_SPEC_MAX + 8];
		if ((rc = resolve_pa(c, r->process_areas[i], (const char *)ids.data,
				     (const char *)keys.data, NULL, &pa, label, sizeof(label))) !=
		    OPRA_OK)
			goto done;
		id_text(pat, pa);
		const char *pp[2] = {aid, pat};
		if ((rc = db_cmd(c->db,
				 "INSERT INTO appraisal_pas (appraisal_id, pa_id) VALUES "
				 "($1::bigint, $2::bigint) ON CONFLICT DO NOTHING",
				 2, pp)) != OPRA_OK)
			goto done;
	}
	const char *pl[2] = {aid, uid};
	if ((rc = db_cmd(c->db,
			 "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
			 "VALUES ($1::bigint, $2::bigint, 'lead', $2::bigint)",
			 2, pl)) != OPRA_OK)
		goto done;
	if ((rc = view_load(&v, c, id)) != OPRA_OK)
		goto done;
	if (v.info.n_process_areas == 0) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "the models %s have no process areas: nothing to appraise",
				  (const char *)keys.data);
		goto done;
	}
	if ((after = appraisal_json(&v)) == NULL) {
		rc = oom();
		goto done;
	}
	appraisal_ref ref;
	memset(&ref, 0, sizeof(ref));
	ref.id = id;
	snprintf(ref.name, sizeof(ref.name), "%s", r->name);
	char object[APPRAISAL_NAME_MAX + 16];
	snprintf(object, sizeof(object), "appraisal:%s", r->name);
	if ((rc = appraisal_event(c, &ref, object, NULL, after, 0, NULL)) != OPRA_OK)
		goto done;
	view_free(&v);
	rc = reply_appraisal(c, id, "created");
done:
	view_free(&v);
	free(after);
	PQclear(res);
	opra_buf_free(&ids);
	opra_buf_free(&keys);
	return rc;
}

/* ---- List and Show ---- */

static int appraisal_list(call *c, const ProtobufCMessage *in)
{
	PGresult *r = NULL;
	Opra__V1__AppraisalInfo *rows = NULL, **ptrs = NULL;
	char ***keys = NULL;
	char uid[32];
	size_t n = 0;
	int rc;

	(void)in;
	id_text(uid, c->who->id);
	int staff = c->who->role == ROLE_ADMIN || c->who->role == ROLE_PROGRAM_OFFICE;
	/* $1 staff: every appraisal; others: where they are members. */
	const char *p[2] = {staff ? "true" : "false", uid};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT " SUMMARY_COLS SUMMARY_FROM
			  "WHERE $1::boolean OR my.user_id IS NOT NULL ORDER BY a.name",
			  2, p)) != OPRA_OK)
		goto done;
	n = (size_t)PQntuples(r);
	rows = opra_calloc(n + 1, sizeof(*rows));
	ptrs = opra_calloc(n + 1, sizeof(*ptrs));
	keys = opra_calloc(n + 1, sizeof(*keys));
	if (rows == NULL || ptrs == NULL || keys == NULL) {
		rc = oom();
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = summary_from_row(&rows[i], &keys[i], r, (int)i)) != OPRA_OK)
			goto done;
		ptrs[i] = &rows[i];
	}
	Opra__V1__AppraisalListReply reply = OPRA__V1__APPRAISAL_LIST_REPLY__INIT;
	reply.n_appraisals = n;
	reply.appraisals = ptrs;
	rc = call_reply(c, &reply.base);
done:
	for (size_t i = 0; keys && i < n; i++)
		opra_free(keys[i]);
	opra_free(keys);
	opra_free(rows);
	opra_free(ptrs);
	PQclear(r);
	return rc;
}

/* The dashboard numbers (docs/appraisals.md "Dashboard"). The practices
 * counted are those the rating evaluates (svc_rating.c): every practice of
 * the specific goals, and of the generic goals GG1..GGn up to max(target,
 * 1), of each process area in scope; each is counted on every instance.
 * Labels and accepted evidence come from rating_cells (sql/010), judgements
 * from their table; whether a practice needs a judgement is the engine's
 * own aggregation rule (rating_aggregate), never a copy of it. */
static int dashboard_load(call *c, long long id, Opra__V1__AppraisalDashboard *d)
{
	PGresult *r = NULL;
	char aid[32];
	int rc;

	id_text(aid, id);
	const char *p[1] = {aid};
	if ((rc = db_exec(
		     &r, c->db, 1,
		     "WITH prac AS (SELECT p.id FROM appraisal_pas ap "
		     "JOIN appraisals a ON a.id = ap.appraisal_id "
		     "JOIN goals g ON g.pa_id = ap.pa_id JOIN practices p ON p.goal_id = g.id "
		     "WHERE ap.appraisal_id = $1::bigint AND (NOT g.generic OR "
		     "CASE WHEN g.code ~* '^GG[1-3]$' THEN substr(g.code, 3)::integer <= "
		     "greatest(coalesce(ap.target_level, a.target_level), 1) ELSE false END)), "
		     "inst AS (SELECT id FROM appraisal_instances WHERE appraisal_id = $1::bigint) "
		     "SELECT pr.id, "
		     "count(*) FILTER (WHERE c.value IS NULL), "
		     "count(*) FILTER (WHERE c.value = 'fi'), "
		     "count(*) FILTER (WHERE c.value = 'li'), "
		     "count(*) FILTER (WHERE c.value = 'pi'), "
		     "count(*) FILTER (WHERE c.value = 'ni'), "
		     "count(*) FILTER (WHERE c.value = 'ny'), "
		     "count(*) FILTER (WHERE c.artifacts > 0), "
		     "count(*) FILTER (WHERE c.affirmations > 0), "
		     "coalesce(min(j.value), ''), coalesce(bool_or(j.rationale <> ''), false), "
		     "count(i.id) "
		     "FROM prac pr LEFT JOIN inst i ON true "
		     "LEFT JOIN rating_cells c ON c.appraisal_id = $1::bigint "
		     "AND c.practice_id = pr.id AND c.instance_id = i.id "
		     "LEFT JOIN judgements j ON j.appraisal_id = $1::bigint "
		     "AND j.practice_id = pr.id GROUP BY pr.id",
		     1, p)) != OPRA_OK)
		return rc;
	int n = PQntuples(r);
	d->practices = n;
	for (int i = 0; i < n; i++) {
		uint32_t count[RATING_LABELS];
		long long instances = db_to_ll(PQgetvalue(r, i, 11));
		if (instances == 0)
			continue; /* a LEFT JOIN row with no instance: nothing to count */
		for (int v = RATING_NONE; v <= RATING_NY; v++)
			count[v] = (uint32_t)db_to_ll(PQgetvalue(r, i, 1 + v));
		d->practice_instances += instances;
		d->uncharacterised += count[RATING_NONE];
		d->fi += count[RATING_FI];
		d->li += count[RATING_LI];
		d->pi += count[RATING_PI];
		d->ni += count[RATING_NI];
		d->ny += count[RATING_NY];
		d->with_artifact += db_to_ll(PQgetvalue(r, i, 7));
		d->with_affirmation += db_to_ll(PQgetvalue(r, i, 8));
		int j = rating_value_parse(PQgetvalue(r, i, 9));
		rating_value jv = j >= RATING_FI && j <= RATING_NI ? (rating_value)j : RATING_NONE;
		if (rating_aggregate(count, jv, PQgetvalue(r, i, 10)[0] == 't', NULL, NULL) ==
		    RATING_NEEDS_JUDGEMENT)
			d->open_judgements++;
	}
	PQclear(r);
	r = NULL;
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT count(*) FROM evidence WHERE appraisal_id = $1::bigint AND "
			  "status = 'proposed'",
			  1, p)) != OPRA_OK)
		return rc;
	d->proposed_evidence = db_to_ll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return OPRA_OK;
}

static int appraisal_show(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__AppraisalRef *r = (const Opra__V1__AppraisalRef *)in;
	Opra__V1__AppraisalDashboard dash = OPRA__V1__APPRAISAL_DASHBOARD__INIT;
	appraisal_ref a;
	appr_view v;
	int rc = appraisal_open(c, r->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a);
	if (rc != OPRA_OK)
		return rc;
	if ((rc = view_load(&v, c, a.id)) == OPRA_OK &&
	    (rc = dashboard_load(c, a.id, &dash)) == OPRA_OK) {
		Opra__V1__AppraisalReply reply = OPRA__V1__APPRAISAL_REPLY__INIT;
		v.info.dashboard = &dash;
		reply.appraisal = &v.info;
		reply.result = (char *)"";
		rc = call_reply(c, &reply.base);
	}
	view_free(&v);
	return rc;
}

/* ---- ScopeAdd ---- */

/* Adds one service or unit (kind) as an instance. *added is 1 when it was
 * added, 0 when it already was in scope. */
static int scope_one(call *c, const appraisal_ref *a, const char *kind, const char *name,
		     int *added)
{
	PGresult *r = NULL;
	char aid[32], uid[32];
	char *after = NULL;
	int svc = strcmp(kind, "service") == 0;
	int rc;

	*added = 0;
	const char *pn[1] = {name};
	/* FOR SHARE: a concurrent removal of the object waits for this scope. */
	rc = db_exec(
		&r, c->db, 1,
		svc ? "SELECT id FROM services WHERE name = $1 AND removed_at IS NULL FOR SHARE"
		    : "SELECT id FROM units WHERE name = $1 AND removed_at IS NULL FOR SHARE",
		1, pn);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) == 0) {
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "no %s named '%s' in the inventory (see opra %s list); nothing "
				  "was added to appraisal '%s'",
				  kind, name, kind, a->name);
		goto done;
	}
	char oid[32];
	snprintf(oid, sizeof(oid), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	r = NULL;
	id_text(aid, a->id);
	const char *pe[4] = {aid, oid, name, kind};
	rc = db_exec(&r, c->db, 1,
		     "SELECT kind, name, (kind = $4 AND coalesce(service_id, unit_id) = "
		     "$2::bigint) FROM appraisal_instances WHERE appraisal_id = $1::bigint AND "
		     "((kind = $4 AND coalesce(service_id, unit_id) = $2::bigint) OR name = $3) "
		     "ORDER BY 3 DESC",
		     4, pe);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) > 0 && PQgetvalue(r, 0, 2)[0] == 't')
		goto done; /* already in scope: unchanged */
	if (PQntuples(r) > 0) {
		rc = opra_err_set(OPRA_ALREADY_EXISTS,
				  "appraisal '%s' already has an instance named '%s' (a %s); a "
				  "service and a unit with the same name cannot both be instances: "
				  "rename one of them in the inventory first",
				  a->name, name, PQgetvalue(r, 0, 0));
		goto done;
	}
	PQclear(r);
	r = NULL;
	id_text(uid, c->who->id);
	const char *pi[4] = {aid, oid, name, uid};
	rc = db_cmd(c->db,
		    svc ? "INSERT INTO appraisal_instances (appraisal_id, kind, service_id, name, "
			  "added_by) VALUES ($1::bigint, 'service', $2::bigint, $3, $4::bigint)"
			: "INSERT INTO appraisal_instances (appraisal_id, kind, unit_id, name, "
			  "added_by) VALUES ($1::bigint, 'unit', $2::bigint, $3, $4::bigint)",
		    4, pi);
	if (rc == OPRA_ALREADY_EXISTS)
		rc = opra_err_set(OPRA_ALREADY_EXISTS,
				  "appraisal '%s' already has an instance named '%s'", a->name,
				  name);
	if (rc != OPRA_OK)
		goto done;
	if ((after = dump_json(json_pack("{s:s, s:s}", "name", name, "kind", kind))) == NULL) {
		rc = oom();
		goto done;
	}
	char object[APPR_INV_NAME_MAX + 16];
	snprintf(object, sizeof(object), "instance:%s", name);
	if ((rc = appraisal_event(c, a, object, NULL, after, 0, NULL)) != OPRA_OK)
		goto done;
	*added = 1;
done:
	free(after);
	PQclear(r);
	return rc;
}

static int appraisal_scope_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ScopeAddRequest *r = (const Opra__V1__ScopeAddRequest *)in;
	appraisal_ref a;
	size_t added = 0, unchanged = 0;
	char result[96];
	int rc, one;

	if ((rc = appraisal_open(c, r->appraisal, MEMBER_LEAD,
				 APPR_WRITE | APPR_STAFF_WRITES | APPR_LOCK, &a)) != OPRA_OK)
		return rc;
	for (size_t i = 0; i < r->n_services + r->n_units; i++) {
		int svc = i < r->n_services;
		const char *name = svc ? r->services[i] : r->units[i - r->n_services];
		if ((rc = scope_one(c, &a, svc ? "service" : "unit", name, &one)) != OPRA_OK)
			return rc;
		if (one)
			added++;
		else
			unchanged++;
	}
	if (added == 0)
		snprintf(result, sizeof(result), "unchanged (%zu already in scope)", unchanged);
	else if (unchanged == 0)
		snprintf(result, sizeof(result), "added %zu instance%s", added,
			 added == 1 ? "" : "s");
	else
		snprintf(result, sizeof(result), "added %zu instance%s, %zu already in scope",
			 added, added == 1 ? "" : "s", unchanged);
	return reply_appraisal(c, a.id, result);
}

/* ---- MemberAdd ---- */

static int appraisal_member_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__MemberAddRequest *r = (const Opra__V1__MemberAddRequest *)in;
	appraisal_ref a;
	PGresult *res = NULL;
	char *before = NULL, *after = NULL;
	char aid[32], uid[32], result[128];
	int rc;

	if ((rc = appraisal_open(c, r->appraisal, MEMBER_LEAD,
				 APPR_WRITE | APPR_STAFF_WRITES | APPR_LOCK, &a)) != OPRA_OK)
		return rc;
	const char *pu[1] = {r->user};
	if ((rc = db_exec(&res, c->db, 1,
			  "SELECT id, role, revoked_at IS NOT NULL FROM users WHERE name = $1", 1,
			  pu)) != OPRA_OK)
		goto done;
	if (PQntuples(res) == 0) {
		rc = opra_err_set(OPRA_NOT_FOUND,
				  "no user named '%s' (an admin adds users with opra user add)",
				  r->user);
		goto done;
	}
	if (PQgetvalue(res, 0, 2)[0] == 't') {
		rc = opra_err_set(OPRA_FAILED_PRECONDITION,
				  "user '%s' is revoked and cannot become a member", r->user);
		goto done;
	}
	unsigned global = role_from_name(PQgetvalue(res, 0, 1));
	unsigned want = member_role_from_name(r->role);
	if (global == ROLE_AUTOMATION && want != MEMBER_AUTOMATION) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "user '%s' has the global role automation, so it can only be an "
				  "'automation' member (it submits evidence, which an appraiser "
				  "accepts): use --role automation",
				  r->user);
		goto done;
	}
	if (global != ROLE_AUTOMATION && want == MEMBER_AUTOMATION) {
		rc = opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"member role 'automation' is for automation tokens, and user '%s' "
			"has the global role %s: use --role appraiser (or viewer, lead)",
			r->user, role_name(global));
		goto done;
	}
	id_text(uid, db_to_ll(PQgetvalue(res, 0, 0)));
	PQclear(res);
	res = NULL;
	id_text(aid, a.id);
	const char *pm[2] = {aid, uid};
	if ((rc = db_exec(&res, c->db, 1,
			  "SELECT role, (SELECT count(*) FROM appraisal_members WHERE appraisal_id "
			  "= $1::bigint AND role = 'lead') FROM appraisal_members WHERE "
			  "appraisal_id = $1::bigint AND user_id = $2::bigint FOR UPDATE",
			  2, pm)) != OPRA_OK)
		goto done;
	char old[16] = "";
	if (PQntuples(res) == 1) {
		snprintf(old, sizeof(old), "%s", PQgetvalue(res, 0, 0));
		if (strcmp(old, r->role) == 0) {
			snprintf(result, sizeof(result), "unchanged (%s is already %s %s)", r->user,
				 want == MEMBER_APPRAISER || want == MEMBER_AUTOMATION ? "an" : "a",
				 r->role);
			PQclear(res);
			res = NULL;
			rc = reply_appraisal(c, a.id, result);
			goto done;
		}
		if (strcmp(old, "lead") == 0 && db_to_ll(PQgetvalue(res, 0, 1)) <= 1) {
			rc = opra_err_set(
				OPRA_FAILED_PRECONDITION,
				"%s is the only lead of appraisal '%s': make another member "
				"lead first",
				r->user, a.name);
			goto done;
		}
	}
	PQclear(res);
	res = NULL;
	char by[32];
	id_text(by, c->who->id);
	const char *pw[4] = {aid, uid, r->role, by};
	if ((rc = db_cmd(c->db,
			 "INSERT INTO appraisal_members (appraisal_id, user_id, role, added_by) "
			 "VALUES ($1::bigint, $2::bigint, $3, $4::bigint) ON CONFLICT "
			 "(appraisal_id, user_id) DO UPDATE SET role = EXCLUDED.role",
			 4, pw)) != OPRA_OK)
		goto done;
	if (old[0] &&
	    (before = dump_json(json_pack("{s:s, s:s}", "user", r->user, "role", old))) == NULL) {
		rc = oom();
		goto done;
	}
	if ((after = dump_json(json_pack("{s:s, s:s}", "user", r->user, "role", r->role))) ==
	    NULL) {
		rc = oom();
		goto done;
	}
	char object[96];
	snprintf(object, sizeof(object), "member:%s", r->user);
	if ((rc = appraisal_event(c, &a, object, before, after, 0, NULL)) != OPRA_OK)
		goto done;
	if (old[0])
		snprintf(result, sizeof(result), "role of %s changed from %s to %s", r->user, old,
			 r->role);
	else
		snprintf(result, sizeof(result), "added %s as %s", r->user, r->role);
	rc = reply_appraisal(c, a.id, result);
done:
	free(before);
	free(after);
	PQclear(res);
	return rc;
}

/* ---- Target ---- */

static int appraisal_target(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__TargetRequest *r = (const Opra__V1__TargetRequest *)in;
	appraisal_ref a;
	PGresult *res = NULL;
	opra_buf ids = OPRA_BUF_INIT, keys = OPRA_BUF_INIT;
	char *before = NULL, *after = NULL;
	char aid[32], pat[32], level[16], result[APPR_PA_SPEC_MAX + 64],
		label[APPR_PA_SPEC_MAX + 8];
	long long pa = 0;
	int rc;

	if ((rc = appraisal_open(c, r->appraisal, MEMBER_LEAD,
				 APPR_WRITE | APPR_STAFF_WRITES | APPR_LOCK, &a)) != OPRA_OK)
		return rc;
	id_text(aid, a.id);
	const char *pa1[1] = {aid};
	if ((rc = db_exec(
		     &res, c->db, 1,
		     "SELECT '{' || string_agg(m.id::text, ',') || '}', string_agg(m.key, ', ' "
		     "ORDER BY m.key) FROM appraisal_models am JOIN models m ON m.id = "
		     "am.model_id WHERE am.appraisal_id = $1::bigint",
		     1, pa1)) != OPRA_OK)
		goto done;
	if (opra_buf_puts(&ids, PQgetvalue(res, 0, 0)) != OPRA_OK ||
	    opra_buf_puts(&keys, PQgetvalue(res, 0, 1)) != OPRA_OK) {
		rc = oom();
		goto done;
	}
	PQclear(res);
	res = NULL;
	if ((rc = resolve_pa(c, r->process_area, (const char *)ids.data, (const char *)keys.data,
			     aid, &pa, label, sizeof(label))) != OPRA_OK)
		goto done;
	id_text(pat, pa);
	snprintf(level, sizeof(level), "%d", r->level);
	const char *pp[2] = {aid, pat};
	if ((rc = db_exec(&res, c->db, 1,
			  "SELECT coalesce(ap.target_level, a.target_level) FROM appraisal_pas ap "
			  "JOIN appraisals a ON a.id = ap.appraisal_id WHERE ap.appraisal_id = "
			  "$1::bigint AND ap.pa_id = $2::bigint",
			  2, pp)) != OPRA_OK)
		goto done;
	int old = (int)db_to_ll(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	if (old == r->level) {
		snprintf(result, sizeof(result), "unchanged (%s already targets level %d)", label,
			 old);
		rc = reply_appraisal(c, a.id, result);
		goto done;
	}
	const char *pu[3] = {aid, pat, level};
	if ((rc = db_cmd(c->db,
			 "UPDATE appraisal_pas SET target_level = $3::integer WHERE appraisal_id = "
			 "$1::bigint AND pa_id = $2::bigint",
			 3, pu)) != OPRA_OK)
		goto done;
	before = dump_json(json_pack("{s:s, s:i}", "process_area", label, "target_level", old));
	after = dump_json(
		json_pack("{s:s, s:i}", "process_area", label, "target_level", (int)r->level));
	if (before == NULL || after == NULL) {
		rc = oom();
		goto done;
	}
	char object[APPR_PA_SPEC_MAX + 16];
	snprintf(object, sizeof(object), "target:%s", label);
	if ((rc = appraisal_event(c, &a, object, before, after, 0, NULL)) != OPRA_OK)
		goto done;
	snprintf(result, sizeof(result), "target of %s changed from level %d to %d", label, old,
		 (int)r->level);
	rc = reply_appraisal(c, a.id, result);
done:
	free(before);
	free(after);
	opra_buf_free(&ids);
	opra_buf_free(&keys);
	PQclear(res);
	return rc;
}

/* ---- Finalize ---- */

static int appraisal_finalize(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__AppraisalRef *r = (const Opra__V1__AppraisalRef *)in;
	appraisal_ref a;
	char aid[32], uid[32];
	char *after = NULL;
	int rc;

	/* Lead only: staff may manage an appraisal but not seal it. */
	if ((rc = appraisal_open(c, r->appraisal, MEMBER_LEAD, APPR_WRITE | APPR_LOCK, &a)) !=
	    OPRA_OK)
		return rc;
	/* The final event goes into the chain first; the seal then records the
	 * head that includes it. */
	if ((after = dump_json(json_pack("{s:s, s:b}", "name", a.name, "sealed", 1))) == NULL)
		return oom();
	char object[APPRAISAL_NAME_MAX + 16];
	snprintf(object, sizeof(object), "appraisal:%s", a.name);
	rc = appraisal_event(c, &a, object, NULL, after, 0, NULL);
	free(after);
	if (rc != OPRA_OK)
		return rc;
	id_text(aid, a.id);
	id_text(uid, c->who->id);
	const char *p[2] = {aid, uid};
	if ((rc = db_cmd(c->db,
			 "UPDATE appraisals SET sealed_at = now(), sealed_by = $2::bigint, "
			 "sealed_head = head WHERE id = $1::bigint AND sealed_at IS NULL",
			 2, p)) != OPRA_OK)
		return rc;
	return reply_appraisal(c, a.id, "finalised");
}

/* Global roles: automation tokens never manage appraisals (they can only
 * be automation members). */
#define APPR_MANAGERS (ROLE_ADMIN | ROLE_PROGRAM_OFFICE | ROLE_USER)

static const method_impl methods[] = {
	{"Create", appraisal_create, create_validate, APPR_MANAGERS, METHOD_MUTATES, NULL},
	{"List", appraisal_list, list_validate, ROLES_ANY, 0, NULL},
	{"Show", appraisal_show, ref_validate, ROLES_ANY, 0, NULL},
	{"ScopeAdd", appraisal_scope_add, scope_validate, APPR_MANAGERS, METHOD_MUTATES, NULL},
	{"MemberAdd", appraisal_member_add, member_validate, APPR_MANAGERS, METHOD_MUTATES, NULL},
	{"Target", appraisal_target, target_validate, APPR_MANAGERS, METHOD_MUTATES, NULL},
	{"Finalize", appraisal_finalize, ref_validate, APPR_MANAGERS, METHOD_MUTATES, NULL},
};

const service_impl svc_appraisal = {&opra__v1__appraisal__descriptor, methods,
				    sizeof(methods) / sizeof(methods[0])};
