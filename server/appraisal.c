/* Appraisal lookups, per-appraisal authorisation and the event chain:
 * what every appraisal-scoped handler shares (appraisal.h). */
#include "appraisal.h"

#include "opra_err.h"
#include "opra_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned bit;
} member_roles[] = {
	{"lead", MEMBER_LEAD},
	{"appraiser", MEMBER_APPRAISER},
	{"viewer", MEMBER_VIEWER},
	{"automation", MEMBER_AUTOMATION},
};
#define N_MEMBER_ROLES (sizeof(member_roles) / sizeof(member_roles[0]))

unsigned member_role_from_name(const char *name)
{
	for (size_t i = 0; name && i < N_MEMBER_ROLES; i++)
		if (strcmp(member_roles[i].name, name) == 0)
			return member_roles[i].bit;
	return 0;
}

const char *member_role_name(unsigned role)
{
	for (size_t i = 0; i < N_MEMBER_ROLES; i++)
		if (member_roles[i].bit == role)
			return member_roles[i].name;
	return "";
}

/* "lead or appraiser" for a set of MEMBER_* bits. */
static void roles_text(char *out, size_t size, unsigned roles)
{
	size_t n = 0, total = 0;
	out[0] = '\0';
	for (size_t i = 0; i < N_MEMBER_ROLES; i++)
		if (roles & member_roles[i].bit)
			total++;
	for (size_t i = 0; i < N_MEMBER_ROLES; i++) {
		if (!(roles & member_roles[i].bit))
			continue;
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s",
			 n == 0 ? "" : (n + 1 == total ? " or " : ", "), member_roles[i].name);
		n++;
	}
}

static int is_staff(const call *c)
{
	return c->who && (c->who->role == ROLE_ADMIN || c->who->role == ROLE_PROGRAM_OFFICE);
}

int appraisal_open(call *c, const char *name_or_id, unsigned need, unsigned flags,
		   appraisal_ref *out)
{
	PGresult *r = NULL;
	char uid[32], idbuf[32] = "";
	long id = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (name_or_id == NULL || name_or_id[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name the appraisal (its name or id)");
	if (strlen(name_or_id) > APPRAISAL_NAME_MAX)
		return opra_err_set(OPRA_NOT_FOUND, "no appraisal is named '%.40s...'", name_or_id);
	if (opra_parse_long(name_or_id, 1, 0x7fffffffffffffffL, &id))
		snprintf(idbuf, sizeof(idbuf), "%ld", id);
	snprintf(uid, sizeof(uid), "%lld", c->who ? c->who->id : 0LL);
	const char *p[3] = {name_or_id, idbuf[0] ? idbuf : NULL, uid};
	rc = db_exec(&r, c->db, 1,
		     (flags & APPR_LOCK) ? "SELECT a.id, a.name, a.sealed_at IS NOT NULL, "
					   "to_char(a.sealed_at AT TIME ZONE 'UTC', "
					   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), a.target_level, "
					   "a.affirmation_coverage, coalesce(m.role, '') "
					   "FROM appraisals a LEFT JOIN appraisal_members m "
					   "ON m.appraisal_id = a.id AND m.user_id = $3::bigint "
					   "WHERE a.name = $1 OR a.id = $2::bigint "
					   "ORDER BY a.name = $1 DESC LIMIT 1 FOR UPDATE OF a"
					 : "SELECT a.id, a.name, a.sealed_at IS NOT NULL, "
					   "to_char(a.sealed_at AT TIME ZONE 'UTC', "
					   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), a.target_level, "
					   "a.affirmation_coverage, coalesce(m.role, '') "
					   "FROM appraisals a LEFT JOIN appraisal_members m "
					   "ON m.appraisal_id = a.id AND m.user_id = $3::bigint "
					   "WHERE a.name = $1 OR a.id = $2::bigint "
					   "ORDER BY a.name = $1 DESC LIMIT 1",
		     3, p);
	if (rc != OPRA_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return opra_err_set(OPRA_NOT_FOUND,
				    "no appraisal is named '%s' (see opra appraisal list)",
				    name_or_id);
	}
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(r, 0, 1));
	out->sealed = PQgetvalue(r, 0, 2)[0] == 't';
	char sealed_at[40];
	snprintf(sealed_at, sizeof(sealed_at), "%s", PQgetvalue(r, 0, 3));
	out->target_level = (int)db_to_ll(PQgetvalue(r, 0, 4));
	out->affirmation_coverage = (int)db_to_ll(PQgetvalue(r, 0, 5));
	out->my_role = member_role_from_name(PQgetvalue(r, 0, 6));
	PQclear(r);

	int staff_ok = is_staff(c) && ((flags & APPR_STAFF_WRITES) ||
				       ((flags & APPR_STAFF_READS) && !(flags & APPR_WRITE)));
	if (!(out->my_role & need) && !staff_ok) {
		char allowed[64];
		roles_text(allowed, sizeof(allowed), need);
		if (out->my_role == 0)
			return opra_err_set(
				OPRA_PERMISSION_DENIED,
				"user '%s' is not a member of appraisal '%s'; this needs "
				"the member role %s (its lead adds members with: opra "
				"appraisal member add '%s' USER --role ROLE)",
				c->who ? c->who->name : "-", out->name, allowed, out->name);
		return opra_err_set(OPRA_PERMISSION_DENIED,
				    "user '%s' is %s %s of appraisal '%s'; this needs the member "
				    "role %s",
				    c->who->name, out->my_role == MEMBER_APPRAISER ? "an" : "a",
				    member_role_name(out->my_role), out->name, allowed);
	}
	if ((flags & APPR_WRITE) && out->sealed)
		return opra_err_set(OPRA_FAILED_PRECONDITION,
				    "appraisal '%s' was finalised (sealed) at %s; it cannot change",
				    out->name, sealed_at);
	return OPRA_OK;
}

