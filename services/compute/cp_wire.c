/* cp_wire — varint/double encoding for the changelog state (see cp_wire.h). */
#include "cp_wire.h"

#include <string.h>

/* Room for n more bytes without a call when there is already space. */
static unsigned char *room(buf_t *b, size_t n) {
        if (b->size - b->len < n && buf_reserve(b, n) < 0)
                return NULL;
        return (unsigned char *)b->data + b->len;
}

int cp_w_u8(buf_t *b, uint8_t v) {
        unsigned char *o = room(b, 1);
        if (!o)
                return -1;
        *o = v;
        b->len++;
        return 0;
}

int cp_w_uvar(buf_t *b, uint64_t v) {
        unsigned char *o = room(b, 10);
        if (!o)
                return -1;
        size_t n = 0;
        while (v >= 0x80) {
                o[n++] = (unsigned char)(v | 0x80);
                v >>= 7;
        }
        o[n++] = (unsigned char)v;
        b->len += n;
        return 0;
}

int cp_w_svar(buf_t *b, int64_t v) {
        uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zigzag */
        return cp_w_uvar(b, u);
}

int cp_w_f64(buf_t *b, double v) {
        unsigned char *o = room(b, 8);
        if (!o)
                return -1;
        uint64_t u;
        memcpy(&u, &v, 8);
        for (int i = 0; i < 8; i++)
                o[i] = (unsigned char)(u >> (8 * i));
        b->len += 8;
        return 0;
}

void cp_rd_init(cp_rd_t *r, const void *data, size_t len) {
        r->p = data;
        r->end = r->p + (data ? len : 0);
        r->err = 0;
}

uint8_t cp_r_u8(cp_rd_t *r) {
        if (r->err || r->p >= r->end) {
                r->err = 1;
                return 0;
        }
        return *r->p++;
}

uint64_t cp_r_uvar(cp_rd_t *r) {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
                if (r->err || r->p >= r->end)
                        break;
                unsigned char c = *r->p++;
                if (shift == 63 && (c & 0x7e)) /* more than 64 bits */
                        break;
                v |= (uint64_t)(c & 0x7f) << shift;
                if (!(c & 0x80))
                        return v;
        }
        r->err = 1;
        return 0;
}

int64_t cp_r_svar(cp_rd_t *r) {
        uint64_t u = cp_r_uvar(r);
        return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

double cp_r_f64(cp_rd_t *r) {
        double d = 0;
        if (r->err || r->end - r->p < 8) {
                r->err = 1;
                return 0;
        }
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
                u |= (uint64_t)r->p[i] << (8 * i);
        r->p += 8;
        memcpy(&d, &u, 8);
        return d;
}

size_t cp_r_count(cp_rd_t *r, size_t max, size_t min_bytes) {
        uint64_t v = cp_r_uvar(r);
        if (r->err)
                return 0;
        size_t left = (size_t)(r->end - r->p);
        if (v > max || (min_bytes && v > left / min_bytes)) {
                r->err = 1;
                return 0;
        }
        return (size_t)v;
}
