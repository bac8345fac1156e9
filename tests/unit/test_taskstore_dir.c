/* The dir task store in one process: files as the schema says, atomic and durable creation,
 * lists with filters and cursors, claims by priority and category, the holder's calls,
 * approvals, cancellation, children, agents, metrics, files written by someone else, and
 * threads claiming at once (no task taken twice, none lost). Processes, crashes and wake-up
 * latency are in test_taskstore_dir_procs.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/taskstore.h"
#include "../../common/taskstore_dir.h"
#include "../../common/taskstore_impl.h"
#include "../../common/util.h"

static char root[] = "/tmp/cx-test-taskdir-XXXXXX";
static int counter;

static int setup(void **state)
{
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* A store on a fresh directory (its path in path) with extra config keys. */
static struct cx_task_store *fresh(char *path, size_t len, const char *extra)
{
	struct cx_err err = { 0 };
	char json[512];
	json_t *conf;
	struct cx_task_store *s;

	snprintf(path, len, "%s/s%d", root, ++counter);
	snprintf(json, sizeof(json), "{\"dir\": \"%s\"%s%s}", path, extra ? ", " : "",
		 extra ? extra : "");
	conf = json_loads(json, 0, NULL);
	assert_non_null(conf);
	s = cx_task_store_open(conf, &err);
	if (!s)
		fail_msg("open: %s", err.msg);
	json_decref(conf);
	return s;
}

static json_t *create(struct cx_task_store *s, const char *specs)
{
	struct cx_err err = { 0 };
	json_t *v = json_loads(specs, 0, NULL), *out = NULL;

	assert_non_null(v);
	if (cx_task_create(s, v, &out, &err))
		fail_msg("create: %s", err.msg);
	json_decref(v);
	return out;
}

static const char *id_of(const json_t *t)
{
	return json_string_value(json_object_get(t, "id"));
}

static const char *status_of(const json_t *t)
{
	return json_string_value(json_object_get(t, "status"));
}

static json_t *meta(const json_t *t, const char *key)
{
	return json_object_get(json_object_get(t, "metadata"), key);
}

static json_t *get(struct cx_task_store *s, const char *id)
{
	struct cx_err err = { 0 };
	json_t *t = NULL;

	assert_int_equal(cx_task_get(s, id, &t, &err), 0);
	return t;
}

static size_t count_files(const char *path, const char *prefix)
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

static void test_create_writes_one_file_per_task(void **state)
{
	char path[256], file[512];
	struct cx_task_store *s = fresh(path, sizeof(path), NULL);
	json_t *made = create(s, "[{\"query\": \"a\"}, {\"query\": \"b\", \"category\": "
				 "\"security\", \"priority\": 1, \"source\": \"chat\"}]");
	struct cx_err err = { 0 };
	json_t *onfile, *t = NULL;

	assert_int_equal(json_array_size(made), 2);
	assert_int_equal(count_files(path, "task-"), 2);
	assert_int_equal(count_files(path, ".tmp"), 0);
	snprintf(file, sizeof(file), "%s/%s.json", path, id_of(json_array_get(made, 1)));
	onfile = json_load_file(file, 0, NULL);
	assert_non_null(onfile);
	assert_true(json_equal(onfile, json_array_get(made, 1)));
	assert_string_equal(json_string_value(meta(onfile, "source")), "chat");
	json_decref(onfile);
	t = get(s, id_of(json_array_get(made, 0)));
	assert_true(json_equal(t, json_array_get(made, 0)));
	json_decref(t);
	assert_int_equal(cx_task_get(s, "task-none-1-x", &t, &err), 1);
	assert_int_equal(cx_task_get(s, "../etc/passwd", &t, &err), 1);
	/* all or none: a bad parent refuses the whole batch, nothing written. */
	json_t *bad = json_loads("[{\"query\": \"ok\"}, {\"query\": \"x\", \"parent_id\": "
				 "\"task-missing-1-abc\"}]",
				 0, NULL);
	assert_int_equal(cx_task_create(s, bad, &t, &err), -1);
	assert_non_null(strstr(err.msg, "tasks[1]: unknown parent 'task-missing-1-abc'"));
	assert_int_equal(count_files(path, "task-"), 2);
	json_decref(bad);
	json_decref(made);
	cx_task_store_close(s);
}

