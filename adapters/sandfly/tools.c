/* The Sandfly Security tools. Each answers with structuredContent of compact, stable field
 * names (the same JSON as text), renamed from Sandfly's host summaries and result summaries
 * (whose keys are dotted: "data.status", "header.hostname"); a backend failure is an isError
 * sentence from api.c. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/util.h"
#include "api.h"

/* A renaming: the compact name and Sandfly's key. */
struct rename {
	const char *to, *from;
};

static const struct rename host_fields[] = {
	{ "host_id", "host_id" },
	{ "host_sequence_id", "host_sequence_id" },
	{ "hostname", "hostname" },
	{ "active", "active" },
	{ "authentication_status", "authentication_status" },
	{ "ip", "last_seen_ip_addr" },
	{ "os", "os_info_os_release_pretty_name" },
	{ "last_seen", "date_last_seen" },
	{ "tags", "tags" },
	{ "results_alert", "results_alert" },
	{ "results_error", "results_error" },
	{ "results_pass", "results_pass" },
	{ NULL, NULL },
};

static const struct rename host_detail_fields[] = {
	{ "first_seen", "date_first_seen" },
	{ "kernel", "os_info_release" },
	{ "arch", "os_info_arch" },
	{ "cpu_model", "os_hardware_cpu_model_name" },
	{ "cpu_cores", "os_hardware_cpu_cores" },
	{ "uptime_days", "os_info_uptime_days" },
	{ "credentials_id", "credentials_id" },
	{ "jump_hosts", "jump_hosts" },
	{ "queue_name", "queue_name" },
	{ "ssh_port", "ssh_port" },
	{ "results_total", "results_total" },
	{ NULL, NULL },
};

static const struct rename result_fields[] = {
	{ "id", "id" },
	{ "sequence_id", "sequence_id" },
	{ "status", "data.status" },
	{ "sandfly", "data.name" },
	{ "type", "data.type" },
	{ "severity", "data.severity" },
	{ "host_id", "header.host_id" },
	{ "hostname", "header.hostname" },
	{ "ip", "header.ip_addr" },
	{ "end_time", "data.end_time" },
	{ "first_seen", "first_seen" },
	{ "last_seen", "last_seen" },
	{ "count", "count" },
	{ "key_data", "data.key_data" },
	{ "whitelisted", "whitelisted" },
	{ "run_id", "header.run_id" },
	{ NULL, NULL },
};

/* The value types the output schemas promise, so a field Sandfly sends in another type (or
 * null) is left out rather than breaking the schema. */
static bool fits(const char *to, const json_t *v)
{
	static const char *const ints[] = { "host_sequence_id", "results_alert", "results_error",
					    "results_pass",     "results_total", "cpu_cores",
					    "uptime_days",      "ssh_port",      "sequence_id",
					    "severity",         "count",         NULL };
	static const char *const bools[] = { "active", "whitelisted", NULL };
	static const char *const arrays[] = { "tags", "jump_hosts", NULL };
	size_t i;

	for (i = 0; ints[i]; i++)
		if (!strcmp(ints[i], to))
			return json_is_integer(v);
	for (i = 0; bools[i]; i++)
		if (!strcmp(bools[i], to))
			return json_is_boolean(v);
	for (i = 0; arrays[i]; i++)
		if (!strcmp(arrays[i], to))
			return json_is_array(v);
	return json_is_string(v);
}

/* src's value for a key: the flat key of a summary record ("data.status"), or else the same
 * path in a full record ({"data": {"status": ...}}), which a server may send instead. */
static json_t *lookup(const json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);
	const char *dot = strchr(key, '.');
	char head[32];

	if (v || !dot || (size_t)(dot - key) >= sizeof(head))
		return v;
	memcpy(head, key, (size_t)(dot - key));
	head[dot - key] = '\0';
	return json_object_get(json_object_get(src, head), dot + 1);
}

/* Adds the renamed fields of src that are present, and of the expected type, to dst (an id
 * sent as a number becomes a string). */
static void pick(json_t *dst, const json_t *src, const struct rename *r)
{
	for (; dst && r->to; r++) {
		json_t *v = lookup(src, r->from);

		if (v && !strcmp(r->to, "id") && json_is_integer(v))
			json_object_set_new(dst, "id",
					    json_sprintf("%" JSON_INTEGER_FORMAT,
							 json_integer_value(v)));
		else if (v && fits(r->to, v))
			json_object_set(dst, r->to, v);
	}
}

