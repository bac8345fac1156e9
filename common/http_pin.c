#include "http_pin.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int cx_http_pin_parse(const char *s, unsigned char pin[32])
{
	size_t len = strlen(s), i = 0;
	bool colons = len == 95;

	if (len != 64 && !colons)
		return -1;
	for (int n = 0; n < 32; n++) {
		int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		pin[n] = (unsigned char)(hi << 4 | lo);
		i += 2;
		if (colons && n < 31 && s[i++] != ':')
			return -1;
	}
	return 0;
}

void cx_http_pin_text(const unsigned char pin[32], char out[CX_HTTP_PIN_TEXT])
{
	static const char hex[] = "0123456789ABCDEF";

	for (int i = 0; i < 32; i++) {
		out[i * 3] = hex[pin[i] >> 4];
		out[i * 3 + 1] = hex[pin[i] & 15];
		out[i * 3 + 2] = i < 31 ? ':' : '\0';
	}
}

/* Replaces OpenSSL's chain verification (SSL_CTX_set_cert_verify_callback). */
static int pin_verify(X509_STORE_CTX *store, void *arg)
{
	struct cx_http_pin_check *check = arg;
	X509 *cert = X509_STORE_CTX_get0_cert(store);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!cert || !X509_digest(cert, EVP_sha256(), md, &n) || n != 32) {
		X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	if (!CRYPTO_memcmp(md, check->pin, 32)) {
		X509_STORE_CTX_set_error(store, X509_V_OK);
		return 1;
	}
	check->mismatch = true;
	cx_http_pin_text(md, check->presented);
	X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
	return 0;
}

CURLcode cx_http_pin_ssl_ctx(CURL *easy, void *ssl_ctx, void *check)
{
	(void)easy;
	/* libcurl set SSL_VERIFY_NONE (VERIFYPEER is off); with PEER a failed check ends the
	 * handshake with an alert. */
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ssl_ctx, pin_verify, check);
	/* check lives as long as the transfer that opens the connection, not the connection. */
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION);
	return CURLE_OK;
}
