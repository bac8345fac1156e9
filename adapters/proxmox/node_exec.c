/* proxmox_node_exec: configuration ("ssh" in the proxmox adapter's object) and the handler.
 * The command is checked against the allow-list (exec_allow.c) before any connection; the
 * connection, the host key and the command are common/ssh.c's. */
#include "node_exec.h"

#include <stdlib.h>
#include <string.h>

#include <libssh2.h>
#include <openssl/crypto.h>

#include "../../common/adapter_conf.h"
#include "../../common/log.h"
#include "../../common/secret.h"
#include "../../common/ssh.h"
#include "../../common/util.h"
#include "api.h"
#include "exec_allow.h"

#define NODE_NAME_MAX 63

struct px_ssh_host {
	char *name;
	char *address;
	int port;
};

struct px_ssh {
	char *user;
	struct cx_secret key;
	struct cx_secret passphrase;
	char *known_hosts;
	struct px_ssh_host *hosts;
	size_t nhosts;
	struct px_allow *allow;
	struct cx_ssh_limits lim;
};

static const char *const ssh_keys[] = { "user",
					"key",
					"passphrase",
					"known_hosts",
					"hosts",
					"allow",
					"connect_timeout_ms",
					"timeout_ms",
					"max_output_bytes",
					NULL };

bool px_ssh_read_only(const struct px_ssh *s)
{
	return !s || px_allow_read_only(s->allow);
}

void px_ssh_free(struct px_ssh *s)
{
	if (!s)
		return;
	free(s->user);
	cx_secret_release(&s->key);
	cx_secret_release(&s->passphrase);
	free(s->known_hosts);
	for (size_t i = 0; i < s->nhosts; i++) {
		free(s->hosts[i].name);
		free(s->hosts[i].address);
	}
	free(s->hosts);
	px_allow_free(s->allow);
	free(s);
}

static int long_key(const json_t *conf, const char *key, long min, long max, long *out,
		    struct cx_err *err)
{
	const json_t *v = json_object_get(conf, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return cx_err_set(err, "'ssh.%s' must be an integer from %ld to %ld", key, min,
				  max);
	*out = (long)json_integer_value(v);
	return 0;
}

/* A plain string without blanks or control characters, of 1 to max bytes. */
static bool plain_string(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);

	if (!s || !*s || strlen(s) > max || strlen(s) != json_string_length(v))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static bool node_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > NODE_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

/* "pve1": "10.0.0.11" or "pve1": {"address": "10.0.0.11", "port": 2222}. */
static int parse_host(struct px_ssh_host *h, const char *name, const json_t *v, struct cx_err *err)
{
	const json_t *addr = v, *port = NULL, *val;
	const char *key;
	long p = 22;

	if (!node_name_ok(name))
		return cx_err_set(err,
				  "'ssh.hosts': '%.64s' is not a node name ([A-Za-z0-9._-], "
				  "at most %d)",
				  name, NODE_NAME_MAX);
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, val)
			if (strcmp(key, "address") && strcmp(key, "port"))
				return cx_err_set(err,
						  "unknown key 'ssh.hosts.%s.%s' (known: "
						  "address, port)",
						  name, key);
		addr = json_object_get(v, "address");
		port = json_object_get(v, "port");
	}
	if (!plain_string(addr, 253))
		return cx_err_set(err,
				  "'ssh.hosts.%s' must be an address (\"10.0.0.11\") or "
				  "{\"address\": ..., \"port\": ...}",
				  name);
	if (port && (!json_is_integer(port) || json_integer_value(port) < 1 ||
		     json_integer_value(port) > 65535))
		return cx_err_set(err, "'ssh.hosts.%s.port' must be an integer from 1 to 65535",
				  name);
	if (port)
		p = (long)json_integer_value(port);
	h->name = strdup(name);
	h->address = strdup(json_string_value(addr));
	h->port = (int)p;
	return h->name && h->address ? 0 : cx_err_set(err, "out of memory");
}

