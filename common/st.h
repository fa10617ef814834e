/* st — the kind of an error, shared by every module: what the caller should
 * do about it.
 *
 * The rule: a function whose callers decide by the kind of a failure
 * returns st_t, together with the librdkafka-style message
 * (char *errstr, size_t errstr_size) that says what went wrong for a person.
 * The caller branches on the st_t and only prints the message; no caller
 * ever decides by matching the message text, which is free to change.
 * (Functions whose callers only ever give up keep returning 0 / -1 or NULL.)
 * ST_OK is 0, so `if (f(...))` still reads "if it failed".
 *
 * A module's own result enum keeps its own values where it says more than
 * this (a join's hit/miss/stale, a hook's "abort the transaction"), and
 * takes these values, by name, where it says the same thing (kc_txn_res_t's
 * KC_TXN_OK/RETRY/FATAL, sr_err_kind()). */
#ifndef WEIR_ST_H
#define WEIR_ST_H

typedef enum {
        ST_OK = 0,
        ST_INVALID = 1, /* bad input or settings: retrying the same cannot help;
                         * the input goes to a DLQ, the setting is named */
        ST_RETRY = 2,   /* not now (a server away, busy, a timeout): the same
                         * call may succeed later */
        ST_STOPPED = 3, /* gave up because asked to stop (SIGTERM): a clean
                         * exit, not a failure */
        ST_FATAL = 4,   /* cannot go on: log the message and exit non-zero */
        ST_NOMEM = 5,   /* out of memory */
} st_t;

/* "ok", "invalid", "retry", "stopped", "fatal", "out of memory" (logs,
 * metric labels); "unknown" for anything else. */
const char *st_name(st_t st);

#endif
