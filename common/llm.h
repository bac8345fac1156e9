/* One interface for an LLM tool-use loop over two wire protocols: the Anthropic Messages API
 * (POST {base}/v1/messages) and any OpenAI-compatible Chat Completions server (POST
 * {base}/v1/chat/completions: OpenAI, vLLM, llama.cpp, Ollama).
 *
 * - The conversation is kept in one provider-neutral form, the Messages API's own: an array of
 *   {"role": "user"|"assistant", "content": [blocks]} with text, tool_use {id, name, input} and
 *   tool_result {tool_use_id, content, is_error} blocks. It is plain JSON, so the orchestrator
 *   can save it in a task and resume it later; the OpenAI provider maps it both ways.
 * - A client holds a list of models in order, each on its provider. A request goes to the
 *   first; when that one fails after its retries (rate-limited, overloaded, down, refusing the
 *   key, answering garbage) the next one is asked, and so on. Cancellation and the deadline
 *   stop everything at once and are never a reason to fall back.
 * - Retries follow the official Anthropic SDKs: 408, 409, 429, every 5xx (529 included) and
 *   connection failures; x-should-retry: true/false decides first; the wait is retry-after-ms,
 *   else retry-after (seconds or an HTTP date) when 0 < wait <= 60 s, else min(0.5 * 2^n, 8) s
 *   less up to 25 % jitter (n: retries already made). A 429 saying the spend or usage limit is
 *   reached is not retried. Every wait, and every fallback, is told to on_event first.
 * - API keys never reach an error text, an event or a log line (there is no logging here).
 * - Any number of threads may call cx_llm_send on one client at once (the orchestrator runs
 *   its workers so); each request uses a handle of its own from the HTTP client's pool. */
#ifndef CX_LLM_H
#define CX_LLM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"
#include "err.h"

#define CX_LLM_RETRIES_DEFAULT 4 /* the default; the SDKs' is 2 */
#define CX_LLM_MODELS_MAX      8

enum cx_llm_api {
	CX_LLM_ANTHROPIC, /* Messages API */
	CX_LLM_OPENAI,    /* Chat Completions */
};

/* cx_err.code of a failed cx_llm_send (the last model's failure, when all failed). */
enum cx_llm_errcode {
	CX_LLM_E_NONE = 0,
	CX_LLM_E_CANCELLED,  /* the call was cancelled */
	CX_LLM_E_DEADLINE,   /* the call's deadline passed, or a wait would pass it */
	CX_LLM_E_CONNECT,    /* no HTTP answer: refused, reset, dropped, TLS */
	CX_LLM_E_RATE_LIMIT, /* 429 still, after the retries */
	CX_LLM_E_SPEND,      /* 429 saying the spend/usage limit is reached: never retried */
	CX_LLM_E_OVERLOADED, /* 529 (or 503) still, after the retries */
	CX_LLM_E_SERVER,     /* another 5xx, 408 or 409, after the retries */
	CX_LLM_E_AUTH,       /* 401 or 403: the key is missing, wrong or not allowed */
	CX_LLM_E_REQUEST,    /* another 4xx: the request was refused (bad model, bad input) */
	CX_LLM_E_MALFORMED,  /* a 2xx whose body is not the API's reply */
	CX_LLM_E_INTERNAL,   /* out of memory, a bad argument */
};

enum cx_llm_stop {
	CX_LLM_STOP_END_TURN,
	CX_LLM_STOP_TOOL_USE,
	CX_LLM_STOP_MAX_TOKENS,
	CX_LLM_STOP_PAUSE_TURN, /* send the conversation again as it is to let the model go on */
	CX_LLM_STOP_REFUSAL,
	CX_LLM_STOP_STOP_SEQUENCE,
	CX_LLM_STOP_OTHER, /* one this code does not know: stop_raw names it */
};

struct cx_llm_model {
	enum cx_llm_api api;
	const char *model;    /* "claude-sonnet-4-5", "llama3.1:8b" */
	const char *base_url; /* without /v1 (a trailing "/v1" is accepted); NULL: for Anthropic
			       * $ANTHROPIC_BASE_URL or https://api.anthropic.com, for OpenAI
			       * $OPENAI_BASE_URL or https://api.openai.com */
	/* {"env": "NAME"} or {"file": "/run/secrets/x"}; NULL: $ANTHROPIC_API_KEY (required for
	 * Anthropic) or $OPENAI_API_KEY (optional: a local server may take no key). Borrowed. */
	const json_t *api_key;
	const char *ca_file;       /* TLS as the HTTP client takes it; NULL for the system CAs */
	bool insecure_skip_verify; /* only for a local server with a self-signed certificate */
};

enum cx_llm_event_kind {
	CX_LLM_EV_RETRY,    /* about to wait wait_ms, then try the same model again */
	CX_LLM_EV_FALLBACK, /* model failed (reason); the next one in the list is asked */
};

