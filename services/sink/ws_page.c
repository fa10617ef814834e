/* ws_page — embeds services/sink/dashboard.html (plain HTML and JavaScript,
 * no build step) as read-only data.  The path is relative to the directory
 * the compiler runs in (the repository root, as make does); the Makefile
 * makes this object depend on the page so an edit rebuilds it. */
#include "ws_page.h"

__asm__(".section .rodata\n"
        ".global ws_page_html\n"
        ".type ws_page_html, @object\n"
        "ws_page_html:\n"
        ".incbin \"services/sink/dashboard.html\"\n"
        ".global ws_page_html_end\n"
        ".type ws_page_html_end, @object\n"
        "ws_page_html_end:\n"
        ".byte 0\n"
        ".previous\n");
