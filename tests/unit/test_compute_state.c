/* Unit tests: the compute engine's changelog state.  A partition restored
 * from what cp_part_flush_dirty() wrote behaves exactly like one that never
 * stopped (same emissions, byte for byte); corrupt or hostile bytes are
 * errors, never crashes. */
#include "th.h"

#include "../../services/compute/cp_int.h"
#include "th_compute.h"

#include <math.h>

/* An in-memory compacted changelog: latest value per key, tombstones delete. */
typedef struct {
        char *k[4096];
        size_t klen[4096];
        unsigned char *v[4096];
        size_t vlen[4096];
        size_t n;
        size_t writes, tombstones;
} clog_t;

static void clog_put(void *opaque, const void *key, size_t key_len, const void *val,
                     size_t val_len) {
        clog_t *c = opaque;
        c->writes++;
        size_t i = 0;
        while (i < c->n && !(c->klen[i] == key_len && memcmp(c->k[i], key, key_len) == 0))
                i++;
        if (!val) {
                c->tombstones++;
                if (i < c->n) {
                        free(c->k[i]);
                        free(c->v[i]);
                        c->k[i] = c->k[c->n - 1];
                        c->klen[i] = c->klen[c->n - 1];
                        c->v[i] = c->v[c->n - 1];
                        c->vlen[i] = c->vlen[c->n - 1];
                        c->n--;
                }
                return;
        }
        if (i == c->n) {
                if (c->n == 4096)
                        return;
                c->k[i] = malloc(key_len);
                memcpy(c->k[i], key, key_len);
                c->klen[i] = key_len;
                c->v[i] = NULL;
                c->n++;
        }
        free(c->v[i]);
        c->v[i] = malloc(val_len ? val_len : 1);
        memcpy(c->v[i], val, val_len);
        c->vlen[i] = val_len;
}

static void clog_free(clog_t *c) {
        for (size_t i = 0; i < c->n; i++) {
                free(c->k[i]);
                free(c->v[i]);
        }
        memset(c, 0, sizeof(*c));
}

/* Restores everything in c into a fresh partition of t. */
static int restore_all(tc_t *t, clog_t *c) {
        cp_part_destroy(t->p);
        t->p = cp_part_new(t->e, 0);
        char e[256];
        for (size_t i = 0; i < c->n; i++)
                if (cp_part_restore(t->p, c->k[i], c->klen[i], c->v[i], c->vlen[i], e, sizeof(e)) <
                    0) {
                        printf("  restore: %s\n", e);
                        return -1;
                }
        return 0;
}

#define FULL_SPEC                                                                                  \
        "'windows':[{'name':'t','type':'tumbling','size':'10s','grace':'3s'},"                     \
        "{'name':'h','type':'hopping','size':'20s','advance':'5s','emit':{'mode':'changes','min_"  \
        "interval':'2s'}},"                                                                        \
        "{'name':'s','type':'sliding','size':'4s','grace':'2s'},"                                  \
        "{'name':'g','type':'session','gap':'6s','grace':'1s'}],"                                  \
        "'aggregates':[{'field':'v','ops':['count','sum','min','max','mean','variance','stddev','" \
        "first','last','p50','p90','p95','p99']},"                                                 \
        "{'field':'u','ops':['mean','p50']}],"                                                     \
        "'anomaly':{'alpha':0.3,'min_windows':2},"                                                 \
        "'rules':[{'name':'r1','window':'t','expr':'mean(v) > 50 and count() >= 2','for':2},"      \
        "{'name':'r2','window':'g','expr':'zscore(mean(v)) > 1 or p99(v) > 90'},"                  \
        "{'name':'r3','window':'s','expr':'not (mean(u) < 0.5)'},"                                 \
        "{'name':'r4','window':'t','expr':'absent for 7s','severity':'info'}]"

typedef struct {
        char key[8];
        int64_t ts, now;
        double v, u;
} ev_t;

static ev_t evs[6000];

