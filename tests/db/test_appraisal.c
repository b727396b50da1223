/* Appraisals through the real server stack: create, list, show, scope,
 * members, targets and finalisation; every kind of bad input; who sees
 * what; the role x method matrix; the per-appraisal hash chain; a sealed
 * appraisal refusing every change; the inventory's removal rule and the
 * model-replace rule that depend on appraisals. */
#include "model.h"
#include "model_pb.h"
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/appraisal.pb-c.h"
#include "opra/v1/inventory.pb-c.h"
#include "opra/v1/model.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static testserver ts;

#define M(name) "opra.v1.Appraisal/" name

/* Two small models that share the process area code MA. */
#define MODEL_YAML(id, pa, paname)                                                                 \
	"opra_model: 1\n"                                                                          \
	"id: " id "\n"                                                                             \
	"name: Model " id "\n"                                                                     \
	"version: \"1.0\"\n"                                                                       \
	"process_areas:\n"                                                                         \
	"  - id: " pa "\n"                                                                         \
	"    name: " paname "\n"                                                                   \
	"    category: engineering\n"                                                              \
	"    specific_goals:\n"                                                                    \
	"      - id: SG1\n"                                                                        \
	"        title: Goal one\n"                                                                \
	"        practices:\n"                                                                     \
	"          - id: SP1\n"                                                                    \
	"            title: Practice one\n"                                                        \
	"  - id: MA\n"                                                                             \
	"    name: Measurement of " id "\n"                                                        \
	"    category: process-management\n"                                                       \
	"    specific_goals:\n"                                                                    \
	"      - id: SG1\n"                                                                        \
	"        title: Measure\n"                                                                 \
	"        practices:\n"                                                                     \
	"          - id: SP1\n"                                                                    \
	"            title: Measure it\n"

static const char model_a[] = MODEL_YAML("demo-a", "AAA", "First Area");
static const char model_b[] = MODEL_YAML("demo-b", "BBB", "Second Area");

/* Users: tokens filled by setup. */
enum { U_ADMIN, U_PO, U_ALICE, U_BOB, U_CAROL, U_DAVE, U_BOT, U_EVE, N_USERS };
static const char *const user_names[N_USERS] = {"root",	 "po",	 "alice", "bob",
						"carol", "dave", "bot",	  "eve"};
static const char *const user_roles[N_USERS] = {"admin", "program-office", "user",	 "user",
						"user",	 "user",	   "automation", "user"};
static char *tokens[N_USERS];
static rpc_client *cl[N_USERS];

/* One call; mutating calls get a fresh idempotency key. */
static int acall(rpc_client *c, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *rd, void *out, int mutates)
{
	return testserver_call(c, method, req, rd, out, mutates ? "" : NULL);
}

static void assert_msg_has(const char *needle)
{
	if (strstr(opra_err_msg(), needle) == NULL)
		fail_msg("error message '%s' lacks '%s'", opra_err_msg(), needle);
}

static long count_q(const char *sql, const char *param)
{
	PGresult *r = NULL;
	const char *p[1] = {param};
	assert_int_equal(db_exec(&r, ts.db, 1, sql, param ? 1 : 0, param ? p : NULL), OPRA_OK);
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return n;
}

static char *text_q(const char *sql, const char *param)
{
	PGresult *r = NULL;
	const char *p[1] = {param};
	assert_int_equal(db_exec(&r, ts.db, 1, sql, param ? 1 : 0, param ? p : NULL), OPRA_OK);
	assert_int_equal(PQntuples(r), 1);
	char *s = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

static long events_of(const char *appraisal)
{
	return count_q("SELECT count(*) FROM events e JOIN appraisals a ON a.id = e.appraisal_id "
		       "WHERE a.name = $1",
		       appraisal);
}

static void import_model(rpc_client *c, const char *yaml, int replace, int want)
{
	model *m = NULL;
	if (model_parse(&m, "inline.yaml", yaml, strlen(yaml), "opra") != OPRA_OK)
		fail_msg("test model does not parse: %s", opra_err_msg());
	Opra__V1__ModelDoc *doc = NULL;
	assert_int_equal(model_to_pb(&doc, m), OPRA_OK);
	Opra__V1__ModelImportRequest req = OPRA__V1__MODEL_IMPORT_REQUEST__INIT;
	req.model = doc;
	req.replace = replace;
	int rc = acall(c, "opra.v1.Model/Import", &req.base,
		       &opra__v1__model_import_response__descriptor, NULL, 1);
	if (rc != want)
		fail_msg("model import: got %s (%s), want %s", opra_status_name(rc), opra_err_msg(),
			 opra_status_name(want));
	model_pb_free(doc);
	model_free(m);
}

static void inv_add(rpc_client *c, const char *kind, const char *name)
{
	int rc;
	if (strcmp(kind, "unit") == 0) {
		Opra__V1__Unit u = OPRA__V1__UNIT__INIT;
		u.name = (char *)name;
		Opra__V1__UnitAddRequest req = OPRA__V1__UNIT_ADD_REQUEST__INIT;
		req.unit = &u;
		rc = acall(c, "opra.v1.Inventory/UnitAdd", &req.base,
			   &opra__v1__unit_reply__descriptor, NULL, 1);
	} else if (strcmp(kind, "service") == 0) {
		Opra__V1__Service s = OPRA__V1__SERVICE__INIT;
		s.name = (char *)name;
		s.unit = "hq";
		Opra__V1__ServiceAddRequest req = OPRA__V1__SERVICE_ADD_REQUEST__INIT;
		req.service = &s;
		rc = acall(c, "opra.v1.Inventory/ServiceAdd", &req.base,
			   &opra__v1__service_reply__descriptor, NULL, 1);
	} else {
		Opra__V1__Asset a = OPRA__V1__ASSET__INIT;
		a.name = (char *)name;
		a.type = "technology";
		Opra__V1__AssetAddRequest req = OPRA__V1__ASSET_ADD_REQUEST__INIT;
		req.asset = &a;
		rc = acall(c, "opra.v1.Inventory/AssetAdd", &req.base,
			   &opra__v1__asset_reply__descriptor, NULL, 1);
	}
	if (rc != OPRA_OK)
		fail_msg("adding %s %s: %s", kind, name, opra_err_msg());
}

static int inv_remove(rpc_client *c, const char *kind, const char *name)
{
	char method[64];
	snprintf(method, sizeof(method), "opra.v1.Inventory/%s",
		 strcmp(kind, "unit") == 0	? "UnitRemove"
		 : strcmp(kind, "service") == 0 ? "ServiceRemove"
						: "AssetRemove");
	Opra__V1__RemoveRequest req = OPRA__V1__REMOVE_REQUEST__INIT;
	req.name = (char *)name;
	return acall(c, method, &req.base, &opra__v1__remove_reply__descriptor, NULL, 1);
}

static int setup(void **state)
{
	testserver_setup(&ts, "appraisal", 4u << 20);
	tokens[U_ADMIN] = strdup(ts.admin.text);
	cl[U_ADMIN] = testserver_client(&ts, tokens[U_ADMIN]);
	for (int i = 1; i < N_USERS; i++) {
		Opra__V1__UserAddRequest ua = OPRA__V1__USER_ADD_REQUEST__INIT;
		Opra__V1__UserAddResponse *u = NULL;
		ua.name = (char *)user_names[i];
		ua.role = (char *)user_roles[i];
		assert_int_equal(acall(cl[U_ADMIN], "opra.v1.User/Add", &ua.base,
				       &opra__v1__user_add_response__descriptor, &u, 1),
				 OPRA_OK);
		tokens[i] = strdup(u->token);
		testserver_reply_free(u);
		cl[i] = testserver_client(&ts, tokens[i]);
	}
	Opra__V1__UserRevokeRequest rv = OPRA__V1__USER_REVOKE_REQUEST__INIT;
	rv.name = "eve";
	assert_int_equal(acall(cl[U_ADMIN], "opra.v1.User/Revoke", &rv.base,
			       &opra__v1__user_revoke_response__descriptor, NULL, 1),
			 OPRA_OK);
	import_model(cl[U_ADMIN], model_a, 0, OPRA_OK);
	import_model(cl[U_ADMIN], model_b, 0, OPRA_OK);
	inv_add(cl[U_ADMIN], "unit", "hq");
	inv_add(cl[U_ADMIN], "unit", "dup");
	inv_add(cl[U_ADMIN], "service", "dup");
	inv_add(cl[U_ADMIN], "service", "claims");
	inv_add(cl[U_ADMIN], "service", "billing");
	inv_add(cl[U_ADMIN], "service", "payroll");
	inv_add(cl[U_ADMIN], "service", "gone");
	assert_int_equal(inv_remove(cl[U_ADMIN], "service", "gone"), OPRA_OK);
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < N_USERS; i++) {
		rpc_client_close(cl[i]);
		free(tokens[i]);
	}
	testserver_teardown(&ts);
	return 0;
}

