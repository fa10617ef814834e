/* ig_auth — bearer tokens from a file, compared in constant time.  See
 * ig_auth.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ig_auth.h"
#include "vec.h"

struct ig_auth_s {
        size_t n;
        /* Each token zero-padded to IG_AUTH_TOKEN_MAX bytes, with its length. */
        struct {
                unsigned char b[IG_AUTH_TOKEN_MAX];
                size_t len;
        } * tok;
};

ig_auth_t *ig_auth_parse(const char *text, size_t len, const char *origin, char *errstr,
                         size_t errstr_size) {
        ig_auth_t *a = calloc(1, sizeof(*a));
        if (!a) {
                snprintf(errstr, errstr_size, "%s: out of memory", origin);
                return NULL;
        }
        size_t cap = 0, lineno = 0;
        const char *p = text, *end = text + len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end;
                lineno++;
                const char *s = p, *e = le;
                while (s < e && isspace((unsigned char)*s))
                        s++;
                while (e > s && isspace((unsigned char)e[-1]))
                        e--;
                p = nl ? nl + 1 : end;
                if (s == e || *s == '#')
                        continue;
                size_t tl = (size_t)(e - s);
                if (tl > IG_AUTH_TOKEN_MAX) {
                        snprintf(errstr, errstr_size, "%s: line %zu: token longer than %d bytes",
                                 origin, lineno, IG_AUTH_TOKEN_MAX);
                        goto fail;
                }
                for (size_t i = 0; i < tl; i++) {
                        unsigned char c = (unsigned char)s[i];
                        if (c < 0x21 || c == 0x7f) {
                                snprintf(errstr, errstr_size,
                                         "%s: line %zu: token holds whitespace or a control "
                                         "character",
                                         origin, lineno);
                                goto fail;
                        }
                }
                if (VEC_RESERVE(a->tok, cap, a->n + 1) == -1) {
                        snprintf(errstr, errstr_size, "%s: out of memory", origin);
                        goto fail;
                }
                memset(a->tok[a->n].b, 0, IG_AUTH_TOKEN_MAX);
                memcpy(a->tok[a->n].b, s, tl);
                a->tok[a->n].len = tl;
                a->n++;
        }
        if (a->n == 0) {
                snprintf(errstr, errstr_size, "%s: no tokens", origin);
                goto fail;
        }
        return a;
fail:
        ig_auth_destroy(a);
        return NULL;
}

ig_auth_t *ig_auth_load(const char *path, char *errstr, size_t errstr_size) {
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(errstr, errstr_size, "INGRESS_TOKENS_FILE=\"%s\": %s", path,
                         strerror(errno));
                return NULL;
        }
        char *text = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (VEC_RESERVE(text, cap, len + 4096) == -1) {
                        free(text);
                        fclose(f);
                        snprintf(errstr, errstr_size, "%s: out of memory", path);
                        return NULL;
                }
                size_t r = fread(text + len, 1, cap - len, f);
                len += r;
                if (r == 0)
                        break;
        }
        int bad = ferror(f);
        fclose(f);
        if (bad) {
                free(text);
                snprintf(errstr, errstr_size, "INGRESS_TOKENS_FILE=\"%s\": read error", path);
                return NULL;
        }
        char origin[300];
        snprintf(origin, sizeof(origin), "INGRESS_TOKENS_FILE=\"%s\"", path);
        ig_auth_t *a = ig_auth_parse(text ? text : "", len, origin, errstr, errstr_size);
        if (text) {
                memset(text, 0, len); /* tokens are secrets */
                free(text);
        }
        return a;
}

void ig_auth_destroy(ig_auth_t *a) {
        if (!a)
                return;
        if (a->tok) {
                memset(a->tok, 0, a->n * sizeof(*a->tok));
                free(a->tok);
        }
        free(a);
}

size_t ig_auth_count(const ig_auth_t *a) {
        return a ? a->n : 0;
}

int ig_auth_check(const ig_auth_t *a, const char *authorization) {
        if (!a || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return 0;
        const char *t = authorization + 7;
        while (*t == ' ')
                t++;
        size_t tl = strnlen(t, IG_AUTH_TOKEN_MAX + 1);
        while (tl > 0 && t[tl - 1] == ' ')
                tl--;
        if (tl == 0 || tl > IG_AUTH_TOKEN_MAX)
                return 0;
        unsigned char given[IG_AUTH_TOKEN_MAX] = {0};
        memcpy(given, t, tl);
        /* volatile: keep the compiler from turning the loops into an early exit. */
        volatile unsigned match = 0;
        for (size_t k = 0; k < a->n; k++) {
                unsigned diff = (unsigned)(a->tok[k].len ^ tl);
                for (size_t i = 0; i < IG_AUTH_TOKEN_MAX; i++)
                        diff |= (unsigned)(a->tok[k].b[i] ^ given[i]);
                /* diff == 0 → 1, else 0, without a branch */
                match |= 1u & ((diff - 1u) >> (sizeof(unsigned) * 8 - 1));
        }
        memset(given, 0, sizeof(given));
        return match ? 1 : 0;
}
