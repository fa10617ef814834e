/* Unit test with a figure: the engine alone (no Kafka, no Avro) on the
 * bench-compute topology — tumbling 1-minute windows, count/mean/stddev/p99
 * of one field per key — checks every record is counted once, that the
 * heap stops growing once warm (no per-record allocation that is kept), and
 * prints CPU-seconds per million records.  The figure is for information;
 * nothing asserts a speed (the machine may be loaded). */
#include "th.h"

#include "th_compute.h"

#include <malloc.h>
#include <time.h>

static long long total;
static int finals;
static void on_agg(void *o, const cp_aggregate_t *a) {
        (void)o;
        if (a->final) {
                total += a->count;
                finals++;
        }
}

static size_t cl_records, cl_bytes;
static void count_bytes(void *o, const void *k, size_t kl, const void *v, size_t vl) {
        (void)o;
        (void)k;
        (void)v;
        cl_records++;
        cl_bytes += kl + vl;
}

static double cpu_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_engine_throughput(void) {
        tc_t t;
        if (tc_open(&t,
                    "'windows':[{'name':'w','type':'tumbling','size':'1m','grace':'5s'}],"
                    "'aggregates':[{'field':'speed','ops':['count','mean','stddev','p99']}]") < 0) {
                printf("  %s\n", t.err);
                TH_CHECK(0);
                return;
        }
        cp_emit_t em = {on_agg, NULL, NULL};
        const size_t nkeys = 1000, n = 3000000;
        char(*keys)[16] = malloc(nkeys * sizeof(*keys));
        size_t *klen = malloc(nkeys * sizeof(*klen));
        for (size_t k = 0; k < nkeys; k++)
                klen[k] = (size_t)snprintf(keys[k], sizeof(keys[k]), "int-%05zu", k);
        uint64_t seed = 42;
        size_t late = 0;
        size_t warm = n / 4;
        size_t heap_warm = 0;
        double t0 = cpu_s();
        for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                size_t k = (seed >> 33) % nkeys;
                double speed = 5 + (double)((seed >> 20) % 1200) / 10;
                unsigned char pr = 1;
                /* 1000 records per second of event time, up to 2 s out of order */
                int64_t ts = 1700000000000 + (int64_t)i - (int64_t)((seed >> 44) % 2000);
                cp_record_t r = {keys[k], klen[k], ts, &speed, &pr};
                if (cp_part_process(t.p, &r, 0, &em) != CP_OK)
                        late++;
                if (i == warm)
                        heap_warm = mallinfo2().uordblks;
        }
        double took = cpu_s() - t0;
        size_t heap_end = mallinfo2().uordblks;
        double f0 = cpu_s();
        cp_part_flush_dirty(t.p, count_bytes, NULL);
        double flush_s = cpu_s() - f0;
        cp_part_stats_t st;
        cp_part_stats(t.p, &st);
        /* close everything still open */
        for (size_t k = 0; k < nkeys; k++) {
                double v = 0;
                unsigned char pr = 0;
                cp_record_t r = {keys[k], klen[k], 1800000000000, &v, &pr};
                cp_part_process(t.p, &r, 0, &em);
        }
        TH_CHECK_INT(late, 0);
        TH_CHECK_INT(total, (long long)n); /* every record counted exactly once */
        TH_CHECK(heap_end <= heap_warm + 256 * 1024);
        TH_CHECK_INT(cl_records, nkeys + 1); /* every key, and the metadata */
        printf("  changelog flush of every key: %zu records, %zu bytes (%zu a key), %.1f ms CPU\n",
               cl_records, cl_bytes, cl_bytes / nkeys, flush_s * 1e3);
        printf("  engine: %.3f CPU-s per million records (%zu records, %zu keys, %d windows "
               "closed, "
               "%lld open at the end, %lld bytes of state, heap +%lld bytes after warm-up)\n",
               took / ((double)n / 1e6), n, nkeys, finals, (long long)st.open_windows,
               (long long)st.state_bytes, (long long)heap_end - (long long)heap_warm);
        free(keys);
        free(klen);
        tc_close(&t);
}

TH_MAIN("compute_perf", TH_T(test_engine_throughput))
