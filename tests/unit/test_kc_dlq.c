/* Unit tests for kc_dlq: every DLQ header is there with its value, and the
 * source record's own headers (traceparent) come first, unchanged. */
#include "kc_dlq.h"
#include "th.h"

#include <string.h>

static const char *hdr(const rd_kafka_headers_t *h, const char *name) {
        static char buf[256];
        const void *v;
        size_t n;
        if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return "(absent)";
        if (n >= sizeof(buf))
                n = sizeof(buf) - 1;
        memcpy(buf, v, n);
        buf[n] = 0;
        return buf;
}

static void test_headers(void) {
        rd_kafka_headers_t *in = rd_kafka_headers_new(2);
        rd_kafka_header_add(in, "traceparent", -1,
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", -1);
        kc_dlq_src_t src = {.headers = in,
                            .topic = "traffic.readings",
                            .partition = 7,
                            .offset = 123456789012LL,
                            .timestamp_ms = 1700000000000LL};
        rd_kafka_headers_t *h = kc_dlq_headers("compute", &src, "late", "3 s after close");
        TH_CHECK(h != NULL);
        TH_CHECK_STR(hdr(h, "traceparent"),
                     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        TH_CHECK_STR(hdr(h, "weir.stage"), "compute");
        TH_CHECK_STR(hdr(h, "weir.error.class"), "late");
        TH_CHECK_STR(hdr(h, "weir.error.reason"), "3 s after close");
        TH_CHECK_STR(hdr(h, "weir.source.topic"), "traffic.readings");
        TH_CHECK_STR(hdr(h, "weir.source.partition"), "7");
        TH_CHECK_STR(hdr(h, "weir.source.offset"), "123456789012");
        TH_CHECK_STR(hdr(h, "weir.source.timestamp"), "1700000000000");
        TH_CHECK_INT(rd_kafka_header_cnt(h), 8);
        rd_kafka_headers_destroy(h);
        rd_kafka_headers_destroy(in);
}

static void test_no_source_headers(void) {
        kc_dlq_src_t src = {.topic = NULL, .partition = -1, .offset = -1, .timestamp_ms = -1};
        rd_kafka_headers_t *h = kc_dlq_headers("sink", &src, "rejected", NULL);
        TH_CHECK_STR(hdr(h, "weir.source.topic"), "");
        TH_CHECK_STR(hdr(h, "weir.error.reason"), "");
        TH_CHECK_STR(hdr(h, "weir.source.timestamp"), "(absent)");
        TH_CHECK_INT(rd_kafka_header_cnt(h), 6);
        rd_kafka_headers_destroy(h);
}

TH_MAIN("kc_dlq", TH_T(test_headers), TH_T(test_no_source_headers))
