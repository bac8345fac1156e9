/* What http_client.c (the client, its pool, its sentences) and http_request.c (one request,
 * its attempts) share; not for adapters, which see only http_client.h. */
#ifndef CX_HTTP_CLIENT_IMPL_H
#define CX_HTTP_CLIENT_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"
#include "counters.h"
#include "http_client.h"
#include "http_pin.h"

#define CX_HTTP_POOL_MAX 8   /* idle handles kept per client */
#define CX_HTTP_MSG_PATH 120 /* a path is cut to this many bytes in messages */
#define CX_HTTP_SLICE_MS 20  /* how often a waiting transfer or sleep checks the call */

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
	/* Requests of this client on the backend I/O loops (http_async.c): freeing the client
	 * waits for them to end. Under async_lock. */
	pthread_mutex_t async_lock;
	pthread_cond_t async_idle;
	long async_running;
};

/* One attempt's state, shared with libcurl's callbacks. */
struct cx_http_xfer {
	const struct cx_call *call;
	struct cx_buf body;
	size_t received; /* header and body bytes of this attempt */
	bool over_cap;
	struct cx_http_pin_check pin; /* this transfer's certificate check */
};

/* What a request works out once, before its attempts. */
struct cx_http_plan {
	char *url;
	struct curl_slist *headers;
	int64_t deadline;
	long budget_ms;
	int path_len; /* req->path up to its query, cut for messages */
	bool safe;    /* may be retried */
};

/* The steps of one request, shared by cx_http_do (http_request.c: the calling thread drives
 * the transfer) and cx_http_do_async (http_async.c: a backend I/O loop does). */

/* Checks req and works out p (free its url and headers after). 0, or -1 with err. */
int cx_http_plan(const struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
		 const struct cx_http_req *req, struct cx_http_plan *p, struct cx_err *err);
/* Ready for an attempt on e: no body yet, no certificate seen, every option set (share: with
 * the client's share handle, for DNS and TLS sessions). CURLE_OK, or the outcome the attempt
 * ends with at once: the call cancelled, the deadline passed, a handle that would not take an
 * option. */
CURLcode cx_http_prepare(struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
			 const struct cx_http_plan *p, struct cx_http_xfer *x, char *errbuf,
			 bool share);
/* How long to wait before attempt n + 1, or -1: the outcome of attempt n stands. */
long cx_http_next_wait(const struct cx_http_client *c, CURL *e, const struct cx_http_plan *p,
		       const struct cx_http_xfer *x, CURLcode rc, long status, int n);
/* Another attempt follows attempt n after wait ms: counted for /metrics, and logged. */
void cx_http_retrying(struct cx_http_client *c, const struct cx_http_req *req,
		      const struct cx_http_plan *p, CURLcode rc, long status, int n, long wait);
/* The request's end after its last attempt (rc, and status when rc is CURLE_OK): resp filled
 * from the answer (its body taken from x) and 0, or -1 with the sentence in err (resp empty);
 * counted for /metrics. */
int cx_http_outcome(struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
		    const struct cx_http_plan *p, struct cx_http_xfer *x, const char *errbuf,
		    CURLcode rc, long status, int attempts, struct cx_http_resp *resp,
		    struct cx_err *err);

/* A handle only the calling thread uses until it puts it back (to the pool, or freed when
 * the pool is full). 0, or -1 when out of memory. Takes pool_lock, a leaf. */
int cx_http_handle_get(struct cx_http_client *c, struct cx_http_handle *h);
void cx_http_handle_put(struct cx_http_client *c, struct cx_http_handle *h);

#endif
