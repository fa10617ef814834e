/* otel_conf — the OTEL_* environment variables of otel.h, read once at
 * start-up into an otel_conf_t (otel_int.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_tab.h"
#include "log.h"
#include "otel_int.h"

#define OTEL_LOG     "otel"
#define OTEL_MAX_RES 32 /* resource attributes */

/* The OTEL_* variables, as otel_conf_tab reads them. */
typedef struct otel_env_s {
        int disabled;
        const char *endpoint, *traces_endpoint;
        const char *headers, *traces_headers;
        int protocol, traces_protocol; /* the one choice: http/protobuf */
        int64_t timeout_ms;
        const char *service_name, *resource_attributes;
        int sampler; /* index in otel_samplers */
        double sampler_arg;
        int64_t queue_max, batch_max, delay_ms;
} otel_env_t;

#define F(m) CFG_FIELD(otel_env_t, m)
static const char *const otel_protocols[] = {"http/protobuf", NULL};
static const char *const otel_samplers[] = {"always_on",
                                            "always_off",
                                            "traceidratio",
                                            "parentbased_always_on",
                                            "parentbased_always_off",
                                            "parentbased_traceidratio",
                                            NULL};

static const cfg_def_t otel_conf_rows[] = {
        {.name = "OTEL_EXPORTER_OTLP_ENDPOINT",
         .type = CFG_STR,
         F(endpoint),
         .def_doc = "unset: tracing off",
         .form = "an `http://` or `https://` URL",
         .doc = "base URL; `/v1/traces` is appended"},
        {.name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
         .type = CFG_STR,
         F(traces_endpoint),
         .form = "an `http://` or `https://` URL",
         .doc = "full URL of the traces endpoint (wins over the above)"},
        {.name = "OTEL_EXPORTER_OTLP_HEADERS",
         .type = CFG_STR,
         F(headers),
         .form = "`key=value,...`",
         .doc = "request headers (values URL-decoded), e.g. an auth token; never logged"},
        {.name = "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
         .type = CFG_STR,
         F(traces_headers),
         .form = "`key=value,...`",
         .doc = "more request headers, for traces only"},
        {.name = "OTEL_EXPORTER_OTLP_PROTOCOL",
         .type = CFG_ENUM,
         F(protocol),
         .def = "http/protobuf",
         .choices = otel_protocols,
         .doc = "the only protocol Weir exports (anything else is refused at start-up)"},
        {.name = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
         .type = CFG_ENUM,
         F(traces_protocol),
         .def = "http/protobuf",
         .choices = otel_protocols,
         .doc = "the same, for traces only"},
        {.name = "OTEL_EXPORTER_OTLP_TIMEOUT",
         .type = CFG_INT,
         F(timeout_ms),
         .def = "10000",
         .min = 1,
         .max = 3600000,
         .doc = "ms per export request"},
        {.name = "OTEL_SERVICE_NAME",
         .type = CFG_STR,
         F(service_name),
         .def_doc = "`weir-<service>` (`weir-ingress`, ...)",
         .doc = "`service.name`"},
        {.name = "OTEL_RESOURCE_ATTRIBUTES",
         .type = CFG_STR,
         F(resource_attributes),
         .form = "`key=value,...`",
         .doc = "more resource attributes"},
        {.name = "OTEL_TRACES_SAMPLER",
         .type = CFG_ENUM,
         F(sampler),
         .def = "parentbased_traceidratio",
         .choices = otel_samplers,
         .doc = "how a trace is chosen: parent-based samplers follow a sampled `traceparent`"},
        {.name = "OTEL_TRACES_SAMPLER_ARG",
         .type = CFG_RATIO,
         F(sampler_arg),
         .def = "1.0",
         .doc = "the ratio of the `*traceidratio` samplers"},
        {.name = "OTEL_BSP_MAX_QUEUE_SIZE",
         .type = CFG_INT,
         F(queue_max),
         .def = "2048",
         .min = 1,
         .max = 1000000,
         .doc = "spans held for export"},
        {.name = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
         .type = CFG_INT,
         F(batch_max),
         .def = "512",
         .min = 1,
         .max = 1000000,
         .doc = "spans per export request (at most the queue size)"},
        {.name = "OTEL_BSP_SCHEDULE_DELAY",
         .type = CFG_INT,
         F(delay_ms),
         .def = "5000",
         .min = 1,
         .max = 3600000,
         .doc = "ms between exports"},
        {.name = "OTEL_SDK_DISABLED",
         .type = CFG_BOOL,
         F(disabled),
         .def = "false",
         .doc = "`true`: off, whatever else is set"},
};
#undef F

