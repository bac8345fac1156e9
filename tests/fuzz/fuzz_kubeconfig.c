/* A kubeconfig as the kubectl adapter reads it (adapters/kubectl/kubeconfig.c): the YAML
 * loaded (common/yaml.c), then the context, cluster and user chosen from it, for the current
 * context and for a named one. Relative paths resolve under a folder that does not exist, so
 * a file reference is an error, not a read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../adapters/kubectl/kubeconfig.h"
#include "../../common/yaml.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cx_err err = { 0 };
	struct kc_creds c;
	json_t *doc;

	if (size > 256 * 1024 || fz_has_absolute_path(data, size))
		return 0;
	doc = cx_yaml_load_one((const char *)data, size, &err);
	if (!doc)
		return 0;
	memset(&c, 0, sizeof(c));
	if (kc_from_config(doc, "/nonexistent/cortex-fuzz", NULL, &c, &err) == 0)
		kc_creds_release(&c);
	memset(&c, 0, sizeof(c));
	if (kc_from_config(doc, "/nonexistent/cortex-fuzz", "prod", &c, &err) == 0)
		kc_creds_release(&c);
	json_decref(doc);
	return 0;
}
