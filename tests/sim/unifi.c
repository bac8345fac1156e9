/* UniFi Network under /unifi (the console's or controller's root), as a console serves it:
 *
 *   /proxy/network/integration/v1/...  the Integration API (X-API-KEY), as
 *                                      ../shared/specs/unifi-integration-subset.json says
 *   /integration/v1/...                the same on a self-hosted (classic) controller
 *   POST /api/auth/login               UniFi OS: TOKEN cookie and an X-CSRF-Token header
 *   /proxy/network/api/...             the legacy API behind UniFi OS ({"meta":{"rc"},"data"})
 *   POST /api/login, /api/...          the classic controller: unifises and csrf_token cookies
 *
 * One state behind all of them: restarting a device in one API shows in the others. A restart
 * puts the device in GETTING_READY (legacy state 5) for restart_ms, with its clients gone, and
 * it comes back ONLINE with its uptime from zero. Sessions expire after session_lifetime_s;
 * writes through UniFi OS need the session's X-CSRF-Token. Everything is mounted under /unifi
 * so the legacy /api paths do not collide with other backends on the simulator's port. */
#include "unifi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/util.h"

#define UF_API_KEY "sim-unifi-api-key-6f1d2c3b4a5e"

struct uf_state uf;

/* Which API the current connection's request went to, for error_body (called after handle
 * on the same thread): 0 integration, 1 legacy. */
static _Thread_local int last_legacy;

static const struct {
	const char *site, *name, *model, *type, *ip, *fw;
	bool online;
	double cpu, mem;
} seed_devices[] = {
	{ "default", "Dream Machine", "UDMPRO", "udm", "192.168.1.1", "4.0.21", true, 14.5, 61.2 },
	{ "default", "Core Switch", "US24P250", "usw", "192.168.1.2", "7.1.26", true, 6.0, 38.4 },
	{ "default", "AP Office", "U6LR", "uap", "192.168.1.3", "6.6.77", true, 9.5, 52.0 },
	{ "default", "AP Garage", "UAL6", "uap", "192.168.1.4", "6.6.77", false, 0, 0 },
	{ "branch", "Branch Switch", "USL8LP", "usw", "10.20.0.2", "7.1.26", true, 3.5, 30.1 },
};

/* name, ip, wired, uplink device index */
static const struct {
	const char *name, *ip;
	bool wired;
	int uplink;
} seed_clients[] = {
	{ "alice-laptop", "192.168.1.50", false, 2 },
	{ "bob-phone", "192.168.1.51", false, 2 },
	{ "nas", "192.168.1.10", true, 1 },
	{ "printer", "192.168.1.11", true, 1 },
	{ "living-room-tv", "192.168.1.52", false, 2 },
	{ "branch-pos", "10.20.0.20", true, 4 },
};

/* --- state ------------------------------------------------------------------------------- */

static void make_ids(unsigned kind, size_t i, char uuid[37], char legacy[25])
{
	unsigned long long x = 0x9e3779b97f4a7c15ULL * (kind * 1000 + i + 1);

	snprintf(uuid, 37, "%08llx-%04llx-4%03llx-a%03llx-%012llx", x >> 32, (x >> 16) & 0xffff,
		 x & 0xfff, (x >> 20) & 0xfff, (x * 31) & 0xffffffffffffULL);
	snprintf(legacy, 25, "65%06x%016llx", kind, x);
}

static void release(void)
{
	json_decref(uf.users);
	memset(&uf, 0, sizeof(uf));
}

static void add_site(const char *name, const char *desc)
{
	struct uf_site *s = &uf.sites[uf.n_sites];

	make_ids(1, uf.n_sites, s->id, s->legacy_id);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->desc, sizeof(s->desc), "%s", desc);
	uf.n_sites++;
}