static void test_list_filters_and_cursor(void **state)
{
	char path[256], *next = NULL;
	struct cx_task_store *s = fresh(path, sizeof(path), NULL);
	struct cx_err err = { 0 };
	json_t *seen = json_object(), *page, *made;
	struct cx_task_filter f = { .limit = 7 };
	int pages = 0;

	for (int i = 0; i < 3; i++) {
		made = create(s, "[{\"query\": \"a\", \"category\": \"security\"}, {\"query\": "
				 "\"b\", \"category\": \"cicd\", \"source\": \"chat\"}, "
				 "{\"query\": \"c\"}, {\"query\": \"d\"}, {\"query\": \"e\"}, "
				 "{\"query\": \"f\"}, {\"query\": \"g\"}]");
		json_decref(made);
	}
	int64_t prev_created = INT64_MAX;
	do {
		f.cursor = next;
		assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
		free((char *)f.cursor);
		size_t i;
		json_t *t;
		json_array_foreach(page, i, t) {
			int64_t c = cx_task_field_ms(t, "created_at");

			assert_true(c <= prev_created);
			prev_created = c;
			assert_null(json_object_get(seen, id_of(t)));
			json_object_set_new(seen, id_of(t), json_true());
		}
		json_decref(page);
		pages++;
	} while (next);
	assert_int_equal(json_object_size(seen), 21);
	assert_int_equal(pages, 3);
	f = (struct cx_task_filter){ .category = "security" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 3);
	assert_null(next);
	json_decref(page);
	f = (struct cx_task_filter){ .source = "chat", .status = "queued" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 3);
	json_decref(page);
	f = (struct cx_task_filter){ .since_ms = cx_task_now_ms() + 60000 };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 0);
	json_decref(page);
	f = (struct cx_task_filter){ .status = "running" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), -1);
	assert_non_null(strstr(err.msg, "unknown status 'running'"));
	f = (struct cx_task_filter){ .limit = 501 };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), -1);
	f = (struct cx_task_filter){ .cursor = "bm90LWEtY3Vyc29y" };
	assert_int_equal(cx_task_list(s, &f, &page, &next, &err), -1);
	assert_non_null(strstr(err.msg, "cursor"));
	json_decref(seen);
	cx_task_store_close(s);
}

