/* Sessions are sealed state, not table entries: the id is the session itself, encrypted and
 * authenticated with the server key (AES-256-GCM), so any replica that holds the key can
 * serve any request and no shared session store is needed. */
#ifndef CX_SESSION_H
#define CX_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CX_SESSION_KEY_LEN 32
#define CX_SESSION_ID_MAX  4096 /* a longer Mcp-Session-Id is refused */

struct cx_session {
	char version[16];    /* negotiated protocol version */
	json_t *client_caps; /* object (new reference) or NULL */
	json_t *client_info; /* object (new reference) or NULL */
	int64_t issued_s;    /* unix seconds */
	char subject[65];    /* the principal that created it ("" for none): a session
			      * is only valid for the token that initialized it */
	char fp[17];         /* short fingerprint for logs and audit, hex */
};

enum cx_session_status {
	CX_SESSION_OK,
	CX_SESSION_INVALID,
	CX_SESSION_EXPIRED
};

void cx_session_init(struct cx_session *s);
void cx_session_release(struct cx_session *s);

/* Seals s into a new session id (caller frees). NULL on out of memory or when the state is
 * too large for CX_SESSION_ID_MAX (client info is trimmed first). Sets s->fp. */
char *cx_session_seal(const unsigned char key[CX_SESSION_KEY_LEN], struct cx_session *s);
/* Opens id; fills out (release it) when OK. ttl_s <= 0 means no expiry. */
enum cx_session_status cx_session_open(const unsigned char key[CX_SESSION_KEY_LEN], const char *id,
				       long ttl_s, struct cx_session *out);

/* Other state handed to clients and taken back (the request state of multi-round results):
 * sealed the same way under a two-character kind ("r1") that is authenticated with it, so a
 * session id never opens as request state or the other way round. */
#define CX_SEALED_MAX (256u << 10)
char *cx_seal_json(const unsigned char key[CX_SESSION_KEY_LEN], const char *kind,
		   const json_t *doc);
/* NULL for anything tampered with, truncated, of another kind or key. */
json_t *cx_unseal_json(const unsigned char key[CX_SESSION_KEY_LEN], const char *kind,
		       const char *text);

/* Forgets the ids cx_session_open remembers (at shutdown, and in tests). */
void cx_session_cache_clear(void);

#endif
