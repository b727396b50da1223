/* Explanations of the rating engine's results: machine-readable reasons
 * (iterators) and sentences a sponsor can read. Pure: reads the input and
 * the output of rating_compute, writes only into the caller's buffers. */
#include "rating.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LIST_MAX 8 /* instances named in a sentence before "and N more" */

/* ---- reasons ----------------------------------------------------------------- */

enum {
	GP_NO_PRACTICES,
	GP_ORG,
	GP_JUDGEMENT_INVALID,
	GP_NO_ARTIFACT,
	GP_LOW_AFFIRMATION,
	GP_SG_NOT_RATED,
	GP_PARTIAL,
	GP_WEAKNESS,
	GP_SG_UNSATISFIED,
	GP_SATISFIED,
	GP_JUDGED,
	GP_JUDGEMENT_IGNORED,
	GP_GG1_OWN,
	GP_END,
};

static void reason_init(rating_reason *r, uint16_t code)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	r->goal = r->practice = r->instance = r->weakness = RATING_NO_INDEX;
}

static int is_gg1(const rating_input *in, const rating_output *out, uint32_t g)
{
	return in->goals[g].generic_level == 1 && out->goals[g].pa != RATING_NO_INDEX;
}

/* Whether the goal's own practices take part in its rating. */
static int own_practices_count(const rating_input *in, const rating_output *out, uint32_t g)
{
	return !is_gg1(in, out, g) || out->goals[g].own_rating != RATING_GOAL_NOT_EVALUATED;
}

static uint32_t first_instance(const rating_input *in, uint32_t p, int missing_artifact)
{
	const rating_cell *row = in->n_instances ? in->cells + (size_t)p * in->n_instances : NULL;
	for (uint32_t i = 0; i < in->n_instances; i++) {
		if (missing_artifact ? (row[i].label != RATING_NY && row[i].artifacts == 0)
				     : row[i].label == RATING_NONE)
			return i;
	}
	return RATING_NO_INDEX;
}

/* One step of the practice-level phases: fills r and returns 1 when
 * practice p has a reason of this phase. */
static int practice_reason(const rating_input *in, const rating_output *out, uint32_t g, uint32_t p,
			   uint32_t phase, rating_reason *r)
{
	const rating_practice_result *pr = &out->practices[p];
	switch (phase) {
	case GP_ORG:
		if (pr->org == RATING_NONE) {
			reason_init(r, RATING_REASON_UNCHARACTERISED);
			r->count = pr->count[RATING_NONE];
			r->total = in->n_instances;
			r->instance = first_instance(in, p, 0);
		} else if (pr->org == RATING_NY) {
			reason_init(r, RATING_REASON_NOT_YET);
		} else if (pr->org == RATING_NEEDS_JUDGEMENT) {
			reason_init(r, RATING_REASON_NEEDS_JUDGEMENT);
			r->value = pr->row;
		} else {
			return 0;
		}
		break;
	case GP_JUDGEMENT_INVALID:
		if (pr->judgement != RATING_JUDGEMENT_NOT_ALLOWED &&
		    pr->judgement != RATING_JUDGEMENT_NO_RATIONALE)
			return 0;
		reason_init(r, RATING_REASON_JUDGEMENT_INVALID);
		r->value = pr->judgement;
		break;
	case GP_NO_ARTIFACT:
		if (pr->without_artifact == 0)
			return 0;
		reason_init(r, RATING_REASON_NO_ARTIFACT);
		r->count = pr->without_artifact;
		r->total = pr->considered;
		r->instance = first_instance(in, p, 1);
		break;
	case GP_LOW_AFFIRMATION:
		if ((uint64_t)pr->affirmed * 100 >=
		    (uint64_t)in->affirmation_threshold * (uint64_t)pr->considered)
			return 0;
		reason_init(r, RATING_REASON_LOW_AFFIRMATION);
		r->count = pr->affirmed;
		r->total = pr->considered;
		r->value = in->affirmation_threshold;
		break;
	case GP_PARTIAL:
		if (pr->org != RATING_PI && pr->org != RATING_NI)
			return 0;
		reason_init(r, RATING_REASON_PARTIAL);
		r->value = pr->org;
		break;
	case GP_JUDGED:
		if (pr->judgement != RATING_JUDGEMENT_USED)
			return 0;
		reason_init(r, RATING_REASON_JUDGED);
		r->value = pr->org;
		break;
	case GP_JUDGEMENT_IGNORED:
		if (pr->judgement != RATING_JUDGEMENT_NOT_NEEDED)
			return 0;
		reason_init(r, RATING_REASON_JUDGEMENT_IGNORED);
		r->value = in->practices[p].judgement;
		break;
	default:
		return 0;
	}
	r->goal = g;
	r->practice = p;
	return 1;
}

