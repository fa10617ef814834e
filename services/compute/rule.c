/* rule — rule expression compiler and evaluator (grammar in rule.h).  A
 * recursive-descent parser emits postfix code directly; the nesting depth is
 * bounded so hostile input cannot exhaust the C stack, and the evaluation
 * stack depth is computed at compile time. */
#include "rule_int.h"

#include "vec.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit(ps_t *ps, ins_op_t op, size_t arg, int sp_delta) {
        if (ps->failed)
                return;
        rule_prog_t *p = ps->prog;
        if (VEC_RESERVE(p->code, p->capcode, p->ncode + 1) == -1) {
                rule_fail_at(ps, ps->tstart, "out of memory");
                return;
        }
        p->code[p->ncode].op = op;
        p->code[p->ncode].arg = arg;
        p->ncode++;
        ps->sp += sp_delta;
        if (ps->sp > ps->maxsp)
                ps->maxsp = ps->sp;
        if (ps->maxsp > RULE_MAX_STACK)
                rule_fail_at(ps, ps->tstart, "expression too complex");
}

static type_t parse_or(ps_t *ps);

static const char *const fn_list =
        "count, sum, min, max, mean, variance, stddev, first, last, p50, p90, p95, p99 or zscore";

static int find_op(const char *s, size_t n, spec_op_t *op) {
        for (int o = 0; o < SPEC_OP__COUNT; o++) {
                const char *name = spec_op_name((spec_op_t)o);
                if (strlen(name) == n && memcmp(name, s, n) == 0) {
                        *op = (spec_op_t)o;
                        return 1;
                }
        }
        return 0;
}

static void expect_rp(ps_t *ps, const char *after) {
        char b[64];
        if (ps->kind != T_RP)
                rule_fail_at(ps, ps->tstart, "expected ')' after %s, got %s", after,
                             rule_tok_text(ps, b, sizeof(b)));
        else
                rule_next(ps);
}

/* Steps over the '(' after function fn; 0, or -1 with the error set. */
static int expect_lp(ps_t *ps, const char *fn) {
        char b[64];
        if (ps->kind != T_LP) {
                rule_fail_at(ps, ps->tstart, "expected '(' after \"%s\", got %s", fn,
                             rule_tok_text(ps, b, sizeof(b)));
                return -1;
        }
        rule_next(ps);
        return 0;
}

/* The aggregated field named by the current token (an identifier), or
 * (size_t)-1 with the error set. */
static size_t field_index(ps_t *ps) {
        for (size_t i = 0; i < ps->env->nfields; i++) {
                const char *f = ps->env->fields[i].field;
                if (strlen(f) == ps->tlen && memcmp(f, ps->src + ps->tstart, ps->tlen) == 0)
                        return i;
        }
        rule_fail_at(ps, ps->tstart, "\"%.*s\" is not an aggregated field (%s)", (int)ps->tlen,
                     ps->src + ps->tstart,
                     ps->env->nfields ? "add it to $.compute.aggregates"
                                      : "the spec has no aggregates");
        return (size_t)-1;
}

/* Reads "( field" of function fn and returns the field index, or
 * (size_t)-1 with the error set. */
static size_t parse_field_arg(ps_t *ps, const char *fn) {
        char b[64];
        if (expect_lp(ps, fn) < 0)
                return (size_t)-1;
        if (ps->kind != T_IDENT) {
                rule_fail_at(ps, ps->tstart, "expected a field name in %s(), got %s", fn,
                             rule_tok_text(ps, b, sizeof(b)));
                return (size_t)-1;
        }
        return field_index(ps);
}

static void add_term(ps_t *ps, rule_term_kind_t kind, size_t field, spec_op_t op) {
        if (ps->failed)
                return;
        rule_prog_t *p = ps->prog;
        for (size_t i = 0; i < p->nterms; i++) {
                const rule_term_t *t = &p->terms[i];
                if (t->kind == kind && t->field == field && t->op == op) {
                        emit(ps, I_TERM, i, 1);
                        return;
                }
        }
        char name[200];
        const char *f = kind == RULE_TERM_COUNT ? "" : ps->env->fields[field].field;
        if (kind == RULE_TERM_ZSCORE)
                snprintf(name, sizeof(name), "zscore(mean(%s))", f);
        else
                snprintf(name, sizeof(name), "%s(%s)", spec_op_name(op), f);
        if (VEC_RESERVE(p->terms, p->capterms, p->nterms + 1) == -1) {
                rule_fail_at(ps, ps->tstart, "out of memory");
                return;
        }
        rule_term_t *t = &p->terms[p->nterms];
        t->kind = kind;
        t->field = field;
        t->op = op;
        t->name = strdup(name);
        if (!t->name) {
                rule_fail_at(ps, ps->tstart, "out of memory");
                return;
        }
        p->nterms++;
        emit(ps, I_TERM, p->nterms - 1, 1);
}

