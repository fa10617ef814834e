/* en_file — JSON and CSV reference files; see en_file.h. */
#include "en_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define EN_FILE_MAX_BYTES (1024L * 1024 * 1024)
#define EN_FILE_MAX_COLS  1024

/* Replaces an existing entry, warning once per duplicate. */
static int en_file_put(en_table_t *t, en_entry_t *e, const char *origin, long row) {
        if (!e)
                return -1;
        en_entry_t *old = en_table_put(t, e);
        if (old == e) {
                free(e);
                return -1;
        }
        if (old) {
                log_warn("enrichment",
                         "%s: row %ld: key \"%.64s\" repeats an earlier row; the "
                         "later row wins",
                         origin, row, e->key.p);
                free(old);
        }
        return 0;
}

/* Shortest form that reads back as the same double ("%.15g" then "%.17g"),
 * integers without a fraction: what Python's repr and most JSON printers give. */
static void en_num(double v, char *buf, size_t size) {
        if (v == floor(v) && fabs(v) < 1e15) {
                snprintf(buf, size, "%.0f", v);
                return;
        }
        for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, size, "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                        return;
        }
}

/* The value of one JSON member as a string: malloc'd into *out (caller
 * frees), 1 when it is null (skipped), 0, or -1. */
static int en_json_str(const cJSON *v, char **out) {
        char num[64];
        *out = NULL;
        if (cJSON_IsNull(v))
                return 1;
        if (cJSON_IsString(v))
                *out = strdup(v->valuestring);
        else if (cJSON_IsNumber(v)) {
                en_num(v->valuedouble, num, sizeof(num));
                *out = strdup(num);
        } else if (cJSON_IsBool(v))
                *out = strdup(cJSON_IsTrue(v) ? "true" : "false");
        else
                *out = cJSON_PrintUnformatted(v);
        return *out ? 0 : -1;
}

static long en_file_json(const spec_source_t *src, const char *data, size_t len, const char *origin,
                         en_table_t *t, char *errstr, size_t errstr_size) {
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
        if (!root) {
                snprintf(errstr, errstr_size, "%s: not valid JSON near byte %ld", origin,
                         end ? (long)(end - data) : 0L);
                return -1;
        }
        if (!cJSON_IsArray(root)) {
                snprintf(errstr, errstr_size, "%s: expected a JSON array of objects", origin);
                cJSON_Delete(root);
                return -1;
        }
        long row = 0, rc = 0;
        const cJSON *obj;
        cJSON_ArrayForEach(obj, root) {
                if (!cJSON_IsObject(obj)) {
                        snprintf(errstr, errstr_size, "%s: [%ld]: expected an object", origin, row);
                        rc = -1;
                        break;
                }
                int n = cJSON_GetArraySize(obj);
                const char **names = calloc((size_t)n + 1, sizeof(*names));
                char **values = calloc((size_t)n + 1, sizeof(*values));
                size_t *nl = calloc((size_t)n + 1, sizeof(*nl)),
                       *vl = calloc((size_t)n + 1, sizeof(*vl));
                char *key = NULL;
                size_t k = 0;
                const cJSON *m;
                if (!names || !values || !nl || !vl)
                        rc = -1;
                cJSON_ArrayForEach(m, obj) {
                        if (rc == -1)
                                break;
                        char *s;
                        int r = en_json_str(m, &s);
                        if (r == -1) {
                                rc = -1;
                                break;
                        }
                        if (r == 1)
                                continue;
                        if (!strcmp(m->string, src->file.key)) {
                                free(key);
                                key = s;
                                continue;
                        }
                        names[k] = m->string;
                        nl[k] = strlen(m->string);
                        values[k] = s;
                        vl[k] = strlen(s);
                        k++;
                }
                if (rc == 0 && !key) {
                        snprintf(errstr, errstr_size, "%s: [%ld]: no \"%s\" member (the key_field)",
                                 origin, row, src->file.key);
                        rc = -1;
                }
                if (rc == 0 && en_file_put(t,
                                           en_entry_new(key, strlen(key), names, nl,
                                                        (const char *const *)values, vl, k,
                                                        src->attributes, src->nattributes),
                                           origin, row) == -1) {
                        snprintf(errstr, errstr_size, "%s: out of memory", origin);
                        rc = -1;
                }
                for (size_t i = 0; values && i < k; i++)
                        free(values[i]);
                free(key);
                free(names);
                free(values);
                free(nl);
                free(vl);
                if (rc == -1)
                        break;
                row++;
        }
        cJSON_Delete(root);
        if (rc == -1 && !errstr[0])
                snprintf(errstr, errstr_size, "%s: out of memory", origin);
        return rc == -1 ? -1 : row;
}

/* One CSV record starting at *p: fields written NUL-terminated into `out`
 * (unquoted), their starts/lengths in f/fl.  Returns the field count, 0 at
 * the end of the data, or -1 (unterminated quote, too many columns). */