/* ---- request helpers ---- */

typedef struct {
	const char *models[4];
	const char *pas[8];
	int all;
	int level; /* -1: default */
	int cover; /* -1: default */
} create_spec;

static int create(rpc_client *c, const char *name, const create_spec *s,
		  Opra__V1__AppraisalReply **out)
{
	Opra__V1__AppraisalCreateRequest req = OPRA__V1__APPRAISAL_CREATE_REQUEST__INIT;
	req.name = (char *)name;
	while (req.n_models < 4 && s->models[req.n_models])
		req.n_models++;
	req.models = (char **)s->models;
	while (req.n_process_areas < 8 && s->pas[req.n_process_areas])
		req.n_process_areas++;
	req.process_areas = (char **)s->pas;
	req.all = s->all;
	req.target_level = s->level;
	req.affirmation_coverage = s->cover;
	return acall(c, M("Create"), &req.base, &opra__v1__appraisal_reply__descriptor, out, 1);
}

static int show(rpc_client *c, const char *name, Opra__V1__AppraisalReply **out)
{
	Opra__V1__AppraisalRef req = OPRA__V1__APPRAISAL_REF__INIT;
	req.appraisal = (char *)name;
	return acall(c, M("Show"), &req.base, &opra__v1__appraisal_reply__descriptor, out, 0);
}

static int finalize(rpc_client *c, const char *name, Opra__V1__AppraisalReply **out)
{
	Opra__V1__AppraisalRef req = OPRA__V1__APPRAISAL_REF__INIT;
	req.appraisal = (char *)name;
	return acall(c, M("Finalize"), &req.base, &opra__v1__appraisal_reply__descriptor, out, 1);
}

static int scope(rpc_client *c, const char *name, const char *svc1, const char *svc2,
		 const char *unit, Opra__V1__AppraisalReply **out)
{
	char *services[2] = {(char *)svc1, (char *)svc2};
	char *units[1] = {(char *)unit};
	Opra__V1__ScopeAddRequest req = OPRA__V1__SCOPE_ADD_REQUEST__INIT;
	req.appraisal = (char *)name;
	req.n_services = svc1 ? (svc2 ? 2 : 1) : 0;
	req.services = services;
	req.n_units = unit ? 1 : 0;
	req.units = units;
	return acall(c, M("ScopeAdd"), &req.base, &opra__v1__appraisal_reply__descriptor, out, 1);
}

static int member(rpc_client *c, const char *name, const char *user, const char *role,
		  Opra__V1__AppraisalReply **out)
{
	Opra__V1__MemberAddRequest req = OPRA__V1__MEMBER_ADD_REQUEST__INIT;
	req.appraisal = (char *)name;
	req.user = (char *)user;
	req.role = (char *)role;
	return acall(c, M("MemberAdd"), &req.base, &opra__v1__appraisal_reply__descriptor, out, 1);
}

static int target(rpc_client *c, const char *name, const char *pa, int level,
		  Opra__V1__AppraisalReply **out)
{
	Opra__V1__TargetRequest req = OPRA__V1__TARGET_REQUEST__INIT;
	req.appraisal = (char *)name;
	req.process_area = (char *)pa;
	req.level = level;
	return acall(c, M("Target"), &req.base, &opra__v1__appraisal_reply__descriptor, out, 1);
}

static Opra__V1__AppraisalListReply *list(rpc_client *c)
{
	Opra__V1__AppraisalListRequest req = OPRA__V1__APPRAISAL_LIST_REQUEST__INIT;
	Opra__V1__AppraisalListReply *out = NULL;
	assert_int_equal(acall(c, M("List"), &req.base, &opra__v1__appraisal_list_reply__descriptor,
			       &out, 0),
			 OPRA_OK);
	return out;
}

