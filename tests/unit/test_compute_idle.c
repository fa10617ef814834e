/* Unit tests: idle input (cp_part_advance_to for input.idle.advance,
 * cp_part_close_all for input.idle.close) against a brute-force reference
 * over random streams: after every record and every idle step, exactly the
 * windows the reference closes are emitted, in the same order and with the
 * same contents, and the same records are late.  Plus absence rules. */
#include "th.h"

#include "th_compute.h"

#include <math.h>

static tc_t t;

/* ------------------------------------------------------------ reference */

typedef struct {
        int key, def;
        int64_t start, size, close, count;
        double sum;
} ref_win_t;

typedef struct {
        int64_t size[2], adv[2], grace[2];
        int64_t S, late, late_windows;
        int64_t absent, last[3]; /* "absent for <absent> ms" on every key */
        int firing[3];
        ref_win_t w[4096];
        size_t n;
        char log[1 << 16];
        size_t len;
} ref_t;

static const char *const keys[] = {"a", "b", "c"};

static int ref_cmp(const void *x, const void *y) {
        const ref_win_t *a = x, *b = y;
        if (a->close != b->close)
                return a->close < b->close ? -1 : 1;
        if (a->key != b->key)
                return a->key < b->key ? -1 : 1;
        if (a->def != b->def)
                return a->def < b->def ? -1 : 1;
        return a->start < b->start ? -1 : a->start > b->start;
}

/* Emits (in the engine's order: time, key, its windows by definition and
 * start, then its absence rule) and removes every window closed at S; fires
 * the absence rule of every key silent for `absent` by S. */
static void ref_emit(ref_t *r) {
        ref_win_t ev[4096 + 3];
        size_t nev = 0, keep = 0;
        for (size_t i = 0; i < r->n; i++) {
                if (r->w[i].close <= r->S)
                        ev[nev++] = r->w[i];
                else
                        r->w[keep++] = r->w[i];
        }
        r->n = keep;
        for (int k = 0; k < 3; k++)
                if (r->absent && !r->firing[k] && r->last[k] != INT64_MIN &&
                    r->last[k] + r->absent <= r->S) {
                        r->firing[k] = 1;
                        /* def 2 sorts after the key's windows */
                        ev[nev++] = (ref_win_t){k, 2, r->last[k], 0, r->last[k] + r->absent, 0, 0};
                }
        qsort(ev, nev, sizeof(ev[0]), ref_cmp);
        for (size_t i = 0; i < nev; i++) {
                ref_win_t *w = &ev[i];
                if (w->def == 2)
                        r->len += (size_t)snprintf(
                                r->log + r->len, sizeof(r->log) - r->len,
                                "R silent %s w0 [%lld,%lld) FIRING sev=1 absent_ms=%lld\n",
                                keys[w->key], (long long)w->start, (long long)w->close,
                                (long long)r->absent);
                else
                        r->len += (size_t)snprintf(
                                r->log + r->len, sizeof(r->log) - r->len,
                                "A %s w%d [%lld,%lld) n=%lld final v:n=%lld sum=%.17g\n",
                                keys[w->key], w->def, (long long)w->start,
                                (long long)(w->start + w->size), (long long)w->count,
                                (long long)w->count, w->sum);
        }
}

static int64_t floordiv(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && a < 0);
}

static int ref_rec(ref_t *r, int key, int64_t ts, double v) {
        if (ts > r->S)
                r->S = ts;
        if (r->absent) {
                int64_t prev = r->last[key];
                if (ts > r->last[key])
                        r->last[key] = ts;
                if (r->firing[key] && r->last[key] + r->absent > r->S) {
                        r->firing[key] = 0;
                        r->len += (size_t)snprintf(
                                r->log + r->len, sizeof(r->log) - r->len,
                                "R silent %s w0 [%lld,%lld) RESOLVED sev=1 absent_ms=%lld\n",
                                keys[key], (long long)prev, (long long)(ts > prev ? ts : prev),
                                (long long)((ts > prev ? ts : prev) - prev));
                }
        }
        int counted = 0;
        for (int d = 0; d < 2; d++) {
                for (int64_t s = floordiv(ts, r->adv[d]) * r->adv[d]; s > ts - r->size[d];
                     s -= r->adv[d]) {
                        int64_t close = s + r->size[d] + r->grace[d];
                        if (close <= r->S) {
                                r->late_windows++;
                                continue;
                        }
                        ref_win_t *w = NULL;
                        for (size_t i = 0; i < r->n && !w; i++)
                                if (r->w[i].key == key && r->w[i].def == d && r->w[i].start == s)
                                        w = &r->w[i];
                        if (!w) {
                                w = &r->w[r->n++];
                                *w = (ref_win_t){key, d, s, r->size[d], close, 0, 0};
                        }
                        w->count++;
                        w->sum += v;
                        counted = 1;
                }
        }
        if (!counted)
                r->late++;
        ref_emit(r);
        return counted;
}

