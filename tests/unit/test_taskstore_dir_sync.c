/* The dir store's sync, shared by the writers waiting for one ("fsync": true: a syncfs of
 * the file system): many writers at once make fewer syncs than writes, none renames its
 * file into place before a sync that began after its write has ended, and none returns
 * before a sync that began after its rename has ended. Lazy writes (a claim, a heartbeat)
 * wait for their data only: their rename is made durable by the next sync. */
#include "taskstore_test.h"

#define WRITERS 8

static atomic_long seq;               /* orders the events below */
static _Thread_local long renamed_at; /* this thread's last "before_rename" */
static _Thread_local long written_at; /* ... and "written" */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static long sync_start[256], sync_end[256];
static int nsyncs;
static pthread_barrier_t go_all;

static void hook(const char *stage)
{
	if (!strcmp(stage, "written")) {
		written_at = atomic_fetch_add(&seq, 1) + 1;
	} else if (!strcmp(stage, "before_rename")) {
		renamed_at = atomic_fetch_add(&seq, 1) + 1;
	} else if (!strcmp(stage, "fsync_folder")) {
		pthread_mutex_lock(&ev_mu);
		if (nsyncs < 256)
			sync_start[nsyncs] = atomic_fetch_add(&seq, 1) + 1;
		pthread_mutex_unlock(&ev_mu);
		/* A slow disk: the writers that come meanwhile wait for the next fsync. */
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	} else if (!strcmp(stage, "fsync_folder_done")) {
		pthread_mutex_lock(&ev_mu);
		if (nsyncs < 256)
			sync_end[nsyncs++] = atomic_fetch_add(&seq, 1) + 1;
		pthread_mutex_unlock(&ev_mu);
	}
}

struct writer {
	struct cx_task_store *s;
	char name[16];
	json_t *task;
	long written, renamed, returned;
	int rc;
};

static void *finish_one(void *arg)
{
	struct writer *w = arg;
	struct cx_err err = { 0 };

	pthread_barrier_wait(&go_all);
	w->rc = cx_task_finish(w->s, id_of(w->task), w->name, "completed", NULL, &err);
	w->returned = atomic_fetch_add(&seq, 1) + 1;
	w->renamed = renamed_at;
	w->written = written_at;
	if (w->rc)
		fprintf(stderr, "finish: %s\n", err.msg);
	return NULL;
}

/* files: "fsync": "files" (each file its own fdatasync, the folder's fsync shared). */
static void run_writers(bool files)
{
	struct cx_task_store *s;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	json_t *made;

	new_dir();
	s = open_at(files ? "\"fsync\": \"files\"" : "\"fsync\": true");
	assert_non_null(s);
	made = create_n(s, WRITERS, NULL);
	for (int i = 0; i < WRITERS; i++) {
		struct cx_err err = { 0 };

		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		snprintf(w[i].name, sizeof(w[i].name), "w%d", i);
		assert_int_equal(cx_task_claim(s, w[i].name, NULL, 0, &w[i].task, &err), 0);
		assert_non_null(w[i].task);
	}
	cx_task_dir_test_hook = hook;
	nsyncs = 0;
	pthread_barrier_init(&go_all, NULL, WRITERS);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, finish_one, &w[i]), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	cx_task_dir_test_hook = NULL;
	pthread_barrier_destroy(&go_all);

	/* Each finished a task of its own, renamed it into place only after a sync that began
	 * after its write had ended (its data durable), and returned only after a sync that
	 * began after its rename was prepared ("before_rename") had ended. */
	for (int i = 0; i < WRITERS; i++) {
		bool covered = false, written = false;

		assert_int_equal(w[i].rc, 0);
		assert_non_null(w[i].task);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(id_of(w[i].task), id_of(w[j].task));
		assert_true(w[i].written > 0);
		assert_true(w[i].renamed > w[i].written);
		for (int k = 0; k < nsyncs; k++) {
			written |= sync_start[k] > w[i].written && sync_end[k] < w[i].renamed;
			covered |= sync_start[k] > w[i].renamed && sync_end[k] < w[i].returned;
		}
		if (!written && !files)
			fail_msg("writer %d renamed at %ld, written at %ld, with no sync between",
				 i, w[i].renamed, w[i].written);
		if (!covered)
			fail_msg("writer %d returned at %ld, renamed at %ld, with no fsync between",
				 i, w[i].returned, w[i].renamed);
	}
	/* Shared: the writers that came while one sync ran were covered by the next one. */
	assert_true(nsyncs >= 1);
	if (nsyncs >= WRITERS)
		fail_msg("%d syncs for %d writes at once (each needs two)", nsyncs, WRITERS);
	print_message("%d writes at once, %d shared syncs (%s)\n", WRITERS, nsyncs,
		      files ? "the folder's fsync" : "syncfs");

	/* What they wrote is there. */
	for (int i = 0; i < WRITERS; i++) {
		json_t *t = get(s, id_of(w[i].task));

		assert_string_equal(json_string_value(json_object_get(t, "status")), "completed");
		json_decref(t);
		json_decref(w[i].task);
	}
	json_decref(made);
	cx_task_store_close(s);
}

