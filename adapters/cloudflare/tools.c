/* The Cloudflare tools. Lists read every page unless a page is asked for; records and zones
 * come back as compact objects with Cloudflare's own field names. */
#include "tools.h"

#include <stdio.h>
#include <string.h>

#include "../../common/util.h"
#include "api.h"

static const char *const zone_keys[] = { "id",   "name",         "status", "paused",
					 "type", "name_servers", NULL };
static const char *const record_keys[] = { "id",      "type",     "name",    "content",     "ttl",
					   "proxied", "priority", "comment", "modified_on", NULL };

static json_t *pick(const json_t *src, const char *const *keys)
{
	json_t *o = json_object();

	for (size_t i = 0; o && keys[i]; i++) {
		json_t *v = json_object_get(src, keys[i]);
		if (v && !json_is_null(v))
			json_object_set(o, keys[i], v);
	}
	return o;
}

static json_t *pick_all(const json_t *list, const char *const *keys)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach((json_t *)list, i, v)
		json_array_append_new(out, pick(v, keys));
	return out;
}

/* Appends "&key=value" for each string or number argument named in keys (query names). */
static bool add_filters(const json_t *args, const char *const *keys, char *q, size_t qlen)
{
	for (size_t i = 0; keys[i]; i++) {
		const json_t *v = json_object_get(args, keys[i]);
		char esc[600], num[32];
		const char *text = json_string_value(v);
		size_t n = strlen(q);

		if (json_is_boolean(v))
			text = json_is_true(v) ? "true" : "false";
		else if (json_is_integer(v) &&
			 snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v)) > 0)
			text = num;
		if (!text)
			continue;
		if (!cx_url_escape(text, esc, sizeof(esc)) ||
		    !cx_fmt(q + n, qlen - n, "%c%s=%s", n ? '&' : '?', keys[i], esc))
			return false;
	}
	return true;
}

static long int_arg(const json_t *args, const char *key, long dflt)
{
	const json_t *v = json_object_get(args, key);

	return v ? (long)json_integer_value(v) : dflt;
}

int cf_list_zones(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	static const char *const filters[] = { "name", "status", NULL };
	struct cf_state *s = call->state;
	struct cx_err err = { 0 };
	char path[1024] = "";
	json_t *zones = NULL;
	long total;

	if (!add_filters(args, filters, path, sizeof(path)))
		return cx_result_errorf(res, "the filters are too long");
	if (s->account_id) {
		size_t n = strlen(path);
		char esc[128];
		if (!cx_url_escape(s->account_id, esc, sizeof(esc)) ||
		    !cx_fmt(path + n, sizeof(path) - n, "%caccount.id=%s", n ? '&' : '?', esc))
			return cx_result_errorf(res, "the account id is too long");
	}
	memmove(path + 6, path, strlen(path) + 1);
	memcpy(path, "/zones", 6);
	if (cf_list(s, call, path, int_arg(args, "page", 0), int_arg(args, "per_page", 50), &zones,
		    &total, &err))
		return cx_result_errorf(res, "%s", err.msg);
	json_t *out = pick_all(zones, zone_keys);
	json_decref(zones);
	return cx_result_structured(res, json_pack("{s:o, s:I, s:I}", "zones", out, "count",
						   (json_int_t)json_array_size(out), "total",
						   (json_int_t)total));
}

int cf_get_dns(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	static const char *const filters[] = { "type", "name", "content", NULL };
	struct cf_state *s = call->state;
	struct cx_err err = { 0 };
	char zone[64], q[1024] = "", path[1200];
	json_t *records = NULL, *out;
	long total;

	if (cf_zone_id(s, call, args, zone, sizeof(zone), &err))
		return cx_result_errorf(res, "%s", err.msg);
	if (!add_filters(args, filters, q, sizeof(q)))
		return cx_result_errorf(res, "the filters are too long");
	snprintf(path, sizeof(path), "/zones/%s/dns_records%s", zone, q);
	if (cf_list(s, call, path, int_arg(args, "page", 0), int_arg(args, "per_page", 100),
		    &records, &total, &err))
		return cx_result_errorf(res, "%s", err.msg);
	out = pick_all(records, record_keys);
	json_decref(records);
	return cx_result_structured(res,
				    json_pack("{s:s, s:o, s:I, s:I}", "zone_id", zone, "records",
					      out, "count", (json_int_t)json_array_size(out),
					      "total", (json_int_t)total));
}

/* The record fields of args, as Cloudflare's request body. */
static json_t *record_body(const json_t *args)
{
	static const char *const keys[] = { "type",    "name",     "content", "ttl",
					    "proxied", "priority", "comment", NULL };

	return pick(args, keys);
}

/* One record request: method on /zones/<zone>/dns_records[/<id>] with body (stolen). */
static int record_call(struct cx_call *call, const json_t *args, const char *method, bool with_id,
		       json_t *body, struct cx_result *res)
{
	const char *id = json_string_value(json_object_get(args, "record_id"));
	struct cf_state *s = call->state;
	struct cx_err err = { 0 };
	char zone[64], path[256];
	json_t *result = NULL, *out;

	if (cf_zone_id(s, call, args, zone, sizeof(zone), &err)) {
		json_decref(body);
		return cx_result_errorf(res, "%s", err.msg);
	}
	snprintf(path, sizeof(path), "/zones/%s/dns_records%s%s", zone, with_id ? "/" : "",
		 with_id ? id : "");
	if (cf_request(s, call, method, path, body, &result, NULL, &err))
		return cx_result_errorf(res, "%s", err.msg);
	out = strcmp(method, "DELETE") ? pick(result, record_keys)
				       : json_pack("{s:s, s:b}", "id", id, "deleted", 1);
	json_decref(result);
	if (out)
		json_object_set_new(out, "zone_id", json_string(zone));
	return cx_result_structured(res, out);
}

int cf_create_dns_record(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return record_call(call, args, "POST", false, record_body(args), res);
}

int cf_update_dns_record(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	json_t *body = record_body(args);

	if (!json_object_size(body)) {
		json_decref(body);
		return cx_result_errorf(res, "nothing to change: give at least one of type, name, "
					     "content, ttl, proxied, priority, comment");
	}
	return record_call(call, args, "PATCH", true, body, res);
}

int cf_delete_dns_record(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return record_call(call, args, "DELETE", true, NULL, res);
}
