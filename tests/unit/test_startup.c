/* What start-up checks before it starts anything (and --check-config repeats): the listen
 * address, tokens on a public listener, the audit file; and the Host names a listener
 * accepts. Each message must say what is wrong and where the value came from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../gateway/config.h"
#include "../../gateway/hosts.h"
#include "../../gateway/listen.h"
#include "../../gateway/preflight.h"

static void listen_ok(const char *v, const char *host, unsigned port, bool v6, bool loopback,
		      bool wildcard)
{
	struct cx_listen la;
	struct cx_err err = { 0 };

	if (cx_listen_parse(v, &la, &err))
		fail_msg("'%s' refused: %s", v, err.msg);
	assert_string_equal(la.host, host);
	assert_int_equal(la.port, port);
	assert_int_equal(la.v6, v6);
	assert_int_equal(la.loopback, loopback);
	assert_int_equal(la.wildcard, wildcard);
	assert_int_equal(la.addr.ss_family, v6 ? AF_INET6 : AF_INET);
	if (v6)
		assert_int_equal(ntohs(((struct sockaddr_in6 *)&la.addr)->sin6_port), port);
	else
		assert_int_equal(ntohs(((struct sockaddr_in *)&la.addr)->sin_port), port);
}

static void listen_bad(const char *v, const char *want)
{
	struct cx_listen la;
	struct cx_err err = { 0 };

	if (!cx_listen_parse(v, &la, &err))
		fail_msg("'%s' was accepted", v);
	if (!strstr(err.msg, want))
		fail_msg("error for '%s' is \"%s\", without \"%s\"", v, err.msg, want);
}

static void test_listen_addresses(void **state)
{
	listen_ok("127.0.0.1:8080", "127.0.0.1", 8080, false, true, false);
	listen_ok("localhost:0", "localhost", 0, false, true, false);
	listen_ok("LOCALHOST:65535", "LOCALHOST", 65535, false, true, false);
	listen_ok("0.0.0.0:8080", "0.0.0.0", 8080, false, false, true);
	listen_ok("192.0.2.2:80", "192.0.2.2", 80, false, false, false);
	listen_ok("[::1]:8080", "::1", 8080, true, true, false);
	listen_ok("[::]:8080", "::", 8080, true, false, true);
	listen_ok("[fd00::2]:1", "fd00::2", 1, true, false, false);
	listen_ok("127.8.9.10:5", "127.8.9.10", 5, false, true, false);
}

/* What operators typed, and the message that tells them what to write instead. */
static void test_listen_mistakes(void **state)
{
	listen_bad("garbage", "'garbage' has no port");
	listen_bad("", "empty");
	listen_bad("127.0.0.1:99999", "port 99999 is out of range (0-65535");
	listen_bad("localhost:99999", "port 99999 is out of range");
	listen_bad("127.0.0.1:123456", "out of range");
	listen_bad("127.0.0.1:-1", "port '-1' is not a number");
	listen_bad("127.0.0.1:http", "port 'http' is not a number");
	listen_bad("127.0.0.1:", "port '' is not a number");
	listen_bad(":8080", "has no host");
	listen_bad("::1:8080", "needs brackets");
	listen_bad("[::1]", "has no port");
	listen_bad("[::1:8080", "no closing ']'");
	listen_bad("[127.0.0.1]:80", "not an IPv6 address");
	listen_bad("example.com:80", "'example.com' is not an IPv4 address or 'localhost'");
	listen_bad("256.1.1.1:80", "is not an IPv4 address");
	listen_bad("127.0.0.1", "has no port");
	listen_bad("127.0.0.1:8080x", "is not a number");
	listen_bad("127.0.0.1:80:80", "more than one ':'");
	listen_bad("[localhost]:8080", "not an IPv6 address");
	listen_bad("::1]:8080", "more than one ':'");
	listen_bad("[]:8080", "has no host");
	listen_bad("127.0.0.1:0000080", "out of range");
}

static void conf_with(struct cx_gw_config *c, const char *listen, size_t ntokens)
{
	cx_gw_config_defaults(c);
	free(c->listen);
	c->listen = listen ? strdup(listen) : NULL;
	c->ntokens = ntokens; /* only counted here; no token is ever looked up */
}

