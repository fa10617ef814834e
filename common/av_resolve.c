/* av_resolve — writer→reader schema resolution per the Avro specification
 * ("Schema Resolution"), compiled into plans once per schema pair and run per
 * record straight from the bytes into the reader's avro-c value.
 *
 * Ours rather than avro-c's resolved writer because avro-c 1.11 cannot fill
 * reader fields from defaults ("Reader field b doesn't appear in writer").
 * Identical schemas get the same kind of plan, so there is one read path.
 *
 * Rules: fields match by name or reader alias, writer-only fields are
 * skipped, reader-only fields take their default; int→long→float→double
 * and string↔bytes promote; enums map by symbol (an unknown writer symbol
 * takes the reader enum's default, else the record fails); named types
 * match by unqualified name or reader alias; a writer union resolves per
 * branch, failing only when a record uses a branch the reader cannot take;
 * a reader union takes the first branch of the same type, else the first
 * the writer promotes to. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "av_int.h"
#include "vec.h"

typedef enum {
        P_NULL,
        P_BOOLEAN,
        P_INT,
        P_LONG,
        P_FLOAT,
        P_DOUBLE,
        P_BYTES,
        P_STRING,
        P_INT_LONG,
        P_INT_FLOAT,
        P_INT_DOUBLE,
        P_LONG_FLOAT,
        P_LONG_DOUBLE,
        P_FLOAT_DOUBLE,
        P_RECORD,
        P_ENUM,
        P_FIXED,
        P_ARRAY,
        P_MAP,
        P_WUNION, /* writer union: read the index, run that branch's plan */
        P_RUNION, /* reader union only: select `branch`, run `inner` */
        P_FAIL,   /* writer union branch the reader cannot take */
} op_t;

typedef struct plan_s plan_t;
struct plan_s {
        op_t op;
        const av_node_t *w, *r;
        plan_t *inner;     /* array items, map values, P_RUNION branch */
        plan_t **branches; /* P_WUNION: one per writer branch */
        int branch;        /* P_RUNION */
        int *rindex;       /* P_RECORD: reader field per writer field, -1 = skip */
        plan_t **fplans;   /* P_RECORD: plan per writer field */
        int *defaults;     /* P_RECORD: reader fields filled from defaults */
        size_t n_defaults;
        int *enum_map;  /* P_ENUM: reader symbol per writer symbol, -1 = none */
        char *fail_msg; /* P_FAIL */
};

struct av_plans_s {
        plan_t *root;
        plan_t **all; /* every plan, for freeing */
        size_t n_all, all_size;
        struct memo {
                const av_node_t *w, *r;
                plan_t *p;
        } * memo;
        size_t n_memo, memo_size;
};

static plan_t *new_plan(av_plans_t *ps, op_t op, const av_node_t *w, const av_node_t *r,
                        av_err_t *e) {
        if (VEC_RESERVE(ps->all, ps->all_size, ps->n_all + 1) == -1)
                goto oom;
        plan_t *p = calloc(1, sizeof(*p));
        if (!p)
                goto oom;
        p->op = op;
        p->w = w;
        p->r = r;
        ps->all[ps->n_all++] = p;
        return p;
oom:
        av_err_set(e, "out of memory");
        return NULL;
}

/* Remembered before a compound plan is filled in, so recursive schemas
 * compile to a cyclic plan instead of recursing forever. */
static int memo_add(av_plans_t *ps, plan_t *p, av_err_t *e) {
        if (VEC_RESERVE(ps->memo, ps->memo_size, ps->n_memo + 1) == -1)
                return av_err_set(e, "out of memory");
        ps->memo[ps->n_memo++] = (struct memo){p->w, p->r, p};
        return 0;
}

static const char *short_name(const char *full) {
        const char *dot = strrchr(full, '.');
        return dot ? dot + 1 : full;
}

/* Named types match on unqualified name, or a reader alias naming the
 * writer's full or unqualified name. */
static int names_match(const av_node_t *w, const av_node_t *r) {
        if (!strcmp(short_name(w->name), short_name(r->name)))
                return 1;
        for (size_t i = 0; i < r->n_aliases; i++)
                if (!strcmp(r->aliases[i], w->name) ||
                    !strcmp(short_name(r->aliases[i]), short_name(w->name)))
                        return 1;
        return 0;
}

