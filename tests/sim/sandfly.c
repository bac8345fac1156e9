/* Sandfly Security under /v4, as Sandfly's published OpenAPI description (sandfly-openapi.yaml,
 * server 5.8) describes it: POST /auth/login for an access and a refresh token, POST
 * /auth/login_refresh with the refresh token as Bearer for new ones, Bearer access tokens on
 * everything else, StandardResponse errors ({status, detail, data}); hosts (summary records),
 * results searched with a filter body (sandfly_results.c), and scans that add results at once
 * under a run id. Tokens expire (access_ttl_ms, refresh_ttl_ms); POST /v4/_sim/expire — not
 * part of Sandfly's API — expires every access token now, and with {"refresh": true} every
 * refresh token too, so a client's refresh and its fresh login can be tested. */
#include "sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "sandfly.h"

static const char defaults[] =
	"{\"users\":{\"admin\":\"sandfly-sim-password\"},"
	"\"access_ttl_ms\":900000,\"refresh_ttl_ms\":86400000,"
	"\"sandflies\":["
	"{\"name\":\"process_running_deleted_bin\",\"type\":\"process\",\"severity\":4,"
	"\"engine\":\"sandfly_engine_process\",\"alert_hosts\":[\"web01\"]},"
	"{\"name\":\"user_ssh_authorized_keys_suspicious\",\"type\":\"user\",\"severity\":3,"
	"\"engine\":\"sandfly_engine_user\"},"
	"{\"name\":\"file_hidden_binary_tmp\",\"type\":\"file\",\"severity\":3,"
	"\"engine\":\"sandfly_engine_file\",\"alert_hosts\":[\"db01\"]},"
	"{\"name\":\"directory_suspicious_dev_shm\",\"type\":\"directory\",\"severity\":2,"
	"\"engine\":\"sandfly_engine_dir\"},"
	"{\"name\":\"log_wtmp_tampered\",\"type\":\"log\",\"severity\":5,"
	"\"engine\":\"sandfly_engine_wtmp\"},"
	"{\"name\":\"recon_process_list_all\",\"type\":\"recon\",\"severity\":0,"
	"\"engine\":\"sandfly_engine_process\"},"
	"{\"name\":\"policy_root_login_allowed\",\"type\":\"policy\",\"severity\":1,"
	"\"engine\":\"sandfly_engine_file\",\"active\":false}],"
	"\"hosts\":["
	"{\"host_id\":\"64a1f0c2b9e8d7a6c5b4e3f2\",\"hostname\":\"web01\",\"ip\":\"192.0.2.11\","
	"\"os\":\"Ubuntu 22.04.4 LTS\",\"tags\":[\"prod\",\"web\"]},"
	"{\"host_id\":\"64a1f0c2b9e8d7a6c5b4e3f3\",\"hostname\":\"db01\",\"ip\":\"192.0.2.12\","
	"\"os\":\"Debian GNU/Linux 12 (bookworm)\",\"tags\":[\"prod\",\"db\"]},"
	"{\"host_id\":\"64a1f0c2b9e8d7a6c5b4e3f4\",\"hostname\":\"legacy01\",\"ip\":\"192.0.2.13\","
	"\"os\":\"CentOS Linux 7 (Core)\",\"active\":false,\"tags\":[]}],"
	"\"results\":["
	"{\"host\":\"web01\",\"sandfly\":\"process_running_deleted_bin\",\"status\":\"alert\","
	"\"end_time\":\"2024-05-01T10:00:00Z\"},"
	"{\"host\":\"web01\",\"sandfly\":\"log_wtmp_tampered\",\"status\":\"alert\","
	"\"end_time\":\"2024-05-02T11:30:00Z\"},"
	"{\"host\":\"web01\",\"sandfly\":\"user_ssh_authorized_keys_suspicious\","
	"\"status\":\"pass\",\"end_time\":\"2024-05-02T11:30:05Z\"},"
	"{\"host\":\"db01\",\"sandfly\":\"file_hidden_binary_tmp\",\"status\":\"alert\","
	"\"end_time\":\"2024-05-03T08:15:00Z\"},"
	"{\"host\":\"db01\",\"sandfly\":\"directory_suspicious_dev_shm\",\"status\":\"pass\","
	"\"end_time\":\"2024-05-03T08:15:02Z\"},"
	"{\"host\":\"db01\",\"sandfly\":\"recon_process_list_all\",\"status\":\"pass\","
	"\"end_time\":\"2024-05-03T08:15:04Z\"},"
	"{\"host\":\"legacy01\",\"sandfly\":\"process_running_deleted_bin\",\"status\":\"error\","
	"\"end_time\":\"2024-04-20T06:00:00Z\"},"
	"{\"host\":\"web01\",\"sandfly\":\"file_hidden_binary_tmp\",\"status\":\"pass\","
	"\"end_time\":\"2024-05-04T09:00:00Z\"}]}";

