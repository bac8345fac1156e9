/* The read tools: get, describe, logs, rollout status. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"
#include "discovery.h"

/* The text and structuredContent both carry the log, and the call's output is capped
 * (calls.max_output_bytes, 1 MiB by default): so is the log's default size. */
#define KC_LOG_DEFAULT 131072
#define KC_PATH_MAX    2048
#define KC_EVENTS_MAX  50

const char *kc_arg(const json_t *args, const char *key)
{
	const char *s = json_string_value(json_object_get(args, key));

	return s && *s ? s : NULL;
}

const char *kc_ns_for(const struct kc_state *s, const json_t *res, const json_t *args)
{
	if (!json_is_true(json_object_get(res, "namespaced")))
		return NULL;
	return kc_arg(args, "namespace") ? kc_arg(args, "namespace") : s->creds.ns;
}

static void add_num(char *path, size_t len, const json_t *args, const char *key, const char *q)
{
	const json_t *v = json_object_get(args, key);
	char num[32];

	if (!json_is_integer(v))
		return;
	snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
	kc_query(path, len, q, num);
}

static int fail(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg);
}

/* The list's rows, and the objects when asked for. */
static json_t *list_out(const json_t *rsrc, const json_t *list, bool full)
{
	const json_t *items = json_object_get(list, "items"),
		     *md = json_object_get(list, "metadata");
	const char *cont = json_string_value(json_object_get(md, "continue"));
	json_t *rows = json_array(), *objs = full ? json_array() : NULL, *o, *out;
	char av[300];
	size_t i;

	json_array_foreach((json_t *)items, i, o) {
		json_array_append_new(rows, kc_summary(rsrc, o));
		if (objs)
			json_array_append_new(objs, kc_strip(o));
	}
	kc_api_version(rsrc, av, sizeof(av));
	out = json_pack("{s:s, s:s, s:o, s:I}", "kind",
			json_string_value(json_object_get(rsrc, "kind")), "apiVersion", av, "items",
			rows, "count", (json_int_t)json_array_size(rows));
	if (out && cont && *cont)
		json_object_set_new(out, "continue", json_string(cont));
	if (out && json_object_get(md, "remainingItemCount"))
		json_object_set(out, "remainingItemCount",
				json_object_get(md, "remainingItemCount"));
	if (out && objs)
		json_object_set_new(out, "objects", objs);
	else
		json_decref(objs);
	return out;
}

int kc_get(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	const char *name = kc_arg(args, "name");
	bool all = json_is_true(json_object_get(args, "all_namespaces"));
	bool full = json_is_true(json_object_get(args, "full"));
	struct cx_err err = { 0 };
	char path[KC_PATH_MAX];
	json_t *rsrc, *body = NULL, *out;
	const char *ns;

	rsrc = kd_resolve(s, call, kc_arg(args, "kind"), &err);
	if (!rsrc)
		return fail(res, &err);
	ns = all && !name ? NULL : kc_ns_for(s, rsrc, args);
	if (!kc_path(rsrc, ns, name, NULL, path, sizeof(path))) {
		json_decref(rsrc);
		return cx_result_errorf(res, "the name or namespace is too long");
	}
	if (!name) {
		if (kc_arg(args, "label_selector"))
			kc_query(path, sizeof(path), "labelSelector",
				 kc_arg(args, "label_selector"));
		if (kc_arg(args, "field_selector"))
			kc_query(path, sizeof(path), "fieldSelector",
				 kc_arg(args, "field_selector"));
		/* full objects are larger: a smaller default page keeps the answer under the
		 * gateway's output cap */
		if (!json_object_get(args, "limit"))
			kc_query(path, sizeof(path), "limit", full ? "20" : "100");
		add_num(path, sizeof(path), args, "limit", "limit");
		if (kc_arg(args, "continue"))
			kc_query(path, sizeof(path), "continue", kc_arg(args, "continue"));
	}
	if (kc_get_json(s, call, path, &body, &err)) {
		json_decref(rsrc);
		return fail(res, &err);
	}
	if (name) {
		json_t *list = json_pack("{s:[O]}", "items", body);
		out = list_out(rsrc, list, full);
		json_decref(list);
	} else {
		out = list_out(rsrc, body, full);
	}
	json_decref(body);
	json_decref(rsrc);
	return cx_result_structured(res, out);
}