/* The listed appraisal named name, or NULL. */
static const Opra__V1__AppraisalInfo *listed(const Opra__V1__AppraisalListReply *l,
					     const char *name)
{
	for (size_t i = 0; i < l->n_appraisals; i++)
		if (strcmp(l->appraisals[i]->name, name) == 0)
			return l->appraisals[i];
	return NULL;
}

static const Opra__V1__AppraisalPa *pa_of(const Opra__V1__AppraisalInfo *a, const char *model_id,
					  const char *id)
{
	for (size_t i = 0; i < a->n_process_areas; i++)
		if (strcmp(a->process_areas[i]->model, model_id) == 0 &&
		    strcmp(a->process_areas[i]->id, id) == 0)
			return a->process_areas[i];
	return NULL;
}

static const char *role_of(const Opra__V1__AppraisalInfo *a, const char *user)
{
	for (size_t i = 0; i < a->n_members; i++)
		if (strcmp(a->members[i]->user, user) == 0)
			return a->members[i]->role;
	return NULL;
}

static const char *kind_of(const Opra__V1__AppraisalInfo *a, const char *instance)
{
	for (size_t i = 0; i < a->n_instances; i++)
		if (strcmp(a->instances[i]->name, instance) == 0)
			return a->instances[i]->kind;
	return NULL;
}

/* The stored chain: seq runs 1..n without gaps, each hash is
 * sha256(previous || event_canonical(e)), and head/events of the
 * appraisal row match the last event. */
static void assert_chain_valid(const char *name)
{
	assert_int_equal(
		count_q("SELECT count(*) FROM (SELECT e.seq, e.hash, sha256(coalesce(lag(e.hash) "
			"OVER (ORDER BY e.seq), decode(repeat('00', 32), 'hex')) || "
			"event_canonical(e)) AS want, row_number() OVER (ORDER BY e.seq) AS rn "
			"FROM events e JOIN appraisals a ON a.id = e.appraisal_id WHERE a.name = "
			"$1) x WHERE x.hash <> x.want OR x.seq <> x.rn",
			name),
		0);
	assert_int_equal(count_q("SELECT count(*) FROM appraisals a WHERE a.name = $1 AND "
				 "a.events = (SELECT count(*) FROM events e WHERE e.appraisal_id = "
				 "a.id) AND a.head = (SELECT e.hash FROM events e WHERE "
				 "e.appraisal_id = a.id ORDER BY e.seq DESC LIMIT 1)",
				 name),
			 1);
}

/* ---- tests ---- */