struct sf_state sfs;

/* --- envelopes ------------------------------------------------------------------------------ */

json_t *sf_error_body(unsigned int status, const char *detail)
{
	return json_pack("{s:i,s:s,s:s}", "status", (int)status, "detail", detail, "data", "");
}

void sf_fail(struct sim_response *resp, unsigned int status, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_reply(resp, status, sf_error_body(status, msg));
}

/* --- state ---------------------------------------------------------------------------------- */

static void release(void)
{
	json_decref(sfs.users);
	json_decref(sfs.tokens);
	json_decref(sfs.sandflies);
	json_decref(sfs.hosts);
	json_decref(sfs.results);
	memset(&sfs, 0, sizeof(sfs));
}

json_t *sf_find_host(const char *id)
{
	long seq = -1;
	size_t i;
	json_t *h;

	cx_parse_long(id, 1, 1000000000, &seq);
	json_array_foreach(sfs.hosts, i, h)
		if (strcmp(json_string_value(json_object_get(h, "host_id")), id) == 0 ||
		    json_integer_value(json_object_get(h, "host_sequence_id")) == seq)
			return h;
	return NULL;
}

static json_t *find_host_by_name(const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach(sfs.hosts, i, h)
		if (strcmp(json_string_value(json_object_get(h, "hostname")), name) == 0)
			return h;
	return NULL;
}

static const json_t *find_sandfly(const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(sfs.sandflies, i, s)
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return s;
	return NULL;
}

/* A HostSummary record with every field the description requires. */
static json_t *host_summary(const char *id, json_int_t seq, const char *name, const char *ip,
			    const char *os, bool active, json_t *tags)
{
	json_t *h = json_pack(
		"{s:s,s:s,s:I,s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:[],s:[],s:i,s:f,s:s,s:s,s:s,s:s,"
		"s:s,s:s}",
		"id", id, "host_id", id, "host_sequence_id", seq, "hostname", name, "active",
		active, "credentials_id", "sim-ssh-key", "authentication_status",
		active ? "ok" : "failed", "date_first_seen", "2024-01-10T09:00:00Z",
		"date_last_seen", active ? "2024-05-04T09:00:00Z" : "2024-04-20T06:00:00Z",
		"first_seen_ip_addr", ip, "last_seen_ip_addr", ip, "jump_hosts",
		"os_hardware_cpu_bugs", "os_hardware_cpu_cores", 4, "os_hardware_cpu_mhz", 2400.0,
		"os_hardware_cpu_model_name", "Sim Virtual CPU", "os_hardware_dmi_bios_vendor",
		"SeaBIOS", "os_hardware_dmi_chassis_vendor", "QEMU",
		"os_hardware_dmi_product_family", "", "os_hardware_dmi_product_name", "Standard PC",
		"os_hardware_dmi_sys_vendor", "QEMU");
	json_t *more = json_pack(
		"{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:s,s:s,s:n,"
		"s:i,s:b,s:s,s:O,s:i}",
		"os_info_arch", "x86_64", "os_info_machine", "x86_64", "os_info_node", name,
		"os_info_os_release_id", "linux", "os_info_os_release_name", os,
		"os_info_os_release_version", "", "os_info_os_release_pretty_name", os,
		"os_info_os_release_version_codename", "", "os_info_release", "6.1.0",
		"os_info_uptime_date", "2024-04-01T00:00:00Z", "os_info_uptime_days", 33,
		"os_performance_cpu_fifteen_min", 0.2,
		"os_performance_cpu_fifteen_min_core_adjusted", 0.05, "os_performance_cpu_five_min",
		0.2, "os_performance_cpu_five_min_core_adjusted", 0.05,
		"os_performance_cpu_one_min", 0.3, "os_performance_cpu_one_min_core_adjusted",
		0.075, "override_directory", "", "queue_name", "default", "ssh_key_fingerprint",
		"ssh_port", 22, "verify_host_key", 0, "os_info_os_release_version_id", "", "tags",
		tags, "version", 1);

	if (h == NULL || more == NULL || json_object_update(h, more) != 0) {
		json_decref(h);
		h = NULL;
	}
	json_decref(more);
	return h;
}

