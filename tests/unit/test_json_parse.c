/* cx_json_parse, the parser behind cx_json_loadb, held to jansson's json_loadb(
 * JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL): the same documents accepted with the same values,
 * the same refused — on hand-picked edge cases and on many random mutations of real ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/json.h"

static const int flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;

/* Both parsers on buf: the same verdict, and equal values when both accept. */
static int accepted, refused;

static void same_as_jansson(const char *buf, size_t len)
{
	struct cx_err err = { 0 };
	json_t *mine = cx_json_parse(buf, len, &err);
	json_t *theirs = json_loadb(buf, len, flags, NULL);

	/* jansson's one laxity: a raw NUL byte right after a number or a literal ("[1\0]") is
	 * skipped. No JSON text holds a raw NUL outside a string, so refusing it is right. */
	if (!mine && theirs && memchr(buf, '\0', len)) {
		json_decref(theirs);
		return;
	}
	if (!mine != !theirs || (mine && !json_equal(mine, theirs)))
		fail_msg("differs from jansson on %zu bytes '%.*s': cortex %s (%s), jansson %s",
			 len, (int)(len > 200 ? 200 : len), buf, mine ? "accepts" : "refuses",
			 err.msg, theirs ? "accepts" : "refuses");
	if (!mine)
		assert_non_null(strstr(err.msg, "line "));
	mine ? accepted++ : refused++;
	json_decref(mine);
	json_decref(theirs);
}

static void check(const char *s)
{
	same_as_jansson(s, strlen(s));
}

static const char *const cases[] = {
	/* accepted */
	"{}",
	"[]",
	" \t\r\n[ ] \n",
	"[0]",
	"[-0]",
	"[-0.0]",
	"[1.5e3]",
	"[1E-2]",
	"[1e+2]",
	"[9223372036854775807]",
	"[-9223372036854775808]",
	"[1e308]",
	"[1e-400]",
	"[0.1]",
	"[123456789012345678901234567890.5]",
	"[true,false,null]",
	"{\"a\":{\"b\":[1,{\"c\":null}]}}",
	"[\"\"]",
	"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
	"[\"\\u0041\\u00e9\\u20ac\"]",
	"[\"\\ud83d\\ude00\"]",
	"[\"\\u0000\"]",
	"[\"a\\u0000b\"]",
	"[\"é€😀\"]",
	"{\"é\":1,\"e\":2}",
	"{\"\\u00e9\":1}",
	"{\"a\":1,\"b\":2,\"c\":3}",
	"{\"data\":[{\"vmid\":100,\"cpu\":0.031,\"tags\":\"prod;web\",\"template\":false}]}",
	/* refused */
	"",
	" ",
	"1",
	"\"a\"",
	"true",
	"null",
	"[",
	"]",
	"{",
	"[1,]",
	"[,1]",
	"{\"a\"}",
	"{\"a\":}",
	"{\"a\":1,}",
	"{a:1}",
	"{'a':1}",
	"[01]",
	"[-]",
	"[-01]",
	"[1.]",
	"[.5]",
	"[1e]",
	"[1e+]",
	"[+1]",
	"[0x10]",
	"[NaN]",
	"[Infinity]",
	"[1e400]",
	"[-1e400]",
	"[9223372036854775808]",
	"[-9223372036854775809]",
	"[tru]",
	"[truex]",
	"[nul]",
	"[\"\\x\"]",
	"[\"\\u12\"]",
	"[\"\\u12g4\"]",
	"[\"\\ud800\"]",
	"[\"\\udc00\"]",
	"[\"\\ud800\\u0041\"]",
	"[\"a\nb\"]",
	"[\"a\tb\"]",
	"[\"abc]",
	"[\"\\",
	"{\"a\":1,\"a\":2}",
	"{\"a\\u0000\":1}",
	"[] []",
	"[]x",
	"{}{}",
	"[1 2]",
	"{\"a\" 1}",
	"[\"\xc3\"]",
	"[\"\xc0\xaf\"]",
	"[\"\xed\xa0\x80\"]",
	"[\"\xf4\x90\x80\x80\"]",
	"[\"\xff\"]",
	"[\"\xe2\x82\"]",
	"\xef\xbb\xbf[]",
	"[1]\x00",
};

