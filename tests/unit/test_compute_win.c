/* Unit tests: window assignment and closing (tumbling, hopping, sliding,
 * session; exact boundaries, grace, late), emit modes, rules with
 * hysteresis, EWMA z-scores, through the engine API (cp.h). */
#include "th.h"

#include "th_compute.h"

#include <math.h>

#define AGG "'aggregates':[{'field':'v','ops':['count','sum','mean','min','max','first','last']}]"
#define N   NAN

static tc_t t;

static int open_spec(const char *compute) {
        if (tc_open(&t, compute) < 0) {
                printf("  spec: %s\n", t.err);
                TH_CHECK(0);
                return -1;
        }
        return 0;
}

static void test_tumbling_boundaries(void) {
        if (open_spec("'windows':[{'name':'w','type':'tumbling','size':'10s'}]," AGG) < 0)
                return;
        TH_CHECK_INT(tc_rec(&t, "k", 0, 1, N, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", 9999, 2, N, 0), CP_OK);
        TH_CHECK_STR(tc_log(&t), ""); /* stream time 9999 < end 10000 */
        TH_CHECK_INT(tc_rec(&t, "k", 10000, 4, N, 0),
                     CP_OK); /* belongs to the next window, closes [0,10000) */
        TH_CHECK_STR(tc_log(&t),
                     "A k w [0,10000) n=2 final v:n=2 sum=3 min=1 max=2 mean=1.5 first=1 last=2\n");
        tc_clear(&t);
        TH_CHECK_INT(tc_rec(&t, "k", 9999, 1, N, 0), CP_LATE); /* grace 0: window closed */
        TH_CHECK_INT(tc_rec(&t, "k", -1, 1, N, 0), CP_LATE);
        TH_CHECK_INT(tc_rec(&t, "k", 19999, 6, N, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", 20000, 1, N, 0), CP_OK);
        TH_CHECK_STR(
                tc_log(&t),
                "A k w [10000,20000) n=2 final v:n=2 sum=10 min=4 max=6 mean=5 first=4 last=6\n");
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.late, 2);
        TH_CHECK_INT(st.late_windows, 2);
        TH_CHECK_INT(st.open_windows, 1);
        TH_CHECK_INT(st.keys, 1);
        TH_CHECK_INT(st.stream_time_ms, 20000);
        TH_CHECK(st.state_bytes > 0);
        tc_close(&t);
}

static void test_negative_times_and_invalid(void) {
        if (open_spec("'windows':[{'name':'w','type':'tumbling','size':'10s'}]," AGG) < 0)
                return;
        TH_CHECK_INT(tc_rec(&t, "k", -10000, 1, N, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", -1, 2, N, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", 0, 2, N, 0), CP_OK);
        TH_CHECK_HAS(tc_log(&t), "A k w [-10000,0) n=2 final");
        TH_CHECK_INT(tc_rec(&t, "k", INT64_MAX, 1, N, 0), CP_INVALID);
        TH_CHECK_INT(tc_rec(&t, "k", INT64_MIN, 1, N, 0), CP_INVALID);
        tc_close(&t);
}

static void test_grace(void) {
        if (open_spec("'windows':[{'name':'w','type':'tumbling','size':'10s','grace':'5s'}]," AGG) <
            0)
                return;
        TH_CHECK_INT(tc_rec(&t, "k", 0, 1, N, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", 10000, 1, N, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", 14999, 1, N, 0), CP_OK);
        TH_CHECK_STR(tc_log(&t), "");
        TH_CHECK_INT(tc_rec(&t, "k", 5000, 3, N, 0), CP_OK);  /* out of order, within grace */
        TH_CHECK_INT(tc_rec(&t, "k", 15000, 1, N, 0), CP_OK); /* end + grace reached: closes */
        TH_CHECK_STR(tc_log(&t),
                     "A k w [0,10000) n=2 final v:n=2 sum=4 min=1 max=3 mean=2 first=1 last=3\n");
        TH_CHECK_INT(tc_rec(&t, "k", 9999, 1, N, 0), CP_LATE);
        tc_close(&t);
}

static void test_hopping_overlap(void) {
        if (open_spec("'windows':[{'name':'h','type':'hopping','size':'10s','advance':'5s','grace':"
                      "'10s'}]," AGG) < 0)
                return;
        tc_rec(&t, "k", 7000, 1, N, 0);  /* [0,10000) and [5000,15000) */
        tc_rec(&t, "k", 16000, 2, N, 0); /* [10000,20000) and [15000,25000) */
        tc_rec(&t, "k", 4999, 4, N, 0);  /* [0,10000); [-5000,5000) closed at 5000 + grace */
        TH_CHECK_STR(tc_log(&t), "");
        tc_rec(&t, "k", 100000, 0, N, 0);
        TH_CHECK_STR(
                tc_log(&t),
                "A k h [0,10000) n=2 final v:n=2 sum=5 min=1 max=4 mean=2.5 first=4 last=1\n"
                "A k h [5000,15000) n=1 final v:n=1 sum=1 min=1 max=1 mean=1 first=1 last=1\n"
                "A k h [10000,20000) n=1 final v:n=1 sum=2 min=2 max=2 mean=2 first=2 last=2\n"
                "A k h [15000,25000) n=1 final v:n=1 sum=2 min=2 max=2 mean=2 first=2 last=2\n");
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.late_windows, 1);
        TH_CHECK_INT(st.late, 0);
        tc_close(&t);
        /* advance that does not divide size: starts at multiples of advance */
        if (open_spec("'windows':[{'name':'h','type':'hopping','size':'10s','advance':'3s'}]") < 0)
                return;
        tc_rec(&t, "k", 9000, N, N, 0); /* starts 0, 3000, 6000, 9000 */
        tc_rec(&t, "k", 1000000, N, N, 0);
        TH_CHECK_STR(tc_log(&t), "A k h [0,10000) n=1 final\nA k h [3000,13000) n=1 final\n"
                                 "A k h [6000,16000) n=1 final\nA k h [9000,19000) n=1 final\n");
        tc_close(&t);
}

/* Tumbling and hopping windows against a brute-force reference on random
 * out-of-order streams: a record at t, arriving when stream time is S, is
 * counted in every [s, s + size) holding t with s + size + grace > S; each
 * window is emitted once, in close-time order, with exactly those records. */
typedef struct {
        int64_t s;
        int key;
        long long n;
        double sum;
} hw_t;

static hw_t hgot[20000];
static size_t nhgot;
static void on_hop(void *o, const cp_aggregate_t *a) {
        (void)o;
        if (nhgot < 20000 && a->final)
                hgot[nhgot++] = (hw_t){a->start_ms, a->key[0] - 'a', (long long)a->count,
                                       a->fields[0].has_sum ? a->fields[0].sum : 0};
}

static int hw_cmp(const void *a, const void *b) {
        const hw_t *x = a, *y = b;
        if (x->s != y->s)
                return x->s < y->s ? -1 : 1;
        return x->key - y->key;
}

static void test_hopping_reference(void) {
        static const int64_t cfg[][3] = {{10000, 10000, 0},
                                         {10000, 10000, 4000},
                                         {10000, 5000, 2000},
                                         {9000, 2000, 0},
                                         {7000, 3000, 9000}};
        uint64_t seed = 77;
        size_t nlate = 0;
        for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
                int64_t size = cfg[c][0], adv = cfg[c][1], grace = cfg[c][2];
                char spec[256];
                snprintf(spec, sizeof(spec),
                         "'windows':[{'name':'h','type':'hopping','size':'%lldms','advance':'%"
                         "lldms',"
                         "'grace':'%lldms'}],'aggregates':[{'field':'v','ops':['sum']}]",
                         (long long)size, (long long)adv, (long long)grace);
                if (open_spec(spec) < 0)
                        return;
                cp_emit_t em = {on_hop, NULL, NULL};
                nhgot = 0;
                enum { NR = 3000 };
                static int64_t ts[NR], S[NR];
                static int key[NR];
                static cp_res_t res[NR];
                int64_t st = INT64_MIN;
                for (size_t i = 0; i < NR; i++) {
                        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                        ts[i] = (int64_t)i * 50 - (int64_t)((seed >> 33) % 12000) - 5000;
                        key[i] = (int)((seed >> 20) % 3);
                        double v = (double)(i % 97);
                        unsigned char pr = 1;
                        char k[2] = {(char)('a' + key[i]), 0};
                        cp_record_t r = {k, 1, ts[i], &v, &pr};
                        res[i] = cp_part_process(t.p, &r, 0, &em);
                        if (ts[i] > st)
                                st = ts[i];
                        S[i] = st;
                }
                for (int k = 0; k < 3; k++) {
                        double v = 0;
                        unsigned char pr = 0;
                        char kk[2] = {(char)('a' + k), 0};
                        cp_record_t r = {kk, 1, INT64_C(1) << 50, &v, &pr};
                        cp_part_process(t.p, &r, 0, &em);
                }
                /* reference */
                static hw_t want[20000];
                size_t nw = 0;
                int ok = 1;
                for (size_t i = 0; i < NR; i++) {
                        int64_t last =
                                ts[i] >= 0 ? ts[i] / adv * adv : -((-ts[i] + adv - 1) / adv) * adv;
                        int counted = 0;
                        for (int64_t s0 = last; s0 > ts[i] - size; s0 -= adv) {
                                if (s0 + size + grace <= S[i])
                                        continue;
                                counted = 1;
                                size_t j = 0;
                                while (j < nw && !(want[j].s == s0 && want[j].key == key[i]))
                                        j++;
                                if (j == nw)
                                        want[nw++] = (hw_t){s0, key[i], 0, 0};
                                want[j].n++;
                                want[j].sum += (double)(i % 97);
                        }
                        if ((res[i] == CP_LATE) != !counted)
                                ok = 0;
                        nlate += res[i] == CP_LATE;
                }
                TH_CHECK(ok);
                qsort(want, nw, sizeof(*want), hw_cmp);
                /* emitted in close order: starts never decrease */
                for (size_t i = 1; i < nhgot; i++)
                        TH_CHECK(hgot[i].s >= hgot[i - 1].s);
                qsort(hgot, nhgot, sizeof(*hgot), hw_cmp);
                int same = nhgot == nw;
                for (size_t i = 0; same && i < nw; i++)
                        same = hgot[i].s == want[i].s && hgot[i].key == want[i].key &&
                               hgot[i].n == want[i].n && hgot[i].sum == want[i].sum;
                if (!same)
                        printf("  size %lld advance %lld grace %lld: got %zu windows, want %zu\n",
                               (long long)size, (long long)adv, (long long)grace, nhgot, nw);
                TH_CHECK(same);
                tc_close(&t);
        }
        TH_CHECK(nlate > 100); /* the streams did have late records */
}

static void test_keys_order(void) {
        if (open_spec("'windows':[{'name':'a','type':'tumbling','size':'10s'},"
                      "{'name':'b','type':'tumbling','size':'5s'}]") < 0)
                return;
        tc_rec(&t, "zz", 1, N, N, 0);
        tc_rec(&t, "b", 2, N, N, 0);
        tc_rec(&t, "a", 3, N, N, 0);
        tc_rec(&t, "a", 6000, N, N, 0);
        TH_CHECK_STR(
                tc_log(&t),
                "A a b [0,5000) n=1 final\nA b b [0,5000) n=1 final\nA zz b [0,5000) n=1 final\n");
        tc_clear(&t);
        tc_rec(&t, "q", 10000, N, N, 0);
        /* same close time: by key, then window definition */
        TH_CHECK_STR(tc_log(&t), "A a a [0,10000) n=2 final\nA a b [5000,10000) n=1 final\n"
                                 "A b a [0,10000) n=1 final\nA zz a [0,10000) n=1 final\n");
        tc_close(&t);
}

/* Sliding windows against a brute-force reference of Kafka Streams'
 * definition: for each record time t the window [t - D, t], and for each
 * record time x with a later record within D + 1, the window [x + 1, x + 1 + D];
 * each holds the records whose time is inside (both ends inclusive). */
typedef struct {
        int64_t s, e;
        long long n;
        double sum;
} sw_t;

static int sw_cmp(const void *a, const void *b) {
        const sw_t *x = a, *y = b;
        return x->s < y->s ? -1 : x->s > y->s;
}

static sw_t got[4096];
static size_t ngot;
static void on_slide(void *o, const cp_aggregate_t *a) {
        (void)o;
        if (ngot < 4096 && a->final)
                got[ngot++] = (sw_t){a->start_ms, a->end_ms, (long long)a->count,
                                     a->fields[0].has_sum ? a->fields[0].sum : 0};
}

static void test_sliding_reference(void) {
        uint64_t seed = 12345;
        for (int round = 0; round < 30; round++) {
                if (open_spec("'windows':[{'name':'s','type':'sliding','size':'10s','grace':'1h'}],"
                              "'aggregates':[{'field':'v','ops':['sum']}]") < 0)
                        return;
                cp_emit_t em = {on_slide, NULL, NULL};
                ngot = 0;
                int64_t ts[60];
                size_t n = 5 + (size_t)(round % 40);
                for (size_t i = 0; i < n; i++) {
                        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                        /* clustered times with repeats, in random order */
                        ts[i] = (int64_t)((seed >> 33) % 60) * 1000 +
                                ((seed >> 20) % 3 == 0 ? 1 : 0);
                        double v = (double)(i + 1);
                        unsigned char pr = 1;
                        cp_record_t r = {"k", 1, ts[i], &v, &pr};
                        TH_CHECK_INT(cp_part_process(t.p, &r, 0, &em), CP_OK);
                }
                double v = 0;
                unsigned char pr = 0;
                cp_record_t fl = {"other", 5, 100000000, &v, &pr};
                cp_part_process(t.p, &fl, 0, &em);
                /* reference */
                sw_t want[200] = {{0, 0, 0, 0}};
                size_t nw = 0;
                int64_t D = 10000;
                for (size_t i = 0; i < n; i++) {
                        int64_t starts[2] = {ts[i] - D, ts[i] + 1};
                        for (int w = 0; w < 2; w++) {
                                int64_t s = starts[w];
                                int dup = 0;
                                for (size_t j = 0; j < nw; j++)
                                        dup |= want[j].s == s;
                                if (dup)
                                        continue;
                                sw_t x = {s, s + D + 1, 0, 0};
                                for (size_t j = 0; j < n; j++)
                                        if (ts[j] >= s && ts[j] <= s + D) {
                                                x.n++;
                                                x.sum += (double)(j + 1);
                                        }
                                if (w == 0 || x.n > 0)
                                        want[nw++] = x;
                        }
                }
                qsort(want, nw, sizeof(*want), sw_cmp);
                qsort(got, ngot, sizeof(*got), sw_cmp);
                int same = ngot == nw;
                for (size_t i = 0; same && i < nw; i++)
                        same = got[i].s == want[i].s && got[i].e == want[i].e &&
                               got[i].n == want[i].n && got[i].sum == want[i].sum;
                if (!same) {
                        printf("  round %d: got %zu windows, want %zu\n", round, ngot, nw);
                        for (size_t i = 0; i < nw || i < ngot; i++)
                                printf("   %s [%lld,%lld) n=%lld sum=%g | [%lld,%lld) n=%lld "
                                       "sum=%g\n",
                                       i < ngot && i < nw && memcmp(&got[i], &want[i], sizeof(sw_t))
                                               ? "*"
                                               : " ",
                                       i < ngot ? (long long)got[i].s : 0,
                                       i < ngot ? (long long)got[i].e : 0, i < ngot ? got[i].n : 0,
                                       i < ngot ? got[i].sum : 0, i < nw ? (long long)want[i].s : 0,
                                       i < nw ? (long long)want[i].e : 0, i < nw ? want[i].n : 0,
                                       i < nw ? want[i].sum : 0);
                }
                TH_CHECK(same);
                cp_part_stats_t st;
                cp_part_stats(t.p, &st);
                TH_CHECK_INT(st.open_windows, 1); /* the flush record's own left window */
                tc_close(&t);
        }
}

static void test_sliding_close_and_late(void) {
        if (open_spec("'windows':[{'name':'s','type':'sliding','size':'10s'}]," AGG) < 0)
                return;
        tc_rec(&t, "k", 10000, 1, N, 0);
        tc_rec(&t, "k", 15000, 2, N, 0); /* stream time passed [0, 10000]: closed */
        TH_CHECK_STR(tc_log(&t),
                     "A k s [0,10001) n=1 final v:n=1 sum=1 min=1 max=1 mean=1 first=1 last=1\n");
        tc_clear(&t);
        tc_rec(&t, "k", 30000, 3, N, 0);
        TH_CHECK_STR(
                tc_log(&t),
                "A k s [5000,15001) n=2 final v:n=2 sum=3 min=1 max=2 mean=1.5 first=1 last=2\n"
                "A k s [10001,20002) n=1 final v:n=1 sum=2 min=2 max=2 mean=2 first=2 last=2\n");
        /* 19999: every window that could hold it ends by 30000 = stream time */
        TH_CHECK_INT(tc_rec(&t, "k", 19999, 1, N, 0), CP_LATE);
        /* 20000: its left window [10000, 20000] has closed but [20000, 30000] is open */
        TH_CHECK_INT(tc_rec(&t, "k", 20000, 5, N, 0), CP_OK);
        tc_clear(&t);
        tc_rec(&t, "k", 100000, 0, N, 0);
        TH_CHECK_STR(
                tc_log(&t),
                "A k s [20000,30001) n=2 final v:n=2 sum=8 min=3 max=5 mean=4 first=5 last=3\n"
                "A k s [20001,30002) n=1 final v:n=1 sum=3 min=3 max=3 mean=3 first=3 last=3\n");
        tc_close(&t);
}

static void test_session(void) {
        if (open_spec("'windows':[{'name':'s','type':'session','gap':'5s'}]," AGG) < 0)
                return;
        tc_rec(&t, "k", 0, 1, N, 0);
        tc_rec(&t, "k", 3000, 2, N, 0);  /* extends */
        tc_rec(&t, "k", 8000, 3, N, 0);  /* exactly gap after the last: extends (gap inclusive) */
        tc_rec(&t, "k", 13001, 4, N, 0); /* gap + 1: new session; closes [0,8001) at 8001 + 5000 */
        TH_CHECK_STR(tc_log(&t),
                     "A k s [0,8001) n=3 final v:n=3 sum=6 min=1 max=3 mean=2 first=1 last=3\n");
        tc_clear(&t);
        TH_CHECK_INT(tc_rec(&t, "k", 2000, 1, N, 0), CP_LATE); /* its session has closed */
        tc_rec(&t, "k", 18001, 0, N, 0); /* extends [13001,13002) to [13001,18002) */
        tc_rec(&t, "k", 23002, 0, N, 0); /* gap after 18001 + 1: closes it */
        TH_CHECK_STR(
                tc_log(&t),
                "A k s [13001,18002) n=2 final v:n=2 sum=4 min=0 max=4 mean=2 first=4 last=0\n");
        tc_close(&t);
}

static void test_session_merge(void) {
        if (open_spec("'windows':[{'name':'s','type':'session','gap':'5s','grace':'100s'}]," AGG) <
            0)
                return;
        tc_rec(&t, "k", 10000, 2, N, 0);
        tc_rec(&t, "k", 0, 1, N, 0);     /* separate: 10000 - 0 > gap */
        tc_rec(&t, "k", 20000, 9, N, 0); /* separate too */
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.open_windows, 3);
        tc_rec(&t, "k", 5000, 3, N, 0); /* bridges the first two */
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.open_windows, 2);
        tc_rec(&t, "k", 15000, 4, N, 0); /* bridges the merged one and the third */
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.open_windows, 1);
        tc_rec(&t, "k", 1000000, 0, N, 0);
        TH_CHECK_HAS(tc_log(&t), "A k s [0,20001) n=5 final v:n=5 sum=19 min=1 max=9 "
                                 "mean=3.7999999999999998 first=1 last=9\n");
        tc_close(&t);
}

