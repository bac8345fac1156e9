/* Kubernetes under /api, /apis and /version, as ../shared/specs/k8s-core-apps-subset.json and
 * the Kubernetes API conventions describe it: bearer tokens, Status objects on failure,
 * discovery (aggregated apidiscovery.k8s.io/v2 when the client asks for it, else APIVersions,
 * APIGroupList and APIResourceList), and the objects themselves (kubernetes_store.c).
 *
 * The simulator routes by prefix, so Kubernetes is three backends sharing one state:
 * sim_kubernetes (/api, which owns the state and the config key "kubernetes"),
 * sim_kubernetes_apis (/apis) and sim_kubernetes_version (/version). */
#include "sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubernetes.h"

struct k8s_state k8s;

const struct k8s_resource k8s_resources[] = {
	{ "", "v1", "pods", "Pod", "pod", "po", true, "log status" },
	{ "", "v1", "services", "Service", "service", "svc", true, "status" },
	{ "", "v1", "configmaps", "ConfigMap", "configmap", "cm", true, "" },
	{ "", "v1", "namespaces", "Namespace", "namespace", "ns", false, "status" },
	{ "", "v1", "events", "Event", "event", "ev", true, "" },
	{ "apps", "v1", "deployments", "Deployment", "deployment", "deploy", true, "scale status" },
	{ "apps", "v1", "statefulsets", "StatefulSet", "statefulset", "sts", true, "scale status" },
	{ "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
	  "customresourcedefinition", "crd crds", false, "status" },
	{ "example.com", "v1", "widgets", "Widget", "widget", "wd", true, "" },
};
const size_t k8s_nresources = sizeof(k8s_resources) / sizeof(k8s_resources[0]);

#define POD(ns, name, labels, containers, phase, restarts)                                         \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name                   \
	"\",\"namespace\":\"" ns "\",\"labels\":" labels                                           \
	"},\"spec\":{\"nodeName\":\"sim-node-1\","                                                 \
	"\"containers\":" containers "},\"status\":{\"phase\":\"" phase                            \
	"\",\"podIP\":\"10.244.0.7\","                                                             \
	"\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"                               \
	"\"containerStatuses\":[{\"name\":\"c\",\"ready\":true,\"restartCount\":" restarts "}]}}"

#define EVENT(name, kind, obj, type, reason, msg)                                                  \
	"{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"" name                 \
	"\",\"namespace\":\"default\"},\"involvedObject\":{\"kind\":\"" kind "\",\"name\":\"" obj  \
	"\",\"namespace\":\"default\"},\"type\":\"" type "\",\"reason\":\"" reason                 \
	"\",\"message\":\"" msg "\",\"count\":1,\"lastTimestamp\":\"2024-01-01T00:00:00Z\","       \
	"\"source\":{\"component\":\"kubelet\"}}"

