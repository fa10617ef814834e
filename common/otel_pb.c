/* otel_pb — hand-encoded protobuf for OTLP/HTTP trace export.
 *
 * Why protobuf and not OTLP/JSON: the messages Weir sends are a handful
 * (ExportTraceServiceRequest > ResourceSpans > ScopeSpans > Span with
 * KeyValue, Link, Event, Status), so encoding them by hand is ~150 lines
 * with no generated code and no dependency, and the house rule is no JSON
 * on a hot path; every OTLP receiver (the Collector, Jaeger v2, Tempo)
 * accepts application/x-protobuf.  Field numbers: opentelemetry-proto
 * trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto.
 *
 * A nested message is written after a 5-byte gap, and its length (a varint
 * of at most 5 bytes for < 4 GiB) is put in front when it is closed, moving
 * the body back by what the varint did not use: canonical encoding, one
 * pass, no size pre-computation. */
#include <string.h>

#include "otel_int.h"

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static int pb_put(buf_t *b, const void *p, size_t n) {
        return buf_append(b, p, n);
}

static int pb_varint(buf_t *b, uint64_t v) {
        uint8_t t[10];
        size_t n = 0;
        do {
                t[n] = (uint8_t)(v & 0x7f);
                v >>= 7;
                if (v)
                        t[n] |= 0x80;
                n++;
        } while (v);
        return pb_put(b, t, n);
}

static int pb_tag(buf_t *b, unsigned field, unsigned wt) {
        return pb_varint(b, (uint64_t)(field << 3 | wt));
}

static int pb_bytes(buf_t *b, unsigned field, const void *p, size_t n) {
        return pb_tag(b, field, PB_LEN) || pb_varint(b, n) || pb_put(b, p, n);
}

static int pb_str(buf_t *b, unsigned field, const char *s) {
        return pb_bytes(b, field, s, strlen(s));
}

static int pb_fixed64(buf_t *b, unsigned field, uint64_t v) {
        uint8_t t[8];
        for (int i = 0; i < 8; i++)
                t[i] = (uint8_t)(v >> (8 * i));
        return pb_tag(b, field, PB_I64) || pb_put(b, t, 8);
}

static int pb_fixed32(buf_t *b, unsigned field, uint32_t v) {
        uint8_t t[4];
        for (int i = 0; i < 4; i++)
                t[i] = (uint8_t)(v >> (8 * i));
        return pb_tag(b, field, PB_I32) || pb_put(b, t, 4);
}

/* Opens a nested message: returns the offset of its length gap, or -1. */
static long pb_open(buf_t *b, unsigned field) {
        static const uint8_t gap[5];
        if (pb_tag(b, field, PB_LEN))
                return -1;
        long at = (long)b->len;
        return pb_put(b, gap, sizeof(gap)) ? -1 : at;
}

static int pb_close(buf_t *b, long at) {
        if (at < 0)
                return -1;
        size_t body = b->len - (size_t)at - 5;
        uint8_t t[5];
        size_t n = 0;
        uint64_t v = body;
        do {
                t[n] = (uint8_t)(v & 0x7f);
                v >>= 7;
                if (v)
                        t[n] |= 0x80;
                n++;
        } while (v && n < 5);
        memcpy(b->data + at, t, n);
        memmove(b->data + at + n, b->data + at + 5, body);
        b->len -= 5 - n;
        return 0;
}

/* KeyValue{key=1, value=AnyValue{string=1|bool=2|int=3}} */
static int pb_kv_str(buf_t *b, unsigned field, const char *k, const char *v, size_t vlen) {
        long kv = pb_open(b, field);
        if (kv < 0 || pb_str(b, 1, k))
                return -1;
        long av = pb_open(b, 2);
        return av < 0 || pb_bytes(b, 1, v, vlen) || pb_close(b, av) || pb_close(b, kv) ? -1 : 0;
}

