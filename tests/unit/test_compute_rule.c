/* Unit tests: the rule expression language (grammar, types, null
 * semantics, exact error messages with columns) and its start-up errors
 * through cp_engine_new(). */
#include "th.h"

#include "../../services/compute/rule.h"
#include "th_compute.h"

#include <math.h>

static const spec_aggregate_t FIELDS[] = {
        {"speed", (1u << SPEC_OP_MEAN) | (1u << SPEC_OP_P99) | (1u << SPEC_OP_MAX)},
        {"occ", 1u << SPEC_OP_SUM},
};
static const rule_env_t ENV = {2, FIELDS};
static char err[512];

static const char *compile_err(const char *expr) {
        err[0] = '\0';
        rule_prog_t *p = rule_compile(expr, &ENV, err, sizeof(err));
        if (p) {
                rule_free(p);
                return "OK";
        }
        return err;
}

/* Evaluates expr with the named terms set (others null). */
static int eval_with(const char *expr, const char *names[], const double vals[], size_t n) {
        rule_prog_t *p = rule_compile(expr, &ENV, err, sizeof(err));
        if (!p) {
                printf("  compile %s: %s\n", expr, err);
                return -1;
        }
        double tv[32];
        for (size_t i = 0; i < rule_nterms(p); i++) {
                tv[i] = NAN;
                for (size_t j = 0; j < n; j++)
                        if (strcmp(rule_term(p, i)->name, names[j]) == 0)
                                tv[i] = vals[j];
        }
        int r = rule_eval(p, tv);
        rule_free(p);
        return r;
}

static void test_rule_terms(void) {
        rule_prog_t *p = rule_compile("mean(speed) < 20 and count() >= 10 or zscore(mean(speed)) < "
                                      "-3 and mean(speed) > 1 "
                                      "and count(occ) > 0",
                                      &ENV, err, sizeof(err));
        TH_CHECK(p != NULL);
        if (!p)
                return;
        TH_CHECK_INT(rule_nterms(p), 4); /* mean(speed) once */
        TH_CHECK_STR(rule_term(p, 0)->name, "mean(speed)");
        TH_CHECK_STR(rule_term(p, 1)->name, "count()");
        TH_CHECK_STR(rule_term(p, 2)->name, "zscore(mean(speed))");
        TH_CHECK_STR(rule_term(p, 3)->name, "count(occ)");
        TH_CHECK(rule_term(p, 2)->kind == RULE_TERM_ZSCORE && rule_term(p, 2)->field == 0);
        TH_CHECK(rule_term(p, 3)->kind == RULE_TERM_OP && rule_term(p, 3)->field == 1);
        rule_free(p);
}

static void test_rule_eval(void) {
        const char *n[] = {"mean(speed)", "count()", "zscore(mean(speed))", "sum(occ)"};
        double v[] = {15, 12, -4, 7};
        TH_CHECK_INT(eval_with("mean(speed) < 20 and count() >= 10", n, v, 4), 1);
        TH_CHECK_INT(eval_with("mean(speed) < 20 and count() >= 13", n, v, 4), 0);
        TH_CHECK_INT(eval_with("mean(speed) > 20 or count() == 12", n, v, 4), 1);
        TH_CHECK_INT(eval_with("not mean(speed) > 20", n, v, 4), 1);
        TH_CHECK_INT(eval_with("not not (mean(speed) > 20)", n, v, 4), 0);
        /* precedence: * before +, comparison before and, and before or */
        TH_CHECK_INT(eval_with("1 + 2 * 3 == 7", n, v, 4), 1);
        TH_CHECK_INT(eval_with("(1 + 2) * 3 == 9", n, v, 4), 1);
        TH_CHECK_INT(eval_with("10 - 4 - 3 == 3", n, v, 4), 1); /* left-associative */
        TH_CHECK_INT(eval_with("8 / 4 / 2 == 1", n, v, 4), 1);
        TH_CHECK_INT(eval_with("-count() == -12 and - -1 == 1", n, v, 4), 1);
        TH_CHECK_INT(eval_with("1 > 2 and 1 > 2 or 3 > 2", n, v, 4), 1);
        TH_CHECK_INT(eval_with("3 > 2 or 1 > 2 and 1 > 2", n, v, 4), 1);
        TH_CHECK_INT(eval_with("sum(occ) / count() > 0.5 and sum(occ) / count() < 0.6", n, v, 4),
                     1);
        TH_CHECK_INT(eval_with("1.5e1 == 15 and .5 == 0.5 and 2E-1 == 0.2", n, v, 4), 1);
        TH_CHECK_INT(eval_with("zscore(mean(speed)) < -3", n, v, 4), 1);
        TH_CHECK_INT(eval_with("mean(speed) != 15 or mean(speed) <= 15", n, v, 4), 1);
}

