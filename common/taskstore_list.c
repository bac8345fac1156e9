/* Reading many tasks, shared by every task store backend: filters, cursors, pages newest
 * first, children oldest first, and the metrics cx_task_metrics reports, all computed from a
 * set of tasks the backend hands over. */
#include "taskstore_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A cursor: base64url of "<store tag>.<created ms>.<id>". */
#define CURSOR_RAW_MAX  (8 + 1 + 20 + 1 + CX_TASK_ID_MAX)
#define CURSOR_TEXT_MAX (CURSOR_RAW_MAX * 4 / 3 + 4)

char *cx_task_cursor_encode(const struct cx_task_store *s, int64_t created_ms, const char *id)
{
	char raw[CURSOR_RAW_MAX], *out;

	if (!cx_fmt(raw, sizeof(raw), "%s.%" PRId64 ".%s", s->cursor_tag, created_ms, id))
		return NULL;
	out = malloc(CURSOR_TEXT_MAX);
	if (out)
		cx_b64url_encode((const unsigned char *)raw, strlen(raw), out);
	return out;
}

int cx_task_cursor_decode(const struct cx_task_store *s, const char *text,
			  struct cx_task_cursor *out, struct cx_err *err)
{
	unsigned char raw[CURSOR_RAW_MAX + 1];
	char *dot, *end;
	long n;
	long long ms;

	n = text && strlen(text) < CURSOR_TEXT_MAX
		    ? cx_b64url_decode(text, strlen(text), raw, CURSOR_RAW_MAX)
		    : -1;
	if (n < 10)
		return cx_err_set(err, "the cursor is not one this store gave; start again without "
				       "a cursor");
	raw[n] = '\0';
	if (strncmp((char *)raw, s->cursor_tag, 8) || raw[8] != '.')
		return cx_err_set(err, "the cursor is from another task store; start again without "
				       "a cursor");
	dot = strchr((char *)raw + 9, '.');
	if (!dot)
		return cx_err_set(err, "the cursor is garbled; start again without a cursor");
	*dot = '\0';
	ms = strtoll((char *)raw + 9, &end, 10);
	if (*end || end == (char *)raw + 9 || ms < 0 || !cx_task_id_valid(dot + 1))
		return cx_err_set(err, "the cursor is garbled; start again without a cursor");
	out->created_ms = ms;
	snprintf(out->id, sizeof(out->id), "%s", dot + 1);
	return 0;
}

static bool str_is(const json_t *v, const char *want)
{
	const char *s = json_string_value(v);

	return !want || (s && !strcmp(s, want));
}

bool cx_task_filter_match(const struct cx_task_filter *f, const json_t *task)
{
	json_t *m = json_object_get(task, "metadata");

	if (!f)
		return true;
	if (!str_is(json_object_get(task, "status"), f->status) ||
	    !str_is(json_object_get(json_object_get(task, "payload"), "category"), f->category) ||
	    !str_is(json_object_get(m, "source"), f->source) ||
	    !str_is(json_object_get(m, "parent_id"), f->parent_id))
		return false;
	return !f->since_ms || cx_task_field_ms(task, "created_at") >= f->since_ms;
}

bool cx_task_after_cursor(const struct cx_task_cursor *after, int64_t created_ms, const char *id)
{
	if (!after)
		return true;
	if (created_ms != after->created_ms)
		return created_ms < after->created_ms;
	return strcmp(id, after->id) < 0;
}

struct keyed {
	int64_t created;
	const char *id;
	json_t *task;
};

static int newest_first(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;

	if (a->created != b->created)
		return a->created > b->created ? -1 : 1;
	return -strcmp(a->id, b->id);
}

/* The tasks of all that pass keep(), sorted by cmp: a malloc'd array (*n entries). */
static struct keyed *collect(const json_t *all, bool (*keep)(const json_t *, const void *),
			     const void *arg, int (*cmp)(const void *, const void *), size_t *n)
{
	struct keyed *k = malloc((json_array_size(all) + 1) * sizeof(*k));
	size_t i;
	json_t *t;

	*n = 0;
	if (!k)
		return NULL;
	json_array_foreach(all, i, t) {
		const char *id = json_string_value(json_object_get(t, "id"));

		if (!id || !keep(t, arg))
			continue;
		k[*n].created = cx_task_field_ms(t, "created_at");
		k[*n].id = id;
		k[(*n)++].task = t;
	}
	qsort(k, *n, sizeof(*k), cmp);
	return k;
}

static bool keep_filter(const json_t *t, const void *arg)
{
	return cx_task_filter_match(arg, t);
}

