/* av_schema — parses Avro schema JSON (over cJSON) into the graph of
 * av_int.h, applying the specification's name rules, then derives the
 * canonical form, fingerprint and avro-c schema.  See av_schema.h. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_int.h"
#include "av_json.h"
#include "vec.h"

/* Fixed values live inline in avro-c's generic records; a huge declared size
 * would make every value that large. */
#define AV_MAX_FIXED_SIZE (1u << 20)

typedef struct pctx_s {
        av_schema_t *s;
        av_node_t **named; /* named types defined so far */
        size_t n_named, named_size;
        char err[400];
        int located; /* err already says which field it is about */
} pctx_t;

static const char *const type_names[] = {"null",   "boolean", "int",    "long",   "float",
                                         "double", "bytes",   "string", "record", "enum",
                                         "array",  "map",     "union",  "fixed"};

const char *av_type_name(av_type_t t) {
        return type_names[t];
}

const char *av_node_label(const av_node_t *n) {
        return n->name ? n->name : type_names[n->type];
}

static int fail(pctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(pctx_t *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
        return -1;
}

static int is_primitive(const char *s, av_type_t *t) {
        for (int i = AV_T_NULL; i <= AV_T_STRING; i++) {
                if (!strcmp(s, type_names[i])) {
                        if (t)
                                *t = (av_type_t)i;
                        return 1;
                }
        }
        return 0;
}

/* [A-Za-z_][A-Za-z0-9_]*, the specification's name rule (ASCII whatever
 * the locale). */
int av_valid_name(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' ||
                      (i > 0 && ch >= '0' && ch <= '9')))
                        return 0;
        }
        return len > 0;
}

/* Dot-separated names, none empty. */
static int valid_fullname(const char *s) {
        const char *dot;
        while ((dot = strchr(s, '.'))) {
                if (!av_valid_name(s, (size_t)(dot - s)))
                        return 0;
                s = dot + 1;
        }
        return av_valid_name(s, strlen(s));
}

/* Returns a malloc'ed "ns.name", or name alone when ns is empty or NULL. */
static char *qualify(const char *ns, const char *name) {
        size_t nl = ns ? strlen(ns) : 0, ml = strlen(name);
        char *r = malloc(nl + ml + 2);
        if (!r)
                return NULL;
        if (nl) {
                memcpy(r, ns, nl);
                r[nl] = '.';
                memcpy(r + nl + 1, name, ml + 1);
        } else {
                memcpy(r, name, ml + 1);
        }
        return r;
}

static av_node_t *new_node(pctx_t *c, av_type_t type) {
        av_schema_t *s = c->s;
        if (VEC_RESERVE(s->nodes, s->nodes_size, s->n_nodes + 1) == -1)
                return NULL;
        av_node_t *n = calloc(1, sizeof(*n));
        if (!n) {
                fail(c, "out of memory");
                return NULL;
        }
        n->type = type;
        n->enum_default = -1;
        n->min_size = SIZE_MAX;
        s->nodes[s->n_nodes++] = n;
        return n;
}

static av_node_t *find_named(pctx_t *c, const char *fullname) {
        for (size_t i = 0; i < c->n_named; i++)
                if (!strcmp(c->named[i]->name, fullname))
                        return c->named[i];
        return NULL;
}

/* A type given by name: a primitive or a named type defined earlier.  Like
 * Java's parser, an unqualified name not found in the enclosing namespace is
 * also tried in the null namespace. */
static av_node_t *parse_ref(pctx_t *c, const char *name, const char *ns) {
        av_type_t t;
        if (is_primitive(name, &t))
                return new_node(c, t);
        av_node_t *n = NULL;
        if (!strchr(name, '.') && ns && *ns) {
                char *full = qualify(ns, name);
                if (!full) {
                        fail(c, "out of memory");
                        return NULL;
                }
                n = find_named(c, full);
                free(full);
        }
        if (!n)
                n = find_named(c, name);
        if (!n)
                fail(c, "unknown type \"%.100s\"", name);
        return n;
}

/* Reads name/namespace/aliases of a named type and registers it.  *child_ns
 * points into n->name (the namespace for types nested inside). */
