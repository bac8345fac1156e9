/* taskctl: a worker's side of the task store from the command line, for the cortex tools'
 * tests (a task claimed, advanced, held for approval, finished, an agent reported) and for
 * bench/tasks.sh (creation latency, claim-to-claim throughput, wake-up latency). Until the
 * orchestrator exists, this is what plays it.
 *
 *   taskctl CONF claim WORKER WAIT_MS [CATEGORY...]   the task claimed, or null (exit 1)
 *   taskctl CONF heartbeat ID WORKER                  {"cancel_requested"} (exit 1: not held)
 *   taskctl CONF progress ID WORKER PROGRESS [STATE]
 *   taskctl CONF hold ID WORKER PENDING [STATE]
 *   taskctl CONF finish ID WORKER STATUS RESULT
 *   taskctl CONF release ID WORKER
 *   taskctl CONF agent AGENT
 *   taskctl CONF get ID
 *   taskctl CONF bench-create BATCH ROUNDS            ms per call: mean, p50, p95, max
 *   taskctl CONF bench-claim THREADS                  claims and finishes every queued task
 *   taskctl CONF bench-wake ROUNDS                    creation -> waiting claimer's wake-up
 *
 * A JSON argument written @FILE is read from FILE.
 * CONF is the "tasks" config object as JSON ('{"store": "dir", "dir": "/tmp/t"}'). Output is
 * JSON on stdout; exit 0, 1 (nothing claimed, not held, no such task) or 2 (an error, on
 * stderr). */
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/taskstore.h"
#include "../common/util.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fail(const char *what, const struct cx_err *err)
{
	fprintf(stderr, "taskctl: %s: %s\n", what, err ? err->msg : "bad arguments");
	return 2;
}

/* A JSON argument, or with a leading '@' the JSON in that file (a conversation larger than a
 * command line may carry). */
static json_t *arg_json(const char *s)
{
	json_error_t e;
	json_t *v = s[0] == '@' ? json_load_file(s + 1, JSON_DECODE_ANY, &e)
				: json_loads(s, JSON_DECODE_ANY, &e);

	if (!v)
		fprintf(stderr, "taskctl: '%s' is not JSON: %s\n", s, e.text);
	return v;
}

static int print(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s)
		puts(s);
	free(s);
	json_decref(v);
	return 0;
}

/* 0 ok (prints out), 1 not found or not held, 2 error. */
static int answer(int rc, const char *what, const struct cx_err *err, json_t *out)
{
	if (rc < 0) {
		json_decref(out);
		return fail(what, err);
	}
	if (rc > 0) {
		json_decref(out);
		puts("null");
		return 1;
	}
	return print(out ? out : json_true());
}

static int cmd_claim(struct cx_task_store *s, int argc, char **argv)
{
	struct cx_err err = { 0 };
	json_t *task = NULL;

	long wait_ms;

	if (argc < 2 || cx_parse_long(argv[1], 0, LONG_MAX, &wait_ms))
		return fail("claim WORKER WAIT_MS [CATEGORY...]", NULL);
	/* argv[2..] are the categories, NULL-terminated as argv is. */
	if (cx_task_claim(s, argv[0], argc > 2 ? (const char *const *)argv + 2 : NULL, wait_ms,
			  &task, &err))
		return fail("claim", &err);
	if (!task) {
		puts("null");
		return 1;
	}
	return print(task);
}

