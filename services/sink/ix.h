/* ix — the sink's InfluxDB writer: line protocol over HTTP.
 *
 *   1.x  POST <url>/write?db=<db>[&rp=<rp>]&precision=<n|u|ms|s>
 *        optional basic auth (INFLUX_USERNAME / INFLUX_PASSWORD)
 *   2.x  POST <url>/api/v2/write?org=<org>&bucket=<bucket>&precision=<ns|us|ms|s>
 *        Authorization: Token <INFLUX_TOKEN>
 * Bodies are gzip-compressed (Content-Encoding: gzip) unless INFLUX_GZIP=false.
 *
 * ix_send() makes one request and classifies the answer; ix_flush_step()
 * (ix_flush.c) delivers a whole batch, resumably: it retries 429/503/5xx/network
 * errors with capped exponential backoff and jitter, honouring Retry-After,
 * splits the batch in halves on 413, and on 400/422 splits until the lines
 * InfluxDB rejects are found one by one (writing a point twice only
 * overwrites it, so re-sending the accepted half of a partial write is
 * harmless) and hands each to the caller with InfluxDB's message.
 *
 * Transport: libcurl, one easy handle per writer reused for every request
 * (its connection kept alive between batches), with INFLUX_CONNECT_TIMEOUT
 * and INFLUX_TIMEOUT; http:// and https:// alike.
 *
 * Threads: one ix_t per thread (it owns the curl handle and buffers). */
#ifndef WEIR_SINK_IX_H
#define WEIR_SINK_IX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cfg_tab.h"
#include "spec.h"
#include "st.h"

typedef struct ix_conf_s {
        const char *url;          /* base URL, e.g. http://127.0.0.1:8086; NULL: writing is off */
        int version;              /* 1 or 2 */
        const char *db, *rp;      /* 1.x */
        const char *org, *bucket; /* 2.x */
        const char *token;        /* 2.x (a secret) */
        const char *username, *password; /* 1.x basic auth (password: a secret) */
        const char *precision;           /* write API precision parameter (lp_precision_param) */
        int gzip;
        int64_t timeout_ms, connect_timeout_ms;
        int64_t retry_initial_ms, retry_max_ms; /* backoff: initial·2^attempt, capped */
        int64_t retry_after_max_ms;             /* a Retry-After longer than this is cut */
} ix_conf_t;

/* The INFLUX_* and SINK_RETRY_* settings (docs/sink.md is generated from
 * it); ix_conf_env() loads it. */
extern const cfg_tab_t ix_conf_tab;

/* Loads ix_conf_tab, then what depends on several values: INFLUX_DB
 * defaults to `default_db`, INFLUX_VERSION auto is 2 when INFLUX_ORG or
 * INFLUX_BUCKET is set (else 1), 2.x needs INFLUX_ORG and INFLUX_TOKEN and
 * its bucket defaults to `default_db`, INFLUX_PASSWORD needs
 * INFLUX_USERNAME.  Strings point into the environment.  Returns 0, or -1
 * with errstr naming the variable. */
int ix_conf_env(ix_conf_t *conf, const char *default_db, spec_precision_t precision, char *errstr,
                size_t errstr_size);

typedef struct ix_s ix_t;

/* Copies what it needs from conf.  NULL with errstr on failure. */
ix_t *ix_new(const ix_conf_t *conf, char *errstr, size_t errstr_size);
void ix_destroy(ix_t *ix);
const ix_conf_t *ix_conf(const ix_t *ix);
/* The write URL (no credentials in it), for logs. */
const char *ix_write_url(const ix_t *ix);

/* The st_t kinds (st.h) where they mean the same, plus "too large". */
typedef enum {
        IX_OK = ST_OK,            /* 2xx: every point written */
        IX_RETRY = ST_RETRY,      /* try the same request again later */
        IX_REJECTED = ST_INVALID, /* 400/422: (some) lines rejected; `message` says why */
        IX_TOO_LARGE = 16,        /* 413: split the batch */
} ix_class_t;

