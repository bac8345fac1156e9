/* The MCP methods and their table (see methods.h). Each method checks its own params and
 * answers; the rules every method shares (initialized first, which revision has it) are
 * applied once, by the generic path in server.c, from the table. */
#include "methods.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "metrics.h"
#include "policy.h"
#include "reply.h"
#include "server_impl.h"
#include "stateless.h"

#define CURSOR_MAX 64

/* ---- initialize, ping ---- */

static void do_initialize(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	struct cx_session *sess = x->session;
	const char *requested, *version;
	json_t *caps, *info, *result;

	if (sess->version[0]) {
		cx_reply_error(x, id, CX_RPC_INVALID_REQUEST,
			       "invalid request: this session is already initialized");
		return;
	}
	requested = json_string_value(json_object_get(params, "protocolVersion"));
	if (!json_is_object(params) || !requested) {
		cx_reply_error(
			x, id, CX_RPC_INVALID_PARAMS,
			"invalid params: initialize needs params.protocolVersion (a string)");
		return;
	}
	caps = json_object_get(params, "capabilities");
	info = json_object_get(params, "clientInfo");
	if ((caps && !json_is_object(caps)) || (info && !json_is_object(info))) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: capabilities and clientInfo must be objects");
		return;
	}
	version = cx_mcp_negotiate(requested);

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
			cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR,
				       "internal error: could not create a session");
			return;
		}
		cx_metrics_session(s->metrics, true);
	}
	cx_debug("session %s initialized with protocol %s (client asked for %s)",
		 sess->fp[0] ? sess->fp : "stdio", version, requested);

	result =
		json_pack("{s:s, s:{s:{s:b}, s:{s:b, s:b}, s:{s:b}, s:{}, s:{}}, s:{s:s, s:s, s:s},"
			  " s:s}",
			  "protocolVersion", version, "capabilities", "tools", "listChanged", 1,
			  "resources", "subscribe", 1, "listChanged", 1, "prompts", "listChanged",
			  1, "logging", "completions", "serverInfo", "name", CX_SERVER_NAME,
			  "title", CX_SERVER_TITLE, "version", CX_VERSION, "instructions",
			  CX_SERVER_INSTRUCTIONS);
	cx_reply_result(x, id, result);
}

static void do_ping(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	cx_reply_result(x, id, json_object());
}

/* ---- lists ---- */

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
typedef const json_t *(*list_item_fn)(struct cx_server *s, const struct cx_exchange *x, int kind,
				      size_t i);

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
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: unknown cursor; start again without one");
		return;
	}
	list = json_array();
	result = json_object();
	if (!list || !result || json_object_set(result, key, list)) {
		json_decref(list);
		json_decref(result);
		cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
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
	cx_reply_result(x, id, cx_cacheable(x->stateless, result));
}

static const json_t *tool_item(struct cx_server *s, const struct cx_exchange *x, int kind, size_t i)
{
	const struct cx_reg_tool *rt = cx_registry_at(s->reg, i);

	return cx_registry_available(rt) && cx_policy_allows(x->who, rt, NULL, 0) ? rt->def : NULL;
}

static void do_tools_list(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	reply_page(s, x, id, params, "tools", 0, cx_registry_count(s->reg), tool_item);
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
static void catalog_list(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params,
			 enum cx_reg_kind kind)
{
	static const char *const keys[] = { "resources", "resourceTemplates", "prompts" };

	reply_page(s, x, id, params, keys[kind], kind, cx_registry_entry_count(s->reg, kind),
		   entry_item);
}

static void do_resources_list(struct cx_server *s, struct cx_exchange *x, json_t *id,
			      json_t *params)
{
	catalog_list(s, x, id, params, CX_REG_RESOURCE);
}

static void do_templates_list(struct cx_server *s, struct cx_exchange *x, json_t *id,
			      json_t *params)
{
	catalog_list(s, x, id, params, CX_REG_TEMPLATE);
}

static void do_prompts_list(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	catalog_list(s, x, id, params, CX_REG_PROMPT);
}

/* ---- tools/call ---- */

static void do_tools_call(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	cx_dispatch_call(s->dispatch, x, id, params);
}

/* ---- resources ---- */

/* The entry serving params.uri for this caller, or NULL when answered: -32602 without a uri,
 * not found (-32002; the stateless revision: -32602) with data.uri. */
static const struct cx_reg_entry *resource_of(struct cx_server *s, struct cx_exchange *x,
					      json_t *id, const json_t *params, const char **uri)
{
	const struct cx_reg_entry *e;
	char msg[300];

	*uri = json_string_value(json_object_get(params, "uri"));
	if (!*uri) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: 'uri' (a string) is required");
		return NULL;
	}
	e = cx_registry_resolve_uri(s->reg, *uri);
	if (!e || !cx_policy_sees_adapter(x->who, s->reg, e->adapter)) {
		cx_fmt(msg, sizeof(msg), "resource not found: '%.200s'", *uri);
		cx_reply_error_full(x, id, 0,
				    x->stateless ? CX_RPC_INVALID_PARAMS
						 : CX_RPC_RESOURCE_NOT_FOUND,
				    msg, json_pack("{s:s}", "uri", *uri));
		return NULL;
	}
	return e;
}

