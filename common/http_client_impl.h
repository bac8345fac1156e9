/* What http_client.c (the client, its pool, its sentences) and http_request.c (one request,
 * its attempts) share; not for adapters, which see only http_client.h. */
#ifndef CX_HTTP_CLIENT_IMPL_H
#define CX_HTTP_CLIENT_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "counters.h"
#include "http_client.h"
#include "http_pin.h"

#define CX_HTTP_POOL_MAX 8   /* idle handles kept per client */
#define CX_HTTP_MSG_PATH 120 /* a path is cut to this many bytes in messages */

/* An easy handle and the multi handle that drives it; one thread at a time. */
struct cx_http_handle {
	CURL *easy;
	CURLM *multi;
};

/* Read-only after cx_http_client_new, except the pool. */
struct cx_http_client {
	char *service;              /* the subject of every sentence */
	char *base_url;             /* without a trailing '/' */
	char *ca_file;              /* or NULL */
	char *ca_pem;               /* or NULL */
	char *cert_file, *key_file; /* client certificate and key files, or NULL */
	char *cert_pem, *key_pem;   /* the same as PEM texts, or NULL (key_pem wiped at free) */
	char *user_agent;
	char hostport[160]; /* "pve1:8006", for messages: never the URL's path or query */
	char tls[CX_HTTP_PIN_TEXT + 160]; /* cx_http_client_tls */
	unsigned char pin[32];            /* when pinned */
	char pin_text[CX_HTTP_PIN_TEXT];
	bool pinned;
	bool insecure;
	int retries;
	size_t max; /* response cap in bytes */
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST]; /* one per curl_lock_data */
	pthread_mutex_t pool_lock;
	struct cx_http_handle pool[CX_HTTP_POOL_MAX]; /* idle, under pool_lock */
	int npool;
	struct cx_backend_counters *counters; /* /metrics: by service; NULL counts nothing */
};

/* A handle only the calling thread uses until it puts it back (to the pool, or freed when
 * the pool is full). 0, or -1 when out of memory. Takes pool_lock, a leaf. */
int cx_http_handle_get(struct cx_http_client *c, struct cx_http_handle *h);
void cx_http_handle_put(struct cx_http_client *c, struct cx_http_handle *h);

#endif
