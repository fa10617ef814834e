/* et — event time in every form (see et.h). */
#include "et.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ start-up */

/* The JSON of field `name` in the record schema text, or NULL. */
static const cJSON *et_field_json(const cJSON *rec, const char *name) {
        const cJSON *fields = cJSON_GetObjectItemCaseSensitive(rec, "fields");
        const cJSON *f;
        cJSON_ArrayForEach(f, fields) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(f, "name");
                if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
                        return cJSON_GetObjectItemCaseSensitive(f, "type");
        }
        return NULL;
}

/* A non-union type: its primitive name and logical type (or ""). */
static void et_type_parts(const cJSON *t, const char **prim, const char **logical) {
        *prim = "?";
        *logical = "";
        if (cJSON_IsString(t)) {
                *prim = t->valuestring;
        } else if (cJSON_IsObject(t)) {
                const cJSON *p = cJSON_GetObjectItemCaseSensitive(t, "type");
                const cJSON *l = cJSON_GetObjectItemCaseSensitive(t, "logicalType");
                if (cJSON_IsString(p))
                        *prim = p->valuestring;
                else if (cJSON_IsObject(p))
                        et_type_parts(p, prim, logical);
                if (cJSON_IsString(l))
                        *logical = l->valuestring;
        }
}

static const struct {
        const char *prim, *logical;
        et_unit_t unit;
} et_types[] = {
        {"long", "", ET_MS},
        {"long", "timestamp-millis", ET_MS},
        {"long", "timestamp-micros", ET_US},
        {"long", "timestamp-nanos", ET_NS},
        {"long", "local-timestamp-millis", ET_MS},
        {"long", "local-timestamp-micros", ET_US},
        {"long", "local-timestamp-nanos", ET_NS},
        {"int", "date", ET_DAYS},
        {"string", "", ET_STRING},
};

static int et_fail(char *errstr, size_t errstr_size, const char *field, const char *sname,
                   const char *type, const char *why) {
        snprintf(errstr, errstr_size,
                 "$.input.event_time: field \"%s\" of %s is %s, which compute cannot read as an "
                 "event time%s",
                 field, sname, type, why);
        return -1;
}

int et_plan_init(et_plan_t *pl, const spec_input_t *in, const av_schema_t *input, char *errstr,
                 size_t errstr_size) {
        memset(pl, 0, sizeof(*pl));
        pl->idx = -1;
        pl->zone_s = in->event_time_zone_s;
        if (!in->event_time) {
                pl->unit = ET_KAFKA;
                snprintf(pl->type, sizeof(pl->type), "the Kafka record timestamp");
                return 0;
        }
        const char *sname = av_schema_name(input) ? av_schema_name(input) : "the input schema";
        avro_schema_t rec = av_schema_avro(input);
        pl->idx = rec ? avro_schema_record_field_get_index(rec, in->event_time) : -1;
        cJSON *root = cJSON_Parse(av_schema_text(input));
        const cJSON *t = root ? et_field_json(root, in->event_time) : NULL;
        if (pl->idx < 0 || !t) {
                snprintf(errstr, errstr_size,
                         "$.input.event_time: event time field \"%s\" is not a field of %s",
                         in->event_time, sname);
                cJSON_Delete(root);
                return -1;
        }
        /* [null, T] or [T, null] */
        const cJSON *base = t;
        if (cJSON_IsArray(t)) {
                base = NULL;
                int n = 0;
                const cJSON *b;
                cJSON_ArrayForEach(b, t) {
                        const char *p, *l;
                        et_type_parts(b, &p, &l);
                        if (strcmp(p, "null") != 0) {
                                base = b;
                                n++;
                        }
                }
                if (n != 1)
                        base = NULL;
        }
        const char *prim = "a union", *logical = "";
        if (base)
                et_type_parts(base, &prim, &logical);
        if (*logical)
                snprintf(pl->type, sizeof(pl->type), "%s (%s)", prim, logical);
        else
                snprintf(pl->type, sizeof(pl->type), "%s", prim);
        cJSON *desc_src = base ? NULL : cJSON_Duplicate(t, 1);
        char desc[160];
        if (!base) {
                char *u = desc_src ? cJSON_PrintUnformatted(desc_src) : NULL;
                snprintf(desc, sizeof(desc), "the union %.100s", u ? u : "?");
                cJSON_free(u);
                cJSON_Delete(desc_src);
        } else if (*logical) {
                snprintf(desc, sizeof(desc), "a%s %.40s with logical type %.60s",
                         strchr("aeiou", prim[0]) ? "n" : "", prim, logical);
        } else {
                snprintf(desc, sizeof(desc), "a%s %.60s without a logical type",
                         strchr("aeiou", prim[0]) ? "n" : "", prim);
        }
        int found = -1;
        for (size_t i = 0; base && i < sizeof(et_types) / sizeof(et_types[0]); i++)
                if (!strcmp(et_types[i].prim, prim) && !strcmp(et_types[i].logical, logical))
                        found = (int)i;
        int rc = 0;
        if (found < 0) {
                const char *why =
                        !strcmp(prim, "int") && !*logical
                                ? " (an int of milliseconds overflows in 25 days: use a long, "
                                  "a long with logical type timestamp-millis, or an int with "
                                  "logical type date)"
                        : !strcmp(logical, "time-millis") || !strcmp(logical, "time-micros")
                                ? " (a time of day, not a point in time)"
                                : " (expected a long, optionally timestamp-millis/-micros/-nanos "
                                  "or local-timestamp-millis/-micros/-nanos, an int with logical "
                                  "type date, or a string with $.input.event_time_format)";
                rc = et_fail(errstr, errstr_size, in->event_time, sname, desc, why);
        } else {
                pl->unit = et_types[found].unit;
                if (pl->unit == ET_STRING && !in->event_time_format) {
                        rc = et_fail(errstr, errstr_size, in->event_time, sname, "a string",
                                     " without $.input.event_time_format (set it to \"rfc3339\" "
                                     "or a pattern like \"%Y-%m-%d %H:%M:%S\")");
                } else if (pl->unit != ET_STRING && in->event_time_format) {
                        snprintf(errstr, errstr_size,
                                 "$.input.event_time_format: field \"%s\" of %s is %s, not a "
                                 "string: remove event_time_format",
                                 in->event_time, sname, desc);
                        rc = -1;
                } else if (pl->unit != ET_STRING && in->event_time_zone) {
                        snprintf(errstr, errstr_size,
                                 "$.input.event_time_zone: applies to string event times only; "
                                 "field \"%s\" of %s is %s",
                                 in->event_time, sname, desc);
                        rc = -1;
                } else if (pl->unit == ET_STRING) {
                        char why[256];
                        if (!strcmp(in->event_time_format, "rfc3339")) {
                                pl->rfc3339 = 1;
                        } else if (et_format_check(in->event_time_format, why, sizeof(why)) < 0) {
                                snprintf(errstr, errstr_size, "$.input.event_time_format: %s", why);
                                rc = -1;
                        }
                        pl->fmt = in->event_time_format;
                }
        }
        cJSON_Delete(root);
        return rc;
}

