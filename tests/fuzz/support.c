/* The fuzz targets' shared helpers (support.h). */
#include "support.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/err.h"
#include "../../common/http_async.h"
#include "../../common/http_client.h"
#include "../../common/json.h"
#include "../../common/llm.h"
#include "../../common/mcp.h"
#include "../../common/schema.h"
#include "../../common/util.h"

#define FZ_BODY_MAX (4u << 20)

static const char *script;
static size_t script_len;
static int calls;

void fz_http_script(const char *text, size_t len)
{
	script = text;
	script_len = len;
	calls = 0;
}

int fz_http_calls(void)
{
	return calls;
}

char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

bool fz_has_absolute_path(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '/' && (i == 0 || strchr(" \t\r\n\"'[{,=\\", data[i - 1])))
			return true;
	}
	return false;
}

/* The decimal number at the start of [p, end), blanks skipped; at most 99,999. */
static long number(const char *p, const char *end)
{
	long n = 0;

	while (p < end && *p == ' ')
		p++;
	for (; p < end && *p >= '0' && *p <= '9' && n < 10000; p++)
		n = n * 10 + (*p - '0');
	return n;
}

/* Section n of the script: [*start, *end) past its "@@ STATUS" line, with the status. Past
 * the last section, the last; no script at all is an empty 404. */
static long section(int n, const char **start, const char **end)
{
	const char *p = script, *stop = script + script_len, *next;
	long status = 200;

	if (!script_len) {
		*start = *end = "";
		return 404;
	}
	for (;;) {
		const char *s = p;

		status = 200;
		if (stop - p >= 3 && !memcmp(p, "@@ ", 3)) {
			status = number(p + 3, stop);
			s = memchr(p, '\n', (size_t)(stop - p));
			s = s ? s + 1 : stop;
		}
		next = memmem(s, (size_t)(stop - s), "\n@@ ", 4);
		*start = s;
		*end = next ? next : stop;
		if (!next || n-- == 0)
			return status;
		p = next + 1;
	}
}

/* "@h Name: value" lines at the top of a section: the answer's headers. */
static const char *headers(const char *s, const char *end, const struct cx_http_req *req,
			   struct cx_http_resp *resp)
{
	while (end - s >= 3 && !memcmp(s, "@h ", 3)) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *line = s + 3, *colon;
		size_t n;

		eol = eol ? eol : end;
		colon = memchr(line, ':', (size_t)(eol - line));
		s = eol < end ? eol + 1 : end;
		if (!colon)
			continue;
		n = (size_t)(colon - line);
		if (n == 11 && !strncasecmp(line, "Retry-After", 11))
			resp->retry_after_s = number(colon + 1, eol);
		for (size_t i = 0;
		     req->keep_headers && req->keep_headers[i] && i < CX_HTTP_KEEP_MAX; i++) {
			if (strlen(req->keep_headers[i]) != n ||
			    strncasecmp(req->keep_headers[i], line, n) || resp->kept[i])
				continue;
			colon++;
			while (colon < eol && *colon == ' ')
				colon++;
			resp->kept[i] = fz_strndup((const uint8_t *)colon, (size_t)(eol - colon));
		}
	}
	return s;
}

int __wrap_cx_http_do(struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
		      const struct cx_http_req *req, struct cx_http_resp *resp, struct cx_err *err);

/* Stands in for cx_http_do: the adapters' requests are answered from the script. Status 0
 * is a request that got no answer. */
int __wrap_cx_http_do(struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
		      const struct cx_http_req *req, struct cx_http_resp *resp, struct cx_err *err)
{
	const char *s, *end;
	long status = section(calls++, &s, &end);

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	if (status <= 0 || status > 999)
		return cx_err_set(err, "backend unreachable: connection refused");
	s = headers(s, end, req, resp);
	resp->status = status;
	resp->attempts = 1;
	resp->body = fz_strndup((const uint8_t *)s, (size_t)(end - s));
	resp->body_len = (size_t)(end - s);
	resp->json = cx_json_loadb(resp->body, resp->body_len, FZ_BODY_MAX, NULL);
	return 0;
}

/* ---- one adapter tool ---- */

