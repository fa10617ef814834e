/* otel_conf — the OTEL_* environment variables of otel.h, read once at
 * start-up into an otel_conf_t (otel_int.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "otel_int.h"

#define OTEL_LOG     "otel"
#define OTEL_MAX_RES 32 /* resource attributes */

static const char *otel_env(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

static int otel_env_long(const char *name, long def, long min, long *out, char *errstr,
                         size_t errstr_size) {
        const char *v = otel_env(name);
        if (!v) {
                *out = def;
                return 0;
        }
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end || x < min) {
                snprintf(errstr, errstr_size, "%s: \"%s\" is not an integer >= %ld", name, v, min);
                return -1;
        }
        *out = x;
        return 0;
}

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

static int otel_headers(otel_conf_t *c, const char *name, char *errstr, size_t errstr_size) {
        const char *v = otel_env(name);
        if (!v)
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

static int otel_sampler(otel_conf_t *c, char *errstr, size_t errstr_size) {
        const char *s = otel_env("OTEL_TRACES_SAMPLER");
        if (!s)
                s = "parentbased_traceidratio";
        static const struct {
                const char *name;
                int pb;
                otel_root_t root;
        } tab[] = {{"always_on", 0, OTEL_S_ON},
                   {"always_off", 0, OTEL_S_OFF},
                   {"traceidratio", 0, OTEL_S_RATIO},
                   {"parentbased_always_on", 1, OTEL_S_ON},
                   {"parentbased_always_off", 1, OTEL_S_OFF},
                   {"parentbased_traceidratio", 1, OTEL_S_RATIO}};
        size_t i;
        for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
                if (strcasecmp(s, tab[i].name) == 0)
                        break;
        if (i == sizeof(tab) / sizeof(tab[0])) {
                snprintf(errstr, errstr_size,
                         "OTEL_TRACES_SAMPLER: \"%s\" is not one of always_on, always_off, "
                         "traceidratio, parentbased_always_on, parentbased_always_off, "
                         "parentbased_traceidratio",
                         s);
                return -1;
        }
        c->parent_based = tab[i].pb;
        c->root = tab[i].root;
        double r = 1.0;
        const char *a = otel_env("OTEL_TRACES_SAMPLER_ARG");
        if (a && c->root == OTEL_S_RATIO) {
                char *end;
                r = strtod(a, &end);
                if (*end || !(r >= 0.0 && r <= 1.0)) {
                        snprintf(errstr, errstr_size,
                                 "OTEL_TRACES_SAMPLER_ARG: \"%s\" is not a ratio in [0, 1]", a);
                        return -1;
                }
        }
        /* Compared with the trace-id's last 8 bytes, as the specification's
         * TraceIdRatioBased does, so every service takes the same decision. */
        c->ratio_bound = r >= 1.0 ? UINT64_MAX : (uint64_t)(r * 18446744073709551616.0);
        return 0;
}

static int otel_resource(otel_conf_t *c, const char *stage) {
        const char *kv[2 * (OTEL_MAX_RES + 3)];
        size_t n = 0;
        char defname[64];
        snprintf(defname, sizeof(defname), "weir-%s", stage);
        const char *ra = otel_env("OTEL_RESOURCE_ATTRIBUTES");
        c->res_store = ra ? strdup(ra) : NULL;
        char *pairs[2 * OTEL_MAX_RES];
        int np = c->res_store ? otel_pairs(c->res_store, pairs, OTEL_MAX_RES) : 0;
        if (np < 0) {
                log_warn(OTEL_LOG, "OTEL_RESOURCE_ATTRIBUTES: an entry is not key=value; "
                                   "the variable is ignored");
                np = 0;
        }
        const char *svc = otel_env("OTEL_SERVICE_NAME");
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

static int otel_url(otel_conf_t *c, char *errstr, size_t errstr_size) {
        const char *t = otel_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        const char *b = otel_env("OTEL_EXPORTER_OTLP_ENDPOINT");
        const char *u = t ? t : b;
        if (!u)
                return 0;
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
                snprintf(errstr, errstr_size, "%s: \"%s\" is not an http:// or https:// URL",
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
        memset(c, 0, sizeof(*c));
        const char *dis = otel_env("OTEL_SDK_DISABLED");
        if (dis && strcasecmp(dis, "true") == 0)
                return 0;
        const char *proto = otel_env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
        if (!proto)
                proto = otel_env("OTEL_EXPORTER_OTLP_PROTOCOL");
        if (proto && strcmp(proto, "http/protobuf") != 0) {
                snprintf(errstr, errstr_size,
                         "OTEL_EXPORTER_OTLP_PROTOCOL: \"%s\" is not supported (Weir exports "
                         "http/protobuf only)",
                         proto);
                return -1;
        }
        long qmax, bmax;
        if (otel_sampler(c, errstr, errstr_size) ||
            otel_env_long("OTEL_EXPORTER_OTLP_TIMEOUT", 10000, 1, &c->timeout_ms, errstr,
                          errstr_size) ||
            otel_env_long("OTEL_BSP_SCHEDULE_DELAY", 5000, 1, &c->delay_ms, errstr, errstr_size) ||
            otel_env_long("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, &qmax, errstr, errstr_size) ||
            otel_env_long("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, &bmax, errstr, errstr_size) ||
            otel_url(c, errstr, errstr_size))
                goto fail;
        if (!c->url) /* no endpoint: off */
                return 0;
        if (qmax > 1000000)
                qmax = 1000000;
        c->queue_max = (size_t)qmax;
        c->batch_max = (size_t)(bmax < qmax ? bmax : qmax);
        if (otel_headers(c, "OTEL_EXPORTER_OTLP_HEADERS", errstr, errstr_size) ||
            otel_headers(c, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", errstr, errstr_size))
                goto fail;
        static const char ct[] = "Content-Type: application/x-protobuf";
        if (buf_append(&c->headers, ct, sizeof(ct)) != 0 || otel_resource(c, stage) != 0) {
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
