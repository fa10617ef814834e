/* ks — key blocks in slabs of their own; why is in ks.h. */
#include "ks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KS_SLAB ((size_t)1 << 20)

/* Under AddressSanitizer every block comes from calloc, so that overflows
 * of key blocks are still caught (ASan does not see inside mmap'd slabs). */
#if defined(__SANITIZE_ADDRESS__)
#define KS_OWN(sz) 0
#else
#define KS_OWN(sz) ((sz) <= KS_MAX)
#endif

struct ks_slab_s {
        ks_slab_t *next;
        size_t size;
};

/* The slab header takes the first KS_ALIGN-rounded bytes. */
#define KS_HDR ((sizeof(ks_slab_t) + KS_ALIGN - 1) / KS_ALIGN * KS_ALIGN)

size_t ks_size(size_t n) {
        return (n + KS_ALIGN - 1) / KS_ALIGN * KS_ALIGN;
}

void ks_fini(ks_t *s) {
        ks_slab_t *sl = s->slabs;
        while (sl) {
                ks_slab_t *n = sl->next;
                munmap(sl, sl->size);
                sl = n;
        }
        memset(s, 0, sizeof(*s));
}

void *ks_alloc(ks_t *s, size_t n) {
        size_t sz = ks_size(n ? n : 1);
        if (!KS_OWN(sz))
                return calloc(1, sz);
        size_t c = sz / KS_ALIGN;
        void *b = s->free[c];
        if (b) {
                memcpy(&s->free[c], b, sizeof(void *));
                memset(b, 0, sz);
                return b;
        }
        if (s->left < sz) {
                /* mmap, not malloc: the slab must not sit in (and pin) the
                 * malloc heap whose pages a drain gives back.  The tail of
                 * the previous slab (< KS_MAX bytes) is left unused. */
                void *m = mmap(NULL, KS_SLAB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                               -1, 0);
                if (m == MAP_FAILED)
                        return NULL;
                ks_slab_t *sl = m;
                sl->next = s->slabs;
                sl->size = KS_SLAB;
                s->slabs = sl;
                s->cur = (char *)m + KS_HDR;
                s->left = KS_SLAB - KS_HDR;
                s->mapped += KS_SLAB;
        }
        b = s->cur; /* fresh mmap pages are zero */
        s->cur += sz;
        s->left -= sz;
        return b;
}

void ks_free(ks_t *s, void *b, size_t n) {
        if (!b)
                return;
        size_t sz = ks_size(n ? n : 1);
        if (!KS_OWN(sz)) {
                free(b);
                return;
        }
        size_t c = sz / KS_ALIGN;
        memcpy(b, &s->free[c], sizeof(void *));
        s->free[c] = b;
}
