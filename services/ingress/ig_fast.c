/* ig_fast — single-pass JSON → Avro binary for flat records.  See
 * ig_fast.h for what it takes and why it gives up on everything else. */
#include <cjson/cJSON.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig_fast.h"

#define IG_FAST_MAX_FIELDS 64

typedef enum { F_NULL, F_BOOL, F_INT, F_LONG, F_FLOAT, F_DOUBLE, F_STRING } ig_ftype_t;

typedef struct ig_ffield_s {
        char *name;
        size_t name_len;
        ig_ftype_t type;
        int nullable;     /* union of null and `type` */
        int null_branch;  /* its branch index for null (0 or 1) */
        int default_null; /* may be missing: default null, the first branch */
} ig_ffield_t;

struct ig_fast_s {
        ig_ffield_t f[IG_FAST_MAX_FIELDS];
        size_t n;
        int key_field; /* index, or -1 */
        unsigned char head[10];
        size_t head_len;
};

static int ig_ftype(avro_schema_t s, ig_ftype_t *t) {
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                *t = F_NULL;
                return 0;
        case AVRO_BOOLEAN:
                *t = F_BOOL;
                return 0;
        case AVRO_INT32:
                *t = F_INT;
                return 0;
        case AVRO_INT64:
                *t = F_LONG;
                return 0;
        case AVRO_FLOAT:
                *t = F_FLOAT;
                return 0;
        case AVRO_DOUBLE:
                *t = F_DOUBLE;
                return 0;
        case AVRO_STRING:
                *t = F_STRING;
                return 0;
        default:
                return -1;
        }
}

ig_fast_t *ig_fast_compile(const ig_topic_t *t) {
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        (void)t;
        return NULL; /* floats are copied in host order: little-endian only */
#endif
        avro_schema_t s = av_schema_avro(t->schema);
        if (!is_avro_record(s) || avro_schema_record_size(s) > IG_FAST_MAX_FIELDS)
                return NULL;
        ig_fast_t *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        f->key_field = -1;
        f->n = avro_schema_record_size(s);
        for (size_t i = 0; i < f->n; i++) {
                ig_ffield_t *fl = &f->f[i];
                avro_schema_t fs = avro_schema_record_field_get_by_index(s, (int)i);
                const char *name = avro_schema_record_field_name(s, (int)i);
                fl->name = strdup(name ? name : "");
                fl->name_len = strlen(fl->name);
                if (is_avro_union(fs)) {
                        if (avro_schema_union_size(fs) != 2)
                                goto no;
                        ig_ftype_t a, c;
                        if (ig_ftype(avro_schema_union_branch(fs, 0), &a) ||
                            ig_ftype(avro_schema_union_branch(fs, 1), &c))
                                goto no;
                        if ((a == F_NULL) == (c == F_NULL))
                                goto no;
                        fl->nullable = 1;
                        fl->null_branch = a == F_NULL ? 0 : 1;
                        fl->type = a == F_NULL ? c : a;
                } else if (ig_ftype(fs, &fl->type) || fl->type == F_NULL) {
                        goto no;
                }
                if (t->key_field && strcmp(fl->name, t->key_field) == 0)
                        f->key_field = (int)i;
        }
        /* defaults are not in avro-c's schema: read them from the text */
        cJSON *doc = cJSON_Parse(av_schema_text(t->schema));
        const cJSON *fields = cJSON_GetObjectItemCaseSensitive(doc, "fields");
        for (size_t i = 0; i < f->n; i++) {
                const cJSON *fj = cJSON_GetArrayItem(fields, (int)i);
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(fj, "name");
                const cJSON *def = cJSON_GetObjectItemCaseSensitive(fj, "default");
                if (cJSON_IsString(name) && strcmp(name->valuestring, f->f[i].name) == 0 &&
                    cJSON_IsNull(def) && f->f[i].nullable && f->f[i].null_branch == 0)
                        f->f[i].default_null = 1;
        }
        cJSON_Delete(doc);
        if (t->wire == AV_WIRE_SINGLE_OBJECT) {
                uint64_t fp = av_schema_fingerprint(t->schema);
                f->head[0] = 0xC3;
                f->head[1] = 0x01;
                for (int i = 0; i < 8; i++)
                        f->head[2 + i] = (unsigned char)(fp >> (8 * i));
                f->head_len = 10;
        } else {
                uint32_t id = (uint32_t)t->schema_id;
                f->head[0] = 0;
                for (int i = 0; i < 4; i++)
                        f->head[1 + i] = (unsigned char)(id >> (24 - 8 * i));
                f->head_len = 5;
        }
        return f;
no:
        ig_fast_destroy(f);
        return NULL;
}

void ig_fast_destroy(ig_fast_t *f) {
        if (!f)
                return;
        for (size_t i = 0; i < IG_FAST_MAX_FIELDS; i++)
                free(f->f[i].name);
        free(f);
}

