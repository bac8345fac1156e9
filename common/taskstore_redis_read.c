/* Reading the Redis task store: one task, every task (what metrics are computed from), pages
 * of the index newest first with the filters applied here, a parent's children, and the
 * agents' hash. Many tasks are fetched in one round trip (pipelined HGETs). */
#include "taskstore_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS(s) ((struct cx_rs_store *)(s))

static int oom(struct cx_err *err)
{
	return cx_err_set(err, "out of memory");
}

static const char *task_id(const json_t *task)
{
	const char *id = json_string_value(json_object_get(task, "id"));

	return id ? id : "";
}

int cx_rs_get(struct cx_task_store *s, const char *id, json_t **task, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	char key[CX_RS_KEY_MAX];
	const char *argv[3] = { "HGET", key, "json" };
	redisReply *r;

	*task = NULL;
	cx_rs_task_key(rs, id, key);
	r = cx_rs_cmd1(&rs->link, 3, argv, NULL, err);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return 1;
	}
	*task = cx_rs_parse_task(id, r, err);
	freeReplyObject(r);
	return *task ? 0 : -1;
}

/* The tasks named by ids[0..n) (missing ones skipped), appended to out. */
static int fetch(struct cx_rs_store *rs, redisContext *c, redisReply *const *ids, size_t n,
		 size_t stride, json_t *out, struct cx_err *err)
{
	size_t i, rc = 0;
	void *r;
	char key[CX_RS_KEY_MAX];

	for (i = 0; i < n; i++) {
		cx_rs_task_key(rs, ids[i * stride]->str, key);
		redisAppendCommand(c, "HGET %s json", key);
	}
	for (i = 0; i < n; i++) {
		json_t *t;

		if (redisGetReply(c, &r) != REDIS_OK)
			return cx_rs_fail(&rs->link, c, err);
		if (rc == 0 && ((redisReply *)r)->type == REDIS_REPLY_STRING) {
			t = cx_rs_parse_task(ids[i * stride]->str, r, err);
			if (!t || json_array_append_new(out, t))
				rc = (size_t)-1;
		}
		freeReplyObject(r);
	}
	return rc ? -1 : 0;
}

int cx_rs_snapshot(struct cx_task_store *s, json_t **tasks, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	const char *argv[4] = { "ZRANGE", rs->k_tasks, "0", "-1" };
	redisContext *c = cx_rs_acquire(&rs->link, err);
	redisReply *r = NULL;
	size_t i;
	int rc = -1;

	*tasks = json_array();
	if (!c || !*tasks)
		goto out;
	r = cx_rs_cmd(&rs->link, c, 4, argv, NULL, err);
	if (!r)
		goto out;
	for (i = 0; i < r->elements; i += 256) {
		size_t n = r->elements - i < 256 ? r->elements - i : 256;

		if (fetch(rs, c, r->element + i, n, 1, *tasks, err))
			goto out;
	}
	rc = 0;
out:
	if (r)
		freeReplyObject(r);
	cx_rs_put(&rs->link, c);
	if (rc) {
		if (!*tasks)
			oom(err);
		json_decref(*tasks);
		*tasks = NULL;
	}
	return rc;
}

/* ---- lists ---- */

/* One page of key (the index or a parent's children), newest first, from ZREVRANGEBYSCORE
 * in batches, filtered here; one task more than the page is looked for to know whether
 * there is a next page. */
static int list_on(struct cx_rs_store *rs, redisContext *c, const char *key,
		   const struct cx_task_filter *f, const struct cx_task_cursor *after, json_t *out,
		   char **next, struct cx_err *err)
{
	size_t limit = f->limit ? f->limit : CX_TASK_LIMIT_DEFAULT, offset = 0, i;
	char max[24] = "+inf", min[24] = "-inf", off[24];
	const char *argv[8] = { "ZREVRANGEBYSCORE", key, max, min, "LIMIT", off, "256" };
	json_t *batch, *t;
	redisReply *r;

	if (after)
		snprintf(max, sizeof(max), "%lld", (long long)after->created_ms);
	if (f->since_ms > 0)
		snprintf(min, sizeof(min), "%lld", (long long)f->since_ms);
	for (;;) {
		snprintf(off, sizeof(off), "%zu", offset);
		r = cx_rs_cmd(&rs->link, c, 7, argv, NULL, err);
		batch = json_array();
		if (!r || !batch || fetch(rs, c, r->element, r->elements, 1, batch, err)) {
			if (r)
				freeReplyObject(r);
			json_decref(batch);
			return batch || !r ? -1 : oom(err);
		}
		offset += r->elements;
		json_array_foreach(batch, i, t) {
			if (!cx_task_after_cursor(after, cx_task_field_ms(t, "created_at"),
						  task_id(t)) ||
			    !cx_task_filter_match(f, t))
				continue;
			if (json_array_size(out) == limit) {
				t = json_array_get(out, limit - 1);
				*next = cx_task_cursor_encode(&rs->head,
							      cx_task_field_ms(t, "created_at"),
							      task_id(t));
				freeReplyObject(r);
				json_decref(batch);
				return *next ? 0 : oom(err);
			}
			json_array_append(out, t);
		}
		json_decref(batch);
		i = r->elements;
		freeReplyObject(r);
		if (i < 256)
			return 0;
	}
}

