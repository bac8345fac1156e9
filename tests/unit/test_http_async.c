/* The adapters' fast path, cx_http_do_async (common/http_async.h), against the scripted servers
 * of tests/unit/http_test_server.c: the same answers, retries, Retry-After, deadlines,
 * cancellations, cap and TLS verdicts as cx_http_do, many requests waiting together on the
 * one backend I/O thread, a client freed only after its requests ended, and a loop run by a
 * thread of its own with a hook, as each HTTP thread runs one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/http_async.h"
#include "../../common/util.h"
#include "http_test_server.h"

/* What done saw, and when. */
struct outcome {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls; /* how many times done ran: once, always */
	int rc;
	long status;
	int attempts;
	bool json;
	pthread_t thread;
	int64_t at;
	char msg[512];
	char body[128];
};

static void outcome_init(struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
}

static void on_done(void *arg, int rc, struct cx_http_resp *resp, const struct cx_err *err)
{
	struct outcome *o = arg;

	pthread_mutex_lock(&o->lock);
	o->calls++;
	o->rc = rc;
	o->thread = pthread_self();
	o->at = cx_now_ms();
	if (rc) {
		snprintf(o->msg, sizeof(o->msg), "%s", err->msg);
	} else {
		o->status = resp->status;
		o->attempts = resp->attempts;
		o->json = resp->json != NULL;
		snprintf(o->body, sizeof(o->body), "%s", resp->body);
	}
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

/* Waits for done (10 s at most); fails the test when it never ran. */
static void wait_done(struct outcome *o)
{
	int64_t until = cx_now_ms() + 10000;

	pthread_mutex_lock(&o->lock);
	while (!o->calls && cx_now_ms() < until) {
		pthread_mutex_unlock(&o->lock);
		hts_sleep_ms(5);
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	if (!o->calls)
		fail_msg("done never ran");
}

/* Waits (a second at most) for the plain server to have seen n requests' clients leave, and
 * checks it saw exactly n. */
static void wait_aborted(int n)
{
	for (int i = 0; i < 100 && atomic_load(&hts_plain.aborted) < n; i++)
		hts_sleep_ms(10);
	assert_int_equal(atomic_load(&hts_plain.aborted), n);
}

static int start_get(struct cx_http_client *c, const struct cx_call *call, const char *path,
		     struct outcome *o)
{
	static const char *const headers[] = { SECRET_HEADER, NULL };
	struct cx_http_req req = { .method = "GET", .path = path, .headers = headers };
	struct cx_err err = { 0 };
	int rc = cx_http_do_async(c, call, 5000, &req, on_done, o, &err);

	if (rc)
		fail_msg("could not start: %s", err.msg);
	return rc;
}

static void test_answer_on_the_io_thread(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct test_call tc;
	struct outcome o, again;

	hts_call_init(&tc, 5000);
	outcome_init(&o);
	start_get(c, &tc.call, "/json", &o);
	wait_done(&o);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.status, 200);
	assert_int_equal(o.attempts, 1);
	assert_true(o.json);
	assert_string_equal(o.body, "{\"data\":{\"ok\":true,\"n\":1}}");
	assert_false(pthread_equal(o.thread, pthread_self()));
	hts_assert_contains(hts_plain.headers, "PVEAPIToken=x!y=SECRET123");
	/* The next request reuses the connection. */
	outcome_init(&again);
	start_get(c, &tc.call, "/json", &again);
	wait_done(&again);
	assert_int_equal(again.rc, 0);
	assert_int_equal(atomic_load(&hts_plain.started), 1);
	assert_int_equal(o.calls + again.calls, 2);
	cx_http_client_free(c);
}

static void test_retries_and_retry_after(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 3, NULL, NULL, false);
	struct test_call tc;
	struct outcome flaky, limited;
	int64_t t0;

	hts_call_init(&tc, 8000);
	outcome_init(&flaky);
	start_get(c, &tc.call, "/flaky", &flaky);
	wait_done(&flaky);
	assert_int_equal(flaky.rc, 0);
	assert_int_equal(flaky.status, 200);
	assert_int_equal(flaky.attempts, 3);

	atomic_store(&hts_plain.hits, 0);
	outcome_init(&limited);
	t0 = cx_now_ms();
	start_get(c, &tc.call, "/limited?s=1", &limited);
	wait_done(&limited);
	assert_int_equal(limited.rc, 0);
	assert_int_equal(limited.status, 200);
	assert_int_equal(limited.attempts, 2);
	assert_true(limited.at - t0 >= 950);
	cx_http_client_free(c);
}

