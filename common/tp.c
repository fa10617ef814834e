/* tp — traceparent parsing and generation.  See tp.h. */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clk.h"
#include "tp.h"

static int tp_nib(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1; /* upper case is invalid too (W3C: lower-case hex) */
}

/* s[0..2n) lower-case hex into out[0..n) (out may be NULL: check only).
 * Returns 0 or -1; *all_zero (may be NULL) set when every digit is 0. */
static int tp_unhex(const char *s, size_t n, uint8_t *out, int *all_zero) {
        int z = 1;
        for (size_t i = 0; i < n; i++) {
                int hi = tp_nib(s[2 * i]), lo = tp_nib(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -1;
                if (hi | lo)
                        z = 0;
                if (out)
                        out[i] = (uint8_t)(hi << 4 | lo);
        }
        if (all_zero)
                *all_zero = z;
        return 0;
}

int tp_parse(const char *s, size_t len, tp_ctx_t *out) {
        if (!s || len < TP_LEN || len > 512 || s[2] != '-' || s[35] != '-' || s[52] != '-')
                return -1;
        uint8_t ver, fl;
        int z;
        if (tp_unhex(s, 1, &ver, NULL) || ver == 0xff)
                return -1;
        if (ver == 0 ? len != TP_LEN : (len > TP_LEN && s[55] != '-'))
                return -1;
        tp_ctx_t c;
        if (tp_unhex(s + 3, 16, c.trace_id, &z) || z)
                return -1;
        if (tp_unhex(s + 36, 8, c.span_id, &z) || z)
                return -1;
        if (tp_unhex(s + 53, 1, &fl, NULL))
                return -1;
        c.flags = fl;
        if (out)
                *out = c;
        return 0;
}

void tp_hex(const uint8_t *p, size_t n, char *out) {
        static const char hx[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hx[p[i] >> 4];
                out[2 * i + 1] = hx[p[i] & 15];
        }
}

void tp_format(const tp_ctx_t *c, char out[TP_LEN + 1]) {
        memcpy(out, "00-", 3);
        tp_hex(c->trace_id, 16, out + 3);
        out[35] = '-';
        tp_hex(c->span_id, 8, out + 36);
        out[52] = '-';
        tp_hex(&c->flags, 1, out + 53);
        out[TP_LEN] = '\0';
}

void tp_random(void *p, size_t n) {
        unsigned char *b = p;
        size_t got = 0;
        while (got < n) {
                ssize_t r = getrandom(b + got, n - got, 0);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        if (got < n) { /* no entropy source: still unique enough for tracing */
                uint64_t x = (uint64_t)clk_wall_ns() ^ (uintptr_t)p;
                for (size_t i = got; i < n; i++) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        b[i] = (unsigned char)(x >> 56);
                }
        }
}

void tp_new_span_id(uint8_t out[8]) {
        tp_random(out, 8);
        out[0] |= 1; /* never all zero */
}

void tp_new_trace(tp_ctx_t *c, uint8_t flags) {
        tp_random(c->trace_id, 16);
        c->trace_id[0] |= 1;
        tp_new_span_id(c->span_id);
        c->flags = flags;
}
