/* The gateway configuration file: what an operator may write, and that every mistake stops the
 * start with a message naming the key at fault. */
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

#include <jansson.h>
#include <openssl/evp.h>

#include "../../gateway/config.h"

/* SHA-256 of "s3cret-token" and of "other-token". */
#define OPS_TOKEN_SHA "a81e611a041b13f078bf8ebe5dab4d4fd63fcc5594661c918bec093a2f416a7e"
#define CI_TOKEN_SHA  "6c67163bbed989f232b31acc4f04df54b31285bfc01bd022c735b71e041a4754"

static void sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);

	if (!v)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	return v;
}

/* Defaults, then text applied; returns apply's result, err filled. */
static int apply_text(struct cx_gw_config *c, const char *text, struct cx_err *err)
{
	json_t *doc = parse(text);
	int ret;

	cx_gw_config_defaults(c);
	memset(err, 0, sizeof(*err));
	ret = cx_gw_config_apply(c, doc, err);
	json_decref(doc);
	return ret;
}

#define expect_error(text, ...) expect_error_(__LINE__, text, __VA_ARGS__, NULL)

/* Apply must fail with a message that holds every one of the NULL-terminated fragments. */
static void expect_error_(int line, const char *text, ...)
{
	struct cx_gw_config c;
	struct cx_err err;
	const char *want;
	va_list ap;

	if (apply_text(&c, text, &err) != -1)
		fail_msg("line %d: %s was accepted", line, text);
	va_start(ap, text);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (!strstr(err.msg, want)) {
			va_end(ap);
			cx_gw_config_release(&c);
			fail_msg("line %d: error for %s is \"%s\", without \"%s\"", line, text,
				 err.msg, want);
		}
	}
	va_end(ap);
	cx_gw_config_release(&c);
}

static void expect_ok(const char *text)
{
	struct cx_gw_config c;
	struct cx_err err;

	if (apply_text(&c, text, &err) != 0)
		fail_msg("%s was refused: %s", text, err.msg);
	cx_gw_config_release(&c);
}

