/* ws_feed — runs the sink's WebSocket feed (services/sink/ws_*.c) without
 * Kafka, for tests and demos of the feed and the dashboard page.
 *
 *   ws_feed [--port N] [--path /ws] [--admin-port N] [--rate R] [--keys K]
 *           [--pad BYTES] [--alert-every N]
 *
 * Settings not given as options come from the environment like weir-sink's
 * (SINK_HTTP_PORT, SINK_WS_CLIENT_QUEUE, SINK_WS_SLOW_TIMEOUT, ...; see
 * ws.h).  Prints "READY port=<p> admin=<a>" on stdout once listening.
 *
 * Events to publish come from stdin, one JSON object a line:
 *   {"kind":"alert","topic":"alerts.enriched","key":"k1","severity":"WARNING",
 *    "time":1700000000000,"data":{...}}
 * ("time" defaults to now), or the line FLUSH: ws_server_flush(), as the
 * sink calls it once it has drained what Kafka delivered.  With --rate, a thread also publishes R
 * synthetic enriched aggregates a second over K keys ("key-0".."key-<K-1>",
 * topic aggregates.enriched, event time = now, an attribute "pad" of BYTES
 * characters), and with --alert-every N an alert FIRING/RESOLVED in turn on
 * key-0 every N aggregates.  Runs until SIGTERM/SIGINT. */
#include <cjson/cJSON.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../services/sink/ws.h"
#include "admin.h"
#include "log.h"
#include "metrics.h"

static atomic_int stop_flag;
static ws_server_t *srv;
static double rate;
static int nkeys = 10, pad, alert_every;

static void on_signal(int sig) {
        (void)sig;
        atomic_store(&stop_flag, 1);
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *generator(void *arg) {
        (void)arg;
        char *padding = calloc((size_t)pad + 1, 1);
        size_t cap = 1024 + (size_t)pad;
        char *json = malloc(cap);
        if (!padding || !json) {
                free(padding);
                free(json);
                return NULL;
        }
        memset(padding, 'x', (size_t)pad);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long long n = 0;
        int firing = 0;
        while (!atomic_load(&stop_flag)) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
                if ((double)n >= el * rate) {
                        usleep(1000);
                        continue;
                }
                int64_t now = now_ms();
                char key[32];
                int k = (int)(n % nkeys);
                int kl = snprintf(key, sizeof(key), "key-%d", k);
                int len = snprintf(
                        json, cap,
                        "{\"pipeline\":\"feed\",\"key\":\"%s\",\"window\":\"1m\",\"window_"
                        "start\":%lld,"
                        "\"window_end\":%lld,\"count\":%lld,\"final\":true,\"emitted_at\":%lld,"
                        "\"fields\":[{\"name\":\"speed_kmh\",\"count\":10,\"mean\":%.1f,"
                        "\"max\":%.1f}],"
                        "\"enriched\":true,\"attributes\":{\"name\":\"Intersection "
                        "%d\",\"pad\":\"%s\"}}",
                        key, (long long)(now - 60000), (long long)now, n, (long long)now,
                        20.0 + (double)(n % 50), 70.0, k, padding);
                ws_event_t ev = {"aggregate", "aggregates.enriched", key, (size_t)kl, NULL,
                                 json,        (size_t)len,           now};
                ws_publish(srv, &ev);
                n++;
                if (alert_every > 0 && n % alert_every == 0) {
                        firing = !firing;
                        len = snprintf(json, cap,
                                       "{\"pipeline\":\"feed\",\"rule\":\"slow\",\"key\":\"key-0\","
                                       "\"window\":\"1m\",\"window_end\":%lld,\"state\":\"%s\","
                                       "\"severity\":\"WARNING\",\"expr\":\"mean(speed_kmh) < 30\","
                                       "\"values\":{\"mean(speed_kmh)\":21.5},\"labels\":{},"
                                       "\"emitted_at\":%lld,\"enriched\":true,"
                                       "\"attributes\":{\"name\":\"Intersection 0\"}}",
                                       (long long)now, firing ? "FIRING" : "RESOLVED",
                                       (long long)now);
                        ws_event_t al = {"alert", "alerts.enriched", "key-0", 5, "WARNING",
                                         json,    (size_t)len,       now};
                        ws_publish(srv, &al);
                }
        }
        free(padding);
        free(json);
        return NULL;
}

