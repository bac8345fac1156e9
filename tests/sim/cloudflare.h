/* Cloudflare simulator: the state cloudflare.c keeps (zones, tokens, routing) and
 * cloudflare_dns.c changes (DNS records), and the envelope and list helpers both use. Private
 * to the two. */
#ifndef SIM_CLOUDFLARE_H
#define SIM_CLOUDFLARE_H

#include "sim.h"

#define MAX_RECORDS 100000

struct cf_state {
	json_t *tokens;  /* array of strings */
	json_t *zones;   /* array of zone objects, as served */
	json_t *records; /* zone id -> array of record objects, as served */
	size_t n_records;
};

extern struct cf_state cf;

/* {"success": false, "errors": [{code, message}], "messages": [], "result": null} */
void cf_fail(struct sim_response *resp, unsigned int status, int code, const char *msg);
/* {"success": true, ..., "result": result, "result_info": info}; steals both (info may be
 * NULL). */
void cf_ok(struct sim_response *resp, json_t *result, json_t *info);
const char *cf_zone_name(const json_t *zone);
/* page and per_page from the query (per_page in [min, max], def when absent): false with a 400
 * in resp when out of range. */
bool cf_paging(const struct sim_request *req, long min, long max, long def, long *page,
	       long *per_page, struct sim_response *resp);
/* Orders matches (stolen) by the field order, then answers with one page and result_info. */
void cf_send_page(struct sim_response *resp, json_t *matches, const char *order, bool desc,
		  long page, long per_page);
/* ?order= if it is one of allowed (NULL-terminated), else allowed[0]; ?direction=desc. */
const char *cf_order_param(const struct sim_request *req, const char *const *allowed, bool *desc);
/* Cloudflare's string filter operators (exact, contains, starts_with, ...), case-insensitive. */
bool cf_str_match(const char *have, const char *op, const char *want);
/* A record from config or a client's body (borrowed), validated and completed with id, zone
 * and times; new reference, or NULL with the error_chain code in *code and msg set. */
json_t *cf_make_record(const json_t *zone, const json_t *in, const char *id, int *code, char *msg,
		       size_t msglen);
/* Checks rec as the DNS API does, normalises its name, fills defaults: 0 or the code. */
int cf_validate(const json_t *zone, json_t *rec, char *msg, size_t msglen);
/* /zones/{zone}/dns_records, and /{rid} when rid is not NULL. */
void cf_dns_route(const struct sim_request *req, const json_t *zone, const char *rid,
		  struct sim_response *resp);

#endif
