/* cp_wire — the bytes of the compute changelog: varints (LEB128, zigzag
 * for signed), little-endian doubles, and a bounds-checked reader whose
 * first failure sticks, so a decoder reads on and checks `err` once. */
#ifndef WEIR_CP_WIRE_H
#define WEIR_CP_WIRE_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/* Writers append to b; they return 0 or -1 (out of memory, b unchanged). */
int cp_w_u8(buf_t *b, uint8_t v);
int cp_w_uvar(buf_t *b, uint64_t v);
int cp_w_svar(buf_t *b, int64_t v);
int cp_w_f64(buf_t *b, double v);

typedef struct {
        const unsigned char *p, *end;
        int err; /* set by the first read past the end or malformed varint */
} cp_rd_t;

void cp_rd_init(cp_rd_t *r, const void *data, size_t len);
uint8_t cp_r_u8(cp_rd_t *r);
uint64_t cp_r_uvar(cp_rd_t *r);
int64_t cp_r_svar(cp_rd_t *r);
double cp_r_f64(cp_rd_t *r);
/* A count that must be <= max (and fit the bytes left at `min_bytes` each):
 * guards allocations sized from untrusted input. */
size_t cp_r_count(cp_rd_t *r, size_t max, size_t min_bytes);

#endif