/* The object's events, newest last, as describe shows them. */
static json_t *events_of(struct kc_state *s, struct cx_call *call, const json_t *obj,
			 const char *kind, struct cx_err *err)
{
	const json_t *md = json_object_get(obj, "metadata"), *e;
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	char path[KC_PATH_MAX], sel[600];
	json_t *list = NULL, *out = json_array();
	size_t i;

	cx_fmt(sel, sizeof(sel), "involvedObject.name=%s,involvedObject.kind=%s", name ? name : "",
	       kind);
	if (ns && !cx_fmt(sel + strlen(sel), sizeof(sel) - strlen(sel),
			  ",involvedObject.namespace=%s", ns))
		return out;
	snprintf(path, sizeof(path), "/api/v1/namespaces/");
	if (!cx_url_escape(ns ? ns : "default", path + strlen(path), sizeof(path) - strlen(path)))
		return out;
	cx_fmt(path + strlen(path), sizeof(path) - strlen(path), "/events");
	kc_query(path, sizeof(path), "fieldSelector", sel);
	kc_query(path, sizeof(path), "limit", "500");
	if (kc_get_json(s, call, path, &list, err)) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(json_object_get(list, "items"), i, e) {
		json_t *row =
			json_pack("{s:s?, s:s?, s:s?, s:I, s:s?, s:s?}", "type",
				  json_string_value(json_object_get(e, "type")), "reason",
				  json_string_value(json_object_get(e, "reason")), "message",
				  json_string_value(json_object_get(e, "message")), "count",
				  json_integer_value(json_object_get(e, "count")), "lastSeen",
				  json_string_value(json_object_get(e, "lastTimestamp")), "source",
				  json_string_value(json_object_get(json_object_get(e, "source"),
								    "component")));
		json_array_append_new(out, row);
	}
	while (json_array_size(out) > KC_EVENTS_MAX)
		json_array_remove(out, 0);
	json_decref(list);
	return out;
}

static json_t *conditions_of(const json_t *obj)
{
	const json_t *c;
	json_t *out = json_array();
	size_t i;

	json_array_foreach(json_object_get(json_object_get(obj, "status"), "conditions"), i, c) {
		json_array_append_new(out,
				      json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}", "type",
						json_string_value(json_object_get(c, "type")),
						"status",
						json_string_value(json_object_get(c, "status")),
						"reason",
						json_string_value(json_object_get(c, "reason")),
						"message",
						json_string_value(json_object_get(c, "message")),
						"lastTransitionTime",
						json_string_value(
							json_object_get(c, "lastTransitionTime"))));
	}
	return out;
}

int kc_describe(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	struct cx_err err = { 0 };
	char path[KC_PATH_MAX];
	json_t *rsrc, *obj = NULL, *events, *out;
	const char *kind;

	rsrc = kd_resolve(s, call, kc_arg(args, "kind"), &err);
	if (!rsrc)
		return fail(res, &err);
	kind = json_string_value(json_object_get(rsrc, "kind"));
	if (!kc_path(rsrc, kc_ns_for(s, rsrc, args), kc_arg(args, "name"), NULL, path,
		     sizeof(path)) ||
	    kc_get_json(s, call, path, &obj, &err)) {
		json_decref(rsrc);
		return err.msg[0] ? fail(res, &err) : cx_result_errorf(res, "the name is too long");
	}
	events = events_of(s, call, obj, kind, &err);
	out = json_pack("{s:o, s:o, s:o}", "summary", kc_summary(rsrc, obj), "conditions",
			conditions_of(obj), "object", kc_strip(obj));
	if (out && events)
		json_object_set_new(out, "events", events);
	else if (out) /* the object is still worth reading */
		json_object_set_new(out, "eventsError", json_string(err.msg));
	json_object_set_new(out, "kind", json_string(kind));
	json_decref(obj);
	json_decref(rsrc);
	return cx_result_structured(res, out);
}

