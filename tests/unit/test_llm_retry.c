/* common/llm's retries, as the official Anthropic SDKs retry: the rules on their own (which
 * answers, which waits, the jitter's bounds) and against the simulator's scripted LLM (waits
 * that follow the headers, measured between arrivals; x-should-retry; the spend-limit 429 not
 * retried; a dropped connection; the count; fallback to the second provider; cancellation and
 * the deadline, during a request and during a wait). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../common/llm.h"
#include "../../common/util.h"
#include "http_test_server.h"
#include "llm_sim.h"

/* Slack for a loaded machine: a wait may end this much later than asked, never earlier than
 * asked less a little clock skew between the sim's wall clock and ours. */
#define LATE_MS  1500
#define EARLY_MS 30

static void should_retry_rules(void **state)
{
	static const long yes[] = { 408, 409, 429, 500, 502, 503, 504, 529, 0 };
	static const long no[] = { 400, 401, 403, 404, 413, 422, 424 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(cx_llm_should_retry(yes[i], NULL, false));
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(cx_llm_should_retry(no[i], NULL, false));
	/* x-should-retry decides first, both ways */
	assert_true(cx_llm_should_retry(400, "true", false));
	assert_false(cx_llm_should_retry(503, "false", false));
	assert_false(cx_llm_should_retry(429, "false", false));
	assert_true(cx_llm_should_retry(503, "maybe", false));
	/* the spend limit is never retried */
	assert_false(cx_llm_should_retry(429, NULL, true));
	assert_false(cx_llm_should_retry(429, "true", true));
}

static void wait_from_headers(void **state)
{
	const char *basis;
	char date[64];
	time_t t = time(NULL) + 3;
	struct tm tm;
	long w;

	assert_int_equal(cx_llm_retry_wait_ms(0, "300", "5", 0.5, &basis), 300);
	assert_string_equal(basis, "retry-after-ms");
	assert_int_equal(cx_llm_retry_wait_ms(3, "1500.5", NULL, 0.5, &basis), 1501);
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "2", 0.5, &basis), 2000);
	assert_string_equal(basis, "retry-after");
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "1.25", 0.5, &basis), 1250);
	/* retry-after-ms that is not a number: retry-after is read */
	assert_int_equal(cx_llm_retry_wait_ms(0, "soon", "4", 0.5, &basis), 4000);
	/* an HTTP date about 3 s ahead */
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	w = cx_llm_retry_wait_ms(0, NULL, date, 0.5, &basis);
	assert_string_equal(basis, "retry-after");
	assert_true(w >= 1000 && w <= 3000);
	/* out of (0, 60] s: the backoff instead, also when retry-after-ms says so */
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "61", 0, &basis), 500);
	assert_string_equal(basis, "backoff");
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "0", 0, &basis), 500);
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "-3", 0, &basis), 500);
	assert_int_equal(cx_llm_retry_wait_ms(1, "120000", "2", 0, &basis), 1000);
	assert_string_equal(basis, "backoff");
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "Wed, 21 Oct 2015 07:28:00 GMT", 0, &basis),
			 500);
	assert_int_equal(cx_llm_retry_wait_ms(0, NULL, "garbage", 0, &basis), 500);
}

/* min(0.5 * 2^n, 8) s less up to 25 %: bounds at both ends of the draw, and random draws. */
static void backoff_and_jitter_bounds(void **state)
{
	static const long top[] = { 500, 1000, 2000, 4000, 8000, 8000, 8000 };
	int n, i;

	for (n = 0; n < 7; n++) {
		assert_int_equal(cx_llm_retry_wait_ms(n, NULL, NULL, 0.0, NULL), top[n]);
		assert_int_equal(cx_llm_retry_wait_ms(n, NULL, NULL, 0.999999, NULL),
				 (long)(top[n] * 0.75 + 0.01));
		for (i = 0; i < 200; i++) {
			long w = cx_llm_retry_wait_ms(n, NULL, NULL, (double)i / 200.0, NULL);

			assert_true(w <= top[n] && w >= top[n] * 3 / 4);
		}
	}
	assert_int_equal(cx_llm_retry_wait_ms(1000, NULL, NULL, 0.0, NULL), 8000);
}

