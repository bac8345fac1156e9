/* The Cloudflare adapter's tool handlers (tools.c). */
#ifndef CX_CLOUDFLARE_TOOLS_H
#define CX_CLOUDFLARE_TOOLS_H

#include "../../common/adapter.h"
#include "../../common/mcp.h"

int cf_list_zones(struct cx_call *call, const json_t *args, struct cx_result *res);
int cf_get_dns(struct cx_call *call, const json_t *args, struct cx_result *res);
int cf_create_dns_record(struct cx_call *call, const json_t *args, struct cx_result *res);
int cf_update_dns_record(struct cx_call *call, const json_t *args, struct cx_result *res);
int cf_delete_dns_record(struct cx_call *call, const json_t *args, struct cx_result *res);

#endif
