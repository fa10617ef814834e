/* Unit tests for svc_init(): a good environment starts (spec, schemas,
 * admin server on a free port), and each bad setting stops start-up with a
 * message naming the variable. */
#include "svc.h"
#include "th.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPEC_PATH "docs/examples/traffic-pipeline.json"

static void env_good(void) {
        setenv("PIPELINE_SPEC", SPEC_PATH, 1);
        setenv("SCHEMA_DIR", "schemas", 1);
        setenv("ADMIN_PORT", "0", 1);
        setenv("ADMIN_BIND", "127.0.0.1", 1);
        unsetenv("WIRE_FORMAT");
        unsetenv("SCHEMA_REGISTRY_URL");
}

static const char *init_error(void) {
        static char err[512];
        svc_t svc;
        err[0] = 0;
        if (svc_init(&svc, "test", SPEC_PART_COMPUTE, err, sizeof(err)) == 0) {
                svc_fini(&svc);
                return "";
        }
        return err;
}

static void test_good(void) {
        char err[512];
        svc_t svc;
        env_good();
        TH_CHECK_INT(svc_init(&svc, "test", SPEC_PART_COMPUTE, err, sizeof(err)), 0);
        TH_CHECK_STR(av_schema_name(svc.input_schema), "weir.example.TrafficReading");
        TH_CHECK(svc.spec->compute != NULL);
        TH_CHECK(admin_port(svc.admin) > 0);
        TH_CHECK_INT(svc.wire, AV_WIRE_SINGLE_OBJECT);
        int32_t id = 0;
        TH_CHECK_INT(svc_schema_id(&svc, "t", svc.input_schema, &id, err, sizeof(err)), 0);
        TH_CHECK_INT(id, -1);
        svc_fini(&svc);
}

/* GET /readyz on the admin port: the response's first bytes, in buf. */
static const char *readyz(uint16_t port, char *buf, size_t size) {
        buf[0] = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const char req[] = "GET /readyz HTTP/1.0\r\n\r\n";
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
                size_t n = 0;
                ssize_t r;
                while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
                        n += (size_t)r;
                buf[n] = 0;
        }
        if (fd >= 0)
                close(fd);
        return buf;
}

/* Not ready between start-up and svc_started(), even with no other
 * condition registered yet: a probe must not see a half-made service. */
static void test_starting_until_started(void) {
        char err[512], buf[1024];
        svc_t svc;
        env_good();
        TH_CHECK_INT(svc_init(&svc, "test", SPEC_PART_COMPUTE, err, sizeof(err)), 0);
        readyz(admin_port(svc.admin), buf, sizeof(buf));
        TH_CHECK(strstr(buf, " 503 ") != NULL);
        TH_CHECK(strstr(buf, "unmet: starting") != NULL);
        svc_started(&svc);
        readyz(admin_port(svc.admin), buf, sizeof(buf));
        TH_CHECK(strstr(buf, " 200 ") != NULL);
        svc_fini(&svc);
}

static void test_bad_settings(void) {
        env_good();
        unsetenv("PIPELINE_SPEC");
        TH_CHECK_HAS(init_error(), "PIPELINE_SPEC");
        env_good();
        setenv("WIRE_FORMAT", "protobuf", 1);
        TH_CHECK_STR(init_error(),
                     "WIRE_FORMAT=\"protobuf\": expected one of single-object, confluent");
        env_good();
        setenv("WIRE_FORMAT", "confluent", 1);
        TH_CHECK_HAS(init_error(), "SCHEMA_REGISTRY_URL");
        env_good();
        setenv("SCHEMA_DIR", "tests", 1);
        TH_CHECK_HAS(init_error(), "weir.example.TrafficReading\" is not in SCHEMA_DIR");
        env_good();
        setenv("ADMIN_PORT", "70000", 1);
        TH_CHECK_HAS(init_error(), "ADMIN_PORT");
}

TH_MAIN("svc", TH_T(test_good), TH_T(test_starting_until_started), TH_T(test_bad_settings))
