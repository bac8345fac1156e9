/* The Proxmox simulator's state as the API renders it: nodes, guests, configs, cluster
 * resources and status, with the field names and types of the published schema. */
#include "proxmox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

json_t *pve_guest_json(const struct guest *g, bool full)
{
	bool up = g->state != ST_STOPPED;
	json_int_t uptime = up ? (cx_now_ms() - g->started_ms) / 1000 : 0;
	json_t *v = json_pack("{s:i,s:s,s:s,s:f,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "vmid",
			      (json_int_t)g->vmid, "name", g->name, "status",
			      up ? "running" : "stopped", "cpu", up ? 0.031 : 0.0, "cpus",
			      (json_int_t)g->cpus, "maxmem", g->maxmem, "mem",
			      up ? g->maxmem / 3 : (json_int_t)0, "maxdisk",
			      (json_int_t)(g->lxc ? 8 : 32) << 30, "uptime", uptime, "netin",
			      up ? uptime * 1200 : 0, "netout", up ? uptime * 800 : 0, "diskread",
			      up ? uptime * 4096 : 0, "diskwrite", up ? uptime * 2048 : 0,
			      "template", g->template_);

	if (v == NULL)
		return NULL;
	if (g->tags[0] != '\0')
		json_object_set_new(v, "tags", json_string(g->tags));
	if (g->lxc) {
		json_object_set_new(v, "type", json_string("lxc"));
		json_object_set_new(v, "maxswap", json_integer(536870912));
		json_object_set_new(v, "disk", json_integer(up ? 1395015680 : 0));
		return v;
	}
	if (up)
		json_object_set_new(v, "pid", json_integer(100000 + g->vmid));
	if (full)
		json_object_set_new(v, "qmpstatus",
				    json_string(g->state == ST_PAUSED ? "paused"
						: up                  ? "running"
								      : "stopped"));
	return v;
}

json_t *pve_node_json(const struct node *n, bool resource)
{
	json_t *v = json_pack("{s:s,s:s,s:f,s:i,s:I,s:I,s:I,s:I,s:s}", "node", n->name, "status",
			      "online", "cpu", 0.042, "maxcpu", (json_int_t)n->maxcpu, "maxmem",
			      n->maxmem, "mem", n->maxmem / 4, "uptime", (json_int_t)864000,
			      "maxdisk", (json_int_t)100 << 30, "level", "");
	char id[80], hex[65], fp[96];
	size_t i;

	if (v == NULL)
		return NULL;
	snprintf(id, sizeof(id), "node/%s", n->name);
	json_object_set_new(v, "id", json_string(id));
	if (resource) {
		json_object_set_new(v, "type", json_string("node"));
		json_object_set_new(v, "disk", json_integer((json_int_t)12 << 30));
		return v;
	}
	/* a made-up certificate fingerprint, stable per node, in the form Proxmox shows */
	cx_sha256_hex(n->name, strlen(n->name), hex);
	for (i = 0; i < 32; i++) {
		fp[i * 3] = (char)(hex[i * 2] >= 'a' ? hex[i * 2] - 32 : hex[i * 2]);
		fp[i * 3 + 1] =
			(char)(hex[i * 2 + 1] >= 'a' ? hex[i * 2 + 1] - 32 : hex[i * 2 + 1]);
		fp[i * 3 + 2] = i == 31 ? '\0' : ':';
	}
	json_object_set_new(v, "ssl_fingerprint", json_string(fp));
	return v;
}

