/* wk_rec — input record → cp_record_t (see wk_rec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wk_rec.h"

/* The non-null type of a field's schema: itself, or the other branch of a
 * [null, T] union; NULL for any other union. */
static avro_schema_t wk_rec_base(avro_schema_t s) {
        if (!is_avro_union(s))
                return s;
        size_t n = avro_schema_union_size(s);
        avro_schema_t other = NULL;
        for (size_t i = 0; i < n; i++) {
                avro_schema_t b = avro_schema_union_branch(s, (int)i);
                if (is_avro_null(b))
                        continue;
                if (other)
                        return NULL;
                other = b;
        }
        return other;
}

static int wk_rec_field(avro_schema_t rec, const char *name, const char *path, const char *what,
                        int (*ok)(avro_schema_t), const char *want, const char *schema_name,
                        char *errstr, size_t errstr_size) {
        int idx = avro_schema_record_field_get_index(rec, name);
        if (idx < 0) {
                snprintf(errstr, errstr_size, "%s: %s field \"%s\" is not a field of %s", path,
                         what, name, schema_name);
                return -1;
        }
        avro_schema_t base = wk_rec_base(avro_schema_record_field_get_by_index(rec, idx));
        if (!base || !ok(base)) {
                snprintf(errstr, errstr_size, "%s: %s field \"%s\" of %s must be %s", path, what,
                         name, schema_name, want);
                return -1;
        }
        return idx;
}

static int wk_rec_key_ok(avro_schema_t s) {
        return is_avro_string(s) || is_avro_int32(s) || is_avro_int64(s) || is_avro_enum(s);
}

int wk_rec_plan_init(wk_rec_plan_t *pl, const spec_t *spec, const cp_engine_t *e,
                     const av_schema_t *input, char *errstr, size_t errstr_size) {
        memset(pl, 0, sizeof(*pl));
        avro_schema_t rec = av_schema_avro(input);
        const char *sname = av_schema_name(input) ? av_schema_name(input) : "the input schema";
        if (!is_avro_record(rec)) {
                snprintf(errstr, errstr_size, "$.input.schema: %s is not a record", sname);
                return -1;
        }
        pl->key_idx = wk_rec_field(rec, spec->input.key, "$.input.key", "key", wk_rec_key_ok,
                                   "a string, int, long or enum", sname, errstr, errstr_size);
        if (pl->key_idx < 0)
                return -1;
        if (et_plan_init(&pl->ts, &spec->input, input, errstr, errstr_size) == -1)
                return -1;
        pl->nfields = cp_engine_nfields(e);
        pl->field_idx = calloc(pl->nfields ? pl->nfields : 1, sizeof(int));
        if (!pl->field_idx) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (size_t i = 0; i < pl->nfields; i++) {
                /* cp_engine_new() already checked the fields are numeric. */
                pl->field_idx[i] = avro_schema_record_field_get_index(rec, cp_engine_field(e, i));
                if (pl->field_idx[i] < 0) {
                        snprintf(errstr, errstr_size,
                                 "$.compute.aggregates[%zu].field: \"%s\" is not a field of %s", i,
                                 cp_engine_field(e, i), sname);
                        wk_rec_plan_fini(pl);
                        return -1;
                }
        }
        return 0;
}

void wk_rec_plan_fini(wk_rec_plan_t *pl) {
        free(pl->field_idx);
        pl->field_idx = NULL;
}

int wk_rec_buf_init(wk_rec_buf_t *b, size_t nfields) {
        memset(b, 0, sizeof(*b));
        b->values = calloc(nfields ? nfields : 1, sizeof(double));
        b->present = calloc(nfields ? nfields : 1, 1);
        if (!b->values || !b->present) {
                wk_rec_buf_fini(b);
                return -1;
        }
        return 0;
}

void wk_rec_buf_fini(wk_rec_buf_t *b) {
        free(b->values);
        free(b->present);
        b->values = NULL;
        b->present = NULL;
}

/* The field at idx, through a union's current branch.  0, or -1 (null or
 * unreadable). */
static int wk_rec_get(avro_value_t *rec, int idx, avro_value_t *out) {
        avro_value_t f;
        if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) != 0)
                return -1;
        if (avro_value_get_type(&f) == AVRO_UNION) {
                if (avro_value_get_current_branch(&f, out) != 0)
                        return -1;
        } else {
                *out = f;
        }
        return avro_value_get_type(out) == AVRO_NULL ? -1 : 0;
}

