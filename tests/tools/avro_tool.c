/* avro_tool — produce and consume Avro records through common/, for the
 * interoperability tests (tests/integration/test_avro_interop.py), where
 * Python's confluent-kafka and fastavro are the peers.
 *
 *   avro_tool produce -b BROKERS -t TOPIC --schema NAME [--key FIELD]
 *             [--wire single-object|confluent] [--registry URL] < json-lines
 *       Each stdin line is one record in JSON (Avro JSON encoding or plain
 *       JSON); prints "ok <line> <partition> <offset>" or
 *       "error <line>: <reason>" per line; exit 1 if any line failed.
 *   avro_tool consume -b BROKERS -t TOPIC --schema NAME -n COUNT
 *             [--registry URL] [--writer-schema FILE] [--timeout-ms MS]
 *       Decodes COUNT records (either wire format) as schema NAME and prints
 *       each in the Avro JSON encoding, one a line, in partition order;
 *       undecodable records are reported on stderr and make the exit 1.
 * Schemas come from --schemas DIR (default schemas/). */
#include "av_json.h"
#include "av_schema.h"
#include "av_wire.h"
#include "kc.h"
#include "kc_dr.h"
#include "log.h"
#include "sr.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
        const char *brokers, *topic, *schema, *schemas_dir, *key, *registry, *writer_file;
        av_wire_t wire;
        long count, timeout_ms;
} opts_t;

static void die(const char *what, const char *err) {
        fprintf(stderr, "avro_tool: %s: %s\n", what, err);
        exit(2);
}

/* Reads a whole file; the caller frees. */
static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t cap = 0, n = 0, r;
        do {
                if (n + 4096 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap);
                        if (!buf)
                                exit(2);
                }
                r = fread(buf + n, 1, cap - n - 1, f);
                n += r;
        } while (r > 0);
        fclose(f);
        buf[n] = '\0';
        *len = n;
        return buf;
}

static void set_kafka_env(const char *brokers) {
        /* kc takes its properties from the environment, as services do. */
        if (brokers)
                setenv("KAFKA_BOOTSTRAP_SERVERS", brokers, 1);
}

static int produce(const opts_t *o, av_registry_t *reg, sr_t *sr) {
        char err[512];
        const av_schema_t *schema = av_registry_by_name(reg, o->schema);
        if (!schema)
                die(o->schema, "no such schema in the schema directory");
        int32_t id = -1;
        if (o->wire == AV_WIRE_CONFLUENT) {
                char subject[512];
                if (!sr)
                        die("--wire confluent", "needs --registry");
                sr_subject_for_topic(o->topic, subject, sizeof(subject));
                if (sr_register(sr, subject, av_schema_text(schema), &id, err, sizeof(err)))
                        die("schema registry", err);
        }
        kc_opts_t ko = {.stage = "tool"};
        kc_t *kc = kc_producer_new(&ko, err, sizeof(err));
        if (!kc)
                die("producer", err);

        /* Read all lines first: results are reported per line, in order. */
        size_t cap = 1024, n = 0;
        char **lines = malloc(cap * sizeof(*lines));
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while ((len = getline(&line, &lcap, stdin)) >= 0) {
                if (n == cap) {
                        char **grown = realloc(lines, (cap *= 2) * sizeof(*lines));
                        if (!grown)
                                die("stdin", "out of memory");
                        lines = grown;
                }
                lines[n++] = strndup(line, (size_t)len);
        }
        free(line);

        kc_dr_batch_t *b = kc_dr_batch_new(n, NULL, NULL);
        char **errors = calloc(n ? n : 1, sizeof(*errors));
        avro_value_t value;
        av_value_new(schema, &value);
        buf_t out = BUF_INIT;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(lines[i]);
                while (l && (lines[i][l - 1] == '\n' || lines[i][l - 1] == '\r'))
                        l--;
                const char *kp = NULL;
                size_t klen = 0;
                out.len = 0;
                if (av_json_text_to_value(schema, lines[i], l, &value, err, sizeof(err)) ||
                    av_encode(schema, &value, o->wire, id, &out, err, sizeof(err))) {
                        errors[i] = strdup(err);
                        kc_dr_batch_fail(b, i, RD_KAFKA_RESP_ERR__INVALID_ARG);
                        continue;
                }
                avro_value_t field;
                if (o->key && avro_value_get_by_name(&value, o->key, &field, NULL) == 0)
                        avro_value_get_string(&field, &kp, &klen);
                kc_record_t rec = {.topic = o->topic,
                                   .partition = RD_KAFKA_PARTITION_UA,
                                   .key = kp,
                                   .key_len = kp && klen ? klen - 1 : 0, /* avro-c counts the NUL */
                                   .value = out.data,
                                   .value_len = out.len};
                rd_kafka_resp_err_t e = kc_produce(kc, &rec, kc_dr_batch_dr(b, i), -1);
                if (e)
                        kc_dr_batch_fail(b, i, e);
        }
        rd_kafka_flush(kc_rk(kc), 30000);
        size_t left = kc_dr_batch_wait(b, 30000);
        int failed = left ? 1 : 0;
        for (size_t i = 0; i < n; i++) {
                kc_dr_result_t r = kc_dr_batch_result(b, i);
                if (errors[i]) {
                        printf("error %zu: %s\n", i + 1, errors[i]);
                        failed = 1;
                } else if (r.err) {
                        printf("error %zu: %s\n", i + 1, rd_kafka_err2str(r.err));
                        failed = 1;
                } else {
                        printf("ok %zu %d %lld\n", i + 1, (int)r.partition, (long long)r.offset);
                }
                free(errors[i]);
                free(lines[i]);
        }
        free(errors);
        free(lines);
        kc_dr_batch_destroy(b);
        buf_free(&out);
        avro_value_decref(&value);
        kc_destroy(kc);
        return failed;
}

