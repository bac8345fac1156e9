/* The adapters' HTTP(S) client on libcurl (see http_client.h for the contract).
 *
 * Each cx_http_do takes an easy handle (with its own multi handle) from the client's pool and
 * gives it back at the end, so no two threads ever use one handle; all of a client's handles
 * share one CURLSH — DNS, TLS sessions and the connection cache — so a warm client reuses its
 * connections whichever handle a thread gets. The transfer is driven through the multi
 * interface in short polls, so a cancelled call is noticed within CX_HTTP_SLICE_MS even while
 * the server sends nothing (libcurl's progress callback alone can be a second late).
 *
 * Lock order: pool_lock is a leaf, held only to push or pop a handle; the share's locks are
 * taken by libcurl alone, never while pool_lock is held.
 *
 * Pinned certificates (fingerprint): the pin is the whole trust. The chain is not checked (a
 * Proxmox node's certificate is signed by its cluster's own CA) and neither is the host name
 * (nodes are often reached by an address the certificate does not name); the SHA-256 of the
 * leaf certificate must equal the pin, checked by OpenSSL's verify hook during the handshake,
 * so a mismatch ends the handshake before any request byte is sent. */
#include "http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "buf.h"
#include "http_pin.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define CX_HTTP_POOL_MAX     8     /* idle handles kept per client */
#define CX_HTTP_SLICE_MS     20    /* how often a waiting transfer or sleep checks the call */
#define CX_HTTP_BACKOFF_BASE 100   /* ms; full jitter, doubling per attempt */
#define CX_HTTP_BACKOFF_CAP  2000  /* ms */
#define CX_HTTP_TIMEOUT_NONE 30000 /* ms, when neither a call deadline nor timeout_ms bounds */
#define CX_HTTP_MSG_PATH     120   /* a path is cut to this many bytes in messages */
#define CX_HTTP_MSG_BACKEND  160   /* the backend's message is cut to this many bytes */
#define CX_HTTP_RETRIES_MAX  10

struct cx_http_handle {
	CURL *easy;
	CURLM *multi;
};

struct cx_http_client {
	char *service;
	char *base_url;
	char *ca_file;
	char *user_agent;
	char hostport[160];
	char tls[CX_HTTP_PIN_TEXT + 160];
	unsigned char pin[32];
	char pin_text[CX_HTTP_PIN_TEXT];
	bool pinned;
	bool insecure;
	int retries;
	size_t max;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	struct cx_http_handle pool[CX_HTTP_POOL_MAX];
	int npool;
};

/* One attempt's state, shared with libcurl's callbacks. */
struct cx_http_xfer {
	const struct cx_call *call;
	struct cx_buf body;
	size_t received; /* header and body bytes of this attempt */
	bool over_cap;
};

static pthread_once_t cx_http_once = PTHREAD_ONCE_INIT;
static int cx_http_init_rc = -1;

static void cx_http_init_once(void)
{
	cx_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int cx_http_global_init(void)
{
	pthread_once(&cx_http_once, cx_http_init_once);
	if (cx_http_init_rc)
		return cx_error("could not initialise libcurl");
	return 0;
}

/* ---- the client ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct cx_http_client *c = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct cx_http_client *c = arg;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
}

/* Checks base_url (http or https, no credentials, no query) and notes "host:port". */
static int check_url(struct cx_http_client *c, struct cx_err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *query = NULL;
	int rc = -1;

	if (!u) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, c->base_url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		cx_err_set(err, "base_url '%s' is not a URL", c->base_url);
		goto out;
	}
	if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
		cx_err_set(err, "base_url '%s' must start with https:// or http://", c->base_url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
	    curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_NO_QUERY) {
		cx_err_set(err, "base_url must carry neither credentials nor a query");
		goto out;
	}
	if ((c->pinned || c->ca_file || c->insecure) && strcmp(scheme, "https")) {
		cx_err_set(err, "TLS settings given for the plain http:// base_url '%s'",
			   c->base_url);
		goto out;
	}
	cx_fmt(c->hostport, sizeof(c->hostport), "%s:%s", host, port);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(query);
	curl_url_cleanup(u);
	return rc;
}

