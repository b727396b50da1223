/* The rating engine's share of `opra rating show`: rating_compute over a
 * synthetic appraisal the size of a full CERT-RMM one (26 PAs, 10 specific
 * and 13 generic practices each, 50 instances: 29 900 characterisations),
 * in memory, no database. Prints the median wall and CPU time per run and
 * per 1000 characterisations, with and without suggested labels, and the
 * cost of rendering every explanation (`--explain`).
 *
 * usage: bench_rating [--runs N] [--instances N] [--pas N] */
#include "summary.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"
#include "rating.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPS_PER_PA 10
#define GPS_PER_PA 13 /* GG1: 1, GG2: 10, GG3: 2 */

static uint32_t rng = 2463534242u;

static uint32_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static long long cpu_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

typedef struct {
	rating_pa *pas;
	rating_goal *goals;
	rating_practice *practices;
	char (*ids)[48];
	const char **instances;
	char (*inames)[24];
	rating_cell *cells;
	rating_weakness *weaknesses;
	rating_input in;
	rating_output out;
} synthetic;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (p == NULL) {
		fprintf(stderr, "bench_rating: out of memory\n");
		exit(1);
	}
	return p;
}

/* SG1..SG4 with 3, 3, 2, 2 practices; GG1 (1), GG2 (10), GG3 (2); targets
 * 1-3. A finished appraisal: every cell characterised, each practice mostly
 * FI/LI (A1/A2), some mixing in a PI that a lead judged LI (A3), some PI
 * throughout, some with NY instances; artifacts everywhere but at one
 * instance of PA 5 (coverage), affirmations at about two thirds of the
 * instances; one weakness per 40 cells, one in 64 of them significant. */
static void build(synthetic *s, uint32_t n_pas, uint32_t n_inst)
{
	static const uint32_t sg_sizes[] = {3, 3, 2, 2};
	static const uint32_t gg_sizes[] = {1, 10, 2};
	const uint32_t goals_per_pa = 7, prac_per_pa = SPS_PER_PA + GPS_PER_PA;
	const uint32_t np = n_pas * prac_per_pa;
	const size_t cells = (size_t)np * n_inst;
	uint32_t g = 0, p = 0, w = 0;

	s->pas = xcalloc(n_pas, sizeof(*s->pas));
	s->goals = xcalloc(n_pas * goals_per_pa, sizeof(*s->goals));
	s->practices = xcalloc(np, sizeof(*s->practices));
	s->ids = xcalloc(np, sizeof(*s->ids));
	s->instances = xcalloc(n_inst, sizeof(*s->instances));
	s->inames = xcalloc(n_inst, sizeof(*s->inames));
	s->cells = xcalloc(cells, sizeof(*s->cells));
	s->weaknesses = xcalloc(cells / 40 + 1, sizeof(*s->weaknesses));

	for (uint32_t i = 0; i < n_inst; i++) {
		snprintf(s->inames[i], sizeof(s->inames[i]), "svc%02u", i);
		s->instances[i] = s->inames[i];
	}
	for (uint32_t a = 0; a < n_pas; a++) {
		static char pa_ids[64][16];
		snprintf(pa_ids[a % 64], sizeof(pa_ids[0]), "PA%02u", a);
		s->pas[a] = (rating_pa){pa_ids[a % 64], 1, (uint8_t)(1 + a % 3), g, goals_per_pa};
		for (uint32_t k = 0; k < goals_per_pa; k++, g++) {
			static const char *const gids[] = {"SG1", "SG2", "SG3", "SG4",
							   "GG1", "GG2", "GG3"};
			uint32_t n = k < 4 ? sg_sizes[k] : gg_sizes[k - 4];
			s->goals[g] = (rating_goal){gids[k], (uint8_t)(k < 4 ? 0 : k - 3), p, n};
			for (uint32_t j = 0; j < n; j++, p++) {
				snprintf(s->ids[p], sizeof(s->ids[p]), "PA%02u:%s.%s%u", a, gids[k],
					 k < 4 ? "SP" : "GP", j + 1);
				s->practices[p].id = s->ids[p];
			}
		}
	}
	for (uint32_t x = 0; x < np; x++) {
		uint32_t kind = next_random() % 100;
		if (kind >= 70 && kind < 85) {
			s->practices[x].judgement = RATING_LI;
			s->practices[x].judgement_rationale = 1;
		}
		for (uint32_t i = 0; i < n_inst; i++) {
			size_t c = (size_t)x * n_inst + i;
			uint32_t r = next_random() % 100;
			rating_cell *cell = &s->cells[c];
			if (kind < 70)
				cell->label = r < 75 ? RATING_FI : RATING_LI;
			else if (kind < 85)
				cell->label = i == 0 ? RATING_PI : r < 60 ? RATING_FI : RATING_LI;
			else if (kind < 86)
				cell->label = RATING_PI;
			else
				cell->label = r < 10 ? RATING_NY : RATING_FI;
			cell->artifacts = (uint16_t)(1 + next_random() % 3);
			cell->affirmations = (uint16_t)(next_random() % 3 ? 1 : 0);
			if (c % 40 == 7) {
				s->weaknesses[w] = (rating_weakness){
					x, i, (uint8_t)(w % 64 == 0), (int64_t)w + 1,
					"the restore procedure was never tested"};
				w++;
			}
		}
	}
	if (n_pas > 5) /* one instance of PA 5 lacks an artifact: not rated */
		s->cells[(size_t)s->goals[5 * goals_per_pa].first_practice * n_inst].artifacts = 0;
	s->in = (rating_input){
		s->pas,	  n_pas,	 s->goals, g, s->practices, np, s->instances, n_inst,
		s->cells, s->weaknesses, w,	   50};
	s->out.suggested = xcalloc(cells, 1);
	s->out.practices = xcalloc(np, sizeof(*s->out.practices));
	s->out.goals = xcalloc(g, sizeof(*s->out.goals));
	s->out.pas = xcalloc(n_pas, sizeof(*s->out.pas));
}