static void ref_advance(ref_t *r, int64_t to) {
        if (to > r->S)
                r->S = to;
        ref_emit(r);
}

static void ref_close_all(ref_t *r) {
        int64_t to = INT64_MIN;
        for (size_t i = 0; i < r->n; i++)
                if (r->w[i].close > to)
                        to = r->w[i].close;
        if (to != INT64_MIN)
                ref_advance(r, to);
}

/* ------------------------------------------------------------ tests */

static uint64_t rng = 88172645463325252ull;
static int64_t rnd(int64_t n) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (int64_t)(rng % (uint64_t)n);
}

static long alerts_seen, resolved_seen; /* the random streams do exercise absence */

static int compare_step(ref_t *r, const char *what, int round, int step) {
        for (const char *c = r->log; (c = strstr(c, "R silent")) != NULL; c++)
                alerts_seen++;
        for (const char *c = r->log; (c = strstr(c, "RESOLVED")) != NULL; c++)
                resolved_seen++;
        if (strcmp(tc_log(&t), r->log) != 0) {
                printf("  round %d step %d (%s):\n  engine:\n%s  reference:\n%s", round, step, what,
                       tc_log(&t), r->log);
                return -1;
        }
        tc_clear(&t);
        r->len = 0;
        r->log[0] = '\0';
        return 0;
}

/* mode 0: idle.advance steps, 1: idle.close steps. */
static void random_streams(int mode) {
        static ref_t r;
        int failed = 0;
        for (int round = 0; round < 200 && !failed; round++) {
                memset(&r, 0, sizeof(r));
                r.S = INT64_MIN;
                r.size[0] = r.adv[0] = 1 + rnd(50);
                r.size[1] = 2 + rnd(80);
                r.adv[1] = 1 + rnd(r.size[1]);
                r.grace[0] = rnd(3) ? 0 : rnd(30);
                r.grace[1] = rnd(20);
                r.absent = rnd(2) ? 1 + rnd(150) : 0;
                r.last[0] = r.last[1] = r.last[2] = INT64_MIN;
                char rule[128] = "";
                if (r.absent)
                        snprintf(rule, sizeof(rule),
                                 ",'rules':[{'name':'silent','window':'w0','expr':' absent  for "
                                 "%lldms '}]",
                                 (long long)r.absent);
                char spec[1024];
                snprintf(spec, sizeof(spec),
                         "'windows':[{'name':'w0','type':'tumbling','size':'%lldms','grace':'%"
                         "lldms'},"
                         "{'name':'w1','type':'hopping','size':'%lldms','advance':'%lldms',"
                         "'grace':'%lldms'}],"
                         "'aggregates':[{'field':'v','ops':['count','sum']}],'anomaly':{'min_"
                         "windows':100000}%s",
                         (long long)r.size[0], (long long)r.grace[0], (long long)r.size[1],
                         (long long)r.adv[1], (long long)r.grace[1], rule);
                if (tc_open(&t, spec) < 0) {
                        printf("  spec: %s\n", t.err);
                        TH_CHECK(0);
                        return;
                }
                int64_t now = 0, base = rnd(1000) - 500;
                for (int step = 0; step < 300 && !failed; step++) {
                        int op = (int)rnd(20);
                        now += 10;
                        if (op == 0) {
                                if (mode == 0) {
                                        int64_t to = (r.S == INT64_MIN ? base : r.S) + rnd(200);
                                        cp_part_advance_to(t.p, to, now, tc_emit(&t));
                                        ref_advance(&r, to);
                                } else {
                                        cp_part_close_all(t.p, now, tc_emit(&t));
                                        ref_close_all(&r);
                                }
                                failed = compare_step(&r, "idle", round, step);
                                continue;
                        }
                        base += rnd(15);
                        int64_t ts = base - rnd(60); /* out of order, some late */
                        int key = (int)rnd(3);
                        double v = (double)rnd(100);
                        cp_res_t res = tc_rec(&t, keys[key], ts, v, NAN, now);
                        int counted = ref_rec(&r, key, ts, v);
                        if ((res == CP_OK) != counted) {
                                printf("  round %d step %d: record %s@%lld: engine %d, "
                                       "reference %s\n",
                                       round, step, keys[key], (long long)ts, (int)res,
                                       counted ? "counted" : "late");
                                failed = 1;
                        }
                        failed = failed || compare_step(&r, "record", round, step);
                }
                /* finally close everything: nothing may stay open */
                cp_part_close_all(t.p, now, tc_emit(&t));
                ref_close_all(&r);
                failed = failed || compare_step(&r, "final close", round, -1);
                cp_part_stats_t st;
                cp_part_stats(t.p, &st);
                TH_CHECK_INT(st.open_windows, 0);
                TH_CHECK_INT(st.late, r.late);
                TH_CHECK_INT(st.late_windows, r.late_windows);
                TH_CHECK_INT(st.stream_time_ms, r.S);
                tc_close(&t);
        }
        TH_CHECK(!failed);
        TH_CHECK(alerts_seen > 100 && resolved_seen > 50);
}

