/* Unit tests for cfg: defaults, validation messages (variable, value,
 * expected form), duration and size grammar, KAFKA_* passthrough, secret
 * redaction, and the settings tables (cfg_tab): every type, refusals,
 * defaults, the generated markdown, and every service's table sound. */
#include "../../services/compute/cp_conf.h"
#include "../../services/ingress/ig_conf.h"
#include "../../services/sink/ix.h"
#include "../../services/sink/sk_conf.h"
#include "../../services/sink/ws.h"
#include "cfg.h"
#include "cfg_tab.h"
#include "kc_txn.h"
#include "otel.h"
#include "svc.h"
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[512];

static void test_str(void) {
        const char *v = NULL;
        unsetenv("WEIR_T_STR");
        TH_CHECK_INT(cfg_str("WEIR_T_STR", "dflt", &v, err, sizeof(err)), 0);
        TH_CHECK_STR(v, "dflt");
        setenv("WEIR_T_STR", "", 1);
        TH_CHECK_INT(cfg_str("WEIR_T_STR", "dflt", &v, err, sizeof(err)), 0);
        TH_CHECK_STR(v, "dflt");
        setenv("WEIR_T_STR", "x y", 1);
        TH_CHECK_INT(cfg_str("WEIR_T_STR", "dflt", &v, err, sizeof(err)), 0);
        TH_CHECK_STR(v, "x y");
        unsetenv("WEIR_T_STR");
        TH_CHECK_INT(cfg_str_required("WEIR_T_STR", &v, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_STR is not set: a value is required");
        setenv("WEIR_T_STR", "", 1);
        TH_CHECK_INT(cfg_str_required("WEIR_T_STR", &v, err, sizeof(err)), -1);
        setenv("WEIR_T_STR", "z", 1);
        TH_CHECK_INT(cfg_str_required("WEIR_T_STR", &v, err, sizeof(err)), 0);
        TH_CHECK_STR(v, "z");
        unsetenv("WEIR_T_STR");
}

static void test_int(void) {
        int64_t n = 0;
        unsetenv("ADMIN_PORT");
        TH_CHECK_INT(cfg_int("ADMIN_PORT", 9090, 1, 65535, &n, err, sizeof(err)), 0);
        TH_CHECK_INT(n, 9090);
        setenv("ADMIN_PORT", " 8080 ", 1);
        TH_CHECK_INT(cfg_int("ADMIN_PORT", 9090, 1, 65535, &n, err, sizeof(err)), 0);
        TH_CHECK_INT(n, 8080);
        setenv("ADMIN_PORT", "70000", 1);
        TH_CHECK_INT(cfg_int("ADMIN_PORT", 9090, 1, 65535, &n, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "ADMIN_PORT=\"70000\": expected an integer in 1..65535");
        setenv("ADMIN_PORT", "80x", 1);
        TH_CHECK_INT(cfg_int("ADMIN_PORT", 9090, 1, 65535, &n, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "ADMIN_PORT=\"80x\": expected an integer in 1..65535");
        setenv("ADMIN_PORT", "99999999999999999999", 1);
        TH_CHECK_INT(cfg_int("ADMIN_PORT", 0, INT64_MIN, INT64_MAX, &n, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "ADMIN_PORT=\"99999999999999999999\": expected an integer");
        setenv("ADMIN_PORT", "-5", 1);
        TH_CHECK_INT(cfg_int("ADMIN_PORT", 0, -10, INT64_MAX, &n, err, sizeof(err)), 0);
        TH_CHECK_INT(n, -5);
        unsetenv("ADMIN_PORT");
}

static void test_bool(void) {
        static const char *const t[] = {"true", "TRUE", "1", "yes", "On", NULL};
        static const char *const f[] = {"false", "0", "No", "off", NULL};
        int b = -1;
        for (int i = 0; t[i]; i++) {
                setenv("WEIR_T_B", t[i], 1);
                TH_CHECK_INT(cfg_bool("WEIR_T_B", 0, &b, err, sizeof(err)), 0);
                TH_CHECK_INT(b, 1);
        }
        for (int i = 0; f[i]; i++) {
                setenv("WEIR_T_B", f[i], 1);
                TH_CHECK_INT(cfg_bool("WEIR_T_B", 1, &b, err, sizeof(err)), 0);
                TH_CHECK_INT(b, 0);
        }
        setenv("WEIR_T_B", "maybe", 1);
        TH_CHECK_INT(cfg_bool("WEIR_T_B", 1, &b, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_B=\"maybe\": expected true/false, 1/0, yes/no or on/off");
        unsetenv("WEIR_T_B");
        TH_CHECK_INT(cfg_bool("WEIR_T_B", 1, &b, err, sizeof(err)), 0);
        TH_CHECK_INT(b, 1);
}

static void test_parse_duration(void) {
        static const struct {
                const char *s;
                long long ms; /* -1 = invalid */
        } cases[] = {{"250ms", 250},  {"5s", 5000},     {"2m", 120000},
                     {"1h", 3600000}, {"1d", 86400000}, {"1500", 1500},
                     {" 7s ", 7000},  {"1.5s", 1500},   {"1h30m", 5400000},
                     {"0s", 0},       {"0.25m", 15000}, {"", -1},
                     {"s", -1},       {"5", 5},         {"5x", -1},
                     {"-5s", -1},     {"5S", -1},       {"1.s", -1},
                     {"0.0001s", -1}, {"1h 30m", -1},   {"9999999999999999999h", -1},
                     {"5 s", -1},     {"1ms5", -1}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ms = -7;
                int rc = cfg_parse_duration_ms(cases[i].s, &ms);
                if (cases[i].ms < 0) {
                        if (rc != -1)
                                fprintf(stderr, "  accepted \"%s\"\n", cases[i].s);
                        TH_CHECK_INT(rc, -1);
                } else {
                        if (rc != 0 || ms != cases[i].ms)
                                fprintf(stderr, "  \"%s\"\n", cases[i].s);
                        TH_CHECK_INT(rc, 0);
                        TH_CHECK_INT(ms, cases[i].ms);
                }
        }
        TH_CHECK_INT(cfg_parse_duration_ms(NULL, &(int64_t){0}), -1);
}

static void test_duration_env(void) {
        int64_t ms = 0;
        unsetenv("WEIR_T_D");
        TH_CHECK_INT(cfg_duration_ms("WEIR_T_D", 5000, 1, 3600000, &ms, err, sizeof(err)), 0);
        TH_CHECK_INT(ms, 5000);
        setenv("WEIR_T_D", "2h", 1);
        TH_CHECK_INT(cfg_duration_ms("WEIR_T_D", 5000, 1, 3600000, &ms, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_D=\"2h\": expected a duration in 1ms..1h, like \"250ms\", "
                          "\"5s\", \"2m\" or \"1h\" (a bare number is milliseconds)");
        setenv("WEIR_T_D", "soon", 1);
        TH_CHECK_INT(cfg_duration_ms("WEIR_T_D", 5000, 0, INT64_MAX, &ms, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "WEIR_T_D=\"soon\": expected a duration, like");
        setenv("WEIR_T_D", "90s", 1);
        TH_CHECK_INT(cfg_duration_ms("WEIR_T_D", 5000, 0, INT64_MAX, &ms, err, sizeof(err)), 0);
        TH_CHECK_INT(ms, 90000);
        unsetenv("WEIR_T_D");
}

static void test_size(void) {
        static const struct {
                const char *s;
                long long b;
        } cases[] = {{"512", 512},          {"64KiB", 65536},
                     {"10MiB", 10485760},   {"1GiB", 1073741824LL},
                     {"2kB", 2000},         {"3MB", 3000000},
                     {"1gb", 1000000000LL}, {"1.5KiB", 1536},
                     {"10 MiB", 10485760},  {"7b", 7},
                     {"1TiB", 1LL << 40},   {"1.1b", -1},
                     {"KiB", -1},           {"-1", -1},
                     {"1PiB", -1},          {"9999999999TiB", -1},
                     {"1KiB2", -1}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t b = -7;
                int rc = cfg_parse_size_bytes(cases[i].s, &b);
                if (cases[i].b < 0) {
                        if (rc != -1)
                                fprintf(stderr, "  accepted \"%s\"\n", cases[i].s);
                        TH_CHECK_INT(rc, -1);
                } else {
                        if (rc != 0 || b != cases[i].b)
                                fprintf(stderr, "  \"%s\"\n", cases[i].s);
                        TH_CHECK_INT(rc, 0);
                        TH_CHECK_INT(b, cases[i].b);
                }
        }
        int64_t b = 0;
        setenv("WEIR_T_SZ", "2GiB", 1);
        TH_CHECK_INT(cfg_size_bytes("WEIR_T_SZ", 1024, 1024, 1 << 30, &b, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_SZ=\"2GiB\": expected a size in 1KiB..1GiB, like \"512\", "
                          "\"64KiB\", \"10MiB\" or \"1GiB\"");
        setenv("WEIR_T_SZ", "4MiB", 1);
        TH_CHECK_INT(cfg_size_bytes("WEIR_T_SZ", 1024, 1024, 1 << 30, &b, err, sizeof(err)), 0);
        TH_CHECK_INT(b, 4 << 20);
        unsetenv("WEIR_T_SZ");
}

static void test_enum(void) {
        static const char *const modes[] = {"exactly_once", "at_least_once", NULL};
        int i = -1;
        unsetenv("WEIR_T_E");
        TH_CHECK_INT(cfg_enum("WEIR_T_E", "exactly_once", modes, &i, err, sizeof(err)), 0);
        TH_CHECK_INT(i, 0);
        setenv("WEIR_T_E", "AT_LEAST_ONCE", 1);
        TH_CHECK_INT(cfg_enum("WEIR_T_E", "exactly_once", modes, &i, err, sizeof(err)), 0);
        TH_CHECK_INT(i, 1);
        setenv("WEIR_T_E", "twice", 1);
        TH_CHECK_INT(cfg_enum("WEIR_T_E", "exactly_once", modes, &i, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_E=\"twice\": expected one of exactly_once, at_least_once");
        unsetenv("WEIR_T_E");
        TH_CHECK_INT(cfg_enum("WEIR_T_E", NULL, modes, &i, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_E is not set: expected one of exactly_once, at_least_once");
}

static void test_secret(void) {
        TH_CHECK(cfg_is_secret("KAFKA_SASL_PASSWORD"));
        TH_CHECK(cfg_is_secret("sasl.password"));
        TH_CHECK(cfg_is_secret("ssl.key.password"));
        TH_CHECK(cfg_is_secret("ssl.keystore.password"));
        TH_CHECK(cfg_is_secret("ssl.key.pem"));
        TH_CHECK(cfg_is_secret("sasl.oauthbearer.client.secret"));
        TH_CHECK(cfg_is_secret("sasl.oauthbearer.config"));
        TH_CHECK(cfg_is_secret("INFLUX_TOKEN"));
        TH_CHECK(cfg_is_secret("GCP_CREDENTIALS"));
        TH_CHECK(cfg_is_secret("db_Password"));
        TH_CHECK(!cfg_is_secret("KAFKA_SASL_USERNAME"));
        TH_CHECK(!cfg_is_secret("bootstrap.servers"));
        TH_CHECK(!cfg_is_secret("ssl.certificate.location"));
        TH_CHECK(!cfg_is_secret(NULL));
        TH_CHECK_STR(cfg_redact("REDIS_PASSWORD", "hunter2"), "[redacted]");
        TH_CHECK_STR(cfg_redact("REDIS_HOST", "h"), "h");

        /* A secret's value never reaches a message. */
        int64_t n;
        setenv("WEIR_T_PASSWORD", "hunter2", 1);
        TH_CHECK_INT(cfg_int("WEIR_T_PASSWORD", 0, 0, 10, &n, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_PASSWORD=[redacted]: expected an integer in 0..10");
        unsetenv("WEIR_T_PASSWORD");
}

static void clear_kafka_env(void) {
        for (;;) {
                char name[256] = "";
                for (char **e = environ; e && *e; e++)
                        if (!strncmp(*e, "KAFKA_", 6)) {
                                const char *eq = strchr(*e, '=');
                                snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
                                break;
                        }
                if (!*name)
                        return;
                unsetenv(name);
        }
}

static const char *conf_get(rd_kafka_conf_t *conf, const char *name) {
        static char buf[512];
        size_t sz = sizeof(buf);
        if (rd_kafka_conf_get(conf, name, buf, &sz) != RD_KAFKA_CONF_OK)
                return "(unknown)";
        return buf;
}

static void test_kafka_conf(void) {
        clear_kafka_env();
        setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9092,b2:9092", 1);
        setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
        setenv("KAFKA_SASL_MECHANISMS", "SCRAM-SHA-512", 1);
        setenv("KAFKA_SASL_USERNAME", "weir", 1);
        setenv("KAFKA_SASL_PASSWORD", "s3cr3t", 1);
        setenv("KAFKA_STATISTICS_INTERVAL_MS", "1000", 1);
        setenv("KAFKA_CLIENT_ID", "", 1); /* empty = unset */
        /* Kubernetes service links for a Service named "kafka". */
        setenv("KAFKA_SERVICE_HOST", "10.0.0.1", 1);
        setenv("KAFKA_SERVICE_PORT", "9092", 1);
        setenv("KAFKA_PORT", "tcp://10.0.0.1:9092", 1);
        setenv("KAFKA_PORT_9092_TCP_ADDR", "10.0.0.1", 1);
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        err[0] = '\0';
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), 0);
        TH_CHECK_STR(err, "");
        TH_CHECK_STR(conf_get(conf, "bootstrap.servers"), "b1:9092,b2:9092");
        TH_CHECK_STR(conf_get(conf, "security.protocol"), "sasl_ssl");
        TH_CHECK_STR(conf_get(conf, "sasl.mechanisms"), "SCRAM-SHA-512");
        TH_CHECK_STR(conf_get(conf, "sasl.username"), "weir");
        TH_CHECK_STR(conf_get(conf, "sasl.password"), "s3cr3t");
        TH_CHECK_STR(conf_get(conf, "statistics.interval.ms"), "1000");
        TH_CHECK_STR(conf_get(conf, "client.id"), "rdkafka");
        rd_kafka_conf_destroy(conf);

        setenv("KAFKA_NO_SUCH_THING", "1", 1);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "KAFKA_NO_SUCH_THING=\"1\": ");
        TH_CHECK_HAS(err, "no.such.thing"); /* librdkafka's message */
        rd_kafka_conf_destroy(conf);
        unsetenv("KAFKA_NO_SUCH_THING");

        setenv("KAFKA_STATISTICS_INTERVAL_MS", "often", 1);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "KAFKA_STATISTICS_INTERVAL_MS=\"often\": ");
        TH_CHECK_HAS(err, "statistics.interval.ms");
        rd_kafka_conf_destroy(conf);

        /* Secrets set through KAFKA_* work like any property. */
        setenv("KAFKA_STATISTICS_INTERVAL_MS", "1000", 1);
        setenv("KAFKA_SASL_OAUTHBEARER_CONFIG", "principal=x", 1);
        setenv("KAFKA_SSL_KEY_PASSWORD", "k3y", 1);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), 0);
        TH_CHECK_STR(conf_get(conf, "ssl.key.password"), "k3y");
        rd_kafka_conf_destroy(conf);

        setenv("KAFKA_", "x", 1);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "KAFKA_: not a librdkafka property");
        rd_kafka_conf_destroy(conf);
        clear_kafka_env();
}

/* Writes `content` to a new file in a fresh directory; returns its path
 * (static buffer, one at a time). */
static const char *tmp_file(const char *content) {
        static char path[256];
        char dir[] = "/tmp/weir-test-cfg-XXXXXX";
        TH_CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/secret", dir);
        FILE *f = fopen(path, "w");
        TH_CHECK(f != NULL);
        if (f) {
                fputs(content, f);
                fclose(f);
        }
        return path;
}

static void test_secret_file(void) {
        const char *v = NULL;
        char *d = NULL;
        unsetenv("WEIR_T_TOKEN");
        unsetenv("WEIR_T_TOKEN_FILE");
        TH_CHECK_INT(cfg_secret("WEIR_T_TOKEN", &v, err, sizeof(err)), 0);
        TH_CHECK(v == NULL);
        setenv("WEIR_T_TOKEN", "from-env-1", 1);
        TH_CHECK_INT(cfg_secret("WEIR_T_TOKEN", &v, err, sizeof(err)), 0);
        TH_CHECK_STR(v, "from-env-1");

        /* Both set: an error naming both, never the value. */
        char path[256];
        snprintf(path, sizeof(path), "%s", tmp_file("from-file-2\r\n\n"));
        setenv("WEIR_T_TOKEN_FILE", path, 1);
        TH_CHECK_INT(cfg_secret("WEIR_T_TOKEN", &v, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_TOKEN and WEIR_T_TOKEN_FILE are both set: set one "
                          "(WEIR_T_TOKEN_FILE names a file holding the value)");
        TH_CHECK(!strstr(err, "from-"));

        /* From the file, trailing newlines trimmed. */
        unsetenv("WEIR_T_TOKEN");
        TH_CHECK_INT(cfg_secret("WEIR_T_TOKEN", &v, err, sizeof(err)), 0);
        TH_CHECK_STR(v, "from-file-2");
        /* Rotation: the dup reads the file again. */
        FILE *f = fopen(path, "w");
        TH_CHECK(f != NULL);
        if (!f)
                return;
        fputs("rotated-3\n", f);
        fclose(f);
        TH_CHECK_INT(cfg_secret_dup("WEIR_T_TOKEN", &d, err, sizeof(err)), 0);
        TH_CHECK_STR(d, "rotated-3");
        TH_CHECK_STR(v, "from-file-2"); /* the kept copy is stable */
        cfg_secret_free(d);
        /* A value inside, newlines kept; a PEM key keeps its inner lines. */
        f = fopen(path, "w");
        if (!f)
                return;
        fputs("-----BEGIN-----\nabc\n-----END-----\n", f);
        fclose(f);
        TH_CHECK_INT(cfg_secret_dup("WEIR_T_TOKEN", &d, err, sizeof(err)), 0);
        TH_CHECK_STR(d, "-----BEGIN-----\nabc\n-----END-----");
        cfg_secret_free(d);

        /* Empty file, missing file, directory: errors naming the variable
         * and the path. */
        f = fopen(path, "w");
        if (!f)
                return;
        fputs("\n", f);
        fclose(f);
        TH_CHECK_INT(cfg_secret("WEIR_T_TOKEN", &v, err, sizeof(err)), -1);
        char want[512];
        snprintf(want, sizeof(want), "WEIR_T_TOKEN_FILE=\"%s\": the file is empty", path);
        TH_CHECK_STR(err, want);
        unlink(path);
        TH_CHECK_INT(cfg_secret("WEIR_T_TOKEN", &v, err, sizeof(err)), -1);
        snprintf(want, sizeof(want),
                 "WEIR_T_TOKEN_FILE=\"%s\": cannot read the file: No such file or directory", path);
        TH_CHECK_STR(err, want);
        *strrchr(path, '/') = '\0';
        setenv("WEIR_T_TOKEN_FILE", path, 1);
        TH_CHECK_INT(cfg_secret_dup("WEIR_T_TOKEN", &d, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "a directory");
        TH_CHECK(d == NULL);
        rmdir(path);
        unsetenv("WEIR_T_TOKEN_FILE");
}

static void test_kafka_conf_file(void) {
        clear_kafka_env();
        char path[256];
        snprintf(path, sizeof(path), "%s", tmp_file("pa55-from-file\n"));
        setenv("KAFKA_SASL_USERNAME", "weir", 1);
        setenv("KAFKA_SASL_PASSWORD_FILE", path, 1);
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), 0);
        TH_CHECK_STR(conf_get(conf, "sasl.password"), "pa55-from-file");
        TH_CHECK_STR(conf_get(conf, "sasl.username"), "weir");
        rd_kafka_conf_destroy(conf);

        setenv("KAFKA_SASL_PASSWORD", "other", 1);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set "
                          "one (KAFKA_SASL_PASSWORD_FILE names a file holding the value)");
        rd_kafka_conf_destroy(conf);
        unsetenv("KAFKA_SASL_PASSWORD");

        /* A property librdkafka rejects: its message must not quote the file. */
        setenv("KAFKA_SECURITY_PROTOCOL_FILE", path, 1);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), -1);
        TH_CHECK(!strstr(err, "pa55"));
        TH_CHECK_HAS(err, "invalid value for security.protocol");
        rd_kafka_conf_destroy(conf);
        unsetenv("KAFKA_SECURITY_PROTOCOL_FILE");

        unlink(path);
        conf = rd_kafka_conf_new();
        TH_CHECK_INT(cfg_kafka_conf(conf, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "KAFKA_SASL_PASSWORD_FILE=\"");
        TH_CHECK_HAS(err, "\": cannot read the file: No such file or directory");
        rd_kafka_conf_destroy(conf);
        *strrchr(path, '/') = '\0';
        rmdir(path);
        clear_kafka_env();
}

/* ------------------------------------------------------------ cfg_tab */

typedef struct {
        const char *s, *req, *secret;
        uint16_t port;
        int flag, mode;
        int64_t wait_ms, idle_ms;
        size_t bytes;
        double ratio;
} tt_t;

#define TF(m) CFG_FIELD(tt_t, m)
static const char *const tt_modes[] = {"fast", "safe", NULL};
static const cfg_def_t tt_rows[] = {
        {.name = "WEIR_T_S", .type = CFG_STR, TF(s), .def = "dflt", .doc = "a string"},
        {.name = "WEIR_T_REQ", .type = CFG_STR, TF(req), .flags = CFG_REQUIRED, .doc = "needed"},
        {.name = "WEIR_T_SECRET", .type = CFG_SECRET, TF(secret), .doc = "a secret"},
        {.name = "WEIR_T_PORT",
         .type = CFG_INT,
         TF(port),
         .def = "8080",
         .min = 0,
         .max = 65535,
         .doc = "a port"},
        {.name = "WEIR_T_FLAG", .type = CFG_BOOL, TF(flag), .def = "true", .doc = "a flag"},
        {.name = "WEIR_T_MODE",
         .type = CFG_ENUM,
         TF(mode),
         .def = "safe",
         .choices = tt_modes,
         .doc = "a mode"},
        {.name = "WEIR_T_WAIT",
         .type = CFG_DURATION,
         TF(wait_ms),
         .def = "5s",
         .min = 1,
         .max = 3600000,
         .doc = "a wait"},
        {.name = "WEIR_T_IDLE",
         .type = CFG_DURATION,
         TF(idle_ms),
         .def = "0ms",
         .min = 0,
         .max = 60000,
         .flags = CFG_OFF,
         .doc = "an idle time"},
        {.name = "WEIR_T_BYTES",
         .type = CFG_SIZE,
         TF(bytes),
         .def = "1MiB",
         .min = 1024,
         .max = 1LL << 30,
         .def_doc = "one MiB",
         .doc = "a size"},
        {.name = "WEIR_T_RATIO", .type = CFG_RATIO, TF(ratio), .def = "0.5", .doc = "a ratio"},
};
static const cfg_tab_t tt_tab = CFG_TAB("test", tt_rows);

static void tt_clear(void) {
        for (size_t i = 0; i < tt_tab.n; i++)
                unsetenv(tt_rows[i].name);
        unsetenv("WEIR_T_SECRET_FILE");
        setenv("WEIR_T_REQ", "here", 1);
}

static void test_tab_defaults_and_types(void) {
        tt_t t;
        tt_clear();
        memset(&t, 0xff, sizeof(t));
        TH_CHECK_INT(cfg_tab_load(&tt_tab, NULL, &t, err, sizeof(err)), 0);
        TH_CHECK_STR(t.s, "dflt");
        TH_CHECK_STR(t.req, "here");
        TH_CHECK(t.secret == NULL);
        TH_CHECK_INT(t.port, 8080);
        TH_CHECK_INT(t.flag, 1);
        TH_CHECK_INT(t.mode, 1);
        TH_CHECK_INT(t.wait_ms, 5000);
        TH_CHECK_INT(t.idle_ms, 0);
        TH_CHECK_INT(t.bytes, 1 << 20);
        TH_CHECK(t.ratio == 0.5);

        setenv("WEIR_T_S", "x", 1);
        setenv("WEIR_T_PORT", "65535", 1); /* the top of a uint16_t, kept whole */
        setenv("WEIR_T_FLAG", "off", 1);
        setenv("WEIR_T_MODE", "FAST", 1);
        setenv("WEIR_T_WAIT", "1h", 1);
        setenv("WEIR_T_IDLE", "off", 1);
        setenv("WEIR_T_BYTES", "64KiB", 1);
        setenv("WEIR_T_RATIO", "0", 1);
        setenv("WEIR_T_SECRET", "s3cr3t", 1);
        TH_CHECK_INT(cfg_tab_load(&tt_tab, NULL, &t, err, sizeof(err)), 0);
        TH_CHECK_STR(t.s, "x");
        TH_CHECK_INT(t.port, 65535);
        TH_CHECK_INT(t.flag, 0);
        TH_CHECK_INT(t.mode, 0);
        TH_CHECK_INT(t.wait_ms, 3600000);
        TH_CHECK_INT(t.idle_ms, -1);
        TH_CHECK_INT(t.bytes, 65536);
        TH_CHECK(t.ratio == 0.0);
        TH_CHECK_STR(t.secret, "s3cr3t");

        /* A service's own defaults replace the rows'; the environment still wins. */
        static const char *const mine[] = {"WEIR_T_WAIT", "250ms", "WEIR_T_S", "other", NULL};
        unsetenv("WEIR_T_WAIT");
        TH_CHECK_INT(cfg_tab_load(&tt_tab, mine, &t, err, sizeof(err)), 0);
        TH_CHECK_INT(t.wait_ms, 250);
        TH_CHECK_STR(t.s, "x");
        /* Defaults alone, whatever the environment says. */
        memset(&t, 0, sizeof(t));
        cfg_tab_defaults(&tt_tab, mine, &t);
        TH_CHECK_STR(t.s, "other");
        TH_CHECK_INT(t.wait_ms, 250);
        TH_CHECK_INT(t.port, 8080);
        TH_CHECK_INT(t.bytes, 1 << 20);
        TH_CHECK(t.ratio == 0.5);
        tt_clear();
}

/* One bad value of each type: refused with the same shape of message,
 * naming the variable, the value and what is allowed. */
static void test_tab_refusals(void) {
        static const char *const bad[][3] = {
                {"WEIR_T_PORT", "70000", "WEIR_T_PORT=\"70000\": expected an integer in 0..65535"},
                {"WEIR_T_PORT", "-1", "WEIR_T_PORT=\"-1\": expected an integer in 0..65535"},
                {"WEIR_T_FLAG", "maybe",
                 "WEIR_T_FLAG=\"maybe\": expected true/false, 1/0, yes/no or on/off"},
                {"WEIR_T_MODE", "slow", "WEIR_T_MODE=\"slow\": expected one of fast, safe"},
                {"WEIR_T_WAIT", "2h",
                 "WEIR_T_WAIT=\"2h\": expected a duration in 1ms..1h, like \"250ms\", \"5s\", "
                 "\"2m\" or \"1h\" (a bare number is milliseconds)"},
                {"WEIR_T_IDLE", "soon",
                 "WEIR_T_IDLE=\"soon\": expected a duration in 0ms..1m, like \"250ms\", "
                 "\"5s\", \"2m\" or \"1h\" (a bare number is milliseconds), or off"},
                {"WEIR_T_BYTES", "1KB",
                 "WEIR_T_BYTES=\"1KB\": expected a size in 1KiB..1GiB, like \"512\", \"64KiB\", "
                 "\"10MiB\" or \"1GiB\""},
                {"WEIR_T_RATIO", "1.5", "WEIR_T_RATIO=\"1.5\": expected a ratio in 0..1"},
                {"WEIR_T_REQ", "", "WEIR_T_REQ is not set: a value is required"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                tt_t t;
                tt_clear();
                setenv(bad[i][0], bad[i][1], 1);
                err[0] = '\0';
                TH_CHECK_INT(cfg_tab_load(&tt_tab, NULL, &t, err, sizeof(err)), -1);
                TH_CHECK_STR(err, bad[i][2]);
        }
        /* A secret from a file; both forms at once is refused without the value. */
        tt_t t;
        char path[] = "/tmp/weir-tab-XXXXXX";
        int fd = mkstemp(path);
        TH_CHECK(fd >= 0 && write(fd, "fr0m-file\n", 10) == 10);
        close(fd);
        tt_clear();
        setenv("WEIR_T_SECRET_FILE", path, 1);
        TH_CHECK_INT(cfg_tab_load(&tt_tab, NULL, &t, err, sizeof(err)), 0);
        TH_CHECK_STR(t.secret, "fr0m-file");
        setenv("WEIR_T_SECRET", "in-env", 1);
        TH_CHECK_INT(cfg_tab_load(&tt_tab, NULL, &t, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "WEIR_T_SECRET and WEIR_T_SECRET_FILE are both set");
        TH_CHECK(!strstr(err, "in-env") && !strstr(err, "fr0m"));
        unlink(path);
        tt_clear();
        unsetenv("WEIR_T_REQ");
}

static char *tt_markdown(const cfg_tab_t *t, const char *const *defaults) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        cfg_tab_markdown_header(f);
        cfg_tab_markdown_rows(f, t, defaults);
        fclose(f);
        return buf;
}

static void test_tab_markdown(void) {
        static const char *const mine[] = {"WEIR_T_WAIT", "250ms", NULL};
        char *md = tt_markdown(&tt_tab, mine);
        TH_CHECK_STR(md, "| variable | default | allowed | meaning |\n"
                         "|---|---|---|---|\n"
                         "| `WEIR_T_S` | `dflt` | text | a string |\n"
                         "| `WEIR_T_REQ` | *required* | text | needed |\n"
                         "| `WEIR_T_SECRET` | unset | text, a secret (or `WEIR_T_SECRET_FILE`: a "
                         "file holding it) | a secret |\n"
                         "| `WEIR_T_PORT` | `8080` | 0 … 65535 | a port |\n"
                         "| `WEIR_T_FLAG` | `true` | `true`, `false` | a flag |\n"
                         "| `WEIR_T_MODE` | `safe` | `fast`, `safe` | a mode |\n"
                         "| `WEIR_T_WAIT` | `250ms` | `1ms` … `1h` | a wait |\n"
                         "| `WEIR_T_IDLE` | `0ms` | `0ms` … `1m`, or `off` | an idle time |\n"
                         "| `WEIR_T_BYTES` | one MiB | `1KiB` … `1GiB` | a size |\n"
                         "| `WEIR_T_RATIO` | `0.5` | 0 … 1 | a ratio |\n");
        free(md);
}

static void test_tab_check(void) {
        TH_CHECK_INT(cfg_tab_check(&tt_tab, NULL, err, sizeof(err)), 0);
        static const char *const unknown[] = {"WEIR_T_NOPE", "1", NULL};
        TH_CHECK_INT(cfg_tab_check(&tt_tab, unknown, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "test: no row WEIR_T_NOPE for its default");
        static const char *const out[] = {"WEIR_T_PORT", "70000", NULL};
        TH_CHECK_INT(cfg_tab_check(&tt_tab, out, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_PORT: the default is out of range");
        static const cfg_def_t wide[] = {{.name = "WEIR_T_PORT",
                                          .type = CFG_INT,
                                          TF(port),
                                          .min = 0,
                                          .max = 70000,
                                          .doc = "too wide"}};
        static const cfg_tab_t wide_tab = CFG_TAB("wide", wide);
        TH_CHECK_INT(cfg_tab_check(&wide_tab, NULL, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_PORT: max does not fit the field");
        static const cfg_def_t pipe[] = {
                {.name = "WEIR_T_S", .type = CFG_STR, TF(s), .doc = "a | b"}};
        static const cfg_tab_t pipe_tab = CFG_TAB("pipe", pipe);
        TH_CHECK_INT(cfg_tab_check(&pipe_tab, NULL, err, sizeof(err)), -1);
        TH_CHECK_HAS(err, "WEIR_T_S: a '|'");
        static const cfg_def_t twice[] = {
                {.name = "WEIR_T_S", .type = CFG_STR, TF(s), .doc = "a"},
                {.name = "WEIR_T_S", .type = CFG_STR, TF(req), .doc = "b"}};
        static const cfg_tab_t twice_tab = CFG_TAB("twice", twice);
        TH_CHECK_INT(cfg_tab_check(&twice_tab, NULL, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "twice: WEIR_T_S is listed twice");
        static const cfg_def_t baddef[] = {{.name = "WEIR_T_MODE",
                                            .type = CFG_ENUM,
                                            TF(mode),
                                            .def = "slow",
                                            .choices = tt_modes,
                                            .doc = "m"}};
        static const cfg_tab_t baddef_tab = CFG_TAB("baddef", baddef);
        TH_CHECK_INT(cfg_tab_check(&baddef_tab, NULL, err, sizeof(err)), -1);
        TH_CHECK_STR(err, "WEIR_T_MODE: the default does not parse");
}

/* Every table a service loads is sound, and its defaults load with an
 * empty environment (no variable of theirs is set in the unit tests). */
static void test_tab_services(void) {
        static const struct {
                const cfg_tab_t *t;
                const char *const *defaults;
        } all[] = {{&svc_conf_tab, NULL},    {&otel_conf_tab, NULL},
                   {&ig_conf_tab, NULL},     {&cp_conf_tab, NULL},
                   {&kc_txn_conf_tab, NULL}, {&kc_txn_conf_tab, cp_conf_commit_defaults},
                   {&ix_conf_tab, NULL},     {&sk_conf_tab, NULL},
                   {&ws_conf_tab, NULL}};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                err[0] = '\0';
                TH_CHECK_INT(cfg_tab_check(all[i].t, all[i].defaults, err, sizeof(err)), 0);
                TH_CHECK_STR(err, "");
                TH_CHECK(all[i].t->n > 0);
        }
        /* Names are unique across all the tables. */
        const cfg_tab_t *tabs[] = {&svc_conf_tab, &otel_conf_tab,   &ix_conf_tab, &sk_conf_tab,
                                   &ws_conf_tab,  &kc_txn_conf_tab, &ig_conf_tab, &cp_conf_tab};
        for (size_t a = 0; a < 8; a++)
                for (size_t b = a + 1; b < 8; b++)
                        for (size_t i = 0; i < tabs[a]->n; i++)
                                for (size_t j = 0; j < tabs[b]->n; j++)
                                        TH_CHECK(strcmp(tabs[a]->defs[i].name,
                                                        tabs[b]->defs[j].name) != 0);
        /* Defaults as the code used before the tables (compute's commit
         * cadence, the shared loop's). */
        kc_txn_conf_t c;
        kc_txn_conf_init(&c);
        TH_CHECK_INT(c.guarantee, KC_EXACTLY_ONCE);
        TH_CHECK_INT(c.batch_ms, 100);
        TH_CHECK_INT(c.batch_records, 1000);
        TH_CHECK_INT(c.linger_ms, 0);
        c.env_defaults = cp_conf_commit_defaults;
        TH_CHECK_INT(kc_txn_conf_env(&c, err, sizeof(err)), 0);
        TH_CHECK_INT(c.batch_records, 20000);
        TH_CHECK_INT(c.linger_ms, 5);
        TH_CHECK_INT(c.state_ms, 0);
        cp_conf_t cp;
        TH_CHECK_INT(cp_conf_load(&cp, err, sizeof(err)), 0);
        TH_CHECK_INT(cp.threads, 1);
        TH_CHECK_INT(cp.stable_ms, 30000);
}

TH_MAIN("cfg", TH_T(test_str), TH_T(test_int), TH_T(test_bool), TH_T(test_parse_duration),
        TH_T(test_duration_env), TH_T(test_size), TH_T(test_enum), TH_T(test_secret),
        TH_T(test_kafka_conf), TH_T(test_secret_file), TH_T(test_kafka_conf_file),
        TH_T(test_tab_defaults_and_types), TH_T(test_tab_refusals), TH_T(test_tab_markdown),
        TH_T(test_tab_check), TH_T(test_tab_services))
