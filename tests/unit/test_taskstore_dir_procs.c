/* The dir task store across processes: several processes claiming at once (no task taken
 * twice, none lost), kill -9 of a claimer (taken again after the lease, attempts counted,
 * failed after max_attempts), a crash in the middle of a write (never a half-written task
 * visible), inotify waking a waiting claimer and a watcher in another process (latency
 * measured and printed), and the time to create 19 tasks with fsync. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/taskstore.h"
#include "../../common/taskstore_dir.h"
#include "../../common/taskstore_impl.h"
#include "../../common/util.h"

static char root[] = "/tmp/cx-test-taskprocs-XXXXXX";
static char path[256];
static int counter;

static int setup(void **state)
{
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Microseconds on the monotonic clock, which all processes share. */
static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void new_dir(void)
{
	snprintf(path, sizeof(path), "%s/s%d", root, ++counter);
}

/* A store on path (which may exist) with extra config keys; NULL on failure (children). */
static struct cx_task_store *open_at(const char *extra)
{
	struct cx_err err = { 0 };
	char json[512];
	json_t *conf;
	struct cx_task_store *s;

	snprintf(json, sizeof(json), "{\"dir\": \"%s\"%s%s}", path, extra ? ", " : "",
		 extra ? extra : "");
	conf = json_loads(json, 0, NULL);
	s = cx_task_store_open(conf, &err);
	if (!s)
		fprintf(stderr, "open: %s\n", err.msg);
	json_decref(conf);
	return s;
}

static json_t *create_n(struct cx_task_store *s, int n, const char *category)
{
	struct cx_err err = { 0 };
	json_t *specs = json_array(), *out = NULL;

	for (int i = 0; i < n; i++)
		json_array_append_new(specs, json_pack("{s:s, s:s}", "query", "work", "category",
						       category ? category : "general"));
	if (cx_task_create(s, specs, &out, &err))
		fail_msg("create: %s", err.msg);
	json_decref(specs);
	return out;
}

static const char *id_of(const json_t *t)
{
	return json_string_value(json_object_get(t, "id"));
}

static json_t *get(struct cx_task_store *s, const char *id)
{
	struct cx_err err = { 0 };
	json_t *t = NULL;

	assert_int_equal(cx_task_get(s, id, &t, &err), 0);
	return t;
}

static json_t *meta(const json_t *t, const char *key)
{
	return json_object_get(json_object_get(t, "metadata"), key);
}

static void write_line(int fd, const char *s)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s\n", s);

	if (write(fd, buf, (size_t)n) != n)
		_exit(3);
}