static int check_tls(struct cx_http_client *c, const struct cx_http_client_opts *o,
		     struct cx_err *err)
{
	if ((o->ca_file != NULL) + (o->fingerprint != NULL) + o->insecure_skip_verify > 1)
		return cx_err_set(err, "set at most one of ca_file, fingerprint and "
				       "insecure_skip_verify");
	if (o->fingerprint) {
		if (cx_http_pin_parse(o->fingerprint, c->pin))
			return cx_err_set(err,
					  "fingerprint '%.100s' is not a SHA-256 fingerprint "
					  "(64 hex digits, ':' between pairs optional)",
					  o->fingerprint);
		c->pinned = true;
		cx_http_pin_text(c->pin, c->pin_text);
		cx_fmt(c->tls, sizeof(c->tls), "pinned (SHA-256 %s)", c->pin_text);
	} else if (o->ca_file) {
		if (access(o->ca_file, R_OK))
			return cx_err_set(err, "could not read ca_file '%s': %s", o->ca_file,
					  strerror(errno));
		cx_fmt(c->tls, sizeof(c->tls), "verified (ca_file '%s')", o->ca_file);
	} else if (o->insecure_skip_verify) {
		c->insecure = true;
		cx_fmt(c->tls, sizeof(c->tls), "NOT VERIFIED (insecure_skip_verify)");
	} else {
		cx_fmt(c->tls, sizeof(c->tls), "verified (system CAs)");
	}
	return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct cx_http_client *cx_http_client_new(const struct cx_http_client_opts *o, struct cx_err *err)
{
	struct cx_http_client *c = calloc(1, sizeof(*c));
	bool oom = false;
	size_t n;

	if (!c) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	if (!o->service || !*o->service || !o->base_url) {
		cx_err_set(err, "a client needs a service name and a base_url");
		goto fail;
	}
	if (o->retries < 0 || o->retries > CX_HTTP_RETRIES_MAX) {
		cx_err_set(err, "retries %d is out of range (0 to %d)", o->retries,
			   CX_HTTP_RETRIES_MAX);
		goto fail;
	}
	c->retries = o->retries;
	c->max = o->max_response_bytes ? o->max_response_bytes : CX_HTTP_MAX_RESPONSE_DEFAULT;
	c->service = dup_or_null(o->service, &oom);
	c->base_url = dup_or_null(o->base_url, &oom);
	c->ca_file = dup_or_null(o->ca_file, &oom);
	c->user_agent =
		dup_or_null(o->user_agent ? o->user_agent : "cortex-gateway/" CX_VERSION, &oom);
	if (oom) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	n = strlen(c->base_url);
	while (n && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	if (check_tls(c, o, err) || check_url(c, err))
		goto fail;
	c->share = curl_share_init();
	if (!c->share || curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) ||
	    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT)) {
		cx_err_set(err, "could not set up libcurl's share handle");
		goto fail;
	}
	if (c->insecure)
		cx_warn("'%s' at %s: TLS certificates are NOT VERIFIED (insecure_skip_verify)",
			c->service, c->hostport);
	return c;
fail:
	cx_http_client_free(c);
	return NULL;
}

static void handle_free(struct cx_http_handle *h)
{
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->easy)
		curl_easy_cleanup(h->easy);
}

void cx_http_client_free(struct cx_http_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->npool; i++)
		handle_free(&c->pool[i]);
	/* After the handles: the share holds the connections they used. */
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	free(c->service);
	free(c->base_url);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}

const char *cx_http_client_tls(const struct cx_http_client *c)
{
	return c->tls;
}

/* A handle only this thread uses until handle_put; 0 or -1 (out of memory). */
static int handle_get(struct cx_http_client *c, struct cx_http_handle *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->npool) {
		*h = c->pool[--c->npool];
		pthread_mutex_unlock(&c->pool_lock);
		return 0;
	}
	pthread_mutex_unlock(&c->pool_lock);
	h->easy = curl_easy_init();
	h->multi = curl_multi_init();
	if (!h->easy || !h->multi) {
		handle_free(h);
		return -1;
	}
	return 0;
}

static void handle_put(struct cx_http_client *c, struct cx_http_handle *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->npool < CX_HTTP_POOL_MAX) {
		c->pool[c->npool++] = *h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		handle_free(h);
}

