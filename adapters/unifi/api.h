/* The UniFi Network API as the adapter's tools see it, in either of its two forms:
 *
 * - the Integration API (mode "integration"): X-API-KEY, under
 *   <url>/proxy/network/integration/v1 (a classic controller: <url>/integration/v1), answers
 *   are the resource itself or a page {offset, limit, count, totalCount, data};
 * - the legacy API (mode "legacy"): a session from POST /api/auth/login (UniFi OS: TOKEN
 *   cookie, X-CSRF-Token on writes, paths under /proxy/network/api) or POST /api/login (a
 *   classic controller: unifises cookie, paths under /api), answers in the envelope
 *   {"meta": {"rc": "ok" | "error", "msg"}, "data": [...]}; a 401 logs in again once.
 *
 * Each int function returns 0, or -1 with the sentence for the model in err. */
#ifndef CX_UNIFI_API_H
#define CX_UNIFI_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "../../common/adapter.h"
#include "../../common/http_client.h"
#include "../../common/secret.h"

#define UN_PAGE      200  /* the Integration API's largest page */
#define UN_MAX_ITEMS 5000 /* a bound on "every page" */

struct un_state {
	struct cx_http_client *http;
	bool legacy;              /* mode "legacy" */
	bool classic;             /* controller "classic": no /proxy/network, /api/login */
	char base[64];            /* path of the API below url: "/proxy/network/integration/v1" */
	long timeout_ms;          /* one backend request, when the call allows it */
	char *site;               /* the site a tool uses when none is named */
	struct cx_secret api_key; /* "X-API-KEY: ..." (integration) */
	char *username;           /* legacy */
	struct cx_secret password;
	/* The legacy session, shared by every worker; replaced under lock. */
	pthread_mutex_t lock;
	struct cx_secret cookie; /* "Cookie: TOKEN=..." or "Cookie: unifises=...", or empty */
	struct cx_secret csrf;   /* "X-CSRF-Token: ...", or empty */
};

/* GET base + path. *out: the Integration API's answer, or the legacy envelope's "data" (new
 * reference). */
int un_get(struct un_state *s, const struct cx_call *call, const char *path, json_t **out,
	   struct cx_err *err);
/* POST base + path with a JSON body (stolen). *out as un_get (json null when the answer has
 * no body). */
int un_post(struct un_state *s, const struct cx_call *call, const char *path, json_t *body,
	    json_t **out, struct cx_err *err);
/* Integration API: every page of path (a list), up to max items. *items a new array, *total
 * the totalCount the API reports. */
int un_list(struct un_state *s, const struct cx_call *call, const char *path, long max,
	    json_t **items, long *total, struct cx_err *err);
/* Legacy: logs in now, replacing any session. */
int un_login(struct un_state *s, const struct cx_call *call, struct cx_err *err);

#endif
