/* The Kubernetes adapter: configuration, health and the tool table (reads in tools.c, writes
 * in tools_write.c, kinds in discovery.c, credentials in kubeconfig.c, requests in api.c).
 *
 *   "kubectl": {"kubeconfig": "/etc/cortex/kubeconfig", "context": "prod",
 *               "namespace": "default", "timeout_ms": 15000, "retries": 3}
 *
 * or {"in_cluster": true} in a pod (service-account token re-read as it rotates). */
#include "kubectl.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/yaml.h"
#include "../../common/adapter_conf.h"
#include "../../common/util.h"
#include "api.h"
#include "discovery.h"
#include "tools.h"

extern const char adapters_kubectl_tools_json[];

static const char *const known_keys[] = { "kubeconfig", "context",
					  "in_cluster", "service_account_dir",
					  "namespace",  "timeout_ms",
					  "retries",    NULL };

static void kc_free(struct kc_state *s)
{
	if (!s)
		return;
	cx_http_client_free(s->http);
	kc_creds_release(&s->creds);
	json_decref(s->disc);
	json_decref(s->builtin);
	pthread_mutex_destroy(&s->disc_lock);
	free(s);
}

static int check_conf(const json_t *conf, long *timeout_ms, long *retries, struct cx_err *err)
{
	static const char *const strings[] = { "kubeconfig", "context", "service_account_dir",
					       "namespace", NULL };
	const json_t *v = json_object_get(conf, "in_cluster");

	if (cx_aconf_keys(conf, known_keys, "", err) || cx_aconf_strings(conf, strings, err))
		return -1;
	if (v && !json_is_boolean(v))
		return cx_err_set(err, "'in_cluster' must be true or false");
	if (json_is_true(v) &&
	    (json_object_get(conf, "kubeconfig") || json_object_get(conf, "context")))
		return cx_err_set(err, "set either 'in_cluster' or 'kubeconfig'/'context'");
	return cx_aconf_int(conf, "timeout_ms", 100, 600000, timeout_ms, err) ||
			       cx_aconf_int(conf, "retries", 0, 10, retries, err)
		       ? -1
		       : 0;
}

static int build_client(struct kc_state *s, long retries, struct cx_err *err)
{
	struct kc_creds *c = &s->creds;
	struct cx_http_client_opts o = {
		.service = "kubernetes",
		.base_url = c->server,
		.ca_file = c->ca_file,
		.ca_pem = c->ca_pem,
		.insecure_skip_verify = c->insecure,
		.retries = (int)retries,
		.client_cert_file = c->cert_file,
		.client_key_file = c->key_file,
		.client_cert_pem = c->cert_pem,
		.client_key_pem = (const char *)c->key_pem.data,
	};

	s->http = cx_http_client_new(&o, err);
	if (!s->http)
		return cx_err_prefix(err, "kubeconfig context '%s': ", c->context);
	return 0;
}

static int kc_init(const json_t *conf, void **state, struct cx_err *err)
{
	struct kc_state *s = calloc(1, sizeof(*s));
	const char *ns = json_string_value(json_object_get(conf, "namespace"));
	long retries = 3;
	int rc;

	if (!s)
		return cx_err_set(err, "out of memory");
	pthread_mutex_init(&s->disc_lock, NULL);
	s->timeout_ms = 15000;
	s->builtin = kd_builtin();
	if (!s->builtin || check_conf(conf, &s->timeout_ms, &retries, err))
		goto fail;
	if (json_is_true(json_object_get(conf, "in_cluster")))
		rc = kc_load_in_cluster(json_string_value(
						json_object_get(conf, "service_account_dir")),
					&s->creds, err);
	else
		rc = kc_load_kubeconfig(json_string_value(json_object_get(conf, "kubeconfig")),
					json_string_value(json_object_get(conf, "context")),
					&s->creds, err);
	if (rc || build_client(s, retries, err))
		goto fail;
	if (ns) {
		free(s->creds.ns);
		if (!(s->creds.ns = strdup(ns))) {
			cx_err_set(err, "out of memory");
			goto fail;
		}
	}
	cx_info("kubectl: %s (context '%s', default namespace '%s', TLS %s)", s->creds.server,
		s->creds.context, s->creds.ns, cx_http_client_tls(s->http));
	*state = s;
	return 0;
fail:
	kc_free(s);
	return -1;
}

static void kc_cleanup(void *state)
{
	kc_free(state);
}

/* /version answers any authenticated caller: reachability, TLS and credentials. */
static int kc_health(void *state, struct cx_err *err)
{
	json_t *v = NULL;
	int rc = kc_get_json(state, NULL, "/version", &v, err);

	json_decref(v);
	return rc;
}

static void audit_object(json_t *list, const json_t *o)
{
	const json_t *md = json_object_get(o, "metadata");

	if (json_is_array(json_object_get(o, "items"))) { /* a List */
		size_t i;
		json_t *item;
		json_array_foreach(json_object_get(o, "items"), i, item)
			audit_object(list, item);
		return;
	}
	json_array_append_new(list,
			      json_pack("{s:s?, s:s?, s:s?}", "kind",
					json_string_value(json_object_get(o, "kind")), "name",
					json_string_value(json_object_get(md, "name")), "namespace",
					json_string_value(json_object_get(md, "namespace"))));
}

/* A manifest can carry a Secret's data under keys no redaction recognises: the audit line
 * records what was applied (kinds, names, namespaces), its size and its SHA-256, never its
 * text. */
static json_t *kc_audit_args(const char *tool, const json_t *args)
{
	const json_t *m = json_object_get(args, "manifest");
	json_t *shown, *docs, *objects, *d;
	char hex[65];
	size_t i;

	if (strcmp(tool, "kubectl_apply") || !json_is_string(m))
		return NULL;
	shown = json_deep_copy(args);
	objects = json_array();
	cx_sha256_hex(json_string_value(m), json_string_length(m), hex);
	docs = cx_yaml_load_all(json_string_value(m), json_string_length(m), NULL);
	json_array_foreach(docs, i, d)
		audit_object(objects, d);
	json_decref(docs);
	if (!shown || !objects ||
	    json_object_set_new(shown, "manifest",
				json_pack("{s:I, s:s, s:O}", "bytes",
					  (json_int_t)json_string_length(m), "sha256", hex,
					  "objects", objects))) {
		json_decref(shown);
		shown = json_pack("{s:s}", "manifest", "[not recorded]");
	}
	json_decref(objects);
	return shown;
}

static const struct cx_tool kc_tools[] = {
	{ "kubectl_get", kc_get, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_describe", kc_describe, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_logs", kc_logs, CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_rollout_status", kc_rollout_status,
	  CX_READ_ONLY | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_apply", kc_apply, CX_DESTRUCTIVE | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_delete", kc_delete, CX_DESTRUCTIVE | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_scale", kc_scale, CX_DESTRUCTIVE | CX_IDEMPOTENT | CX_OPEN_WORLD },
	{ "kubectl_rollout_restart", kc_rollout_restart, CX_OPEN_WORLD },
	{ NULL, NULL, 0 },
};

const struct cx_adapter cx_kubectl_adapter = {
	.name = "kubectl",
	.tools_json = adapters_kubectl_tools_json,
	.tools = kc_tools,
	.init = kc_init,
	.cleanup = kc_cleanup,
	.health = kc_health,
	.audit_args = kc_audit_args,
};
