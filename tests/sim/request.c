/* What every backend of the simulator needs from a request and for its answer. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/err.h"
#include "../../common/json.h"

const char *sim_query(const struct sim_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sim_header(const struct sim_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *sim_pct_decode(const char *s, size_t len, bool plus_is_space)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '+' && plus_is_space) {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

static json_t *form_params(const char *body, size_t len)
{
	json_t *obj = json_object();
	size_t i = 0;

	if (obj == NULL)
		return NULL;
	while (i < len) {
		const char *field = body + i;
		const char *amp = memchr(field, '&', len - i);
		size_t flen = amp ? (size_t)(amp - field) : len - i;
		const char *eq = memchr(field, '=', flen);
		char *key, *val;

		if (flen > 0) {
			size_t klen = eq ? (size_t)(eq - field) : flen;

			key = sim_pct_decode(field, klen, true);
			val = eq ? sim_pct_decode(eq + 1, flen - klen - 1, true) : strdup("");
			if (key == NULL || val == NULL ||
			    json_object_set_new(obj, key, json_string(val)) != 0) {
				free(key);
				free(val);
				json_decref(obj);
				return NULL;
			}
			free(key);
			free(val);
		}
		i += flen + 1;
	}
	return obj;
}

json_t *sim_body_params(const struct sim_request *req)
{
	const char *ctype = sim_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	struct cx_err err;
	json_t *v;

	if (req->body_len == 0)
		return json_object();
	if (ctype != NULL && strncasecmp(ctype, "application/json", 16) == 0) {
		v = cx_json_loadb(req->body, req->body_len, SIM_BODY_MAX, &err);
		if (v != NULL && !json_is_object(v)) {
			json_decref(v);
			return NULL;
		}
		return v;
	}
	return form_params(req->body, req->body_len);
}

void sim_reply(struct sim_response *resp, unsigned int status, json_t *v)
{
	resp->status = status;
	resp->body =
		v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10)) : NULL;
	resp->len = resp->body ? strlen(resp->body) : 0;
	if (v != NULL && resp->body == NULL)
		resp->status = 500;
	json_decref(v);
}

int sim_check_keys(const json_t *obj, const char *where, const char *const *keys, char *err,
		   size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "'%s' must be an object", where);
		return -1;
	}
	json_object_foreach((json_t *)obj, key, v) {
		size_t i;

		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(keys[i], key) == 0)
				break;
		if (keys[i] == NULL) {
			snprintf(err, errlen, "unknown key '%s.%s'", where, key);
			return -1;
		}
	}
	return 0;
}
