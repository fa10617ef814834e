/* ws_server — the sink's HTTP port: the WebSocket feed and the dashboard page
 * (libwebsockets 4.1).  API and policy in ws.h; the wire protocol in
 * docs/sink.md.
 *
 * One service thread runs lws and owns every client.  The first event
 * published into an empty inbox wakes it (lws_cancel_service); batch_ms
 * later a tick takes the whole inbox at once (ws_queue), renders each event's JSON once,
 * then for each subscribed client copies the matching renderings into one
 * frame and queues it (drop-oldest when over the client's bound).  Frames go
 * out one per WRITEABLE callback, so a client whose socket is full simply
 * stops being written to; its queue, not anyone else's, absorbs that. */
#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clk.h"
#include "dl.h"
#include "log.h"
#include "metrics.h"
#include "vec.h"
#include "ws.h"
#include "ws_filter.h"
#include "ws_page.h"
#include "ws_queue.h"
#include "ws_snap.h"

/* Characters a WebSocket path may hold (it is also written into the page). */
#define PATH_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-~"

typedef struct ws_client_s {
        dl_node_t link; /* in ws->clients */
        struct lws *wsi;
        int is_ws, page_pending, subscribed, closing;
        const char *close_label; /* weir_sink_ws_closed_total reason */
        ws_filter_t filter;
        ws_cq_t q;
        buf_t rx;  /* client message being reassembled */
        buf_t ack; /* LWS_PRE room + a pending {"subscribed":..} answer */
} ws_client_t;

typedef struct {
        size_t off, len; /* rendering in srv->frags */
        ws_event_t ev;   /* pointers into srv->taken */
} tick_ev_t;

struct ws_server_s {
        ws_conf_t conf;
        char *bind, *path;
        struct lws_context *ctx;
        struct lws_vhost *vh;
        struct lws_protocols protocols[2];
        lws_retry_bo_t retry;
        lws_sorted_usec_list_t sul;
        /* Set by the publisher that finds no flush coming (then it wakes the
         * service thread); cleared by tick() before it takes the inbox, so
         * an event put after the take always arms the next flush. */
        atomic_int armed;
        atomic_int flush_now; /* ws_server_flush(): tick without the linger */
        int flush_pending;    /* service thread: the tick scheduled is a flush */
        pthread_t thread;
        int thread_started;
        atomic_int stop;
        atomic_int nclients;
        int port;
        size_t frame_max;
        dl_list_t clients; /* ws_client_t.link; the session memory is lws's */
        ws_inbox_t inbox;
        buf_t taken, frags, scratch;
        tick_ev_t *evs;
        size_t evcap, timecap;
        int64_t *times;
        ws_snap_t *snap;       /* the latest per key/window and firing alerts; NULL: off */
        uint64_t snap_evicted; /* evictions already counted in the metric */
        unsigned char *page;   /* LWS_PRE + the page */
        size_t page_len;
        metrics_child_t *m_clients, *m_published, *m_pushed, *m_frames, *m_drop_inbox, *m_drop_slow,
                *m_latency, *m_closed_slow, *m_closed_bad, *m_closed_refused, *m_closed_other,
                *m_closed_shutdown, *m_snap_entries, *m_snap_evicted;
};

/* ------------------------------------------------------------ clients */

static void client_close(ws_server_t *ws, ws_client_t *c, enum lws_close_status code,
                         const char *reason, const char *label) {
        (void)ws;
        if (c->closing)
                return;
        c->closing = 1;
        c->close_label = label;
        size_t n = strlen(reason);
        if (n > 123) /* a close frame's payload is at most 125 bytes with the code */
                n = 123;
        lws_close_reason(c->wsi, code, (unsigned char *)(uintptr_t)reason, n);
}

