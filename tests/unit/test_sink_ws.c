/* Unit tests for the sink's WebSocket feed pieces that need no network:
 * subscription parsing and matching (ws_filter), the JSON string writer,
 * the publish inbox (including concurrent publishers), frames and the
 * per-client drop-oldest queue (ws_queue), and the server's settings
 * (ws_conf_env, ws_server_new refusing bad ones). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/sink/ws.h"
#include "../../services/sink/ws_filter.h"
#include "../../services/sink/ws_page.h"
#include "../../services/sink/ws_queue.h"
#include "metrics.h"
#include "th.h"

static char err[256];

static int parse(ws_filter_t *f, const char *s) {
        return ws_filter_parse(f, s, strlen(s), err, sizeof(err));
}

static void test_filter_empty_matches_all(void) {
        ws_filter_t f = {0};
        TH_CHECK_INT(parse(&f, "{\"subscribe\": {}}"), 0);
        TH_CHECK(ws_filter_match(&f, "aggregate", "t", "k", 1, NULL));
        TH_CHECK(ws_filter_match(&f, "alert", "t", "k", 1, "INFO"));
        TH_CHECK_INT(parse(&f, "{\"subscribe\": {\"topics\": [], \"keys\": []}}"), 0);
        TH_CHECK(ws_filter_match(&f, "alert", "x", "", 0, "CRITICAL"));
        ws_filter_free(&f);
}

static void test_filter_lists(void) {
        ws_filter_t f = {0};
        TH_CHECK_INT(parse(&f, "{\"subscribe\": {\"topics\": [\"b\", \"a\"], \"keys\": [\"k3\", "
                               "\"k1\", \"k2\"], \"kinds\": [\"aggregate\"]}}"),
                     0);
        TH_CHECK(ws_filter_match(&f, "aggregate", "a", "k1", 2, NULL));
        TH_CHECK(ws_filter_match(&f, "aggregate", "b", "k3", 2, NULL));
        TH_CHECK(!ws_filter_match(&f, "aggregate", "c", "k1", 2, NULL)); /* topic */
        TH_CHECK(!ws_filter_match(&f, "aggregate", "a", "k4", 2, NULL)); /* key */
        TH_CHECK(!ws_filter_match(&f, "aggregate", "a", "k", 1, NULL));  /* prefix only */
        TH_CHECK(!ws_filter_match(&f, "aggregate", "a", "k12", 3, NULL));
        TH_CHECK(!ws_filter_match(&f, "alert", "a", "k1", 2, "INFO")); /* kind */
        /* the key is length-delimited: "k1" inside a longer buffer */
        TH_CHECK(ws_filter_match(&f, "aggregate", "a", "k1xyz", 2, NULL));
        ws_filter_free(&f);
}

static void test_filter_severity(void) {
        ws_filter_t f = {0};
        TH_CHECK_INT(parse(&f, "{\"subscribe\": {\"min_severity\": \"warning\"}}"), 0);
        TH_CHECK(!ws_filter_match(&f, "alert", "t", "k", 1, "INFO"));
        TH_CHECK(ws_filter_match(&f, "alert", "t", "k", 1, "WARNING"));
        TH_CHECK(ws_filter_match(&f, "alert", "t", "k", 1, "CRITICAL"));
        TH_CHECK(!ws_filter_match(&f, "alert", "t", "k", 1, "BOGUS"));
        /* events without a severity (aggregates) are not filtered by it */
        TH_CHECK(ws_filter_match(&f, "aggregate", "t", "k", 1, NULL));
        TH_CHECK_INT(parse(&f, "{\"subscribe\": {\"severity\": [\"INFO\", \"CRITICAL\"]}}"), 0);
        TH_CHECK(ws_filter_match(&f, "alert", "t", "k", 1, "INFO"));
        TH_CHECK(!ws_filter_match(&f, "alert", "t", "k", 1, "WARNING"));
        TH_CHECK(ws_filter_match(&f, "alert", "t", "k", 1, "CRITICAL"));
        buf_t b = BUF_INIT;
        TH_CHECK_INT(ws_filter_json(&f, &b), 0);
        TH_CHECK_INT(buf_nul(&b), 0);
        TH_CHECK_STR(
                b.data,
                "{\"topics\":[],\"keys\":[],\"kinds\":[],\"severity\":[\"INFO\",\"CRITICAL\"]}");
        buf_free(&b);
        ws_filter_free(&f);
}