typedef struct ix_result_s {
        ix_class_t cls;
        long status;            /* HTTP status; 0 for a network error */
        const char *cause;      /* retries: "network" "429" "503" "5xx" "auth" "not_found" "4xx" */
        int64_t retry_after_ms; /* from Retry-After; -1 when absent */
        char message[1024];     /* InfluxDB's error text ("error"/"message"), or
                                 * libcurl's for a network error ("Failed to
                                 * connect to 127.0.0.1 port 8086 after 0 ms:
                                 * Couldn't connect to server") */
} ix_result_t;

/* One request with body[0..len) (line protocol, uncompressed).  Fills *res
 * and returns res->cls. */
ix_class_t ix_send(ix_t *ix, const char *body, size_t len, ix_result_t *res);

/* Delay before retry number `attempt` (0-based): d = min(max,
 * initial·2^attempt), then "equal jitter" — a value in [d/2, d] picked by
 * `rnd` — so many sinks retrying together spread out. */
int64_t ix_backoff_ms(const ix_conf_t *conf, unsigned attempt, uint32_t rnd);

/* ------------------------------------------------------------- batches */

/* One line of a batch and where it came from. */
typedef struct ix_line_s {
        size_t off, len;         /* in body, '\n' included */
        size_t key_off, key_len; /* in keys */
        size_t tp_off, tp_len;   /* the record's traceparent header, in keys (0: none) */
        int64_t time_ms;         /* event time (window end) */
        int64_t offset;          /* Kafka offset */
        int32_t partition;
        int topic; /* the caller's topic index */
} ix_line_t;

typedef struct ix_batch_s {
        buf_t body; /* the lines, back to back */
        buf_t keys; /* record keys, for DLQ records */
        ix_line_t *lines;
        size_t n, cap;
        int64_t first_ms; /* monotonic ms of the first line (flush by time) */
} ix_batch_t;

/* Records the line the caller just appended to b->body at `off`, with the
 * record's key and traceparent (tp may be NULL) for a DLQ record.
 * Returns 0 or -1 (out of memory: the line is removed again). */
int ix_batch_push(ix_batch_t *b, const ix_line_t *line, const char *key, size_t key_len,
                  const void *tp, size_t tp_len);
void ix_batch_clear(ix_batch_t *b);
void ix_batch_free(ix_batch_t *b);

/* Line i was rejected by the database (res->message says why). */
typedef void (*ix_rejected_cb)(void *opaque, const ix_batch_t *b, size_t i, const ix_result_t *res);

/* Where the delivery of one batch stands between two calls of
 * ix_flush_step(): the ranges of lines still to write (a stack: bisection
 * pushes halves) and the failed attempts in a row.  Zero it (or
 * ix_flush_reset()) before a new batch. */
typedef struct ix_flush_s {
        size_t lo[64], hi[64]; /* 64 levels of halving: any size_t batch */
        int depth;
        int active;       /* the batch's ranges are set up */
        unsigned attempt; /* consecutive failed attempts */
        uint32_t rnd;     /* jitter */
        ix_result_t last; /* the last failed attempt */
} ix_flush_t;

void ix_flush_reset(ix_flush_t *f);

/* Writes what is left of `b`: each line is written or handed to
 * `rejected`.  Returns ST_OK when that is done (InfluxDB acknowledged the
 * batch; f is reset), or ST_RETRY when InfluxDB cannot take it now:
 * *retry_ms is when to call again (capped exponential backoff with jitter,
 * or Retry-After when longer) and f->last says why.  Never waits itself. */
st_t ix_flush_step(ix_t *ix, ix_flush_t *f, const ix_batch_t *b, ix_rejected_cb rejected,
                   void *opaque, int64_t *retry_ms);

typedef struct ix_flush_cbs_s {
        /* Waits `ms` before a retry.  `why` is the failed attempt.  Returns
         * non-zero to give up (shutdown). */
        int (*wait)(void *opaque, int64_t ms, const ix_result_t *why);
        ix_rejected_cb rejected;
        void *opaque;
} ix_flush_cbs_t;

/* ix_flush_step() until done, calling `wait` between attempts (tools and
 * tests; the sink's loop waits by pausing consumption instead).  Returns 0
 * when the batch is through, -1 when `wait` gave up. */
int ix_flush(ix_t *ix, const ix_batch_t *b, const ix_flush_cbs_t *cbs);

#endif