int cx_task_page(const struct cx_task_store *s, const json_t *all, const struct cx_task_filter *f,
		 const struct cx_task_cursor *after, json_t **tasks, char **next,
		 struct cx_err *err)
{
	size_t limit = f && f->limit ? f->limit : CX_TASK_LIMIT_DEFAULT, n, i, taken = 0;
	struct keyed *k = collect(all, keep_filter, f, newest_first, &n);
	json_t *out = json_array();

	*tasks = NULL;
	*next = NULL;
	if (!k || !out)
		goto oom;
	for (i = 0; i < n && taken < limit; i++) {
		if (!cx_task_after_cursor(after, k[i].created, k[i].id))
			continue;
		if (json_array_append(out, k[i].task))
			goto oom;
		taken++;
		if (taken == limit && i + 1 < n) {
			*next = cx_task_cursor_encode(s, k[i].created, k[i].id);
			if (!*next)
				goto oom;
		}
	}
	free(k);
	*tasks = out;
	return 0;
oom:
	free(k);
	json_decref(out);
	return cx_err_set(err, "out of memory listing tasks");
}

static bool keep_child(const json_t *t, const void *id)
{
	return str_is(json_object_get(json_object_get(t, "metadata"), "parent_id"), id);
}

static int oldest_first(const void *a, const void *b)
{
	return -newest_first(a, b);
}

json_t *cx_task_children_of(const json_t *all, const char *id)
{
	size_t n, i;
	struct keyed *k = collect(all, keep_child, id, oldest_first, &n);
	json_t *out = k ? json_array() : NULL;

	for (i = 0; out && i < n; i++) {
		if (json_array_append(out, k[i].task)) {
			json_decref(out);
			out = NULL;
		}
	}
	free(k);
	return out;
}

/* ---- metrics ---- */

#define WINDOW_MS (5 * 60 * 1000)

static int cmp_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return a < b ? -1 : a > b;
}

static json_t *queue_counts(const json_t *all)
{
	json_t *q = json_object(), *t;
	size_t i;

	for (const char *const *st = cx_task_statuses; *st; st++) {
		json_t *by = json_object();

		for (const char *const *c = cx_task_categories; *c; c++)
			json_object_set_new(by, *c, json_integer(0));
		json_object_set_new(q, *st, by);
	}
	json_array_foreach(all, i, t) {
		json_t *by = json_object_get(q, json_string_value(json_object_get(t, "status")));
		const char *c = json_string_value(
			json_object_get(json_object_get(t, "payload"), "category"));
		json_t *n = c ? json_object_get(by, c) : NULL;

		if (n)
			json_integer_set(n, json_integer_value(n) + 1);
	}
	return q;
}

/* mean and p95 of the execution times of completed tasks. */
static json_t *processing(const json_t *all)
{
	int64_t *v = malloc((json_array_size(all) + 1) * sizeof(*v)), sum = 0;
	size_t n = 0, i;
	json_t *t, *out;

	if (!v)
		return NULL;
	json_array_foreach(all, i, t) {
		json_t *ms = json_object_get(json_object_get(t, "result"), "execution_time_ms");

		if (str_is(json_object_get(t, "status"), "completed") && json_is_integer(ms)) {
			v[n] = json_integer_value(ms);
			sum += v[n++];
		}
	}
	qsort(v, n, sizeof(*v), cmp_i64);
	out = json_pack("{s:I, s:I, s:I}", "mean", (json_int_t)(n ? sum / (int64_t)n : 0), "p95",
			(json_int_t)(n ? v[(n * 95 + 99) / 100 - 1] : 0), "count", (json_int_t)n);
	free(v);
	return out;
}

json_t *cx_task_metrics_of(const json_t *all, int64_t now_ms)
{
	size_t i, created = 0, completed = 0, failed = 0, retried = 0, waiting = 0;
	json_t *t;

	json_array_foreach(all, i, t) {
		json_t *m = json_object_get(t, "metadata");
		const char *st = json_string_value(json_object_get(t, "status"));
		int64_t fin = cx_task_field_ms(t, "finished_at");

		if (cx_task_field_ms(t, "created_at") >= now_ms - WINDOW_MS)
			created++;
		if (st && fin >= now_ms - WINDOW_MS) {
			completed += !strcmp(st, "completed");
			failed += !strcmp(st, "failed");
		}
		retried += json_integer_value(json_object_get(m, "attempts")) > 1;
		waiting += st && !strcmp(st, "awaiting_approval");
	}
	return json_pack("{s:o, s:I, s:f, s:f, s:f, s:o*, s:{s:I}, s:I}", "queue",
			 queue_counts(all), "total", (json_int_t)json_array_size(all),
			 "created_per_min", created / 5.0, "completed_per_min", completed / 5.0,
			 "failed_per_min", failed / 5.0, "processing_ms", processing(all),
			 "attempts", "retried", (json_int_t)retried, "awaiting_approval",
			 (json_int_t)waiting);
}
