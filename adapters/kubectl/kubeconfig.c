/* kubeconfig and in-cluster credentials (see kubeconfig.h). Parsed with libyaml
 * (common/yaml.c); secrets go into struct cx_secret and never into a message. */
#include "kubeconfig.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/util.h"
#include "../../common/yaml.h"

#define KC_FILE_MAX (4u << 20)

void kc_creds_release(struct kc_creds *c)
{
	free(c->server);
	free(c->ns);
	free(c->context);
	free(c->user);
	cx_secret_release(&c->token);
	free(c->token_file);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem);
	cx_secret_release(&c->key_pem);
	memset(c, 0, sizeof(*c));
}

/* Reads a whole file of at most KC_FILE_MAX bytes; caller frees. NULL with errno. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return NULL;
	buf = malloc(KC_FILE_MAX + 1);
	if (buf)
		n = fread(buf, 1, KC_FILE_MAX + 1, f);
	fclose(f);
	if (!buf)
		return NULL;
	if (n > KC_FILE_MAX) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* An entry named name in a kubeconfig list (clusters, users, contexts): its inner object. */
static const json_t *named(const json_t *config, const char *list, const char *inner,
			   const char *name)
{
	const json_t *arr = json_object_get(config, list), *v;
	size_t i;

	json_array_foreach((json_t *)arr, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && !strcmp(n, name))
			return json_object_get(v, inner);
	}
	return NULL;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

/* A path from the file, relative to its directory. NULL when absent; *oom on failure. */
static char *path_at(const json_t *o, const char *key, const char *dir, bool *oom)
{
	const char *p = str(o, key);
	char *r;

	if (!p)
		return NULL;
	r = dir ? cx_path_resolve(dir, p) : strdup(p);
	if (!r)
		*oom = true;
	return r;
}

/* base64 PEM data from a *-data key, as a NUL-terminated string. */
static int b64_data(const json_t *o, const char *key, char **out, struct cx_err *err)
{
	const char *b = str(o, key);
	size_t n;
	long got;

	*out = NULL;
	if (!b)
		return 0;
	n = strlen(b);
	*out = malloc(n + 1);
	if (!*out)
		return cx_err_set(err, "out of memory");
	got = cx_b64_decode(b, n, (unsigned char *)*out, n);
	if (got <= 0) {
		free(*out);
		*out = NULL;
		return cx_err_set(err, "'%s' is not base64", key);
	}
	(*out)[got] = '\0';
	return 0;
}

