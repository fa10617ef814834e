/* spec — loading the pipeline spec: reading the file, parsing the JSON
 * (with a line and column when it is malformed), the top level and the
 * shared `input` section, then the sections the service asked for
 * (spec_compute.c, spec_enrichment.c, spec_sink.c).  See spec.h and docs/pipeline-spec.md. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfg.h"
#include "log.h"
#include "spec_int.h"

#define SPEC_MAX_FILE_BYTES (4 << 20) /* a spec is a page or two; this is a mistake */

const char *const spec_op_names[] = {"count", "sum",  "min", "max", "mean", "variance", "stddev",
                                     "first", "last", "p50", "p90", "p95",  "p99",      NULL};
const char *const spec_window_names[] = {"tumbling", "hopping", "sliding", "session", NULL};
const char *const spec_emit_names[] = {"final", "changes", NULL};
const char *const spec_severity_names[] = {"info", "warning", "critical", NULL};
const char *const spec_source_names[] = {"kafka", "redis", "file", NULL};
const char *const spec_missing_names[] = {"pass", "drop", "dlq", NULL};
const char *const spec_format_names[] = {"json", "csv", NULL};
const char *const spec_join_names[] = {"key", "window", "pipeline", NULL};
const char *const spec_precision_names[] = {"ns", "us", "ms", "s", NULL};
static const char *const spec_idle_names[] = {"advance", "close", NULL};

const char *spec_op_name(spec_op_t op) {
        return op >= 0 && op < SPEC_OP__COUNT ? spec_op_names[op] : "?";
}

const char *spec_window_type_name(spec_window_type_t t) {
        return t >= 0 && t <= SPEC_WINDOW_SESSION ? spec_window_names[t] : "?";
}

const char *spec_severity_name(spec_severity_t s) {
        return s >= 0 && s <= SPEC_SEVERITY_CRITICAL ? spec_severity_names[s] : "?";
}

const spec_window_t *spec_window_find(const spec_compute_t *c, const char *name) {
        for (size_t i = 0; c && name && i < c->nwindows; i++)
                if (!strcmp(c->windows[i].name, name))
                        return &c->windows[i];
        return NULL;
}

void spec_free(spec_t *s) {
        if (!s)
                return;
        spec_compute_free(s->compute);
        spec_enrichment_free(s->enrichment);
        spec_sink_free(s->sink);
        free(s->input.topic);
        free(s->input.schema);
        free(s->input.key);
        free(s->input.event_time);
        free(s->input.event_time_format);
        free(s->input.event_time_zone);
        free(s->name);
        free(s->path);
        free(s);
}

/* ------------------------------------------------------------ malformed JSON */

/* Says where cJSON stopped and, when it was its nesting limit, why. */
static void spec_json_error(const char *json, size_t len, const char *at, const char *file,
                            char *errstr, size_t errstr_size) {
        size_t pos = at && at >= json && at <= json + len ? (size_t)(at - json) : 0;
        size_t line = 1, col = 1, depth = 0;
        int in_str = 0, esc = 0;
        for (size_t i = 0; i < pos; i++) {
                char ch = json[i];
                if (ch == '\n') {
                        line++;
                        col = 1;
                } else {
                        col++;
                }
                if (in_str) {
                        if (esc)
                                esc = 0;
                        else if (ch == '\\')
                                esc = 1;
                        else if (ch == '"')
                                in_str = 0;
                } else if (ch == '"') {
                        in_str = 1;
                } else if (ch == '[' || ch == '{') {
                        depth++;
                } else if ((ch == ']' || ch == '}') && depth) {
                        depth--;
                }
        }
        size_t ws = 0;
        while (ws < len && strchr(" \t\r\n", json[ws]))
                ws++;
        if (ws == len) {
                snprintf(errstr, errstr_size, "%s: malformed JSON: the document is empty", file);
                return;
        }
        if (!in_str && pos < len && (json[pos] == '[' || json[pos] == '{') &&
            depth >= CJSON_NESTING_LIMIT) {
                snprintf(errstr, errstr_size,
                         "%s: line %zu, column %zu: malformed JSON: nested more than %d levels "
                         "deep",
                         file, line, col, CJSON_NESTING_LIMIT);
                return;
        }
        if (pos >= len) {
                /* cJSON often gives up at the end; say what is open there. */
                snprintf(errstr, errstr_size, "%s: line %zu, column %zu: malformed JSON: %s", file,
                         line, col,
                         in_str      ? "unterminated string"
                         : depth > 0 ? "unexpected end of document"
                                     : "error near the end of the document");
                return;
        }
        if (json[pos] == '\0') {
                snprintf(errstr, errstr_size, "%s: line %zu, column %zu: a NUL byte", file, line,
                         col);
                return;
        }
        char near[32], esc_near[128];
        size_t n = 0, epos = 0;
        while (n < 20 && pos + n < len && json[pos + n] != '\n' && json[pos + n] != '\0')
                n++;
        snprintf(near, sizeof(near), "%.*s", (int)n, json + pos);
        log_json_escape(esc_near, sizeof(esc_near), &epos, near);
        snprintf(errstr, errstr_size, "%s: line %zu, column %zu: malformed JSON%s near \"%s\"",
                 file, line, col, in_str ? ": bad or unterminated string" : "", esc_near);
}

