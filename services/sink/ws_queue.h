/* ws_queue — the feed's two queues, kept free of libwebsockets so they can be
 * unit-tested:
 *
 *   inbox   many publishers → the service thread.  ws_inbox_put() appends the
 *           event's bytes to one buffer under a mutex held only for that
 *           memcpy; ws_inbox_take() swaps that buffer with the service
 *           thread's empty one, so once both have grown nothing allocates.
 *           Bounded in bytes: a put that does not fit is refused (a drop).
 *
 *   frames  per client: the frames built for it, oldest first, bounded in
 *           bytes.  Pushing a frame that does not fit drops the OLDEST frames
 *           (drop-oldest: a live feed wants the newest values); the dropped
 *           events are owed to the client as the next frame's "dropped".
 *
 * A frame's text is built as `"events":[...]}` behind WS_FRAME_HEAD spare
 * bytes; ws_frame_text() writes `{"seq":n,` (and `"dropped":d,` when some
 * were lost) just before it at send time, since only then is the number
 * known.  In front of that stays `pre` bytes of room (LWS_PRE) for the
 * WebSocket header. */
#ifndef WEIR_SINK_WS_QUEUE_H
#define WEIR_SINK_WS_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ws.h"

/* ------------------------------------------------------------ inbox */

typedef struct {
        pthread_mutex_t lock;
        buf_t buf;  /* encoded events (see ws_queue.c) */
        size_t cap; /* bytes */
} ws_inbox_t;

int ws_inbox_init(ws_inbox_t *in, size_t cap);
void ws_inbox_destroy(ws_inbox_t *in);

/* Copies the event in.  Returns 0, or -1 when it does not fit (full, or the
 * event alone is larger than cap). */
int ws_inbox_put(ws_inbox_t *in, const ws_event_t *ev);

/* Swaps the inbox's content into *out (whose old storage, emptied, becomes
 * the inbox's).  Afterwards iterate *out with ws_inbox_next(). */
void ws_inbox_take(ws_inbox_t *in, buf_t *out);

/* Decodes the event at *off in a taken buffer into *ev (pointers into the
 * buffer; strings NUL-terminated, severity NULL when none) and advances
 * *off.  Returns 1, or 0 at the end. */
int ws_inbox_next(const buf_t *b, size_t *off, ws_event_t *ev);

/* ------------------------------------------------------------ frames */

#define WS_FRAME_HEAD 64 /* room for {"seq":<u64>,"dropped":<u64>, */

typedef struct ws_frame_s {
        struct ws_frame_s *next;
        uint64_t seq;
        size_t nevents;
        size_t len;     /* bytes of body */
        int64_t *times; /* nevents event times (ms), inside this allocation;
                         * NULL for a snapshot frame (not a latency sample) */
        char *body;     /* `"events":[...]}`, inside this allocation */
        unsigned char mem[];
} ws_frame_t;

/* A frame holding `body` (len bytes) and the events' times (times NULL:
 * none kept, f->times NULL); `pre` bytes of room before the head.  malloc'd; free with free().
 * NULL: out of memory. */
ws_frame_t *ws_frame_new(uint64_t seq, const char *body, size_t len, const int64_t *times,
                         size_t nevents, size_t pre);

/* Writes the head before the body and returns where the text starts (with
 * at least `pre` bytes before it) and its length in *len. */
char *ws_frame_text(ws_frame_t *f, uint64_t dropped, size_t *len);

typedef struct {
        ws_frame_t *head, *tail;
        size_t bytes; /* body bytes queued */
        size_t frames;
        uint64_t next_seq;      /* seq of the next frame built (from 1) */
        uint64_t dropped_owed;  /* events dropped since the last frame sent */
        uint64_t dropped_total; /* events dropped for this client */
        int64_t over_since_ms;  /* first drop since the queue was last empty; 0 = none */
} ws_cq_t;

/* Appends f, first dropping the oldest frames until it fits in `bound`
 * bytes.  A frame larger than `bound` on its own is dropped itself.
 * Returns the number of events dropped (also added to dropped_owed and
 * dropped_total; over_since_ms set to now_ms if it was 0). */
size_t ws_cq_push(ws_cq_t *q, ws_frame_t *f, size_t bound, int64_t now_ms);

/* Removes and returns the oldest frame (caller frees), NULL when empty.
 * Emptying the queue clears over_since_ms: the client caught up. */
ws_frame_t *ws_cq_pop(ws_cq_t *q);

/* Frees every queued frame. */
void ws_cq_clear(ws_cq_t *q);

#endif
