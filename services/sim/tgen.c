/* tgen — the traffic model (see tgen.h): intersections, sensors, rush-hour
 * curves, incidents, disorder and malformed marks, all from seeded
 * pseudo-random streams so that a seed and a configuration fix the output. */
#include "tgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
typedef struct rng_s {
        uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed, uint64_t stream) {
        uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
        for (int i = 0; i < 4; i++)
                r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng_t *r) {
        uint64_t *s = r->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

/* Uniform in [0, 1). */
static double rng_unit(rng_t *r) {
        return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller; one value per call keeps the stream simple). */
static double rng_normal(rng_t *r) {
        double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);
        return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int32_t rng_poisson(rng_t *r, double mean) {
        if (mean <= 0)
                return 0;
        if (mean > 30) {
                double v = floor(mean + sqrt(mean) * rng_normal(r) + 0.5);
                return v < 0 ? 0 : (int32_t)v;
        }
        double l = exp(-mean), p = 1.0;
        int32_t k = 0;
        do {
                k++;
                p *= rng_unit(r);
        } while (p > l);
        return k - 1;
}

/* Streams: one per concern, so that one setting does not shift another's
 * draws. */
enum { ST_CITY = 1, ST_VALUES, ST_ORDER, ST_MALFORMED, ST_INCIDENT_BASE = 1000 };

typedef struct isect_s {
        double free_kmh;  /* free-flow speed */
        double sens;      /* how much rush-hour demand slows it, 0..1 */
        double flow_peak; /* vehicles/s per lane at demand 1 */
        int nsensors;
        int lane_null;
        rng_t inc_rng;
        int64_t inc_start, inc_end;
        double inc_factor;
} isect_t;

struct tgen_s {
        tgen_conf_t conf;
        isect_t *isects;
        int *sensor_key; /* round-robin order: sensor -> intersection */
        int *sensor_lane;
        char (*sensor_name)[32]; /* "x-<k>-s<lane>", made once: not per reading */
        int nsensors;
        double step_ms;
        int64_t max_ts; /* latest event time written so far */
        uint64_t index;
        rng_t values, order, malformed;
};

void tgen_conf_defaults(tgen_conf_t *conf) {
        memset(conf, 0, sizeof(*conf));
        conf->seed = 1;
        conf->keys = 12;
        conf->rate = 100;
        conf->time_scale = 1;
        conf->max_delay_ms = 5000;
        conf->late_ms = 15 * 60 * 1000;
        conf->incident_every_ms = 30 * 60 * 1000;
        conf->incident_ms = 5 * 60 * 1000;
        conf->silent_key = -1;
        conf->silent_every_ms = 30 * 60 * 1000;
        conf->silent_ms = 5 * 60 * 1000;
}

tgen_t *tgen_new(const tgen_conf_t *conf, char *errstr, size_t errstr_size) {
        const char *bad = NULL;
        if (conf->keys < 1 || conf->keys > 1000000)
                bad = "--keys: expected 1..1000000";
        else if (!(conf->rate > 0) || conf->rate > 1e9)
                bad = "--rate: expected a number of events per second > 0";
        else if (!(conf->time_scale > 0) || conf->time_scale > 1e6)
                bad = "--time-scale: expected a number > 0";
        else if (!(conf->out_of_order >= 0 && conf->out_of_order <= 1))
                bad = "--out-of-order: expected a fraction 0..1";
        else if (!(conf->late >= 0 && conf->late <= 1))
                bad = "--late: expected a fraction 0..1";
        else if (conf->late + conf->out_of_order > 1)
                bad = "--late plus --out-of-order: must not exceed 1";
        else if (!(conf->malformed >= 0 && conf->malformed <= 1))
                bad = "--malformed: expected a fraction 0..1";
        else if (conf->max_delay_ms < 1)
                bad = "--max-delay: expected at least 1ms";
        else if (conf->late_ms < 1)
                bad = "--late-delay: expected at least 1ms";
        else if (conf->silent_key >= conf->keys)
                bad = "--silent-key: expected an intersection number below --keys";
        else if (conf->silent_key >= 0 && (conf->silent_every_ms < 1 || conf->silent_ms < 0 ||
                                           conf->silent_ms >= conf->silent_every_ms))
                bad = "--silent-for: expected less than --silent-every";
        else if (conf->incident_every_ms < 0 || conf->incident_ms < 0)
                bad = "--incident-every/--incident-duration: expected a duration >= 0";
        if (bad) {
                snprintf(errstr, errstr_size, "%s", bad);
                return NULL;
        }

        tgen_t *g = calloc(1, sizeof(*g));
        if (!g) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        g->conf = *conf;
        g->isects = calloc((size_t)conf->keys, sizeof(*g->isects));
        rng_t city;
        rng_seed(&city, conf->seed, ST_CITY);
        int total = 0;
        for (int k = 0; g->isects && k < conf->keys; k++) {
                isect_t *x = &g->isects[k];
                x->free_kmh = 45 + 25 * rng_unit(&city);
                x->sens = 0.3 + 0.2 * rng_unit(&city);
                x->flow_peak = 0.35 + 0.3 * rng_unit(&city);
                x->nsensors = 1 + (int)(rng_next(&city) % 4);
                x->lane_null = (k % 5) == 4;
                rng_seed(&x->inc_rng, conf->seed, ST_INCIDENT_BASE + (uint64_t)k);
                x->inc_start = x->inc_end = conf->start_ms;
                total += x->nsensors;
        }
        g->sensor_key = calloc((size_t)total + 1, sizeof(int));
        g->sensor_lane = calloc((size_t)total + 1, sizeof(int));
        g->sensor_name = calloc((size_t)total + 1, sizeof(*g->sensor_name));
        if (!g->isects || !g->sensor_key || !g->sensor_lane || !g->sensor_name) {
                tgen_destroy(g);
                snprintf(errstr, errstr_size, "out of memory for %d intersections", conf->keys);
                return NULL;
        }
        for (int k = 0; k < conf->keys; k++)
                for (int j = 0; j < g->isects[k].nsensors; j++) {
                        g->sensor_key[g->nsensors] = k;
                        g->sensor_lane[g->nsensors] = j + 1;
                        snprintf(g->sensor_name[g->nsensors++], sizeof(*g->sensor_name), "x-%d-s%d",
                                 k, j + 1);
                }
        g->step_ms = 1000.0 * conf->time_scale / conf->rate;
        g->max_ts = INT64_MIN;
        rng_seed(&g->values, conf->seed, ST_VALUES);
        rng_seed(&g->order, conf->seed, ST_ORDER);
        rng_seed(&g->malformed, conf->seed, ST_MALFORMED);
        return g;
}

void tgen_destroy(tgen_t *g) {
        if (!g)
                return;
        free(g->isects);
        free(g->sensor_key);
        free(g->sensor_lane);
        free(g->sensor_name);
        free(g);
}

double tgen_step_ms(const tgen_t *g) {
        return g->step_ms;
}

double tgen_free_speed(const tgen_t *g, int key) {
        return key >= 0 && key < g->conf.keys ? g->isects[key].free_kmh : 0;
}

/* A bump centred on `mu` hours with width `s`, on the 24 h circle. */
static double bump(double h, double mu, double s) {
        double d = fabs(h - mu);
        if (d > 12)
                d = 24 - d;
        return exp(-(d * d) / (2 * s * s));
}

double tgen_demand(int64_t t_ms) {
        int64_t day = 86400000;
        double h = (double)(((t_ms % day) + day) % day) / 3600000.0;
        double m = fmax(bump(h, 8.0, 1.0), bump(h, 17.5, 1.2));
        m = fmax(m, 0.5 * bump(h, 13.0, 3.0));
        return 0.1 + 0.9 * m;
}

/* Speed factor from incidents at time t: 1 when none; during an incident
 * inc_factor, recovering linearly to 1 over its last fifth. */
static double incident_factor(tgen_t *g, int key, int64_t t) {
        isect_t *x = &g->isects[key];
        if (g->conf.incident_every_ms <= 0 || g->conf.incident_ms <= 0)
                return 1.0;
        while (t >= x->inc_end) {
                double gap = -(double)g->conf.incident_every_ms * log(1.0 - rng_unit(&x->inc_rng));
                double dur = (double)g->conf.incident_ms * (1.0 + 0.6 * rng_unit(&x->inc_rng));
                x->inc_start = x->inc_end + (int64_t)gap;
                x->inc_end = x->inc_start + (int64_t)dur;
                x->inc_factor = 0.1 + 0.15 * rng_unit(&x->inc_rng);
        }
        if (t < x->inc_start)
                return 1.0;
        double len = (double)(x->inc_end - x->inc_start);
        double rec_from = (double)x->inc_start + 0.8 * len;
        if ((double)t < rec_from)
                return x->inc_factor;
        double f = ((double)t - rec_from) / (0.2 * len);
        return x->inc_factor + (1.0 - x->inc_factor) * f;
}

static double round1(double v) {
        return floor(v * 10.0 + 0.5) / 10.0;
}

void tgen_set_start(tgen_t *g, int64_t start_ms) {
        /* Each intersection's incident clock starts at the start, too. */
        for (int k = 0; k < g->conf.keys; k++)
                g->isects[k].inc_start = g->isects[k].inc_end = start_ms;
        g->conf.start_ms = start_ms;
}

void tgen_next(tgen_t *g, tgen_reading_t *r) {
        const tgen_conf_t *c = &g->conf;
        uint64_t i = g->index++;
        int s = (int)(i % (uint64_t)g->nsensors);
        int k = g->sensor_key[s];
        isect_t *x = &g->isects[k];

        memset(r, 0, sizeof(*r));
        r->index = i;
        r->key = k;
        memcpy(r->sensor_id, g->sensor_name[s], sizeof(r->sensor_id));
        /* The intersection id is the sensor id up to its last '-'. */
        size_t ilen = (size_t)(strrchr(r->sensor_id, '-') - r->sensor_id);
        memcpy(r->intersection_id, r->sensor_id, ilen);
        r->intersection_id[ilen] = '\0';
        r->lane = x->lane_null ? -1 : g->sensor_lane[s];
        r->nominal_ts = c->start_ms + (int64_t)floor((double)i * g->step_ms);

        double demand = tgen_demand(r->nominal_ts);
        double inc = incident_factor(g, k, r->nominal_ts);
        r->incident = inc < 1.0;
        double base = inc < 1.0 ? x->free_kmh * inc : x->free_kmh * (1 - x->sens * demand * demand);
        double speed = base + (2.0 + 0.04 * base) * rng_normal(&g->values);
        r->speed_kmh = round1(fmax(speed, 1.0));

        /* Vehicles since this sensor's previous reading. */
        double interval_s = (double)g->nsensors * g->step_ms / 1000.0;
        double flow = x->flow_peak * (0.08 + 0.92 * demand) * (inc < 1.0 ? 0.4 : 1.0);
        r->vehicle_count = rng_poisson(&g->values, flow * interval_s);
        /* Occupancy: vehicles x (length + detector) / speed, in % of time. */
        double occ = 100.0 * flow * 6.0 / (r->speed_kmh / 3.6) + 1.5 * rng_normal(&g->values);
        r->occupancy_pct = round1(fmin(fmax(occ, 0.0), 100.0));

        r->ts = r->nominal_ts;
        double u = rng_unit(&g->order);
        if (u < c->out_of_order) {
                /* Behind every reading written so far (so it really is out
                 * of order), and at most max_delay behind the clock. */
                int64_t lo = g->max_ts == INT64_MIN ? 1 : r->nominal_ts - g->max_ts + 1;
                lo = lo < 1 ? 1 : lo > c->max_delay_ms ? c->max_delay_ms : lo;
                int64_t span = c->max_delay_ms - lo + 1;
                r->ts -= lo + (int64_t)(rng_unit(&g->order) * (double)span);
                r->order = TGEN_OUT_OF_ORDER;
        } else if (u < c->out_of_order + c->late) {
                r->ts -= c->late_ms + (int64_t)(rng_unit(&g->order) * (double)c->late_ms);
                r->order = TGEN_LATE;
        }
        if (r->ts > g->max_ts)
                g->max_ts = r->ts;
        if (k == c->silent_key) {
                int64_t phase = (r->nominal_ts - c->start_ms) % c->silent_every_ms;
                r->silent = phase >= c->silent_every_ms - c->silent_ms;
        }
        if (c->malformed > 0 && rng_unit(&g->malformed) < c->malformed)
                r->malformed = 1 + (int)(rng_next(&g->malformed) % TGEN_MALFORMED_KINDS);
}
