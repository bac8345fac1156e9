/* Reading a bearer token without showing it: a token typed at a terminal is not echoed (and
 * so not left in the scrollback), as getpass() did before it was deprecated. */
#include "hashtoken.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal state to put back if a signal ends the process while echo is off. */
static struct termios saved;
static volatile sig_atomic_t saved_fd = -1;

static void restore_and_reraise(int sig)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSAFLUSH, &saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Prompt text: best effort, a terminal that cannot show it can still be typed into. */
static void say(int fd, const char *s, size_t n)
{
	ssize_t w = write(fd, s, n);

	(void)w;
}

static int too_long(struct cx_err *err)
{
	cx_err_set(err, "token longer than %d bytes", CX_TOKEN_MAX);
	err->code = 2;
	return -1;
}

static int read_fail(struct cx_err *err)
{
	cx_err_set(err, "could not read the token: %s", strerror(errno));
	err->code = 1;
	return -1;
}

/* One line from a terminal with echo off. */
static int read_tty(int fd, int prompt_fd, char *buf, size_t cap, size_t *len, struct cx_err *err)
{
	static const char prompt[] = "token (not echoed): ";
	struct sigaction sa, old_int, old_term, old_hup;
	struct termios quiet;
	bool echo_off = false, handlers = false;
	int rc = 0;

	*len = 0;
	if (tcgetattr(fd, &saved) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_and_reraise;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		sigaction(SIGHUP, &sa, &old_hup);
		handlers = true;
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		quiet.c_lflag |= ICANON;
		saved_fd = fd;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	/* The prompt after echo is off: whatever is typed from now on is not shown. */
	say(prompt_fd, prompt, sizeof(prompt) - 1);
	for (;;) {
		ssize_t n;

		if (*len >= cap) {
			rc = too_long(err);
			break;
		}
		n = read(fd, buf + *len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = read_fail(err);
			break;
		}
		if (n == 0 || buf[*len] == '\n')
			break;
		(*len)++;
	}
	if (echo_off) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		/* The newline the user typed was not echoed either. */
		say(prompt_fd, "\n", 1);
	}
	saved_fd = -1;
	if (handlers) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
	}
	return rc;
}

int cx_token_read(int in_fd, int prompt_fd, char *buf, size_t cap, size_t *len, struct cx_err *err)
{
	*len = 0;
	if (isatty(in_fd)) {
		if (read_tty(in_fd, prompt_fd, buf, cap, len, err))
			return -1;
	} else {
		for (;;) {
			ssize_t n;

			if (*len >= cap)
				return too_long(err);
			n = read(in_fd, buf + *len, cap - *len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return read_fail(err);
			if (n == 0)
				break;
			*len += (size_t)n;
		}
	}
	while (*len && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
		(*len)--;
	if (*len > CX_TOKEN_MAX)
		return too_long(err);
	if (!*len) {
		cx_err_set(err, "no token on stdin");
		err->code = 2;
		return -1;
	}
	return 0;
}
