/* rule_int — what the rule compiler's lexer (rule_lex.c) and parser
 * (rule.c) share: the program, the parser state and the token reader. */
#ifndef WEIR_RULE_INT_H
#define WEIR_RULE_INT_H

#include "rule.h"

#include <stddef.h>

#define RULE_MAX_DEPTH 64
#define RULE_MAX_STACK 128

typedef enum {
        I_CONST,
        I_TERM,
        I_NEG,
        I_ADD,
        I_SUB,
        I_MUL,
        I_DIV,
        I_LT,
        I_LE,
        I_GT,
        I_GE,
        I_EQ,
        I_NE,
        I_AND,
        I_OR,
        I_NOT
} ins_op_t;

typedef struct {
        ins_op_t op;
        size_t arg; /* I_CONST: index in consts; I_TERM: term index */
} ins_t;

struct rule_prog_s {
        ins_t *code;
        size_t ncode, capcode;
        double *consts;
        size_t nconsts, capconsts;
        rule_term_t *terms;
        size_t nterms, capterms;
};

typedef enum { T_END, T_NUM, T_IDENT, T_LP, T_RP, T_OP } tok_kind_t;
typedef enum { TY_NUM, TY_BOOL } type_t;

typedef struct {
        const char *src;
        size_t pos;          /* next unread byte */
        tok_kind_t kind;     /* current token */
        size_t tstart, tlen; /* its bytes */
        double num;
        const rule_env_t *env;
        rule_prog_t *prog;
        int depth, sp, maxsp;
        int failed;
        char *err;
        size_t errsz;
} ps_t;

/* Records the first error, "column C: ..." (or "line L, column C: ..."). */
void rule_fail_at(ps_t *ps, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The current token quoted for messages, or "end of expression". */
const char *rule_tok_text(const ps_t *ps, char *buf, size_t bufsz);
int rule_tok_is(const ps_t *ps, const char *s);
/* Reads the next token into ps (kind, tstart, tlen, num). */
void rule_next(ps_t *ps);

#endif