static void create_show_list(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	create_spec s = {
		{"demo-a", "DEMO-B", NULL}, {"aaa", "demo-b/MA", "BBB", "AAA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "ovig-2026", &s, &rep), OPRA_OK);
	const Opra__V1__AppraisalInfo *a = rep->appraisal;
	assert_string_equal(rep->result, "created");
	assert_string_equal(a->name, "ovig-2026");
	assert_int_equal(a->n_models, 2);
	assert_string_equal(a->models[0], "demo-a");
	assert_string_equal(a->models[1], "demo-b");
	assert_int_equal(a->n_process_areas, 3); /* AAA named twice counts once */
	assert_non_null(pa_of(a, "demo-a", "AAA"));
	assert_non_null(pa_of(a, "demo-b", "MA"));
	assert_non_null(pa_of(a, "demo-b", "BBB"));
	assert_null(pa_of(a, "demo-a", "MA"));
	assert_string_equal(pa_of(a, "demo-a", "AAA")->name, "First Area");
	assert_int_equal(pa_of(a, "demo-b", "BBB")->target_level, 1);
	assert_int_equal(a->target_level, 1);
	assert_int_equal(a->affirmation_coverage, 50);
	assert_int_equal(a->n_members, 1);
	assert_string_equal(role_of(a, "alice"), "lead");
	assert_string_equal(a->my_role, "lead");
	assert_string_equal(a->created_by, "alice");
	assert_false(a->sealed);
	assert_int_equal(a->events, 1);
	assert_int_equal(strlen(a->head), 64);
	assert_int_equal(a->n_instances, 0);
	assert_int_equal(a->evidence, 0);
	char *id = strdup(a->id);
	testserver_reply_free(rep);

	/* The creation event is the chain's first, with the after-image. */
	assert_int_equal(
		count_q("SELECT count(*) FROM events e JOIN appraisals a ON a.id = "
			"e.appraisal_id WHERE a.name = $1 AND e.seq = 1 AND e.object = "
			"'appraisal:ovig-2026' AND e.before IS NULL AND e.after->>'name' = "
			"'ovig-2026' AND jsonb_array_length(e.after->'process_areas') = 3",
			"ovig-2026"),
		1);
	assert_chain_valid("ovig-2026");

	/* Show by id gives the same appraisal. */
	assert_int_equal(show(cl[U_ALICE], id, &rep), OPRA_OK);
	assert_string_equal(rep->appraisal->name, "ovig-2026");
	assert_int_equal(rep->appraisal->n_process_areas, 3);
	testserver_reply_free(rep);
	free(id);

	/* --all with target level and coverage. */
	create_spec all = {{"demo-a", NULL}, {NULL}, 1, 2, 80};
	assert_int_equal(create(cl[U_ALICE], "all-of-a", &all, &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->n_process_areas, 2);
	assert_int_equal(pa_of(rep->appraisal, "demo-a", "MA")->target_level, 2);
	assert_int_equal(rep->appraisal->affirmation_coverage, 80);
	testserver_reply_free(rep);

	/* Level 0 and coverage 0 are values, not "default". */
	create_spec zero = {{"demo-b", NULL}, {"ma", NULL}, 0, 0, 0};
	assert_int_equal(create(cl[U_BOB], "zero-b", &zero, &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->target_level, 0);
	assert_int_equal(rep->appraisal->affirmation_coverage, 0);
	assert_int_equal(pa_of(rep->appraisal, "demo-b", "MA")->target_level, 0);
	testserver_reply_free(rep);

	/* List: alice sees her two, with her role and the models. */
	Opra__V1__AppraisalListReply *l = list(cl[U_ALICE]);
	assert_non_null(listed(l, "ovig-2026"));
	assert_non_null(listed(l, "all-of-a"));
	assert_null(listed(l, "zero-b"));
	assert_string_equal(listed(l, "ovig-2026")->my_role, "lead");
	assert_int_equal(listed(l, "ovig-2026")->n_models, 2);
	assert_string_equal(listed(l, "ovig-2026")->models[1], "demo-b");
	assert_int_equal(listed(l, "ovig-2026")->events, 1);
	testserver_reply_free(l);
}

static void create_retry_is_exactly_once(void **state)
{
	char *models[1] = {"demo-a"};
	Opra__V1__AppraisalCreateRequest req = OPRA__V1__APPRAISAL_CREATE_REQUEST__INIT;
	req.name = "retry-once";
	req.n_models = 1;
	req.models = models;
	req.all = 1;
	req.target_level = -1;
	req.affirmation_coverage = -1;
	Opra__V1__AppraisalReply *a = NULL, *b = NULL;
	assert_int_equal(rpc_call(cl[U_ALICE], M("Create"), &req.base,
				  &opra__v1__appraisal_reply__descriptor, (ProtobufCMessage **)&a,
				  "same-key-1"),
			 OPRA_OK);
	assert_int_equal(rpc_call(cl[U_ALICE], M("Create"), &req.base,
				  &opra__v1__appraisal_reply__descriptor, (ProtobufCMessage **)&b,
				  "same-key-1"),
			 OPRA_OK);
	assert_string_equal(a->appraisal->id, b->appraisal->id);
	assert_int_equal(count_q("SELECT count(*) FROM appraisals WHERE name = $1", "retry-once"),
			 1);
	assert_int_equal(events_of("retry-once"), 1);
	testserver_reply_free(a);
	testserver_reply_free(b);
}

static void create_bad_input(void **state)
{
	long before = count_q("SELECT count(*) FROM appraisals", NULL);
	long events = count_q("SELECT count(*) FROM events", NULL);
	Opra__V1__AppraisalReply *rep = NULL;
	create_spec ok = {{"demo-a", NULL}, {"AAA", NULL}, 0, -1, -1};

	assert_int_equal(create(cl[U_ALICE], "", &ok, &rep), OPRA_INVALID_ARGUMENT);
	assert_int_equal(create(cl[U_ALICE], "2026", &ok, &rep), OPRA_INVALID_ARGUMENT);
	assert_msg_has("digits");
	assert_int_equal(create(cl[U_ALICE], "bad\nname", &ok, &rep), OPRA_INVALID_ARGUMENT);
	assert_int_equal(create(cl[U_ALICE], " padded", &ok, &rep), OPRA_INVALID_ARGUMENT);
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(create(cl[U_ALICE], big, &ok, &rep), OPRA_INVALID_ARGUMENT);
	const char hostile[] = "x'; DROP TABLE appraisals; --";
	create_spec none = {{NULL}, {"AAA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], hostile, &none, &rep), OPRA_INVALID_ARGUMENT);
	assert_msg_has("model");

	create_spec unknown_model = {{"demo-a", "nope-9", NULL}, {"AAA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x1", &unknown_model, &rep), OPRA_NOT_FOUND);
	assert_msg_has("nope-9");
	assert_msg_has("available: demo-a, demo-b");

	create_spec ambiguous = {{"demo-a", "demo-b", NULL}, {"MA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x2", &ambiguous, &rep), OPRA_INVALID_ARGUMENT);
	assert_msg_has("demo-a/MA or demo-b/MA");

	create_spec unknown_pa = {{"demo-a", "demo-b", NULL}, {"ZZZ", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x3", &unknown_pa, &rep), OPRA_NOT_FOUND);
	assert_msg_has("'ZZZ'");
	assert_msg_has("demo-a, demo-b");

	create_spec wrong_model = {{"demo-a", NULL}, {"demo-b/BBB", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x4", &wrong_model, &rep), OPRA_NOT_FOUND);
	assert_msg_has("demo-b");

	create_spec bad_spec = {{"demo-a", NULL}, {"demo-a/", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x5", &bad_spec, &rep), OPRA_INVALID_ARGUMENT);

	create_spec both = {{"demo-a", NULL}, {"AAA", NULL}, 1, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x6", &both, &rep), OPRA_INVALID_ARGUMENT);
	create_spec neither = {{"demo-a", NULL}, {NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "x7", &neither, &rep), OPRA_INVALID_ARGUMENT);

	create_spec level = {{"demo-a", NULL}, {"AAA", NULL}, 0, 4, -1};
	assert_int_equal(create(cl[U_ALICE], "x8", &level, &rep), OPRA_INVALID_ARGUMENT);
	assert_msg_has("0 to 3");
	level.level = -7;
	assert_int_equal(create(cl[U_ALICE], "x8", &level, &rep), OPRA_INVALID_ARGUMENT);
	create_spec cover = {{"demo-a", NULL}, {"AAA", NULL}, 0, -1, 101};
	assert_int_equal(create(cl[U_ALICE], "x9", &cover, &rep), OPRA_INVALID_ARGUMENT);
	assert_msg_has("0 to 100");

	/* The name is taken (exit 5), also for another user. */
	assert_int_equal(create(cl[U_CAROL], "ovig-2026", &ok, &rep), OPRA_ALREADY_EXISTS);
	assert_msg_has("already exists");

	/* Automation tokens do not create appraisals. */
	assert_int_equal(create(cl[U_BOT], "x10", &ok, &rep), OPRA_PERMISSION_DENIED);

	/* Nothing of the above left anything behind. */
	assert_int_equal(count_q("SELECT count(*) FROM appraisals", NULL), before);
	assert_int_equal(count_q("SELECT count(*) FROM events", NULL), events);
}

static void scope_add(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	long ev = events_of("ovig-2026");

	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "claims", "billing", "hq", &rep), OPRA_OK);
	assert_string_equal(rep->result, "added 3 instances");
	assert_int_equal(rep->appraisal->n_instances, 3);
	assert_string_equal(kind_of(rep->appraisal, "claims"), "service");
	assert_string_equal(kind_of(rep->appraisal, "hq"), "unit");
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 3);
	assert_int_equal(count_q("SELECT count(*) FROM events WHERE object = 'instance:hq' AND "
				 "after->>'kind' = $1",
				 "unit"),
			 1);

	/* Already in scope: unchanged, no event. */
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "claims", NULL, NULL, &rep), OPRA_OK);
	assert_non_null(strstr(rep->result, "unchanged"));
	assert_int_equal(rep->appraisal->n_instances, 3);
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 3);

	/* A missing or removed service: NOT_FOUND naming it; nothing added
	 * (payroll, listed first, is not added either). */
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "payroll", "nosuch", NULL, &rep),
			 OPRA_NOT_FOUND);
	assert_msg_has("'nosuch'");
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "gone", NULL, NULL, &rep), OPRA_NOT_FOUND);
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", NULL, NULL, "nounit", &rep),
			 OPRA_NOT_FOUND);
	assert_msg_has("no unit named 'nounit'");
	assert_int_equal(count_q("SELECT count(*) FROM appraisal_instances i JOIN appraisals a ON "
				 "a.id = i.appraisal_id WHERE a.name = $1",
				 "ovig-2026"),
			 3);
	assert_int_equal(events_of("ovig-2026"), ev + 3);

	/* A service and a unit of the same name cannot both be instances. */
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "dup", NULL, NULL, &rep), OPRA_OK);
	testserver_reply_free(rep);
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", NULL, NULL, "dup", &rep),
			 OPRA_ALREADY_EXISTS);
	assert_msg_has("same name");

	/* Bad bodies. */
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", NULL, NULL, NULL, &rep),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "bad\x01name", NULL, NULL, &rep),
			 OPRA_INVALID_ARGUMENT);
	assert_int_equal(scope(cl[U_ALICE], "no-such-appraisal", "claims", NULL, NULL, &rep),
			 OPRA_NOT_FOUND);
	assert_chain_valid("ovig-2026");
}

