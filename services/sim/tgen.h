/* tgen — the traffic model behind weir-sim: a deterministic stream of
 * weir.example.TrafficReading values for a simulated city.
 *
 * The city has `keys` intersections "x-0".."x-<keys-1>" (the ids of
 * docs/examples/intersections.json, so the demo's file enrichment finds the
 * first twelve), each watched by 1..4 sensors "x-<k>-s<j>" (one per lane;
 * every fifth intersection's sensors cover all lanes and have lane = null).
 * Sensors report in a fixed round-robin, so every intersection sends readings
 * at a steady pace.
 *
 * The simulated clock is a function of the record's index only: reading i
 * has the nominal time start_ms + i * 1000 * time_scale / rate.  Output is
 * therefore identical for the same configuration and seed, whatever the
 * pacing or the machine's speed.  On it:
 *   - rush hours: demand follows the time of day (UTC) with peaks at 08:00
 *     and 17:30 and a midday plateau; speed falls and volume rises with it;
 *   - incidents: each intersection has incidents as a Poisson process
 *     (mean gap incident_every_ms, duration 0.8..1.6 x incident_ms): speed
 *     collapses to 10..25 % of free flow (mean well under 20 km/h) and
 *     volume drops, then recovers — what the demo's congestion rule
 *     `mean(speed_kmh) < 20 and count() >= 10` detects;
 *   - disorder: a fraction of readings carry a timestamp behind every
 *     reading before it but at most max_delay_ms behind the clock (out of
 *     order, within grace), another fraction late_ms..2*late_ms behind
 *     (late: beyond any window's grace);
 *   - a fraction of readings is marked malformed (the output module turns
 *     it into bytes or JSON that a consumer must reject).
 * Each concern draws from its own pseudo-random stream (xoshiro256**
 * seeded by splitmix64 of the seed), so e.g. raising the malformed fraction
 * does not move the incidents.
 *
 * Threads: a tgen_t is used by one thread.  Nothing here allocates after
 * tgen_new(). */
#ifndef WEIR_SIM_TGEN_H
#define WEIR_SIM_TGEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct tgen_conf_s {
        uint64_t seed;
        int keys;                  /* intersections, >= 1 */
        double rate;               /* readings per wall-clock second, > 0 */
        double time_scale;         /* simulated seconds per wall-clock second, > 0 */
        int64_t start_ms;          /* simulated clock at reading 0 (epoch ms) */
        double out_of_order;       /* fraction 0..1 */
        int64_t max_delay_ms;      /* out-of-order delay bound, >= 1 */
        double late;               /* fraction 0..1 (out_of_order + late <= 1) */
        int64_t late_ms;           /* late readings are late_ms..2*late_ms behind */
        double malformed;          /* fraction 0..1 */
        int64_t incident_every_ms; /* mean gap between incidents per intersection; 0 = none */
        int64_t incident_ms;       /* typical incident duration */
        /* A sensor gateway that goes silent: intersection silent_key (-1:
         * none) sends nothing during the last silent_ms of every
         * silent_every_ms of simulated time (what absence rules detect). */
        int silent_key;
        int64_t silent_every_ms, silent_ms;
} tgen_conf_t;

/* Defaults: seed 1, 12 keys, 100/s, scale 1, start 0, no disorder, no
 * malformed, an incident every 30 min per intersection lasting ~5 min, no
 * silent intersection (every 30 min for 5 min once one is named). */
void tgen_conf_defaults(tgen_conf_t *conf);

typedef enum {
        TGEN_IN_ORDER = 0,
        TGEN_OUT_OF_ORDER = 1,
        TGEN_LATE = 2,
} tgen_order_t;

/* Kinds of malformed records, 0 = a good record. */
#define TGEN_MALFORMED_KINDS 4

typedef struct tgen_reading_s {
        uint64_t index; /* 0, 1, 2, ... */
        char sensor_id[32];
        char intersection_id[24];
        int key;            /* intersection number */
        int64_t ts;         /* event time written (epoch ms) */
        int64_t nominal_ts; /* the simulated clock at this reading */
        double speed_kmh;   /* rounded to 0.1 */
        int32_t vehicle_count;
        double occupancy_pct; /* rounded to 0.1; written as a float */
        int lane;             /* 1..4, or -1 for null */
        tgen_order_t order;
        int malformed; /* 0, or 1..TGEN_MALFORMED_KINDS */
        int incident;  /* 1 while the intersection has an incident */
        int silent;    /* 1: the intersection's gateway is silent: not to be sent */
} tgen_reading_t;

typedef struct tgen_s tgen_t;

/* Checks the configuration; NULL with errstr naming the bad setting.  Free
 * with tgen_destroy(). */
tgen_t *tgen_new(const tgen_conf_t *conf, char *errstr, size_t errstr_size);
void tgen_destroy(tgen_t *g);

/* Moves the clock's start (conf->start_ms) to `start_ms`, as if the
 * generator had been made with it; only before the first tgen_next().
 * weir-sim reads "now" again here when its pacing starts. */
void tgen_set_start(tgen_t *g, int64_t start_ms);

/* Fills *r with the next reading. */
void tgen_next(tgen_t *g, tgen_reading_t *r);

/* Simulated milliseconds between two consecutive readings. */
double tgen_step_ms(const tgen_t *g);

/* The model's curves, exposed for tests and docs: demand 0..1 at a time of
 * day (epoch ms, UTC). */
double tgen_demand(int64_t t_ms);

/* Free-flow speed of intersection `key`, km/h. */
double tgen_free_speed(const tgen_t *g, int key);

#endif
