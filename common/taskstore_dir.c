/* The dir task store, its ground (the files themselves: taskstore_dir_files.c): the
 * in-memory index kept in step with the directory by inotify, opening and closing. The
 * layout and the locking are described in taskstore_dir.h; the operations are in
 * taskstore_dir_ops.c. */
#include "taskstore_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "util.h"

void (*cx_task_dir_test_hook)(const char *stage);

/* Task files appear by rename (IN_MOVED_TO) and leave by unlink or rename (IN_DELETE,
 * IN_MOVED_FROM). IN_CLOSE_WRITE is left out on purpose: every write closes a temporary,
 * and a batch of 10,000 would overflow the event queue with them; a tool that edits a task
 * file in place (rather than writing a copy and renaming it) is not heard until the next
 * rename or open. */
#define EVENTS (IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)

void dir_file_name(const char *id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s.json", id);
}

/* The id a directory entry names: "<id>.json" with a valid id; false for anything else
 * (temporaries, the lock, agents). */
static bool task_name(const char *name, char id[CX_TASK_ID_MAX])
{
	size_t n = strlen(name);

	if (n <= 5 || n - 5 >= CX_TASK_ID_MAX || strcmp(name + n - 5, ".json"))
		return false;
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	return cx_task_id_valid(id);
}

/* ---- the index ---- */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct dir_entry **slot(struct dir_store *d, const char *id)
{
	struct dir_entry **e = &d->buckets[hash(id) & (d->nbuckets - 1)];

	while (*e && strcmp((*e)->id, id))
		e = &(*e)->next;
	return e;
}

struct dir_entry *dir_entry_find(struct dir_store *d, const char *id)
{
	return *slot(d, id);
}

