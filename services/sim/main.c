/* weir-sim — simulated city traffic for Weir: the demo's data source, the
 * load generator of the benchmarks and the end-to-end test.
 *
 * Readings come from tgen (the model), are encoded by simenc and go to Kafka
 * (simkafka: Avro single-object by default, Confluent framing with
 * WIRE_FORMAT=confluent and SCHEMA_REGISTRY_URL), to ingress over HTTP
 * (simhttp, REST Proxy v2), or to stdout as NDJSON.  Pacing: reading i is
 * due i/rate seconds after the start (or at once with --unpaced).  The last
 * line on stdout is the summary:
 *   sim sent=N acked=N rejected=N failed=N malformed=N out_of_order=N late=N
 *       first_ts=MS last_ts=MS elapsed_s=S rate=R
 * Exit status: 0, 1 for a bad setting, 2 when records failed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "av_schema.h"
#include "av_wire.h"
#include "cfg.h"
#include "clk.h"
#include "log.h"
#include "simenc.h"
#include "simhttp.h"
#include "simkafka.h"
#include "simopt.h"
#include "sr.h"
#include "svc.h"
#include "tgen.h"

static atomic_int stop_flag;

static int fail(const char *msg) {
        return svc_fail("sim", msg);
}

typedef struct counts_s {
        uint64_t generated, malformed, out_of_order, late;
        int64_t first_ts, last_ts, max_ts;
} counts_t;

/* The schema id to frame records with: -1 for single-object; for Confluent
 * the registry's id under <topic>-value (registered if new). */
static int schema_id_for(av_wire_t wire, const av_schema_t *schema, const char *topic, int32_t *id,
                         char *errstr, size_t errstr_size) {
        *id = -1;
        if (wire != AV_WIRE_CONFLUENT)
                return 0;
        const char *url = NULL, *cred = NULL;
        if (cfg_str_required("SCHEMA_REGISTRY_URL", &url, errstr, errstr_size) ||
            cfg_secret("SCHEMA_REGISTRY_CREDENTIALS", &cred, errstr, errstr_size))
                return -1;
        sr_t *sr = sr_new(url, cred, errstr, errstr_size);
        if (!sr)
                return -1;
        char subject[300];
        int rc = sr_subject_for_topic(topic, subject, sizeof(subject)) ||
                 sr_register(sr, subject, av_schema_text(schema), id, errstr, errstr_size);
        sr_destroy(sr);
        return rc ? -1 : 0;
}