static const char
	defaults[] =
		"{\"tokens\":[\"k8ssim-token-0123456789abcdef\"],"
		"\"readonly_tokens\":[\"k8ssim-readonly-token-0123456789\"],"
		"\"objects\":["
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"default\"},"
		"\"status\":{\"phase\":\"Active\"}},"
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kube-system\"},"
		"\"status\":{\"phase\":\"Active\"}},"
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"team-a\"},"
		"\"status\":{\"phase\":\"Active\"}}," POD("default", "web-7d4b9c-abcde",
							  "{\"app\":\"web\"}",
							  "[{\"name\":\"web\",\"image\":\"nginx:1.25\"}]",
							  "Running", "0") "," POD("default",
										  "web-7d4b9c-fghij",
										  "{\"app\":\"web\"}",
										  "[{\"name\":\"web\",\"image\":\"nginx:1.25\"}]",
										  "Running", "0") "," POD("default",
													  "multi",
													  "{\"app\":\"multi\"}", "[{\"name\":\"app\",\"image\":\"busybox\"},{\"name\":\"sidecar\",\"image\":\"envoy\"}]", "Running", "4") "," POD("team-a", "api-0", "{\"app\":\"api\"}", "[{\"name\":\"api\",\"image\":\"api:2\"}]", "Pending", "0") ","
																																										      "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
																																										      "\"namespace\":\"default\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":2,"
																																										      "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":"
																																										      "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\"}]}}}},"
																																										      "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"stuck\","
																																										      "\"namespace\":\"default\"},\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":"
																																										      "{\"app\":\"stuck\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"stuck\"}},"
																																										      "\"spec\":{\"containers\":[{\"name\":\"s\",\"image\":\"nope:0\"}]}}},\"status\":{"
																																										      "\"observedGeneration\":1,\"replicas\":1,\"updatedReplicas\":0,\"conditions\":[{\"type\":\"Progressing\","
																																										      "\"status\":\"False\",\"reason\":\"ProgressDeadlineExceeded\"}]}},"
																																										      "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":"
																																										      "\"default\"},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.0.10\",\"ports\":"
																																										      "[{\"port\":80,\"protocol\":\"TCP\"}],\"selector\":{\"app\":\"web\"}}},"
																																										      "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"app-config\","
																																										      "\"namespace\":\"default\"},\"data\":{\"LOG_LEVEL\":\"info\",\"MODE\":\"prod\"}}," EVENT("web-7d4b9c-abcde.1", "Pod", "web-7d4b9c-abcde", "Normal", "Started", "Started container web") "," EVENT("multi.1",
																																																																			"Pod", "multi", "Warning", "BackOff", "Back-off restarting failed container sidecar") "," EVENT("web.1", "Deployment", "web", "Normal", "ScalingReplicaSet", "Scaled up replica set web-7d4b9c to 2") ","
																																																																																											      "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
																																																																																											      "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
																																																																																											      "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\","
																																																																																											      "\"kind\":\"Widget\",\"shortNames\":[\"wd\"]}}},"
																																																																																											      "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w1\","
																																																																																											      "\"namespace\":\"default\"},\"spec\":{\"size\":3}}],"
																																																																																											      "\"logs\":{\"default/web-7d4b9c-abcde/web\":\"GET / 200\\nGET /healthz 200\\nGET /a 404\\n\","
																																																																																											      "\"default/multi/app\":\"app started\\napp ready\\n\","
																																																																																											      "\"default/multi/sidecar\":\"envoy starting\\n\"},"
																																																																																											      "\"previous_logs\":{\"default/multi/sidecar\":\"panic: sidecar crashed\\n\"}}";

void k8s_fail(struct sim_response *resp, unsigned int code, const char *reason, const char *fmt,
	      ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_reply(resp, code,
		  json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
			    "metadata", "status", "Failure", "message", msg, "reason", reason,
			    "code", (int)code));
}

static const char *reason_for(unsigned int status)
{
	switch (status) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 409:
		return "Conflict";
	case 429:
		return "TooManyRequests";
	case 503:
		return "ServiceUnavailable";
	case 504:
		return "Timeout";
	default:
		return status >= 500 ? "InternalError" : "BadRequest";
	}
}

static json_t *error_body(unsigned int status, const char *message)
{
	return json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
			 "metadata", "status", "Failure", "message", message, "reason",
			 reason_for(status), "code", (int)status);
}

const struct k8s_resource *k8s_find(const char *group, const char *version, const char *plural)
{
	for (size_t i = 0; i < k8s_nresources; i++)
		if (!strcmp(k8s_resources[i].group, group) &&
		    !strcmp(k8s_resources[i].version, version) &&
		    !strcmp(k8s_resources[i].plural, plural))
			return &k8s_resources[i];
	return NULL;
}

const struct k8s_resource *k8s_find_kind(const char *api_version, const char *kind)
{
	const char *slash = api_version ? strchr(api_version, '/') : NULL;

	if (!api_version || !kind)
		return NULL;
	for (size_t i = 0; i < k8s_nresources; i++) {
		const struct k8s_resource *r = &k8s_resources[i];
		size_t gl = slash ? (size_t)(slash - api_version) : 0;
		if (strcmp(r->kind, kind) || strcmp(r->version, slash ? slash + 1 : api_version))
			continue;
		if (strlen(r->group) == gl && !strncmp(r->group, api_version, gl))
			return r;
	}
	return NULL;
}

/* --- state ---------------------------------------------------------------------------------- */

static void release(void)
{
	json_decref(k8s.tokens);
	json_decref(k8s.readonly_tokens);
	json_decref(k8s.objects);
	json_decref(k8s.owners);
	json_decref(k8s.logs);
	json_decref(k8s.previous_logs);
	memset(&k8s, 0, sizeof(k8s));
}

