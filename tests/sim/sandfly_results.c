/* Sandfly results: stored as the full Result objects GET /v4/results/{result_id} answers,
 * searched by POST /v4/results with a ResultsSearch body — filter items {field, operator,
 * value} joined by logicOperator, with the operators the description allows for each field's
 * type; result_ids; time_since; sort [{field, sort}]; size and page; summary (the flat
 * ResultSummary records). "total" is, as ScrollingResponse says, the number of records in this
 * page; "more_results" whether another page follows. Anything the description rejects is a
 * 400. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../../common/util.h"
#include "sandfly.h"

enum ftype {
	F_STR,
	F_TAGS,
	F_INT,
	F_DATE,
	F_BOOL
};

static const struct field {
	const char *name;
	enum ftype type;
} fields[] = {
	{ "id", F_INT },
	{ "sequence_id", F_INT },
	{ "external_id", F_STR },
	{ "data.status", F_STR },
	{ "whitelisted", F_BOOL },
	{ "drift_result", F_BOOL },
	{ "containerized", F_BOOL },
	{ "data.results.containerized", F_BOOL },
	{ "header.host_id", F_STR },
	{ "header.host_sequence_id", F_INT },
	{ "header.hostname", F_STR },
	{ "header.node_name", F_STR },
	{ "data.tags", F_TAGS },
	{ "data.name", F_STR },
	{ "header.ip_addr", F_STR },
	{ "header.queue_name", F_STR },
	{ "header.run_id", F_STR },
	{ "header.manual_scan", F_BOOL },
	{ "data.severity", F_INT },
	{ "data.end_time", F_DATE },
	{ "header.tags", F_TAGS },
	{ "data.exec_seconds", F_INT },
	{ "data.type", F_STR },
	{ "data.key_data", F_STR },
	{ "first_seen", F_DATE },
	{ "last_seen", F_DATE },
	{ "count", F_INT },
	{ "superseded", F_BOOL },
	{ "match_hashes.permissive", F_STR },
	{ "match_hashes.moderate", F_STR },
	{ "match_hashes.strict", F_STR },
	{ NULL, F_STR },
};

/* The operators each type allows, as the description lists them. */
static const char *const ops[][13] = {
	[F_STR] = { "contains", "equals", "startsWith", "endsWith", "notContains", "notEquals",
		    "notStartsWith", "notEndsWith", "is", "not", "isEmpty", "isNotEmpty", NULL },
	[F_TAGS] = { "contains", "equals", "startsWith", "endsWith", "notContains", "notEquals",
		     "notStartsWith", "notEndsWith", "is", "not", "isEmpty", "isNotEmpty", NULL },
	[F_INT] = { "equals", "=", "!=", "<", "<=", ">", ">=", "isEmpty", "isNotEmpty", NULL },
	[F_DATE] = { "is", "not", "after", "onOrAfter", "before", "onOrBefore", "isEmpty",
		     "isNotEmpty", NULL },
	[F_BOOL] = { "is", NULL },
};

