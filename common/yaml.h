/* YAML (libyaml) to JSON (jansson), for kubeconfig files and Kubernetes manifests.
 *
 * Scalars are typed as Kubernetes reads YAML (sigs.k8s.io/yaml, YAML 1.1): a quoted or block
 * scalar, or one tagged !!str, is always a string; a plain scalar is null (null, Null, NULL, ~,
 * empty), a boolean (true/false, yes/no, on/off, y/n in their usual cases), an integer
 * (decimal, 0x hex, 0o or leading-0 octal), a real, or else a string. Mapping keys become
 * strings. Anchors and aliases are followed; merge keys ("<<") are not expanded. */
#ifndef CX_YAML_H
#define CX_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* Every document of text[0..len) in order, as a new JSON array (empty documents are left
 * out). NULL with err ("line 3 column 5: ...") on a syntax error, nesting deeper than 64, or
 * out of memory. */
json_t *cx_yaml_load_all(const char *text, size_t len, struct cx_err *err);
/* The single document of text: an error when there is none or more than one. */
json_t *cx_yaml_load_one(const char *text, size_t len, struct cx_err *err);

#endif