static int consume(const opts_t *o, av_registry_t *reg, sr_t *sr) {
        char err[512];
        const av_schema_t *reader = av_registry_by_name(reg, o->schema);
        if (!reader)
                die(o->schema, "no such schema in the schema directory");
        char group[128];
        snprintf(group, sizeof(group), "avro-tool-%ld-%d", (long)time(NULL), (int)getpid());
        kc_opts_t ko = {.stage = "tool", .group_id = group};
        kc_t *kc = kc_consumer_new(&ko, err, sizeof(err));
        if (!kc)
                die("consumer", err);
        const char *topics[] = {o->topic, NULL};
        if (kc_subscribe(kc, topics, err, sizeof(err)))
                die("subscribe", err);
        av_decoder_t *dec = av_decoder_new(reg, reader, sr ? sr_lookup_cb : NULL, sr);
        buf_t out = BUF_INIT;
        long got = 0, bad = 0;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (got + bad < o->count) {
                clock_gettime(CLOCK_MONOTONIC, &t);
                long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
                if (el > o->timeout_ms)
                        break;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(kc_rk(kc), 200);
                if (!m)
                        continue;
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "avro_tool: consume: %s\n",
                                        rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                av_decoded_t d;
                out.len = 0;
                if (av_decode(dec, m->payload, m->len, &d, err, sizeof(err)) ||
                    av_value_to_json(d.schema, d.value, 0, &out, err, sizeof(err))) {
                        fprintf(stderr, "avro_tool: offset %lld: %s\n", (long long)m->offset, err);
                        bad++;
                } else {
                        printf("%s\n", out.data);
                        got++;
                }
                rd_kafka_message_destroy(m);
        }
        fflush(stdout);
        if (got + bad < o->count)
                fprintf(stderr, "avro_tool: timed out with %ld of %ld records\n", got + bad,
                        o->count);
        buf_free(&out);
        av_decoder_destroy(dec);
        kc_destroy(kc);
        return (bad || got < o->count) ? 1 : 0;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"schema", required_argument, NULL, 's'},
                {"schemas", required_argument, NULL, 'S'},
                {"key", required_argument, NULL, 'k'},
                {"wire", required_argument, NULL, 'w'},
                {"registry", required_argument, NULL, 'r'},
                {"writer-schema", required_argument, NULL, 'W'},
                {"timeout-ms", required_argument, NULL, 'T'},
                {NULL, 0, NULL, 0},
        };
        opts_t o = {.schemas_dir = "schemas", .count = 1, .timeout_ms = 30000};
        char err[512];
        if (argc < 2)
                die("usage", "avro_tool produce|consume -b BROKERS -t TOPIC --schema NAME ...");
        const char *cmd = argv[1];
        optind = 2;
        int c;
        while ((c = getopt_long(argc, argv, "b:t:n:", longopts, NULL)) != -1) {
                switch (c) {
                case 'b':
                        o.brokers = optarg;
                        break;
                case 't':
                        o.topic = optarg;
                        break;
                case 'n':
                        o.count = atol(optarg);
                        break;
                case 's':
                        o.schema = optarg;
                        break;
                case 'S':
                        o.schemas_dir = optarg;
                        break;
                case 'k':
                        o.key = optarg;
                        break;
                case 'r':
                        o.registry = optarg;
                        break;
                case 'W':
                        o.writer_file = optarg;
                        break;
                case 'T':
                        o.timeout_ms = atol(optarg);
                        break;
                case 'w':
                        if (av_wire_parse(optarg, &o.wire))
                                die("--wire", "expected single-object or confluent");
                        break;
                default:
                        exit(2);
                }
        }
        if (!o.topic || !o.schema)
                die("usage", "-t TOPIC and --schema NAME are required");
        if (log_init("avro_tool", err, sizeof(err)))
                die("log", err);
        set_kafka_env(o.brokers);

        av_registry_t *reg = av_registry_new();
        if (av_registry_load_dir(reg, o.schemas_dir, err, sizeof(err)) < 0)
                die("schemas", err);
        if (o.writer_file) {
                size_t len;
                char *text = slurp(o.writer_file, &len);
                if (!text)
                        die(o.writer_file, "cannot read");
                av_schema_t *w = av_schema_parse(text, len, o.writer_file, err, sizeof(err));
                free(text);
                /* A writer schema of the same name as a reader schema is an
                 * older version: it joins the registry by fingerprint only. */
                if (!w || av_registry_add_writer(reg, w, err, sizeof(err)))
                        die(o.writer_file, err);
        }
        sr_t *sr = NULL;
        if (o.registry && !(sr = sr_new(o.registry, NULL, err, sizeof(err))))
                die("--registry", err);

        int rc;
        if (!strcmp(cmd, "produce"))
                rc = produce(&o, reg, sr);
        else if (!strcmp(cmd, "consume"))
                rc = consume(&o, reg, sr);
        else
                die(cmd, "unknown command (produce, consume)");
        if (sr)
                sr_destroy(sr);
        av_registry_destroy(reg);
        return rc;
}