static void do_resources_read(struct cx_server *s, struct cx_exchange *x, json_t *id,
			      json_t *params)
{
	const char *uri;
	const struct cx_reg_entry *e = resource_of(s, x, id, params, &uri);

	if (e)
		cx_dispatch_hook(s->dispatch, x, id, params, CX_JOB_READ, e, uri);
}

/* Updates reach the session on its GET stream (stdio: stdout) when the adapter calls
 * cx_resource_updated(). */
static void do_resources_subscribe(struct cx_server *s, struct cx_exchange *x, json_t *id,
				   json_t *params)
{
	const char *uri;

	if (!resource_of(s, x, id, params, &uri))
		return;
	if (cx_hub_subscribe(s->hub, cx_exchange_fp(x), uri)) {
		cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR,
			       "the gateway holds too many subscriptions; try again later");
		return;
	}
	cx_reply_result(x, id, json_object());
}

static void do_resources_unsubscribe(struct cx_server *s, struct cx_exchange *x, json_t *id,
				     json_t *params)
{
	const char *uri;

	if (!resource_of(s, x, id, params, &uri))
		return;
	cx_hub_unsubscribe(s->hub, cx_exchange_fp(x), uri);
	cx_reply_result(x, id, json_object());
}

/* ---- prompts, completion, logging ---- */

/* 0 when every argument is a string and every required one is there; else answered, -1. */
static int check_prompt_args(struct cx_exchange *x, json_t *id, const char *name,
			     const struct cx_reg_entry *e, const json_t *args)
{
	const json_t *a, *v;
	const char *key;
	char msg[300];
	size_t i;

	json_object_foreach((json_t *)args, key, v) {
		if (!json_is_string(v)) {
			cx_fmt(msg, sizeof(msg),
			       "invalid params: argument '%.100s' must be a string", key);
			cx_reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
			return -1;
		}
	}
	json_array_foreach(json_object_get(e->def, "arguments"), i, a) {
		const char *an = json_string_value(json_object_get(a, "name"));
		if (json_is_true(json_object_get(a, "required")) && !json_object_get(args, an)) {
			cx_fmt(msg, sizeof(msg),
			       "invalid params: prompt '%.100s' needs argument "
			       "'%.100s'",
			       name, an);
			cx_reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
			return -1;
		}
	}
	return 0;
}

static void do_prompts_get(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const json_t *args = json_object_get(params, "arguments");
	const struct cx_reg_entry *e;
	char msg[300];

	if (!name || (args && !json_is_object(args))) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: prompts/get needs "
			       "'name' (a string) and optional 'arguments' (an object)");
		return;
	}
	e = cx_registry_find_prompt(s->reg, name);
	if (!e || !cx_policy_sees_adapter(x->who, s->reg, e->adapter)) {
		cx_fmt(msg, sizeof(msg), "unknown prompt '%.200s'; prompts/list names them", name);
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS, msg);
		return;
	}
	if (check_prompt_args(x, id, name, e, args))
		return;
	cx_dispatch_hook(s->dispatch, x, id, params, CX_JOB_PROMPT, e, name);
}

/* The prompt (ref/prompt) or template (ref/resource: its uriTemplate, or a URI it matches) a
 * completion asks about; *name is what the hook is told. NULL when none. */
static const struct cx_reg_entry *completion_target(struct cx_server *s, const json_t *ref,
						    const char **name)
{
	const char *type = json_string_value(json_object_get(ref, "type"));
	const struct cx_reg_entry *e = NULL;

	*name = NULL;
	if (!strcmp(type, "ref/prompt")) {
		*name = json_string_value(json_object_get(ref, "name"));
		return *name ? cx_registry_find_prompt(s->reg, *name) : NULL;
	}
	if (strcmp(type, "ref/resource"))
		return NULL;
	*name = json_string_value(json_object_get(ref, "uri"));
	if (!*name)
		return NULL;
	for (size_t i = 0; !e && i < cx_registry_entry_count(s->reg, CX_REG_TEMPLATE); i++) {
		const struct cx_reg_entry *t = cx_registry_entry_at(s->reg, CX_REG_TEMPLATE, i);
		if (cx_registry_entry_available(t) && !strcmp(t->key, *name))
			e = t;
	}
	return e ? e : cx_registry_resolve_uri(s->reg, *name);
}

static void do_complete(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const json_t *ref = json_object_get(params, "ref");
	const json_t *arg = json_object_get(params, "argument");
	const struct cx_reg_entry *e;
	const char *name;

	if (!json_is_string(json_object_get(ref, "type")) ||
	    !json_is_string(json_object_get(arg, "name")) ||
	    !json_is_string(json_object_get(arg, "value"))) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: completion/complete "
			       "needs 'ref' and 'argument' {name, value}");
		return;
	}
	e = completion_target(s, ref, &name);
	if (!e || !cx_policy_sees_adapter(x->who, s->reg, e->adapter)) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: 'ref' names no prompt or resource template here");
		return;
	}
	if (!e->adapter->complete) {
		/* Nothing to suggest is a valid answer. */
		cx_reply_result(x, id,
				json_pack("{s:{s:[], s:i, s:b}}", "completion", "values", "total",
					  0, "hasMore", 0));
		return;
	}
	cx_dispatch_hook(s->dispatch, x, id, params, CX_JOB_COMPLETE, e, name);
}