static char *write_temp(const char *content, size_t len)
{
	char *path = strdup("/tmp/cx-test-config-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static char *write_temp_str(const char *content)
{
	return write_temp(content, strlen(content));
}

static void test_defaults(void **state)
{
	struct cx_gw_config c;

	cx_gw_config_defaults(&c);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_false(c.insecure_no_auth);
	assert_int_equal(c.max_body_bytes, 1024 * 1024);
	assert_int_equal(c.max_connections, 1024);
	assert_int_equal(c.http_threads, 2);
	assert_int_equal(c.connection_timeout_s, 60);
	assert_null(c.allowed_origins);
	assert_null(c.allowed_hosts);
	assert_int_equal(c.session_ttl_s, 86400);
	assert_false(c.session_key_set);
	assert_null(c.session_key.data);
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.queue_max, 1024);
	assert_int_equal(c.call_timeout_ms, 30000);
	assert_int_equal(c.page_size, 100);
	assert_int_equal(c.max_output_bytes, 1024 * 1024);
	assert_null(c.tokens);
	assert_int_equal(c.ntokens, 0);
	assert_null(c.audit_file);
	assert_string_equal(c.log_level, "info");
	assert_true(json_is_object(c.adapters));
	assert_int_equal(json_object_size(c.adapters), 0);
	cx_gw_config_release(&c);
	assert_null(c.listen);
	assert_null(c.adapters);

	/* An empty file changes nothing. */
	expect_ok("{}");
}

static void test_full_file(void **state)
{
	static const char secret[] = "a-session-secret-of-more-than-32-bytes-0123456789";
	const char *text =
		"{\n"
		"  \"listen\": \"0.0.0.0:9090\",\n"
		"  \"insecure_no_auth\": true,\n"
		"  \"http\": {\"max_body_bytes\": 2097152, \"max_connections\": 50, \"threads\": 4,\n"
		"           \"connection_timeout_s\": 30,\n"
		"           \"allowed_origins\": [\"https://app.example\", \"http://localhost:3000\"],\n"
		"           \"allowed_hosts\": [\"cortex.internal:8080\"],\n"
		"           \"session_ttl_s\": 3600, \"session_key\": {\"env\": \"CX_TEST_SESSION_KEY\"}},\n"
		"  \"calls\": {\"workers\": 16, \"queue_max\": 99, \"timeout_ms\": 5000,\n"
		"            \"max_output_bytes\": 4096},\n"
		"  \"tools\": {\"page_size\": 25},\n"
		"  \"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\",\n"
		"              \"allow\": [\"gateway_*\", \"proxmox_list_*\"], \"read_only\": false},\n"
		"             {\"name\": \"ci.bot-1\", \"sha256\": \"" CI_TOKEN_SHA "\",\n"
		"              \"read_only\": true}],\n"
		"  \"audit\": {\"file\": \"/var/log/cortex/audit.jsonl\"},\n"
		"  \"log\": {\"level\": \"debug\"},\n"
		"  \"adapters\": {\"proxmox\": {\"url\": \"https://pve:8006\"}, \"unifi\": {}}\n"
		"}\n";
	unsigned char ops_hash[32], key[32];
	struct cx_gw_config c;
	struct cx_err err = { 0 };
	json_t *want;
	char *path;

	assert_int_equal(setenv("CX_TEST_SESSION_KEY", secret, 1), 0);
	path = write_temp_str(text);
	cx_gw_config_defaults(&c);
	if (cx_gw_config_load_file(&c, path, &err))
		fail_msg("valid file refused: %s", err.msg);

	assert_string_equal(c.listen, "0.0.0.0:9090");
	assert_true(c.insecure_no_auth);
	assert_int_equal(c.max_body_bytes, 2097152);
	assert_int_equal(c.max_connections, 50);
	assert_int_equal(c.http_threads, 4);
	assert_int_equal(c.connection_timeout_s, 30);
	assert_non_null(c.allowed_origins);
	assert_string_equal(c.allowed_origins[0], "https://app.example");
	assert_string_equal(c.allowed_origins[1], "http://localhost:3000");
	assert_null(c.allowed_origins[2]);
	assert_string_equal(c.allowed_hosts[0], "cortex.internal:8080");
	assert_null(c.allowed_hosts[1]);
	assert_int_equal(c.session_ttl_s, 3600);
	assert_true(c.session_key_set);
	assert_int_equal(c.session_key.len, 32);
	sha256(secret, strlen(secret), key);
	assert_memory_equal(c.session_key.data, key, 32);
	assert_int_equal(c.workers, 16);
	assert_int_equal(c.queue_max, 99);
	assert_int_equal(c.call_timeout_ms, 5000);
	assert_int_equal(c.max_output_bytes, 4096);
	assert_int_equal(c.page_size, 25);

	assert_int_equal(c.ntokens, 2);
	assert_string_equal(c.tokens[0].name, "ops");
	sha256("s3cret-token", strlen("s3cret-token"), ops_hash);
	assert_memory_equal(c.tokens[0].hash, ops_hash, 32);
	assert_string_equal(c.tokens[0].allow[0], "gateway_*");
	assert_string_equal(c.tokens[0].allow[1], "proxmox_list_*");
	assert_null(c.tokens[0].allow[2]);
	assert_false(c.tokens[0].read_only);
	assert_string_equal(c.tokens[1].name, "ci.bot-1");
	assert_null(c.tokens[1].allow); /* absent: every tool */
	assert_true(c.tokens[1].read_only);

	assert_string_equal(c.audit_file, "/var/log/cortex/audit.jsonl");
	assert_string_equal(c.log_level, "debug");
	want = parse("{\"proxmox\": {\"url\": \"https://pve:8006\"}, \"unifi\": {}}");
	assert_true(json_equal(c.adapters, want));
	json_decref(want);

	cx_gw_config_release(&c);
	unlink(path);
	free(path);
	unsetenv("CX_TEST_SESSION_KEY");
}

/* The file sits on top of what is there: absent keys keep their values. */
static void test_apply_keeps_absent_keys(void **state)
{
	struct cx_gw_config c;
	struct cx_err err;
	json_t *more = parse("{\"http\": {\"threads\": 8}, \"listen\": \"[::1]:8081\"}");

	assert_int_equal(apply_text(&c, "{\"calls\": {\"workers\": 4}}", &err), 0);
	assert_int_equal(cx_gw_config_apply(&c, more, &err), 0);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.queue_max, 1024);
	assert_int_equal(c.http_threads, 8);
	assert_int_equal(c.max_connections, 1024);
	assert_string_equal(c.listen, "[::1]:8081");
	assert_string_equal(c.log_level, "info");
	json_decref(more);
	cx_gw_config_release(&c);
}

