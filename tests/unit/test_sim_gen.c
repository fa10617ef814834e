/* Unit tests for weir-sim's traffic model (services/sim/tgen): the same
 * seed gives the same readings, the fractions asked for come out, rush
 * hours and incidents shape speed and volume the way the demo relies on. */
#include <stdlib.h>

#include "../../services/sim/tgen.h"
#include "th.h"

/* 2026-11-23T00:00:00Z */
#define DAY0 1795392000000LL
#define HOUR 3600000LL

static tgen_t *make(const tgen_conf_t *c) {
        char err[256];
        tgen_t *g = tgen_new(c, err, sizeof(err));
        if (!g)
                printf("  tgen_new: %s\n", err);
        return g;
}

static int same_reading(const tgen_reading_t *a, const tgen_reading_t *b) {
        return a->ts == b->ts && a->speed_kmh == b->speed_kmh &&
               a->vehicle_count == b->vehicle_count && a->occupancy_pct == b->occupancy_pct &&
               a->lane == b->lane && a->malformed == b->malformed && a->order == b->order &&
               !strcmp(a->sensor_id, b->sensor_id) &&
               !strcmp(a->intersection_id, b->intersection_id);
}

static void test_same_seed_same_readings(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.seed = 42;
        c.start_ms = DAY0 + 7 * HOUR;
        c.out_of_order = 0.1;
        c.late = 0.02;
        c.malformed = 0.05;
        c.incident_every_ms = 10 * 60000;
        tgen_t *a = make(&c), *b = make(&c);
        c.seed = 43;
        tgen_t *d = make(&c);
        TH_CHECK(a && b && d);
        if (!a || !b || !d)
                return;
        int differ = 0, all_same = 1;
        for (int i = 0; i < 50000; i++) {
                tgen_reading_t ra, rb, rd;
                tgen_next(a, &ra);
                tgen_next(b, &rb);
                tgen_next(d, &rd);
                if (!same_reading(&ra, &rb))
                        all_same = 0;
                if (!same_reading(&ra, &rd))
                        differ++;
        }
        TH_CHECK(all_same);
        TH_CHECK(differ > 40000);
        tgen_destroy(a);
        tgen_destroy(b);
        tgen_destroy(d);
}

/* tgen_set_start() before the first reading gives what a generator made
 * with that start gives, incidents and silences included (weir-sim moves
 * its clock there when it starts sending). */
static void test_set_start_is_a_later_start(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.seed = 9;
        c.rate = 20; /* 5 s of simulated time a reading at scale 100 */
        c.time_scale = 100;
        c.incident_every_ms = 10 * 60000;
        c.silent_key = 2;
        c.silent_every_ms = 30 * 60000;
        c.silent_ms = 5 * 60000;
        c.start_ms = DAY0 + 7 * HOUR;
        tgen_t *moved = make(&c);
        c.start_ms += 12345;
        tgen_t *made = make(&c);
        TH_CHECK(moved && made);
        if (!moved || !made)
                return;
        tgen_set_start(moved, c.start_ms);
        int same = 1, incidents = 0, silent = 0;
        for (int i = 0; i < 20000; i++) { /* ~28 simulated hours */
                tgen_reading_t a, b;
                tgen_next(moved, &a);
                tgen_next(made, &b);
                same &= same_reading(&a, &b) && a.incident == b.incident && a.silent == b.silent &&
                        a.nominal_ts == b.nominal_ts;
                incidents += b.incident;
                silent += b.silent;
        }
        TH_CHECK(same);
        TH_CHECK(incidents > 0 && silent > 0); /* the comparison covered both */
        tgen_destroy(moved);
        tgen_destroy(made);
}

/* The malformed fraction draws from its own stream: changing it leaves the
 * values and timestamps of the other readings alone. */
static void test_streams_independent(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.start_ms = DAY0;
        tgen_t *a = make(&c);
        c.malformed = 0.3;
        tgen_t *b = make(&c);
        int same = 1;
        for (int i = 0; a && b && i < 5000; i++) {
                tgen_reading_t ra, rb;
                tgen_next(a, &ra);
                tgen_next(b, &rb);
                rb.malformed = 0;
                same &= same_reading(&ra, &rb);
        }
        TH_CHECK(a && b && same);
        tgen_destroy(a);
        tgen_destroy(b);
}

