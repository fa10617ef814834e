/* spec_json — typed, path-aware getters over cJSON for the pipeline spec
 * loader.  See spec_int.h.  Every message says where ($.a.b[2].c), what
 * was expected and what was found, because the reader is fixing a
 * ConfigMap, not reading our code. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "spec_int.h"

/* ------------------------------------------------------------ path, errors */

static int spec_is_ident(const char *s) {
        if (!*s || isdigit((unsigned char)*s))
                return 0;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '_')
                        return 0;
        return 1;
}

static void spec_path_append(spec_ctx_t *c, const char *s) {
        size_t n = strlen(s);
        if (c->plen + n >= sizeof(c->path))
                n = sizeof(c->path) - 1 - c->plen;
        memcpy(c->path + c->plen, s, n);
        c->plen += n;
        c->path[c->plen] = '\0';
}

size_t spec_push_key(spec_ctx_t *c, const char *key) {
        size_t mark = c->plen;
        char seg[160];
        if (strlen(key) <= 64 && spec_is_ident(key)) {
                snprintf(seg, sizeof(seg), ".%s", key);
        } else {
                /* $["odd key"], escaped like JSON and cut short. */
                char esc[96];
                char cut[65];
                size_t pos = 0;
                size_t n = strnlen(key, sizeof(cut) - 1);
                memcpy(cut, key, n);
                cut[n] = '\0';
                log_json_escape(esc, sizeof(esc), &pos, cut);
                snprintf(seg, sizeof(seg), "[\"%s%s\"]", esc, strlen(key) > 64 ? "..." : "");
        }
        spec_path_append(c, seg);
        return mark;
}

size_t spec_push_idx(spec_ctx_t *c, size_t i) {
        size_t mark = c->plen;
        char seg[32];
        snprintf(seg, sizeof(seg), "[%zu]", i);
        spec_path_append(c, seg);
        return mark;
}

void spec_pop(spec_ctx_t *c, size_t mark) {
        c->plen = mark;
        c->path[mark] = '\0';
}

int spec_fail(spec_ctx_t *c, const char *fmt, ...) {
        if (c->failed)
                return -1;
        c->failed = 1;
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(c->errstr, c->errstr_size, "%s: %s: %s", c->file, c->path, msg);
        return -1;
}

void spec_describe(const cJSON *v, char *buf, size_t size) {
        if (!v) {
                snprintf(buf, size, "nothing");
        } else if (cJSON_IsString(v)) {
                char cut[49], esc[128];
                size_t pos = 0;
                snprintf(cut, sizeof(cut), "%s", v->valuestring);
                log_json_escape(esc, sizeof(esc), &pos, cut);
                snprintf(buf, size, "\"%s%s\"", esc, strlen(v->valuestring) > 48 ? "..." : "");
        } else if (cJSON_IsNumber(v)) {
                double d = v->valuedouble;
                if (d == floor(d) && fabs(d) < 1e15)
                        snprintf(buf, size, "%lld", (long long)d);
                else
                        snprintf(buf, size, "%.15g", d);
        } else if (cJSON_IsTrue(v)) {
                snprintf(buf, size, "true");
        } else if (cJSON_IsFalse(v)) {
                snprintf(buf, size, "false");
        } else if (cJSON_IsNull(v)) {
                snprintf(buf, size, "null");
        } else if (cJSON_IsArray(v)) {
                snprintf(buf, size, "an array");
        } else {
                snprintf(buf, size, "an object");
        }
}

/* "expected <what>, got <v>" */
static int spec_expected(spec_ctx_t *c, const cJSON *v, const char *what) {
        char got[160];
        spec_describe(v, got, sizeof(got));
        return spec_fail(c, "expected %s, got %s", what, got);
}

/* "a, b, c" */
static void spec_join(char *buf, size_t size, const char *const *names) {
        size_t pos = 0;
        buf[0] = '\0';
        for (size_t i = 0; names[i] && pos < size; i++) {
                int n = snprintf(buf + pos, size - pos, "%s%s", i ? ", " : "", names[i]);
                if (n < 0)
                        break;
                pos += (size_t)n;
        }
}

/* Edit distance, capped: close enough to suggest "did you mean". */
static size_t spec_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), row[65];
        if (la > 64 || lb > 64)
                return 99;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

/* ------------------------------------------------------------ structure */

const cJSON *spec_member(const cJSON *obj, const char *key) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
        return m && !cJSON_IsNull(m) ? m : NULL;
}