static const struct field *find_field(const char *name)
{
	size_t i;

	for (i = 0; name && fields[i].name; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

bool sf_parse_time(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, n = 0;
	const char *p;
	char sign = 0;

	if (s == NULL || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return false;
	p = s + n;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
			return false;
		p += 1 + n;
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p;
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
				return false;
			p += 1 + n;
		} else {
			return false;
		}
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm) - (sign == '+'   ? 1
				       : sign == '-' ? -1
						     : 0) *
					      (oh * 3600 + om * 60);
	return true;
}

/* --- the store ------------------------------------------------------------------------------ */

int sf_add_result(const json_t *host, const json_t *sandfly, const char *status,
		  const char *end_time, const char *run_id, bool manual)
{
	const char *name = json_string_value(json_object_get(sandfly, "name"));
	const char *hostname = json_string_value(json_object_get(host, "hostname"));
	char id[32], seed[160], hash[65], explanation[256];
	json_t *r;

	if (json_array_size(sfs.results) >= SF_MAX_RESULTS)
		return -1;
	snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, sfs.next_seq);
	snprintf(seed, sizeof(seed), "%s|%s|%s", name, hostname, status);
	cx_sha256_hex(seed, strlen(seed), hash);
	snprintf(explanation, sizeof(explanation), "%s on %s: %s", name, hostname,
		 strcmp(status, "alert") == 0  ? "suspicious activity found"
		 : strcmp(status, "pass") == 0 ? "nothing found"
					       : "the sandfly could not run");
	r = json_pack("{s:s,s:I,s:s,s:i,s:s,s:s,s:b,s:b,s:b,s:b,"
		      "s:{s:s,s:s,s:i,s:s,s:s,s:s,s:O,s:s,s:s,s:[],s:s,s:b,s:O,s:s,s:b},"
		      "s:{s:{s:s,s:{s:i,s:s,s:s,s:s}},s:i,s:s,s:s,s:s,s:s,s:s,s:O,s:[],s:O,s:O,"
		      "s:s,s:b}}",
		      "id", id, "sequence_id", sfs.next_seq, "external_id", hash, "count", 1,
		      "first_seen", end_time, "last_seen", end_time, "superseded", 0, "whitelisted",
		      0, "drift_result", 0, "containerized", 0, "header", "start_time", end_time,
		      "hostname", hostname, "ssh_port", 22, "queue_name", "default", "ip_addr",
		      json_string_value(json_object_get(host, "last_seen_ip_addr")), "host_id",
		      json_string_value(json_object_get(host, "host_id")), "host_sequence_id",
		      json_object_get(host, "host_sequence_id"), "end_time", end_time,
		      "credentials_id", "sim-ssh-key", "jump_hosts", "run_id", run_id,
		      "manual_scan", manual, "tags", json_object_get(host, "tags"), "node_name",
		      "sandfly-node-1", "containerized", 0, "data", "results", "explanation",
		      explanation, "match_hashes", "version", 1, "strict", hash, "moderate", hash,
		      "permissive", hash, "exec_seconds", 1, "start_time", end_time, "end_time",
		      end_time, "name", name, "status", status, "status_msg",
		      strcmp(status, "error") == 0 ? "ssh: connection timed out" : "", "severity",
		      json_object_get(sandfly, "severity"), "tags", "type",
		      json_object_get(sandfly, "type"), "engine",
		      json_object_get(sandfly, "engine"), "key_data", hostname, "masked", 0);
	if (r == NULL || json_array_append_new(sfs.results, r) != 0)
		return -1;
	sfs.next_seq++;
	return 0;
}

void sf_count_results(json_t *host)
{
	const char *id = json_string_value(json_object_get(host, "host_id"));
	json_int_t alert = 0, error = 0, pass = 0;
	size_t i;
	json_t *r;

	json_array_foreach(sfs.results, i, r) {
		const char *st;

		if (strcmp(json_string_value(
				   json_object_get(json_object_get(r, "header"), "host_id")),
			   id) != 0)
			continue;
		st = json_string_value(json_object_get(json_object_get(r, "data"), "status"));
		alert += strcmp(st, "alert") == 0;
		error += strcmp(st, "error") == 0;
		pass += strcmp(st, "pass") == 0;
	}
	json_object_set_new(host, "results_alert", json_integer(alert));
	json_object_set_new(host, "results_error", json_integer(error));
	json_object_set_new(host, "results_pass", json_integer(pass));
	json_object_set_new(host, "results_total", json_integer(alert + error + pass));
}

/* The value of a filter or sort field in a full result (borrowed), or NULL. */
static const json_t *field_value(const json_t *r, const char *name)
{
	char part[64];
	const char *p = name, *dot;

	if (strncmp(name, "match_hashes.", 13) == 0)
		return json_object_get(json_object_get(json_object_get(json_object_get(r, "data"),
								       "results"),
						       "match_hashes"),
				       name + 13);
	while ((dot = strchr(p, '.')) != NULL && (size_t)(dot - p) < sizeof(part)) {
		memcpy(part, p, (size_t)(dot - p));
		part[dot - p] = '\0';
		r = json_object_get(r, part);
		p = dot + 1;
	}
	return json_object_get(r, p);
}

/* The ResultSummary of a full result: flat, dotted keys. New reference. */
static json_t *summary_of(const json_t *r)
{
	static const char *const keys[] = { "id",
					    "sequence_id",
					    "external_id",
					    "data.status",
					    "whitelisted",
					    "containerized",
					    "count",
					    "first_seen",
					    "last_seen",
					    "superseded",
					    "header.host_id",
					    "header.hostname",
					    "header.node_name",
					    "header.host_sequence_id",
					    "data.tags",
					    "data.name",
					    "data.engine",
					    "header.ip_addr",
					    "header.queue_name",
					    "header.run_id",
					    "data.severity",
					    "data.end_time",
					    "header.tags",
					    "data.exec_seconds",
					    "data.type",
					    "data.key_data",
					    "data.masked",
					    NULL };
	json_t *s = json_object();
	size_t i;

	for (i = 0; s && keys[i]; i++) {
		const json_t *v = field_value(r, keys[i]);

		if (v != NULL)
			json_object_set(s, keys[i], (json_t *)v);
	}
	return s;
}

