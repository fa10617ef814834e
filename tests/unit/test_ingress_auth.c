/* Unit tests for ig_auth (bearer tokens from a file, constant-time check)
 * and ig_trace (W3C traceparent accepted or generated). */
#include <stdlib.h>

#include "../../services/ingress/ig_auth.h"
#include "../../services/ingress/ig_trace.h"
#include "th.h"

static ig_auth_t *tokens(const char *text, char *err, size_t size) {
        return ig_auth_parse(text, strlen(text), "tokens", err, size);
}

static void test_tokens_file_format(void) {
        char err[256] = "";
        ig_auth_t *a = tokens("# ops team\n  alpha-123  \n\nbeta\r\n", err, sizeof(err));
        TH_CHECK(a != NULL);
        TH_CHECK_INT(ig_auth_count(a), 2);
        TH_CHECK(ig_auth_check(a, "Bearer alpha-123"));
        TH_CHECK(ig_auth_check(a, "bearer beta"));
        TH_CHECK(ig_auth_check(a, "Bearer  beta "));
        ig_auth_destroy(a);
}

static void test_wrong_tokens_refused(void) {
        char err[256] = "";
        ig_auth_t *a = tokens("alpha-123\n", err, sizeof(err));
        TH_CHECK(!ig_auth_check(a, NULL));
        TH_CHECK(!ig_auth_check(a, ""));
        TH_CHECK(!ig_auth_check(a, "Bearer "));
        TH_CHECK(!ig_auth_check(a, "Bearer alpha-12"));   /* prefix */
        TH_CHECK(!ig_auth_check(a, "Bearer alpha-1234")); /* longer */
        TH_CHECK(!ig_auth_check(a, "Bearer ALPHA-123"));  /* case matters */
        TH_CHECK(!ig_auth_check(a, "Basic alpha-123"));
        TH_CHECK(!ig_auth_check(a, "alpha-123"));
        char longtok[400];
        memset(longtok, 'a', sizeof(longtok) - 1);
        longtok[sizeof(longtok) - 1] = 0;
        memcpy(longtok, "Bearer ", 7);
        TH_CHECK(!ig_auth_check(a, longtok));
        TH_CHECK(!ig_auth_check(NULL, "Bearer alpha-123"));
        ig_auth_destroy(a);
}

static void test_bad_tokens_files(void) {
        char err[256] = "";
        TH_CHECK(tokens("# only a comment\n\n", err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "no tokens");
        char big[400];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        TH_CHECK(tokens(big, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "line 1: token longer than");
        TH_CHECK(tokens("ok\nbad\x01tok\n", err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "line 2");
        TH_CHECK(ig_auth_load("/nonexistent/tokens", err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "INGRESS_TOKENS_FILE=\"/nonexistent/tokens\"");
}

static void test_traceparent_valid(void) {
        TH_CHECK(ig_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        TH_CHECK(ig_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        /* a later version may append fields */
        TH_CHECK(ig_trace_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"));
        TH_CHECK(!ig_trace_valid(NULL));
        TH_CHECK(!ig_trace_valid(""));
        TH_CHECK(!ig_trace_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
        TH_CHECK(!ig_trace_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
        TH_CHECK(!ig_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
        TH_CHECK(!ig_trace_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        TH_CHECK(!ig_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
        TH_CHECK(!ig_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));
        TH_CHECK(!ig_trace_valid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        TH_CHECK(!ig_trace_valid("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
}

static void test_traceparent_take_and_generate(void) {
        char out[IG_TRACEPARENT_LEN + 1];
        const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        TH_CHECK_INT(ig_trace_take(tp, out), 1);
        TH_CHECK_STR(out, tp);
        TH_CHECK_INT(
                ig_trace_take("02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more", out),
                1);
        TH_CHECK_STR(out, tp);
        TH_CHECK_INT(ig_trace_take("garbage", out), 0);
        TH_CHECK(ig_trace_valid(out));
        char other[IG_TRACEPARENT_LEN + 1];
        ig_trace_generate(other);
        TH_CHECK(ig_trace_valid(other));
        TH_CHECK(strcmp(out, other) != 0);
        TH_CHECK_INT(strlen(other), IG_TRACEPARENT_LEN);
}

TH_MAIN("test_ingress_auth", TH_T(test_tokens_file_format), TH_T(test_wrong_tokens_refused),
        TH_T(test_bad_tokens_files), TH_T(test_traceparent_valid),
        TH_T(test_traceparent_take_and_generate))
