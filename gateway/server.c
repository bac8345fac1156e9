/* The transport-neutral core of cortex-gateway: JSON-RPC classification, the MCP methods,
 * and dispatch of tools/call (registry -> policy -> schema -> executor -> audit).
 *
 * Threading: cx_server_submit() runs on a transport thread and never blocks on a tool. A
 * tool call becomes a job for the worker pool (unless the tool is CX_NONBLOCKING); the
 * exchange's reply() is then called from a worker, or from the deadline watchdog when the
 * call runs out of time — whichever comes first; the other side's answer is dropped. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "../common/audit.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "channel.h"
#include "policy.h"
#include "tasks.h"

#define SERVER_NAME "cortex-gateway"
#define SERVER_TITLE "Cortex"
#define CURSOR_MAX 64

/* What a job runs: a tool, or one of an adapter's resource, prompt and completion hooks. */
enum job_kind { JOB_TOOL, JOB_READ, JOB_PROMPT, JOB_COMPLETE };
static const char *const job_kinds[] = { "tool", "read", "prompt", "complete" };

struct job {
	struct job *qnext;              /* run queue */
	struct job *dprev, *dnext;      /* deadline list, sorted by deadline */
	bool on_dlist;
	struct cx_server *s;
	struct cx_exchange *x;          /* valid until replied */
	enum job_kind kind;
	const struct cx_reg_tool *rt;   /* JOB_TOOL */
	const struct cx_adapter *adapter;       /* the others */
	void *state;
	char *name;                     /* tool name, URI or prompt name, for messages */
	json_t *params;                 /* the request's params (new reference) */
	struct cx_call_channel chan;
	char skey[17];                  /* the session, to find the job when it is cancelled */
	const char *caller;             /* the principal's name: lives as long as the server,
	                                 * unlike x, which is gone once someone answered */
	json_t *id;                     /* the client's id (new reference) */
	json_t *args;                   /* new reference */
	int64_t start_ms;
	int64_t deadline_ms;
	atomic_bool cancelled;
	atomic_bool replied;
	atomic_int refs;                /* worker side + deadline-list side */
};

struct token_principal {
	struct cx_principal p;
	unsigned char hash[32];
};

struct cx_server {
	const struct cx_gw_config *conf;
	struct cx_registry *reg;
	struct cx_audit *audit;
	unsigned char key[CX_SESSION_KEY_LEN];

	struct token_principal *tokens;
	size_t ntokens;
	struct cx_principal anonymous;
	struct cx_principal stdio;

	/* One lock for the run queue, the deadline list and the counters: the critical
	 * sections are a few pointer moves, and two cores do not reward finer locks. */
	pthread_mutex_t lock;
	pthread_cond_t work;            /* workers wait for jobs */
	pthread_cond_t tick;            /* the watchdog waits for the earliest deadline */
	pthread_cond_t idle;            /* drain waits for unanswered calls to reach zero */
	struct job *qhead, *qtail;
	size_t qlen;
	struct job *dhead, *dtail;
	size_t unanswered;
	bool stopping;                  /* workers and watchdog exit */
	atomic_bool draining;           /* new calls are refused */

	pthread_t *workers;
	size_t nworkers;
	pthread_t watchdog;
	bool watchdog_running;

	struct cx_hub *hub;             /* requests to clients, session log levels */
	struct cx_tasks *tasks;         /* the tasks extension's table */
	struct {
		cx_push_fn fn;
		void *ctx;
	} push[4];
	size_t npush;
	pthread_mutex_t push_lock;
};

/* ---- principals ---- */

bool cx_server_auth_required(const struct cx_server *s)
{
	return s->ntokens > 0;
}

const struct cx_principal *cx_server_authenticate(const struct cx_server *s, const char *token)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	const struct cx_principal *found = NULL;

	if (!token || !*token)
		return NULL;
	SHA256((const unsigned char *)token, strlen(token), md);
	/* Compare against every token so the time taken says nothing about which matched. */
	for (size_t i = 0; i < s->ntokens; i++)
		if (cx_ct_equal(md, s->tokens[i].hash, sizeof(md)) && !found)
			found = &s->tokens[i].p;
	return found;
}

const struct cx_principal *cx_server_anonymous(const struct cx_server *s)
{
	return &s->anonymous;
}

const struct cx_principal *cx_server_stdio_principal(const struct cx_server *s)
{
	return &s->stdio;
}

const unsigned char *cx_server_session_key(const struct cx_server *s)
{
	return s->key;
}

const struct cx_gw_config *cx_server_config(const struct cx_server *s)
{
	return s->conf;
}

/* ---- replies ---- */

static void reply_error(struct cx_exchange *x, json_t *id, int code, const char *msg)
{
	x->reply(x, cx_rpc_error(id, code, msg, NULL));
}

