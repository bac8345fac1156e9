/* The audit log's redaction (see redact.h). Keys are read as words — split at '_', '-', '.',
 * spaces and camelCase humps, lowercased — so that "key" means key and not "monkey", and a
 * harmless compound (progressToken, token_count, public_key) is told from a secret one. */
#include "redact.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define MAX_WORDS 8
#define WORD_MAX  24

struct words {
	char w[MAX_WORDS][WORD_MAX];
	size_t n;
};

static void split_words(const char *key, struct words *ws)
{
	size_t len = 0;

	ws->n = 0;
	for (const char *p = key;; p++) {
		bool alnum = *p && isalnum((unsigned char)*p);
		bool hump = alnum && len && isupper((unsigned char)*p) && p > key &&
			    islower((unsigned char)p[-1]);

		if ((!alnum || hump) && len) {
			ws->w[ws->n][len < WORD_MAX ? len : WORD_MAX - 1] = '\0';
			if (++ws->n == MAX_WORDS)
				return;
			len = 0;
		}
		if (!*p)
			return;
		if (alnum && len < WORD_MAX - 1)
			ws->w[ws->n][len++] = (char)tolower((unsigned char)*p);
		else if (alnum)
			len++; /* a long word is kept cut; it matches nothing below */
	}
}

static bool is_one_of(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(w, *list))
			return true;
	return false;
}

/* Words that make a key secret wherever they stand. */
static const char *const secret_words[] = {
	"password", "passwd",     "passphrase",  "pwd",        "pass",          "secret",
	"secrets",  "token",      "apikey",      "bearer",     "authorization", "cookie",
	"cookies",  "credential", "credentials", "privatekey", "sessionid",     "sessionkey",
	"otp",      "totp",       NULL,
};
/* "key" and "id" make a key secret after these. */
static const char *const key_owners[] = { "api",     "access", "secret",  "private",
					  "session", "ssh",    "signing", "encryption",
					  "master",  "client", "auth",    "license",
					  "account", "shared", "psk",     NULL };
/* "token" is harmless after or before these: paging cursors and counts, not credentials. */
static const char *const token_harmless_before[] = { "progress", "page",  "next",   "continuation",
						     "max",      "input", "output", NULL };
static const char *const token_harmless_after[] = { "count",  "type",     "limit", "usage",
						    "budget", "estimate", NULL };

bool cx_redact_key(const char *key)
{
	struct words ws;

	if (!key || !*key)
		return false;
	split_words(key, &ws);
	for (size_t i = 0; i < ws.n; i++) {
		const char *w = ws.w[i];
		const char *prev = i ? ws.w[i - 1] : NULL;
		const char *next = i + 1 < ws.n ? ws.w[i + 1] : NULL;

		if (!strcmp(w, "token")) {
			if ((prev && is_one_of(prev, token_harmless_before)) ||
			    (next && is_one_of(next, token_harmless_after)))
				continue;
			return true;
		}
		if (is_one_of(w, secret_words))
			return true;
		/* "key" alone, or a key a secret owns: api_key, access_key, sessionId. */
		if (!strcmp(w, "key") && (ws.n == 1 || (prev && is_one_of(prev, key_owners))))
			return true;
		if (!strcmp(w, "id") && prev && !strcmp(prev, "session"))
			return true;
	}
	return false;
}

/* ---- values ---- */

static bool tokch(char c)
{
	return isalnum((unsigned char)c) || strchr("-._~+/=", c);
}

static bool upper_alnum(char c)
{
	return isupper((unsigned char)c) || isdigit((unsigned char)c);
}

