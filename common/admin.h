/* admin — the admin HTTP server every service runs (libmicrohttpd):
 *   GET /metrics  Prometheus text (metrics_render())
 *   GET /healthz  200 while the main loop turns: the loop calls
 *                 admin_heartbeat(); no beat for `stall_ms` → 503
 *                 (stall_ms <= 0: never stalls)
 *   GET /readyz   200 when every readiness condition holds, else 503 with
 *                 one line "unmet: <name>" per unmet condition (a stalled
 *                 main loop is one: "unmet: main loop stalled")
 * Other paths 404; methods other than GET and HEAD 405.
 * Handlers never block on Kafka: they read atomics and the metrics registry. */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct admin_s admin_t;

/* Starts the server on bind_addr:port (port 0 = pick a free one; see
 * admin_port()).  Returns NULL with errstr set.  Free with admin_stop(). */
admin_t *admin_start(const char *bind_addr, uint16_t port, int64_t stall_ms, char *errstr,
                     size_t errstr_size);
uint16_t admin_port(const admin_t *a);
void admin_stop(admin_t *a);

/* The main loop is alive. Cheap (one atomic store). */
void admin_heartbeat(admin_t *a);

/* Readiness is the AND of named conditions, all false until set.
 * Returns a handle (index) for admin_ready_set(); up to 16 conditions
 * (then -1, which admin_ready_set() ignores).  NULL `a` is allowed in
 * every call and does nothing. */
int admin_ready_condition(admin_t *a, const char *name);
void admin_ready_set(admin_t *a, int cond, int ok);

#endif
