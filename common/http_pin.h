/* Certificate pins for the HTTP client (http_client.c): the SHA-256 of a server's leaf
 * certificate, in the form Proxmox shows it, checked inside OpenSSL's handshake so that a
 * mismatch ends it before any request byte is sent. */
#ifndef CX_HTTP_PIN_H
#define CX_HTTP_PIN_H

#include <curl/curl.h>

#define CX_HTTP_PIN_TEXT 96 /* "AB:CD:...:EF" (32 pairs) and a NUL */

/* 64 hex digits, or 32 pairs joined by ':'; either case. 0, or -1 for anything else. */
int cx_http_pin_parse(const char *s, unsigned char pin[32]);
/* The pin as "AB:CD:...:EF". */
void cx_http_pin_text(const unsigned char pin[32], char out[CX_HTTP_PIN_TEXT]);

/* CURLOPT_SSL_CTX_FUNCTION (libcurl on OpenSSL) with CURLOPT_SSL_CTX_DATA the 32-byte pin,
 * which must outlive the transfer: replaces the chain check with "the leaf's SHA-256 is the
 * pin". Use it with CURLOPT_SSL_VERIFYPEER and VERIFYHOST off: the pin is the whole trust. */
CURLcode cx_http_pin_ssl_ctx(CURL *easy, void *ssl_ctx, void *pin);
/* Forgets the last mismatch seen on this thread; call before each transfer. */
void cx_http_pin_reset(void);
/* The fingerprint the server presented when this thread's last handshake failed the pin,
 * or NULL. Handshakes run on the thread that drives the transfer. */
const char *cx_http_pin_mismatch(void);

#endif