static int parse_hosts(struct px_ssh *s, const json_t *hosts, struct cx_err *err)
{
	const char *name;
	json_t *v;

	if (!json_is_object(hosts) || !json_object_size(hosts))
		return cx_err_set(err, "'ssh.hosts' must map node names to addresses: {\"pve1\": "
				       "\"10.0.0.11\"}");
	s->hosts = calloc(json_object_size(hosts), sizeof(*s->hosts));
	if (!s->hosts)
		return cx_err_set(err, "out of memory");
	json_object_foreach((json_t *)hosts, name, v) {
		if (parse_host(&s->hosts[s->nhosts++], name, v, err))
			return -1;
	}
	return 0;
}

#if LIBSSH2_VERSION_NUM < 0x010b00
/* An RSA key: PEM "BEGIN RSA", or an OpenSSH-format key whose public part (never encrypted)
 * names ssh-rsa. The body is decoded into a buffer that is wiped afterwards. */
static bool key_is_rsa(const struct cx_secret *key)
{
	const char *k = (const char *)key->data, *p = strchr(k, '\n');
	unsigned char *b64 = malloc(key->len + 1), *raw = malloc(key->len + 1);
	size_t n = 0;
	long len = -1;
	bool rsa = strstr(k, "BEGIN RSA PRIVATE KEY") != NULL;

	if (!rsa && p && b64 && raw && strstr(k, "BEGIN OPENSSH PRIVATE KEY")) {
		for (p++; *p && *p != '-'; p++)
			if (*p != '\n' && *p != '\r')
				b64[n++] = (unsigned char)*p;
		len = cx_b64_decode((const char *)b64, n, raw, key->len + 1);
		rsa = len > 11 && memmem(raw, (size_t)len, "\0\0\0\7ssh-rsa", 11);
	}
	if (b64)
		OPENSSL_cleanse(b64, key->len + 1);
	if (raw)
		OPENSSL_cleanse(raw, key->len + 1);
	free(b64);
	free(raw);
	return rsa;
}
#endif

/* A private key, not its public half or something else given by mistake. */
static int check_key(const struct cx_secret *key, struct cx_err *err)
{
	const char *k = (const char *)key->data;

	if (strncmp(k, "-----BEGIN ", 11) || !strstr(k, "PRIVATE KEY-----"))
		return cx_err_set(err, "'ssh.key' must hold a private key (-----BEGIN ... PRIVATE "
				       "KEY-----), not a public key or anything else");
#if LIBSSH2_VERSION_NUM < 0x010b00
	if (key_is_rsa(key))
		cx_warn("proxmox: 'ssh.key' is an RSA key: libssh2 %s signs with ssh-rsa (SHA-1), "
			"which OpenSSH 8.8 and later refuse; use an Ed25519 or ECDSA key",
			LIBSSH2_VERSION);
#endif
	return 0;
}

/* Every host should be in known_hosts already; one that is not is refused at each call, so
 * say it now. Not an error: the file may be completed while the gateway runs. */
static int check_known_hosts(const struct px_ssh *s, struct cx_err *err)
{
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct px_ssh_host *h = &s->hosts[i];
		int n = cx_ssh_known_hosts_count(s->known_hosts, h->address, h->port, err);
		char name[300];

		if (n < 0)
			return cx_err_prefix(err, "'ssh.known_hosts': ");
		if (!n && cx_ssh_known_hosts_name(h->address, h->port, name, sizeof(name)))
			cx_warn("proxmox: ssh host '%s' has no key under '%s' in known_hosts '%s'; "
				"proxmox_node_exec refuses it until one is added",
				h->name, name, s->known_hosts);
	}
	return 0;
}

static int parse_strings(struct px_ssh *s, const json_t *conf, struct cx_err *err)
{
	const json_t *user = json_object_get(conf, "user"),
		     *kh = json_object_get(conf, "known_hosts");

	if (!plain_string(user, 64))
		return cx_err_set(err, "'ssh.user' must be the remote user name, e.g. \"root\"");
	if (!plain_string(kh, 4096))
		return cx_err_set(err, "'ssh.known_hosts' must be the path of an OpenSSH "
				       "known_hosts file that lists every host's key");
	s->user = strdup(json_string_value(user));
	s->known_hosts = strdup(json_string_value(kh));
	return s->user && s->known_hosts ? 0 : cx_err_set(err, "out of memory");
}

