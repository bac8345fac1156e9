/* The Redis task store against a real redis-server this test starts on a free loopback port
 * (its own temporary directory, append-only file, fsync always): creating, listing, claims
 * from several threads and processes never doubled, priorities, leases and attempts, a
 * claimer killed with SIGKILL, approvals, cancellation, agents, metrics, watching, and Redis
 * killed and restarted under load (errors while down, no acknowledged task lost, recovery
 * without reopening the store). Without redis-server the test fails, saying how to get it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/taskstore.h"
#include "../../common/util.h"
#include "redis_test_server.h"

/* ---- config ---- */

static void test_config_refused(void **state)
{
	static const char *const bad[] = {
		"{\"store\": \"redis\", \"url\": \"http://u:hunter2@x\"}",
		"{\"store\": \"redis\", \"url\": \"rediss://h:6380\"}",
		"{\"store\": \"redis\", \"url\": \"redis://u:hunter2@h:1/0\"}",
		"{\"store\": \"redis\", \"url\": \"redis://h:99999/0\"}",
		"{\"store\": \"redis\", \"url\": \"redis://h:1/x\"}",
		"{\"store\": \"redis\", \"password\": \"hunter2\"}",
		"{\"store\": \"redis\", \"prefix\": \"has space\"}",
		"{\"store\": \"redis\", \"dir\": \"/tmp\"}",
		"{\"store\": \"redis\", \"bogus\": 1}",
		"{\"store\": \"redis\", \"timeout_ms\": 1}",
	};
	static const char *const says[] = { "redis://", "TLS tunnel",     "password", "port",
					    "database", "tasks.password", "prefix",   "dir store",
					    "bogus",    "timeout_ms" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cx_err err = { 0 };
		json_t *conf = json_loads(bad[i], 0, NULL);

		assert_null(cx_task_store_open(conf, &err));
		if (!strstr(err.msg, says[i]))
			fail_msg("%s: '%s' does not say '%s'", bad[i], err.msg, says[i]);
		assert_null(strstr(err.msg, "hunter2"));
		json_decref(conf);
	}
}

/* A password from the environment; a wrong one refused at open without being quoted; the
 * store describes itself without it. */
static void test_password(void **state)
{
	redisContext *c = rts_admin();
	redisReply *r;
	char url[64], *conf_s;
	struct cx_err err = { 0 };
	struct cx_task_store *s;
	json_t *conf, *t = NULL;

	r = redisCommand(c, "CONFIG SET requirepass s3cret-Pw");
	freeReplyObject(r);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", rts.port);
	setenv("CX_TEST_REDIS_PW", "wrong-Pw", 1);
	conf = json_pack("{s:s, s:s, s:{s:s}}", "store", "redis", "url", url, "password", "env",
			 "CX_TEST_REDIS_PW");
	assert_null(cx_task_store_open(conf, &err));
	assert_non_null(strstr(err.msg, "refused the credentials"));
	assert_null(strstr(err.msg, "wrong-Pw"));
	setenv("CX_TEST_REDIS_PW", "s3cret-Pw", 1);
	s = cx_task_store_open(conf, &err);
	assert_non_null(s);
	conf_s = (char *)cx_task_store_describe(s);
	assert_null(strstr(conf_s, "s3cret"));
	assert_non_null(strstr(conf_s, "redis 127.0.0.1:"));
	assert_int_equal(cx_task_get(s, "task-x-1-abc", &t, &err), 1);
	cx_task_store_close(s);
	json_decref(conf);
	r = redisCommand(c, "AUTH s3cret-Pw");
	freeReplyObject(r);
	r = redisCommand(c, "CONFIG SET requirepass %s", "");
	freeReplyObject(r);
	redisFree(c);
}

/* ---- creating and reading ---- */

