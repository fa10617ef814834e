/* ws_snap — the sink's snapshot store: what a WebSocket subscriber is sent
 * on connect before the live updates (docs/sink.md, "Snapshot").
 *
 * It keeps the LATEST event per identity:
 *   aggregates  kind + topic + key + window
 *   alerts      kind + topic + key + window + rule, only while FIRING: an
 *               alert whose state is RESOLVED removes its entry
 * Each entry holds the event's rendering (the `{"kind":..,"data":..}` text a
 * frame carries) and what a subscription filters on (kind, topic, key,
 * severity).  The window, rule and state are read from the event's JSON by
 * a scan of its top-level fields (no parse tree, no allocation).
 *
 * Bounded: at most max_entries entries; a new identity beyond that evicts
 * the least recently updated one (counted, ws_snap_evictions).  Per entry:
 * sizeof an entry slot (~100 bytes) + its identity + its rendering, each in
 * a buffer that may be up to twice what it holds; a rendering larger than
 * WS_SNAP_MAX_RENDER is not kept (its identity's entry is dropped).
 *
 * Hot path: a slot and its buffers are reused for every later event of the
 * same identity, and a freed or evicted slot for the next new one, so once
 * the buffers have grown to the largest event an update allocates nothing:
 * a hash of the identity, one lookup, one memcpy.
 *
 * Threads: none of its own; the WebSocket service thread owns it. */
#ifndef WEIR_SINK_WS_SNAP_H
#define WEIR_SINK_WS_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ws.h"
#include "ws_filter.h"

#define WS_SNAP_MAX_RENDER (64 * 1024)

typedef struct ws_snap_s ws_snap_t;

/* A store of at most max_entries (>= 1) entries.  NULL: out of memory.
 * Free with ws_snap_destroy(). */
ws_snap_t *ws_snap_new(size_t max_entries);
void ws_snap_destroy(ws_snap_t *s);

enum {
        WS_SNAP_KEPT = 0,    /* stored (new or replacing the identity's entry) */
        WS_SNAP_REMOVED = 1, /* a RESOLVED alert: its entry (if any) removed */
        WS_SNAP_SKIPPED = 2, /* too large to keep; its entry (if any) removed */
        WS_SNAP_NOMEM = -1,  /* out of memory: nothing changed */
};

/* Records one event: ev's kind, topic, key, severity and event_time_ms, its
 * data (ev->json, for the window, rule and state) and its rendering
 * (render_len bytes, copied).  Returns a WS_SNAP_ value. */
int ws_snap_put(ws_snap_t *s, const ws_event_t *ev, const char *render, size_t render_len);

/* Calls fn for every entry, least recently updated first (so a client
 * applying them in order ends with the latest), until fn returns non-zero
 * (then returns that).  In the event passed: kind, topic, key, severity
 * (NULL when none) and event_time_ms are set, json is NULL. */
typedef int (*ws_snap_fn)(void *opaque, const ws_event_t *ev, const char *render,
                          size_t render_len);
int ws_snap_each(const ws_snap_t *s, ws_snap_fn fn, void *opaque);

/* The snapshot one subscriber is sent: the bodies of its frames
 * (`"snapshot":true,"events":[..]}`, what ws_frame_text() completes), the
 * entries its filter passes, least recently updated first, each frame at
 * most frame_max bytes unless one entry alone is larger.  emit gets each
 * body, built in `scratch` (the caller's reusable buffer), and the number of
 * events in it; nothing is emitted when no entry passes.  Returns 0, or
 * what emit returned when non-zero, or -1 out of memory. */
typedef int (*ws_snap_emit_fn)(void *opaque, const char *body, size_t len, size_t nevents);
int ws_snap_frames(const ws_snap_t *s, const ws_filter_t *f, size_t frame_max, buf_t *scratch,
                   ws_snap_emit_fn emit, void *opaque);

size_t ws_snap_count(const ws_snap_t *s);
uint64_t ws_snap_evictions(const ws_snap_t *s);

/* The top-level string field `name` of the JSON object json[0..len): sets
 * *val (pointing into json, between the quotes, escapes left as they are)
 * and *vlen and returns 1; 0 when absent, not a string or not an object.
 * Exposed for the tests. */
int ws_json_top_str(const char *json, size_t len, const char *name, const char **val, size_t *vlen);

#endif
