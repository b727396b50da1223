/* opra.v1.User: user and token administration, admin only. */
#include "auth.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"

#include "opra/v1/user.pb-c.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* A small JSON object for the event log, built with jansson so names are
 * escaped properly. unit may be NULL or "" (not scoped). Caller frees with
 * free() (jansson allocates it). */
static char *json_user(const char *name, const char *role, const char *unit, const char *state)
{
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?}", "name", name, "role", role, "unit",
			      unit && unit[0] ? unit : NULL, "state", state);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static int user_add_validate(const ProtobufCMessage *in)
{
	const Opra__V1__UserAddRequest *r = (const Opra__V1__UserAddRequest *)in;
	int rc = auth_user_name_check(r->name);
	if (rc != OPRA_OK)
		return rc;
	if (role_from_name(r->role) == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "unknown role '%.64s': use admin, program-office, user or "
				    "automation",
				    r->role);
	if (r->unit[0]) {
		if ((rc = opra_name_check("unit", r->unit, 128)) != OPRA_OK)
			return rc;
		if (role_from_name(r->role) != ROLE_USER)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "only users with role 'user' can be scoped to a unit "
					    "(role '%s' writes the whole inventory or none of it); "
					    "drop --unit or use --role user",
					    r->role);
	}
	return OPRA_OK;
}