static void test_create_list_children(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *created, *t = NULL, *page, *kids, *specs, *all = json_array();
	struct cx_task_filter f = { .limit = 7 };
	char *next = NULL, *cur = NULL;
	size_t i, seen = 0;
	int64_t t0;

	assert_non_null(s);
	t0 = cx_now_ms();
	created = rts_create_n(s, 19, "inventory", 2);
	print_message("19 tasks in one create: %lld ms\n", (long long)(cx_now_ms() - t0));
	assert_int_equal(json_array_size(created), 19);
	for (i = 0; i < 19; i++) {
		assert_int_equal(cx_task_get(s, rts_id(json_array_get(created, i)), &t, &err), 0);
		assert_string_equal(json_string_value(json_object_get(t, "status")), "queued");
		assert_true(json_equal(t, json_array_get(created, i)));
		json_decref(t);
	}
	/* Paging by 7 visits each exactly once, newest first. */
	do {
		f.cursor = cur;
		assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
		json_array_extend(all, page);
		json_decref(page);
		free(cur);
		cur = next;
		seen++;
	} while (cur && seen < 10);
	assert_int_equal(seen, 3);
	assert_int_equal(json_array_size(all), 19);
	/* Filters: a status that none has, a category, a parent. */
	f = (struct cx_task_filter){ .status = "completed" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 0);
	json_decref(page);
	specs = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "query", "child a", "parent_id",
			  rts_id(json_array_get(created, 3)), "category", "security", "query",
			  "child b", "parent_id", rts_id(json_array_get(created, 3)), "category",
			  "security");
	json_decref(t = NULL);
	assert_int_equal(cx_task_create(s, specs, &kids, &err), 0);
	json_decref(kids);
	assert_int_equal(cx_task_children(s, rts_id(json_array_get(created, 3)), &kids, &err), 0);
	assert_int_equal(json_array_size(kids), 2);
	json_decref(kids);
	f = (struct cx_task_filter){ .category = "security" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 2);
	json_decref(page);
	f = (struct cx_task_filter){ .parent_id = rts_id(json_array_get(created, 3)) };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 2);
	json_decref(page);
	json_decref(specs);
	/* Refused: unknown parent (nothing of the batch created), bad category, garbled cursor. */
	specs = json_pack("[{s:s}, {s:s, s:s}]", "query", "fine", "query", "orphan", "parent_id",
			  "task-x-1-nope");
	assert_int_equal(cx_task_create(s, specs, &kids, &err), -1);
	assert_non_null(strstr(err.msg, "tasks[1]: unknown parent"));
	json_decref(specs);
	f = (struct cx_task_filter){ 0 };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 21);
	json_decref(page);
	specs = json_pack("[{s:s, s:s}]", "query", "x", "category", "astrology");
	assert_int_equal(cx_task_create(s, specs, &kids, &err), -1);
	assert_non_null(strstr(err.msg, "astrology"));
	json_decref(specs);
	f = (struct cx_task_filter){ .cursor = "garbage" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), -1);
	json_decref(all);
	json_decref(created);
	cx_task_store_close(s);
}

/* 10,000 in one call is the limit and works; 10,001 is refused. */
static void test_batch_limits(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	json_t *specs = json_array(), *created = NULL;
	struct cx_err err = { 0 };
	struct cx_task_filter f = { .limit = 500 };
	char *next = NULL;
	json_t *page;
	size_t i;
	int64_t t0;

	for (i = 0; i < CX_TASK_BATCH_MAX; i++)
		json_array_append_new(specs, json_pack("{s:s}", "query", "bulk"));
	t0 = cx_now_ms();
	assert_int_equal(cx_task_create(s, specs, &created, &err), 0);
	print_message("10000 tasks in one create: %lld ms\n", (long long)(cx_now_ms() - t0));
	assert_int_equal(json_array_size(created), CX_TASK_BATCH_MAX);
	json_decref(created);
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 500);
	assert_non_null(next);
	json_decref(page);
	free(next);
	json_array_append_new(specs, json_pack("{s:s}", "query", "one too many"));
	assert_int_equal(cx_task_create(s, specs, &created, &err), -1);
	assert_non_null(strstr(err.msg, "10001"));
	json_decref(specs);
	cx_task_store_close(s);
}

/* ---- claims ---- */

