/* en_redis — Redis hashes behind an LRU cache; see en_redis.h for the
 * behaviour while Redis is down.  hiredis's blocking API with a socket
 * timeout (spec `timeout`) per request; a batch is one pipelined write and
 * n replies. */
#include "en_redis.h"
#include "clk.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"

struct en_redis_s {
        const spec_source_t *src;
        char host[256];
        char path[256]; /* unix socket, or "" */
        int port, db;
        char user[128];
        const char *password; /* cfg_secret(): the environment or cfg's copy of the file */
        const char *prefix, *suffix;
        size_t prefix_len, suffix_len;
        redisContext *c;
        int64_t next_try_ms, backoff_ms, last_ok_ms;
        int down; /* the last attempt failed */
        en_table_t cache;
        dl_list_t lru;       /* cached entries, most recently used first */
        dl_list_t graveyard; /* replaced/evicted during a batch: freed at the next */
        uint64_t hits, misses;
        buf_t keys;     /* the batch's Redis keys, back to back */
        size_t *need;   /* indices of keys that go to Redis */
        size_t *dup;    /* per key: index of the earlier identical key, or SIZE_MAX */
        dict_key_t *kq; /* the batch's keys, as dict keys */
        dict_t needed;  /* key -> index + 1 of its first fetch in the batch */
        size_t need_cap;
};

/* The batch's set of keys to fetch: keys point into r->kq, owned by no one. */
static const dict_type_t en_needed_type = {dict_key_hash, dict_key_eq, NULL, NULL};

en_redis_t *en_redis_new(const spec_source_t *src, char *errstr, size_t errstr_size) {
        en_redis_t *r = calloc(1, sizeof(*r));
        if (!r || en_table_init(&r->cache) == -1) {
                free(r);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        r->src = src;
        dict_init(&r->needed, &en_needed_type, 0);
        const char *url = src->redis.url;
        r->port = 6379;
        if (!strncmp(url, "unix://", 7)) {
                snprintf(r->path, sizeof(r->path), "%s", url + 7);
        } else if (!strncmp(url, "redis://", 8)) {
                const char *h = url + 8, *at = strchr(h, '@'), *slash = strchr(h, '/');
                if (at && (!slash || at < slash)) {
                        snprintf(r->user, sizeof(r->user), "%.*s", (int)(at - h), h);
                        h = at + 1;
                }
                size_t hl = slash ? (size_t)(slash - h) : strlen(h);
                const char *colon = memchr(h, ':', hl);
                if (h[0] == '[') /* [v6]:port */
                        colon = memchr(h, ']', hl) ? strchr(memchr(h, ']', hl), ':') : NULL;
                size_t namelen = colon ? (size_t)(colon - h) : hl;
                if (namelen == 0 || namelen >= sizeof(r->host)) {
                        snprintf(errstr, errstr_size, "source \"%s\": url: no host", src->name);
                        goto fail;
                }
                snprintf(r->host, sizeof(r->host), "%.*s", (int)namelen, h);
                if (r->host[0] == '[') {
                        memmove(r->host, r->host + 1, strlen(r->host));
                        r->host[strcspn(r->host, "]")] = '\0';
                }
                if (colon)
                        r->port = atoi(colon + 1);
                if (slash && slash[1])
                        r->db = atoi(slash + 1);
                if (r->port <= 0 || r->port > 65535) {
                        snprintf(errstr, errstr_size, "source \"%s\": url: bad port", src->name);
                        goto fail;
                }
        } else {
                snprintf(errstr, errstr_size,
                         "source \"%s\": url: %.16s... is not supported by this build (hiredis "
                         "without TLS): use redis:// or unix://",
                         src->name, url);
                goto fail;
        }
        if (src->redis.password_env) {
                /* <password_env>_FILE names a file holding it instead. */
                char e[512];
                if (cfg_secret(src->redis.password_env, &r->password, e, sizeof(e)) == -1) {
                        snprintf(errstr, errstr_size, "source \"%s\": password_env: %s", src->name,
                                 e);
                        goto fail;
                }
                if (!r->password) {
                        snprintf(errstr, errstr_size,
                                 "source \"%s\": password_env: %s is not set (nor %s_FILE)",
                                 src->name, src->redis.password_env, src->redis.password_env);
                        goto fail;
                }
        }
        const char *k = strstr(src->redis.key_pattern, "{key}");
        r->prefix = src->redis.key_pattern;
        r->prefix_len = (size_t)(k - r->prefix);
        r->suffix = k + 5;
        r->suffix_len = strlen(r->suffix);
        r->backoff_ms = 50;
        r->last_ok_ms = clk_mono_ms();
        return r;
fail:
        en_redis_destroy(r);
        return NULL;
}

static void en_redis_drop(en_redis_t *r, const char *why) {
        if (!r->down)
                log_warn("enrichment",
                         "source \"%s\": Redis unreachable (%s): serving cached "
                         "entries, retrying",
                         r->src->name, why);
        r->down = 1;
        if (r->c)
                redisFree(r->c);
        r->c = NULL;
        r->next_try_ms = clk_mono_ms() + r->backoff_ms;
        r->backoff_ms = r->backoff_ms * 2 > 2000 ? 2000 : r->backoff_ms * 2;
}

static int en_redis_cmd_ok(en_redis_t *r, int argc, const char **argv, const size_t *lens) {
        redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
        int ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep && !ok)
                log_warn("enrichment", "source \"%s\": %s: %s", r->src->name, argv[0], rep->str);
        if (rep)
                freeReplyObject(rep);
        return ok;
}

