#include "reply.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/mcp.h"

#define OOM_MESSAGE "internal error: out of memory"

/* Shared and never mutated: transports only serialise what they are given. */
static json_t *oom_reply;
static pthread_once_t oom_once = PTHREAD_ONCE_INIT;

static void make_oom_reply(void)
{
	oom_reply = cx_rpc_error(NULL, CX_RPC_INTERNAL_ERROR, OOM_MESSAGE, NULL);
}

int cx_reply_init(void)
{
	pthread_once(&oom_once, make_oom_reply);
	return oom_reply ? 0 : -1;
}

json_t *cx_rpc_error_always(json_t *id, int code, const char *msg, json_t *data)
{
	json_t *r = cx_rpc_error(id, code, msg, data);

	if (r)
		return r;
	r = cx_rpc_error(id, CX_RPC_INTERNAL_ERROR, OOM_MESSAGE, NULL);
	if (r)
		return r;
	return json_incref(oom_reply);
}

void cx_reply_error_full(struct cx_exchange *x, json_t *id, int http_status, int code,
			 const char *msg, json_t *data)
{
	json_t *r = cx_rpc_error_always(id, code, msg, data);

	if (http_status)
		x->http_status = http_status;
	x->reply(x, r);
}

void cx_reply_error(struct cx_exchange *x, json_t *id, int code, const char *msg)
{
	cx_reply_error_full(x, id, 0, code, msg, NULL);
}

/* One offer per thread, alive only between cx_reply_offer and cx_reply_withdraw, around one
 * reply: the result it names is held by that reply all along, so identity is safe. */
static _Thread_local struct {
	const json_t *result;
	char *text;
	size_t len;
} offered;

void cx_reply_offer(const json_t *result, char *text, size_t text_len)
{
	free(offered.text);
	offered.result = text ? result : NULL;
	offered.text = text;
	offered.len = text_len;
}

void cx_reply_withdraw(void)
{
	cx_reply_offer(NULL, NULL, 0);
}

char *cx_reply_dumps(const json_t *msg, size_t *len)
{
	return cx_json_dumps_splice(msg, offered.result, offered.text, offered.len, len);
}

void cx_reply_result(struct cx_exchange *x, json_t *id, json_t *result)
{
	json_t *r;

	if (!result) {
		cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR, OOM_MESSAGE);
		return;
	}
	if (x->stateless && json_is_object(result) && !json_object_get(result, "resultType")) {
		if (offered.result == result)
			cx_reply_withdraw(); /* its text lacks the member added here */
		json_object_set_new(result, "resultType", json_string("complete"));
	}
	r = cx_rpc_result(id, result);
	if (!r) {
		cx_reply_error(x, id, CX_RPC_INTERNAL_ERROR, OOM_MESSAGE);
		return;
	}
	x->reply(x, r);
}

json_t *cx_error_result(const char *fmt, ...)
{
	struct cx_result res;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cx_result_init(&res);
	if (cx_result_errorf(&res, "%s", msg)) {
		cx_result_release(&res);
		return NULL;
	}
	return cx_result_take(&res);
}