static void test_writers_share_the_syncs(void **state)
{
	(void)state;
	run_writers(false);
}

static void test_writers_share_the_folder_fsync_with_files(void **state)
{
	(void)state;
	run_writers(true);
}

/* One write on this thread: whether a sync began after its write and ended before its
 * rename (its data durable first), and whether one began after its rename and ended before
 * it returned (the rename durable too). */
struct one_write {
	bool data_first, rename_durable;
};

static struct one_write sync_around(long written, long renamed, long returned)
{
	struct one_write o = { false, false };

	assert_true(written > 0);
	assert_true(renamed > written);
	for (int k = 0; k < nsyncs; k++) {
		o.data_first |= sync_start[k] > written && sync_end[k] < renamed;
		o.rename_durable |= sync_start[k] > renamed && sync_end[k] < returned;
	}
	return o;
}

#define WRITE_AND_SEE(call, o)                                                                     \
	do {                                                                                       \
		long returned_;                                                                    \
		nsyncs = 0;                                                                        \
		assert_int_equal((call), 0);                                                       \
		returned_ = atomic_fetch_add(&seq, 1) + 1;                                         \
		(o) = sync_around(written_at, renamed_at, returned_);                              \
	} while (0)

/* A claim and a heartbeat put their data on disk before their rename (a power cut never
 * tears the task) and return without waiting for the rename to be durable;
 * cx_task_progress and cx_task_finish wait for both. */
static void test_lazy_writes_wait_for_their_data_only(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	struct one_write o;
	json_t *made, *task = NULL, *p = json_pack("{s:s}", "last_tool_used", "gateway_status");
	bool cancel = false;

	(void)state;
	new_dir();
	s = open_at("\"fsync\": true");
	assert_non_null(s);
	made = create_n(s, 1, NULL);
	cx_task_dir_test_hook = hook;

	WRITE_AND_SEE(cx_task_claim(s, "w1", NULL, 0, &task, &err), o);
	assert_non_null(task);
	assert_true(o.data_first);
	assert_false(o.rename_durable);

	WRITE_AND_SEE(cx_task_heartbeat_with(s, id_of(task), "w1", p, NULL, &cancel, &err), o);
	assert_true(o.data_first);
	assert_false(o.rename_durable);

	WRITE_AND_SEE(cx_task_progress(s, id_of(task), "w1", p, NULL, &err), o);
	assert_true(o.data_first);
	assert_true(o.rename_durable);

	WRITE_AND_SEE(cx_task_finish(s, id_of(task), "w1", "completed", NULL, &err), o);
	assert_true(o.data_first);
	assert_true(o.rename_durable);
	cx_task_dir_test_hook = NULL;

	/* Every write landed: the last one is there, with the heartbeat's progress in it. */
	json_t *t = get(s, id_of(task));
	assert_string_equal(json_string_value(json_object_get(t, "status")), "completed");
	assert_string_equal(json_string_value(meta(t, "last_tool_used")), "gateway_status");
	json_decref(t);
	json_decref(task);
	json_decref(p);
	json_decref(made);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_share_the_syncs),
		cmocka_unit_test(test_writers_share_the_folder_fsync_with_files),
		cmocka_unit_test(test_lazy_writes_wait_for_their_data_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
