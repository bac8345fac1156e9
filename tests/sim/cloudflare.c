/* Cloudflare under /client/v4, as ../shared/specs/cloudflare-zones-dns.json describes it:
 * {success, errors, messages, result, result_info}, Bearer tokens, zones with their filters
 * and paging (per_page 5-50), DNS records that can be listed, filtered, paged, created,
 * patched, overwritten and deleted, with Cloudflare's error codes. State is kept as the JSON
 * the API returns, so a record is stored exactly as it is served. */
#include "sim.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/util.h"
#include "cloudflare.h"

#define SEEDED_TIME "2024-01-01T00:00:00.000000Z"

static const char defaults[] =
	"{\"tokens\":[\"cfsim-token-0123456789abcdef0123456789abcdef\"],"
	"\"account\":{\"id\":\"01a7362d577a6c3019a474fd6f485823\",\"name\":\"Sim Account\"},"
	"\"zones\":["
	"{\"id\":\"023e105f4ecef8ad9ca31a8372d0c353\",\"name\":\"example.com\",\"status\":\"active\","
	"\"generated_records\":115,\"records\":["
	"{\"type\":\"A\",\"name\":\"@\",\"content\":\"192.0.2.10\",\"proxied\":true},"
	"{\"type\":\"CNAME\",\"name\":\"www\",\"content\":\"example.com\",\"proxied\":true},"
	"{\"type\":\"A\",\"name\":\"mail\",\"content\":\"192.0.2.25\"},"
	"{\"type\":\"MX\",\"name\":\"@\",\"content\":\"mail.example.com\",\"priority\":10},"
	"{\"type\":\"TXT\",\"name\":\"@\",\"content\":\"v=spf1 mx -all\","
	"\"comment\":\"SPF\"}]},"
	"{\"id\":\"9a7806061c88ada191ed06f989cc3dac\",\"name\":\"example.net\",\"status\":\"pending\","
	"\"records\":[{\"type\":\"A\",\"name\":\"@\",\"content\":\"192.0.2.50\"},"
	"{\"type\":\"CNAME\",\"name\":\"www\",\"content\":\"example.net\"}]}]}";

struct cf_state cf;

/* --- envelopes ------------------------------------------------------------------------------ */

static json_t *error_body(unsigned int status, const char *message)
{
	int code = status == 429 ? 971 : status >= 500 ? 10000 + (int)status - 500 : 10000;

	return json_pack("{s:b,s:[{s:i,s:s}],s:[],s:n}", "success", 0, "errors", "code", code,
			 "message", message, "messages", "result");
}

void cf_fail(struct sim_response *resp, unsigned int status, int code, const char *msg)
{
	sim_reply(resp, status,
		  json_pack("{s:b,s:[{s:i,s:s}],s:[],s:n}", "success", 0, "errors", "code", code,
			    "message", msg, "messages", "result"));
}

static void no_route(struct sim_response *resp, const char *path)
{
	char msg[384];

	snprintf(msg, sizeof(msg),
		 "Could not route to %.300s, perhaps your object identifier is "
		 "invalid?",
		 path);
	sim_reply(resp, 400,
		  json_pack("{s:b,s:[{s:i,s:s},{s:i,s:s}],s:[],s:n}", "success", 0, "errors",
			    "code", 7003, "message", msg, "code", 7000, "message",
			    "No route for that URI", "messages", "result"));
}

/* Steals result and info. */
void cf_ok(struct sim_response *resp, json_t *result, json_t *info)
{
	json_t *v = json_pack("{s:b,s:[],s:[],s:o}", "success", 1, "errors", "messages", "result",
			      result ? result : json_null());

	if (v != NULL && info != NULL)
		json_object_set_new(v, "result_info", info);
	else
		json_decref(info);
	sim_reply(resp, 200, v);
}

/* --- state ---------------------------------------------------------------------------------- */

static void release(void)
{
	json_decref(cf.tokens);
	json_decref(cf.zones);
	json_decref(cf.records);
	memset(&cf, 0, sizeof(cf));
}

static bool is_hex32(const char *s)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[32] == '\0';
}

static json_t *find_zone(const char *id)
{
	size_t i;
	json_t *z;

	json_array_foreach(cf.zones, i, z)
		if (strcmp(json_string_value(json_object_get(z, "id")), id) == 0)
			return z;
	return NULL;
}

