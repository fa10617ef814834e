/* th.h — the unit-test harness: a few macros and a main loop.
 *
 * A test file defines `static void test_x(void)` functions, lists them in
 * TH_TESTS(...) and gets a main() that runs each one, reports every failed
 * check with file:line, and ends with the line `<name>: N passed, N failed`
 * that tests/harness/run-unit.sh sums.  Checks do not abort the test, so one
 * run shows every broken expectation. */
#ifndef TH_H
#define TH_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int th_failed_checks;

#define TH_CHECK(cond)                                                                             \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        th_failed_checks++;                                                        \
                        printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
                }                                                                                  \
        } while (0)

#define TH_CHECK_STR(a, b)                                                                         \
        do {                                                                                       \
                const char *th_a_ = (a), *th_b_ = (b);                                             \
                if (!th_a_ || !th_b_ || strcmp(th_a_, th_b_) != 0) {                               \
                        th_failed_checks++;                                                        \
                        printf("  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
                               th_a_ ? th_a_ : "(null)", th_b_ ? th_b_ : "(null)");                \
                }                                                                                  \
        } while (0)

#define TH_CHECK_INT(a, b)                                                                         \
        do {                                                                                       \
                long long th_a_ = (long long)(a), th_b_ = (long long)(b);                          \
                if (th_a_ != th_b_) {                                                              \
                        th_failed_checks++;                                                        \
                        printf("  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,     \
                               th_a_, th_b_);                                                      \
                }                                                                                  \
        } while (0)

/* a contains b as a substring */
#define TH_CHECK_HAS(a, b)                                                                         \
        do {                                                                                       \
                const char *th_a_ = (a), *th_b_ = (b);                                             \
                if (!th_a_ || !strstr(th_a_, th_b_)) {                                             \
                        th_failed_checks++;                                                        \
                        printf("  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,    \
                               th_a_ ? th_a_ : "(null)", th_b_);                                   \
                }                                                                                  \
        } while (0)

/* The whole of a file given by its path from the repository root, or NULL
 * with a failed check; the caller frees it.  The root is found from this
 * header's __FILE__, which is as the Makefile names it (relative to the
 * root, where the suites run). */
static inline char *th_repo_file(const char *path) {
        const char *me = __FILE__, *tail = strstr(me, "tests/unit/th.h");
        char full[1024];
        snprintf(full, sizeof(full), "%.*s%s", (int)(tail ? tail - me : 0), me, path);
        FILE *f = fopen(full, "rb");
        char *text = NULL;
        long n = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (text = malloc((size_t)n + 1)) && fread(text, 1, (size_t)n, f) == (size_t)n)
                text[n] = '\0';
        else {
                free(text);
                text = NULL;
        }
        if (f)
                fclose(f);
        TH_CHECK(text != NULL);
        return text;
}

typedef struct {
        const char *name;
        void (*fn)(void);
} th_test_t;

#define TH_T(fn)                                                                                   \
        { #fn, fn }

#define TH_MAIN(suite, ...)                                                                        \
        int main(void) {                                                                           \
                static const th_test_t tests[] = {__VA_ARGS__};                                    \
                int passed = 0, failed = 0;                                                        \
                for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {                    \
                        int before = th_failed_checks;                                             \
                        tests[i].fn();                                                             \
                        if (th_failed_checks == before) {                                          \
                                passed++;                                                          \
                                printf("  ok   %s.%s\n", suite, tests[i].name);                    \
                        } else {                                                                   \
                                failed++;                                                          \
                                printf("  FAIL %s.%s\n", suite, tests[i].name);                    \
                        }                                                                          \
                }                                                                                  \
                printf("%s: %d passed, %d failed\n", suite, passed, failed);                       \
                return failed ? 1 : 0;                                                             \
        }

#endif
