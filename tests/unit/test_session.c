/* Sealed sessions: what a client behind a load balancer relies on (any replica with the key
 * opens the id), what an attacker must not get (any change to an id is refused), and the
 * revocation list that HTTP DELETE feeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../../common/util.h"
#include "../../gateway/session.h"

static const char *const VERSION = "2025-06-18";

/* A key as a server derives it: SHA-256 of a configured secret. */
static void derive_key(const char *secret, unsigned char key[CX_SESSION_KEY_LEN])
{
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(secret, strlen(secret), key, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, CX_SESSION_KEY_LEN);
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);

	if (!v)
		fail_msg("bad test JSON: %s", je.text);
	return v;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* A session as initialize leaves it; caps and info are stolen. */
static void make_session(struct cx_session *s, const char *version, json_t *caps, json_t *info,
			 int64_t issued)
{
	cx_session_init(s);
	snprintf(s->version, sizeof(s->version), "%s", version);
	s->client_caps = caps;
	s->client_info = info;
	s->issued_s = issued;
}

static char *seal_sample(const unsigned char *key, struct cx_session *s)
{
	char *id;

	make_session(s, VERSION, parse("{\"roots\":{\"listChanged\":true},\"sampling\":{}}"),
		     parse("{\"name\":\"claude-code\",\"version\":\"1.0.3\"}"), now_s() - 10);
	id = cx_session_seal(key, s);
	assert_non_null(id);
	return id;
}

static enum cx_session_status try_open(const unsigned char *key, const char *id, long ttl)
{
	struct cx_session o;
	enum cx_session_status st = cx_session_open(key, id, ttl, &o);

	if (st != CX_SESSION_OK) {
		/* A refused id leaves nothing behind to release. */
		assert_null(o.client_caps);
		assert_null(o.client_info);
	}
	cx_session_release(&o);
	return st;
}

/* The wire format written independently of session.c, so the tests pin the format itself:
 * "c1." + base64url(nonce || AES-256-GCM(plaintext, AAD) || tag). */
static char *seal_raw(const unsigned char *key, const char *aad, const char *pt)
{
	size_t ptlen = strlen(pt), rawlen = 12 + ptlen + 16, i, j;
	unsigned char *raw = malloc(rawlen);
	char *b64 = malloc(4 * (rawlen / 3 + 1) + 1);
	char *id = malloc(4 * (rawlen / 3 + 1) + 4);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, fin;

	assert_non_null(raw);
	assert_non_null(b64);
	assert_non_null(id);
	assert_non_null(ctx);
	assert_int_equal(RAND_bytes(raw, 12), 1);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
					   (int)strlen(aad)),
			 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, raw + 12, &n, (const unsigned char *)pt,
					   (int)ptlen),
			 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, raw + 12 + n, &fin), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, raw + 12 + ptlen), 1);
	EVP_CIPHER_CTX_free(ctx);

	n = EVP_EncodeBlock((unsigned char *)b64, raw, (int)rawlen);
	memcpy(id, "c1.", 3);
	for (i = 0, j = 3; i < (size_t)n && b64[i] != '='; i++, j++)
		id[j] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	id[j] = '\0';
	free(raw);
	free(b64);
	return id;
}

static void test_seal_open_round_trip(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s, o;
	char hex[65];
	char *id, *id2;

	derive_key("round trip secret", key);
	id = seal_sample(key, &s);
	assert_true(strncmp(id, "c1.", 3) == 0);
	assert_true(strlen(id) <= CX_SESSION_ID_MAX);
	/* fp is the first 16 hex digits of SHA-256 over the whole id. */
	cx_sha256_hex(id, strlen(id), hex);
	assert_int_equal(strlen(s.fp), 16);
	assert_memory_equal(s.fp, hex, 16);

	assert_int_equal(cx_session_open(key, id, 3600, &o), CX_SESSION_OK);
	assert_string_equal(o.version, VERSION);
	assert_int_equal(o.issued_s, s.issued_s);
	assert_true(json_equal(o.client_caps, s.client_caps));
	assert_true(json_equal(o.client_info, s.client_info));
	assert_string_equal(o.fp, s.fp);
	cx_session_release(&o);
	assert_null(o.client_caps);

	/* A fresh nonce per seal: the same state never gives the same id (or fingerprint). */
	id2 = cx_session_seal(key, &s);
	assert_non_null(id2);
	assert_string_not_equal(id, id2);
	assert_int_equal(try_open(key, id2, 3600), CX_SESSION_OK);
	free(id2);
	free(id);
	cx_session_release(&s);
}