/* ------------------------------------------------------------ numbers */

static int64_t et_floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && a < 0) ? q - 1 : q;
}

int et_number_ms(const et_plan_t *pl, int64_t v, int64_t *ms) {
        switch (pl->unit) {
        case ET_US:
                *ms = et_floor_div(v, 1000);
                return 0;
        case ET_NS:
                *ms = et_floor_div(v, 1000000);
                return 0;
        case ET_DAYS:
                if (v > INT32_MAX || v < INT32_MIN)
                        return -1;
                *ms = v * 86400000LL;
                return 0;
        default:
                *ms = v;
                return 0;
        }
}

/* ------------------------------------------------------------ strings */

typedef struct {
        int64_t year;
        int mon, day, yday, hour, min, sec;
        int64_t frac_ns;
        int has_off, has_epoch, has_yday, has_mon;
        int32_t off_s;
        int64_t epoch_s;
} et_tm_t;

/* Reads min..max digits at *p.  0 or -1. */
static int et_digits(const char **p, const char *end, int mind, int maxd, int64_t *out) {
        int64_t v = 0;
        int n = 0;
        while (*p < end && n < maxd && isdigit((unsigned char)**p)) {
                v = v * 10 + (**p - '0');
                (*p)++;
                n++;
        }
        if (n < mind)
                return -1;
        *out = v;
        return 0;
}

static int et_int(const char **p, const char *end, int mind, int maxd, int *out) {
        int64_t v;
        if (et_digits(p, end, mind, maxd, &v) < 0)
                return -1;
        *out = (int)v;
        return 0;
}

/* Fraction digits (1..9, more are read and dropped) as nanoseconds. */
static int et_frac(const char **p, const char *end, int64_t *ns) {
        int n = 0;
        int64_t v = 0;
        while (*p < end && isdigit((unsigned char)**p)) {
                if (n < 9) {
                        v = v * 10 + (**p - '0');
                        n++;
                }
                (*p)++;
        }
        if (n == 0)
                return -1;
        for (int i = n; i < 9; i++)
                v *= 10;
        *ns = v;
        return 0;
}

