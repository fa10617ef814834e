/* svc — shared service start-up: logging, pipeline spec, schemas, wire
 * format, Schema Registry client, admin server and the stop signal.  See
 * svc.h for the variables read. */
#include "svc.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg_tab.h"
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

#ifndef __SANITIZE_ADDRESS__
/* A crash (an assertion in a library, a heap check, a bad pointer) says
 * which signal and where before the process dies the default way, so a
 * log is enough to tell one crash from another: one JSON line, then the
 * stack as backtrace_symbols_fd() prints it (addresses without symbols for
 * static functions: addr2line -e <binary> turns them into lines).  Only
 * async-signal-safe calls; backtrace() was called once at install so it
 * does not load libgcc_s here. */
static void svc_on_crash(int sig) {
        const char *name = sig == SIGSEGV  ? "SIGSEGV"
                           : sig == SIGBUS ? "SIGBUS"
                           : sig == SIGILL ? "SIGILL"
                           : sig == SIGFPE ? "SIGFPE"
                                           : "SIGABRT";
        char line[160] = "{\"level\":\"error\",\"component\":\"svc\",\"msg\":\"fatal signal ";
        size_t n = strlen(line);
        for (const char *c = name; *c && n < sizeof(line) - 32; c++)
                line[n++] = *c;
        const char *tail = ": stack follows\"}\n";
        for (const char *c = tail; *c; c++)
                line[n++] = *c;
        ssize_t w = write(STDERR_FILENO, line, n);
        (void)w;
        void *frames[64];
        int nf = backtrace(frames, 64);
        backtrace_symbols_fd(frames, nf, STDERR_FILENO);
        signal(sig, SIG_DFL);
        raise(sig);
}

#endif

/* Not under AddressSanitizer, whose own handlers report more. */
static void svc_crash_install(void) {
#ifndef __SANITIZE_ADDRESS__
        void *warm[1];
        (void)backtrace(warm, 1);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = svc_on_crash;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = (int)SA_RESETHAND;
        const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                sigaction(sigs[i], &sa, NULL);
#endif
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
        svc_crash_install();
        return 0;
}

/* What svc_load() reads from the environment (svc_conf_tab). */
typedef struct svc_conf_s {
        int log_level;
        const char *spec_path, *schema_dir;
        int wire; /* av_wire_t */
        const char *sr_url, *sr_cred;
        const char *admin_bind;
        int64_t admin_port, admin_stall_ms;
} svc_conf_t;

#define F(m) CFG_FIELD(svc_conf_t, m)
static const char *const svc_levels[] = {"debug", "info", "warn", "warning", "error", NULL};
/* In the order of av_wire_t. */
static const char *const svc_wires[] = {"single-object", "confluent", NULL};

static const cfg_def_t svc_conf_rows[] = {
        {.name = "LOG_LEVEL",
         .type = CFG_ENUM,
         F(log_level),
         .def = "info",
         .choices = svc_levels,
         .doc = "the least severe log lines written (JSON lines on stderr)"},
        {.name = "PIPELINE_SPEC",
         .type = CFG_STR,
         F(spec_path),
         .flags = CFG_REQUIRED,
         .form = "a path",
         .doc = "the pipeline spec (docs/pipeline-spec.md); the parts the service reads are "
                "validated at start-up"},
        {.name = "SCHEMA_DIR",
         .type = CFG_STR,
         F(schema_dir),
         .def = "schemas",
         .form = "a path",
         .doc = "folder of `*.avsc`: the spec's input schema and those the service writes "
                "(`weir.Aggregate`, `weir.Alert`) must be in it"},
        {.name = "WIRE_FORMAT",
         .type = CFG_ENUM,
         F(wire),
         .def = "single-object",
         .choices = svc_wires,
         .doc = "framing of the records the service writes; `confluent` needs "
                "`SCHEMA_REGISTRY_URL` (schemas are registered under `<topic>-value`). Input in "
                "either framing is always read"},
        {.name = "SCHEMA_REGISTRY_URL",
         .type = CFG_STR,
         F(sr_url),
         .form = "a URL",
         .doc = "Confluent-compatible Schema Registry; required for `WIRE_FORMAT=confluent` and "
                "to read Confluent-framed input"},
        {.name = "SCHEMA_REGISTRY_CREDENTIALS",
         .type = CFG_SECRET,
         F(sr_cred),
         .doc = "`user:password` for the registry's basic auth"},
        {.name = "ADMIN_BIND",
         .type = CFG_STR,
         F(admin_bind),
         .def = "0.0.0.0",
         .form = "an IPv4 address",
         .doc = "address of the admin server: `/metrics`, `/healthz`, `/readyz`"},
        {.name = "ADMIN_PORT",
         .type = CFG_INT,
         F(admin_port),
         .def = "9400",
         .min = 0,
         .max = 65535,
         .doc = "port of the admin server (0: any free one, logged)"},
        {.name = "ADMIN_STALL",
         .type = CFG_DURATION,
         F(admin_stall_ms),
         .def = "30s",
         .min = 0,
         .max = INT64_MAX,
         .doc = "`/healthz` fails when the main loop has not beaten for this long"},
};
#undef F

