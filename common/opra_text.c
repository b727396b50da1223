#include "opra_text.h"

#include "opra_err.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool opra_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static bool has_controls(const char *s, size_t len, bool allow_ws)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0x7f)
			return true;
		if (c < 0x20 && !(allow_ws && (c == '\t' || c == '\n' || c == '\r')))
			return true;
	}
	return false;
}

int opra_name_check(const char *what, const char *s, size_t max)
{
	if (s == NULL || *s == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s must not be empty", what);
	size_t len = strnlen(s, max + 1);
	if (len > max)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s is longer than %zu bytes", what,
				    max);
	if (!opra_utf8_valid(s, len))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
	if (has_controls(s, len, false))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s contains control characters", what);
	if (s[0] == ' ' || s[len - 1] == ' ')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s must not start or end with a space",
				    what);
	return OPRA_OK;
}

int opra_text_check(const char *what, const char *s, size_t max)
{
	if (s == NULL)
		return OPRA_OK;
	size_t len = strnlen(s, max + 1);
	if (len > max)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s is longer than %zu bytes", what,
				    max);
	if (!opra_utf8_valid(s, len))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
	if (has_controls(s, len, true))
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s contains control characters", what);
	return OPRA_OK;
}

bool opra_ascii_token_valid(const char *s, size_t max)
{
	if (s == NULL || *s == '\0')
		return false;
	size_t i = 0;
	for (; s[i]; i++) {
		if (i >= max)
			return false;
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return true;
}

bool opra_parse_long(const char *s, long min, long max, long *out)
{
	if (s == NULL || *s == '\0')
		return false;
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}
