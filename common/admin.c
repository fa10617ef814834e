/* admin — the admin HTTP server (libmicrohttpd, one internal polling
 * thread): /metrics, /healthz, /readyz.  See admin.h.
 *
 * The handlers read atomics, the lists under a lock that no loop holds for
 * more than a copy, and the metrics registry, so a probe is answered even
 * while a loop is stuck — which is exactly when /healthz has to say so. */
#include "admin.h"
#include "clk.h"

#include <limits.h>
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
#include "vec.h"

#define ADMIN_LOG            "admin"
#define ADMIN_MAX_CONNS      32 /* probes and a scraper or two; no more */
#define ADMIN_CONN_TIMEOUT_S 10
#define ADMIN_NAME_MAX       96

/* Owned by the server (admin_stop() frees it): a thread keeps the pointer
 * for its lifetime, so handles never move when the list grows. */
struct admin_beat_s {
        char name[ADMIN_NAME_MAX];
        _Atomic int64_t last_ms;
        atomic_int active; /* 0 after admin_beat_end() */
};

typedef struct {
        char name[ADMIN_NAME_MAX];
} admin_cond_t;

typedef struct {
        size_t cond; /* index in conds */
        int ok;
        int64_t ok_at; /* > 0: met from this monotonic ms on (admin_ready_set_after) */
} admin_member_t;

struct admin_s {
        struct MHD_Daemon *d;
        uint16_t port;
        int64_t stall_ms;
        /* Guards every list below: registration, admin_ready_set() and the
         * handlers' reads; never taken by admin_beat(). */
        pthread_mutex_t lock;
        admin_beat_t **beats; /* each malloc'd, owned */
        size_t nbeats, cap_beats;
        admin_cond_t *conds;
        size_t nconds, cap_conds;
        admin_member_t *members; /* a handle is an index here */
        size_t nmembers, cap_members;
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

/* Milliseconds since b's last beat when it is stalled, else -1. */
static int64_t admin_stalled_for(const admin_t *a, admin_beat_t *b, int64_t now) {
        if (a->stall_ms <= 0 || !atomic_load(&b->active))
                return -1;
        int64_t since = now - atomic_load_explicit(&b->last_ms, memory_order_relaxed);
        return since > a->stall_ms ? since : -1;
}

/* Replies with what `f` (an open_memstream) holds: `status`, or 500 when
 * the stream ran out of memory. */
/* (open_memstream sets *buf and *len at fclose.) */
static enum MHD_Result admin_stream_reply(struct MHD_Connection *conn, unsigned int status, FILE *f,
                                          char **buf, size_t *len) {
        int bad = ferror(f);
        if (fclose(f) != 0 || bad || !*buf) {
                free(*buf);
                return admin_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        }
        return admin_reply(conn, status, "text/plain; charset=utf-8", *buf, *len,
                           MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result admin_healthz(admin_t *a, struct MHD_Connection *conn) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return admin_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        int stalled = 0;
        int64_t now = clk_mono_ms();
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->nbeats; i++) {
                int64_t since = admin_stalled_for(a, a->beats[i], now);
                if (since < 0)
                        continue;
                stalled++;
                fprintf(f, "stalled: %s: no heartbeat for %lld ms (limit %lld ms)\n",
                        a->beats[i]->name, (long long)since, (long long)a->stall_ms);
        }
        pthread_mutex_unlock(&a->lock);
        if (!stalled)
                fputs("ok\n", f);
        return admin_stream_reply(conn, stalled ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, f,
                                  &buf, &len);
}

/* Writes the conditions that are (met = 1) or are not (met = 0) met, with
 * their counts; returns how many.  Called with the lock held. */
static int admin_conds_print(const admin_t *a, FILE *f, int met) {
        int n = 0;
        for (size_t c = 0; c < a->nconds; c++) {
                size_t have = 0, need = 0;
                for (size_t m = 0; m < a->nmembers; m++)
                        if (a->members[m].cond == c) {
                                need++;
                                have += a->members[m].ok != 0 ||
                                        (a->members[m].ok_at > 0 &&
                                         clk_mono_ms() >= a->members[m].ok_at);
                        }
                if ((have == need) != met)
                        continue;
                n++;
                fprintf(f, "%s%s %zu/%zu\n", met ? "ok: " : "unmet: ", a->conds[c].name, have,
                        need);
        }
        return n;
}

static enum MHD_Result admin_readyz(admin_t *a, struct MHD_Connection *conn) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return admin_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        int unmet = 0;
        int64_t now = clk_mono_ms();
        pthread_mutex_lock(&a->lock);
        /* A stuck loop cannot serve traffic either. */
        for (size_t i = 0; i < a->nbeats; i++)
                if (admin_stalled_for(a, a->beats[i], now) >= 0) {
                        unmet++;
                        fprintf(f, "unmet: %s stalled\n", a->beats[i]->name);
                }
        unmet += admin_conds_print(a, f, 0);
        if (!unmet)
                fputs("ready\n", f);
        admin_conds_print(a, f, 1);
        pthread_mutex_unlock(&a->lock);
        return admin_stream_reply(conn, unmet ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, f, &buf,
                                  &len);
}

/* weir_heartbeat_age_seconds{thread}: looked up at each scrape, like
 * procm's, so nothing is kept that metrics_reset() could free.  An ended
 * thread reads 0: it is not expected to beat. */
