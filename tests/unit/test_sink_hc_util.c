/* Unit tests for the parts of the sink's HTTP client (services/sink/hc.h)
 * that do no I/O: taking INFLUX_URL apart (and the start-up error naming
 * it), Retry-After values, percent-encoding and base64.  The client itself
 * is tested against a loopback server in test_sink_hc.c. */
#include "th.h"

#include <stdlib.h>
#include <time.h>

#include "../../services/sink/hc.h"
#include "../../services/sink/ix.h"
#include "buf.h"

static void test_retry_after_values(void) {
        /* At a fixed time: Sun, 06 Nov 1994 08:49:37 GMT. */
        time_t now = 784111777;
        TH_CHECK_INT(hc_retry_after_ms("120", now), 120000);
        TH_CHECK_INT(hc_retry_after_ms(" 0 ", now), 0);
        TH_CHECK_INT(hc_retry_after_ms("999999999999999999999", now), 86400000);
        TH_CHECK_INT(hc_retry_after_ms("Sun, 06 Nov 1994 08:50:37 GMT", now), 60000);
        TH_CHECK_INT(hc_retry_after_ms("Sunday, 06-Nov-94 08:49:47 GMT", now), 10000);
        TH_CHECK_INT(hc_retry_after_ms("Sun Nov  6 08:49:39 1994", now), 2000);
        TH_CHECK_INT(hc_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", now), 0); /* past */
        TH_CHECK_INT(hc_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT trailing", now), -1);
        TH_CHECK_INT(hc_retry_after_ms("12s", now), -1);
        TH_CHECK_INT(hc_retry_after_ms("-5", now), -1);
        TH_CHECK_INT(hc_retry_after_ms("", now), -1);
}

static void test_urls(void) {
        hc_url_t u;
        char e[256];
        TH_CHECK(hc_url_parse("http://influx:8086", &u, e, sizeof(e)) == 0);
        TH_CHECK_STR(u.host, "influx");
        TH_CHECK_STR(u.port, "8086");
        TH_CHECK_STR(u.path, "");
        TH_CHECK(hc_url_parse("HTTP://db.example/influx/v1//", &u, e, sizeof(e)) == 0);
        TH_CHECK_STR(u.host, "db.example");
        TH_CHECK_STR(u.port, "80");
        TH_CHECK_STR(u.path, "/influx/v1");
        TH_CHECK(hc_url_parse("http://[fe80::1]:9/", &u, e, sizeof(e)) == 0);
        TH_CHECK_STR(u.host, "fe80::1");
        TH_CHECK_STR(u.port, "9");
        TH_CHECK(hc_url_parse("http://h:/", &u, e, sizeof(e)) == 0);
        TH_CHECK_STR(u.port, "80");
        TH_CHECK(hc_url_parse("http://ann:s3cret@h:8086", &u, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "credentials in the URL");
        TH_CHECK(strstr(e, "s3cret") == NULL);
        TH_CHECK(hc_url_parse("http://:8086", &u, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "host");
        TH_CHECK(hc_url_parse("http://h:80x", &u, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "port");
        TH_CHECK(hc_url_parse("http://h:65536", &u, e, sizeof(e)) == -1);
        TH_CHECK(hc_url_parse("http://h:0", &u, e, sizeof(e)) == -1);
        TH_CHECK(hc_url_parse("http://[::1", &u, e, sizeof(e)) == -1);
        TH_CHECK(hc_url_parse("http://[::1]x", &u, e, sizeof(e)) == -1);
        TH_CHECK(hc_url_parse("http://h/p?db=x", &u, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "query");
        TH_CHECK(hc_url_parse("http://h/a b", &u, e, sizeof(e)) == -1);
        TH_CHECK(hc_url_parse("ftp://h", &u, e, sizeof(e)) == -1);
        TH_CHECK(hc_new("http://a:b@h", 1000, 1000, 10, e, sizeof(e)) == NULL);
        /* At start-up the variable is named, the password never shown. */
        ix_conf_t c;
        setenv("INFLUX_URL", "http://weir:pa55word@influx:8086", 1);
        TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_URL: credentials in the URL");
        TH_CHECK(strstr(e, "pa55word") == NULL);
        setenv("INFLUX_URL", "http://influx:99999", 1);
        TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == -1);
        TH_CHECK_HAS(e, "INFLUX_URL: \"http://influx:99999\": the port");
        setenv("INFLUX_URL", "http://influx:8086/", 1);
        TH_CHECK(ix_conf_env(&c, "p", SPEC_PRECISION_MS, e, sizeof(e)) == 0);
        unsetenv("INFLUX_URL");
}

static void test_escape_base64(void) {
        buf_t b = BUF_INIT;
        hc_escape(&b, "my org/b 1&x=~._-Zz9\xc3\xa9");
        buf_nul(&b);
        TH_CHECK_STR(b.data, "my%20org%2Fb%201%26x%3D~._-Zz9%C3%A9");
        const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "ann:pw"};
        const char *out[] = {"",         "Zg==",     "Zm8=",     "Zm9v",
                             "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "YW5uOnB3"};
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                b.len = 0;
                hc_base64(&b, in[i], strlen(in[i]));
                buf_nul(&b);
                TH_CHECK_STR(b.data, out[i]);
        }
        buf_free(&b);
}

TH_MAIN("sink_hc_util", TH_T(test_retry_after_values), TH_T(test_urls), TH_T(test_escape_base64))
