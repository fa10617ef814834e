/* av_json_in — JSON (a cJSON tree) to an avro-c value, following the schema
 * graph.  The rules are in av_json.h.  Also checks schema defaults at parse
 * time (with no value to fill) and fills reader defaults when decoding. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_int.h"
#include "av_json.h"

/* Integers a double holds exactly: larger JSON numbers were rounded by the
 * parser already, so accepting them as longs would store a wrong value. */
#define AV_JSON_MAX_EXACT 9007199254740992.0 /* 2^53 */

const char *av_json_kind(const cJSON *j) {
        if (cJSON_IsNull(j))
                return "null";
        if (cJSON_IsBool(j))
                return "boolean";
        if (cJSON_IsNumber(j))
                return isfinite(j->valuedouble) ? "number" : "non-finite number";
        if (cJSON_IsString(j))
                return "string";
        if (cJSON_IsArray(j))
                return "array";
        if (cJSON_IsObject(j))
                return "object";
        return "invalid JSON item";
}

/* Code points of an ISO-8859-1 string into out (at most strlen(s) bytes).
 * Returns the byte count, or -1 when a code point is above U+00FF. */
static long latin1(const char *s, unsigned char *out) {
        const unsigned char *p = (const unsigned char *)s;
        size_t left = strlen(s), len;
        long n = 0, cp;
        for (; left; p += len, left -= len, n++) {
                if (!(len = av_utf8_decode(p, left, &cp)) || cp > 0xff)
                        return -1;
                if (out)
                        out[n] = (unsigned char)cp;
        }
        return n;
}

static int valid_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *)s;
        size_t left = strlen(s), len;
        long cp;
        for (; left; p += len, left -= len)
                if (!(len = av_utf8_decode(p, left, &cp)))
                        return 0;
        return 1;
}

static int is_integral(double d) {
        return isfinite(d) && floor(d) == d;
}

static int find_symbol(const av_node_t *n, const char *s) {
        for (size_t i = 0; i < n->n_symbols; i++)
                if (!strcmp(n->symbols[i], s))
                        return (int)i;
        return -1;
}

static int find_field(const av_node_t *n, const char *name, size_t hint) {
        if (hint < n->n_fields && !strcmp(n->fields[hint].name, name))
                return (int)hint;
        for (size_t i = 0; i < n->n_fields; i++)
                if (!strcmp(n->fields[i].name, name))
                        return (int)i;
        return -1;
}

/* Whether j's JSON type and range suit n, without converting: how a bare
 * union value picks its branch. */
static int fits(const av_node_t *n, const cJSON *j) {
        double d = cJSON_IsNumber(j) ? j->valuedouble : 0;
        switch (n->type) {
        case AV_T_NULL:
                return cJSON_IsNull(j);
        case AV_T_BOOLEAN:
                return cJSON_IsBool(j);
        case AV_T_INT:
                return cJSON_IsNumber(j) && is_integral(d) && d >= INT32_MIN && d <= INT32_MAX;
        case AV_T_LONG:
                return cJSON_IsNumber(j) && is_integral(d) && fabs(d) <= AV_JSON_MAX_EXACT;
        case AV_T_FLOAT:
                return cJSON_IsNumber(j) && isfinite(d) && fabs(d) <= FLT_MAX;
        case AV_T_DOUBLE:
                return cJSON_IsNumber(j) && isfinite(d);
        case AV_T_STRING:
                return cJSON_IsString(j);
        case AV_T_BYTES:
                return cJSON_IsString(j) && latin1(j->valuestring, NULL) >= 0;
        case AV_T_FIXED:
                return cJSON_IsString(j) && latin1(j->valuestring, NULL) == (long)n->size;
        case AV_T_ENUM:
                return cJSON_IsString(j) && find_symbol(n, j->valuestring) >= 0;
        case AV_T_ARRAY:
                return cJSON_IsArray(j);
        case AV_T_MAP:
                return cJSON_IsObject(j);
        case AV_T_RECORD: {
                if (!cJSON_IsObject(j))
                        return 0;
                const cJSON *c;
                cJSON_ArrayForEach(c,
                                   j) if (!c->string || find_field(n, c->string, 0) < 0) return 0;
                for (size_t i = 0; i < n->n_fields; i++)
                        if (!n->fields[i].def &&
                            !cJSON_GetObjectItemCaseSensitive(j, n->fields[i].name))
                                return 0;
                return 1;
        }
        case AV_T_UNION:
                return 0; /* unions do not nest */
        }
        return 0;
}