static void test_fractions(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.seed = 7;
        c.rate = 1000;
        c.start_ms = DAY0;
        c.out_of_order = 0.1;
        c.max_delay_ms = 3000;
        c.late = 0.05;
        c.late_ms = 600000;
        c.malformed = 0.02;
        tgen_t *g = make(&c);
        if (!g)
                return;
        const int n = 200000;
        int ooo = 0, late = 0, bad = 0, behind_prev = 0, kinds[TGEN_MALFORMED_KINDS + 1] = {0};
        int delay_ok = 1, late_ok = 1;
        int64_t max_ts = INT64_MIN;
        for (int i = 0; i < n; i++) {
                tgen_reading_t r;
                tgen_next(g, &r);
                int64_t d = r.nominal_ts - r.ts;
                if (r.order == TGEN_OUT_OF_ORDER) {
                        ooo++;
                        delay_ok &= d >= 1 && d <= 3000;
                        behind_prev += r.ts < max_ts;
                } else if (r.order == TGEN_LATE) {
                        late++;
                        late_ok &= d >= 600000 && d <= 1200000;
                } else {
                        delay_ok &= d == 0;
                }
                if (r.malformed)
                        bad++;
                kinds[r.malformed]++;
                if (r.ts > max_ts)
                        max_ts = r.ts;
        }
        /* Binomial: sd of 0.1 over 2e5 is 0.00067; 5 sd. */
        TH_CHECK(fabs((double)ooo / n - 0.1) < 0.0034);
        TH_CHECK(fabs((double)late / n - 0.05) < 0.0025);
        TH_CHECK(fabs((double)bad / n - 0.02) < 0.0016);
        TH_CHECK(delay_ok);
        TH_CHECK(late_ok);
        /* An out-of-order reading is really behind what came before it. */
        TH_CHECK(behind_prev == ooo);
        for (int k = 1; k <= TGEN_MALFORMED_KINDS; k++)
                TH_CHECK(kinds[k] > bad / TGEN_MALFORMED_KINDS / 2);
        tgen_destroy(g);
}

static void test_clock_and_keys(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.rate = 200;
        c.time_scale = 60; /* a minute per wall second: 300 ms per reading */
        c.keys = 15;
        c.start_ms = DAY0;
        tgen_t *g = make(&c);
        if (!g)
                return;
        TH_CHECK(fabs(tgen_step_ms(g) - 300.0) < 1e-9);
        int seen[15] = {0}, null_lane_ok = 1, ids_ok = 1;
        for (int i = 0; i < 3000; i++) {
                tgen_reading_t r;
                tgen_next(g, &r);
                TH_CHECK(r.key >= 0 && r.key < 15);
                if (r.key < 0 || r.key >= 15)
                        break;
                seen[r.key]++;
                char want[24];
                snprintf(want, sizeof(want), "x-%d", r.key);
                ids_ok &= !strcmp(want, r.intersection_id) &&
                          !strncmp(r.sensor_id, want, strlen(want));
                null_lane_ok &= (r.key % 5 == 4) == (r.lane < 0);
                if (i == 1000)
                        TH_CHECK_INT(r.nominal_ts, DAY0 + 300000);
        }
        for (int k = 0; k < 15; k++)
                TH_CHECK(seen[k] > 0);
        TH_CHECK(ids_ok);
        TH_CHECK(null_lane_ok);
        tgen_destroy(g);
}

static void test_demand_curve(void) {
        TH_CHECK(tgen_demand(DAY0 + 8 * HOUR) > 0.95);
        TH_CHECK(tgen_demand(DAY0 + 17 * HOUR + HOUR / 2) > 0.95);
        TH_CHECK(tgen_demand(DAY0 + 3 * HOUR) < 0.15);
        double noon = tgen_demand(DAY0 + 13 * HOUR);
        TH_CHECK(noon > 0.4 && noon < 0.7);
        /* One day later, the same. */
        TH_CHECK(fabs(tgen_demand(DAY0 + 8 * HOUR) - tgen_demand(DAY0 + 32 * HOUR)) < 1e-12);
}

/* Mean speed and vehicles of intersection 0 over `minutes` from `start`. */
static void sample(uint64_t seed, int64_t start, int minutes, double *speed, double *vehicles) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.seed = seed;
        c.start_ms = start;
        c.rate = 120;
        c.incident_every_ms = 0;
        tgen_t *g = make(&c);
        double s = 0, v = 0;
        int n = 0;
        for (int i = 0; g && i < 120 * 60 * minutes; i++) {
                tgen_reading_t r;
                tgen_next(g, &r);
                if (r.key == 0) {
                        s += r.speed_kmh;
                        v += r.vehicle_count;
                        n++;
                }
        }
        *speed = n ? s / n : 0;
        *vehicles = v;
        tgen_destroy(g);
}

static void test_rush_hour_slower_and_busier(void) {
        double s_rush, v_rush, s_night, v_night;
        sample(3, DAY0 + 8 * HOUR, 2, &s_rush, &v_rush);
        sample(3, DAY0 + 3 * HOUR, 2, &s_night, &v_night);
        TH_CHECK(s_rush < 0.8 * s_night);
        TH_CHECK(v_rush > 3 * v_night);
        /* Rush hour alone does not look like congestion to the demo rule. */
        TH_CHECK(s_rush > 20);
}

