/* What the model names, found in UniFi: a site by its id, short name ("default") or display
 * name, a device by its id, MAC or name. A UUID is taken as it is in the Integration API (no
 * lookup); anything else is looked up in the lists, so a misspelt name gets a sentence that
 * points at the tool listing the right ones. */
#include "tools.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../../common/util.h"
#include "api.h"

bool un_is_uuid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return i == 36;
}

bool un_norm_mac(const char *in, char out[18])
{
	int n = 0;

	for (; *in; in++) {
		if (*in == ':' || *in == '-' || *in == '.')
			continue;
		if (!isxdigit((unsigned char)*in) || n >= 12)
			return false;
		out[n / 2 * 3 + n % 2] = (char)tolower((unsigned char)*in);
		if (n % 2 && n < 11)
			out[n / 2 * 3 + 2] = ':';
		n++;
	}
	out[17] = '\0';
	return n == 12;
}

const char *un_device_state(const json_t *dev, bool legacy)
{
	static const char *const names[] = {
		"OFFLINE",  "ONLINE",        "PENDING_ADOPTION",       "FIRMWARE_MISMATCH",
		"UPDATING", "GETTING_READY", "CONNECTION_INTERRUPTED", "ADOPTING",
		"DELETING", "INFORM_ERROR",  "ADOPTION_FAILED",        "ISOLATED",
	};
	const json_t *st = json_object_get(dev, "state");
	json_int_t n = json_integer_value(st);

	if (!legacy)
		return json_string_value(st) ? json_string_value(st) : "UNKNOWN";
	if (!json_is_integer(st) || n < 0 || n >= (json_int_t)(sizeof(names) / sizeof(names[0])))
		return "UNKNOWN";
	return names[n];
}

static const char *str_of(const json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));

	return s ? s : "";
}

/* 0 after an isError result made of err (the flow goes on: 1), -1 when that failed. */
static int fail(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg) ? -1 : 1;
}

static void fill_site(struct un_site *site, const char *id, const char *ref, bool legacy)
{
	snprintf(site->id, sizeof(site->id), "%s", id);
	snprintf(site->ref, sizeof(site->ref), "%s", ref);
	snprintf(site->label, sizeof(site->label), "%s", *ref ? ref : id);
	if (!cx_url_escape(legacy ? ref : id, site->path, sizeof(site->path)))
		site->path[0] = '\0';
}

int un_find_site(struct cx_call *call, const json_t *args, struct un_site *site,
		 struct cx_result *res)
{
	struct un_state *s = call->state;
	const char *want = json_string_value(json_object_get(args, "site"));
	struct cx_err err = { 0 };
	json_t *sites = NULL, *v;
	long total;
	size_t i;
	int rc;

	if (!want)
		want = s->site;
	if (!s->legacy && un_is_uuid(want)) {
		fill_site(site, want, "", false);
		return 0;
	}
	rc = s->legacy ? un_get(s, call, "/self/sites", &sites, &err)
		       : un_list(s, call, "/sites", UN_MAX_ITEMS, &sites, &total, &err);
	if (rc)
		return fail(res, &err);
	json_array_foreach(sites, i, v) {
		const char *id = str_of(v, s->legacy ? "_id" : "id");
		const char *ref = str_of(v, s->legacy ? "name" : "internalReference");
		const char *name = str_of(v, s->legacy ? "desc" : "name");

		if (!strcmp(want, id) || !strcasecmp(want, ref) || !strcasecmp(want, name)) {
			fill_site(site, id, ref, s->legacy);
			json_decref(sites);
			return site->path[0] ? 0 : cx_result_errorf(res, "the site id is too long");
		}
	}
	json_decref(sites);
	return cx_result_errorf(res,
				"no site '%.100s' on this UniFi console; unifi_list_sites lists "
				"them (by id, short name and name)",
				want)
		       ? -1
		       : 1;
}

/* Which devices of list match want (id, MAC, then exact name, then name in any case). */
static json_t *matches(const json_t *list, const char *want, bool legacy)
{
	json_t *out = json_array(), *v;
	char mac[18], vmac[18];
	bool is_mac = un_norm_mac(want, mac);
	size_t i;

	for (int pass = 0; pass < 3 && out && !json_array_size(out); pass++)
		json_array_foreach((json_t *)list, i, v) {
			const char *name = str_of(v, "name");
			bool hit = pass == 0
					   ? !strcmp(want, str_of(v, legacy ? "_id" : "id")) ||
						     (is_mac &&
						      un_norm_mac(str_of(v, legacy ? "mac"
										   : "macAddress"),
								  vmac) &&
						      !strcmp(mac, vmac))
				   : pass == 1 ? !strcmp(want, name)
					       : !strcasecmp(want, name);
			if (hit)
				json_array_append(out, v);
		}
	return out;
}

/* The one device of list want names: 0 (*dev set), 1 after an isError result, -1. */
static int pick(const json_t *list, const struct un_site *site, const char *want, bool legacy,
		json_t **dev, struct cx_result *res)
{
	json_t *found = matches(list, want, legacy);
	size_t n = json_array_size(found);
	int rc;

	if (n == 1) {
		*dev = json_incref(json_array_get(found, 0));
		json_decref(found);
		return 0;
	}
	json_decref(found);
	if (!found)
		return -1;
	rc = n ? cx_result_errorf(res,
				  "%zu devices on site '%s' are named '%.100s'; name the one you "
				  "mean by its id or MAC (unifi_list_devices lists them)",
				  n, site->label, want)
	       : cx_result_errorf(res,
				  "no device '%.100s' on site '%s' (by id, MAC or name); "
				  "unifi_list_devices lists them",
				  want, site->label);
	return rc ? -1 : 1;
}

int un_find_device(struct cx_call *call, const struct un_site *site, const char *want, json_t **dev,
		   struct cx_result *res)
{
	struct un_state *s = call->state;
	struct cx_err err = { 0 };
	char path[400];
	json_t *list = NULL;
	long total;
	int rc;

	*dev = NULL;
	if (!s->legacy && un_is_uuid(want)) {
		snprintf(path, sizeof(path), "/sites/%s/devices/%s", site->path, want);
		return un_get(s, call, path, dev, &err) ? fail(res, &err) : 0;
	}
	snprintf(path, sizeof(path), s->legacy ? "/s/%s/stat/device" : "/sites/%s/devices",
		 site->path);
	rc = s->legacy ? un_get(s, call, path, &list, &err)
		       : un_list(s, call, path, UN_MAX_ITEMS, &list, &total, &err);
	if (rc)
		return fail(res, &err);
	rc = pick(list, site, want, s->legacy, dev, res);
	json_decref(list);
	return rc;
}