struct tool_slot {
	const struct cx_tool *tool;
	struct cx_schema *schema;
};

struct adapter_run {
	const struct cx_adapter *a;
	void *state;
	json_t *defs;
	struct tool_slot *slots; /* as many as defs */
};

static struct adapter_run *adapter_open(const struct cx_adapter *a, const char *conf_json)
{
	struct adapter_run *r = calloc(1, sizeof(*r));
	struct cx_err err = { 0 };
	json_t *conf = json_loads(conf_json, 0, NULL);
	size_t i;
	json_t *d;

	if (!r || !conf)
		abort();
	r->a = a;
	fz_http_script("", 0);
	if (a->init(conf, &r->state, &err)) {
		fprintf(stderr, "fuzz: %s: init: %s\n", a->name, err.msg);
		abort();
	}
	json_decref(conf);
	r->defs = json_loads(a->tools_json, 0, NULL);
	r->slots = calloc(json_array_size(r->defs) + 1, sizeof(*r->slots));
	if (!r->defs || !r->slots)
		abort();
	json_array_foreach(r->defs, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));

		for (const struct cx_tool *t = a->tools; t->name; t++) {
			if (name && !strcmp(t->name, name))
				r->slots[i].tool = t;
		}
		if (!r->slots[i].tool || (r->slots[i].tool->flags & CX_OPAQUE_SCHEMA))
			continue;
		r->slots[i].schema = cx_schema_compile(json_object_get(d, "inputSchema"), &err);
		if (!r->slots[i].schema) {
			fprintf(stderr, "fuzz: %s: schema of %s: %s\n", a->name, name, err.msg);
			abort();
		}
	}
	return r;
}

/* A tool result as MCP has it: content an array of blocks; structuredContent an object. */
static void check_result(const char *tool, json_t *res)
{
	json_t *content = json_object_get(res, "content");
	json_t *sc = json_object_get(res, "structuredContent");

	if (!json_is_array(content) || (sc && !json_is_object(sc))) {
		char *t = json_dumps(res, JSON_COMPACT);

		fprintf(stderr, "fuzz: %s: malformed result %s\n", tool, t ? t : "?");
		abort();
	}
}

/* The call a tool runs with here: 2 s to its deadline, never cancelled. */
#define FZ_CALL(t, r, flag)                                                                        \
	{                                                                                          \
		.tool = (t)->name, .caller = "fuzz", .state = (r)->state,                          \
		.deadline_ms = cx_now_ms() + 2000, .cancelled = &(flag)                            \
	}

/* The tool's fast path (adapter.h: begin, then end with the answer its backend I/O loop would
 * get, here the scripted one) on the same answers: a well-formed result, and the very result
 * of the ordinary handler when that made its one request too. Else the two would tell an
 * agent different things depending on which way a call went. */
static void run_fast(struct adapter_run *r, size_t i, const json_t *args, const json_t *plain,
		     const char *text, size_t len)
{
	const struct cx_tool *t = r->slots[i].tool;
	atomic_bool cancelled = false;
	struct cx_call call = FZ_CALL(t, r, cancelled);
	struct cx_async_req ar;
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct cx_result res;
	json_t *out = NULL;
	int rc;

	memset(&ar, 0, sizeof(ar));
	if (t->async->begin(&call, args, &ar))
		return; /* the ordinary way (CX_ASYNC_BLOCKING) */
	fz_http_script(text, len);
	rc = cx_http_do(ar.client, &call, ar.timeout_ms, &ar.req, &resp, &err);
	cx_result_init(&res);
	rc = t->async->end(&call, args, &ar, rc, &resp, &err, &res);
	if (rc == 0 && (out = cx_result_take(&res)))
		check_result(t->name, out);
	cx_result_release(&res);
	cx_http_resp_release(&resp);
	if (out && plain && fz_http_calls() == 1 && !json_equal(out, plain)) {
		char *a = json_dumps(plain, JSON_COMPACT), *b = json_dumps(out, JSON_COMPACT);

		fprintf(stderr,
			"fuzz: %s: the fast path answered\n  %s\nwhere the handler answered\n  %s\n",
			t->name, b ? b : "?", a ? a : "?");
		abort();
	}
	json_decref(out);
}

