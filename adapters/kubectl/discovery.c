/* Kinds to resources (see discovery.h). The table is replaced whole under disc_lock and never
 * changed once published, so a resolved resource is a shared, read-only reference. */
#include "discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/util.h"

#define KD_REFRESH_MS 5000 /* a miss fetches discovery again at most this often */

/* v2, else v2beta1 (1.26 to 1.29: the same shape), else the legacy documents. */
#define KD_AGGREGATED                                                                              \
	"Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"            \
	"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"               \
	"application/json"

static const struct {
	const char *group, *version, *resource, *kind, *singular, *shorts;
	bool namespaced, scale;
} builtins[] = {
	{ "", "v1", "pods", "Pod", "pod", "po", true, false },
	{ "", "v1", "services", "Service", "service", "svc", true, false },
	{ "", "v1", "configmaps", "ConfigMap", "configmap", "cm", true, false },
	{ "", "v1", "secrets", "Secret", "secret", "", true, false },
	{ "", "v1", "namespaces", "Namespace", "namespace", "ns", false, false },
	{ "", "v1", "nodes", "Node", "node", "no", false, false },
	{ "", "v1", "events", "Event", "event", "ev", true, false },
	{ "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim",
	  "pvc", true, false },
	{ "", "v1", "persistentvolumes", "PersistentVolume", "persistentvolume", "pv", false,
	  false },
	{ "", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", "sa", true, false },
	{ "", "v1", "endpoints", "Endpoints", "endpoints", "ep", true, false },
	{ "", "v1", "replicationcontrollers", "ReplicationController", "replicationcontroller",
	  "rc", true, true },
	{ "apps", "v1", "deployments", "Deployment", "deployment", "deploy", true, true },
	{ "apps", "v1", "statefulsets", "StatefulSet", "statefulset", "sts", true, true },
	{ "apps", "v1", "daemonsets", "DaemonSet", "daemonset", "ds", true, false },
	{ "apps", "v1", "replicasets", "ReplicaSet", "replicaset", "rs", true, true },
	{ "batch", "v1", "jobs", "Job", "job", "", true, false },
	{ "batch", "v1", "cronjobs", "CronJob", "cronjob", "cj", true, false },
	{ "networking.k8s.io", "v1", "ingresses", "Ingress", "ingress", "ing", true, false },
	{ "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
	  "customresourcedefinition", "crd,crds", false, false },
};

static json_t *resource_new(const char *group, const char *version, const char *resource,
			    const char *kind, const char *singular, json_t *shorts, bool namespaced,
			    bool scale)
{
	char lower[256];
	size_t i;

	if (!singular || !*singular) { /* older servers leave it empty: kubectl lowercases kind */
		for (i = 0; kind[i] && i + 1 < sizeof(lower); i++)
			lower[i] =
				(char)(kind[i] >= 'A' && kind[i] <= 'Z' ? kind[i] + 32 : kind[i]);
		lower[i] = '\0';
		singular = lower;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:b}", "group", group, "version",
			 version, "resource", resource, "kind", kind, "singular", singular,
			 "shortNames", shorts ? shorts : json_array(), "namespaced", namespaced,
			 "scale", scale);
}

json_t *kd_builtin(void)
{
	json_t *t = json_array();

	for (size_t i = 0; t && i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		json_t *shorts = json_array();
		char buf[64], *save = NULL, *p;

		snprintf(buf, sizeof(buf), "%s", builtins[i].shorts);
		for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
			json_array_append_new(shorts, json_string(p));
		json_array_append_new(t, resource_new(builtins[i].group, builtins[i].version,
						      builtins[i].resource, builtins[i].kind,
						      builtins[i].singular, shorts,
						      builtins[i].namespaced, builtins[i].scale));
	}
	return t;
}

static const char *field(const json_t *r, const char *key)
{
	const char *s = json_string_value(json_object_get(r, key));

	return s ? s : "";
}

static bool names_it(const json_t *r, const char *name, size_t len)
{
	const json_t *v;
	size_t i;

	if ((strlen(field(r, "resource")) == len &&
	     !strncasecmp(field(r, "resource"), name, len)) ||
	    (strlen(field(r, "singular")) == len &&
	     !strncasecmp(field(r, "singular"), name, len)) ||
	    (strlen(field(r, "kind")) == len && !strncasecmp(field(r, "kind"), name, len)))
		return true;
	json_array_foreach(json_object_get(r, "shortNames"), i, v)
		if (strlen(json_string_value(v)) == len &&
		    !strncasecmp(json_string_value(v), name, len))
			return true;
	return false;
}

/* "deploy" / "deployments.apps" / "deployment.v1.apps": the first resource that the name
 * part names and whose group (and version) the rest gives. */
