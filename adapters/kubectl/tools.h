/* The Kubernetes tools: reads (tools.c), writes (tools_write.c), and what both share. */
#ifndef CX_KUBECTL_TOOLS_H
#define CX_KUBECTL_TOOLS_H

#include <jansson.h>
#include <stdbool.h>

#include "../../common/adapter.h"
#include "../../common/mcp.h"
#include "api.h"

int kc_get(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_describe(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_logs(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_rollout_status(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_apply(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_delete(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_scale(struct cx_call *call, const json_t *args, struct cx_result *res);
int kc_rollout_restart(struct cx_call *call, const json_t *args, struct cx_result *res);

/* A string argument, or NULL. */
const char *kc_arg(const json_t *args, const char *key);
/* The namespace a call on res works in: NULL for cluster-scoped resources; else the
 * argument, or the configured default. */
const char *kc_ns_for(const struct kc_state *s, const json_t *res, const json_t *args);
/* The compact, kubectl-get-like row of one object (summary.c). New reference. */
json_t *kc_summary(const json_t *res, const json_t *obj);
/* obj without metadata.managedFields and the last-applied annotation (new reference). */
json_t *kc_strip(const json_t *obj);
/* "apps/v1" or "v1" for res. */
void kc_api_version(const json_t *res, char *out, size_t outlen);

#endif