/* The op for a primitive writer→reader pair, or -1. */
static int prim_op(av_type_t w, av_type_t r) {
        if (w == r && w <= AV_T_STRING)
                return (int)w; /* P_NULL..P_STRING follow av_type_t */
        switch (w) {
        case AV_T_INT:
                return r == AV_T_LONG     ? P_INT_LONG
                       : r == AV_T_FLOAT  ? P_INT_FLOAT
                       : r == AV_T_DOUBLE ? P_INT_DOUBLE
                                          : -1;
        case AV_T_LONG:
                return r == AV_T_FLOAT ? P_LONG_FLOAT : r == AV_T_DOUBLE ? P_LONG_DOUBLE : -1;
        case AV_T_FLOAT:
                return r == AV_T_DOUBLE ? P_FLOAT_DOUBLE : -1;
        case AV_T_STRING:
                return r == AV_T_BYTES ? P_BYTES : -1;
        case AV_T_BYTES:
                return r == AV_T_STRING ? P_STRING : -1;
        default:
                return -1;
        }
}

/* Whether a writer type can resolve to a reader branch: `exact` asks for
 * the same type (and name), otherwise a promotion will do. */
static int branch_matches(const av_node_t *w, const av_node_t *r, int exact) {
        if (w->type != r->type)
                return !exact && w->type <= AV_T_STRING && r->type <= AV_T_STRING &&
                       prim_op(w->type, r->type) >= 0;
        if (w->name)
                return exact ? !strcmp(w->name, r->name) : names_match(w, r);
        return 1;
}

static plan_t *compile(av_plans_t *ps, const av_node_t *w, const av_node_t *r, av_err_t *e);

static int compile_record(av_plans_t *ps, plan_t *p, av_err_t *e) {
        const av_node_t *w = p->w, *r = p->r;
        if (!(p->rindex = calloc(w->n_fields + 1, sizeof(int))) ||
            !(p->fplans = calloc(w->n_fields + 1, sizeof(plan_t *))) ||
            !(p->defaults = calloc(r->n_fields + 1, sizeof(int))))
                return av_err_set(e, "out of memory");
        char *taken = calloc(r->n_fields + 1, 1);
        if (!taken)
                return av_err_set(e, "out of memory");
        for (size_t i = 0; i < w->n_fields; i++) {
                const char *wn = w->fields[i].name;
                p->rindex[i] = -1;
                for (size_t k = 0; k < r->n_fields && p->rindex[i] < 0; k++) {
                        const av_field_t *rf = &r->fields[k];
                        int match = !strcmp(rf->name, wn);
                        for (size_t a = 0; !match && a < rf->n_aliases; a++)
                                match = !strcmp(rf->aliases[a], wn);
                        if (match && !taken[k]) {
                                taken[k] = 1;
                                p->rindex[i] = (int)k;
                        }
                }
                if (p->rindex[i] >= 0 &&
                    !(p->fplans[i] =
                              compile(ps, w->fields[i].type, r->fields[p->rindex[i]].type, e))) {
                        free(taken);
                        return av_err_field(e, r->fields[p->rindex[i]].name);
                }
        }
        for (size_t k = 0; k < r->n_fields; k++) {
                if (taken[k])
                        continue;
                if (!r->fields[k].def) {
                        free(taken);
                        av_err_set(e, "reader field has no default and the writer (%s) lacks it",
                                   w->name);
                        return av_err_field(e, r->fields[k].name);
                }
                p->defaults[p->n_defaults++] = (int)k;
        }
        free(taken);
        return 0;
}

static int compile_enum(plan_t *p, av_err_t *e) {
        const av_node_t *w = p->w, *r = p->r;
        if (!(p->enum_map = calloc(w->n_symbols + 1, sizeof(int))))
                return av_err_set(e, "out of memory");
        for (size_t i = 0; i < w->n_symbols; i++) {
                p->enum_map[i] = r->enum_default;
                for (size_t k = 0; k < r->n_symbols; k++)
                        if (!strcmp(w->symbols[i], r->symbols[k]))
                                p->enum_map[i] = (int)k;
        }
        return 0;
}

/* A writer union: each branch compiles on its own; one the reader cannot
 * take becomes a P_FAIL that only the records using it hit. */
