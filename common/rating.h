/* The rating engine: evidence and characterisations -> organisational-level
 * practice labels -> goal ratings -> capability level per process area
 * (docs/rating.md; ../shared/reference/appraisal-rules.md §3-§7).
 *
 * Pure computation over caller-owned arrays: no I/O, no allocation, no
 * globals (only opra_err_set on invalid input). The caller (the server)
 * loads the facts of one appraisal into a rating_input, sizes a
 * rating_output from the same counts, and calls rating_compute. Everything
 * is recomputed from the facts on every call; nothing is cached.
 *
 * Explanations come in two forms, both derived from input + output on
 * demand: machine-readable reasons (rating_goal_reason_next,
 * rating_pa_reason_next: enum codes plus indices into the input arrays) and
 * sentences a sponsor can read (rating_explain_*), written into a caller
 * buffer with snprintf semantics. */
#ifndef OPRA_RATING_H
#define OPRA_RATING_H

#include <stddef.h>
#include <stdint.h>

/* Labels. An instance holds NONE (not characterised) or FI..NY; the
 * organisational level may also be NEEDS_JUDGEMENT (§4 rows A3/A4 without a
 * valid lead's judgement). rating_value_name gives the JSON spelling:
 * "none" "fi" "li" "pi" "ni" "ny" "needs-judgement". */
typedef enum {
	RATING_NONE = 0,
	RATING_FI = 1,
	RATING_LI = 2,
	RATING_PI = 3,
	RATING_NI = 4,
	RATING_NY = 5,
	RATING_NEEDS_JUDGEMENT = 6,
} rating_value;

#define RATING_LABELS 6 /* RATING_NONE..RATING_NY: what an instance can hold */

/* Goal ratings (§5). NOT_EVALUATED appears only in rating_pa_result.gg for
 * generic goals above the level evaluated for the process area. */
typedef enum {
	RATING_GOAL_NOT_RATED = 0,
	RATING_GOAL_SATISFIED = 1,
	RATING_GOAL_UNSATISFIED = 2,
	RATING_GOAL_NOT_EVALUATED = 3,
} rating_goal_value;

/* Process-area status (§6): out-of-scope and not-rated are distinct from
 * capability level 0. */
typedef enum {
	RATING_PA_RATED = 0,
	RATING_PA_NOT_RATED = 1,
	RATING_PA_OUT_OF_SCOPE = 2,
} rating_pa_status;

#define RATING_NO_INDEX UINT32_MAX

/* ---- §3: the suggested instance label ------------------------------------ */

/* Evidence flags of one (practice, instance). */
#define RATING_CELL_NOT_YET  0x01 /* the instance has not reached the practice yet */
#define RATING_CELL_CONFLICT 0x02 /* the evidence conflicts (some for, some against) */

typedef struct {
	uint32_t artifacts;    /* accepted artifacts */
	uint32_t affirmations; /* accepted affirmations */
	uint32_t weaknesses;   /* weaknesses recorded (significant or not) */
	uint8_t flags;	       /* RATING_CELL_* */
} rating_evidence;

/* Which row of the suggestion table applied (docs/rating.md). */
typedef enum {
	RATING_SUGGEST_NO_EVIDENCE = 0,	  /* none: nothing recorded at all */
	RATING_SUGGEST_NOT_YET,		  /* NY */
	RATING_SUGGEST_CONFLICT,	  /* PI: conflicting evidence */
	RATING_SUGGEST_CORROBORATED,	  /* FI: artifact + affirmation, no weakness */
	RATING_SUGGEST_CORROBORATED_WEAK, /* LI: artifact + affirmation, weaknesses */
	RATING_SUGGEST_UNCORROBORATED,	  /* none: artifact without affirmation: team decides */
	RATING_SUGGEST_AFFIRMATION_ONLY,  /* PI: affirmation, no artifact */
	RATING_SUGGEST_WEAKNESS_ONLY,	  /* NI: weaknesses, no supporting evidence */
} rating_suggest_row;

/* The suggested label for one (practice, instance): RATING_NONE or FI..NY.
 * *row (may be NULL) receives the table row that applied. */
rating_value rating_suggest(const rating_evidence *e, rating_suggest_row *row);
/* One sentence describing a suggestion row, e.g. "an accepted artifact is
 * corroborated by an affirmation and no weakness is recorded". Never NULL. */