/* Sessions against a reference on random arrival orders (grace large
 * enough that nothing is late): per key, the records sorted by time split
 * wherever two neighbours are more than gap apart. */
static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

static void test_session_reference(void) {
        uint64_t seed = 5;
        for (int round = 0; round < 20; round++) {
                if (open_spec("'windows':[{'name':'g','type':'session','gap':'3s','grace':'1h'}],"
                              "'aggregates':[{'field':'v','ops':['sum']}]") < 0)
                        return;
                cp_emit_t em = {on_hop, NULL, NULL};
                nhgot = 0;
                enum { NR = 400 };
                int64_t ts[3][NR];
                size_t nk[3] = {0, 0, 0};
                for (size_t i = 0; i < NR; i++) {
                        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                        int k = (int)((seed >> 20) % 3);
                        /* sparse enough for several sessions, dense enough for merges */
                        int64_t t0 = (int64_t)((seed >> 33) % (uint64_t)(200000 + round * 20000));
                        ts[k][nk[k]] = t0;
                        nk[k]++;
                        double v = (double)(t0 % 89);
                        unsigned char pr = 1;
                        char kk[2] = {(char)('a' + k), 0};
                        cp_record_t r = {kk, 1, t0, &v, &pr};
                        TH_CHECK_INT(cp_part_process(t.p, &r, 0, &em), CP_OK);
                }
                for (int k = 0; k < 3; k++) {
                        double v = 0;
                        unsigned char pr = 0;
                        char kk[2] = {(char)('a' + k), 0};
                        cp_record_t r = {kk, 1, INT64_C(1) << 50, &v, &pr};
                        cp_part_process(t.p, &r, 0, &em);
                }
                static hw_t want[NR];
                size_t nw = 0;
                for (int k = 0; k < 3; k++) {
                        int64_t st[NR];
                        memcpy(st, ts[k], nk[k] * sizeof(int64_t));
                        qsort(st, nk[k], sizeof(int64_t), cmp_i64);
                        for (size_t i = 0; i < nk[k]; i++) {
                                if (i == 0 || st[i] - st[i - 1] > 3000)
                                        want[nw++] = (hw_t){st[i], k, 0, 0};
                                want[nw - 1].n++;
                                want[nw - 1].sum += (double)(st[i] % 89);
                        }
                }
                qsort(want, nw, sizeof(*want), hw_cmp);
                qsort(hgot, nhgot, sizeof(*hgot), hw_cmp);
                int same = nhgot == nw;
                for (size_t i = 0; same && i < nw; i++)
                        same = hgot[i].s == want[i].s && hgot[i].key == want[i].key &&
                               hgot[i].n == want[i].n && hgot[i].sum == want[i].sum;
                if (!same)
                        printf("  round %d: got %zu sessions, want %zu\n", round, nhgot, nw);
                TH_CHECK(same);
                TH_CHECK(nw > 3);
                tc_close(&t);
        }
}

