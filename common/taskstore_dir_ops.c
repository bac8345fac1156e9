/* The dir task store's operations: create, get, change one task under its file's lock, claim
 * (choosing from the index, taking under the lock, waiting on the index's condition variable,
 * which inotify moves), agents. taskstore_dir.h describes the layout and the locking. */
#include "taskstore_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define NAME_MAX_LEN (CX_TASK_ID_MAX + 8)
/* Candidates a claim tries per look at the index. */
#define CANDIDATES 8
/* How long a claim that found every candidate locked by another worker waits before looking
 * again, when no change wakes it sooner (a worker that locks and writes nothing). */
#define BUSY_RETRY_MS 20
/* A claim whose time is up looks again this many times (1 ms apart) when a candidate was only
 * locked for a moment — by this process's own event thread reading the file it just wrote,
 * say — so a task that is there is never missed for that. */
#define BUSY_LAST_TRIES 20
/* Agents' files older than this are removed when the agents are listed. */
#define AGENT_FORGET_MS (3600 * 1000)

static struct dir_store *dir(struct cx_task_store *s)
{
	return (struct dir_store *)s;
}

static int unwritable(struct dir_store *d, struct cx_err *err, const char *what)
{
	return cx_err_set(err,
			  "task store unwritable: %s '%s': %s; tasks are safe, retry in a moment",
			  what, d->path, strerror(errno));
}

/* ---- create, get ---- */

static void undo_create(struct dir_store *d, const json_t *tasks, char **tmp, size_t n,
			size_t published)
{
	char name[NAME_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_object_get(json_array_get(tasks, i), "id"));

		dir_file_name(id, name, sizeof(name));
		if (i < published)
			unlinkat(d->dirfd, name, 0);
		else if (tmp[i])
			unlinkat(d->dirfd, tmp[i], 0);
		dir_index_set(d, id, NULL);
	}
}

/* Every task to a temporary first, made durable (one fdatasync each, or for a batch one
 * syncfs), then into the index, then renamed into place, then one fsync of the directory:
 * all durable before the reply, none visible half-written, and on a failure none left
 * behind. */
static int dir_create(struct cx_task_store *s, const json_t *tasks, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	size_t n = json_array_size(tasks), i, published = 0;
	char **tmp = calloc(n, sizeof(*tmp)), name[NAME_MAX_LEN];
	bool per_file = n == 1 || !d->batch_syncfs;
	int rc = -1;

	if (!tmp)
		return cx_err_set(err, "out of memory");
	for (i = 0; i < n; i++) {
		const json_t *t = json_array_get(tasks, i);

		dir_file_name(json_string_value(json_object_get(t, "id")), name, sizeof(name));
		if (dir_write_tmp(d, d->dirfd, name, t, per_file, &tmp[i], err))
			goto out;
	}
	if (!per_file && d->fsync && syncfs(d->dirfd)) {
		unwritable(d, err, "syncfs of");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const json_t *t = json_array_get(tasks, i);
		const char *id = json_string_value(json_object_get(t, "id"));

		dir_index_put_own(d, id, json_deep_copy(t), tmp[i], false);
		dir_file_name(id, name, sizeof(name));
		if (dir_publish(d, d->dirfd, tmp[i], name, DIR_NEW, err))
			goto out;
		free(tmp[i]);
		tmp[i] = NULL;
		published++;
	}
	dir_wake_claimers(d);
	if (d->fsync && dir_sync_shared(d)) {
		unwritable(d, err, "fsync of");
		goto out;
	}
	rc = 0;
out:
	if (rc)
		undo_create(d, tasks, tmp, n, published);
	for (i = 0; i < n; i++)
		free(tmp[i]);
	free(tmp);
	return rc;
}

static int dir_get(struct cx_task_store *s, const char *id, json_t **task, struct cx_err *err)
{
	char name[NAME_MAX_LEN];

	dir_file_name(id, name, sizeof(name));
	return dir_read_file(dir(s)->dirfd, name, task, err);
}

/* The index's tasks are never shared with another thread: every reference to one is taken
 * and dropped with mu held (jansson's json_decref orders only the release, so a task freed by
 * one thread while another held it would race by the C11 model, and ThreadSanitizer cannot
 * see the atomics inside libjansson), and what leaves the store is the caller's own copy. */

/* With mu held: every task of the index (new references). */
static json_t *all_locked(struct dir_store *d)
{
	json_t *all = json_array();

	for (size_t i = 0; all && i < d->nbuckets; i++) {
		for (struct dir_entry *e = d->buckets[i]; e; e = e->next)
			json_array_append(all, e->task);
	}
	return all;
}

