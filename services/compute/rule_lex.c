/* rule_lex — the rule language's tokens (numbers, names, parentheses,
 * operators) and its error messages with line and column. */
#include "rule_int.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rule_fail_at(ps_t *ps, size_t at, const char *fmt, ...) {
        if (ps->failed)
                return;
        ps->failed = 1;
        size_t line = 1, col = 1;
        int multiline = strchr(ps->src, '\n') != NULL;
        for (size_t i = 0; i < at && ps->src[i]; i++) {
                if (ps->src[i] == '\n') {
                        line++;
                        col = 1;
                } else {
                        col++;
                }
        }
        int n = multiline ? snprintf(ps->err, ps->errsz, "line %zu, column %zu: ", line, col)
                          : snprintf(ps->err, ps->errsz, "column %zu: ", col);
        if (n < 0 || (size_t)n >= ps->errsz)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errsz - (size_t)n, fmt, ap);
        va_end(ap);
}

/* The current token as text for messages ("end of expression" at the end). */
const char *rule_tok_text(const ps_t *ps, char *buf, size_t bufsz) {
        if (ps->kind == T_END)
                return "end of expression";
        size_t n = ps->tlen < 40 ? ps->tlen : 40;
        snprintf(buf, bufsz, "\"%.*s\"", (int)n, ps->src + ps->tstart);
        return buf;
}

int rule_tok_is(const ps_t *ps, const char *s) {
        size_t n = strlen(s);
        return ps->kind != T_END && ps->tlen == n && memcmp(ps->src + ps->tstart, s, n) == 0;
}

void rule_next(ps_t *ps) {
        const char *s = ps->src;
        while (s[ps->pos] == ' ' || s[ps->pos] == '\t' || s[ps->pos] == '\n' || s[ps->pos] == '\r')
                ps->pos++;
        ps->tstart = ps->pos;
        char c = s[ps->pos];
        if (!c) {
                ps->kind = T_END;
                ps->tlen = 0;
                return;
        }
        if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[ps->pos + 1]))) {
                char *end;
                ps->num = strtod(s + ps->pos, &end);
                size_t n = (size_t)(end - (s + ps->pos));
                /* strtod also takes hex, inf and nan; the language has plain decimals */
                for (size_t i = 0; i < n; i++) {
                        char d = s[ps->pos + i];
                        if (!isdigit((unsigned char)d) && d != '.' && d != 'e' && d != 'E' &&
                            d != '+' && d != '-') {
                                n = i;
                                break;
                        }
                }
                if (n == 0 || !isfinite(ps->num) || isalpha((unsigned char)s[ps->pos + n]) ||
                    s[ps->pos + n] == '_') {
                        ps->kind = T_NUM;
                        ps->tlen = n ? n : 1;
                        rule_fail_at(ps, ps->tstart, "malformed number");
                        return;
                }
                ps->kind = T_NUM;
                ps->tlen = n;
                ps->pos += n;
                return;
        }
        if (isalpha((unsigned char)c) || c == '_') {
                size_t n = 0;
                while (isalnum((unsigned char)s[ps->pos + n]) || s[ps->pos + n] == '_')
                        n++;
                ps->kind = T_IDENT;
                ps->tlen = n;
                ps->pos += n;
                return;
        }
        if (c == '(' || c == ')') {
                ps->kind = c == '(' ? T_LP : T_RP;
                ps->tlen = 1;
                ps->pos++;
                return;
        }
        static const char *const ops[] = {"<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/"};
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                size_t n = strlen(ops[i]);
                if (strncmp(s + ps->pos, ops[i], n) == 0) {
                        ps->kind = T_OP;
                        ps->tlen = n;
                        ps->pos += n;
                        return;
                }
        }
        ps->kind = T_OP;
        ps->tlen = 1;
        if (c == '=')
                rule_fail_at(ps, ps->tstart, "unexpected '=' (write == to compare)");
        else if (c == '&' || c == '|' || c == '!')
                rule_fail_at(ps, ps->tstart, "unexpected '%c' (write and, or, not)", c);
        else if (isprint((unsigned char)c))
                rule_fail_at(ps, ps->tstart, "unexpected character '%c'", c);
        else
                rule_fail_at(ps, ps->tstart, "unexpected byte 0x%02x", (unsigned)(unsigned char)c);
}
