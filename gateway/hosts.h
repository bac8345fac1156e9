/* Which Host values a listener accepts. Loopback names always, http.allowed_hosts, and on a
 * non-loopback listener the names a client on another machine uses to reach this one: the
 * listener's addresses (every interface's for 0.0.0.0 or ::) and the host name. Accepting
 * them does not weaken the DNS-rebinding check: a page that rebinds its own name to this
 * machine still sends its own name as Host. */
#ifndef CX_HOSTS_H
#define CX_HOSTS_H

#include <ifaddrs.h>
#include <stddef.h>

#include "../common/err.h"
#include "config.h"
#include "listen.h"

/* The listener's own names as Host values ("192.0.2.2", "[fd00::2]", "vm"), without
 * loopback addresses and IPv6 link-local ones (a Host cannot carry their zone); an empty
 * list for a loopback listener. ifs is a getifaddrs() list, hostname gethostname()'s answer
 * (either may be NULL). NULL-terminated, freed with cx_hosts_free; NULL on out of memory. */
char **cx_hosts_own(const struct cx_listen *la, const struct ifaddrs *ifs, const char *hostname);
/* The same for this machine, now. */
char **cx_hosts_own_now(const struct cx_listen *la);
void cx_hosts_free(char **v);

/* Adds own to c->allowed_hosts (those not already there). */
int cx_hosts_extend(struct cx_gw_config *c, char *const *own, struct cx_err *err);

/* The policy in one line, for the start-up log: "Host: loopback names, http.allowed_hosts
 * (a), this machine (192.0.2.2, vm); Origin: none, or a loopback origin". Call it before
 * cx_hosts_extend, so that the configured list and the machine's names are told apart. */
void cx_hosts_describe(const struct cx_gw_config *c, char *const *own, char *out, size_t outlen);

#endif