/* An incident drives the 1-minute mean speed under 20 km/h with well over
 * 10 readings a minute (the demo's congestion rule) for at least three
 * consecutive minutes, and speed recovers afterwards. */
static void test_incident_fires_demo_rule(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.seed = 11;
        c.start_ms = DAY0 + 11 * HOUR;
        c.rate = 60; /* 12 intersections, ~5 readings/s each... per sensor mix */
        c.incident_every_ms = 20 * 60000;
        c.incident_ms = 5 * 60000;
        tgen_t *g = make(&c);
        if (!g)
                return;
        enum { MINUTES = 240 };
        static double sum[12][MINUTES];
        static int cnt[12][MINUTES], inc[12][MINUTES];
        memset(sum, 0, sizeof(sum));
        memset(cnt, 0, sizeof(cnt));
        memset(inc, 0, sizeof(inc));
        for (long i = 0; i < 60L * 60 * MINUTES; i++) {
                tgen_reading_t r;
                tgen_next(g, &r);
                int m = (int)((r.ts - c.start_ms) / 60000);
                if (m < 0 || m >= MINUTES)
                        continue;
                sum[r.key][m] += r.speed_kmh;
                cnt[r.key][m]++;
                inc[r.key][m] |= r.incident;
        }
        int fired = 0, recovered = 0, false_alarm = 0;
        for (int k = 0; k < 12; k++) {
                int run = 0;
                for (int m = 0; m < MINUTES; m++) {
                        int slow = cnt[k][m] >= 10 && sum[k][m] / cnt[k][m] < 20;
                        run = slow ? run + 1 : 0;
                        if (run == 3)
                                fired++;
                        if (slow && !inc[k][m])
                                false_alarm++;
                        if (m > 0 && inc[k][m - 1] && !inc[k][m] && cnt[k][m] &&
                            sum[k][m] / cnt[k][m] > 30)
                                recovered++;
                }
        }
        TH_CHECK(fired >= 5);
        TH_CHECK(recovered >= 3);
        TH_CHECK_INT(false_alarm, 0);
        tgen_destroy(g);
}

/* --silent-key: only that intersection, only in the last silent_ms of each
 * silent_every_ms (simulated, from the start), and nothing else changes. */
static void test_silent_key(void) {
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.start_ms = DAY0;
        c.rate = 100;
        c.keys = 4;
        tgen_conf_t c2 = c;
        c2.silent_key = 2;
        c2.silent_every_ms = 60000;
        c2.silent_ms = 20000;
        tgen_t *a = make(&c), *b = make(&c2);
        TH_CHECK(a && b);
        if (!a || !b) {
                tgen_destroy(a);
                tgen_destroy(b);
                return;
        }
        int silent = 0, wrong = 0, differ = 0;
        for (int i = 0; i < 30000; i++) { /* 300 s */
                tgen_reading_t x, y;
                tgen_next(a, &x);
                tgen_next(b, &y);
                differ += !same_reading(&x, &y) || x.silent;
                int want = y.key == 2 && (y.nominal_ts - DAY0) % 60000 >= 40000;
                wrong += y.silent != want;
                silent += y.silent;
        }
        TH_CHECK_INT(differ, 0);
        TH_CHECK_INT(wrong, 0);
        TH_CHECK(silent > 1000);
        tgen_destroy(a);
        tgen_destroy(b);
}

static void test_bad_conf(void) {
        char err[256];
        tgen_conf_t c;
        tgen_conf_defaults(&c);
        c.keys = 0;
        TH_CHECK(!tgen_new(&c, err, sizeof(err)));
        TH_CHECK_HAS(err, "--keys");
        tgen_conf_defaults(&c);
        c.late = 0.6;
        c.out_of_order = 0.6;
        TH_CHECK(!tgen_new(&c, err, sizeof(err)));
        TH_CHECK_HAS(err, "--late");
        tgen_conf_defaults(&c);
        c.rate = 0;
        TH_CHECK(!tgen_new(&c, err, sizeof(err)));
        TH_CHECK_HAS(err, "--rate");
        tgen_conf_defaults(&c);
        c.silent_key = 12;
        TH_CHECK(!tgen_new(&c, err, sizeof(err)));
        TH_CHECK_HAS(err, "--silent-key");
        tgen_conf_defaults(&c);
        c.silent_key = 1;
        c.silent_ms = c.silent_every_ms;
        TH_CHECK(!tgen_new(&c, err, sizeof(err)));
        TH_CHECK_HAS(err, "--silent-for");
}

TH_MAIN("sim_gen", TH_T(test_same_seed_same_readings), TH_T(test_set_start_is_a_later_start),
        TH_T(test_streams_independent), TH_T(test_fractions), TH_T(test_clock_and_keys),
        TH_T(test_demand_curve), TH_T(test_rush_hour_slower_and_busier),
        TH_T(test_incident_fires_demo_rule), TH_T(test_silent_key), TH_T(test_bad_conf))