static int load(const json_t *conf, char *err, size_t errlen)
{
	static const char *const keys[] = { "tokens",        "readonly_tokens",  "objects", "logs",
					    "previous_logs", "legacy_discovery", NULL };
	json_t *d = json_loads(defaults, 0, NULL), *o;
	size_t i;

	release();
	if (!d) {
		snprintf(err, errlen, "kubernetes: the built-in state does not parse");
		return -1;
	}
	if (conf && sim_check_keys(conf, "kubernetes", keys, err, errlen)) {
		json_decref(d);
		return -1;
	}
	if (conf)
		json_object_update(d, (json_t *)conf);
	k8s.tokens = json_incref(json_object_get(d, "tokens"));
	k8s.readonly_tokens = json_incref(json_object_get(d, "readonly_tokens"));
	k8s.objects = json_deep_copy(json_object_get(d, "objects"));
	k8s.logs = json_incref(json_object_get(d, "logs"));
	k8s.previous_logs = json_incref(json_object_get(d, "previous_logs"));
	k8s.owners = json_object();
	k8s.legacy_discovery = json_is_true(json_object_get(d, "legacy_discovery"));
	json_decref(d);
	json_array_foreach(k8s.objects, i, o) {
		const struct k8s_resource *r =
			k8s_find_kind(json_string_value(json_object_get(o, "apiVersion")),
				      json_string_value(json_object_get(o, "kind")));
		if (!r) {
			snprintf(err, errlen,
				 "kubernetes: object %zu has an unknown apiVersion/kind", i);
			return -1;
		}
		k8s_stamp(o, r);
	}
	/* The seeded deployment's replicas belong to an earlier client-side apply, so an apply
	 * that changes them without force conflicts, as on a real cluster. */
	json_object_set_new(k8s.owners, "deployments/default/web",
			    json_pack("{s:s}", "spec.replicas", "kubectl-client-side-apply"));
	return 0;
}

static void release_none(void)
{
}

static int load_none(const json_t *conf, char *err, size_t errlen)
{
	return 0;
}

/* --- discovery ------------------------------------------------------------------------------ */

static bool has_sub(const struct k8s_resource *r, const char *sub)
{
	const char *p = strstr(r->subresources, sub);

	return p && (p[strlen(sub)] == ' ' || !p[strlen(sub)]);
}

static json_t *shorts_of(const struct k8s_resource *r)
{
	json_t *a = json_array();
	char buf[64], *save = NULL, *p;

	snprintf(buf, sizeof(buf), "%s", r->shorts);
	for (p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(p));
	return a;
}

static json_t *verbs(void)
{
	return json_pack("[s,s,s,s,s,s,s]", "create", "delete", "get", "list", "patch", "update",
			 "watch");
}

/* An APIResourceList for group/version. */
static json_t *resource_list(const char *group, const char *version)
{
	json_t *res = json_array();
	char gv[128], sub[128];

	snprintf(gv, sizeof(gv), "%s%s%s", group, *group ? "/" : "", version);
	for (size_t i = 0; i < k8s_nresources; i++) {
		const struct k8s_resource *r = &k8s_resources[i];
		char buf[64], *save = NULL, *p;
		if (strcmp(r->group, group) || strcmp(r->version, version))
			continue;
		json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:o,s:o}", "name", r->plural,
						     "singularName", r->singular, "namespaced",
						     r->namespaced, "kind", r->kind, "verbs",
						     verbs(), "shortNames", shorts_of(r)));
		snprintf(buf, sizeof(buf), "%s", r->subresources);
		for (p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
			snprintf(sub, sizeof(sub), "%s/%s", r->plural, p);
			json_array_append_new(res,
					      json_pack("{s:s,s:s,s:b,s:s,s:[s]}", "name", sub,
							"singularName", "", "namespaced",
							r->namespaced, "kind",
							!strcmp(p, "scale") ? "Scale" : r->kind,
							"verbs", "get"));
		}
	}
	return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
			 "groupVersion", gv, "resources", res);
}

