/* Ended sessions: listed until they would expire, bounded per token so that one client
 * churning sessions can neither stop another from ending its own nor bring an ended session
 * back; from many threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../gateway/revoke.h"

#define MAX 64

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* A session as cx_session_open gives it: fingerprint n, of subject, issued at issued_s. */
static struct cx_session sess(unsigned n, const char *subject, int64_t issued_s)
{
	struct cx_session s;

	memset(&s, 0, sizeof(s));
	snprintf(s.fp, sizeof(s.fp), "%016x", n);
	snprintf(s.subject, sizeof(s.subject), "%s", subject);
	s.issued_s = issued_s;
	return s;
}

static void test_add_check_clear(void **state)
{
	int64_t now = now_s();
	struct cx_session a = sess(1, "alice", now - 5), b = sess(2, "alice", now - 5);
	struct cx_session bad = sess(3, "alice", now);

	cx_session_revoked_clear();
	assert_false(cx_session_revoked(&a));
	assert_int_equal(cx_session_revoke(&a, now + 3600, MAX), 0);
	assert_true(cx_session_revoked(&a));
	assert_false(cx_session_revoked(&b));
	/* Twice is harmless. */
	assert_int_equal(cx_session_revoke(&a, now + 60, MAX), 0);
	assert_true(cx_session_revoked(&a));
	assert_int_equal(cx_session_revoked_count("alice", NULL), 1);
	/* A session expired anyway needs no entry. */
	assert_int_equal(cx_session_revoke(&b, now - 1, MAX), 0);
	assert_false(cx_session_revoked(&b));
	/* Only fingerprints as cx_session_seal makes them. */
	snprintf(bad.fp, sizeof(bad.fp), "0123456789abcdeg");
	assert_int_equal(cx_session_revoke(&bad, now + 60, MAX), -1);
	assert_false(cx_session_revoked(&bad));
	assert_int_equal(cx_session_revoke(NULL, now + 60, MAX), -1);
	assert_false(cx_session_revoked(NULL));
	cx_session_revoked_clear();
	assert_false(cx_session_revoked(&a));
}

/* Alice ends more sessions than her quota: every session she was issued before this second
 * is ended at once (none comes back), her list empties, and Bob is untouched: his ended
 * sessions stay ended, his live ones live, and he can still end more. */
static void test_one_token_cannot_crowd_out_another(void **state)
{
	int64_t now = now_s();
	struct cx_session bob_ended = sess(0xb0b0, "bob", now - 100);
	struct cx_session bob_live = sess(0xb0b1, "bob", now - 100);
	struct cx_session alice_live = sess(0xa11ce, "alice", now - 100);
	struct cx_session alice_new = sess(0xa11cf, "alice", now + 1); /* issued after the bump */
	int64_t nb = -1;

	cx_session_revoked_clear();
	assert_int_equal(cx_session_revoke(&bob_ended, now + 3600, MAX), 0);
	for (unsigned i = 0; i < MAX; i++) {
		struct cx_session s = sess(0x100000 + i, "alice", now - 50);
		assert_int_equal(cx_session_revoke(&s, now + 3600, MAX), 0);
		assert_true(cx_session_revoked(&s));
	}
	assert_int_equal(cx_session_revoked_count("alice", &nb), MAX);
	assert_int_equal(nb, 0);
	assert_false(cx_session_revoked(&alice_live));

	/* One more: Alice's "not before" moves to now. */
	struct cx_session extra = sess(0x200000, "alice", now - 50);
	assert_int_equal(cx_session_revoke(&extra, now + 3600, MAX), 0);
	assert_true(cx_session_revoked(&extra));
	assert_true(cx_session_revoked(&alice_live)); /* her older sessions end too */
	for (unsigned i = 0; i < MAX; i++) {
		struct cx_session s = sess(0x100000 + i, "alice", now - 50);
		if (!cx_session_revoked(&s))
			fail_msg("ended session %u came back", i);
	}
	assert_true(cx_session_revoked_count("alice", &nb) < 2);
	assert_true(nb >= now);
	assert_false(cx_session_revoked(&alice_new));

	/* Bob: unaffected, and still able to end sessions. */
	assert_true(cx_session_revoked(&bob_ended));
	assert_false(cx_session_revoked(&bob_live));
	assert_int_equal(cx_session_revoke(&bob_live, now + 3600, MAX), 0);
	assert_true(cx_session_revoked(&bob_live));
	assert_int_equal(cx_session_revoked_count("bob", &nb), 2);
	assert_int_equal(nb, 0);
	cx_session_revoked_clear();
}

/* Entries leave the list once their session would have expired; then there is room again. */
static void test_expiry(void **state)
{
	int64_t t0 = now_s();
	struct cx_session s = sess(0xfeed, "carol", t0 - 10);

	cx_session_revoked_clear();
	assert_int_equal(cx_session_revoke(&s, t0 + 2, MAX), 0);
	for (unsigned i = 1; i < MAX; i++) {
		struct cx_session o = sess(0x300000 + i, "carol", t0 - 10);
		assert_int_equal(cx_session_revoke(&o, t0 + 2, MAX), 0);
	}
	assert_true(cx_session_revoked(&s));
	while (now_s() < t0 + 2)
		usleep(50 * 1000);
	assert_false(cx_session_revoked(&s));
	/* The quota is free again: no "not before" move. */
	for (unsigned i = 0; i < MAX; i++) {
		struct cx_session o = sess(0x400000 + i, "carol", t0 - 10);
		assert_int_equal(cx_session_revoke(&o, t0 + 3600, MAX), 0);
	}
	int64_t nb = -1;
	assert_int_equal(cx_session_revoked_count("carol", &nb), MAX);
	assert_int_equal(nb, 0);
	cx_session_revoked_clear();
}

