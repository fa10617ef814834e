/* av_avroc — builds the avro-c schema equivalent to our parsed graph.
 *
 * Built through avro-c's constructors rather than by handing it the text, so
 * the two views of a schema cannot disagree (field order, union branch order,
 * name resolution): the walkers address avro-c values by the indexes of our
 * graph.  A named type's first occurrence is its definition; later ones,
 * including recursive ones, are avro-c links to it, as avro-c's own parser
 * does. */
#include <stdio.h>

#include "av_int.h"

static avro_schema_t build(av_node_t *n, char *err, size_t err_size);

static avro_schema_t build_named(av_node_t *n, char *err, size_t err_size) {
        if (n->built)
                return avro_schema_link(n->built);
        const char *dot = strrchr(n->name, '.');
        char space[512] = "";
        if (dot) {
                if ((size_t)(dot - n->name) >= sizeof(space)) {
                        snprintf(err, err_size, "namespace of %.100s too long", n->name);
                        return NULL;
                }
                memcpy(space, n->name, (size_t)(dot - n->name));
                space[dot - n->name] = '\0';
        }
        const char *shortname = dot ? dot + 1 : n->name;
        const char *ns = dot ? space : NULL;
        avro_schema_t s = NULL;
        if (n->type == AV_T_FIXED) {
                s = avro_schema_fixed_ns(shortname, ns, (int64_t)n->size);
        } else if (n->type == AV_T_ENUM) {
                s = avro_schema_enum_ns(shortname, ns);
                for (size_t i = 0; s && i < n->n_symbols; i++) {
                        if (avro_schema_enum_symbol_append(s, n->symbols[i]) != 0) {
                                avro_schema_decref(s);
                                s = NULL;
                        }
                }
        } else {
                s = avro_schema_record(shortname, ns);
                /* Set before the fields so that a field referring back to
                 * this record becomes a link. */
                n->built = s;
                for (size_t i = 0; s && i < n->n_fields; i++) {
                        avro_schema_t f = build(n->fields[i].type, err, err_size);
                        int rc = f ? avro_schema_record_field_append(s, n->fields[i].name, f) : -1;
                        if (f)
                                avro_schema_decref(f);
                        if (rc != 0) {
                                avro_schema_decref(s);
                                s = NULL;
                        }
                }
        }
        n->built = s;
        if (!s && !err[0])
                snprintf(err, err_size, "avro-c rejected %s: %s", n->name, avro_strerror());
        return s;
}

static avro_schema_t build(av_node_t *n, char *err, size_t err_size) {
        avro_schema_t s = NULL, child;
        switch (n->type) {
        case AV_T_NULL:
                return avro_schema_null();
        case AV_T_BOOLEAN:
                return avro_schema_boolean();
        case AV_T_INT:
                return avro_schema_int();
        case AV_T_LONG:
                return avro_schema_long();
        case AV_T_FLOAT:
                return avro_schema_float();
        case AV_T_DOUBLE:
                return avro_schema_double();
        case AV_T_BYTES:
                return avro_schema_bytes();
        case AV_T_STRING:
                return avro_schema_string();
        case AV_T_RECORD:
        case AV_T_ENUM:
        case AV_T_FIXED:
                return build_named(n, err, err_size);
        case AV_T_ARRAY:
        case AV_T_MAP:
                if (!(child = build(n->items, err, err_size)))
                        return NULL;
                s = n->type == AV_T_ARRAY ? avro_schema_array(child) : avro_schema_map(child);
                avro_schema_decref(child);
                return s;
        case AV_T_UNION:
                s = avro_schema_union();
                for (size_t i = 0; s && i < n->n_branches; i++) {
                        if (!(child = build(n->branches[i], err, err_size))) {
                                avro_schema_decref(s);
                                return NULL;
                        }
                        int rc = avro_schema_union_append(s, child);
                        avro_schema_decref(child);
                        if (rc != 0) {
                                avro_schema_decref(s);
                                return NULL;
                        }
                }
                return s;
        }
        return NULL;
}

int av_avroc_build(av_schema_t *s, char *errstr, size_t errstr_size) {
        errstr[0] = '\0';
        s->avro = build(s->root, errstr, errstr_size);
        if (!s->avro && !errstr[0])
                snprintf(errstr, errstr_size, "avro-c: %s", avro_strerror());
        return s->avro ? 0 : -1;
}
