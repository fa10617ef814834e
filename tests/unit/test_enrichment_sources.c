/* Unit tests for the enrichment sources' parsing: JSON and CSV reference
 * files (en_file) and the Redis source's configuration (en_redis_new). */
#include <stdlib.h>

#include "../../services/enrichment/en_file.h"
#include "../../services/enrichment/en_redis.h"
#include "th.h"

static spec_source_t src_of(spec_file_format_t fmt, char **keep, size_t nkeep) {
        spec_source_t s;
        memset(&s, 0, sizeof(s));
        s.name = "ref";
        s.type = SPEC_SOURCE_FILE;
        s.file.format = fmt;
        s.file.key = "id";
        s.attributes = keep;
        s.nattributes = nkeep;
        return s;
}

static const char *attr(const en_table_t *t, const char *key, const char *name) {
        const en_entry_t *e = en_table_get(t, key, strlen(key));
        for (size_t i = 0; e && i < e->nattrs; i++)
                if (!strcmp(e->attrs[i].name, name))
                        return e->attrs[i].value;
        return NULL;
}

static long parse(const spec_source_t *s, const char *text, en_table_t *t, char *err,
                  size_t errsz) {
        en_table_init(t);
        return en_file_parse(s, text, strlen(text), "ref.data", t, err, errsz);
}

static void test_json_values_become_strings(void) {
        spec_source_t s = src_of(SPEC_FILE_JSON, NULL, 0);
        en_table_t t;
        char err[256];
        const char *doc = "[{\"id\":\"a\",\"name\":\"Main St\",\"lat\":52.52,\"n\":7,\"big\":1e300,"
                          "\"ok\":true,\"none\":null,\"tags\":[1,\"x\"],\"o\":{\"k\":1}},"
                          "{\"id\":5,\"name\":\"numeric key\"},"
                          "{\"id\":\"a\",\"name\":\"again\"}]";
        TH_CHECK_INT(parse(&s, doc, &t, err, sizeof(err)), 3);
        TH_CHECK_INT(t.map.count, 2);
        /* The later row with the same key wins. */
        TH_CHECK_STR(attr(&t, "a", "name"), "again");
        TH_CHECK_STR(attr(&t, "5", "name"), "numeric key");
        en_table_fini(&t);

        doc = "[{\"id\":\"a\",\"lat\":52.52,\"n\":7,\"x\":0.1,\"big\":1e300,\"ok\":true,"
              "\"none\":null,\"tags\":[1,\"x\"],\"o\":{\"k\":1}}]";
        TH_CHECK_INT(parse(&s, doc, &t, err, sizeof(err)), 1);
        TH_CHECK_STR(attr(&t, "a", "lat"), "52.52");
        TH_CHECK_STR(attr(&t, "a", "n"), "7");
        TH_CHECK_STR(attr(&t, "a", "x"), "0.1");
        TH_CHECK_STR(attr(&t, "a", "big"), "1e+300");
        TH_CHECK_STR(attr(&t, "a", "ok"), "true");
        TH_CHECK(attr(&t, "a", "none") == NULL);
        TH_CHECK_STR(attr(&t, "a", "tags"), "[1,\"x\"]");
        TH_CHECK_STR(attr(&t, "a", "o"), "{\"k\":1}");
        TH_CHECK(attr(&t, "a", "id") == NULL); /* the key is not an attribute */
        en_table_fini(&t);

        char *keep[] = {"lat"};
        s = src_of(SPEC_FILE_JSON, keep, 1);
        TH_CHECK_INT(parse(&s, doc, &t, err, sizeof(err)), 1);
        TH_CHECK_INT(en_table_get(&t, "a", 1)->nattrs, 1);
        en_table_fini(&t);
}

