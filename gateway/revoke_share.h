/* Ended sessions shared by the gateways of one deployment through the Redis task store
 * (http.ended_sessions_shared): a DELETE answered by one replica ends the session on every
 * replica that has the same http.session_key, within milliseconds, and for a replica started
 * later too. */
#ifndef CX_REVOKE_SHARE_H
#define CX_REVOKE_SHARE_H

#include <jansson.h>
#include <stdint.h>

#include "../common/err.h"

/* Reads what the other gateways ended so far from the Redis that tasks (the "tasks" config
 * object, store "redis") names — a warning, not a failure, when it does not answer; it is
 * read as soon as it does — then follows it on a thread of its own, and from now on adds
 * every change revoke.c makes, keeping ttl_s seconds (http.session_ttl_s) of them. 0, or -1
 * with err (a bad tasks object, no thread). */
int cx_revoke_share_start(const json_t *tasks, int64_t ttl_s, struct cx_err *err);
/* fn(fingerprint, ctx) for every session another gateway ended (fn NULL: none), so this one
 * can close its streams. */
void cx_revoke_share_on_ended(void (*fn)(const char *fp, void *ctx), void *ctx);
/* Stops following and sharing (at shutdown; harmless when never started). */
void cx_revoke_share_stop(void);

#endif
