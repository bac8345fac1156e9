/* The dir task store's files: reading a task file whole (under a shared lock, so a spare
 * being written again is never read half-done), writing one through a temporary (a spare when
 * there is one) and publishing it by rename; the spares themselves. Layout and locking are in
 * taskstore_dir.h. */
#include "taskstore_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

/* ---- files ---- */

int dir_read_fd(int fd, const char *name, json_t **task, struct cx_err *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fstat(fd, &st))
		return cx_err_set(err, "could not read task file '%s': %s", name, strerror(errno));
	if (st.st_size > CX_TASK_FILE_MAX)
		return cx_err_set(err, "task file '%s' is %lld bytes, over the limit of %d", name,
				  (long long)st.st_size, CX_TASK_FILE_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return cx_err_set(err, "out of memory reading '%s'", name);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*task = got == (size_t)st.st_size ? cx_json_loadb(buf, got, CX_TASK_FILE_MAX, err) : NULL;
	if (got != (size_t)st.st_size)
		cx_err_set(err, "could not read task file '%s': short read", name);
	else if (!*task)
		cx_err_prefix(err, "task file '%s' is not JSON: ", name);
	free(buf);
	return *task ? 0 : -1;
}

/* Opens name and takes a shared lock on the file it names when the lock is granted: a spare
 * being rewritten (dir_write_tmp) is locked exclusively, and a file that was renamed away
 * while we waited is let go and name opened again. 0 and *fdp, 1 when there is none. */
static int open_shared(int dirfd, const char *name, int *fdp, struct cx_err *err)
{
	for (int tries = 0; tries < 1000; tries++) {
		int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
		struct stat a, b;

		if (fd < 0) {
			if (errno == ENOENT)
				return 1;
			return cx_err_set(err, "could not open task file '%s': %s", name,
					  strerror(errno));
		}
		while (flock(fd, LOCK_SH) && errno == EINTR)
			;
		if (!fstat(fd, &a) && !fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			*fdp = fd;
			return 0;
		}
		close(fd);
	}
	return cx_err_set(err, "task file '%s' kept changing; retry in a moment", name);
}

int dir_read_file(int dirfd, const char *name, json_t **task, struct cx_err *err)
{
	int fd = -1, rc = open_shared(dirfd, name, &fd, err);

	*task = NULL;
	if (rc)
		return rc;
	rc = dir_read_fd(fd, name, task, err);
	close(fd);
	return rc;
}

/* ---- spares: the inodes of replaced task files, written again instead of new ones ---- */

long cx_task_dir_spare_rest_ms = 2000;

/* The oldest spare's name when it has rested cx_task_dir_spare_rest_ms (a program that opened
 * the file before it was replaced has had that long to read it; and no inode is written twice
 * within a clock tick, so a file's inode and mtime tell one version from the next, have_own),
 * or false. */
static bool spare_take(struct dir_store *d, char out[DIR_SPARE_NAME])
{
	bool got = false;

	pthread_mutex_lock(&d->spare_mu);
	if (d->n_spares && cx_now_ms() - d->spare_at[d->spare_head] >= cx_task_dir_spare_rest_ms) {
		memcpy(out, d->spares[d->spare_head], DIR_SPARE_NAME);
		d->spare_head = (d->spare_head + 1) % DIR_SPARES_MAX;
		d->n_spares--;
		got = true;
	}
	pthread_mutex_unlock(&d->spare_mu);
	return got;
}

/* Links the file name names now (its lock held by the caller, about to be replaced) under a
 * spare's name: 0 and out, or -1 (the pool is full, or the link failed: it is let go). */
int dir_spare_keep(struct dir_store *d, const char *name, char out[DIR_SPARE_NAME])
{
	struct stat st;
	bool room;

	pthread_mutex_lock(&d->spare_mu);
	room = d->n_spares < DIR_SPARES_MAX && !atomic_load(&d->no_spares);
	pthread_mutex_unlock(&d->spare_mu);
	/* a large file (a long conversation) is not kept: spares hold their old bytes */
	if (!room || fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	    st.st_size > DIR_SPARE_SIZE_MAX)
		return -1;
	snprintf(out, DIR_SPARE_NAME, ".spare.%ld.%lu", (long)getpid(),
		 (unsigned long)atomic_fetch_add(&d->tmp_seq, 1));
	return linkat(d->dirfd, name, d->dirfd, out, 0) ? -1 : 0;
}

