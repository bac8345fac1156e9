/* What a task is and how it moves, shared by every task store backend: times and ids,
 * building tasks from create specs, and the transitions (cx_task_apply) as pure functions on
 * a task object. Lists, cursors and metrics are in taskstore_list.c. */
#include "taskstore_impl.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

const char *const cx_task_categories[] = { "development", "security", "infrastructure",
					   "inventory",   "cicd",     "general",
					   NULL };
const char *const cx_task_statuses[] = { "queued",    "in_progress", "awaiting_approval",
					 "completed", "failed",      "cancelled",
					 NULL };

#define TITLE_MAX     200
#define TITLE_DEFAULT 80
#define SOURCE_MAX    24
#define TYPE_MAX      32

int64_t cx_task_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cx_task_time_str(int64_t ms, char *out, size_t outlen)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil), so parsing needs neither timegm nor the TZ environment. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int64_t cx_task_time_ms(const char *s)
{
	int y, mo, d, h, mi, sec, ms = 0, off = 0;
	const char *p;

	if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0, scale = 100;

		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
		if (!n)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);

		if (oh < 0 || om < 0)
			return -1;
		off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	return ((days_from_civil(y, mo, d) * 86400 + h * 3600 + (mi - off) * 60 + sec) * 1000) + ms;
}

int64_t cx_task_field_ms(const json_t *task, const char *meta_key)
{
	json_t *v = json_object_get(json_object_get(task, "metadata"), meta_key);

	return json_is_string(v) ? cx_task_time_ms(json_string_value(v)) : -1;
}

/* 36^9: the tails of ids. */
#define TAIL_SPACE 101559956668416ull

static int random_u64(uint64_t *out)
{
	return RAND_bytes((unsigned char *)out, sizeof(*out)) == 1 ? 0 : -1;
}

static int format_id(const char *source, int64_t now_ms, uint64_t tail, char *out, size_t outlen)
{
	static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char t[10];

	for (int i = 8; i >= 0; i--) {
		t[i] = b36[tail % 36];
		tail /= 36;
	}
	t[9] = '\0';
	return cx_fmt(out, outlen, "task-%s-%lld-%s", source, (long long)now_ms, t) ? 0 : -1;
}

int cx_task_new_id(const char *source, int64_t now_ms, char *out, size_t outlen)
{
	uint64_t r;

	if (random_u64(&r))
		return -1;
	return format_id(source, now_ms, r % TAIL_SPACE, out, outlen);
}

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

bool cx_task_id_valid(const char *id)
{
	size_t n = 0;

	if (!id || !*id || *id == '.')
		return false;
	for (; id[n]; n++) {
		if (n >= CX_TASK_ID_MAX - 1 || !id_char(id[n]))
			return false;
	}
	return true;
}

bool cx_task_category_in(const char *category, const char *const *categories)
{
	if (!categories)
		return true;
	for (; *categories; categories++) {
		if (category && !strcmp(*categories, category))
			return true;
	}
	return false;
}

static bool one_of(const char *s, const char *const *list)
{
	return s && list && cx_task_category_in(s, list);
}

/* ---- building ---- */

static const char *const spec_keys[] = { "query",     "title",  "category", "priority",
					 "parent_id", "source", "type",     NULL };

/* The first line of query, cut to at most TITLE_DEFAULT bytes on a character boundary. */
static json_t *default_title(const char *query)
{
	size_t n = strcspn(query, "\r\n");

	if (n > TITLE_DEFAULT) {
		n = TITLE_DEFAULT;
		while (n > 0 && ((unsigned char)query[n] & 0xc0) == 0x80)
			n--;
	}
	return json_stringn(query, n);
}

static bool word_ok(const char *s, size_t max, bool upper)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (n >= max || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
				  (upper && c >= 'A' && c <= 'Z')))
			return false;
	}
	return n > 0;
}

