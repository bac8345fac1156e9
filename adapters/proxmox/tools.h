/* The Proxmox VE adapter's tool handlers and resource hook (tools.c). */
#ifndef CX_PROXMOX_TOOLS_H
#define CX_PROXMOX_TOOLS_H

#include "../../common/adapter.h"
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
/* The fast paths of the tools that are one GET (tools.c). */
extern const struct cx_tool_async px_list_vms_fast, px_list_nodes_fast, px_cluster_status_fast;

int px_read_resource(struct cx_call *call, const char *uri, json_t **result, struct cx_err *err);

#endif
