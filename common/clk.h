/* clk — the clocks every module reads (monotonic for intervals and
 * deadlines, wall for event times and timestamps), the sleeps, and the
 * absolute deadlines pthread_cond_timedwait wants.  Header-only: each is
 * one or two system calls, inlined where it is used. */
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

/* Nanoseconds since the Unix epoch. */
static inline int64_t clk_wall_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Monotonic milliseconds from the coarse clock (a few ms resolution, read
 * without a system call's cost): for checks made once per record. */
static inline int64_t clk_mono_coarse_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps `ns` nanoseconds (nothing when <= 0).  A signal ends the sleep
 * early, so a loop that sleeps and then checks its stop flag reacts to
 * SIGTERM at once. */
static inline void clk_sleep_ns(int64_t ns) {
        if (ns <= 0)
                return;
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000),
                              .tv_nsec = (long)(ns % 1000000000)};
        nanosleep(&ts, NULL);
}

static inline void clk_sleep_ms(int64_t ms) {
        clk_sleep_ns(ms * 1000000);
}

/* The time `ms` from now on `clock`, as the absolute timespec that
 * pthread_cond_timedwait() takes (CLOCK_REALTIME unless the condition
 * variable was set up with another clock). */
static inline struct timespec clk_deadline(clockid_t clock, int64_t ms) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        if (ms > 0) {
                ts.tv_sec += (time_t)(ms / 1000);
                ts.tv_nsec += (long)(ms % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
        }
        return ts;
}

#endif
