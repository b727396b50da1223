/* The csv report: one row per (process area, goal, practice, instance)
 * for spreadsheets, RFC 4180 (CRLF line ends, quoted fields where needed)
 * with a header row. Text cells that a spreadsheet would run as a formula
 * get a leading apostrophe (report_csv_field). docs/reports.md lists the
 * columns. */
#include "report.h"

#include "opra_err.h"

#include <string.h>

static const char *const columns[] = {
	"appraisal",
	"model",
	"process_area",
	"process_area_name",
	"pa_status",
	"capability_level",
	"target_level",
	"goal",
	"goal_rating",
	"above_target",
	"practice",
	"org_value",
	"aggregation_row",
	"judgement",
	"instance",
	"value",
	"suggested",
	"version",
	"accepted_artifacts",
	"accepted_affirmations",
	"proposed_evidence",
	"weaknesses",
	"significant_weaknesses",
	NULL,
};

static void sep(FILE *f)
{
	fputc(',', f);
}

/* The row's leading columns, up to and including the aggregation row and
 * judgement of the practice (p may be NULL for a goal without practices;
 * g NULL for a process area without goals). */
static void lead(FILE *f, const report_doc *d, const Opra__V1__PaRating *pa,
		 const Opra__V1__GoalRating *g, const Opra__V1__PracticeRating *p)
{
	report_csv_field(f, d->rating->appraisal);
	sep(f);
	report_csv_field(f, pa->model);
	sep(f);
	report_csv_field(f, pa->id);
	sep(f);
	report_csv_field(f, pa->name);
	sep(f);
	report_csv_field(f, pa->status);
	sep(f);
	/* a number only when rated: not-rated must not read as 0 */
	if (strcmp(pa->status, "rated") == 0)
		fprintf(f, "%d", pa->capability_level);
	sep(f);
	fprintf(f, "%d", pa->target_level);
	sep(f);
	if (g) {
		report_csv_field(f, g->id);
		sep(f);
		report_csv_field(f, g->rating);
		sep(f);
		fputs(g->above_target ? "true" : "false", f);
	} else {
		sep(f);
		sep(f);
	}
	sep(f);
	if (p) {
		report_csv_field(f, p->id);
		sep(f);
		report_csv_field(f, p->org_value);
		sep(f);
		report_csv_field(f, p->row);
		sep(f);
		report_csv_field(f, p->judgement);
	} else {
		sep(f);
		sep(f);
		sep(f);
	}
}

int report_write_csv(FILE *f, const report_doc *d)
{
	report_stats *st = NULL;
	int rc;

	if ((rc = report_stats_build(&st, d)) != OPRA_OK)
		return rc;
	for (size_t c = 0; columns[c]; c++) {
		if (c)
			sep(f);
		fputs(columns[c], f);
	}
	fputs("\r\n", f);
	const Opra__V1__RatingShowReply *r = d->rating;
	for (size_t i = 0; i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		if (pa->n_goals == 0) {
			lead(f, d, pa, NULL, NULL);
			fputs(",,,,,,,,,\r\n", f);
		}
		for (size_t k = 0; k < pa->n_goals; k++) {
			const Opra__V1__GoalRating *g = pa->goals[k];
			if (g->n_practices == 0) {
				lead(f, d, pa, g, NULL);
				fputs(",,,,,,,,,\r\n", f);
			}
			for (size_t m = 0; m < g->n_practices; m++) {
				const Opra__V1__PracticeRating *p = g->practices[m];
				size_t n = report_n_cells(d, p);
				if (n == 0) {
					lead(f, d, pa, g, p);
					fputs(",,,,,,,,,\r\n", f);
				}
				for (size_t c = 0; c < n; c++) {
					const char *inst, *value, *sugg;
					int32_t version;
					report_cell(d, p, c, &inst, &value, &sugg, &version);
					report_cell_stats s = report_stats_get(st, p->id, inst);
					lead(f, d, pa, g, p);
					sep(f);
					report_csv_field(f, inst);
					sep(f);
					report_csv_field(f, value);
					sep(f);
					report_csv_field(f, sugg);
					fprintf(f, ",%d,%u,%u,%u,%u,%u\r\n", (int)version,
						s.artifacts, s.affirmations, s.pending,
						s.weaknesses, s.significant);
				}
			}
		}
	}
	report_stats_free(st);
	if (ferror(f))
		return opra_err_set(OPRA_INTERNAL, "cannot write the csv report");
	return OPRA_OK;
}
