/* Host keys pinned by an OpenSSH known_hosts file, through libssh2's knownhost API: it parses
 * plain names (several per line), [host]:port names and hashed |1|salt|hash names, and
 * compares keys. What it does not do is done here: @revoked lines (the key is refused for
 * every host), @cert-authority lines (skipped: certificates are not supported), a bad line
 * (skipped, as OpenSSH skips it, rather than losing the rest of the file), and choosing the
 * host key algorithms the file can vouch for. */
#include "ssh_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "ssh.h"
#include "util.h"

#define KNOWN_HOSTS_MAX (16u << 20)

static const struct {
	int hostkey;     /* LIBSSH2_HOSTKEY_TYPE_* */
	int known;       /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *alg; /* algorithm names, best first */
} key_types[] = {
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "rsa-sha2-512" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "rsa-sha2-256" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa" },
	{ LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss" },
};

#define NTYPES (sizeof(key_types) / sizeof(key_types[0]))

static char *next_word(char **p)
{
	char *w = *p + strspn(*p, " \t");
	size_t n = strcspn(w, " \t");

	*p = w + n + (w[n] ? 1 : 0);
	if (w[n])
		w[n] = '\0';
	return *w ? w : NULL;
}

/* "@revoked hosts keytype base64 [comment]": keeps the base64 blob. */
static int add_revoked(struct ssh_known *k, char *rest)
{
	char *hosts = next_word(&rest), *type = next_word(&rest), *blob = next_word(&rest);
	char **list, *copy;

	if (!hosts || !type || !blob)
		return 0;
	list = realloc(k->revoked, (k->nrevoked + 1) * sizeof(*list));
	if (!list)
		return -1;
	k->revoked = list;
	copy = strdup(blob);
	if (!copy)
		return -1;
	k->revoked[k->nrevoked++] = copy;
	return 0;
}

static int read_line(struct ssh_known *k, char *line, size_t len)
{
	char *p = line + strspn(line, " \t");

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (!*p || *p == '#')
		return 0;
	if (*p == '@') {
		char *marker = next_word(&p);
		return strcmp(marker, "@revoked") ? 0 : add_revoked(k, p);
	}
	/* A line libssh2 cannot parse is skipped; it matches nothing. */
	libssh2_knownhost_readline(k->hosts, p, strlen(p), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	return 0;
}

int ssh_known_load(LIBSSH2_SESSION *session, const char *path, struct ssh_known *k,
		   struct cx_err *err)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (!f)
		return cx_err_set(err, "cannot read known_hosts '%s': %s", path, strerror(errno));
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > KNOWN_HOSTS_MAX) {
		cx_err_set(err, "known_hosts '%s' is not a regular file of at most %u MiB", path,
			   KNOWN_HOSTS_MAX >> 20);
		goto out;
	}
	k->hosts = libssh2_knownhost_init(session);
	if (!k->hosts) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (read_line(k, line, (size_t)n)) {
			cx_err_set(err, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	if (rc)
		ssh_known_release(k);
	return rc;
}

void ssh_known_release(struct ssh_known *k)
{
	if (k->hosts)
		libssh2_knownhost_free(k->hosts);
	for (size_t i = 0; i < k->nrevoked; i++)
		free(k->revoked[i]);
	free(k->revoked);
	memset(k, 0, sizeof(*k));
}

/* libssh2 reports a host listed with a key of this type that differs from ours as a
 * mismatch: a one-byte blob no real key equals tells whether any key of the type is there. */
static bool lists_type(const struct ssh_known *k, const char *name, int known_type)
{
	return libssh2_knownhost_checkp(k->hosts, name, -1, "", 1,
					LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						LIBSSH2_KNOWNHOST_KEYENC_RAW | known_type,
					NULL) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
}

int ssh_known_types(const struct ssh_known *k, const char *name)
{
	int n = 0;

	for (size_t i = 0; i < NTYPES; i++)
		if ((i == 0 || key_types[i].known != key_types[i - 1].known) &&
		    lists_type(k, name, key_types[i].known))
			n++;
	return n;
}

static bool supported(const char **algs, int nalgs, const char *name)
{
	for (int i = 0; i < nalgs; i++)
		if (!strcmp(algs[i], name))
			return true;
	return false;
}

void ssh_known_algorithms(LIBSSH2_SESSION *session, const struct ssh_known *k, const char *name,
			  char *out, size_t outlen)
{
	const char **algs = NULL;
	int nalgs = libssh2_session_supported_algs(session, LIBSSH2_METHOD_HOSTKEY, &algs);
	size_t len = 0;

	bool any = ssh_known_types(k, name) > 0;

	out[0] = '\0';
	for (size_t i = 0; i < NTYPES && nalgs > 0; i++) {
		size_t n = strlen(key_types[i].alg);

		if (!supported(algs, nalgs, key_types[i].alg) ||
		    (any && !lists_type(k, name, key_types[i].known)) || len + n + 2 > outlen)
			continue;
		if (len)
			out[len++] = ',';
		memcpy(out + len, key_types[i].alg, n + 1);
		len += n;
	}
	if (nalgs > 0)
		libssh2_free(session, algs);
}

static bool is_revoked(const struct ssh_known *k, const char *key, size_t len)
{
	unsigned char *b64;
	bool hit = false;

	if (!k->nrevoked || len > (1u << 16))
		return false;
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		return true; /* cannot tell: refuse */
	EVP_EncodeBlock(b64, (const unsigned char *)key, (int)len);
	for (size_t i = 0; i < k->nrevoked && !hit; i++)
		hit = !strcmp(k->revoked[i], (const char *)b64);
	free(b64);
	return hit;
}

enum ssh_known_verdict ssh_known_check(const struct ssh_known *k, const char *name, const char *key,
				       size_t len, int type)
{
	int known = 0;

	for (size_t i = 0; i < NTYPES && !known; i++)
		if (key_types[i].hostkey == type)
			known = key_types[i].known;
	if (!known)
		return SSH_KNOWN_FAILURE;
	if (is_revoked(k, key, len))
		return SSH_KNOWN_REVOKED;
	switch (libssh2_knownhost_checkp(k->hosts, name, -1, key, len,
					 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						 LIBSSH2_KNOWNHOST_KEYENC_RAW | known,
					 NULL)) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		return SSH_KNOWN_MATCH;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		return SSH_KNOWN_MISMATCH;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		return SSH_KNOWN_NOTFOUND;
	default:
		return SSH_KNOWN_FAILURE;
	}
}

bool cx_ssh_known_hosts_name(const char *address, int port, char *out, size_t outlen)
{
	if (port == 22)
		return cx_fmt(out, outlen, "%s", address);
	return cx_fmt(out, outlen, "[%s]:%d", address, port);
}

int cx_ssh_known_hosts_count(const char *path, const char *address, int port, struct cx_err *err)
{
	LIBSSH2_SESSION *session;
	struct ssh_known k;
	char name[300];
	int n;

	if (!cx_ssh_known_hosts_name(address, port, name, sizeof(name)))
		return cx_err_set(err, "the address '%.64s...' is too long", address);
	if (cx_ssh_global_init() || !(session = libssh2_session_init()))
		return cx_err_set(err, "libssh2 could not start");
	n = ssh_known_load(session, path, &k, err) ? -1 : ssh_known_types(&k, name);
	if (n >= 0)
		ssh_known_release(&k);
	libssh2_session_free(session);
	return n;
}