static void test_unknown_keys_name_their_path(void **state)
{
	expect_error("{\"listne\": \"127.0.0.1:1\"}", "unknown key", "'listne'");
	expect_error("{\"http\": {\"max_body\": 5}}", "unknown key", "'http.max_body'",
		     "did you mean 'http.max_body_bytes'?");
	expect_error("{\"calls\": {\"timeout\": 5}}", "'calls.timeout'");
	expect_error("{\"tools\": {\"pagesize\": 5}}", "'tools.pagesize'");
	expect_error("{\"audit\": {\"path\": \"/x\"}}", "'audit.path'");
	expect_error("{\"log\": {\"lvl\": \"info\"}}", "'log.lvl'");
	expect_error("{\"tokens\": [{\"name\": \"a\", \"sha256\": \"" OPS_TOKEN_SHA "\"},"
		     " {\"name\": \"b\", \"sha256\": \"" CI_TOKEN_SHA "\", \"allw\": []}]}",
		     "unknown key", "'tokens[1].allw'");
	expect_error("{\"http\": {\"session_key\": {\"env\": \"X\", \"file\": \"/y\"}}}",
		     "'http.session_key'");
}

static void test_bad_types(void **state)
{
	expect_error("[]", "object");
	expect_error("{\"listen\": 8080}", "'listen'", "string");
	expect_error("{\"insecure_no_auth\": \"yes\"}", "'insecure_no_auth'");
	expect_error("{\"insecure_no_auth\": 1}", "'insecure_no_auth'");
	expect_error("{\"http\": \"fast\"}", "'http'", "object");
	expect_error("{\"http\": {\"threads\": \"2\"}}", "'http.threads'", "integer");
	expect_error("{\"http\": {\"threads\": 2.5}}", "'http.threads'");
	expect_error("{\"http\": {\"threads\": null}}", "'http.threads'");
	expect_error("{\"http\": {\"allowed_origins\": \"https://a.example\"}}",
		     "'http.allowed_origins'", "array");
	expect_error("{\"http\": {\"allowed_origins\": [\"https://a.example\", 3]}}",
		     "'http.allowed_origins[1]'");
	expect_error("{\"http\": {\"allowed_origins\": [\"\"]}}", "'http.allowed_origins[0]'");
	/* An origin with a path or without a scheme never matches what a browser sends. */
	expect_error("{\"http\": {\"allowed_origins\": [\"https://app.example/\"]}}",
		     "'http.allowed_origins[0]'", "'https://app.example/'");
	expect_error("{\"http\": {\"allowed_origins\": [\"app.example\"]}}",
		     "'http.allowed_origins[0]'");
	expect_error("{\"http\": {\"allowed_hosts\": [\"https://cortex.internal\"]}}",
		     "'http.allowed_hosts[0]'");
	expect_error("{\"http\": {\"allowed_hosts\": {}}}", "'http.allowed_hosts'");
	expect_error("{\"calls\": []}", "'calls'");
	expect_error("{\"tokens\": {}}", "'tokens'", "array");
	expect_error("{\"tokens\": [\"ops\"]}", "'tokens[0]'", "object");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\","
		     " \"allow\": \"gateway_*\"}]}",
		     "'tokens[0].allow'", "array");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\","
		     " \"allow\": [\"\"]}]}",
		     "'tokens[0].allow[0]'");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\","
		     " \"read_only\": \"no\"}]}",
		     "'tokens[0].read_only'");
	expect_error("{\"audit\": {\"file\": false}}", "'audit.file'");
	expect_error("{\"log\": {\"level\": 3}}", "'log.level'");
	expect_error("{\"log\": {\"level\": \"verbose\"}}", "'log.level'", "\"warn\"");
	expect_ok("{\"log\": {\"level\": \"warn\"}, \"http\": {\"allowed_origins\": [],"
		  " \"allowed_hosts\": [\"10.0.0.5:8080\", \"[::1]:8080\"]}}");
}