/* ------------------------------------------------------------- scanner */

typedef struct {
        const char *p, *end;
} ig_scan_t;

static void ig_ws(ig_scan_t *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
                s->p++;
}

static int ig_lit(ig_scan_t *s, char c) {
        ig_ws(s);
        if (s->p < s->end && *s->p == c) {
                s->p++;
                return 1;
        }
        return 0;
}

/* A string of printable ASCII without escapes: its span (quotes excluded). */
static int ig_str(ig_scan_t *s, const char **str, size_t *len) {
        ig_ws(s);
        if (s->p >= s->end || *s->p != '"')
                return -1;
        const char *b = ++s->p;
        while (s->p < s->end) {
                unsigned char c = (unsigned char)*s->p;
                if (c == '"') {
                        *str = b;
                        *len = (size_t)(s->p - b);
                        s->p++;
                        return 0;
                }
                if (c == '\\' || c < 0x20 || c >= 0x7f)
                        return -1;
                s->p++;
        }
        return -1;
}

/* A number token: its span; *integer when it is -?[1-9][0-9]{0,14} or 0. */
static int ig_num(ig_scan_t *s, const char **tok, size_t *len, int *integer) {
        ig_ws(s);
        const char *b = s->p;
        while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '-' || *s->p == '+' ||
                                 *s->p == '.' || *s->p == 'e' || *s->p == 'E'))
                s->p++;
        *tok = b;
        *len = (size_t)(s->p - b);
        if (*len == 0 || *len > 40)
                return -1;
        const char *d = b + (*b == '-');
        size_t nd = (size_t)(s->p - d);
        *integer = nd >= 1 && nd <= 15 && (nd == 1 || *d != '0');
        for (const char *q = d; *integer && q < s->p; q++)
                if (*q < '0' || *q > '9')
                        *integer = 0;
        /* a JSON number starts with '-' or a digit */
        return (*b == '-' || (*b >= '0' && *b <= '9')) ? 0 : -1;
}

static int ig_word(ig_scan_t *s, const char *w, size_t n) {
        ig_ws(s);
        if ((size_t)(s->end - s->p) >= n && memcmp(s->p, w, n) == 0) {
                s->p += n;
                return 1;
        }
        return 0;
}

/* ------------------------------------------------------------- encoder */

static void ig_varint(unsigned char **o, int64_t v) {
        uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0); /* zig-zag */
        while (z >= 0x80) {
                *(*o)++ = (unsigned char)(z | 0x80);
                z >>= 7;
        }
        *(*o)++ = (unsigned char)z;
}

/* -?digits[.digits] with at most 15 digits in all: the value is m / 10^k
 * with m < 2^53 and k <= 15, both exact doubles, and IEEE division rounds
 * correctly — the same double strtod() gives, without its cost (Clinger's
 * fast path).  0 with *out set, or -1 for anything else. */
static int ig_simple_decimal(const char *t, size_t len, double *out) {
        static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        const char *p = t, *end = t + len;
        int neg = *p == '-';
        p += neg;
        uint64_t m = 0;
        int digits = 0, frac = -1;
        if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] != '.'))
                return -1;
        for (; p < end; p++) {
                if (*p == '.') {
                        if (frac >= 0 || p + 1 == end)
                                return -1;
                        frac = 0;
                        continue;
                }
                if (*p < '0' || *p > '9' || ++digits > 15)
                        return -1;
                m = m * 10 + (uint64_t)(*p - '0');
                if (frac >= 0)
                        frac++;
        }
        double d = (double)m / p10[frac > 0 ? frac : 0];
        *out = neg ? -d : d;
        return 0;
}

