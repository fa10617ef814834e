/* procm — the process metrics every Prometheus client library exports by
 * convention, and the build's identity:
 *
 *   process_cpu_seconds_total       user + system CPU time
 *   process_resident_memory_bytes   resident set size
 *   process_virtual_memory_bytes    virtual memory size
 *   process_start_time_seconds      start, seconds since the Unix epoch
 *   process_open_fds                open file descriptors
 *   process_max_fds                 RLIMIT_NOFILE (soft)
 *   weir_build_info{service,version,revision} 1
 *
 * Read from /proc/self (Linux) when /metrics is rendered: svc_init()
 * declares them, the admin server calls procm_update() before each render,
 * so every service exports them, once.  `service` tells the services apart
 * where the process_* series do not (dashboards join on namespace, pod).  version and
 * revision are fixed at build time (`git describe`, see the Makefile's
 * weir_version.h), "unknown" outside a git checkout unless WEIR_VERSION and
 * WEIR_REVISION are given to make. */
#ifndef WEIR_PROCM_H
#define WEIR_PROCM_H

/* Declares the families (idempotent) for `service` (ingress, compute...).
 * 0, or -1 if a name clashes. */
int procm_register(const char *service);

/* Refreshes the values from /proc/self; thread-safe.  Values that cannot
 * be read keep their last value. */
void procm_update(void);

/* The build's version and revision strings (never NULL). */
const char *procm_version(void);
const char *procm_revision(void);

#endif
