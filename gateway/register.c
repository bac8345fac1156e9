/* Registration of the configured adapters, shared by gateway/main.c and cortexctl --local. */
#include "register.h"

#include <stdio.h>
#include <string.h>

#include "adapters.h"

/* The task tools (the cortex adapter) run unless "tasks": {"enabled": false}; their config is
 * the top-level "tasks" object, not a key under "adapters". A build without them skips this. */
static int register_tasks(struct cx_registry *reg, const json_t *tasks, struct cx_err *err)
{
	const struct cx_adapter *const *a;
	json_t *conf;
	int rc;

	if (json_is_false(json_object_get(tasks, "enabled")))
		return 0;
	for (a = cx_adapters; *a && strcmp((*a)->name, "cortex"); a++)
		;
	if (!*a)
		return 0;
	conf = json_deep_copy(tasks);
	if (!conf)
		return cx_err_set(err, "out of memory");
	json_object_del(conf, "enabled");
	rc = cx_registry_add(reg, *a, conf, err);
	json_decref(conf);
	return rc;
}

int cx_register_adapters(struct cx_registry *reg, const json_t *adapters, const json_t *tasks,
			 void **gw_state, struct cx_err *err)
{
	const char *name;
	json_t *conf;

	*gw_state = cx_gateway_adapter_state_new(reg);
	if (!*gw_state)
		return cx_err_set(err, "out of memory");
	if (cx_registry_add_state(reg, &cx_gateway_adapter, *gw_state, err))
		return -1;
	json_object_foreach((json_t *)adapters, name, conf) {
		const struct cx_adapter *const *a;

		for (a = cx_adapters; *a; a++)
			if (!strcmp((*a)->name, name))
				break;
		if (*a && !strcmp(name, "cortex"))
			return cx_err_set(err,
					  "config 'adapters.cortex': the task tools are set up "
					  "by the top-level \"tasks\" object (\"tasks\": "
					  "{\"enabled\": false} turns them off)");
		if (!*a) {
			char have[256] = "";
			size_t used = 0;
			/* the ones "adapters" may name: the task tools have their own object */
			for (a = cx_adapters; *a && used < sizeof(have); a++) {
				int k;

				if (!strcmp((*a)->name, "cortex"))
					continue;
				k = snprintf(have + used, sizeof(have) - used, "%s%s",
					     used ? ", " : "", (*a)->name);
				if (k < 0)
					break;
				used += (size_t)k;
			}
			return cx_err_set(
				err, "config 'adapters.%s': no such adapter in this build%s%s%s",
				name, used ? " (it has: " : "", used ? have : "", used ? ")" : "");
		}
		if (cx_registry_add(reg, *a, conf, err))
			return -1;
	}
	return register_tasks(reg, tasks, err);
}