static void *revoke_many(void *arg)
{
	unsigned base = *(const unsigned *)arg;
	int64_t now = now_s();
	char subject[16];

	snprintf(subject, sizeof(subject), "t%x", base);
	for (unsigned i = 0; i < 2000; i++) {
		struct cx_session s = sess(base + i, subject, now - 1);
		if (cx_session_revoke(&s, now + 3600, 100000) != 0 || !cx_session_revoked(&s))
			return (void *)1;
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	pthread_t th[4];
	unsigned base[4];
	void *ret;

	cx_session_revoked_clear();
	for (unsigned i = 0; i < 4; i++) {
		base[i] = 0x10000000u * (i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, revoke_many, &base[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	for (unsigned i = 0; i < 4; i++) {
		char subject[16];
		snprintf(subject, sizeof(subject), "t%x", base[i]);
		assert_int_equal(cx_session_revoked_count(subject, NULL), 2000);
	}
	cx_session_revoked_clear();
}

/* A subject that listed more than its bound within the second of its "not before" (a client
 * ending sessions fast) is read back as it was: reading the file at a later start must not
 * move that "not before" to the start's second, which would end the sessions it still holds
 * (seen on a fast machine: a restart ended a session nobody had ended). */
static void test_file_read_back_as_listed(void **state)
{
	char dir[] = "/tmp/cortex-test-revoke-XXXXXX";
	char path[64], line[160];
	int64_t t = now_s() - 30;
	struct cx_session live = sess(0xa11ce, "alice", t);
	struct cx_session older = sess(0xa11cf, "alice", t - 1);
	struct cx_err err = { 0 };
	int64_t nb = -1;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ended", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	/* As the gateway writes it: MAX listed, then the "not before" and the ones after it, all
	 * issued in the same second t. */
	for (unsigned i = 0; i < MAX + 4; i++) {
		if (i == MAX)
			fprintf(f, "{\"sub\": \"alice\", \"not_before\": %lld}\n", (long long)t);
		snprintf(
			line, sizeof(line),
			"{\"sub\": \"alice\", \"issued\": %lld, \"expires\": %lld, \"fp\": \"%016x\"}",
			(long long)t, (long long)(t + 3600), 0x500000 + i);
		fprintf(f, "%s\n", line);
	}
	assert_int_equal(fclose(f), 0);

	cx_session_revoked_clear();
	assert_int_equal(cx_session_revoked_open(path, &err), 0);
	assert_int_equal(cx_session_revoked_count("alice", &nb), MAX + 4);
	assert_int_equal(nb, t);
	assert_false(cx_session_revoked(&live));
	assert_true(cx_session_revoked(&older));
	for (unsigned i = 0; i < MAX + 4; i++) {
		struct cx_session s = sess(0x500000 + i, "alice", t);
		assert_true(cx_session_revoked(&s));
	}
	/* Her next DELETE is over the bound: then, and only then, her "not before" moves. */
	struct cx_session next = sess(0x600000, "alice", t);
	assert_int_equal(cx_session_revoke(&next, t + 3600, MAX), 0);
	assert_true(cx_session_revoked(&live));
	cx_session_revoked_count("alice", &nb);
	assert_true(nb > t);
	cx_session_revoked_clear();
	unlink(path);
	rmdir(dir);
}

static char heard[1024];
static size_t nheard;

static void capture(const char *lines, size_t len)
{
	if (nheard + len < sizeof(heard)) {
		memcpy(heard + nheard, lines, len);
		nheard += len;
	}
}

/* What one gateway ends, handed over as lines, ends the session on another (the lines applied
 * there); what is not such a line is refused. */
static void test_changes_handed_over_and_applied(void **state)
{
	int64_t now = now_s();
	struct cx_session s = sess(0xbeef01, "dave", now - 5);
	struct cx_session other = sess(0xbeef02, "dave", now - 5);
	char line[256];

	(void)state;
	cx_session_revoked_clear();
	nheard = 0;
	cx_session_revoked_on_change(capture);
	assert_int_equal(cx_session_revoke(&s, now + 3600, MAX), 0);
	assert_int_equal(cx_session_revoke(&s, now + 3600, MAX), 0); /* no change: nothing new */
	cx_session_revoked_on_change(NULL);
	assert_int_equal(cx_session_revoke(&other, now + 3600, MAX), 0); /* not handed over */
	heard[nheard] = '\0';
	assert_non_null(strstr(heard, "\"fp\":\"0000000000beef01\""));
	assert_null(strstr(heard, "beef02"));
	assert_int_equal(strchr(heard, '\n') - heard + 1, (long)nheard); /* one line */

	/* "Another gateway": a fresh list, then the lines heard. */
	cx_session_revoked_clear();
	assert_false(cx_session_revoked(&s));
	char fp[17];
	assert_true(cx_session_revoked_apply(heard, nheard - 1, fp));
	assert_string_equal(fp, "0000000000beef01"); /* its streams end there too */
	assert_true(cx_session_revoked(&s));
	assert_false(cx_session_revoked(&other));
	snprintf(line, sizeof(line), "{\"sub\":\"dave\",\"not_before\":%lld}", (long long)now);
	assert_true(cx_session_revoked_apply(line, strlen(line), fp));
	assert_string_equal(fp, "");
	assert_true(cx_session_revoked(&other));
	assert_false(cx_session_revoked_apply("{\"hello\":1}", 11, NULL));
	assert_false(cx_session_revoked_apply("not json", 8, NULL));
	cx_session_revoked_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_check_clear),
		cmocka_unit_test(test_one_token_cannot_crowd_out_another),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_file_read_back_as_listed),
		cmocka_unit_test(test_changes_handed_over_and_applied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