const char *rating_suggest_row_text(rating_suggest_row row);

/* ---- §4: aggregation to the organisational level -------------------------- */

/* Which aggregation row applied. */
typedef enum {
	RATING_ROW_NO_INSTANCES = 0, /* the appraisal has no instances: none */
	RATING_ROW_UNCHARACTERISED,  /* some instance has no label: none */
	RATING_ROW_A1,		     /* all (non-NY) labels the same X: X */
	RATING_ROW_A2,		     /* only FI and LI, at least one of each: LI */
	RATING_ROW_A3,		     /* PI/NI with FI/LI: judgement, LI or PI */
	RATING_ROW_A4,		     /* only PI and NI, one of each: judgement, PI or NI */
	RATING_ROW_A5,		     /* every instance NY: NY */
} rating_row;

/* What became of a lead's judgement recorded for the practice. */
typedef enum {
	RATING_JUDGEMENT_NONE = 0,     /* none recorded */
	RATING_JUDGEMENT_USED,	       /* A3/A4 and valid: the org label is the judgement */
	RATING_JUDGEMENT_NOT_ALLOWED,  /* A3/A4 but the label is outside the row's pair */
	RATING_JUDGEMENT_NO_RATIONALE, /* A3/A4 but no rationale recorded */
	RATING_JUDGEMENT_NOT_NEEDED,   /* the row needs no judgement: ignored */
} rating_judgement_status;

/* The aggregation table on its own: count[v] is the number of instances
 * labelled v (v = RATING_NONE..RATING_NY). judgement is RATING_NONE or the
 * label a lead recorded; has_rationale says whether a rationale came with
 * it. Returns the organisational label; *row and *judgement_status (each
 * may be NULL) say why. */
rating_value rating_aggregate(const uint32_t count[RATING_LABELS], rating_value judgement,
			      int has_rationale, rating_row *row,
			      rating_judgement_status *judgement_status);

/* ---- the whole appraisal: input ------------------------------------------ */

/* A process area. Its goals are goals[first_goal .. first_goal + n_goals). */
typedef struct {
	const char *id;	      /* "SC" (explanations only) */
	uint8_t in_scope;     /* 0: out-of-scope (no level, distinct from 0) */
	uint8_t target_level; /* 0..3; levels up to max(target, 1) are evaluated */
	uint32_t first_goal;
	uint32_t n_goals;
} rating_pa;

/* A goal. Its practices are practices[first_practice .. + n_practices). */
typedef struct {
	const char *id;	       /* "SG1", "GG2" (the PA id is prefixed in sentences) */
	uint8_t generic_level; /* 0: specific goal; 1..3: GG1..GG3 */
	uint32_t first_practice;
	uint32_t n_practices;
} rating_goal;

/* A practice and the lead's judgement for it, if any. */
typedef struct {
	const char *id;		     /* "SC:SG1.SP1" */
	uint8_t judgement;	     /* RATING_NONE, or FI..NI chosen by a lead */
	uint8_t judgement_rationale; /* nonzero when the judgement has a rationale */
} rating_practice;

/* The facts of one (practice, instance): the team-confirmed label and the
 * evidence counts (accepted items only; saturate at 65535). */
typedef struct {
	uint8_t label;	       /* RATING_NONE or FI..NY */
	uint8_t flags;	       /* RATING_CELL_* (for the suggestion) */
	uint16_t artifacts;    /* accepted artifacts */
	uint16_t affirmations; /* accepted affirmations */
} rating_cell;

/* A weakness recorded on (practice, instance). */
typedef struct {
	uint32_t practice; /* index into practices */
	uint32_t instance; /* index into instances */
	uint8_t significant;
	int64_t id;	  /* the caller's id (shown as "weakness #id") */
	const char *text; /* may be NULL; shown truncated in sentences */
} rating_weakness;

typedef struct {
	const rating_pa *pas;
	uint32_t n_pas;
	const rating_goal *goals;
	uint32_t n_goals;
	const rating_practice *practices;
	uint32_t n_practices;
	const char *const *instances; /* instance names */
	uint32_t n_instances;
	/* cells[p * n_instances + i] for practice p, instance i */
	const rating_cell *cells;
	const rating_weakness *weaknesses;
	uint32_t n_weaknesses;
	/* Minimum percentage of (non-NY) instances with an accepted affirmation,
	 * per practice, for its goal to be rated (0..100; appraisals default 50). */
	uint8_t affirmation_threshold;
} rating_input;