static int load_cluster(const json_t *cl, const char *dir, struct kc_creds *c, struct cx_err *err)
{
	const char *server = str(cl, "server");
	const json_t *skip = json_object_get(cl, "insecure-skip-tls-verify");
	bool oom = false;
	size_t n;

	if (!server)
		return cx_err_set(err, "the cluster has no 'server'");
	if (str(cl, "proxy-url"))
		return cx_err_set(err, "the cluster's 'proxy-url' is not supported");
	c->server = strdup(server);
	c->ca_file = path_at(cl, "certificate-authority", dir, &oom);
	if (oom || !c->server)
		return cx_err_set(err, "out of memory");
	n = strlen(c->server);
	while (n && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	c->insecure = json_is_true(skip) ||
		      (json_is_string(skip) && !strcmp(json_string_value(skip), "true"));
	if (b64_data(cl, "certificate-authority-data", &c->ca_pem, err))
		return -1;
	if (c->ca_pem) { /* the data wins over the file, as in client-go */
		free(c->ca_file);
		c->ca_file = NULL;
	}
	if (c->insecure && (c->ca_file || c->ca_pem)) {
		/* client-go refuses this combination too */
		return cx_err_set(err, "the cluster sets both a certificate authority and "
				       "insecure-skip-tls-verify; keep one");
	}
	return 0;
}

static int refuse_plugins(const json_t *u, const char *name, struct cx_err *err)
{
	const json_t *exec = json_object_get(u, "exec");

	if (exec && !json_is_null(exec))
		return cx_err_set(err,
				  "user '%s' gets its credentials from an exec plugin ('%.100s'), "
				  "which Cortex does not run; give the user a token, tokenFile or "
				  "client certificate (e.g. a service-account token)",
				  name, str(exec, "command") ? str(exec, "command") : "?");
	if (json_object_get(u, "auth-provider"))
		return cx_err_set(err,
				  "user '%s' uses an auth-provider plugin, which Cortex does "
				  "not run; give the user a token, tokenFile or client "
				  "certificate",
				  name);
	if (str(u, "username") || str(u, "password"))
		return cx_err_set(err,
				  "user '%s' uses basic auth (username/password), which "
				  "Kubernetes no longer accepts; use a token or client "
				  "certificate",
				  name);
	return 0;
}

static int load_user(const json_t *u, const char *dir, struct kc_creds *c, struct cx_err *err)
{
	const char *token = str(u, "token");
	bool oom = false;

	c->token_file = path_at(u, "tokenFile", dir, &oom);
	c->cert_file = path_at(u, "client-certificate", dir, &oom);
	c->key_file = path_at(u, "client-key", dir, &oom);
	if (oom)
		return cx_err_set(err, "out of memory");
	if (token) {
		c->token.len = strlen(token);
		c->token.data = (unsigned char *)strdup(token);
		if (!c->token.data)
			return cx_err_set(err, "out of memory");
		free(c->token_file); /* a token wins over tokenFile, as in client-go */
		c->token_file = NULL;
	}
	if (b64_data(u, "client-certificate-data", &c->cert_pem, err) ||
	    b64_data(u, "client-key-data", (char **)&c->key_pem.data, err))
		return -1;
	if (c->key_pem.data)
		c->key_pem.len = strlen((char *)c->key_pem.data);
	if (c->cert_pem) {
		free(c->cert_file);
		c->cert_file = NULL;
	}
	if (c->key_pem.data) {
		free(c->key_file);
		c->key_file = NULL;
	}
	if (!(c->cert_file || c->cert_pem) != !(c->key_file || c->key_pem.data))
		return cx_err_set(err, "a client certificate needs its key");
	return 0;
}

int kc_from_config(const json_t *config, const char *dir, const char *context, struct kc_creds *c,
		   struct cx_err *err)
{
	const char *ctx_name = context ? context : str(config, "current-context");
	const json_t *ctx, *cl, *u;
	const char *cluster, *user, *ns;

	memset(c, 0, sizeof(*c));
	if (!ctx_name)
		return cx_err_set(err, "the kubeconfig has no current-context; set 'context'");
	ctx = named(config, "contexts", "context", ctx_name);
	if (!ctx)
		return cx_err_set(err, "the kubeconfig has no context '%s'", ctx_name);
	cluster = str(ctx, "cluster");
	user = str(ctx, "user");
	ns = str(ctx, "namespace");
	cl = cluster ? named(config, "clusters", "cluster", cluster) : NULL;
	if (!cl)
		return cx_err_set(err, "context '%s' names no cluster the kubeconfig has ('%s')",
				  ctx_name, cluster ? cluster : "");
	u = user ? named(config, "users", "user", user) : NULL;
	if (user && !u)
		return cx_err_set(err, "context '%s' names user '%s', which the kubeconfig lacks",
				  ctx_name, user);
	c->context = strdup(ctx_name);
	c->user = strdup(user ? user : "");
	c->ns = strdup(ns ? ns : "default");
	if (!c->context || !c->user || !c->ns) {
		kc_creds_release(c);
		return cx_err_set(err, "out of memory");
	}
	if (load_cluster(cl, dir, c, err) || (u && refuse_plugins(u, user, err)) ||
	    (u && load_user(u, dir, c, err))) {
		kc_creds_release(c);
		return cx_err_prefix(err, "kubeconfig context '%s': ", ctx_name);
	}
	return 0;
}

static bool has_name(const json_t *arr, const char *name)
{
	const json_t *v;
	size_t i;

	json_array_foreach((json_t *)arr, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

/* Adds the named entries of src's list that merged lacks (the first file wins). */
static int merge_list(json_t *merged, const json_t *src, const char *list)
{
	json_t *dst = json_object_get(merged, list), *v;
	size_t i;

	if (!dst) {
		dst = json_array();
		if (!dst || json_object_set_new(merged, list, dst))
			return -1;
	}
	json_array_foreach((json_t *)json_object_get(src, list), i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		if (!n || has_name(dst, n))
			continue;
		if (json_array_append(dst, v))
			return -1;
	}
	return 0;
}

/* Rewrites the relative paths of every cluster and user of doc against dir, so files of a
 * list can be merged. */
static int absolutise(json_t *doc, const char *dir)
{
	static const char *const keys[] = { "certificate-authority", "tokenFile",
					    "client-certificate", "client-key", NULL };
	static const char *const lists[][2] = { { "clusters", "cluster" }, { "users", "user" } };
	json_t *e;
	size_t i;

	for (size_t l = 0; l < 2; l++) {
		json_array_foreach(json_object_get(doc, lists[l][0]), i, e) {
			json_t *inner = json_object_get(e, lists[l][1]);
			for (size_t k = 0; keys[k]; k++) {
				const char *p = str(inner, keys[k]);
				char *abs;
				if (!p || p[0] == '/')
					continue;
				abs = cx_path_resolve(dir, p);
				if (!abs || json_object_set_new(inner, keys[k], json_string(abs))) {
					free(abs);
					return -1;
				}
				free(abs);
			}
		}
	}
	return 0;
}

static int merge_file(json_t *merged, const char *path, bool *found, struct cx_err *err)
{
	struct cx_err yerr = { 0 };
	size_t len = 0;
	char *text = read_file(path, &len), *dcopy;
	json_t *doc;
	int rc = 0;

	if (!text && errno == ENOENT)
		return 0;
	if (!text)
		return cx_err_set(err, "could not read kubeconfig '%s': %s", path, strerror(errno));
	*found = true;
	doc = cx_yaml_load_all(text, len, &yerr);
	free(text);
	if (!doc)
		return cx_err_set(err, "kubeconfig '%s' is not valid YAML: %s", path, yerr.msg);
	if (json_array_size(doc) == 0) {
		json_decref(doc);
		return 0;
	}
	dcopy = strdup(path);
	if (!json_is_object(json_array_get(doc, 0)))
		rc = cx_err_set(err, "kubeconfig '%s' is not a mapping", path);
	else if (!dcopy || absolutise(json_array_get(doc, 0), dirname(dcopy)))
		rc = cx_err_set(err, "out of memory");
	if (!rc && !json_object_get(merged, "current-context") &&
	    str(json_array_get(doc, 0), "current-context"))
		json_object_set(merged, "current-context",
				json_object_get(json_array_get(doc, 0), "current-context"));
	if (!rc && (merge_list(merged, json_array_get(doc, 0), "clusters") ||
		    merge_list(merged, json_array_get(doc, 0), "users") ||
		    merge_list(merged, json_array_get(doc, 0), "contexts")))
		rc = cx_err_set(err, "out of memory");
	free(dcopy);
	json_decref(doc);
	return rc;
}

int kc_load_kubeconfig(const char *paths, const char *context, struct kc_creds *out,
		       struct cx_err *err)
{
	char deflt[1024], *list, *save = NULL, *p;
	json_t *merged = json_object();
	bool found = false, from_conf = paths && *paths;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!paths || !*paths)
		paths = getenv("KUBECONFIG");
	if (!paths || !*paths) {
		const char *home = getenv("HOME");
		if (!home || !cx_fmt(deflt, sizeof(deflt), "%s/.kube/config", home))
			return cx_err_set(err, "no kubeconfig: set 'kubeconfig', $KUBECONFIG or "
					       "$HOME, or 'in_cluster'");
		paths = deflt;
	}
	list = strdup(paths);
	if (!list || !merged) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	for (p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		/* The config's own paths are read next to the config file, as every path in it;
		 * $KUBECONFIG's next to the working directory, as kubectl reads them. */
		char *full = from_conf ? cx_path_resolve(cx_path_base(), p) : strdup(p);
		int bad = !full ? cx_err_set(err, "out of memory")
				: merge_file(merged, full, &found, err);
		free(full);
		if (bad)
			goto out;
	}
	if (!found) {
		cx_err_set(err, "no kubeconfig file found at '%.300s'", paths);
		goto out;
	}
	rc = kc_from_config(merged, NULL, context, out, err);
out:
	free(list);
	json_decref(merged);
	return rc;
}

int kc_load_in_cluster(const char *dir, struct kc_creds *c, struct cx_err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[1024], url[600];
	size_t len = 0;
	char *ns;

	memset(c, 0, sizeof(*c));
	if (!dir)
		dir = KC_SA_DIR;
	if (!host || !*host || !port || !*port)
		return cx_err_set(err, "in_cluster: KUBERNETES_SERVICE_HOST and "
				       "KUBERNETES_SERVICE_PORT are not set; is the gateway "
				       "running in a pod?");
	if (!cx_fmt(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		    port) ||
	    !cx_fmt(path, sizeof(path), "%s/token", dir))
		return cx_err_set(err, "in_cluster: the service address is too long");
	if (access(path, R_OK))
		return cx_err_set(err,
				  "in_cluster: could not read the service-account token '%s': %s",
				  path, strerror(errno));
	c->server = strdup(url);
	c->token_file = strdup(path);
	c->context = strdup("in-cluster");
	c->user = strdup("service account");
	cx_fmt(path, sizeof(path), "%s/ca.crt", dir);
	c->ca_file = access(path, R_OK) ? NULL : strdup(path);
	cx_fmt(path, sizeof(path), "%s/namespace", dir);
	ns = read_file(path, &len);
	while (ns && len && (ns[len - 1] == '\n' || ns[len - 1] == ' '))
		ns[--len] = '\0';
	c->ns = ns && *ns ? ns : strdup("default");
	if (ns && !*ns)
		free(ns);
	if (!c->server || !c->token_file || !c->context || !c->user || !c->ns) {
		kc_creds_release(c);
		return cx_err_set(err, "out of memory");
	}
	return 0;
}
