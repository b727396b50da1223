/* Model import, show, export and crosswalk through the real server stack:
 * the server validates again whatever a client sends, and an import is all
 * or nothing. */
#include "model.h"
#include "model_pb.h"
#include "opra_err.h"
#include "testlib.h"
#include "testserver.h"

#include "opra/v1/model.pb-c.h"
#include "opra/v1/user.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static testserver ts;

static const char small_model[] =
	"opra_model: 1\n"
	"id: demo-1.0\n"
	"name: Demo Model\n"
	"version: \"1.0\"\n"
	"generic_goals:\n"
	"  - id: GG2\n"
	"    title: Institutionalize a Managed Process\n"
	"    practices:\n"
	"      - id: GP1\n"
	"        title: Establish Process Governance\n"
	"        confirmed: false\n"
	"process_areas:\n"
	"  - id: AAA\n"
	"    name: First Area\n"
	"    category: engineering\n"
	"    specific_goals:\n"
	"      - id: SG1\n"
	"        title: Goal one\n"
	"        practices:\n"
	"          - id: SP1\n"
	"            title: \"'Quotes', colons: and \\\\ backslash\"\n"
	"            statement: \"Tab\\tand newline\\nin the statement\"\n"
	"            subpractices: [\"first step\", \"second step\"]\n"
	"            references:\n"
	"              - model: demo-1.0\n"
	"                practice: BBB:SG1.SP1\n"
	"              - code: ISO 27001\n"
	"                ref: A.8.1.1\n"
	"  - id: BBB\n"
	"    name: Second Area\n"
	"    category: operations-management\n"
	"    references:\n"
	"      - model: demo-1.0\n"
	"        process_area: AAA\n"
	"        confirmed: false\n"
	"        note: seed mapping\n"
	"    specific_goals:\n"
	"      - id: SG1\n"
	"        title: Goal one of B\n"
	"        practices:\n"
	"          - id: SP1\n"
	"            title: The target\n";

static int setup(void **state)
{
	testserver_setup(&ts, "models", 4u << 20);
	return 0;
}

static int teardown(void **state)
{
	testserver_teardown(&ts);
	return 0;
}

static model *parse_small(void)
{
	model *m = NULL;
	if (model_parse(&m, "small.yaml", small_model, strlen(small_model), "opra") != OPRA_OK)
		fail_msg("small model does not parse: %s", opra_err_msg());
	return m;
}

static int import(rpc_client *c, model *m, int replace, const char *key,
		  Opra__V1__ModelImportResponse **resp)
{
	Opra__V1__ModelDoc *doc = NULL;
	assert_int_equal(model_to_pb(&doc, m), OPRA_OK);
	Opra__V1__ModelImportRequest req = OPRA__V1__MODEL_IMPORT_REQUEST__INIT;
	req.model = doc;
	req.replace = replace;
	int rc = rpc_call(c, "opra.v1.Model/Import", &req.base,
			  &opra__v1__model_import_response__descriptor, (ProtobufCMessage **)resp,
			  key);
	model_pb_free(doc);
	return rc;
}

static void import_show_export_round_trip(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	model *m = parse_small();
	Opra__V1__ModelImportResponse *resp = NULL;
	assert_int_equal(import(c, m, 0, "imp-1", &resp), OPRA_OK);
	assert_string_equal(resp->model->id, "demo-1.0");
	assert_int_equal(resp->model->process_areas, 2);
	assert_int_equal(resp->model->practices, 4); /* 2 specific + GG2.GP1 in each PA */
	assert_false(resp->replaced);
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	/* Export gives back an equal model. */
	Opra__V1__ModelExportRequest er = OPRA__V1__MODEL_EXPORT_REQUEST__INIT;
	er.id = "DEMO-1.0"; /* ids match case-insensitively */
	Opra__V1__ModelExportResponse *exp = NULL;
	assert_int_equal(rpc_call(c, "opra.v1.Model/Export", &er.base,
				  &opra__v1__model_export_response__descriptor,
				  (ProtobufCMessage **)&exp, NULL),
			 OPRA_OK);
	model *back = NULL;
	assert_int_equal(model_from_pb(&back, exp->model, "export"), OPRA_OK);
	assert_true(model_equal(m, back));
	assert_string_equal(exp->model->process_areas[0]->goals[0]->practices[0]->full_id,
			    "AAA:SG1.SP1");
	assert_string_equal(exp->model->process_areas[0]->goals[1]->practices[0]->full_id,
			    "AAA:GG2.GP1");
	assert_false(exp->model->process_areas[0]->goals[1]->practices[0]->provenance->confirmed);
	protobuf_c_message_free_unpacked(&exp->base, NULL);
	model_free(back);

	/* Show one PA. */
	Opra__V1__ModelShowRequest sr = OPRA__V1__MODEL_SHOW_REQUEST__INIT;
	sr.id = "demo-1.0";
	sr.pa = "bbb";
	Opra__V1__ModelShowResponse *show = NULL;
	assert_int_equal(rpc_call(c, "opra.v1.Model/Show", &sr.base,
				  &opra__v1__model_show_response__descriptor,
				  (ProtobufCMessage **)&show, NULL),
			 OPRA_OK);
	assert_int_equal(show->model->n_process_areas, 1);
	assert_string_equal(show->model->process_areas[0]->id, "BBB");
	protobuf_c_message_free_unpacked(&show->base, NULL);
	sr.pa = "ZZZ";
	assert_int_equal(rpc_call(c, "opra.v1.Model/Show", &sr.base,
				  &opra__v1__model_show_response__descriptor,
				  (ProtobufCMessage **)&show, NULL),
			 OPRA_NOT_FOUND);

	/* Importing again is a conflict; --replace replaces. */
	assert_int_equal(import(c, m, 0, "imp-2", &resp), OPRA_ALREADY_EXISTS);
	assert_non_null(strstr(opra_err_msg(), "--replace"));
	assert_int_equal(import(c, m, 1, "imp-3", &resp), OPRA_OK);
	assert_true(resp->replaced);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM models"), 1);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM practices"), 4);
	model_free(m);
	rpc_client_close(c);
}