static void test_seal_without_caps_or_info(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s, o;
	int64_t before = now_s();
	char *id;

	derive_key("bare", key);
	make_session(&s, "2025-03-26", NULL, NULL, 0);
	id = cx_session_seal(key, &s);
	assert_non_null(id);
	/* issued_s 0 means "now" and is written back. */
	assert_true(s.issued_s >= before && s.issued_s <= now_s());
	assert_int_equal(cx_session_open(key, id, 60, &o), CX_SESSION_OK);
	assert_string_equal(o.version, "2025-03-26");
	assert_null(o.client_caps);
	assert_null(o.client_info);
	assert_int_equal(o.issued_s, s.issued_s);
	cx_session_release(&o);
	free(id);
	cx_session_release(&s);
}

static void test_seal_refuses_unopenable_state(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s;

	derive_key("k", key);
	make_session(&s, "1999-01-01", NULL, NULL, now_s());
	assert_null(cx_session_seal(key, &s));
	cx_session_release(&s);
	make_session(&s, VERSION, json_array(), NULL, now_s());
	assert_null(cx_session_seal(key, &s));
	cx_session_release(&s);
}

/* Two gateway processes configured with the same secret: each derives its own key buffer,
 * and each opens the other's ids. A replica with another key refuses them. */
static void test_replicas_with_same_key_share_sessions(void **state)
{
	unsigned char key_a[CX_SESSION_KEY_LEN], key_b[CX_SESSION_KEY_LEN];
	unsigned char key_c[CX_SESSION_KEY_LEN], zero[CX_SESSION_KEY_LEN] = { 0 };
	struct cx_session sa, sb, o;
	char *id_a, *id_b;

	derive_key("replicated secret 0123456789abcdef", key_a);
	derive_key("replicated secret 0123456789abcdef", key_b);
	assert_ptr_not_equal(key_a, key_b);
	assert_memory_equal(key_a, key_b, sizeof(key_a));
	memcpy(key_c, key_a, sizeof(key_c));
	key_c[31] ^= 0x01;

	id_a = seal_sample(key_a, &sa);
	id_b = seal_sample(key_b, &sb);
	assert_int_equal(cx_session_open(key_b, id_a, 3600, &o), CX_SESSION_OK);
	assert_true(json_equal(o.client_info, sa.client_info));
	assert_string_equal(o.fp, sa.fp);
	cx_session_release(&o);
	assert_int_equal(try_open(key_a, id_b, 3600), CX_SESSION_OK);

	assert_int_equal(try_open(key_c, id_a, 3600), CX_SESSION_INVALID);
	assert_int_equal(try_open(key_c, id_b, 3600), CX_SESSION_INVALID);
	assert_int_equal(try_open(zero, id_a, 3600), CX_SESSION_INVALID);
	free(id_a);
	free(id_b);
	cx_session_release(&sa);
	cx_session_release(&sb);
}

/* Any one character changed anywhere, to another base64url character or to one outside the
 * alphabet, and the id is refused: no malleable bits, not even the last character's. */
