/* `opra report`: an appraisal's report as html, csv, json or OSCAL
 * assessment results, generated on the client from the server's answers
 * (docs/reports.md):
 *   Appraisal/Show   scope: models, process areas, instances, members
 *   Rating/Show      ratings with their explanations (compact cells)
 *   Report/Facts     weaknesses, judgements, chain head, events, seal
 *   Report/Evidence  the evidence index, in pages
 * report_fetch reads them all at one chain head (it starts over when the
 * appraisal changes in between). The writers are pure functions from the
 * decoded messages to a FILE, so tests call them on hand-made messages.
 *
 * Every writer escapes what came from the server for its format (HTML
 * entities, RFC 4180 quoting with a guard against spreadsheet formulas,
 * JSON strings) and returns OPRA_OK, or an error with the message set
 * (RESOURCE_EXHAUSTED, or INTERNAL when writing to f failed). */
#ifndef OPRA_CLIENT_REPORT_H
#define OPRA_CLIENT_REPORT_H

#include "rpc.h"

#include "opra/v1/appraisal.pb-c.h"
#include "opra/v1/rating.pb-c.h"
#include "opra/v1/report.pb-c.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Everything a report shows. The messages are borrowed (report_doc_free
 * frees them only when they came from report_fetch). */
typedef struct {
	const Opra__V1__AppraisalInfo *appraisal;
	const Opra__V1__RatingShowReply *rating; /* with explanations */
	const Opra__V1__ReportFactsReply *facts;
	Opra__V1__ReportEvidenceItem *const *evidence; /* id order */
	size_t n_evidence;
	const char *generator; /* "opra 0.1.0" */
	/* owned by report_fetch's result: */
	void *owned;
} report_doc;

/* Reads the report's facts for appraisal through rpc, all at one chain
 * head: Facts, Rating/Show (explain, compact), Appraisal/Show, then the
 * evidence pages (page_size 0: the server's default) carrying the head,
 * starting over up to 3 times when the appraisal changes meanwhile
 * (ABORTED after that). On OPRA_OK *doc holds the messages (free with
 * report_doc_free); otherwise the status of the failed call, message set. */
/* A cell of Rating/Show's compact form (rating.proto cell_values and
 * cell_suggested: F L P N Y -) as its JSON word (fi li pi ni ny); NULL for
 * '-' (none). Shared with opra rating show. */
const char *rating_cell_word(char code);

int report_fetch(report_doc *doc, rpc_client *rpc, const char *appraisal, int page_size);
void report_doc_free(report_doc *doc);

/* The writers. */
int report_write_html(FILE *f, const report_doc *d);
int report_write_csv(FILE *f, const report_doc *d);
int report_write_json(FILE *f, const report_doc *d);
int report_write_oscal(FILE *f, const report_doc *d);

/* The JSON documents behind the json and oscal formats (NULL when memory
 * runs out). */
json_t *report_json(const report_doc *d);
json_t *report_oscal(const report_doc *d);

/* ---- pieces, public for the unit tests ---- */

/* s as HTML text or attribute value: & < > " ' as entities, control
 * characters other than tab and newline as U+FFFD, bytes of invalid UTF-8
 * as U+FFFD. NULL writes nothing. */
void report_html_escape(FILE *f, const char *s);

/* s as one RFC 4180 field (no separator): quoted when it holds a comma,
 * quote, CR or LF, quotes doubled; a text starting with = + - @, tab or CR
 * (which spreadsheets would run as a formula) gets a leading apostrophe. */
void report_csv_field(FILE *f, const char *s);

/* A stable, name-based UUID (RFC 4122 layout, version 5 bits) for an object
 * of a report: the first 16 bytes of SHA-256("opra-report\0" appraisal
 * "\0" kind "\0" key) with the version and variant bits set. The same
 * inputs give the same UUID on every export. out: 37 bytes. */
void report_uuid(char out[37], const char *appraisal, const char *kind, const char *key);

/* An OSCAL token (^(\p{L}|_)(\p{L}|\p{N}|[.\-_])*$) for an id such as
 * "ADM:SG1.SP1": ASCII letters, digits, '.', '-', '_' kept, letters lower
 * case, anything else '_', a leading '_' when it does not start with a
 * letter. out_size >= 2. */
void report_oscal_token(char *out, size_t out_size, const char *id);

/* The capability profile's geometry (SVG user units). */
#define REPORT_SVG_LEFT	   48 /* y axis labels */
#define REPORT_SVG_TOP	   24
#define REPORT_SVG_LEVEL_H 50 /* one capability level */
#define REPORT_SVG_PLOT_H  (3 * REPORT_SVG_LEVEL_H)
#define REPORT_SVG_SLOT	   44 /* one process area */
#define REPORT_SVG_BAR_W   26
#define REPORT_SVG_RIGHT   24
#define REPORT_SVG_LABELS  28 /* PA names under the axis */
#define REPORT_SVG_LEGEND  44

typedef struct {
	int x, y, w, h; /* the bar (h 0 for level 0) */
	int target_y;	/* the target marker's line */
	int label_x;	/* centre of the slot */
	int baseline_y; /* the x axis */
	int marker_x0, marker_x1;
} report_svg_bar;

/* The bar of the process area at index with capability level (0-3) and
 * target (0-3); levels outside 0-3 are clamped. */
void report_svg_bar_geom(size_t index, int level, int target, report_svg_bar *out);
/* The chart's width and height for n process areas. */
void report_svg_size(size_t n, int *width, int *height);
/* Writes the capability profile of rating as an inline <svg>. */
void report_svg_profile(FILE *f, const Opra__V1__RatingShowReply *rating);

/* Cells of a practice, compact or not: the number of instances and, for
 * each, its name, value ("fi".."ny" or "none"), suggestion ("" when none)
 * and characterisation version. */
size_t report_n_cells(const report_doc *d, const Opra__V1__PracticeRating *p);
void report_cell(const report_doc *d, const Opra__V1__PracticeRating *p, size_t i,
		 const char **instance, const char **value, const char **suggested,
		 int32_t *version);

/* Counts per (practice, instance) from the evidence index and the
 * weaknesses, for the csv rows. */
typedef struct {
	uint32_t artifacts, affirmations; /* accepted */
	uint32_t pending;		  /* proposed */
	uint32_t weaknesses, significant;
} report_cell_stats;

typedef struct report_stats report_stats;
int report_stats_build(report_stats **out, const report_doc *d);
/* The counts of one cell (all zero when it has none). */
report_cell_stats report_stats_get(const report_stats *s, const char *practice,
				   const char *instance);
void report_stats_free(report_stats *s);

#endif
