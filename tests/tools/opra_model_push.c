/* opra-model-push: a hostile client for the e2e tests. Sends Model/Import
 * requests built by hand, skipping the client's own validation, to check
 * that the server refuses a model that fails validation.
 *
 *   OPRA_TOKEN=... opra-model-push URL CASE
 *
 * CASE is one of
 *   valid          a small valid model (id "push-ok"), as a control
 *   dangling-ref   a practice references a practice its own model lacks
 *   dup-pa         two process areas with the same id
 *   bad-category   a category that is not a lower-case key
 *   bad-id         a process area id with a blank in it
 *   generic-first  a generic goal before a specific goal
 *   empty-title    a practice without a title
 *   no-model       an import request that holds no model at all
 *
 * Prints the server's status name and message ("OK ..." on success) and
 * exits 0 when an answer came back, 1 when the call itself failed. */
#include "opra_err.h"
#include "rpc.h"

#include "opra/v1/model.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	Opra__V1__ModelDoc doc;
	Opra__V1__ProcessArea pa[2], *pa_ptrs[2];
	Opra__V1__Goal goal[2], *goal_ptrs[2];
	Opra__V1__Practice pr[3], *pr_ptrs[3];
	Opra__V1__PracticeRef ref, *ref_ptrs[1];
	Opra__V1__Provenance prov;
} tiny_model;

/* One process area TST with specific goal SG1 (practices SP1, SP2) and
 * generic goal GG2 (practice GP1). */
static void tiny_build(tiny_model *t)
{
	memset(t, 0, sizeof(*t));
	opra__v1__provenance__init(&t->prov);
	t->prov.confirmed = 1;
	opra__v1__model_doc__init(&t->doc);
	t->doc.id = (char *)"push-ok";
	t->doc.name = (char *)"Pushed by a hostile client";
	t->doc.version = (char *)"1";
	t->doc.provenance = &t->prov;
	for (int i = 0; i < 2; i++) {
		opra__v1__process_area__init(&t->pa[i]);
		opra__v1__goal__init(&t->goal[i]);
		opra__v1__practice__init(&t->pr[i]);
		t->pa_ptrs[i] = &t->pa[i];
		t->goal_ptrs[i] = &t->goal[i];
		t->pr_ptrs[i] = &t->pr[i];
		t->pa[i].provenance = &t->prov;
		t->goal[i].provenance = &t->prov;
		t->pr[i].provenance = &t->prov;
	}
	opra__v1__practice__init(&t->pr[2]);
	t->pr_ptrs[2] = &t->pr[2];
	t->pr[2].provenance = &t->prov;
	t->pr[2].id = (char *)"GP1";
	t->pr[2].title = (char *)"Establish a Policy";
	t->pa[0].id = (char *)"TST";
	t->pa[0].name = (char *)"Test Area";
	t->pa[0].category = (char *)"engineering";
	t->pa[0].goals = t->goal_ptrs;
	t->pa[0].n_goals = 2;
	t->pa[1] = t->pa[0];
	t->pa[1].id = (char *)"TS2";
	t->goal[0].id = (char *)"SG1";
	t->goal[0].title = (char *)"Do Things";
	t->goal[0].practices = t->pr_ptrs;
	t->goal[0].n_practices = 2;
	t->goal[1].id = (char *)"GG2";
	t->goal[1].title = (char *)"Institutionalize";
	t->goal[1].generic = 1;
	t->goal[1].practices = &t->pr_ptrs[2];
	t->goal[1].n_practices = 1;
	t->pr[0].id = (char *)"SP1";
	t->pr[0].title = (char *)"Do the First Thing";
	t->pr[1].id = (char *)"SP2";
	t->pr[1].title = (char *)"Do the Second Thing";
	opra__v1__practice_ref__init(&t->ref);
	t->ref_ptrs[0] = &t->ref;
	t->doc.process_areas = t->pa_ptrs;
	t->doc.n_process_areas = 1;
}

/* Breaks the model the way `what` says. Returns 0, or 2 for an unknown
 * case. */
static int tiny_break(tiny_model *t, const char *what)
{
	if (strcmp(what, "valid") == 0)
		return 0;
	if (strcmp(what, "dangling-ref") == 0) {
		t->ref.model = (char *)"push-ok";
		t->ref.practice = (char *)"TST:SG1.SP9";
		t->pr[0].refs = t->ref_ptrs;
		t->pr[0].n_refs = 1;
		return 0;
	}
	if (strcmp(what, "dup-pa") == 0) {
		t->pa[1].id = (char *)"TST";
		t->doc.n_process_areas = 2;
		return 0;
	}
	if (strcmp(what, "bad-category") == 0) {
		t->pa[0].category = (char *)"Not A Category";
		return 0;
	}
	if (strcmp(what, "bad-id") == 0) {
		t->pa[0].id = (char *)"T ST";
		return 0;
	}
	if (strcmp(what, "generic-first") == 0) {
		t->goal_ptrs[0] = &t->goal[1];
		t->goal_ptrs[1] = &t->goal[0];
		return 0;
	}
	if (strcmp(what, "empty-title") == 0) {
		t->pr[0].title = (char *)"";
		return 0;
	}
	return 2;
}

int main(int argc, char **argv)
{
	Opra__V1__ModelImportRequest req = OPRA__V1__MODEL_IMPORT_REQUEST__INIT;
	Opra__V1__ModelImportResponse *resp = NULL;
	rpc_options o = {.n_urls = 1, .timeout_ms = 10000};
	rpc_client *c = NULL;
	tiny_model t;
	char key[33];
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: OPRA_TOKEN=... opra-model-push URL CASE\n");
		return 2;
	}
	tiny_build(&t);
	if (strcmp(argv[2], "no-model") != 0) {
		if (tiny_break(&t, argv[2]) != 0) {
			fprintf(stderr, "opra-model-push: unknown case '%s'\n", argv[2]);
			return 2;
		}
		req.model = &t.doc;
	}
	req.source_format = (char *)"opra";
	o.urls[0] = argv[1];
	o.token = getenv("OPRA_TOKEN");
	if (rpc_client_open(&c, &o) != OPRA_OK) {
		fprintf(stderr, "opra-model-push: %s\n", opra_err_msg());
		return 1;
	}
	rpc_new_key(key);
	rc = rpc_call(c, "opra.v1.Model/Import", &req.base,
		      &opra__v1__model_import_response__descriptor, (ProtobufCMessage **)&resp,
		      key);
	printf("%s %s\n", opra_status_name(rc), rc == OPRA_OK ? "imported" : opra_err_msg());
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	rpc_client_close(c);
	return rc == OPRA_OK || opra_status_exit_code(rc) != 7 ? 0 : 1;
}
