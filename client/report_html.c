/* The html report: one self-contained file (inline CSS and SVG; no
 * scripts, fonts, images or links to fetch) that prints well:
 *   summary         appraisal, scope, chain head, event count, seal status
 *   profile         the capability levels as an inline SVG bar chart: a bar
 *                   per process area (0-3) with its target as a marker;
 *                   not rated (hatched, "NR") and out of scope ("n/a") look
 *                   different from level 0 (a stub on the axis, "0")
 *   goals           every goal's rating with its practices' labels and the
 *                   engine's explanation
 *   judgements, weaknesses, evidence index (with SHA-256), and the chain
 * Every text from the server goes through report_html_escape. */
#include "report.h"

#include "opra_err.h"

#include <string.h>

#define E(s) report_html_escape(f, (s))

static const char css[] =
	"body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1a1a1a;"
	"margin:24px auto;max-width:1180px;padding:0 16px;line-height:1.4;font-size:14px}"
	"h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;border-bottom:2px solid #333;"
	"padding-bottom:2px;margin-top:28px}"
	"table{border-collapse:collapse;width:100%;margin:8px 0}"
	"th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}"
	"th{background:#eee}tr:nth-child(even) td{background:#fafafa}"
	".hash{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px;"
	"word-break:break-all}"
	".num{text-align:right}.muted{color:#666}"
	".satisfied{color:#1b5e20;font-weight:600}.unsatisfied{color:#b71c1c;font-weight:600}"
	".not-rated{color:#8d6e00;font-weight:600}"
	".seal-ok{color:#1b5e20;font-weight:600}.seal-open{color:#8d6e00;font-weight:600}"
	".seal-bad{color:#b71c1c;font-weight:600}"
	"dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px}"
	"dl.facts dt{font-weight:600}dl.facts dd{margin:0}"
	".expl{white-space:pre-line;color:#444;font-size:12px}"
	"svg text{font-family:Helvetica,Arial,sans-serif}"
	"@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}"
	"tr,svg{break-inside:avoid}thead{display:table-header-group}"
	"tr:nth-child(even) td{background:none}a{color:inherit}}";

/* ---- the capability profile ---- */

static int clamp_level(int l)
{
	return l < 0 ? 0 : l > 3 ? 3 : l;
}

void report_svg_bar_geom(size_t index, int level, int target, report_svg_bar *out)
{
	level = clamp_level(level);
	target = clamp_level(target);
	out->baseline_y = REPORT_SVG_TOP + REPORT_SVG_PLOT_H;
	out->label_x = REPORT_SVG_LEFT + (int)index * REPORT_SVG_SLOT + REPORT_SVG_SLOT / 2;
	out->w = REPORT_SVG_BAR_W;
	out->x = out->label_x - REPORT_SVG_BAR_W / 2;
	out->h = level * REPORT_SVG_LEVEL_H;
	out->y = out->baseline_y - out->h;
	out->target_y = out->baseline_y - target * REPORT_SVG_LEVEL_H;
	out->marker_x0 = out->x - 6;
	out->marker_x1 = out->x + REPORT_SVG_BAR_W + 6;
}

void report_svg_size(size_t n, int *width, int *height)
{
	int slots = n ? (int)n : 1;
	int w = REPORT_SVG_LEFT + slots * REPORT_SVG_SLOT + REPORT_SVG_RIGHT;
	/* the legend needs room too */
	*width = w < 720 ? 720 : w;
	*height = REPORT_SVG_TOP + REPORT_SVG_PLOT_H + REPORT_SVG_LABELS + REPORT_SVG_LEGEND;
}