static void synthetic_free(synthetic *s)
{
	free(s->pas);
	free(s->goals);
	free(s->practices);
	free(s->ids);
	free((void *)s->instances);
	free(s->inames);
	free(s->cells);
	free(s->weaknesses);
	free(s->out.suggested);
	free(s->out.practices);
	free(s->out.goals);
	free(s->out.pas);
}

typedef struct {
	long long wall, cpu; /* medians, µs */
} timing;

static int time_runs(synthetic *s, long runs, int suggest, int explain, timing *t)
{
	long long *wall = xcalloc((size_t)runs, sizeof(long long));
	long long *cpu = xcalloc((size_t)runs, sizeof(long long));
	static char text[1 << 16];
	uint8_t *sug = s->out.suggested;
	size_t sink = 0;
	int rc = OPRA_OK;

	s->out.suggested = suggest ? sug : NULL;
	for (long r = 0; r < runs && rc == OPRA_OK; r++) {
		long long w0 = opra_now_us(), c0 = cpu_now_us();
		rc = rating_compute(&s->in, &s->out);
		if (explain) {
			for (uint32_t a = 0; a < s->in.n_pas; a++)
				sink += rating_explain_pa(text, sizeof(text), &s->in, &s->out, a);
			for (uint32_t g = 0; g < s->in.n_goals; g++)
				sink += rating_explain_goal(text, sizeof(text), &s->in, &s->out, g);
		}
		wall[r] = opra_now_us() - w0;
		cpu[r] = cpu_now_us() - c0;
	}
	s->out.suggested = sug;
	qsort(wall, (size_t)runs, sizeof(long long), cmp_ll);
	qsort(cpu, (size_t)runs, sizeof(long long), cmp_ll);
	t->wall = wall[runs / 2];
	t->cpu = cpu[runs / 2];
	free(wall);
	free(cpu);
	if (explain && sink == 0)
		rc = opra_err_set(OPRA_INTERNAL, "the explanations came out empty");
	return rc;
}

int main(int argc, char **argv)
{
	long runs = 2000, n_inst = 50, n_pas = 26;
	for (int i = 1; i < argc; i++) {
		long *dst = NULL, max = 0;
		if (strcmp(argv[i], "--runs") == 0)
			dst = &runs, max = 1000000;
		else if (strcmp(argv[i], "--instances") == 0)
			dst = &n_inst, max = 10000;
		else if (strcmp(argv[i], "--pas") == 0)
			dst = &n_pas, max = 64;
		if (dst == NULL || i + 1 >= argc || !opra_parse_long(argv[++i], 1, max, dst)) {
			fprintf(stderr, "usage: bench_rating [--runs N] [--instances 1..10000] "
					"[--pas 1..64]\n");
			return 2;
		}
	}
	synthetic s;
	memset(&s, 0, sizeof(s));
	build(&s, (uint32_t)n_pas, (uint32_t)n_inst);
	const double k = (double)s.in.n_practices * (double)s.in.n_instances / 1000.0;

	/* warm-up, and a look at what came out */
	if (rating_compute(&s.in, &s.out) != OPRA_OK) {
		fprintf(stderr, "bench_rating: %s\n", opra_err_msg());
		synthetic_free(&s);
		return 1;
	}
	int per_level[4] = {0, 0, 0, 0}, not_rated = 0;
	for (uint32_t a = 0; a < s.in.n_pas; a++) {
		if (s.out.pas[a].status == RATING_PA_RATED)
			per_level[s.out.pas[a].level]++;
		else
			not_rated++;
	}

	timing plain, sug, expl;
	if (time_runs(&s, runs, 0, 0, &plain) != OPRA_OK ||
	    time_runs(&s, runs, 1, 0, &sug) != OPRA_OK ||
	    time_runs(&s, runs / 10 + 1, 1, 1, &expl) != OPRA_OK) {
		fprintf(stderr, "bench_rating: %s\n", opra_err_msg());
		synthetic_free(&s);
		return 1;
	}
	printf("rating engine on a synthetic CERT-RMM-sized appraisal: %ld PAs, %u practices, "
	       "%ld instances = %.0f characterisations, %u weaknesses (median of %ld runs)\n",
	       n_pas, s.in.n_practices, n_inst, k * 1000, s.in.n_weaknesses, runs);
	printf("  result: CL0 %d, CL1 %d, CL2 %d, CL3 %d, not rated %d\n\n", per_level[0],
	       per_level[1], per_level[2], per_level[3], not_rated);
	printf("  %-44s %8s %8s %14s\n", "", "wall µs", "CPU µs", "CPU µs/1000 ch");
	printf("  %-44s %8lld %8lld %14.2f\n", "rating_compute", plain.wall, plain.cpu,
	       (double)plain.cpu / k);
	printf("  %-44s %8lld %8lld %14.2f\n", "rating_compute + suggested labels", sug.wall,
	       sug.cpu, (double)sug.cpu / k);
	printf("  %-44s %8lld %8lld %14.2f\n", "  + every explanation (--explain text)", expl.wall,
	       expl.cpu, (double)expl.cpu / k);
	printf("  goal: well under 1000 CPU µs per 1000 characterisations\n");
	{
		char o[48];
		snprintf(o, sizeof(o), "%.1f CPU µs", (double)sug.cpu / k);
		bench_summary("rating engine alone, per 1000 characterisations", o, NULL, 0,
			      "< 1000 µs", (double)sug.cpu / k < 1000.0);
	}
	synthetic_free(&s);
	return 0;
}