static void crosswalk_both_directions(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	Opra__V1__ModelMapRequest req = OPRA__V1__MODEL_MAP_REQUEST__INIT;
	Opra__V1__ModelMapResponse *resp = NULL;
	req.practice = "aaa:sg1.sp1";
	assert_int_equal(rpc_call(c, "opra.v1.Model/Map", &req.base,
				  &opra__v1__model_map_response__descriptor,
				  (ProtobufCMessage **)&resp, NULL),
			 OPRA_OK);
	assert_int_equal(resp->n_results, 1);
	Opra__V1__MapResult *r = resp->results[0];
	assert_string_equal(r->practice, "AAA:SG1.SP1");
	assert_int_equal(r->n_entries, 3); /* 2 of its own, 1 from BBB's PA mapping */
	assert_string_equal(r->entries[0]->direction, "to");
	assert_string_equal(r->entries[0]->practice, "BBB:SG1.SP1");
	assert_string_equal(r->entries[0]->title, "The target");
	assert_true(r->entries[0]->resolved);
	assert_string_equal(r->entries[1]->code, "ISO 27001");
	assert_string_equal(r->entries[1]->ref, "A.8.1.1");
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	req.practice = "BBB:SG1.SP1";
	assert_int_equal(rpc_call(c, "opra.v1.Model/Map", &req.base,
				  &opra__v1__model_map_response__descriptor,
				  (ProtobufCMessage **)&resp, NULL),
			 OPRA_OK);
	/* BBB:SG1.SP1: its PA's mapping to AAA, and AAA:SG1.SP1 pointing at it. */
	assert_int_equal(resp->results[0]->n_entries, 2);
	assert_string_equal(resp->results[0]->entries[0]->direction, "to");
	assert_string_equal(resp->results[0]->entries[0]->via, "process area");
	assert_string_equal(resp->results[0]->entries[1]->direction, "from");
	assert_string_equal(resp->results[0]->entries[1]->practice, "AAA:SG1.SP1");
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	/* Process-area-level mappings: BBB (as a whole) maps to AAA. */
	req.practice = "bbb";
	assert_int_equal(rpc_call(c, "opra.v1.Model/Map", &req.base,
				  &opra__v1__model_map_response__descriptor,
				  (ProtobufCMessage **)&resp, NULL),
			 OPRA_OK);
	assert_int_equal(resp->n_results, 1);
	r = resp->results[0];
	assert_string_equal(r->practice, "BBB");
	assert_string_equal(r->title, "Second Area");
	int found_to = 0, found_from = 0;
	for (size_t i = 0; i < r->n_entries; i++) {
		Opra__V1__MapEntry *e = r->entries[i];
		if (strcmp(e->direction, "to") == 0 && strcmp(e->process_area, "AAA") == 0) {
			found_to = 1;
			assert_true(e->unconfirmed);
			assert_string_equal(e->title, "First Area");
			assert_string_equal(e->note, "seed mapping");
			assert_string_equal(e->via, "process area");
		}
		if (strcmp(e->direction, "from") == 0 && strcmp(e->practice, "AAA:SG1.SP1") == 0)
			found_from = 1; /* AAA:SG1.SP1 references BBB:SG1.SP1, in BBB */
	}
	assert_true(found_to);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	(void)found_from;
	/* A practice of AAA is mapped to from BBB through BBB's PA mapping. */
	req.practice = "AAA:SG1.SP1";
	assert_int_equal(rpc_call(c, "opra.v1.Model/Map", &req.base,
				  &opra__v1__model_map_response__descriptor,
				  (ProtobufCMessage **)&resp, NULL),
			 OPRA_OK);
	found_from = 0;
	for (size_t i = 0; i < resp->results[0]->n_entries; i++) {
		Opra__V1__MapEntry *e = resp->results[0]->entries[i];
		if (strcmp(e->direction, "from") == 0 && strcmp(e->process_area, "BBB") == 0 &&
		    strcmp(e->via, "process area") == 0 && e->unconfirmed)
			found_from = 1;
	}
	assert_true(found_from);
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	req.practice = "NOPE:SG1.SP1";
	assert_int_equal(rpc_call(c, "opra.v1.Model/Map", &req.base,
				  &opra__v1__model_map_response__descriptor,
				  (ProtobufCMessage **)&resp, NULL),
			 OPRA_NOT_FOUND);
	rpc_client_close(c);
}