/* --- filters -------------------------------------------------------------------------------- */

static bool listed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* An integer from a JSON integer or a decimal string. */
static bool int_of(const json_t *v, json_int_t *out)
{
	long l;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_string(v) &&
	    cx_parse_long(json_string_value(v), -2000000000L, 4000000000000L, &l) == 0) {
		*out = l;
		return true;
	}
	return false;
}

static bool bool_of(const json_t *v, bool *out)
{
	const char *s = json_string_value(v);

	if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
		*out = strcmp(s, "true") == 0;
	else
		return false;
	return true;
}

/* A filter item as the description has it: 0, or -1 with the reason in msg. */
static int check_item(const json_t *item, char *msg, size_t msglen)
{
	const char *name = json_string_value(json_object_get(item, "field"));
	const char *op = json_string_value(json_object_get(item, "operator"));
	const json_t *value = json_object_get(item, "value");
	const struct field *f = find_field(name);
	json_int_t i;
	int64_t t;
	bool b;

	if (!json_is_object(item) || name == NULL || op == NULL)
		return snprintf(msg, msglen, "each filter item needs a field and an operator"), -1;
	if (f == NULL)
		return snprintf(msg, msglen, "Unknown filter field: %.100s", name), -1;
	if (!listed(ops[f->type], op))
		return snprintf(msg, msglen, "Operator %.40s is not valid for field %s", op, name),
		       -1;
	if (strcmp(op, "isEmpty") == 0 || strcmp(op, "isNotEmpty") == 0)
		return 0;
	if ((f->type == F_INT && !int_of(value, &i)) ||
	    (f->type == F_DATE && !sf_parse_time(json_string_value(value), &t)) ||
	    (f->type == F_BOOL && !bool_of(value, &b)) ||
	    ((f->type == F_STR || f->type == F_TAGS) && !json_is_string(value) &&
	     !json_is_integer(value)))
		return snprintf(msg, msglen, "Invalid value for field %s", name), -1;
	return 0;
}

static bool str_match(const char *have, const char *op, const char *want)
{
	size_t hl = strlen(have), wl = strlen(want);
	bool neg = strncmp(op, "not", 3) == 0 && strcmp(op, "not") != 0;
	const char *base = neg ? op + 3 : op;
	bool m;

	if (strcasecmp(base, "contains") == 0)
		m = strcasestr(have, want) != NULL;
	else if (strcasecmp(base, "startsWith") == 0)
		m = strncasecmp(have, want, wl) == 0;
	else if (strcasecmp(base, "endsWith") == 0)
		m = hl >= wl && strcasecmp(have + hl - wl, want) == 0;
	else if (strcmp(op, "not") == 0)
		return strcasecmp(have, want) != 0;
	else /* equals, is */
		m = strcasecmp(have, want) == 0;
	return neg ? !m : m;
}

static bool is_empty(const json_t *v)
{
	return v == NULL || json_is_null(v) ||
	       (json_is_string(v) && json_string_value(v)[0] == '\0') ||
	       (json_is_array(v) && json_array_size(v) == 0);
}

static bool cmp_ok(const char *op, int c)
{
	if (strcmp(op, "equals") == 0 || strcmp(op, "=") == 0 || strcmp(op, "is") == 0)
		return c == 0;
	if (strcmp(op, "!=") == 0 || strcmp(op, "not") == 0)
		return c != 0;
	if (strcmp(op, "<") == 0 || strcmp(op, "before") == 0)
		return c < 0;
	if (strcmp(op, "<=") == 0 || strcmp(op, "onOrBefore") == 0)
		return c <= 0;
	if (strcmp(op, ">") == 0 || strcmp(op, "after") == 0)
		return c > 0;
	return c >= 0; /* >=, onOrAfter */
}

