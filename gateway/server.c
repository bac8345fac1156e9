/* The server core's front door: principals, life cycle, and what happens to each message a
 * transport submits — classified as JSON-RPC, then a response for a waiting call, a
 * notification, or a request that the method table routes (see server.h for the other files
 * of the core).
 *
 * Threading: cx_server_submit() runs on a transport thread and never blocks on a tool. A
 * tool call becomes a job for the worker pool (unless the tool is CX_NONBLOCKING); the
 * exchange's reply() is then called from a worker, or from the deadline watchdog when the
 * call runs out of time — whichever comes first; the other side's answer is dropped. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "methods.h"
#include "metrics.h"
#include "reply.h"
#include "server_impl.h"
#include "stateless.h"

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

struct cx_dispatch *cx_server_dispatch(struct cx_server *s)
{
	return s->dispatch;
}

struct cx_registry *cx_server_registry(const struct cx_server *s)
{
	return s->reg;
}

struct cx_metrics *cx_server_metrics(const struct cx_server *s)
{
	return s->metrics;
}

void cx_server_stats(const struct cx_server *s, size_t *in_flight, size_t *queued)
{
	cx_jobs_stats(s->jobs, in_flight, queued);
}

const json_t *cx_server_tool_def(const struct cx_server *s, const char *name)
{
	const struct cx_reg_tool *rt = name ? cx_registry_find(s->reg, name) : NULL;

	return rt ? rt->def : NULL;
}

int cx_server_subscribe(struct cx_server *s, const char *key, const char *uri)
{
	return cx_hub_subscribe(s->hub, key, uri);
}

int cx_server_subscribe_prefix(struct cx_server *s, const char *key, const char *prefix)
{
	return cx_hub_subscribe_prefix(s->hub, key, prefix);
}

void cx_server_unsubscribe(struct cx_server *s, const char *key, const char *uri)
{
	cx_hub_unsubscribe(s->hub, key, uri);
}

void cx_server_session_ended(struct cx_server *s, const char *fp)
{
	cx_metrics_session(s->metrics, false);
	cx_hub_forget(s->hub, fp);
}

/* ---- messages ---- */

bool cx_server_initialized(const struct cx_exchange *x)
{
	return x->initialized || (x->session && x->session->version[0]);
}

/* The generic path of every request: the method table says whether the method exists in the
 * request's revision and whether it may come before initialize. */
static void handle_request(struct cx_server *s, struct cx_exchange *x, const char *method,
			   json_t *id, json_t *params)
{
	const struct cx_method *m = cx_method_find(method);
	char msg[200];

	if (cx_method_params_check(params, msg, sizeof(msg))) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
		return;
	}
	if (x->stateless) {
		if (!cx_stateless_refuse(m, x, method, id, params))
			m->fn(s, x, id, params);
		return;
	}
	if (!(m && m->before_init) && !cx_server_initialized(x)) {
		cx_reply_error(x, id, CX_RPC_INVALID_REQUEST,
			       "invalid request: the session is not initialized; send initialize "
			       "first");
		return;
	}
	if (!m || !(m->revisions & CX_IN_SESSIONS)) {
		if (m)
			cx_fmt(msg, sizeof(msg),
			       "method not found: '%s' exists only in protocol "
			       "version %s",
			       method, CX_MCP_STATELESS);
		else
			cx_fmt(msg, sizeof(msg), "method not found: '%.100s'", method);
		cx_reply_error(x, id, CX_RPC_METHOD_NOT_FOUND, msg);
		return;
	}
	m->fn(s, x, id, params);
}

