/* Ended sessions (see revoke.h): an open-addressing set (linear probing) of 64-bit values
 * parsed from the sessions' 16-hex-digit fingerprints, each with the time its session would
 * have expired anyway, when it was issued and whose it is; and per subject, a count and a
 * "not before". Slots are never deleted one by one; a rebuild drops what no longer needs
 * listing (expired, or covered by its subject's "not before").
 *
 * With http.ended_sessions_file, each change is also appended to that file as one JSON line,
 * {"fp","sub","issued","expires"} or {"sub","not_before"}, written with one write(2) and
 * fdatasync'd before DELETE answers; start-up reads it back (a line cut short by a crash is
 * skipped) and rewrites it with only what still needs listing (temporary file, fsync,
 * rename), as it does again whenever the file holds four times what is needed.
 *
 * The same lines go to the function set by cx_session_revoked_on_change (revoke_share.c:
 * the other gateways of a deployment), and lines heard from them come back through
 * cx_session_revoked_apply. */
#include "revoke.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/json.h"
#include "../common/log.h"
#include "../common/util.h"

#define SLOTS_MIN 64

struct slot {
	uint64_t fp;
	int64_t expires_s; /* 0: empty; never stored for an already expired entry */
	int64_t issued_s;
	uint32_t subject; /* index into subjects */
};

