/* The allow-list of proxmox_node_exec (adapters/proxmox/exec_allow.c): the default list, each
 * placeholder type at its edges, refusal of every shell metacharacter before any pattern is
 * tried, exact word counts and order, what the node is sent, and bad patterns refused at
 * start-up with the entry named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../adapters/proxmox/exec_allow.h"

static struct px_allow *from(const char *json)
{
	json_error_t jerr;
	json_t *list = json_loads(json, 0, &jerr);
	struct cx_err err = { 0 };
	struct px_allow *a;

	assert_non_null(list);
	a = px_allow_new(list, &err);
	json_decref(list);
	if (!a)
		fail_msg("refused %s: %s", json, err.msg);
	return a;
}

/* 0 and what would be sent in out, or the refusal code. */
static int run(const struct px_allow *a, const char *command, char *out, size_t outlen)
{
	struct cx_err err = { 0 };
	const char *pattern = NULL;

	if (px_allow_match(a, command, out, outlen, &pattern, &err)) {
		assert_true(err.code == PX_ALLOW_METACHAR || err.code == PX_ALLOW_NO_MATCH);
		assert_null(pattern);
		return err.code;
	}
	assert_non_null(pattern);
	return 0;
}

static bool allowed(const struct px_allow *a, const char *command)
{
	char out[PX_ALLOW_COMMAND_MAX + 1];

	return run(a, command, out, sizeof(out)) == 0;
}

static void test_defaults(void **state)
{
	struct cx_err err = { 0 };
	struct px_allow *a = px_allow_new(NULL, &err);
	char out[256];
	const char *pattern = NULL;

	assert_non_null(a);
	assert_int_equal(px_allow_count(a), 7);
	assert_true(px_allow_read_only(a));
	for (size_t i = 0; px_allow_defaults[i]; i++)
		assert_string_equal(px_allow_at(a, i), px_allow_defaults[i]);
	assert_null(px_allow_at(a, 7));

	assert_true(allowed(a, "pveversion"));
	assert_true(allowed(a, "qm list"));
	assert_true(allowed(a, "pct list"));
	assert_true(allowed(a, "uptime"));
	assert_true(allowed(a, "df -h"));
	assert_true(allowed(a, "zpool status"));
	assert_int_equal(px_allow_match(a, "journalctl -u pve-cluster.service -n 200", out,
					sizeof(out), &pattern, &err),
			 0);
	assert_string_equal(out, "journalctl -u pve-cluster.service -n 200");
	assert_string_equal(pattern, "journalctl -u UNIT -n N");

	/* Nothing that changes the node, and no extra, missing or reordered words. */
	assert_false(allowed(a, "qm start 100"));
	assert_false(allowed(a, "qm list --full"));
	assert_false(allowed(a, "qm"));
	assert_false(allowed(a, "df"));
	assert_false(allowed(a, "df -h /"));
	assert_false(allowed(a, "journalctl -n 50 -u pveproxy"));
	assert_false(allowed(a, "journalctl -u pveproxy"));
	assert_false(allowed(a, "journalctl -u pveproxy -n 50 -f"));
	assert_false(allowed(a, "reboot"));
	assert_false(allowed(a, "UPTIME"));
	assert_false(allowed(a, ""));
	assert_false(allowed(a, "   "));
	px_allow_free(a);
}

/* Runs of spaces collapse; the node gets the words joined by one space. */
static void test_spaces_normalised(void **state)
{
	struct px_allow *a = px_allow_new(NULL, NULL);
	char out[256];

	assert_int_equal(run(a, "  journalctl   -u  pveproxy -n   5 ", out, sizeof(out)), 0);
	assert_string_equal(out, "journalctl -u pveproxy -n 5");
	assert_int_equal(run(a, "qm list", out, 8), 0);
	assert_int_equal(run(a, "qm list", out, 7), PX_ALLOW_NO_MATCH); /* does not fit */
	px_allow_free(a);
}

