/* What the dir task store's process tests share: a fresh directory per test, a store opened
 * on it, tasks made in bulk, and children forked before the parent opens its store (see
 * fork_child). Header-only: each test file is one program. */
#ifndef CX_TASKSTORE_TEST_H
#define CX_TASKSTORE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../../common/taskstore.h"
#include "../../common/taskstore_dir.h"
#include "../../common/taskstore_impl.h"
#include "../../common/util.h"

static char root[] = "/tmp/cx-test-taskstore-XXXXXX";
static char path[256];
static int counter;

static inline int setup(void **state)
{
	return mkdtemp(root) ? 0 : -1;
}

static inline int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Microseconds on the monotonic clock, which all processes share. */
static inline int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void new_dir(void)
{
	snprintf(path, sizeof(path), "%s/s%d", root, ++counter);
}

/* A store on path (which may exist) with extra config keys; NULL on failure (children). */
static inline struct cx_task_store *open_at(const char *extra)
{
	struct cx_err err = { 0 };
	char json[512];
	json_t *conf;
	struct cx_task_store *s;

	snprintf(json, sizeof(json), "{\"dir\": \"%s\"%s%s}", path, extra ? ", " : "",
		 extra ? extra : "");
	conf = json_loads(json, 0, NULL);
	s = cx_task_store_open(conf, &err);
	if (!s)
		fprintf(stderr, "open: %s\n", err.msg);
	json_decref(conf);
	return s;
}

static inline json_t *create_n(struct cx_task_store *s, int n, const char *category)
{
	struct cx_err err = { 0 };
	json_t *specs = json_array(), *out = NULL;

	for (int i = 0; i < n; i++)
		json_array_append_new(specs, json_pack("{s:s, s:s}", "query", "work", "category",
						       category ? category : "general"));
	if (cx_task_create(s, specs, &out, &err))
		fail_msg("create: %s", err.msg);
	json_decref(specs);
	return out;
}

static inline const char *id_of(const json_t *t)
{
	return json_string_value(json_object_get(t, "id"));
}

static inline json_t *get(struct cx_task_store *s, const char *id)
{
	struct cx_err err = { 0 };
	json_t *t = NULL;

	assert_int_equal(cx_task_get(s, id, &t, &err), 0);
	return t;
}

static inline json_t *meta(const json_t *t, const char *key)
{
	return json_object_get(json_object_get(t, "metadata"), key);
}

static inline void write_line(int fd, const char *s)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s\n", s);

	if (write(fd, buf, (size_t)n) != n)
		_exit(3);
}

/* Everything the pipe gives until every writer closes it. */
static inline char *read_all(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	while ((n = read(fd, buf + len, cap - len - 1)) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		len += (size_t)n;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

/* Children are forked while this process runs no other thread (the stores of earlier steps
 * are closed, the parent's store is opened after the fork): a fork while another thread holds
 * a lock (the sanitizers' allocator's, say) leaves the child waiting on it for ever. A child
 * waits for a byte on its go pipe (EOF: it just exits), then runs fn(arg) and exits. */
struct child {
	pid_t pid;
	int go;
};

static inline struct child fork_child(void (*fn)(const void *arg), const void *arg)
{
	struct child c;
	int fds[2];
	char b;

	assert_int_equal(pipe(fds), 0);
	c.pid = fork();
	assert_true(c.pid >= 0);
	if (c.pid == 0) {
		close(fds[1]);
		if (read(fds[0], &b, 1) != 1)
			_exit(0);
		fn(arg);
		_exit(0);
	}
	close(fds[0]);
	c.go = fds[1];
	return c;
}

static inline void go(struct child *c)
{
	assert_int_equal(write(c->go, "g", 1), 1);
	close(c->go);
	c->go = -1;
}

static inline void kill9(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
}

static inline size_t count_prefix(const char *prefix)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

#endif