int cx_rs_list(struct cx_task_store *s, const struct cx_task_filter *f,
	       const struct cx_task_cursor *after, json_t **tasks, char **next, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	char key[CX_RS_KEY_MAX];
	redisContext *c;
	int rc = -1;

	*tasks = json_array();
	*next = NULL;
	if (!*tasks)
		return oom(err);
	if (f->parent_id && !cx_task_id_valid(f->parent_id))
		return 0;
	if (f->parent_id)
		snprintf(key, sizeof(key), "%schildren:%s", rs->prefix, f->parent_id);
	else
		snprintf(key, sizeof(key), "%s", rs->k_tasks);
	c = cx_rs_acquire(&rs->link, err);
	if (c)
		rc = list_on(rs, c, key, f, after, *tasks, next, err);
	cx_rs_put(&rs->link, c);
	if (rc) {
		json_decref(*tasks);
		*tasks = NULL;
	}
	return rc;
}

int cx_rs_children(struct cx_task_store *s, const char *id, json_t **tasks, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	char key[CX_RS_KEY_MAX];
	const char *argv[4] = { "ZRANGE", key, "0", "-1" };
	redisContext *c = cx_rs_acquire(&rs->link, err);
	redisReply *r = NULL;
	int rc = -1;

	*tasks = json_array();
	snprintf(key, sizeof(key), "%schildren:%s", rs->prefix, id);
	if (c && *tasks && (r = cx_rs_cmd(&rs->link, c, 4, argv, NULL, err)))
		rc = fetch(rs, c, r->element, r->elements, 1, *tasks, err);
	else if (c && !*tasks)
		oom(err);
	if (r)
		freeReplyObject(r);
	cx_rs_put(&rs->link, c);
	if (rc) {
		json_decref(*tasks);
		*tasks = NULL;
	}
	return rc;
}

/* ---- agents ---- */

int cx_rs_agent_put(struct cx_task_store *s, const json_t *agent, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	char *json = json_dumps(agent, JSON_COMPACT);
	const char *id = json_string_value(json_object_get(agent, "id"));
	const char *argv[4] = { "HSET", rs->k_agents, id, json };
	redisReply *r;

	if (!json)
		return oom(err);
	r = cx_rs_cmd1(&rs->link, 4, argv, NULL, err);
	free(json);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* Every agent; those silent for a day are deleted on the way (the list drops them after 3
 * leases already; this only keeps the hash from growing without end). */
int cx_rs_agent_list(struct cx_task_store *s, json_t **agents, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	const char *argv[2] = { "HGETALL", rs->k_agents };
	int64_t old = cx_task_now_ms() - 24 * 3600 * 1000;
	redisContext *c = cx_rs_acquire(&rs->link, err);
	redisReply *r, *d;
	size_t i;

	*agents = NULL;
	if (!c)
		return -1;
	r = cx_rs_cmd(&rs->link, c, 2, argv, NULL, err);
	*agents = r ? json_array() : NULL;
	for (i = 0; *agents && i + 1 < r->elements; i += 2) {
		json_t *a = json_loadb(r->element[i + 1]->str, r->element[i + 1]->len, 0, NULL);

		if (json_is_object(a) &&
		    cx_task_time_ms(json_string_value(json_object_get(a, "heartbeat_at"))) < old) {
			d = redisCommand(c, "HDEL %s %s", rs->k_agents, r->element[i]->str);
			if (d)
				freeReplyObject(d);
		} else if (json_is_object(a)) {
			json_array_append(*agents, a);
		}
		json_decref(a);
	}
	if (r)
		freeReplyObject(r);
	cx_rs_put(&rs->link, c);
	return *agents ? 0 : -1;
}