static void add_device(size_t k)
{
	struct uf_device *d = &uf.devices[uf.n_devices];

	d->site = uf_find_site_by_name(seed_devices[k].site);
	make_ids(2, uf.n_devices, d->id, d->legacy_id);
	snprintf(d->mac, sizeof(d->mac), "74:ac:b9:14:0%zu:%02zx", k / 256, k + 1);
	snprintf(d->name, sizeof(d->name), "%s", seed_devices[k].name);
	snprintf(d->model, sizeof(d->model), "%s", seed_devices[k].model);
	snprintf(d->type, sizeof(d->type), "%s", seed_devices[k].type);
	snprintf(d->ip, sizeof(d->ip), "%s", seed_devices[k].ip);
	snprintf(d->firmware, sizeof(d->firmware), "%s", seed_devices[k].fw);
	d->state = seed_devices[k].online ? UF_ONLINE : UF_OFFLINE;
	d->boot_ms = cx_now_ms() - (int64_t)(86400 + 3600 * k) * 1000;
	d->cpu = seed_devices[k].cpu;
	d->mem = seed_devices[k].mem;
	d->load1 = d->cpu / 40.0;
	d->load5 = d->cpu / 45.0;
	d->load15 = d->cpu / 50.0;
	d->tx_bps = 2000000 + 350000 * (long)k;
	d->rx_bps = 8000000 + 125000 * (long)k;
	uf.n_devices++;
}

static void add_client(const char *name, const char *ip, bool wired, int uplink)
{
	struct uf_client *c = &uf.clients[uf.n_clients];
	size_t n = uf.n_clients;

	c->site = uf.devices[uplink].site;
	make_ids(3, n, c->id, c->legacy_id);
	snprintf(c->mac, sizeof(c->mac), "3c:22:fb:%02zx:%02zx:%02zx", (n >> 16) & 0xff,
		 (n >> 8) & 0xff, n & 0xff);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->wired = wired;
	c->uplink = uplink;
	c->connected_ms = cx_now_ms() - (int64_t)(600 + 60 * n) * 1000;
	uf.n_clients++;
}

static int load(const json_t *conf, char *err, size_t errlen)
{
	static const char *const keys[] = { "api_key",    "users",         "session_lifetime_s",
					    "restart_ms", "extra_clients", NULL };
	const char *key = UF_API_KEY;
	json_t *users = NULL;
	double lifetime = 7200;
	json_int_t restart = 1500, extra = 0;
	size_t i;

	release();
	if (conf != NULL && sim_check_keys(conf, "unifi", keys, err, errlen) != 0)
		return -1;
	if (conf != NULL && (json_unpack((json_t *)conf, "{s?s,s?o,s?F,s?I,s?I}", "api_key", &key,
					 "users", &users, "session_lifetime_s", &lifetime,
					 "restart_ms", &restart, "extra_clients", &extra) != 0 ||
			     strlen(key) >= sizeof(uf.api_key) ||
			     (users && !json_is_object(users)) || lifetime <= 0 || restart < 0 ||
			     restart > 600000 || extra < 0 || extra > UF_MAX_CLIENTS - 16)) {
		snprintf(err, errlen,
			 "'unifi': api_key (string), users {name: password}, session_lifetime_s "
			 "(> 0), restart_ms (0-600000), extra_clients (0-%d) have the wrong type "
			 "or range",
			 UF_MAX_CLIENTS - 16);
		return -1;
	}
	snprintf(uf.api_key, sizeof(uf.api_key), "%s", key);
	uf.users =
		users ? json_deep_copy(users) : json_pack("{s:s}", "admin", "sim-unifi-password");
	uf.session_lifetime_s = lifetime;
	uf.restart_ms = (long)restart;
	add_site("default", "Default");
	add_site("branch", "Branch Office");
	for (i = 0; i < sizeof(seed_devices) / sizeof(seed_devices[0]); i++)
		add_device(i);
	for (i = 0; i < sizeof(seed_clients) / sizeof(seed_clients[0]); i++)
		add_client(seed_clients[i].name, seed_clients[i].ip, seed_clients[i].wired,
			   seed_clients[i].uplink);
	for (i = 0; i < (size_t)extra; i++) {
		char name[32], ip[40];

		snprintf(name, sizeof(name), "guest-%03zu", i + 1);
		snprintf(ip, sizeof(ip), "192.168.%zu.%zu", 2 + i / 250, 1 + i % 250);
		add_client(name, ip, false, 2);
	}
	return uf.users ? 0 : -1;
}

