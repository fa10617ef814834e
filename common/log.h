/* log — structured logging: one JSON object a line on stderr.
 *
 *   {"ts":"2026-11-23T10:00:00.123Z","level":"info","service":"compute",
 *    "component":"kafka","msg":"assigned 3 partitions"}
 *
 * The level comes from LOG_LEVEL (debug|info|warn|error, default info).
 * Each line is written with one write(2), so lines from threads never
 * interleave.  Never pass secrets in a message: cfg_ redacts them before
 * they reach here. */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* Sets the service name printed on every line and the level from LOG_LEVEL.
 * Returns 0, or -1 with errstr naming LOG_LEVEL and the accepted values. */
int log_init(const char *service, char *errstr, size_t errstr_size);
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Parses "debug", "info", "warn"/"warning", "error" (case-insensitive). */
int log_level_parse(const char *s, log_level_t *out);

/* Writes one line.  `fields` is NULL or a NULL-terminated list of key,value
 * string pairs added to the object (values are JSON-escaped). */
void log_write(log_level_t level, const char *component, const char *const *fields, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));

#define log_debug(comp, ...) log_write(LOG_DEBUG, comp, NULL, __VA_ARGS__)
#define log_info(comp, ...)  log_write(LOG_INFO, comp, NULL, __VA_ARGS__)
#define log_warn(comp, ...)  log_write(LOG_WARN, comp, NULL, __VA_ARGS__)
#define log_error(comp, ...) log_write(LOG_ERROR, comp, NULL, __VA_ARGS__)

/* Registers a secret value (copied): from then on every occurrence of it
 * in a log line (message or field) is written as "[redacted]".  Values
 * shorter than 4 bytes are ignored (they would redact ordinary words);
 * at most 32 values (later ones are ignored, with a warning).  cfg_secret()
 * and the KAFKA_* secrets register theirs.  Thread-safe. */
void log_secret_add(const char *value);

/* Appends `s` JSON-escaped (without quotes) to buf[*pos..size), always
 * NUL-terminating; truncates rather than overflows.  Shared with metrics_
 * and the Avro→JSON writer's callers that build small JSON by hand. */
void log_json_escape(char *buf, size_t size, size_t *pos, const char *s);

#endif
