/* av_json_out — an avro-c value to JSON text, written straight into a
 * caller-owned buffer (no cJSON: the sink does this for every record it
 * pushes to WebSocket clients).  The format is described in av_json.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_int.h"
#include "av_json.h"

size_t av_utf8_decode(const unsigned char *s, size_t left, long *cp) {
        int n;
        long c;
        if (left == 0)
                return 0;
        if (s[0] < 0x80) {
                *cp = s[0];
                return 1;
        } else if ((s[0] & 0xe0) == 0xc0) {
                c = s[0] & 0x1f;
                n = 1;
        } else if ((s[0] & 0xf0) == 0xe0) {
                c = s[0] & 0x0f;
                n = 2;
        } else if ((s[0] & 0xf8) == 0xf0) {
                c = s[0] & 0x07;
                n = 3;
        } else {
                return 0;
        }
        if ((size_t)n >= left)
                return 0;
        for (int i = 1; i <= n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        static const long min[] = {0, 0x80, 0x800, 0x10000};
        if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *cp = c;
        return (size_t)n + 1;
}

typedef struct jctx_s {
        buf_t *out;
        int flags;
        av_err_t *e;
} jctx_t;

static int put(jctx_t *c, const char *s, size_t n) {
        if (buf_append(c->out, s, n) == -1)
                return av_err_set(c->e, "out of memory");
        return 0;
}

/* String literals only: the "" makes anything else a compile error. */
#define PUTS(c, lit) put(c, "" lit, sizeof("" lit) - 1)

/* A JSON string from n bytes.  latin1: every byte is a code point (bytes,
 * fixed); otherwise UTF-8, with invalid sequences replaced by U+FFFD. */
static int put_string(jctx_t *c, const unsigned char *s, size_t n, int latin1) {
        static const char hex[] = "0123456789abcdef";
        /* Worst case 6 output bytes per input byte, plus quotes. */
        if (n > (SIZE_MAX - 2) / 6 || buf_reserve(c->out, n * 6 + 2) == -1)
                return av_err_set(c->e, "out of memory");
        char *o = c->out->data + c->out->len, *start = o;
        *o++ = '"';
        for (size_t i = 0; i < n;) {
                unsigned char b = s[i];
                long cp;
                size_t len;
                if (b == '"' || b == '\\') {
                        *o++ = '\\';
                        *o++ = (char)b;
                        i++;
                } else if (b >= 0x20 && b < 0x80) {
                        *o++ = (char)b;
                        i++;
                } else if (b < 0x20 || latin1) {
                        static const char short_esc[] = "btnvfr";
                        if (b >= 8 && b <= 13 && b != 11) {
                                *o++ = '\\';
                                *o++ = short_esc[b - 8];
                        } else {
                                memcpy(o, "\\u00", 4);
                                o[4] = hex[b >> 4];
                                o[5] = hex[b & 15];
                                o += 6;
                        }
                        i++;
                } else if ((len = av_utf8_decode(s + i, n - i, &cp)) > 0) {
                        memcpy(o, s + i, len);
                        o += len;
                        i += len;
                } else {
                        memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
                        o += 3;
                        i++;
                }
        }
        *o++ = '"';
        c->out->len += (size_t)(o - start);
        return 0;
}