static void test_json_errors_name_the_row(void) {
        spec_source_t s = src_of(SPEC_FILE_JSON, NULL, 0);
        en_table_t t;
        char err[256];
        TH_CHECK(parse(&s, "{\"id\":1}", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "expected a JSON array");
        en_table_fini(&t);
        TH_CHECK(parse(&s, "[{\"id\":1},{\"name\":\"x\"}]", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "ref.data: [1]: no \"id\" member");
        en_table_fini(&t);
        TH_CHECK(parse(&s, "[{\"id\":1},", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "not valid JSON");
        en_table_fini(&t);
        TH_CHECK(parse(&s, "[3]", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "[0]: expected an object");
        en_table_fini(&t);
}

static void test_csv_rfc4180(void) {
        spec_source_t s = src_of(SPEC_FILE_CSV, NULL, 0);
        en_table_t t;
        char err[256];
        const char *doc = "name,id,note\r\n"
                          "\"Main St, North\",a,\"say \"\"hi\"\"\"\r\n"
                          "\n"
                          "Second,b,\"two\nlines\"\n"
                          "Empty,c,\n"
                          "NoNewline,d,x";
        TH_CHECK_INT(parse(&s, doc, &t, err, sizeof(err)), 5); /* blank line counted, skipped */
        TH_CHECK_INT(t.map.count, 4);
        TH_CHECK_STR(attr(&t, "a", "name"), "Main St, North");
        TH_CHECK_STR(attr(&t, "a", "note"), "say \"hi\"");
        TH_CHECK_STR(attr(&t, "b", "note"), "two\nlines");
        TH_CHECK_STR(attr(&t, "c", "note"), "");
        TH_CHECK_STR(attr(&t, "d", "note"), "x");
        TH_CHECK(attr(&t, "a", "id") == NULL);
        en_table_fini(&t);
}

static void test_csv_errors(void) {
        spec_source_t s = src_of(SPEC_FILE_CSV, NULL, 0);
        en_table_t t;
        char err[256];
        TH_CHECK(parse(&s, "name,zone\nx,y\n", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "no column \"id\"");
        en_table_fini(&t);
        TH_CHECK(parse(&s, "id,name\na,b,c\n", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "record 1: 3 fields, the header has 2");
        en_table_fini(&t);
        TH_CHECK(parse(&s, "id,name\na,\"open\n", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "unterminated quote");
        en_table_fini(&t);
        TH_CHECK(parse(&s, "", &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "header row");
        en_table_fini(&t);
}

static void test_file_load_missing_file(void) {
        spec_source_t s = src_of(SPEC_FILE_JSON, NULL, 0);
        s.file.path = "/nonexistent/ref.json";
        en_table_t t;
        char err[256];
        en_table_init(&t);
        TH_CHECK(en_file_load(&s, &t, err, sizeof(err)) == -1);
        TH_CHECK_HAS(err, "source \"ref\": /nonexistent/ref.json");
        en_table_fini(&t);
}

static void test_redis_conf(void) {
        spec_source_t s;
        memset(&s, 0, sizeof(s));
        s.name = "r";
        s.type = SPEC_SOURCE_REDIS;
        s.redis.key_pattern = "site:{key}";
        s.redis.ttl_ms = 1000;
        s.redis.timeout_ms = 100;
        s.redis.cache_size = 10;
        char err[256] = "";
        s.redis.url = "redis://127.0.0.1:1/2";
        en_redis_t *r = en_redis_new(&s, err, sizeof(err));
        if (!r) {
                TH_CHECK(!"en_redis_new failed");
                return;
        }
        /* Nothing listens on port 1: a look-up is an error, nothing cached. */
        const char *keys[] = {"a", "a"};
        size_t lens[] = {1, 1};
        const en_entry_t *out[2];
        uint8_t res[2];
        double rs;
        en_redis_lookup(r, keys, lens, 2, out, res, &rs);
        TH_CHECK(res[0] == EN_REDIS_ERROR && res[1] == EN_REDIS_ERROR);
        TH_CHECK(out[0] == NULL);
        TH_CHECK(en_redis_staleness_s(r) >= 0);
        en_redis_destroy(r);

        s.redis.url = "rediss://host:6380";
        TH_CHECK(en_redis_new(&s, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "not supported");
        s.redis.url = "redis://:99999";
        TH_CHECK(en_redis_new(&s, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "no host");
        s.redis.url = "redis://h:99999";
        TH_CHECK(en_redis_new(&s, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "bad port");
        s.redis.url = "redis://user@h";
        s.redis.password_env = "WEIR_TEST_UNSET_PASSWORD_VAR";
        unsetenv("WEIR_TEST_UNSET_PASSWORD_VAR");
        TH_CHECK(en_redis_new(&s, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "WEIR_TEST_UNSET_PASSWORD_VAR is not set");
        setenv("WEIR_TEST_UNSET_PASSWORD_VAR", "pw", 1);
        r = en_redis_new(&s, err, sizeof(err));
        TH_CHECK(r != NULL);
        en_redis_destroy(r);
        /* <password_env>_FILE: never both; a file that is not there is
         * named with its variable. */
        setenv("WEIR_TEST_UNSET_PASSWORD_VAR_FILE", "/nonexistent/redis-password", 1);
        TH_CHECK(en_redis_new(&s, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "WEIR_TEST_UNSET_PASSWORD_VAR and WEIR_TEST_UNSET_PASSWORD_VAR_FILE "
                          "are both set");
        unsetenv("WEIR_TEST_UNSET_PASSWORD_VAR");
        TH_CHECK(en_redis_new(&s, err, sizeof(err)) == NULL);
        TH_CHECK_HAS(err, "WEIR_TEST_UNSET_PASSWORD_VAR_FILE=\"/nonexistent/redis-password\": "
                          "cannot read the file");
        unsetenv("WEIR_TEST_UNSET_PASSWORD_VAR_FILE");
}

TH_MAIN("enrichment_sources", TH_T(test_json_values_become_strings),
        TH_T(test_json_errors_name_the_row), TH_T(test_csv_rfc4180), TH_T(test_csv_errors),
        TH_T(test_file_load_missing_file), TH_T(test_redis_conf))
