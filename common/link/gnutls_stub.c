/* gnutls_stub — the GnuTLS entry points the static libmicrohttpd refers to,
 * so that every Weir program (Makefile: LINK_SHIM, LINK_LIBS) needs no
 * libgnutls.so at exec.
 *
 * Why: libmicrohttpd is built against GnuTLS for HTTPS, which Weir never
 * uses (the admin server and ingress serve plain HTTP; no MHD_USE_TLS
 * anywhere).  Loading libgnutls.so anyway brings p11-kit, nettle, hogweed,
 * gmp, libtasn1, libunistring, libidn2 and libffi and runs GnuTLS's and
 * MHD_init()'s global initialisation: 2.2-2.5 MB of RSS per service
 * (docs/bench/link.md).
 *
 * - gnutls_global_init()/gnutls_global_deinit(), which MHD_init()/MHD_fini()
 *   call at start and exit, do nothing.
 * - Every other function MHD could call serves HTTPS only: it stops the
 *   process with a message naming it.  If Weir ever serves HTTPS from
 *   libmicrohttpd, drop this object from the Makefile and link -lgnutls.
 * - gnutls_malloc is a variable in GnuTLS (a function pointer); same default.
 * - _gnutls_global_init_skip() is GnuTLS's documented opt-out of its implicit
 *   initialisation (what the GNUTLS_SKIP_GLOBAL_INIT macro of gnutls/gnutls.h
 *   defines).  The Makefile exports it (--export-dynamic-symbol), so it also
 *   applies when libcurl (link/curl_lazy.c) later loads GnuTLS through
 *   librtmp or libldap, which both call gnutls_global_init() themselves
 *   before they use it.
 * None of these symbols but _gnutls_global_init_skip is exported, so a
 * library loaded later binds to the real GnuTLS, never to these. */
#include <stdio.h>
#include <stdlib.h>

int _gnutls_global_init_skip(void);
int gnutls_global_init(void);
void gnutls_global_deinit(void);

int _gnutls_global_init_skip(void) {
        return 1;
}

int gnutls_global_init(void) {
        return 0;
}

void gnutls_global_deinit(void) {
}

void *(*gnutls_malloc)(size_t) = malloc;

static void gnutls_stub_die(const char *name) {
        fprintf(stderr,
                "weir: %s called: this binary has no GnuTLS (HTTPS from libmicrohttpd is not built "
                "in)\n",
                name);
        abort();
}

#define GNUTLS_STUBS(X)                                                                            \
        X(gnutls_alpn_set_protocols)                                                               \
        X(gnutls_bye)                                                                              \
        X(gnutls_certificate_allocate_credentials)                                                 \
        X(gnutls_certificate_free_credentials)                                                     \
        X(gnutls_certificate_server_set_request)                                                   \
        X(gnutls_certificate_set_dh_params)                                                        \
        X(gnutls_certificate_set_retrieve_function2)                                               \
        X(gnutls_certificate_set_retrieve_function3)                                               \
        X(gnutls_certificate_set_x509_key_mem)                                                     \
        X(gnutls_certificate_set_x509_key_mem2)                                                    \
        X(gnutls_certificate_set_x509_trust_mem)                                                   \
        X(gnutls_cipher_get)                                                                       \
        X(gnutls_credentials_set)                                                                  \
        X(gnutls_deinit)                                                                           \
        X(gnutls_dh_params_deinit)                                                                 \
        X(gnutls_dh_params_import_pkcs3)                                                           \
        X(gnutls_dh_params_init)                                                                   \
        X(gnutls_handshake)                                                                        \
        X(gnutls_init)                                                                             \
        X(gnutls_priority_deinit)                                                                  \
        X(gnutls_priority_init)                                                                    \
        X(gnutls_priority_set)                                                                     \
        X(gnutls_protocol_get_version)                                                             \
        X(gnutls_psk_allocate_server_credentials)                                                  \
        X(gnutls_psk_free_server_credentials)                                                      \
        X(gnutls_psk_set_server_credentials_function)                                              \
        X(gnutls_record_check_pending)                                                             \
        X(gnutls_record_get_direction)                                                             \
        X(gnutls_record_recv)                                                                      \
        X(gnutls_record_send)                                                                      \
        X(gnutls_session_get_ptr)                                                                  \
        X(gnutls_session_set_ptr)                                                                  \
        X(gnutls_strerror)                                                                         \
        X(gnutls_transport_set_int2)

#define GNUTLS_STUB(name)                                                                          \
        void name(void);                                                                           \
        void name(void) {                                                                          \
                gnutls_stub_die(#name);                                                            \
        }
GNUTLS_STUBS(GNUTLS_STUB)
