/* sk_otel — the sink's spans.  See sk_otel.h. */
#include "sk_otel.h"
#include "otel.h"

void sk_otel_write(const ix_batch_t *b, uint64_t t0_ns, int rc, const char *url) {
        if (!otel_on || !t0_ns)
                return;
        otel_span_t *s = NULL;
        tp_ctx_t c;
        for (size_t i = 0; i < b->n; i++) {
                const ix_line_t *l = &b->lines[i];
                if (!l->tp_len || tp_parse(b->keys.data + l->tp_off, l->tp_len, &c) ||
                    !(c.flags & TP_SAMPLED))
                        continue;
                if (!s) {
                        if (!(s = otel_start("influxdb write", OTEL_CLIENT, &c, NULL, t0_ns)))
                                return;
                } else {
                        otel_link(s, &c);
                }
        }
        if (!s)
                return; /* no sampled record in the batch */
        otel_attr_cstr(s, "db.system.name", "influxdb");
        otel_attr_cstr(s, "db.operation.name", "write");
        otel_attr_int(s, "db.operation.batch.size", (int64_t)b->n);
        otel_attr_cstr(s, "http.request.method", "POST");
        otel_attr_cstr(s, "url.full", url);
        otel_attr_int(s, "weir.batch.bytes", (int64_t)b->body.len);
        if (rc)
                otel_error(s, "write not completed (shutdown or rebalance)");
        otel_end(s, 0);
}

void sk_otel_publish(const void *tp, size_t tp_len, int32_t partition, int64_t offset,
                     uint64_t t0_ns, const char *topic, const char *key, size_t key_len,
                     size_t clients) {
        if (!otel_on || !t0_ns)
                return;
        tp_ctx_t parent;
        if (!tp || tp_parse(tp, tp_len, &parent))
                return;
        otel_span_t *s = otel_start("websocket publish", OTEL_PRODUCER, &parent, NULL, t0_ns);
        otel_attr_cstr(s, "messaging.system", "kafka");
        otel_attr_cstr(s, "messaging.source.name", topic);
        otel_attr_int(s, "messaging.destination.partition.id", partition);
        otel_attr_int(s, "messaging.kafka.offset", offset);
        if (key)
                otel_attr_str(s, "weir.key", key, key_len);
        otel_attr_int(s, "weir.websocket.clients", (int64_t)clients);
        otel_end(s, 0);
}