static void reply_result(struct cx_exchange *x, json_t *id, json_t *result)
{
	json_t *r;

	if (!result) {
		reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	/* The stateless revision says what kind of result every result is. */
	if (x->stateless && json_is_object(result) && !json_object_get(result, "resultType"))
		json_object_set_new(result, "resultType", json_string("complete"));
	r = cx_rpc_result(id, result);
	if (!r) {
		reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	x->reply(x, r);
}

/* Lists and reads in the stateless revision say how long a client may cache them. Nothing a
 * gateway serves is known to stay fresh, so: not at all, and only for this client. */
static json_t *cacheable(const struct cx_exchange *x, json_t *result)
{
	if (x->stateless && json_is_object(result)) {
		json_object_set_new(result, "ttlMs", json_integer(0));
		json_object_set_new(result, "cacheScope", json_string("private"));
	}
	return result;
}

static void reply_status_error(struct cx_exchange *x, json_t *id, int http_status, int code,
			       const char *msg, json_t *data)
{
	x->http_status = http_status;
	x->reply(x, cx_rpc_error(id, code, msg, data));
}

static void audit_call(struct cx_server *s, struct cx_exchange *x, const char *tool,
		       const json_t *args, enum cx_audit_outcome outcome, int64_t start_ms,
		       const char *detail)
{
	struct cx_audit_rec rec = {
		.caller = x->who->name,
		.session = x->session && x->session->fp[0] ? x->session->fp : NULL,
		.tool = tool,
		.args = args,
		.outcome = outcome,
		.duration_ms = (long)(cx_now_ms() - start_ms),
		.detail = detail,
	};

	cx_audit_write(s->audit, &rec);
}

/* An isError result the model can read: the flow goes on. */
static json_t *error_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *error_result(const char *fmt, ...)
{
	struct cx_result res;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cx_result_init(&res);
	if (cx_result_errorf(&res, "%s", msg)) {
		cx_result_release(&res);
		return NULL;
	}
	return cx_result_take(&res);
}

/* Turns what a handler produced into the CallToolResult, enforcing the output contract.
 * Returns the result (new reference) or NULL on out of memory; *outcome is set. */
static json_t *finish_result(struct cx_server *s, const struct cx_reg_tool *rt, int rc,
			     struct cx_result *res, bool check_size,
			     enum cx_audit_outcome *outcome, char *detail, size_t detlen)
{
	bool is_error = res->is_error;     /* cx_result_take empties res */
	json_t *out;

	if (rc) {
		*outcome = CX_AUDIT_ERROR;
		snprintf(detail, detlen, "internal fault in the handler");
		return NULL;
	}
	if (rt->output && !res->is_error) {
		char why[512];
		if (!res->structured) {
			cx_warn("tool '%s' declares outputSchema but returned no structuredContent",
				rt->name);
			*outcome = CX_AUDIT_IS_ERROR;
			snprintf(detail, detlen, "no structuredContent");
			return error_result("'%s' returned no structured result; this is a fault "
					    "in the gateway's adapter, not in the request", rt->name);
		}
		if (cx_schema_validate(rt->output, res->structured, "structuredContent", why,
				       sizeof(why))) {
			cx_warn("tool '%s' broke its outputSchema: %s", rt->name, why);
			*outcome = CX_AUDIT_IS_ERROR;
			cx_fmt(detail, detlen, "output schema: %s", why);
			return error_result("'%s' returned a result that does not match its "
					    "outputSchema (%s); this is a fault in the gateway's "
					    "adapter, not in the request", rt->name, why);
		}
	}
	out = cx_result_take(res);
	if (!out) {
		*outcome = CX_AUDIT_ERROR;
		snprintf(detail, detlen, "out of memory");
		return NULL;
	}
	if (check_size) {
		size_t size = json_dumpb(out, NULL, 0, JSON_COMPACT);
		if (size > (size_t)s->conf->max_output_bytes) {
			json_decref(out);
			*outcome = CX_AUDIT_IS_ERROR;
			snprintf(detail, detlen, "output of %zu bytes over the limit", size);
			return error_result("'%s' produced %zu bytes of output, more than the "
					    "gateway's limit of %ld; narrow the request (filters, "
					    "paging) and try again", rt->name, size,
					    s->conf->max_output_bytes);
		}
	}
	*outcome = is_error ? CX_AUDIT_IS_ERROR : CX_AUDIT_OK;
	detail[0] = '\0';
	return out;
}

/* ---- jobs ---- */

static void job_unref(struct job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	cx_channel_release(&j->chan);
	json_decref(j->id);
	json_decref(j->args);
	json_decref(j->params);
	free(j->name);
	free(j);
}

/* How a job ends when it has no result: a JSON-RPC error, or silence for a cancelled one. */
struct job_error {
	int code;                       /* 0: -32603 */
	const char *message;            /* NULL: a generic sentence */
	json_t *data;                   /* stolen */
	bool cancelled;                 /* reply(NULL): the client asked us to stop */
};

/* Answers the client once: the first of worker, watchdog and cancellation wins. Steals
 * result (or e->data). Tool calls leave an audit line. */
static void job_finish(struct job *j, json_t *result, struct job_error *e,
		       enum cx_audit_outcome outcome, const char *detail)
{
	struct cx_server *s = j->s;
	struct cx_exchange *x = j->x;

	if (atomic_exchange(&j->replied, true)) {
		json_decref(result);
		if (e)
			json_decref(e->data);
		return;
	}
	cx_channel_close(&j->chan);
	if (j->kind == JOB_TOOL)
		audit_call(s, x, j->rt->name, j->args, outcome, j->start_ms,
			   detail && detail[0] ? detail : NULL);
	if (result)
		reply_result(x, j->id, result);
	else if (e && e->cancelled)
		x->reply(x, NULL);
	else
		x->reply(x, cx_rpc_error(j->id, e && e->code ? e->code : CX_RPC_INTERNAL_ERROR,
					 e && e->message ? e->message
							 : "internal error in the gateway; the "
							   "call may be retried",
					 e ? e->data : NULL));
	pthread_mutex_lock(&s->lock);
	if (--s->unanswered == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void job_answer(struct job *j, json_t *result, enum cx_audit_outcome outcome,
		       const char *detail)
{
	job_finish(j, result, NULL, outcome, detail);
}

static void dlist_remove(struct cx_server *s, struct job *j)
{
	if (!j->on_dlist)
		return;
	if (j->dprev)
		j->dprev->dnext = j->dnext;
	else
		s->dhead = j->dnext;
	if (j->dnext)
		j->dnext->dprev = j->dprev;
	else
		s->dtail = j->dprev;
	j->dprev = j->dnext = NULL;
	j->on_dlist = false;
}

/* Keeps the list sorted; with one timeout for all calls, insertion is at the tail. */
static void dlist_insert(struct cx_server *s, struct job *j)
{
	struct job *after = s->dtail;

	while (after && after->deadline_ms > j->deadline_ms)
		after = after->dprev;
	j->dprev = after;
	j->dnext = after ? after->dnext : s->dhead;
	if (j->dnext)
		j->dnext->dprev = j;
	else
		s->dtail = j;
	if (after)
		after->dnext = j;
	else
		s->dhead = j;
	j->on_dlist = true;
}

/* The one answer for a call that ran out of time, whether the watchdog noticed first or the
 * handler gave up on its own deadline: the client sees the same sentence either way. */
static void answer_deadline(struct job *j)
{
	long ms = (long)(j->deadline_ms - j->start_ms);
	char detail[64], msg[512];

	snprintf(detail, sizeof(detail), "deadline of %ld ms passed", ms);
	if (j->kind == JOB_TOOL) {
		job_answer(j,
			   error_result("'%s' did not finish within %ld ms and was abandoned; the "
					"backend may be slow or unreachable — check gateway_status, "
					"then retry or narrow the request", j->name, ms),
			   CX_AUDIT_IS_ERROR, detail);
		return;
	}
	cx_fmt(msg, sizeof(msg), "'%s' did not finish within %ld ms and was abandoned", j->name,
	       ms);
	job_finish(j, NULL, &(struct job_error){ .message = msg }, CX_AUDIT_ERROR, detail);
}

/* SHA-256 of a request's arguments in canonical form (sorted keys). */
static void request_digest(const json_t *params, char hex[65])
{
	const json_t *args = json_object_get(params, "arguments");
	char *text = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
			  : NULL;

	cx_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
	free(text);
}

/* The stateless revision's two answers that replace whatever the handler returned: the
 * client lacks a capability the call needed (-32021, HTTP 400), or the call asked the client
 * for something (an input-required result carrying every request and the sealed state the
 * client must send back with its answers). True when it answered. */
static bool finish_stateless(struct job *j, bool failed)
{
	struct cx_call_channel *ch = &j->chan;
	json_t *state, *result;
	char *sealed;
	char digest[65];

	if (!ch->stateless)
		return false;
	/* A handler that found a way without the capability keeps its answer. */
	if (ch->missing_cap[0] && failed) {
		char msg[200];
		cx_fmt(msg, sizeof(msg), "'%s' needs the client capability '%s', which this request "
		       "did not declare", j->name, ch->missing_cap);
		j->x->http_status = 400;
		job_finish(j, NULL,
			   &(struct job_error){
				   .code = CX_RPC_MISSING_CAPABILITY,
				   .message = msg,
				   .data = json_pack("{s:{s:{}}}", "requiredCapabilities",
						     ch->missing_cap),
			   },
			   CX_AUDIT_REFUSED, "missing client capability");
		return true;
	}
	/* Completions have no input-required form: what could not be asked stays unasked. */
	if (!json_object_size(ch->input_requests) || j->kind == JOB_COMPLETE)
		return false;
	/* The state binds the request it was issued for (kind, name, arguments) and expires
	 * with sessions: answers given for one question never answer another. */
	request_digest(j->params, digest);
	state = json_pack("{s:s, s:s, s:s, s:I, s:O}", "kind", job_kinds[j->kind], "name", j->name,
			  "args", digest, "exp",
			  (json_int_t)(time(NULL) + j->s->conf->session_ttl_s), "responses",
			  ch->input_responses ? ch->input_responses : json_null());
	sealed = state ? cx_seal_json(j->s->key, "r1", state) : NULL;
	json_decref(state);
	result = sealed ? json_pack("{s:s, s:O, s:s}", "resultType", "input_required",
				    "inputRequests", ch->input_requests, "requestState", sealed)
			: NULL;
	free(sealed);
	job_finish(j, result, NULL, CX_AUDIT_OK, "input required");
	return true;
}

static void run_tool(struct job *j, struct cx_call *call)
{
	enum cx_audit_outcome outcome;
	struct cx_result res;
	char detail[512];
	json_t *out;
	int rc;

	cx_result_init(&res);
	rc = j->rt->tool->call(call, j->args, &res);
	if (cx_now_ms() >= j->deadline_ms || atomic_load(&j->cancelled)) {
		cx_result_release(&res);
		if (!atomic_load(&j->replied))
			answer_deadline(j);
		return;
	}
	if (finish_stateless(j, rc != 0 || res.is_error)) {
		cx_result_release(&res);
		return;
	}
	out = finish_result(j->s, j->rt, rc, &res, true, &outcome, detail, sizeof(detail));
	cx_result_release(&res);
	job_answer(j, out, outcome, detail);
}

/* Completion values are capped at 100, as the specification asks. */
static json_t *completion_result(json_t *values)
{
	size_t n = json_array_size(values);
	json_t *page = json_array(), *v;
	size_t i;

	if (!page) {
		json_decref(values);
		return NULL;
	}
	json_array_foreach(values, i, v) {
		if (i == 100)
			break;
		if (json_is_string(v))
			json_array_append(page, v);
	}
	json_decref(values);
	return json_pack("{s:{s:o, s:I, s:b}}", "completion", "values", page, "total",
			 (json_int_t)n, "hasMore", n > 100);
}

static void run_hook(struct job *j, struct cx_call *call)
{
	const json_t *p = j->params;
	struct cx_err err = { 0 };
	json_t *result = NULL;
	int rc = -1;

	switch (j->kind) {
	case JOB_READ:
		rc = j->adapter->read_resource(call, j->name, &result, &err);
		break;
	case JOB_PROMPT: {
		const json_t *args = json_object_get(p, "arguments");
		json_t *empty = args ? NULL : json_object();
		rc = j->adapter->get_prompt(call, j->name, args ? args : empty, &result, &err);
		json_decref(empty);
		break;
	}
	case JOB_COMPLETE: {
		const json_t *arg = json_object_get(p, "argument");
		json_t *values = NULL;
		rc = j->adapter->complete(call, json_object_get(p, "ref"),
					  json_string_value(json_object_get(arg, "name")),
					  json_string_value(json_object_get(arg, "value")),
					  json_object_get(p, "context"), &values, &err);
		if (!rc)
			result = values ? completion_result(values) : NULL;
		break;
	}
	case JOB_TOOL:
		return;
	}
	if (cx_now_ms() >= j->deadline_ms || atomic_load(&j->cancelled)) {
		json_decref(result);
		if (!atomic_load(&j->replied))
			answer_deadline(j);
		return;
	}
	if (finish_stateless(j, rc != 0)) {
		json_decref(result);
		return;
	}
	if (rc == 0 && json_is_object(result)) {
		job_finish(j, j->kind == JOB_READ ? cacheable(j->x, result) : result, NULL,
			   CX_AUDIT_OK, NULL);
		return;
	}
	json_decref(result);
	if (rc == CX_NOT_FOUND) {
		bool res = j->kind == JOB_READ;
		job_finish(j, NULL,
			   &(struct job_error){
				   .code = res && !j->x->stateless ? CX_RPC_RESOURCE_NOT_FOUND
								   : CX_RPC_INVALID_PARAMS,
				   .message = err.msg[0] ? err.msg : "not found",
				   .data = res ? json_pack("{s:s}", "uri", j->name) : NULL,
			   },
			   CX_AUDIT_ERROR, NULL);
		return;
	}
	if (rc == 0)
		cx_warn("adapter '%s' answered '%s' with something that is not an object",
			j->adapter->name, j->name);
	else if (err.msg[0])
		cx_warn("adapter '%s' failed on '%s': %s", j->adapter->name, j->name, err.msg);
	job_finish(j, NULL, &(struct job_error){ .message = err.msg[0] ? err.msg : NULL },
		   CX_AUDIT_ERROR, NULL);
}

static void run_job(struct job *j)
{
	if (atomic_load(&j->replied))
		return;         /* timed out or cancelled in the queue */
	struct cx_call call = {
		.tool = j->name,
		.caller = j->caller,
		.state = j->kind == JOB_TOOL ? j->rt->state : j->state,
		.deadline_ms = j->deadline_ms,
		.cancelled = &j->cancelled,
		.chan = &j->chan,
	};
	if (j->kind == JOB_TOOL)
		run_tool(j, &call);
	else
		run_hook(j, &call);
}

static void *worker_main(void *arg)
{
	struct cx_server *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->lock);
		while (!s->qhead && !s->stopping)
			pthread_cond_wait(&s->work, &s->lock);
		if (!s->qhead) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		j = s->qhead;
		s->qhead = j->qnext;
		if (!s->qhead)
			s->qtail = NULL;
		s->qlen--;
		pthread_mutex_unlock(&s->lock);

		run_job(j);

		pthread_mutex_lock(&s->lock);
		bool listed = j->on_dlist;
		dlist_remove(s, j);
		pthread_mutex_unlock(&s->lock);
		if (listed)
			job_unref(j);
		job_unref(j);
	}
}

static void *watchdog_main(void *arg)
{
	struct cx_server *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct job *j = s->dhead;
		int64_t now = cx_now_ms();

		if (!j) {
			pthread_cond_wait(&s->tick, &s->lock);
			continue;
		}
		if (j->deadline_ms > now) {
			/* Condition variables wait on the realtime clock unless told otherwise;
			 * this one was created with CLOCK_MONOTONIC. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t wait = j->deadline_ms - now;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->tick, &s->lock, &ts);
			continue;
		}
		dlist_remove(s, j);
		pthread_mutex_unlock(&s->lock);

		atomic_store(&j->cancelled, true);
		answer_deadline(j);
		job_unref(j);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* A new job for x's request (id, params borrowed). NULL on out of memory. */
static struct job *job_new(struct cx_server *s, struct cx_exchange *x, enum job_kind kind,
			   const char *name, json_t *id, json_t *params, int64_t start_ms)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !(j->name = strdup(name))) {
		free(j);
		return NULL;
	}
	j->s = s;
	j->x = x;
	j->kind = kind;
	j->caller = x->who->name;
	j->id = json_incref(id);
	j->params = json_incref(params);
	j->start_ms = start_ms;
	j->deadline_ms = start_ms + s->conf->call_timeout_ms;
	if (x->stateless) {
		/* No session: no other request may name this one (cancellation is closing the
		 * connection). */
		unsigned char rnd[8];
		RAND_bytes(rnd, sizeof(rnd));
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(j->skey + 2 * i, 3, "%02x", rnd[i]);
		j->skey[0] = 's';
	} else {
		snprintf(j->skey, sizeof(j->skey), "%s", x->session ? x->session->fp : "");
	}
	atomic_init(&j->cancelled, false);
	atomic_init(&j->replied, false);
	atomic_init(&j->refs, 2);
	cx_channel_init(&j->chan, s->hub, x, params, &j->cancelled, j->deadline_ms);
	return j;
}

/* Queues a job; answers at once when the gateway is saturated or draining (an isError
 * result for tools, a JSON-RPC error for the rest). Takes j. */
static void enqueue_job(struct cx_server *s, struct job *j)
{
	struct cx_exchange *x = j->x;
	const char *busy = NULL;

	if (x->defer)
		x->defer(x);
	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->draining))
		busy = "the gateway is shutting down; retry against another replica or in a moment";
	else if (s->qlen >= (size_t)s->conf->queue_max)
		busy = "the gateway is saturated (call queue full); retry in a moment";
	if (!busy) {
		j->qnext = NULL;
		if (s->qtail)
			s->qtail->qnext = j;
		else
			s->qhead = j;
		s->qtail = j;
		s->qlen++;
		s->unanswered++;
		bool first = s->dhead == NULL;
		dlist_insert(s, j);
		if (first || s->dhead == j)
			pthread_cond_signal(&s->tick);
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->lock);
	if (!busy)
		return;
	cx_channel_close(&j->chan);
	if (j->kind == JOB_TOOL) {
		audit_call(s, x, j->name, j->args, CX_AUDIT_REFUSED, j->start_ms, busy);
		reply_result(x, j->id, error_result("'%s' was not run: %s", j->name, busy));
	} else {
		reply_error(x, j->id, CX_RPC_INTERNAL_ERROR, busy);
	}
	atomic_store(&j->refs, 1);
	job_unref(j);
}