static void expect_preflight(struct cx_gw_config *c, const char *want1, const char *want2)
{
	struct cx_listen la;
	struct cx_err err = { 0 };

	if (!cx_preflight(c, &la, &err))
		fail_msg("preflight passed for listen '%s'", c->listen);
	if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2)))
		fail_msg("preflight said \"%s\"; want \"%s\" and \"%s\"", err.msg, want1,
			 want2 ? want2 : "");
}

/* The message names where the value came from: the flag, or the file and its key, and says
 * when the file was named by $CORTEX_CONFIG. */
static void test_preflight_names_the_source(void **state)
{
	struct cx_gw_config c;

	conf_with(&c, "127.0.0.1:99999", 0);
	c.listen_from_flag = true;
	expect_preflight(&c, "--listen: '127.0.0.1:99999': port 99999 is out of range", NULL);
	c.listen_from_flag = false;
	c.config_file = strdup("/etc/cortex/gateway.json");
	expect_preflight(&c,
			 "config '/etc/cortex/gateway.json': 'listen': '127.0.0.1:99999': "
			 "port 99999 is out of range",
			 NULL);
	c.config_from_env = true;
	expect_preflight(&c, "config '/etc/cortex/gateway.json' (from $CORTEX_CONFIG): 'listen'",
			 NULL);
	cx_gw_config_release(&c);
}

static void test_preflight_public_listener_needs_tokens(void **state)
{
	struct cx_gw_config c;
	struct cx_listen la;
	struct cx_err err = { 0 };

	conf_with(&c, "0.0.0.0:8080", 0);
	c.listen_from_flag = true;
	expect_preflight(&c, "--listen: refusing to listen on '0.0.0.0:8080' without tokens",
			 "--insecure-no-auth");
	c.insecure_no_auth = true;
	assert_int_equal(cx_preflight(&c, &la, &err), 0);
	assert_true(la.wildcard);
	c.insecure_no_auth = false;
	c.ntokens = 1;
	assert_int_equal(cx_preflight(&c, &la, &err), 0);
	c.ntokens = 0;
	cx_gw_config_release(&c);

	/* Loopback needs no tokens; stdio only (no listen) needs nothing. */
	conf_with(&c, "[::1]:0", 0);
	assert_int_equal(cx_preflight(&c, &la, &err), 0);
	cx_gw_config_release(&c);
	conf_with(&c, NULL, 0);
	assert_int_equal(cx_preflight(&c, &la, &err), 0);
	cx_gw_config_release(&c);
}

static void test_preflight_audit_file(void **state)
{
	char dir[] = "/tmp/cx-test-audit-XXXXXX", path[256], sub[300];
	struct cx_gw_config c;
	struct cx_listen la;
	struct cx_err err = { 0 };
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	conf_with(&c, "127.0.0.1:0", 0);

	/* A file that does not exist yet in a writable directory: fine, and not created. */
	c.audit_file = strdup(path);
	assert_int_equal(cx_preflight(&c, &la, &err), 0);
	assert_int_not_equal(stat(path, &st), 0);

	/* A directory that does not exist: named, with the key it came from. */
	snprintf(sub, sizeof(sub), "%s/nope/audit.log", dir);
	free(c.audit_file);
	c.audit_file = strdup(sub);
	c.config_file = strdup("/etc/cortex/gateway.json");
	expect_preflight(&c,
			 "config '/etc/cortex/gateway.json': 'audit.file': could not create "
			 "audit file",
			 "/nope' does not exist");
	c.audit_from_flag = true;
	expect_preflight(&c, "--audit-file: could not create audit file", NULL);

	/* A directory in place of the file. */
	free(c.audit_file);
	c.audit_file = strdup(dir);
	expect_preflight(&c, "could not open audit file", dir);

	/* An existing file is opened for appending and left as it was. */
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("old line\n", f);
		fclose(f);
	}
	free(c.audit_file);
	c.audit_file = strdup(path);
	assert_int_equal(cx_preflight(&c, &la, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 9);
	if (geteuid() != 0) {
		/* Permission checks do not apply to root. */
		chmod(path, 0400);
		expect_preflight(&c, "could not open audit file", "Permission denied");
	}
	cx_gw_config_release(&c);
	unlink(path);
	rmdir(dir);
}

static struct sockaddr_storage addrs[8];
static struct ifaddrs ifs[8];

/* A fake getifaddrs() list: entries "lo" 127.0.0.1 and ::1, "eth0" 192.0.2.2, fd00::2 and
 * fe80::1 (link-local), and one with no address. */
