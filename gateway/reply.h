/* Answers: how every part of the server core replies on an exchange. A request always gets an
 * answer — when memory runs out while building one, a preallocated -32603 goes out instead of
 * the silence that reply(NULL) would mean. */
#ifndef CX_REPLY_H
#define CX_REPLY_H

#include <jansson.h>
#include <stdbool.h>

#include "exchange.h"

/* Builds the preallocated out-of-memory answer; once per process, before any reply. 0 or -1. */
int cx_reply_init(void);

/* cx_rpc_error() that never returns NULL: on out of memory, a -32603 with the id if that can
 * still be built, else the preallocated one (id null). Steals data. */
json_t *cx_rpc_error_always(json_t *id, int code, const char *msg, json_t *data);

/* Replies with a JSON-RPC error. http_status (0: none) is set on x just before reply(), for
 * the stateless revision's errors that have an HTTP status of their own. Steals data. */
void cx_reply_error(struct cx_exchange *x, json_t *id, int code, const char *msg);
void cx_reply_error_full(struct cx_exchange *x, json_t *id, int http_status, int code,
			 const char *msg, json_t *data);

/* Replies with a result (stolen; NULL means out of memory and becomes -32603). In the
 * stateless revision every result says what kind it is: "resultType": "complete" unless it
 * says otherwise. */
void cx_reply_result(struct cx_exchange *x, json_t *id, json_t *result);

/* The serialized form of a tool result, made once while dispatch checked it (its
 * structuredContent written once, not twice), offered to the transport that serializes the
 * reply inside the x->reply() that follows on the same thread. cx_reply_offer takes text
 * (text_len bytes; NULL: nothing offered); cx_reply_withdraw frees it, after the reply. The
 * offer is dropped when the result changes (the stateless revision's resultType). */
void cx_reply_offer(const json_t *result, char *text, size_t text_len);
void cx_reply_withdraw(void);
/* cx_json_dumps of a message, with the offered result's text used where msg holds it. */
char *cx_reply_dumps(const json_t *msg, size_t *len);

/* An isError CallToolResult the model can read (new reference, NULL on out of memory). */
json_t *cx_error_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