static void test_every_single_character_flip_is_invalid(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s;
	size_t i, len, k;
	char *id;

	derive_key("flip", key);
	id = seal_sample(key, &s);
	len = strlen(id);
	assert_int_equal(try_open(key, id, 0), CX_SESSION_OK);
	for (i = 0; i < len; i++) {
		const char orig = id[i];
		/* Every other base64url character at the last position, where a lax decoder
		 * would ignore the low bits; two samples elsewhere. */
		size_t nalt = i == len - 1 ? sizeof(alphabet) - 1 : 2;

		for (k = 0; k < nalt; k++) {
			char c = i == len - 1          ? alphabet[k]
				 : orig == alphabet[k] ? 'Z'
						       : alphabet[k];

			if (c == orig)
				continue;
			id[i] = c;
			if (try_open(key, id, 0) != CX_SESSION_INVALID)
				fail_msg("id with '%c' at %zu (was '%c') was accepted", c, i, orig);
		}
		id[i] = '=';
		assert_int_equal(try_open(key, id, 0), CX_SESSION_INVALID);
		id[i] = orig;
	}
	assert_int_equal(try_open(key, id, 0), CX_SESSION_OK);
	free(id);
	cx_session_release(&s);
}

static void test_malformed_ids_are_invalid(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s;
	char buf[CX_SESSION_ID_MAX + 64];
	size_t len, cut;
	char *id;

	derive_key("malformed", key);
	id = seal_sample(key, &s);
	len = strlen(id);

	assert_int_equal(try_open(key, NULL, 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, "", 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, "c1", 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, "c1.", 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, "hello world", 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, "c1.!!!!!!!!", 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, "c1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0),
			 CX_SESSION_INVALID);

	/* Truncated anywhere, including to a length that still decodes. */
	for (cut = 0; cut < len; cut++) {
		memcpy(buf, id, cut);
		buf[cut] = '\0';
		if (try_open(key, buf, 0) != CX_SESSION_INVALID)
			fail_msg("id truncated to %zu characters was accepted", cut);
	}
	/* Extended by base64url characters, padding, whitespace. */
	snprintf(buf, sizeof(buf), "%sA", id);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), "%sAA", id);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), "%sAAAA", id);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), "%s=", id);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), "%s\n", id);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), " %s", id);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);

	/* Wrong or missing prefix around a genuine body. */
	snprintf(buf, sizeof(buf), "c2.%s", id + 3);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), "C1.%s", id + 3);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, id + 3, 0), CX_SESSION_INVALID);
	snprintf(buf, sizeof(buf), "c1:%s", id + 3);
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);

	/* Longer than CX_SESSION_ID_MAX is refused before any work. */
	memcpy(buf, "c1.", 3);
	memset(buf + 3, 'A', CX_SESSION_ID_MAX + 8);
	buf[CX_SESSION_ID_MAX + 11] = '\0';
	assert_int_equal(try_open(key, buf, 0), CX_SESSION_INVALID);

	free(id);
	cx_session_release(&s);
}

