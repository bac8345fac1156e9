/* cx_json_alloc_init: jansson on the per-thread block cache. Values of every size class and
 * past it are built, checked and freed, on several threads at once and across threads (built
 * on one, freed on another), and json_dumps' strings are freed with plain free(). Under
 * AddressSanitizer the cache is not installed and this runs on plain malloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "../../common/json.h"

/* A document with strings of every length up to 400 bytes and objects of many sizes. */
static json_t *build(int seed)
{
	json_t *root = json_object();
	char s[401];

	for (int i = 0; i <= 400; i += 7) {
		json_t *o = json_object();
		memset(s, 'a' + (i + seed) % 26, (size_t)i);
		s[i] = '\0';
		for (int k = 0; k < i % 23; k++) {
			char key[16];
			snprintf(key, sizeof(key), "k%d", k);
			json_object_set_new(o, key, json_integer(k * seed));
		}
		json_object_set_new(o, "s", json_string(s));
		snprintf(s, sizeof(s), "n%d", i);
		json_object_set_new(root, s, o);
	}
	return root;
}

static void check(const json_t *v, int seed)
{
	const json_t *o = json_object_get(v, "n399");

	assert_non_null(o);
	assert_int_equal(json_string_length(json_object_get(o, "s")), 399);
	assert_int_equal(json_integer_value(json_object_get(o, "k4")), 4 * seed);
}

static void *churn(void *arg)
{
	int seed = (int)(intptr_t)arg;

	for (int round = 0; round < 200; round++) {
		json_t *v = build(seed + round);
		char *text = json_dumps(v, JSON_COMPACT);
		check(v, seed + round);
		assert_non_null(text);
		free(text); /* jansson's allocator, freed with free() */
		json_decref(v);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(intptr_t)(i + 1)), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

static void *free_it(void *arg)
{
	json_decref(arg);
	return NULL;
}

/* Built here, freed on a thread that then exits (its cache is freed with it). */
static void test_across_threads(void **state)
{
	for (int i = 0; i < 50; i++) {
		json_t *v = build(i);
		pthread_t t;
		check(v, i);
		assert_int_equal(pthread_create(&t, NULL, free_it, v), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
	}
	/* And the other way round: blocks another thread freed serve this one. */
	for (int i = 0; i < 50; i++) {
		json_t *v = build(i + 100);
		check(v, i + 100);
		json_decref(v);
	}
}

/* Parsing and writing on the cache. */
static void test_parse_and_dump(void **state)
{
	const char *doc = "{\"a\":[1,2,{\"b\":\"x\"}]}";
	json_t *v = cx_json_parse(doc, strlen(doc), NULL);
	char *s;

	assert_non_null(v);
	s = cx_json_dumps(v, NULL);
	assert_string_equal(s, "{\"a\":[1,2,{\"b\":\"x\"}]}");
	free(s);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_across_threads),
		cmocka_unit_test(test_parse_and_dump),
	};

	cx_json_alloc_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
