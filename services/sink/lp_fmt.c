/* lp_fmt — the text pieces of line protocol (see lp.h): escaping per
 * InfluxDB's rules, shortest round-trip doubles, timestamps per precision. */
#include <stdio.h>
#include <stdlib.h>

#include "lp.h"

int lp_escape(buf_t *out, const char *s, size_t n, lp_part_t what) {
        size_t len0 = out->len;
        if (what != LP_STRING && (n == 0 || s[n - 1] == '\\'))
                return -1;
        if (buf_reserve(out, 2 * n))
                return -1;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                int esc = 0;
                if (c == '\n' || c == '\r') {
                        if (what != LP_STRING) {
                                out->len = len0;
                                return -1;
                        }
                } else if (what == LP_STRING) {
                        esc = c == '"' || c == '\\';
                } else {
                        esc = c == ',' || c == ' ' || (what == LP_KEY && c == '=');
                }
                if (esc)
                        out->data[out->len++] = '\\';
                out->data[out->len++] = c;
        }
        return 0;
}

int lp_double(buf_t *out, double v) {
        char b[40];
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(b, sizeof(b), "%.*g", prec, v);
                if (strtod(b, NULL) == v)
                        break;
        }
        return buf_append(out, b, (size_t)n);
}

int64_t lp_time(int64_t ms, spec_precision_t p) {
        switch (p) {
        case SPEC_PRECISION_NS:
                return ms * 1000000;
        case SPEC_PRECISION_US:
                return ms * 1000;
        case SPEC_PRECISION_S:
                return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
        default:
                return ms;
        }
}

const char *lp_precision_param(spec_precision_t p, int influx_version) {
        switch (p) {
        case SPEC_PRECISION_NS:
                return influx_version == 2 ? "ns" : "n";
        case SPEC_PRECISION_US:
                return influx_version == 2 ? "us" : "u";
        case SPEC_PRECISION_S:
                return "s";
        default:
                return "ms";
        }
}
