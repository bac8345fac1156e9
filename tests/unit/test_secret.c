/* Secrets: loading from files and the environment, refusing inline values, never quoting the
 * value in a message or a log line. Redaction is test_redact.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/secret.h"

#define SECRET_VALUE "hunter2-Zq9"

static char dir[] = "/tmp/cx-test-secret-XXXXXX";

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

/* Writes n bytes to dir/name with the given mode; returns the path (static buffer). */
static const char *put_file(const char *name, const void *data, size_t n, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* Everything written to stderr while loading, so tests can check what the log says. */
struct captured {
	int rc;
	struct cx_secret s;
	struct cx_err err;
	char log[4096];
};

static void load_captured(const json_t *ref, struct captured *c)
{
	char logpath[256];
	int saved, fd;
	ssize_t n;

	snprintf(logpath, sizeof(logpath), "%s/stderr.log", dir);
	fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	memset(&c->err, 0, sizeof(c->err));
	c->rc = cx_secret_load(ref, &c->s, "session_key", &c->err);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, c->log, sizeof(c->log) - 1, 0);
	c->log[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void load_file_ok(const char *content, size_t n, const char *expect, size_t expect_len)
{
	const char *path = put_file("k", content, n, 0600);
	json_t *ref = json_pack("{s:s}", "file", path);
	struct captured c;

	load_captured(ref, &c);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.s.len, expect_len);
	assert_memory_equal(c.s.data, expect, expect_len);
	assert_int_equal(c.s.data[c.s.len], '\0');
	assert_string_equal(c.log, ""); /* 0600: nothing to warn about */
	cx_secret_release(&c.s);
	assert_null(c.s.data);
	assert_int_equal(c.s.len, 0);
	json_decref(ref);
}

static void test_file_newlines(void **state)
{
	load_file_ok(SECRET_VALUE, strlen(SECRET_VALUE), SECRET_VALUE, strlen(SECRET_VALUE));
	load_file_ok(SECRET_VALUE "\n", strlen(SECRET_VALUE) + 1, SECRET_VALUE,
		     strlen(SECRET_VALUE));
	load_file_ok(SECRET_VALUE "\r\n", strlen(SECRET_VALUE) + 2, SECRET_VALUE,
		     strlen(SECRET_VALUE));
	/* Only one newline is dropped: the rest is part of the secret. */
	load_file_ok("ab\n\n", 4, "ab\n", 3);
	load_file_ok("a\nb", 3, "a\nb", 3);
	load_file_ok(" x ", 3, " x ", 3);
	/* Binary keys keep their bytes, NULs included. */
	load_file_ok("k\0y", 3, "k\0y", 3);
}

static void expect_file_error(const char *content, size_t n, const char *msg_part)
{
	const char *path = put_file("bad", content, n, 0600);
	json_t *ref = json_pack("{s:s}", "file", path);
	struct captured c;

	load_captured(ref, &c);
	assert_int_equal(c.rc, -1);
	assert_null(c.s.data);
	assert_non_null(strstr(c.err.msg, "'session_key'"));
	assert_non_null(strstr(c.err.msg, path));
	assert_non_null(strstr(c.err.msg, msg_part));
	assert_null(strstr(c.err.msg, SECRET_VALUE));
	json_decref(ref);
}

static void test_file_empty(void **state)
{
	expect_file_error("", 0, "is empty");
	expect_file_error("\n", 1, "is empty");
	expect_file_error("\r\n", 2, "is empty");
}

static void test_file_size_limit(void **state)
{
	size_t max = 64 * 1024;
	char *big = malloc(max + 2);
	const char *path;
	json_t *ref;
	struct captured c;

	memset(big, 'k', max + 2);
	memcpy(big, SECRET_VALUE, strlen(SECRET_VALUE));
	/* Exactly 64 KiB is accepted... */
	path = put_file("max", big, max, 0600);
	ref = json_pack("{s:s}", "file", path);
	load_captured(ref, &c);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.s.len, max);
	cx_secret_release(&c.s);
	json_decref(ref);
	/* ...one byte more is refused, not truncated. */
	expect_file_error(big, max + 1, "larger than 64 KiB");
	free(big);
}

