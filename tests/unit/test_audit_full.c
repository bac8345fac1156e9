/* The audit log when the disk fills: a line cut short by the file system (a short write, then
 * an error) is removed again, so every line of the file stays whole JSON, and lines are written
 * again once there is room. The disk full is played by RLIMIT_FSIZE with SIGXFSZ ignored: a
 * write past the limit is short, the next fails with EFBIG, as a full disk gives ENOSPC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/audit.h"

static char dir[] = "/tmp/cx-test-audit-full-XXXXXX";

static int setup(void **state)
{
	signal(SIGXFSZ, SIG_IGN);
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void set_fsize(rlim_t n)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = n == RLIM_INFINITY ? rl.rlim_max : n;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Counts the lines of path, failing on one that is not a JSON object or not ended by '\n'. */
static size_t whole_lines(const char *path)
{
	FILE *f = fopen(path, "rb");
	char line[8192];
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		json_t *v;

		assert_true(len > 0 && line[len - 1] == '\n');
		v = json_loads(line, 0, NULL);
		if (!v)
			fail_msg("audit line %zu is not JSON: %.80s", n + 1, line);
		assert_true(json_is_object(v));
		json_decref(v);
		n++;
	}
	fclose(f);
	return n;
}

static void write_some(struct cx_audit *a, int n)
{
	json_t *args = json_pack("{s:s}", "text", "an argument long enough to cross a limit soon");

	for (int i = 0; i < n; i++) {
		struct cx_audit_rec rec = { .caller = "anonymous",
					    .tool = "testkit_echo",
					    .args = args,
					    .outcome = CX_AUDIT_OK,
					    .duration_ms = i };

		cx_audit_write(a, &rec);
	}
	json_decref(args);
}

static void test_full_then_room_again(void **state)
{
	char path[256];
	struct cx_err err = { 0 };
	struct cx_audit *a;
	struct stat st;
	size_t before, after;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	a = cx_audit_open(path, &err);
	assert_non_null(a);
	write_some(a, 3);
	before = whole_lines(path);
	assert_int_equal(before, 3);
	assert_int_equal(stat(path, &st), 0);

	/* Room for about half a line more: the next line is cut short, then removed. */
	set_fsize((rlim_t)st.st_size + 100);
	write_some(a, 5);
	assert_int_equal(whole_lines(path), before);
	assert_int_equal(stat(path, &st), 0);

	/* Room again: lines are written, and every line is whole. */
	set_fsize(RLIM_INFINITY);
	write_some(a, 4);
	after = whole_lines(path);
	assert_int_equal(after, before + 4);
	cx_audit_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_then_room_again),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
