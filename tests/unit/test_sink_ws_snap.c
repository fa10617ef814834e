/* Unit tests of the sink's snapshot store (services/sink/ws_snap.c): the
 * latest event per key and window wins, a RESOLVED alert removes its FIRING
 * one, the store never holds more than its bound (least recently updated
 * evicted, counted), the snapshot frames a subscriber gets pass its filter,
 * and the top-level JSON field scan the store reads the window, rule and
 * state with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/sink/ws_filter.h"
#include "../../services/sink/ws_snap.h"
#include "th.h"

static char err[256];

static int put_agg(ws_snap_t *s, const char *key, const char *window, int v) {
        char json[160], render[256];
        snprintf(json, sizeof(json), "{\"key\":\"%s\",\"window\":\"%s\",\"count\":%d}", key, window,
                 v);
        snprintf(render, sizeof(render), "{\"kind\":\"aggregate\",\"key\":\"%s\",\"v\":%d}", key,
                 v);
        ws_event_t ev = {"aggregate", "aggregates.enriched", key, strlen(key), NULL,
                         json,        strlen(json),          v};
        return ws_snap_put(s, &ev, render, strlen(render));
}

static int put_alert(ws_snap_t *s, const char *key, const char *rule, const char *state,
                     const char *sev) {
        char json[256], render[256];
        snprintf(json, sizeof(json),
                 "{\"rule\":\"%s\",\"key\":\"%s\",\"labels\":{\"state\":\"x\"},\"window\":\"1m\","
                 "\"state\":\"%s\"}",
                 rule, key, state);
        snprintf(render, sizeof(render), "{\"kind\":\"alert\",\"key\":\"%s\",\"rule\":\"%s\"}", key,
                 rule);
        ws_event_t ev = {"alert", "alerts.enriched", key, strlen(key), sev, json, strlen(json), 1};
        return ws_snap_put(s, &ev, render, strlen(render));
}

/* Collects the entries as "key=render" lines, oldest first. */
static int collect(void *opaque, const ws_event_t *ev, const char *render, size_t len) {
        char *out = opaque;
        size_t n = strlen(out);
        snprintf(out + n, 4096 - n, "%.*s|%s|%s=%.*s\n", (int)ev->key_len, ev->key, ev->kind,
                 ev->severity ? ev->severity : "-", (int)len, render);
        return 0;
}

static void dump(ws_snap_t *s, char *out) {
        out[0] = '\0';
        ws_snap_each(s, collect, out);
}

static void test_latest_wins_per_key_and_window(void) {
        ws_snap_t *s = ws_snap_new(100);
        char out[4096];
        TH_CHECK_INT(put_agg(s, "k1", "1m", 1), WS_SNAP_KEPT);
        TH_CHECK_INT(put_agg(s, "k1", "5m", 2), WS_SNAP_KEPT);
        TH_CHECK_INT(put_agg(s, "k2", "1m", 3), WS_SNAP_KEPT);
        TH_CHECK_INT(put_agg(s, "k1", "1m", 4), WS_SNAP_KEPT); /* replaces the first */
        TH_CHECK_INT((int)ws_snap_count(s), 3);
        dump(s, out);
        TH_CHECK_STR(out, "k1|aggregate|-={\"kind\":\"aggregate\",\"key\":\"k1\",\"v\":2}\n"
                          "k2|aggregate|-={\"kind\":\"aggregate\",\"key\":\"k2\",\"v\":3}\n"
                          "k1|aggregate|-={\"kind\":\"aggregate\",\"key\":\"k1\",\"v\":4}\n");
        /* a key that is a prefix of another, a key holding the separator */
        TH_CHECK_INT(put_agg(s, "k", "11m", 5), WS_SNAP_KEPT);
        TH_CHECK_INT((int)ws_snap_count(s), 4);
        TH_CHECK_INT((int)ws_snap_evictions(s), 0);
        ws_snap_destroy(s);
}

