/* ig_conf — ingress's own settings: one cfg_tab table (ig_conf.c), which
 * also generates the settings table of docs/ingress.md. */
#ifndef WEIR_IG_CONF_H
#define WEIR_IG_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "cfg_tab.h"

typedef struct ig_conf_s {
        const char *bind;           /* HTTP_BIND */
        uint16_t port;              /* HTTP_PORT (0: pick a free one, logged) */
        unsigned threads;           /* INGRESS_THREADS: HTTP worker threads */
        size_t max_body;            /* INGRESS_MAX_BODY_BYTES */
        size_t max_header;          /* INGRESS_MAX_HEADER_BYTES: request line + headers */
        size_t max_records;         /* INGRESS_MAX_RECORDS */
        unsigned max_conns;         /* INGRESS_MAX_CONNECTIONS */
        unsigned max_conns_per_ip;  /* INGRESS_MAX_CONNECTIONS_PER_IP (0: no limit) */
        int64_t inflight_bytes;     /* INGRESS_INFLIGHT_BYTES */
        int64_t idle_timeout_ms;    /* INGRESS_IDLE_TIMEOUT */
        int64_t request_timeout_ms; /* INGRESS_REQUEST_TIMEOUT */
        int64_t produce_timeout_ms; /* INGRESS_PRODUCE_TIMEOUT → message.timeout.ms */
        int64_t shutdown_grace_ms;  /* INGRESS_SHUTDOWN_GRACE */
        int64_t retry_after_ms;     /* INGRESS_RETRY_AFTER */
        int64_t retry_after_s;      /* ... in whole seconds, rounded up */
        const char *tokens_file;    /* INGRESS_TOKENS_FILE, or NULL */
        const char *topics;         /* INGRESS_TOPICS, or NULL */
} ig_conf_t;

extern const cfg_tab_t ig_conf_tab;

/* 0, or -1 with errstr naming the variable. */
int ig_conf_load(ig_conf_t *c, char *errstr, size_t errstr_size);

#endif
