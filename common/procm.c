/* procm — process_* metrics and weir_build_info.  See procm.h. */
#include "procm.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* The Makefile writes weir_version.h into the build tree; a build without
 * it (the fuzz harnesses) says "unknown". */
#if defined(__has_include)
#if __has_include("weir_version.h")
#include "weir_version.h"
#endif
#endif
#ifndef WEIR_VERSION
#define WEIR_VERSION "unknown"
#endif
#ifndef WEIR_REVISION
#define WEIR_REVISION "unknown"
#endif

static pthread_mutex_t procm_lock = PTHREAD_MUTEX_INITIALIZER;
static char procm_service[64]; /* "" until procm_register() */

const char *procm_version(void) {
        return WEIR_VERSION;
}

const char *procm_revision(void) {
        return WEIR_REVISION;
}

/* The children, looked up at every scrape (a lock each, once a scrape):
 * nothing kept that metrics_reset() could free under us. */
typedef struct procm_children_s {
        metrics_child_t *cpu, *rss, *vsz, *start, *fds, *max_fds, *build;
} procm_children_t;

static int procm_children(procm_children_t *c) {
        c->cpu = metrics_counter("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.");
        c->rss = metrics_gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
        c->vsz = metrics_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
        c->start = metrics_gauge("process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.");
        c->fds = metrics_gauge("process_open_fds", "Number of open file descriptors.");
        c->max_fds = metrics_gauge("process_max_fds", "Maximum number of open file descriptors.");
        metrics_family_t *bi = metrics_gauge_family(
                "weir_build_info",
                "1, labelled with the service, the version (git describe) and the revision "
                "(commit) of its build.",
                "service,version,revision");
        c->build = metrics_child(bi, procm_service, WEIR_VERSION, WEIR_REVISION);
        return c->cpu && c->rss && c->vsz && c->start && c->fds && c->max_fds && c->build ? 0 : -1;
}

int procm_register(const char *service) {
        procm_children_t c;
        pthread_mutex_lock(&procm_lock);
        snprintf(procm_service, sizeof(procm_service), "%s", service);
        int rc = procm_children(&c);
        if (rc == 0)
                metrics_set(c.build, 1);
        pthread_mutex_unlock(&procm_lock);
        return rc;
}

/* Seconds since the epoch at which the machine booted (/proc/stat btime). */
static double procm_boot_time(void) {
        FILE *f = fopen("/proc/stat", "r");
        char line[256];
        double bt = 0;
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "btime ", 6) == 0) {
                        bt = strtod(line + 6, NULL);
                        break;
                }
        fclose(f);
        return bt;
}

/* /proc/self/stat: utime, stime, starttime (clock ticks), vsize (bytes),
 * rss (pages).  The command name (field 2) may hold spaces and ')': the
 * fields are counted from the last ')'. */
static int procm_stat(double *cpu_s, double *start_ticks, double *vsize, double *rss_pages) {
        char buf[1024];
        FILE *f = fopen("/proc/self/stat", "r");
        if (!f)
                return -1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (!p)
                return -1;
        p++;
        double v[24] = {0};
        /* p now points before field 3; fields 3..24 */
        for (int field = 3; field <= 24; field++) {
                char *end;
                while (*p == ' ')
                        p++;
                if (field == 3) { /* state: a letter */
                        while (*p && *p != ' ')
                                p++;
                        continue;
                }
                v[field - 1] = strtod(p, &end);
                if (end == p)
                        return -1;
                p = end;
        }
        double hz = (double)sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                hz = 100;
        *cpu_s = (v[13] + v[14]) / hz; /* fields 14, 15 */
        *start_ticks = v[21] / hz;     /* field 22, seconds after boot */
        *vsize = v[22];                /* field 23 */
        *rss_pages = v[23];            /* field 24 */
        return 0;
}

static double procm_open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        double n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory being read */
}

void procm_update(void) {
        procm_children_t c;
        double cpu, start, vsize, rss;
        pthread_mutex_lock(&procm_lock);
        if (!procm_service[0] || procm_children(&c) != 0) {
                pthread_mutex_unlock(&procm_lock);
                return;
        }
        metrics_set(c.build, 1);
        if (procm_stat(&cpu, &start, &vsize, &rss) == 0) {
                double have = metrics_value(c.cpu); /* a counter only counts up */
                if (cpu > have)
                        metrics_inc(c.cpu, cpu - have);
                long page = sysconf(_SC_PAGESIZE);
                metrics_set(c.rss, rss * (double)(page > 0 ? page : 4096));
                metrics_set(c.vsz, vsize);
                double bt = procm_boot_time();
                if (bt > 0)
                        metrics_set(c.start, bt + start);
        }
        double fds = procm_open_fds();
        if (fds >= 0)
                metrics_set(c.fds, fds);
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
                metrics_set(c.max_fds, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
        pthread_mutex_unlock(&procm_lock);
}