/* The value of one field, encoded at *o (room checked by the caller). */
static int ig_field(ig_scan_t *s, const ig_ffield_t *fl, unsigned char **o,
                    const unsigned char *lim, const char **sv, size_t *sl, int64_t *iv,
                    int *is_null) {
        *is_null = 0;
        if (fl->nullable && ig_word(s, "null", 4)) {
                ig_varint(o, fl->null_branch);
                *is_null = 1;
                return 0;
        }
        if (fl->nullable)
                ig_varint(o, 1 - fl->null_branch);
        const char *tok;
        size_t len;
        int integer;
        char nb[48];
        switch (fl->type) {
        case F_BOOL:
                if (ig_word(s, "true", 4))
                        *(*o)++ = 1;
                else if (ig_word(s, "false", 5))
                        *(*o)++ = 0;
                else
                        return -1;
                return 0;
        case F_INT:
        case F_LONG:
                if (ig_num(s, &tok, &len, &integer) || !integer)
                        return -1;
                { /* at most 15 digits (ig_num): no overflow */
                        int64_t v = 0;
                        for (const char *q = tok + (*tok == '-'); q < tok + len; q++)
                                v = v * 10 + (*q - '0');
                        *iv = *tok == '-' ? -v : v;
                }
                if (fl->type == F_INT && (*iv < INT32_MIN || *iv > INT32_MAX))
                        return -1;
                ig_varint(o, *iv);
                return 0;
        case F_FLOAT:
        case F_DOUBLE: {
                if (ig_num(s, &tok, &len, &integer))
                        return -1;
                double d;
                if (ig_simple_decimal(tok, len, &d) != 0) {
                        memcpy(nb, tok, len);
                        nb[len] = 0;
                        char *e;
                        d = strtod(nb, &e); /* what cJSON does with the token */
                        if (e != nb + len || !isfinite(d))
                                return -1;
                }
                if (fl->type == F_FLOAT) {
                        if (fabs(d) > FLT_MAX)
                                return -1;
                        float fv = (float)d;
                        memcpy(*o, &fv, 4); /* little-endian hosts only (x86, arm64) */
                        *o += 4;
                } else {
                        memcpy(*o, &d, 8);
                        *o += 8;
                }
                return 0;
        }
        case F_STRING:
                if (ig_str(s, sv, sl) || *sl + 10 > (size_t)(lim - *o))
                        return -1;
                ig_varint(o, (int64_t)*sl);
                memcpy(*o, *sv, *sl);
                *o += *sl;
                return 0;
        default:
                return -1;
        }
}

/* One record value {...}: appended framed to b->data; key from the key
 * field unless given.  -1: leave it to the general path. */
/* The key field's value in a record just encoded. */
typedef struct ig_kf_s {
        const char *sv; /* string: its span in the body */
        size_t sl;
        int64_t iv; /* int, long */
        int null;   /* absent or null: no key */
} ig_kf_t;

/* Appends the key from the key field when the request gave none. */
static int ig_key_from_field(const ig_fast_t *f, ig_batch_t *b, ig_rec_t *r, const ig_kf_t *kf) {
        if (r->has_key || f->key_field < 0 || kf->null)
                return 0;
        char num[32];
        const char *k = kf->sv;
        size_t kl = kf->sl;
        ig_ftype_t t = f->f[f->key_field].type;
        if (t == F_INT || t == F_LONG) {
                kl = (size_t)snprintf(num, sizeof(num), "%" PRId64, kf->iv);
                k = num;
        } else if (t != F_STRING) {
                return 0;
        }
        r->key_off = b->data.len;
        r->key_len = kl;
        if (buf_append(&b->data, k, kl) != 0)
                return -1;
        r->has_key = 1;
        return 0;
}

static int ig_value(const ig_fast_t *f, ig_scan_t *s, ig_batch_t *b, ig_rec_t *r, ig_kf_t *kf) {
        /* fields are encoded into tmp (any order), then copied in schema
         * order after the framing: reserve for the largest outcome */
        if (buf_reserve(&b->data, f->head_len + 4096 + 32) != 0)
                return -1;
        unsigned char *start = (unsigned char *)b->data.data + b->data.len;
        if (!ig_lit(s, '{'))
                return -1;
        /* fields may come in any order: encode each into its own slot span */
        unsigned char tmp[4096];
        size_t off[IG_FAST_MAX_FIELDS], flen[IG_FAST_MAX_FIELDS];
        uint64_t seen = 0;
        size_t used = 0, nseen = 0;
        size_t next = 0; /* fields usually come in schema order: try that first */
        kf->sv = NULL;
        kf->sl = 0;
        kf->iv = 0;
        kf->null = 1;
        if (!ig_lit(s, '}')) {
                do {
                        const char *name;
                        size_t nl;
                        if (ig_str(s, &name, &nl) || !ig_lit(s, ':'))
                                return -1;
                        size_t i = next;
                        if (i >= f->n || f->f[i].name_len != nl ||
                            memcmp(f->f[i].name, name, nl) != 0)
                                for (i = 0; i < f->n; i++)
                                        if (f->f[i].name_len == nl &&
                                            memcmp(f->f[i].name, name, nl) == 0)
                                                break;
                        next = i + 1;
                        if (i == f->n || (seen >> i & 1))
                                return -1;
                        seen |= 1ULL << i;
                        nseen++;
                        const char *sv = NULL;
                        size_t sl = 0;
                        int64_t iv = 0;
                        int isnull;
                        if (used + 16 > sizeof(tmp)) /* room for any non-string field */
                                return -1;
                        unsigned char *o = tmp + used;
                        if (ig_field(s, &f->f[i], &o, tmp + sizeof(tmp), &sv, &sl, &iv, &isnull))
                                return -1;
                        off[i] = used;
                        flen[i] = (size_t)(o - (tmp + used));
                        used += flen[i];
                        if ((int)i == f->key_field) {
                                kf->sv = sv;
                                kf->sl = sl;
                                kf->iv = iv;
                                kf->null = isnull;
                        }
                } while (ig_lit(s, ','));
                if (!ig_lit(s, '}'))
                        return -1;
        }
        if (nseen != f->n) { /* missing: null when that is the default, else general path */
                for (size_t i = 0; i < f->n; i++) {
                        if (seen >> i & 1)
                                continue;
                        if (!f->f[i].default_null || used >= sizeof(tmp))
                                return -1;
                        tmp[used] = 0; /* union branch 0: null */
                        off[i] = used++;
                        flen[i] = 1;
                }
        }
        unsigned char *o = start;
        memcpy(o, f->head, f->head_len);
        o += f->head_len;
        for (size_t i = 0; i < f->n; i++) {
                memcpy(o, tmp + off[i], flen[i]);
                o += flen[i];
        }
        r->val_off = b->data.len;
        r->val_len = (size_t)(o - start);
        b->data.len += r->val_len;
        return 0;
}