static int pb_kv_int(buf_t *b, unsigned field, const char *k, unsigned wire_field, int64_t v) {
        long kv = pb_open(b, field);
        if (kv < 0 || pb_str(b, 1, k))
                return -1;
        long av = pb_open(b, 2);
        return av < 0 || pb_tag(b, wire_field, PB_VARINT) || pb_varint(b, (uint64_t)v) ||
                               pb_close(b, av) || pb_close(b, kv)
                       ? -1
                       : 0;
}

int otel_pb_resource(buf_t *out, const char *const *kv, size_t n) {
        long res = pb_open(out, 1); /* ResourceSpans.resource */
        if (res < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (pb_kv_str(out, 1, kv[2 * i], kv[2 * i + 1], strlen(kv[2 * i + 1])))
                        return -1;
        return pb_close(out, res);
}

static int pb_span(buf_t *b, const otel_span_t *s) {
        long sp = pb_open(b, 2); /* ScopeSpans.spans */
        if (sp < 0 || pb_bytes(b, 1, s->ctx.trace_id, 16) || pb_bytes(b, 2, s->ctx.span_id, 8))
                return -1;
        if (s->has_parent && pb_bytes(b, 4, s->parent_id, 8))
                return -1;
        if (pb_str(b, 5, s->name) || pb_tag(b, 6, PB_VARINT) || pb_varint(b, s->kind) ||
            pb_fixed64(b, 7, s->start_ns) || pb_fixed64(b, 8, s->end_ns))
                return -1;
        for (size_t i = 0; i < s->nattrs; i++) {
                const otel_attr_t *a = &s->attrs[i];
                int rc = a->type == OTEL_A_STR
                                 ? pb_kv_str(b, 9, a->key, s->val + a->off, a->len)
                                 : pb_kv_int(b, 9, a->key, a->type == OTEL_A_INT ? 3 : 2, a->i);
                if (rc)
                        return -1;
        }
        for (size_t i = 0; i < s->nevents; i++) { /* Event{time=1, name=2} */
                long ev = pb_open(b, 11);
                if (ev < 0 || pb_fixed64(b, 1, s->events[i].t_ns) ||
                    pb_str(b, 2, s->events[i].name) || pb_close(b, ev))
                        return -1;
        }
        for (size_t i = 0; i < s->nlinks; i++) { /* Link{trace_id=1, span_id=2, flags=6} */
                long ln = pb_open(b, 13);
                if (ln < 0 || pb_bytes(b, 1, s->links[i].trace_id, 16) ||
                    pb_bytes(b, 2, s->links[i].span_id, 8) || pb_fixed32(b, 6, s->links[i].flags) ||
                    pb_close(b, ln))
                        return -1;
        }
        if (s->dropped_links && (pb_tag(b, 14, PB_VARINT) || pb_varint(b, s->dropped_links)))
                return -1;
        if (s->status) { /* Status{message=2, code=3} */
                long st = pb_open(b, 15);
                if (st < 0 || (s->status_msg && pb_str(b, 2, s->status_msg)) ||
                    pb_tag(b, 3, PB_VARINT) || pb_varint(b, s->status) || pb_close(b, st))
                        return -1;
        }
        /* flags: the W3C trace flags */
        if (pb_fixed32(b, 16, s->ctx.flags))
                return -1;
        return pb_close(b, sp);
}

int otel_pb_request(buf_t *out, const buf_t *resource, otel_span_t *const *spans, size_t n) {
        long rs = pb_open(out, 1); /* ExportTraceServiceRequest.resource_spans */
        if (rs < 0 || pb_put(out, resource->data, resource->len))
                return -1;
        long ss = pb_open(out, 2);               /* ResourceSpans.scope_spans */
        long sc = ss < 0 ? -1 : pb_open(out, 1); /* ScopeSpans.scope */
        if (sc < 0 || pb_str(out, 1, "weir") || pb_close(out, sc))
                return -1;
        for (size_t i = 0; i < n; i++)
                if (pb_span(out, spans[i]))
                        return -1;
        return pb_close(out, ss) || pb_close(out, rs) ? -1 : 0;
}
