/* Fuzz target: the streaming CSV reader. Every accepted record must hold
 * valid UTF-8 fields within the limits. */
#include "csv.h"
#include "opra_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	csv_reader *r = NULL;
	if (csv_open(&r, f, "fuzz") == 0) {
		char **fields;
		size_t n;
		long line, last = 0;
		while (csv_next(r, &fields, &n, &line) == 0) {
			if (n == 0 || n >= CSV_MAX_FIELDS || line < last)
				abort();
			for (size_t i = 0; i < n; i++) {
				size_t len = strlen(fields[i]);
				if (len > CSV_MAX_FIELD || !opra_utf8_valid(fields[i], len))
					abort();
			}
			last = line;
		}
	}
	csv_close(r);
	fclose(f);
	return 0;
}