/* Up to `max` names from column 0 of r, comma separated, with ", ..." when
 * there are more. */
static void join_names(char *out, size_t size, PGresult *r, int col, int max)
{
	out[0] = '\0';
	int n = PQntuples(r);
	for (int i = 0; i < n && i < max; i++) {
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s", i ? ", " : "", PQgetvalue(r, i, col));
	}
	if (n > max) {
		size_t len = strlen(out);
		snprintf(out + len, size - len, ", ...");
	}
}

int appraisal_practice(call *c, const appraisal_ref *a, const char *practice, long long *id,
		       char canonical[PRACTICE_ID_MAX + 1])
{
	PGresult *r = NULL;
	char aid[32], model[72] = "";
	const char *code = practice;
	int rc;

	if (practice == NULL || practice[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the practice, e.g. ADM:SG1.SP1 or SC:GG2.GP6");
	if (strlen(practice) > PRACTICE_ID_MAX || !opra_utf8_valid(practice, strlen(practice)))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "'%.40s' is not a practice id (PA:SGn.SPm or PA:GGn.GPm)",
				    practice);
	const char *slash = strchr(practice, '/');
	if (slash) {
		size_t n = (size_t)(slash - practice);
		if (n == 0 || n >= sizeof(model))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "'%s' is not a practice id (MODEL/PA:SGn.SPm)",
					    practice);
		memcpy(model, practice, n);
		model[n] = '\0';
		code = slash + 1;
	}
	snprintf(aid, sizeof(aid), "%lld", a->id);
	const char *p[3] = {aid, code, model};
	rc = db_exec(&r, c->db, 1,
		     "SELECT p.id, p.full_id, m.key, ap.pa_id IS NOT NULL, pa.code "
		     "FROM practices p "
		     "JOIN appraisal_models am ON am.model_id = p.model_id "
		     "AND am.appraisal_id = $1::bigint "
		     "JOIN models m ON m.id = p.model_id "
		     "JOIN goals g ON g.id = p.goal_id "
		     "JOIN process_areas pa ON pa.id = g.pa_id "
		     "LEFT JOIN appraisal_pas ap ON ap.appraisal_id = $1::bigint "
		     "AND ap.pa_id = pa.id "
		     "WHERE p.full_id_lower = lower($2) AND ($3 = '' OR m.key = lower($3)) "
		     "ORDER BY m.key",
		     3, p);
	if (rc != OPRA_OK)
		return rc;
	int n = PQntuples(r), in_scope = 0, pick = -1;
	for (int i = 0; i < n; i++)
		if (PQgetvalue(r, i, 3)[0] == 't') {
			in_scope++;
			pick = i;
		}
	if (n == 0) {
		PQclear(r);
		return opra_err_set(OPRA_NOT_FOUND,
				    "practice '%s' is not in the models of appraisal '%s' (see "
				    "opra appraisal show '%s' and opra model show MODEL --pa PA)",
				    practice, a->name, a->name);
	}
	if (in_scope == 0) {
		rc = opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"practice %s (process area %s of %s) is not in the scope of "
			"appraisal '%s' (opra appraisal show '%s' lists its process areas)",
			PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 2), a->name,
			a->name);
		PQclear(r);
		return rc;
	}
	if (in_scope > 1) {
		char choices[256] = "";
		for (int i = 0; i < n; i++) {
			if (PQgetvalue(r, i, 3)[0] != 't')
				continue;
			size_t len = strlen(choices);
			snprintf(choices + len, sizeof(choices) - len, "%s%s/%s", len ? ", " : "",
				 PQgetvalue(r, i, 2), PQgetvalue(r, i, 1));
		}
		PQclear(r);
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "practice '%s' exists in more than one model of appraisal "
				    "'%s': write one of %s",
				    practice, a->name, choices);
	}
	*id = strtoll(PQgetvalue(r, pick, 0), NULL, 10);
	snprintf(canonical, PRACTICE_ID_MAX + 1, "%s", PQgetvalue(r, pick, 1));
	PQclear(r);
	return OPRA_OK;
}

