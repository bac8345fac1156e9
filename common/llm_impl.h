/* What the LLM client's files share: the wire protocol of each provider as a struct of
 * functions, and the retry helpers. Not for callers of llm.h. */
#ifndef CX_LLM_IMPL_H
#define CX_LLM_IMPL_H

#include <jansson.h>
#include <stdbool.h>

#include "adapter.h"
#include "err.h"
#include "llm.h"

struct cx_llm_provider {
	const char *service; /* the subject of messages: "anthropic" */
	const char *path;    /* "/v1/messages" */
	/* The request body for model. New reference; NULL with err on a conversation that cannot
	 * be sent (or out of memory). */
	json_t *(*body)(const char *model, const struct cx_llm_request *req, struct cx_err *err);
	/* Fills reply's message, stop, stop_raw, stop_seq and usage from a 2xx body (borrowed).
	 * 0, or -1 with err saying what is wrong with the body. */
	int (*parse)(const json_t *body, struct cx_llm_reply *reply, struct cx_err *err);
	/* The message of an error body (borrowed from body; NULL when there is none), and whether
	 * it says the spend or usage limit is reached. */
	const char *(*error_message)(const json_t *body, bool *spend_limit);
};

extern const struct cx_llm_provider cx_llm_anthropic, cx_llm_openai;

/* True when an error code or message (either may be NULL) names a spend, usage or quota
 * limit rather than a rate. */
bool cx_llm_says_spend_limit(const char *code, const char *message);
/* A uniform random number in [0, 1) for jitter, safe from any thread. */
double cx_llm_random(void);
/* Sleeps ms unless call is cancelled first: 0, or -1 when it was. */
int cx_llm_sleep(const struct cx_call *call, long ms);
/* A new text of the text blocks of content (a string, or an array of blocks) joined with
 * "\n\n"; NULL on out of memory. */
char *cx_llm_join_text(const json_t *content);

#endif