int main(int argc, char **argv) {
        char err[1024];
        simopt_t o;
        int rc = simopt_parse(&o, argc, argv, err, sizeof(err));
        if (rc == 1)
                return 0;
        if (rc)
                return fail(err);
        if (log_init("sim", err, sizeof(err)))
                return fail(err);

        static const char *const wires[] = {"single-object", "confluent", NULL};
        int wire_i = 0;
        if (cfg_enum("WIRE_FORMAT", "single-object", wires, &wire_i, err, sizeof(err)))
                return fail(err);
        av_wire_t wire = wire_i ? AV_WIRE_CONFLUENT : AV_WIRE_SINGLE_OBJECT;

        av_registry_t *reg = av_registry_new();
        if (!reg || av_registry_load_dir(reg, o.schema_dir, err, sizeof(err)) < 0) {
                av_registry_destroy(reg);
                return fail(err);
        }
        const av_schema_t *schema = av_registry_by_name(reg, "weir.example.TrafficReading");
        tgen_t *gen = NULL;
        simenc_t *enc = NULL;
        simkafka_t *kafka = NULL;
        simhttp_t *http = NULL;
        buf_t line = BUF_INIT;
        int32_t schema_id = -1;
        int status = 1;
        if (!schema) {
                snprintf(err, sizeof(err),
                         "SCHEMA_DIR=\"%s\": no schema weir.example.TrafficReading (use "
                         "--schema-dir)",
                         o.schema_dir);
                goto out;
        }
        if (!(gen = tgen_new(&o.gen, err, sizeof(err))))
                goto out;
        if (o.ingress) {
                if (!(http = simhttp_new(o.ingress, o.topic, (int)o.batch, &stop_flag, err,
                                         sizeof(err))))
                        goto out;
        } else if (!o.to_stdout) {
                const char *bs = NULL, *alias = NULL;
                if (cfg_str("KAFKA_BOOTSTRAP_SERVERS", NULL, &bs, err, sizeof(err)) ||
                    cfg_str("KAFKA_METADATA_BROKER_LIST", NULL, &alias, err, sizeof(err)))
                        goto out;
                if (!bs && !alias) {
                        snprintf(err, sizeof(err),
                                 "KAFKA_BOOTSTRAP_SERVERS: required to send to Kafka (or use "
                                 "--ingress URL or --stdout)");
                        goto out;
                }
                if (schema_id_for(wire, schema, o.topic, &schema_id, err, sizeof(err)) ||
                    !(enc = simenc_new(schema, wire, schema_id, err, sizeof(err))) ||
                    !(kafka = simkafka_new(o.topic, enc, err, sizeof(err))))
                        goto out;
        }

        if (svc_signals_install(&stop_flag, err, sizeof(err)))
                goto out;
        /* The clock starts where pacing starts, not where "now" was first
         * read: setting up the output (the schemas, libcurl, a Kafka client)
         * takes milliseconds, and every reading would be stamped that much
         * before it exists, which each latency measured from a reading's
         * timestamp would count. */
        if (o.start_now) {
                o.gen.start_ms = clk_wall_ms();
                tgen_set_start(gen, o.gen.start_ms);
        }
        double t0 = clk_mono_s(), next_progress = t0 + (double)o.progress_ms / 1000.0;
        log_info("sim",
                 "sending to %s%s%s: rate %.6g/s%s, keys %d, seed %" PRIu64 ", clock from %" PRId64
                 " x%.6g",
                 http          ? o.ingress
                 : o.to_stdout ? "stdout"
                               : "kafka topic ",
                 http          ? ""
                 : o.to_stdout ? ""
                               : o.topic,
                 "", o.gen.rate, o.unpaced ? " (unpaced)" : "", o.gen.keys, o.gen.seed,
                 o.gen.start_ms, o.gen.time_scale);

        counts_t c = {0, 0, 0, 0, 0, 0, INT64_MIN};
        tgen_reading_t r, last;
        memset(&last, 0, sizeof(last));
        double batch_started = 0;
        uint64_t i = 0;
        while (!stop_flag) {
                if (o.count >= 0 && (int64_t)i >= o.count)
                        break;
                double t = clk_mono_s();
                if (o.duration_ms > 0 && t - t0 >= (double)o.duration_ms / 1000.0)
                        break;
                if (!o.unpaced) {
                        /* Readings due by now, never one ahead of its
                         * timestamp: a reading exists from its time on. */
                        double due = (t - t0) * o.gen.rate;
                        if ((double)i >= due) {
                                /* Idle: serve reports, and do not let a
                                 * partial HTTP batch wait more than --linger
                                 * (a stdout line ~100 ms) at low rates. */
                                if (kafka)
                                        simkafka_poll(kafka);
                                else if (http && simhttp_pending(http) > 0 &&
                                         t - batch_started >= (double)o.linger_ms / 1000.0) {
                                        simhttp_flush(http);
                                        continue; /* it blocked: readings fell due meanwhile */
                                } else if (!http)
                                        fflush(stdout);
                                /* 1 ms past the next reading's time: at most
                                 * ~1000 naps a second. */
                                double nap = ((double)i - due) / o.gen.rate + 0.001;
                                /* A partial HTTP batch goes out when its
                                 * linger ends, not up to a nap later. */
                                double left = batch_started + (double)o.linger_ms / 1000.0 - t;
                                if (http && simhttp_pending(http) > 0 && left < nap)
                                        nap = left > 0 ? left : 0;
                                clk_sleep_ns((int64_t)((nap > 0.1 ? 0.1 : nap) * 1e9));
                                continue;
                        }
                }
                tgen_next(gen, &r);
                i++;
                if (r.silent) /* --silent-key: its gateway sends nothing now */
                        continue;
                c.generated++;
                c.malformed += r.malformed != 0;
                c.out_of_order += r.order == TGEN_OUT_OF_ORDER;
                c.late += r.order == TGEN_LATE;
                if (c.generated == 1)
                        c.first_ts = r.ts;
                c.last_ts = r.ts;
                if (r.ts > c.max_ts)
                        c.max_ts = r.ts;
                last = r;
                if (kafka) {
                        if (simkafka_send(kafka, &r, -1, err, sizeof(err)))
                                log_error("sim", "%s", err);
                        if ((i & 1023) == 0)
                                simkafka_poll(kafka);
                } else if (http) {
                        if (simhttp_pending(http) == 0)
                                batch_started = t;
                        if (simhttp_add(http, &r))
                                log_error("sim", "out of memory");
                } else {
                        line.len = 0;
                        if (simenc_json(&r, &line) == 0 && buf_append(&line, "\n", 1) == 0 &&
                            fwrite(line.data, 1, line.len, stdout) != line.len)
                                stop_flag = 1; /* reader gone (| head) */
                }
                if (o.progress_ms > 0 && (i & 255) == 0 && t >= next_progress) {
                        next_progress = t + (double)o.progress_ms / 1000.0;
                        log_info("sim", "%" PRIu64 " readings, %.0f/s", i,
                                 (double)i / (t - t0 > 0 ? t - t0 : 1));
                }
        }

        /* One more reading per partition, past the last, so that stream time
         * moves beyond the last windows' end plus grace. */
        if (kafka && o.advance_ms > 0 && c.generated > 0 && !stop_flag) {
                /* The broker may be away (chaos tests kill it): keep asking
                 * for the partition count as long as --flush-timeout. */
                double until = clk_mono_s() + (double)o.flush_ms / 1000.0;
                int parts;
                while ((parts = simkafka_partitions(kafka, err, sizeof(err))) < 0 && !stop_flag &&
                       clk_mono_s() < until)
                        log_warn("sim", "--advance: %s (retrying)", err);
                if (parts < 0)
                        log_error("sim", "--advance: %s", err);
                for (int p = 0; p < parts; p++) {
                        tgen_reading_t a = last;
                        a.ts = a.nominal_ts = c.max_ts + o.advance_ms;
                        a.order = TGEN_IN_ORDER;
                        a.malformed = 0;
                        if (simkafka_send(kafka, &a, p, err, sizeof(err)))
                                log_error("sim", "%s", err);
                }
        }
        simstats_t st = {0, 0, 0, 0};
        if (kafka) {
                simkafka_flush(kafka, (int)o.flush_ms);
                simkafka_stats(kafka, &st);
        } else if (http) {
                simhttp_flush(http);
                simhttp_stats(http, &st);
        } else {
                fflush(stdout);
                st.sent = st.acked = c.generated;
        }
        double elapsed = clk_mono_s() - t0;
        printf("sim sent=%" PRIu64 " acked=%" PRIu64 " rejected=%" PRIu64 " failed=%" PRIu64
               " malformed=%" PRIu64 " out_of_order=%" PRIu64 " late=%" PRIu64 " first_ts=%" PRId64
               " last_ts=%" PRId64 " max_ts=%" PRId64 " elapsed_s=%.3f rate=%.0f\n",
               st.sent, st.acked, st.rejected, st.failed, c.malformed, c.out_of_order, c.late,
               c.first_ts, c.last_ts, c.max_ts == INT64_MIN ? 0 : c.max_ts, elapsed,
               elapsed > 0 ? (double)st.sent / elapsed : 0.0);
        fflush(stdout);
        status = st.failed ? 2 : 0;
        err[0] = '\0';
out:
        if (status == 1 && err[0])
                fail(err);
        simkafka_destroy(kafka);
        simhttp_destroy(http);
        simenc_destroy(enc);
        tgen_destroy(gen);
        buf_free(&line);
        av_registry_destroy(reg);
        return status;
}
