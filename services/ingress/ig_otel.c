/* ig_otel — ingress spans.  See ig_otel.h. */
#include <string.h>

#include "ig_otel.h"

void ig_otel_begin(ig_otel_t *o, char tp[IG_TRACEPARENT_LEN + 1], int from_caller,
                   const char *method, const char *url) {
        if (!otel_on)
                return;
        tp_ctx_t parent, ctx;
        int has = from_caller && tp_parse(tp, IG_TRACEPARENT_LEN, &parent) == 0;
        o->srv = otel_start("ingress request", OTEL_SERVER, has ? &parent : NULL, &ctx, 0);
        tp_format(&ctx, tp);
        otel_attr_cstr(o->srv, "http.request.method", method);
        otel_attr_cstr(o->srv, "url.path", url);
}

void ig_otel_produce(ig_otel_t *o, char tp[IG_TRACEPARENT_LEN + 1], const char *topic, size_t n) {
        if (!otel_on)
                return;
        tp_ctx_t parent, ctx;
        if (tp_parse(tp, IG_TRACEPARENT_LEN, &parent) != 0)
                return;
        o->prod = otel_start("produce", OTEL_PRODUCER, &parent, &ctx, 0);
        tp_format(&ctx, tp);
        otel_attr_cstr(o->prod, "messaging.system", "kafka");
        otel_attr_cstr(o->prod, "messaging.operation.type", "send");
        otel_attr_cstr(o->prod, "messaging.destination.name", topic);
        otel_attr_int(o->prod, "messaging.batch.message_count", (int64_t)n);
}

/* The last delivery report (polling thread) and a request answered before
 * it (timeout, MHD thread) may both end the span: whoever takes it first. */
void ig_otel_produced(ig_otel_t *o, kc_dr_batch_t *b) {
        otel_span_t *p = __atomic_exchange_n(&o->prod, NULL, __ATOMIC_ACQ_REL);
        if (!p)
                return;
        if (b) {
                kc_dr_result_t r = kc_dr_batch_result(b, 0);
                if (!r.err) {
                        otel_attr_int(p, "messaging.destination.partition.id", r.partition);
                        otel_attr_int(p, "messaging.kafka.offset", r.offset);
                }
                size_t failed = kc_dr_batch_failed(b);
                if (failed) {
                        otel_attr_int(p, "weir.records.failed", (int64_t)failed);
                        otel_error(p, "records not delivered");
                }
        } else {
                otel_event(p, "answered before every delivery report", 0);
        }
        otel_end(p, 0);
}

void ig_otel_end(ig_otel_t *o, unsigned status, const char *route) {
        if (!o->srv)
                return;
        ig_otel_produced(o, NULL); /* the answer came before every report */
        otel_attr_cstr(o->srv, "http.route",
                       strcmp(route, "topics") == 0   ? "/topics/{topic}"
                       : strcmp(route, "events") == 0 ? "/v1/events/{type}"
                                                      : "other");
        otel_attr_int(o->srv, "http.response.status_code", status);
        if (status >= 500 || status == 0)
                otel_error(o->srv, status ? "server error" : "no answer");
        otel_end(o->srv, 0);
        o->srv = NULL;
}