static int wk_rec_number(avro_value_t *v, double *out) {
        switch (avro_value_get_type(v)) {
        case AVRO_INT32: {
                int32_t x;
                if (avro_value_get_int(v, &x))
                        return -1;
                *out = x;
                return 0;
        }
        case AVRO_INT64: {
                int64_t x;
                if (avro_value_get_long(v, &x))
                        return -1;
                *out = (double)x;
                return 0;
        }
        case AVRO_FLOAT: {
                float x;
                if (avro_value_get_float(v, &x))
                        return -1;
                *out = x;
                return 0;
        }
        case AVRO_DOUBLE:
                return avro_value_get_double(v, out);
        default:
                return -1;
        }
}

static const char *wk_rec_key(avro_value_t *k, wk_rec_buf_t *b, cp_record_t *r, char *errstr,
                              size_t errstr_size) {
        switch (avro_value_get_type(k)) {
        case AVRO_STRING: {
                const char *s;
                size_t size;
                if (avro_value_get_string(k, &s, &size) || size == 0)
                        break;
                r->key = s;
                r->key_len = size - 1; /* avro-c counts the NUL */
                return NULL;
        }
        case AVRO_INT32:
        case AVRO_INT64: {
                int64_t x = 0;
                int32_t x32;
                if (avro_value_get_type(k) == AVRO_INT32) {
                        if (avro_value_get_int(k, &x32))
                                break;
                        x = x32;
                } else if (avro_value_get_long(k, &x)) {
                        break;
                }
                int n = snprintf(b->keynum, sizeof(b->keynum), "%lld", (long long)x);
                r->key = b->keynum;
                r->key_len = (size_t)n;
                return NULL;
        }
        case AVRO_ENUM: {
                int sym;
                if (avro_value_get_enum(k, &sym))
                        break;
                const char *name = avro_schema_enum_get(avro_value_get_schema(k), sym);
                if (!name)
                        break;
                r->key = name;
                r->key_len = strlen(name);
                return NULL;
        }
        default:
                break;
        }
        snprintf(errstr, errstr_size, "the key field cannot be read as a key");
        return "key";
}

const char *wk_rec_extract(const wk_rec_plan_t *pl, avro_value_t *v, const rd_kafka_message_t *m,
                           wk_rec_buf_t *b, cp_record_t *r, char *errstr, size_t errstr_size) {
        avro_value_t f;
        if (wk_rec_get(v, pl->key_idx, &f) != 0) {
                snprintf(errstr, errstr_size, "the key field is null");
                return "key";
        }
        const char *cls = wk_rec_key(&f, b, r, errstr, errstr_size);
        if (cls)
                return cls;
        if (pl->ts.unit == ET_KAFKA) {
                rd_kafka_timestamp_type_t tt;
                r->ts_ms = rd_kafka_message_timestamp(m, &tt);
                if (r->ts_ms < 0) {
                        snprintf(errstr, errstr_size, "the Kafka record has no timestamp");
                        return "event_time";
                }
        } else if (wk_rec_get(v, pl->ts.idx, &f) != 0) {
                snprintf(errstr, errstr_size, "the event time field is null");
                return "event_time";
        } else if (pl->ts.unit == ET_STRING) {
                const char *s;
                size_t size;
                if (avro_value_get_string(&f, &s, &size) != 0 || size == 0) {
                        snprintf(errstr, errstr_size, "the event time cannot be read");
                        return "event_time";
                }
                if (et_parse(&pl->ts, s, size - 1, &r->ts_ms, errstr, errstr_size) != 0)
                        return "event_time";
        } else {
                int64_t x = 0;
                int32_t x32;
                int rc = avro_value_get_type(&f) == AVRO_INT32 ? avro_value_get_int(&f, &x32)
                                                               : avro_value_get_long(&f, &x);
                if (avro_value_get_type(&f) == AVRO_INT32)
                        x = x32;
                if (rc != 0 || et_number_ms(&pl->ts, x, &r->ts_ms) != 0) {
                        snprintf(errstr, errstr_size, "the event time %lld (%s) cannot be read",
                                 (long long)x, pl->ts.type);
                        return "event_time";
                }
        }
        for (size_t i = 0; i < pl->nfields; i++) {
                b->present[i] = wk_rec_get(v, pl->field_idx[i], &f) == 0 &&
                                wk_rec_number(&f, &b->values[i]) == 0;
        }
        r->values = b->values;
        r->present = b->present;
        return NULL;
}