int uf_find_site_by_id(const char *id)
{
	for (size_t i = 0; i < uf.n_sites; i++)
		if (!strcmp(uf.sites[i].id, id))
			return (int)i;
	return -1;
}

int uf_find_site_by_name(const char *name)
{
	for (size_t i = 0; i < uf.n_sites; i++)
		if (!strcmp(uf.sites[i].name, name))
			return (int)i;
	return -1;
}

long uf_uptime_s(const struct uf_device *d)
{
	return d->state == UF_ONLINE ? (long)((cx_now_ms() - d->boot_ms) / 1000) : 0;
}

bool uf_client_visible(const struct uf_client *c)
{
	return uf.devices[c->uplink].state == UF_ONLINE;
}

void uf_restart(size_t i)
{
	uf.devices[i].state = UF_RESTARTING;
	uf.devices[i].restart_until_ms = cx_now_ms() + uf.restart_ms;
}

/* Restarts whose time has come are over: the device is up again from then. */
static void settle(void)
{
	int64_t now = cx_now_ms();

	for (size_t i = 0; i < uf.n_devices; i++) {
		struct uf_device *d = &uf.devices[i];

		if (d->state == UF_RESTARTING && now >= d->restart_until_ms) {
			d->state = UF_ONLINE;
			d->boot_ms = d->restart_until_ms;
		}
	}
}

/* --- sessions ------------------------------------------------------------------------------ */

/* The value of cookie name in a Cookie header, into out; false when absent. */
static bool cookie_value(const char *cookie, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	for (const char *p = cookie; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		if (!strncmp(p, name, n) && p[n] == '=') {
			size_t len = strcspn(p + n + 1, ";");

			if (len >= outlen)
				return false;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			return true;
		}
		p = strchr(p, ';');
	}
	return false;
}

static struct uf_session *find_session(const struct sim_request *req, bool classic)
{
	const char *cookie = sim_header(req, MHD_HTTP_HEADER_COOKIE);
	size_t n = uf.n_sessions < UF_MAX_SESSIONS ? uf.n_sessions : UF_MAX_SESSIONS;
	int64_t life = (int64_t)(uf.session_lifetime_s * 1000.0);
	char tok[80];

	if (!cookie || !cookie_value(cookie, classic ? "unifises" : "TOKEN", tok, sizeof(tok)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct uf_session *s = &uf.sessions[i];

		if (s->classic == classic && !strcmp(s->token, tok) &&
		    cx_now_ms() - s->issued_ms < life)
			return s;
	}
	return NULL;
}

static bool password_ok(const char *user, const char *password)
{
	const char *want = json_string_value(json_object_get(uf.users, user));
	size_t len = want ? strlen(want) : 0;

	return want && strlen(password) == len && cx_ct_equal(want, password, len);
}

static void login(const struct sim_request *req, bool classic, struct sim_response *resp)
{
	json_t *body = sim_body_params(req);
	const char *user = json_string_value(json_object_get(body, "username"));
	const char *pass = json_string_value(json_object_get(body, "password"));
	struct uf_session *s = &uf.sessions[uf.n_sessions % UF_MAX_SESSIONS];
	char hex[33], cookie[160], csrf_cookie[96];

	if (strcmp(req->method, "POST")) {
		uf_legacy_fail(resp, 404, "api.err.NotFound");
	} else if (!user || !pass || !password_ok(user, pass)) {
		if (classic)
			uf_legacy_fail(resp, 400, "api.err.Invalid");
		else
			sim_reply(resp, 403,
				  json_pack("{s:s,s:s}", "code", "AUTHENTICATION_FAILED", "message",
					    "Authentication failed"));
	} else if (cx_random_hex(s->token, sizeof(s->token), 32) ||
		   cx_random_hex(hex, sizeof(hex), 16)) {
		sim_reply(resp, 500, NULL);
	} else {
		snprintf(s->csrf, sizeof(s->csrf), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
			 hex + 12, hex + 16, hex + 20);
		s->classic = classic;
		s->issued_ms = cx_now_ms();
		uf.n_sessions++;
		snprintf(cookie, sizeof(cookie), "%s=%s; path=/; secure; httponly",
			 classic ? "unifises" : "TOKEN", s->token);
		snprintf(csrf_cookie, sizeof(csrf_cookie), "csrf_token=%s; path=/; secure",
			 s->csrf);
		if (classic) {
			sim_reply(resp, 200,
				  json_pack("{s:{s:s},s:[]}", "meta", "rc", "ok", "data"));
			resp->headers = json_pack("{s:[s,s]}", "Set-Cookie", cookie, csrf_cookie);
		} else {
			sim_reply(resp, 200,
				  json_pack("{s:s,s:s,s:b}", "unique_id", s->csrf, "username", user,
					    "isOwner", 1));
			resp->headers = json_pack("{s:s,s:s}", "Set-Cookie", cookie, "X-CSRF-Token",
						  s->csrf);
		}
	}
	json_decref(body);
}

/* The legacy API after its session (and, through UniFi OS, the CSRF token on writes). */
static void legacy(const struct sim_request *req, const char *path, bool classic,
		   struct sim_response *resp)
{
	struct uf_session *s = find_session(req, classic);
	const char *csrf = sim_header(req, "X-CSRF-Token");