static void test_changes(void) {
        if (open_spec("'windows':[{'name':'w','type':'tumbling','size':'10s','emit':{'mode':'"
                      "changes','min_interval':'1s'}}],"
                      "'aggregates':[{'field':'v','ops':['sum']}]") < 0)
                return;
        tc_rec(&t, "k", 0, 1, N, 100000);
        TH_CHECK_STR(tc_log(&t), "A k w [0,10000) n=1 update v:n=1 sum=1\n");
        tc_clear(&t);
        tc_rec(&t, "k", 1, 2, N, 100500); /* within min_interval: held */
        tc_rec(&t, "j", 1, 5, N, 100500); /* another key: its own interval */
        TH_CHECK_STR(tc_log(&t), "A j w [0,10000) n=1 update v:n=1 sum=5\n");
        tc_clear(&t);
        cp_part_tick(t.p, 100999, tc_emit(&t));
        TH_CHECK_STR(tc_log(&t), "");
        cp_part_tick(t.p, 101000, tc_emit(&t));
        TH_CHECK_STR(tc_log(&t), "A k w [0,10000) n=2 update v:n=2 sum=3\n");
        tc_clear(&t);
        cp_part_tick(t.p, 105000, tc_emit(&t)); /* nothing changed since */
        TH_CHECK_STR(tc_log(&t), "");
        tc_rec(&t, "k", 2, 4, N, 105001); /* interval long past: at once */
        TH_CHECK_STR(tc_log(&t), "A k w [0,10000) n=3 update v:n=3 sum=7\n");
        tc_clear(&t);
        tc_rec(&t, "k", 3, 1, N, 105002); /* held, then the window closes: final only */
        tc_rec(&t, "k", 10000, 1, N, 105003);
        TH_CHECK_STR(tc_log(&t), "A k w [10000,20000) n=1 update v:n=1 sum=1\n"
                                 "A j w [0,10000) n=1 final v:n=1 sum=5\n"
                                 "A k w [0,10000) n=4 final v:n=4 sum=8\n");
        tc_clear(&t);
        cp_part_tick(t.p, 200000, tc_emit(&t));
        TH_CHECK_STR(tc_log(&t), "");
        tc_close(&t);
}

