/* ws_filter — a WebSocket client's subscription: which events it wants.
 *
 * Parsed from the client's message
 *   {"subscribe": {"topics": [..], "keys": [..], "kinds": [..],
 *                  "severity": [..]  or  "min_severity": ".."}}
 * Every list is optional; an absent or empty list lets everything through;
 * an event must pass every list given.  Severities are INFO < WARNING <
 * CRITICAL; the severity filter applies to events that carry a severity
 * (alerts): an event without one (an aggregate) is not filtered by it (add
 * "kinds": ["alert"] for alerts only).  Lists are sorted once, so matching
 * is a binary search per list.  Only the service thread uses a filter. */
#ifndef WEIR_SINK_WS_FILTER_H
#define WEIR_SINK_WS_FILTER_H

#include <stddef.h>

#include "buf.h"

#define WS_FILTER_MAX_ITEMS 1024 /* entries per list */

typedef struct {
        char *p;
        size_t len;
} ws_str_t;

typedef struct {
        ws_str_t *topics, *keys, *kinds; /* sorted, owned */
        size_t ntopics, nkeys, nkinds;
        unsigned sev_mask; /* bit (1 << ws_severity()) per accepted severity; 0 = all */
} ws_filter_t;

/* INFO 0, WARNING 1, CRITICAL 2 (case-insensitive), else -1. */
int ws_severity(const char *s);

/* Parses a client message (len bytes of text).  On success replaces *f
 * (freeing what it held) and returns 0; on error returns -1 with errstr
 * naming the path, e.g. "$.subscribe.keys[2]: expected a string", and
 * leaves *f unchanged.  A zeroed ws_filter_t is a valid empty filter. */
int ws_filter_parse(ws_filter_t *f, const char *text, size_t len, char *errstr, size_t errstr_size);

/* 1 if the event passes.  `severity` may be NULL; key need not be
 * NUL-terminated. */
int ws_filter_match(const ws_filter_t *f, const char *kind, const char *topic, const char *key,
                    size_t key_len, const char *severity);

/* Appends the filter as JSON ({"topics":[..],"keys":[..],"kinds":[..],
 * "severity":[..]}), the body of the server's {"subscribed": ..} answer.
 * Returns 0 or -1 (out of memory). */
int ws_filter_json(const ws_filter_t *f, buf_t *out);

/* Appends s[0..len) as a JSON string with quotes; invalid UTF-8 becomes
 * U+FFFD so a text frame stays valid.  Returns 0 or -1 (out of memory). */
int ws_json_str(buf_t *out, const char *s, size_t len);

/* Frees the lists; the filter is empty afterwards. */
void ws_filter_free(ws_filter_t *f);

#endif
