/* Ended sessions (see revoke.h): an open-addressing set (linear probing) of 64-bit values
 * parsed from the sessions' 16-hex-digit fingerprints, each with the time its session would
 * have expired anyway, when it was issued and whose it is; and per subject, a count and a
 * "not before". Slots are never deleted one by one; a rebuild drops what no longer needs
 * listing (expired, or covered by its subject's "not before"). */
#include "revoke.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"

#define SLOTS_MIN 64

struct slot {
	uint64_t fp;
	int64_t expires_s; /* 0: empty; never stored for an already expired entry */
	int64_t issued_s;
	uint32_t subject; /* index into subjects */
};

struct subject {
	char name[sizeof(((struct cx_session *)0)->subject)];
	size_t count;         /* entries listed */
	int64_t not_before_s; /* sessions issued before this second are ended; 0: none */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;
static size_t nslots; /* 0 or a power of two */
static size_t used;   /* occupied slots, expired or not */
static struct subject *subjects;
static size_t nsubjects;

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static bool parse_fp(const char *fp, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 16; i++) {
		char c = fp[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	if (fp[16] != '\0')
		return false;
	*out = v;
	return true;
}

static size_t home(uint64_t fp, size_t n)
{
	return (size_t)((fp * 0x9E3779B97F4A7C15ull) >> 32) & (n - 1);
}

/* The slot holding fp, or the empty slot where it would go. Needs n > occupied. */
static struct slot *find(struct slot *tab, size_t n, uint64_t fp)
{
	size_t i = home(fp, n);

	while (tab[i].expires_s != 0 && tab[i].fp != fp)
		i = (i + 1) & (n - 1);
	return &tab[i];
}

/* An entry still needs listing: its session has not expired and its subject's "not before"
 * does not cover it. */
static bool needed(const struct slot *s, int64_t now)
{
	return s->expires_s > now && s->issued_s >= subjects[s->subject].not_before_s;
}

/* Rehashes the entries still needed into a table with room to spare (load at most a
 * quarter), recounting each subject's. -1 on out of memory, the old table intact. */
static int rebuild(int64_t now)
{
	struct slot *tab;
	size_t i, live = 0, n = SLOTS_MIN;

	for (i = 0; i < nslots; i++)
		if (needed(&slots[i], now))
			live++;
	while (n < live * 4 + 4)
		n *= 2;
	tab = calloc(n, sizeof(*tab));
	if (!tab)
		return -1;
	for (i = 0; i < nsubjects; i++)
		subjects[i].count = 0;
	for (i = 0; i < nslots; i++) {
		if (needed(&slots[i], now)) {
			*find(tab, n, slots[i].fp) = slots[i];
			subjects[slots[i].subject].count++;
		}
	}
	free(slots);
	slots = tab;
	nslots = n;
	used = live;
	return 0;
}

/* The subject's index; added when add is set. -1 when absent (or out of memory). */
static long subject_of(const char *name, bool add)
{
	struct subject *grown;

	for (size_t i = 0; i < nsubjects; i++)
		if (!strcmp(subjects[i].name, name))
			return (long)i;
	if (!add)
		return -1;
	grown = realloc(subjects, (nsubjects + 1) * sizeof(*subjects));
	if (!grown)
		return -1;
	subjects = grown;
	memset(&subjects[nsubjects], 0, sizeof(*subjects));
	snprintf(subjects[nsubjects].name, sizeof(subjects[nsubjects].name), "%s", name);
	return (long)nsubjects++;
}

/* The subject has its quota listed: end all its sessions issued before this second at once,
 * and list only the ones issued in it. */
static int move_not_before(struct subject *sub, int64_t now, size_t max)
{
	sub->not_before_s = now;
	cx_warn("sessions: '%s' ended more than %zu sessions within their lifetime "
		"(http.max_ended_sessions); every session it was issued before now is ended",
		sub->name[0] ? sub->name : "anonymous", max);
	return rebuild(now);
}

int cx_session_revoke(const struct cx_session *s, int64_t expires_s, size_t max)
{
	int64_t now = now_s();
	struct slot *slot;
	struct subject *sub;
	uint64_t key;
	long si;
	int ret = -1;

	if (!s || !parse_fp(s->fp, &key))
		return -1;
	if (expires_s <= now)
		return 0; /* the session cannot be used any more anyway */
	pthread_mutex_lock(&lock);
	si = subject_of(s->subject, true);
	if (si < 0)
		goto out;
	sub = &subjects[si];
	ret = 0;
	if (s->issued_s < sub->not_before_s)
		goto out; /* ended already, with all its subject's older sessions */
	if (nslots) {
		slot = find(slots, nslots, key);
		if (slot->expires_s != 0) {
			if (slot->expires_s < expires_s)
				slot->expires_s = expires_s;
			goto out;
		}
	}
	ret = -1;
	if (sub->count >= max && rebuild(now) < 0)
		goto out;
	if (sub->count >= max) {
		if (move_not_before(sub, now, max) < 0)
			goto out;
		ret = 0;
		if (s->issued_s < now)
			goto out; /* covered by the new "not before" */
	}
	if ((used + 1) * 2 > nslots && rebuild(now) < 0)
		goto out;
	slot = find(slots, nslots, key);
	slot->fp = key;
	slot->expires_s = expires_s;
	slot->issued_s = s->issued_s;
	slot->subject = (uint32_t)si;
	used++;
	sub->count++;
	ret = 0;
out:
	pthread_mutex_unlock(&lock);
	return ret;
}

bool cx_session_revoked(const struct cx_session *s)
{
	const struct slot *slot;
	uint64_t key;
	bool ret = false;
	long si;

	if (!s || !parse_fp(s->fp, &key))
		return false;
	pthread_mutex_lock(&lock);
	si = subject_of(s->subject, false);
	if (si >= 0 && s->issued_s < subjects[si].not_before_s) {
		ret = true;
	} else if (nslots) {
		slot = find(slots, nslots, key);
		ret = slot->expires_s > now_s();
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

size_t cx_session_revoked_count(const char *subject, int64_t *not_before_s)
{
	size_t n = 0;
	long si;

	pthread_mutex_lock(&lock);
	si = subject_of(subject, false);
	if (si >= 0) {
		n = subjects[si].count;
		if (not_before_s)
			*not_before_s = subjects[si].not_before_s;
	} else if (not_before_s) {
		*not_before_s = 0;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

void cx_session_revoked_clear(void)
{
	pthread_mutex_lock(&lock);
	free(slots);
	slots = NULL;
	nslots = used = 0;
	free(subjects);
	subjects = NULL;
	nsubjects = 0;
	pthread_mutex_unlock(&lock);
}