int spec_object(spec_ctx_t *c, const cJSON *v, const char *const *keys) {
        uint64_t seen = 0;
        if (!cJSON_IsObject(v))
                return spec_expected(c, v, "an object");
        for (const cJSON *m = v->child; m; m = m->next) {
                const char *k = m->string ? m->string : "";
                size_t i = 0;
                while (keys[i] && strcmp(keys[i], k) != 0)
                        i++;
                if (keys[i] && !(seen & (1ull << i))) {
                        seen |= 1ull << i;
                        continue;
                }
                spec_push_key(c, k);
                if (keys[i])
                        return spec_fail(c, "duplicate key");
                const char *best = NULL;
                size_t bestd = 3;
                for (size_t j = 0; keys[j]; j++) {
                        size_t d = spec_distance(k, keys[j]);
                        if (d < bestd) {
                                bestd = d;
                                best = keys[j];
                        }
                }
                if (best && strlen(k) > 2)
                        return spec_fail(c, "unknown key (did you mean \"%s\"?)", best);
                char list[512];
                spec_join(list, sizeof(list), keys);
                return spec_fail(c, "unknown key (expected one of %s)", list);
        }
        return 0;
}

static int spec_missing(spec_ctx_t *c, const char *key) {
        return spec_fail(c, "missing required key \"%s\"", key);
}

int spec_array(spec_ctx_t *c, const cJSON *obj, const char *key, int required, size_t max,
               const char *what, const cJSON **arr) {
        const cJSON *m = spec_member(obj, key);
        *arr = NULL;
        if (!m)
                return required ? spec_missing(c, key) : 0;
        size_t mark = spec_push_key(c, key);
        if (!cJSON_IsArray(m))
                return spec_expected(c, m, "an array");
        int n = cJSON_GetArraySize(m);
        if (n == 0 && required)
                return spec_fail(c, "expected at least one %s", what);
        if ((size_t)n > max)
                return spec_fail(c, "too many %ss (at most %zu)", what, max);
        spec_pop(c, mark);
        *arr = m;
        return 0;
}

/* ------------------------------------------------------------ strings */

static int spec_valid(spec_str_kind_t kind, const char *s) {
        size_t n = strlen(s);
        switch (kind) {
        case SPEC_STR_ANY:
                return 1;
        case SPEC_STR_NAME:
        case SPEC_STR_TOPIC:
                if (n > (kind == SPEC_STR_NAME ? 64u : 249u) ||
                    (kind == SPEC_STR_TOPIC && (!strcmp(s, ".") || !strcmp(s, ".."))))
                        return 0;
                for (const char *p = s; *p; p++)
                        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
                                return 0;
                return 1;
        case SPEC_STR_FIELD:
        case SPEC_STR_ENV:
                return spec_is_ident(s);
        case SPEC_STR_SCHEMA: {
                /* dot-separated Avro names */
                char buf[256];
                if (n >= sizeof(buf) || s[n - 1] == '.')
                        return 0;
                memcpy(buf, s, n + 1);
                char *save = NULL;
                for (char *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save))
                        if (!spec_is_ident(t))
                                return 0;
                return !strstr(s, "..") && s[0] != '.';
        }
        }
        return 0;
}

static const char *const spec_kind_expect[] = {
        "",
        "a name of 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
        "an Avro field name: a letter or '_', then letters, digits or '_'",
        "an Avro full name like \"weir.example.TrafficReading\"",
        "a Kafka topic name of 1 to 249 characters from A-Z, a-z, 0-9, '.', '_' and '-'",
        "an environment variable name: letters, digits and '_', not starting with a digit"};

int spec_string_value(spec_ctx_t *c, const cJSON *v, spec_str_kind_t kind, char **out) {
        if (!cJSON_IsString(v))
                return spec_expected(c, v, "a string");
        if (!*v->valuestring)
                return spec_fail(c, "must not be empty");
        if (!spec_valid(kind, v->valuestring)) {
                char got[160];
                spec_describe(v, got, sizeof(got));
                return spec_fail(c, "invalid value %s (expected %s)", got, spec_kind_expect[kind]);
        }
        *out = strdup(v->valuestring);
        return *out ? 0 : spec_fail(c, "out of memory");
}

int spec_string(spec_ctx_t *c, const cJSON *obj, const char *key, spec_str_kind_t kind,
                int required, const char *def, char **out) {
        const cJSON *m = spec_member(obj, key);
        *out = NULL;
        if (!m) {
                if (def) {
                        *out = strdup(def);
                        return *out ? 0 : spec_fail(c, "out of memory");
                }
                return required ? spec_missing(c, key) : 0;
        }
        size_t mark = spec_push_key(c, key);
        if (spec_string_value(c, m, kind, out) == -1)
                return -1;
        spec_pop(c, mark);
        return 0;
}