static int en_csv_record(const char **p, const char *end, char *out, const char **f, size_t *fl) {
        const char *q = *p;
        if (q >= end)
                return 0;
        int n = 0;
        char *o = out;
        for (;;) {
                if (n >= EN_FILE_MAX_COLS)
                        return -1;
                f[n] = o;
                if (q < end && *q == '"') {
                        q++;
                        for (;;) {
                                if (q >= end)
                                        return -1;
                                if (*q == '"') {
                                        if (q + 1 < end && q[1] == '"') {
                                                *o++ = '"';
                                                q += 2;
                                                continue;
                                        }
                                        q++;
                                        break;
                                }
                                *o++ = *q++;
                        }
                }
                while (q < end && *q != ',' && *q != '\n' && *q != '\r')
                        *o++ = *q++;
                fl[n] = (size_t)(o - f[n]);
                *o++ = '\0';
                n++;
                if (q < end && *q == ',') {
                        q++;
                        continue;
                }
                if (q < end && *q == '\r')
                        q++;
                if (q < end && *q == '\n')
                        q++;
                break;
        }
        *p = q;
        return n;
}

static long en_file_csv(const spec_source_t *src, const char *data, size_t len, const char *origin,
                        en_table_t *t, char *errstr, size_t errstr_size) {
        /* Unquoted fields are never longer than the input: one scratch of
         * that size holds any record. */
        char *hdr = malloc(len + 1), *rec = malloc(len + 1);
        const char **hf = calloc(EN_FILE_MAX_COLS, sizeof(*hf)),
                   **rf = calloc(EN_FILE_MAX_COLS, sizeof(*rf));
        size_t *hl = calloc(EN_FILE_MAX_COLS, sizeof(*hl)),
               *rl = calloc(EN_FILE_MAX_COLS, sizeof(*rl));
        long rows = -1;
        const char *p = data, *end = data + len;
        if (!hdr || !rec || !hf || !rf || !hl || !rl) {
                snprintf(errstr, errstr_size, "%s: out of memory", origin);
                goto out;
        }
        int nh = en_csv_record(&p, end, hdr, hf, hl), keycol = -1;
        if (nh <= 0) {
                snprintf(errstr, errstr_size,
                         "%s: line 1: expected a header row naming the columns", origin);
                goto out;
        }
        for (int i = 0; i < nh; i++)
                if (!strcmp(hf[i], src->file.key))
                        keycol = i;
        if (keycol < 0) {
                snprintf(errstr, errstr_size, "%s: the header has no column \"%s\" (the key_field)",
                         origin, src->file.key);
                goto out;
        }
        long row = 0;
        for (;;) {
                row++;
                int n = en_csv_record(&p, end, rec, rf, rl);
                if (n == 0)
                        break;
                if (n < 0) {
                        snprintf(errstr, errstr_size,
                                 "%s: record %ld: unterminated quote or more than %d columns",
                                 origin, row, EN_FILE_MAX_COLS);
                        goto out;
                }
                if (n == 1 && rl[0] == 0) /* blank line */
                        continue;
                if (n != nh) {
                        snprintf(errstr, errstr_size,
                                 "%s: record %ld: %d fields, the header has %d", origin, row, n,
                                 nh);
                        goto out;
                }
                /* Every column but the key, in header order. */
                const char *names[EN_FILE_MAX_COLS], *vals[EN_FILE_MAX_COLS];
                size_t nls[EN_FILE_MAX_COLS], vls[EN_FILE_MAX_COLS], k = 0;
                for (int i = 0; i < n; i++) {
                        if (i == keycol)
                                continue;
                        names[k] = hf[i];
                        nls[k] = hl[i];
                        vals[k] = rf[i];
                        vls[k] = rl[i];
                        k++;
                }
                if (en_file_put(t,
                                en_entry_new(rf[keycol], rl[keycol], names, nls, vals, vls, k,
                                             src->attributes, src->nattributes),
                                origin, row) == -1) {
                        snprintf(errstr, errstr_size, "%s: out of memory", origin);
                        goto out;
                }
        }
        rows = row - 1;
out:
        free(hdr);
        free(rec);
        free(hf);
        free(rf);
        free(hl);
        free(rl);
        return rows;
}

long en_file_parse(const spec_source_t *src, const char *data, size_t len, const char *origin,
                   en_table_t *t, char *errstr, size_t errstr_size) {
        errstr[0] = '\0';
        return src->file.format == SPEC_FILE_CSV
                       ? en_file_csv(src, data, len, origin, t, errstr, errstr_size)
                       : en_file_json(src, data, len, origin, t, errstr, errstr_size);
}

long en_file_load(const spec_source_t *src, en_table_t *t, char *errstr, size_t errstr_size) {
        const char *path = src->file.path;
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(errstr, errstr_size, "source \"%s\": %s: %s", src->name, path,
                         strerror(errno));
                return -1;
        }
        char *data = NULL;
        long size = -1;
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            size <= EN_FILE_MAX_BYTES && (data = malloc((size_t)size + 1)) &&
            fread(data, 1, (size_t)size, f) == (size_t)size) {
                fclose(f);
                long r = en_file_parse(src, data, (size_t)size, path, t, errstr, errstr_size);
                free(data);
                return r;
        }
        snprintf(errstr, errstr_size, "source \"%s\": %s: cannot read (%s)", src->name, path,
                 size > EN_FILE_MAX_BYTES ? "larger than 1 GiB" : strerror(errno));
        fclose(f);
        free(data);
        return -1;
}