static void grow(struct dir_store *d)
{
	size_t n = d->nbuckets * 2, i;
	struct dir_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* chains just get longer */
	for (i = 0; i < d->nbuckets; i++) {
		struct dir_entry *e = d->buckets[i], *next;

		for (; e; e = next) {
			size_t k = hash(e->id) & (n - 1);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(d->buckets);
	d->buckets = b;
	d->nbuckets = n;
}

static int index_of(const char *s, const char *const *list)
{
	for (int i = 0; s && list[i]; i++) {
		if (!strcmp(list[i], s))
			return i;
	}
	return -1;
}

/* ---- what claims look at: queued entries in order, in_progress ones ---- */

static bool before(const struct dir_entry *a, const struct dir_entry *b)
{
	return cx_task_key_more_urgent(a->prio, a->created_ms, a->id, b->prio, b->created_ms,
				       b->id);
}

/* The first place in queued whose entry is not more urgent than e. */
static size_t queued_pos(const struct dir_store *d, const struct dir_entry *e)
{
	size_t lo = 0, hi = d->n_queued;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (before(d->queued[mid], e))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool room(struct dir_entry ***arr, size_t n, size_t *cap)
{
	size_t c = *cap ? *cap * 2 : 256;
	void *p;

	if (n < *cap)
		return true;
	p = realloc(*arr, c * sizeof(**arr));
	if (!p)
		return false;
	*arr = p;
	*cap = c;
	return true;
}

static void untrack(struct dir_store *d, struct dir_entry *e)
{
	size_t i;

	if (e->status == 0) {
		i = queued_pos(d, e);
		if (i >= d->n_queued || d->queued[i] != e)
			for (i = 0; i < d->n_queued && d->queued[i] != e; i++)
				;
		if (i < d->n_queued) {
			memmove(&d->queued[i], &d->queued[i + 1],
				(d->n_queued - i - 1) * sizeof(*d->queued));
			d->n_queued--;
		}
	} else if (e->status == 1 && e->run_ix < d->n_running && d->running[e->run_ix] == e) {
		d->running[e->run_ix] = d->running[--d->n_running];
		d->running[e->run_ix]->run_ix = e->run_ix;
	}
}

static void track(struct dir_store *d, struct dir_entry *e)
{
	size_t i;

	if (e->status == 0) {
		if (!room(&d->queued, d->n_queued, &d->cap_queued)) {
			d->track_broken = true;
			return;
		}
		i = queued_pos(d, e);
		memmove(&d->queued[i + 1], &d->queued[i], (d->n_queued - i) * sizeof(*d->queued));
		d->queued[i] = e;
		d->n_queued++;
	} else if (e->status == 1) {
		if (!room(&d->running, d->n_running, &d->cap_running)) {
			d->track_broken = true;
			return;
		}
		e->run_ix = d->n_running;
		d->running[d->n_running++] = e;
	}
}

static void fill(struct dir_entry *e, json_t *task)
{
	json_decref(e->task);
	e->task = task;
	e->ino = 0; /* dir_index_put_own sets it */
	e->mtime_ns = 0;
	e->prio = (int)json_integer_value(json_object_get(task, "priority"));
	e->created_ms = cx_task_field_ms(task, "created_at");
	e->status = index_of(json_string_value(json_object_get(task, "status")), cx_task_statuses);
	e->category = index_of(json_string_value(json_object_get(json_object_get(task, "payload"),
								 "category")),
			       cx_task_categories);
	e->lease_ms = e->status == 1 ? cx_task_field_ms(task, "lease_until") : -1;
}

/* A task as the index keeps it: without its conversation (metadata.state), the bulk of a
 * worked task, which only a get or a claim needs and both read from the file. task is the
 * caller's own, not yet seen by another thread. */
static void lean(json_t *task)
{
	json_object_del(json_object_get(task, "metadata"), "state");
}

/* With mu held. task (owned; NULL: the entry goes) is kept lean. */
static void index_set_locked(struct dir_store *d, const char *id, json_t *task)
{
	struct dir_entry **s = slot(d, id), *e = *s;

	if (task)
		lean(task);
	if (!task) {
		if (e) {
			untrack(d, e);
			*s = e->next;
			json_decref(e->task);
			free(e);
			d->count--;
		}
	} else if (e) {
		untrack(d, e);
		fill(e, task);
		track(d, e);
	} else if ((e = calloc(1, sizeof(*e)))) {
		snprintf(e->id, sizeof(e->id), "%s", id);
		fill(e, task);
		track(d, e);
		*s = e;
		if (++d->count > d->nbuckets)
			grow(d);
	} else {
		json_decref(task); /* out of memory: the next event or rescan brings it back */
	}
	d->gen++;
}

void dir_index_put(struct dir_store *d, const char *id, json_t *task, bool wake)
{
	pthread_mutex_lock(&d->mu);
	index_set_locked(d, id, task);
	if (wake)
		pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

void dir_index_put_own(struct dir_store *d, const char *id, json_t *task, const char *tmp,
		       bool wake)
{
	struct stat st;
	bool known = tmp && !fstatat(d->dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW);
	struct dir_entry *e;

	pthread_mutex_lock(&d->mu);
	index_set_locked(d, id, task);
	e = *slot(d, id);
	if (e) {
		e->ino = known ? (uint64_t)st.st_ino : 0;
		e->mtime_ns =
			known ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec : 0;
	}
	if (wake)
		pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

/* Whether the index already holds what name has: this process wrote it (the event of our
 * own rename). */
static bool have_own(struct dir_store *d, const char *name, const char *id)
{
	struct stat st;
	struct dir_entry *e;
	bool same;

	if (fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return false;
	pthread_mutex_lock(&d->mu);
	e = *slot(d, id);
	same = e && e->ino && e->ino == (uint64_t)st.st_ino &&
	       e->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	pthread_mutex_unlock(&d->mu);
	return same;
}

void dir_index_set(struct dir_store *d, const char *id, json_t *task)
{
	dir_index_put(d, id, task, true);
}

void dir_wake_claimers(struct dir_store *d)
{
	pthread_mutex_lock(&d->mu);
	d->gen++;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

static void note(struct changed_ids *c, const char *id)
{
	if (c->n && !strcmp(c->ids[c->n - 1], id))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		void *p = realloc(c->ids, cap * sizeof(*c->ids));

		if (!p)
			return;
		c->ids = p;
		c->cap = cap;
	}
	snprintf(c->ids[c->n++], CX_TASK_ID_MAX, "%s", id);
}

/* (Re)reads one task file into the index: a file that is gone leaves it, a damaged one is
 * left as it was (an in-place writer's next rename brings it). With c, the id joins c when
 * the task differs from what the index had (a rescan after lost events). */
static void reload(struct dir_store *d, const char *name, const char *id, uint64_t mark,
		   struct changed_ids *c)
{
	struct cx_err err = { 0 };
	json_t *task = NULL;
	int rc;
	const char *fid;
	struct dir_entry *e;

	if (!mark && have_own(d, name, id))
		return;
	rc = dir_read_file(d->dirfd, name, &task, &err);
	fid = json_string_value(json_object_get(task, "id"));

	if (rc == 0 && (!fid || strcmp(fid, id))) {
		cx_warn("task store: '%s/%s' holds task '%s'; ignored", d->path, name,
			fid ? fid : "(no id)");
		json_decref(task);
		return;
	}
	if (rc < 0) {
		cx_warn("task store: %s", err.msg);
		return;
	}
	lean(task); /* as the index would keep it, for the comparison below */
	pthread_mutex_lock(&d->mu);
	e = *slot(d, id);
	/* A file read before this process wrote a newer version (and put it in the index) must
	 * not take the index back: the newer one's own event comes after. */
	if (e && task && e->task &&
	    cx_task_field_ms(task, "updated_at") < cx_task_field_ms(e->task, "updated_at")) {
		pthread_mutex_unlock(&d->mu);
		json_decref(task);
		return;
	}
	if (c && (!e || !task || !json_equal(e->task, task)))
		note(c, id);
	index_set_locked(d, id, rc ? NULL : task);
	e = *slot(d, id); /* absent when gone, or when memory ran out */
	if (e && mark)
		e->seen = mark;
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

/* Reads every task file; with sweep, drops the entries whose file is gone. */
static int rescan(struct dir_store *d, struct changed_ids *c, struct cx_err *err)
{
	static uint64_t marks;
	uint64_t mark = __atomic_add_fetch(&marks, 1, __ATOMIC_RELAXED);
	int fd = dup(d->dirfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char id[CX_TASK_ID_MAX];

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return cx_err_set(err, "could not read '%s': %s", d->path, strerror(errno));
	}
	rewinddir(dir);
	while ((de = readdir(dir))) {
		if (task_name(de->d_name, id))
			reload(d, de->d_name, id, mark, c);
	}
	closedir(dir);
	if (!c)
		return 0;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->nbuckets; i++) {
		for (struct dir_entry *e = d->buckets[i], *next; e; e = next) {
			next = e->next;
			if (e->seen == mark)
				continue;
			note(c, e->id);
			index_set_locked(d, e->id, NULL);
		}
	}
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

size_t dir_catch_up(struct dir_store *d)
{
	int fd = dup(d->dirfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char id[CX_TASK_ID_MAX];
	size_t found = 0;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rewinddir(dir);
	while ((de = readdir(dir))) {
		bool known;

		if (!task_name(de->d_name, id))
			continue;
		pthread_mutex_lock(&d->mu);
		known = *slot(d, id) != NULL;
		pthread_mutex_unlock(&d->mu);
		if (known)
			continue;
		reload(d, de->d_name, id, 0, NULL);
		pthread_mutex_lock(&d->mu);
		known = *slot(d, id) != NULL;
		pthread_mutex_unlock(&d->mu);
		if (known) {
			found++;
			cx_warn("task store '%s': task '%s' was in the folder but not in the index "
				"(its change had not been heard); taken in now",
				d->path, id);
			pthread_mutex_lock(&d->ev_mu);
			note(&d->pending, id);
			pthread_mutex_unlock(&d->ev_mu);
		}
	}
	closedir(dir);
	if (found)
		(void)!write(d->wake[1], "n", 1); /* the event thread tells the watcher */
	return found;
}

/* The task files one read of events named, each once: reload reads a file as it is now, so a
 * task changed twice before its first event was applied (a claim and a finish, when the
 * readers lag) is read once. */
#define BATCH_BYTES 16384
struct batch {
	const struct inotify_event *ev[BATCH_BYTES / sizeof(struct inotify_event)];
	size_t n;
	bool overflow;
};

static void batch_add(struct batch *b, const struct inotify_event *ev)
{
	char id[CX_TASK_ID_MAX];

	if (ev->mask & IN_Q_OVERFLOW) {
		b->overflow = true;
		return;
	}
	if (!ev->len || !task_name(ev->name, id))
		return;
	for (size_t i = 0; i < b->n; i++) {
		if (!strcmp(b->ev[i]->name, ev->name))
			return;
	}
	if (b->n < sizeof(b->ev) / sizeof(b->ev[0]))
		b->ev[b->n++] = ev;
}

static void apply_batch(struct dir_store *d, const struct batch *b, struct changed_ids *c)
{
	char id[CX_TASK_ID_MAX];

	if (b->overflow) { /* the rescan reads every file, those named here as well */
		cx_warn("task store: inotify queue overflowed on '%s'; reading it again", d->path);
		rescan(d, c, NULL);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (!task_name(b->ev[i]->name, id))
			continue;
		reload(d, b->ev[i]->name, id, 0, NULL);
		note(c, id);
	}
}

/* Applies the queued events; the ids they changed join d->pending, for the event thread to
 * hand to the watcher (the contract says "from a thread of the store's", so a caller of
 * cx_task_list never finds its own watcher running inside it). */
static bool drain(struct dir_store *d)
{
	char buf[BATCH_BYTES] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	pthread_mutex_lock(&d->ev_mu);
	while ((n = read(d->ifd, buf, sizeof(buf))) > 0) {
		struct batch b;

		b.n = 0;
		b.overflow = false;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			batch_add(&b, ev);
			p += sizeof(*ev) + ev->len;
		}
		apply_batch(d, &b, &d->pending);
		any = true;
	}
	pthread_mutex_unlock(&d->ev_mu);
	return any;
}

void dir_sync(struct dir_store *d)
{
	if (drain(d))
		(void)!write(d->wake[1], "n", 1); /* the event thread delivers */
}

/* Hands the pending ids to the watcher, with no lock held while it runs. */
static void deliver(struct dir_store *d)
{
	struct changed_ids c;

	pthread_mutex_lock(&d->ev_mu);
	c = d->pending;
	memset(&d->pending, 0, sizeof(d->pending));
	pthread_mutex_unlock(&d->ev_mu);
	for (size_t i = 0; i < c.n; i++)
		cx_task_store_notify(&d->head, c.ids[i]);
	free(c.ids);
}

static void *event_thread(void *arg)
{
	struct dir_store *d = arg;
	char junk[64];

	for (;;) {
		struct pollfd p[2] = { { .fd = d->ifd, .events = POLLIN },
				       { .fd = d->wake[0], .events = POLLIN } };

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			while (read(d->wake[0], junk, sizeof(junk)) > 0)
				;
			if (atomic_load(&d->stopping))
				break;
		}
		if (p[0].revents)
			drain(d);
		deliver(d);
	}
	return NULL;
}

/* ---- opening ---- */

/* Removes temporaries and spares left by writers that died (their pid no longer runs). */
static void clean_tmp(int dirfd)
{
	int fd = dup(dirfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		char *end;
		long pid;

		size_t skip = !strncmp(de->d_name, ".tmp.", 5)     ? 5
			      : !strncmp(de->d_name, ".spare.", 7) ? 7
								   : 0;

		if (!skip)
			continue;
		pid = strtol(de->d_name + skip, &end, 10);
		if (*end == '.' && pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH)
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

/* mkdir -p */
static int make_dirs(const char *path, struct cx_err *err)
{
	char *p = strdup(path);

	if (!p)
		return cx_err_set(err, "out of memory");
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST) {
			cx_err_set(err, "could not create '%s': %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(path, 0755) && errno != EEXIST)
		return cx_err_set(err, "could not create '%s': %s", path, strerror(errno));
	return 0;
}

/* "fsync": true (the default: every write durable before the call returns; a batch of tasks
 * by one syncfs(2) of the file system before the renames, which on ext4 costs what one
 * fdatasync does, rather than one fdatasync per file, and the writes of many workers at once
 * by syncfs calls they share, one before their renames and one after), "files" (one
 * fdatasync per file and the folder's fsync: slower, but never flushes other programs'
 * writes on the same file system), false (no fsync at all: a crash may lose recent changes,
 * never show half a task). */
static int conf_path(const json_t *conf, struct dir_store *d, struct cx_err *err)
{
	json_t *dir = json_object_get(conf, "dir"), *fs = json_object_get(conf, "fsync");
	const char *p = getenv("CORTEX_TASKS_DIR");

	if (dir && (!json_is_string(dir) || !json_string_length(dir)))
		return cx_err_set(err, "tasks.dir must be a directory's path");
	if (fs && !json_is_boolean(fs) &&
	    !(json_is_string(fs) && !strcmp(json_string_value(fs), "files")))
		return cx_err_set(err, "tasks.fsync must be true, false or \"files\"");
	d->fsync = !fs || !json_is_false(fs);
	d->batch_syncfs = !fs || json_is_true(fs);
	if (dir)
		p = json_string_value(dir);
	if (!p || !*p)
		p = "./var/tasks";
	d->path = cx_path_resolve(cx_path_base(), p);
	return d->path ? 0 : cx_err_set(err, "out of memory");
}

static int open_fds(struct dir_store *d, struct cx_err *err)
{
	if (make_dirs(d->path, err))
		return -1;
	d->dirfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return cx_err_set(err, "could not open task directory '%s': %s", d->path,
				  strerror(errno));
	if (mkdirat(d->dirfd, ".agents", 0755) && errno != EEXIST)
		return cx_err_set(err, "could not create '%s/.agents': %s", d->path,
				  strerror(errno));
	d->agentsfd = openat(d->dirfd, ".agents", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->agentsfd < 0)
		return cx_err_set(err, "could not open '%s/.agents': %s", d->path, strerror(errno));
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd < 0 || inotify_add_watch(d->ifd, d->path, EVENTS) < 0)
		return cx_err_set(err, "could not watch '%s' (inotify): %s", d->path,
				  strerror(errno));
	if (pipe2(d->wake, O_CLOEXEC | O_NONBLOCK))
		return cx_err_set(err, "pipe: %s", strerror(errno));
	return 0;
}

struct cx_task_store *dir_store_open(const json_t *conf, const struct cx_task_store_conf *c,
				     struct cx_err *err)
{
	struct dir_store *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	char *real;

	if (!d)
		return cx_err_set(err, "out of memory"), NULL;
	d->dirfd = d->agentsfd = d->ifd = d->wake[0] = d->wake[1] = -1;
	pthread_mutex_init(&d->ev_mu, NULL);
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->spare_mu, NULL);
	pthread_mutex_init(&d->sync_mu, NULL);
	pthread_cond_init(&d->sync_cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->changed, &ca);
	pthread_condattr_destroy(&ca);
	d->nbuckets = 1024;
	d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
	real = NULL;
	if (!d->buckets || conf_path(conf, d, err) || open_fds(d, err))
		goto fail;
	real = realpath(d->path, NULL);
	cx_task_store_head_init(&d->head, &cx_task_store_dir_ops, c, "dir %s",
				real ? real : d->path);
	free(real);
	clean_tmp(d->dirfd);
	clean_tmp(d->agentsfd);
	/* The watch is in place before the scan, so nothing written meanwhile is missed. */
	if (rescan(d, NULL, err))
		goto fail_head;
	if (pthread_create(&d->thread, NULL, event_thread, d)) {
		cx_err_set(err, "could not start the task store's thread");
		goto fail_head;
	}
	d->thread_started = true;
	return &d->head;
fail:
	cx_task_store_head_init(&d->head, &cx_task_store_dir_ops, c, "dir");
fail_head:
	dir_store_close(&d->head);
	return NULL;
}

void dir_store_close(struct cx_task_store *s)
{
	struct dir_store *d = (struct dir_store *)s;

	if (d->thread_started) {
		atomic_store(&d->stopping, true);
		(void)!write(d->wake[1], "x", 1);
		pthread_join(d->thread, NULL);
	}
	if (d->dirfd >= 0)
		dir_spares_release(d);
	for (size_t i = 0; d->buckets && i < d->nbuckets; i++) {
		for (struct dir_entry *e = d->buckets[i], *next; e; e = next) {
			next = e->next;
			json_decref(e->task);
			free(e);
		}
	}
	free(d->buckets);
	free(d->queued);
	free(d->running);
	free(d->pending.ids);
	for (int *fd = (int[]){ d->dirfd, d->agentsfd, d->ifd, d->wake[0], d->wake[1] }, i = 0;
	     i < 5; i++) {
		if (fd[i] >= 0)
			close(fd[i]);
	}
	pthread_cond_destroy(&d->changed);
	pthread_mutex_destroy(&d->spare_mu);
	pthread_cond_destroy(&d->sync_cv);
	pthread_mutex_destroy(&d->sync_mu);
	pthread_mutex_destroy(&d->mu);
	pthread_mutex_destroy(&d->ev_mu);
	cx_task_store_head_release(&d->head);
	free(d->path);
	free(d);
}
