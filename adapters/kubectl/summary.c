/* One row per object, as `kubectl get` prints it, in stable field names: the columns that
 * matter for the common kinds, name/namespace/created for every other. */
#include <stdio.h>
#include <string.h>

#include "../../common/util.h"
#include "tools.h"

static const char *s_at(const json_t *o, const char *a, const char *b, const char *c)
{
	const json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	if (c)
		v = json_object_get(v, c);
	return json_string_value(v);
}

static json_int_t i_at(const json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static void set_str(json_t *row, const char *key, const char *v)
{
	if (v)
		json_object_set_new(row, key, json_string(v));
}

static void pod_row(json_t *row, const json_t *obj)
{
	const json_t *st = json_object_get(obj, "status"), *cs;
	size_t i, ready = 0, total = 0;
	json_int_t restarts = 0;
	char buf[32];

	json_array_foreach(json_object_get(st, "containerStatuses"), i, cs) {
		total++;
		ready += json_is_true(json_object_get(cs, "ready"));
		restarts += json_integer_value(json_object_get(cs, "restartCount"));
	}
	if (!total)
		total = json_array_size(
			json_object_get(json_object_get(obj, "spec"), "containers"));
	snprintf(buf, sizeof(buf), "%zu/%zu", ready, total);
	json_object_set_new(row, "ready", json_string(buf));
	set_str(row, "phase", s_at(st, "phase", NULL, NULL));
	json_object_set_new(row, "restarts", json_integer(restarts));
	set_str(row, "node", s_at(obj, "spec", "nodeName", NULL));
	set_str(row, "ip", s_at(st, "podIP", NULL, NULL));
}

static void workload_row(json_t *row, const json_t *obj, bool daemon)
{
	const json_t *st = json_object_get(obj, "status");
	json_int_t want = daemon ? i_at(obj, "status", "desiredNumberScheduled")
				 : i_at(obj, "spec", "replicas");
	json_int_t ready = daemon ? i_at(obj, "status", "numberReady")
				  : json_integer_value(json_object_get(st, "readyReplicas"));
	char buf[48];

	if (!daemon && !json_object_get(json_object_get(obj, "spec"), "replicas"))
		want = 1; /* the API's default */
	snprintf(buf, sizeof(buf), "%lld/%lld", (long long)ready, (long long)want);
	json_object_set_new(row, "ready", json_string(buf));
	json_object_set_new(row, "desired", json_integer(want));
	json_object_set_new(row, "upToDate",
			    json_integer(json_integer_value(
				    json_object_get(st, daemon ? "updatedNumberScheduled"
							       : "updatedReplicas"))));
	json_object_set_new(row, "available",
			    json_integer(json_integer_value(
				    json_object_get(st, daemon ? "numberAvailable"
							       : "availableReplicas"))));
}

static void service_row(json_t *row, const json_t *obj)
{
	const json_t *spec = json_object_get(obj, "spec"), *p;
	char ports[256] = "";
	size_t i, n;

	set_str(row, "type", s_at(spec, "type", NULL, NULL));
	set_str(row, "clusterIP", s_at(spec, "clusterIP", NULL, NULL));
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		n = strlen(ports);
		cx_fmt(ports + n, sizeof(ports) - n, "%s%lld/%s", n ? "," : "",
		       (long long)json_integer_value(json_object_get(p, "port")),
		       s_at(p, "protocol", NULL, NULL) ? s_at(p, "protocol", NULL, NULL) : "TCP");
	}
	json_object_set_new(row, "ports", json_string(ports));
}

static void event_row(json_t *row, const json_t *obj)
{
	const json_t *io = json_object_get(obj, "involvedObject");
	char what[300];

	set_str(row, "type", s_at(obj, "type", NULL, NULL));
	set_str(row, "reason", s_at(obj, "reason", NULL, NULL));
	cx_fmt(what, sizeof(what), "%s/%s", s_at(io, "kind", NULL, NULL) ?: "?",
	       s_at(io, "name", NULL, NULL) ?: "?");
	json_object_set_new(row, "object", json_string(what));
	set_str(row, "message", s_at(obj, "message", NULL, NULL));
	if (json_object_get(obj, "count"))
		json_object_set_new(row, "count",
				    json_integer(
					    json_integer_value(json_object_get(obj, "count"))));
	set_str(row, "lastSeen", s_at(obj, "lastTimestamp", NULL, NULL));
}

json_t *kc_summary(const json_t *res, const json_t *obj)
{
	const char *kind = json_string_value(json_object_get(res, "kind"));
	json_t *row = json_object();

	if (!row)
		return NULL;
	set_str(row, "name", s_at(obj, "metadata", "name", NULL));
	set_str(row, "namespace", s_at(obj, "metadata", "namespace", NULL));
	set_str(row, "created", s_at(obj, "metadata", "creationTimestamp", NULL));
	if (!kind)
		return row;
	if (!strcmp(kind, "Pod"))
		pod_row(row, obj);
	else if (!strcmp(kind, "Deployment") || !strcmp(kind, "StatefulSet") ||
		 !strcmp(kind, "ReplicaSet"))
		workload_row(row, obj, false);
	else if (!strcmp(kind, "DaemonSet"))
		workload_row(row, obj, true);
	else if (!strcmp(kind, "Service"))
		service_row(row, obj);
	else if (!strcmp(kind, "Event"))
		event_row(row, obj);
	else if (!strcmp(kind, "Namespace") || !strcmp(kind, "PersistentVolumeClaim"))
		set_str(row, "phase", s_at(obj, "status", "phase", NULL));
	else if (!strcmp(kind, "ConfigMap") || !strcmp(kind, "Secret"))
		json_object_set_new(row, "dataKeys",
				    json_integer((json_int_t)json_object_size(
					    json_object_get(obj, "data"))));
	return row;
}

json_t *kc_strip(const json_t *obj)
{
	json_t *o = json_deep_copy(obj), *md;

	md = json_object_get(o, "metadata");
	json_object_del(md, "managedFields");
	json_object_del(json_object_get(md, "annotations"),
			"kubectl.kubernetes.io/last-applied-configuration");
	return o;
}

void kc_api_version(const json_t *res, char *out, size_t outlen)
{
	const char *g = json_string_value(json_object_get(res, "group"));
	const char *v = json_string_value(json_object_get(res, "version"));

	if (g && *g)
		cx_fmt(out, outlen, "%s/%s", g, v ? v : "");
	else
		cx_fmt(out, outlen, "%s", v ? v : "");
}