/* Every character with a meaning to a shell is refused before any pattern is looked at. */
static void test_metacharacters_refused(void **state)
{
	static const char *const bad[] = {
		";",  "&",  "|", "<",  ">",  "(",  ")",    "$",    "`",
		"\\", "\"", "'", "*",  "?",  "[",  "]",    "{",    "}",
		"~",  "!",  "#", "\t", "\n", "\r", "\x01", "\x7f", "\xc3\xa9",
	};
	struct px_allow *a = from("[\"ls PATH\", \"echo NAME\", \"uptime\"]");
	char cmd[64], out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cx_err err = { 0 };
		const char *pattern = NULL;

		snprintf(cmd, sizeof(cmd), "ls /tmp%sx", bad[i]);
		assert_int_equal(px_allow_match(a, cmd, out, sizeof(out), &pattern, &err), -1);
		assert_int_equal(err.code, PX_ALLOW_METACHAR);
		snprintf(cmd, sizeof(cmd), "uptime%s", bad[i]);
		assert_int_equal(run(a, cmd, out, sizeof(out)), PX_ALLOW_METACHAR);
		snprintf(cmd, sizeof(cmd), "%suptime", bad[i]);
		assert_int_equal(run(a, cmd, out, sizeof(out)), PX_ALLOW_METACHAR);
	}
	/* The classic injections, each named in the sentence. */
	struct cx_err err = { 0 };
	const char *pattern = NULL;
	assert_int_equal(px_allow_match(a, "uptime; reboot", out, sizeof(out), &pattern, &err), -1);
	assert_non_null(strstr(err.msg, "';'"));
	assert_int_equal(px_allow_match(a, "echo $(id)", out, sizeof(out), &pattern, &err), -1);
	assert_non_null(strstr(err.msg, "'$'"));
	assert_int_equal(px_allow_match(a, "uptime\nreboot", out, sizeof(out), &pattern, &err), -1);
	assert_non_null(strstr(err.msg, "0x0a"));
	assert_int_equal(run(a, "ls /tmp && reboot", out, sizeof(out)), PX_ALLOW_METACHAR);
	assert_int_equal(run(a, "ls /tmp|sh", out, sizeof(out)), PX_ALLOW_METACHAR);
	assert_int_equal(run(a, "ls `reboot`", out, sizeof(out)), PX_ALLOW_METACHAR);
	assert_int_equal(run(a, "ls /etc/*", out, sizeof(out)), PX_ALLOW_METACHAR);
	assert_int_equal(run(a, "ls ~root", out, sizeof(out)), PX_ALLOW_METACHAR);
	assert_int_equal(run(a, "ls >/etc/passwd", out, sizeof(out)), PX_ALLOW_METACHAR);
	/* Safe characters pass on to matching: then it is the pattern that decides. */
	assert_int_equal(run(a, "ls /var/log/pve-firewall.log", out, sizeof(out)), 0);
	assert_int_equal(run(a, "echo a=b", out, sizeof(out)), PX_ALLOW_NO_MATCH);
	px_allow_free(a);
}

static void test_placeholder_n_and_vmid(void **state)
{
	struct px_allow *a = from("[\"tail -n N\", \"qm config VMID\"]");

	assert_true(allowed(a, "tail -n 0"));
	assert_true(allowed(a, "tail -n 999999999"));
	assert_false(allowed(a, "tail -n 1000000000"));
	assert_false(allowed(a, "tail -n -1"));
	assert_false(allowed(a, "tail -n +5"));
	assert_false(allowed(a, "tail -n 1e3"));
	assert_false(allowed(a, "tail -n 0x10"));
	assert_false(allowed(a, "tail -n five"));
	assert_true(allowed(a, "qm config 100"));
	assert_true(allowed(a, "qm config 999999999"));
	assert_false(allowed(a, "qm config 99"));
	assert_false(allowed(a, "qm config 0"));
	assert_false(allowed(a, "qm config abc"));
	px_allow_free(a);
}

