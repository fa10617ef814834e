/* cfg — typed, validated reads of the environment, the KAFKA_* passthrough
 * to librdkafka, and secret detection.  See cfg.h.
 *
 * Every error names the variable, the value seen (redacted for secrets) and
 * the expected form, because the reader is an operator looking at a pod that
 * will not start, not a developer with the source at hand. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "vec.h"

#define CFG_LOG "config"

/* ------------------------------------------------------------ secrets */

int cfg_is_secret(const char *name) {
        /* Compare on one spelling: env names and librdkafka properties
         * differ only in case and '.' vs '_'. */
        static const char *const marks[] = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL",
                                            "PRIVATE_KEY", "API_KEY", "APIKEY",
                                            /* librdkafka properties that carry key material or
                                             * credentials without saying so in their name. */
                                            "SSL_KEY_PEM", "SASL_OAUTHBEARER_CONFIG", NULL};
        char norm[256];
        size_t i;
        if (!name)
                return 0;
        for (i = 0; i < sizeof(norm) - 1 && name[i]; i++)
                norm[i] = name[i] == '.' ? '_' : (char)toupper((unsigned char)name[i]);
        norm[i] = '\0';
        for (const char *const *m = marks; *m; m++)
                if (strstr(norm, *m))
                        return 1;
        return 0;
}

const char *cfg_redact(const char *name, const char *value) {
        return cfg_is_secret(name) ? "[redacted]" : (value ? value : "");
}

/* Writes NAME="value" (or NAME=[redacted]) for error messages. */
static void cfg_shown(char *buf, size_t size, const char *name, const char *value) {
        if (cfg_is_secret(name))
                snprintf(buf, size, "%s=[redacted]", name);
        else
                snprintf(buf, size, "%s=\"%.200s\"", name, value);
}

/* ------------------------------------------------------------ parsers */

typedef struct {
        const char *suffix;
        int64_t mult;
} cfg_unit_t;

/* Longest suffixes first so "ms" is not read as "m" + garbage. */
static const cfg_unit_t cfg_duration_units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400000LL}, {NULL, 0}};

static const cfg_unit_t cfg_size_units[] = {
        {"kib", 1LL << 10}, {"mib", 1LL << 20}, {"gib", 1LL << 30},   {"tib", 1LL << 40},
        {"kb", 1000LL},     {"mb", 1000000LL},  {"gb", 1000000000LL}, {"tb", 1000000000000LL},
        {"b", 1},           {NULL, 0}};

/* Parses one <digits>[.<digits>] at *sp; returns 0 and advances. */
static int cfg_parse_number(const char **sp, uint64_t *ip, uint64_t *frac, uint64_t *fscale) {
        const char *s = *sp;
        *ip = 0;
        *frac = 0;
        *fscale = 1;
        if (!isdigit((unsigned char)*s))
                return -1;
        for (; isdigit((unsigned char)*s); s++)
                if (__builtin_mul_overflow(*ip, 10, ip) ||
                    __builtin_add_overflow(*ip, (uint64_t)(*s - '0'), ip))
                        return -1;
        if (*s == '.') {
                s++;
                if (!isdigit((unsigned char)*s))
                        return -1;
                for (int n = 0; isdigit((unsigned char)*s); s++, n++) {
                        if (n >= 12)
                                return -1; /* beyond any unit's resolution */
                        *frac = *frac * 10 + (uint64_t)(*s - '0');
                        *fscale *= 10;
                }
        }
        *sp = s;
        return 0;
}

/* <number><unit> terms (several if `compound`); a bare number is allowed
 * when `bare_mult` > 0 and means that many base units. */
