/* The Redis task store when things go wrong. Redis goes away under load: a producer creating
 * tasks and two workers claiming and finishing them while redis-server is killed (SIGKILL)
 * and started again on the same port and data. While it is down every call fails at once with
 * "task store unreachable" (never a crash, never a hang); once it is back the same store
 * object works again (no reopen), the watcher hears changes again, and every task whose create
 * was acknowledged is there and ends completed, finished by exactly one worker. Also: a store
 * opened while Redis is down, a Redis that stops answering, a claimer that died between taking
 * an entry and marking its task, keys flushed under the store, a garbled task. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/taskstore.h"
#include "../../common/util.h"
#include "redis_test_server.h"

struct load {
	struct cx_task_store *s;
	pthread_mutex_t mu;
	bool stop;
	json_t *acked;    /* id -> true: create returned success */
	json_t *finished; /* id -> times a finish succeeded */
	int created_ok, create_down, claim_down, finish_down, other_errors;
	int64_t slowest_failure_ms;
	char other[CX_ERR_MSG_MAX];
};

static bool stopping(struct load *l)
{
	bool stop;

	pthread_mutex_lock(&l->mu);
	stop = l->stop;
	pthread_mutex_unlock(&l->mu);
	return stop;
}

/* Counts a failure: "task store unreachable" in *down, anything else as an error. */
static void failed(struct load *l, const struct cx_err *err, int *down, int64_t took)
{
	pthread_mutex_lock(&l->mu);
	if (!strncmp(err->msg, "task store unreachable", 22)) {
		(*down)++;
	} else {
		l->other_errors++;
		snprintf(l->other, sizeof(l->other), "%s", err->msg);
	}
	if (took > l->slowest_failure_ms)
		l->slowest_failure_ms = took;
	pthread_mutex_unlock(&l->mu);
}

static void *producer(void *arg)
{
	struct load *l = arg;
	json_t *spec = json_pack("[{s:s, s:s}]", "query", "outage", "category", "general");
	struct cx_err err = { 0 };
	json_t *created;
	int64_t t0;

	while (!stopping(l)) {
		t0 = cx_now_ms();
		if (cx_task_create(l->s, spec, &created, &err) == 0) {
			pthread_mutex_lock(&l->mu);
			json_object_set_new(l->acked, rts_id(json_array_get(created, 0)),
					    json_true());
			l->created_ok++;
			pthread_mutex_unlock(&l->mu);
			json_decref(created);
		} else {
			failed(l, &err, &l->create_down, cx_now_ms() - t0);
		}
		usleep(3000);
	}
	json_decref(spec);
	return NULL;
}

static void *worker(void *arg)
{
	struct load *l = arg;
	struct cx_err err = { 0 };
	char name[32];
	json_t *t;
	int64_t t0;
	int rc;

	snprintf(name, sizeof(name), "w-%lx", (unsigned long)pthread_self() % 100000);
	while (!stopping(l)) {
		t0 = cx_now_ms();
		if (cx_task_claim(l->s, name, NULL, 200, &t, &err) != 0) {
			failed(l, &err, &l->claim_down, cx_now_ms() - t0 - 200);
			usleep(20 * 1000);
			continue;
		}
		if (!t)
			continue;
		rc = cx_task_finish(l->s, rts_id(t), name, "completed", NULL, &err);
		if (rc == 0) {
			pthread_mutex_lock(&l->mu);
			json_object_set_new(l->finished, rts_id(t),
					    json_integer(
						    json_integer_value(json_object_get(l->finished,
										       rts_id(t))) +
						    1));
			pthread_mutex_unlock(&l->mu);
		} else if (rc < 0) {
			failed(l, &err, &l->finish_down, 0);
		}
		json_decref(t);
	}
	return NULL;
}

static int count_of(struct load *l, int *field)
{
	int n;

	pthread_mutex_lock(&l->mu);
	n = *field;
	pthread_mutex_unlock(&l->mu);
	return n;
}

struct heard {
	pthread_mutex_t mu;
	int n;
};

static void on_change(void *ctx, const char *id)
{
	struct heard *h = ctx;

	pthread_mutex_lock(&h->mu);
	h->n++;
	pthread_mutex_unlock(&h->mu);
}

/* The tasks the threads left in progress when their finish failed come back after the lease
 * and are finished here. */
static void drain(struct load *l)
{
	struct cx_err err = { 0 };
	json_t *t;

	while (cx_task_claim(l->s, "drainer", NULL, 3000, &t, &err) == 0 && t) {
		if (cx_task_finish(l->s, rts_id(t), "drainer", "completed", NULL, &err) == 0)
			json_object_set_new(l->finished, rts_id(t),
					    json_integer(
						    json_integer_value(json_object_get(l->finished,
										       rts_id(t))) +
						    1));
		json_decref(t);
	}
}

