/* What the Proxmox tools share (tools.c): requests that answer with an isError result, guest
 * lookup through /cluster/resources, task status. Each int function returns 0 on success, 1
 * after it put an isError sentence in res (the handler returns 0), -1 on an internal fault. */
#ifndef CX_PROXMOX_GUESTS_H
#define CX_PROXMOX_GUESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../../common/adapter.h"
#include "../../common/mcp.h"

struct guest {
	long vmid;
	char node[128];
	char type[8]; /* "qemu" or "lxc" */
};

extern const char *const px_task_keys[];

/* A new object with the keys of src that are listed and present (not null). */
json_t *px_pick(const json_t *src, const char *const *keys);
/* GET path: *data the envelope's data (new reference). */
int px_get(struct cx_call *call, const char *path, json_t **data, struct cx_result *res);
/* The guest args.vmid names (on args.node, when given). */
int px_find_guest(struct cx_call *call, const json_t *args, struct guest *g, struct cx_result *res);
/* "/nodes/<node>/<type>/<vmid><tail>" into out; false when it does not fit. */
bool px_guest_path(const struct guest *g, const char *tail, char *out, size_t outlen);
/* The status of task upid on node: *data as Proxmox gives it. */
int px_task_status(struct cx_call *call, const char *node, const char *upid, json_t **data,
		   struct cx_result *res);

#endif