static void test_rule_null(void) {
        /* zscore absent (not enough history): every comparison with it is false */
        const char *n[] = {"mean(speed)"};
        double v[] = {15};
        TH_CHECK_INT(eval_with("zscore(mean(speed)) < -3", n, v, 1), 0);
        TH_CHECK_INT(eval_with("zscore(mean(speed)) >= -3", n, v, 1), 0);
        TH_CHECK_INT(eval_with("zscore(mean(speed)) != 1", n, v, 1), 0);
        TH_CHECK_INT(eval_with("zscore(mean(speed)) + 1 == zscore(mean(speed)) + 1", n, v, 1), 0);
        TH_CHECK_INT(eval_with("not (zscore(mean(speed)) < -3)", n, v, 1), 1);
        TH_CHECK_INT(eval_with("zscore(mean(speed)) < -3 or mean(speed) < 20", n, v, 1), 1);
        TH_CHECK_INT(eval_with("mean(speed) / 0 > 0 or mean(speed) / 0 <= 0", n, v, 1), 0);
}

static void test_rule_errors(void) {
        TH_CHECK_STR(compile_err(""), "column 1: expected a number, an aggregate like mean(field) "
                                      "or '(', got end of expression");
        TH_CHECK_STR(compile_err("mean(speed) <"),
                     "column 14: expected a number, an aggregate like mean(field) or '(', got end "
                     "of expression");
        TH_CHECK_STR(compile_err("mean(speed) < 20 and"),
                     "column 21: expected a number, an aggregate like mean(field) or '(', got end "
                     "of expression");
        TH_CHECK_STR(compile_err("median(speed) < 3"),
                     "column 1: unknown function \"median\" (expected count, sum, min, max, mean, "
                     "variance, stddev, first, last, p50, p90, p95, p99 or zscore)");
        TH_CHECK_STR(compile_err("mean(speed < 3"),
                     "column 12: expected ')' after the field name, got \"<\"");
        TH_CHECK_STR(
                compile_err("mean(spd) < 3"),
                "column 6: \"spd\" is not an aggregated field (add it to $.compute.aggregates)");
        TH_CHECK_STR(compile_err("p95(speed) > 3"),
                     "column 1: p95 of \"speed\" is not computed (add \"p95\" to its ops in "
                     "$.compute.aggregates)");
        TH_CHECK_STR(compile_err("mean speed"),
                     "column 6: expected '(' after \"mean\", got \"speed\"");
        TH_CHECK_STR(compile_err("mean() > 1"),
                     "column 6: expected a field name in mean(), got \")\"");
        TH_CHECK_STR(compile_err("zscore(max(speed)) < 1"),
                     "column 8: zscore() takes mean(field), got \"max\"");
        TH_CHECK_STR(compile_err("count() >= 10 && mean(speed) < 3"),
                     "column 15: unexpected '&' (write and, or, not)");
        TH_CHECK_STR(compile_err("count() = 10"), "column 9: unexpected '=' (write == to compare)");
        TH_CHECK_STR(compile_err("count() # 10"), "column 9: unexpected character '#'");
        TH_CHECK_STR(compile_err("count() > 1 2"),
                     "column 13: expected and, or or the end of the expression, got \"2\"");
        TH_CHECK_STR(compile_err("mean(speed)"), "column 1: the expression is a number, not a "
                                                 "condition (compare it, e.g. ... < 20)");
        TH_CHECK_STR(compile_err("count() and count() > 1"),
                     "column 9: 'and' needs conditions (comparisons), got a number");
        TH_CHECK_STR(compile_err("count() > 1 or 3"),
                     "column 13: 'or' needs conditions (comparisons), got a number");
        TH_CHECK_STR(compile_err("(count() > 1) + 1 > 0"),
                     "column 15: '+' needs numbers, got a condition");
        TH_CHECK_STR(compile_err("not count()"),
                     "column 1: 'not' needs conditions (comparisons), got a number");
        TH_CHECK_STR(compile_err("1 < 2 < 3"), "column 7: comparisons cannot be chained (use and)");
        TH_CHECK_STR(compile_err("count() > 1e"), "column 11: malformed number");
        TH_CHECK_STR(compile_err("count() > 12abc"), "column 11: malformed number");
        TH_CHECK_STR(compile_err("(count() > 1"), "column 13: expected ')' after the parenthesised "
                                                  "expression, got end of expression");
        TH_CHECK_STR(compile_err("count(x) > 1"),
                     "column 7: \"x\" is not an aggregated field (add it to $.compute.aggregates)");
        TH_CHECK_STR(compile_err("count() > 1 and\n  mean(speed) <"),
                     "line 2, column 16: expected a number, an aggregate like mean(field) or '(', "
                     "got end of expression");
        TH_CHECK_STR(compile_err("count() > 1 and\n  foo(speed) < 3"),
                     "line 2, column 3: unknown function \"foo\" (expected count, sum, min, max, "
                     "mean, variance, stddev, first, last, p50, p90, p95, p99 or zscore)");
}

