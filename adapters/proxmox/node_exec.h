/* proxmox_node_exec: an allow-listed command on a Proxmox node over SSH (common/ssh.h), and
 * its configuration, the "ssh" object of the proxmox adapter:
 *
 *   "ssh": {"user": "root", "key": {"file": "/etc/cortex/ssh/id_ed25519"},
 *           "passphrase": {"env": "PVE_SSH_PASSPHRASE"},        (only for an encrypted key)
 *           "known_hosts": "/etc/cortex/ssh/known_hosts",
 *           "hosts": {"pve1": "10.0.0.11", "pve2": {"address": "10.0.0.12", "port": 2222}},
 *           "allow": ["uptime", "journalctl -u UNIT -n N"],     (default: px_allow_defaults)
 *           "connect_timeout_ms": 10000, "timeout_ms": 30000, "max_output_bytes": 65536} */
#ifndef CX_PROXMOX_NODE_EXEC_H
#define CX_PROXMOX_NODE_EXEC_H

#include <jansson.h>

#include "../../common/adapter.h"
#include "../../common/err.h"
#include "../../common/mcp.h"

struct px_ssh;

/* Reads the "ssh" object (borrowed): every key checked, the key and passphrase loaded,
 * known_hosts read. NULL with err naming the key ("ssh.hosts.pve1.port: ...") when bad. */
struct px_ssh *px_ssh_new(const json_t *conf, struct cx_err *err);
void px_ssh_free(struct px_ssh *s);
/* true when the allow-list is the read-only default (or inside it). */
bool px_ssh_read_only(const struct px_ssh *s);

int px_node_exec(struct cx_call *call, const json_t *args, struct cx_result *res);

#endif
