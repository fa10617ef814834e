/* av_buf — caller-owned growable byte buffer.  See av_buf.h. */
#include "av_buf.h"

#include <stdlib.h>
#include <string.h>

void av_buf_free(av_buf_t *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->size = 0;
}

int av_buf_reserve(av_buf_t *b, size_t extra) {
        if (extra <= b->size - b->len)
                return 0;
        if (extra > SIZE_MAX / 2 - b->len)
                return -1;
        size_t want = b->len + extra;
        /* Doubling keeps appends amortised O(1); 256 avoids a string of tiny
         * reallocations for the first small record. */
        size_t size = b->size ? b->size : 256;
        while (size < want)
                size *= 2;
        char *p = realloc(b->data, size);
        if (!p)
                return -1;
        b->data = p;
        b->size = size;
        return 0;
}

int av_buf_append(av_buf_t *b, const void *p, size_t n) {
        if (av_buf_reserve(b, n) == -1)
                return -1;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}
