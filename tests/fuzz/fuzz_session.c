/* Sealed session ids and request state (gateway/session.c). Input: one byte for the mode,
 * then
 *   'f' bit flips: pairs (position, mask) XORed into a session id and a request state the
 *       target sealed itself; a token that changed must be refused, never opened;
 *   else a token as a client sends it: opened as a session id (with and without expiry) and
 *       as request state; most are refused, none may crash.
 * The corpus holds real sealed ids (tests/fuzz/corpus/session/), made under this key. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../gateway/session.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[CX_SESSION_KEY_LEN] = "cortex-fuzz-session-key-32-bytes";

static void open_all(const char *tok)
{
	struct cx_session s;
	json_t *doc;

	cx_session_init(&s);
	if (cx_session_open(key, tok, 0, &s) == CX_SESSION_OK)
		cx_session_release(&s);
	cx_session_init(&s);
	if (cx_session_open(key, tok, 3600, &s) == CX_SESSION_OK)
		cx_session_release(&s);
	doc = cx_unseal_json(key, "r1", tok);
	json_decref(doc);
}

static char *sealed_session(void)
{
	struct cx_session s;
	char *id;

	cx_session_init(&s);
	snprintf(s.version, sizeof(s.version), "2025-06-18");
	snprintf(s.subject, sizeof(s.subject), "fuzz");
	s.client_info = json_pack("{s:s,s:s}", "name", "fuzz", "version", "1");
	id = cx_session_seal(key, &s);
	cx_session_release(&s);
	return id;
}

/* XORs the (position, mask) pairs of data into a copy of tok; NULL when nothing changed or
 * a NUL would cut the token short (a shorter token is another input, covered above). */
static char *flipped(const char *tok, const uint8_t *data, size_t size)
{
	size_t len = strlen(tok);
	char *t = strdup(tok);

	if (!t)
		abort();
	for (size_t i = 0; i + 1 < size; i += 2)
		t[(data[i] * 7u + i) % len] ^= (char)data[i + 1];
	if (!strcmp(t, tok) || strlen(t) != len) {
		free(t);
		return NULL;
	}
	return t;
}

static void flips(const uint8_t *data, size_t size)
{
	static char *sid, *state;
	struct cx_session s;
	char *t;

	if (!sid) {
		json_t *doc = json_pack("{s:s,s:i}", "tool", "testkit_echo", "round", 1);

		sid = sealed_session();
		state = cx_seal_json(key, "r1", doc);
		json_decref(doc);
		if (!sid || !state)
			abort();
	}
	t = flipped(sid, data, size);
	if (t) {
		cx_session_init(&s);
		if (cx_session_open(key, t, 0, &s) == CX_SESSION_OK) {
			fprintf(stderr, "fuzz_session: a changed session id opened: %s\n", t);
			abort();
		}
		free(t);
	}
	t = flipped(state, data, size);
	if (t) {
		json_t *doc = cx_unseal_json(key, "r1", t);

		if (doc) {
			fprintf(stderr, "fuzz_session: changed request state opened: %s\n", t);
			abort();
		}
		free(t);
	}
}

static void seed(const char *dir, const char *name, const char *mode, const char *tok)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s%s", mode, tok) < 0 || fclose(f))
		abort();
}

/* With CORTEX_FUZZ_SEED_DIR set, the first run writes real sealed ids there as seeds (how
 * tests/fuzz/corpus/session/ was made). */
static void write_seeds(void)
{
	static int done;
	const char *dir = getenv("CORTEX_FUZZ_SEED_DIR");
	json_t *doc;
	char *t;

	if (done++ || !dir)
		return;
	t = sealed_session();
	seed(dir, "seed-session-id", "o", t);
	seed(dir, "seed-flip-session", "f", "\x01\x02\x10\x80");
	free(t);
	doc = json_pack("{s:s,s:i,s:{s:s}}", "tool", "testkit_ask", "round", 2, "answers", "r1",
			"yes");
	t = cx_seal_json(key, "r1", doc);
	seed(dir, "seed-request-state", "o", t);
	free(t);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok;

	write_seeds();

	if (size < 1 || size > 64 * 1024)
		return 0;
	if (data[0] == 'f') {
		flips(data + 1, size - 1);
		return 0;
	}
	tok = fz_strndup(data + 1, size - 1);
	open_all(tok);
	free(tok);
	return 0;
}
