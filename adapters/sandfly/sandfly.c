/* The Sandfly Security adapter: configuration, health, and the tool table (handlers in tools.c,
 * requests and the shared token in api.c).
 *
 *   "sandfly": {"url": "https://sandfly.example.com", "username": "cortex",
 *               "password": {"file": "/run/secrets/sandfly-password"},
 *               "fingerprint": "AB:CD:...", "timeout_ms": 15000, "retries": 3}
 *
 * Sandfly servers commonly have a self-signed certificate: trust it with ca_file, pin it with
 * fingerprint, or (warned about) insecure_skip_verify. */
#include "sandfly.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/adapter_conf.h"
#include "../../common/util.h"
#include "api.h"
#include "tools.h"

extern const char adapters_sandfly_tools_json[];

static const char *const known_keys[] = { "url",         "username", "password",
					  "fingerprint", "ca_file",  "insecure_skip_verify",
					  "timeout_ms",  "retries",  NULL };

static void sf_free(struct sf_state *s)
{
	if (!s)
		return;
	cx_http_client_free(s->http);
	free(s->url);
	free(s->username);
	cx_secret_release(&s->password);
	cx_secret_release(&s->access);
	cx_secret_release(&s->refresh);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int build_client(struct sf_state *s, const json_t *conf, struct cx_err *err)
{
	struct cx_http_client_opts o = { .service = "sandfly" };
	const char *p;
	char base[600];

	if (!s->url || (strncmp(s->url, "https://", 8) && strncmp(s->url, "http://", 7)) ||
	    ((p = strchr(s->url + 8, '/')) && p[1] != '\0'))
		return cx_err_set(err, "'url' must be the server, e.g. https://sandfly.example.com "
				       "(the adapter adds /v4)");
	if (cx_aconf_http(conf, &o, &s->timeout_ms, err))
		return -1;
	if (!cx_fmt(base, sizeof(base), "%.*s/v4", (int)strcspn(s->url + 8, "/") + 8, s->url))
		return cx_err_set(err, "'url' is too long");
	o.base_url = base;
	/* cx_http_client_new warns about insecure_skip_verify itself. */
	s->http = cx_http_client_new(&o, err);
	return s->http ? 0 : -1;
}

static int load_credentials(struct sf_state *s, const json_t *conf, struct cx_err *err)
{
	const char *user = cx_aconf_str(conf, "username");

	if (!user || !user[0])
		return cx_err_set(err, "'username' is required: the Sandfly user the adapter logs "
				       "in as (with 'password')");
	s->username = strdup(user);
	if (!s->username)
		return cx_err_set(err, "out of memory");
	return cx_secret_load(json_object_get(conf, "password"), &s->password, "password", err);
}

static int sf_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct sf_state *s = calloc(1, sizeof(*s));

	if (!s)
		return cx_err_set(err, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->timeout_ms = 15000;
	s->url = cx_aconf_str(conf, "url") ? strdup(cx_aconf_str(conf, "url")) : NULL;
	if (cx_aconf_keys(conf, known_keys, "", err) || build_client(s, conf, err) ||
	    load_credentials(s, conf, err)) {
		sf_free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static void sf_cleanup(void *state)
{
	sf_free(state);
}

/* GET /version answers any logged-in user: reachability, TLS and credentials at once. */
static int sf_health(void *state, struct cx_err *err)
{
	json_t *v = NULL;
	long status;
	int rc = sf_request(state, NULL, "GET", "/version", NULL, false, &status, &v, err);

	json_decref(v);
	return rc;
}

static json_t *sf_status(void *state)
{
	const struct sf_state *s = state;

	return cx_http_client_status(s->http);
}

static const struct cx_tool sf_tools[] = {
	{ "sandfly_list_hosts", sf_list_hosts, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "sandfly_get_host", sf_get_host, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "sandfly_get_results", sf_get_results, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "sandfly_query", sf_query, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "sandfly_start_scan", sf_start_scan, CX_OPEN_WORLD },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_sandfly_adapter = {
	.name = "sandfly",
	.tools_json = adapters_sandfly_tools_json,
	.tools = sf_tools,
	.init = sf_init,
	.cleanup = sf_cleanup,
	.health = sf_health,
	.status = sf_status,
};
