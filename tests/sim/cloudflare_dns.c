/* Cloudflare's DNS records in the simulator: validation with the API's error codes, conflicts,
 * filtered and paged lists, and create, read, patch, overwrite, delete that change the state. */
#include "cloudflare.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/err.h"
#include "../../common/json.h"
#include "../../common/util.h"

static const char *const record_types[] = { "A",   "AAAA",   "CAA", "CERT",  "CNAME", "DNSKEY",
					    "DS",  "HTTPS",  "LOC", "MX",    "NAPTR", "NS",
					    "PTR", "SMIMEA", "SRV", "SSHFP", "SVCB",  "TLSA",
					    "TXT", "URI",    NULL };

/* 400 "DNS Validation Error" with the reason in error_chain, as the DNS API answers. */
static void dns_invalid(struct sim_response *resp, int code, const char *msg)
{
	sim_reply(resp, 400,
		  json_pack("{s:b,s:[{s:i,s:s,s:[{s:i,s:s}]}],s:[],s:n}", "success", 0, "errors",
			    "code", 1004, "message", "DNS Validation Error", "error_chain", "code",
			    code, "message", msg, "messages", "result"));
}

/* --- DNS records ---------------------------------------------------------------------------- */

static bool valid_hostname(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_' &&
		    !(i == 0 && s[i] == '*'))
			return false;
	return true;
}

/* The record's name as Cloudflare stores it: "@" is the apex, a name outside the zone is
 * taken as relative to it, all lowercase. */
static void full_name(const json_t *zone, const char *name, char *out, size_t outlen)
{
	const char *zn = cf_zone_name(zone);
	size_t len = strlen(name), zl = strlen(zn), i;

	if (strcmp(name, "@") == 0 || strcasecmp(name, zn) == 0)
		snprintf(out, outlen, "%s", zn);
	else if (len > zl && name[len - zl - 1] == '.' && strcasecmp(name + len - zl, zn) == 0)
		snprintf(out, outlen, "%s", name);
	else
		snprintf(out, outlen, "%s.%s", name, zn);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

static bool proxiable(const char *type)
{
	return strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0 || strcmp(type, "CNAME") == 0;
}

#define INVALID(c, ...) (snprintf(msg, msglen, __VA_ARGS__), (c))

int cf_validate(const json_t *zone, json_t *rec, char *msg, size_t msglen)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	const char *content = json_string_value(json_object_get(rec, "content"));
	json_t *ttl = json_object_get(rec, "ttl"), *proxied = json_object_get(rec, "proxied");
	json_t *prio = json_object_get(rec, "priority"), *tags = json_object_get(rec, "tags");
	json_t *comment = json_object_get(rec, "comment");
	unsigned char addr[16];
	char fqdn[300];
	size_t i;

	for (i = 0; type != NULL && record_types[i] != NULL; i++)
		if (strcmp(record_types[i], type) == 0)
			break;
	if (type == NULL || record_types[i] == NULL)
		return INVALID(9004, "DNS record type is invalid.");
	if (name == NULL || strlen(name) > 255 || (strcmp(name, "@") != 0 && !valid_hostname(name)))
		return INVALID(9000, "DNS name is invalid.");
	if (content == NULL || content[0] == '\0' || strlen(content) > 2048)
		return INVALID(9005, "Content for %s record is invalid.", type);
	if (strcmp(type, "A") == 0 && inet_pton(AF_INET, content, addr) != 1)
		return INVALID(9005, "Content for A record must be a valid IPv4 address.");
	if (strcmp(type, "AAAA") == 0 && inet_pton(AF_INET6, content, addr) != 1)
		return INVALID(9006, "Content for AAAA record must be a valid IPv6 address.");
	full_name(zone, name, fqdn, sizeof(fqdn));
	if ((strcmp(type, "CNAME") == 0 || strcmp(type, "MX") == 0) &&
	    (!valid_hostname(content) || strcasecmp(content, fqdn) == 0))
		return INVALID(9007, "Content for %s record is invalid.", type);
	if (ttl != NULL && (!json_is_number(ttl) ||
			    (json_number_value(ttl) != 1 &&
			     (json_number_value(ttl) < 60 || json_number_value(ttl) > 86400))))
		return INVALID(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for "
				     "automatic.");
	if (proxied != NULL && !json_is_boolean(proxied))
		return INVALID(9003, "Invalid 'proxied' value, must be a boolean");
	if (json_is_true(proxied) && !proxiable(type))
		return INVALID(9041, "This record type cannot be proxied.");
	if (strcmp(type, "MX") == 0 && (!json_is_number(prio) || json_number_value(prio) < 0 ||
					json_number_value(prio) > 65535))
		return INVALID(9101, "Priority must be set for MX records, between 0 and 65535.");
	if (comment != NULL && !json_is_null(comment) &&
	    (!json_is_string(comment) || json_string_length(comment) > 100))
		return INVALID(9102,
			       "DNS record comment is invalid or longer than 100 characters.");
	if (tags != NULL && !json_is_array(tags))
		return INVALID(9103, "DNS record tags must be an array of name:value strings.");
	json_object_set_new(rec, "name", json_string(fqdn));
	if (ttl == NULL)
		json_object_set_new(rec, "ttl", json_integer(1));
	if (proxied == NULL)
		json_object_set_new(rec, "proxied", json_false());
	if (comment == NULL)
		json_object_set_new(rec, "comment", json_null());
	if (tags == NULL)
		json_object_set_new(rec, "tags", json_array());
	if (strcmp(type, "MX") != 0 && strcmp(type, "SRV") != 0 && strcmp(type, "URI") != 0)
		json_object_del(rec, "priority");
	json_object_set_new(rec, "proxiable", json_boolean(proxiable(type)));
	return 0;
}

