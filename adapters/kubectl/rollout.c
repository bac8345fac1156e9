/* kubectl rollout restart and status, for deployments, statefulsets and daemonsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"
#include "discovery.h"
#include "tools.h"

#define KC_PATH_MAX     2048
#define KC_POLL_MS      1000
#define KC_RESTARTED_AT "kubectl.kubernetes.io/restartedAt"

static json_int_t num(const json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

/* The workload kind of args (default deployment), or NULL with a sentence in res. */
static json_t *workload(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	const char *kind = kc_arg(args, "kind") ? kc_arg(args, "kind") : "deployment";
	struct cx_err err = { 0 };
	json_t *rsrc = kd_resolve(s, call, kind, &err);
	const char *k = json_string_value(json_object_get(rsrc, "kind"));

	if (!rsrc) {
		cx_result_errorf(res, "%s", err.msg);
		return NULL;
	}
	if (strcmp(k, "Deployment") && strcmp(k, "StatefulSet") && strcmp(k, "DaemonSet")) {
		cx_result_errorf(res,
				 "%s has no rollout; use a deployment, statefulset or daemonset",
				 k);
		json_decref(rsrc);
		return NULL;
	}
	return rsrc;
}

int kc_rollout_restart(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	const char *name = kc_arg(args, "name"), *ns;
	struct kc_req r = { .method = "PATCH",
			    .content_type = "application/strategic-merge-patch+json" };
	struct cx_err err = { 0 };
	struct cx_http_resp resp;
	char path[KC_PATH_MAX], when[32], body[256];
	time_t now = time(NULL);
	struct tm tm;
	json_t *rsrc = workload(call, args, res), *out;

	if (!rsrc)
		return 0;
	ns = kc_ns_for(s, rsrc, args);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(body, sizeof(body),
		 "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"" KC_RESTARTED_AT
		 "\":\"%s\"}}}}}",
		 when);
	if (!kc_path(rsrc, ns, name, NULL, path, sizeof(path)) ||
	    !kc_query(path, sizeof(path), "fieldManager", "cortex")) {
		json_decref(rsrc);
		return cx_result_errorf(res, "the name or namespace is too long");
	}
	r.path = path;
	r.body = body;
	r.body_len = strlen(body);
	if (kc_do(s, call, &r, &resp, &err)) {
		json_decref(rsrc);
		return cx_result_errorf(res, "%s", err.msg);
	}
	out = json_pack("{s:s, s:s, s:s?, s:s, s:I}", "kind",
			json_string_value(json_object_get(rsrc, "kind")), "name", name, "namespace",
			ns, "restartedAt", when, "generation",
			num(resp.json, "metadata", "generation"));
	cx_http_resp_release(&resp);
	json_decref(rsrc);
	return cx_result_structured(res, out);
}

/* kubectl's status viewers: *done, and the sentence kubectl prints. -1 when the rollout has
 * failed for good (a deployment past its progress deadline). */
