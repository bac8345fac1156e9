/* The Proxmox VE tools. Each answers with structuredContent of compact, stable field names
 * (the same JSON as text); a backend failure is an isError sentence from api.c. Guests are
 * found through /cluster/resources, so a tool needs only the VM id: the node and the type
 * (qemu or lxc) are looked up. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"
#include "api.h"
#include "guests.h"

#define PATH_MAX_LEN 512

static struct px_state *state_of(struct cx_call *call)
{
	return call->state;
}

/* v's string, or "" (so a missing field never matches a filter). */
static const char *str_of(const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));

	return s ? s : "";
}

/* Copies the listed keys of src that are present into a new object. */
json_t *px_pick(const json_t *src, const char *const *keys)
{
	json_t *o = json_object();

	for (size_t i = 0; o && keys[i]; i++) {
		json_t *v = json_object_get(src, keys[i]);
		if (v && !json_is_null(v))
			json_object_set(o, keys[i], v);
	}
	return o;
}

/* 0 after an isError sentence from err (the flow goes on), for handlers. */
static int fail(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg);
}

/* GET path and hand back "data" (new reference), or an isError result: returns 1. */
int px_get(struct cx_call *call, const char *path, json_t **data, struct cx_result *res)
{
	struct cx_err err = { 0 };

	if (px_request(state_of(call), call, "GET", path, NULL, data, &err))
		return fail(res, &err) ? -1 : 1;
	return 0;
}

static const char *const node_keys[] = { "node", "status", "cpu",    "maxcpu",
					 "mem",  "maxmem", "uptime", NULL };
static const char *const vm_keys[] = { "vmid",   "name", "node",   "type",   "status",   "cpu",
				       "maxcpu", "mem",  "maxmem", "uptime", "template", NULL };

/* ---- the tools that are one GET: a path and an answer, for both ways to run them ---- */

int px_one_get(struct cx_call *call, const json_t *args, const struct px_one_get *g,
	       struct cx_result *res)
{
	char path[PATH_MAX_LEN];
	const char *bad = g->path(args, path, sizeof(path));
	struct cx_err err = { 0 };
	json_t *data = NULL;

	if (bad)
		return cx_result_errorf(res, "%s", bad);
	if (px_request_pick(state_of(call), call, "GET", path, NULL, g->pick, &data, &err))
		return fail(res, &err);
	return g->answer(args, data, res);
}

static const char *nodes_path(const json_t *args, char *path, size_t len)
{
	snprintf(path, len, "/nodes");
	return NULL;
}

/* The nodes in a /nodes answer (data, taken). */
static int list_nodes_answer(const json_t *args, json_t *data, struct cx_result *res)
{
	json_t *nodes = json_array(), *v;
	size_t i;

	json_array_foreach(data, i, v)
		json_array_append_new(nodes, px_pick(v, node_keys));
	json_decref(data);
	return cx_result_structured(res, json_pack("{s:o}", "nodes", nodes));
}

const struct px_one_get px_list_nodes_get = { nodes_path, NULL, list_nodes_answer };

int px_list_nodes(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return px_one_get(call, args, &px_list_nodes_get, res);
}

static const char *node_status_path(const json_t *args, char *path, size_t len)
{
	const char *node = json_string_value(json_object_get(args, "node"));
	char esc[256];

	if (!cx_url_escape(node, esc, sizeof(esc)))
		return "the node name is too long";
	snprintf(path, len, "/nodes/%s/status", esc);
	return NULL;
}

static int node_status_answer(const json_t *args, json_t *data, struct cx_result *res)
{
	static const char *const keys[] = { "uptime", "cpu",        "loadavg",  "memory",  "rootfs",
					    "swap",   "pveversion", "kversion", "cpuinfo", NULL };
	json_t *out = px_pick(data, keys);

	json_decref(data);
	if (out)
		json_object_set_new(out, "node", json_string(str_of(args, "node")));
	return cx_result_structured(res, out);
}

const struct px_one_get px_node_status_get = { node_status_path, NULL, node_status_answer };

int px_get_node_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return px_one_get(call, args, &px_node_status_get, res);
}

/* The guests of the cluster (cluster/resources, type vm), as vm_keys objects. The answer is
 * read for vm_keys only (its objects are the guests themselves, no copies): on a busy
 * gateway this list is the most frequent request of all. */
static const struct cx_json_pick guests_pick = { 3, vm_keys }; /* {"data": [{...}]} */
#define GUESTS_PATH "/cluster/resources?type=vm"

/* The guests in a cluster/resources answer (data, taken). */
static json_t *guests_of(json_t *data)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(data, i, v) {
		const char *type = json_string_value(json_object_get(v, "type")), *key;
		json_t *field;
		void *tmp;
		if (!type || (strcmp(type, "qemu") && strcmp(type, "lxc")))
			continue;
		/* As px_pick: a null field is left out. */
		json_object_foreach_safe(v, tmp, key, field) {
			if (json_is_null(field))
				json_object_del(v, key);
		}
		json_array_append(out, v);
	}
	json_decref(data);
	return out;
}

