/* Unit tests for vec: VEC_RESERVE grows a typed array in place, zeroes
 * new slots and fails without touching the array. */
#include <stdint.h>
#include <stdlib.h>

#include "th.h"
#include "vec.h"

typedef struct {
        int a;
        double b;
} pair_t;

static void test_vec_reserve(void) {
        pair_t *v = NULL;
        size_t len = 0, cap = 0;
        int bad = 0;
        for (int i = 0; i < 1000; i++) {
                if (VEC_RESERVE(v, cap, len + 1) == -1) {
                        TH_CHECK(!"out of memory");
                        break;
                }
                bad += v[len].a != 0; /* new slots zeroed */
                v[len++] = (pair_t){i, i * 0.5};
        }
        TH_CHECK_INT(bad, 0);
        TH_CHECK(cap >= 1000 && cap < 2048);
        for (size_t i = 0; i < len; i++)
                bad += v[i].a != (int)i || v[i].b != (double)i * 0.5;
        TH_CHECK_INT(bad, 0);
        size_t before = cap;
        TH_CHECK_INT(VEC_RESERVE(v, cap, 10), 0); /* enough room: no change */
        TH_CHECK_INT(cap, before);
        /* An impossible size fails and leaves the array as it was. */
        pair_t *keep = v;
        TH_CHECK_INT(VEC_RESERVE(v, cap, SIZE_MAX / 2), -1);
        TH_CHECK(v == keep && cap == before && v[999].a == 999);
        free(v);
}

TH_MAIN("vec", TH_T(test_vec_reserve))