struct bound {
	const char *section;
	const char *key;
	long min, max;
	size_t offset;
};

static void test_bounds(void **state)
{
	static const struct bound bounds[] = {
		{ "http", "max_body_bytes", 1024, 64L << 20,
		  offsetof(struct cx_gw_config, max_body_bytes) },
		{ "http", "max_connections", 1, 100000,
		  offsetof(struct cx_gw_config, max_connections) },
		{ "http", "threads", 1, 64, offsetof(struct cx_gw_config, http_threads) },
		{ "http", "connection_timeout_s", 1, 3600,
		  offsetof(struct cx_gw_config, connection_timeout_s) },
		{ "http", "session_ttl_s", 60, 31536000,
		  offsetof(struct cx_gw_config, session_ttl_s) },
		{ "calls", "workers", 1, 256, offsetof(struct cx_gw_config, workers) },
		{ "calls", "queue_max", 1, 1000000, offsetof(struct cx_gw_config, queue_max) },
		{ "calls", "timeout_ms", 10, 3600000,
		  offsetof(struct cx_gw_config, call_timeout_ms) },
		{ "calls", "max_output_bytes", 1024, 64L << 20,
		  offsetof(struct cx_gw_config, max_output_bytes) },
		{ "tools", "page_size", 1, 1000, offsetof(struct cx_gw_config, page_size) },
	};
	size_t i, k;

	for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		const struct bound *b = &bounds[i];
		const long vals[] = { b->min - 1, b->min, b->max, b->max + 1, -1 };
		char text[128], path[64];

		snprintf(path, sizeof(path), "'%s.%s'", b->section, b->key);
		for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
			struct cx_gw_config c;
			struct cx_err err;
			bool in = vals[k] >= b->min && vals[k] <= b->max;
			int ret;

			snprintf(text, sizeof(text), "{\"%s\": {\"%s\": %ld}}", b->section, b->key,
				 vals[k]);
			ret = apply_text(&c, text, &err);
			if (in && ret != 0)
				fail_msg("%s refused: %s", text, err.msg);
			if (!in && (ret != -1 || !strstr(err.msg, path)))
				fail_msg("%s: got %d \"%s\"", text, ret, err.msg);
			if (in)
				assert_int_equal(*(long *)(void *)((char *)&c + b->offset),
						 vals[k]);
			cx_gw_config_release(&c);
		}
	}
}

/* A bearer token in the file would be readable by anyone who can read the config; only its
 * hash is accepted, and the message says how to make one without echoing the token. */
static void test_plaintext_token_refused(void **state)
{
	struct cx_gw_config c;
	struct cx_err err;

	expect_error("{\"tokens\": [{\"name\": \"ops\", \"token\": \"TOPSECRETVALUE\"}]}",
		     "'tokens[0].token'", "sha256", "sha256sum");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\","
		     " \"token\": \"TOPSECRETVALUE\"}]}",
		     "'tokens[0].token'");
	/* The message must not repeat the token it refuses. */
	assert_int_equal(apply_text(&c,
				    "{\"tokens\": [{\"name\": \"ops\","
				    " \"token\": \"TOPSECRETVALUE\"}]}",
				    &err),
			 -1);
	assert_null(strstr(err.msg, "TOPSECRETVALUE"));
	cx_gw_config_release(&c);
}

