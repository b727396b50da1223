/* The rating engine, rule by rule (docs/rating.md): the §3 suggestion
 * table, the §4 aggregation rows A1-A5 with NY handling and judgements, the
 * §5 goal rules with coverage, the §6 cumulative capability level, and the
 * explanations. Each table row is one case a user of `opra rating show`
 * would see. */
#include "opra_err.h"
#include "rating.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

/* ---- a small appraisal built in memory ----------------------------------------- */

#define MAXPA 4
#define MAXG  16
#define MAXP  24
#define MAXI  8
#define MAXW  16

typedef struct {
	rating_pa pa[MAXPA];
	rating_goal goal[MAXG];
	rating_practice prac[MAXP];
	char pid[MAXP][32];
	const char *inst[MAXI];
	rating_cell cell[MAXP * MAXI];
	rating_weakness weak[MAXW];
	uint32_t npa, ngoal, nprac, ninst, nweak;
	uint8_t threshold;
	rating_input in;
	uint8_t sug[MAXP * MAXI];
	rating_practice_result pr[MAXP];
	rating_goal_result gr[MAXG];
	rating_pa_result par[MAXPA];
	rating_output out;
} fx;

static const char *default_instances[MAXI] = {"claims", "billing", "payroll", "web",
					      "mail",	"hr",	   "crm",     "erp"};

static void fx_init(fx *f, uint32_t ninst)
{
	memset(f, 0, sizeof(*f));
	f->ninst = ninst;
	for (uint32_t i = 0; i < ninst; i++)
		f->inst[i] = default_instances[i];
	f->threshold = 50;
}

static uint32_t fx_pa(fx *f, const char *id, int target)
{
	assert_true(f->npa < MAXPA);
	rating_pa *a = &f->pa[f->npa];
	a->id = id;
	a->in_scope = 1;
	a->target_level = (uint8_t)target;
	a->first_goal = f->ngoal;
	return f->npa++;
}

static uint32_t fx_goal(fx *f, const char *id, int generic_level)
{
	assert_true(f->ngoal < MAXG && f->npa > 0);
	rating_goal *g = &f->goal[f->ngoal];
	g->id = id;
	g->generic_level = (uint8_t)generic_level;
	g->first_practice = f->nprac;
	f->pa[f->npa - 1].n_goals++;
	return f->ngoal++;
}

static int parse_label(const char *t)
{
	if (strncmp(t, "--", 2) == 0)
		return RATING_NONE;
	char two[3] = {t[0], t[1], '\0'};
	int v = rating_value_parse(two);
	assert_true(v > 0);
	return v;
}

/* Adds a practice to the last goal; labels: one token per instance, "FI",
 * "LI", "PI", "NI", "NY" or "--" (none). Every cell gets one accepted
 * artifact and one accepted affirmation unless changed with fx_evidence. */
static uint32_t fx_practice(fx *f, const char *labels)
{
	assert_true(f->nprac < MAXP && f->ngoal > 0);
	uint32_t p = f->nprac++;
	rating_goal *g = &f->goal[f->ngoal - 1];
	snprintf(f->pid[p], sizeof(f->pid[p]), "%s:%s.%s%u", f->pa[f->npa - 1].id, g->id,
		 g->generic_level ? "GP" : "SP", g->n_practices + 1);
	g->n_practices++;
	f->prac[p].id = f->pid[p];
	assert_int_equal(strlen(labels), f->ninst ? 3 * f->ninst - 1 : 0);
	for (uint32_t i = 0; i < f->ninst; i++) {
		rating_cell *c = &f->cell[p * MAXI + i];
		c->label = (uint8_t)parse_label(labels + 3 * i);
		c->artifacts = 1;
		c->affirmations = 1;
	}
	return p;
}

/* Evidence masks per instance: '1' one accepted item, '0' none. */
static void fx_evidence(fx *f, uint32_t p, const char *artifacts, const char *affirmations)
{
	for (uint32_t i = 0; i < f->ninst; i++) {
		if (artifacts)
			f->cell[p * MAXI + i].artifacts = artifacts[i] == '1';
		if (affirmations)
			f->cell[p * MAXI + i].affirmations = affirmations[i] == '1';
	}
}

static void fx_judge(fx *f, uint32_t p, int label, int rationale)
{
	f->prac[p].judgement = (uint8_t)label;
	f->prac[p].judgement_rationale = (uint8_t)rationale;
}

static uint32_t fx_weak(fx *f, uint32_t p, uint32_t i, int significant, const char *text)
{
	assert_true(f->nweak < MAXW);
	rating_weakness *w = &f->weak[f->nweak];
	w->practice = p;
	w->instance = i;
	w->significant = (uint8_t)significant;
	w->id = 100 + f->nweak;
	w->text = text;
	return f->nweak++;
}

/* The engine reads cells[p * n_instances + i]: compact the fixture's rows. */
static rating_cell packed[MAXP * MAXI];

static int fx_run(fx *f)
{
	for (uint32_t p = 0; p < f->nprac; p++)
		for (uint32_t i = 0; i < f->ninst; i++)
			packed[p * f->ninst + i] = f->cell[p * MAXI + i];
	f->in = (rating_input){.pas = f->pa,
			       .n_pas = f->npa,
			       .goals = f->goal,
			       .n_goals = f->ngoal,
			       .practices = f->prac,
			       .n_practices = f->nprac,
			       .instances = f->inst,
			       .n_instances = f->ninst,
			       .cells = packed,
			       .weaknesses = f->weak,
			       .n_weaknesses = f->nweak,
			       .affirmation_threshold = f->threshold};
	f->out = (rating_output){f->sug, f->pr, f->gr, f->par};
	return rating_compute(&f->in, &f->out);
}