/* Everything the pipe gives until every writer closes it. */
static char *read_all(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	while ((n = read(fd, buf + len, cap - len - 1)) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		len += (size_t)n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

/* ---- several processes claiming ---- */

#define PROCS      4
#define PROC_TASKS 240

static void claimer_child(int out, int k)
{
	struct cx_task_store *s = open_at(NULL);
	struct cx_err err = { 0 };
	char name[32];

	snprintf(name, sizeof(name), "proc%d", k);
	if (!s)
		_exit(2);
	for (;;) {
		json_t *t = NULL;

		if (cx_task_claim(s, name, NULL, 1500, &t, &err))
			_exit(4);
		if (!t)
			break;
		write_line(out, id_of(t));
		if (cx_task_finish(s, id_of(t), name, "completed", NULL, &err))
			_exit(5);
		json_decref(t);
	}
	cx_task_store_close(s);
	_exit(0);
}

static void test_processes_claim_each_task_once(void **state)
{
	int fds[2], status;
	pid_t pids[PROCS];
	struct cx_task_store *s;
	json_t *made, *seen = json_object(), *t;
	char *all, *line, *save = NULL;
	size_t claimed = 0, i;

	new_dir();
	s = open_at(NULL);
	assert_non_null(s);
	assert_int_equal(pipe(fds), 0);
	for (int k = 0; k < PROCS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			close(fds[0]);
			claimer_child(fds[1], k);
		}
	}
	close(fds[1]);
	/* created while the claimers wait, in batches of 40 */
	made = json_array();
	for (int b = 0; b < PROC_TASKS / 40; b++) {
		json_t *part = create_n(s, 40, NULL);

		json_array_extend(made, part);
		json_decref(part);
	}
	all = read_all(fds[0]);
	close(fds[0]);
	for (int k = 0; k < PROCS; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (json_object_get(seen, line))
			fail_msg("task %s claimed twice", line);
		json_object_set_new(seen, line, json_true());
		claimed++;
	}
	assert_int_equal(claimed, PROC_TASKS);
	json_array_foreach(made, i, t) {
		json_t *now = get(s, id_of(t));

		assert_non_null(json_object_get(seen, id_of(t)));
		assert_string_equal(json_string_value(json_object_get(now, "status")), "completed");
		assert_int_equal(json_integer_value(meta(now, "attempts")), 1);
		json_decref(now);
	}
	free(all);
	json_decref(made);
	json_decref(seen);
	cx_task_store_close(s);
}

/* ---- kill -9 ---- */

/* A child that claims one task, says so, and hangs until killed. */
static pid_t claim_and_hang(const char *worker, const char *extra)
{
	int fds[2];
	char buf[128] = "";
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cx_task_store *s = open_at(extra);
		struct cx_err err = { 0 };
		json_t *t = NULL;

		close(fds[0]);
		if (!s || cx_task_claim(s, worker, NULL, 2000, &t, &err) || !t)
			_exit(2);
		write_line(fds[1], id_of(t));
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_true(read(fds[0], buf, sizeof(buf) - 1) > 0);
	close(fds[0]);
	return pid;
}

static void kill9(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
}

static void test_kill9_claimer_lease_and_max_attempts(void **state)
{
	const char *conf = "\"lease_ms\": 400, \"max_attempts\": 2";
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL;
	int64_t t0, waited;

	new_dir();
	s = open_at(conf);
	assert_non_null(s);
	made = create_n(s, 1, NULL);
	kill9(claim_and_hang("doomed-1", conf));
	/* the lease still runs: nobody else gets it now */
	assert_int_equal(cx_task_claim(s, "other", NULL, 0, &t, &err), 0);
	assert_null(t);
	/* a waiting claimer takes it once the lease runs out, woken by the lease's own timer
	 * (no file changes meanwhile) */
	t0 = now_us();
	assert_int_equal(cx_task_claim(s, "survivor", NULL, 3000, &t, &err), 0);
	waited = (now_us() - t0) / 1000;
	assert_non_null(t);
	print_message("      kill -9 claimer: taken again %lld ms into the wait (lease 400 ms)\n",
		      (long long)waited);
	assert_true(waited < 1500);
	assert_string_equal(id_of(t), id_of(json_array_get(made, 0)));
	assert_int_equal(json_integer_value(meta(t, "attempts")), 2);
	assert_string_equal(json_string_value(meta(t, "worker")), "survivor");
	assert_non_null(strstr(json_string_value(meta(t, "error")), "doomed-1"));
	json_decref(t);
	json_decref(made);

	/* max_attempts 2: two claimers die, and the task fails with a reason */
	made = create_n(s, 1, NULL);
	kill9(claim_and_hang("doomed-2", conf));
	usleep(450 * 1000);
	kill9(claim_and_hang("doomed-3", conf));
	assert_int_equal(cx_task_claim(s, "late", NULL, 1200, &t, &err), 0);
	assert_null(t);
	t = get(s, id_of(json_array_get(made, 0)));
	assert_string_equal(json_string_value(json_object_get(t, "status")), "failed");
	assert_non_null(strstr(json_string_value(meta(t, "error")), "claimed 2 times"));
	assert_non_null(strstr(json_string_value(meta(t, "error")), "max_attempts 2"));
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

/* ---- crash in the middle of a write ---- */

static const char *crash_stage;

static void crash_hook(const char *stage)
{
	if (!strcmp(stage, crash_stage))
		raise(SIGKILL);
}

static size_t count_prefix(const char *prefix)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void crash_at(const char *stage)
{
	struct cx_task_store *s = open_at(NULL), *again;
	struct cx_err err = { 0 };
	json_t *made = create_n(s, 1, NULL), *t, *before;
	int status;
	pid_t pid;

	before = get(s, id_of(json_array_get(made, 0)));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cx_task_store *c = open_at(NULL);
		json_t *got = NULL;

		crash_stage = stage;
		cx_task_dir_test_hook = crash_hook;
		cx_task_claim(c, "crasher", NULL, 1000, &got, &err);
		_exit(0); /* not reached: the hook kills the claim's write */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	/* the task is exactly as it was, the half-written temporary is not a task */
	t = get(s, id_of(json_array_get(made, 0)));
	assert_true(json_equal(t, before));
	json_decref(t);
	assert_int_equal(count_prefix(".tmp."), 1);
	/* the dead writer's lock went with it: the task can be claimed at once */
	assert_int_equal(cx_task_claim(s, "after", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_int_equal(json_integer_value(meta(t, "attempts")), 1);
	json_decref(t);
	/* the next open removes the dead writer's temporary */
	again = open_at(NULL);
	assert_non_null(again);
	assert_int_equal(count_prefix(".tmp."), 0);
	cx_task_store_close(again);
	json_decref(before);
	json_decref(made);
	cx_task_store_close(s);
}

static void test_crash_mid_write_leaves_old_task(void **state)
{
	new_dir();
	crash_at("half");
	new_dir();
	crash_at("before_rename");
}

/* A writer killed at random moments while it rewrites a large task over and over; a reader
 * checks every version it sees is whole. */
struct reader {
	const char *file;
	atomic_bool stop;
	int reads, bad;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		json_t *v = json_load_file(r->file, 0, NULL);
		json_t *st = meta(v, "state");

		r->reads++;
		if (!v || !json_is_object(json_object_get(v, "payload")) ||
		    (st && !json_is_null(st) &&
		     json_string_length(json_object_get(st, "pad")) != 300000))
			r->bad++;
		json_decref(v);
	}
	return NULL;
}

static void test_random_kills_never_show_half_a_task(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL;
	struct reader r = { 0 };
	char file[512];
	pthread_t th;
	unsigned seed = (unsigned)now_us();

	new_dir();
	s = open_at("\"lease_ms\": 100, \"max_attempts\": 100");
	made = create_n(s, 1, NULL);
	snprintf(file, sizeof(file), "%s/%s.json", path, id_of(json_array_get(made, 0)));
	r.file = file;
	assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
	for (int round = 0; round < 12; round++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct cx_task_store *c =
				open_at("\"lease_ms\": 100, \"max_attempts\": 100");
			char *pad = malloc(300001);
			json_t *got = NULL;

			memset(pad, 'a' + round, 300000);
			pad[300000] = '\0';
			if (!c || cx_task_claim(c, "writer", NULL, 2000, &got, &err) || !got)
				_exit(2);
			for (int n = 0;; n++) {
				json_t *st = json_pack("{s:i, s:s}", "n", n, "pad", pad);

				cx_task_progress(c, id_of(got), "writer", NULL, st, &err);
				json_decref(st);
			}
		}
		usleep(150000 + rand_r(&seed) % 100000);
		kill9(pid);
		t = get(s, id_of(json_array_get(made, 0)));
		assert_non_null(json_object_get(t, "payload"));
		json_decref(t);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	print_message("      12 writers killed mid-stream: %d reads, %d half-written\n", r.reads,
		      r.bad);
	assert_true(r.reads > 0);
	assert_int_equal(r.bad, 0);
	json_decref(made);
	cx_task_store_close(s);
}

/* ---- wake-up by inotify ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 20

/* A child creates one task per round after the parent's claimer is waiting, and sends the
 * moment its create call started; the parent's claim returns with the task. */
static void test_waiting_claimer_woken_by_another_process(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	int go[2], times[2];
	int64_t lat[ROUNDS];
	pid_t pid;

	new_dir();
	s = open_at(NULL);
	assert_non_null(s);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(times), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cx_task_store *c = open_at(NULL);
		char b;

		close(go[1]);
		close(times[0]);
		while (read(go[0], &b, 1) == 1) {
			int64_t start = now_us();
			json_t *made = create_n(c, 1, NULL);

			if (write(times[1], &start, sizeof(start)) != sizeof(start))
				_exit(3);
			json_decref(made);
		}
		cx_task_store_close(c);
		_exit(0);
	}
	close(go[0]);
	close(times[1]);
	for (int i = 0; i < ROUNDS; i++) {
		json_t *t = NULL;
		int64_t start, woke;

		/* the claimer is waiting (nothing queued) when the child is told to create */
		assert_int_equal(cx_task_claim(s, "waiter", NULL, 0, &t, &err), 0);
		assert_null(t);
		assert_int_equal(write(go[1], "x", 1), 1);
		assert_int_equal(cx_task_claim(s, "waiter", NULL, 5000, &t, &err), 0);
		woke = now_us();
		assert_non_null(t);
		assert_int_equal(read(times[0], &start, sizeof(start)), sizeof(start));
		lat[i] = woke - start;
		assert_int_equal(cx_task_finish(s, id_of(t), "waiter", "completed", NULL, &err), 0);
		json_decref(t);
	}
	close(go[1]);
	close(times[0]);
	waitpid(pid, NULL, 0);
	qsort(lat, ROUNDS, sizeof(lat[0]), cmp_i64);
	print_message("      creation (other process) -> waiting claimer has the task: median %.2f "
		      "ms, max %.2f ms over %d rounds (target < 10 ms; includes the claim's "
		      "fsync'd write)\n",
		      lat[ROUNDS / 2] / 1000.0, lat[ROUNDS - 1] / 1000.0, ROUNDS);
	/* slack for a loaded machine; the figure above is what counts */
	assert_true(lat[ROUNDS / 2] < 100 * 1000);
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

static void test_watch_hears_other_processes(void **state)
{
	struct watched w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	int fds[2];
	char id[CX_TASK_ID_MAX + 32] = "";
	int64_t start, heard;
	pid_t pid;

	new_dir();
	s = open_at(NULL);
	assert_int_equal(cx_task_watch(s, on_change, &w, &err), 0);
	assert_int_equal(cx_task_watch(s, on_change, &w, &err), -1);
	assert_non_null(strstr(err.msg, "one per store"));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cx_task_store *c = open_at(NULL);
		int64_t t0 = now_us();
		json_t *made = create_n(c, 1, "cicd");

		close(fds[0]);
		if (write(fds[1], &t0, sizeof(t0)) != sizeof(t0))
			_exit(3);
		write_line(fds[1], id_of(json_array_get(made, 0)));
		json_decref(made);
		cx_task_store_close(c);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &start, sizeof(start)), sizeof(start));
	assert_true(read(fds[0], id, sizeof(id) - 1) > 0);
	id[strcspn(id, "\n")] = '\0';
	close(fds[0]);
	waitpid(pid, NULL, 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_processes_claim_each_task_once),
		cmocka_unit_test(test_kill9_claimer_lease_and_max_attempts),
		cmocka_unit_test(test_crash_mid_write_leaves_old_task),
		cmocka_unit_test(test_random_kills_never_show_half_a_task),
		cmocka_unit_test(test_waiting_claimer_woken_by_another_process),
		cmocka_unit_test(test_watch_hears_other_processes),
		cmocka_unit_test(test_create_19_with_fsync),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