static void test_claim_priority_and_categories(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *a = rts_create_n(s, 1, "general", 3), *b = rts_create_n(s, 1, "security", 1),
	       *c = rts_create_n(s, 1, "cicd", 2), *d = rts_create_n(s, 1, "general", 1), *t = NULL;
	const char *sec[] = { "security", NULL }, *dev[] = { "development", NULL };

	/* A development worker finds nothing; a security worker gets only its own. */
	assert_int_equal(cx_task_claim(s, "w-dev", dev, 0, &t, &err), 0);
	assert_null(t);
	assert_int_equal(cx_task_claim(s, "w-sec", sec, 0, &t, &err), 0);
	assert_string_equal(rts_id(t), rts_id(json_array_get(b, 0)));
	assert_string_equal(json_string_value(json_object_get(t, "status")), "in_progress");
	assert_int_equal(rts_meta_int(t, "attempts"), 1);
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w-sec", sec, 0, &t, &err), 0);
	assert_null(t);
	/* Any category: priority 1, then 2, then 3. */
	assert_int_equal(cx_task_claim(s, "w-any", NULL, 0, &t, &err), 0);
	assert_string_equal(rts_id(t), rts_id(json_array_get(d, 0)));
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w-any", NULL, 0, &t, &err), 0);
	assert_string_equal(rts_id(t), rts_id(json_array_get(c, 0)));
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w-any", NULL, 0, &t, &err), 0);
	assert_string_equal(rts_id(t), rts_id(json_array_get(a, 0)));
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w-any", NULL, 0, &t, &err), 0);
	assert_null(t);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
	cx_task_store_close(s);
}

#define CLAIM_TASKS   300
#define CLAIM_THREADS 6

struct claimers {
	struct cx_task_store *s;
	pthread_mutex_t mu;
	json_t *seen; /* id -> times claimed */
	int errors;
	char last_err[CX_ERR_MSG_MAX];
};

static void *claimer(void *arg)
{
	struct claimers *cl = arg;
	char name[32];
	json_t *t;
	struct cx_err err = { 0 };

	snprintf(name, sizeof(name), "w-%lx", (unsigned long)pthread_self() % 100000);
	for (;;) {
		if (cx_task_claim(cl->s, name, NULL, 300, &t, &err) != 0) {
			pthread_mutex_lock(&cl->mu);
			cl->errors++;
			snprintf(cl->last_err, sizeof(cl->last_err), "%s", err.msg);
			pthread_mutex_unlock(&cl->mu);
			break;
		}
		if (!t)
			break;
		pthread_mutex_lock(&cl->mu);
		json_object_set_new(cl->seen, rts_id(t),
				    json_integer(json_integer_value(
							 json_object_get(cl->seen, rts_id(t))) +
						 1));
		pthread_mutex_unlock(&cl->mu);
		if (cx_task_finish(cl->s, rts_id(t), name, "completed", NULL, &err) != 0) {
			pthread_mutex_lock(&cl->mu);
			cl->errors++;
			cx_fmt(cl->last_err, sizeof(cl->last_err), "finish: %s", err.msg);
			pthread_mutex_unlock(&cl->mu);
		}
		json_decref(t);
	}
	return NULL;
}

static void test_claim_threads(void **state)
{
	struct claimers cl = { .s = rts_open_store(30000, 3, NULL), .seen = json_object() };
	pthread_t th[CLAIM_THREADS];
	json_t *created, *v;
	const char *k;
	size_t i;
	int64_t t0;

	pthread_mutex_init(&cl.mu, NULL);
	created = rts_create_n(cl.s, CLAIM_TASKS, "development", 3);
	assert_int_equal(json_array_size(created), CLAIM_TASKS);
	t0 = cx_now_ms();
	for (i = 0; i < CLAIM_THREADS; i++)
		pthread_create(&th[i], NULL, claimer, &cl);
	for (i = 0; i < CLAIM_THREADS; i++)
		pthread_join(th[i], NULL);
	print_message("%d claim+finish by %d threads: %lld ms\n", CLAIM_TASKS, CLAIM_THREADS,
		      (long long)(cx_now_ms() - t0 - 300));
	if (cl.errors)
		fail_msg("%d errors, the last: %s", cl.errors, cl.last_err);
	assert_int_equal(json_object_size(cl.seen), CLAIM_TASKS);
	json_object_foreach(cl.seen, k, v) {
		assert_int_equal(json_integer_value(v), 1);
		assert_string_equal(rts_status(cl.s, k), "completed");
	}
	json_decref(cl.seen);
	json_decref(created);
	pthread_mutex_destroy(&cl.mu);
	cx_task_store_close(cl.s);
}

/* Four processes, each with its store, claim from one queue, half of it created before they
 * start and half while they wait; each writes what it got to a pipe: every task exactly
 * once. */