/* ---- §3: suggestion table -------------------------------------------------------- */

static void suggestion_table(void **state)
{
	static const struct {
		uint32_t artifacts, affirmations, weaknesses;
		uint8_t flags;
		rating_value want;
		rating_suggest_row row;
	} rows[] = {
		/* nothing at all: no suggestion */
		{0, 0, 0, 0, RATING_NONE, RATING_SUGGEST_NO_EVIDENCE},
		/* v1.2 FI [secondary]: artifact + corroboration, no weakness */
		{1, 1, 0, 0, RATING_FI, RATING_SUGGEST_CORROBORATED},
		{3, 2, 0, 0, RATING_FI, RATING_SUGGEST_CORROBORATED},
		/* v1.2 LI [secondary]: the same with weaknesses */
		{1, 1, 1, 0, RATING_LI, RATING_SUGGEST_CORROBORATED_WEAK},
		{2, 5, 7, 0, RATING_LI, RATING_SUGGEST_CORROBORATED_WEAK},
		/* artifact without corroboration: no v1.2 row, the team decides */
		{1, 0, 0, 0, RATING_NONE, RATING_SUGGEST_UNCORROBORATED},
		{4, 0, 2, 0, RATING_NONE, RATING_SUGGEST_UNCORROBORATED},
		/* v1.2 PI [recalled]: no artifact, affirmations show parts */
		{0, 1, 0, 0, RATING_PI, RATING_SUGGEST_AFFIRMATION_ONLY},
		{0, 2, 3, 0, RATING_PI, RATING_SUGGEST_AFFIRMATION_ONLY},
		/* v1.2 NI [recalled]: no evidence for it, weaknesses */
		{0, 0, 1, 0, RATING_NI, RATING_SUGGEST_WEAKNESS_ONLY},
		/* v1.3 PI [recalled]: conflicting evidence */
		{1, 1, 0, RATING_CELL_CONFLICT, RATING_PI, RATING_SUGGEST_CONFLICT},
		{1, 1, 1, RATING_CELL_CONFLICT, RATING_PI, RATING_SUGGEST_CONFLICT},
		{0, 0, 0, RATING_CELL_CONFLICT, RATING_PI, RATING_SUGGEST_CONFLICT},
		/* NY [recalled]: not yet, whatever else is recorded */
		{0, 0, 0, RATING_CELL_NOT_YET, RATING_NY, RATING_SUGGEST_NOT_YET},
		{1, 1, 0, RATING_CELL_NOT_YET, RATING_NY, RATING_SUGGEST_NOT_YET},
		{1, 1, 1, RATING_CELL_NOT_YET | RATING_CELL_CONFLICT, RATING_NY,
		 RATING_SUGGEST_NOT_YET},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		rating_evidence e = {rows[k].artifacts, rows[k].affirmations, rows[k].weaknesses,
				     rows[k].flags};
		rating_suggest_row row = (rating_suggest_row)-1;
		rating_value v = rating_suggest(&e, &row);
		if (v != rows[k].want || row != rows[k].row)
			fail_msg("suggestion row %zu: got %s (row %d), want %s (row %d)", k,
				 rating_value_name(v), row, rating_value_name(rows[k].want),
				 rows[k].row);
		assert_true(strlen(rating_suggest_row_text(row)) > 10);
	}
	/* Every combination of the inputs gives exactly one documented row. */
	for (int mask = 0; mask < 32; mask++) {
		rating_evidence e = {(uint32_t)(mask & 1), (uint32_t)((mask >> 1) & 1),
				     (uint32_t)((mask >> 2) & 1), (uint8_t)(mask >> 3)};
		rating_suggest_row row;
		rating_value v = rating_suggest(&e, &row);
		if (e.flags & RATING_CELL_NOT_YET)
			assert_int_equal(v, RATING_NY);
		else if (e.flags & RATING_CELL_CONFLICT)
			assert_int_equal(v, RATING_PI);
		else
			assert_true(v <= RATING_NI);
	}
}

/* The whole-appraisal pass suggests the same labels, weaknesses included. */
static void suggestions_in_bulk(void **state)
{
	fx f;
	fx_init(&f, 4);
	fx_pa(&f, "SC", 1);
	fx_goal(&f, "SG1", 0);
	uint32_t p = fx_practice(&f, "-- -- -- --");
	fx_evidence(&f, p, "1110", "1100");
	f.cell[p * MAXI + 3].flags = RATING_CELL_NOT_YET;
	fx_weak(&f, p, 1, 0, "minor");
	fx_weak(&f, p, 2, 1, "major");
	assert_int_equal(fx_run(&f), OPRA_OK);
	assert_int_equal(f.sug[0], RATING_FI);
	assert_int_equal(f.sug[1], RATING_LI);
	assert_int_equal(f.sug[2], RATING_NONE); /* artifact, no affirmation */
	assert_int_equal(f.sug[3], RATING_NY);
	/* Suggestions never count: the practice is still uncharacterised. */
	assert_int_equal(f.pr[p].org, RATING_NONE);
	assert_int_equal(f.pr[p].weaknesses, 2);
	assert_int_equal(f.pr[p].significant, 1);
}

