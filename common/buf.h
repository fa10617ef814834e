/* buf — a growable byte buffer owned by the caller, reused across calls so
 * that Avro encoding and JSON output do not allocate once it has grown to
 * the size of the largest record.  Also what metrics_render() and the Schema
 * Registry client collect text in.
 *
 * Functions that write into a buf_t APPEND at `len`; set len = 0 to reuse
 * the buffer for the next record.  On error they restore `len` to what it was,
 * so a failed append leaves the earlier content intact. */
#ifndef WEIR_BUF_H
#define WEIR_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf_s {
        char *data;  /* NULL until the first write; not NUL-terminated unless
                      * the writer says so (the JSON writer does) */
        size_t len;  /* bytes in use */
        size_t size; /* bytes allocated */
} buf_t;

#define BUF_INIT                                                                                   \
        { NULL, 0, 0 }

/* Frees the storage and zeroes the buffer (it can be reused afterwards). */
void buf_free(buf_t *b);

/* Makes room for `extra` more bytes after len.  Returns 0, or -1 when the
 * allocation fails (the buffer is unchanged). */
int buf_reserve(buf_t *b, size_t extra);

/* Appends n bytes.  Returns 0 or -1 (out of memory). */
int buf_append(buf_t *b, const void *p, size_t n);

/* Writes a NUL after the content without counting it in len, so data can
 * be used as a C string.  Returns 0 or -1 (out of memory). */
int buf_nul(buf_t *b);

#endif