static int check_spec_keys(const json_t *spec, size_t i, struct cx_err *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(spec))
		return cx_err_set(err, "tasks[%zu]: a task must be an object with a \"query\"", i);
	json_object_foreach((json_t *)spec, key, v) {
		if (!one_of(key, spec_keys))
			return cx_err_set(err,
					  "tasks[%zu]: unknown field '%.64s' (a task takes query, "
					  "title, category, priority, parent_id, source, type)",
					  i, key);
	}
	return 0;
}

static int check_query(const json_t *spec, size_t i, struct cx_err *err)
{
	json_t *q = json_object_get(spec, "query"), *t = json_object_get(spec, "title");

	if (!json_is_string(q) || !json_string_length(q))
		return cx_err_set(err, "tasks[%zu]: \"query\" must be a non-empty string", i);
	if (json_string_length(q) > CX_TASK_QUERY_MAX)
		return cx_err_set(err,
				  "tasks[%zu]: the query is %zu bytes, over the limit of %d; "
				  "shorten it or split the work into several tasks",
				  i, json_string_length(q), CX_TASK_QUERY_MAX);
	if (memchr(json_string_value(q), '\0', json_string_length(q)))
		return cx_err_set(err, "tasks[%zu]: the query contains a NUL character", i);
	if (t && !json_is_null(t) &&
	    (!json_is_string(t) || !json_string_length(t) || json_string_length(t) > TITLE_MAX))
		return cx_err_set(err, "tasks[%zu]: \"title\" must be a string of 1 to %d bytes", i,
				  TITLE_MAX);
	return 0;
}

static int check_fields(const json_t *spec, size_t i, struct cx_err *err)
{
	json_t *c = json_object_get(spec, "category"), *p = json_object_get(spec, "priority");
	json_t *par = json_object_get(spec, "parent_id"), *src = json_object_get(spec, "source");
	json_t *ty = json_object_get(spec, "type");

	if (c && !json_is_null(c) && !one_of(json_string_value(c), cx_task_categories))
		return cx_err_set(err,
				  "tasks[%zu]: unknown category '%.64s' (one of development, "
				  "security, infrastructure, inventory, cicd, general)",
				  i, json_is_string(c) ? json_string_value(c) : "(not a string)");
	if (p && !json_is_null(p) &&
	    (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 5))
		return cx_err_set(err,
				  "tasks[%zu]: \"priority\" must be an integer from 1 (most "
				  "urgent) to 5",
				  i);
	if (par && !json_is_null(par) && !cx_task_id_valid(json_string_value(par)))
		return cx_err_set(err, "tasks[%zu]: \"parent_id\" is not a task id", i);
	if (src && !json_is_null(src) &&
	    !(json_is_string(src) && word_ok(json_string_value(src), SOURCE_MAX, true)))
		return cx_err_set(err,
				  "tasks[%zu]: \"source\" must be 1 to %d letters, digits or "
				  "'_'",
				  i, SOURCE_MAX);
	if (ty && !json_is_null(ty) &&
	    !(json_is_string(ty) && word_ok(json_string_value(ty), TYPE_MAX, false)))
		return cx_err_set(err,
				  "tasks[%zu]: \"type\" must be 1 to %d lowercase letters, "
				  "digits or '_'",
				  i, TYPE_MAX);
	return 0;
}

static const char *str_or(const json_t *spec, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(spec, key));

	return s ? s : dflt;
}

/* The tails of one batch's ids rise in the batch's order (random steps from a random start),
 * so tasks created together in the same millisecond still sort oldest first as given. */
