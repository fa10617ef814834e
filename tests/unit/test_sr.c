/* Unit tests for sr, the Schema Registry client: against the registry stub
 * (tests/harness/registry.py, started here as a child process on a free
 * loopback port; the same stub the integration tests check against
 * Confluent's own client), a port nobody listens on, and a listener that
 * never answers.  Run from the repository root (make does), or point
 * WEIR_REGISTRY_PY at the stub. */
#include "sr.h"
#include "th.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char SCHEMA[] =
        "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"qty\",\"type\":\"int\"}]}";
/* The same schema, formatted differently: the registry must give the same id. */
static const char SCHEMA_SPACED[] =
        "{ \"type\": \"record\", \"name\": \"Order\", \"namespace\": \"t\",\n"
        "  \"fields\": [ {\"name\": \"id\", \"type\": \"string\"},\n"
        "              {\"name\": \"qty\", \"type\": \"int\"} ] }";
/* Evolved: an added field with a default. */
static const char SCHEMA_V2[] =
        "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"qty\",\"type\":\"int\"},"
        "{\"name\":\"note\",\"type\":\"string\",\"default\":\"\"}]}";

/* ---------------------------------------------------------------- stub */

typedef struct {
        pid_t pid;
        int port;
        char url[64];
} stub_t;

/* Starts the stub and reads the port it prints once listening.  Returns 0,
 * or -1 with the reason on stderr. */
static int stub_start(stub_t *st, const char *basic_auth) {
        const char *script = getenv("WEIR_REGISTRY_PY");
        if (!script)
                script = "tests/harness/registry.py";
        if (access(script, R_OK) != 0) {
                fprintf(stderr, "  %s not readable: run from the repository root\n", script);
                return -1;
        }
        int p[2];
        if (pipe(p) != 0)
                return -1;
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                close(p[0]);
                close(p[1]);
                char *argv[] = {"python3",          (char *)script,
                                "--port",           "0",
                                "--print-port",     basic_auth ? "--basic-auth" : NULL,
                                (char *)basic_auth, NULL};
                execvp("python3", argv);
                _exit(127);
        }
        close(p[1]);
        char line[32] = "";
        size_t n = 0;
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        while (n < sizeof(line) - 1 && !strchr(line, '\n') && poll(&pfd, 1, 20000) == 1) {
                ssize_t r = read(p[0], line + n, sizeof(line) - 1 - n);
                if (r <= 0)
                        break;
                n += (size_t)r;
                line[n] = '\0';
        }
        close(p[0]);
        st->pid = pid;
        st->port = atoi(line);
        if (st->port <= 0) {
                fprintf(stderr, "  registry stub did not print its port (got \"%s\")\n", line);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                st->pid = 0;
                return -1;
        }
        snprintf(st->url, sizeof(st->url), "http://127.0.0.1:%d", st->port);
        return 0;
}

static void stub_stop(stub_t *st) {
        if (st->pid > 0) {
                kill(st->pid, SIGTERM);
                waitpid(st->pid, NULL, 0);
                st->pid = 0;
        }
}

static stub_t shared;

static void shared_stop(void) {
        stub_stop(&shared);
}

/* The stub most tests share, started on first use, stopped at exit. */
static const char *shared_url(void) {
        if (shared.pid == 0) {
                if (stub_start(&shared, NULL) != 0)
                        return "http://127.0.0.1:1";
                atexit(shared_stop);
        }
        return shared.url;
}

/* A loopback port with nothing listening (bound, then released). */
static int closed_port(void) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        bind(fd, (struct sockaddr *)&a, sizeof(a));
        getsockname(fd, (struct sockaddr *)&a, &len);
        close(fd);
        return ntohs(a.sin_port);
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int json_equal(const char *a, const char *b) {
        cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
        int eq = ja && jb && cJSON_Compare(ja, jb, 1);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        return eq;
}

/* ---------------------------------------------------------------- tests */