static int cfg_parse_units(const char *s, const cfg_unit_t *units, int compound, int64_t bare_mult,
                           int64_t *out) {
        uint64_t total = 0;
        int terms = 0;
        if (!s)
                return -1;
        while (isspace((unsigned char)*s))
                s++;
        while (*s && !isspace((unsigned char)*s)) {
                uint64_t ip, frac, fscale, v, fv;
                if (terms > 0 && !compound)
                        return -1;
                if (cfg_parse_number(&s, &ip, &frac, &fscale) == -1)
                        return -1;
                while (*s == ' ' && !compound)
                        s++;
                const cfg_unit_t *u = NULL;
                for (const cfg_unit_t *c = units; c->suffix; c++) {
                        size_t n = strlen(c->suffix);
                        if (!strncasecmp(s, c->suffix, n) && !isalpha((unsigned char)s[n]) &&
                            (units != cfg_duration_units || !strncmp(s, c->suffix, n))) {
                                u = c;
                                break;
                        }
                }
                int64_t mult;
                if (u) {
                        mult = u->mult;
                        s += strlen(u->suffix);
                } else if (terms == 0 && bare_mult > 0 && (!*s || isspace((unsigned char)*s))) {
                        mult = bare_mult;
                } else {
                        return -1;
                }
                if (__builtin_mul_overflow(ip, (uint64_t)mult, &v) ||
                    __builtin_mul_overflow(frac, (uint64_t)mult, &fv) || fv % fscale != 0 ||
                    __builtin_add_overflow(v, fv / fscale, &v) ||
                    __builtin_add_overflow(total, v, &total))
                        return -1;
                terms++;
        }
        while (isspace((unsigned char)*s))
                s++;
        if (*s || terms == 0 || total > (uint64_t)INT64_MAX)
                return -1;
        *out = (int64_t)total;
        return 0;
}

int cfg_parse_duration_ms(const char *s, int64_t *out) {
        return cfg_parse_units(s, cfg_duration_units, 1, 1, out);
}

int cfg_parse_size_bytes(const char *s, int64_t *out) {
        return cfg_parse_units(s, cfg_size_units, 0, 1, out);
}

/* Shortest exact spelling of a duration, for messages: "90s", "250ms". */
void cfg_fmt_duration(char *buf, size_t size, int64_t ms) {
        for (int i = 4; i >= 0; i--) {
                int64_t m = cfg_duration_units[i].mult;
                if (ms != 0 && ms % m == 0) {
                        snprintf(buf, size, "%lld%s", (long long)(ms / m),
                                 cfg_duration_units[i].suffix);
                        return;
                }
        }
        snprintf(buf, size, "%lldms", (long long)ms);
}

void cfg_fmt_size(char *buf, size_t size, int64_t b) {
        static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
        for (int i = 0; i < 4; i++) {
                int64_t m = 1LL << (40 - 10 * i);
                if (b != 0 && b % m == 0) {
                        snprintf(buf, size, "%lld%s", (long long)(b / m), names[i]);
                        return;
                }
        }
        snprintf(buf, size, "%lld", (long long)b);
}

/* "in 1..10", "of at least 1", "of at most 10" or "" */
static void cfg_fmt_range(char *buf, size_t size, const char *lo, const char *hi, int has_lo,
                          int has_hi) {
        if (has_lo && has_hi)
                snprintf(buf, size, " in %s..%s", lo, hi);
        else if (has_lo)
                snprintf(buf, size, " of at least %s", lo);
        else if (has_hi)
                snprintf(buf, size, " of at most %s", hi);
        else
                buf[0] = '\0';
}

/* ------------------------------------------------------------ getters */

