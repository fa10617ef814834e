/* fw — "fetch wake": keeps a consumer's prefetch queue small without
 * starving it.
 *
 * librdkafka before 2.2 stops fetching while a consumer's queue holds
 * queued.min.messages (or queued.max.messages.kbytes) and looks again only
 * when its broker thread next wakes up: on I/O, on an operation for it, or
 * after a hard-coded 1 s (2.2 made it fetch.queue.backoff.ms; Debian 12
 * ships 2.0.2).  So a consumer that drains its queue in less than a second
 * idles until the second is over, and keeping up while catching up takes a
 * queue holding a whole second of input: ~40 MB of librdkafka message
 * structures at 110k records/s (measured: docs/bench/compute.md).
 *
 * fw watches the queue length every few (FW_EVERY) records; when it falls
 * below queued.min.messages - FW_EVERY after having reached that level (so
 * that no moment at queued.min.messages, the state in which the fetcher
 * sleeps, goes unseen between two looks), it asks the leader of the
 * partition just consumed for its watermarks.  That request is an
 * operation for the very broker thread that fetches, so the thread wakes
 * up, sees the queue below the threshold and fetches at once.  The query
 * blocks for a round trip (longer when the broker is slow), so it runs in
 * fw's own thread, never in the worker's.  When records arrive slower than
 * they are processed the queue never reaches the threshold and fw does
 * nothing.
 *
 * With it, queued.min.messages can be small: the queue holds that many
 * records plus one fetch. */
#ifndef WEIR_FW_H
#define WEIR_FW_H

#include <librdkafka/rdkafka.h>

#include "metrics.h"

/* The small prefetch fw makes possible, for every consumer that uses it
 * (compute's workers and changelog reader, the sink's loop; compute's wk.c
 * says why these values): name, value pairs to put in a props list. */
#define FW_PREFETCH_PROPS                                                                          \
        "queued.min.messages", "1000", "queued.max.messages.kbytes", "4096",                       \
                "max.partition.fetch.bytes", "65536", "message.max.bytes", "65536",                \
                "fetch.max.bytes", "65536"

typedef struct fw_s fw_t;

/* For consumer `rk` (which must outlive fw_destroy()): reads its
 * queued.min.messages and starts the thread.  `q`: the queue the records
 * come through (kc_txn_queue(): a loop of several sharing the consumer,
 * kept by its owner until fw_destroy()), or NULL for the consumer's own.  `wakeups` (NULL: none) is
 * incremented at every wake-up.  NULL with errstr. */
fw_t *fw_new(rd_kafka_t *rk, rd_kafka_queue_t *q, metrics_child_t *wakeups, char *errstr,
             size_t errstr_size);

/* In the consuming thread, for every consumed message (cheap: looks at the
 * queue every 16th call). */
void fw_check(fw_t *f, const rd_kafka_message_t *m);

/* Wakes the broker thread leading topic[partition] now (unless the queue
 * is at the arming level: the fetcher is then stopped rightly), for a
 * consumer whose queue holds what the application never sees.  With
 * read_committed, librdkafka 2.0.2 queues every transaction marker
 * (control record) it fetches as an op, counts it against
 * queued.min.messages, and drops it inside the poll: a fetch of 1000
 * markers or more stops the fetcher, the poll drains them without
 * returning, and no record passes fw_check() while the queue is high.
 * The caller knows markers went by when its position moved with no
 * record (cl.c). */
void fw_wake(fw_t *f, const char *topic, int32_t partition);

/* Wake-ups asked for so far (tests, logs). */
long fw_wakeups(fw_t *f);

/* Stops the thread (after a query in flight returns) and frees.  NULL is
 * fine. */
void fw_destroy(fw_t *f);

#endif
