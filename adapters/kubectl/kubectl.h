/* The Kubernetes adapter: the API over HTTPS, no kubectl binary. */
#ifndef CX_KUBECTL_H
#define CX_KUBECTL_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_kubectl_adapter;

#endif
