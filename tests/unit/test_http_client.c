/* The adapters' HTTP client against real servers on 127.0.0.1 (tests/unit/http_test_server.c):
 * answers and JSON, reused connections (from many threads too), retries only where safe and
 * never past the deadline, Retry-After, a deadline and a cancellation that end the transfer at
 * once, and the response cap. TLS, sentences and secrets: test_http_client_tls.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/http_client.h"
#include "../../common/log.h"
#include "../../common/util.h"
#include "http_test_server.h"

/* ---- answers ---- */

static void test_get_json(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(hts_get(c, NULL, "/json?full=1", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_s, -1);
	assert_string_equal(resp.body, "{\"data\":{\"ok\":true,\"n\":1}}");
	assert_int_equal(resp.body_len, strlen(resp.body));
	assert_non_null(resp.json);
	assert_true(json_is_true(json_object_get(json_object_get(resp.json, "data"), "ok")));
	/* The headers the caller gave reached the server, with our user agent. */
	hts_assert_contains(hts_plain.headers, "PVEAPIToken=x!y=SECRET123");
	hts_assert_contains(hts_plain.headers, "cortex-gateway/");
	cx_http_resp_release(&resp);
	assert_null(resp.body);
	cx_http_client_free(c);
}

static void test_post_body_and_content_type(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_req req = { .method = "POST",
				   .path = "/json",
				   .body = "{\"a\":1}",
				   .body_len = 7 };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	hts_assert_contains(hts_plain.headers, "Content-Type: application/json");
	hts_assert_contains(hts_plain.headers, "Content-Length: 7");
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_invalid_json_leaves_json_null(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(hts_get(c, NULL, "/badjson", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "{not json");
	assert_null(resp.json);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_keepalive_reuses_one_connection(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	for (int i = 0; i < 5; i++) {
		assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), 0);
		assert_int_equal(resp.status, 200);
		cx_http_resp_release(&resp);
	}
	assert_int_equal(atomic_load(&hts_plain.requests), 5);
	assert_int_equal(atomic_load(&hts_plain.started), 1);
	cx_http_client_free(c);
}

/* Workers share one client: each call takes a pooled handle, so calls from many threads at
 * once all succeed, and connections are still reused (at most one per pooled handle). Under
 * load, sharing libcurl's connection cache across handles used by different threads corrupted
 * the heap (found by the backend benchmark); this drives the same pattern. */
#define SHARED_THREADS 8
#define SHARED_CALLS   250

struct shared_run {
	struct cx_http_client *c;
	int ok;
};

static void *shared_worker(void *arg)
{
	struct shared_run *r = arg;

	for (int i = 0; i < SHARED_CALLS; i++) {
		struct cx_http_resp resp;
		struct cx_err err = { 0 };

		if (!hts_get(r->c, NULL, "/json", &resp, &err)) {
			r->ok += resp.status == 200 && resp.json != NULL;
			cx_http_resp_release(&resp);
		}
	}
	return NULL;
}

static void test_threads_share_one_client(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct shared_run runs[SHARED_THREADS];
	pthread_t t[SHARED_THREADS];

	for (int i = 0; i < SHARED_THREADS; i++) {
		runs[i] = (struct shared_run){ .c = c };
		assert_int_equal(pthread_create(&t[i], NULL, shared_worker, &runs[i]), 0);
	}
	for (int i = 0; i < SHARED_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(runs[i].ok, SHARED_CALLS);
	}
	assert_int_equal(atomic_load(&hts_plain.requests), SHARED_THREADS * SHARED_CALLS);
	assert_true(atomic_load(&hts_plain.started) <= SHARED_THREADS + 2);
	cx_http_client_free(c);
}

/* ---- retries ---- */

static void test_get_retried_on_503(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 3, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(hts_get(c, NULL, "/flaky", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 3);
	assert_int_equal(atomic_load(&hts_plain.hits), 3);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retries_are_bounded(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 1, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	/* One retry allowed: the second 503 is the answer. */
	assert_int_equal(hts_get(c, NULL, "/flaky", &resp, &err), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.attempts, 2);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_post_not_retried_unless_idempotent(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 3, NULL, NULL, false);
	struct cx_http_req req = { .method = "POST",
				   .path = "/flaky",
				   .body = "{}",
				   .body_len = 2 };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(atomic_load(&hts_plain.hits), 1);
	cx_http_resp_release(&resp);

	atomic_store(&hts_plain.hits, 0);
	req.idempotent = true;
	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 3);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retry_after_seconds_honoured(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0;

	hts_call_init(&tc, 5000);
	t0 = cx_now_ms();
	assert_int_equal(hts_get(c, &tc.call, "/limited?s=1", &resp, &err), 0);
	assert_true(cx_now_ms() - t0 >= 1000);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 2);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retry_after_date_honoured(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0;

	hts_call_init(&tc, 6000);
	t0 = cx_now_ms();
	assert_int_equal(hts_get(c, &tc.call, "/limited?date=2", &resp, &err), 0);
	/* An HTTP date has whole seconds: 2 s ahead is at least 1 s away. */
	assert_true(cx_now_ms() - t0 >= 1000);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 2);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retry_after_past_deadline_not_waited(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct cx_http_req req = { .method = "GET", .path = "/limited?s=30" };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0;

	hts_call_init(&tc, 2000);
	t0 = cx_now_ms();
	assert_int_equal(cx_http_do(c, &tc.call, 0, &req, &resp, &err), 0);
	assert_true(cx_now_ms() - t0 < 500);
	assert_int_equal(resp.status, 429);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_s, 30);
	cx_http_fail(c, &req, &resp, NULL, NULL, &err);
	assert_string_equal(err.msg, "testsvc answered 429 Too Many Requests to GET /limited; "
				     "rate-limited by testsvc; retry after 30 s");
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_connection_refused_said(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct cx_http_client_opts o = { .service = "testsvc", .retries = 2 };
	struct cx_http_client *c;
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	char url[64], want[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port nobody listens on: bound once, then released. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api", ntohs(sa.sin_port));
	o.base_url = url;
	c = cx_http_client_new(&o, &err);
	assert_non_null(c);
	assert_int_equal(hts_get(c, NULL, "/json?ticket=SECRET123", &resp, &err), -1);
	snprintf(want, sizeof(want),
		 "could not connect to testsvc at 127.0.0.1:%d: connection refused",
		 ntohs(sa.sin_port));
	hts_assert_contains(err.msg, want);
	assert_null(strstr(err.msg, "SECRET123"));
	assert_null(resp.body);
	cx_http_client_free(c);
}

/* ---- deadline, cancellation, cap ---- */

static void test_deadline_bounds_a_slow_answer(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0, took;

	hts_call_init(&tc, 300);
	t0 = cx_now_ms();
	assert_int_equal(hts_get(c, &tc.call, "/slow", &resp, &err), -1);
	took = cx_now_ms() - t0;
	assert_true(took >= 250);
	assert_true(took < 500);
	hts_assert_contains(err.msg, "testsvc at 127.0.0.1:");
	hts_assert_contains(err.msg, "did not answer within");
	hts_assert_contains(err.msg, "check gateway_status, then retry");
	cx_http_client_free(c);
}

struct canceller {
	atomic_bool *flag;
	int64_t at;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;

	hts_sleep_ms(100);
	k->at = cx_now_ms();
	atomic_store(k->flag, true);
	return NULL;
}

static void test_cancel_ends_the_transfer_at_once(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	struct canceller k;
	pthread_t t;
	int64_t done;

	hts_call_init(&tc, 10000);
	k.flag = &tc.cancelled;
	pthread_create(&t, NULL, cancel_later, &k);
	assert_int_equal(hts_get(c, &tc.call, "/slow", &resp, &err), -1);
	done = cx_now_ms();
	pthread_join(t, NULL);
	assert_true(done - k.at <= 100);
	hts_assert_contains(err.msg, "the call was cancelled");
	/* The server sees the connection closed, not left to the 5 s answer. */
	for (int i = 0; i < 50 && atomic_load(&hts_plain.aborted) < 1; i++)
		hts_sleep_ms(10);
	assert_int_equal(atomic_load(&hts_plain.aborted), 1);
	assert_int_equal(atomic_load(&hts_plain.started), 1);
	cx_http_client_free(c);
}

static void test_cap_refuses_a_larger_answer(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	/* Announced with Content-Length, and streamed without one. */
	assert_int_equal(hts_get(c, NULL, "/big", &resp, &err), -1);
	assert_string_equal(err.msg, "testsvc answered more than 8388608 bytes to GET /big; "
				     "narrow the request");
	assert_int_equal(hts_get(c, NULL, "/bigchunked?x=1", &resp, &err), -1);
	assert_string_equal(err.msg, "testsvc answered more than 8388608 bytes to GET "
				     "/bigchunked; narrow the request");
	/* The client stays usable. */
	assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), 0);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_json, hts_reset_both),
		cmocka_unit_test_setup(test_threads_share_one_client, hts_reset_both),
		cmocka_unit_test_setup(test_post_body_and_content_type, hts_reset_both),
		cmocka_unit_test_setup(test_invalid_json_leaves_json_null, hts_reset_both),
		cmocka_unit_test_setup(test_keepalive_reuses_one_connection, hts_reset_both),
		cmocka_unit_test_setup(test_get_retried_on_503, hts_reset_both),
		cmocka_unit_test_setup(test_retries_are_bounded, hts_reset_both),
		cmocka_unit_test_setup(test_post_not_retried_unless_idempotent, hts_reset_both),
		cmocka_unit_test_setup(test_retry_after_seconds_honoured, hts_reset_both),
		cmocka_unit_test_setup(test_retry_after_date_honoured, hts_reset_both),
		cmocka_unit_test_setup(test_retry_after_past_deadline_not_waited, hts_reset_both),
		cmocka_unit_test_setup(test_connection_refused_said, hts_reset_both),
		cmocka_unit_test_setup(test_deadline_bounds_a_slow_answer, hts_reset_both),
		cmocka_unit_test_setup(test_cancel_ends_the_transfer_at_once, hts_reset_both),
		cmocka_unit_test_setup(test_cap_refuses_a_larger_answer, hts_reset_both),
	};

	signal(SIGPIPE, SIG_IGN);
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, hts_servers_up, hts_servers_down);
}
