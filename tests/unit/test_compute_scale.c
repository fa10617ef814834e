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

/* A changelog as flushed: every record, in order. */
typedef struct {
        char **k, **v;
        size_t *kl, *vl;
        size_t n, cap;
} cl_log_t;

static void cl_put(void *o, const void *k, size_t kl, const void *v, size_t vl) {
        cl_log_t *l = o;
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 1024;
                l->k = realloc(l->k, l->cap * sizeof(*l->k));
                l->v = realloc(l->v, l->cap * sizeof(*l->v));
                l->kl = realloc(l->kl, l->cap * sizeof(*l->kl));
                l->vl = realloc(l->vl, l->cap * sizeof(*l->vl));
        }
        l->k[l->n] = malloc(kl);
        memcpy(l->k[l->n], k, kl);
        l->kl[l->n] = kl;
        l->v[l->n] = v ? malloc(vl ? vl : 1) : NULL;
        if (v)
                memcpy(l->v[l->n], v, vl);
        l->vl[l->n] = vl;
        l->n++;
}

static void cl_free(cl_log_t *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->k[i]);
                free(l->v[i]);
        }
        free(l->k);
        free(l->v);
        free(l->kl);
        free(l->vl);
}

/* The latest record of key i's key, scanning back (compaction's result). */
static int cl_latest(const cl_log_t *l, size_t i) {
        for (size_t j = i + 1; j < l->n; j++)
                if (l->kl[j] == l->kl[i] && memcmp(l->k[j], l->k[i], l->kl[i]) == 0)
                        return 0;
        return 1;
}

/* The same state restored from the full history (an uncompacted
 * changelog: every key's older versions first, then replaced) and from
 * its compaction, latest record per key in reverse order, has the same
 * size: two identical runs restored to 209 and 282 bytes a key before
 * (older versions' windows and their sketch buffers stayed in the
 * partition's free list). */
static void test_restore_size_whatever_the_layout(void) {
        tc_t t;
        if (tc_open(&t, SCALE_SPEC) < 0) {
                printf("  %s\n", t.err);
                TH_CHECK(0);
                return;
        }
        t.quiet = 1;
        cl_log_t log = {0};
        const size_t nkeys = 3000;
        for (int round = 0; round < 6; round++) {
                feed(&t, nkeys, 3 + (size_t)round * 4, 1700000000000 + round * 7000);
                cp_part_flush_dirty(t.p, cl_put, &log);
        }
        /* the backlog drains: every window closes, the keys keep their
         * baselines (the layout: versions with windows, then
         * without) */
        cp_part_advance_to(t.p, 1700000100000, 0, tc_emit(&t));
        cp_part_flush_dirty(t.p, cl_put, &log);
        cp_part_stats_t want;
        cp_part_stats(t.p, &want);
        tc_t a, b;
        TH_CHECK(tc_open(&a, SCALE_SPEC) == 0 && tc_open(&b, SCALE_SPEC) == 0);
        char err[256];
        size_t latest = 0;
        for (size_t i = 0; i < log.n; i++)
                TH_CHECK(cp_part_restore(a.p, log.k[i], log.kl[i], log.v[i], log.vl[i], err,
                                         sizeof(err)) == 0);
        for (size_t i = log.n; i-- > 0;)
                if (cl_latest(&log, i) && log.v[i]) {
                        latest++;
                        TH_CHECK(cp_part_restore(b.p, log.k[i], log.kl[i], log.v[i], log.vl[i], err,
                                                 sizeof(err)) == 0);
                }
        cp_part_stats_t sa, sb;
        cp_part_stats(a.p, &sa);
        cp_part_stats(b.p, &sb);
        TH_CHECK_INT(sa.keys, want.keys);
        TH_CHECK_INT(sb.keys, want.keys);
        TH_CHECK_INT(sa.open_windows, want.open_windows);
        TH_CHECK_INT(sb.open_windows, want.open_windows);
        TH_CHECK_INT(sa.state_bytes, sb.state_bytes);
        TH_CHECK_INT(sa.state_bytes, cp_part_bytes_walk(a.p));
        printf("  %zu keys: %lld bytes live, restored from %zu records: %lld, from %zu: %lld "
               "(%lld a key)\n",
               nkeys, (long long)want.state_bytes, log.n, (long long)sa.state_bytes, latest,
               (long long)sb.state_bytes, (long long)sb.state_bytes / (long long)nkeys);
        cl_free(&log);
        tc_close(&a);
        tc_close(&b);
        tc_close(&t);
}