static size_t make_events(uint64_t seed) {
        size_t n = sizeof(evs) / sizeof(evs[0]);
        int64_t base = 1700000000000;
        for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                uint64_t r = seed >> 16;
                snprintf(evs[i].key, sizeof(evs[i].key), "k%u", (unsigned)(r % 13));
                /* mostly increasing, with disorder up to 8 s (some late) and gaps (sessions) */
                int64_t jitter = (int64_t)((r >> 8) % 8000);
                evs[i].ts = base + (int64_t)i * 300 - jitter + ((i / 700) % 2 ? 20000 : 0);
                evs[i].now = (int64_t)i * 37;
                evs[i].v = (double)((r >> 20) % 1000) / 10.0;
                evs[i].u = (r >> 40) % 7 == 0 ? NAN : (double)((r >> 30) % 100) / 100.0;
        }
        return n;
}

static void feed(tc_t *t, size_t from, size_t to) {
        for (size_t i = from; i < to; i++) {
                tc_rec(t, evs[i].key, evs[i].ts, evs[i].v, evs[i].u, evs[i].now);
                if (i % 50 == 0)
                        cp_part_tick(t->p, evs[i].now, tc_emit(t));
        }
}

static void test_round_trip(void) {
        size_t n = make_events(7);
        tc_t a, b;
        if (tc_open(&a, FULL_SPEC) < 0 || tc_open(&b, FULL_SPEC) < 0) {
                printf("  spec: %s %s\n", a.err, b.err);
                TH_CHECK(0);
                return;
        }
        feed(&a, 0, n);
        TH_CHECK(a.naggs > 1000 && a.nalerts > 10);
        /* b: checkpoints at several points; restarts from the changelog at some */
        clog_t c;
        memset(&c, 0, sizeof(c));
        size_t cuts[] = {1, 777, 1500, 2222, 3001, 4500, 5999};
        size_t at = 0;
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
                feed(&b, at, cuts[i]);
                at = cuts[i];
                cp_part_flush_dirty(b.p, clog_put, &c);
                if (i % 2 == 0)
                        TH_CHECK(restore_all(&b, &c) == 0);
        }
        feed(&b, at, n);
        TH_CHECK_INT(b.naggs, a.naggs);
        TH_CHECK_INT(b.nalerts, a.nalerts);
        TH_CHECK(a.len == b.len && memcmp(tc_log(&a), tc_log(&b), a.len) == 0);
        if (a.len != b.len || memcmp(tc_log(&a), tc_log(&b), a.len) != 0) {
                size_t i = 0;
                while (i < a.len && i < b.len && a.log[i] == b.log[i])
                        i++;
                size_t s = i > 200 ? i - 200 : 0;
                printf("  first difference at %zu:\n  a: %.400s\n  b: %.400s\n", i, a.log + s,
                       b.log + s);
        }
        cp_part_stats_t sa, sb;
        cp_part_stats(a.p, &sa);
        cp_part_stats(b.p, &sb);
        TH_CHECK_INT(sb.late, sa.late);
        TH_CHECK(sa.late > 0); /* the stream had late records */
        TH_CHECK_INT(sb.late_windows, sa.late_windows);
        TH_CHECK_INT(sb.open_windows, sa.open_windows);
        TH_CHECK_INT(sb.keys, sa.keys);
        TH_CHECK_INT(sb.stream_time_ms, sa.stream_time_ms);
        /* the tracked byte count is what a full walk finds */
        TH_CHECK_INT(sa.state_bytes, cp_part_bytes_walk(a.p));
        TH_CHECK_INT(sb.state_bytes, cp_part_bytes_walk(b.p));
        /* a flush with nothing changed writes nothing */
        size_t w = c.writes;
        cp_part_flush_dirty(b.p, clog_put, &c);
        cp_part_flush_dirty(b.p, clog_put, &c);
        TH_CHECK(c.writes > w);
        w = c.writes;
        cp_part_flush_dirty(b.p, clog_put, &c);
        TH_CHECK_INT(c.writes, w);
        clog_free(&c);
        tc_close(&a);
        tc_close(&b);
}

