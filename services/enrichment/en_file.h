/* en_file — the static file source: a JSON array of objects or a CSV file
 * with a header row, read once at start-up into an en_table_t.
 *
 * Values become strings: JSON strings as they are, numbers in their
 * shortest round-trip form ("52.52", "7"), booleans "true"/"false", nested
 * objects and arrays as compact JSON; null members are left out.  CSV fields
 * follow RFC 4180 (quotes, "" escapes, commas and newlines inside quotes);
 * an empty field is an empty string.  The key member/column must be present
 * in every row; a later row with the same key replaces the earlier one (a
 * warning is logged).
 *
 * Not on the hot path: it may allocate freely. */
#ifndef WEIR_EN_FILE_H
#define WEIR_EN_FILE_H

#include <stddef.h>

#include "en_table.h"
#include "spec.h"

/* Loads src->file into `t` (initialised by the caller).  Returns the
 * number of rows read, or -1 with errstr naming the file and the row. */
long en_file_load(const spec_source_t *src, en_table_t *t, char *errstr, size_t errstr_size);

/* The same from bytes already in memory (`origin` names them in errors):
 * what the unit tests call. */
long en_file_parse(const spec_source_t *src, const char *data, size_t len, const char *origin,
                   en_table_t *t, char *errstr, size_t errstr_size);

#endif
