/* The HTTP transport's pure parsers, as a client and an operator meet them: which Host and
 * Origin values get past DNS-rebinding protection, which --listen values start the gateway,
 * which Accept and Content-Type headers a POST needs, and which methods the gateway serves (the
 * stateless revision's header rules are in test_http_stateless.c). Each failure path here is
 * an answer a client receives (403, 406, 415, 400) or a gateway that refuses to start. */
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

/* ---- loopback ---- */

static void test_loopback_names_and_addresses(void **state)
{
	(void)state;
	assert_true(cx_http_is_loopback("127.0.0.1"));
	assert_true(cx_http_is_loopback("127.255.3.4"));
	assert_true(cx_http_is_loopback("::1"));
	assert_true(cx_http_is_loopback("[::1]"));
	assert_true(cx_http_is_loopback("localhost"));
	assert_true(cx_http_is_loopback("LocalHost"));
	assert_true(cx_http_is_loopback("::ffff:127.0.0.1"));
}

static void test_not_loopback(void **state)
{
	(void)state;
	assert_false(cx_http_is_loopback(NULL));
	assert_false(cx_http_is_loopback(""));
	assert_false(cx_http_is_loopback("128.0.0.1"));
	assert_false(cx_http_is_loopback("10.0.0.1"));
	assert_false(cx_http_is_loopback("0.0.0.0"));
	assert_false(cx_http_is_loopback("::"));
	assert_false(cx_http_is_loopback("[::2]"));
	assert_false(cx_http_is_loopback("::ffff:10.0.0.1"));
	/* A name that merely starts like a loopback one resolves anywhere. */
	assert_false(cx_http_is_loopback("localhost.evil.example"));
	assert_false(cx_http_is_loopback("127.0.0.1.evil.example"));
	assert_false(cx_http_is_loopback("[127.0.0.1"));
	assert_false(cx_http_is_loopback("[]"));
	assert_false(cx_http_is_loopback("127.0.0.1:8080"));
}

/* ---- host:port ---- */

static void expect_split(const char *v, const char *name, size_t hostlen, long port)
{
	char got[64];
	size_t hl = 99;
	long p = 99;

	assert_true(cx_http_split_hostport(v, got, sizeof(got), &hl, &p));
	assert_string_equal(got, name);
	assert_int_equal(hl, hostlen);
	assert_int_equal(p, port);
}

static void expect_no_split(const char *v)
{
	char got[64];
	size_t hl;
	long p;

	if (cx_http_split_hostport(v, got, sizeof(got), &hl, &p))
		fail_msg("'%s' was split into '%s' port %ld", v ? v : "(null)", got, p);
}

static void test_split_hostport(void **state)
{
	(void)state;
	expect_split("127.0.0.1:8080", "127.0.0.1", 9, 8080);
	expect_split("[::1]:8080", "::1", 5, 8080);
	expect_split("cortex.internal:443", "cortex.internal", 15, 443);
	expect_split("cortex.internal", "cortex.internal", 15, -1);
	expect_split("[::1]", "::1", 5, -1);
	expect_split("h:0", "h", 1, 0);
	expect_split("h:65535", "h", 1, 65535);
	/* Up to five digits pass the splitter; the range is the caller's (see listen). */
	expect_split("h:65536", "h", 1, 65536);
	expect_split("h:99999", "h", 1, 99999);
	expect_split("h:00080", "h", 1, 80);
}

static void test_split_hostport_refuses_junk(void **state)
{
	char small[4];
	size_t hl;
	long p;

	(void)state;
	expect_no_split(NULL);
	expect_no_split("");
	expect_no_split(":8080");
	expect_no_split("[]:8080");
	expect_no_split("h:");
	expect_no_split("h:123456");
	expect_no_split("h:80x");
	expect_no_split("h:-1");
	expect_no_split("h:+80");
	expect_no_split("h: 80");
	expect_no_split("h:80:81");
	expect_no_split("::1");
	expect_no_split("::1:8080");
	expect_no_split("[::1");
	expect_no_split("[::1]8080");
	expect_no_split("[::1]:");
	expect_no_split("[::1]:80]");
	/* A name that does not fit the buffer is refused, not cut. */
	assert_false(cx_http_split_hostport("abcd:80", small, sizeof(small), &hl, &p));
	assert_true(cx_http_split_hostport("abc:80", small, sizeof(small), &hl, &p));
}

/* ---- Host and Origin ---- */

static void test_host_allowed(void **state)
{
	char *allowed[] = { "cortex.internal:8080", "api.example", NULL };

	(void)state;
	assert_true(cx_http_host_allowed("127.0.0.1:8080", NULL));
	assert_true(cx_http_host_allowed("localhost", NULL));
	assert_true(cx_http_host_allowed("[::1]:8080", NULL));
	assert_true(cx_http_host_allowed("cortex.internal:8080", allowed));
	assert_true(cx_http_host_allowed("CORTEX.internal:8080", allowed));
	/* An entry without a port allows the host on any port. */
	assert_true(cx_http_host_allowed("api.example", allowed));
	assert_true(cx_http_host_allowed("api.example:443", allowed));
}

