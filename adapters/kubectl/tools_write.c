/* The tools that change the cluster: apply (server-side, field manager "cortex"), delete,
 * scale. Each takes dry_run, which the API server runs through every stage but storage. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/json.h"
#include "../../common/util.h"
#include "../../common/yaml.h"
#include "discovery.h"

#define KC_PATH_MAX      2048
#define KC_APPLY_DOCS    100
#define KC_FIELD_MANAGER "cortex"

static int fail(struct cx_result *res, const struct cx_err *err)
{
	return cx_result_errorf(res, "%s", err->msg);
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

/* The documents of the manifest (a JSON string, read whole: a NUL in it is YAML's to refuse,
 * not the end of the text), a List's items spread out. New reference, or NULL with err. */
static json_t *documents(const json_t *manifest, struct cx_err *err)
{
	const char *text = json_string_value(manifest);
	json_t *docs = cx_yaml_load_all(text ? text : "", text ? json_string_length(manifest) : 0,
					err),
	       *out, *d;
	size_t i;

	if (!docs)
		return cx_err_prefix(err, "the manifest is not valid YAML or JSON: "), NULL;
	out = json_array();
	json_array_foreach(docs, i, d) {
		const char *kind = str_at(d, "kind", NULL);
		if (kind && !strcmp(kind, "List") && json_is_array(json_object_get(d, "items")))
			json_array_extend(out, json_object_get(d, "items"));
		else
			json_array_append(out, d);
	}
	json_decref(docs);
	if (!json_array_size(out) || json_array_size(out) > KC_APPLY_DOCS) {
		cx_err_set(err, "the manifest holds %zu objects; give 1 to %d",
			   json_array_size(out), KC_APPLY_DOCS);
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Server-side apply of one object (changed: its namespace set). 0 with *row, or -1 with err. */
static int apply_one(struct cx_call *call, const json_t *args, json_t *doc, json_t **row,
		     struct cx_err *err)
{
	struct kc_state *s = call->state;
	const char *av = str_at(doc, "apiVersion", NULL), *kind = str_at(doc, "kind", NULL);
	const char *name = str_at(doc, "metadata", "name"),
		   *ns = str_at(doc, "metadata", "namespace");
	const char *want = kc_arg(args, "namespace");
	bool dry = json_is_true(json_object_get(args, "dry_run"));
	struct kc_req r = { .method = "PATCH",
			    .content_type = "application/apply-patch+yaml",
			    .hint = "another field manager owns fields this manifest sets; apply "
				    "again with force: true to take them over, or leave those "
				    "fields out",
			    .hint_status = 409 };
	struct cx_http_resp resp;
	char path[KC_PATH_MAX];
	json_t *rsrc;
	size_t len;
	char *body;
	int rc;

	if (!json_is_object(doc) || !av || !kind || !name)
		return cx_err_set(err, "each object needs apiVersion, kind and metadata.name");
	rsrc = kd_resolve_gvk(s, call, av, kind, err);
	if (!rsrc)
		return -1;
	if (!json_is_true(json_object_get(rsrc, "namespaced"))) {
		ns = NULL;
	} else if (ns && want && strcmp(ns, want)) {
		json_decref(rsrc);
		return cx_err_set(err, "%s '%s' says namespace '%s' but the call asks for '%s'",
				  kind, name, ns, want);
	} else if (!ns) {
		ns = want ? want : s->creds.ns;
		json_object_set_new(json_object_get(doc, "metadata"), "namespace", json_string(ns));
		ns = str_at(doc, "metadata", "namespace");
	}
	if (!kc_path(rsrc, ns, name, NULL, path, sizeof(path)) ||
	    !kc_query(path, sizeof(path), "fieldManager", KC_FIELD_MANAGER) ||
	    (json_is_true(json_object_get(args, "force")) &&
	     !kc_query(path, sizeof(path), "force", "true")) ||
	    (dry && !kc_query(path, sizeof(path), "dryRun", "All"))) {
		json_decref(rsrc);
		return cx_err_set(err, "the name or namespace is too long");
	}
	json_decref(rsrc);
	/* JSON is YAML: the API server takes it as the apply patch, as kubectl sends it. */
	body = cx_json_dumps(doc, &len);
	if (!body)
		return cx_err_set(err, "out of memory");
	r.path = path;
	r.body = body;
	r.body_len = len;
	rc = kc_do(s, call, &r, &resp, err);
	free(body);
	if (rc)
		return -1;
	*row = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:b}", "apiVersion", av, "kind", kind,
			 "name", name, "namespace", ns, "action",
			 resp.status == 201 ? "created" : "configured", "resourceVersion",
			 str_at(resp.json, "metadata", "resourceVersion"), "dryRun", dry);
	cx_http_resp_release(&resp);
	return *row ? 0 : cx_err_set(err, "out of memory");
}