/* The bulk path uses a table of its own: every input combination agrees. */
static void suggestions_bulk_agree(void **state)
{
	fx f;
	fx_init(&f, 8);
	fx_pa(&f, "SC", 1);
	fx_goal(&f, "SG1", 0);
	for (int p = 0; p < 4; p++)
		fx_practice(&f, "-- -- -- -- -- -- -- --");
	for (uint32_t mask = 0; mask < 32; mask++) {
		uint32_t p = mask / 8, i = mask % 8;
		rating_cell *c = &f.cell[p * MAXI + i];
		c->artifacts = (uint16_t)((mask & 1) ? 2 : 0);
		c->affirmations = (uint16_t)((mask & 2) ? 3 : 0);
		c->flags = (uint8_t)(mask >> 3);
		if (mask & 4)
			fx_weak(&f, p, i, (int)(mask & 8), "w");
	}
	assert_int_equal(fx_run(&f), OPRA_OK);
	for (uint32_t mask = 0; mask < 32; mask++) {
		rating_evidence e = {(mask & 1) ? 2u : 0u, (mask & 2) ? 3u : 0u,
				     (mask & 4) ? 1u : 0u, (uint8_t)(mask >> 3)};
		if (f.sug[mask] != rating_suggest(&e, NULL))
			fail_msg("bulk suggestion for input %u: %s, rating_suggest says %s", mask,
				 rating_value_name(f.sug[mask]),
				 rating_value_name(rating_suggest(&e, NULL)));
	}
}

/* ---- §4: aggregation -------------------------------------------------------------- */

static void aggregation_table(void **state)
{
	static const struct {
		uint32_t count[RATING_LABELS]; /* none fi li pi ni ny */
		rating_value want;
		rating_row row;
	} rows[] = {
		{{0, 0, 0, 0, 0, 0}, RATING_NONE, RATING_ROW_NO_INSTANCES},
		/* any instance without a label: not characterised */
		{{1, 3, 0, 0, 0, 0}, RATING_NONE, RATING_ROW_UNCHARACTERISED},
		{{1, 0, 0, 0, 0, 3}, RATING_NONE, RATING_ROW_UNCHARACTERISED},
		{{2, 0, 0, 0, 0, 0}, RATING_NONE, RATING_ROW_UNCHARACTERISED},
		/* A1: all the same label */
		{{0, 4, 0, 0, 0, 0}, RATING_FI, RATING_ROW_A1},
		{{0, 0, 4, 0, 0, 0}, RATING_LI, RATING_ROW_A1},
		{{0, 0, 0, 4, 0, 0}, RATING_PI, RATING_ROW_A1},
		{{0, 0, 0, 0, 4, 0}, RATING_NI, RATING_ROW_A1},
		{{0, 1, 0, 0, 0, 0}, RATING_FI, RATING_ROW_A1},
		/* A1 with NY instances ignored */
		{{0, 3, 0, 0, 0, 1}, RATING_FI, RATING_ROW_A1},
		{{0, 0, 0, 1, 0, 3}, RATING_PI, RATING_ROW_A1},
		/* A2: FI and LI, at least one LI */
		{{0, 3, 1, 0, 0, 0}, RATING_LI, RATING_ROW_A2},
		{{0, 1, 3, 0, 0, 2}, RATING_LI, RATING_ROW_A2},
		/* A3: PI/NI with FI/LI: judgement LI or PI */
		{{0, 3, 0, 1, 0, 0}, RATING_NEEDS_JUDGEMENT, RATING_ROW_A3},
		{{0, 0, 1, 0, 1, 0}, RATING_NEEDS_JUDGEMENT, RATING_ROW_A3},
		{{0, 1, 1, 1, 1, 1}, RATING_NEEDS_JUDGEMENT, RATING_ROW_A3},
		/* A4: only PI and NI, one of each: judgement PI or NI */
		{{0, 0, 0, 2, 1, 0}, RATING_NEEDS_JUDGEMENT, RATING_ROW_A4},
		{{0, 0, 0, 1, 1, 5}, RATING_NEEDS_JUDGEMENT, RATING_ROW_A4},
		/* A5: every instance NY */
		{{0, 0, 0, 0, 0, 4}, RATING_NY, RATING_ROW_A5},
		{{0, 0, 0, 0, 0, 1}, RATING_NY, RATING_ROW_A5},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		rating_row row = (rating_row)-1;
		rating_judgement_status js = (rating_judgement_status)-1;
		rating_value v = rating_aggregate(rows[k].count, RATING_NONE, 0, &row, &js);
		if (v != rows[k].want || row != rows[k].row)
			fail_msg("aggregation row %zu: got %s (%s), want %s (%s)", k,
				 rating_value_name(v), rating_row_name(row),
				 rating_value_name(rows[k].want), rating_row_name(rows[k].row));
		assert_int_equal(js, RATING_JUDGEMENT_NONE);
	}
}

