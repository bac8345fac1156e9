/* The adapters' HTTP(S) client on libcurl (see http_client.h for the contract): the client,
 * its pool of handles and the sentences for answers that are not a success. One request and
 * its attempts are in http_request.c; certificate pins in http_pin.c.
 *
 * Each cx_http_do takes an easy handle (with its own multi handle) from the client's pool and
 * gives it back at the end, so no two threads ever use one handle; each pooled handle keeps
 * its own connection, and all of a client's handles share one CURLSH for DNS and TLS sessions
 * (resumed, not renegotiated). The connection cache is not shared: with libcurl 7.88, sharing
 * it between multi handles driven by different threads corrupted the heap under load.
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
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "http_client_impl.h"
#include "log.h"
#include "util.h"

#define CX_HTTP_MSG_BACKEND 160 /* the backend's message is cut to this many bytes */
#define CX_HTTP_RETRIES_MAX 10

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

	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct cx_http_client *c = arg;

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
	if ((c->pinned || c->ca_file || c->ca_pem || c->insecure || c->cert_file || c->cert_pem) &&
	    strcmp(scheme, "https")) {
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

/* A client certificate needs its key, from a file or as data; files must be readable. */
static int check_client_cert(const struct cx_http_client_opts *o, struct cx_err *err)
{
	bool cert = o->client_cert_file || o->client_cert_pem;
	bool key = o->client_key_file || o->client_key_pem;

	if ((o->client_cert_file && o->client_cert_pem) ||
	    (o->client_key_file && o->client_key_pem))
		return cx_err_set(err, "give the client certificate and key either as files or as "
				       "data, not both");
	if (cert != key)
		return cx_err_set(err, "a client certificate needs its key, and a key its "
				       "certificate");
	if (o->client_cert_file && access(o->client_cert_file, R_OK))
		return cx_err_set(err, "could not read the client certificate '%s': %s",
				  o->client_cert_file, strerror(errno));
	if (o->client_key_file && access(o->client_key_file, R_OK))
		return cx_err_set(err, "could not read the client key '%s': %s", o->client_key_file,
				  strerror(errno));
	return 0;
}

static int check_tls(struct cx_http_client *c, const struct cx_http_client_opts *o,
		     struct cx_err *err)
{
	if ((o->ca_file != NULL) + (o->ca_pem != NULL) + (o->fingerprint != NULL) +
		    o->insecure_skip_verify >
	    1)
		return cx_err_set(err, "set at most one of ca_file, fingerprint and "
				       "insecure_skip_verify");
	if (check_client_cert(o, err))
		return -1;
	if (o->fingerprint) {
		if (cx_http_pin_parse(o->fingerprint, c->pin))
			return cx_err_set(err,
					  "fingerprint '%.100s' is not a SHA-256 fingerprint "
					  "(64 hex digits, ':' between pairs optional)",
					  o->fingerprint);
		c->pinned = true;
		cx_http_pin_text(c->pin, c->pin_text);
		cx_fmt(c->tls, sizeof(c->tls), "pinned (SHA-256 %s)", c->pin_text);
	} else if (c->ca_file) {
		if (access(c->ca_file, R_OK))
			return cx_err_set(err, "could not read ca_file '%s': %s", c->ca_file,
					  strerror(errno));
		cx_fmt(c->tls, sizeof(c->tls), "verified (ca_file '%s')", c->ca_file);
	} else if (o->ca_pem) {
		cx_fmt(c->tls, sizeof(c->tls), "verified (CA data)");
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
	pthread_mutex_init(&c->async_lock, NULL);
	pthread_cond_init(&c->async_idle, NULL);
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
	c->counters = cx_backend_counters(o->service);
	c->base_url = dup_or_null(o->base_url, &oom);
	/* A relative ca_file is the config file's neighbour, as every path in the config. */
	if (o->ca_file && !(c->ca_file = cx_path_resolve(cx_path_base(), o->ca_file)))
		oom = true;
	c->ca_pem = dup_or_null(o->ca_pem, &oom);
	c->cert_file = dup_or_null(o->client_cert_file, &oom);
	c->key_file = dup_or_null(o->client_key_file, &oom);
	c->cert_pem = dup_or_null(o->client_cert_pem, &oom);
	c->key_pem = dup_or_null(o->client_key_pem, &oom);
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
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)) {
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

json_t *cx_http_client_status(const struct cx_http_client *c)
{
	json_t *st = json_pack("{s:s}", "tls", c->tls);
	char warning[512];

	if (st && c->insecure) {
		cx_fmt(warning, sizeof(warning),
		       "TLS certificates of %s at %s are NOT VERIFIED (insecure_skip_verify): "
		       "anyone on the path can read and change its traffic, credentials "
		       "included; set ca_file or fingerprint instead",
		       c->service, c->hostport);
		json_object_set_new(st, "warnings", json_pack("[s]", warning));
	}
	return st;
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
	/* Requests on the backend I/O loops end soon once their calls are answered (cancelled
	 * with them); they read the client until then. */
	pthread_mutex_lock(&c->async_lock);
	while (c->async_running)
		pthread_cond_wait(&c->async_idle, &c->async_lock);
	pthread_mutex_unlock(&c->async_lock);
	for (int i = 0; i < c->npool; i++)
		handle_free(&c->pool[i]);
	/* After the handles: the share holds the connections they used. */
	if (c->share)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->async_lock);
	pthread_cond_destroy(&c->async_idle);
	free(c->service);
	free(c->base_url);
	free(c->ca_file);
	free(c->ca_pem);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_pem);
	if (c->key_pem) {
		OPENSSL_cleanse(c->key_pem, strlen(c->key_pem));
		free(c->key_pem);
	}
	free(c->user_agent);
	free(c);
}

const char *cx_http_client_tls(const struct cx_http_client *c)
{
	return c->tls;
}

int cx_http_handle_get(struct cx_http_client *c, struct cx_http_handle *h)
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

void cx_http_handle_put(struct cx_http_client *c, struct cx_http_handle *h)
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
