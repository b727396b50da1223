/* What the benchmarks read about other processes from /proc. */
#ifndef OPRA_BENCH_PROC_H
#define OPRA_BENCH_PROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The resident set size of process pid in KiB (VmRSS), or -1. */
static inline long bench_rss_kib(long pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

#endif
