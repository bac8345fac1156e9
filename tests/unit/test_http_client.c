/* The adapters' HTTP client against real servers on 127.0.0.1 (libmicrohttpd, plain and with
 * a certificate made here): what an adapter and the model rely on — answers and JSON, reused
 * connections, retries only where safe and never past the deadline, Retry-After, a deadline
 * and a cancellation that end the transfer at once, the response cap, the certificate checks
 * (CAs, ca_file, pins, insecure_skip_verify), sentences a model can act on, and credentials
 * that never reach an error text or the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../../common/http_client.h"
#include "../../common/http_pin.h"
#include "../../common/log.h"
#include "../../common/util.h"

#define SECRET_HEADER "Authorization: PVEAPIToken=x!y=SECRET123"

/* ---- the scripted server ---- */

struct srv {
	struct MHD_Daemon *d;
	int port;
	atomic_int started;  /* connections accepted */
	atomic_int aborted;  /* requests whose client left before the answer ended */
	atomic_int requests; /* requests that reached the handler */
	atomic_int auth_seen;
	atomic_int hits; /* of /flaky and /limited, reset by each test */
	pthread_mutex_t lock;
	char headers[2048]; /* the last request's headers, "name: value\n" each */
};

static struct srv plain, secure;
static char *key_pem, *cert_pem, cert_file[64];
static char cert_fp[CX_HTTP_PIN_TEXT];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	struct srv *s = cls;
	size_t n = strlen(s->headers);

	(void)kind;
	snprintf(s->headers + n, sizeof(s->headers) - n, "%s: %s\n", k, v ? v : "");
	return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
			     const char *hname, const char *hval)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	if (hname)
		MHD_add_response_header(r, hname, hval);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A space every 20 ms for 5 s: headers at once, then a body that never seems to end; a write
 * to a closed connection fails within 20 ms, so the server notices a client that left. */
static ssize_t slow_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)max;
	sleep_ms(20);
	if (pos >= 250)
		return MHD_CONTENT_READER_END_OF_STREAM;
	buf[0] = ' ';
	return 1;
}

static ssize_t big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	uint64_t total = 10u << 20;
	size_t n;

	(void)cls;
	if (pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = total - pos < max ? (size_t)(total - pos) : max;
	memset(buf, 'a', n);
	return (ssize_t)n;
}

static enum MHD_Result reply_stream(struct MHD_Connection *conn, uint64_t size,
				    MHD_ContentReaderCallback reader)
{
	struct MHD_Response *r = MHD_create_response_from_callback(size, 65536, reader, NULL, NULL);
	enum MHD_Result ret = MHD_queue_response(conn, 200, r);

	MHD_destroy_response(r);
	return ret;
}

/* 429 with Retry-After in seconds (?s=N) or as an HTTP date N s ahead (?date=N) once, then
 * 200. */
static enum MHD_Result limited(struct srv *s, struct MHD_Connection *conn)
{
	const char *secs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "s");
	const char *date = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "date");
	char value[64];

	if (atomic_fetch_add(&s->hits, 1) > 0)
		return reply(conn, 200, "{\"ok\":true}", NULL, NULL);
	if (date) {
		time_t when = time(NULL) + strtol(date, NULL, 10);
		struct tm tm;

		gmtime_r(&when, &tm);
		strftime(value, sizeof(value), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	} else {
		snprintf(value, sizeof(value), "%s", secs ? secs : "1");
	}
	return reply(conn, 429, "{\"message\":\"slow down\"}", "Retry-After", value);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **ctx)
{
	static int marker;
	struct srv *s = cls;

	if (!*ctx) {
		*ctx = &marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	atomic_fetch_add(&s->requests, 1);
	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"))
		atomic_fetch_add(&s->auth_seen, 1);
	pthread_mutex_lock(&s->lock);
	s->headers[0] = '\0';
	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, s);
	pthread_mutex_unlock(&s->lock);
	if (!strcmp(url, "/json"))
		return reply(conn, 200, "{\"data\":{\"ok\":true,\"n\":1}}", NULL, NULL);
	if (!strcmp(url, "/flaky"))
		return atomic_fetch_add(&s->hits, 1) < 2
			       ? reply(conn, 503, "{\"message\":\"busy\"}", NULL, NULL)
			       : reply(conn, 200, "{\"ok\":true}", NULL, NULL);
	if (!strcmp(url, "/limited"))
		return limited(s, conn);
	if (!strcmp(url, "/slow"))
		return reply_stream(conn, MHD_SIZE_UNKNOWN, slow_reader);
	if (!strcmp(url, "/big"))
		return reply_stream(conn, 10u << 20, big_reader);
	if (!strcmp(url, "/bigchunked"))
		return reply_stream(conn, MHD_SIZE_UNKNOWN, big_reader);
	if (!strcmp(url, "/badjson"))
		return reply(conn, 200, "{not json", NULL, NULL);
	if (!strcmp(url, "/unauthorized"))
		return reply(conn, 401, "{\"message\":\"authentication failure\"}", NULL, NULL);
	return reply(conn, 404, "{\"message\":\"no such route\"}", NULL, NULL);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct srv *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&s->started, 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
			 enum MHD_RequestTerminationCode toe)
{
	struct srv *s = cls;

	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		atomic_fetch_add(&s->aborted, 1);
}