static int named_header(pctx_t *c, const cJSON *j, const char *ns, av_node_t *n,
                        char **child_ns_out) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
        const cJSON *space = cJSON_GetObjectItemCaseSensitive(j, "namespace");
        if (!cJSON_IsString(name))
                return fail(c, "%s without a \"name\" string", type_names[n->type]);
        if (space && !cJSON_IsString(space) && !cJSON_IsNull(space))
                return fail(c, "%s \"%.100s\": \"namespace\" must be a string", type_names[n->type],
                            name->valuestring);
        if (strchr(name->valuestring, '.'))
                n->name = strdup(name->valuestring);
        else
                n->name =
                        qualify(cJSON_IsString(space) ? space->valuestring : ns, name->valuestring);
        if (!n->name)
                return fail(c, "out of memory");
        if (!valid_fullname(n->name))
                return fail(c,
                            "invalid name \"%.100s\" (each part must match "
                            "[A-Za-z_][A-Za-z0-9_]*)",
                            n->name);
        const char *dot = strrchr(n->name, '.');
        if (is_primitive(dot ? dot + 1 : n->name, NULL))
                return fail(c, "\"%s\" cannot name a %s: it is a primitive type", n->name,
                            type_names[n->type]);
        if (find_named(c, n->name))
                return fail(c, "type \"%s\" is defined twice", n->name);
        if (VEC_RESERVE(c->named, c->named_size, c->n_named + 1) == -1)
                return fail(c, "out of memory");
        c->named[c->n_named++] = n;

        /* The child namespace is the part of the full name before the last
         * dot; keep it in a separate string so callers can hold it. */
        *child_ns_out = dot ? strndup(n->name, (size_t)(dot - n->name)) : strdup("");
        if (!*child_ns_out)
                return fail(c, "out of memory");

        const cJSON *aliases = cJSON_GetObjectItemCaseSensitive(j, "aliases");
        if (aliases) {
                if (!cJSON_IsArray(aliases))
                        return fail(c, "%s: \"aliases\" must be an array", n->name);
                int na = cJSON_GetArraySize(aliases);
                n->aliases = calloc((size_t)na + 1, sizeof(char *));
                if (!n->aliases)
                        return fail(c, "out of memory");
                const cJSON *a;
                cJSON_ArrayForEach(a, aliases) {
                        if (!cJSON_IsString(a) || !valid_fullname(a->valuestring))
                                return fail(c, "%s: invalid alias", n->name);
                        char *full = strchr(a->valuestring, '.')
                                             ? strdup(a->valuestring)
                                             : qualify(*child_ns_out, a->valuestring);
                        if (!full)
                                return fail(c, "out of memory");
                        n->aliases[n->n_aliases++] = full;
                }
        }
        return 0;
}

static av_node_t *parse(pctx_t *c, const cJSON *j, const char *ns, int depth);

