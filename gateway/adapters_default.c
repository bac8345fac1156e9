#include "adapters.h"

#include "../adapters/cloudflare/cloudflare.h"
#include "../adapters/kubectl/kubectl.h"
#include "../adapters/cortex/cortex.h"
#include "../adapters/proxmox/proxmox.h"
#include "../adapters/sandfly/sandfly.h"
#include "../adapters/unifi/unifi.h"

/* Backend adapters (proxmox, unifi, sandfly, cloudflare, kubectl) are added here as they land. */
const struct cx_adapter *const cx_adapters[] = {
	&cx_proxmox_adapter,
	&cx_cloudflare_adapter,
	&cx_sandfly_adapter,
	&cx_unifi_adapter,
	&cx_kubectl_adapter,
	&cx_cortex_adapter,
	NULL,
};