	if (!s) {
		if (classic)
			uf_legacy_fail(resp, 401, "api.err.LoginRequired");
		else
			sim_reply(resp, 401,
				  json_pack("{s:{s:i,s:s}}", "error", "code", 401, "message",
					    "Unauthorized"));
		return;
	}
	if (!classic && strcmp(req->method, "GET") && (!csrf || strcmp(csrf, s->csrf))) {
		sim_reply(resp, 403, json_pack("{s:s}", "message", "Invalid CSRF Token"));
		return;
	}
	uf_legacy(req, path, classic, resp);
}

/* path starts with prefix followed by '/' or its end: *rest is what follows. */
static bool under(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) || (path[n] != '/' && path[n] != '\0'))
		return false;
	*rest = path + n;
	return true;
}

static void handle(const struct sim_request *req, struct sim_response *resp)
{
	const char *p = req->path, *rest;

	settle();
	last_legacy = 0;
	if (under(p, "/proxy/network/integration/v1", &rest) ||
	    under(p, "/integration/v1", &rest)) {
		uf_integration(req, rest, resp);
		return;
	}
	last_legacy = 1;
	if (!strcmp(p, "/api/auth/login"))
		login(req, false, resp);
	else if (!strcmp(p, "/api/login"))
		login(req, true, resp);
	else if (under(p, "/proxy/network/api", &rest))
		legacy(req, rest, false, resp);
	else if (under(p, "/api", &rest))
		legacy(req, rest, true, resp);
	else
		uf_legacy_fail(resp, 404, "api.err.NotFound");
}

static json_t *error_body(unsigned int status, const char *message)
{
	if (last_legacy)
		return json_pack("{s:{s:s,s:s},s:[]}", "meta", "rc", "error", "msg", message,
				 "data");
	return uf_integration_error(status, "api.request.failed", message, "");
}

const struct sim_backend sim_unifi = {
	.name = "unifi",
	.prefix = "/unifi",
	.load = load,
	.handle = handle,
	.error_body = error_body,
	.release = release,
	.help = "  UniFi Network under /unifi (adapter url: http(s)://127.0.0.1:PORT/unifi)\n"
		"    integration: /proxy/network/integration/v1 (or /integration/v1, classic),\n"
		"               X-API-KEY: " UF_API_KEY "\n"
		"    legacy:    POST /api/auth/login (UniFi OS: TOKEN cookie, X-CSRF-Token on\n"
		"               writes, paths under /proxy/network) or POST /api/login (classic:\n"
		"               unifises cookie); admin / sim-unifi-password\n"
		"    state:     sites default and branch, 5 devices (AP Garage offline), 6 clients;\n"
		"               a restart keeps a device GETTING_READY (legacy state 5) for\n"
		"               restart_ms (1500); sessions last session_lifetime_s (7200);\n"
		"               extra_clients adds that many wireless clients to default\n",
};
