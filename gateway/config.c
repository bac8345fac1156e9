/* The gateway's configuration file as directive tables (common/conf.h). Every key the file may
 * hold is in a table below; anything else stops the start with its full path. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../common/audit.h"
#include "../common/conf.h"
#include "../common/json.h"
#include "../common/log.h"
#include "../common/util.h"
#include "session.h"

#define CONFIG_FILE_MAX    (1024 * 1024)
#define KIB                1024L
#define MIB                (1024L * 1024L)
#define SESSION_SECRET_MIN 32
#define TOKEN_NAME_MAX     64

/* The struct that holds a field, from the field's address (the setter gets only the field). */
#define CONFIG_OF(field, member)                                                                   \
	((struct cx_gw_config *)(void *)((char *)(field)-offsetof(struct cx_gw_config, member)))

static void free_strv(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static void token_release(struct cx_token *t)
{
	free(t->name);
	free_strv(t->allow);
	OPENSSL_cleanse(t->hash, sizeof(t->hash));
	memset(t, 0, sizeof(*t));
}

static void tokens_free(struct cx_token *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		token_release(&t[i]);
	free(t);
}

/* Checks one element of a string list; path names the element ("tokens[0].allow[2]"). */
typedef int (*str_check_fn)(const char *s, const char *path, struct cx_err *err);

/* A JSON array of non-empty strings into a NULL-terminated vector, replacing *out. An empty
 * array gives an empty vector, which is not the same as NULL (absent). */
static int set_strv(const json_t *value, char ***out, const char *path, str_check_fn check,
		    struct cx_err *err)
{
	size_t n = json_array_size(value), i;
	char **v;
	json_t *el;

	if (!json_is_array(value))
		return cx_err_set(err, "'%s' must be an array of strings", path);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return cx_err_set(err, "'%s': out of memory", path);
	json_array_foreach(value, i, el) {
		char where[300]; /* conf.c paths stop at 256 */

		snprintf(where, sizeof(where), "%s[%zu]", path, i);
		if (!json_is_string(el) || json_string_length(el) == 0 ||
		    strlen(json_string_value(el)) != json_string_length(el)) {
			cx_err_set(err, "'%s' must be a non-empty string", where);
			goto fail;
		}
		if (check && check(json_string_value(el), where, err))
			goto fail;
		v[i] = strdup(json_string_value(el));
		if (!v[i]) {
			cx_err_set(err, "'%s': out of memory", path);
			goto fail;
		}
	}
	free_strv(*out);
	*out = v;
	return 0;
fail:
	free_strv(v);
	return -1;
}

static bool has_space_or_slash(const char *s)
{
	for (; *s; s++) {
		if (*s == '/' || *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			return true;
	}
	return false;
}

/* Browsers send Origin as scheme://host[:port] exactly; anything else would never match. */
static int check_origin(const char *s, const char *path, struct cx_err *err)
{
	const char *rest = NULL;

	if (!strncmp(s, "http://", 7))
		rest = s + 7;
	else if (!strncmp(s, "https://", 8))
		rest = s + 8;
	if (!rest || !*rest || has_space_or_slash(rest))
		return cx_err_set(err,
				  "'%s': '%s' is not an origin; write scheme://host[:port] "
				  "without a path, as browsers send it",
				  path, s);
	return 0;
}

static int check_host(const char *s, const char *path, struct cx_err *err)
{
	if (has_space_or_slash(s))
		return cx_err_set(err, "'%s': '%s' is not a Host value; write host[:port]", path,
				  s);
	return 0;
}

static int set_origins(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	return set_strv(value, field, path, check_origin, err);
}

static int set_ready_adapters(const json_t *value, void *field, const char *path,
			      struct cx_err *err)
{
	return set_strv(value, field, path, NULL, err);
}

static int set_hosts(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	return set_strv(value, field, path, check_host, err);
}

static int set_allow(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	return set_strv(value, field, path, NULL, err);
}

/* Any secret of at least SESSION_SECRET_MIN bytes; the key is its SHA-256, so a long random
 * string in any encoding will do, and every replica given the same secret gets the same key. */
static int set_session_key(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	struct cx_secret *key = field;
	struct cx_secret raw;
	unsigned char *data;
	unsigned int n = 0;
	int ok;

	if (cx_secret_load_at(value, CONFIG_OF(field, session_key)->config_dir, &raw, path, err))
		return -1;
	if (raw.len < SESSION_SECRET_MIN) {
		cx_secret_release(&raw);
		return cx_err_set(err,
				  "'%s': the session key must be at least %d bytes; "
				  "generate one with `openssl rand -base64 48`",
				  path, SESSION_SECRET_MIN);
	}
	data = malloc(CX_SESSION_KEY_LEN + 1);
	if (!data) {
		cx_secret_release(&raw);
		return cx_err_set(err, "'%s': out of memory", path);
	}
	ok = EVP_Digest(raw.data, raw.len, data, &n, EVP_sha256(), NULL) == 1 &&
	     n == CX_SESSION_KEY_LEN;
	cx_secret_release(&raw);
	if (!ok) {
		OPENSSL_cleanse(data, CX_SESSION_KEY_LEN + 1);
		free(data);
		return cx_err_set(err, "'%s': could not derive the key", path);
	}
	data[CX_SESSION_KEY_LEN] = '\0';
	cx_secret_release(key);
	key->data = data;
	key->len = CX_SESSION_KEY_LEN;
	CONFIG_OF(field, session_key)->session_key_set = true;
	return 0;
}

/* A relative audit.file is taken from the config file's directory, like secrets. */
static int set_audit_file(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	char **file = field;
	char *s;

	if (!json_is_string(value) || json_string_length(value) == 0 ||
	    strlen(json_string_value(value)) != json_string_length(value))
		return cx_err_set(err, "'%s' must be a non-empty string (a file path)", path);
	s = cx_path_resolve(CONFIG_OF(field, audit_file)->config_dir, json_string_value(value));
	if (!s)
		return cx_err_set(err, "'%s': out of memory", path);
	free(*file);
	*file = s;
	return 0;
}

/* http.ended_sessions_file, relative to the config file's directory like audit.file. */
static int set_ended_file(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	char **file = field;
	char *s;

	if (!json_is_string(value) || json_string_length(value) == 0 ||
	    strlen(json_string_value(value)) != json_string_length(value))
		return cx_err_set(err, "'%s' must be a non-empty string (a file path)", path);
	s = cx_path_resolve(CONFIG_OF(field, ended_sessions_file)->config_dir,
			    json_string_value(value));
	if (!s)
		return cx_err_set(err, "'%s': out of memory", path);
	free(*file);
	*file = s;
	return 0;
}

/* http.ended_sessions_shared: true or false (absent: shared when the task store is Redis). */
static int set_shared(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	if (!json_is_boolean(value))
		return cx_err_set(err, "'%s' must be true or false", path);
	*(int *)field = json_is_true(value);
	return 0;
}

static int set_log_level(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	char **level = field;
	enum cx_log_level parsed;
	char *s;

	if (!json_is_string(value) || cx_log_parse_level(json_string_value(value), &parsed))
		return cx_err_set(err,
				  "'%s' must be one of \"debug\", \"info\", \"warn\", "
				  "\"error\", \"off\"",
				  path);
	s = strdup(json_string_value(value));
	if (!s)
		return cx_err_set(err, "'%s': out of memory", path);
	free(*level);
	*level = s;
	return 0;
}

/* Each adapter validates its own table when it starts; here only the shape is checked.
 * The whole object replaces the previous one. */
static int set_adapters(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	json_t **adapters = field;
	const char *name;
	json_t *conf, *copy;

	if (!json_is_object(value))
		return cx_err_set(err, "'%s' must be an object: adapter name -> its settings",
				  path);
	json_object_foreach((json_t *)value, name, conf) {
		if (!json_is_object(conf))
			return cx_err_set(err, "'%s.%s' must be an object", path, name);
	}
	/* A copy of our own: the caller's document may change or go away. */
	copy = json_deep_copy(value);
	if (!copy)
		return cx_err_set(err, "'%s': out of memory", path);
	json_decref(*adapters);
	*adapters = copy;
	return 0;
}

/* The task store's keys are checked when it opens (common/taskstore.h); here the shape and
 * "enabled", which is the gateway's. */
static int set_tasks(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	json_t **tasks = field;
	const json_t *enabled = json_object_get(value, "enabled");
	json_t *copy;

	if (!json_is_object(value))
		return cx_err_set(err, "'%s' must be an object: {\"store\": \"dir\", \"dir\": ...}",
				  path);
	if (enabled && !json_is_boolean(enabled))
		return cx_err_set(err, "'%s.enabled' must be true or false", path);
	copy = json_deep_copy(value);
	if (!copy)
		return cx_err_set(err, "'%s': out of memory", path);
	json_decref(*tasks);
	*tasks = copy;
	return 0;
}

/* "orchestrator" is cortex-orchestrator's section of a file both binaries read: it checks
 * the section's keys itself; the gateway only asks that it be an object. */
static int set_orchestrator(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	(void)field;
	if (!json_is_object(value))
		return cx_err_set(err, "'%s' must be an object (cortex-orchestrator's settings)",
				  path);
	return 0;
}

static int set_token_name(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	char **name = field;
	const char *s = json_string_value(value);
	size_t len = json_string_length(value), i;
	char *copy;

	if (!json_is_string(value) || len == 0 || len > TOKEN_NAME_MAX)
		return cx_err_set(err, "'%s' must be a string of 1 to %d characters", path,
				  TOKEN_NAME_MAX);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return cx_err_set(err,
					  "'%s' may hold only letters, digits, '_', '.' and "
					  "'-'",
					  path);
	}
	copy = strdup(s);
	if (!copy)
		return cx_err_set(err, "'%s': out of memory", path);
	free(*name);
	*name = copy;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A value someone typed rather than computed: one digit repeated, or a short pattern
 * ("0123456789abcdef", "deadbeef") over and over. A real SHA-256 has such a period with a
 * chance of about 16^-48. Also the hash of the empty token. */
static bool placeholder_hash(const char *hex)
{
	static const char empty_sha256[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	size_t period, i;

	if (!strcasecmp(hex, empty_sha256))
		return true;
	for (period = 1; period <= 16; period++) {
		for (i = period; i < 64; i++) {
			if (hex[i] != hex[i % period])
				break;
		}
		if (i == 64)
			return true;
	}
	return false;
}

static int set_token_hash(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	unsigned char *hash = field;
	unsigned char out[32];
	const char *s = json_string_value(value);
	size_t i;

	if (!json_is_string(value) || json_string_length(value) != 64)
		goto bad;
	for (i = 0; i < 32; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	if (placeholder_hash(s))
		return cx_err_set(err,
				  "'%s' is a placeholder, not the SHA-256 of a token: put "
				  "the output of `printf %%s \"$TOKEN\" | cortex-gateway "
				  "--hash-token` here",
				  path);
	memcpy(hash, out, sizeof(out));
	return 0;
bad:
	return cx_err_set(err,
			  "'%s' must be the SHA-256 of the token as 64 hex digits "
			  "(printf %%s \"$TOKEN\" | sha256sum)",
			  path);
}

static const struct cx_conf_directive token_table[] = {
	{ .key = "name",
	  .type = CX_CONF_CUSTOM,
	  .offset = offsetof(struct cx_token, name),
	  .set = set_token_name },
	{ .key = "sha256",
	  .type = CX_CONF_CUSTOM,
	  .offset = offsetof(struct cx_token, hash),
	  .set = set_token_hash },
	{ .key = "allow",
	  .type = CX_CONF_CUSTOM,
	  .offset = offsetof(struct cx_token, allow),
	  .set = set_allow },
	{ .key = "read_only",
	  .type = CX_CONF_BOOL,
	  .offset = offsetof(struct cx_token, read_only) },
	{ .key = NULL },
};

static int parse_token(const json_t *entry, struct cx_token *t, const char *where,
		       struct cx_err *err)
{
	if (!json_is_object(entry))
		return cx_err_set(err, "'%s' must be an object", where);
	/* Checked before the table so the operator learns what to write instead. */
	if (json_object_get(entry, "token"))
		return cx_err_set(err,
				  "'%s.token': plaintext tokens are not accepted; store the "
				  "token's SHA-256 as \"sha256\" instead "
				  "(printf %%s \"$TOKEN\" | sha256sum)",
				  where);
	if (cx_conf_apply(token_table, entry, t, where, err))
		return -1;
	if (!t->name)
		return cx_err_set(err, "'%s.name' is required", where);
	if (!json_object_get(entry, "sha256"))
		return cx_err_set(err, "'%s.sha256' is required", where);
	return 0;
}

/* The list replaces the previous one only when every entry is good. */
static int set_tokens(const json_t *value, void *field, const char *path, struct cx_err *err)
{
	struct cx_gw_config *c = CONFIG_OF(field, tokens);
	size_t n = json_array_size(value), i, j;
	struct cx_token *toks = NULL;
	json_t *entry;

	if (!json_is_array(value))
		return cx_err_set(err, "'%s' must be an array of objects", path);
	/* "Every request needs a token" with no token would lock everyone out, and reading it
	 * as "no tokens" would open the gateway: neither is what the operator meant. */
	if (!n)
		return cx_err_set(err,
				  "'%s' is empty: list at least one token (see "
				  "--hash-token), or remove the key for anonymous access, "
				  "which is allowed on a loopback address only",
				  path);
	toks = calloc(n, sizeof(*toks));
	if (!toks)
		return cx_err_set(err, "'%s': out of memory", path);
	json_array_foreach((json_t *)value, i, entry) {
		char where[64];

		snprintf(where, sizeof(where), "%s[%zu]", path, i);
		if (parse_token(entry, &toks[i], where, err))
			goto fail;
		for (j = 0; j < i; j++) {
			if (!strcmp(toks[j].name, toks[i].name)) {
				cx_err_set(err,
					   "'%s.name': token name '%s' is already used by "
					   "'%s[%zu]'",
					   where, toks[i].name, path, j);
				goto fail;
			}
			if (!memcmp(toks[j].hash, toks[i].hash, sizeof(toks[i].hash))) {
				cx_err_set(err, "'%s.sha256': the same token as '%s' ('%s[%zu]')",
					   where, toks[j].name, path, j);
				goto fail;
			}
		}
	}
	tokens_free(c->tokens, c->ntokens);
	c->tokens = toks;
	c->ntokens = n;
	return 0;
fail:
	tokens_free(toks, n);
	return -1;
}

#define GW(member) offsetof(struct cx_gw_config, member)

static const struct cx_conf_directive http_table[] = {
	{ .key = "max_body_bytes",
	  .type = CX_CONF_INT,
	  .offset = GW(max_body_bytes),
	  .min = KIB,
	  .max = 64 * MIB },
	{ .key = "max_connections",
	  .type = CX_CONF_INT,
	  .offset = GW(max_connections),
	  .min = 1,
	  .max = 100000 },
	{ .key = "threads", .type = CX_CONF_INT, .offset = GW(http_threads), .min = 1, .max = 64 },
	{ .key = "connection_timeout_s",
	  .type = CX_CONF_INT,
	  .offset = GW(connection_timeout_s),
	  .min = 1,
	  .max = 3600 },
	{ .key = "allowed_origins",
	  .type = CX_CONF_CUSTOM,
	  .offset = GW(allowed_origins),
	  .set = set_origins },
	{ .key = "allowed_hosts",
	  .type = CX_CONF_CUSTOM,
	  .offset = GW(allowed_hosts),
	  .set = set_hosts },
	{ .key = "session_ttl_s",
	  .type = CX_CONF_INT,
	  .offset = GW(session_ttl_s),
	  .min = 60,
	  .max = 31536000 },
	{ .key = "max_connections_per_client",
	  .type = CX_CONF_INT,
	  .offset = GW(max_connections_per_client),
	  .min = 1,
	  .max = 100000 },
	{ .key = "max_streams_per_client",
	  .type = CX_CONF_INT,
	  .offset = GW(max_streams_per_client),
	  .min = 1,
	  .max = 100000 },
	{ .key = "stream_max_lifetime_s",
	  .type = CX_CONF_INT,
	  .offset = GW(stream_max_lifetime_s),
	  .min = 1,
	  .max = 604800 },
	{ .key = "max_ended_sessions",
	  .type = CX_CONF_INT,
	  .offset = GW(max_ended_sessions),
	  .min = 16,
	  .max = 10000000 },
	{ .key = "ended_sessions_file",
	  .type = CX_CONF_CUSTOM,
	  .offset = GW(ended_sessions_file),
	  .set = set_ended_file },
	{ .key = "ready_adapters",
	  .type = CX_CONF_CUSTOM,
	  .offset = GW(ready_adapters),
	  .set = set_ready_adapters },
	{ .key = "ended_sessions_shared",
	  .type = CX_CONF_CUSTOM,
	  .offset = GW(ended_sessions_shared),
	  .set = set_shared },
	{ .key = "session_key",
	  .type = CX_CONF_CUSTOM,
	  .offset = GW(session_key),
	  .set = set_session_key },
	{ .key = NULL },
};

static const struct cx_conf_directive calls_table[] = {
	{ .key = "workers", .type = CX_CONF_INT, .offset = GW(workers), .min = 1, .max = 256 },
	{ .key = "queue_max",
	  .type = CX_CONF_INT,
	  .offset = GW(queue_max),
	  .min = 1,
	  .max = 1000000 },
	{ .key = "timeout_ms",
	  .type = CX_CONF_INT,
	  .offset = GW(call_timeout_ms),
	  .min = 10,
	  .max = 3600000 },
	{ .key = "max_output_bytes",
	  .type = CX_CONF_INT,
	  .offset = GW(max_output_bytes),
	  .min = KIB,
	  .max = 64 * MIB },
	{ .key = "drain_grace_ms",
	  .type = CX_CONF_INT,
	  .offset = GW(drain_grace_ms),
	  .min = 0,
	  .max = 3600000 },
	{ .key = "max_per_adapter",
	  .type = CX_CONF_INT,
	  .offset = GW(max_per_adapter),
	  .min = 0,
	  .max = 256 },
	{ .key = "max_batch",
	  .type = CX_CONF_INT,
	  .offset = GW(max_batch),
	  .min = 1,
	  .max = 10000 },
	{ .key = "max_batch_reply_bytes",
	  .type = CX_CONF_INT,
	  .offset = GW(max_batch_reply_bytes),
	  .min = 4 * KIB,
	  .max = 256 * MIB },
	{ .key = NULL },
};

static const struct cx_conf_directive tools_table[] = {
	{ .key = "page_size", .type = CX_CONF_INT, .offset = GW(page_size), .min = 1, .max = 1000 },
	{ .key = NULL },
};

static const struct cx_conf_directive audit_table[] = {
	{ .key = "file", .type = CX_CONF_CUSTOM, .offset = GW(audit_file), .set = set_audit_file },
	{ .key = "max_line_bytes",
	  .type = CX_CONF_INT,
	  .offset = GW(audit_max_line_bytes),
	  .min = 4 * KIB,
	  .max = 16 * MIB },
	{ .key = NULL },
};

static const struct cx_conf_directive log_table[] = {
	{ .key = "level", .type = CX_CONF_CUSTOM, .offset = GW(log_level), .set = set_log_level },
	{ .key = NULL },
};

static const struct cx_conf_directive console_table[] = {
	{ .key = "enabled", .type = CX_CONF_BOOL, .offset = GW(console_enabled) },
	{ .key = NULL },
};

static const struct cx_conf_directive gw_table[] = {
	{ .key = "listen", .type = CX_CONF_STRING, .offset = GW(listen) },
	{ .key = "insecure_no_auth", .type = CX_CONF_BOOL, .offset = GW(insecure_no_auth) },
	{ .key = "http", .type = CX_CONF_OBJECT, .sub = http_table },
	{ .key = "calls", .type = CX_CONF_OBJECT, .sub = calls_table },
	{ .key = "tools", .type = CX_CONF_OBJECT, .sub = tools_table },
	{ .key = "tokens", .type = CX_CONF_CUSTOM, .offset = GW(tokens), .set = set_tokens },
	{ .key = "audit", .type = CX_CONF_OBJECT, .sub = audit_table },
	{ .key = "log", .type = CX_CONF_OBJECT, .sub = log_table },
	{ .key = "console", .type = CX_CONF_OBJECT, .sub = console_table },
	{ .key = "adapters", .type = CX_CONF_CUSTOM, .offset = GW(adapters), .set = set_adapters },
	{ .key = "tasks", .type = CX_CONF_CUSTOM, .offset = GW(tasks), .set = set_tasks },
	{ .key = "orchestrator", .type = CX_CONF_CUSTOM, .offset = 0, .set = set_orchestrator },
	{ .key = NULL },
};

/* Out of memory here leaves listen, log_level or adapters NULL; apply copes with that. */
void cx_gw_config_defaults(struct cx_gw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = strdup("127.0.0.1:8080");
	c->insecure_no_auth = false;
	c->max_body_bytes = MIB;
	c->max_connections = 1024;
	c->http_threads = 2;
	c->connection_timeout_s = 60;
	c->session_ttl_s = 86400;
	c->max_ended_sessions = 16384;
	c->ended_sessions_shared = -1;
	c->max_connections_per_client = 256;
	c->max_streams_per_client = 64;
	c->stream_max_lifetime_s = 900;
	c->console_enabled = true;
	c->workers = 8;
	c->queue_max = 1024;
	c->call_timeout_ms = 30000;
	c->page_size = 100;
	c->max_output_bytes = MIB;
	c->drain_grace_ms = 25000;
	c->max_batch = 64;
	c->max_batch_reply_bytes = 256 * KIB;
	c->audit_max_line_bytes = CX_AUDIT_MAX_LINE_DEFAULT;
	c->log_level = strdup("info");
	c->adapters = json_object();
	c->tasks = json_object();
}

/* On failure c holds whatever was applied before the bad key; release it and stop. */
int cx_gw_config_apply(struct cx_gw_config *c, const json_t *obj, struct cx_err *err)
{
	return cx_conf_apply(gw_table, obj, c, "", err);
}

const struct cx_conf_directive *cx_gw_config_table(const char *which)
{
	if (!strcmp(which, ""))
		return gw_table;
	return strcmp(which, "tokens[]") ? NULL : token_table;
}

/* The directory of path as an absolute path, without resolving symbolic links: a config
 * mounted through a link (a Kubernetes ConfigMap) keeps the directory it was named by. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char cwd[4096], *dir, *abs;

	if (slash == path)
		return strdup("/");
	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir || dir[0] == '/')
		return dir;
	if (!getcwd(cwd, sizeof(cwd))) {
		free(dir);
		return NULL;
	}
	abs = cx_path_resolve(cwd, strcmp(dir, ".") ? dir : "");
	free(dir);
	/* "cwd/" for a file in the working directory: drop the slash. */
	if (abs && strlen(abs) > 1 && abs[strlen(abs) - 1] == '/')
		abs[strlen(abs) - 1] = '\0';
	return abs;
}

int cx_gw_config_load_file(struct cx_gw_config *c, const char *path, struct cx_err *err)
{
	const char *from = c->config_from_env ? " (from $CORTEX_CONFIG)" : "";
	json_t *doc;
	int ret;

	free(c->config_file);
	free(c->config_dir);
	c->config_file = strdup(path);
	c->config_dir = dir_of(path);
	if (!c->config_file || !c->config_dir)
		return cx_err_set(err, "config '%s'%s: out of memory", path, from);
	doc = cx_json_load_file(path, CONFIG_FILE_MAX, err);
	/* Messages from loading name the file already. */
	if (!doc)
		return c->config_from_env ? cx_err_prefix(err, "config (from $CORTEX_CONFIG): ")
					  : cx_err_prefix(err, "config: ");
	ret = cx_gw_config_apply(c, doc, err);
	if (ret)
		cx_err_prefix(err, "config '%s'%s: ", path, from);
	json_decref(doc);
	return ret;
}

void cx_gw_config_where(const struct cx_gw_config *c, const char *key, bool set_by_flag,
			const char *flag, char *out, size_t outlen)
{
	if (set_by_flag)
		cx_fmt(out, outlen, "%s", flag);
	else if (c->config_file)
		cx_fmt(out, outlen, "config '%s'%s: '%s'", c->config_file,
		       c->config_from_env ? " (from $CORTEX_CONFIG)" : "", key);
	else
		cx_fmt(out, outlen, "built-in default '%s'", key);
}

void cx_gw_config_release(struct cx_gw_config *c)
{
	cx_conf_release(gw_table, c); /* listen */
	free(c->audit_file);
	free(c->ended_sessions_file);
	free(c->config_file);
	free(c->config_dir);
	free(c->log_level);
	free_strv(c->allowed_origins);
	free_strv(c->allowed_hosts);
	free_strv(c->ready_adapters);
	cx_secret_release(&c->session_key);
	tokens_free(c->tokens, c->ntokens);
	json_decref(c->adapters);
	json_decref(c->tasks);
	memset(c, 0, sizeof(*c));
}

bool cx_gw_config_tasks_in_redis(const struct cx_gw_config *c)
{
	const json_t *store = json_object_get(c->tasks, "store");

	return c->tasks && !json_is_false(json_object_get(c->tasks, "enabled")) && store &&
	       json_is_string(store) && !strcmp(json_string_value(store), "redis");
}

bool cx_gw_config_sessions_shared(const struct cx_gw_config *c)
{
	return c->ended_sessions_shared == 1 ||
	       (c->ended_sessions_shared == -1 && cx_gw_config_tasks_in_redis(c));
}