/* Connects when not connected and the backoff allows.  1 connected. */
static int en_redis_connect(en_redis_t *r) {
        if (r->c)
                return 1;
        if (clk_mono_ms() < r->next_try_ms)
                return 0;
        int64_t ms = r->src->redis.timeout_ms;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        r->c = r->path[0] ? redisConnectUnixWithTimeout(r->path, tv)
                          : redisConnectWithTimeout(r->host, r->port, tv);
        if (!r->c || r->c->err) {
                en_redis_drop(r, r->c ? r->c->errstr : "out of memory");
                return 0;
        }
        redisSetTimeout(r->c, tv);
        redisEnableKeepAlive(r->c);
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        if (r->password) {
                const char *av[] = {"AUTH", r->user, r->password};
                size_t al[] = {4, strlen(r->user), strlen(r->password)};
                int user = r->user[0] != '\0';
                const char *av2[] = {"AUTH", r->password};
                size_t al2[] = {4, strlen(r->password)};
                if (!(user ? en_redis_cmd_ok(r, 3, av, al) : en_redis_cmd_ok(r, 2, av2, al2))) {
                        en_redis_drop(r, "AUTH failed");
                        return 0;
                }
        }
        const char *sv[] = {"SELECT", db};
        size_t sl[] = {6, strlen(db)};
        if (r->db && !en_redis_cmd_ok(r, 2, sv, sl)) {
                en_redis_drop(r, "SELECT failed");
                return 0;
        }
        if (r->down)
                log_info("enrichment", "source \"%s\": Redis reachable again", r->src->name);
        r->down = 0;
        r->backoff_ms = 50;
        r->last_ok_ms = clk_mono_ms();
        return 1;
}

/* ------------------------------------------------------------ the cache */

/* `e` is out of the LRU list: its node now links it into the graveyard. */
static void en_bury(en_redis_t *r, en_entry_t *e) {
        dl_push_front(&r->graveyard, &e->lru);
}

static void en_graveyard_free(en_redis_t *r) {
        dl_node_t *n;
        while ((n = r->graveyard.head)) {
                dl_unlink(&r->graveyard, n);
                free(DL_ENTRY(n, en_entry_t, lru));
        }
}

