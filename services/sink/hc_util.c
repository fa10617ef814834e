/* hc_util — the parts of the HTTP client (hc.h) that do no I/O: taking an
 * http:// URL apart, reading Retry-After, percent-encoding and base64. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hc.h"

/* Characters allowed in the host and path of a base URL: printable ASCII
 * without space, quotes, '<', '>', '\' or '`' (which would need encoding). */
static int hc_url_char(int c) {
        return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}", c);
}

int hc_url_parse(const char *url, hc_url_t *u, char *errstr, size_t errstr_size) {
        memset(u, 0, sizeof(*u));
        if (strncasecmp(url, "http://", 7)) {
                snprintf(errstr, errstr_size, "\"%s\": not an http:// URL", url);
                return -1;
        }
        const char *a = url + 7;
        size_t alen = strcspn(a, "/?#");
        if (memchr(a, '@', alen)) {
                /* Not quoted: the part before '@' is a password. */
                snprintf(errstr, errstr_size,
                         "credentials in the URL (user:password@) are not supported: use "
                         "INFLUX_USERNAME/INFLUX_PASSWORD or INFLUX_TOKEN");
                return -1;
        }
        const char *host = a, *hend, *port = NULL;
        if (*a == '[') { /* an IPv6 literal */
                host = a + 1;
                hend = memchr(host, ']', alen);
                if (!hend || (hend + 1 < a + alen && hend[1] != ':'))
                        goto bad_host;
                if (hend + 1 < a + alen)
                        port = hend + 2;
        } else {
                hend = memchr(a, ':', alen);
                if (hend)
                        port = hend + 1;
                else
                        hend = a + alen;
        }
        size_t hlen = (size_t)(hend - host);
        if (hlen == 0 || hlen >= sizeof(u->host))
                goto bad_host;
        for (size_t i = 0; i < hlen; i++)
                if (!hc_url_char((unsigned char)host[i]) || host[i] == '[' || host[i] == ']' ||
                    (*a != '[' && host[i] == ':'))
                        goto bad_host;
        memcpy(u->host, host, hlen);
        size_t plen = port ? (size_t)(a + alen - port) : 0;
        if (plen == 0) {
                strcpy(u->port, "80"); /* "http://h:/" too, as RFC 3986 allows */
        } else {
                unsigned long p = 0;
                for (size_t i = 0; i < plen; i++) {
                        if (!isdigit((unsigned char)port[i]) || i >= 5)
                                goto bad_port;
                        p = p * 10 + (unsigned long)(port[i] - '0');
                }
                if (p == 0 || p > 65535)
                        goto bad_port;
                snprintf(u->port, sizeof(u->port), "%lu", p);
        }
        const char *path = a + alen;
        if (*path == '?' || *path == '#' || strpbrk(path, "?#")) {
                snprintf(errstr, errstr_size, "\"%s\": a query or fragment is not supported", url);
                return -1;
        }
        size_t len = strlen(path);
        while (len && path[len - 1] == '/')
                len--;
        for (size_t i = 0; i < len; i++)
                if (!hc_url_char((unsigned char)path[i])) {
                        snprintf(errstr, errstr_size,
                                 "\"%s\": character 0x%02x in the path (percent-encode it)", url,
                                 (unsigned char)path[i]);
                        return -1;
                }
        if (len >= sizeof(u->path)) {
                snprintf(errstr, errstr_size, "\"%.64s...\": path longer than %zu bytes", url,
                         sizeof(u->path) - 1);
                return -1;
        }
        memcpy(u->path, path, len);
        return 0;
bad_host:
        snprintf(errstr, errstr_size, "\"%s\": missing or malformed host", url);
        return -1;
bad_port:
        snprintf(errstr, errstr_size, "\"%s\": the port must be a number from 1 to 65535", url);
        return -1;
}

/* strptime consumed the whole value (trailing spaces allowed). */
static int hc_date(const char *v, const char *fmt, struct tm *tm) {
        memset(tm, 0, sizeof(*tm));
        const char *end = strptime(v, fmt, tm);
        if (!end)
                return -1;
        while (*end == ' ' || *end == '\t')
                end++;
        return *end ? -1 : 0;
}

int64_t hc_retry_after_ms(const char *v, time_t now) {
        while (*v == ' ' || *v == '\t')
                v++;
        if (isdigit((unsigned char)*v)) {
                long long s = 0;
                for (; isdigit((unsigned char)*v); v++)
                        s = s > 86400 ? s : s * 10 + (*v - '0');
                while (*v == ' ' || *v == '\t')
                        v++;
                if (*v)
                        return -1;
                return (s > 86400 ? 86400 : s) * 1000;
        }
        /* The three forms RFC 9110 says a recipient must accept; the names
         * are English whatever the locale (the services never set one). */
        struct tm tm;
        if (hc_date(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) &&
            hc_date(v, "%A, %d-%b-%y %H:%M:%S GMT", &tm) && hc_date(v, "%a %b %e %H:%M:%S %Y", &tm))
                return -1;
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
                return -1;
        if (t <= now)
                return 0;
        return (t - now > 86400 ? 86400 : (int64_t)(t - now)) * 1000;
}

int hc_escape(buf_t *out, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s), start = out->len;
        if (buf_reserve(out, 3 * n))
                return -1;
        char *p = out->data + start;
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                if (isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~') {
                        *p++ = (char)*c;
                } else {
                        *p++ = '%';
                        *p++ = hex[*c >> 4];
                        *p++ = hex[*c & 15];
                }
        }
        out->len = (size_t)(p - out->data);
        return 0;
}

int hc_base64(buf_t *out, const void *in, size_t n) {
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *s = in;
        if (buf_reserve(out, (n + 2) / 3 * 4))
                return -1;
        char *p = out->data + out->len;
        size_t i = 0;
        for (; i + 2 < n; i += 3) {
                unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
                *p++ = tab[v >> 18];
                *p++ = tab[(v >> 12) & 63];
                *p++ = tab[(v >> 6) & 63];
                *p++ = tab[v & 63];
        }
        if (i < n) {
                unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
                *p++ = tab[v >> 18];
                *p++ = tab[(v >> 12) & 63];
                *p++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *p++ = '=';
        }
        out->len = (size_t)(p - out->data);
        return 0;
}
