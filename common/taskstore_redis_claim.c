/* Claiming from the Redis task store: the most urgent entry of the claimer's streams, taken
 * with XREADGROUP (so no second consumer gets it), then the task marked in_progress by the
 * commit script; a claimer with nothing to take blocks in XREADGROUP ... BLOCK on all its
 * streams and Redis wakes it when an entry is added. Dead workers: a task's entry stays
 * pending while it runs and every heartbeat XCLAIMs it (its idle clock restarts), so an entry
 * idle past the lease belongs to a worker that stopped; XAUTOCLAIM gives it to the reaper
 * ("~reaper", a name no worker can have), which applies CX_OP_EXPIRE: queued again with the
 * attempt counted, or failed after max_attempts, or cancelled when that was asked. The
 * reaper runs at the start of a claim, at most every quarter lease (5 s at most) per
 * process, and a blocked claimer wakes at that pace to run it: a dead worker's task is
 * queued again at most that long after its lease ran out. */
#include "taskstore_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define REAPER    "~reaper"
#define REAP_MAX  64   /* entries one reap looks at */
#define SKIPS_MAX 1000 /* stale entries one claim may step over */

/* KEYS the claimer's streams, priority-major, ARGV[3] of them per priority; ARGV group,
 * consumer. Looks at the next undelivered entry of each stream (after the group's
 * last-delivered-id) and delivers the most urgent (lowest priority, then oldest "c") with
 * XREADGROUP: {stream, entry id, task id}, or nil when every stream is drained. A stream
 * without the group (its keys flushed under the store) gets it back, from the start. */
static const char take_lua[] =
	"local g, who, n = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
	"local function field(kv, name)\n"
	"  for j = 1, #kv, 2 do if kv[j] == name then return kv[j + 1] end end\n"
	"end\n"
	"for base = 0, #KEYS - 1, n do\n"
	"  local bk, bc, bid\n"
	"  for i = base + 1, base + n do\n"
	"    local ok, gs = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[i])\n"
	"    local last\n"
	"    if ok then\n"
	"      for _, grp in ipairs(gs) do\n"
	"        if field(grp, 'name') == g then last = field(grp, 'last-delivered-id') end\n"
	"      end\n"
	"    end\n"
	"    if not last then\n"
	"      redis.call('XGROUP', 'CREATE', KEYS[i], g, '0', 'MKSTREAM')\n"
	"      last = '0-0'\n"
	"    end\n"
	"    if last then\n"
	"      local e = redis.call('XRANGE', KEYS[i], '(' .. last, '+', 'COUNT', 1)[1]\n"
	"      if e then\n"
	"        local c = tonumber(field(e[2], 'c')) or 0\n"
	"        local id = field(e[2], 'id') or ''\n"
	"        if not bk or c < bc or (c == bc and id < bid) then bk, bc, bid = i, c, id end\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  if bk then\n"
	"    local r = redis.call('XREADGROUP', 'GROUP', g, who, 'COUNT', 1, 'STREAMS',\n"
	"                         KEYS[bk], '>')\n"
	"    local e = r[1][2][1]\n"
	"    return {KEYS[bk], e[1], field(e[2], 'id') or ''}\n"
	"  end\n"
	"end\n"
	"return false\n";

/* KEYS every stream; ARGV group, consumer, min idle ms, at most this many. The entries idle
 * past the lease, XAUTOCLAIMed: {stream, entry id, task id, ...}. */
static const char reap_lua[] =
	"local out, max = {}, tonumber(ARGV[4])\n"
	"for _, k in ipairs(KEYS) do\n"
	"  local start = '0-0'\n"
	"  repeat\n"
	"    local ok, r = pcall(redis.call, 'XAUTOCLAIM', k, ARGV[1], ARGV[2], ARGV[3], start,\n"
	"                        'COUNT', 50)\n"
	"    if not ok then break end\n"
	"    start = r[1]\n"
	"    for _, e in ipairs(r[2]) do\n"
	"      if type(e) == 'table' then\n"
	"        local id = ''\n"
	"        for j = 1, #e[2], 2 do if e[2][j] == 'id' then id = e[2][j + 1] end end\n"
	"        out[#out + 1] = k; out[#out + 1] = e[1]; out[#out + 1] = id\n"
	"      end\n"
	"    end\n"
	"  until start == '0-0' or #out >= 3 * max\n"
	"end\n"
	"return out\n";

static struct cx_rs_script take_script = { take_lua, "" };
static struct cx_rs_script reap_script = { reap_lua, "" };

