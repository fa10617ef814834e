/* ig_conf — ingress's settings table.  See ig_conf.h. */
#include "ig_conf.h"

#include <string.h>

#include "cfg_tab.h"

#define F(m) CFG_FIELD(ig_conf_t, m)

static const cfg_def_t ig_conf_rows[] = {
        {.name = "HTTP_BIND",
         .type = CFG_STR,
         F(bind),
         .def = "0.0.0.0",
         .form = "an IPv4 address",
         .doc = "address the HTTP API listens on"},
        {.name = "HTTP_PORT",
         .type = CFG_INT,
         F(port),
         .def = "8080",
         .min = 0,
         .max = 65535,
         .doc = "port of the HTTP API (0: any free one, logged)"},
        {.name = "INGRESS_THREADS",
         .type = CFG_INT,
         F(threads),
         .def = "2",
         .min = 1,
         .max = 64,
         .doc = "HTTP worker threads (libmicrohttpd thread pool)"},
        {.name = "INGRESS_MAX_BODY_BYTES",
         .type = CFG_SIZE,
         F(max_body),
         .def = "16MiB",
         .min = 64,
         .max = 1LL << 30,
         .doc = "largest request body (413)"},
        /* At most 64 KiB: libmicrohttpd's per-connection memory (128 KiB,
         * ig_http) must hold the headers for ingress to see the request at
         * all; past that libmicrohttpd answers 431 itself. */
        {.name = "INGRESS_MAX_HEADER_BYTES",
         .type = CFG_SIZE,
         F(max_header),
         .def = "32KiB",
         .min = 1024,
         .max = 64 << 10,
         .doc = "largest request line + headers (431)"},
        {.name = "INGRESS_MAX_RECORDS",
         .type = CFG_INT,
         F(max_records),
         .def = "10000",
         .min = 1,
         .max = 1000000,
         .doc = "most records per request (413); must not exceed `queue.buffering.max.messages`"},
        {.name = "INGRESS_MAX_CONNECTIONS",
         .type = CFG_INT,
         F(max_conns),
         .def = "1000",
         .min = 1,
         .max = 100000,
         .doc = "open connections; more are refused"},
        {.name = "INGRESS_MAX_CONNECTIONS_PER_IP",
         .type = CFG_INT,
         F(max_conns_per_ip),
         .def = "0",
         .min = 0,
         .max = 100000,
         .doc = "open connections per client address (0: no limit)"},
        {.name = "INGRESS_INFLIGHT_BYTES",
         .type = CFG_SIZE,
         F(inflight_bytes),
         .def = "64MiB",
         .min = 1,
         .max = 1LL << 40,
         .doc = "encoded bytes awaiting delivery reports; a request that would pass it gets 429 "
                "(a request alone may exceed it)"},
        {.name = "INGRESS_IDLE_TIMEOUT",
         .type = CFG_DURATION,
         F(idle_timeout_ms),
         .def = "30s",
         .min = 1000,
         .max = 3600000,
         .doc = "connection inactivity: slow headers, slow body, idle keep-alive"},
        {.name = "INGRESS_REQUEST_TIMEOUT",
         .type = CFG_DURATION,
         F(request_timeout_ms),
         .def = "60s",
         .min = 100,
         .max = 3600000,
         .doc = "the whole body must arrive within this"},
        {.name = "INGRESS_PRODUCE_TIMEOUT",
         .type = CFG_DURATION,
         F(produce_timeout_ms),
         .def = "30s",
         .min = 1000,
         .max = 3600000,
         .doc = "librdkafka `message.timeout.ms`: how long a record may wait for Kafka before "
                "its request is answered 503 (`KAFKA_MESSAGE_TIMEOUT_MS` overrides)"},
        {.name = "INGRESS_SHUTDOWN_GRACE",
         .type = CFG_DURATION,
         F(shutdown_grace_ms),
         .def = "25s",
         .min = 0,
         .max = 3600000,
         .doc = "on SIGTERM, time for in-flight requests (keep it under the pod's "
                "terminationGracePeriodSeconds)"},
        {.name = "INGRESS_RETRY_AFTER",
         .type = CFG_DURATION,
         F(retry_after_ms),
         .def = "1s",
         .min = 1000,
         .max = 3600000,
         .doc = "the `Retry-After` of 429/503 answers (whole seconds, rounded up)"},
        {.name = "INGRESS_TOKENS_FILE",
         .type = CFG_STR,
         F(tokens_file),
         .form = "a path",
         .doc = "bearer tokens, one a line, `#` comments; unset: no authentication. A file (a "
                "mounted Secret): the tokens are never in the environment"},
        {.name = "INGRESS_TOPICS",
         .type = CFG_STR,
         F(topics),
         .form = "`topic=Schema.FullName[:key_field],...`",
         .doc = "extra topics ingress writes, besides the pipeline's input"},
};

const cfg_tab_t ig_conf_tab = CFG_TAB("ingress", ig_conf_rows);

int ig_conf_load(ig_conf_t *c, char *errstr, size_t errstr_size) {
        memset(c, 0, sizeof(*c));
        if (cfg_tab_load(&ig_conf_tab, NULL, c, errstr, errstr_size) == -1)
                return -1;
        c->retry_after_s = (c->retry_after_ms + 999) / 1000;
        return 0;
}