/* The answers a stateless request brings: those sealed in requestState by earlier rounds,
 * updated with params.inputResponses. A requestState that does not open, or was issued for
 * another request, is refused (-32602) and answered here: returns -1. */
static int stateless_inputs(struct cx_server *s, struct cx_exchange *x, json_t *id,
			    const json_t *params, enum job_kind kind, const char *name,
			    json_t **out)
{
	const json_t *rs = json_object_get(params, "requestState");
	const json_t *ir = json_object_get(params, "inputResponses");
	json_t *responses = NULL, *doc = NULL;

	*out = NULL;
	if (rs && !json_is_null(rs)) {
		doc = json_is_string(rs) ? cx_unseal_json(s->key, "r1", json_string_value(rs))
					 : NULL;
		const char *dk = json_string_value(json_object_get(doc, "kind"));
		const char *dn = json_string_value(json_object_get(doc, "name"));
		const char *da = json_string_value(json_object_get(doc, "args"));
		char digest[65];

		request_digest(params, digest);
		if (!doc || !dk || !dn || !da || strcmp(dk, job_kinds[kind]) || strcmp(dn, name) ||
		    strcmp(da, digest) ||
		    json_integer_value(json_object_get(doc, "exp")) < (json_int_t)time(NULL)) {
			json_decref(doc);
			reply_error(x, id, CX_RPC_INVALID_PARAMS,
				    "invalid params: requestState was not issued by this gateway "
				    "for this request (altered, or from another call); start the "
				    "call again without it");
			return -1;
		}
		responses = json_deep_copy(json_object_get(doc, "responses"));
		json_decref(doc);
	}
	if (!json_is_object(responses)) {
		json_decref(responses);
		responses = json_object();
	}
	if (json_is_object(ir))
		json_object_update(responses, (json_t *)ir);
	*out = responses;
	return 0;
}

