/* The legacy UniFi Network API of the simulator, below /api (behind /proxy/network on UniFi
 * OS, at the root of a classic controller), once unifi.c has checked the session: the
 * {"meta": {"rc": "ok" | "error", "msg"}, "data": [...]} envelope, sites by their short name
 * (an unknown one is 401 api.err.NoSiteContext, as the controller answers), stat/device with
 * numeric states (1 connected, 0 disconnected, 5 provisioning while restarting), stat/sta and
 * cmd/devmgr restart by MAC. */
#include "unifi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"

void uf_legacy_fail(struct sim_response *resp, unsigned int status, const char *msg)
{
	sim_reply(resp, status,
		  json_pack("{s:{s:s,s:s},s:[]}", "meta", "rc", "error", "msg", msg, "data"));
}

/* Steals data. */
static void ok(struct sim_response *resp, json_t *data)
{
	sim_reply(resp, 200, json_pack("{s:{s:s},s:o}", "meta", "rc", "ok", "data", data));
}

static char *num(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.1f", v);
	return buf;
}

static json_t *device_json(const struct uf_device *d)
{
	int state = d->state == UF_ONLINE ? 1 : d->state == UF_OFFLINE ? 0 : 5;
	json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:i,s:s,s:I}", "_id", d->legacy_id,
			      "mac", d->mac, "name", d->name, "model", d->model, "type", d->type,
			      "ip", d->ip, "version", d->firmware, "adopted", 1, "state", state,
			      "site_id", uf.sites[d->site].legacy_id, "last_seen",
			      (json_int_t)time(NULL) - (d->state == UF_ONLINE ? 5 : 3600));
	char cpu[16], mem[16], l1[16], l5[16], l15[16];
	long uptime = uf_uptime_s(d);
	size_t n = 0;

	if (!v || d->state != UF_ONLINE)
		return v;
	for (size_t i = 0; i < uf.n_clients; i++)
		n += uf.clients[i].uplink == d - uf.devices;
	json_object_set_new(v, "uptime", json_integer(uptime));
	json_object_set_new(v, "num_sta", json_integer((json_int_t)n));
	json_object_set_new(v, "system-stats",
			    json_pack("{s:s,s:s,s:o}", "cpu", num(cpu, sizeof(cpu), d->cpu), "mem",
				      num(mem, sizeof(mem), d->mem), "uptime",
				      json_sprintf("%ld", uptime)));
	json_object_set_new(v, "sys_stats",
			    json_pack("{s:s,s:s,s:s}", "loadavg_1", num(l1, sizeof(l1), d->load1),
				      "loadavg_5", num(l5, sizeof(l5), d->load5), "loadavg_15",
				      num(l15, sizeof(l15), d->load15)));
	json_object_set_new(v, "uplink",
			    json_pack("{s:s,s:b,s:I,s:I}", "type", "wire", "up", 1, "tx_bytes-r",
				      (json_int_t)d->tx_bps / 8, "rx_bytes-r",
				      (json_int_t)d->rx_bps / 8));
	return v;
}

static json_t *client_json(const struct uf_client *c)
{
	const struct uf_device *up = &uf.devices[c->uplink];
	long uptime = (long)((cx_now_ms() - c->connected_ms) / 1000);

	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:s,s:s,s:s}", "_id", c->legacy_id,
			 "mac", c->mac, "hostname", c->name, "name", c->name, "ip", c->ip,
			 "is_wired", c->wired, "uptime", (json_int_t)uptime, "last_seen",
			 (json_int_t)time(NULL), "site_id", uf.sites[c->site].legacy_id,
			 c->wired ? "sw_mac" : "ap_mac", up->mac, "essid",
			 c->wired ? "" : "Office");
}

static void restart(const struct sim_request *req, int site, struct sim_response *resp)
{
	json_t *body = sim_body_params(req);
	const char *cmd = json_string_value(json_object_get(body, "cmd"));
	const char *mac = json_string_value(json_object_get(body, "mac"));
	size_t i;

	if (!cmd || strcmp(cmd, "restart")) {
		uf_legacy_fail(resp, 400, "api.err.InvalidCommand");
	} else {
		for (i = 0; mac && i < uf.n_devices; i++)
			if (uf.devices[i].site == site && !strcmp(uf.devices[i].mac, mac))
				break;
		if (!mac || i >= uf.n_devices)
			uf_legacy_fail(resp, 400, "api.err.UnknownDevice");
		else if (uf.devices[i].state == UF_OFFLINE)
			uf_legacy_fail(resp, 400, "api.err.DeviceNotConnected");
		else {
			uf_restart(i);
			ok(resp, json_array());
		}
	}
	json_decref(body);
}

/* /s/{site}/stat/device[/{mac}], /s/{site}/stat/sta, /s/{site}/cmd/devmgr */
static void site_routes(const struct sim_request *req, const char *rest, struct sim_response *resp)
{
	char name[64];
	size_t len = strcspn(rest, "/");
	const char *sub = rest + len;
	bool get = !strcmp(req->method, "GET");
	json_t *data;
	int site;

	snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : 0), rest);
	site = uf_find_site_by_name(name);
	if (site < 0) {
		uf_legacy_fail(resp, 401, "api.err.NoSiteContext");
		return;
	}
	if (get && (!strcmp(sub, "/stat/device") || !strncmp(sub, "/stat/device/", 13))) {
		const char *mac = sub[12] ? sub + 13 : NULL;

		data = json_array();
		for (size_t i = 0; i < uf.n_devices; i++)
			if (uf.devices[i].site == site && (!mac || !strcmp(mac, uf.devices[i].mac)))
				json_array_append_new(data, device_json(&uf.devices[i]));
		ok(resp, data);
	} else if (get && !strcmp(sub, "/stat/sta")) {
		data = json_array();
		for (size_t i = 0; i < uf.n_clients; i++)
			if (uf.clients[i].site == site && uf_client_visible(&uf.clients[i]))
				json_array_append_new(data, client_json(&uf.clients[i]));
		ok(resp, data);
	} else if (!strcmp(req->method, "POST") && !strcmp(sub, "/cmd/devmgr")) {
		restart(req, site, resp);
	} else {
		uf_legacy_fail(resp, 404, "api.err.NotFound");
	}
}

void uf_legacy(const struct sim_request *req, const char *path, bool classic,
	       struct sim_response *resp)
{
	if (!strcmp(path, "/self/sites") && !strcmp(req->method, "GET")) {
		json_t *data = json_array();

		for (size_t i = 0; i < uf.n_sites; i++)
			json_array_append_new(data,
					      json_pack("{s:s,s:s,s:s,s:s,s:b}", "_id",
							uf.sites[i].legacy_id, "name",
							uf.sites[i].name, "desc", uf.sites[i].desc,
							"role", "admin", "attr_no_delete", i == 0));
		ok(resp, data);
	} else if (!strncmp(path, "/s/", 3)) {
		site_routes(req, path + 3, resp);
	} else {
		uf_legacy_fail(resp, 404, "api.err.NotFound");
	}
}