static void judgement_table(void **state)
{
	static const uint32_t a1[RATING_LABELS] = {0, 3, 0, 0, 0, 0};
	static const uint32_t a2[RATING_LABELS] = {0, 2, 1, 0, 0, 0};
	static const uint32_t a3[RATING_LABELS] = {0, 1, 1, 1, 0, 1};
	static const uint32_t a4[RATING_LABELS] = {0, 0, 0, 1, 2, 0};
	static const uint32_t a5[RATING_LABELS] = {0, 0, 0, 0, 0, 2};
	static const uint32_t none[RATING_LABELS] = {1, 2, 0, 0, 0, 0};
	static const struct {
		const uint32_t *count;
		rating_value judgement;
		int rationale;
		rating_value want;
		rating_judgement_status js;
	} rows[] = {
		/* A3 allows LI or PI */
		{a3, RATING_LI, 1, RATING_LI, RATING_JUDGEMENT_USED},
		{a3, RATING_PI, 1, RATING_PI, RATING_JUDGEMENT_USED},
		{a3, RATING_FI, 1, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NOT_ALLOWED},
		{a3, RATING_NI, 1, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NOT_ALLOWED},
		{a3, RATING_LI, 0, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NO_RATIONALE},
		/* A4 allows PI or NI */
		{a4, RATING_PI, 1, RATING_PI, RATING_JUDGEMENT_USED},
		{a4, RATING_NI, 1, RATING_NI, RATING_JUDGEMENT_USED},
		{a4, RATING_LI, 1, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NOT_ALLOWED},
		{a4, RATING_FI, 0, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NOT_ALLOWED},
		{a4, RATING_NI, 0, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NO_RATIONALE},
		/* rows that need none: the judgement is ignored (and flagged) */
		{a1, RATING_PI, 1, RATING_FI, RATING_JUDGEMENT_NOT_NEEDED},
		{a2, RATING_PI, 1, RATING_LI, RATING_JUDGEMENT_NOT_NEEDED},
		{a5, RATING_LI, 1, RATING_NY, RATING_JUDGEMENT_NOT_NEEDED},
		{none, RATING_LI, 1, RATING_NONE, RATING_JUDGEMENT_NOT_NEEDED},
		/* no judgement recorded */
		{a3, RATING_NONE, 0, RATING_NEEDS_JUDGEMENT, RATING_JUDGEMENT_NONE},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		rating_judgement_status js;
		rating_value v = rating_aggregate(rows[k].count, rows[k].judgement,
						  rows[k].rationale, NULL, &js);
		if (v != rows[k].want || js != rows[k].js)
			fail_msg("judgement row %zu: got %s (status %d), want %s (status %d)", k,
				 rating_value_name(v), js, rating_value_name(rows[k].want),
				 rows[k].js);
	}
}

/* ---- §5: goals ----------------------------------------------------------------------- */

enum { J_NONE, J_LI, J_PI, J_LI_NO_RATIONALE };

static void goal_table(void **state)
{
	static const struct {
		const char *name;
		const char *sp1, *sp2;	     /* instance labels */
		const char *art1, *aff1;     /* SP1 evidence masks (NULL: all 1) */
		int judge2;		     /* judgement on SP2 */
		int weak_sp1_inst, weak_sig; /* weakness on SP1 at instance (-1 none) */
		int threshold;
		rating_goal_value want;
		uint16_t why; /* bits that must be set */
	} rows[] = {
		{"all FI", "FI FI FI FI", "FI FI FI FI", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_SATISFIED, 0},
		{"FI and LI", "FI LI FI FI", "LI LI LI LI", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_SATISFIED, 0},
		{"missing label", "FI FI FI FI", "FI FI -- FI", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_NOT_RATED, RATING_WHY_UNCHARACTERISED},
		{"practice NY", "FI FI FI FI", "NY NY NY NY", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_NOT_RATED, RATING_WHY_NOT_YET},
		{"some NY ignored", "FI FI FI FI", "FI NY FI NY", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_SATISFIED, 0},
		{"needs judgement", "FI FI FI FI", "FI PI FI FI", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_NOT_RATED, RATING_WHY_NEEDS_JUDGEMENT},
		{"judged LI", "FI FI FI FI", "FI PI FI FI", NULL, NULL, J_LI, -1, 0, 50,
		 RATING_GOAL_SATISFIED, 0},
		{"judged PI", "FI FI FI FI", "FI PI FI FI", NULL, NULL, J_PI, -1, 0, 50,
		 RATING_GOAL_UNSATISFIED, RATING_WHY_PARTIAL},
		{"judgement without rationale", "FI FI FI FI", "FI PI FI FI", NULL, NULL,
		 J_LI_NO_RATIONALE, -1, 0, 50, RATING_GOAL_NOT_RATED, RATING_WHY_NEEDS_JUDGEMENT},
		{"PI practice", "FI FI FI FI", "PI PI PI PI", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_UNSATISFIED, RATING_WHY_PARTIAL},
		{"NI practice", "NI NI NI NI", "FI FI FI FI", NULL, NULL, J_NONE, -1, 0, 50,
		 RATING_GOAL_UNSATISFIED, RATING_WHY_PARTIAL},
		{"artifact missing at one instance", "FI FI FI FI", "FI FI FI FI", "1101", NULL,
		 J_NONE, -1, 0, 50, RATING_GOAL_NOT_RATED, RATING_WHY_NO_ARTIFACT},
		{"artifact missing at an NY instance", "FI FI FI NY", "FI FI FI FI", "1110", NULL,
		 J_NONE, -1, 0, 50, RATING_GOAL_SATISFIED, 0},
		{"affirmations 1 of 4 < 50%", "FI FI FI FI", "FI FI FI FI", NULL, "1000", J_NONE,
		 -1, 0, 50, RATING_GOAL_NOT_RATED, RATING_WHY_LOW_AFFIRMATION},
		{"affirmations 2 of 4 = 50%", "FI FI FI FI", "FI FI FI FI", NULL, "0101", J_NONE,
		 -1, 0, 50, RATING_GOAL_SATISFIED, 0},
		{"affirmations 2 of 4 < 75%", "FI FI FI FI", "FI FI FI FI", NULL, "0011", J_NONE,
		 -1, 0, 75, RATING_GOAL_NOT_RATED, RATING_WHY_LOW_AFFIRMATION},
		{"affirmations 3 of 4 = 75%", "FI FI FI FI", "FI FI FI FI", NULL, "1011", J_NONE,
		 -1, 0, 75, RATING_GOAL_SATISFIED, 0},
		{"affirmations 3 of 4 < 100%", "FI FI FI FI", "FI FI FI FI", NULL, "1110", J_NONE,
		 -1, 0, 100, RATING_GOAL_NOT_RATED, RATING_WHY_LOW_AFFIRMATION},
		{"no affirmation, threshold 0", "FI FI FI FI", "FI FI FI FI", NULL, "0000", J_NONE,
		 -1, 0, 0, RATING_GOAL_SATISFIED, 0},
		{"affirmations 1 of 3 non-NY < 50%", "FI FI FI NY", "FI FI FI FI", NULL, "1001",
		 J_NONE, -1, 0, 50, RATING_GOAL_NOT_RATED, RATING_WHY_LOW_AFFIRMATION},
		{"affirmations 2 of 3 non-NY", "FI FI NY FI", "FI FI FI FI", NULL, "1100", J_NONE,
		 -1, 0, 50, RATING_GOAL_SATISFIED, 0},
		{"significant weakness", "LI LI LI LI", "FI FI FI FI", NULL, NULL, J_NONE, 2, 1, 50,
		 RATING_GOAL_UNSATISFIED, RATING_WHY_SIGNIFICANT},
		{"weakness not significant", "LI LI LI LI", "FI FI FI FI", NULL, NULL, J_NONE, 2, 0,
		 50, RATING_GOAL_SATISFIED, 0},
		{"not rated beats unsatisfied", "PI PI PI PI", "FI -- FI FI", NULL, NULL, J_NONE, 0,
		 1, 50, RATING_GOAL_NOT_RATED,
		 RATING_WHY_UNCHARACTERISED | RATING_WHY_PARTIAL | RATING_WHY_SIGNIFICANT},
	};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		fx f;
		fx_init(&f, 4);
		f.threshold = (uint8_t)rows[k].threshold;
		fx_pa(&f, "SC", 1);
		uint32_t g = fx_goal(&f, "SG1", 0);
		uint32_t p1 = fx_practice(&f, rows[k].sp1);
		uint32_t p2 = fx_practice(&f, rows[k].sp2);
		fx_evidence(&f, p1, rows[k].art1, rows[k].aff1);
		if (rows[k].judge2 == J_LI)
			fx_judge(&f, p2, RATING_LI, 1);
		else if (rows[k].judge2 == J_PI)
			fx_judge(&f, p2, RATING_PI, 1);
		else if (rows[k].judge2 == J_LI_NO_RATIONALE)
			fx_judge(&f, p2, RATING_LI, 0);
		if (rows[k].weak_sp1_inst >= 0)
			fx_weak(&f, p1, (uint32_t)rows[k].weak_sp1_inst, rows[k].weak_sig,
				"weakness");
		assert_int_equal(fx_run(&f), OPRA_OK);
		if (f.gr[g].rating != rows[k].want || (f.gr[g].why & rows[k].why) != rows[k].why)
			fail_msg("goal row '%s': got %s (why %#x), want %s (why %#x)", rows[k].name,
				 rating_goal_value_name(f.gr[g].rating), f.gr[g].why,
				 rating_goal_value_name(rows[k].want), rows[k].why);
		/* the goal's PA follows it: CL1 iff the only SG is satisfied */
		if (rows[k].want == RATING_GOAL_SATISFIED)
			assert_int_equal(f.par[0].level, 1);
		else
			assert_int_equal(f.par[0].level, 0);
	}
}

