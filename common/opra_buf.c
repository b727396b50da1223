#include "opra_buf.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

uint8_t *opra_buf_reserve(opra_buf *b, size_t n)
{
	if (n > SIZE_MAX - b->len - 1) {
		opra_err_set(OPRA_RESOURCE_EXHAUSTED, "buffer size overflow");
		return NULL;
	}
	size_t need = b->len + n + 1;
	if (b->max && need - 1 > b->max) {
		opra_err_set(OPRA_RESOURCE_EXHAUSTED, "data exceeds the limit of %zu bytes",
			     b->max);
		return NULL;
	}
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		uint8_t *d = opra_realloc(b->data, cap);
		if (d == NULL) {
			opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory (%zu bytes)", cap);
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->len;
}

int opra_buf_append(opra_buf *b, const void *p, size_t n)
{
	uint8_t *dst = opra_buf_reserve(b, n);
	if (dst == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return OPRA_OK;
}

int opra_buf_puts(opra_buf *b, const char *s)
{
	return opra_buf_append(b, s, strlen(s));
}

int opra_buf_printf(opra_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return opra_err_set(OPRA_INTERNAL, "bad format");
	uint8_t *dst = opra_buf_reserve(b, (size_t)n);
	if (dst == NULL)
		return OPRA_RESOURCE_EXHAUSTED;
	va_start(ap, fmt);
	vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return OPRA_OK;
}

void opra_buf_reset(opra_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void opra_buf_free(opra_buf *b)
{
	if (b == NULL)
		return;
	opra_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint8_t *opra_buf_detach(opra_buf *b, size_t *len)
{
	uint8_t *d = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