static void test_subject_naming(void) {
        char buf[32];
        TH_CHECK_INT(sr_subject_for_topic("orders", buf, sizeof(buf)), 0);
        TH_CHECK_STR(buf, "orders-value");
        TH_CHECK_INT(sr_subject_for_topic("a-very-long-topic-name-indeed", buf, 16), -1);
        TH_CHECK(sr_err_retriable(SR_ERR_TRANSPORT));
        TH_CHECK(!sr_err_retriable(SR_ERR_NOT_FOUND));
        TH_CHECK(!sr_err_retriable(SR_OK));
        /* Issue 17: the registry's codes as shared error kinds. */
        TH_CHECK_INT(sr_err_kind(SR_OK), ST_OK);
        TH_CHECK_INT(sr_err_kind(SR_ERR_TRANSPORT), ST_RETRY);
        TH_CHECK_INT(sr_err_kind(SR_ERR_NOT_FOUND), ST_INVALID);
        TH_CHECK_INT(sr_err_kind(SR_ERR_REJECTED), ST_INVALID);
        TH_CHECK_INT(sr_err_kind(SR_ERR_PROTOCOL), ST_FATAL);
        TH_CHECK_STR(st_name(sr_err_kind(SR_ERR_TRANSPORT)), "retry");
        TH_CHECK_STR(st_name(ST_STOPPED), "stopped");
        TH_CHECK_STR(st_name(ST_NOMEM), "out of memory");
        TH_CHECK_STR(st_name((st_t)99), "unknown");
}

