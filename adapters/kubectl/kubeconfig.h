/* Where the Kubernetes API is and how to authenticate to it: a kubeconfig (one file or a ':'
 * list, merged as kubectl merges them) and a context, or the pod's service account. */
#ifndef CX_KUBECTL_KUBECONFIG_H
#define CX_KUBECTL_KUBECONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "../../common/err.h"
#include "../../common/secret.h"

#define KC_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kc_creds {
	char *server;           /* "https://10.0.0.1:6443", no trailing '/' */
	char *ns;               /* the default namespace ("default" when none is set) */
	char *context;          /* the context used, or "in-cluster" */
	char *user;             /* the kubeconfig user's name (messages), or "service account" */
	struct cx_secret token; /* a static bearer token, or empty */
	char *token_file;       /* re-read at every request (it rotates), or NULL */
	char *ca_file, *ca_pem; /* the cluster's CA, or neither (system CAs) */
	char *cert_file, *key_file;
	char *cert_pem;
	struct cx_secret key_pem;
	bool insecure;
};

/* From paths (a ':' list; NULL: $KUBECONFIG, else ~/.kube/config) and context (NULL: the
 * current-context). Files of the list that do not exist are skipped; for every cluster, user
 * and context name, and for current-context, the first file that sets it wins. Relative
 * paths in a file are taken relative to that file's directory. exec and auth-provider
 * credentials, and basic auth, are refused with a sentence. 0, or -1 with err. */
int kc_load_kubeconfig(const char *paths, const char *context, struct kc_creds *out,
		       struct cx_err *err);
/* The same from one parsed document (for tests); dir resolves relative paths. */
int kc_from_config(const json_t *config, const char *dir, const char *context, struct kc_creds *out,
		   struct cx_err *err);
/* In a pod: KUBERNETES_SERVICE_HOST/PORT, dir/token (re-read), dir/ca.crt, dir/namespace. */
int kc_load_in_cluster(const char *dir, struct kc_creds *out, struct cx_err *err);
void kc_creds_release(struct kc_creds *c);

#endif