static void en_cache_put(en_redis_t *r, en_entry_t *e) {
        e->fetched_ms = clk_mono_ms();
        en_entry_t *old = en_table_put(&r->cache, e);
        if (old == e) { /* out of memory: not cached, alive until the next batch */
                en_bury(r, e);
                return;
        }
        if (old) {
                dl_unlink(&r->lru, &old->lru);
                en_bury(r, old);
        }
        dl_push_front(&r->lru, &e->lru);
        while (r->cache.map.count > (size_t)r->src->redis.cache_size && r->lru.tail) {
                en_entry_t *victim = DL_ENTRY(r->lru.tail, en_entry_t, lru);
                dl_unlink(&r->lru, &victim->lru);
                en_bury(r, en_table_remove(&r->cache, victim->key.p, victim->key.len));
        }
}

/* An HGETALL reply as an entry (NULL: out of memory or not an array). */
static en_entry_t *en_reply_entry(en_redis_t *r, const char *key, size_t key_len,
                                  const redisReply *rep) {
        if (rep->type != REDIS_REPLY_ARRAY)
                return NULL;
        if (rep->elements == 0)
                return en_entry_new_negative(key, key_len);
        size_t n = rep->elements / 2;
        const char **names = malloc(n * sizeof(*names) + 1), **vals = malloc(n * sizeof(*vals) + 1);
        size_t *nl = malloc(n * sizeof(*nl) + 1), *vl = malloc(n * sizeof(*vl) + 1), k = 0;
        en_entry_t *e = NULL;
        if (names && vals && nl && vl) {
                for (size_t i = 0; i + 1 < rep->elements; i += 2) {
                        const redisReply *f = rep->element[i], *v = rep->element[i + 1];
                        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                                continue;
                        names[k] = f->str;
                        nl[k] = (size_t)f->len;
                        vals[k] = v->str;
                        vl[k] = (size_t)v->len;
                        k++;
                }
                e = en_entry_new(key, key_len, names, nl, vals, vl, k, r->src->attributes,
                                 r->src->nattributes);
        }
        free(names);
        free(vals);
        free(nl);
        free(vl);
        return e;
}

/* ------------------------------------------------------------ look-ups */

static int en_fresh(const en_redis_t *r, const en_entry_t *e, int64_t now) {
        int64_t ttl = e->negative ? r->src->redis.negative_ttl_ms : r->src->redis.ttl_ms;
        return now - e->fetched_ms < ttl;
}

