/* Diagnostics: a broken invariant stops the process loudly and says where, whatever the log
 * level; ordinary log lines respect the level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/log.h"

/* Runs fn in a child with stderr captured; returns the wait status, fills out. */
static int run_child(void (*fn)(void), char *out, size_t outlen)
{
	int fds[2];
	pid_t pid;
	int status = 0;
	size_t n = 0;
	ssize_t r;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while (n < outlen - 1 && (r = read(fds[0], out + n, outlen - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void broken_assertion(void)
{
	int refs = 0;

	cx_log_set_level(CX_LOG_OFF); /* a bug is reported even with logging off */
	CX_ASSERT(refs > 0);
}

static void named_bug(void)
{
	CX_BUG("job '%s' queued twice", "testkit_echo");
}

static void quiet_info(void)
{
	cx_log_set_level(CX_LOG_WARN);
	cx_info("not shown");
	cx_warn("shown: %d", 42);
}

static void test_assert_aborts_and_says_where(void **state)
{
	char out[1024];
	int status = run_child(broken_assertion, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, "BUG: tests/unit/test_log.c:"));
	assert_non_null(strstr(out, "assertion failed: refs > 0"));
}

static void test_bug_message(void **state)
{
	char out[1024];
	int status = run_child(named_bug, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(out, "job 'testkit_echo' queued twice"));
}

static void test_level_filters_lines(void **state)
{
	char out[1024];
	int status = run_child(quiet_info, out, sizeof(out));

	assert_true(WIFEXITED(status));
	assert_null(strstr(out, "not shown"));
	assert_non_null(strstr(out, "warn  shown: 42\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assert_aborts_and_says_where),
		cmocka_unit_test(test_bug_message),
		cmocka_unit_test(test_level_filters_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
