/* ig_conf — ingress settings from the environment.  See ig_conf.h. */
#include <string.h>

#include "cfg.h"
#include "ig_conf.h"

int ig_conf_load(ig_conf_t *c, char *errstr, size_t errstr_size) {
        int64_t v;
        memset(c, 0, sizeof(*c));
        if (cfg_str("HTTP_BIND", "0.0.0.0", &c->bind, errstr, errstr_size))
                return -1;
        if (cfg_int("HTTP_PORT", 8080, 0, 65535, &v, errstr, errstr_size))
                return -1;
        c->port = (uint16_t)v;
        if (cfg_int("INGRESS_THREADS", 2, 1, 64, &v, errstr, errstr_size))
                return -1;
        c->threads = (unsigned)v;
        if (cfg_size_bytes("INGRESS_MAX_BODY_BYTES", 16 << 20, 64, (int64_t)1 << 30, &v, errstr,
                           errstr_size))
                return -1;
        c->max_body = (size_t)v;
        /* At most 64 KiB: libmicrohttpd's per-connection memory (128 KiB,
         * ig_http) must hold the headers for ingress to see the request at
         * all; past that libmicrohttpd answers 431 itself. */
        if (cfg_size_bytes("INGRESS_MAX_HEADER_BYTES", 32 << 10, 1024, 64 << 10, &v, errstr,
                           errstr_size))
                return -1;
        c->max_header = (size_t)v;
        if (cfg_int("INGRESS_MAX_RECORDS", 10000, 1, 1000000, &v, errstr, errstr_size))
                return -1;
        c->max_records = (size_t)v;
        if (cfg_int("INGRESS_MAX_CONNECTIONS", 1000, 1, 100000, &v, errstr, errstr_size))
                return -1;
        c->max_conns = (unsigned)v;
        if (cfg_int("INGRESS_MAX_CONNECTIONS_PER_IP", 0, 0, 100000, &v, errstr, errstr_size))
                return -1;
        c->max_conns_per_ip = (unsigned)v;
        if (cfg_size_bytes("INGRESS_INFLIGHT_BYTES", 64 << 20, 1, (int64_t)1 << 40,
                           &c->inflight_bytes, errstr, errstr_size))
                return -1;
        if (cfg_duration_ms("INGRESS_IDLE_TIMEOUT", 30000, 1000, 3600000, &c->idle_timeout_ms,
                            errstr, errstr_size))
                return -1;
        if (cfg_duration_ms("INGRESS_REQUEST_TIMEOUT", 60000, 100, 3600000, &c->request_timeout_ms,
                            errstr, errstr_size))
                return -1;
        if (cfg_duration_ms("INGRESS_PRODUCE_TIMEOUT", 30000, 1000, 3600000, &c->produce_timeout_ms,
                            errstr, errstr_size))
                return -1;
        if (cfg_duration_ms("INGRESS_SHUTDOWN_GRACE", 25000, 0, 3600000, &c->shutdown_grace_ms,
                            errstr, errstr_size))
                return -1;
        if (cfg_duration_ms("INGRESS_RETRY_AFTER", 1000, 1000, 3600000, &v, errstr, errstr_size))
                return -1;
        c->retry_after_s = (v + 999) / 1000;
        if (cfg_str("INGRESS_TOKENS_FILE", NULL, &c->tokens_file, errstr, errstr_size))
                return -1;
        if (cfg_str("INGRESS_TOPICS", NULL, &c->topics, errstr, errstr_size))
                return -1;
        return 0;
}
