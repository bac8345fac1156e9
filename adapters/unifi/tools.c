/* The UniFi tools. Both APIs answer with the same compact, stable fields (the Integration
 * API's words for states), so a model need not know which one the console speaks; a backend
 * failure is an isError sentence from api.c. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "api.h"

static struct un_state *state_of(struct cx_call *call)
{
	return call->state;
}

static int fail(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg);
}

/* Sets key to v's string value when it has one. */
static void put_str(json_t *o, const char *key, const json_t *v)
{
	if (json_is_string(v) && json_string_length(v))
		json_object_set_new(o, key, json_string(json_string_value(v)));
}

/* Sets key to v as a number: a JSON number, or a string holding one (the legacy API's
 * "system-stats" are strings). */
static void put_num(json_t *o, const char *key, const json_t *v)
{
	const char *text = json_string_value(v);
	char *end = NULL;
	double d;

	if (json_is_number(v)) {
		json_object_set_new(o, key, json_deep_copy(v));
		return;
	}
	if (!text || !*text)
		return;
	d = strtod(text, &end);
	if (end && !*end)
		json_object_set_new(o, key, json_real(d));
}

static json_t *site_json(const json_t *v, bool legacy)
{
	json_t *o = json_object();

	put_str(o, "id", json_object_get(v, legacy ? "_id" : "id"));
	put_str(o, "reference", json_object_get(v, legacy ? "name" : "internalReference"));
	put_str(o, "name", json_object_get(v, legacy ? "desc" : "name"));
	return o;
}

static json_t *device_json(const json_t *v, bool legacy)
{
	json_t *o = json_object();

	put_str(o, "id", json_object_get(v, legacy ? "_id" : "id"));
	put_str(o, "mac", json_object_get(v, legacy ? "mac" : "macAddress"));
	put_str(o, "name", json_object_get(v, "name"));
	put_str(o, "model", json_object_get(v, "model"));
	put_str(o, "ip", json_object_get(v, legacy ? "ip" : "ipAddress"));
	json_object_set_new(o, "state", json_string(un_device_state(v, legacy)));
	put_str(o, "firmware", json_object_get(v, legacy ? "version" : "firmwareVersion"));
	if (legacy) {
		put_str(o, "type", json_object_get(v, "type"));
		put_num(o, "uptime_s", json_object_get(v, "uptime"));
	} else if (json_is_array(json_object_get(v, "features"))) {
		json_object_set(o, "features", json_object_get(v, "features"));
	}
	return o;
}

static json_t *client_json(const json_t *v, bool legacy)
{
	json_t *o = json_object();
	const json_t *name = json_object_get(v, "name");

	put_str(o, "id", json_object_get(v, legacy ? "_id" : "id"));
	put_str(o, "mac", json_object_get(v, legacy ? "mac" : "macAddress"));
	put_str(o, "name", json_is_string(name) ? name : json_object_get(v, "hostname"));
	put_str(o, "ip", json_object_get(v, legacy ? "ip" : "ipAddress"));
	if (!legacy) {
		put_str(o, "type", json_object_get(v, "type"));
		put_str(o, "connected_at", json_object_get(v, "connectedAt"));
		put_str(o, "uplink_device_id", json_object_get(v, "uplinkDeviceId"));
		return o;
	}
	json_object_set_new(o, "type",
			    json_string(json_is_true(json_object_get(v, "is_wired")) ? "WIRED"
										     : "WIRELESS"));
	put_num(o, "uptime_s", json_object_get(v, "uptime"));
	put_str(o, "uplink_mac", json_object_get(v, "ap_mac"));
	put_str(o, "uplink_mac", json_object_get(v, "sw_mac"));
	put_str(o, "essid", json_object_get(v, "essid"));
	return o;
}

/* Each item of list through conv, up to max. */
static json_t *convert(const json_t *list, long max, json_t *(*conv)(const json_t *, bool),
		       bool legacy)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach((json_t *)list, i, v) {
		if ((long)i >= max)
			break;
		json_array_append_new(out, conv(v, legacy));
	}
	return out;
}

