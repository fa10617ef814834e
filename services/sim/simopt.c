/* simopt — the option table, its environment fallbacks and the argv loop. */
#include "simopt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "clk.h"

typedef enum { O_INT, O_U64, O_NUM, O_DUR, O_STR, O_FLAG, O_TIME } otype_t;

typedef struct optdef_s {
        const char *name;
        otype_t type;
        size_t off;
        double min, max;
        const char *help;
} optdef_t;

#define OFF(f) offsetof(simopt_t, f)

static const optdef_t defs[] = {
        {"rate", O_NUM, OFF(gen.rate), 1e-3, 1e9, "readings per second (default 100)"},
        {"count", O_INT, OFF(count), 0, 1e15, "stop after N readings"},
        {"duration", O_DUR, OFF(duration_ms), 0, 1e15, "stop after this wall-clock time (5s, 2m)"},
        {"unpaced", O_FLAG, OFF(unpaced), 0, 1, "send as fast as possible (clock still 1/rate)"},
        {"keys", O_INT, OFF(gen.keys), 1, 1e6, "intersections x-0..x-<N-1> (default 12)"},
        {"out-of-order", O_NUM, OFF(gen.out_of_order), 0, 1, "fraction of readings set back"},
        {"max-delay", O_DUR, OFF(gen.max_delay_ms), 1, 1e12, "out-of-order bound (default 5s)"},
        {"late", O_NUM, OFF(gen.late), 0, 1, "fraction of late readings (beyond grace)"},
        {"late-delay", O_DUR, OFF(gen.late_ms), 1, 1e12,
         "late readings are 1..2x this behind (default 15m)"},
        {"malformed", O_NUM, OFF(gen.malformed), 0, 1, "fraction of malformed records"},
        {"seed", O_U64, OFF(gen.seed), 0, 0, "random seed (default 1)"},
        {"start-time", O_TIME, OFF(gen.start_ms), 0, 0,
         "simulated clock start: now, epoch ms or 2026-11-23T08:00:00Z (default now)"},
        {"time-scale", O_NUM, OFF(gen.time_scale), 1e-6, 1e6,
         "simulated seconds per wall second (default 1)"},
        {"incident-every", O_DUR, OFF(gen.incident_every_ms), 0, 1e12,
         "mean gap between incidents per intersection, simulated (default 30m; 0 = none)"},
        {"incident-duration", O_DUR, OFF(gen.incident_ms), 0, 1e12,
         "incident length, 1..1.6x this (default 5m)"},
        {"silent-key", O_INT, OFF(gen.silent_key), -1, 1e6,
         "intersection whose gateway goes silent now and then (default -1: none)"},
        {"silent-every", O_DUR, OFF(gen.silent_every_ms), 1, 1e12,
         "... every this much simulated time (default 30m)"},
        {"silent-for", O_DUR, OFF(gen.silent_ms), 0, 1e12,
         "... for the last this much of it (default 5m)"},
        {"topic", O_STR, OFF(topic), 0, 0, "topic (default traffic.readings)"},
        {"ingress", O_STR, OFF(ingress), 0, 0,
         "ingress base URL: POST <url>/topics/<topic> (REST Proxy v2) instead of Kafka"},
        {"batch", O_INT, OFF(batch), 1, 100000, "records per HTTP request (default 100)"},
        {"linger", O_DUR, OFF(linger_ms), 0, 60000,
         "longest a partial HTTP batch waits before it is sent (default 100ms)"},
        {"stdout", O_FLAG, OFF(to_stdout), 0, 1, "print records as NDJSON instead of sending"},
        {"advance", O_DUR, OFF(advance_ms), 0, 1e12,
         "after the run, one reading per partition this much later, so consumers close "
         "the last windows"},
        {"flush-timeout", O_DUR, OFF(flush_ms), 1, 1e9, "wait for acknowledgements (default 30s)"},
        {"progress", O_DUR, OFF(progress_ms), 0, 1e9, "progress log interval (default 10s; 0 off)"},
        {"schema-dir", O_STR, OFF(schema_dir), 0, 0,
         "folder of *.avsc (default $SCHEMA_DIR or schemas)"},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

void simopt_usage(FILE *f) {
        fprintf(f, "usage: weir-sim [options]\n"
                   "Simulated city traffic (weir.example.TrafficReading) to Kafka or to "
                   "ingress.\nEach option may also be set as SIM_<NAME> in the environment; "
                   "Kafka through KAFKA_*,\nframing through WIRE_FORMAT and "
                   "SCHEMA_REGISTRY_URL.\n\n");
        for (size_t i = 0; i < NDEFS; i++) {
                const char *arg = defs[i].type == O_FLAG ? "" : " V";
                char lhs[48];
                snprintf(lhs, sizeof(lhs), "--%s%s", defs[i].name, arg);
                fprintf(f, "  %-22s %s\n", lhs, defs[i].help);
        }
}

int simopt_parse_time(const char *s, int64_t *out_ms) {
        if (!strcmp(s, "now")) {
                *out_ms = clk_wall_ms();
                return 0;
        }
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end != s && !*end && !errno && v >= 0) {
                *out_ms = v;
                return 0;
        }
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        int ms = 0, n = 0;
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
                return -1;
        const char *p = s + n;
        if (*p == '.') {
                int digits = 0;
                for (p++; isdigit((unsigned char)*p); p++, digits++)
                        if (digits < 3)
                                ms = ms * 10 + (*p - '0');
                for (; digits < 3; digits++)
                        ms *= 10;
        }
        if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
                return -1;
        if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
            tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
                return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *out_ms = (int64_t)timegm(&tm) * 1000 + ms;
        return 0;
}