/* One APIGroupDiscovery (aggregated discovery v2) for group; core is "". */
static json_t *group_discovery(const char *group)
{
	json_t *res = json_array();
	const char *version = "v1";

	for (size_t i = 0; i < k8s_nresources; i++) {
		const struct k8s_resource *r = &k8s_resources[i];
		json_t *subs;
		if (strcmp(r->group, group))
			continue;
		subs = json_array();
		if (has_sub(r, "scale"))
			json_array_append_new(subs,
					      json_pack("{s:s,s:{s:s,s:s,s:s},s:[s,s,s]}",
							"subresource", "scale", "responseKind",
							"group", "autoscaling", "version", "v1",
							"kind", "Scale", "verbs", "get", "patch",
							"update"));
		json_array_append_new(res,
				      json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:o,s:o,s:o}",
						"resource", r->plural, "responseKind", "group",
						r->group, "version", r->version, "kind", r->kind,
						"scope", r->namespaced ? "Namespaced" : "Cluster",
						"singularResource", r->singular, "shortNames",
						shorts_of(r), "verbs", verbs(), "subresources",
						subs));
	}
	return json_pack("{s:{s:s},s:[{s:s,s:o,s:s}]}", "metadata", "name", group, "versions",
			 "version", version, "resources", res, "freshness", "Current");
}

static bool wants_aggregated(const struct sim_request *req)
{
	const char *a = sim_header(req, "Accept");

	return !k8s.legacy_discovery && a && strstr(a, "as=APIGroupDiscoveryList") &&
	       strstr(a, "g=apidiscovery.k8s.io") && strstr(a, "v=v2");
}

static json_t *groups(bool aggregated)
{
	json_t *items = json_array();
	const char *seen[16];
	size_t n = 0;

	for (size_t i = 0; i < k8s_nresources; i++) {
		const char *g = k8s_resources[i].group;
		bool dup = !*g;
		for (size_t j = 0; j < n; j++)
			dup |= !strcmp(seen[j], g);
		if (dup || n == 16)
			continue;
		seen[n++] = g;
		if (aggregated) {
			json_array_append_new(items, group_discovery(g));
		} else {
			char gv[128];
			snprintf(gv, sizeof(gv), "%s/v1", g);
			json_array_append_new(items,
					      json_pack("{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "name",
							g, "versions", "groupVersion", gv,
							"version", "v1", "preferredVersion",
							"groupVersion", gv, "version", "v1"));
		}
	}
	if (aggregated)
		return json_pack("{s:s,s:s,s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
				 "apidiscovery.k8s.io/v2", "items", items);
	return json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
			 items);
}

/* --- routing -------------------------------------------------------------------------------- */

static bool token_in(const json_t *list, const char *tok)
{
	const json_t *v;
	size_t i;

	json_array_foreach((json_t *)list, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), tok))
			return true;
	return false;
}

/* 0: full access, 1: read-only, -1: refused (401 in resp). */
static int authenticate(const struct sim_request *req, struct sim_response *resp)
{
	const char *h = sim_header(req, "Authorization");
	char cn[128];

	if (h && !strncmp(h, "Bearer ", 7) && token_in(k8s.tokens, h + 7))
		return 0;
	if (h && !strncmp(h, "Bearer ", 7) && token_in(k8s.readonly_tokens, h + 7))
		return 1;
	/* A client certificate the API server's client CA signed: its CN is the user. */
	if (!h && sim_client_cert_cn(req->conn, cn, sizeof(cn)))
		return token_in(k8s.readonly_tokens, cn) ? 1 : 0;
	k8s_fail(resp, 401, "Unauthorized", "Unauthorized");
	return -1;
}

/* Splits path ("/apps/v1/namespaces/x/deployments/y/scale") into at most n segments. */
static size_t split(char *path, char **seg, size_t n)
{
	size_t k = 0;
	char *save = NULL, *p;

	for (p = strtok_r(path, "/", &save); p && k < n; p = strtok_r(NULL, "/", &save))
		seg[k++] = p;
	return p ? n + 1 : k;
}

static void serve_resource(const struct sim_request *req, const char *group, char **seg, size_t n,
			   bool readonly, struct sim_response *resp)
{
	struct k8s_target t = { .readonly = readonly };
	const char *version = seg[0];
	size_t i = 1;

	if (n >= 4 && !strcmp(seg[1], "namespaces")) {
		t.ns = seg[2];
		i = 3;
	}
	t.r = k8s_find(group, version, seg[i]);
	if (!t.r && t.ns && n <= 4) { /* /api/v1/namespaces/{name}[/status] */
		t.ns = NULL;
		i = 1;
		t.r = k8s_find(group, version, seg[i]);
	}
	if (!t.r) {
		k8s_fail(resp, 404, "NotFound", "the server could not find the requested resource");
		return;
	}
	t.name = i + 1 < n ? seg[i + 1] : NULL;
	t.sub = i + 2 < n ? seg[i + 2] : NULL;
	if (i + 3 < n || (t.sub && !has_sub(t.r, t.sub)) || (t.ns && !t.r->namespaced)) {
		k8s_fail(resp, 404, "NotFound", "the server could not find the requested resource");
		return;
	}
	k8s_serve(req, &t, resp);
}