/* ------------------------------------------------------------ input, top level */

/* "UTC", "Z" or a fixed offset "+HH:MM" / "-HHMM" / "+HH" (up to 18 h, as
 * java.time.ZoneOffset).  Zone names need the zone database, which the
 * scratch images do not carry: refused with a hint. */
static int spec_zone(spec_ctx_t *c, const cJSON *v, const char *z, int32_t *out) {
        size_t mark = spec_push_key(c, "event_time_zone");
        size_t n = strlen(z);
        int h = -1, m = 0;
        if (!strcmp(z, "UTC") || !strcmp(z, "Z") || !strcmp(z, "GMT")) {
                h = 0;
        } else if ((z[0] == '+' || z[0] == '-') && n >= 3 && isdigit((unsigned char)z[1]) &&
                   isdigit((unsigned char)z[2])) {
                h = (z[1] - '0') * 10 + (z[2] - '0');
                const char *r = z + 3;
                if (*r == ':')
                        r++;
                if (*r && isdigit((unsigned char)r[0]) && isdigit((unsigned char)r[1]) && !r[2])
                        m = (r[0] - '0') * 10 + (r[1] - '0');
                else if (*r || r != z + 3)
                        h = -1;
                if (h > 18 || m > 59 || (h == 18 && m))
                        h = -1;
        }
        if (h < 0) {
                if (strchr(z, '/') || isalpha((unsigned char)z[0]))
                        return spec_fail(
                                c,
                                "zone names like \"%.64s\" are not supported (the images carry no "
                                "zone database): use \"UTC\" or a fixed offset like \"+01:00\", or "
                                "send the offset in the value (rfc3339, %%z)",
                                z);
                char got[160];
                spec_describe(v, got, sizeof(got));
                return spec_fail(c, "expected \"UTC\" or an offset like \"+01:00\", got %s", got);
        }
        *out = (int32_t)((z[0] == '-' ? -1 : 1) * (h * 3600 + m * 60));
        spec_pop(c, mark);
        return 0;
}

static int spec_idle_parse(spec_ctx_t *c, const cJSON *in, spec_input_t *out) {
        static const char *const keys[] = {"after", "action", NULL};
        const cJSON *v = spec_member(in, "idle");
        if (!v)
                return 0;
        size_t mark = spec_push_key(c, "idle");
        int action = 0;
        if (spec_object(c, v, keys) == -1 ||
            spec_duration(c, v, "after", -1, 1, &out->idle.after_ms) == -1 ||
            spec_enum(c, v, "action", "idle action", spec_idle_names, -1, &action) == -1)
                return -1;
        out->idle.action = action == 0 ? SPEC_IDLE_ADVANCE : SPEC_IDLE_CLOSE;
        spec_pop(c, mark);
        return 0;
}

static int spec_input_parse(spec_ctx_t *c, const cJSON *v, spec_input_t *in) {
        static const char *const keys[] = {
                "topic",           "schema", "key", "event_time", "event_time_format",
                "event_time_zone", "idle",   NULL};
        if (spec_object(c, v, keys) == -1 ||
            spec_string(c, v, "topic", SPEC_STR_TOPIC, 1, NULL, &in->topic) == -1 ||
            spec_string(c, v, "schema", SPEC_STR_SCHEMA, 1, NULL, &in->schema) == -1 ||
            spec_string(c, v, "key", SPEC_STR_FIELD, 1, NULL, &in->key) == -1 ||
            /* absent or null: the Kafka record timestamp */
            spec_string(c, v, "event_time", SPEC_STR_FIELD, 0, NULL, &in->event_time) == -1 ||
            spec_string(c, v, "event_time_format", SPEC_STR_ANY, 0, NULL, &in->event_time_format) ==
                    -1 ||
            spec_string(c, v, "event_time_zone", SPEC_STR_ANY, 0, NULL, &in->event_time_zone) ==
                    -1 ||
            spec_idle_parse(c, v, in) == -1)
                return -1;
        if (in->event_time_zone && spec_zone(c, spec_member(v, "event_time_zone"),
                                             in->event_time_zone, &in->event_time_zone_s) == -1)
                return -1;
        if ((in->event_time_format || in->event_time_zone) && !in->event_time)
                return spec_fail(c, "%s needs \"event_time\" (the string field it applies to)",
                                 in->event_time_format ? "\"event_time_format\""
                                                       : "\"event_time_zone\"");
        return 0;
}

