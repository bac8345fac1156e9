/* The one way adapters reach a backend: HTTP(S) on libcurl, bounded by the MCP call it serves.
 *
 * - The call's deadline bounds everything (connect, retries, transfer); a call that is
 *   cancelled (cx_call_cancelled) aborts its transfer at once, from libcurl's progress callback.
 * - Connections are reused: a call takes an easy handle from its client's pool (no two threads
 *   use one at once), each keeping its connection open, and one share handle per client (with
 *   locks) shares DNS and TLS sessions between them.
 * - Retries only where safe — GET and HEAD, and requests the caller marks idempotent — on 429,
 *   502, 503, 504 and connection failures: Retry-After (seconds or an HTTP date) when it fits
 *   the deadline, else exponential backoff with full jitter; never past the deadline.
 * - TLS: the system CAs, or ca_file; or fingerprint, the SHA-256 of the server's certificate as
 *   Proxmox shows it ("AB:CD:..."), checked during the handshake, before any request byte (and
 *   so any credential) is sent; insecure_skip_verify only when asked for.
 * - Responses are capped (max_response_bytes); JSON is parsed with the project's size and
 *   duplicate-key rules.
 * - Credentials never reach a log line or an error text: headers and bodies are never logged,
 *   and messages name the method and the path without its query.
 * - Failures come back as one sentence the model can act on (cx_http_fail), naming the service,
 *   what failed, the backend's own message and what to try. */
#ifndef CX_HTTP_CLIENT_H
#define CX_HTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"
#include "err.h"

#define CX_HTTP_MAX_RESPONSE_DEFAULT (8u << 20)
#define CX_HTTP_KEEP_MAX             4 /* response headers one request may keep */

struct cx_http_client;

struct cx_http_client_opts {
	const char *service;       /* "proxmox", "cloudflare": the subject of messages */
	const char *base_url;      /* "https://pve1:8006/api2/json" (no trailing '/') */
	const char *ca_file;       /* PEM bundle to trust instead of the system CAs, or NULL */
	const char *fingerprint;   /* "AB:CD:..." (64 hex digits, ':' optional), or NULL */
	bool insecure_skip_verify; /* no certificate check at all (warned about at start) */
	int retries;               /* extra attempts for safe requests; 0 none */
	size_t max_response_bytes; /* 0: CX_HTTP_MAX_RESPONSE_DEFAULT */
	const char *user_agent;    /* NULL: "cortex-gateway/<version>" */
	/* Trust and identity as data rather than files (kubeconfig's *-data keys): PEM texts,
	 * copied; the key is wiped when the client is freed. ca_pem counts as ca_file does. */
	const char *ca_pem;
	const char *client_cert_file; /* a client certificate (PEM) for TLS client auth */
	const char *client_key_file;  /* its private key (PEM); needed with a certificate */
	const char *client_cert_pem;
	const char *client_key_pem;
};

/* Validates o (copied) — the URL's scheme, the fingerprint's form, ca_file readable — and
 * builds the client. No connection is made. NULL with err naming the bad setting. */
struct cx_http_client *cx_http_client_new(const struct cx_http_client_opts *o, struct cx_err *err);
/* After every call using it has returned. */
void cx_http_client_free(struct cx_http_client *c);

struct cx_http_req {
	const char *method;         /* "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD" */
	const char *path;           /* appended to base_url, query included ("/nodes?x=1") */
	const char *const *headers; /* "Name: value" lines, NULL-terminated, may be NULL;
				     * credentials go here and are never logged */
	const char *body;           /* NULL: none */
	size_t body_len;
	const char *content_type; /* for body; NULL: application/json */
	bool idempotent;          /* a write the API documents as idempotent: retried */
	/* Response headers to hand back ("Set-Cookie", "X-CSRF-Token"), NULL-terminated, at
	 * most CX_HTTP_KEEP_MAX; may be NULL. Their values may be credentials: never logged. */
	const char *const *keep_headers;
	/* Build only these members of a JSON answer (json.h); NULL: all of it. */
	const struct cx_json_pick *pick;
};

struct cx_http_resp {
	long status; /* HTTP status of the last attempt */
	char *body;  /* NUL-terminated, body_len bytes (malloc'd) */
	size_t body_len;
	json_t *json;       /* the body parsed, when it is JSON; else NULL */
	long retry_after_s; /* Retry-After of the last attempt in seconds, or -1 */
	int attempts;       /* how many were made (1 + retries used) */
	/* The values of req->keep_headers, in order: every instance of a header joined by
	 * '\n', or NULL when the answer had none (malloc'd; wiped and freed on release). */
	char *kept[CX_HTTP_KEEP_MAX];
};

/* Sends req for call (its deadline and cancellation bound it; call may be NULL for health
 * checks: then timeout_ms bounds it). 0 when an HTTP answer came, whatever its status (resp
 * filled, release it); -1 when none did — connection refused, DNS, TLS (with the reason, e.g.
 * "certificate fingerprint mismatch"), deadline, cancelled, response over the cap — with the
 * sentence for the model in err (resp empty). */
int cx_http_do(struct cx_http_client *c, const struct cx_call *call, long timeout_ms,
	       const struct cx_http_req *req, struct cx_http_resp *resp, struct cx_err *err);
void cx_http_resp_release(struct cx_http_resp *resp);

/* The sentence for an HTTP answer that is not a success: "<service> answered 403 Forbidden
 * to GET /nodes: <backend message>; <hint>". backend_msg is what the adapter found in the
 * body (may be NULL); hint what to try (may be NULL: a generic one by status, e.g. 401 "check
 * the credentials", 429 "rate-limited by <service>; retry after N s"). Writes err, returns -1. */
int cx_http_fail(const struct cx_http_client *c, const struct cx_http_req *req,
		 const struct cx_http_resp *resp, const char *backend_msg, const char *hint,
		 struct cx_err *err);

/* What gateway_status and the start-up log say about the client's TLS ("verified (system
 * CAs)", "verified (ca_file ...)", "pinned (SHA-256 AB:CD...)", "NOT VERIFIED
 * (insecure_skip_verify)"). */
const char *cx_http_client_tls(const struct cx_http_client *c);

/* cx_adapter.status for an adapter with one backend client: {"tls": cx_http_client_tls(c)},
 * and "warnings": ["TLS certificates of <service> are NOT VERIFIED ..."] when
 * insecure_skip_verify is set. New reference; NULL on out of memory. */
json_t *cx_http_client_status(const struct cx_http_client *c);

/* Process-wide libcurl set-up; once, before any thread starts (main, tests). 0 or -1. */
int cx_http_global_init(void);

#endif
