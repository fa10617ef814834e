/* ixc — the InfluxDB writer's libcurl transport, used for an https://
 * INFLUX_URL only (TLS: InfluxDB Cloud); plain http:// goes through the
 * built-in client (hc.h), so the sink loads libcurl only for https.
 * curl_global_init runs at the first ixc_new().  Same answer type as hc. */
#ifndef WEIR_SINK_IXC_H
#define WEIR_SINK_IXC_H

#include <stddef.h>
#include <stdint.h>

#include "hc.h"

typedef struct ixc_s ixc_t;

/* A handle that POSTs to `url` with the header lines `headers` ("Name:
 * value\r\n" each, as for hc_post) and, when username is set, basic auth.
 * The headers are copied; url, username and password must outlive the
 * handle.  NULL with errstr; free with ixc_destroy(). */
ixc_t *ixc_new(const char *url, const char *headers, const char *username, const char *password,
               int64_t timeout_ms, int64_t connect_timeout_ms, size_t max_body, char *errstr,
               size_t errstr_size);
void ixc_destroy(ixc_t *x);

/* One POST of body[0..len).  0 with *resp filled (body owned by x, valid
 * until the next request), or -1 with curl's message in errstr. */
int ixc_post(ixc_t *x, const void *body, size_t len, hc_resp_t *resp, char *errstr,
             size_t errstr_size);

#endif
