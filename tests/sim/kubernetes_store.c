/* The Kubernetes simulator's objects (see kubernetes.h): list with label and field selectors
 * and limit/continue, get, create, replace, server-side apply (with field managers and
 * conflicts) and merge patches, delete with propagation, the scale subresource, pod logs, and
 * deployments that roll out a step each time they are read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/json.h"
#include "../../common/yaml.h"
#include "kubernetes.h"

#define LIST_MAX 500

static const char *md_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(json_object_get(o, "metadata"), key));
}

static bool is_kind(const json_t *o, const struct k8s_resource *r)
{
	return k8s_find_kind(json_string_value(json_object_get(o, "apiVersion")),
			     json_string_value(json_object_get(o, "kind"))) == r;
}

/* "deployments.apps" or "pods", as the API names a resource in messages. */
static void qualified(const struct k8s_resource *r, char *out, size_t len)
{
	snprintf(out, len, "%s%s%s", r->plural, *r->group ? "." : "", r->group);
}

static ssize_t find(const struct k8s_resource *r, const char *ns, const char *name)
{
	const json_t *o;
	size_t i;

	json_array_foreach(k8s.objects, i, o) {
		const char *ons = md_str(o, "namespace");
		if (is_kind(o, r) && !strcmp(md_str(o, "name") ? md_str(o, "name") : "", name) &&
		    (!r->namespaced || (ons && ns && !strcmp(ons, ns))))
			return (ssize_t)i;
	}
	return -1;
}

static void owner_key(const struct k8s_resource *r, const char *ns, const char *name, char *out,
		      size_t len)
{
	snprintf(out, len, "%s/%s/%s", r->plural, ns ? ns : "", name);
}

static void bump(json_t *o)
{
	char rv[32];

	snprintf(rv, sizeof(rv), "%ld", ++k8s.rv);
	json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rv));
}

static bool is_workload(const struct k8s_resource *r)
{
	return !strcmp(r->kind, "Deployment") || !strcmp(r->kind, "StatefulSet");
}

static json_int_t want_replicas(const json_t *o)
{
	const json_t *v = json_object_get(json_object_get(o, "spec"), "replicas");

	return v ? json_integer_value(v) : 1;
}

/* A workload whose rollout is complete. */
static void settle(json_t *o)
{
	json_int_t n = want_replicas(o);
	json_t *st = json_pack("{s:I,s:I,s:I,s:I,s:I,s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}",
			       "observedGeneration",
			       json_integer_value(json_object_get(json_object_get(o, "metadata"),
								  "generation")),
			       "replicas", n, "updatedReplicas", n, "readyReplicas", n,
			       "availableReplicas", n, "conditions", "type", "Available", "status",
			       "True", "reason", "MinimumReplicasAvailable", "type", "Progressing",
			       "status", "True", "reason", "NewReplicaSetAvailable");

	json_object_set_new(o, "status", st);
}

void k8s_stamp(json_t *o, const struct k8s_resource *r)
{
	json_t *md = json_object_get(o, "metadata");
	char uid[64];

	if (!md)
		json_object_set_new(o, "metadata", md = json_object());
	snprintf(uid, sizeof(uid), "5f0c1e2a-0000-4000-8000-%012ld", k8s.rv + 1);
	json_object_set_new(md, "uid", json_string(uid));
	if (!json_object_get(md, "creationTimestamp"))
		json_object_set_new(md, "creationTimestamp", json_string("2024-01-01T00:00:00Z"));
	if (is_workload(r)) {
		json_object_set_new(md, "generation", json_integer(1));
		if (!json_object_get(o, "status"))
			settle(o);
	}
	bump(o);
}

/* A workload's spec changed: a new generation, observed at once; a new pod template starts a
 * rollout that each read moves one replica further (see advance). */
static void spec_changed(json_t *o, bool template_changed)
{
	json_t *md = json_object_get(o, "metadata"), *st;
	json_int_t gen = json_integer_value(json_object_get(md, "generation")) + 1;

	json_object_set_new(md, "generation", json_integer(gen));
	settle(o);
	st = json_object_get(o, "status");
	if (template_changed)
		json_object_set_new(st, "updatedReplicas", json_integer(0));
}