/* {"value":{..},"key":"..","partition":n} in any order, nothing else. */
static int ig_item(const ig_fast_t *f, ig_scan_t *s, ig_batch_t *b) {
        ig_rec_t *r = ig_rec_add(b);
        if (!r || !ig_lit(s, '{'))
                return -1;
        int got_value = 0, got_key = 0, got_part = 0;
        ig_kf_t kf = {NULL, 0, 0, 1};
        do {
                const char *name;
                size_t nl;
                if (ig_str(s, &name, &nl) || !ig_lit(s, ':'))
                        return -1;
                if (nl == 5 && memcmp(name, "value", 5) == 0 && !got_value) {
                        got_value = 1;
                        if (ig_value(f, s, b, r, &kf) != 0)
                                return -1;
                } else if (nl == 3 && memcmp(name, "key", 3) == 0 && !got_key) {
                        got_key = 1;
                        if (ig_word(s, "null", 4))
                                continue;
                        const char *k;
                        size_t kl;
                        if (ig_str(s, &k, &kl))
                                return -1;
                        r->key_off = b->data.len;
                        r->key_len = kl;
                        if (buf_append(&b->data, k, kl) != 0)
                                return -1;
                        r->has_key = 1;
                } else if (nl == 9 && memcmp(name, "partition", 9) == 0 && !got_part) {
                        got_part = 1;
                        if (ig_word(s, "null", 4))
                                continue;
                        const char *tok;
                        size_t tl;
                        int integer;
                        if (ig_num(s, &tok, &tl, &integer) || !integer || *tok == '-' || tl > 9)
                                return -1;
                        r->partition = (int32_t)strtol(tok, NULL, 10);
                } else {
                        return -1;
                }
        } while (ig_lit(s, ','));
        if (!ig_lit(s, '}') || !got_value)
                return -1;
        /* an explicit key, wherever it came in the object, wins */
        return ig_key_from_field(f, b, r, &kf);
}

int ig_fast_parse(const ig_fast_t *f, ig_batch_t *b, ig_fmt_t fmt, const char *body, size_t len,
                  size_t max_records) {
        ig_scan_t s = {body, body + len};
        if (!f)
                return -1;
        if (fmt == IG_FMT_NDJSON) {
                while (s.p < s.end) {
                        const char *nl = memchr(s.p, '\n', (size_t)(s.end - s.p));
                        ig_scan_t line = {s.p, nl ? nl : s.end};
                        s.p = nl ? nl + 1 : s.end;
                        while (line.p < line.end &&
                               (*line.p == ' ' || *line.p == '\t' || *line.p == '\r'))
                                line.p++;
                        if (line.p == line.end)
                                continue;
                        if (b->n >= max_records)
                                return -1;
                        ig_rec_t *r = ig_rec_add(b);
                        ig_kf_t kf;
                        if (!r || ig_value(f, &line, b, r, &kf) != 0 ||
                            ig_key_from_field(f, b, r, &kf) != 0)
                                return -1;
                        ig_ws(&line);
                        if (line.p != line.end)
                                return -1;
                }
                return b->n ? 0 : -1;
        }
        if (fmt != IG_FMT_JSON || !ig_lit(&s, '{'))
                return -1;
        const char *name;
        size_t nl;
        if (ig_str(&s, &name, &nl) || nl != 7 || memcmp(name, "records", 7) != 0 ||
            !ig_lit(&s, ':') || !ig_lit(&s, '['))
                return -1;
        do {
                if (b->n >= max_records || ig_item(f, &s, b) != 0)
                        return -1;
        } while (ig_lit(&s, ','));
        if (!ig_lit(&s, ']') || !ig_lit(&s, '}'))
                return -1;
        ig_ws(&s);
        return s.p == s.end ? 0 : -1;
}