/* Keys whose state empties (no aggregates, no rules) are tombstoned. */
static void test_tombstones(void) {
        tc_t t;
        if (tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'10s'}]") < 0)
                return;
        clog_t c;
        memset(&c, 0, sizeof(c));
        tc_rec(&t, "a", 0, NAN, NAN, 0);
        tc_rec(&t, "b", 1, NAN, NAN, 0);
        cp_part_flush_dirty(t.p, clog_put, &c);
        TH_CHECK_INT(c.n, 3);                /* Ka, Kb, M */
        tc_rec(&t, "b", 10000, NAN, NAN, 0); /* closes both: a's state is gone */
        cp_part_flush_dirty(t.p, clog_put, &c);
        TH_CHECK_INT(c.tombstones, 1);
        TH_CHECK_INT(c.n, 3 - 1);
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.keys, 1);
        TH_CHECK(restore_all(&t, &c) == 0);
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.keys, 1);
        TH_CHECK_INT(st.open_windows, 1);
        TH_CHECK_INT(st.stream_time_ms, 10000);
        /* a late record leaves the key's state alone: only the metadata (late count) is written */
        size_t w = c.writes;
        TH_CHECK_INT(tc_rec(&t, "b", 5, NAN, NAN, 0), CP_LATE);
        cp_part_flush_dirty(t.p, clog_put, &c);
        TH_CHECK_INT(c.writes, w + 1);
        char e[256];
        TH_CHECK(cp_part_restore(t.p, "Kb", 2, NULL, 0, e, sizeof(e)) == 0);
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.keys, 0);
        clog_free(&c);
        tc_close(&t);
}

