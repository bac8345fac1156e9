#include "adapters.h"

#include "../adapters/cloudflare/cloudflare.h"
#include "../adapters/cortex/cortex.h"
#include "../adapters/proxmox/proxmox.h"

/* Backend adapters (proxmox, unifi, sandfly, cloudflare, kubectl) are added here as they land. */
const struct cx_adapter *const cx_adapters[] = {
	&cx_proxmox_adapter,
	&cx_cloudflare_adapter,
	&cx_cortex_adapter,
	NULL,
};
