/* av_bench — what one record costs in the Avro layer, on the example input
 * schema (schemas/traffic_reading.avsc): single-object framed records are
 * validated only, decoded (writer = reader), decoded and resolved to an
 * evolved reader, and encoded; JSON → Avro and Avro → JSON are timed too.
 * Validation is timed twice, by the schema's compiled program (av_prog.c)
 * and by walking its tree (av_walk), also on weir.Aggregate, the record
 * enrichment validates (two field stats of 13 optional doubles).
 *
 *   build/rel/tools/av_bench [-n records] [-d schemas-dir]
 *
 * Prints ns/record and records/s per operation, one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "av_int.h"
#include "av_json.h"
#include "av_wire.h"

/* The reader a later consumer might use: promoted count and occupancy,
 * reordered, one field added with a default. */
static const char *EVOLVED =
        "{\"type\":\"record\",\"name\":\"TrafficReading\",\"namespace\":\"weir.example\","
        "\"fields\":["
        "{\"name\":\"intersection_id\",\"type\":\"string\"},"
        "{\"name\":\"sensor_id\",\"type\":\"string\"},"
        "{\"name\":\"ts\",\"type\":\"long\"},"
        "{\"name\":\"speed_kmh\",\"type\":\"double\"},"
        "{\"name\":\"vehicle_count\",\"type\":\"long\"},"
        "{\"name\":\"occupancy_pct\",\"type\":\"double\"},"
        "{\"name\":\"lane\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"quality\",\"type\":\"string\",\"default\":\"ok\"}]}";

#define N_SAMPLES 1024 /* distinct records cycled through */

static double now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *what, double ns, long n) {
        printf("%-28s %8.1f ns/record %12.0f records/s\n", what, ns / (double)n,
               (double)n * 1e9 / ns);
}

static void die(const char *what, const char *err) {
        fprintf(stderr, "av_bench: %s: %s\n", what, err);
        exit(1);
}

/* av_validate on the bodies of single-object records; with `walk`, the
 * schema's program set aside: what every record cost before av_prog.c. */
static void time_validate(const av_schema_t *s, const buf_t *rec, long n, int walk,
                          const char *what) {
        char err[512];
        av_schema_t *w = (av_schema_t *)s; /* the program is put back below */
        av_prog_t *prog = w->prog;
        if (walk)
                w->prog = NULL;
        double t = now_ns();
        for (long i = 0; i < n; i++) {
                const buf_t *r = &rec[i % N_SAMPLES];
                if (av_validate(w, r->data + 10, r->len - 10, err, sizeof(err)) != 0)
                        die("validate", err);
        }
        report(what, now_ns() - t, n);
        w->prog = prog;
}

