/* The Proxmox VE adapter: nodes, guests (QEMU and LXC), the cluster and its tasks, through
 * the Proxmox VE API (/api2/json) with an API token or a ticket. */
#ifndef CX_PROXMOX_H
#define CX_PROXMOX_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_proxmox_adapter;

#endif
