/* ws — the sink's WebSocket live feed and dashboard page (libwebsockets).
 *
 * One HTTP port serves:
 *   GET / and GET /dashboard   the live dashboard page (embedded in the binary)
 *   <path> (default "/ws")     the WebSocket feed
 * The protocol is documented in docs/sink.md ("WebSocket feed"): a client
 * sends {"subscribe": {"topics": [...], "keys": [...], "kinds": [...],
 * "severity": [...] | "min_severity": "..."}}, and gets, at most batch_ms
 * after an event was published, a frame {"seq": n, "dropped": d, "events": [...]} of the matching
 * events, with per-client sequence numbers (a gap means frames were dropped).
 *
 * Threads: ws_server_new() starts one service thread that owns every client.
 * ws_publish() may be called from any thread: it copies the event into a
 * bounded inbox under a mutex held only for a memcpy, never blocks on the
 * network, and counts a drop when the inbox is full; the first event into
 * an empty inbox wakes the service thread, which drains the inbox batch_ms
 * later (a linger, like a producer's linger.ms), filters per client and
 * queues frames.  A publisher that has drained its own input says so with
 * ws_server_flush(): what it published then goes out at once instead of
 * waiting out the linger (a group flush, like compute's COMMIT_IDLE).
 *
 * Slow clients: each client has a queue bounded by queue_bytes_per_client.
 * When a new frame does not fit, the OLDEST queued frames are dropped (their
 * events are counted in the next frame's "dropped" and their seq numbers are
 * missing); a client that stays over its bound for slow_timeout_ms is closed
 * with 1008 "slow consumer".  Nothing a client does slows the others or the
 * publisher.
 *
 * Metrics (metrics_ registry): weir_sink_ws_clients,
 * weir_sink_ws_events_published_total, weir_sink_ws_events_pushed_total,
 * weir_sink_ws_frames_pushed_total, weir_sink_ws_events_dropped_total{reason},
 * weir_sink_ws_closed_total{reason}, weir_sink_ws_push_latency_seconds
 * (event_time_ms → the frame handed to the socket), and the snapshot's
 * weir_sink_ws_snapshot_entries and weir_sink_ws_snapshot_evictions_total.
 *
 * Snapshot (ws_snap.h): the service thread keeps the latest event per key
 * and window and the FIRING alerts, fed by every event published whether or
 * not a client is connected; a client that subscribes is sent what its
 * filter passes, before its live frames. */
#ifndef WEIR_SINK_WS_H
#define WEIR_SINK_WS_H

#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "cfg_tab.h"

typedef struct ws_server_s ws_server_t;

typedef struct {
        const char *bind;              /* listen address; NULL or "" = all (0.0.0.0) */
        int port;                      /* 1..65535; 0 = any free port (ws_server_port) */
        const char *path;              /* WebSocket URL path, e.g. "/ws" (not "/") */
        int max_clients;               /* WebSocket clients at once; more get HTTP 503 */
        size_t queue_bytes_per_client; /* queued frame bytes per client before drop-oldest */
        size_t inbox_bytes;            /* events published but not yet batched (all clients) */
        size_t max_message_bytes;      /* largest client message accepted (else 1009) */
        int batch_ms;                  /* a frame waits at most this long for more events */
        int ping_interval_ms;          /* a PING after this long without traffic */
        int idle_timeout_ms;           /* hang up after this long without a PONG/traffic */
        int slow_timeout_ms;           /* close (1008) a client over its bound this long */
        int dashboard;                 /* serve the dashboard page at / and /dashboard */
        size_t snapshot_max_keys;      /* snapshot entries (ws_snap.h) kept; 0 = no snapshot */
        admin_beat_t *beat;            /* NULL, or beaten by the service thread each turn */
} ws_conf_t;

/* The SINK_HTTP_* / SINK_WS_* / SINK_DASHBOARD / SINK_SNAPSHOT_MAX_KEYS
 * settings with their defaults and ranges (ws_conf.c; docs/sink.md is
 * generated from it). */
extern const cfg_tab_t ws_conf_tab;

/* Fills `conf` with the table's defaults, and path "/ws". */
void ws_conf_defaults(ws_conf_t *conf);

/* Loads ws_conf_tab from the environment into `conf` (a variable unset
 * takes the table's default).  conf->path is left alone: it comes from the
 * pipeline spec (sink.websocket.path).  Returns 0, or -1 with errstr
 * naming the variable. */
int ws_conf_env(ws_conf_t *conf, char *errstr, size_t errstr_size);

/* Starts listening and the service thread.  `conf` is copied (strings
 * too).  Returns NULL with errstr set on a bad setting or a port that cannot
 * be bound.  Free with ws_server_destroy(). */
ws_server_t *ws_server_new(const ws_conf_t *conf, char *errstr, size_t errstr_size);

/* The port listened on (useful with conf->port 0). */
int ws_server_port(const ws_server_t *ws);

/* Consumers of what ws_publish() is handed: the connected WebSocket
 * clients, plus one for the snapshot store when it is on (it must see every
 * event for a client connecting later).  0: publishing would be wasted, so
 * a publisher may skip building the event (the sink skips its JSON). */
int ws_server_clients(const ws_server_t *ws);

typedef struct {
        const char *kind;  /* "aggregate" | "alert" (any short string is passed on) */
        const char *topic; /* Kafka topic the record came from */
        const char *key;   /* record key (UTF-8; not NUL-terminated) */
        size_t key_len;
        const char *severity; /* alerts: "INFO" | "WARNING" | "CRITICAL"; else NULL */
        const char *json;     /* the record as one JSON value, valid UTF-8 (e.g.
                               * av_value_to_json with AV_JSON_PLAIN_UNIONS) */
        size_t json_len;
        int64_t event_time_ms; /* Unix ms the latency histogram measures from */
} ws_event_t;

/* Hands one event to the feed.  Any thread; never blocks; copies everything
 * it keeps (the caller may reuse its buffers at once).  Returns at once when
 * no client is connected and the snapshot is off; counts a drop when the
 * inbox is full.  The service thread keeps it in the snapshot store, whose
 * content a client is sent when it subscribes, before the live frames. */
void ws_publish(ws_server_t *ws, const ws_event_t *ev);

/* The publisher has nothing more for now (its input is drained): the events
 * published so far go out at once, in one frame per client, not batch_ms
 * after the first.  Any thread; never blocks; a no-op when nothing waits.
 * Under a steady stream the input never drains and batch_ms still bounds
 * the wait. */
void ws_server_flush(ws_server_t *ws);

/* Closes every client (1001 going away), stops the thread, frees.  NULL ok. */
void ws_server_destroy(ws_server_t *ws);

#endif