static void test_claim_order_and_categories(void **state)
{
	char path[256];
	struct cx_task_store *s = fresh(path, sizeof(path), NULL);
	struct cx_err err = { 0 };
	json_t *made =
		create(s, "[{\"query\": \"p3\"}, {\"query\": \"p1\", \"priority\": 1}, "
			  "{\"query\": \"sec\", \"category\": \"security\", \"priority\": 5}, "
			  "{\"query\": \"p1b\", \"priority\": 1}]");
	const char *const sec[] = { "security", NULL }, *const bad[] = { "cooking", NULL };
	json_t *t = NULL;

	assert_int_equal(cx_task_claim(s, "w1", sec, 0, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(id_of(t), id_of(json_array_get(made, 2)));
	assert_string_equal(status_of(t), "in_progress");
	assert_string_equal(json_string_value(meta(t, "worker")), "w1");
	assert_int_equal(json_integer_value(meta(t, "attempts")), 1);
	assert_true(cx_task_field_ms(t, "lease_until") > cx_task_now_ms() + 20000);
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w1", sec, 0, &t, &err), 0);
	assert_null(t);
	/* priority 1 first (the older of the two), then 3 */
	const int order[] = { 1, 3, 0 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cx_task_claim(s, "w2", NULL, 0, &t, &err), 0);
		assert_non_null(t);
		assert_string_equal(id_of(t), id_of(json_array_get(made, order[i])));
		json_decref(t);
	}
	assert_int_equal(cx_task_claim(s, "w2", NULL, 0, &t, &err), 0);
	assert_null(t);
	assert_int_equal(cx_task_claim(s, "w2", bad, 0, &t, &err), -1);
	assert_non_null(strstr(err.msg, "unknown category 'cooking'"));
	assert_int_equal(cx_task_claim(s, "bad/worker", NULL, 0, &t, &err), -1);
	/* the file says so too */
	t = get(s, id_of(json_array_get(made, 3)));
	assert_string_equal(status_of(t), "in_progress");
	assert_string_equal(json_string_value(meta(t, "worker")), "w2");
	json_decref(t);
	json_decref(made);
	cx_task_store_close(s);
}

static void test_holder_calls(void **state)
{
	char path[256];
	struct cx_task_store *s = fresh(path, sizeof(path), NULL);
	struct cx_err err = { 0 };
	json_t *made = create(s, "[{\"query\": \"q\"}]"), *t = NULL;
	const char *id = id_of(json_array_get(made, 0));
	bool cancel = true;

	assert_int_equal(cx_task_heartbeat(s, id, "w1", &cancel, &err), 1); /* not claimed */
	assert_int_equal(cx_task_claim(s, "w1", NULL, 0, &t, &err), 0);
	json_decref(t);
	assert_int_equal(cx_task_heartbeat(s, id, "w1", &cancel, &err), 0);
	assert_false(cancel);
	assert_int_equal(cx_task_heartbeat(s, id, "w2", &cancel, &err), 1);
	json_t *prog = json_pack("{s:i, s:[s,s], s:s, s:s, s:i}", "iterations", 3, "tools_used",
				 "kubectl_get", "proxmox_list_vms", "last_tool_used",
				 "proxmox_list_vms", "current_action", "reading", "tokens_in", 900);
	json_t *conv = json_pack("[{s:s}]", "role", "user");
	assert_int_equal(cx_task_progress(s, id, "w1", prog, conv, &err), 0);
	assert_int_equal(cx_task_progress(s, id, "w2", prog, NULL, &err), 1);
	t = get(s, id);
	assert_int_equal(json_integer_value(meta(t, "iterations")), 3);
	assert_string_equal(json_string_value(meta(t, "current_action")), "reading");
	assert_int_equal(json_integer_value(meta(t, "tokens_in")), 900);
	assert_true(json_equal(meta(t, "state"), conv));
	json_decref(t);
	/* The index keeps the task without its conversation: a list leaves it out, get has it. */
	{
		struct cx_task_filter f = { .status = "in_progress" };
		json_t *list = NULL;
		char *next = NULL;

		assert_int_equal(cx_task_list(s, &f, &list, &next, &err), 0);
		assert_int_equal(json_array_size(list), 1);
		assert_int_equal(json_integer_value(meta(json_array_get(list, 0), "iterations")),
				 3);
		assert_null(meta(json_array_get(list, 0), "state"));
		json_decref(list);
		free(next);
	}
	/* release: queued again, the attempt not counted */
	assert_int_equal(cx_task_release(s, id, "w1", &err), 0);
	t = get(s, id);
	assert_string_equal(status_of(t), "queued");
	assert_int_equal(json_integer_value(meta(t, "attempts")), 0);
	json_decref(t);
	assert_int_equal(cx_task_claim(s, "w3", NULL, 0, &t, &err), 0);
	json_decref(t);
	json_t *res = json_pack("{s:s, s:s}", "summary", "3 VMs", "details", "vm1 vm2 vm3");
	assert_int_equal(cx_task_finish(s, id, "w1", "completed", res, &err), 1);
	assert_int_equal(cx_task_finish(s, id, "w3", "done", res, &err), -1);
	assert_int_equal(cx_task_finish(s, id, "w3", "completed", res, &err), 0);
	t = get(s, id);
	assert_string_equal(status_of(t), "completed");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(t, "result"), "summary")),
			    "3 VMs");
	assert_true(json_is_integer(
		json_object_get(json_object_get(t, "result"), "execution_time_ms")));
	assert_non_null(json_string_value(meta(t, "finished_at")));
	json_decref(t);
	assert_int_equal(cx_task_heartbeat(s, id, "w3", &cancel, &err), 1);
	assert_int_equal(cx_task_release(s, "task-none-1-x", "w3", &err), 1);
	json_decref(res);
	json_decref(prog);
	json_decref(conv);
	json_decref(made);
	cx_task_store_close(s);
}