static void test_resolve_removes_firing_alert(void) {
        ws_snap_t *s = ws_snap_new(100);
        char out[4096];
        TH_CHECK_INT(put_alert(s, "k1", "congestion", "FIRING", "WARNING"), WS_SNAP_KEPT);
        TH_CHECK_INT(put_alert(s, "k1", "speed_drop", "FIRING", "CRITICAL"), WS_SNAP_KEPT);
        TH_CHECK_INT(put_alert(s, "k2", "congestion", "FIRING", "WARNING"), WS_SNAP_KEPT);
        TH_CHECK_INT(put_alert(s, "k1", "congestion", "FIRING", "WARNING"), WS_SNAP_KEPT);
        TH_CHECK_INT(put_agg(s, "k1", "1m", 7), WS_SNAP_KEPT); /* not an alert's identity */
        TH_CHECK_INT((int)ws_snap_count(s), 4);
        /* "state" inside labels is not the alert's state: the scan is top-level */
        TH_CHECK_INT(put_alert(s, "k1", "congestion", "RESOLVED", "WARNING"), WS_SNAP_REMOVED);
        TH_CHECK_INT((int)ws_snap_count(s), 3);
        dump(s, out);
        TH_CHECK(strstr(out, "k1|alert|CRITICAL") != NULL);
        TH_CHECK(strstr(out, "k2|alert|WARNING") != NULL);
        TH_CHECK(strstr(out, "k1|alert|WARNING") == NULL);
        /* resolving what is not there changes nothing */
        TH_CHECK_INT(put_alert(s, "k9", "congestion", "RESOLVED", "WARNING"), WS_SNAP_REMOVED);
        TH_CHECK_INT((int)ws_snap_count(s), 3);
        /* the freed slot is reused */
        TH_CHECK_INT(put_alert(s, "k3", "congestion", "FIRING", "INFO"), WS_SNAP_KEPT);
        TH_CHECK_INT((int)ws_snap_count(s), 4);
        ws_snap_destroy(s);
}

static void test_bounded_evicts_least_recent(void) {
        ws_snap_t *s = ws_snap_new(50);
        char key[32], out[4096];
        for (int i = 0; i < 1000; i++) {
                snprintf(key, sizeof(key), "key-%d", i);
                TH_CHECK_INT(put_agg(s, key, "1m", i), WS_SNAP_KEPT);
                TH_CHECK(ws_snap_count(s) <= 50);
                if (i % 10 == 0) /* key-0 stays recent, so it is never evicted */
                        TH_CHECK_INT(put_agg(s, "key-0", "1m", i), WS_SNAP_KEPT);
        }
        TH_CHECK_INT((int)ws_snap_count(s), 50);
        TH_CHECK_INT((int)ws_snap_evictions(s), 1000 - 50);
        dump(s, out);
        TH_CHECK(strstr(out, "key-0|") != NULL);
        TH_CHECK(strstr(out, "key-999|") != NULL);
        TH_CHECK(strstr(out, "key-900|") == NULL); /* least recently updated: gone */
        /* too large to keep: not kept, and its older entry is dropped */
        char *big = malloc(WS_SNAP_MAX_RENDER + 1);
        memset(big, 'x', WS_SNAP_MAX_RENDER + 1);
        ws_event_t ev = {"aggregate", "aggregates.enriched", "key-999", 7,
                         NULL,        "{\"window\":\"1m\"}", 15,        0};
        TH_CHECK_INT(ws_snap_put(s, &ev, big, WS_SNAP_MAX_RENDER + 1), WS_SNAP_SKIPPED);
        TH_CHECK_INT((int)ws_snap_count(s), 49);
        free(big);
        ws_snap_destroy(s);
        ws_snap_destroy(NULL);
        TH_CHECK(ws_snap_new(0) == NULL);
}

typedef struct {
        char text[4096];
        size_t frames, events;
} frames_t;

static int emit(void *opaque, const char *body, size_t len, size_t nevents) {
        frames_t *f = opaque;
        size_t n = strlen(f->text);
        snprintf(f->text + n, sizeof(f->text) - n, "%.*s\n", (int)len, body);
        f->frames++;
        f->events += nevents;
        return 0;
}