/* Does r pass one (checked) item? */
static bool match_item(const json_t *r, const json_t *item)
{
	const struct field *f = find_field(json_string_value(json_object_get(item, "field")));
	const char *op = json_string_value(json_object_get(item, "operator"));
	const json_t *want = json_object_get(item, "value"), *have = field_value(r, f->name), *t;
	char wbuf[32];
	json_int_t a = 0, b = 0;
	int64_t ta = 0, tb = 0;
	bool ba, bb;
	size_t i;

	if (strcmp(op, "isEmpty") == 0 || strcmp(op, "isNotEmpty") == 0)
		return is_empty(have) == (strcmp(op, "isEmpty") == 0);
	switch (f->type) {
	case F_INT:
		return int_of(have, &a) && int_of(want, &b) && cmp_ok(op, (a > b) - (a < b));
	case F_DATE:
		return sf_parse_time(json_string_value(have), &ta) &&
		       sf_parse_time(json_string_value(want), &tb) &&
		       cmp_ok(op, (ta > tb) - (ta < tb));
	case F_BOOL:
		return bool_of(have ? have : json_false(), &ba) && bool_of(want, &bb) && ba == bb;
	default:
		break;
	}
	if (json_is_integer(want))
		snprintf(wbuf, sizeof(wbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(want));
	else
		snprintf(wbuf, sizeof(wbuf), "%s", "");
	if (f->type == F_STR)
		return str_match(json_is_string(have) ? json_string_value(have) : "", op,
				 json_is_string(want) ? json_string_value(want) : wbuf);
	/* tags: a positive operator wants one tag to match, a negative one none */
	bool neg = strncmp(op, "not", 3) == 0;
	const char *pos = neg && strcmp(op, "not") != 0 ? op + 3 : neg ? "is" : op;
	char lower[32];

	snprintf(lower, sizeof(lower), "%c%s", pos[0] | 0x20, pos + 1);
	json_array_foreach(have, i, t)
		if (str_match(json_string_value(t), lower,
			      json_is_string(want) ? json_string_value(want) : wbuf))
			return !neg;
	return neg;
}

/* --- search --------------------------------------------------------------------------------- */

static const json_t *sort_spec; /* sorting runs under the daemon's lock */

static int cmp_json(const json_t *a, const json_t *b)
{
	json_int_t ia, ib;
	int64_t ta, tb;

	if (int_of(a, &ia) && int_of(b, &ib))
		return (ia > ib) - (ia < ib);
	if (sf_parse_time(json_string_value(a), &ta) && sf_parse_time(json_string_value(b), &tb))
		return (ta > tb) - (ta < tb);
	if (json_is_string(a) && json_is_string(b))
		return strcmp(json_string_value(a), json_string_value(b));
	if (json_is_boolean(a) && json_is_boolean(b))
		return json_is_true(a) - json_is_true(b);
	return (a != NULL) - (b != NULL);
}

static int cmp_results(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb, *s;
	size_t i;
	int c;

	json_array_foreach(sort_spec, i, s) {
		const char *f = json_string_value(json_object_get(s, "field"));
		bool desc = strcmp(json_string_value(json_object_get(s, "sort")), "desc") == 0;

		c = cmp_json(field_value(a, f), field_value(b, f));
		if (c != 0)
			return desc ? -c : c;
	}
	c = cmp_json(json_object_get(a, "sequence_id"), json_object_get(b, "sequence_id"));
	return json_array_size(sort_spec) ? c : -c; /* default: newest first */
}

/* The body's paging, sort and mutually exclusive selectors: 0, or -1 with msg. */
static int check_search(const json_t *body, long *size, long *page, char *msg, size_t msglen)
{
	static const char *const keys[] = { "result_ids", "filter",  "flatten",    "size", "page",
					    "sort",       "summary", "time_since", NULL };
	const json_t *filter = json_object_get(body, "filter"),
		     *sort = json_object_get(body, "sort");
	const json_t *v, *item;
	const char *op;
	size_t i;

	if (sim_check_keys(body, "body", keys, msg, msglen) != 0)
		return -1;
	if ((json_object_get(body, "result_ids") != NULL) + (filter != NULL) +
		    (json_object_get(body, "time_since") != NULL) >
	    1)
		return snprintf(msg, msglen,
				"result_ids, filter and time_since are mutually "
				"exclusive"),
		       -1;
	v = json_object_get(body, "size");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10000))
		return snprintf(msg, msglen, "size must be an integer from 1 to 10000"), -1;
	*size = v ? (long)json_integer_value(v) : 500;
	v = json_object_get(body, "page");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000))
		return snprintf(msg, msglen, "page must be an integer of 1 or more"), -1;
	*page = v ? (long)json_integer_value(v) : 1;
	if (sort && !json_is_array(sort))
		return snprintf(msg, msglen, "sort must be a list of {field, sort}"), -1;
	json_array_foreach(sort, i, item) {
		const struct field *f =
			find_field(json_string_value(json_object_get(item, "field")));
		const char *dir = json_string_value(json_object_get(item, "sort"));

		if (f == NULL || f->type == F_TAGS)
			return snprintf(msg, msglen, "Unknown or unsortable sort field"), -1;
		if (dir == NULL || (strcmp(dir, "asc") && strcmp(dir, "desc")))
			return snprintf(msg, msglen, "Sort direction must be asc or desc"), -1;
	}
	if (filter == NULL)
		return 0;
	op = json_string_value(json_object_get(filter, "logicOperator"));
	if (!json_is_array(json_object_get(filter, "items")) || op == NULL ||
	    (strcasecmp(op, "and") && strcasecmp(op, "or")))
		return snprintf(msg, msglen, "filter needs items [] and logicOperator (and, or)"),
		       -1;
	json_array_foreach(json_object_get(filter, "items"), i, item)
		if (check_item(item, msg, msglen) != 0)
			return -1;
	return 0;
}