/* One conversation, matched by marker, of one turn with these faults first. */
static void script_faults_as(const char *marker, const char *faults)
{
	char s[2048];

	snprintf(
		s, sizeof(s),
		"{\"conversations\":[{\"match\":\"%s\",\"turns\":[{\"text\":\"ok\",\"faults\":[%s]}"
		"]}]}",
		marker, faults);
	llm_sim_script(s);
}

static void script_faults(const char *faults)
{
	script_faults_as("R", faults);
}

/* Asks the conversation marked marker. */
static int ask_as(const char *marker, struct cx_llm *l, const struct cx_call *call,
		  struct cx_llm_reply *r, struct cx_err *err)
{
	json_t *conv = json_array();
	struct cx_llm_request req = { NULL, conv, NULL, 256 };
	int rc;

	cx_llm_add_user_text(conv, marker);
	rc = cx_llm_send(l, call, 10000, &req, r, err);
	json_decref(conv);
	return rc;
}

static int ask(struct cx_llm *l, const struct cx_call *call, struct cx_llm_reply *r,
	       struct cx_err *err)
{
	return ask_as("R", l, call, r, err);
}

static void assert_gap(long long a, long long b, long want)
{
	long gap = (long)(b - a);

	if (gap < want - EARLY_MS || gap > want + LATE_MS)
		fail_msg("requests %ld ms apart; the wait was %ld ms", gap, want);
}

/* 429 with retry-after-ms, 529 overloaded with retry-after, then the reply: the waits are the
 * headers', reported, and seen between arrivals. */
