/* Checks on the raw bytes of a protobuf message that decoding cannot make
 * afterwards. protobuf-c hands string fields to C as NUL-terminated text:
 * a string with a NUL byte inside would silently become its prefix ("x\0y"
 * -> "x"), so the server would act on something the client never meant.
 * Text is stored verbatim or refused, never cut (docs/security.md). */
#ifndef OPRA_PBCHECK_H
#define OPRA_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Walks the encoded message `data` of type `desc` (nested messages too, up
 * to PBCHECK_MAX_DEPTH) and refuses a string field holding a NUL byte:
 * INVALID_ARGUMENT naming the field ("unit.name"). Bytes fields may hold
 * anything. Input that is not well-formed protobuf is left to the decoder
 * (OPRA_OK). */
int pbcheck_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len);

#define PBCHECK_MAX_DEPTH 32

/* Finds top-level field `field` of an encoded message without decoding it
 * (varint keys and lengths only, bounds-checked, nothing allocated): a
 * varint's value, or a length-delimited field's length with *bytes (if
 * not NULL) at its first byte (NULL for other wire types). A field given
 * more than once yields its last occurrence, as protobuf decoding does:
 * a request cannot show one method name to this peek and another to the
 * decoder. Returns 1 when found, 0 when absent or the bytes are not
 * well-formed protobuf. */
int pb_peek_field(const uint8_t *p, size_t len, uint32_t field, uint64_t *value,
		  const uint8_t **bytes);

#endif
