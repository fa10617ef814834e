/* Unit tests for log: every line is one parseable JSON object with the
 * expected keys, escaping holds, levels filter, and truncation of a huge
 * message still yields valid JSON. */
#include "log.h"
#include "th.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs fn with stderr redirected to a pipe; returns what it wrote
 * (static buffer, valid until the next call). */
static const char *capture(void (*fn)(void)) {
        static char out[16384];
        int p[2];
        if (pipe(p) != 0)
                return "";
        int saved = dup(STDERR_FILENO);
        dup2(p[1], STDERR_FILENO);
        fn();
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(p[1]);
        ssize_t n = read(p[0], out, sizeof(out) - 1);
        close(p[0]);
        out[n > 0 ? n : 0] = '\0';
        return out;
}

static void emit_info(void) {
        log_info("kafka", "assigned %d partitions of \"%s\"\n\ttab", 3, "t");
}

static void test_line_is_json(void) {
        char err[128];
        unsetenv("LOG_LEVEL");
        TH_CHECK_INT(log_init("compute", err, sizeof(err)), 0);
        const char *s = capture(emit_info);
        TH_CHECK(s[strlen(s) - 1] == '\n');
        cJSON *j = cJSON_Parse(s);
        TH_CHECK(j != NULL);
        TH_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "level")), "info");
        TH_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "service")), "compute");
        TH_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "component")), "kafka");
        TH_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "msg")),
                     "assigned 3 partitions of \"t\"\n\ttab");
        TH_CHECK(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(j, "ts"))) == 24);
        cJSON_Delete(j);
}

static void emit_fields(void) {
        const char *f[] = {"topic", "a\"b", "partition", "7", NULL};
        log_write(LOG_WARN, NULL, f, "x");
}

static void test_fields(void) {
        cJSON *j = cJSON_Parse(capture(emit_fields));
        TH_CHECK(j != NULL);
        TH_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "topic")), "a\"b");
        TH_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "partition")), "7");
        TH_CHECK(cJSON_GetObjectItem(j, "component") == NULL);
        cJSON_Delete(j);
}

static void emit_debug(void) {
        log_debug("x", "hidden");
}

static void test_level_filter(void) {
        char err[128];
        setenv("LOG_LEVEL", "WARN", 1);
        TH_CHECK_INT(log_init("s", err, sizeof(err)), 0);
        TH_CHECK_INT(log_get_level(), LOG_WARN);
        TH_CHECK_STR(capture(emit_debug), "");
        setenv("LOG_LEVEL", "loud", 1);
        TH_CHECK_INT(log_init("s", err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "LOG_LEVEL=\"loud\"");
        TH_CHECK_HAS(err, "debug, info, warn, error");
        unsetenv("LOG_LEVEL");
        log_set_level(LOG_INFO);
}

static void emit_huge(void) {
        static char big[10000];
        memset(big, '"', sizeof(big) - 1);
        log_info("c", "%s", big);
}

static void test_truncation_stays_json(void) {
        const char *s = capture(emit_huge);
        cJSON *j = cJSON_Parse(s);
        TH_CHECK(j != NULL);
        cJSON_Delete(j);
}

static void test_escape_control(void) {
        char buf[32];
        size_t pos = 0;
        log_json_escape(buf, sizeof(buf), &pos, "a\001b");
        TH_CHECK_STR(buf, "a\\u0001b");
        pos = 0;
        log_json_escape(buf, 4, &pos, "abcdef");
        TH_CHECK_STR(buf, "abc");
}

static void emit_secret(void) {
        const char *f[] = {"url", "https://u:Sw0rdfish@registry", "x", "abc", NULL};
        log_write(LOG_WARN, "kafka", f, "auth with Sw0rdfish failed; Sw0rdfishSw0rdfish; abc");
}

static void test_secret_redacted(void) {
        char err[128];
        unsetenv("LOG_LEVEL");
        TH_CHECK_INT(log_init("compute", err, sizeof(err)), 0);
        log_secret_add("Sw0rdfish");
        log_secret_add("abc"); /* too short: would redact ordinary words */
        log_secret_add(NULL);
        const char *s = capture(emit_secret);
        TH_CHECK(!strstr(s, "Sw0rdfish"));
        cJSON *j = cJSON_Parse(s);
        TH_CHECK(j != NULL);
        TH_CHECK_STR(cJSON_GetObjectItem(j, "msg")->valuestring,
                     "auth with [redacted] failed; [redacted][redacted]; abc");
        TH_CHECK_STR(cJSON_GetObjectItem(j, "url")->valuestring, "https://u:[redacted]@registry");
        TH_CHECK_STR(cJSON_GetObjectItem(j, "x")->valuestring, "abc");
        cJSON_Delete(j);
}

TH_MAIN("log", TH_T(test_secret_redacted), TH_T(test_line_is_json), TH_T(test_fields),
        TH_T(test_level_filter), TH_T(test_truncation_stays_json), TH_T(test_escape_control))
