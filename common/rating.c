/* The rating engine: tables of appraisal-rules.md §3-§6 (docs/rating.md).
 * Pure: no I/O, no allocation. Explanations are in rating_explain.c. */
#include "rating.h"

#include "opra_err.h"

#include <string.h>
#include <strings.h>

/* ---- §3: suggestion -------------------------------------------------------- */

rating_value rating_suggest(const rating_evidence *e, rating_suggest_row *row)
{
	rating_suggest_row r;
	rating_value v;

	if (e->flags & RATING_CELL_NOT_YET) {
		r = RATING_SUGGEST_NOT_YET;
		v = RATING_NY;
	} else if (e->flags & RATING_CELL_CONFLICT) {
		r = RATING_SUGGEST_CONFLICT;
		v = RATING_PI;
	} else if (e->artifacts > 0 && e->affirmations > 0) {
		r = e->weaknesses == 0 ? RATING_SUGGEST_CORROBORATED
				       : RATING_SUGGEST_CORROBORATED_WEAK;
		v = e->weaknesses == 0 ? RATING_FI : RATING_LI;
	} else if (e->artifacts > 0) {
		/* v1.2 (the better-sourced definition) asks for corroboration for
		 * FI and LI and has no row for an uncorroborated artifact: the
		 * team decides. */
		r = RATING_SUGGEST_UNCORROBORATED;
		v = RATING_NONE;
	} else if (e->affirmations > 0) {
		r = RATING_SUGGEST_AFFIRMATION_ONLY;
		v = RATING_PI;
	} else if (e->weaknesses > 0) {
		r = RATING_SUGGEST_WEAKNESS_ONLY;
		v = RATING_NI;
	} else {
		r = RATING_SUGGEST_NO_EVIDENCE;
		v = RATING_NONE;
	}
	if (row != NULL)
		*row = r;
	return v;
}

const char *rating_suggest_row_text(rating_suggest_row row)
{
	switch (row) {
	case RATING_SUGGEST_NO_EVIDENCE:
		return "no evidence, weakness or flag is recorded";
	case RATING_SUGGEST_NOT_YET:
		return "the instance has not yet reached the point where the practice applies";
	case RATING_SUGGEST_CONFLICT:
		return "the evidence conflicts: some shows the practice in place, some does not";
	case RATING_SUGGEST_CORROBORATED:
		return "an accepted artifact is corroborated by an affirmation and no weakness "
		       "is recorded";
	case RATING_SUGGEST_CORROBORATED_WEAK:
		return "an accepted artifact is corroborated by an affirmation, but weaknesses "
		       "are recorded";
	case RATING_SUGGEST_UNCORROBORATED:
		return "an accepted artifact has no corroborating affirmation: the team decides";
	case RATING_SUGGEST_AFFIRMATION_ONLY:
		return "affirmations show parts of the practice in place, but no artifact is "
		       "accepted";
	case RATING_SUGGEST_WEAKNESS_ONLY:
		return "weaknesses are recorded and no evidence supports the practice";
	}
	return "unknown suggestion row";
}

/* ---- §4: aggregation ------------------------------------------------------- */