/* ------------------------------------------------------------ scalars */

int spec_int(spec_ctx_t *c, const cJSON *obj, const char *key, int64_t def, int64_t min,
             int64_t max, int64_t *out) {
        const cJSON *m = spec_member(obj, key);
        if (!m) {
                *out = def;
                return 0;
        }
        size_t mark = spec_push_key(c, key);
        double d = cJSON_IsNumber(m) ? m->valuedouble : NAN;
        if (!(d >= (double)min && d <= (double)max) || d != floor(d)) {
                char what[96];
                snprintf(what, sizeof(what), "an integer in %lld..%lld", (long long)min,
                         (long long)max);
                return spec_expected(c, m, what);
        }
        spec_pop(c, mark);
        *out = (int64_t)d;
        return 0;
}

int spec_number(spec_ctx_t *c, const cJSON *obj, const char *key, double def, double min,
                double max, double *out) {
        const cJSON *m = spec_member(obj, key);
        if (!m) {
                *out = def;
                return 0;
        }
        size_t mark = spec_push_key(c, key);
        double d = cJSON_IsNumber(m) ? m->valuedouble : NAN;
        if (!(d > min && d <= max)) {
                char what[96];
                snprintf(what, sizeof(what), "a number greater than %g and at most %g", min, max);
                return spec_expected(c, m, what);
        }
        spec_pop(c, mark);
        *out = d;
        return 0;
}

int spec_bool(spec_ctx_t *c, const cJSON *obj, const char *key, int def, int *out) {
        const cJSON *m = spec_member(obj, key);
        if (!m) {
                *out = def;
                return 0;
        }
        size_t mark = spec_push_key(c, key);
        if (!cJSON_IsBool(m))
                return spec_expected(c, m, "true or false");
        spec_pop(c, mark);
        *out = cJSON_IsTrue(m);
        return 0;
}

static void spec_fmt_duration(char *buf, size_t size, int64_t ms) {
        static const struct {
                const char *u;
                int64_t m;
        } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
        for (size_t i = 0; i < 5; i++)
                if (ms != 0 && ms % units[i].m == 0) {
                        snprintf(buf, size, "%lld%s", (long long)(ms / units[i].m), units[i].u);
                        return;
                }
        snprintf(buf, size, "%lldms", (long long)ms);
}

int spec_duration(spec_ctx_t *c, const cJSON *obj, const char *key, int64_t def, int64_t min,
                  int64_t *out) {
        const cJSON *m = spec_member(obj, key);
        if (!m) {
                if (def < 0)
                        return spec_missing(c, key);
                *out = def;
                return 0;
        }
        size_t mark = spec_push_key(c, key);
        const char *s = cJSON_IsString(m) ? m->valuestring : NULL;
        size_t n = s ? strlen(s) : 0;
        int64_t ms;
        /* A unit is required: in a file, "60" is too easily seconds. */
        if (!s || !n || !isalpha((unsigned char)s[n - 1]) || cfg_parse_duration_ms(s, &ms) == -1)
                return spec_expected(c, m, "a duration like \"60s\"");
        char lim[32], got[160];
        spec_describe(m, got, sizeof(got));
        if (ms < min) {
                spec_fmt_duration(lim, sizeof(lim), min);
                return spec_fail(c, "must be at least %s, got %s", lim, got);
        }
        if (ms > SPEC_MAX_DURATION_MS) {
                spec_fmt_duration(lim, sizeof(lim), SPEC_MAX_DURATION_MS);
                return spec_fail(c, "must be at most %s, got %s", lim, got);
        }
        spec_pop(c, mark);
        *out = ms;
        return 0;
}

int spec_enum_value(spec_ctx_t *c, const cJSON *v, const char *noun, const char *const *names,
                    int *out) {
        char list[512];
        spec_join(list, sizeof(list), names);
        if (!cJSON_IsString(v)) {
                char what[540];
                snprintf(what, sizeof(what), "one of %s", list);
                return spec_expected(c, v, what);
        }
        for (int i = 0; names[i]; i++)
                if (!strcmp(names[i], v->valuestring)) {
                        *out = i;
                        return 0;
                }
        char got[160];
        spec_describe(v, got, sizeof(got));
        return spec_fail(c, "unknown %s %s (expected one of %s)", noun, got, list);
}

int spec_enum(spec_ctx_t *c, const cJSON *obj, const char *key, const char *noun,
              const char *const *names, int def, int *out) {
        const cJSON *m = spec_member(obj, key);
        if (!m) {
                if (def < 0)
                        return spec_missing(c, key);
                *out = def;
                return 0;
        }
        size_t mark = spec_push_key(c, key);
        if (spec_enum_value(c, m, noun, names, out) == -1)
                return -1;
        spec_pop(c, mark);
        return 0;
}

