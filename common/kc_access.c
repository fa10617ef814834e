/* kc_access — Kafka refusing a client: wrong credentials, an untrusted or
 * expired certificate, a missing ACL.  See kc.h (kc_refused,
 * kc_consumer_error) and kc_int.h.
 *
 * None of these is a reason to exit: the operator fixes the cause (rotates
 * the password in the mounted Secret, adds the ACL) and the service must
 * carry on by itself, so a restart loop would only add noise.  Instead:
 *   - the process-wide readiness condition "kafka access" is unmet while
 *     any client is refused;
 *   - one line names the cause (principal, operation, resource; never a
 *     secret) when it starts or changes, then again with a growing interval
 *     (5 s doubling to 60 s) with the count of refusals in between, not at
 *     every librdkafka retry;
 *   - a refused SASL client re-reads KAFKA_SASL_USERNAME(_FILE) and
 *     KAFKA_SASL_PASSWORD(_FILE) and applies them with
 *     rd_kafka_sasl_set_credentials(), so a rotated password is used at the
 *     next connection attempt;
 *   - the refusal ends with the first sign of access (a broker up after an
 *     authentication failure, a delivered record, partitions assigned). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "kc_int.h"
#include "log.h"

#define KC_ACCESS_FIRST_REPEAT_MS 5000
#define KC_ACCESS_MAX_REPEAT_MS   60000

/* The readiness condition is one per process (one admin server), shared by
 * every client: registered by the first client bound to an admin, dropped
 * when the last one bound goes (tests start and stop admin servers). */
static pthread_mutex_t kc_access_lock = PTHREAD_MUTEX_INITIALIZER;
static admin_t *kc_access_admin;
static int kc_access_cond = -1;
static int kc_access_bound;           /* clients bound to kc_access_admin */
static int kc_access_refused_clients; /* under kc_access_lock */

void kc_access_bind(kc_t *kc, admin_t *admin) {
        if (!admin || kc->access_bound)
                return;
        pthread_mutex_lock(&kc_access_lock);
        if (!kc_access_admin) {
                kc_access_admin = admin;
                kc_access_cond = admin_ready_condition(admin, "kafka access");
                admin_ready_set(admin, kc_access_cond, kc_access_refused_clients == 0);
        }
        if (kc_access_admin == admin) {
                kc_access_bound++;
                kc->access_bound = 1;
        }
        pthread_mutex_unlock(&kc_access_lock);
}

static void kc_access_unbind(kc_t *kc) {
        if (!kc->access_bound)
                return;
        kc->access_bound = 0;
        pthread_mutex_lock(&kc_access_lock);
        if (--kc_access_bound == 0) {
                kc_access_admin = NULL;
                kc_access_cond = -1;
        }
        pthread_mutex_unlock(&kc_access_lock);
}

static void kc_access_count(int delta) {
        pthread_mutex_lock(&kc_access_lock);
        kc_access_refused_clients += delta;
        if (kc_access_admin)
                admin_ready_set(kc_access_admin, kc_access_cond, kc_access_refused_clients == 0);
        pthread_mutex_unlock(&kc_access_lock);
}

kc_refusal_t kc_refusal_kind(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR__SSL:
                return KC_REFUSED_AUTH;
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
                return KC_REFUSED_ACL;
        default:
                return KC_REFUSED_NONE;
        }
}

/* The operation and resource an authorization error is about, when the
 * caller did not say. */
static void kc_access_default_op(rd_kafka_resp_err_t err, kc_t *kc, const char **op,
                                 const char **rtype) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
                *op = "READ";
                *rtype = "group";
                break;
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
                *op = "WRITE";
                *rtype = "transactional-id";
                break;
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
                /* Kafka >= 2.8 implies it from WRITE on any topic (KIP-679). */
                *op = kc->type == RD_KAFKA_PRODUCER ? "IDEMPOTENT_WRITE (or WRITE on any topic)"
                                                    : "DESCRIBE";
                *rtype = "cluster";
                break;
        default:
                *op = kc->type == RD_KAFKA_PRODUCER ? "WRITE" : "READ";
                *rtype = "topic";
                break;
        }
}