static int parse_fields(pctx_t *c, const cJSON *j, av_node_t *n, const char *ns, int depth) {
        const cJSON *fields = cJSON_GetObjectItemCaseSensitive(j, "fields");
        if (!cJSON_IsArray(fields))
                return fail(c, "record %s: \"fields\" must be an array", n->name);
        int nf = cJSON_GetArraySize(fields);
        n->fields = calloc((size_t)nf + 1, sizeof(*n->fields));
        if (!n->fields)
                return fail(c, "out of memory");
        const cJSON *f;
        cJSON_ArrayForEach(f, fields) {
                av_field_t *fd = &n->fields[n->n_fields];
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
                if (!cJSON_IsObject(f) || !cJSON_IsString(name))
                        return fail(c, "record %s: field %zu has no \"name\" string", n->name,
                                    n->n_fields);
                if (!av_valid_name(name->valuestring, strlen(name->valuestring)))
                        return fail(c, "record %s: invalid field name \"%.100s\"", n->name,
                                    name->valuestring);
                for (size_t i = 0; i < n->n_fields; i++)
                        if (!strcmp(n->fields[i].name, name->valuestring))
                                return fail(c, "record %s: field \"%s\" appears twice", n->name,
                                            name->valuestring);
                if (!(fd->name = strdup(name->valuestring)))
                        return fail(c, "out of memory");
                n->n_fields++;
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
                if (!type)
                        return fail(c, "field %s.%s has no \"type\"", n->name, fd->name);
                if (!(fd->type = parse(c, type, ns, depth + 1))) {
                        if (!c->located) {
                                char inner[sizeof(c->err)];
                                memcpy(inner, c->err, sizeof(inner));
                                snprintf(c->err, sizeof(c->err), "field %.100s.%.60s: %.200s",
                                         n->name, fd->name, inner);
                                c->located = 1;
                        }
                        return -1;
                }
                fd->def = cJSON_GetObjectItemCaseSensitive(f, "default");
                const cJSON *aliases = cJSON_GetObjectItemCaseSensitive(f, "aliases");
                if (cJSON_IsArray(aliases)) {
                        fd->aliases =
                                calloc((size_t)cJSON_GetArraySize(aliases) + 1, sizeof(char *));
                        if (!fd->aliases)
                                return fail(c, "out of memory");
                        const cJSON *a;
                        cJSON_ArrayForEach(a, aliases) {
                                if (!cJSON_IsString(a) ||
                                    !av_valid_name(a->valuestring, strlen(a->valuestring)))
                                        return fail(c, "field %s.%s: invalid alias", n->name,
                                                    fd->name);
                                if (!(fd->aliases[fd->n_aliases++] = strdup(a->valuestring)))
                                        return fail(c, "out of memory");
                        }
                } else if (aliases) {
                        return fail(c, "field %s.%s: \"aliases\" must be an array", n->name,
                                    fd->name);
                }
        }
        return 0;
}

static int parse_enum(pctx_t *c, const cJSON *j, av_node_t *n) {
        const cJSON *symbols = cJSON_GetObjectItemCaseSensitive(j, "symbols");
        if (!cJSON_IsArray(symbols))
                return fail(c, "enum %s: \"symbols\" must be an array", n->name);
        n->symbols = calloc((size_t)cJSON_GetArraySize(symbols) + 1, sizeof(char *));
        if (!n->symbols)
                return fail(c, "out of memory");
        const cJSON *sym;
        cJSON_ArrayForEach(sym, symbols) {
                if (!cJSON_IsString(sym) ||
                    !av_valid_name(sym->valuestring, strlen(sym->valuestring)))
                        return fail(c, "enum %s: symbol %zu is not a valid name", n->name,
                                    n->n_symbols);
                for (size_t i = 0; i < n->n_symbols; i++)
                        if (!strcmp(n->symbols[i], sym->valuestring))
                                return fail(c, "enum %s: symbol \"%s\" appears twice", n->name,
                                            sym->valuestring);
                if (!(n->symbols[n->n_symbols++] = strdup(sym->valuestring)))
                        return fail(c, "out of memory");
        }
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(j, "default");
        if (def) {
                for (size_t i = 0; cJSON_IsString(def) && i < n->n_symbols; i++)
                        if (!strcmp(n->symbols[i], def->valuestring))
                                n->enum_default = (int)i;
                if (n->enum_default < 0)
                        return fail(c, "enum %s: \"default\" is not one of its symbols", n->name);
        }
        return 0;
}

static int parse_fixed(pctx_t *c, const cJSON *j, av_node_t *n) {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "size");
        if (!cJSON_IsNumber(size) || size->valuedouble < 0 ||
            size->valuedouble > AV_MAX_FIXED_SIZE || floor(size->valuedouble) != size->valuedouble)
                return fail(c, "fixed %s: \"size\" must be an integer from 0 to %u", n->name,
                            AV_MAX_FIXED_SIZE);
        n->size = (size_t)size->valuedouble;
        return 0;
}