static void enqueue_call(struct cx_server *s, struct cx_exchange *x, const struct cx_reg_tool *rt,
			 json_t *id, json_t *params, json_t *args, int64_t start_ms)
{
	json_t *responses = NULL;
	struct job *j;

	if (x->stateless && stateless_inputs(s, x, id, params, JOB_TOOL, rt->name, &responses))
		return;
	j = job_new(s, x, JOB_TOOL, rt->name, id, params, start_ms);
	if (j)
		cx_channel_set_responses(&j->chan, responses);
	else
		json_decref(responses);
	if (!j) {
		audit_call(s, x, rt->name, args, CX_AUDIT_ERROR, start_ms, "out of memory");
		reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	j->rt = rt;
	j->args = json_incref(args);
	enqueue_job(s, j);
}

/* A tools/call that becomes a task (gateway/tasks.c); audited like any refused call when the
 * task cannot be made. */
static void enqueue_task(struct cx_server *s, struct cx_exchange *x, const struct cx_reg_tool *rt,
			 json_t *id, json_t *params, json_t *args, int64_t start_ms)
{
	json_t *responses = NULL;
	char why[300];

	if (stateless_inputs(s, x, id, params, JOB_TOOL, rt->name, &responses))
		return;
	if (!cx_tasks_start(s->tasks, x, rt, id, params, args, responses, why, sizeof(why)))
		return;
	audit_call(s, x, rt->name, args, CX_AUDIT_REFUSED, start_ms, why);
	reply_result(x, id, error_result("'%s' was not run: %s", rt->name, why));
}

/* Cancels the job a client's notifications/cancelled names, if it is still running. */
static void cancel_job(struct cx_server *s, struct cx_exchange *x, const json_t *request_id)
{
	const char *skey = x->session ? x->session->fp : "";
	struct job *found = NULL;

	if (!request_id)
		return;
	pthread_mutex_lock(&s->lock);
	for (struct job *j = s->dhead; j; j = j->dnext) {
		if (!strcmp(j->skey, skey) && j->caller == x->who->name &&
		    json_equal(j->id, (json_t *)request_id)) {
			found = j;
			atomic_fetch_add(&found->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!found)
		return;         /* finished already, or never ours: nothing to do */
	atomic_store(&found->cancelled, true);
	cx_debug("request cancelled by the client: '%s'", found->name);
	job_finish(found, NULL, &(struct job_error){ .cancelled = true }, CX_AUDIT_IS_ERROR,
		   "cancelled by the client");
	job_unref(found);
}

/* Runs a task's tool as a job answering on the task's own exchange tx (gateway/tasks.c). */
int cx_server_run_task(struct cx_server *s, struct cx_exchange *tx, const struct cx_reg_tool *rt,
		       json_t *id, json_t *params, json_t *args, json_t *responses,
		       int64_t deadline_ms)
{
	struct job *j = job_new(s, tx, JOB_TOOL, rt->name, id, params, cx_now_ms());

	if (!j)
		return -1;
	cx_channel_set_responses(&j->chan, responses);
	j->rt = rt;
	j->args = json_incref(args);
	j->deadline_ms = j->chan.deadline_ms = deadline_ms;
	enqueue_job(s, j);
	return 0;
}

/* Cancels the unanswered job of a task, as notifications/cancelled would. */
void cx_server_cancel_task(struct cx_server *s, const struct cx_exchange *tx)
{
	struct job *found = NULL;

	pthread_mutex_lock(&s->lock);
	for (struct job *j = s->dhead; j; j = j->dnext) {
		if (j->x == tx && !atomic_load(&j->replied)) {
			found = j;
			atomic_fetch_add(&found->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!found)
		return;
	atomic_store(&found->cancelled, true);
	job_finish(found, NULL, &(struct job_error){ .cancelled = true }, CX_AUDIT_IS_ERROR,
		   "task cancelled by the client");
	job_unref(found);
}

/* ---- methods ---- */

static bool session_ready(const struct cx_exchange *x)
{
	return x->session_ready || (x->session && x->session->version[0]);
}

static void do_initialize(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const char *requested, *version;
	json_t *caps, *info, *result;

	if (x->session && x->session->version[0]) {
		reply_error(x, id, CX_RPC_INVALID_REQUEST,
			    "invalid request: this session is already initialized");
		return;
	}
	requested = json_string_value(json_object_get(params, "protocolVersion"));
	if (!json_is_object(params) || !requested) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: initialize needs params.protocolVersion (a string)");
		return;
	}
	caps = json_object_get(params, "capabilities");
	info = json_object_get(params, "clientInfo");
	if ((caps && !json_is_object(caps)) || (info && !json_is_object(info))) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: capabilities and clientInfo must be objects");
		return;
	}
	version = cx_mcp_negotiate(requested);

	struct cx_session *sess = x->session;
	snprintf(sess->version, sizeof(sess->version), "%s", version);
	json_decref(sess->client_caps);
	json_decref(sess->client_info);
	sess->client_caps = caps ? json_incref(caps) : NULL;
	sess->client_info = info ? json_incref(info) : NULL;
	sess->issued_s = (int64_t)time(NULL);
	snprintf(sess->subject, sizeof(sess->subject), "%s", x->who->name);
	if (x->want_session_id) {
		x->new_session_id = cx_session_seal(s->key, sess);
		if (!x->new_session_id) {
			sess->version[0] = '\0';
			reply_error(x, id, CX_RPC_INTERNAL_ERROR,
				    "internal error: could not create a session");
			return;
		}
	}
	cx_debug("session %s initialized with protocol %s (client asked for %s)",
		 sess->fp[0] ? sess->fp : "stdio", version, requested);

	result = json_pack("{s:s, s:{s:{s:b}, s:{s:b, s:b}, s:{s:b}, s:{}, s:{}}, s:{s:s, s:s, s:s},"
			   " s:s}",
			   "protocolVersion", version,
			   "capabilities", "tools", "listChanged", 1,
			   "resources", "subscribe", 1, "listChanged", 1,
			   "prompts", "listChanged", 1,
			   "logging", "completions",
			   "serverInfo", "name", SERVER_NAME, "title", SERVER_TITLE,
			   "version", CX_VERSION,
			   "instructions",
			   "Cortex exposes an operator's infrastructure as tools. Call "
			   "gateway_status first to see which adapters are configured and healthy. "
			   "Tools marked destructiveHint change or delete real systems.");
	reply_result(x, id, result);
}

/* Cursors are opaque to clients: "c" + offset, base64url, so junk is recognised. */
static void encode_cursor(size_t offset, char *out, size_t outlen)
{
	char raw[32];
	int n = snprintf(raw, sizeof(raw), "c%zu", offset);

	if (outlen >= 4 * sizeof(raw) / 3 + 4)
		cx_b64url_encode((const unsigned char *)raw, (size_t)n, out);
}

static int decode_cursor(const char *cursor, size_t *offset)
{
	unsigned char raw[CURSOR_MAX];
	long n, v;
	size_t len = strlen(cursor);

	if (len == 0 || len > CURSOR_MAX)
		return -1;
	n = cx_b64url_decode(cursor, len, raw, sizeof(raw) - 1);
	if (n < 2 || raw[0] != 'c')
		return -1;
	raw[n] = '\0';
	if (cx_parse_long((const char *)raw + 1, 0, 1000000, &v))
		return -1;
	*offset = (size_t)v;
	return 0;
}

/* What the caller may see of one list, i-th item: its published definition, or NULL to skip it
 * (withdrawn by its adapter, or outside the caller's policy). */
typedef const json_t *(*list_item_fn)(struct cx_server *s, const struct cx_exchange *x,
				      int kind, size_t i);

/* tools/list, resources/list, resources/templates/list, prompts/list: one page of what the
 * caller may see under key, page_size at a time, with an opaque cursor to the next page. */
static void reply_page(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params,
		       const char *key, int kind, size_t count, list_item_fn item)
{
	const json_t *jc = params ? json_object_get(params, "cursor") : NULL;
	size_t offset = 0, seen = 0, page = (size_t)s->conf->page_size;
	json_t *list, *result;

	if (jc && !json_is_null(jc) &&
	    (!json_is_string(jc) || decode_cursor(json_string_value(jc), &offset))) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: unknown cursor; start again without one");
		return;
	}
	list = json_array();
	result = json_object();
	if (!list || !result || json_object_set(result, key, list)) {
		json_decref(list);
		json_decref(result);
		reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	for (size_t i = 0; i < count; i++) {
		const json_t *def = item(s, x, kind, i);

		if (!def || seen++ < offset)
			continue;
		if (json_array_size(list) == page) {
			char cur[CURSOR_MAX + 1];
			encode_cursor(offset + page, cur, sizeof(cur));
			json_object_set_new(result, "nextCursor", json_string(cur));
			break;
		}
		json_array_append(list, (json_t *)def);
	}
	json_decref(list);
	reply_result(x, id, cacheable(x, result));
}

static const json_t *tool_item(struct cx_server *s, const struct cx_exchange *x, int kind,
			       size_t i)
{
	const struct cx_reg_tool *rt = cx_registry_at(s->reg, i);

	return cx_registry_available(rt) && cx_policy_allows(x->who, rt, NULL, 0) ? rt->def
										: NULL;
}

static void do_tools_list(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	reply_page(s, x, id, params, "tools", 0, cx_registry_count(s->reg), tool_item);
}

static void do_tools_call(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const struct cx_reg_tool *rt;
	const char *name;
	json_t *args, *empty = NULL;
	int64_t start = cx_now_ms();
	char why[512];

	name = json_string_value(json_object_get(params, "name"));
	if (!json_is_object(params) || !name) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: tools/call needs params.name (a string)");
		return;
	}
	rt = cx_registry_find(s->reg, name);
	if (!rt || !cx_registry_available(rt)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "unknown tool '%.128s'; tools/list names the tools "
			 "this gateway offers", name);
		reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
		return;
	}
	args = json_object_get(params, "arguments");
	if (args && !json_is_object(args) && !json_is_null(args)) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: arguments must be an object");
		return;
	}
	if (!args || json_is_null(args)) {
		args = empty = json_object();
		if (!args) {
			reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
			return;
		}
	}
	if (!cx_policy_allows(x->who, rt, why, sizeof(why))) {
		audit_call(s, x, name, args, CX_AUDIT_REFUSED, start, why);
		reply_result(x, id, error_result("%s; ask an operator for a token that allows it",
						 why));
		goto out;
	}
	if (cx_schema_validate(rt->input, args, "arguments", why, sizeof(why))) {
		audit_call(s, x, name, args, CX_AUDIT_IS_ERROR, start, why);
		reply_result(x, id, error_result("invalid arguments for '%s': %s", name, why));
		goto out;
	}
	if (rt->tool->flags & (CX_TASK_OPTIONAL | CX_TASK_REQUIRED)) {
		if (cx_tasks_declared(x, params)) {
			enqueue_task(s, x, rt, id, params, args, start);
			goto out;
		}
		if (rt->tool->flags & CX_TASK_REQUIRED) {
			audit_call(s, x, name, args, CX_AUDIT_REFUSED, start,
				   "missing client capability");
			x->http_status = x->stateless ? 400 : 0;
			x->reply(x, cx_rpc_error(id, CX_RPC_MISSING_CAPABILITY,
						 "this tool runs only as a task; declare '"
						 CX_TASKS_EXT "' in the client capabilities' "
						 "extensions",
						 json_pack("{s:{s:{s:{}}}}", "requiredCapabilities",
							   "extensions", CX_TASKS_EXT)));
			goto out;
		}
	}
	if (rt->tool->flags & CX_NONBLOCKING) {
		enum cx_audit_outcome outcome;
		struct cx_result res;
		char detail[512];
		atomic_bool never = false;
		struct cx_call call = {
			.tool = rt->name,
			.caller = x->who->name,
			.state = rt->state,
			.deadline_ms = start + s->conf->call_timeout_ms,
			.cancelled = &never,
		};
		json_t *out;

		cx_result_init(&res);
		int rc = rt->tool->call(&call, args, &res);
		out = finish_result(s, rt, rc, &res, false, &outcome, detail, sizeof(detail));
		cx_result_release(&res);
		audit_call(s, x, name, args, outcome, start, detail[0] ? detail : NULL);
		if (out)
			reply_result(x, id, out);
		else
			reply_error(x, id, CX_RPC_INTERNAL_ERROR,
				    "internal error in the gateway; the call may be retried");
		goto out;
	}
	enqueue_call(s, x, rt, id, params, args, start);
out:
	json_decref(empty);
}

