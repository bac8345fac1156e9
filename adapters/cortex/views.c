/* Views of stored tasks for the model. Stored tasks keep the schema of ../shared/DESIGN.md;
 * the tools flatten what a model needs into stable, compact field names. */
#include "views.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/taskstore.h"

static const json_t *sub(const json_t *task, const char *obj, const char *key)
{
	return json_object_get(json_object_get(task, obj), key);
}

/* Copies value under key when it has the type the output schema promises. */
static void put_string(json_t *out, const char *key, const json_t *v)
{
	if (json_is_string(v))
		json_object_set(out, key, (json_t *)v);
}

static void put_int(json_t *out, const char *key, const json_t *v)
{
	if (json_is_integer(v))
		json_object_set(out, key, (json_t *)v);
}

/* A string or null (absent becomes null: the schema lists these keys as always present). */
static void put_nullable(json_t *out, const char *key, const json_t *v)
{
	json_object_set_new(out, key, json_is_string(v) ? json_incref((json_t *)v) : json_null());
}

json_t *ct_summary(const json_t *task)
{
	json_t *s = json_object();

	if (!s)
		return NULL;
	put_string(s, "id", json_object_get(task, "id"));
	put_string(s, "title", sub(task, "payload", "title"));
	put_string(s, "status", json_object_get(task, "status"));
	put_string(s, "category", sub(task, "payload", "category"));
	put_int(s, "priority", json_object_get(task, "priority"));
	put_string(s, "source", sub(task, "metadata", "source"));
	put_nullable(s, "parent_id", sub(task, "metadata", "parent_id"));
	put_string(s, "created_at", sub(task, "metadata", "created_at"));
	put_string(s, "updated_at", sub(task, "metadata", "updated_at"));
	put_int(s, "attempts", sub(task, "metadata", "attempts"));
	put_string(s, "worker", sub(task, "metadata", "worker"));
	put_string(s, "current_action", sub(task, "metadata", "current_action"));
	put_string(s, "summary", sub(task, "result", "summary"));
	return s;
}