/* ------------------------------------------------------------ collections */

void spec_strv_free(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

void spec_kv_free(spec_kv_t *kv, size_t n) {
        for (size_t i = 0; kv && i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

int spec_string_list(spec_ctx_t *c, const cJSON *obj, const char *key, spec_str_kind_t kind,
                     size_t max, const char *what, char ***out, size_t *n) {
        const cJSON *arr;
        *out = NULL;
        *n = 0;
        if (spec_array(c, obj, key, 0, max, what, &arr) == -1 || !arr)
                return c->failed ? -1 : 0;
        size_t mark = spec_push_key(c, key);
        size_t cnt = (size_t)cJSON_GetArraySize(arr);
        if (cnt == 0)
                return spec_fail(c, "expected at least one %s (leave the key out for the default)",
                                 what);
        char **v = calloc(cnt, sizeof(*v));
        if (!v)
                return spec_fail(c, "out of memory");
        *out = v;
        size_t i = 0;
        for (const cJSON *e = arr->child; e; e = e->next, i++) {
                size_t m2 = spec_push_idx(c, i);
                if (spec_string_value(c, e, kind, &v[i]) == -1)
                        return -1;
                *n = i + 1;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(v[j], v[i]))
                                return spec_fail(c, "duplicate %s \"%s\"", what, v[i]);
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}

int spec_string_map(spec_ctx_t *c, const cJSON *obj, const char *key, size_t max, spec_kv_t **out,
                    size_t *n) {
        const cJSON *m = spec_member(obj, key);
        *out = NULL;
        *n = 0;
        if (!m)
                return 0;
        size_t mark = spec_push_key(c, key);
        if (!cJSON_IsObject(m))
                return spec_expected(c, m, "an object of strings");
        size_t cnt = (size_t)cJSON_GetArraySize(m);
        if (cnt > max)
                return spec_fail(c, "too many entries (at most %zu)", max);
        spec_kv_t *kv = cnt ? calloc(cnt, sizeof(*kv)) : NULL;
        if (cnt && !kv)
                return spec_fail(c, "out of memory");
        *out = kv;
        size_t i = 0;
        for (const cJSON *e = m->child; e; e = e->next, i++) {
                const char *k = e->string ? e->string : "";
                size_t m2 = spec_push_key(c, k);
                if (!*k)
                        return spec_fail(c, "empty key");
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(kv[j].key, k))
                                return spec_fail(c, "duplicate key");
                if (!cJSON_IsString(e))
                        return spec_expected(c, e, "a string");
                kv[i].key = strdup(k);
                kv[i].value = strdup(e->valuestring);
                *n = i + 1;
                if (!kv[i].key || !kv[i].value)
                        return spec_fail(c, "out of memory");
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}

const char *spec_peek(const cJSON *root, const char *a, const char *b, const char *c) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, a);
        v = v ? cJSON_GetObjectItemCaseSensitive(v, b) : NULL;
        v = v ? cJSON_GetObjectItemCaseSensitive(v, c) : NULL;
        return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

int spec_distinct_topic(spec_ctx_t *c, const char *topic, const char *const *others,
                        const char *const *other_paths) {
        for (size_t i = 0; others[i]; i++)
                if (!strcmp(topic, others[i]))
                        return spec_fail(c, "topic \"%s\" is already used by %s", topic,
                                         other_paths[i]);
        return 0;
}

int spec_topics(spec_ctx_t *c, const cJSON *parent, const char *key, const char *const *keys,
                const char *const *defs, char **const *out, const char **others, const char **paths,
                char (*pathbuf)[64], size_t nothers) {
        const cJSON *o = spec_member(parent, key);
        size_t mark = spec_push_key(c, key);
        if (o && spec_object(c, o, keys) == -1)
                return -1;
        for (size_t i = 0; keys[i]; i++, nothers++) {
                if (spec_string(c, o, keys[i], SPEC_STR_TOPIC, 0, defs[i], out[i]) == -1)
                        return -1;
                size_t m2 = spec_push_key(c, keys[i]);
                others[nothers] = NULL;
                if (spec_distinct_topic(c, *out[i], others, paths) == -1)
                        return -1;
                snprintf(pathbuf[nothers], 64, "%.63s", c->path);
                others[nothers] = *out[i];
                paths[nothers] = pathbuf[nothers];
                spec_pop(c, m2);
        }
        spec_pop(c, mark);
        return 0;
}
