/* Claimers of one process share the dir store's queue: a claimer passes over a task another
 * claimer of the process is trying (instead of waiting on the same file's lock and giving
 * up), and none is lost for it. */
#include "taskstore_test.h"

static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cv = PTHREAD_COND_INITIALIZER;
static bool held, let_go;
static _Thread_local bool stop_here; /* this thread's try is held in the hook */

static void hook(const char *stage)
{
	if (strcmp(stage, "claim_try") || !stop_here)
		return;
	stop_here = false;
	pthread_mutex_lock(&hook_mu);
	held = true;
	pthread_cond_broadcast(&hook_cv);
	while (!let_go)
		pthread_cond_wait(&hook_cv, &hook_mu);
	pthread_mutex_unlock(&hook_mu);
}

struct claimer {
	struct cx_task_store *s;
	json_t *task;
	int rc;
};

static void *claim_held(void *arg)
{
	struct claimer *c = arg;
	struct cx_err err = { 0 };

	stop_here = true;
	c->rc = cx_task_claim(c->s, "a", NULL, 0, &c->task, &err);
	return NULL;
}

/* While claimer a is trying the most urgent task (held between its mark and the file's
 * lock), claimer b takes the next one at once, and a still gets its own. */
static void test_a_claimer_passes_over_a_task_another_is_trying(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	struct claimer a = { 0 };
	json_t *made, *t = NULL;
	pthread_t th;

	(void)state;
	new_dir();
	s = open_at("\"fsync\": false");
	assert_non_null(s);
	made = create_n(s, 2, NULL); /* same priority: the first created is the more urgent */
	cx_task_dir_test_hook = hook;
	held = let_go = false;
	a.s = s;
	assert_int_equal(pthread_create(&th, NULL, claim_held, &a), 0);
	pthread_mutex_lock(&hook_mu);
	{
		struct timespec until;

		cx_deadline_ts(CLOCK_REALTIME, 30000, &until); /* the cond's default clock */
		while (!held && pthread_cond_timedwait(&hook_cv, &hook_mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&hook_mu);
	if (!held)
		fail_msg("claimer a never reached its try of the first task");

	/* Before, b took the first task (its file not locked yet) from under a. */
	assert_int_equal(cx_task_claim(s, "b", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(id_of(t), id_of(json_array_get(made, 1)));

	pthread_mutex_lock(&hook_mu);
	let_go = true;
	pthread_cond_broadcast(&hook_cv);
	pthread_mutex_unlock(&hook_mu);
	assert_int_equal(pthread_join(th, NULL), 0);
	cx_task_dir_test_hook = NULL;
	assert_int_equal(a.rc, 0);
	assert_non_null(a.task);
	assert_string_equal(id_of(a.task), id_of(json_array_get(made, 0)));
	assert_string_equal(json_string_value(meta(a.task, "worker")), "a");
	assert_string_equal(json_string_value(meta(t, "worker")), "b");
	json_decref(a.task);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

#define THREADS 8
#define TASKS   96

struct drainer {
	struct cx_task_store *s;
	char name[16];
	char ids[TASKS][CX_TASK_ID_MAX];
	int n, rc;
};

static pthread_barrier_t go_all;

static void *drain(void *arg)
{
	struct drainer *w = arg;
	struct cx_err err = { 0 };

	pthread_barrier_wait(&go_all);
	for (;;) {
		json_t *t = NULL;

		w->rc = cx_task_claim(w->s, w->name, NULL, 0, &t, &err);
		if (w->rc || !t)
			break;
		snprintf(w->ids[w->n++], CX_TASK_ID_MAX, "%s", id_of(t));
		json_decref(t);
	}
	return NULL;
}

/* Eight claimers that do not wait take every task between them, each exactly once: a task
 * passed over because another claimer was trying it is not taken for none left. */
static void test_claimers_at_once_take_every_task_once(void **state)
{
	static struct drainer w[THREADS];
	struct cx_task_store *s;
	pthread_t th[THREADS];
	json_t *made, *seen = json_object();
	int total = 0;

	(void)state;
	new_dir();
	s = open_at("\"fsync\": false");
	assert_non_null(s);
	made = create_n(s, TASKS, NULL);
	pthread_barrier_init(&go_all, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		snprintf(w[i].name, sizeof(w[i].name), "w%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, drain, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&go_all);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].rc, 0);
		for (int k = 0; k < w[i].n; k++) {
			if (json_object_get(seen, w[i].ids[k]))
				fail_msg("%s claimed twice", w[i].ids[k]);
			json_object_set_new(seen, w[i].ids[k], json_string(w[i].name));
			total++;
		}
	}
	assert_int_equal(total, TASKS);
	for (size_t i = 0; i < TASKS; i++) {
		const char *id = id_of(json_array_get(made, i));
		json_t *t = get(s, id);

		assert_string_equal(json_string_value(json_object_get(t, "status")), "in_progress");
		assert_string_equal(json_string_value(meta(t, "worker")),
				    json_string_value(json_object_get(seen, id)));
		json_decref(t);
	}
	json_decref(seen);
	json_decref(made);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_claimer_passes_over_a_task_another_is_trying),
		cmocka_unit_test(test_claimers_at_once_take_every_task_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
