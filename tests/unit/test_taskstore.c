/* The task store's shared logic, whatever the backend: the "tasks" config, create specs
 * checked and built into tasks of the schema, ids and times, every status transition, cursors,
 * filters and metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/taskstore.h"
#include "../../common/taskstore_impl.h"

static char dir[] = "/tmp/cx-test-tasklogic-XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* v at a dotted path of object keys, or NULL. */
static json_t *path_get(const json_t *v, const char *path)
{
	char key[64];

	while (v && *path) {
		size_t n = strcspn(path, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		v = json_object_get(v, key);
		path += n + (path[n] == '.');
	}
	return (json_t *)v;
}

static struct cx_task_store *open_conf(const char *json, struct cx_err *err)
{
	json_t *conf = json_loads(json, 0, NULL);
	struct cx_task_store *s;

	assert_non_null(conf);
	memset(err, 0, sizeof(*err));
	s = cx_task_store_open(conf, err);
	json_decref(conf);
	return s;
}

static void test_config_refusals(void **state)
{
	struct cx_err err;
	char json[512];

	assert_null(open_conf("{\"store\": \"dir\", \"dri\": \"/tmp/x\"}", &err));
	assert_non_null(strstr(err.msg, "unknown key 'dri' (the dir store takes store, lease_ms, "
					"max_attempts, dir, fsync)"));
	assert_null(open_conf("{\"store\": \"dir\", \"url\": \"redis://x\"}", &err));
	assert_true(strstr(err.msg, "'url' is a key of the redis store") ||
		    strstr(err.msg, "unknown key 'url'"));
	assert_null(open_conf("{\"store\": \"sqlite\"}", &err));
	assert_non_null(strstr(err.msg, "'sqlite' is unknown"));
	assert_null(open_conf("{\"store\": 3}", &err));
	assert_non_null(strstr(err.msg, "tasks.store"));
	assert_null(open_conf("{\"lease_ms\": 5}", &err));
	assert_non_null(strstr(err.msg, "tasks.lease_ms must be an integer from 100"));
	assert_null(open_conf("{\"max_attempts\": 0}", &err));
	assert_non_null(strstr(err.msg, "tasks.max_attempts"));
	assert_null(open_conf("{\"fsync\": \"yes\"}", &err));
	assert_non_null(strstr(err.msg, "tasks.fsync must be true, false or \"files\""));
	snprintf(json, sizeof(json), "{\"dir\": \"%s/a/b\", \"lease_ms\": 1000}", dir);
	struct cx_task_store *s = open_conf(json, &err);
	assert_non_null(s);
	assert_non_null(strstr(cx_task_store_describe(s), "dir /tmp/cx-test-tasklogic-"));
	assert_int_equal(s->conf.lease_ms, 1000);
	assert_int_equal(s->conf.max_attempts, 3);
	cx_task_store_close(s);
}

static json_t *build(const char *specs, struct cx_err *err)
{
	json_t *v = json_loads(specs, 0, NULL), *out;

	assert_non_null(v);
	memset(err, 0, sizeof(*err));
	out = cx_task_build(v, 1764648000123, err);
	json_decref(v);
	return out;
}

static void test_build_defaults_and_schema(void **state)
{
	struct cx_err err;
	json_t *t =
		build("[{\"query\": \"What VMs run on pve1?\\nand more\"}, {\"query\": \"q\", "
		      "\"title\": \"T\", \"category\": \"security\", \"priority\": 1, "
		      "\"source\": \"chat\", \"type\": \"sub_task\", \"parent_id\": \"task-x\"}]",
		      &err);
	regex_t re;
	json_t *a, *b, *m;

	assert_non_null(t);
	a = json_array_get(t, 0);
	b = json_array_get(t, 1);
	assert_int_equal(regcomp(&re, "^task-mcp-1764648000123-[0-9a-z]{9}$", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, json_string_value(json_object_get(a, "id")), 0, NULL, 0), 0);
	regfree(&re);
	assert_string_equal(json_string_value(json_object_get(a, "status")), "queued");
	assert_string_equal(json_string_value(json_object_get(a, "type")), "user_query");
	assert_int_equal(json_integer_value(json_object_get(a, "priority")), 3);
	assert_string_equal(json_string_value(path_get(a, "payload.title")),
			    "What VMs run on pve1?");
	assert_string_equal(json_string_value(path_get(a, "payload.category")), "general");
	m = json_object_get(a, "metadata");
	assert_string_equal(json_string_value(json_object_get(m, "created_at")),
			    "2025-12-02T04:00:00.123Z");
	assert_int_equal(json_integer_value(json_object_get(m, "attempts")), 0);
	assert_true(json_is_array(json_object_get(m, "tools_used")));
	assert_true(json_is_null(json_object_get(m, "parent_id")));
	assert_true(json_is_null(json_object_get(a, "result")));
	assert_string_equal(json_string_value(path_get(b, "metadata.source")), "chat");
	assert_string_equal(json_string_value(path_get(b, "metadata.parent_id")), "task-x");
	assert_string_equal(json_string_value(json_object_get(b, "type")), "sub_task");
	assert_int_equal(strncmp(json_string_value(json_object_get(b, "id")), "task-chat-", 10), 0);
	assert_string_not_equal(json_string_value(json_object_get(a, "id")),
				json_string_value(json_object_get(b, "id")));
	json_decref(t);
}

static void expect_refused(const char *specs, const char *want)
{
	struct cx_err err;
	json_t *t = build(specs, &err);

	if (t || !strstr(err.msg, want))
		fail_msg("%s: got '%s', wanted '%s'", specs, err.msg, want);
}

static void test_build_refusals(void **state)
{
	char *big = malloc(CX_TASK_QUERY_MAX + 64);
	json_t *many = json_array();
	struct cx_err err;

	expect_refused("[]", "at least one task");
	expect_refused("{\"query\": \"x\"}", "at least one task");
	expect_refused("[{\"query\": \"a\"}, {\"query\": \"b\", \"category\": \"cooking\"}]",
		       "tasks[1]: unknown category 'cooking'");
	expect_refused("[{\"query\": \"\"}]", "tasks[0]: \"query\" must be a non-empty string");
	expect_refused("[{\"title\": \"x\"}]", "tasks[0]: \"query\"");
	expect_refused("[{\"query\": \"a\", \"priority\": 9}]", "tasks[0]: \"priority\"");
	expect_refused("[{\"query\": \"a\", \"priority\": \"1\"}]", "\"priority\"");
	expect_refused("[{\"query\": \"a\", \"colour\": 1}]", "unknown field 'colour'");
	expect_refused("[{\"query\": \"a\", \"source\": \"a-b\"}]", "\"source\"");
	expect_refused("[{\"query\": \"a\", \"parent_id\": \"../x\"}]", "not a task id");
	expect_refused("[3]", "tasks[0]: a task must be an object");
	memset(big, 'q', CX_TASK_QUERY_MAX + 1);
	big[CX_TASK_QUERY_MAX + 1] = '\0';
	json_t *one = json_pack("[{s:s}]", "query", big);
	assert_null(cx_task_build(one, 1, &err));
	assert_non_null(strstr(err.msg, "tasks[0]: the query is 65537 bytes, over the limit"));
	json_decref(one);
	free(big);
	for (int i = 0; i < CX_TASK_BATCH_MAX + 1; i++)
		json_array_append_new(many, json_pack("{s:s}", "query", "x"));
	assert_null(cx_task_build(many, 1, &err));
	assert_non_null(strstr(err.msg, "a batch of 10001 tasks is over the limit of 10000"));
	json_array_remove(many, 0);
	json_t *ok = cx_task_build(many, 1, &err);
	assert_non_null(ok);
	assert_int_equal(json_array_size(ok), CX_TASK_BATCH_MAX);
	json_decref(ok);
	json_decref(many);
}

static void test_times_and_ids(void **state)
{
	char buf[32];

	cx_task_time_str(1764648000123, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-02T04:00:00.123Z");
	assert_int_equal(cx_task_time_ms(buf), 1764648000123);
	assert_int_equal(cx_task_time_ms("2025-12-02T04:00:00Z"), 1764648000000);
	assert_int_equal(cx_task_time_ms("2025-12-02T05:00:00.5+01:00"), 1764648000500);
	assert_int_equal(cx_task_time_ms("1970-01-01T00:00:00.000Z"), 0);
	assert_int_equal(cx_task_time_ms("2025-12-02 04:00:00Z"), -1);
	assert_int_equal(cx_task_time_ms("2025-13-02T04:00:00Z"), -1);
	assert_int_equal(cx_task_time_ms("2025-12-02T04:00:00"), -1);
	assert_int_equal(cx_task_time_ms(NULL), -1);
	assert_true(cx_task_id_valid("task-chat-1766780166635-j8e0t1upn"));
	assert_false(cx_task_id_valid(".hidden"));
	assert_false(cx_task_id_valid("a/b"));
	assert_false(cx_task_id_valid(""));
	assert_false(cx_task_id_valid(NULL));
}

/* A store head for the pure functions: lease 1000 ms, max_attempts 2. */
static struct cx_task_store head(void)
{
	struct cx_task_store s = { .conf = { .lease_ms = 1000, .max_attempts = 2 } };

	memcpy(s.cursor_tag, "abcdef01", 9);
	return s;
}

static int apply(struct cx_task_store *s, json_t *t, struct cx_task_op op, int64_t now,
		 struct cx_err *err, struct cx_task_op *out)
{
	int rc = cx_task_apply(s, t, &op, now, err);

	if (out)
		*out = op;
	return rc;
}

static const char *st(const json_t *t)
{
	return json_string_value(json_object_get(t, "status"));
}

static void test_transitions(void **state)
{
	struct cx_task_store s = head();
	struct cx_err err = { 0 };
	json_t *all = build("[{\"query\": \"q\"}]", &err), *t = json_array_get(all, 0);
	int64_t now = 1764648000000;

	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CLAIM, .worker = "w1" },
			       now, &err, NULL),
			 0);
	assert_string_equal(st(t), "in_progress");
	assert_int_equal(cx_task_field_ms(t, "lease_until"), now + 1000);
	assert_int_equal(cx_task_claimable(t, NULL, now + 999), CX_CLAIM_NO);
	assert_int_equal(cx_task_claimable(t, NULL, now + 1000), CX_CLAIM_EXPIRED);
	/* Only the holder may act. */
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_HEARTBEAT, .worker = "w2" }, now,
			       &err, NULL),
			 1);
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_HEARTBEAT, .worker = "w1" },
			       now + 500, &err, NULL),
			 0);
	assert_int_equal(cx_task_field_ms(t, "lease_until"), now + 1500);
	json_t *prog = json_pack("{s:i, s:[s], s:s}", "iterations", 2, "tools_used", "a",
				 "last_tool_used", "a");
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_PROGRESS,
						    .worker = "w1",
						    .progress = prog },
			       now + 600, &err, NULL),
			 0);
	assert_int_equal(json_integer_value(path_get(t, "metadata.iterations")), 2);
	json_decref(prog);
	prog = json_pack("{s:s}", "worker", "evil");
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_PROGRESS,
						    .worker = "w1",
						    .progress = prog },
			       now, &err, NULL),
			 -1);
	assert_non_null(strstr(err.msg, "metadata.worker"));
	json_decref(prog);
	/* Expiry: queued again with the attempt counted; the second expiry fails it. */
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_EXPIRE }, now + 1599, &err,
			       NULL),
			 1);
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_EXPIRE }, now + 1600, &err,
			       NULL),
			 0);
	assert_string_equal(st(t), "queued");
	assert_true(json_is_null(path_get(t, "metadata.worker")));
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CLAIM, .worker = "w2" },
			       now + 2000, &err, NULL),
			 0);
	assert_int_equal(json_integer_value(path_get(t, "metadata.attempts")), 2);
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_EXPIRE }, now + 3000, &err,
			       NULL),
			 0);
	assert_string_equal(st(t), "failed");
	assert_non_null(
		strstr(json_string_value(path_get(t, "metadata.error")), "claimed 2 times"));
	assert_non_null(path_get(t, "metadata.finished_at"));
	json_decref(all);
}

