/* av_prog — a schema compiled into a flat list of checks, for validating
 * Avro binary at the rate records arrive.
 *
 * av_walk (av_validate.c) visits the schema's tree once per value: a call
 * and a jump through its type switch for every field and union branch,
 * which the branch predictor mostly misses.  Here a record's fields are
 * flattened into the list once, when the schema is parsed, and neighbours
 * of one shape merge into one check that loops (13 optional doubles in a
 * row are one op).  On weir.Aggregate, the record enrichment validates,
 * that halves the cost (tests/tools/av_bench.c; docs/avro.md).
 *
 * The program accepts exactly the values av_walk accepts: the same varint
 * readers, the same length, index and count checks.  It says only yes or
 * no; av_validate asks av_walk for the message when it says no.  Schemas it
 * does not take (recursive types, nesting at AV_MAX_DEPTH, arrays or maps
 * of items that take no bytes, very large expansions) get no program and
 * are walked as before. */
#include <stdlib.h>

#include "av_int.h"

enum {
        OP_LONG,  /* n longs */
        OP_INT,   /* n ints */
        OP_LEN,   /* n strings or bytes */
        OP_BOOL,  /* n booleans */
        OP_FIXED, /* n bytes: floats, doubles, fixed, merged */
        OP_ENUM,  /* one enum of n symbols */
        OP_OPT,   /* n unions of null and one leaf (leaf, size, null_idx) */
        OP_UNION, /* one union: subs[index] */
        OP_ARRAY, /* subs[0] per item; size = fewest bytes per item */
        OP_MAP,   /* a key, then subs[0], per entry; size as for arrays */
};

typedef struct av_op_s {
        uint8_t kind;
        uint8_t leaf;     /* OP_OPT: the other branch's kind (a leaf op) */
        uint8_t null_idx; /* OP_OPT: the null branch's index, 0 or 1 */
        uint32_t n;
        size_t size;      /* OP_OPT with a fixed leaf: its bytes; OP_ARRAY, OP_MAP */
        av_prog_t **subs; /* owned */
        size_t nsubs;
} av_op_t;

struct av_prog_s {
        av_op_t *ops; /* owned */
        size_t n, cap;
};

/* Expanding named types in line can grow a schema exponentially; past this
 * many ops, or types visited while compiling, the schema is walked instead. */
#define AV_PROG_MAX_OPS   4096
#define AV_PROG_MAX_STEPS 65536

void av_prog_free(av_prog_t *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                for (size_t k = 0; k < p->ops[i].nsubs; k++)
                        av_prog_free(p->ops[i].subs[k]);
                free(p->ops[i].subs);
        }
        free(p->ops);
        free(p);
}

/* ---------------------------------------------------------------- compile */

typedef struct {
        size_t ops, steps; /* across every program of the schema */
} av_budget_t;

/* The op of a type that holds no other, or -1. */
static int leaf_op(const av_node_t *n, size_t *size) {
        switch (n->type) {
        case AV_T_LONG:
                return OP_LONG;
        case AV_T_INT:
                return OP_INT;
        case AV_T_BYTES:
        case AV_T_STRING:
                return OP_LEN;
        case AV_T_BOOLEAN:
                return OP_BOOL;
        case AV_T_FLOAT:
                *size = 4;
                return OP_FIXED;
        case AV_T_DOUBLE:
                *size = 8;
                return OP_FIXED;
        case AV_T_FIXED:
                *size = n->size;
                return OP_FIXED;
        default:
                return -1;
        }
}

/* Appends op, or merges it into the last op when both are a run of one
 * shape.  Returns 0 or -1 (out of memory or over budget). */
