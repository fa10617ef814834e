/* kc_group — one consumer group member per process whose partitions are
 * processed by several kc_txn loops (compute's COMPUTE_THREADS > 1).
 *
 * A group member per thread costs a heartbeat and fetch session each, and
 * members joining at once miss each other's round (the broker completes
 * it with the first; the others' joins fail its SyncGroup and librdkafka
 * 2.0.2 waits out a 1 s join backoff).  Instead one consumer joins, and its
 * coordinator thread hands each assigned partition to a loop by forwarding
 * the partition's queue (rd_kafka_queue_get_partition + _forward) to the
 * loop's own queue, which the loop consumes (rd_kafka_consume_queue).
 *
 *   coordinator thread (kc_group's):   subscribe; rd_kafka_consumer_poll()
 *       (group membership, rebalances, consumer errors) until stopped or a
 *       loop ended; then rd_kafka_consumer_close() (leaves the group).
 *   assigned (inside the poll, before fetching starts): each new partition
 *       goes to the loop holding its partition number on another topic,
 *       else to the one with the fewest; its queue is forwarded there; each
 *       loop runs its assigned hook (compute restores state) and answers;
 *       the coordinator waits for every answer, so fetching starts after
 *       them and "kafka assigned" means assigned and restored.
 *   revoked/lost: the partitions' queues are un-forwarded, then each owning
 *       loop commits (lost: aborts) its open transaction and runs its
 *       revoked hook; the coordinator waits (at most KC_GROUP_REVOKE_MS: a
 *       loop that has not answered by then aborts instead of committing
 *       when it does, so nothing of the revoked partitions is committed
 *       after their next owner started).
 *
 * Loops answer within a loop turn (at most 100 ms; the coordinator also
 * wakes their queue with rd_kafka_queue_yield()).  Each loop keeps its own
 * transactional producer and commits offsets with the shared consumer's
 * group metadata: several producers committing offsets of one member's
 * partitions is valid in exactly-once v2 (KIP-447: the broker checks the
 * generation and member id).  Positions, seeks and pauses act on single
 * partitions through thread-safe calls.
 *
 * Order: kc_group_new(), then the loops (kc_txn_new() with conf.group set:
 * each attaches once its producer is ready; the group subscribes when all
 * have), kc_txn_run() in each loop's thread; the loops end once the group
 * has closed (stop flag, or a loop that ended: fatal error); then
 * kc_txn_destroy() each loop and kc_group_destroy(). */
#ifndef WEIR_KC_GROUP_H
#define WEIR_KC_GROUP_H

#include "kc.h"
#include "kc_txn.h"

/* How long a revocation waits for the loops' commits. */
#define KC_GROUP_REVOKE_MS 60000

/* A group for `loops` kc_txn loops (1 … 64), configured from `conf` as a
 * kc_txn loop's consumer would be (stage, group_id, topics, guarantee,
 * props, consumer_props, admin, stop; instance 0 names its static member
 * id).  The strings and lists conf points to must outlive the group.
 * Starts the coordinator thread (heartbeat "<stage> group" with
 * conf->admin).  NULL with errstr. */
kc_group_t *kc_group_new(const kc_txn_conf_t *conf, int loops, char *errstr, size_t errstr_size);

/* After every loop ended: stops the coordinator (closing the consumer if
 * it did not yet) and frees everything.  NULL is fine. */
void kc_group_destroy(kc_group_t *g);

/* ------------------------------------------------ for kc_txn (group mode) */

kc_t *kc_group_consumer(kc_group_t *g);
/* Loop `loop`'s input queue (the group's: do not destroy). */
rd_kafka_queue_t *kc_group_queue(kc_group_t *g, int loop);
/* The loop is ready for partitions (its producer is); the group subscribes
 * once every loop is. */
void kc_group_attach(kc_group_t *g, int loop);
/* The loop ended (or never started): not waited for any more, and the
 * group closes.  Idempotent. */
void kc_group_detach(kc_group_t *g, int loop);
/* In the loop's thread, every turn and after each poll: runs the pending
 * rebalance of the loop's partitions through `hooks` (revoked with lost=1
 * also when the coordinator gave up waiting) and answers the coordinator.
 * Returns 1 when one ran, 0 otherwise (one atomic load). */
int kc_group_serve(kc_group_t *g, int loop, const kc_rebalance_hooks_t *hooks);
/* 1 once the consumer has left the group (the loops end); *why (may be
 * NULL) is "" or the fatal error that closed it. */
int kc_group_closed(kc_group_t *g, const char **why);

#endif
