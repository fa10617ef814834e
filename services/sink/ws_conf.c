/* ws_conf — the WebSocket feed's settings table (SINK_HTTP_* / SINK_WS_*,
 * docs/sink.md is generated from it). */
#include <string.h>

#include "cfg_tab.h"
#include "ws.h"

#define F(m) CFG_FIELD(ws_conf_t, m)
static const cfg_def_t ws_conf_rows[] = {
        {.name = "SINK_HTTP_BIND",
         .type = CFG_STR,
         F(bind),
         .def_doc = "all addresses",
         .form = "an IPv4 address",
         .doc = "listen address of the feed and the page"},
        {.name = "SINK_HTTP_PORT",
         .type = CFG_INT,
         F(port),
         .def = "8080",
         .min = 0,
         .max = 65535,
         .doc = "port of the feed and the page (`0`: any free port, logged)"},
        {.name = "SINK_WS_MAX_CLIENTS",
         .type = CFG_INT,
         F(max_clients),
         .def = "1000",
         .min = 1,
         .max = 1000000,
         .doc = "WebSocket clients at once; more are refused at the handshake"},
        {.name = "SINK_WS_CLIENT_QUEUE",
         .type = CFG_SIZE,
         F(queue_bytes_per_client),
         .def = "256KiB",
         .min = 4096,
         .max = 1LL << 30,
         .doc = "frame bytes queued per client before drop-oldest starts"},
        {.name = "SINK_WS_SLOW_TIMEOUT",
         .type = CFG_DURATION,
         F(slow_timeout_ms),
         .def = "10s",
         .min = 100,
         .max = 3600000,
         .doc = "a client still dropping frames this long is closed (1008)"},
        {.name = "SINK_WS_BATCH",
         .type = CFG_DURATION,
         F(batch_ms),
         .def = "5ms",
         .min = 0,
         .max = 10000,
         .doc = "the longest an event waits for others to share its frame (`0`: none); frames "
                "leave sooner, as soon as the sink has drained what its consumer fetched"},
        {.name = "SINK_WS_PING_INTERVAL",
         .type = CFG_DURATION,
         F(ping_interval_ms),
         .def = "20s",
         .min = 1000,
         .max = 3600000,
         .doc = "a PING after this long without a valid frame from the client"},
        {.name = "SINK_WS_IDLE_TIMEOUT",
         .type = CFG_DURATION,
         F(idle_timeout_ms),
         .def = "60s",
         .min = 2000,
         .max = 3600000,
         .doc = "hang up after this long without one (must exceed the ping interval)"},
        {.name = "SINK_WS_MAX_MESSAGE",
         .type = CFG_SIZE,
         F(max_message_bytes),
         .def = "4KiB",
         .min = 256,
         .max = 1 << 20,
         .doc = "largest client message (else close 1009)"},
        {.name = "SINK_WS_INBOX",
         .type = CFG_SIZE,
         F(inbox_bytes),
         .def = "8MiB",
         .min = 65536,
         .max = 4LL << 30,
         .doc = "records published but not yet batched, all clients together"},
        {.name = "SINK_DASHBOARD",
         .type = CFG_BOOL,
         F(dashboard),
         .def = "true",
         .doc = "serve the page at `/` and `/dashboard`"},
        {.name = "SINK_SNAPSHOT_MAX_KEYS",
         .type = CFG_INT,
         F(snapshot_max_keys),
         .def = "10000",
         .min = 0,
         .max = 1000000,
         .doc = "entries of the snapshot store (latest per key and window, firing alerts) sent "
                "to a client on subscribing; `0`: no snapshot"},
};
#undef F

const cfg_tab_t ws_conf_tab = CFG_TAB("sink-ws", ws_conf_rows);

void ws_conf_defaults(ws_conf_t *c) {
        memset(c, 0, sizeof(*c));
        cfg_tab_defaults(&ws_conf_tab, NULL, c);
        c->path = "/ws";
}

int ws_conf_env(ws_conf_t *c, char *errstr, size_t errstr_size) {
        return cfg_tab_load(&ws_conf_tab, NULL, c, errstr, errstr_size);
}