static void test_token_hash(void **state)
{
	struct cx_gw_config c;
	struct cx_err err;
	char text[256];
	char upper[65];
	size_t i;

	expect_error("{\"tokens\": [{\"name\": \"ops\"}]}", "'tokens[0].sha256'", "required");
	/* 63 and 65 digits, a non-hex digit, a number, the raw token. */
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \""
		     "a81e611a041b13f078bf8ebe5dab4d4fd63fcc5594661c918bec093a2f416a7\"}]}",
		     "'tokens[0].sha256'", "64 hex");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "0\"}]}",
		     "'tokens[0].sha256'");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \""
		     "g81e611a041b13f078bf8ebe5dab4d4fd63fcc5594661c918bec093a2f416a7e\"}]}",
		     "'tokens[0].sha256'");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": 12345}]}",
		     "'tokens[0].sha256'");
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"s3cret-token\"}]}",
		     "'tokens[0].sha256'");

	/* Upper-case digits, as some tools print them, give the same hash. */
	for (i = 0; i < 64; i++)
		upper[i] =
			(char)(OPS_TOKEN_SHA[i] >= 'a' ? OPS_TOKEN_SHA[i] - 32 : OPS_TOKEN_SHA[i]);
	upper[64] = '\0';
	snprintf(text, sizeof(text), "{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"%s\"}]}",
		 upper);
	assert_int_equal(apply_text(&c, text, &err), 0);
	{
		unsigned char want[32];

		sha256("s3cret-token", strlen("s3cret-token"), want);
		assert_memory_equal(c.tokens[0].hash, want, 32);
	}
	cx_gw_config_release(&c);
}

static void test_token_names(void **state)
{
	char name64[65], name65[66], text[256];

	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\"},"
		     " {\"name\": \"ops\", \"sha256\": \"" CI_TOKEN_SHA "\"}]}",
		     "'tokens[1].name'", "'ops'");
	/* Two names for one token would make the audit trail ambiguous. */
	expect_error("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\"},"
		     " {\"name\": \"ci\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}",
		     "'tokens[1].sha256'");
	expect_error("{\"tokens\": [{\"sha256\": \"" OPS_TOKEN_SHA "\"}]}", "'tokens[0].name'",
		     "required");
	expect_error("{\"tokens\": [{\"name\": \"\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}",
		     "'tokens[0].name'");
	expect_error("{\"tokens\": [{\"name\": \"ops team\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}",
		     "'tokens[0].name'");
	expect_error("{\"tokens\": [{\"name\": \"ops\\\"\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}",
		     "'tokens[0].name'");
	expect_error("{\"tokens\": [{\"name\": 7, \"sha256\": \"" OPS_TOKEN_SHA "\"}]}",
		     "'tokens[0].name'");

	memset(name64, 'a', 64);
	name64[64] = '\0';
	snprintf(text, sizeof(text), "{\"tokens\": [{\"name\": \"%s\", \"sha256\": \"%s\"}]}",
		 name64, OPS_TOKEN_SHA);
	expect_ok(text);
	memset(name65, 'a', 65);
	name65[65] = '\0';
	snprintf(text, sizeof(text), "{\"tokens\": [{\"name\": \"%s\", \"sha256\": \"%s\"}]}",
		 name65, OPS_TOKEN_SHA);
	expect_error(text, "'tokens[0].name'");
	expect_ok("{\"tokens\": [{\"name\": \"A-z_0.9\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}");
}

/* A bad token list leaves the one in force untouched; a good one replaces it whole. */
static void test_tokens_replace_whole_list(void **state)
{
	struct cx_gw_config c;
	struct cx_err err;
	json_t *bad = parse("{\"tokens\": [{\"name\": \"x\", \"sha256\": \"" CI_TOKEN_SHA "\"},"
			    " {\"name\": \"x\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}");
	json_t *good =
		parse("{\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" CI_TOKEN_SHA "\"}]}");

	assert_int_equal(apply_text(&c,
				    "{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA
				    "\"}, {\"name\": \"b\", \"sha256\": \"" CI_TOKEN_SHA "\"}]}",
				    &err),
			 0);
	assert_int_equal(cx_gw_config_apply(&c, bad, &err), -1);
	assert_int_equal(c.ntokens, 2);
	assert_string_equal(c.tokens[0].name, "ops");
	assert_int_equal(cx_gw_config_apply(&c, good, &err), 0);
	assert_int_equal(c.ntokens, 1);
	assert_string_equal(c.tokens[0].name, "ci");
	json_decref(bad);
	json_decref(good);
	cx_gw_config_release(&c);
}

