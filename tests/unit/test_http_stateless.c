/* The stateless revision's HTTP rules, as a client meets them: which POSTs are stateless,
 * the Mcp-Name and Mcp-Param-* mirrored headers and how Base64 in them is read, the checks a
 * stateless request passes (400 with a reason when it does not), and the small codecs behind
 * them (URL escaping, Base64, deadlines, random hex). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "../../common/util.h"
#include "../../common/jsonrpc.h"
#include "../../gateway/http_headers.h"
#include "../../gateway/http_stateless.h"
#include "../../gateway/methods.h"

struct hdr_table {
	const char *const *kv; /* name, value, ..., NULL */
};

static const char *table_get(void *ctx, const char *name)
{
	const struct hdr_table *t = ctx;

	for (const char *const *p = t->kv; *p; p += 2) {
		if (!strcasecmp(p[0], name))
			return p[1];
	}
	return NULL;
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);

	if (!v)
		fail_msg("bad test JSON: %s", je.text);
	return v;
}

static void test_which_posts_are_stateless(void **state)
{
	(void)state;
	assert_true(cx_http_is_stateless("2026-07-28", NULL, false));
	assert_true(cx_http_is_stateless("2026-07-28", "", false));
	assert_true(cx_http_is_stateless("2026-07-28", NULL, true));
	/* An unknown version is the server's to answer with -32022... */
	assert_true(cx_http_is_stateless("2099-01-01", NULL, false));
	/* ...except in an initialize, which is an older client's: refused with 400 as before. */
	assert_false(cx_http_is_stateless("2099-01-01", NULL, true));
	assert_false(cx_http_is_stateless(NULL, NULL, false));
	assert_false(cx_http_is_stateless("2025-11-25", NULL, false));
	assert_false(cx_http_is_stateless("2025-03-26", NULL, true));
	assert_false(cx_http_is_stateless("2026-07-28", "c1.abc", false));

	assert_true(cx_http_stateless_stream_request("2026-07-28", NULL));
	assert_true(cx_http_stateless_stream_request("2026-07-28", ""));
	assert_false(cx_http_stateless_stream_request("2026-07-28", "c1.abc"));
	assert_false(cx_http_stateless_stream_request("2025-11-25", NULL));
	assert_false(cx_http_stateless_stream_request("2099-01-01", NULL));
	assert_false(cx_http_stateless_stream_request(NULL, NULL));
}

/* The member the stateless revision's Mcp-Name header must repeat comes from the method
 * table, the same row that routes the method. */
static void test_name_member(void **state)
{
	(void)state;
	assert_string_equal(cx_method_name_member("tools/call"), "name");
	assert_string_equal(cx_method_name_member("prompts/get"), "name");
	assert_string_equal(cx_method_name_member("resources/read"), "uri");
	assert_string_equal(cx_method_name_member("tasks/get"), "taskId");
	assert_string_equal(cx_method_name_member("tasks/update"), "taskId");
	assert_string_equal(cx_method_name_member("tasks/cancel"), "taskId");
	assert_null(cx_method_name_member("tools/list"));
	assert_null(cx_method_name_member("server/discover"));
	assert_null(cx_method_name_member("Tools/Call"));
}

