/* ig_arena — a per-thread bump allocator for cJSON while ingress parses a
 * request body.
 *
 * cJSON allocates every node, key and string separately; for a 1000-record
 * batch that is tens of thousands of malloc/free pairs, which profiling
 * showed to be the largest single cost of a request.  ig_arena_install()
 * points cJSON's hooks at functions that, in a thread between
 * ig_arena_begin() and ig_arena_end(), carve allocations out of that
 * thread's arena (free is then a no-op), and elsewhere call malloc/free as
 * before — so every other cJSON user in the process is unaffected.  A
 * pointer from the arena must not outlive ig_arena_end(): the parse tree is
 * deleted before it (cJSON_Delete walks it; the frees do nothing). */
#ifndef WEIR_IG_ARENA_H
#define WEIR_IG_ARENA_H

#include <stddef.h>

typedef struct ig_arena_s ig_arena_t;

/* Installs the cJSON hooks (once per process, before threads parse). */
void ig_arena_install(void);

/* A new empty arena (NULL when out of memory); one per thread. */
ig_arena_t *ig_arena_new(void);
/* Frees the arena and all its memory. */
void ig_arena_destroy(ig_arena_t *a);

/* cJSON allocations of the calling thread come from `a` until _end(), which
 * releases them all at once (keeping up to a few MiB for the next request). */
void ig_arena_begin(ig_arena_t *a);
void ig_arena_end(ig_arena_t *a);

/* 1 when cJSON allocations of this thread go to an arena now: a parse tree
 * need not be deleted (ig_arena_end() releases it wholesale). */
int ig_arena_active(void);

#endif
