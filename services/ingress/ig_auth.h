/* ig_auth — optional bearer-token authentication for ingress.
 *
 * Tokens come from a file (INGRESS_TOKENS_FILE): one token a line; blank
 * lines and lines starting with '#' are ignored, surrounding whitespace is
 * trimmed.  A request is authorised when its `Authorization: Bearer <t>`
 * header carries one of them.  The comparison takes the same time whatever
 * the presented token and wherever it differs: every token is compared over
 * IG_AUTH_TOKEN_MAX bytes with no early exit, so response timing tells an
 * attacker nothing about how much of a token they got right. */
#ifndef WEIR_IG_AUTH_H
#define WEIR_IG_AUTH_H

#include <stddef.h>

#define IG_AUTH_TOKEN_MAX 256 /* longer tokens in the file are an error */

typedef struct ig_auth_s ig_auth_t;

/* Parses tokens from text (len bytes).  `origin` names the source in
 * errors.  Returns the set (free with ig_auth_destroy), or NULL with errstr
 * set: no tokens, a token too long or holding control characters. */
ig_auth_t *ig_auth_parse(const char *text, size_t len, const char *origin, char *errstr,
                         size_t errstr_size);

/* Reads and parses the file at `path`. */
ig_auth_t *ig_auth_load(const char *path, char *errstr, size_t errstr_size);

void ig_auth_destroy(ig_auth_t *a);

size_t ig_auth_count(const ig_auth_t *a);

/* 1 when `authorization` (the header's value, may be NULL) is "Bearer <t>"
 * (scheme case-insensitive) with t one of the tokens; else 0. */
int ig_auth_check(const ig_auth_t *a, const char *authorization);

#endif
