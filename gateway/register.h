/* The adapters a config names, registered: what the gateway (gateway/main.c) and an
 * in-process caller (cortexctl --local) both do between loading a config and building the
 * server. */
#ifndef CX_REGISTER_H
#define CX_REGISTER_H

#include <jansson.h>

#include "../common/err.h"
#include "registry.h"

/* Registers the built-in gateway adapter (its state in *gw_state: free it with
 * cx_gateway_adapter_state_free after the registry), every adapter under adapters (the
 * config's "adapters" object, borrowed) and the task tools unless tasks (the config's "tasks"
 * object, borrowed) says "enabled": false. 0, or -1 with err naming the config key. */
int cx_register_adapters(struct cx_registry *reg, const json_t *adapters, const json_t *tasks,
			 void **gw_state, struct cx_err *err);

#endif