static int load_hosts(const json_t *arr, char *err, size_t errlen)
{
	static const char *const keys[] = { "host_id", "hostname", "ip", "os",
					    "active",  "tags",     NULL };
	json_t *in, *tags, *h;
	const char *id, *name, *ip, *os = "Linux";
	int active;
	size_t i;

	json_array_foreach(arr, i, in) {
		char where[48];

		snprintf(where, sizeof(where), "sandfly.hosts[%zu]", i);
		active = 1;
		tags = NULL;
		if (sim_check_keys(in, where, keys, err, errlen) != 0)
			return -1;
		if (json_unpack((json_t *)in, "{s:s,s:s,s:s,s?s,s?b,s?o}", "host_id", &id,
				"hostname", &name, "ip", &ip, "os", &os, "active", &active, "tags",
				&tags) != 0 ||
		    sf_find_host(id) != NULL || (tags && !json_is_array(tags))) {
			snprintf(err, errlen,
				 "'%s' needs a unique host_id, a hostname and an ip; os, active "
				 "and tags [] are optional",
				 where);
			return -1;
		}
		tags = tags ? json_incref(tags) : json_array();
		h = host_summary(id, (json_int_t)i + 1, name, ip, os, active, tags);
		json_decref(tags);
		if (h == NULL || json_array_append_new(sfs.hosts, h) != 0)
			return -1;
	}
	return 0;
}

static int load_results(const json_t *arr, char *err, size_t errlen)
{
	static const char *const keys[] = { "host", "sandfly", "status", "end_time", NULL };
	const char *host, *sandfly, *status, *end;
	const json_t *h, *s;
	json_t *in;
	size_t i;
	int64_t t;

	json_array_foreach(arr, i, in) {
		char where[48];

		snprintf(where, sizeof(where), "sandfly.results[%zu]", i);
		if (sim_check_keys(in, where, keys, err, errlen) != 0)
			return -1;
		if (json_unpack((json_t *)in, "{s:s,s:s,s:s,s:s}", "host", &host, "sandfly",
				&sandfly, "status", &status, "end_time", &end) != 0 ||
		    (h = find_host_by_name(host)) == NULL || (s = find_sandfly(sandfly)) == NULL ||
		    (strcmp(status, "alert") && strcmp(status, "pass") &&
		     strcmp(status, "error")) ||
		    !sf_parse_time(end, &t)) {
			snprintf(err, errlen,
				 "'%s' needs a known host (hostname), a known sandfly, a status "
				 "(alert, pass, error) and an end_time (RFC 3339)",
				 where);
			return -1;
		}
		if (sf_add_result(h, s, status, end, "sim-seed", false) != 0)
			return -1;
	}
	return 0;
}