static void test_session_key(void **state)
{
	static const char from_env[] = "0123456789abcdef0123456789abcdef!"; /* 33 bytes */
	static const char from_file[] = "file secret: 32 bytes or more, yes";
	unsigned char want[32];
	struct cx_gw_config c;
	struct cx_err err;
	char text[256], file_content[128];
	char *path;

	/* From the environment. */
	assert_int_equal(setenv("CX_TEST_SK", from_env, 1), 0);
	assert_int_equal(apply_text(&c, "{\"http\": {\"session_key\": {\"env\": \"CX_TEST_SK\"}}}",
				    &err),
			 0);
	assert_true(c.session_key_set);
	assert_int_equal(c.session_key.len, 32);
	sha256(from_env, strlen(from_env), want);
	assert_memory_equal(c.session_key.data, want, 32);
	cx_gw_config_release(&c);

	/* From a file; its one trailing newline is not part of the secret. */
	snprintf(file_content, sizeof(file_content), "%s\n", from_file);
	path = write_temp_str(file_content);
	snprintf(text, sizeof(text), "{\"http\": {\"session_key\": {\"file\": \"%s\"}}}", path);
	assert_int_equal(apply_text(&c, text, &err), 0);
	assert_true(c.session_key_set);
	sha256(from_file, strlen(from_file), want);
	assert_memory_equal(c.session_key.data, want, 32);
	cx_gw_config_release(&c);
	unlink(path);
	free(path);

	/* Exactly 32 bytes is enough, 31 is not. */
	assert_int_equal(setenv("CX_TEST_SK", "0123456789abcdef0123456789abcdef", 1), 0);
	expect_ok("{\"http\": {\"session_key\": {\"env\": \"CX_TEST_SK\"}}}");
	assert_int_equal(setenv("CX_TEST_SK", "0123456789abcdef0123456789abcde", 1), 0);
	assert_int_equal(apply_text(&c, "{\"http\": {\"session_key\": {\"env\": \"CX_TEST_SK\"}}}",
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "'http.session_key'"));
	assert_non_null(strstr(err.msg, "at least 32 bytes"));
	assert_null(strstr(err.msg, "0123456789abcde"));
	assert_false(c.session_key_set);
	cx_gw_config_release(&c);

	unsetenv("CX_TEST_SK");
	expect_error("{\"http\": {\"session_key\": {\"env\": \"CX_TEST_SK\"}}}",
		     "'http.session_key'", "CX_TEST_SK");
	expect_error("{\"http\": {\"session_key\": {\"file\": \"/nonexistent/cx-key\"}}}",
		     "'http.session_key'");
	/* Inline secrets are refused. */
	expect_error("{\"http\": {\"session_key\": \"0123456789abcdef0123456789abcdef\"}}",
		     "'http.session_key'");
}

static void test_adapters_shape(void **state)
{
	struct cx_gw_config c;
	struct cx_err err;
	json_t *doc;

	expect_error("{\"adapters\": []}", "'adapters'", "object");
	expect_error("{\"adapters\": \"proxmox\"}", "'adapters'");
	expect_error("{\"adapters\": {\"proxmox\": {}, \"unifi\": true}}", "'adapters.unifi'");
	expect_error("{\"adapters\": {\"proxmox\": [\"url\"]}}", "'adapters.proxmox'");

	/* The config keeps its own copy, and a later file replaces the adapters object. */
	doc = parse("{\"adapters\": {\"proxmox\": {\"url\": \"https://pve\"}}}");
	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_apply(&c, doc, &err), 0);
	json_object_set_new(json_object_get(json_object_get(doc, "adapters"), "proxmox"), "url",
			    json_string("https://changed"));
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(c.adapters, "proxmox"), "url")),
			    "https://pve");
	json_decref(doc);
	doc = parse("{\"adapters\": {\"unifi\": {}}}");
	assert_int_equal(cx_gw_config_apply(&c, doc, &err), 0);
	assert_null(json_object_get(c.adapters, "proxmox"));
	assert_non_null(json_object_get(c.adapters, "unifi"));
	json_decref(doc);
	cx_gw_config_release(&c);
}