void cx_server_submit_one(struct cx_server *s, struct cx_exchange *x, json_t *msg)
{
	struct cx_rpc_msg m;

	cx_rpc_classify(msg, &m);
	switch (m.kind) {
	case CX_RPC_INVALID:
		cx_reply_error(x, m.id, m.err_code, m.err_msg);
		break;
	case CX_RPC_RESPONSE:
		/* The client answering a request a call sent it (sampling, elicitation). */
		if (!cx_hub_deliver(s->hub, cx_exchange_fp(x), x->who->name, msg))
			cx_debug("a response for no waiting request (late, or another replica's)");
		x->reply(x, NULL);
		break;
	case CX_RPC_NOTIFICATION:
		/* Never answered, whatever they hold. */
		if (!strcmp(m.method, "notifications/cancelled"))
			cx_dispatch_cancel(s->dispatch, x, json_object_get(m.params, "requestId"));
		else if (cx_log_get_level() <= CX_LOG_DEBUG)
			cx_debug("notification '%s'", m.method);
		x->reply(x, NULL);
		break;
	case CX_RPC_REQUEST:
		handle_request(s, x, m.method, m.id, m.params);
		break;
	}
}

void cx_server_submit(struct cx_server *s, struct cx_exchange *x, json_t *msg)
{
	if (json_is_array(msg))
		cx_server_submit_batch(s, x, msg);
	else
		cx_server_submit_one(s, x, msg);
	json_decref(msg);
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

/* hub, then jobs, then dispatch, then tasks: each is built on the ones before it. */
static int build_parts(struct cx_server *s)
{
	struct cx_task_hook hook;

	s->metrics = cx_metrics_new(s->reg);
	s->hub = s->metrics ? cx_hub_new(s->conf->session_ttl_s) : NULL;
	s->jobs = s->hub ? cx_jobs_new(s->conf, s->audit, s->hub) : NULL;
	if (s->jobs)
		cx_jobs_set_metrics(s->jobs, s->metrics);
	s->dispatch = s->jobs ? cx_dispatch_new(s->conf, s->reg, s->jobs, s->key) : NULL;
	s->tasks = s->dispatch ? cx_tasks_new(s->dispatch) : NULL;
	if (!s->tasks)
		return -1;
	cx_tasks_hook(s->tasks, &hook);
	cx_dispatch_set_task_hook(s->dispatch, &hook);
	return 0;
}

struct cx_server *cx_server_new(const struct cx_gw_config *conf, struct cx_registry *reg,
				struct cx_audit *audit, struct cx_err *err)
{
	struct cx_server *s = calloc(1, sizeof(*s));

	if (!s || cx_reply_init()) {
		free(s);
		cx_err_set(err, "out of memory");
		return NULL;
	}
	s->conf = conf;
	s->reg = reg;
	s->audit = audit;
	pthread_mutex_init(&s->push_lock, NULL);
	if (conf->session_key_set && conf->session_key.len >= CX_SESSION_KEY_LEN) {
		memcpy(s->key, conf->session_key.data, CX_SESSION_KEY_LEN);
	} else if (RAND_bytes(s->key, sizeof(s->key)) != 1) {
		cx_err_set(err, "could not generate a session key");
		cx_server_free(s);
		return NULL;
	}
	if (build_principals(s, err)) {
		cx_server_free(s);
		return NULL;
	}
	if (build_parts(s)) {
		cx_err_set(err, "out of memory");
		cx_server_free(s);
		return NULL;
	}
	return s;
}

int cx_server_start(struct cx_server *s, struct cx_err *err)
{
	if (cx_jobs_start(s->jobs, err))
		return -1;
	cx_notify_attach(s);
	return 0;
}

size_t cx_server_shed(struct cx_server *s)
{
	return cx_jobs_shed(s->jobs);
}

size_t cx_server_drain(struct cx_server *s)
{
	cx_jobs_refuse(s->jobs);
	/* Nobody would be left to poll a task: stop them rather than wait for them. */
	cx_tasks_cancel_all(s->tasks);
	return cx_jobs_drain(s->jobs);
}

void cx_server_free(struct cx_server *s)
{
	if (!s)
		return;
	cx_notify_detach(s);
	if (s->tasks)
		cx_tasks_cancel_all(s->tasks);
	cx_jobs_free(s->jobs); /* drains first if it still runs */
	cx_tasks_free(s->tasks);
	cx_dispatch_free(s->dispatch);
	cx_hub_free(s->hub);
	cx_metrics_free(s->metrics);
	free(s->tokens);
	pthread_mutex_destroy(&s->push_lock);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}