static void test_edge_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(cases[i]);
	/* A NUL byte inside the buffer, in a string and between tokens. */
	same_as_jansson("[\"a\0b\"]", 7);
	same_as_jansson("[1,\0 2]", 7);
	assert_null(cx_json_parse("[1\0]", 4, NULL));
}

static void test_depth_limit(void **state)
{
	static char deep[2 * 2100 + 1];

	for (int n = 2047; n <= 2050; n++) {
		memset(deep, '[', (size_t)n);
		memset(deep + n, ']', (size_t)n);
		same_as_jansson(deep, 2 * (size_t)n);
	}
}

static void test_error_position(void **state)
{
	struct cx_err err = { 0 };

	assert_null(cx_json_parse("{\n  \"a\": 1,\n  \"a\": 2\n}", 22, &err));
	assert_non_null(strstr(err.msg, "line 3"));
	assert_non_null(strstr(err.msg, "duplicate object key"));
	assert_null(cx_json_parse("[1,\n 2,\n x]", 11, &err));
	assert_non_null(strstr(err.msg, "line 3 column 2"));
}

static void test_long_keys_and_strings(void **state)
{
	static char doc[70000];
	size_t n = 0;

	/* Keys past the on-stack copy, decoded (escapes) and plain, and a long escaped value. */
	n += (size_t)sprintf(doc + n, "{\"");
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(doc + n, "k\\u00e9");
	n += (size_t)sprintf(doc + n, "\":\"");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(doc + n, "v\\n\\\"");
	n += (size_t)sprintf(doc + n, "\",\"");
	for (int i = 0; i < 300; i++)
		doc[n++] = 'p';
	n += (size_t)sprintf(doc + n, "\":1}");
	same_as_jansson(doc, n);
}

/* Random mutations of real documents: replaced, inserted and deleted bytes drawn from what
 * JSON is made of, so most mutants sit near the grammar's edges. */
static const char *const seeds[] = {
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	"\"proxmox_list_vms\",\"arguments\":{\"node\":\"pve1\",\"status\":\"running\"}}}",
	"{\"data\":[{\"vmid\":100,\"name\":\"web01\",\"cpu\":0.031,\"maxmem\":4294967296,"
	"\"template\":false,\"tags\":\"prod;web\",\"uptime\":3700},{\"vmid\":-1,\"x\":1e-7}]}",
	"{\"success\":true,\"errors\":[],\"result\":[{\"id\":\"372e\",\"content\":\"\\u00e9\\n\","
	"\"ttl\":1,\"proxied\":null}],\"result_info\":{\"page\":1,\"per_page\":20}}",
	"[\"\\ud83d\\ude00 é € \\\\ \\/ \\t\",[[],{}],-0.5E+3,true,null]",
};

static void test_random_mutations(void **state)
{
	static const char alphabet[] =
		"{}[]:,\"\\/ -+.0123456789eEutrfalsn\n\t\x00\xc3\xa9\xed\xff";
	unsigned long long x = 0x9e3779b97f4a7c15ULL;
	char buf[512];

	accepted = refused = 0;
	for (int round = 0; round < 200000; round++) {
		const char *seed = seeds[round % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(seed);
		int edits;

		memcpy(buf, seed, len);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		edits = 1 + (int)(x % 3);
		for (int e = 0; e < edits; e++) {
			size_t pos, what;
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			pos = (size_t)(x % (len + 1));
			what = (size_t)((x >> 20) % (sizeof(alphabet) - 1));
			switch ((x >> 40) % 3) {
			case 0:
				if (pos < len)
					buf[pos] = alphabet[what];
				break;
			case 1:
				if (len + 1 < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = alphabet[what];
					len++;
				}
				break;
			default:
				if (pos < len) {
					memmove(buf + pos, buf + pos + 1, len - pos - 1);
					len--;
				}
			}
		}
		same_as_jansson(buf, len);
	}
	/* Both sides of the grammar's edge were explored, not only one. */
	assert_true(accepted > 10000);
	assert_true(refused > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_error_position),
		cmocka_unit_test(test_long_keys_and_strings),
		cmocka_unit_test(test_random_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