static av_node_t *parse_union(pctx_t *c, const cJSON *j, const char *ns, int depth) {
        av_node_t *n = new_node(c, AV_T_UNION);
        if (!n)
                return NULL;
        int nb = cJSON_GetArraySize(j);
        if (nb == 0) {
                fail(c, "a union needs at least one branch");
                return NULL;
        }
        if (!(n->branches = calloc((size_t)nb, sizeof(*n->branches)))) {
                fail(c, "out of memory");
                return NULL;
        }
        const cJSON *b;
        cJSON_ArrayForEach(b, j) {
                av_node_t *br = parse(c, b, ns, depth + 1);
                if (!br)
                        return NULL;
                if (br->type == AV_T_UNION) {
                        fail(c, "a union cannot contain a union directly");
                        return NULL;
                }
                for (size_t i = 0; i < n->n_branches; i++) {
                        const av_node_t *o = n->branches[i];
                        if (o->type == br->type && (!o->name || !strcmp(o->name, br->name))) {
                                fail(c, "union contains %s twice", av_node_label(br));
                                return NULL;
                        }
                }
                n->branches[n->n_branches++] = br;
        }
        return n;
}

static av_node_t *parse(pctx_t *c, const cJSON *j, const char *ns, int depth) {
        if (depth > AV_MAX_DEPTH) {
                fail(c, "types nest deeper than %d levels", AV_MAX_DEPTH);
                return NULL;
        }
        if (cJSON_IsString(j))
                return parse_ref(c, j->valuestring, ns);
        if (cJSON_IsArray(j))
                return parse_union(c, j, ns, depth);
        if (!cJSON_IsObject(j)) {
                fail(c, "expected a type (a name, an object or a union array), got %s",
                     av_json_kind(j));
                return NULL;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (!cJSON_IsString(t)) {
                fail(c, "type object without a \"type\" string");
                return NULL;
        }
        const char *ts = t->valuestring;
        av_type_t type;
        /* Attributes such as logicalType are ignored: values are read and
         * written as the underlying type, as the specification allows. */
        if (is_primitive(ts, &type))
                return new_node(c, type);
        if (!strcmp(ts, "array") || !strcmp(ts, "map")) {
                int is_array = ts[0] == 'a';
                const char *key = is_array ? "items" : "values";
                const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, key);
                if (!items) {
                        fail(c, "%s without \"%s\"", ts, key);
                        return NULL;
                }
                av_node_t *n = new_node(c, is_array ? AV_T_ARRAY : AV_T_MAP);
                if (!n || !(n->items = parse(c, items, ns, depth + 1)))
                        return NULL;
                return n;
        }
        int is_record = !strcmp(ts, "record") || !strcmp(ts, "error");
        if (is_record || !strcmp(ts, "enum") || !strcmp(ts, "fixed")) {
                av_node_t *n = new_node(c, is_record      ? AV_T_RECORD
                                           : ts[0] == 'e' ? AV_T_ENUM
                                                          : AV_T_FIXED);
                char *child_ns = NULL;
                int r = -1;
                if (n && named_header(c, j, ns, n, &child_ns) == 0) {
                        if (is_record)
                                r = parse_fields(c, j, n, child_ns, depth);
                        else if (n->type == AV_T_ENUM)
                                r = parse_enum(c, j, n);
                        else
                                r = parse_fixed(c, j, n);
                }
                free(child_ns);
                return r == 0 ? n : NULL;
        }
        /* {"type": "some.Named"} refers to a named type. */
        return parse_ref(c, ts, ns);
}

/* Defaults are checked once here, so a bad one is a load error naming the
 * file rather than a surprise at the first record that needs it. */
static int check_defaults(pctx_t *c) {
        for (size_t i = 0; i < c->s->n_nodes; i++) {
                const av_node_t *n = c->s->nodes[i];
                for (size_t k = 0; n->type == AV_T_RECORD && k < n->n_fields; k++) {
                        const av_field_t *f = &n->fields[k];
                        av_err_t e;
                        if (!f->def || av_json_node(f->type, f->def, NULL, &e, 0) == 0)
                                continue;
                        char where[300];
                        av_err_format(&e, where, sizeof(where));
                        /* "$: msg" for a scalar default, "$.x: msg" inside one. */
                        return fail(c, "field %s.%s: invalid default: %s", n->name, f->name,
                                    where[1] == ':' ? where + 3 : where);
                }
        }
        return 0;
}