static const json_t *entry_item(struct cx_server *s, const struct cx_exchange *x, int kind,
				size_t i)
{
	const struct cx_reg_entry *e = cx_registry_entry_at(s->reg, (enum cx_reg_kind)kind, i);

	return cx_registry_entry_available(e) && cx_policy_sees_adapter(x->who, s->reg, e->adapter)
		       ? e->def
		       : NULL;
}

/* resources/list, resources/templates/list, prompts/list: the entries of the adapters the
 * caller may see, paged like tools/list. */
static void do_catalog_list(struct cx_server *s, struct cx_exchange *x, json_t *id,
			    json_t *params, enum cx_reg_kind kind)
{
	static const char *const keys[] = { "resources", "resourceTemplates", "prompts" };

	reply_page(s, x, id, params, keys[kind], kind, cx_registry_entry_count(s->reg, kind),
		   entry_item);
}

/* Queues an adapter hook (resource read, prompt, completion) as a job. */
static void enqueue_hook(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params,
			 enum job_kind kind, const struct cx_reg_entry *e, const char *name)
{
	json_t *responses = NULL;
	struct job *j;

	if (x->stateless && stateless_inputs(s, x, id, params, kind, name, &responses))
		return;
	j = job_new(s, x, kind, name, id, params, cx_now_ms());
	if (j)
		cx_channel_set_responses(&j->chan, responses);
	else
		json_decref(responses);
	if (!j) {
		reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	j->adapter = e->adapter;
	j->state = e->state;
	enqueue_job(s, j);
}

static void do_resources_read(struct cx_server *s, struct cx_exchange *x, json_t *id,
			      json_t *params, bool subscribe, bool unsubscribe)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	const struct cx_reg_entry *e;
	char msg[300];