static void test_bad_config(void) {
        char err[256];
        TH_CHECK(sr_new("", NULL, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "empty");
        TH_CHECK(sr_new("ftp://127.0.0.1:1", NULL, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "http or https");
        TH_CHECK(sr_new("http://127.0.0.1:1/?x=1", NULL, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "query");
        /* Malformed credentials are not quoted back. */
        TH_CHECK(sr_new("http://127.0.0.1:1", "no-colon-s3cret", err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "user:password");
        TH_CHECK(strstr(err, "s3cret") == NULL);
        TH_CHECK(sr_new("http://u:s3cret@[::1", NULL, err, sizeof(err)) == NULL);
        TH_CHECK(strstr(err, "s3cret") == NULL);

        /* Credentials in the URL are taken out of it; a path prefix stays. */
        sr_t *sr = sr_new("http://weir:pw%40s3cret@127.0.0.1:1/prefix/", NULL, err, sizeof(err));
        TH_CHECK(sr != NULL);
        if (sr) {
                TH_CHECK_STR(sr_url(sr), "http://127.0.0.1:1/prefix");
                sr_destroy(sr);
        }
        sr_destroy(NULL);
}

static void test_register_and_get(void) {
        char err[512] = "";
        const char *url = shared_url();
        sr_t *a = sr_new(url, NULL, err, sizeof(err));
        TH_CHECK(a != NULL);
        if (!a)
                return;
        int32_t id = -1, id2 = -1, again = -1;
        TH_CHECK_INT(sr_register(a, "orders-value", SCHEMA, &id, err, sizeof(err)), SR_OK);
        TH_CHECK(id >= 1);
        /* Same schema (even reformatted) → same id. */
        TH_CHECK_INT(sr_register(a, "orders-value", SCHEMA_SPACED, &again, err, sizeof(err)),
                     SR_OK);
        TH_CHECK_INT(again, id);

        /* A fresh client: the first get goes to the registry, the next ones
         * are answered from the cache. */
        sr_t *b = sr_new(url, NULL, err, sizeof(err));
        TH_CHECK(b != NULL);
        if (!b) {
                sr_destroy(a);
                return;
        }
        const char *s1 = NULL, *s2 = NULL, *s3 = NULL;
        TH_CHECK_INT(sr_get_schema(b, id, &s1, err, sizeof(err)), SR_OK);
        TH_CHECK(s1 && json_equal(s1, SCHEMA));
        TH_CHECK_INT(sr_get_schema(b, id, &s2, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(sr_lookup_cb(b, id, &s3, err, sizeof(err)), SR_OK);
        TH_CHECK(s1 == s2 && s2 == s3);
        sr_stats_t st;
        sr_stats(b, &st);
        TH_CHECK_INT(st.http_requests, 1);
        TH_CHECK_INT(st.cache_misses, 1);
        TH_CHECK_INT(st.cache_hits, 2);
        TH_CHECK_INT(st.cached, 1);

        /* Latest version, evolution, look-up without registering. */
        int32_t lid = -1, ver = -1;
        const char *ls = NULL;
        TH_CHECK_INT(sr_get_latest(b, "orders-value", &lid, &ls, &ver, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(lid, id);
        TH_CHECK_INT(ver, 1);
        TH_CHECK(ls == s1); /* same id → the cached string */
        TH_CHECK_INT(sr_register(a, "orders-value", SCHEMA_V2, &id2, err, sizeof(err)), SR_OK);
        TH_CHECK(id2 > id);
        TH_CHECK_INT(sr_get_latest(b, "orders-value", &lid, &ls, &ver, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(lid, id2);
        TH_CHECK_INT(ver, 2);
        TH_CHECK(ls && json_equal(ls, SCHEMA_V2));
        TH_CHECK_INT(sr_lookup_id(b, "orders-value", SCHEMA, &lid, &ver, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(lid, id);
        TH_CHECK_INT(ver, 1);
        /* The same schema under another subject keeps its global id. */
        TH_CHECK_INT(sr_register(a, "other-value", SCHEMA, &again, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(again, id);
        if (th_failed_checks)
                fprintf(stderr, "  last error: %s\n", err);
        sr_destroy(a);
        sr_destroy(b);
}

static void test_subject_is_escaped(void) {
        char err[512] = "";
        sr_t *sr = sr_new(shared_url(), NULL, err, sizeof(err));
        if (!sr) {
                TH_CHECK(sr != NULL);
                return;
        }
        const char *subject = "odd topic/%?#\xc3\xa4-value";
        int32_t id = -1, lid = -2;
        TH_CHECK_INT(sr_register(sr, subject, SCHEMA, &id, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(sr_get_latest(sr, subject, &lid, NULL, NULL, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(lid, id);
        sr_destroy(sr);
}

static void test_not_found(void) {
        char err[512] = "", want[128];
        sr_t *sr = sr_new(shared_url(), NULL, err, sizeof(err));
        if (!sr) {
                TH_CHECK(sr != NULL);
                return;
        }
        const char *s = NULL;
        TH_CHECK_INT(sr_get_schema(sr, 99999, &s, err, sizeof(err)), SR_ERR_NOT_FOUND);
        snprintf(want, sizeof(want), "GET %s/schemas/ids/99999", shared_url());
        TH_CHECK_HAS(err, want);
        TH_CHECK_HAS(err, "HTTP 404");
        TH_CHECK_HAS(err, "error_code 40403");
        TH_CHECK_HAS(err, "not found");

        int32_t id;
        TH_CHECK_INT(sr_get_latest(sr, "no-such-subject-value", &id, &s, NULL, err, sizeof(err)),
                     SR_ERR_NOT_FOUND);
        TH_CHECK_HAS(err, "error_code 40401");
        TH_CHECK_HAS(err, "/subjects/no-such-subject-value/versions/latest");
        TH_CHECK_INT(sr_register(sr, "nf-value", SCHEMA, &id, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(sr_lookup_id(sr, "nf-value", SCHEMA_V2, &id, NULL, err, sizeof(err)),
                     SR_ERR_NOT_FOUND);
        TH_CHECK_HAS(err, "error_code 40403");
        TH_CHECK_INT(sr_get_schema(sr, -7, &s, err, sizeof(err)), SR_ERR_NOT_FOUND);
        TH_CHECK_HAS(err, "-7");

        /* Failures are not cached: only the schema registered above is. */
        sr_stats_t st;
        sr_stats(sr, &st);
        TH_CHECK_INT(st.cached, 1);
        TH_CHECK(!sr_err_retriable(SR_ERR_NOT_FOUND));
        sr_destroy(sr);
}

static void test_rejected_schema(void) {
        char err[512] = "";
        sr_t *sr = sr_new(shared_url(), NULL, err, sizeof(err));
        if (!sr) {
                TH_CHECK(sr != NULL);
                return;
        }
        int32_t id = -1;
        TH_CHECK_INT(sr_register(sr, "bad-value", "{\"type\":\"record\",\"name\":\"x\"}", &id, err,
                                 sizeof(err)),
                     SR_ERR_REJECTED);
        TH_CHECK_HAS(err, "POST ");
        TH_CHECK_HAS(err, "/subjects/bad-value/versions");
        TH_CHECK_HAS(err, "HTTP 422");
        TH_CHECK_HAS(err, "error_code 42201");
        TH_CHECK_INT(id, -1);
        TH_CHECK_INT(sr_register(sr, "", SCHEMA, &id, err, sizeof(err)), SR_ERR_REJECTED);
        TH_CHECK_HAS(err, "empty subject");
        sr_destroy(sr);
}

/* A schema of another type registered behind the client's back (with
 * libcurl directly) is refused on fetch: the decoders read Avro only. */
static void test_non_avro_schema_refused(void) {
        char err[512] = "", url[128];
        snprintf(url, sizeof(url), "%s/subjects/json-value/versions", shared_url());
        CURL *c = curl_easy_init();
        struct curl_slist *h =
                curl_slist_append(NULL, "Content-Type: application/vnd.schemaregistry.v1+json");
        FILE *devnull = fopen("/dev/null", "w");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                         "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"type\\\":\\\"object\\\"}\"}");
        TH_CHECK_INT(curl_easy_perform(c), CURLE_OK);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        fclose(devnull);

        sr_t *sr = sr_new(shared_url(), NULL, err, sizeof(err));
        if (!sr) {
                TH_CHECK(sr != NULL);
                return;
        }
        int32_t id = -1;
        const char *s = NULL;
        TH_CHECK_INT(sr_get_latest(sr, "json-value", &id, &s, NULL, err, sizeof(err)),
                     SR_ERR_PROTOCOL);
        TH_CHECK_HAS(err, "type JSON");
        TH_CHECK_HAS(err, "Avro only");
        sr_destroy(sr);
}

static void test_unreachable(void) {
        char err[512] = "", url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
        sr_t *sr = sr_new(url, NULL, err, sizeof(err));
        if (!sr) {
                TH_CHECK(sr != NULL);
                return;
        }
        sr_set_retries(sr, 0);
        const char *s = NULL;
        int rc = sr_get_schema(sr, 1, &s, err, sizeof(err));
        TH_CHECK_INT(rc, SR_ERR_TRANSPORT);
        TH_CHECK(sr_err_retriable(rc));
        TH_CHECK_HAS(err, url);
        TH_CHECK_HAS(err, "/schemas/ids/1");
        TH_CHECK_HAS(err, "onnect");
        TH_CHECK(s == NULL);

        /* Retries of transport errors, and the count in the message. */
        sr_set_retries(sr, 2);
        double t0 = now_s();
        int32_t id;
        TH_CHECK_INT(sr_register(sr, "x-value", SCHEMA, &id, err, sizeof(err)), SR_ERR_TRANSPORT);
        TH_CHECK_HAS(err, "(3 attempts)");
        TH_CHECK(now_s() - t0 >= 0.29); /* backoff 100 ms + 200 ms */
        sr_stats_t st;
        sr_stats(sr, &st);
        TH_CHECK_INT(st.http_requests, 4);
        TH_CHECK_INT(st.http_errors, 4);
        sr_destroy(sr);
}

static void test_timeout(void) {
        /* Accepts connections (the kernel's backlog does) but never answers. */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        TH_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
        TH_CHECK(listen(fd, 8) == 0);
        getsockname(fd, (struct sockaddr *)&a, &len);
        char err[512] = "", url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
        sr_t *sr = sr_new(url, NULL, err, sizeof(err));
        if (sr) {
                sr_set_retries(sr, 0);
                sr_set_timeouts(sr, 1000, 300);
                const char *s = NULL;
                double t0 = now_s();
                TH_CHECK_INT(sr_get_schema(sr, 1, &s, err, sizeof(err)), SR_ERR_TRANSPORT);
                double took = now_s() - t0;
                TH_CHECK(took >= 0.25 && took < 3.0);
                TH_CHECK_HAS(err, "Timeout");
                TH_CHECK_HAS(err, url);
                sr_destroy(sr);
        }
        TH_CHECK(sr != NULL);
        close(fd);
}

static void test_cache_needs_no_network(void) {
        stub_t st = {0};
        if (stub_start(&st, NULL) != 0) {
                TH_CHECK(!"registry stub started");
                return;
        }
        char err[512] = "";
        sr_t *w = sr_new(st.url, NULL, err, sizeof(err));
        sr_t *r = sr_new(st.url, NULL, err, sizeof(err));
        if (!w || !r) {
                TH_CHECK(w && r);
                sr_destroy(w);
                sr_destroy(r);
                stub_stop(&st);
                return;
        }
        int32_t id = -1;
        const char *first = NULL, *again = NULL;
        TH_CHECK_INT(sr_register(w, "c-value", SCHEMA, &id, err, sizeof(err)), SR_OK);
        TH_CHECK_INT(sr_get_schema(r, id, &first, err, sizeof(err)), SR_OK);

        stub_stop(&st); /* the registry is gone */

        sr_stats_t before, after;
        sr_stats(r, &before);
        TH_CHECK_INT(sr_lookup_cb(r, id, &again, err, sizeof(err)), SR_OK);
        TH_CHECK(again == first);
        sr_stats(r, &after);
        TH_CHECK_INT(after.http_requests, before.http_requests);
        TH_CHECK_INT(after.cache_hits, before.cache_hits + 1);
        /* ...whereas an id not cached needs the registry and says so. */
        sr_set_retries(r, 0);
        TH_CHECK_INT(sr_get_schema(r, id + 100, &again, err, sizeof(err)), SR_ERR_TRANSPORT);
        TH_CHECK_HAS(err, st.url);
        sr_destroy(w);
        sr_destroy(r);
}

static void test_basic_auth(void) {
        stub_t st = {0};
        if (stub_start(&st, "weir:s3cret") != 0) {
                TH_CHECK(!"registry stub started");
                return;
        }
        char err[512] = "", url[128];
        int32_t id = -1;

        sr_t *none = sr_new(st.url, NULL, err, sizeof(err));
        TH_CHECK_INT(sr_register(none, "a-value", SCHEMA, &id, err, sizeof(err)), SR_ERR_REJECTED);
        TH_CHECK_HAS(err, "HTTP 401");
        TH_CHECK_HAS(err, "Unauthorized");
        sr_destroy(none);

        sr_t *wrong = sr_new(st.url, "weir:wrong-pw", err, sizeof(err));
        TH_CHECK_INT(sr_register(wrong, "a-value", SCHEMA, &id, err, sizeof(err)), SR_ERR_REJECTED);
        TH_CHECK_HAS(err, "HTTP 401");
        TH_CHECK(strstr(err, "wrong-pw") == NULL);
        sr_destroy(wrong);

        sr_t *ok = sr_new(st.url, "weir:s3cret", err, sizeof(err));
        TH_CHECK_INT(sr_register(ok, "a-value", SCHEMA, &id, err, sizeof(err)), SR_OK);
        sr_destroy(ok);

        /* Credentials in the URL, kept out of sr_url() and error messages. */
        snprintf(url, sizeof(url), "http://weir:s3cret@127.0.0.1:%d/", st.port);
        sr_t *inurl = sr_new(url, NULL, err, sizeof(err));
        const char *s = NULL;
        TH_CHECK(inurl != NULL);
        if (inurl) {
                TH_CHECK_STR(sr_url(inurl), st.url);
                TH_CHECK_INT(sr_get_schema(inurl, id, &s, err, sizeof(err)), SR_OK);
                TH_CHECK_INT(sr_get_schema(inurl, id + 50, &s, err, sizeof(err)), SR_ERR_NOT_FOUND);
                TH_CHECK(strstr(err, "s3cret") == NULL);
                sr_destroy(inurl);
        }
        stub_stop(&st);
}

/* Decoder threads: concurrent misses of the same ids are fetched once each,
 * and every thread gets the same stable pointer. */
#define NTHREADS 4
#define NIDS     3
#define NLOOKUPS 3000

typedef struct {
        sr_t *sr;
        const int32_t *ids;
        int start;
        long bad;
        const char *seen[NIDS];
} thr_t;

static void *thr_main(void *arg) {
        thr_t *t = arg;
        char err[256];
        for (int i = 0; i < NLOOKUPS; i++) {
                int k = (i + t->start) % NIDS;
                const char *s = NULL;
                if (sr_lookup_cb(t->sr, t->ids[k], &s, err, sizeof(err)) != SR_OK || !s)
                        t->bad++;
                else if (!t->seen[k])
                        t->seen[k] = s;
                else if (t->seen[k] != s)
                        t->bad++;
        }
        return NULL;
}

static void test_threads_single_flight(void) {
        char err[512] = "";
        const char *schemas[NIDS] = {SCHEMA, SCHEMA_V2,
                                     "{\"type\":\"record\",\"name\":\"T3\",\"fields\":[]}"};
        int32_t ids[NIDS] = {0};
        sr_t *w = sr_new(shared_url(), NULL, err, sizeof(err));
        sr_t *r = sr_new(shared_url(), NULL, err, sizeof(err));
        if (!w || !r) {
                TH_CHECK(w && r);
                sr_destroy(w);
                sr_destroy(r);
                return;
        }
        for (int k = 0; k < NIDS; k++)
                TH_CHECK_INT(sr_register(w, "thr-value", schemas[k], &ids[k], err, sizeof(err)),
                             SR_OK);
        /* r's cache is empty: the threads race to miss on every id. */
        pthread_t tid[NTHREADS];
        thr_t t[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
                t[i] = (thr_t){.sr = r, .ids = ids, .start = i};
                pthread_create(&tid[i], NULL, thr_main, &t[i]);
        }
        for (int i = 0; i < NTHREADS; i++)
                pthread_join(tid[i], NULL);
        for (int k = 0; k < NIDS; k++) {
                const char *s = NULL;
                TH_CHECK_INT(sr_get_schema(r, ids[k], &s, err, sizeof(err)), SR_OK);
                TH_CHECK(s && json_equal(s, schemas[k]));
                for (int i = 0; i < NTHREADS; i++)
                        TH_CHECK(t[i].seen[k] == s);
        }
        for (int i = 0; i < NTHREADS; i++)
                TH_CHECK_INT(t[i].bad, 0);
        sr_stats_t st;
        sr_stats(r, &st);
        TH_CHECK_INT(st.cache_misses, NIDS);
        TH_CHECK_INT(st.http_requests, NIDS);
        TH_CHECK_INT(st.cache_hits + st.cache_misses, NTHREADS * NLOOKUPS + NIDS);
        sr_destroy(w);
        sr_destroy(r);
}

TH_MAIN("sr", TH_T(test_subject_naming), TH_T(test_bad_config), TH_T(test_register_and_get),
        TH_T(test_subject_is_escaped), TH_T(test_not_found), TH_T(test_rejected_schema),
        TH_T(test_non_avro_schema_refused), TH_T(test_unreachable), TH_T(test_timeout),
        TH_T(test_cache_needs_no_network), TH_T(test_basic_auth), TH_T(test_threads_single_flight))