static int cmd_worker(struct cx_task_store *s, const char *cmd, int argc, char **argv)
{
	struct cx_err err = { 0 };
	bool finish = !strcmp(cmd, "finish"), cancel = false;
	json_t *a = NULL, *b = NULL;
	int rc;

	if (argc < 2)
		return fail(cmd, NULL);
	/* finish takes STATUS then RESULT; the others JSON arguments only. */
	if (argc > 2 && !finish && !(a = arg_json(argv[2])))
		return 2;
	if (argc > 3 && !(b = arg_json(argv[3]))) {
		json_decref(a);
		return 2;
	}
	if (!strcmp(cmd, "heartbeat"))
		rc = answer(cx_task_heartbeat(s, argv[0], argv[1], &cancel, &err), cmd, &err,
			    json_pack("{s:b}", "cancel_requested", cancel));
	else if (!strcmp(cmd, "progress") && a)
		rc = answer(cx_task_progress(s, argv[0], argv[1], a, b, &err), cmd, &err, NULL);
	else if (!strcmp(cmd, "hold") && a)
		rc = answer(cx_task_hold(s, argv[0], argv[1], a, b, &err), cmd, &err, NULL);
	else if (finish && argc > 2)
		rc = answer(cx_task_finish(s, argv[0], argv[1], argv[2], b, &err), cmd, &err, NULL);
	else if (!strcmp(cmd, "release"))
		rc = answer(cx_task_release(s, argv[0], argv[1], &err), cmd, &err, NULL);
	else
		rc = fail(cmd, NULL);
	json_decref(a);
	json_decref(b);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* {"n", "mean_ms", "p50_ms", "p95_ms", "max_ms"} of v (sorted here). */
static json_t *stats(double *v, size_t n)
{
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)n, "mean_ms",
			 n ? sum / (double)n : 0.0, "p50_ms", n ? v[(n - 1) / 2] : 0.0, "p95_ms",
			 n ? v[(n * 95 + 99) / 100 - 1] : 0.0, "max_ms", n ? v[n - 1] : 0.0);
}

static json_t *specs_of(long n, const char *tag)
{
	static const char *const cats[] = { "development", "security", "infrastructure",
					    "inventory",   "cicd",     "general" };
	json_t *specs = json_array();
	char q[128];

	for (long i = 0; specs && i < n; i++) {
		snprintf(q, sizeof(q), "benchmark task %ld of %ld (%s)", i + 1, n, tag);
		json_array_append_new(specs, json_pack("{s:s, s:s, s:i}", "query", q, "category",
						       cats[i % 6], "priority", (int)(i % 5) + 1));
	}
	return specs;
}

static int cmd_bench_create(struct cx_task_store *s, long batch, long rounds)
{
	double *v = calloc((size_t)rounds, sizeof(*v));
	json_t *specs = specs_of(batch, "bench-create");
	struct cx_err err = { 0 };
	int rc = 0;

	for (long r = 0; v && specs && r < rounds && !rc; r++) {
		json_t *created = NULL;
		double t0 = now_ms();
		if (cx_task_create(s, specs, &created, &err))
			rc = fail("create", &err);
		v[r] = now_ms() - t0;
		json_decref(created);
	}
	if (!rc)
		print(stats(v, (size_t)rounds));
	json_decref(specs);
	free(v);
	return rc;
}

struct claimer {
	struct cx_task_store *s;
	char worker[32];
	long done;
	int rc;
};

/* An empty worker loop: claim, finish, claim again, until the queue is empty. */
static void *claim_loop(void *arg)
{
	struct claimer *c = arg;
	struct cx_err err = { 0 };
	json_t *task;

	for (;;) {
		task = NULL;
		if (cx_task_claim(c->s, c->worker, NULL, 0, &task, &err)) {
			c->rc = fail("claim", &err);
			break;
		}
		if (!task)
			break;
		if (cx_task_finish(c->s, json_string_value(json_object_get(task, "id")), c->worker,
				   "completed", NULL, &err) < 0) {
			c->rc = fail("finish", &err);
			json_decref(task);
			break;
		}
		json_decref(task);
		c->done++;
	}
	return NULL;
}

static int cmd_bench_claim(struct cx_task_store *s, long threads)
{
	struct claimer c[64];
	pthread_t t[64];
	long total = 0, n = threads < 1 ? 1 : threads > 64 ? 64 : threads;
	double t0 = now_ms(), ms;
	int rc = 0;

	for (long i = 0; i < n; i++) {
		c[i] = (struct claimer){ .s = s };
		snprintf(c[i].worker, sizeof(c[i].worker), "bench-%d-%ld", (int)getpid(), i);
		pthread_create(&t[i], NULL, claim_loop, &c[i]);
	}
	for (long i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		total += c[i].done;
		rc = rc ? rc : c[i].rc;
	}
	ms = now_ms() - t0;
	print(json_pack("{s:I, s:I, s:f, s:f}", "threads", (json_int_t)n, "tasks",
			(json_int_t)total, "seconds", ms / 1e3, "tasks_per_s",
			ms > 0 ? (double)total * 1e3 / ms : 0.0));
	return rc;
}

