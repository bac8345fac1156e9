/* The audit log: one compact JSON line per tools/call, written with a single write(2) so that
 * lines from concurrent workers (and from other processes appending to the same file) never
 * interleave. A failing log never fails the call; it is reported at most once a minute. */
#include "audit.h"

#include "buf.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#define WARN_INTERVAL_MS (60 * 1000)
/* Arguments are bounded by the request-body cap; this only stops a runaway line. */
#define AUDIT_LINE_MAX ((size_t)64 << 20)

struct cx_audit {
	int fd;
	bool own_fd;          /* false for stderr, which close leaves open */
	char *path;           /* for messages; "stderr" when writing there */
	pthread_mutex_t lock; /* orders writes and guards the warning clock */
	bool warned;
	int64_t last_warn_ms;
};

const char *cx_audit_outcome_name(enum cx_audit_outcome o)
{
	switch (o) {
	case CX_AUDIT_OK:
		return "ok";
	case CX_AUDIT_IS_ERROR:
		return "isError";
	case CX_AUDIT_REFUSED:
		return "refused";
	case CX_AUDIT_ERROR:
		return "error";
	}
	return "error";
}

struct cx_audit *cx_audit_open(const char *path, struct cx_err *err)
{
	struct cx_audit *a = calloc(1, sizeof(*a));

	if (!a) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	a->path = strdup(path ? path : "stderr");
	if (!a->path) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	if (path) {
		a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (a->fd < 0) {
			cx_err_set(err, "could not open audit file '%s': %s", path,
				   strerror(errno));
			goto fail;
		}
		a->own_fd = true;
	} else {
		a->fd = STDERR_FILENO;
	}
	if (pthread_mutex_init(&a->lock, NULL)) {
		cx_err_set(err, "could not create the audit log lock");
		if (a->own_fd)
			close(a->fd);
		goto fail;
	}
	return a;
fail:
	free(a->path);
	free(a);
	return NULL;
}

/* Called with the lock held. */
static void warn_limited(struct cx_audit *a, const char *what, int errnum)
{
	int64_t now = cx_now_ms();

	cx_counter_inc(&cx_audit_write_errors);
	if (a->warned && now - a->last_warn_ms < WARN_INTERVAL_MS)
		return;
	a->warned = true;
	a->last_warn_ms = now;
	if (errnum)
		cx_warn("audit log '%s': %s: %s", a->path, what, strerror(errnum));
	else
		cx_warn("audit log '%s': %s", a->path, what);
}

/* A string for the record; bytes that are not UTF-8 become '?', so the line is still written. */
static json_t *str_or_null(const char *s)
{
	json_t *v;
	char *copy;

	if (!s)
		return json_null();
	v = json_string(s);
	if (v)
		return v;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	v = json_string(copy);
	free(copy);
	return v;
}

/* Appends s as a JSON string (null when NULL). ASCII, the usual case for names and
 * fingerprints, is written directly; anything else goes through jansson's UTF-8 check. */
static int put_str(struct cx_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	json_t *v;
	int rc;

	if (!s)
		return cx_buf_append(b, "null", 4);
	while (*p && *p < 0x80)
		p++;
	if (!*p)
		return cx_json_dump_str(b, s, (size_t)(p - (const unsigned char *)s));
	v = str_or_null(s);
	rc = v ? cx_json_dump_buf(v, b) : -1;
	json_decref(v);
	return rc;
}

/* One line, built straight into a buffer: this runs for every tools/call. */
static char *format_line(const struct cx_audit_rec *rec, size_t *len)
{
	struct cx_buf b = CX_BUF_INIT(AUDIT_LINE_MAX);
	json_t *args = NULL;
	char ts[32], num[24];
	int ok;

	cx_wall_iso8601(ts, sizeof(ts));
	snprintf(num, sizeof(num), "%ld", rec->duration_ms);
	if (rec->args) {
		args = cx_secret_redact(rec->args);
		if (!args)
			return NULL;
	}
	ok = !cx_buf_puts(&b, "{\"time\":\"") && !cx_buf_puts(&b, ts) &&
	     !cx_buf_puts(&b, "\",\"caller\":") && !put_str(&b, rec->caller) &&
	     !cx_buf_puts(&b, ",\"session\":") && !put_str(&b, rec->session) &&
	     !cx_buf_puts(&b, ",\"tool\":") && !put_str(&b, rec->tool) &&
	     !cx_buf_puts(&b, ",\"arguments\":") &&
	     !(args ? cx_json_dump_buf(args, &b) : cx_buf_puts(&b, "null")) &&
	     !cx_buf_puts(&b, ",\"outcome\":\"") &&
	     !cx_buf_puts(&b, cx_audit_outcome_name(rec->outcome)) &&
	     !cx_buf_puts(&b, "\",\"duration_ms\":") && !cx_buf_puts(&b, num) &&
	     !(rec->detail && (cx_buf_puts(&b, ",\"detail\":") || put_str(&b, rec->detail))) &&
	     !(rec->via && (cx_buf_puts(&b, ",\"via\":") || put_str(&b, rec->via))) &&
	     !cx_buf_puts(&b, "}\n");
	json_decref(args);
	if (!ok) {
		cx_buf_release(&b);
		return NULL;
	}
	return cx_buf_detach(&b, len);
}

void cx_audit_write(struct cx_audit *a, const struct cx_audit_rec *rec)
{
	size_t len = 0, off = 0;
	char *line;

	if (!a || !rec)
		return;
	line = format_line(rec, &len);
	pthread_mutex_lock(&a->lock);
	if (!line) {
		warn_limited(a, "could not format a record (out of memory)", 0);
		goto out;
	}
	while (off < len) {
		ssize_t n = write(a->fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			warn_limited(a, "could not write a record", n < 0 ? errno : EIO);
			break;
		}
		off += (size_t)n;
	}
out:
	pthread_mutex_unlock(&a->lock);
	free(line);
}

int cx_audit_reopen(struct cx_audit *a, struct cx_err *err)
{
	int fd, old;

	if (!a || !a->own_fd)
		return 0;
	fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cx_err_set(err, "could not reopen audit file '%s': %s", a->path,
				  strerror(errno));
	pthread_mutex_lock(&a->lock);
	old = a->fd;
	a->fd = fd;
	pthread_mutex_unlock(&a->lock);
	close(old);
	return 0;
}

void cx_audit_close(struct cx_audit *a)
{
	if (!a)
		return;
	if (a->own_fd)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}
