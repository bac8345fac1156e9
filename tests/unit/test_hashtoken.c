/* --hash-token reads the token: at a terminal with echo off (the token never appears on the
 * screen), from a pipe to the end of input; trailing CR/LF dropped; empty and oversized
 * tokens refused as usage errors. The terminal is a pseudo-terminal the test drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../../gateway/hashtoken.h"

struct reader {
	int fd;
	char buf[CX_TOKEN_BUF];
	size_t len;
	int rc;
	struct cx_err err;
};

static void *read_main(void *arg)
{
	struct reader *r = arg;

	r->rc = cx_token_read(r->fd, r->fd, r->buf, sizeof(r->buf), &r->len, &r->err);
	return NULL;
}

/* Everything the terminal shows (the master side reads it) until want appears or 5 s pass. */
static void screen_until(int master, char *screen, size_t cap, const char *want)
{
	size_t used = strlen(screen);

	while (!strstr(screen, want) && used + 1 < cap) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			fail_msg("the terminal showed \"%s\", never \"%s\"", screen, want);
		n = read(master, screen + used, cap - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		screen[used] = '\0';
	}
}

static void test_terminal_does_not_echo(void **state)
{
	static const char secret[] = "tty-s3cret-value";
	struct reader r = { 0 };
	struct termios t;
	char screen[4096] = "";
	pthread_t th;
	int master;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	r.fd = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(r.fd >= 0);
	assert_int_equal(tcgetattr(r.fd, &t), 0);
	assert_true(t.c_lflag & ECHO); /* a terminal echoes by default */

	assert_int_equal(pthread_create(&th, NULL, read_main, &r), 0);
	/* Type only once the prompt is there: echo is off by then. */
	screen_until(master, screen, sizeof(screen), "token (not echoed): ");
	assert_int_equal(write(master, secret, strlen(secret)), (ssize_t)strlen(secret));
	assert_int_equal(write(master, "\r", 1), 1); /* Enter: ICRNL makes it '\n' */
	assert_int_equal(pthread_join(th, NULL), 0);
	screen_until(master, screen, sizeof(screen), "\n");

	assert_int_equal(r.rc, 0);
	assert_int_equal(r.len, strlen(secret));
	assert_memory_equal(r.buf, secret, r.len);
	assert_null(strstr(screen, "s3cret"));
	/* Echo is back on for whatever the terminal runs next. */
	assert_int_equal(tcgetattr(r.fd, &t), 0);
	assert_true(t.c_lflag & ECHO);
	close(r.fd);
	close(master);
}

static int read_from_pipe(const char *input, size_t n, struct reader *r)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	/* Small inputs fit the pipe buffer; larger ones are written by a child. */
	if (n <= 65536) {
		assert_int_equal(write(fds[1], input, n), (ssize_t)n);
		close(fds[1]);
	} else {
		fail_msg("input too large for the test");
	}
	r->fd = fds[0];
	r->rc = cx_token_read(r->fd, -1, r->buf, sizeof(r->buf), &r->len, &r->err);
	close(fds[0]);
	return r->rc;
}

static void test_pipe(void **state)
{
	struct reader r = { 0 };
	char *big;

	assert_int_equal(read_from_pipe("s3cret-token\r\n", 14, &r), 0);
	assert_int_equal(r.len, 12);
	assert_memory_equal(r.buf, "s3cret-token", 12);

	/* No token, only newlines: a usage error. */
	assert_int_equal(read_from_pipe("\n\n", 2, &r), -1);
	assert_int_equal(r.err.code, 2);
	assert_non_null(strstr(r.err.msg, "no token"));

	/* CX_TOKEN_MAX bytes and a CR/LF are fine; one byte more is not. */
	big = malloc(CX_TOKEN_MAX + 3);
	assert_non_null(big);
	memset(big, 'x', CX_TOKEN_MAX + 1);
	memcpy(big + CX_TOKEN_MAX, "\r\n", 2);
	assert_int_equal(read_from_pipe(big, CX_TOKEN_MAX + 2, &r), 0);
	assert_int_equal(r.len, CX_TOKEN_MAX);
	memset(big, 'x', CX_TOKEN_MAX + 1);
	assert_int_equal(read_from_pipe(big, CX_TOKEN_MAX + 1, &r), -1);
	assert_int_equal(r.err.code, 2);
	assert_non_null(strstr(r.err.msg, "longer than 4095 bytes"));
	memset(big, 'x', CX_TOKEN_MAX + 3);
	assert_int_equal(read_from_pipe(big, CX_TOKEN_MAX + 3, &r), -1);
	assert_int_equal(r.err.code, 2);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminal_does_not_echo),
		cmocka_unit_test(test_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