static void test_hold_approve_cancel_finish(void **state)
{
	struct cx_task_store s = head();
	struct cx_err err = { 0 };
	struct cx_task_op out;
	json_t *all = build("[{\"query\": \"q\"}, {\"query\": \"r\"}]", &err);
	json_t *t = json_array_get(all, 0), *u = json_array_get(all, 1);
	json_t *pending = json_pack("{s:s}", "tool", "proxmox_stop_vm");
	int64_t now = 1764648000000;

	apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CLAIM, .worker = "w" }, now, &err, NULL);
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_APPROVE, .approve = true },
			       now, &err, NULL),
			 -1);
	assert_non_null(strstr(err.msg, "is not awaiting approval (it is in_progress)"));
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_HOLD,
						    .worker = "w",
						    .pending = pending },
			       now + 10, &err, NULL),
			 0);
	assert_string_equal(st(t), "awaiting_approval");
	assert_int_equal(json_integer_value(path_get(t, "metadata.attempts")), 0);
	assert_true(json_is_null(path_get(t, "metadata.worker")));
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_APPROVE,
						    .approve = false,
						    .by = "alice",
						    .reason = "not now" },
			       now + 20, &err, NULL),
			 0);
	assert_string_equal(st(t), "queued");
	assert_string_equal(json_string_value(path_get(t, "metadata.approval.decision")), "denied");
	assert_string_equal(json_string_value(path_get(t, "metadata.approval.by")), "alice");
	assert_string_equal(json_string_value(path_get(t, "metadata.approval.pending.tool")),
			    "proxmox_stop_vm");
	/* Cancel while in progress: requested, the heartbeat says so; release then cancels. */
	apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CLAIM, .worker = "w" }, now + 30, &err,
	      NULL);
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CANCEL, .by = "bob" },
			       now + 40, &err, NULL),
			 0);
	assert_string_equal(st(t), "in_progress");
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_HEARTBEAT, .worker = "w" },
			       now + 50, &err, &out),
			 1);
	assert_true(out.cancel_requested);
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_FINISH,
						    .worker = "w",
						    .status = "cancelled" },
			       now + 60, &err, NULL),
			 0);
	assert_string_equal(st(t), "cancelled");
	assert_int_equal(json_integer_value(path_get(t, "result.execution_time_ms")), 30);
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CANCEL }, now, &err, NULL),
			 -1);
	assert_non_null(strstr(err.msg, "already cancelled"));
	/* Queued: cancelled at once. A bad finishing status is refused. */
	assert_int_equal(apply(&s, u, (struct cx_task_op){ .kind = CX_OP_CANCEL }, now, &err, NULL),
			 0);
	assert_string_equal(st(u), "cancelled");
	assert_int_equal(cx_task_claimable(u, NULL, now), CX_CLAIM_NO);
	json_decref(all);
	all = build("[{\"query\": \"q\"}]", &err);
	t = json_array_get(all, 0);
	apply(&s, t, (struct cx_task_op){ .kind = CX_OP_CLAIM, .worker = "w" }, now, &err, NULL);
	assert_int_equal(apply(&s, t,
			       (struct cx_task_op){ .kind = CX_OP_FINISH,
						    .worker = "w",
						    .status = "queued" },
			       now, &err, NULL),
			 -1);
	assert_non_null(strstr(err.msg, "completed, failed or cancelled"));
	assert_int_equal(apply(&s, t, (struct cx_task_op){ .kind = CX_OP_RELEASE, .worker = "w" },
			       now, &err, NULL),
			 0);
	assert_string_equal(st(t), "queued");
	assert_int_equal(json_integer_value(path_get(t, "metadata.attempts")), 0);
	json_decref(pending);
	json_decref(all);
}

