/* The UniFi Network Integration API of the simulator (../shared/specs/unifi-integration-subset
 * .json): X-API-KEY, pages of {offset, limit, count, totalCount, data} with limit at most 200,
 * UUIDs for sites, devices and clients, error bodies of {statusCode, statusName, code,
 * message, timestamp, requestPath, requestId}, and device actions (RESTART). */
#include "unifi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"

#define MAX_SEGS 8

json_t *uf_integration_error(unsigned int status, const char *code, const char *message,
			     const char *path)
{
	char when[32], rid[33];

	cx_wall_iso8601(when, sizeof(when));
	if (cx_random_hex(rid, sizeof(rid), 16))
		rid[0] = '\0';
	return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s+,s:s}", "statusCode", status, "statusName",
			 status == 400   ? "BAD_REQUEST"
			 : status == 401 ? "UNAUTHORIZED"
			 : status == 404 ? "NOT_FOUND"
					 : MHD_get_reason_phrase_for(status),
			 "code", code, "message", message, "timestamp", when, "requestPath",
			 "/integration/v1", path, "requestId",
			 "3fa85f64-5717-4562-b3fc-2c963f66afa6");
}

static void fail(struct sim_response *resp, unsigned int status, const char *code,
		 const char *message, const char *path)
{
	sim_reply(resp, status, uf_integration_error(status, code, message, path));
}

static bool is_uuid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return i == 36;
}

static void iso_ago(int64_t since_ms, char *out, size_t outlen)
{
	time_t t = time(NULL) - (time_t)((cx_now_ms() - since_ms) / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *state_name(const struct uf_device *d)
{
	return d->state == UF_ONLINE    ? "ONLINE"
	       : d->state == UF_OFFLINE ? "OFFLINE"
					: "GETTING_READY";
}

static json_t *device_overview(const struct uf_device *d)
{
	bool ap = !strcmp(d->type, "uap");
	json_t *features = !strcmp(d->type, "udm") ? json_pack("[s,s]", "switching", "gateway")
			   : ap                    ? json_pack("[s]", "accessPoint")
						   : json_pack("[s]", "switching");

	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:b,s:o,s:[s]}", "id", d->id,
			 "macAddress", d->mac, "ipAddress", d->ip, "name", d->name, "model",
			 d->model, "state", state_name(d), "supported", 1, "firmwareVersion",
			 d->firmware, "firmwareUpdatable", 0, "features", features, "interfaces",
			 ap ? "radios" : "ports");
}

static json_t *device_details(const struct uf_device *d)
{
	json_t *v = device_overview(d), *ifaces;
	char adopted[32];

	if (!v)
		return NULL;
	iso_ago(d->boot_ms - 86400000LL * 30, adopted, sizeof(adopted));
	if (!strcmp(d->type, "uap")) {
		json_object_set_new(v, "features", json_pack("{s:{}}", "accessPoint"));
		ifaces = json_pack("{s:[{s:s,s:f,s:i,s:i},{s:s,s:i,s:i,s:i}]}", "radios",
				   "wlanStandard", "802.11ax", "frequencyGHz", 2.4,
				   "channelWidthMHz", 20, "channel", 6, "wlanStandard", "802.11ax",
				   "frequencyGHz", 5, "channelWidthMHz", 80, "channel", 36);
	} else {
		json_object_set_new(v, "features", json_pack("{s:{s:[]}}", "switching", "lags"));
		ifaces = json_pack("{s:[{s:i,s:s,s:s,s:i,s:i},{s:i,s:s,s:s,s:i}]}", "ports", "idx",
				   1, "state", "UP", "connector", "RJ45", "maxSpeedMbps", 1000,
				   "speedMbps", 1000, "idx", 2, "state", "DOWN", "connector",
				   "SFPPLUS", "maxSpeedMbps", 10000);
	}
	json_object_set_new(v, "interfaces", ifaces);
	json_object_set_new(v, "configurationId", json_string(d->legacy_id + 8));
	json_object_set_new(v, "adoptedAt", json_string(adopted));
	if (strcmp(d->type, "udm"))
		json_object_set_new(v, "uplink", json_pack("{s:s}", "deviceId", uf.devices[0].id));
	return v;
}

