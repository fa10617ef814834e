/* Unit tests for metrics: values, declaration rules, label escaping,
 * histogram buckets, the exact rendered text, `promtool check metrics` on
 * it, OpenMetrics with exemplars (the exact text; the 0.0.4 text of the
 * same registry still passes promtool), and exact totals under concurrent
 * lock-free updates. */
#include "metrics.h"
#include "th.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_counter_gauge(void) {
        metrics_child_t *c = metrics_counter("weir_test_events_total", "Events.");
        TH_CHECK(c != NULL);
        metrics_inc(c, 1);
        metrics_inc(c, 2.5);
        metrics_inc(c, -4); /* ignored: counters only go up */
        metrics_inc(c, NAN);
        metrics_set(c, 100); /* ignored: not a gauge */
        TH_CHECK(metrics_value(c) == 3.5);
        TH_CHECK(metrics_counter("weir_test_events_total", "Events.") == c);

        metrics_child_t *g = metrics_gauge("weir_test_queue_depth", "Depth.");
        metrics_set(g, 7);
        metrics_inc(g, -2);
        TH_CHECK(metrics_value(g) == 5);
        metrics_set(g, -0.25);
        TH_CHECK(metrics_value(g) == -0.25);

        metrics_family_t *f =
                metrics_counter_family("weir_test_requests_total", "Requests.", "route, status");
        TH_CHECK(f != NULL);
        metrics_child_t *a = metrics_child(f, "/x", "200");
        metrics_child_t *b = metrics_child(f, "/x", "500");
        TH_CHECK(a && b && a != b);
        TH_CHECK(metrics_child(f, "/x", "200") == a);
        metrics_inc(a, 1);
        TH_CHECK(metrics_value(a) == 1 && metrics_value(b) == 0);
        metrics_reset();
}

static void test_declaration_rules(void) {
        metrics_family_t *f = metrics_counter_family("weir_test_x_total", "X.", "a");
        TH_CHECK(f != NULL);
        /* Same declaration: same family; any difference: NULL. */
        TH_CHECK(metrics_counter_family("weir_test_x_total", "X again.", "a") == f);
        TH_CHECK(metrics_counter_family("weir_test_x_total", "X.", "b") == NULL);
        TH_CHECK(metrics_counter_family("weir_test_x_total", "X.", NULL) == NULL);
        TH_CHECK(metrics_gauge_family("weir_test_x_total", "X.", "a") == NULL);
        double b1[] = {1, 2}, b2[] = {1, 3};
        metrics_family_t *h = metrics_histogram_family("weir_test_h_seconds", "H.", NULL, b1, 2);
        TH_CHECK(h != NULL);
        TH_CHECK(metrics_histogram_family("weir_test_h_seconds", "H.", NULL, b1, 2) == h);
        TH_CHECK(metrics_histogram_family("weir_test_h_seconds", "H.", NULL, b2, 2) == NULL);
        /* Invalid names, labels and buckets. */
        TH_CHECK(metrics_counter_family("weir_test_no_suffix", "X.", NULL) == NULL);
        TH_CHECK(metrics_gauge_family("9lives", "X.", NULL) == NULL);
        TH_CHECK(metrics_gauge_family("weir-test", "X.", NULL) == NULL);
        TH_CHECK(metrics_gauge_family("weir_test_g", "X.", "a,a") == NULL);
        TH_CHECK(metrics_gauge_family("weir_test_g", "X.", "__a") == NULL);
        TH_CHECK(metrics_gauge_family("weir_test_g", "X.", "a-b") == NULL);
        TH_CHECK(metrics_histogram_family("weir_test_h2", "X.", "le", NULL, 0) == NULL);
        double bad[] = {1, 1};
        TH_CHECK(metrics_histogram_family("weir_test_h3", "X.", NULL, bad, 2) == NULL);
        double inf[] = {1, INFINITY};
        TH_CHECK(metrics_histogram_family("weir_test_h4", "X.", NULL, inf, 2) != NULL);
        /* Updates through a failed declaration are harmless no-ops. */
        metrics_child_t *none = metrics_child(NULL);
        metrics_inc(none, 1);
        metrics_set(none, 1);
        metrics_observe(none, 1);
        TH_CHECK(metrics_value(none) == 0);
        metrics_reset();
}

