/* Loading JSON from the outside world: always capped, always rejecting duplicate keys. */
#ifndef CX_JSON_H
#define CX_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* New reference or NULL with err set ("line 3 column 5: ..."). */
json_t *cx_json_loadb(const char *buf, size_t len, size_t max, struct cx_err *err);
/* The parser behind it (json_parse.c): what json_loadb(JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL) accepts and builds, an array or object at the top, at a fraction of the
 * cost. New reference or NULL with err set. */
json_t *cx_json_parse(const char *buf, size_t len, struct cx_err *err);
/* A backend answer read for the few fields a tool keeps: in every object at depth (the top
 * value is depth 1) only the members named in keys (NULL-terminated) are built; the others
 * are read and checked exactly as cx_json_parse checks them (grammar, UTF-8, numbers,
 * duplicate keys, depth) and dropped. The document is refused whenever cx_json_parse would
 * refuse it. */
struct cx_json_pick {
	int depth;
	const char *const *keys;
};
/* cx_json_parse with pick (NULL: every member built). */
json_t *cx_json_parse_pick(const char *buf, size_t len, const struct cx_json_pick *pick,
			   struct cx_err *err);
/* Reads at most max bytes of path; a larger file is an error, not a truncation. */
json_t *cx_json_load_file(const char *path, size_t max, struct cx_err *err);
/* Compact serialisation, the text json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) gives, without
 * its cycle check (values must be trees). Caller frees; NULL on out of memory. */
char *cx_json_dumps(const json_t *v, size_t *len);
/* The same, appended to b (which bounds it); b is unchanged on failure. 0 or -1. */
struct cx_buf;
int cx_json_dump_buf(const json_t *v, struct cx_buf *b);
/* cx_json_dumps with text (text_len bytes, the serialized form of at) written wherever v
 * holds the value at (the same json_t, not an equal one) instead of serializing it again.
 * at NULL: cx_json_dumps. */
char *cx_json_dumps_splice(const json_t *v, const json_t *at, const char *text, size_t text_len,
			   size_t *len);
/* Gives jansson an allocator that keeps small freed blocks per thread for reuse (json_alloc.c);
 * its blocks are plain malloc blocks, so free() and json_free mix safely. A no-op under
 * AddressSanitizer. Called once, early in main. */
void cx_json_alloc_init(void);
/* An upper bound of the length cx_json_dumps gives for v, without writing it. */
size_t cx_json_size_bound(const json_t *v);
/* Appends s[0..len) as a JSON string. s must be valid UTF-8 (the caller checks). */
int cx_json_dump_str(struct cx_buf *b, const char *s, size_t len);

#endif