static int cluster_guests(struct cx_call *call, json_t **out, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *data = NULL;

	*out = NULL;
	if (px_request_pick(state_of(call), call, "GET", GUESTS_PATH, NULL, &guests_pick, &data,
			    &err))
		return fail(res, &err) ? -1 : 1;
	*out = guests_of(data);
	return 0;
}

/* The guests of all (taken) that args' filters let through. */
static int filter_guests(const json_t *args, json_t *all, struct cx_result *res)
{
	const char *node = json_string_value(json_object_get(args, "node"));
	const char *status = json_string_value(json_object_get(args, "status"));
	const char *type = json_string_value(json_object_get(args, "type"));
	json_t *vms = json_array(), *v;
	size_t i;

	json_array_foreach(all, i, v) {
		if ((node && strcmp(node, str_of(v, "node"))) ||
		    (status && strcmp(status, str_of(v, "status"))) ||
		    (type && strcmp(type, str_of(v, "type"))))
			continue;
		json_array_append(vms, v);
	}
	json_decref(all);
	return cx_result_structured(res, json_pack("{s:o, s:I}", "vms", vms, "count",
						   (json_int_t)json_array_size(vms)));
}

static const char *guests_path(const json_t *args, char *path, size_t len)
{
	snprintf(path, len, "%s", GUESTS_PATH);
	return NULL;
}

static int list_vms_answer(const json_t *args, json_t *data, struct cx_result *res)
{
	return filter_guests(args, guests_of(data), res);
}

const struct px_one_get px_list_vms_get = { guests_path, &guests_pick, list_vms_answer };

int px_list_vms(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return px_one_get(call, args, &px_list_vms_get, res);
}

/* Finds guest vmid (on node, when given): 0, or 1 after an isError result, -1 on a fault. */
int px_find_guest(struct cx_call *call, const json_t *args, struct guest *g, struct cx_result *res)
{
	const char *node = json_string_value(json_object_get(args, "node"));
	const char *type = json_string_value(json_object_get(args, "type"));
	json_t *all = NULL, *v;
	size_t i;
	int rc;

	g->vmid = (long)json_integer_value(json_object_get(args, "vmid"));
	if (node && type) {
		/* Both known: no lookup (one request fewer; Proxmox says if they are wrong). */
		snprintf(g->node, sizeof(g->node), "%s", node);
		snprintf(g->type, sizeof(g->type), "%s", type);
		return 0;
	}
	rc = cluster_guests(call, &all, res);
	if (rc)
		return rc;
	json_array_foreach(all, i, v) {
		const char *vn = json_string_value(json_object_get(v, "node"));
		const char *vt = json_string_value(json_object_get(v, "type"));
		if (json_integer_value(json_object_get(v, "vmid")) != g->vmid || !vn || !vt)
			continue;
		if (node && strcmp(node, vn))
			break;
		snprintf(g->node, sizeof(g->node), "%s", vn);
		snprintf(g->type, sizeof(g->type), "%s", vt);
		json_decref(all);
		return 0;
	}
	json_decref(all);
	if (node)
		rc = cx_result_errorf(res,
				      "no VM or container %ld on node '%s'; proxmox_list_vms "
				      "lists the guests and their nodes",
				      g->vmid, node);
	else
		rc = cx_result_errorf(res,
				      "no VM or container with id %ld in the cluster; "
				      "proxmox_list_vms lists them",
				      g->vmid);
	return rc ? -1 : 1;
}

bool px_guest_path(const struct guest *g, const char *tail, char *out, size_t outlen)
{
	char esc[256];

	return cx_url_escape(g->node, esc, sizeof(esc)) &&
	       cx_fmt(out, outlen, "/nodes/%s/%s/%ld%s", esc, g->type, g->vmid, tail);
}

int px_get_vm_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	static const char *const keys[] = { "status", "qmpstatus", "name", "uptime",
					    "cpu",    "cpus",      "mem",  "maxmem",
					    "disk",   "maxdisk",   "lock", NULL };
	char path[PATH_MAX_LEN];
	struct guest g;
	json_t *data = NULL, *out;
	int rc = px_find_guest(call, args, &g, res);

	if (rc)
		return rc < 0 ? -1 : 0;
	px_guest_path(&g, "/status/current", path, sizeof(path));
	rc = px_get(call, path, &data, res);
	if (rc)
		return rc < 0 ? -1 : 0;
	out = px_pick(data, keys);
	json_decref(data);
	if (out) {
		json_object_set_new(out, "vmid", json_integer(g.vmid));
		json_object_set_new(out, "node", json_string(g.node));
		json_object_set_new(out, "type", json_string(g.type));
	}
	return cx_result_structured(res, out);
}