static void client_gone(ws_server_t *ws, ws_client_t *c) {
        dl_unlink(&ws->clients, &c->link);
        const char *l = c->close_label ? c->close_label : "other";
        metrics_inc(strcmp(l, "slow_client") == 0   ? ws->m_closed_slow
                    : strcmp(l, "bad_message") == 0 ? ws->m_closed_bad
                    : strcmp(l, "shutdown") == 0    ? ws->m_closed_shutdown
                                                    : ws->m_closed_other,
                    1);
        ws_filter_free(&c->filter);
        ws_cq_clear(&c->q);
        buf_free(&c->rx);
        buf_free(&c->ack);
        c->is_ws = 0;
        atomic_fetch_sub(&ws->nclients, 1);
        metrics_set(ws->m_clients, atomic_load(&ws->nclients));
}

static int snapshot_frame(void *opaque, const char *body, size_t len, size_t nevents) {
        void **a = opaque;
        ws_server_t *ws = a[0];
        ws_client_t *c = a[1];
        ws_frame_t *f = ws_frame_new(c->q.next_seq++, body, len, NULL, nevents, LWS_PRE);
        if (!f)
                return -1;
        size_t dropped = ws_cq_push(&c->q, f, ws->conf.queue_bytes_per_client, clk_wall_ms());
        if (dropped)
                metrics_inc(ws->m_drop_slow, (double)dropped);
        return 0;
}

/* Queues the snapshot the client's (new) filter passes, before any live
 * frame: the store holds every event taken from the inbox so far, and the
 * next tick's frames carry only later ones, so nothing is missed or sent
 * twice between the two. */
static void send_snapshot(ws_server_t *ws, ws_client_t *c) {
        if (!ws->snap)
                return;
        void *a[2] = {ws, c};
        if (ws_snap_frames(ws->snap, &c->filter, ws->frame_max, &ws->scratch, snapshot_frame, a))
                log_warn("ws", "out of memory for a client's snapshot");
}

/* A complete client message: a subscription, answered with what was
 * understood; anything else closes the connection (1007, with the reason). */
static int client_message(ws_server_t *ws, ws_client_t *c) {
        char err[160];
        if (ws_filter_parse(&c->filter, c->rx.data, c->rx.len, err, sizeof(err))) {
                client_close(ws, c, LWS_CLOSE_STATUS_INVALID_PAYLOAD, err, "bad_message");
                return -1;
        }
        c->rx.len = 0;
        c->subscribed = 1;
        c->ack.len = 0;
        if (buf_reserve(&c->ack, LWS_PRE) == 0) {
                c->ack.len = LWS_PRE;
                if (buf_append(&c->ack, "{\"subscribed\":", 14) ||
                    ws_filter_json(&c->filter, &c->ack) || buf_append(&c->ack, "}", 1))
                        c->ack.len = 0;
        }
        send_snapshot(ws, c);
        lws_callback_on_writable(c->wsi);
        return 0;
}

static int client_writeable(ws_server_t *ws, ws_client_t *c) {
        if (c->closing)
                return -1; /* lws sends the close frame with the reason set */
        if (c->ack.len > LWS_PRE) {
                size_t n = c->ack.len - LWS_PRE;
                c->ack.len = 0;
                if (lws_write(c->wsi, (unsigned char *)c->ack.data + LWS_PRE, n, LWS_WRITE_TEXT) <
                    (int)n)
                        return -1;
                if (c->q.head)
                        lws_callback_on_writable(c->wsi);
                return 0;
        }
        ws_frame_t *f = ws_cq_pop(&c->q);
        if (!f)
                return 0;
        size_t len;
        char *text = ws_frame_text(f, c->q.dropped_owed, &len);
        c->q.dropped_owed = 0;
        int n = lws_write(c->wsi, (unsigned char *)text, len, LWS_WRITE_TEXT);
        int64_t now = clk_wall_ms();
        for (size_t i = 0; f->times && i < f->nevents; i++)
                metrics_observe(ws->m_latency, (double)(now - f->times[i]) / 1000.0);
        metrics_inc(ws->m_pushed, (double)f->nevents);
        metrics_inc(ws->m_frames, 1);
        free(f);
        if (n < (int)len)
                return -1;
        if (c->q.head)
                lws_callback_on_writable(c->wsi);
        return 0;
}

