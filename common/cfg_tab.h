/* cfg_tab — a service's settings as one declarative table.
 *
 * Each row names an environment variable, its type, the struct field it
 * fills (offset and size), its default spelled as an operator would write
 * it, its range and one line of documentation.  The same row drives
 *   - loading (cfg_tab_load): every value goes through the cfg_ getters of
 *     cfg.h, so every bad value is refused the same way, with a message
 *     naming the variable, the value (unless a secret) and what is allowed;
 *   - the settings tables of the docs (cfg_tab_markdown_rows, printed by
 *     tests/tools/cfg_doc, checked by `make lint`);
 *   - the unit tests' sanity checks (cfg_tab_check: defaults parse and lie
 *     in range, fields are wide enough, docs fit in a markdown cell).
 *
 * A table is data: `static const cfg_def_t rows[] = {...}` next to the
 * struct it fills, exported as a cfg_tab_t.  A service that wants another
 * default for a shared table (compute's commit cadence) passes `defaults`,
 * NULL-terminated name/value pairs that replace the rows' `def`, to both
 * cfg_tab_load and cfg_tab_markdown, so the docs show what runs. */
#ifndef WEIR_CFG_TAB_H
#define WEIR_CFG_TAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
        CFG_STR,      /* const char *: into the environment, or the row's def */
        CFG_SECRET,   /* const char *: NAME or the content of NAME_FILE (cfg_secret) */
        CFG_INT,      /* an integer field of any width */
        CFG_BOOL,     /* an integer field: 1 or 0 */
        CFG_DURATION, /* an integer field: milliseconds */
        CFG_SIZE,     /* an integer field: bytes */
        CFG_ENUM,     /* an integer (or enum) field: the index in choices */
        CFG_RATIO     /* double: a fraction in 0..1 */
} cfg_type_t;

enum {
        CFG_REQUIRED = 1 << 0, /* CFG_STR: unset or empty is an error */
        CFG_OFF = 1 << 1       /* CFG_INT/CFG_DURATION: the word "off" gives -1 */
};

typedef struct cfg_def_s {
        const char *name; /* the environment variable */
        cfg_type_t type;
        size_t off, size; /* the field: CFG_FIELD(struct, member) */
        /* The default, spelled as a value ("16MiB", "30s", "true", a choice);
         * NULL: unset (strings NULL, numbers 0). */
        const char *def;
        int64_t min, max;           /* inclusive: CFG_INT, CFG_DURATION (ms), CFG_SIZE */
        const char *const *choices; /* CFG_ENUM: NULL-terminated, matched case-insensitively */
        unsigned flags;             /* CFG_REQUIRED, CFG_OFF */
        const char *doc;            /* markdown, one line, no '|' */
        /* The docs' default column when the default is computed at start-up
         * ("the pipeline `name`"); else def is shown. */
        const char *def_doc;
        /* The docs' "allowed" column when the type alone does not say
         * (a URL, a path, a list); else it is derived from type and range. */
        const char *form;
} cfg_def_t;

#define CFG_FIELD(type, member) .off = offsetof(type, member), .size = sizeof(((type *)0)->member)

typedef struct cfg_tab_s {
        const char *name; /* "ingress", "commit", ... (the docs' marker) */
        const cfg_def_t *defs;
        size_t n;
} cfg_tab_t;

#define CFG_TAB(name, rows)                                                                        \
        { name, rows, sizeof(rows) / sizeof((rows)[0]) }

/* Fills every field of `obj` the table names from the environment (or the
 * default).  Stops at the first bad value: -1 with errstr as cfg.h's
 * getters write it, e.g. `HTTP_PORT="70000": expected an integer in
 * 0..65535`.  Strings point into the environment, the table, `defaults` or
 * cfg_secret's copies: the caller frees none of them. */
int cfg_tab_load(const cfg_tab_t *t, const char *const *defaults, void *obj, char *errstr,
                 size_t errstr_size);

/* Fills every field with its default, ignoring the environment. */
void cfg_tab_defaults(const cfg_tab_t *t, const char *const *defaults, void *obj);

/* Prints the rows as markdown table rows (no header): variable, default,
 * allowed, meaning. */
void cfg_tab_markdown_rows(FILE *out, const cfg_tab_t *t, const char *const *defaults);
/* The header line and its separator. */
void cfg_tab_markdown_header(FILE *out);

/* 0 if every row is sound (see the top of this file), else -1 with errstr
 * naming the first bad row. */
int cfg_tab_check(const cfg_tab_t *t, const char *const *defaults, char *errstr,
                  size_t errstr_size);

#endif
