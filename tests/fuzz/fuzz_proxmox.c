/* Proxmox VE's answers (adapters/proxmox/: api.c, tools.c, action.c): a tool of the adapter run on
 * backend answers taken from the input (fz_run_tool, support.h: the tool's name, its arguments,
 * then "@@ STATUS" sections, one per request). Whatever the backend says, the tool answers with a
 * well-formed result or an isError sentence; it never crashes, leaks or reads out of bounds.
 * A tool with a fast path runs it too on the same answers, and must answer the same. */
#include <stdint.h>
#include <stdlib.h>

#include "../../adapters/proxmox/proxmox.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	setenv("CORTEX_FUZZ_SECRET", "fuzz-secret-0123456789abcdef", 1);
	fz_run_tool(
		&cx_proxmox_adapter,
		"{\"url\": \"https://pve.fuzz.invalid:8006\", \"token_id\": \"root@pam!fuzz\", \"token_secret\": {\"env\": \"CORTEX_FUZZ_SECRET\"}, \"task_poll_ms\": 50}",
		data, size);
	return 0;
}