json_t *pve_node_status(const struct node *n)
{
	return json_pack("{s:f,s:f,s:f,s:I,s:[s,s,s],s:s,s:s,s:{s:i,s:i,s:i,s:s,s:s},"
			 "s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I},s:{s:s,s:b},"
			 "s:{s:s,s:s,s:s,s:s}}",
			 "cpu", 0.042, "wait", 0.001, "idle", 0.0, "uptime", (json_int_t)864000,
			 "loadavg", "0.31", "0.25", "0.20", "pveversion",
			 "pve-manager/8.2.4/faa83925c9641325", "kversion",
			 "Linux 6.8.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.8-2", "cpuinfo", "cpus",
			 (json_int_t)n->maxcpu, "cores", (json_int_t)n->maxcpu, "sockets", 1,
			 "model", "Sim CPU @ 3.00GHz", "hvm", "1", "memory", "total", n->maxmem,
			 "used", n->maxmem / 4, "free", n->maxmem - n->maxmem / 4, "available",
			 n->maxmem - n->maxmem / 4, "rootfs", "total", (json_int_t)100 << 30,
			 "used", (json_int_t)12 << 30, "free", (json_int_t)88 << 30, "avail",
			 (json_int_t)83 << 30, "boot-info", "mode", "efi", "secureboot", 0,
			 "current-kernel", "sysname", "Linux", "release", "6.8.8-2-pve", "machine",
			 "x86_64", "version", "#1 SMP PREEMPT_DYNAMIC PMX 6.8.8-2");
}

json_t *pve_list_guests(int node, int lxc, bool full)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < pve.n_guests; i++) {
		const struct guest *g = &pve.guests[i];
		json_t *v;

		if ((node >= 0 && g->node != node) || (lxc >= 0 && g->lxc != (lxc == 1)))
			continue;
		v = pve_guest_json(g, full);
		if (node < 0 && v != NULL) { /* a cluster resource */
			char id[32];

			snprintf(id, sizeof(id), "%s/%ld", g->lxc ? "lxc" : "qemu", g->vmid);
			json_object_set_new(v, "id", json_string(id));
			json_object_set_new(v, "type", json_string(g->lxc ? "lxc" : "qemu"));
			json_object_set_new(v, "node", json_string(pve.nodes[g->node].name));
			json_object_set_new(v, "maxcpu", json_integer(g->cpus));
			json_object_del(v, "cpus");
		}
		json_array_append_new(arr, v);
	}
	return arr;
}

json_t *pve_cluster_status(void)
{
	json_t *arr = json_array();
	size_t i;

	json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:i,s:b,s:i}", "type", "cluster", "id",
					     "cluster", "name", pve.cluster, "nodes",
					     (json_int_t)pve.n_nodes, "quorate", 1, "version", 3));
	for (i = 0; i < pve.n_nodes; i++) {
		char id[80];

		snprintf(id, sizeof(id), "node/%s", pve.nodes[i].name);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:i,s:s,s:b,s:b,s:s}", "type",
						     "node", "id", id, "name", pve.nodes[i].name,
						     "nodeid", (json_int_t)i + 1, "ip", "127.0.0.1",
						     "online", 1, "local", i == 0, "level", ""));
	}
	return arr;
}

json_t *pve_guest_config(const struct guest *g)
{
	json_t *v = json_deep_copy(g->config);
	char *text = json_dumps(g->config, JSON_COMPACT | JSON_SORT_KEYS);
	char hex[65];

	if (v == NULL || text == NULL) {
		free(text);
		json_decref(v);
		return NULL;
	}
	cx_sha256_hex(text, strlen(text), hex);
	hex[40] = '\0'; /* Proxmox's digest is a SHA-1: 40 hex digits */
	json_object_set_new(v, "digest", json_string(hex));
	if (g->tags[0] != '\0')
		json_object_set_new(v, "tags", json_string(g->tags));
	if (g->template_)
		json_object_set_new(v, "template", json_integer(1));
	free(text);
	return v;
}

json_t *pve_storage_json(const struct node *n)
{
	char id[96];

	snprintf(id, sizeof(id), "storage/%s/local-lvm", n->name);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i}", "id", id, "type", "storage",
			 "storage", "local-lvm", "node", n->name, "status", "available",
			 "plugintype", "lvmthin", "content", "images,rootdir", "disk",
			 (json_int_t)40 << 30, "maxdisk", (json_int_t)400 << 30, "shared", 0);
}