static void test_claim_processes(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	char prefix[32], line[128];
	int fds[2], i, status;
	pid_t kids[4];
	json_t *created, *got = json_object(), *v;
	FILE *in;
	const char *k;

	snprintf(prefix, sizeof(prefix), "%s", rts_prefix());
	created = rts_create_n(s, 100, "cicd", 2);
	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct cx_task_store *cs = rts_open_store(30000, 3, prefix);
			struct cx_err err = { 0 };
			json_t *t;
			char name[24];

			close(fds[0]);
			snprintf(name, sizeof(name), "proc-%d", i);
			while (cs && cx_task_claim(cs, name, NULL, 1500, &t, &err) == 0 && t) {
				dprintf(fds[1], "%s\n", rts_id(t));
				if (cx_task_finish(cs, rts_id(t), name, "completed", NULL, &err))
					_exit(3);
				json_decref(t);
			}
			_exit(cs && !err.msg[0] ? 0 : 2);
		}
	}
	close(fds[1]);
	for (i = 0; i < 10; i++) {
		usleep(20 * 1000);
		json_decref(rts_create_n(s, 10, i % 2 ? "security" : "cicd", 1 + i % 5));
	}
	in = fdopen(fds[0], "r");
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		json_object_set_new(got, line,
				    json_integer(json_integer_value(json_object_get(got, line)) +
						 1));
	}
	fclose(in);
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(json_object_size(got), 200);
	json_object_foreach(got, k, v) {
		assert_int_equal(json_integer_value(v), 1);
	}
	json_decref(got);
	json_decref(created);
	cx_task_store_close(s);
}

struct waiter {
	struct cx_task_store *s;
	json_t *task;
	int64_t woke;
	int rc;
};

static void *wait_claim(void *arg)
{
	struct waiter *w = arg;
	struct cx_err err = { 0 };

	w->rc = cx_task_claim(w->s, "w-wait", NULL, 5000, &w->task, &err);
	w->woke = cx_now_ms();
	return NULL;
}

/* A waiting claimer is woken by the creation, not by a poll. */
static void test_wait_wakeup(void **state)
{
	struct waiter w = { .s = rts_open_store(30000, 3, NULL) };
	pthread_t th;
	json_t *created;
	int64_t t0, lat[5];
	int i;

	for (i = 0; i < 5; i++) {
		w.task = NULL;
		pthread_create(&th, NULL, wait_claim, &w);
		usleep(150 * 1000);
		t0 = cx_now_ms();
		created = rts_create_n(w.s, 1, "security", 4);
		pthread_join(th, NULL);
		assert_int_equal(w.rc, 0);
		assert_non_null(w.task);
		assert_string_equal(rts_id(w.task), rts_id(json_array_get(created, 0)));
		lat[i] = w.woke - t0;
		json_decref(w.task);
		json_decref(created);
	}
	print_message("creation to waiting claimer (incl. create): %lld %lld %lld %lld %lld ms\n",
		      (long long)lat[0], (long long)lat[1], (long long)lat[2], (long long)lat[3],
		      (long long)lat[4]);
	for (i = 0; i < 5; i++)
		assert_true(lat[i] < 1000);
	cx_task_store_close(w.s);
}

/* ---- leases and attempts ---- */

static void test_lease_and_attempts(void **state)
{
	struct cx_task_store *s = rts_open_store(800, 2, NULL);
	struct cx_err err = { 0 };
	json_t *created = rts_create_n(s, 1, "general", 3), *t = NULL, *t2 = NULL;
	const char *id = rts_id(json_array_get(created, 0));
	bool cancel;
	int i;

	assert_int_equal(cx_task_claim(s, "w-a", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	/* Heartbeats keep it: nobody else gets it over three leases (a claimer tries a quarter
	 * lease after each heartbeat, when the entry has been idle that long). */
	for (i = 0; i < 8; i++) {
		usleep(200 * 1000);
		assert_int_equal(cx_task_claim(s, "w-b", NULL, 0, &t2, &err), 0);
		assert_null(t2);
		usleep(100 * 1000);
		assert_int_equal(cx_task_heartbeat(s, id, "w-a", &cancel, &err), 0);
		assert_false(cancel);
	}
	/* w-a stops: after the lease, w-b gets it, attempt 2; w-a no longer holds it. */
	assert_int_equal(cx_task_claim(s, "w-b", NULL, 4000, &t2, &err), 0);
	assert_non_null(t2);
	assert_string_equal(rts_id(t2), id);
	assert_int_equal(rts_meta_int(t2, "attempts"), 2);
	assert_int_equal(cx_task_heartbeat(s, id, "w-a", &cancel, &err), 1);
	assert_int_equal(cx_task_finish(s, id, "w-a", "completed", NULL, &err), 1);
	json_decref(t2);
	/* w-b stops too: max_attempts 2 reached, the task fails with a reason. */
	assert_int_equal(cx_task_claim(s, "w-c", NULL, 2500, &t2, &err), 0);
	assert_null(t2);
	assert_int_equal(cx_task_get(s, id, &t2, &err), 0);
	assert_string_equal(json_string_value(json_object_get(t2, "status")), "failed");
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(t2, "metadata"), "error")),
		       "max_attempts"));
	json_decref(t2);
	json_decref(t);
	json_decref(created);
	cx_task_store_close(s);
}

