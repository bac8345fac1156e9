/* The Kubernetes adapter's pure parts: kubeconfig (contexts, tokens and token files, client
 * certificates and CAs as files or data, plugins refused, ':' lists merged as kubectl merges
 * them), in-cluster credentials, kinds resolved as kubectl's RESTMapper resolves them, the
 * discovery documents, and request paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../adapters/kubectl/api.h"
#include "../../adapters/kubectl/discovery.h"
#include "../../adapters/kubectl/kubeconfig.h"
#include "../../common/yaml.h"

static json_t *yaml(const char *text)
{
	struct cx_err err = { 0 };
	json_t *v = cx_yaml_load_one(text, strlen(text), &err);

	if (!v)
		fail_msg("%s", err.msg);
	return v;
}

#define BASE                                                                                            \
	"apiVersion: v1\nkind: Config\ncurrent-context: prod\n"                                         \
	"clusters:\n"                                                                                   \
	"- name: prod\n  cluster:\n    server: https://10.0.0.1:6443/\n"                                \
	"    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"                    \
	"- name: lab\n  cluster:\n    server: https://lab:6443\n    certificate-authority: ca.pem\n"    \
	"- name: open\n  cluster:\n    server: https://open:6443\n    insecure-skip-tls-verify: true\n" \
	"users:\n"                                                                                      \
	"- name: admin\n  user:\n    token: s3cr3t-token\n"                                             \
	"- name: robot\n  user:\n    tokenFile: tok\n"                                                  \
	"- name: certs\n  user:\n    client-certificate-data: Q0VSVA==\n"                               \
	"    client-key-data: S0VZ\n"                                                                   \
	"- name: certfiles\n  user:\n    client-certificate: c.crt\n    client-key: /abs/c.key\n"       \
	"- name: eks\n  user:\n    exec:\n      command: aws\n      args: [eks, get-token]\n"           \
	"- name: basic\n  user:\n    username: u\n    password: p\n"                                    \
	"- name: halfcert\n  user:\n    client-certificate: c.crt\n"                                    \
	"contexts:\n"                                                                                   \
	"- name: prod\n  context: {cluster: prod, user: admin, namespace: shop}\n"                      \
	"- name: lab\n  context: {cluster: lab, user: robot}\n"                                         \
	"- name: certs\n  context: {cluster: open, user: certs}\n"                                      \
	"- name: certfiles\n  context: {cluster: lab, user: certfiles}\n"                               \
	"- name: eks\n  context: {cluster: prod, user: eks}\n"                                          \
	"- name: basic\n  context: {cluster: prod, user: basic}\n"                                      \
	"- name: halfcert\n  context: {cluster: prod, user: halfcert}\n"                                \
	"- name: nocluster\n  context: {cluster: gone, user: admin}\n"

static void test_current_context_token_and_ca_data(void **state)
{
	json_t *cfg = yaml(BASE);
	struct kc_creds c;
	struct cx_err err = { 0 };

	assert_int_equal(kc_from_config(cfg, "/etc/kube", NULL, &c, &err), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_string_equal(c.context, "prod");
	assert_string_equal(c.ns, "shop");
	assert_string_equal((char *)c.token.data, "s3cr3t-token");
	assert_null(c.token_file);
	assert_string_equal(c.ca_pem, "-----BEGIN CERTIFICATE-----\n");
	assert_null(c.ca_file);
	assert_false(c.insecure);
	kc_creds_release(&c);
	json_decref(cfg);
}

static void test_named_contexts_files_and_data(void **state)
{
	json_t *cfg = yaml(BASE);
	struct kc_creds c;
	struct cx_err err = { 0 };

	assert_int_equal(kc_from_config(cfg, "/etc/kube", "lab", &c, &err), 0);
	assert_string_equal(c.ns, "default");
	assert_string_equal(c.token_file, "/etc/kube/tok");
	assert_string_equal(c.ca_file, "/etc/kube/ca.pem");
	assert_int_equal(c.token.len, 0);
	kc_creds_release(&c);

	assert_int_equal(kc_from_config(cfg, "/etc/kube", "certs", &c, &err), 0);
	assert_true(c.insecure);
	assert_string_equal(c.cert_pem, "CERT");
	assert_string_equal((char *)c.key_pem.data, "KEY");
	assert_null(c.cert_file);
	kc_creds_release(&c);

	assert_int_equal(kc_from_config(cfg, "/etc/kube", "certfiles", &c, &err), 0);
	assert_string_equal(c.cert_file, "/etc/kube/c.crt");
	assert_string_equal(c.key_file, "/abs/c.key");
	kc_creds_release(&c);
	json_decref(cfg);
}

static void test_refusals_say_why(void **state)
{
	static const struct {
		const char *context, *want;
	} cases[] = {
		{ "eks", "exec plugin ('aws'), which Cortex does not run" },
		{ "basic", "basic auth" },
		{ "halfcert", "needs its key" },
		{ "nocluster", "names no cluster" },
		{ "missing", "no context 'missing'" },
	};
	json_t *cfg = yaml(BASE);
	struct kc_creds c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cx_err err = { 0 };
		assert_int_equal(kc_from_config(cfg, "/d", cases[i].context, &c, &err), -1);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("%s: %s", cases[i].context, err.msg);
		assert_null(strstr(err.msg, "s3cr3t"));
	}
	json_decref(cfg);
	cfg = yaml("clusters: [{name: a, cluster: {server: 'https://a', insecure-skip-tls-verify: "
		   "true, certificate-authority: /x}}]\ncontexts: [{name: a, context: {cluster: "
		   "a}}]\ncurrent-context: a\n");
	struct cx_err err = { 0 };
	assert_int_equal(kc_from_config(cfg, "/d", NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "keep one"));
	json_decref(cfg);
	cfg = yaml("contexts: []\n");
	assert_int_equal(kc_from_config(cfg, "/d", NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "no current-context"));
	json_decref(cfg);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_list_merged_first_wins(void **state)
{
	char dir[] = "/tmp/cx-kc-XXXXXX", a[128], b[128], list[512];
	struct kc_creds c;
	struct cx_err err = { 0 };

	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	write_file(a,
		   "current-context: one\ncontexts:\n- name: one\n  context: {cluster: c1, user: "
		   "u}\nclusters:\n- name: c1\n  cluster: {server: 'https://first'}\n");
	write_file(b, "current-context: two\nclusters:\n- name: c1\n  cluster: {server: "
		      "'https://second'}\nusers:\n- name: u\n  user: {tokenFile: rel/tok}\n");
	snprintf(list, sizeof(list), "%s/none:%s:%s", dir, a, b);
	assert_int_equal(kc_load_kubeconfig(list, NULL, &c, &err), 0);
	assert_string_equal(c.context, "one");
	assert_string_equal(c.server, "https://first");
	/* relative to the file that holds it */
	assert_true(strstr(c.token_file, "/rel/tok") && !strncmp(c.token_file, dir, strlen(dir)));
	kc_creds_release(&c);
	setenv("KUBECONFIG", list, 1);
	assert_int_equal(kc_load_kubeconfig(NULL, NULL, &c, &err), 0);
	kc_creds_release(&c);
	unsetenv("KUBECONFIG");
	{ /* neither: ~/.kube/config */
		char kdir[160], kfile[200];
		const char *home = getenv("HOME");
		char *saved = home ? strdup(home) : NULL;

		snprintf(kdir, sizeof(kdir), "%s/.kube", dir);
		snprintf(kfile, sizeof(kfile), "%s/config", kdir);
		assert_int_equal(mkdir(kdir, 0700), 0);
		write_file(kfile,
			   "current-context: h\ncontexts: [{name: h, context: {cluster: "
			   "c}}]\nclusters: [{name: c, cluster: {server: 'https://home'}}]\n");
		setenv("HOME", dir, 1);
		assert_int_equal(kc_load_kubeconfig(NULL, NULL, &c, &err), 0);
		assert_string_equal(c.server, "https://home");
		kc_creds_release(&c);
		if (saved)
			setenv("HOME", saved, 1);
		free(saved);
		unlink(kfile);
		rmdir(kdir);
	}
	snprintf(list, sizeof(list), "%s/none", dir);
	assert_int_equal(kc_load_kubeconfig(list, NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "no kubeconfig file found"));
	write_file(b, "a: [\n");
	snprintf(list, sizeof(list), "%s", b);
	assert_int_equal(kc_load_kubeconfig(list, NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "is not valid YAML: line"));
	unlink(a);
	unlink(b);
	rmdir(dir);
}

