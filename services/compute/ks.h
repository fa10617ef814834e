/* ks — a partition's key blocks, in slabs of their own.
 *
 * Why: key blocks live as long as their key (the EWMA baseline and rule
 * state outlive every window), window nodes and sketches only as long as
 * a window.  From one malloc heap the two interleave, so once a backlog's
 * windows close the freed bytes are holes between live key blocks and no
 * page can go back to the system (measured: 163 MiB resident for 59 MiB of
 * live state after 300k keys' windows closed, malloc_trim(0) or not).
 * With the key blocks in their own 1 MiB mmap'd slabs the malloc heap
 * holds only windows, sketches and tables, which malloc_trim() returns.
 *
 * Blocks are rounded up to 8 bytes (their strictest member: int64, double,
 * pointer); a freed block goes to its size
 * class's free list and is reused by the next key of that class (slabs are
 * unmapped only by ks_fini: their memory is bounded by the peak number of
 * keys, which compute.key_ttl bounds).  Blocks above KS_MAX bytes (keys of
 * more than ~3.5 KiB) come from calloc, and so does every block under
 * AddressSanitizer (which cannot see inside the slabs).  Not thread-safe: one per
 * partition, like the rest of its state. */
#ifndef WEIR_KS_H
#define WEIR_KS_H

#include <stddef.h>

#define KS_ALIGN 8u
#define KS_MAX   4096u

typedef struct ks_slab_s ks_slab_t;

typedef struct {
        void *free[KS_MAX / KS_ALIGN + 1]; /* per size class, linked through the block's
                                              first word */
        ks_slab_t *slabs;
        char *cur; /* bump pointer in the newest slab */
        size_t left;
        size_t mapped; /* bytes of slabs mapped */
} ks_t;

/* A zeroed ks_t is an empty allocator. */
void ks_fini(ks_t *s);
/* n zeroed bytes, 8-aligned; NULL on out of memory.  ks_size(n) bytes are
 * taken. */
void *ks_alloc(ks_t *s, size_t n);
/* Gives back a block of n bytes (the n it was allocated with). */
void ks_free(ks_t *s, void *b, size_t n);
/* Bytes a block of n takes. */
size_t ks_size(size_t n);

#endif