static void test_an_error_status_is_an_answer(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct test_call tc;
	struct outcome o;

	hts_call_init(&tc, 5000);
	outcome_init(&o);
	start_get(c, &tc.call, "/unauthorized", &o);
	wait_done(&o);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.status, 401);
	cx_http_client_free(c);
}

/* Sixteen requests to a backend that answers in 5 s, each with 400 ms to its deadline: they
 * wait together, so all end at about 400 ms, with cx_http_do's sentence. */
static void test_many_wait_together_and_deadlines_hold(void **state)
{
	enum {
		N = 16
	};
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct test_call tc[N];
	struct outcome o[N];
	int64_t t0 = cx_now_ms();

	for (int i = 0; i < N; i++) {
		hts_call_init(&tc[i], 400);
		outcome_init(&o[i]);
		start_get(c, &tc[i].call, "/slow", &o[i]);
	}
	for (int i = 0; i < N; i++) {
		wait_done(&o[i]);
		assert_int_equal(o[i].rc, -1);
		hts_assert_contains(o[i].msg, "testsvc at 127.0.0.1:");
		hts_assert_contains(o[i].msg, "did not answer within");
		assert_true(o[i].at - t0 >= 350);
		assert_true(o[i].at - t0 < 1500);
	}
	/* And each closed its connection: the server saw every one of them leave. */
	wait_aborted(N);
	cx_http_client_free(c);
}

static void test_cancel_closes_the_connection_at_once(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 2, NULL, NULL, false);
	struct test_call tc;
	struct outcome o;
	int64_t at;

	hts_call_init(&tc, 10000);
	outcome_init(&o);
	start_get(c, &tc.call, "/slow", &o);
	hts_sleep_ms(150);
	at = cx_now_ms();
	atomic_store(&tc.cancelled, true);
	wait_done(&o);
	assert_int_equal(o.rc, -1);
	assert_true(o.at - at <= 100);
	hts_assert_contains(o.msg, "the call was cancelled");
	wait_aborted(1);
	cx_http_client_free(c);
}

static void test_cap_and_refused_connection(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_client_opts opts = { .service = "nothing",
					    .base_url = "http://127.0.0.1:1" };
	struct cx_err err = { 0 };
	struct cx_http_client *none = cx_http_client_new(&opts, &err);
	struct test_call tc;
	struct outcome big, refused;

	assert_non_null(none);
	hts_call_init(&tc, 5000);
	outcome_init(&big);
	outcome_init(&refused);
	start_get(c, &tc.call, "/big", &big);
	start_get(none, &tc.call, "/x", &refused);
	wait_done(&big);
	wait_done(&refused);
	assert_string_equal(big.msg, "testsvc answered more than 8388608 bytes to GET /big; "
				     "narrow the request");
	hts_assert_contains(refused.msg, "could not connect to nothing at 127.0.0.1:1: "
					 "connection refused");
	cx_http_client_free(none);
	cx_http_client_free(c);
}

/* Each transfer has its own pin check: a wrong pin and a right one at once each get their own
 * verdict, and the wrong one sends nothing. */
