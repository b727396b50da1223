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

#endif
