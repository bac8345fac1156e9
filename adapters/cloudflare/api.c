/* Requests to the Cloudflare API v4 (see api.h). The token lives in a struct cx_secret and
 * only travels in the Authorization header, which cx_http_do never logs. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

/* Cloudflare's own words: "code 1004: DNS Validation Error; ..." from errors[]. */
static void backend_message(const json_t *body, char *out, size_t outlen)
{
	const json_t *e;
	size_t i, n;

	out[0] = '\0';
	json_array_foreach((json_t *)json_object_get(body, "errors"), i, e) {
		const char *msg = json_string_value(json_object_get(e, "message"));
		n = strlen(out);
		if (msg && n < outlen)
			cx_fmt(out + n, outlen - n, "%scode %lld: %s", n ? "; " : "",
			       (long long)json_integer_value(json_object_get(e, "code")), msg);
	}
}

static const char *hint_for(long status)
{
	switch (status) {
	case 400:
		return "check the record's fields (type, name, content) against what Cloudflare "
		       "accepts";
	case 401:
	case 403:
		return "the API token is missing, wrong or lacks a permission (Zone:Read, DNS:Edit); "
		       "ask an operator";
	case 404:
		return "check the zone and record ids (cloudflare_list_zones, cloudflare_get_dns)";
	default:
		return NULL;
	}
}

int cf_request(struct cf_state *s, const struct cx_call *call, const char *method, const char *path,
	       json_t *body, json_t **result, json_t **info, struct cx_err *err)
{
	const char *headers[] = { (const char *)s->auth.data, NULL };
	struct cx_http_req req = { .method = method, .path = path, .headers = headers };
	struct cx_http_resp resp = { 0 };
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char msg[400];
	int rc = -1;

	json_decref(body);
	*result = NULL;
	if (info)
		*info = NULL;
	if (text) {
		req.body = text;
		req.body_len = strlen(text);
		req.content_type = "application/json";
	}
	/* A PUT or DELETE of one record may be sent again; a POST would create it twice. */
	req.idempotent = !strcmp(method, "PUT") || !strcmp(method, "DELETE");
	if (cx_http_do(s->http, call, s->timeout_ms, &req, &resp, err))
		goto out;
	if (resp.status < 200 || resp.status > 299 ||
	    !json_is_true(json_object_get(resp.json, "success"))) {
		backend_message(resp.json, msg, sizeof(msg));
		if (resp.status >= 200 && resp.status <= 299)
			cx_err_set(err, "cloudflare refused %s %s: %s", method, path,
				   msg[0] ? msg : "success is false and no error was given");
		else
			cx_http_fail(s->http, &req, &resp, msg[0] ? msg : NULL,
				     hint_for(resp.status), err);
		goto out;
	}
	*result = json_object_get(resp.json, "result");
	*result = *result ? json_incref(*result) : json_null();
	if (info) {
		*info = json_object_get(resp.json, "result_info");
		if (*info)
			json_incref(*info);
	}
	rc = 0;
out:
	free(text);
	cx_http_resp_release(&resp);
	return rc;
}

int cf_list(struct cf_state *s, const struct cx_call *call, const char *path, long page,
	    long per_page, json_t **items, long *total, struct cx_err *err)
{
	const char *sep = strchr(path, '?') ? "&" : "?";
	long p = page > 0 ? page : 1, pages = 1;
	char url[1200];

	*items = json_array();
	*total = 0;
	if (!*items)
		return cx_err_set(err, "out of memory");
	do {
		json_t *result = NULL, *info = NULL;

		if (!cx_fmt(url, sizeof(url), "%s%spage=%ld&per_page=%ld", path, sep, p, per_page))
			return cx_err_set(err, "the filters are too long");
		if (cf_request(s, call, "GET", url, NULL, &result, &info, err)) {
			json_decref(*items);
			*items = NULL;
			return -1;
		}
		if (json_is_array(result))
			json_array_extend(*items, result);
		*total = (long)json_integer_value(json_object_get(info, "total_count"));
		pages = (long)json_integer_value(json_object_get(info, "total_pages"));
		json_decref(result);
		json_decref(info);
		p++;
	} while (page == 0 && p <= pages && p <= CF_MAX_PAGES && !cx_call_cancelled(call));
	if (page == 0 && p <= pages)
		return cx_err_set(err,
				  "cloudflare has %ld pages here, more than the %d read at once; "
				  "ask for one page at a time",
				  pages, CF_MAX_PAGES);
	if (!*total)
		*total = (long)json_array_size(*items);
	return 0;
}

int cf_zone_id(struct cf_state *s, const struct cx_call *call, const json_t *args, char *out,
	       size_t outlen, struct cx_err *err)
{
	const char *id = json_string_value(json_object_get(args, "zone_id"));
	const char *name = json_string_value(json_object_get(args, "zone"));
	char esc[600], path[700];
	json_t *zones = NULL;
	long total;
	int rc;

	if (id)
		return cx_fmt(out, outlen, "%s", id) ? 0 : cx_err_set(err, "zone_id is too long");
	if (!name)
		return cx_err_set(err, "name the zone with 'zone_id' or 'zone' (its domain name); "
				       "cloudflare_list_zones lists them");
	if (!cx_url_escape(name, esc, sizeof(esc)))
		return cx_err_set(err, "the zone name is too long");
	snprintf(path, sizeof(path), "/zones?name=%s", esc);
	rc = cf_list(s, call, path, 1, 5, &zones, &total, err);
	if (rc)
		return rc;
	id = json_string_value(json_object_get(json_array_get(zones, 0), "id"));
	rc = id ? (cx_fmt(out, outlen, "%s", id) ? 0 : cx_err_set(err, "zone id too long"))
		: cx_err_set(err,
			     "no zone named '%.253s' is visible to this API token; "
			     "cloudflare_list_zones lists them",
			     name);
	json_decref(zones);
	return rc;
}