/* The spare kept by dir_spare_keep, once its file was replaced (ok) or not (removed). */
void dir_spare_done(struct dir_store *d, const char *spare, bool ok)
{
	bool kept = false;

	pthread_mutex_lock(&d->spare_mu);
	if (ok && d->n_spares < DIR_SPARES_MAX) {
		size_t i = (d->spare_head + d->n_spares++) % DIR_SPARES_MAX;

		memcpy(d->spares[i], spare, DIR_SPARE_NAME);
		d->spare_at[i] = cx_now_ms();
		kept = true;
	}
	pthread_mutex_unlock(&d->spare_mu);
	if (!kept)
		unlinkat(d->dirfd, spare, 0);
}

/* Whether another descriptor (any process, this one included) still has the spare open: a
 * write lease is refused on a file open for writing elsewhere, and on one open for reading
 * where the kernel counts readers (CONFIG_IMA; elsewhere the rest above is what protects a
 * slow reader of its own). Where leases are refused outright (another owner, leases
 * disabled) spares are given up. */
static bool still_open(struct dir_store *d, int fd)
{
	if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		return false;
	}
	if (errno != EAGAIN && errno != EBUSY)
		atomic_store(&d->no_spares, true);
	return true;
}

/* A temporary to write: a spare nobody has open, locked exclusively, its size in *old (it is
 * written over from its start and cut after, not emptied first: emptying gave its block
 * back to the file system, and the write took one again, each a journalled change), else a
 * new file (*old 0). */