static void test_rule_hostile(void) {
        /* deep nesting is an error, not a stack overflow */
        char deep[4096];
        size_t n = 0;
        for (int i = 0; i < 1000; i++)
                deep[n++] = '(';
        memcpy(deep + n, "1 > 0", 5);
        n += 5;
        for (int i = 0; i < 1000; i++)
                deep[n++] = ')';
        deep[n] = '\0';
        TH_CHECK_HAS(compile_err(deep), "nested too deeply");
        for (size_t i = 0; i < 1000; i++)
                deep[i] = '-';
        strcpy(deep + 1000, "1 > 0");
        TH_CHECK_HAS(compile_err(deep), "nested too deeply");
        char nots[8000] = "";
        for (int i = 0; i < 1000; i++)
                strcat(nots, "not ");
        strcat(nots, "1 > 0");
        TH_CHECK_HAS(compile_err(nots), "nested too deeply");
        /* a long flat expression is fine */
        char flat[20000] = "1";
        for (int i = 0; i < 2000; i++)
                strcat(flat, " + 1");
        strcat(flat, " == 2001");
        TH_CHECK_STR(compile_err(flat), "OK");
        TH_CHECK_INT(eval_with(flat, NULL, NULL, 0), 1);
        TH_CHECK_HAS(compile_err("count() > \x01"), "unexpected byte 0x01");
        TH_CHECK_HAS(compile_err("count() > 1e999"), "malformed number");
        TH_CHECK_HAS(compile_err("count() > 0x10"), "malformed number");
}

