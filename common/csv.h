/* A streaming CSV reader (RFC 4180): quoted fields with "" escapes and
 * embedded newlines, CRLF or LF line ends, an optional UTF-8 BOM. It reads
 * through a FILE in small blocks, so a file of any size is read with bounded
 * memory; records and fields have hard limits instead. Used by inventory
 * import (docs/inventory.md). */
#ifndef OPRA_CSV_H
#define OPRA_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_MAX_FIELDS 256
#define CSV_MAX_FIELD  (64 * 1024)
#define CSV_MAX_RECORD (1024 * 1024)

typedef struct csv_reader csv_reader;

/* Reads from f (not closed by the reader). origin names the input in
 * messages. Caller frees with csv_close. */
int csv_open(csv_reader **out, FILE *f, const char *origin);
/* The next record. On OPRA_OK, fields[0..n-1] are NUL-terminated strings
 * owned by the reader, valid until the next call; *line is the line the
 * record starts on (1-based). Returns OPRA_NOT_FOUND at the end of input,
 * INVALID_ARGUMENT for malformed input ("ORIGIN:LINE: unterminated quoted
 * field", "... field 3 is not valid UTF-8", "... more than 255 fields",
 * "... field longer than 65536 bytes", "... a quote inside an unquoted
 * field") and stops there. Blank lines are skipped. */
int csv_next(csv_reader *r, char ***fields, size_t *n, long *line);
/* Bytes consumed so far (for progress). */
unsigned long long csv_offset(const csv_reader *r);
void csv_close(csv_reader *r);

#endif