/* Parses one section object at root.<key> into *out via fn. */
#define SPEC_SECTION(c, root, key, fn, out)                                                        \
        do {                                                                                       \
                const cJSON *sec_ = spec_member(root, key);                                        \
                if (!sec_) {                                                                       \
                        spec_fail(c, "missing required key \"%s\"", key);                          \
                        break;                                                                     \
                }                                                                                  \
                size_t mark_ = spec_push_key(c, key);                                              \
                if (fn(c, sec_, out) == 0)                                                         \
                        spec_pop(c, mark_);                                                        \
        } while (0)

spec_t *spec_parse(const char *json, size_t len, const char *path, unsigned parts, char *errstr,
                   size_t errstr_size) {
        const char *file = path && *path ? path : "pipeline spec";
        if (!json) {
                snprintf(errstr, errstr_size, "%s: no document", file);
                return NULL;
        }
        const char *nul = memchr(json, '\0', len);
        if (nul) {
                /* cJSON would stop there and ignore the rest. */
                spec_json_error(json, len, nul, file, errstr, errstr_size);
                return NULL;
        }
        /* cJSON wants the terminator inside the length to reject trailing
         * garbage; the caller's buffer need not have one. */
        char *buf = malloc(len + 1);
        if (!buf) {
                snprintf(errstr, errstr_size, "%s: out of memory", file);
                return NULL;
        }
        memcpy(buf, json, len);
        buf[len] = '\0';
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
        if (!root) {
                spec_json_error(buf, len, end, file, errstr, errstr_size);
                free(buf);
                return NULL;
        }
        free(buf);

        spec_t *s = calloc(1, sizeof(*s));
        spec_ctx_t cx = {.file = file,
                         .errstr = errstr,
                         .errstr_size = errstr_size,
                         .root = root,
                         .spec = s};
        spec_ctx_t *c = &cx;
        strcpy(c->path, "$");
        c->plen = 1;
        if (!s || !(s->path = strdup(path ? path : ""))) {
                spec_fail(c, "out of memory");
                goto done;
        }

        static const char *const keys[] = {"version", "name",       "description", "input",
                                           "compute", "enrichment", "sink",        NULL};
        int64_t version;
        char *desc = NULL;
        if (spec_object(c, root, keys) == -1 ||
            spec_int(c, root, "version", 1, 1, 1, &version) == -1 ||
            spec_string(c, root, "name", SPEC_STR_NAME, 1, NULL, &s->name) == -1 ||
            spec_string(c, root, "description", SPEC_STR_ANY, 0, NULL, &desc) == -1)
                goto done;
        free(desc); /* for people; Weir does not use it */
        SPEC_SECTION(c, root, "input", spec_input_parse, &s->input);
        if (!c->failed && (parts & SPEC_PART_COMPUTE))
                SPEC_SECTION(c, root, "compute", spec_compute_parse, &s->compute);
        if (!c->failed && (parts & SPEC_PART_ENRICHMENT))
                SPEC_SECTION(c, root, "enrichment", spec_enrichment_parse, &s->enrichment);
        if (!c->failed && (parts & SPEC_PART_SINK))
                SPEC_SECTION(c, root, "sink", spec_sink_parse, &s->sink);
done:
        cJSON_Delete(root);
        if (c->failed) {
                spec_free(s);
                return NULL;
        }
        return s;
}

spec_t *spec_load(const char *path, unsigned parts, char *errstr, size_t errstr_size) {
        if (!path && cfg_str_required("PIPELINE_SPEC", &path, errstr, errstr_size) == -1)
                return NULL;
        FILE *f = fopen(path, "rb");
        struct stat st;
        if (!f || fstat(fileno(f), &st) != 0) {
                snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
                if (f)
                        fclose(f);
                return NULL;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > SPEC_MAX_FILE_BYTES) {
                snprintf(errstr, errstr_size, "%s: %s", path,
                         S_ISREG(st.st_mode) ? "larger than 4MiB: not a pipeline spec"
                                             : "not a regular file");
                fclose(f);
                return NULL;
        }
        size_t size = (size_t)st.st_size;
        char *buf = malloc(size + 1);
        size_t got = buf ? fread(buf, 1, size, f) : 0;
        int rerr = ferror(f);
        fclose(f);
        if (!buf || got != size || rerr) {
                snprintf(errstr, errstr_size, "%s: cannot read: %s", path,
                         buf ? strerror(errno ? errno : EIO) : "out of memory");
                free(buf);
                return NULL;
        }
        spec_t *s = spec_parse(buf, size, path, parts, errstr, errstr_size);
        free(buf);
        return s;
}