static void test_approval_and_cancel(void **state)
{
	char path[256];
	struct cx_task_store *s = fresh(path, sizeof(path), NULL);
	struct cx_err err = { 0 };
	json_t *made = create(s, "[{\"query\": \"stop vm 100\"}, {\"query\": \"two\"}, "
				 "{\"query\": \"three\"}]"),
	       *t = NULL;
	const char *a = id_of(json_array_get(made, 0)), *b = id_of(json_array_get(made, 1));
	const char *c = id_of(json_array_get(made, 2));
	json_t *pending = json_pack("{s:s, s:{s:i}, s:s}", "tool", "proxmox_stop_vm", "arguments",
				    "vmid", 100, "why", "destructive");
	bool cancel = false;

	assert_int_equal(cx_task_approve(s, a, true, "alice", "ok", &err), -1);
	assert_non_null(strstr(err.msg, "not awaiting approval (it is queued)"));
	assert_int_equal(cx_task_approve(s, "task-none-1-x", true, "alice", "ok", &err), 1);
	assert_int_equal(cx_task_claim(s, "w1", NULL, 0, &t, &err), 0);
	assert_string_equal(id_of(t), a);
	json_decref(t);
	assert_int_equal(cx_task_hold(s, a, "w2", pending, NULL, &err), 1);
	assert_int_equal(cx_task_hold(s, a, "w1", pending, json_null(), &err), 0);
	t = get(s, a);
	assert_string_equal(status_of(t), "awaiting_approval");
	json_decref(t);
	assert_int_equal(cx_task_approve(s, a, true, "alice", "go ahead", &err), 0);
	t = get(s, a);
	assert_string_equal(status_of(t), "queued");
	json_t *ap = meta(t, "approval");
	assert_string_equal(json_string_value(json_object_get(ap, "decision")), "approved");
	assert_string_equal(json_string_value(json_object_get(ap, "by")), "alice");
	assert_string_equal(json_string_value(json_object_get(ap, "reason")), "go ahead");
	json_decref(t);
	/* resumed by the next claim, attempts still 1 */
	assert_int_equal(cx_task_claim(s, "w2", NULL, 0, &t, &err), 0);
	assert_string_equal(id_of(t), a);
	assert_int_equal(json_integer_value(meta(t, "attempts")), 1);
	json_decref(t);
	/* cancel: queued at once; in progress by request, seen at the heartbeat */
	assert_int_equal(cx_task_cancel(s, b, "bob", "not needed", &err), 0);
	t = get(s, b);
	assert_string_equal(status_of(t), "cancelled");
	json_decref(t);
	assert_int_equal(cx_task_cancel(s, a, "bob", "stop", &err), 0);
	assert_int_equal(cx_task_heartbeat(s, a, "w2", &cancel, &err), 1);
	assert_true(cancel);
	assert_int_equal(cx_task_finish(s, a, "w2", "cancelled", NULL, &err), 0);
	assert_int_equal(cx_task_cancel(s, a, "bob", "again", &err), -1);
	assert_non_null(strstr(err.msg, "already cancelled"));
	assert_int_equal(cx_task_cancel(s, "task-none-1-x", NULL, NULL, &err), 1);
	/* a held task can be cancelled too */
	assert_int_equal(cx_task_claim(s, "w1", NULL, 0, &t, &err), 0);
	assert_string_equal(id_of(t), c);
	json_decref(t);
	assert_int_equal(cx_task_hold(s, c, "w1", pending, NULL, &err), 0);
	assert_int_equal(cx_task_cancel(s, c, "bob", NULL, &err), 0);
	t = get(s, c);
	assert_string_equal(status_of(t), "cancelled");
	json_decref(t);
	json_decref(pending);
	json_decref(made);
	cx_task_store_close(s);
}

