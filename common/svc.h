/* svc — the start-up and shutdown every Weir service shares, so that the four
 * main()s hold only what is their own.
 *
 * svc_init() reads svc_conf_tab (LOG_LEVEL, PIPELINE_SPEC, SCHEMA_DIR,
 * WIRE_FORMAT, SCHEMA_REGISTRY_URL, SCHEMA_REGISTRY_CREDENTIALS, ADMIN_BIND,
 * ADMIN_PORT, ADMIN_STALL: svc.c, and the "common" settings table of
 * docs/deploy.md generated from it), then OTEL_* (common/otel.h), and
 * stops at the first bad value with a message naming it;
 * and installs SIGTERM/SIGINT handlers that set svc->stop (a second signal
 * exits at once with status 130). */
#ifndef WEIR_SVC_H
#define WEIR_SVC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "av_wire.h"
#include "cfg_tab.h"
#include "spec.h"
#include "sr.h"
#include "st.h"

typedef struct svc_s {
        const char *stage;               /* "ingress", "compute", ... */
        spec_t *spec;                    /* owned */
        av_registry_t *schemas;          /* owned: SCHEMA_DIR */
        const av_schema_t *input_schema; /* spec->input.schema in `schemas` */
        av_wire_t wire;                  /* WIRE_FORMAT */
        sr_t *sr;                        /* owned; NULL without SCHEMA_REGISTRY_URL */
        admin_t *admin;                  /* owned */
        int starting;                    /* readiness condition until svc_started() */
        atomic_int stop;                 /* non-zero after SIGTERM/SIGINT */
} svc_t;

/* The settings every service reads (see above). */
extern const cfg_tab_t svc_conf_tab;

/* Fills *svc as above.  `spec_parts`: SPEC_PART_* the service reads.
 * Returns 0, or -1 with errstr set (and whatever was started stopped).
 * Only one svc_t per process (the signal handlers point at it). */
int svc_init(svc_t *svc, const char *stage, unsigned spec_parts, char *errstr, size_t errstr_size);

/* The service has registered all its readiness conditions (its clients
 * exist): until then /readyz answers 503 "unmet: starting", since a
 * condition not registered yet cannot hold readiness back. */
void svc_started(svc_t *svc);

/* Stops the admin server and frees everything svc_init() made. */
void svc_fini(svc_t *svc);

/* Installs the SIGTERM/SIGINT handlers svc_init() uses, for a program
 * without the rest of svc_t (the simulator, the dev broker): the first
 * signal sets *stop, a second exits at once with status 130; SIGPIPE is
 * ignored.  `stop` must outlive the process's signals.  Returns 0, or -1
 * with errstr set. */
int svc_signals_install(atomic_int *stop, char *errstr, size_t errstr_size);

/* Logs `errstr` as an error and also prints "weir-<stage>: <errstr>" on
 * stderr as plain text (for people reading a crash-looping pod), then
 * returns 1: `return svc_fail(stage, errstr);` from main(). */
int svc_fail(const char *stage, const char *errstr);

/* A decoder reading records as `reader` (NULL: as written), with
 * single-object fingerprints from svc->schemas and Confluent ids from the
 * Schema Registry when one is configured.  The caller frees it
 * (av_decoder_destroy); one per thread. */
av_decoder_t *svc_decoder_new(svc_t *svc, const av_schema_t *reader);

/* The schema id to write records of `schema` to `topic` with: -1 for
 * single-object framing; for Confluent framing the id the registry gives
 * under the topic's subject (<topic>-value), registering the schema.
 * Returns ST_OK with *id set, or with errstr the kind: ST_RETRY (registry
 * unreachable or busy), ST_INVALID (refused: incompatible schema, bad
 * credentials, a topic name too long for a subject), ST_FATAL. */
st_t svc_schema_id(svc_t *svc, const char *topic, const av_schema_t *schema, int32_t *id,
                   char *errstr, size_t errstr_size);

/* Returns the schema named `fullname` from svc->schemas, or NULL with errstr
 * naming SCHEMA_DIR. */
const av_schema_t *svc_schema(svc_t *svc, const char *fullname, char *errstr, size_t errstr_size);

#endif
