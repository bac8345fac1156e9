/* The Kubernetes API's answers, lists and Status objects (adapters/kubectl/): a tool of the adapter
 * run on backend answers taken from the input (fz_run_tool, support.h: the tool's name, its
 * arguments, then "@@ STATUS" sections, one per request). Whatever the backend says, the tool
 * answers with a well-formed result or an isError sentence; it never crashes, leaks or reads out of
 * bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../adapters/kubectl/kubectl.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The adapter reads its cluster and token from a kubeconfig file. */
static void write_kubeconfig(void)
{
	static int done;
	FILE *f;

	if (done++)
		return;
	f = fopen("/tmp/cortex-fuzz-kubeconfig", "w");
	if (!f)
		abort();
	fputs("apiVersion: v1\nkind: Config\ncurrent-context: fuzz\n"
	      "clusters:\n- name: fuzz\n  cluster:\n    server: https://k8s.fuzz.invalid:6443\n"
	      "users:\n- name: fuzz\n  user:\n    token: k8s-fuzz-token\n"
	      "contexts:\n- name: fuzz\n  context:\n    cluster: fuzz\n    user: fuzz\n"
	      "    namespace: default\n",
	      f);
	if (fclose(f))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_kubeconfig();
	if (size > 256 * 1024)
		return 0;
	setenv("CORTEX_FUZZ_SECRET", "fuzz-secret-0123456789abcdef", 1);
	fz_run_tool(&cx_kubectl_adapter,
		    "{\"kubeconfig\": \"/tmp/cortex-fuzz-kubeconfig\", \"retries\": 0}", data,
		    size);
	return 0;
}