/* Bytes and fixed: decoded into a stack buffer when small, else the heap. */
static int set_latin1(const av_node_t *n, const cJSON *j, avro_value_t *v, av_err_t *e) {
        long len = latin1(j->valuestring, NULL);
        if (len < 0)
                return av_err_set(e, "%s string has a character above U+00FF",
                                  av_type_name(n->type));
        if (n->type == AV_T_FIXED && (size_t)len != n->size)
                return av_err_set(e, "fixed %s needs %zu bytes, got %ld", n->name, n->size, len);
        if (!v)
                return 0;
        unsigned char small[256], *buf = small;
        if ((size_t)len > sizeof(small) && !(buf = malloc((size_t)len)))
                return av_err_set(e, "out of memory");
        latin1(j->valuestring, buf);
        int rc = n->type == AV_T_FIXED ? avro_value_set_fixed(v, buf, (size_t)len)
                                       : avro_value_set_bytes(v, buf, (size_t)len);
        if (buf != small)
                free(buf);
        return av_err_avro(e, rc);
}

static int convert_record(const av_node_t *n, const cJSON *j, avro_value_t *v, av_err_t *e,
                          int depth) {
        /* Which fields were given: on the stack for all but huge records. */
        unsigned char small[256], *seen = small;
        if (n->n_fields > sizeof(small) && !(seen = calloc(n->n_fields, 1)))
                return av_err_set(e, "out of memory");
        memset(seen, 0, n->n_fields < sizeof(small) ? n->n_fields : sizeof(small));
        int rc = 0;
        size_t hint = 0;
        const cJSON *c;
        avro_value_t child = {NULL, NULL}, *cp = v ? &child : NULL;
        cJSON_ArrayForEach(c, j) {
                /* JSON usually lists fields in schema order: try the next one
                 * first, so matching stays linear. */
                int i = c->string ? find_field(n, c->string, hint) : -1;
                if (i < 0 || seen[i]) {
                        av_err_set(e, i < 0 ? "no such field in %s" : "field given twice in %s",
                                   n->name);
                        rc = av_err_key(e, c->string ? c->string : "",
                                        c->string ? strlen(c->string) : 0);
                        break;
                }
                seen[i] = 1;
                hint = (size_t)i + 1;
                if ((v &&
                     (rc = av_err_avro(e, avro_value_get_by_index(v, (size_t)i, &child, NULL)))) ||
                    (rc = av_json_node(n->fields[i].type, c, cp, e, depth + 1))) {
                        rc = av_err_field(e, n->fields[i].name);
                        break;
                }
        }
        for (size_t i = 0; rc == 0 && i < n->n_fields; i++) {
                const av_field_t *f = &n->fields[i];
                if (seen[i])
                        continue;
                if (!f->def)
                        rc = av_err_set(e, "required field is missing (it has no default)");
                else if (!(v && (rc = av_err_avro(e, avro_value_get_by_index(v, i, &child, NULL)))))
                        rc = av_json_node(f->type, f->def, cp, e, depth + 1);
                if (rc)
                        rc = av_err_field(e, f->name);
        }
        if (seen != small)
                free(seen);
        return rc;
}

static int convert_items(const av_node_t *n, const cJSON *j, avro_value_t *v, av_err_t *e,
                         int depth) {
        int is_array = n->type == AV_T_ARRAY;
        if (is_array ? !cJSON_IsArray(j) : !cJSON_IsObject(j))
                return av_err_set(e, "expected %s, got %s", is_array ? "array" : "map (object)",
                                  av_json_kind(j));
        if (v && av_err_avro(e, avro_value_reset(v)))
                return -1;
        size_t index = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, j) {
                avro_value_t child;
                int rc = 0;
                if (!is_array && (!c->string || !valid_utf8(c->string))) {
                        av_err_set(e, "map key is not valid UTF-8");
                        return av_err_index(e, index);
                }
                if (v)
                        rc = is_array ? avro_value_append(v, &child, NULL)
                                      : avro_value_add(v, c->string ? c->string : "", &child, NULL,
                                                       NULL);
                if (av_err_avro(e, rc) ||
                    av_json_node(n->items, c, v ? &child : NULL, e, depth + 1))
                        return is_array ? av_err_index(e, index)
                                        : av_err_key(e, c->string ? c->string : "",
                                                     c->string ? strlen(c->string) : 0);
                index++;
        }
        return 0;
}