void kc_access_init(kc_t *kc, const rd_kafka_conf_t *conf) {
        char proto[32] = "", user[128] = "", mech[32] = "", cert[256] = "";
        size_t sz = sizeof(proto);
        rd_kafka_conf_get(conf, "security.protocol", proto, &sz);
        sz = sizeof(mech);
        rd_kafka_conf_get(conf, "sasl.mechanisms", mech, &sz);
        sz = sizeof(user);
        rd_kafka_conf_get(conf, "sasl.username", user, &sz);
        sz = sizeof(cert);
        rd_kafka_conf_get(conf, "ssl.certificate.location", cert, &sz);
        kc->sasl = !strncmp(proto, "sasl", 4) &&
                   (!strcmp(mech, "PLAIN") || !strncmp(mech, "SCRAM", 5));
        if (!strncmp(proto, "sasl", 4))
                snprintf(kc->principal, sizeof(kc->principal), "User:%.200s (SASL %.32s)",
                         *user ? user : "(no sasl.username)", mech);
        else if (!strcmp(proto, "ssl"))
                snprintf(kc->principal, sizeof(kc->principal), "the certificate %.290s",
                         *cert ? cert : "(no ssl.certificate.location)");
        else
                snprintf(kc->principal, sizeof(kc->principal), "User:ANONYMOUS (%s)",
                         *proto ? proto : "plaintext");
        if (kc->sasl) {
                /* The credentials in use, to notice a rotated file. */
                char pass[1024] = "";
                sz = sizeof(pass);
                rd_kafka_conf_get(conf, "sasl.password", pass, &sz);
                kc->sasl_user = strdup(user);
                kc->sasl_pass = strdup(pass);
                explicit_bzero(pass, sizeof(pass));
        }
}

void kc_access_fini(kc_t *kc) {
        pthread_mutex_lock(&kc->lock);
        int was = atomic_exchange(&kc->refused, KC_REFUSED_NONE) != KC_REFUSED_NONE;
        pthread_mutex_unlock(&kc->lock);
        if (was)
                kc_access_count(-1);
        kc_access_unbind(kc);
        free(kc->sasl_user);
        kc->sasl_user = NULL;
        cfg_secret_free(kc->sasl_pass);
        kc->sasl_pass = NULL;
}

/* Re-reads the SASL credentials; applies them when they changed.  Called
 * while refused for authentication, at most once a second. */
