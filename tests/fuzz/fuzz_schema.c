/* The schema validator (common/schema*.c): a random schema compiled, and when it compiles, a
 * random instance validated against it. Input: the schema (JSON) on the first line, the
 * instance (JSON, any value) after it. The message must be a NUL-terminated sentence. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/json.h"
#include "../../common/schema.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nl = memchr(text, '\n', size);
	struct cx_err err = { 0 };
	struct cx_schema *s;
	json_t *schema, *inst;
	char msg[512];

	if (!nl)
		return 0;
	schema = json_loadb(text, (size_t)(nl - text), JSON_DECODE_ANY, NULL);
	if (!schema)
		return 0;
	s = cx_schema_compile(schema, &err);
	json_decref(schema);
	if (!s)
		return 0;
	inst = json_loadb(nl + 1, size - (size_t)(nl - text) - 1, JSON_DECODE_ANY, NULL);
	if (inst) {
		memset(msg, 'x', sizeof(msg));
		if (cx_schema_validate(s, inst, "arguments", msg, sizeof(msg)) &&
		    !memchr(msg, '\0', sizeof(msg)))
			abort();
		json_decref(inst);
	}
	cx_schema_free(s);
	return 0;
}
