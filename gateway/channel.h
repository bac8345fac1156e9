/* The gateway's side of struct cx_call_channel: what lets a running call talk to its client
 * (progress, log messages, requests such as sampling or elicitation), and the per-process
 * state those need: requests waiting for the client's answer and each session's log level. */
#ifndef CX_CHANNEL_H
#define CX_CHANNEL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/adapter.h"
#include "exchange.h"

struct cx_hub;

/* session_ttl_s bounds how long a subscription of a session that never said goodbye lives. */
struct cx_hub *cx_hub_new(long session_ttl_s);
void cx_hub_free(struct cx_hub *h);

/* logging/setLevel for a session (fp: its fingerprint, "" for stdio). 0, or -1 for a level
 * name that is not one of RFC 5424's eight. */
int cx_hub_set_level(struct cx_hub *h, const char *fp, const char *level);
/* A JSON-RPC response from a client (session fp, principal caller): wakes the call waiting
 * for it. False when no request of this process has that id for that session and caller
 * (already answered, timed out, asked of someone else, or sent by another replica). */
bool cx_hub_deliver(struct cx_hub *h, const char *fp, const char *caller, const json_t *response);
/* Forgets what a session left behind (its log level and subscriptions). */
void cx_hub_forget(struct cx_hub *h, const char *fp);

/* resources/subscribe and unsubscribe for a session. 0, or -1 when the table is full. */
int cx_hub_subscribe(struct cx_hub *h, const char *fp, const char *uri);
/* The same for every URI that starts with prefix (a transport's own key: GET /v1/events). */
int cx_hub_subscribe_prefix(struct cx_hub *h, const char *fp, const char *prefix);
/* Drops fp's subscription to uri (or prefix). */
void cx_hub_unsubscribe(struct cx_hub *h, const char *fp, const char *uri);
/* The sessions subscribed to uri: calls fn(ctx, fp) for each. */
void cx_hub_each_subscriber(struct cx_hub *h, const char *uri,
			    void (*fn)(void *ctx, const char *fp), void *ctx);

struct cx_call_channel {
	struct cx_hub *hub;
	pthread_mutex_t lock;   /* x and closed */
	struct cx_exchange *x;  /* NULL once the call has been answered */
	const char *caller;     /* the principal's name (lives as long as the server) */
	json_t *progress_token; /* new reference, or NULL */
	json_t *client_caps;    /* new reference, or NULL */
	char fp[17];
	atomic_bool *cancelled;
	int64_t deadline_ms;
	double last_progress; /* progress must increase */

	/* The stateless revision: requests to the client become an input-required result. */
	bool stateless;
	int level;               /* log level of this request; -1: the session's */
	json_t *input_responses; /* the client's answers so far (object, new reference) */
	json_t *input_requests;  /* what the call still needs (object), or NULL */
	char missing_cap[32];    /* a capability the call needed and the client lacks */
	unsigned next_key;       /* names requests made without a key: r1, r2 ... */
};

/* Stateless requests: the answers the client sent (steals responses, an object). */
void cx_channel_set_responses(struct cx_call_channel *ch, json_t *responses);

/* x is the exchange the call came in on; params the request's params (for _meta). */
void cx_channel_init(struct cx_call_channel *ch, struct cx_hub *hub, struct cx_exchange *x,
		     const json_t *params, atomic_bool *cancelled, int64_t deadline_ms);
/* Level name to index (0 debug .. 7 emergency), -1 for an unknown name. */
int cx_log_level_index(const char *name);

/* Called just before the call is answered: nothing is sent on the exchange after this. */
void cx_channel_close(struct cx_call_channel *ch);
void cx_channel_release(struct cx_call_channel *ch);

#endif