static void test_load_file_errors_name_the_file(void **state)
{
	struct cx_gw_config c;
	struct cx_err err = { 0 };
	char *path, *big;
	size_t n = 1024 * 1024 + 16;

	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, "/nonexistent/cortex.json", &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/cortex.json"));
	cx_gw_config_release(&c);

	path = write_temp_str("{\"listen\": \"x\",\n \"bogus\": 1}\n");
	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "'bogus'"));
	cx_gw_config_release(&c);
	unlink(path);
	free(path);

	path = write_temp_str("{\"listen\": ");
	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	assert_non_null(strstr(err.msg, path));
	cx_gw_config_release(&c);
	unlink(path);
	free(path);

	/* Duplicate keys would let a later line silently win. */
	path = write_temp_str("{\"listen\": \"a:1\", \"listen\": \"b:2\"}");
	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	cx_gw_config_release(&c);
	unlink(path);
	free(path);

	/* Larger than 1 MiB: refused, not truncated. */
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	path = write_temp(big, n);
	free(big);
	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	assert_non_null(strstr(err.msg, path));
	cx_gw_config_release(&c);
	unlink(path);
	free(path);
}

/* "tokens": [] would mean either "nobody may call" or, read as no tokens, anonymous access:
 * the operator meant neither, so it is refused and the message says how to get each. */
static void test_empty_token_list_refused(void **state)
{
	expect_error("{\"tokens\": []}", "'tokens' is empty", "remove the key", "loopback");
}

/* Hashes somebody typed rather than computed never protect anything: refused, with the
 * command that makes a real one. */
static void test_placeholder_hashes_refused(void **state)
{
	static const char *const placeholders[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"1111111111111111111111111111111111111111111111111111111111111111",
		"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
		"abababababababababababababababababababababababababababababababab",
		/* SHA-256 of the empty string: a token nobody can send. */
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	};
	char text[256];

	for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"tokens\": [{\"name\": \"ops\", \"sha256\": "
			 "\"%s\"}]}",
			 placeholders[i]);
		expect_error(text, "'tokens[0].sha256' is a placeholder", "--hash-token");
	}
	expect_ok("{\"tokens\": [{\"name\": \"ops\", \"sha256\": \"" OPS_TOKEN_SHA "\"}]}");
}

/* A config file and its secrets travel together: {"file": "secrets/key"} is the file next to
 * the config, wherever the gateway was started from; so is a relative audit.file. */
