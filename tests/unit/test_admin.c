/* Unit tests for admin: a real server on a loopback port picked by the
 * kernel, driven with libcurl — /metrics, /healthz (including a stalled
 * heartbeat among many beating threads), /readyz conditions and their
 * counts, 404, 405, HEAD, and start-up errors. */
#include "admin.h"
#include "metrics.h"
#include "procm.h"
#include "th.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

typedef struct {
        long status;
        char body[65536];
        size_t len;
        char ctype[128];
        char allow[64];
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
        reply_t *r = ud;
        size_t len = size * n;
        if (r->len + len >= sizeof(r->body))
                len = sizeof(r->body) - 1 - r->len;
        memcpy(r->body + r->len, p, len);
        r->len += len;
        r->body[r->len] = '\0';
        return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
        reply_t *r = ud;
        size_t len = size * n;
        if (len > 6 && !strncasecmp(p, "Allow:", 6))
                snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), p + 7);
        return len;
}

/* Returns the HTTP status (0 on transport error). */
static long http(uint16_t port, const char *method, const char *path, reply_t *r) {
        char url[128];
        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        if (!strcmp(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (!strcmp(method, "POST"))
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
        else if (strcmp(method, "GET") != 0)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (curl_easy_perform(c) == CURLE_OK) {
                char *ct = NULL;
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
                curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
                if (ct)
                        snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
        }
        curl_easy_cleanup(c);
        return r->status;
}

static void sleep_ms(long ms) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

static reply_t rep;

static void test_endpoints(void) {
        char err[256] = "";
        metrics_inc(metrics_counter("weir_test_admin_hits_total", "Hits."), 3);
        admin_t *a = admin_start("127.0.0.1", 0, 0, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a) {
                fprintf(stderr, "  %s\n", err);
                return;
        }
        uint16_t port = admin_port(a);
        TH_CHECK(port > 0);

        TH_CHECK_INT(http(port, "GET", "/metrics", &rep), 200);
        TH_CHECK_STR(rep.ctype, "text/plain; version=0.0.4; charset=utf-8");
        TH_CHECK_HAS(rep.body, "# TYPE weir_test_admin_hits_total counter\n"
                               "weir_test_admin_hits_total 3\n");

        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        TH_CHECK_STR(rep.body, "ok\n");
        TH_CHECK_STR(rep.ctype, "text/plain; charset=utf-8");
        TH_CHECK_INT(http(port, "GET", "/healthz?verbose=1", &rep), 200);

        TH_CHECK_INT(http(port, "HEAD", "/metrics", &rep), 200);
        TH_CHECK_INT(rep.len, 0);

        TH_CHECK_INT(http(port, "GET", "/nope", &rep), 404);
        TH_CHECK_INT(http(port, "GET", "/metrics/", &rep), 404);
        TH_CHECK_INT(http(port, "POST", "/metrics", &rep), 405);
        TH_CHECK_STR(rep.allow, "GET, HEAD");
        TH_CHECK_INT(http(port, "DELETE", "/healthz", &rep), 405);

        admin_stop(a);
        metrics_reset();
}

/* The value of the first sample of `name` in a /metrics body, or -1. */
static double sample(const char *body, const char *name) {
        char pat[128];
        snprintf(pat, sizeof(pat), "\n%s ", name);
        const char *p = strstr(body, pat);
        return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* Issue 19: the conventional process metrics and weir_build_info, from
 * every admin server. */
static void test_process_metrics(void) {
        char err[256] = "";
        TH_CHECK_INT(procm_register("ingress"), 0);
        admin_t *a = admin_start("127.0.0.1", 0, 0, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        /* burn a little CPU so the counter is above 0 */
        volatile double x = 0;
        for (long i = 0; i < 20000000; i++)
                x += (double)i * 0.5;
        TH_CHECK_INT(http(admin_port(a), "GET", "/metrics", &rep), 200);
        double now = (double)time(NULL);
        TH_CHECK_HAS(rep.body, "# TYPE process_cpu_seconds_total counter\n");
        TH_CHECK(sample(rep.body, "process_cpu_seconds_total") > 0);
        TH_CHECK(sample(rep.body, "process_resident_memory_bytes") > 1e6);
        TH_CHECK(sample(rep.body, "process_virtual_memory_bytes") > 1e6);
        double start = sample(rep.body, "process_start_time_seconds");
        TH_CHECK(start > now - 3600 && start <= now + 2);
        TH_CHECK(sample(rep.body, "process_open_fds") >= 3);
        TH_CHECK(sample(rep.body, "process_max_fds") >= 64);
        char bi[256];
        snprintf(bi, sizeof(bi),
                 "weir_build_info{service=\"ingress\",version=\"%s\",revision=\"%s\"} 1\n",
                 procm_version(), procm_revision());
        TH_CHECK_HAS(rep.body, bi);
        /* Built in a git checkout (make runs in one): git describe's answer. */
        if (access(".git", F_OK) == 0)
                TH_CHECK(strcmp(procm_version(), "unknown") != 0);
        admin_stop(a);
        metrics_reset();
}

static void test_readyz(void) {
        char err[256] = "";
        admin_t *a = admin_start("127.0.0.1", 0, 0, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        uint16_t port = admin_port(a);
        /* No conditions: ready. */
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        TH_CHECK_STR(rep.body, "ready\n");

        int kafka = admin_ready_condition(a, "kafka assigned");
        int state = admin_ready_condition(a, "state restored");
        TH_CHECK_INT(kafka, 0);
        TH_CHECK_INT(state, 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_STR(rep.body, "unmet: kafka assigned 0/1\nunmet: state restored 0/1\n");

        admin_ready_set(a, kafka, 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_STR(rep.body, "unmet: state restored 0/1\nok: kafka assigned 1/1\n");
        admin_ready_set(a, state, 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        TH_CHECK_STR(rep.body, "ready\nok: kafka assigned 1/1\nok: state restored 1/1\n");
        admin_ready_set(a, kafka, 0); /* lost the assignment */
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_HAS(rep.body, "unmet: kafka assigned 0/1\n");

        /* Met later (an empty cooperative assignment): unmet until the
         * delay is over, unless set before; set_after then set wins. */
        admin_ready_set_after(a, kafka, 300);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_HAS(rep.body, "unmet: kafka assigned 0/1\n");
        sleep_ms(400);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        admin_ready_set_after(a, kafka, 60000);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        admin_ready_set(a, kafka, 1); /* the partitions came */
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        admin_ready_set(a, kafka, 0);

        /* Bad handles are ignored. */
        admin_ready_set(a, -1, 1);
        admin_ready_set(a, 99, 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        admin_stop(a);

        /* NULL server: every call is a no-op. */
        admin_beat(admin_beat_new(NULL, "x"));
        admin_beat_end(NULL);
        admin_ready_set(NULL, 0, 1);
        admin_ready_set_after(NULL, 0, 1);
        TH_CHECK_INT(admin_ready_condition(NULL, "x"), -1);
        TH_CHECK_INT(admin_port(NULL), 0);
        admin_stop(NULL);
}

/* Issue 17: conditions count their members, with no fixed limit — 40
 * consumers, one condition "kafka assigned 37/40" until the last three. */
static void test_readyz_counted(void) {
        char err[256] = "";
        admin_t *a = admin_start("127.0.0.1", 0, 0, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        uint16_t port = admin_port(a);
        enum { N = 40 };
        int h[N];
        for (int i = 0; i < N; i++) {
                h[i] = admin_ready_condition(a, "kafka assigned");
                TH_CHECK_INT(h[i], i);
        }
        int access = admin_ready_condition(a, "kafka access");
        TH_CHECK_INT(access, N);
        admin_ready_set(a, access, 1);
        for (int i = 0; i < N - 3; i++)
                admin_ready_set(a, h[i], 1);
        admin_ready_set(a, h[0], 1); /* twice: still one member */
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_STR(rep.body, "unmet: kafka assigned 37/40\nok: kafka access 1/1\n");
        admin_ready_set(a, h[N - 3], 1);
        admin_ready_set(a, h[N - 2], 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_HAS(rep.body, "unmet: kafka assigned 39/40\n");
        admin_ready_set(a, h[N - 1], 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        TH_CHECK_STR(rep.body, "ready\nok: kafka assigned 40/40\nok: kafka access 1/1\n");
        /* One consumer loses its partitions: the whole service is unready. */
        admin_ready_set(a, h[17], 0);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_HAS(rep.body, "unmet: kafka assigned 39/40\n");
        admin_stop(a);
}

static void test_heartbeat_stall(void) {
        char err[256] = "";
        admin_t *a = admin_start("127.0.0.1", 0, 150, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        uint16_t port = admin_port(a);
        /* No thread registered: nothing can stall. */
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        admin_beat_t *b = admin_beat_new(a, "main");
        TH_CHECK(b != NULL);
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        TH_CHECK_STR(rep.body, "ok\n");
        sleep_ms(400); /* no heartbeat */
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 503);
        TH_CHECK_HAS(rep.body, "stalled: main: no heartbeat for ");
        TH_CHECK_HAS(rep.body, "(limit 150 ms)\n");
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_STR(rep.body, "unmet: main stalled\n");
        TH_CHECK_INT(http(port, "GET", "/metrics", &rep), 200);
        TH_CHECK(sample(rep.body, "weir_heartbeat_age_seconds{thread=\"main\"}") >= 0.4);
        admin_beat(b);
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        /* A thread that ended on purpose is not stalled. */
        admin_beat_end(b);
        sleep_ms(300);
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        /* The same name again takes the ended handle back. */
        TH_CHECK(admin_beat_new(a, "main") == b);
        admin_stop(a);
        metrics_reset();
}

/* Issue 17: one heartbeat per thread, more than the 16 slots there used to
 * be; 23 threads beat, one stops beating: /healthz fails and names it, and
 * the others' beats do not hide it. */
enum { BEATERS = 24, STUCK = 17 };

typedef struct {
        admin_beat_t *b;
        atomic_int *run;
        int stuck;
} beater_t;

static void *beater(void *arg) {
        beater_t *t = arg;
        while (atomic_load(t->run)) {
                if (!t->stuck || atomic_load(t->run) == 1)
                        admin_beat(t->b);
                sleep_ms(10);
        }
        return NULL;
}

static void test_heartbeat_threads(void) {
        char err[256] = "";
        admin_t *a = admin_start("127.0.0.1", 0, 200, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        uint16_t port = admin_port(a);
        atomic_int run = 1; /* 1: all beat; 2: STUCK stops; 0: end */
        beater_t t[BEATERS];
        pthread_t th[BEATERS];
        for (int i = 0; i < BEATERS; i++) {
                char name[32];
                snprintf(name, sizeof(name), "compute loop %d", i);
                t[i] = (beater_t){admin_beat_new(a, name), &run, i == STUCK};
                TH_CHECK(t[i].b != NULL);
                pthread_create(&th[i], NULL, beater, &t[i]);
        }
        sleep_ms(400);
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        TH_CHECK_INT(http(port, "GET", "/metrics", &rep), 200);
        for (int i = 0; i < BEATERS; i++) {
                char m[96];
                snprintf(m, sizeof(m), "weir_heartbeat_age_seconds{thread=\"compute loop %d\"}", i);
                double age = sample(rep.body, m);
                TH_CHECK(age >= 0 && age < 0.2);
        }
        atomic_store(&run, 2);
        sleep_ms(500);
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 503);
        TH_CHECK_HAS(rep.body, "stalled: compute loop 17: no heartbeat for ");
        /* Only that one. */
        TH_CHECK(strstr(rep.body, "compute loop 16") == NULL);
        TH_CHECK(strchr(rep.body, '\n') == rep.body + rep.len - 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_STR(rep.body, "unmet: compute loop 17 stalled\n");
        atomic_store(&run, 1);
        sleep_ms(100);
        TH_CHECK_INT(http(port, "GET", "/healthz", &rep), 200);
        atomic_store(&run, 0);
        for (int i = 0; i < BEATERS; i++)
                pthread_join(th[i], NULL);
        admin_stop(a);
        metrics_reset();
}

/* A condition registered before listening holds from the first request:
 * no request can find the process "ready" before it exists (svc's
 * "starting"; with admin_start() then the condition, a probe answered in
 * between got 200 from a compute not started yet, once in CI). */
static void test_condition_before_listening(void) {
        char err[256] = "";
        admin_t *a = admin_new(0, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        int starting = admin_ready_condition(a, "starting");
        TH_CHECK_INT(admin_port(a), 0); /* not listening yet */
        TH_CHECK_INT(admin_listen(a, "127.0.0.1", 0, err, sizeof(err)), 0);
        uint16_t port = admin_port(a);
        TH_CHECK(port != 0);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 503);
        TH_CHECK_STR(rep.body, "unmet: starting 0/1\n");
        admin_ready_set(a, starting, 1);
        TH_CHECK_INT(http(port, "GET", "/readyz", &rep), 200);
        TH_CHECK_STR(rep.body, "ready\nok: starting 1/1\n");
        admin_stop(a);
        admin_stop(admin_new(0, err, sizeof(err))); /* never listened */
}

static void test_start_errors(void) {
        char err[256] = "";
        admin_t *a = admin_start("127.0.0.1", 0, 0, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        /* The same port again: taken. */
        admin_t *b = admin_start("127.0.0.1", admin_port(a), 0, err, sizeof(err));
        TH_CHECK(b == NULL);
        TH_CHECK_HAS(err, "admin server: cannot listen on 127.0.0.1:");
        admin_stop(b);
        admin_stop(a);

        b = admin_start("not an address!", 0, 0, err, sizeof(err));
        TH_CHECK(b == NULL);
        TH_CHECK_HAS(err, "admin server: bind address \"not an address!\": ");
        admin_stop(b);
}

static void curl_cleanup(void) {
        curl_global_cleanup();
}

/* Not a check: libcurl's global state, set up once and torn down at exit
 * (before LeakSanitizer looks). */
static void test_setup(void) {
        TH_CHECK_INT(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
        atexit(curl_cleanup);
}

TH_MAIN("admin", TH_T(test_setup), TH_T(test_endpoints), TH_T(test_process_metrics),
        TH_T(test_readyz), TH_T(test_readyz_counted), TH_T(test_heartbeat_stall),
        TH_T(test_heartbeat_threads), TH_T(test_condition_before_listening),
        TH_T(test_start_errors))