static int client_receive(ws_server_t *ws, ws_client_t *c, const void *in, size_t len) {
        if (c->closing)
                return -1;
        if (lws_frame_is_binary(c->wsi)) {
                client_close(ws, c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                             "binary messages are not accepted", "bad_message");
                return -1;
        }
        if (c->rx.len + len + lws_remaining_packet_payload(c->wsi) > ws->conf.max_message_bytes) {
                char reason[64];
                snprintf(reason, sizeof(reason), "message larger than %zu bytes",
                         ws->conf.max_message_bytes);
                client_close(ws, c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, reason, "bad_message");
                return -1;
        }
        if (buf_append(&c->rx, in, len))
                return -1;
        if (!lws_is_final_fragment(c->wsi))
                return 0;
        return client_message(ws, c);
}

/* ------------------------------------------------------------ the tick */

static int render_event(ws_server_t *ws, const ws_event_t *ev) {
        buf_t *b = &ws->frags;
        char num[32];
        if (buf_append(b, "{\"kind\":", 8) || ws_json_str(b, ev->kind, strlen(ev->kind)) ||
            buf_append(b, ",\"topic\":", 9) || ws_json_str(b, ev->topic, strlen(ev->topic)) ||
            buf_append(b, ",\"key\":", 7) || ws_json_str(b, ev->key, ev->key_len))
                return -1;
        if (ev->severity && (buf_append(b, ",\"severity\":", 12) ||
                             ws_json_str(b, ev->severity, strlen(ev->severity))))
                return -1;
        int n = snprintf(num, sizeof(num), ",\"time\":%lld", (long long)ev->event_time_ms);
        if (buf_append(b, num, (size_t)n) || buf_append(b, ",\"data\":", 8))
                return -1;
        if (ev->json_len ? buf_append(b, ev->json, ev->json_len) : buf_append(b, "null", 4))
                return -1;
        return buf_append(b, "}", 1);
}

static void queue_frame(ws_server_t *ws, ws_client_t *c, size_t nevents, int64_t now) {
        ws_frame_t *f = NULL;
        if (buf_append(&ws->scratch, "]}", 2) == 0)
                f = ws_frame_new(c->q.next_seq, ws->scratch.data, ws->scratch.len, ws->times,
                                 nevents, LWS_PRE);
        c->q.next_seq++; /* a frame lost to memory is a gap like any other */
        size_t dropped;
        if (!f) {
                c->q.dropped_owed += nevents;
                c->q.dropped_total += nevents;
                dropped = nevents;
        } else {
                dropped = ws_cq_push(&c->q, f, ws->conf.queue_bytes_per_client, now);
        }
        if (dropped)
                metrics_inc(ws->m_drop_slow, (double)dropped);
        lws_callback_on_writable(c->wsi);
}