static void test_filter_errors(void) {
        ws_filter_t f = {0};
        TH_CHECK_INT(parse(&f, "{\"subscribe\": {\"keys\": [\"keep\"]}}"), 0);
        static const struct {
                const char *in, *err;
        } cases[] = {
                {"", "not JSON"},
                {"{\"subscribe\": {}", "not JSON"},
                {"hello", "not JSON"},
                {"{\"subscribe\": {}} x", "text after the JSON value"},
                {"[1]", "$: expected {\"subscribe\": {...}}"},
                {"{\"subscribe\": {}, \"other\": 1}", "$: expected"},
                {"{\"subscribe\": []}", "$.subscribe: expected an object"},
                {"{\"subscribe\": {\"key\": []}}", "$.subscribe.key: unknown member"},
                {"{\"subscribe\": {\"keys\": \"k\"}}", "$.subscribe.keys: expected an array"},
                {"{\"subscribe\": {\"keys\": [\"a\", 2]}}",
                 "$.subscribe.keys[1]: expected a string"},
                {"{\"subscribe\": {\"severity\": [\"LOUD\"]}}",
                 "$.subscribe.severity[0]: expected"},
                {"{\"subscribe\": {\"min_severity\": 3}}", "$.subscribe.min_severity: expected"},
                {"{\"subscribe\": {\"severity\": [], \"min_severity\": \"INFO\"}}", "either"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                err[0] = '\0';
                TH_CHECK_INT(parse(&f, cases[i].in), -1);
                TH_CHECK_HAS(err, cases[i].err);
        }
        /* a failed parse keeps the previous subscription */
        TH_CHECK(ws_filter_match(&f, "aggregate", "t", "keep", 4, NULL));
        TH_CHECK(!ws_filter_match(&f, "aggregate", "t", "other", 5, NULL));
        /* too many entries */
        buf_t b = BUF_INIT;
        buf_append(&b, "{\"subscribe\":{\"keys\":[", 22);
        for (int i = 0; i <= WS_FILTER_MAX_ITEMS; i++)
                buf_append(&b, i ? ",\"k\"" : "\"k\"", i ? 4 : 3);
        buf_append(&b, "]}}", 3);
        TH_CHECK_INT(ws_filter_parse(&f, b.data, b.len, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "more than 1024 entries");
        buf_free(&b);
        ws_filter_free(&f);
}

static void test_json_str(void) {
        buf_t b = BUF_INIT;
        TH_CHECK_INT(ws_json_str(&b, "a\"b\\c\n\x01", 7), 0);
        buf_nul(&b);
        TH_CHECK_STR(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\"");
        b.len = 0;
        /* valid multi-byte kept, invalid bytes (lone continuation, overlong,
         * surrogate, truncated) replaced by U+FFFD */
        const char in[] = "\xC3\xA9|\x80|\xC0\xAF|\xED\xA0\x80|\xE2\x82";
        TH_CHECK_INT(ws_json_str(&b, in, sizeof(in) - 1), 0);
        buf_nul(&b);
        TH_CHECK_STR(b.data, "\"\xC3\xA9|\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF"
                             "\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD\"");
        buf_free(&b);
}

static void test_inbox_roundtrip(void) {
        ws_inbox_t in;
        TH_CHECK_INT(ws_inbox_init(&in, 4096), 0);
        ws_event_t a = {"aggregate", "agg", "k\0x", 3, NULL, "{\"v\":1}", 7, 1000};
        ws_event_t b = {"alert", "al", "k2", 2, "CRITICAL", "[]", 2, 2000};
        TH_CHECK_INT(ws_inbox_put(&in, &a), 0);
        TH_CHECK_INT(ws_inbox_put(&in, &b), 0);
        buf_t t = BUF_INIT;
        ws_inbox_take(&in, &t);
        TH_CHECK_INT(in.buf.len, 0);
        size_t off = 0;
        ws_event_t e;
        TH_CHECK_INT(ws_inbox_next(&t, &off, &e), 1);
        TH_CHECK_STR(e.kind, "aggregate");
        TH_CHECK_STR(e.topic, "agg");
        TH_CHECK_INT(e.key_len, 3);
        TH_CHECK(memcmp(e.key, "k\0x", 3) == 0);
        TH_CHECK(e.severity == NULL);
        TH_CHECK_STR(e.json, "{\"v\":1}");
        TH_CHECK_INT(e.event_time_ms, 1000);
        TH_CHECK_INT(ws_inbox_next(&t, &off, &e), 1);
        TH_CHECK_STR(e.severity, "CRITICAL");
        TH_CHECK_STR(e.key, "k2");
        TH_CHECK_INT(e.event_time_ms, 2000);
        TH_CHECK_INT(ws_inbox_next(&t, &off, &e), 0);
        /* full: refused, and what was there is intact */
        char big[3000];
        memset(big, 'x', sizeof(big));
        ws_event_t c = {"aggregate", "agg", "k", 1, NULL, big, sizeof(big), 1};
        TH_CHECK_INT(ws_inbox_put(&in, &c), 0);
        TH_CHECK_INT(ws_inbox_put(&in, &c), -1);
        ws_inbox_take(&in, &t);
        off = 0;
        int n = 0;
        while (ws_inbox_next(&t, &off, &e))
                n++;
        TH_CHECK_INT(n, 1);
        TH_CHECK_INT(e.json_len, sizeof(big));
        buf_free(&t);
        ws_inbox_destroy(&in);
}

#define NPUB    4
#define PER_PUB 20000
static ws_inbox_t shared_in;

static void *publisher(void *arg) {
        int id = (int)(intptr_t)arg;
        char key[16], json[32];
        for (int i = 0; i < PER_PUB; i++) {
                int kl = snprintf(key, sizeof(key), "p%d", id);
                int jl = snprintf(json, sizeof(json), "%d", i);
                ws_event_t ev = {"aggregate", "t", key, (size_t)kl, NULL, json, (size_t)jl, i};
                while (ws_inbox_put(&shared_in, &ev) != 0)
                        ; /* full: the consumer below drains it */
        }
        return NULL;
}

static void test_inbox_concurrent(void) {
        TH_CHECK_INT(ws_inbox_init(&shared_in, 64 * 1024), 0);
        pthread_t th[NPUB];
        for (int i = 0; i < NPUB; i++)
                pthread_create(&th[i], NULL, publisher, (void *)(intptr_t)i);
        int next[NPUB] = {0}, bad = 0;
        long total = 0;
        buf_t t = BUF_INIT;
        while (total < (long)NPUB * PER_PUB) {
                ws_inbox_take(&shared_in, &t);
                size_t off = 0;
                ws_event_t e;
                while (ws_inbox_next(&t, &off, &e)) {
                        int p = e.key[1] - '0';
                        /* per publisher, events arrive whole and in order */
                        if (p < 0 || p >= NPUB || atoi(e.json) != next[p] ||
                            e.event_time_ms != next[p])
                                bad++;
                        else
                                next[p]++;
                        total++;
                }
        }
        for (int i = 0; i < NPUB; i++)
                pthread_join(th[i], NULL);
        TH_CHECK_INT(bad, 0);
        TH_CHECK_INT(total, (long)NPUB * PER_PUB);
        buf_free(&t);
        ws_inbox_destroy(&shared_in);
}

static ws_frame_t *frame(uint64_t seq, size_t nevents, size_t len) {
        char body[512];
        memset(body, 'e', sizeof(body));
        int64_t times[16] = {0};
        return ws_frame_new(seq, body, len, times, nevents, 16);
}

static void test_frame_text(void) {
        int64_t times[2] = {5, 6};
        const char body[] = "\"events\":[1,2]}";
        ws_frame_t *f = ws_frame_new(42, body, sizeof(body) - 1, times, 2, 16);
        TH_CHECK(f != NULL);
        if (!f)
                return;
        size_t len;
        char *t = ws_frame_text(f, 0, &len);
        TH_CHECK_INT(len, strlen("{\"seq\":42,\"events\":[1,2]}"));
        TH_CHECK(memcmp(t, "{\"seq\":42,\"events\":[1,2]}", len) == 0);
        TH_CHECK((unsigned char *)t - f->mem >= (long)(16 + 2 * sizeof(int64_t)));
        t = ws_frame_text(f, 18446744073709551615ull, &len);
        const char *want = "{\"seq\":42,\"dropped\":18446744073709551615,\"events\":[1,2]}";
        TH_CHECK_INT(len, strlen(want));
        TH_CHECK(memcmp(t, want, len) == 0);
        TH_CHECK((unsigned char *)t - f->mem >= (long)(16 + 2 * sizeof(int64_t)));
        TH_CHECK_INT(f->times[1], 6);
        free(f);
}

static void test_queue_drop_oldest(void) {
        ws_cq_t q = {0};
        q.next_seq = 1;
        TH_CHECK_INT(ws_cq_push(&q, frame(1, 3, 100), 300, 1000), 0);
        TH_CHECK_INT(ws_cq_push(&q, frame(2, 4, 100), 300, 1000), 0);
        TH_CHECK_INT(ws_cq_push(&q, frame(3, 5, 100), 300, 1000), 0);
        TH_CHECK_INT(q.bytes, 300);
        TH_CHECK_INT(q.over_since_ms, 0);
        /* 150 more: the two oldest go (3 + 4 events) */
        TH_CHECK_INT(ws_cq_push(&q, frame(4, 6, 150), 300, 2000), 7);
        TH_CHECK_INT(q.frames, 2);
        TH_CHECK_INT(q.bytes, 250);
        TH_CHECK_INT(q.dropped_owed, 7);
        TH_CHECK_INT(q.over_since_ms, 2000);
        /* a frame larger than the bound is dropped itself */
        TH_CHECK_INT(ws_cq_push(&q, frame(5, 2, 400), 300, 3000), 2);
        TH_CHECK_INT(q.frames, 2);
        TH_CHECK_INT(q.dropped_total, 9);
        TH_CHECK_INT(q.over_since_ms, 2000); /* still the first drop's time */
        /* dropping down to an empty queue while pushing keeps the time */
        TH_CHECK_INT(ws_cq_push(&q, frame(6, 1, 300), 300, 4000), 11);
        TH_CHECK_INT(q.frames, 1);
        TH_CHECK_INT(q.over_since_ms, 2000);
        ws_frame_t *f = ws_cq_pop(&q);
        TH_CHECK_INT(f->seq, 6);
        free(f);
        /* the client caught up: the slow clock stops */
        TH_CHECK_INT(q.over_since_ms, 0);
        TH_CHECK(ws_cq_pop(&q) == NULL);
        TH_CHECK_INT(ws_cq_push(&q, frame(7, 1, 10), 300, 5000), 0);
        ws_cq_clear(&q);
        TH_CHECK_INT(q.bytes, 0);
        TH_CHECK(q.head == NULL);
}

static void test_page_build(void) {
        size_t len = 0;
        unsigned char *b = ws_page_build("/live-feed", 16, &len);
        TH_CHECK(b != NULL);
        if (!b)
                return;
        char *page = strndup((char *)b + 16, len);
        TH_CHECK_HAS(page, "var WS_PATH = \"/live-feed\";");
        TH_CHECK(strstr(page, "{{WS_PATH}}") == NULL);
        TH_CHECK(strncmp(page, "<!doctype html>", 15) == 0);
        TH_CHECK_HAS(page, "</html>");
        TH_CHECK_INT(len, (size_t)ws_page_html_size - strlen("{{WS_PATH}}") + strlen("/live-feed"));
        free(page);
        free(b);
}

static void test_conf_env(void) {
        ws_conf_t c;
        ws_conf_defaults(&c);
        TH_CHECK_INT(c.port, 8080);
        TH_CHECK_STR(c.path, "/ws");
        TH_CHECK_INT(c.batch_ms, 5);
        setenv("SINK_HTTP_PORT", "9001", 1);
        setenv("SINK_WS_CLIENT_QUEUE", "64KiB", 1);
        setenv("SINK_WS_SLOW_TIMEOUT", "3s", 1);
        setenv("SINK_DASHBOARD", "off", 1);
        TH_CHECK_INT(ws_conf_env(&c, err, sizeof(err)), 0);
        TH_CHECK_INT(c.port, 9001);
        TH_CHECK_INT(c.queue_bytes_per_client, 65536);
        TH_CHECK_INT(c.slow_timeout_ms, 3000);
        TH_CHECK_INT(c.dashboard, 0);
        setenv("SINK_HTTP_PORT", "70000", 1);
        TH_CHECK_INT(ws_conf_env(&c, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "SINK_HTTP_PORT");
        unsetenv("SINK_HTTP_PORT");
        setenv("SINK_WS_BATCH", "soon", 1);
        TH_CHECK_INT(ws_conf_env(&c, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "SINK_WS_BATCH");
        unsetenv("SINK_WS_BATCH");
        TH_CHECK_INT((int)c.snapshot_max_keys, 10000);
        setenv("SINK_SNAPSHOT_MAX_KEYS", "0", 1);
        TH_CHECK_INT(ws_conf_env(&c, err, sizeof(err)), 0);
        TH_CHECK_INT((int)c.snapshot_max_keys, 0);
        setenv("SINK_SNAPSHOT_MAX_KEYS", "-1", 1);
        TH_CHECK_INT(ws_conf_env(&c, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "SINK_SNAPSHOT_MAX_KEYS");
        unsetenv("SINK_SNAPSHOT_MAX_KEYS");
        unsetenv("SINK_WS_CLIENT_QUEUE");
        unsetenv("SINK_WS_SLOW_TIMEOUT");
        unsetenv("SINK_DASHBOARD");
}

static void test_server_refuses_bad_settings(void) {
        ws_conf_t c;
        ws_conf_defaults(&c);
        c.port = 0;
        c.path = "/";
        TH_CHECK(ws_server_new(&c, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "WebSocket path \"/\"");
        c.path = "/ws\"><script>";
        TH_CHECK(ws_server_new(&c, err, sizeof(err)) == NULL);
        c.path = "/ws";
        c.idle_timeout_ms = c.ping_interval_ms;
        TH_CHECK(ws_server_new(&c, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "SINK_WS_IDLE_TIMEOUT");
}

static void test_server_lifecycle(void) {
        ws_conf_t c;
        ws_conf_defaults(&c);
        c.port = 0;
        c.bind = "127.0.0.1";
        ws_server_t *ws = ws_server_new(&c, err, sizeof(err));
        TH_CHECK(ws != NULL);
        if (!ws)
                return;
        TH_CHECK(ws_server_port(ws) > 0);
        TH_CHECK_INT(ws_server_clients(ws), 1); /* the snapshot store, on by default */
        /* no client: publishing only feeds the snapshot and never blocks */
        ws_event_t ev = {"aggregate", "t", "k", 1, NULL, "{}", 2, 0};
        for (int i = 0; i < 100000; i++)
                ws_publish(ws, &ev);
        ws_publish(ws, NULL);
        ws_publish(NULL, &ev);
        /* the port is taken while it runs */
        ws_conf_t c2 = c;
        c2.port = ws_server_port(ws);
        ws_server_t *ws2 = ws_server_new(&c2, err, sizeof(err));
        TH_CHECK(ws2 == NULL);
        TH_CHECK_HAS(err, "cannot listen on 127.0.0.1");
        ws_server_destroy(ws2);
        ws_server_destroy(ws);
        ws_server_destroy(NULL);
        metrics_reset();
}

static void test_server_without_snapshot(void) {
        ws_conf_t c;
        ws_conf_defaults(&c);
        c.port = 0;
        c.bind = "127.0.0.1";
        c.snapshot_max_keys = 0;
        ws_server_t *ws = ws_server_new(&c, err, sizeof(err));
        TH_CHECK(ws != NULL);
        if (ws)
                TH_CHECK_INT(ws_server_clients(ws), 0); /* nobody: the sink skips its JSON */
        ws_server_destroy(ws);
        metrics_reset();
}

TH_MAIN("sink_ws", TH_T(test_filter_empty_matches_all), TH_T(test_filter_lists),
        TH_T(test_filter_severity), TH_T(test_filter_errors), TH_T(test_json_str),
        TH_T(test_inbox_roundtrip), TH_T(test_inbox_concurrent), TH_T(test_frame_text),
        TH_T(test_queue_drop_oldest), TH_T(test_page_build), TH_T(test_conf_env),
        TH_T(test_server_refuses_bad_settings), TH_T(test_server_lifecycle),
        TH_T(test_server_without_snapshot))