static int push(av_prog_t *p, av_op_t op, av_budget_t *b) {
        av_op_t *last = p->n ? &p->ops[p->n - 1] : NULL;
        if (last && last->kind == op.kind && !op.subs && last->n < UINT32_MAX / 2 &&
            last->size + op.size >= last->size) {
                if (op.kind == OP_FIXED) {
                        last->size += op.size;
                        return 0;
                }
                if (op.kind != OP_ENUM &&
                    (op.kind != OP_OPT || (last->leaf == op.leaf && last->size == op.size &&
                                           last->null_idx == op.null_idx))) {
                        last->n += op.n;
                        return 0;
                }
        }
        if (++b->ops > AV_PROG_MAX_OPS)
                return -1;
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 8;
                av_op_t *o = realloc(p->ops, cap * sizeof(*o));
                if (!o)
                        return -1;
                p->ops = o;
                p->cap = cap;
        }
        p->ops[p->n++] = op;
        return 0;
}

static int emit(av_prog_t *p, const av_node_t *n, int depth, av_budget_t *b);

/* A program of its own for n (a union branch, array items, map values). */
static av_prog_t *compile_sub(const av_node_t *n, int depth, av_budget_t *b) {
        av_prog_t *p = calloc(1, sizeof(*p));
        if (p && emit(p, n, depth, b) == -1) {
                av_prog_free(p);
                return NULL;
        }
        return p;
}

/* Appends the checks of a value of n at the given nesting depth (as
 * av_walk counts it).  -1: n cannot be compiled, or out of memory. */
static int emit(av_prog_t *p, const av_node_t *n, int depth, av_budget_t *b) {
        size_t size = 0;
        int k = leaf_op(n, &size);
        if (++b->steps > AV_PROG_MAX_STEPS)
                return -1;
        if (n->type == AV_T_NULL)
                return 0;
        if (k >= 0)
                return push(p,
                            (av_op_t){.kind = (uint8_t)k, .n = k == OP_FIXED ? 0 : 1, .size = size},
                            b);
        if (n->type == AV_T_ENUM)
                return n->n_symbols > UINT32_MAX
                               ? -1
                               : push(p, (av_op_t){.kind = OP_ENUM, .n = (uint32_t)n->n_symbols},
                                      b);
        if (depth >= AV_MAX_DEPTH) /* av_walk refuses such a value: let it say so */
                return -1;
        switch (n->type) {
        case AV_T_RECORD:
                for (size_t i = 0; i < n->n_fields; i++)
                        if (emit(p, n->fields[i].type, depth + 1, b) == -1)
                                return -1;
                return 0;
        case AV_T_UNION: {
                if (n->n_branches == 2) {
                        int ni = n->branches[0]->type == AV_T_NULL   ? 0
                                 : n->branches[1]->type == AV_T_NULL ? 1
                                                                     : -1;
                        size_t lsize = 0;
                        int leaf = ni >= 0 ? leaf_op(n->branches[1 - ni], &lsize) : -1;
                        if (leaf >= 0)
                                return push(p,
                                            (av_op_t){.kind = OP_OPT,
                                                      .leaf = (uint8_t)leaf,
                                                      .null_idx = (uint8_t)ni,
                                                      .n = 1,
                                                      .size = lsize},
                                            b);
                }
                av_op_t op = {.kind = OP_UNION, .nsubs = n->n_branches};
                if (!(op.subs = calloc(n->n_branches ? n->n_branches : 1, sizeof(*op.subs))))
                        return -1;
                for (size_t i = 0; i < n->n_branches; i++)
                        if (!(op.subs[i] = compile_sub(n->branches[i], depth + 1, b)))
                                goto fail;
                if (push(p, op, b) == 0)
                        return 0;
        fail:
                for (size_t i = 0; i < op.nsubs; i++)
                        av_prog_free(op.subs[i]);
                free(op.subs);
                return -1;
        }
        case AV_T_ARRAY:
        case AV_T_MAP: {
                int is_map = n->type == AV_T_MAP;
                /* Items of no bytes are capped by a count across the whole
                 * value (AV_MAX_ZERO_ITEMS): left to av_walk. */
                if (n->items->min_size + (size_t)is_map == 0)
                        return -1;
                av_op_t op = {.kind = is_map ? OP_MAP : OP_ARRAY,
                              .size = n->items->min_size + (size_t)is_map,
                              .nsubs = 1};
                if (!(op.subs = calloc(1, sizeof(*op.subs))))
                        return -1;
                if (!(op.subs[0] = compile_sub(n->items, depth + 1, b)) || push(p, op, b) == -1) {
                        av_prog_free(op.subs[0]);
                        free(op.subs);
                        return -1;
                }
                return 0;
        }
        default:
                return -1;
        }
}