static void test_in_cluster(void **state)
{
	char dir[] = "/tmp/cx-sa-XXXXXX", p[128];
	struct kc_creds c;
	struct cx_err err = { 0 };

	assert_non_null(mkdtemp(dir));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kc_load_in_cluster(dir, &c, &err), -1);
	assert_non_null(strstr(err.msg, "service-account token"));
	snprintf(p, sizeof(p), "%s/token", dir);
	write_file(p, "tok");
	snprintf(p, sizeof(p), "%s/namespace", dir);
	write_file(p, "payments\n");
	assert_int_equal(kc_load_in_cluster(dir, &c, &err), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.ns, "payments");
	assert_non_null(strstr(c.token_file, "/token"));
	assert_null(c.ca_file);
	kc_creds_release(&c);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(kc_load_in_cluster(dir, &c, &err), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	kc_creds_release(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kc_load_in_cluster(dir, &c, &err), -1);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
	unlink(p);
	snprintf(p, sizeof(p), "%s/token", dir);
	unlink(p);
	rmdir(dir);
}

static const char *kind_of(const json_t *t, const char *name)
{
	const json_t *r = kd_match(t, name);

	return r ? json_string_value(json_object_get(r, "resource")) : "(none)";
}

static void test_kinds_resolve_as_kubectl(void **state)
{
	json_t *t = kd_builtin();

	assert_string_equal(kind_of(t, "po"), "pods");
	assert_string_equal(kind_of(t, "pod"), "pods");
	assert_string_equal(kind_of(t, "Pods"), "pods");
	assert_string_equal(kind_of(t, "Pod"), "pods");
	assert_string_equal(kind_of(t, "deploy"), "deployments");
	assert_string_equal(kind_of(t, "deployments.apps"), "deployments");
	assert_string_equal(kind_of(t, "deployment.v1.apps"), "deployments");
	assert_string_equal(kind_of(t, "deployments.extensions"), "(none)");
	assert_string_equal(kind_of(t, "deployment.v2.apps"), "(none)");
	assert_string_equal(kind_of(t, "svc"), "services");
	assert_string_equal(kind_of(t, "cm"), "configmaps");
	assert_string_equal(kind_of(t, "ns"), "namespaces");
	assert_string_equal(kind_of(t, "ev"), "events");
	assert_string_equal(kind_of(t, "sts"), "statefulsets");
	assert_string_equal(kind_of(t, "crds"), "customresourcedefinitions");
	assert_string_equal(kind_of(t, "ing"), "ingresses");
	assert_string_equal(kind_of(t, "ingress.networking"), "ingresses");
	assert_string_equal(kind_of(t, "widgets"), "(none)");
	assert_false(json_is_true(json_object_get(kd_match(t, "ns"), "namespaced")));
	assert_true(json_is_true(json_object_get(kd_match(t, "deploy"), "scale")));
	assert_false(json_is_true(json_object_get(kd_match(t, "ds"), "scale")));
	assert_non_null(kd_match_gvk(t, "apps", "v1", "Deployment"));
	assert_null(kd_match_gvk(t, "apps", "v1beta1", "Deployment"));
	json_decref(t);
}