static void test_corrupt(void) {
        tc_t t;
        if (tc_open(&t, FULL_SPEC) < 0)
                return;
        size_t n = make_events(99);
        feed(&t, 0, n / 3);
        clog_t c;
        memset(&c, 0, sizeof(c));
        cp_part_flush_dirty(t.p, clog_put, &c);
        TH_CHECK(c.n > 5);
        char e[256];
        size_t errors = 0, oks = 0;
        uint64_t seed = 1;
        for (size_t i = 0; i < c.n; i++) {
                /* every truncation of every value is refused */
                for (size_t cut = 0; cut < c.vlen[i]; cut += 1 + c.vlen[i] / 200) {
                        cp_part_t *p = cp_part_new(t.e, 0);
                        int rc = cp_part_restore(p, c.k[i], c.klen[i], c.v[i], cut, e, sizeof(e));
                        TH_CHECK(rc < 0);
                        cp_part_destroy(p);
                }
                /* random corruption: an error or a state that still works */
                unsigned char *m = malloc(c.vlen[i] + 1);
                for (int round = 0; round < 100; round++) {
                        memcpy(m, c.v[i], c.vlen[i]);
                        for (int f = 0; f < 1 + round % 4; f++) {
                                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                                m[(seed >> 33) % c.vlen[i]] ^=
                                        (unsigned char)(1u << ((seed >> 20) % 8));
                        }
                        cp_part_t *p = cp_part_new(t.e, 0);
                        if (cp_part_restore(p, c.k[i], c.klen[i], m, c.vlen[i], e, sizeof(e)) < 0) {
                                errors++;
                        } else {
                                oks++;
                                tc_t u = t; /* process on with the mutated state */
                                u.p = p;
                                u.log = NULL;
                                u.len = u.cap = 0;
                                u.quiet = 1;
                                for (size_t j = n / 3; j < n / 3 + 200; j++)
                                        tc_rec(&u, evs[j].key, evs[j].ts, evs[j].v, evs[j].u,
                                               evs[j].now);
                                cp_part_tick(p, 1000000, tc_emit(&u));
                                cp_part_stats_t s3;
                                cp_part_stats(p, &s3);
                                TH_CHECK_INT(s3.state_bytes, cp_part_bytes_walk(p));
                                tc_rec(&u, "k1", INT64_C(1) << 60, 1, 1, 0);
                                free(u.log);
                                clog_t c2;
                                memset(&c2, 0, sizeof(c2));
                                cp_part_flush_dirty(p, clog_put, &c2);
                                clog_free(&c2);
                        }
                        cp_part_destroy(p);
                }
                free(m);
        }
        TH_CHECK(errors > 0);
        printf("  corrupt states: %zu refused, %zu accepted and processed on\n", errors, oks);
        /* specific refusals */
        cp_part_t *p = cp_part_new(t.e, 0);
        size_t ki = 0;
        while (ki < c.n && c.k[ki][0] != 'K')
                ki++;
        unsigned char *m = malloc(c.vlen[ki]);
        memcpy(m, c.v[ki], c.vlen[ki]);
        m[0] = 9;
        TH_CHECK(cp_part_restore(p, c.k[ki], c.klen[ki], m, c.vlen[ki], e, sizeof(e)) < 0);
        TH_CHECK_STR(e, "key state: unknown format version 9");
        memcpy(m, c.v[ki], c.vlen[ki]);
        m[1] = 3; /* ndefs */
        TH_CHECK(cp_part_restore(p, c.k[ki], c.klen[ki], m, c.vlen[ki], e, sizeof(e)) < 0);
        TH_CHECK_STR(e,
                     "key state: written for 3 windows, 2 fields, 4 rules; the spec has 4, 2, 4");
        unsigned char *longer = malloc(c.vlen[ki] + 1);
        memcpy(longer, c.v[ki], c.vlen[ki]);
        longer[c.vlen[ki]] = 0;
        TH_CHECK(cp_part_restore(p, c.k[ki], c.klen[ki], longer, c.vlen[ki] + 1, e, sizeof(e)) < 0);
        TH_CHECK_STR(e, "key state: trailing bytes");
        free(longer);
        free(m);
        TH_CHECK(cp_part_restore(p, "X", 1, "\x01", 1, e, sizeof(e)) < 0);
        TH_CHECK_STR(e, "changelog key is not a compute state key");
        TH_CHECK(cp_part_restore(p, "", 0, "\x01", 1, e, sizeof(e)) < 0);
        TH_CHECK(cp_part_restore(p, "M", 1, "\x01\x01", 2, e, sizeof(e)) < 0);
        TH_CHECK_STR(e, "partition metadata: truncated or malformed bytes");
        TH_CHECK(cp_part_restore(p, "M", 1, "\x02", 1, e, sizeof(e)) < 0);
        TH_CHECK_STR(e, "partition metadata: unknown format version 2");
        TH_CHECK(cp_part_restore(p, "M", 1, "\x01\x00\x00\x00", 4, e, sizeof(e)) == 0);
        /* a huge count in few bytes is refused before allocating */
        static const unsigned char big[] = {1,    4,    2,    3,    0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
        TH_CHECK(cp_part_restore(p, "Kz", 2, big, sizeof(big), e, sizeof(e)) < 0);
        cp_part_stats_t st;
        cp_part_stats(p, &st);
        TH_CHECK_INT(st.state_bytes, cp_part_bytes_walk(p));
        TH_CHECK_INT(st.keys, 0); /* refused keys leave nothing behind */
        TH_CHECK_INT(st.open_windows, 0);
        cp_part_destroy(p);
        clog_free(&c);
        tc_close(&t);
}

/* Steady state allocates nothing per record: windows come from a free list
 * and sketches keep their buckets.  Checked indirectly: after a warm-up, the
 * state's bytes stay flat over many more windows of the same shape. */
static void test_bounded_memory(void) {
        tc_t t;
        if (tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'1s'}],"
                        "'aggregates':[{'field':'v','ops':['count','mean','stddev','p99']}]") < 0)
                return;
        uint64_t seed = 3;
        t.quiet = 1;
        cp_part_stats_t s1, s2;
        memset(&s1, 0, sizeof(s1));
        for (int64_t i = 0; i < 400000; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                char key[8];
                snprintf(key, sizeof(key), "k%d", (int)(i % 100));
                tc_rec(&t, key, i * 10, 10 + (double)((seed >> 33) % 1000) / 10, NAN, 0);
                t.len = 0;
                /* same phase as the last record: the same windows are open */
                if (i == 99999)
                        cp_part_stats(t.p, &s1);
        }
        cp_part_stats(t.p, &s2);
        TH_CHECK_INT(s2.keys, 100);
        TH_CHECK_INT(s2.open_windows, 100);
        TH_CHECK(s2.state_bytes <= s1.state_bytes + 4096);
        printf("  100 keys x 1 open window (count, mean, stddev, p99): %lld bytes of state\n",
               (long long)s2.state_bytes);
        tc_close(&t);
}

