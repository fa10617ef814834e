/* av_encode — an avro-c value to framed Avro binary in a caller-owned
 * buffer.  Our own writer rather than avro_value_write(), which needs the
 * size up front (a second pass) and a fixed memory writer: this one grows
 * the caller's buffer and reuses it record after record. */
#include <stdio.h>

#include "av_int.h"
#include "av_wire.h"

static int put(buf_t *b, const void *p, size_t n, av_err_t *e) {
        return buf_append(b, p, n) == -1 ? av_err_set(e, "out of memory") : 0;
}

static int put_long(buf_t *b, int64_t v, av_err_t *e) {
        return av_put_long(b, v) == -1 ? av_err_set(e, "out of memory") : 0;
}

static int put_len(buf_t *b, const void *p, size_t n, av_err_t *e) {
        return put_long(b, (int64_t)n, e) == -1 ? -1 : put(b, p, n, e);
}

static int encode_compound(const av_node_t *n, avro_value_t *v, buf_t *b, av_err_t *e, int depth) {
        avro_value_t child;
        const char *key = NULL;
        size_t size = 0;
        int rc;
        switch (n->type) {
        case AV_T_RECORD:
                for (size_t i = 0; i < n->n_fields; i++) {
                        if ((rc = avro_value_get_by_index(v, i, &child, NULL)))
                                return av_err_avro(e, rc);
                        if (av_encode_node(n->fields[i].type, &child, b, e, depth + 1) == -1)
                                return av_err_field(e, n->fields[i].name);
                }
                return 0;
        case AV_T_UNION: {
                int d = -1;
                if ((rc = avro_value_get_discriminant(v, &d)))
                        return av_err_avro(e, rc);
                if (d < 0 || (size_t)d >= n->n_branches)
                        return av_err_set(e, "union has no branch selected");
                if ((rc = avro_value_get_current_branch(v, &child)))
                        return av_err_avro(e, rc);
                if (put_long(b, d, e) == -1)
                        return -1;
                return av_encode_node(n->branches[d], &child, b, e, depth + 1);
        }
        default: /* array, map: one block, then the terminating 0 */
                if ((rc = avro_value_get_size(v, &size)))
                        return av_err_avro(e, rc);
                if (size && put_long(b, (int64_t)size, e) == -1)
                        return -1;
                for (size_t i = 0; i < size; i++) {
                        if ((rc = avro_value_get_by_index(v, i, &child, &key)))
                                return av_err_avro(e, rc);
                        if (n->type == AV_T_MAP && put_len(b, key, strlen(key), e) == -1)
                                return -1;
                        if (av_encode_node(n->items, &child, b, e, depth + 1) == -1)
                                return n->type == AV_T_MAP ? av_err_key(e, key, strlen(key))
                                                           : av_err_index(e, i);
                }
                return put_long(b, 0, e);
        }
}

int av_encode_node(const av_node_t *n, avro_value_t *v, buf_t *b, av_err_t *e, int depth) {
        const void *p = NULL;
        const char *s = NULL;
        size_t size = 0;
        int rc = 0;
        if (depth > AV_MAX_DEPTH)
                return av_err_set(e, "value nests deeper than %d levels", AV_MAX_DEPTH);
        switch (n->type) {
        case AV_T_NULL:
                return 0;
        case AV_T_BOOLEAN: {
                int x = 0;
                if ((rc = avro_value_get_boolean(v, &x)))
                        return av_err_avro(e, rc);
                uint8_t byte = x != 0;
                return put(b, &byte, 1, e);
        }
        case AV_T_INT: {
                int32_t x = 0;
                if ((rc = avro_value_get_int(v, &x)))
                        return av_err_avro(e, rc);
                return put_long(b, x, e);
        }
        case AV_T_LONG: {
                int64_t x = 0;
                if ((rc = avro_value_get_long(v, &x)))
                        return av_err_avro(e, rc);
                return put_long(b, x, e);
        }
        case AV_T_FLOAT: {
                float x = 0;
                if ((rc = avro_value_get_float(v, &x)))
                        return av_err_avro(e, rc);
                return put(b, &x, 4, e);
        }
        case AV_T_DOUBLE: {
                double x = 0;
                if ((rc = avro_value_get_double(v, &x)))
                        return av_err_avro(e, rc);
                return put(b, &x, 8, e);
        }
        case AV_T_STRING:
                if ((rc = avro_value_get_string(v, &s, &size)))
                        return av_err_avro(e, rc);
                /* avro-c counts the terminating NUL in the size. */
                return put_len(b, s, size ? size - 1 : 0, e);
        case AV_T_BYTES:
                if ((rc = avro_value_get_bytes(v, &p, &size)))
                        return av_err_avro(e, rc);
                return put_len(b, p, size, e);
        case AV_T_FIXED:
                if ((rc = avro_value_get_fixed(v, &p, &size)))
                        return av_err_avro(e, rc);
                if (size != n->size)
                        return av_err_set(e, "fixed %s holds %zu bytes, needs %zu", n->name, size,
                                          n->size);
                return put(b, p, size, e);
        case AV_T_ENUM: {
                int x = -1;
                if ((rc = avro_value_get_enum(v, &x)))
                        return av_err_avro(e, rc);
                if (x < 0 || (size_t)x >= n->n_symbols)
                        return av_err_set(e, "enum index %d out of range for %s", x, n->name);
                return put_long(b, x, e);
        }
        default:
                return encode_compound(n, v, b, e, depth);
        }
}

int av_encode(const av_schema_t *schema, avro_value_t *value, av_wire_t wire, int32_t schema_id,
              buf_t *out, char *errstr, size_t errstr_size) {
        uint8_t hdr[10];
        size_t hlen;
        av_err_t e;
        size_t mark = out->len;
        if (wire == AV_WIRE_CONFLUENT) {
                if (schema_id < 0) {
                        snprintf(errstr, errstr_size,
                                 "Confluent framing needs the schema's registry id, got %d",
                                 (int)schema_id);
                        return -1;
                }
                uint32_t id = (uint32_t)schema_id;
                hdr[0] = 0x00;
                hdr[1] = (uint8_t)(id >> 24);
                hdr[2] = (uint8_t)(id >> 16);
                hdr[3] = (uint8_t)(id >> 8);
                hdr[4] = (uint8_t)id;
                hlen = 5;
        } else {
                uint64_t fp = schema->fingerprint;
                hdr[0] = 0xc3;
                hdr[1] = 0x01;
                for (int i = 0; i < 8; i++)
                        hdr[2 + i] = (uint8_t)(fp >> (8 * i));
                hlen = 10;
        }
        if (put(out, hdr, hlen, &e) == -1 ||
            av_encode_node(schema->root, value, out, &e, 0) == -1) {
                av_err_format(&e, errstr, errstr_size);
                out->len = mark;
                return -1;
        }
        return 0;
}