void cx_rs_claim_scripts_init(void)
{
	cx_rs_script_init(&take_script);
	cx_rs_script_init(&reap_script);
}

enum {
	TAKEN = 0,
	NONE = 1,
	SKIPPED = 2
};

static bool is_str(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING;
}

/* Makes the delivered entry stream/eid worker's claim of task id: TAKEN with *task, SKIPPED
 * when the entry no longer stands for a queued task (dropped), -1 with err. */
static int adopt(struct cx_rs_store *rs, redisContext *c, const char *stream, const char *eid,
		 const char *id, const char *worker, json_t **task, struct cx_err *err)
{
	struct cx_task_op op = { .kind = CX_OP_CLAIM, .worker = worker };
	struct cx_rs_stored st;
	struct cx_rs_commit cm = { .id = id, .op = CX_RS_ENTRY_KEEP };
	char entry[sizeof(st.entry)];
	int tries, rc;

	snprintf(entry, sizeof(entry), "%s %s", stream, eid);
	for (tries = 0; tries < 100; tries++) {
		rc = cx_task_id_valid(id) ? cx_rs_load(rs, c, id, &st, err) : 1;
		if (rc < 0 && c->err)
			return -1;
		/* A garbled task must not block its queue: its entry goes, the task stays for
		 * a person to look at. */
		if (rc < 0)
			rc = 1;
		if (rc == 1 || strcmp(st.entry, entry) ||
		    cx_task_apply(&rs->head, st.task, &op, cx_task_now_ms(), err) != 0) {
			json_decref(rc == 1 ? NULL : st.task);
			cx_rs_drop_entry(rs, c, stream, eid);
			return SKIPPED;
		}
		cm.rev = st.rev;
		cm.entry = st.entry;
		cm.json = json_dumps(st.task, JSON_COMPACT);
		rc = cm.json ? cx_rs_commit(rs, c, &cm, err) : cx_err_set(err, "out of memory");
		free((char *)cm.json);
		if (rc == 1) {
			*task = st.task;
			return TAKEN;
		}
		json_decref(st.task);
		if (rc < 0)
			return -1;
	}
	return cx_err_set(err, "task '%s' changed too often to claim; retry in a moment", id);
}

/* Puts a delivered entry back in its queue (a new entry; the task stays queued). */
static void give_back(struct cx_rs_store *rs, redisContext *c, const char *stream, const char *eid,
		      const char *id, const char *expect_consumer)
{
	struct cx_rs_stored st;
	struct cx_rs_commit cm = { .id = id, .op = CX_RS_ENTRY_ACK };
	struct cx_err err;
	char entry[sizeof(st.entry)];

	snprintf(entry, sizeof(entry), "%s %s", stream, eid);
	if (!cx_task_id_valid(id) || cx_rs_load(rs, c, id, &st, &err) != 0) {
		cx_rs_drop_entry(rs, c, stream, eid);
		return;
	}
	if (!strcmp(st.entry, entry) &&
	    !strcmp(json_string_value(json_object_get(st.task, "status")), "queued")) {
		cm.rev = st.rev;
		cm.entry = st.entry;
		cm.add = cx_rs_stream_of(rs, st.task);
		cm.created = cx_task_field_ms(st.task, "created_at");
		cm.expect_consumer = expect_consumer;
		cx_rs_commit(rs, c, &cm, &err);
	} else if (strcmp(st.entry, entry)) {
		cx_rs_drop_entry(rs, c, stream, eid);
	}
	json_decref(st.task);
}

/* An entry the reaper took (idle past the lease): its task expired, or, queued but never
 * made in_progress (its claimer died in between), put back. */
static void reap_one(struct cx_rs_store *rs, redisContext *c, const char *stream, const char *eid,
		     const char *id)
{
	struct cx_task_op op = { .kind = CX_OP_EXPIRE };
	struct cx_rs_stored st = { 0 };
	struct cx_rs_commit cm = { .id = id, .expect_consumer = REAPER };
	struct cx_err err;
	char entry[sizeof(st.entry)], before[32];
	int64_t now = cx_task_now_ms(), lease;

	snprintf(entry, sizeof(entry), "%s %s", stream, eid);
	if (!cx_task_id_valid(id) || cx_rs_load(rs, c, id, &st, &err) != 0 ||
	    strcmp(st.entry, entry)) {
		json_decref(st.task);
		cx_rs_drop_entry(rs, c, stream, eid);
		return;
	}
	snprintf(before, sizeof(before), "%s",
		 json_string_value(json_object_get(st.task, "status")));
	if (!strcmp(before, "queued")) {
		json_decref(st.task);
		give_back(rs, c, stream, eid, id, REAPER);
		return;
	}
	/* Redis's idle clock says the lease ran out; a worker's clock may run behind it, so the
	 * lease_until it wrote counts as past (the commit checks no heartbeat came since). */
	lease = cx_task_field_ms(st.task, "lease_until");
	if (cx_task_apply(&rs->head, st.task, &op, lease > now ? lease : now, &err) == 0 &&
	    op.write) {
		cm.rev = st.rev;
		cm.entry = st.entry;
		cx_rs_plan_entry(rs, before, st.task, op.kind, NULL, &cm);
		cm.json = json_dumps(st.task, JSON_COMPACT);
		if (cm.json)
			cx_rs_commit(rs, c, &cm, &err);
		free((char *)cm.json);
	}
	json_decref(st.task);
}