int un_list_sites(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct un_state *s = state_of(call);
	struct cx_err err = { 0 };
	json_t *list = NULL, *sites;
	long total = 0;
	int rc = s->legacy ? un_get(s, call, "/self/sites", &list, &err)
			   : un_list(s, call, "/sites", UN_MAX_ITEMS, &list, &total, &err);

	if (rc)
		return fail(res, &err);
	sites = convert(list, UN_MAX_ITEMS, site_json, s->legacy);
	json_decref(list);
	return cx_result_structured(res, json_pack("{s:o,s:I}", "sites", sites, "count",
						   (json_int_t)json_array_size(sites)));
}

/* GET (legacy) or every page up to max (integration) of the site's devices or clients. */
static int site_list(struct cx_call *call, const struct un_site *site, const char *what, long max,
		     json_t **list, long *total, struct cx_result *res)
{
	struct un_state *s = state_of(call);
	struct cx_err err = { 0 };
	char path[400];
	int rc;

	if (s->legacy)
		snprintf(path, sizeof(path), "/s/%s/stat/%s", site->path,
			 strcmp(what, "devices") ? "sta" : "device");
	else
		snprintf(path, sizeof(path), "/sites/%s/%s", site->path, what);
	rc = s->legacy ? un_get(s, call, path, list, &err)
		       : un_list(s, call, path, max, list, total, &err);
	if (rc)
		return fail(res, &err) ? -1 : 1;
	if (s->legacy)
		*total = (long)json_array_size(*list);
	return 0;
}

static int list_of(struct cx_call *call, const json_t *args, const char *what,
		   json_t *(*conv)(const json_t *, bool), struct cx_result *res)
{
	struct un_state *s = state_of(call);
	const json_t *lim = json_object_get(args, "limit");
	long max = lim ? (long)json_integer_value(lim) : 200, total = 0;
	struct un_site site;
	json_t *list = NULL, *items;
	int rc = un_find_site(call, args, &site, res);

	if (!rc)
		rc = site_list(call, &site, what, max, &list, &total, res);
	if (rc)
		return rc < 0 ? -1 : 0;
	items = convert(list, max, conv, s->legacy);
	json_decref(list);
	return cx_result_structured(res,
				    json_pack("{s:s,s:o,s:I,s:I}", "site", site.label, what, items,
					      "count", (json_int_t)json_array_size(items), "total",
					      (json_int_t)total));
}

int un_list_devices(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return list_of(call, args, "devices", device_json, res);
}

int un_list_clients(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return list_of(call, args, "clients", client_json, res);
}

/* The Integration API's latest statistics as the tool's fields, into out. */
static void integration_stats(json_t *out, const json_t *st)
{
	const json_t *up = json_object_get(st, "uplink"), *r;
	const json_t *radios = json_object_get(json_object_get(st, "interfaces"), "radios");
	json_t *list = json_array();
	size_t i;

	put_num(out, "uptime_s", json_object_get(st, "uptimeSec"));
	put_num(out, "cpu_pct", json_object_get(st, "cpuUtilizationPct"));
	put_num(out, "mem_pct", json_object_get(st, "memoryUtilizationPct"));
	put_num(out, "load_avg_1", json_object_get(st, "loadAverage1Min"));
	put_num(out, "load_avg_5", json_object_get(st, "loadAverage5Min"));
	put_num(out, "load_avg_15", json_object_get(st, "loadAverage15Min"));
	put_num(out, "uplink_tx_bps", json_object_get(up, "txRateBps"));
	put_num(out, "uplink_rx_bps", json_object_get(up, "rxRateBps"));
	put_str(out, "last_heartbeat_at", json_object_get(st, "lastHeartbeatAt"));
	json_array_foreach((json_t *)radios, i, r) {
		json_t *o = json_object();

		put_num(o, "frequency_ghz", json_object_get(r, "frequencyGHz"));
		put_num(o, "tx_retries_pct", json_object_get(r, "txRetriesPct"));
		json_array_append_new(list, o);
	}
	json_object_set_new(out, "radios", list);
}

