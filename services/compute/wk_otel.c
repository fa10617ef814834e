/* wk_otel — compute's spans.  See wk_otel.h. */
#include <string.h>

#include "wk_otel.h"

void wk_otel_input(wk_otel_t *o, const void *tp, size_t len, int32_t partition, int64_t offset) {
        if (!otel_on)
                return;
        if (o->clear_next) {
                o->nin = o->seen = 0;
                o->clear_next = 0;
        }
        o->partition = partition;
        o->offset = offset;
        o->has_trigger = tp && tp_parse(tp, len, &o->trigger) == 0;
        if (o->has_trigger && (o->trigger.flags & TP_SAMPLED)) {
                /* The records of one request share a context: link it once. */
                for (size_t i = 0; i < o->nin; i++)
                        if (memcmp(o->in[i].span_id, o->trigger.span_id, 8) == 0 &&
                            memcmp(o->in[i].trace_id, o->trigger.trace_id, 16) == 0)
                                return;
                if (o->nin < OTEL_MAX_LINKS)
                        o->in[o->nin++] = o->trigger;
                o->seen++;
        }
}

static otel_span_t *wk_otel_start(wk_otel_t *o, const char *name, const char *topic,
                                  const char *group, const void **trace, size_t *trace_len) {
        if (!*trace) /* emitted by a tick (idle close), not while a record is processed */
                o->has_trigger = 0;
        const tp_ctx_t *parent = o->nin ? &o->in[0] : o->has_trigger ? &o->trigger : NULL;
        tp_ctx_t ctx;
        otel_span_t *s = otel_start(name, OTEL_INTERNAL, parent, &ctx, 0);
        tp_format(&ctx, o->tp);
        *trace = o->tp;
        *trace_len = TP_LEN;
        o->clear_next = 1;
        if (!s)
                return NULL;
        for (size_t i = parent == o->in ? 1 : 0; i < o->nin; i++) /* the parent is no link */
                otel_link(s, &o->in[i]);
        for (size_t i = o->nin; i < o->seen; i++) /* past the cap: counted as dropped links */
                otel_link(s, &o->in[0]);
        otel_attr_cstr(s, "messaging.system", "kafka");
        otel_attr_cstr(s, "messaging.destination.name", topic);
        otel_attr_cstr(s, "messaging.consumer.group.name", group);
        if (o->has_trigger) {
                otel_attr_int(s, "messaging.destination.partition.id", o->partition);
                otel_attr_int(s, "messaging.kafka.offset", o->offset);
        }
        return otel_txn_add(&o->txn, s);
}

void wk_otel_aggregate(wk_otel_t *o, const cp_aggregate_t *a, const char *topic, const char *group,
                       const void **trace, size_t *trace_len) {
        if (!otel_on)
                return;
        otel_span_t *s = wk_otel_start(o, "compute aggregate", topic, group, trace, trace_len);
        otel_attr_str(s, "weir.key", a->key, a->key_len);
        otel_attr_cstr(s, "weir.window", a->window);
        otel_attr_int(s, "weir.window.start", a->start_ms);
        otel_attr_int(s, "weir.window.end", a->end_ms);
        otel_attr_int(s, "weir.window.count", a->count);
        otel_attr_bool(s, "weir.window.final", a->final);
}

void wk_otel_alert(wk_otel_t *o, const cp_alert_t *al, const char *topic, const char *group,
                   const void **trace, size_t *trace_len) {
        if (!otel_on)
                return;
        otel_span_t *s = wk_otel_start(o, "compute alert", topic, group, trace, trace_len);
        otel_attr_str(s, "weir.key", al->key, al->key_len);
        otel_attr_cstr(s, "weir.rule", al->rule);
        otel_attr_cstr(s, "weir.window", al->window);
        otel_attr_int(s, "weir.window.start", al->start_ms);
        otel_attr_int(s, "weir.window.end", al->end_ms);
}

void wk_otel_commit_begin(wk_otel_t *o) {
        otel_txn_commit_begin(&o->txn);
}

void wk_otel_txn(wk_otel_t *o, int ok) {
        otel_txn_end(&o->txn, ok, "transaction aborted: the output is redone");
}