/* Authentic ciphertext whose content is not a session of ours is still refused. */
static void test_authentic_but_bad_content_is_invalid(void **state)
{
	static const char *const bad[] = {
		"not json",
		"[]",
		"{}",
		"\"2025-06-18\"",
		"{\"v\":\"1999-01-01\",\"iat\":%lld}",
		"{\"v\":\"2025-06-18 \",\"iat\":%lld}",
		"{\"v\":20250618,\"iat\":%lld}",
		"{\"iat\":%lld}",
		"{\"v\":\"2025-06-18\"}",
		"{\"v\":\"2025-06-18\",\"iat\":\"%lld\"}",
		"{\"v\":\"2025-06-18\",\"iat\":%lld.5}",
		"{\"v\":\"2025-06-18\",\"iat\":-5}",
		"{\"v\":\"2025-06-18\",\"iat\":%lld,\"caps\":[]}",
		"{\"v\":\"2025-06-18\",\"iat\":%lld,\"info\":\"claude\"}",
		"{\"v\":\"2025-06-18\",\"v\":\"2025-06-18\",\"iat\":%lld}",
		"{\"v\":\"2025-06-18\",\"iat\":%lld",
	};
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session o;
	long long now = (long long)now_s();
	char pt[256];
	char *id;
	size_t i;

	derive_key("content", key);

	/* The format as written by another implementation opens: the tests pin the format. */
	snprintf(pt, sizeof(pt),
		 "{\"v\":\"2025-11-25\",\"iat\":%lld,\"caps\":{\"roots\":{}},"
		 "\"info\":{\"name\":\"x\"}}",
		 now);
	id = seal_raw(key, "c1", pt);
	assert_int_equal(cx_session_open(key, id, 60, &o), CX_SESSION_OK);
	assert_string_equal(o.version, "2025-11-25");
	assert_int_equal(o.issued_s, now);
	assert_string_equal(json_string_value(json_object_get(o.client_info, "name")), "x");
	assert_non_null(json_object_get(o.client_caps, "roots"));
	cx_session_release(&o);
	free(id);

	/* The AAD binds the format version. */
	id = seal_raw(key, "c2", pt);
	assert_int_equal(try_open(key, id, 0), CX_SESSION_INVALID);
	free(id);
	id = seal_raw(key, "", pt);
	assert_int_equal(try_open(key, id, 0), CX_SESSION_INVALID);
	free(id);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(pt, sizeof(pt), bad[i], now);
#pragma GCC diagnostic pop
		id = seal_raw(key, "c1", pt);
		if (try_open(key, id, 0) != CX_SESSION_INVALID)
			fail_msg("session with plaintext %s was accepted", pt);
		free(id);
	}

	/* A replica's clock may run a little ahead; an iat far in the future is forged or
	 * broken. */
	snprintf(pt, sizeof(pt), "{\"v\":\"2025-06-18\",\"iat\":%lld}", now + 200);
	id = seal_raw(key, "c1", pt);
	assert_int_equal(try_open(key, id, 60), CX_SESSION_OK);
	free(id);
	snprintf(pt, sizeof(pt), "{\"v\":\"2025-06-18\",\"iat\":%lld}", now + 1000);
	id = seal_raw(key, "c1", pt);
	assert_int_equal(try_open(key, id, 0), CX_SESSION_INVALID);
	free(id);
}

static void test_expired_sessions(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s;
	char *id;

	derive_key("expiry", key);
	make_session(&s, VERSION, NULL, NULL, now_s() - 100);
	id = cx_session_seal(key, &s);
	assert_non_null(id);
	/* Margins of two seconds keep a clock tick between seal and open from mattering. */
	assert_int_equal(try_open(key, id, 98), CX_SESSION_EXPIRED);
	assert_int_equal(try_open(key, id, 1), CX_SESSION_EXPIRED);
	assert_int_equal(try_open(key, id, 102), CX_SESSION_OK);
	assert_int_equal(try_open(key, id, 0), CX_SESSION_OK);
	assert_int_equal(try_open(key, id, -1), CX_SESSION_OK);
	/* Expiry is judged only for authentic ids: a forged old one is INVALID. */
	id[10] = id[10] == 'A' ? 'B' : 'A';
	assert_int_equal(try_open(key, id, 1), CX_SESSION_INVALID);
	free(id);
	cx_session_release(&s);
}

/* The creating principal travels inside the seal; ids without one open with "". */
static void test_subject_round_trip(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s, o;
	char *id;

	derive_key("subject", key);
	make_session(&s, VERSION, NULL, NULL, now_s());
	snprintf(s.subject, sizeof(s.subject), "%s", "orchestrator");
	id = cx_session_seal(key, &s);
	assert_non_null(id);
	assert_int_equal(cx_session_open(key, id, 0, &o), CX_SESSION_OK);
	assert_string_equal(o.subject, "orchestrator");
	cx_session_release(&o);
	free(id);
	s.subject[0] = '\0';
	id = cx_session_seal(key, &s);
	assert_int_equal(cx_session_open(key, id, 0, &o), CX_SESSION_OK);
	assert_string_equal(o.subject, "");
	cx_session_release(&o);
	free(id);
	/* A subject of the wrong type inside an authentic seal is refused. */
	id = seal_raw(key, "c1", "{\"v\":\"2025-06-18\",\"iat\":1700000000,\"sub\":7}");
	assert_int_equal(try_open(key, id, 0), CX_SESSION_INVALID);
	free(id);
	cx_session_release(&s);
}

