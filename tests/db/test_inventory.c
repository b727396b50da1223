/* The inventory (units, services, assets, links) through the real server
 * stack: versions and stale updates, the unit cycle check, soft removal,
 * links and the dependency tree, events, hostile names, and the
 * role x unit-scope authorisation matrix. */
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/inventory.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static testserver ts;

#define M(name) "opra.v1.Inventory/" name

static int setup(void **state)
{
	testserver_setup(&ts, "inventory", 4u << 20);
	return 0;
}

static int teardown(void **state)
{
	testserver_teardown(&ts);
	return 0;
}

/* One call; mutating calls get a fresh idempotency key. */
static int inv_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *rd, void *out, int mutates)
{
	return testserver_call(c, method, req, rd, out, mutates ? "" : NULL);
}

/* The text of a one-value query on the test's own connection ("" for NULL);
 * caller frees. */
static char *query_text(const char *sql, const char *param)
{
	PGresult *r = NULL;
	const char *p[1] = {param};
	assert_int_equal(db_exec(&r, ts.db, 1, sql, param ? 1 : 0, param ? p : NULL), OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	char *s = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

static void assert_query(const char *sql, const char *param, const char *want)
{
	char *got = query_text(sql, param);
	if (strcmp(got, want) != 0)
		fail_msg("%s [%s]: got '%s', want '%s'", sql, param ? param : "", got, want);
	free(got);
}

static long count_param(const char *sql, const char *param)
{
	char *s = query_text(sql, param);
	long n = strtol(s, NULL, 10);
	free(s);
	return n;
}

static int unit_add(rpc_client *c, const char *name, const char *parent, const char *site)
{
	Opra__V1__Unit u = OPRA__V1__UNIT__INIT;
	u.name = (char *)name;
	u.parent = (char *)(parent ? parent : "");
	u.site = (char *)(site ? site : "");
	Opra__V1__UnitAddRequest req = OPRA__V1__UNIT_ADD_REQUEST__INIT;
	req.unit = &u;
	Opra__V1__UnitReply *rep = NULL;
	int rc = inv_call(c, M("UnitAdd"), &req.base, &opra__v1__unit_reply__descriptor, &rep, 1);
	if (rc == OPRA_OK) {
		assert_string_equal(rep->unit->name, name);
		assert_string_equal(rep->unit->parent, parent ? parent : "");
		assert_int_equal(rep->unit->version, 1);
	}
	testserver_reply_free(rep);
	return rc;
}

static int service_add(rpc_client *c, const char *name, const char *unit, const char *crit)
{
	Opra__V1__Service s = OPRA__V1__SERVICE__INIT;
	s.name = (char *)name;
	s.unit = (char *)(unit ? unit : "");
	s.mission = "keep the lights on";
	s.criticality = (char *)(crit ? crit : "");
	Opra__V1__ServiceAddRequest req = OPRA__V1__SERVICE_ADD_REQUEST__INIT;
	req.service = &s;
	Opra__V1__ServiceReply *rep = NULL;
	int rc = inv_call(c, M("ServiceAdd"), &req.base, &opra__v1__service_reply__descriptor, &rep,
			  1);
	if (rc == OPRA_OK) {
		assert_string_equal(rep->service->name, name);
		assert_string_equal(rep->service->criticality, crit ? crit : "medium");
		assert_int_equal(rep->service->version, 1);
	}
	testserver_reply_free(rep);
	return rc;
}

static int asset_add_tags(rpc_client *c, const char *name, const char *type, const char *unit,
			  char **tags, size_t n_tags)
{
	Opra__V1__Asset a = OPRA__V1__ASSET__INIT;
	a.name = (char *)name;
	a.type = (char *)type;
	a.unit = (char *)(unit ? unit : "");
	a.owner = "ops team";
	a.tags = tags;
	a.n_tags = n_tags;
	Opra__V1__AssetAddRequest req = OPRA__V1__ASSET_ADD_REQUEST__INIT;
	req.asset = &a;
	Opra__V1__AssetReply *rep = NULL;
	int rc = inv_call(c, M("AssetAdd"), &req.base, &opra__v1__asset_reply__descriptor, &rep, 1);
	if (rc == OPRA_OK) {
		assert_string_equal(rep->asset->name, name);
		assert_string_equal(rep->asset->type, type);
		assert_int_equal(rep->asset->version, 1);
	}
	testserver_reply_free(rep);
	return rc;
}

static int asset_add(rpc_client *c, const char *name, const char *type, const char *unit)
{
	return asset_add_tags(c, name, type, unit, NULL, 0);
}

static int link(rpc_client *c, const char *service, char **assets, size_t n, int create,
		unsigned *changed, unsigned *unchanged)
{
	Opra__V1__LinkRequest req = OPRA__V1__LINK_REQUEST__INIT;
	req.service = (char *)service;
	req.assets = assets;
	req.n_assets = n;
	Opra__V1__LinkReply *rep = NULL;
	int rc = inv_call(c, create ? M("ServiceLink") : M("ServiceUnlink"), &req.base,
			  &opra__v1__link_reply__descriptor, &rep, 1);
	if (rc == OPRA_OK) {
		assert_string_equal(rep->service, service);
		if (changed)
			*changed = rep->changed;
		if (unchanged)
			*unchanged = rep->unchanged;
	}
	testserver_reply_free(rep);
	return rc;
}

static int remove_obj(rpc_client *c, const char *method, const char *name)
{
	Opra__V1__RemoveRequest req = OPRA__V1__REMOVE_REQUEST__INIT;
	req.name = (char *)name;
	Opra__V1__RemoveReply *rep = NULL;
	int rc = inv_call(c, method, &req.base, &opra__v1__remove_reply__descriptor, &rep, 1);
	if (rc == OPRA_OK) {
		assert_string_equal(rep->name, name);
		assert_true(rep->removed_at[0] != '\0');
	}
	testserver_reply_free(rep);
	return rc;
}

static Opra__V1__UnitListReply *unit_list(rpc_client *c, const char *unit, int removed)
{
	Opra__V1__ListRequest req = OPRA__V1__LIST_REQUEST__INIT;
	req.unit = (char *)(unit ? unit : "");
	req.include_removed = removed;
	Opra__V1__UnitListReply *rep = NULL;
	assert_int_equal(inv_call(c, M("UnitList"), &req.base,
				  &opra__v1__unit_list_reply__descriptor, &rep, 0),
			 OPRA_OK);
	return rep;
}

static Opra__V1__AssetListReply *asset_list(rpc_client *c, const char *unit, const char *type,
					    int removed)
{
	Opra__V1__ListRequest req = OPRA__V1__LIST_REQUEST__INIT;
	req.unit = (char *)(unit ? unit : "");
	req.type = (char *)(type ? type : "");
	req.include_removed = removed;
	Opra__V1__AssetListReply *rep = NULL;
	assert_int_equal(inv_call(c, M("AssetList"), &req.base,
				  &opra__v1__asset_list_reply__descriptor, &rep, 0),
			 OPRA_OK);
	return rep;
}

static Opra__V1__ServiceListReply *service_list(rpc_client *c, const char *unit, int removed)
{
	Opra__V1__ListRequest req = OPRA__V1__LIST_REQUEST__INIT;
	req.unit = (char *)(unit ? unit : "");
	req.include_removed = removed;
	Opra__V1__ServiceListReply *rep = NULL;
	assert_int_equal(inv_call(c, M("ServiceList"), &req.base,
				  &opra__v1__service_list_reply__descriptor, &rep, 0),
			 OPRA_OK);
	return rep;
}

static int unit_show(rpc_client *c, const char *name, Opra__V1__UnitReply **out)
{
	Opra__V1__ShowRequest req = OPRA__V1__SHOW_REQUEST__INIT;
	req.name = (char *)name;
	return inv_call(c, M("UnitShow"), &req.base, &opra__v1__unit_reply__descriptor, out, 0);
}

static int tree_show(rpc_client *c, const char *name, int asset, Opra__V1__InventoryShowReply **out)
{
	Opra__V1__InventoryShowRequest req = OPRA__V1__INVENTORY_SHOW_REQUEST__INIT;
	req.name = (char *)name;
	req.asset = asset;
	return inv_call(c, M("Show"), &req.base, &opra__v1__inventory_show_reply__descriptor, out,
			0);
}

static int unit_update(rpc_client *c, const char *name, const char *parent, const char *site,
		       char **fields, size_t n_fields, const char *new_name, int expect,
		       Opra__V1__UnitReply **out)
{
	Opra__V1__Unit u = OPRA__V1__UNIT__INIT;
	u.parent = (char *)(parent ? parent : "");
	u.site = (char *)(site ? site : "");
	Opra__V1__UnitUpdateRequest req = OPRA__V1__UNIT_UPDATE_REQUEST__INIT;
	req.name = (char *)name;
	req.unit = &u;
	req.fields = fields;
	req.n_fields = n_fields;
	req.new_name = (char *)(new_name ? new_name : "");
	req.expect_version = expect;
	return inv_call(c, M("UnitUpdate"), &req.base, &opra__v1__unit_reply__descriptor, out, 1);
}

static int service_update(rpc_client *c, const char *name, const Opra__V1__Service *v,
			  char **fields, size_t n_fields, const char *new_name, int expect,
			  Opra__V1__ServiceReply **out)
{
	Opra__V1__ServiceUpdateRequest req = OPRA__V1__SERVICE_UPDATE_REQUEST__INIT;
	req.name = (char *)name;
	req.service = (Opra__V1__Service *)v;
	req.fields = fields;
	req.n_fields = n_fields;
	req.new_name = (char *)(new_name ? new_name : "");
	req.expect_version = expect;
	return inv_call(c, M("ServiceUpdate"), &req.base, &opra__v1__service_reply__descriptor, out,
			1);
}

static int asset_update(rpc_client *c, const char *name, const Opra__V1__Asset *v, char **fields,
			size_t n_fields, const char *new_name, int expect,
			Opra__V1__AssetReply **out)
{
	Opra__V1__AssetUpdateRequest req = OPRA__V1__ASSET_UPDATE_REQUEST__INIT;
	req.name = (char *)name;
	req.asset = (Opra__V1__Asset *)v;
	req.fields = fields;
	req.n_fields = n_fields;
	req.new_name = (char *)(new_name ? new_name : "");
	req.expect_version = expect;
	return inv_call(c, M("AssetUpdate"), &req.base, &opra__v1__asset_reply__descriptor, out, 1);
}

static int details_current_version(void)
{
	json_error_t e;
	json_t *d = json_loads(opra_err_details(), 0, &e);
	assert_non_null(d);
	json_t *v = json_object_get(d, "current_version");
	assert_true(json_is_integer(v));
	int n = (int)json_integer_value(v);
	json_decref(d);
	return n;
}

static long events_for(const char *object)
{
	return count_param("SELECT count(*) FROM events WHERE object = $1", object);
}

/* ---- units ---- */

static void units_add_list_show_update_remove(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	Opra__V1__UnitReply *u = NULL;

	assert_int_equal(unit_add(c, "HQ", NULL, "Frankfurt"), OPRA_OK);
	assert_int_equal(unit_add(c, "Site A", "HQ", "Berlin"), OPRA_OK);
	assert_int_equal(unit_add(c, "Team 1", "Site A", NULL), OPRA_OK);
	assert_int_equal(unit_add(c, "Other", NULL, NULL), OPRA_OK);
	assert_int_equal(unit_add(c, "HQ", NULL, NULL), OPRA_ALREADY_EXISTS);
	assert_non_null(strstr(opra_err_msg(), "'HQ'"));
	assert_int_equal(unit_add(c, "Orphan", "Nowhere", NULL), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "'Nowhere'"));
	assert_int_equal(unit_add(c, "", NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM units"), 4);

	/* List: sorted by name; with a unit: its subtree. */
	Opra__V1__UnitListReply *l = unit_list(c, NULL, 0);
	assert_int_equal(l->n_units, 4);
	assert_string_equal(l->units[0]->name, "HQ");
	assert_string_equal(l->units[1]->name, "Other");
	assert_string_equal(l->units[2]->name, "Site A");
	assert_string_equal(l->units[2]->parent, "HQ");
	assert_string_equal(l->units[2]->site, "Berlin");
	assert_string_equal(l->units[3]->name, "Team 1");
	testserver_reply_free(l);
	l = unit_list(c, "Site A", 0);
	assert_int_equal(l->n_units, 2);
	assert_string_equal(l->units[0]->name, "Site A");
	assert_string_equal(l->units[1]->name, "Team 1");
	testserver_reply_free(l);
	l = unit_list(c, "HQ", 0);
	assert_int_equal(l->n_units, 3);
	testserver_reply_free(l);

	/* Show lists the active children. */
	assert_int_equal(unit_show(c, "HQ", &u), OPRA_OK);
	assert_string_equal(u->unit->site, "Frankfurt");
	assert_int_equal(u->unit->n_children, 1);
	assert_string_equal(u->unit->children[0], "Site A");
	assert_true(u->unit->created_at[0] != '\0');
	testserver_reply_free(u);
	assert_int_equal(unit_show(c, "Nope", &u), OPRA_NOT_FOUND);

	/* Update: only the listed fields change; version + 1 on a real change. */
	char *site_field[] = {"site"};
	assert_int_equal(
		unit_update(c, "Site A", "ignored-parent", "Potsdam", site_field, 1, NULL, 1, &u),
		OPRA_OK);
	assert_string_equal(u->unit->site, "Potsdam");
	assert_string_equal(u->unit->parent, "HQ"); /* parent not listed: unchanged */
	assert_int_equal(u->unit->version, 2);
	testserver_reply_free(u);
	/* Stale expect_version: ABORTED with the current version in details. */
	assert_int_equal(unit_update(c, "Site A", NULL, "Nauen", site_field, 1, NULL, 1, &u),
			 OPRA_ABORTED);
	assert_int_equal(details_current_version(), 2);
	assert_query("SELECT site FROM units WHERE name = $1", "Site A", "Potsdam");
	/* The same values again: no new version, no event. */
	long ev = events_for("unit:Site A");
	assert_int_equal(unit_update(c, "Site A", NULL, "Potsdam", site_field, 1, NULL, 2, &u),
			 OPRA_OK);
	assert_int_equal(u->unit->version, 2);
	testserver_reply_free(u);
	assert_int_equal(events_for("unit:Site A"), ev);
	/* Unknown field; nothing to update. */
	char *bad_field[] = {"colour"};
	assert_int_equal(unit_update(c, "Site A", NULL, NULL, bad_field, 1, NULL, 0, &u),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "colour"));
	assert_int_equal(unit_update(c, "Site A", NULL, NULL, NULL, 0, NULL, 0, &u),
			 OPRA_INVALID_ARGUMENT);
	/* Move and rename. */
	char *parent_field[] = {"parent"};
	assert_int_equal(unit_update(c, "Team 1", "HQ", NULL, parent_field, 1, "Team One", 0, &u),
			 OPRA_OK);
	assert_string_equal(u->unit->name, "Team One");
	assert_string_equal(u->unit->parent, "HQ");
	assert_int_equal(u->unit->version, 2);
	testserver_reply_free(u);
	assert_int_equal(unit_update(c, "Team One", NULL, NULL, NULL, 0, "Other", 0, &u),
			 OPRA_ALREADY_EXISTS);
	/* Move to the root (parent listed, empty). */
	assert_int_equal(unit_update(c, "Team One", "", NULL, parent_field, 1, NULL, 0, &u),
			 OPRA_OK);
	assert_string_equal(u->unit->parent, "");
	testserver_reply_free(u);

	/* Remove: refused while children hang on it; soft otherwise. */
	assert_int_equal(remove_obj(c, M("UnitRemove"), "HQ"), OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "unit 'Site A'"));
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Team One"), OPRA_OK);
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Team One"), OPRA_NOT_FOUND);
	assert_int_equal(count_param("SELECT count(*) FROM units WHERE name = $1 AND removed_at IS "
				     "NOT NULL",
				     "Team One"),
			 1);
	l = unit_list(c, NULL, 0);
	assert_int_equal(l->n_units, 3);
	testserver_reply_free(l);
	l = unit_list(c, NULL, 1);
	assert_int_equal(l->n_units, 4);
	assert_string_equal(l->units[3]->name, "Team One");
	assert_true(l->units[3]->removed);
	assert_true(l->units[3]->removed_at[0] != '\0');
	testserver_reply_free(l);
	/* The name is free again. */
	assert_int_equal(unit_add(c, "Team One", "Site A", NULL), OPRA_OK);
	rpc_client_close(c);
}

static void unit_cycle_is_refused_and_changes_nothing(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	Opra__V1__UnitReply *u = NULL;
	char *parent_field[] = {"parent"};

	assert_int_equal(unit_add(c, "Cyc A", NULL, NULL), OPRA_OK);
	assert_int_equal(unit_add(c, "Cyc B", "Cyc A", NULL), OPRA_OK);
	assert_int_equal(unit_add(c, "Cyc C", "Cyc B", NULL), OPRA_OK);
	long ev = testserver_count(&ts, "SELECT count(*) FROM events");

	/* A under B (B is under A): refused, naming both. */
	assert_int_equal(unit_update(c, "Cyc A", "Cyc B", NULL, parent_field, 1, NULL, 0, &u),
			 OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "unit 'Cyc A' cannot be placed under 'Cyc B'"));
	assert_non_null(strstr(opra_err_msg(), "subtree"));
	/* Deeper: A under C (C under B under A). */
	assert_int_equal(unit_update(c, "Cyc A", "Cyc C", NULL, parent_field, 1, NULL, 0, &u),
			 OPRA_FAILED_PRECONDITION);
	/* Under itself. */
	assert_int_equal(unit_update(c, "Cyc B", "Cyc B", NULL, parent_field, 1, NULL, 0, &u),
			 OPRA_FAILED_PRECONDITION);
	/* Nothing changed: A is still a root at version 1, no events written. */
	assert_int_equal(unit_show(c, "Cyc A", &u), OPRA_OK);
	assert_string_equal(u->unit->parent, "");
	assert_int_equal(u->unit->version, 1);
	testserver_reply_free(u);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM events"), ev);
	assert_query("SELECT p.name FROM units u JOIN units p ON p.id = u.parent_id "
		     "WHERE u.name = $1",
		     "Cyc B", "Cyc A");
	/* The schema refuses a cycle too, whatever path writes parent_id. */
	assert_int_equal(db_cmd(ts.db,
				"UPDATE units SET parent_id = (SELECT id FROM units WHERE name = "
				"'Cyc C') WHERE name = 'Cyc A'",
				0, NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "subtree"));
	/* A legal move within the tree still works: C under A. */
	assert_int_equal(unit_update(c, "Cyc C", "Cyc A", NULL, parent_field, 1, NULL, 0, &u),
			 OPRA_OK);
	assert_string_equal(u->unit->parent, "Cyc A");
	testserver_reply_free(u);
	rpc_client_close(c);
}