struct cx_llm_event {
	enum cx_llm_event_kind kind;
	const char *model;  /* the model the event is about */
	size_t model_index; /* its place in the list */
	int attempt;        /* RETRY: the attempt that failed, 1-based */
	long status;        /* its HTTP status; 0 for a connection failure */
	long wait_ms;       /* RETRY: how long the wait is */
	const char *basis;  /* RETRY: "retry-after-ms", "retry-after" or "backoff" */
	const char *reason; /* a sentence: what failed (never a key) */
};

/* Called on the thread of cx_llm_send, before the wait it announces. */
typedef void (*cx_llm_event_fn)(void *arg, const struct cx_llm_event *ev);

struct cx_llm_opts {
	const struct cx_llm_model *models; /* in order of preference; copied */
	size_t n_models;                   /* 1 .. CX_LLM_MODELS_MAX */
	int retries;                       /* per model; < 0: CX_LLM_RETRIES_DEFAULT */
	cx_llm_event_fn on_event;          /* may be NULL */
	void *event_arg;
	size_t max_response_bytes; /* 0: the HTTP client's default */
};

struct cx_llm;

/* Loads every model's key and builds the HTTP clients; no connection is made. NULL with err
 * naming the model and the setting that is wrong (never the key itself). */
struct cx_llm *cx_llm_new(const struct cx_llm_opts *o, struct cx_err *err);
/* After every cx_llm_send on it has returned; wipes the keys. */
void cx_llm_free(struct cx_llm *l);

struct cx_llm_request {
	const char *system;     /* may be NULL */
	const json_t *messages; /* the conversation, borrowed (see the top of this file) */
	const json_t *tools;    /* [{name, description, input_schema}] or NULL; borrowed */
	long max_tokens;        /* > 0, required by the Messages API */
};

enum cx_llm_block_kind {
	CX_LLM_TEXT,
	CX_LLM_TOOL_USE
};

struct cx_llm_block {
	enum cx_llm_block_kind kind;
	const char *text; /* TEXT */
	const char *id;   /* TOOL_USE: send its result back with this id */
	const char *name;
	const json_t *input; /* TOOL_USE: an object */
};

/* Everything borrows from message, which the reply owns. */
struct cx_llm_reply {
	struct cx_llm_block *blocks; /* the text and tool_use blocks, in order */
	size_t n_blocks;
	size_t n_tool_use; /* how many of them are tool_use: run them concurrently */
	enum cx_llm_stop stop;
	char stop_raw[32];  /* the provider's own word ("end_turn", "tool_calls") */
	char *stop_seq;     /* STOP_SEQUENCE: which one, when given (malloc'd) */
	long input_tokens;  /* usage; -1 when the server did not say */
	long output_tokens; /* usage; -1 when the server did not say */
	const char *model;  /* the list entry that answered */
	size_t model_index; /* its place in the list (> 0 after a fallback) */
	int attempts;       /* HTTP requests made in all, fallbacks included */
	json_t *message;    /* {"role": "assistant", "content": [...]} in the neutral form,
			     * every block the provider sent kept (thinking, server tools)
			     * so it can be appended as it is */
};

/* Sends req for call (deadline and cancellation; NULL: no deadline but timeout_ms per request
 * and wait). 0 with reply filled (release it), or -1 with err: a sentence naming the model and
 * what failed, and err->code one of enum cx_llm_errcode. */
int cx_llm_send(struct cx_llm *l, const struct cx_call *call, long timeout_ms,
		const struct cx_llm_request *req, struct cx_llm_reply *reply, struct cx_err *err);
void cx_llm_reply_release(struct cx_llm_reply *reply);

/* ---- building the conversation (each appends to messages; 0, or -1 on out of memory) ---- */

/* A user turn of text. */
int cx_llm_add_user_text(json_t *messages, const char *text);
/* The reply's message, as it came (so pause_turn and tool_use turns can be continued). */
int cx_llm_add_reply(json_t *messages, const struct cx_llm_reply *reply);
/* One tool result, for the tool_use block tool_use_id; results of one reply's parallel calls
 * share one user message (consecutive calls add to the last one when it holds results). */
int cx_llm_add_tool_result(json_t *messages, const char *tool_use_id, const char *content,
			   bool is_error);
/* A tool for req->tools (an array): name, description and its JSON schema (borrowed, copied
 * by reference). */
int cx_llm_add_tool(json_t *tools, const char *name, const char *description,
		    const json_t *input_schema);

const char *cx_llm_stop_name(enum cx_llm_stop stop);

/* ---- the retry rules, for tests and for the orchestrator's metrics ---- */

/* The SDKs' decision for an answer: x_should_retry ("true"/"false"/NULL) first, then the
 * status. spend_limit: the body says the spend or usage limit is reached. */
bool cx_llm_should_retry(long status, const char *x_should_retry, bool spend_limit);
/* The wait in ms before retry number n (0 for the first), from the answer's retry-after-ms and
 * retry-after (NULL when absent; a connection failure has neither); *basis says which rule
 * gave it. rnd in [0, 1) is the jitter draw. */
long cx_llm_retry_wait_ms(int n, const char *retry_after_ms, const char *retry_after, double rnd,
			  const char **basis);

#endif