/* Opened ids are remembered; a remembered id must still answer exactly as a fresh open. */
static void test_open_cache_is_exact(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN], other[CX_SESSION_KEY_LEN];
	struct cx_session s, a, b;
	char *id;

	derive_key("cache", key);
	derive_key("cache-other", other);
	make_session(&s, VERSION, NULL, NULL, now_s() - 100);
	id = cx_session_seal(key, &s);
	assert_non_null(id);
	assert_int_equal(cx_session_open(key, id, 0, &a), CX_SESSION_OK);
	assert_int_equal(cx_session_open(key, id, 0, &b), CX_SESSION_OK);
	assert_string_equal(a.version, b.version);
	assert_string_equal(a.fp, b.fp);
	assert_int_equal(a.issued_s, b.issued_s);
	/* A cached id under another key is still refused, and expiry is judged on every hit. */
	assert_int_equal(try_open(other, id, 0), CX_SESSION_INVALID);
	assert_int_equal(try_open(key, id, 50), CX_SESSION_EXPIRED);
	assert_int_equal(try_open(key, id, 1000), CX_SESSION_OK);
	/* More sessions than the cache holds all keep opening. */
	for (int i = 0; i < 40; i++) {
		struct cx_session t;
		char *tid;

		make_session(&t, VERSION, NULL, parse("{\"name\":\"c\",\"version\":\"1\"}"),
			     now_s() - i);
		tid = cx_session_seal(key, &t);
		assert_non_null(tid);
		assert_int_equal(try_open(key, tid, 0), CX_SESSION_OK);
		assert_int_equal(try_open(key, id, 0), CX_SESSION_OK);
		free(tid);
		cx_session_release(&t);
	}
	cx_session_release(&a);
	cx_session_release(&b);
	cx_session_release(&s);
	free(id);
	cx_session_cache_clear();
}

static json_t *string_of(const char *unit, size_t count)
{
	size_t ulen = strlen(unit), i;
	char *buf = malloc(ulen * count + 1);
	json_t *v;

	assert_non_null(buf);
	for (i = 0; i < count; i++)
		memcpy(buf + i * ulen, unit, ulen);
	buf[ulen * count] = '\0';
	v = json_string(buf);
	free(buf);
	assert_non_null(v);
	return v;
}

static void test_oversize_client_info_is_trimmed(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s, o;
	json_t *info = json_object(), *name, *ver;
	char *id;

	derive_key("trim", key);
	json_object_set_new(info, "name", string_of("n", 300));
	json_object_set_new(info, "version", string_of("\xc3\xa9", 200)); /* é: 2 bytes */
	json_object_set_new(info, "title", string_of("t", 5000));
	json_object_set_new(info, "websiteUrl", json_string("https://example.com"));
	make_session(&s, VERSION, parse("{\"roots\":{\"listChanged\":true},\"elicitation\":{}}"),
		     info, now_s());
	id = cx_session_seal(key, &s);
	assert_non_null(id);
	assert_true(strlen(id) <= CX_SESSION_ID_MAX);
	/* The caller's state is not touched. */
	assert_non_null(json_object_get(s.client_info, "title"));

	assert_int_equal(cx_session_open(key, id, 60, &o), CX_SESSION_OK);
	assert_int_equal(json_object_size(o.client_info), 2);
	name = json_object_get(o.client_info, "name");
	ver = json_object_get(o.client_info, "version");
	assert_int_equal(json_string_length(name), 128);
	assert_memory_equal(json_string_value(name),
			    json_string_value(json_object_get(info, "name")), 128);
	/* 128 characters, not 128 bytes: no UTF-8 sequence is cut. */
	assert_int_equal(json_string_length(ver), 256);
	/* Capabilities fit, so they are kept whole. */
	assert_true(json_equal(o.client_caps, s.client_caps));
	cx_session_release(&o);
	free(id);
	cx_session_release(&s);
}