static void test_children_agents_metrics(void **state)
{
	static const char *const infra[] = { "infrastructure", NULL };
	char path[256], specs[512];
	struct cx_task_store *s = fresh(path, sizeof(path), "\"lease_ms\": 200");
	struct cx_err err = { 0 };
	json_t *parent = create(s, "[{\"query\": \"parent\", \"category\": \"infrastructure\"}]");
	const char *pid = id_of(json_array_get(parent, 0));
	json_t *kids, *list, *agents, *m, *t = NULL;

	snprintf(specs, sizeof(specs),
		 "[{\"query\": \"k1\", \"parent_id\": \"%s\"}, {\"query\": \"k2\", \"parent_id\": "
		 "\"%s\", \"category\": \"inventory\"}]",
		 pid, pid);
	kids = create(s, specs);
	assert_int_equal(cx_task_children(s, pid, &list, &err), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(id_of(json_array_get(list, 0)), id_of(json_array_get(kids, 0)));
	json_decref(list);
	assert_int_equal(cx_task_children(s, id_of(json_array_get(kids, 0)), &list, &err), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	json_t *w = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "infra-w1", "kind", "worker",
			      "master", "infrastructure", "state", "busy", "task_id", pid);
	assert_int_equal(cx_agent_put(s, w, &err), 0);
	json_decref(w);
	w = json_pack("{s:s, s:s, s:s}", "id", "infra", "kind", "master", "state", "idle");
	assert_int_equal(cx_agent_put(s, w, &err), 0);
	json_decref(w);
	w = json_pack("{s:s, s:s, s:s}", "id", "x", "kind", "robot", "state", "idle");
	assert_int_equal(cx_agent_put(s, w, &err), -1);
	assert_non_null(strstr(err.msg, "kind"));
	json_decref(w);
	assert_int_equal(cx_agent_list(s, &agents, &err), 0);
	assert_int_equal(json_array_size(agents), 2);
	assert_string_equal(id_of(json_array_get(agents, 0)), "infra");
	assert_string_equal(id_of(json_array_get(agents, 1)), "infra-w1");
	assert_non_null(
		json_string_value(json_object_get(json_array_get(agents, 1), "heartbeat_at")));
	json_decref(agents);
	usleep(700 * 1000); /* 3 leases of 200 ms: both drop out */
	assert_int_equal(cx_agent_list(s, &agents, &err), 0);
	assert_int_equal(json_array_size(agents), 0);
	json_decref(agents);

	/* The parent by its category: created in the same millisecond as its children, which
	 * one a plain claim takes first is decided by the random part of the ids. */
	assert_int_equal(cx_task_claim(s, "w", infra, 0, &t, &err), 0);
	assert_string_equal(id_of(t), pid);
	assert_int_equal(cx_task_finish(s, id_of(t), "w", "completed", NULL, &err), 0);
	json_decref(t);
	assert_int_equal(cx_task_metrics(s, &m, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "total")), 3);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(json_object_get(m, "queue"),
								 "completed"),
						 "infrastructure")),
			 1);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(json_object_get(m, "queue"),
								 "queued"),
						 "inventory")),
			 1);
	assert_true(json_real_value(json_object_get(m, "created_per_min")) >= 0.6 - 1e-9);
	assert_true(json_real_value(json_object_get(m, "completed_per_min")) >= 0.2 - 1e-9);
	json_decref(m);
	json_decref(kids);
	json_decref(parent);
	cx_task_store_close(s);
}

/* Files are the truth: a task written into the directory by someone else (atomically, as
 * the store does) is listed and claimed; an edit to a task's file is what a claim sees. */
