/* av_validate — checks Avro binary against its writer schema in one linear
 * walk before anything allocates for it.
 *
 * avro-c (1.11) trusts lengths and counts, so a string length or array
 * count of 2^40 in hostile bytes makes it allocate; this walk proves every
 * length, count, index and varint fits the bytes actually there, bounds
 * nesting, caps items that take no bytes, and requires the input to be
 * consumed exactly.  The decoder then reads bytes known to be well formed.
 * The fewest bytes each type can take, which the count checks rest on, is
 * computed here once per schema. */
#include <inttypes.h>
#include <stdio.h>

#include "av_int.h"
#include "av_wire.h"

/* Fewest bytes a value of n can encode in: lets the validator reject counts
 * that cannot fit in what is left.  A type still being computed (recursion)
 * counts 0, which keeps the figure a lower bound. */
static size_t compute_min(av_node_t *n) {
        const size_t busy = SIZE_MAX - 1;
        if (n->min_size == busy)
                return 0;
        if (n->min_size != SIZE_MAX)
                return n->min_size;
        n->min_size = busy;
        size_t m = 0;
        switch (n->type) {
        case AV_T_NULL:
                m = 0;
                break;
        case AV_T_FLOAT:
                m = 4;
                break;
        case AV_T_DOUBLE:
                m = 8;
                break;
        case AV_T_FIXED:
                m = n->size;
                break;
        case AV_T_RECORD:
                for (size_t i = 0; i < n->n_fields; i++) {
                        size_t f = compute_min(n->fields[i].type);
                        m = m + f < m ? SIZE_MAX / 2 : m + f;
                }
                break;
        case AV_T_UNION:
                m = SIZE_MAX / 2;
                for (size_t i = 0; i < n->n_branches; i++) {
                        size_t b = compute_min(n->branches[i]);
                        if (b < m)
                                m = b;
                }
                m = m + 1;
                break;
        case AV_T_ARRAY:
        case AV_T_MAP:
                compute_min(n->items);
                m = 1;
                break;
        default: /* boolean, int, long, bytes, string, enum */
                m = 1;
                break;
        }
        n->min_size = m;
        return m;
}

void av_min_sizes(av_schema_t *s) {
        for (size_t i = 0; i < s->n_nodes; i++)
                compute_min(s->nodes[i]);
}

static int varint_err(av_vctx_t *c, int rc, const char *what) {
        if (rc == -2)
                return av_err_set(c->err, "truncated %s", what);
        return av_err_set(c->err, "malformed %s varint (too long or over %s bits)", what,
                          !strcmp(what, "int") || !strcmp(what, "enum index") ? "32" : "64");
}

/* A string, bytes or map key: a length, then that many bytes. */
static int walk_len(av_rd_t *r, av_vctx_t *c, const char *what) {
        int64_t len;
        int rc = av_rd_long(r, &len);
        if (rc)
                return varint_err(c, rc, what);
        if (len < 0)
                return av_err_set(c->err, "%s length %" PRId64 " is negative", what, len);
        if ((uint64_t)len > av_rd_left(r))
                return av_err_set(c->err, "%s length %" PRId64 " exceeds %zu remaining bytes", what,
                                  len, av_rd_left(r));
        r->p += len;
        return 0;
}

static int walk_blocks(const av_node_t *n, av_rd_t *r, av_vctx_t *c, int depth) {
        const int is_map = n->type == AV_T_MAP;
        const char *what = is_map ? "map" : "array";
        /* A map entry also holds its key, at least one byte. */
        const size_t item_min = n->items->min_size + (size_t)is_map;
        size_t index = 0;
        for (;;) {
                int64_t count, bytes = -1;
                int rc = av_rd_long(r, &count);
                if (rc)
                        return varint_err(c, rc, is_map ? "map block count" : "array block count");
                if (count == 0)
                        return 0;
                if (count < 0) {
                        /* A negative count is followed by the block's size in
                         * bytes, so readers can skip it. */
                        if (count == INT64_MIN)
                                return av_err_set(c->err, "%s block count %" PRId64 " is invalid",
                                                  what, count);
                        count = -count;
                        if ((rc = av_rd_long(r, &bytes)))
                                return varint_err(c, rc, "block byte size");
                        if (bytes < 0 || (uint64_t)bytes > av_rd_left(r))
                                return av_err_set(c->err,
                                                  "%s block byte size %" PRId64
                                                  " exceeds %zu remaining bytes",
                                                  what, bytes, av_rd_left(r));
                }
                if (item_min > 0) {
                        if ((uint64_t)count > av_rd_left(r) / item_min)
                                return av_err_set(c->err,
                                                  "%s count %" PRId64
                                                  " exceeds what %zu remaining bytes can hold",
                                                  what, count, av_rd_left(r));
                } else {
                        if ((uint64_t)count > AV_MAX_ZERO_ITEMS - c->zero_items)
                                return av_err_set(c->err,
                                                  "%s count %" PRId64
                                                  " of zero-byte items exceeds the limit of %u",
                                                  what, count, AV_MAX_ZERO_ITEMS);
                        c->zero_items += (size_t)count;
                }
                const uint8_t *start = r->p;
                for (int64_t i = 0; i < count; i++, index++) {
                        const char *key = (const char *)r->p;
                        if (is_map && walk_len(r, c, "map key") == -1)
                                return av_err_index(c->err, index);
                        if (av_walk(n->items, r, c, depth + 1) == -1) {
                                if (!is_map)
                                        return av_err_index(c->err, index);
                                /* Re-read the key's length: it was valid. */
                                av_rd_t k = {(const uint8_t *)key, r->end};
                                int64_t klen = 0;
                                av_rd_long(&k, &klen);
                                return av_err_key(c->err, (const char *)k.p, (size_t)klen);
                        }
                }
                if (bytes >= 0 && r->p - start != bytes)
                        return av_err_set(c->err,
                                          "%s block byte size %" PRId64
                                          " does not match its items (%td bytes)",
                                          what, bytes, r->p - start);
        }
}