static int compile_wunion(av_plans_t *ps, plan_t *p, av_err_t *e) {
        const av_node_t *w = p->w;
        if (!(p->branches = calloc(w->n_branches, sizeof(plan_t *))))
                return av_err_set(e, "out of memory");
        for (size_t i = 0; i < w->n_branches; i++) {
                size_t mark = ps->n_memo;
                p->branches[i] = compile(ps, w->branches[i], p->r, e);
                if (p->branches[i])
                        continue;
                /* Forget what the failed attempt memoised: those plans may
                 * be half built. */
                ps->n_memo = mark;
                plan_t *f = new_plan(ps, P_FAIL, w->branches[i], p->r, e);
                if (!f)
                        return -1;
                /* Keep where inside the branch it failed: "$.x: ..." → ", at .x: ...". */
                char where[sizeof(e->msg) + 200], msg[sizeof(where) + 200];
                av_err_format(e, where, sizeof(where));
                snprintf(msg, sizeof(msg), "writer union branch %s%s%s",
                         av_node_label(w->branches[i]), e->n ? ", at " : "", where + 1);
                if (!(f->fail_msg = strdup(msg)))
                        return av_err_set(e, "out of memory");
                p->branches[i] = f;
        }
        return 0;
}

static plan_t *compile(av_plans_t *ps, const av_node_t *w, const av_node_t *r, av_err_t *e) {
        for (size_t i = 0; i < ps->n_memo; i++)
                if (ps->memo[i].w == w && ps->memo[i].r == r)
                        return ps->memo[i].p;
        plan_t *p;
        if (w->type == AV_T_UNION) {
                if (!(p = new_plan(ps, P_WUNION, w, r, e)) || memo_add(ps, p, e) == -1 ||
                    compile_wunion(ps, p, e) == -1)
                        return NULL;
                return p;
        }
        if (r->type == AV_T_UNION) {
                int k = -1;
                for (int exact = 1; exact >= 0 && k < 0; exact--)
                        for (size_t i = 0; i < r->n_branches && k < 0; i++)
                                if (branch_matches(w, r->branches[i], exact))
                                        k = (int)i;
                if (k < 0) {
                        av_err_set(e, "writer type %s matches no branch of the reader union",
                                   av_node_label(w));
                        return NULL;
                }
                if (!(p = new_plan(ps, P_RUNION, w, r, e)) || memo_add(ps, p, e) == -1 ||
                    !(p->inner = compile(ps, w, r->branches[k], e)))
                        return NULL;
                p->branch = k;
                return p;
        }
        int op = prim_op(w->type, r->type);
        if (op >= 0)
                return new_plan(ps, (op_t)op, w, r, e);
        if (w->type != r->type || (w->name && !names_match(w, r)) ||
            (w->type == AV_T_FIXED && w->size != r->size)) {
                av_err_set(e, "writer type %s cannot be read as reader type %s", av_node_label(w),
                           av_node_label(r));
                return NULL;
        }
        static const op_t ops[] = {[AV_T_RECORD] = P_RECORD,
                                   [AV_T_ENUM] = P_ENUM,
                                   [AV_T_FIXED] = P_FIXED,
                                   [AV_T_ARRAY] = P_ARRAY,
                                   [AV_T_MAP] = P_MAP};
        if (!(p = new_plan(ps, ops[w->type], w, r, e)) || memo_add(ps, p, e) == -1)
                return NULL;
        switch (w->type) {
        case AV_T_RECORD:
                return compile_record(ps, p, e) == 0 ? p : NULL;
        case AV_T_ENUM:
                return compile_enum(p, e) == 0 ? p : NULL;
        case AV_T_ARRAY:
        case AV_T_MAP:
                return (p->inner = compile(ps, w->items, r->items, e)) ? p : NULL;
        default:
                return p;
        }
}

av_plans_t *av_plans_new(const av_node_t *w, const av_node_t *r, char *errstr, size_t errstr_size) {
        av_err_t e;
        av_plans_t *ps = calloc(1, sizeof(*ps));
        if (!ps) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!(ps->root = compile(ps, w, r, &e))) {
                av_err_format(&e, errstr, errstr_size);
                av_plans_destroy(ps);
                return NULL;
        }
        /* The memo only serves compilation. */
        free(ps->memo);
        ps->memo = NULL;
        ps->n_memo = ps->memo_size = 0;
        return ps;
}