static void srv_start(struct srv *s, bool tls)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&s->lock, NULL);
	if (tls)
		s->d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handle, s,
					MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_CONNECTION,
					on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
					s, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
					MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
					MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_END);
	assert_non_null(s->d);
	s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void srv_reset(struct srv *s)
{
	atomic_store(&s->started, 0);
	atomic_store(&s->aborted, 0);
	atomic_store(&s->requests, 0);
	atomic_store(&s->auth_seen, 0);
	atomic_store(&s->hits, 0);
}

/* A self-signed certificate for 127.0.0.1, its PEM in memory and in cert_file, and its
 * SHA-256 as Proxmox shows it. */
static void make_cert(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	unsigned char md[32];
	unsigned n = 0;
	char *p;
	long len;
	FILE *f;
	int fd;

	assert_non_null(pk);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	assert_true(X509_digest(x, EVP_sha256(), md, &n) && n == 32);
	cx_http_pin_text(md, cert_fp);
	PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL);
	PEM_write_bio_X509(cb, x);
	len = BIO_get_mem_data(kb, &p);
	key_pem = strndup(p, (size_t)len);
	len = BIO_get_mem_data(cb, &p);
	cert_pem = strndup(p, (size_t)len);
	snprintf(cert_file, sizeof(cert_file), "/tmp/cx-test-cert-XXXXXX");
	fd = mkstemp(cert_file);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(cert_pem, f);
	fclose(f);
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static int servers_up(void **state)
{
	make_cert();
	srv_start(&plain, false);
	srv_start(&secure, true);
	return 0;
}

static int servers_down(void **state)
{
	MHD_stop_daemon(plain.d);
	MHD_stop_daemon(secure.d);
	unlink(cert_file);
	free(key_pem);
	free(cert_pem);
	return 0;
}

static int reset_both(void **state)
{
	srv_reset(&plain);
	srv_reset(&secure);
	return 0;
}

/* ---- helpers ---- */

struct test_call {
	struct cx_call call;
	atomic_bool cancelled;
};

static void call_init(struct test_call *tc, long ms)
{
	memset(tc, 0, sizeof(*tc));
	atomic_init(&tc->cancelled, false);
	tc->call.tool = "test_tool";
	tc->call.caller = "test";
	tc->call.deadline_ms = cx_now_ms() + ms;
	tc->call.cancelled = &tc->cancelled;
}

static char base_url[64];

static struct cx_http_client *client(const struct srv *s, int retries, const char *ca_file,
				     const char *fingerprint, bool insecure)
{
	struct cx_http_client_opts o = { .service = "testsvc", .retries = retries };
	struct cx_err err = { 0 };
	struct cx_http_client *c;

	snprintf(base_url, sizeof(base_url), "%s://127.0.0.1:%d", s == &secure ? "https" : "http",
		 s->port);
	o.base_url = base_url;
	o.ca_file = ca_file;
	o.fingerprint = fingerprint;
	o.insecure_skip_verify = insecure;
	c = cx_http_client_new(&o, &err);
	if (!c)
		fail_msg("cx_http_client_new: %s", err.msg);
	return c;
}