void en_redis_lookup(en_redis_t *r, const char *const *keys, const size_t *lens, size_t n,
                     const en_entry_t **out, uint8_t *res, double *redis_s) {
        en_graveyard_free(r);
        *redis_s = 0;
        if (n > r->need_cap) {
                free(r->need);
                free(r->dup);
                free(r->kq);
                r->need = malloc(n * sizeof(size_t));
                r->dup = malloc(n * sizeof(size_t));
                r->kq = malloc(n * sizeof(dict_key_t));
                r->need_cap = n;
                if (!r->need || !r->dup || !r->kq) {
                        r->need_cap = 0;
                        for (size_t i = 0; i < n; i++)
                                out[i] = NULL, res[i] = EN_REDIS_ERROR;
                        return;
                }
        }
        dict_clear(&r->needed);
        int64_t now = clk_mono_ms();
        size_t nneed = 0;
        for (size_t i = 0; i < n; i++) {
                en_entry_t *e = en_table_get(&r->cache, keys[i], lens[i]);
                out[i] = NULL;
                if (e && en_fresh(r, e, now)) {
                        dl_unlink(&r->lru, &e->lru);
                        dl_push_front(&r->lru, &e->lru);
                        r->hits++;
                        out[i] = e->negative ? NULL : e;
                        res[i] = e->negative ? EN_REDIS_MISS : EN_REDIS_HIT;
                        continue;
                }
                /* The same key twice in a batch is fetched once. */
                r->dup[i] = SIZE_MAX;
                r->kq[i] = (dict_key_t){keys[i], lens[i]};
                const dict_entry_t *first = dict_find(&r->needed, &r->kq[i]);
                res[i] = EN_REDIS_ERROR;
                if (first) {
                        r->dup[i] = (size_t)(uintptr_t)first->val - 1;
                        r->hits++;
                        continue;
                }
                /* Out of memory: not remembered, a repeat is fetched again. */
                (void)dict_add(&r->needed, &r->kq[i], (void *)(uintptr_t)(i + 1));
                r->misses++;
                r->need[nneed++] = i;
        }
        if (nneed == 0)
                return;
        /* One pipelined round trip for every key not fresh in the cache. */
        size_t done = 0;
        if (en_redis_connect(r)) {
                r->keys.len = 0;
                for (size_t j = 0; j < nneed; j++) {
                        size_t i = r->need[j];
                        if (buf_append(&r->keys, r->prefix, r->prefix_len) ||
                            buf_append(&r->keys, keys[i], lens[i]) ||
                            buf_append(&r->keys, r->suffix, r->suffix_len))
                                break;
                }
                size_t off = 0;
                int ok = 1;
                for (size_t j = 0; j < nneed && ok; j++) {
                        size_t i = r->need[j], kl = r->prefix_len + lens[i] + r->suffix_len;
                        const char *argv[] = {"HGETALL", r->keys.data + off};
                        size_t al[] = {7, kl};
                        ok = off + kl <= r->keys.len &&
                             redisAppendCommandArgv(r->c, 2, argv, al) == REDIS_OK;
                        off += kl;
                }
                double t0 = clk_mono_s();
                for (; ok && done < nneed; done++) {
                        size_t i = r->need[done];
                        void *vrep = NULL;
                        if (redisGetReply(r->c, &vrep) != REDIS_OK || !vrep) {
                                ok = 0;
                                break;
                        }
                        redisReply *rep = vrep;
                        if (rep->type == REDIS_REPLY_ERROR) {
                                /* e.g. WRONGTYPE: this key's data is wrong,
                                 * not Redis: a miss, logged, never cached. */
                                log_warn("enrichment", "source \"%s\": HGETALL %.*s: %s",
                                         r->src->name, (int)lens[i], keys[i], rep->str);
                                freeReplyObject(rep);
                                res[i] = EN_REDIS_MISS;
                                continue;
                        }
                        en_entry_t *e = en_reply_entry(r, keys[i], lens[i], rep);
                        freeReplyObject(rep);
                        if (!e) {
                                ok = 0;
                                break;
                        }
                        int neg = e->negative;
                        if (!neg || r->src->redis.negative_ttl_ms > 0)
                                en_cache_put(r, e);
                        else
                                en_bury(r, e);
                        out[i] = neg ? NULL : e;
                        res[i] = neg ? EN_REDIS_MISS : EN_REDIS_HIT;
                }
                *redis_s = clk_mono_s() - t0;
                if (ok)
                        r->last_ok_ms = clk_mono_ms();
                else
                        en_redis_drop(r, r->c && r->c->err ? r->c->errstr : "bad reply");
        }
        for (size_t i = 0; i < n; i++)
                if (res[i] == EN_REDIS_ERROR && r->dup[i] != SIZE_MAX) {
                        out[i] = out[r->dup[i]];
                        res[i] = res[r->dup[i]];
                }
        /* Whatever Redis did not answer: a cached entry past its TTL is
         * better than nothing. */
        for (size_t i = 0; done < nneed && i < n; i++) {
                if (res[i] != EN_REDIS_ERROR)
                        continue;
                const en_entry_t *e = en_table_get(&r->cache, keys[i], lens[i]);
                if (e) {
                        out[i] = e->negative ? NULL : e;
                        res[i] = e->negative ? EN_REDIS_MISS : EN_REDIS_STALE;
                }
        }
}

/* ------------------------------------------------------------ warm-up */

/* The SCAN pattern: key_pattern with glob characters escaped and {key} → *. */
static void en_glob(const en_redis_t *r, buf_t *b) {
        const char *p = r->src->redis.key_pattern;
        for (; *p; p++) {
                if (p == r->prefix + r->prefix_len) {
                        buf_append(b, "*", 1);
                        p += 4;
                        continue;
                }
                if (strchr("*?[]\\", *p))
                        buf_append(b, "\\", 1);
                buf_append(b, p, 1);
        }
        buf_nul(b);
}