static void parse_call(ps_t *ps) {
        char b[64];
        size_t at = ps->tstart;
        spec_op_t op;
        int is_z = rule_tok_is(ps, "zscore");
        if (!is_z && !find_op(ps->src + ps->tstart, ps->tlen, &op)) {
                if (rule_tok_is(ps, "and") || rule_tok_is(ps, "or") || rule_tok_is(ps, "not"))
                        rule_fail_at(
                                ps, at,
                                "expected a number, an aggregate like mean(field) or '(', got %s",
                                rule_tok_text(ps, b, sizeof(b)));
                else
                        rule_fail_at(ps, at, "unknown function \"%.*s\" (expected %s)",
                                     (int)ps->tlen, ps->src + ps->tstart, fn_list);
                return;
        }
        char fn[16];
        snprintf(fn, sizeof(fn), "%.*s", (int)ps->tlen, ps->src + ps->tstart);
        rule_next(ps);
        if (is_z) {
                if (ps->kind != T_LP) {
                        rule_fail_at(ps, ps->tstart, "expected '(' after \"zscore\", got %s",
                                     rule_tok_text(ps, b, sizeof(b)));
                        return;
                }
                rule_next(ps);
                if (!rule_tok_is(ps, "mean")) {
                        rule_fail_at(ps, ps->tstart, "zscore() takes mean(field), got %s",
                                     rule_tok_text(ps, b, sizeof(b)));
                        return;
                }
                rule_next(ps);
                size_t f = parse_field_arg(ps, "mean");
                if (ps->failed)
                        return;
                rule_next(ps);
                expect_rp(ps, "the field name");
                expect_rp(ps, "mean(...)");
                add_term(ps, RULE_TERM_ZSCORE, f, SPEC_OP_MEAN);
                return;
        }
        size_t f;
        if (op == SPEC_OP_COUNT) {
                if (expect_lp(ps, "count") < 0)
                        return;
                if (ps->kind == T_RP) { /* count(): the window's records */
                        rule_next(ps);
                        add_term(ps, RULE_TERM_COUNT, 0, SPEC_OP_COUNT);
                        return;
                }
                if (ps->kind != T_IDENT) {
                        rule_fail_at(ps, ps->tstart,
                                     "expected a field name or ')' in count(), got %s",
                                     rule_tok_text(ps, b, sizeof(b)));
                        return;
                }
                f = field_index(ps);
        } else {
                f = parse_field_arg(ps, fn);
        }
        if (ps->failed)
                return;
        rule_next(ps);
        expect_rp(ps, "the field name");
        if (ps->failed)
                return;
        if (op != SPEC_OP_COUNT && !(ps->env->fields[f].ops & SPEC_OP_BIT(op))) {
                rule_fail_at(ps, at,
                             "%s of \"%s\" is not computed (add \"%s\" to its ops in "
                             "$.compute.aggregates)",
                             fn, ps->env->fields[f].field, fn);
                return;
        }
        add_term(ps, RULE_TERM_OP, f, op);
}

static type_t parse_primary(ps_t *ps) {
        char b[64];
        if (ps->failed)
                return TY_NUM;
        if (ps->kind == T_NUM) {
                rule_prog_t *p = ps->prog;
                if (VEC_RESERVE(p->consts, p->capconsts, p->nconsts + 1) == -1) {
                        rule_fail_at(ps, ps->tstart, "out of memory");
                        return TY_NUM;
                }
                p->consts[p->nconsts++] = ps->num;
                emit(ps, I_CONST, p->nconsts - 1, 1);
                rule_next(ps);
                return TY_NUM;
        }
        if (ps->kind == T_IDENT) {
                parse_call(ps);
                return TY_NUM;
        }
        if (ps->kind == T_LP) {
                if (++ps->depth > RULE_MAX_DEPTH) {
                        rule_fail_at(ps, ps->tstart, "expression nested too deeply");
                        return TY_NUM;
                }
                rule_next(ps);
                type_t t = parse_or(ps);
                ps->depth--;
                expect_rp(ps, "the parenthesised expression");
                return t;
        }
        rule_fail_at(ps, ps->tstart,
                     "expected a number, an aggregate like mean(field) or '(', got %s",
                     rule_tok_text(ps, b, sizeof(b)));
        return TY_NUM;
}