static void waits_follow_headers(void **state)
{
	struct cx_llm_model m = llm_sim_model(CX_LLM_ANTHROPIC, "m");
	struct cx_llm *l = llm_sim_client(&m, 1, -1);
	struct cx_llm_reply r;
	struct cx_err err;
	long long at[8];

	script_faults("{\"status\":429,\"headers\":{\"retry-after-ms\":\"300\",\"retry-after\":"
		      "\"9\"}},{\"status\":529,\"headers\":{\"retry-after\":\"1\"}}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_string_equal(r.blocks[0].text, "ok");
	assert_int_equal(r.attempts, 3);
	assert_int_equal(llm_n_events, 2);
	assert_int_equal(llm_events[0].kind, CX_LLM_EV_RETRY);
	assert_int_equal(llm_events[0].status, 429);
	assert_int_equal(llm_events[0].wait_ms, 300);
	assert_string_equal(llm_events[0].basis, "retry-after-ms");
	hts_assert_contains(llm_events[0].reason, "429");
	assert_int_equal(llm_events[1].status, 529);
	assert_int_equal(llm_events[1].wait_ms, 1000);
	assert_string_equal(llm_events[1].basis, "retry-after");
	hts_assert_contains(llm_events[1].reason, "Overloaded");
	assert_int_equal(llm_sim_arrivals("/v1/messages", at, 8), 3);
	assert_gap(at[0], at[1], 300);
	assert_gap(at[1], at[2], 1000);
	cx_llm_reply_release(&r);
	cx_llm_free(l);
}

/* retry-after as an HTTP date two seconds ahead: waited for until then. */
static void retry_after_date(void **state)
{
	struct cx_llm_model m = llm_sim_model(CX_LLM_OPENAI, "m");
	struct cx_llm *l = llm_sim_client(&m, 1, -1);
	struct cx_llm_reply r;
	struct cx_err err;
	time_t t = time(NULL) + 2;
	char date[64], fault[160];
	long long at[4];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(fault, sizeof(fault), "{\"status\":429,\"headers\":{\"retry-after\":\"%s\"}}",
		 date);
	script_faults(fault);
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(llm_n_events, 1);
	assert_string_equal(llm_events[0].basis, "retry-after");
	assert_true(llm_events[0].wait_ms >= 900 && llm_events[0].wait_ms <= 2000);
	assert_int_equal(llm_sim_arrivals("/v1/chat/completions", at, 4), 2);
	assert_gap(at[0], at[1], llm_events[0].wait_ms);
	cx_llm_reply_release(&r);
	cx_llm_free(l);
}

/* 500s without headers: the backoff, 0.5 s then 1 s less up to 25 %. */
static void backoff_without_headers(void **state)
{
	struct cx_llm_model m = llm_sim_model(CX_LLM_ANTHROPIC, "m");
	struct cx_llm *l = llm_sim_client(&m, 1, -1);
	struct cx_llm_reply r;
	struct cx_err err;
	long long at[8];

	script_faults("{\"status\":500},{\"status\":500}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(llm_n_events, 2);
	assert_string_equal(llm_events[0].basis, "backoff");
	assert_true(llm_events[0].wait_ms >= 375 && llm_events[0].wait_ms <= 500);
	assert_true(llm_events[1].wait_ms >= 750 && llm_events[1].wait_ms <= 1000);
	assert_int_equal(llm_sim_arrivals("/v1/messages", at, 8), 3);
	assert_gap(at[0], at[1], llm_events[0].wait_ms);
	assert_gap(at[1], at[2], llm_events[1].wait_ms);
	cx_llm_reply_release(&r);
	cx_llm_free(l);
}

static void x_should_retry_obeyed(void **state)
{
	struct cx_llm_model m = llm_sim_model(CX_LLM_OPENAI, "m");
	struct cx_llm *l = llm_sim_client(&m, 1, -1);
	struct cx_llm_reply r;
	struct cx_err err;

	/* false on a 503: not retried */
	script_faults("{\"status\":503,\"headers\":{\"x-should-retry\":\"false\"}}");
	assert_int_equal(ask(l, NULL, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_OVERLOADED);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(llm_n_events, 0);
	/* true on a 400: retried */
	script_faults("{\"status\":400,\"headers\":{\"x-should-retry\":\"true\",\"retry-after-ms\":"
		      "\"50\"}}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(llm_events[0].wait_ms, 50);
	cx_llm_reply_release(&r);
	/* a 400 without it: not retried, the API's message quoted */
	script_faults("{\"status\":400,\"message\":\"messages: bad\"}");
	assert_int_equal(ask(l, NULL, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_REQUEST);
	hts_assert_contains(err.msg, "messages: bad");
	assert_int_equal(r.attempts, 1);
	cx_llm_free(l);
}

static void spend_limit_not_retried(void **state)
{
	enum cx_llm_api apis[2] = { CX_LLM_ANTHROPIC, CX_LLM_OPENAI };
	int i;

	for (i = 0; i < 2; i++) {
		struct cx_llm_model m = llm_sim_model(apis[i], "m");
		struct cx_llm *l = llm_sim_client(&m, 1, -1);
		struct cx_llm_reply r;
		struct cx_err err;

		script_faults("{\"spend_limit\":true,\"headers\":{\"retry-after-ms\":\"10\"}}");
		assert_int_equal(ask(l, NULL, &r, &err), -1);
		assert_int_equal(err.code, CX_LLM_E_SPEND);
		hts_assert_contains(err.msg, "spend or usage limit");
		assert_int_equal(r.attempts, 1);
		assert_int_equal(llm_n_events, 0);
		cx_llm_free(l);
	}
}

/* The count: retries = 2 gives three attempts; the default gives five. */
static void retry_count(void **state)
{
	struct cx_llm_model m = llm_sim_model(CX_LLM_ANTHROPIC, "m");
	struct cx_llm *l = llm_sim_client(&m, 1, 2);
	struct cx_llm_reply r;
	struct cx_err err;
	const char *f = "{\"status\":429,\"headers\":{\"retry-after-ms\":\"20\"}}";
	char six[512];

	script_faults("{\"status\":429,\"headers\":{\"retry-after-ms\":\"20\"}},"
		      "{\"status\":429,\"headers\":{\"retry-after-ms\":\"20\"}},"
		      "{\"status\":429,\"headers\":{\"retry-after-ms\":\"20\"}}");
	assert_int_equal(ask(l, NULL, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_RATE_LIMIT);
	hts_assert_contains(err.msg, "still so after 2 retries");
	assert_int_equal(r.attempts, 3);
	assert_int_equal(llm_n_events, 2);
	cx_llm_free(l);
	l = llm_sim_client(&m, 1, -1);
	snprintf(six, sizeof(six), "%s,%s,%s,%s,%s,%s", f, f, f, f, f, f);
	script_faults(six);
	assert_int_equal(ask(l, NULL, &r, &err), -1);
	assert_int_equal(r.attempts, 1 + CX_LLM_RETRIES_DEFAULT);
	assert_int_equal(llm_n_events, CX_LLM_RETRIES_DEFAULT);
	cx_llm_free(l);
}

/* A connection dropped mid-answer, and a body cut to garbage, are retried / reported. */
static void dropped_connection_retried(void **state)
{
	struct cx_llm_model m = llm_sim_model(CX_LLM_ANTHROPIC, "m");
	struct cx_llm *l = llm_sim_client(&m, 1, -1);
	struct cx_llm_reply r;
	struct cx_err err;

	script_faults("");
	llm_sim_fault("{\"path\":\"/v1/messages\",\"kind\":\"drop\",\"after_bytes\":10,"
		      "\"count\":1}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(llm_n_events, 1);
	assert_int_equal(llm_events[0].status, 0);
	assert_string_equal(llm_events[0].basis, "backoff");
	cx_llm_reply_release(&r);
	/* the generic fault table's 529 carries the Messages API's overloaded_error */
	script_faults("");
	llm_sim_fault("{\"path\":\"/v1/messages\",\"kind\":\"status\",\"status\":529,"
		      "\"count\":1}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(llm_events[0].status, 529);
	hts_assert_contains(llm_events[0].reason, "Overloaded");
	cx_llm_reply_release(&r);
	script_faults("");
	llm_sim_fault("{\"path\":\"/v1/messages\",\"kind\":\"invalid_json\",\"count\":1}");
	assert_int_equal(ask(l, NULL, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_MALFORMED);
	cx_llm_free(l);
}

/* The first provider rate-limited past its retries, the second answers; and the spend limit
 * falls back at once. */
static void fallback_to_second_provider(void **state)
{
	struct cx_llm_model m[2] = { llm_sim_model(CX_LLM_ANTHROPIC, "claude-sim"),
				     llm_sim_model(CX_LLM_OPENAI, "local-sim") };
	struct cx_llm *l = llm_sim_client(m, 2, 1);
	struct cx_llm_reply r;
	struct cx_err err;
	json_t *keep, *got;

	script_faults("{\"status\":429,\"headers\":{\"retry-after-ms\":\"20\"}},"
		      "{\"status\":429,\"headers\":{\"retry-after-ms\":\"20\"}}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(r.model_index, 1);
	assert_string_equal(r.model, "local-sim");
	assert_int_equal(r.attempts, 3);
	assert_int_equal(llm_n_events, 2);
	assert_int_equal(llm_events[0].kind, CX_LLM_EV_RETRY);
	assert_int_equal(llm_events[1].kind, CX_LLM_EV_FALLBACK);
	assert_int_equal(llm_events[1].model_index, 0);
	hts_assert_contains(llm_events[1].reason, "model 'claude-sim'");
	hts_assert_contains(llm_events[1].reason, "429");
	got = llm_sim_received(0, &keep);
	assert_int_equal(json_array_size(got), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(got, 2), "path")),
			    "/chat/completions");
	json_decref(keep);
	cx_llm_reply_release(&r);
	script_faults("{\"spend_limit\":true}");
	assert_int_equal(ask(l, NULL, &r, &err), 0);
	assert_int_equal(r.model_index, 1);
	assert_int_equal(r.attempts, 2);
	cx_llm_reply_release(&r);
	/* both failing: the last one's failure */
	script_faults("{\"status\":500},{\"status\":500},{\"status\":500},{\"status\":500}");
	cx_llm_free(l);
	l = llm_sim_client(m, 2, 0);
	assert_int_equal(ask(l, NULL, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_SERVER);
	hts_assert_contains(err.msg, "model 'local-sim'");
	cx_llm_free(l);
}

struct canceller {
	struct test_call *tc;
	long after_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;

	hts_sleep_ms(c->after_ms);
	atomic_store(&c->tc->cancelled, true);
	return NULL;
}

/* Cancelled while the request is in flight, and while waiting to retry: back at once. */
static void cancellation(void **state)
{
	struct cx_llm_model m[2] = { llm_sim_model(CX_LLM_ANTHROPIC, "m"),
				     llm_sim_model(CX_LLM_OPENAI, "n") };
	struct cx_llm *l = llm_sim_client(m, 2, -1);
	struct test_call tc;
	struct canceller c = { &tc, 200 };
	struct cx_llm_reply r;
	struct cx_err err;
	pthread_t t;
	int64_t t0;

	script_faults("");
	llm_sim_fault("{\"path\":\"/v1/messages\",\"kind\":\"latency\",\"latency_ms\":5000}");
	hts_call_init(&tc, 20000);
	pthread_create(&t, NULL, cancel_later, &c);
	t0 = cx_now_ms();
	assert_int_equal(ask(l, &tc.call, &r, &err), -1);
	pthread_join(t, NULL);
	assert_int_equal(err.code, CX_LLM_E_CANCELLED);
	assert_true(cx_now_ms() - t0 < 2000);
	assert_int_equal(llm_n_events, 0); /* no fallback for a cancelled call */
	/* A conversation of its own: the request cancelled above is still held by the latency
	 * fault and is let go when the faults are cleared; it must not take this one's fault. */
	script_faults_as("C", "{\"status\":429,\"headers\":{\"retry-after\":\"30\"}}");
	hts_call_init(&tc, 60000);
	pthread_create(&t, NULL, cancel_later, &c);
	t0 = cx_now_ms();
	assert_int_equal(ask_as("C", l, &tc.call, &r, &err), -1);
	pthread_join(t, NULL);
	assert_int_equal(err.code, CX_LLM_E_CANCELLED);
	hts_assert_contains(err.msg, "cancelled while waiting to retry");
	assert_true(cx_now_ms() - t0 < 2000);
	assert_int_equal(llm_n_events, 1);
	assert_int_equal(llm_events[0].wait_ms, 30000);
	cx_llm_free(l);
}

/* The deadline passing during a request; a wait that would pass it is not begun. */
static void deadline(void **state)
{
	struct cx_llm_model m[2] = { llm_sim_model(CX_LLM_ANTHROPIC, "m"),
				     llm_sim_model(CX_LLM_OPENAI, "n") };
	struct cx_llm *l = llm_sim_client(m, 2, -1);
	struct test_call tc;
	struct cx_llm_reply r;
	struct cx_err err;
	int64_t t0;

	script_faults("");
	llm_sim_fault("{\"path\":\"/v1/messages\",\"kind\":\"latency\",\"latency_ms\":5000}");
	hts_call_init(&tc, 400);
	t0 = cx_now_ms();
	assert_int_equal(ask(l, &tc.call, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_DEADLINE);
	assert_true(cx_now_ms() - t0 < 2000);
	/* A conversation of its own: the request abandoned above is still held by the latency
	 * fault and is let go when the faults are cleared; it must not take this one's fault. */
	script_faults_as("D", "{\"status\":529,\"headers\":{\"retry-after\":\"5\"}}");
	hts_call_init(&tc, 2000);
	t0 = cx_now_ms();
	assert_int_equal(ask_as("D", l, &tc.call, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_DEADLINE);
	hts_assert_contains(err.msg, "would pass the deadline");
	assert_int_equal(r.attempts, 1);
	assert_true(cx_now_ms() - t0 < 1500);
	assert_int_equal(llm_n_events, 0);
	cx_llm_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(should_retry_rules),
		cmocka_unit_test(wait_from_headers),
		cmocka_unit_test(backoff_and_jitter_bounds),
		cmocka_unit_test(waits_follow_headers),
		cmocka_unit_test(retry_after_date),
		cmocka_unit_test(backoff_without_headers),
		cmocka_unit_test(x_should_retry_obeyed),
		cmocka_unit_test(spend_limit_not_retried),
		cmocka_unit_test(retry_count),
		cmocka_unit_test(dropped_connection_retried),
		cmocka_unit_test(fallback_to_second_provider),
		cmocka_unit_test(cancellation),
		cmocka_unit_test(deadline),
	};

	return cmocka_run_group_tests(tests, llm_sim_up, llm_sim_down);
}
