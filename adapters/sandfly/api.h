/* The Sandfly Security API (/v4) as the adapter's tools see it: one authenticated JSON request,
 * and the token pair every worker shares. */
#ifndef CX_SANDFLY_API_H
#define CX_SANDFLY_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../common/adapter.h"
#include "../../common/http_client.h"
#include "../../common/secret.h"

/* A failed login is remembered this long: calls that waited for it get its sentence instead
 * of logging in again (a wrong password must not turn into one login per call). */
#define SF_LOGIN_FAIL_HOLD_MS 2000

struct sf_state {
	struct cx_http_client *http;
	char *url;       /* "https://sandfly.example.com", as configured */
	long timeout_ms; /* one backend request, when the call allows it */
	char *username;
	struct cx_secret password;
	/* One token pair for every worker. The lock is held across a login or a refresh, so a
	 * worker that finds the token refused refreshes once and the others wait for, then use,
	 * the new one. */
	pthread_mutex_t lock;
	struct cx_secret access;  /* "Authorization: Bearer <access_token>", or empty */
	struct cx_secret refresh; /* "Authorization: Bearer <refresh_token>", or empty */
	uint64_t gen;             /* counts access tokens; 0: none yet */
	int64_t login_failed_ms;  /* monotonic time of the last failed login; 0: none */
	char login_failed[CX_ERR_MSG_MAX];
};

/* One request to /v4<path> for call; body (borrowed, may be NULL) is sent as JSON. 0 with
 * *json the parsed answer (a new reference) and *status the HTTP status for a 2xx — or for a
 * 404 when allow_404 (then *json may be NULL); -1 with the sentence for the model in err
 * (transport failure, or an HTTP error with Sandfly's own detail and a hint). On a 401 the
 * token is refreshed (or, if that fails, a fresh login made) once and the request repeated. */
int sf_request(struct sf_state *s, const struct cx_call *call, const char *method, const char *path,
	       const json_t *body, bool allow_404, long *status, json_t **json, struct cx_err *err);

#endif