static void run_one(struct adapter_run *r, size_t i, const json_t *args, const char *text,
		    size_t len)
{
	const struct cx_tool *t = r->slots[i].tool;
	atomic_bool cancelled = false;
	struct cx_call call = FZ_CALL(t, r, cancelled);
	struct cx_result res;
	char msg[256];
	json_t *out = NULL;
	int calls_made;

	if (r->slots[i].schema &&
	    cx_schema_validate(r->slots[i].schema, args, "arguments", msg, sizeof(msg)))
		return;
	fz_http_script(text, len);
	cx_result_init(&res);
	if (t->call(&call, args, &res) == 0) {
		out = cx_result_take(&res);
		if (out)
			check_result(t->name, out);
	}
	cx_result_release(&res);
	calls_made = fz_http_calls();
	if (t->async)
		run_fast(r, i, args, calls_made == 1 ? out : NULL, text, len);
	json_decref(out);
}

void fz_run_tool(const struct cx_adapter *a, const char *conf_json, const uint8_t *data,
		 size_t size)
{
	static struct adapter_run *r;
	const char *p = (const char *)data, *stop = p + size, *nl1, *nl2;
	char *name, *argtext;
	json_t *args, *d;
	size_t i;

	if (!r)
		r = adapter_open(a, conf_json);
	nl1 = memchr(p, '\n', size);
	if (!nl1)
		return;
	nl2 = memchr(nl1 + 1, '\n', (size_t)(stop - nl1 - 1));
	nl2 = nl2 ? nl2 : stop;
	name = fz_strndup(data, (size_t)(nl1 - p));
	argtext = fz_strndup((const uint8_t *)nl1 + 1, (size_t)(nl2 - nl1 - 1));
	args = cx_json_loadb(argtext, strlen(argtext), FZ_BODY_MAX, NULL);
	json_array_foreach(r->defs, i, d) {
		if (!json_is_object(args) || !r->slots[i].tool ||
		    strcmp(name, json_string_value(json_object_get(d, "name"))))
			continue;
		run_one(r, i, args, nl2 < stop ? nl2 + 1 : stop,
			nl2 < stop ? (size_t)(stop - nl2 - 1) : 0);
		fz_http_script("", 0);
		break;
	}
	json_decref(args);
	free(argtext);
	free(name);
}

/* ---- the server core ---- */

#include <pthread.h>
#include <time.h>

#include "../../common/audit.h"
#include "../../common/log.h"
#include "../../gateway/adapters.h"
#include "../../gateway/config.h"
#include "../../gateway/exchange.h"
#include "../../gateway/registry.h"
#include "../../gateway/server.h"
#include "../../gateway/session.h"
#include "../adapters/testkit.h"

struct cx_server *fz_server(void)
{
	static struct cx_gw_config conf;
	static struct cx_server *srv;
	struct cx_err err = { 0 };
	struct cx_registry *reg;
	struct cx_audit *audit;

	if (srv)
		return srv;
	cx_log_set_level(CX_LOG_ERROR);
	cx_gw_config_defaults(&conf);
	conf.workers = 2;
	conf.queue_max = 64;
	conf.call_timeout_ms = 1000;
	reg = cx_registry_new();
	if (!reg ||
	    cx_registry_add_state(reg, &cx_gateway_adapter, cx_gateway_adapter_state_new(reg),
				  &err) ||
	    cx_registry_add(reg, &cx_testkit_adapter, NULL, &err))
		goto fail;
	audit = cx_audit_open("/dev/null", &err);
	if (!audit)
		goto fail;
	srv = cx_server_new(&conf, reg, audit, &err);
	if (!srv || cx_server_start(srv, &err))
		goto fail;
	return srv;
fail:
	fprintf(stderr, "fuzz: server: %s\n", err.msg);
	abort();
}

struct fz_ex {
	struct cx_exchange x; /* first: the server hands it back */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int replies;
	json_t *response;
};

