/* Unit tests for ig_conf: defaults, parsed values, and every bad value
 * stopping start-up with a message that names its variable. */
#include <stdlib.h>

#include "../../services/ingress/ig_conf.h"
#include "th.h"

static const char *VARS[] = {"HTTP_BIND",
                             "HTTP_PORT",
                             "INGRESS_THREADS",
                             "INGRESS_MAX_BODY_BYTES",
                             "INGRESS_MAX_RECORDS",
                             "INGRESS_MAX_CONNECTIONS",
                             "INGRESS_MAX_CONNECTIONS_PER_IP",
                             "INGRESS_INFLIGHT_BYTES",
                             "INGRESS_IDLE_TIMEOUT",
                             "INGRESS_REQUEST_TIMEOUT",
                             "INGRESS_PRODUCE_TIMEOUT",
                             "INGRESS_SHUTDOWN_GRACE",
                             "INGRESS_RETRY_AFTER",
                             "INGRESS_TOKENS_FILE",
                             "INGRESS_TOPICS"};

static void clear(void) {
        for (size_t i = 0; i < sizeof(VARS) / sizeof(VARS[0]); i++)
                unsetenv(VARS[i]);
}

static void test_defaults(void) {
        ig_conf_t c;
        char err[256] = "";
        clear();
        TH_CHECK_INT(ig_conf_load(&c, err, sizeof(err)), 0);
        TH_CHECK_STR(c.bind, "0.0.0.0");
        TH_CHECK_INT(c.port, 8080);
        TH_CHECK_INT(c.max_body, 16 << 20);
        TH_CHECK_INT(c.max_records, 10000);
        TH_CHECK_INT(c.inflight_bytes, 64 << 20);
        TH_CHECK_INT(c.produce_timeout_ms, 30000);
        TH_CHECK_INT(c.retry_after_s, 1);
        TH_CHECK(c.tokens_file == NULL && c.topics == NULL);
}

static void test_values(void) {
        ig_conf_t c;
        char err[256] = "";
        clear();
        setenv("HTTP_PORT", "0", 1);
        setenv("INGRESS_MAX_BODY_BYTES", "64KiB", 1);
        setenv("INGRESS_REQUEST_TIMEOUT", "1500ms", 1);
        setenv("INGRESS_RETRY_AFTER", "2500ms", 1);
        setenv("INGRESS_TOPICS", "a=X.Y", 1);
        TH_CHECK_INT(ig_conf_load(&c, err, sizeof(err)), 0);
        TH_CHECK_INT(c.port, 0);
        TH_CHECK_INT(c.max_body, 65536);
        TH_CHECK_INT(c.request_timeout_ms, 1500);
        TH_CHECK_INT(c.retry_after_s, 3); /* rounded up to whole seconds */
        TH_CHECK_STR(c.topics, "a=X.Y");
        clear();
}

static void test_bad_values_named(void) {
        static const char *bad[][2] = {
                {"HTTP_PORT", "70000"},
                {"INGRESS_THREADS", "0"},
                {"INGRESS_MAX_BODY_BYTES", "huge"},
                {"INGRESS_MAX_RECORDS", "-1"},
                {"INGRESS_MAX_CONNECTIONS", "x"},
                {"INGRESS_INFLIGHT_BYTES", "0"},
                {"INGRESS_IDLE_TIMEOUT", "10ms"},
                {"INGRESS_PRODUCE_TIMEOUT", "soon"},
                {"INGRESS_SHUTDOWN_GRACE", "-5s"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ig_conf_t c;
                char err[256] = "";
                clear();
                setenv(bad[i][0], bad[i][1], 1);
                TH_CHECK_INT(ig_conf_load(&c, err, sizeof(err)), -1);
                TH_CHECK_HAS(err, bad[i][0]);
        }
        clear();
}

TH_MAIN("test_ingress_conf", TH_T(test_defaults), TH_T(test_values), TH_T(test_bad_values_named))
