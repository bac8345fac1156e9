/* The fast paths of the Proxmox tools that are one GET (common/http_async.h): the request
 * px_request_pick would send first, built on the transport thread and awaited on its backend
 * I/O loop, and the same answer as the ordinary handler's (struct px_one_get, tools.c). With
 * ticket authentication they run the ordinary way: a login may have to come first. */
#include <stdio.h>

#include "api.h"
#include "tools.h"

#define PATH_LEN 512

static int fast_begin(const struct px_one_get *g, const struct cx_call *call, const json_t *args,
		      struct cx_async_req *ar)
{
	char path[PATH_LEN];

	/* A path args cannot make is the ordinary handler's sentence to say. */
	if (g->path(args, path, sizeof(path)))
		return CX_ASYNC_BLOCKING;
	return px_request_begin(call->state, path, g->pick, ar);
}

static int fast_end(const struct px_one_get *g, const struct cx_call *call, const json_t *args,
		    const struct cx_async_req *ar, int rc, const struct cx_http_resp *resp,
		    const struct cx_err *err, struct cx_result *res)
{
	struct cx_err e = { 0 };
	json_t *data = NULL;

	if (rc)
		return cx_result_errorf(res, "%s", err->msg);
	if (px_answer(call->state, &ar->req, resp, &data, &e))
		return cx_result_errorf(res, "%s", e.msg);
	return g->answer(args, data, res);
}

#define PX_FAST(name)                                                                              \
	static int name##_begin(const struct cx_call *call, const json_t *args,                    \
				struct cx_async_req *ar)                                           \
	{                                                                                          \
		return fast_begin(&px_##name##_get, call, args, ar);                               \
	}                                                                                          \
	static int name##_end(const struct cx_call *call, const json_t *args,                      \
			      const struct cx_async_req *ar, int rc, struct cx_http_resp *resp,    \
			      const struct cx_err *err, struct cx_result *res)                     \
	{                                                                                          \
		return fast_end(&px_##name##_get, call, args, ar, rc, resp, err, res);             \
	}                                                                                          \
	const struct cx_tool_async px_##name##_fast = { name##_begin, name##_end };

PX_FAST(list_nodes)
PX_FAST(node_status)
PX_FAST(list_vms)
PX_FAST(cluster_resources)
PX_FAST(cluster_status)