/* The variable's value, or NULL when unset or empty (which mean "default"). */
static const char *cfg_get(const char *name) {
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

int cfg_str(const char *name, const char *def, const char **out, char *errstr, size_t errstr_size) {
        (void)errstr;
        (void)errstr_size;
        const char *v = cfg_get(name);
        *out = v ? v : def;
        return 0;
}

int cfg_str_required(const char *name, const char **out, char *errstr, size_t errstr_size) {
        const char *v = cfg_get(name);
        if (!v) {
                snprintf(errstr, errstr_size, "%s is not set: a value is required", name);
                return -1;
        }
        *out = v;
        return 0;
}

int cfg_int(const char *name, int64_t def, int64_t min, int64_t max, int64_t *out, char *errstr,
            size_t errstr_size) {
        const char *v = cfg_get(name);
        if (!v) {
                *out = def;
                return 0;
        }
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        while (end != v && isspace((unsigned char)*end))
                end++;
        if (end == v || *end || errno == ERANGE || n < min || n > max) {
                char shown[300], lo[32], hi[32], range[80];
                cfg_shown(shown, sizeof(shown), name, v);
                snprintf(lo, sizeof(lo), "%lld", (long long)min);
                snprintf(hi, sizeof(hi), "%lld", (long long)max);
                cfg_fmt_range(range, sizeof(range), lo, hi, min != INT64_MIN, max != INT64_MAX);
                snprintf(errstr, errstr_size, "%s: expected an integer%s", shown, range);
                return -1;
        }
        *out = n;
        return 0;
}

int cfg_parse_bool(const char *s, int *out) {
        static const char *const yes[] = {"true", "1", "yes", "on", NULL};
        static const char *const no[] = {"false", "0", "no", "off", NULL};
        for (int i = 0; s && yes[i]; i++) {
                if (!strcasecmp(s, yes[i])) {
                        *out = 1;
                        return 0;
                }
                if (!strcasecmp(s, no[i])) {
                        *out = 0;
                        return 0;
                }
        }
        return -1;
}

int cfg_bool(const char *name, int def, int *out, char *errstr, size_t errstr_size) {
        const char *v = cfg_get(name);
        if (!v) {
                *out = def;
                return 0;
        }
        if (cfg_parse_bool(v, out) == 0)
                return 0;
        char shown[300];
        cfg_shown(shown, sizeof(shown), name, v);
        snprintf(errstr, errstr_size, "%s: expected true/false, 1/0, yes/no or on/off", shown);
        return -1;
}

int cfg_duration_ms(const char *name, int64_t def_ms, int64_t min_ms, int64_t max_ms, int64_t *out,
                    char *errstr, size_t errstr_size) {
        const char *v = cfg_get(name);
        int64_t ms;
        if (!v) {
                *out = def_ms;
                return 0;
        }
        if (cfg_parse_duration_ms(v, &ms) == -1 || ms < min_ms || ms > max_ms) {
                char shown[300], lo[32], hi[32], range[80];
                cfg_shown(shown, sizeof(shown), name, v);
                cfg_fmt_duration(lo, sizeof(lo), min_ms);
                cfg_fmt_duration(hi, sizeof(hi), max_ms);
                /* A bounded range is stated whole, "in 0ms..1m", so the
                 * operator sees that 0 is allowed. */
                cfg_fmt_range(range, sizeof(range), lo, hi, min_ms > 0 || max_ms != INT64_MAX,
                              max_ms != INT64_MAX);
                snprintf(errstr, errstr_size,
                         "%s: expected a duration%s, like \"250ms\", \"5s\", \"2m\" or \"1h\" "
                         "(a bare number is milliseconds)",
                         shown, range);
                return -1;
        }
        *out = ms;
        return 0;
}

int cfg_size_bytes(const char *name, int64_t def, int64_t min, int64_t max, int64_t *out,
                   char *errstr, size_t errstr_size) {
        const char *v = cfg_get(name);
        int64_t b;
        if (!v) {
                *out = def;
                return 0;
        }
        if (cfg_parse_size_bytes(v, &b) == -1 || b < min || b > max) {
                char shown[300], lo[32], hi[32], range[80];
                cfg_shown(shown, sizeof(shown), name, v);
                cfg_fmt_size(lo, sizeof(lo), min);
                cfg_fmt_size(hi, sizeof(hi), max);
                cfg_fmt_range(range, sizeof(range), lo, hi, min > 0 || max != INT64_MAX,
                              max != INT64_MAX);
                snprintf(errstr, errstr_size,
                         "%s: expected a size%s, like \"512\", \"64KiB\", \"10MiB\" or \"1GiB\"",
                         shown, range);
                return -1;
        }
        *out = b;
        return 0;
}

int cfg_enum(const char *name, const char *def, const char *const *choices, int *out, char *errstr,
             size_t errstr_size) {
        const char *v = cfg_get(name);
        const char *s = v ? v : def;
        if (s)
                for (int i = 0; choices[i]; i++)
                        if (!strcasecmp(s, choices[i])) {
                                *out = i;
                                return 0;
                        }
        char shown[300], list[512];
        size_t pos = 0;
        list[0] = '\0';
        for (int i = 0; choices[i] && pos < sizeof(list); i++) {
                int n = snprintf(list + pos, sizeof(list) - pos, "%s%s", i ? ", " : "", choices[i]);
                if (n < 0)
                        break;
                pos += (size_t)n;
        }
        if (!v)
                snprintf(shown, sizeof(shown), "%s is not set", name);
        else
                cfg_shown(shown, sizeof(shown), name, v);
        snprintf(errstr, errstr_size, "%s: expected one of %s", shown, list);
        return -1;
}

/* ------------------------------------------------------------ Kafka */

/* Kubernetes injects <SERVICE>_SERVICE_HOST, <SERVICE>_PORT and
 * <SERVICE>_PORT_<n>_TCP... for every Service in the namespace: a Service
 * named "kafka" must not make every pod fail on unknown properties. */
static int cfg_is_service_link(const char *prop_env) {
        const char *p = prop_env + strlen("KAFKA_");
        if (!strncmp(p, "SERVICE_", 8) || !strcmp(p, "PORT"))
                return 1;
        return !strncmp(p, "PORT_", 5) && isdigit((unsigned char)p[5]);
}

static int cfg_strcmp_p(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int cfg_kafka_conf(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size) {
        size_t n = 0, cap = 0;
        char **names = NULL;
        int rc = 0;

        for (char **e = environ; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if (strncmp(*e, "KAFKA_", 6) != 0 || !eq)
                        continue;
                if (VEC_RESERVE(names, cap, n + 1) == -1 ||
                    !(names[n] = strndup(*e, (size_t)(eq - *e)))) {
                        snprintf(errstr, errstr_size, "KAFKA_*: out of memory");
                        rc = -1;
                        goto done;
                }
                n++;
        }
        /* A stable order makes logs comparable between pods. */
        if (n)
                qsort(names, n, sizeof(*names), cfg_strcmp_p);

        for (size_t i = 0; i < n; i++) {
                const char *name = names[i];
                const char *value = cfg_get(name);
                char prop[256], err[512], base[256];
                size_t plen = strlen(name) - 6;
                char *from_file = NULL; /* ours: wiped and freed below */
                if (!value)
                        continue;
                if (cfg_is_service_link(name)) {
                        log_debug(CFG_LOG, "%s ignored: a Kubernetes service link, not a property",
                                  name);
                        continue;
                }
                /* KAFKA_<PROPERTY>_FILE: the value is in the file it names
                 * (librdkafka has no property ending in ".file"). */
                if (plen > 5 && !strcmp(name + strlen(name) - 5, "_FILE")) {
                        plen -= 5;
                        snprintf(base, sizeof(base), "%.*s", (int)(plen + 6), name);
                        if (cfg_get(base)) {
                                snprintf(errstr, errstr_size,
                                         "%s and %s are both set: set one (%s names a file "
                                         "holding the value)",
                                         base, name, name);
                                rc = -1;
                                goto done;
                        }
                        if (cfg_secret_file_read(name, value, &from_file, errstr, errstr_size) ==
                            -1) {
                                rc = -1;
                                goto done;
                        }
                }
                if (plen == 0 || plen >= sizeof(prop)) {
                        snprintf(errstr, errstr_size,
                                 "%s: not a librdkafka property (expected KAFKA_<PROPERTY>, "
                                 "e.g. KAFKA_BOOTSTRAP_SERVERS)",
                                 name);
                        cfg_secret_free(from_file);
                        rc = -1;
                        goto done;
                }
                for (size_t j = 0; j < plen; j++) {
                        char c = name[6 + j];
                        prop[j] = c == '_' ? '.' : (char)tolower((unsigned char)c);
                }
                prop[plen] = '\0';
                const char *set = from_file ? from_file : value;
                if (cfg_is_secret(prop))
                        log_secret_add(set);
                if (rd_kafka_conf_set(conf, prop, set, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
                        char shown[300];
                        cfg_shown(shown, sizeof(shown), name, value);
                        /* librdkafka quotes the value it rejects: never a
                         * secret's, nor a file's content. */
                        if ((cfg_is_secret(name) || from_file) && strstr(err, set))
                                snprintf(err, sizeof(err), "invalid value for %s", prop);
                        snprintf(errstr, errstr_size, "%s: %s", shown, err);
                        cfg_secret_free(from_file);
                        rc = -1;
                        goto done;
                }
                log_debug(CFG_LOG, "kafka property %s=%s (from %s)", prop,
                          from_file ? "[from file]" : cfg_redact(prop, value), name);
                cfg_secret_free(from_file);
        }
done:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return rc;
}