/* ---- §6: capability levels ------------------------------------------------------------ */

/* Goal states in the level table: S satisfied (all FI), U unsatisfied (all
 * PI), N not rated (uncharacterised), '-' the goal is absent from the model,
 * and for GG1 '.' listed but not characterised. */
static const char *labels_for(char c)
{
	switch (c) {
	case 'S':
		return "FI FI";
	case 'U':
		return "PI PI";
	case 'N':
		return "-- --";
	case 'H': /* half characterised */
		return "FI --";
	default:
		return "-- --";
	}
}

static void level_table(void **state)
{
	static const struct {
		const char *name;
		const char *goals; /* SG1 SG2 GG1 GG2 GG3 */
		int target, in_scope;
		rating_pa_status status;
		int level, stopped;
	} rows[] = {
		{"CL3", "SS.SS", 3, 1, RATING_PA_RATED, 3, 0},
		{"GG3 without GG2 is CL1", "SS.US", 3, 1, RATING_PA_RATED, 1, 2},
		{"GG1+GG2 is CL2", "SS.SU", 3, 1, RATING_PA_RATED, 2, 3},
		{"target 2 stops at CL2", "SS.SS", 2, 1, RATING_PA_RATED, 2, 0},
		{"target 1 stops at CL1", "SS.SS", 1, 1, RATING_PA_RATED, 1, 0},
		{"target 0 still rates CL1", "SS.SS", 0, 1, RATING_PA_RATED, 1, 0},
		{"an SG unsatisfied is CL0", "SU.SS", 3, 1, RATING_PA_RATED, 0, 1},
		{"an SG not rated is not rated", "SN.SS", 3, 1, RATING_PA_NOT_RATED, 0, 1},
		{"not rated beats unsatisfied in GG1", "UN.SS", 3, 1, RATING_PA_NOT_RATED, 0, 1},
		{"GG2 not rated", "SS.NS", 3, 1, RATING_PA_NOT_RATED, 1, 2},
		{"GG2 unsatisfied decides before GG3", "SS.UN", 3, 1, RATING_PA_RATED, 1, 2},
		{"GG2 not rated, GG3 unsatisfied", "SS.NU", 3, 1, RATING_PA_NOT_RATED, 1, 2},
		{"GG3 not rated at target 3", "SS.SN", 3, 1, RATING_PA_NOT_RATED, 2, 3},
		{"GG3 not rated above target 2", "SS.SN", 2, 1, RATING_PA_RATED, 2, 0},
		{"out of scope", "SS.SS", 3, 0, RATING_PA_OUT_OF_SCOPE, -1, 0},
		{"out of scope, nothing rated", "NN.NN", 1, 0, RATING_PA_OUT_OF_SCOPE, -1, 0},
		{"GG1.GP1 characterised FI", "SSSSS", 3, 1, RATING_PA_RATED, 3, 0},
		{"GG1.GP1 characterised PI", "SSUSS", 3, 1, RATING_PA_RATED, 0, 1},
		{"GG1.GP1 half characterised", "SSHSS", 3, 1, RATING_PA_NOT_RATED, 0, 1},
		{"GG1 absent from the model", "SS-SS", 2, 1, RATING_PA_RATED, 2, 0},
		{"GG2 absent from the model", "SS.-S", 2, 1, RATING_PA_NOT_RATED, 1, 2},
		{"GG2 absent, target 1", "SS.-S", 1, 1, RATING_PA_RATED, 1, 0},
		{"no specific goal", "--.SS", 2, 1, RATING_PA_NOT_RATED, 0, 1},
	};
	static const char *ids[] = {"SG1", "SG2", "GG1", "GG2", "GG3"};
	static const int levels[] = {0, 0, 1, 2, 3};
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		fx f;
		fx_init(&f, 2);
		fx_pa(&f, "SC", rows[k].target);
		f.pa[0].in_scope = (uint8_t)rows[k].in_scope;
		for (int j = 0; j < 5; j++) {
			char c = rows[k].goals[j];
			if (c == '-')
				continue;
			fx_goal(&f, ids[j], levels[j]);
			fx_practice(&f, labels_for(c));
			if (j >= 3) /* GG2 and GG3 have two practices each */
				fx_practice(&f, labels_for(c));
		}
		assert_int_equal(fx_run(&f), OPRA_OK);
		const rating_pa_result *r = &f.par[0];
		if (r->status != rows[k].status || r->level != rows[k].level ||
		    r->stopped != rows[k].stopped)
			fail_msg("level row '%s': got %s level %d stopped %d, want %s level %d "
				 "stopped %d",
				 rows[k].name, rating_pa_status_name(r->status), r->level,
				 r->stopped, rating_pa_status_name(rows[k].status), rows[k].level,
				 rows[k].stopped);
	}
}

