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

#include "../../common/util.h"
#include "api.h"
#include "tools.h"

extern const char adapters_sandfly_tools_json[];

#define SF_KEYS                                                                                    \
	"url, username, password, fingerprint, ca_file, insecure_skip_verify, timeout_ms, "        \
	"retries"

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

static int check_keys(const json_t *conf, struct cx_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)conf, key, v) {
		size_t i;
		for (i = 0; known_keys[i] && strcmp(known_keys[i], key); i++)
			;
		if (!known_keys[i])
			return cx_err_set(err, "unknown key '%s' (known: " SF_KEYS ")", key);
	}
	return 0;
}

/* An optional integer key within [min, max]; *out keeps its default when absent. */
static int int_key(const json_t *conf, const char *key, long min, long max, long *out,
		   struct cx_err *err)
{
	const json_t *v = json_object_get(conf, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return cx_err_set(err, "'%s' must be an integer from %ld to %ld", key, min, max);
	*out = (long)json_integer_value(v);
	return 0;
}

static const char *str_key(const json_t *conf, const char *key)
{
	return json_string_value(json_object_get(conf, key));
}

static int build_client(struct sf_state *s, const json_t *conf, long retries, struct cx_err *err)
{
	const json_t *skip = json_object_get(conf, "insecure_skip_verify");
	struct cx_http_client_opts o = { .service = "sandfly", .retries = (int)retries };
	const char *p;
	char base[600];

	if (!s->url || (strncmp(s->url, "https://", 8) && strncmp(s->url, "http://", 7)) ||
	    ((p = strchr(s->url + 8, '/')) && p[1] != '\0'))
		return cx_err_set(err, "'url' must be the server, e.g. https://sandfly.example.com "
				       "(the adapter adds /v4)");
	if (skip && !json_is_boolean(skip))
		return cx_err_set(err, "'insecure_skip_verify' must be true or false");
	if (!cx_fmt(base, sizeof(base), "%.*s/v4", (int)strcspn(s->url + 8, "/") + 8, s->url))
		return cx_err_set(err, "'url' is too long");
	o.base_url = base;
	o.ca_file = str_key(conf, "ca_file");
	o.fingerprint = str_key(conf, "fingerprint");
	o.insecure_skip_verify = json_is_true(skip);
	/* cx_http_client_new warns about insecure_skip_verify itself. */
	s->http = cx_http_client_new(&o, err);
	return s->http ? 0 : -1;
}

static int load_credentials(struct sf_state *s, const json_t *conf, struct cx_err *err)
{
	const char *user = str_key(conf, "username");

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
	long retries = 3;

	if (!s)
		return cx_err_set(err, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	s->timeout_ms = 15000;
	s->url = str_key(conf, "url") ? strdup(str_key(conf, "url")) : NULL;
	if (check_keys(conf, err) ||
	    int_key(conf, "timeout_ms", 100, 600000, &s->timeout_ms, err) ||
	    int_key(conf, "retries", 0, 10, &retries, err) || build_client(s, conf, retries, err) ||
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
