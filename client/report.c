/* Reading a report's facts from the server at one chain head, and what the
 * writers share: escaping, stable UUIDs, OSCAL tokens, cells and per-cell
 * counts (report.h). */
#include "report.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"
#include "sha256.h"

#include <stdlib.h>
#include <string.h>

#define REPORT_FETCH_TRIES 4

static const char *const M_FACTS = "opra.v1.Report/Facts";
static const char *const M_EVIDENCE = "opra.v1.Report/Evidence";
static const char *const M_RATING = "opra.v1.Rating/Show";
static const char *const M_APPRAISAL = "opra.v1.Appraisal/Show";

/* What report_fetch owns. */
typedef struct {
	Opra__V1__ReportFactsReply *facts;
	Opra__V1__RatingShowReply *rating;
	Opra__V1__AppraisalReply *appraisal;
	Opra__V1__ReportEvidenceReply **pages;
	size_t n_pages, cap_pages;
	Opra__V1__ReportEvidenceItem **items;
} fetched;

static void fetched_free(fetched *f)
{
	if (f == NULL)
		return;
	if (f->facts)
		protobuf_c_message_free_unpacked(&f->facts->base, NULL);
	if (f->rating)
		protobuf_c_message_free_unpacked(&f->rating->base, NULL);
	if (f->appraisal)
		protobuf_c_message_free_unpacked(&f->appraisal->base, NULL);
	for (size_t i = 0; i < f->n_pages; i++)
		protobuf_c_message_free_unpacked(&f->pages[i]->base, NULL);
	opra_free(f->pages);
	opra_free(f->items);
	opra_free(f);
}

void report_doc_free(report_doc *doc)
{
	if (doc == NULL)
		return;
	fetched_free(doc->owned);
	memset(doc, 0, sizeof(*doc));
}

static int changed(const char *appraisal)
{
	return opra_err_set(OPRA_ABORTED,
			    "appraisal '%s' changed while the report was being read, again and "
			    "again; try again when it is quieter (or finalise it first)",
			    appraisal);
}

/* One attempt: OPRA_OK, ABORTED when the head moved in between (try
 * again), or the failure. */
static int fetch_once(fetched *f, rpc_client *rpc, const char *appraisal, int page_size)
{
	Opra__V1__ReportFactsRequest freq = OPRA__V1__REPORT_FACTS_REQUEST__INIT;
	Opra__V1__RatingShowRequest rreq = OPRA__V1__RATING_SHOW_REQUEST__INIT;
	Opra__V1__AppraisalRef areq = OPRA__V1__APPRAISAL_REF__INIT;
	int rc;

	freq.appraisal = (char *)appraisal;
	if ((rc = rpc_call(rpc, M_FACTS, &freq.base, &opra__v1__report_facts_reply__descriptor,
			   (ProtobufCMessage **)&f->facts, NULL)) != OPRA_OK)
		return rc;
	rreq.appraisal = (char *)appraisal;
	rreq.explain = true;
	rreq.compact = true;
	if ((rc = rpc_call(rpc, M_RATING, &rreq.base, &opra__v1__rating_show_reply__descriptor,
			   (ProtobufCMessage **)&f->rating, NULL)) != OPRA_OK)
		return rc;
	areq.appraisal = (char *)appraisal;
	if ((rc = rpc_call(rpc, M_APPRAISAL, &areq.base, &opra__v1__appraisal_reply__descriptor,
			   (ProtobufCMessage **)&f->appraisal, NULL)) != OPRA_OK)
		return rc;
	if (f->appraisal->appraisal == NULL)
		return opra_err_set(OPRA_INTERNAL, "the server's Appraisal/Show reply is empty");
	if (strcmp(f->rating->head, f->facts->head) != 0 ||
	    strcmp(f->appraisal->appraisal->head, f->facts->head) != 0)
		return opra_err_set(OPRA_ABORTED, "the appraisal changed while it was read");

	Opra__V1__ReportEvidenceRequest ereq = OPRA__V1__REPORT_EVIDENCE_REQUEST__INIT;
	ereq.appraisal = (char *)appraisal;
	ereq.limit = page_size;
	ereq.head = f->facts->head;
	size_t total = 0;
	for (;;) {
		Opra__V1__ReportEvidenceReply *page = NULL;
		if ((rc = rpc_call(rpc, M_EVIDENCE, &ereq.base,
				   &opra__v1__report_evidence_reply__descriptor,
				   (ProtobufCMessage **)&page, NULL)) != OPRA_OK)
			return rc;
		if (f->n_pages == f->cap_pages) {
			size_t cap = f->cap_pages ? 2 * f->cap_pages : 8;
			void *p = opra_realloc(f->pages, cap * sizeof(*f->pages));
			if (p == NULL) {
				protobuf_c_message_free_unpacked(&page->base, NULL);
				return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
			}
			f->pages = p;
			f->cap_pages = cap;
		}
		f->pages[f->n_pages++] = page;
		total += page->n_items;
		if (!page->more || page->n_items == 0)
			break;
		ereq.after_id = page->items[page->n_items - 1]->id;
	}
	f->items = opra_calloc(total + 1, sizeof(*f->items));
	if (f->items == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < f->n_pages; i++)
		for (size_t j = 0; j < f->pages[i]->n_items; j++)
			f->items[k++] = f->pages[i]->items[j];
	return OPRA_OK;
}

