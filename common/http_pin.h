/* Certificate pins for the HTTP client (http_client.c): the SHA-256 of a server's leaf
 * certificate, in the form Proxmox shows it, checked inside OpenSSL's handshake so that a
 * mismatch ends it before any request byte is sent. */
#ifndef CX_HTTP_PIN_H
#define CX_HTTP_PIN_H

#include <stdbool.h>

#include <curl/curl.h>

#define CX_HTTP_PIN_TEXT 96 /* "AB:CD:...:EF" (32 pairs) and a NUL */

/* 64 hex digits, or 32 pairs joined by ':'; either case. 0, or -1 for anything else. */
int cx_http_pin_parse(const char *s, unsigned char pin[32]);
/* The pin as "AB:CD:...:EF". */
void cx_http_pin_text(const unsigned char pin[32], char out[CX_HTTP_PIN_TEXT]);

/* One transfer's check: the pin, and what the server presented when it failed the pin. Each
 * transfer has its own, so transfers driven together on one thread (the backend I/O loop)
 * never read each other's mismatch. */
struct cx_http_pin_check {
	const unsigned char *pin; /* 32 bytes, outliving the transfer */
	bool mismatch;
	char presented[CX_HTTP_PIN_TEXT];
};

/* CURLOPT_SSL_CTX_FUNCTION (libcurl on OpenSSL) with CURLOPT_SSL_CTX_DATA the transfer's
 * struct cx_http_pin_check, which must outlive the transfer: replaces the chain check with
 * "the leaf's SHA-256 is the pin". Use it with CURLOPT_SSL_VERIFYPEER and VERIFYHOST off: the
 * pin is the whole trust. The connection refuses renegotiation, so the check runs only in the
 * handshake of the transfer that opened it. */
CURLcode cx_http_pin_ssl_ctx(CURL *easy, void *ssl_ctx, void *check);

#endif