static json_t *build_one(const json_t *spec, int64_t now_ms, const char *now, uint64_t tail)
{
	const char *query = json_string_value(json_object_get(spec, "query"));
	const char *source = str_or(spec, "source", "mcp"),
		   *parent = str_or(spec, "parent_id", NULL);
	json_t *title = json_object_get(spec, "title"), *prio = json_object_get(spec, "priority");
	char id[CX_TASK_ID_MAX];

	if (format_id(source, now_ms, tail, id, sizeof(id)))
		return NULL;
	return json_pack(
		"{s:s, s:s, s:I, s:s, s:{s:s, s:o, s:s}, s:{s:s, s:s, s:n, s:n, s:s, s:i, s:[], "
		"s:n, s:n, s:i, s:o, s:n, s:n, s:b, s:n, s:n}, s:n}",
		"id", id, "type", str_or(spec, "type", "user_query"), "priority",
		(json_int_t)(json_is_integer(prio) ? json_integer_value(prio) : 3), "status",
		"queued", "payload", "query", query, "title",
		json_is_string(title) ? json_incref(title) : default_title(query), "category",
		str_or(spec, "category", "general"), "metadata", "created_at", now, "updated_at",
		now, "started_at", "finished_at", "source", source, "iterations", 0, "tools_used",
		"last_tool_used", "current_action", "attempts", 0, "parent_id",
		parent ? json_string(parent) : json_null(), "worker", "lease_until",
		"cancel_requested", 0, "approval", "error", "result");
}

json_t *cx_task_build(const json_t *specs, int64_t now_ms, struct cx_err *err)
{
	char now[32];
	json_t *out;
	size_t n = json_array_size(specs), i;
	uint64_t tail;

	if (!json_is_array(specs) || !n)
		return cx_err_set(err, "tasks: give at least one task"), NULL;
	if (n > CX_TASK_BATCH_MAX)
		return cx_err_set(err,
				  "a batch of %zu tasks is over the limit of %d; create them in "
				  "several calls",
				  n, CX_TASK_BATCH_MAX),
		       NULL;
	for (i = 0; i < n; i++) {
		const json_t *spec = json_array_get(specs, i);

		if (check_spec_keys(spec, i, err) || check_query(spec, i, err) ||
		    check_fields(spec, i, err))
			return NULL;
	}
	cx_task_time_str(now_ms, now, sizeof(now));
	if (random_u64(&tail))
		return cx_err_set(err, "no random numbers for task ids"), NULL;
	/* room for n steps of at most 2^20 below TAIL_SPACE */
	tail %= TAIL_SPACE - ((uint64_t)CX_TASK_BATCH_MAX + 1) * (1u << 20);
	out = json_array();
	for (i = 0; out && i < n; i++) {
		uint64_t step;

		if (random_u64(&step))
			step = 0;
		tail += 1 + step % (1u << 20);
		if (json_array_append_new(out,
					  build_one(json_array_get(specs, i), now_ms, now, tail))) {
			json_decref(out);
			out = NULL;
		}
	}
	if (!out)
		cx_err_set(err, "out of memory building %zu tasks", n);
	return out;
}

json_t *cx_agent_build(const json_t *agent, int64_t now_ms, struct cx_err *err)
{
	static const char *const kinds[] = { "master", "worker", NULL };
	static const char *const states[] = { "idle", "busy", "stopping", NULL };
	json_t *tid = json_object_get(agent, "task_id"), *out;
	char now[32];

	if (!json_is_object(agent))
		return cx_err_set(err, "an agent must be an object"), NULL;
	if (!cx_task_id_valid(json_string_value(json_object_get(agent, "id"))))
		return cx_err_set(err, "agent \"id\" must be 1 to 63 of [A-Za-z0-9._:-]"), NULL;
	if (!one_of(json_string_value(json_object_get(agent, "kind")), kinds))
		return cx_err_set(err, "agent \"kind\" must be \"master\" or \"worker\""), NULL;
	if (!one_of(json_string_value(json_object_get(agent, "state")), states))
		return cx_err_set(err, "agent \"state\" must be idle, busy or stopping"), NULL;
	if (tid && !json_is_null(tid) && !cx_task_id_valid(json_string_value(tid)))
		return cx_err_set(err, "agent \"task_id\" is not a task id"), NULL;
	out = json_deep_copy(agent);
	cx_task_time_str(now_ms, now, sizeof(now));
	if (!out || json_object_set_new(out, "heartbeat_at", json_string(now))) {
		json_decref(out);
		return cx_err_set(err, "out of memory"), NULL;
	}
	return out;
}

/* ---- transitions ---- */

static json_t *meta(json_t *task)
{
	json_t *m = json_object_get(task, "metadata");

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(task, "metadata", m);
	}
	return m;
}