/* ---- one request ---- */

/* What cx_http_do works out once, before its attempts. */
struct cx_http_plan {
	char *url;
	struct curl_slist *headers;
	int64_t deadline;
	long budget_ms;
	int path_len; /* req->path up to its query, cut for messages */
	bool safe;    /* may be retried */
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct cx_http_xfer *x = arg;
	size_t len = size * n;

	x->received += len;
	if (len > x->body.max - x->body.len) {
		x->over_cap = true;
		return 0;
	}
	return cx_buf_append(&x->body, p, len) ? 0 : len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct cx_http_xfer *x = arg;

	(void)p;
	x->received += size * n;
	return size * n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct cx_http_xfer *x = arg;

	return x->call && cx_call_cancelled(x->call);
}

static bool method_known(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(m, known[i]))
			return true;
	return false;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int plan_headers(const struct cx_http_req *req, struct cx_http_plan *p, struct cx_err *err)
{
	char ct[160];

	for (int i = 0; req->headers && req->headers[i]; i++) {
		struct curl_slist *l;

		/* Never quoted: the line may be a credential. */
		if (has_control(req->headers[i]))
			return cx_err_set(err, "request header %d holds a control character",
					  i + 1);
		l = curl_slist_append(p->headers, req->headers[i]);
		if (!l)
			return cx_err_set(err, "out of memory");
		p->headers = l;
	}
	if (req->body) {
		if (!cx_fmt(ct, sizeof(ct), "Content-Type: %s",
			    req->content_type ? req->content_type : "application/json") ||
		    has_control(ct))
			return cx_err_set(err,
					  "content_type is too long or holds a control character");
		if (!(p->headers = curl_slist_append(p->headers, ct)))
			return cx_err_set(err, "out of memory");
	}
	/* No 100-continue round trip for large bodies. */
	if (!(p->headers = curl_slist_append(p->headers, "Expect:")))
		return cx_err_set(err, "out of memory");
	return 0;
}

static int plan(const struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
		const struct cx_http_req *req, struct cx_http_plan *p, struct cx_err *err)
{
	bool has_deadline = call && call->deadline_ms > 0;
	long budget = timeout_ms > 0 ? timeout_ms : has_deadline ? LONG_MAX : CX_HTTP_TIMEOUT_NONE;
	size_t len;

	if (!req->method || !method_known(req->method))
		return cx_err_set(err, "unsupported HTTP method '%.16s'",
				  req->method ? req->method : "");
	len = req->path ? strcspn(req->path, "?#") : 0;
	p->path_len = len > CX_HTTP_MSG_PATH ? CX_HTTP_MSG_PATH : (int)len;
	if (!req->path || req->path[0] != '/' || has_control(req->path) || strchr(req->path, ' '))
		return cx_err_set(err, "path '%.*s' must start with '/' and hold no blanks",
				  p->path_len, req->path ? req->path : "");
	if (has_deadline && cx_call_remaining_ms(call) < budget)
		budget = cx_call_remaining_ms(call);
	p->budget_ms = budget;
	p->deadline = cx_now_ms() + budget;
	p->safe = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD") || req->idempotent;
	len = strlen(c->base_url) + strlen(req->path) + 1;
	p->url = malloc(len);
	if (!p->url)
		return cx_err_set(err, "out of memory");
	snprintf(p->url, len, "%s%s", c->base_url, req->path);
	return plan_headers(req, p, err);
}

static int setup_method(CURL *e, const struct cx_http_req *req)
{
	int bad = 0;

	if (!strcmp(req->method, "GET"))
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	if (!strcmp(req->method, "HEAD"))
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
	if (strcmp(req->method, "POST"))
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK;
	if (req->body || strcmp(req->method, "DELETE")) {
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
					(curl_off_t)(req->body ? req->body_len : 0)) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") !=
		       CURLE_OK;
	}
	return bad;
}

