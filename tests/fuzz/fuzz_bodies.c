/* Fuzz target: every request body decoder the server has. The first byte
 * picks a method (of every service dispatch.c registers); the rest is its
 * body, decoded exactly as dispatch does (protobuf_c_message_unpack of the
 * method's input type) and then checked by the method's validate function,
 * which runs before authentication and touches no database. A decoded body
 * must pass protobuf-c's own check (no NULL string where the handlers
 * expect text) and survive a pack/unpack round trip unchanged in size.
 * Seeds: a generated hostile body for every method (pbgen.h). */
#include "method.h"
#include "opra_err.h"
#include "opra_log.h"
#include "pbcheck.h"
#include "pbgen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t fuzz_seed(size_t index, uint8_t *buf, size_t cap);

typedef struct {
	const ProtobufCMessageDescriptor *input;
	method_validate_fn validate;
} target;

#define MAX_TARGETS 256
static target targets[MAX_TARGETS];
static size_t n_targets;

static void init(void)
{
	if (n_targets)
		return;
	opra_log_set_level(OPRA_LOG_ERROR);
	for (size_t s = 0; s < opra_n_services; s++) {
		const service_impl *svc = opra_services[s];
		for (unsigned m = 0; m < svc->desc->n_methods && n_targets < MAX_TARGETS; m++) {
			const ProtobufCMethodDescriptor *md = &svc->desc->methods[m];
			target *t = &targets[n_targets++];
			t->input = md->input;
			t->validate = NULL;
			for (size_t k = 0; k < svc->n_methods; k++)
				if (strcmp(svc->methods[k].name, md->name) == 0)
					t->validate = svc->methods[k].validate;
		}
	}
	if (n_targets == 0)
		abort();
}

/* Whether m or any message inside it kept unknown fields. */
static int has_unknown(const ProtobufCMessage *m)
{
	if (m->n_unknown_fields)
		return 1;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *member = (const char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)member;
			for (size_t k = 0; k < n; k++)
				if (arr[k] && has_unknown(arr[k]))
					return 1;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)member;
			if (sub && has_unknown(sub))
				return 1;
		}
	}
	return 0;
}

static void die(const target *t, const char *what)
{
	fprintf(stderr, "fuzz_bodies: %s: %s\n", t->input->name, what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size == 0)
		return 0;
	const target *t = &targets[data[0] % n_targets];
	/* The raw-bytes check dispatch runs before decoding must take anything. */
	if (pbcheck_strings(t->input, data + 1, size - 1) != OPRA_OK && opra_err_msg()[0] == '\0')
		die(t, "pbcheck_strings refused without a message");
	opra_err_clear();
	ProtobufCMessage *m = protobuf_c_message_unpack(t->input, NULL, size - 1, data + 1);
	if (m == NULL)
		return 0;
	if (!protobuf_c_message_check(m))
		die(t, "decoded body fails protobuf_c_message_check");
	if (t->validate) {
		int rc = t->validate(m);
		/* Validation answers OK or a client error with a message. */
		if (rc != OPRA_OK && rc != OPRA_INVALID_ARGUMENT && rc != OPRA_OUT_OF_RANGE)
			die(t, "validate returned a status other than OK, INVALID_ARGUMENT or "
			       "OUT_OF_RANGE");
		if (rc != OPRA_OK && opra_err_msg()[0] == '\0')
			die(t, "validate refused without a message");
		opra_err_clear();
	}
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n ? n : 1);
	if (b == NULL)
		die(t, "out of memory");
	if (protobuf_c_message_pack(m, b) != n)
		die(t, "packed size differs from get_packed_size");
	/* Re-reading what was packed must work. Not checked with unknown
	 * fields kept: protobuf-c 1.4 accepts an overlong-encoded field number
	 * 0 as an unknown field and then packs it canonically, which it
	 * refuses to read back (harmless: handlers never see unknown fields). */
	if (!has_unknown(m)) {
		ProtobufCMessage *again = protobuf_c_message_unpack(t->input, NULL, n, b);
		if (again == NULL || protobuf_c_message_get_packed_size(again) != n)
			die(t, "a packed body does not read back the same");
		protobuf_c_message_free_unpacked(again, NULL);
	}
	free(b);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

size_t fuzz_seed(size_t index, uint8_t *buf, size_t cap)
{
	init();
	/* Three bodies per method: every field set with plain hostile values,
	 * then with type confusion and huge lengths, then a random subset. */
	if (index >= 3 * n_targets || cap < 2)
		return 0;
	static const unsigned flags[] = {
		PBGEN_ALL_FIELDS, PBGEN_ALL_FIELDS | PBGEN_CONFUSE | PBGEN_HUGE_LEN, PBGEN_LONG};
	pbgen_rng r = {0x9e3779b97f4a7c15ULL + index};
	size_t t = index % n_targets;
	buf[0] = (uint8_t)t;
	return 1 + pbgen_body(buf + 1, cap - 1, &r, targets[t].input, flags[index / n_targets]);
}