static void test_host_refused(void **state)
{
	char *allowed[] = { "cortex.internal:8080", NULL };

	(void)state;
	/* DNS rebinding: a page on evil.example resolving to 127.0.0.1 still says its name. */
	assert_false(cx_http_host_allowed("evil.example", NULL));
	assert_false(cx_http_host_allowed("evil.example:8080", allowed));
	assert_false(cx_http_host_allowed(NULL, allowed));
	assert_false(cx_http_host_allowed("", allowed));
	/* An entry with a port allows that port only. */
	assert_false(cx_http_host_allowed("cortex.internal:9090", allowed));
	assert_false(cx_http_host_allowed("cortex.internal", allowed));
	assert_false(cx_http_host_allowed("localhost.evil.example", NULL));
	assert_false(cx_http_host_allowed("127.0.0.1:80:80", NULL));
	assert_false(cx_http_host_allowed("10.0.0.5:8080", NULL));
}

static void test_origin_allowed(void **state)
{
	char *allowed[] = { "https://app.example", NULL };

	(void)state;
	assert_true(cx_http_origin_allowed("http://localhost:3000", NULL));
	assert_true(cx_http_origin_allowed("https://127.0.0.1", NULL));
	assert_true(cx_http_origin_allowed("HTTP://[::1]:8080", NULL));
	assert_true(cx_http_origin_allowed("https://app.example", allowed));
	assert_true(cx_http_origin_allowed("HTTPS://APP.example", allowed));
}

/* The console calling its own gateway: the Origin is the Host the browser sent. */
static void test_origin_is_host(void **state)
{
	(void)state;
	assert_true(cx_http_origin_is_host("http://cortex.example:8080", "cortex.example:8080"));
	assert_true(cx_http_origin_is_host("https://cortex.example", "cortex.example"));
	assert_true(cx_http_origin_is_host("HTTP://Cortex.Example:8080", "cortex.example:8080"));
	assert_true(cx_http_origin_is_host("http://[fd00::2]:8080", "[fd00::2]:8080"));
	assert_false(cx_http_origin_is_host("http://evil.example:8080", "cortex.example:8080"));
	assert_false(cx_http_origin_is_host("http://cortex.example", "cortex.example:8080"));
	assert_false(cx_http_origin_is_host("http://cortex.example:8080", "cortex.example"));
	assert_false(cx_http_origin_is_host("http://cortex.example:8080/", "cortex.example:8080"));
	assert_false(cx_http_origin_is_host("cortex.example:8080", "cortex.example:8080"));
	assert_false(cx_http_origin_is_host("ftp://cortex.example:8080", "cortex.example:8080"));
	assert_false(cx_http_origin_is_host("null", "null"));
	assert_false(cx_http_origin_is_host("http://", ""));
	assert_false(cx_http_origin_is_host(NULL, "cortex.example"));
	assert_false(cx_http_origin_is_host("http://cortex.example", NULL));
}

/* If-None-Match as browsers and caches send it (RFC 9110 13.1.2). */
static void test_etag_matches(void **state)
{
	const char *tag = "\"0123456789abcdef\"";

	(void)state;
	assert_true(cx_http_etag_matches("\"0123456789abcdef\"", tag));
	assert_true(cx_http_etag_matches("W/\"0123456789abcdef\"", tag));
	assert_true(cx_http_etag_matches("\"x\", \"0123456789abcdef\"", tag));
	assert_true(cx_http_etag_matches("\"x\",\"0123456789abcdef\" , \"y\"", tag));
	assert_true(cx_http_etag_matches("*", tag));
	assert_true(cx_http_etag_matches(" * ", tag));
	assert_false(cx_http_etag_matches(NULL, tag));
	assert_false(cx_http_etag_matches("", tag));
	assert_false(cx_http_etag_matches("\"0123456789abcde\"", tag));
	assert_false(cx_http_etag_matches("0123456789abcdef", tag));
	assert_false(cx_http_etag_matches("\"0123456789abcdef\"x", tag));
	assert_false(cx_http_etag_matches("W/", tag));
	assert_false(cx_http_etag_matches(",,, ", tag));
	assert_false(cx_http_etag_matches("**", tag));
}