int report_fetch(report_doc *doc, rpc_client *rpc, const char *appraisal, int page_size)
{
	memset(doc, 0, sizeof(*doc));
	for (int attempt = 0; attempt < REPORT_FETCH_TRIES; attempt++) {
		fetched *f = opra_calloc(1, sizeof(*f));
		if (f == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		int rc = fetch_once(f, rpc, appraisal, page_size);
		if (rc == OPRA_OK) {
			size_t n = 0;
			for (size_t i = 0; i < f->n_pages; i++)
				n += f->pages[i]->n_items;
			doc->appraisal = f->appraisal->appraisal;
			doc->rating = f->rating;
			doc->facts = f->facts;
			doc->evidence = f->items;
			doc->n_evidence = n;
			doc->owned = f;
			return OPRA_OK;
		}
		fetched_free(f);
		if (rc != OPRA_ABORTED)
			return rc;
	}
	return changed(appraisal);
}

/* ---- escaping ---- */

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when the bytes
 * at s are not one. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80		   ? 1
		   : (s[0] & 0xe0) == 0xc0 ? 2
		   : (s[0] & 0xf0) == 0xe0 ? 3
		   : (s[0] & 0xf8) == 0xf0 ? 4
					   : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n && opra_utf8_valid((const char *)s, n) ? n : 0;
}

void report_html_escape(FILE *f, const char *s)
{
	if (s == NULL)
		return;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		const unsigned char *run = p;
		/* copy runs of plain characters at once */
		while (*p >= 0x20 && *p < 0x80 && *p != 0x7f && *p != '&' && *p != '<' &&
		       *p != '>' && *p != '"' && *p != '\'')
			p++;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), f);
		if (*p == '\0')
			break;
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			p++;
			continue;
		case '<':
			fputs("&lt;", f);
			p++;
			continue;
		case '>':
			fputs("&gt;", f);
			p++;
			continue;
		case '"':
			fputs("&quot;", f);
			p++;
			continue;
		case '\'':
			fputs("&#39;", f);
			p++;
			continue;
		case '\t':
		case '\n':
			fputc(*p, f);
			p++;
			continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fputs("&#xFFFD;", f);
			p++;
			continue;
		}
		size_t n = utf8_seq(p);
		if (n == 0) {
			fputs("&#xFFFD;", f);
			p++;
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
}

void report_csv_field(FILE *f, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return;
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
		       s[0] == '\r';
	bool quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	if (quote)
		fputc('"', f);
}

/* ---- identifiers ---- */

void report_uuid(char out[37], const char *appraisal, const char *kind, const char *key)
{
	static const char domain[] = "opra-report";
	uint8_t d[SHA256_BYTES];
	sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, domain, sizeof(domain)); /* with its NUL */
	sha256_update(&c, appraisal, strlen(appraisal) + 1);
	sha256_update(&c, kind, strlen(kind) + 1);
	sha256_update(&c, key, strlen(key));
	sha256_final(&c, d);
	d[6] = (uint8_t)((d[6] & 0x0f) | 0x50); /* version 5 (name-based) */
	d[8] = (uint8_t)((d[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = hex[d[i] >> 4];
		out[k++] = hex[d[i] & 15];
	}
	out[k] = '\0';
}

void report_oscal_token(char *out, size_t out_size, const char *id)
{
	size_t k = 0;
	const unsigned char *p = (const unsigned char *)id;

	if (out_size < 2)
		return;
	bool letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
	if (!letter)
		out[k++] = '_';
	for (; *p && k + 1 < out_size; p++) {
		unsigned char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			   c == '-' || c == '_'))
			c = '_';
		out[k++] = (char)c;
	}
	out[k] = '\0';
}

/* ---- cells ---- */

const char *rating_cell_word(char code)
{
	switch (code) {
	case 'F':
		return "fi";
	case 'L':
		return "li";
	case 'P':
		return "pi";
	case 'N':
		return "ni";
	case 'Y':
		return "ny";
	default:
		return NULL;
	}
}