	if (!uri) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS, "invalid params: 'uri' (a string) is "
			    "required");
		return;
	}
	e = cx_registry_resolve_uri(s->reg, uri);
	if (!e || !cx_policy_sees_adapter(x->who, s->reg, e->adapter)) {
		cx_fmt(msg, sizeof(msg), "resource not found: '%.200s'", uri);
		/* -32002 until 2025-11-25; the stateless revision uses invalid params. */
		x->reply(x, cx_rpc_error(id, x->stateless ? CX_RPC_INVALID_PARAMS
							  : CX_RPC_RESOURCE_NOT_FOUND,
					 msg, json_pack("{s:s}", "uri", uri)));
		return;
	}
	if (subscribe || unsubscribe) {
		/* Updates reach the session on its GET stream (stdio: stdout) when the adapter
		 * calls cx_resource_updated(). */
		const char *skey = x->session ? x->session->fp : "";
		if (unsubscribe) {
			cx_hub_unsubscribe(s->hub, skey, uri);
		} else if (cx_hub_subscribe(s->hub, skey, uri)) {
			reply_error(x, id, CX_RPC_INTERNAL_ERROR,
				    "the gateway holds too many subscriptions; try again later");
			return;
		}
		reply_result(x, id, json_object());
		return;
	}
	enqueue_hook(s, x, id, params, JOB_READ, e, uri);
}

static void do_prompts_get(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const json_t *args = json_object_get(params, "arguments"), *a, *v;
	const struct cx_reg_entry *e;
	const char *key;
	char msg[300];
	size_t i;

	if (!name || (args && !json_is_object(args))) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS, "invalid params: prompts/get needs "
			    "'name' (a string) and optional 'arguments' (an object)");
		return;
	}
	e = cx_registry_find_prompt(s->reg, name);
	if (!e || !cx_policy_sees_adapter(x->who, s->reg, e->adapter)) {
		cx_fmt(msg, sizeof(msg), "unknown prompt '%.200s'; prompts/list names them", name);
		reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
		return;
	}
	json_object_foreach((json_t *)args, key, v) {
		if (!json_is_string(v)) {
			cx_fmt(msg, sizeof(msg), "invalid params: argument '%.100s' must be a string",
			       key);
			reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
			return;
		}
	}
	json_array_foreach(json_object_get(e->def, "arguments"), i, a) {
		const char *an = json_string_value(json_object_get(a, "name"));
		if (json_is_true(json_object_get(a, "required")) && !json_object_get(args, an)) {
			cx_fmt(msg, sizeof(msg), "invalid params: prompt '%.100s' needs argument "
			       "'%.100s'", name, an);
			reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
			return;
		}
	}
	enqueue_hook(s, x, id, params, JOB_PROMPT, e, name);
}

static void do_complete(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const json_t *ref = json_object_get(params, "ref");
	const json_t *arg = json_object_get(params, "argument");
	const char *type = json_string_value(json_object_get(ref, "type"));
	const struct cx_reg_entry *e = NULL;
	const char *name = NULL;

	if (!type || !json_is_string(json_object_get(arg, "name")) ||
	    !json_is_string(json_object_get(arg, "value"))) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS, "invalid params: completion/complete "
			    "needs 'ref' and 'argument' {name, value}");
		return;
	}
	if (!strcmp(type, "ref/prompt")) {
		name = json_string_value(json_object_get(ref, "name"));
		e = name ? cx_registry_find_prompt(s->reg, name) : NULL;
	} else if (!strcmp(type, "ref/resource")) {
		name = json_string_value(json_object_get(ref, "uri"));
		for (size_t i = 0; name && !e &&
				   i < cx_registry_entry_count(s->reg, CX_REG_TEMPLATE); i++) {
			const struct cx_reg_entry *t =
				cx_registry_entry_at(s->reg, CX_REG_TEMPLATE, i);
			if (cx_registry_entry_available(t) && !strcmp(t->key, name))
				e = t;
		}
		if (!e && name)
			e = cx_registry_resolve_uri(s->reg, name);
	}
	if (!e || !cx_policy_sees_adapter(x->who, s->reg, e->adapter)) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: 'ref' names no prompt or resource template here");
		return;
	}
	if (!e->adapter->complete) {
		/* Nothing to suggest is a valid answer. */
		reply_result(x, id, json_pack("{s:{s:[], s:i, s:b}}", "completion", "values",
					      "total", 0, "hasMore", 0));
		return;
	}
	enqueue_hook(s, x, id, params, JOB_COMPLETE, e, name);
}

static void do_set_level(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const char *level = json_string_value(json_object_get(params, "level"));

	if (!level || cx_hub_set_level(s->hub, x->session ? x->session->fp : "", level)) {
		reply_error(x, id, CX_RPC_INVALID_PARAMS,
			    "invalid params: 'level' must be one of debug, info, notice, warning, "
			    "error, critical, alert, emergency");
		return;
	}
	reply_result(x, id, json_object());
}

static void handle_request(struct cx_server *s, struct cx_exchange *x, const char *method,
			   json_t *id, json_t *params)
{
	if (!strcmp(method, "initialize")) {
		do_initialize(s, x, id, params);
		return;
	}
	if (!strcmp(method, "ping")) {
		reply_result(x, id, json_object());
		return;
	}
	if (!session_ready(x)) {
		reply_error(x, id, CX_RPC_INVALID_REQUEST,
			    "invalid request: the session is not initialized; send initialize "
			    "first");
		return;
	}
	if (!strcmp(method, "tools/call"))
		do_tools_call(s, x, id, params);
	else if (!strcmp(method, "tools/list"))
		do_tools_list(s, x, id, params);
	else if (!strcmp(method, "resources/list"))
		do_catalog_list(s, x, id, params, CX_REG_RESOURCE);
	else if (!strcmp(method, "resources/templates/list"))
		do_catalog_list(s, x, id, params, CX_REG_TEMPLATE);
	else if (!strcmp(method, "resources/read"))
		do_resources_read(s, x, id, params, false, false);
	else if (!strcmp(method, "resources/subscribe"))
		do_resources_read(s, x, id, params, true, false);
	else if (!strcmp(method, "resources/unsubscribe"))
		do_resources_read(s, x, id, params, false, true);
	else if (!strcmp(method, "prompts/list"))
		do_catalog_list(s, x, id, params, CX_REG_PROMPT);
	else if (!strcmp(method, "prompts/get"))
		do_prompts_get(s, x, id, params);
	else if (!strcmp(method, "completion/complete"))
		do_complete(s, x, id, params);
	else if (!strcmp(method, "logging/setLevel"))
		do_set_level(s, x, id, params);
	else if (!strcmp(method, "tasks/get") || !strcmp(method, "tasks/update") ||
		 !strcmp(method, "tasks/cancel"))
		cx_tasks_handle(s->tasks, x, method, id, params);
	else {
		char msg[200];
		snprintf(msg, sizeof(msg), "method not found: '%.100s'", method);
		if (x->stateless)
			x->http_status = 404;
		reply_error(x, id, CX_RPC_METHOD_NOT_FOUND, msg);
	}
}

/* server/discover: what the stateless revision asks instead of initialize. */
static void do_discover(struct cx_server *s, struct cx_exchange *x, json_t *id)
{
	json_t *versions = json_array(), *result;

	json_array_append_new(versions, json_string(CX_MCP_STATELESS));
	for (size_t i = 0; cx_mcp_versions[i]; i++)
		json_array_append_new(versions, json_string(cx_mcp_versions[i]));
	result = json_pack("{s:o, s:{s:{}, s:{}, s:{}, s:{}, s:{}, s:{s:{}}}, s:s,"
			   " s:{s:{s:s, s:s, s:s}}}",
			   "supportedVersions", versions,
			   "capabilities", "tools", "resources", "prompts", "completions",
			   "logging", "extensions", CX_TASKS_EXT,
			   "instructions",
			   "Cortex exposes an operator's infrastructure as tools. Call "
			   "gateway_status first to see which adapters are configured and healthy. "
			   "Tools marked destructiveHint change or delete real systems.",
			   "_meta", CX_META_SERVERINFO, "name", SERVER_NAME, "title", SERVER_TITLE,
			   "version", CX_VERSION);
	reply_result(x, id, cacheable(x, result));
}

/* A request of the stateless revision: its _meta says who asks and what it can do; there is
 * no session, so the methods that only make sense in one do not exist. */
