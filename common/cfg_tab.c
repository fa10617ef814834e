/* cfg_tab — loading, documenting and checking a settings table.  See
 * cfg_tab.h.
 *
 * Loading goes through cfg.h's getters rather than a parser of its own, so
 * a value refused here reads exactly like one refused anywhere else. */
#include "cfg_tab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

/* The row's default, or the service's replacement from `defaults`. */
static const char *cfg_tab_def(const cfg_def_t *d, const char *const *defaults) {
        for (; defaults && defaults[0] && defaults[1]; defaults += 2)
                if (!strcmp(defaults[0], d->name))
                        return defaults[1];
        return d->def;
}

static int cfg_tab_is_int(cfg_type_t t) {
        return t == CFG_INT || t == CFG_BOOL || t == CFG_DURATION || t == CFG_SIZE || t == CFG_ENUM;
}

/* `s` as the row's type would read it from the environment; NULL is 0. */
static int cfg_tab_parse(const cfg_def_t *d, const char *s, int64_t *out) {
        *out = 0;
        if (!s)
                return 0;
        if ((d->flags & CFG_OFF) && !strcasecmp(s, "off")) {
                *out = -1;
                return 0;
        }
        switch (d->type) {
        case CFG_INT: {
                char *end;
                errno = 0;
                long long n = strtoll(s, &end, 10);
                if (end == s || *end || errno == ERANGE)
                        return -1;
                *out = n;
                return 0;
        }
        case CFG_BOOL: {
                int b;
                if (cfg_parse_bool(s, &b) == -1)
                        return -1;
                *out = b;
                return 0;
        }
        case CFG_DURATION:
                return cfg_parse_duration_ms(s, out);
        case CFG_SIZE:
                return cfg_parse_size_bytes(s, out);
        case CFG_ENUM:
                for (int i = 0; d->choices && d->choices[i]; i++)
                        if (!strcasecmp(s, d->choices[i])) {
                                *out = i;
                                return 0;
                        }
                return -1;
        default:
                return -1;
        }
}

/* Widths are those of the field; values are in the row's range, so the
 * conversion to the unsigned type of that width keeps their bits. */
static void cfg_tab_store_int(void *obj, const cfg_def_t *d, int64_t v) {
        char *p = (char *)obj + d->off;
        switch (d->size) {
        case 1: {
                uint8_t x = (uint8_t)v;
                memcpy(p, &x, 1);
                break;
        }
        case 2: {
                uint16_t x = (uint16_t)v;
                memcpy(p, &x, 2);
                break;
        }
        case 4: {
                uint32_t x = (uint32_t)v;
                memcpy(p, &x, 4);
                break;
        }
        default: {
                uint64_t x = (uint64_t)v;
                memcpy(p, &x, 8);
                break;
        }
        }
}

static void cfg_tab_store_ptr(void *obj, const cfg_def_t *d, const char *s) {
        memcpy((char *)obj + d->off, &s, sizeof(s));
}

static int cfg_tab_ratio(const cfg_def_t *d, const char *def, void *obj, char *errstr,
                         size_t errstr_size) {
        const char *v = getenv(d->name);
        const char *s = v && *v ? v : def;
        double r = 0;
        if (s) {
                char *end;
                r = strtod(s, &end);
                if (end == s || *end || !(r >= 0.0 && r <= 1.0)) {
                        snprintf(errstr, errstr_size, "%s=\"%.200s\": expected a ratio in 0..1",
                                 d->name, s);
                        return -1;
                }
        }
        memcpy((char *)obj + d->off, &r, sizeof(r));
        return 0;
}