static void need(ps_t *ps, type_t got, type_t want, size_t at, const char *what) {
        if (got != want)
                rule_fail_at(ps, at, "%s %s", what,
                             want == TY_NUM ? "needs numbers, got a condition"
                                            : "needs conditions (comparisons), got a number");
}

static type_t parse_unary(ps_t *ps) {
        if (ps->kind == T_OP && rule_tok_is(ps, "-")) {
                size_t at = ps->tstart;
                if (++ps->depth > RULE_MAX_DEPTH) {
                        rule_fail_at(ps, at, "expression nested too deeply");
                        return TY_NUM;
                }
                rule_next(ps);
                type_t t = parse_unary(ps);
                ps->depth--;
                need(ps, t, TY_NUM, at, "'-'");
                emit(ps, I_NEG, 0, 0);
                return TY_NUM;
        }
        return parse_primary(ps);
}

static type_t parse_product(ps_t *ps) {
        type_t t = parse_unary(ps);
        while (!ps->failed && ps->kind == T_OP && (rule_tok_is(ps, "*") || rule_tok_is(ps, "/"))) {
                ins_op_t op = rule_tok_is(ps, "*") ? I_MUL : I_DIV;
                size_t at = ps->tstart;
                const char *what = op == I_MUL ? "'*'" : "'/'";
                need(ps, t, TY_NUM, at, what);
                rule_next(ps);
                need(ps, parse_unary(ps), TY_NUM, at, what);
                emit(ps, op, 0, -1);
                t = TY_NUM;
        }
        return t;
}

static type_t parse_sum(ps_t *ps) {
        type_t t = parse_product(ps);
        while (!ps->failed && ps->kind == T_OP && (rule_tok_is(ps, "+") || rule_tok_is(ps, "-"))) {
                ins_op_t op = rule_tok_is(ps, "+") ? I_ADD : I_SUB;
                size_t at = ps->tstart;
                const char *what = op == I_ADD ? "'+'" : "'-'";
                need(ps, t, TY_NUM, at, what);
                rule_next(ps);
                need(ps, parse_product(ps), TY_NUM, at, what);
                emit(ps, op, 0, -1);
                t = TY_NUM;
        }
        return t;
}

static int cmp_op(const ps_t *ps, ins_op_t *op) {
        static const struct {
                const char *s;
                ins_op_t op;
        } t[] = {{"<", I_LT}, {"<=", I_LE}, {">", I_GT}, {">=", I_GE}, {"==", I_EQ}, {"!=", I_NE}};
        if (ps->kind != T_OP)
                return 0;
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (rule_tok_is(ps, t[i].s)) {
                        *op = t[i].op;
                        return 1;
                }
        return 0;
}

static type_t parse_cmp(ps_t *ps) {
        type_t t = parse_sum(ps);
        ins_op_t op;
        if (ps->failed || !cmp_op(ps, &op))
                return t;
        size_t at = ps->tstart;
        char what[8];
        snprintf(what, sizeof(what), "'%.*s'", (int)ps->tlen, ps->src + ps->tstart);
        need(ps, t, TY_NUM, at, what);
        rule_next(ps);
        need(ps, parse_sum(ps), TY_NUM, at, what);
        emit(ps, op, 0, -1);
        if (!ps->failed && cmp_op(ps, &op))
                rule_fail_at(ps, ps->tstart, "comparisons cannot be chained (use and)");
        return TY_BOOL;
}

static type_t parse_not(ps_t *ps) {
        if (ps->kind == T_IDENT && rule_tok_is(ps, "not")) {
                size_t at = ps->tstart;
                if (++ps->depth > RULE_MAX_DEPTH) {
                        rule_fail_at(ps, at, "expression nested too deeply");
                        return TY_BOOL;
                }
                rule_next(ps);
                need(ps, parse_not(ps), TY_BOOL, at, "'not'");
                ps->depth--;
                emit(ps, I_NOT, 0, 0);
                return TY_BOOL;
        }
        return parse_cmp(ps);
}