/* ---- output --------------------------------------------------------------- */

typedef struct {
	uint8_t org;		       /* rating_value */
	uint8_t row;		       /* rating_row */
	uint8_t judgement;	       /* rating_judgement_status */
	uint32_t count[RATING_LABELS]; /* instances per label */
	uint32_t considered;	       /* instances not labelled NY */
	uint32_t without_artifact;     /* of those, with no accepted artifact */
	uint32_t affirmed;	       /* of those, with an accepted affirmation */
	uint32_t weaknesses;	       /* all weaknesses on the practice */
	uint32_t significant;	       /* significant ones */
} rating_practice_result;

/* Why bits of a goal rating (all that apply are set; the rating follows the
 * precedence of §5: not-rated reasons first). */
#define RATING_WHY_UNCHARACTERISED  0x0001 /* a practice has org label none */
#define RATING_WHY_NOT_YET	    0x0002 /* a practice is NY */
#define RATING_WHY_NEEDS_JUDGEMENT  0x0004 /* a practice needs a lead's judgement */
#define RATING_WHY_NO_ARTIFACT	    0x0008 /* an instance lacks an accepted artifact */
#define RATING_WHY_LOW_AFFIRMATION  0x0010 /* affirmation coverage below the threshold */
#define RATING_WHY_NO_PRACTICES	    0x0020 /* the goal lists no practice */
#define RATING_WHY_PARTIAL	    0x0040 /* a practice is PI or NI */
#define RATING_WHY_SIGNIFICANT	    0x0080 /* a significant weakness is attached */
#define RATING_WHY_SG_NOT_RATED	    0x0100 /* GG1: a specific goal is not rated */
#define RATING_WHY_SG_UNSATISFIED   0x0200 /* GG1: a specific goal is unsatisfied */
#define RATING_WHY_NO_SPECIFIC_GOAL 0x0400 /* GG1: the PA lists no specific goal */
#define RATING_WHY_GG1_OWN	    0x0800 /* GG1: its own practices were characterised and count */

typedef struct {
	uint8_t rating;	      /* rating_goal_value (never NOT_EVALUATED) */
	uint8_t own_rating;   /* GG1 only: rating by its own practices, or NOT_EVALUATED */
	uint8_t above_target; /* a generic goal above the levels evaluated for its PA */
	uint16_t why;	      /* RATING_WHY_* */
	uint32_t pa;	      /* index of the PA the goal belongs to, or RATING_NO_INDEX */
	uint32_t significant; /* significant weaknesses attached to the goal */
} rating_goal_result;

typedef struct {
	uint8_t status;	     /* rating_pa_status */
	int8_t level;	     /* highest level reached (0..3); -1 when out-of-scope */
	uint8_t max_level;   /* the highest level evaluated: max(target, 1) */
	uint8_t stopped;     /* the level whose goal stopped the climb; 0: reached max_level */
	uint8_t gg[4];	     /* gg[1..3]: rating of GG1..GG3 as used for the level */
	uint32_t gg_goal[4]; /* gg_goal[1..3]: goal index of GGn, or RATING_NO_INDEX */
} rating_pa_result;

/* Arrays sized by the caller from the input's counts. suggested may be NULL
 * (no suggestions wanted); otherwise n_practices * n_instances bytes,
 * suggested[p * n_instances + i] = rating_suggest() of that cell. */
typedef struct {
	uint8_t *suggested;
	rating_practice_result *practices; /* n_practices */
	rating_goal_result *goals;	   /* n_goals */
	rating_pa_result *pas;		   /* n_pas */
} rating_output;

/* Rates the whole appraisal. Returns OPRA_OK, or OPRA_INVALID_ARGUMENT with
 * a message (opra_err_last) when the input is inconsistent (an index out of
 * range, an unknown label, a threshold above 100, ...); the output is then
 * unspecified. */
int rating_compute(const rating_input *in, rating_output *out);

/* ---- explanations: machine-readable reasons -------------------------------- */