const cfg_tab_t otel_conf_tab = CFG_TAB("otel", otel_conf_rows);

/* Decodes %XX in place (OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES are
 * W3C Baggage-like lists whose values may be percent-encoded). */
static void otel_unescape(char *s) {
        char *o = s;
        for (; *s; s++) {
                if (s[0] == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
                        char h[3] = {s[1], s[2], 0};
                        *o++ = (char)strtol(h, NULL, 16);
                        s += 2;
                } else {
                        *o++ = *s;
                }
        }
        *o = '\0';
}

static char *otel_trim(char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
        return s;
}

/* Splits "k=v,k2=v2" (modified in place) into kv pairs; at most max pairs.
 * Returns the count, or -1 for an entry without '=' or with an empty key. */
static int otel_pairs(char *s, char **kv, int max) {
        int n = 0;
        for (char *save = NULL, *e = strtok_r(s, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(e, '=');
                if (!eq)
                        return -1;
                *eq = '\0';
                char *k = otel_trim(e), *v = otel_trim(eq + 1);
                if (!*k)
                        return -1;
                otel_unescape(k);
                otel_unescape(v);
                if (n < max) {
                        kv[2 * n] = k;
                        kv[2 * n + 1] = v;
                        n++;
                }
        }
        return n;
}

static int otel_headers(otel_conf_t *c, const char *name, const char *v, char *errstr,
                        size_t errstr_size) {
        if (!v || !*v)
                return 0;
        char *copy = strdup(v), *kv[64];
        int n = copy ? otel_pairs(copy, kv, 32) : -1;
        if (n < 0) {
                free(copy);
                /* the value may hold a token: name the variable, not its value */
                snprintf(errstr, errstr_size, "%s: expected key=value[,key=value...]", name);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                char line[1024];
                snprintf(line, sizeof(line), "%s: %s", kv[2 * i], kv[2 * i + 1]);
                if (buf_append(&c->headers, line, strlen(line) + 1) != 0) {
                        free(copy);
                        snprintf(errstr, errstr_size, "otel: out of memory");
                        return -1;
                }
        }
        free(copy);
        return 0;
}

/* The samplers, in the order of otel_samplers[]. */
static const struct {
        int pb;
        otel_root_t root;
} otel_sampler_kinds[] = {{0, OTEL_S_ON}, {0, OTEL_S_OFF}, {0, OTEL_S_RATIO},
                          {1, OTEL_S_ON}, {1, OTEL_S_OFF}, {1, OTEL_S_RATIO}};

static void otel_sampler(otel_conf_t *c, int sampler, double r) {
        c->parent_based = otel_sampler_kinds[sampler].pb;
        c->root = otel_sampler_kinds[sampler].root;
        if (c->root != OTEL_S_RATIO)
                r = 1.0;
        /* Compared with the trace-id's last 8 bytes, as the specification's
         * TraceIdRatioBased does, so every service takes the same decision. */
        c->ratio_bound = r >= 1.0 ? UINT64_MAX : (uint64_t)(r * 18446744073709551616.0);
}

static int otel_resource(otel_conf_t *c, const char *stage, const otel_env_t *e) {
        const char *kv[2 * (OTEL_MAX_RES + 3)];
        size_t n = 0;
        char defname[64];
        snprintf(defname, sizeof(defname), "weir-%s", stage);
        const char *ra = e->resource_attributes;
        c->res_store = ra && *ra ? strdup(ra) : NULL;
        char *pairs[2 * OTEL_MAX_RES];
        int np = c->res_store ? otel_pairs(c->res_store, pairs, OTEL_MAX_RES) : 0;
        if (np < 0) {
                log_warn(OTEL_LOG, "OTEL_RESOURCE_ATTRIBUTES: an entry is not key=value; "
                                   "the variable is ignored");
                np = 0;
        }
        const char *svc = e->service_name && *e->service_name ? e->service_name : NULL;
        for (int i = 0; i < np && !svc; i++)
                if (strcmp(pairs[2 * i], "service.name") == 0)
                        svc = pairs[2 * i + 1];
        kv[n++] = "service.name";
        kv[n++] = svc ? svc : defname;
        kv[n++] = "telemetry.sdk.name";
        kv[n++] = "weir";
        kv[n++] = "telemetry.sdk.language";
        kv[n++] = "c";
        for (int i = 0; i < np; i++) {
                if (strcmp(pairs[2 * i], "service.name") == 0)
                        continue;
                kv[n++] = pairs[2 * i];
                kv[n++] = pairs[2 * i + 1];
        }
        return otel_pb_resource(&c->resource, kv, n / 2);
}

static int otel_url(otel_conf_t *c, const otel_env_t *e, char *errstr, size_t errstr_size) {
        const char *t = e->traces_endpoint, *b = e->endpoint;
        const char *u = t ? t : b;
        if (!u)
                return 0;
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
                snprintf(errstr, errstr_size, "%s=\"%s\": expected an http:// or https:// URL",
                         t ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT",
                         u);
                return -1;
        }
        size_t n = strlen(u);
        c->url = malloc(n + 16);
        if (!c->url)
                return -1;
        if (t)
                memcpy(c->url, u, n + 1);
        else
                snprintf(c->url, n + 16, "%s%sv1/traces", u, u[n - 1] == '/' ? "" : "/");
        return 0;
}