const char *cf_zone_name(const json_t *z)
{
	return json_string_value(json_object_get(z, "name"));
}

static void now_iso(char *out, size_t outlen)
{
	cx_wall_iso8601(out, outlen);
}

/* A record from config or a client's body (borrowed), validated and completed; new reference
 * or NULL with the Cloudflare error code in *code and its message in msg. */
json_t *cf_make_record(const json_t *zone, const json_t *in, const char *id, int *code, char *msg,
		       size_t msglen)
{
	static const char *const keys[] = { "type",    "name", "content",  "ttl", "proxied",
					    "comment", "tags", "priority", "id",  NULL };
	const char *key;
	json_t *rec = json_object(), *v;
	char when[32];

	if (rec == NULL)
		return NULL;
	json_object_foreach((json_t *)in, key, v) {
		size_t i;

		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] != NULL && strcmp(key, "id") != 0)
			json_object_set(rec, key, v);
	}
	*code = cf_validate(zone, rec, msg, msglen);
	if (*code != 0) {
		json_decref(rec);
		return NULL;
	}
	now_iso(when, sizeof(when));
	json_object_set_new(rec, "id", json_string(id));
	json_object_set_new(rec, "zone_id",
			    json_string(json_string_value(json_object_get(zone, "id"))));
	json_object_set_new(rec, "zone_name", json_string(cf_zone_name(zone)));
	json_object_set_new(rec, "settings", json_object());
	json_object_set_new(rec, "meta",
			    json_pack("{s:b,s:b,s:b}", "auto_added", 0, "managed_by_apps", 0,
				      "managed_by_argo_tunnel", 0));
	json_object_set_new(rec, "created_on", json_string(when));
	json_object_set_new(rec, "modified_on", json_string(when));
	return rec;
}

static void record_id(const char *zone_id, size_t n, char out[33])
{
	char seed[64], hex[65];

	snprintf(seed, sizeof(seed), "%s:%zu", zone_id, n);
	cx_sha256_hex(seed, strlen(seed), hex);
	memcpy(out, hex, 32);
	out[32] = '\0';
}

static int load_zone(json_t *in, size_t idx, const json_t *account, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", "name", "status", "records", "generated_records",
					    NULL };
	const char *id, *name, *status = "active";
	json_t *records = NULL, *zone, *arr = json_array(), *r;
	json_int_t generated = 0;
	char where[64], rid[33], msg[256];
	size_t i;
	int code;

	snprintf(where, sizeof(where), "cloudflare.zones[%zu]", idx);
	if (arr == NULL || sim_check_keys(in, where, keys, err, errlen) != 0)
		goto bad;
	if (json_unpack(in, "{s:s,s:s,s?s,s?o,s?I}", "id", &id, "name", &name, "status", &status,
			"records", &records, "generated_records", &generated) != 0 ||
	    !is_hex32(id) || find_zone(id) != NULL || (records && !json_is_array(records)) ||
	    generated < 0 || generated > 60000) {
		snprintf(err, errlen,
			 "'%s' needs a unique id (32 lowercase hex digits) and a name; "
			 "records [] and generated_records (0-60000) are optional",
			 where);
		goto bad;
	}
	zone = json_pack("{s:s,s:s,s:s,s:b,s:s,s:i,s:[s,s],s:n,s:n,s:n,s:O,s:{s:n,s:s,s:s},"
			 "s:{s:i,s:i,s:b,s:i},s:[s,s],s:s,s:s,s:s}",
			 "id", id, "name", name, "status", status, "paused", 0, "type", "full",
			 "development_mode", 0, "name_servers", "ada.ns.cloudflare.com",
			 "bob.ns.cloudflare.com", "original_name_servers", "original_registrar",
			 "original_dnshost", "account", account, "owner", "id", "type", "user",
			 "email", "sim@example.com", "meta", "step", 2, "custom_certificate_quota",
			 0, "phishing_detected", 0, "page_rule_quota", 3, "permissions",
			 "#zone:read", "#dns_records:edit", "created_on", SEEDED_TIME,
			 "modified_on", SEEDED_TIME, "activated_on", SEEDED_TIME);
	if (zone == NULL || json_array_append_new(cf.zones, zone) != 0 ||
	    json_object_set_new(cf.records, id, arr) != 0)
		return -1;
	json_array_foreach(records, i, r) {
		json_t *rec;

		record_id(id, i, rid);
		rec = json_is_object(r) ? cf_make_record(zone, r, rid, &code, msg, sizeof(msg))
					: NULL;
		if (rec == NULL) {
			snprintf(err, errlen, "'%s.records[%zu]': %s", where, i,
				 json_is_object(r) ? msg : "not an object");
			return -1;
		}
		json_object_set_new(rec, "created_on", json_string(SEEDED_TIME));
		json_object_set_new(rec, "modified_on", json_string(SEEDED_TIME));
		json_array_append_new(arr, rec);
	}
	for (i = 0; i < (size_t)generated; i++) {
		char host[32], ip[32];
		json_t *rec;

		snprintf(host, sizeof(host), "host%03zu", i + 1);
		snprintf(ip, sizeof(ip), "10.%zu.%zu.%zu", (i + 1) / 65536 % 256,
			 (i + 1) / 256 % 256, (i + 1) % 256);
		json_t *gen = json_pack("{s:s,s:s,s:s}", "type", "A", "name", host, "content", ip);

		record_id(id, json_array_size(records) + i, rid);
		rec = gen ? cf_make_record(zone, gen, rid, &code, msg, sizeof(msg)) : NULL;
		json_decref(gen);
		if (rec == NULL)
			return -1;
		json_object_set_new(rec, "created_on", json_string(SEEDED_TIME));
		json_object_set_new(rec, "modified_on", json_string(SEEDED_TIME));
		json_array_append_new(arr, rec);
	}
	cf.n_records += json_array_size(arr);
	return 0;
