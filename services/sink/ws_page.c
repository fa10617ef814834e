/* ws_page — embeds services/sink/dashboard.html (plain HTML and JavaScript,
 * no build step) as read-only data.  The path is relative to the directory
 * the compiler runs in (the repository root, as make does); the Makefile
 * makes this object depend on the page so an edit rebuilds it. */
#include "ws_page.h"

#include <stdlib.h>
#include <string.h>

__asm__(".section .rodata\n"
        ".global ws_page_html\n"
        ".type ws_page_html, @object\n"
        "ws_page_html:\n"
        ".incbin \"services/sink/dashboard.html\"\n"
        "ws_page_html_end:\n"
        ".byte 0\n"
        ".balign 8\n"
        ".global ws_page_html_size\n"
        ".type ws_page_html_size, @object\n"
        "ws_page_html_size:\n"
        ".quad ws_page_html_end - ws_page_html\n"
        ".previous\n");

unsigned char *ws_page_build(const char *path, size_t pre, size_t *len) {
        static const char tok[] = "{{WS_PATH}}";
        const char *page = ws_page_html, *end = ws_page_html + ws_page_html_size;
        const char *at = memmem(page, (size_t)(end - page), tok, sizeof(tok) - 1);
        size_t plen = strlen(path), n = (size_t)(end - page) + (at ? plen : 0);
        unsigned char *b = malloc(pre + n);
        if (!b)
                return NULL;
        unsigned char *p = b + pre;
        if (at) {
                memcpy(p, page, (size_t)(at - page));
                p += at - page;
                memcpy(p, path, plen);
                p += plen;
                page = at + sizeof(tok) - 1;
        }
        memcpy(p, page, (size_t)(end - page));
        p += end - page;
        *len = (size_t)(p - (b + pre));
        return b;
}