int otel_conf_load(otel_conf_t *c, const char *stage, char *errstr, size_t errstr_size) {
        otel_env_t e;
        memset(c, 0, sizeof(*c));
        memset(&e, 0, sizeof(e));
        if (cfg_tab_load(&otel_conf_tab, NULL, &e, errstr, errstr_size) == -1)
                return -1;
        if (e.disabled)
                return 0;
        otel_sampler(c, e.sampler, e.sampler_arg);
        c->timeout_ms = (long)e.timeout_ms;
        c->delay_ms = (long)e.delay_ms;
        if (otel_url(c, &e, errstr, errstr_size))
                goto fail;
        if (!c->url) /* no endpoint: off */
                return 0;
        c->queue_max = (size_t)e.queue_max;
        c->batch_max = (size_t)(e.batch_max < e.queue_max ? e.batch_max : e.queue_max);
        if (otel_headers(c, "OTEL_EXPORTER_OTLP_HEADERS", e.headers, errstr, errstr_size) ||
            otel_headers(c, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", e.traces_headers, errstr,
                         errstr_size))
                goto fail;
        static const char ct[] = "Content-Type: application/x-protobuf";
        if (buf_append(&c->headers, ct, sizeof(ct)) != 0 || otel_resource(c, stage, &e) != 0) {
                snprintf(errstr, errstr_size, "otel: out of memory");
                goto fail;
        }
        return 0;
fail:
        otel_conf_free(c);
        return -1;
}

void otel_conf_free(otel_conf_t *c) {
        buf_free(&c->headers);
        free(c->url);
        free(c->res_store);
        buf_free(&c->resource);
        memset(c, 0, sizeof(*c));
}
