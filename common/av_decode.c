/* av_decode — the per-thread decoder: framing, writer schema look-up,
 * validation, resolution into a reused value.  See av_wire.h.
 *
 * Each writer schema met gets a cache entry holding its compiled
 * writer→reader plans (or why it cannot be read), so the per-record work is
 * a header parse, a compare against the last entry used, one validation walk
 * and one read walk. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "av_int.h"
#include "av_wire.h"
#include "vec.h"

typedef struct entry_s {
        av_wire_t wire;
        uint64_t fingerprint;
        int32_t id;
        const av_schema_t *writer;
        av_schema_t *owned; /* writer parsed from the look-up callback */
        av_plans_t *plans;  /* NULL when the writer cannot be read */
        char *plan_err;
        avro_value_t value; /* without a reader: a value of the writer schema */
        int has_value;
} entry_t;

struct av_decoder_s {
        const av_registry_t *reg;
        const av_schema_t *reader;
        av_schema_lookup_cb lookup;
        void *opaque;
        avro_value_t rvalue;
        int has_rvalue;
        entry_t *entries;
        size_t n, size, last;
        buf_t scratch;
};

int av_wire_parse(const char *s, av_wire_t *out) {
        if (!strcasecmp(s, "single-object")) {
                *out = AV_WIRE_SINGLE_OBJECT;
                return 0;
        }
        if (!strcasecmp(s, "confluent")) {
                *out = AV_WIRE_CONFLUENT;
                return 0;
        }
        return -1;
}

const char *av_wire_name(av_wire_t wire) {
        return wire == AV_WIRE_CONFLUENT ? "confluent" : "single-object";
}

const char *av_status_name(int status) {
        switch (status) {
        case AV_OK:
                return "ok";
        case AV_ERR_MALFORMED:
                return "malformed";
        case AV_ERR_SCHEMA:
                return "schema";
        case AV_ERR_RETRY:
                return "retry";
        default:
                return "unknown";
        }
}

int av_header_parse(const void *buf, size_t len, av_header_t *h, char *errstr, size_t errstr_size) {
        const uint8_t *p = buf;
        memset(h, 0, sizeof(*h));
        if (len == 0) {
                snprintf(errstr, errstr_size, "empty record value");
                return AV_ERR_MALFORMED;
        }
        if (p[0] == 0xc3) {
                if (len >= 2 && p[1] != 0x01) {
                        snprintf(errstr, errstr_size,
                                 "bad single-object marker 0xc3 0x%02x (expected 0xc3 0x01)", p[1]);
                        return AV_ERR_MALFORMED;
                }
                if (len < 10) {
                        snprintf(errstr, errstr_size,
                                 "truncated single-object header (%zu of 10 bytes)", len);
                        return AV_ERR_MALFORMED;
                }
                h->wire = AV_WIRE_SINGLE_OBJECT;
                for (int i = 0; i < 8; i++)
                        h->fingerprint |= (uint64_t)p[2 + i] << (8 * i);
                h->len = 10;
                return AV_OK;
        }
        if (p[0] == 0x00) {
                if (len < 5) {
                        snprintf(errstr, errstr_size, "truncated Confluent header (%zu of 5 bytes)",
                                 len);
                        return AV_ERR_MALFORMED;
                }
                h->wire = AV_WIRE_CONFLUENT;
                h->schema_id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                                         (uint32_t)p[3] << 8 | p[4]);
                h->len = 5;
                return AV_OK;
        }
        snprintf(errstr, errstr_size,
                 "unknown magic byte 0x%02x (expected 0xc3 0x01 for Avro single-object or 0x00 "
                 "for Confluent framing)",
                 p[0]);
        return AV_ERR_MALFORMED;
}

av_decoder_t *av_decoder_new(const av_registry_t *reg, const av_schema_t *reader,
                             av_schema_lookup_cb lookup, void *opaque) {
        av_decoder_t *d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        d->reg = reg;
        d->reader = reader;
        d->lookup = lookup;
        d->opaque = opaque;
        if (reader) {
                if (av_value_new(reader, &d->rvalue) == -1) {
                        free(d);
                        return NULL;
                }
                d->has_rvalue = 1;
        }
        return d;
}

static void entry_free(entry_t *e) {
        if (e->has_value)
                avro_value_decref(&e->value);
        av_plans_destroy(e->plans);
        free(e->plan_err);
        av_schema_destroy(e->owned);
}

void av_decoder_destroy(av_decoder_t *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                entry_free(&d->entries[i]);
        free(d->entries);
        if (d->has_rvalue)
                avro_value_decref(&d->rvalue);
        buf_free(&d->scratch);
        free(d);
}

static int same_key(const entry_t *e, const av_header_t *h) {
        return e->wire == h->wire &&
               (h->wire == AV_WIRE_CONFLUENT ? e->id == h->schema_id
                                             : e->fingerprint == h->fingerprint);
}

/* Finds the writer schema for a header not cached yet.  Returns AV_OK with
 * *writer set (and *owned when the decoder must free it). */
