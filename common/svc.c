/* svc — shared service start-up: logging, pipeline spec, schemas, wire
 * format, Schema Registry client, admin server and the stop signal.  See
 * svc.h for the variables read. */
#include "svc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "otel.h"
#include "procm.h"

/* The handlers need the flag; one per process. */
static atomic_int *svc_stop_flag;
static volatile sig_atomic_t svc_signals;

static void svc_on_signal(int sig) {
        (void)sig;
        if (svc_signals++ > 0)
                _exit(130);
        atomic_int *stop = svc_stop_flag;
        if (stop)
                atomic_store(stop, 1);
}

int svc_signals_install(atomic_int *stop, char *errstr, size_t errstr_size) {
        svc_stop_flag = stop;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = svc_on_signal;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL)) {
                snprintf(errstr, errstr_size, "sigaction: %s", strerror(errno));
                return -1;
        }
        /* A peer closing a socket must be an error return, not death. */
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

static int svc_load(svc_t *svc, unsigned spec_parts, char *errstr, size_t errstr_size) {
        const char *path, *dir, *wire, *url, *cred, *bind;
        int64_t port, stall;

        if (log_init(svc->stage, errstr, errstr_size))
                return -1;
        if (cfg_str_required("PIPELINE_SPEC", &path, errstr, errstr_size))
                return -1;
        if (!(svc->spec = spec_load(path, spec_parts, errstr, errstr_size)))
                return -1;

        if (cfg_str("SCHEMA_DIR", "schemas", &dir, errstr, errstr_size))
                return -1;
        svc->schemas = av_registry_new();
        if (av_registry_load_dir(svc->schemas, dir, errstr, errstr_size) < 0)
                return -1;
        svc->input_schema = av_registry_by_name(svc->schemas, svc->spec->input.schema);
        if (!svc->input_schema) {
                snprintf(errstr, errstr_size,
                         "%s: $.input.schema: schema \"%s\" is not in SCHEMA_DIR=\"%s\"",
                         svc->spec->path, svc->spec->input.schema, dir);
                return -1;
        }

        if (cfg_str("WIRE_FORMAT", "single-object", &wire, errstr, errstr_size))
                return -1;
        if (av_wire_parse(wire, &svc->wire)) {
                snprintf(errstr, errstr_size,
                         "WIRE_FORMAT=\"%s\": expected single-object or confluent", wire);
                return -1;
        }
        if (cfg_str("SCHEMA_REGISTRY_URL", NULL, &url, errstr, errstr_size) ||
            cfg_secret("SCHEMA_REGISTRY_CREDENTIALS", &cred, errstr, errstr_size))
                return -1;
        if (url && !(svc->sr = sr_new(url, cred, errstr, errstr_size)))
                return -1;
        if (svc->wire == AV_WIRE_CONFLUENT && !svc->sr) {
                snprintf(errstr, errstr_size,
                         "WIRE_FORMAT=confluent needs SCHEMA_REGISTRY_URL to be set");
                return -1;
        }

        if (otel_init(svc->stage, errstr, errstr_size)) /* OTEL_*: off unless set */
                return -1;
        if (cfg_str("ADMIN_BIND", "0.0.0.0", &bind, errstr, errstr_size) ||
            cfg_int("ADMIN_PORT", 9400, 0, 65535, &port, errstr, errstr_size) ||
            cfg_duration_ms("ADMIN_STALL", 30000, 0, INT64_MAX, &stall, errstr, errstr_size))
                return -1;
        if (!(svc->admin = admin_start(bind, (uint16_t)port, stall, errstr, errstr_size)))
                return -1;
        svc->starting = admin_ready_condition(svc->admin, "starting");
        /* process_* and weir_build_info, refreshed at each /metrics. */
        if (procm_register(svc->stage) != 0) {
                snprintf(errstr, errstr_size, "process metrics: names clash");
                return -1;
        }
        log_info("main", "admin server on %s:%u; pipeline \"%s\" from %s; %zu schemas from %s; %s",
                 bind, (unsigned)admin_port(svc->admin), svc->spec->name, path,
                 av_registry_count(svc->schemas), dir, av_wire_name(svc->wire));
        return svc_signals_install(&svc->stop, errstr, errstr_size);
}

void svc_started(svc_t *svc) {
        admin_ready_set(svc->admin, svc->starting, 1);
}

int svc_init(svc_t *svc, const char *stage, unsigned spec_parts, char *errstr, size_t errstr_size) {
        memset(svc, 0, sizeof(*svc));
        svc->stage = stage;
        atomic_init(&svc->stop, 0);
        if (svc_load(svc, spec_parts, errstr, errstr_size)) {
                svc_fini(svc);
                return -1;
        }
        return 0;
}

void svc_fini(svc_t *svc) {
        if (svc_stop_flag == &svc->stop)
                svc_stop_flag = NULL;
        otel_fini();
        admin_stop(svc->admin);
        sr_destroy(svc->sr);
        if (svc->schemas)
                av_registry_destroy(svc->schemas);
        if (svc->spec)
                spec_free(svc->spec);
        svc->admin = NULL;
        svc->sr = NULL;
        svc->schemas = NULL;
        svc->spec = NULL;
        svc->input_schema = NULL;
}

int svc_fail(const char *stage, const char *errstr) {
        log_error("main", "%s", errstr);
        fprintf(stderr, "weir-%s: %s\n", stage, errstr);
        return 1;
}

av_decoder_t *svc_decoder_new(svc_t *svc, const av_schema_t *reader) {
        return av_decoder_new(svc->schemas, reader, svc->sr ? sr_lookup_cb : NULL, svc->sr);
}

int svc_schema_id(svc_t *svc, const char *topic, const av_schema_t *schema, int32_t *id,
                  char *errstr, size_t errstr_size) {
        char subject[300];
        *id = -1;
        if (svc->wire != AV_WIRE_CONFLUENT)
                return 0;
        if (sr_subject_for_topic(topic, subject, sizeof(subject))) {
                snprintf(errstr, errstr_size, "topic name too long for a subject: %s", topic);
                return -1;
        }
        if (sr_register(svc->sr, subject, av_schema_text(schema), id, errstr, errstr_size))
                return -1;
        return 0;
}

const av_schema_t *svc_schema(svc_t *svc, const char *fullname, char *errstr, size_t errstr_size) {
        const av_schema_t *s = av_registry_by_name(svc->schemas, fullname);
        if (!s)
                snprintf(errstr, errstr_size, "schema \"%s\" is not in SCHEMA_DIR", fullname);
        return s;
}
