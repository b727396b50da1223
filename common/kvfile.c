#include "kvfile.h"

#include "opra_alloc.h"
#include "opra_err.h"
#include "opra_text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	char *key;
	char *value;
	int line;
} kv_entry;

struct kvfile {
	kv_entry *entries;
	size_t n;
	size_t cap;
};

void kvfile_free(kvfile *kv)
{
	if (kv == NULL)
		return;
	for (size_t i = 0; i < kv->n; i++) {
		opra_free(kv->entries[i].key);
		opra_free(kv->entries[i].value);
	}
	opra_free(kv->entries);
	opra_free(kv);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int add_entry(kvfile *kv, const char *key, const char *value, int line)
{
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? kv->cap * 2 : 16;
		kv_entry *e = opra_realloc(kv->entries, cap * sizeof(*e));
		if (e == NULL)
			return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		kv->entries = e;
		kv->cap = cap;
	}
	kv_entry *e = &kv->entries[kv->n];
	e->key = opra_strdup(key);
	e->value = opra_strdup(value);
	e->line = line;
	if (e->key == NULL || e->value == NULL) {
		opra_free(e->key);
		opra_free(e->value);
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	}
	kv->n++;
	return OPRA_OK;
}

static int parse_line(kvfile *kv, const char *origin, char *raw, int lineno)
{
	char *s = trim(raw);
	if (*s == '\0' || *s == '#' || *s == ';')
		return OPRA_OK;
	char *eq = strchr(s, '=');
	if (eq == NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s:%d: expected 'key = value', found no '='", origin, lineno);
	*eq = '\0';
	char *key = trim(s);
	char *value = trim(eq + 1);
	if (*key == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s:%d: missing key before '='", origin,
				    lineno);
	for (char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "%s:%d: key '%s' may hold only a-z, 0-9, '-' and '_'",
					    origin, lineno, key);
	size_t vlen = strlen(value);
	if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
		value[vlen - 1] = '\0';
		value++;
	} else if (vlen >= 1 && value[0] == '"') {
		return opra_err_set(OPRA_INVALID_ARGUMENT,
				    "%s:%d: unterminated quote in value of '%s'", origin, lineno,
				    key);
	}
	return add_entry(kv, key, value, lineno);
}

int kvfile_parse(kvfile **out, const char *origin, const char *text, size_t len)
{
	kvfile *kv = NULL;
	char *copy = NULL;
	int rc = OPRA_OK;

	*out = NULL;
	if (len > KVFILE_MAX_BYTES) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "%s: larger than %d bytes", origin,
				  KVFILE_MAX_BYTES);
		goto done;
	}
	if (memchr(text, '\0', len) != NULL || !opra_utf8_valid(text, len)) {
		rc = opra_err_set(OPRA_INVALID_ARGUMENT, "%s: not a UTF-8 text file", origin);
		goto done;
	}
	kv = opra_calloc(1, sizeof(*kv));
	copy = opra_strndup(text, len);
	if (kv == NULL || copy == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	int lineno = 1;
	char *line = copy;
	while (line != NULL) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		rc = parse_line(kv, origin, line, lineno);
		if (rc != OPRA_OK)
			goto done;
		line = nl ? nl + 1 : NULL;
		lineno++;
	}
	*out = kv;
	kv = NULL;
done:
	opra_free(copy);
	kvfile_free(kv);
	return rc;
}

int kvfile_load(kvfile **out, const char *path)
{
	FILE *f = NULL;
	char *text = NULL;
	int rc = OPRA_OK;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		rc = opra_err_set(e == ENOENT ? OPRA_NOT_FOUND : OPRA_PERMISSION_DENIED,
				  "cannot read config file %s: %s", path, strerror(e));
		goto done;
	}
	text = opra_malloc(KVFILE_MAX_BYTES + 1);
	if (text == NULL) {
		rc = opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
		goto done;
	}
	size_t n = fread(text, 1, KVFILE_MAX_BYTES + 1, f);
	if (ferror(f)) {
		rc = opra_err_set(OPRA_PERMISSION_DENIED, "cannot read config file %s", path);
		goto done;
	}
	rc = kvfile_parse(out, path, text, n);
done:
	if (f)
		fclose(f);
	opra_free(text);
	return rc;
}

const char *kvfile_get(const kvfile *kv, const char *key)
{
	if (kv == NULL)
		return NULL;
	for (size_t i = kv->n; i > 0; i--)
		if (strcmp(kv->entries[i - 1].key, key) == 0)
			return kv->entries[i - 1].value;
	return NULL;
}

size_t kvfile_get_all(const kvfile *kv, const char *key, const char **values, size_t max)
{
	size_t found = 0;
	if (kv == NULL)
		return 0;
	for (size_t i = 0; i < kv->n; i++) {
		if (strcmp(kv->entries[i].key, key) != 0)
			continue;
		if (found < max)
			values[found] = kv->entries[i].value;
		found++;
	}
	return found;
}

size_t kvfile_count(const kvfile *kv)
{
	return kv ? kv->n : 0;
}

void kvfile_entry(const kvfile *kv, size_t i, const char **key, const char **value, int *line)
{
	*key = kv->entries[i].key;
	*value = kv->entries[i].value;
	if (line)
		*line = kv->entries[i].line;
}

int kvfile_bool(const char *value)
{
	static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
	for (size_t i = 0; value && i < 3; i++) {
		if (strcmp(value, yes[i]) == 0)
			return 1;
		if (strcmp(value, no[i]) == 0)
			return 0;
	}
	return -1;
}
