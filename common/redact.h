/* What of a tool call's arguments may be written down: the audit log's redaction. A value goes
 * when its key names a secret (password, token, api_key, private_key, sessionId, bearer, …,
 * matched by word, so progressToken, max_tokens and public_key stay) or when the value itself
 * looks like one whatever its key (Bearer and Basic credentials, PVEAPIToken= and
 * PVEAuthCookie=, JWTs, PEM private keys, cloud and SaaS keys by their published prefixes).
 * Long strings are cut. */
#ifndef CX_REDACT_H
#define CX_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CX_REDACTED "[redacted]"

/* True when an object key names a secret. */
bool cx_redact_key(const char *key);
/* True when a string value looks like a credential wherever it stands. */
bool cx_redact_value(const char *s, size_t len);

/* v with secret values replaced by "[redacted]" and strings longer than max_string bytes cut
 * (with "…[cut: N more bytes]" after the part kept; 0: no cut), *cut set when one was. A new
 * reference — v itself when nothing changes — or NULL on out of memory. v is not modified. */
json_t *cx_redact(const json_t *v, size_t max_string, bool *cut);

#endif
