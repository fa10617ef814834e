/* buf — caller-owned growable byte buffer, shared by the Avro codecs, metrics rendering and the
 * Schema Registry client.  See buf.h. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void buf_free(buf_t *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->size = 0;
}

int buf_reserve(buf_t *b, size_t extra) {
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

int buf_append(buf_t *b, const void *p, size_t n) {
        if (buf_reserve(b, n) == -1)
                return -1;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

int buf_nul(buf_t *b) {
        if (buf_reserve(b, 1) == -1)
                return -1;
        b->data[b->len] = '\0';
        return 0;
}