/* Every option, on a handle reset to its defaults (its connections and caches stay). */
static int setup(struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
		 const struct cx_http_plan *p, struct cx_http_xfer *x, long left_ms, char *errbuf)
{
	int bad = 0;

	curl_easy_reset(e);
	/* Set again after the reset, which drops the share's TLS session settings. */
	bad |= curl_easy_setopt(e, CURLOPT_SHARE, c->share) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_URL, p->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, x) != CURLE_OK;
	if (c->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) != CURLE_OK;
	if (c->pinned || c->insecure) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
	}
	if (c->pinned) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, cx_http_pin_ssl_ctx) !=
		       CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, (void *)c->pin) != CURLE_OK;
	}
	return bad | setup_method(e, req);
}

/* Drives the transfer in short polls so a cancelled call is seen at once; removing the
 * handle mid-transfer closes its connection. */
static CURLcode perform(struct cx_http_handle *h, const struct cx_http_xfer *x)
{
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURLMsg *msg;
	int running, left;

	if (curl_multi_add_handle(h->multi, h->easy))
		return CURLE_FAILED_INIT;
	for (;;) {
		if (curl_multi_perform(h->multi, &running))
			break;
		msg = curl_multi_info_read(h->multi, &left);
		if (msg && msg->msg == CURLMSG_DONE) {
			rc = msg->data.result;
			break;
		}
		if (x->call && cx_call_cancelled(x->call)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(h->multi, NULL, 0, CX_HTTP_SLICE_MS, NULL))
			break;
	}
	curl_multi_remove_handle(h->multi, h->easy);
	return rc;
}

/* One attempt: CURLE_OK with the answer's status in *status and its body in x. */
static CURLcode attempt(struct cx_http_client *c, struct cx_http_handle *h,
			const struct cx_http_req *req, const struct cx_http_plan *p,
			struct cx_http_xfer *x, char *errbuf, long *status)
{
	long left = (long)(p->deadline - cx_now_ms());
	CURLcode rc;

	cx_buf_reset(&x->body);
	x->received = 0;
	x->over_cap = false;
	cx_http_pin_reset();
	errbuf[0] = '\0';
	if (x->call && cx_call_cancelled(x->call))
		return CURLE_ABORTED_BY_CALLBACK;
	if (left <= 0)
		return CURLE_OPERATION_TIMEDOUT;
	if (setup(c, h->easy, req, p, x, left, errbuf))
		return CURLE_FAILED_INIT;
	rc = perform(h, x);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, status);
	return rc;
}

/* Retry-After of the last answer in milliseconds (seconds, or an HTTP date), or -1. */
static long retry_after_ms(CURL *e)
{
	struct curl_header *hd;
	struct timespec now;
	time_t when;
	long s;

	if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return -1;
	if (!cx_parse_long(hd->value, 0, 7 * 86400, &s))
		return s * 1000;
	when = curl_getdate(hd->value, NULL);
	if (when == -1)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	s = (long)(when - now.tv_sec) * 1000 - now.tv_nsec / 1000000;
	return s > 0 ? s : 0;
}

static long backoff_ms(int attempt)
{
	long cap = CX_HTTP_BACKOFF_BASE << (attempt < 6 ? attempt - 1 : 5);
	unsigned r;

	if (cap > CX_HTTP_BACKOFF_CAP)
		cap = CX_HTTP_BACKOFF_CAP;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return cap / 2;
	return (long)(r % (unsigned)(cap + 1));
}

/* How long to wait before attempt n + 1, or -1: the outcome of attempt n stands. */
static long next_wait(const struct cx_http_client *c, CURL *e, const struct cx_http_plan *p,
		      const struct cx_http_xfer *x, CURLcode rc, long status, int n)
{
	long left = (long)(p->deadline - cx_now_ms()), wait;

	if (!p->safe || n > c->retries)
		return -1;
	if (rc == CURLE_OK) {
		if (status != 429 && status != 502 && status != 503 && status != 504)
			return -1;
		wait = retry_after_ms(e);
		if (wait >= 0)
			return wait < left ? wait : -1;
	} else if (x->received || (rc != CURLE_COULDNT_CONNECT && rc != CURLE_GOT_NOTHING &&
				   rc != CURLE_RECV_ERROR && rc != CURLE_SEND_ERROR)) {
		return -1;
	}
	wait = backoff_ms(n);
	return wait < left ? wait : -1;
}