const json_t *kd_match(const json_t *table, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t nlen = dot ? (size_t)(dot - name) : strlen(name);
	const char *group = dot ? dot + 1 : NULL, *version = NULL;
	char vbuf[64];
	const json_t *r;
	size_t i;

	/* "deployment.v1.apps": a version is v<digits>[alpha|beta<digits>] */
	if (group && group[0] == 'v' && group[1] >= '0' && group[1] <= '9' && strchr(group, '.')) {
		size_t vl = (size_t)(strchr(group, '.') - group);
		if (vl < sizeof(vbuf)) {
			memcpy(vbuf, group, vl);
			vbuf[vl] = '\0';
			version = vbuf;
			group = strchr(group, '.') + 1;
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach((json_t *)table, i, r) {
			if (!names_it(r, name, nlen))
				continue;
			if (version && strcmp(version, field(r, "version")))
				continue;
			if (!group)
				return r;
			/* an exact group first; then a group given by its first label(s) */
			if (pass == 0 && !strcasecmp(group, field(r, "group")))
				return r;
			if (pass == 1 && !strncasecmp(field(r, "group"), group, strlen(group)) &&
			    field(r, "group")[strlen(group)] == '.')
				return r;
		}
		if (!group)
			return NULL;
	}
	return NULL;
}

const json_t *kd_match_gvk(const json_t *table, const char *group, const char *version,
			   const char *kind)
{
	const json_t *r;
	size_t i;

	json_array_foreach((json_t *)table, i, r)
		if (!strcmp(field(r, "group"), group) && !strcmp(field(r, "version"), version) &&
		    !strcmp(field(r, "kind"), kind))
			return r;
	return NULL;
}

/* One resource of an aggregated discovery version. */
static int add_aggregated(json_t *into, const char *group, const char *version, const json_t *r)
{
	const json_t *sub, *rk = json_object_get(r, "responseKind");
	const char *name = field(r, "resource");
	bool scale = false;
	size_t i;

	json_array_foreach(json_object_get(r, "subresources"), i, sub)
		if (!strcmp(field(sub, "subresource"), "scale"))
			scale = true;
	if (!*name || !*field(rk, "kind"))
		return 0;
	return json_array_append_new(into,
				     resource_new(group, version, name, field(rk, "kind"),
						  field(r, "singularResource"),
						  json_deep_copy(json_object_get(r, "shortNames")),
						  !strcmp(field(r, "scope"), "Namespaced"), scale));
}

int kd_parse_aggregated(const json_t *list, json_t *into)
{
	const json_t *g, *v, *r;
	size_t i, j, k;

	if (strcmp(field(list, "kind"), "APIGroupDiscoveryList"))
		return -1;
	json_array_foreach(json_object_get(list, "items"), i, g) {
		const char *group = field(json_object_get(g, "metadata"), "name");
		json_array_foreach(json_object_get(g, "versions"), j, v) {
			json_array_foreach(json_object_get(v, "resources"), k, r)
				if (add_aggregated(into, group, field(v, "version"), r))
					return -1;
		}
	}
	return 0;
}

int kd_parse_resource_list(const json_t *list, json_t *into)
{
	const char *gv = field(list, "groupVersion"), *slash = strchr(gv, '/');
	char group[256] = "";
	const char *version = slash ? slash + 1 : gv;
	const json_t *r;
	size_t i;

	if (strcmp(field(list, "kind"), "APIResourceList") || !*gv)
		return -1;
	if (slash && !cx_fmt(group, sizeof(group), "%.*s", (int)(slash - gv), gv))
		return -1;
	json_array_foreach(json_object_get(list, "resources"), i, r) {
		const char *name = field(r, "name");
		char sub[300];
		if (strchr(name, '/'))
			continue; /* a subresource: marks its parent */
		cx_fmt(sub, sizeof(sub), "%s/scale", name);
		bool scale = false;
		const json_t *o;
		size_t j;
		json_array_foreach(json_object_get(list, "resources"), j, o)
			if (!strcmp(field(o, "name"), sub))
				scale = true;
		if (json_array_append_new(into,
					  resource_new(group, version, name, field(r, "kind"),
						       field(r, "singularName"),
						       json_deep_copy(
							       json_object_get(r, "shortNames")),
						       json_is_true(
							       json_object_get(r, "namespaced")),
						       scale)))
			return -1;
	}
	return 0;
}

/* /api or /apis, aggregated when the server offers it; legacy otherwise. */
static int discover_root(struct kc_state *s, const struct cx_call *call, const char *root,
			 json_t *into, struct cx_err *err)
{
	static const char *const hdr = KD_AGGREGATED;
	struct kc_req r = { .method = "GET", .path = root, .accept = hdr };
	struct cx_http_resp resp;
	const json_t *g;
	json_t *doc;
	char path[300];
	size_t i;
	int rc = 0;

	if (kc_do(s, call, &r, &resp, err))
		return -1;
	if (!kd_parse_aggregated(resp.json, into)) {
		cx_http_resp_release(&resp);
		return 0;
	}
	if (!strcmp(root, "/api")) {
		json_array_foreach(json_object_get(resp.json, "versions"), i, g) {
			cx_fmt(path, sizeof(path), "/api/%s", json_string_value(g));
			if (kc_get_json(s, call, path, &doc, err))
				break;
			kd_parse_resource_list(doc, into);
			json_decref(doc);
			break; /* the first (preferred) version */
		}
	} else {
		json_array_foreach(json_object_get(resp.json, "groups"), i, g) {
			const char *gv =
				field(json_object_get(g, "preferredVersion"), "groupVersion");
			if (!*gv || !cx_fmt(path, sizeof(path), "/apis/%s", gv))
				continue;
			if ((rc = kc_get_json(s, call, path, &doc, err)))
				break;
			kd_parse_resource_list(doc, into);
			json_decref(doc);
		}
	}
	cx_http_resp_release(&resp);
	return rc;
}

/* Fetches discovery and publishes it; 0 or -1 with err (the old table stays). */
static int refresh(struct kc_state *s, const struct cx_call *call, struct cx_err *err)
{
	json_t *t = json_array();
	int rc;

	if (!t)
		return cx_err_set(err, "out of memory");
	rc = discover_root(s, call, "/api", t, err);
	if (!rc)
		rc = discover_root(s, call, "/apis", t, err);
	pthread_mutex_lock(&s->disc_lock);
	s->disc_at_ms = cx_now_ms();
	if (!rc && json_array_size(t)) {
		json_decref(s->disc);
		s->disc = t;
		t = NULL;
	}
	pthread_mutex_unlock(&s->disc_lock);
	json_decref(t);
	return rc;
}

typedef const json_t *(*kd_matcher)(const json_t *table, const void *key);

static const json_t *by_name(const json_t *t, const void *key)
{
	return kd_match(t, key);
}

struct gvk {
	char group[256];
	const char *version, *kind;
};

static const json_t *by_gvk(const json_t *t, const void *key)
{
	const struct gvk *k = key;

	return kd_match_gvk(t, k->group, k->version, k->kind);
}

/* Discovery's table when there is one, else the built-in one; a miss fetches discovery (at
 * most every KD_REFRESH_MS) and looks again. */
static json_t *lookup(struct kc_state *s, const struct cx_call *call, kd_matcher m, const void *key,
		      const char *what, struct cx_err *err)
{
	struct cx_err derr = { 0 };
	json_t *table, *hit = NULL;
	bool stale;

	for (int round = 0; round < 2; round++) {
		pthread_mutex_lock(&s->disc_lock);
		table = json_incref(s->disc);
		stale = cx_now_ms() - s->disc_at_ms > KD_REFRESH_MS || !s->disc_at_ms;
		pthread_mutex_unlock(&s->disc_lock);
		if (!table)
			table = json_incref(s->builtin);
		hit = (json_t *)m(table, key);
		hit = json_incref(hit);
		json_decref(table);
		if (hit || round || !stale)
			break;
		if (refresh(s, call, &derr))
			break;
	}
	if (hit)
		return hit;
	if (derr.msg[0])
		cx_err_set(err, "unknown resource type '%s', and discovery failed: %s", what,
			   derr.msg);
	else
		cx_err_set(err,
			   "the server does not serve a resource type '%s'; use a kind, "
			   "plural, short name (po, deploy, svc, cm, ns) or name.group",
			   what);
	return NULL;
}

json_t *kd_resolve(struct kc_state *s, const struct cx_call *call, const char *name,
		   struct cx_err *err)
{
	return lookup(s, call, by_name, name, name, err);
}

json_t *kd_resolve_gvk(struct kc_state *s, const struct cx_call *call, const char *api_version,
		       const char *kind, struct cx_err *err)
{
	const char *slash = strchr(api_version, '/');
	struct gvk k = { .version = slash ? slash + 1 : api_version, .kind = kind };
	char what[300];

	if (slash &&
	    !cx_fmt(k.group, sizeof(k.group), "%.*s", (int)(slash - api_version), api_version))
		return cx_err_set(err, "apiVersion '%.100s' is too long", api_version), NULL;
	cx_fmt(what, sizeof(what), "%s, kind %s", api_version, kind);
	return lookup(s, call, by_gvk, &k, what, err);
}
