/* en_table_bench — what one enrichment lookup costs: en_table_get() on a
 * table of N reference entries (keys "intersection-<i>"), hits in a
 * shuffled order and misses, plus the table's memory (entries and array).
 *
 *   build/rel/tools/en_table_bench [-n entries] [-l lookups]
 *
 * Prints ns/lookup for hits and misses, one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/enrichment/en_table.h"
#include "clk.h"

int main(int argc, char **argv) {
        long n = 100000, lookups = 10000000;
        for (int c; (c = getopt(argc, argv, "n:l:")) != -1;) {
                if (c == 'n')
                        n = atol(optarg);
                else if (c == 'l')
                        lookups = atol(optarg);
                else {
                        fprintf(stderr, "usage: en_table_bench [-n entries] [-l lookups]\n");
                        return 2;
                }
        }
        if (n < 1 || lookups < 1)
                return 2;
        en_table_t t;
        char(*keys)[40] = malloc((size_t)n * sizeof(*keys));
        size_t *order = malloc((size_t)n * sizeof(*order));
        if (!keys || !order || en_table_init(&t) == -1)
                return 1;
        const char *names[] = {"district", "name"};
        const char *vals[] = {"Downtown", "Main St / 5th Ave"};
        size_t nl[] = {8, 4}, vl[] = {8, 17};
        for (long i = 0; i < n; i++) {
                snprintf(keys[i], sizeof(keys[i]), "intersection-%ld", i);
                en_entry_t *e =
                        en_entry_new(keys[i], strlen(keys[i]), names, nl, vals, vl, 2, NULL, 0);
                if (!e || en_table_put(&t, e) != NULL)
                        return 1;
                order[i] = (size_t)i;
        }
        srand(7);
        for (long i = n - 1; i > 0; i--) { /* shuffled: no cache-friendly order */
                size_t j = (size_t)rand() % (size_t)(i + 1), x = order[i];
                order[i] = order[j];
                order[j] = x;
        }
        size_t *lens = malloc((size_t)n * sizeof(*lens));
        if (!lens)
                return 1;
        for (long i = 0; i < n; i++)
                lens[i] = strlen(keys[i]);
        size_t found = 0;
        int64_t t0 = clk_mono_ns();
        for (long i = 0; i < lookups; i++) {
                size_t k = order[i % n];
                found += en_table_get(&t, keys[k], lens[k]) != NULL;
        }
        int64_t t1 = clk_mono_ns();
        /* Misses: the same keys with the last character changed. */
        for (long i = 0; i < n; i++)
                keys[i][lens[i] - 1] = 'x';
        for (long i = 0; i < lookups; i++) {
                size_t k = order[i % n];
                found += en_table_get(&t, keys[k], lens[k]) != NULL;
        }
        int64_t t2 = clk_mono_ns();
        printf("entries %ld, lookups %ld: hit %.1f ns/lookup, miss %.1f ns/lookup (found %zu)\n", n,
               lookups, (double)(t1 - t0) / (double)lookups, (double)(t2 - t1) / (double)lookups,
               found);
        printf("entry bytes %zu (%.1f per entry)\n", t.bytes, (double)t.bytes / (double)n);
        en_table_fini(&t);
        free(keys);
        free(order);
        free(lens);
        return found == (size_t)lookups ? 0 : 1;
}