void av_plans_destroy(av_plans_t *ps) {
        if (!ps)
                return;
        for (size_t i = 0; i < ps->n_all; i++) {
                plan_t *p = ps->all[i];
                free(p->branches);
                free(p->rindex);
                free(p->fplans);
                free(p->defaults);
                free(p->enum_map);
                free(p->fail_msg);
                free(p);
        }
        free(ps->all);
        free(ps->memo);
        free(ps);
}

/* ---------------------------------------------------------------- reading */

typedef struct xctx_s {
        buf_t *scratch;
        av_err_t *e;
        av_vctx_t skip; /* for writer-only fields */
} xctx_t;

/* Length-prefixed bytes; validation already proved the length fits. */
static int rd_bytes(xctx_t *c, av_rd_t *r, const uint8_t **p, size_t *n) {
        int64_t len;
        if (av_rd_long(r, &len) || len < 0 || (uint64_t)len > av_rd_left(r))
                return av_err_set(c->e, "unvalidated bytes");
        *p = r->p;
        *n = (size_t)len;
        r->p += len;
        return 0;
}

/* avro-c strings carry their NUL in the size, and copy size bytes from the
 * source, so the input cannot be handed over in place. */
static const char *nul_copy(xctx_t *c, const uint8_t *p, size_t n) {
        c->scratch->len = 0;
        if (buf_reserve(c->scratch, n + 1) == -1)
                return NULL;
        memcpy(c->scratch->data, p, n);
        c->scratch->data[n] = '\0';
        return c->scratch->data;
}

static int exec(const plan_t *p, av_rd_t *r, avro_value_t *v, xctx_t *c, int depth);

static int exec_blocks(const plan_t *p, av_rd_t *r, avro_value_t *v, xctx_t *c, int depth) {
        int rc;
        size_t index = 0;
        if ((rc = avro_value_reset(v)))
                return av_err_avro(c->e, rc);
        for (;;) {
                int64_t count, bytes;
                if (av_rd_long(r, &count))
                        return av_err_set(c->e, "unvalidated block count");
                if (count == 0)
                        return 0;
                if (count < 0) {
                        count = -count;
                        if (av_rd_long(r, &bytes))
                                return av_err_set(c->e, "unvalidated block size");
                }
                for (int64_t i = 0; i < count; i++, index++) {
                        avro_value_t child;
                        const uint8_t *k = NULL;
                        size_t klen = 0;
                        if (p->op == P_ARRAY) {
                                rc = avro_value_append(v, &child, NULL);
                        } else {
                                const char *key;
                                if (rd_bytes(c, r, &k, &klen) == -1)
                                        return -1;
                                if (!(key = nul_copy(c, k, klen)))
                                        return av_err_set(c->e, "out of memory");
                                rc = avro_value_add(v, key, &child, NULL, NULL);
                        }
                        if (rc)
                                return av_err_avro(c->e, rc);
                        if (exec(p->inner, r, &child, c, depth + 1) == -1)
                                return k ? av_err_key(c->e, (const char *)k, klen)
                                         : av_err_index(c->e, index);
                }
        }
}

static int exec_record(const plan_t *p, av_rd_t *r, avro_value_t *v, xctx_t *c, int depth) {
        avro_value_t child;
        int rc;
        for (size_t i = 0; i < p->w->n_fields; i++) {
                if (p->rindex[i] < 0) {
                        if (av_walk(p->w->fields[i].type, r, &c->skip, depth + 1) == -1)
                                return av_err_field(c->e, p->w->fields[i].name);
                        continue;
                }
                if ((rc = avro_value_get_by_index(v, (size_t)p->rindex[i], &child, NULL)))
                        return av_err_avro(c->e, rc);
                if (exec(p->fplans[i], r, &child, c, depth + 1) == -1)
                        return av_err_field(c->e, p->r->fields[p->rindex[i]].name);
        }
        for (size_t i = 0; i < p->n_defaults; i++) {
                const av_field_t *f = &p->r->fields[p->defaults[i]];
                if ((rc = avro_value_get_by_index(v, (size_t)p->defaults[i], &child, NULL)))
                        return av_err_avro(c->e, rc);
                if (av_json_node(f->type, f->def, &child, c->e, depth + 1) == -1)
                        return av_err_field(c->e, f->name);
        }
        return 0;
}

