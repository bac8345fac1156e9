/* The audit log: whole JSON lines, appended across restarts, secrets redacted, concurrent
 * writers never interleaving, failures reported but never fatal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/audit.h"

static char dir[] = "/tmp/cx-test-audit-XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* Reads a whole file (caller frees). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return data;
}

/* Splits text into parsed lines; every line must be a JSON object ending in "\n". */
static json_t *parse_lines(const char *text)
{
	json_t *lines = json_array();
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		json_error_t e;
		json_t *v;

		assert_non_null(nl); /* no partial last line */
		v = json_loadb(p, (size_t)(nl - p), 0, &e);
		if (!v)
			fail_msg("line is not JSON: %.*s (%s)", (int)(nl - p), p, e.text);
		assert_true(json_is_object(v));
		json_array_append_new(lines, v);
		p = nl + 1;
	}
	return lines;
}

static void test_outcome_names(void **state)
{
	assert_string_equal(cx_audit_outcome_name(CX_AUDIT_OK), "ok");
	assert_string_equal(cx_audit_outcome_name(CX_AUDIT_IS_ERROR), "isError");
	assert_string_equal(cx_audit_outcome_name(CX_AUDIT_REFUSED), "refused");
	assert_string_equal(cx_audit_outcome_name(CX_AUDIT_ERROR), "error");
}

