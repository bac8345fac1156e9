/* The Redis task store: tasks as JSON in a hash per task, a stream per category and priority
 * with one consumer group for the queue, pub/sub for changes (the key layout is in
 * taskstore_redis.h). What a change means is cx_task_apply's (taskstore_logic.c); this file
 * makes each change atomic across every process that opens the store:
 *
 *   - every write of a task is a Lua script that checks the task's "rev" (compare and set),
 *     writes it, moves its stream entry (XACK + XDEL when it leaves the queue, XADD when it
 *     comes back, XCLAIM to reset the lease's idle clock on a heartbeat) and PUBLISHes its id,
 *     all at once; a writer that lost the race reads again and re-applies;
 *   - a claim takes the entry with XREADGROUP (so a second consumer never gets it) and then
 *     marks the task in_progress; one waiting for work blocks in XREADGROUP ... BLOCK, woken by
 *     Redis the moment an entry is added;
 *   - a dead worker's entry stays pending; once idle past the lease, XAUTOCLAIM hands it to
 *     the next claimer, which applies CX_OP_EXPIRE (queued again with the attempt counted, or
 *     failed after max_attempts).
 * A create is one script too: all of a batch or none. Every task acknowledged is in Redis
 * (durable as its appendfsync says: the README asks for appendonly yes). */
#include "taskstore_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const redis_keys[] = { "url",    "password",   "username",
					  "prefix", "timeout_ms", NULL };

#define RS(s) ((struct cx_rs_store *)(s))

/* ---- scripts ---- */

/* KEYS[1] the index; ARGV prefix, channel, then per task: id, json, created ms, stream,
 * parent ("" for none). Refuses the whole batch if an id exists. */
static const char create_lua[] =
	"local P, ch = ARGV[1], ARGV[2]\n"
	"for b = 3, #ARGV, 5 do\n"
	"  if redis.call('EXISTS', P .. 'task:' .. ARGV[b]) == 1 then\n"
	"    return redis.error_reply('ERR task id ' .. ARGV[b] .. ' exists already')\n"
	"  end\n"
	"end\n"
	"for b = 3, #ARGV, 5 do\n"
	"  local id, c, q, parent = ARGV[b], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]\n"
	"  local e = redis.call('XADD', q, '*', 'id', id, 'c', c)\n"
	"  redis.call('HSET', P .. 'task:' .. id, 'json', ARGV[b + 1], 'rev', 1,\n"
	"             'entry', q .. ' ' .. e)\n"
	"  redis.call('ZADD', KEYS[1], c, id)\n"
	"  if parent ~= '' then redis.call('ZADD', P .. 'children:' .. parent, c, id) end\n"
	"end\n"
	"for b = 3, #ARGV, 5 do redis.call('PUBLISH', ch, ARGV[b]) end\n"
	"return (#ARGV - 2) / 5\n";

/* KEYS[1] the task, KEYS[2] the stream of its entry, KEYS[3] the stream to add it to;
 * ARGV rev, json ("": unchanged), entry op ("", "ack", "touch"), entry id, group, consumer,
 * created ms ("": no XADD), task id, channel, the consumer the entry must be pending with
 * ("": any). The new rev, 0 when rev has moved on (or the entry to another consumer), -1
 * when there is no such task. */
static const char commit_lua[] =
	"local cur = redis.call('HGET', KEYS[1], 'rev')\n"
	"if not cur then return -1 end\n"
	"if cur ~= ARGV[1] then return 0 end\n"
	"if ARGV[10] ~= '' then\n"
	"  local p = redis.call('XPENDING', KEYS[2], ARGV[5], ARGV[4], ARGV[4], 1)[1]\n"
	"  if not p or p[2] ~= ARGV[10] then return 0 end\n"
	"end\n"
	"local rev = tonumber(cur) + 1\n"
	"local f = {'rev', rev}\n"
	"if ARGV[2] ~= '' then f[#f + 1] = 'json'; f[#f + 1] = ARGV[2] end\n"
	"if ARGV[3] == 'ack' then\n"
	"  redis.call('XACK', KEYS[2], ARGV[5], ARGV[4])\n"
	"  redis.call('XDEL', KEYS[2], ARGV[4])\n"
	"  f[#f + 1] = 'entry'; f[#f + 1] = ''\n"
	"elseif ARGV[3] == 'touch' then\n"
	"  redis.call('XCLAIM', KEYS[2], ARGV[5], ARGV[6], 0, ARGV[4], 'JUSTID')\n"
	"end\n"
	"if ARGV[7] ~= '' then\n"
	"  local e = redis.call('XADD', KEYS[3], '*', 'id', ARGV[8], 'c', ARGV[7])\n"
	"  f[#f + 1] = 'entry'; f[#f + 1] = KEYS[3] .. ' ' .. e\n"
	"end\n"
	"redis.call('HSET', KEYS[1], unpack(f))\n"
	"if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[9], ARGV[8]) end\n"
	"return rev\n";