static void test_discovery_documents(void **state)
{
	json_t *agg = yaml(
		"kind: APIGroupDiscoveryList\napiVersion: apidiscovery.k8s.io/v2\nitems:\n"
		"- metadata: {name: example.com}\n  versions:\n  - version: v2\n    resources:\n"
		"    - resource: widgets\n      responseKind: {group: example.com, version: v2, kind: "
		"Widget}\n      scope: Namespaced\n      singularResource: widget\n      shortNames: "
		"[wd]\n      subresources: [{subresource: scale}]\n  - version: v1\n    resources:\n"
		"    - {resource: widgets, responseKind: {kind: Widget}, scope: Namespaced}\n"
		"- metadata: {name: events.k8s.io}\n  versions:\n  - version: v1\n    resources:\n"
		"    - {resource: events, responseKind: {kind: Event}, scope: Namespaced, shortNames: "
		"[ev]}\n");
	json_t *legacy = yaml("kind: APIResourceList\ngroupVersion: v1\nresources:\n"
			      "- {name: pods, singularName: '', namespaced: true, kind: Pod, "
			      "shortNames: [po]}\n- {name: pods/log, namespaced: true, kind: Pod}\n"
			      "- {name: replicationcontrollers, namespaced: true, kind: "
			      "ReplicationController}\n- {name: replicationcontrollers/scale, "
			      "namespaced: true, kind: Scale}\n- {name: nodes, namespaced: false, "
			      "kind: Node}\n- {name: events, namespaced: true, kind: Event, "
			      "shortNames: [ev]}\n");
	json_t *t = json_array();
	const json_t *r;

	assert_int_equal(kd_parse_resource_list(legacy, t), 0);
	assert_int_equal(kd_parse_aggregated(agg, t), 0);
	assert_int_equal(json_array_size(t), 7);
	r = kd_match(t, "wd");
	assert_string_equal(json_string_value(json_object_get(r, "version")), "v2");
	assert_true(json_is_true(json_object_get(r, "scale")));
	assert_string_equal(kind_of(t, "widgets.example.com"), "widgets");
	assert_string_equal(kind_of(t, "widget.v1.example.com"), "widgets");
	assert_string_equal(kind_of(t, "widgets.example"), "widgets");
	/* the core group comes first, as in kubectl's priority */
	assert_string_equal(json_string_value(json_object_get(kd_match(t, "ev"), "group")), "");
	assert_string_equal(json_string_value(
				    json_object_get(kd_match(t, "events.events.k8s.io"), "group")),
			    "events.k8s.io");
	assert_string_equal(kind_of(t, "pod"), "pods"); /* an empty singularName: the kind's */
	assert_true(json_is_true(json_object_get(kd_match(t, "replicationcontrollers"), "scale")));
	assert_false(json_is_true(json_object_get(kd_match(t, "nodes"), "namespaced")));
	assert_int_equal(kd_parse_aggregated(legacy, t), -1);
	json_decref(t);
	json_decref(agg);
	json_decref(legacy);
}

