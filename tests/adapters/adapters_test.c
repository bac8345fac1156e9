/* The adapter list of build/cortex-gateway-test: the test kit and the conformance fixtures
 * and every backend adapter of the shipped list, so tests run them side by side. */
#include "../../adapters/cloudflare/cloudflare.h"
#include "../../adapters/kubectl/kubectl.h"
#include "../../adapters/cortex/cortex.h"
#include "../../adapters/proxmox/proxmox.h"
#include "../../adapters/sandfly/sandfly.h"
#include "../../adapters/unifi/unifi.h"
#include "../../gateway/adapters.h"
#include "conformance.h"
#include "testkit.h"

const struct cx_adapter *const cx_adapters[] = {
	&cx_testkit_adapter,
	&cx_conformance_adapter,
	/* the backend adapters, one a line */
	&cx_proxmox_adapter,
	&cx_cloudflare_adapter,
	&cx_sandfly_adapter,
	&cx_unifi_adapter,
	&cx_kubectl_adapter,
	&cx_cortex_adapter, /* the task tools: on unless "tasks": {"enabled": false} */
	NULL,
};
