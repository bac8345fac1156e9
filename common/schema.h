/* A JSON Schema subset for tool arguments, compiled once at start-up.
 *
 * Supported: type (name or array of names; "integer" means a JSON integer or a real with no
 * fraction), required, properties, additionalProperties (bool or schema), enum, const,
 * minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers), minLength, maxLength
 * (UTF-8 code points), pattern (POSIX extended regular expression, unanchored as in JSON
 * Schema), items (one schema), minItems, maxItems. Annotations are ignored: title,
 * description, default, examples, format, $schema, $id, $comment, deprecated, readOnly,
 * writeOnly, and extension keywords starting with "x-". Any other keyword fails compilation,
 * so a tool never silently goes unchecked. */
#ifndef CX_SCHEMA_H
#define CX_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

struct cx_schema;

/* Compiles schema (borrowed; not kept). NULL with err naming the keyword and its path. */
struct cx_schema *cx_schema_compile(const json_t *schema, struct cx_err *err);

/* 0 when instance conforms; -1 with a sentence naming the field in msg, for example
 * "arguments.vmid: must be at least 100" or "arguments: missing required property 'node'".
 * root names the top of the instance ("arguments"). Thread-safe on a compiled schema. */
int cx_schema_validate(const struct cx_schema *s, const json_t *instance, const char *root,
		       char *msg, size_t msglen);

void cx_schema_free(struct cx_schema *s);

#endif
