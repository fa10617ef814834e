/* sasl_lazy — Cyrus SASL initialised at the first SASL connection instead of
 * at the first rd_kafka_new().  Linked into the release service binaries only
 * (Makefile: SVC_LINK), with -Wl,--wrap=sasl_client_init,--wrap=sasl_client_new
 * and librdkafka linked statically, so the wraps bind librdkafka's calls.
 *
 * Why: librdkafka calls sasl_client_init() in its global initialisation,
 * whatever the configuration, and Cyrus then dlopen()s every plugin in its
 * plugin directory (on Debian: digest-md5, scram, ntlm, plain, login,
 * anonymous, sasldb with libdb-5.3): ~0.45 MB of RSS per process on a host
 * that has them.  librdkafka needs Cyrus only for sasl.mechanisms=GSSAPI
 * (PLAIN, SCRAM and OAUTHBEARER are its own), and a GSSAPI connection starts
 * with sasl_client_new(), so the real sasl_client_init() runs there, once,
 * with the callbacks librdkafka gave.  (The FROM scratch images ship no
 * plugin directory, so there this changes nothing.)
 *
 * libsasl2 ships no headers in Debian's runtime package: the prototypes are
 * written out here; only pointers pass through. */
#include <pthread.h>

typedef struct sasl_conn sasl_conn_t;
struct sasl_callback;

int __real_sasl_client_init(const struct sasl_callback *callbacks);
int __real_sasl_client_new(const char *service, const char *server_fqdn, const char *iplocalport,
                           const char *ipremoteport, const struct sasl_callback *prompt_supp,
                           unsigned flags, sasl_conn_t **pconn);
int __wrap_sasl_client_init(const struct sasl_callback *callbacks);
int __wrap_sasl_client_new(const char *service, const char *server_fqdn, const char *iplocalport,
                           const char *ipremoteport, const struct sasl_callback *prompt_supp,
                           unsigned flags, sasl_conn_t **pconn);

static pthread_once_t sasl_lazy_once = PTHREAD_ONCE_INIT;
static const struct sasl_callback *sasl_lazy_callbacks;
static int sasl_lazy_rc;

/* SASL_OK: what sasl_client_init() returns when it succeeds. */
int __wrap_sasl_client_init(const struct sasl_callback *callbacks) {
        sasl_lazy_callbacks = callbacks;
        return 0;
}

static void sasl_lazy_init(void) {
        sasl_lazy_rc = __real_sasl_client_init(sasl_lazy_callbacks);
}

/* A failed initialisation is reported by the first sasl_client_new() (its
 * code is a SASL_* error, which librdkafka turns into a connection error). */
int __wrap_sasl_client_new(const char *service, const char *server_fqdn, const char *iplocalport,
                           const char *ipremoteport, const struct sasl_callback *prompt_supp,
                           unsigned flags, sasl_conn_t **pconn) {
        pthread_once(&sasl_lazy_once, sasl_lazy_init);
        if (sasl_lazy_rc != 0)
                return sasl_lazy_rc;
        return __real_sasl_client_new(service, server_fqdn, iplocalport, ipremoteport, prompt_supp,
                                      flags, pconn);
}