/* A claimer killed with SIGKILL while it holds a task: taken again after the lease. */
static void test_kill9_claimer(void **state)
{
	struct cx_task_store *s = rts_open_store(400, 3, NULL);
	char prefix[32], id[CX_TASK_ID_MAX + 2] = "";
	int fds[2];
	pid_t kid;
	json_t *created = rts_create_n(s, 1, "infrastructure", 1), *t = NULL;
	struct cx_err err = { 0 };
	ssize_t n;

	snprintf(prefix, sizeof(prefix), "%s", rts_prefix());
	assert_int_equal(pipe(fds), 0);
	kid = fork();
	if (kid == 0) {
		struct cx_task_store *cs = rts_open_store(400, 3, prefix);

		if (cs && cx_task_claim(cs, "doomed", NULL, 0, &t, &err) == 0 && t)
			dprintf(fds[1], "%s", rts_id(t));
		pause();
		_exit(0);
	}
	n = read(fds[0], id, sizeof(id) - 1);
	assert_true(n > 0);
	id[n] = '\0';
	assert_string_equal(id, rts_id(json_array_get(created, 0)));
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	assert_string_equal(rts_status(s, id), "in_progress");
	assert_int_equal(cx_task_claim(s, "heir", NULL, 3000, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(rts_id(t), id);
	assert_int_equal(rts_meta_int(t, "attempts"), 2);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(t, "metadata"), "worker")),
			    "heir");
	json_decref(t);
	close(fds[0]);
	close(fds[1]);
	json_decref(created);
	cx_task_store_close(s);
}

/* ---- progress, release, approvals, cancellation ---- */

static void test_progress_release(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *created = rts_create_n(s, 1, "general", 3), *t = NULL;
	const char *id = rts_id(json_array_get(created, 0));
	json_t *prog = json_pack("{s:i, s:s, s:[s]}", "iterations", 2, "last_tool_used",
				 "proxmox_list_vms", "tools_used", "proxmox_list_vms");
	json_t *state_ = json_pack("{s:[s]}", "messages", "hello");

	assert_int_equal(cx_task_progress(s, id, "nobody", prog, NULL, &err), 1);
	assert_int_equal(cx_task_claim(s, "w-p", NULL, 0, &t, &err), 0);
	json_decref(t);
	assert_int_equal(cx_task_progress(s, id, "w-p", prog, state_, &err), 0);
	assert_int_equal(cx_task_get(s, id, &t, &err), 0);
	assert_int_equal(rts_meta_int(t, "iterations"), 2);
	assert_true(json_equal(json_object_get(json_object_get(t, "metadata"), "state"), state_));
	json_decref(t);
	/* State past what a read accepts is refused, and the task stays readable. */
	{
		size_t big = 17 * 1024 * 1024;
		char *blob = malloc(big + 1);
		json_t *huge;

		memset(blob, 'x', big);
		blob[big] = '\0';
		huge = json_pack("{s:s}", "blob", blob);
		free(blob);
		assert_int_equal(cx_task_progress(s, id, "w-p", NULL, huge, &err), -1);
		assert_non_null(strstr(err.msg, "too large"));
		json_decref(huge);
		assert_string_equal(rts_status(s, id), "in_progress");
	}
	/* Released: queued again, the attempt not counted; claimed again, attempt 1. */
	assert_int_equal(cx_task_release(s, id, "w-p", &err), 0);
	assert_string_equal(rts_status(s, id), "queued");
	assert_int_equal(cx_task_claim(s, "w-q", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_int_equal(rts_meta_int(t, "attempts"), 1);
	json_decref(t);
	json_decref(prog);
	prog = json_pack("{s:s}", "summary", "done");
	assert_int_equal(cx_task_finish(s, id, "w-q", "completed", prog, &err), 0);
	assert_int_equal(cx_task_get(s, id, &t, &err), 0);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(t, "result"), "summary")),
			    "done");
	assert_non_null(json_object_get(json_object_get(t, "result"), "execution_time_ms"));
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w-q", NULL, 0, &t, &err), 0);
	assert_null(t);
	json_decref(prog);
	json_decref(state_);
	json_decref(created);
	cx_task_store_close(s);
}