/* ---- services and assets ---- */

static void services_and_assets(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	Opra__V1__ServiceReply *sr = NULL;
	Opra__V1__AssetReply *ar = NULL;

	assert_int_equal(unit_add(c, "Finance", NULL, NULL), OPRA_OK);
	assert_int_equal(unit_add(c, "Treasury", "Finance", NULL), OPRA_OK);

	/* Service add: the unit must exist; criticality must be known. */
	assert_int_equal(service_add(c, "Payroll", "Finance", "high"), OPRA_OK);
	assert_int_equal(service_add(c, "Ledger", "Finance", NULL), OPRA_OK); /* medium */
	assert_int_equal(service_add(c, "Ghost", "No Such Unit", NULL), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "'No Such Unit'"));
	assert_int_equal(service_add(c, "Ghost", "", NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(service_add(c, "Ghost", "Finance", "urgent"), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "high, medium or low"));
	assert_int_equal(service_add(c, "Payroll", "Finance", NULL), OPRA_ALREADY_EXISTS);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM services"), 2);

	/* Asset add: known types only; unit optional; tags. */
	char *tags[] = {"pci", "tier-1", "pci"};
	assert_int_equal(asset_add_tags(c, "DB-01", "technology", "Finance", tags, 3), OPRA_OK);
	assert_int_equal(asset_add(c, "Alice", "people", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "Bad", "software", NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "people, information, technology or facilities"));
	assert_int_equal(asset_add(c, "Bad", "", NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(asset_add(c, "Bad", "people", "No Such Unit"), OPRA_NOT_FOUND);
	char *many[65];
	char tagbuf[65][8];
	for (int i = 0; i < 65; i++) {
		snprintf(tagbuf[i], sizeof(tagbuf[i]), "t%d", i);
		many[i] = tagbuf[i];
	}
	assert_int_equal(asset_add_tags(c, "Bad", "people", NULL, many, 65), OPRA_INVALID_ARGUMENT);
	char long_tag[66];
	memset(long_tag, 'x', 65);
	long_tag[65] = '\0';
	char *long_tags[] = {long_tag};
	assert_int_equal(asset_add_tags(c, "Bad", "people", NULL, long_tags, 1),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM assets WHERE name = 'Bad'"),
			 0);

	/* Show: tags as a list, duplicates dropped. */
	Opra__V1__ShowRequest show = OPRA__V1__SHOW_REQUEST__INIT;
	show.name = "DB-01";
	assert_int_equal(
		inv_call(c, M("AssetShow"), &show.base, &opra__v1__asset_reply__descriptor, &ar, 0),
		OPRA_OK);
	assert_int_equal(ar->asset->n_tags, 2);
	assert_string_equal(ar->asset->tags[0], "pci");
	assert_string_equal(ar->asset->tags[1], "tier-1");
	assert_string_equal(ar->asset->unit, "Finance");
	assert_string_equal(ar->asset->owner, "ops team");
	testserver_reply_free(ar);
	show.name = "Payroll";
	assert_int_equal(inv_call(c, M("ServiceShow"), &show.base,
				  &opra__v1__service_reply__descriptor, &sr, 0),
			 OPRA_OK);
	assert_string_equal(sr->service->unit, "Finance");
	assert_string_equal(sr->service->mission, "keep the lights on");
	testserver_reply_free(sr);

	/* Service update: listed fields only, events carry before/after. */
	Opra__V1__Service sv = OPRA__V1__SERVICE__INIT;
	sv.unit = "Treasury";
	sv.criticality = "low";
	sv.mission = "must not change";
	char *sfields[] = {"criticality", "unit"};
	long ev = events_for("service:Payroll");
	assert_int_equal(service_update(c, "Payroll", &sv, sfields, 2, NULL, 1, &sr), OPRA_OK);
	assert_string_equal(sr->service->criticality, "low");
	assert_string_equal(sr->service->unit, "Treasury");
	assert_string_equal(sr->service->mission, "keep the lights on");
	assert_int_equal(sr->service->version, 2);
	testserver_reply_free(sr);
	assert_int_equal(events_for("service:Payroll"), ev + 1);
	assert_query("SELECT before->>'criticality' || '>' || (after->>'criticality') || ' ' || "
		     "(before->>'unit') || '>' || (after->>'unit') || ' v' || (before->>'version') "
		     "|| '>' || (after->>'version') FROM events WHERE object = $1 "
		     "ORDER BY id DESC LIMIT 1",
		     "service:Payroll", "high>low Finance>Treasury v1>2");
	assert_int_equal(service_update(c, "Payroll", &sv, sfields, 2, NULL, 1, &sr), OPRA_ABORTED);
	assert_int_equal(details_current_version(), 2);
	char *bad[] = {"owner"}; /* an asset field, not a service one */
	assert_int_equal(service_update(c, "Payroll", &sv, bad, 1, NULL, 0, &sr),
			 OPRA_INVALID_ARGUMENT);
	sv.unit = "Nowhere";
	char *ufield[] = {"unit"};
	assert_int_equal(service_update(c, "Payroll", &sv, ufield, 1, NULL, 0, &sr),
			 OPRA_NOT_FOUND);
	sv.criticality = "extreme";
	char *cfield[] = {"criticality"};
	assert_int_equal(service_update(c, "Payroll", &sv, cfield, 1, NULL, 0, &sr),
			 OPRA_INVALID_ARGUMENT);
	/* Rename without fields (and without a service message at all). */
	assert_int_equal(service_update(c, "Ledger", NULL, NULL, 0, "General Ledger", 0, &sr),
			 OPRA_OK);
	assert_string_equal(sr->service->name, "General Ledger");
	assert_int_equal(sr->service->version, 2);
	testserver_reply_free(sr);
	assert_int_equal(service_update(c, "General Ledger", NULL, NULL, 0, "Payroll", 0, &sr),
			 OPRA_ALREADY_EXISTS);

	/* Asset update: tags replaced, unit cleared, type changed. */
	Opra__V1__Asset av = OPRA__V1__ASSET__INIT;
	char *newtags[] = {"gdpr"};
	av.tags = newtags;
	av.n_tags = 1;
	av.unit = "";
	av.type = "information";
	av.owner = "not listed";
	char *afields[] = {"tags", "unit", "type"};
	assert_int_equal(asset_update(c, "DB-01", &av, afields, 3, NULL, 1, &ar), OPRA_OK);
	assert_int_equal(ar->asset->version, 2);
	assert_int_equal(ar->asset->n_tags, 1);
	assert_string_equal(ar->asset->tags[0], "gdpr");
	assert_string_equal(ar->asset->unit, "");
	assert_string_equal(ar->asset->type, "information");
	assert_string_equal(ar->asset->owner, "ops team");
	testserver_reply_free(ar);
	assert_query("SELECT (before->'tags')::text || ' ' || (after->'tags')::text FROM events "
		     "WHERE object = $1 ORDER BY id DESC LIMIT 1",
		     "asset:DB-01", "[\"pci\", \"tier-1\"] [\"gdpr\"]");
	av.type = "robots";
	char *tfield[] = {"type"};
	assert_int_equal(asset_update(c, "DB-01", &av, tfield, 1, NULL, 0, &ar),
			 OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "people, information, technology or facilities"));

	/* Lists: by unit, by type. */
	assert_int_equal(asset_add(c, "Vault", "facilities", "Treasury"), OPRA_OK);
	Opra__V1__AssetListReply *al = asset_list(c, NULL, NULL, 0);
	assert_int_equal(al->n_assets, 3);
	assert_string_equal(al->assets[0]->name, "Alice");
	assert_string_equal(al->assets[1]->name, "DB-01");
	assert_string_equal(al->assets[2]->name, "Vault");
	testserver_reply_free(al);
	al = asset_list(c, "Treasury", NULL, 0);
	assert_int_equal(al->n_assets, 1);
	assert_string_equal(al->assets[0]->name, "Vault");
	testserver_reply_free(al);
	al = asset_list(c, NULL, "people", 0);
	assert_int_equal(al->n_assets, 1);
	assert_string_equal(al->assets[0]->name, "Alice");
	testserver_reply_free(al);
	Opra__V1__ListRequest lr = OPRA__V1__LIST_REQUEST__INIT;
	lr.type = "gadgets";
	assert_int_equal(inv_call(c, M("AssetList"), &lr.base,
				  &opra__v1__asset_list_reply__descriptor, NULL, 0),
			 OPRA_INVALID_ARGUMENT);
	lr.type = "people";
	assert_int_equal(inv_call(c, M("ServiceList"), &lr.base,
				  &opra__v1__service_list_reply__descriptor, NULL, 0),
			 OPRA_INVALID_ARGUMENT);
	lr.type = "";
	lr.unit = "No Such Unit";
	assert_int_equal(inv_call(c, M("ServiceList"), &lr.base,
				  &opra__v1__service_list_reply__descriptor, NULL, 0),
			 OPRA_NOT_FOUND);
	Opra__V1__ServiceListReply *sl = service_list(c, "Treasury", 0);
	assert_int_equal(sl->n_services, 1);
	assert_string_equal(sl->services[0]->name, "Payroll");
	testserver_reply_free(sl);
	rpc_client_close(c);
}

/* ---- links and the dependency tree ---- */

static void links_and_dependency_tree(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	Opra__V1__InventoryShowReply *t = NULL;
	unsigned changed = 0, unchanged = 0;

	assert_int_equal(unit_add(c, "Plant", NULL, NULL), OPRA_OK);
	assert_int_equal(service_add(c, "Billing", "Plant", "high"), OPRA_OK);
	assert_int_equal(service_add(c, "Shipping", "Plant", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "srv-b", "technology", "Plant"), OPRA_OK);
	assert_int_equal(asset_add(c, "srv-a", "technology", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "Bob", "people", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "Warehouse", "facilities", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "Customer DB", "information", NULL), OPRA_OK);

	/* A missing asset: NOT_FOUND naming the first one, nothing linked. */
	char *with_missing[] = {"srv-a", "missing-1", "missing-2"};
	long links = testserver_count(&ts, "SELECT count(*) FROM service_assets");
	assert_int_equal(link(c, "Billing", with_missing, 3, 1, NULL, NULL), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "'missing-1'"));
	assert_null(strstr(opra_err_msg(), "missing-2"));
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM service_assets"), links);
	char *one[] = {"srv-a"};
	assert_int_equal(link(c, "No Such Service", one, 1, 1, NULL, NULL), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "'No Such Service'"));
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM service_assets"), links);

	/* Linking is idempotent: counts say what changed. */
	char *first[] = {"srv-b", "srv-a", "Bob", "srv-a"}; /* a duplicate counts once */
	assert_int_equal(link(c, "Billing", first, 4, 1, &changed, &unchanged), OPRA_OK);
	assert_int_equal(changed, 3);
	assert_int_equal(unchanged, 0);
	char *second[] = {"srv-a", "Warehouse", "Customer DB", "Bob"};
	assert_int_equal(link(c, "Billing", second, 4, 1, &changed, &unchanged), OPRA_OK);
	assert_int_equal(changed, 2);
	assert_int_equal(unchanged, 2);
	assert_int_equal(link(c, "Billing", second, 4, 1, &changed, &unchanged), OPRA_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(unchanged, 4);
	char *ship[] = {"srv-a"};
	assert_int_equal(link(c, "Shipping", ship, 1, 1, &changed, &unchanged), OPRA_OK);
	assert_int_equal(changed, 1);
	assert_query("SELECT (after->'assets')::text FROM events WHERE object = $1 "
		     "ORDER BY id LIMIT 1",
		     "link:Billing", "[\"Bob\", \"srv-a\", \"srv-b\"]");
	assert_int_equal(events_for("link:Billing"), 2); /* the no-op link wrote none */

	/* Service -> assets, by type (people, information, technology,
	 * facilities) then name. */
	assert_int_equal(tree_show(c, "Billing", 0, &t), OPRA_OK);
	assert_int_equal(t->n_services, 1);
	Opra__V1__ServiceTree *st = t->services[0];
	assert_string_equal(st->service->name, "Billing");
	assert_int_equal(st->service->assets, 5);
	assert_int_equal(st->n_assets, 5);
	const char *order[] = {"Bob", "Customer DB", "srv-a", "srv-b", "Warehouse"};
	for (int i = 0; i < 5; i++)
		assert_string_equal(st->assets[i]->name, order[i]);
	assert_int_equal(st->assets[2]->services, 2); /* srv-a supports Billing and Shipping */
	testserver_reply_free(t);

	/* Asset -> dependent services ("what breaks if this fails"). */
	assert_int_equal(tree_show(c, "srv-a", 1, &t), OPRA_OK);
	assert_int_equal(t->n_services, 0);
	assert_non_null(t->asset);
	assert_string_equal(t->asset->asset->name, "srv-a");
	assert_int_equal(t->asset->n_services, 2);
	assert_string_equal(t->asset->services[0]->name, "Billing");
	assert_string_equal(t->asset->services[1]->name, "Shipping");
	testserver_reply_free(t);
	assert_int_equal(tree_show(c, "Billing", 1, &t), OPRA_NOT_FOUND); /* not an asset */
	assert_int_equal(tree_show(c, "", 1, &t), OPRA_INVALID_ARGUMENT);

	/* Everything: every active service with its assets. */
	assert_int_equal(tree_show(c, "", 0, &t), OPRA_OK);
	size_t billing = t->n_services, shipping = t->n_services;
	for (size_t i = 0; i < t->n_services; i++) {
		if (strcmp(t->services[i]->service->name, "Billing") == 0)
			billing = i;
		if (strcmp(t->services[i]->service->name, "Shipping") == 0)
			shipping = i;
		if (i > 0)
			assert_true(strcmp(t->services[i - 1]->service->name,
					   t->services[i]->service->name) < 0);
	}
	assert_true(billing < t->n_services && shipping < t->n_services);
	assert_int_equal(t->services[billing]->n_assets, 5);
	assert_int_equal(t->services[shipping]->n_assets, 1);
	assert_string_equal(t->services[shipping]->assets[0]->name, "srv-a");
	testserver_reply_free(t);

	/* Removing an asset keeps its link rows but drops it from every read. */
	assert_int_equal(remove_obj(c, M("AssetRemove"), "srv-a"), OPRA_OK);
	assert_int_equal(count_param("SELECT count(*) FROM service_assets l JOIN assets a ON a.id "
				     "= l.asset_id WHERE a.name = $1",
				     "srv-a"),
			 2);
	assert_int_equal(tree_show(c, "Billing", 0, &t), OPRA_OK);
	assert_int_equal(t->services[0]->n_assets, 4);
	assert_int_equal(t->services[0]->service->assets, 4);
	testserver_reply_free(t);
	assert_int_equal(tree_show(c, "srv-a", 1, &t), OPRA_NOT_FOUND);
	/* A new asset with the reused name starts without links. */
	assert_int_equal(asset_add(c, "srv-a", "technology", NULL), OPRA_OK);
	assert_int_equal(tree_show(c, "srv-a", 1, &t), OPRA_OK);
	assert_int_equal(t->asset->n_services, 0);
	assert_int_equal(t->asset->asset->services, 0);
	testserver_reply_free(t);

	/* Removing a service: gone from the reverse view, links kept. */
	assert_int_equal(remove_obj(c, M("ServiceRemove"), "Shipping"), OPRA_OK);
	assert_int_equal(tree_show(c, "Shipping", 0, &t), OPRA_NOT_FOUND);
	Opra__V1__ServiceListReply *sl = service_list(c, "Plant", 0);
	assert_int_equal(sl->n_services, 1);
	testserver_reply_free(sl);
	sl = service_list(c, "Plant", 1);
	assert_int_equal(sl->n_services, 2);
	assert_true(sl->services[1]->removed);
	testserver_reply_free(sl);
	assert_int_equal(link(c, "Shipping", one, 1, 1, NULL, NULL), OPRA_NOT_FOUND);

	/* Unlink: counts, and unlinking again changes nothing. */
	char *unl[] = {"Bob", "Warehouse", "srv-a"}; /* the new srv-a was never linked */
	assert_int_equal(link(c, "Billing", unl, 3, 0, &changed, &unchanged), OPRA_OK);
	assert_int_equal(changed, 2);
	assert_int_equal(unchanged, 1);
	assert_query("SELECT (before->'assets')::text || coalesce(after::text, '-') FROM events "
		     "WHERE object = $1 ORDER BY id DESC LIMIT 1",
		     "link:Billing", "[\"Bob\", \"Warehouse\"]-");
	assert_int_equal(link(c, "Billing", unl, 3, 0, &changed, &unchanged), OPRA_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(unchanged, 3);
	char *unl_missing[] = {"Customer DB", "missing-1"};
	assert_int_equal(link(c, "Billing", unl_missing, 2, 0, NULL, NULL), OPRA_NOT_FOUND);
	assert_int_equal(tree_show(c, "Billing", 0, &t), OPRA_OK);
	assert_int_equal(t->services[0]->n_assets, 2); /* Customer DB still linked */
	testserver_reply_free(t);

	/* At most 1000 assets per call. */
	char **big = calloc(1001, sizeof(char *));
	for (int i = 0; i < 1001; i++)
		big[i] = "srv-b";
	assert_int_equal(link(c, "Billing", big, 1001, 1, NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "1000"));
	free(big);
	assert_int_equal(link(c, "Billing", NULL, 0, 1, NULL, NULL), OPRA_INVALID_ARGUMENT);
	rpc_client_close(c);
}

/* A service with 1000 assets shows whole and sorted, fast (timing printed;
 * the asserted bound is loose so a sanitizer build passes too). */
static void show_a_thousand_assets(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	Opra__V1__InventoryShowReply *t = NULL;
	unsigned changed = 0;

	assert_int_equal(unit_add(c, "Big", NULL, NULL), OPRA_OK);
	assert_int_equal(service_add(c, "Big Service", "Big", NULL), OPRA_OK);
	assert_int_equal(db_cmd(ts.db,
				"INSERT INTO assets (name, type, tags) SELECT 'bulk-' || "
				"lpad(g::text, 4, '0'), (ARRAY['people', 'information', "
				"'technology', 'facilities'])[g % 4 + 1], '[\"bulk\"]' "
				"FROM generate_series(1, 1000) g",
				0, NULL),
			 OPRA_OK);
	char **names = calloc(1000, sizeof(char *));
	char(*buf)[16] = calloc(1000, 16);
	for (int i = 0; i < 1000; i++) {
		snprintf(buf[i], 16, "bulk-%04d", i + 1);
		names[i] = buf[i];
	}
	assert_int_equal(link(c, "Big Service", names, 1000, 1, &changed, NULL), OPRA_OK);
	assert_int_equal(changed, 1000);
	struct timespec a, b;
	double best = 1e9;
	for (int round = 0; round < 5; round++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(tree_show(c, "Big Service", 0, &t), OPRA_OK);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms =
			(double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (ms < best)
			best = ms;
		assert_int_equal(t->services[0]->n_assets, 1000);
		assert_string_equal(t->services[0]->assets[0]->type, "people");
		assert_string_equal(t->services[0]->assets[999]->type, "facilities");
		for (size_t i = 1; i < 1000; i++) {
			Opra__V1__Asset *x = t->services[0]->assets[i - 1];
			Opra__V1__Asset *y = t->services[0]->assets[i];
			if (strcmp(x->type, y->type) == 0)
				assert_true(strcmp(x->name, y->name) < 0);
		}
		assert_string_equal(t->services[0]->assets[0]->tags[0], "bulk");
		testserver_reply_free(t);
	}
	printf("# inventory show of a service with 1000 assets: best of 5 %.1f ms\n", best);
	assert_true(best < 1000.0);
	free(names);
	free(buf);
	rpc_client_close(c);
}

/* ---- removal rules ---- */

static void unit_removal_rules(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	assert_int_equal(unit_add(c, "Region", NULL, NULL), OPRA_OK);
	assert_int_equal(unit_add(c, "Region Sub", "Region", NULL), OPRA_OK);
	assert_int_equal(service_add(c, "Region Svc", "Region", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "Region Asset", "facilities", "Region"), OPRA_OK);
	for (int i = 0; i < 12; i++) {
		char n[32];
		snprintf(n, sizeof(n), "Region Kid %02d", i);
		assert_int_equal(unit_add(c, n, "Region", NULL), OPRA_OK);
	}
	long ev = testserver_count(&ts, "SELECT count(*) FROM events");
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Region"), OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "15 active objects"));
	assert_non_null(strstr(opra_err_msg(), "unit 'Region Kid 00'"));
	assert_non_null(strstr(opra_err_msg(), "and 5 more"));
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM events"), ev);
	for (int i = 0; i < 12; i++) {
		char n[32];
		snprintf(n, sizeof(n), "Region Kid %02d", i);
		assert_int_equal(remove_obj(c, M("UnitRemove"), n), OPRA_OK);
	}
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Region"), OPRA_FAILED_PRECONDITION);
	assert_string_equal(
		opra_err_msg(),
		"unit 'Region' still holds 3 active objects: unit 'Region Sub', service "
		"'Region Svc', asset 'Region Asset'; move or remove them first (revoke "
		"users scoped to it)");
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Region Sub"), OPRA_OK);
	assert_int_equal(remove_obj(c, M("ServiceRemove"), "Region Svc"), OPRA_OK);
	assert_int_equal(remove_obj(c, M("AssetRemove"), "Region Asset"), OPRA_OK);
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Region"), OPRA_OK);
	/* Removal events: before active, after removed, version bumped. */
	assert_query("SELECT (before->>'removed') || '>' || (after->>'removed') || ' ' || "
		     "(after->>'version') || ' ' || (after ? 'removed_at')::text FROM events "
		     "WHERE object = $1 ORDER BY id DESC LIMIT 1",
		     "unit:Region", "false>true 2 true");
	assert_int_equal(events_for("service:Region Svc"), 2); /* add, remove */
	/* Soft: the rows stay. */
	assert_int_equal(count_param("SELECT count(*) FROM units WHERE name LIKE $1 AND removed_at "
				     "IS NOT NULL",
				     "Region%"),
			 14);
	rpc_client_close(c);
}

/* ---- hostile names ---- */

static void utf8_and_metacharacter_names_round_trip(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	const char *names[] = {
		"Zürich — 東京 ✓ Ωmega",
		"x'; DROP TABLE units; --",
		"$(rm -rf /) `id` \"quoted\" \\back\\slash %s%n%x {}[],:",
		"<script>alert(1)</script> & | ; > < * ? ~ #",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char sname[160], aname[160];
		snprintf(sname, sizeof(sname), "svc %s", names[i]);
		snprintf(aname, sizeof(aname), "asset %s", names[i]);
		assert_int_equal(unit_add(c, names[i], NULL, names[i]), OPRA_OK);
		assert_int_equal(service_add(c, sname, names[i], NULL), OPRA_OK);
		char *tags[] = {(char *)names[i]};
		assert_int_equal(asset_add_tags(c, aname, "information", names[i], tags, 1),
				 OPRA_OK);
		char *al[] = {aname};
		assert_int_equal(link(c, sname, al, 1, 1, NULL, NULL), OPRA_OK);

		Opra__V1__UnitReply *u = NULL;
		assert_int_equal(unit_show(c, names[i], &u), OPRA_OK);
		assert_string_equal(u->unit->name, names[i]);
		assert_string_equal(u->unit->site, names[i]);
		testserver_reply_free(u);
		Opra__V1__InventoryShowReply *t = NULL;
		assert_int_equal(tree_show(c, sname, 0, &t), OPRA_OK);
		assert_string_equal(t->services[0]->service->unit, names[i]);
		assert_string_equal(t->services[0]->assets[0]->name, aname);
		assert_string_equal(t->services[0]->assets[0]->tags[0], names[i]);
		testserver_reply_free(t);
		Opra__V1__AssetListReply *l = asset_list(c, names[i], NULL, 0);
		assert_int_equal(l->n_assets, 1);
		assert_string_equal(l->assets[0]->name, aname);
		testserver_reply_free(l);
		/* Events keep the exact bytes. */
		char obj[200];
		snprintf(obj, sizeof(obj), "unit:%s", names[i]);
		assert_query("SELECT after->>'name' FROM events WHERE object = $1", obj, names[i]);
	}
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM pg_tables WHERE tablename = "
					       "'units'"),
			 1);
	/* Bad names are refused before anything runs. */
	assert_int_equal(unit_add(c, "bad \xff\xfe utf8", NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "UTF-8"));
	assert_int_equal(unit_add(c, " leading space", NULL, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(unit_add(c, "line\nbreak", NULL, NULL), OPRA_INVALID_ARGUMENT);
	char longname[130];
	memset(longname, 'n', 129);
	longname[129] = '\0';
	assert_int_equal(unit_add(c, longname, NULL, NULL), OPRA_INVALID_ARGUMENT);
	longname[128] = '\0';
	assert_int_equal(unit_add(c, longname, NULL, NULL), OPRA_OK);
	rpc_client_close(c);
}

/* ---- authorisation ---- */

static int user_add(rpc_client *c, const char *name, const char *role, const char *unit,
		    char *token_out)
{
	Opra__V1__UserAddRequest req = OPRA__V1__USER_ADD_REQUEST__INIT;
	req.name = (char *)name;
	req.role = (char *)role;
	req.unit = (char *)(unit ? unit : "");
	Opra__V1__UserAddResponse *r = NULL;
	int rc = inv_call(c, "opra.v1.User/Add", &req.base,
			  &opra__v1__user_add_response__descriptor, &r, 1);
	if (rc == OPRA_OK) {
		assert_string_equal(r->unit, unit ? unit : "");
		snprintf(token_out, TOKEN_TEXT_LEN + 1, "%s", r->token);
	}
	testserver_reply_free(r);
	return rc;
}

static void authorisation_matrix(void **state)
{
	rpc_client *admin = testserver_client(&ts, ts.admin.text);
	char t_po[TOKEN_TEXT_LEN + 1], t_scoped[TOKEN_TEXT_LEN + 1], t_free[TOKEN_TEXT_LEN + 1],
		t_auto[TOKEN_TEXT_LEN + 1], t_x[TOKEN_TEXT_LEN + 1];

	assert_int_equal(unit_add(admin, "Corp", NULL, NULL), OPRA_OK);
	assert_int_equal(unit_add(admin, "Ops", "Corp", NULL), OPRA_OK);
	assert_int_equal(unit_add(admin, "Ops East", "Ops", NULL), OPRA_OK);
	assert_int_equal(unit_add(admin, "Sales", "Corp", NULL), OPRA_OK);
	assert_int_equal(service_add(admin, "Sales CRM", "Sales", NULL), OPRA_OK);
	assert_int_equal(asset_add(admin, "Sales Laptop", "technology", "Sales"), OPRA_OK);
	assert_int_equal(asset_add(admin, "Shared Doc", "information", NULL), OPRA_OK);

	/* User/Add with a unit: only for role user, and the unit must exist. */
	assert_int_equal(user_add(admin, "po", "program-office", NULL, t_po), OPRA_OK);
	assert_int_equal(user_add(admin, "ops-user", "user", "Ops", t_scoped), OPRA_OK);
	assert_int_equal(user_add(admin, "free-user", "user", NULL, t_free), OPRA_OK);
	assert_int_equal(user_add(admin, "bot", "automation", NULL, t_auto), OPRA_OK);
	assert_int_equal(user_add(admin, "lost-user", "user", "No Such Unit", t_x), OPRA_NOT_FOUND);
	assert_non_null(strstr(opra_err_msg(), "'No Such Unit'"));
	assert_int_equal(user_add(admin, "scoped-admin", "admin", "Ops", t_x),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(user_add(admin, "scoped-po", "program-office", "Ops", t_x),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(testserver_count(&ts,
					  "SELECT count(*) FROM users WHERE name IN ('lost-user', "
					  "'scoped-admin', 'scoped-po')"),
			 0);
	Opra__V1__UserListRequest ul = OPRA__V1__USER_LIST_REQUEST__INIT;
	Opra__V1__UserListResponse *users = NULL;
	assert_int_equal(inv_call(admin, "opra.v1.User/List", &ul.base,
				  &opra__v1__user_list_response__descriptor, &users, 0),
			 OPRA_OK);
	int seen = 0;
	for (size_t i = 0; i < users->n_users; i++) {
		if (strcmp(users->users[i]->name, "ops-user") == 0) {
			assert_string_equal(users->users[i]->unit, "Ops");
			seen++;
		}
		if (strcmp(users->users[i]->name, "po") == 0)
			assert_string_equal(users->users[i]->unit, "");
	}
	assert_int_equal(seen, 1);
	testserver_reply_free(users);
	assert_query("SELECT after->>'unit' FROM events WHERE object = $1", "user:ops-user", "Ops");

	rpc_client *po = testserver_client(&ts, t_po);
	rpc_client *scoped = testserver_client(&ts, t_scoped);
	rpc_client *unscoped = testserver_client(&ts, t_free);
	rpc_client *bot = testserver_client(&ts, t_auto);
	char *parent_field[] = {"parent"}, *unit_field[] = {"unit"}, *site_field[] = {"site"};
	Opra__V1__UnitReply *ur = NULL;
	Opra__V1__ServiceReply *sr = NULL;
	Opra__V1__AssetReply *ar = NULL;

	/* program-office writes anywhere, roots included. */
	assert_int_equal(unit_add(po, "PO Root", NULL, NULL), OPRA_OK);
	assert_int_equal(service_add(po, "PO Svc", "Sales", NULL), OPRA_OK);
	assert_int_equal(asset_add(po, "PO Asset", "people", NULL), OPRA_OK);
	char *po_assets[] = {"PO Asset", "Sales Laptop"};
	assert_int_equal(link(po, "Sales CRM", po_assets, 2, 1, NULL, NULL), OPRA_OK);
	assert_int_equal(remove_obj(po, M("AssetRemove"), "PO Asset"), OPRA_OK);

	/* The scoped user: inside Ops' subtree yes ... */
	long ev = testserver_count(&ts, "SELECT count(*) FROM events");
	assert_int_equal(unit_add(scoped, "Ops West", "Ops", NULL), OPRA_OK);
	assert_int_equal(unit_add(scoped, "Ops East 2", "Ops East", NULL), OPRA_OK);
	assert_int_equal(service_add(scoped, "Ops Svc", "Ops East", NULL), OPRA_OK);
	assert_int_equal(asset_add(scoped, "Ops Box", "technology", "Ops West"), OPRA_OK);
	char *ops_assets[] = {"Ops Box", "Shared Doc"}; /* linking reads any asset */
	assert_int_equal(link(scoped, "Ops Svc", ops_assets, 2, 1, NULL, NULL), OPRA_OK);
	assert_int_equal(unit_update(scoped, "Ops", NULL, "Site 9", site_field, 1, NULL, 0, &ur),
			 OPRA_OK);
	testserver_reply_free(ur);
	assert_int_equal(
		unit_update(scoped, "Ops East 2", "Ops West", NULL, parent_field, 1, NULL, 0, &ur),
		OPRA_OK);
	testserver_reply_free(ur);
	Opra__V1__Service sv = OPRA__V1__SERVICE__INIT;
	sv.unit = "Ops West";
	assert_int_equal(service_update(scoped, "Ops Svc", &sv, unit_field, 1, NULL, 0, &sr),
			 OPRA_OK);
	testserver_reply_free(sr);
	assert_int_equal(remove_obj(scoped, M("UnitRemove"), "Ops East 2"), OPRA_OK);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM events"), ev + 9);

	/* ... outside it, or at the root, no: PERMISSION_DENIED naming the
	 * units, and nothing changes. */
	long units = testserver_count(&ts, "SELECT count(*) FROM units");
	assert_int_equal(unit_add(scoped, "Rogue Root", NULL, NULL), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "unit 'Ops'"));
	assert_non_null(strstr(opra_err_msg(), "root"));
	assert_int_equal(unit_add(scoped, "Rogue", "Sales", NULL), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "'Sales'"));
	assert_int_equal(unit_add(scoped, "Rogue", "Corp", NULL), OPRA_PERMISSION_DENIED);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM units"), units);
	assert_int_equal(service_add(scoped, "Rogue Svc", "Sales", NULL), OPRA_PERMISSION_DENIED);
	assert_int_equal(asset_add(scoped, "Rogue Asset", "people", NULL), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "no unit"));
	assert_int_equal(asset_add(scoped, "Rogue Asset", "people", "Sales"),
			 OPRA_PERMISSION_DENIED);
	sv.unit = "Sales";
	assert_int_equal(service_update(scoped, "Ops Svc", &sv, unit_field, 1, NULL, 0, &sr),
			 OPRA_PERMISSION_DENIED); /* new unit outside */
	assert_int_equal(service_update(scoped, "Sales CRM", NULL, NULL, 0, "Mine", 0, &sr),
			 OPRA_PERMISSION_DENIED); /* old unit outside */
	assert_int_equal(
		unit_update(scoped, "Ops West", "Sales", NULL, parent_field, 1, NULL, 0, &ur),
		OPRA_PERMISSION_DENIED);
	assert_int_equal(unit_update(scoped, "Ops West", "", NULL, parent_field, 1, NULL, 0, &ur),
			 OPRA_PERMISSION_DENIED);
	assert_int_equal(unit_update(scoped, "Ops", "", NULL, parent_field, 1, NULL, 0, &ur),
			 OPRA_PERMISSION_DENIED); /* moving its own unit out of Corp */
	assert_int_equal(unit_update(scoped, "Sales", NULL, "x", site_field, 1, NULL, 0, &ur),
			 OPRA_PERMISSION_DENIED);
	Opra__V1__Asset av = OPRA__V1__ASSET__INIT;
	av.unit = "";
	assert_int_equal(asset_update(scoped, "Ops Box", &av, unit_field, 1, NULL, 0, &ar),
			 OPRA_PERMISSION_DENIED);
	assert_int_equal(asset_update(scoped, "Shared Doc", NULL, NULL, 0, "Mine", 0, &ar),
			 OPRA_PERMISSION_DENIED);
	char *sales_assets[] = {"Sales Laptop"};
	assert_int_equal(link(scoped, "Sales CRM", sales_assets, 1, 0, NULL, NULL),
			 OPRA_PERMISSION_DENIED);
	assert_int_equal(remove_obj(scoped, M("ServiceRemove"), "Sales CRM"),
			 OPRA_PERMISSION_DENIED);
	assert_int_equal(remove_obj(scoped, M("UnitRemove"), "Sales"), OPRA_PERMISSION_DENIED);
	assert_int_equal(remove_obj(scoped, M("AssetRemove"), "Shared Doc"),
			 OPRA_PERMISSION_DENIED);
	/* Its own scope unit cannot go while it is scoped to it. */
	assert_int_equal(remove_obj(admin, M("UnitRemove"), "Ops East"), OPRA_OK);
	assert_int_equal(remove_obj(admin, M("ServiceRemove"), "Ops Svc"), OPRA_OK);
	assert_int_equal(remove_obj(admin, M("AssetRemove"), "Ops Box"), OPRA_OK);
	assert_int_equal(remove_obj(admin, M("UnitRemove"), "Ops West"), OPRA_OK);
	assert_int_equal(remove_obj(admin, M("UnitRemove"), "Ops"), OPRA_FAILED_PRECONDITION);
	assert_non_null(strstr(opra_err_msg(), "user 'ops-user'"));

	/* An unscoped user and automation cannot write at all. */
	assert_int_equal(unit_add(unscoped, "Nope", "Ops", NULL), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "not scoped"));
	assert_int_equal(asset_add(unscoped, "Nope", "people", NULL), OPRA_PERMISSION_DENIED);
	assert_int_equal(unit_add(bot, "Nope", NULL, NULL), OPRA_PERMISSION_DENIED);
	assert_non_null(strstr(opra_err_msg(), "automation"));
	assert_int_equal(asset_add(bot, "Nope", "people", NULL), OPRA_PERMISSION_DENIED);
	assert_int_equal(link(bot, "Sales CRM", sales_assets, 1, 1, NULL, NULL),
			 OPRA_PERMISSION_DENIED);
	assert_int_equal(remove_obj(bot, M("AssetRemove"), "Shared Doc"), OPRA_PERMISSION_DENIED);
	assert_int_equal(
		testserver_count(&ts, "SELECT count(*) FROM units WHERE name = 'Nope'") +
			testserver_count(&ts, "SELECT count(*) FROM assets WHERE name = 'Nope'"),
		0);

	/* Everyone reads everything. */
	rpc_client *all[] = {admin, po, scoped, unscoped, bot};
	for (size_t i = 0; i < 5; i++) {
		Opra__V1__UnitListReply *l = unit_list(all[i], "Corp", 0);
		assert_true(l->n_units >= 3);
		testserver_reply_free(l);
		Opra__V1__InventoryShowReply *t = NULL;
		assert_int_equal(tree_show(all[i], "Sales CRM", 0, &t), OPRA_OK);
		assert_int_equal(t->services[0]->n_assets, 1); /* PO Asset was removed */
		testserver_reply_free(t);
		Opra__V1__ServiceListReply *sl = service_list(all[i], "Sales", 0);
		assert_int_equal(sl->n_services, 2);
		testserver_reply_free(sl);
	}
	for (size_t i = 0; i < 5; i++)
		rpc_client_close(all[i]);
}

