/* Host keys pinned by an OpenSSH known_hosts file (common/ssh_known_hosts.c), without a
 * server: names as OpenSSH writes them (plain, several per line, [host]:port, hashed), a key
 * that matches, a changed key, an unknown host, @revoked and @cert-authority lines, lines
 * that cannot be parsed, and the host key algorithms offered for a host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../common/ssh.h"
#include "../../common/ssh_impl.h"
#include "../../common/util.h"

#define ED1 "AAAAC3NzaC1lZDI1NTE5AAAAII8sHThoFZFHEhkias8TJzv2DQfWktZ6/gxpImyHhWAe"
#define ED2 "AAAAC3NzaC1lZDI1NTE5AAAAIJJM7rUCSn9h0cNhS1v7eZVXJ7wE68OeKM1vqaTm8WJm"
#define ECDSA                                                                                      \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDztbumzfaH2yifjtZLNBhN65c/+e28iZDW"  \
	"QN9/TTD6xW1ZYNbhr8j2+TsPpiKSqZzsp0eqh5CFUgtLJ3h3QRp0="

static char path[64];

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/cx-test-kh-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return cx_ssh_global_init();
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void put(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* name hashed as OpenSSH's HashKnownHosts writes it: |1|base64(salt)|base64(HMAC-SHA1). */
static void hashed(const char *name, char *out, size_t outlen)
{
	unsigned char salt[20], mac[20], s64[32], m64[32];
	unsigned int maclen = 0;

	for (int i = 0; i < 20; i++)
		salt[i] = (unsigned char)(i * 7 + 3);
	HMAC(EVP_sha1(), salt, sizeof(salt), (const unsigned char *)name, strlen(name), mac,
	     &maclen);
	EVP_EncodeBlock(s64, salt, 20);
	EVP_EncodeBlock(m64, mac, 20);
	snprintf(out, outlen, "|1|%s|%s", (const char *)s64, (const char *)m64);
}

static int count(const char *address, int port)
{
	struct cx_err err = { 0 };
	int n = cx_ssh_known_hosts_count(path, address, port, &err);

	if (n < 0)
		fail_msg("%s", err.msg);
	return n;
}

static void test_names_as_openssh_writes_them(void **state)
{
	char name[64];

	assert_true(cx_ssh_known_hosts_name("10.0.0.11", 22, name, sizeof(name)));
	assert_string_equal(name, "10.0.0.11");
	assert_true(cx_ssh_known_hosts_name("10.0.0.11", 2222, name, sizeof(name)));
	assert_string_equal(name, "[10.0.0.11]:2222");
	assert_true(cx_ssh_known_hosts_name("fd00::11", 2222, name, sizeof(name)));
	assert_string_equal(name, "[fd00::11]:2222");
	assert_false(cx_ssh_known_hosts_name("10.0.0.11", 2222, name, 10));
}

static void test_plain_and_port_entries(void **state)
{
	put("# a comment\n"
	    "\n"
	    "pve1,10.0.0.11 ssh-ed25519 " ED1 "\n"
	    "[10.0.0.12]:2222 ssh-ed25519 " ED2 " root@pve2\n");
	assert_int_equal(count("10.0.0.11", 22), 1);
	assert_int_equal(count("pve1", 22), 1);
	assert_int_equal(count("10.0.0.12", 2222), 1);
	/* OpenSSH keeps ports apart: a key for port 22 says nothing about 2222, and back. */
	assert_int_equal(count("10.0.0.11", 2222), 0);
	assert_int_equal(count("10.0.0.12", 22), 0);
	assert_int_equal(count("10.0.0.13", 22), 0);
}

static void test_hashed_entries(void **state)
{
	char h1[128], h2[128], text[512];

	hashed("10.0.0.11", h1, sizeof(h1));
	hashed("[127.0.0.1]:2222", h2, sizeof(h2));
	snprintf(text, sizeof(text), "%s ssh-ed25519 %s\n%s ecdsa-sha2-nistp256 %s\n", h1, ED1, h2,
		 ECDSA);
	put(text);
	assert_int_equal(count("10.0.0.11", 22), 1);
	assert_int_equal(count("127.0.0.1", 2222), 1);
	assert_int_equal(count("127.0.0.1", 22), 0);
	assert_int_equal(count("10.0.0.12", 22), 0);
}

/* The server's raw key blob, as libssh2_session_hostkey gives it. */
static size_t blob(const char *b64, char *out, size_t outlen)
{
	long n = cx_b64_decode(b64, strlen(b64), (unsigned char *)out, outlen);

	assert_true(n > 0);
	return (size_t)n;
}

static enum ssh_known_verdict check(const char *name, const char *b64, int type)
{
	LIBSSH2_SESSION *s = libssh2_session_init();
	struct ssh_known k;
	struct cx_err err = { 0 };
	char key[256];
	size_t len = blob(b64, key, sizeof(key));
	enum ssh_known_verdict v;

	assert_non_null(s);
	assert_int_equal(ssh_known_load(s, path, &k, &err), 0);
	v = ssh_known_check(&k, name, key, len, type);
	ssh_known_release(&k);
	libssh2_session_free(s);
	return v;
}