av_prog_t *av_prog_compile(const av_node_t *root) {
        av_budget_t b = {0};
        return compile_sub(root, 0, &b);
}

/* ---------------------------------------------------------------- run */

static inline int read_len(av_rd_t *r) {
        int64_t len;
        if (av_rd_long(r, &len) || len < 0 || (uint64_t)len > av_rd_left(r))
                return -1;
        r->p += len;
        return 0;
}

static inline int run_leaf(int kind, size_t size, av_rd_t *r) {
        int64_t l;
        int32_t i;
        switch (kind) {
        case OP_LONG:
                return av_rd_long(r, &l) ? -1 : 0;
        case OP_INT:
                return av_rd_int(r, &i) ? -1 : 0;
        case OP_LEN:
                return read_len(r);
        case OP_BOOL:
                if (r->p >= r->end || *r->p > 1)
                        return -1;
                r->p++;
                return 0;
        default: /* OP_FIXED */
                if (av_rd_left(r) < size)
                        return -1;
                r->p += size;
                return 0;
        }
}

static int run_blocks(const av_op_t *op, av_rd_t *r) {
        for (;;) {
                int64_t count, bytes = -1;
                if (av_rd_long(r, &count))
                        return -1;
                if (count == 0)
                        return 0;
                if (count < 0) {
                        if (count == INT64_MIN || av_rd_long(r, &bytes) || bytes < 0 ||
                            (uint64_t)bytes > av_rd_left(r))
                                return -1;
                        count = -count;
                }
                if ((uint64_t)count > av_rd_left(r) / op->size)
                        return -1;
                const uint8_t *start = r->p;
                for (int64_t i = 0; i < count; i++)
                        if ((op->kind == OP_MAP && read_len(r) == -1) ||
                            av_prog_run(op->subs[0], r) == -1)
                                return -1;
                if (bytes >= 0 && r->p - start != bytes)
                        return -1;
        }
}

int av_prog_run(const av_prog_t *p, av_rd_t *r) {
        for (const av_op_t *op = p->ops, *end = op + p->n; op < end; op++) {
                int64_t v;
                switch (op->kind) {
                case OP_FIXED:
                        if (av_rd_left(r) < op->size)
                                return -1;
                        r->p += op->size;
                        break;
                case OP_ENUM: {
                        int32_t e;
                        if (av_rd_int(r, &e) || e < 0 || (uint32_t)e >= op->n)
                                return -1;
                        break;
                }
                case OP_OPT:
                        for (uint32_t i = 0; i < op->n; i++) {
                                /* The index in its one-byte form (zigzag 0, 1: 0x00, 0x02)
                                 * read in line: null, or a double, is most of them. */
                                if (r->p < r->end && *r->p == 2 * op->null_idx) {
                                        r->p++;
                                        continue;
                                }
                                if (op->leaf == OP_FIXED && r->p < r->end &&
                                    *r->p == 2 - 2 * op->null_idx) {
                                        if (av_rd_left(r) <= op->size)
                                                return -1;
                                        r->p += 1 + op->size;
                                        continue;
                                }
                                if (av_rd_long(r, &v) || (uint64_t)v > 1)
                                        return -1;
                                if (v != op->null_idx && run_leaf(op->leaf, op->size, r) == -1)
                                        return -1;
                        }
                        break;
                case OP_UNION:
                        if (av_rd_long(r, &v) || v < 0 || (uint64_t)v >= op->nsubs ||
                            av_prog_run(op->subs[v], r) == -1)
                                return -1;
                        break;
                case OP_ARRAY:
                case OP_MAP:
                        if (run_blocks(op, r) == -1)
                                return -1;
                        break;
                default:
                        for (uint32_t i = 0; i < op->n; i++)
                                if (run_leaf(op->kind, 0, r) == -1)
                                        return -1;
                        break;
                }
        }
        return 0;
}
