/* cortexctl --local: the gateway's config and adapters in this process, with no gateway and
 * no network listener; calls go through the gateway's own dispatch (policy, schemas,
 * deadlines, output contract) as the "stdio" principal. */
#ifndef CX_CTL_LOCAL_H
#define CX_CTL_LOCAL_H

#include <jansson.h>
#include <stdbool.h>

#include "../common/err.h"

struct ctl_local;

/* Loads config (a gateway config file), starts its adapters and the call workers. Logs below
 * warnings are dropped unless verbose. Audit lines go to the config's "audit" file when it
 * names one, else nowhere. NULL with err. */
struct ctl_local *ctl_local_open(const char *config, bool verbose, struct cx_err *err);
void ctl_local_close(struct ctl_local *l);
/* The tools, as tools/list would list them (a new array). NULL on out of memory. */
json_t *ctl_local_tools(struct ctl_local *l);
/* Runs a tool call to its end: 0 with *result (a new reference; isError included), or a
 * JSON-RPC error code (-32602 unknown tool, -32603) with err. args borrowed. */
int ctl_local_call(struct ctl_local *l, const char *name, const json_t *args, json_t **result,
		   struct cx_err *err);

#endif