/* ---------------------------------------------------------------- format 1 */

#define V1_SPEC(vops)                                                                              \
        "'windows':[{'name':'t','type':'tumbling','size':'10s','grace':'3s'},"                     \
        "{'name':'h','type':'hopping','size':'20s','advance':'5s','emit':{'mode':'changes','min_"  \
        "interval':'2s'}}],"                                                                       \
        "'aggregates':[{'field':'v','ops':[" vops "]},{'field':'u','ops':['mean','p50']}],"        \
        "'anomaly':{'alpha':0.3,'min_windows':2},"                                                 \
        "'rules':[{'name':'r1','window':'t','expr':'mean(v) > 50 and count() >= 2','for':2}]"
#define V1_ALL                                                                                     \
        V1_SPEC("'count','sum','min','max','mean','variance','stddev','first','last','p50','p90'," \
                "'p95','p99'")
#define V1_SMALL V1_SPEC("'count','mean','p99'")

static void copy_sketch(cp_rd_t *r, buf_t *o) {
        cp_w_uvar(o, cp_r_uvar(r)); /* zeros */
        for (int st = 0; st < 2; st++) {
                uint64_t len = cp_r_uvar(r);
                cp_w_uvar(o, len);
                if (len) {
                        cp_w_svar(o, cp_r_svar(r));
                        for (uint64_t i = 0; i < len; i++)
                                cp_w_uvar(o, cp_r_uvar(r));
                }
        }
}

/* A key state of format 2 rewritten as format 1 wrote it (no groups;
 * every aggregate with all nine doubles and both times, the sketch when the
 * field has one), for specs without sliding windows.  Statistics format 2
 * did not keep are written as 0: a reader under the same ops drops them. */
static void to_v1(const unsigned char *in, size_t len, buf_t *o) {
        cp_rd_t r;
        cp_rd_init(&r, in, len);
        TH_CHECK(cp_r_u8(&r) == 2);
        cp_w_u8(o, 1);
        uint64_t nd = cp_r_uvar(&r), nf = cp_r_uvar(&r), nr = cp_r_uvar(&r);
        cp_w_uvar(o, nd);
        cp_w_uvar(o, nf);
        cp_w_uvar(o, nr);
        unsigned g[8];
        for (uint64_t f = 0; f < nf && f < 8; f++)
                g[f] = (unsigned)cp_r_uvar(&r);
        for (uint64_t d = 0; d < nd; d++) {
                uint64_t nwin = cp_r_uvar(&r);
                cp_w_uvar(o, nwin);
                for (uint64_t i = 0; i < nwin; i++) {
                        cp_w_svar(o, cp_r_svar(&r));
                        cp_w_uvar(o, cp_r_uvar(&r));
                        cp_w_uvar(o, cp_r_uvar(&r));
                        uint8_t fl = cp_r_u8(&r);
                        cp_w_u8(o, fl);
                        if (fl & 4)
                                cp_w_svar(o, cp_r_svar(&r));
                        for (uint64_t f = 0; f < nf; f++) {
                                uint64_t n = cp_r_uvar(&r);
                                cp_w_uvar(o, n);
                                if (!n)
                                        continue;
                                double shift = cp_r_f64(&r), mean = cp_r_f64(&r), m2 = 0, sum = 0,
                                       sum_c = 0, mn = 0, mx = 0, first = 0, last = 0;
                                int64_t fts = 0, lts = 0;
                                if (g[f] & AGG_G_M2)
                                        m2 = cp_r_f64(&r);
                                if (g[f] & AGG_G_SUM) {
                                        sum = cp_r_f64(&r);
                                        sum_c = cp_r_f64(&r);
                                }
                                if (g[f] & AGG_G_MINMAX) {
                                        mn = cp_r_f64(&r);
                                        mx = cp_r_f64(&r);
                                }
                                if (g[f] & AGG_G_FL) {
                                        first = cp_r_f64(&r);
                                        last = cp_r_f64(&r);
                                        fts = cp_r_svar(&r);
                                        lts = cp_r_svar(&r);
                                }
                                const double dd[] = {sum,  sum_c, mn,    mx,  shift,
                                                     mean, m2,    first, last};
                                for (int k = 0; k < 9; k++)
                                        cp_w_f64(o, dd[k]);
                                cp_w_svar(o, fts);
                                cp_w_svar(o, lts);
                                if (g[f] & AGG_G_QS)
                                        copy_sketch(&r, o);
                        }
                }
        }
        buf_append(o, r.p, (size_t)(r.end - r.p)); /* baselines, rules: unchanged */
        TH_CHECK(!r.err);
}