static void test_hysteresis(void) {
        if (open_spec("'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                      "'aggregates':[{'field':'v','ops':['mean']}],"
                      "'rules':[{'name':'hot','expr':'mean(v) > 10 and count() >= "
                      "1','for':2,'severity':'critical',"
                      "'labels':{'team':'x'}}]") < 0)
                return;
        static const double means[] = {20, 20, 20, 5, 20, 20, 5};
        for (int i = 0; i < 7; i++)
                tc_rec(&t, "k", i * 10000, means[i], N, 0);
        tc_rec(&t, "k", 70000, 0, N, 0);
        const char *log = tc_log(&t);
        const char *f1 =
                strstr(log, "R hot k w [10000,20000) FIRING sev=2 mean(v)=20 count()=1 team:x\n");
        const char *r1 =
                strstr(log, "R hot k w [30000,40000) RESOLVED sev=2 mean(v)=5 count()=1 team:x\n");
        const char *f2 = strstr(log, "R hot k w [50000,60000) FIRING sev=2");
        const char *r2 = strstr(log, "R hot k w [60000,70000) RESOLVED");
        TH_CHECK(f1 && r1 && f2 && r2 && f1 < r1 && r1 < f2 && f2 < r2);
        TH_CHECK_INT(t.nalerts, 4);
        /* the aggregate comes before the alert it caused */
        TH_CHECK(f1 && strstr(log, "A k w [10000,20000)") < f1);
        /* hysteresis is per key */
        tc_clear(&t);
        tc_rec(&t, "a", 80000, 50, N, 0);
        tc_rec(&t, "b", 80000, 50, N, 0);
        tc_rec(&t, "a", 90000, 50, N, 0);
        tc_rec(&t, "a", 100000, 50, N, 0);
        TH_CHECK_INT(t.nalerts, 1);
        TH_CHECK_HAS(tc_log(&t), "R hot a w [90000,100000) FIRING");
        tc_close(&t);
}