int av_walk(const av_node_t *n, av_rd_t *r, av_vctx_t *c, int depth) {
        int rc;
        switch (n->type) {
        case AV_T_NULL:
                return 0;
        case AV_T_BOOLEAN:
                if (r->p >= r->end)
                        return av_err_set(c->err, "truncated boolean");
                if (*r->p > 1)
                        return av_err_set(c->err, "boolean byte 0x%02x is not 0 or 1", *r->p);
                r->p++;
                return 0;
        case AV_T_INT: {
                int32_t v;
                return (rc = av_rd_int(r, &v)) ? varint_err(c, rc, "int") : 0;
        }
        case AV_T_LONG: {
                int64_t v;
                return (rc = av_rd_long(r, &v)) ? varint_err(c, rc, "long") : 0;
        }
        case AV_T_FLOAT:
        case AV_T_DOUBLE:
        case AV_T_FIXED: {
                size_t need = n->type == AV_T_FLOAT ? 4 : n->type == AV_T_DOUBLE ? 8 : n->size;
                if (av_rd_left(r) < need)
                        return av_err_set(c->err, "truncated %s: needs %zu bytes, %zu remaining",
                                          av_node_label(n), need, av_rd_left(r));
                r->p += need;
                return 0;
        }
        case AV_T_BYTES:
        case AV_T_STRING:
                return walk_len(r, c, av_type_name(n->type));
        case AV_T_ENUM: {
                int32_t v;
                if ((rc = av_rd_int(r, &v)))
                        return varint_err(c, rc, "enum index");
                if (v < 0 || (size_t)v >= n->n_symbols)
                        return av_err_set(
                                c->err, "enum index %" PRId32 " out of range for %s (%zu symbols)",
                                v, n->name, n->n_symbols);
                return 0;
        }
        default:
                break;
        }
        /* Compound types: the only way to recurse. */
        if (depth >= AV_MAX_DEPTH)
                return av_err_set(c->err, "value nests deeper than %d levels", AV_MAX_DEPTH);
        switch (n->type) {
        case AV_T_UNION: {
                int64_t v;
                if ((rc = av_rd_long(r, &v)))
                        return varint_err(c, rc, "union index");
                if (v < 0 || (uint64_t)v >= n->n_branches)
                        return av_err_set(c->err,
                                          "union index %" PRId64 " out of range (%zu branches)", v,
                                          n->n_branches);
                return av_walk(n->branches[v], r, c, depth + 1);
        }
        case AV_T_RECORD:
                for (size_t i = 0; i < n->n_fields; i++)
                        if (av_walk(n->fields[i].type, r, c, depth + 1) == -1)
                                return av_err_field(c->err, n->fields[i].name);
                return 0;
        default: /* array, map */
                return walk_blocks(n, r, c, depth);
        }
}

int av_validate(const av_schema_t *writer, const void *data, size_t len, char *errstr,
                size_t errstr_size) {
        av_err_t err;
        av_vctx_t c = {&err, 0};
        av_rd_t r = {data, (const uint8_t *)data + len};
        if (writer->prog && av_prog_run(writer->prog, &r) == 0 && r.p == r.end)
                return 0;
        /* Invalid, or no program: the walk says why. */
        r.p = data;
        if (av_walk(writer->root, &r, &c, 0) == -1 ||
            (r.p != r.end &&
             av_err_set(&err, "%zu trailing bytes after the value", av_rd_left(&r)))) {
                av_err_format(&err, errstr, errstr_size);
                return -1;
        }
        return 0;
}