static const char *status_of(const json_t *task)
{
	const char *s = json_string_value(json_object_get(task, "status"));

	return s ? s : "";
}

static bool finished(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "failed") ||
	       !strcmp(status, "cancelled");
}

static void set_time(json_t *m, const char *key, int64_t ms)
{
	char buf[32];

	cx_task_time_str(ms, buf, sizeof(buf));
	json_object_set_new(m, key, json_string(buf));
}

static json_int_t attempts_of(json_t *m)
{
	return json_integer_value(json_object_get(m, "attempts"));
}

static void set_status(json_t *task, const char *status, int64_t now)
{
	json_t *m = meta(task);

	json_object_set_new(task, "status", json_string(status));
	set_time(m, "updated_at", now);
	if (finished(status)) {
		set_time(m, "finished_at", now);
		json_object_set_new(m, "lease_until", json_null());
	}
}

/* Back in the queue for any worker: no holder, no lease. */
static void requeue(json_t *task, int64_t now, bool count_attempt)
{
	json_t *m = meta(task);
	json_int_t a = attempts_of(m);

	set_status(task, "queued", now);
	json_object_set_new(m, "worker", json_null());
	json_object_set_new(m, "lease_until", json_null());
	if (!count_attempt && a > 0)
		json_object_set_new(m, "attempts", json_integer(a - 1));
}

static bool held_by(const json_t *task, const char *worker)
{
	const char *w =
		json_string_value(json_object_get(json_object_get(task, "metadata"), "worker"));

	return worker && w && !strcmp(status_of(task), "in_progress") && !strcmp(w, worker);
}

static void renew(const struct cx_task_store *s, json_t *task, int64_t now)
{
	json_t *m = meta(task);

	set_time(m, "lease_until", now + s->conf.lease_ms);
	set_time(m, "updated_at", now);
}

static int apply_claim(const struct cx_task_store *s, json_t *task, struct cx_task_op *op,
		       int64_t now)
{
	json_t *m = meta(task);

	if (strcmp(status_of(task), "queued"))
		return 1;
	json_object_set_new(task, "status", json_string("in_progress"));
	json_object_set_new(m, "worker", json_string(op->worker));
	json_object_set_new(m, "attempts", json_integer(attempts_of(m) + 1));
	set_time(m, "started_at", now);
	renew(s, task, now);
	op->write = true;
	return 0;
}

static int apply_expire(const struct cx_task_store *s, json_t *task, struct cx_task_op *op,
			int64_t now)
{
	json_t *m = meta(task);
	int64_t lease = cx_task_field_ms(task, "lease_until");
	const char *w = json_string_value(json_object_get(m, "worker"));
	char why[256];

	if (strcmp(status_of(task), "in_progress") || (lease >= 0 && lease > now))
		return 1;
	op->write = true;
	if (json_is_true(json_object_get(m, "cancel_requested"))) {
		set_status(task, "cancelled", now);
		json_object_set_new(m, "error", json_string("cancelled; its worker had stopped"));
		return 0;
	}
	if (attempts_of(m) >= s->conf.max_attempts) {
		cx_fmt(why, sizeof(why),
		       "claimed %lld times and its worker stopped each time (the last, '%.64s', "
		       "let its lease of %ld ms run out); not retried after max_attempts %ld",
		       (long long)attempts_of(m), w ? w : "?", s->conf.lease_ms,
		       s->conf.max_attempts);
		set_status(task, "failed", now);
		json_object_set_new(m, "error", json_string(why));
		return 0;
	}
	cx_fmt(why, sizeof(why), "worker '%.64s' stopped (its lease ran out); queued again",
	       w ? w : "?");
	requeue(task, now, true);
	json_object_set_new(m, "error", json_string(why));
	return 0;
}

/* metadata keys only the store writes: progress may not set them. */
static const char *const own_keys[] = {
	"created_at", "updated_at", "started_at", "finished_at",      "source",
	"attempts",   "parent_id",  "worker",     "lease_until",      "approval",
	"state",      "cancel",     "error",      "cancel_requested", NULL
};

