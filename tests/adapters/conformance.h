#ifndef CX_CONFORMANCE_H
#define CX_CONFORMANCE_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_conformance_adapter;

#endif