static void advance(json_t *o)
{
	json_t *st = json_object_get(o, "status"), *c;
	json_int_t up = json_integer_value(json_object_get(st, "updatedReplicas"));
	size_t i;

	json_array_foreach(json_object_get(st, "conditions"), i, c)
		if (json_string_value(json_object_get(c, "reason")) &&
		    !strcmp(json_string_value(json_object_get(c, "reason")),
			    "ProgressDeadlineExceeded"))
			return;
	if (up < want_replicas(o)) {
		json_object_set_new(st, "updatedReplicas", json_integer(up + 1));
		bump(o);
	}
}

/* --- selectors ------------------------------------------------------------------------------ */

static const json_t *at_path(const json_t *o, const char *path)
{
	char buf[256], *save = NULL, *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = strtok_r(buf, ".", &save); p && o; p = strtok_r(NULL, ".", &save))
		o = json_object_get(o, p);
	return o;
}

/* One term "k=v", "k==v", "k!=v", and for labels "k" and "!k". -1: malformed. */
static int term_matches(const json_t *map, const char *term, bool labels, bool *ok)
{
	const char *ne = strstr(term, "!="), *eq = strchr(term, '=');
	char key[256];
	const char *val, *have;
	size_t kl;

	if (ne)
		kl = (size_t)(ne - term), val = ne + 2;
	else if (eq)
		kl = (size_t)(eq - term), val = eq + (eq[1] == '=' ? 2 : 1);
	else if (labels)
		kl = strlen(term), val = NULL;
	else
		return -1;
	if (!kl || kl >= sizeof(key))
		return -1;
	memcpy(key, term, kl);
	key[kl] = '\0';
	if (labels && !val) {
		bool neg = key[0] == '!';
		*ok = (json_object_get(map, key + neg) != NULL) != neg;
		return 0;
	}
	have = labels ? json_string_value(json_object_get(map, key))
		      : json_string_value(at_path(map, key));
	*ok = ne ? !have || strcmp(have, val) : have && !strcmp(have, val);
	return 0;
}

static bool field_allowed(const struct k8s_resource *r, const char *term)
{
	static const char *const common[] = { "metadata.name", "metadata.namespace", NULL };
	static const char *const pods[] = { "status.phase", "spec.nodeName", NULL };
	static const char *const events[] = { "involvedObject.name",
					      "involvedObject.kind",
					      "involvedObject.namespace",
					      "involvedObject.uid",
					      "reason",
					      "type",
					      NULL };
	size_t kl = strcspn(term, "!=");

	for (const char *const *l = common; *l; l++)
		if (strlen(*l) == kl && !strncmp(*l, term, kl))
			return true;
	for (const char *const *l = !strcmp(r->kind, "Pod")     ? pods
				    : !strcmp(r->kind, "Event") ? events
								: common + 2;
	     *l; l++)
		if (strlen(*l) == kl && !strncmp(*l, term, kl))
			return true;
	return false;
}

/* -1 with a 400 in resp when a selector is malformed. */
static int selected(const struct sim_request *req, const struct k8s_resource *r, const json_t *o,
		    bool *ok, struct sim_response *resp)
{
	const char *sels[2] = { sim_query(req, "labelSelector"), sim_query(req, "fieldSelector") };

	*ok = true;
	for (int k = 0; k < 2 && *ok; k++) {
		char buf[1024], *save = NULL, *t;
		if (!sels[k] || !*sels[k])
			continue;
		snprintf(buf, sizeof(buf), "%s", sels[k]);
		for (t = strtok_r(buf, ",", &save); t && *ok; t = strtok_r(NULL, ",", &save)) {
			if (k == 1 && !field_allowed(r, t)) {
				k8s_fail(resp, 400, "BadRequest", "field label not supported: %.*s",
					 (int)strcspn(t, "!="), t);
				return -1;
			}
			if (term_matches(k ? o
					   : json_object_get(json_object_get(o, "metadata"),
							     "labels"),
					 t, k == 0, ok)) {
				k8s_fail(resp, 400, "BadRequest", "unable to parse requirement: %s",
					 t);
				return -1;
			}
		}
	}
	return 0;
}

