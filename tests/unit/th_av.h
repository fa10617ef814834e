/* th_av.h — helpers shared by the av_ unit tests (include after th.h). */
#ifndef TH_AV_H
#define TH_AV_H

#include "av_schema.h"

/* Parses a schema from JSON text; a failure is a failed check.  The
 * caller destroys the schema. */
static av_schema_t *schema(const char *json) {
        char err[512] = "";
        av_schema_t *s = av_schema_parse(json, strlen(json), "test", err, sizeof(err));
        if (!s)
                printf("  schema: %s\n", err);
        TH_CHECK(s != NULL);
        return s;
}

#endif
