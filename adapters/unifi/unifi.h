/* The UniFi Network adapter (adapters/unifi/): sites, devices, clients, device restarts. */
#ifndef CX_UNIFI_H
#define CX_UNIFI_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_unifi_adapter;

#endif
