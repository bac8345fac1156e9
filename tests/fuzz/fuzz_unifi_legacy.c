/* UniFi's legacy controller API answers (adapters/unifi/, mode legacy on UniFi OS): a tool of the
 * adapter run on backend answers taken from the input (fz_run_tool, support.h: the tool's name, its
 * arguments, then "@@ STATUS" sections, one per request). Whatever the backend says, the tool
 * answers with a well-formed result or an isError sentence; it never crashes, leaks or reads out of
 * bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "../../adapters/unifi/unifi.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	setenv("CORTEX_FUZZ_SECRET", "fuzz-secret-0123456789abcdef", 1);
	fz_run_tool(
		&cx_unifi_adapter,
		"{\"url\": \"https://unifi.fuzz.invalid/\", \"mode\": \"legacy\", \"username\": \"admin\", \"password\": {\"env\": \"CORTEX_FUZZ_SECRET\"}}",
		data, size);
	return 0;
}
