/* ws_filter — parsing and matching a WebSocket client's subscription (see
 * ws_filter.h), and the small JSON string writer the feed's frames use. */
#include "ws_filter.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const sev_names[] = {"INFO", "WARNING", "CRITICAL"};
#define NSEV 3

int ws_severity(const char *s) {
        if (!s)
                return -1;
        for (int i = 0; i < NSEV; i++)
                if (strcasecmp(s, sev_names[i]) == 0)
                        return i;
        return -1;
}

static int str_cmp(const void *a, const void *b) {
        const ws_str_t *x = a, *y = b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->p, y->p, n);
        if (c)
                return c;
        return (x->len > y->len) - (x->len < y->len);
}

static void list_free(ws_str_t *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i].p);
        free(l);
}

void ws_filter_free(ws_filter_t *f) {
        list_free(f->topics, f->ntopics);
        list_free(f->keys, f->nkeys);
        list_free(f->kinds, f->nkinds);
        memset(f, 0, sizeof(*f));
}

/* A JSON array of strings at `path` → a sorted list (duplicates kept: they
 * do no harm to a binary search). */
static int parse_list(const cJSON *arr, const char *path, ws_str_t **out, size_t *nout,
                      char *errstr, size_t errstr_size) {
        if (!cJSON_IsArray(arr)) {
                snprintf(errstr, errstr_size, "%s: expected an array of strings", path);
                return -1;
        }
        int n = cJSON_GetArraySize(arr);
        if (n > WS_FILTER_MAX_ITEMS) {
                snprintf(errstr, errstr_size, "%s: more than %d entries", path,
                         WS_FILTER_MAX_ITEMS);
                return -1;
        }
        ws_str_t *l = n ? calloc((size_t)n, sizeof(*l)) : NULL;
        if (n && !l) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
                if (!cJSON_IsString(it)) {
                        snprintf(errstr, errstr_size, "%s[%d]: expected a string", path, i);
                        list_free(l, (size_t)i);
                        return -1;
                }
                l[i].len = strlen(it->valuestring);
                l[i].p = strdup(it->valuestring);
                if (!l[i].p) {
                        snprintf(errstr, errstr_size, "out of memory");
                        list_free(l, (size_t)i);
                        return -1;
                }
                i++;
        }
        if (n)
                qsort(l, (size_t)n, sizeof(*l), str_cmp);
        *out = l;
        *nout = (size_t)n;
        return 0;
}

static int parse_sub(ws_filter_t *nf, const cJSON *sub, char *errstr, size_t errstr_size) {
        if (!cJSON_IsObject(sub)) {
                snprintf(errstr, errstr_size, "$.subscribe: expected an object");
                return -1;
        }
        int have_sev = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, sub) {
                const char *k = it->string;
                char path[64];
                snprintf(path, sizeof(path), "$.subscribe.%.40s", k);
                int rc = 0;
                if (strcmp(k, "topics") == 0) {
                        rc = parse_list(it, path, &nf->topics, &nf->ntopics, errstr, errstr_size);
                } else if (strcmp(k, "keys") == 0) {
                        rc = parse_list(it, path, &nf->keys, &nf->nkeys, errstr, errstr_size);
                } else if (strcmp(k, "kinds") == 0) {
                        rc = parse_list(it, path, &nf->kinds, &nf->nkinds, errstr, errstr_size);
                } else if (strcmp(k, "severity") == 0 || strcmp(k, "min_severity") == 0) {
                        if (have_sev++) {
                                snprintf(errstr, errstr_size,
                                         "%s: give either severity or min_severity", path);
                                return -1;
                        }
                        if (k[0] == 'm') {
                                int s = cJSON_IsString(it) ? ws_severity(it->valuestring) : -1;
                                if (s < 0) {
                                        snprintf(errstr, errstr_size,
                                                 "%s: expected INFO, WARNING or CRITICAL", path);
                                        return -1;
                                }
                                for (int i = s; i < NSEV; i++)
                                        nf->sev_mask |= 1u << i;
                        } else {
                                if (!cJSON_IsArray(it)) {
                                        snprintf(errstr, errstr_size,
                                                 "%s: expected an array of severities", path);
                                        return -1;
                                }
                                int i = 0;
                                const cJSON *s;
                                cJSON_ArrayForEach(s, it) {
                                        int v = cJSON_IsString(s) ? ws_severity(s->valuestring)
                                                                  : -1;
                                        if (v < 0) {
                                                snprintf(errstr, errstr_size,
                                                         "%s[%d]: expected INFO, WARNING or "
                                                         "CRITICAL",
                                                         path, i);
                                                return -1;
                                        }
                                        nf->sev_mask |= 1u << v;
                                        i++;
                                }
                        }
                } else {
                        snprintf(errstr, errstr_size,
                                 "%s: unknown member (expected topics, keys, kinds, severity or "
                                 "min_severity)",
                                 path);
                        return -1;
                }
                if (rc)
                        return -1;
        }
        return 0;
}