static void kc_access_reload(kc_t *kc) {
        int64_t now = clk_mono_ms();
        if (!kc->sasl)
                return;
        /* From the poll thread (callbacks) and the service's loop
         * (kc_fatal): one at a time. */
        pthread_mutex_lock(&kc->lock);
        if (now < kc->cred_next_ms) {
                pthread_mutex_unlock(&kc->lock);
                return;
        }
        kc->cred_next_ms = now + 1000;
        char err[512];
        char *user = NULL, *pass = NULL;
        if (cfg_file_dup("KAFKA_SASL_USERNAME", &user, err, sizeof(err)) == -1 ||
            cfg_secret_dup("KAFKA_SASL_PASSWORD", &pass, err, sizeof(err)) == -1) {
                /* A file being replaced may be missing for a moment. */
                log_debug(KC_LOG, "%s: re-reading the SASL credentials: %s", rd_kafka_name(kc->rk),
                          err);
                goto done;
        }
        if (!user || !pass)
                goto done;
        if (kc->sasl_user && kc->sasl_pass && !strcmp(user, kc->sasl_user) &&
            !strcmp(pass, kc->sasl_pass))
                goto done;
        rd_kafka_error_t *e = rd_kafka_sasl_set_credentials(kc->rk, user, pass);
        if (e) {
                log_warn(KC_LOG, "%s: applying the new SASL credentials: %s", rd_kafka_name(kc->rk),
                         rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                goto done;
        }
        log_info(KC_LOG,
                 "%s: SASL credentials changed (KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD or their "
                 "_FILE): the next connection uses them",
                 rd_kafka_name(kc->rk));
        char mech[64];
        const char *paren = strchr(kc->principal, '(');
        snprintf(mech, sizeof(mech), "%s", paren ? paren : "");
        snprintf(kc->principal, sizeof(kc->principal), "User:%.200s %.64s", user, mech);
        free(kc->sasl_user);
        cfg_secret_free(kc->sasl_pass);
        kc->sasl_user = user;
        kc->sasl_pass = pass;
        user = pass = NULL;
done:
        pthread_mutex_unlock(&kc->lock);
        free(user);
        cfg_secret_free(pass);
}

/* Writes the line for the current cause; kc->lock held. */
static void kc_access_log(kc_t *kc, int repeat) {
        char when[48];
        snprintf(when, sizeof(when), "next report in %llds",
                 (long long)(kc->refused_repeat_ms / 1000));
        const char *fields[] = {
                "client",
                rd_kafka_name(kc->rk),
                "cause",
                atomic_load(&kc->refused) == KC_REFUSED_AUTH ? "authentication" : "authorization",
                "error",
                kc->refused_err,
                NULL};
        if (repeat)
                log_write(LOG_ERROR, KC_LOG, fields, "still refused (%lld time(s) since): %s; %s",
                          kc->refused_count, kc->refused_why, when);
        else
                log_write(LOG_ERROR, KC_LOG, fields, "%s; retrying by itself, %s", kc->refused_why,
                          when);
        kc->refused_count = 0;
}

void kc_access_refused(kc_t *kc, rd_kafka_resp_err_t err, const char *op, const char *rtype,
                       const char *resource, const char *detail) {
        kc_refusal_t kind = kc_refusal_kind(err);
        if (kind == KC_REFUSED_NONE)
                return;
        char why[sizeof(kc->refused_why)];
        pthread_mutex_lock(&kc->lock); /* kc->principal may change (kc_access_reload) */
        if (kind == KC_REFUSED_AUTH && err == RD_KAFKA_RESP_ERR__SSL)
                snprintf(why, sizeof(why),
                         "Kafka refuses the connection of %s: TLS failed (an untrusted, expired "
                         "or wrong certificate on either side; check ssl.ca.location, "
                         "ssl.certificate.location, ssl.key.location): %s",
                         kc->principal, detail ? detail : rd_kafka_err2str(err));
        else if (kind == KC_REFUSED_AUTH)
                snprintf(why, sizeof(why),
                         "Kafka refuses the credentials of %s: %s (check KAFKA_SASL_USERNAME and "
                         "KAFKA_SASL_PASSWORD_FILE: the file is re-read while refused)",
                         kc->principal, detail ? detail : rd_kafka_err2str(err));
        const char *dop, *drtype;
        kc_access_default_op(err, kc, &dop, &drtype);
        if (kind == KC_REFUSED_ACL)
                snprintf(why, sizeof(why),
                         "Kafka denies %s the operation %s on %s%s%s (a missing ACL: %s)",
                         kc->principal, op ? op : dop, rtype ? rtype : drtype,
                         resource && *resource ? " " : "",
                         resource && *resource                                   ? resource
                         : err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ? ""
                                                                                 : " (unknown)",
                         detail ? detail : rd_kafka_err2str(err));
        /* librdkafka's text varies between retries (timings, broker):
         * the same cause is the same error on the same resource. */
        char key[sizeof(kc->refused_key)];
        snprintf(key, sizeof(key), "%s|%s|%s", rd_kafka_err2name(err), op ? op : dop,
                 resource ? resource : "");
        int64_t now = clk_mono_ms();
        int was = atomic_load(&kc->refused) != KC_REFUSED_NONE;
        kc->refused_count++;
        if (!was || strcmp(key, kc->refused_key) != 0) {
                atomic_store(&kc->refused, kind);
                snprintf(kc->refused_key, sizeof(kc->refused_key), "%s", key);
                snprintf(kc->refused_why, sizeof(kc->refused_why), "%s", why);
                snprintf(kc->refused_err, sizeof(kc->refused_err), "%s", rd_kafka_err2name(err));
                if (!was) {
                        kc->refused_since_ms = now;
                        kc->refused_repeat_ms = KC_ACCESS_FIRST_REPEAT_MS;
                }
                kc->refused_next_ms = now + kc->refused_repeat_ms;
                kc_access_log(kc, 0);
        }
        pthread_mutex_unlock(&kc->lock);
        if (!was)
                kc_access_count(1);
        if (kind == KC_REFUSED_AUTH)
                kc_access_reload(kc);
}

void kc_access_carry(kc_t *to, const kc_t *from) {
        kc_t *f = (kc_t *)from; /* its lock */
        pthread_mutex_lock(&f->lock);
        kc_refusal_t kind = atomic_load(&f->refused);
        if (kind != KC_REFUSED_NONE) {
                pthread_mutex_lock(&to->lock);
                int was = atomic_exchange(&to->refused, kind) != KC_REFUSED_NONE;
                memcpy(to->refused_why, f->refused_why, sizeof(to->refused_why));
                memcpy(to->refused_key, f->refused_key, sizeof(to->refused_key));
                memcpy(to->refused_err, f->refused_err, sizeof(to->refused_err));
                to->refused_count = f->refused_count;
                to->refused_since_ms = f->refused_since_ms;
                to->refused_next_ms = f->refused_next_ms;
                to->refused_repeat_ms = f->refused_repeat_ms;
                pthread_mutex_unlock(&to->lock);
                if (!was)
                        kc_access_count(1);
        }
        pthread_mutex_unlock(&f->lock);
}

void kc_access_tick(kc_t *kc) {
        if (atomic_load(&kc->refused) == KC_REFUSED_NONE)
                return;
        int64_t now = clk_mono_ms();
        pthread_mutex_lock(&kc->lock);
        int auth = atomic_load(&kc->refused) == KC_REFUSED_AUTH;
        if (atomic_load(&kc->refused) != KC_REFUSED_NONE && now >= kc->refused_next_ms) {
                kc->refused_repeat_ms *= 2;
                if (kc->refused_repeat_ms > KC_ACCESS_MAX_REPEAT_MS)
                        kc->refused_repeat_ms = KC_ACCESS_MAX_REPEAT_MS;
                kc->refused_next_ms = now + kc->refused_repeat_ms;
                kc_access_log(kc, 1);
        }
        pthread_mutex_unlock(&kc->lock);
        if (auth)
                kc_access_reload(kc);
}

void kc_access_ok(kc_t *kc, kc_refusal_t kind) {
        if (atomic_load(&kc->refused) == KC_REFUSED_NONE)
                return;
        pthread_mutex_lock(&kc->lock);
        kc_refusal_t cur = atomic_load(&kc->refused);
        int cleared = cur != KC_REFUSED_NONE && (kind == KC_REFUSED_NONE || kind == cur);
        long long secs = (long long)((clk_mono_ms() - kc->refused_since_ms) / 1000);
        char principal[sizeof(kc->principal)];
        memcpy(principal, kc->principal, sizeof(principal));
        if (cleared)
                atomic_store(&kc->refused, KC_REFUSED_NONE);
        pthread_mutex_unlock(&kc->lock);
        if (!cleared)
                return;
        kc_access_count(-1);
        log_info(KC_LOG, "%s: Kafka accepts %s again (refused for %llds)", rd_kafka_name(kc->rk),
                 principal, secs);
}

int kc_refused(kc_t *kc, char *why, size_t why_size) {
        if (atomic_load(&kc->refused) == KC_REFUSED_NONE)
                return 0;
        pthread_mutex_lock(&kc->lock);
        int r = atomic_load(&kc->refused);
        if (r && why)
                snprintf(why, why_size, "%s", kc->refused_why);
        pthread_mutex_unlock(&kc->lock);
        return r;
}

int kc_consumer_error(kc_t *kc, const rd_kafka_message_t *m) {
        if (kc_refusal_kind(m->err) == KC_REFUSED_NONE)
                return 0;
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
        char group[256] = "";
        if (m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
                rd_kafka_conf_t *c = (rd_kafka_conf_t *)rd_kafka_conf(kc->rk);
                size_t sz = sizeof(group);
                rd_kafka_conf_get(c, "group.id", group, &sz);
        }
        kc_access_refused(kc, m->err, NULL, NULL, *group ? group : topic,
                          rd_kafka_message_errstr(m));
        return 1;
}

void kc_refusal_end(kc_t *kc) {
        kc_access_ok(kc, KC_REFUSED_NONE);
}

void kc_access_ok_err(kc_t *kc, rd_kafka_resp_err_t err) {
        if (atomic_load(&kc->refused) == KC_REFUSED_NONE)
                return;
        char prefix[64];
        int n = snprintf(prefix, sizeof(prefix), "%s|", rd_kafka_err2name(err));
        pthread_mutex_lock(&kc->lock);
        int same = n > 0 && !strncmp(kc->refused_key, prefix, (size_t)n);
        pthread_mutex_unlock(&kc->lock);
        if (same)
                kc_access_ok(kc, kc_refusal_kind(err));
}