static int is_practice_phase(uint32_t phase)
{
	return phase == GP_ORG || phase == GP_JUDGEMENT_INVALID || phase == GP_NO_ARTIFACT ||
	       phase == GP_LOW_AFFIRMATION || phase == GP_PARTIAL || phase == GP_JUDGED ||
	       phase == GP_JUDGEMENT_IGNORED;
}

int rating_goal_reason_next(const rating_input *in, const rating_output *out, uint32_t g,
			    rating_reason_iter *it, rating_reason *r)
{
	if (g >= in->n_goals)
		return 0;
	const rating_goal *go = &in->goals[g];
	const rating_goal_result *gr = &out->goals[g];
	const int gg1 = is_gg1(in, out, g), own = own_practices_count(in, out, g);
	const rating_pa *pa = gg1 ? &in->pas[gr->pa] : NULL;

	while (it->phase < GP_END) {
		uint32_t phase = it->phase;
		if (is_practice_phase(phase)) {
			while (own && it->pos < go->n_practices) {
				uint32_t p = go->first_practice + it->pos++;
				if (practice_reason(in, out, g, p, phase, r))
					return 1;
			}
		} else if (phase == GP_NO_PRACTICES) {
			if (it->pos++ == 0 && !gg1 && go->n_practices == 0) {
				reason_init(r, RATING_REASON_NO_PRACTICES);
				r->goal = g;
				return 1;
			}
		} else if (phase == GP_WEAKNESS) {
			while (own && it->pos < in->n_weaknesses) {
				uint32_t w = it->pos++;
				const rating_weakness *wk = &in->weaknesses[w];
				if (!wk->significant || wk->practice < go->first_practice ||
				    wk->practice - go->first_practice >= go->n_practices)
					continue;
				reason_init(r, RATING_REASON_WEAKNESS);
				r->goal = g;
				r->practice = wk->practice;
				r->instance = wk->instance;
				r->weakness = w;
				return 1;
			}
		} else if (phase == GP_SG_NOT_RATED || phase == GP_SG_UNSATISFIED) {
			uint8_t want = phase == GP_SG_NOT_RATED ? RATING_GOAL_NOT_RATED
								: RATING_GOAL_UNSATISFIED;
			if (gg1 && phase == GP_SG_NOT_RATED && it->pos == 0 &&
			    (gr->why & RATING_WHY_NO_SPECIFIC_GOAL)) {
				it->pos = UINT32_MAX; /* done with this phase */
				reason_init(r, RATING_REASON_NO_SPECIFIC_GOAL);
				r->goal = g;
				return 1;
			}
			while (gg1 && it->pos < pa->n_goals) {
				uint32_t sg = pa->first_goal + it->pos++;
				if (in->goals[sg].generic_level != 0 ||
				    out->goals[sg].rating != want)
					continue;
				reason_init(r, RATING_REASON_SG);
				r->goal = sg;
				r->value = want;
				return 1;
			}
		} else if (phase == GP_SATISFIED) {
			if (it->pos++ == 0 && gr->rating == RATING_GOAL_SATISFIED) {
				reason_init(r, RATING_REASON_SATISFIED);
				r->goal = g;
				if (gg1) {
					for (uint32_t k = 0; k < pa->n_goals; k++)
						r->count += in->goals[pa->first_goal + k]
								    .generic_level == 0;
					r->value = 1; /* counts specific goals */
				} else {
					r->count = go->n_practices;
				}
				r->total = r->count;
				return 1;
			}
		} else if (phase == GP_GG1_OWN) {
			if (it->pos++ == 0 && gg1 && gr->own_rating != RATING_GOAL_NOT_EVALUATED) {
				reason_init(r, RATING_REASON_GG1_OWN);
				r->goal = g;
				r->value = gr->own_rating;
				return 1;
			}
		}
		it->phase++;
		it->pos = 0;
	}
	return 0;
}