static void do_set_level(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	const char *level = json_string_value(json_object_get(params, "level"));

	if (!level || cx_hub_set_level(s->hub, cx_exchange_fp(x), level)) {
		cx_reply_error(x, id, CX_RPC_INVALID_PARAMS,
			       "invalid params: 'level' must be one of debug, info, notice, "
			       "warning, error, critical, alert, emergency");
		return;
	}
	cx_reply_result(x, id, json_object());
}

/* ---- tasks ---- */

static void do_tasks_get(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	cx_tasks_get(s->tasks, x, id, params);
}

static void do_tasks_update(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	cx_tasks_update(s->tasks, x, id, params);
}

static void do_tasks_cancel(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	cx_tasks_cancel(s->tasks, x, id, params);
}

/* ---- the table ---- */

static const struct cx_method methods[] = {
	/* name, handler, before initialize, revisions, Mcp-Name member, audited */
	{ "initialize", do_initialize, true, CX_IN_SESSIONS, NULL, false },
	{ "ping", do_ping, true, CX_IN_SESSIONS, NULL, false },
	{ "server/discover", cx_stateless_discover, false, CX_IN_STATELESS, NULL, false },
	{ "tools/list", do_tools_list, false, CX_IN_BOTH, NULL, false },
	{ "tools/call", do_tools_call, false, CX_IN_BOTH, "name", true },
	{ "resources/list", do_resources_list, false, CX_IN_BOTH, NULL, false },
	{ "resources/templates/list", do_templates_list, false, CX_IN_BOTH, NULL, false },
	{ "resources/read", do_resources_read, false, CX_IN_BOTH, "uri", false },
	{ "resources/subscribe", do_resources_subscribe, false, CX_IN_SESSIONS, NULL, false },
	{ "resources/unsubscribe", do_resources_unsubscribe, false, CX_IN_SESSIONS, NULL, false },
	{ "prompts/list", do_prompts_list, false, CX_IN_BOTH, NULL, false },
	{ "prompts/get", do_prompts_get, false, CX_IN_BOTH, "name", false },
	{ "completion/complete", do_complete, false, CX_IN_BOTH, NULL, false },
	{ "logging/setLevel", do_set_level, false, CX_IN_SESSIONS, NULL, false },
	{ "tasks/get", do_tasks_get, false, CX_IN_STATELESS, "taskId", false },
	{ "tasks/update", do_tasks_update, false, CX_IN_STATELESS, "taskId", false },
	{ "tasks/cancel", do_tasks_cancel, false, CX_IN_STATELESS, "taskId", false },
	{ NULL, NULL, false, 0, NULL, false },
};

const struct cx_method *cx_method_find(const char *name)
{
	for (const struct cx_method *m = methods; m->name; m++)
		if (!strcmp(m->name, name))
			return m;
	return NULL;
}

static bool bad_name(const json_t *v)
{
	return json_is_string(v) && cx_has_ctl(json_string_value(v), json_string_length(v));
}

static int refuse_name(char *msg, size_t msglen, const char *what)
{
	cx_fmt(msg, msglen,
	       "invalid params: %s contains a control character (NUL, tab, newline or another "
	       "below U+0020, or DEL)",
	       what);
	return -1;
}

int cx_method_params_check(const json_t *params, char *msg, size_t msglen)
{
	static const char *const members[] = { "name", "uri", "taskId" };
	const json_t *ref = json_object_get(params, "ref");
	const char *key;
	json_t *v;
	char what[32];

	if (!json_is_object(params))
		return 0;
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		if (bad_name(json_object_get(params, members[i]))) {
			cx_fmt(what, sizeof(what), "'%s'", members[i]);
			return refuse_name(msg, msglen, what);
		}
	}
	if (bad_name(json_object_get(ref, "name")))
		return refuse_name(msg, msglen, "'ref.name'");
	if (bad_name(json_object_get(ref, "uri")))
		return refuse_name(msg, msglen, "'ref.uri'");
	if (bad_name(json_object_get(json_object_get(params, "argument"), "name")))
		return refuse_name(msg, msglen, "'argument.name'");
	/* The parser refuses a NUL in a key already; the other control characters land here. */
	json_object_foreach((json_t *)json_object_get(params, "arguments"), key, v) {
		if (cx_has_ctl(key, strlen(key)))
			return refuse_name(msg, msglen, "an argument key");
	}
	return 0;
}

const char *cx_method_name_member(const char *method)
{
	const struct cx_method *m = cx_method_find(method);

	return m ? m->name_member : NULL;
}