/* With mu held: *v (from the index's tasks) replaced by its own copy. */
static int own_locked(json_t **v, struct cx_err *err)
{
	json_t *copy = json_deep_copy(*v);

	json_decref(*v);
	*v = copy;
	return copy ? 0 : cx_err_set(err, "out of memory");
}

static int dir_snapshot(struct cx_task_store *s, json_t **tasks, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	int rc;

	dir_sync(d);
	pthread_mutex_lock(&d->mu);
	*tasks = all_locked(d);
	rc = own_locked(tasks, err);
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static int dir_list(struct cx_task_store *s, const struct cx_task_filter *f,
		    const struct cx_task_cursor *after, json_t **tasks, char **next,
		    struct cx_err *err)
{
	struct dir_store *d = dir(s);
	json_t *all;
	int rc;

	dir_sync(d);
	pthread_mutex_lock(&d->mu);
	all = all_locked(d);
	rc = all ? cx_task_page(s, all, f, after, tasks, next, err)
		 : cx_err_set(err, "out of memory");
	if (rc == 0 && own_locked(tasks, err)) {
		free(*next);
		*next = NULL;
		rc = -1;
	}
	json_decref(all);
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static int dir_children(struct cx_task_store *s, const char *id, json_t **tasks, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	json_t *all;
	int rc;

	dir_sync(d);
	pthread_mutex_lock(&d->mu);
	all = all_locked(d);
	*tasks = all ? cx_task_children_of(all, id) : NULL;
	rc = *tasks ? own_locked(tasks, err) : cx_err_set(err, "out of memory");
	json_decref(all);
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static int dir_metrics(struct cx_task_store *s, json_t **metrics, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	json_t *all;

	dir_sync(d);
	pthread_mutex_lock(&d->mu);
	all = all_locked(d);
	*metrics = all ? cx_task_metrics_of(all, cx_task_now_ms()) : NULL;
	json_decref(all);
	pthread_mutex_unlock(&d->mu);
	return *metrics ? 0 : cx_err_set(err, "out of memory");
}

/* ---- one task under its lock ---- */

/* Opens and locks the file name points at now: 0 and *fdp, 1 when there is none, 2 when
 * nonblock and another holds it, -1 with err. */
static int lock_current(struct dir_store *d, const char *name, bool nonblock, int *fdp,
			struct cx_err *err)
{
	for (int tries = 0; tries < 1000; tries++) {
		int fd = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC);
		struct stat a, b;

		if (fd < 0)
			return errno == ENOENT ? 1 : unwritable(d, err, "opening a task in");
		while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0))) {
			if (errno == EINTR)
				continue;
			close(fd);
			if (errno == EWOULDBLOCK)
				return 2;
			return unwritable(d, err, "locking a task in");
		}
		if (!fstat(fd, &a) && !fstatat(d->dirfd, name, &b, 0) && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			*fdp = fd;
			return 0;
		}
		close(fd); /* replaced while we waited for the lock: lock its successor */
	}
	return cx_err_set(err, "task store busy: '%s' kept changing; retry in a moment", name);
}

/* Stores task as id's new version while its lock is held; lazy: without waiting for the
 * rename to be durable (see cx_task_claim). give: the caller hands its reference over and
 * never touches task again, so the index keeps it as it is (else a copy). */
static int commit(struct dir_store *d, const char *id, json_t *task, bool lazy, bool give,
		  struct cx_err *err)
{
	char name[NAME_MAX_LEN], *tmp = NULL, spare[DIR_SPARE_NAME];
	bool kept;
	int rc;

	dir_file_name(id, name, sizeof(name));
	if (dir_write_tmp(d, d->dirfd, name, task, true, &tmp, err))
		return -1;
	/* Into the index before the rename makes it visible: a later writer (who must wait for
	 * our lock) always lands after us. */
	dir_index_put_own(d, id, give ? json_incref(task) : json_deep_copy(task), tmp, true);
	kept = dir_spare_keep(d, name, spare) == 0;
	rc = dir_publish(d, d->dirfd, tmp, name, lazy ? 0 : DIR_SYNC_DIR, err);
	if (kept)
		dir_spare_done(d, spare, rc == 0);
	free(tmp);
	if (rc) {
		json_t *now = NULL;

		if (dir_read_file(d->dirfd, name, &now, NULL) == 0)
			dir_index_set(d, id, now);
	}
	return rc;
}

