#ifndef CX_TESTKIT_H
#define CX_TESTKIT_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_testkit_adapter;

#endif
