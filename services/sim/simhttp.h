/* simhttp — weir-sim's HTTP output: readings to ingress as Confluent REST
 * Proxy v2 produce requests,
 *   POST <base>/topics/<topic>
 *   Content-Type: application/vnd.kafka.json.v2+json
 *   Accept: application/vnd.kafka.v2+json, application/json
 *   {"records":[{"key":"x-3","value":{...}}, ...]}
 * answered by {"key_schema_id":null,"value_schema_id":null,"offsets":[
 * {"partition":0,"offset":12,"error_code":null,"error":null}, ...]}, one
 * offset per record in order, over one libcurl handle (the connection is
 * kept alive).
 *
 * Each record's outcome is read from its offsets entry, so the client works
 * with REST Proxy's per-record errors and with Weir ingress's all-or-nothing
 * batches (docs/ingress.md): an entry with an offset is acknowledged; an
 * invalid record (422xx) is rejected and dropped; a valid record that was
 * not produced because of others (42210), or a retriable failure (429xx,
 * 503xx, 408xx, REST Proxy's 2) is sent again in the next request — only
 * those, so nothing acknowledged is written twice; other errors fail the
 * record.  Without offsets, 429/503/408/5xx and transport errors retry the
 * whole request, other 4xx reject it.  Retries wait for Retry-After (or a
 * backoff doubling from 100 ms to 5 s), except a resend after 42210; a
 * request gives up after 10 rounds, failing what is left. */
#ifndef WEIR_SIM_SIMHTTP_H
#define WEIR_SIM_SIMHTTP_H

#include <stdatomic.h>
#include <stddef.h>

#include "simout.h"
#include "tgen.h"

typedef struct simhttp_s simhttp_t;

/* `base_url` like http://127.0.0.1:8080 (a trailing '/' is fine).  `stop`
 * (may be NULL) cuts retry waits short when it becomes non-zero.  NULL with
 * errstr. */
simhttp_t *simhttp_new(const char *base_url, const char *topic, int batch, atomic_int *stop,
                       char *errstr, size_t errstr_size);
void simhttp_destroy(simhttp_t *h);

/* Adds a reading to the pending request; sends it when it holds `batch`
 * records.  0, or -1 when out of memory. */
int simhttp_add(simhttp_t *h, const tgen_reading_t *r);
/* Sends what is pending. */
void simhttp_flush(simhttp_t *h);
/* Records added and not yet sent. */
size_t simhttp_pending(const simhttp_t *h);
void simhttp_stats(const simhttp_t *h, simstats_t *out);

/* What became of one record of an answered request. */
typedef enum {
        SIMHTTP_ACKED = 0,
        SIMHTTP_REJECTED,
        SIMHTTP_RETRY,     /* send again after a wait */
        SIMHTTP_RETRY_NOW, /* send again at once (42210: valid, not produced) */
        SIMHTTP_FAILED,
} simhttp_outcome_t;

/* Classifies the `n` records of one request (exposed for unit tests) from
 * the HTTP status (0: no answer) and body into out[0..n).  errstr gets the
 * first error seen, or "". */
void simhttp_classify(long status, const char *body, size_t body_len, size_t n, unsigned char *out,
                      char *errstr, size_t errstr_size);

#endif