/* "Z", "z", "UTC", "GMT", "+HH:MM", "+HHMM", "+HH". */
static int et_offset(const char **p, const char *end, int32_t *off) {
        const char *s = *p;
        if (s < end && (*s == 'Z' || *s == 'z')) {
                *p = s + 1;
                *off = 0;
                return 0;
        }
        if (end - s >= 3 && (!memcmp(s, "UTC", 3) || !memcmp(s, "GMT", 3))) {
                *p = s + 3;
                *off = 0;
                return 0;
        }
        if (s >= end || (*s != '+' && *s != '-'))
                return -1;
        int sign = *s == '-' ? -1 : 1, h, m = 0;
        s++;
        if (et_int(&s, end, 2, 2, &h) < 0)
                return -1;
        if (s < end && *s == ':')
                s++;
        if (s < end && isdigit((unsigned char)*s) && et_int(&s, end, 2, 2, &m) < 0)
                return -1;
        if (h > 18 || m > 59)
                return -1;
        *off = sign * (h * 3600 + m * 60);
        *p = s;
        return 0;
}

static const char *const et_months[] = {"january",   "february", "march",    "april",
                                        "may",       "june",     "july",     "august",
                                        "september", "october",  "november", "december"};

static int et_month_name(const char **p, const char *end, int *mon) {
        for (int i = 0; i < 12; i++) {
                size_t full = strlen(et_months[i]);
                if ((size_t)(end - *p) >= full && !strncasecmp(*p, et_months[i], full)) {
                        *p += full;
                        *mon = i + 1;
                        return 0;
                }
                if (end - *p >= 3 && !strncasecmp(*p, et_months[i], 3)) {
                        *p += 3;
                        *mon = i + 1;
                        return 0;
                }
        }
        return -1;
}