static const char *jstr(const cJSON *o, const char *name) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void publish_line(const char *line) {
        cJSON *o = cJSON_Parse(line);
        if (!cJSON_IsObject(o)) {
                fprintf(stderr, "ws_feed: not a JSON object: %s\n", line);
                cJSON_Delete(o);
                return;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
        char *data = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o, "data"));
        const char *key = jstr(o, "key");
        ws_event_t ev = {jstr(o, "kind") ? jstr(o, "kind") : "aggregate",
                         jstr(o, "topic") ? jstr(o, "topic") : "aggregates.enriched",
                         key ? key : "",
                         key ? strlen(key) : 0,
                         jstr(o, "severity"),
                         data,
                         data ? strlen(data) : 0,
                         cJSON_IsNumber(t) ? (int64_t)t->valuedouble : now_ms()};
        ws_publish(srv, &ev);
        free(data);
        cJSON_Delete(o);
}

int main(int argc, char **argv) {
        char err[512];
        if (log_init("ws_feed", err, sizeof(err))) {
                fprintf(stderr, "ws_feed: %s\n", err);
                return 2;
        }
        ws_conf_t conf;
        ws_conf_defaults(&conf);
        if (ws_conf_env(&conf, err, sizeof(err))) {
                fprintf(stderr, "ws_feed: %s\n", err);
                return 2;
        }
        int want_admin = -1;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!v) {
                        fprintf(stderr, "ws_feed: %s needs a value\n", a);
                        return 2;
                }
                i++;
                if (strcmp(a, "--port") == 0)
                        conf.port = atoi(v);
                else if (strcmp(a, "--path") == 0)
                        conf.path = v;
                else if (strcmp(a, "--admin-port") == 0)
                        want_admin = atoi(v);
                else if (strcmp(a, "--rate") == 0)
                        rate = atof(v);
                else if (strcmp(a, "--keys") == 0)
                        nkeys = atoi(v) > 0 ? atoi(v) : 1;
                else if (strcmp(a, "--pad") == 0)
                        pad = atoi(v) > 0 ? atoi(v) : 0;
                else if (strcmp(a, "--alert-every") == 0)
                        alert_every = atoi(v);
                else {
                        fprintf(stderr, "ws_feed: unknown option %s\n", a);
                        return 2;
                }
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        signal(SIGPIPE, SIG_IGN);
        admin_t *admin = NULL;
        if (want_admin >= 0) {
                admin = admin_start("127.0.0.1", (uint16_t)want_admin, 0, err, sizeof(err));
                if (!admin) {
                        fprintf(stderr, "ws_feed: admin: %s\n", err);
                        return 1;
                }
        }
        srv = ws_server_new(&conf, err, sizeof(err));
        if (!srv) {
                fprintf(stderr, "ws_feed: %s\n", err);
                admin_stop(admin);
                return 1;
        }
        printf("READY port=%d admin=%d\n", ws_server_port(srv), admin ? admin_port(admin) : -1);
        fflush(stdout);
        pthread_t gen;
        int have_gen = rate > 0 && pthread_create(&gen, NULL, generator, NULL) == 0;

        char *line = NULL;
        size_t cap = 0, used = 0;
        int eof = 0;
        while (!atomic_load(&stop_flag)) {
                struct pollfd pfd = {0, POLLIN, 0};
                if (eof || poll(&pfd, 1, 100) <= 0) {
                        if (eof)
                                usleep(100000);
                        continue;
                }
                char chunk[65536];
                ssize_t n = read(0, chunk, sizeof(chunk));
                if (n <= 0) {
                        eof = 1;
                        continue;
                }
                if (used + (size_t)n + 1 > cap) {
                        cap = (used + (size_t)n + 1) * 2;
                        char *nl = realloc(line, cap);
                        if (!nl)
                                break;
                        line = nl;
                }
                memcpy(line + used, chunk, (size_t)n);
                used += (size_t)n;
                line[used] = '\0';
                char *start = line, *nlp;
                while ((nlp = memchr(start, '\n', used - (size_t)(start - line))) != NULL) {
                        *nlp = '\0';
                        if (!strcmp(start, "FLUSH"))
                                ws_server_flush(srv);
                        else if (nlp > start)
                                publish_line(start);
                        start = nlp + 1;
                }
                used -= (size_t)(start - line);
                memmove(line, start, used);
        }
        free(line);
        atomic_store(&stop_flag, 1);
        if (have_gen)
                pthread_join(gen, NULL);
        ws_server_destroy(srv);
        admin_stop(admin);
        metrics_reset();
        return 0;
}