static bool b64url(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* At least n characters passing ok() from p (bounded by end). */
static bool run_of(const char *p, const char *end, size_t n, bool (*ok)(char))
{
	size_t i = 0;

	while (p + i < end && ok(p[i]))
		i++;
	return i >= n;
}

static bool word_start(const char *s, const char *p)
{
	return p == s || !isalnum((unsigned char)p[-1]);
}

/* Case-insensitive prefix test of the bytes at p. */
static bool at(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && !strncasecmp(p, word, n);
}

/* One position of s: does a credential start here? */
static bool credential_at(const char *s, const char *p, const char *end)
{
	if (at(p, end, "bearer ") && word_start(s, p))
		return run_of(p + 7, end, 8, tokch);
	if (at(p, end, "basic ") && word_start(s, p))
		return run_of(p + 6, end, 12, tokch);
	if (at(p, end, "pveapitoken=") || at(p, end, "pveauthcookie="))
		return true;
	if (end - p > 3 && !strncmp(p, "eyJ", 3)) {
		/* A JWT: base64url header "eyJ…", a dot, the payload, a dot. */
		const char *q = p;
		while (q < end && b64url(*q))
			q++;
		if (q - p >= 10 && q < end && *q == '.') {
			const char *r = ++q;
			while (r < end && b64url(*r))
				r++;
			return r - q >= 10 && r < end && *r == '.';
		}
		return false;
	}
	if (at(p, end, "-----BEGIN ")) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *lim = eol ? eol : end;
		for (const char *q = p + 11; q + 16 <= lim; q++)
			if (!strncmp(q, "PRIVATE KEY-----", 16))
				return true;
		return false;
	}
	if (!word_start(s, p))
		return false;
	if (end - p >= 20 && (!strncmp(p, "AKIA", 4) || !strncmp(p, "ASIA", 4)))
		return run_of(p + 4, end, 16, upper_alnum);
	if (at(p, end, "ghp_") || at(p, end, "gho_") || at(p, end, "ghs_") || at(p, end, "ghu_") ||
	    at(p, end, "ghr_"))
		return run_of(p + 4, end, 30, b64url);
	if (at(p, end, "github_pat_"))
		return run_of(p + 11, end, 20, b64url);
	if (at(p, end, "glpat-"))
		return run_of(p + 6, end, 20, b64url);
	if (at(p, end, "xoxb-") || at(p, end, "xoxp-") || at(p, end, "xoxa-") ||
	    at(p, end, "xoxs-"))
		return run_of(p + 5, end, 10, tokch);
	if (at(p, end, "sk-") && (p + 3 < end))
		return run_of(p + 3, end, 20, b64url);
	return false;
}

bool cx_redact_value(const char *s, size_t len)
{
	const char *end = s + len;

	if (len < 12)
		return false;
	for (const char *p = s; p < end; p++) {
		/* Cheap filter: every pattern starts with one of these letters. */
		switch (*p) {
		case 'b':
		case 'B':
		case 'p':
		case 'P':
		case 'e':
		case '-':
		case 'A':
		case 'g':
		case 'x':
		case 's':
			if (credential_at(s, p, end))
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

/* ---- the tree ---- */

static bool too_long(const json_t *v, size_t max_string)
{
	return max_string && json_is_string(v) && json_string_length(v) > max_string;
}

static bool secret_string(const json_t *v)
{
	return json_is_string(v) && cx_redact_value(json_string_value(v), json_string_length(v));
}

/* Whether anything in v changes: most arguments hold no secret, and then v itself serves. */
static bool changes(const json_t *v, size_t max_string)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item)
			if (cx_redact_key(key) || changes(item, max_string))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			if (changes(item, max_string))
				return true;
	} else {
		return secret_string(v) || too_long(v, max_string);
	}
	return false;
}

/* The first max bytes of s, ending on a whole UTF-8 sequence, and how much was dropped. */
static json_t *cut_string(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), keep = max, n;
	char marker[64];
	json_t *out;
	char *buf;

	while (keep && ((unsigned char)s[keep] & 0xC0) == 0x80)
		keep--;
	n = (size_t)snprintf(marker, sizeof(marker), "\xe2\x80\xa6[cut: %zu more bytes]",
			     len - keep);
	buf = malloc(keep + n + 1);
	if (!buf)
		return NULL;
	memcpy(buf, s, keep);
	memcpy(buf + keep, marker, n + 1);
	out = json_stringn(buf, keep + n);
	free(buf);
	return out;
}

json_t *cx_redact(const json_t *v, size_t max_string, bool *cut)
{
	json_t *copy, *item;
	const char *key;
	size_t i;

	if (!v || !changes(v, max_string))
		return json_incref((json_t *)v);
	if (json_is_object(v)) {
		copy = json_object();
		if (!copy)
			return NULL;
		json_object_foreach((json_t *)v, key, item) {
			json_t *c = cx_redact_key(key) ? json_string(CX_REDACTED)
						       : cx_redact(item, max_string, cut);

			/* json_object_set_new() fails on a NULL value and releases it otherwise. */
			if (json_object_set_new(copy, key, c)) {
				json_decref(copy);
				return NULL;
			}
		}
		return copy;
	}
	if (json_is_array(v)) {
		copy = json_array();
		if (!copy)
			return NULL;
		json_array_foreach(v, i, item) {
			if (json_array_append_new(copy, cx_redact(item, max_string, cut))) {
				json_decref(copy);
				return NULL;
			}
		}
		return copy;
	}
	if (secret_string(v))
		return json_string(CX_REDACTED);
	*cut = true;
	return cut_string(v, max_string);
}