int rating_pa_reason_next(const rating_input *in, const rating_output *out, uint32_t a,
			  rating_reason_iter *it, rating_reason *r)
{
	if (a >= in->n_pas)
		return 0;
	const rating_pa_result *res = &out->pas[a];
	for (;;) {
		switch (it->phase) {
		case 0:
			it->phase = res->status == RATING_PA_OUT_OF_SCOPE ? 3 : 1;
			it->pos = 0;
			if (res->status == RATING_PA_OUT_OF_SCOPE) {
				reason_init(r, RATING_REASON_OUT_OF_SCOPE);
				return 1;
			}
			break;
		case 1:
			if (it->pos < res->max_level) {
				uint8_t l = (uint8_t)(++it->pos);
				uint32_t g = res->gg_goal[l];
				reason_init(r, l >= 2 && g == RATING_NO_INDEX
						       ? RATING_REASON_MISSING_GOAL
						       : RATING_REASON_LEVEL);
				r->level = l;
				r->goal = g;
				r->value = res->gg[l];
				return 1;
			}
			it->phase = 2;
			break;
		case 2:
			it->phase = 3;
			if (res->max_level < 3) {
				reason_init(r, RATING_REASON_ABOVE_TARGET);
				r->level = (uint8_t)(res->max_level + 1);
				return 1;
			}
			break;
		default:
			return 0;
		}
	}
}

/* ---- text -------------------------------------------------------------------- */

typedef struct {
	char *buf;
	size_t size;
	size_t len;
} writer;

