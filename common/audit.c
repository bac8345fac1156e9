/* The audit log: one compact JSON line per tools/call, written with a single write(2) so that
 * lines from concurrent workers (and from other processes appending to the same file) never
 * interleave. A failing log never fails the call; it is reported at most once a minute.
 *
 * To a regular file (O_APPEND) a whole line is one write that the kernel keeps whole, so
 * threads write without a lock, as other processes do: the HTTP threads each finish calls,
 * and a lock held across the write had them wait for each other. The lock is for the rest:
 * a write that fell short (the disk full) and its repair, output that is not a regular file
 * (stderr, a pipe), the warning clock. Reopening replaces the file behind the same descriptor
 * (dup2), so a writer never holds a closed one. */
#include "audit.h"

#include "buf.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counters.h"
#include "log.h"
#include "redact.h"
#include "util.h"

#define WARN_INTERVAL_MS (60 * 1000)
/* What a line spends beside its arguments (time, caller, tool, outcome, detail cut below). */
#define LINE_FIXED 1024
#define DETAIL_MAX 512

struct cx_audit {
	int fd;
	bool own_fd;          /* false for stderr, which close leaves open */
	char *path;           /* for messages; "stderr" when writing there */
	pthread_mutex_t lock; /* orders writes that are not one whole line; the warning clock */
	bool warned;
	int64_t last_warn_ms;
	size_t max_line; /* a longer line has its arguments cut, and says so */
	/* A part of a line is in the file: the next line starts on a new one. Set and cleared
	 * under the lock. */
	atomic_bool torn;
	atomic_bool regular; /* a regular file: whole lines are written without the lock */
};

/* Whether fd is a regular file, where an O_APPEND write is never interleaved. */
static bool is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

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
	a->max_line = CX_AUDIT_MAX_LINE_DEFAULT;
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
	atomic_init(&a->torn, false);
	atomic_init(&a->regular, a->own_fd && is_regular(a->fd));
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

/* The arguments as they may be written: secrets redacted, strings longer than a quarter of
 * the line cut, and when the whole is still too long, the start of its JSON text as a string.
 * 0, or -1 on out of memory; *note says what was cut, if anything. */
static int put_args(struct cx_buf *b, const json_t *args, size_t budget, char *note, size_t notelen)
{
	struct cx_buf tmp = CX_BUF_INIT((size_t)64 << 20);
	bool cut = false;
	json_t *shown;
	int rc;

	note[0] = '\0';
	if (!args)
		return cx_buf_puts(b, "null");
	shown = cx_redact(args, budget / 4, &cut);
	if (!shown)
		return -1;
	rc = cx_json_dump_buf(shown, &tmp);
	json_decref(shown);
	if (!rc && tmp.len <= budget) {
		if (cut)
			cx_fmt(note, notelen, "arguments: long strings cut");
		rc = cx_buf_append(b, tmp.data, tmp.len);
	} else if (!rc) {
		/* Quoting at most doubles JSON text ('"' and '\\' gain a backslash; it has no
		 * control characters), and whole UTF-8 sequences keep the prefix a valid string. */
		size_t keep = budget / 2;
		while (keep && ((unsigned char)tmp.data[keep] & 0xC0) == 0x80)
			keep--;
		cx_fmt(note, notelen, "arguments: %zu bytes of JSON, the first %zu kept as text",
		       tmp.len, keep);
		rc = cx_json_dump_str(b, tmp.data, keep);
	}
	cx_buf_release(&tmp);
	return rc;
}