/* path is the whole URL path: "/api/v1/pods", "/apis", "/version". */
static void route(const struct sim_request *req, const char *path, struct sim_response *resp)
{
	char buf[1024], *seg[10];
	int ro = authenticate(req, resp);
	size_t n;

	if (ro < 0)
		return;
	if (!strcmp(path, "/version") || !strcmp(path, "/version/")) {
		sim_reply(resp, 200,
			  json_pack("{s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "30",
				    "gitVersion", "v1.30.0-sim", "goVersion", "go1.22", "platform",
				    "linux/amd64"));
		return;
	}
	if (strcmp(req->method, "GET") && (!strcmp(path, "/api") || !strcmp(path, "/apis"))) {
		k8s_fail(resp, 405, "MethodNotAllowed", "the server does not allow this method");
		return;
	}
	if (!strcmp(path, "/api")) {
		sim_reply(resp, 200,
			  wants_aggregated(req)
				  ? json_pack("{s:s,s:s,s:[o]}", "kind", "APIGroupDiscoveryList",
					      "apiVersion", "apidiscovery.k8s.io/v2", "items",
					      group_discovery(""))
				  : json_pack("{s:s,s:[s]}", "kind", "APIVersions", "versions",
					      "v1"));
		return;
	}
	if (!strcmp(path, "/apis")) {
		sim_reply(resp, 200, groups(wants_aggregated(req)));
		return;
	}
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		k8s_fail(resp, 414, "RequestURITooLong", "the path is too long");
		return;
	}
	n = split(buf, seg, 9);
	if (n >= 2 && !strcmp(seg[0], "api")) {
		if (n == 2 && !strcmp(seg[1], "v1"))
			sim_reply(resp, 200, resource_list("", "v1"));
		else if (n >= 3 && !strcmp(seg[1], "v1"))
			serve_resource(req, "", seg + 1, n - 1, ro == 1, resp);
		else
			k8s_fail(resp, 404, "NotFound",
				 "the server could not find the requested resource");
	} else if (n >= 3 && !strcmp(seg[0], "apis")) {
		if (n == 3)
			sim_reply(resp, 200, resource_list(seg[1], seg[2]));
		else
			serve_resource(req, seg[1], seg + 2, n - 2, ro == 1, resp);
	} else {
		k8s_fail(resp, 404, "NotFound", "the server could not find the requested resource");
	}
}

static void handle_api(const struct sim_request *req, struct sim_response *resp)
{
	char path[1100];

	snprintf(path, sizeof(path), "/api%s", req->path);
	route(req, path, resp);
}

static void handle_apis(const struct sim_request *req, struct sim_response *resp)
{
	char path[1100];

	snprintf(path, sizeof(path), "/apis%s", req->path);
	route(req, path, resp);
}

static void handle_version(const struct sim_request *req, struct sim_response *resp)
{
	char path[1100];

	snprintf(path, sizeof(path), "/version%s", req->path);
	route(req, path, resp);
}

const struct sim_backend sim_kubernetes = {
	.name = "kubernetes",
	.prefix = "/api",
	.load = load,
	.handle = handle_api,
	.error_body = error_body,
	.release = release,
	.help = "  kubernetes  /api, /apis, /version: Bearer k8ssim-token-0123456789abcdef (read-only:\n"
		"              k8ssim-readonly-token-0123456789); namespaces default, kube-system,\n"
		"              team-a; pods (multi has containers app and sidecar), deployments web\n"
		"              and stuck, service web, configmap app-config, events, CRD widgets\n",
};

const struct sim_backend sim_kubernetes_apis = {
	.name = "kubernetes",
	.prefix = "/apis",
	.load = load_none,
	.handle = handle_apis,
	.error_body = error_body,
	.release = release_none,
	.help = "",
};

const struct sim_backend sim_kubernetes_version = {
	.name = "kubernetes",
	.prefix = "/version",
	.load = load_none,
	.handle = handle_version,
	.error_body = error_body,
	.release = release_none,
	.help = "",
};