rating_value rating_aggregate(const uint32_t count[RATING_LABELS], rating_value judgement,
			      int has_rationale, rating_row *row_out,
			      rating_judgement_status *judgement_out)
{
	uint32_t total = 0;
	for (int v = 0; v < RATING_LABELS; v++)
		total += count[v];
	uint32_t fi = count[RATING_FI], li = count[RATING_LI], pi = count[RATING_PI],
		 ni = count[RATING_NI];
	rating_row row;
	rating_value org, lo = RATING_NONE, hi = RATING_NONE; /* the judgement pair */

	if (total == 0) {
		row = RATING_ROW_NO_INSTANCES;
		org = RATING_NONE;
	} else if (count[RATING_NONE] > 0) {
		row = RATING_ROW_UNCHARACTERISED;
		org = RATING_NONE;
	} else if (count[RATING_NY] == total) {
		row = RATING_ROW_A5;
		org = RATING_NY;
	} else if ((fi > 0) + (li > 0) + (pi > 0) + (ni > 0) == 1) {
		row = RATING_ROW_A1; /* NY instances ignored */
		org = fi ? RATING_FI : li ? RATING_LI : pi ? RATING_PI : RATING_NI;
	} else if (pi + ni == 0) {
		row = RATING_ROW_A2;
		org = RATING_LI;
	} else if (fi + li > 0) {
		row = RATING_ROW_A3;
		org = RATING_NEEDS_JUDGEMENT;
		lo = RATING_LI;
		hi = RATING_PI;
	} else {
		row = RATING_ROW_A4;
		org = RATING_NEEDS_JUDGEMENT;
		lo = RATING_PI;
		hi = RATING_NI;
	}

	rating_judgement_status js = RATING_JUDGEMENT_NONE;
	if (judgement != RATING_NONE) {
		if (org != RATING_NEEDS_JUDGEMENT)
			js = RATING_JUDGEMENT_NOT_NEEDED;
		else if (judgement != lo && judgement != hi)
			js = RATING_JUDGEMENT_NOT_ALLOWED;
		else if (!has_rationale)
			js = RATING_JUDGEMENT_NO_RATIONALE;
		else {
			js = RATING_JUDGEMENT_USED;
			org = judgement;
		}
	}
	if (row_out != NULL)
		*row_out = row;
	if (judgement_out != NULL)
		*judgement_out = js;
	return org;
}

/* ---- validation ------------------------------------------------------------ */

static int range_ok(uint32_t first, uint32_t n, uint32_t limit)
{
	return first <= limit && n <= limit - first;
}

static int validate(const rating_input *in)
{
	if (in->affirmation_threshold > 100)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "rating: the affirmation threshold is %u%%; use 0 to 100",
				    in->affirmation_threshold);
	if ((in->n_pas && !in->pas) || (in->n_goals && !in->goals) ||
	    (in->n_practices && !in->practices) || (in->n_weaknesses && !in->weaknesses) ||
	    (in->n_practices && in->n_instances && !in->cells))
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "rating: an input array is missing for a non-zero count");
	for (uint32_t a = 0; a < in->n_pas; a++) {
		const rating_pa *pa = &in->pas[a];
		if (pa->target_level > 3)
			return opra_err_set(
				OPRA_INVALID_ARGUMENT,
				"rating: process area %s has target level %u; use 0 to 3",
				pa->id ? pa->id : "?", pa->target_level);
		if (!range_ok(pa->first_goal, pa->n_goals, in->n_goals))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "rating: the goals of process area %s are out of range",
					    pa->id ? pa->id : "?");
		int seen[4] = {0, 0, 0, 0};
		for (uint32_t k = 0; k < pa->n_goals; k++) {
			uint8_t l = in->goals[pa->first_goal + k].generic_level;
			if (l >= 1 && l <= 3 && seen[l]++)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "rating: process area %s lists GG%u twice",
						    pa->id ? pa->id : "?", l);
		}
	}
	for (uint32_t g = 0; g < in->n_goals; g++) {
		const rating_goal *go = &in->goals[g];
		if (go->generic_level > 3)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "rating: goal %s has generic level %u; use 0 to 3",
					    go->id ? go->id : "?", go->generic_level);
		if (!range_ok(go->first_practice, go->n_practices, in->n_practices))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "rating: the practices of goal %s are out of range",
					    go->id ? go->id : "?");
	}
	for (uint32_t p = 0; p < in->n_practices; p++) {
		uint8_t j = in->practices[p].judgement;
		if (j != RATING_NONE && (j < RATING_FI || j > RATING_NI))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "rating: the judgement on %s is not FI, LI, PI or NI",
					    in->practices[p].id ? in->practices[p].id : "?");
	}
	for (uint32_t w = 0; w < in->n_weaknesses; w++)
		if (in->weaknesses[w].practice >= in->n_practices ||
		    in->weaknesses[w].instance >= in->n_instances)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "rating: weakness #%lld names a practice or instance "
					    "outside the appraisal",
					    (long long)in->weaknesses[w].id);
	return OPRA_OK;
}