/* --- verbs ---------------------------------------------------------------------------------- */

static void list(const struct sim_request *req, const struct k8s_target *t,
		 struct sim_response *resp)
{
	const char *lim = sim_query(req, "limit"), *cont = sim_query(req, "continue");
	long limit = lim ? strtol(lim, NULL, 10) : 0, start = 0, seen = 0;
	json_t *items = json_array(), *o, *md = json_object();
	char kind[96], rv[32], next[32], av[96];
	size_t i;
	bool ok;

	if (cont && *cont &&
	    (strncmp(cont, "sim-", 4) || (start = strtol(cont + 4, NULL, 10)) <= 0)) {
		json_decref(items);
		json_decref(md);
		k8s_fail(resp, 400, "BadRequest", "continue key is not valid: %s", cont);
		return;
	}
	if (limit <= 0 || limit > LIST_MAX)
		limit = LIST_MAX;
	json_array_foreach(k8s.objects, i, o) {
		if (!is_kind(o, t->r) || (t->ns && strcmp(md_str(o, "namespace"), t->ns)))
			continue;
		if (selected(req, t->r, o, &ok, resp)) {
			json_decref(items);
			json_decref(md);
			return;
		}
		if (!ok || seen++ < start)
			continue;
		if ((long)json_array_size(items) == limit) {
			snprintf(next, sizeof(next), "sim-%ld", start + limit);
			json_object_set_new(md, "continue", json_string(next));
			break;
		}
		json_array_append(items, o);
	}
	snprintf(kind, sizeof(kind), "%sList", t->r->kind);
	snprintf(rv, sizeof(rv), "%ld", k8s.rv);
	snprintf(av, sizeof(av), "%s%s%s", t->r->group, *t->r->group ? "/" : "", t->r->version);
	json_object_set_new(md, "resourceVersion", json_string(rv));
	sim_reply(resp, 200,
		  json_pack("{s:s,s:s,s:o,s:o}", "kind", kind, "apiVersion", av, "metadata", md,
			    "items", items));
}

static void not_found(const struct k8s_target *t, const char *name, struct sim_response *resp)
{
	char q[96];

	qualified(t->r, q, sizeof(q));
	k8s_fail(resp, 404, "NotFound", "%s \"%s\" not found", q, name);
}

static bool namespace_exists(const char *ns)
{
	return find(k8s_find("", "v1", "namespaces"), NULL, ns) >= 0;
}

static json_t *scale_of(const json_t *o)
{
	return json_pack("{s:s,s:s,s:{s:s?,s:s?,s:s?},s:{s:I},s:{s:I}}", "kind", "Scale",
			 "apiVersion", "autoscaling/v1", "metadata", "name", md_str(o, "name"),
			 "namespace", md_str(o, "namespace"), "resourceVersion",
			 md_str(o, "resourceVersion"), "spec", "replicas", want_replicas(o),
			 "status", "replicas",
			 json_integer_value(
				 json_object_get(json_object_get(o, "status"), "replicas")));
}

static void get_one(const struct k8s_target *t, json_t *o, struct sim_response *resp)
{
	if (!strcmp(t->r->kind, "Deployment") && !t->sub)
		advance(o);
	sim_reply(resp, 200, t->sub && !strcmp(t->sub, "scale") ? scale_of(o) : json_incref(o));
}

static void logs(const struct sim_request *req, const struct k8s_target *t, const json_t *pod,
		 struct sim_response *resp)
{
	const json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers"), *c;
	const char *want = sim_query(req, "container"), *prev = sim_query(req, "previous");
	const char *tail = sim_query(req, "tailLines"), *lim = sim_query(req, "limitBytes");
	char names[300] = "", key[600];
	const char *text, *p;
	size_t i, n;
	bool found = false;

