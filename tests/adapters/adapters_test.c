/* The adapter list of build/cortex-gateway-test: the test kit and the conformance fixtures
 * (the shipped list has no backend adapters yet). */
#include "../../gateway/adapters.h"
#include "conformance.h"
#include "testkit.h"

const struct cx_adapter *const cx_adapters[] = {
	&cx_testkit_adapter,
	&cx_conformance_adapter,
	NULL,
};