static void test_files_written_by_others(void **state)
{
	char path[256], file[512], tmp[512];
	struct cx_task_store *s = fresh(path, sizeof(path), NULL);
	struct cx_err err = { 0 };
	json_t *specs = json_loads("[{\"query\": \"from outside\", \"priority\": 2}]", 0, NULL);
	json_t *built = cx_task_build(specs, cx_task_now_ms(), &err), *t = NULL, *page;
	json_t *mine = create(s, "[{\"query\": \"mine\", \"priority\": 1}]");
	char *next = NULL;
	const char *oid = id_of(json_array_get(built, 0));

	snprintf(file, sizeof(file), "%s/%s.json", path, oid);
	snprintf(tmp, sizeof(tmp), "%s/.tmp.outside", path);
	assert_int_equal(json_dump_file(json_array_get(built, 0), tmp, 0), 0);
	assert_int_equal(rename(tmp, file), 0);
	assert_int_equal(cx_task_list(s, NULL, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 2);
	json_decref(page);
	/* someone else cancels "mine" by editing its file: the claim skips it */
	json_t *m = json_deep_copy(json_array_get(mine, 0));
	json_object_set_new(m, "status", json_string("cancelled"));
	snprintf(file, sizeof(file), "%s/%s.json", path, id_of(m));
	assert_int_equal(json_dump_file(m, tmp, 0), 0);
	assert_int_equal(rename(tmp, file), 0);
	assert_int_equal(cx_task_claim(s, "w", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(id_of(t), oid);
	json_decref(t);
	/* garbage in the directory is ignored, not fatal */
	snprintf(file, sizeof(file), "%s/task-junk-1-x.json", path);
	FILE *f = fopen(file, "w");
	fputs("{\"id\": ", f);
	fclose(f);
	assert_int_equal(cx_task_list(s, NULL, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 2);
	json_decref(page);
	json_decref(m);
	json_decref(mine);
	json_decref(built);
	json_decref(specs);
	cx_task_store_close(s);
}

/* The largest batch allowed, seen whole by a second store on the same directory (its own
 * inotify queue), and by a store opened afterwards (what a restart sees). */
static void test_batch_of_10000_and_reopen(void **state)
{
	char path[256], json[512];
	struct cx_task_store *s = fresh(path, sizeof(path), NULL), *other, *later;
	struct cx_err err = { 0 };
	json_t *specs = json_array(), *made = NULL, *m = NULL, *conf;
	int64_t t0;

	snprintf(json, sizeof(json), "{\"dir\": \"%s\"}", path);
	conf = json_loads(json, 0, NULL);
	other = cx_task_store_open(conf, &err);
	assert_non_null(other);
	for (int i = 0; i < CX_TASK_BATCH_MAX; i++)
		json_array_append_new(specs, json_pack("{s:s, s:i}", "query", "bulk", "priority",
						       1 + i % 5));
	t0 = cx_now_ms();
	assert_int_equal(cx_task_create(s, specs, &made, &err), 0);
	print_message("      10,000 tasks in one create (fsync on): %lld ms\n",
		      (long long)(cx_now_ms() - t0));
	assert_int_equal(json_array_size(made), CX_TASK_BATCH_MAX);
	assert_int_equal(count_files(path, "task-"), CX_TASK_BATCH_MAX);
	assert_int_equal(cx_task_metrics(other, &m, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "total")), CX_TASK_BATCH_MAX);
	json_decref(m);
	cx_task_store_close(other);
	cx_task_store_close(s);
	later = cx_task_store_open(conf, &err);
	assert_non_null(later);
	json_t *t = NULL;
	assert_int_equal(cx_task_claim(later, "w", NULL, 0, &t, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(t, "priority")), 1);
	assert_string_equal(id_of(t), id_of(json_array_get(made, 0)));
	json_decref(t);
	assert_int_equal(cx_task_metrics(later, &m, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "total")), CX_TASK_BATCH_MAX);
	json_decref(m);
	cx_task_store_close(later);
	json_decref(conf);
	json_decref(made);
	json_decref(specs);
}

/* When the inotify queue overflows (the event thread held up, 16384 events queued, a task's
 * own event dropped), the store reads the directory again and tells the watcher. */
static pthread_mutex_t heard_mu = PTHREAD_MUTEX_INITIALIZER;
static char heard[CX_TASK_ID_MAX];

static void on_heard(void *ctx, const char *id)
{
	pthread_mutex_lock(&heard_mu);
	snprintf(heard, sizeof(heard), "%s", id);
	pthread_mutex_unlock(&heard_mu);
}

static void test_event_queue_overflow_rescans(void **state)
{
	char path[256], a[512], b[512];
	struct cx_task_store *s = fresh(path, sizeof(path), "\"fsync\": false");
	struct dir_store *d = (struct dir_store *)s;
	struct cx_err err = { 0 };
	json_t *made, *t = NULL;
	bool got = false;

	assert_int_equal(cx_task_watch(s, on_heard, NULL, &err), 0);
	snprintf(a, sizeof(a), "%s/.a", path);
	snprintf(b, sizeof(b), "%s/.b", path);
	fclose(fopen(a, "w"));
	pthread_mutex_lock(&d->ev_mu); /* the event thread cannot drain meanwhile */
	for (int i = 0; i < 9000; i++) /* two events each, ignored names */
		assert_int_equal(rename(i % 2 ? b : a, i % 2 ? a : b), 0);
	/* written behind the store's back, as another process would: its event is dropped */
	json_t *specs = json_loads("[{\"query\": \"lost event\"}]", 0, NULL);
	made = cx_task_build(specs, cx_task_now_ms(), &err);
	snprintf(a, sizeof(a), "%s/%s.json", path, id_of(json_array_get(made, 0)));
	assert_int_equal(json_dump_file(json_array_get(made, 0), b, 0), 0);
	assert_int_equal(rename(b, a), 0);
	pthread_mutex_unlock(&d->ev_mu);
	assert_int_equal(cx_task_claim(s, "w", NULL, 2000, &t, &err), 0);
	assert_non_null(t);
	assert_string_equal(id_of(t), id_of(json_array_get(made, 0)));
	json_decref(t);
	for (int i = 0; i < 200 && !got; i++) {
		pthread_mutex_lock(&heard_mu);
		got = !strcmp(heard, id_of(json_array_get(made, 0)));
		pthread_mutex_unlock(&heard_mu);
		if (!got)
			usleep(10000);
	}
	assert_true(got);
	cx_task_unwatch(s);
	json_decref(specs);
	json_decref(made);
	cx_task_store_close(s);
}

/* A live worker that heartbeats keeps its task past many leases; when it stops, the task is
 * taken again after the lease. */
struct beater {
	struct cx_task_store *s;
	const char *id;
	int beats, lost;
};

static void *beat(void *arg)
{
	struct beater *b = arg;
	struct cx_err err = { 0 };
	bool cancel = false;

	for (int i = 0; i < 12; i++) {
		usleep(100 * 1000);
		if (cx_task_heartbeat(b->s, b->id, "alive", &cancel, &err))
			b->lost++;
		else
			b->beats++;
	}
	return NULL;
}

static void test_heartbeats_keep_the_task(void **state)
{
	char path[256];
	struct cx_task_store *s = fresh(path, sizeof(path), "\"lease_ms\": 300");
	struct cx_err err = { 0 };
	json_t *made = create(s, "[{\"query\": \"long job\"}]"), *t = NULL;
	struct beater b = { .s = s, .id = id_of(json_array_get(made, 0)) };
	pthread_t th;
	int64_t t0;

	assert_int_equal(cx_task_claim(s, "alive", NULL, 0, &t, &err), 0);
	assert_non_null(t);
	json_decref(t);
	t = NULL;
	assert_int_equal(pthread_create(&th, NULL, beat, &b), 0);
	/* 1.1 s of trying, nearly four leases: never taken while the heartbeats come */
	assert_int_equal(cx_task_claim(s, "thief", NULL, 1100, &t, &err), 0);
	assert_null(t);
	pthread_join(th, NULL);
	assert_int_equal(b.lost, 0);
	assert_int_equal(b.beats, 12);
	t0 = cx_now_ms();
	assert_int_equal(cx_task_claim(s, "next", NULL, 2000, &t, &err), 0);
	assert_non_null(t);
	assert_true(cx_now_ms() - t0 < 1000);
	assert_int_equal(json_integer_value(meta(t, "attempts")), 2);
	json_decref(t);
	/* the old holder's calls now say it lost the task */
	assert_int_equal(cx_task_heartbeat(s, b.id, "alive", NULL, &err), 1);
	assert_int_equal(cx_task_finish(s, b.id, "alive", "completed", NULL, &err), 1);
	json_decref(made);
	cx_task_store_close(s);
}

/* ---- threads ---- */

#define THREADS      8
#define THREAD_TASKS 400

struct claimer {
	struct cx_task_store *s;
	char name[16];
	json_t *got; /* ids */
	int errors;
};

static void *claim_loop(void *arg)
{
	struct claimer *c = arg;
	struct cx_err err = { 0 };

	for (;;) {
		json_t *t = NULL;

		if (cx_task_claim(c->s, c->name, NULL, 300, &t, &err)) {
			c->errors++;
			break;
		}
		if (!t)
			break;
		json_array_append_new(c->got, json_string(id_of(t)));
		if (cx_task_finish(c->s, id_of(t), c->name, "completed", NULL, &err))
			c->errors++;
		json_decref(t);
	}
	return NULL;
}

static void test_threads_claim_each_task_once(void **state)
{
	char path[256];
	struct cx_task_store *s = fresh(path, sizeof(path), "\"fsync\": false");
	struct claimer c[THREADS];
	pthread_t th[THREADS];
	json_t *specs = json_array(), *made = NULL, *seen = json_object();
	struct cx_err err = { 0 };
	size_t total = 0;

	for (int i = 0; i < THREADS; i++) {
		c[i] = (struct claimer){ .s = s, .got = json_array() };
		snprintf(c[i].name, sizeof(c[i].name), "t%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, claim_loop, &c[i]), 0);
	}
	/* created while they wait, in batches */
	for (int i = 0; i < THREAD_TASKS; i++) {
		json_array_append_new(specs, json_pack("{s:s}", "query", "x"));
		if (json_array_size(specs) == 50) {
			assert_int_equal(cx_task_create(s, specs, &made, &err), 0);
			json_decref(made);
			json_array_clear(specs);
		}
	}
	for (int i = 0; i < THREADS; i++) {
		size_t k;
		json_t *id;

		pthread_join(th[i], NULL);
		assert_int_equal(c[i].errors, 0);
		json_array_foreach(c[i].got, k, id) {
			assert_null(json_object_get(seen, json_string_value(id)));
			json_object_set_new(seen, json_string_value(id), json_true());
		}
		total += json_array_size(c[i].got);
		json_decref(c[i].got);
	}
	assert_int_equal(total, THREAD_TASKS);
	json_t *m = NULL;
	assert_int_equal(cx_task_metrics(s, &m, &err), 0);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(json_object_get(m, "queue"),
								 "completed"),
						 "general")),
			 THREAD_TASKS);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(m, "attempts"), "retried")),
			 0);
	json_decref(m);
	json_decref(seen);
	json_decref(specs);
	cx_task_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_writes_one_file_per_task),
		cmocka_unit_test(test_list_filters_and_cursor),
		cmocka_unit_test(test_claim_order_and_categories),
		cmocka_unit_test(test_holder_calls),
		cmocka_unit_test(test_approval_and_cancel),
		cmocka_unit_test(test_children_agents_metrics),
		cmocka_unit_test(test_files_written_by_others),
		cmocka_unit_test(test_heartbeats_keep_the_task),
		cmocka_unit_test(test_batch_of_10000_and_reopen),
		cmocka_unit_test(test_event_queue_overflow_rescans),
		cmocka_unit_test(test_threads_claim_each_task_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
