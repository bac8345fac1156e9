/* Reading an adapter's configuration object: the checks every adapter makes (unknown keys,
 * integers in range, strings) and the connection keys every HTTP adapter shares (ca_file,
 * fingerprint, insecure_skip_verify, timeout_ms, retries), each refused with a sentence that
 * names the key. */
#ifndef CX_ADAPTER_CONF_H
#define CX_ADAPTER_CONF_H

#include <jansson.h>

#include "err.h"
#include "http_client.h"

/* Refuses a key not in known (NULL-terminated): "unknown key 'x' (known: a, b, c)", with
 * prefix before the key ("ssh." for a nested object, else ""). */
int cx_aconf_keys(const json_t *conf, const char *const *known, const char *prefix,
		  struct cx_err *err);
/* An optional integer from min to max; *out keeps its default when the key is absent. */
int cx_aconf_int(const json_t *conf, const char *key, long min, long max, long *out,
		 struct cx_err *err);
/* The string under key, or NULL when absent or not a string. */
const char *cx_aconf_str(const json_t *conf, const char *key);
/* Each key of names (NULL-terminated) that is present must be a string. */
int cx_aconf_strings(const json_t *conf, const char *const *names, struct cx_err *err);

/* The shared connection keys: timeout_ms (100 to 600000; *timeout_ms keeps its default when
 * absent), retries (0 to 10, default 3), ca_file, fingerprint and insecure_skip_verify (a
 * boolean) into o, whose strings point into conf. */
int cx_aconf_http(const json_t *conf, struct cx_http_client_opts *o, long *timeout_ms,
		  struct cx_err *err);

#endif
