/* Which resource a kind names, as kubectl's RESTMapper decides: plural, singular, kind or
 * short name, optionally qualified by group ("deployments.apps") or version and group
 * ("deployment.v1.apps"), case-insensitive. The API server's discovery (aggregated
 * apidiscovery.k8s.io/v2 where served, else /api and /apis group by group) is fetched on the
 * first name the built-in table of well-known resources does not know, cached, and fetched
 * again on a later miss.
 *
 * A resource is a JSON object: {"group": "apps", "version": "v1", "resource": "deployments",
 * "kind": "Deployment", "singular": "deployment", "shortNames": ["deploy"], "namespaced":
 * true, "scale": true}. */
#ifndef CX_KUBECTL_DISCOVERY_H
#define CX_KUBECTL_DISCOVERY_H

#include <jansson.h>
#include <stdbool.h>

#include "../../common/err.h"
#include "api.h"

/* The resource for name (new reference), or NULL with err saying the name is unknown (and,
 * when discovery failed, why). */
json_t *kd_resolve(struct kc_state *s, const struct cx_call *call, const char *name,
		   struct cx_err *err);
/* The resource of a manifest's apiVersion and kind. */
json_t *kd_resolve_gvk(struct kc_state *s, const struct cx_call *call, const char *api_version,
		       const char *kind, struct cx_err *err);

/* Pure helpers, for tests: the first resource of table (an array) that name resolves to, or
 * NULL; the table built in; resources from an APIGroupDiscoveryList, an APIResourceList. */
const json_t *kd_match(const json_t *table, const char *name);
const json_t *kd_match_gvk(const json_t *table, const char *group, const char *version,
			   const char *kind);
json_t *kd_builtin(void);
int kd_parse_aggregated(const json_t *list, json_t *into);
int kd_parse_resource_list(const json_t *list, json_t *into);

#endif