static void test_histogram(void) {
        double bounds[] = {0.1, 1, 10};
        metrics_child_t *h = metrics_histogram("weir_test_latency_seconds", "Latency.", bounds, 3);
        metrics_observe(h, 0.05);
        metrics_observe(h, 0.1); /* le is inclusive */
        metrics_observe(h, 0.5);
        metrics_observe(h, 5);
        metrics_observe(h, 50);
        metrics_observe(h, NAN); /* ignored */
        TH_CHECK(metrics_value(h) == 5);
        char *txt = metrics_render(NULL);
        TH_CHECK_STR(txt, "# HELP weir_test_latency_seconds Latency.\n"
                          "# TYPE weir_test_latency_seconds histogram\n"
                          "weir_test_latency_seconds_bucket{le=\"0.1\"} 2\n"
                          "weir_test_latency_seconds_bucket{le=\"1\"} 3\n"
                          "weir_test_latency_seconds_bucket{le=\"10\"} 4\n"
                          "weir_test_latency_seconds_bucket{le=\"+Inf\"} 5\n"
                          "weir_test_latency_seconds_sum 55.65\n"
                          "weir_test_latency_seconds_count 5\n");
        free(txt);

        /* Default buckets, with labels. */
        metrics_family_t *f =
                metrics_histogram_family("weir_test_op_seconds", "Op.", "op", NULL, 0);
        metrics_observe(metrics_child(f, "get"), 0.003);
        txt = metrics_render(NULL);
        TH_CHECK_HAS(txt, "weir_test_op_seconds_bucket{op=\"get\",le=\"0.0025\"} 0\n"
                          "weir_test_op_seconds_bucket{op=\"get\",le=\"0.005\"} 1\n");
        TH_CHECK_HAS(txt, "weir_test_op_seconds_bucket{op=\"get\",le=\"10\"} 1\n"
                          "weir_test_op_seconds_bucket{op=\"get\",le=\"+Inf\"} 1\n"
                          "weir_test_op_seconds_sum{op=\"get\"} 0.003\n"
                          "weir_test_op_seconds_count{op=\"get\"} 1\n");
        TH_CHECK_HAS(txt, "le=\"0.0005\"");
        free(txt);
        metrics_reset();
}

static void test_render_and_escaping(void) {
        size_t len = 0;
        char *txt = metrics_render(&len);
        TH_CHECK_STR(txt, "");
        TH_CHECK_INT(len, 0);
        free(txt);

        /* Declared out of order: rendered sorted by name and label values. */
        metrics_family_t *f = metrics_counter_family("weir_test_b_total",
                                                     "Help with \\ and\nnewline \"q\".", "path");
        metrics_inc(metrics_child(f, "z"), 2);
        metrics_inc(metrics_child(f, "a\"b\\c\nd"), 1);
        metrics_inc(metrics_child(f, (const char *)NULL), 1e21);
        metrics_set(metrics_gauge("weir_test_a_ratio", "A."), 0.1);
        metrics_gauge_family("weir_test_c_bytes", "Declared, no child yet.", "topic");
        txt = metrics_render(&len);
        const char *want = "# HELP weir_test_a_ratio A.\n"
                           "# TYPE weir_test_a_ratio gauge\n"
                           "weir_test_a_ratio 0.1\n"
                           "# HELP weir_test_b_total Help with \\\\ and\\nnewline \"q\".\n"
                           "# TYPE weir_test_b_total counter\n"
                           "weir_test_b_total{path=\"\"} 1e+21\n"
                           "weir_test_b_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"
                           "weir_test_b_total{path=\"z\"} 2\n"
                           "# HELP weir_test_c_bytes Declared, no child yet.\n"
                           "# TYPE weir_test_c_bytes gauge\n";
        TH_CHECK_STR(txt, want);
        TH_CHECK_INT(len, strlen(want));
        free(txt);

        metrics_set(metrics_gauge("weir_test_d", "D."), INFINITY);
        metrics_set(metrics_gauge("weir_test_e", "E."), -INFINITY);
        metrics_set(metrics_gauge("weir_test_f", "F."), NAN);
        metrics_set(metrics_gauge("weir_test_g", "G."), 1.0 / 3);
        txt = metrics_render(NULL);
        TH_CHECK_HAS(txt, "weir_test_d +Inf\n");
        TH_CHECK_HAS(txt, "weir_test_e -Inf\n");
        TH_CHECK_HAS(txt, "weir_test_f NaN\n");
        TH_CHECK_HAS(txt, "weir_test_g 0.33333333333333331\n");
        free(txt);
        metrics_reset();
}

