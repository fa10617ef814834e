/* cp_conf — compute's own settings table, and the defaults compute gives
 * the shared commit settings (kc_txn_conf_tab).  docs/compute.md's
 * settings table is generated from both. */
#ifndef WEIR_COMPUTE_CP_CONF_H
#define WEIR_COMPUTE_CP_CONF_H

#include <stdint.h>

#include "cfg_tab.h"

#define CP_CONF_MAX_THREADS 64

typedef struct cp_conf_s {
        int64_t threads;   /* COMPUTE_THREADS: worker threads */
        int64_t stable_ms; /* CHANGELOG_STABLE_TIMEOUT */
        /* CHANGELOG_TOPIC_CONFIG, or NULL; cfg_tab's (static or the
         * environment's): nobody frees it */
        const char *topic_config;
} cp_conf_t;

extern const cfg_tab_t cp_conf_tab;
/* Name/value pairs for kc_txn_conf_t.env_defaults. */
extern const char *const cp_conf_commit_defaults[];

/* 0, or -1 with errstr naming the variable. */
int cp_conf_load(cp_conf_t *c, char *errstr, size_t errstr_size);

#endif
