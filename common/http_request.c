/* One request of the adapters' HTTP client (http_client.h): its attempts, bounded by the
 * call's deadline; the retries that are safe; the sentence when no answer came.
 *
 * The transfer is driven through the handle's multi interface in short polls, so a cancelled
 * call is noticed within CX_HTTP_SLICE_MS even while the server sends nothing (libcurl's
 * progress callback alone can be a second late), and removing the handle mid-transfer closes
 * its connection. */
#include "http_client_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define CX_HTTP_BACKOFF_BASE 100   /* ms; full jitter, doubling per attempt */
#define CX_HTTP_BACKOFF_CAP  2000  /* ms */
#define CX_HTTP_TIMEOUT_NONE 30000 /* ms, when neither a call deadline nor timeout_ms bounds */

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

int cx_http_plan(const struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
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

/* CA and client certificate given as data or files (kubeconfig); libcurl copies blobs. */
static int setup_tls_data(struct cx_http_client *c, CURL *e)
{
	struct curl_blob b = { .flags = CURL_BLOB_COPY };
	int bad = 0;

	if (c->ca_pem) {
		b.data = c->ca_pem;
		b.len = strlen(c->ca_pem);
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b) != CURLE_OK;
	}
	if (c->cert_file) {
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file) != CURLE_OK;
	}
	if (c->cert_pem) {
		b.data = c->cert_pem;
		b.len = strlen(c->cert_pem);
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK;
	}
	if (c->key_pem) {
		b.data = c->key_pem;
		b.len = strlen(c->key_pem);
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK;
	}
	return bad;
}

/* Every option, on a handle reset to its defaults (its connections and caches stay); share:
 * with the client's share handle (DNS, TLS sessions). Non-zero on failure. */
static int setup(struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
		 const struct cx_http_plan *p, struct cx_http_xfer *x, long left_ms, char *errbuf,
		 bool share)
{
	int bad = 0;

	curl_easy_reset(e);
	/* Set again after the reset, which drops the share's TLS session settings. */
	if (share)
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
	bad |= setup_tls_data(c, e);
	if (c->pinned || c->insecure) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
	}
	if (c->pinned) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, cx_http_pin_ssl_ctx) !=
		       CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, &x->pin) != CURLE_OK;
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

CURLcode cx_http_prepare(struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
			 const struct cx_http_plan *p, struct cx_http_xfer *x, char *errbuf,
			 bool share)
{
	long left = (long)(p->deadline - cx_now_ms());

	cx_buf_reset(&x->body);
	x->received = 0;
	x->over_cap = false;
	x->pin = (struct cx_http_pin_check){ .pin = c->pin };
	errbuf[0] = '\0';
	if (x->call && cx_call_cancelled(x->call))
		return CURLE_ABORTED_BY_CALLBACK;
	if (left <= 0)
		return CURLE_OPERATION_TIMEDOUT;
	if (setup(c, e, req, p, x, left, errbuf, share))
		return CURLE_FAILED_INIT;
	return CURLE_OK;
}

/* One attempt: CURLE_OK with the answer's status in *status and its body in x. */
static CURLcode attempt(struct cx_http_client *c, struct cx_http_handle *h,
			const struct cx_http_req *req, const struct cx_http_plan *p,
			struct cx_http_xfer *x, char *errbuf, long *status)
{
	CURLcode rc = cx_http_prepare(c, h->easy, req, p, x, errbuf, true);