static int64_t reap_period(const struct cx_rs_store *rs)
{
	int64_t p = rs->head.conf.lease_ms / 4;

	return p < 20 ? 20 : p > 5000 ? 5000 : p;
}

/* Recovers the entries of dead workers, at most once per reap_period in this process. */
static void reap(struct cx_rs_store *rs, redisContext *c)
{
	int64_t now = cx_now_ms(), due = __atomic_load_n(&rs->next_reap, __ATOMIC_ACQUIRE);
	const char *keys[CX_RS_STREAMS], *args[4];
	char idle[24], max[8];
	struct cx_err err;
	redisReply *r;
	size_t i;

	if (now < due || !__atomic_compare_exchange_n(&rs->next_reap, &due, now + reap_period(rs),
						      false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	for (i = 0; i < CX_RS_STREAMS; i++)
		keys[i] = rs->streams[i];
	snprintf(idle, sizeof(idle), "%ld", rs->head.conf.lease_ms);
	snprintf(max, sizeof(max), "%d", REAP_MAX);
	args[0] = CX_RS_GROUP;
	args[1] = REAPER;
	args[2] = idle;
	args[3] = max;
	r = cx_rs_eval(&rs->link, c, &reap_script, CX_RS_STREAMS, keys, 4, args, NULL, &err);
	if (!r)
		return;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 2 < r->elements; i += 3) {
		if (is_str(r->element[i]) && is_str(r->element[i + 1]) && is_str(r->element[i + 2]))
			reap_one(rs, c, r->element[i]->str, r->element[i + 1]->str,
				 r->element[i + 2]->str);
	}
	freeReplyObject(r);
}

/* Takes the most urgent undelivered entry of keys: TAKEN, NONE or -1. */
static int take(struct cx_rs_store *rs, redisContext *c, const char **keys, size_t n, size_t per,
		const char *worker, json_t **task, struct cx_err *err)
{
	const char *args[3] = { CX_RS_GROUP, worker };
	char per_s[8];
	redisReply *r;
	int rc, skips;

	snprintf(per_s, sizeof(per_s), "%zu", per);
	args[2] = per_s;
	for (skips = 0; skips < SKIPS_MAX; skips++) {
		r = cx_rs_eval(&rs->link, c, &take_script, (int)n, keys, 3, args, NULL, err);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !is_str(r->element[0]) ||
		    !is_str(r->element[1]) || !is_str(r->element[2])) {
			freeReplyObject(r);
			return NONE;
		}
		rc = adopt(rs, c, r->element[0]->str, r->element[1]->str, r->element[2]->str,
			   worker, task, err);
		freeReplyObject(r);
		if (rc != SKIPPED)
			return rc;
	}
	return NONE;
}

/* The "id" and "c" fields of a stream entry [eid, [f, v, ...]]. */
static bool entry_fields(const redisReply *e, const char **id, long long *created)
{
	size_t j;

	*id = NULL;
	*created = 0;
	if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !is_str(e->element[0]) ||
	    e->element[1]->type != REDIS_REPLY_ARRAY)
		return false;
	for (j = 0; j + 1 < e->element[1]->elements; j += 2) {
		const redisReply *f = e->element[1]->element[j], *v = e->element[1]->element[j + 1];

		if (is_str(f) && is_str(v) && !strcmp(f->str, "id"))
			*id = v->str;
		else if (is_str(f) && is_str(v) && !strcmp(f->str, "c"))
			*created = strtoll(v->str, NULL, 10);
	}
	return *id != NULL;
}

/* From a blocking XREADGROUP's answer (one entry per stream at most): the most urgent is
 * adopted, the others given back. */