struct subject {
	char name[sizeof(((struct cx_session *)0)->subject)];
	size_t count;         /* entries listed */
	int64_t not_before_s; /* sessions issued before this second are ended; 0: none */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static size_t nslots; /* 0 or a power of two */
static size_t used;   /* occupied slots, expired or not */
static struct subject *subjects;
static size_t nsubjects;

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static bool parse_fp(const char *fp, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 16; i++) {
		char c = fp[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	if (fp[16] != '\0')
		return false;
	*out = v;
	return true;
}

static size_t home(uint64_t fp, size_t n)
{
	return (size_t)((fp * 0x9E3779B97F4A7C15ull) >> 32) & (n - 1);
}

/* The slot holding fp, or the empty slot where it would go. Needs n > occupied. */
static struct slot *find(struct slot *tab, size_t n, uint64_t fp)
{
	size_t i = home(fp, n);

	while (tab[i].expires_s != 0 && tab[i].fp != fp)
		i = (i + 1) & (n - 1);
	return &tab[i];
}

/* An entry still needs listing: its session has not expired and its subject's "not before"
 * does not cover it. */
static bool needed(const struct slot *s, int64_t now)
{
	return s->expires_s > now && s->issued_s >= subjects[s->subject].not_before_s;
}

/* Rehashes the entries still needed into a table with room to spare (load at most a
 * quarter), recounting each subject's. -1 on out of memory, the old table intact. */
static int rebuild(int64_t now)
{
	struct slot *tab;
	size_t i, live = 0, n = SLOTS_MIN;

	for (i = 0; i < nslots; i++)
		if (needed(&slots[i], now))
			live++;
	while (n < live * 4 + 4)
		n *= 2;
	tab = calloc(n, sizeof(*tab));
	if (!tab)
		return -1;
	for (i = 0; i < nsubjects; i++)
		subjects[i].count = 0;
	for (i = 0; i < nslots; i++) {
		if (needed(&slots[i], now)) {
			*find(tab, n, slots[i].fp) = slots[i];
			subjects[slots[i].subject].count++;
		}
	}
	free(slots);
	slots = tab;
	nslots = n;
	used = live;
	return 0;
}

/* The subject's index; added when add is set. -1 when absent (or out of memory). */
static long subject_of(const char *name, bool add)
{
	struct subject *grown;

	for (size_t i = 0; i < nsubjects; i++)
		if (!strcmp(subjects[i].name, name))
			return (long)i;
	if (!add)
		return -1;
	grown = realloc(subjects, (nsubjects + 1) * sizeof(*subjects));
	if (!grown)
		return -1;
	subjects = grown;
	memset(&subjects[nsubjects], 0, sizeof(*subjects));
	snprintf(subjects[nsubjects].name, sizeof(subjects[nsubjects].name), "%s", name);
	return (long)nsubjects++;
}

/* The subject has its quota listed: end all its sessions issued before this second at once,
 * and list only the ones issued in it. */
static int move_not_before(struct subject *sub, int64_t now, size_t max)
{
	sub->not_before_s = now;
	cx_warn("sessions: '%s' ended more than %zu sessions within their lifetime "
		"(http.max_ended_sessions); every session it was issued before now is ended",
		sub->name[0] ? sub->name : "anonymous", max);
	return rebuild(now);
}

/* What a change leaves to write to the file. */
enum change {
	NOTHING,
	LISTED,
	NOT_BEFORE
};

/* With lock held: ends the session key of subject si, issued at issued_s, until expires_s.
 * 0 (*what says what changed), or -1 out of memory. */
static int revoke_locked(uint64_t key, long si, int64_t issued_s, int64_t expires_s, size_t max,
			 int64_t now, enum change *what)
{
	struct subject *sub = &subjects[si];
	struct slot *slot;

	*what = NOTHING;
	if (issued_s < sub->not_before_s)
		return 0; /* ended already, with all its subject's older sessions */
	if (nslots) {
		slot = find(slots, nslots, key);
		if (slot->expires_s != 0) {
			if (slot->expires_s < expires_s) {
				slot->expires_s = expires_s;
				*what = LISTED;
			}
			return 0;
		}
	}
	if (sub->count >= max && rebuild(now) < 0)
		return -1;
	if (sub->count >= max) {
		if (move_not_before(sub, now, max) < 0)
			return -1;
		*what = NOT_BEFORE;
		if (issued_s < now)
			return 0; /* covered by the new "not before" */
	}
	if ((used + 1) * 2 > nslots && rebuild(now) < 0)
		return -1;
	slot = find(slots, nslots, key);
	slot->fp = key;
	slot->expires_s = expires_s;
	slot->issued_s = issued_s;
	slot->subject = (uint32_t)si;
	used++;
	sub->count++;
	if (*what == NOTHING)
		*what = LISTED;
	return 0;
}

/* ---- the file ---- */

#define FILE_MAX (64u * 1024 * 1024) /* 16 384 sessions for each of 4 096 tokens fit twice */

static pthread_mutex_t file_mu = PTHREAD_MUTEX_INITIALIZER; /* taken before lock, never after */
static int file_fd = -1;
static char *file_path;
static size_t file_lines; /* lines appended since the file was last rewritten, and kept */

static int append_entry(struct cx_buf *b, uint64_t fp, const char *sub, int64_t issued_s,
			int64_t expires_s)
{
	json_t *v = json_pack("{s:s, s:I, s:I}", "sub", sub, "issued", (json_int_t)issued_s,
			      "expires", (json_int_t)expires_s);
	char hex[17], *line;
	int rc = -1;

	snprintf(hex, sizeof(hex), "%016" PRIx64, fp);
	if (v && !json_object_set_new(v, "fp", json_string(hex)) &&
	    (line = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS))) {
		rc = cx_buf_printf(b, "%s\n", line);
		free(line);
	}
	json_decref(v);
	return rc;
}

static int append_not_before(struct cx_buf *b, const char *sub, int64_t not_before_s)
{
	json_t *v = json_pack("{s:s, s:I}", "sub", sub, "not_before", (json_int_t)not_before_s);
	char *line = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = line ? cx_buf_printf(b, "%s\n", line) : -1;

	free(line);
	json_decref(v);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* With file_mu held: the file rewritten with what still needs listing, and reopened for
 * appending. 0, or -1 with err (the old file and descriptor kept). */
static int rewrite(struct cx_err *err)
{
	struct cx_buf b = CX_BUF_INIT(FILE_MAX);
	char tmp[PATH_MAX];
	int64_t now = now_s();
	size_t lines = 0;
	int fd, dfd, rc = -1;
	char *slash;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nsubjects; i++) {
		if (subjects[i].not_before_s &&
		    append_not_before(&b, subjects[i].name, subjects[i].not_before_s) == 0)
			lines++;
	}
	for (size_t i = 0; i < nslots; i++) {
		if (needed(&slots[i], now) &&
		    append_entry(&b, slots[i].fp, subjects[slots[i].subject].name,
				 slots[i].issued_s, slots[i].expires_s) == 0)
			lines++;
	}
	pthread_mutex_unlock(&lock);
	if (!cx_fmt(tmp, sizeof(tmp), "%s.tmp", file_path)) {
		cx_err_set(err, "'%s': the path is too long", file_path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		cx_err_set(err, "could not write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if ((b.len && write_all(fd, b.data, b.len)) || fsync(fd)) {
		cx_err_set(err, "could not write '%s': %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, file_path)) {
		cx_err_set(err, "could not replace '%s': %s", file_path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	slash = strrchr(tmp, '/');
	if (slash == tmp)
		snprintf(tmp, sizeof(tmp), "/");
	else if (slash)
		*slash = '\0';
	else
		snprintf(tmp, sizeof(tmp), ".");
	if ((dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd); /* the rename itself survives a crash */
		close(dfd);
	}
	fd = open(file_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		cx_err_set(err, "could not open '%s': %s", file_path, strerror(errno));
		goto out;
	}
	if (file_fd >= 0)
		close(file_fd);
	file_fd = fd;
	file_lines = lines;
	rc = 0;
out:
	cx_buf_release(&b);
	return rc;
}

/* The whole file: 0 with *text (NULL and 0 when there is none), or -1 with err. */
static int read_whole(const char *path, char **text, size_t *len, struct cx_err *err)
{
	struct cx_buf b = CX_BUF_INIT(FILE_MAX);
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;

	*text = NULL;
	*len = 0;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return cx_err_set(err, "could not read '%s': %s", path, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || cx_buf_append(&b, chunk, (size_t)n)) {
			cx_err_set(err, "could not read '%s': %s", path,
				   n < 0 ? strerror(errno) : "larger than 64 MiB");
			close(fd);
			cx_buf_release(&b);
			return -1;
		}
	}
	close(fd);
	*text = cx_buf_detach(&b, len);
	return *text ? 0 : cx_err_set(err, "out of memory");
}

/* Applies one line of the file; false when it is not one of ours. fp (when not NULL): the
 * session's fingerprint for an entry, "" for a "not before". */
static bool apply_line(const char *line, size_t len, int64_t now, char fp_out[17])
{
	json_t *v = cx_json_loadb(line, len, 4096, NULL);
	const char *sub = json_string_value(json_object_get(v, "sub"));
	const char *fp = json_string_value(json_object_get(v, "fp"));
	json_t *nb = json_object_get(v, "not_before");
	uint64_t key;
	enum change what;
	bool ok = false;
	long si;

	if (fp_out)
		fp_out[0] = '\0';
	if (!sub || strlen(sub) >= sizeof(subjects[0].name))
		goto out;
	pthread_mutex_lock(&lock);
	si = subject_of(sub, true);
	if (si >= 0 && json_is_integer(nb)) {
		if (json_integer_value(nb) > subjects[si].not_before_s)
			subjects[si].not_before_s = json_integer_value(nb);
		ok = rebuild(now) == 0;
	} else if (si >= 0 && fp && parse_fp(fp, &key) &&
		   json_is_integer(json_object_get(v, "issued")) &&
		   json_is_integer(json_object_get(v, "expires"))) {
		int64_t expires = json_integer_value(json_object_get(v, "expires"));

		/* No bound while reading back: the file says what was listed when it was
		 * written. A subject that had listed more than its bound within the second
		 * of its "not before" must not have that moved to the time of this start,
		 * which would end every session it holds now. */
		ok = expires <= now ||
		     revoke_locked(key, si, json_integer_value(json_object_get(v, "issued")),
				   expires, SIZE_MAX, now, &what) == 0;
		if (ok && fp_out)
			snprintf(fp_out, 17, "%s", fp);
	}
	pthread_mutex_unlock(&lock);
out:
	json_decref(v);
	return ok;
}

int cx_session_revoked_open(const char *path, struct cx_err *err)
{
	struct cx_err rerr = { 0 };
	char *text = NULL;
	size_t len = 0, bad = 0, good = 0;
	int64_t now = now_s();
	int rc = -1;

	pthread_mutex_lock(&file_mu);
	if (file_fd >= 0 || !(file_path = strdup(path))) {
		cx_err_set(err, file_fd >= 0 ? "already open" : "out of memory");
		goto out;
	}
	if (read_whole(path, &text, &len, &rerr)) {
		cx_err_set(err, "ended sessions: %s", rerr.msg);
		goto out;
	}
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		if (n && apply_line(text + i, n, now, NULL))
			good++;
		else if (n)
			bad++;
		i += n + 1;
	}
	if (bad && !good) {
		cx_err_set(err,
			   "'%s' is not a file of ended sessions (%zu line(s), none readable); "
			   "give http.ended_sessions_file a file of its own",
			   path, bad);
		goto out;
	}
	if (bad)
		cx_warn("sessions: %zu damaged line(s) in '%s' skipped (a write cut short by a "
			"crash)",
			bad, path);
	if (rewrite(err))
		goto out;
	pthread_mutex_lock(&lock);
	good = used;
	pthread_mutex_unlock(&lock);
	cx_info("sessions: ended sessions are kept in '%s' (%zu listed now)", path, good);
	rc = 0;
out:
	if (rc) {
		free(file_path);
		file_path = NULL;
	}
	free(text);
	pthread_mutex_unlock(&file_mu);
	return rc;
}

static pthread_mutex_t change_mu = PTHREAD_MUTEX_INITIALIZER;
static void (*on_change)(const char *lines, size_t len);

void cx_session_revoked_on_change(void (*fn)(const char *lines, size_t len))
{
	pthread_mutex_lock(&change_mu);
	on_change = fn;
	pthread_mutex_unlock(&change_mu);
}

bool cx_session_revoked_apply(const char *line, size_t len, char fp[17])
{
	return apply_line(line, len, now_s(), fp);
}

/* Writes the change to the file (when there is one) and hands it to on_change (when set)
 * before DELETE answers. */
static void persist(enum change what, uint64_t key, const struct cx_session *s, int64_t expires_s)
{
	struct cx_buf b = CX_BUF_INIT(FILE_MAX);
	struct cx_err err = { 0 };
	void (*share)(const char *lines, size_t len);
	int64_t nb = 0;
	size_t live;
	long si;

	pthread_mutex_lock(&change_mu);
	share = on_change;
	pthread_mutex_unlock(&change_mu);
	pthread_mutex_lock(&file_mu);
	if ((file_fd < 0 && !share) || what == NOTHING)
		goto out;
	pthread_mutex_lock(&lock);
	si = subject_of(s->subject, false);
	if (si >= 0)
		nb = subjects[si].not_before_s;
	live = used;
	pthread_mutex_unlock(&lock);
	if (what == NOT_BEFORE && append_not_before(&b, s->subject, nb))
		goto out;
	if (s->issued_s >= nb && append_entry(&b, key, s->subject, s->issued_s, expires_s))
		goto out;
	if (file_fd < 0)
		goto out;
	if (write_all(file_fd, b.data, b.len) || fdatasync(file_fd)) {
		cx_error("sessions: could not record the end of session %s in '%s': %s; it "
			 "comes back if this gateway restarts before it expires",
			 s->fp, file_path, strerror(errno));
		goto out;
	}
	file_lines += 1 + (what == NOT_BEFORE);
	if (file_lines > 4 * (live + 256) && rewrite(&err))
		cx_warn("sessions: could not compact '%s': %s", file_path, err.msg);
out:
	pthread_mutex_unlock(&file_mu);
	if (share && b.len)
		share(b.data, b.len);
	cx_buf_release(&b);
}

int cx_session_revoke(const struct cx_session *s, int64_t expires_s, size_t max)
{
	int64_t now = now_s();
	enum change what = NOTHING;
	uint64_t key;
	long si;
	int ret = -1;

	if (!s || !parse_fp(s->fp, &key))
		return -1;
	if (expires_s <= now)
		return 0; /* the session cannot be used any more anyway */
	pthread_mutex_lock(&lock);
	si = subject_of(s->subject, true);
	if (si >= 0)
		ret = revoke_locked(key, si, s->issued_s, expires_s, max, now, &what);
	pthread_mutex_unlock(&lock);
	if (!ret)
		persist(what, key, s, expires_s);
	return ret;
}

bool cx_session_revoked(const struct cx_session *s)
{
	const struct slot *slot;
	uint64_t key;
	bool ret = false;
	long si;

	if (!s || !parse_fp(s->fp, &key))
		return false;
	pthread_mutex_lock(&lock);
	si = subject_of(s->subject, false);
	if (si >= 0 && s->issued_s < subjects[si].not_before_s) {
		ret = true;
	} else if (nslots) {
		slot = find(slots, nslots, key);
		ret = slot->expires_s > now_s();
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

size_t cx_session_revoked_count(const char *subject, int64_t *not_before_s)
{
	size_t n = 0;
	long si;

	pthread_mutex_lock(&lock);
	si = subject_of(subject, false);
	if (si >= 0) {
		n = subjects[si].count;
		if (not_before_s)
			*not_before_s = subjects[si].not_before_s;
	} else if (not_before_s) {
		*not_before_s = 0;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

void cx_session_revoked_clear(void)
{
	pthread_mutex_lock(&file_mu);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = -1;
	free(file_path);
	file_path = NULL;
	file_lines = 0;
	pthread_mutex_unlock(&file_mu);
	pthread_mutex_lock(&lock);
	free(slots);
	slots = NULL;
	nslots = used = 0;
	free(subjects);
	subjects = NULL;
	nsubjects = 0;
	pthread_mutex_unlock(&lock);
}