/* Branch named by the single key of {"name": value}, or -1. */
static int wrapped_branch(const av_node_t *n, const cJSON *j) {
        if (!cJSON_IsObject(j) || !j->child || j->child->next || !j->child->string)
                return -1;
        const char *key = j->child->string;
        for (size_t i = 0; i < n->n_branches; i++) {
                const av_node_t *b = n->branches[i];
                const char *dot = b->name ? strrchr(b->name, '.') : NULL;
                if (!strcmp(av_node_label(b), key) || (dot && !strcmp(dot + 1, key)))
                        return (int)i;
        }
        return -1;
}

static int convert_union(const av_node_t *n, const cJSON *j, avro_value_t *v, av_err_t *e,
                         int depth) {
        int k = wrapped_branch(n, j);
        const cJSON *val = j;
        if (k >= 0) {
                val = j->child;
        } else {
                for (size_t i = 0; i < n->n_branches && k < 0; i++)
                        if (fits(n->branches[i], j))
                                k = (int)i;
        }
        if (k < 0) {
                /* With one non-null branch its own message says most. */
                int only = -1, others = 0;
                for (size_t i = 0; i < n->n_branches; i++) {
                        if (n->branches[i]->type != AV_T_NULL) {
                                only = (int)i;
                                others++;
                        }
                }
                if (others != 1 || cJSON_IsNull(j)) {
                        char list[200];
                        size_t pos = 0;
                        list[0] = '\0';
                        for (size_t i = 0; i < n->n_branches && pos < sizeof(list); i++)
                                pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s%s",
                                                        i ? ", " : "",
                                                        av_node_label(n->branches[i]));
                        return av_err_set(e, "expected one of [%s], got %s", list, av_json_kind(j));
                }
                k = only;
        }
        avro_value_t branch;
        if (v && av_err_avro(e, avro_value_set_branch(v, k, &branch)))
                return -1;
        return av_json_node(n->branches[k], val, v ? &branch : NULL, e, depth + 1);
}

int av_json_node(const av_node_t *n, const cJSON *j, avro_value_t *v, av_err_t *e, int depth) {
        double d = cJSON_IsNumber(j) ? j->valuedouble : 0;
        const char *want = av_node_label(n);
        int rc = 0;
        if (depth > AV_MAX_DEPTH)
                return av_err_set(e, "value nests deeper than %d levels", AV_MAX_DEPTH);
        switch (n->type) {
        case AV_T_NULL:
                if (!cJSON_IsNull(j))
                        return av_err_set(e, "expected null, got %s", av_json_kind(j));
                return v ? av_err_avro(e, avro_value_set_null(v)) : 0;
        case AV_T_BOOLEAN:
                if (!cJSON_IsBool(j))
                        return av_err_set(e, "expected boolean, got %s", av_json_kind(j));
                return v ? av_err_avro(e, avro_value_set_boolean(v, cJSON_IsTrue(j))) : 0;
        case AV_T_INT:
        case AV_T_LONG:
                if (!cJSON_IsNumber(j) || !is_integral(d))
                        return av_err_set(e, "expected %s, got %s%s", want,
                                          cJSON_IsNumber(j) && isfinite(d) ? "non-integral " : "",
                                          av_json_kind(j));
                if (n->type == AV_T_INT && (d < INT32_MIN || d > INT32_MAX))
                        return av_err_set(e, "%.17g is out of range for int", d);
                if (n->type == AV_T_LONG && fabs(d) > AV_JSON_MAX_EXACT)
                        return av_err_set(e,
                                          "%.17g is beyond ±2^53, which JSON numbers cannot hold "
                                          "exactly",
                                          d);
                if (v)
                        rc = n->type == AV_T_INT ? avro_value_set_int(v, (int32_t)d)
                                                 : avro_value_set_long(v, (int64_t)d);
                return av_err_avro(e, rc);
        case AV_T_FLOAT:
        case AV_T_DOUBLE:
                if (!cJSON_IsNumber(j) || !isfinite(d))
                        return av_err_set(e, "expected %s, got %s", want, av_json_kind(j));
                if (n->type == AV_T_FLOAT && fabs(d) > FLT_MAX)
                        return av_err_set(e, "%.17g is out of range for float", d);
                if (v)
                        rc = n->type == AV_T_FLOAT ? avro_value_set_float(v, (float)d)
                                                   : avro_value_set_double(v, d);
                return av_err_avro(e, rc);
        case AV_T_STRING:
                if (!cJSON_IsString(j))
                        return av_err_set(e, "expected string, got %s", av_json_kind(j));
                if (!valid_utf8(j->valuestring))
                        return av_err_set(e, "string is not valid UTF-8");
                if (v)
                        rc = avro_value_set_string_len(v, j->valuestring,
                                                       strlen(j->valuestring) + 1);
                return av_err_avro(e, rc);
        case AV_T_BYTES:
        case AV_T_FIXED:
                if (!cJSON_IsString(j))
                        return av_err_set(e, "expected %s (a string), got %s", want,
                                          av_json_kind(j));
                return set_latin1(n, j, v, e);
        case AV_T_ENUM: {
                int i = cJSON_IsString(j) ? find_symbol(n, j->valuestring) : -1;
                if (!cJSON_IsString(j))
                        return av_err_set(e, "expected enum %s (a string), got %s", want,
                                          av_json_kind(j));
                if (i < 0)
                        return av_err_set(e, "\"%.60s\" is not a symbol of enum %s", j->valuestring,
                                          want);
                return v ? av_err_avro(e, avro_value_set_enum(v, i)) : 0;
        }
        case AV_T_RECORD:
                if (!cJSON_IsObject(j))
                        return av_err_set(e, "expected record %s (an object), got %s", want,
                                          av_json_kind(j));
                return convert_record(n, j, v, e, depth);
        case AV_T_ARRAY:
        case AV_T_MAP:
                return convert_items(n, j, v, e, depth);
        case AV_T_UNION:
                return convert_union(n, j, v, e, depth);
        }
        return av_err_set(e, "unknown type");
}

