/* admin — the admin HTTP server (libmicrohttpd, one internal polling
 * thread): /metrics, /healthz, /readyz.  See admin.h.
 *
 * The handlers only read atomics and render the metrics registry, so a
 * probe is answered even while the service's main loop is stuck — which is
 * exactly when /healthz has to say so. */
#include "admin.h"
#include "clk.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "procm.h"

#define ADMIN_LOG            "admin"
#define ADMIN_MAX_CONDITIONS 16
#define ADMIN_MAX_CONNS      32 /* probes and a scraper or two; no more */
#define ADMIN_CONN_TIMEOUT_S 10

typedef struct {
        char name[96];
        atomic_int ok;
} admin_cond_t;

struct admin_s {
        struct MHD_Daemon *d;
        uint16_t port;
        int64_t stall_ms;
        _Atomic int64_t last_beat_ms;
        pthread_mutex_t lock; /* serialises admin_ready_condition() */
        atomic_int ncond;
        admin_cond_t cond[ADMIN_MAX_CONDITIONS];
        char start_err[256]; /* libmicrohttpd's last message while starting */
        atomic_int starting;
};

/* libmicrohttpd logs plain text to stderr by default; route it to our
 * JSON lines, and keep the message that explains a failed start. */
static void admin_mhd_log(void *cls, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
static void admin_mhd_log(void *cls, const char *fmt, va_list ap) {
        admin_t *a = cls;
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = '\0';
        if (atomic_load(&a->starting))
                snprintf(a->start_err, sizeof(a->start_err), "%.255s", msg);
        log_warn(ADMIN_LOG, "libmicrohttpd: %s", msg);
}

static enum MHD_Result admin_reply(struct MHD_Connection *conn, unsigned int status,
                                   const char *ctype, char *body, size_t len,
                                   enum MHD_ResponseMemoryMode mode) {
        struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
        if (!r) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result admin_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text) {
        return admin_reply(conn, status, "text/plain; charset=utf-8", (char *)text, strlen(text),
                           MHD_RESPMEM_MUST_COPY);
}

/* Milliseconds since the last heartbeat, or -1 while healthy. */
static int64_t admin_stalled_for(admin_t *a) {
        if (a->stall_ms <= 0)
                return -1;
        int64_t since = clk_mono_ms() - atomic_load(&a->last_beat_ms);
        return since > a->stall_ms ? since : -1;
}

static enum MHD_Result admin_healthz(admin_t *a, struct MHD_Connection *conn) {
        int64_t since = admin_stalled_for(a);
        if (since < 0)
                return admin_text(conn, MHD_HTTP_OK, "ok\n");
        char body[160];
        snprintf(body, sizeof(body), "stalled: no heartbeat for %lld ms (limit %lld ms)\n",
                 (long long)since, (long long)a->stall_ms);
        return admin_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static void admin_append(char *buf, size_t size, size_t *pos, const char *a, const char *b) {
        if (*pos >= size)
                return;
        int n = snprintf(buf + *pos, size - *pos, "%s%s\n", a, b);
        if (n > 0)
                *pos = *pos + (size_t)n < size ? *pos + (size_t)n : size - 1;
}

static enum MHD_Result admin_readyz(admin_t *a, struct MHD_Connection *conn) {
        char body[ADMIN_MAX_CONDITIONS * 112 + 64];
        size_t pos = 0;
        int n = atomic_load_explicit(&a->ncond, memory_order_acquire);
        body[0] = '\0';
        /* A stuck main loop cannot serve traffic either. */
        if (admin_stalled_for(a) >= 0)
                admin_append(body, sizeof(body), &pos, "unmet: ", "main loop stalled");
        for (int i = 0; i < n; i++)
                if (!atomic_load(&a->cond[i].ok))
                        admin_append(body, sizeof(body), &pos, "unmet: ", a->cond[i].name);
        if (pos == 0)
                return admin_text(conn, MHD_HTTP_OK, "ready\n");
        return admin_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result admin_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls) {
        admin_t *a = cls;
        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return admin_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
        if (!strcmp(url, "/metrics")) {
                size_t len = 0;
                procm_update();
                /* OpenMetrics (with exemplars) to a scraper that asks for it,
                 * as Prometheus does; the 0.0.4 text format otherwise. */
                const char *acc =
                        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
                int om = acc && strstr(acc, "application/openmetrics-text");
                char *txt = om ? metrics_render_openmetrics(&len) : metrics_render(&len);
                if (!txt)
                        return admin_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
                return admin_reply(conn, MHD_HTTP_OK,
                                   om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                      : "text/plain; version=0.0.4; charset=utf-8",
                                   txt, len, MHD_RESPMEM_MUST_FREE);
        }
        if (!strcmp(url, "/healthz"))
                return admin_healthz(a, conn);
        if (!strcmp(url, "/readyz"))
                return admin_readyz(a, conn);
        return admin_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

admin_t *admin_start(const char *bind_addr, uint16_t port, int64_t stall_ms, char *errstr,
                     size_t errstr_size) {
        const char *host = bind_addr && *bind_addr ? bind_addr : "0.0.0.0";
        struct addrinfo hints = {0}, *ai = NULL;
        char portstr[8];
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
        int gai = getaddrinfo(host, portstr, &hints, &ai);
        if (gai != 0) {
                snprintf(errstr, errstr_size, "admin server: bind address \"%s\": %s", host,
                         gai_strerror(gai));
                return NULL;
        }

        admin_t *a = calloc(1, sizeof(*a));
        if (!a) {
                freeaddrinfo(ai);
                snprintf(errstr, errstr_size, "admin server: out of memory");
                return NULL;
        }
        pthread_mutex_init(&a->lock, NULL);
        a->stall_ms = stall_ms;
        /* Start-up counts as a beat: the loop gets stall_ms to begin. */
        atomic_store(&a->last_beat_ms, clk_mono_ms());
        atomic_store(&a->starting, 1);

        unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
        if (ai->ai_family == AF_INET6)
                flags |= MHD_USE_DUAL_STACK; /* "::" also takes IPv4 */
        a->d = MHD_start_daemon(flags, port, NULL, NULL, admin_handle, a,
                                /* First, or earlier options' messages go to the default logger. */
                                MHD_OPTION_EXTERNAL_LOGGER, admin_mhd_log, a, MHD_OPTION_SOCK_ADDR,
                                ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned int)ADMIN_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
                                (unsigned int)ADMIN_CONN_TIMEOUT_S, MHD_OPTION_END);
        freeaddrinfo(ai);
        if (!a->d) {
                snprintf(errstr, errstr_size, "admin server: cannot listen on %s:%u: %s", host,
                         (unsigned)port, *a->start_err ? a->start_err : "libmicrohttpd failed");
                pthread_mutex_destroy(&a->lock);
                free(a);
                return NULL;
        }
        atomic_store(&a->starting, 0);

        const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
        a->port = info ? info->port : port;
        if (a->port == 0) {
                /* Older builds without BIND_PORT: ask the socket. */
                info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_LISTEN_FD);
                struct sockaddr_storage ss;
                socklen_t sl = sizeof(ss);
                if (info && getsockname(info->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
                        a->port = ntohs(ss.ss_family == AF_INET6
                                                ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
        }
        log_info(ADMIN_LOG, "admin server listening on %s:%u", host, (unsigned)a->port);
        return a;
}

uint16_t admin_port(const admin_t *a) {
        return a ? a->port : 0;
}

void admin_stop(admin_t *a) {
        if (!a)
                return;
        MHD_stop_daemon(a->d);
        pthread_mutex_destroy(&a->lock);
        free(a);
}

void admin_heartbeat(admin_t *a) {
        if (a)
                atomic_store_explicit(&a->last_beat_ms, clk_mono_ms(), memory_order_relaxed);
}

/* Returns -1 (logged) when all ADMIN_MAX_CONDITIONS are taken;
 * admin_ready_set() ignores -1, so the caller needs no special case. */
int admin_ready_condition(admin_t *a, const char *name) {
        if (!a)
                return -1;
        pthread_mutex_lock(&a->lock);
        int n = atomic_load(&a->ncond);
        if (n == ADMIN_MAX_CONDITIONS) {
                pthread_mutex_unlock(&a->lock);
                log_error(ADMIN_LOG, "readiness condition \"%s\" not added: limit of %d reached",
                          name, ADMIN_MAX_CONDITIONS);
                return -1;
        }
        snprintf(a->cond[n].name, sizeof(a->cond[n].name), "%s", name ? name : "");
        atomic_store(&a->cond[n].ok, 0);
        /* Publish the name before the count that makes handlers read it. */
        atomic_store_explicit(&a->ncond, n + 1, memory_order_release);
        pthread_mutex_unlock(&a->lock);
        return n;
}

void admin_ready_set(admin_t *a, int cond, int ok) {
        if (a && cond >= 0 && cond < atomic_load_explicit(&a->ncond, memory_order_acquire))
                atomic_store(&a->cond[cond].ok, ok ? 1 : 0);
}