/* Levels above the target are not evaluated; generic goals above it are
 * flagged; GG1's own rating is the derived one. */
static void level_details(void **state)
{
	fx f;
	fx_init(&f, 2);
	fx_pa(&f, "SC", 1);
	uint32_t sg = fx_goal(&f, "SG1", 0);
	fx_practice(&f, "PI PI");
	uint32_t gg1 = fx_goal(&f, "GG1", 1);
	fx_practice(&f, "-- --");
	uint32_t gg2 = fx_goal(&f, "GG2", 2);
	fx_practice(&f, "FI FI");
	assert_int_equal(fx_run(&f), OPRA_OK);
	assert_int_equal(f.gr[sg].rating, RATING_GOAL_UNSATISFIED);
	assert_int_equal(f.gr[gg1].rating, RATING_GOAL_UNSATISFIED); /* follows SG1 */
	assert_int_equal(f.gr[gg1].own_rating, RATING_GOAL_NOT_EVALUATED);
	assert_true(f.gr[gg1].why & RATING_WHY_SG_UNSATISFIED);
	assert_false(f.gr[gg1].why & RATING_WHY_UNCHARACTERISED);
	assert_int_equal(f.gr[gg2].rating, RATING_GOAL_SATISFIED);
	assert_int_equal(f.gr[gg2].above_target, 1);
	assert_int_equal(f.gr[gg1].above_target, 0);
	assert_int_equal(f.par[0].max_level, 1);
	assert_int_equal(f.par[0].gg[1], RATING_GOAL_UNSATISFIED);
	assert_int_equal(f.par[0].gg[2], RATING_GOAL_NOT_EVALUATED);
	assert_int_equal(f.par[0].gg_goal[2], gg2);
	assert_int_equal(f.gr[gg2].pa, 0);
}

/* ---- input checks ---------------------------------------------------------------------- */

