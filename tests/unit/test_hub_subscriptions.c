/* Resource subscriptions in the hub, as resources/subscribe and the task routes use them: an
 * exact URI reaches only its own updates; a prefix (GET /v1/events, every cortex://tasks/ URI)
 * reaches every URI under it and nothing else; subscribing twice is once; unsubscribing and a
 * session's end stop them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gateway/channel.h"

struct seen {
	char keys[8][17];
	size_t n;
};

static void collect(void *ctx, const char *fp)
{
	struct seen *s = ctx;

	if (s->n < 8)
		snprintf(s->keys[s->n++], sizeof(s->keys[0]), "%s", fp);
}

/* The keys subscribed to uri, sorted and joined by spaces. */
static const char *who(struct cx_hub *h, const char *uri)
{
	static char out[160];
	struct seen s = { 0 };
	size_t used = 0;

	cx_hub_each_subscriber(h, uri, collect, &s);
	qsort(s.keys, s.n, sizeof(s.keys[0]), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < s.n; i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", i ? " " : "",
					 s.keys[i]);
	return out;
}

static void test_exact_and_prefix(void **state)
{
	struct cx_hub *h = cx_hub_new(3600);

	(void)state;
	assert_non_null(h);
	assert_int_equal(cx_hub_subscribe(h, "aaaa", "cortex://tasks/t-1"), 0);
	assert_int_equal(cx_hub_subscribe_prefix(h, "f0001", "cortex://tasks/"), 0);
	assert_int_equal(cx_hub_subscribe_prefix(h, "f0001", "cortex://tasks/"), 0);
	assert_string_equal(who(h, "cortex://tasks/t-1"), "aaaa f0001");
	assert_string_equal(who(h, "cortex://tasks/t-2"), "f0001");
	assert_string_equal(who(h, "cortex://tasks/"), "f0001");
	assert_string_equal(who(h, "cortex://task"), "");
	assert_string_equal(who(h, "proxmox://nodes/pve1"), "");
	/* An exact subscription is not a prefix, even to a URI that starts with it. */
	assert_string_equal(who(h, "cortex://tasks/t-10"), "f0001");
	/* The same text as exact and as prefix are two subscriptions. */
	assert_int_equal(cx_hub_subscribe(h, "bbbb", "cortex://tasks/"), 0);
	assert_string_equal(who(h, "cortex://tasks/t-3"), "f0001");
	assert_string_equal(who(h, "cortex://tasks/"), "bbbb f0001");

	cx_hub_unsubscribe(h, "f0001", "cortex://tasks/");
	assert_string_equal(who(h, "cortex://tasks/t-2"), "");
	assert_string_equal(who(h, "cortex://tasks/t-1"), "aaaa");
	assert_int_equal(cx_hub_subscribe_prefix(h, "f0002", "cortex://tasks/"), 0);
	cx_hub_forget(h, "f0002");
	assert_string_equal(who(h, "cortex://tasks/t-2"), "");
	cx_hub_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_and_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
