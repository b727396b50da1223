/* Fuzz target: the inventory file reader (common/invfile.c), CSV and JSON.
 * The first byte picks the format (csv, json, or detected) and the kind of
 * a CSV file without a `kind` column; the rest is the file. Every record
 * the reader hands out must hold valid UTF-8 within the documented limits,
 * and a refusal must carry a message. Corpus: tests/data/inventory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memfd_create */
#endif
#include "invfile.h"
#include "opra_err.h"
#include "opra_log.h"
#include "opra_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

static void check_text(const char *s, size_t max)
{
	if (s == NULL)
		return;
	size_t n = strlen(s);
	if (n > max || !opra_utf8_valid(s, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = {"csv", "json", NULL};
	static const char *const kinds[] = {"unit", "service", "asset", "link", NULL};
	if (size == 0)
		return 0;
	if (fd < 0) {
		opra_log_set_level(OPRA_LOG_ERROR);
		fd = memfd_create("fuzz_invfile", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
		abort();
	inv_reader *r = NULL;
	int rc = inv_open(&r, path, formats[data[0] % 3], kinds[(data[0] / 3) % 5]);
	if (rc == OPRA_OK) {
		inv_record rec;
		long last = 0;
		while ((rc = inv_next(r, &rec)) == OPRA_OK) {
			if (rec.index != last + 1)
				abort();
			last = rec.index;
			check_text(rec.name, INVFILE_NAME_MAX);
			check_text(rec.parent, INVFILE_NAME_MAX);
			check_text(rec.unit, INVFILE_NAME_MAX);
			check_text(rec.service, INVFILE_NAME_MAX);
			check_text(rec.asset, INVFILE_NAME_MAX);
			check_text(rec.site, INVFILE_TEXT_MAX);
			check_text(rec.mission, INVFILE_TEXT_MAX);
			check_text(rec.owner, INVFILE_TEXT_MAX);
			check_text(rec.description, INVFILE_TEXT_MAX);
			if (rec.n_tags > INVFILE_MAX_TAGS)
				abort();
			for (size_t i = 0; i < rec.n_tags; i++)
				check_text(rec.tags[i], INVFILE_TEXT_MAX);
		}
		if (rc != OPRA_NOT_FOUND && opra_err_msg()[0] == '\0')
			abort();
	} else if (opra_err_msg()[0] == '\0') {
		abort();
	}
	inv_close(r);
	opra_err_clear();
	return 0;
}
