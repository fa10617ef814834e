/* ig_load — HTTP load client for the ingress benchmark: keep-alive
 * connections, each POSTing the same body (a file) over and over.
 *
 *   ig_load HOST PORT PATH CONTENT_TYPE BODY_FILE CONNS SECONDS RATE
 *
 * RATE 0: as fast as each connection can (throughput); RATE > 0: that many
 * requests per second in total, spread over the connections (latency at a
 * fixed rate).  Prints one line: requests=N ok=N errors=N p50_ms=X p99_ms=X
 * max_ms=X seconds=X.  Any non-200 answer counts as an error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *path, *ctype;
static int port, seconds;
static double rate;
static char *body;
static size_t body_len;
static int nconns;

typedef struct {
        int id;
        long requests, ok, errors;
        double *lat;
        size_t nlat, cap;
} worker_t;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(void) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &sa.sin_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                close(fd);
                return -1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
}

static int send_all(int fd, const char *p, size_t n) {
        while (n) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Reads one response; returns the status or -1. */
static int read_response(int fd, char *buf, size_t size) {
        size_t len = 0;
        char *hend = NULL;
        while (!hend) {
                if (len == size - 1)
                        return -1;
                ssize_t r = recv(fd, buf + len, size - 1 - len, 0);
                if (r <= 0)
                        return -1;
                len += (size_t)r;
                buf[len] = 0;
                hend = strstr(buf, "\r\n\r\n");
        }
        int status = atoi(buf + 9);
        char *cl = strcasestr(buf, "content-length:");
        size_t clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
        size_t have = len - (size_t)(hend + 4 - buf);
        while (have < clen) {
                char tmp[65536];
                ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
                if (r <= 0)
                        return -1;
                have += (size_t)r;
        }
        return status;
}

static void *run(void *arg) {
        worker_t *w = arg;
        char hdr[512], resp[65536];
        int hl = snprintf(hdr, sizeof(hdr),
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          path, host, port, ctype, body_len);
        int fd = connect_to();
        double start = now_s(), end = start + seconds;
        double interval = rate > 0 ? nconns / rate : 0;
        double next = start + (rate > 0 ? interval * w->id / nconns : 0);
        while (fd >= 0) {
                double t = now_s();
                if (t >= end)
                        break;
                if (rate > 0 && t < next) {
                        double d = next - t;
                        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                        nanosleep(&ts, NULL);
                        continue;
                }
                double t0 = rate > 0 ? next : now_s();
                next += interval;
                if (send_all(fd, hdr, (size_t)hl) || send_all(fd, body, body_len)) {
                        w->errors++;
                        break;
                }
                int st = read_response(fd, resp, sizeof(resp));
                double lat = now_s() - t0;
                w->requests++;
                if (st == 200)
                        w->ok++;
                else
                        w->errors++;
                if (st < 0)
                        break;
                if (w->nlat == w->cap) {
                        w->cap = w->cap ? w->cap * 2 : 1024;
                        w->lat = realloc(w->lat, w->cap * sizeof(double));
                }
                w->lat[w->nlat++] = lat;
        }
        if (fd >= 0)
                close(fd);
        return NULL;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        if (argc != 9) {
                fprintf(stderr,
                        "usage: %s HOST PORT PATH CONTENT_TYPE BODY_FILE CONNS SECONDS RATE\n",
                        argv[0]);
                return 2;
        }
        host = argv[1];
        port = atoi(argv[2]);
        path = argv[3];
        ctype = argv[4];
        nconns = atoi(argv[6]);
        seconds = atoi(argv[7]);
        rate = atof(argv[8]);
        FILE *f = fopen(argv[5], "rb");
        if (!f) {
                perror(argv[5]);
                return 2;
        }
        fseek(f, 0, SEEK_END);
        body_len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        body = malloc(body_len);
        if (fread(body, 1, body_len, f) != body_len)
                return 2;
        fclose(f);
        worker_t *w = calloc((size_t)nconns, sizeof(*w));
        pthread_t *th = calloc((size_t)nconns, sizeof(*th));
        double t0 = now_s();
        for (int i = 0; i < nconns; i++) {
                w[i].id = i;
                pthread_create(&th[i], NULL, run, &w[i]);
        }
        long req = 0, ok = 0, err = 0;
        size_t n = 0;
        for (int i = 0; i < nconns; i++) {
                pthread_join(th[i], NULL);
                req += w[i].requests;
                ok += w[i].ok;
                err += w[i].errors;
                n += w[i].nlat;
        }
        double el = now_s() - t0;
        double *all = malloc((n ? n : 1) * sizeof(double));
        size_t k = 0;
        for (int i = 0; i < nconns; i++)
                for (size_t j = 0; j < w[i].nlat; j++)
                        all[k++] = w[i].lat[j];
        qsort(all, n, sizeof(double), cmp);
        double p50 = n ? all[n / 2] : 0, p99 = n ? all[(size_t)((double)n * 0.99)] : 0;
        printf("requests=%ld ok=%ld errors=%ld p50_ms=%.1f p99_ms=%.1f max_ms=%.1f seconds=%.2f\n",
               req, ok, err, p50 * 1e3, p99 * 1e3, n ? all[n - 1] * 1e3 : 0, el);
        return 0;
}
