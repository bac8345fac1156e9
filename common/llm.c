/* The LLM client: models in order, each on its provider's HTTP client with its key; one request
 * sent with the SDKs' retries, then to the next model when a model fails. */
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "json.h"
#include "llm_impl.h"
#include "secret.h"
#include "util.h"

struct entry {
	const struct cx_llm_provider *p;
	char *model;
	struct cx_http_client *http;
	struct cx_secret key; /* len 0: none (an OpenAI-compatible server without auth) */
	char *auth;           /* the header line carrying the key; wiped when freed */
};

struct cx_llm {
	struct entry e[CX_LLM_MODELS_MAX];
	size_t n;
	int retries;
	cx_llm_event_fn on_event;
	void *event_arg;
};

static void wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void cx_llm_free(struct cx_llm *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		cx_http_client_free(l->e[i].http);
		cx_secret_release(&l->e[i].key);
		wipe_free(l->e[i].auth);
		free(l->e[i].model);
	}
	free(l);
}

/* The key of m: its reference, else the provider's variable ($ANTHROPIC_API_KEY is required,
 * $OPENAI_API_KEY is not). */
static int load_key(const struct cx_llm_model *m, size_t i, struct entry *e, struct cx_err *err)
{
	const char *var = m->api == CX_LLM_ANTHROPIC ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
	char path[48];
	json_t *ref;
	int rc;

	snprintf(path, sizeof(path), "models[%zu].api_key", i);
	if (m->api_key != NULL)
		return cx_secret_load(m->api_key, &e->key, path, err);
	if (getenv(var) == NULL || *getenv(var) == '\0') {
		if (m->api == CX_LLM_OPENAI)
			return 0;
		return cx_err_set(err, "model '%s' has no API key: set %s or give api_key",
				  m->model, var);
	}
	ref = json_pack("{s:s}", "env", var);
	rc = ref ? cx_secret_load(ref, &e->key, path, err) : cx_err_set(err, "out of memory");
	json_decref(ref);
	return rc;
}

/* base_url without a trailing '/' or "/v1": paths carry /v1. */
static int base_of(const struct cx_llm_model *m, char *out, size_t outlen, struct cx_err *err)
{
	const char *var = m->api == CX_LLM_ANTHROPIC ? "ANTHROPIC_BASE_URL" : "OPENAI_BASE_URL";
	const char *b = m->base_url;
	size_t len;

	if (b == NULL)
		b = getenv(var) && *getenv(var)  ? getenv(var)
		    : m->api == CX_LLM_ANTHROPIC ? "https://api.anthropic.com"
						 : "https://api.openai.com";
	if (!cx_fmt(out, outlen, "%s", b))
		return cx_err_set(err, "base_url of model '%s' is too long", m->model);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
	if (len >= 3 && strcmp(out + len - 3, "/v1") == 0)
		out[len - 3] = '\0';
	return 0;
}

static int entry_init(const struct cx_llm_opts *o, size_t i, struct entry *e, struct cx_err *err)
{
	const struct cx_llm_model *m = &o->models[i];
	struct cx_http_client_opts ho = { 0 };
	char base[1024];
	int n = 0;

	if (m->model == NULL || *m->model == '\0')
		return cx_err_set(err, "models[%zu] names no model", i);
	e->p = m->api == CX_LLM_ANTHROPIC ? &cx_llm_anthropic : &cx_llm_openai;
	e->model = strdup(m->model);
	if (e->model == NULL)
		return cx_err_set(err, "out of memory");
	if (base_of(m, base, sizeof(base), err) != 0 || load_key(m, i, e, err) != 0)
		return -1;
	if (e->key.len > 0)
		n = m->api == CX_LLM_ANTHROPIC
			    ? asprintf(&e->auth, "x-api-key: %s", (const char *)e->key.data)
			    : asprintf(&e->auth, "Authorization: Bearer %s",
				       (const char *)e->key.data);
	if (n < 0) {
		e->auth = NULL;
		return cx_err_set(err, "out of memory");
	}
	ho.service = e->p->service;
	ho.base_url = base;
	ho.ca_file = m->ca_file;
	ho.insecure_skip_verify = m->insecure_skip_verify;
	ho.retries = 0; /* ours, below, follow the SDKs */
	ho.max_response_bytes = o->max_response_bytes;
	e->http = cx_http_client_new(&ho, err);
	if (e->http == NULL)
		return cx_err_prefix(err, "model '%s': ", m->model);
	return 0;
}

struct cx_llm *cx_llm_new(const struct cx_llm_opts *o, struct cx_err *err)
{
	struct cx_llm *l;

