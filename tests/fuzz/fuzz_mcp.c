/* The JSON-RPC / MCP message path as a transport drives it: the body parsed (cx_json_loadb),
 * a batch counted and bounded before it is built (cx_server_batch_check), then handed to the
 * server core (cx_server_submit) on a fresh exchange, an initialized session or a stateless
 * (2026-07-28, _meta-carried) request, with the gateway and testkit adapters registered.
 * Input: one byte naming the exchange ('i' initialized, 's' stateless, else fresh), then the
 * body. Every message gets exactly one reply (fz_submit aborts otherwise), and the reply is a
 * JSON-RPC response or batch of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/json.h"
#include "../../common/jsonrpc.h"
#include "../../gateway/server.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_response(const json_t *r)
{
	if (json_is_object(r) && json_is_string(json_object_get(r, "jsonrpc")) &&
	    (json_object_get(r, "result") || json_object_get(r, "error")))
		return;
	fprintf(stderr, "fuzz_mcp: not a JSON-RPC response: %s\n",
		json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY));
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cx_server *srv = fz_server();
	const char *body = (const char *)data + 1;
	char msg[256];
	json_t *m, *r, *it;
	size_t i;

	if (size < 1 || size > 64 * 1024)
		return 0;
	if (cx_server_batch_check(srv, cx_rpc_batch_count(body, size - 1), msg, sizeof(msg)))
		return 0;
	m = cx_json_loadb(body, size - 1, 1u << 20, NULL);
	if (!m)
		return 0;
	r = fz_submit(srv, (char)data[0], m);
	if (json_is_array(r)) {
		json_array_foreach(r, i, it)
			check_response(it);
	} else if (r) {
		check_response(r);
	}
	json_decref(r);
	return 0;
}
