/* The Report service (proto/opra/v1/report.proto, docs/reports.md): what
 * `opra report` needs beyond Appraisal.Show and Rating.Show. Facts reads
 * the chain head, seal status, weaknesses and judgements in one
 * REPEATABLE READ snapshot; Evidence pages the evidence index by id and
 * refuses (ABORTED) a page whose appraisal moved past the head the client
 * started from, so one report never mixes two states of an appraisal.
 *
 * Read-only: readers are members (lead, appraiser, viewer), admin and
 * program-office, as for Rating.Show. */
#include "appraisal.h"
#include "method.h"
#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include "opra/v1/report.pb-c.h"

#include <stdio.h>
#include <string.h>

#define REPORT_PAGE_DEFAULT 5000
#define REPORT_PAGE_MAX	    20000
#define REPORT_HEAD_HEX	    64

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static int oom(void)
{
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- Facts ---- */

static int facts_validate(const ProtobufCMessage *in)
{
	return appraisal_check_name(((const Opra__V1__ReportFactsRequest *)in)->appraisal);
}

enum { F_META, F_WEAK, F_JUDGE, F_N };

/* clang-format splits these SQL texts one character a line around the TS()
 * macro: keep them as written. */
/* clang-format off */
static const char *const facts_sql[F_N] = {
	/* F_META */
	"SELECT encode(a.head, 'hex'), a.events, a.sealed_at IS NOT NULL, "
	"coalesce(" TS("a.sealed_at") ", ''), coalesce(su.name, ''), "
	"coalesce(encode(a.sealed_head, 'hex'), ''), "
	"coalesce(a.sealed_head = a.head, false), " TS("now()") ", " TS("a.created_at") ", "
	"coalesce((SELECT " TS("min(e.at)") " FROM events e WHERE e.appraisal_id = a.id), ''), "
	"coalesce((SELECT " TS("max(e.at)") " FROM events e WHERE e.appraisal_id = a.id), ''), "
	"(SELECT count(*) FROM evidence v WHERE v.appraisal_id = a.id) "
	"FROM appraisals a LEFT JOIN users su ON su.id = a.sealed_by WHERE a.id = $1::bigint",
	/* F_WEAK */
	"SELECT w.id, p.full_id, i.name, w.text, w.significant, u.name, " TS("w.created_at") ", "
	"w.site FROM weaknesses w JOIN practices p ON p.id = w.practice_id "
	"JOIN appraisal_instances i ON i.id = w.instance_id JOIN users u ON u.id = w.created_by "
	"WHERE w.appraisal_id = $1::bigint ORDER BY w.id",
	/* F_JUDGE */
	"SELECT p.full_id, j.value, j.rationale, j.version, u.name, " TS("j.judged_at") " "
	"FROM judgements j JOIN practices p ON p.id = j.practice_id "
	"JOIN users u ON u.id = j.judged_by WHERE j.appraisal_id = $1::bigint "
	"ORDER BY p.full_id, p.id",
};
/* clang-format on */

static int facts(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ReportFactsRequest *req = (const Opra__V1__ReportFactsRequest *)in;
	PGresult *r[F_N] = {NULL};
	Opra__V1__ReportWeakness *w = NULL, **wp = NULL;
	Opra__V1__ReportJudgement *j = NULL, **jp = NULL;
	appraisal_ref a;
	char aid[32];
	int rc;

	/* One snapshot for the head and the facts read with it. */
	if ((rc = db_cmd(c->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)) !=
	    OPRA_OK)
		return rc;
	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		goto done;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	const char *p[1] = {aid};
	for (int k = 0; k < F_N; k++)
		if ((rc = db_exec(&r[k], c->db, 1, facts_sql[k], 1, p)) != OPRA_OK)
			goto done;
	if (PQntuples(r[F_META]) != 1) {
		rc = opra_err_set(OPRA_NOT_FOUND, "appraisal '%s' does not exist", req->appraisal);
		goto done;
	}
	int nw = PQntuples(r[F_WEAK]), nj = PQntuples(r[F_JUDGE]);
	w = opra_calloc((size_t)nw + 1, sizeof(*w));
	wp = opra_calloc((size_t)nw + 1, sizeof(*wp));
	j = opra_calloc((size_t)nj + 1, sizeof(*j));
	jp = opra_calloc((size_t)nj + 1, sizeof(*jp));
	if (!w || !wp || !j || !jp) {
		rc = oom();
		goto done;
	}
	for (int i = 0; i < nw; i++) {
		PGresult *x = r[F_WEAK];
		opra__v1__report_weakness__init(&w[i]);
		w[i].id = db_to_ll(PQgetvalue(x, i, 0));
		w[i].practice = PQgetvalue(x, i, 1);
		w[i].instance = PQgetvalue(x, i, 2);
		w[i].text = PQgetvalue(x, i, 3);
		w[i].significant = PQgetvalue(x, i, 4)[0] == 't';
		w[i].created_by = PQgetvalue(x, i, 5);
		w[i].created_at = PQgetvalue(x, i, 6);
		w[i].site = PQgetvalue(x, i, 7);
		wp[i] = &w[i];
	}
	for (int i = 0; i < nj; i++) {
		PGresult *x = r[F_JUDGE];
		opra__v1__report_judgement__init(&j[i]);
		j[i].practice = PQgetvalue(x, i, 0);
		j[i].value = PQgetvalue(x, i, 1);
		j[i].rationale = PQgetvalue(x, i, 2);
		j[i].version = (int32_t)db_to_ll(PQgetvalue(x, i, 3));
		j[i].judged_by = PQgetvalue(x, i, 4);
		j[i].judged_at = PQgetvalue(x, i, 5);
		jp[i] = &j[i];
	}
	PGresult *m = r[F_META];
	Opra__V1__ReportFactsReply rep = OPRA__V1__REPORT_FACTS_REPLY__INIT;
	rep.appraisal = a.name;
	rep.head = PQgetvalue(m, 0, 0);
	rep.events = db_to_ll(PQgetvalue(m, 0, 1));
	rep.sealed = PQgetvalue(m, 0, 2)[0] == 't';
	rep.sealed_at = PQgetvalue(m, 0, 3);
	rep.sealed_by = PQgetvalue(m, 0, 4);
	rep.sealed_head = PQgetvalue(m, 0, 5);
	rep.seal_intact = PQgetvalue(m, 0, 6)[0] == 't';
	rep.generated_at = PQgetvalue(m, 0, 7);
	rep.created_at = PQgetvalue(m, 0, 8);
	rep.first_event_at = PQgetvalue(m, 0, 9);
	rep.last_event_at = PQgetvalue(m, 0, 10);
	rep.evidence_count = db_to_ll(PQgetvalue(m, 0, 11));
	rep.weaknesses = wp;
	rep.n_weaknesses = (size_t)nw;
	rep.judgements = jp;
	rep.n_judgements = (size_t)nj;
	rc = call_reply(c, &rep.base);
done:
	if (rc == OPRA_OK)
		rc = db_cmd(c->db, "COMMIT", 0, NULL);
	else
		db_rollback(c->db);
	for (int k = 0; k < F_N; k++)
		PQclear(r[k]);
	opra_free(w);
	opra_free(wp);
	opra_free(j);
	opra_free(jp);
	return rc;
}

/* ---- Evidence ---- */

static int evidence_validate(const ProtobufCMessage *in)
{
	const Opra__V1__ReportEvidenceRequest *r = (const Opra__V1__ReportEvidenceRequest *)in;
	int rc;
	if ((rc = appraisal_check_name(r->appraisal)) != OPRA_OK)
		return rc;
	if (r->after_id < 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "after_id must be 0 (from the start) or the last id of the "
				    "previous page, not %lld",
				    (long long)r->after_id);
	if (r->limit < 0 || r->limit > REPORT_PAGE_MAX)
		return opra_err_set(OPRA_OUT_OF_RANGE,
				    "limit must be from 1 to %d (0: the server's default of %d), "
				    "not %d",
				    REPORT_PAGE_MAX, REPORT_PAGE_DEFAULT, (int)r->limit);
	if (r->head[0]) {
		size_t n = strlen(r->head);
		bool hex = n == REPORT_HEAD_HEX;
		for (size_t i = 0; hex && i < n; i++)
			hex = (r->head[i] >= '0' && r->head[i] <= '9') ||
			      (r->head[i] >= 'a' && r->head[i] <= 'f');
		if (!hex)
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"head must be the 64 lower-case hex digits Report/Facts "
				"gave (or empty)");
	}
	return OPRA_OK;
}