static type_t parse_and(ps_t *ps) {
        type_t t = parse_not(ps);
        while (!ps->failed && ps->kind == T_IDENT && rule_tok_is(ps, "and")) {
                size_t at = ps->tstart;
                need(ps, t, TY_BOOL, at, "'and'");
                rule_next(ps);
                need(ps, parse_not(ps), TY_BOOL, at, "'and'");
                emit(ps, I_AND, 0, -1);
                t = TY_BOOL;
        }
        return t;
}

static type_t parse_or(ps_t *ps) {
        type_t t = parse_and(ps);
        while (!ps->failed && ps->kind == T_IDENT && rule_tok_is(ps, "or")) {
                size_t at = ps->tstart;
                need(ps, t, TY_BOOL, at, "'or'");
                rule_next(ps);
                need(ps, parse_and(ps), TY_BOOL, at, "'or'");
                emit(ps, I_OR, 0, -1);
                t = TY_BOOL;
        }
        return t;
}

rule_prog_t *rule_compile(const char *expr, const rule_env_t *env, char *errstr,
                          size_t errstr_size) {
        ps_t ps;
        memset(&ps, 0, sizeof(ps));
        ps.src = expr;
        ps.env = env;
        ps.err = errstr;
        ps.errsz = errstr_size;
        ps.prog = calloc(1, sizeof(*ps.prog));
        if (!ps.prog) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        rule_next(&ps);
        type_t t = parse_or(&ps);
        char b[64];
        if (!ps.failed && ps.kind != T_END)
                rule_fail_at(&ps, ps.tstart,
                             "expected and, or or the end of the expression, got %s",
                             rule_tok_text(&ps, b, sizeof(b)));
        if (!ps.failed && t != TY_BOOL)
                rule_fail_at(
                        &ps, 0,
                        "the expression is a number, not a condition (compare it, e.g. ... < 20)");
        if (ps.failed) {
                rule_free(ps.prog);
                return NULL;
        }
        return ps.prog;
}

void rule_free(rule_prog_t *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->nterms; i++)
                free(p->terms[i].name);
        free(p->terms);
        free(p->code);
        free(p->consts);
        free(p);
}

size_t rule_nterms(const rule_prog_t *p) {
        return p->nterms;
}

const rule_term_t *rule_term(const rule_prog_t *p, size_t i) {
        return &p->terms[i];
}

int rule_eval(const rule_prog_t *p, const double *vals) {
        double st[RULE_MAX_STACK + 1];
        int sp = 0;
        for (size_t i = 0; i < p->ncode; i++) {
                const ins_t *in = &p->code[i];
                double a, b;
                switch (in->op) {
                case I_CONST:
                        st[sp++] = p->consts[in->arg];
                        continue;
                case I_TERM:
                        st[sp++] = vals[in->arg];
                        continue;
                case I_NEG:
                        st[sp - 1] = -st[sp - 1];
                        continue;
                case I_NOT:
                        st[sp - 1] = st[sp - 1] != 0 ? 0 : 1;
                        continue;
                default:
                        break;
                }
                b = st[--sp];
                a = st[sp - 1];
                double r;
                switch (in->op) {
                case I_ADD:
                        r = a + b;
                        break;
                case I_SUB:
                        r = a - b;
                        break;
                case I_MUL:
                        r = a * b;
                        break;
                case I_DIV:
                        r = b == 0 ? NAN : a / b;
                        break;
                /* NaN (null) compares false in every case, != included */
                case I_LT:
                        r = a < b;
                        break;
                case I_LE:
                        r = a <= b;
                        break;
                case I_GT:
                        r = a > b;
                        break;
                case I_GE:
                        r = a >= b;
                        break;
                case I_EQ:
                        r = a == b;
                        break;
                case I_NE:
                        r = !isnan(a) && !isnan(b) && a != b;
                        break;
                case I_AND:
                        r = a != 0 && b != 0;
                        break;
                case I_OR:
                        r = a != 0 || b != 0;
                        break;
                default:
                        r = NAN;
                        break;
                }
                st[sp - 1] = r;
        }
        return sp == 1 && st[0] != 0 && !isnan(st[0]);
}