static void admin_beat_gauges(admin_t *a) {
        metrics_family_t *fam = metrics_gauge_family(
                "weir_heartbeat_age_seconds",
                "Seconds since the thread last beat (0: ended); /healthz fails when one exceeds "
                "ADMIN_STALL.",
                "thread");
        int64_t now = clk_mono_ms();
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; fam && i < a->nbeats; i++) {
                admin_beat_t *b = a->beats[i];
                double age = atomic_load(&b->active)
                                     ? (double)(now - atomic_load(&b->last_ms)) / 1000.0
                                     : 0;
                metrics_set(metrics_child(fam, b->name), age < 0 ? 0 : age);
        }
        pthread_mutex_unlock(&a->lock);
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
                admin_beat_gauges(a);
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

admin_t *admin_new(int64_t stall_ms, char *errstr, size_t errstr_size) {
        admin_t *a = calloc(1, sizeof(*a));
        if (!a) {
                snprintf(errstr, errstr_size, "admin server: out of memory");
                return NULL;
        }
        pthread_mutex_init(&a->lock, NULL);
        a->stall_ms = stall_ms;
        return a;
}

int admin_listen(admin_t *a, const char *bind_addr, uint16_t port, char *errstr,
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
                return -1;
        }
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
        atomic_store(&a->starting, 0);
        if (!a->d) {
                snprintf(errstr, errstr_size, "admin server: cannot listen on %s:%u: %s", host,
                         (unsigned)port, *a->start_err ? a->start_err : "libmicrohttpd failed");
                return -1;
        }

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
        return 0;
}

admin_t *admin_start(const char *bind_addr, uint16_t port, int64_t stall_ms, char *errstr,
                     size_t errstr_size) {
        admin_t *a = admin_new(stall_ms, errstr, errstr_size);
        if (a && admin_listen(a, bind_addr, port, errstr, errstr_size)) {
                admin_stop(a);
                return NULL;
        }
        return a;
}

uint16_t admin_port(const admin_t *a) {
        return a ? a->port : 0;
}

void admin_stop(admin_t *a) {
        if (!a)
                return;
        if (a->d) /* NULL: never listened */
                MHD_stop_daemon(a->d);
        pthread_mutex_destroy(&a->lock);
        for (size_t i = 0; i < a->nbeats; i++)
                free(a->beats[i]);
        free(a->beats);
        free(a->conds);
        free(a->members);
        free(a);
}

admin_beat_t *admin_beat_new(admin_t *a, const char *name) {
        if (!a)
                return NULL;
        name = name ? name : "";
        admin_beat_t *b = NULL;
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->nbeats && !b; i++)
                if (!atomic_load(&a->beats[i]->active) && !strcmp(a->beats[i]->name, name))
                        b = a->beats[i];
        if (!b) {
                if (VEC_RESERVE(a->beats, a->cap_beats, a->nbeats + 1) == 0 &&
                    (b = calloc(1, sizeof(*b)))) {
                        snprintf(b->name, sizeof(b->name), "%s", name);
                        a->beats[a->nbeats++] = b;
                }
        }
        if (b) {
                atomic_store(&b->last_ms, clk_mono_ms());
                atomic_store(&b->active, 1);
        }
        pthread_mutex_unlock(&a->lock);
        if (!b)
                log_error(ADMIN_LOG, "heartbeat \"%s\" not added: out of memory", name);
        return b;
}

void admin_beat(admin_beat_t *b) {
        if (b)
                atomic_store_explicit(&b->last_ms, clk_mono_ms(), memory_order_relaxed);
}

void admin_beat_end(admin_beat_t *b) {
        if (b)
                atomic_store(&b->active, 0);
}

int admin_ready_condition(admin_t *a, const char *name) {
        if (!a)
                return -1;
        name = name ? name : "";
        pthread_mutex_lock(&a->lock);
        size_t c = 0;
        while (c < a->nconds && strcmp(a->conds[c].name, name) != 0)
                c++;
        int h = -1;
        if (VEC_RESERVE(a->conds, a->cap_conds, a->nconds + 1) == 0 &&
            VEC_RESERVE(a->members, a->cap_members, a->nmembers + 1) == 0 &&
            a->nmembers < INT_MAX) {
                if (c == a->nconds)
                        snprintf(a->conds[a->nconds++].name, ADMIN_NAME_MAX, "%s", name);
                a->members[a->nmembers] = (admin_member_t){.cond = c, .ok = 0};
                h = (int)a->nmembers++;
        }
        pthread_mutex_unlock(&a->lock);
        if (h < 0)
                log_error(ADMIN_LOG, "readiness condition \"%s\" not added: out of memory", name);
        return h;
}

void admin_ready_set(admin_t *a, int cond, int ok) {
        if (!a || cond < 0)
                return;
        pthread_mutex_lock(&a->lock);
        if ((size_t)cond < a->nmembers) {
                a->members[cond].ok = ok ? 1 : 0;
                a->members[cond].ok_at = 0;
        }
        pthread_mutex_unlock(&a->lock);
}

void admin_ready_set_after(admin_t *a, int cond, int64_t delay_ms) {
        if (!a || cond < 0)
                return;
        pthread_mutex_lock(&a->lock);
        if ((size_t)cond < a->nmembers) {
                a->members[cond].ok = 0;
                a->members[cond].ok_at = clk_mono_ms() + (delay_ms > 0 ? delay_ms : 0) + 1;
        }
        pthread_mutex_unlock(&a->lock);
}
