/* out — Avro encoding of compute's aggregates and alerts (see out.h).
 * Fields are set by name: outputs are a small fraction of the input, and
 * names keep this file correct if the schemas gain fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

struct out_s {
        out_conf_t conf;
        avro_value_t agg, alert;
        int have_agg, have_alert;
        buf_t buf;  /* the encoded record */
        buf_t text; /* NUL-terminated copies of keys (avro-c strings need the NUL) */
};

out_t *out_new(const out_conf_t *conf) {
        out_t *o = calloc(1, sizeof(*o));
        if (!o)
                return NULL;
        o->conf = *conf;
        if (av_value_new(conf->aggregate_schema, &o->agg) == -1 ||
            (o->have_agg = 1, av_value_new(conf->alert_schema, &o->alert) == -1)) {
                out_destroy(o);
                return NULL;
        }
        o->have_alert = 1;
        return o;
}

void out_destroy(out_t *o) {
        if (!o)
                return;
        if (o->have_agg)
                avro_value_decref(&o->agg);
        if (o->have_alert)
                avro_value_decref(&o->alert);
        buf_free(&o->buf);
        buf_free(&o->text);
        free(o);
}

/* A NUL-terminated copy of n bytes, in o->text (valid until the next call). */
static const char *out_cstr(out_t *o, const char *s, size_t n) {
        o->text.len = 0;
        if (buf_append(&o->text, s, n) == -1 || buf_nul(&o->text) == -1)
                return NULL;
        return o->text.data;
}

#define OUT_CHECK(x)                                                                               \
        do {                                                                                       \
                if ((x) != 0)                                                                      \
                        goto fail;                                                                 \
        } while (0)

static int out_set_str(avro_value_t *rec, const char *name, const char *s) {
        avro_value_t f;
        if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
                return -1;
        return avro_value_set_string(&f, s);
}

static int out_set_long(avro_value_t *rec, const char *name, int64_t v) {
        avro_value_t f;
        if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
                return -1;
        return avro_value_set_long(&f, v);
}

/* A ["null", "double"] field: the double when `has`, else null. */
static int out_set_opt(avro_value_t *rec, const char *name, int has, double v) {
        avro_value_t f, b;
        if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
                return -1;
        if (!has) {
                if (avro_value_set_branch(&f, 0, &b) != 0)
                        return -1;
                return avro_value_set_null(&b);
        }
        if (avro_value_set_branch(&f, 1, &b) != 0)
                return -1;
        return avro_value_set_double(&b, v);
}

static int out_field_stats(avro_value_t *fs, const cp_field_stats_t *s) {
        if (out_set_str(fs, "name", s->name) || out_set_long(fs, "count", s->count))
                return -1;
        struct {
                const char *name;
                int has;
                double v;
        } opt[] = {
                {"sum", s->has_sum, s->sum},
                {"min", s->has_min, s->min},
                {"max", s->has_max, s->max},
                {"mean", s->has_mean, s->mean},
                {"variance", s->has_variance, s->variance},
                {"stddev", s->has_stddev, s->stddev},
                {"first", s->has_first, s->first},
                {"last", s->has_last, s->last},
                {"p50", s->has_p50, s->p50},
                {"p90", s->has_p90, s->p90},
                {"p95", s->has_p95, s->p95},
                {"p99", s->has_p99, s->p99},
                {"zscore", s->has_zscore, s->zscore},
        };
        for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
                if (out_set_opt(fs, opt[i].name, opt[i].has, opt[i].v))
                        return -1;
        return 0;
}

static int out_finish(out_t *o, const av_schema_t *schema, avro_value_t *v, int32_t id,
                      const void **value, size_t *len, char *errstr, size_t errstr_size) {
        o->buf.len = 0;
        if (av_encode(schema, v, o->conf.wire, id, &o->buf, errstr, errstr_size) == -1)
                return -1;
        *value = o->buf.data;
        *len = o->buf.len;
        return 0;
}