/* Sets one option from text; `src` names it in errors ("--rate" or
 * "SIM_RATE"). */
static int set_value(simopt_t *o, const optdef_t *d, const char *v, const char *src, char *errstr,
                     size_t errstr_size) {
        char *base = (char *)o + d->off;
        char *end = NULL;
        errno = 0;
        switch (d->type) {
        case O_FLAG: {
                int b;
                if (!v) {
                        *(int *)(void *)base = 1;
                        return 0;
                }
                if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
                        b = 1;
                else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
                        b = 0;
                else
                        break;
                *(int *)(void *)base = b;
                return 0;
        }
        case O_STR:
                *(const char **)(void *)base = v;
                return 0;
        case O_U64: {
                unsigned long long u = strtoull(v, &end, 0);
                if (end == v || *end || errno || *v == '-')
                        break;
                *(uint64_t *)(void *)base = u;
                return 0;
        }
        case O_INT: {
                long long n = strtoll(v, &end, 10);
                if (end == v || *end || errno || (double)n < d->min || (double)n > d->max)
                        break;
                if (d->off == OFF(gen.keys) || d->off == OFF(gen.silent_key))
                        *(int *)(void *)base = (int)n;
                else
                        *(int64_t *)(void *)base = n;
                return 0;
        }
        case O_NUM: {
                double x = strtod(v, &end);
                if (end == v || *end || errno || !isfinite(x) || x < d->min || x > d->max)
                        break;
                *(double *)(void *)base = x;
                return 0;
        }
        case O_DUR: {
                int64_t ms;
                if (cfg_parse_duration_ms(v, &ms) || (double)ms < d->min || (double)ms > d->max)
                        break;
                *(int64_t *)(void *)base = ms;
                return 0;
        }
        case O_TIME:
                if (simopt_parse_time(v, (int64_t *)(void *)base))
                        break;
                if (d->off == OFF(gen.start_ms))
                        o->start_now = !strcmp(v, "now");
                return 0;
        }
        static const char *const forms[] = {[O_INT] = "an integer",
                                            [O_U64] = "an unsigned integer",
                                            [O_NUM] = "a number",
                                            [O_DUR] = "a duration such as 500ms, 5s, 2m",
                                            [O_STR] = "a string",
                                            [O_FLAG] = "true or false",
                                            [O_TIME] = "now, epoch ms or 2026-11-23T08:00:00Z"};
        if (d->type == O_INT || d->type == O_NUM)
                snprintf(errstr, errstr_size, "%s=\"%s\": expected %s in %g..%g", src, v,
                         forms[d->type], d->min, d->max);
        else
                snprintf(errstr, errstr_size, "%s=\"%s\": expected %s", src, v, forms[d->type]);
        return -1;
}

static const optdef_t *find_def(const char *name, size_t len) {
        for (size_t i = 0; i < NDEFS; i++)
                if (strlen(defs[i].name) == len && !strncmp(defs[i].name, name, len))
                        return &defs[i];
        return NULL;
}

int simopt_parse(simopt_t *o, int argc, char **argv, char *errstr, size_t errstr_size) {
        memset(o, 0, sizeof(*o));
        tgen_conf_defaults(&o->gen);
        o->count = -1;
        o->topic = "traffic.readings";
        o->batch = 100;
        o->linger_ms = 100;
        o->flush_ms = 30000;
        o->progress_ms = 10000;
        if (simopt_parse_time("now", &o->gen.start_ms))
                return -1;
        o->start_now = 1;
        if (cfg_str("SCHEMA_DIR", "schemas", &o->schema_dir, errstr, errstr_size))
                return -1;

        /* Environment first: SIM_<NAME>. */
        for (size_t i = 0; i < NDEFS; i++) {
                char var[64] = "SIM_";
                size_t j = 4;
                for (const char *p = defs[i].name; *p && j < sizeof(var) - 1; p++)
                        var[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
                var[j] = '\0';
                const char *v = NULL;
                if (cfg_str(var, NULL, &v, errstr, errstr_size))
                        return -1;
                if (v && set_value(o, &defs[i], v, var, errstr, errstr_size))
                        return -1;
        }

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                        simopt_usage(stdout);
                        return 1;
                }
                if (strncmp(a, "--", 2) != 0) {
                        snprintf(errstr, errstr_size, "unexpected argument \"%s\" (see --help)", a);
                        return -1;
                }
                const char *name = a + 2, *eq = strchr(name, '=');
                size_t len = eq ? (size_t)(eq - name) : strlen(name);
                const optdef_t *d = find_def(name, len);
                if (!d) {
                        snprintf(errstr, errstr_size, "unknown option \"%.*s\" (see --help)",
                                 (int)(len + 2), a);
                        return -1;
                }
                const char *v = eq ? eq + 1 : NULL;
                if (!v && d->type != O_FLAG) {
                        if (i + 1 >= argc) {
                                snprintf(errstr, errstr_size, "--%s needs a value", d->name);
                                return -1;
                        }
                        v = argv[++i];
                }
                char src[64];
                snprintf(src, sizeof(src), "--%s", d->name);
                if (set_value(o, d, v, src, errstr, errstr_size))
                        return -1;
        }
        if (o->ingress && o->to_stdout) {
                snprintf(errstr, errstr_size, "--ingress and --stdout exclude each other");
                return -1;
        }
        if (!*o->topic) {
                snprintf(errstr, errstr_size, "--topic: expected a topic name");
                return -1;
        }
        return 0;
}
