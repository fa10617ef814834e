/* cfg — configuration from environment variables (12-factor).
 *
 * Every getter reads one variable, applies the default when it is unset or
 * empty, validates, and on error fills errstr with a message that names the
 * variable, the value seen and the expected form, e.g.
 *   ADMIN_PORT="70000": expected an integer in 1..65535
 * so a service can print it and exit non-zero.  Services declare their
 * settings as tables (cfg_tab.h) that load through these getters.
 *
 * Kafka: every variable KAFKA_<PROPERTY> is passed to librdkafka as the
 * property <property> (lower-cased, '_' → '.'), e.g. KAFKA_SASL_MECHANISMS →
 * sasl.mechanisms, so TLS and SASL need no code change.  KAFKA_<PROPERTY>_FILE
 * sets the property to the content of the file it names (for secrets:
 * KAFKA_SASL_PASSWORD_FILE, KAFKA_SSL_KEY_PASSWORD_FILE, ...).
 *
 * Secrets from files: cfg_secret(NAME) reads NAME, or the file NAME_FILE
 * names (a mounted Kubernetes Secret), never both.
 *
 * Secrets (any variable whose name contains PASSWORD, SECRET, TOKEN or
 * CREDENTIALS, and librdkafka's sasl.password, ssl.key.password, ...) are
 * never written to logs: cfg_redact() says whether a value must be hidden. */
#ifndef WEIR_CFG_H
#define WEIR_CFG_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Returns 0 and sets *out, or -1 with errstr set.  Values returned by
 * cfg_str point into the environment (or to `def`): do not free. */
int cfg_str(const char *name, const char *def, const char **out, char *errstr, size_t errstr_size);
/* Like cfg_str but unset/empty is an error naming the variable. */
int cfg_str_required(const char *name, const char **out, char *errstr, size_t errstr_size);
int cfg_int(const char *name, int64_t def, int64_t min, int64_t max, int64_t *out, char *errstr,
            size_t errstr_size);
/* true/false, 1/0, yes/no, on/off (case-insensitive). */
int cfg_bool(const char *name, int def, int *out, char *errstr, size_t errstr_size);
/* A duration: "250ms", "5s", "2m", "1h" or a bare number of milliseconds. */
int cfg_duration_ms(const char *name, int64_t def_ms, int64_t min_ms, int64_t max_ms, int64_t *out,
                    char *errstr, size_t errstr_size);
/* A size: "512", "64KiB", "10MiB", "1GiB" (also kB/MB/GB as powers of ten). */
int cfg_size_bytes(const char *name, int64_t def, int64_t min, int64_t max, int64_t *out,
                   char *errstr, size_t errstr_size);
/* One of `choices` (a NULL-terminated list, matched case-insensitively);
 * *out is its index.  `def` NULL makes the variable required. */
int cfg_enum(const char *name, const char *def, const char *const *choices, int *out, char *errstr,
             size_t errstr_size);

/* A secret: the value of `name`, or the content of the file that
 * `name`_FILE names, one trailing newline (\n or \r\n, repeated) trimmed.
 * *out is NULL when neither is set.  Both set, an unreadable, empty or
 * oversized (> 64 KiB) file are errors naming the variable(s) and the path,
 * never the content.  The value is registered with log_secret_add().
 * *out points into the environment or to a copy cfg keeps for the life of
 * the process: do not free. */
int cfg_secret(const char *name, const char **out, char *errstr, size_t errstr_size);
/* The same, read afresh (a rotated file): *out is a copy the caller frees
 * with cfg_secret_free(), or NULL when neither variable is set. */
int cfg_secret_dup(const char *name, char **out, char *errstr, size_t errstr_size);
/* cfg_secret_dup() for a value that is no secret (a user name): not
 * registered with log_secret_add(). */
int cfg_file_dup(const char *name, char **out, char *errstr, size_t errstr_size);
/* Reads the secret file `path` for the variable `var` (named in errors;
 * the caller registers the value with log_secret_add() if secret):
 * *out is the caller's, freed with cfg_secret_free(). */
int cfg_secret_file_read(const char *var, const char *path, char **out, char *errstr,
                         size_t errstr_size);
/* Wipes and frees a copy from cfg_secret_dup()/cfg_secret_file_read(). */
void cfg_secret_free(char *s);

/* Applies every KAFKA_* variable to `conf`, KAFKA_<PROPERTY>_FILE from the
 * file it names (both forms of one property is an error).  Errors name the
 * variable.
 * Logs each property set at debug level, with secrets redacted. */
int cfg_kafka_conf(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/* 1 if the named variable or librdkafka property holds a secret. */
int cfg_is_secret(const char *name);
/* `value`, or "[redacted]" when `name` holds a secret: for log lines and
 * error messages.  Returns a pointer to one of the two; do not free. */
const char *cfg_redact(const char *name, const char *value);

/* The parsers behind cfg_duration_ms() and cfg_size_bytes(), for values
 * that come from elsewhere (the pipeline spec).  Durations: one or more
 * <number><unit> terms, unit ms|s|m|h|d, an optional fraction that must
 * come out a whole number of ms ("1.5s", "1h30m"), or a bare integer of
 * milliseconds.  Sizes: <number>[unit], unit B, kB/MB/GB/TB (powers of ten)
 * or KiB/MiB/GiB/TiB (powers of two), case-insensitive.  Surrounding
 * whitespace is ignored.  Return 0, or -1 if malformed, negative or out of
 * int64 range. */
int cfg_parse_duration_ms(const char *s, int64_t *out);
int cfg_parse_size_bytes(const char *s, int64_t *out);
/* true/false, 1/0, yes/no, on/off (case-insensitive): 0 with *out 1 or 0,
 * or -1. */
int cfg_parse_bool(const char *s, int *out);

/* The shortest exact spelling of a duration ("90s", "250ms") and of a size
 * ("64KiB", "1000"), as messages and docs show them. */
void cfg_fmt_duration(char *buf, size_t size, int64_t ms);
void cfg_fmt_size(char *buf, size_t size, int64_t bytes);

#endif