static void bad_input(void **state)
{
	fx f;

	fx_init(&f, 2);
	fx_pa(&f, "SC", 1);
	fx_goal(&f, "SG1", 0);
	fx_practice(&f, "FI FI");
	f.cell[1].label = 9;
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "unknown label"));

	f.cell[1].label = RATING_FI;
	fx_weak(&f, 0, 2, 1, "out of range"); /* only instances 0 and 1 */
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "weakness #100"));

	f.nweak = 0;
	f.threshold = 101;
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "0 to 100"));

	f.threshold = 50;
	f.goal[0].n_practices = 5;
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "out of range"));
	f.goal[0].n_practices = 1;
	f.goal[0].first_practice = UINT32_MAX; /* overflow of first + n */
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	f.goal[0].first_practice = 0;

	fx_judge(&f, 0, RATING_NY, 1);
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "FI, LI, PI or NI"));
	fx_judge(&f, 0, RATING_NONE, 0);

	f.pa[0].target_level = 4;
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	f.pa[0].target_level = 1;

	fx_goal(&f, "GG2", 2);
	fx_practice(&f, "FI FI");
	fx_goal(&f, "GG2", 2);
	fx_practice(&f, "FI FI");
	assert_int_equal(fx_run(&f), OPRA_INVALID_ARGUMENT);
	assert_non_null(strstr(opra_err_msg(), "GG2 twice"));

	/* no instances: nothing can be characterised, nothing is rated */
	fx_init(&f, 0);
	fx_pa(&f, "SC", 1);
	uint32_t g = fx_goal(&f, "SG1", 0);
	fx_practice(&f, "");
	assert_int_equal(fx_run(&f), OPRA_OK);
	assert_int_equal(f.pr[0].row, RATING_ROW_NO_INSTANCES);
	assert_int_equal(f.gr[g].rating, RATING_GOAL_NOT_RATED);
	assert_int_equal(f.par[0].status, RATING_PA_NOT_RATED);
	char buf[512];
	rating_explain_goal(buf, sizeof(buf), &f.in, &f.out, g);
	assert_non_null(strstr(buf, "SC:SG1 is not rated because practice SC:SG1.SP1 cannot be "
				    "characterised: the appraisal has no instances."));
	rating_explain_practice(buf, sizeof(buf), &f.in, &f.out, 0);
	assert_non_null(strstr(buf, "the appraisal has no instances"));

	/* an empty appraisal is fine */
	rating_input in = {0};
	rating_output out = {0};
	assert_int_equal(rating_compute(&in, &out), OPRA_OK);
}

/* ---- explanations ------------------------------------------------------------------------ */

static char text[8192];

static void explain_unsatisfied(void **state)
{
	fx f;
	fx_init(&f, 2);
	fx_pa(&f, "SC", 1);
	uint32_t g = fx_goal(&f, "SG1", 0);
	fx_practice(&f, "FI FI");
	uint32_t p2 = fx_practice(&f, "PI LI");
	fx_judge(&f, p2, RATING_PI, 1);
	assert_int_equal(fx_run(&f), OPRA_OK);
	assert_int_equal(f.gr[g].rating, RATING_GOAL_UNSATISFIED);

	size_t n = rating_explain_goal(text, sizeof(text), &f.in, &f.out, g);
	assert_int_equal(n, strlen(text));
	assert_non_null(strstr(text, "SC:SG1 is unsatisfied because practice SC:SG1.SP2 is "
				     "partially implemented at the organisational level by the "
				     "lead's judgement (instances claims: PI, billing: LI).\n"));
	assert_non_null(strstr(text, "Note: practice SC:SG1.SP2 is PI by the lead's judgement"));

	/* machine-readable: the same reasons with indices */
	rating_reason_iter it = {0, 0};
	rating_reason r;
	assert_true(rating_goal_reason_next(&f.in, &f.out, g, &it, &r));
	assert_int_equal(r.code, RATING_REASON_PARTIAL);
	assert_int_equal(r.practice, p2);
	assert_int_equal(r.value, RATING_PI);
	assert_true(rating_goal_reason_next(&f.in, &f.out, g, &it, &r));
	assert_int_equal(r.code, RATING_REASON_JUDGED);
	assert_false(rating_goal_reason_next(&f.in, &f.out, g, &it, &r));

	/* the PA: level 0 because GG1 follows SG1 */
	rating_explain_pa(text, sizeof(text), &f.in, &f.out, 0);
	assert_non_null(strstr(text, "SC is at capability level 0 (target 1).\n"));
	assert_non_null(strstr(text, "Level 1 is not reached because SC:GG1 is unsatisfied"));
	assert_non_null(strstr(text, "Levels above 1 are not evaluated"));

	rating_explain_practice(text, sizeof(text), &f.in, &f.out, p2);
	assert_non_null(strstr(text, "SC:SG1.SP2 is partially implemented at the organisational "
				     "level by the lead's judgement"));
	assert_non_null(strstr(text, "leaves LI or PI to the team"));
}

static void explain_not_rated(void **state)
{
	fx f;
	fx_init(&f, 4);
	fx_pa(&f, "IMC", 2);
	uint32_t g = fx_goal(&f, "SG1", 0);
	uint32_t p1 = fx_practice(&f, "FI FI FI FI");
	fx_evidence(&f, p1, "1010", "1000");
	uint32_t p2 = fx_practice(&f, "PI NI NI NI");
	fx_judge(&f, p2, RATING_LI, 1); /* A4 allows PI or NI only */
	fx_goal(&f, "GG2", 2);
	fx_practice(&f, "FI FI FI FI");
	uint32_t w = fx_weak(&f, p1, 3, 1, "backups never\ntested");
	assert_int_equal(fx_run(&f), OPRA_OK);
	assert_int_equal(f.gr[g].rating, RATING_GOAL_NOT_RATED);

	rating_explain_goal(text, sizeof(text), &f.in, &f.out, g);
	const char *first = strstr(text, "IMC:SG1 is not rated because practice IMC:SG1.SP2 "
					 "needs a lead's judgement to choose PI or NI");
	assert_ptr_equal(first, text); /* the decisive reason comes first */
	assert_non_null(strstr(text, "Note: the judgement recorded for practice IMC:SG1.SP2 (LI) "
				     "is not used: only PI or NI is allowed"));
	assert_non_null(strstr(text,
			       "IMC:SG1 is also not rated because practice IMC:SG1.SP1 "
			       "has no accepted artifact at 2 of 4 instances (billing, web)."));
	assert_non_null(strstr(text, "affirmations cover only 1 of 4 instances for practice "
				     "IMC:SG1.SP1 (25%, below the threshold of 50%)"));
	assert_non_null(strstr(text, "Also, significant weakness #100 is recorded on practice "
				     "IMC:SG1.SP1 at instance web (\"backups never tested\")."));

	rating_reason_iter it = {0, 0};
	rating_reason r;
	int found = 0;
	while (rating_goal_reason_next(&f.in, &f.out, g, &it, &r))
		if (r.code == RATING_REASON_WEAKNESS) {
			assert_int_equal(r.weakness, w);
			assert_int_equal(r.instance, 3);
			found++;
		} else if (r.code == RATING_REASON_NO_ARTIFACT) {
			assert_int_equal(r.instance, 1); /* billing: the first without one */
			assert_int_equal(r.count, 2);
			assert_int_equal(r.total, 4);
		}
	assert_int_equal(found, 1);

	rating_explain_pa(text, sizeof(text), &f.in, &f.out, 0);
	assert_non_null(
		strstr(text, "IMC is not rated: capability level 1 cannot be decided yet."));
	assert_non_null(strstr(text, "Level 1 cannot be decided because IMC:GG1 is not rated"));
	assert_non_null(strstr(text, "IMC:GG2 is satisfied, but level 2 would need level 1 first"));
}