/* Start-up: the engine prefixes the file and the spec path. */
static void test_rule_engine_errors(void) {
        tc_t t;
        TH_CHECK(tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'1m'}],"
                             "'aggregates':[{'field':'speed','ops':['mean']}],"
                             "'rules':[{'name':'a','expr':'mean(speed) < 20'},"
                             "{'name':'b','expr':'mean(speed) < 20 and p99(speed) > 3'}]") < 0);
        TH_CHECK_STR(t.err,
                     "pipeline.json: $.compute.rules[1].expr: column 22: p99 of \"speed\" is "
                     "not computed (add \"p99\" to its ops in $.compute.aggregates)");
        tc_close(&t);
        TH_CHECK(tc_open(&t, "'windows':[{'name':'w','type':'tumbling','size':'1m'}],"
                             "'rules':[{'name':'a','expr':'count() >= 10 and'}]") < 0);
        TH_CHECK_STR(t.err,
                     "pipeline.json: $.compute.rules[0].expr: column 18: expected a number, an "
                     "aggregate like mean(field) or '(', got end of expression");
        tc_close(&t);
        TH_CHECK(tc_open(&t,
                         "'windows':[{'name':'w','type':'hopping','size':'1d','advance':'1ms'}]") <
                 0);
        TH_CHECK_STR(t.err,
                     "pipeline.json: $.compute.windows[0].advance: size / advance = 86400000 "
                     "overlapping windows per record; at most 10000");
        tc_close(&t);
}

/* Start-up: aggregated fields must be numeric in the input schema. */
static void test_engine_schema_check(void) {
        static const char *sch =
                "{'type':'record','name':'R','namespace':'x','fields':[{'name':'k','type':'string'}"
                ","
                "{'name':'a','type':'double'},{'name':'b','type':['null','int']},"
                "{'name':'c','type':'string'},{'name':'d','type':['null','string']},"
                "{'name':'e','type':['int','long']},{'name':'f','type':'float'},{'name':'g','type':"
                "'long'}]}";
        char *js = tc_q(sch);
        char e2[512];
        av_schema_t *s = av_schema_parse(js, strlen(js), "test", e2, sizeof(e2));
        free(js);
        TH_CHECK(s != NULL);
        if (!s)
                return;
        static const struct {
                const char *field, *want;
        } cases[] = {
                {"a", "OK"},
                {"b", "OK"},
                {"f", "OK"},
                {"g", "OK"},
                {"c",
                 "pipeline.json: $.compute.aggregates[0].field: field \"c\" of x.R is a string; "
                 "aggregates need int, long, float, double or a union of null and one of them"},
                {"d",
                 "pipeline.json: $.compute.aggregates[0].field: field \"d\" of x.R is a union; "
                 "aggregates need int, long, float, double or a union of null and one of them"},
                {"e",
                 "pipeline.json: $.compute.aggregates[0].field: field \"e\" of x.R is a union; "
                 "aggregates need int, long, float, double or a union of null and one of them"},
                {"zz",
                 "pipeline.json: $.compute.aggregates[0].field: \"zz\" is not a field of x.R"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char doc[1024];
                snprintf(doc, sizeof(doc),
                         "{'name':'p','input':{'topic':'in','schema':'x.R','key':'k'},'compute':{"
                         "'windows':[{'name':'w','type':'tumbling','size':'1m'}],"
                         "'aggregates':[{'field':'%s','ops':['mean']}]}}",
                         cases[i].field);
                char *j = tc_q(doc);
                spec_t *sp = spec_parse(j, strlen(j), "pipeline.json", SPEC_PART_COMPUTE, e2,
                                        sizeof(e2));
                free(j);
                TH_CHECK(sp != NULL);
                if (!sp)
                        continue;
                cp_engine_t *e = cp_engine_new(sp, s, e2, sizeof(e2));
                TH_CHECK_STR(e ? "OK" : e2, cases[i].want);
                cp_engine_destroy(e);
                spec_free(sp);
        }
        av_schema_destroy(s);
}

TH_MAIN("compute_rule", TH_T(test_rule_terms), TH_T(test_rule_eval), TH_T(test_rule_null),
        TH_T(test_rule_errors), TH_T(test_rule_hostile), TH_T(test_rule_engine_errors),
        TH_T(test_engine_schema_check))