static void expect_decoded(const char *v, const char *want, size_t want_len, bool copied)
{
	const char *out;
	size_t len;
	char *buf;

	assert_int_equal(cx_http_header_value_decode(v, strlen(v), &buf, &out, &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(out, want, want_len);
	if (copied)
		assert_ptr_equal(out, buf);
	else
		assert_null(buf);
	free(buf);
}

static void test_header_value_decode(void **state)
{
	const char *out = NULL;
	size_t len;
	char *buf = (char *)"x";

	(void)state;
	expect_decoded("plain value", "plain value", 11, false);
	expect_decoded("=?base64?aGVsbG8=?=", "hello", 5, true);
	/* Bytes a header cannot carry as they are: a newline, a NUL, UTF-8. */
	expect_decoded("=?base64?YQpiAGM=?=", "a\nb\0c", 5, true);
	expect_decoded("=?base64?w6k=?=", "\xc3\xa9", 2, true);
	expect_decoded("=?base64?"
		       "?=",
		       "", 0, true);
	/* Not a wrapper at all: taken literally. */
	expect_decoded("=?base64?", "=?base64?", 9, false);
	expect_decoded("=?BASE64?aGVsbG8=?=", "=?BASE64?aGVsbG8=?=", 19, false);

	/* A wrapper around anything but padded standard Base64 is refused, not taken
	 * literally: the client meant it to be decoded. */
	assert_int_equal(cx_http_header_value_decode("=?base64?aGVsbG8?=", 18, &buf, &out, &len),
			 -1);
	assert_null(buf);
	assert_int_equal(cx_http_header_value_decode("=?base64?aGV sbG8=?=", 20, &buf, &out, &len),
			 -1);
	assert_int_equal(cx_http_header_value_decode("=?base64?aGVsbG8_?=", 19, &buf, &out, &len),
			 -1);
}

static void test_arg_matches(void **state)
{
	json_t *s = json_string("Hello"), *t = json_true(), *f = json_false();
	json_t *i = json_integer(42), *r = json_real(0.5), *n = json_null();
	json_t *nul = json_stringn("a\0b", 3);

	(void)state;
	assert_true(cx_http_arg_matches(s, "Hello", 5));
	assert_false(cx_http_arg_matches(s, "hello", 5));
	assert_false(cx_http_arg_matches(s, "Hello ", 6));
	assert_false(cx_http_arg_matches(s, "Hell", 4));
	assert_true(cx_http_arg_matches(nul, "a\0b", 3));
	assert_false(cx_http_arg_matches(nul, "a", 1));
	assert_true(cx_http_arg_matches(t, "true", 4));
	assert_false(cx_http_arg_matches(t, "True", 4));
	assert_false(cx_http_arg_matches(t, "1", 1));
	assert_true(cx_http_arg_matches(f, "false", 5));
	assert_false(cx_http_arg_matches(f, "true", 4));
	assert_true(cx_http_arg_matches(i, "42", 2));
	assert_true(cx_http_arg_matches(i, "42.0", 4));
	assert_true(cx_http_arg_matches(i, "4.2e1", 5));
	assert_false(cx_http_arg_matches(i, "43", 2));
	assert_false(cx_http_arg_matches(i, "0x2a", 4));
	assert_false(cx_http_arg_matches(i, " 42", 3));
	assert_false(cx_http_arg_matches(i, "", 0));
	assert_false(cx_http_arg_matches(i, "42abc", 2 + 3));
	/* Only the first len bytes count: a header value is not NUL-terminated where it ends. */
	assert_true(cx_http_arg_matches(i, "42abc", 2));
	assert_true(cx_http_arg_matches(r, ".5", 2));
	assert_true(cx_http_arg_matches(r, "5e-1", 4));
	assert_false(cx_http_arg_matches(n, "0", 1));
	assert_false(cx_http_arg_matches(n, "null", 4));
	json_decref(s);
	json_decref(t);
	json_decref(f);
	json_decref(i);
	json_decref(r);
	json_decref(n);
	json_decref(nul);
}

static void test_header_token(void **state)
{
	char long_name[130];

	(void)state;
	assert_true(cx_http_header_token("Region"));
	assert_true(cx_http_header_token("X-Tenant_Id.v2"));
	assert_false(cx_http_header_token(""));
	assert_false(cx_http_header_token("Two Words"));
	assert_false(cx_http_header_token("Colon:"));
	assert_false(cx_http_header_token("Line\nBreak"));
	memset(long_name, 'a', 128);
	long_name[128] = '\0';
	assert_true(cx_http_header_token(long_name));
	long_name[128] = 'a';
	long_name[129] = '\0';
	assert_false(cx_http_header_token(long_name));
}

#define TOOL_DEF                                                                                   \
	"{\"name\": \"t\", \"inputSchema\": {\"type\": \"object\", \"properties\": {"              \
	"\"region\": {\"type\": \"string\", \"x-mcp-header\": \"Region\"},"                        \
	"\"count\": {\"type\": \"integer\", \"x-mcp-header\": \"Count\"},"                         \
	"\"bad\": {\"type\": \"string\", \"x-mcp-header\": \"Not A Token\"},"                      \
	"\"body\": {\"type\": \"string\"}}}}"

/* check_param_headers for args (JSON) against headers kv; the message on failure in msg. */
static int params_check(const char *args, const char *const *kv, char *msg, size_t msglen)
{
	struct hdr_table t = { kv };
	const struct cx_http_hdrs hd = { table_get, &t };
	json_t *def = parse(TOOL_DEF), *a = parse(args);
	int rc;

	msg[0] = '\0';
	rc = cx_http_check_param_headers(def, a, &hd, msg, msglen);
	json_decref(def);
	json_decref(a);
	return rc;
}

static void test_param_headers(void **state)
{
	const char *both[] = { "mcp-param-region", " eu-west-1\t", "Mcp-Param-Count", "3", NULL };
	const char *b64[] = { "Mcp-Param-Region", "=?base64?ZXUtd2VzdC0x?=", NULL };
	const char *none[] = { NULL };
	char msg[200];

	(void)state;
	assert_int_equal(params_check("{\"region\": \"eu-west-1\", \"count\": 3}", both, msg,
				      sizeof(msg)),
			 0);
	assert_int_equal(params_check("{\"region\": \"eu-west-1\"}", b64, msg, sizeof(msg)), 0);
	/* Arguments without an annotation, with a malformed one, or null need no header. */
	assert_int_equal(params_check("{\"body\": \"x\", \"bad\": \"y\", \"region\": null}", none,
				      msg, sizeof(msg)),
			 0);
	assert_int_equal(params_check("{}", none, msg, sizeof(msg)), 0);
	assert_int_equal(params_check("[\"region\"]", none, msg, sizeof(msg)), 0);

	assert_int_equal(params_check("{\"region\": \"eu-west-1\"}", none, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: missing Mcp-Param-Region header (it must "
				 "repeat arguments.region)");
	assert_int_equal(params_check("{\"region\": \"us-east-1\"}", b64, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: Mcp-Param-Region does not match "
				 "arguments.region");
	assert_int_equal(params_check("{\"region\": \"eu-west-1\", \"count\": 4}", both, msg,
				      sizeof(msg)),
			 -1);
	assert_string_equal(msg, "header mismatch: Mcp-Param-Count does not match arguments.count");
	{
		const char *broken[] = { "Mcp-Param-Region", "=?base64?ZXUtd2VzdC0x?=x", NULL };
		const char *bad64[] = { "Mcp-Param-Region", "=?base64?ZXUtd2VzdC0?=", NULL };

		/* Not a wrapper (it does not end with ?=): compared literally, and differs. */
		assert_int_equal(params_check("{\"region\": \"eu-west-1\"}", broken, msg,
					      sizeof(msg)),
				 -1);
		assert_non_null(strstr(msg, "does not match"));
		assert_int_equal(params_check("{\"region\": \"eu-west-1\"}", bad64, msg,
					      sizeof(msg)),
				 -1);
		assert_string_equal(msg, "header mismatch: Mcp-Param-Region is not valid Base64 "
					 "inside =?base64?...?=");
	}
}

/* check_mirrored_headers for body (JSON) against headers kv (no server: not tools/call). */
static int mirrored_check(const char *body, const char *const *kv, char *msg, size_t msglen)
{
	struct hdr_table t = { kv };
	const struct cx_http_hdrs hd = { table_get, &t };
	json_t *m = parse(body);
	int rc;

	msg[0] = '\0';
	rc = cx_http_check_mirrored_headers(m, NULL, &hd, msg, msglen);
	json_decref(m);
	return rc;
}

#define PROMPT_GET                                                                                 \
	"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"prompts/get\", "                          \
	"\"params\": {\"name\": \"greet\"}}"

static void test_mirrored_headers(void **state)
{
	const char *ok[] = { "Mcp-Method", "prompts/get", "Mcp-Name", "greet", NULL };
	const char *blanks[] = { "mcp-method", "  prompts/get ", "MCP-NAME", "\tgreet", NULL };
	const char *b64[] = { "Mcp-Method", "prompts/get", "Mcp-Name",
			      "=?base64?Z3JlZXQ=?=", NULL };
	const char *method_only[] = { "Mcp-Method", "prompts/get", NULL };
	const char *list[] = { "Mcp-Method", "tools/list", NULL };
	const char *read[] = { "Mcp-Method", "resources/read", "Mcp-Name", "file:///a b", NULL };
	const char *none[] = { NULL };
	char msg[200];

	(void)state;
	assert_int_equal(mirrored_check(PROMPT_GET, ok, msg, sizeof(msg)), 0);
	assert_int_equal(mirrored_check(PROMPT_GET, blanks, msg, sizeof(msg)), 0);
	assert_int_equal(mirrored_check(PROMPT_GET, b64, msg, sizeof(msg)), 0);
	assert_int_equal(mirrored_check("{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": "
					"\"tools/list\"}",
					list, msg, sizeof(msg)),
			 0);
	assert_int_equal(mirrored_check("{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": "
					"\"resources/read\", \"params\": {\"uri\": "
					"\"file:///a b\"}}",
					read, msg, sizeof(msg)),
			 0);
	/* A response to the server carries no method to mirror. */
	assert_int_equal(mirrored_check("{\"jsonrpc\": \"2.0\", \"id\": \"cortex-1\", "
					"\"result\": {}}",
					none, msg, sizeof(msg)),
			 0);
	/* No name in the body: nothing for Mcp-Name to repeat. */
	assert_int_equal(mirrored_check("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": "
					"\"prompts/get\", \"params\": {}}",
					method_only, msg, sizeof(msg)),
			 0);
}

static void test_mirrored_headers_refused(void **state)
{
	const char *wrong_method[] = { "Mcp-Method", "prompts/list", "Mcp-Name", "greet", NULL };
	const char *case_method[] = { "Mcp-Method", "Prompts/Get", "Mcp-Name", "greet", NULL };
	const char *wrong_name[] = { "Mcp-Method", "prompts/get", "Mcp-Name", "Greet", NULL };
	const char *bad_b64[] = { "Mcp-Method", "prompts/get", "Mcp-Name",
				  "=?base64?Z3JlZXQ?=", NULL };
	const char *method_only[] = { "Mcp-Method", "prompts/get", NULL };
	const char *none[] = { NULL };
	char msg[200];

	(void)state;
	assert_int_equal(mirrored_check(PROMPT_GET, none, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: missing Mcp-Method header (it must repeat the "
				 "method, 'prompts/get')");
	assert_int_equal(mirrored_check(PROMPT_GET, wrong_method, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: Mcp-Method does not match the method "
				 "'prompts/get'");
	/* Values compare exactly. */
	assert_int_equal(mirrored_check(PROMPT_GET, case_method, msg, sizeof(msg)), -1);
	assert_int_equal(mirrored_check(PROMPT_GET, method_only, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: missing Mcp-Name header (it must repeat "
				 "params.name)");
	assert_int_equal(mirrored_check(PROMPT_GET, wrong_name, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: Mcp-Name does not match params.name");
	assert_int_equal(mirrored_check(PROMPT_GET, bad_b64, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "header mismatch: Mcp-Name does not match params.name");
}

/* cx_http_stateless_check for body with version and the headers kv. */
static int stateless_check(const char *body, const char *version, const char *const *kv,
			   struct cx_http_refusal *no)
{
	struct hdr_table t = { kv };
	const struct cx_http_hdrs hd = { table_get, &t };
	json_t *m = parse(body);
	int rc = cx_http_stateless_check(m, version, 16, NULL, &hd, no);

	json_decref(m);
	return rc;
}

static void test_stateless_check(void **state)
{
	const char *ok[] = { "Mcp-Method", "prompts/get", "Mcp-Name", "greet", NULL };
	const char *none[] = { NULL };
	struct cx_http_refusal no;

	(void)state;
	assert_int_equal(stateless_check(PROMPT_GET, "2026-07-28", ok, &no), 0);
	/* A version the server does not know, short enough to be one, is the server's to
	 * answer (-32022 with what it supports). */
	assert_int_equal(stateless_check(PROMPT_GET, "2099-01-01", ok, &no), 0);

	assert_int_equal(stateless_check("[" PROMPT_GET "]", "2026-07-28", ok, &no), -1);
	assert_int_equal(no.code, CX_RPC_INVALID_REQUEST);
	assert_non_null(strstr(no.msg, "no JSON-RPC batches"));
	assert_null(no.data);
	assert_int_equal(stateless_check("\"text\"", "2026-07-28", ok, &no), -1);
	assert_int_equal(no.code, CX_RPC_INVALID_REQUEST);
	assert_string_equal(no.msg, "invalid request: the body must be a JSON-RPC object");

	assert_int_equal(stateless_check(PROMPT_GET, "2026-07-28", none, &no), -1);
	assert_int_equal(no.code, CX_RPC_HEADER_MISMATCH);
	assert_non_null(strstr(no.msg, "missing Mcp-Method"));
	assert_null(no.data);
}

static void test_stateless_check_long_version(void **state)
{
	const char *ok[] = { "Mcp-Method", "prompts/get", "Mcp-Name", "greet", NULL };
	const char *v = "2026-07-28-and-more";
	struct cx_http_refusal no;
	char body[256];

	(void)state;
	/* The same over-long version in the header and _meta: unsupported, as the server
	 * would say, with what is supported and what was asked. */
	snprintf(body, sizeof(body),
		 "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": "
		 "\"prompts/get\", \"params\": {\"name\": \"greet\", \"_meta\": {"
		 "\"io.modelcontextprotocol/protocolVersion\": \"%s\"}}}",
		 v);
	assert_int_equal(stateless_check(body, v, ok, &no), -1);
	assert_int_equal(no.code, CX_RPC_UNSUPPORTED_VERSION);
	assert_string_equal(no.msg, "Unsupported protocol version");
	assert_non_null(no.data);
	assert_string_equal(json_string_value(json_object_get(no.data, "requested")), v);
	assert_string_equal(json_string_value(
				    json_array_get(json_object_get(no.data, "supported"), 0)),
			    "2026-07-28");
	json_decref(no.data);
	/* Different from _meta: a header mismatch. */
	assert_int_equal(stateless_check(PROMPT_GET, v, ok, &no), -1);
	assert_int_equal(no.code, CX_RPC_HEADER_MISMATCH);
	assert_string_equal(no.msg,
			    "MCP-Protocol-Version header does not match _meta protocolVersion");
	assert_null(no.data);
}

/* ---- common/util helpers the transport uses ---- */

static void expect_b64(const char *in, const char *want, long want_len)
{
	unsigned char out[64];
	long n = cx_b64_decode(in, strlen(in), out, sizeof(out));

	assert_int_equal(n, want_len);
	assert_memory_equal(out, want, (size_t)want_len);
}

/* Adapters put node names, task ids and DNS names into paths and queries with it. */
static void test_url_escape(void **state)
{
	char out[64], small[4];

	(void)state;
	assert_true(cx_url_escape("pve1.lab-2_x~", out, sizeof(out)));
	assert_string_equal(out, "pve1.lab-2_x~");
	assert_true(cx_url_escape("UPID:pve1:00/a b&c=d", out, sizeof(out)));
	assert_string_equal(out, "UPID%3Apve1%3A00%2Fa%20b%26c%3Dd");
	assert_true(cx_url_escape("\xc3\xa9", out, sizeof(out)));
	assert_string_equal(out, "%C3%A9");
	/* What does not fit is refused, never cut. */
	assert_false(cx_url_escape("abcd", small, sizeof(small)));
	assert_false(cx_url_escape("a/", small, sizeof(small)));
	assert_true(cx_url_escape("abc", small, sizeof(small)));
}

static void test_b64_decode(void **state)
{
	(void)state;
	expect_b64("", "", 0);
	expect_b64("Zg==", "f", 1);
	expect_b64("Zm8=", "fo", 2);
	expect_b64("Zm9v", "foo", 3);
	expect_b64("Zm9vYmFy", "foobar", 6);
	/* The standard alphabet: '+' and '/' (base64url would have '-' and '_'). */
	expect_b64("+/+/", "\xfb\xff\xbf", 3);
	expect_b64("AA==", "\0", 1);
}

static void test_b64_decode_refuses(void **state)
{
	unsigned char out[64];
	const char *bad[] = {
		"Zg",     /* padding missing */
		"Zg=",    /* length not a multiple of 4 */
		"Zm9v\n", /* a blank, at the end, the start or inside */
		" Zm9v",     "Zm 9",         "Zm9vYmE ",
		"Zm9v\tZg=", "    Zm9v", /* blanks OpenSSL's decoder alone would skip */
		"Zm9v    ",  "\t\t\t\tZm9v", "Zm9v-A==", /* base64url's alphabet */
		"Zm9v_A==",  "Z===",                     /* three '=' */
		"====",      "Zg==Zg==",                 /* padding inside */
		"Zm9*",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cx_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
			fail_msg("'%s' decoded", bad[i]);
	}
	/* out must hold len / 4 * 3 bytes, padding included. */
	assert_int_equal(cx_b64_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(cx_b64_decode("Zm9vYg==", 8, out, 6), 4);
}

static void test_deadline_ts(void **state)
{
	struct timespec now, ts;
	int64_t diff_ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &now);
	cx_deadline_ts(CLOCK_MONOTONIC, 1999, &ts);
	assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
	diff_ms = (int64_t)(ts.tv_sec - now.tv_sec) * 1000 + (ts.tv_nsec - now.tv_nsec) / 1000000;
	assert_true(diff_ms >= 1999 && diff_ms < 2999);
	/* A deadline already past is now, not a time in the past. */
	cx_deadline_ts(CLOCK_MONOTONIC, -5000, &ts);
	assert_true(ts.tv_sec > now.tv_sec ||
		    (ts.tv_sec == now.tv_sec && ts.tv_nsec >= now.tv_nsec));
}

static void test_random_hex(void **state)
{
	char a[33], b[33], small[32];

	(void)state;
	assert_int_equal(cx_random_hex(a, sizeof(a), 16), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_int_equal(cx_random_hex(b, sizeof(b), 16), 0);
	assert_string_not_equal(a, b);
	/* No room for the NUL: refused, and the buffer left a valid empty string. */
	memset(small, 'x', sizeof(small));
	assert_int_equal(cx_random_hex(small, sizeof(small), 16), -1);
	assert_string_equal(small, "");
	assert_int_equal(cx_random_hex(a, 1, 0), 0);
	assert_string_equal(a, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_which_posts_are_stateless),
		cmocka_unit_test(test_name_member),
		cmocka_unit_test(test_header_value_decode),
		cmocka_unit_test(test_arg_matches),
		cmocka_unit_test(test_header_token),
		cmocka_unit_test(test_param_headers),
		cmocka_unit_test(test_mirrored_headers),
		cmocka_unit_test(test_mirrored_headers_refused),
		cmocka_unit_test(test_stateless_check),
		cmocka_unit_test(test_stateless_check_long_version),
		cmocka_unit_test(test_url_escape),
		cmocka_unit_test(test_b64_decode),
		cmocka_unit_test(test_b64_decode_refuses),
		cmocka_unit_test(test_deadline_ts),
		cmocka_unit_test(test_random_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
