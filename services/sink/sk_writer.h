/* sk_writer — the sink's InfluxDB writes in a thread of their own, so the
 * loop keeps consuming (and pushing to the WebSocket feed) while a batch
 * is written.
 *
 * Two batches: the loop fills one (sk_writer_fill), the writer thread
 * writes the other.  sk_writer_submit() swaps them (one handoff per batch,
 * no lock per record); the writer runs ix_flush_step() until InfluxDB took
 * every line, sleeping out the retry delays itself (woken at cancel and
 * destroy).  It only reads the batch it writes; the lines InfluxDB rejected
 * are listed (sk_writer_rejected) for the loop, which produces their DLQ
 * records.  Its states, read by the loop without a lock:
 *
 *   IDLE ── submit ──▶ BUSY ⇄ FAILING (an attempt failed: retrying)
 *                        └──────┴──▶ DONE ── release ──▶ IDLE
 *   cancel: DONE → IDLE at once; BUSY/FAILING → IDLE after the request
 *   under way (INFLUX_TIMEOUT at most), the rest of the batch unwritten.
 *
 * The loop asks (sk_writer_state) every turn while a batch is pending:
 * kc_txn's turns are 10 ms at most then. */
#ifndef WEIR_SINK_SK_WRITER_H
#define WEIR_SINK_SK_WRITER_H

#include "ix.h"

typedef struct sk_writer_s sk_writer_t;

typedef enum { SK_WR_IDLE, SK_WR_BUSY, SK_WR_FAILING, SK_WR_DONE } sk_wr_state_t;

/* A line InfluxDB rejected, with its message (owned by the writer). */
typedef struct sk_wr_rejected_s {
        size_t line; /* index in the written batch */
        char *message;
} sk_wr_rejected_t;

/* Takes ix (destroyed with the writer, also on failure) and starts the
 * thread.  NULL with errstr on failure. */
sk_writer_t *sk_writer_new(ix_t *ix, char *errstr, size_t errstr_size);
/* Stops the thread (after the request under way) and frees everything. */
void sk_writer_destroy(sk_writer_t *w);

/* The loop's side. */
ix_batch_t *sk_writer_fill(sk_writer_t *w);
sk_wr_state_t sk_writer_state(const sk_writer_t *w);
/* IDLE only: the fill batch is written from now on; the next fill batch
 * is empty. */
void sk_writer_submit(sk_writer_t *w);
/* The batch submitted last (BUSY..DONE: read-only for both threads). */
const ix_batch_t *sk_writer_batch(const sk_writer_t *w);
/* DONE: the rejected lines (*n of them); -1 when one could not be listed
 * (out of memory: the batch must be written again).  And when InfluxDB
 * took the last line (wall-clock ms). */
int sk_writer_rejected(const sk_writer_t *w, const sk_wr_rejected_t **rej, size_t *n);
int64_t sk_writer_done_ms(const sk_writer_t *w);
/* DONE → IDLE. */
void sk_writer_release(sk_writer_t *w);
/* Gives the submitted batch up (see above).  1 when there was one. */
int sk_writer_cancel(sk_writer_t *w);

#endif