static int get(struct cx_http_client *c, const struct cx_call *call, const char *path,
	       struct cx_http_resp *resp, struct cx_err *err)
{
	static const char *const headers[] = { SECRET_HEADER, NULL };
	struct cx_http_req req = { .method = "GET", .path = path, .headers = headers };

	return cx_http_do(c, call, 5000, &req, resp, err);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("'%s' does not contain '%s'", haystack, needle);
}

/* ---- answers ---- */

static void test_get_json(void **state)
{
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(get(c, NULL, "/json?full=1", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_s, -1);
	assert_string_equal(resp.body, "{\"data\":{\"ok\":true,\"n\":1}}");
	assert_int_equal(resp.body_len, strlen(resp.body));
	assert_non_null(resp.json);
	assert_true(json_is_true(json_object_get(json_object_get(resp.json, "data"), "ok")));
	/* The headers the caller gave reached the server, with our user agent. */
	assert_contains(plain.headers, "PVEAPIToken=x!y=SECRET123");
	assert_contains(plain.headers, "cortex-gateway/");
	cx_http_resp_release(&resp);
	assert_null(resp.body);
	cx_http_client_free(c);
}

static void test_post_body_and_content_type(void **state)
{
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
	struct cx_http_req req = { .method = "POST",
				   .path = "/json",
				   .body = "{\"a\":1}",
				   .body_len = 7 };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_contains(plain.headers, "Content-Type: application/json");
	assert_contains(plain.headers, "Content-Length: 7");
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_invalid_json_leaves_json_null(void **state)
{
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(get(c, NULL, "/badjson", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "{not json");
	assert_null(resp.json);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_keepalive_reuses_one_connection(void **state)
{
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	for (int i = 0; i < 5; i++) {
		assert_int_equal(get(c, NULL, "/json", &resp, &err), 0);
		assert_int_equal(resp.status, 200);
		cx_http_resp_release(&resp);
	}
	assert_int_equal(atomic_load(&plain.requests), 5);
	assert_int_equal(atomic_load(&plain.started), 1);
	cx_http_client_free(c);
}

/* Workers share one client: each call takes a pooled handle, so calls from many threads at
 * once all succeed, and connections are still reused (at most one per pooled handle). Under
 * load, sharing libcurl's connection cache across handles used by different threads corrupted
 * the heap (found by the backend benchmark); this drives the same pattern. */
#define SHARED_THREADS 8
#define SHARED_CALLS   250

struct shared_run {
	struct cx_http_client *c;
	int ok;
};

static void *shared_worker(void *arg)
{
	struct shared_run *r = arg;

	for (int i = 0; i < SHARED_CALLS; i++) {
		struct cx_http_resp resp;
		struct cx_err err = { 0 };

		if (!get(r->c, NULL, "/json", &resp, &err)) {
			r->ok += resp.status == 200 && resp.json != NULL;
			cx_http_resp_release(&resp);
		}
	}
	return NULL;
}

static void test_threads_share_one_client(void **state)
{
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
	struct shared_run runs[SHARED_THREADS];
	pthread_t t[SHARED_THREADS];

	for (int i = 0; i < SHARED_THREADS; i++) {
		runs[i] = (struct shared_run){ .c = c };
		assert_int_equal(pthread_create(&t[i], NULL, shared_worker, &runs[i]), 0);
	}
	for (int i = 0; i < SHARED_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(runs[i].ok, SHARED_CALLS);
	}
	assert_int_equal(atomic_load(&plain.requests), SHARED_THREADS * SHARED_CALLS);
	assert_true(atomic_load(&plain.started) <= SHARED_THREADS + 2);
	cx_http_client_free(c);
}

/* ---- retries ---- */

static void test_get_retried_on_503(void **state)
{
	struct cx_http_client *c = client(&plain, 3, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(get(c, NULL, "/flaky", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 3);
	assert_int_equal(atomic_load(&plain.hits), 3);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retries_are_bounded(void **state)
{
	struct cx_http_client *c = client(&plain, 1, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	/* One retry allowed: the second 503 is the answer. */
	assert_int_equal(get(c, NULL, "/flaky", &resp, &err), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.attempts, 2);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_post_not_retried_unless_idempotent(void **state)
{
	struct cx_http_client *c = client(&plain, 3, NULL, NULL, false);
	struct cx_http_req req = { .method = "POST",
				   .path = "/flaky",
				   .body = "{}",
				   .body_len = 2 };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(atomic_load(&plain.hits), 1);
	cx_http_resp_release(&resp);

	atomic_store(&plain.hits, 0);
	req.idempotent = true;
	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 3);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retry_after_seconds_honoured(void **state)
{
	struct cx_http_client *c = client(&plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0;

	call_init(&tc, 5000);
	t0 = cx_now_ms();
	assert_int_equal(get(c, &tc.call, "/limited?s=1", &resp, &err), 0);
	assert_true(cx_now_ms() - t0 >= 1000);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 2);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retry_after_date_honoured(void **state)
{
	struct cx_http_client *c = client(&plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0;

	call_init(&tc, 6000);
	t0 = cx_now_ms();
	assert_int_equal(get(c, &tc.call, "/limited?date=2", &resp, &err), 0);
	/* An HTTP date has whole seconds: 2 s ahead is at least 1 s away. */
	assert_true(cx_now_ms() - t0 >= 1000);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.attempts, 2);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_retry_after_past_deadline_not_waited(void **state)
{
	struct cx_http_client *c = client(&plain, 2, NULL, NULL, false);
	struct cx_http_req req = { .method = "GET", .path = "/limited?s=30" };
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0;

	call_init(&tc, 2000);
	t0 = cx_now_ms();
	assert_int_equal(cx_http_do(c, &tc.call, 0, &req, &resp, &err), 0);
	assert_true(cx_now_ms() - t0 < 500);
	assert_int_equal(resp.status, 429);
	assert_int_equal(resp.attempts, 1);
	assert_int_equal(resp.retry_after_s, 30);
	cx_http_fail(c, &req, &resp, NULL, NULL, &err);
	assert_string_equal(err.msg, "testsvc answered 429 Too Many Requests to GET /limited; "
				     "rate-limited by testsvc; retry after 30 s");
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_connection_refused_said(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct cx_http_client_opts o = { .service = "testsvc", .retries = 2 };
	struct cx_http_client *c;
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	char url[64], want[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port nobody listens on: bound once, then released. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api", ntohs(sa.sin_port));
	o.base_url = url;
	c = cx_http_client_new(&o, &err);
	assert_non_null(c);
	assert_int_equal(get(c, NULL, "/json?ticket=SECRET123", &resp, &err), -1);
	snprintf(want, sizeof(want),
		 "could not connect to testsvc at 127.0.0.1:%d: connection refused",
		 ntohs(sa.sin_port));
	assert_contains(err.msg, want);
	assert_null(strstr(err.msg, "SECRET123"));
	assert_null(resp.body);
	cx_http_client_free(c);
}

/* ---- deadline, cancellation, cap ---- */

static void test_deadline_bounds_a_slow_answer(void **state)
{
	struct cx_http_client *c = client(&plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	int64_t t0, took;

	call_init(&tc, 300);
	t0 = cx_now_ms();
	assert_int_equal(get(c, &tc.call, "/slow", &resp, &err), -1);
	took = cx_now_ms() - t0;
	assert_true(took >= 250);
	assert_true(took < 500);
	assert_contains(err.msg, "testsvc at 127.0.0.1:");
	assert_contains(err.msg, "did not answer within");
	assert_contains(err.msg, "check gateway_status, then retry");
	cx_http_client_free(c);
}

struct canceller {
	atomic_bool *flag;
	int64_t at;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;

	sleep_ms(100);
	k->at = cx_now_ms();
	atomic_store(k->flag, true);
	return NULL;
}

static void test_cancel_ends_the_transfer_at_once(void **state)
{
	struct cx_http_client *c = client(&plain, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	struct test_call tc;
	struct canceller k;
	pthread_t t;
	int64_t done;

	call_init(&tc, 10000);
	k.flag = &tc.cancelled;
	pthread_create(&t, NULL, cancel_later, &k);
	assert_int_equal(get(c, &tc.call, "/slow", &resp, &err), -1);
	done = cx_now_ms();
	pthread_join(t, NULL);
	assert_true(done - k.at <= 100);
	assert_contains(err.msg, "the call was cancelled");
	/* The server sees the connection closed, not left to the 5 s answer. */
	for (int i = 0; i < 50 && atomic_load(&plain.aborted) < 1; i++)
		sleep_ms(10);
	assert_int_equal(atomic_load(&plain.aborted), 1);
	assert_int_equal(atomic_load(&plain.started), 1);
	cx_http_client_free(c);
}

static void test_cap_refuses_a_larger_answer(void **state)
{
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	/* Announced with Content-Length, and streamed without one. */
	assert_int_equal(get(c, NULL, "/big", &resp, &err), -1);
	assert_string_equal(err.msg, "testsvc answered more than 8388608 bytes to GET /big; "
				     "narrow the request");
	assert_int_equal(get(c, NULL, "/bigchunked?x=1", &resp, &err), -1);
	assert_string_equal(err.msg, "testsvc answered more than 8388608 bytes to GET "
				     "/bigchunked; narrow the request");
	/* The client stays usable. */
	assert_int_equal(get(c, NULL, "/json", &resp, &err), 0);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

/* ---- TLS ---- */

static void test_tls_self_signed_refused_by_default(void **state)
{
	struct cx_http_client *c = client(&secure, 2, NULL, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_string_equal(cx_http_client_tls(c), "verified (system CAs)");
	assert_int_equal(get(c, NULL, "/json", &resp, &err), -1);
	assert_contains(err.msg, "testsvc: TLS: ");
	assert_contains(err.msg, "ca_file or fingerprint");
	assert_int_equal(atomic_load(&secure.requests), 0);
	assert_int_equal(atomic_load(&secure.auth_seen), 0);
	cx_http_client_free(c);
}

static void test_tls_ca_file_accepted(void **state)
{
	struct cx_http_client *c = client(&secure, 0, cert_file, NULL, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_contains(cx_http_client_tls(c), "verified (ca_file '/tmp/cx-test-cert-");
	assert_int_equal(get(c, NULL, "/json", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_tls_pin_accepted_and_warm(void **state)
{
	char plain_hex[65], want[160];
	struct cx_http_client *c = client(&secure, 0, NULL, cert_fp, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };
	size_t n = 0;

	snprintf(want, sizeof(want), "pinned (SHA-256 %s)", cert_fp);
	assert_string_equal(cx_http_client_tls(c), want);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get(c, NULL, "/json", &resp, &err), 0);
		assert_int_equal(resp.status, 200);
		cx_http_resp_release(&resp);
	}
	/* A warm client: one connection, one handshake. */
	assert_int_equal(atomic_load(&secure.started), 1);
	cx_http_client_free(c);

	/* The same pin as plain lowercase hex. */
	for (const char *p = cert_fp; *p; p++)
		if (*p != ':')
			plain_hex[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	plain_hex[n] = '\0';
	c = client(&secure, 0, NULL, plain_hex, false);
	assert_int_equal(get(c, NULL, "/json", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static const char wrong_fp[] = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
			       "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

static void test_tls_pin_mismatch_sends_nothing(void **state)
{
	struct cx_http_client *c = client(&secure, 2, NULL, wrong_fp, false);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_int_equal(get(c, NULL, "/json", &resp, &err), -1);
	assert_contains(err.msg, "testsvc: TLS: certificate fingerprint mismatch");
	assert_contains(err.msg, wrong_fp);
	assert_contains(err.msg, cert_fp);
	assert_true(strlen(err.msg) < 400);
	/* The handshake failed before any request byte: no credential reached the server. */
	assert_int_equal(atomic_load(&secure.requests), 0);
	assert_int_equal(atomic_load(&secure.auth_seen), 0);
	cx_http_client_free(c);
}

static void test_tls_insecure_accepted_and_said(void **state)
{
	struct cx_http_client *c = client(&secure, 0, NULL, NULL, true);
	struct cx_http_resp resp;
	struct cx_err err = { 0 };

	assert_contains(cx_http_client_tls(c), "NOT VERIFIED");
	assert_int_equal(get(c, NULL, "/json", &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void assert_refused(const struct cx_http_client_opts *o, const char *want)
{
	struct cx_err err = { 0 };

	assert_null(cx_http_client_new(o, &err));
	assert_contains(err.msg, want);
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
	struct cx_http_client *c = client(&plain, 0, NULL, NULL, false);
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
	assert_contains(err.msg, "rate-limited by testsvc; retry in a moment");
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

	c = client(&plain, 2, NULL, NULL, false);
	assert_int_equal(cx_http_do(c, NULL, 5000, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 401);
	cx_http_fail(c, &req, &resp, "authentication failure", NULL, &err);
	no_secret(err.msg);
	cx_http_resp_release(&resp);
	/* Retries are logged at debug level. */
	assert_int_equal(get(c, NULL, "/flaky?t=SECRET123", &resp, &err), 0);
	assert_int_equal(resp.attempts, 3);
	cx_http_resp_release(&resp);
	call_init(&tc, 200);
	assert_int_equal(get(c, &tc.call, "/slow?t=SECRET123", &resp, &err), -1);
	no_secret(err.msg);
	cx_http_client_free(c);

	c = client(&secure, 0, NULL, wrong_fp, false);
	assert_int_equal(get(c, NULL, "/json?t=SECRET123", &resp, &err), -1);
	no_secret(err.msg);
	cx_http_client_free(c);

	cx_log_set_level(level);
	dup2(saved, 2);
	close(saved);
	close(fd);
	logged = read_all(path);
	unlink(path);
	assert_contains(logged, "attempt 2 of 3"); /* the log was captured */
	no_secret(logged);
	free(logged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_json, reset_both),
		cmocka_unit_test_setup(test_threads_share_one_client, reset_both),
		cmocka_unit_test_setup(test_post_body_and_content_type, reset_both),
		cmocka_unit_test_setup(test_invalid_json_leaves_json_null, reset_both),
		cmocka_unit_test_setup(test_keepalive_reuses_one_connection, reset_both),
		cmocka_unit_test_setup(test_get_retried_on_503, reset_both),
		cmocka_unit_test_setup(test_retries_are_bounded, reset_both),
		cmocka_unit_test_setup(test_post_not_retried_unless_idempotent, reset_both),
		cmocka_unit_test_setup(test_retry_after_seconds_honoured, reset_both),
		cmocka_unit_test_setup(test_retry_after_date_honoured, reset_both),
		cmocka_unit_test_setup(test_retry_after_past_deadline_not_waited, reset_both),
		cmocka_unit_test_setup(test_connection_refused_said, reset_both),
		cmocka_unit_test_setup(test_deadline_bounds_a_slow_answer, reset_both),
		cmocka_unit_test_setup(test_cancel_ends_the_transfer_at_once, reset_both),
		cmocka_unit_test_setup(test_cap_refuses_a_larger_answer, reset_both),
		cmocka_unit_test_setup(test_tls_self_signed_refused_by_default, reset_both),
		cmocka_unit_test_setup(test_tls_ca_file_accepted, reset_both),
		cmocka_unit_test_setup(test_tls_pin_accepted_and_warm, reset_both),
		cmocka_unit_test_setup(test_tls_pin_mismatch_sends_nothing, reset_both),
		cmocka_unit_test_setup(test_tls_insecure_accepted_and_said, reset_both),
		cmocka_unit_test(test_client_new_refuses_bad_settings),
		cmocka_unit_test(test_fail_sentences),
		cmocka_unit_test_setup(test_secrets_never_in_errors_or_log, reset_both),
	};

	signal(SIGPIPE, SIG_IGN);
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, servers_up, servers_down);
}