static int dir_update(struct cx_task_store *s, const char *id, struct cx_task_op *op, json_t **out,
		      struct cx_err *err)
{
	struct dir_store *d = dir(s);
	char name[NAME_MAX_LEN];
	json_t *task = NULL;
	int fd = -1, rc;

	if (out)
		*out = NULL;
	dir_file_name(id, name, sizeof(name));
	rc = lock_current(d, name, false, &fd, err);
	if (rc)
		return rc;
	rc = dir_read_fd(fd, name, &task, err);
	if (!rc) {
		rc = cx_task_apply(s, task, op, cx_task_now_ms(), err);
		if (rc >= 0 && op->write && commit(d, id, task, op->lazy, out == NULL, err))
			rc = -1;
	}
	close(fd);
	if (out && task)
		*out = task;
	else
		json_decref(task); /* the index's now, if it was stored */
	return rc;
}

/* ---- claims ---- */

struct cand {
	int prio;
	int64_t created;
	char id[CX_TASK_ID_MAX];
};

static bool cat_ok(const struct dir_entry *e, const bool *mask)
{
	return !mask || (e->category >= 0 && mask[e->category]);
}

/* cat_ok, and not being tried by another claimer of this process (*skipped then set). */
static bool can_try(const struct dir_entry *e, const bool *mask, bool *skipped)
{
	if (!cat_ok(e, mask))
		return false;
	if (e->claiming)
		*skipped = true;
	return !e->claiming;
}

/* Keeps c[0..*n) the most urgent claimable entries, most urgent first. */
static void consider(struct cand *c, size_t *n, const struct dir_entry *e)
{
	size_t i = *n;

	if (i == CANDIDATES &&
	    !cx_task_key_more_urgent(e->prio, e->created_ms, e->id, c[i - 1].prio, c[i - 1].created,
				     c[i - 1].id))
		return;
	if (i == CANDIDATES)
		i--;
	else
		(*n)++;
	while (i > 0 && cx_task_key_more_urgent(e->prio, e->created_ms, e->id, c[i - 1].prio,
						c[i - 1].created, c[i - 1].id)) {
		c[i] = c[i - 1];
		i--;
	}
	c[i].prio = e->prio;
	c[i].created = e->created_ms;
	snprintf(c[i].id, sizeof(c[i].id), "%s", e->id);
}

/* pick_locked from the queued entries in order and the running ones. */
static size_t pick_tracked(struct dir_store *d, const bool *mask, int64_t now, struct cand *c,
			   int64_t *next_lease, bool *skipped)
{
	size_t n = 0;

	*next_lease = -1;
	for (size_t i = 0; i < d->n_running; i++) {
		const struct dir_entry *e = d->running[i];

		if (!can_try(e, mask, skipped))
			continue;
		if (e->lease_ms <= now)
			consider(c, &n, e);
		else if (*next_lease < 0 || e->lease_ms < *next_lease)
			*next_lease = e->lease_ms;
	}
	for (size_t i = 0; i < d->n_queued; i++) {
		const struct dir_entry *e = d->queued[i];

		if (!can_try(e, mask, skipped))
			continue;
		if (n == CANDIDATES &&
		    !cx_task_key_more_urgent(e->prio, e->created_ms, e->id, c[n - 1].prio,
					     c[n - 1].created, c[n - 1].id))
			break; /* the rest are less urgent still */
		consider(c, &n, e);
	}
	return n;
}

/* With mu held: the best candidates, and the earliest lease that will run out among the
 * tasks this worker could take (*next_lease, wall ms; -1 for none). */
/* With mu held: the best candidates from the whole index, not the tracked lists. */
static size_t pick_all_locked(struct dir_store *d, const bool *mask, int64_t now, struct cand *c,
			      int64_t *next_lease, bool *skipped)
{
	size_t n = 0;

	*next_lease = -1;
	for (size_t i = 0; i < d->nbuckets; i++) {
		for (struct dir_entry *e = d->buckets[i]; e; e = e->next) {
			if (e->status < 0 || e->status > 1 || !can_try(e, mask, skipped))
				continue;
			if (e->status == 0 || e->lease_ms <= now)
				consider(c, &n, e);
			else if (*next_lease < 0 || e->lease_ms < *next_lease)
				*next_lease = e->lease_ms;
		}
	}
	return n;
}