static void test_relative_paths_from_the_config_directory(void **state)
{
	static const char secret[] = "a-relative-session-secret-of-32-bytes-or-more";
	char dir[] = "/tmp/cx-test-reldir-XXXXXX", path[256], sub[256], key[256], cwd[4096];
	unsigned char want[32];
	struct cx_gw_config c;
	struct cx_err err = { 0 };
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/secrets", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(key, sizeof(key), "%s/secrets/session-key", dir);
	f = fopen(key, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", secret);
	fclose(f);
	chmod(key, 0600);
	snprintf(path, sizeof(path), "%s/gateway.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"http\": {\"session_key\": {\"file\": \"secrets/session-key\"}},"
	      " \"audit\": {\"file\": \"audit.log\"}}",
	      f);
	fclose(f);

	/* Started from somewhere else entirely. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	cx_gw_config_defaults(&c);
	if (cx_gw_config_load_file(&c, path, &err))
		fail_msg("refused: %s", err.msg);
	assert_true(c.session_key_set);
	sha256(secret, strlen(secret), want);
	assert_memory_equal(c.session_key.data, want, 32);
	snprintf(key, sizeof(key), "%s/audit.log", dir);
	assert_string_equal(c.audit_file, key);
	assert_string_equal(c.config_dir, dir);
	cx_gw_config_release(&c);

	/* Named relative to the working directory: the same directory. */
	assert_int_equal(chdir(dir), 0);
	cx_gw_config_defaults(&c);
	if (cx_gw_config_load_file(&c, "gateway.json", &err))
		fail_msg("refused: %s", err.msg);
	assert_string_equal(c.config_dir, dir);
	assert_string_equal(c.audit_file, key);
	cx_gw_config_release(&c);
	assert_int_equal(chdir("/"), 0);

	/* A missing relative secret is reported with the path it was looked for at. */
	snprintf(key, sizeof(key), "%s/secrets/session-key", dir);
	unlink(key);
	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	assert_non_null(strstr(err.msg, "'http.session_key'"));
	assert_non_null(strstr(err.msg, key));
	cx_gw_config_release(&c);

	/* Absolute paths are left alone. */
	assert_int_equal(apply_text(&c, "{\"audit\": {\"file\": \"/var/log/cortex/a.log\"}}", &err),
			 0);
	assert_string_equal(c.audit_file, "/var/log/cortex/a.log");
	cx_gw_config_release(&c);
	expect_error("{\"audit\": {\"file\": \"\"}}", "'audit.file'");

	assert_int_equal(chdir(cwd), 0);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

/* A config named by $CORTEX_CONFIG says so in every message, so the operator who did not
 * pass --config learns where the file came from. */
static void test_errors_say_the_config_came_from_the_environment(void **state)
{
	struct cx_gw_config c;
	struct cx_err err = { 0 };
	char where[256], *path = write_temp_str("{\"http\": {\"threads\": 0}}");

	cx_gw_config_defaults(&c);
	c.config_from_env = true;
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "(from $CORTEX_CONFIG)"));
	assert_non_null(strstr(err.msg, "'http.threads'"));
	cx_gw_config_where(&c, "listen", false, "--listen", where, sizeof(where));
	assert_non_null(strstr(where, "(from $CORTEX_CONFIG): 'listen'"));
	cx_gw_config_where(&c, "listen", true, "--listen", where, sizeof(where));
	assert_string_equal(where, "--listen");
	cx_gw_config_release(&c);

	cx_gw_config_defaults(&c);
	assert_int_equal(cx_gw_config_load_file(&c, path, &err), -1);
	assert_null(strstr(err.msg, "CORTEX_CONFIG"));
	cx_gw_config_release(&c);

	cx_gw_config_defaults(&c);
	c.config_from_env = true;
	assert_int_equal(cx_gw_config_load_file(&c, "/nonexistent/gw.json", &err), -1);
	assert_non_null(strstr(err.msg, "(from $CORTEX_CONFIG)"));
	assert_non_null(strstr(err.msg, "/nonexistent/gw.json"));
	cx_gw_config_release(&c);
	cx_gw_config_defaults(&c);
	cx_gw_config_where(&c, "listen", false, "--listen", where, sizeof(where));
	assert_string_equal(where, "built-in default 'listen'");
	cx_gw_config_release(&c);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_apply_keeps_absent_keys),
		cmocka_unit_test(test_unknown_keys_name_their_path),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_plaintext_token_refused),
		cmocka_unit_test(test_token_hash),
		cmocka_unit_test(test_token_names),
		cmocka_unit_test(test_tokens_replace_whole_list),
		cmocka_unit_test(test_session_key),
		cmocka_unit_test(test_adapters_shape),
		cmocka_unit_test(test_load_file_errors_name_the_file),
		cmocka_unit_test(test_empty_token_list_refused),
		cmocka_unit_test(test_placeholder_hashes_refused),
		cmocka_unit_test(test_relative_paths_from_the_config_directory),
		cmocka_unit_test(test_errors_say_the_config_came_from_the_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
