/* gnutls_noinit — linked into the release service binaries only (Makefile:
 * SVC_LINK), which link libmicrohttpd statically with
 * -Wl,--wrap=gnutls_global_init,--wrap=gnutls_global_deinit.
 *
 * Why: GnuTLS is loaded into every Weir process (libmicrohttpd is built
 * against it, and libcurl reaches it through librtmp and libldap) but Weir
 * never uses it: the admin server and ingress serve plain HTTP (no
 * MHD_USE_TLS anywhere), and Weir requests no rtmp:// or ldap:// URLs.
 * Initialising it anyway — GnuTLS's own library constructor, and
 * MHD_init()'s explicit gnutls_global_init() — touches ~1 MB of pages in
 * GnuTLS, p11-kit, nettle and gmp in each process (measured in the commit
 * that added this file).
 *
 * - _gnutls_global_init_skip() is GnuTLS's documented opt-out of its implicit
 *   initialisation (the GNUTLS_SKIP_GLOBAL_INIT macro of gnutls/gnutls.h
 *   expands to exactly this definition; the executable's definition
 *   interposes the library's weak default).
 * - The wraps turn libmicrohttpd's init/deinit calls into no-ops.  They bind
 *   only references inside the executable (the static libmicrohttpd);
 *   librtmp and libldap call the real gnutls_global_init() themselves before
 *   they use GnuTLS, so those paths still work.
 *
 * If Weir ever serves HTTPS from libmicrohttpd, drop this object and the
 * wraps from the Makefile. */

int _gnutls_global_init_skip(void);
int __wrap_gnutls_global_init(void);
void __wrap_gnutls_global_deinit(void);

int _gnutls_global_init_skip(void) {
        return 1;
}

int __wrap_gnutls_global_init(void) {
        return 0;
}

void __wrap_gnutls_global_deinit(void) {
}