static size_t pick_locked(struct dir_store *d, const bool *mask, int64_t now, struct cand *c,
			  int64_t *next_lease, bool *skipped)
{
	if (!d->track_broken)
		return pick_tracked(d, mask, now, c, next_lease, skipped);
	return pick_all_locked(d, mask, now, c, next_lease, skipped);
}

/* Marks id as being tried by this claimer: false when another claimer of this process is
 * trying it already (or it is gone from the index). */
static bool mark_claiming(struct dir_store *d, const char *id)
{
	struct dir_entry *e;
	bool got = false;

	pthread_mutex_lock(&d->mu);
	e = dir_entry_find(d, id);
	if (e && !e->claiming)
		got = e->claiming = true;
	pthread_mutex_unlock(&d->mu);
	return got;
}

/* Ends mark_claiming's mark; when the try took nothing (taken) is false, the claimers that
 * passed id by look again. */
static void unmark_claiming(struct dir_store *d, const char *id, bool taken)
{
	struct dir_entry *e;

	pthread_mutex_lock(&d->mu);
	e = dir_entry_find(d, id);
	if (e)
		e->claiming = false;
	if (!taken) {
		d->gen++;
		pthread_cond_broadcast(&d->changed);
	}
	pthread_mutex_unlock(&d->mu);
}

/* Takes id for worker if it can still be taken: 0 and *out, 1 when it cannot (taken, locked:
 * *busy, gone, not claimable any more), -1 with err. A task whose lease ran out is requeued,
 * failed or cancelled first (cx_task_apply's CX_OP_EXPIRE), in the same write as the claim. */
static int try_claim(struct dir_store *d, const char *id, const char *worker,
		     const char *const *categories, json_t **out, bool *busy, struct cx_err *err)
{
	struct cx_task_op expire = { .kind = CX_OP_EXPIRE }, claim = { .kind = CX_OP_CLAIM };
	char name[NAME_MAX_LEN];
	json_t *task = NULL;
	int fd = -1, rc;
	enum cx_task_claimable k;
	int64_t now;

	dir_file_name(id, name, sizeof(name));
	if (cx_task_dir_test_hook)
		cx_task_dir_test_hook("claim_try");
	rc = lock_current(d, name, true, &fd, err);
	if (rc == 2)
		*busy = true;
	if (rc)
		return rc < 0 ? -1 : 1;
	if (dir_read_fd(fd, name, &task, err)) {
		cx_warn("task store: %s", err->msg);
		close(fd);
		return 1;
	}
	now = cx_task_now_ms();
	k = cx_task_claimable(task, categories, now);
	claim.worker = worker;
	if (k == CX_CLAIM_EXPIRED)
		cx_task_apply(&d->head, task, &expire, now, NULL);
	if (k != CX_CLAIM_NO)
		cx_task_apply(&d->head, task, &claim, now, NULL);
	rc = 1;
	if (expire.write || claim.write)
		rc = commit(d, id, task, claim.write, false, err) ? -1 : claim.write ? 0 : 1;
	else { /* the index was behind: catch up (the task is the index's now) */
		dir_index_set(d, id, task);
		task = NULL;
	}
	close(fd);
	if (rc == 0)
		*out = task;
	else
		json_decref(task);
	return rc;
}

/* NULL for any category, else mask (one flag per cx_task_categories entry). */
static bool *category_mask(const char *const *categories, bool mask[8])
{
	if (!categories)
		return NULL;
	memset(mask, 0, 8 * sizeof(*mask));
	for (; *categories; categories++) {
		for (int i = 0; cx_task_categories[i]; i++) {
			if (!strcmp(cx_task_categories[i], *categories))
				mask[i] = true;
		}
	}
	return mask;
}

/* Waits for a change to the index after gen seen, until until_mono (monotonic ms). True when
 * nothing changed. */
static bool wait_change(struct dir_store *d, uint64_t seen, int64_t until_mono)
{
	struct timespec ts;
	bool quiet;

	cx_deadline_ts(CLOCK_MONOTONIC, until_mono - cx_now_ms(), &ts);
	pthread_mutex_lock(&d->mu);
	while (d->gen == seen && pthread_cond_timedwait(&d->changed, &d->mu, &ts) == 0)
		;
	quiet = d->gen == seen;
	pthread_mutex_unlock(&d->mu);
	return quiet;
}

/* A waiting claimer looks at least this often, and after a quiet wait checks the tracked
 * queue against the whole index (a safety net: a task the lists missed is found within it);
 * after CATCH_UP_QUIET quiet waits in a row it also reads the folder for task files the index
 * missed altogether (a change whose event was not heard). */