static int parse_limits(struct px_ssh *s, const json_t *conf, struct cx_err *err)
{
	long max_output = 65536;

	s->lim.connect_timeout_ms = 10000;
	s->lim.timeout_ms = 30000;
	if (long_key(conf, "connect_timeout_ms", 100, 600000, &s->lim.connect_timeout_ms, err) ||
	    long_key(conf, "timeout_ms", 100, 3600000, &s->lim.timeout_ms, err) ||
	    long_key(conf, "max_output_bytes", 256, 1 << 20, &max_output, err))
		return -1;
	s->lim.max_output = (size_t)max_output;
	return 0;
}

struct px_ssh *px_ssh_new(const json_t *conf, struct cx_err *err)
{
	struct px_ssh *s = calloc(1, sizeof(*s));
	const json_t *pass;

	if (!s) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	if (!json_is_object(conf)) {
		cx_err_set(err, "'ssh' must be an object (user, key, known_hosts, hosts, ...)");
		goto fail;
	}
	if (cx_aconf_keys(conf, ssh_keys, "ssh.", err) || parse_strings(s, conf, err) ||
	    parse_limits(s, conf, err) || parse_hosts(s, json_object_get(conf, "hosts"), err))
		goto fail;
	s->allow = px_allow_new(json_object_get(conf, "allow"), err);
	if (!s->allow) {
		cx_err_prefix(err, "ssh.");
		goto fail;
	}
	if (cx_secret_load(json_object_get(conf, "key"), &s->key, "ssh.key", err) ||
	    check_key(&s->key, err))
		goto fail;
	pass = json_object_get(conf, "passphrase");
	if (pass && cx_secret_load(pass, &s->passphrase, "ssh.passphrase", err))
		goto fail;
	if (cx_ssh_global_init()) {
		cx_err_set(err, "libssh2 could not start");
		goto fail;
	}
	if (check_known_hosts(s, err))
		goto fail;
	if (!px_allow_read_only(s->allow))
		cx_warn("proxmox: ssh.allow goes beyond the read-only default list; "
			"proxmox_node_exec runs whatever it matches");
	return s;
fail:
	px_ssh_free(s);
	return NULL;
}

/* Command output need not be UTF-8 (jansson refuses such strings): every byte that does not
 * start a valid sequence becomes U+FFFD, so the rest is not lost. */
static json_t *output_string(const struct cx_buf *b)
{
	const unsigned char *p = (const unsigned char *)(b->data ? b->data : "");
	json_t *v = json_stringn((const char *)p, b->len);
	struct cx_buf fixed = CX_BUF_INIT(3 * b->len + 1);

	if (v)
		return v;
	for (size_t i = 0; i < b->len;) {
		size_t k = cx_utf8_seq_len(p + i, b->len - i);

		if (cx_buf_append(&fixed, k ? (const char *)p + i : "\xef\xbf\xbd", k ? k : 3))
			break;
		i += k ? k : 1;
	}
	v = json_stringn(fixed.data ? fixed.data : "", fixed.len);
	cx_buf_release(&fixed);
	return v;
}

static const struct px_ssh_host *find_host(const struct px_ssh *s, const char *node)
{
	for (size_t i = 0; i < s->nhosts; i++)
		if (!strcmp(s->hosts[i].name, node))
			return &s->hosts[i];
	return NULL;
}

static void join_hosts(const struct px_ssh *s, struct cx_buf *b)
{
	for (size_t i = 0; i < s->nhosts; i++)
		cx_buf_printf(b, "%s%s", i ? ", " : "", s->hosts[i].name);
}