bad:
	json_decref(arr);
	return -1;
}

static int load(const json_t *conf, char *err, size_t errlen)
{
	static const char *const keys[] = { "tokens", "account", "zones", NULL };
	json_t *cfg = json_loads(defaults, 0, NULL), *zones, *account, *z;
	size_t i;
	int rc = -1;

	release();
	cf.zones = json_array();
	cf.records = json_object();
	if (cfg == NULL || cf.zones == NULL || cf.records == NULL)
		goto out;
	if (conf != NULL && (sim_check_keys(conf, "cloudflare", keys, err, errlen) != 0 ||
			     json_object_update(cfg, (json_t *)conf) != 0))
		goto out;
	if (json_unpack(cfg, "{s:O,s:o,s:o}", "tokens", &cf.tokens, "account", &account, "zones",
			&zones) != 0 ||
	    !json_is_array(cf.tokens) || !json_is_object(account) || !json_is_array(zones)) {
		snprintf(err, errlen,
			 "'cloudflare': tokens [], account {} and zones [] have the "
			 "wrong type");
		goto out;
	}
	json_array_foreach(zones, i, z)
		if (load_zone(z, i, account, err, errlen) != 0)
			goto out;
	rc = 0;
out:
	json_decref(cfg);
	return rc;
}

/* --- lists: filters, order, pages ------------------------------------------------------------ */

static const char *sort_key; /* the lists are sorted under the daemon's lock */
static bool sort_desc;

static int cmp_value(const json_t *a, const json_t *b)
{
	if (json_is_string(a) && json_is_string(b))
		return strcasecmp(json_string_value(a), json_string_value(b));
	if (json_is_number(a) && json_is_number(b))
		return (json_number_value(a) > json_number_value(b)) -
		       (json_number_value(a) < json_number_value(b));
	if (json_is_boolean(a) && json_is_boolean(b))
		return json_is_true(a) - json_is_true(b);
	return json_is_null(b) - json_is_null(a);
}

static int cmp_items(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = cmp_value(json_object_get(a, sort_key), json_object_get(b, sort_key));

	if (c == 0)
		c = cmp_value(json_object_get(a, "name"), json_object_get(b, "name"));
	if (c == 0)
		c = cmp_value(json_object_get(a, "id"), json_object_get(b, "id"));
	return sort_desc ? -c : c;
}

/* Cloudflare's string filter operators, case-insensitive. */
bool cf_str_match(const char *have, const char *op, const char *want)
{
	size_t hl = strlen(have), wl = strlen(want);

	if (strcmp(op, "contains") == 0)
		return strcasestr(have, want) != NULL;
	if (strcmp(op, "starts_with") == 0 || strcmp(op, "startswith") == 0)
		return strncasecmp(have, want, wl) == 0;
	if (strcmp(op, "ends_with") == 0 || strcmp(op, "endswith") == 0)
		return hl >= wl && strcasecmp(have + hl - wl, want) == 0;
	if (strcmp(op, "not_equal") == 0)
		return strcasecmp(have, want) != 0;
	return strcasecmp(have, want) == 0;
}