static void line_col(const char *text, size_t off, int *line, int *col) {
        *line = 1;
        *col = 1;
        for (size_t i = 0; i < off; i++) {
                if (text[i] == '\n') {
                        (*line)++;
                        *col = 1;
                } else {
                        (*col)++;
                }
        }
}

av_schema_t *av_schema_parse(const char *json, size_t len, const char *origin, char *errstr,
                             size_t errstr_size) {
        pctx_t c = {0};
        const char *pre = origin && *origin ? origin : "schema";
        if (!(c.s = calloc(1, sizeof(*c.s))) || !(c.s->origin = strdup(origin ? origin : "")) ||
            !(c.s->text = strndup(json, len))) {
                av_schema_destroy(c.s);
                snprintf(errstr, errstr_size, "%s: out of memory", pre);
                return NULL;
        }
        const char *end = NULL;
        long nul = av_json_find_nul(json, len);
        if (nul >= 0) {
                int line, col;
                line_col(json, (size_t)nul, &line, &col);
                snprintf(errstr, errstr_size,
                         "%s: \\u0000 at line %d column %d is not supported (the JSON parser "
                         "would cut the string there)",
                         pre, line, col);
                av_schema_destroy(c.s);
                return NULL;
        }
        c.s->doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
        if (c.s->doc) {
                while (end < json + len && isspace((unsigned char)*end))
                        end++;
        }
        if (!c.s->doc || end != json + len) {
                int line, col;
                size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
                line_col(json, off, &line, &col);
                snprintf(errstr, errstr_size, "%s: %s at line %d column %d", pre,
                         c.s->doc ? "text after the schema" : "invalid JSON", line, col);
                av_schema_destroy(c.s);
                return NULL;
        }
        if (!(c.s->root = parse(&c, c.s->doc, "", 0)) || check_defaults(&c) == -1 ||
            av_canon_build(c.s) == -1 || av_avroc_build(c.s, c.err, sizeof(c.err)) == -1 ||
            !(c.s->iface = avro_generic_class_from_schema(c.s->avro))) {
                if (!c.err[0])
                        snprintf(c.err, sizeof(c.err), "out of memory");
                snprintf(errstr, errstr_size, "%s: %s", pre, c.err);
                free(c.named);
                av_schema_destroy(c.s);
                return NULL;
        }
        free(c.named);
        av_min_sizes(c.s);
        c.s->prog = av_prog_compile(c.s->root); /* NULL: validated by walking */
        c.s->fingerprint = av_crc64(c.s->canonical, strlen(c.s->canonical));
        return c.s;
}

static void free_strv(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void av_schema_destroy(av_schema_t *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_nodes; i++) {
                av_node_t *n = s->nodes[i];
                free(n->name);
                free_strv(n->aliases, n->n_aliases);
                for (size_t k = 0; k < n->n_fields; k++) {
                        free(n->fields[k].name);
                        free_strv(n->fields[k].aliases, n->fields[k].n_aliases);
                }
                free(n->fields);
                free_strv(n->symbols, n->n_symbols);
                free(n->branches);
                free(n);
        }
        free(s->nodes);
        av_prog_free(s->prog);
        if (s->iface)
                avro_value_iface_decref(s->iface);
        if (s->avro)
                avro_schema_decref(s->avro);
        cJSON_Delete(s->doc);
        free(s->canonical);
        free(s->origin);
        free(s->text);
        free(s);
}

const char *av_schema_name(const av_schema_t *s) {
        return s->root->name;
}

const char *av_schema_text(const av_schema_t *s) {
        return s->text;
}

const char *av_schema_canonical(const av_schema_t *s) {
        return s->canonical;
}

uint64_t av_schema_fingerprint(const av_schema_t *s) {
        return s->fingerprint;
}

avro_schema_t av_schema_avro(const av_schema_t *s) {
        return s->avro;
}

const char *av_schema_origin(const av_schema_t *s) {
        return s->origin;
}

int av_value_new(const av_schema_t *s, avro_value_t *out) {
        return avro_generic_value_new(s->iface, out) == 0 ? 0 : -1;
}
