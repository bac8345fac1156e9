/* The adapters' HTTP client and certificates (tests/unit/http_test_server.c serves one made at
 * start): CAs, ca_file, pins (a wrong one sends nothing), insecure_skip_verify, settings
 * refused up front, the sentences a model can act on, and credentials that never reach an error
 * text or the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/http_client.h"
#include "../../common/log.h"
#include "../../common/util.h"
#include "http_test_server.h"

/* ---- TLS ---- */

static void test_tls_self_signed_refused_by_default(void **state)
{
	struct cx_http_client *c = hts_client(&hts_secure, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_string_equal(cx_http_client_tls(c), "verified (system CAs)");
	assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), -1);
	hts_assert_contains(err.msg, "testsvc: TLS: ");
	hts_assert_contains(err.msg, "ca_file or fingerprint");
	assert_int_equal(atomic_load(&hts_secure.requests), 0);
	assert_int_equal(atomic_load(&hts_secure.auth_seen), 0);
	cx_http_client_free(c);
}

static void test_tls_ca_file_accepted(void **state)
{
	struct cx_http_client *c = hts_client(&hts_secure, 0, hts_cert_file, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	hts_assert_contains(cx_http_client_tls(c), "verified (ca_file '/tmp/cx-test-cert-");
	assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_tls_pin_accepted_and_warm(void **state)
{
	char plain_hex[65], want[160];
	struct cx_http_client *c = hts_client(&hts_secure, 0, NULL, hts_cert_fp, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	size_t n = 0;

	snprintf(want, sizeof(want), "pinned (SHA-256 %s)", hts_cert_fp);
	assert_string_equal(cx_http_client_tls(c), want);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), 0);
		assert_int_equal(resp.status, 200);
		cx_http_resp_release(&resp);
	}
	/* A warm client: one connection, one handshake. */
	assert_int_equal(atomic_load(&hts_secure.started), 1);
	cx_http_client_free(c);

	/* The same pin as plain lowercase hex. */
	for (const char *p = hts_cert_fp; *p; p++)
		if (*p != ':')
			plain_hex[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	plain_hex[n] = '\0';
	c = hts_client(&hts_secure, 0, NULL, plain_hex, false);
	assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static const char wrong_fp[] = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
			       "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

static void test_tls_pin_mismatch_sends_nothing(void **state)
{
	struct cx_http_client *c = hts_client(&hts_secure, 2, NULL, wrong_fp, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), -1);
	hts_assert_contains(err.msg, "testsvc: TLS: certificate fingerprint mismatch");
	hts_assert_contains(err.msg, wrong_fp);
	hts_assert_contains(err.msg, hts_cert_fp);
	assert_true(strlen(err.msg) < 400);
	/* The handshake failed before any request byte: no credential reached the server. */
	assert_int_equal(atomic_load(&hts_secure.requests), 0);
	assert_int_equal(atomic_load(&hts_secure.auth_seen), 0);
	cx_http_client_free(c);
}

static void test_tls_insecure_accepted_and_said(void **state)
{
	struct cx_http_client *c = hts_client(&hts_secure, 0, NULL, NULL, true);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	hts_assert_contains(cx_http_client_tls(c), "NOT VERIFIED");
	assert_int_equal(hts_get(c, NULL, "/json", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void assert_refused(const struct cx_http_client_opts *o, const char *want)
{
	struct cx_err err = { 0 };

	assert_null(cx_http_client_new(o, &err));
	hts_assert_contains(err.msg, want);
}

static void test_client_new_refuses_bad_settings(void **state)
{
	struct cx_http_client_opts o = { .service = "testsvc", .base_url = "https://pve:8006" };

	o.fingerprint = "AB:CD";
	assert_refused(&o, "fingerprint 'AB:CD' is not a SHA-256 fingerprint");
	o.fingerprint = "zz:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
			"00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
	assert_refused(&o, "is not a SHA-256 fingerprint");
	o.fingerprint = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEF:";
	assert_refused(&o, "is not a SHA-256 fingerprint");
	o.fingerprint = wrong_fp;
	o.insecure_skip_verify = true;
	assert_refused(&o, "at most one of ca_file, fingerprint and insecure_skip_verify");
	o.fingerprint = NULL;
	o.insecure_skip_verify = false;
	o.ca_file = "/nonexistent/ca.pem";
	assert_refused(&o, "could not read ca_file '/nonexistent/ca.pem'");
	o.ca_file = NULL;
	o.base_url = "ftp://pve";
	assert_refused(&o, "must start with https:// or http://");
	o.base_url = "https://root:pw@pve:8006";
	assert_refused(&o, "neither credentials nor a query");
	o.base_url = "https://pve:8006";
	o.retries = -1;
	assert_refused(&o, "retries -1 is out of range");
}

/* ---- sentences and secrets ---- */

static void test_fail_sentences(void **state)
{
	struct cx_http_client *c = hts_client(&hts_plain, 0, NULL, NULL, false);
	struct cx_http_req req = { .method = "GET", .path = "/nodes/pve1/qemu?full=1&t=SECRET123" };
	struct cx_http_resp resp = { .retry_after_s = -1 };
	struct cx_err err = { 0 };

	resp.status = 401;
	assert_int_equal(cx_http_fail(c, &req, &resp, "authentication failure", NULL, &err), -1);
	assert_string_equal(err.msg, "testsvc answered 401 Unauthorized to GET /nodes/pve1/qemu: "
				     "authentication failure; check the credentials (token) in "
				     "the configuration");
	resp.status = 403;
	cx_http_fail(c, &req, &resp, "Permission check failed (/vms/100, VM.Audit)", NULL, &err);
	assert_string_equal(err.msg,
			    "testsvc answered 403 Forbidden to GET /nodes/pve1/qemu: "
			    "Permission check failed (/vms/100, VM.Audit); the credentials "
			    "lack a permission for this; grant it, or use another tool");
	resp.status = 404;
	cx_http_fail(c, &req, &resp, NULL, NULL, &err);
	assert_string_equal(err.msg, "testsvc answered 404 Not Found to GET /nodes/pve1/qemu; not "
				     "found; check the id or name");
	resp.status = 429;
	resp.retry_after_s = 12;
	cx_http_fail(c, &req, &resp, "", NULL, &err);
	assert_string_equal(err.msg, "testsvc answered 429 Too Many Requests to GET "
				     "/nodes/pve1/qemu; rate-limited by testsvc; retry after 12 s");
	resp.retry_after_s = -1;
	cx_http_fail(c, &req, &resp, NULL, NULL, &err);
	hts_assert_contains(err.msg, "rate-limited by testsvc; retry in a moment");
	resp.status = 503;
	cx_http_fail(c, &req, &resp, "busy", NULL, &err);
	assert_string_equal(err.msg, "testsvc answered 503 Service Unavailable to GET "
				     "/nodes/pve1/qemu: busy; the backend failed; retry later");
	resp.status = 596;
	cx_http_fail(c, &req, &resp, NULL, "check the node's pveproxy", &err);
	assert_string_equal(err.msg, "testsvc answered 596 to GET /nodes/pve1/qemu; check the "
				     "node's pveproxy");
	cx_http_client_free(c);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void no_secret(const char *text)
{
	if (strstr(text, "SECRET123"))
		fail_msg("a credential leaked: '%s'", text);
}

static void test_secrets_never_in_errors_or_log(void **state)
{
	char path[] = "/tmp/cx-test-stderr-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	struct cx_http_client *c;
	struct cx_http_req req = { .method = "GET", .path = "/unauthorized?t=SECRET123" };
	static const char *const headers[] = { SECRET_HEADER, NULL };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	enum cx_log_level level = cx_log_get_level();
	struct test_call tc;
	char *logged;

	req.headers = headers;
	assert_true(fd >= 0);
	dup2(fd, 2);
	cx_log_set_level(CX_LOG_DEBUG);

	c = hts_client(&hts_plain, 2, NULL, NULL, false);
	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 401);
	cx_http_fail(c, &req, &resp, "authentication failure", NULL, &err);
	no_secret(err.msg);
	cx_http_resp_release(&resp);
	/* Retries are logged at debug level. */
	assert_int_equal(hts_get(c, NULL, "/flaky?t=SECRET123", &resp, &err), 0);
	assert_int_equal(resp.attempts, 3);
	cx_http_resp_release(&resp);
	hts_call_init(&tc, 200);
	assert_int_equal(hts_get(c, &tc.call, "/slow?t=SECRET123", &resp, &err), -1);
	no_secret(err.msg);
	cx_http_client_free(c);

	c = hts_client(&hts_secure, 0, NULL, wrong_fp, false);
	assert_int_equal(hts_get(c, NULL, "/json?t=SECRET123", &resp, &err), -1);
	no_secret(err.msg);
	cx_http_client_free(c);

	cx_log_set_level(level);
	dup2(saved, 2);
	close(saved);
	close(fd);
	logged = read_all(path);
	unlink(path);
	hts_assert_contains(logged, "attempt 2 of 3"); /* the log was captured */
	no_secret(logged);
	free(logged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_tls_self_signed_refused_by_default, hts_reset_both),
		cmocka_unit_test_setup(test_tls_ca_file_accepted, hts_reset_both),
		cmocka_unit_test_setup(test_tls_pin_accepted_and_warm, hts_reset_both),
		cmocka_unit_test_setup(test_tls_pin_mismatch_sends_nothing, hts_reset_both),
		cmocka_unit_test_setup(test_tls_insecure_accepted_and_said, hts_reset_both),
		cmocka_unit_test(test_client_new_refuses_bad_settings),
		cmocka_unit_test(test_fail_sentences),
		cmocka_unit_test_setup(test_secrets_never_in_errors_or_log, hts_reset_both),
	};

	signal(SIGPIPE, SIG_IGN);
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, hts_servers_up, hts_servers_down);
}
