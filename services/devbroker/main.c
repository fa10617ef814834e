/* weir-devbroker — a Kafka stand-in for `make demo` on a machine with no
 * Kafka: hosts librdkafka's mock cluster (rd_kafka_mock_cluster_new, in
 * this process, on loopback ports it picks), creates the pipeline's topics,
 * prints the bootstrap servers as the first line on stdout and stays up
 * until SIGTERM/SIGINT.
 *
 *   BOOTSTRAP=$(weir-devbroker --spec pipeline.json | head -1)   # or read a line
 *
 * Topics: every topic the pipeline spec names (input, compute outputs,
 * changelog and DLQ, enrichment outputs and DLQ, the Kafka enrichment
 * source, sink DLQ) plus --topic NAME (repeatable), each with --partitions
 * (default 3).  The mock cluster keeps everything in memory, supports the
 * idempotent and transactional producer and consumer groups, and is a
 * development tool only: librdkafka's mock never proves that anything
 * works with Kafka (tests use a real broker). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "clk.h"
#include "log.h"
#include "spec.h"
#include "svc.h"

#define MAX_TOPICS 64

static atomic_int stop_flag;

static int fail(const char *msg) {
        return svc_fail("devbroker", msg);
}

static void usage(FILE *f) {
        fprintf(f, "usage: weir-devbroker [--spec FILE] [--topic NAME]... [--partitions N] "
                   "[--brokers N]\n"
                   "An in-process Kafka stand-in (librdkafka's mock cluster) for the demo.\n"
                   "Prints the bootstrap servers on the first line of stdout, then runs until\n"
                   "SIGTERM/SIGINT.  --spec defaults to $PIPELINE_SPEC when set.\n");
}

static void add_topic(const char **topics, int *n, const char *t) {
        if (!t || !*t || *n >= MAX_TOPICS)
                return;
        for (int i = 0; i < *n; i++)
                if (!strcmp(topics[i], t))
                        return;
        topics[(*n)++] = t;
}

typedef struct create_s {
        rd_kafka_mock_cluster_t *mc;
        const char *topic;
        int partitions;
        rd_kafka_resp_err_t err;
        int started;
        pthread_t thr;
} create_t;

static void *create_topic(void *arg) {
        create_t *c = arg;
        c->err = rd_kafka_mock_topic_create(c->mc, c->topic, c->partitions, 1);
        return NULL;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
        char *end = NULL;
        long v = s ? strtol(s, &end, 10) : 0;
        if (!s || end == s || *end || v < lo || v > hi)
                return -1;
        *out = (int)v;
        return 0;
}

int main(int argc, char **argv) {
        char err[1024];
        const char *spec_path = getenv("PIPELINE_SPEC");
        const char *topics[MAX_TOPICS];
        int ntopics = 0, partitions = 3, brokers = 1;
        if (spec_path && !*spec_path)
                spec_path = NULL;
        if (log_init("devbroker", err, sizeof(err)))
                return fail(err);
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                        usage(stdout);
                        return 0;
                } else if (!strcmp(a, "--spec") && v) {
                        spec_path = v;
                        i++;
                } else if (!strcmp(a, "--topic") && v) {
                        add_topic(topics, &ntopics, v);
                        i++;
                } else if (!strcmp(a, "--partitions") && v) {
                        if (parse_int(v, 1, 1000, &partitions))
                                return fail("--partitions: expected an integer in 1..1000");
                        i++;
                } else if (!strcmp(a, "--brokers") && v) {
                        if (parse_int(v, 1, 9, &brokers))
                                return fail("--brokers: expected an integer in 1..9");
                        i++;
                } else {
                        snprintf(err, sizeof(err), "unexpected argument \"%s\" (see --help)", a);
                        return fail(err);
                }
        }

        spec_t *spec = NULL;
        if (spec_path) {
                if (!(spec = spec_load(spec_path, SPEC_PART_ALL, err, sizeof(err))))
                        return fail(err);
                add_topic(topics, &ntopics, spec->input.topic);
                if (spec->compute) {
                        add_topic(topics, &ntopics, spec->compute->output.aggregates);
                        add_topic(topics, &ntopics, spec->compute->output.alerts);
                        add_topic(topics, &ntopics, spec->compute->output.dlq);
                        add_topic(topics, &ntopics, spec->compute->output.changelog);
                }
                if (spec->enrichment) {
                        add_topic(topics, &ntopics, spec->enrichment->output.aggregates);
                        add_topic(topics, &ntopics, spec->enrichment->output.alerts);
                        add_topic(topics, &ntopics, spec->enrichment->output.dlq);
                        for (size_t s = 0; s < spec->enrichment->nsources; s++)
                                if (spec->enrichment->sources[s].type == SPEC_SOURCE_KAFKA)
                                        add_topic(topics, &ntopics,
                                                  spec->enrichment->sources[s].kafka.topic);
                }
                if (spec->sink)
                        add_topic(topics, &ntopics, spec->sink->dlq);
        }

        /* The mock cluster lives in a client instance of its own. */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "client.id", "weir-devbroker", NULL, 0);
        /* Only the mock cluster matters here: no notice about the client
         * itself having no bootstrap servers. */
        rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk) {
                spec_free(spec);
                return fail(err);
        }
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
        int rc = 0;
        if (!mc) {
                rc = fail("could not start librdkafka's mock cluster");
                goto out;
        }
        /* Each create is a round trip to the mock cluster's thread that takes
         * a few hundred ms: done in parallel, so start-up stays fast. */
        create_t jobs[MAX_TOPICS];
        for (int i = 0; i < ntopics; i++) {
                jobs[i] = (create_t){.mc = mc, .topic = topics[i], .partitions = partitions};
                jobs[i].started = pthread_create(&jobs[i].thr, NULL, create_topic, &jobs[i]) == 0;
                if (!jobs[i].started)
                        create_topic(&jobs[i]);
        }
        for (int i = 0; i < ntopics; i++)
                if (jobs[i].started)
                        pthread_join(jobs[i].thr, NULL);
        for (int i = 0; i < ntopics; i++) {
                if (jobs[i].err) {
                        snprintf(err, sizeof(err), "creating topic %s: %s", topics[i],
                                 rd_kafka_err2str(jobs[i].err));
                        rc = fail(err);
                        goto out;
                }
        }
        if (svc_signals_install(&stop_flag, err, sizeof(err))) {
                rc = fail(err);
                goto out;
        }
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        log_info("devbroker",
                 "mock cluster of %d broker(s) at %s with %d topic(s) of %d partition(s)", brokers,
                 rd_kafka_mock_cluster_bootstraps(mc), ntopics, partitions);
        while (!stop_flag)
                clk_sleep_ms(200);
        log_info("devbroker", "stopping");
out:
        if (mc)
                rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        spec_free(spec);
        return rc;
}
