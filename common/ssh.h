/* One command on a remote host over SSH (libssh2), bounded by the MCP call it serves.
 *
 * - The host key is pinned by an OpenSSH known_hosts file, read again at every connection.
 *   The key the server shows must be listed for the address as OpenSSH writes it: "address"
 *   for port 22, "[address]:port" otherwise, as a plain name (several per line, comma
 *   separated) or hashed (|1|salt|hash, HashKnownHosts). Only the key types listed for the
 *   host are negotiated, as OpenSSH does. An unknown host, a changed key, or a key marked
 *   @revoked is refused before any credential is sent, and the sentence gives the key's SHA256
 *   fingerprint so an operator can check it. Nothing is ever added to the file.
 * - Public-key authentication with a private key held in memory; the key and its passphrase
 *   never reach a log line or a message.
 * - The socket is non-blocking and every wait lasts at most CX_SSH_SLICE_MS, so a cancelled
 *   call (cx_call_cancelled) or a passed deadline closes the channel and the connection
 *   within about that long.
 * - stdout and stderr are kept apart, each capped; what passes the cap is read and dropped,
 *   so the command can finish and report its exit status. */
#ifndef CX_SSH_H
#define CX_SSH_H

#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"
#include "buf.h"
#include "err.h"
#include "secret.h"

#define CX_SSH_SLICE_MS 50

/* err->code after cx_ssh_exec fails. */
enum cx_ssh_failure {
	CX_SSH_CONNECT = 1, /* name resolution, TCP connection, SSH handshake, or all that
			     * not done within connect_timeout_ms */
	CX_SSH_HOSTKEY,     /* unknown host, changed or revoked key, unreadable known_hosts */
	CX_SSH_AUTH,        /* the server refused the key, or the key could not be used */
	CX_SSH_TIMEOUT,     /* the command ran past timeout_ms */
	CX_SSH_CANCELLED,   /* the call was cancelled or reached its deadline */
	CX_SSH_PROTOCOL,    /* the channel or the command could not be started */
};

struct cx_ssh_target {
	const char *name;                   /* what messages call the host: "pve1" */
	const char *address;                /* connected to, and looked up in known_hosts */
	int port;                           /* 22 */
	const char *user;                   /* "root" */
	const struct cx_secret *key;        /* private key, PEM or OpenSSH format */
	const struct cx_secret *passphrase; /* NULL or empty: the key is not encrypted */
	const char *known_hosts;            /* OpenSSH known_hosts file */
};

struct cx_ssh_limits {
	long connect_timeout_ms; /* TCP connection, handshake, host key and authentication */
	long timeout_ms;         /* the command, from its start to its exit */
	size_t max_output;       /* bytes kept of stdout, and of stderr */
};

struct cx_ssh_output {
	struct cx_buf out, err; /* what was kept of stdout and stderr (may hold any bytes) */
	bool out_truncated, err_truncated;
	int exit_status;      /* the command's exit status; -1 when none was reported */
	char exit_signal[32]; /* the signal that ended it ("TERM"), or "" */
	long duration_ms;     /* from the start of the connection */
};

/* Runs command on t for call (its deadline and cancellation bound everything; NULL: only the
 * limits do). 0 when the command ran to its end, whatever its exit status; -1 with err (code
 * an enum cx_ssh_failure, msg a sentence naming the host) otherwise. out always holds what the
 * command printed before the end or the failure; release it either way. */
int cx_ssh_exec(const struct cx_ssh_target *t, const char *command, const struct cx_call *call,
		const struct cx_ssh_limits *lim, struct cx_ssh_output *out, struct cx_err *err);
void cx_ssh_output_release(struct cx_ssh_output *out);

/* The lookup name OpenSSH uses in known_hosts: "address", or "[address]:port" when port is
 * not 22. false when it does not fit. */
bool cx_ssh_known_hosts_name(const char *address, int port, char *out, size_t outlen);
/* How many key types (ed25519, ecdsa-256, rsa ...) the known_hosts file lists for
 * address:port, 0 when none (@revoked and @cert-authority lines do not count); -1 with err
 * when the file cannot be read. */
int cx_ssh_known_hosts_count(const char *path, const char *address, int port, struct cx_err *err);

/* Process-wide libssh2 set-up; safe to call more than once and from any thread. 0 or -1. */
int cx_ssh_global_init(void);

#endif
