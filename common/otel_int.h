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

/* One slot of the pool (otel.c), 1344 bytes on x86-64. */
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

typedef enum { OTEL_S_ON, OTEL_S_OFF, OTEL_S_RATIO } otel_root_t;

/* The settings (otel_conf.c). */
typedef struct otel_conf_s {
        int parent_based;
        otel_root_t root;     /* decision for a root span (any span when !parent_based) */
        uint64_t ratio_bound; /* OTEL_S_RATIO: sampled when the trace-id's low 8 bytes < bound */
        char *url;            /* owned; NULL: tracing off */
        buf_t headers;        /* owned: "Name: value" lines of OTEL_*_HEADERS and the content
                               * type, each NUL-terminated; made into a curl_slist by the
                               * exporter thread at its first export, so that libcurl (loaded
                               * at its first call: common/link/curl_lazy.c) costs nothing
                               * in a process that never exports a span */
        long timeout_ms, delay_ms;
        size_t queue_max, batch_max;
        buf_t resource;  /* owned: the encoded Resource (otel_pb_resource) */
        char *res_store; /* owned: the strings of OTEL_RESOURCE_ATTRIBUTES */
} otel_conf_t;

/* Reads the OTEL_* variables into *c.  Returns 0 (c->url NULL: tracing off)
 * or -1 with errstr naming the variable (*c then empty).  The caller frees
 * it with otel_conf_free(). */
int otel_conf_load(otel_conf_t *c, const char *stage, char *errstr, size_t errstr_size);
void otel_conf_free(otel_conf_t *c);

/* The ResourceSpans prefix: resource (service.name and OTEL_RESOURCE_ATTRIBUTES)
 * and scope, encoded once.  `attrs`: "k=v,..." already decoded pairs in kv[]
 * (n pairs).  Returns 0 or -1 (out of memory). */
int otel_pb_resource(buf_t *out, const char *const *kv, size_t n);

/* Appends an ExportTraceServiceRequest holding `resource` (from
 * otel_pb_resource) and spans[0..n) to out.  Returns 0 or -1. */
int otel_pb_request(buf_t *out, const buf_t *resource, otel_span_t *const *spans, size_t n);

#endif
