/* The dir task store's notification and speed: a waiting claimer and a watcher woken by
 * inotify when another process creates a task (latency measured and printed), 19 tasks
 * created in one call with fsync, and the claim-to-claim throughput of an empty worker loop
 * (figures printed; the assertions keep slack for a loaded machine). */
#include "taskstore_test.h"

#include <sys/inotify.h>

#include "../../common/taskstore_dir.h"

/* ---- wake-up by inotify ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 20

/* A child creates one task per round after the parent's claimer is waiting, and sends the
 * moment its create call started; the parent's claim returns with the task. */
static void creator_loop(int cmd, int times)
{
	struct cx_task_store *c = open_at(NULL);
	char b;

	while (read(cmd, &b, 1) == 1) {
		int64_t t[2];
		json_t *made;

		t[0] = now_us();
		made = create_n(c, 1, NULL);
		t[1] = now_us();
		if (write(times, t, sizeof(t)) != sizeof(t))
			_exit(3);
		json_decref(made);
	}
	cx_task_store_close(c);
	_exit(0);
}

static void test_waiting_claimer_woken_by_another_process(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	int cmd[2], times[2];
	int64_t from_start[ROUNDS], from_end[ROUNDS], claim_cost[ROUNDS];
	pid_t pid;

	new_dir();
	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(times), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(cmd[1]);
		close(times[0]);
		creator_loop(cmd[0], times[1]);
	}
	close(cmd[0]);
	close(times[1]);
	s = open_at(NULL); /* after the fork: see fork_child */
	assert_non_null(s);
	for (int i = 0; i < ROUNDS; i++) {
		json_t *t = NULL, *mine;
		int64_t created[2], got;

		/* the claimer is waiting (nothing queued) when the child is told to create */
		assert_int_equal(cx_task_claim(s, "waiter", NULL, 0, &t, &err), 0);
		assert_null(t);
		assert_int_equal(write(cmd[1], "x", 1), 1);
		/* generous: the child's create fsyncs, which on a disk shared with a whole make
		 * check can take seconds; the latency that counts is printed below */
		assert_int_equal(cx_task_claim(s, "waiter", NULL, 30000, &t, &err), 0);
		got = now_us();
		assert_non_null(t);
		assert_int_equal(read(times[0], created, sizeof(created)), sizeof(created));
		from_start[i] = got - created[0];
		from_end[i] = got - created[1];
		assert_int_equal(cx_task_finish(s, id_of(t), "waiter", "completed", NULL, &err), 0);
		json_decref(t);
		/* what the claim's own fsync'd write costs, for comparison: a task already there */
		mine = create_n(s, 1, NULL);
		claim_cost[i] = now_us();
		assert_int_equal(cx_task_claim(s, "waiter", NULL, 0, &t, &err), 0);
		claim_cost[i] = now_us() - claim_cost[i];
		assert_non_null(t);
		assert_int_equal(cx_task_finish(s, id_of(t), "waiter", "completed", NULL, &err), 0);
		json_decref(t);
		json_decref(mine);
	}
	close(cmd[1]);
	close(times[0]);
	waitpid(pid, NULL, 0);
	qsort(from_start, ROUNDS, sizeof(from_start[0]), cmp_i64);
	qsort(from_end, ROUNDS, sizeof(from_end[0]), cmp_i64);
	qsort(claim_cost, ROUNDS, sizeof(claim_cost[0]), cmp_i64);
	print_message("      another process creates -> the waiting claimer holds the task: median "
		      "%.2f ms from the create call's start (max %.2f), %.2f ms from its return; "
		      "a claim of a task already queued takes %.2f ms (its fsync'd write); %d "
		      "rounds, target < 10 ms\n",
		      from_start[ROUNDS / 2] / 1000.0, from_start[ROUNDS - 1] / 1000.0,
		      from_end[ROUNDS / 2] / 1000.0, claim_cost[ROUNDS / 2] / 1000.0, ROUNDS);
	/* slack for a loaded machine; the figures above are what counts */
	assert_true(from_start[ROUNDS / 2] < 100 * 1000);
	cx_task_store_close(s);
}