static int evidence(call *c, const ProtobufCMessage *in)
{
	const Opra__V1__ReportEvidenceRequest *req = (const Opra__V1__ReportEvidenceRequest *)in;
	PGresult *r = NULL, *h = NULL;
	Opra__V1__ReportEvidenceItem *items = NULL, **ptrs = NULL;
	appraisal_ref a;
	char aid[32], after[32], limit[16];
	int rc;

	if ((rc = db_cmd(c->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)) !=
	    OPRA_OK)
		return rc;
	if ((rc = appraisal_open(c, req->appraisal, MEMBERS_READ, APPR_STAFF_READS, &a)) != OPRA_OK)
		goto done;
	snprintf(aid, sizeof(aid), "%lld", a.id);
	snprintf(after, sizeof(after), "%lld", (long long)req->after_id);
	int want = req->limit > 0 ? req->limit : REPORT_PAGE_DEFAULT;
	/* one more than asked, to know whether another page follows */
	snprintf(limit, sizeof(limit), "%d", want + 1);
	const char *ph[1] = {aid};
	if ((rc = db_exec(&h, c->db, 1,
			  "SELECT encode(head, 'hex') FROM appraisals WHERE id = "
			  "$1::bigint",
			  1, ph)) != OPRA_OK)
		goto done;
	const char *head = PQntuples(h) == 1 ? PQgetvalue(h, 0, 0) : "";
	if (req->head[0] && strcmp(head, req->head) != 0) {
		rc = opra_err_set(OPRA_ABORTED,
				  "appraisal '%s' changed while the report was being read (its "
				  "chain head moved); read it again from Report/Facts",
				  a.name);
		goto done;
	}
	const char *p[3] = {aid, after, limit};
	rc = db_exec(
		&r, c->db, 1,
		"SELECT e.id, p.full_id, i.name, e.kind, e.title, e.status, "
		"encode(e.sha256, 'hex'), e.size, u.name, " TS(
			"e.submitted_at") ", e.site, "
					  "e.file_name FROM evidence e JOIN practices p ON p.id = "
					  "e.practice_id "
					  "JOIN appraisal_instances i ON i.id = e.instance_id "
					  "JOIN users u ON u.id = e.submitted_by "
					  "WHERE e.appraisal_id = $1::bigint AND e.id > $2::bigint "
					  "ORDER BY e.id LIMIT $3::integer",
		3, p);
	if (rc != OPRA_OK)
		goto done;
	int n = PQntuples(r);
	bool more = n > want;
	if (more)
		n = want;
	items = opra_calloc((size_t)n + 1, sizeof(*items));
	ptrs = opra_calloc((size_t)n + 1, sizeof(*ptrs));
	if (items == NULL || ptrs == NULL) {
		rc = oom();
		goto done;
	}
	for (int i = 0; i < n; i++) {
		Opra__V1__ReportEvidenceItem *it = &items[i];
		opra__v1__report_evidence_item__init(it);
		it->id = db_to_ll(PQgetvalue(r, i, 0));
		it->practice = PQgetvalue(r, i, 1);
		it->instance = PQgetvalue(r, i, 2);
		it->kind = PQgetvalue(r, i, 3);
		it->title = PQgetvalue(r, i, 4);
		it->status = PQgetvalue(r, i, 5);
		it->sha256 = PQgetvalue(r, i, 6);
		it->size = (uint64_t)db_to_ll(PQgetvalue(r, i, 7));
		it->submitted_by = PQgetvalue(r, i, 8);
		it->submitted_at = PQgetvalue(r, i, 9);
		it->site = PQgetvalue(r, i, 10);
		it->file_name = PQgetvalue(r, i, 11);
		ptrs[i] = it;
	}
	Opra__V1__ReportEvidenceReply rep = OPRA__V1__REPORT_EVIDENCE_REPLY__INIT;
	rep.items = ptrs;
	rep.n_items = (size_t)n;
	rep.more = more;
	rep.head = (char *)head;
	rc = call_reply(c, &rep.base);
done:
	if (rc == OPRA_OK)
		rc = db_cmd(c->db, "COMMIT", 0, NULL);
	else
		db_rollback(c->db);
	PQclear(r);
	PQclear(h);
	opra_free(items);
	opra_free(ptrs);
	return rc;
}

static const method_impl methods[] = {
	{"Facts", facts, facts_validate, ROLES_ANY, 0, NULL},
	{"Evidence", evidence, evidence_validate, ROLES_ANY, 0, NULL},
};

const service_impl svc_report = {&opra__v1__report__descriptor, methods,
				 sizeof(methods) / sizeof(methods[0])};