void report_svg_profile(FILE *f, const Opra__V1__RatingShowReply *r)
{
	int width, height;
	report_svg_size(r->n_process_areas, &width, &height);
	int plot_right = REPORT_SVG_LEFT +
			 (int)(r->n_process_areas ? r->n_process_areas : 1) * REPORT_SVG_SLOT;
	int base = REPORT_SVG_TOP + REPORT_SVG_PLOT_H;

	fprintf(f,
		"<svg id=\"profile\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
		"width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"aria-labelledby=\"profile-title\">\n"
		"<title id=\"profile-title\">Capability profile of ",
		width, height, width, height);
	E(r->appraisal);
	fputs(": capability level per process area against its target</title>\n"
	      "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" "
	      "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
	      "<rect width=\"6\" height=\"6\" fill=\"#fff4d6\"/>"
	      "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#c79a00\" "
	      "stroke-width=\"2\"/></pattern></defs>\n",
	      f);
	/* grid and y axis: one line per level */
	for (int l = 0; l <= 3; l++) {
		int y = base - l * REPORT_SVG_LEVEL_H;
		fprintf(f,
			"<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
			"stroke=\"%s\" stroke-width=\"1\"/>"
			"<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\" "
			"fill=\"#333\">%d</text>\n",
			REPORT_SVG_LEFT, y, plot_right, y, l ? "#ddd" : "#333", REPORT_SVG_LEFT - 6,
			y + 4, l);
	}
	fprintf(f,
		"<text x=\"12\" y=\"%d\" font-size=\"11\" fill=\"#333\" "
		"transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">capability level</text>\n",
		REPORT_SVG_TOP + REPORT_SVG_PLOT_H / 2, REPORT_SVG_TOP + REPORT_SVG_PLOT_H / 2);
	for (size_t i = 0; i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		bool rated = strcmp(pa->status, "rated") == 0;
		bool out = strcmp(pa->status, "out-of-scope") == 0;
		report_svg_bar b;
		report_svg_bar_geom(i, rated ? pa->capability_level : 0, pa->target_level, &b);
		fputs("<g class=\"pa\" data-pa=\"", f);
		E(pa->id);
		fprintf(f, "\" data-status=\"");
		E(pa->status);
		fprintf(f, "\" data-level=\"%d\" data-target=\"%d\"><title>",
			rated ? pa->capability_level : -1, pa->target_level);
		E(pa->id);
		fputs(" ", f);
		E(pa->name);
		if (rated)
			fprintf(f, ": capability level %d, target %d", pa->capability_level,
				pa->target_level);
		else if (out)
			fputs(": out of scope", f);
		else
			fprintf(f, ": not rated (level %d confirmed so far), target %d",
				pa->level_reached < 0 ? 0 : pa->level_reached, pa->target_level);
		fputs("</title>", f);
		if (rated && pa->capability_level > 0) {
			bool met = pa->capability_level >= pa->target_level;
			fprintf(f,
				"<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
				"fill=\"%s\"/>",
				b.x, b.y, b.w, b.h, met ? "#2e7d32" : "#1565c0");
		} else if (rated) {
			/* level 0: a stub on the axis and the figure */
			fprintf(f,
				"<rect class=\"bar zero\" x=\"%d\" y=\"%d\" width=\"%d\" "
				"height=\"3\" "
				"fill=\"#b71c1c\"/>",
				b.x, b.baseline_y - 3, b.w);
		} else if (!out) {
			report_svg_bar nr;
			report_svg_bar_geom(i, 3, pa->target_level, &nr);
			fprintf(f,
				"<rect class=\"bar not-rated\" x=\"%d\" y=\"%d\" width=\"%d\" "
				"height=\"%d\" fill=\"url(#hatch)\" stroke=\"#c79a00\" "
				"stroke-dasharray=\"4 2\"/>",
				nr.x, nr.y, nr.w, nr.h);
		}
		/* the figure above the bar */
		const char *label = out ? "n/a" : rated ? NULL : "NR";
		int ly = (rated ? b.y : out ? base : REPORT_SVG_TOP) - 5;
		fprintf(f,
			"<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" "
			"fill=\"%s\">",
			b.label_x, ly < 10 ? 10 : ly, out ? "#888" : "#1a1a1a");
		if (label)
			fputs(label, f);
		else
			fprintf(f, "%d", pa->capability_level);
		fputs("</text>", f);
		if (!out)
			fprintf(f,
				"<line class=\"target\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
				"stroke=\"#d81b60\" stroke-width=\"3\"/>",
				b.marker_x0, b.target_y, b.marker_x1, b.target_y);
		fprintf(f,
			"<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" "
			"fill=\"#1a1a1a\">",
			b.label_x, base + 16);
		E(pa->id);
		fputs("</text></g>\n", f);
	}
	/* legend */
	int ly = base + REPORT_SVG_LABELS + 10, lx = REPORT_SVG_LEFT;
	fprintf(f,
		"<g class=\"legend\" font-size=\"11\">"
		"<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"10\" fill=\"#2e7d32\"/>"
		"<text x=\"%d\" y=\"%d\">level (target met)</text>"
		"<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"10\" fill=\"#1565c0\"/>"
		"<text x=\"%d\" y=\"%d\">level (below target)</text>"
		"<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"#b71c1c\"/>"
		"<text x=\"%d\" y=\"%d\">0 incomplete</text>"
		"<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"10\" fill=\"url(#hatch)\" "
		"stroke=\"#c79a00\" stroke-dasharray=\"4 2\"/>"
		"<text x=\"%d\" y=\"%d\">NR not rated</text>"
		"<text x=\"%d\" y=\"%d\" fill=\"#888\">n/a</text>"
		"<text x=\"%d\" y=\"%d\">out of scope</text>"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#d81b60\" "
		"stroke-width=\"3\"/><text x=\"%d\" y=\"%d\">target</text></g>\n",
		lx, ly, lx + 18, ly + 9, lx + 130, ly, lx + 148, ly + 9, lx + 275, ly + 7, lx + 293,
		ly + 9, lx + 380, ly, lx + 398, ly + 9, lx + 478, ly + 9, lx + 500, ly + 9,
		lx + 580, ly + 5, lx + 598, ly + 5, lx + 604, ly + 9);
	fputs("</svg>\n", f);
}