static void test_pins_are_per_transfer(void **state)
{
	char wrong[CX_HTTP_PIN_TEXT];
	struct cx_http_client *good, *bad;
	struct test_call tc;
	struct outcome ok, refused;

	snprintf(wrong, sizeof(wrong), "%s", hts_cert_fp);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	good = hts_client(&hts_secure, 0, NULL, hts_cert_fp, false);
	bad = hts_client(&hts_secure, 0, NULL, wrong, false);
	hts_call_init(&tc, 5000);
	outcome_init(&ok);
	outcome_init(&refused);
	start_get(bad, &tc.call, "/json", &refused);
	start_get(good, &tc.call, "/json", &ok);
	wait_done(&ok);
	wait_done(&refused);
	assert_int_equal(ok.rc, 0);
	assert_int_equal(ok.status, 200);
	assert_int_equal(refused.rc, -1);
	hts_assert_contains(refused.msg, "certificate fingerprint mismatch");
	hts_assert_contains(refused.msg, hts_cert_fp);
	assert_int_equal(atomic_load(&hts_secure.requests), 1);
	cx_http_client_free(good);
	cx_http_client_free(bad);
}

struct freer {
	struct cx_http_client *c;
	int64_t freed_at;
};

static void *free_client(void *arg)
{
	struct freer *f = arg;

	cx_http_client_free(f->c);
	f->freed_at = cx_now_ms();
	return NULL;
}

/* Freeing a client waits for its requests: here one that ends at its 300 ms deadline. */
static void test_free_waits_for_requests(void **state)
{
	struct freer f = { .c = hts_client(&hts_plain, 0, NULL, NULL, false) };
	struct test_call tc;
	struct outcome o;
	pthread_t t;

	hts_call_init(&tc, 300);
	outcome_init(&o);
	start_get(f.c, &tc.call, "/slow", &o);
	pthread_create(&t, NULL, free_client, &f);
	pthread_join(t, NULL);
	assert_int_equal(o.calls, 1);
	assert_true(f.freed_at >= o.at);
	hts_assert_contains(o.msg, "did not answer within");
}

static void test_a_malformed_request_does_not_start(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_req req = { .method = "GET", .path = "no-slash" };
	struct cx_err err = { 0 };
	struct outcome o;

	outcome_init(&o);
	assert_int_equal(cx_http_do_async(c, NULL, 1000, &req, on_done, &o, &err), -1);
	hts_assert_contains(err.msg, "must start with '/'");
	hts_sleep_ms(50);
	assert_int_equal(o.calls, 0);
	cx_http_client_free(c);
}

/* A loop with a hook, run by a thread of its own (as each HTTP thread runs one). */
struct hooked {
	struct cx_io_loop *l;
	int pipe[2];
	pthread_t thread;
	struct cx_http_client *c;
	struct test_call tc;
	const char *path;        /* the hook starts a request for this once, on the loop's thread */
	struct outcome *o;       /* ... with this outcome */
	atomic_int runs;         /* how often the hook ran */
	atomic_int runs_at_done; /* the hook's runs when done ran (done_hook) */
	atomic_bool returned;    /* cx_io_loop_run returned */
};

static struct hooked *the_hooked;

static void done_hook(void *arg, int rc, struct cx_http_resp *resp, const struct cx_err *err)
{
	atomic_store(&the_hooked->runs_at_done, atomic_load(&the_hooked->runs));
	on_done(arg, rc, resp, err);
}

static void hook_run(void *arg)
{
	struct hooked *hk = arg;
	char byte;

	if (read(hk->pipe[0], &byte, 1) == 1 && hk->path) {
		static const char *const headers[] = { SECRET_HEADER, NULL };
		struct cx_http_req req = { .method = "GET", .path = hk->path, .headers = headers };
		struct cx_err err = { 0 };

		hk->path = NULL;
		if (cx_http_do_async(hk->c, &hk->tc.call, 5000, &req, done_hook, hk->o, &err))
			fail_msg("could not start: %s", err.msg);
	}
	atomic_fetch_add(&hk->runs, 1);
}

static void *hooked_main(void *arg)
{
	struct hooked *hk = arg;

	cx_io_loop_run(hk->l);
	atomic_store(&hk->returned, true);
	return NULL;
}