static void handle_stateless(struct cx_server *s, struct cx_exchange *x, const char *method,
			     json_t *id, json_t *params)
{
	static const char *const gone[] = { "initialize", "ping", "logging/setLevel",
					    "resources/subscribe", "resources/unsubscribe", NULL };
	const json_t *meta = json_object_get(params, "_meta");
	const json_t *pv = json_object_get(meta, CX_META_VERSION);
	const json_t *caps = json_object_get(meta, CX_META_CAPS);
	char msg[300];

	for (size_t i = 0; gone[i]; i++) {
		if (!strcmp(method, gone[i])) {
			cx_fmt(msg, sizeof(msg), "method not found: '%s' does not exist in protocol "
			       "version %s (there are no sessions)", method, CX_MCP_STATELESS);
			reply_status_error(x, id, 404, CX_RPC_METHOD_NOT_FOUND, msg, NULL);
			return;
		}
	}
	if (!json_is_string(pv) || !json_is_object(caps)) {
		cx_fmt(msg, sizeof(msg), "invalid params: missing _meta keys:%s%s",
		       json_is_string(pv) ? "" : " " CX_META_VERSION,
		       json_is_object(caps) ? "" : " " CX_META_CAPS);
		reply_status_error(x, id, 400, CX_RPC_INVALID_PARAMS, msg, NULL);
		return;
	}
	if (strcmp(json_string_value(pv), CX_MCP_STATELESS)) {
		json_t *supported = json_array();
		json_array_append_new(supported, json_string(CX_MCP_STATELESS));
		if (strcmp(json_string_value(pv), x->session->version))
			reply_status_error(x, id, 400, CX_RPC_HEADER_MISMATCH,
					   "MCP-Protocol-Version header does not match "
					   "_meta protocolVersion", NULL);
		else
			reply_status_error(x, id, 400, CX_RPC_UNSUPPORTED_VERSION,
					   "Unsupported protocol version",
					   json_pack("{s:o, s:s}", "supported", supported,
						     "requested", json_string_value(pv)));
		if (strcmp(json_string_value(pv), x->session->version))
			json_decref(supported);
		return;
	}
	if (strcmp(x->session->version, CX_MCP_STATELESS)) {
		reply_status_error(x, id, 400, CX_RPC_HEADER_MISMATCH,
				   "MCP-Protocol-Version header does not match _meta protocolVersion",
				   NULL);
		return;
	}
	if (!strcmp(method, "server/discover")) {
		do_discover(s, x, id);
		return;
	}
	handle_request(s, x, method, id, params);
}

/* Handles one non-batch message; reply() is called exactly once. */
static void submit_one(struct cx_server *s, struct cx_exchange *x, json_t *msg)
{
	struct cx_rpc_msg m;

	cx_rpc_classify(msg, &m);
	switch (m.kind) {
	case CX_RPC_INVALID:
		reply_error(x, m.id, m.err_code, m.err_msg);
		break;
	case CX_RPC_RESPONSE:
		/* The client answering a request a call sent it (sampling, elicitation). */
		if (!cx_hub_deliver(s->hub, x->session ? x->session->fp : "", x->who->name, msg))
			cx_debug("a response for no waiting request (late, or another replica's)");
		x->reply(x, NULL);
		break;
	case CX_RPC_NOTIFICATION:
		/* Never answered, whatever they hold. */
		if (!strcmp(m.method, "notifications/cancelled"))
			cancel_job(s, x, json_object_get(m.params, "requestId"));
		else if (cx_log_get_level() <= CX_LOG_DEBUG)
			cx_debug("notification '%s'", m.method);
		x->reply(x, NULL);
		break;
	case CX_RPC_REQUEST:
		if (x->stateless)
			handle_stateless(s, x, m.method, m.id, m.params);
		else
			handle_request(s, x, m.method, m.id, m.params);
		break;
	}
}

/* ---- batches (protocol 2025-03-26 only) ---- */

struct batch {
	struct cx_exchange *parent;
	pthread_mutex_t lock;
	json_t *responses;
	size_t pending;                 /* members not yet answered, plus one for the loop */
	bool deferred;
};

struct batch_member {
	struct cx_exchange x;           /* first: the exchange callbacks recover the member */
	struct batch *b;
};

static void batch_finish(struct batch *b)
{
	struct cx_exchange *parent = b->parent;
	json_t *r = b->responses;

	pthread_mutex_destroy(&b->lock);
	free(b);
	if (json_array_size(r) == 0) {
		json_decref(r);
		r = NULL;
	}
	parent->reply(parent, r);
}

static void batch_defer(struct cx_exchange *x)
{
	struct batch *b = ((struct batch_member *)x)->b;

	/* Members are submitted on the parent's thread, so this needs no lock. */
	if (!b->deferred && b->parent->defer)
		b->parent->defer(b->parent);
	b->deferred = true;
}

static void batch_reply(struct cx_exchange *x, json_t *response)
{
	struct batch_member *bm = (struct batch_member *)x;
	struct batch *b = bm->b;
	bool last;

	free(bm);
	pthread_mutex_lock(&b->lock);
	if (response)
		json_array_append_new(b->responses, response);
	last = --b->pending == 0;
	pthread_mutex_unlock(&b->lock);
	if (last)
		batch_finish(b);
}

/* Messages a member's call sends before its reply go out on the batch's own stream. */
static int batch_send(struct cx_exchange *x, json_t *msg)
{
	struct cx_exchange *parent = ((struct batch_member *)x)->b->parent;

	if (!parent->send) {
		json_decref(msg);
		return -1;
	}
	return parent->send(parent, msg);
}