static int judge(const char *kind, const json_t *o, bool *done, char *msg, size_t len)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
	const json_t *st = json_object_get(o, "status"), *c;
	json_int_t want = json_object_get(json_object_get(o, "spec"), "replicas")
				  ? num(o, "spec", "replicas")
				  : 1;
	size_t i;

	*done = false;
	if (num(o, "metadata", "generation") > num(o, "status", "observedGeneration")) {
		cx_fmt(msg, len, "Waiting for %s spec update to be observed...", kind);
		return 0;
	}
	if (!strcmp(kind, "DaemonSet")) {
		json_int_t d = num(o, "status", "desiredNumberScheduled");
		if (num(o, "status", "updatedNumberScheduled") < d)
			cx_fmt(msg, len,
			       "Waiting for daemon set \"%s\" rollout to finish: %lld out of %lld new pods have been updated...",
			       name, (long long)num(o, "status", "updatedNumberScheduled"),
			       (long long)d);
		else if (num(o, "status", "numberAvailable") < d)
			cx_fmt(msg, len,
			       "Waiting for daemon set \"%s\" rollout to finish: %lld of %lld updated pods are available...",
			       name, (long long)num(o, "status", "numberAvailable"), (long long)d);
		else
			*done = cx_fmt(msg, len, "daemon set \"%s\" successfully rolled out", name);
		return 0;
	}
	if (!strcmp(kind, "StatefulSet")) {
		const char *cur = json_string_value(json_object_get(st, "currentRevision"));
		const char *upd = json_string_value(json_object_get(st, "updateRevision"));
		if (num(o, "status", "readyReplicas") < want)
			cx_fmt(msg, len, "Waiting for %lld pods to be ready...",
			       (long long)(want - num(o, "status", "readyReplicas")));
		else if (cur && upd && strcmp(cur, upd))
			cx_fmt(msg, len,
			       "waiting for statefulset rolling update to complete %lld pods at revision %s...",
			       (long long)num(o, "status", "updatedReplicas"), upd);
		else
			*done = cx_fmt(
				msg, len,
				"statefulset rolling update complete %lld pods at revision %s...",
				(long long)num(o, "status", "currentReplicas"), cur ? cur : "");
		return 0;
	}
	json_array_foreach(json_object_get(st, "conditions"), i, c) {
		const char *reason = json_string_value(json_object_get(c, "reason"));
		const char *type = json_string_value(json_object_get(c, "type"));
		if (type && reason && !strcmp(type, "Progressing") &&
		    !strcmp(reason, "ProgressDeadlineExceeded")) {
			cx_fmt(msg, len, "deployment \"%s\" exceeded its progress deadline", name);
			return -1;
		}
	}
	if (num(o, "status", "updatedReplicas") < want)
		cx_fmt(msg, len,
		       "Waiting for deployment \"%s\" rollout to finish: %lld out of %lld new replicas have been updated...",
		       name, (long long)num(o, "status", "updatedReplicas"), (long long)want);
	else if (num(o, "status", "replicas") > num(o, "status", "updatedReplicas"))
		cx_fmt(msg, len,
		       "Waiting for deployment \"%s\" rollout to finish: %lld old replicas are pending termination...",
		       name,
		       (long long)(num(o, "status", "replicas") -
				   num(o, "status", "updatedReplicas")));
	else if (num(o, "status", "availableReplicas") < num(o, "status", "updatedReplicas"))
		cx_fmt(msg, len,
		       "Waiting for deployment \"%s\" rollout to finish: %lld of %lld updated replicas are available...",
		       name, (long long)num(o, "status", "availableReplicas"),
		       (long long)num(o, "status", "updatedReplicas"));
	else
		*done = cx_fmt(msg, len, "deployment \"%s\" successfully rolled out", name);
	return 0;
}

static bool nap(struct cx_call *call, long ms)
{
	for (long slept = 0; slept < ms; slept += 50) {
		struct timespec ts = { 0, 50 * 1000000L };
		if (cx_call_cancelled(call))
			return false;
		nanosleep(&ts, NULL);
	}
	return !cx_call_cancelled(call);
}

int kc_rollout_status(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct kc_state *s = call->state;
	bool wait = json_is_true(json_object_get(args, "wait")), done = false;
	long timeout_s =
		json_is_integer(json_object_get(args, "timeout_seconds"))
			? (long)json_integer_value(json_object_get(args, "timeout_seconds"))
			: 60;
	int64_t until = cx_now_ms() + timeout_s * 1000;
	struct cx_err err = { 0 };
	char path[KC_PATH_MAX], msg[400];
	json_t *rsrc = workload(call, args, res), *o = NULL, *out;
	const char *kind;
	int verdict;

	if (!rsrc)
		return 0;
	kind = json_string_value(json_object_get(rsrc, "kind"));
	if (!kc_path(rsrc, kc_ns_for(s, rsrc, args), kc_arg(args, "name"), NULL, path,
		     sizeof(path))) {
		json_decref(rsrc);
		return cx_result_errorf(res, "the name or namespace is too long");
	}
	for (;;) {
		json_decref(o);
		if (kc_get_json(s, call, path, &o, &err)) {
			json_decref(rsrc);
			return cx_result_errorf(res, "%s", err.msg);
		}
		verdict = judge(kind, o, &done, msg, sizeof(msg));
		if (verdict || done || !wait || cx_now_ms() + KC_POLL_MS > until ||
		    cx_call_remaining_ms(call) < KC_POLL_MS + 500 || !nap(call, KC_POLL_MS))
			break;
	}
	out = json_pack("{s:s, s:s, s:s?, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "kind", kind,
			"name", kc_arg(args, "name"), "namespace",
			json_string_value(
				json_object_get(json_object_get(o, "metadata"), "namespace")),
			"done", done, "message", msg, "generation",
			num(o, "metadata", "generation"), "observedGeneration",
			num(o, "status", "observedGeneration"), "replicas",
			num(o, "status", "replicas"), "updated",
			num(o, "status", "updatedReplicas"), "ready",
			num(o, "status", "readyReplicas"), "available",
			num(o, "status", "availableReplicas"));
	json_decref(o);
	json_decref(rsrc);
	if (verdict) {
		json_decref(out);
		return cx_result_errorf(res, "%s; kubectl_describe shows its conditions and events",
					msg);
	}
	return cx_result_structured(res, out);
}
