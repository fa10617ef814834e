/* clk — the clocks every module reads: monotonic for intervals and
 * deadlines, wall for event times and timestamps.  Header-only: each is one
 * clock_gettime() call, inlined where it is used. */
#ifndef WEIR_CLK_H
#define WEIR_CLK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clk_mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clk_mono_ms(void) {
        return clk_mono_ns() / 1000000;
}

static inline double clk_mono_s(void) {
        return (double)clk_mono_ns() / 1e9;
}

/* Milliseconds since the Unix epoch. */
static inline int64_t clk_wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
