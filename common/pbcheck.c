#include "pbcheck.h"

#include "opra_err.h"

#include <stdio.h>
#include <string.h>

static int read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*i >= len)
			return 0;
		uint8_t b = p[(*i)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 1;
		}
	}
	return 0;
}

/* 1: clean (or not protobuf: the decoder decides); 0: a NUL found, with
 * the field's path in `path`. */
static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth,
		char *path, size_t path_size)
{
	size_t i = 0;
	if (depth > PBCHECK_MAX_DEPTH)
		return 1;
	while (i < len) {
		uint64_t key, n;
		if (!read_varint(p, len, &i, &key))
			return 1;
		unsigned wt = (unsigned)(key & 7);
		uint64_t id = key >> 3;
		switch (wt) {
		case 0:
			if (!read_varint(p, len, &i, &n))
				return 1;
			continue;
		case 1:
			if (len - i < 8)
				return 1;
			i += 8;
			continue;
		case 5:
			if (len - i < 4)
				return 1;
			i += 4;
			continue;
		case 2:
			break;
		default:
			return 1;
		}
		if (!read_varint(p, len, &i, &n) || n > len - i)
			return 1;
		const ProtobufCFieldDescriptor *f =
			id <= 0x1fffffff
				? protobuf_c_message_descriptor_get_field(desc, (unsigned)id)
				: NULL;
		if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p + i, 0, (size_t)n)) {
			snprintf(path, path_size, "%s", f->name);
			return 0;
		}
		if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    !walk(f->descriptor, p + i, (size_t)n, depth + 1, path, path_size)) {
			/* Prefix this field's name: "unit" + "." + "name". */
			size_t fl = strlen(f->name), il = strlen(path);
			if (fl + 1 + il < path_size) {
				memmove(path + fl + 1, path, il + 1);
				memcpy(path, f->name, fl);
				path[fl] = '.';
			}
			return 0;
		}
		i += (size_t)n;
	}
	return 1;
}

int pbcheck_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len)
{
	char path[256];
	if (data == NULL || len == 0 || walk(desc, data, len, 0, path, sizeof(path)))
		return OPRA_OK;
	return opra_err_set(OPRA_INVALID_ARGUMENT,
			    "field '%s' holds a NUL byte; text may not contain NUL (send "
			    "binary data in a bytes field)",
			    path);
}

int pb_peek_field(const uint8_t *p, size_t len, uint32_t field, uint64_t *value,
		  const uint8_t **bytes)
{
	size_t i = 0;
	int found = 0;
	while (i < len) {
		uint64_t key = 0, v = 0;
		if (!read_varint(p, len, &i, &key))
			return 0;
		switch (key & 7) {
		case 0:
		case 2:
			if (!read_varint(p, len, &i, &v))
				return 0;
			break;
		case 1:
			v = 8;
			break;
		case 5:
			v = 4;
			break;
		default:
			return 0;
		}
		if ((key & 7) != 0 && v > len - i)
			return 0;
		if ((key >> 3) == field) { /* the last one wins, as in decoding */
			found = 1;
			*value = v;
			if (bytes)
				*bytes = (key & 7) == 2 ? p + i : NULL;
		}
		if ((key & 7) != 0)
			i += (size_t)v;
	}
	return found;
}