static void test_placeholder_unit_name_path(void **state)
{
	struct px_allow *a =
		from("[\"systemctl status UNIT\", \"zpool status NAME\", \"ls PATH\"]");

	assert_true(allowed(a, "systemctl status pveproxy"));
	assert_true(allowed(a, "systemctl status getty@tty1.service"));
	assert_true(allowed(a, "systemctl status sys-devices-x:1.device"));
	assert_false(allowed(a, "systemctl status -H"));
	assert_false(allowed(a, "systemctl status --all"));
	assert_false(allowed(a, "systemctl status a/b"));
	assert_false(allowed(a, "systemctl status a=b"));

	assert_true(allowed(a, "zpool status rpool"));
	assert_true(allowed(a, "zpool status data_2.x-y"));
	assert_false(allowed(a, "zpool status -v"));
	assert_false(allowed(a, "zpool status .."));
	assert_false(allowed(a, "zpool status .hidden"));
	assert_false(allowed(a, "zpool status rpool/data"));
	assert_false(allowed(a, "zpool status a@b"));

	assert_true(allowed(a, "ls /"));
	assert_true(allowed(a, "ls /var/log/syslog"));
	assert_true(allowed(a, "ls /a..b/c"));
	assert_false(allowed(a, "ls var/log"));
	assert_false(allowed(a, "ls -la"));
	assert_false(allowed(a, "ls /etc/../root"));
	assert_false(allowed(a, "ls /etc/.."));
	assert_false(allowed(a, "ls /a:b"));
	assert_false(allowed(a, "ls /a,b"));
	px_allow_free(a);
}

static void test_literals_are_exact(void **state)
{
	struct px_allow *a = from("[\"pvesh get /nodes --output-format=json\"]");

	assert_true(allowed(a, "pvesh get /nodes --output-format=json"));
	assert_false(allowed(a, "pvesh get /nodes --output-format=yaml"));
	assert_false(allowed(a, "pvesh get /nodes"));
	assert_false(allowed(a, "PVESH get /nodes --output-format=json"));
	assert_false(px_allow_read_only(a));
	px_allow_free(a);

	a = from("[\"uptime\", \"qm list\"]");
	assert_true(px_allow_read_only(a)); /* a subset of the defaults */
	assert_false(allowed(a, "df -h"));
	px_allow_free(a);
}

/* A bad pattern stops start-up with its index and the reason. */
static void test_bad_patterns_refused(void **state)
{
	static const struct {
		const char *json, *says;
	} cases[] = {
		{ "[\"cat FILE\"]", "allow[0]: unknown placeholder 'FILE'" },
		{ "[\"uptime\", \"PATH\"]", "allow[1]: the first word must be a literal" },
		{ "[\"sh -c 'id'\"]", "allow[0]: the word ''id'' holds '''" },
		{ "[\"uptime;id\"]", "holds ';'" },
		{ "[\"a\\tb\"]", "holds '\t'" },
		{ "[\"\"]", "allow[0]: an empty pattern" },
		{ "[\"   \"]", "allow[0]: an empty pattern" },
		{ "[42]", "allow[0]: must be a string" },
		{ "[]", "non-empty array" },
		{ "[\"a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7\"]",
		  "more than 32 words" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *list = json_loads(cases[i].json, 0, NULL);
		struct cx_err err = { 0 };

		assert_non_null(list);
		assert_null(px_allow_new(list, &err));
		json_decref(list);
		if (!strstr(err.msg, cases[i].says))
			fail_msg("%s: got '%s', wanted '%s'", cases[i].json, err.msg,
				 cases[i].says);
	}
	struct cx_err err = { 0 };
	json_t *notlist = json_string("uptime");
	assert_null(px_allow_new(notlist, &err));
	json_decref(notlist);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_spaces_normalised),
		cmocka_unit_test(test_metacharacters_refused),
		cmocka_unit_test(test_placeholder_n_and_vmid),
		cmocka_unit_test(test_placeholder_unit_name_path),
		cmocka_unit_test(test_literals_are_exact),
		cmocka_unit_test(test_bad_patterns_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