static void test_outage_under_load(void **state)
{
	struct load l = { .s = rts_open_store(1000, 10, NULL),
			  .acked = json_object(),
			  .finished = json_object() };
	struct heard h = { .n = 0 };
	struct cx_err err = { 0 };
	pthread_t th[3];
	json_t *t = NULL, *v;
	const char *k;
	int i, before, heard_before;
	int64_t t0;

	assert_non_null(l.s);
	pthread_mutex_init(&l.mu, NULL);
	pthread_mutex_init(&h.mu, NULL);
	assert_int_equal(cx_task_watch(l.s, on_change, &h, &err), 0);
	pthread_create(&th[0], NULL, producer, &l);
	pthread_create(&th[1], NULL, worker, &l);
	pthread_create(&th[2], NULL, worker, &l);
	for (i = 0; i < 500 && count_of(&l, &l.created_ok) <= 10; i++)
		usleep(10 * 1000);
	assert_true(count_of(&l, &l.created_ok) > 10);

	rts_kill();
	usleep(800 * 1000);
	/* Down: answers at once, saying so. */
	t0 = cx_now_ms();
	assert_int_equal(cx_task_get(l.s, "task-x-1-abc", &t, &err), -1);
	assert_true(cx_now_ms() - t0 < 1000);
	assert_non_null(strstr(err.msg, "task store unreachable"));
	assert_non_null(strstr(err.msg, "retry"));
	assert_true(count_of(&l, &l.create_down) > 0);
	assert_true(count_of(&l, &l.claim_down) > 0);

	before = count_of(&l, &l.created_ok);
	assert_int_equal(rts_start(), 0);
	/* Back: the same store recovers by itself (backoff at most 1 s). */
	for (i = 0; i < 300 && count_of(&l, &l.created_ok) < before + 20; i++)
		usleep(10 * 1000);
	assert_true(count_of(&l, &l.created_ok) >= before + 20);
	pthread_mutex_lock(&h.mu);
	heard_before = h.n;
	pthread_mutex_unlock(&h.mu);
	usleep(1200 * 1000);
	pthread_mutex_lock(&h.mu);
	i = h.n;
	pthread_mutex_unlock(&h.mu);
	assert_true(i > heard_before); /* the watcher subscribed again */

	pthread_mutex_lock(&l.mu);
	l.stop = true;
	pthread_mutex_unlock(&l.mu);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	drain(&l);
	print_message("outage: %d created, %d creates / %d claims / %d finishes refused while "
		      "down, slowest refusal %lld ms\n",
		      l.created_ok, l.create_down, l.claim_down, l.finish_down,
		      (long long)l.slowest_failure_ms);
	if (l.other_errors)
		fail_msg("%d errors that are not 'task store unreachable', the last: %s",
			 l.other_errors, l.other);
	assert_true(l.slowest_failure_ms < 3000);
	/* Every acknowledged task is there and completed, finished once at most (none of the
	 * finishes said done when Redis died after applying one but before answering it). */
	json_object_foreach(l.acked, k, v) {
		json_int_t n = json_integer_value(json_object_get(l.finished, k));

		if (strcmp(rts_status(l.s, k), "completed"))
			fail_msg("acknowledged task %s is %s", k, rts_status(l.s, k));
		if (n > 1 || (n == 0 && l.finish_down == 0))
			fail_msg("task %s finished %d times (%d finishes refused)", k, (int)n,
				 l.finish_down);
	}
	cx_task_unwatch(l.s);
	json_decref(l.acked);
	json_decref(l.finished);
	pthread_mutex_destroy(&l.mu);
	pthread_mutex_destroy(&h.mu);
	cx_task_store_close(l.s);
}

/* A store opened while Redis is down opens (its calls fail until Redis is back). */
static void test_open_while_down(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *t = NULL, *created;

	rts_kill();
	s = rts_open_store(30000, 3, NULL);
	assert_non_null(s);
	assert_int_equal(cx_task_get(s, "task-x-1-abc", &t, &err), -1);
	assert_non_null(strstr(err.msg, "task store unreachable"));
	assert_int_equal(rts_start(), 0);
	usleep(1100 * 1000); /* past the longest backoff */
	created = rts_create_n(s, 1, "cicd", 1);
	assert_non_null(created);
	assert_string_equal(rts_status(s, rts_id(json_array_get(created, 0))), "queued");
	json_decref(created);
	cx_task_store_close(s);
}

