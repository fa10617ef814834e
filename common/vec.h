/* vec — growing a caller's array in place: the one grow loop every module
 * with a "pointer, count, capacity" triple uses instead of its own realloc
 * arithmetic.
 *
 *     rule_term_t *terms; size_t nterms, cap;
 *     if (VEC_RESERVE(terms, cap, nterms + 1) == -1)
 *             return -1;             (out of memory; the array is unchanged)
 *     terms[nterms++] = t;
 *
 * The array stays a plain typed pointer (p[i] works, nothing to cast); the
 * macro only passes its address and element size to vec_reserve_().
 * Capacity at least doubles, so n appends cost O(n) copies; slots beyond
 * the old capacity are zeroed.  The array is the caller's: free(p). */
#ifndef WEIR_VEC_H
#define WEIR_VEC_H

#include <stddef.h>

/* Grows the array whose pointer is at `pp` (any T **; its capacity in
 * elements at *cap, `elem` bytes each) to hold at least `need` elements.
 * Returns 0, or -1 when out of memory or need * elem overflows (then
 * neither *pp nor *cap changed). */
int vec_reserve_(void *pp, size_t *cap, size_t need, size_t elem);

/* 0 or -1 as vec_reserve_(); `p` an lvalue T *, `cap` an lvalue size_t. */
#define VEC_RESERVE(p, cap, need)                                                                  \
        ((size_t)(need) <= (cap) ? 0 : vec_reserve_(&(p), &(cap), (size_t)(need), sizeof(*(p))))

#endif