static void test_zscore(void) {
        if (open_spec("'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                      "'aggregates':[{'field':'v','ops':['mean']}],'anomaly':{'alpha':0.5,'min_"
                      "windows':3},"
                      "'rules':[{'name':'drop','expr':'zscore(mean(v)) < -3'}]") < 0)
                return;
        /* window means 10, 12, 11, 13, 0 (a drop), 30 */
        static const double m[] = {10, 12, 11, 13, 0, 30};
        for (int i = 0; i < 6; i++) {
                tc_rec(&t, "k", i * 10000, m[i] - 1, N, 0);
                tc_rec(&t, "k", i * 10000 + 1, m[i] + 1, N, 0);
        }
        tc_rec(&t, "k", 60000, 0, N, 0);
        /* independent EWMA: mean/var after each window, zscore before updating */
        double mean = 0, var = 0, z[6];
        int has[6];
        for (int i = 0; i < 6; i++) {
                has[i] = i >= 3 && var > 0;
                z[i] = has[i] ? (m[i] - mean) / sqrt(var) : 0;
                if (i == 0) {
                        mean = m[0];
                } else {
                        double d = m[i] - mean;
                        mean += 0.5 * d;
                        var = 0.5 * (var + 0.5 * d * d);
                }
        }
        const char *log = tc_log(&t);
        for (int i = 0; i < 6; i++) {
                char line[256];
                if (has[i])
                        snprintf(line, sizeof(line),
                                 "A k w [%d,%d) n=2 final v:n=2 mean=%.17g zscore=%.17g\n",
                                 i * 10000, i * 10000 + 10000, m[i], z[i]);
                else
                        snprintf(line, sizeof(line), "A k w [%d,%d) n=2 final v:n=2 mean=%.17g\n",
                                 i * 10000, i * 10000 + 10000, m[i]);
                TH_CHECK_HAS(log, line);
        }
        TH_CHECK(z[4] < -3 && has[4]);
        char alert[256];
        snprintf(alert, sizeof(alert),
                 "R drop k w [40000,50000) FIRING sev=1 zscore(mean(v))=%.17g\n", z[4]);
        TH_CHECK_HAS(log, alert);
        TH_CHECK_HAS(log, "R drop k w [50000,60000) RESOLVED sev=1 zscore(mean(v))=");
        TH_CHECK_INT(t.nalerts, 2);
        tc_close(&t);
}

static void test_nulls(void) {
        if (open_spec(
                    "'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                    "'aggregates':[{'field':'v','ops':['mean','sum']},{'field':'u','ops':['max']}],"
                    "'rules':[{'name':'r','expr':'not (mean(v) > 0) and count(u) == 2'}]") < 0)
                return;
        tc_rec(&t, "k", 0, N, 1, 0);
        tc_rec(&t, "k", 1, INFINITY, 3, 0); /* non-finite counts as null */
        tc_rec(&t, "k", 10000, 1, N, 0);
        TH_CHECK_STR(tc_log(&t), "A k w [0,10000) n=2 final v:n=0 sum=0 u:n=2 max=3\n"
                                 "R r k w [0,10000) FIRING sev=1 count(u)=2\n");
        tc_close(&t);
}

TH_MAIN("compute_win", TH_T(test_tumbling_boundaries), TH_T(test_negative_times_and_invalid),
        TH_T(test_grace), TH_T(test_hopping_overlap), TH_T(test_hopping_reference),
        TH_T(test_keys_order), TH_T(test_sliding_reference), TH_T(test_sliding_close_and_late),
        TH_T(test_session), TH_T(test_session_merge), TH_T(test_session_reference),
        TH_T(test_changes), TH_T(test_hysteresis), TH_T(test_zscore), TH_T(test_nulls))