static void explain_levels(void **state)
{
	fx f;
	fx_init(&f, 2);
	fx_pa(&f, "SC", 3);
	fx_goal(&f, "SG1", 0);
	fx_practice(&f, "FI LI");
	uint32_t gg2 = fx_goal(&f, "GG2", 2);
	fx_practice(&f, "PI PI");
	fx_goal(&f, "GG3", 3);
	fx_practice(&f, "FI FI");
	fx_pa(&f, "RISK", 2);
	f.pa[1].in_scope = 0;
	assert_int_equal(fx_run(&f), OPRA_OK);

	rating_explain_pa(text, sizeof(text), &f.in, &f.out, 0);
	assert_string_equal(text,
			    "SC is at capability level 1 (target 3).\n"
			    "Level 1 is reached: SC:GG1 is satisfied because every specific "
			    "goal is satisfied.\n"
			    "Level 2 is not reached because SC:GG2 is unsatisfied.\n"
			    "SC:GG3 is satisfied, but level 3 would need level 2 first: levels "
			    "are cumulative.\n");
	rating_explain_goal(text, sizeof(text), &f.in, &f.out, gg2);
	assert_non_null(strstr(text, "SC:GG2 is unsatisfied because practice SC:GG2.GP1 is "
				     "partially implemented at the organisational level (instances "
				     "claims: PI, billing: PI)."));
	rating_explain_pa(text, sizeof(text), &f.in, &f.out, 1);
	assert_string_equal(text, "RISK is out of scope for this appraisal: it has no capability "
				  "level (which is not the same as level 0).\n");
	rating_explain_goal(text, sizeof(text), &f.in, &f.out, 0);
	assert_string_equal(text, "SC:SG1 is satisfied because its only practice is fully or "
				  "largely implemented at the organisational level, every instance "
				  "has an accepted artifact, affirmations cover at least 50% of "
				  "instances and no significant weakness is recorded.\n");

	/* snprintf semantics: truncated but terminated, the full length returned */
	char small[16];
	size_t need = rating_explain_pa(small, sizeof(small), &f.in, &f.out, 0);
	assert_true(need > sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(rating_explain_pa(NULL, 0, &f.in, &f.out, 0), need);
	/* out of range indices give nothing, not a crash */
	assert_int_equal(rating_explain_goal(small, sizeof(small), &f.in, &f.out, 99), 0);
	assert_string_equal(small, "");
}

/* Long lists name eight instances; hostile weakness text is tamed. */
static void explain_long_lists(void **state)
{
	fx f;
	fx_init(&f, 8);
	fx_pa(&f, "SC", 1);
	uint32_t g = fx_goal(&f, "SG1", 0);
	uint32_t p = fx_practice(&f, "FI LI PI NI FI LI NY PI");
	fx_judge(&f, p, RATING_PI, 1);
	char hostile[200];
	memset(hostile, 'x', sizeof(hostile));
	memcpy(hostile, "\x1b[31mred\r\n", 10);
	memcpy(hostile + 79, "\xc3\xa9\xc3\xa9", 4); /* é across the 80-byte cut */
	hostile[199] = '\0';
	fx_weak(&f, p, 0, 1, hostile);
	assert_int_equal(fx_run(&f), OPRA_OK);
	rating_explain_goal(text, sizeof(text), &f.in, &f.out, g);
	assert_non_null(strstr(text, "(instances web: NI, payroll: PI, erp: PI, billing: LI, hr: "
				     "LI, claims: FI, mail: FI, crm: NY)"));
	assert_null(strchr(text, '\x1b'));
	assert_null(strchr(text, '\r'));
	assert_non_null(strstr(text, " [31mred  xx"));
	assert_non_null(strstr(text, "xx...\")"));
	assert_null(strchr(text, '\xc3')); /* the cut é is left out whole */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suggestion_table),
		cmocka_unit_test(suggestions_in_bulk),
		cmocka_unit_test(suggestions_bulk_agree),
		cmocka_unit_test(aggregation_table),
		cmocka_unit_test(judgement_table),
		cmocka_unit_test(goal_table),
		cmocka_unit_test(level_table),
		cmocka_unit_test(level_details),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(explain_unsatisfied),
		cmocka_unit_test(explain_not_rated),
		cmocka_unit_test(explain_levels),
		cmocka_unit_test(explain_long_lists),
	};
	return TESTLIB_RUN(tests);
}
