/* rule — the rule expression language, compiled once at start-up into a
 * small postfix program evaluated per closed window without allocating.
 *
 *   expr    = or ;
 *   or      = and { "or" and } ;
 *   and     = not { "and" not } ;
 *   not     = "not" not | cmp ;
 *   cmp     = sum [ ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) sum ] ;
 *   sum     = product { ( "+" | "-" ) product } ;
 *   product = unary { ( "*" | "/" ) unary } ;
 *   unary   = "-" unary | primary ;
 *   primary = number | term | "(" expr ")" ;
 *   term    = "count" "(" [ field ] ")"
 *           | op "(" field ")"            op: sum min max mean variance stddev
 *                                              first last p50 p90 p95 p99
 *           | "zscore" "(" "mean" "(" field ")" ")" ;
 *
 * Types are checked at compile time: and/or/not take conditions, arithmetic
 * and comparisons take numbers, the whole expression is a condition.  A
 * term's value may be null (no value in the window, z-score without enough
 * history); arithmetic on null is null, a comparison with null is false.
 * Division by zero is null. */
#ifndef WEIR_RULE_H
#define WEIR_RULE_H

#include "spec.h"

#include <stddef.h>

typedef enum { RULE_TERM_COUNT, RULE_TERM_OP, RULE_TERM_ZSCORE } rule_term_kind_t;

typedef struct {
        rule_term_kind_t kind;
        size_t field; /* RULE_TERM_OP, RULE_TERM_ZSCORE: index among aggregated fields */
        spec_op_t op; /* RULE_TERM_OP (SPEC_OP_COUNT: the field's count) */
        char *name;   /* canonical text, e.g. "mean(speed_kmh)"; owned by the program */
} rule_term_t;

/* What the expression may reference: the aggregated fields and their ops. */
typedef struct {
        size_t nfields;
        const spec_aggregate_t *fields;
} rule_env_t;

typedef struct rule_prog_s rule_prog_t;

/* Compiles expr.  On error returns NULL with errstr "column C: ..." (or
 * "line L, column C: ..." when expr has several lines); the caller prefixes
 * the spec path.  The program is freed with rule_free(). */
rule_prog_t *rule_compile(const char *expr, const rule_env_t *env, char *errstr,
                          size_t errstr_size);
void rule_free(rule_prog_t *p);

size_t rule_nterms(const rule_prog_t *p);
const rule_term_t *rule_term(const rule_prog_t *p, size_t i);

/* Evaluates with vals[i] the value of term i (NaN = null).  Returns 1 when
 * the expression holds, else 0.  Thread-safe, allocation-free. */
int rule_eval(const rule_prog_t *p, const double *vals);

#endif
