/* proxmox_vm_action and the proxmox://vms/{vmid} resource. An action is a Proxmox task
 * (UPID): the tool starts it, then — unless asked not to wait — looks at it every
 * task_poll_ms, sending progress while it runs, until it stops, and answers with its exit
 * status. It may run as an MCP task for clients that support them (CX_TASK_OPTIONAL). */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"
#include "api.h"
#include "guests.h"

/* The actions the API has for each kind of guest. */
static const char *const qemu_actions[] = { "start", "stop",    "shutdown", "reboot",
					    "reset", "suspend", "resume",   NULL };
static const char *const lxc_actions[] = { "start", "stop", "shutdown", "reboot", NULL };

static bool listed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* Sleeps up to ms in slices, stopping early when the call is cancelled. */
static void pause_ms(struct cx_call *call, long ms)
{
	while (ms > 0 && !cx_call_cancelled(call)) {
		long slice = ms < 50 ? ms : 50;
		struct timespec ts = { 0, slice * 1000000L };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

/* Waits for the task to stop: 0 with *task its last status, 1 after an isError result. */
static int wait_task(struct cx_call *call, const struct guest *g, const char *action,
		     const char *upid, json_t **task, struct cx_result *res)
{
	struct px_state *s = call->state;
	char msg[200];
	int rc, polls = 0;

	for (;;) {
		rc = px_task_status(call, g->node, upid, task, res);
		if (rc)
			return rc;
		const char *st = json_string_value(json_object_get(*task, "status"));

		if (st && !strcmp(st, "stopped"))
			return 0;
		json_decref(*task);
		*task = NULL;
		cx_fmt(msg, sizeof(msg), "%s of %s %ld on %s: task still running", action, g->type,
		       g->vmid, g->node);
		if (cx_call_progress(call, ++polls, 0, msg))
			return -1;
		pause_ms(call, s->task_poll_ms);
		if (cx_call_cancelled(call))
			return cx_result_errorf(
				       res,
				       "stopped waiting for '%s' of %ld: the call was "
				       "cancelled or ran out of time; the task %s may still "
				       "be running on Proxmox — proxmox_get_task_status tells "
				       "when it ends",
				       action, g->vmid, upid)
				       ? -1
				       : 1;
	}
}

/* Starts the action: 0 with upid, 1 after an isError result. */
static int start_action(struct cx_call *call, const struct guest *g, const char *action, char *upid,
			size_t upidlen, struct cx_result *res)
{
	char path[600], tail[64];
	struct cx_err err = { 0 };
	json_t *data = NULL;

	snprintf(tail, sizeof(tail), "/status/%s", action);
	if (!px_guest_path(g, tail, path, sizeof(path)))
		return cx_result_errorf(res, "the node name is too long") ? -1 : 1;
	if (px_request(call->state, call, "POST", path, NULL, &data, &err))
		return cx_result_errorf(res, "%s", err.msg) ? -1 : 1;
	if (!json_is_string(data) || strncmp(json_string_value(data), "UPID:", 5)) {
		json_decref(data);
		return cx_result_errorf(res, "proxmox accepted '%s' of %ld but returned no task id",
					action, g->vmid)
			       ? -1
			       : 1;
	}
	snprintf(upid, upidlen, "%s", json_string_value(data));
	json_decref(data);
	return 0;
}

int px_vm_action(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *action = json_string_value(json_object_get(args, "action"));
	const json_t *wait = json_object_get(args, "wait");
	const char *exitstatus;
	json_t *task = NULL, *out;
	char upid[256];
	struct guest g;
	int rc = px_find_guest(call, args, &g, res);

	if (rc)
		return rc < 0 ? -1 : 0;
	if (!listed(strcmp(g.type, "lxc") ? qemu_actions : lxc_actions, action))
		return cx_result_errorf(res,
					"'%s' is not an action for a container (lxc) in "
					"Proxmox; containers have start, stop, shutdown and reboot",
					action);
	rc = start_action(call, &g, action, upid, sizeof(upid), res);
	if (rc)
		return rc < 0 ? -1 : 0;
	out = json_pack("{s:I, s:s, s:s, s:s, s:s}", "vmid", (json_int_t)g.vmid, "node", g.node,
			"type", g.type, "action", action, "upid", upid);
	if (json_is_false(wait)) {
		json_object_set_new(out, "status", json_string("running"));
		return cx_result_structured(res, out);
	}
	rc = wait_task(call, &g, action, upid, &task, res);
	if (rc) {
		json_decref(out);
		return rc < 0 ? -1 : 0;
	}
	exitstatus = json_string_value(json_object_get(task, "exitstatus"));
	json_object_set_new(out, "status", json_string("stopped"));
	json_object_set_new(out, "exitstatus", json_string(exitstatus ? exitstatus : ""));
	if (!exitstatus || strcmp(exitstatus, "OK")) {
		rc = cx_result_errorf(res, "proxmox task %s ('%s' of %s %ld on %s) ended with '%s'",
				      upid, action, g.type, g.vmid, g.node,
				      exitstatus ? exitstatus : "no exit status");
		json_decref(out);
		json_decref(task);
		return rc;
	}
	json_decref(task);
	return cx_result_structured(res, out);
}

/* proxmox://vms/{vmid}: the guest's status and configuration. */
int px_read_resource(struct cx_call *call, const char *uri, json_t **result, struct cx_err *err)
{
	static const char prefix[] = "proxmox://vms/";
	struct cx_result res;
	json_t *args, *status = NULL, *config = NULL, *doc;
	char path[600], *text;
	struct guest g;
	long vmid;
	int rc;

	if (strncmp(uri, prefix, sizeof(prefix) - 1) ||
	    cx_parse_long(uri + sizeof(prefix) - 1, 100, 999999999, &vmid)) {
		cx_err_set(err, "'%s' names no VM: the id is a number from 100", uri);
		return CX_NOT_FOUND;
	}
	args = json_pack("{s:I}", "vmid", (json_int_t)vmid);
	cx_result_init(&res);
	rc = args ? px_find_guest(call, args, &g, &res) : -1;
	json_decref(args);
	if (!rc && px_guest_path(&g, "/status/current", path, sizeof(path)))
		rc = px_request(call->state, call, "GET", path, NULL, &status, err) ? 2 : 0;
	if (!rc && px_guest_path(&g, "/config", path, sizeof(path)))
		rc = px_request(call->state, call, "GET", path, NULL, &config, err) ? 2 : 0;
	if (rc == 1)
		cx_err_set(err, "no VM or container %ld in the cluster", vmid);
	cx_result_release(&res);
	if (rc) {
		json_decref(status);
		json_decref(config);
		return rc == 1 ? CX_NOT_FOUND : -1;
	}
	doc = json_pack("{s:I, s:s, s:s, s:o, s:o}", "vmid", (json_int_t)vmid, "node", g.node,
			"type", g.type, "status", status, "config", config);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	*result = text ? json_pack("{s:[{s:s, s:s, s:s}]}", "contents", "uri", uri, "mimeType",
				   "application/json", "text", text)
		       : NULL;
	free(text);
	return *result ? 0 : cx_err_set(err, "out of memory");
}