/* Another record rec would clash with: an identical one (81058) or a CNAME sharing its name
 * with an A, AAAA or CNAME (81053). 0 when none. */
static int conflict(const json_t *records, const json_t *rec, const char *self_id)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	const char *content = json_string_value(json_object_get(rec, "content"));
	size_t i;
	json_t *o;

	json_array_foreach(records, i, o) {
		const char *ot = json_string_value(json_object_get(o, "type"));

		if (strcmp(json_string_value(json_object_get(o, "id")), self_id) == 0 ||
		    strcmp(json_string_value(json_object_get(o, "name")), name) != 0)
			continue;
		if (strcmp(ot, type) == 0 &&
		    strcmp(json_string_value(json_object_get(o, "content")), content) == 0)
			return 81058;
		if ((strcmp(type, "CNAME") == 0 && proxiable(ot)) ||
		    (strcmp(ot, "CNAME") == 0 && proxiable(type)))
			return 81053;
	}
	return 0;
}

static json_t *find_record(const json_t *records, const char *id, size_t *index)
{
	size_t i;
	json_t *r;

	json_array_foreach(records, i, r)
		if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0) {
			*index = i;
			return r;
		}
	return NULL;
}

static json_t *body_object(const struct sim_request *req, struct sim_response *resp)
{
	struct cx_err err;
	json_t *v = cx_json_loadb(req->body, req->body_len, SIM_BODY_MAX, &err);

	if (!json_is_object(v)) {
		json_decref(v);
		cf_fail(resp, 400, 9207, "Request body is invalid.");
		return NULL;
	}
	return v;
}

/* Validates rec (new reference, stolen) against the zone's other records and stores it at index
 * (or appends it when index is -1). */
static void store(const json_t *zone, json_t *records, json_t *rec, long index,
		  struct sim_response *resp)
{
	int clash = conflict(records, rec, json_string_value(json_object_get(rec, "id")));

	if (clash != 0) {
		json_decref(rec);
		cf_fail(resp, 400, clash,
			clash == 81058
				? "An identical record already exists."
				: "An A, AAAA, or CNAME record with that host already exists.");
		return;
	}
	if (index < 0) {
		json_array_append(records, rec);
		cf.n_records++;
	} else {
		json_array_set(records, (size_t)index, rec);
	}
	cf_ok(resp, rec, NULL);
}

