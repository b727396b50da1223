/* Shared by the two halves of the Evidence service: svc_evidence.c (items,
 * the method table) and evidence_upload.c (chunked uploads). */
#ifndef OPRA_EVIDENCE_INTERNAL_H
#define OPRA_EVIDENCE_INTERNAL_H

#include "method.h"
#include "sha256.h"

#include <stdint.h>

/* Limits (the upload size limit is a compile-time constant for now; see
 * docs/protocol.md, "Evidence uploads"). */
#define EVIDENCE_UPLOAD_MAX (4ull << 30) /* bytes per file */
#define EVIDENCE_CHUNK_SIZE (1u << 20)	 /* preferred chunk size */
#define EVIDENCE_CHUNK_ROOM (64u << 10)	 /* envelope headroom under the receive limit */
#define EVIDENCE_CHUNK_MIN  4096u
#define EVIDENCE_TEXT_MAX   (64u << 10) /* inline text evidence */
#define EVIDENCE_TITLE_MAX  512
#define EVIDENCE_FILE_MAX   255
#define EVIDENCE_REASON_MAX 4096
#define EVIDENCE_RANGES_MAX 4096 /* missing ranges one Begin reply lists */
#define EVIDENCE_ID_DIGITS  19

/* RESOURCE_EXHAUSTED "out of memory". */
int evidence_oom(void);
/* Validation helpers (before authentication). */
int evidence_check_sha256(const char *hex, uint8_t out[SHA256_BYTES]);

/* The chunk size this server hands out for new uploads. */
uint32_t evidence_chunk_size(const call *c);

/* The upload methods (METHOD_MUTATES | METHOD_NO_KEY). */
int evidence_upload_begin_validate(const ProtobufCMessage *in);
int evidence_upload_begin(call *c, const ProtobufCMessage *in);
int evidence_upload_chunk(call *c, const ProtobufCMessage *in);
int evidence_upload_commit(call *c, const ProtobufCMessage *in);

#endif