static int exec(const plan_t *p, av_rd_t *r, avro_value_t *v, xctx_t *c, int depth) {
        int32_t i32 = 0;
        int64_t i64 = 0;
        float f32;
        double f64;
        const uint8_t *b;
        size_t n;
        int rc = 0;
        if (depth > AV_MAX_DEPTH)
                return av_err_set(c->e, "value nests deeper than %d levels", AV_MAX_DEPTH);
        /* Fixed-width reads rely on validation having checked the length. */
        switch (p->op) {
        case P_NULL:
                rc = avro_value_set_null(v);
                break;
        case P_BOOLEAN:
                rc = avro_value_set_boolean(v, *r->p++);
                break;
        case P_INT:
        case P_INT_LONG:
        case P_INT_FLOAT:
        case P_INT_DOUBLE:
                if (av_rd_int(r, &i32))
                        return av_err_set(c->e, "unvalidated int");
                rc = p->op == P_INT         ? avro_value_set_int(v, i32)
                     : p->op == P_INT_LONG  ? avro_value_set_long(v, i32)
                     : p->op == P_INT_FLOAT ? avro_value_set_float(v, (float)i32)
                                            : avro_value_set_double(v, i32);
                break;
        case P_LONG:
        case P_LONG_FLOAT:
        case P_LONG_DOUBLE:
                if (av_rd_long(r, &i64))
                        return av_err_set(c->e, "unvalidated long");
                rc = p->op == P_LONG         ? avro_value_set_long(v, i64)
                     : p->op == P_LONG_FLOAT ? avro_value_set_float(v, (float)i64)
                                             : avro_value_set_double(v, (double)i64);
                break;
        case P_FLOAT:
        case P_FLOAT_DOUBLE:
                memcpy(&f32, r->p, 4);
                r->p += 4;
                rc = p->op == P_FLOAT ? avro_value_set_float(v, f32)
                                      : avro_value_set_double(v, f32);
                break;
        case P_DOUBLE:
                memcpy(&f64, r->p, 8);
                r->p += 8;
                rc = avro_value_set_double(v, f64);
                break;
        case P_BYTES: /* bytes, or string read as bytes */
                if (rd_bytes(c, r, &b, &n) == -1)
                        return -1;
                rc = avro_value_set_bytes(v, (void *)b, n);
                break;
        case P_STRING: { /* string, or bytes read as string */
                const char *s;
                if (rd_bytes(c, r, &b, &n) == -1)
                        return -1;
                if (!(s = nul_copy(c, b, n)))
                        return av_err_set(c->e, "out of memory");
                rc = avro_value_set_string_len(v, (char *)s, n + 1);
                break;
        }
        case P_FIXED:
                rc = avro_value_set_fixed(v, (void *)r->p, p->w->size);
                r->p += p->w->size;
                break;
        case P_ENUM:
                if (av_rd_int(r, &i32) || i32 < 0 || (size_t)i32 >= p->w->n_symbols)
                        return av_err_set(c->e, "unvalidated enum");
                if (p->enum_map[i32] < 0)
                        return av_err_set(c->e,
                                          "symbol %s of writer enum %s is not in reader enum %s, "
                                          "which has no default",
                                          p->w->symbols[i32], p->w->name, p->r->name);
                rc = avro_value_set_enum(v, p->enum_map[i32]);
                break;
        case P_RECORD:
                return exec_record(p, r, v, c, depth);
        case P_ARRAY:
        case P_MAP:
                return exec_blocks(p, r, v, c, depth);
        case P_WUNION:
                if (av_rd_long(r, &i64) || i64 < 0 || (uint64_t)i64 >= p->w->n_branches)
                        return av_err_set(c->e, "unvalidated union index");
                return exec(p->branches[i64], r, v, c, depth + 1);
        case P_RUNION: {
                avro_value_t branch;
                if ((rc = avro_value_set_branch(v, p->branch, &branch)))
                        return av_err_avro(c->e, rc);
                /* Not a level of the data: depth follows the writer's
                 * structure, as validation counted it. */
                return exec(p->inner, r, &branch, c, depth);
        }
        case P_FAIL:
                return av_err_set(c->e, "%s", p->fail_msg);
        }
        return av_err_avro(c->e, rc);
}

int av_plans_read(const av_plans_t *ps, av_rd_t *r, avro_value_t *v, buf_t *scratch, av_err_t *e) {
        /* Only the pointer is copied: e is written on error, never read. */
        // cppcheck-suppress ctuuninitvar
        xctx_t c = {scratch, e, {e, 0}};
        return exec(ps->root, r, v, &c, 0);
}