/* op->progress merged into metadata and op->state stored (PROGRESS, and HEARTBEAT and FINISH
 * when they carry them). */
static int merge_progress(json_t *task, const struct cx_task_op *op, struct cx_err *err)
{
	json_t *m = meta(task), *v;
	const char *key;

	if (op->progress && !json_is_object(op->progress))
		return cx_err_set(err, "progress must be an object");
	json_object_foreach((json_t *)op->progress, key, v) {
		if (one_of(key, own_keys))
			return cx_err_set(err,
					  "progress may not set metadata.%.64s (the store "
					  "keeps it)",
					  key);
	}
	/* Copies, as of the state and the held call: the task owns all it holds, so the dir
	 * store's index may keep it as it is while the caller goes on with its own. */
	if (op->progress && json_object_update_new(m, json_deep_copy(op->progress)))
		return cx_err_set(err, "out of memory");
	if (op->state)
		json_object_set_new(m, "state", json_deep_copy(op->state));
	return 0;
}

static int apply_progress(const struct cx_task_store *s, json_t *task, struct cx_task_op *op,
			  int64_t now, struct cx_err *err)
{
	if (merge_progress(task, op, err))
		return -1;
	renew(s, task, now);
	op->write = true;
	return 0;
}

static int apply_finish(json_t *task, struct cx_task_op *op, int64_t now, struct cx_err *err)
{
	json_t *m = meta(task), *r;
	int64_t started = cx_task_field_ms(task, "started_at");

	if (!op->status || !finished(op->status))
		return cx_err_set(err,
				  "a task finishes as completed, failed or cancelled, not "
				  "'%.32s'",
				  op->status ? op->status : "(none)");
	if (op->result && !json_is_object(op->result))
		return cx_err_set(err, "a task's result must be an object");
	if (merge_progress(task, op, err))
		return -1;
	r = op->result ? json_deep_copy(op->result) : json_object();
	if (!r)
		return cx_err_set(err, "out of memory");
	if (!json_object_get(r, "execution_time_ms"))
		json_object_set_new(r, "execution_time_ms",
				    json_integer(started >= 0 && now >= started ? now - started
										: 0));
	json_object_set_new(task, "result", r);
	set_status(task, op->status, now);
	json_object_set_new(m, "current_action", json_null());
	op->write = true;
	return 0;
}

static int apply_hold(json_t *task, struct cx_task_op *op, int64_t now, struct cx_err *err)
{
	json_t *m = meta(task), *a;
	char at[32];

	if (!json_is_object(op->pending))
		return cx_err_set(err, "the held call must be an object (tool, arguments, why)");
	cx_task_time_str(now, at, sizeof(at));
	a = json_pack("{s:o, s:s, s:n}", "pending", json_deep_copy(op->pending), "requested_at", at,
		      "decision");
	if (!a)
		return cx_err_set(err, "out of memory");
	json_object_set_new(m, "approval", a);
	if (op->state)
		json_object_set_new(m, "state", json_deep_copy(op->state));
	requeue(task, now, false);
	set_status(task, "awaiting_approval", now);
	op->write = true;
	return 0;
}

static int apply_approve(json_t *task, struct cx_task_op *op, int64_t now, struct cx_err *err)
{
	json_t *m = meta(task), *a = json_object_get(m, "approval");
	char at[32];

	if (strcmp(status_of(task), "awaiting_approval"))
		return cx_err_set(err, "task '%s' is not awaiting approval (it is %s)",
				  json_string_value(json_object_get(task, "id")), status_of(task));
	if (!json_is_object(a)) {
		a = json_object();
		json_object_set_new(m, "approval", a);
	}
	cx_task_time_str(now, at, sizeof(at));
	json_object_set_new(a, "decision", json_string(op->approve ? "approved" : "denied"));
	json_object_set_new(a, "by", op->by ? json_string(op->by) : json_null());
	json_object_set_new(a, "reason", op->reason ? json_string(op->reason) : json_null());
	json_object_set_new(a, "at", json_string(at));
	set_status(task, "queued", now);
	op->write = true;
	return 0;
}