static void test_match_changed_unknown(void **state)
{
	char h[128], text[512];

	hashed("[127.0.0.1]:2222", h, sizeof(h));
	snprintf(text, sizeof(text), "10.0.0.11 ssh-ed25519 %s\n%s ssh-ed25519 %s\n", ED1, h, ED2);
	put(text);
	assert_int_equal(check("10.0.0.11", ED1, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_MATCH);
	assert_int_equal(check("10.0.0.11", ED2, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_MISMATCH);
	assert_int_equal(check("[127.0.0.1]:2222", ED2, LIBSSH2_HOSTKEY_TYPE_ED25519),
			 SSH_KNOWN_MATCH);
	assert_int_equal(check("[127.0.0.1]:2222", ED1, LIBSSH2_HOSTKEY_TYPE_ED25519),
			 SSH_KNOWN_MISMATCH);
	/* The plain name is not the [name]:port entry (libssh2 alone would fall back to it). */
	assert_int_equal(check("127.0.0.1", ED2, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_NOTFOUND);
	assert_int_equal(check("10.0.0.99", ED1, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_NOTFOUND);
	/* A key of a type not listed for the host is unknown, not a match. */
	assert_int_equal(check("10.0.0.11", ECDSA, LIBSSH2_HOSTKEY_TYPE_ECDSA_256),
			 SSH_KNOWN_NOTFOUND);
}

static void test_revoked_cert_authority_and_bad_lines(void **state)
{
	put("@revoked * ssh-ed25519 " ED2 "\n"
	    "@cert-authority *.example.com ssh-ed25519 " ED1 "\n"
	    "this line is not a key line\n"
	    "short ssh-ed25519 AAAA\n"
	    "10.0.0.12 ssh-ed25519 " ED2 "\n"
	    "10.0.0.11 ssh-ed25519 " ED1 "\n");
	/* A bad line costs only itself. */
	assert_int_equal(check("10.0.0.11", ED1, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_MATCH);
	/* Revoked wins even where a line lists the key for the host. */
	assert_int_equal(check("10.0.0.12", ED2, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_REVOKED);
	assert_int_equal(check("10.0.0.13", ED2, LIBSSH2_HOSTKEY_TYPE_ED25519), SSH_KNOWN_REVOKED);
	/* A CA line trusts nothing here: certificates are not supported. */
	assert_int_equal(check("pve.example.com", ED1, LIBSSH2_HOSTKEY_TYPE_ED25519),
			 SSH_KNOWN_NOTFOUND);
	assert_int_equal(count("10.0.0.11", 22), 1);
	assert_int_equal(count("pve.example.com", 22), 0);
}

static void test_algorithms_follow_the_file(void **state)
{
	LIBSSH2_SESSION *s = libssh2_session_init();
	struct ssh_known k;
	struct cx_err err = { 0 };
	char algs[256];

	put("10.0.0.11 ecdsa-sha2-nistp256 " ECDSA "\n"
	    "10.0.0.11 ssh-ed25519 " ED1 "\n"
	    "10.0.0.12 ecdsa-sha2-nistp256 " ECDSA "\n");
	assert_non_null(s);
	assert_int_equal(ssh_known_load(s, path, &k, &err), 0);
	ssh_known_algorithms(s, &k, "10.0.0.11", algs, sizeof(algs));
	assert_string_equal(algs, "ssh-ed25519,ecdsa-sha2-nistp256");
	ssh_known_algorithms(s, &k, "10.0.0.12", algs, sizeof(algs));
	assert_string_equal(algs, "ecdsa-sha2-nistp256");
	/* An unknown host: everything, ed25519 first, as OpenSSH asks (the refusal then names
	 * the key ssh-keyscan and ssh show first). */
	ssh_known_algorithms(s, &k, "10.0.0.13", algs, sizeof(algs));
	assert_true(!strncmp(algs, "ssh-ed25519,ecdsa-sha2-nistp256,", 32));
	assert_non_null(strstr(algs, "ssh-rsa"));
	assert_int_equal(ssh_known_types(&k, "10.0.0.11"), 2);
	ssh_known_release(&k);
	libssh2_session_free(s);
}

static void test_unreadable_file(void **state)
{
	struct cx_err err = { 0 };

	assert_int_equal(cx_ssh_known_hosts_count("/nonexistent/known_hosts", "10.0.0.11", 22,
						  &err),
			 -1);
	assert_non_null(strstr(err.msg, "'/nonexistent/known_hosts'"));
	assert_int_equal(cx_ssh_known_hosts_count("/tmp", "10.0.0.11", 22, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_as_openssh_writes_them),
		cmocka_unit_test(test_plain_and_port_entries),
		cmocka_unit_test(test_hashed_entries),
		cmocka_unit_test(test_match_changed_unknown),
		cmocka_unit_test(test_revoked_cert_authority_and_bad_lines),
		cmocka_unit_test(test_algorithms_follow_the_file),
		cmocka_unit_test(test_unreadable_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