	json_array_foreach(cs, i, c) {
		const char *cn = json_string_value(json_object_get(c, "name"));
		n = strlen(names);
		snprintf(names + n, sizeof(names) - n, "%s%s", n ? " " : "", cn);
		found |= want && !strcmp(cn, want);
	}
	if (!want && json_array_size(cs) > 1)
		return k8s_fail(
			resp, 400, "BadRequest",
			"a container name must be specified for pod %s, choose one of: [%s]",
			t->name, names);
	if (want && !found)
		return k8s_fail(resp, 400, "BadRequest", "container %s is not valid for pod %s",
				want, t->name);
	if (!want)
		want = json_string_value(json_object_get(json_array_get(cs, 0), "name"));
	snprintf(key, sizeof(key), "%s/%s/%s", t->ns, t->name, want);
	text = json_string_value(
		json_object_get(prev && !strcmp(prev, "true") ? k8s.previous_logs : k8s.logs, key));
	if (!text && prev && !strcmp(prev, "true"))
		return k8s_fail(resp, 400, "BadRequest",
				"previous terminated container \"%s\" in pod \"%s\" not found",
				want, t->name);
	text = text ? text : "";
	if (tail) { /* the last N lines */
		long want_lines = strtol(tail, NULL, 10), lines = 0;
		for (p = text + strlen(text); p > text; p--)
			if (p[-1] == '\n' && p != text + strlen(text) && ++lines == want_lines)
				break;
		text = want_lines <= 0 ? text + strlen(text) : p;
	}
	n = strlen(text);
	if (lim && strtol(lim, NULL, 10) > 0 && (size_t)strtol(lim, NULL, 10) < n)
		n = (size_t)strtol(lim, NULL, 10);
	resp->status = 200;
	resp->body = strndup(text, n);
	resp->len = resp->body ? n : 0;
}

/* RFC 7386 merge of patch into target (in place). */
static void merge(json_t *target, const json_t *patch)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)patch, k, v) {
		json_t *cur = json_object_get(target, k);
		if (json_is_null(v))
			json_object_del(target, k);
		else if (json_is_object(v) && json_is_object(cur))
			merge(cur, v);
		else
			json_object_set_new(target, k, json_deep_copy(v));
	}
}

/* Every leaf path of v under prefix ("spec.replicas"), for field ownership. */
static void leaves(const json_t *v, const char *prefix, json_t *out)
{
	const char *k;
	json_t *c;
	char path[512];

	if (!json_is_object(v) || !json_object_size(v)) {
		json_array_append_new(out, json_string(prefix));
		return;
	}
	json_object_foreach((json_t *)v, k, c) {
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", k);
		leaves(c, path, out);
	}
}

/* Fields of patch (an apply) that another manager owns with a different value: a 409 in resp
 * naming them, unless force; otherwise the fields become manager's. */
static int take_fields(const struct k8s_target *t, const json_t *cur, const json_t *patch,
		       const char *manager, bool force, bool dry, struct sim_response *resp)
{
	char key[600], conflicts[600] = "";
	json_t *paths = json_array(), *p, *owned;
	size_t i, n = 0;

	owner_key(t->r, t->ns, t->name, key, sizeof(key));
	owned = json_object_get(k8s.owners, key);
	leaves(json_object_get(patch, "spec"), "spec", paths);
	leaves(json_object_get(patch, "data"), "data", paths);
	json_array_foreach(paths, i, p) {
		const char *path = json_string_value(p);
		const char *who = json_string_value(json_object_get(owned, path));
		size_t l = strlen(conflicts);
		if (!cur || !who || !strcmp(who, manager) ||
		    json_equal((json_t *)at_path(cur, path), (json_t *)at_path(patch, path)))
			continue;
		n++;
		snprintf(conflicts + l, sizeof(conflicts) - l, "%sconflict with \"%s\": .%s",
			 l ? "\n* " : "", who, path);
	}
	if (n && !force) {
		json_decref(paths);
		k8s_fail(resp, 409, "Conflict", "Apply failed with %zu conflict%s: %s", n,
			 n > 1 ? "s" : "", conflicts);
		return -1;
	}
	if (!dry) {
		if (!owned) {
			owned = json_object();
			json_object_set_new(k8s.owners, key, owned);
		}
		json_array_foreach(paths, i, p)
			json_object_set_new(owned, json_string_value(p), json_string(manager));
	}
	json_decref(paths);
	return 0;
}

