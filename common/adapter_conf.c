/* Reading an adapter's configuration object (see adapter_conf.h). */
#include "adapter_conf.h"

#include <string.h>

int cx_aconf_keys(const json_t *conf, const char *const *known, const char *prefix,
		  struct cx_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)conf, key, v) {
		char list[512];
		size_t i, n = 0;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (known[i])
			continue;
		list[0] = '\0';
		for (i = 0; known[i] && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
					      known[i]);
		return cx_err_set(err, "unknown key '%s%s' (known: %s)", prefix, key, list);
	}
	return 0;
}

int cx_aconf_int(const json_t *conf, const char *key, long min, long max, long *out,
		 struct cx_err *err)
{
	const json_t *v = json_object_get(conf, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return cx_err_set(err, "'%s' must be an integer from %ld to %ld", key, min, max);
	*out = (long)json_integer_value(v);
	return 0;
}

const char *cx_aconf_str(const json_t *conf, const char *key)
{
	return json_string_value(json_object_get(conf, key));
}

int cx_aconf_strings(const json_t *conf, const char *const *names, struct cx_err *err)
{
	for (size_t i = 0; names[i]; i++)
		if (json_object_get(conf, names[i]) && !cx_aconf_str(conf, names[i]))
			return cx_err_set(err, "'%s' must be a string", names[i]);
	return 0;
}

int cx_aconf_http(const json_t *conf, struct cx_http_client_opts *o, long *timeout_ms,
		  struct cx_err *err)
{
	static const char *const strings[] = { "ca_file", "fingerprint", NULL };
	const json_t *skip = json_object_get(conf, "insecure_skip_verify");
	long retries = 3;

	if (cx_aconf_int(conf, "timeout_ms", 100, 600000, timeout_ms, err) ||
	    cx_aconf_int(conf, "retries", 0, 10, &retries, err) ||
	    cx_aconf_strings(conf, strings, err))
		return -1;
	if (skip && !json_is_boolean(skip))
		return cx_err_set(err, "'insecure_skip_verify' must be true or false");
	o->retries = (int)retries;
	o->ca_file = cx_aconf_str(conf, "ca_file");
	o->fingerprint = cx_aconf_str(conf, "fingerprint");
	o->insecure_skip_verify = json_is_true(skip);
	return 0;
}
