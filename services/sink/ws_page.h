/* ws_page — the dashboard page (services/sink/dashboard.html), embedded in
 * the binary by ws_page.c so a FROM scratch image needs no files. */
#ifndef WEIR_SINK_WS_PAGE_H
#define WEIR_SINK_WS_PAGE_H

#include <stddef.h>
#include <stdint.h>

/* The page's bytes (ws_page_html_size of them, then a NUL). */
extern const char ws_page_html[];
extern const uint64_t ws_page_html_size;

/* A copy of the page with the WebSocket path in place of its {{WS_PATH}},
 * behind `pre` bytes of room (LWS_PRE); *len gets the page's length.  The
 * path must be safe inside a JavaScript string (ws_server_new checks it).
 * malloc'd, the caller frees; NULL when out of memory. */
unsigned char *ws_page_build(const char *path, size_t pre, size_t *len);

#endif