static void test_origin_refused(void **state)
{
	char *allowed[] = { "https://app.example", NULL };

	(void)state;
	assert_false(cx_http_origin_allowed("https://evil.example", allowed));
	assert_false(cx_http_origin_allowed("http://app.example", allowed));
	assert_false(cx_http_origin_allowed("https://app.example:8443", allowed));
	assert_false(cx_http_origin_allowed("null", NULL));
	assert_false(cx_http_origin_allowed("", NULL));
	assert_false(cx_http_origin_allowed("ftp://localhost", NULL));
	assert_false(cx_http_origin_allowed("localhost", NULL));
	/* A path after the authority is not an origin. */
	assert_false(cx_http_origin_allowed("http://localhost/x", NULL));
	assert_false(cx_http_origin_allowed("http://localhost.evil.example", NULL));
}

/* ---- Accept and Content-Type ---- */

static void expect_accept(const char *accept, bool json, bool sse)
{
	bool j = !json, s = !sse;

	cx_http_parse_accept(accept, &j, &s);
	if (j != json || s != sse)
		fail_msg("Accept '%s': json %d sse %d, want %d %d", accept ? accept : "(null)", j,
			 s, json, sse);
}

static void test_accept(void **state)
{
	(void)state;
	expect_accept(NULL, false, false);
	expect_accept("", false, false);
	expect_accept("application/json", true, false);
	expect_accept("text/event-stream", false, true);
	expect_accept("application/json, text/event-stream", true, true);
	expect_accept("text/event-stream,application/json", true, true);
	expect_accept("*/*", true, true);
	expect_accept("application/*", true, false);
	expect_accept("text/*", false, true);
	expect_accept("Application/JSON, TEXT/Event-Stream", true, true);
	expect_accept("application/json;charset=utf-8 , text/event-stream; q=0.5", true, true);
	expect_accept("text/html, image/png", false, false);
	expect_accept("application/jsonx, text/event-streams", false, false);
}

static void test_accept_q_zero_refuses(void **state)
{
	(void)state;
	expect_accept("application/json;q=0, text/event-stream", false, true);
	expect_accept("application/json; q=0.000, text/event-stream", false, true);
	expect_accept("application/json, text/event-stream;Q=0", true, false);
	expect_accept("*/*;q=0", false, false);
	expect_accept("application/json;q=0;level=1, text/event-stream", false, true);
	expect_accept("application/json; q=0 , text/event-stream", false, true);
	expect_accept("application/json;q=0\t;level=1, text/event-stream", false, true);
	/* q=0 must be the whole value: q=0x is not a refusal (nor a valid weight). */
	expect_accept("application/json;q=0x, text/event-stream", true, true);
	/* q=0.1 and q=1 are preferences, not refusals. */
	expect_accept("application/json;q=0.1, text/event-stream;q=1", true, true);
	expect_accept("application/json;q=0.01", true, false);
}

static void test_content_type(void **state)
{
	(void)state;
	assert_true(cx_http_content_type_is_json("application/json"));
	assert_true(cx_http_content_type_is_json("application/json; charset=utf-8"));
	assert_true(cx_http_content_type_is_json(" Application/Json ;charset=UTF-8"));
	assert_false(cx_http_content_type_is_json(NULL));
	assert_false(cx_http_content_type_is_json(""));
	assert_false(cx_http_content_type_is_json("text/plain"));
	assert_false(cx_http_content_type_is_json("application/json-seq"));
	assert_false(cx_http_content_type_is_json("application/x-www-form-urlencoded"));
	assert_false(cx_http_content_type_is_json("application/json, text/plain"));
}

static void test_method_listed(void **state)
{
	(void)state;
	assert_true(cx_http_method_listed("GET, POST, DELETE", "GET"));
	assert_true(cx_http_method_listed("GET, POST, DELETE", "POST"));
	assert_true(cx_http_method_listed("GET, POST, DELETE", "DELETE"));
	assert_true(cx_http_method_listed("GET,HEAD", "HEAD"));
	assert_false(cx_http_method_listed("GET, POST, DELETE", "PUT"));
	assert_false(cx_http_method_listed("GET, POST, DELETE", "get"));
	assert_false(cx_http_method_listed("GET, POST, DELETE", "GE"));
	assert_false(cx_http_method_listed("GET, POST, DELETE", "POST, DELETE"));
	assert_false(cx_http_method_listed("GET, HEAD", ""));
	assert_false(cx_http_method_listed("", "GET"));
}

/* ---- the stateless revision's headers ---- */

/* A request's headers as a table: names compare case-insensitively, as in HTTP. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_names_and_addresses),
		cmocka_unit_test(test_not_loopback),
		cmocka_unit_test(test_split_hostport),
		cmocka_unit_test(test_split_hostport_refuses_junk),
		cmocka_unit_test(test_host_allowed),
		cmocka_unit_test(test_host_refused),
		cmocka_unit_test(test_origin_allowed),
		cmocka_unit_test(test_origin_refused),
		cmocka_unit_test(test_origin_is_host),
		cmocka_unit_test(test_etag_matches),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_accept_q_zero_refuses),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_method_listed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