int av_json_to_value(const av_schema_t *schema, const cJSON *json, avro_value_t *value,
                     char *errstr, size_t errstr_size) {
        av_err_t e;
        if (av_json_node(schema->root, json, value, &e, 0) == -1) {
                av_err_format(&e, errstr, errstr_size);
                return -1;
        }
        return 0;
}

long av_json_find_nul(const char *text, size_t len) {
        /* In valid JSON a backslash only ever starts an escape inside a
         * string, so skipping each escape's second character is enough to
         * tell "\u0000" from "\\u0000". */
        const char *p = text, *end = text + len;
        while ((p = memchr(p, '\\', (size_t)(end - p))) && end - p >= 2) {
                if (end - p >= 6 && !memcmp(p, "\\u0000", 6))
                        return (long)(p - text);
                p += 2;
        }
        return -1;
}

long av_utf8_invalid(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *)s;
        size_t left = len, n;
        long cp;
        for (; left; p += n, left -= n)
                if (!(n = av_utf8_decode(p, left, &cp)))
                        return (long)(len - left);
        return -1;
}

int av_json_depth_before(const char *t, size_t off) {
        int depth = 0, max = 0, in_str = 0;
        for (size_t i = 0; i < off; i++) {
                if (in_str) {
                        if (t[i] == '\\')
                                i++;
                        else if (t[i] == '"')
                                in_str = 0;
                } else if (t[i] == '"') {
                        in_str = 1;
                } else if (t[i] == '[' || t[i] == '{') {
                        if (++depth > max)
                                max = depth;
                } else if (t[i] == ']' || t[i] == '}') {
                        depth--;
                }
        }
        return max;
}

int av_json_text_to_value(const av_schema_t *schema, const char *text, size_t len,
                          avro_value_t *value, char *errstr, size_t errstr_size) {
        long nul = av_json_find_nul(text, len);
        if (nul >= 0) {
                snprintf(errstr, errstr_size,
                         "\\u0000 at offset %ld is not supported (the JSON parser would cut the "
                         "string there)",
                         nul);
                return -1;
        }
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
        if (doc)
                while (end < text + len &&
                       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
                        end++;
        if (!doc || end != text + len) {
                size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
                snprintf(errstr, errstr_size, "%s at offset %zu",
                         doc ? "text after the JSON document"
                         : av_json_depth_before(text, off) >= CJSON_NESTING_LIMIT
                                 ? "JSON nests deeper than 1000 levels"
                                 : "invalid JSON",
                         off);
                cJSON_Delete(doc);
                return -1;
        }
        int rc = av_json_to_value(schema, doc, value, errstr, errstr_size);
        cJSON_Delete(doc);
        return rc;
}