static int apply_cancel(json_t *task, struct cx_task_op *op, int64_t now, struct cx_err *err)
{
	json_t *m = meta(task);
	const char *st = status_of(task);
	char at[32];

	if (finished(st))
		return cx_err_set(err, "task '%s' is already %s; there is nothing to cancel",
				  json_string_value(json_object_get(task, "id")), st);
	op->write = true;
	cx_task_time_str(now, at, sizeof(at));
	json_object_set_new(m, "cancel",
			    json_pack("{s:s?, s:s?, s:s}", "by", op->by, "reason", op->reason, "at",
				      at));
	json_object_set_new(m, "cancel_requested", json_true());
	if (!strcmp(st, "in_progress"))
		set_time(m, "updated_at", now);
	else
		set_status(task, "cancelled", now);
	return 0;
}

int cx_task_apply(const struct cx_task_store *s, json_t *task, struct cx_task_op *op, int64_t now,
		  struct cx_err *err)
{
	json_t *m = meta(task);

	op->write = false;
	op->cancel_requested = false;
	switch (op->kind) {
	case CX_OP_CLAIM:
		return apply_claim(s, task, op, now);
	case CX_OP_EXPIRE:
		return apply_expire(s, task, op, now);
	case CX_OP_APPROVE:
		return apply_approve(task, op, now, err);
	case CX_OP_CANCEL:
		return apply_cancel(task, op, now, err);
	default:
		break;
	}
	if (!held_by(task, op->worker)) {
		op->cancel_requested = !strcmp(status_of(task), "cancelled") ||
				       json_is_true(json_object_get(m, "cancel_requested"));
		return 1;
	}
	switch (op->kind) {
	case CX_OP_HEARTBEAT:
		if (merge_progress(task, op, err))
			return -1;
		renew(s, task, now);
		op->write = true;
		op->cancel_requested = json_is_true(json_object_get(m, "cancel_requested"));
		return op->cancel_requested ? 1 : 0;
	case CX_OP_PROGRESS:
		return apply_progress(s, task, op, now, err);
	case CX_OP_FINISH:
		return apply_finish(task, op, now, err);
	case CX_OP_RELEASE:
		op->write = true;
		if (json_is_true(json_object_get(m, "cancel_requested")))
			set_status(task, "cancelled", now);
		else
			requeue(task, now, false);
		return 0;
	case CX_OP_HOLD:
		return apply_hold(task, op, now, err);
	default:
		return cx_err_set(err, "unknown task operation %d", (int)op->kind);
	}
}

/* ---- choosing ---- */

enum cx_task_claimable cx_task_claimable(const json_t *task, const char *const *categories,
					 int64_t now_ms)
{
	const char *st = status_of(task);
	int64_t lease;

	if (!cx_task_category_in(json_string_value(json_object_get(json_object_get(task, "payload"),
								   "category")),
				 categories))
		return CX_CLAIM_NO;
	if (!strcmp(st, "queued"))
		return CX_CLAIM_QUEUED;
	if (strcmp(st, "in_progress"))
		return CX_CLAIM_NO;
	lease = cx_task_field_ms(task, "lease_until");
	return lease <= now_ms ? CX_CLAIM_EXPIRED : CX_CLAIM_NO;
}

bool cx_task_key_more_urgent(int pa, int64_t created_a, const char *id_a, int pb, int64_t created_b,
			     const char *id_b)
{
	if (pa != pb)
		return pa < pb;
	if (created_a != created_b)
		return created_a < created_b;
	return strcmp(id_a ? id_a : "", id_b ? id_b : "") < 0;
}

bool cx_task_more_urgent(const json_t *a, const json_t *b)
{
	return cx_task_key_more_urgent((int)json_integer_value(json_object_get(a, "priority")),
				       cx_task_field_ms(a, "created_at"),
				       json_string_value(json_object_get(a, "id")),
				       (int)json_integer_value(json_object_get(b, "priority")),
				       cx_task_field_ms(b, "created_at"),
				       json_string_value(json_object_get(b, "id")));
}