size_t report_n_cells(const report_doc *d, const Opra__V1__PracticeRating *p)
{
	if (p->n_instances)
		return p->n_instances;
	size_t n = strlen(p->cell_values);
	return n < d->rating->n_instances ? n : d->rating->n_instances;
}

void report_cell(const report_doc *d, const Opra__V1__PracticeRating *p, size_t i,
		 const char **instance, const char **value, const char **suggested,
		 int32_t *version)
{
	if (p->n_instances) {
		const Opra__V1__InstanceValue *iv = p->instances[i];
		*instance = iv->instance;
		*value = iv->value;
		*suggested = iv->suggested;
		*version = iv->version;
		return;
	}
	const char *v = rating_cell_word(p->cell_values[i]);
	const char *s =
		i < strlen(p->cell_suggested) ? rating_cell_word(p->cell_suggested[i]) : NULL;
	*instance = d->rating->instances[i];
	*value = v ? v : "none";
	*suggested = s ? s : "";
	*version = i < p->n_cell_versions ? p->cell_versions[i] : 0;
}

/* ---- per-cell counts: an open-addressing map keyed by practice and
 * instance ---- */

typedef struct {
	char *key; /* "practice\x1finstance"; NULL: empty slot */
	report_cell_stats v;
} stats_slot;

struct report_stats {
	stats_slot *slots;
	size_t cap; /* a power of two */
};

static uint64_t fnv(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = a; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ 0x1f) * 1099511628211ull;
	for (const char *p = b; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static bool key_eq(const char *key, const char *a, const char *b)
{
	size_t na = strlen(a);
	return strncmp(key, a, na) == 0 && key[na] == 0x1f && strcmp(key + na + 1, b) == 0;
}

/* The slot of (a, b): found, or the empty one to fill. */
static stats_slot *stats_find(const report_stats *s, const char *a, const char *b)
{
	size_t i = (size_t)fnv(a, b) & (s->cap - 1);
	while (s->slots[i].key != NULL && !key_eq(s->slots[i].key, a, b))
		i = (i + 1) & (s->cap - 1);
	return &s->slots[i];
}

static report_cell_stats *stats_put(report_stats *s, const char *a, const char *b)
{
	stats_slot *slot = stats_find(s, a, b);
	if (slot->key == NULL) {
		size_t na = strlen(a), nb = strlen(b);
		slot->key = opra_malloc(na + nb + 2);
		if (slot->key == NULL)
			return NULL;
		memcpy(slot->key, a, na);
		slot->key[na] = 0x1f;
		memcpy(slot->key + na + 1, b, nb + 1);
	}
	return &slot->v;
}

int report_stats_build(report_stats **out, const report_doc *d)
{
	size_t n = d->n_evidence + (d->facts ? d->facts->n_weaknesses : 0);
	report_stats *s = opra_calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	s->cap = 16;
	while (s->cap < 2 * n + 16)
		s->cap *= 2;
	if ((s->slots = opra_calloc(s->cap, sizeof(*s->slots))) == NULL)
		goto oom;
	for (size_t i = 0; i < d->n_evidence; i++) {
		const Opra__V1__ReportEvidenceItem *e = d->evidence[i];
		report_cell_stats *v = stats_put(s, e->practice, e->instance);
		if (v == NULL)
			goto oom;
		if (strcmp(e->status, "accepted") == 0) {
			if (strcmp(e->kind, "artifact") == 0)
				v->artifacts++;
			else
				v->affirmations++;
		} else if (strcmp(e->status, "proposed") == 0) {
			v->pending++;
		}
	}
	for (size_t i = 0; d->facts && i < d->facts->n_weaknesses; i++) {
		const Opra__V1__ReportWeakness *w = d->facts->weaknesses[i];
		report_cell_stats *v = stats_put(s, w->practice, w->instance);
		if (v == NULL)
			goto oom;
		v->weaknesses++;
		v->significant += w->significant;
	}
	*out = s;
	return OPRA_OK;
oom:
	report_stats_free(s);
	return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

report_cell_stats report_stats_get(const report_stats *s, const char *practice,
				   const char *instance)
{
	report_cell_stats zero = {0, 0, 0, 0, 0};
	if (s == NULL)
		return zero;
	const stats_slot *slot = stats_find(s, practice, instance);
	return slot->key ? slot->v : zero;
}

void report_stats_free(report_stats *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->slots && i < s->cap; i++)
		opra_free(s->slots[i].key);
	opra_free(s->slots);
	opra_free(s);
}
