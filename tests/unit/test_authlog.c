/* Refused requests in the log: a burst per minute, then a count of what was left out, so a
 * flood of bad tokens cannot fill the disk; the bearer header parsed the one way admit() and
 * the log both use; client-sent values made safe to print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../gateway/authlog.h"

static void test_burst_then_quiet(void **state)
{
	struct cx_ratelimit rl = { 0 };
	unsigned long dropped = 99;
	int64_t t = 1000000;
	int i, logged = 0;

	for (i = 0; i < 1000; i++) {
		if (cx_ratelimit_admit(&rl, t + i, &dropped)) {
			logged++;
			assert_int_equal(dropped, 0);
		}
	}
	assert_int_equal(logged, CX_AUTHLOG_BURST);

	/* Still inside the window: nothing more. */
	assert_false(cx_ratelimit_admit(&rl, t + CX_AUTHLOG_WINDOW_MS - 1, &dropped));

	/* The next window logs again and reports how many were left out. */
	assert_true(cx_ratelimit_admit(&rl, t + CX_AUTHLOG_WINDOW_MS, &dropped));
	assert_int_equal(dropped, 1000 - CX_AUTHLOG_BURST + 1);
	assert_true(cx_ratelimit_admit(&rl, t + CX_AUTHLOG_WINDOW_MS + 1, &dropped));
	assert_int_equal(dropped, 0);
}

static void test_slow_refusals_are_all_logged(void **state)
{
	struct cx_ratelimit rl = { 0 };
	unsigned long dropped;
	int64_t t = 5;

	/* One refusal every 10 s for an hour: every one is logged. */
	for (int i = 0; i < 360; i++, t += 10000) {
		assert_true(cx_ratelimit_admit(&rl, t, &dropped));
		assert_int_equal(dropped, 0);
	}
}

static void test_clock_going_back_starts_a_window(void **state)
{
	struct cx_ratelimit rl = { 0 };
	unsigned long dropped;

	for (int i = 0; i < CX_AUTHLOG_BURST + 5; i++)
		cx_ratelimit_admit(&rl, 100000, &dropped);
	assert_true(cx_ratelimit_admit(&rl, 50, &dropped));
	assert_int_equal(dropped, 5);
}

static void test_bearer(void **state)
{
	assert_string_equal(cx_auth_bearer("Bearer abc"), "abc");
	assert_string_equal(cx_auth_bearer("bearer \t abc def"), "abc def");
	assert_string_equal(cx_auth_bearer("BEARER\tx"), "x");
	assert_null(cx_auth_bearer(NULL));
	assert_null(cx_auth_bearer("Bearer"));
	assert_null(cx_auth_bearer("Bearer   "));
	assert_null(cx_auth_bearer("Bearerabc"));
	assert_null(cx_auth_bearer("Basic dXNlcjpwYXNz"));
}

static void test_sanitize(void **state)
{
	char out[16];

	cx_authlog_sanitize("evil.example:80", out, sizeof(out));
	assert_string_equal(out, "evil.example:80");
	/* A header cannot forge a log line. */
	cx_authlog_sanitize("a\nb\r\x1b[31m", out, sizeof(out));
	assert_string_equal(out, "a?b??[31m");
	cx_authlog_sanitize("0123456789abcdefghij", out, sizeof(out));
	assert_string_equal(out, "0123456789ab...");
	cx_authlog_sanitize("\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "??");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_quiet),
		cmocka_unit_test(test_slow_refusals_are_all_logged),
		cmocka_unit_test(test_clock_going_back_starts_a_window),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_sanitize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