static void hooked_start(struct hooked *hk, struct cx_http_client *c, const char *path,
			 struct outcome *o)
{
	struct cx_err err = { 0 };
	struct cx_io_hook hook = { .run = hook_run, .timeout_ms = NULL, .arg = hk };

	memset(hk, 0, sizeof(*hk));
	the_hooked = hk;
	assert_int_equal(pipe2(hk->pipe, O_NONBLOCK | O_CLOEXEC), 0);
	hook.fd = hk->pipe[0];
	hk->c = c;
	hk->path = path;
	hk->o = o;
	hts_call_init(&hk->tc, 10000);
	hk->l = cx_io_loop_new(&hook, &err);
	assert_non_null(hk->l);
	assert_int_equal(pthread_create(&hk->thread, NULL, hooked_main, hk), 0);
}

static void hooked_stop(struct hooked *hk)
{
	cx_io_loop_stop(hk->l);
	pthread_join(hk->thread, NULL);
	cx_io_loop_free(hk->l);
	close(hk->pipe[0]);
	close(hk->pipe[1]);
}

/* A request started on a loop's own thread (from its hook) is answered on that thread, and the
 * hook runs again after done: what lets an HTTP thread send the reply in the same turn. */
static void test_a_loop_answers_on_its_own_thread(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct hooked hk;
	struct outcome o;
	int runs;

	outcome_init(&o);
	hooked_start(&hk, c, "/json", &o);
	hts_sleep_ms(50);
	runs = atomic_load(&hk.runs);
	assert_true(runs >= 1); /* the first turn runs the hook */
	hts_sleep_ms(100);
	/* Nothing to do: the loop sleeps, it does not spin. */
	assert_true(atomic_load(&hk.runs) <= runs + 1);
	assert_int_equal(write(hk.pipe[1], "x", 1), 1);
	wait_done(&o);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.status, 200);
	assert_true(pthread_equal(o.thread, hk.thread));
	for (int i = 0; i < 100 && atomic_load(&hk.runs) <= atomic_load(&hk.runs_at_done); i++)
		hts_sleep_ms(5);
	assert_true(atomic_load(&hk.runs) > atomic_load(&hk.runs_at_done));
	/* A wake-up from another thread is a turn: the hook runs. */
	runs = atomic_load(&hk.runs);
	cx_io_loop_wake(hk.l);
	for (int i = 0; i < 100 && atomic_load(&hk.runs) == runs; i++)
		hts_sleep_ms(5);
	assert_true(atomic_load(&hk.runs) > runs);
	hooked_stop(&hk);
	cx_http_client_free(c);
}

/* Stopping a loop ends what it still waits for (done runs, as for a cancelled call) and
 * returns at once, the backend's connection closed. */
static void test_a_stopped_loop_ends_its_requests(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct hooked hk;
	struct outcome o;
	int64_t at;

	outcome_init(&o);
	hooked_start(&hk, c, "/slow", &o);
	assert_int_equal(write(hk.pipe[1], "x", 1), 1);
	hts_sleep_ms(150);
	assert_int_equal(o.calls, 0);
	at = cx_now_ms();
	cx_io_loop_stop(hk.l);
	for (int i = 0; i < 100 && !atomic_load(&hk.returned); i++)
		hts_sleep_ms(5);
	assert_true(atomic_load(&hk.returned));
	assert_true(cx_now_ms() - at <= 200);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.rc, -1);
	assert_true(pthread_equal(o.thread, hk.thread));
	wait_aborted(1);
	hooked_stop(&hk);
	cx_http_client_free(c);
}

/* A keep-alive server that closes a connection 50 ms after its answer, as servers close idle
 * ones: what it accepted, in accepted. */
struct closer {
	int fd, port;
	pthread_t thread;
	atomic_int accepted;
	atomic_bool stop;
};

