/* simhttp — weir-sim's HTTP output: readings to ingress as Confluent REST
 * Proxy v2 produce requests,
 *   POST <base>/topics/<topic>
 *   Content-Type: application/vnd.kafka.json.v2+json
 *   Accept: application/vnd.kafka.v2+json, application/json
 *   {"records":[{"key":"x-3","value":{...}}, ...]}
 * answered by {"key_schema_id":null,"value_schema_id":null,"offsets":[
 * {"partition":0,"offset":12,"error_code":null,"error":null}, ...]}, one
 * offset per record in order.  One libcurl handle, so the connection is kept
 * alive across requests.  429 and 503 are retried after Retry-After (or a
 * doubling backoff), other 5xx and transport errors with backoff, up to 10
 * attempts per request; a record is then counted as failed.  A per-record
 * error, or a 4xx for the whole request, counts its records as rejected. */
#ifndef WEIR_SIM_SIMHTTP_H
#define WEIR_SIM_SIMHTTP_H

#include <stddef.h>

#include "simout.h"
#include "tgen.h"

typedef struct simhttp_s simhttp_t;

/* `base_url` like http://127.0.0.1:8080 (a trailing '/' is fine).  `stop`
 * (may be NULL) cuts retry waits short when it becomes non-zero.  NULL with
 * errstr. */
simhttp_t *simhttp_new(const char *base_url, const char *topic, int batch, const volatile int *stop,
                       char *errstr, size_t errstr_size);
void simhttp_destroy(simhttp_t *h);

/* Adds a reading to the pending request; sends it when it holds `batch`
 * records.  0, or -1 when out of memory. */
int simhttp_add(simhttp_t *h, const tgen_reading_t *r);
/* Sends what is pending. */
void simhttp_flush(simhttp_t *h);
void simhttp_stats(const simhttp_t *h, simstats_t *out);

/* Counts the outcome of one answered request of `n` records from the HTTP
 * status and body (exposed for unit tests).  Returns 1 when the request
 * should be retried, else 0 with *out updated. */
int simhttp_account(long status, const char *body, size_t body_len, size_t n, simstats_t *out,
                    char *errstr, size_t errstr_size);

#endif