int px_get_vm_config(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	char path[PATH_MAX_LEN];
	struct guest g;
	json_t *data = NULL;
	int rc = px_find_guest(call, args, &g, res);

	if (rc)
		return rc < 0 ? -1 : 0;
	px_guest_path(&g, "/config", path, sizeof(path));
	rc = px_get(call, path, &data, res);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (!json_is_object(data)) {
		json_decref(data);
		data = json_object();
	}
	return cx_result_structured(res,
				    json_pack("{s:I, s:s, s:s, s:o}", "vmid", (json_int_t)g.vmid,
					      "node", g.node, "type", g.type, "config", data));
}

static const char *resources_path(const json_t *args, char *path, size_t len)
{
	const char *type = json_string_value(json_object_get(args, "type"));

	/* type is one of the schema's enum: nothing to escape. */
	snprintf(path, len, "/cluster/resources%s%s", type ? "?type=" : "", type ? type : "");
	return NULL;
}

static int resources_answer(const json_t *args, json_t *data, struct cx_result *res)
{
	if (!json_is_array(data)) {
		json_decref(data);
		data = json_array();
	}
	return cx_result_structured(res, json_pack("{s:o, s:I}", "resources", data, "count",
						   (json_int_t)json_array_size(data)));
}

const struct px_one_get px_cluster_resources_get = { resources_path, NULL, resources_answer };

int px_get_cluster_resources(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return px_one_get(call, args, &px_cluster_resources_get, res);
}

static const char *cluster_status_path(const json_t *args, char *path, size_t len)
{
	snprintf(path, len, "/cluster/status");
	return NULL;
}

/* The cluster and its nodes in a /cluster/status answer (data, taken). */
static int cluster_status_answer(const json_t *args, json_t *data, struct cx_result *res)
{
	static const char *const keys[] = { "name",  "type",    "id",    "nodeid",  "ip", "online",
					    "local", "quorate", "nodes", "version", NULL };
	json_t *cluster = json_null(), *nodes = json_array(), *v;
	size_t i;

	json_array_foreach(data, i, v) {
		const char *t = json_string_value(json_object_get(v, "type"));
		if (t && !strcmp(t, "cluster")) {
			json_decref(cluster);
			cluster = px_pick(v, keys);
		} else if (t && !strcmp(t, "node")) {
			json_array_append_new(nodes, px_pick(v, keys));
		}
	}
	json_decref(data);
	return cx_result_structured(res,
				    json_pack("{s:o, s:o}", "cluster", cluster, "nodes", nodes));
}

const struct px_one_get px_cluster_status_get = { cluster_status_path, NULL,
						  cluster_status_answer };

int px_get_cluster_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return px_one_get(call, args, &px_cluster_status_get, res);
}

/* The node a UPID names: "UPID:<node>:...". false when upid is not one. */
static bool upid_node(const char *upid, char *node, size_t nodelen)
{
	const char *b, *e;

	if (strncmp(upid, "UPID:", 5))
		return false;
	b = upid + 5;
	e = strchr(b, ':');
	if (!e || e == b || (size_t)(e - b) >= nodelen)
		return false;
	memcpy(node, b, (size_t)(e - b));
	node[e - b] = '\0';
	return true;
}

/* GET the task's status: 0 with *data, 1 after an isError result, -1 on a fault. */
int px_task_status(struct cx_call *call, const char *node, const char *upid, json_t **data,
		   struct cx_result *res)
{
	char en[256], eu[512], path[sizeof(en) + sizeof(eu) + 32];

	if (!cx_url_escape(node, en, sizeof(en)) || !cx_url_escape(upid, eu, sizeof(eu)))
		return cx_result_errorf(res, "the task id is too long") ? -1 : 1;
	snprintf(path, sizeof(path), "/nodes/%s/tasks/%s/status", en, eu);
	return px_get(call, path, data, res);
}

const char *const px_task_keys[] = { "upid", "node", "status",    "exitstatus", "type",
				     "id",   "user", "starttime", "pid",        NULL };

int px_get_task_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *upid = json_string_value(json_object_get(args, "upid"));
	const char *node = json_string_value(json_object_get(args, "node"));
	char from_upid[128];
	json_t *data = NULL, *out;
	int rc;

	if (!node) {
		if (!upid_node(upid, from_upid, sizeof(from_upid)))
			return cx_result_errorf(res,
						"'%.80s' is not a Proxmox task id (UPID:node:...); "
						"proxmox_vm_action returns them",
						upid);
		node = from_upid;
	}
	rc = px_task_status(call, node, upid, &data, res);
	if (rc)
		return rc < 0 ? -1 : 0;
	out = px_pick(data, px_task_keys);
	json_decref(data);
	if (out && !json_object_get(out, "upid"))
		json_object_set_new(out, "upid", json_string(upid));
	if (out && !json_object_get(out, "node"))
		json_object_set_new(out, "node", json_string(node));
	return cx_result_structured(res, out);
}