static void test_frames_apply_the_filter(void) {
        ws_snap_t *s = ws_snap_new(100);
        put_agg(s, "k1", "1m", 1);
        put_agg(s, "k2", "1m", 2);
        put_alert(s, "k1", "congestion", "FIRING", "WARNING");
        put_alert(s, "k2", "speed_drop", "FIRING", "CRITICAL");
        ws_filter_t f = {0};
        buf_t scratch = BUF_INIT;
        frames_t fr = {{0}, 0, 0};
        const char *sub = "{\"subscribe\":{\"keys\":[\"k2\"]}}";
        TH_CHECK_INT(ws_filter_parse(&f, sub, strlen(sub), err, sizeof(err)), 0);
        TH_CHECK_INT(ws_snap_frames(s, &f, 65536, &scratch, emit, &fr), 0);
        TH_CHECK_STR(fr.text, "\"snapshot\":true,\"events\":["
                              "{\"kind\":\"aggregate\",\"key\":\"k2\",\"v\":2},"
                              "{\"kind\":\"alert\",\"key\":\"k2\",\"rule\":\"speed_drop\"}]}\n");
        sub = "{\"subscribe\":{\"kinds\":[\"alert\"],\"min_severity\":\"CRITICAL\"}}";
        TH_CHECK_INT(ws_filter_parse(&f, sub, strlen(sub), err, sizeof(err)), 0);
        memset(&fr, 0, sizeof(fr));
        TH_CHECK_INT(ws_snap_frames(s, &f, 65536, &scratch, emit, &fr), 0);
        TH_CHECK_INT((int)fr.events, 1);
        TH_CHECK(strstr(fr.text, "speed_drop") != NULL);
        /* small frames: one event each; nothing passes: no frame */
        ws_filter_free(&f);
        memset(&fr, 0, sizeof(fr));
        TH_CHECK_INT(ws_snap_frames(s, &f, 10, &scratch, emit, &fr), 0);
        TH_CHECK_INT((int)fr.frames, 4);
        TH_CHECK_INT((int)fr.events, 4);
        sub = "{\"subscribe\":{\"keys\":[\"nobody\"]}}";
        TH_CHECK_INT(ws_filter_parse(&f, sub, strlen(sub), err, sizeof(err)), 0);
        memset(&fr, 0, sizeof(fr));
        TH_CHECK_INT(ws_snap_frames(s, &f, 65536, &scratch, emit, &fr), 0);
        TH_CHECK_INT((int)fr.frames, 0);
        ws_filter_free(&f);
        buf_free(&scratch);
        ws_snap_destroy(s);
}

static void test_json_top_str(void) {
        const char *v;
        size_t n;
        const char *j = "{ \"a\" : {\"window\":\"no\"}, \"b\":[1,\"]\",{}], \"c\":\"x\\\"y\", "
                        "\"n\":-1.5e3, \"t\":true, \"window\" : \"5m\" }";
        TH_CHECK(ws_json_top_str(j, strlen(j), "window", &v, &n));
        TH_CHECK_INT((int)n, 2);
        TH_CHECK(memcmp(v, "5m", 2) == 0);
        TH_CHECK(ws_json_top_str(j, strlen(j), "c", &v, &n));
        TH_CHECK_INT((int)n, 4);
        TH_CHECK(!ws_json_top_str(j, strlen(j), "n", &v, &n)); /* not a string */
        TH_CHECK(!ws_json_top_str(j, strlen(j), "missing", &v, &n));
        TH_CHECK(!ws_json_top_str("[\"window\",\"x\"]", 14, "window", &v, &n));
        TH_CHECK(!ws_json_top_str("{\"window\":\"unterminated", 23, "window", &v, &n));
        TH_CHECK(!ws_json_top_str("{\"a\":\"x", 7, "window", &v, &n));
        TH_CHECK(!ws_json_top_str("", 0, "window", &v, &n));
        TH_CHECK(!ws_json_top_str(NULL, 0, "window", &v, &n));
        TH_CHECK(ws_json_top_str("{\"window\":\"\"}", 13, "window", &v, &n));
        TH_CHECK_INT((int)n, 0);
}

TH_MAIN("sink_ws_snap", TH_T(test_latest_wins_per_key_and_window),
        TH_T(test_resolve_removes_firing_alert), TH_T(test_bounded_evicts_least_recent),
        TH_T(test_frames_apply_the_filter), TH_T(test_json_top_str))