static struct cx_rs_script create_script = { create_lua, "" };
static struct cx_rs_script commit_script = { commit_lua, "" };
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
	cx_rs_script_init(&create_script);
	cx_rs_script_init(&commit_script);
	cx_rs_claim_scripts_init();
}

/* ---- small helpers ---- */

static int oom(struct cx_err *err)
{
	return cx_err_set(err, "out of memory");
}

static const char *status_of(const json_t *task)
{
	const char *st = json_string_value(json_object_get(task, "status"));

	return st ? st : "";
}

static const char *task_id(const json_t *task)
{
	const char *id = json_string_value(json_object_get(task, "id"));

	return id ? id : "";
}

void cx_rs_task_key(const struct cx_rs_store *rs, const char *id, char *out)
{
	snprintf(out, CX_RS_KEY_MAX, "%stask:%s", rs->prefix, id);
}

const char *cx_rs_stream_of(const struct cx_rs_store *rs, const json_t *task)
{
	const char *cat =
		json_string_value(json_object_get(json_object_get(task, "payload"), "category"));
	json_int_t prio = json_integer_value(json_object_get(task, "priority"));
	size_t i;

	if (prio < 1 || prio > CX_RS_PRIOS)
		prio = CX_RS_PRIOS;
	for (i = 0; i < CX_RS_CATS; i++) {
		if (cat && !strcmp(cat, cx_task_categories[i]))
			return rs->streams[(prio - 1) * CX_RS_CATS + i];
	}
	return rs->streams[(prio - 1) * CX_RS_CATS + CX_RS_CATS - 1]; /* general */
}

static int garbled(const char *id, struct cx_err *err)
{
	return cx_err_set(err, "the task store holds a garbled task '%s'; its JSON does not parse",
			  id);
}

/* A stored task's JSON as an object; NULL with err. */
json_t *cx_rs_parse_task(const char *id, const redisReply *r, struct cx_err *err)
{
	json_t *t;

	if (r->type != REDIS_REPLY_STRING || r->len > CX_TASK_FILE_MAX)
		return garbled(id, err), NULL;
	t = json_loadb(r->str, r->len, 0, NULL);
	if (!json_is_object(t)) {
		json_decref(t);
		return garbled(id, err), NULL;
	}
	return t;
}

/* Redis 7 or later (XAUTOCLAIM's answer, exclusive XRANGE, Lua's XINFO): checked on the
 * first connection. */
static int check_version(struct cx_rs_store *rs, redisContext *c, struct cx_err *err)
{
	const char *argv[2] = { "INFO", "server" };
	redisReply *r;
	const char *v;
	long major = 0;

	if (__atomic_load_n(&rs->version_ok, __ATOMIC_ACQUIRE))
		return 0;
	r = cx_rs_cmd(&rs->link, c, 2, argv, NULL, err);
	if (!r)
		return -1;
	v = r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:") : NULL;
	if (v)
		major = strtol(v + 14, NULL, 10);
	freeReplyObject(r);
	if (major < 7)
		return cx_err_set(err, "the task store needs Redis 7 or later; %s runs %s",
				  rs->link.where,
				  v ? "an older one" : "something that is not Redis");
	__atomic_store_n(&rs->version_ok, true, __ATOMIC_RELEASE);
	return 0;
}

/* Creates the consumer group of every stream on a new connection (BUSYGROUP: it exists). */
static int prepare(redisContext *c, void *ctx, struct cx_err *err)
{
	struct cx_rs_store *rs = ctx;
	size_t i;
	void *r;
	int rc = 0;

	if (check_version(rs, c, err))
		return -1;
	for (i = 0; i < CX_RS_STREAMS; i++)
		redisAppendCommand(c, "XGROUP CREATE %s " CX_RS_GROUP " 0 MKSTREAM",
				   rs->streams[i]);
	for (i = 0; i < CX_RS_STREAMS; i++) {
		if (redisGetReply(c, &r) != REDIS_OK)
			return cx_rs_fail(&rs->link, c, err);
		if (rc == 0 && ((redisReply *)r)->type == REDIS_REPLY_ERROR &&
		    strncmp(((redisReply *)r)->str, "BUSYGROUP", 9) != 0) {
			rc = cx_rs_reply_error(&rs->link, r, err); /* frees r */
			continue;
		}
		freeReplyObject(r);
	}
	return rc;
}