/* Does r pass the body's selector (filter, result_ids or time_since)? */
static bool selected(const json_t *r, const json_t *body)
{
	const json_t *filter = json_object_get(body, "filter"), *ids, *item, *v;
	const char *since = json_string_value(json_object_get(body, "time_since"));
	bool any, all = true, one = false;
	int64_t a, b;
	size_t i;

	if ((ids = json_object_get(body, "result_ids")) != NULL) {
		json_array_foreach(ids, i, v)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v),
				   json_string_value(json_object_get(r, "id"))) == 0)
				return true;
		return false;
	}
	if (since != NULL)
		return sf_parse_time(since, &b) &&
		       sf_parse_time(json_string_value(field_value(r, "data.end_time")), &a) &&
		       a >= b;
	if (filter == NULL || json_array_size(json_object_get(filter, "items")) == 0)
		return true;
	any = strcasecmp(json_string_value(json_object_get(filter, "logicOperator")), "or") == 0;
	json_array_foreach(json_object_get(filter, "items"), i, item) {
		bool m = match_item(r, item);

		all = all && m;
		one = one || m;
	}
	return any ? one : all;
}

void sf_search_results(const struct sim_request *req, struct sim_response *resp)
{
	json_t *body = json_loadb(req->body, req->body_len, 0, NULL), *data = NULL, *r;
	json_t **hits = NULL;
	char msg[200];
	long size, page;
	size_t i, n = 0, from;
	bool summary;

	if (!json_is_object(body)) {
		sf_fail(resp, 400, "Invalid search request: expected a JSON object");
		goto out;
	}
	if (check_search(body, &size, &page, msg, sizeof(msg)) != 0) {
		sf_fail(resp, 400, "%s", msg);
		goto out;
	}
	hits = calloc(json_array_size(sfs.results) + 1, sizeof(*hits));
	data = json_array();
	if (hits == NULL || data == NULL) {
		sf_fail(resp, 500, "out of memory");
		goto out;
	}
	json_array_foreach(sfs.results, i, r)
		if (selected(r, body))
			hits[n++] = r;
	if (n == 0) {
		sf_fail(resp, 404, "No results found");
		goto out;
	}
	sort_spec = json_object_get(body, "sort");
	qsort(hits, n, sizeof(*hits), cmp_results);
	summary = json_is_true(json_object_get(body, "summary"));
	from = (size_t)(page - 1) * (size_t)size;
	for (i = from; i < n && i < from + (size_t)size; i++)
		json_array_append_new(data, summary ? summary_of(hits[i]) : json_incref(hits[i]));
	sim_reply(resp, 200,
		  json_pack("{s:O,s:I,s:b}", "data", data, "total",
			    (json_int_t)json_array_size(data), "more_results",
			    from + (size_t)size < n));
out:
	free(hits);
	json_decref(data);
	json_decref(body);
}

void sf_get_result(const char *id, struct sim_response *resp)
{
	size_t i;
	json_t *r;

	json_array_foreach(sfs.results, i, r)
		if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0) {
			sim_reply(resp, 200, json_incref(r));
			return;
		}
	sf_fail(resp, 404, "Result not found: %.100s", id);
}