static int cfg_tab_one(const cfg_def_t *d, const char *def, void *obj, char *errstr,
                       size_t errstr_size) {
        const char *s = NULL;
        int64_t defv, v = 0;
        int rc = 0;
        if (d->type == CFG_STR) {
                rc = (d->flags & CFG_REQUIRED) ? cfg_str_required(d->name, &s, errstr, errstr_size)
                                               : cfg_str(d->name, def, &s, errstr, errstr_size);
                if (rc == 0)
                        cfg_tab_store_ptr(obj, d, s);
                return rc;
        }
        if (d->type == CFG_SECRET) {
                if (cfg_secret(d->name, &s, errstr, errstr_size) == -1)
                        return -1;
                cfg_tab_store_ptr(obj, d, s ? s : def);
                return 0;
        }
        if (d->type == CFG_RATIO)
                return cfg_tab_ratio(d, def, obj, errstr, errstr_size);
        if (cfg_tab_parse(d, def, &defv) == -1) {
                snprintf(errstr, errstr_size, "%s: the built-in default \"%s\" is invalid", d->name,
                         def);
                return -1;
        }
        const char *env = getenv(d->name);
        if ((d->flags & CFG_OFF) && env && !strcasecmp(env, "off")) {
                cfg_tab_store_int(obj, d, -1);
                return 0;
        }
        switch (d->type) {
        case CFG_INT:
                rc = cfg_int(d->name, defv, d->min, d->max, &v, errstr, errstr_size);
                break;
        case CFG_DURATION:
                rc = cfg_duration_ms(d->name, defv, d->min, d->max, &v, errstr, errstr_size);
                break;
        case CFG_SIZE:
                rc = cfg_size_bytes(d->name, defv, d->min, d->max, &v, errstr, errstr_size);
                break;
        case CFG_BOOL: {
                int b;
                rc = cfg_bool(d->name, (int)defv, &b, errstr, errstr_size);
                v = b;
                break;
        }
        case CFG_ENUM: {
                int i;
                rc = cfg_enum(d->name, def, d->choices, &i, errstr, errstr_size);
                v = i;
                break;
        }
        default:
                snprintf(errstr, errstr_size, "%s: unknown setting type", d->name);
                return -1;
        }
        if (rc == -1) {
                if (d->flags & CFG_OFF) {
                        size_t n = strlen(errstr);
                        snprintf(errstr + n, errstr_size - n, ", or off");
                }
                return -1;
        }
        cfg_tab_store_int(obj, d, v);
        return 0;
}

int cfg_tab_load(const cfg_tab_t *t, const char *const *defaults, void *obj, char *errstr,
                 size_t errstr_size) {
        for (size_t i = 0; i < t->n; i++)
                if (cfg_tab_one(&t->defs[i], cfg_tab_def(&t->defs[i], defaults), obj, errstr,
                                errstr_size) == -1)
                        return -1;
        return 0;
}

void cfg_tab_defaults(const cfg_tab_t *t, const char *const *defaults, void *obj) {
        for (size_t i = 0; i < t->n; i++) {
                const cfg_def_t *d = &t->defs[i];
                const char *def = cfg_tab_def(d, defaults);
                int64_t v;
                if (d->type == CFG_STR || d->type == CFG_SECRET) {
                        cfg_tab_store_ptr(obj, d, def);
                } else if (d->type == CFG_RATIO) {
                        double r = def ? strtod(def, NULL) : 0.0;
                        memcpy((char *)obj + d->off, &r, sizeof(r));
                } else if (cfg_tab_parse(d, def, &v) == 0) {
                        cfg_tab_store_int(obj, d, v);
                }
        }
}

/* ------------------------------------------------------------ docs */

void cfg_tab_markdown_header(FILE *out) {
        fputs("| variable | default | allowed | meaning |\n|---|---|---|---|\n", out);
}

/* One bound as the type spells it. */
static void cfg_tab_fmt(const cfg_def_t *d, int64_t v, char *buf, size_t size) {
        if (d->type == CFG_DURATION)
                cfg_fmt_duration(buf, size, v);
        else if (d->type == CFG_SIZE)
                cfg_fmt_size(buf, size, v);
        else
                snprintf(buf, size, "%lld", (long long)v);
}

static void cfg_tab_allowed(FILE *out, const cfg_def_t *d) {
        char lo[32], hi[32];
        if (d->form) {
                fputs(d->form, out);
                return;
        }
        switch (d->type) {
        case CFG_STR:
                fputs("text", out);
                break;
        case CFG_SECRET:
                fprintf(out, "text, a secret (or `%s_FILE`: a file holding it)", d->name);
                break;
        case CFG_BOOL:
                fputs("`true`, `false`", out);
                break;
        case CFG_ENUM:
                for (int i = 0; d->choices[i]; i++)
                        fprintf(out, "%s`%s`", i ? ", " : "", d->choices[i]);
                break;
        case CFG_RATIO:
                fputs("0 … 1", out);
                break;
        default:
                cfg_tab_fmt(d, d->min, lo, sizeof(lo));
                cfg_tab_fmt(d, d->max, hi, sizeof(hi));
                if (d->type == CFG_INT && d->max == INT64_MAX)
                        fprintf(out, "≥ %s", lo);
                else if (d->type == CFG_INT)
                        fprintf(out, "%s … %s", lo, hi);
                else if (d->max == INT64_MAX)
                        fprintf(out, "≥ `%s`", lo);
                else
                        fprintf(out, "`%s` … `%s`", lo, hi);
                if (d->flags & CFG_OFF)
                        fputs(", or `off`", out);
                break;
        }
}