static int tmp_open(struct dir_store *d, int dirfd, const char *name, char *path, size_t len,
		    off_t *old)
{
	char spare[DIR_SPARE_NAME];
	struct stat st;
	int fd;

	*old = 0;
	while (dirfd == d->dirfd && spare_take(d, spare)) {
		fd = openat(dirfd, spare, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!still_open(d, fd)) {
			while (flock(fd, LOCK_EX) && errno == EINTR)
				;
			if (!fstat(fd, &st)) {
				snprintf(path, len, "%s", spare);
				*old = st.st_size;
				return fd;
			}
		}
		close(fd); /* someone still reads it: let it go with them */
		unlinkat(dirfd, spare, 0);
	}
	snprintf(path, len, ".tmp.%ld.%lu.%s", (long)getpid(),
		 (unsigned long)atomic_fetch_add(&d->tmp_seq, 1), name);
	return openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

void dir_spares_release(struct dir_store *d)
{
	for (size_t i = 0; i < d->n_spares; i++)
		unlinkat(d->dirfd, d->spares[(d->spare_head + i) % DIR_SPARES_MAX], 0);
	d->n_spares = 0;
}

/* One write, or two halves when a test watches for the half-written file. */
static int write_all(int fd, const char *p, size_t len)
{
	size_t half = cx_task_dir_test_hook ? len / 2 : 0, done = 0;

	while (done < len) {
		size_t want = done < half ? half - done : len - done;
		ssize_t n = write(fd, p + done, want ? want : len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
		if (done == half && cx_task_dir_test_hook)
			cx_task_dir_test_hook("half");
	}
	return 0;
}

/* text into fd, a spare of old bytes or a new file, then durable when sync (and the store
 * syncs): by a shared syncfs ("fsync": true) or its own fdatasync ("files"). 0, or -1 and
 * errno. */
static int write_synced(struct dir_store *d, int fd, const char *text, size_t len, off_t old,
			bool sync)
{
	if (write_all(fd, text, len) || (old > (off_t)len && ftruncate(fd, (off_t)len)))
		return -1;
	if (cx_task_dir_test_hook)
		cx_task_dir_test_hook("written");
	if (!sync || !d->fsync)
		return 0;
	return d->batch_syncfs ? dir_sync_shared(d) : fdatasync(fd);
}

int dir_write_tmp(struct dir_store *d, int dirfd, const char *name, const json_t *v, bool sync,
		  char **tmp, struct cx_err *err)
{
	char path[CX_TASK_ID_MAX + 64], *grown;
	size_t len;
	char *text = cx_json_dumps(v, &len);
	int fd = -1, rc = -1;
	off_t old = 0;

	*tmp = NULL;
	if (!text)
		return cx_err_set(err, "out of memory writing '%s'", name);
	if (len > CX_TASK_FILE_MAX) {
		cx_err_set(err, "'%s' would be %zu bytes, over the limit of %d", name, len,
			   CX_TASK_FILE_MAX);
		goto out;
	}
	grown = realloc(text, len + 1); /* the line's end, in the same write */
	if (!grown) {
		cx_err_set(err, "out of memory writing '%s'", name);
		goto out;
	}
	text = grown;
	text[len++] = '\n';
	fd = tmp_open(d, dirfd, name, path, sizeof(path), &old);
	if (fd < 0 || write_synced(d, fd, text, len, old, sync)) {
		cx_err_set(err,
			   "task store unwritable: '%s/%s': %s; tasks are safe, retry in a moment",
			   d->path, name, strerror(errno));
		if (fd >= 0)
			unlinkat(dirfd, path, 0);
		goto out;
	}
	*tmp = strdup(path);
	rc = *tmp ? 0 : cx_err_set(err, "out of memory");
	if (rc)
		unlinkat(dirfd, path, 0);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

int dir_publish(struct dir_store *d, int dirfd, const char *tmp, const char *name, int how,
		struct cx_err *err)
{
	int rc;

	if (cx_task_dir_test_hook)
		cx_task_dir_test_hook("before_rename");
	rc = how & DIR_NEW ? renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE)
			   : renameat(dirfd, tmp, dirfd, name);
	if (rc) {
		cx_err_set(err, "task store unwritable: renaming to '%s/%s': %s", d->path, name,
			   strerror(errno));
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if ((how & DIR_SYNC_DIR) && d->fsync &&
	    ((dirfd == d->dirfd || d->batch_syncfs) ? dir_sync_shared(d) : fsync(dirfd)))
		return cx_err_set(err, "task store unwritable: fsync of '%s': %s", d->path,
				  strerror(errno));
	return 0;
}

int dir_sync_shared(struct dir_store *d)
{
	uint64_t mine, upto;
	int rc = 0, e = 0;

	pthread_mutex_lock(&d->sync_mu);
	mine = ++d->sync_asked; /* after our rename: an fsync that begins from now covers it */
	while (d->sync_done < mine) {
		if (d->sync_fail_upto >= mine) {
			/* The fsync that covered our rename failed: so does our write (a second
			 * fsync on the same descriptor would not report that error again). */
			rc = -1;
			e = d->sync_errno;
			break;
		}
		if (d->syncing) {
			pthread_cond_wait(&d->sync_cv, &d->sync_mu);
			continue;
		}
		d->syncing = true;
		upto = d->sync_asked;
		pthread_mutex_unlock(&d->sync_mu);
		if (cx_task_dir_test_hook)
			cx_task_dir_test_hook("fsync_folder");
		rc = d->batch_syncfs ? syncfs(d->dirfd) : fsync(d->dirfd);
		e = errno;
		if (cx_task_dir_test_hook)
			cx_task_dir_test_hook("fsync_folder_done");
		pthread_mutex_lock(&d->sync_mu);
		d->syncing = false;
		if (rc == 0 && upto > d->sync_done)
			d->sync_done = upto;
		if (rc && upto > d->sync_fail_upto) {
			d->sync_fail_upto = upto;
			d->sync_errno = e;
		}
		pthread_cond_broadcast(&d->sync_cv);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&d->sync_mu);
	if (rc)
		errno = e;
	return rc;
}