const cfg_tab_t svc_conf_tab = CFG_TAB("common", svc_conf_rows);

static int svc_load(svc_t *svc, unsigned spec_parts, char *errstr, size_t errstr_size) {
        svc_conf_t c;

        if (log_init(svc->stage, errstr, errstr_size))
                return -1;
        memset(&c, 0, sizeof(c));
        if (cfg_tab_load(&svc_conf_tab, NULL, &c, errstr, errstr_size) == -1)
                return -1;
        svc->wire = (av_wire_t)c.wire;
        if (!(svc->spec = spec_load(c.spec_path, spec_parts, errstr, errstr_size)))
                return -1;

        svc->schemas = av_registry_new();
        if (av_registry_load_dir(svc->schemas, c.schema_dir, errstr, errstr_size) < 0)
                return -1;
        svc->input_schema = av_registry_by_name(svc->schemas, svc->spec->input.schema);
        if (!svc->input_schema) {
                snprintf(errstr, errstr_size,
                         "%s: $.input.schema: schema \"%s\" is not in SCHEMA_DIR=\"%s\"",
                         svc->spec->path, svc->spec->input.schema, c.schema_dir);
                return -1;
        }

        if (c.sr_url && !(svc->sr = sr_new(c.sr_url, c.sr_cred, errstr, errstr_size)))
                return -1;
        if (svc->wire == AV_WIRE_CONFLUENT && !svc->sr) {
                snprintf(errstr, errstr_size,
                         "WIRE_FORMAT=confluent needs SCHEMA_REGISTRY_URL to be set");
                return -1;
        }

        if (otel_init(svc->stage, errstr, errstr_size)) /* OTEL_*: off unless set */
                return -1;
        /* "starting" exists before the first request can be answered. */
        if (!(svc->admin = admin_new(c.admin_stall_ms, errstr, errstr_size)))
                return -1;
        svc->starting = admin_ready_condition(svc->admin, "starting");
        if (admin_listen(svc->admin, c.admin_bind, (uint16_t)c.admin_port, errstr, errstr_size))
                return -1;
        /* process_* and weir_build_info, refreshed at each /metrics. */
        if (procm_register(svc->stage) != 0) {
                snprintf(errstr, errstr_size, "process metrics: names clash");
                return -1;
        }
        log_info("main", "admin server on %s:%u; pipeline \"%s\" from %s; %zu schemas from %s; %s",
                 c.admin_bind, (unsigned)admin_port(svc->admin), svc->spec->name, c.spec_path,
                 av_registry_count(svc->schemas), c.schema_dir, av_wire_name(svc->wire));
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

st_t svc_schema_id(svc_t *svc, const char *topic, const av_schema_t *schema, int32_t *id,
                   char *errstr, size_t errstr_size) {
        char subject[300];
        *id = -1;
        if (svc->wire != AV_WIRE_CONFLUENT)
                return ST_OK;
        if (sr_subject_for_topic(topic, subject, sizeof(subject))) {
                snprintf(errstr, errstr_size, "topic name too long for a subject: %s", topic);
                return ST_INVALID;
        }
        return sr_err_kind(
                sr_register(svc->sr, subject, av_schema_text(schema), id, errstr, errstr_size));
}

const av_schema_t *svc_schema(svc_t *svc, const char *fullname, char *errstr, size_t errstr_size) {
        const av_schema_t *s = av_registry_by_name(svc->schemas, fullname);
        if (!s)
                snprintf(errstr, errstr_size, "schema \"%s\" is not in SCHEMA_DIR", fullname);
        return s;
}
