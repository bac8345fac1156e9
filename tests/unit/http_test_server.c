#include "http_test_server.h"

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

/* ---- the scripted server ---- */

struct srv hts_plain, hts_secure;
char *hts_key_pem, *hts_cert_pem, hts_cert_file[64];
char hts_cert_fp[CX_HTTP_PIN_TEXT];

void hts_sleep_ms(long ms)
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
	hts_sleep_ms(20);
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
					s, MHD_OPTION_HTTPS_MEM_KEY, hts_key_pem,
					MHD_OPTION_HTTPS_MEM_CERT, hts_cert_pem, MHD_OPTION_END);
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

/* A self-signed certificate for 127.0.0.1, its PEM in memory and in hts_cert_file, and its
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
	cx_http_pin_text(md, hts_cert_fp);
	PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL);
	PEM_write_bio_X509(cb, x);
	len = BIO_get_mem_data(kb, &p);
	hts_key_pem = strndup(p, (size_t)len);
	len = BIO_get_mem_data(cb, &p);
	hts_cert_pem = strndup(p, (size_t)len);
	snprintf(hts_cert_file, sizeof(hts_cert_file), "/tmp/cx-test-cert-XXXXXX");
	fd = mkstemp(hts_cert_file);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(hts_cert_pem, f);
	fclose(f);
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pk);
}

int hts_servers_up(void **state)
{
	make_cert();
	srv_start(&hts_plain, false);
	srv_start(&hts_secure, true);
	return 0;
}

int hts_servers_down(void **state)
{
	MHD_stop_daemon(hts_plain.d);
	MHD_stop_daemon(hts_secure.d);
	unlink(hts_cert_file);
	free(hts_key_pem);
	free(hts_cert_pem);
	return 0;
}

int hts_reset_both(void **state)
{
	srv_reset(&hts_plain);
	srv_reset(&hts_secure);
	return 0;
}

/* ---- helpers ---- */

void hts_call_init(struct test_call *tc, long ms)
{
	memset(tc, 0, sizeof(*tc));
	atomic_init(&tc->cancelled, false);
	tc->call.tool = "test_tool";
	tc->call.caller = "test";
	tc->call.deadline_ms = cx_now_ms() + ms;
	tc->call.cancelled = &tc->cancelled;
}

static char base_url[64];

struct cx_http_client *hts_client(const struct srv *s, int retries, const char *ca_file,
				  const char *fingerprint, bool insecure)
{
	struct cx_http_client_opts o = { .service = "testsvc", .retries = retries };
	struct cx_err err = { 0 };
	struct cx_http_client *c;

	snprintf(base_url, sizeof(base_url), "%s://127.0.0.1:%d",
		 s == &hts_secure ? "https" : "http", s->port);
	o.base_url = base_url;
	o.ca_file = ca_file;
	o.fingerprint = fingerprint;
	o.insecure_skip_verify = insecure;
	c = cx_http_client_new(&o, &err);
	if (!c)
		fail_msg("cx_http_client_new: %s", err.msg);
	return c;
}

int hts_get(struct cx_http_client *c, const struct cx_call *call, const char *path,
	    struct cx_http_resp *resp, struct cx_err *err)
{
	static const char *const headers[] = { SECRET_HEADER, NULL };
	struct cx_http_req req = { .method = "GET", .path = path, .headers = headers };

	return cx_http_do(c, call, 5000, &req, resp, err);
}

void hts_assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("'%s' does not contain '%s'", haystack, needle);
}