static void clog_to_v1(clog_t *c) {
        for (size_t i = 0; i < c->n; i++) {
                if (c->k[i][0] != 'K')
                        continue;
                buf_t o = BUF_INIT;
                to_v1(c->v[i], c->vlen[i], &o);
                free(c->v[i]);
                c->v[i] = malloc(o.len);
                memcpy(c->v[i], o.data, o.len);
                c->vlen[i] = o.len;
                buf_free(&o);
        }
}

static int same_log(tc_t *a, tc_t *b) {
        if (a->len == b->len && memcmp(tc_log(a), tc_log(b), a->len) == 0)
                return 1;
        size_t i = 0;
        while (i < a->len && i < b->len && a->log[i] == b->log[i])
                i++;
        size_t s = i > 200 ? i - 200 : 0;
        printf("  first difference at %zu:\n  a: %.400s\n  b: %.400s\n", i, tc_log(a) + s,
               tc_log(b) + s);
        return 0;
}

/* State written in format 1 (before the aggregates were shaped by their
 * ops) restores to the same emissions as format 2, under the same ops and
 * under fewer; format 2 written under fewer ops than the spec now has is
 * refused with a clear error. */
static void test_format1(void) {
        size_t n = make_events(11), cut = 2500;
        tc_t a, b, as, bs;
        if (tc_open(&a, V1_ALL) < 0 || tc_open(&b, V1_ALL) < 0 || tc_open(&as, V1_SMALL) < 0 ||
            tc_open(&bs, V1_SMALL) < 0) {
                printf("  spec: %s %s %s\n", a.err, b.err, as.err);
                TH_CHECK(0);
                return;
        }
        feed(&a, 0, n);
        feed(&as, 0, n);
        TH_CHECK(a.naggs > 1000 && a.nalerts > 5);
        feed(&b, 0, cut);
        clog_t c;
        memset(&c, 0, sizeof(c));
        cp_part_flush_dirty(b.p, clog_put, &c);
        clog_to_v1(&c);
        TH_CHECK(restore_all(&b, &c) == 0);
        feed(&b, cut, n);
        /* the emissions before the cut are in b's log already, restored ones after */
        TH_CHECK(same_log(&a, &b));
        /* format 1 of every statistic, restored under count/mean/p99 */
        feed(&bs, 0, cut);
        TH_CHECK(restore_all(&bs, &c) == 0);
        feed(&bs, cut, n);
        TH_CHECK(same_log(&as, &bs));
        /* format 2 under count/mean/p99, restored under every op: refused */
        clog_t cs;
        memset(&cs, 0, sizeof(cs));
        cp_part_flush_dirty(bs.p, clog_put, &cs);
        tc_t big;
        TH_CHECK(tc_open(&big, V1_ALL) == 0);
        char e[256] = "";
        int refused = 0;
        for (size_t i = 0; i < cs.n; i++)
                if (cp_part_restore(big.p, cs.k[i], cs.klen[i], cs.v[i], cs.vlen[i], e, sizeof(e)) <
                    0) {
                        refused++;
                        TH_CHECK_STR(e, "key state: aggregate written without statistics the "
                                        "spec's ops now need");
                }
        TH_CHECK(refused > 0);
        clog_free(&c);
        clog_free(&cs);
        tc_close(&a);
        tc_close(&b);
        tc_close(&as);
        tc_close(&bs);
        tc_close(&big);
}

TH_MAIN("compute_state", TH_T(test_round_trip), TH_T(test_tombstones), TH_T(test_corrupt),
        TH_T(test_bounded_memory), TH_T(test_format1))