static int find_writer(av_decoder_t *d, const av_header_t *h, const av_schema_t **writer,
                       av_schema_t **owned, char *errstr, size_t errstr_size) {
        *owned = NULL;
        if (h->wire == AV_WIRE_SINGLE_OBJECT) {
                *writer = d->reg ? av_registry_by_fingerprint(d->reg, h->fingerprint) : NULL;
                if (!*writer) {
                        snprintf(errstr, errstr_size,
                                 "unknown schema fingerprint %016" PRIx64
                                 " (none of the %zu local schemas has it)",
                                 h->fingerprint, d->reg ? av_registry_count(d->reg) : 0);
                        return AV_ERR_SCHEMA;
                }
                return AV_OK;
        }
        if (!d->lookup) {
                snprintf(errstr, errstr_size,
                         "Confluent-framed record (schema id %" PRId32
                         ") but no Schema Registry is configured",
                         h->schema_id);
                return AV_ERR_SCHEMA;
        }
        const char *json = NULL;
        char why[400] = "";
        int rc = d->lookup(d->opaque, h->schema_id, &json, why, sizeof(why));
        if (rc != 0 || !json) {
                snprintf(errstr, errstr_size, "schema id %" PRId32 ": %s", h->schema_id,
                         why[0] ? why : "not found");
                return rc == AV_LOOKUP_RETRY ? AV_ERR_RETRY : AV_ERR_SCHEMA;
        }
        char origin[32];
        snprintf(origin, sizeof(origin), "schema id %" PRId32, h->schema_id);
        if (!(*owned = av_schema_parse(json, strlen(json), origin, errstr, errstr_size)))
                return AV_ERR_SCHEMA;
        *writer = *owned;
        return AV_OK;
}

static int add_entry(av_decoder_t *d, const av_header_t *h, char *errstr, size_t errstr_size) {
        const av_schema_t *writer;
        av_schema_t *owned;
        int rc = find_writer(d, h, &writer, &owned, errstr, errstr_size);
        if (rc != AV_OK)
                return rc;
        if (VEC_RESERVE(d->entries, d->size, d->n + 1) == -1) {
                av_schema_destroy(owned);
                snprintf(errstr, errstr_size, "out of memory");
                return AV_ERR_RETRY;
        }
        entry_t *e = &d->entries[d->n];
        memset(e, 0, sizeof(*e));
        e->wire = h->wire;
        e->fingerprint = h->fingerprint;
        e->id = h->schema_id;
        e->writer = writer;
        e->owned = owned;
        const av_schema_t *target = d->reader ? d->reader : writer;
        char why[400];
        if (!(e->plans = av_plans_new(writer->root, target->root, why, sizeof(why)))) {
                /* Remembered, so each later record of this writer fails fast
                 * with the same reason instead of recompiling. */
                char msg[600];
                snprintf(msg, sizeof(msg), "writer schema %s (%s) cannot be read as %s: %s",
                         av_node_label(writer->root),
                         writer->origin[0] ? writer->origin : "from the record",
                         av_node_label(target->root), why);
                e->plan_err = strdup(msg);
        } else if (!d->reader) {
                if (av_value_new(writer, &e->value) == -1) {
                        entry_free(e);
                        snprintf(errstr, errstr_size, "out of memory");
                        return AV_ERR_RETRY;
                }
                e->has_value = 1;
        }
        d->last = d->n++;
        return AV_OK;
}

int av_decode(av_decoder_t *d, const void *buf, size_t len, av_decoded_t *out, char *errstr,
              size_t errstr_size) {
        av_header_t h;
        int rc = av_header_parse(buf, len, &h, errstr, errstr_size);
        if (rc != AV_OK)
                return rc;
        entry_t *e = NULL;
        if (d->n && same_key(&d->entries[d->last], &h)) {
                e = &d->entries[d->last];
        } else {
                for (size_t i = 0; i < d->n && !e; i++) {
                        if (same_key(&d->entries[i], &h)) {
                                e = &d->entries[i];
                                d->last = i;
                        }
                }
                if (!e) {
                        if ((rc = add_entry(d, &h, errstr, errstr_size)) != AV_OK)
                                return rc;
                        e = &d->entries[d->last];
                }
        }
        if (!e->plans) {
                snprintf(errstr, errstr_size, "%s", e->plan_err ? e->plan_err : "out of memory");
                return AV_ERR_SCHEMA;
        }
        const uint8_t *body = (const uint8_t *)buf + h.len;
        if (av_validate(e->writer, body, len - h.len, errstr, errstr_size) == -1)
                return AV_ERR_MALFORMED;
        avro_value_t *v = d->reader ? &d->rvalue : &e->value;
        av_rd_t r = {body, (const uint8_t *)buf + len};
        av_err_t err;
        if (av_plans_read(e->plans, &r, v, &d->scratch, &err) == -1) {
                av_err_format(&err, errstr, errstr_size);
                return AV_ERR_SCHEMA;
        }
        out->value = v;
        out->schema = d->reader ? d->reader : e->writer;
        out->writer = e->writer;
        out->header = h;
        return AV_OK;
}