/* The legacy stat/device entry's statistics as the tool's fields, into out. */
static void legacy_stats(json_t *out, const json_t *d)
{
	const json_t *sys = json_object_get(d, "system-stats");
	const json_t *load = json_object_get(d, "sys_stats");
	const json_t *up = json_object_get(d, "uplink");
	const json_t *tx = json_object_get(up, "tx_bytes-r"),
		     *rx = json_object_get(up, "rx_bytes-r");

	put_num(out, "uptime_s", json_object_get(d, "uptime"));
	put_num(out, "cpu_pct", json_object_get(sys, "cpu"));
	put_num(out, "mem_pct", json_object_get(sys, "mem"));
	put_num(out, "load_avg_1", json_object_get(load, "loadavg_1"));
	put_num(out, "load_avg_5", json_object_get(load, "loadavg_5"));
	put_num(out, "load_avg_15", json_object_get(load, "loadavg_15"));
	if (json_is_number(tx)) /* bytes a second */
		json_object_set_new(out, "uplink_tx_bps",
				    json_integer((json_int_t)(json_number_value(tx) * 8)));
	if (json_is_number(rx))
		json_object_set_new(out, "uplink_rx_bps",
				    json_integer((json_int_t)(json_number_value(rx) * 8)));
	put_num(out, "clients", json_object_get(d, "num_sta"));
}

/* The Integration API's id of the device: the UUID the model gave, else the one found. */
static const char *device_id(const char *want, const json_t *dev)
{
	const char *id = json_string_value(json_object_get(dev, "id"));

	return un_is_uuid(want) || !id ? want : id;
}

int un_get_device_stats(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct un_state *s = state_of(call);
	const char *want = json_string_value(json_object_get(args, "device"));
	struct cx_err err = { 0 };
	struct un_site site;
	json_t *dev = NULL, *out, *st = NULL;
	char path[600];
	int rc = un_find_site(call, args, &site, res);

	if (!rc)
		rc = un_find_device(call, &site, want, &dev, res);
	if (rc)
		return rc < 0 ? -1 : 0;
	out = device_json(dev, s->legacy);
	json_object_set_new(out, "site", json_string(site.label));
	if (s->legacy) {
		legacy_stats(out, dev);
	} else {
		snprintf(path, sizeof(path), "/sites/%s/devices/%s/statistics/latest", site.path,
			 device_id(want, out));
		if (un_get(s, call, path, &st, &err)) {
			json_decref(dev);
			json_decref(out);
			return fail(res, &err);
		}
		integration_stats(out, st);
		json_decref(st);
	}
	json_decref(dev);
	return cx_result_structured(res, out);
}

int un_restart_device(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct un_state *s = state_of(call);
	const char *want = json_string_value(json_object_get(args, "device"));
	struct cx_err err = { 0 };
	struct un_site site;
	json_t *dev = NULL, *out, *answer = NULL, *body;
	char path[600];
	int rc = un_find_site(call, args, &site, res);

	if (!rc)
		rc = un_find_device(call, &site, want, &dev, res);
	if (rc)
		return rc < 0 ? -1 : 0;
	out = device_json(dev, s->legacy);
	json_decref(dev);
	if (!json_object_get(out, s->legacy ? "mac" : "id")) {
		json_decref(out);
		return cx_result_errorf(res,
					"unifi listed the device without its %s; it cannot "
					"be restarted through the API",
					s->legacy ? "MAC" : "id");
	}
	if (s->legacy) {
		snprintf(path, sizeof(path), "/s/%s/cmd/devmgr", site.path);
		body = json_pack("{s:s,s:s}", "cmd", "restart", "mac",
				 json_string_value(json_object_get(out, "mac")));
	} else {
		snprintf(path, sizeof(path), "/sites/%s/devices/%s/actions", site.path,
			 device_id(want, out));
		body = json_pack("{s:s}", "action", "RESTART");
	}
	if (un_post(s, call, path, body, &answer, &err)) {
		json_decref(out);
		return fail(res, &err);
	}
	json_decref(answer);
	json_object_set_new(out, "state_before",
			    json_object_get(out, "state")
				    ? json_incref(json_object_get(out, "state"))
				    : json_null());
	json_object_del(out, "state");
	json_object_set_new(out, "site", json_string(site.label));
	json_object_set_new(out, "action", json_string("restart"));
	json_object_set_new(out, "accepted", json_true());
	return cx_result_structured(res, out);
}