static void test_cursor_filter_metrics(void **state)
{
	struct cx_task_store s = head(), other = head();
	struct cx_task_cursor c;
	struct cx_err err = { 0 };
	char *text = cx_task_cursor_encode(&s, 1234, "task-a-1-x");
	json_t *all, *page, *m;
	char *next = NULL;

	assert_int_equal(cx_task_cursor_decode(&s, text, &c, &err), 0);
	assert_int_equal(c.created_ms, 1234);
	assert_string_equal(c.id, "task-a-1-x");
	memcpy(other.cursor_tag, "99999999", 9);
	assert_int_equal(cx_task_cursor_decode(&other, text, &c, &err), -1);
	assert_non_null(strstr(err.msg, "from another task store"));
	assert_int_equal(cx_task_cursor_decode(&s, "garbage!", &c, &err), -1);
	free(text);

	all = build("[{\"query\": \"a\", \"category\": \"security\"}, {\"query\": \"b\"}, "
		    "{\"query\": \"c\", \"category\": \"security\"}]",
		    &err);
	struct cx_task_filter f = { .category = "security", .limit = 1 };
	assert_int_equal(cx_task_page(&s, all, &f, NULL, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 1);
	assert_non_null(next);
	json_decref(page);
	assert_int_equal(cx_task_cursor_decode(&s, next, &c, &err), 0);
	free(next);
	assert_int_equal(cx_task_page(&s, all, &f, &c, &page, &next, &err), 0);
	assert_int_equal(json_array_size(page), 1);
	assert_null(next);
	json_decref(page);

	struct cx_task_op op = { .kind = CX_OP_CLAIM, .worker = "w" };
	cx_task_apply(&s, json_array_get(all, 0), &op, 1764648000000, &err);
	op = (struct cx_task_op){ .kind = CX_OP_FINISH, .worker = "w", .status = "completed" };
	cx_task_apply(&s, json_array_get(all, 0), &op, 1764648000400, &err);
	m = cx_task_metrics_of(all, 1764648000500);
	assert_int_equal(json_integer_value(path_get(m, "queue.queued.security")), 1);
	assert_int_equal(json_integer_value(path_get(m, "queue.queued.general")), 1);
	assert_int_equal(json_integer_value(path_get(m, "queue.completed.security")), 1);
	assert_int_equal(json_integer_value(path_get(m, "processing_ms.mean")), 400);
	assert_int_equal(json_integer_value(path_get(m, "processing_ms.p95")), 400);
	assert_true(json_real_value(json_object_get(m, "completed_per_min")) > 0.19);
	assert_int_equal(json_integer_value(json_object_get(m, "awaiting_approval")), 0);
	json_decref(m);
	json_decref(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_refusals),
		cmocka_unit_test(test_build_defaults_and_schema),
		cmocka_unit_test(test_build_refusals),
		cmocka_unit_test(test_times_and_ids),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_hold_approve_cancel_finish),
		cmocka_unit_test(test_cursor_filter_metrics),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
