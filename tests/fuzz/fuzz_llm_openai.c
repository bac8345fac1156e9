/* The openai reply parser (common/llm_openai.c through cx_llm_send, common/llm.c): the
 * input is the server's answers (see fz_http_script: "@@ STATUS" sections, a body each), as
 * cx_http_do would hand them over; fz_llm_reply (support.c) checks what comes back. */
#include <stdint.h>

#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_llm_reply(CX_LLM_OPENAI, data, size);
	return 0;
}