static size_t tombstones;
static void cl_put_count(void *o, const void *k, size_t kl, const void *v, size_t vl) {
        if (!v && kl > 1)
                tombstones++;
        cl_put(o, k, kl, v, vl);
}

/* compute.key_ttl against a brute-force reference: after every record,
 * every key with no open window whose last record is key_ttl or more
 * behind stream time is gone (counted, tombstoned in the flush that
 * follows), and the keys left are exactly the reference's. */
static void test_key_ttl_against_brute_force(void) {
        tc_t t;
        if (tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'10s','grace':'1s'}],"
                        "'aggregates':[{'field':'v','ops':['count','mean','p99']}],"
                        "'key_ttl':'30s'") < 0) {
                printf("  %s\n", t.err);
                TH_CHECK(0);
                return;
        }
        t.quiet = 1;
        enum { NK = 400, NREC = 20000 };
        const int64_t ttl = 30000, size = 10000, grace = 1000;
        int present[NK] = {0};
        int64_t last_ts[NK], last_close[NK];
        int64_t S = INT64_MIN, ts = 1700000000000;
        long long evicted = 0, mismatches = 0;
        uint64_t seed = 11;
        cl_log_t log = {0};
        tombstones = 0;
        for (int i = 0; i < NREC; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                /* the active keys drift: most keys go quiet for a while */
                int base = (i / 1500) * 37;
                int k = (base + (int)((seed >> 33) % 60)) % NK;
                ts += (int64_t)((seed >> 20) % 40);
                int64_t rts = ts - (int64_t)((seed >> 45) % 500); /* never late */
                char key[16];
                snprintf(key, sizeof(key), "k%03d", k);
                double v = (double)((seed >> 10) % 1000);
                TH_CHECK(tc_rec(&t, key, rts, v, NAN, 0) == CP_OK);
                cp_part_flush_dirty(t.p, cl_put_count, &log);
                /* reference */
                if (rts > S)
                        S = rts;
                int64_t s0 = rts / size * size;
                if (!present[k]) {
                        present[k] = 1;
                        last_ts[k] = rts;
                        last_close[k] = s0 + size + grace;
                } else {
                        if (rts > last_ts[k])
                                last_ts[k] = rts;
                        if (s0 + size + grace > last_close[k])
                                last_close[k] = s0 + size + grace;
                }
                long long nref = 0;
                for (int j = 0; j < NK; j++) {
                        if (present[j] && last_close[j] <= S && last_ts[j] + ttl <= S) {
                                present[j] = 0;
                                evicted++;
                        }
                        nref += present[j];
                }
                cp_part_stats_t st;
                cp_part_stats(t.p, &st);
                if (st.keys != nref || st.evicted_keys != evicted)
                        mismatches++;
        }
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(mismatches, 0);
        TH_CHECK(evicted > 100); /* the test exercises it */
        TH_CHECK_INT(st.evicted_keys, evicted);
        TH_CHECK_INT((long long)tombstones, evicted);
        /* the changelog restores to the same keys */
        tc_t r;
        TH_CHECK(tc_open(&r, "'windows':[{'name':'w','type':'tumbling','size':'10s',"
                             "'grace':'1s'}],'aggregates':[{'field':'v','ops':['count','mean',"
                             "'p99']}],'key_ttl':'30s'") == 0);
        char err[256];
        for (size_t i = 0; i < log.n; i++)
                TH_CHECK(cp_part_restore(r.p, log.k[i], log.kl[i], log.v[i], log.vl[i], err,
                                         sizeof(err)) == 0);
        cp_part_stats_t rs;
        cp_part_stats(r.p, &rs);
        TH_CHECK_INT(rs.keys, st.keys);
        printf("  %d records, %d keys: %lld evictions (tombstones %zu), %lld keys left\n", NREC, NK,
               evicted, tombstones, (long long)st.keys);
        cl_free(&log);
        tc_close(&r);
        tc_close(&t);
}

TH_MAIN("compute_scale", TH_T(test_memory_returned), TH_T(test_restore_size_whatever_the_layout),
        TH_T(test_key_ttl_against_brute_force))
