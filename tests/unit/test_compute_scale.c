/* Unit tests of compute at scale: memory given back once a backlog of many
 * keys has drained (issue 22).  The engine alone, no Kafka. */
#include "th.h"

#include "../../services/compute/cp_int.h"

#include "th_compute.h"

#include <malloc.h>
#include <math.h>
#include <unistd.h>

static long rss_bytes(void) {
        FILE *f = fopen("/proc/self/statm", "r");
        long size = 0, res = 0;
        if (f) {
                if (fscanf(f, "%ld %ld", &size, &res) != 2)
                        res = 0;
                fclose(f);
        }
        return res * sysconf(_SC_PAGESIZE);
}

/* The bench-compute aggregate set. */
#define SCALE_SPEC                                                                                 \
        "'windows':[{'name':'w','type':'tumbling','size':'10s','grace':'1s'}],"                    \
        "'aggregates':[{'field':'speed','ops':['count','mean','stddev','p99']}]"

static void feed(tc_t *t, size_t nkeys, size_t per_key, int64_t t0) {
        char key[32];
        uint64_t seed = 7;
        for (size_t i = 0; i < per_key; i++)
                for (size_t k = 0; k < nkeys; k++) {
                        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                        double v = 1 + (double)((seed >> 20) % 100000) / 100;
                        unsigned char pr = 1;
                        size_t kl = (size_t)snprintf(key, sizeof(key), "key-%07zu", k);
                        cp_record_t r = {key, kl, t0 + (int64_t)i, &v, &pr};
                        cp_part_process(t->p, &r, 0, tc_emit(t));
                }
}

/* Closed windows' memory leaves the state figure and the heap: state bytes
 * fall back to the keys' own blocks (EWMA baseline, rule state) and the
 * heap in use to near where it was before the windows opened. */
static void test_memory_returned(void) {
        tc_t t;
        if (tc_open(&t, SCALE_SPEC) < 0) {
                printf("  %s\n", t.err);
                TH_CHECK(0);
                return;
        }
        t.quiet = 1;
        const size_t nkeys = 50000;
        long rss0 = rss_bytes();
        size_t heap0 = mallinfo2().uordblks;
        feed(&t, nkeys, 10, 1700000000000);
        cp_part_stats_t open;
        cp_part_stats(t.p, &open);
        size_t heap_open = mallinfo2().uordblks;
        TH_CHECK_INT(open.open_windows, (long long)nkeys);
        /* the next window: every key's first window closes, a new one opens */
        feed(&t, nkeys, 1, 1700000020000);
        cp_part_stats_t mid;
        cp_part_stats(t.p, &mid);
        TH_CHECK_INT(mid.open_windows, (long long)nkeys);
        TH_CHECK(mid.state_bytes <= open.state_bytes + open.state_bytes / 10);
        /* then every window closes */
        tc_rec(&t, "key-0000000", 1700000100000, 1, NAN, 0);
        tc_rec(&t, "key-0000000", 1700000200000, 1, NAN, 0);
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        size_t heap_closed = mallinfo2().uordblks;
        TH_CHECK_INT(st.open_windows, 1);
        TH_CHECK_INT(st.keys, (long long)nkeys);
        TH_CHECK_INT(st.state_bytes, cp_part_bytes_walk(t.p));
        TH_CHECK(st.pool_bytes <= 256 * 512); /* the bounded pool */
        /* live state: the key blocks (~250 bytes each) and the tables */
        long long per_key = st.state_bytes / (long long)nkeys;
        TH_CHECK(per_key < 300);
        TH_CHECK(st.state_bytes * 2 < open.state_bytes);
        /* the heap in use follows: window nodes and sketches went back to malloc */
        TH_CHECK(heap_closed - heap0 < (size_t)st.state_bytes + (size_t)st.state_bytes / 4);
        printf("  %zu keys: state %lld bytes with a window each (%lld a key), %lld after they "
               "closed (%lld a key, pool %lld); heap in use +%zu open, +%zu closed\n",
               nkeys, (long long)open.state_bytes, (long long)open.state_bytes / (long long)nkeys,
               (long long)st.state_bytes, per_key, (long long)st.pool_bytes, heap_open - heap0,
               heap_closed - heap0);
        /* and the pages: with key blocks apart from windows (ks.h), trimming
         * the heap gives back what the closed windows held.  Not under ASan,
         * whose allocator keeps freed memory in quarantine. */
        long rss_closed = rss_bytes();
        malloc_trim(0);
        long rss_trim = rss_bytes();
        printf("  resident: +%ld KiB with the windows closed, +%ld KiB after malloc_trim\n",
               (rss_closed - rss0) / 1024, (rss_trim - rss0) / 1024);
#if !defined(__SANITIZE_ADDRESS__)
        TH_CHECK(rss_trim - rss0 < st.state_bytes + st.state_bytes / 2);
#endif
        tc_close(&t);
}

TH_MAIN("compute_scale", TH_T(test_memory_returned))
