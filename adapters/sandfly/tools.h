/* The Sandfly Security adapter's tool handlers (tools.c). */
#ifndef CX_SANDFLY_TOOLS_H
#define CX_SANDFLY_TOOLS_H

#include "../../common/adapter.h"
#include "../../common/mcp.h"

int sf_list_hosts(struct cx_call *call, const json_t *args, struct cx_result *res);
int sf_get_host(struct cx_call *call, const json_t *args, struct cx_result *res);
int sf_get_results(struct cx_call *call, const json_t *args, struct cx_result *res);
int sf_query(struct cx_call *call, const json_t *args, struct cx_result *res);
int sf_start_scan(struct cx_call *call, const json_t *args, struct cx_result *res);

#endif