/* ---- sections ---- */

static void facts_section(FILE *f, const report_doc *d)
{
	const Opra__V1__AppraisalInfo *a = d->appraisal;
	const Opra__V1__ReportFactsReply *fa = d->facts;

	fputs("<section id=\"summary\"><dl class=\"facts\">\n<dt>Appraisal</dt><dd>", f);
	E(a->name);
	fputs("</dd>\n", f);
	if (a->description[0]) {
		fputs("<dt>Description</dt><dd>", f);
		E(a->description);
		fputs("</dd>\n", f);
	}
	fputs("<dt>Models</dt><dd>", f);
	for (size_t i = 0; i < a->n_models; i++) {
		if (i)
			fputs(", ", f);
		E(a->models[i]);
	}
	fprintf(f, "</dd>\n<dt>Process areas</dt><dd>%zu in scope</dd>\n", a->n_process_areas);
	fputs("<dt>Instances</dt><dd>", f);
	for (size_t i = 0; i < a->n_instances; i++) {
		if (i)
			fputs(", ", f);
		E(a->instances[i]->name);
		fputs(" <span class=\"muted\">(", f);
		E(a->instances[i]->kind);
		fputs(")</span>", f);
	}
	if (a->n_instances == 0)
		fputs("none", f);
	fprintf(f, "</dd>\n<dt>Affirmation coverage</dt><dd>%d %%</dd>\n", a->affirmation_coverage);
	fputs("<dt>Created</dt><dd>", f);
	E(fa->created_at);
	if (a->created_by[0]) {
		fputs(" by ", f);
		E(a->created_by);
	}
	fputs("</dd>\n<dt>Seal</dt><dd id=\"seal\">", f);
	if (!fa->sealed) {
		fputs("<span class=\"seal-open\">open: not finalised</span> (ratings may still "
		      "change)",
		      f);
	} else {
		fprintf(f, "<span class=\"%s\">", fa->seal_intact ? "seal-ok" : "seal-bad");
		fputs(fa->seal_intact ? "finalised and sealed"
				      : "sealed, but the chain moved "
					"past the sealed head",
		      f);
		fputs("</span> at ", f);
		E(fa->sealed_at);
		if (fa->sealed_by[0]) {
			fputs(" by ", f);
			E(fa->sealed_by);
		}
		fputs("; sealed head <span class=\"hash\">", f);
		E(fa->sealed_head);
		fputs("</span>", f);
	}
	fputs("</dd>\n<dt>Event chain</dt><dd id=\"chain\"><span class=\"hash\">", f);
	E(fa->head);
	fprintf(f, "</span> after %lld events", (long long)fa->events);
	fputs(" (verify with <code>opra audit ", f);
	E(a->name);
	fputs(" --verify</code>)</dd>\n<dt>Generated</dt><dd>", f);
	E(fa->generated_at);
	fputs(" by ", f);
	E(d->generator ? d->generator : "opra");
	fputs("</dd>\n</dl></section>\n", f);
}

