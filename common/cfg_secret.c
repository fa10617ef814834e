/* cfg_secret — secrets from the environment or from a file (NAME_FILE).
 * See cfg.h.
 *
 * Kubernetes mounts a Secret as files; reading the value from a file keeps
 * it out of the environment, where `ps e`, /proc/<pid>/environ, crash
 * reporters and `kubectl describe` would show it.  Every value found is also
 * handed to log_secret_add(), so no log line can carry it even by accident
 * (a librdkafka debug line, an error quoting a URL). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

/* Bigger than any password or PEM key (a 4096-bit RSA key is ~3.3 KiB). */
#define CFG_SECRET_MAX (64 * 1024)

/* Values read from files by cfg_secret(): owned here, kept for the life of
 * the process because callers hold them like getenv() results.  Reachable
 * from this list, so leak checkers do not report them. */
typedef struct cfg_kept_s {
        struct cfg_kept_s *next;
        char *value;
} cfg_kept_t;
static cfg_kept_t *cfg_kept;
static pthread_mutex_t cfg_kept_lock = PTHREAD_MUTEX_INITIALIZER;

void cfg_secret_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

int cfg_secret_file_read(const char *var, const char *path, char **out, char *errstr,
                         size_t errstr_size) {
        *out = NULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                snprintf(errstr, errstr_size, "%s=\"%s\": cannot read the file: %s", var, path,
                         strerror(errno));
                return -1;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                close(fd);
                snprintf(errstr, errstr_size,
                         "%s=\"%s\": a directory, expected the file holding the secret", var, path);
                return -1;
        }
        char *buf = malloc(CFG_SECRET_MAX + 1);
        if (!buf) {
                close(fd);
                snprintf(errstr, errstr_size, "%s: out of memory", var);
                return -1;
        }
        size_t len = 0;
        for (;;) {
                ssize_t r = read(fd, buf + len, CFG_SECRET_MAX + 1 - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        int e = errno;
                        close(fd);
                        cfg_secret_free(buf);
                        snprintf(errstr, errstr_size, "%s=\"%s\": cannot read the file: %s", var,
                                 path, strerror(e));
                        return -1;
                }
                if (r == 0)
                        break;
                len += (size_t)r;
                if (len > CFG_SECRET_MAX) {
                        close(fd);
                        explicit_bzero(buf, CFG_SECRET_MAX + 1);
                        free(buf);
                        snprintf(errstr, errstr_size,
                                 "%s=\"%s\": the file is larger than %d KiB: not a secret", var,
                                 path, CFG_SECRET_MAX / 1024);
                        return -1;
                }
        }
        close(fd);
        /* Editors and `echo` end files with a newline; a secret never does. */
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
        buf[len] = '\0';
        if (len == 0) {
                free(buf);
                snprintf(errstr, errstr_size, "%s=\"%s\": the file is empty", var, path);
                return -1;
        }
        if (memchr(buf, '\0', len)) {
                cfg_secret_free(buf);
                snprintf(errstr, errstr_size, "%s=\"%s\": the file holds a NUL byte", var, path);
                return -1;
        }
        /* Shrink: the 64 KiB buffer was only for reading. */
        char *s = realloc(buf, len + 1);
        *out = s ? s : buf;
        return 0;
}

/* NAME_FILE's value, or NULL when unset or empty; name_file receives the
 * variable's name. */
static const char *cfg_secret_path(const char *name, char *name_file, size_t size) {
        snprintf(name_file, size, "%s_FILE", name);
        const char *p = getenv(name_file);
        return p && *p ? p : NULL;
}

/* NAME or the content of NAME_FILE, copied; registered with
 * log_secret_add() when `secret`. */
static int cfg_value_read(const char *name, int secret, char **out, char *errstr,
                          size_t errstr_size) {
        char name_file[256];
        const char *path = cfg_secret_path(name, name_file, sizeof(name_file));
        const char *v = getenv(name);
        *out = NULL;
        if (v && !*v)
                v = NULL;
        if (v && path) {
                snprintf(errstr, errstr_size,
                         "%s and %s are both set: set one (%s names a file holding the value)",
                         name, name_file, name_file);
                return -1;
        }
        if (path) {
                if (cfg_secret_file_read(name_file, path, out, errstr, errstr_size) == -1)
                        return -1;
        } else if (v) {
                *out = strdup(v);
                if (!*out) {
                        snprintf(errstr, errstr_size, "%s: out of memory", name);
                        return -1;
                }
        }
        if (secret && *out)
                log_secret_add(*out);
        return 0;
}

int cfg_secret_dup(const char *name, char **out, char *errstr, size_t errstr_size) {
        return cfg_value_read(name, 1, out, errstr, errstr_size);
}

int cfg_file_dup(const char *name, char **out, char *errstr, size_t errstr_size) {
        return cfg_value_read(name, 0, out, errstr, errstr_size);
}

int cfg_secret(const char *name, const char **out, char *errstr, size_t errstr_size) {
        char name_file[256];
        *out = NULL;
        if (!cfg_secret_path(name, name_file, sizeof(name_file))) {
                /* From the environment: no copy to keep, same as cfg_str(). */
                const char *v = getenv(name);
                *out = v && *v ? v : NULL;
                if (*out)
                        log_secret_add(*out);
                return 0;
        }
        cfg_kept_t *k = calloc(1, sizeof(*k));
        if (!k) {
                snprintf(errstr, errstr_size, "%s: out of memory", name);
                return -1;
        }
        if (cfg_secret_dup(name, &k->value, errstr, errstr_size) == -1) {
                free(k);
                return -1;
        }
        pthread_mutex_lock(&cfg_kept_lock);
        k->next = cfg_kept;
        cfg_kept = k;
        pthread_mutex_unlock(&cfg_kept_lock);
        *out = k->value;
        return 0;
}
