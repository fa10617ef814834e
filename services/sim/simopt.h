/* simopt — weir-sim's options: each one from the command line
 * (--rate 500 or --rate=500) or else from the environment as SIM_<NAME>
 * (SIM_RATE=500, '-' as '_'), read with cfg_ so that a bad value names the
 * option or variable and the expected form. */
#ifndef WEIR_SIM_SIMOPT_H
#define WEIR_SIM_SIMOPT_H

#include <stdint.h>
#include <stdio.h>

#include "tgen.h"

typedef struct simopt_s {
        tgen_conf_t gen;
        int64_t count;       /* readings to send; -1 = no limit */
        int64_t duration_ms; /* wall-clock run time; 0 = no limit */
        int unpaced;         /* send as fast as possible (the clock still
                              * advances 1/rate per reading) */
        const char *topic;
        const char *ingress; /* base URL of ingress: HTTP mode; NULL = Kafka */
        int64_t batch;       /* records per HTTP request */
        int64_t linger_ms;   /* longest a partial HTTP batch waits */
        int to_stdout;       /* write NDJSON records to stdout instead */
        int64_t advance_ms;  /* after the last reading, one per partition this
                              * much later (Kafka mode; 0 = none) */
        int64_t flush_ms;    /* how long to wait for acknowledgements at the end */
        int64_t progress_ms; /* progress log interval; 0 = none */
        const char *schema_dir;
        int start_now; /* --start-time now (the default): main() reads the
                        * clock again when its pacing starts */
} simopt_t;

/* Fills *o from defaults, the environment, then argv.  Returns 0, 1 when
 * --help was given (usage printed to stdout), or -1 with errstr set. */
int simopt_parse(simopt_t *o, int argc, char **argv, char *errstr, size_t errstr_size);

void simopt_usage(FILE *f);

/* "now", epoch milliseconds, or RFC 3339 UTC ("2026-11-23T08:00:00Z",
 * optional .mmm).  0 or -1. */
int simopt_parse_time(const char *s, int64_t *out_ms);

#endif