static void test_file_missing(void **state)
{
	char path[256];
	json_t *ref;
	struct captured c;

	snprintf(path, sizeof(path), "%s/does-not-exist", dir);
	ref = json_pack("{s:s}", "file", path);
	load_captured(ref, &c);
	assert_int_equal(c.rc, -1);
	assert_null(c.s.data);
	assert_non_null(strstr(c.err.msg, "'session_key'"));
	assert_non_null(strstr(c.err.msg, path));
	assert_non_null(strstr(c.err.msg, "could not open"));
	json_decref(ref);
}

static void test_file_readable_by_others_warns(void **state)
{
	const char *path = put_file("open", SECRET_VALUE "\n", strlen(SECRET_VALUE) + 1, 0644);
	json_t *ref = json_pack("{s:s}", "file", path);
	struct captured c;

	load_captured(ref, &c);
	assert_int_equal(c.rc, 0); /* a warning, not a refusal */
	assert_string_equal((char *)c.s.data, SECRET_VALUE);
	assert_non_null(strstr(c.log, "readable by group or others"));
	assert_non_null(strstr(c.log, path));
	assert_null(strstr(c.log, SECRET_VALUE));
	cx_secret_release(&c.s);
	json_decref(ref);
}

static void test_env(void **state)
{
	json_t *ref = json_pack("{s:s}", "env", "CX_TEST_SECRET_VAR");
	struct captured c;

	setenv("CX_TEST_SECRET_VAR", SECRET_VALUE "\n", 1);
	load_captured(ref, &c);
	assert_int_equal(c.rc, 0);
	/* The environment is taken as it is: only files lose a trailing newline. */
	assert_string_equal((char *)c.s.data, SECRET_VALUE "\n");
	assert_int_equal(c.s.len, strlen(SECRET_VALUE) + 1);
	cx_secret_release(&c.s);

	setenv("CX_TEST_SECRET_VAR", "", 1);
	load_captured(ref, &c);
	assert_int_equal(c.rc, -1);
	assert_string_equal(c.err.msg,
			    "'session_key': environment variable 'CX_TEST_SECRET_VAR' is empty");

	unsetenv("CX_TEST_SECRET_VAR");
	load_captured(ref, &c);
	assert_int_equal(c.rc, -1);
	assert_null(c.s.data);
	assert_string_equal(c.err.msg,
			    "'session_key': environment variable 'CX_TEST_SECRET_VAR' is not set");
	json_decref(ref);
}

static void test_inline_and_malformed_refused(void **state)
{
	static const char *const bad[] = {
		"\"" SECRET_VALUE "\"",
		"{\"file\":\"/x\",\"env\":\"Y\"}",
		"{\"value\":\"" SECRET_VALUE "\"}",
		"{\"file\":5}",
		"{\"env\":null}",
		"{}",
		"[\"" SECRET_VALUE "\"]",
		"42",
	};
	const char *expect = "'session_key' must be {\"file\": PATH} or {\"env\": NAME}; "
			     "secrets are never written inline";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_error_t e;
		json_t *ref = json_loads(bad[i], JSON_DECODE_ANY, &e);
		struct captured c;

		assert_non_null(ref);
		load_captured(ref, &c);
		assert_int_equal(c.rc, -1);
		assert_null(c.s.data);
		assert_string_equal(c.err.msg, expect);
		assert_null(strstr(c.log, SECRET_VALUE));
		json_decref(ref);
	}
}

static void test_release_twice(void **state)
{
	struct cx_secret s = { NULL, 0 };

	cx_secret_release(&s);
	cx_secret_release(&s);
	assert_null(s.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_newlines),
		cmocka_unit_test(test_file_empty),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_file_readable_by_others_warns),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_inline_and_malformed_refused),
		cmocka_unit_test(test_release_twice),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