/* A Redis that stops answering (SIGSTOP) is unreachable after timeout_ms, not a hang; the
 * store works again once it answers. */
static void test_redis_hangs(void **state)
{
	char url[64];
	struct cx_err err = { 0 };
	json_t *conf, *t = NULL, *created;
	struct cx_task_store *s;
	int64_t t0;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", rts.port);
	conf = json_pack("{s:s, s:s, s:s, s:i}", "store", "redis", "url", url, "prefix",
			 "hang:", "timeout_ms", 300);
	s = cx_task_store_open(conf, &err);
	json_decref(conf);
	assert_non_null(s);
	kill(rts.pid, SIGSTOP);
	t0 = cx_now_ms();
	assert_int_equal(cx_task_get(s, "task-x-1-abc", &t, &err), -1);
	kill(rts.pid, SIGCONT);
	print_message("a stopped Redis answered in %lld ms: %s\n", (long long)(cx_now_ms() - t0),
		      err.msg);
	assert_true(cx_now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "task store unreachable"));
	assert_non_null(strstr(err.msg, "no answer within 300 ms"));
	usleep(1100 * 1000);
	created = rts_create_n(s, 1, "general", 2);
	assert_non_null(created);
	json_decref(created);
	cx_task_store_close(s);
}

/* A claimer that died between XREADGROUP and marking the task (the entry delivered, the task
 * still queued): the entry comes back after the lease and the task is claimed, attempt 1. */
static void test_delivered_not_adopted(void **state)
{
	struct cx_task_store *s = rts_open_store(300, 3, NULL);
	struct cx_err err = { 0 };
	json_t *created = rts_create_n(s, 1, "cicd", 5), *t = NULL;
	redisContext *c = rts_admin();
	redisReply *r;

	r = redisCommand(c, "XREADGROUP GROUP workers ghost COUNT 1 STREAMS %sq:cicd:5 >",
			 rts_prefix());
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	freeReplyObject(r);
	redisFree(c);
	assert_int_equal(cx_task_claim(s, "w-1", NULL, 0, &t, &err), 0);
	assert_null(t);
	assert_int_equal(cx_task_claim(s, "w-1", NULL, 3000, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(rts_id(t), rts_id(json_array_get(created, 0)));
	assert_int_equal(rts_meta_int(t, "attempts"), 1);
	json_decref(t);
	json_decref(created);
	cx_task_store_close(s);
}

/* The keys flushed under a running store (FLUSHALL): its next calls make the consumer groups
 * again, at the cost of one error at most. */
static void test_flushed_under_store(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	redisContext *c = rts_admin();
	redisReply *r = redisCommand(c, "FLUSHALL");
	json_t *created, *t = NULL;
	int i, errors = 0;

	freeReplyObject(r);
	redisFree(c);
	created = rts_create_n(s, 1, "general", 3);
	for (i = 0; i < 3 && !t; i++) {
		if (cx_task_claim(s, "w-f", NULL, 0, &t, &err) != 0) {
			errors++;
			assert_non_null(strstr(err.msg, "NOGROUP"));
		}
	}
	assert_true(errors <= 1);
	assert_non_null(t);
	assert_string_equal(rts_id(t), rts_id(json_array_get(created, 0)));
	json_decref(t);
	json_decref(created);
	cx_task_store_close(s);
}

/* A task whose JSON was garbled in Redis (by hand) does not block its queue, and reading it
 * says so. */
static void test_garbled_task(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *bad = rts_create_n(s, 1, "general", 1), *good = rts_create_n(s, 1, "general", 2);
	json_t *t = NULL;
	redisContext *c = rts_admin();
	redisReply *r = redisCommand(c, "HSET %stask:%s json {garbage", rts_prefix(),
				     rts_id(json_array_get(bad, 0)));

	freeReplyObject(r);
	redisFree(c);
	assert_int_equal(cx_task_claim(s, "w-g", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(rts_id(t), rts_id(json_array_get(good, 0)));
	json_decref(t);
	assert_int_equal(cx_task_get(s, rts_id(json_array_get(bad, 0)), &t, &err), -1);
	assert_non_null(strstr(err.msg, "garbled"));
	json_decref(bad);
	json_decref(good);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outage_under_load),
		cmocka_unit_test(test_open_while_down),
		cmocka_unit_test(test_redis_hangs),
		cmocka_unit_test(test_delivered_not_adopted),
		cmocka_unit_test(test_flushed_under_store),
		cmocka_unit_test(test_garbled_task),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, rts_setup, rts_teardown);
}