/* ---- the whole appraisal ----------------------------------------------------- */

#define WEAK_MARK 0x80 /* scratch bit in out->suggested: the cell has a weakness */

/* rating_suggest as a table for the hot loop, indexed by artifact (bit 0),
 * affirmation (1), weakness (2), not-yet (3), conflict (4). The unit test
 * checks every entry against rating_suggest. */
static const uint8_t suggest_table[32] = {
	/* no flag: -, A, C, AC, W, AW, CW, ACW */
	RATING_NONE, RATING_NONE, RATING_PI, RATING_FI, RATING_NI, RATING_NONE, RATING_PI,
	RATING_LI,
	/* not yet */
	RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY,
	/* conflict */
	RATING_PI, RATING_PI, RATING_PI, RATING_PI, RATING_PI, RATING_PI, RATING_PI, RATING_PI,
	/* not yet and conflict */
	RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY, RATING_NY};

#define NOT_RATED_WHY                                                                              \
	(RATING_WHY_UNCHARACTERISED | RATING_WHY_NOT_YET | RATING_WHY_NEEDS_JUDGEMENT |            \
	 RATING_WHY_NO_ARTIFACT | RATING_WHY_LOW_AFFIRMATION | RATING_WHY_NO_PRACTICES)

/* Rates the practices: one pass over the cells (the hot loop). */
static int rate_practices(const rating_input *in, rating_output *out)
{
	const uint32_t ni = in->n_instances;
	uint8_t *sug = out->suggested;

	for (uint32_t p = 0; p < in->n_practices; p++) {
		rating_practice_result *pr = &out->practices[p];
		const rating_cell *row = ni ? in->cells + (size_t)p * ni : NULL;
		uint8_t *srow = sug && ni ? sug + (size_t)p * ni : NULL;
		uint32_t count[RATING_LABELS] = {0};
		uint32_t without = 0, affirmed = 0;

		for (uint32_t i = 0; i < ni; i++) {
			const rating_cell c = row[i];
			if (c.label > RATING_NY)
				return opra_err_set(OPRA_INVALID_ARGUMENT,
						    "rating: practice %s has an unknown label (%u) "
						    "at instance %u",
						    in->practices[p].id ? in->practices[p].id : "?",
						    c.label, i);
			count[c.label]++;
			if (c.label != RATING_NY) {
				without += c.artifacts == 0;
				affirmed += c.affirmations > 0;
			}
			if (srow != NULL) {
				unsigned k = (c.artifacts > 0) | (c.affirmations > 0) << 1 |
					     (srow[i] & WEAK_MARK) >> 5 | (c.flags & 3u) << 3;
				srow[i] = suggest_table[k];
			}
		}
		rating_row r;
		rating_judgement_status js;
		pr->org = (uint8_t)rating_aggregate(count, (rating_value)in->practices[p].judgement,
						    in->practices[p].judgement_rationale != 0, &r,
						    &js);
		pr->row = (uint8_t)r;
		pr->judgement = (uint8_t)js;
		memcpy(pr->count, count, sizeof(count));
		pr->considered = ni - count[RATING_NY];
		pr->without_artifact = without;
		pr->affirmed = affirmed;
	}
	return OPRA_OK;
}

static int coverage_low(const rating_input *in, const rating_practice_result *pr)
{
	return (uint64_t)pr->affirmed * 100 <
	       (uint64_t)in->affirmation_threshold * (uint64_t)pr->considered;
}