static void *closer_main(void *arg)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				     "Content-Length: 11\r\n\r\n{\"ok\":true}";
	struct closer *k = arg;

	while (!atomic_load(&k->stop)) {
		char buf[4096];
		int c = accept(k->fd, NULL, NULL);
		ssize_t n;

		if (c < 0) {
			hts_sleep_ms(5);
			continue;
		}
		atomic_fetch_add(&k->accepted, 1);
		n = read(c, buf, sizeof(buf)); /* one request, headers only */
		if (n > 0 && write(c, answer, sizeof(answer) - 1) < 0)
			n = -1;
		hts_sleep_ms(50);
		close(c);
	}
	return NULL;
}

static void closer_start(struct closer *k)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(k, 0, sizeof(*k));
	k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(k->fd >= 0);
	assert_int_equal(bind(k->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(k->fd, 8), 0);
	assert_int_equal(getsockname(k->fd, (struct sockaddr *)&a, &len), 0);
	k->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&k->thread, NULL, closer_main, k), 0);
}

/* A kept connection stays in the loop's epoll set between requests; when the server closes it
 * while nobody waits on it, the loop takes it out once (it does not spin on it), and the next
 * request opens a new connection and is answered. */
static void test_a_connection_closed_while_idle(void **state)
{
	struct cx_http_client_opts opts = { .service = "closer" };
	struct cx_err err = { 0 };
	struct cx_http_client *c;
	struct closer k;
	struct hooked hk;
	struct outcome first, second;
	char url[64];
	int runs;

	closer_start(&k);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", k.port);
	opts.base_url = url;
	c = cx_http_client_new(&opts, &err);
	assert_non_null(c);
	outcome_init(&first);
	hooked_start(&hk, c, "/json", &first);
	assert_int_equal(write(hk.pipe[1], "x", 1), 1);
	wait_done(&first);
	assert_int_equal(first.rc, 0);
	assert_int_equal(first.status, 200);
	/* The server closes the idle connection; the loop hears of it and goes back to sleep. */
	hts_sleep_ms(100);
	runs = atomic_load(&hk.runs);
	hts_sleep_ms(200);
	assert_true(atomic_load(&hk.runs) - runs <= 2);
	outcome_init(&second);
	hk.o = &second;
	hk.path = "/json";
	assert_int_equal(write(hk.pipe[1], "x", 1), 1);
	wait_done(&second);
	assert_int_equal(second.rc, 0);
	assert_int_equal(second.status, 200);
	assert_true(pthread_equal(second.thread, hk.thread));
	assert_int_equal(atomic_load(&k.accepted), 2);
	hooked_stop(&hk);
	cx_http_client_free(c);
	atomic_store(&k.stop, true);
	pthread_join(k.thread, NULL);
	close(k.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_answer_on_the_io_thread, hts_reset_both),
		cmocka_unit_test_setup(test_retries_and_retry_after, hts_reset_both),
		cmocka_unit_test_setup(test_an_error_status_is_an_answer, hts_reset_both),
		cmocka_unit_test_setup(test_many_wait_together_and_deadlines_hold, hts_reset_both),
		cmocka_unit_test_setup(test_cancel_closes_the_connection_at_once, hts_reset_both),
		cmocka_unit_test_setup(test_cap_and_refused_connection, hts_reset_both),
		cmocka_unit_test_setup(test_pins_are_per_transfer, hts_reset_both),
		cmocka_unit_test_setup(test_free_waits_for_requests, hts_reset_both),
		cmocka_unit_test_setup(test_a_malformed_request_does_not_start, hts_reset_both),
		cmocka_unit_test_setup(test_a_loop_answers_on_its_own_thread, hts_reset_both),
		cmocka_unit_test_setup(test_a_stopped_loop_ends_its_requests, hts_reset_both),
		cmocka_unit_test_setup(test_a_connection_closed_while_idle, hts_reset_both),
	};

	return cmocka_run_group_tests(tests, hts_servers_up, hts_servers_down);
}