/* Checks a body against the URL: kind, apiVersion, name, namespace. */
static int check_body(const struct k8s_target *t, const json_t *body, bool need_name,
		      struct sim_response *resp)
{
	const char *name = md_str(body, "name"), *ns = md_str(body, "namespace");

	if (!json_is_object(body) || !is_kind(body, t->r)) {
		k8s_fail(resp, 400, "BadRequest",
			 "the body must be a %s (apiVersion %s%s%s, kind %s)", t->r->kind,
			 t->r->group, *t->r->group ? "/" : "", t->r->version, t->r->kind);
		return -1;
	}
	if ((need_name && !name) || (name && t->name && strcmp(name, t->name))) {
		k8s_fail(resp, 400, "BadRequest",
			 "the name of the object (%s) does not match the name on the URL (%s)",
			 name ? name : "", t->name ? t->name : "");
		return -1;
	}
	if (ns && t->ns && strcmp(ns, t->ns)) {
		k8s_fail(resp, 400, "BadRequest",
			 "the namespace of the provided object does not match the namespace sent "
			 "on the request");
		return -1;
	}
	if (t->r->namespaced && !namespace_exists(t->ns)) {
		k8s_fail(resp, 404, "NotFound", "namespaces \"%s\" not found", t->ns);
		return -1;
	}
	return 0;
}

/* Server-controlled metadata and status are not the client's to set. */
static void scrub(json_t *body)
{
	static const char *const keys[] = { "uid",        "resourceVersion", "creationTimestamp",
					    "generation", "managedFields",   NULL };

	for (size_t i = 0; keys[i]; i++)
		json_object_del(json_object_get(body, "metadata"), keys[i]);
	json_object_del(body, "status");
}

/* Stores the new version of an object (index at, or -1 for a new one); answers with it. */
static void store(const struct k8s_target *t, ssize_t at, json_t *obj, bool dry,
		  unsigned int status, struct sim_response *resp)
{
	const json_t *old = at >= 0 ? json_array_get(k8s.objects, (size_t)at) : NULL;

	if (t->r->namespaced)
		json_object_set_new(json_object_get(obj, "metadata"), "namespace",
				    json_string(t->ns));
	if (!old) {
		k8s_stamp(obj, t->r);
		if (is_workload(t->r)) /* a new workload rolls out as it is read */
			json_object_set_new(json_object_get(obj, "status"), "updatedReplicas",
					    json_integer(0));
	} else if (!json_equal(obj, (json_t *)old)) {
		if (is_workload(t->r) &&
		    !json_equal(json_object_get(obj, "spec"), json_object_get(old, "spec")))
			spec_changed(obj, !json_equal(at_path(obj, "spec.template"),
						      at_path(old, "spec.template")));
		bump(obj);
	}
	if (!dry && at >= 0)
		json_array_set(k8s.objects, (size_t)at, obj);
	else if (!dry)
		json_array_append(k8s.objects, obj);
	sim_reply(resp, status, json_incref(obj));
}

static json_t *parse_body(const struct sim_request *req, bool yaml, struct sim_response *resp)
{
	struct cx_err err = { 0 };
	json_t *v = yaml ? cx_yaml_load_one(req->body, req->body_len, &err)
			 : cx_json_loadb(req->body, req->body_len, SIM_BODY_MAX, &err);

	if (!v)
		k8s_fail(resp, 400, "BadRequest", "the body does not parse: %s", err.msg);
	return v;
}

static void apply(const struct sim_request *req, const struct k8s_target *t, ssize_t at, bool dry,
		  struct sim_response *resp)
{
	const char *mgr = sim_query(req, "fieldManager"), *force = sim_query(req, "force");
	json_t *body, *obj;

