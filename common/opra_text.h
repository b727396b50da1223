/* Validation of text that arrives from outside (wire, files, flags). */
#ifndef OPRA_TEXT_H
#define OPRA_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Strictly valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool opra_utf8_valid(const char *s, size_t len);
/* A name people give things: 1..max bytes of valid UTF-8, no control
 * characters, no leading or trailing white space. On failure sets the
 * last error (INVALID_ARGUMENT) naming `what` and returns its code. */
int opra_name_check(const char *what, const char *s, size_t max);
/* Free text (notes, missions): valid UTF-8, at most max bytes, no control
 * characters other than tab and newline. */
int opra_text_check(const char *what, const char *s, size_t max);
/* Visible ASCII only (0x21..0x7e), 1..max bytes: methods, keys, tokens. */
bool opra_ascii_token_valid(const char *s, size_t max);
/* Parses a whole decimal integer in [min, max]; false on any junk. */
bool opra_parse_long(const char *s, long min, long max, long *out);

#endif
