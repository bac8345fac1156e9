/* The anthropic reply parser (common/llm_anthropic.c through cx_llm_send, common/llm.c): the
 * input is the server's answers (see fz_http_script: "@@ STATUS" sections, a body each), as
 * cx_http_do would hand them over. A reply must be whole: its blocks, stop reason and message
 * consistent; a failure must say why. No retries, so no waits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/llm.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cx_llm *client(void)
{
	static struct cx_llm *l;
	struct cx_err err = { 0 };
	static json_t *key; /* kept: reachable, not a leak */

	if (l)
		return l;
	setenv("CORTEX_FUZZ_LLM_KEY", "sk-fuzz-not-a-key", 1);
	key = json_pack("{s:s}", "env", "CORTEX_FUZZ_LLM_KEY");
	struct cx_llm_model m = {
		.api = CX_LLM_ANTHROPIC,
		.model = "fuzz-model",
		.base_url = "http://127.0.0.1:9",
		.api_key = key,
	};
	struct cx_llm_opts o = { .models = &m, .n_models = 1, .retries = 0 };

	l = cx_llm_new(&o, &err);
	if (!l) {
		fprintf(stderr, "fuzz_llm: %s\n", err.msg);
		abort();
	}
	return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cx_llm *l = client();
	struct cx_err err = { 0 };
	struct cx_llm_reply reply;
	struct cx_llm_request req = { .system = "Be brief.", .max_tokens = 64 };
	json_t *messages = json_array(), *tools = json_array(), *schema;

	if (size > 256 * 1024)
		goto out;
	cx_llm_add_user_text(messages, "What is on the cluster?");
	schema = json_pack("{s:s}", "type", "object");
	cx_llm_add_tool(tools, "proxmox_list_vms", "Lists the VMs.", schema);
	json_decref(schema);
	req.messages = messages;
	req.tools = tools;
	fz_http_script((const char *)data, size);
	memset(&reply, 0, sizeof(reply));
	if (cx_llm_send(l, NULL, 1000, &req, &reply, &err) == 0) {
		size_t tool_uses = 0;

		for (size_t i = 0; i < reply.n_blocks; i++) {
			const struct cx_llm_block *b = &reply.blocks[i];

			if (b->kind == CX_LLM_TOOL_USE &&
			    (tool_uses++, !b->id || !b->name || !json_is_object(b->input)))
				abort();
			if (b->kind == CX_LLM_TEXT && !b->text)
				abort();
		}
		if (tool_uses != reply.n_tool_use || !json_is_object(reply.message))
			abort();
		/* The reply goes back into the conversation as it is. */
		if (cx_llm_add_reply(messages, &reply))
			abort();
		cx_llm_reply_release(&reply);
	} else if (!err.msg[0]) {
		abort();
	}
	fz_http_script("", 0);
out:
	json_decref(messages);
	json_decref(tools);
	return 0;
}