/* The container to read: the one named, or the pod's only one; else a sentence listing them. */
static int pick_container(struct kc_state *s, struct cx_call *call, const char *ns, const char *pod,
			  const char *want, char *out, size_t outlen, struct cx_err *err)
{
	char path[KC_PATH_MAX], names[600] = "";
	json_t *obj = NULL, *c;
	json_t *rsrc =
		json_pack("{s:s, s:s, s:s}", "group", "", "version", "v1", "resource", "pods");
	const json_t *list;
	size_t i, n;
	bool found = false;

	if (!rsrc || !kc_path(rsrc, ns, pod, NULL, path, sizeof(path))) {
		json_decref(rsrc);
		return cx_err_set(err, "the pod name is too long");
	}
	json_decref(rsrc);
	if (kc_get_json(s, call, path, &obj, err))
		return -1;
	list = json_object_get(json_object_get(obj, "spec"), "containers");
	json_array_foreach((json_t *)list, i, c) {
		const char *cn = json_string_value(json_object_get(c, "name"));
		n = strlen(names);
		cx_fmt(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", cn ? cn : "?");
		if (want && cn && !strcmp(cn, want))
			found = true;
	}
	json_array_foreach(json_object_get(json_object_get(obj, "spec"), "initContainers"), i, c)
		if (want && json_string_value(json_object_get(c, "name")) &&
		    !strcmp(json_string_value(json_object_get(c, "name")), want))
			found = true;
	if (want && !found) {
		json_decref(obj);
		return cx_err_set(err, "pod '%s' has no container '%s'; its containers: %s", pod,
				  want, names);
	}
	if (!want && json_array_size(list) != 1) {
		n = json_array_size(list);
		json_decref(obj);
		return cx_err_set(err, "pod '%s' has %zu containers; name one with 'container': %s",
				  pod, n, names);
	}
	cx_fmt(out, outlen, "%s",
	       want ? want : json_string_value(json_object_get(json_array_get(list, 0), "name")));
	json_decref(obj);
	return 0;
}

/* Log text as a JSON string: bytes that are not UTF-8 become '?' (logs are not always text). */
static json_t *text_lossy(const char *s, size_t n)
{
	json_t *v = json_stringn(s, n);
	char *buf;

	if (v || !(buf = malloc(n + 1)))
		return v;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80                 ? 1
			   : c >= 0xc2 && c <= 0xdf ? 2
			   : c >= 0xe0 && c <= 0xef ? 3
			   : c >= 0xf0 && c <= 0xf4 ? 4
						    : 0;
		json_t *t = k && i + k <= n ? json_stringn(s + i, k) : NULL;

		if (t) {
			memcpy(buf + i, s + i, k);
			i += k - 1;
			json_decref(t);
		} else {
			buf[i] = '?';
		}
	}
	v = json_stringn(buf, n);
	free(buf);
	return v;
}

int kc_logs(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	const char *pod = kc_arg(args, "name");
	const char *ns = kc_arg(args, "namespace") ? kc_arg(args, "namespace") : s->creds.ns;
	json_int_t limit = json_is_integer(json_object_get(args, "limit_bytes"))
				   ? json_integer_value(json_object_get(args, "limit_bytes"))
				   : KC_LOG_DEFAULT;
	struct kc_req r = { .method = "GET", .accept = "text/plain" };
	struct cx_err err = { 0 };
	struct cx_http_resp resp;
	char path[KC_PATH_MAX], container[256], num[32];
	json_t *pods =
		json_pack("{s:s, s:s, s:s}", "group", "", "version", "v1", "resource", "pods");
	json_t *out;

	if (pick_container(s, call, ns, pod, kc_arg(args, "container"), container,
			   sizeof(container), &err)) {
		json_decref(pods);
		return fail(res, &err);
	}
	kc_path(pods, ns, pod, "log", path, sizeof(path));
	json_decref(pods);
	kc_query(path, sizeof(path), "container", container);
	add_num(path, sizeof(path), args, "tail_lines", "tailLines");
	add_num(path, sizeof(path), args, "since_seconds", "sinceSeconds");
	if (json_is_true(json_object_get(args, "previous")))
		kc_query(path, sizeof(path), "previous", "true");
	snprintf(num, sizeof(num), "%lld", (long long)limit);
	kc_query(path, sizeof(path), "limitBytes", num);
	r.path = path;
	if (kc_do(s, call, &r, &resp, &err))
		return fail(res, &err);
	out = json_pack("{s:s, s:s, s:s, s:o, s:I, s:b}", "pod", pod, "namespace", ns, "container",
			container, "log", text_lossy(resp.body, resp.body_len), "bytes",
			(json_int_t)resp.body_len, "truncated", (json_int_t)resp.body_len >= limit);
	cx_http_resp_release(&resp);
	return cx_result_structured(res, out);
}