static void test_record_fields_and_reopen(void **state)
{
	const char *path = tmp_path("audit.log");
	json_t *args = json_pack("{s:i,s:s,s:{s:s}}", "vmid", 101, "password", "hunter2", "auth",
				 "token", "abc");
	struct cx_audit_rec rec = { "ops-token", "ab12cd", "proxmox_start_vm", args, CX_AUDIT_OK,
				    42,          NULL };
	struct cx_err err;
	struct cx_audit *a;
	json_t *lines, *l0, *l1;
	const char *ts;
	struct stat st;
	char *text;

	a = cx_audit_open(path, &err);
	assert_non_null(a);
	cx_audit_write(a, &rec);
	cx_audit_close(a);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A restart appends; it never truncates what is there. */
	a = cx_audit_open(path, &err);
	assert_non_null(a);
	rec.session = NULL;
	rec.outcome = CX_AUDIT_REFUSED;
	rec.detail = "tool 'proxmox_start_vm' is not allowed for this token";
	rec.duration_ms = 0;
	cx_audit_write(a, &rec);
	cx_audit_close(a);

	text = slurp(path, NULL);
	assert_null(strstr(text, "hunter2"));
	assert_null(strstr(text, "abc"));
	lines = parse_lines(text);
	assert_int_equal(json_array_size(lines), 2);
	l0 = json_array_get(lines, 0);
	l1 = json_array_get(lines, 1);

	ts = json_string_value(json_object_get(l0, "time"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_string_equal(json_string_value(json_object_get(l0, "caller")), "ops-token");
	assert_string_equal(json_string_value(json_object_get(l0, "session")), "ab12cd");
	assert_string_equal(json_string_value(json_object_get(l0, "tool")), "proxmox_start_vm");
	assert_string_equal(json_string_value(json_object_get(l0, "outcome")), "ok");
	assert_int_equal(json_integer_value(json_object_get(l0, "duration_ms")), 42);
	assert_null(json_object_get(l0, "detail"));
	{
		json_t *a0 = json_object_get(l0, "arguments");

		assert_int_equal(json_integer_value(json_object_get(a0, "vmid")), 101);
		assert_string_equal(json_string_value(json_object_get(a0, "password")),
				    "[redacted]");
		assert_string_equal(json_string_value(
					    json_object_get(json_object_get(a0, "auth"), "token")),
				    "[redacted]");
	}
	/* The caller's arguments are not modified by the redaction. */
	assert_string_equal(json_string_value(json_object_get(args, "password")), "hunter2");

	assert_true(json_is_null(json_object_get(l1, "session")));
	assert_string_equal(json_string_value(json_object_get(l1, "outcome")), "refused");
	assert_string_equal(json_string_value(json_object_get(l1, "detail")), rec.detail);
	assert_int_equal(json_integer_value(json_object_get(l1, "duration_ms")), 0);

	/* Key order is part of what people grep for: time first, detail last. */
	assert_true(strncmp(text, "{\"time\":", 8) == 0);

	json_decref(lines);
	json_decref(args);
	free(text);
}

static void test_outcomes_written(void **state)
{
	const char *path = tmp_path("outcomes.log");
	static const char *const names[] = { "ok", "isError", "refused", "error" };
	struct cx_err err;
	struct cx_audit *a = cx_audit_open(path, &err);
	json_t *lines;
	char *text;

	assert_non_null(a);
	for (int o = CX_AUDIT_OK; o <= CX_AUDIT_ERROR; o++) {
		struct cx_audit_rec rec = { "stdio", NULL, "t", NULL, (enum cx_audit_outcome)o,
					    o,       NULL };

		cx_audit_write(a, &rec);
	}
	cx_audit_close(a);
	text = slurp(path, NULL);
	lines = parse_lines(text);
	assert_int_equal(json_array_size(lines), 4);
	for (size_t i = 0; i < 4; i++) {
		json_t *l = json_array_get(lines, i);

		assert_string_equal(json_string_value(json_object_get(l, "outcome")), names[i]);
		assert_true(json_is_null(json_object_get(l, "arguments")));
	}
	json_decref(lines);
	free(text);
}

static void test_open_failure(void **state)
{
	struct cx_err err;
	const char *path = tmp_path("no-such-dir/audit.log");

	memset(&err, 0, sizeof(err));
	assert_null(cx_audit_open(path, &err));
	assert_non_null(strstr(err.msg, path));
}

/* Runs fn with stderr redirected to a file; returns what was written there (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	const char *path = tmp_path("stderr.log");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int saved = dup(2);

	assert_true(fd >= 0);
	dup2(fd, 2);
	fn(arg);
	dup2(saved, 2);
	close(saved);
	close(fd);
	return slurp(path, NULL);
}

static void write_to_stderr(void *arg)
{
	struct cx_audit *a = cx_audit_open(NULL, NULL);
	struct cx_audit_rec rec = { "anonymous",       NULL, "gateway_health", NULL,
				    CX_AUDIT_IS_ERROR, 7,    "backend down" };

	assert_non_null(a);
	cx_audit_write(a, &rec);
	cx_audit_close(a);
	/* Closing the log leaves stderr open. */
	assert_true(fcntl(2, F_GETFD) != -1);
}

static void test_stderr(void **state)
{
	char *out = capture_stderr(write_to_stderr, NULL);
	json_t *lines = parse_lines(out);
	json_t *l = json_array_get(lines, 0);

	assert_int_equal(json_array_size(lines), 1);
	assert_string_equal(json_string_value(json_object_get(l, "outcome")), "isError");
	assert_string_equal(json_string_value(json_object_get(l, "detail")), "backend down");
	json_decref(lines);
	free(out);
}

static void write_to_full_disk(void *arg)
{
	struct cx_audit *a = arg;
	struct cx_audit_rec rec = { "stdio", NULL, "t", NULL, CX_AUDIT_OK, 1, NULL };

	for (int i = 0; i < 5; i++)
		cx_audit_write(a, &rec);
}

static void test_write_failure_warns_once(void **state)
{
	struct cx_err err;
	struct cx_audit *a;
	char *out, *first;

	if (access("/dev/full", W_OK) != 0)
		skip();
	a = cx_audit_open("/dev/full", &err);
	assert_non_null(a);
	/* Five failing writes, one warning; and the process is still here. */
	out = capture_stderr(write_to_full_disk, a);
	first = strstr(out, "/dev/full");
	assert_non_null(first);
	assert_null(strstr(first + 1, "/dev/full"));
	assert_non_null(strstr(out, "could not write"));
	cx_audit_close(a);
	free(out);
}

#define THREADS    8
#define PER_THREAD 200

struct writer {
	struct cx_audit *a;
	int n;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char *pad = malloc(6000);
	char caller[16];
	json_t *args;

	/* Lines of ~6 KiB: larger than a pipe's atomic size, so any split would show. */
	memset(pad, 'a' + w->n, 5999);
	pad[5999] = '\0';
	args = json_pack("{s:s,s:i}", "pad", pad, "thread", w->n);
	snprintf(caller, sizeof(caller), "thread-%d", w->n);
	for (int i = 0; i < PER_THREAD; i++) {
		struct cx_audit_rec rec = { caller, NULL, "t", args, CX_AUDIT_OK, i, NULL };

		cx_audit_write(w->a, &rec);
	}
	json_decref(args);
	free(pad);
	return NULL;
}

/* THREADS writers on a, each writing PER_THREAD whole 6 KiB records. */
static void start_writers(struct cx_audit *a, pthread_t *t, struct writer *w)
{
	cx_audit_set_max_line(a, 65536); /* whole 6 KiB strings: no cut */
	for (int k = 0; k < THREADS; k++) {
		w[k].a = a;
		w[k].n = k;
		assert_int_equal(pthread_create(&t[k], NULL, writer_main, &w[k]), 0);
	}
}

/* Checks every line of path is a whole record of writer_main's, counting them per thread. */
static void count_whole_lines(const char *path, int *counts)
{
	char *text = slurp(path, NULL);
	json_t *lines = parse_lines(text), *l;
	size_t i;

	json_array_foreach(lines, i, l) {
		json_t *args = json_object_get(l, "arguments");
		int n = (int)json_integer_value(json_object_get(args, "thread"));
		const char *pad = json_string_value(json_object_get(args, "pad"));
		char caller[16];

		assert_true(n >= 0 && n < THREADS);
		snprintf(caller, sizeof(caller), "thread-%d", n);
		assert_string_equal(json_string_value(json_object_get(l, "caller")), caller);
		assert_int_equal(strlen(pad), 5999);
		assert_int_equal(pad[0], 'a' + n);
		assert_int_equal(pad[5998], 'a' + n);
		counts[n]++;
	}
	json_decref(lines);
	free(text);
}

/* THREADS writers of PER_THREAD records each into path, which logrotate's way (rename, then
 * reopen) moves aside `rotations` times while they write: every record is whole, in the file
 * or one of those moved aside, and none is lost. */
#define ROTATIONS_MAX 5
static void write_concurrently(const char *path, int rotations)
{
	char old[ROTATIONS_MAX][512];
	pthread_t t[THREADS];
	struct writer w[THREADS];
	struct cx_err err;
	struct cx_audit *a = cx_audit_open(path, &err);
	int counts[THREADS] = { 0 };

	assert_non_null(a);
	assert_true(rotations <= ROTATIONS_MAX);
	start_writers(a, t, w);
	for (int r = 0; r < rotations; r++) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		snprintf(old[r], sizeof(old[r]), "%s.%d", path, r);
		assert_int_equal(rename(path, old[r]), 0);
		assert_int_equal(cx_audit_reopen(a, &err), 0);
	}
	for (int k = 0; k < THREADS; k++)
		pthread_join(t[k], NULL);
	cx_audit_close(a);
	for (int r = 0; r < rotations; r++)
		count_whole_lines(old[r], counts);
	count_whole_lines(path, counts);
	for (int k = 0; k < THREADS; k++)
		assert_int_equal(counts[k], PER_THREAD);
}