/* ---- writing one task ---- */

int cx_rs_commit(struct cx_rs_store *rs, redisContext *c, const struct cx_rs_commit *cm,
		 struct cx_err *err)
{
	char key[CX_RS_KEY_MAX], stream[CX_RS_KEY_MAX] = "", eid[64] = "", created[24] = "";
	const char *sp = strchr(cm->entry, ' ');
	const char *keys[3], *args[10];
	redisReply *r;
	int rc;

	cx_rs_task_key(rs, cm->id, key);
	if (sp && (size_t)(sp - cm->entry) < sizeof(stream) && strlen(sp + 1) < sizeof(eid)) {
		memcpy(stream, cm->entry, (size_t)(sp - cm->entry));
		stream[sp - cm->entry] = '\0';
		snprintf(eid, sizeof(eid), "%s", sp + 1);
	}
	if (cm->add)
		snprintf(created, sizeof(created), "%lld", (long long)cm->created);
	keys[0] = key;
	keys[1] = stream[0] ? stream : key;
	keys[2] = cm->add ? cm->add : key;
	args[0] = cm->rev;
	args[1] = cm->json ? cm->json : "";
	args[2] = !eid[0]                       ? ""
		  : cm->op == CX_RS_ENTRY_ACK   ? "ack"
		  : cm->op == CX_RS_ENTRY_TOUCH ? "touch"
						: "";
	args[3] = eid;
	args[4] = CX_RS_GROUP;
	args[5] = cm->consumer ? cm->consumer : "";
	args[6] = created;
	args[7] = cm->id;
	args[8] = rs->k_events;
	args[9] = cm->expect_consumer && eid[0] ? cm->expect_consumer : "";
	r = cx_rs_eval(&rs->link, c, &commit_script, 3, keys, 10, args, NULL, err);
	if (!r)
		return -1;
	rc = r->type == REDIS_REPLY_INTEGER ? (r->integer > 0 ? 1 : r->integer == 0 ? 0 : -2) : -3;
	freeReplyObject(r);
	if (rc == -2)
		return cx_err_set(err, "task '%s' vanished from the task store", cm->id);
	if (rc == -3)
		return cx_err_set(err, "task store: unexpected answer to a write");
	return rc;
}

int cx_rs_load(struct cx_rs_store *rs, redisContext *c, const char *id, struct cx_rs_stored *st,
	       struct cx_err *err)
{
	char key[CX_RS_KEY_MAX];
	const char *argv[5] = { "HMGET", key, "json", "rev", "entry" };
	redisReply *r;
	int rc = 1;

	cx_rs_task_key(rs, id, key);
	st->task = NULL;
	r = cx_rs_cmd(&rs->link, c, 5, argv, NULL, err);
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		rc = cx_err_set(err, "task store: unexpected answer to HMGET");
	} else if (r->element[0]->type == REDIS_REPLY_STRING &&
		   r->element[1]->type == REDIS_REPLY_STRING) {
		st->task = cx_rs_parse_task(id, r->element[0], err);
		rc = st->task ? 0 : -1;
		snprintf(st->rev, sizeof(st->rev), "%s", r->element[1]->str);
		snprintf(st->entry, sizeof(st->entry), "%s",
			 r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "");
	}
	freeReplyObject(r);
	return rc;
}

static bool in_queue(const char *status)
{
	return !strcmp(status, "queued") || !strcmp(status, "in_progress");
}

void cx_rs_plan_entry(struct cx_rs_store *rs, const char *before, const json_t *task,
		      enum cx_task_op_kind kind, const char *worker, struct cx_rs_commit *cm)
{
	const char *after = status_of(task);

	cm->op = CX_RS_ENTRY_KEEP;
	cm->add = NULL;
	if (!in_queue(after)) {
		cm->op = CX_RS_ENTRY_ACK;
	} else if (!strcmp(after, "queued") && (strcmp(before, "queued") || !cm->entry[0])) {
		cm->op = CX_RS_ENTRY_ACK;
		cm->add = cx_rs_stream_of(rs, task);
		cm->created = cx_task_field_ms(task, "created_at");
	} else if (!strcmp(after, "in_progress") && !strcmp(before, "in_progress") &&
		   (kind == CX_OP_HEARTBEAT || kind == CX_OP_PROGRESS)) {
		cm->op = CX_RS_ENTRY_TOUCH;
		cm->consumer = worker;
	}
}

