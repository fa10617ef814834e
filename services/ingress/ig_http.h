/* ig_http — ingress's HTTP server (libmicrohttpd) and the path from a
 * request to acknowledged Kafka records.
 *
 *   POST /topics/{topic}     REST Proxy v2 produce (ig_rest.h)
 *   POST /v1/events/{topic}  NDJSON bulk
 *
 * Per request: route, auth, topic, Content-Type and Content-Length are
 * checked when the headers arrive (a too-large body is answered 413 before
 * any of it is read); the body is collected; ig_parse() converts every
 * record; partitions named are checked against the topic's partition count;
 * a batch with an invalid record is answered 422 (404 when only partitions
 * were wrong) and nothing of it is produced; otherwise the in-flight budget (bytes, and
 * librdkafka's queue.buffering.max.messages in records) is reserved or the request is answered 429
 * with Retry-After; the records are produced without blocking and the connection is suspended.  The
 * last delivery report (kc_dr batch `done`, in the producer's polling thread) resumes it, and the
 * answer carries every record's partition and offset: 200 only when Kafka acknowledged all of them.
 *
 * Threads: INGRESS_THREADS libmicrohttpd worker threads, each with its own
 * parse buffers; none ever waits on Kafka. */
#ifndef WEIR_IG_HTTP_H
#define WEIR_IG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ig_auth.h"
#include "ig_conf.h"
#include "ig_rest.h"
#include "kc.h"

typedef struct ig_server_s ig_server_t;

typedef struct ig_server_opts_s {
        const ig_conf_t *conf;
        kc_t *kc;                 /* producer with kc_poll_start() running */
        const ig_topic_t *topics; /* topics accepted; must outlive the server */
        size_t ntopics;
        const ig_auth_t *auth;      /* NULL: no authentication */
        av_schema_lookup_cb lookup; /* value_schema_id look-ups, or NULL */
        void *lookup_opaque;
        size_t queue_max_records; /* librdkafka's queue.buffering.max.messages */
        size_t max_record_bytes;  /* message.max.bytes less room for headers */
} ig_server_opts_t;

/* Starts listening.  NULL with errstr set. */
ig_server_t *ig_server_start(const ig_server_opts_t *o, char *errstr, size_t errstr_size);
/* Stops accepting connections (the listening socket is closed); requests
 * on open connections still complete. */
void ig_server_quiesce(ig_server_t *s);
/* Topic `topic` (index in opts.topics) has n partitions (broker metadata;
 * 0: unknown).  Records naming a partition are checked against it before
 * anything of their request is produced: past it, 404 (40402); unknown,
 * 503. */
void ig_server_set_partitions(ig_server_t *s, size_t topic, int32_t n);
/* 1 (once) when a request named a partition past a topic's known count or
 * while it was unknown: the caller should refresh the metadata soon. */
int ig_server_want_metadata(ig_server_t *s);
/* Requests begun and not yet answered. */
size_t ig_server_active(const ig_server_t *s);
/* Records handed to the producer whose requests are not answered yet
 * (each such request is suspended until its last record settles). */
size_t ig_server_inflight_records(const ig_server_t *s);
/* Refreshes the queue and in-flight gauges (main loop, once a second). */
void ig_server_gauges(ig_server_t *s);
/* Replaces the producer after Kafka refused it fatally (librdkafka ends an
 * idempotent producer denied the cluster's IdempotentWrite): requests get
 * 503 meanwhile; once none is in flight on the old producer, renew(old,
 * opaque) returns its replacement (having destroyed old) or NULL (old is
 * kept).  Returns the producer now in use.  Main thread. */
kc_t *ig_server_swap_kc(ig_server_t *s, kc_t *(*renew)(kc_t *old, void *opaque), void *opaque);
/* Closes every connection (a request still arriving is cut) and frees the
 * server.  Call when no request is suspended (ig_server_inflight_records()
 * == 0: none is, or the producer was purged and every batch settled). */
void ig_server_stop(ig_server_t *s);

#endif
