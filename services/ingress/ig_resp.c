/* ig_resp — the JSON ingress answers with (REST Proxy v2 shapes).  See
 * ig_resp.h.  Per record no printf and no allocation once the buffer has
 * grown. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ig_resp.h"

void ig_json_str(buf_t *out, const char *s) {
        static const char hx[] = "0123456789abcdef";
        buf_append(out, "\"", 1);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                char e[8];
                size_t n = 0;
                if (*p == '"' || *p == '\\') {
                        e[n++] = '\\';
                        e[n++] = (char)*p;
                } else if (*p < 0x20 || *p >= 0x7f) {
                        memcpy(e, "\\u00", 4);
                        e[4] = hx[*p >> 4];
                        e[5] = hx[*p & 15];
                        n = 6;
                } else {
                        e[n++] = (char)*p;
                }
                buf_append(out, e, n);
        }
        buf_append(out, "\"", 1);
}

static void ig_puts(buf_t *out, const char *s) {
        buf_append(out, s, strlen(s));
}

void ig_resp_error(buf_t *out, int error_code, const char *message) {
        char num[32];
        out->len = 0;
        snprintf(num, sizeof(num), "%d", error_code);
        ig_puts(out, "{\"error_code\":");
        ig_puts(out, num);
        ig_puts(out, ",\"message\":");
        ig_json_str(out, message);
        ig_puts(out, "}");
}

void ig_resp_begin(buf_t *out, int32_t value_schema_id) {
        char num[32];
        out->len = 0;
        ig_puts(out, "{\"key_schema_id\":null,\"value_schema_id\":");
        if (value_schema_id >= 0) {
                snprintf(num, sizeof(num), "%" PRId32, value_schema_id);
                ig_puts(out, num);
        } else {
                ig_puts(out, "null");
        }
        ig_puts(out, ",\"offsets\":[");
}

/* Decimal digits of v into p (at least 21 bytes); returns their count. */
static size_t ig_itoa(char *p, int64_t v) {
        char d[24];
        size_t n = 0;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do {
                d[n++] = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        size_t w = 0;
        if (v < 0)
                p[w++] = '-';
        while (n)
                p[w++] = d[--n];
        return w;
}

void ig_resp_offset(buf_t *out, int *first, int32_t partition, int64_t offset, int error_code,
                    const char *error) {
        char tmp[128];
        if (!*first)
                ig_puts(out, ",");
        *first = 0;
        if (error_code == 0) { /* per record: no printf */
                static const char a[] = "{\"partition\":", b[] = ",\"offset\":",
                                  c[] = ",\"error_code\":null,\"error\":null}";
                size_t n = 0;
                memcpy(tmp, a, sizeof(a) - 1);
                n += sizeof(a) - 1;
                n += ig_itoa(tmp + n, partition);
                memcpy(tmp + n, b, sizeof(b) - 1);
                n += sizeof(b) - 1;
                n += ig_itoa(tmp + n, offset);
                memcpy(tmp + n, c, sizeof(c) - 1);
                n += sizeof(c) - 1;
                buf_append(out, tmp, n);
                return;
        }
        snprintf(tmp, sizeof(tmp), "{\"partition\":null,\"offset\":null,\"error_code\":%d,",
                 error_code);
        ig_puts(out, tmp);
        ig_puts(out, "\"error\":");
        ig_json_str(out, error ? error : "");
        ig_puts(out, "}");
}

void ig_resp_end(buf_t *out, int error_code, const char *message) {
        ig_puts(out, "]");
        if (error_code) {
                char num[48];
                snprintf(num, sizeof(num), ",\"error_code\":%d,\"message\":", error_code);
                ig_puts(out, num);
                ig_json_str(out, message ? message : "");
        }
        ig_puts(out, "}");
}