static void rate_goal(const rating_input *in, rating_output *out, uint32_t g)
{
	const rating_goal *go = &in->goals[g];
	rating_goal_result *gr = &out->goals[g];
	uint16_t why = 0;
	uint32_t sig = 0;

	if (go->n_practices == 0)
		why |= RATING_WHY_NO_PRACTICES;
	for (uint32_t k = 0; k < go->n_practices; k++) {
		const rating_practice_result *pr = &out->practices[go->first_practice + k];
		switch (pr->org) {
		case RATING_NONE:
			why |= RATING_WHY_UNCHARACTERISED;
			break;
		case RATING_NY:
			why |= RATING_WHY_NOT_YET;
			break;
		case RATING_NEEDS_JUDGEMENT:
			why |= RATING_WHY_NEEDS_JUDGEMENT;
			break;
		case RATING_PI:
		case RATING_NI:
			why |= RATING_WHY_PARTIAL;
			break;
		}
		if (pr->without_artifact > 0)
			why |= RATING_WHY_NO_ARTIFACT;
		if (coverage_low(in, pr))
			why |= RATING_WHY_LOW_AFFIRMATION;
		sig += pr->significant;
	}
	if (sig > 0)
		why |= RATING_WHY_SIGNIFICANT;
	gr->why = why;
	gr->significant = sig;
	gr->rating = (why & NOT_RATED_WHY) ? RATING_GOAL_NOT_RATED
		     : (why & (RATING_WHY_PARTIAL | RATING_WHY_SIGNIFICANT))
			     ? RATING_GOAL_UNSATISFIED
			     : RATING_GOAL_SATISFIED;
	gr->own_rating = RATING_GOAL_NOT_EVALUATED;
	gr->above_target = 0;
	gr->pa = RATING_NO_INDEX;
}

/* Whether any practice of the goal has a label at any instance. */
static int goal_characterised(const rating_input *in, const rating_output *out, uint32_t g)
{
	const rating_goal *go = &in->goals[g];
	for (uint32_t k = 0; k < go->n_practices; k++)
		if (out->practices[go->first_practice + k].count[RATING_NONE] < in->n_instances)
			return 1;
	return 0;
}

/* GG1 follows the specific goals (§6); GG1's own practices count only when
 * the team characterised at least one of them somewhere. */
static uint8_t rate_gg1(const rating_input *in, rating_output *out, uint32_t a)
{
	const rating_pa *pa = &in->pas[a];
	rating_pa_result *res = &out->pas[a];
	uint32_t sgs = 0, not_rated = 0, unsat = 0;
	uint16_t why = 0;

	for (uint32_t k = 0; k < pa->n_goals; k++) {
		uint32_t g = pa->first_goal + k;
		if (in->goals[g].generic_level != 0)
			continue;
		sgs++;
		if (out->goals[g].rating == RATING_GOAL_NOT_RATED)
			not_rated++;
		else if (out->goals[g].rating == RATING_GOAL_UNSATISFIED)
			unsat++;
	}
	if (sgs == 0)
		why |= RATING_WHY_NO_SPECIFIC_GOAL;
	if (not_rated)
		why |= RATING_WHY_SG_NOT_RATED;
	if (unsat)
		why |= RATING_WHY_SG_UNSATISFIED;

	uint8_t own = RATING_GOAL_NOT_EVALUATED;
	uint32_t g1 = res->gg_goal[1];
	if (g1 != RATING_NO_INDEX && goal_characterised(in, out, g1)) {
		own = out->goals[g1].rating;
		why |= (uint16_t)(out->goals[g1].why | RATING_WHY_GG1_OWN);
	}
	uint8_t r;
	if (sgs == 0 || not_rated || own == RATING_GOAL_NOT_RATED)
		r = RATING_GOAL_NOT_RATED;
	else if (unsat || own == RATING_GOAL_UNSATISFIED)
		r = RATING_GOAL_UNSATISFIED;
	else
		r = RATING_GOAL_SATISFIED;
	if (g1 != RATING_NO_INDEX) {
		out->goals[g1].own_rating = own;
		out->goals[g1].rating = r;
		out->goals[g1].why = why;
	}
	return r;
}

