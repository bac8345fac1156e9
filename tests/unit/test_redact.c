/* The audit log's redaction: which keys name secrets (by word, so harmless compounds stay),
 * which values are credentials whatever their key, long strings cut with a marker, the input
 * never modified, and nothing copied when nothing changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/redact.h"

#define SECRET_VALUE "hunter2-Zq9"

static void test_keys(void **state)
{
	static const char *const yes[] = {
		"password",      "PASSWORD",    "db_passwd",
		"pwd",           "pass",        "passphrase",
		"client_secret", "Secret",      "token",
		"refresh_token", "accessToken", "api_key",
		"X-API-Key",     "apikey",      "ApiKey",
		"Authorization", "cookie",      "Set-Cookie",
		"private_key",   "privateKey",  "ssh_privatekey",
		"credential",    "credentials", "session_key",
		"sessionId",     "session_id",  "SESSION-ID",
		"access_key",    "secret_key",  "aws_secret_access_key",
		"bearer",        "key",         "KEY",
		"otp",
	};
	static const char *const no[] = {
		"name",     "node",        "vmid",          "description",    "author",
		"keyword",  "monkey",      "keys",          "session",        "api",
		"auth",     "passage",     "progressToken", "progress_token", "max_tokens",
		"tokens",   "token_count", "nextPageToken", "public_key",     "publicKey",
		"sort_key", "primary_key", "key_name",      "bypass",         "",
		"compass",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!cx_redact_key(yes[i]))
			fail_msg("key '%s' should be redacted", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (cx_redact_key(no[i]))
			fail_msg("key '%s' should be kept", no[i]);
	}
	assert_false(cx_redact_key(NULL));
}

static void test_values(void **state)
{
	static const char *const yes[] = {
		"Bearer abcdefgh12345678",
		"bearer eyJhbGciOi.abc",
		"curl -H 'Authorization: Bearer 0123456789abcdef' https://x",
		"Basic dXNlcjpwYXNzd29yZA==",
		"PVEAPIToken=root@pam!cortex=5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12",
		"PVEAuthCookie=PVE:root@pam:65A1B2C3::abc",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n",
		"-----BEGIN RSA PRIVATE KEY-----\n",
		"AKIAIOSFODNN7EXAMPLE",
		"key: AKIAIOSFODNN7EXAMPLE in the file",
		"ghp_abcdefghijklmnopqrstuvwxyz0123456789",
		"github_pat_11ABCDEFG0123456789abcdefghij",
		"xoxb-123456789012-abcdefghij",
		"sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
		"sk-proj-abcdefghijklmnopqrstuvwxyz012345",
	};
	static const char *const no[] = {
		"a basic setup of the cluster",
		"bearer of bad news",
		"task-cli-1700000000000-abcdefghi", /* "sk-" inside a word */
		"-----BEGIN CERTIFICATE-----\nMIIB\n",
		"-----BEGIN PUBLIC KEY-----\nMIIB\n",
		"eyJ but not a token",
		"AKIA-short",
		"the pve node pve1 runs 12 vms",
		"",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!cx_redact_value(yes[i], strlen(yes[i])))
			fail_msg("value '%s' should be redacted", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (cx_redact_value(no[i], strlen(no[i])))
			fail_msg("value '%s' should be kept", no[i]);
	}
}

static void test_nested(void **state)
{
	json_error_t e;
	json_t *in = json_loads(
		"{\"name\":\"vm1\",\"password\":\"" SECRET_VALUE "\","
		"\"headers\":[{\"Authorization\":\"Bearer x\"},{\"accept\":\"json\"},"
		"{\"x-trace\":\"Bearer 0123456789abcdef\"}],"
		"\"auth\":{\"api_key\":{\"nested\":true},\"user\":\"root\",\"token\":42},"
		"\"_meta\":{\"progressToken\":\"p-1\"},\"max_tokens\":100,"
		"\"count\":3,\"ratio\":0.5,\"flag\":false,\"nothing\":null,\"list\":[1,\"two\"]}",
		0, &e);
	json_t *want = json_loads(
		"{\"name\":\"vm1\",\"password\":\"[redacted]\","
		"\"headers\":[{\"Authorization\":\"[redacted]\"},{\"accept\":\"json\"},"
		"{\"x-trace\":\"[redacted]\"}],"
		"\"auth\":{\"api_key\":\"[redacted]\",\"user\":\"root\",\"token\":\"[redacted]\"},"
		"\"_meta\":{\"progressToken\":\"p-1\"},\"max_tokens\":100,"
		"\"count\":3,\"ratio\":0.5,\"flag\":false,\"nothing\":null,\"list\":[1,\"two\"]}",
		0, &e);
	json_t *before = json_deep_copy(in);
	bool cut = false;
	json_t *out;
	char *text;

	assert_non_null(in);
	assert_non_null(want);
	out = cx_redact(in, 1024, &cut);
	assert_non_null(out);
	if (!json_equal(out, want))
		fail_msg("got %s", json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS));
	assert_false(cut);
	/* The input is untouched and shares nothing mutable with the copy. */
	assert_true(json_equal(in, before));
	assert_ptr_not_equal(json_object_get(out, "headers"), json_object_get(in, "headers"));
	text = json_dumps(out, JSON_COMPACT);
	assert_null(strstr(text, SECRET_VALUE));
	assert_null(strstr(text, "Bearer"));
	free(text);
	json_decref(out);
	json_decref(in);
	json_decref(want);
	json_decref(before);
}

static void test_unchanged_is_shared(void **state)
{
	json_t *in = json_pack("{s:s,s:[i,s]}", "node", "pve1", "list", 1, "two");
	bool cut = false;
	json_t *out = cx_redact(in, 1024, &cut);

	assert_ptr_equal(out, in); /* nothing to hide: no copy */
	assert_false(cut);
	json_decref(out);
	json_decref(in);
	/* A bare string value named like a key is data. */
	in = json_string("password");
	out = cx_redact(in, 1024, &cut);
	assert_string_equal(json_string_value(out), "password");
	json_decref(out);
	json_decref(in);
}

static void test_long_strings_cut(void **state)
{
	size_t n = 100000;
	char *big = malloc(n + 1);
	json_t *in, *out, *s;
	bool cut = false;
	const char *t;

	memset(big, 'a', n);
	big[n] = '\0';
	/* A multi-byte character across the cut: the kept part stays valid UTF-8. */
	memcpy(big + 1023, "\xc3\xa9", 2);
	in = json_pack("{s:s,s:s}", "text", big, "short", "ok");
	out = cx_redact(in, 1024, &cut);
	assert_true(cut);
	s = json_object_get(out, "text");
	t = json_string_value(s);
	assert_non_null(t);
	assert_true(json_string_length(s) < 1100);
	assert_non_null(strstr(t, "[cut: 98977 more bytes]"));
	assert_string_equal(json_string_value(json_object_get(out, "short")), "ok");
	/* The original is whole. */
	assert_int_equal(json_string_length(json_object_get(in, "text")), n);
	json_decref(out);
	json_decref(in);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_unchanged_is_shared),
		cmocka_unit_test(test_long_strings_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
