/* The cortex_* tool handlers (tools.c) and the adapter's state they share. */
#ifndef CX_CORTEX_TOOLS_H
#define CX_CORTEX_TOOLS_H

#include "../../common/adapter.h"
#include "../../common/taskstore.h"

struct ct_state {
	struct cx_task_store *store;
	bool watching; /* cx_task_watch succeeded: subscribers hear of changes */
};

int ct_create_task(struct cx_call *call, const json_t *args, struct cx_result *res);
int ct_get_tasks(struct cx_call *call, const json_t *args, struct cx_result *res);
int ct_get_task_status(struct cx_call *call, const json_t *args, struct cx_result *res);
int ct_list_agents(struct cx_call *call, const json_t *args, struct cx_result *res);
int ct_get_metrics(struct cx_call *call, const json_t *args, struct cx_result *res);
int ct_approve_task(struct cx_call *call, const json_t *args, struct cx_result *res);
int ct_cancel_task(struct cx_call *call, const json_t *args, struct cx_result *res);

#endif
