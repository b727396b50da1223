/* Hostile protobuf bodies generated from a message descriptor, shared by
 * the fuzz targets (seeds) and the live-server flood (tests/db/
 * test_hostile.c). Every field of the message may be set, with values
 * chosen to hurt: SQL metacharacters, path traversal, NUL bytes, overlong
 * and invalid UTF-8, right-to-left overrides, format directives, very long
 * strings, extreme integers; and, with the right flags, the wrong wire type
 * for a field (type confusion) and length prefixes far larger than the
 * message. Deterministic for a given rng state. Header-only (static). */
#ifndef OPRA_TESTS_PBGEN_H
#define OPRA_TESTS_PBGEN_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
	uint64_t s;
} pbgen_rng;

static inline uint64_t pbgen_rand(pbgen_rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

typedef struct {
	const char *s;
	size_t n;
} pbgen_str;

#define PBGEN_S(lit)                                                                               \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}
static const pbgen_str pbgen_strings[] = {
	PBGEN_S(""),
	PBGEN_S("nosuch-object-7f3a"),
	PBGEN_S("'; DROP TABLE users; --"),
	PBGEN_S("x' OR '1'='1"),
	PBGEN_S("\"; DELETE FROM units; --"),
	PBGEN_S("$1::text); SELECT pg_sleep(10); --"),
	PBGEN_S("../../etc/passwd"),
	PBGEN_S("..\\..\\windows\\system32"),
	PBGEN_S("/etc/shadow"),
	PBGEN_S("a\0b"),		    /* NUL inside */
	PBGEN_S("\xc0\xaf\xc0\xae"),	    /* overlong UTF-8 ('/' and '.') */
	PBGEN_S("\xe0\x80\xaf"),	    /* overlong, 3 bytes */
	PBGEN_S("\xed\xa0\x80"),	    /* UTF-16 surrogate in UTF-8 */
	PBGEN_S("\xff\xfe\xfd"),	    /* not UTF-8 at all */
	PBGEN_S("evil\xe2\x80\xaetxt.exe"), /* right-to-left override */
	PBGEN_S("%s%s%n%x%p"),
	PBGEN_S("$(reboot)`id`"),
	PBGEN_S("<script>alert(1)</script>"),
	PBGEN_S("\r\nSet-Cookie: x\r\n"),
	PBGEN_S("ADM:SG1.SP1"),
	PBGEN_S("ADM:GG9.GP99"),
	PBGEN_S("cert-rmm-1.2"),
	PBGEN_S("fi"),
	PBGEN_S("admin"),
	PBGEN_S("high"),
	PBGEN_S("technology"),
	PBGEN_S("-1"),
	PBGEN_S("99999999999999999999999"),
	PBGEN_S("opra_AAAAAAAAAAAA"),
};
/* Strings no field of a mutating request should accept: not UTF-8, or
 * control characters, or far too long for any name (PBGEN_INVALID). A
 * request made only of these must be refused, so a flood of them changes
 * nothing. */
static const pbgen_str pbgen_invalid_strings[] = {
	PBGEN_S("\xc0\xaf\xc0\xae"),   PBGEN_S("\xe0\x80\xaf"), PBGEN_S("\xed\xa0\x80"),
	PBGEN_S("\xff\xfe\xfd"),       PBGEN_S("bad\x80name"),	PBGEN_S("line\nbreak\r\n"),
	PBGEN_S("\x1b[31mred\x1b[0m"), PBGEN_S("nul\0inside"),
};
#undef PBGEN_S
#define PBGEN_N_STRINGS		(sizeof(pbgen_strings) / sizeof(pbgen_strings[0]))
#define PBGEN_N_INVALID_STRINGS (sizeof(pbgen_invalid_strings) / sizeof(pbgen_invalid_strings[0]))

static const uint64_t pbgen_ints[] = {
	0,
	1,
	2,
	3,
	100,
	0x7f,
	0x80,
	0x7fffffff,
	0x80000000ULL,
	0xffffffffULL,
	0x7fffffffffffffffULL,
	0x8000000000000000ULL,
	0xffffffffffffffffULL, /* -1 */
	0xfffffffffffffffeULL, /* -2 */
};
#define PBGEN_N_INTS (sizeof(pbgen_ints) / sizeof(pbgen_ints[0]))

enum {
	PBGEN_CONFUSE = 1u << 0,    /* sometimes the wrong wire type for a field */
	PBGEN_HUGE_LEN = 1u << 1,   /* sometimes a length prefix far beyond the data */
	PBGEN_ALL_FIELDS = 1u << 2, /* set every field (else about two thirds) */
	PBGEN_LONG = 1u << 3,	    /* sometimes a very long string (8 KiB) */
	PBGEN_INVALID = 1u << 4,    /* only strings from pbgen_invalid_strings */
};

typedef struct {
	uint8_t *p;
	size_t len, cap;
	int full;
} pbgen_out;

static inline void pbgen_byte(pbgen_out *o, uint8_t b)
{
	if (o->len < o->cap)
		o->p[o->len++] = b;
	else
		o->full = 1;
}

static inline void pbgen_varint(pbgen_out *o, uint64_t v)
{
	while (v >= 0x80) {
		pbgen_byte(o, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	pbgen_byte(o, (uint8_t)v);
}

static inline void pbgen_bytes(pbgen_out *o, const void *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pbgen_byte(o, ((const uint8_t *)d)[i]);
}

static inline void pbgen_key(pbgen_out *o, uint32_t id, unsigned wt)
{
	pbgen_varint(o, ((uint64_t)id << 3) | wt);
}

static inline void pbgen_string(pbgen_out *o, pbgen_rng *r, unsigned flags)
{
	if ((flags & PBGEN_LONG) && pbgen_rand(r) % 16 == 0) {
		size_t n = 8192;
		pbgen_varint(o, n);
		for (size_t i = 0; i < n; i++)
			pbgen_byte(o, (uint8_t)("'A/\\%\x80"[i % 6]));
		return;
	}
	const pbgen_str *s =
		(flags & PBGEN_INVALID)
			? &pbgen_invalid_strings[pbgen_rand(r) % PBGEN_N_INVALID_STRINGS]
			: &pbgen_strings[pbgen_rand(r) % PBGEN_N_STRINGS];
	pbgen_varint(o, s->n);
	pbgen_bytes(o, s->s, s->n);
}

static void pbgen_message(pbgen_out *o, pbgen_rng *r, const ProtobufCMessageDescriptor *d,
			  int depth, unsigned flags);

static inline void pbgen_field(pbgen_out *o, pbgen_rng *r, const ProtobufCFieldDescriptor *f,
			       int depth, unsigned flags)
{
	uint64_t v = pbgen_ints[pbgen_rand(r) % PBGEN_N_INTS];
	if ((flags & PBGEN_CONFUSE) && pbgen_rand(r) % 12 == 0) {
		/* The wrong wire type (or a random one) for this field. */
		unsigned wt = (unsigned)(pbgen_rand(r) % 6);
		pbgen_key(o, f->id, wt);
		switch (wt) {
		case 0:
			pbgen_varint(o, v);
			break;
		case 1:
			pbgen_bytes(o, &v, 8);
			break;
		case 2:
			pbgen_string(o, r, flags);
			break;
		case 5:
			pbgen_bytes(o, &v, 4);
			break;
		default: /* start/end group: deprecated, must be refused cleanly */
			break;
		}
		return;
	}
	if ((flags & PBGEN_HUGE_LEN) && pbgen_rand(r) % 24 == 0) {
		pbgen_key(o, f->id, 2);
		pbgen_varint(o, pbgen_rand(r) % 2 ? 0xffffffffULL : 0x7fffffffffffffffULL);
		pbgen_bytes(o, "abc", 3);
		return;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_BOOL:
		pbgen_key(o, f->id, 0);
		pbgen_varint(o, v);
		break;
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		pbgen_key(o, f->id, 5);
		pbgen_bytes(o, &v, 4);
		break;
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		pbgen_key(o, f->id, 1);
		pbgen_bytes(o, &v, 8);
		break;
	case PROTOBUF_C_TYPE_STRING:
		pbgen_key(o, f->id, 2);
		pbgen_string(o, r, flags);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		pbgen_key(o, f->id, 2);
		size_t n = (size_t)(pbgen_rand(r) % 48);
		pbgen_varint(o, n);
		for (size_t i = 0; i < n; i++)
			pbgen_byte(o, (uint8_t)pbgen_rand(r));
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		uint8_t inner[16384];
		pbgen_out sub = {inner, 0, sizeof(inner), 0};
		if (depth < 4)
			pbgen_message(&sub, r, f->descriptor, depth + 1, flags);
		pbgen_key(o, f->id, 2);
		pbgen_varint(o, sub.len);
		pbgen_bytes(o, inner, sub.len);
		break;
	}
	default:
		break;
	}
}

static void pbgen_message(pbgen_out *o, pbgen_rng *r, const ProtobufCMessageDescriptor *d,
			  int depth, unsigned flags)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!(flags & PBGEN_ALL_FIELDS) && pbgen_rand(r) % 3 == 0)
			continue;
		unsigned times = f->label == PROTOBUF_C_LABEL_REPEATED
					 ? 1 + (unsigned)(pbgen_rand(r) % (depth > 1 ? 2 : 4))
					 : 1;
		for (unsigned k = 0; k < times; k++)
			pbgen_field(o, r, f, depth, flags);
	}
}

/* Writes a body for message d into buf (at most cap bytes). Returns its
 * length (a body that did not fit is cut: still a hostile input). */
static inline size_t pbgen_body(uint8_t *buf, size_t cap, pbgen_rng *r,
				const ProtobufCMessageDescriptor *d, unsigned flags)
{
	pbgen_out o = {buf, 0, cap, 0};
	pbgen_message(&o, r, d, 0, flags);
	return o.len;
}

#endif
