/* The headline figures of a benchmark, one tab-separated line each, appended
 * to the file named by $OPRA_BENCH_SUMMARY (bench/run.sh sets it and prints
 * all of them as one table at the end). Without the variable it does
 * nothing: each benchmark prints its own detailed report anyway.
 *
 *   figure \t measured \t baseline \t ratio \t goal \t verdict
 *
 * ratio <= 0 prints "-"; met is 1 (met), 0 (not met) or -1 (no goal). */
#ifndef OPRA_BENCH_SUMMARY_H
#define OPRA_BENCH_SUMMARY_H

#include <stdio.h>
#include <stdlib.h>

static inline void bench_summary(const char *figure, const char *measured, const char *baseline,
				 double ratio, const char *goal, int met)
{
	const char *path = getenv("OPRA_BENCH_SUMMARY");
	FILE *f;

	if (path == NULL || path[0] == '\0' || (f = fopen(path, "a")) == NULL)
		return;
	if (ratio > 0)
		fprintf(f, "%s\t%s\t%s\t%.2fx\t%s\t%s\n", figure, measured,
			baseline ? baseline : "-", ratio, goal ? goal : "-",
			met < 0 ? "-"
			: met	? "met"
				: "NOT MET");
	else
		fprintf(f, "%s\t%s\t%s\t-\t%s\t%s\n", figure, measured, baseline ? baseline : "-",
			goal ? goal : "-",
			met < 0 ? "-"
			: met	? "met"
				: "NOT MET");
	fclose(f);
}

#endif
