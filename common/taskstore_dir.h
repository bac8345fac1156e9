/* Inside the dir task store (taskstore_dir.c: files, the index, inotify; taskstore_dir_ops.c:
 * the store's operations).
 *
 * On disk, in the store's directory:
 *   <id>.json          one task, written only by rename(2) of a complete, fsync'd temporary
 *                      file, so a reader sees the old task or the new one, never a part;
 *   .tmp.<pid>.<n>.<id>.json   a write in flight (a crashed writer's are removed at open);
 *   .spare.<pid>.<n>   a replaced task file kept to be written again (a spare), once it
 *                      rested 2 s (cx_task_dir_spare_rest_ms) and when no other descriptor
 *                      has it open for writing (a write lease is granted): a program reading
 *                      a task file sees one version whole if it reads within 2 s of opening
 *                      it; the store's own readers always do (they take a shared lock, which
 *                      a writer of a spare waits for, and check the name still points at
 *                      what they opened);
 *   .agents/<id>.json  an agent's live state.
 * A change to an existing task holds flock(LOCK_EX) on the file it read (the inode the name
 * pointed at) from the read to the rename of its successor; having locked, a writer checks
 * that the name still points at the inode it locked, else it starts again. So changes to
 * one task are serialised across threads and processes, and changes to different tasks run
 * in parallel. A claim takes the lock with LOCK_NB and moves on to the next candidate when
 * another worker has it.
 *
 * The index (id -> the task as last read or written, without metadata.state: the saved
 * conversation, which gets and claims read from the file) makes claims and lists cheap; the files
 * stay the truth: every task file that changes, in this process or another, is read again
 * from the inotify event, and a claim re-reads its candidate under the lock. A writer puts
 * its new version in the index before the rename makes it visible, while it still holds the
 * lock, so a later writer's version (whose event follows) always wins.
 *
 * Lock order: ev_mu (one thread applies inotify events at a time) before mu (the index);
 * a task file's flock may be held while taking mu, never the other way round. Watchers are
 * called with no lock held. */
#ifndef CX_TASKSTORE_DIR_H
#define CX_TASKSTORE_DIR_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "taskstore_impl.h"

struct dir_entry {
	struct dir_entry *next; /* hash chain */
	json_t *task;           /* shared read-only: replaced, never changed in place */
	int64_t created_ms;
	int64_t lease_ms; /* in_progress: metadata.lease_until; else -1 */
	int prio;
	int status;    /* index in cx_task_statuses; -1 unknown */
	int category;  /* index in cx_task_categories; -1 unknown */
	uint64_t seen; /* rescan mark */
	size_t run_ix; /* in_progress: its place in running */
	/* The file this process wrote for it (0 when read from one): the inotify event of our
	 * own rename finds the index already holding it and reads nothing. */
	uint64_t ino;
	int64_t mtime_ns;
	/* A claimer of this process is trying to take it: the others pick the next task
	 * instead of queueing for the same file's lock (index changes leave it as it is). */
	bool claiming;
	char id[CX_TASK_ID_MAX];
};

/* Ids changed, for the watcher. */
struct changed_ids {
	char (*ids)[CX_TASK_ID_MAX];
	size_t n, cap;
};

#define DIR_SPARES_MAX     4096 /* 2 s of a busy drain's writes */
#define DIR_SPARE_NAME     48
#define DIR_SPARE_SIZE_MAX (16 * 1024) /* larger files are not kept: at most 64 MiB of spares */

struct dir_store {
	struct cx_task_store head;
	char *path;
	int dirfd;
	int agentsfd;
	bool fsync;        /* "fsync" not false */
	bool batch_syncfs; /* "fsync": true: a batch made durable by one syncfs */
	int ifd;           /* inotify on the directory */
	int wake[2];       /* stops the event thread */
	pthread_t thread;
	bool thread_started;
	atomic_bool stopping;
	atomic_ulong tmp_seq;

	pthread_mutex_t ev_mu;      /* guards reading the inotify fd and pending */
	struct changed_ids pending; /* ids for the watcher, delivered by the event thread */
	pthread_mutex_t mu;         /* guards everything below */
	pthread_cond_t changed;     /* broadcast when gen moves (CLOCK_MONOTONIC) */
	uint64_t
		gen; /* bumped by every change to the index, and by a claim try that took nothing */
	struct dir_entry **buckets;
	size_t nbuckets;
	size_t count;
	/* What a claim looks at, so it does not walk every task: the queued entries, most
	 * urgent first, and the in_progress ones (their leases may run out). broken: memory ran
	 * out keeping them; claims walk the whole index. */
	struct dir_entry **queued, **running;
	size_t n_queued, cap_queued, n_running, cap_running;
	bool track_broken;

