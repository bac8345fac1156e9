/* cx_json_parse_pick, the parser that builds only the members a tool keeps: it accepts and
 * refuses exactly what cx_json_parse does (held to jansson by test_json_parse.c), and what it
 * builds is the full parse with every other member of the picked depth's objects removed —
 * on hand-picked cases, on duplicate keys among the dropped members (spans, the set past
 * them, escaped keys), and on many random mutations of backend answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/json.h"

static const char *const vm_keys[] = { "vmid", "name", "node", "type", "status", "cpu", NULL };

static bool kept(const char *key)
{
	for (size_t i = 0; vm_keys[i]; i++) {
		if (!strcmp(vm_keys[i], key))
			return true;
	}
	return false;
}

/* v with the members not in vm_keys removed from every object at depth (v is depth 1). */
static void prune(json_t *v, int depth, int at)
{
	const char *key;
	json_t *item;
	void *tmp;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, key, item) {
			if (at == depth && !kept(key))
				json_object_del(v, key);
			else
				prune(item, depth, at + 1);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			prune(item, depth, at + 1);
	}
}

static int accepted, refused;

/* The picked parse of buf at depth: the same verdict as the full parse, and the full parse
 * pruned when both accept. */
static void same_as_pruned(const char *buf, size_t len, int depth)
{
	const struct cx_json_pick pick = { depth, vm_keys };
	struct cx_err e1 = { 0 }, e2 = { 0 };
	json_t *full = cx_json_parse(buf, len, &e1);
	json_t *picked = cx_json_parse_pick(buf, len, &pick, &e2);

	if (full)
		prune(full, depth, 1);
	if (!full != !picked || (full && !json_equal(full, picked)))
		fail_msg("picked parse (depth %d) differs on %zu bytes '%.*s': full %s (%s), "
			 "picked %s (%s)",
			 depth, len, (int)(len > 200 ? 200 : len), buf,
			 full ? "accepts" : "refuses", e1.msg, picked ? "accepts" : "refuses",
			 e2.msg);
	full ? accepted++ : refused++;
	json_decref(full);
	json_decref(picked);
}

static const char *const cases[] = {
	"{}",
	"[]",
	"{\"data\":[]}",
	"{\"data\":[{}]}",
	"{\"data\":[{\"vmid\":100,\"name\":\"web01\",\"netin\":4440000,\"cpu\":0.031,"
	"\"tags\":\"prod;web\",\"template\":false,\"type\":\"qemu\",\"x\":{\"a\":[1,2]}}]}",
	"{\"data\":[{\"vmid\":1,\"big\":1e400}]}",
	"{\"data\":[{\"vmid\":1,\"big\":9223372036854775808}]}",
	"{\"data\":[{\"vmid\":1,\"bad\":\"\xff\"}]}",
	"{\"data\":[{\"vmid\":1,\"bad\":\"\\x\"}]}",
	"{\"data\":[{\"vmid\":1,\"nested\":{\"a\":1,\"a\":2}}]}",
	"{\"data\":[{\"vmid\":1,\"nul\\u0000\":1}]}",
	"{\"data\":[{\"vmid\":1,\"esc\\u00e9\":1,\"name\":\"a\"}]}",
	"{\"data\":[{\"n\\u0061me\":\"kept through an escape\"}]}",
	"{\"data\":[{\"vmid\":1,\"vmid\":2}]}",
	"{\"data\":[{\"name\":\"a\",\"n\\u0061me\":\"b\"}]}",
	"{\"data\":[{\"vmid\":1,\"name\":\"a\"},{\"vmid\":2,\"name\":\"b\"}]}",
	"{\"data\":[{\"tags\":\"a\",\"tags\":\"b\"}]}",
	"{\"data\":[{\"t\\u0061gs\":\"a\",\"tags\":\"b\"}]}",
	"{\"data\":[{\"tags\":\"a\",\"t\\u0061gs\":\"b\"}]}",
	"{\"data\":[{\"tags\" \"a\"}]}",
	"{\"data\":[{\"tags\":}]}",
	"{\"data\":[{\"tags\":1,}]}",
	"{\"data\":[{\"tags\":-}]}",
	"{\"data\":[{\"tags\":01}]}",
	"{\"data\":[{\"tags\":tru}]}",
	"{\"data\":[{\"tags\":[1,]}]}",
	"{\"data\":[{\"\":1,\"\":2}]}",
	"{\"data\":[{\"\":1}]}",
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int depth = 1; depth <= 4; depth++)
			same_as_pruned(cases[i], strlen(cases[i]), depth);
	}
}