static int load(const json_t *conf, char *err, size_t errlen)
{
	static const char *const keys[] = { "users",     "access_ttl_ms", "refresh_ttl_ms",
					    "sandflies", "hosts",         "results",
					    NULL };
	json_t *cfg = json_loads(defaults, 0, NULL), *hosts, *results;
	json_int_t access, refresh;
	int rc = -1;

	release();
	sfs.tokens = json_object();
	sfs.hosts = json_array();
	sfs.results = json_array();
	sfs.next_seq = 1001;
	if (cfg == NULL || sfs.tokens == NULL || sfs.hosts == NULL || sfs.results == NULL)
		goto out;
	if (conf != NULL && (sim_check_keys(conf, "sandfly", keys, err, errlen) != 0 ||
			     json_object_update(cfg, (json_t *)conf) != 0))
		goto out;
	if (json_unpack(cfg, "{s:O,s:I,s:I,s:O,s:o,s:o}", "users", &sfs.users, "access_ttl_ms",
			&access, "refresh_ttl_ms", &refresh, "sandflies", &sfs.sandflies, "hosts",
			&hosts, "results", &results) != 0 ||
	    !json_is_object(sfs.users) || !json_is_array(sfs.sandflies) || !json_is_array(hosts) ||
	    !json_is_array(results) || access < 1 || refresh < 1) {
		snprintf(err, errlen,
			 "'sandfly': users {}, access_ttl_ms and refresh_ttl_ms (> 0), "
			 "sandflies [], hosts [] and results [] have the wrong type");
		goto out;
	}
	sfs.access_ttl_ms = (long)access;
	sfs.refresh_ttl_ms = (long)refresh;
	rc = load_hosts(hosts, err, errlen) != 0 || load_results(results, err, errlen) != 0 ? -1
											    : 0;
out:
	json_decref(cfg);
	return rc;
}

/* --- tokens --------------------------------------------------------------------------------- */

static bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a);

	return la == strlen(b) && cx_ct_equal(a, b, la);
}

/* Drops expired tokens when the table is full; the token table never grows past the cap. */
static void prune_tokens(void)
{
	const char *key;
	json_t *v, *tmp;

	if (json_object_size(sfs.tokens) < SF_MAX_TOKENS)
		return;
	json_object_foreach_safe(sfs.tokens, tmp, key, v)
		if (json_integer_value(json_object_get(v, "exp")) <= cx_now_ms())
			json_object_del(sfs.tokens, key);
	while (json_object_size(sfs.tokens) >= SF_MAX_TOKENS)
		json_object_del(sfs.tokens, json_object_iter_key(json_object_iter(sfs.tokens)));
}

static int new_token(const char *kind, long ttl_ms, char *out, size_t outlen)
{
	char rnd[49];

	if (cx_random_hex(rnd, sizeof(rnd), 24) != 0)
		return -1;
	snprintf(out, outlen, "sfsim.%c.%s", kind[0], rnd);
	prune_tokens();
	return json_object_set_new(sfs.tokens, out,
				   json_pack("{s:s,s:I}", "kind", kind, "exp",
					     (json_int_t)(cx_now_ms() + ttl_ms)));
}

/* A token pair, as apiLogin and apiLoginRefresh answer. */
static void issue_tokens(struct sim_response *resp)
{
	char access[80], refresh[80];

	if (new_token("access", sfs.access_ttl_ms, access, sizeof(access)) != 0 ||
	    new_token("refresh", sfs.refresh_ttl_ms, refresh, sizeof(refresh)) != 0) {
		sf_fail(resp, 500, "could not issue a token");
		return;
	}
	sim_reply(resp, 200,
		  json_pack("{s:s,s:s}", "access_token", access, "refresh_token", refresh));
}

/* The Bearer token of the request if it is a live token of kind; else false, 401 in resp. */
static bool check_token(const struct sim_request *req, const char *kind, struct sim_response *resp)
{
	const char *auth = sim_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	const json_t *t;

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		sf_fail(resp, 401, "Missing Authorization Header");
		return false;
	}
	t = json_object_get(sfs.tokens, auth + 7);
	if (t == NULL || strcmp(json_string_value(json_object_get(t, "kind")), kind) != 0) {
		sf_fail(resp, 401, "Invalid token");
		return false;
	}
	if (json_integer_value(json_object_get(t, "exp")) <= cx_now_ms()) {
		sf_fail(resp, 401, "Token has expired");
		return false;
	}
	return true;
}

