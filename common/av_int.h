/* av_int — internals shared by the av_ modules, not for services: the
 * schema graph our parser builds, the error-path collector every walker
 * uses, and the Avro binary primitives.
 *
 * The schema graph is what all walkers (validator, decoder, encoder, JSON
 * converters) follow instead of avro-c's schema objects: it keeps what
 * avro-c drops (defaults, aliases) and precomputes what the hostile-input
 * checks need (the fewest bytes a value can take). */
#ifndef WEIR_AV_INT_H
#define WEIR_AV_INT_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "av_schema.h"
#include "buf.h"

/* Arrays and maps of items that encode in zero bytes (null, empty records)
 * could claim any count without running out of input; this caps the total
 * such items in one datum.  Each still costs avro-c an append (~25 ns): at
 * 2^20 a 13-byte record took 25 ms to decode, so the cap is 2^16. */
#define AV_MAX_ZERO_ITEMS (1u << 16)

typedef enum {
        AV_T_NULL,
        AV_T_BOOLEAN,
        AV_T_INT,
        AV_T_LONG,
        AV_T_FLOAT,
        AV_T_DOUBLE,
        AV_T_BYTES,
        AV_T_STRING,
        AV_T_RECORD,
        AV_T_ENUM,
        AV_T_ARRAY,
        AV_T_MAP,
        AV_T_UNION,
        AV_T_FIXED,
} av_type_t;

typedef struct av_node_s av_node_t;
typedef struct av_prog_s av_prog_t;

typedef struct av_field_s {
        char *name;
        av_node_t *type;
        const cJSON *def; /* default, or NULL; points into av_schema_s.doc */
        char **aliases;
        size_t n_aliases;
} av_field_t;

struct av_node_s {
        av_type_t type;
        char *name;     /* named types: full name */
        char **aliases; /* named types: full names */
        size_t n_aliases;
        av_field_t *fields; /* record */
        size_t n_fields;
        char **symbols; /* enum */
        size_t n_symbols;
        int enum_default;     /* enum: index of the default symbol, or -1 */
        av_node_t *items;     /* array items, map values */
        av_node_t **branches; /* union */
        size_t n_branches;
        size_t size;         /* fixed */
        size_t min_size;     /* fewest bytes any value of this type encodes in */
        avro_schema_t built; /* scratch while building the avro-c schema */
};

struct av_schema_s {
        av_node_t *root;
        av_node_t **nodes; /* every node, for freeing */
        size_t n_nodes, nodes_size;
        char *text; /* as given */
        cJSON *doc; /* the parsed text: defaults point into it */
        char *canonical;
        uint64_t fingerprint;
        avro_schema_t avro;
        avro_value_iface_t *iface;
        char *origin;
        av_prog_t *prog; /* the validation program, or NULL: walk root */
};

const char *av_type_name(av_type_t t);
/* Whether s[0..len) is an Avro name: [A-Za-z_][A-Za-z0-9_]*. */
int av_valid_name(const char *s, size_t len);
/* "null", "boolean", "number", "string", "array", "object" (for messages). */
const char *av_json_kind(const cJSON *j);
/* The name a union branch goes by in the Avro JSON encoding: the full name of
 * a named type, else the type name ("int", "array", ...). */
const char *av_node_label(const av_node_t *n);

/* Builds the canonical form of s->root into s->canonical (av_canon.c).
 * Returns 0 or -1 (out of memory). */
