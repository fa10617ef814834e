/* av_registry — the schemas a service knows locally (the .avsc files in schemas/), by
 * full name and by fingerprint.  See av_schema.h.
 *
 * Earlier versions of a schema live in history/ beside the current ones:
 * with single-object framing there is no Schema Registry to fetch an old
 * writer schema from, so a consumer can only read records written before a
 * schema change if it has the old version locally.
 *
 * A registry holds tens of schemas and is consulted only when a decoder
 * meets a writer schema it has not cached, so plain arrays and linear
 * search are enough. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "av_int.h"
#include "vec.h"

/* A schema file larger than this is surely a mistake (a data file). */
#define AV_MAX_SCHEMA_FILE (16u << 20)

struct av_registry_s {
        struct entry {
                av_schema_t *s;
                int writer_only; /* found by fingerprint only */
        } * v;
        size_t n, size;
};

av_registry_t *av_registry_new(void) {
        return calloc(1, sizeof(av_registry_t));
}

void av_registry_destroy(av_registry_t *reg) {
        if (!reg)
                return;
        for (size_t i = 0; i < reg->n; i++)
                av_schema_destroy(reg->v[i].s);
        free(reg->v);
        free(reg);
}

static int add(av_registry_t *reg, av_schema_t *s, int writer_only, char *errstr,
               size_t errstr_size) {
        const char *name = av_schema_name(s);
        /* Only one current version per name, so look-ups by name are never
         * ambiguous. */
        for (size_t i = 0; !writer_only && name && i < reg->n; i++) {
                const av_schema_t *o = reg->v[i].s;
                if (!reg->v[i].writer_only && o->fingerprint != s->fingerprint && o->root->name &&
                    !strcmp(name, o->root->name)) {
                        snprintf(errstr, errstr_size,
                                 "%s: type %s is already defined differently by %s (keep "
                                 "earlier versions in history/, as writer-only schemas)",
                                 s->origin[0] ? s->origin : "schema", name,
                                 o->origin[0] ? o->origin : "another schema");
                        av_schema_destroy(s);
                        return -1;
                }
        }
        for (size_t i = 0; i < reg->n; i++) {
                if (reg->v[i].s->fingerprint == s->fingerprint) {
                        /* Same canonical form: the same schema for every
                         * purpose here, whatever its docs say. */
                        reg->v[i].writer_only &= writer_only;
                        av_schema_destroy(s);
                        return 0;
                }
        }
        if (VEC_RESERVE(reg->v, reg->size, reg->n + 1) == -1) {
                snprintf(errstr, errstr_size, "out of memory");
                av_schema_destroy(s);
                return -1;
        }
        reg->v[reg->n].s = s;
        reg->v[reg->n].writer_only = writer_only;
        reg->n++;
        return 0;
}

int av_registry_add(av_registry_t *reg, av_schema_t *s, char *errstr, size_t errstr_size) {
        return add(reg, s, 0, errstr, errstr_size);
}

int av_registry_add_writer(av_registry_t *reg, av_schema_t *s, char *errstr, size_t errstr_size) {
        return add(reg, s, 1, errstr, errstr_size);
}

/* Reads a whole file into a malloc'ed buffer (caller frees). */
static char *read_file(const char *path, size_t *len, char *errstr, size_t errstr_size) {
        FILE *f = fopen(path, "rb");
        struct stat st;
        char *buf = NULL;
        if (!f) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return NULL;
        }
        if (fstat(fileno(f), &st) == -1) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        } else if (st.st_size > (off_t)AV_MAX_SCHEMA_FILE) {
                snprintf(errstr, errstr_size, "%s: larger than 16 MiB", path);
        } else if (!(buf = malloc((size_t)st.st_size + 1))) {
                snprintf(errstr, errstr_size, "%s: out of memory", path);
        } else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
                snprintf(errstr, errstr_size, "%s: read error", path);
                free(buf);
                buf = NULL;
        } else {
                buf[st.st_size] = '\0';
                *len = (size_t)st.st_size;
        }
        fclose(f);
        return buf;
}

static int avsc_filter(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".avsc");
}

/* Loads one directory; a missing one is fine when `optional`. */
static int load(av_registry_t *reg, const char *dir, int writer_only, int optional, char *errstr,
                size_t errstr_size) {
        struct dirent **names = NULL;
        int n = scandir(dir, &names, avsc_filter, alphasort);
        if (n < 0) {
                if (optional && errno == ENOENT)
                        return 0;
                snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
                return -1;
        }
        int added = 0, rc = 0;
        for (int i = 0; i < n; i++) {
                char path[4096];
                size_t len = 0;
                char *text = NULL;
                av_schema_t *s;
                struct stat st;
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                free(names[i]);
                if (rc == -1 || (stat(path, &st) == 0 && !S_ISREG(st.st_mode)))
                        continue;
                size_t before = reg->n;
                if (!(text = read_file(path, &len, errstr, errstr_size)) ||
                    !(s = av_schema_parse(text, len, path, errstr, errstr_size)) ||
                    add(reg, s, writer_only, errstr, errstr_size) == -1)
                        rc = -1;
                else
                        added += reg->n > before;
                free(text);
        }
        free(names);
        return rc == 0 ? added : -1;
}

int av_registry_load_dir(av_registry_t *reg, const char *dir, char *errstr, size_t errstr_size) {
        char history[4096];
        int cur = load(reg, dir, 0, 0, errstr, errstr_size);
        if (cur == -1)
                return -1;
        snprintf(history, sizeof(history), "%s/history", dir);
        int old = load(reg, history, 1, 1, errstr, errstr_size);
        return old == -1 ? -1 : cur + old;
}

const av_schema_t *av_registry_by_name(const av_registry_t *reg, const char *fullname) {
        for (size_t i = 0; i < reg->n; i++) {
                const av_schema_t *s = reg->v[i].s;
                if (!reg->v[i].writer_only && s->root->name && !strcmp(s->root->name, fullname))
                        return s;
        }
        return NULL;
}

const av_schema_t *av_registry_by_fingerprint(const av_registry_t *reg, uint64_t fingerprint) {
        for (size_t i = 0; i < reg->n; i++)
                if (reg->v[i].s->fingerprint == fingerprint)
                        return reg->v[i].s;
        return NULL;
}

size_t av_registry_count(const av_registry_t *reg) {
        return reg->n;
}

const av_schema_t *av_registry_get(const av_registry_t *reg, size_t i) {
        return i < reg->n ? reg->v[i].s : NULL;
}

int av_registry_is_writer_only(const av_registry_t *reg, size_t i) {
        return i < reg->n && reg->v[i].writer_only;
}
