/* JSON-RPC 2.0 envelopes. Ids are kept as the client's JSON values and echoed unchanged. */
#ifndef CX_JSONRPC_H
#define CX_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CX_RPC_PARSE_ERROR      (-32700)
#define CX_RPC_INVALID_REQUEST  (-32600)
#define CX_RPC_METHOD_NOT_FOUND (-32601)
#define CX_RPC_INVALID_PARAMS   (-32602)
#define CX_RPC_INTERNAL_ERROR   (-32603)
/* The stateless revision's header and capability errors. */
#define CX_RPC_HEADER_MISMATCH     (-32020)
#define CX_RPC_MISSING_CAPABILITY  (-32021)
#define CX_RPC_UNSUPPORTED_VERSION (-32022)
#define CX_RPC_RESOURCE_NOT_FOUND  (-32002) /* MCP: resources/read of an unknown URI */

enum cx_rpc_kind {
	CX_RPC_REQUEST,      /* method and id: must be answered */
	CX_RPC_NOTIFICATION, /* method, no id: never answered */
	CX_RPC_RESPONSE,     /* result or error with an id: a reply to a server request */
	CX_RPC_INVALID       /* answer with error code/message and id (json null if unknown) */
};

/* A classified message; every pointer is borrowed from the message it was read from. */
struct cx_rpc_msg {
	enum cx_rpc_kind kind;
	json_t *id;          /* request/response id; NULL for notifications; for INVALID
			      * the id if one could be read, else NULL (answer with null) */
	const char *method;  /* requests and notifications */
	json_t *params;      /* object or array, or NULL when absent */
	int err_code;        /* INVALID only */
	const char *err_msg; /* INVALID only, static string */
};

/* Classifies one message (never an array; arrays are batches, see the caller). */
void cx_rpc_classify(json_t *msg, struct cx_rpc_msg *out);

/* Counts the members of a JSON array as its text arrives, without parsing it, so that a
 * transport can refuse an oversized batch before buffering or building it. Exact for valid
 * JSON; an upper bound otherwise. Zeroed to start. */
struct cx_rpc_counter {
	size_t commas;  /* at the array's own level */
	unsigned depth; /* 0 before the array and after it */
	bool in_str, escaped, started, not_array, any, ended;
};
void cx_rpc_count_feed(struct cx_rpc_counter *c, const char *buf, size_t len);
/* Members seen so far (0 when the text is not an array). */
size_t cx_rpc_count_members(const struct cx_rpc_counter *c);
/* The members of the array in buf (0 when it is not one). */
size_t cx_rpc_batch_count(const char *buf, size_t len);

/* {"jsonrpc":"2.0","id":id,"result":result}. Steals result on every path; id is copied
 * (NULL id becomes json null). New reference or NULL on out of memory. */
json_t *cx_rpc_result(json_t *id, json_t *result);
/* {"jsonrpc":"2.0","id":id,"error":{"code","message","data"?}}. Steals data (may be NULL). */
json_t *cx_rpc_error(json_t *id, int code, const char *message, json_t *data);
/* Notification from server: {"jsonrpc":"2.0","method":..,"params":..}. Steals params. */
json_t *cx_rpc_notification(const char *method, json_t *params);

#endif