static void server_validates_what_clients_send(void **state)
{
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	long before = testserver_count(&ts, "SELECT count(*) FROM practices");
	model *m = parse_small();
	free(m->id);
	m->id = strdup("hostile-1");
	/* A client that skips local validation: duplicate practice ids ... */
	model_practice *p = &m->pas[0].goals[0].practices[0];
	free(p->id);
	p->id = strdup("GP1");
	free(m->pas[1].id);
	m->pas[1].id = strdup("AAA"); /* ... and a duplicate process area. */
	Opra__V1__ModelImportResponse *resp = NULL;
	assert_int_equal(import(c, m, 0, "bad-1", &resp), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "AAA"));
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM models WHERE key = "
					       "'hostile-1'"),
			 0);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM practices"), before);
	model_free(m);

	/* SQL metacharacters in names are just text. */
	m = parse_small();
	free(m->id);
	m->id = strdup("sql-1");
	free(m->pas[0].name);
	m->pas[0].name = strdup("x'); DROP TABLE practices; --");
	assert_int_equal(import(c, m, 0, "sql-1", &resp), OPRA_OK);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM process_areas WHERE name "
					       "LIKE 'x''); DROP%'"),
			 1);
	model_free(m);
	rpc_client_close(c);
}

static void only_admins_import(void **state)
{
	rpc_client *admin = testserver_client(&ts, ts.admin.text);
	Opra__V1__UserAddRequest ua = OPRA__V1__USER_ADD_REQUEST__INIT;
	Opra__V1__UserAddResponse *u = NULL;
	ua.name = "po";
	ua.role = "program-office";
	assert_int_equal(rpc_call(admin, "opra.v1.User/Add", &ua.base,
				  &opra__v1__user_add_response__descriptor, (ProtobufCMessage **)&u,
				  "add-po"),
			 OPRA_OK);
	rpc_client *po = testserver_client(&ts, u->token);
	protobuf_c_message_free_unpacked(&u->base, NULL);
	model *m = parse_small();
	free(m->id);
	m->id = strdup("po-1");
	Opra__V1__ModelImportResponse *resp = NULL;
	assert_int_equal(import(po, m, 0, "po-imp", &resp), OPRA_PERMISSION_DENIED);
	/* ... but everyone may read models. */
	Opra__V1__ModelListRequest lr = OPRA__V1__MODEL_LIST_REQUEST__INIT;
	Opra__V1__ModelListResponse *list = NULL;
	assert_int_equal(rpc_call(po, "opra.v1.Model/List", &lr.base,
				  &opra__v1__model_list_response__descriptor,
				  (ProtobufCMessage **)&list, NULL),
			 OPRA_OK);
	assert_true(list->n_models >= 1);
	protobuf_c_message_free_unpacked(&list->base, NULL);
	model_free(m);
	rpc_client_close(po);
	rpc_client_close(admin);
}

static void shipped_models_import(void **state)
{
	const char *src = getenv("OPRA_SOURCE_DIR");
	static const struct {
		const char *file;
		const char *id;
		size_t pas;
	} shipped[] = {
		{"sql/models/cert-rmm-1.2.yaml", "cert-rmm-1.2", 26},
		{"sql/models/cmmi-svc-1.3.yaml", "cmmi-svc-1.3", 0},
		{"sql/models/security-management.yaml", "security-management", 1},
	};
	rpc_client *c = testserver_client(&ts, ts.admin.text);
	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		char path[1024];
		model *m = NULL;
		snprintf(path, sizeof(path), "%s/%s", src, shipped[i].file);
		if (model_load_file(&m, path, "opra") != OPRA_OK)
			fail_msg("%s: %s", path, opra_err_msg());
		assert_string_equal(m->id, shipped[i].id);
		if (shipped[i].pas)
			assert_int_equal(m->n_pas, shipped[i].pas);
		Opra__V1__ModelImportResponse *resp = NULL;
		char key[64];
		snprintf(key, sizeof(key), "ship-%zu", i);
		if (import(c, m, 0, key, &resp) != OPRA_OK)
			fail_msg("%s: %s", path, opra_err_msg());
		assert_int_equal(resp->model->process_areas, m->n_pas);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		model_free(m);
	}
	/* CERT-RMM generic practices exist in every process area. */
	assert_int_equal(testserver_count(&ts, "SELECT count(*) FROM practices p JOIN models m ON "
					       "m.id = p.model_id WHERE m.key = 'cert-rmm-1.2' "
					       "AND p.full_id = 'SC:GG2.GP6'"),
			 1);
	rpc_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(import_show_export_round_trip),
		cmocka_unit_test(crosswalk_both_directions),
		cmocka_unit_test(server_validates_what_clients_send),
		cmocka_unit_test(only_admins_import),
		cmocka_unit_test(shipped_models_import),
	};
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
