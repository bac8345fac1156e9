/* What the fuzz targets share: a backend that answers from the fuzz input (cx_http_do is
 * wrapped at link time, see fuzz.mk), a driver that runs one adapter tool on such answers,
 * and small input helpers. */
#ifndef CX_FUZZ_SUPPORT_H
#define CX_FUZZ_SUPPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/adapter.h"
#include "../../common/llm.h"

/* The answers the next cx_http_do calls get, in order, from text of sections
 * "@@ STATUS\n<body>" (a section without a status line answers 200); past the last one, each
 * call gets the last again. Borrowed until the next fz_http_script. */
void fz_http_script(const char *text, size_t len);
/* How many requests the scripted backend has answered since the last fz_http_script. */
int fz_http_calls(void);

/* True when the input may name an absolute path (a '/' at its start or after a blank, a
 * quote, '[', '{', ',' or '='): config and kubeconfig targets skip those, so that a file
 * reference never reaches the machine's own files (a FIFO, /dev/zero). Relative paths resolve
 * under a folder that does not exist. URLs ("https://") are kept. */
bool fz_has_absolute_path(const uint8_t *data, size_t size);

/* A NUL-terminated copy of data (caller frees). */
char *fz_strndup(const uint8_t *data, size_t size);

/* Runs one tool of adapter a (initialised once with conf_json, a JSON object) on input:
 *   line 1: the tool's name; line 2: its arguments (a JSON object, checked against the tool's
 *   input schema as dispatch would: invalid arguments end the run); the rest: the backend's
 *   answers for fz_http_script.
 * The result must be a well-formed MCP tool result. A tool with a fast path (adapter.h) runs it
 * too, on the same answers: its result must be well-formed, and the handler's own when the
 * handler made one request. */
void fz_run_tool(const struct cx_adapter *a, const char *conf_json, const uint8_t *data,
		 size_t size);

struct cx_server;
/* A started server core with the gateway and testkit adapters, as tests/unit/server_fixture.c
 * builds it (no tokens, audit to /dev/null, quiet log): made once, never freed. */
struct cx_server *fz_server(void);

/* One model reply (the answers in data, as fz_http_script reads them) through cx_llm_send on
 * api's parser: a reply must be whole — blocks, stop reason and message consistent — and a
 * failure must say why. No retries, so no waits. */
void fz_llm_reply(enum cx_llm_api api, const uint8_t *data, size_t size);

/* Submits msg (stolen) on an exchange of the given kind and waits for the one reply:
 * 'i' an initialized session, 's' the stateless revision, anything else a fresh one. Returns
 * the response (new reference, NULL for none); aborts when none comes within 20 s. */
json_t *fz_submit(struct cx_server *srv, char kind, json_t *msg);
#endif