static json_t *json_body(const struct sim_request *req)
{
	json_t *v = json_loadb(req->body, req->body_len, 0, NULL);

	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static void login(const struct sim_request *req, struct sim_response *resp)
{
	json_t *body = json_body(req);
	const char *user = json_string_value(json_object_get(body, "username"));
	const char *pass = json_string_value(json_object_get(body, "password"));
	const char *want = user ? json_string_value(json_object_get(sfs.users, user)) : NULL;

	if (body == NULL)
		sf_fail(resp, 400, "Invalid login request: expected a JSON object");
	else if (user == NULL || pass == NULL)
		sf_fail(resp, 400, "Invalid login request: username and password are required");
	else if (want == NULL || !secret_equal(want, pass))
		sf_fail(resp, 401, "Invalid username or password");
	else
		issue_tokens(resp);
	json_decref(body);
}

/* Sim-only: expires every access token, and every refresh token when asked. */
static void expire_tokens(const struct sim_request *req, struct sim_response *resp)
{
	json_t *body = json_body(req), *v;
	bool refresh = json_is_true(json_object_get(body, "refresh"));
	const char *key;
	size_t n = 0;

	json_object_foreach(sfs.tokens, key, v) {
		const char *kind = json_string_value(json_object_get(v, "kind"));

		if (strcmp(kind, "access") == 0 || refresh) {
			json_object_set_new(v, "exp", json_integer(0));
			n++;
		}
	}
	json_decref(body);
	sim_reply(resp, 200, json_pack("{s:I}", "expired", (json_int_t)n));
}

/* --- hosts, scans, version -------------------------------------------------------------------- */

static void list_hosts(const struct sim_request *req, struct sim_response *resp)
{
	const char *size_s = sim_query(req, "size"), *page_s = sim_query(req, "page");
	long size = 10000, page = 1;
	size_t i, n = json_array_size(sfs.hosts), from;
	json_t *data = json_array(), *h;

	if ((size_s && cx_parse_long(size_s, 1, 100000, &size) != 0) ||
	    (page_s && cx_parse_long(page_s, 1, 1000000, &page) != 0)) {
		json_decref(data);
		sf_fail(resp, 400, "size must be 1-100000 and page 1 or more");
		return;
	}
	from = (size_t)(page - 1) * (size_t)size;
	for (i = from; i < n && i < from + (size_t)size; i++) {
		h = json_array_get(sfs.hosts, i);
		sf_count_results(h);
		json_array_append(data, h);
	}
	sim_reply(resp, 200,
		  json_pack("{s:o,s:I,s:b}", "data", data, "total",
			    (json_int_t)json_array_size(data), "more_results",
			    from + (size_t)size < n));
}

static void get_host(const char *id, struct sim_response *resp)
{
	json_t *h = sf_find_host(id);

	if (h == NULL) {
		sf_fail(resp, 404, "Host not found: %.200s", id);
		return;
	}
	sf_count_results(h);
	sim_reply(resp, 200, json_incref(h));
}

/* Checks ScanManual's lists into the hosts and sandflies to run: 0, or -1 with a 400 in resp. */
static int scan_targets(const json_t *body, json_t *hosts, json_t *flies, struct sim_response *resp)
{
	const json_t *ids = json_object_get(body, "host_ids"), *list;
	json_t *v;
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		sf_fail(resp, 400, "host_ids must be a non-empty list of host ids");
		return -1;
	}
	json_array_foreach(ids, i, v) {
		json_t *h = json_is_string(v) ? sf_find_host(json_string_value(v)) : NULL;

		if (h == NULL) {
			sf_fail(resp, 400, "Unknown host_id: %.100s",
				json_is_string(v) ? json_string_value(v) : "(not a string)");
			return -1;
		}
		if (!json_is_true(json_object_get(h, "active"))) {
			sf_fail(resp, 400, "Host %s is not active and cannot be scanned",
				json_string_value(json_object_get(h, "hostname")));
			return -1;
		}
		json_array_append(hosts, h);
	}
	list = json_object_get(body, "sandfly_list");
	if (list != NULL && (!json_is_array(list) || json_array_size(list) == 0)) {
		sf_fail(resp, 400, "sandfly_list must be a non-empty list of sandfly names");
		return -1;
	}
	json_array_foreach(list ? list : sfs.sandflies, i, v) {
		const json_t *s =
			list ? (json_is_string(v) ? find_sandfly(json_string_value(v)) : NULL) : v;

		if (s == NULL) {
			sf_fail(resp, 400, "Unknown sandfly: %.100s",
				json_is_string(v) ? json_string_value(v) : "(not a string)");
			return -1;
		}
		if (list || !json_is_false(json_object_get(s, "active")))
			json_array_append(flies, (json_t *)s);
	}
	return 0;
}

/* POST /scan: the scan runs at once; every host x sandfly gives a result under one run id,
 * an alert where the sandfly's alert_hosts names the host. */