static void test_approval(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *created = rts_create_n(s, 1, "infrastructure", 2), *t = NULL;
	const char *id = rts_id(json_array_get(created, 0));
	json_t *pending = json_pack("{s:s, s:{}, s:s}", "tool", "proxmox_stop_vm", "arguments",
				    "why", "destructive");

	assert_int_equal(cx_task_approve(s, id, true, "alice", "ok", &err), -1);
	assert_non_null(strstr(err.msg, "not awaiting approval"));
	assert_int_equal(cx_task_claim(s, "w-h", NULL, 0, &t, &err), 0);
	json_decref(t);
	assert_int_equal(cx_task_hold(s, id, "w-h", pending, NULL, &err), 0);
	assert_string_equal(rts_status(s, id), "awaiting_approval");
	/* Nobody can claim a held task. */
	assert_int_equal(cx_task_claim(s, "w-i", NULL, 0, &t, &err), 0);
	assert_null(t);
	assert_int_equal(cx_task_approve(s, id, true, "alice", "go ahead", &err), 0);
	assert_int_equal(cx_task_claim(s, "w-i", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(json_object_get(t, "metadata"),
								    "approval"),
						    "decision")),
			    "approved");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(json_object_get(t, "metadata"),
								    "approval"),
						    "by")),
			    "alice");
	json_decref(t);
	/* Held again and denied: queued again too, for the worker to tell the model. */
	assert_int_equal(cx_task_hold(s, id, "w-i", pending, NULL, &err), 0);
	assert_int_equal(cx_task_approve(s, id, false, "bob", "no", &err), 0);
	assert_int_equal(cx_task_claim(s, "w-j", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	json_decref(t);
	assert_int_equal(cx_task_approve(s, "task-x-1-none", true, "a", "b", &err), 1);
	json_decref(pending);
	json_decref(created);
	cx_task_store_close(s);
}

static void test_cancel(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *a = rts_create_n(s, 1, "general", 3), *b = rts_create_n(s, 1, "general", 3),
	       *t = NULL;
	const char *ida = rts_id(json_array_get(a, 0)), *idb = rts_id(json_array_get(b, 0));
	bool cancel = false;

	/* Queued: cancelled at once and never claimed. */
	assert_int_equal(cx_task_cancel(s, ida, "carol", "not needed", &err), 0);
	assert_string_equal(rts_status(s, ida), "cancelled");
	assert_int_equal(cx_task_claim(s, "w-c", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(rts_id(t), idb);
	json_decref(t);
	/* In progress: the worker hears it at its next heartbeat and stops. */
	assert_int_equal(cx_task_cancel(s, idb, "carol", "stop", &err), 0);
	assert_string_equal(rts_status(s, idb), "in_progress");
	assert_int_equal(cx_task_heartbeat(s, idb, "w-c", &cancel, &err), 1);
	assert_true(cancel);
	assert_int_equal(cx_task_finish(s, idb, "w-c", "cancelled", NULL, &err), 0);
	assert_string_equal(rts_status(s, idb), "cancelled");
	assert_int_equal(cx_task_cancel(s, idb, "carol", "again", &err), -1);
	assert_non_null(strstr(err.msg, "already"));
	assert_int_equal(cx_task_cancel(s, "task-x-1-none", "carol", "x", &err), 1);
	assert_int_equal(cx_task_claim(s, "w-c", NULL, 0, &t, &err), 0);
	assert_null(t);
	json_decref(a);
	json_decref(b);
	cx_task_store_close(s);
}

/* ---- agents, metrics ---- */

static void test_agents_metrics(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	struct cx_err err = { 0 };
	json_t *agent = json_pack("{s:s, s:s, s:s, s:s}", "id", "security-w1", "kind", "worker",
				  "master", "security", "state", "idle");
	json_t *bad = json_pack("{s:s, s:s, s:s}", "id", "x", "kind", "robot", "state", "idle");
	json_t *list = NULL, *m = NULL, *a = rts_create_n(s, 3, "security", 2), *t = NULL;

	assert_int_equal(cx_agent_put(s, agent, &err), 0);
	assert_int_equal(cx_agent_put(s, bad, &err), -1);
	assert_int_equal(cx_agent_list(s, &list, &err), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
			    "idle");
	assert_non_null(json_object_get(json_array_get(list, 0), "heartbeat_at"));
	json_decref(list);
	assert_int_equal(cx_task_claim(s, "security-w1", NULL, 0, &t, &err), 0);
	assert_int_equal(cx_task_finish(s, rts_id(t), "security-w1", "completed", NULL, &err), 0);
	json_decref(t);
	assert_int_equal(cx_task_metrics(s, &m, &err), 0);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(json_object_get(m, "queue"),
								 "queued"),
						 "security")),
			 2);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(json_object_get(m, "queue"),
								 "completed"),
						 "security")),
			 1);
	json_decref(m);
	json_decref(a);
	json_decref(agent);
	json_decref(bad);
	cx_task_store_close(s);
}