/* Fewest significant digits that read back as the same value. */
static int put_real(jctx_t *c, double d, int is_float) {
        char buf[40];
        if (isnan(d))
                return PUTS(c, "\"NaN\"");
        if (isinf(d))
                return d > 0 ? PUTS(c, "\"Infinity\"") : PUTS(c, "\"-Infinity\"");
        for (int prec = is_float ? 6 : 15; prec <= (is_float ? 9 : 17); prec++) {
                snprintf(buf, sizeof(buf), "%.*g", prec, d);
                if (is_float ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
                        break;
        }
        return put(c, buf, strlen(buf));
}

static int write_node(const av_node_t *n, avro_value_t *v, jctx_t *c, int depth);

static int write_compound(const av_node_t *n, avro_value_t *v, jctx_t *c, int depth) {
        avro_value_t child;
        size_t size = 0;
        const char *key = NULL;
        int rc;
        if (n->type == AV_T_RECORD) {
                if (PUTS(c, "{") == -1)
                        return -1;
                for (size_t i = 0; i < n->n_fields; i++) {
                        const char *name = n->fields[i].name;
                        if ((i && PUTS(c, ",") == -1) ||
                            put_string(c, (const unsigned char *)name, strlen(name), 0) == -1 ||
                            PUTS(c, ":") == -1)
                                return -1;
                        if ((rc = avro_value_get_by_index(v, i, &child, NULL)))
                                return av_err_avro(c->e, rc);
                        if (write_node(n->fields[i].type, &child, c, depth + 1) == -1)
                                return av_err_field(c->e, name);
                }
                return PUTS(c, "}");
        }
        if (n->type == AV_T_UNION) {
                int d = -1;
                if ((rc = avro_value_get_discriminant(v, &d)))
                        return av_err_avro(c->e, rc);
                if (d < 0 || (size_t)d >= n->n_branches)
                        return av_err_set(c->e, "union has no branch selected");
                const av_node_t *b = n->branches[d];
                if ((rc = avro_value_get_current_branch(v, &child)))
                        return av_err_avro(c->e, rc);
                if (b->type == AV_T_NULL || (c->flags & AV_JSON_PLAIN_UNIONS))
                        return write_node(b, &child, c, depth + 1);
                const char *label = av_node_label(b);
                if (PUTS(c, "{") == -1 ||
                    put_string(c, (const unsigned char *)label, strlen(label), 0) == -1 ||
                    PUTS(c, ":") == -1 || write_node(b, &child, c, depth + 1) == -1)
                        return -1;
                return PUTS(c, "}");
        }
        /* array, map */
        int is_map = n->type == AV_T_MAP;
        if ((rc = avro_value_get_size(v, &size)))
                return av_err_avro(c->e, rc);
        if (put(c, is_map ? "{" : "[", 1) == -1)
                return -1;
        for (size_t i = 0; i < size; i++) {
                if ((rc = avro_value_get_by_index(v, i, &child, &key)))
                        return av_err_avro(c->e, rc);
                if (i && PUTS(c, ",") == -1)
                        return -1;
                if (is_map && (put_string(c, (const unsigned char *)key, strlen(key), 0) == -1 ||
                               PUTS(c, ":") == -1))
                        return -1;
                if (write_node(n->items, &child, c, depth + 1) == -1)
                        return is_map ? av_err_key(c->e, key, strlen(key)) : av_err_index(c->e, i);
        }
        return put(c, is_map ? "}" : "]", 1);
}

static int write_node(const av_node_t *n, avro_value_t *v, jctx_t *c, int depth) {
        char buf[32];
        const void *p = NULL;
        const char *s = NULL;
        size_t size = 0;
        int rc = 0;
        if (depth > AV_MAX_DEPTH)
                return av_err_set(c->e, "value nests deeper than %d levels", AV_MAX_DEPTH);
        switch (n->type) {
        case AV_T_NULL:
                return PUTS(c, "null");
        case AV_T_BOOLEAN: {
                int b = 0;
                if ((rc = avro_value_get_boolean(v, &b)))
                        return av_err_avro(c->e, rc);
                return b ? PUTS(c, "true") : PUTS(c, "false");
        }
        case AV_T_INT: {
                int32_t i = 0;
                if ((rc = avro_value_get_int(v, &i)))
                        return av_err_avro(c->e, rc);
                return put(c, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRId32, i));
        }
        case AV_T_LONG: {
                int64_t l = 0;
                if ((rc = avro_value_get_long(v, &l)))
                        return av_err_avro(c->e, rc);
                return put(c, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRId64, l));
        }
        case AV_T_FLOAT: {
                float f = 0;
                if ((rc = avro_value_get_float(v, &f)))
                        return av_err_avro(c->e, rc);
                return put_real(c, f, 1);
        }
        case AV_T_DOUBLE: {
                double d = 0;
                if ((rc = avro_value_get_double(v, &d)))
                        return av_err_avro(c->e, rc);
                return put_real(c, d, 0);
        }
        case AV_T_STRING:
                if ((rc = avro_value_get_string(v, &s, &size)))
                        return av_err_avro(c->e, rc);
                /* avro-c counts the terminating NUL in the size. */
                return put_string(c, (const unsigned char *)s, size ? size - 1 : 0, 0);
        case AV_T_BYTES:
        case AV_T_FIXED:
                rc = n->type == AV_T_BYTES ? avro_value_get_bytes(v, &p, &size)
                                           : avro_value_get_fixed(v, &p, &size);
                if (rc)
                        return av_err_avro(c->e, rc);
                return put_string(c, p, size, 1);
        case AV_T_ENUM: {
                int i = -1;
                if ((rc = avro_value_get_enum(v, &i)))
                        return av_err_avro(c->e, rc);
                if (i < 0 || (size_t)i >= n->n_symbols)
                        return av_err_set(c->e, "enum index %d out of range for %s", i, n->name);
                return put_string(c, (const unsigned char *)n->symbols[i], strlen(n->symbols[i]),
                                  0);
        }
        default:
                return write_compound(n, v, c, depth);
        }
}

int av_value_to_json(const av_schema_t *schema, avro_value_t *value, int flags, buf_t *out,
                     char *errstr, size_t errstr_size) {
        av_err_t e;
        jctx_t c = {out, flags, &e};
        size_t mark = out->len;
        if (write_node(schema->root, value, &c, 0) == -1 ||
            (buf_reserve(out, 1) == -1 && av_err_set(&e, "out of memory"))) {
                av_err_format(&e, errstr, errstr_size);
                out->len = mark;
                return -1;
        }
        out->data[out->len] = '\0';
        return 0;
}