static void wr(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void wr(writer *w, const char *fmt, ...)
{
	va_list ap;
	size_t room = w->len < w->size ? w->size - w->len : 0;
	va_start(ap, fmt);
	int n = vsnprintf(room ? w->buf + w->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len += (size_t)n;
}

static const char *str(const char *s)
{
	return s != NULL ? s : "?";
}

static const char *upper(int v)
{
	static const char *const names[] = {"none",	      "FI", "LI", "PI", "NI", "NY",
					    "needs-judgement"};
	return v >= 0 && v <= RATING_NEEDS_JUDGEMENT ? names[v] : "?";
}

static void instance_name(writer *w, const rating_input *in, uint32_t i)
{
	if (in->instances != NULL && in->instances[i] != NULL)
		wr(w, "%s", in->instances[i]);
	else
		wr(w, "#%u", i);
}

static void goal_name(writer *w, const rating_input *in, const rating_output *out, uint32_t g)
{
	uint32_t a = out->goals[g].pa;
	if (a != RATING_NO_INDEX)
		wr(w, "%s:", str(in->pas[a].id));
	wr(w, "%s", str(in->goals[g].id));
}

static void level_goal_name(writer *w, const rating_input *in, uint32_t a, unsigned l)
{
	wr(w, "%s:GG%u", str(in->pas[a].id), l);
}

/* "instances claims: PI, billing: LI" with the weakest labels first. */
static void label_list(writer *w, const rating_input *in, uint32_t p)
{
	static const uint8_t order[] = {RATING_NI, RATING_PI, RATING_NONE,
					RATING_LI, RATING_FI, RATING_NY};
	const rating_cell *row = in->n_instances ? in->cells + (size_t)p * in->n_instances : NULL;
	uint32_t shown = 0;

	wr(w, "instances ");
	for (size_t o = 0; o < sizeof(order); o++)
		for (uint32_t i = 0; i < in->n_instances; i++) {
			if (row[i].label != order[o])
				continue;
			if (shown < LIST_MAX) {
				if (shown)
					wr(w, ", ");
				instance_name(w, in, i);
				wr(w, ": %s", upper(row[i].label));
			}
			shown++;
		}
	if (shown > LIST_MAX)
		wr(w, " and %u more", shown - LIST_MAX);
}

/* Names the instances lacking a label (missing_artifact 0) or an artifact. */
static void instance_list(writer *w, const rating_input *in, uint32_t p, int missing_artifact)
{
	const rating_cell *row = in->n_instances ? in->cells + (size_t)p * in->n_instances : NULL;
	uint32_t shown = 0;
	for (uint32_t i = 0; i < in->n_instances; i++) {
		if (missing_artifact ? (row[i].label == RATING_NY || row[i].artifacts != 0)
				     : row[i].label != RATING_NONE)
			continue;
		if (shown < LIST_MAX) {
			if (shown)
				wr(w, ", ");
			instance_name(w, in, i);
		}
		shown++;
	}
	if (shown > LIST_MAX)
		wr(w, " and %u more", shown - LIST_MAX);
}

/* Weakness text, at most 80 bytes, control characters as spaces, never cut
 * inside a UTF-8 sequence. */
static void weakness_text(writer *w, const char *t)
{
	char s[96];
	size_t n = 0, len = strlen(t);
	size_t keep = len > 80 ? 80 : len;
	if (len > keep)
		while (keep > 0 && ((unsigned char)t[keep] & 0xC0) == 0x80)
			keep--; /* t[keep] starts the first character left out */
	for (; n < keep; n++) {
		unsigned char c = (unsigned char)t[n];
		s[n] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	s[n] = '\0';
	wr(w, "\"%s%s\"", s, len > keep ? "..." : "");
}

static const char *pair_text(uint8_t row)
{
	return row == RATING_ROW_A3 ? "LI or PI" : "PI or NI";
}

static const char *mix_text(uint8_t row)
{
	return row == RATING_ROW_A3 ? "its instances mix FI or LI with PI or NI"
				    : "its instances mix PI and NI";
}

/* The clause after "because" for one goal reason. */
static void goal_clause(writer *w, const rating_input *in, const rating_output *out,
			const rating_reason *r)
{
	const char *pid = r->practice != RATING_NO_INDEX ? str(in->practices[r->practice].id) : "";
	switch (r->code) {
	case RATING_REASON_NO_PRACTICES:
		wr(w, "the model lists no practice under it");
		break;
	case RATING_REASON_UNCHARACTERISED:
		if (r->total == 0) {
			wr(w, "practice %s cannot be characterised: the appraisal has no instances",
			   pid);
			break;
		}
		wr(w, "practice %s is not characterised at %u of %u instances (", pid, r->count,
		   r->total);
		instance_list(w, in, r->practice, 0);
		wr(w, ")");
		break;
	case RATING_REASON_NOT_YET:
		wr(w, "practice %s is not yet implemented at any instance (every instance is NY)",
		   pid);
		break;
	case RATING_REASON_NEEDS_JUDGEMENT:
		wr(w, "practice %s needs a lead's judgement to choose %s (", pid,
		   pair_text(r->value));
		label_list(w, in, r->practice);
		wr(w, ")");
		break;
	case RATING_REASON_JUDGEMENT_INVALID:
		wr(w, "the judgement recorded for practice %s (%s) is not used: ", pid,
		   upper(in->practices[r->practice].judgement));
		if (r->value == RATING_JUDGEMENT_NO_RATIONALE)
			wr(w, "it has no rationale");
		else
			wr(w, "only %s is allowed for these instance labels",
			   pair_text(out->practices[r->practice].row));
		break;
	case RATING_REASON_NO_ARTIFACT:
		wr(w, "practice %s has no accepted artifact at %u of %u instances (", pid, r->count,
		   r->total);
		instance_list(w, in, r->practice, 1);
		wr(w, ")");
		break;
	case RATING_REASON_LOW_AFFIRMATION:
		wr(w,
		   "affirmations cover only %u of %u instances for practice %s (%u%%, below the "
		   "threshold of %u%%)",
		   r->count, r->total, pid,
		   r->total ? (unsigned)((uint64_t)r->count * 100 / r->total) : 0u, r->value);
		break;
	case RATING_REASON_PARTIAL:
		wr(w, "practice %s is %s at the organisational level%s (", pid,
		   rating_value_words(r->value),
		   out->practices[r->practice].judgement == RATING_JUDGEMENT_USED
			   ? " by the lead's judgement"
			   : "");
		label_list(w, in, r->practice);
		wr(w, ")");
		break;
	case RATING_REASON_WEAKNESS: {
		const rating_weakness *wk = &in->weaknesses[r->weakness];
		wr(w, "significant weakness #%lld is recorded on practice %s at instance ",
		   (long long)wk->id, pid);
		instance_name(w, in, r->instance);
		if (wk->text != NULL && wk->text[0] != '\0') {
			wr(w, " (");
			weakness_text(w, wk->text);
			wr(w, ")");
		}
		break;
	}
	case RATING_REASON_SG:
		wr(w, "specific goal ");
		goal_name(w, in, out, r->goal);
		wr(w, " is %s", r->value == RATING_GOAL_NOT_RATED ? "not rated" : "unsatisfied");
		break;
	case RATING_REASON_GG1_OWN:
		wr(w,
		   "its own practices are characterised, so they count beside the specific goals "
		   "(on their own they are %s)",
		   r->value == RATING_GOAL_NOT_RATED ? "not rated"
						     : rating_goal_value_name(r->value));
		break;
	case RATING_REASON_NO_SPECIFIC_GOAL:
		wr(w, "the process area lists no specific goal");
		break;
	case RATING_REASON_SATISFIED:
		if (r->value == 1 && r->count == 1)
			wr(w, "its only specific goal is satisfied");
		else if (r->value == 1)
			wr(w, "all %u specific goals are satisfied", r->count);
		else
			wr(w,
			   "%s fully or largely implemented at the organisational level, every "
			   "instance has an accepted artifact, affirmations cover at least %u%% of "
			   "instances and no significant weakness is recorded",
			   r->count == 1 ? "its only practice is" : "all its practices are",
			   in->affirmation_threshold);
		break;
	case RATING_REASON_JUDGED:
		wr(w,
		   "practice %s is %s by the lead's judgement (the method leaves %s to the team)",
		   pid, upper(r->value), pair_text(out->practices[r->practice].row));
		break;
	case RATING_REASON_JUDGEMENT_IGNORED:
		wr(w,
		   "a judgement (%s) is recorded for practice %s, but its instance labels no "
		   "longer need one, so it is ignored",
		   upper(r->value), pid);
		break;
	default:
		wr(w, "of an unknown reason (%u)", r->code);
	}
}

/* Which goal rating a reason argues for; RATING_GOAL_NOT_EVALUATED: a note. */
static uint8_t reason_class(const rating_reason *r)
{
	switch (r->code) {
	case RATING_REASON_NO_PRACTICES:
	case RATING_REASON_UNCHARACTERISED:
	case RATING_REASON_NOT_YET:
	case RATING_REASON_NEEDS_JUDGEMENT:
	case RATING_REASON_NO_ARTIFACT:
	case RATING_REASON_LOW_AFFIRMATION:
	case RATING_REASON_NO_SPECIFIC_GOAL:
		return RATING_GOAL_NOT_RATED;
	case RATING_REASON_PARTIAL:
	case RATING_REASON_WEAKNESS:
		return RATING_GOAL_UNSATISFIED;
	case RATING_REASON_SG:
		return r->value;
	case RATING_REASON_SATISFIED:
		return RATING_GOAL_SATISFIED;
	default:
		return RATING_GOAL_NOT_EVALUATED;
	}
}

static const char *goal_words(uint8_t v)
{
	return v == RATING_GOAL_SATISFIED     ? "satisfied"
	       : v == RATING_GOAL_UNSATISFIED ? "unsatisfied"
					      : "not rated";
}

static void start(writer *w, char *buf, size_t size)
{
	w->buf = buf;
	w->size = size;
	w->len = 0;
	if (size > 0)
		buf[0] = '\0';
}

size_t rating_explain_goal(char *buf, size_t size, const rating_input *in, const rating_output *out,
			   uint32_t g)
{
	writer w;
	start(&w, buf, size);
	if (g >= in->n_goals)
		return 0;
	const uint8_t rating = out->goals[g].rating;
	rating_reason_iter it = {0, 0};
	rating_reason r;
	int decisive = 0;

	while (rating_goal_reason_next(in, out, g, &it, &r)) {
		uint8_t cls = reason_class(&r);
		if (cls == rating) {
			goal_name(&w, in, out, g);
			wr(&w, " is %s%s because ", decisive ? "also " : "", goal_words(rating));
			decisive++;
		} else if (cls == RATING_GOAL_NOT_EVALUATED) {
			wr(&w, "Note: ");
		} else {
			wr(&w, "Also, ");
		}
		goal_clause(&w, in, out, &r);
		wr(&w, ".\n");
	}
	if (!decisive) { /* cannot happen for a computed output; say so rather than nothing */
		goal_name(&w, in, out, g);
		wr(&w, " is %s.\n", goal_words(rating));
	}
	return w.len;
}

size_t rating_explain_pa(char *buf, size_t size, const rating_input *in, const rating_output *out,
			 uint32_t a)
{
	writer w;
	start(&w, buf, size);
	if (a >= in->n_pas)
		return 0;
	const rating_pa *pa = &in->pas[a];
	const rating_pa_result *res = &out->pas[a];
	const char *id = str(pa->id);

	if (res->status == RATING_PA_RATED)
		wr(&w, "%s is at capability level %d (target %u).\n", id, res->level,
		   pa->target_level);
	else if (res->status == RATING_PA_NOT_RATED && res->level > 0)
		wr(&w,
		   "%s is not rated: capability level %d is reached, but level %u cannot be "
		   "decided yet.\n",
		   id, res->level, res->stopped);
	else if (res->status == RATING_PA_NOT_RATED)
		wr(&w, "%s is not rated: capability level 1 cannot be decided yet.\n", id);

	rating_reason_iter it = {0, 0};
	rating_reason r;
	while (rating_pa_reason_next(in, out, a, &it, &r)) {
		unsigned l = r.level;
		switch (r.code) {
		case RATING_REASON_OUT_OF_SCOPE:
			wr(&w,
			   "%s is out of scope for this appraisal: it has no capability level "
			   "(which is not the same as level 0).\n",
			   id);
			break;
		case RATING_REASON_MISSING_GOAL:
			if (l == res->stopped)
				wr(&w,
				   "Level %u cannot be decided because the model lists no GG%u for "
				   "%s.\n",
				   l, l, id);
			else
				wr(&w, "The model lists no GG%u for %s (level %u).\n", l, id, l);
			break;
		case RATING_REASON_LEVEL:
			if (res->stopped == 0 || l < res->stopped) {
				wr(&w, "Level %u is reached: ", l);
				level_goal_name(&w, in, a, l);
				wr(&w, " is satisfied%s.\n",
				   l == 1 ? " because every specific goal is satisfied" : "");
			} else if (l == res->stopped) {
				wr(&w, "Level %u %s because ", l,
				   r.value == RATING_GOAL_NOT_RATED ? "cannot be decided"
								    : "is not reached");
				level_goal_name(&w, in, a, l);
				wr(&w, " is %s%s.\n", goal_words(r.value),
				   l == 1 ? " (GG1 needs every specific goal satisfied)" : "");
			} else {
				level_goal_name(&w, in, a, l);
				wr(&w,
				   " is %s, but level %u would need level %u first: levels are "
				   "cumulative.\n",
				   goal_words(r.value), l, res->stopped);
			}
			break;
		case RATING_REASON_ABOVE_TARGET:
			wr(&w,
			   "Levels above %u are not evaluated (the target level of %s is %u).\n",
			   l - 1, id, pa->target_level);
			break;
		}
	}
	return w.len;
}

size_t rating_explain_practice(char *buf, size_t size, const rating_input *in,
			       const rating_output *out, uint32_t p)
{
	writer w;
	start(&w, buf, size);
	if (p >= in->n_practices)
		return 0;
	const rating_practice_result *pr = &out->practices[p];
	const char *id = str(in->practices[p].id);
	const uint8_t judged = in->practices[p].judgement;

	switch (pr->row) {
	case RATING_ROW_NO_INSTANCES:
		wr(&w, "%s is not characterised: the appraisal has no instances.\n", id);
		break;
	case RATING_ROW_UNCHARACTERISED:
		wr(&w,
		   "%s has no organisational label yet: %u of %u instances are not "
		   "characterised (",
		   id, pr->count[RATING_NONE], in->n_instances);
		instance_list(&w, in, p, 0);
		wr(&w, ").\n");
		break;
	case RATING_ROW_A5:
		wr(&w, "%s is not yet implemented (NY): every instance is NY.\n", id);
		break;
	case RATING_ROW_A1:
	case RATING_ROW_A2:
		wr(&w, "%s is %s at the organisational level: ", id, rating_value_words(pr->org));
		if (pr->row == RATING_ROW_A1)
			wr(&w, "every instance%s is %s (",
			   pr->count[RATING_NY] ? " that is not NY" : "", upper(pr->org));
		else
			wr(&w, "its instances are FI or LI, and any LI caps the practice at LI (");
		label_list(&w, in, p);
		wr(&w, ").\n");
		break;
	case RATING_ROW_A3:
	case RATING_ROW_A4:
		if (pr->org == RATING_NEEDS_JUDGEMENT)
			wr(&w,
			   "%s needs a lead's judgement: %s, so the method leaves %s to the team (",
			   id, mix_text(pr->row), pair_text(pr->row));
		else
			wr(&w,
			   "%s is %s at the organisational level by the lead's judgement: %s, so "
			   "the method leaves %s to the team (",
			   id, rating_value_words(pr->org), mix_text(pr->row), pair_text(pr->row));
		label_list(&w, in, p);
		wr(&w, ").\n");
		if (pr->judgement == RATING_JUDGEMENT_NONE)
			wr(&w, "A lead records one with opra judge, with a rationale.\n");
		else if (pr->judgement == RATING_JUDGEMENT_NO_RATIONALE)
			wr(&w, "The judgement recorded (%s) has no rationale, so it is not used.\n",
			   upper(judged));
		else if (pr->judgement == RATING_JUDGEMENT_NOT_ALLOWED)
			wr(&w,
			   "The judgement recorded (%s) is not used: only %s is allowed for these "
			   "instance labels.\n",
			   upper(judged), pair_text(pr->row));
		break;
	}
	if (pr->count[RATING_NY] > 0 && pr->row != RATING_ROW_A5)
		wr(&w, "%u instance%s labelled NY %s left out of the aggregation and coverage.\n",
		   pr->count[RATING_NY], pr->count[RATING_NY] == 1 ? "" : "s",
		   pr->count[RATING_NY] == 1 ? "is" : "are");
	if (pr->judgement == RATING_JUDGEMENT_NOT_NEEDED)
		wr(&w,
		   "A judgement (%s) is recorded for %s, but its instance labels no longer need "
		   "one, so it is ignored.\n",
		   upper(judged), id);
	wr(&w,
	   "Evidence: %u of %u instances have an accepted artifact and %u an affirmation; %u "
	   "weakness%s recorded (%u significant).\n",
	   pr->considered - pr->without_artifact, pr->considered, pr->affirmed, pr->weaknesses,
	   pr->weaknesses == 1 ? " is" : "es are", pr->significant);
	return w.len;
}
