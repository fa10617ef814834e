/* ig_arena — per-thread bump allocation for cJSON during a parse.  See
 * ig_arena.h. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "ig_arena.h"

#define IG_CHUNK      (1u << 20) /* 1 MiB chunks; bigger requests get their own */
#define IG_KEEP_BYTES (8u << 20) /* kept across requests */

typedef struct ig_chunk_s {
        struct ig_chunk_s *next;
        size_t size, used;
        max_align_t data[]; /* aligned for any object */
} ig_chunk_t;

struct ig_arena_s {
        ig_chunk_t *cur;  /* being filled */
        ig_chunk_t *full; /* filled earlier in this parse */
        ig_chunk_t *spare;
        unsigned grown; /* chunks made: each new one twice the last, up to 64 MiB */
};

static _Thread_local ig_arena_t *ig_active;
static int ig_installed;

static void *ig_hook_malloc(size_t n) {
        ig_arena_t *a = ig_active;
        if (!a)
                return malloc(n);
        n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
        if (!a->cur || a->cur->size - a->cur->used < n) {
                ig_chunk_t *c = a->spare;
                if (c && c->size >= n) {
                        a->spare = c->next;
                } else {
                        size_t size = (size_t)IG_CHUNK << (a->grown < 6 ? a->grown : 6);
                        if (size < n)
                                size = n;
                        a->grown++;
                        c = malloc(sizeof(*c) + size);
                        if (!c)
                                return NULL;
                        c->size = size;
                }
                c->used = 0;
                if (a->cur) {
                        a->cur->next = a->full;
                        a->full = a->cur;
                }
                c->next = NULL;
                a->cur = c;
        }
        void *p = (char *)a->cur->data + a->cur->used;
        a->cur->used += n;
        return p;
}

/* Arena memory is released by ig_arena_end(); only pointers malloc'd
 * outside a parse reach free().  A tree built outside and freed inside a
 * parse would also be freed correctly: its pointers are not in the arena. */
static int ig_in_arena(const ig_arena_t *a, const void *p) {
        const ig_chunk_t *lists[2] = {a->cur, a->full};
        for (int l = 0; l < 2; l++)
                for (const ig_chunk_t *c = lists[l]; c; c = c->next)
                        if ((const char *)p >= (const char *)c->data &&
                            (const char *)p < (const char *)c->data + c->size)
                                return 1;
        return 0;
}

static void ig_hook_free(void *p) {
        ig_arena_t *a = ig_active;
        if (p && (!a || !ig_in_arena(a, p)))
                free(p);
}

void ig_arena_install(void) {
        cJSON_Hooks h = {ig_hook_malloc, ig_hook_free};
        cJSON_InitHooks(&h);
        ig_installed = 1;
}

int ig_arena_active(void) {
        return ig_installed && ig_active != NULL;
}

ig_arena_t *ig_arena_new(void) {
        return calloc(1, sizeof(ig_arena_t));
}

static void ig_chunks_free(ig_chunk_t *c) {
        while (c) {
                ig_chunk_t *n = c->next;
                free(c);
                c = n;
        }
}

void ig_arena_destroy(ig_arena_t *a) {
        if (!a)
                return;
        if (ig_active == a)
                ig_active = NULL;
        ig_chunks_free(a->cur);
        ig_chunks_free(a->full);
        ig_chunks_free(a->spare);
        free(a);
}

void ig_arena_begin(ig_arena_t *a) {
        ig_active = a;
}

void ig_arena_end(ig_arena_t *a) {
        ig_active = NULL;
        /* Everything goes back to the spare list, up to IG_KEEP_BYTES. */
        ig_chunk_t *all = a->full;
        if (a->cur) {
                a->cur->next = all;
                all = a->cur;
        }
        a->cur = a->full = NULL;
        size_t kept = 0;
        for (ig_chunk_t *c = a->spare; c; c = c->next)
                kept += c->size;
        while (all) {
                ig_chunk_t *n = all->next;
                if (kept + all->size <= IG_KEEP_BYTES) {
                        all->next = a->spare;
                        a->spare = all;
                        kept += all->size;
                } else {
                        free(all);
                }
                all = n;
        }
}
