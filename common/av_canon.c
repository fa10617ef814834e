/* av_canon — Parsing Canonical Form of a parsed schema and its CRC-64-AVRO
 * fingerprint (Avro specification, "Parsing Canonical Form for Schemas" and
 * "Schema Fingerprints").
 *
 * The form is written from our own schema graph rather than taken from
 * avro-c, whose JSON writer is not canonical.  The graph already holds what
 * the transformations ask for: full names [FULLNAMES], only the attributes
 * that matter, in the canonical order [STRIP, ORDER], primitives as bare
 * names [PRIMITIVES], sizes as plain integers [INTEGERS], no whitespace
 * [WHITESPACE].  Names and symbols are validated to [A-Za-z0-9_.] at parse,
 * so no string needs escaping [STRINGS]. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_int.h"
#include "vec.h"

#define AV_CRC64_EMPTY 0xc15d213aa4d7a795ULL

/* Bit by bit rather than with the specification's 256-entry table: it is
 * the same CRC, and fingerprints are computed once per schema, never per
 * record. */
uint64_t av_crc64(const void *data, size_t n) {
        const uint8_t *p = data;
        uint64_t fp = AV_CRC64_EMPTY;
        for (size_t i = 0; i < n; i++) {
                fp ^= p[i];
                for (int j = 0; j < 8; j++)
                        fp = (fp >> 1) ^ (AV_CRC64_EMPTY & (~(fp & 1) + 1));
        }
        return fp;
}

typedef struct cctx_s {
        buf_t out;
        const av_node_t **done; /* named types already written once */
        size_t n_done, done_size;
        int oom;
} cctx_t;

static void puts_(cctx_t *c, const char *s) {
        if (buf_append(&c->out, s, strlen(s)) == -1)
                c->oom = 1;
}

static void quoted(cctx_t *c, const char *s) {
        puts_(c, "\"");
        puts_(c, s);
        puts_(c, "\"");
}

/* Returns 1 when n was written before (so only its name goes out now). */
static int seen(cctx_t *c, const av_node_t *n) {
        for (size_t i = 0; i < c->n_done; i++)
                if (c->done[i] == n)
                        return 1;
        if (VEC_RESERVE(c->done, c->done_size, c->n_done + 1) == -1) {
                c->oom = 1;
                return 1;
        }
        c->done[c->n_done++] = n;
        return 0;
}

static void emit(cctx_t *c, const av_node_t *n) {
        if (c->oom)
                return;
        switch (n->type) {
        case AV_T_RECORD:
        case AV_T_ENUM:
        case AV_T_FIXED:
                if (seen(c, n)) {
                        quoted(c, n->name);
                        return;
                }
                puts_(c, "{\"name\":");
                quoted(c, n->name);
                puts_(c, ",\"type\":");
                quoted(c, av_type_name(n->type));
                if (n->type == AV_T_RECORD) {
                        puts_(c, ",\"fields\":[");
                        for (size_t i = 0; i < n->n_fields; i++) {
                                puts_(c, i ? ",{\"name\":" : "{\"name\":");
                                quoted(c, n->fields[i].name);
                                puts_(c, ",\"type\":");
                                emit(c, n->fields[i].type);
                                puts_(c, "}");
                        }
                        puts_(c, "]");
                } else if (n->type == AV_T_ENUM) {
                        puts_(c, ",\"symbols\":[");
                        for (size_t i = 0; i < n->n_symbols; i++) {
                                if (i)
                                        puts_(c, ",");
                                quoted(c, n->symbols[i]);
                        }
                        puts_(c, "]");
                } else {
                        char size[32];
                        snprintf(size, sizeof(size), ",\"size\":%zu", n->size);
                        puts_(c, size);
                }
                puts_(c, "}");
                return;
        case AV_T_ARRAY:
        case AV_T_MAP:
                puts_(c, n->type == AV_T_ARRAY ? "{\"type\":\"array\",\"items\":"
                                               : "{\"type\":\"map\",\"values\":");
                emit(c, n->items);
                puts_(c, "}");
                return;
        case AV_T_UNION:
                puts_(c, "[");
                for (size_t i = 0; i < n->n_branches; i++) {
                        if (i)
                                puts_(c, ",");
                        emit(c, n->branches[i]);
                }
                puts_(c, "]");
                return;
        default:
                quoted(c, av_type_name(n->type));
                return;
        }
}

int av_canon_build(av_schema_t *s) {
        cctx_t c = {0};
        emit(&c, s->root);
        if (!c.oom && buf_append(&c.out, "", 1) == -1)
                c.oom = 1;
        free(c.done);
        if (c.oom) {
                buf_free(&c.out);
                return -1;
        }
        s->canonical = c.out.data;
        return 0;
}