static void test_advance_random(void) {
        random_streams(0);
}

static void test_close_random(void) {
        random_streams(1);
}

typedef struct {
        cp_part_t *q;
        int err;
} restore_t;

/* Applies what flush_dirty hands out to another partition, as a restore. */
static void restore_cb(void *opaque, const void *key, size_t key_len, const void *val,
                       size_t val_len) {
        restore_t *rs = opaque;
        char err[256];
        if (cp_part_restore(rs->q, key, key_len, val, val_len, err, sizeof(err)) != 0)
                rs->err++;
}

/* Every window type closes on idle.close, the close survives a restore
 * from the changelog, and a later record for a closed window is late. */
static void test_close_all_types_and_restore(void) {
        if (tc_open(&t, "'windows':[{'name':'t','type':'tumbling','size':'10s','grace':'5s'},"
                        "{'name':'s','type':'session','gap':'3s'},"
                        "{'name':'l','type':'sliding','size':'2s'}],"
                        "'aggregates':[{'field':'v','ops':['sum']}]") < 0) {
                printf("  %s\n", t.err);
                TH_CHECK(0);
                return;
        }
        TH_CHECK_INT(tc_rec(&t, "k", 1000, 1, NAN, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "k", 2000, 2, NAN, 0), CP_OK);
        TH_CHECK_STR(tc_log(&t), "A k l [-1000,1001) n=1 final v:n=1 sum=1\n");
        tc_clear(&t);
        TH_CHECK_INT(cp_part_close_all(t.p, 5, tc_emit(&t)), 4);
        TH_CHECK_STR(tc_log(&t), "A k l [0,2001) n=2 final v:n=2 sum=3\n"
                                 "A k l [1001,3002) n=1 final v:n=1 sum=2\n"
                                 "A k s [1000,2001) n=2 final v:n=2 sum=3\n"
                                 "A k t [0,10000) n=2 final v:n=2 sum=3\n");
        tc_clear(&t);
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.stream_time_ms, 15000); /* the tumbling window's end + grace */
        TH_CHECK_INT(st.open_windows, 0);
        /* nothing more to close */
        TH_CHECK_INT(cp_part_close_all(t.p, 6, tc_emit(&t)), 0);
        TH_CHECK_STR(tc_log(&t), "");
        /* the state as the changelog has it, restored into a new partition */
        cp_part_t *q = cp_part_new(t.e, 0);
        restore_t rs = {q, 0};
        cp_part_flush_dirty(t.p, restore_cb, &rs);
        TH_CHECK_INT(rs.err, 0);
        cp_part_destroy(t.p);
        t.p = q;
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.stream_time_ms, 15000);
        TH_CHECK_INT(tc_rec(&t, "k", 9999, 5, NAN, 7), CP_LATE);
        TH_CHECK_INT(tc_rec(&t, "other", 2500, 5, NAN, 7), CP_LATE);
        TH_CHECK_INT(tc_rec(&t, "k", 10000, 5, NAN, 7), CP_OK); /* the next window */
        cp_part_stats(t.p, &st);
        TH_CHECK_INT(st.late, 2);
        tc_close(&t);
}