void cfg_tab_markdown_rows(FILE *out, const cfg_tab_t *t, const char *const *defaults) {
        for (size_t i = 0; i < t->n; i++) {
                const cfg_def_t *d = &t->defs[i];
                const char *def = cfg_tab_def(d, defaults);
                fprintf(out, "| `%s` | ", d->name);
                if (d->flags & CFG_REQUIRED)
                        fputs("*required*", out);
                else if (d->def_doc && def == d->def)
                        fputs(d->def_doc, out);
                else if (def)
                        fprintf(out, "`%s`", def);
                else
                        fputs("unset", out);
                fputs(" | ", out);
                cfg_tab_allowed(out, d);
                fprintf(out, " | %s |\n", d->doc);
        }
}

/* ------------------------------------------------------------ checks */

static int cfg_tab_cell_ok(const char *s) {
        return !s || (!strchr(s, '|') && !strchr(s, '\n'));
}

static int cfg_tab_check_row(const cfg_def_t *d, const char *def, char *errstr,
                             size_t errstr_size) {
        const char *why = NULL;
        int64_t v;
        if (!d->doc || !*d->doc)
                why = "no doc";
        else if (!cfg_tab_cell_ok(d->doc) || !cfg_tab_cell_ok(d->def_doc) ||
                 !cfg_tab_cell_ok(d->form))
                why = "a '|' or a newline in its docs would break the markdown table";
        else if ((d->type == CFG_STR || d->type == CFG_SECRET) && d->size != sizeof(char *))
                why = "a string needs a const char * field";
        else if (d->type == CFG_RATIO && d->size != sizeof(double))
                why = "a ratio needs a double field";
        else if (d->type == CFG_ENUM && (!d->choices || !d->choices[0]))
                why = "an enum without choices";
        else if (cfg_tab_is_int(d->type) && d->size != 1 && d->size != 2 && d->size != 4 &&
                 d->size != 8)
                why = "an integer field of an odd size";
        if (!why && (d->type == CFG_INT || d->type == CFG_DURATION || d->type == CFG_SIZE)) {
                /* Unsigned fields hold 0..2^bits-1, signed ones (a negative
                 * minimum, or "off" as -1) half that. */
                int sign = d->min < 0 || (d->flags & CFG_OFF);
                int bits = (int)d->size * 8 - sign;
                int64_t top = bits >= 63 ? INT64_MAX : (int64_t)((1ULL << bits) - 1);
                if (d->min > d->max)
                        why = "min > max";
                else if (d->max > top)
                        why = "max does not fit the field";
        }
        if (!why && def && cfg_tab_is_int(d->type)) {
                if (cfg_tab_parse(d, def, &v) == -1)
                        why = "the default does not parse";
                else if (d->type != CFG_BOOL && d->type != CFG_ENUM && v != -1 &&
                         (v < d->min || v > d->max))
                        why = "the default is out of range";
        }
        if (!why && def && d->type == CFG_RATIO) {
                char *end;
                double r = strtod(def, &end);
                if (*end || !(r >= 0.0 && r <= 1.0))
                        why = "the default is not a ratio";
        }
        if (why) {
                snprintf(errstr, errstr_size, "%s: %s", d->name, why);
                return -1;
        }
        return 0;
}

int cfg_tab_check(const cfg_tab_t *t, const char *const *defaults, char *errstr,
                  size_t errstr_size) {
        for (size_t i = 0; i < t->n; i++) {
                const cfg_def_t *d = &t->defs[i];
                if (!d->name || !*d->name) {
                        snprintf(errstr, errstr_size, "%s: row %zu has no name", t->name, i);
                        return -1;
                }
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(t->defs[j].name, d->name)) {
                                snprintf(errstr, errstr_size, "%s: %s is listed twice", t->name,
                                         d->name);
                                return -1;
                        }
                if (cfg_tab_check_row(d, cfg_tab_def(d, defaults), errstr, errstr_size) == -1)
                        return -1;
        }
        /* A replacement default must name a row, or it silently does nothing. */
        for (; defaults && defaults[0] && defaults[1]; defaults += 2) {
                size_t i = 0;
                while (i < t->n && strcmp(t->defs[i].name, defaults[0]))
                        i++;
                if (i == t->n) {
                        snprintf(errstr, errstr_size, "%s: no row %s for its default", t->name,
                                 defaults[0]);
                        return -1;
                }
        }
        return 0;
}