/* Every change writes exactly one event, with who and what. */
static void events_record_every_change(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	long before = testserver_count(&ts, "SELECT count(*) FROM events");
	char *site_field[] = {"site"};
	Opra__V1__UnitReply *ur = NULL;
	assert_int_equal(unit_add(c, "Ev Unit", NULL, NULL), OPRA_OK);
	assert_int_equal(service_add(c, "Ev Svc", "Ev Unit", NULL), OPRA_OK);
	assert_int_equal(asset_add(c, "Ev Asset", "people", "Ev Unit"), OPRA_OK);
	char *a[] = {"Ev Asset"};
	assert_int_equal(link(c, "Ev Svc", a, 1, 1, NULL, NULL), OPRA_OK);
	assert_int_equal(unit_update(c, "Ev Unit", NULL, "S1", site_field, 1, NULL, 0, &ur),
			 OPRA_OK);
	testserver_reply_free(ur);
	assert_int_equal(link(c, "Ev Svc", a, 1, 0, NULL, NULL), OPRA_OK);
	assert_int_equal(remove_obj(c, M("AssetRemove"), "Ev Asset"), OPRA_OK);
	assert_int_equal(remove_obj(c, M("ServiceRemove"), "Ev Svc"), OPRA_OK);
	assert_int_equal(remove_obj(c, M("UnitRemove"), "Ev Unit"), OPRA_OK);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM events"), before + 9);
	/* A retried request (same idempotency key) changes nothing and writes
	 * no second event. */
	Opra__V1__Unit u = OPRA__V1__UNIT__INIT;
	u.name = "Ev Retry";
	Opra__V1__UnitAddRequest req = OPRA__V1__UNIT_ADD_REQUEST__INIT;
	req.unit = &u;
	for (int i = 0; i < 2; i++) {
		ProtobufCMessage *resp = NULL;
		assert_int_equal(rpc_call(c, M("UnitAdd"), &req.base,
					  &opra__v1__unit_reply__descriptor, &resp, "ev-retry-key"),
				 OPRA_OK);
		assert_string_equal(((Opra__V1__UnitReply *)resp)->unit->name, "Ev Retry");
		testserver_reply_free(resp);
	}
	assert_int_equal(events_for("unit:Ev Retry"), 1);
	assert_int_equal(
		testserver_count(&ts, "SELECT count(*) FROM units WHERE name = 'Ev Retry'"), 1);
	assert_int_equal(events_for("unit:Ev Unit"), 3);
	assert_int_equal(events_for("service:Ev Svc"), 2);
	assert_int_equal(events_for("asset:Ev Asset"), 2);
	assert_int_equal(events_for("link:Ev Svc"), 2);
	assert_query(
		"SELECT actor || ' ' || method || ' ' || site || ' ' || (before IS NULL)::text "
		"FROM events WHERE object = $1 ORDER BY id LIMIT 1",
		"unit:Ev Unit", "root opra.v1.Inventory/UnitAdd test-site true");
	assert_query("SELECT (before->>'site') || '>' || (after->>'site') FROM events "
		     "WHERE object = $1 AND method LIKE '%UnitUpdate'",
		     "unit:Ev Unit", ">S1");
	rpc_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(units_add_list_show_update_remove),
		cmocka_unit_test(unit_cycle_is_refused_and_changes_nothing),
		cmocka_unit_test(services_and_assets),
		cmocka_unit_test(links_and_dependency_tree),
		cmocka_unit_test(show_a_thousand_assets),
		cmocka_unit_test(unit_removal_rules),
		cmocka_unit_test(utf8_and_metacharacter_names_round_trip),
		cmocka_unit_test(authorisation_matrix),
		cmocka_unit_test(events_record_every_change),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
