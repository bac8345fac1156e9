/* The Proxmox VE API as the adapter's tools see it: one authenticated request that unwraps
 * Proxmox's {"data": ...} envelope, and the login that ticket authentication needs. */
#ifndef CX_PROXMOX_API_H
#define CX_PROXMOX_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "../../common/adapter.h"
#include "../../common/http_async.h"
#include "../../common/http_client.h"
#include "../../common/json.h"
#include "../../common/secret.h"

struct px_ssh;

/* A ticket lasts two hours; it is renewed when less than this is left. */
#define PX_TICKET_RENEW_S (90 * 60)

struct px_state {
	struct cx_http_client *http;
	char *url;         /* "https://pve1:8006", as configured */
	long timeout_ms;   /* one backend request, when the call allows it */
	long task_poll_ms; /* how often a running task is looked at */
	/* API token: "PVEAPIToken=USER@REALM!TOKENID=SECRET", built once. */
	struct cx_secret token_header;
	/* Ticket: username and password; one login shared by every worker. */
	char *username;
	struct cx_secret password;
	pthread_mutex_t ticket_lock;
	struct cx_secret ticket; /* "PVEAuthCookie=..." cookie header, or empty */
	struct cx_secret csrf;   /* "CSRFPreventionToken: ..." header, or empty */
	int64_t ticket_at_s;     /* wall clock of the login */
	struct px_ssh *ssh;      /* proxmox_node_exec's settings (node_exec.c); NULL: none */
};

/* One request to /api2/json<path> for call; form (may be NULL) is an
 * application/x-www-form-urlencoded body for writes. 0 with *data the envelope's "data" (a
 * new reference; json null when there is none); -1 with the sentence for the model in err
 * (transport failure, or an HTTP error with Proxmox's own message and a hint). */
int px_request(struct px_state *s, const struct cx_call *call, const char *method, const char *path,
	       const char *form, json_t **data, struct cx_err *err);
/* px_request building only what pick names of the answer (json.h), for the hot paths. */
int px_request_pick(struct px_state *s, const struct cx_call *call, const char *method,
		    const char *path, const char *form, const struct cx_json_pick *pick,
		    json_t **data, struct cx_err *err);

/* The fast path's GET of path (tools.c): fills ar with the request px_request_pick would send
 * first. CX_ASYNC_BLOCKING with ticket authentication (a login may have to come first). */
int px_request_begin(struct px_state *s, const char *path, const struct cx_json_pick *pick,
		     struct cx_async_req *ar);
/* What px_request_pick makes of an answer to req: 0 with *data the envelope's "data" (new
 * reference), or -1 with the sentence in err. */
int px_answer(struct px_state *s, const struct cx_http_req *req, const struct cx_http_resp *resp,
	      json_t **data, struct cx_err *err);

/* Logs in now (ticket authentication), replacing any ticket. 0 or -1 with err. */
int px_login(struct px_state *s, const struct cx_call *call, struct cx_err *err);

#endif