int cx_rs_update_on(struct cx_rs_store *rs, redisContext *c, const char *id, struct cx_task_op *op,
		    json_t **task, struct cx_err *err)
{
	struct cx_rs_stored st;
	struct cx_rs_commit cm = { .id = id };
	char before[32];
	char *json;
	int tries, rc, w;

	for (tries = 0; tries < 100; tries++) {
		rc = cx_rs_load(rs, c, id, &st, err);
		if (rc != 0)
			return rc;
		snprintf(before, sizeof(before), "%s", status_of(st.task));
		rc = cx_task_apply(&rs->head, st.task, op, cx_task_now_ms(), err);
		if (rc < 0 || !op->write)
			goto done;
		json = json_dumps(st.task, JSON_COMPACT);
		if (!json) {
			json_decref(st.task);
			return oom(err);
		}
		cm.rev = st.rev;
		cm.json = json;
		cm.entry = st.entry;
		cx_rs_plan_entry(rs, before, st.task, op->kind, op->worker, &cm);
		/* Refused rather than stored past what a read accepts. */
		w = strlen(json) > CX_TASK_FILE_MAX
			    ? cx_err_set(err,
					 "task '%s' would be over %d bytes (its saved state is too "
					 "large); nothing was changed",
					 id, CX_TASK_FILE_MAX)
			    : cx_rs_commit(rs, c, &cm, err);
		free(json);
		if (w != 0) {
			rc = w < 0 ? -1 : rc;
			goto done;
		}
		json_decref(st.task);
	}
	return cx_err_set(err, "task '%s' changed too often to update; retry in a moment", id);
done:
	if (task && rc >= 0)
		*task = json_incref(st.task);
	json_decref(st.task);
	return rc;
}

static int rs_update(struct cx_task_store *s, const char *id, struct cx_task_op *op, json_t **task,
		     struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	redisContext *c = cx_rs_acquire(&rs->link, err);
	int rc;

	if (task)
		*task = NULL;
	if (!c)
		return -1;
	rc = cx_rs_update_on(rs, c, id, op, task, err);
	cx_rs_put(&rs->link, c);
	return rc;
}

/* ---- creating ---- */

static int rs_create(struct cx_task_store *s, const json_t *tasks, struct cx_err *err)
{
	struct cx_rs_store *rs = RS(s);
	size_t n = json_array_size(tasks), i, nargs = 2 + 5 * n;
	const char **args = calloc(nargs, sizeof(*args));
	char **owned = calloc(2 * n, sizeof(*owned));
	const char *keys[1] = { rs->k_tasks };
	redisContext *c = NULL;
	redisReply *r = NULL;
	int rc = -1;

	if (!args || !owned) {
		oom(err);
		goto out;
	}
	args[0] = rs->prefix;
	args[1] = rs->k_events;
	for (i = 0; i < n; i++) {
		const json_t *t = json_array_get(tasks, i);
		const char *parent = json_string_value(
			json_object_get(json_object_get(t, "metadata"), "parent_id"));

		owned[2 * i] = json_dumps(t, JSON_COMPACT);
		owned[2 * i + 1] = malloc(24);
		if (!owned[2 * i] || !owned[2 * i + 1]) {
			oom(err);
			goto out;
		}
		snprintf(owned[2 * i + 1], 24, "%lld",
			 (long long)cx_task_field_ms(t, "created_at"));
		args[2 + 5 * i] = task_id(t);
		args[3 + 5 * i] = owned[2 * i];
		args[4 + 5 * i] = owned[2 * i + 1];
		args[5 + 5 * i] = cx_rs_stream_of(rs, t);
		args[6 + 5 * i] = parent ? parent : "";
	}
	c = cx_rs_acquire(&rs->link, err);
	if (!c)
		goto out;
	r = cx_rs_eval(&rs->link, c, &create_script, 1, keys, (int)nargs, args, NULL, err);
	if (r)
		rc = 0;
out:
	if (r)
		freeReplyObject(r);
	cx_rs_put(&rs->link, c);
	for (i = 0; owned && i < 2 * n; i++)
		free(owned[i]);
	free(owned);
	free(args);
	return rc;
}

void cx_rs_drop_entry(struct cx_rs_store *rs, redisContext *c, const char *stream, const char *eid)
{
	void *r;

	redisAppendCommand(c, "XACK %s " CX_RS_GROUP " %s", stream, eid);
	redisAppendCommand(c, "XDEL %s %s", stream, eid);
	if (redisGetReply(c, &r) == REDIS_OK) {
		freeReplyObject(r);
		if (redisGetReply(c, &r) == REDIS_OK)
			freeReplyObject(r);
	}
}

