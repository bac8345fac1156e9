/* Sandfly simulator: the state sandfly.c keeps (users, tokens, sandflies, hosts, scans) and
 * sandfly_results.c searches (results). Private to the two. */
#ifndef SIM_SANDFLY_H
#define SIM_SANDFLY_H

#include "sim.h"

#define SF_MAX_RESULTS 100000
#define SF_MAX_TOKENS  10000

struct sf_state {
	json_t *users;     /* username -> password */
	json_t *tokens;    /* token -> {"kind": "access"|"refresh", "exp": monotonic ms} */
	json_t *sandflies; /* [{name, type, severity, engine, active, alert_hosts: [hostname]}] */
	json_t *hosts;     /* host summary records, as served (the results_* counts added then) */
	json_t *results;   /* full Result objects, oldest first */
	long access_ttl_ms, refresh_ttl_ms;
	json_int_t next_seq; /* the next result's sequence_id */
	unsigned long runs;  /* scans started, for run ids */
};

extern struct sf_state sfs;

/* Sandfly's StandardResponse: {"status": N, "detail": "...", "data": ""}. */
json_t *sf_error_body(unsigned int status, const char *detail);
void sf_fail(struct sim_response *resp, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A host by host_id or host_sequence_id (decimal), or NULL. Borrowed. */
json_t *sf_find_host(const char *id);
/* A new full Result for sandfly on host (both borrowed), appended to the state. -1 when the
 * state is full. */
int sf_add_result(const json_t *host, const json_t *sandfly, const char *status,
		  const char *end_time, const char *run_id, bool manual);
/* Sets results_alert, results_error, results_pass and results_total of host. */
void sf_count_results(json_t *host);
/* Seconds since the epoch of an RFC 3339 date-time ("2024-05-01T10:00:00Z", fraction and
 * offset allowed) or a date ("2024-05-01"); false when s is neither. */
bool sf_parse_time(const char *s, int64_t *out);

/* POST /results with a ResultsSearch body; GET /results/{result_id}. */
void sf_search_results(const struct sim_request *req, struct sim_response *resp);
void sf_get_result(const char *id, struct sim_response *resp);

#endif