	if (!mgr || !*mgr)
		return k8s_fail(resp, 422, "Invalid",
				"PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
				"value: is required for apply patch");
	if (t->sub)
		return k8s_fail(resp, 415, "UnsupportedMediaType",
				"the simulator applies only whole objects");
	if (!(body = parse_body(req, true, resp)))
		return;
	if (check_body(t, body, true, resp) ||
	    take_fields(t, at >= 0 ? json_array_get(k8s.objects, (size_t)at) : NULL, body, mgr,
			force && !strcmp(force, "true"), dry, resp)) {
		json_decref(body);
		return;
	}
	scrub(body);
	obj = at >= 0 ? json_deep_copy(json_array_get(k8s.objects, (size_t)at)) : json_object();
	merge(obj, body);
	json_decref(body);
	store(t, at, obj, dry, at >= 0 ? 200 : 201, resp);
	json_decref(obj);
}

static void patch(const struct sim_request *req, const struct k8s_target *t, ssize_t at, bool dry,
		  struct sim_response *resp)
{
	const char *ct = sim_header(req, "Content-Type");
	json_t *body, *obj;

	if (ct && !strncmp(ct, "application/apply-patch+yaml", 28))
		return apply(req, t, at, dry, resp);
	if (!ct || (strncmp(ct, "application/merge-patch+json", 28) &&
		    strncmp(ct, "application/strategic-merge-patch+json", 38)))
		return k8s_fail(resp, 415, "UnsupportedMediaType",
				"the body of the request was in an unknown format - accepted media "
				"types include: application/json-patch+json, "
				"application/merge-patch+json, application/apply-patch+yaml");
	if (at < 0)
		return not_found(t, t->name, resp);
	if (!(body = parse_body(req, false, resp)))
		return;
	obj = json_deep_copy(json_array_get(k8s.objects, (size_t)at));
	if (t->sub && !strcmp(t->sub, "scale")) {
		const json_t *n = at_path(body, "spec.replicas");
		if (!json_is_integer(n) || json_integer_value(n) < 0) {
			json_decref(body);
			json_decref(obj);
			return k8s_fail(
				resp, 422, "Invalid",
				"Scale.autoscaling \"%s\" is invalid: spec.replicas: must be "
				"greater than or equal to 0",
				t->name);
		}
		json_object_set(json_object_get(obj, "spec"), "replicas", (json_t *)n);
	} else {
		scrub(body);
		merge(obj, body);
	}
	json_decref(body);
	store(t, at, obj, dry, 200, resp);
	if (t->sub && !strcmp(t->sub, "scale")) {
		free(resp->body);
		resp->body = NULL;
		sim_reply(resp, 200, scale_of(obj));
	}
	json_decref(obj);
}

static void create_or_replace(const struct sim_request *req, const struct k8s_target *t, ssize_t at,
			      bool dry, struct sim_response *resp)
{
	bool create = !strcmp(req->method, "POST");
	json_t *body = parse_body(req, false, resp), *obj;
	char q[96];

	if (!body)
		return;
	if (check_body(t, body, true, resp)) {
		json_decref(body);
		return;
	}
	at = find(t->r, t->ns, md_str(body, "name"));
	qualified(t->r, q, sizeof(q));
	if (create && at >= 0) {
		k8s_fail(resp, 409, "AlreadyExists", "%s \"%s\" already exists", q,
			 md_str(body, "name"));
	} else if (!create && at < 0) {
		not_found(t, t->name, resp);
	} else if (!create && md_str(body, "resourceVersion") &&
		   strcmp(md_str(body, "resourceVersion"),
			  md_str(json_array_get(k8s.objects, (size_t)at), "resourceVersion"))) {
		k8s_fail(
			resp, 409, "Conflict",
			"Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
			"please apply your changes to the latest version and try again",
			q, t->name);
	} else {
		scrub(body);
		obj = json_deep_copy(body);
		if (!create) { /* keep what the server set */
			const json_t *old = json_array_get(k8s.objects, (size_t)at);
			json_object_set(json_object_get(obj, "metadata"), "uid",
					json_object_get(json_object_get(old, "metadata"), "uid"));
		}
		store(t, create ? -1 : at, obj, dry, create ? 201 : 200, resp);
		json_decref(obj);
	}
	json_decref(body);
}

