/* The dir task store across processes: several processes claiming at once (no task taken
 * twice, none lost), kill -9 of a claimer (taken again after the lease, attempts counted,
 * failed after max_attempts), a crash in the middle of a write (never a half-written task
 * visible). Lease renewal is in test_taskstore_dir.c; wake-up latency and throughput in
 * test_taskstore_dir_wake.c. */
#include "taskstore_test.h"

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
	s = open_at(NULL); /* after the forks: see fork_child */
	assert_non_null(s);
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

/* A child that, when told, claims one task, says so, and hangs until killed. */
struct hanger {
	const char *worker, *conf;
	int out[2];
	struct child c;
};

static void hang_part(const void *arg)
{
	const struct hanger *h = arg;
	struct cx_task_store *s = open_at(h->conf);
	struct cx_err err = { 0 };
	json_t *t = NULL;

	if (!s || cx_task_claim(s, h->worker, NULL, 2000, &t, &err) || !t)
		_exit(2);
	write_line(h->out[1], id_of(t));
	for (;;)
		pause();
}

static void hanger_fork(struct hanger *h, const char *worker, const char *conf)
{
	h->worker = worker;
	h->conf = conf;
	assert_int_equal(pipe(h->out), 0);
	h->c = fork_child(hang_part, h);
	close(h->out[1]);
}

/* Tells it to claim; returns once it holds the task. */
static pid_t hanger_claim(struct hanger *h)
{
	char buf[128] = "";

	go(&h->c);
	assert_true(read(h->out[0], buf, sizeof(buf) - 1) > 0);
	close(h->out[0]);
	return h->c.pid;
}

static void test_kill9_claimer_lease_and_max_attempts(void **state)
{
	const char *conf = "\"lease_ms\": 400, \"max_attempts\": 2";
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL;
	int64_t t0, waited;

	struct hanger h[3];

	new_dir();
	hanger_fork(&h[0], "doomed-1", conf);
	hanger_fork(&h[1], "doomed-2", conf);
	hanger_fork(&h[2], "doomed-3", conf);
	s = open_at(conf);
	assert_non_null(s);
	made = create_n(s, 1, NULL);
	kill9(hanger_claim(&h[0]));
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
	kill9(hanger_claim(&h[1]));
	usleep(450 * 1000);
	kill9(hanger_claim(&h[2]));
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

static void crash_part(const void *arg)
{
	struct cx_task_store *c = open_at(NULL);
	struct cx_err err = { 0 };
	json_t *got = NULL;

	crash_stage = arg;
	cx_task_dir_test_hook = crash_hook;
	cx_task_claim(c, "crasher", NULL, 1000, &got, &err);
	_exit(0); /* not reached: the hook kills the claim's write */
}

static void crash_at(const char *stage)
{
	struct child crasher = fork_child(crash_part, stage);
	struct cx_task_store *s = open_at(NULL), *again;
	struct cx_err err = { 0 };
	json_t *made = create_n(s, 1, NULL), *t, *before;
	int status;

	before = get(s, id_of(json_array_get(made, 0)));
	go(&crasher);
	assert_int_equal(waitpid(crasher.pid, &status, 0), crasher.pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
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

#define WRITERS     12
#define KILLED_CONF "\"lease_ms\": 100, \"max_attempts\": 100"

/* Claims the task (once the last writer's lease ran out) and rewrites it for ever. */
static void writer_part(const void *arg)
{
	struct cx_task_store *c = open_at(KILLED_CONF);
	char *pad = malloc(300001);
	struct cx_err err = { 0 };
	json_t *got = NULL;

	memset(pad, 'a' + (int)(intptr_t)arg, 300000);
	pad[300000] = '\0';
	if (!c || cx_task_claim(c, "writer", NULL, 2000, &got, &err) || !got)
		_exit(2);
	for (int n = 0;; n++) {
		json_t *st = json_pack("{s:i, s:s}", "n", n, "pad", pad);

		cx_task_progress(c, id_of(got), "writer", NULL, st, &err);
		json_decref(st);
	}
}

static void test_random_kills_never_show_half_a_task(void **state)
{
	struct cx_task_store *s;
	struct child w[WRITERS];
	json_t *made, *t = NULL;
	struct reader r = { 0 };
	char file[512];
	pthread_t th;
	unsigned seed = (unsigned)now_us();

	new_dir();
	for (int i = 0; i < WRITERS; i++)
		w[i] = fork_child(writer_part, (const void *)(intptr_t)i);
	s = open_at(KILLED_CONF);
	made = create_n(s, 1, NULL);
	snprintf(file, sizeof(file), "%s/%s.json", path, id_of(json_array_get(made, 0)));
	r.file = file;
	assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
	for (int i = 0; i < WRITERS; i++) {
		go(&w[i]);
		usleep(150000 + rand_r(&seed) % 100000);
		kill9(w[i].pid);
		t = get(s, id_of(json_array_get(made, 0)));
		assert_non_null(json_object_get(t, "payload"));
		json_decref(t);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	t = get(s, id_of(json_array_get(made, 0)));
	print_message("      %d writers killed mid-stream (the last wrote version %lld): %d reads, "
		      "%d half-written\n",
		      WRITERS,
		      (long long)json_integer_value(json_object_get(meta(t, "state"), "n")),
		      r.reads, r.bad);
	assert_true(r.reads > 0);
	assert_int_equal(r.bad, 0);
	assert_true(json_integer_value(meta(t, "attempts")) >= 2);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_processes_claim_each_task_once),
		cmocka_unit_test(test_kill9_claimer_lease_and_max_attempts),
		cmocka_unit_test(test_crash_mid_write_leaves_old_task),
		cmocka_unit_test(test_random_kills_never_show_half_a_task),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