json_t *ct_summaries(const json_t *tasks, size_t max)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < json_array_size(tasks) && i < max; i++) {
		if (json_array_append_new(out, ct_summary(json_array_get(tasks, i)))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static json_t *progress_view(const json_t *meta)
{
	json_t *p = json_object();
	const json_t *used = json_object_get(meta, "tools_used");

	if (!p)
		return NULL;
	json_object_set_new(p, "iterations",
			    json_integer(json_integer_value(json_object_get(meta, "iterations"))));
	json_object_set_new(p, "tools_used",
			    json_is_array(used) ? json_deep_copy(used) : json_array());
	put_nullable(p, "last_tool_used", json_object_get(meta, "last_tool_used"));
	put_nullable(p, "current_action", json_object_get(meta, "current_action"));
	/* Token counts, when the orchestrator records them. */
	put_int(p, "tokens_in", json_object_get(meta, "tokens_in"));
	put_int(p, "tokens_out", json_object_get(meta, "tokens_out"));
	return p;
}

/* An object or null. */
static void put_object(json_t *out, const char *key, const json_t *v)
{
	json_object_set_new(out, key, json_is_object(v) ? json_deep_copy(v) : json_null());
}

json_t *ct_status_view(const json_t *task)
{
	const json_t *meta = json_object_get(task, "metadata");
	const json_t *err = json_object_get(meta, "error");
	json_t *v = json_object();

	if (!v)
		return NULL;
	put_string(v, "id", json_object_get(task, "id"));
	put_string(v, "type", json_object_get(task, "type"));
	put_string(v, "status", json_object_get(task, "status"));
	put_int(v, "priority", json_object_get(task, "priority"));
	put_string(v, "title", sub(task, "payload", "title"));
	put_string(v, "query", sub(task, "payload", "query"));
	put_string(v, "category", sub(task, "payload", "category"));
	put_string(v, "source", json_object_get(meta, "source"));
	put_nullable(v, "parent_id", json_object_get(meta, "parent_id"));
	put_string(v, "created_at", json_object_get(meta, "created_at"));
	put_string(v, "updated_at", json_object_get(meta, "updated_at"));
	put_nullable(v, "started_at", json_object_get(meta, "started_at"));
	put_nullable(v, "finished_at", json_object_get(meta, "finished_at"));
	json_object_set_new(v, "attempts",
			    json_integer(json_integer_value(json_object_get(meta, "attempts"))));
	put_nullable(v, "worker", json_object_get(meta, "worker"));
	json_object_set_new(v, "cancel_requested",
			    json_boolean(json_is_true(json_object_get(meta, "cancel_requested"))));
	/* The error may be a sentence or an object with one; the model gets the sentence. */
	if (json_is_object(err))
		err = json_object_get(err, "message");
	put_nullable(v, "error", err);
	json_object_set_new(v, "progress", progress_view(meta));
	put_object(v, "approval", json_object_get(meta, "approval"));
	put_object(v, "result", json_object_get(task, "result"));
	return v;
}

/* Bytes of v written compactly. */
static size_t dumped_size(const json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT);
}

/* The members of arr from index from on (new reference). */
static json_t *tail_of(const json_t *arr, size_t from)
{
	json_t *out = json_array();

	for (size_t i = from; out && i < json_array_size(arr); i++) {
		if (json_array_append(out, json_array_get(arr, i))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Sizes of each member of arr written compactly, and of them all as an array. NULL when arr
 * is empty, or on out of memory (*total then counts as if empty). */
static size_t *member_sizes(const json_t *arr, size_t *total)
{
	size_t n = json_array_size(arr);
	size_t *sz = n ? calloc(n, sizeof(*sz)) : NULL;

	*total = 2; /* [] */
	for (size_t i = 0; sz && i < n; i++) {
		sz[i] = dumped_size(json_array_get(arr, i));
		*total += sz[i] + (i ? 1 : 0);
	}
	return sz;
}

json_t *ct_conversation_view(const json_t *task, size_t max, bool *truncated)
{
	const json_t *st = sub(task, "metadata", "state");
	const json_t *msgs = json_object_get(st, "messages"), *calls = json_object_get(st, "calls");
	size_t nm = json_array_size(msgs), nc = json_array_size(calls), mtot, ctot, fm = 0, fc = 0;
	size_t *ms, *cs, total;
	json_t *out = NULL;

	*truncated = false;
	if (!json_is_array(msgs))
		nm = 0, msgs = NULL;
	if (!json_is_array(calls))
		nc = 0, calls = NULL;
	ms = member_sizes(msgs, &mtot);
	cs = member_sizes(calls, &ctot);
	if ((nm && !ms) || (nc && !cs))
		goto out;
	/* {"messages":[...]} or {"messages":[...],"calls":[...]} */
	total = 13 + mtot + (calls ? 9 + ctot : 0);
	/* The oldest go first: a member and the comma after it, or the last one alone. */
	while (total > max && fm < nm) {
		total -= ms[fm] + (fm + 1 < nm ? 1 : 0);
		fm++;
		*truncated = true;
	}
	while (total > max && fc < nc) {
		total -= cs[fc] + (fc + 1 < nc ? 1 : 0);
		fc++;
		*truncated = true;
	}
	out = json_pack("{s:o}", "messages", msgs ? tail_of(msgs, fm) : json_array());
	if (out && calls && json_object_set_new(out, "calls", tail_of(calls, fc))) {
		json_decref(out);
		out = NULL;
	}
out:
	free(ms);
	free(cs);
	return out;
}

char *ct_resource_text(const json_t *task)
{
	json_t *copy = json_deep_copy(task);
	char *text;

	if (!copy)
		return NULL;
	json_object_del(json_object_get(copy, "metadata"), "state");
	text = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	return text;
}