#define RECHECK_MS     1000
#define CATCH_UP_QUIET 3

static int dir_claim(struct cx_task_store *s, const char *worker, const char *const *categories,
		     long wait_ms, json_t **task, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	int64_t deadline = cx_now_ms() + wait_ms;
	bool maskbuf[8], *mask = category_mask(categories, maskbuf), quiet = false;
	unsigned quiets = 0, last_tries = 0;

	for (;;) {
		struct cand c[CANDIDATES];
		int64_t next_lease, wall = cx_task_now_ms(), mono, until;
		bool busy = false, skipped = false;
		uint64_t seen;
		size_t n;

		dir_sync(d);
		if (quiet && ++quiets % CATCH_UP_QUIET == 0)
			dir_catch_up(d);
		pthread_mutex_lock(&d->mu);
		seen = d->gen;
		n = pick_locked(d, mask, wall, c, &next_lease, &skipped);
		if (!n && quiet && !d->track_broken &&
		    (n = pick_all_locked(d, mask, wall, c, &next_lease, &skipped))) {
			cx_warn("task store '%s': a claimable task was missing from the queue it "
				"tracks; looking at the whole index from now on",
				d->path);
			d->track_broken = true;
		}
		pthread_mutex_unlock(&d->mu);
		for (size_t i = 0; i < n; i++) {
			int rc;

			if (!mark_claiming(d, c[i].id)) {
				skipped = true;
				continue;
			}
			rc = try_claim(d, c[i].id, worker, categories, task, &busy, err);
			unmark_claiming(d, c[i].id, rc == 0);
			if (rc <= 0)
				return rc;
		}
		/* A task another claimer here is trying may still come free: as for one locked */
		busy |= skipped;
		mono = cx_now_ms();
		if (mono >= deadline) {
			if (!busy || ++last_tries > BUSY_LAST_TRIES)
				return 0;
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			continue;
		}
		until = deadline;
		if (next_lease >= 0 && mono + (next_lease - wall) + 1 < until)
			until = mono + (next_lease - wall) + 1;
		if (busy && mono + BUSY_RETRY_MS < until)
			until = mono + BUSY_RETRY_MS;
		if (mono + RECHECK_MS < until)
			until = mono + RECHECK_MS;
		quiet = wait_change(d, seen, until);
	}
}

/* ---- agents ---- */

static int dir_agent_put(struct cx_task_store *s, const json_t *agent, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	char name[NAME_MAX_LEN], *tmp = NULL;
	int rc;

	dir_file_name(json_string_value(json_object_get(agent, "id")), name, sizeof(name));
	if (dir_write_tmp(d, d->agentsfd, name, agent, false, &tmp, err))
		return -1;
	rc = dir_publish(d, d->agentsfd, tmp, name, 0, err);
	free(tmp);
	return rc;
}

static int dir_agent_list(struct cx_task_store *s, json_t **agents, struct cx_err *err)
{
	struct dir_store *d = dir(s);
	int fd = dup(d->agentsfd);
	DIR *dd = fd >= 0 ? fdopendir(fd) : NULL;
	int64_t forget = cx_task_now_ms() - AGENT_FORGET_MS;
	struct dirent *de;

	*agents = json_array();
	if (!dd || !*agents) {
		if (fd >= 0 && !dd)
			close(fd);
		json_decref(*agents);
		*agents = NULL;
		return cx_err_set(err, "could not read '%s/.agents': %s", d->path, strerror(errno));
	}
	rewinddir(dd);
	while ((de = readdir(dd))) {
		json_t *a = NULL;

		if (de->d_name[0] == '.' || dir_read_file(d->agentsfd, de->d_name, &a, NULL))
			continue;
		if (cx_task_time_ms(json_string_value(json_object_get(a, "heartbeat_at"))) < forget)
			unlinkat(d->agentsfd, de->d_name, 0);
		else
			json_array_append(*agents, a);
		json_decref(a);
	}
	closedir(dd);
	return 0;
}

static const char *const dir_keys[] = { "dir", "fsync", NULL };

const struct cx_task_store_ops cx_task_store_dir_ops = {
	.name = "dir",
	.keys = dir_keys,
	.open = dir_store_open,
	.close = dir_store_close,
	.create = dir_create,
	.get = dir_get,
	.snapshot = dir_snapshot,
	.update = dir_update,
	.claim = dir_claim,
	.agent_put = dir_agent_put,
	.agent_list = dir_agent_list,
	.list = dir_list,
	.children = dir_children,
	.metrics = dir_metrics,
};
