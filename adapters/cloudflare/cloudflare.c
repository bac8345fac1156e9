/* The Cloudflare adapter: configuration, health, the tools.
 *
 *   "cloudflare": {"api_token": {"file": "/run/secrets/cf-token"}, "account_id": "...",
 *                  "url": "https://api.cloudflare.com/client/v4", "timeout_ms": 15000,
 *                  "retries": 3}
 *
 * Cloudflare allows 1200 requests per 5 minutes; a 429 carries Retry-After, which the HTTP
 * client honours when it fits the call's deadline. */
#include "cloudflare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/adapter_conf.h"
#include "../../common/mcp.h"
#include "../../common/util.h"
#include "api.h"
#include "tools.h"

extern const char adapters_cloudflare_tools_json[];

static const char *const known_keys[] = { "api_token",  "account_id",  "url",
					  "ca_file",    "fingerprint", "insecure_skip_verify",
					  "timeout_ms", "retries",     NULL };

static void cf_free(struct cf_state *s)
{
	if (!s)
		return;
	cx_http_client_free(s->http);
	cx_secret_release(&s->auth);
	free(s->account_id);
	free(s);
}

static int cf_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct cf_state *s = calloc(1, sizeof(*s));
	const char *url = json_string_value(json_object_get(conf, "url"));
	const char *account = json_string_value(json_object_get(conf, "account_id"));
	struct cx_http_client_opts o = { .service = "cloudflare" };
	struct cx_secret token = { 0 };

	if (!s)
		return cx_err_set(err, "out of memory");
	s->timeout_ms = 15000;
	if (cx_aconf_keys(conf, known_keys, "", err) ||
	    cx_aconf_http(conf, &o, &s->timeout_ms, err))
		goto fail;
	o.base_url = url ? url : CF_DEFAULT_URL;
	if (account && !(s->account_id = strdup(account))) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	s->http = cx_http_client_new(&o, err);
	if (!s->http ||
	    cx_secret_load(json_object_get(conf, "api_token"), &token, "api_token", err))
		goto fail;
	s->auth.data = malloc(token.len + 32);
	if (!s->auth.data) {
		cx_secret_release(&token);
		cx_err_set(err, "out of memory");
		goto fail;
	}
	s->auth.len = (size_t)snprintf((char *)s->auth.data, token.len + 32,
				       "Authorization: Bearer %s", token.data);
	cx_secret_release(&token);
	*state = s;
	return 0;
fail:
	cf_free(s);
	return -1;
}

static void cf_cleanup(void *state)
{
	cf_free(state);
}

/* The token is valid and active. */
static int cf_health(void *state, struct cx_err *err)
{
	json_t *result = NULL;
	int rc = cf_request(state, NULL, "GET", "/user/tokens/verify", NULL, &result, NULL, err);
	const char *status = json_string_value(json_object_get(result, "status"));

	if (!rc && status && strcmp(status, "active"))
		rc = cx_err_set(err, "the API token's status is '%s', not active", status);
	json_decref(result);
	return rc;
}

static json_t *cf_status(void *state)
{
	const struct cf_state *s = state;

	return cx_http_client_status(s->http);
}

static const struct cx_tool cf_tools[] = {
	{ "cloudflare_list_zones", cf_list_zones, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "cloudflare_get_dns", cf_get_dns, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "cloudflare_create_dns_record", cf_create_dns_record, CX_OPEN_WORLD },
	{ "cloudflare_update_dns_record", cf_update_dns_record, CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "cloudflare_delete_dns_record", cf_delete_dns_record,
	  CX_DESTRUCTIVE | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_cloudflare_adapter = {
	.name = "cloudflare",
	.tools_json = adapters_cloudflare_tools_json,
	.tools = cf_tools,
	.init = cf_init,
	.cleanup = cf_cleanup,
	.health = cf_health,
	.status = cf_status,
};
