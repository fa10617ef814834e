/* ig_trace — traceparent validation and generation.  See ig_trace.h. */
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ig_trace.h"

static int ig_hex(const char *s, size_t n, int *all_zero) {
        int z = 1;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return 0;
                if (c != '0')
                        z = 0;
        }
        if (all_zero)
                *all_zero = z;
        return 1;
}

int ig_trace_valid(const char *tp) {
        if (!tp)
                return 0;
        size_t len = strnlen(tp, 512);
        if (len < IG_TRACEPARENT_LEN || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
                return 0;
        int z;
        if (!ig_hex(tp, 2, NULL) || (tp[0] == 'f' && tp[1] == 'f'))
                return 0;
        int v00 = tp[0] == '0' && tp[1] == '0';
        if (v00 ? len != IG_TRACEPARENT_LEN : (len > IG_TRACEPARENT_LEN && tp[55] != '-'))
                return 0;
        if (!ig_hex(tp + 3, 32, &z) || z)
                return 0;
        if (!ig_hex(tp + 36, 16, &z) || z)
                return 0;
        return ig_hex(tp + 53, 2, NULL);
}

static void ig_rand(unsigned char *p, size_t n) {
        size_t got = 0;
        while (got < n) {
                ssize_t r = getrandom(p + got, n - got, 0);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        if (got < n) { /* no entropy source: still unique enough for tracing */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uintptr_t)p;
                for (size_t i = got; i < n; i++) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        p[i] = (unsigned char)(x >> 56);
                }
        }
}

void ig_trace_generate(char out[IG_TRACEPARENT_LEN + 1]) {
        static const char hx[] = "0123456789abcdef";
        unsigned char r[24];
        ig_rand(r, sizeof(r));
        r[0] |= 1; /* never all zero */
        r[16] |= 1;
        char *o = out;
        *o++ = '0';
        *o++ = '0';
        *o++ = '-';
        for (int i = 0; i < 16; i++) {
                *o++ = hx[r[i] >> 4];
                *o++ = hx[r[i] & 15];
        }
        *o++ = '-';
        for (int i = 16; i < 24; i++) {
                *o++ = hx[r[i] >> 4];
                *o++ = hx[r[i] & 15];
        }
        memcpy(o, "-01", 4);
}

int ig_trace_take(const char *header, char out[IG_TRACEPARENT_LEN + 1]) {
        if (ig_trace_valid(header)) {
                memcpy(out, header, IG_TRACEPARENT_LEN);
                out[0] = out[1] = '0';
                out[IG_TRACEPARENT_LEN] = '\0';
                return 1;
        }
        ig_trace_generate(out);
        return 0;
}