int appraisal_instance(call *c, const appraisal_ref *a, const char *instance, long long *id)
{
	PGresult *r = NULL;
	char aid[32];
	int rc;

	if (instance == NULL || instance[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "name the instance (a service or unit in the appraisal's "
				    "scope)");
	if (strlen(instance) > INSTANCE_NAME_MAX || !opra_utf8_valid(instance, strlen(instance)))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "'%.40s' is not an instance name",
				    instance);
	snprintf(aid, sizeof(aid), "%lld", a->id);
	const char *p[2] = {aid, instance};
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT id FROM appraisal_instances WHERE appraisal_id = $1::bigint "
			  "AND name = $2",
			  2, p)) != OPRA_OK)
		return rc;
	if (PQntuples(r) == 1) {
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return OPRA_OK;
	}
	PQclear(r);
	r = NULL;
	if ((rc = db_exec(&r, c->db, 1,
			  "SELECT name FROM appraisal_instances WHERE appraisal_id = $1::bigint "
			  "ORDER BY name LIMIT 11",
			  1, p)) != OPRA_OK)
		return rc;
	char names[512];
	join_names(names, sizeof(names), r, 0, 10);
	int none = PQntuples(r) == 0;
	PQclear(r);
	if (none)
		return opra_err_set(OPRA_NOT_FOUND,
				    "appraisal '%s' has no instances yet; add services or units "
				    "with: opra appraisal scope add '%s' --service S",
				    a->name, a->name);
	return opra_err_set(OPRA_NOT_FOUND,
			    "'%s' is not an instance of appraisal '%s' (its instances: %s)",
			    instance, a->name, names);
}

int appraisal_event(call *c, const appraisal_ref *a, const char *object, const char *before_json,
		    const char *after_json, int sealing, long long *seq)
{
	PGresult *r = NULL;
	char aid[32], actor_id[32];
	snprintf(aid, sizeof(aid), "%lld", a->id);
	snprintf(actor_id, sizeof(actor_id), "%lld", c->who ? c->who->id : 0LL);
	const char *p[11] = {aid,
			     c->who ? actor_id : NULL,
			     c->who ? c->who->name : "anonymous",
			     c->req->client_id,
			     c->req->site,
			     c->peer ? c->peer : "",
			     c->req->method,
			     object,
			     before_json,
			     after_json,
			     sealing ? "true" : "false"};
	int rc = db_exec(&r, c->db, 1,
			 "SELECT o_seq FROM append_event($1::bigint, $2::bigint, $3, $4, $5, $6, "
			 "$7, $8, $9::jsonb, $10::jsonb, $11::boolean)",
			 11, p);
	if (rc != OPRA_OK)
		return rc;
	if (seq)
		*seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return OPRA_OK;
}

int appraisals_scoping(call *c, const char *kind, long long id, char *out, size_t size)
{
	PGresult *r = NULL;
	char idbuf[32];
	out[0] = '\0';
	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	const char *p[1] = {idbuf};
	int rc =
		db_exec(&r, c->db, 1,
			strcmp(kind, "unit") == 0
				? "SELECT DISTINCT a.name FROM appraisal_instances i JOIN "
				  "appraisals a ON a.id = i.appraisal_id WHERE a.sealed_at IS NULL "
				  "AND i.unit_id = $1::bigint ORDER BY a.name LIMIT 11"
				: "SELECT DISTINCT a.name FROM appraisal_instances i JOIN "
				  "appraisals a ON a.id = i.appraisal_id WHERE a.sealed_at IS NULL "
				  "AND i.service_id = $1::bigint ORDER BY a.name LIMIT 11",
			1, p);
	if (rc != OPRA_OK)
		return rc;
	join_names(out, size, r, 0, 10);
	PQclear(r);
	return OPRA_OK;
}

int appraisal_check_name(const char *s)
{
	if (s[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "name the appraisal (its name or id)");
	return opra_name_check("the appraisal name", s, APPRAISAL_NAME_MAX);
}
