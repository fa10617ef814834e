/* ws_queue — the publish inbox and the per-client frame queues (see
 * ws_queue.h for the policy). */
#include "ws_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ inbox */

/* One event in the inbox buffer: this header, then kind, topic, key,
 * severity and json, each followed by a NUL (so the service thread can use
 * them as C strings).  Copied with memcpy: the buffer has no alignment. */
typedef struct {
        uint32_t size; /* whole record */
        uint32_t kind_len, topic_len, key_len, json_len;
        uint32_t sev_len; /* NO_SEV: none */
        int64_t time_ms;
} rec_hdr_t;

#define NO_SEV UINT32_MAX

int ws_inbox_init(ws_inbox_t *in, size_t cap) {
        memset(in, 0, sizeof(*in));
        in->cap = cap;
        return pthread_mutex_init(&in->lock, NULL) ? -1 : 0;
}

void ws_inbox_destroy(ws_inbox_t *in) {
        pthread_mutex_destroy(&in->lock);
        buf_free(&in->buf);
}

int ws_inbox_put(ws_inbox_t *in, const ws_event_t *ev) {
        const char *kind = ev->kind ? ev->kind : "";
        const char *topic = ev->topic ? ev->topic : "";
        size_t kl = strlen(kind), tl = strlen(topic), sl = ev->severity ? strlen(ev->severity) : 0;
        size_t keyl = ev->key ? ev->key_len : 0, jl = ev->json ? ev->json_len : 0;
        if (!ev->json || jl == 0)
                jl = 0;
        size_t size = sizeof(rec_hdr_t) + kl + tl + keyl + sl + jl + 5;
        if (size > in->cap || size > UINT32_MAX)
                return -1;
        rec_hdr_t h = {(uint32_t)size,   (uint32_t)kl, (uint32_t)tl,
                       (uint32_t)keyl,   (uint32_t)jl, ev->severity ? (uint32_t)sl : NO_SEV,
                       ev->event_time_ms};
        pthread_mutex_lock(&in->lock);
        int rc = -1;
        if (in->buf.len + size <= in->cap && buf_reserve(&in->buf, size) == 0) {
                char *p = in->buf.data + in->buf.len;
                memcpy(p, &h, sizeof(h));
                p += sizeof(h);
#define PUT(s, n)                                                                                  \
        do {                                                                                       \
                if (n)                                                                             \
                        memcpy(p, s, n);                                                           \
                p[n] = '\0';                                                                       \
                p += (n) + 1;                                                                      \
        } while (0)
                PUT(kind, kl);
                PUT(topic, tl);
                PUT(ev->key, keyl);
                PUT(ev->severity, sl);
                PUT(ev->json, jl);
#undef PUT
                in->buf.len += size;
                rc = 0;
        }
        pthread_mutex_unlock(&in->lock);
        return rc;
}

void ws_inbox_take(ws_inbox_t *in, buf_t *out) {
        out->len = 0;
        pthread_mutex_lock(&in->lock);
        buf_t t = in->buf;
        in->buf = *out;
        *out = t;
        pthread_mutex_unlock(&in->lock);
}

int ws_inbox_next(const buf_t *b, size_t *off, ws_event_t *ev) {
        if (*off + sizeof(rec_hdr_t) > b->len)
                return 0;
        rec_hdr_t h;
        memcpy(&h, b->data + *off, sizeof(h));
        const char *p = b->data + *off + sizeof(h);
        ev->kind = p;
        p += h.kind_len + 1;
        ev->topic = p;
        p += h.topic_len + 1;
        ev->key = p;
        ev->key_len = h.key_len;
        p += h.key_len + 1;
        ev->severity = h.sev_len == NO_SEV ? NULL : p;
        p += (h.sev_len == NO_SEV ? 0 : h.sev_len) + 1;
        ev->json = p;
        ev->json_len = h.json_len;
        ev->event_time_ms = h.time_ms;
        *off += h.size;
        return 1;
}

/* ------------------------------------------------------------ frames */

ws_frame_t *ws_frame_new(uint64_t seq, const char *body, size_t len, const int64_t *times,
                         size_t nevents, size_t pre) {
        /* times first (aligned after the struct), then room, head and body */
        size_t tbytes = times ? nevents * sizeof(int64_t) : 0;
        ws_frame_t *f = malloc(sizeof(*f) + tbytes + pre + WS_FRAME_HEAD + len + 1);
        if (!f)
                return NULL;
        f->next = NULL;
        f->seq = seq;
        f->nevents = nevents;
        f->len = len;
        f->times = times ? (int64_t *)(void *)f->mem : NULL;
        if (tbytes)
                memcpy(f->times, times, tbytes);
        f->body = (char *)f->mem + tbytes + pre + WS_FRAME_HEAD;
        memcpy(f->body, body, len);
        f->body[len] = '\0';
        return f;
}

char *ws_frame_text(ws_frame_t *f, uint64_t dropped, size_t *len) {
        char head[WS_FRAME_HEAD + 1];
        int n;
        if (dropped)
                n = snprintf(head, sizeof(head), "{\"seq\":%llu,\"dropped\":%llu,",
                             (unsigned long long)f->seq, (unsigned long long)dropped);
        else
                n = snprintf(head, sizeof(head), "{\"seq\":%llu,", (unsigned long long)f->seq);
        char *start = f->body - n;
        memcpy(start, head, (size_t)n);
        *len = (size_t)n + f->len;
        return start;
}

size_t ws_cq_push(ws_cq_t *q, ws_frame_t *f, size_t bound, int64_t now_ms) {
        size_t dropped = 0;
        if (f->len > bound) {
                dropped = f->nevents;
                free(f);
                f = NULL;
        } else {
                int64_t since = q->over_since_ms; /* popping to empty must not reset it */
                while (q->head && q->bytes + f->len > bound) {
                        ws_frame_t *old = ws_cq_pop(q);
                        dropped += old->nevents;
                        free(old);
                }
                q->over_since_ms = since;
                f->next = NULL;
                if (q->tail)
                        q->tail->next = f;
                else
                        q->head = f;
                q->tail = f;
                q->bytes += f->len;
                q->frames++;
        }
        if (dropped) {
                q->dropped_owed += dropped;
                q->dropped_total += dropped;
                if (!q->over_since_ms)
                        q->over_since_ms = now_ms ? now_ms : 1;
        }
        return dropped;
}

ws_frame_t *ws_cq_pop(ws_cq_t *q) {
        ws_frame_t *f = q->head;
        if (!f)
                return NULL;
        q->head = f->next;
        if (!q->head)
                q->tail = NULL;
        q->bytes -= f->len;
        q->frames--;
        f->next = NULL;
        if (!q->head)
                q->over_since_ms = 0;
        return f;
}

void ws_cq_clear(ws_cq_t *q) {
        ws_frame_t *f;
        while ((f = q->head) != NULL) {
                q->head = f->next;
                free(f);
        }
        q->tail = NULL;
        q->bytes = 0;
        q->frames = 0;
}