int main(int argc, char **argv) {
        long n = 1000000;
        const char *dir = "schemas";
        char err[512];
        int opt;
        while ((opt = getopt(argc, argv, "n:d:")) != -1) {
                if (opt == 'n')
                        n = atol(optarg);
                else if (opt == 'd')
                        dir = optarg;
                else {
                        fprintf(stderr, "usage: av_bench [-n records] [-d schemas-dir]\n");
                        return 2;
                }
        }
        if (n <= 0)
                n = 1;
        av_registry_t *reg = av_registry_new();
        if (av_registry_load_dir(reg, dir, err, sizeof(err)) == -1)
                die("loading schemas", err);
        const av_schema_t *s = av_registry_by_name(reg, "weir.example.TrafficReading");
        if (!s)
                die(dir, "no weir.example.TrafficReading schema");
        av_schema_t *evolved =
                av_schema_parse(EVOLVED, strlen(EVOLVED), "evolved", err, sizeof(err));
        if (!evolved)
                die("evolved schema", err);

        /* N_SAMPLES distinct readings as JSON text and as framed records. */
        static char json[N_SAMPLES][256];
        static buf_t rec[N_SAMPLES];
        avro_value_t v;
        av_value_new(s, &v);
        srand(1);
        for (int i = 0; i < N_SAMPLES; i++) {
                int lane = rand() % 4;
                char lane_s[32];
                snprintf(lane_s, sizeof(lane_s), lane ? "{\"int\":%d}" : "null", lane);
                snprintf(json[i], sizeof(json[i]),
                         "{\"sensor_id\":\"sensor-%05d\",\"intersection_id\":\"int-%04d\","
                         "\"ts\":%lld,\"speed_kmh\":%.2f,\"vehicle_count\":%d,"
                         "\"occupancy_pct\":%.1f,\"lane\":%s}",
                         rand() % 50000, rand() % 2000, 1700000000000LL + i * 250,
                         (rand() % 12000) / 100.0, rand() % 40, (rand() % 1000) / 10.0, lane_s);
                if (av_json_text_to_value(s, json[i], strlen(json[i]), &v, err, sizeof(err)) ||
                    av_encode(s, &v, AV_WIRE_SINGLE_OBJECT, -1, &rec[i], err, sizeof(err)))
                        die("preparing records", err);
        }
        printf("av_bench: %ld records of %s (%zu bytes framed, single-object), one thread\n", n,
               av_schema_name(s), rec[0].len);

        double t = now_ns();
        for (long i = 0; i < n; i++) {
                const buf_t *r = &rec[i % N_SAMPLES];
                av_header_t h;
                const av_schema_t *w;
                if (av_header_parse(r->data, r->len, &h, err, sizeof(err)) != AV_OK ||
                    !(w = av_registry_by_fingerprint(reg, h.fingerprint)) ||
                    av_validate(w, r->data + h.len, r->len - h.len, err, sizeof(err)) != 0)
                        die("validate", err);
        }
        report("validate only", now_ns() - t, n);
        time_validate(s, rec, n, 1, "validate, walking the tree");

        /* weir.Aggregate bodies as compute writes them: the pipeline's spec
         * decides which optional doubles are set, the same in every record
         * (here 7 of 13). */
        const av_schema_t *agg = av_registry_by_name(reg, "weir.Aggregate");
        if (!agg)
                die(dir, "no weir.Aggregate schema");
        static buf_t arec[N_SAMPLES];
        static const char *stats[] = {"sum",  "min", "max", "mean", "variance", "stddev", "first",
                                      "last", "p50", "p90", "p95",  "p99",      "zscore"};
        avro_value_t av;
        av_value_new(agg, &av);
        for (int i = 0; i < N_SAMPLES; i++) {
                char a[2048];
                int o = snprintf(a, sizeof(a),
                                 "{\"pipeline\":\"traffic\",\"key\":\"int-%04d\",\"window\":"
                                 "\"1m\",\"window_start\":%lld,\"window_end\":%lld,\"count\":%d,"
                                 "\"final\":true,\"emitted_at\":%lld,\"fields\":[",
                                 rand() % 2000, 1700000000000LL + i * 60000LL,
                                 1700000060000LL + i * 60000LL, rand() % 5000,
                                 1700000060100LL + i * 60000LL);
                for (int f = 0; f < 2; f++) {
                        o += snprintf(a + o, sizeof(a) - (size_t)o,
                                      "%s{\"name\":\"%s\",\"count\":%d", f ? "," : "",
                                      f ? "occupancy_pct" : "speed_kmh", rand() % 5000);
                        for (size_t k = 0; k < sizeof(stats) / sizeof(stats[0]); k++)
                                o += snprintf(a + o, sizeof(a) - (size_t)o,
                                              (0x10cf >> k) & 1 ? ",\"%s\":{\"double\":%.3f}"
                                                                : ",\"%s\":null",
                                              stats[k], (rand() % 100000) / 7.0);
                        o += snprintf(a + o, sizeof(a) - (size_t)o, "}");
                }
                snprintf(a + o, sizeof(a) - (size_t)o, "]}");
                if (av_json_text_to_value(agg, a, strlen(a), &av, err, sizeof(err)) ||
                    av_encode(agg, &av, AV_WIRE_SINGLE_OBJECT, -1, &arec[i], err, sizeof(err)))
                        die("preparing aggregates", err);
        }
        avro_value_decref(&av);
        printf("weir.Aggregate: %zu bytes framed\n", arec[0].len);
        time_validate(agg, arec, n, 0, "validate weir.Aggregate");
        time_validate(agg, arec, n, 1, "validate it, walking the tree");
        for (int i = 0; i < N_SAMPLES; i++)
                buf_free(&arec[i]);

        const av_schema_t *readers[2] = {s, evolved};
        const char *names[2] = {"decode (writer = reader)", "decode + resolve"};
        for (int k = 0; k < 2; k++) {
                av_decoder_t *dec = av_decoder_new(reg, readers[k], NULL, NULL);
                av_decoded_t d;
                t = now_ns();
                for (long i = 0; i < n; i++) {
                        const buf_t *r = &rec[i % N_SAMPLES];
                        if (av_decode(dec, r->data, r->len, &d, err, sizeof(err)) != AV_OK)
                                die("decode", err);
                }
                report(names[k], now_ns() - t, n);
                av_decoder_destroy(dec);
        }

        /* Encode: values decoded once up front, so only encoding is timed. */
        static avro_value_t vals[N_SAMPLES];
        av_decoder_t *dec = av_decoder_new(reg, NULL, NULL, NULL);
        for (int i = 0; i < N_SAMPLES; i++) {
                av_decoded_t d;
                av_value_new(s, &vals[i]);
                if (av_decode(dec, rec[i].data, rec[i].len, &d, err, sizeof(err)) != AV_OK ||
                    avro_value_copy(&vals[i], d.value) != 0)
                        die("copy", err);
        }
        av_decoder_destroy(dec);
        buf_t out = BUF_INIT;
        t = now_ns();
        for (long i = 0; i < n; i++) {
                out.len = 0;
                if (av_encode(s, &vals[i % N_SAMPLES], AV_WIRE_SINGLE_OBJECT, -1, &out, err,
                              sizeof(err)))
                        die("encode", err);
        }
        report("encode", now_ns() - t, n);

        t = now_ns();
        for (long i = 0; i < n; i++) {
                const char *j = json[i % N_SAMPLES];
                if (av_json_text_to_value(s, j, strlen(j), &v, err, sizeof(err)))
                        die("json to avro", err);
        }
        report("JSON text -> Avro value", now_ns() - t, n);

        t = now_ns();
        for (long i = 0; i < n; i++) {
                out.len = 0;
                if (av_value_to_json(s, &vals[i % N_SAMPLES], 0, &out, err, sizeof(err)))
                        die("avro to json", err);
        }
        report("Avro value -> JSON text", now_ns() - t, n);

        for (int i = 0; i < N_SAMPLES; i++) {
                avro_value_decref(&vals[i]);
                buf_free(&rec[i]);
        }
        avro_value_decref(&v);
        buf_free(&out);
        av_schema_destroy(evolved);
        av_registry_destroy(reg);
        return 0;
}