/* ---- watching ---- */

static int rs_watch(struct cx_task_store *s, struct cx_err *err)
{
	return cx_rs_watch_start(&RS(s)->watcher, err);
}

static void rs_unwatch(struct cx_task_store *s)
{
	cx_rs_watch_stop(&RS(s)->watcher);
}

/* ---- opening ---- */

static bool prefix_ok(const char *p)
{
	size_t n = strlen(p), i;

	if (n == 0 || n > 40)
		return false;
	for (i = 0; i < n; i++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-{}",
			    p[i]))
			return false;
	}
	return true;
}

static int set_keys(struct cx_rs_store *rs, const json_t *conf, struct cx_err *err)
{
	const json_t *p = json_object_get(conf, "prefix");
	size_t i, j;

	if (p && (!json_is_string(p) || !prefix_ok(json_string_value(p))))
		return cx_err_set(err, "tasks.prefix: 1 to 40 of [A-Za-z0-9._:-{}], such as "
				       "\"cortex:\"");
	snprintf(rs->prefix, sizeof(rs->prefix), "%s", p ? json_string_value(p) : "cortex:");
	snprintf(rs->k_tasks, sizeof(rs->k_tasks), "%stasks", rs->prefix);
	snprintf(rs->k_agents, sizeof(rs->k_agents), "%sagents", rs->prefix);
	snprintf(rs->k_events, sizeof(rs->k_events), "%sevents", rs->prefix);
	for (i = 0; i < CX_RS_PRIOS; i++) {
		for (j = 0; j < CX_RS_CATS; j++)
			snprintf(rs->streams[i * CX_RS_CATS + j], CX_RS_KEY_MAX, "%sq:%s:%zu",
				 rs->prefix, cx_task_categories[j], i + 1);
	}
	return 0;
}

static struct cx_task_store *rs_open(const json_t *conf, const struct cx_task_store_conf *cc,
				     struct cx_err *err)
{
	struct cx_rs_store *rs = calloc(1, sizeof(*rs));
	struct cx_err e = { 0 };
	redisContext *c;

	if (!rs)
		return oom(err), NULL;
	pthread_once(&scripts_once, scripts_init);
	if (cx_rs_link_init(&rs->link, conf, err) || set_keys(rs, conf, err)) {
		cx_rs_link_release(&rs->link);
		free(rs);
		return NULL;
	}
	rs->link.prepare = prepare;
	rs->link.prepare_ctx = rs;
	cx_task_store_head_init(&rs->head, &cx_task_store_redis_ops, cc, "%s%s%s", rs->link.where,
				strcmp(rs->prefix, "cortex:") ? " prefix " : "",
				strcmp(rs->prefix, "cortex:") ? rs->prefix : "");
	rs->watcher.link = &rs->link;
	rs->watcher.store = &rs->head;
	snprintf(rs->watcher.channel, sizeof(rs->watcher.channel), "%s", rs->k_events);
	/* Unreachable now is fine (calls fail until Redis is back); refused credentials or a
	 * refused command are a configuration to fix, said at start. */
	c = cx_rs_acquire(&rs->link, &e);
	if (!c && strncmp(e.msg, "task store unreachable", 22) != 0) {
		cx_err_set(err, "%s", e.msg);
		cx_task_store_head_release(&rs->head);
		cx_rs_link_release(&rs->link);
		free(rs);
		return NULL;
	}
	cx_rs_put(&rs->link, c);
	return &rs->head;
}

static void rs_close(struct cx_task_store *s)
{
	struct cx_rs_store *rs = RS(s);

	cx_rs_watch_stop(&rs->watcher);
	cx_rs_link_release(&rs->link);
	cx_task_store_head_release(&rs->head);
	free(rs);
}

const struct cx_task_store_ops cx_task_store_redis_ops = {
	.name = "redis",
	.keys = redis_keys,
	.open = rs_open,
	.close = rs_close,
	.create = rs_create,
	.get = cx_rs_get,
	.snapshot = cx_rs_snapshot,
	.update = rs_update,
	.claim = cx_rs_claim,
	.agent_put = cx_rs_agent_put,
	.agent_list = cx_rs_agent_list,
	.watch = rs_watch,
	.unwatch = rs_unwatch,
	.list = cx_rs_list,
	.children = cx_rs_children,
};
