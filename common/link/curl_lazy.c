/* curl_lazy — libcurl loaded on first use instead of at exec.  Linked into
 * every Weir program (Makefile: LINK_SHIM, LINK_LIBS), which then does not
 * link -lcurl: these definitions are the libcurl functions Weir calls, and
 * each forwards to the real one in libcurl.so.4, dlopen()ed the first time
 * any of them is called.
 *
 * Why: Debian's libcurl brings ~20 shared objects with it (GnuTLS via
 * librtmp and libldap, Kerberos, libssh2, nghttp2, libpsl, brotli...) and
 * they cost ~2.9 MB of RSS per process just by being loaded (docs/bench/link.md),
 * while ingress,
 * compute and enrichment call libcurl only when SCHEMA_REGISTRY_URL is set.
 * weir-sim, and the sink when INFLUX_URL is set, load it at their first
 * HTTP request (the sink: at start).
 *
 * The set of functions is exactly what Weir calls: a new curl_* call in
 * common/ or services/ fails the release link with an undefined reference
 * until it is added here (one FWD line).  If libcurl.so.4 or one of the
 * functions cannot be loaded, the process stops with a message naming it
 * (an image missing the library is a build error, not a runtime condition:
 * docker/build-images.sh copies it and what it needs). */
#define CURL_DISABLE_TYPECHECK /* the macros of typecheck-gcc.h would rename setopt/getinfo */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define CURL_LAZY_SONAME "libcurl.so.4"

/* Every function: X(name).  The pointer type comes from curl.h's own
 * declaration, so a signature mismatch is a compile error. */
#define CURL_LAZY_FNS(X)                                                                           \
        X(curl_global_init)                                                                        \
        X(curl_global_cleanup)                                                                     \
        X(curl_easy_init)                                                                          \
        X(curl_easy_cleanup)                                                                       \
        X(curl_easy_reset)                                                                         \
        X(curl_easy_setopt)                                                                        \
        X(curl_easy_getinfo)                                                                       \
        X(curl_easy_perform)                                                                       \
        X(curl_easy_strerror)                                                                      \
        X(curl_easy_escape)                                                                        \
        X(curl_free)                                                                               \
        X(curl_getdate)                                                                            \
        X(curl_slist_append)                                                                       \
        X(curl_slist_free_all)                                                                     \
        X(curl_url)                                                                                \
        X(curl_url_cleanup)                                                                        \
        X(curl_url_get)                                                                            \
        X(curl_url_set)                                                                            \
        X(curl_url_strerror)

#define CURL_LAZY_PTR(name) static __typeof__(name) *p_##name;
CURL_LAZY_FNS(CURL_LAZY_PTR)

static pthread_once_t curl_lazy_once = PTHREAD_ONCE_INIT;

static void curl_lazy_die(const char *what, const char *err) {
        fprintf(stderr, "weir: cannot load %s from %s: %s\n", what, CURL_LAZY_SONAME,
                err ? err : "unknown error");
        abort();
}

/* Never unloaded: the handle lives as long as the process. */
static void curl_lazy_load(void) {
        void *lib = dlopen(CURL_LAZY_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!lib)
                curl_lazy_die("the library", dlerror());
#define CURL_LAZY_SYM(name)                                                                        \
        *(void **)&p_##name = dlsym(lib, #name);                                                   \
        if (!p_##name)                                                                             \
                curl_lazy_die(#name, dlerror());
        CURL_LAZY_FNS(CURL_LAZY_SYM)
}

static void curl_lazy(void) {
        pthread_once(&curl_lazy_once, curl_lazy_load);
}

CURLcode curl_global_init(long flags) {
        curl_lazy();
        return p_curl_global_init(flags);
}

void curl_global_cleanup(void) {
        curl_lazy();
        p_curl_global_cleanup();
}

CURL *curl_easy_init(void) {
        curl_lazy();
        return p_curl_easy_init();
}

void curl_easy_cleanup(CURL *curl) {
        curl_lazy();
        p_curl_easy_cleanup(curl);
}

void curl_easy_reset(CURL *curl) {
        curl_lazy();
        p_curl_easy_reset(curl);
}

/* The variadic argument's type follows from the option number, as in
 * libcurl's own curl_easy_setopt (CURLOPTTYPE_* ranges in curl.h). */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...) {
        curl_lazy();
        va_list ap;
        va_start(ap, option);
        CURLcode rc;
        if (option < CURLOPTTYPE_OBJECTPOINT)
                rc = p_curl_easy_setopt(curl, option, va_arg(ap, long));
        else if (option < CURLOPTTYPE_FUNCTIONPOINT)
                rc = p_curl_easy_setopt(curl, option, va_arg(ap, void *));
        else if (option < CURLOPTTYPE_OFF_T)
                rc = p_curl_easy_setopt(curl, option, va_arg(ap, void (*)(void)));
        else if (option < CURLOPTTYPE_BLOB)
                rc = p_curl_easy_setopt(curl, option, va_arg(ap, curl_off_t));
        else
                rc = p_curl_easy_setopt(curl, option, va_arg(ap, void *));
        va_end(ap);
        return rc;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...) {
        curl_lazy();
        va_list ap;
        va_start(ap, info);
        CURLcode rc = p_curl_easy_getinfo(curl, info, va_arg(ap, void *));
        va_end(ap);
        return rc;
}

CURLcode curl_easy_perform(CURL *curl) {
        curl_lazy();
        return p_curl_easy_perform(curl);
}

const char *curl_easy_strerror(CURLcode code) {
        curl_lazy();
        return p_curl_easy_strerror(code);
}

char *curl_easy_escape(CURL *curl, const char *string, int length) {
        curl_lazy();
        return p_curl_easy_escape(curl, string, length);
}

void curl_free(void *p) {
        curl_lazy();
        p_curl_free(p);
}

time_t curl_getdate(const char *p, const time_t *unused) {
        curl_lazy();
        return p_curl_getdate(p, unused);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *data) {
        curl_lazy();
        return p_curl_slist_append(list, data);
}

void curl_slist_free_all(struct curl_slist *list) {
        curl_lazy();
        p_curl_slist_free_all(list);
}

CURLU *curl_url(void) {
        curl_lazy();
        return p_curl_url();
}

void curl_url_cleanup(CURLU *handle) {
        curl_lazy();
        p_curl_url_cleanup(handle);
}

CURLUcode curl_url_get(CURLU *handle, CURLUPart what, char **part, unsigned int flags) {
        curl_lazy();
        return p_curl_url_get(handle, what, part, flags);
}

CURLUcode curl_url_set(CURLU *handle, CURLUPart what, const char *part, unsigned int flags) {
        curl_lazy();
        return p_curl_url_set(handle, what, part, flags);
}

const char *curl_url_strerror(CURLUcode code) {
        curl_lazy();
        return p_curl_url_strerror(code);
}