static void client_tick(ws_server_t *ws, ws_client_t *c, size_t nevs, int64_t now) {
        size_t n = 0;
        ws->scratch.len = 0;
        for (size_t i = 0; i < nevs; i++) {
                const ws_event_t *ev = &ws->evs[i].ev;
                if (!ws_filter_match(&c->filter, ev->kind, ev->topic, ev->key, ev->key_len,
                                     ev->severity))
                        continue;
                if (n && ws->scratch.len + ws->evs[i].len > ws->frame_max) {
                        queue_frame(ws, c, n, now);
                        n = 0;
                        ws->scratch.len = 0;
                }
                if ((n == 0 && buf_append(&ws->scratch, "\"events\":[", 10)) ||
                    (n && buf_append(&ws->scratch, ",", 1)) ||
                    buf_append(&ws->scratch, ws->frags.data + ws->evs[i].off, ws->evs[i].len)) {
                        ws->scratch.len = 0;
                        n = 0;
                        continue;
                }
                ws->times[n++] = ev->event_time_ms;
        }
        if (n)
                queue_frame(ws, c, n, now);
        if (c->q.over_since_ms && now - c->q.over_since_ms >= ws->conf.slow_timeout_ms) {
                log_warn("ws",
                         "closing a slow client: over its %zu-byte queue for %d ms, %llu "
                         "events dropped",
                         ws->conf.queue_bytes_per_client, ws->conf.slow_timeout_ms,
                         (unsigned long long)c->q.dropped_total);
                client_close(ws, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer",
                             "slow_client");
                /* Its socket is full, so WRITEABLE may never come: close now. */
                lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
}

/* Without events, the slow-client checks still run this often. */
#define WS_HOUSEKEEPING_MS 100

static void tick(lws_sorted_usec_list_t *sul) {
        ws_server_t *ws = lws_container_of(sul, ws_server_t, sul);
        ws->flush_pending = 0;
        atomic_store(&ws->armed, 0);
        ws_inbox_take(&ws->inbox, &ws->taken);
        size_t nevs = 0, off = 0;
        ws_event_t ev;
        ws->frags.len = 0;
        while (ws_inbox_next(&ws->taken, &off, &ev)) {
                if (VEC_RESERVE(ws->evs, ws->evcap, nevs + 1) == -1 ||
                    VEC_RESERVE(ws->times, ws->timecap, nevs + 1) == -1) {
                        metrics_inc(ws->m_drop_inbox, 1);
                        continue;
                }
                size_t start = ws->frags.len;
                if (render_event(ws, &ev)) {
                        ws->frags.len = start;
                        metrics_inc(ws->m_drop_inbox, 1);
                        continue;
                }
                if (ws->snap && ws_snap_put(ws->snap, &ev, ws->frags.data + start,
                                            ws->frags.len - start) == WS_SNAP_NOMEM)
                        log_warn("ws", "out of memory for the snapshot store");
                ws->evs[nevs].off = start;
                ws->evs[nevs].len = ws->frags.len - start;
                ws->evs[nevs].ev = ev;
                nevs++;
        }
        if (ws->snap) {
                uint64_t ev_n = ws_snap_evictions(ws->snap);
                metrics_inc(ws->m_snap_evicted, (double)(ev_n - ws->snap_evicted));
                ws->snap_evicted = ev_n;
                metrics_set(ws->m_snap_entries, (double)ws_snap_count(ws->snap));
        }
        int64_t now = clk_wall_ms();
        for (dl_node_t *n = ws->clients.head; n; n = n->next) {
                ws_client_t *c = DL_ENTRY(n, ws_client_t, link);
                if (c->subscribed && !c->closing)
                        client_tick(ws, c, nevs, now);
        }
        lws_sul_schedule(ws->ctx, 0, &ws->sul, tick, (lws_usec_t)WS_HOUSEKEEPING_MS * 1000);
}

/* Service thread, after each lws_service(): events are waiting and no
 * flush is scheduled yet, so one goes out batch_ms from now (earlier than
 * the housekeeping tick it replaces).  Scheduled once per batch, never
 * pushed back by later events: a frame waits at most batch_ms.  After
 * ws_server_flush() it goes out now, even if one was scheduled. */
static void arm_flush(ws_server_t *ws) {
        if (!atomic_load(&ws->armed))
                return;
        int now = atomic_exchange(&ws->flush_now, 0);
        if (ws->flush_pending && !now)
                return;
        ws->flush_pending = 1;
        lws_sul_schedule(ws->ctx, 0, &ws->sul, tick,
                         now ? 0 : (lws_usec_t)ws->conf.batch_ms * 1000);
}

/* ------------------------------------------------------------ lws glue */

static int serve_page(ws_server_t *ws, struct lws *wsi, ws_client_t *c, const char *uri) {
        if (!ws->conf.dashboard || (strcmp(uri, "/") != 0 && strcmp(uri, "/dashboard") != 0 &&
                                    strcmp(uri, "/index.html") != 0)) {
                if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
                        return -1;
                return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
                                          *end = buf + sizeof(buf) - 1;
        if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/html; charset=utf-8",
                                        ws->page_len, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
                return -1;
        c->page_pending = 1;
        lws_callback_on_writable(wsi);
        return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
        struct lws_vhost *vh = lws_get_vhost(wsi);
        ws_server_t *ws = vh ? lws_get_vhost_user(vh) : NULL;
        ws_client_t *c = user;
        char uri[256];
        if (!ws)
                return lws_callback_http_dummy(wsi, reason, user, in, len);
        switch (reason) {
        case LWS_CALLBACK_HTTP:
                return serve_page(ws, wsi, c, in ? (const char *)in : "");
        case LWS_CALLBACK_HTTP_WRITEABLE:
                if (!c || !c->page_pending)
                        break;
                c->page_pending = 0;
                if (lws_write(wsi, ws->page + LWS_PRE, ws->page_len, LWS_WRITE_HTTP_FINAL) <
                    (int)ws->page_len)
                        return -1;
                return lws_http_transaction_completed(wsi) ? -1 : 0;
        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
                if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
                    strcmp(uri, ws->path) != 0)
                        return 1; /* not our endpoint: refuse the upgrade */
                if (atomic_load(&ws->nclients) >= ws->conf.max_clients) {
                        metrics_inc(ws->m_closed_refused, 1);
                        log_warn("ws", "refusing a WebSocket client: %d connected (max_clients)",
                                 ws->conf.max_clients);
                        return 1;
                }
                break;
        case LWS_CALLBACK_ESTABLISHED:
                memset(c, 0, sizeof(*c));
                c->wsi = wsi;
                c->is_ws = 1;
                c->q.next_seq = 1;
                dl_push_front(&ws->clients, &c->link);
                atomic_fetch_add(&ws->nclients, 1);
                metrics_set(ws->m_clients, atomic_load(&ws->nclients));
                break;
        case LWS_CALLBACK_CLOSED:
                if (c && c->is_ws)
                        client_gone(ws, c);
                break;
        case LWS_CALLBACK_RECEIVE:
                return client_receive(ws, c, in, len);
        case LWS_CALLBACK_SERVER_WRITEABLE:
                return client_writeable(ws, c);
        default:
                break;
        }
        return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void lws_log(int level, const char *line) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                n--;
        log_write(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", NULL, "%.*s", (int)n, line);
}

static void *service_main(void *arg) {
        ws_server_t *ws = arg;
        /* lws_service() returns at least every WS_HOUSEKEEPING_MS (tick). */
        while (!atomic_load(&ws->stop)) {
                admin_beat(ws->conf.beat);
                lws_service(ws->ctx, 0);
                arm_flush(ws);
        }
        admin_beat_end(ws->conf.beat);
        /* Say goodbye (1001) to every client, give the close frames a moment. */
        for (dl_node_t *n = ws->clients.head; n; n = n->next) {
                ws_client_t *c = DL_ENTRY(n, ws_client_t, link);
                client_close(ws, c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down", "shutdown");
                lws_callback_on_writable(c->wsi);
        }
        int64_t deadline = clk_wall_ms() + 300;
        while (ws->clients.head && clk_wall_ms() < deadline)
                lws_service(ws->ctx, 0);
        return NULL;
}

static void init_metrics(ws_server_t *ws) {
        static const double lat[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                     2.5,   5,    10,    30,   60,  120,  300};
        ws->m_clients = metrics_gauge("weir_sink_ws_clients", "WebSocket clients connected.");
        ws->m_published = metrics_counter("weir_sink_ws_events_published_total",
                                          "Events handed to the WebSocket feed.");
        ws->m_pushed = metrics_counter("weir_sink_ws_events_pushed_total",
                                       "Events written to WebSocket clients (once per client).");
        ws->m_frames = metrics_counter("weir_sink_ws_frames_pushed_total",
                                       "Frames (micro-batches) written to WebSocket clients.");
        metrics_family_t *d = metrics_counter_family(
                "weir_sink_ws_events_dropped_total",
                "Events not delivered: inbox full (publisher side) or a slow client's queue full.",
                "reason");
        ws->m_drop_inbox = metrics_child(d, "inbox_full");
        ws->m_drop_slow = metrics_child(d, "slow_client");
        metrics_family_t *cl = metrics_counter_family(
                "weir_sink_ws_closed_total", "WebSocket connections ended or refused, by cause.",
                "reason");
        ws->m_closed_slow = metrics_child(cl, "slow_client");
        ws->m_closed_bad = metrics_child(cl, "bad_message");
        ws->m_closed_refused = metrics_child(cl, "max_clients");
        ws->m_closed_other = metrics_child(cl, "other");
        ws->m_closed_shutdown = metrics_child(cl, "shutdown");
        ws->m_latency = metrics_histogram(
                "weir_sink_ws_push_latency_seconds",
                "From an event's time to its frame being written to a WebSocket client.", lat,
                sizeof(lat) / sizeof(lat[0]));
        ws->m_snap_entries = metrics_gauge(
                "weir_sink_ws_snapshot_entries",
                "Entries in the snapshot store (latest per key and window, firing alerts).");
        ws->m_snap_evicted = metrics_counter(
                "weir_sink_ws_snapshot_evictions_total",
                "Snapshot entries evicted, least recently updated first (SINK_SNAPSHOT_MAX_KEYS).");
}

ws_server_t *ws_server_new(const ws_conf_t *conf, char *errstr, size_t errstr_size) {
        const char *path = conf->path ? conf->path : "/ws";
        if (path[0] != '/' || strcmp(path, "/") == 0 || strcmp(path, "/dashboard") == 0 ||
            strlen(path) > 200 || strspn(path, PATH_CHARS) != strlen(path)) {
                snprintf(errstr, errstr_size,
                         "WebSocket path \"%s\": expected a URL path starting with / other than "
                         "/ and /dashboard",
                         path);
                return NULL;
        }
        if (conf->idle_timeout_ms <= conf->ping_interval_ms) {
                snprintf(errstr, errstr_size,
                         "SINK_WS_IDLE_TIMEOUT (%d ms) must be longer than SINK_WS_PING_INTERVAL "
                         "(%d ms)",
                         conf->idle_timeout_ms, conf->ping_interval_ms);
                return NULL;
        }
        if (conf->port < 0 || conf->port > 65535 || conf->max_clients < 1 || conf->batch_ms < 0 ||
            conf->queue_bytes_per_client < 1024 || conf->inbox_bytes < 1024 ||
            conf->max_message_bytes < 16) {
                snprintf(errstr, errstr_size, "WebSocket settings out of range");
                return NULL;
        }
        ws_server_t *ws = calloc(1, sizeof(*ws));
        if (!ws) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ws->conf = *conf;
        ws->path = strdup(path);
        ws->bind = conf->bind && *conf->bind ? strdup(conf->bind) : NULL;
        ws->conf.path = ws->path;
        ws->conf.bind = ws->bind;
        size_t fm = conf->queue_bytes_per_client / 4;
        ws->frame_max = fm < 4096 ? 4096 : fm > 65536 ? 65536 : fm;
        ws->page = ws_page_build(path, LWS_PRE, &ws->page_len);
        if (conf->snapshot_max_keys)
                ws->snap = ws_snap_new(conf->snapshot_max_keys);
        if (!ws->path || (conf->bind && *conf->bind && !ws->bind) || !ws->page ||
            (conf->snapshot_max_keys && !ws->snap) ||
            ws_inbox_init(&ws->inbox, conf->inbox_bytes)) {
                snprintf(errstr, errstr_size, "out of memory");
                ws_snap_destroy(ws->snap);
                free(ws->page);
                free(ws->path);
                free(ws->bind);
                free(ws);
                return NULL;
        }
        init_metrics(ws);

        lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
        ws->protocols[0] = (struct lws_protocols){
                .name = "weir-feed",
                .callback = callback,
                .per_session_data_size = sizeof(ws_client_t),
                .rx_buffer_size = 4096,
        };
        int ping_s = conf->ping_interval_ms / 1000, idle_s = conf->idle_timeout_ms / 1000;
        ws->retry.secs_since_valid_ping = (uint16_t)(ping_s < 1       ? 1
                                                     : ping_s > 65535 ? 65535
                                                                      : ping_s);
        ws->retry.secs_since_valid_hangup = (uint16_t)(idle_s <= ws->retry.secs_since_valid_ping
                                                               ? ws->retry.secs_since_valid_ping + 1
                                                       : idle_s > 65535 ? 65535
                                                                        : idle_s);

        struct lws_context_creation_info info;
        memset(&info, 0, sizeof(info));
        info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
        info.gid = -1;
        info.uid = -1;
        info.port = conf->port;
        info.iface = ws->bind && strcmp(ws->bind, "0.0.0.0") != 0 && strcmp(ws->bind, "::") != 0
                             ? ws->bind
                             : NULL;
        if (info.iface && !strchr(info.iface, ':'))
                info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
        info.protocols = ws->protocols;
        info.vhost_name = "weir-sink";
        info.user = ws;
        info.retry_and_idle_policy = &ws->retry;
        info.timeout_secs = 10; /* handshake and HTTP request deadline */
        ws->ctx = lws_create_context(&info);
        if (ws->ctx)
                ws->vh = lws_create_vhost(ws->ctx, &info);
        if (!ws->ctx || !ws->vh) {
                snprintf(errstr, errstr_size,
                         "cannot listen on %s:%d (SINK_HTTP_BIND/SINK_HTTP_PORT)",
                         ws->bind ? ws->bind : "0.0.0.0", conf->port);
                ws_server_destroy(ws);
                return NULL;
        }
        ws->port = lws_get_vhost_listen_port(ws->vh);
        lws_sul_schedule(ws->ctx, 0, &ws->sul, tick, (lws_usec_t)WS_HOUSEKEEPING_MS * 1000);
        if (pthread_create(&ws->thread, NULL, service_main, ws)) {
                snprintf(errstr, errstr_size, "cannot start the WebSocket thread");
                ws_server_destroy(ws);
                return NULL;
        }
        ws->thread_started = 1;
        log_info("ws", "listening on %s:%d: WebSocket %s, dashboard %s",
                 ws->bind ? ws->bind : "0.0.0.0", ws->port, ws->path,
                 ws->conf.dashboard ? "/" : "off");
        return ws;
}

int ws_server_port(const ws_server_t *ws) {
        return ws->port;
}

int ws_server_clients(const ws_server_t *ws) {
        return atomic_load(&((ws_server_t *)(uintptr_t)ws)->nclients) + (ws->snap ? 1 : 0);
}

void ws_publish(ws_server_t *ws, const ws_event_t *ev) {
        if (!ws || !ev)
                return;
        metrics_inc(ws->m_published, 1);
        if (atomic_load(&ws->nclients) == 0 && !ws->snap)
                return;
        if (ws_inbox_put(&ws->inbox, ev))
                metrics_inc(ws->m_drop_inbox, 1);
        else if (!atomic_exchange(&ws->armed, 1))
                lws_cancel_service(ws->ctx);
}

void ws_server_flush(ws_server_t *ws) {
        /* Nothing armed: nothing published since the last tick took the
         * inbox.  A flag left set by a race with that tick only sends the
         * next event without the linger. */
        if (!ws || !atomic_load(&ws->armed))
                return;
        if (!atomic_exchange(&ws->flush_now, 1))
                lws_cancel_service(ws->ctx);
}

void ws_server_destroy(ws_server_t *ws) {
        if (!ws)
                return;
        if (ws->thread_started) {
                atomic_store(&ws->stop, 1);
                lws_cancel_service(ws->ctx);
                pthread_join(ws->thread, NULL);
        }
        if (ws->ctx) {
                lws_sul_cancel(&ws->sul);
                lws_context_destroy(ws->ctx);
        }
        ws_inbox_destroy(&ws->inbox);
        ws_snap_destroy(ws->snap);
        buf_free(&ws->taken);
        buf_free(&ws->frags);
        buf_free(&ws->scratch);
        free(ws->evs);
        free(ws->times);
        free(ws->page);
        free(ws->path);
        free(ws->bind);
        free(ws);
}