static void start_scan(const struct sim_request *req, struct sim_response *resp)
{
	json_t *body = json_body(req), *hosts = json_array(), *flies = json_array(), *h, *s;
	char run_id[48], now[40];
	size_t i, j;

	if (body == NULL) {
		sf_fail(resp, 400, "Invalid scan request: expected a JSON object");
		goto out;
	}
	if (scan_targets(body, hosts, flies, resp) != 0)
		goto out;
	snprintf(run_id, sizeof(run_id), "sim-run-%04lu", ++sfs.runs);
	cx_wall_iso8601(now, sizeof(now));
	json_array_foreach(hosts, i, h)
		json_array_foreach(flies, j, s) {
			const json_t *alert_on = json_object_get(s, "alert_hosts");
			const char *name = json_string_value(json_object_get(h, "hostname"));
			bool alert = false;
			size_t k;
			json_t *a;

			json_array_foreach(alert_on, k, a)
				alert = alert || strcmp(json_string_value(a), name) == 0;
			if (sf_add_result(h, s, alert ? "alert" : "pass", now, run_id, true) != 0) {
				sf_fail(resp, 507, "result store is full");
				goto out;
			}
		}
	sim_reply(resp, 202,
		  json_pack("{s:i,s:s,s:s}", "status", 202, "detail",
			    "Scan request accepted for processing.", "data", run_id));
out:
	json_decref(body);
	json_decref(hosts);
	json_decref(flies);
}

static void version(struct sim_response *resp)
{
	sim_reply(resp, 200,
		  json_pack("{s:s,s:s,s:s,s:s}", "version", "5.8.1-sim", "build_date",
			    "2025-01-01T00:00:00Z", "copyright", "cortex-sim", "website",
			    "https://www.sandflysecurity.com"));
}

/* --- routing -------------------------------------------------------------------------------- */

static void handle(const struct sim_request *req, struct sim_response *resp)
{
	const char *p = req->path, *m = req->method;
	bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;

	if (strcmp(p, "/auth/login") == 0 && post) {
		login(req, resp);
	} else if (strcmp(p, "/_sim/expire") == 0 && post) {
		expire_tokens(req, resp);
	} else if (strcmp(p, "/auth/login_refresh") == 0 && post) {
		if (check_token(req, "refresh", resp))
			issue_tokens(resp);
	} else if (!check_token(req, "access", resp)) {
		return;
	} else if (strcmp(p, "/version") == 0 && get) {
		version(resp);
	} else if (strcmp(p, "/hosts") == 0 && get) {
		list_hosts(req, resp);
	} else if (strncmp(p, "/hosts/", 7) == 0 && p[7] && !strchr(p + 7, '/') && get) {
		get_host(p + 7, resp);
	} else if (strcmp(p, "/results") == 0 && post) {
		sf_search_results(req, resp);
	} else if (strncmp(p, "/results/", 9) == 0 && p[9] && !strchr(p + 9, '/') && get) {
		sf_get_result(p + 9, resp);
	} else if (strcmp(p, "/scan") == 0 && post) {
		start_scan(req, resp);
	} else {
		sf_fail(resp, 404, "404 page not found");
	}
}

const struct sim_backend sim_sandfly = {
	.name = "sandfly",
	.prefix = "/v4",
	.load = load,
	.handle = handle,
	.error_body = sf_error_body,
	.release = release,
	.help = "  Sandfly Security under /v4\n"
		"    login:     POST /v4/auth/login {\"username\": \"admin\", \"password\":\n"
		"               \"sandfly-sim-password\"} -> access_token, refresh_token; then\n"
		"               Authorization: Bearer ACCESS; POST /v4/auth/login_refresh with\n"
		"               Bearer REFRESH for a new pair (access_ttl_ms 900000,\n"
		"               refresh_ttl_ms 86400000); POST /v4/_sim/expire (not Sandfly's)\n"
		"               expires every access token, {\"refresh\": true} refresh ones too\n"
		"    state:     hosts web01, db01 (active), legacy01 (inactive); 7 sandflies; 8\n"
		"               results (alert, pass, error); POST /v4/scan adds one result per\n"
		"               host and sandfly at once under a run id (the answer's data)\n",
};