static void list_records(const struct sim_request *req, json_t *records, struct sim_response *resp)
{
	static const char *const orders[] = { "type", "name", "content", "ttl", "proxied", NULL };
	static const char *const fields[] = { "name", "content", NULL };
	static const char *const ops[] = { "exact", "contains", "startswith", "endswith", NULL };
	const char *type = sim_query(req, "type"), *proxied = sim_query(req, "proxied");
	const char *comment = sim_query(req, "comment"), *match = sim_query(req, "match");
	bool any = match != NULL && strcmp(match, "any") == 0, desc;
	const char *order = cf_order_param(req, orders, &desc);
	json_t *matches = json_array(), *r;
	long page, per_page;
	size_t i;

	if (!cf_paging(req, 1, 5000000, 100, &page, &per_page, resp)) {
		json_decref(matches);
		return;
	}
	json_array_foreach(records, i, r) {
		int tests = 0, passed = 0;
		size_t f, o;

		if (type != NULL) {
			tests++;
			passed += strcmp(json_string_value(json_object_get(r, "type")), type) == 0;
		}
		if (proxied != NULL) {
			tests++;
			passed += json_is_true(json_object_get(r, "proxied")) ==
				  (strcmp(proxied, "true") == 0);
		}
		if (comment != NULL) {
			const char *c = json_string_value(json_object_get(r, "comment"));

			tests++;
			passed += c != NULL && strcasecmp(c, comment) == 0;
		}
		for (f = 0; fields[f] != NULL; f++) {
			const char *have = json_string_value(json_object_get(r, fields[f]));
			const char *want = sim_query(req, fields[f]);
			char key[32];

			if (want != NULL) {
				tests++;
				passed += cf_str_match(have, "exact", want);
			}
			for (o = 0; ops[o] != NULL; o++) {
				snprintf(key, sizeof(key), "%s.%s", fields[f], ops[o]);
				want = sim_query(req, key);
				if (want == NULL)
					continue;
				tests++;
				passed += cf_str_match(have, ops[o], want);
			}
		}
		if (tests == 0 || (any ? passed > 0 : passed == tests))
			json_array_append(matches, r);
	}
	cf_send_page(resp, matches, order, desc, page, per_page);
}

static void create_record(const struct sim_request *req, const json_t *zone, json_t *records,
			  struct sim_response *resp)
{
	json_t *body = body_object(req, resp), *rec;
	char id[33], msg[256];
	int code;

	if (body == NULL)
		return;
	if (cf.n_records >= MAX_RECORDS) {
		json_decref(body);
		cf_fail(resp, 400, 81045, "Record quota exceeded.");
		return;
	}
	if (cx_random_hex(id, sizeof(id), 16) != 0) {
		json_decref(body);
		cf_fail(resp, 500, 10000, "Internal error");
		return;
	}
	rec = cf_make_record(zone, body, id, &code, msg, sizeof(msg));
	json_decref(body);
	if (rec == NULL)
		dns_invalid(resp, code, msg);
	else
		store(zone, records, rec, -1, resp);
}

/* PATCH merges the body into the record, PUT replaces it; both keep id and created_on. */
static void update_record(const struct sim_request *req, const json_t *zone, json_t *records,
			  json_t *old, size_t index, struct sim_response *resp)
{
	static const char *const kept[] = { "type",    "name", "content",  "ttl", "proxied",
					    "comment", "tags", "priority", NULL };
	bool patch = strcmp(req->method, "PATCH") == 0;
	json_t *body = body_object(req, resp), *in, *rec;
	char msg[256];
	int code;
	size_t i;

	if (body == NULL)
		return;
	in = patch ? json_object() : json_incref(body);
	for (i = 0; patch && kept[i] != NULL; i++)
		if (json_object_get(old, kept[i]) != NULL)
			json_object_set(in, kept[i], json_object_get(old, kept[i]));
	if (patch)
		json_object_update(in, body);
	rec = cf_make_record(zone, in, json_string_value(json_object_get(old, "id")), &code, msg,
			     sizeof(msg));
	json_decref(in);
	json_decref(body);
	if (rec == NULL) {
		dns_invalid(resp, code, msg);
		return;
	}
	json_object_set(rec, "created_on", json_object_get(old, "created_on"));
	store(zone, records, rec, (long)index, resp);
}

/* /zones/{zone_id}/dns_records[/{id}]: n is 3 or 4 segments, segs[3] the record id. */
void cf_dns_route(const struct sim_request *req, const json_t *zone, const char *rid,
		  struct sim_response *resp)
{
	const char *m = req->method;
	json_t *records =
		json_object_get(cf.records, json_string_value(json_object_get(zone, "id")));
	json_t *rec;
	size_t index = 0;

	if (rid == NULL) {
		if (strcmp(m, "GET") == 0)
			list_records(req, records, resp);
		else if (strcmp(m, "POST") == 0)
			create_record(req, zone, records, resp);
		else
			cf_fail(resp, 405, 10405, "Method not allowed for this URI");
		return;
	}
	rec = find_record(records, rid, &index);
	if (rec == NULL) {
		cf_fail(resp, 404, 81044, "Record does not exist.");
		return;
	}
	if (strcmp(m, "GET") == 0) {
		cf_ok(resp, json_incref(rec), NULL);
	} else if (strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0) {
		update_record(req, zone, records, rec, index, resp);
	} else if (strcmp(m, "DELETE") == 0) {
		cf_ok(resp, json_pack("{s:s}", "id", rid), NULL);
		json_array_remove(records, index);
		cf.n_records--;
	} else {
		cf_fail(resp, 405, 10405, "Method not allowed for this URI");
	}
}
