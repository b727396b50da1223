/* "key = value" configuration files, shared by oprad --config and the
 * client's config file. Lines: blank, "# comment", or key = value (value may
 * be quoted with double quotes). A key may repeat (e.g. server = ... twice);
 * kvfile_get returns the last, kvfile_get_all every value in order. */
#ifndef OPRA_KVFILE_H
#define OPRA_KVFILE_H

#include <stddef.h>

typedef struct kvfile kvfile;

#define KVFILE_MAX_BYTES (1024 * 1024)

/* Parses the file at path. On success *out is owned by the caller (free with
 * kvfile_free). Errors: NOT_FOUND (no such file), INVALID_ARGUMENT with
 * "path:line: ..." for syntax errors, PERMISSION_DENIED when unreadable. */
int kvfile_load(kvfile **out, const char *path);
/* Parses text held in memory; `origin` names it in error messages. */
int kvfile_parse(kvfile **out, const char *origin, const char *text, size_t len);
void kvfile_free(kvfile *kv);
/* The last value for key, or NULL. */
const char *kvfile_get(const kvfile *kv, const char *key);
/* Fills up to max values for key; returns how many there are. */
size_t kvfile_get_all(const kvfile *kv, const char *key, const char **values, size_t max);
/* Iteration: number of entries, and entry i. */
size_t kvfile_count(const kvfile *kv);
void kvfile_entry(const kvfile *kv, size_t i, const char **key, const char **value, int *line);
/* A boolean setting's value: 1 for true/yes/1, 0 for false/no/0, -1 for
 * anything else (the caller says which setting it was). */
int kvfile_bool(const char *value);

#endif
