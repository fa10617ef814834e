/* th_spec.h — helpers shared by the spec_ unit tests (include after th.h):
 * documents written with ' for " so they stay readable in C strings, and
 * the error a document gives. */
#ifndef TH_SPEC_H
#define TH_SPEC_H

#include "spec.h"

#include <string.h>

static char err[1024];

/* The document with every ' turned into "; static buffer. */
static const char *q(const char *s) {
        static char buf[16384];
        size_t n = strnlen(s, sizeof(buf) - 1);
        for (size_t i = 0; i < n; i++)
                buf[i] = s[i] == '\'' ? '"' : s[i];
        buf[n] = '\0';
        return buf;
}

static spec_t *parse(const char *json, unsigned parts) {
        const char *doc = q(json);
        err[0] = '\0';
        return spec_parse(doc, strlen(doc), "pipeline.json", parts, err, sizeof(err));
}

/* The error message for json, or "OK". */
static const char *error_of(const char *json, unsigned parts) {
        spec_t *s = parse(json, parts);
        if (s) {
                spec_free(s);
                return "OK";
        }
        return err;
}

#define HEAD    "'name':'p','input':{'topic':'in','schema':'a.B','key':'k'}"
#define WIN1    "'windows':[{'name':'w','type':'tumbling','size':'1m'}]"
#define CMP(x)  "{" HEAD ",'compute':{" x "}}"
#define ENR(x)  "{" HEAD ",'enrichment':{" x "}}"
#define SNK(x)  "{" HEAD ",'sink':{" x "}}"
#define FILESRC "'sources':[{'type':'file','path':'r.json','key_field':'id'}]"

#endif
