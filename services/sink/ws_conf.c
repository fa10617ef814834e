/* ws_conf — the WebSocket feed's settings: defaults and the SINK_HTTP_* /
 * SINK_WS_* environment variables (cfg_), documented in ws.h and
 * docs/sink.md. */
#include <string.h>

#include "cfg.h"
#include "ws.h"

void ws_conf_defaults(ws_conf_t *c) {
        memset(c, 0, sizeof(*c));
        c->port = 8080;
        c->path = "/ws";
        c->max_clients = 1000;
        c->queue_bytes_per_client = 256 * 1024;
        c->inbox_bytes = 8 * 1024 * 1024;
        c->max_message_bytes = 4096;
        c->batch_ms = 5;
        c->ping_interval_ms = 20000;
        c->idle_timeout_ms = 60000;
        c->slow_timeout_ms = 10000;
        c->dashboard = 1;
        c->snapshot_max_keys = 10000;
}

int ws_conf_env(ws_conf_t *c, char *errstr, size_t errstr_size) {
        int64_t v;
        const char *s;
        if (cfg_str("SINK_HTTP_BIND", c->bind, &s, errstr, errstr_size))
                return -1;
        c->bind = s;
        if (cfg_int("SINK_HTTP_PORT", c->port, 0, 65535, &v, errstr, errstr_size))
                return -1;
        c->port = (int)v;
        if (cfg_int("SINK_WS_MAX_CLIENTS", c->max_clients, 1, 1000000, &v, errstr, errstr_size))
                return -1;
        c->max_clients = (int)v;
        if (cfg_int("SINK_SNAPSHOT_MAX_KEYS", (int64_t)c->snapshot_max_keys, 0, 1000000, &v, errstr,
                    errstr_size))
                return -1;
        c->snapshot_max_keys = (size_t)v;
#define SIZE(name, field, lo, hi)                                                                  \
        do {                                                                                       \
                if (cfg_size_bytes(name, (int64_t)c->field, lo, hi, &v, errstr, errstr_size))      \
                        return -1;                                                                 \
                c->field = (size_t)v;                                                              \
        } while (0)
#define DUR(name, field, lo, hi)                                                                   \
        do {                                                                                       \
                if (cfg_duration_ms(name, c->field, lo, hi, &v, errstr, errstr_size))              \
                        return -1;                                                                 \
                c->field = (int)v;                                                                 \
        } while (0)
        SIZE("SINK_WS_CLIENT_QUEUE", queue_bytes_per_client, 4096, 1LL << 30);
        SIZE("SINK_WS_INBOX", inbox_bytes, 65536, 4LL << 30);
        SIZE("SINK_WS_MAX_MESSAGE", max_message_bytes, 256, 1 << 20);
        DUR("SINK_WS_BATCH", batch_ms, 0, 10000);
        DUR("SINK_WS_PING_INTERVAL", ping_interval_ms, 1000, 3600000);
        DUR("SINK_WS_IDLE_TIMEOUT", idle_timeout_ms, 2000, 3600000);
        DUR("SINK_WS_SLOW_TIMEOUT", slow_timeout_ms, 100, 3600000);
#undef SIZE
#undef DUR
        return cfg_bool("SINK_DASHBOARD", c->dashboard, &c->dashboard, errstr, errstr_size);
}
