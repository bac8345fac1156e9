/* The UniFi Network adapter: configuration, health, the tool table (handlers in tools.c,
 * lookups in resolve.c, requests in api.c).
 *
 *   "unifi": {"url": "https://192.168.1.1", "api_key": {"file": "/run/secrets/unifi-key"}}
 *
 * the Integration API (mode "integration", the default), or the legacy API with a local
 * account:
 *
 *   "unifi": {"url": "https://192.168.1.1", "mode": "legacy", "username": "cortex",
 *             "password": {"env": "UNIFI_PASSWORD"}}
 *
 * "controller": "classic" for a self-hosted UniFi Network application (no /proxy/network,
 * /api/login); "site" the site tools use when none is named (default "default"). */
#include "unifi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/adapter_conf.h"
#include "../../common/util.h"
#include "api.h"
#include "tools.h"

extern const char adapters_unifi_tools_json[];

static const char *const known_keys[] = {
	"url",        "mode",    "controller", "api_key",     "username",
	"password",   "site",    "ca_file",    "fingerprint", "insecure_skip_verify",
	"timeout_ms", "retries", NULL
};

static void un_free(struct un_state *s)
{
	if (!s)
		return;
	cx_http_client_free(s->http);
	free(s->site);
	free(s->username);
	cx_secret_release(&s->api_key);
	cx_secret_release(&s->password);
	cx_secret_release(&s->cookie);
	cx_secret_release(&s->csrf);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Unknown keys, wrong types and ranges, each named (the connection keys in build_client). */
static int check_conf(const json_t *conf, struct cx_err *err)
{
	static const char *const strings[] = {
		"url", "mode", "controller", "username", "site", NULL
	};

	return cx_aconf_keys(conf, known_keys, "", err) || cx_aconf_strings(conf, strings, err) ? -1
												: 0;
}

/* mode and controller, and the API's base path below url that follows from them. */
static int set_mode(struct un_state *s, const json_t *conf, struct cx_err *err)
{
	const char *mode = cx_aconf_str(conf, "mode"), *ctl = cx_aconf_str(conf, "controller");

	if (mode && strcmp(mode, "integration") && strcmp(mode, "legacy"))
		return cx_err_set(err, "'mode' must be \"integration\" (the default: the "
				       "Integration API with an api_key) or \"legacy\" (username "
				       "and password)");
	if (ctl && strcmp(ctl, "unifi_os") && strcmp(ctl, "classic"))
		return cx_err_set(err, "'controller' must be \"unifi_os\" (the default: a UniFi "
				       "console, paths under /proxy/network) or \"classic\" (a "
				       "self-hosted UniFi Network application)");
	s->legacy = mode && !strcmp(mode, "legacy");
	s->classic = ctl && !strcmp(ctl, "classic");
	snprintf(s->base, sizeof(s->base), "%s%s", s->classic ? "" : "/proxy/network",
		 s->legacy ? "/api" : "/integration/v1");
	return 0;
}

/* api_key for the Integration API, username + password for the legacy one. */
static int load_credentials(struct un_state *s, const json_t *conf, struct cx_err *err)
{
	const char *user = cx_aconf_str(conf, "username");
	struct cx_secret key = { 0 };

	if (!s->legacy) {
		if (user || json_object_get(conf, "password"))
			return cx_err_set(err, "'username' and 'password' are for mode \"legacy\"; "
					       "the Integration API takes 'api_key'");
		if (cx_secret_load(json_object_get(conf, "api_key"), &key, "api_key", err))
			return -1;
		s->api_key.data = malloc(key.len + 16);
		if (s->api_key.data)
			s->api_key.len = (size_t)snprintf((char *)s->api_key.data, key.len + 16,
							  "X-API-KEY: %s", key.data);
		cx_secret_release(&key);
		return s->api_key.data ? 0 : cx_err_set(err, "out of memory");
	}
	if (json_object_get(conf, "api_key"))
		return cx_err_set(err, "'api_key' is for mode \"integration\"; the legacy API "
				       "takes 'username' and 'password'");
	if (!user || !*user)
		return cx_err_set(err, "mode \"legacy\" needs 'username' (a local account of the "
				       "console) and 'password'");
	s->username = strdup(user);
	if (!s->username)
		return cx_err_set(err, "out of memory");
	return cx_secret_load(json_object_get(conf, "password"), &s->password, "password", err);
}

static int build_client(struct un_state *s, const json_t *conf, struct cx_err *err)
{
	struct cx_http_client_opts o = { .service = "unifi" };
	const char *url = cx_aconf_str(conf, "url");
	char base[600];
	size_t n;

	if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)))
		return cx_err_set(err, "'url' must be the console or controller, e.g. "
				       "https://192.168.1.1 or https://unifi.example:8443");
	if (cx_aconf_http(conf, &o, &s->timeout_ms, err))
		return -1;
	if (!cx_fmt(base, sizeof(base), "%s", url))
		return cx_err_set(err, "'url' is too long");
	n = strlen(base);
	while (n && base[n - 1] == '/')
		base[--n] = '\0';
	o.base_url = base;
	s->http = cx_http_client_new(&o, err);
	return s->http ? 0 : -1;
}

static int un_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct un_state *s = calloc(1, sizeof(*s));
	const char *site = cx_aconf_str(conf, "site");

	if (!s)
		return cx_err_set(err, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->timeout_ms = 15000;
	if (check_conf(conf, err) || set_mode(s, conf, err) || build_client(s, conf, err) ||
	    load_credentials(s, conf, err))
		goto fail;
	if (site && !*site) {
		cx_err_set(err, "'site' must name a site (e.g. \"default\")");
		goto fail;
	}
	if (!(s->site = strdup(site ? site : "default"))) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	*state = s;
	return 0;
fail:
	un_free(s);
	return -1;
}

static void un_cleanup(void *state)
{
	un_free(state);
}

/* Reachability, TLS and the credentials: the Integration API's /info, or the legacy API's
 * sites (which logs in when there is no session). */
static int un_health(void *state, struct cx_err *err)
{
	struct un_state *s = state;
	json_t *out = NULL;
	int rc = un_get(s, NULL, s->legacy ? "/self/sites" : "/info", &out, err);

	if (!rc && !s->legacy && !json_is_string(json_object_get(out, "applicationVersion")))
		rc = cx_err_set(err, "unifi answered /info without an applicationVersion; is the "
				     "url a UniFi console with the Integration API?");
	json_decref(out);
	return rc;
}

static json_t *un_status(void *state)
{
	const struct un_state *s = state;

	return cx_http_client_status(s->http);
}

static const struct cx_tool un_tools[] = {
	{ "unifi_list_sites", un_list_sites, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "unifi_list_devices", un_list_devices, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "unifi_get_device_stats", un_get_device_stats,
	  CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "unifi_list_clients", un_list_clients, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "unifi_restart_device", un_restart_device, CX_DESTRUCTIVE | CX_OPEN_WORLD },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_unifi_adapter = {
	.name = "unifi",
	.tools_json = adapters_unifi_tools_json,
	.tools = un_tools,
	.init = un_init,
	.cleanup = un_cleanup,
	.health = un_health,
	.status = un_status,
};
