/* en_otel — enrichment spans.  See en_otel.h. */
#include <stdio.h>
#include <string.h>

#include "en_otel.h"
#include "otel.h"

/* Spans awaiting the end of the open transaction.  Only the kc_txn loop's
 * thread touches them (en_join's hooks and main.c's), so no lock. */
static otel_txn_t en_otel_spans;

void en_otel_record(rd_kafka_headers_t *hdrs, uint64_t t0_ns, const en_otel_rec_t *r,
                    const en_source_t *sources, size_t nsources, const uint8_t *res,
                    size_t stride) {
        if (!otel_on || !hdrs)
                return;
        const void *v;
        size_t len;
        tp_ctx_t parent, ctx;
        if (rd_kafka_header_get_last(hdrs, "traceparent", &v, &len) || tp_parse(v, len, &parent))
                return; /* no context: nothing to continue */
        otel_span_t *s = otel_start("enrichment join", OTEL_CONSUMER, &parent, &ctx, t0_ns);
        char tp[TP_LEN + 1];
        tp_format(&ctx, tp);
        rd_kafka_header_remove(hdrs, "traceparent");
        rd_kafka_header_add(hdrs, "traceparent", -1, tp, TP_LEN);
        if (!s)
                return;
        char srcs[256], group[300];
        size_t pos = 0;
        int hit = 1;
        srcs[0] = '\0';
        for (size_t i = 0; i < nsources && pos < sizeof(srcs); i++) {
                int miss = res[i * stride] == EN_MISS;
                hit &= !miss;
                int n = snprintf(srcs + pos, sizeof(srcs) - pos, "%s%s:%s", i ? "," : "",
                                 sources[i].spec->name,
                                 miss                          ? "miss"
                                 : res[i * stride] == EN_STALE ? "stale"
                                                               : "hit");
                pos += n > 0 ? (size_t)n : 0;
        }
        snprintf(group, sizeof(group), "weir-enrichment-%s", r->pipeline);
        otel_attr_cstr(s, "messaging.system", "kafka");
        otel_attr_cstr(s, "messaging.operation.type", "process");
        otel_attr_cstr(s, "messaging.source.name", r->in_topic);
        otel_attr_cstr(s, "messaging.destination.name", r->out_topic);
        otel_attr_cstr(s, "messaging.consumer.group.name", group);
        otel_attr_int(s, "messaging.destination.partition.id", r->partition);
        otel_attr_int(s, "messaging.kafka.offset", r->offset);
        if (r->key)
                otel_attr_str(s, "weir.key", r->key, r->key_len);
        otel_attr_str(s, "weir.enrichment.join", r->join, r->join_len);
        otel_attr_cstr(s, "weir.enrichment.sources", srcs);
        otel_attr_bool(s, "weir.enrichment.hit", hit);
        otel_attr_cstr(s, "weir.enrichment.result", r->result);
        otel_event(s, "weir.enrichment.output", 0);
        otel_txn_add(&en_otel_spans, s);
}

void en_otel_commit_begin(void) {
        otel_txn_commit_begin(&en_otel_spans);
}

void en_otel_txn(int ok) {
        otel_txn_end(&en_otel_spans, ok, "transaction aborted: the record is enriched again");
}