static void rate_pa(const rating_input *in, rating_output *out, uint32_t a)
{
	const rating_pa *pa = &in->pas[a];
	rating_pa_result *res = &out->pas[a];

	memset(res, 0, sizeof(*res));
	for (int l = 0; l < 4; l++) {
		res->gg[l] = RATING_GOAL_NOT_EVALUATED;
		res->gg_goal[l] = RATING_NO_INDEX;
	}
	res->max_level = pa->target_level < 1 ? 1 : pa->target_level;
	for (uint32_t k = 0; k < pa->n_goals; k++) {
		uint32_t g = pa->first_goal + k;
		uint8_t l = in->goals[g].generic_level;
		out->goals[g].pa = a;
		if (l > 0) {
			res->gg_goal[l] = g;
			out->goals[g].above_target = l > res->max_level;
		}
	}
	uint8_t gg1 = rate_gg1(in, out, a);
	if (!pa->in_scope) {
		res->status = RATING_PA_OUT_OF_SCOPE;
		res->level = -1;
		res->max_level = 0;
		return;
	}
	res->status = RATING_PA_RATED;
	for (uint8_t l = 1; l <= res->max_level; l++) {
		uint8_t r;
		if (l == 1)
			r = gg1;
		else if (res->gg_goal[l] == RATING_NO_INDEX)
			r = RATING_GOAL_NOT_RATED;
		else
			r = out->goals[res->gg_goal[l]].rating;
		res->gg[l] = r;
		if (res->stopped != 0)
			continue; /* shown, but cumulative: it cannot raise the level */
		if (r == RATING_GOAL_SATISFIED) {
			res->level = (int8_t)l;
		} else {
			res->stopped = l;
			if (r == RATING_GOAL_NOT_RATED)
				res->status = RATING_PA_NOT_RATED;
		}
	}
}

int rating_compute(const rating_input *in, rating_output *out)
{
	int rc = validate(in);
	if (rc != OPRA_OK)
		return rc;
	if (in->n_practices)
		memset(out->practices, 0, sizeof(*out->practices) * in->n_practices);
	if (out->suggested != NULL && in->n_practices && in->n_instances)
		memset(out->suggested, 0, (size_t)in->n_practices * in->n_instances);
	for (uint32_t w = 0; w < in->n_weaknesses; w++) {
		const rating_weakness *wk = &in->weaknesses[w];
		out->practices[wk->practice].weaknesses++;
		if (wk->significant)
			out->practices[wk->practice].significant++;
		if (out->suggested != NULL)
			out->suggested[(size_t)wk->practice * in->n_instances + wk->instance] =
				WEAK_MARK;
	}
	if ((rc = rate_practices(in, out)) != OPRA_OK)
		return rc;
	for (uint32_t g = 0; g < in->n_goals; g++)
		rate_goal(in, out, g);
	for (uint32_t a = 0; a < in->n_pas; a++)
		rate_pa(in, out, a);
	return OPRA_OK;
}

/* ---- names ------------------------------------------------------------------ */

const char *rating_value_name(int v)
{
	static const char *const names[] = {"none",	      "fi", "li", "pi", "ni", "ny",
					    "needs-judgement"};
	return v >= 0 && v <= RATING_NEEDS_JUDGEMENT ? names[v] : "unknown";
}

const char *rating_value_words(int v)
{
	static const char *const words[] = {"not characterised",      "fully implemented",
					    "largely implemented",    "partially implemented",
					    "not implemented",	      "not yet implemented",
					    "waiting for a judgement"};
	return v >= 0 && v <= RATING_NEEDS_JUDGEMENT ? words[v] : "unknown";
}

const char *rating_goal_value_name(int v)
{
	static const char *const names[] = {"not-rated", "satisfied", "unsatisfied",
					    "not-evaluated"};
	return v >= 0 && v <= RATING_GOAL_NOT_EVALUATED ? names[v] : "unknown";
}

const char *rating_pa_status_name(int v)
{
	static const char *const names[] = {"rated", "not-rated", "out-of-scope"};
	return v >= 0 && v <= RATING_PA_OUT_OF_SCOPE ? names[v] : "unknown";
}

const char *rating_row_name(int row)
{
	static const char *const names[] = {
		"no-instances", "uncharacterised", "A1", "A2", "A3", "A4", "A5"};
	return row >= 0 && row <= RATING_ROW_A5 ? names[row] : "unknown";
}

int rating_value_parse(const char *s)
{
	static const char *const labels[] = {"none", "fi", "li", "pi", "ni", "ny"};
	if (s == NULL)
		return -1;
	for (int v = 0; v < RATING_LABELS; v++)
		if (strcasecmp(s, labels[v]) == 0)
			return v;
	return -1;
}
