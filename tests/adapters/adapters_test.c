/* The adapter list of build/cortex-gateway-test: the shipped list plus the test kit. */
#include "../../gateway/adapters.h"
#include "testkit.h"

const struct cx_adapter *const cx_adapters[] = {
	&cx_testkit_adapter,
	NULL,
};