static json_t *device_stats(const struct uf_device *d)
{
	char beat[32], next[32];
	json_t *radios;

	if (d->state != UF_ONLINE)
		return json_pack("{s:{}}", "interfaces");
	iso_ago(cx_now_ms() - 5000, beat, sizeof(beat));
	iso_ago(cx_now_ms() + 5000, next, sizeof(next));
	radios = !strcmp(d->type, "uap")
			 ? json_pack("[{s:f,s:f},{s:i,s:f}]", "frequencyGHz", 2.4, "txRetriesPct",
				     3.2, "frequencyGHz", 5, "txRetriesPct", 1.4)
			 : json_array();
	return json_pack("{s:I,s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:{s:I,s:I},s:{s:o}}", "uptimeSec",
			 (json_int_t)uf_uptime_s(d), "lastHeartbeatAt", beat, "nextHeartbeatAt",
			 next, "loadAverage1Min", d->load1, "loadAverage5Min", d->load5,
			 "loadAverage15Min", d->load15, "cpuUtilizationPct", d->cpu,
			 "memoryUtilizationPct", d->mem, "uplink", "txRateBps",
			 (json_int_t)d->tx_bps, "rxRateBps", (json_int_t)d->rx_bps, "interfaces",
			 "radios", radios);
}

static json_t *client_overview(const struct uf_client *c)
{
	char when[32];

	iso_ago(c->connected_ms, when, sizeof(when));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s}}", "type",
			 c->wired ? "WIRED" : "WIRELESS", "id", c->id, "name", c->name,
			 "connectedAt", when, "ipAddress", c->ip, "macAddress", c->mac,
			 "uplinkDeviceId", uf.devices[c->uplink].id, "access", "type", "DEFAULT");
}

/* offset and limit of a page; false after a 400 in resp. */
static bool paging(const struct sim_request *req, const char *path, long *offset, long *limit,
		   struct sim_response *resp)
{
	const char *o = sim_query(req, "offset"), *l = sim_query(req, "limit");

	*offset = 0;
	*limit = 25;
	if ((o && cx_parse_long(o, 0, 1L << 30, offset)) ||
	    (l && cx_parse_long(l, 0, 200, limit))) {
		fail(resp, 400, "api.request.argument-type-mismatch",
		     "'offset' must be an integer of at least 0 and 'limit' one from 0 to 200",
		     path);
		return false;
	}
	return true;
}

/* Steals items: the page [offset, offset + limit) of them. */
static void page(struct sim_response *resp, json_t *items, long offset, long limit)
{
	json_t *data = json_array();
	long total = (long)json_array_size(items);

	for (long i = offset; i < total && i < offset + limit; i++)
		json_array_append(data, json_array_get(items, (size_t)i));
	json_decref(items);
	sim_reply(resp, 200,
		  json_pack("{s:I,s:I,s:I,s:I,s:o}", "offset", (json_int_t)offset, "limit",
			    (json_int_t)limit, "count", (json_int_t)json_array_size(data),
			    "totalCount", (json_int_t)total, "data", data));
}

static void list(const struct sim_request *req, const char *path, int site, bool devices,
		 struct sim_response *resp)
{
	json_t *items = json_array();
	long offset, limit;
	size_t i;

	if (!paging(req, path, &offset, &limit, resp)) {
		json_decref(items);
		return;
	}
	if (site < 0) {
		for (i = 0; i < uf.n_sites; i++)
			json_array_append_new(items,
					      json_pack("{s:s,s:s,s:s}", "id", uf.sites[i].id,
							"internalReference", uf.sites[i].name,
							"name", uf.sites[i].desc));
	} else if (devices) {
		for (i = 0; i < uf.n_devices; i++)
			if (uf.devices[i].site == site)
				json_array_append_new(items, device_overview(&uf.devices[i]));
	} else {
		for (i = 0; i < uf.n_clients; i++)
			if (uf.clients[i].site == site && uf_client_visible(&uf.clients[i]))
				json_array_append_new(items, client_overview(&uf.clients[i]));
	}
	page(resp, items, offset, limit);
}