static int choose(struct cx_rs_store *rs, redisContext *c, const redisReply *r, const char **keys,
		  size_t n, size_t per, const char *worker, json_t **task, struct cx_err *err)
{
	const redisReply *best = NULL, *best_s = NULL;
	size_t i, k, best_k = 0;
	long long cr, best_c = 0;
	const char *id;

	for (i = 0; i < r->elements; i++) {
		const redisReply *s = r->element[i];

		if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || !is_str(s->element[0]) ||
		    s->element[1]->type != REDIS_REPLY_ARRAY || s->element[1]->elements < 1 ||
		    !entry_fields(s->element[1]->element[0], &id, &cr))
			continue;
		for (k = 0; k < n && strcmp(keys[k], s->element[0]->str); k++)
			;
		if (!best || k / per < best_k / per || (k / per == best_k / per && cr < best_c)) {
			best = s->element[1]->element[0];
			best_s = s;
			best_k = k;
			best_c = cr;
		}
	}
	for (i = 0; i < r->elements; i++) {
		const redisReply *s = r->element[i];

		if (s != best_s && s->type == REDIS_REPLY_ARRAY && s->elements == 2 &&
		    s->element[1]->type == REDIS_REPLY_ARRAY && s->element[1]->elements >= 1 &&
		    entry_fields(s->element[1]->element[0], &id, &cr))
			give_back(rs, c, s->element[0]->str,
				  s->element[1]->element[0]->element[0]->str, id, NULL);
	}
	if (!best)
		return SKIPPED;
	entry_fields(best, &id, &cr);
	return adopt(rs, c, best_s->element[0]->str, best->element[0]->str, id, worker, task, err);
}

/* Waits up to ms in XREADGROUP ... BLOCK for an entry on keys: TAKEN, SKIPPED (nothing
 * came, or nothing worth taking) or -1. */
static int wait_entry(struct cx_rs_store *rs, redisContext *c, const char **keys, size_t n,
		      size_t per, const char *worker, long ms, json_t **task, struct cx_err *err)
{
	const char **argv = calloc(9 + 2 * n, sizeof(*argv));
	char block[24];
	redisReply *r;
	size_t i;
	int rc = SKIPPED;

	if (!argv)
		return cx_err_set(err, "out of memory");
	snprintf(block, sizeof(block), "%ld", ms);
	argv[0] = "XREADGROUP";
	argv[1] = "GROUP";
	argv[2] = CX_RS_GROUP;
	argv[3] = worker;
	argv[4] = "COUNT";
	argv[5] = "1";
	argv[6] = "BLOCK";
	argv[7] = block;
	argv[8] = "STREAMS";
	for (i = 0; i < n; i++) {
		argv[9 + i] = keys[i];
		argv[9 + n + i] = ">";
	}
	cx_rs_set_timeout(c, ms + rs->link.timeout_ms);
	r = cx_rs_cmd(&rs->link, c, (int)(9 + 2 * n), argv, NULL, err);
	cx_rs_set_timeout(c, rs->link.timeout_ms);
	free(argv);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY)
		rc = choose(rs, c, r, keys, n, per, worker, task, err);
	freeReplyObject(r);
	return rc;
}

int cx_rs_claim(struct cx_task_store *s, const char *worker, const char *const *categories,
		long wait_ms, json_t **task, struct cx_err *err)
{
	struct cx_rs_store *rs = (struct cx_rs_store *)s;
	const char *keys[CX_RS_STREAMS];
	size_t n = 0, per = 0, p, k;
	int64_t deadline = cx_now_ms() + wait_ms, left;
	redisContext *c;
	int rc;

	*task = NULL;
	for (k = 0; k < CX_RS_CATS; k++)
		per += cx_task_category_in(cx_task_categories[k], categories);
	for (p = 0; p < CX_RS_PRIOS; p++) {
		for (k = 0; k < CX_RS_CATS; k++) {
			if (cx_task_category_in(cx_task_categories[k], categories))
				keys[n++] = rs->streams[p * CX_RS_CATS + k];
		}
	}
	if (n == 0)
		return 0;
	c = cx_rs_acquire(&rs->link, err);
	if (!c)
		return -1;
	for (;;) {
		reap(rs, c);
		rc = take(rs, c, keys, n, per, worker, task, err);
		if (rc != NONE)
			break;
		left = deadline - cx_now_ms();
		if (left <= 0)
			break;
		rc = wait_entry(rs, c, keys, n, per, worker,
				left < reap_period(rs) ? (long)left : (long)reap_period(rs), task,
				err);
		if (rc != SKIPPED)
			break;
	}
	cx_rs_put(&rs->link, c);
	return rc < 0 ? -1 : 0;
}