static json_t *picked(const json_t *src, const struct rename *r)
{
	json_t *o = json_object();

	pick(o, src, r);
	return o;
}

/* 0 after an isError sentence from err (the flow goes on), for handlers. */
static int fail(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg);
}

static long int_arg(const json_t *args, const char *key, long def)
{
	const json_t *v = json_object_get(args, key);

	return v ? (long)json_integer_value(v) : def;
}

int sf_list_hosts(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	long limit = int_arg(args, "limit", 100), page = int_arg(args, "page", 1), status;
	struct cx_err err = { 0 };
	json_t *body = NULL, *hosts, *h;
	char path[96];
	bool more;
	size_t i;

	snprintf(path, sizeof(path), "/hosts?summary=true&size=%ld&page=%ld", limit, page);
	if (sf_request(call->state, call, "GET", path, NULL, true, &status, &body, &err))
		return fail(res, &err);
	hosts = json_array();
	json_array_foreach(json_object_get(body, "data"), i, h)
		json_array_append_new(hosts, picked(h, host_fields));
	more = json_is_true(json_object_get(body, "more_results"));
	json_decref(body);
	return cx_result_structured(res, json_pack("{s:o, s:I, s:b}", "hosts", hosts, "count",
						   (json_int_t)json_array_size(hosts),
						   "more_results", more));
}

/* The host whose hostname or last IP address is name, from the full host list: 0 with *host
 * (a new reference, or NULL when there is none), -1 with err. */
static int host_by_name(struct cx_call *call, const char *name, json_t **host, struct cx_err *err)
{
	json_t *body = NULL, *h;
	long status;
	size_t i;

	*host = NULL;
	if (sf_request(call->state, call, "GET", "/hosts?summary=true&size=100000", NULL, true,
		       &status, &body, err))
		return -1;
	json_array_foreach(json_object_get(body, "data"), i, h) {
		const char *hn = json_string_value(json_object_get(h, "hostname"));
		const char *ip = json_string_value(json_object_get(h, "last_seen_ip_addr"));

		if ((hn && !strcasecmp(hn, name)) || (ip && !strcmp(ip, name))) {
			*host = json_incref(h);
			break;
		}
	}
	json_decref(body);
	return 0;
}

int sf_get_host(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const char *host = json_string_value(json_object_get(args, "host"));
	struct cx_err err = { 0 };
	char esc[800], path[900];
	json_t *h = NULL, *out;
	long status;

	if (!cx_url_escape(host, esc, sizeof(esc)))
		return cx_result_errorf(res, "the host name is too long");
	snprintf(path, sizeof(path), "/hosts/%s?summary=true", esc);
	if (sf_request(call->state, call, "GET", path, NULL, true, &status, &h, &err))
		return fail(res, &err);
	if (status == 404 || !json_is_object(h) || !json_object_get(h, "host_id")) {
		/* Not an id: a hostname or an address, looked up in the host list. */
		json_decref(h);
		if (host_by_name(call, host, &h, &err))
			return fail(res, &err);
		if (!h)
			return cx_result_errorf(res,
						"sandfly watches no host with id, hostname or IP "
						"address '%s'; sandfly_list_hosts lists them",
						host);
	}
	out = picked(h, host_fields);
	pick(out, h, host_detail_fields);
	json_decref(h);
	return cx_result_structured(res, json_pack("{s:o}", "host", out));
}

/* Appends the filter item {field, operator, value} (value borrowed). */
static void add_item(json_t *items, const char *field, const char *op, const char *value)
{
	json_array_append_new(items, json_pack("{s:s, s:s, s:s}", "field", field, "operator", op,
					       "value", value));
}

