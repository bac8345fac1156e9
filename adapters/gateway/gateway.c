/* The built-in "gateway" adapter: tools about the gateway itself. gateway_status runs on the
 * transport thread (CX_NONBLOCKING): it reads the registry and the health results the
 * registry's background checks left, and never touches a backend. */
#include "../../gateway/adapters.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

extern const char adapters_gateway_tools_json[];

struct gateway_state {
	const struct cx_registry *reg;
	int64_t started_ms;
};

void *cx_gateway_adapter_state_new(const struct cx_registry *reg)
{
	struct gateway_state *g = calloc(1, sizeof(*g));

	if (g) {
		g->reg = reg;
		g->started_ms = cx_now_ms();
	}
	return g;
}

void cx_gateway_adapter_state_free(void *state)
{
	free(state);
}

static json_t *adapter_entry(const struct cx_registry *reg, size_t i)
{
	const struct cx_adapter *a = cx_registry_adapter_at(reg, i, NULL);
	char detail[CX_ERR_MSG_MAX];
	size_t ntools = 0;
	const char *health;
	json_t *e;
	int h;

	for (size_t t = 0; t < cx_registry_count(reg); t++)
		ntools += cx_registry_at(reg, t)->adapter == a;
	if (a == &cx_gateway_adapter) {
		h = 1; /* it is answering */
		detail[0] = '\0';
	} else {
		h = cx_registry_health(reg, i, detail, sizeof(detail));
	}
	health = h == 1 ? "ok" : h == 0 ? "failing" : "unknown";
	e = json_pack("{s:s, s:I, s:s}", "name", a->name, "tools", (json_int_t)ntools, "health",
		      health);
	if (e && h == 0 && detail[0])
		json_object_set_new(e, "detail", json_string(detail));
	if (e && a->status) {
		void *state = NULL;
		json_t *st;
		cx_registry_adapter_at(reg, i, &state);
		st = a->status(state);
		if (json_is_string(json_object_get(st, "tls")))
			json_object_set(e, "tls", json_object_get(st, "tls"));
		if (json_array_size(json_object_get(st, "warnings")))
			json_object_set(e, "warnings", json_object_get(st, "warnings"));
		json_decref(st);
	}
	return e;
}

static int gateway_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const struct gateway_state *g = call->state;
	json_t *status, *adapters;

	adapters = json_array();
	if (!adapters)
		return -1;
	for (size_t i = 0; i < cx_registry_adapter_count(g->reg); i++) {
		if (json_array_append_new(adapters, adapter_entry(g->reg, i))) {
			json_decref(adapters);
			return -1;
		}
	}
	status =
		json_pack("{s:s, s:I, s:o}", "version", CX_VERSION, "uptime_s",
			  (json_int_t)((cx_now_ms() - g->started_ms) / 1000), "adapters", adapters);
	if (!status)
		return -1;
	return cx_result_structured(res, status);
}

static const struct cx_tool gateway_tools[] = {
	{ "gateway_status", gateway_status, CX_READ_ONLY | CX_IDEMPOTENT | CX_NONBLOCKING },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_gateway_adapter = {
	.name = "gateway",
	.tools_json = adapters_gateway_tools_json,
	.tools = gateway_tools,
};