/* The claimer of bench-wake, in a process of its own with its own store handle: waits for a
 * task, writes the monotonic time it got it to fd, finishes it, waits again. */
static void wake_child(const json_t *conf, int fd, long rounds)
{
	struct cx_err err = { 0 };
	struct cx_task_store *s = cx_task_store_open(conf, &err);

	for (long r = 0; s && r < rounds; r++) {
		json_t *task = NULL;
		double t;
		if (cx_task_claim(s, "bench-wake", NULL, 10000, &task, &err) || !task)
			break;
		t = now_ms();
		if (write(fd, &t, sizeof(t)) != sizeof(t))
			break;
		cx_task_finish(s, json_string_value(json_object_get(task, "id")), "bench-wake",
			       "completed", NULL, &err);
		json_decref(task);
	}
	if (!s || err.msg[0])
		fprintf(stderr, "taskctl: bench-wake claimer: %s\n", err.msg);
	cx_task_store_close(s);
	_exit(0);
}

static int cmd_bench_wake(struct cx_task_store *s, const json_t *conf, long rounds)
{
	double *v = calloc((size_t)rounds, sizeof(*v)), t1;
	json_t *specs = specs_of(1, "bench-wake");
	struct cx_err err = { 0 };
	int fds[2], rc = 0;
	pid_t pid;

	if (!v || !specs || pipe(fds))
		return fail("bench-wake", NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		wake_child(conf, fds[1], rounds);
	}
	close(fds[1]);
	for (long r = 0; r < rounds && !rc; r++) {
		json_t *created = NULL;
		double t0;
		usleep(20000); /* the claimer is waiting again by now */
		t0 = now_ms();
		if (cx_task_create(s, specs, &created, &err))
			rc = fail("create", &err);
		json_decref(created);
		if (!rc && read(fds[0], &t1, sizeof(t1)) != sizeof(t1))
			rc = fail("bench-wake: the claimer stopped", NULL);
		v[r] = rc ? 0 : t1 - t0;
	}
	close(fds[0]);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	if (!rc)
		print(stats(v, (size_t)rounds));
	json_decref(specs);
	free(v);
	return rc;
}

static int run(struct cx_task_store *s, const json_t *conf, const char *cmd, int argc, char **argv)
{
	struct cx_err err = { 0 };
	json_t *v = NULL;
	long n, m;

	if (!strcmp(cmd, "claim"))
		return cmd_claim(s, argc, argv);
	if (!strcmp(cmd, "get") && argc == 1) {
		int rc = cx_task_get(s, argv[0], &v, &err); /* before v is read */

		return answer(rc, cmd, &err, v);
	}
	if (!strcmp(cmd, "agent") && argc == 1) {
		int rc;
		if (!(v = arg_json(argv[0])))
			return 2;
		rc = answer(cx_agent_put(s, v, &err), cmd, &err, NULL);
		json_decref(v);
		return rc;
	}
	if (!strcmp(cmd, "bench-create") && argc == 2 && !cx_parse_long(argv[0], 1, LONG_MAX, &n) &&
	    !cx_parse_long(argv[1], 1, LONG_MAX, &m))
		return cmd_bench_create(s, n, m);
	if (!strcmp(cmd, "bench-claim") && argc == 1 && !cx_parse_long(argv[0], 0, LONG_MAX, &n))
		return cmd_bench_claim(s, n);
	if (!strcmp(cmd, "bench-wake") && argc == 1 && !cx_parse_long(argv[0], 1, LONG_MAX, &n))
		return cmd_bench_wake(s, conf, n);
	return cmd_worker(s, cmd, argc, argv);
}

int main(int argc, char **argv)
{
	struct cx_err err = { 0 };
	struct cx_task_store *s;
	json_t *conf;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: taskctl CONF COMMAND ARGS... (see bench/taskctl.c)\n");
		return 2;
	}
	conf = arg_json(argv[1]);
	if (!conf)
		return 2;
	s = cx_task_store_open(conf, &err);
	if (!s) {
		json_decref(conf);
		return fail("open", &err);
	}
	rc = run(s, conf, argv[2], argc - 3, argv + 3);
	cx_task_store_close(s);
	json_decref(conf);
	return rc;
}