/* ---- watching ---- */

struct heard {
	pthread_mutex_t mu;
	json_t *ids;
	int n;
};

static void on_change(void *ctx, const char *id)
{
	struct heard *h = ctx;

	pthread_mutex_lock(&h->mu);
	json_object_set_new(h->ids, id, json_true());
	h->n++;
	pthread_mutex_unlock(&h->mu);
}

static bool wait_heard(struct heard *h, const char *id, int ms)
{
	bool got = false;

	for (; ms > 0 && !got; ms -= 10) {
		pthread_mutex_lock(&h->mu);
		got = json_object_get(h->ids, id) != NULL;
		pthread_mutex_unlock(&h->mu);
		if (!got)
			usleep(10 * 1000);
	}
	return got;
}

/* Changes made through another store object (as another process would) are heard. */
static void test_watch(void **state)
{
	struct cx_task_store *s = rts_open_store(30000, 3, NULL);
	char prefix[32];
	struct cx_task_store *other;
	struct heard h = { .ids = json_object() };
	struct cx_err err = { 0 };
	json_t *created, *t = NULL;
	const char *id;

	snprintf(prefix, sizeof(prefix), "%s", rts_prefix());
	other = rts_open_store(30000, 3, prefix);
	pthread_mutex_init(&h.mu, NULL);
	assert_int_equal(cx_task_watch(s, on_change, &h, &err), 0);
	assert_int_equal(cx_task_watch(s, on_change, &h, &err), -1);
	usleep(200 * 1000); /* the subscription is made */
	created = rts_create_n(other, 1, "general", 3);
	id = rts_id(json_array_get(created, 0));
	assert_true(wait_heard(&h, id, 2000));
	json_object_clear(h.ids);
	assert_int_equal(cx_task_claim(other, "w-w", NULL, 0, &t, &err), 0);
	json_decref(t);
	assert_true(wait_heard(&h, id, 2000));
	json_object_clear(h.ids);
	assert_int_equal(cx_task_finish(other, id, "w-w", "completed", NULL, &err), 0);
	assert_true(wait_heard(&h, id, 2000));
	cx_task_unwatch(s);
	json_object_clear(h.ids);
	json_decref(created);
	created = rts_create_n(other, 1, "general", 3);
	usleep(200 * 1000);
	assert_false(wait_heard(&h, rts_id(json_array_get(created, 0)), 100));
	json_decref(created);
	json_decref(h.ids);
	pthread_mutex_destroy(&h.mu);
	cx_task_store_close(other);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_refused),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_create_list_children),
		cmocka_unit_test(test_batch_limits),
		cmocka_unit_test(test_claim_priority_and_categories),
		cmocka_unit_test(test_claim_threads),
		cmocka_unit_test(test_claim_processes),
		cmocka_unit_test(test_wait_wakeup),
		cmocka_unit_test(test_lease_and_attempts),
		cmocka_unit_test(test_kill9_claimer),
		cmocka_unit_test(test_progress_release),
		cmocka_unit_test(test_approval),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_agents_metrics),
		cmocka_unit_test(test_watch),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, rts_setup, rts_teardown);
}
