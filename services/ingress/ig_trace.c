/* ig_trace — ingress's view of common/tp.  See ig_trace.h. */
#include <string.h>

#include "ig_trace.h"
#include "tp.h"

int ig_trace_valid(const char *tp) {
        return tp && tp_parse(tp, strnlen(tp, 513), NULL) == 0;
}

void ig_trace_generate(char out[IG_TRACEPARENT_LEN + 1]) {
        tp_ctx_t c;
        tp_new_trace(&c, TP_SAMPLED);
        tp_format(&c, out);
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