static struct ifaddrs *fake_ifaddrs(void)
{
	static const char *const v4[] = { "127.0.0.1", "192.0.2.2" };
	static const char *const v6[] = { "::1", "fd00::2", "fe80::1" };
	size_t n = 0, i;

	memset(addrs, 0, sizeof(addrs));
	memset(ifs, 0, sizeof(ifs));
	for (i = 0; i < 2; i++, n++) {
		struct sockaddr_in *s = (struct sockaddr_in *)&addrs[n];

		s->sin_family = AF_INET;
		inet_pton(AF_INET, v4[i], &s->sin_addr);
		ifs[n].ifa_addr = (struct sockaddr *)s;
	}
	for (i = 0; i < 3; i++, n++) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&addrs[n];

		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, v6[i], &s->sin6_addr);
		ifs[n].ifa_addr = (struct sockaddr *)s;
	}
	ifs[n].ifa_addr = NULL;
	n++;
	for (i = 0; i + 1 < n; i++)
		ifs[i].ifa_next = &ifs[i + 1];
	return ifs;
}

static char *joined(char **v)
{
	static char out[512];
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; v && v[i]; i++)
		used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s", i ? " " : "",
					 v[i]);
	return out;
}

static void own_is(const char *listen, const char *hostname, const char *want)
{
	struct cx_listen la;
	struct cx_err err;
	char **v;

	assert_int_equal(cx_listen_parse(listen, &la, &err), 0);
	v = cx_hosts_own(&la, fake_ifaddrs(), hostname);
	assert_non_null(v);
	assert_string_equal(joined(v), want);
	cx_hosts_free(v);
}

/* A client on another machine reaches the gateway by an address of the listener or by the
 * machine's name: those are what the Host header carries. */
static void test_own_hosts(void **state)
{
	own_is("0.0.0.0:8080", "vm", "192.0.2.2 vm");
	own_is("[::]:8080", "vm.example.com", "192.0.2.2 [fd00::2] vm.example.com vm");
	own_is("192.0.2.9:8080", "vm", "192.0.2.9 vm");
	own_is("[fd00::7]:8080", NULL, "[fd00::7]");
	own_is("0.0.0.0:8080", "localhost", "192.0.2.2");
	/* A loopback listener needs none: loopback names are always accepted. */
	own_is("127.0.0.1:8080", "vm", "");
	own_is("[::1]:8080", "vm", "");
}

static void test_extend_and_describe(void **state)
{
	struct cx_gw_config c;
	struct cx_listen la;
	struct cx_err err;
	char line[512], **own;

	cx_gw_config_defaults(&c);
	c.allowed_hosts = calloc(3, sizeof(char *));
	c.allowed_hosts[0] = strdup("cortex.example.com");
	c.allowed_hosts[1] = strdup("vm");
	assert_int_equal(cx_listen_parse("0.0.0.0:8080", &la, &err), 0);
	own = cx_hosts_own(&la, fake_ifaddrs(), "vm");
	cx_hosts_describe(&c, own, line, sizeof(line));
	assert_string_equal(line, "Host must be a loopback name, in http.allowed_hosts "
				  "(cortex.example.com, vm), or this machine's (192.0.2.2, vm); "
				  "Origin must be absent, a loopback origin or the request's own "
				  "Host");
	assert_int_equal(cx_hosts_extend(&c, own, &err), 0);
	assert_string_equal(joined(c.allowed_hosts), "cortex.example.com vm 192.0.2.2");
	cx_hosts_free(own);
	cx_gw_config_release(&c);

	/* Loopback listener, nothing configured; and a line cut short says so. */
	cx_gw_config_defaults(&c);
	c.allowed_origins = calloc(2, sizeof(char *));
	c.allowed_origins[0] = strdup("https://app.example");
	cx_hosts_describe(&c, NULL, line, sizeof(line));
	assert_string_equal(line, "Host must be a loopback name; Origin must be absent, a "
				  "loopback origin or the request's own Host, or in "
				  "http.allowed_origins "
				  "(https://app.example)");
	cx_hosts_describe(&c, NULL, line, 40);
	assert_int_equal(strlen(line), 39);
	cx_gw_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_addresses),
		cmocka_unit_test(test_listen_mistakes),
		cmocka_unit_test(test_preflight_names_the_source),
		cmocka_unit_test(test_preflight_public_listener_needs_tokens),
		cmocka_unit_test(test_preflight_audit_file),
		cmocka_unit_test(test_own_hosts),
		cmocka_unit_test(test_extend_and_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