/* page and per_page from the query: false with a 400 in resp when either is out of range. */
bool cf_paging(const struct sim_request *req, long min, long max, long def, long *page,
	       long *per_page, struct sim_response *resp)
{
	const char *p = sim_query(req, "page"), *pp = sim_query(req, "per_page");
	char msg[128];

	*page = 1;
	*per_page = def;
	if (p != NULL && cx_parse_long(p, 1, 1000000000, page) != 0) {
		cf_fail(resp, 400, 1001, "Invalid value for parameter page: must be 1 or more");
		return false;
	}
	if (pp != NULL && cx_parse_long(pp, min, max, per_page) != 0) {
		snprintf(msg, sizeof(msg),
			 "Invalid value for parameter per_page: must be between %ld and %ld", min,
			 max);
		cf_fail(resp, 400, 1001, msg);
		return false;
	}
	return true;
}

/* Orders matches (stolen) by order, then serves page page of per_page with result_info. */
void cf_send_page(struct sim_response *resp, json_t *matches, const char *order, bool desc,
		  long page, long per_page)
{
	size_t n = json_array_size(matches), i, from = (size_t)(page - 1) * (size_t)per_page;
	json_t **items = calloc(n + 1, sizeof(*items)), *result = json_array();

	if (items == NULL || result == NULL) {
		free(items);
		json_decref(result);
		json_decref(matches);
		cf_fail(resp, 500, 10000, "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		items[i] = json_array_get(matches, i);
	sort_key = order;
	sort_desc = desc;
	qsort(items, n, sizeof(*items), cmp_items);
	for (i = from; i < n && i < from + (size_t)per_page; i++)
		json_array_append(result, items[i]);
	cf_ok(resp, result,
	      json_pack("{s:I,s:I,s:I,s:I,s:I}", "page", (json_int_t)page, "per_page",
			(json_int_t)per_page, "count", (json_int_t)json_array_size(result),
			"total_count", (json_int_t)n, "total_pages",
			(json_int_t)((n + (size_t)per_page - 1) / (size_t)per_page)));
	free(items);
	json_decref(matches);
}

const char *cf_order_param(const struct sim_request *req, const char *const *allowed, bool *desc)
{
	const char *o = sim_query(req, "order"), *d = sim_query(req, "direction");
	size_t i;

	*desc = d != NULL && strcmp(d, "desc") == 0;
	for (i = 0; o != NULL && allowed[i] != NULL; i++)
		if (strcmp(allowed[i], o) == 0)
			return allowed[i];
	return allowed[0];
}

/* --- zones, tokens, routing ------------------------------------------------------------------ */

static void list_zones(const struct sim_request *req, struct sim_response *resp)
{
	static const char *const orders[] = { "name", "status", "account.id", "account.name",
					      NULL };
	static const char *const ops[] = { "equal",     "not_equal", "starts_with",
					   "ends_with", "contains",  NULL };
	const char *name = sim_query(req, "name"), *status = sim_query(req, "status");
	const char *acct = sim_query(req, "account.id"), *match = sim_query(req, "match");
	bool any = match != NULL && strcmp(match, "any") == 0, desc;
	const char *order = cf_order_param(req, orders, &desc), *op = "equal";
	json_t *matches = json_array(), *z;
	long page, per_page;
	size_t i;

	if (!cf_paging(req, 5, 50, 20, &page, &per_page, resp)) {
		json_decref(matches);
		return;
	}
	for (i = 0; name != NULL && ops[i] != NULL; i++) {
		size_t len = strlen(ops[i]);

		if (strncmp(name, ops[i], len) == 0 && name[len] == ':') {
			op = ops[i];
			name += len + 1;
		}
	}
	json_array_foreach(cf.zones, i, z) {
		int tests = 0, passed = 0;

		if (name != NULL) {
			tests++;
			passed += cf_str_match(cf_zone_name(z), op, name);
		}
		if (status != NULL) {
			tests++;
			passed += strcmp(json_string_value(json_object_get(z, "status")), status) ==
				  0;
		}
		if (acct != NULL) {
			tests++;
			passed += strcmp(json_string_value(
						 json_object_get(json_object_get(z, "account"),
								 "id")),
					 acct) == 0;
		}
		if (tests == 0 || (any ? passed > 0 : passed == tests))
			json_array_append(matches, z);
	}
	cf_send_page(resp, matches, strncmp(order, "account.", 8) == 0 ? "name" : order, desc, page,
		     per_page);
}

static void verify_token(const char *token, struct sim_response *resp)
{
	char hex[65];

	cx_sha256_hex(token, strlen(token), hex);
	hex[32] = '\0';
	sim_reply(resp, 200,
		  json_pack("{s:b,s:[],s:[{s:i,s:s,s:n}],s:{s:s,s:s}}", "success", 1, "errors",
			    "messages", "code", 10000, "message",
			    "This API Token is valid and active", "type", "result", "id", hex,
			    "status", "active"));
}

/* The request's token if it is one of ours; else NULL with the error in resp. */
static const char *authenticate(const struct sim_request *req, bool verify,
				struct sim_response *resp)
{
	const char *auth = sim_header(req, MHD_HTTP_HEADER_AUTHORIZATION), *token;
	size_t i;
	json_t *t;

	if (auth == NULL) {
		cf_fail(resp, 400, 9106,
			"Missing X-Auth-Key, X-Auth-Email or Authorization headers");
		return NULL;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0) {
		sim_reply(resp, 400,
			  json_pack("{s:b,s:[{s:i,s:s,s:[{s:i,s:s}]}],s:[],s:n}", "success", 0,
				    "errors", "code", 6003, "message", "Invalid request headers",
				    "error_chain", "code", 6111, "message",
				    "Invalid format for Authorization header", "messages",
				    "result"));
		return NULL;
	}
	token = auth + 7;
	json_array_foreach(cf.tokens, i, t)
		if (json_is_string(t) && strlen(json_string_value(t)) == strlen(token) &&
		    cx_ct_equal(json_string_value(t), token, strlen(token)))
			return token;
	if (verify)
		cf_fail(resp, 401, 1000, "Invalid API Token");
	else
		cf_fail(resp, 403, 10000, "Authentication error");
	return NULL;
}

static void handle(const struct sim_request *req, struct sim_response *resp)
{
	char segs[4][128];
	const char *p = req->path, *token;
	bool get = strcmp(req->method, "GET") == 0;
	size_t n = 0;
	json_t *zone;

	while (*p == '/')
		p++;
	while (*p != '\0' && n < 5) {
		size_t len = strcspn(p, "/");

		if (n == 4 || len >= sizeof(segs[0])) {
			no_route(resp, req->path);
			return;
		}
		memcpy(segs[n], p, len);
		segs[n++][len] = '\0';
		p += len;
		while (*p == '/')
			p++;
	}
	token = authenticate(req, n == 3 && strcmp(segs[0], "user") == 0, resp);
	if (token == NULL)
		return;
	if (n == 3 && get && strcmp(segs[0], "user") == 0 && strcmp(segs[1], "tokens") == 0 &&
	    strcmp(segs[2], "verify") == 0) {
		verify_token(token, resp);
		return;
	}
	if (n == 1 && get && strcmp(segs[0], "zones") == 0) {
		list_zones(req, resp);
		return;
	}
	zone = n >= 2 && strcmp(segs[0], "zones") == 0 ? find_zone(segs[1]) : NULL;
	if (zone == NULL || (n >= 3 && strcmp(segs[2], "dns_records") != 0))
		no_route(resp, req->path);
	else if (n == 2 && get)
		cf_ok(resp, json_incref(zone), NULL);
	else if (n == 2)
		cf_fail(resp, 405, 10405, "Method not allowed for this URI");
	else
		cf_dns_route(req, zone, n == 4 ? segs[3] : NULL, resp);
}

const struct sim_backend sim_cloudflare = {
	.name = "cloudflare",
	.prefix = "/client/v4",
	.load = load,
	.handle = handle,
	.error_body = error_body,
	.release = release,
	.help = "  Cloudflare under /client/v4\n"
		"    token:     Authorization: Bearer cfsim-token-0123456789abcdef0123456789abcdef\n"
		"    state:     zones example.com (023e105f4ecef8ad9ca31a8372d0c353, active, 120 DNS\n"
		"               records) and example.net (9a7806061c88ada191ed06f989cc3dac, pending,\n"
		"               2 records)\n",
};