static void fz_reply(struct cx_exchange *x, json_t *response)
{
	struct fz_ex *e = (struct fz_ex *)x;

	pthread_mutex_lock(&e->lock);
	if (e->replies++) {
		fprintf(stderr, "fuzz: a second reply to one exchange\n");
		abort();
	}
	e->response = response;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void fz_defer(struct cx_exchange *x)
{
}

json_t *fz_submit(struct cx_server *srv, char kind, json_t *msg)
{
	static const struct cx_principal who = { "fuzz", NULL, false };
	struct fz_ex e = { .replies = 0 };
	struct cx_session sess;
	struct timespec ts;
	json_t *r;

	cx_session_init(&sess);
	pthread_mutex_init(&e.lock, NULL);
	pthread_cond_init(&e.cond, NULL);
	e.x.who = &who;
	e.x.session = &sess;
	e.x.defer = fz_defer;
	e.x.reply = fz_reply;
	if (kind == 'i') {
		snprintf(sess.version, sizeof(sess.version), "2025-06-18");
		e.x.initialized = true;
	} else if (kind == 's') {
		e.x.stateless = true;
	}
	cx_server_submit(srv, &e.x, msg);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&e.lock);
	while (!e.replies) {
		if (pthread_cond_timedwait(&e.cond, &e.lock, &ts)) {
			fprintf(stderr, "fuzz: no reply within 20 s\n");
			abort();
		}
	}
	r = e.response;
	pthread_mutex_unlock(&e.lock);
	pthread_mutex_destroy(&e.lock);
	pthread_cond_destroy(&e.cond);
	free(e.x.new_session_id);
	cx_session_release(&sess);
	return r;
}

/* ---- the LLM reply parsers ---- */

static struct cx_llm *llm_client(enum cx_llm_api api)
{
	static struct cx_llm *clients[2];
	struct cx_llm *l = clients[api == CX_LLM_OPENAI];
	struct cx_err err = { 0 };
	static json_t *key; /* kept: reachable, not a leak */

	if (l)
		return l;
	setenv("CORTEX_FUZZ_LLM_KEY", "sk-fuzz-not-a-key", 1);
	key = json_pack("{s:s}", "env", "CORTEX_FUZZ_LLM_KEY");
	struct cx_llm_model m = {
		.api = api,
		.model = "fuzz-model",
		.base_url = "http://127.0.0.1:9",
		.api_key = key,
	};
	struct cx_llm_opts o = { .models = &m, .n_models = 1, .retries = 0 };

	l = cx_llm_new(&o, &err);
	if (!l) {
		fprintf(stderr, "fuzz_llm: %s\n", err.msg);
		abort();
	}
	clients[api == CX_LLM_OPENAI] = l;
	return l;
}

void fz_llm_reply(enum cx_llm_api api, const uint8_t *data, size_t size)
{
	struct cx_llm *l = llm_client(api);
	struct cx_err err = { 0 };
	struct cx_llm_reply reply;
	struct cx_llm_request req = { .system = "Be brief.", .max_tokens = 64 };
	json_t *messages = json_array(), *tools = json_array(), *schema;

	if (size > 256 * 1024)
		goto out;
	cx_llm_add_user_text(messages, "What is on the cluster?");
	schema = json_pack("{s:s}", "type", "object");
	cx_llm_add_tool(tools, "proxmox_list_vms", "Lists the VMs.", schema);
	json_decref(schema);
	req.messages = messages;
	req.tools = tools;
	fz_http_script((const char *)data, size);
	memset(&reply, 0, sizeof(reply));
	if (cx_llm_send(l, NULL, 1000, &req, &reply, &err) == 0) {
		size_t tool_uses = 0;

		for (size_t i = 0; i < reply.n_blocks; i++) {
			const struct cx_llm_block *b = &reply.blocks[i];

			if (b->kind == CX_LLM_TOOL_USE &&
			    (tool_uses++, !b->id || !b->name || !json_is_object(b->input)))
				abort();
			if (b->kind == CX_LLM_TEXT && !b->text)
				abort();
		}
		if (tool_uses != reply.n_tool_use || !json_is_object(reply.message))
			abort();
		/* The reply goes back into the conversation as it is. */
		if (cx_llm_add_reply(messages, &reply))
			abort();
		cx_llm_reply_release(&reply);
	} else if (!err.msg[0]) {
		abort();
	}
	fz_http_script("", 0);
out:
	json_decref(messages);
	json_decref(tools);
}
