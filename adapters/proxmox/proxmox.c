/* The Proxmox VE adapter: configuration, health, and the tool table (handlers in tools.c,
 * requests in api.c).
 *
 *   "proxmox": {"url": "https://pve1:8006", "token_id": "cortex@pve!gateway",
 *               "token_secret": {"file": "/run/secrets/pve-token"},
 *               "fingerprint": "AB:CD:...", "timeout_ms": 15000, "retries": 3}
 *
 * or "username" + "password" (a {"file"}/{"env"} reference) for ticket authentication, and
 * optionally "ssh" for proxmox_node_exec (node_exec.h). */
#include "proxmox.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/adapter_conf.h"
#include "../../common/log.h"
#include "../../common/util.h"
#include "api.h"
#include "node_exec.h"
#include "tools.h"

extern const char adapters_proxmox_tools_json[];
extern const char adapters_proxmox_resources_json[];

static const char *const known_keys[] = {
	"url",        "token_id",    "token_secret", "username",
	"password",   "fingerprint", "ca_file",      "insecure_skip_verify",
	"timeout_ms", "retries",     "task_poll_ms", "ssh",
	NULL
};

static void px_free(struct px_state *s)
{
	if (!s)
		return;
	cx_http_client_free(s->http);
	free(s->url);
	free(s->username);
	cx_secret_release(&s->token_header);
	cx_secret_release(&s->password);
	cx_secret_release(&s->ticket);
	cx_secret_release(&s->csrf);
	pthread_mutex_destroy(&s->ticket_lock);
	px_ssh_free(s->ssh);
	free(s);
}

/* token_id + token_secret, or username + password: exactly one. */
static int load_credentials(struct px_state *s, const json_t *conf, struct cx_err *err)
{
	const char *token_id = cx_aconf_str(conf, "token_id"),
		   *user = cx_aconf_str(conf, "username");
	struct cx_secret secret = { 0 };
	int rc;

	if (!token_id == !user)
		return cx_err_set(err,
				  "set either 'token_id' with 'token_secret' (an API token) or "
				  "'username' with 'password' (a ticket)");
	if (token_id) {
		if (!strchr(token_id, '@') || !strchr(token_id, '!'))
			return cx_err_set(err, "'token_id' must look like USER@REALM!TOKENID, e.g. "
					       "cortex@pve!gateway");
		if (cx_secret_load(json_object_get(conf, "token_secret"), &secret, "token_secret",
				   err))
			return -1;
		s->token_header.data = malloc(strlen(token_id) + secret.len + 64);
		rc = s->token_header.data ? 0 : cx_err_set(err, "out of memory");
		if (!rc)
			s->token_header.len = (size_t)snprintf((char *)s->token_header.data,
							       strlen(token_id) + secret.len + 64,
							       "Authorization: PVEAPIToken=%s=%s",
							       token_id, secret.data);
		cx_secret_release(&secret);
		return rc;
	}
	s->username = strdup(user);
	if (!s->username)
		return cx_err_set(err, "out of memory");
	return cx_secret_load(json_object_get(conf, "password"), &s->password, "password", err);
}

static int build_client(struct px_state *s, const json_t *conf, struct cx_err *err)
{
	struct cx_http_client_opts o = { .service = "proxmox" };
	char base[600];

	if (!s->url || (strncmp(s->url, "https://", 8) && strncmp(s->url, "http://", 7)) ||
	    strchr(s->url + 8, '/'))
		return cx_err_set(err,
				  "'url' must be the host, e.g. https://pve1:8006 (the adapter "
				  "adds /api2/json)");
	if (cx_aconf_http(conf, &o, &s->timeout_ms, err))
		return -1;
	if (!cx_fmt(base, sizeof(base), "%s/api2/json", s->url))
		return cx_err_set(err, "'url' is too long");
	o.base_url = base;
	/* cx_http_client_new warns about insecure_skip_verify itself. */
	s->http = cx_http_client_new(&o, err);
	return s->http ? 0 : -1;
}

static int px_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct px_state *s = calloc(1, sizeof(*s));

	if (!s)
		return cx_err_set(err, "out of memory");
	pthread_mutex_init(&s->ticket_lock, NULL);
	s->timeout_ms = 15000;
	s->task_poll_ms = 500;
	s->url = cx_aconf_str(conf, "url") ? strdup(cx_aconf_str(conf, "url")) : NULL;
	if (cx_aconf_keys(conf, known_keys, "", err) ||
	    cx_aconf_int(conf, "task_poll_ms", 50, 10000, &s->task_poll_ms, err) ||
	    build_client(s, conf, err) || load_credentials(s, conf, err) ||
	    (json_object_get(conf, "ssh") &&
	     !(s->ssh = px_ssh_new(json_object_get(conf, "ssh"), err)))) {
		px_free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static void px_cleanup(void *state)
{
	px_free(state);
}

/* The API answers /version to any authenticated caller: reachability, TLS and credentials. */
static int px_health(void *state, struct cx_err *err)
{
	json_t *data = NULL;
	int rc = px_request(state, NULL, "GET", "/version", NULL, &data, err);

	json_decref(data);
	return rc;
}

static json_t *px_status(void *state)
{
	const struct px_state *s = state;

	return cx_http_client_status(s->http);
}

/* proxmox_node_exec is what its allow-list makes it: read-only diagnostics by default, a
 * tool that may change the node when the operator allows more. */
static unsigned px_tool_flags(void *state, const char *tool, unsigned flags)
{
	const struct px_state *s = state;

	if (strcmp(tool, "proxmox_node_exec") || px_ssh_read_only(s->ssh))
		return flags;
	return (flags & ~CX_READ_ONLY) | CX_DESTRUCTIVE;
}

static const struct cx_tool px_tools[] = {
	{ "proxmox_list_nodes", px_list_nodes, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD,
	  &px_list_nodes_fast },
	{ "proxmox_get_node_status", px_get_node_status,
	  CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD, &px_node_status_fast },
	{ "proxmox_list_vms", px_list_vms, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD,
	  &px_list_vms_fast },
	{ "proxmox_get_vm_status", px_get_vm_status, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "proxmox_get_vm_config", px_get_vm_config, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "proxmox_get_cluster_resources", px_get_cluster_resources,
	  CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD, &px_cluster_resources_fast },
	{ "proxmox_get_cluster_status", px_get_cluster_status,
	  CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD, &px_cluster_status_fast },
	{ "proxmox_get_task_status", px_get_task_status,
	  CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "proxmox_vm_action", px_vm_action, CX_DESTRUCTIVE | CX_OPEN_WORLD | CX_TASK_OPTIONAL },
	/* Static flags: the interface cannot change them at configure time, and ssh.allow may
	 * let it run commands that change the node, so never read-only. */
	/* Read-only as the table says; destructive when ssh.allow goes past the defaults. */
	{ "proxmox_node_exec", px_node_exec, CX_READ_ONLY | CX_OPEN_WORLD },
	{ NULL, NULL, 0, NULL },
};

const struct cx_adapter cx_proxmox_adapter = {
	.name = "proxmox",
	.tools_json = adapters_proxmox_tools_json,
	.tools = px_tools,
	.init = px_init,
	.cleanup = px_cleanup,
	.health = px_health,
	.status = px_status,
	.tool_flags = px_tool_flags,
	.resources_json = adapters_proxmox_resources_json,
	.read_resource = px_read_resource,
};