int out_aggregate(out_t *o, const cp_aggregate_t *a, const void **value, size_t *len, char *errstr,
                  size_t errstr_size) {
        avro_value_t *rec = &o->agg;
        avro_value_t f, fields, fs;
        avro_value_reset(rec);
        const char *key = out_cstr(o, a->key, a->key_len);
        OUT_CHECK(!key);
        OUT_CHECK(out_set_str(rec, "pipeline", o->conf.pipeline));
        OUT_CHECK(out_set_str(rec, "key", key));
        OUT_CHECK(out_set_str(rec, "window", a->window));
        OUT_CHECK(out_set_long(rec, "window_start", a->start_ms));
        OUT_CHECK(out_set_long(rec, "window_end", a->end_ms));
        OUT_CHECK(out_set_long(rec, "count", a->count));
        OUT_CHECK(avro_value_get_by_name(rec, "final", &f, NULL));
        OUT_CHECK(avro_value_set_boolean(&f, a->final ? 1 : 0));
        OUT_CHECK(out_set_long(rec, "emitted_at", a->emitted_at_ms));
        OUT_CHECK(avro_value_get_by_name(rec, "fields", &fields, NULL));
        for (size_t i = 0; i < a->nfields; i++) {
                OUT_CHECK(avro_value_append(&fields, &fs, NULL));
                OUT_CHECK(out_field_stats(&fs, &a->fields[i]));
        }
        return out_finish(o, o->conf.aggregate_schema, rec, o->conf.aggregate_schema_id, value, len,
                          errstr, errstr_size);
fail:
        snprintf(errstr, errstr_size, "aggregate of key %.*s, window %s: %s",
                 (int)(a->key_len > 200 ? 200 : a->key_len), a->key, a->window, avro_strerror());
        return -1;
}

int out_alert(out_t *o, const cp_alert_t *al, const void **value, size_t *len, char *errstr,
              size_t errstr_size) {
        avro_value_t *rec = &o->alert;
        avro_value_t f, map, e;
        avro_value_reset(rec);
        const char *key = out_cstr(o, al->key, al->key_len);
        OUT_CHECK(!key);
        OUT_CHECK(out_set_str(rec, "pipeline", o->conf.pipeline));
        OUT_CHECK(out_set_str(rec, "rule", al->rule));
        OUT_CHECK(out_set_str(rec, "key", key));
        OUT_CHECK(out_set_str(rec, "window", al->window));
        OUT_CHECK(out_set_long(rec, "window_start", al->start_ms));
        OUT_CHECK(out_set_long(rec, "window_end", al->end_ms));
        OUT_CHECK(avro_value_get_by_name(rec, "state", &f, NULL));
        OUT_CHECK(avro_value_set_enum(&f, al->state == CP_ALERT_FIRING ? 0 : 1));
        OUT_CHECK(avro_value_get_by_name(rec, "severity", &f, NULL));
        OUT_CHECK(avro_value_set_enum(&f, (int)al->severity));
        OUT_CHECK(out_set_str(rec, "expr", al->expr));
        OUT_CHECK(avro_value_get_by_name(rec, "values", &map, NULL));
        for (size_t i = 0; i < al->nvalues; i++) {
                OUT_CHECK(avro_value_add(&map, al->values[i].name, &e, NULL, NULL));
                OUT_CHECK(avro_value_set_double(&e, al->values[i].value));
        }
        OUT_CHECK(avro_value_get_by_name(rec, "labels", &map, NULL));
        for (size_t i = 0; i < al->nlabels; i++) {
                OUT_CHECK(avro_value_add(&map, al->labels[i].key, &e, NULL, NULL));
                OUT_CHECK(avro_value_set_string(&e, al->labels[i].value));
        }
        OUT_CHECK(out_set_long(rec, "emitted_at", al->emitted_at_ms));
        return out_finish(o, o->conf.alert_schema, rec, o->conf.alert_schema_id, value, len, errstr,
                          errstr_size);
fail:
        snprintf(errstr, errstr_size, "alert %s of key %.*s: %s", al->rule,
                 (int)(al->key_len > 200 ? 200 : al->key_len), al->key, avro_strerror());
        return -1;
}
