/* The Proxmox VE adapter's tool handlers and resource hook (tools.c). */
#ifndef CX_PROXMOX_TOOLS_H
#define CX_PROXMOX_TOOLS_H

#include "../../common/adapter.h"
#include "../../common/json.h"
#include "../../common/mcp.h"

int px_list_nodes(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_get_node_status(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_list_vms(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_get_vm_status(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_get_vm_config(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_get_cluster_resources(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_get_cluster_status(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_get_task_status(struct cx_call *call, const json_t *args, struct cx_result *res);
int px_vm_action(struct cx_call *call, const json_t *args, struct cx_result *res);
/* A tool that is one GET (tools.c): its path for args (NULL, or the isError sentence when
 * args cannot make one), what to build of the answer (NULL: all), and its result of the
 * answer's "data" (taken). The ordinary handler and the fast path (fast.c) share it. */
struct px_one_get {
	const char *(*path)(const json_t *args, char *path, size_t len);
	const struct cx_json_pick *pick;
	int (*answer)(const json_t *args, json_t *data, struct cx_result *res);
};
extern const struct px_one_get px_list_nodes_get, px_node_status_get, px_list_vms_get,
	px_cluster_resources_get, px_cluster_status_get;
/* The ordinary way: the GET on this worker. */
int px_one_get(struct cx_call *call, const json_t *args, const struct px_one_get *g,
	       struct cx_result *res);

/* Their fast paths (fast.c, common/http_async.h). */
extern const struct cx_tool_async px_list_nodes_fast, px_node_status_fast, px_list_vms_fast,
	px_cluster_resources_fast, px_cluster_status_fast;

int px_read_resource(struct cx_call *call, const char *uri, json_t **result, struct cx_err *err);

#endif
