/* cfg_doc — the settings tables in docs/, generated from the services'
 * cfg_tab tables (cfg_tab.h).
 *
 *   cfg_doc print NAME        the markdown table of block NAME
 *   cfg_doc check FILE...     exit 1 if a block between
 *                             <!-- settings:NAME --> and <!-- /settings:NAME -->
 *                             differs from the code, or a block is in no file
 *   cfg_doc update FILE...    rewrite those blocks (make docs-settings)
 *
 * A tool linking the service archives rather than a flag on each binary:
 * the tables are data in the archives, so this tool, the unit tests
 * (test_cfg.c) and the fuzzers all reach every service's table without
 * starting one, the services keep taking no arguments, and one run covers
 * the four services and the shared tables.  `make lint` runs check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/compute/cp_conf.h"
#include "../../services/enrichment/en_join.h"
#include "../../services/ingress/ig_conf.h"
#include "../../services/sink/ix.h"
#include "../../services/sink/sk_conf.h"
#include "../../services/sink/ws.h"
#include "cfg_tab.h"
#include "kc_txn.h"
#include "otel.h"
#include "svc.h"

typedef struct {
        const cfg_tab_t *tab;
        const char *const *defaults;
} part_t;

typedef struct {
        const char *name; /* the marker's */
        part_t parts[3];  /* rows of these tables, in this order */
} block_t;

static const block_t blocks[] = {
        {"common", {{&svc_conf_tab, NULL}}},
        {"otel", {{&otel_conf_tab, NULL}}},
        {"ingress", {{&ig_conf_tab, NULL}}},
        {"compute", {{&cp_conf_tab, NULL}, {&kc_txn_conf_tab, cp_conf_commit_defaults}}},
        {"enrichment", {{&kc_txn_conf_tab, en_join_commit_defaults}}},
        {"sink", {{&ix_conf_tab, NULL}, {&sk_conf_tab, NULL}}},
        {"sink-ws", {{&ws_conf_tab, NULL}}},
};
#define NBLOCKS (sizeof(blocks) / sizeof(blocks[0]))

static const block_t *block_find(const char *name, size_t len) {
        for (size_t i = 0; i < NBLOCKS; i++)
                if (strlen(blocks[i].name) == len && !strncmp(blocks[i].name, name, len))
                        return &blocks[i];
        return NULL;
}

static void block_print(FILE *out, const block_t *b) {
        cfg_tab_markdown_header(out);
        for (size_t i = 0; i < 3 && b->parts[i].tab; i++)
                cfg_tab_markdown_rows(out, b->parts[i].tab, b->parts[i].defaults);
}

static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t cap = 0;
        FILE *m = open_memstream(&buf, &cap);
        char chunk[8192];
        size_t n;
        while (m && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        if (!m)
                return NULL;
        fclose(m);
        *len = cap;
        return buf;
}

/* The file with every block regenerated, in *out (malloc'd, the caller's).
 * Marks the blocks seen in `seen`.  -1 on an unknown or unclosed block. */
static int regenerate(const char *path, const char *in, char **out, size_t *out_len, int *seen) {
        static const char open_pfx[] = "<!-- settings:";
        FILE *m = open_memstream(out, out_len);
        const char *p = in;
        int rc = 0;
        while (*p) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
                fwrite(p, 1, len, m);
                if (!strncmp(p, open_pfx, sizeof(open_pfx) - 1)) {
                        const char *name = p + sizeof(open_pfx) - 1;
                        const char *end = strstr(name, " -->");
                        const block_t *b = end && end < p + len
                                                   ? block_find(name, (size_t)(end - name))
                                                   : NULL;
                        if (!b) {
                                fprintf(stderr, "%s: unknown settings block: %.*s", path, (int)len,
                                        p);
                                rc = -1;
                                break;
                        }
                        seen[b - blocks] = 1;
                        char close[64];
                        snprintf(close, sizeof(close), "<!-- /settings:%s -->", b->name);
                        const char *c = strstr(p + len, close);
                        if (!c) {
                                fprintf(stderr, "%s: settings:%s is not closed by %s\n", path,
                                        b->name, close);
                                rc = -1;
                                break;
                        }
                        block_print(m, b);
                        p = c;
                        continue;
                }
                p += len;
        }
        fclose(m);
        return rc;
}

static int usage(void) {
        fprintf(stderr, "usage: cfg_doc print NAME | check FILE... | update FILE...\n");
        return 2;
}

int main(int argc, char **argv) {
        if (argc < 3)
                return usage();
        if (!strcmp(argv[1], "print")) {
                const block_t *b = block_find(argv[2], strlen(argv[2]));
                if (!b) {
                        fprintf(stderr, "cfg_doc: no settings block %s\n", argv[2]);
                        return 1;
                }
                block_print(stdout, b);
                return 0;
        }
        int update = !strcmp(argv[1], "update");
        if (!update && strcmp(argv[1], "check"))
                return usage();
        int seen[NBLOCKS] = {0}, bad = 0;
        for (int i = 2; i < argc; i++) {
                size_t len, out_len;
                char *in = slurp(argv[i], &len), *out = NULL;
                if (!in) {
                        fprintf(stderr, "cfg_doc: %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (regenerate(argv[i], in, &out, &out_len, seen) == -1) {
                        free(in);
                        free(out);
                        return 1;
                }
                if (out_len != len || memcmp(in, out, len)) {
                        if (update) {
                                FILE *f = fopen(argv[i], "wb");
                                if (!f || fwrite(out, 1, out_len, f) != out_len || fclose(f)) {
                                        fprintf(stderr, "cfg_doc: writing %s failed\n", argv[i]);
                                        return 1;
                                }
                                printf("cfg_doc: updated %s\n", argv[i]);
                        } else {
                                fprintf(stderr,
                                        "cfg_doc: %s: a settings table differs from the code's "
                                        "(run `make docs-settings`)\n",
                                        argv[i]);
                                bad = 1;
                        }
                }
                free(in);
                free(out);
        }
        for (size_t i = 0; i < NBLOCKS; i++)
                if (!seen[i]) {
                        fprintf(stderr,
                                "cfg_doc: no file has <!-- settings:%s --> ... "
                                "<!-- /settings:%s -->\n",
                                blocks[i].name, blocks[i].name);
                        bad = 1;
                }
        return bad;
}