int av_canon_build(av_schema_t *s);
/* Builds s->avro from the graph (av_avroc.c).  Returns 0 or -1 with errstr. */
int av_avroc_build(av_schema_t *s, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- errors */

/* Collects an error message at the failure point and the path to it while
 * the recursion unwinds, so the success path pays nothing for paths.
 * Components point into the input or the schema: format before they go. */
typedef struct av_err_s {
        char msg[256];
        int n;
        struct {
                const char *s; /* field name or map key, or NULL for an index */
                size_t len;
                size_t index;
                int key; /* a map key, printed ["..."] unless it is a plain name */
        } comp[AV_MAX_DEPTH + 8];
} av_err_t;

/* Sets the message; returns -1 so callers can `return av_err_set(...)`. */
int av_err_set(av_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0 when an avro-c call returned 0, else sets avro-c's message; -1. */
int av_err_avro(av_err_t *e, int rc);
/* Push one path component while unwinding (innermost first); return -1. */
int av_err_field(av_err_t *e, const char *name);
int av_err_index(av_err_t *e, size_t index);
int av_err_key(av_err_t *e, const char *key, size_t len);
/* "$.a[3].b: msg" into errstr. */
void av_err_format(const av_err_t *e, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- binary */

typedef struct av_rd_s {
        const uint8_t *p, *end;
} av_rd_t;

/* Zigzag varint, at most 10 bytes and 64 bits.  0, -1 malformed, -2 short. */
static inline int av_rd_long(av_rd_t *r, int64_t *out) {
        uint64_t v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
                if (r->p >= r->end)
                        return -2;
                uint8_t b = *r->p++;
                /* The tenth byte may only carry the 64th bit. */
                if (shift == 63 && (b & 0xfe))
                        return -1;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
                        return 0;
                }
        }
        return -1;
}

/* Zigzag varint, at most 5 bytes and 32 bits. */
static inline int av_rd_int(av_rd_t *r, int32_t *out) {
        uint32_t v = 0;
        for (int shift = 0; shift < 35; shift += 7) {
                if (r->p >= r->end)
                        return -2;
                uint8_t b = *r->p++;
                if (shift == 28 && (b & 0xf0))
                        return -1;
                v |= (uint32_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *out = (int32_t)((v >> 1) ^ (~(v & 1) + 1));
                        return 0;
                }
        }
        return -1;
}

static inline size_t av_rd_left(const av_rd_t *r) {
        return (size_t)(r->end - r->p);
}

/* Avro floats and doubles are little-endian IEEE 754. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "av_: only little-endian hosts are supported (add byte swaps here)"
#endif

static inline int av_put_long(buf_t *b, int64_t v) {
        if (buf_reserve(b, 10) == -1)
                return -1;
        uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0); /* zigzag */
        uint8_t *p = (uint8_t *)b->data + b->len;
        size_t n = 0;
        while (z >= 0x80) {
                p[n++] = (uint8_t)(z | 0x80);
                z >>= 7;
        }
        p[n++] = (uint8_t)z;
        b->len += n;
        return 0;
}

/* ---------------------------------------------------------------- walkers */

/* Context of one validation walk (av_validate.c). */
typedef struct av_vctx_s {
        av_err_t *err;
        size_t zero_items; /* items of zero-byte types seen so far */
} av_vctx_t;

/* Fills in min_size on every node (av_validate.c). */
void av_min_sizes(av_schema_t *s);

/* av_prog.c: a value's checks as a flat list, built once per schema after
 * av_min_sizes.  av_prog_compile returns NULL when the schema is left to
 * av_walk (or out of memory); the caller frees the result with
 * av_prog_free.  av_prog_run accepts (0) exactly what av_walk accepts and
 * moves r past the value; -1 says only "invalid". */
av_prog_t *av_prog_compile(const av_node_t *root);
int av_prog_run(const av_prog_t *p, av_rd_t *r);
void av_prog_free(av_prog_t *p);

/* Checks one value of type n at r->p and moves past it.  Also used by the
 * decoder to skip writer fields the reader does not have.  0 or -1. */
int av_walk(const av_node_t *n, av_rd_t *r, av_vctx_t *c, int depth);

/* JSON → value conversion of one node (av_json_in.c); v may be NULL to
 * check without storing (used on schema defaults at parse time). */
int av_json_node(const av_node_t *n, const cJSON *j, avro_value_t *v, av_err_t *e, int depth);

/* Length (1-4) of the valid UTF-8 sequence at s, its code point in *cp; 0
 * when invalid (overlong, surrogate, beyond U+10FFFF, truncated). */
size_t av_utf8_decode(const unsigned char *s, size_t left, long *cp);

/* Appends the binary encoding of v (of type n) to b (av_encode.c). */
int av_encode_node(const av_node_t *n, avro_value_t *v, buf_t *b, av_err_t *e, int depth);

/* ---------------------------------------------------------------- resolution */

/* How to read data written with one schema into a value of another (or the
 * same): compiled once per writer/reader pair by av_resolve.c, run per
 * record.  Owns every plan node it made. */
typedef struct av_plans_s av_plans_t;

/* Returns the plans, or NULL with errstr saying why the writer cannot be read
 * as the reader ("$.speed: ..."), or that memory ran out. */
av_plans_t *av_plans_new(const av_node_t *writer, const av_node_t *reader, char *errstr,
                         size_t errstr_size);
void av_plans_destroy(av_plans_t *p);
/* Reads one value written as the plans' writer type into v, a value of the
 * reader type.  The bytes must have passed av_walk().  `scratch` holds
 * NUL-terminated copies of strings for avro-c.  0 or -1 with e set. */
int av_plans_read(const av_plans_t *p, av_rd_t *r, avro_value_t *v, buf_t *scratch, av_err_t *e);

#endif
