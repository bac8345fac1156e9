/* YAML loading (common/yaml.c): every document of a stream, and the single-document form
 * manifests and kubeconfigs use. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "../../common/yaml.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cx_err err = { 0 };
	json_t *v;

	if (size > 256 * 1024)
		return 0;
	v = cx_yaml_load_all((const char *)data, size, &err);
	json_decref(v);
	v = cx_yaml_load_one((const char *)data, size, &err);
	json_decref(v);
	return 0;
}