static void test_concurrent_whole_lines(void **state)
{
	write_concurrently(tmp_path("concurrent.log"), 0);
}

/* While threads write, the file is rotated five times. */
static void test_reopen_while_writing(void **state)
{
	write_concurrently(tmp_path("rotated.log"), ROTATIONS_MAX);
}

static void test_invalid_utf8_detail_still_written(void **state)
{
	const char *path = tmp_path("utf8.log");
	struct cx_err err;
	struct cx_audit *a = cx_audit_open(path, &err);
	struct cx_audit_rec rec = {
		"stdio", NULL, "t", NULL, CX_AUDIT_ERROR, 1, "backend said \xff\xfe"
	};
	json_t *lines;
	char *text;

	assert_non_null(a);
	cx_audit_write(a, &rec);
	cx_audit_close(a);
	text = slurp(path, NULL);
	lines = parse_lines(text);
	assert_int_equal(json_array_size(lines), 1);
	assert_non_null(
		strstr(json_string_value(json_object_get(json_array_get(lines, 0), "detail")),
		       "backend said"));
	json_decref(lines);
	free(text);
}

/* A 100,000-character argument is cut (the line stays under the cap and says so); arguments
 * too many to fit even so are kept as the start of their JSON text. */
static void test_line_cap(void **state)
{
	const char *path = tmp_path("cap.log");
	struct cx_err err;
	struct cx_audit *a = cx_audit_open(path, &err);
	size_t n = 100000, len = 0;
	char *big = malloc(n + 1), *text, *line2;
	json_t *args, *many, *lines, *l;

	assert_non_null(a);
	memset(big, 'x', n);
	big[n] = '\0';
	args = json_pack("{s:s,s:s}", "query", big, "password", "hunter2-Zq9");
	many = json_object();
	for (int i = 0; i < 2000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%04d", i);
		json_object_set_new(many, k, json_string("0123456789abcdef"));
	}
	cx_audit_write(a, &(struct cx_audit_rec){ "c", NULL, "t", args, CX_AUDIT_OK, 1, NULL });
	cx_audit_write(a, &(struct cx_audit_rec){ "c", NULL, "t", many, CX_AUDIT_OK, 1, NULL });
	cx_audit_close(a);
	text = slurp(path, &len);
	assert_null(strstr(text, "hunter2-Zq9"));
	line2 = strchr(text, '\n');
	assert_non_null(line2);
	assert_true((size_t)(line2 - text) < CX_AUDIT_MAX_LINE_DEFAULT);
	assert_true(len - (size_t)(line2 + 1 - text) < CX_AUDIT_MAX_LINE_DEFAULT + 1);
	lines = parse_lines(text);
	assert_int_equal(json_array_size(lines), 2);
	l = json_array_get(lines, 0);
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(l, "arguments"), "query")),
		       "more bytes]"));
	assert_string_equal(json_string_value(json_object_get(l, "truncated")),
			    "arguments: long strings cut");
	l = json_array_get(lines, 1);
	assert_true(json_is_string(json_object_get(l, "arguments")));
	assert_non_null(strstr(json_string_value(json_object_get(l, "truncated")),
			       "bytes of JSON, the first"));
	json_decref(lines);
	json_decref(args);
	json_decref(many);
	free(big);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcome_names),
		cmocka_unit_test(test_record_fields_and_reopen),
		cmocka_unit_test(test_outcomes_written),
		cmocka_unit_test(test_open_failure),
		cmocka_unit_test(test_stderr),
		cmocka_unit_test(test_write_failure_warns_once),
		cmocka_unit_test(test_concurrent_whole_lines),
		cmocka_unit_test(test_reopen_while_writing),
		cmocka_unit_test(test_line_cap),
		cmocka_unit_test(test_invalid_utf8_detail_still_written),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