int ws_filter_parse(ws_filter_t *f, const char *text, size_t len, char *errstr,
                    size_t errstr_size) {
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
        if (!doc) {
                size_t off = end && end >= text ? (size_t)(end - text) : 0;
                snprintf(errstr, errstr_size, "not JSON (at offset %zu)", off);
                return -1;
        }
        for (; end && end < text + len; end++) {
                if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
                        snprintf(errstr, errstr_size, "text after the JSON value (offset %zu)",
                                 (size_t)(end - text));
                        cJSON_Delete(doc);
                        return -1;
                }
        }
        int rc = -1;
        ws_filter_t nf;
        memset(&nf, 0, sizeof(nf));
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(doc, "subscribe");
        if (!cJSON_IsObject(doc) || !sub || cJSON_GetArraySize(doc) != 1) {
                snprintf(errstr, errstr_size, "$: expected {\"subscribe\": {...}}");
        } else if (parse_sub(&nf, sub, errstr, errstr_size) == 0) {
                ws_filter_free(f);
                *f = nf;
                memset(&nf, 0, sizeof(nf));
                rc = 0;
        }
        ws_filter_free(&nf);
        cJSON_Delete(doc);
        return rc;
}

static int list_has(const ws_str_t *l, size_t n, const char *s, size_t len) {
        if (!n)
                return 1;
        if (!s)
                return 0;
        ws_str_t k = {(char *)(uintptr_t)s, len};
        return bsearch(&k, l, n, sizeof(*l), str_cmp) != NULL;
}

int ws_filter_match(const ws_filter_t *f, const char *kind, const char *topic, const char *key,
                    size_t key_len, const char *severity) {
        if (!list_has(f->kinds, f->nkinds, kind, kind ? strlen(kind) : 0) ||
            !list_has(f->topics, f->ntopics, topic, topic ? strlen(topic) : 0) ||
            !list_has(f->keys, f->nkeys, key, key_len))
                return 0;
        if (f->sev_mask && severity) {
                int s = ws_severity(severity);
                if (s < 0 || !(f->sev_mask & (1u << s)))
                        return 0;
        }
        return 1;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
        unsigned c = s[0];
        size_t len;
        unsigned min;
        if (c < 0x80)
                return 1;
        if ((c & 0xE0) == 0xC0) {
                len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
                len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
                len = 4, min = 0x10000, c &= 0x07;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return 0;
        return len;
}

int ws_json_str(buf_t *out, const char *s, size_t len) {
        size_t start = out->len;
        if (buf_append(out, "\"", 1))
                return -1;
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
        while (i < len) {
                size_t run = i;
                /* copy the longest run that needs no escaping in one go */
                while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
                       p[run] != '\\')
                        run++;
                if (run > i && buf_append(out, p + i, run - i))
                        goto oom;
                i = run;
                if (i >= len)
                        break;
                unsigned char c = p[i];
                char esc[8];
                if (c == '"' || c == '\\') {
                        esc[0] = '\\', esc[1] = (char)c;
                        if (buf_append(out, esc, 2))
                                goto oom;
                        i++;
                } else if (c < 0x20) {
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        if (buf_append(out, esc, 6))
                                goto oom;
                        i++;
                } else {
                        size_t n = utf8_seq(p + i, len - i);
                        if (n == 0) {
                                if (buf_append(out, "\xEF\xBF\xBD", 3))
                                        goto oom;
                                i++;
                        } else {
                                if (buf_append(out, p + i, n))
                                        goto oom;
                                i += n;
                        }
                }
        }
        if (buf_append(out, "\"", 1))
                goto oom;
        return 0;
oom:
        out->len = start;
        return -1;
}

static int list_json(buf_t *out, const char *name, const ws_str_t *l, size_t n) {
        if (buf_append(out, "\"", 1) || buf_append(out, name, strlen(name)) ||
            buf_append(out, "\":[", 3))
                return -1;
        for (size_t i = 0; i < n; i++)
                if ((i && buf_append(out, ",", 1)) || ws_json_str(out, l[i].p, l[i].len))
                        return -1;
        return buf_append(out, "]", 1);
}

int ws_filter_json(const ws_filter_t *f, buf_t *out) {
        size_t start = out->len;
        if (buf_append(out, "{", 1) || list_json(out, "topics", f->topics, f->ntopics) ||
            buf_append(out, ",", 1) || list_json(out, "keys", f->keys, f->nkeys) ||
            buf_append(out, ",", 1) || list_json(out, "kinds", f->kinds, f->nkinds) ||
            buf_append(out, ",\"severity\":[", 13))
                goto oom;
        int first = 1;
        for (int i = 0; i < NSEV; i++) {
                if (f->sev_mask && !(f->sev_mask & (1u << i)))
                        continue;
                if ((!first && buf_append(out, ",", 1)) || buf_append(out, "\"", 1) ||
                    buf_append(out, sev_names[i], strlen(sev_names[i])) || buf_append(out, "\"", 1))
                        goto oom;
                first = 0;
        }
        if (buf_append(out, "]}", 2))
                goto oom;
        return 0;
oom:
        out->len = start;
        return -1;
}
