/* Ended sessions. A sealed session id is valid until it expires, so ending one early (HTTP
 * DELETE) means remembering it: by fingerprint, until it would have expired anyway. The list
 * is per process (see docs/OPERATIONS.md, "Several replicas"), kept across restarts when
 * http.ended_sessions_file names a file for it.
 *
 * It is bounded per subject (the token that created the session), never globally, so no
 * client can fill it for another: a subject keeps at most max entries (the config's
 * http.max_ended_sessions), and ending one more moves that subject's "not before" to now, which
 * ends every session it was issued before this second at once and frees its entries. Ending a
 * session therefore always works, and an ended session never comes back; a token that churns
 * sessions ends only its own. */
#ifndef CX_REVOKE_H
#define CX_REVOKE_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"
#include "session.h"

/* Ends s until expires_s (unix seconds), listing at most max sessions of its subject. 0, or
 * -1 for a fingerprint cx_session_seal did not make, or out of memory. */
int cx_session_revoke(const struct cx_session *s, int64_t expires_s, size_t max);
/* True when s was ended: listed, or issued before its subject's "not before". */
bool cx_session_revoked(const struct cx_session *s);
/* Keeps the ended sessions in path from now on (http.ended_sessions_file): the ones it lists
 * are read back as they were listed (a subject's bound applies to the DELETEs that follow,
 * never to the reading), the file rewritten with only what still needs listing, and every
 * later change appended and fdatasync'd. 0, or -1 with err (unreadable, unwritable, or not a
 * file of ended sessions). */
int cx_session_revoked_open(const char *path, struct cx_err *err);
/* Applies one line of the ended-sessions format ({"fp","sub","issued","expires"} or
 * {"sub","not_before"}) heard from another gateway, as the file's lines are read back; false
 * when it is not one. fp (when not NULL): the ended session's fingerprint, "" for a "not
 * before". */
bool cx_session_revoked_apply(const char *line, size_t len, char fp[17]);
/* fn (NULL: none) is given the lines of every change made here (one or two, each ending in
 * '\n'), after the file and before DELETE answers (revoke_share.c). */
void cx_session_revoked_on_change(void (*fn)(const char *lines, size_t len));
/* Forgets every ended session (at shutdown, and in tests). */
void cx_session_revoked_clear(void);
/* For tests and logs: live entries listed for subject, and its "not before" (0: none). */
size_t cx_session_revoked_count(const char *subject, int64_t *not_before_s);

#endif
