/* The adapters compiled into this binary. No dlopen, no linker tricks: a list. */
#ifndef CX_ADAPTERS_H
#define CX_ADAPTERS_H

#include "../common/adapter.h"
#include "registry.h"

/* Backend adapters this build offers, NULL-terminated; each is enabled by its key under
 * "adapters" in the config. (gateway/adapters_default.c; test builds add the test kit.) */
extern const struct cx_adapter *const cx_adapters[];

/* The built-in "gateway" adapter (gateway_status), always present. Its state reads the
 * registry it is part of. */
extern const struct cx_adapter cx_gateway_adapter;
void *cx_gateway_adapter_state_new(const struct cx_registry *reg);
void cx_gateway_adapter_state_free(void *state);

#endif