struct watched {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char last[CX_TASK_ID_MAX];
	int calls;
	int64_t at_us;
	pthread_t thread;
};

static void on_change(void *ctx, const char *id)
{
	struct watched *w = ctx;

	pthread_mutex_lock(&w->mu);
	snprintf(w->last, sizeof(w->last), "%s", id);
	w->calls++;
	w->at_us = now_us();
	w->thread = pthread_self();
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Waits up to 3 s for a call about id; its moment in us, or -1. */
static int64_t wait_watch(struct watched *w, const char *id)
{
	struct timespec ts;
	int64_t at = -1;

	cx_deadline_ts(CLOCK_REALTIME, 3000, &ts);
	pthread_mutex_lock(&w->mu);
	while (strcmp(w->last, id) && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	if (!strcmp(w->last, id))
		at = w->at_us;
	w->last[0] = '\0';
	pthread_mutex_unlock(&w->mu);
	return at;
}

static int watch_out[2];

static void creator_part(const void *arg)
{
	struct cx_task_store *c = open_at(NULL);
	int64_t t0 = now_us();
	json_t *made = create_n(c, 1, "cicd");

	if (write(watch_out[1], &t0, sizeof(t0)) != sizeof(t0))
		_exit(3);
	write_line(watch_out[1], id_of(json_array_get(made, 0)));
	json_decref(made);
	cx_task_store_close(c);
}

static void test_watch_hears_other_processes(void **state)
{
	struct watched w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	struct child creator;
	char id[CX_TASK_ID_MAX + 32] = "";
	int64_t start, heard;

	new_dir();
	assert_int_equal(pipe(watch_out), 0);
	creator = fork_child(creator_part, NULL);
	close(watch_out[1]);
	s = open_at(NULL);
	assert_int_equal(cx_task_watch(s, on_change, &w, &err), 0);
	assert_int_equal(cx_task_watch(s, on_change, &w, &err), -1);
	assert_non_null(strstr(err.msg, "one per store"));
	go(&creator);
	assert_int_equal(read(watch_out[0], &start, sizeof(start)), sizeof(start));
	assert_true(read(watch_out[0], id, sizeof(id) - 1) > 0);
	id[strcspn(id, "\n")] = '\0';
	close(watch_out[0]);
	waitpid(creator.pid, NULL, 0);
	heard = wait_watch(&w, id);
	assert_true(heard > 0);
	assert_false(pthread_equal(w.thread, pthread_self()));
	/* a change in this process is heard too */
	assert_int_equal(cx_task_cancel(s, id, "me", "test", &err), 0);
	assert_true(wait_watch(&w, id) > 0);
	print_message("      watcher heard another process's new task %.2f ms after the create "
		      "call started\n",
		      (heard - start) / 1000.0);
	cx_task_unwatch(s);
	pthread_mutex_lock(&w.mu);
	int calls = w.calls;
	pthread_mutex_unlock(&w.mu);
	assert_int_equal(cx_task_cancel(s, id, "me", "again", &err), -1);
	json_t *more = create_n(s, 1, NULL);
	usleep(100000);
	pthread_mutex_lock(&w.mu);
	assert_int_equal(w.calls, calls); /* unwatched: no more calls */
	pthread_mutex_unlock(&w.mu);
	json_decref(more);
	cx_task_store_close(s);
}

/* 19 tasks in one create call, fsync on: the target is < 5 ms. */
static void test_create_19_with_fsync(void **state)
{
	struct cx_task_store *s;
	int64_t lat[ROUNDS];

	new_dir();
	s = open_at(NULL);
	for (int i = 0; i < ROUNDS; i++) {
		int64_t t0 = now_us();
		json_t *made = create_n(s, 19, "inventory");

		lat[i] = now_us() - t0;
		assert_int_equal(json_array_size(made), 19);
		json_decref(made);
	}
	qsort(lat, ROUNDS, sizeof(lat[0]), cmp_i64);
	print_message("      19 tasks in one create, fsync on: median %.2f ms, max %.2f ms "
		      "(target < 5 ms)\n",
		      lat[ROUNDS / 2] / 1000.0, lat[ROUNDS - 1] / 1000.0);
	assert_true(lat[ROUNDS / 2] < 200 * 1000);
	assert_int_equal(count_prefix("task-"), 19 * ROUNDS);
	cx_task_store_close(s);
}

/* An empty worker loop (claim, finish) over tasks already queued, fsync on: how many tasks
 * per second n workers (threads of one process) get through. */
struct loop {
	struct cx_task_store *s;
	char name[16];
	int done, errors;
};

static void *worker_loop(void *arg)
{
	struct loop *l = arg;
	struct cx_err err = { 0 };

	for (;;) {
		json_t *t = NULL;

		if (cx_task_claim(l->s, l->name, NULL, 0, &t, &err)) {
			l->errors++;
			break;
		}
		if (!t)
			break;
		if (cx_task_finish(l->s, id_of(t), l->name, "completed", NULL, &err))
			l->errors++;
		json_decref(t);
		l->done++;
	}
	return NULL;
}

static void drain_with(int workers, int tasks)
{
	struct cx_task_store *s;
	struct loop l[8];
	pthread_t th[8];
	json_t *made;
	int64_t t0, us;
	int total = 0;

	new_dir();
	s = open_at(NULL);
	made = create_n(s, tasks, NULL);
	t0 = now_us();
	for (int i = 0; i < workers; i++) {
		l[i] = (struct loop){ .s = s };
		snprintf(l[i].name, sizeof(l[i].name), "w%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, worker_loop, &l[i]), 0);
	}
	for (int i = 0; i < workers; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(l[i].errors, 0);
		total += l[i].done;
	}
	us = now_us() - t0;
	assert_int_equal(total, tasks);
	print_message("      claim + finish, %d worker%s, fsync on: %.0f tasks/s\n", workers,
		      workers > 1 ? "s" : "", total * 1e6 / us);
	json_decref(made);
	cx_task_store_close(s);
}

static void test_claim_to_claim_throughput(void **state)
{
	drain_with(1, 300);
	drain_with(8, 600);
}

/* A change whose event is never heard (the store's inotify descriptor swapped for one that
 * watches nothing): a waiting claimer still finds the task by reading the folder after a few
 * quiet seconds, and says so. */
static void test_missed_event_is_caught_up(void **state)
{
	struct cx_task_store *s, *other;
	struct dir_store *d;
	struct cx_err err = { 0 };
	json_t *t = NULL, *made;
	int deaf;
	int64_t t0;

	new_dir();
	s = open_at("\"fsync\": false");
	other = open_at("\"fsync\": false");
	assert_non_null(s);
	assert_non_null(other);
	d = (struct dir_store *)s;
	deaf = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(deaf >= 0);
	assert_true(dup2(deaf, d->ifd) == d->ifd); /* same number: the event thread polls it */
	close(deaf);
	made = create_n(other, 1, NULL);
	t0 = now_us();
	assert_int_equal(cx_task_claim(s, "w", NULL, 15000, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(id_of(t), id_of(json_array_get(made, 0)));
	print_message("      a task whose event was lost was claimed after %.1f s\n",
		      (now_us() - t0) / 1e6);
	assert_true(now_us() - t0 < 10 * 1000000);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(other);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waiting_claimer_woken_by_another_process),
		cmocka_unit_test(test_watch_hears_other_processes),
		cmocka_unit_test(test_create_19_with_fsync),
		cmocka_unit_test(test_claim_to_claim_throughput),
		cmocka_unit_test(test_missed_event_is_caught_up),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