static int user_add(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UserAddRequest *r = (const Opra__V1__UserAddRequest *)in;
	opra_token tok;
	PGresult *res = NULL;
	char *after = NULL;
	char unit_id[32] = "";
	long long id = 0;
	int rc;

	memset(&tok, 0, sizeof(tok));
	if (r->unit[0]) {
		/* FOR SHARE: a concurrent removal of the unit waits for this user. */
		const char *p[1] = {r->unit};
		rc = db_exec(
			&res, c->db, 1,
			"SELECT id FROM units WHERE name = $1 AND removed_at IS NULL FOR SHARE", 1,
			p);
		if (rc != OPRA_OK)
			goto done;
		if (PQntuples(res) == 0) {
			rc = opra_err_set(
				OPRA_NOT_FOUND,
				"no unit named '%s' to scope user '%s' to (see 'opra unit "
				"list')",
				r->unit, r->name);
			goto done;
		}
		snprintf(unit_id, sizeof(unit_id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		res = NULL;
	}
	rc = auth_user_create(c->db, r->name, r->role, c->who->id, &tok, &id);
	if (rc != OPRA_OK)
		goto done;
	if (unit_id[0]) {
		char uid[32];
		snprintf(uid, sizeof(uid), "%lld", id);
		const char *p[2] = {uid, unit_id};
		if ((rc = db_cmd(c->db,
				 "UPDATE users SET unit_id = $2::bigint WHERE id = $1::bigint", 2,
				 p)) != OPRA_OK)
			goto done;
	}
	after = json_user(r->name, r->role, r->unit, "active");
	char object[96];
	snprintf(object, sizeof(object), "user:%s", r->name);
	if ((rc = call_event(c, object, NULL, after)) != OPRA_OK)
		goto done;
	Opra__V1__UserAddResponse resp = OPRA__V1__USER_ADD_RESPONSE__INIT;
	resp.name = r->name;
	resp.role = r->role;
	resp.unit = r->unit;
	resp.token = tok.text;
	rc = call_reply(c, &resp.base);
done:
	sodium_memzero(&tok, sizeof(tok));
	PQclear(res);
	free(after);
	return rc;
}

static int user_list(call *c, const ProtobufCMessage *in)
{
	PGresult *r = NULL;
	Opra__V1__UserInfo *infos = NULL;
	Opra__V1__UserInfo **ptrs = NULL;
	int rc;

	rc = db_exec(&r, c->db, 1,
		     "SELECT u.name, u.role, u.revoked_at IS NOT NULL, "
		     "to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		     "coalesce(to_char(u.revoked_at AT TIME ZONE 'UTC', "
		     "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), coalesce(un.name, '') "
		     "FROM users u LEFT JOIN units un ON un.id = u.unit_id ORDER BY u.name",
		     0, NULL);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r);
	infos = opra_calloc((size_t)n + 1, sizeof(*infos));
	ptrs = opra_calloc((size_t)n + 1, sizeof(*ptrs));
	if (infos == NULL || ptrs == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		Opra__V1__UserInfo init = OPRA__V1__USER_INFO__INIT;
		infos[i] = init;
		infos[i].name = PQgetvalue(r, i, 0);
		infos[i].role = PQgetvalue(r, i, 1);
		infos[i].revoked = strcmp(PQgetvalue(r, i, 2), "t") == 0;
		infos[i].created_at = PQgetvalue(r, i, 3);
		infos[i].revoked_at = PQgetvalue(r, i, 4);
		infos[i].unit = PQgetvalue(r, i, 5);
		ptrs[i] = &infos[i];
	}
	Opra__V1__UserListResponse resp = OPRA__V1__USER_LIST_RESPONSE__INIT;
	resp.n_users = (size_t)n;
	resp.users = ptrs;
	rc = call_reply(c, &resp.base);
done:
	opra_free(infos);
	opra_free(ptrs);
	PQclear(r);
	return rc;
}

static int user_revoke_validate(const ProtobufCMessage *in)
{
	return auth_user_name_check(((const Opra__V1__UserRevokeRequest *)in)->name);
}

static int user_revoke(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__UserRevokeRequest *req = (const Opra__V1__UserRevokeRequest *)in;
	PGresult *r = NULL;
	char *before = NULL, *after = NULL;
	int rc;

	const char *p[1] = {req->name};
	/* Lock the row so two admins revoking at once see one another. */
	rc = db_exec(&r, c->db, 1,
		     "SELECT role, revoked_at IS NOT NULL FROM users WHERE name = $1 FOR UPDATE", 1,
		     p);
	if (rc != OPRA_OK)
		goto done;
	if (PQntuples(r) == 0) {
		rc = opra_err_set(OPRA_NOT_FOUND, "no user named '%s' (see 'opra user list')",
				  req->name);
		goto done;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
		rc = opra_err_set(OPRA_FAILED_PRECONDITION, "user '%s' is already revoked",
				  req->name);
		goto done;
	}
	int is_admin = strcmp(PQgetvalue(r, 0, 0), "admin") == 0;
	before = json_user(req->name, PQgetvalue(r, 0, 0), NULL, "active");
	after = json_user(req->name, PQgetvalue(r, 0, 0), NULL, "revoked");
	PQclear(r);
	r = NULL;
	if (is_admin) {
		rc = db_exec(&r, c->db, 1,
			     "SELECT count(*) FROM users WHERE role = 'admin' AND revoked_at IS "
			     "NULL",
			     0, NULL);
		if (rc != OPRA_OK)
			goto done;
		if (strcmp(PQgetvalue(r, 0, 0), "1") == 0) {
			rc = opra_err_set(OPRA_FAILED_PRECONDITION,
					  "'%s' is the last active admin; add another admin "
					  "before revoking this one",
					  req->name);
			goto done;
		}
		PQclear(r);
		r = NULL;
	}
	rc = db_exec(&r, c->db, 1,
		     "UPDATE users SET revoked_at = now() WHERE name = $1 RETURNING "
		     "to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
		     1, p);
	if (rc != OPRA_OK)
		goto done;
	char object[96];
	snprintf(object, sizeof(object), "user:%s", req->name);
	if ((rc = call_event(c, object, before, after)) != OPRA_OK)
		goto done;
	Opra__V1__UserRevokeResponse resp = OPRA__V1__USER_REVOKE_RESPONSE__INIT;
	resp.name = req->name;
	resp.revoked_at = PQgetvalue(r, 0, 0);
	rc = call_reply(c, &resp.base);
done:
	free(before);
	free(after);
	PQclear(r);
	return rc;
}

static const method_impl user_methods[] = {
	{"Add", user_add, user_add_validate, ROLE_ADMIN, METHOD_MUTATES | METHOD_SECRET_REPLY,
	 NULL},
	{"List", user_list, NULL, ROLE_ADMIN, 0, NULL},
	{"Revoke", user_revoke, user_revoke_validate, ROLE_ADMIN, METHOD_MUTATES, NULL},
};

const service_impl svc_user = {&opra__v1__user__descriptor, user_methods,
			       sizeof(user_methods) / sizeof(user_methods[0])};