/* An absence rule fires once a key has had no record for its duration of
 * stream time (moved by other keys or by idle.advance), resolves when the
 * key reports again, and its state survives a restore. */
static void test_absence_rule(void) {
        if (tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                        "'rules':[{'name':'silent','expr':'absent for 30s','severity':'critical',"
                        "'labels':{'team':'ops'}}]") < 0) {
                printf("  %s\n", t.err);
                TH_CHECK(0);
                return;
        }
        t.quiet = 0;
        TH_CHECK_INT(tc_rec(&t, "a", 1000, NAN, NAN, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "b", 1000, NAN, NAN, 0), CP_OK);
        TH_CHECK_INT(tc_rec(&t, "b", 30999, NAN, NAN, 0), CP_OK);
        tc_clear(&t);
        TH_CHECK_INT(tc_rec(&t, "b", 31000, NAN, NAN, 0), CP_OK);
        TH_CHECK_STR(tc_log(&t),
                     "R silent a w [1000,31000) FIRING sev=2 absent_ms=30000 team:ops\n");
        tc_clear(&t);
        /* firing once, however long the silence */
        TH_CHECK_INT(tc_rec(&t, "b", 90000, NAN, NAN, 0), CP_OK);
        TH_CHECK(strstr(tc_log(&t), "silent a") == NULL);
        /* b went silent at 31000 + 30 s = 61000 (< 90000 is b's own record: not silent) */
        TH_CHECK(strstr(tc_log(&t), "silent b") == NULL);
        tc_clear(&t);
        /* idle.advance moves stream time: b (last 90000) fires at 120000 */
        cp_part_advance_to(t.p, 119999, 1, tc_emit(&t));
        TH_CHECK_STR(tc_log(&t), "A b w [90000,100000) n=1 final\n");
        tc_clear(&t);
        cp_part_advance_to(t.p, 120000, 1, tc_emit(&t));
        TH_CHECK_STR(tc_log(&t),
                     "R silent b w [90000,120000) FIRING sev=2 absent_ms=30000 team:ops\n");
        tc_clear(&t);
        /* restored from the changelog: both still firing; a late record of a
         * does not end its silence, newer ones do */
        cp_part_t *q = cp_part_new(t.e, 0);
        restore_t rs = {q, 0};
        cp_part_flush_dirty(t.p, restore_cb, &rs);
        TH_CHECK_INT(rs.err, 0);
        cp_part_destroy(t.p);
        t.p = q;
        TH_CHECK_INT(tc_rec(&t, "a", 500, NAN, NAN, 2), CP_LATE);
        TH_CHECK_STR(tc_log(&t), "");
        TH_CHECK_INT(tc_rec(&t, "b", 125000, NAN, NAN, 2), CP_OK);
        TH_CHECK_STR(tc_log(&t),
                     "R silent b w [90000,125000) RESOLVED sev=2 absent_ms=35000 team:ops\n");
        tc_clear(&t);
        TH_CHECK_INT(tc_rec(&t, "a", 125500, NAN, NAN, 2), CP_OK);
        TH_CHECK_STR(tc_log(&t),
                     "R silent a w [1000,125500) RESOLVED sev=2 absent_ms=124500 team:ops\n");
        tc_close(&t);
        /* errors name the rule and the column */
        TH_CHECK(tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                             "'rules':[{'name':'r','expr':'absent for 5m and count() > 1'}]") < 0);
        TH_CHECK_HAS(t.err, "$.compute.rules[0].expr: column 15: an absence rule is the whole "
                            "expression");
        tc_close(&t);
        TH_CHECK(tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                             "'rules':[{'name':'r','expr':'absent for five'}]") < 0);
        TH_CHECK_HAS(t.err, "column 12: expected a duration like \"5m\"");
        tc_close(&t);
        TH_CHECK(tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'10s'}],"
                             "'rules':[{'name':'r','expr':'absent for 5m','for':3}]") < 0);
        TH_CHECK_HAS(t.err, "$.compute.rules[0].for: an absence rule fires once");
        tc_close(&t);
}

TH_MAIN("compute_idle", TH_T(test_absence_rule), TH_T(test_advance_random), TH_T(test_close_random),
        TH_T(test_close_all_types_and_restore))