static void test_paths_escaped(void **state)
{
	json_t *t = kd_builtin();
	char p[512] = "";

	assert_true(kc_path(kd_match(t, "deploy"), "shop", "web", "scale", p, sizeof(p)));
	assert_string_equal(p, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
	assert_true(kc_path(kd_match(t, "ns"), NULL, "kube-system", NULL, p, sizeof(p)));
	assert_string_equal(p, "/api/v1/namespaces/kube-system");
	assert_true(kc_path(kd_match(t, "po"), "a b", "x/y", NULL, p, sizeof(p)));
	assert_string_equal(p, "/api/v1/namespaces/a%20b/pods/x%2Fy");
	assert_true(kc_query(p, sizeof(p), "labelSelector", "app=web,tier!=db"));
	assert_true(kc_query(p, sizeof(p), "limit", "5"));
	assert_string_equal(
		p,
		"/api/v1/namespaces/a%20b/pods/x%2Fy?labelSelector=app%3Dweb%2Ctier%21%3Ddb&limit=5");
	assert_false(kc_path(kd_match(t, "po"), NULL, NULL, NULL, p, 8));
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context_token_and_ca_data),
		cmocka_unit_test(test_named_contexts_files_and_data),
		cmocka_unit_test(test_refusals_say_why),
		cmocka_unit_test(test_list_merged_first_wins),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_kinds_resolve_as_kubectl),
		cmocka_unit_test(test_discovery_documents),
		cmocka_unit_test(test_paths_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