/* Sleeps ms in slices; false as soon as the call is cancelled. */
static bool nap(const struct cx_call *call, long ms)
{
	int64_t end = cx_now_ms() + ms;

	for (;;) {
		int64_t left = end - cx_now_ms();
		struct timespec ts = { 0, 0 };

		if (call && cx_call_cancelled(call))
			return false;
		if (left <= 0)
			return true;
		ts.tv_nsec = (long)(left < CX_HTTP_SLICE_MS ? left : CX_HTTP_SLICE_MS) * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/* ---- outcomes ---- */

/* The sentence for an attempt that got no HTTP answer. libcurl's error buffer is quoted only
 * for TLS and broken connections, where it describes the certificate or the socket. */
static int fail_transport(const struct cx_http_client *c, const struct cx_http_req *req,
			  const struct cx_http_plan *p, CURL *e, CURLcode rc,
			  const struct cx_http_xfer *x, const char *errbuf, struct cx_err *err)
{
	const char *svc = c->service, *hp = c->hostport, *m = req->method;
	const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
	const char *presented = cx_http_pin_mismatch();
	int pl = p->path_len;
	long oserr = 0;

	if (rc == CURLE_ABORTED_BY_CALLBACK && cx_now_ms() < p->deadline)
		return cx_err_set(err, "the call was cancelled; %s %.*s to %s was abandoned", m, pl,
				  req->path, svc);
	if (rc == CURLE_ABORTED_BY_CALLBACK || rc == CURLE_OPERATION_TIMEDOUT)
		return cx_err_set(
			err,
			"%s at %s did not answer within %ld ms; check gateway_status, then retry",
			svc, hp, p->budget_ms);
	if (x->over_cap || rc == CURLE_FILESIZE_EXCEEDED)
		return cx_err_set(err,
				  "%s answered more than %zu bytes to %s %.*s; narrow the request",
				  svc, x->body.max, m, pl, req->path);
	if (presented)
		return cx_err_set(
			err,
			"%s: TLS: certificate fingerprint mismatch at %s: expected %s, the server presented %s; update fingerprint only if the certificate was renewed on purpose",
			svc, hp, c->pin_text, presented);
	if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM)
		return cx_err_set(
			err, "%s: TLS: %s (%s); trust its certificate with ca_file or fingerprint",
			svc, why, hp);
	if (rc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
		return cx_err_set(
			err,
			"could not connect to %s at %s: %s; check that it runs and that the address is right",
			svc, hp, oserr == ECONNREFUSED ? "connection refused" : why);
	}
	if (rc == CURLE_COULDNT_RESOLVE_HOST)
		return cx_err_set(err,
				  "could not resolve the host of %s at %s; check base_url and DNS",
				  svc, hp);
	if (rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR)
		return cx_err_set(
			err, "the connection to %s at %s broke during %s %.*s (%s); retry later",
			svc, hp, m, pl, req->path, why);
	if (rc == CURLE_OUT_OF_MEMORY)
		return cx_err_set(err, "out of memory");
	return cx_err_set(err, "%s %.*s to %s at %s failed: %s", m, pl, req->path, svc, hp,
			  curl_easy_strerror(rc));
}

static bool looks_json(CURL *e, const struct cx_buf *b)
{
	char *ct = NULL;

	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
	if (ct && (strcasestr(ct, "/json") || strcasestr(ct, "+json")))
		return true;
	return b->len && (b->data[0] == '{' || b->data[0] == '[');
}

static int finish(const struct cx_http_client *c, CURL *e, struct cx_http_xfer *x, long status,
		  struct cx_http_resp *resp, struct cx_err *err)
{
	long ra = retry_after_ms(e);
	bool json = looks_json(e, &x->body);

	resp->status = status;
	resp->retry_after_s = ra < 0 ? -1 : (ra + 999) / 1000;
	resp->body = cx_buf_detach(&x->body, &resp->body_len);
	if (!resp->body)
		return cx_err_set(err, "out of memory");
	/* Invalid JSON leaves json NULL: the adapter says what it expected. */
	if (json)
		resp->json = cx_json_loadb(resp->body, resp->body_len, c->max, NULL);
	return 0;
}

int cx_http_do(struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
	       const struct cx_http_req *req, struct cx_http_resp *resp, struct cx_err *err)
{
	struct cx_http_xfer x = { .call = call, .body = CX_BUF_INIT(c->max) };
	struct cx_http_handle h = { NULL, NULL };
	struct cx_http_plan p = { 0 };
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc;
	long status = 0, wait;
	int ret = -1;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	if (plan(c, call, timeout_ms, req, &p, err))
		goto out;
	if (handle_get(c, &h)) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	for (int n = 1;; n++) {
		rc = attempt(c, &h, req, &p, &x, errbuf, &status);
		resp->attempts = n;
		wait = next_wait(c, h.easy, &p, &x, rc, status, n);
		if (wait < 0)
			break;
		cx_debug("%s: %s %.*s: %s; attempt %d of %d in %ld ms", c->service, req->method,
			 p.path_len, req->path,
			 rc == CURLE_OK ? "the backend is busy" : "no answer", n + 1,
			 c->retries + 1, wait);
		if (!nap(call, wait)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
	}
	if (rc == CURLE_OK)
		ret = finish(c, h.easy, &x, status, resp, err);
	else
		fail_transport(c, req, &p, h.easy, rc, &x, errbuf, err);
	handle_put(c, &h);
out:
	if (ret)
		cx_http_resp_release(resp);
	cx_buf_release(&x.body);
	curl_slist_free_all(p.headers);
	free(p.url);
	return ret;
}

void cx_http_resp_release(struct cx_http_resp *resp)
{
	free(resp->body);
	json_decref(resp->json);
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
}

static const struct {
	long status;
	const char *reason;
	const char *hint; /* NULL: the generic one for its class */
} cx_http_statuses[] = {
	{ 400, "Bad Request", "check the arguments" },
	{ 401, "Unauthorized", "check the credentials (token) in the configuration" },
	{ 403, "Forbidden",
	  "the credentials lack a permission for this; grant it, or use another tool" },
	{ 404, "Not Found", "not found; check the id or name" },
	{ 405, "Method Not Allowed", "the backend does not offer this here" },
	{ 409, "Conflict", "it conflicts with the current state; read it again, then retry" },
	{ 429, "Too Many Requests", NULL },
	{ 500, "Internal Server Error", NULL },
	{ 501, "Not Implemented", "the backend does not offer this here" },
	{ 502, "Bad Gateway", NULL },
	{ 503, "Service Unavailable", NULL },
	{ 504, "Gateway Timeout", NULL },
};

int cx_http_fail(const struct cx_http_client *c, const struct cx_http_req *req,
		 const struct cx_http_resp *resp, const char *backend_msg, const char *hint,
		 struct cx_err *err)
{
	const char *reason = NULL, *generic = NULL;
	size_t plen = strcspn(req->path, "?#");
	char buf[160];

	for (size_t i = 0; i < sizeof(cx_http_statuses) / sizeof(cx_http_statuses[0]); i++) {
		if (cx_http_statuses[i].status == resp->status) {
			reason = cx_http_statuses[i].reason;
			generic = cx_http_statuses[i].hint;
		}
	}
	if (!generic)
		generic = resp->status >= 500 ? "the backend failed; retry later"
					      : "check the request";
	if (hint)
		cx_fmt(buf, sizeof(buf), "%s", hint);
	else if (resp->status == 429 && resp->retry_after_s >= 0)
		cx_fmt(buf, sizeof(buf), "rate-limited by %s; retry after %ld s", c->service,
		       resp->retry_after_s);
	else if (resp->status == 429)
		cx_fmt(buf, sizeof(buf), "rate-limited by %s; retry in a moment", c->service);
	else
		cx_fmt(buf, sizeof(buf), "%s", generic);
	if (backend_msg && !*backend_msg)
		backend_msg = NULL;
	return cx_err_set(err, "%s answered %ld%s%s to %s %.*s%s%.*s; %s", c->service, resp->status,
			  reason ? " " : "", reason ? reason : "", req->method,
			  (int)(plen > CX_HTTP_MSG_PATH ? CX_HTTP_MSG_PATH : plen), req->path,
			  backend_msg ? ": " : "", CX_HTTP_MSG_BACKEND,
			  backend_msg ? backend_msg : "", buf);
}
