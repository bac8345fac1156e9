/* The raw JSON parser every outside document goes through (common/json_parse.c), held to
 * jansson's answers: the same documents accepted (an array or object at the top, duplicates
 * refused, NUL allowed in strings) and the same values built, cx_json_dumps writing what
 * json_dumps writes, and the batch counter (common/jsonrpc.c), fed all at once or in two
 * pieces, counting exactly the members of every valid array. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/json.h"
#include "../../common/jsonrpc.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void differ(const char *what, const char *ours, const char *theirs)
{
	fprintf(stderr, "fuzz_json: %s: ours %s, jansson %s\n", what, ours, theirs);
	abort();
}

static void check_count(const char *text, size_t size, const json_t *v)
{
	struct cx_rpc_counter c = { 0 };
	size_t cut = size ? (unsigned char)text[0] % size : 0;
	size_t want = json_is_array(v) ? json_array_size(v) : 0;

	if (cx_rpc_batch_count(text, size) != want)
		differ("batch count", "other", "array size");
	cx_rpc_count_feed(&c, text, cut);
	cx_rpc_count_feed(&c, text + cut, size - cut);
	if (cx_rpc_count_members(&c) != want)
		differ("batch count in two pieces", "other", "array size");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct cx_err err = { 0 };
	json_error_t je;
	json_t *ours = cx_json_parse(text, size, &err);
	json_t *theirs = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	json_t *capped = cx_json_loadb(text, size, size / 2, NULL);

	/* A raw NUL byte is never JSON (in a string it must be written \u0000); jansson takes
	 * some such input (it reads "-0.\0" as a number), so ours is held to the grammar. */
	if (memchr(text, '\0', size)) {
		if (ours)
			differ("raw NUL", "accepted", "-");
		goto out;
	}
	/* Numbers past 1,024 characters are refused on purpose (json_parse.c). */
	if (!ours && theirs && strstr(err.msg, "number too long"))
		goto out;
	if (!ours != !theirs)
		differ("accepted", ours ? "yes" : err.msg, theirs ? "yes" : je.text);
	if (capped && size > 1)
		differ("cap", "accepted a document over its cap", "-");
	if (ours) {
		char *a, *b;
		size_t alen = 0;

		if (!json_equal(ours, theirs))
			differ("value", "differs", "");
		a = cx_json_dumps(ours, &alen);
		b = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!a || !b || alen != strlen(b) || memcmp(a, b, alen))
			differ("serialisation", a ? a : "NULL", b ? b : "NULL");
		free(a);
		free(b);
		check_count(text, size, ours);
	}
out:
	json_decref(ours);
	json_decref(theirs);
	json_decref(capped);
	return 0;
}