static void label_cell(FILE *f, const char *v)
{
	/* "fi" -> "FI"; other words as they are */
	if (strlen(v) == 2) {
		for (const char *p = v; *p; p++)
			fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, f);
		return;
	}
	E(v);
}

static void profile_table(FILE *f, const Opra__V1__RatingShowReply *r)
{
	fputs("<table id=\"levels\"><thead><tr><th>Process area</th><th>Name</th><th>Model</th>"
	      "<th>Status</th><th class=\"num\">Capability level</th>"
	      "<th class=\"num\">Target</th></tr></thead><tbody>\n",
	      f);
	for (size_t i = 0; i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		bool rated = strcmp(pa->status, "rated") == 0;
		fputs("<tr><td>", f);
		E(pa->id);
		fputs("</td><td>", f);
		E(pa->name);
		fputs("</td><td>", f);
		E(pa->model);
		fputs("</td><td>", f);
		E(pa->status);
		if (!rated && strcmp(pa->status, "not-rated") == 0 && pa->level_reached > 0)
			fprintf(f, " (CL%d confirmed so far)", pa->level_reached);
		fputs("</td><td class=\"num\">", f);
		if (rated)
			fprintf(f, "%d", pa->capability_level);
		else
			fputs("&#8212;", f);
		fprintf(f, "</td><td class=\"num\">%d</td></tr>\n", pa->target_level);
	}
	fputs("</tbody></table>\n", f);
}

