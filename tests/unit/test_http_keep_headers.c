/* The HTTP client hands back the response headers a request asks for (keep_headers): their
 * values in the order asked, NULL for one the answer lacks, nothing when none is asked, and
 * nothing past CX_HTTP_KEEP_MAX; release frees them. The UniFi adapter's session cookie and
 * CSRF token come this way (tests/integration/unifi.test.mjs drives that end to end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "../../common/http_client.h"
#include "http_test_server.h"

static void test_kept_in_order_absent_null(void **state)
{
	static const char *const keep[] = { "X-Not-There", "retry-after", "Content-Type", NULL };
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_req req = { .method = "GET", .path = "/limited?s=7", .keep_headers = keep };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 429);
	assert_null(resp.kept[0]);
	assert_non_null(resp.kept[1]); /* names are matched without regard to case */
	assert_string_equal(resp.kept[1], "7");
	assert_non_null(resp.kept[2]);
	assert_string_equal(resp.kept[2], "application/json");
	assert_null(resp.kept[3]);
	cx_http_resp_release(&resp);
	for (int i = 0; i < CX_HTTP_KEEP_MAX; i++)
		assert_null(resp.kept[i]);
	cx_http_client_free(c);
}

static void test_nothing_kept_unless_asked(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(hts_get(c, NULL, "/limited?s=3", &resp, &err), 0);
	assert_int_equal(resp.status, 429);
	for (int i = 0; i < CX_HTTP_KEEP_MAX; i++)
		assert_null(resp.kept[i]);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_no_more_than_the_maximum(void **state)
{
	static const char *const keep[] = { "A", "B", "C", "D", "Content-Type", NULL };
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_req req = { .method = "GET", .path = "/json", .keep_headers = keep };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(CX_HTTP_KEEP_MAX, 4);
	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	for (int i = 0; i < CX_HTTP_KEEP_MAX; i++)
		assert_null(resp.kept[i]); /* the fifth name is never looked at */
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_kept_in_order_absent_null, hts_reset_both),
		cmocka_unit_test_setup(test_nothing_kept_unless_asked, hts_reset_both),
		cmocka_unit_test_setup(test_no_more_than_the_maximum, hts_reset_both),
	};

	signal(SIGPIPE, SIG_IGN);
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, hts_servers_up, hts_servers_down);
}