	if (o->n_models == 0 || o->n_models > CX_LLM_MODELS_MAX || o->models == NULL) {
		cx_err_set(err, "give 1 to %d models", CX_LLM_MODELS_MAX);
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	l->retries = o->retries < 0 ? CX_LLM_RETRIES_DEFAULT : o->retries;
	l->on_event = o->on_event;
	l->event_arg = o->event_arg;
	for (l->n = 0; l->n < o->n_models; l->n++)
		if (entry_init(o, l->n, &l->e[l->n], err) != 0) {
			l->n++;
			cx_llm_free(l);
			return NULL;
		}
	return l;
}

/* Removes every copy of the key from text (NUL-terminated, in a buffer of size bytes). */
static void scrub_text(char *text, size_t size, const struct entry *e)
{
	size_t klen = e->key.len;
	char *at;

	if (klen < 4)
		return;
	while ((at = strstr(text, (const char *)e->key.data)) != NULL) {
		size_t tail = strlen(at + klen) + 1;

		if (klen >= 10) {
			memcpy(at, "[redacted]", 10);
			memmove(at + 10, at + klen, tail);
		} else if (at + 10 + tail <= text + size) {
			memmove(at + 10, at + klen, tail);
			memcpy(at, "[redacted]", 10);
		} else {
			memset(at, '*', klen);
		}
	}
}

static void scrub(struct cx_err *err, const struct entry *e)
{
	if (err != NULL)
		scrub_text(err->msg, sizeof(err->msg), e);
}

static int fail_code(struct cx_err *err, int code)
{
	if (err)
		err->code = code;
	return -1;
}

/* The sentence and code for an HTTP answer that is not a success. */
static int fail_status(const struct entry *e, const struct cx_http_req *hreq,
		       const struct cx_http_resp *resp, bool spend, int retried, struct cx_err *err)
{
	bool keyish = resp->status == 401 || resp->status == 403;
	const char *msg = keyish ? NULL : e->p->error_message(resp->json, &(bool){ false });
	char hint[160], said[CX_ERR_MSG_MAX];
	int code;

	/* the server's words, without the key, before the sentence may cut them short */
	if (msg != NULL) {
		snprintf(said, sizeof(said), "%s", msg);
		scrub_text(said, sizeof(said), e);
		msg = said;
	}

	if (keyish) {
		code = CX_LLM_E_AUTH;
		snprintf(hint, sizeof(hint), "the API key was refused; check it (%s or api_key)",
			 e->p == &cx_llm_anthropic ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY");
	} else if (resp->status == 429 && spend) {
		code = CX_LLM_E_SPEND;
		snprintf(hint, sizeof(hint),
			 "the spend or usage limit is reached; retrying will "
			 "not help until it is raised");
	} else {
		code = resp->status == 429                          ? CX_LLM_E_RATE_LIMIT
		       : resp->status == 529 || resp->status == 503 ? CX_LLM_E_OVERLOADED
		       : resp->status >= 500 || resp->status == 408 || resp->status == 409
			       ? CX_LLM_E_SERVER
			       : CX_LLM_E_REQUEST;
		if (retried > 0)
			snprintf(hint, sizeof(hint), "still so after %d retries", retried);
		else
			snprintf(hint, sizeof(hint), "%s",
				 code == CX_LLM_E_REQUEST ? "the request was refused"
							  : "not retried");
	}
	cx_http_fail(e->http, hreq, resp, msg, hint, err);
	cx_err_prefix(err, "model '%s': ", e->model);
	return fail_code(err, code);
}

static void emit(struct cx_llm *l, size_t i, enum cx_llm_event_kind kind, int attempt, long status,
		 long wait_ms, const char *basis, const char *reason)
{
	struct cx_llm_event ev = {
		kind, l->e[i].model, i, attempt, status, wait_ms, basis, reason
	};

	if (l->on_event)
		l->on_event(l->event_arg, &ev);
}

/* 0 with reply filled from a 2xx answer, or -1 (CX_LLM_E_MALFORMED). */
static int take_reply(const struct entry *e, const struct cx_http_req *hreq,
		      const struct cx_http_resp *resp, struct cx_llm_reply *reply,
		      struct cx_err *err)
{
	struct cx_err why = { 0 };

	if (resp->json == NULL)
		cx_err_set(&why, "a body that is not JSON");
	else if (e->p->parse(resp->json, reply, &why) == 0)
		return 0;
	json_decref(reply->message);
	reply->message = NULL;
	free(reply->stop_seq);
	reply->stop_seq = NULL;
	cx_err_set(err,
		   "model '%s': %s answered %ld to %s %s with a reply that is not the API's: "
		   "%s; check that base_url points at %s",
		   e->model, e->p->service, resp->status, hreq->method, hreq->path, why.msg,
		   e->p == &cx_llm_anthropic ? "the Messages API"
					     : "an OpenAI-compatible Chat Completions server");
	return fail_code(err, CX_LLM_E_MALFORMED);
}

/* After a failed attempt: -1 when the call itself is over (cancelled, past the deadline). */
static int call_over(const struct cx_call *call, struct cx_err *err)
{
	if (call == NULL || !cx_call_cancelled(call))
		return 0;
	return fail_code(err, call->deadline_ms <= 0 || cx_call_remaining_ms(call) > 0
				      ? CX_LLM_E_CANCELLED
				      : CX_LLM_E_DEADLINE);
}

/* One model: attempts until a reply, a failure not worth retrying, or the retries are spent. */
static int ask_model(struct cx_llm *l, size_t i, const struct cx_call *call, long timeout_ms,
		     const struct cx_http_req *hreq, struct cx_llm_reply *reply, int *attempts,
		     struct cx_err *err)
{
	const struct entry *e = &l->e[i];
	int n;

	for (n = 0;; n++) {
		struct cx_http_resp resp = { 0 };
		const char *basis = NULL;
		bool retry, spend = false;
		long wait, status;
		int rc;

		(*attempts)++;
		rc = cx_http_do(e->http, call, timeout_ms, hreq, &resp, err);
		status = rc == 0 ? resp.status : 0;
		if (rc != 0) {
			if (call_over(call, err) != 0)
				return -1;
			fail_code(err, CX_LLM_E_CONNECT);
			cx_err_prefix(err, "model '%s': ", e->model);
			retry = true;
		} else if (resp.status >= 200 && resp.status < 300) {
			rc = take_reply(e, hreq, &resp, reply, err);
			cx_http_resp_release(&resp);
			return rc;
		} else {
			e->p->error_message(resp.json, &spend);
			retry = cx_llm_should_retry(resp.status, resp.kept[2], spend);
			fail_status(e, hreq, &resp, spend, n, err);
		}
		scrub(err, e);
		if (!retry || n >= l->retries) {
			cx_http_resp_release(&resp);
			return -1;
		}
		wait = cx_llm_retry_wait_ms(n, resp.kept[0], resp.kept[1], cx_llm_random(), &basis);
		cx_http_resp_release(&resp);
		if (call != NULL && call->deadline_ms > 0 && wait >= cx_call_remaining_ms(call)) {
			cx_err_prefix(err,
				      "the next retry, in %ld ms, would pass the deadline: ", wait);
			return fail_code(err, CX_LLM_E_DEADLINE);
		}
		emit(l, i, CX_LLM_EV_RETRY, n + 1, status, wait, basis, err->msg);
		if (cx_llm_sleep(call, wait) != 0) {
			cx_err_set(err, "the call was cancelled while waiting to retry model '%s'",
				   e->model);
			call_over(call, err);
			return -1;
		}
	}
}

/* reply->blocks from the text and tool_use blocks of reply->message. */
static int index_blocks(struct cx_llm_reply *reply)
{
	const json_t *content = json_object_get(reply->message, "content"), *b;
	size_t i, n = 0;

	reply->blocks = calloc(json_array_size(content) + 1, sizeof(*reply->blocks));
	if (reply->blocks == NULL)
		return -1;
	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		struct cx_llm_block *k = &reply->blocks[n];

		if (strcmp(type, "text") == 0) {
			k->kind = CX_LLM_TEXT;
			k->text = json_string_value(json_object_get(b, "text"));
		} else if (strcmp(type, "tool_use") == 0) {
			k->kind = CX_LLM_TOOL_USE;
			k->id = json_string_value(json_object_get(b, "id"));
			k->name = json_string_value(json_object_get(b, "name"));
			k->input = json_object_get(b, "input");
			reply->n_tool_use++;
		} else {
			continue;
		}
		n++;
	}
	reply->n_blocks = n;
	return 0;
}

static bool request_ok(const struct cx_llm_request *req, struct cx_err *err)
{
	if (!json_is_array(req->messages) || json_array_size(req->messages) == 0)
		return cx_err_set(err, "the conversation holds no message") == 0;
	if (req->max_tokens <= 0)
		return cx_err_set(err, "max_tokens must be positive") == 0;
	if (req->tools != NULL && !json_is_array(req->tools))
		return cx_err_set(err, "tools must be an array") == 0;
	return true;
}

int cx_llm_send(struct cx_llm *l, const struct cx_call *call, long timeout_ms,
		const struct cx_llm_request *req, struct cx_llm_reply *reply, struct cx_err *err)
{
	static const char *const keep[] = { "retry-after-ms", "retry-after", "x-should-retry",
					    NULL };
	struct cx_err local;
	int attempts = 0, rc = -1;
	size_t i;

	if (err == NULL)
		err = &local;
	memset(reply, 0, sizeof(*reply));
	cx_err_clear(err);
	if (!request_ok(req, err))
		return fail_code(err, CX_LLM_E_INTERNAL);
	for (i = 0; i < l->n; i++) {
		const struct entry *e = &l->e[i];
		const char *headers[4] = { 0 };
		struct cx_http_req hreq = { 0 };
		size_t h = 0;
		json_t *body = e->p->body(e->model, req, err);
		char *text = body ? cx_json_dumps(body, &hreq.body_len) : NULL;

		json_decref(body);
		if (text == NULL)
			return fail_code(err, CX_LLM_E_INTERNAL);
		if (e->auth)
			headers[h++] = e->auth;
		if (e->p == &cx_llm_anthropic)
			headers[h++] = "anthropic-version: 2023-06-01";
		headers[h++] = "Accept: application/json";
		hreq.method = "POST";
		hreq.path = e->p->path;
		hreq.headers = headers;
		hreq.body = text;
		hreq.keep_headers = keep;
		rc = ask_model(l, i, call, timeout_ms, &hreq, reply, &attempts, err);
		free(text);
		if (rc == 0 || err->code == CX_LLM_E_CANCELLED || err->code == CX_LLM_E_DEADLINE)
			break;
		if (i + 1 < l->n)
			emit(l, i, CX_LLM_EV_FALLBACK, attempts, 0, 0, NULL, err->msg);
	}
	reply->attempts = attempts;
	if (rc != 0)
		return -1;
	reply->model = l->e[i].model;
	reply->model_index = i;
	if (index_blocks(reply) != 0) {
		cx_llm_reply_release(reply);
		cx_err_set(err, "out of memory");
		return fail_code(err, CX_LLM_E_INTERNAL);
	}
	return 0;
}

void cx_llm_reply_release(struct cx_llm_reply *reply)
{
	free(reply->blocks);
	free(reply->stop_seq);
	json_decref(reply->message);
	memset(reply, 0, sizeof(*reply));
}

const char *cx_llm_stop_name(enum cx_llm_stop stop)
{
	static const char *const names[] = { "end_turn",   "tool_use", "max_tokens",
					     "pause_turn", "refusal",  "stop_sequence",
					     "other" };

	return (unsigned)stop < sizeof(names) / sizeof(names[0]) ? names[stop] : "other";
}

/* ---- the conversation ---- */

int cx_llm_add_user_text(json_t *messages, const char *text)
{
	return json_array_append_new(messages, json_pack("{s:s,s:[{s:s,s:s}]}", "role", "user",
							 "content", "type", "text", "text", text));
}

int cx_llm_add_reply(json_t *messages, const struct cx_llm_reply *reply)
{
	return json_array_append(messages, reply->message);
}

int cx_llm_add_tool_result(json_t *messages, const char *tool_use_id, const char *content,
			   bool is_error)
{
	json_t *last = json_array_get(messages, json_array_size(messages) - 1);
	json_t *blocks = json_object_get(last, "content");
	json_t *first = json_array_get(blocks, 0);
	json_t *b = json_pack("{s:s,s:s,s:s,s:b}", "type", "tool_result", "tool_use_id",
			      tool_use_id, "content", content, "is_error", is_error);
	const char *role = json_string_value(json_object_get(last, "role"));
	const char *type = json_string_value(json_object_get(first, "type"));

	if (b == NULL)
		return -1;
	if (role && strcmp(role, "user") == 0 && type && strcmp(type, "tool_result") == 0)
		return json_array_append_new(blocks, b);
	return json_array_append_new(messages,
				     json_pack("{s:s,s:[o]}", "role", "user", "content", b));
}

int cx_llm_add_tool(json_t *tools, const char *name, const char *description,
		    const json_t *input_schema)
{
	return json_array_append_new(tools, json_pack("{s:s,s:s?,s:O}", "name", name, "description",
						      description, "input_schema", input_schema));
}

char *cx_llm_join_text(const json_t *content)
{
	const json_t *b;
	char *out, *next;
	size_t i;

	if (json_is_string(content))
		return strdup(json_string_value(content));
	out = strdup("");
	json_array_foreach(content, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));
		const char *t = json_string_value(json_object_get(b, "text"));

		if (out == NULL || type == NULL || strcmp(type, "text") != 0 || t == NULL)
			continue;
		if (asprintf(&next, "%s%s%s", out, *out ? "\n\n" : "", t) < 0)
			next = NULL;
		free(out);
		out = next;
	}
	return out;
}
