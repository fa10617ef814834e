/* admin — the admin HTTP server every service runs (libmicrohttpd):
 *   GET /metrics  Prometheus text (metrics_render()), plus
 *                 weir_heartbeat_age_seconds{thread} per heartbeat
 *   GET /healthz  liveness: 200 "ok" while every registered heartbeat
 *                 (one per loop thread, admin_beat_new()) has beaten within
 *                 `stall_ms`; else 503 with one line per stalled thread:
 *                 "stalled: <name>: no heartbeat for <n> ms (limit <l> ms)"
 *                 (stall_ms <= 0: never stalls)
 *   GET /readyz   readiness: 200 "ready" when every condition is met, else
 *                 503 with one line "unmet: <name> <have>/<need>" per unmet
 *                 condition (a stalled thread is one: "unmet: <name>
 *                 stalled"); then, either way, one line "ok: <name>
 *                 <have>/<need>" per met condition
 * Other paths 404; methods other than GET and HEAD 405.
 * Handlers never block on Kafka: they read atomics, the metrics registry
 * and, under a short lock, the lists below.
 *
 * Neither list has a fixed size: registering grows it (rare: at start-up
 * and when a loop re-creates a client); a beat is one atomic store. */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct admin_s admin_t;
typedef struct admin_beat_s admin_beat_t;

/* Starts the server on bind_addr:port (port 0 = pick a free one; see
 * admin_port()): admin_new() then admin_listen().  Returns NULL with errstr
 * set.  Free with admin_stop(). */
admin_t *admin_start(const char *bind_addr, uint16_t port, int64_t stall_ms, char *errstr,
                     size_t errstr_size);
/* The same in two steps, for a readiness condition that must hold from the
 * first request: /readyz with no condition answers "ready", so a condition
 * registered after listening leaves a window in which a probe sees a
 * process that has not started yet as ready (svc's "starting").
 * admin_new(): NULL when out of memory (errstr set); free with
 * admin_stop(), listening or not.  admin_listen(): once; -1 with errstr
 * set. */
admin_t *admin_new(int64_t stall_ms, char *errstr, size_t errstr_size);
int admin_listen(admin_t *a, const char *bind_addr, uint16_t port, char *errstr,
                 size_t errstr_size);
uint16_t admin_port(const admin_t *a);
/* Frees the server and every heartbeat handle it gave out. */
void admin_stop(admin_t *a);

/* ---------------------------------------------------------- liveness */

/* A heartbeat for one looping thread, named for /healthz and the metric
 * ("compute loop 3", "sink websocket").  Registering counts as a beat: the
 * thread has stall_ms to begin.  A name whose earlier handle was ended is
 * given that handle again, so a loop re-created under the same name does
 * not grow the list.  The server owns the handle (freed by admin_stop());
 * NULL when `a` is NULL or out of memory, and every call below accepts NULL
 * and does nothing. */
admin_beat_t *admin_beat_new(admin_t *a, const char *name);
/* The thread is alive.  Lock-free: one relaxed atomic store. */
void admin_beat(admin_beat_t *b);
/* The thread stops looping on purpose (it returns, or waits for others at
 * shutdown): its silence no longer fails /healthz. */
void admin_beat_end(admin_beat_t *b);

/* --------------------------------------------------------- readiness */

/* Readiness is the AND of named conditions.  Each call adds one member to
 * the condition called `name` (created at the first call) and returns the
 * member's handle for admin_ready_set(); a condition is met when every
 * member is ("kafka assigned 5/8": 5 of the 8 consumers have their
 * assignment).  Members start unmet.  -1 when `a` is NULL or out of memory
 * (logged); admin_ready_set() ignores -1 and NULL `a`. */
int admin_ready_condition(admin_t *a, const char *name);
void admin_ready_set(admin_t *a, int cond, int ok);
/* Unmet now, met `delay_ms` from now unless admin_ready_set() comes first:
 * for a state that is only final once nothing changed it for a while. */
void admin_ready_set_after(admin_t *a, int cond, int64_t delay_ms);

#endif