static int refuse(const struct px_ssh *s, const struct cx_err *why, struct cx_result *res)
{
	struct cx_buf list = CX_BUF_INIT(3000);
	int rc;

	for (size_t i = 0; i < px_allow_count(s->allow); i++)
		cx_buf_printf(&list, "%s%s", i ? "; " : "", px_allow_at(s->allow, i));
	if (why->code == PX_ALLOW_METACHAR)
		rc = cx_result_errorf(res,
				      "refused: %s; shell metacharacters, quotes and blanks other "
				      "than single spaces are never passed to a node (words are "
				      "letters, digits and _-./:=@%%+,). Allowed commands: %s",
				      why->msg, list.data ? list.data : "");
	else
		rc = cx_result_errorf(res,
				      "refused: %s on this gateway. Allowed commands (N is a whole "
				      "number, VMID a guest id, UNIT a systemd unit, NAME a plain "
				      "name, PATH an absolute path): %s",
				      why->msg, list.data ? list.data : "");
	cx_buf_release(&list);
	return rc;
}

/* What to try after each kind of failure, for the model. */
static const char *hint(int code)
{
	switch (code) {
	case CX_SSH_HOSTKEY:
		return "only the operator can fix the host key (known_hosts); do not retry";
	case CX_SSH_AUTH:
		return "only the operator can fix the key; do not retry";
	case CX_SSH_TIMEOUT:
		return "use a command that ends sooner (a smaller -n for journalctl)";
	case CX_SSH_CONNECT:
		return "check that the node is up (proxmox_list_nodes), then retry";
	default:
		return "retry once; if it fails again, report it";
	}
}

/* An isError result after a failed command, with whatever it printed before. */
static int exec_failed(const struct cx_err *err, const struct cx_ssh_output *o,
		       struct cx_result *res)
{
	if (err->code == CX_SSH_TIMEOUT && (o->out.len || o->err.len))
		return cx_result_errorf(res,
					"%s; %s. Output so far: stdout: %.1500s stderr: %.1000s",
					err->msg, hint(err->code), o->out.data ? o->out.data : "",
					o->err.data ? o->err.data : "");
	return cx_result_errorf(res, "%s; %s", err->msg, hint(err->code));
}

static json_t *exec_result(const char *node, const char *command, const struct cx_ssh_output *o)
{
	json_t *r = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:b, s:I}", "node", node, "command",
			      command, "exit_status",
			      o->exit_status >= 0 ? json_integer(o->exit_status) : json_null(),
			      "stdout", output_string(&o->out), "stderr", output_string(&o->err),
			      "stdout_truncated", o->out_truncated, "stderr_truncated",
			      o->err_truncated, "duration_ms", (json_int_t)o->duration_ms);

	if (r && o->exit_signal[0])
		json_object_set_new(r, "signal", json_string(o->exit_signal));
	return r;
}

int px_node_exec(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	const struct px_ssh *s = ((struct px_state *)call->state)->ssh;
	const char *node = json_string_value(json_object_get(args, "node"));
	const char *command = json_string_value(json_object_get(args, "command"));
	char line[PX_ALLOW_COMMAND_MAX + 1];
	const char *pattern = NULL;
	const struct px_ssh_host *h;
	struct cx_ssh_output out;
	struct cx_err err = { 0 };
	int rc;

	if (!s)
		return cx_result_errorf(res, "proxmox_node_exec is not set up on this gateway (the "
					     "operator adds \"ssh\" to the proxmox adapter's "
					     "configuration); use the other proxmox tools");
	h = find_host(s, node);
	if (!h) {
		struct cx_buf names = CX_BUF_INIT(2000);
		join_hosts(s, &names);
		rc = cx_result_errorf(res,
				      "no SSH host is configured for node '%s'; the nodes "
				      "this gateway can reach over SSH are: %s",
				      node, names.data ? names.data : "");
		cx_buf_release(&names);
		return rc;
	}
	if (px_allow_match(s->allow, command, line, sizeof(line), &pattern, &err))
		return refuse(s, &err, res);
	const struct cx_ssh_target t = { .name = h->name,
					 .address = h->address,
					 .port = h->port,
					 .user = s->user,
					 .key = &s->key,
					 .passphrase = &s->passphrase,
					 .known_hosts = s->known_hosts };
	if (cx_ssh_exec(&t, line, call, &s->lim, &out, &err))
		rc = exec_failed(&err, &out, res);
	else
		rc = cx_result_structured(res, exec_result(node, line, &out));
	cx_ssh_output_release(&out);
	return rc;
}