/* One line, built straight into a buffer: this runs for every tools/call. */
static char *format_line(const struct cx_audit *a, const struct cx_audit_rec *rec, size_t *len)
{
	struct cx_buf b = CX_BUF_INIT(a->max_line + LINE_FIXED + DETAIL_MAX);
	size_t budget = a->max_line > LINE_FIXED * 2 ? a->max_line - LINE_FIXED : LINE_FIXED;
	char ts[32], num[24], note[128], detail[DETAIL_MAX];
	int ok;

	cx_wall_iso8601(ts, sizeof(ts));
	snprintf(num, sizeof(num), "%ld", rec->duration_ms);
	if (rec->detail)
		cx_fmt(detail, sizeof(detail), "%s", rec->detail);
	ok = !cx_buf_puts(&b, "{\"time\":\"") && !cx_buf_puts(&b, ts) &&
	     !cx_buf_puts(&b, "\",\"caller\":") && !put_str(&b, rec->caller) &&
	     !cx_buf_puts(&b, ",\"session\":") && !put_str(&b, rec->session) &&
	     !cx_buf_puts(&b, ",\"tool\":") && !put_str(&b, rec->tool) &&
	     !cx_buf_puts(&b, ",\"arguments\":") &&
	     !put_args(&b, rec->args, budget, note, sizeof(note)) &&
	     !cx_buf_puts(&b, ",\"outcome\":\"") &&
	     !cx_buf_puts(&b, cx_audit_outcome_name(rec->outcome)) &&
	     !cx_buf_puts(&b, "\",\"duration_ms\":") && !cx_buf_puts(&b, num) &&
	     !(rec->detail && (cx_buf_puts(&b, ",\"detail\":") || put_str(&b, detail))) &&
	     !(rec->via && (cx_buf_puts(&b, ",\"via\":") || put_str(&b, rec->via))) &&
	     !(note[0] && (cx_buf_puts(&b, ",\"truncated\":") || put_str(&b, note))) &&
	     !cx_buf_puts(&b, "}\n");
	if (!ok) {
		cx_buf_release(&b);
		return NULL;
	}
	return cx_buf_detach(&b, len);
}

void cx_audit_set_max_line(struct cx_audit *a, size_t max_line)
{
	if (a)
		a->max_line = max_line;
}

/* A write that stopped part way (the disk full: a short write, then ENOSPC) left the start of a
 * line at start. Cut it off when the file ends with it (no other writer appended since), so
 * every line of the file stays whole JSON; else the next line starts on a line of its own. */
static void drop_part(struct cx_audit *a, off_t start, size_t written)
{
	struct stat st;

	if (start >= 0 && fstat(a->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == start + (off_t)written && ftruncate(a->fd, start) == 0)
		return;
	atomic_store(&a->torn, true);
}

void cx_audit_write(struct cx_audit *a, const struct cx_audit_rec *rec)
{
	size_t len = 0, off = 0;
	char *line;

	if (!a || !rec)
		return;
	line = format_line(a, rec, &len);
	if (line && atomic_load(&a->regular) && !atomic_load(&a->torn)) {
		ssize_t n = write(a->fd, line, len);

		if (n == (ssize_t)len) {
			free(line);
			return;
		}
		/* Short (the disk full) or failed: the rest, and the repair, under the lock. */
		if (n > 0)
			off = (size_t)n;
	}
	pthread_mutex_lock(&a->lock);
	if (!line) {
		warn_limited(a, "could not format a record (out of memory)", 0);
		goto out;
	}
	if (!off && atomic_load(&a->torn) && write(a->fd, "\n", 1) == 1)
		atomic_store(&a->torn, false);
	while (off < len) {
		ssize_t n = write(a->fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			warn_limited(a, "could not write a record", n < 0 ? errno : EIO);
			if (off > 0) {
				/* O_APPEND left the offset at the end of what was written: the
				 * line began off bytes before it. Asked only now, not before every
				 * write (one system call fewer per tools/call). */
				off_t start = lseek(a->fd, 0, SEEK_CUR);

				drop_part(a, start >= 0 ? start - (off_t)off : -1, off);
			}
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
	int fd, rc, failed;

	if (!a || !a->own_fd)
		return 0;
	fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cx_err_set(err, "could not reopen audit file '%s': %s", a->path,
				  strerror(errno));
	/* The same descriptor, now the new file: a write under way finishes on the old one. */
	pthread_mutex_lock(&a->lock);
	rc = dup2(fd, a->fd);
	failed = errno; /* before close() can change it */
	if (rc >= 0)
		atomic_store(&a->regular, is_regular(a->fd));
	pthread_mutex_unlock(&a->lock);
	close(fd);
	if (rc < 0)
		return cx_err_set(err, "could not reopen audit file '%s': %s", a->path,
				  strerror(failed));
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
