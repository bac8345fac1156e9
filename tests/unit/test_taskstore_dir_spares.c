/* The dir store's spares: a replaced task file's inode is written again for a later change
 * (no new inode per write), never before it rested, and never seen half-written by a reader
 * of this process or another. */
#include "taskstore_test.h"

/* The inode the task's file has now. */
static ino_t ino_of(const char *id)
{
	char file[512];
	struct stat st;

	snprintf(file, sizeof(file), "%s/%s.json", path, id);
	assert_int_equal(stat(file, &st), 0);
	return st.st_ino;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Changes written 60 ms apart (past a rest of 50 ms) go back and forth between two inodes:
 * the file replaced by one change is the one the next change but one is written into. */
static void test_replaced_files_are_written_again(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL, *p;
	ino_t seen[8];
	const char *id;

	cx_task_dir_spare_rest_ms = 50;
	new_dir();
	s = open_at("\"fsync\": false");
	made = create_n(s, 1, NULL);
	id = id_of(json_array_get(made, 0));
	seen[0] = ino_of(id);
	assert_int_equal(cx_task_claim(s, "w", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	seen[1] = ino_of(id);
	for (int i = 2; i < 8; i++) {
		sleep_ms(60);
		p = json_pack("{s:i}", "iterations", i);
		assert_int_equal(cx_task_progress(s, id, "w", p, NULL, &err), 0);
		json_decref(p);
		seen[i] = ino_of(id);
	}
	for (int i = 2; i < 8; i++) {
		assert_true(seen[i] != seen[i - 1]); /* a rename, never an in-place write */
		assert_int_equal(seen[i], seen[i - 2]);
	}
	assert_int_equal(count_prefix(".spare."), 1);
	p = get(s, id);
	assert_int_equal(json_integer_value(meta(p, "iterations")), 7);
	json_decref(p);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
	assert_int_equal(count_prefix(".spare."), 0); /* a store closing removes its spares */
	cx_task_dir_spare_rest_ms = 2000;
}

/* A change within the rest (2 s) takes a new file. */
static void test_a_spare_rests_before_it_is_written(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL, *p;
	ino_t a, b, c;
	const char *id;

	new_dir();
	s = open_at("\"fsync\": false");
	made = create_n(s, 1, NULL);
	id = id_of(json_array_get(made, 0));
	a = ino_of(id);
	assert_int_equal(cx_task_claim(s, "w", NULL, 0, &t, &err), 0);
	b = ino_of(id);
	p = json_pack("{s:i}", "iterations", 1);
	assert_int_equal(cx_task_progress(s, id, "w", p, NULL, &err), 0);
	c = ino_of(id);
	assert_true(c != a && c != b);
	json_decref(p);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

/* A reader of its own (cat, jq, another program) that opened the old file reads it whole for
 * the rest (2 s), however many changes are written meanwhile. */
static void test_a_file_still_open_is_not_written_again(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL, *p, *old;
	char file[512], buf[65536];
	const char *id;
	ssize_t n;
	int fd;

	new_dir();
	s = open_at("\"fsync\": false");
	made = create_n(s, 1, NULL);
	id = id_of(json_array_get(made, 0));
	assert_int_equal(cx_task_claim(s, "w", NULL, 0, &t, &err), 0);
	snprintf(file, sizeof(file), "%s/%s.json", path, id);
	fd = open(file, O_RDONLY); /* the claimed version, held open */
	assert_true(fd >= 0);
	for (int i = 1; i <= 4; i++) {
		sleep_ms(60); /* past a rest of 50 ms it would have been written again */
		p = json_pack("{s:i}", "iterations", i);
		assert_int_equal(cx_task_progress(s, id, "w", p, NULL, &err), 0);
		json_decref(p);
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	old = json_loads(buf, 0, NULL);
	assert_non_null(old);
	assert_string_equal(json_string_value(json_object_get(old, "status")), "in_progress");
	assert_int_equal(json_integer_value(meta(old, "iterations")), 0); /* none of the 4 */
	assert_string_equal(id_of(old), id);
	close(fd);
	json_decref(old);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

/* A state as large as a spare may be (DIR_SPARE_SIZE_MAX), less the rest of the task. */
#define PAD 12000

/* Two tasks with large states rewritten as fast as possible by one thread, spares turning
 * over all the time; readers (a thread of this store, and a second store of the same
 * directory) get each task whole, every time. */
struct rw {
	struct cx_task_store *s, *other;
	const char *ids[2];
	atomic_bool stop;
	atomic_int reads, bad, writes;
};

static void *rw_writer(void *arg)
{
	struct rw *x = arg;
	char *pad = malloc(PAD + 1);
	struct cx_err err = { 0 };

	for (int n = 0; !atomic_load(&x->stop); n++) {
		json_t *st;

		memset(pad, 'a' + n % 26, PAD);
		pad[PAD] = '\0';
		st = json_pack("{s:i, s:s}", "n", n, "pad", pad);
		if (cx_task_progress(x->s, x->ids[n % 2], "w", NULL, st, &err))
			x->bad++;
		json_decref(st);
		x->writes++;
	}
	free(pad);
	return NULL;
}

static bool whole(const json_t *t, const char *id)
{
	const json_t *st = meta(t, "state");
	const char *pad = json_string_value(json_object_get(st, "pad"));

	if (!t || strcmp(id_of(t) ? id_of(t) : "", id))
		return false;
	if (!st || json_is_null(st))
		return true;
	if (!pad || strlen(pad) != PAD)
		return false;
	for (size_t i = 1; i < PAD; i++)
		if (pad[i] != pad[0])
			return false;
	return true;
}

static void *rw_reader(void *arg)
{
	struct rw *x = arg;

	for (int n = 0; !atomic_load(&x->stop); n++) {
		struct cx_task_store *s = n % 2 ? x->s : x->other;
		const char *id = x->ids[n % 2 ? 0 : 1];
		struct cx_err err = { 0 };
		json_t *t = NULL;

		if (cx_task_get(s, id, &t, &err) || !whole(t, id))
			x->bad++;
		x->reads++;
		json_decref(t);
	}
	return NULL;
}

static void test_readers_never_see_a_spare_half_written(void **state)
{
	struct rw x = { 0 };
	struct cx_err err = { 0 };
	pthread_t w, r1, r2;
	json_t *made, *t;

	cx_task_dir_spare_rest_ms = 0; /* spares turn over at once: the shared lock protects */
	new_dir();
	x.s = open_at("\"fsync\": false, \"lease_ms\": 600000");
	x.other = open_at("\"fsync\": false");
	made = create_n(x.s, 2, NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cx_task_claim(x.s, "w", NULL, 0, &t, &err), 0);
		x.ids[i] = id_of(json_array_get(made, i));
		json_decref(t);
	}
	pthread_create(&w, NULL, rw_writer, &x);
	pthread_create(&r1, NULL, rw_reader, &x);
	pthread_create(&r2, NULL, rw_reader, &x);
	sleep_ms(1500);
	atomic_store(&x.stop, true);
	pthread_join(w, NULL);
	pthread_join(r1, NULL);
	pthread_join(r2, NULL);
	assert_int_equal(x.bad, 0);
	assert_true(x.writes > 20);
	assert_true(x.reads > 20);
	assert_true(count_prefix(".spare.") >= 1); /* the spares turned over */
	cx_task_dir_spare_rest_ms = 2000;
	cx_task_store_close(x.other);
	cx_task_store_close(x.s);
	json_decref(made);
}

/* A spare is written over from its start, not emptied first: a shorter version written into
 * a longer file's spare is cut to its own length, one JSON line with nothing after it. */
static void test_a_shorter_version_is_cut_to_its_length(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL, *st, *back;
	char file[512], *text, *pad = malloc(6001);
	ino_t big_ino;
	const char *id;
	struct stat sb;
	int fd;

	cx_task_dir_spare_rest_ms = 50;
	new_dir();
	s = open_at("\"fsync\": false");
	made = create_n(s, 1, NULL);
	id = id_of(json_array_get(made, 0));
	assert_int_equal(cx_task_claim(s, "w", NULL, 0, &t, &err), 0);
	memset(pad, 'x', 6000);
	pad[6000] = '\0';
	st = json_pack("{s:s}", "pad", pad);
	sleep_ms(60);
	assert_int_equal(cx_task_progress(s, id, "w", NULL, st, &err), 0);
	big_ino = ino_of(id);
	sleep_ms(60);
	assert_int_equal(cx_task_progress(s, id, "w", NULL, st, &err), 0);
	json_decref(st);
	sleep_ms(60);
	st = json_pack("{s:s}", "pad", "short");
	assert_int_equal(cx_task_progress(s, id, "w", NULL, st, &err), 0);
	assert_int_equal(ino_of(id), big_ino); /* written into the long version's file */

	snprintf(file, sizeof(file), "%s/%s.json", path, id);
	fd = open(file, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	text = read_all(fd);
	close(fd);
	assert_true(sb.st_size < 2000);
	assert_int_equal(strlen(text), (size_t)sb.st_size);
	assert_int_equal(text[sb.st_size - 1], '\n');
	assert_null(strstr(text, "xxxx")); /* nothing of the long version left */
	back = json_loads(text, 0, NULL);  /* nothing after the one value but its newline */
	assert_non_null(back);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(json_object_get(back,
										    "metadata"),
								    "state"),
						    "pad")),
			    "short");
	json_decref(back);
	free(text);
	json_decref(st);
	free(pad);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
	cx_task_dir_spare_rest_ms = 2000;
}

/* A task file over DIR_SPARE_SIZE_MAX is not kept: spares keep their old bytes on disk. */
static void test_a_large_file_is_not_kept(void **state)
{
	struct cx_task_store *s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL, *st;
	char *big = malloc(DIR_SPARE_SIZE_MAX + 2);
	const char *id;

	new_dir();
	s = open_at("\"fsync\": false");
	made = create_n(s, 1, NULL);
	id = id_of(json_array_get(made, 0));
	assert_int_equal(cx_task_claim(s, "w", NULL, 0, &t, &err), 0);
	assert_int_equal(count_prefix(".spare."), 1); /* the created file, small */
	memset(big, 'x', DIR_SPARE_SIZE_MAX + 1);
	big[DIR_SPARE_SIZE_MAX + 1] = '\0';
	st = json_pack("{s:s}", "pad", big);
	assert_int_equal(cx_task_progress(s, id, "w", NULL, st, &err),
			 0); /* the claimed file, small */
	assert_int_equal(count_prefix(".spare."), 2);
	assert_int_equal(cx_task_progress(s, id, "w", NULL, st, &err), 0); /* the large one: gone */
	assert_int_equal(count_prefix(".spare."), 2);
	json_decref(st);
	free(big);
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replaced_files_are_written_again),
		cmocka_unit_test(test_a_spare_rests_before_it_is_written),
		cmocka_unit_test(test_a_file_still_open_is_not_written_again),
		cmocka_unit_test(test_a_large_file_is_not_kept),
		cmocka_unit_test(test_a_shorter_version_is_cut_to_its_length),
		cmocka_unit_test(test_readers_never_see_a_spare_half_written),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
