/* The Cloudflare API v4 as the adapter's tools see it: requests that unwrap its envelope
 * ({success, errors, messages, result, result_info}), every page of a list, and zones found
 * by name. Each int function returns 0, or -1 with the sentence for the model in err. */
#ifndef CX_CLOUDFLARE_API_H
#define CX_CLOUDFLARE_API_H

#include <jansson.h>

#include "../../common/adapter.h"
#include "../../common/http_client.h"
#include "../../common/secret.h"

#define CF_DEFAULT_URL "https://api.cloudflare.com/client/v4"
#define CF_MAX_PAGES   200 /* a bound on "every page" */

struct cf_state {
	struct cx_http_client *http;
	struct cx_secret auth; /* "Authorization: Bearer <token>" */
	char *account_id;      /* optional: zones of this account only */
	long timeout_ms;
};

/* method path with an optional JSON body (stolen). *result the envelope's result (new
 * reference) and, when info is not NULL, *info its result_info (new reference or NULL). */
int cf_request(struct cf_state *s, const struct cx_call *call, const char *method, const char *path,
	       json_t *body, json_t **result, json_t **info, struct cx_err *err);

/* GET path (its query without page/per_page, may be empty) one page (page > 0) or every page
 * (page 0, at most CF_MAX_PAGES), per_page items a page. *items a new array; *total the
 * total_count Cloudflare reports (or the number fetched). */
int cf_list(struct cf_state *s, const struct cx_call *call, const char *path, long page,
	    long per_page, json_t **items, long *total, struct cx_err *err);

/* The zone id args name: "zone_id" as given, or "zone" (a name) looked up. out gets 33
 * bytes. */
int cf_zone_id(struct cf_state *s, const struct cx_call *call, const json_t *args, char *out,
	       size_t outlen, struct cx_err *err);

#endif
