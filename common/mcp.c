/* MCP protocol versions and the CallToolResult builder.
 *
 * A struct cx_result allocates nothing until the first block is appended: content stays NULL
 * until then (jansson's getters, json_array_size() included, treat NULL as empty). So a result
 * that was initialised and never used needs no release, and cx_result_take() leaves the result
 * in that same state. */
#include "mcp.h"
#include "util.h"

#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest text cx_result_errorf() produces; longer sentences are cut at a character boundary. */
#define ERRORF_MAX 4096

const char *const cx_mcp_versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", NULL };

bool cx_mcp_version_supported(const char *v)
{
	if (!v)
		return false;
	for (size_t i = 0; cx_mcp_versions[i]; i++) {
		if (!strcmp(v, cx_mcp_versions[i]))
			return true;
	}
	return false;
}

const char *cx_mcp_negotiate(const char *requested)
{
	/* Answer with our own string, never the client's: theirs dies with the request. */
	for (size_t i = 0; requested && cx_mcp_versions[i]; i++) {
		if (!strcmp(requested, cx_mcp_versions[i]))
			return cx_mcp_versions[i];
	}
	return CX_MCP_LATEST;
}

static bool is_date(const char *v)
{
	for (size_t i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;

		if (dash ? v[i] != '-' : (v[i] < '0' || v[i] > '9'))
			return false;
	}
	return v[10] == '\0';
}

bool cx_mcp_allows_batch(const char *version)
{
	/* Versions are dates, so string order is time order; batches went in 2025-06-18. */
	return version && is_date(version) && strcmp(version, "2025-06-18") < 0;
}

void cx_result_init(struct cx_result *r)
{
	r->content = NULL;
	r->structured = NULL;
	r->is_error = false;
	r->structured_text = NULL;
}

void cx_result_release(struct cx_result *r)
{
	json_decref(r->content);
	json_decref(r->structured);
	cx_result_init(r);
}

/* Tool output comes from backends and need not be UTF-8; jansson refuses such strings, so
 * each invalid byte becomes U+FFFD rather than the whole text being lost. */
static json_t *string_lossy(const char *s)
{
	json_t *v = json_string(s);
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0;
	char *buf;

	if (v)
		return v;
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	buf = malloc(3 * n + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = cx_utf8_seq_len(p + i, n - i);

		if (k) {
			memcpy(buf + o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	buf[o] = '\0';
	v = json_stringn(buf, o);
	free(buf);
	return v;
}

int cx_result_text(struct cx_result *r, const char *text)
{
	json_t *block;

	if (!r->content) {
		r->content = json_array();
		if (!r->content)
			return -1;
	}
	block = json_object();
	if (!block)
		return -1;
	if (json_object_set_new(block, "type", json_string("text")) ||
	    json_object_set_new(block, "text", string_lossy(text ? text : ""))) {
		json_decref(block);
		return -1;
	}
	return json_array_append_new(r->content, block);
}

int cx_result_content(struct cx_result *r, json_t *block)
{
	if (!json_is_object(block)) {
		json_decref(block);
		return -1;
	}
	if (!r->content) {
		r->content = json_array();
		if (!r->content) {
			json_decref(block);
			return -1;
		}
	}
	return json_array_append_new(r->content, block);
}

int cx_result_errorf(struct cx_result *r, const char *fmt, ...)
{
	char text[ERRORF_MAX];
	va_list ap;
	int n;

	r->is_error = true;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(text)) {
		/* Cut before a multi-byte character the truncation split. */
		size_t end = sizeof(text) - 1, start = end;

		while (start > 0 && ((unsigned char)text[start - 1] & 0xc0) == 0x80)
			start--;
		if (start > 0 && (unsigned char)text[start - 1] >= 0xc0 &&
		    cx_utf8_seq_len((const unsigned char *)text + start - 1, end - start + 1) == 0)
			text[start - 1] = '\0';
	}
	return cx_result_text(r, text);
}

/* A text block whose text is known to be valid UTF-8 (cx_json_dumps writes only what jansson
 * holds, and jansson holds only valid UTF-8): no second check of every byte. */
static int result_text_nocheck(struct cx_result *r, const char *text, size_t len)
{
	json_t *block;

	if (!r->content && !(r->content = json_array()))
		return -1;
	block = json_object();
	if (!block || json_object_set_new(block, "type", json_string("text")) ||
	    json_object_set_new(block, "text", json_stringn_nocheck(text, len))) {
		json_decref(block);
		return -1;
	}
	return json_array_append_new(r->content, block);
}

int cx_result_structured(struct cx_result *r, json_t *value)
{
	char *text;
	size_t len = 0;
	int rc;

	if (!value)
		return -1;
	text = cx_json_dumps(value, &len);
	if (!text) {
		json_decref(value);
		return -1;
	}
	rc = result_text_nocheck(r, text, len);
	free(text);
	if (rc) {
		json_decref(value);
		return -1;
	}
	json_decref(r->structured);
	r->structured = value;
	/* The block just appended: its text is value written by cx_json_dumps. */
	r->structured_text =
		json_object_get(json_array_get(r->content, json_array_size(r->content) - 1),
				"text");
	return 0;
}

json_t *cx_result_take(struct cx_result *r)
{
	json_t *out = json_object();
	json_t *content = r->content ? r->content : json_array();
	json_t *structured = r->structured;
	bool is_error = r->is_error;

	/* From here on the references belong to this function; r is empty whatever happens. */
	cx_result_init(r);
	if (!out || !content)
		goto fail;
	if (json_object_set_new(out, "content", content)) {
		content = NULL;
		goto fail;
	}
	content = NULL;
	if (structured) {
		json_t *s = structured;

		structured = NULL;
		if (json_object_set_new(out, "structuredContent", s))
			goto fail;
	}
	if (is_error && json_object_set_new(out, "isError", json_true()))
		goto fail;
	return out;
fail:
	json_decref(content);
	json_decref(structured);
	json_decref(out);
	return NULL;
}
