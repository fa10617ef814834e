/* vec — see vec.h. */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int vec_reserve_(void *pp, size_t *cap, size_t need, size_t elem) {
        if (need <= *cap)
                return 0;
        /* Double (from 8), so appending n elements one by one copies O(n). */
        size_t n = *cap ? *cap : 8;
        while (n < need)
                n = n > SIZE_MAX / 2 ? need : n * 2;
        if (elem && n > SIZE_MAX / elem)
                return -1;
        /* The pointer is read and written as bytes: any T * has the
         * representation of a void * on the platforms Weir builds for
         * (POSIX requires it), and memcpy keeps the compiler's aliasing
         * rules out of it. */
        void *old;
        memcpy(&old, pp, sizeof(old));
        char *p = realloc(old, n * elem);
        if (!p)
                return -1;
        memset(p + *cap * elem, 0, (n - *cap) * elem);
        memcpy(pp, &p, sizeof(p));
        *cap = n;
        return 0;
}
