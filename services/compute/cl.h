/* cl — compute's changelog: the compacted topic that holds the window state
 * of every input partition (like a Kafka Streams changelog).
 *
 * Partition p of the changelog holds the state of input partition p, one
 * record per engine key (cp_part_flush_dirty), a tombstone when a key's state
 * is gone.  The worker writes a partition's dirty keys once early in each
 * transaction (its first change: the partition registers with the
 * coordinator then, not in the commit) and the rest in pre_commit, inside
 * the same transaction as the outputs and the consumer offsets, so what a
 * read_committed reader of the changelog sees is always the state after the
 * last committed input offset.
 *
 * Restoring reads partitions from the beginning to their end with a
 * separate read_committed consumer (assign(), no group membership).  "The
 * end" is where the log is stable: the last stable offset equals the high
 * watermark, i.e. no transaction is open on the partition — right after a
 * commit the broker writes the commit markers asynchronously, so the LSO can
 * trail for a moment, and a crashed previous owner's open transaction holds
 * it back until it is aborted (its restarted instance fences it at once,
 * else transaction.timeout.ms).  Restoring at the LSO before then could miss
 * a committed state record, so cl waits (up to CHANGELOG_STABLE_TIMEOUT,
 * then restores to the LSO with a warning: what lies beyond is the open
 * transaction, never committed state). */
#ifndef WEIR_CL_H
#define WEIR_CL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "admin.h"
#include "kc.h"
#include "st.h"

#define CL_TOPIC_CONFIG_MAX 32

/* The topic configs a created changelog gets: cl's defaults (cl.c says
 * why each) with CHANGELOG_TOPIC_CONFIG's "k=v,k=v" over them.  Everything
 * lives in the struct: nothing to free. */
typedef struct cl_topic_conf_s {
        char buf[2048];                              /* the overrides, split in place */
        const char *kv[2 * CL_TOPIC_CONFIG_MAX + 2]; /* name, value, ..., NULL */
        int n;                                       /* pairs */
} cl_topic_conf_t;

/* tc = the defaults with `overrides` (NULL or "k=v,k=v", blanks around
 * names and values ignored) over them.  Returns 0, or -1 with errstr
 * naming the bad entry (no broker needed: checked at start-up). */
int cl_topic_conf_init(cl_topic_conf_t *tc, const char *overrides, char *errstr,
                       size_t errstr_size);

/* Creates `topic` (tc's configs, as many partitions as `input_topic`,
 * which must exist) when it does not exist, using `kc`'s connection (any
 * client); checks an existing one has at least as many, and leaves its
 * configs alone.  *input_partitions and *changelog_partitions get the two
 * counts.  Returns 0, or -1 with errstr set. */
int cl_ensure_topic(kc_t *kc, const char *input_topic, const char *topic, const cl_topic_conf_t *tc,
                    int *input_partitions, int *changelog_partitions, char *errstr,
                    size_t errstr_size);

typedef struct cl_reader_s cl_reader_t;

/* A restore consumer for `topic` (KAFKA_* applied; group `group_id`.restore
 * which it never joins).  The client of the first restore is created, and
 * starts connecting, now.  Returns NULL with errstr set. */
cl_reader_t *cl_reader_new(const char *stage, const char *group_id, const char *topic,
                           int64_t stable_timeout_ms, char *errstr, size_t errstr_size);
void cl_reader_destroy(cl_reader_t *r);

/* One changelog record; val == NULL for a tombstone.  Returns 0 or -1 to
 * give up the restore. */
typedef int (*cl_record_cb)(void *opaque, int32_t partition, const void *key, size_t key_len,
                            const void *val, size_t val_len);

/* "0,2,5": partition numbers for a log line, cut short to fit `size`. */
const char *cl_parts_str(char *buf, size_t size, const int32_t *parts, size_t n);

/* Reads the `n` partitions from the beginning to their stable end, calling
 * cb for each record (in offset order per partition), beating `beat` (NULL
 * or the calling loop's heartbeat: a restore can outlast ADMIN_STALL).
 * *records gets the count.  `stop`: NULL or a flag that abandons the
 * restore.  Returns ST_OK; ST_STOPPED when *stop was set; ST_FATAL or
 * ST_NOMEM with errstr set. */
st_t cl_restore(cl_reader_t *r, const int32_t *parts, size_t n, cl_record_cb cb, void *opaque,
                int64_t *records, atomic_int *stop, admin_beat_t *beat, char *errstr,
                size_t errstr_size);

#endif
