/* av_err — error messages with the path to the failing value
 * ("$.readings[3].speed: ..."), collected while the walkers unwind.  See
 * av_int.h. */
#include <stdio.h>

#include "av_int.h"

int av_err_set(av_err_t *e, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        /* Callers pass an av_err_t left uninitialised on purpose (it is
         * large and the success path never touches it); this writes it. */
        // cppcheck-suppress ctuuninitvar
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        e->n = 0;
        return -1;
}

int av_err_avro(av_err_t *e, int rc) {
        return rc ? av_err_set(e, "avro-c: %s (%d)", avro_strerror(), rc) : 0;
}

static int push(av_err_t *e, const char *s, size_t len, size_t index, int key) {
        /* Each nesting level pushes at most one component and walkers stop at
         * AV_MAX_DEPTH, so this only guards against a walker that forgets. */
        if (e->n < (int)(sizeof(e->comp) / sizeof(e->comp[0]))) {
                e->comp[e->n].s = s;
                e->comp[e->n].len = len;
                e->comp[e->n].index = index;
                e->comp[e->n].key = key;
                e->n++;
        }
        return -1;
}

int av_err_field(av_err_t *e, const char *name) {
        return push(e, name, strlen(name), 0, 0);
}

int av_err_index(av_err_t *e, size_t index) {
        return push(e, NULL, 0, index, 0);
}

int av_err_key(av_err_t *e, const char *key, size_t len) {
        return push(e, key, len, 0, 1);
}

/* Appends printf output at *pos, clamping at the end of buf. */
static void put(char *buf, size_t size, size_t *pos, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t size, size_t *pos, const char *fmt, ...) {
        if (*pos + 1 >= size)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                *pos = *pos + (size_t)n < size ? *pos + (size_t)n : size - 1;
}

void av_err_format(const av_err_t *e, char *errstr, size_t errstr_size) {
        size_t pos = 0;
        if (!errstr || errstr_size == 0)
                return;
        errstr[0] = '\0';
        put(errstr, errstr_size, &pos, "$");
        for (int i = e->n - 1; i >= 0; i--) {
                const char *s = e->comp[i].s;
                size_t len = e->comp[i].len;
                if (!s) {
                        put(errstr, errstr_size, &pos, "[%zu]", e->comp[i].index);
                } else if (!e->comp[i].key || (len <= 64 && av_valid_name(s, len))) {
                        put(errstr, errstr_size, &pos, ".%.*s", (int)len, s);
                } else {
                        /* A map key comes from the input: show at most 40
                         * bytes, with anything unprintable escaped. */
                        put(errstr, errstr_size, &pos, "[\"");
                        for (size_t k = 0; k < len && k < 40; k++) {
                                unsigned char c = (unsigned char)s[k];
                                if (c == '"' || c == '\\')
                                        put(errstr, errstr_size, &pos, "\\%c", c);
                                else if (c < 0x20 || c >= 0x7f)
                                        put(errstr, errstr_size, &pos, "\\x%02x", c);
                                else
                                        put(errstr, errstr_size, &pos, "%c", c);
                        }
                        put(errstr, errstr_size, &pos, len > 40 ? "...\"]" : "\"]");
                }
        }
        put(errstr, errstr_size, &pos, ": %s", e->msg);
}
