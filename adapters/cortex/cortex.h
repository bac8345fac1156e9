/* The cortex_* task tools over the task store (common/taskstore.h). */
#ifndef CX_CORTEX_ADAPTER_H
#define CX_CORTEX_ADAPTER_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_cortex_adapter;

#endif