static void members(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	long ev = events_of("ovig-2026");

	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bob", "appraiser", &rep), OPRA_OK);
	assert_string_equal(rep->result, "added bob as appraiser");
	testserver_reply_free(rep);
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "carol", "viewer", NULL), OPRA_OK);
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bot", "automation", &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->n_members, 4);
	assert_string_equal(role_of(rep->appraisal, "bot"), "automation");
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 3);

	/* Same role again: unchanged, no event. */
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bob", "appraiser", &rep), OPRA_OK);
	assert_non_null(strstr(rep->result, "unchanged"));
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 3);

	/* Another role: changed, with before and after. */
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bob", "viewer", &rep), OPRA_OK);
	assert_string_equal(rep->result, "role of bob changed from appraiser to viewer");
	assert_string_equal(role_of(rep->appraisal, "bob"), "viewer");
	testserver_reply_free(rep);
	assert_int_equal(count_q("SELECT count(*) FROM events WHERE object = 'member:bob' AND "
				 "before->>'role' = 'appraiser' AND after->>'role' = $1",
				 "viewer"),
			 1);
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bob", "appraiser", NULL), OPRA_OK);
	assert_int_equal(events_of("ovig-2026"), ev + 5);

	/* Bad input. */
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "nobody", "viewer", NULL),
			 OPRA_NOT_FOUND);
	assert_msg_has("'nobody'");
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "eve", "viewer", NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_msg_has("revoked");
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bot", "appraiser", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_msg_has("automation");
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "dave", "automation", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_msg_has("global role user");
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "dave", "owner", NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_msg_has("lead, appraiser, viewer or automation");
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "bad name!", "viewer", NULL),
			 OPRA_INVALID_ARGUMENT);
	/* The only lead cannot step down. */
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "alice", "viewer", NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_msg_has("only lead");
	assert_int_equal(events_of("ovig-2026"), ev + 5);
	assert_chain_valid("ovig-2026");
}

static void targets(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	long ev = events_of("ovig-2026");

	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "aaa", 3, &rep), OPRA_OK);
	assert_string_equal(rep->result, "target of demo-a/AAA changed from level 1 to 3");
	assert_int_equal(pa_of(rep->appraisal, "demo-a", "AAA")->target_level, 3);
	assert_int_equal(pa_of(rep->appraisal, "demo-b", "BBB")->target_level, 1);
	testserver_reply_free(rep);
	/* MA is in two models but only demo-b's is in scope: unambiguous. */
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "MA", 2, &rep), OPRA_OK);
	assert_int_equal(pa_of(rep->appraisal, "demo-b", "MA")->target_level, 2);
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 2);
	assert_int_equal(count_q("SELECT count(*) FROM events WHERE object = 'target:demo-a/AAA' "
				 "AND (before->>'target_level')::int = 1 AND "
				 "(after->>'target_level')::int = $1::int",
				 "3"),
			 1);
	/* Same level again: unchanged. */
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "demo-a/AAA", 3, &rep), OPRA_OK);
	assert_non_null(strstr(rep->result, "unchanged"));
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 2);

	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "demo-a/MA", 2, NULL),
			 OPRA_INVALID_ARGUMENT);
	assert_msg_has("not in the scope");
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "QQQ", 2, NULL), OPRA_NOT_FOUND);
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "AAA", 4, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "AAA", -1, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "", 1, NULL), OPRA_INVALID_ARGUMENT);
	assert_int_equal(events_of("ovig-2026"), ev + 2);
}