typedef enum {
	/* goals */
	RATING_REASON_SATISFIED = 1,	 /* count = practices, all FI/LI, none significant */
	RATING_REASON_NO_PRACTICES,	 /* the goal lists no practice */
	RATING_REASON_UNCHARACTERISED,	 /* practice; instance = first unlabelled; count */
	RATING_REASON_NOT_YET,		 /* practice is NY (every instance NY) */
	RATING_REASON_NEEDS_JUDGEMENT,	 /* practice; value = row (A3/A4) */
	RATING_REASON_JUDGEMENT_INVALID, /* practice; value = judgement status */
	RATING_REASON_JUDGED,		 /* practice; value = the label a lead chose */
	RATING_REASON_JUDGEMENT_IGNORED, /* practice; a judgement recorded but not needed */
	RATING_REASON_NO_ARTIFACT,	 /* practice; instance = first; count of total */
	RATING_REASON_LOW_AFFIRMATION,	 /* practice; count affirmed of total; value = threshold */
	RATING_REASON_PARTIAL,		 /* practice; value = PI or NI */
	RATING_REASON_WEAKNESS,		 /* practice, instance, weakness (significant ones) */
	RATING_REASON_SG,		 /* GG1: goal = the SG; value = its rating */
	RATING_REASON_GG1_OWN,		 /* GG1: goal = GG1; value = rating by its own practices */
	RATING_REASON_NO_SPECIFIC_GOAL,	 /* GG1: the PA lists no specific goal */
	/* process areas */
	RATING_REASON_OUT_OF_SCOPE, /* the PA is not in the appraisal's scope */
	RATING_REASON_LEVEL,	    /* level = L; goal = GGL (or NO_INDEX); value = rating */
	RATING_REASON_MISSING_GOAL, /* level = L: the model lists no GGL for the PA */
	RATING_REASON_ABOVE_TARGET, /* level = first level not evaluated (target) */
} rating_reason_code;

typedef struct {
	uint16_t code; /* rating_reason_code */
	uint8_t value; /* code-dependent, see above */
	uint8_t level; /* for PA reasons */
	uint32_t goal; /* indices into the input, or RATING_NO_INDEX */
	uint32_t practice;
	uint32_t instance;
	uint32_t weakness;
	uint32_t count;
	uint32_t total;
} rating_reason;

/* Iterates over the reasons for a goal's rating (or a PA's level): set
 * it->pos = 0 and it->phase = 0 first, then call until it returns 0. */
typedef struct {
	uint32_t pos;
	uint32_t phase;
} rating_reason_iter;

int rating_goal_reason_next(const rating_input *in, const rating_output *out, uint32_t goal,
			    rating_reason_iter *it, rating_reason *r);
int rating_pa_reason_next(const rating_input *in, const rating_output *out, uint32_t pa,
			  rating_reason_iter *it, rating_reason *r);

/* ---- explanations: sentences ---------------------------------------------- */

/* Each writes text (one sentence per line, each line ending in '\n') into
 * buf and returns the length the whole text needs, like snprintf: when it
 * is >= size the text was truncated (still NUL-terminated when size > 0). */
size_t rating_explain_goal(char *buf, size_t size, const rating_input *in, const rating_output *out,
			   uint32_t goal);
size_t rating_explain_pa(char *buf, size_t size, const rating_input *in, const rating_output *out,
			 uint32_t pa);
/* The organisational label of one practice and the instance labels behind it. */
size_t rating_explain_practice(char *buf, size_t size, const rating_input *in,
			       const rating_output *out, uint32_t practice);

/* ---- names ---------------------------------------------------------------- */

/* JSON spellings (never NULL; "unknown" outside the enum). */
const char *rating_value_name(int v);	   /* "fi", "needs-judgement", ... */
const char *rating_goal_value_name(int v); /* "satisfied", "not-rated", ... */
const char *rating_pa_status_name(int v);  /* "rated", "not-rated", "out-of-scope" */
const char *rating_row_name(int row);	   /* "A1".."A5", "uncharacterised", ... */
/* Words for sentences: "fully implemented", ... */
const char *rating_value_words(int v);
/* Parses "FI".."NY" (either case) and "none"; -1 when not a label. */
int rating_value_parse(const char *s);

#endif