static void action(const struct sim_request *req, const char *path, size_t dev,
		   struct sim_response *resp)
{
	json_t *body = sim_body_params(req);
	const char *act = json_string_value(json_object_get(body, "action"));

	if (!act)
		fail(resp, 400, "api.request.argument-type-mismatch",
		     "the body must be a JSON object with 'action'", path);
	else if (strcmp(act, "RESTART"))
		fail(resp, 400, "api.request.argument-type-mismatch", "unknown device action",
		     path);
	else if (uf.devices[dev].state == UF_OFFLINE)
		fail(resp, 400, "api.request.device-offline", "the device is offline", path);
	else {
		uf_restart(dev);
		sim_reply(resp, 200, NULL);
	}
	json_decref(body);
}

static int find_device(int site, const char *id)
{
	for (size_t i = 0; i < uf.n_devices; i++)
		if (uf.devices[i].site == site && !strcmp(uf.devices[i].id, id))
			return (int)i;
	return -1;
}

/* /sites/{siteId}/devices[/{deviceId}[/statistics/latest | /actions]] and /clients. */
static void site_routes(const struct sim_request *req, const char *path, char **seg, int n,
			struct sim_response *resp)
{
	bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
	int site, dev = -1;

	if (!is_uuid(seg[1]) || (n >= 4 && !is_uuid(seg[3]))) {
		fail(resp, 400, "api.request.argument-type-mismatch",
		     "a site or device id is not a UUID", path);
		return;
	}
	site = uf_find_site_by_id(seg[1]);
	if (site >= 0 && n >= 4)
		dev = find_device(site, seg[3]);
	if (site < 0 || (n >= 4 && dev < 0)) {
		fail(resp, 404, "api.request.missing-entity", "Not_Found", path);
		return;
	}
	if (n == 3 && get && !strcmp(seg[2], "devices"))
		list(req, path, site, true, resp);
	else if (n == 3 && get && !strcmp(seg[2], "clients"))
		list(req, path, site, false, resp);
	else if (n == 4 && get && !strcmp(seg[2], "devices"))
		sim_reply(resp, 200, device_details(&uf.devices[dev]));
	else if (n == 6 && get && !strcmp(seg[4], "statistics") && !strcmp(seg[5], "latest"))
		sim_reply(resp, 200, device_stats(&uf.devices[dev]));
	else if (n == 5 && post && !strcmp(seg[4], "actions"))
		action(req, path, (size_t)dev, resp);
	else
		fail(resp, 404, "api.request.missing-entity", "Not_Found", path);
}

void uf_integration(const struct sim_request *req, const char *path, struct sim_response *resp)
{
	const char *key = sim_header(req, "X-API-KEY");
	char copy[512], *seg[MAX_SEGS], *p = copy;
	int n = 0;

	if (!key || strlen(key) != strlen(uf.api_key) ||
	    !cx_ct_equal(key, uf.api_key, strlen(key))) {
		fail(resp, 401, "api.authentication.missing-credentials", "Unauthorized", path);
		return;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	/* "/sites/x/devices" -> "sites", "x", "devices"; empty segments are not paths here. */
	while (*p == '/' && n < MAX_SEGS) {
		*p++ = '\0';
		seg[n++] = p;
		p += strcspn(p, "/");
	}
	for (int i = 0; i < n; i++)
		if (!seg[i][0] || *p)
			n = 0;
	if (n == 1 && !strcmp(seg[0], "info") && !strcmp(req->method, "GET"))
		sim_reply(resp, 200, json_pack("{s:s}", "applicationVersion", "10.5.66"));
	else if (n == 1 && !strcmp(seg[0], "sites") && !strcmp(req->method, "GET"))
		list(req, path, -1, false, resp);
	else if (n >= 3 && !strcmp(seg[0], "sites"))
		site_routes(req, path, seg, n, resp);
	else
		fail(resp, 404, "api.request.missing-entity", "Not_Found", path);
}