	/* Spares: a replaced task file's inode, kept under ".spare.<pid>.<n>" and written
	 * again for the next change instead of a new file (allocating inodes is what a busy
	 * store spends most on: ext4 without a journal walks every inode freed in the last
	 * minutes). */
	pthread_mutex_t spare_mu;
	char spares[DIR_SPARES_MAX][DIR_SPARE_NAME]; /* a ring, oldest at spare_head */
	int64_t spare_at[DIR_SPARES_MAX];            /* when each was kept (cx_now_ms) */
	size_t spare_head, n_spares;
	atomic_bool no_spares; /* leases refused here: every write takes a new file */

	/* The sync shared by the writers waiting for one (dir_sync_shared): each write or
	 * rename done takes a ticket; one sync begun after it covers it. */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	uint64_t sync_asked;     /* tickets given */
	uint64_t sync_done;      /* every ticket up to this one is durable */
	uint64_t sync_fail_upto; /* ... and up to this one the last fsync that failed covered */
	int sync_errno;          /* its errno */
	bool syncing;            /* a writer is in fsync for the others */
};

/* taskstore_dir.c */
struct cx_task_store *dir_store_open(const json_t *conf, const struct cx_task_store_conf *c,
				     struct cx_err *err);
void dir_store_close(struct cx_task_store *s);
/* Reads name (relative to dirfd) into *task: 0, 1 when there is no such file, -1 with err. */
int dir_read_file(int dirfd, const char *name, json_t **task, struct cx_err *err);
/* The same from an open file (name for messages): 0 or -1. */
int dir_read_fd(int fd, const char *name, json_t **task, struct cx_err *err);
/* Writes v to a new temporary file next to name, fsync'd when sync and d->fsync: 0 and *tmp
 * (the temporary's name, malloc'd), or -1 with err. */
int dir_write_tmp(struct dir_store *d, int dirfd, const char *name, const json_t *v, bool sync,
		  char **tmp, struct cx_err *err);
/* rename(tmp -> name) in dirfd (tmp removed when that fails); how: DIR_NEW refuses to replace
 * an existing name, DIR_SYNC_DIR fsyncs the directory afterwards (when d->fsync). */
#define DIR_NEW      1
#define DIR_SYNC_DIR 2
int dir_publish(struct dir_store *d, int dirfd, const char *tmp, const char *name, int how,
		struct cx_err *err);
/* A sync shared by the writers waiting at once: a writer waits for one that began after its
 * write or rename, or runs one itself for everyone waiting (with many writers, one covers
 * all that were done while the last one ran). With "fsync": true it is a syncfs(2) of the
 * file system (the data of every temporary written, and the folder's renames), used both
 * before a rename and after it; with "files" the folder's fsync, after a rename (each file
 * has had its own fdatasync). 0, or -1 and errno. */
int dir_sync_shared(struct dir_store *d);
/* Puts task (new reference stolen; NULL removes) under id in the index and wakes claimers
 * (put: only when wake). */
void dir_index_set(struct dir_store *d, const char *id, json_t *task);
void dir_index_put(struct dir_store *d, const char *id, json_t *task, bool wake);
/* dir_index_put of a task this process is about to publish from the temporary tmp (its inode
 * and mtime remembered, so the rename's event reads nothing). */
void dir_index_put_own(struct dir_store *d, const char *id, json_t *task, const char *tmp,
		       bool wake);
/* With mu held: id's entry in the index, or NULL. */
struct dir_entry *dir_entry_find(struct dir_store *d, const char *id);
/* Wakes the claimers waiting in this process to look at the index again. */
void dir_wake_claimers(struct dir_store *d);
/* Applies every inotify event queued so far, so the index reflects every rename finished
 * before the call (in any process). */
void dir_sync(struct dir_store *d);
/* Reads the folder for task files the index does not hold (their events lost) and takes
 * them in, each with a warning. The number found. */
size_t dir_catch_up(struct dir_store *d);
/* "<id>.json" into out (CX_TASK_ID_MAX + 6 bytes). */
void dir_file_name(const char *id, char *out, size_t outlen);

/* Before replacing name (its lock held): its file linked as a spare, 0 and spare (-1: not
 * kept); after, dir_spare_done (ok: the replacement was published). */
int dir_spare_keep(struct dir_store *d, const char *name, char spare[DIR_SPARE_NAME]);
void dir_spare_done(struct dir_store *d, const char *spare, bool ok);
void dir_spares_release(struct dir_store *d);

/* How long a replaced file rests before it is written again (ms; tests shorten it). */
extern long cx_task_dir_spare_rest_ms;

/* Test hook: called with "half" in the middle of writing a temporary file, with "written"
 * once it is written (before it is synced), with "before_rename" before publishing it (a
 * crash test raises SIGKILL there), with
 * "fsync_folder" and "fsync_folder_done" around the folder's shared fsync, and with
 * "claim_try" when a claimer has marked a task and is about to lock it. NULL normally. */
extern void (*cx_task_dir_test_hook)(const char *stage);

#endif