static int64_t et_days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int et_leap(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int et_mdays(int64_t y, int m) {
        static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return m == 2 && et_leap(y) ? 29 : d[m - 1];
}

/* One directive at *p (after '%').  0, -1 (no match). */
static int et_directive(char c, const char **p, const char *end, et_tm_t *tm) {
        int64_t v;
        switch (c) {
        case 'Y': {
                int neg = *p < end && **p == '-';
                if (neg)
                        (*p)++;
                if (et_digits(p, end, 4, 4, &v) < 0)
                        return -1;
                tm->year = neg ? -v : v;
                return 0;
        }
        case 'y':
                if (et_digits(p, end, 2, 2, &v) < 0)
                        return -1;
                tm->year = v < 69 ? 2000 + v : 1900 + v; /* POSIX */
                return 0;
        case 'm':
                tm->has_mon = 1;
                return et_int(p, end, 1, 2, &tm->mon);
        case 'b':
        case 'B':
        case 'h':
                tm->has_mon = 1;
                return et_month_name(p, end, &tm->mon);
        case 'e':
                if (*p < end && **p == ' ')
                        (*p)++;
                return et_int(p, end, 1, 2, &tm->day);
        case 'd':
                return et_int(p, end, 1, 2, &tm->day);
        case 'j':
                tm->has_yday = 1;
                return et_int(p, end, 1, 3, &tm->yday);
        case 'H':
                return et_int(p, end, 1, 2, &tm->hour);
        case 'M':
                return et_int(p, end, 1, 2, &tm->min);
        case 'S':
                return et_int(p, end, 1, 2, &tm->sec);
        case 'f':
                return et_frac(p, end, &tm->frac_ns);
        case 'z':
        case 'Z':
                tm->has_off = 1;
                return et_offset(p, end, &tm->off_s);
        case 's': {
                int neg = *p < end && **p == '-';
                if (neg)
                        (*p)++;
                if (et_digits(p, end, 1, 18, &v) < 0)
                        return -1;
                tm->has_epoch = 1;
                tm->epoch_s = neg ? -v : v;
                return 0;
        }
        case 'T':
                if (et_directive('H', p, end, tm) < 0 || *p >= end || *(*p)++ != ':' ||
                    et_directive('M', p, end, tm) < 0 || *p >= end || *(*p)++ != ':')
                        return -1;
                return et_directive('S', p, end, tm);
        case 'F':
                if (et_directive('Y', p, end, tm) < 0 || *p >= end || *(*p)++ != '-' ||
                    et_directive('m', p, end, tm) < 0 || *p >= end || *(*p)++ != '-')
                        return -1;
                return et_directive('d', p, end, tm);
        case '%':
                return *p < end && *(*p)++ == '%' ? 0 : -1;
        default:
                return -1;
        }
}

static const char et_known[] = "YymbBhedjHMSfzZsTF%";

int et_format_check(const char *fmt, char *why, size_t whysz) {
        size_t n = strlen(fmt);
        int has_date = 0;
        for (size_t i = 0; i < n; i++) {
                if (fmt[i] != '%')
                        continue;
                char c = fmt[++i];
                if (!c || !strchr(et_known, c)) {
                        snprintf(why, whysz,
                                 "unknown directive \"%%%c\" at column %zu of \"%.64s\" (known: "
                                 "%%Y %%y %%m %%b %%d %%e %%j %%H %%M %%S %%f %%z %%Z %%s %%T %%F "
                                 "%%%%)",
                                 c ? c : ' ', i, fmt);
                        return -1;
                }
                if (strchr("YysF", c))
                        has_date = 1;
        }
        if (!has_date) {
                snprintf(why, whysz,
                         "\"%.64s\" has no year (%%Y, %%y, %%F) nor epoch seconds (%%s): it "
                         "cannot name a point in time",
                         fmt);
                return -1;
        }
        return 0;
}

/* The value for an error message: at most 64 bytes, escaped. */
static void et_quote(char *out, size_t size, const char *s, size_t n) {
        size_t o = 0;
        for (size_t i = 0; i < n && i < 64 && o + 5 < size; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\')
                        o += (size_t)snprintf(out + o, size - o, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
                else
                        out[o++] = (char)c;
        }
        if (n > 64 && o + 4 < size) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o < size ? o : size - 1] = '\0';
}

static int et_rfc3339(const char **p, const char *end, et_tm_t *tm) {
        int64_t y;
        if (et_digits(p, end, 4, 4, &y) < 0 || *p >= end || *(*p)++ != '-' ||
            et_int(p, end, 2, 2, &tm->mon) < 0 || *p >= end || *(*p)++ != '-' ||
            et_int(p, end, 2, 2, &tm->day) < 0 || *p >= end)
                return -1;
        tm->year = y;
        tm->has_mon = 1;
        char sep = *(*p)++;
        if (sep != 'T' && sep != 't' && sep != ' ')
                return -1;
        if (et_int(p, end, 2, 2, &tm->hour) < 0 || *p >= end || *(*p)++ != ':' ||
            et_int(p, end, 2, 2, &tm->min) < 0 || *p >= end || *(*p)++ != ':' ||
            et_int(p, end, 2, 2, &tm->sec) < 0)
                return -1;
        if (*p < end && **p == '.') {
                (*p)++;
                if (et_frac(p, end, &tm->frac_ns) < 0)
                        return -1;
        }
        if (*p < end) { /* RFC 3339 requires the offset; without one, the zone setting */
                tm->has_off = 1;
                return et_offset(p, end, &tm->off_s);
        }
        return 0;
}

int et_parse(const et_plan_t *pl, const char *s, size_t n, int64_t *ms, char *errstr,
             size_t errstr_size) {
        et_tm_t tm = {0};
        tm.year = 1970;
        tm.mon = 1;
        tm.day = 1;
        const char *p = s, *end = s + n;
        const char *what = NULL;
        if (pl->rfc3339) {
                if (et_rfc3339(&p, end, &tm) < 0)
                        what = "is not an RFC 3339 time like 2024-05-01T12:00:00.123Z";
        } else {
                for (const char *f = pl->fmt; *f && !what; f++) {
                        if (*f == '%') {
                                f++;
                                if (et_directive(*f, &p, end, &tm) < 0)
                                        what = "does not match the format";
                        } else if (isspace((unsigned char)*f)) {
                                while (p < end && isspace((unsigned char)*p))
                                        p++;
                        } else if (p >= end || *p++ != *f) {
                                what = "does not match the format";
                        }
                }
        }
        if (!what && p != end)
                what = "has characters after the end of the format";
        if (!what && !tm.has_epoch) {
                if (tm.has_yday && !tm.has_mon) {
                        if (tm.yday < 1 || tm.yday > 365 + et_leap(tm.year))
                                what = "has a day of the year out of range";
                } else if (tm.mon < 1 || tm.mon > 12 || tm.day < 1 ||
                           tm.day > et_mdays(tm.year, tm.mon)) {
                        what = "has a date out of range";
                }
                if (tm.hour > 23 || tm.min > 59 || tm.sec > 60)
                        what = "has a time of day out of range";
        }
        if (!what) {
                int64_t secs;
                if (tm.has_epoch) {
                        secs = tm.epoch_s;
                } else {
                        int64_t days = tm.has_yday && !tm.has_mon
                                               ? et_days_from_civil(tm.year, 1, 1) + tm.yday - 1
                                               : et_days_from_civil(tm.year, tm.mon, tm.day);
                        secs = days * 86400 + tm.hour * 3600 + tm.min * 60 + tm.sec -
                               (tm.has_off ? tm.off_s : pl->zone_s);
                }
                if (secs > INT64_MAX / 1000 - 1 || secs < INT64_MIN / 1000 + 1) {
                        what = "is out of range";
                } else {
                        *ms = secs * 1000 + tm.frac_ns / 1000000;
                        return 0;
                }
        }
        char q[300];
        et_quote(q, sizeof(q), s, n);
        snprintf(errstr, errstr_size, "event time \"%s\" %s (format \"%.64s\")", q, what,
                 pl->rfc3339 ? "rfc3339" : pl->fmt);
        return -1;
}
