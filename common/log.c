/* log — structured JSON lines on stderr.  See log.h. */
#include "log.h"

#include "clk.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = LOG_INFO;
static char log_service[64] = "weir";

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, log_level_t *out) {
        if (!strcasecmp(s, "debug"))
                *out = LOG_DEBUG;
        else if (!strcasecmp(s, "info"))
                *out = LOG_INFO;
        else if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))
                *out = LOG_WARN;
        else if (!strcasecmp(s, "error"))
                *out = LOG_ERROR;
        else
                return -1;
        return 0;
}

int log_init(const char *service, char *errstr, size_t errstr_size) {
        snprintf(log_service, sizeof(log_service), "%s", service);
        const char *lv = getenv("LOG_LEVEL");
        log_level_t level = LOG_INFO;
        if (lv && *lv && log_level_parse(lv, &level) == -1) {
                snprintf(errstr, errstr_size,
                         "LOG_LEVEL=\"%s\": expected one of debug, info, warn, error", lv);
                return -1;
        }
        log_set_level(level);
        return 0;
}

void log_set_level(log_level_t level) {
        atomic_store(&log_level, (int)level);
}

log_level_t log_get_level(void) {
        return (log_level_t)atomic_load(&log_level);
}

void log_json_escape(char *buf, size_t size, size_t *pos, const char *s) {
        static const char hex[] = "0123456789abcdef";
        size_t p = *pos;
        if (size == 0)
                return;
        for (; *s && p + 1 < size; s++) {
                unsigned char c = (unsigned char)*s;
                const char *esc = NULL;
                switch (c) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                default:
                        break;
                }
                if (esc) {
                        if (p + 2 >= size)
                                break;
                        buf[p++] = esc[0];
                        buf[p++] = esc[1];
                } else if (c < 0x20) {
                        if (p + 6 >= size)
                                break;
                        buf[p++] = '\\';
                        buf[p++] = 'u';
                        buf[p++] = '0';
                        buf[p++] = '0';
                        buf[p++] = hex[c >> 4];
                        buf[p++] = hex[c & 0xf];
                } else {
                        buf[p++] = (char)c;
                }
        }
        buf[p] = '\0';
        *pos = p;
}

/* ------------------------------------------------------------ secrets */

#define LOG_SECRETS_MAX 32
/* Copies owned here for the life of the process (never freed: a line may
 * be written until exit).  Appended under the lock, published by the
 * count, read without the lock. */
static char *log_secrets[LOG_SECRETS_MAX];
static atomic_int log_secrets_n;
static pthread_mutex_t log_secrets_lock = PTHREAD_MUTEX_INITIALIZER;

void log_secret_add(const char *value) {
        if (!value || strlen(value) < 4)
                return;
        int full = 0;
        pthread_mutex_lock(&log_secrets_lock);
        int n = atomic_load(&log_secrets_n);
        for (int i = 0; i < n; i++)
                if (!strcmp(log_secrets[i], value)) {
                        pthread_mutex_unlock(&log_secrets_lock);
                        return;
                }
        if (n < LOG_SECRETS_MAX) {
                log_secrets[n] = strdup(value);
                if (log_secrets[n])
                        atomic_store(&log_secrets_n, n + 1);
        } else {
                full = 1;
        }
        pthread_mutex_unlock(&log_secrets_lock);
        if (full)
                log_write(LOG_WARN, "log", NULL,
                          "more than %d secret values: later ones are not redacted from logs",
                          LOG_SECRETS_MAX);
}

/* `s`, or a copy in buf with every registered secret replaced. */
static const char *log_scrub(const char *s, char *buf, size_t size) {
        int n = atomic_load(&log_secrets_n);
        int hit = 0;
        for (int i = 0; i < n && !hit; i++)
                hit = strstr(s, log_secrets[i]) != NULL;
        if (!hit)
                return s;
        size_t pos = 0;
        while (*s && pos + 1 < size) {
                size_t skip = 0;
                for (int i = 0; i < n && !skip; i++) {
                        size_t l = strlen(log_secrets[i]);
                        if (!strncmp(s, log_secrets[i], l))
                                skip = l;
                }
                if (skip) {
                        int w = snprintf(buf + pos, size - pos, "[redacted]");
                        pos = w < 0 || (size_t)w >= size - pos ? size - 1 : pos + (size_t)w;
                        s += skip;
                } else {
                        buf[pos++] = *s++;
                }
        }
        buf[pos] = '\0';
        return buf;
}

static void log_append(char *buf, size_t size, size_t *pos, const char *s) {
        size_t n = strlen(s);
        if (*pos + n + 1 > size)
                n = size - *pos - 1;
        memcpy(buf + *pos, s, n);
        *pos += n;
        buf[*pos] = '\0';
}

void log_write(log_level_t level, const char *component, const char *const *fields, const char *fmt,
               ...) {
        if ((int)level < atomic_load(&log_level))
                return;

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        char scrubbed[2048];
        const char *text = log_scrub(msg, scrubbed, sizeof(scrubbed));

        int64_t now_ms = clk_wall_ms();
        time_t now_s = (time_t)(now_ms / 1000);
        struct tm tm;
        gmtime_r(&now_s, &tm);
        char tsbuf[96];
        snprintf(tsbuf, sizeof(tsbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(now_ms % 1000));

        /* Reserve 2 bytes for the closing "}\n" so truncation keeps valid JSON. */
        char line[4096];
        const size_t cap = sizeof(line) - 2;
        size_t pos = 0;
        line[0] = '\0';
        log_append(line, cap, &pos, "{\"ts\":\"");
        log_append(line, cap, &pos, tsbuf);
        log_append(line, cap, &pos, "\",\"level\":\"");
        log_append(line, cap, &pos, log_level_names[level]);
        log_append(line, cap, &pos, "\",\"service\":\"");
        log_json_escape(line, cap, &pos, log_service);
        if (component) {
                log_append(line, cap, &pos, "\",\"component\":\"");
                log_json_escape(line, cap, &pos, component);
        }
        log_append(line, cap, &pos, "\",\"msg\":\"");
        log_json_escape(line, cap, &pos, text);
        log_append(line, cap, &pos, "\"");
        for (const char *const *f = fields; f && f[0] && f[1]; f += 2) {
                log_append(line, cap, &pos, ",\"");
                log_json_escape(line, cap, &pos, f[0]);
                log_append(line, cap, &pos, "\":\"");
                char fbuf[1024];
                log_json_escape(line, cap, &pos, log_scrub(f[1], fbuf, sizeof(fbuf)));
                log_append(line, cap, &pos, "\"");
        }
        /* A truncated escape may leave an open string: close it honestly. */
        if (pos >= cap - 1)
                log_append(line, sizeof(line) - 1, &pos, "\"");
        line[pos++] = '}';
        line[pos++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, pos);
        (void)w;
}