/* Runs `promtool check metrics` with text on stdin; returns its exit code
 * (127 if it could not run) and its output in out. */
static int promtool_check(const char *text, char *out, size_t outsz) {
        int in[2], res[2];
        if (pipe(in) != 0 || pipe(res) != 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                dup2(in[0], 0);
                dup2(res[1], 1);
                dup2(res[1], 2);
                close(in[1]);
                close(res[0]);
                execlp("promtool", "promtool", "check", "metrics", (char *)NULL);
                _exit(127);
        }
        close(in[0]);
        close(res[1]);
        size_t len = strlen(text), off = 0;
        while (off < len) {
                ssize_t w = write(in[1], text + off, len - off);
                if (w <= 0)
                        break;
                off += (size_t)w;
        }
        close(in[1]);
        size_t n = 0;
        ssize_t r;
        while (n + 1 < outsz && (r = read(res[0], out + n, outsz - 1 - n)) > 0)
                n += (size_t)r;
        out[n] = '\0';
        close(res[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_promtool(void) {
        signal(SIGPIPE, SIG_IGN);
        metrics_family_t *f = metrics_counter_family("weir_compute_records_total",
                                                     "Records consumed, by topic.", "topic,result");
        metrics_inc(metrics_child(f, "traffic.readings", "ok"), 41);
        metrics_inc(metrics_child(f, "we\"ird\\topic\n", "late"), 1);
        metrics_set(metrics_gauge("weir_compute_open_windows", "Open windows."), 12);
        metrics_family_t *h =
                metrics_histogram_family("weir_compute_process_duration_seconds",
                                         "Time to process a batch.", "stage", NULL, 0);
        metrics_observe(metrics_child(h, "agg"), 0.02);
        metrics_observe(metrics_child(h, "rules"), 20);
        metrics_counter("weir_compute_rebalances_total", "Rebalances.\nSecond \\ line.");
        metrics_gauge_family("weir_compute_lag_messages", "Lag.", "partition");
        char *txt = metrics_render(NULL);
        char out[4096];
        int rc = promtool_check(txt, out, sizeof(out));
        if (rc != 0)
                fprintf(stderr, "  promtool exit %d: %s\n---\n%s---\n", rc, out, txt);
        TH_CHECK_INT(rc, 0);
        TH_CHECK_STR(out, "");
        free(txt);
        metrics_reset();
}

static void test_openmetrics_exemplars(void) {
        double bounds[] = {0.1, 1, 10};
        metrics_child_t *h =
                metrics_histogram("weir_test_latency_seconds", "A \"latency\".", bounds, 3);
        metrics_inc(metrics_counter("weir_test_done_total", "Done."), 2);
        metrics_observe(h, 0.05);
        metrics_observe_exemplar(h, 0.5, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
        metrics_observe_exemplar(h, 0.7, "0af7651916cd43dd8448eb211c80319c", NULL); /* replaces */
        metrics_observe_exemplar(h, 50, "4bf92f3577b34da6a3ce929d0e0e4736", "b7ad6b7169203331");
        metrics_observe_exemplar(h, 0.2, "not-a-trace-id", NULL); /* counted, no exemplar */
        TH_CHECK(metrics_value(h) == 5);
        char *txt = metrics_render_openmetrics(NULL);
        /* The exemplars' timestamps (now, in seconds) masked before comparing. */
        for (char *line = txt, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
                char *ex = strstr(line, " # {"), *ts = nl;
                if (!ex || ex > nl)
                        continue;
                while (ts > ex && ts[-1] != ' ')
                        ts--;
                double t = strtod(ts, NULL);
                TH_CHECK(t > 1.7e9 && t < 1e10);
                memset(ts, 'T', (size_t)(nl - ts));
        }
        TH_CHECK_STR(txt, "# HELP weir_test_done Done.\n"
                          "# TYPE weir_test_done counter\n"
                          "weir_test_done_total 2\n"
                          "# HELP weir_test_latency_seconds A \\\"latency\\\".\n"
                          "# TYPE weir_test_latency_seconds histogram\n"
                          "weir_test_latency_seconds_bucket{le=\"0.1\"} 1\n"
                          "weir_test_latency_seconds_bucket{le=\"1.0\"} 4 # "
                          "{trace_id=\"0af7651916cd43dd8448eb211c80319c\"} 0.7 TTTTTTTTTTTTTT\n"
                          "weir_test_latency_seconds_bucket{le=\"10.0\"} 4\n"
                          "weir_test_latency_seconds_bucket{le=\"+Inf\"} 5 # "
                          "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\","
                          "span_id=\"b7ad6b7169203331\"} 50 TTTTTTTTTTTTTT\n"
                          "weir_test_latency_seconds_sum 51.45\n"
                          "weir_test_latency_seconds_count 5\n"
                          "# EOF\n");
        free(txt);
        /* The 0.0.4 text has no exemplar and still passes promtool. */
        txt = metrics_render(NULL);
        TH_CHECK(strstr(txt, "trace_id") == NULL);
        TH_CHECK_HAS(txt, "# TYPE weir_test_done_total counter\n");
        char out[4096];
        int rc = promtool_check(txt, out, sizeof(out));
        TH_CHECK_INT(rc, 0);
        free(txt);
        metrics_reset();
}

static metrics_child_t *mt_counter, *mt_gauge, *mt_hist;

static void *mt_worker(void *arg) {
        (void)arg;
        for (int i = 0; i < 100000; i++) {
                metrics_inc(mt_counter, 1);
                metrics_inc(mt_gauge, 0.5);
                metrics_observe(mt_hist, (i % 3) ? 0.25 : 2.0);
        }
        return NULL;
}

static void test_threads(void) {
        double bounds[] = {1};
        mt_counter = metrics_counter("weir_test_mt_total", "MT.");
        mt_gauge = metrics_gauge("weir_test_mt_gauge", "MT gauge (CAS path).");
        mt_hist = metrics_histogram("weir_test_mt_seconds", "MT hist.", bounds, 1);
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
                pthread_create(&t[i], NULL, mt_worker, NULL);
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        TH_CHECK(metrics_value(mt_counter) == 400000);
        TH_CHECK(metrics_value(mt_gauge) == 200000);
        TH_CHECK(metrics_value(mt_hist) == 400000);
        char *txt = metrics_render(NULL);
        /* 33334 of each thread's 100000 are i % 3 == 0 → 2.0. */
        TH_CHECK_HAS(txt, "weir_test_mt_seconds_bucket{le=\"1\"} 266664\n");
        TH_CHECK_HAS(txt, "weir_test_mt_seconds_bucket{le=\"+Inf\"} 400000\n");
        TH_CHECK_HAS(txt, "weir_test_mt_seconds_sum 333338\n");
        TH_CHECK_HAS(txt, "weir_test_mt_total 400000\n");
        free(txt);
        metrics_reset();
}

TH_MAIN("metrics", TH_T(test_counter_gauge), TH_T(test_declaration_rules), TH_T(test_histogram),
        TH_T(test_render_and_escaping), TH_T(test_promtool), TH_T(test_openmetrics_exemplars),
        TH_T(test_threads))
