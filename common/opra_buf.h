/* A growable byte buffer with a hard size limit. Always NUL-terminated so
 * text can be read from data directly. */
#ifndef OPRA_BUF_H
#define OPRA_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0: unlimited */
} opra_buf;

#define OPRA_BUF_INIT                                                                              \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

/* Appends n bytes. OPRA_RESOURCE_EXHAUSTED past max or when memory runs out. */
int opra_buf_append(opra_buf *b, const void *p, size_t n);
int opra_buf_puts(opra_buf *b, const char *s);
int opra_buf_printf(opra_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes; returns a pointer to them (len unchanged). */
uint8_t *opra_buf_reserve(opra_buf *b, size_t n);
void opra_buf_reset(opra_buf *b);
/* Frees the storage; the buffer may be reused afterwards. NULL-safe. */
void opra_buf_free(opra_buf *b);
/* Takes ownership of the data (free with opra_free); leaves b empty. */
uint8_t *opra_buf_detach(opra_buf *b, size_t *len);

#endif