int kc_apply(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct cx_err err = { 0 };
	json_t *docs = documents(json_object_get(args, "manifest"), &err), *results, *d,
	       *row = NULL;
	size_t i, failed = 0;
	char first[CX_ERR_MSG_MAX] = "";

	if (!docs)
		return fail(res, &err);
	results = json_array();
	json_array_foreach(docs, i, d) {
		memset(&err, 0, sizeof(err));
		if (cx_call_cancelled(call)) {
			cx_err_set(&err, "not applied: the call was cancelled or ran out of time");
		} else if (!apply_one(call, args, d, &row, &err)) {
			json_object_set_new(row, "index", json_integer((json_int_t)i));
			json_array_append_new(results, row);
			continue;
		}
		failed++;
		if (!first[0])
			cx_fmt(first, sizeof(first), "%s", err.msg);
		json_array_append_new(results,
				      json_pack("{s:I, s:s?, s:s?, s:s?, s:s}", "index",
						(json_int_t)i, "kind", str_at(d, "kind", NULL),
						"name", str_at(d, "metadata", "name"), "namespace",
						str_at(d, "metadata", "namespace"), "error",
						err.msg));
	}
	json_decref(docs);
	if (cx_result_structured(res,
				 json_pack("{s:o, s:I, s:I, s:b}", "results", results, "applied",
					   (json_int_t)(json_array_size(results) - failed),
					   "failed", (json_int_t)failed, "dryRun",
					   json_is_true(json_object_get(args, "dry_run")))))
		return -1;
	if (failed)
		cx_result_errorf(res, "%zu of %zu objects were not applied; the first: %s", failed,
				 json_array_size(results), first);
	return 0;
}

int kc_delete(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	const char *name = kc_arg(args, "name"), *pp = kc_arg(args, "propagation_policy");
	bool dry = json_is_true(json_object_get(args, "dry_run"));
	struct kc_req r = { .method = "DELETE" };
	struct cx_err err = { 0 };
	struct cx_http_resp resp;
	char path[KC_PATH_MAX], num[32];
	const json_t *grace = json_object_get(args, "grace_period_seconds");
	json_t *rsrc, *out;
	const char *ns;
	bool pending;

	rsrc = kd_resolve(s, call, kc_arg(args, "kind"), &err);
	if (!rsrc)
		return fail(res, &err);
	ns = kc_ns_for(s, rsrc, args);
	if (!kc_path(rsrc, ns, name, NULL, path, sizeof(path))) {
		json_decref(rsrc);
		return cx_result_errorf(res, "the name or namespace is too long");
	}
	if (pp)
		kc_query(path, sizeof(path), "propagationPolicy", pp);
	if (json_is_integer(grace)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(grace));
		kc_query(path, sizeof(path), "gracePeriodSeconds", num);
	}
	if (dry)
		kc_query(path, sizeof(path), "dryRun", "All");
	r.path = path;
	if (kc_do(s, call, &r, &resp, &err)) {
		json_decref(rsrc);
		return fail(res, &err);
	}
	/* The object comes back while finalizers or dependents hold it; a Status when gone. */
	pending = str_at(resp.json, "metadata", "deletionTimestamp") != NULL;
	out = json_pack("{s:s, s:s, s:s?, s:b, s:b, s:b}", "kind",
			json_string_value(json_object_get(rsrc, "kind")), "name", name, "namespace",
			ns, "deleted", 1, "pending", pending, "dryRun", dry);
	if (out && pp)
		json_object_set_new(out, "propagationPolicy", json_string(pp));
	cx_http_resp_release(&resp);
	json_decref(rsrc);
	return cx_result_structured(res, out);
}

int kc_scale(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	const char *name = kc_arg(args, "name");
	const char *kind = kc_arg(args, "kind") ? kc_arg(args, "kind") : "deployment";
	json_int_t want = json_integer_value(json_object_get(args, "replicas"));
	bool dry = json_is_true(json_object_get(args, "dry_run"));
	struct kc_req r = { .method = "PATCH", .content_type = "application/merge-patch+json" };
	struct cx_err err = { 0 };
	struct cx_http_resp resp;
	char path[KC_PATH_MAX], body[96];
	json_t *rsrc, *before = NULL, *out;
	const char *ns;

	rsrc = kd_resolve(s, call, kind, &err);
	if (!rsrc)
		return fail(res, &err);
	if (!json_is_true(json_object_get(rsrc, "scale"))) {
		cx_result_errorf(res,
				 "%s cannot be scaled (it has no scale subresource); scale a "
				 "deployment, statefulset, replicaset or replicationcontroller",
				 json_string_value(json_object_get(rsrc, "kind")));
		json_decref(rsrc);
		return 0;
	}
	ns = kc_ns_for(s, rsrc, args);
	if (!kc_path(rsrc, ns, name, "scale", path, sizeof(path)) ||
	    kc_get_json(s, call, path, &before, &err)) {
		json_decref(rsrc);
		return err.msg[0] ? fail(res, &err) : cx_result_errorf(res, "the name is too long");
	}
	if (dry)
		kc_query(path, sizeof(path), "dryRun", "All");
	snprintf(body, sizeof(body), "{\"spec\":{\"replicas\":%lld}}", (long long)want);
	r.path = path;
	r.body = body;
	r.body_len = strlen(body);
	if (kc_do(s, call, &r, &resp, &err)) {
		json_decref(rsrc);
		json_decref(before);
		return fail(res, &err);
	}
	out = json_pack("{s:s, s:s, s:s?, s:I, s:I, s:b}", "kind",
			json_string_value(json_object_get(rsrc, "kind")), "name", name, "namespace",
			ns, "replicas",
			json_integer_value(
				json_object_get(json_object_get(resp.json, "spec"), "replicas")),
			"previous",
			json_integer_value(
				json_object_get(json_object_get(before, "spec"), "replicas")),
			"dryRun", dry);
	cx_http_resp_release(&resp);
	json_decref(before);
	json_decref(rsrc);
	return cx_result_structured(res, out);
}
