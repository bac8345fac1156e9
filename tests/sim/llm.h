/* The scripted LLM (llm.c: script, replies, faults; llm_check.c: requests checked as the real
 * APIs check them). Private to the two. */
#ifndef SIM_LLM_H
#define SIM_LLM_H

#include "sim.h"

/* The Messages API's error envelope: {"type": "error", "error": {"type", "message"},
 * "request_id"}. New reference. */
json_t *llm_anthropic_error(unsigned int status, const char *message);
/* Chat Completions': {"error": {"message", "type", "param": null, "code"}}. New reference. */
json_t *llm_openai_error(unsigned int status, const char *message);

/* Checks a Messages API request's body (parsed) as the API does: NULL when good, else the
 * message of its 400 invalid_request_error (in msg). */
const char *llm_check_anthropic(const json_t *body, char *msg, size_t msglen);
/* The same for Chat Completions. */
const char *llm_check_openai(const json_t *body, char *msg, size_t msglen);

/* The text of the first user message of either API's messages (joined text parts), or "". */
const char *llm_first_user_text(const json_t *messages, char *buf, size_t buflen);

#endif