static void goal_table(FILE *f, const report_doc *d)
{
	const Opra__V1__RatingShowReply *r = d->rating;
	fputs("<table id=\"goals\"><thead><tr><th>Process area</th><th>Goal</th><th>Rating</th>"
	      "<th>Practice</th><th>Org. label</th><th>Instances</th>"
	      "<th class=\"num\">Weaknesses</th></tr></thead><tbody>\n",
	      f);
	for (size_t i = 0; i < r->n_process_areas; i++) {
		const Opra__V1__PaRating *pa = r->process_areas[i];
		for (size_t k = 0; k < pa->n_goals; k++) {
			const Opra__V1__GoalRating *g = pa->goals[k];
			size_t rows = g->n_practices ? g->n_practices : 1;
			for (size_t m = 0; m < rows; m++) {
				const Opra__V1__PracticeRating *p =
					g->n_practices ? g->practices[m] : NULL;
				fputs("<tr>", f);
				if (m == 0) {
					fprintf(f, "<td rowspan=\"%zu\">", rows);
					E(pa->id);
					fprintf(f, "</td><td rowspan=\"%zu\">", rows);
					E(g->id);
					if (g->above_target)
						fputs(" <span class=\"muted\">(above "
						      "target)</span>",
						      f);
					fprintf(f, "</td><td rowspan=\"%zu\"><span class=\"", rows);
					E(g->rating);
					fputs("\">", f);
					E(g->rating);
					fputs("</span>", f);
					if (g->explanation[0] && !g->above_target) {
						fputs("<div class=\"expl\">", f);
						E(g->explanation);
						fputs("</div>", f);
					}
					fputs("</td>", f);
				}
				if (p == NULL) {
					fputs("<td colspan=\"4\" class=\"muted\">no "
					      "practices</td></tr>\n",
					      f);
					continue;
				}
				fputs("<td>", f);
				E(p->id);
				fputs("</td><td>", f);
				label_cell(f, p->org_value);
				if (p->judgement[0]) {
					fputs(" <span class=\"muted\">(judged ", f);
					label_cell(f, p->judgement);
					fputs(")</span>", f);
				}
				fputs("</td><td>", f);
				/* counts of each label over the instances */
				static const char *const labels[] = {"fi", "li", "pi",
								     "ni", "ny", "none"};
				size_t counts[6] = {0}, n = report_n_cells(d, p);
				for (size_t c = 0; c < n; c++) {
					const char *inst, *value, *sugg;
					int32_t version;
					report_cell(d, p, c, &inst, &value, &sugg, &version);
					for (size_t l = 0; l < 6; l++)
						if (strcmp(value, labels[l]) == 0)
							counts[l]++;
				}
				bool any = false;
				for (size_t l = 0; l < 6; l++) {
					if (!counts[l])
						continue;
					fprintf(f, "%s%zu&#215;", any ? ", " : "", counts[l]);
					label_cell(f, labels[l]);
					any = true;
				}
				if (!any)
					fputs("&#8212;", f);
				fprintf(f, "</td><td class=\"num\">%d", p->weaknesses);
				if (p->significant_weaknesses)
					fprintf(f, " (%d significant)", p->significant_weaknesses);
				fputs("</td></tr>\n", f);
			}
		}
	}
	fputs("</tbody></table>\n", f);
}

