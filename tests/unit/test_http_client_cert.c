/* The HTTP client's TLS client certificates and CA data (kubeconfig's client-certificate,
 * client-key, certificate-authority-data), against a small OpenSSL server on 127.0.0.1 that
 * demands a client certificate and answers with the subject it saw: the certificate as files
 * or as PEM data is presented, none is refused by the server (nothing is answered), settings
 * that cannot work are refused up front, and the key never reaches an error text. */
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
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../../common/http_client.h"
#include "../../common/util.h"

struct pem {
	char *key, *cert;
	char key_file[64], cert_file[64];
	EVP_PKEY *pkey;
	X509 *x509;
};

static struct pem server, client, stranger;
static int lfd, port;
static pthread_t thread;
static atomic_int served, refused;
static atomic_bool stopping;

static char *bio_text(BIO *b)
{
	char *data, *out;
	long n = BIO_get_mem_data(b, &data);

	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	return out;
}

static void write_tmp(char *path, const char *tmpl, const char *text)
{
	int fd;

	snprintf(path, 64, "%s", tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A self-signed certificate: a server one for 127.0.0.1, or a client one for cn. */
static void make_cert(struct pem *p, const char *cn, bool is_server)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	X509_NAME *name;

	p->pkey = EVP_EC_gen("P-256");
	p->x509 = X509_new();
	name = X509_get_subject_name(p->x509);
	X509_set_version(p->x509, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(p->x509), is_server ? 1 : 2);
	X509_gmtime_adj(X509_getm_notBefore(p->x509), -3600);
	X509_gmtime_adj(X509_getm_notAfter(p->x509), 3600);
	X509_set_pubkey(p->x509, p->pkey);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(p->x509, name);
	X509V3_set_ctx(&ctx, p->x509, p->x509, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, is_server ? NID_subject_alt_name : NID_ext_key_usage,
				  is_server ? "IP:127.0.0.1" : "clientAuth");
	X509_add_ext(p->x509, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(p->x509, p->pkey, EVP_sha256()) > 0);
	PEM_write_bio_PrivateKey(kb, p->pkey, NULL, NULL, 0, NULL, NULL);
	PEM_write_bio_X509(cb, p->x509);
	p->key = bio_text(kb);
	p->cert = bio_text(cb);
	BIO_free(kb);
	BIO_free(cb);
	write_tmp(p->key_file, "/tmp/cx-test-key-XXXXXX", p->key);
	write_tmp(p->cert_file, "/tmp/cx-test-crt-XXXXXX", p->cert);
}

static void serve_one(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	char buf[4096], body[300], cn[128] = "", out[600];
	X509 *peer;
	int n, got = 0;

	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1 || !(peer = SSL_get1_peer_certificate(ssl))) {
		atomic_fetch_add(&refused, 1);
		goto out;
	}
	X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
	X509_free(peer);
	while (got < (int)sizeof(buf) - 1 &&
	       (n = SSL_read(ssl, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	atomic_fetch_add(&served, 1);
	snprintf(body, sizeof(body), "{\"cn\":\"%s\"}", cn);
	snprintf(out, sizeof(out),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s",
		 strlen(body), body);
	SSL_write(ssl, out, (int)strlen(out));
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
}

/* Trusts only the client certificate; demands one. */
static void *server_main(void *arg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	SSL_CTX_use_certificate(ctx, server.x509);
	SSL_CTX_use_PrivateKey(ctx, server.pkey);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), client.x509);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	while (!atomic_load(&stopping)) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			break;
		serve_one(ctx, fd);
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static int up(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	make_cert(&server, "127.0.0.1", true);
	make_cert(&client, "cortex-client", false);
	make_cert(&stranger, "stranger", false);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		return -1;
	port = ntohs(sa.sin_port);
	return pthread_create(&thread, NULL, server_main, NULL);
}

static void pem_free(struct pem *p)
{
	unlink(p->key_file);
	unlink(p->cert_file);
	free(p->key);
	free(p->cert);
	EVP_PKEY_free(p->pkey);
	X509_free(p->x509);
}

static int down(void **state)
{
	atomic_store(&stopping, true);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(thread, NULL);
	pem_free(&server);
	pem_free(&client);
	pem_free(&stranger);
	return 0;
}

static struct cx_http_client *client_with(struct cx_http_client_opts *o, struct cx_err *err)
{
	static char url[64];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	o->service = "kubernetes";
	o->base_url = url;
	return cx_http_client_new(o, err);
}

static int get(struct cx_http_client *c, struct cx_http_resp *resp, struct cx_err *err)
{
	struct cx_http_req req = { .method = "GET", .path = "/version" };

	return cx_http_do(c, NULL, 5000, &req, resp, err);
}

static void test_client_cert_as_data(void **state)
{
	struct cx_http_client_opts o = { .ca_pem = server.cert,
					 .client_cert_pem = client.cert,
					 .client_key_pem = client.key };
	struct cx_err err = { 0 };
	struct cx_http_client *c = client_with(&o, &err);
	struct cx_http_resp resp;

	assert_non_null(c);
	assert_string_equal(cx_http_client_tls(c), "verified (CA data)");
	assert_int_equal(get(c, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "{\"cn\":\"cortex-client\"}");
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

static void test_client_cert_as_files(void **state)
{
	struct cx_http_client_opts o = { .ca_file = server.cert_file,
					 .client_cert_file = client.cert_file,
					 .client_key_file = client.key_file };
	struct cx_err err = { 0 };
	struct cx_http_client *c = client_with(&o, &err);
	struct cx_http_resp resp;

	assert_non_null(c);
	assert_int_equal(get(c, &resp, &err), 0);
	assert_string_equal(resp.body, "{\"cn\":\"cortex-client\"}");
	cx_http_resp_release(&resp);
	cx_http_client_free(c);
}

/* Without a certificate, or with one the server does not trust, no request is answered; the
 * sentence names TLS and holds no key material. */
static void test_no_or_wrong_cert_refused(void **state)
{
	struct cx_http_client_opts none = { .ca_pem = server.cert };
	struct cx_http_client_opts wrong = { .ca_pem = server.cert,
					     .client_cert_pem = stranger.cert,
					     .client_key_pem = stranger.key };
	struct cx_http_client_opts *cases[] = { &none, &wrong };
	int before = atomic_load(&served);

	for (size_t i = 0; i < 2; i++) {
		struct cx_err err = { 0 };
		struct cx_http_client *c = client_with(cases[i], &err);
		struct cx_http_resp resp;

		assert_non_null(c);
		assert_int_equal(get(c, &resp, &err), -1);
		assert_non_null(strstr(err.msg, "kubernetes"));
		assert_null(strstr(err.msg, "PRIVATE KEY"));
		assert_null(strstr(err.msg, stranger.key + 40));
		cx_http_client_free(c);
	}
	/* The server thread counts a refusal after its alert is on the wire, so the client can
	 * be told before the count moves: give it a moment. */
	for (int i = 0; i < 200 && atomic_load(&refused) < 2; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&served), before);
	assert_true(atomic_load(&refused) >= 2);
}

/* The server is verified with the CA data: without it the self-signed server is refused. */
static void test_server_verified_with_ca_data(void **state)
{
	struct cx_http_client_opts o = { .client_cert_pem = client.cert,
					 .client_key_pem = client.key };
	struct cx_err err = { 0 };
	struct cx_http_client *c = client_with(&o, &err);
	struct cx_http_resp resp;

	assert_int_equal(get(c, &resp, &err), -1);
	assert_non_null(strstr(err.msg, "kubernetes: TLS: "));
	cx_http_client_free(c);
}

static void test_settings_refused(void **state)
{
	struct cx_http_client_opts cert_only = { .client_cert_pem = client.cert };
	struct cx_http_client_opts key_only = { .client_key_file = client.key_file };
	struct cx_http_client_opts both = { .client_cert_pem = client.cert,
					    .client_cert_file = client.cert_file,
					    .client_key_pem = client.key };
	struct cx_http_client_opts two_cas = { .ca_pem = server.cert, .ca_file = server.cert_file };
	struct cx_http_client_opts missing = { .client_cert_file = "/nonexistent/crt",
					       .client_key_file = client.key_file };
	struct cx_http_client_opts plain = { .service = "kubernetes",
					     .base_url = "http://127.0.0.1:1",
					     .client_cert_pem = client.cert,
					     .client_key_pem = client.key };
	struct {
		struct cx_http_client_opts *o;
		const char *want;
	} cases[] = {
		{ &cert_only, "needs its key" },
		{ &key_only, "needs its key" },
		{ &both, "not both" },
		{ &two_cas, "at most one" },
		{ &missing, "/nonexistent/crt" },
	};
	struct cx_err err = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_null(client_with(cases[i].o, &err));
		assert_non_null(strstr(err.msg, cases[i].want));
		assert_null(strstr(err.msg, "PRIVATE KEY"));
	}
	assert_null(cx_http_client_new(&plain, &err));
	assert_non_null(strstr(err.msg, "plain http://"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_cert_as_data),
		cmocka_unit_test(test_client_cert_as_files),
		cmocka_unit_test(test_no_or_wrong_cert_refused),
		cmocka_unit_test(test_server_verified_with_ca_data),
		cmocka_unit_test(test_settings_refused),
	};

	signal(SIGPIPE, SIG_IGN);
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, up, down);
}
