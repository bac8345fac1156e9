/* The server side of the stateless revision (2026-07-28): the checks every request goes
 * through before its method (the method exists in this revision, _meta says who asks, the
 * versions agree), server/discover, cache hints, and the input-required rounds that stand in
 * for requests to the client: the answers a request brings in, and the sealed request state
 * a round hands out. The HTTP transport checks the headers (gateway/transport_http.c). */
#ifndef CX_STATELESS_H
#define CX_STATELESS_H

#include <jansson.h>
#include <stdbool.h>

#include "exchange.h"
#include "jobs.h"
#include "methods.h"

/* Checks a stateless request for method m (NULL: a method the gateway does not have) before
 * it runs: 404 -32601 for a method this revision does not have; 400 -32602 for missing _meta
 * keys; 400 -32020 when the header and _meta versions differ, 400 -32022 when both name the
 * same unsupported version. True when it answered the request. */
bool cx_stateless_refuse(const struct cx_method *m, struct cx_exchange *x, const char *method,
			 json_t *id, const json_t *params);

/* server/discover: what the stateless revision asks instead of initialize. */
void cx_stateless_discover(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params);

/* Lists and reads in the stateless revision say how long a client may cache them. Nothing a
 * gateway serves is known to stay fresh, so: not at all, and only for this client. Returns
 * result. */
json_t *cx_cacheable(bool stateless, json_t *result);

/* The answers a stateless request brings: those sealed in requestState by earlier rounds,
 * updated with params.inputResponses. A requestState that does not open, was issued for
 * another request (kind, name, arguments) or has expired is refused with -32602 and answered
 * here: returns -1. Otherwise 0 and *out is a new object. */
int cx_stateless_inputs(const unsigned char *key, struct cx_exchange *x, json_t *id,
			const json_t *params, enum cx_job_kind kind, const char *name,
			json_t **out);

/* After a stateless job's handler returned (failed: -1 or an isError result), the two answers
 * that replace whatever it returned: the client lacks a capability the call needed (400
 * -32021), or the call asked the client for something (an input-required result carrying
 * every request and the sealed state to send back with the answers; it expires after
 * state_ttl_s). True when it answered. */
bool cx_stateless_finish(struct cx_job *j, const unsigned char *key, long state_ttl_s, bool failed);

#endif
