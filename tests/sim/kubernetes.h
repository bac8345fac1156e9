/* Kubernetes simulator: what kubernetes.c (routing, auth, discovery, seed state) and
 * kubernetes_store.c (objects: list, get, create, apply and merge patches, delete, scale,
 * logs, deployment rollouts) share. Private to the two. */
#ifndef SIM_KUBERNETES_H
#define SIM_KUBERNETES_H

#include "sim.h"

struct k8s_resource {
	const char *group, *version, *plural, *kind, *singular, *shorts;
	bool namespaced;
	const char *subresources; /* "log", "scale", "status" (space-separated) */
};

extern const struct k8s_resource k8s_resources[];
extern const size_t k8s_nresources;

struct k8s_state {
	json_t *tokens;          /* full access */
	json_t *readonly_tokens; /* get and list only: writes are 403 */
	json_t *objects;         /* array of objects, as served */
	json_t *owners;          /* object key -> {field path: field manager} */
	json_t *logs;            /* "ns/pod/container" -> text */
	json_t *previous_logs;   /* the same, for previous=true */
	long rv;                 /* the last resourceVersion handed out */
	bool legacy_discovery;   /* answer as servers before aggregated discovery (1.26) */
};

extern struct k8s_state k8s;

/* A Status object (kind Status, status Failure, reason, code, message) as the reply. */
void k8s_fail(struct sim_response *resp, unsigned int code, const char *reason, const char *fmt,
	      ...) __attribute__((format(printf, 4, 5)));

/* One request on a resource: ns NULL for cluster scope (or all namespaces), name and sub
 * (subresource) NULL when absent. */
struct k8s_target {
	const struct k8s_resource *r;
	const char *ns, *name, *sub;
	bool readonly; /* the caller's token is read-only */
};

void k8s_serve(const struct sim_request *req, const struct k8s_target *t,
	       struct sim_response *resp);
/* Seeds metadata (uid, resourceVersion, creationTimestamp, generation) of a loaded object. */
void k8s_stamp(json_t *obj, const struct k8s_resource *r);
const struct k8s_resource *k8s_find(const char *group, const char *version, const char *plural);
const struct k8s_resource *k8s_find_kind(const char *api_version, const char *kind);

#endif
