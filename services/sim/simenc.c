/* simenc — readings to Avro (through av_encode) or REST Proxy JSON, with
 * the malformed variants described in simenc.h. */
#include "simenc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_SENSOR, F_ISECT, F_TS, F_SPEED, F_COUNT, F_OCC, F_LANE, F_N };

static const char *const field_names[F_N] = {"sensor_id",     "intersection_id", "ts",  "speed_kmh",
                                             "vehicle_count", "occupancy_pct",   "lane"};
static const avro_type_t field_types[F_N] = {AVRO_STRING, AVRO_STRING, AVRO_INT64, AVRO_DOUBLE,
                                             AVRO_INT32,  AVRO_FLOAT,  AVRO_UNION};

struct simenc_s {
        const av_schema_t *schema;
        av_wire_t wire;
        int32_t schema_id;
        avro_value_t value;
        size_t idx[F_N];
};

simenc_t *simenc_new(const av_schema_t *schema, av_wire_t wire, int32_t schema_id, char *errstr,
                     size_t errstr_size) {
        simenc_t *e = calloc(1, sizeof(*e));
        if (!e || av_value_new(schema, &e->value)) {
                free(e);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        e->schema = schema;
        e->wire = wire;
        e->schema_id = schema_id;
        for (int f = 0; f < F_N; f++) {
                avro_value_t child;
                size_t idx = 0;
                if (avro_value_get_by_name(&e->value, field_names[f], &child, &idx) ||
                    avro_value_get_type(&child) != field_types[f]) {
                        snprintf(errstr, errstr_size,
                                 "schema %s: field %s missing or not of the type of "
                                 "weir.example.TrafficReading",
                                 av_schema_name(schema) ? av_schema_name(schema) : "?",
                                 field_names[f]);
                        simenc_destroy(e);
                        return NULL;
                }
                e->idx[f] = idx;
        }
        return e;
}

void simenc_destroy(simenc_t *e) {
        if (!e)
                return;
        avro_value_decref(&e->value);
        free(e);
}

static int set_fields(simenc_t *e, const tgen_reading_t *r) {
        avro_value_t f, branch;
        int rc = 0;
        rc |= avro_value_get_by_index(&e->value, e->idx[F_SENSOR], &f, NULL) ||
              avro_value_set_string(&f, r->sensor_id);
        rc |= avro_value_get_by_index(&e->value, e->idx[F_ISECT], &f, NULL) ||
              avro_value_set_string(&f, r->intersection_id);
        rc |= avro_value_get_by_index(&e->value, e->idx[F_TS], &f, NULL) ||
              avro_value_set_long(&f, r->ts);
        rc |= avro_value_get_by_index(&e->value, e->idx[F_SPEED], &f, NULL) ||
              avro_value_set_double(&f, r->speed_kmh);
        rc |= avro_value_get_by_index(&e->value, e->idx[F_COUNT], &f, NULL) ||
              avro_value_set_int(&f, r->vehicle_count);
        rc |= avro_value_get_by_index(&e->value, e->idx[F_OCC], &f, NULL) ||
              avro_value_set_float(&f, (float)r->occupancy_pct);
        rc |= avro_value_get_by_index(&e->value, e->idx[F_LANE], &f, NULL);
        if (!rc) {
                /* ["null", "int"]: branch 0 is null. */
                if (r->lane < 0)
                        rc |= avro_value_set_branch(&f, 0, &branch) || avro_value_set_null(&branch);
                else
                        rc |= avro_value_set_branch(&f, 1, &branch) ||
                              avro_value_set_int(&branch, r->lane);
        }
        return rc;
}

int simenc_avro(simenc_t *e, const tgen_reading_t *r, buf_t *out, char *errstr,
                size_t errstr_size) {
        out->len = 0;
        if (set_fields(e, r)) {
                snprintf(errstr, errstr_size, "setting the record's fields: %s", avro_strerror());
                return -1;
        }
        if (av_encode(e->schema, &e->value, e->wire, e->schema_id, out, errstr, errstr_size))
                return -1;
        size_t hdr = e->wire == AV_WIRE_CONFLUENT ? 5 : 10;
        unsigned char *d = (unsigned char *)out->data;
        switch (r->malformed) {
        case 1: /* truncated body */
                out->len = hdr + (out->len - hdr) / 2;
                break;
        case 2: /* wrong magic */
                d[0] = e->wire == AV_WIRE_CONFLUENT ? 0x07 : 0xC3;
                if (e->wire != AV_WIRE_CONFLUENT)
                        d[1] = 0x02;
                break;
        case 3: /* unknown writer schema */
                if (e->wire == AV_WIRE_CONFLUENT) {
                        d[1] = 0x7f;
                        d[2] = d[3] = d[4] = 0xff;
                } else {
                        for (size_t i = 2; i < 10; i++)
                                d[i] ^= 0x5a;
                }
                break;
        case 4: /* bytes after the record */
                if (buf_append(out, "\x02\x04\x06", 3)) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                break;
        default:
                break;
        }
        return 0;
}

int simenc_json(const tgen_reading_t *r, buf_t *out) {
        /* Ids are generated ("x-<n>-s<n>"): nothing to escape. */
        char tmp[512];
        char lane[16], speed[40], count[40];
        if (r->lane < 0)
                snprintf(lane, sizeof(lane), "null");
        else
                snprintf(lane, sizeof(lane), "%d", r->lane);
        if (r->malformed == 1)
                snprintf(speed, sizeof(speed), "\"fast\"");
        else
                snprintf(speed, sizeof(speed), "%.15g", r->speed_kmh);
        if (r->malformed == 4)
                snprintf(count, sizeof(count), "%d.5", r->vehicle_count);
        else
                snprintf(count, sizeof(count), "%" PRId32, r->vehicle_count);
        int n = snprintf(
                tmp, sizeof(tmp),
                "{\"key\":\"%s\",\"value\":{\"sensor_id\":\"%s\",\"intersection_id\":"
                "\"%s\",\"ts\":%" PRId64 ",\"speed_kmh\":%s%s%s,\"occupancy_pct\":%.15g,"
                "\"lane\":%s%s}}",
                r->intersection_id, r->sensor_id, r->intersection_id, r->ts, speed,
                r->malformed == 2 ? "" : ",\"vehicle_count\":", r->malformed == 2 ? "" : count,
                r->occupancy_pct, lane, r->malformed == 3 ? ",\"colour\":\"red\"" : "");
        if (n < 0 || (size_t)n >= sizeof(tmp))
                return -1;
        return buf_append(out, tmp, (size_t)n);
}
