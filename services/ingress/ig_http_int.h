/* ig_http_int — what ig_http (libmicrohttpd callbacks, the server) and
 * ig_req (a request's body to its answer: parse, check, produce, answer)
 * share.  Private to ingress's HTTP side. */
#ifndef WEIR_IG_HTTP_INT_H
#define WEIR_IG_HTTP_INT_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clk.h"
#include "ig_arena.h"
#include "ig_http.h"
#include "ig_otel.h"
#include "ig_trace.h"
#include "kc_dr.h"
#include "log.h"
#include "metrics.h"

#define IG_LOG      "http"
#define IG_CTYPE    "application/vnd.kafka.v2+json"
#define IG_KEEP_BUF (1u << 20)

enum { IG_ROUTE_TOPICS = 0, IG_ROUTE_EVENTS, IG_ROUTE_OTHER, IG_ROUTE__N };

enum { IG_RS_BODY = 0, IG_RS_WAIT, IG_RS_DONE };

struct ig_server_s {
        ig_server_opts_t o;
        ig_conf_t conf;
        struct MHD_Daemon *d;
        /* The listening socket MHD_quiesce_daemon() handed back, -1 before:
         * closed only after MHD_stop_daemon(), as libmicrohttpd's manual
         * requires with internal threads (one may still be using it). */
        int quiesced_fd;
        uint16_t port;
        atomic_size_t active;
        /* Set by ig_server_quiesce(): keep-alive connections may still send
         * requests, which must be answered without suspending (libmicrohttpd
         * aborts if it is stopped with a suspended connection).  Ordering:
         * a request counts itself in `active` before it reads `draining`,
         * and quiesce sets `draining` before main reads `active`. */
        atomic_int draining;
        /* The producer, replaced by ig_server_swap_kc() after Kafka refused
         * it fatally.  Ordering as for draining: a request reserves
         * (inflight_records) before it reads `paused` and the producer;
         * the swap sets `paused` before it waits for inflight 0. */
        _Atomic(kc_t *) kc;
        atomic_int paused;
        atomic_int_fast64_t inflight_bytes;
        atomic_size_t inflight_records;
        metrics_family_t *m_requests;
        metrics_child_t *m_duration[IG_ROUTE__N];
        metrics_child_t *m_produce, *m_accepted, *m_invalid, *m_not_produced, *m_failed;
        metrics_child_t *m_inflight_b, *m_inflight_r, *m_active;
        /* Per topic (index in o.topics): its partition count from the
         * broker's metadata, 0 while unknown; set by the main thread. */
        atomic_int *nparts;
        atomic_int want_metadata; /* a request named a partition past the count */
};

/* Per connection: the body buffer, reused by its keep-alive requests. */
typedef struct ig_conn_s {
        buf_t body;
        buf_t out; /* the answer being sent: MHD reads it in place (one at a time) */
} ig_conn_t;

typedef struct ig_req_s {
        ig_server_t *s;
        struct MHD_Connection *conn;
        ig_conn_t *cc;
        int route, state, too_large;
        int begun;       /* ig_handle saw it (else libmicrohttpd answered it alone) */
        unsigned status; /* answered with, for metrics */
        const ig_topic_t *topic;
        ig_fmt_t fmt;
        int64_t t0_ns, tprod_ns;
        kc_dr_batch_t *drb;
        size_t n, produced;
        int64_t res_bytes;
        size_t res_records;
        atomic_int gate; /* suspend vs last delivery report: the second resumes */
        char tp[IG_TRACEPARENT_LEN + 1];
        ig_otel_t ot; /* spans (ig_otel.h) */
} ig_req_t;

/* Per worker thread: the parse batch and the answer buffer. */
typedef struct ig_tls_s {
        ig_batch_t batch;
        buf_t out;
} ig_tls_t;

/* The worker thread's parse batch and answer buffer (made on first use;
 * NULL when out of memory). */
ig_tls_t *ig_tls(void);

/* Queues `body` as the answer with `status` and the headers it needs. */
enum MHD_Result ig_send(ig_req_t *q, unsigned status, const buf_t *body);
/* {"error_code","message"} answer. */
enum MHD_Result ig_error(ig_req_t *q, unsigned status, int code, const char *msg);
/* The request's body is complete (or too large): parse, check, produce
 * and suspend, or answer now. */
enum MHD_Result ig_process(ig_req_t *q);
/* Every record settled: the answer (resumed connection). */
enum MHD_Result ig_answer(ig_req_t *q);
/* Gives back the request's share of the in-flight budgets. */
void ig_release(ig_req_t *q);

#endif