	if (rc != CURLE_OK)
		return rc;
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
long cx_http_next_wait(const struct cx_http_client *c, CURL *e, const struct cx_http_plan *p,
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

void cx_http_retrying(struct cx_http_client *c, const struct cx_http_req *req,
		      const struct cx_http_plan *p, CURLcode rc, long status, int n, long wait)
{
	/* /metrics: a wait the backend asked for when it said 429 is counted apart. */
	if (c->counters) {
		cx_counter_inc(&c->counters->retries);
		if (rc == CURLE_OK && status == 429)
			cx_counter_inc(&c->counters->rate_limit_waits);
	}
	cx_debug("%s: %s %.*s: %s; attempt %d of %d in %ld ms", c->service, req->method,
		 p->path_len, req->path, rc == CURLE_OK ? "the backend is busy" : "no answer",
		 n + 1, c->retries + 1, wait);
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
	const char *presented = x->pin.mismatch ? x->pin.presented : NULL;
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

/* Every instance of the response header name, joined by '\n', or NULL (none, or no memory). */
static char *kept_header(CURL *e, const char *name)
{
	struct cx_buf b = CX_BUF_INIT(64 * 1024);
	struct curl_header *hd;
	size_t i = 0, amount = 1, len;
	char *out;

	for (; i < amount; i++) {
		if (curl_easy_header(e, name, i, CURLH_HEADER, -1, &hd) != CURLHE_OK)
			break;
		amount = hd->amount;
		if ((i && cx_buf_append(&b, "\n", 1)) ||
		    cx_buf_append(&b, hd->value, strlen(hd->value)))
			break;
	}
	if (i < amount || !b.len) {
		if (b.data)
			memset(b.data, 0, b.len);
		cx_buf_release(&b);
		return NULL;
	}
	out = cx_buf_detach(&b, &len);
	return out;
}

static int finish(const struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
		  struct cx_http_xfer *x, long status, struct cx_http_resp *resp,
		  struct cx_err *err)
{
	long ra = retry_after_ms(e);
	bool json = looks_json(e, &x->body);

	resp->status = status;
	resp->retry_after_s = ra < 0 ? -1 : (ra + 999) / 1000;
	resp->body = cx_buf_detach(&x->body, &resp->body_len);
	if (!resp->body)
		return cx_err_set(err, "out of memory");
	/* Invalid JSON leaves json NULL: the adapter says what it expected. */
	if (json && resp->body_len <= c->max)
		resp->json = cx_json_parse_pick(resp->body, resp->body_len, req->pick, NULL);
	for (int i = 0; req->keep_headers && req->keep_headers[i] && i < CX_HTTP_KEEP_MAX; i++)
		resp->kept[i] = kept_header(e, req->keep_headers[i]);
	return 0;
}

int cx_http_outcome(struct cx_http_client *c, CURL *e, const struct cx_http_req *req,
		    const struct cx_http_plan *p, struct cx_http_xfer *x, const char *errbuf,
		    CURLcode rc, long status, int attempts, struct cx_http_resp *resp,
		    struct cx_err *err)
{
	int ret = -1;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	resp->attempts = attempts;
	if (c->counters)
		cx_counter_inc(&c->counters->requests);
	if (rc == CURLE_OK)
		ret = finish(c, e, req, x, status, resp, err);
	else
		fail_transport(c, req, p, e, rc, x, errbuf, err);
	if (ret) {
		if (c->counters)
			cx_counter_inc(&c->counters->failures);
		cx_http_resp_release(resp);
	}
	return ret;
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
	int ret = -1, n;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	if (cx_http_plan(c, call, timeout_ms, req, &p, err))
		goto out;
	if (cx_http_handle_get(c, &h)) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	for (n = 1;; n++) {
		rc = attempt(c, &h, req, &p, &x, errbuf, &status);
		wait = cx_http_next_wait(c, h.easy, &p, &x, rc, status, n);
		if (wait < 0)
			break;
		cx_http_retrying(c, req, &p, rc, status, n, wait);
		if (!nap(call, wait)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
	}
	ret = cx_http_outcome(c, h.easy, req, &p, &x, errbuf, rc, status, n, resp, err);
	cx_http_handle_put(c, &h);
out:
	cx_buf_release(&x.body);
	curl_slist_free_all(p.headers);
	free(p.url);
	return ret;
}

void cx_http_resp_release(struct cx_http_resp *resp)
{
	for (int i = 0; i < CX_HTTP_KEEP_MAX; i++) {
		if (resp->kept[i])
			memset(resp->kept[i], 0, strlen(resp->kept[i]));
		free(resp->kept[i]);
	}
	free(resp->body);
	json_decref(resp->json);
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
}