/* The ResultsSearch body for sandfly_get_results' arguments. New reference. */
static json_t *results_search(const json_t *args)
{
	static const struct {
		const char *arg, *field;
	} eq[] = { { "host_id", "header.host_id" }, { "hostname", "header.hostname" },
		   { "status", "data.status" },     { "type", "data.type" },
		   { "sandfly", "data.name" },      { NULL, NULL } };
	const char *since = json_string_value(json_object_get(args, "since"));
	json_t *items = json_array(), *body;
	char when[64];
	size_t i;

	for (i = 0; eq[i].arg; i++) {
		const char *v = json_string_value(json_object_get(args, eq[i].arg));
		if (v)
			add_item(items, eq[i].field, "equals", v);
	}
	if (since) {
		/* A bare date is midnight UTC. */
		snprintf(when, sizeof(when), "%s%s", since,
			 strlen(since) == 10 ? "T00:00:00Z" : "");
		add_item(items, "data.end_time", "onOrAfter", when);
	}
	body = json_pack("{s:I, s:I, s:b, s:[{s:s, s:s}]}", "size",
			 (json_int_t)int_arg(args, "limit", 50), "page",
			 (json_int_t)int_arg(args, "page", 1), "summary", 1, "sort", "field",
			 "data.end_time", "sort", "desc");
	if (body && json_array_size(items))
		json_object_set_new(body, "filter",
				    json_pack("{s:O, s:s}", "items", items, "logicOperator",
					      "and"));
	json_decref(items);
	return body;
}

/* POST /results with body (stolen); each record through map (NULL: as Sandfly sent it). */
static int search(struct cx_call *call, json_t *body, const struct rename *map,
		  struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *answer = NULL, *results, *r, *total;
	long status;
	size_t i;
	int rc;

	if (!body)
		return -1;
	rc = sf_request(call->state, call, "POST", "/results", body, true, &status, &answer, &err);
	json_decref(body);
	if (rc)
		return fail(res, &err);
	results = json_array();
	/* Sandfly answers a search that matches nothing with 404 "No results found". */
	json_array_foreach(status == 404 ? NULL : json_object_get(answer, "data"), i, r)
		json_array_append_new(results, map ? picked(r, map) : json_incref(r));
	r = json_pack("{s:o, s:I, s:b}", "results", results, "count",
		      (json_int_t)json_array_size(results), "more_results",
		      status != 404 && json_is_true(json_object_get(answer, "more_results")));
	total = json_object_get(answer, "total");
	if (r)
		json_object_set_new(r, "total",
				    json_integer(status == 404 || !json_is_integer(total)
							 ? (json_int_t)json_array_size(results)
							 : json_integer_value(total)));
	json_decref(answer);
	return cx_result_structured(res, r);
}

int sf_get_results(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	return search(call, results_search(args), result_fields, res);
}

int sf_query(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	static const char *const pass[] = { "filter", "result_ids", "sort", NULL };
	const json_t *summary = json_object_get(args, "summary");
	json_t *body =
		json_pack("{s:I, s:I, s:b}", "size", (json_int_t)int_arg(args, "limit", 50), "page",
			  (json_int_t)int_arg(args, "page", 1), "summary", !json_is_false(summary));
	size_t i;

	if (json_object_get(args, "filter") && json_object_get(args, "result_ids"))
		return cx_result_errorf(res, "give either filter or result_ids, not both (Sandfly "
					     "takes one selector per search)");
	for (i = 0; body && pass[i]; i++)
		if (json_object_get(args, pass[i]))
			json_object_set(body, pass[i], json_object_get(args, pass[i]));
	return search(call, body, NULL, res);
}

int sf_start_scan(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const json_t *hosts = json_object_get(args, "host_ids");
	const json_t *flies = json_object_get(args, "sandflies");
	struct cx_err err = { 0 };
	json_t *body = json_pack("{s:O}", "host_ids", hosts), *answer = NULL, *out;
	const char *detail, *data;
	char when[40];
	long status;
	int rc;

	if (!body)
		return -1;
	if (flies)
		json_object_set(body, "sandfly_list", (json_t *)flies);
	cx_wall_iso8601(when, sizeof(when));
	rc = sf_request(call->state, call, "POST", "/scan", body, false, &status, &answer, &err);
	json_decref(body);
	if (rc)
		return fail(res, &err);
	detail = json_string_value(json_object_get(answer, "detail"));
	data = json_string_value(json_object_get(answer, "data"));
	out = json_pack("{s:b, s:I, s:O, s:s}", "accepted", 1, "status", (json_int_t)status,
			"host_ids", hosts, "requested_at", when);
	if (out && detail)
		json_object_set_new(out, "detail", json_string(detail));
	if (out && data && data[0])
		json_object_set_new(out, "data", json_string(data));
	if (out && flies)
		json_object_set(out, "sandflies", (json_t *)flies);
	json_decref(answer);
	return cx_result_structured(res, out);
}
