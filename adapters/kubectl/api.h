/* The Kubernetes API as the tools see it: the adapter's state, one authenticated request whose
 * failures (Status objects) become sentences, and paths built from a resolved resource. */
#ifndef CX_KUBECTL_API_H
#define CX_KUBECTL_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../common/adapter.h"
#include "../../common/http_client.h"
#include "kubeconfig.h"

struct kc_state {
	struct cx_http_client *http;
	struct kc_creds creds;
	long timeout_ms;
	pthread_mutex_t disc_lock;
	json_t *builtin;    /* kd_builtin(), read-only */
	json_t *disc;       /* discovered resources (see discovery.h), or NULL; replaced whole */
	int64_t disc_at_ms; /* when discovery last ran (successfully or not) */
};

struct kc_req {
	const char *method;
	const char *path; /* "/api/v1/namespaces/default/pods?limit=5" */
	const char *body; /* NULL: none */
	size_t body_len;
	const char *content_type; /* NULL: application/json */
	const char *accept;       /* NULL: application/json */
	const char *hint;         /* what to try when it fails, or NULL for the status's own */
	long hint_status;         /* the status hint is for; 0: any */
};

/* Sends r with the configured credentials (a token file is read again each time: it
 * rotates). 0 with resp filled for a 2xx answer; -1 with the sentence in err otherwise: the
 * transport's, or for an HTTP error "kubernetes answered 404 Not Found to GET /api/v1/...:
 * NotFound: pods \"x\" not found; <hint>" from the Status object the API server sends. */
int kc_do(struct kc_state *s, const struct cx_call *call, const struct kc_req *r,
	  struct cx_http_resp *resp, struct cx_err *err);
/* GET path; *out the JSON body (new reference). */
int kc_get_json(struct kc_state *s, const struct cx_call *call, const char *path, json_t **out,
		struct cx_err *err);

/* "/api/v1" or "/apis/<group>/<version>", then "/namespaces/<ns>" when ns is given, then
 * "/<plural>", "/<name>" and "/<sub>" when given; names are escaped. false when too long. */
bool kc_path(const json_t *res, const char *ns, const char *name, const char *sub, char *out,
	     size_t outlen);
/* Appends "?k=v" or "&k=v" (v escaped) to out. false when it does not fit. */
bool kc_query(char *out, size_t outlen, const char *key, const char *value);

#endif
