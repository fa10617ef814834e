/* simout — what weir-sim's outputs (simkafka, simhttp) count, in the
 * summary's terms. */
#ifndef WEIR_SIM_SIMOUT_H
#define WEIR_SIM_SIMOUT_H

#include <stdint.h>

typedef struct simstats_s {
        uint64_t sent;     /* records handed to Kafka or put in an HTTP request */
        uint64_t acked;    /* acknowledged: by Kafka, or by ingress with an offset */
        uint64_t rejected; /* refused by ingress with a per-record or 4xx error
                            * (what malformed records should get) */
        uint64_t failed;   /* never acknowledged: delivery error, transport error,
                            * 5xx after retries, or still unanswered at the end */
} simstats_t;

#endif