/* The members built are the ones named, and the values are the same objects' values. */
static void test_builds_only_the_named(void **state)
{
	const char *doc = "{\"data\":[{\"vmid\":100,\"netin\":4440000,\"name\":\"web01\","
			  "\"diskread\":1.5,\"type\":\"lxc\",\"tags\":\"a;b\"}],\"message\":\"m\"}";
	const struct cx_json_pick pick = { 3, vm_keys };
	json_t *v = cx_json_parse_pick(doc, strlen(doc), &pick, NULL);
	json_t *vm = json_array_get(json_object_get(v, "data"), 0);

	assert_non_null(vm);
	assert_int_equal(json_object_size(vm), 3);
	assert_int_equal(json_integer_value(json_object_get(vm, "vmid")), 100);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), "web01");
	assert_string_equal(json_string_value(json_object_get(vm, "type")), "lxc");
	/* Other depths are whole. */
	assert_string_equal(json_string_value(json_object_get(v, "message")), "m");
	json_decref(v);
}

/* Duplicates among dropped keys are refused wherever they are kept: the first spans, the set
 * past them, and keys decoded from escapes. */
static void test_dropped_duplicates(void **state)
{
	const struct cx_json_pick pick = { 1, vm_keys };
	char doc[4096];
	size_t n;

	for (int dup = 0; dup < 40; dup++) {
		for (int later = dup + 1; later <= 40; later += 13) {
			n = (size_t)snprintf(doc, sizeof(doc), "{");
			for (int i = 0; i <= 40; i++)
				n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s\"k%d\":%d",
						      i ? "," : "", i == later ? dup : i, i);
			n += (size_t)snprintf(doc + n, sizeof(doc) - n, "}");
			assert_null(cx_json_parse_pick(doc, n, &pick, NULL));
			same_as_pruned(doc, n, 1);
		}
	}
	/* Without the duplicate, the same shape is accepted and nothing is built. */
	n = (size_t)snprintf(doc, sizeof(doc), "{");
	for (int i = 0; i <= 40; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
	n += (size_t)snprintf(doc + n, sizeof(doc) - n, "}");
	json_t *v = cx_json_parse_pick(doc, n, &pick, NULL);
	assert_non_null(v);
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
}

static const char *const seeds[] = {
	"{\"data\":[{\"vmid\":100,\"name\":\"web01\",\"status\":\"running\",\"cpu\":0.031,"
	"\"maxmem\":4294967296,\"tags\":\"prod;web\",\"template\":false,\"id\":\"qemu/100\","
	"\"type\":\"qemu\",\"node\":\"pve1\"},{\"vmid\":200,\"type\":\"lxc\",\"disk\":0}]}",
	"{\"data\":[{\"a\":[1,{\"b\":null}],\"name\":\"\\u00e9\\n\",\"x\":-0.5E+3,\"y\":true}]}",
	"{\"data\":null,\"errors\":{\"vmid\":\"invalid\"},\"message\":\"bad\\n\"}",
};

static void test_random_mutations(void **state)
{
	static const char alphabet[] = "{}[]:,\"\\/ -+.0123456789eEutrfalsn\n\x00\xc3\xa9\xff";
	unsigned long long x = 0x2545f4914f6cdd1dULL;
	char buf[512];

	accepted = refused = 0;
	for (int round = 0; round < 60000; round++) {
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
			if ((x >> 40) % 2 == 0 && pos < len) {
				buf[pos] = alphabet[what];
			} else if (len + 1 < sizeof(buf)) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = alphabet[what];
				len++;
			}
		}
		same_as_pruned(buf, len, 1 + (int)((x >> 50) % 3));
	}
	assert_true(accepted > 3000);
	assert_true(refused > 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_builds_only_the_named),
		cmocka_unit_test(test_dropped_duplicates),
		cmocka_unit_test(test_random_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