static int en_redis_warm(en_redis_t *r, long *loaded) {
        buf_t glob = BUF_INIT;
        en_glob(r, &glob);
        char cursor[32] = "0";
        int rc = 0;
        do {
                const char *av[] = {"SCAN", cursor, "MATCH", glob.data, "COUNT", "1000"};
                size_t al[] = {4, strlen(cursor), 5, glob.len, 5, 4};
                redisReply *rep = redisCommandArgv(r->c, 6, av, al);
                if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                    rep->element[0]->type != REDIS_REPLY_STRING) {
                        if (rep)
                                freeReplyObject(rep);
                        rc = -1;
                        break;
                }
                snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
                const redisReply *ks = rep->element[1];
                size_t nk = ks->type == REDIS_REPLY_ARRAY ? ks->elements : 0;
                for (size_t i = 0; i < nk; i++) {
                        const char *argv[] = {"HGETALL", ks->element[i]->str};
                        size_t al2[] = {7, (size_t)ks->element[i]->len};
                        redisAppendCommandArgv(r->c, 2, argv, al2);
                }
                for (size_t i = 0; i < nk && rc == 0; i++) {
                        void *v = NULL;
                        if (redisGetReply(r->c, &v) != REDIS_OK || !v) {
                                rc = -1;
                                break;
                        }
                        redisReply *h = v;
                        const redisReply *k = ks->element[i];
                        size_t kl = (size_t)k->len;
                        if (h->type == REDIS_REPLY_ARRAY && h->elements > 0 &&
                            kl >= r->prefix_len + r->suffix_len &&
                            r->cache.map.count < (size_t)r->src->redis.cache_size) {
                                en_entry_t *e =
                                        en_reply_entry(r, k->str + r->prefix_len,
                                                       kl - r->prefix_len - r->suffix_len, h);
                                if (e) {
                                        en_cache_put(r, e);
                                        (*loaded)++;
                                }
                        }
                        freeReplyObject(h);
                }
                freeReplyObject(rep);
        } while (rc == 0 && strcmp(cursor, "0") != 0);
        buf_free(&glob);
        return rc;
}

st_t en_redis_start(en_redis_t *r, atomic_int *stop, admin_beat_t *beat, char *errstr,
                    size_t errstr_size) {
        int64_t t0 = clk_mono_ms();
        for (;;) {
                if (en_redis_connect(r)) {
                        if (!r->src->redis.warm_up)
                                return ST_OK;
                        long loaded = 0;
                        if (en_redis_warm(r, &loaded) == 0) {
                                log_info("enrichment",
                                         "source \"%s\": warm-up loaded %ld hashes in %.1f s",
                                         r->src->name, loaded,
                                         (double)(clk_mono_ms() - t0) / 1000.0);
                                return ST_OK;
                        }
                        en_redis_drop(r, "warm-up failed");
                } else if (!r->src->redis.warm_up) {
                        return ST_OK; /* look-ups will retry */
                }
                if (stop && atomic_load(stop)) {
                        snprintf(errstr, errstr_size, "stopped while warming up source \"%s\"",
                                 r->src->name);
                        return ST_STOPPED;
                }
                admin_beat(beat);
                clk_sleep_ms(100);
        }
}

size_t en_redis_cache_entries(const en_redis_t *r) {
        return r->cache.map.count;
}

void en_redis_cache_counts(const en_redis_t *r, uint64_t *hits, uint64_t *misses) {
        *hits = r->hits;
        *misses = r->misses;
}

double en_redis_staleness_s(const en_redis_t *r) {
        return r->down ? (double)(clk_mono_ms() - r->last_ok_ms) / 1000.0 : 0.0;
}

void en_redis_destroy(en_redis_t *r) {
        if (!r)
                return;
        if (r->c)
                redisFree(r->c);
        en_graveyard_free(r);
        en_table_fini(&r->cache);
        buf_free(&r->keys);
        free(r->need);
        free(r->dup);
        free(r->kq);
        dict_fini(&r->needed);
        free(r);
}