static void visibility(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	/* A non-member sees nothing in the list and is refused Show. */
	Opra__V1__AppraisalListReply *l = list(cl[U_DAVE]);
	assert_null(listed(l, "ovig-2026"));
	assert_null(listed(l, "all-of-a"));
	testserver_reply_free(l);
	assert_int_equal(show(cl[U_DAVE], "ovig-2026", &rep), OPRA_PERMISSION_DENIED);
	assert_msg_has("not a member");
	/* Members see theirs, with their role. */
	l = list(cl[U_CAROL]);
	assert_non_null(listed(l, "ovig-2026"));
	assert_string_equal(listed(l, "ovig-2026")->my_role, "viewer");
	assert_null(listed(l, "all-of-a"));
	testserver_reply_free(l);
	assert_int_equal(show(cl[U_CAROL], "ovig-2026", &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->n_members, 4);
	testserver_reply_free(rep);
	/* Program office and admin see all, as non-members. */
	l = list(cl[U_PO]);
	assert_non_null(listed(l, "ovig-2026"));
	assert_non_null(listed(l, "zero-b"));
	assert_string_equal(listed(l, "ovig-2026")->my_role, "");
	testserver_reply_free(l);
	assert_int_equal(show(cl[U_PO], "ovig-2026", &rep), OPRA_OK);
	testserver_reply_free(rep);
	/* Unknown appraisal. */
	assert_int_equal(show(cl[U_ADMIN], "nope", &rep), OPRA_NOT_FOUND);
	assert_int_equal(show(cl[U_ADMIN], "", &rep), OPRA_INVALID_ARGUMENT);
}

/* Every Appraisal method for every kind of caller, on an appraisal of
 * alice's with bob appraiser, carol viewer and bot automation. */
static void role_method_matrix(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	create_spec s = {{"demo-a", NULL}, {"AAA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "matrix", &s, NULL), OPRA_OK);
	assert_int_equal(member(cl[U_ALICE], "matrix", "bob", "appraiser", NULL), OPRA_OK);
	assert_int_equal(member(cl[U_ALICE], "matrix", "carol", "viewer", NULL), OPRA_OK);
	assert_int_equal(member(cl[U_ALICE], "matrix", "bot", "automation", NULL), OPRA_OK);
	assert_int_equal(scope(cl[U_ALICE], "matrix", "claims", NULL, NULL, NULL), OPRA_OK);

	enum { C_CREATE, C_LIST, C_SHOW, C_SCOPE, C_MEMBER, C_TARGET, C_FINAL, N_M };
	static const char *const mnames[N_M] = {"Create",    "List",   "Show",	  "ScopeAdd",
						"MemberAdd", "Target", "Finalize"};
	const int callers[] = {U_ADMIN, U_PO, U_DAVE, U_BOB, U_CAROL, U_BOT, U_ALICE};
	const int OK = OPRA_OK, PD = OPRA_PERMISSION_DENIED;
	/* Rows in the order of callers[]; alice (lead) last since she finalises. */
	const int want[][N_M] = {
		/* admin */ {OK, OK, OK, OK, OK, OK, PD},
		/* po */ {OK, OK, OK, OK, OK, OK, PD},
		/* dave, no member */ {OK, OK, PD, PD, PD, PD, PD},
		/* bob, appraiser */ {OK, OK, OK, PD, PD, PD, PD},
		/* carol, viewer */ {OK, OK, OK, PD, PD, PD, PD},
		/* bot, automation */ {PD, OK, PD, PD, PD, PD, PD},
		/* alice, lead */ {OK, OK, OK, OK, OK, OK, OK},
	};
	for (size_t i = 0; i < sizeof(callers) / sizeof(callers[0]); i++) {
		rpc_client *c = cl[callers[i]];
		for (int m = 0; m < N_M; m++) {
			char name[64];
			int rc = -1;
			snprintf(name, sizeof(name), "m-%s", user_names[callers[i]]);
			switch (m) {
			case C_CREATE:
				rc = create(c, name, &s, NULL);
				break;
			case C_LIST: {
				Opra__V1__AppraisalListRequest req =
					OPRA__V1__APPRAISAL_LIST_REQUEST__INIT;
				rc = acall(c, M("List"), &req.base,
					   &opra__v1__appraisal_list_reply__descriptor, NULL, 0);
				break;
			}
			case C_SHOW:
				rc = show(c, "matrix", NULL);
				break;
			case C_SCOPE:
				rc = scope(c, "matrix", "claims", NULL, NULL, NULL);
				break;
			case C_MEMBER:
				rc = member(c, "matrix", "carol", "viewer", NULL);
				break;
			case C_TARGET:
				rc = target(c, "matrix", "AAA", 2, NULL);
				break;
			case C_FINAL:
				rc = finalize(c, "matrix", NULL);
				break;
			}
			if (rc != want[i][m])
				fail_msg("%s as %s: got %s (%s), want %s", mnames[m],
					 user_names[callers[i]], opra_status_name(rc),
					 opra_err_msg(), opra_status_name(want[i][m]));
		}
	}
	assert_int_equal(show(cl[U_ALICE], "matrix", &rep), OPRA_OK);
	assert_true(rep->appraisal->sealed);
	testserver_reply_free(rep);
	/* Once sealed the writers get FAILED_PRECONDITION, outsiders still
	 * PERMISSION_DENIED (nothing about it is revealed to them). */
	assert_int_equal(scope(cl[U_PO], "matrix", "billing", NULL, NULL, NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_int_equal(scope(cl[U_DAVE], "matrix", "billing", NULL, NULL, NULL),
			 OPRA_PERMISSION_DENIED);
	assert_chain_valid("matrix");
}

static void finalize_seals(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	long ev = events_of("ovig-2026");

	assert_int_equal(show(cl[U_ALICE], "ovig-2026", &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->events, ev);
	testserver_reply_free(rep);

	assert_int_equal(finalize(cl[U_ALICE], "ovig-2026", &rep), OPRA_OK);
	assert_string_equal(rep->result, "finalised");
	assert_true(rep->appraisal->sealed);
	assert_true(rep->appraisal->sealed_at[0] != '\0');
	assert_string_equal(rep->appraisal->sealed_by, "alice");
	assert_int_equal(rep->appraisal->events, ev + 1);
	char *head = strdup(rep->appraisal->head);
	testserver_reply_free(rep);
	/* The final event is in the chain and the seal records the head that
	 * includes it. */
	char *last =
		text_q("SELECT encode(e.hash, 'hex') FROM events e JOIN appraisals a ON a.id = "
		       "e.appraisal_id WHERE a.name = $1 ORDER BY e.seq DESC LIMIT 1",
		       "ovig-2026");
	char *sealed = text_q("SELECT encode(sealed_head, 'hex') FROM appraisals WHERE name = $1",
			      "ovig-2026");
	assert_string_equal(head, last);
	assert_string_equal(head, sealed);
	assert_int_equal(
		count_q("SELECT count(*) FROM events e JOIN appraisals a ON a.id = "
			"e.appraisal_id WHERE a.name = $1 AND e.seq = a.events AND "
			"e.object = 'appraisal:ovig-2026' AND (e.after->>'sealed')::boolean",
			"ovig-2026"),
		1);
	assert_chain_valid("ovig-2026");

	/* Every change is refused now, saying it was finalised. */
	assert_int_equal(scope(cl[U_ALICE], "ovig-2026", "payroll", NULL, NULL, NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_msg_has("finalised");
	assert_int_equal(member(cl[U_ALICE], "ovig-2026", "dave", "viewer", NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_msg_has("finalised");
	assert_int_equal(target(cl[U_ALICE], "ovig-2026", "AAA", 1, NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_int_equal(scope(cl[U_ADMIN], "ovig-2026", "payroll", NULL, NULL, NULL),
			 OPRA_FAILED_PRECONDITION);
	assert_int_equal(finalize(cl[U_ALICE], "ovig-2026", NULL), OPRA_FAILED_PRECONDITION);
	assert_msg_has("finalised");
	/* The database itself refuses a chain append after the seal. */
	PGresult *r = NULL;
	assert_int_equal(db_exec(&r, ts.db, 1,
				 "SELECT append_event(a.id, NULL, 'x', '', '', '', 'm', 'o', NULL, "
				 "NULL) FROM appraisals a WHERE a.name = 'ovig-2026'",
				 0, NULL),
			 OPRA_FAILED_PRECONDITION);
	/* Reads still work and nothing changed. */
	assert_int_equal(show(cl[U_CAROL], "ovig-2026", &rep), OPRA_OK);
	assert_true(rep->appraisal->sealed);
	assert_string_equal(rep->appraisal->head, head);
	assert_int_equal(rep->appraisal->events, ev + 1);
	assert_int_equal(rep->appraisal->n_members, 4);
	testserver_reply_free(rep);
	assert_int_equal(events_of("ovig-2026"), ev + 1);
	free(head);
	free(last);
	free(sealed);
}

/* Issue 5 item 4: the inventory refuses to remove what an open appraisal
 * scopes (services and units directly, assets through the scoped services
 * they support); finalising the appraisal lifts the block. */
static void inventory_removal_rule(void **state)
{
	rpc_client *admin = cl[U_ADMIN];
	inv_add(admin, "unit", "site-x");
	inv_add(admin, "service", "svc-x");
	inv_add(admin, "service", "svc-free");
	inv_add(admin, "asset", "db-x");
	inv_add(admin, "asset", "db-free");
	char *assets[1] = {"db-x"};
	Opra__V1__LinkRequest lr = OPRA__V1__LINK_REQUEST__INIT;
	lr.service = "svc-x";
	lr.n_assets = 1;
	lr.assets = assets;
	assert_int_equal(acall(admin, "opra.v1.Inventory/ServiceLink", &lr.base,
			       &opra__v1__link_reply__descriptor, NULL, 1),
			 OPRA_OK);
	create_spec s = {{"demo-a", NULL}, {"AAA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "inv-open-1", &s, NULL), OPRA_OK);
	assert_int_equal(create(cl[U_ALICE], "inv-open-2", &s, NULL), OPRA_OK);
	assert_int_equal(scope(cl[U_ALICE], "inv-open-1", "svc-x", NULL, "site-x", NULL), OPRA_OK);
	assert_int_equal(scope(cl[U_ALICE], "inv-open-2", "svc-x", NULL, NULL, NULL), OPRA_OK);

	assert_int_equal(inv_remove(admin, "service", "svc-x"), OPRA_FAILED_PRECONDITION);
	assert_msg_has("inv-open-1, inv-open-2");
	assert_int_equal(inv_remove(admin, "unit", "site-x"), OPRA_FAILED_PRECONDITION);
	assert_msg_has("inv-open-1");
	assert_int_equal(inv_remove(admin, "asset", "db-x"), OPRA_FAILED_PRECONDITION);
	assert_msg_has("service svc-x");
	/* Unscoped objects go as before. */
	assert_int_equal(inv_remove(admin, "service", "svc-free"), OPRA_OK);
	assert_int_equal(inv_remove(admin, "asset", "db-free"), OPRA_OK);
	assert_int_equal(count_q("SELECT count(*) FROM services WHERE name = $1 AND removed_at IS "
				 "NULL",
				 "svc-x"),
			 1);

	/* Finalised appraisals no longer block. */
	assert_int_equal(finalize(cl[U_ALICE], "inv-open-1", NULL), OPRA_OK);
	assert_int_equal(inv_remove(admin, "unit", "site-x"), OPRA_OK);
	assert_int_equal(inv_remove(admin, "service", "svc-x"), OPRA_FAILED_PRECONDITION);
	assert_msg_has("inv-open-2");
	assert_int_equal(finalize(cl[U_ALICE], "inv-open-2", NULL), OPRA_OK);
	assert_int_equal(inv_remove(admin, "asset", "db-x"), OPRA_OK);
	assert_int_equal(inv_remove(admin, "service", "svc-x"), OPRA_OK);
	/* The sealed appraisal keeps its instance (history). */
	Opra__V1__AppraisalReply *rep = NULL;
	assert_int_equal(show(cl[U_ALICE], "inv-open-2", &rep), OPRA_OK);
	assert_string_equal(kind_of(rep->appraisal, "svc-x"), "service");
	testserver_reply_free(rep);
}

/* A model an appraisal uses cannot be replaced (exit 5), one no appraisal
 * uses can. */
static void model_in_use_is_not_replaced(void **state)
{
	long practices = count_q("SELECT count(*) FROM practices", NULL);
	import_model(cl[U_ADMIN], model_a, 1, OPRA_FAILED_PRECONDITION);
	assert_msg_has("used by an appraisal");
	assert_int_equal(count_q("SELECT count(*) FROM practices", NULL), practices);
	static const char model_c[] = MODEL_YAML("demo-c", "CCC", "Third Area");
	import_model(cl[U_ADMIN], model_c, 0, OPRA_OK);
	import_model(cl[U_ADMIN], model_c, 1, OPRA_OK);
}

/* Issue 8 item 6: the dashboard numbers of Show. Appraisal "dash" (demo-a,
 * AAA and MA, one specific practice each; instances claims and billing):
 * AAA:SG1.SP1 is FI on claims and PI on billing (aggregation row A3: a
 * lead's judgement is needed), MA:SG1.SP1 is LI on claims and not
 * characterised on billing. Evidence: an accepted artifact and affirmation
 * on AAA@claims, an accepted affirmation on AAA@billing, a proposed
 * artifact and a rejected one on MA. */
static void dashboard_numbers(void **state)
{
	Opra__V1__AppraisalReply *rep = NULL;
	create_spec s = {{"demo-a", NULL}, {"AAA", "MA", NULL}, 0, -1, -1};
	assert_int_equal(create(cl[U_ALICE], "dash", &s, NULL), OPRA_OK);

	/* No instances yet: nothing to count, nothing to divide by. */
	assert_int_equal(show(cl[U_ALICE], "dash", &rep), OPRA_OK);
	assert_non_null(rep->appraisal->dashboard);
	assert_int_equal(rep->appraisal->dashboard->practices, 2);
	assert_int_equal(rep->appraisal->dashboard->practice_instances, 0);
	assert_int_equal(rep->appraisal->dashboard->open_judgements, 0);
	testserver_reply_free(rep);

	assert_int_equal(scope(cl[U_ALICE], "dash", "claims", "billing", NULL, NULL), OPRA_OK);
	assert_int_equal(
		db_exec_script(
			ts.db,
			"INSERT INTO characterisations (appraisal_id, practice_id, instance_id, "
			"value, updated_by) SELECT a.id, p.id, i.id, v.val, a.created_by FROM "
			"appraisals a JOIN appraisal_instances i ON i.appraisal_id = a.id JOIN "
			"(VALUES ('AAA:SG1.SP1', 'claims', 'fi'), ('AAA:SG1.SP1', 'billing', "
			"'pi'), "
			"('MA:SG1.SP1', 'claims', 'li')) v(pr, inst, val) ON v.inst = i.name JOIN "
			"practices p ON p.full_id = v.pr JOIN models m ON m.id = p.model_id AND "
			"m.key = 'demo-a' WHERE a.name = 'dash';"
			"INSERT INTO evidence (appraisal_id, practice_id, instance_id, kind, "
			"title, "
			"status, sha256, size, body_text, submitted_by) SELECT a.id, p.id, i.id, "
			"v.k, 'fixture', v.st, sha256(convert_to(v.pr || v.inst || v.k || v.st, "
			"'UTF8')), 1, 'x', a.created_by FROM appraisals a JOIN appraisal_instances "
			"i ON i.appraisal_id = a.id JOIN (VALUES ('AAA:SG1.SP1', 'claims', "
			"'artifact', 'accepted'), ('AAA:SG1.SP1', 'claims', 'affirmation', "
			"'accepted'), ('AAA:SG1.SP1', 'billing', 'affirmation', 'accepted'), "
			"('MA:SG1.SP1', 'claims', 'artifact', 'proposed'), ('MA:SG1.SP1', "
			"'billing', 'artifact', 'rejected')) v(pr, inst, k, st) ON v.inst = i.name "
			"JOIN practices p ON p.full_id = v.pr JOIN models m ON m.id = p.model_id "
			"AND m.key = 'demo-a' WHERE a.name = 'dash';"),
		OPRA_OK);

	/* Every reader sees the same numbers. */
	int readers[3] = {U_ALICE, U_ADMIN, U_PO};
	for (int k = 0; k < 3; k++) {
		assert_int_equal(show(cl[readers[k]], "dash", &rep), OPRA_OK);
		const Opra__V1__AppraisalDashboard *d = rep->appraisal->dashboard;
		assert_non_null(d);
		assert_int_equal(d->practices, 2);
		assert_int_equal(d->practice_instances, 4);
		assert_int_equal(d->with_artifact, 1);
		assert_int_equal(d->with_affirmation, 2);
		assert_int_equal(d->fi, 1);
		assert_int_equal(d->li, 1);
		assert_int_equal(d->pi, 1);
		assert_int_equal(d->ni, 0);
		assert_int_equal(d->ny, 0);
		assert_int_equal(d->uncharacterised, 1);
		assert_int_equal(d->open_judgements, 1);
		assert_int_equal(d->proposed_evidence, 1);
		assert_int_equal(rep->appraisal->evidence, 5); /* the old count stays */
		testserver_reply_free(rep);
	}

	/* A lead's judgement closes the open one; a judgement outside the
	 * allowed pair (A3: LI or PI) would not. */
	assert_int_equal(db_exec_script(ts.db,
					"INSERT INTO judgements (appraisal_id, practice_id, value, "
					"rationale, judged_by) SELECT a.id, p.id, 'fi', 'no', "
					"a.created_by FROM appraisals a, practices p JOIN models m "
					"ON m.id = p.model_id WHERE a.name = 'dash' AND m.key = "
					"'demo-a' AND p.full_id = 'AAA:SG1.SP1'"),
			 OPRA_OK);
	assert_int_equal(show(cl[U_ALICE], "dash", &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->dashboard->open_judgements, 1);
	testserver_reply_free(rep);
	assert_int_equal(db_exec_script(ts.db, "UPDATE judgements SET value = 'li' WHERE "
					       "appraisal_id = (SELECT id FROM appraisals WHERE "
					       "name = 'dash')"),
			 OPRA_OK);
	assert_int_equal(show(cl[U_ALICE], "dash", &rep), OPRA_OK);
	assert_int_equal(rep->appraisal->dashboard->open_judgements, 0);
	testserver_reply_free(rep);

	/* Replies of changes carry no dashboard (only Show computes it). */
	assert_int_equal(member(cl[U_ALICE], "dash", "carol", "viewer", &rep), OPRA_OK);
	assert_null(rep->appraisal->dashboard);
	testserver_reply_free(rep);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_show_list),
		cmocka_unit_test(create_retry_is_exactly_once),
		cmocka_unit_test(create_bad_input),
		cmocka_unit_test(scope_add),
		cmocka_unit_test(members),
		cmocka_unit_test(targets),
		cmocka_unit_test(visibility),
		cmocka_unit_test(role_method_matrix),
		cmocka_unit_test(finalize_seals),
		cmocka_unit_test(inventory_removal_rule),
		cmocka_unit_test(model_in_use_is_not_replaced),
		cmocka_unit_test(dashboard_numbers),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
