/* ws_page — the dashboard page (services/sink/dashboard.html), embedded in
 * the binary by ws_page.c so a FROM scratch image needs no files. */
#ifndef WEIR_SINK_WS_PAGE_H
#define WEIR_SINK_WS_PAGE_H

/* The page's bytes: [ws_page_html, ws_page_html_end).  Not NUL-terminated. */
extern const char ws_page_html[];
extern const char ws_page_html_end[];

#endif