static void submit_batch(struct cx_server *s, struct cx_exchange *x, json_t *arr)
{
	const char *version = session_ready(x) ? x->session->version : NULL;
	struct batch *b;
	size_t i, n = json_array_size(arr);
	json_t *m;
	bool last;

	if (!version || !cx_mcp_allows_batch(version)) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "invalid request: JSON-RPC batches are not supported in protocol version "
			 "%s; send one message at a time", version ? version : "(not initialized)");
		reply_error(x, NULL, CX_RPC_INVALID_REQUEST, msg);
		return;
	}
	if (n == 0) {
		reply_error(x, NULL, CX_RPC_INVALID_REQUEST, "invalid request: empty batch");
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->responses = json_array())) {
		free(b);
		reply_error(x, NULL, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->parent = x;
	b->pending = n + 1;
	json_array_foreach(arr, i, m) {
		struct batch_member *bm = calloc(1, sizeof(*bm));

		if (!bm) {
			pthread_mutex_lock(&b->lock);
			json_array_append_new(b->responses,
					      cx_rpc_error(NULL, CX_RPC_INTERNAL_ERROR,
							   "internal error: out of memory", NULL));
			b->pending--;
			pthread_mutex_unlock(&b->lock);
			continue;
		}
		bm->b = b;
		bm->x.who = x->who;
		bm->x.session = x->session;
		bm->x.session_ready = x->session_ready;
		bm->x.defer = batch_defer;
		bm->x.reply = batch_reply;
		bm->x.send = batch_send;
		const char *method = json_string_value(json_object_get(m, "method"));
		if (method && !strcmp(method, "initialize")) {
			bm->x.reply(&bm->x, cx_rpc_error(json_object_get(m, "id"),
							  CX_RPC_INVALID_REQUEST,
							  "invalid request: initialize must not be "
							  "part of a batch", NULL));
			continue;
		}
		submit_one(s, &bm->x, m);
	}
	pthread_mutex_lock(&b->lock);
	last = --b->pending == 0;
	pthread_mutex_unlock(&b->lock);
	if (last)
		batch_finish(b);
}

void cx_server_submit(struct cx_server *s, struct cx_exchange *x, json_t *msg)
{
	if (json_is_array(msg))
		submit_batch(s, x, msg);
	else
		submit_one(s, x, msg);
	json_decref(msg);
}

/* The process's server, for cx_resource_updated(): adapters hold no server handle. */
static _Atomic(struct cx_server *) notify_server;

struct updated_ctx {
	struct cx_server *s;
	const char *uri;
};

static void push_updated(void *ctx, const char *skey)
{
	struct updated_ctx *u = ctx;

	cx_server_push(u->s, skey,
		       cx_rpc_notification("notifications/resources/updated",
					   json_pack("{s:s}", "uri", u->uri)));
}

int cx_tool_set_available(const char *tool, bool available)
{
	struct cx_server *s = atomic_load(&notify_server);
	int changed;

	if (!s || !tool)
		return -1;
	changed = cx_registry_set_available(s->reg, tool, available);
	if (changed < 0)
		return -1;
	if (changed) {
		cx_info("tool '%s' %s", tool, available ? "is available again" : "was withdrawn");
		/* Every session with a stream open hears it ("*"); others see it next list. */
		cx_server_push(s, "*", cx_rpc_notification("notifications/tools/list_changed", NULL));
	}
	return 0;
}

/* Withdraws or restores a catalog entry; tells every session when that changed a list. */
static int set_entry_available(enum cx_reg_kind kind, const char *key, bool available)
{
	static const char *const notes[] = { "notifications/resources/list_changed",
					     "notifications/resources/list_changed",
					     "notifications/prompts/list_changed" };
	struct cx_server *s = atomic_load(&notify_server);
	int changed;

	if (!s || !key)
		return -1;
	changed = cx_registry_set_entry_available(s->reg, kind, key, available);
	if (changed < 0)
		return -1;
	if (changed)
		cx_server_push(s, "*", cx_rpc_notification(notes[kind], NULL));
	return 0;
}

int cx_resource_set_available(const char *uri, bool available)
{
	/* A URI names a resource; failing that, a template. */
	if (!set_entry_available(CX_REG_RESOURCE, uri, available))
		return 0;
	return set_entry_available(CX_REG_TEMPLATE, uri, available);
}

int cx_prompt_set_available(const char *name, bool available)
{
	return set_entry_available(CX_REG_PROMPT, name, available);
}

void cx_resource_updated(const char *uri)
{
	struct cx_server *s = atomic_load(&notify_server);
	struct updated_ctx u = { s, uri };

	if (s && uri)
		cx_hub_each_subscriber(s->hub, uri, push_updated, &u);
}

int cx_server_add_push(struct cx_server *s, cx_push_fn fn, void *ctx)
{
	int rc = -1;

	pthread_mutex_lock(&s->push_lock);
	if (s->npush < sizeof(s->push) / sizeof(s->push[0])) {
		s->push[s->npush].fn = fn;
		s->push[s->npush].ctx = ctx;
		s->npush++;
		rc = 0;
	}
	pthread_mutex_unlock(&s->push_lock);
	return rc;
}

void cx_server_remove_push(struct cx_server *s, cx_push_fn fn, void *ctx)
{
	pthread_mutex_lock(&s->push_lock);
	for (size_t i = 0; i < s->npush; i++) {
		if (s->push[i].fn == fn && s->push[i].ctx == ctx) {
			s->push[i] = s->push[--s->npush];
			break;
		}
	}
	pthread_mutex_unlock(&s->push_lock);
}

int cx_server_push(struct cx_server *s, const char *fp, json_t *msg)
{
	int delivered = 0;

	pthread_mutex_lock(&s->push_lock);
	for (size_t i = 0; msg && i < s->npush; i++)
		delivered += s->push[i].fn(s->push[i].ctx, fp, json_incref(msg));
	pthread_mutex_unlock(&s->push_lock);
	json_decref(msg);
	return delivered;
}

/* ---- life cycle ---- */

static int build_principals(struct cx_server *s, struct cx_err *err)
{
	const struct cx_gw_config *c = s->conf;

	s->anonymous.name = "anonymous";
	s->stdio.name = "stdio";
	if (!c->ntokens)
		return 0;
	s->tokens = calloc(c->ntokens, sizeof(*s->tokens));
	if (!s->tokens)
		return cx_err_set(err, "out of memory");
	for (size_t i = 0; i < c->ntokens; i++) {
		s->tokens[i].p.name = c->tokens[i].name;
		s->tokens[i].p.allow = (const char *const *)c->tokens[i].allow;
		s->tokens[i].p.read_only = c->tokens[i].read_only;
		memcpy(s->tokens[i].hash, c->tokens[i].hash, sizeof(s->tokens[i].hash));
	}
	s->ntokens = c->ntokens;
	return 0;
}

struct cx_server *cx_server_new(const struct cx_gw_config *conf, struct cx_registry *reg,
				struct cx_audit *audit, struct cx_err *err)
{
	struct cx_server *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	s->conf = conf;
	s->reg = reg;
	s->audit = audit;
	if (conf->session_key_set && conf->session_key.len >= CX_SESSION_KEY_LEN) {
		memcpy(s->key, conf->session_key.data, CX_SESSION_KEY_LEN);
	} else if (RAND_bytes(s->key, sizeof(s->key)) != 1) {
		cx_err_set(err, "could not generate a session key");
		free(s);
		return NULL;
	}
	if (build_principals(s, err)) {
		free(s);
		return NULL;
	}
	s->hub = cx_hub_new(conf->session_ttl_s);
	s->tasks = s->hub ? cx_tasks_new(s) : NULL;
	if (!s->tasks) {
		cx_err_set(err, "out of memory");
		cx_hub_free(s->hub);
		free(s->tokens);
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->push_lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->tick, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&s->draining, false);
	return s;
}

int cx_server_start(struct cx_server *s, struct cx_err *err)
{
	s->workers = calloc((size_t)s->conf->workers, sizeof(*s->workers));
	if (!s->workers)
		return cx_err_set(err, "out of memory");
	for (long i = 0; i < s->conf->workers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s))
			return cx_err_set(err, "could not start worker %ld: %s", i,
					  strerror(errno));
		s->nworkers++;
	}
	if (pthread_create(&s->watchdog, NULL, watchdog_main, s))
		return cx_err_set(err, "could not start the deadline watchdog");
	s->watchdog_running = true;
	atomic_store(&notify_server, s);
	return 0;
}

size_t cx_server_drain(struct cx_server *s)
{
	size_t abandoned = 0;
	struct timespec grace;

	atomic_store(&s->draining, true);
	/* Nobody would be left to poll a task: stop them rather than wait for them. */
	cx_tasks_cancel_all(s->tasks);
	pthread_mutex_lock(&s->lock);
	if (s->unanswered)
		cx_info("draining: waiting for %zu call(s) in flight", s->unanswered);
	/* Bounded: the watchdog answers every call by its deadline. */
	while (s->unanswered)
		pthread_cond_wait(&s->idle, &s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->tick);
	pthread_mutex_unlock(&s->lock);

	/* A handler still running past its deadline (answered already) gets one short grace
	 * for all workers together; then the process exits without it. */
	clock_gettime(CLOCK_REALTIME, &grace);
	grace.tv_sec += 2;
	for (size_t i = 0; i < s->nworkers; i++) {
		if (pthread_timedjoin_np(s->workers[i], NULL, &grace)) {
			cx_warn("a worker is still inside a tool past its deadline; leaving it");
			pthread_detach(s->workers[i]);
			abandoned++;
		}
	}
	s->nworkers = 0;
	if (s->watchdog_running) {
		pthread_join(s->watchdog, NULL);
		s->watchdog_running = false;
	}
	return abandoned;
}

void cx_server_free(struct cx_server *s)
{
	struct cx_server *self = s;

	if (!s)
		return;
	atomic_compare_exchange_strong(&notify_server, &self, NULL);
	if (s->nworkers || s->watchdog_running)
		cx_server_drain(s);
	free(s->workers);
	free(s->tokens);
	cx_hub_free(s->hub);
	cx_tasks_free(s->tasks);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->push_lock);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->tick);
	pthread_cond_destroy(&s->idle);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}

const json_t *cx_server_tool_def(const struct cx_server *s, const char *name)
{
	const struct cx_reg_tool *rt = name ? cx_registry_find(s->reg, name) : NULL;

	return rt ? rt->def : NULL;
}

void cx_server_session_ended(struct cx_server *s, const char *fp)
{
	cx_hub_forget(s->hub, fp);
}
