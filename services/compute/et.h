/* et — the event time of an input record in the forms users send it
 * (docs/compute.md, "Event time"):
 *
 *   long                                   milliseconds since the epoch
 *   long timestamp-millis / -micros / -nanos
 *   long local-timestamp-millis / -micros / -nanos   read as UTC
 *   int  date                              days since the epoch (midnight UTC)
 *   string + input.event_time_format       "rfc3339" or a strftime-style pattern,
 *                                          in input.event_time_zone unless the
 *                                          value carries its own offset
 *
 * (or a union of null and one of them).  The plan is made once at start-up
 * from the input schema's JSON (avro-c drops logical types); per record it is
 * integer arithmetic or a small hand-written parser: no allocation, no
 * locale, no zone database. */
#ifndef WEIR_ET_H
#define WEIR_ET_H

#include <stddef.h>
#include <stdint.h>

#include "av_schema.h"
#include "spec.h"

typedef enum {
        ET_KAFKA = 0, /* no event_time field: the Kafka record timestamp */
        ET_MS,
        ET_US,
        ET_NS,
        ET_DAYS,
        ET_STRING
} et_unit_t;

typedef struct et_plan_s {
        et_unit_t unit;
        int idx;         /* the field's position in the input record; -1 for ET_KAFKA */
        int rfc3339;     /* ET_STRING: RFC 3339 rather than fmt */
        const char *fmt; /* ET_STRING pattern (the spec's string: it must outlive the plan) */
        int32_t zone_s;  /* offset east of UTC of times without their own */
        char type[96];   /* the field's type as the logs and errors say it */
} et_plan_t;

/* Reads the spec's event-time settings against the input schema.  Returns
 * 0, or -1 with errstr naming the JSON path and the field's type, e.g.
 *   $.input.event_time: field "ts" of weir.X is an int without a logical
 *   type, which compute cannot read as a time (...) */
int et_plan_init(et_plan_t *pl, const spec_input_t *in, const av_schema_t *input, char *errstr,
                 size_t errstr_size);

/* A number in the plan's unit to milliseconds (rounded down, so times
 * before 1970 fall in the right millisecond).  0, or -1 when out of range. */
int et_number_ms(const et_plan_t *pl, int64_t v, int64_t *ms);

/* Parses a string time of n bytes (not NUL-terminated).  0, or -1 with
 * errstr quoting the value (at most 64 bytes of it, escaped). */
int et_parse(const et_plan_t *pl, const char *s, size_t n, int64_t *ms, char *errstr,
             size_t errstr_size);

/* Checks a pattern: every directive known.  0, or -1 with why. */
int et_format_check(const char *fmt, char *why, size_t whysz);

#endif