static void test_oversize_caps_keep_top_level_keys(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s, o;
	json_t *caps = parse("{\"roots\":{\"listChanged\":true},\"sampling\":{}}");
	json_t *want = parse("{\"roots\":{},\"sampling\":{},\"experimental\":{}}");
	json_t *exp = json_object();
	char *id;

	derive_key("trim caps", key);
	json_object_set_new(exp, "blob", string_of("x", 6000));
	json_object_set_new(caps, "experimental", exp);
	make_session(&s, VERSION, caps, parse("{\"name\":\"c\",\"version\":\"1\",\"x\":2}"),
		     now_s());
	id = cx_session_seal(key, &s);
	assert_non_null(id);
	assert_true(strlen(id) <= CX_SESSION_ID_MAX);
	assert_int_equal(cx_session_open(key, id, 60, &o), CX_SESSION_OK);
	assert_true(json_equal(o.client_caps, want));
	/* clientInfo was trimmed first. */
	assert_null(json_object_get(o.client_info, "x"));
	assert_string_equal(json_string_value(json_object_get(o.client_info, "name")), "c");
	cx_session_release(&o);
	json_decref(want);
	free(id);
	cx_session_release(&s);
}

static void test_state_too_large_even_trimmed_is_refused(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s;
	json_t *caps = json_object();
	char k[32];
	int i;

	derive_key("too big", key);
	for (i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "capability%04d", i);
		json_object_set_new(caps, k, json_object());
	}
	make_session(&s, VERSION, caps, NULL, now_s());
	assert_null(cx_session_seal(key, &s));
	cx_session_release(&s);
}

/* The size bound is tight: state that just fits is sealed whole, one byte more is trimmed,
 * and no id ever passes CX_SESSION_ID_MAX. */
static void test_size_bound_is_exact(void **state)
{
	unsigned char key[CX_SESSION_KEY_LEN];
	size_t n, longest_whole = 0;
	bool trimmed_seen = false;

	derive_key("bound", key);
	for (n = 2900; n < 3100; n++) {
		struct cx_session s, o;
		json_t *info = json_object();
		const json_t *name;
		char *id;

		json_object_set_new(info, "name", string_of("a", n));
		make_session(&s, VERSION, NULL, info, now_s());
		id = cx_session_seal(key, &s);
		assert_non_null(id);
		assert_true(strlen(id) <= CX_SESSION_ID_MAX);
		assert_int_equal(cx_session_open(key, id, 0, &o), CX_SESSION_OK);
		name = json_object_get(o.client_info, "name");
		if (json_string_length(name) == n) {
			assert_false(trimmed_seen); /* trimming is monotonic in size */
			if (strlen(id) > longest_whole)
				longest_whole = strlen(id);
		} else {
			assert_int_equal(json_string_length(name), 128);
			trimmed_seen = true;
		}
		cx_session_release(&o);
		free(id);
		cx_session_release(&s);
	}
	assert_true(trimmed_seen);
	/* base64url lengths go in steps of at most 2 characters. */
	assert_true(longest_whole >= CX_SESSION_ID_MAX - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open_round_trip),
		cmocka_unit_test(test_seal_without_caps_or_info),
		cmocka_unit_test(test_seal_refuses_unopenable_state),
		cmocka_unit_test(test_replicas_with_same_key_share_sessions),
		cmocka_unit_test(test_every_single_character_flip_is_invalid),
		cmocka_unit_test(test_malformed_ids_are_invalid),
		cmocka_unit_test(test_authentic_but_bad_content_is_invalid),
		cmocka_unit_test(test_expired_sessions),
		cmocka_unit_test(test_open_cache_is_exact),
		cmocka_unit_test(test_subject_round_trip),
		cmocka_unit_test(test_oversize_client_info_is_trimmed),
		cmocka_unit_test(test_oversize_caps_keep_top_level_keys),
		cmocka_unit_test(test_state_too_large_even_trimmed_is_refused),
		cmocka_unit_test(test_size_bound_is_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