static void judgement_table(FILE *f, const report_doc *d)
{
	const Opra__V1__ReportFactsReply *fa = d->facts;
	if (fa->n_judgements == 0) {
		fputs("<p id=\"judgements\" class=\"muted\">No judgements were recorded.</p>\n", f);
		return;
	}
	fputs("<table id=\"judgements\"><thead><tr><th>Practice</th><th>Label</th>"
	      "<th>Rationale</th><th>By</th><th>At</th></tr></thead><tbody>\n",
	      f);
	for (size_t i = 0; i < fa->n_judgements; i++) {
		const Opra__V1__ReportJudgement *j = fa->judgements[i];
		fputs("<tr><td>", f);
		E(j->practice);
		fputs("</td><td>", f);
		label_cell(f, j->value);
		fputs("</td><td>", f);
		E(j->rationale);
		fputs("</td><td>", f);
		E(j->judged_by);
		fputs("</td><td>", f);
		E(j->judged_at);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void weakness_table(FILE *f, const report_doc *d)
{
	const Opra__V1__ReportFactsReply *fa = d->facts;
	if (fa->n_weaknesses == 0) {
		fputs("<p id=\"weaknesses\" class=\"muted\">No weaknesses were recorded.</p>\n", f);
		return;
	}
	fputs("<table id=\"weaknesses\"><thead><tr><th class=\"num\">#</th><th>Practice</th>"
	      "<th>Instance</th><th>Significance</th><th>Weakness</th><th>By</th><th>At</th>"
	      "</tr></thead><tbody>\n",
	      f);
	for (size_t i = 0; i < fa->n_weaknesses; i++) {
		const Opra__V1__ReportWeakness *w = fa->weaknesses[i];
		fprintf(f, "<tr><td class=\"num\">%lld</td><td>", (long long)w->id);
		E(w->practice);
		fputs("</td><td>", f);
		E(w->instance);
		fputs(w->significant ? "</td><td class=\"unsatisfied\">significant</td><td>"
				     : "</td><td>not significant</td><td>",
		      f);
		E(w->text);
		fputs("</td><td>", f);
		E(w->created_by);
		fputs("</td><td>", f);
		E(w->created_at);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void evidence_table(FILE *f, const report_doc *d)
{
	if (d->n_evidence == 0) {
		fputs("<p id=\"evidence\" class=\"muted\">No evidence was submitted.</p>\n", f);
		return;
	}
	fputs("<table id=\"evidence\"><thead><tr><th class=\"num\">Id</th><th>Practice</th>"
	      "<th>Instance</th><th>Kind</th><th>Title</th><th>Status</th><th>SHA-256</th>"
	      "<th class=\"num\">Bytes</th><th>Submitter</th><th>At</th></tr></thead><tbody>\n",
	      f);
	for (size_t i = 0; i < d->n_evidence; i++) {
		const Opra__V1__ReportEvidenceItem *e = d->evidence[i];
		fprintf(f, "<tr><td class=\"num\">%lld</td><td>", (long long)e->id);
		E(e->practice);
		fputs("</td><td>", f);
		E(e->instance);
		fputs("</td><td>", f);
		E(e->kind);
		fputs("</td><td>", f);
		E(e->title[0] ? e->title : e->file_name);
		fputs("</td><td>", f);
		E(e->status);
		fputs("</td><td class=\"hash\">", f);
		E(e->sha256);
		fprintf(f, "</td><td class=\"num\">%llu</td><td>", (unsigned long long)e->size);
		E(e->submitted_by);
		fputs("</td><td>", f);
		E(e->submitted_at);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

int report_write_html(FILE *f, const report_doc *d)
{
	const Opra__V1__RatingShowReply *r = d->rating;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"",
	      f);
	E(d->generator ? d->generator : "opra");
	fputs("\">\n<title>Appraisal report: ", f);
	E(r->appraisal);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
	fputs("<h1>Appraisal report: ", f);
	E(r->appraisal);
	fputs("</h1>\n<p class=\"muted\">Capability appraisal (CERT-RMM, SCAMPI-based rules); "
	      "ratings recomputed by the server at the chain head below.</p>\n",
	      f);
	facts_section(f, d);
	fputs("<h2>Capability profile</h2>\n", f);
	size_t rated = 0;
	for (size_t i = 0; i < r->n_process_areas; i++)
		rated += strcmp(r->process_areas[i]->status, "rated") == 0;
	if (r->n_process_areas == 0)
		fputs("<p class=\"muted\">No process areas are in scope: nothing is rated.</p>\n",
		      f);
	else if (rated == 0)
		fputs("<p id=\"nothing-rated\" class=\"not-rated\">No process area is rated yet: "
		      "the goals below say what is missing (labels, accepted artifacts, "
		      "affirmations or judgements).</p>\n",
		      f);
	report_svg_profile(f, r);
	profile_table(f, r);
	fputs("<h2>Goals and practices</h2>\n", f);
	goal_table(f, d);
	fputs("<h2>Judgements</h2>\n", f);
	judgement_table(f, d);
	fputs("<h2>Weaknesses</h2>\n", f);
	weakness_table(f, d);
	fprintf(f,
		"<h2>Evidence index</h2>\n<p>%zu item(s); the SHA-256 identifies each "
		"item's bytes (<code>opra evidence get ID</code> fetches them).</p>\n",
		d->n_evidence);
	evidence_table(f, d);
	fputs("<h2>Event chain</h2>\n<p id=\"chain-foot\">Head <span class=\"hash\">", f);
	E(d->facts->head);
	fprintf(f, "</span> after %lld events; ", (long long)d->facts->events);
	fputs(d->facts->sealed ? "finalised." : "not finalised.", f);
	fputs("</p>\n</body>\n</html>\n", f);
	if (ferror(f))
		return opra_err_set(OPRA_INTERNAL, "cannot write the html report");
	return OPRA_OK;
}
