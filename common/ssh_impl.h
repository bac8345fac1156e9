/* Between common/ssh.c (the connection and the command) and common/ssh_known_hosts.c (host
 * keys pinned by an OpenSSH known_hosts file). Not for adapters: they use ssh.h. */
#ifndef CX_SSH_IMPL_H
#define CX_SSH_IMPL_H

#include <libssh2.h>
#include <stddef.h>

#include "err.h"

/* A known_hosts file as read for one connection. */
struct ssh_known {
	LIBSSH2_KNOWNHOSTS *hosts; /* every usable line */
	char **revoked;            /* base64 key blobs of @revoked lines */
	size_t nrevoked;
};

enum ssh_known_verdict {
	SSH_KNOWN_MATCH,    /* listed for the host with this very key */
	SSH_KNOWN_MISMATCH, /* the host is listed with another key of this type */
	SSH_KNOWN_NOTFOUND, /* no key of this type is listed for the host */
	SSH_KNOWN_REVOKED,  /* the key is marked @revoked */
	SSH_KNOWN_FAILURE,  /* out of memory, or a key type the file cannot hold */
};

/* Reads path into k (session only owns the memory). Lines libssh2 cannot parse are skipped,
 * as OpenSSH skips them; @cert-authority lines too (certificates are not supported). 0, or -1
 * with err when the file cannot be read. */
int ssh_known_load(LIBSSH2_SESSION *session, const char *path, struct ssh_known *k,
		   struct cx_err *err);
void ssh_known_release(struct ssh_known *k);

/* The host key algorithms to offer for name (a cx_ssh_known_hosts_name), best first, among
 * those this libssh2 supports ("ssh-ed25519,ecdsa-sha2-nistp256"): only the types the file
 * lists for the host, so a server with several keys shows the pinned one; every supported
 * one, in OpenSSH's order (ed25519 first), for a host the file does not list. */
void ssh_known_algorithms(LIBSSH2_SESSION *session, const struct ssh_known *k, const char *name,
			  char *out, size_t outlen);
/* How many key types are listed for name. */
int ssh_known_types(const struct ssh_known *k, const char *name);

/* Checks the server's key (raw blob from libssh2_session_hostkey, of LIBSSH2_HOSTKEY_TYPE_*
 * type) against the file. */
enum ssh_known_verdict ssh_known_check(const struct ssh_known *k, const char *name, const char *key,
				       size_t len, int type);

#endif
