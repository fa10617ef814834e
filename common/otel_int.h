/* otel_int — what otel.c and otel_pb.c share: the span slot and the encoder. */
#ifndef WEIR_OTEL_INT_H
#define WEIR_OTEL_INT_H

#include "buf.h"
#include "otel.h"

typedef enum { OTEL_A_STR, OTEL_A_INT, OTEL_A_BOOL } otel_atype_t;

typedef struct otel_attr_s {
        const char *key;   /* a literal: not owned */
        uint8_t type;      /* otel_atype_t */
        uint16_t off, len; /* OTEL_A_STR: bytes in the span's val[] */
        int64_t i;
} otel_attr_t;

typedef struct otel_ev_s {
        const char *name; /* a literal */
        uint64_t t_ns;
} otel_ev_t;

/* One slot of the pool (otel.c), ~1 KiB. */
struct otel_span_s {
        tp_ctx_t ctx;
        uint8_t parent_id[8];
        uint8_t has_parent;
        uint8_t kind;
        uint8_t status; /* 0 unset, 2 error */
        uint8_t nattrs, nlinks, nevents;
        uint16_t dropped_links;
        uint16_t vlen;
        const char *name;       /* a literal */
        const char *status_msg; /* a literal or NULL */
        uint64_t start_ns, end_ns;
        otel_attr_t attrs[OTEL_MAX_ATTRS];
        tp_ctx_t links[OTEL_MAX_LINKS];
        otel_ev_t events[OTEL_MAX_EVENTS];
        char val[OTEL_VAL_SPACE];
        int32_t next; /* free list / queue link */
};

/* The ResourceSpans prefix: resource (service.name and OTEL_RESOURCE_ATTRIBUTES)
 * and scope, encoded once.  `attrs`: "k=v,..." already decoded pairs in kv[]
 * (n pairs).  Returns 0 or -1 (out of memory). */
int otel_pb_resource(buf_t *out, const char *const *kv, size_t n);

/* Appends an ExportTraceServiceRequest holding `resource` (from
 * otel_pb_resource) and spans[0..n) to out.  Returns 0 or -1. */
int otel_pb_request(buf_t *out, const buf_t *resource, otel_span_t *const *spans, size_t n);

#endif
