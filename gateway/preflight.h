/* What start-up checks before it starts anything, and --check-config runs too: everything
 * short of binding the port. */
#ifndef CX_PREFLIGHT_H
#define CX_PREFLIGHT_H

#include "../common/err.h"
#include "config.h"
#include "listen.h"

/* The listen address (parsed into *la when c->listen is set), the rule that a non-loopback
 * listener needs tokens (or insecure_no_auth), and that the audit file and the ended-sessions
 * file can be opened for appending (without creating them). Messages name where the value came
 * from: the flag, or the config file and its key. */
int cx_preflight(const struct cx_gw_config *c, struct cx_listen *la, struct cx_err *err);

/* That path (what: "audit file", ...) can be opened for appending, or created in an existing,
 * writable directory. Creates nothing. */
int cx_preflight_appendable(const char *what, const char *path, struct cx_err *err);

#endif