static void delete (const struct sim_request *req, const struct k8s_target *t, ssize_t at, bool dry,
		    struct sim_response *resp)
{
	const char *pp = sim_query(req, "propagationPolicy");
	json_t *obj;
	size_t i;

	if (pp && strcmp(pp, "Foreground") && strcmp(pp, "Background") && strcmp(pp, "Orphan"))
		return k8s_fail(resp, 400, "BadRequest",
				"propagationPolicy: Unsupported value: \"%s\": supported values: "
				"\"Foreground\", \"Background\", \"Orphan\"",
				pp);
	if (at < 0)
		return not_found(t, t->name, resp);
	obj = json_deep_copy(json_array_get(k8s.objects, (size_t)at));
	if (pp && !strcmp(pp, "Foreground")) { /* dependents go first; the object waits */
		json_object_set_new(json_object_get(obj, "metadata"), "deletionTimestamp",
				    json_string("2024-01-01T00:00:01Z"));
		json_object_set_new(json_object_get(obj, "metadata"), "finalizers",
				    json_pack("[s]", "foregroundDeletion"));
	}
	if (!dry) {
		json_array_remove(k8s.objects, (size_t)at);
		if (!strcmp(t->r->kind, "Namespace")) /* its objects go with it */
			for (i = json_array_size(k8s.objects); i-- > 0;)
				if (md_str(json_array_get(k8s.objects, i), "namespace") &&
				    !strcmp(md_str(json_array_get(k8s.objects, i), "namespace"),
					    t->name))
					json_array_remove(k8s.objects, i);
	}
	sim_reply(resp, 200, obj);
}

void k8s_serve(const struct sim_request *req, const struct k8s_target *t, struct sim_response *resp)
{
	const char *dr = sim_query(req, "dryRun");
	bool get = !strcmp(req->method, "GET"), dry = dr && !strcmp(dr, "All");
	ssize_t at = t->name ? find(t->r, t->ns, t->name) : -1;
	char q[96];

	qualified(t->r, q, sizeof(q));
	if (dr && !dry)
		return k8s_fail(resp, 400, "BadRequest", "invalid dry run value: %s", dr);
	if (t->readonly && !get)
		return k8s_fail(
			resp, 403, "Forbidden",
			"%s \"%s\" is forbidden: User \"system:serviceaccount:cortex:readonly\" "
			"cannot %s resource \"%s\" in API group \"%s\"%s%s%s",
			q, t->name ? t->name : "", req->method, t->r->plural, t->r->group,
			t->ns ? " in the namespace \"" : "", t->ns ? t->ns : "", t->ns ? "\"" : "");
	if (t->r->namespaced && t->name && !t->ns)
		return k8s_fail(resp, 404, "NotFound",
				"the server could not find the requested resource");
	if (get && !t->name)
		return list(req, t, resp);
	if (get && at < 0)
		return not_found(t, t->name, resp);
	if (get && t->sub && !strcmp(t->sub, "log"))
		return logs(req, t, json_array_get(k8s.objects, (size_t)at), resp);
	if (get)
		return get_one(t, json_array_get(k8s.objects, (size_t)at), resp);
	if (!strcmp(req->method, "PATCH") && t->name)
		return patch(req, t, at, dry, resp);
	if ((!strcmp(req->method, "POST") && !t->name) ||
	    (!strcmp(req->method, "PUT") && t->name && !t->sub))
		return create_or_replace(req, t, at, dry, resp);
	if (!strcmp(req->method, "DELETE") && t->name && !t->sub)
		return delete (req, t, at, dry, resp);
	k8s_fail(resp, 405, "MethodNotAllowed",
		 "the server does not allow this method on the requested resource");
}
