/* Unit tests for the changelog's topic configs (cl_topic_conf_init):
 * compute's defaults, CHANGELOG_TOPIC_CONFIG's overrides over them, and
 * malformed overrides refused with the entry named.  The broker's answer to
 * the configs is test_compute.py's (DescribeConfigs on the created topic). */
#include <string.h>

#include "../../services/compute/cl.h"
#include "th.h"

/* The value of `name` in tc, or NULL. */
static const char *get(const cl_topic_conf_t *tc, const char *name) {
        for (int i = 0; i < tc->n; i++)
                if (!strcmp(tc->kv[2 * i], name))
                        return tc->kv[2 * i + 1];
        return NULL;
}

static void test_defaults(void) {
        cl_topic_conf_t tc;
        char err[256] = "";
        TH_CHECK(cl_topic_conf_init(&tc, NULL, err, sizeof(err)) == 0);
        TH_CHECK_INT(tc.n, 5);
        TH_CHECK_STR(get(&tc, "cleanup.policy"), "compact");
        TH_CHECK_STR(get(&tc, "segment.ms"), "10000");
        TH_CHECK_STR(get(&tc, "min.cleanable.dirty.ratio"), "0.1");
        TH_CHECK_STR(get(&tc, "delete.retention.ms"), "3600000");
        TH_CHECK_STR(get(&tc, "min.compaction.lag.ms"), "0");
        TH_CHECK(tc.kv[2 * tc.n] == NULL);
        TH_CHECK(cl_topic_conf_init(&tc, "", err, sizeof(err)) == 0);
        TH_CHECK_INT(tc.n, 5);
}

static void test_overrides(void) {
        cl_topic_conf_t tc;
        char err[256] = "";
        TH_CHECK(cl_topic_conf_init(&tc, " segment.ms = 1000 ,,max.message.bytes=2097152,", err,
                                    sizeof(err)) == 0);
        TH_CHECK_INT(tc.n, 6);
        TH_CHECK_STR(get(&tc, "segment.ms"), "1000");
        TH_CHECK_STR(get(&tc, "max.message.bytes"), "2097152");
        TH_CHECK_STR(get(&tc, "delete.retention.ms"), "3600000");
        TH_CHECK(tc.kv[2 * tc.n] == NULL);
        /* the last of two wins, as in the environment's own order */
        TH_CHECK(cl_topic_conf_init(&tc, "segment.ms=1,segment.ms=2", err, sizeof(err)) == 0);
        TH_CHECK_STR(get(&tc, "segment.ms"), "2");
        TH_CHECK_INT(tc.n, 5);
}

static void test_malformed(void) {
        cl_topic_conf_t tc;
        const char *bad[] = {"segment.ms", "=5", "segment.ms=", "a=1,b", " = "};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char err[256] = "";
                TH_CHECK(cl_topic_conf_init(&tc, bad[i], err, sizeof(err)) == -1);
                TH_CHECK_HAS(err, "CHANGELOG_TOPIC_CONFIG");
                TH_CHECK_HAS(err, "not name=value");
        }
        char err[256] = "", many[1024] = "";
        for (int i = 0; i < 40; i++) {
                size_t n = strlen(many);
                snprintf(many + n, sizeof(many) - n, "k%d=1,", i);
        }
        TH_CHECK(cl_topic_conf_init(&tc, many, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "more than 32");
        char longs[3000];
        memset(longs, 'a', sizeof(longs) - 1);
        longs[sizeof(longs) - 1] = '\0';
        TH_CHECK(cl_topic_conf_init(&tc, longs, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "longer than");
}

TH_MAIN("computesvc_cl", TH_T(test_defaults), TH_T(test_overrides), TH_T(test_malformed))
