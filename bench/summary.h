/* The headline figures of a benchmark, one tab-separated line each, appended
 * to the file named by $OPRA_BENCH_SUMMARY (bench/run.sh sets it and prints
 * all of them as one table at the end). Without the variable it does
 * nothing: each benchmark prints its own detailed report anyway.
 *
 *   figure \t measured \t baseline \t ratio \t goal \t verdict
 *
 * A ratio <= 0 prints "-", one below 0.1 gets four decimals; met is 1
 * (met), 0 (not met) or -1 (no goal). */
#ifndef OPRA_BENCH_SUMMARY_H
#define OPRA_BENCH_SUMMARY_H

#include <stdio.h>
#include <stdlib.h>

static inline void bench_summary(const char *figure, const char *measured, const char *baseline,
				 double ratio, const char *goal, int met)
{
	const char *path = getenv("OPRA_BENCH_SUMMARY");
	const char *verdict = "-";
	char rtext[32] = "-";
	FILE *f;

	if (path == NULL || path[0] == '\0' || (f = fopen(path, "a")) == NULL)
		return;
	if (met >= 0)
		verdict = met ? "met" : "NOT MET";
	if (ratio > 0)
		snprintf(rtext, sizeof(rtext), "%.*fx", ratio < 0.1 ? 4 : 2, ratio);
	fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\n", figure, measured, baseline ? baseline : "-", rtext,
		goal ? goal : "-", verdict);
	fclose(f);
}

#endif
